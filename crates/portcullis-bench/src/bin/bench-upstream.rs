//! The upstream for gateway load runs (`bench/gateway.sh`): a minimal MCP server on rmcp with
//! one read-only tool, `echo`, that returns its `text` argument as text content. Streamable
//! HTTP at `/mcp`, stateless with plain JSON responses, so a bare `tools/call` POST works
//! without `initialize`. No authentication: the Authorization header, if any, is ignored.
//! Usage: `bench-upstream ADDR`.

use std::sync::Arc;

use rmcp::{
    ServerHandler,
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{Implementation, ServerCapabilities, ServerConfig},
    schemars, tool, tool_handler, tool_router,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::never::NeverSessionManager,
    },
};
use serde::Deserialize;

// The same allocator as the portcullis binary, so the ratio measures our code, not malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct EchoArgs {
    /// The text to send back.
    text: String,
}

#[derive(Clone)]
struct Echo {
    // Built once and shared: rmcp asks for a handler per request.
    tool_router: Arc<ToolRouter<Self>>,
}

#[tool_router]
impl Echo {
    #[tool(
        description = "Return `text` unchanged.",
        annotations(title = "Echo", read_only_hint = true, open_world_hint = false)
    )]
    fn echo(&self, Parameters(EchoArgs { text }): Parameters<EchoArgs>) -> String {
        text
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Echo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_server_info(
            Implementation::new("bench-upstream", env!("CARGO_PKG_VERSION")),
        )
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr] = args.as_slice() else {
        eprintln!("usage: bench-upstream ADDR");
        std::process::exit(2);
    };
    let handler = Echo {
        tool_router: Arc::new(Echo::tool_router()),
    };
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None);
    let service = StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    let app = axum::Router::new().route_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
