//! Your own MCP tools, on rmcp's tool router, behind `portcullis-auth`: the bearer middleware
//! verifies the token (and answers 401 with the RFC 9728 challenge MCP clients follow), each
//! tool reads the verified [`Principal`] and checks the scope it needs.
//!
//! Run it against any OAuth issuer (`main.rs`), or look at `tests/example.rs`, which runs it
//! in process with a locally signed token.

use std::sync::{Arc, Mutex};

use http::request::Parts;
use portcullis_auth::{Principal, ResourceServer, metadata_routes, require_bearer};
use rmcp::{
    ErrorData, ServerHandler,
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig},
    service::RequestContext,
    tool, tool_handler, tool_router,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::never::NeverSessionManager,
    },
};

/// Notes kept per user: each caller sees only their own.
#[derive(Clone)]
pub struct Notes {
    notes: Arc<Mutex<Vec<(String, String)>>>,
    tool_router: ToolRouter<Self>,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct AddNote {
    /// The note's text.
    pub text: String,
}

/// The caller, as the bearer middleware verified it, if it holds `scope`.
fn caller(context: &RequestContext<rmcp::RoleServer>, scope: &str) -> Result<Principal, String> {
    let principal = context
        .extensions
        .get::<Parts>()
        .and_then(|parts| parts.extensions.get::<Principal>())
        .cloned()
        .ok_or("the request is not authenticated")?;
    if principal.scopes.contains(scope) {
        Ok(principal)
    } else {
        Err(format!(
            "this tool needs the {scope} scope; sign in again asking for it"
        ))
    }
}

fn refused(message: String) -> Result<CallToolResult, ErrorData> {
    Ok(CallToolResult::error(vec![ContentBlock::text(message)]))
}

#[tool_router]
impl Notes {
    pub fn new() -> Self {
        Self {
            notes: Arc::default(),
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "List your notes.", annotations(read_only_hint = true))]
    async fn list_notes(
        &self,
        context: RequestContext<rmcp::RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let who = match caller(&context, "notes:read") {
            Ok(p) => p.subject,
            Err(why) => return refused(why),
        };
        let mine: Vec<String> = self
            .notes
            .lock()
            .expect("notes lock")
            .iter()
            .filter(|(owner, _)| *owner == who)
            .map(|(_, text)| text.clone())
            .collect();
        Ok(CallToolResult::success(vec![ContentBlock::text(
            mine.join("\n"),
        )]))
    }

    #[tool(description = "Add a note.")]
    async fn add_note(
        &self,
        Parameters(note): Parameters<AddNote>,
        context: RequestContext<rmcp::RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let who = match caller(&context, "notes:write") {
            Ok(p) => p.subject,
            Err(why) => return refused(why),
        };
        self.notes
            .lock()
            .expect("notes lock")
            .push((who, note.text));
        Ok(CallToolResult::success(vec![ContentBlock::text("added")]))
    }
}

impl Default for Notes {
    fn default() -> Self {
        Self::new()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Notes {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// The whole application: `/mcp` behind the bearer middleware, and the protected resource
/// metadata the 401 challenge points at.
pub fn app(rs: Arc<ResourceServer>) -> axum::Router {
    let notes = Notes::new();
    let mcp = StreamableHttpService::new(
        move || Ok(notes.clone()),
        Arc::new(NeverSessionManager::default()),
        StreamableHttpServerConfig::default()
            .with_json_response(true)
            .with_legacy_session_mode(false),
    );
    axum::Router::new()
        .route_service("/mcp", mcp)
        .layer(axum::middleware::from_fn_with_state(
            rs.clone(),
            require_bearer,
        ))
        .merge(metadata_routes(rs))
}
