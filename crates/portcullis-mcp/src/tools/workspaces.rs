//! Workspace tools: list and create.

use portcullis_core::{NewWorkspace, WorkspaceName};
use rmcp::{model::CallToolResult, schemars, tool, tool_router};
use serde::Deserialize;
use serde_json::json;

use super::{description, invalid, structured};
use crate::{
    Caller, PortcullisMcp, ToolError,
    args::{Args, input_schema},
};

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspaceArgs {
    /// The workspace's name, 1-100 characters.
    pub name: String,
    /// Optional description, up to 5000 characters.
    pub description: Option<String>,
}

#[tool_router(router = workspace_router, vis = "pub(crate)")]
impl PortcullisMcp {
    #[tool(
        description = "List your workspaces. Returns {\"workspaces\": [...], \"count\": n}; use a workspace's id as workspace_id in task tools.",
        input_schema = input_schema::<NoArgs>(),
        annotations(title = "List workspaces", read_only_hint = true, open_world_hint = false)
    )]
    async fn list_workspaces(
        &self,
        caller: Caller,
        args: Args<NoArgs>,
    ) -> Result<CallToolResult, ToolError> {
        let tasks = self.tasks(&caller, "list_workspaces").await?;
        args.0?;
        let workspaces = tasks.list_workspaces().await?;
        structured(&json!({ "count": workspaces.len(), "workspaces": workspaces }))
    }

    #[tool(
        description = "Create a workspace to group tasks. Returns {\"workspace\": {...}} with its id.",
        input_schema = input_schema::<CreateWorkspaceArgs>(),
        annotations(title = "Create workspace", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = false)
    )]
    async fn create_workspace(
        &self,
        caller: Caller,
        args: Args<CreateWorkspaceArgs>,
    ) -> Result<CallToolResult, ToolError> {
        let tasks = self.tasks(&caller, "create_workspace").await?;
        let args = args.0?;
        let new = NewWorkspace {
            name: WorkspaceName::parse(&args.name).map_err(invalid)?,
            description: description(args.description.as_deref())?,
        };
        let workspace = tasks.create_workspace(new).await?;
        structured(&json!({ "workspace": workspace }))
    }
}
