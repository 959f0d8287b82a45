//! Portcullis MCP tools on the rmcp tool router.
//!
//! Every tool acts for the verified [`portcullis_auth::Principal`] that the HTTP layer put in
//! the request, through [`portcullis_core::Store`] methods that only touch that user's rows.
//! Mistakes a model can fix (bad arguments, unknown ids) come back as tool results with
//! `isError: true` and a JSON body: `error_type`, `message`, `suggestions`.

mod args;
mod caller;
mod client_relay;
mod error;
mod policy;
pub mod printed;
mod server;
mod tools;
mod user_tasks;

pub use caller::Caller;
pub use error::ToolError;
pub use policy::{
    ADMIN_SCOPE, Denial, GROUPS, Policy, READ_SCOPE, RuleOverride, SUPPORTED_SCOPES, Targeted,
    ToolRule, WRITE_SCOPE, is_group, resolve_targets, tools_named,
};
pub use server::PortcullisMcp;
pub use user_tasks::TaskSource;
