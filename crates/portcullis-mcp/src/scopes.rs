//! Which scope each MCP call needs. One table, read by the HTTP layer (to answer 403
//! `insufficient_scope` before the call runs, so OAuth clients can step up) and by the tools
//! themselves (defence in depth).

pub const READ_SCOPE: &str = "tasks:read";
pub const WRITE_SCOPE: &str = "tasks:write";
pub const SUPPORTED_SCOPES: [&str; 2] = [READ_SCOPE, WRITE_SCOPE];

/// The scope `tools/call` of `tool` needs; `None` for a tool this server does not have (the
/// call then fails as an unknown tool, whatever the token holds).
pub fn required_scope(tool: &str) -> Option<&'static str> {
    match tool {
        "list_tasks" | "get_task" | "list_workspaces" => Some(READ_SCOPE),
        "create_task" | "update_task" | "complete_task" | "delete_task" | "create_workspace" => {
            Some(WRITE_SCOPE)
        }
        _ => None,
    }
}
