//! The rmcp server handler: server identity, instructions, and the tool router.

use std::{borrow::Cow, sync::Arc};

use portcullis_core::{Actor, Store, TenantId};
use rmcp::{
    ServerHandler,
    handler::server::router::tool::ToolRouter,
    model::{Implementation, ProtocolVersion, ServerCapabilities, ServerConfig},
    tool_handler,
};

use crate::{Caller, ToolError};

/// Protocol revisions served: the current stateless one and the 2025 revisions with the
/// initialize handshake, newest first.
const SUPPORTED_VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V_2026_07_28,
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2025_06_18,
];

/// Portcullis's MCP server. Cheap to clone; rmcp makes one per request.
#[derive(Clone)]
pub struct PortcullisMcp {
    pub(crate) store: Store,
    // Built once: rmcp asks for a fresh handler per request, and rebuilding routes and
    // schemas each time would sit on the hot path.
    tool_router: Arc<ToolRouter<Self>>,
}

impl PortcullisMcp {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            tool_router: Arc::new(Self::task_router() + Self::workspace_router()),
        }
    }

    /// Resolves the caller to a store actor after checking it holds `scope`.
    pub(crate) async fn actor(&self, caller: &Caller, scope: &str) -> Result<Actor, ToolError> {
        let principal = &caller.0;
        if !principal.scopes.contains(scope) {
            return Err(ToolError::forbidden(scope));
        }
        let tenant = match principal.tenant.as_deref() {
            Some(t) => TenantId::parse(t).map_err(|e| {
                ToolError::validation(
                    format!("the token's tenant claim is unusable: {e}"),
                    "ask the administrator to fix the identity provider's tenant claim",
                )
            })?,
            None => TenantId::default_tenant(),
        };
        Ok(self.store.actor(&tenant, &principal.subject).await?)
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for PortcullisMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("portcullis", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Task and workspace tools for the signed-in user. Every call acts only on that \
                 user's own data. Use list_tasks to find task ids before get/update/complete/delete; \
                 errors carry error_type, message and suggestions.",
            )
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(&SUPPORTED_VERSIONS)
    }
}
