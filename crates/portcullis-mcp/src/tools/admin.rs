//! Admin tools: the caller's tenant's users and counts. API keys with `admin` only, by default.
//! Every call goes through a `TenantAdmin` bound to the caller's tenant, so these tools cannot
//! reach another tenant's users.

use portcullis_core::{Limit, TenantStats, UserRecord};
use rmcp::{model::CallToolResult, schemars, tool, tool_router};
use serde::{Deserialize, Serialize};

use super::{id, invalid, structured};
use crate::{
    Caller, PortcullisMcp, ToolError,
    args::{Args, input_schema},
    tools::workspaces::NoArgs,
};

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListUsersArgs {
    /// At most this many users (1-500, default 100), oldest first.
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserIdArgs {
    /// The user's id, as returned by list_users or create_user.
    pub user_id: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserArgs {
    /// The subject the user signs in as (the `sub` of their tokens, or the name a trusted key
    /// sends in X-Mcp-User), 1-255 characters.
    pub subject: String,
}

#[derive(Serialize)]
struct UserList<'a> {
    count: usize,
    users: &'a [UserRecord],
}

#[derive(Serialize)]
struct OneUser<'a> {
    user: &'a UserRecord,
}

#[derive(Serialize)]
struct DeletedUser<'a> {
    deleted: bool,
    user: &'a UserRecord,
}

#[derive(Serialize)]
struct Stats<'a> {
    stats: &'a TenantStats,
}

#[tool_router(router = admin_router, vis = "pub(crate)")]
impl PortcullisMcp {
    #[tool(
        description = "List the users of your tenant with how many tasks and workspaces each has. Returns {\"users\": [...], \"count\": n}.",
        input_schema = input_schema::<ListUsersArgs>(),
        annotations(title = "List users", read_only_hint = true, open_world_hint = false)
    )]
    async fn list_users(
        &self,
        caller: Caller,
        args: Args<ListUsersArgs>,
    ) -> Result<CallToolResult, ToolError> {
        let admin = self.admin(&caller, "list_users")?;
        let limit = Limit::parse(args.0?.limit).map_err(invalid)?;
        let users = admin.list_users(limit.get()).await?;
        structured(&UserList {
            count: users.len(),
            users: &users,
        })
    }

    #[tool(
        description = "Get one user of your tenant by id. Returns {\"user\": {...}}.",
        input_schema = input_schema::<UserIdArgs>(),
        annotations(title = "Get user", read_only_hint = true, open_world_hint = false)
    )]
    async fn get_user(
        &self,
        caller: Caller,
        args: Args<UserIdArgs>,
    ) -> Result<CallToolResult, ToolError> {
        let admin = self.admin(&caller, "get_user")?;
        let user_id = id("user_id", &args.0?.user_id)?;
        structured(&OneUser {
            user: &admin.get_user(&user_id).await?,
        })
    }

    #[tool(
        description = "Register a user in your tenant by subject before their first call. Returns {\"user\": {...}} with its id.",
        input_schema = input_schema::<CreateUserArgs>(),
        annotations(title = "Create user", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = false)
    )]
    async fn create_user(
        &self,
        caller: Caller,
        args: Args<CreateUserArgs>,
    ) -> Result<CallToolResult, ToolError> {
        let admin = self.admin(&caller, "create_user")?;
        let subject = args.0?.subject;
        structured(&OneUser {
            user: &admin.create_user(&subject).await?,
        })
    }

    #[tool(
        description = "Delete a user of your tenant with all their tasks and workspaces. Cannot be undone. Returns {\"deleted\": true, \"user\": {...}}.",
        input_schema = input_schema::<UserIdArgs>(),
        annotations(title = "Delete user", read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = false)
    )]
    async fn delete_user(
        &self,
        caller: Caller,
        args: Args<UserIdArgs>,
    ) -> Result<CallToolResult, ToolError> {
        let admin = self.admin(&caller, "delete_user")?;
        let user_id = id("user_id", &args.0?.user_id)?;
        structured(&DeletedUser {
            deleted: true,
            user: &admin.delete_user(&user_id).await?,
        })
    }

    #[tool(
        description = "Counts for your tenant: users, tasks, open tasks, workspaces, active API keys. Returns {\"stats\": {...}}.",
        input_schema = input_schema::<NoArgs>(),
        annotations(title = "System stats", read_only_hint = true, open_world_hint = false)
    )]
    async fn system_stats(
        &self,
        caller: Caller,
        args: Args<NoArgs>,
    ) -> Result<CallToolResult, ToolError> {
        let admin = self.admin(&caller, "system_stats")?;
        args.0?;
        structured(&Stats {
            stats: &admin.stats().await?,
        })
    }
}
