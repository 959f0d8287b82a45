//! `/mcp`: the Streamable HTTP endpoint (MCP 2026-07-28 "Transports", and the 2025
//! revisions' session handshake for clients that still use it).
//!
//! In this order: `Origin`/`Host` checks, bearer authentication, then a look at the JSON-RPC
//! body to (1) answer `403 insufficient_scope` before a `tools/call` the token may not make — an
//! HTTP-level refusal is what lets OAuth clients step up, an in-band tool error would not —
//! (2) serve well-formed stateless `tools/call`/`tools/list` through [`DirectDispatch`] (see
//! there for why), and (3) hand everything else to rmcp's `StreamableHttpService`: legacy
//! `initialize`/session traffic to the session-keeping instance when sessions are enabled, the
//! rest statelessly with plain JSON responses.

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{Method, StatusCode},
    middleware::from_fn_with_state,
    response::{IntoResponse, Response},
    routing::any,
};
use portcullis_auth::{AuthError, Principal, ResourceServer, require_bearer};
use portcullis_core::Store;
use portcullis_mcp::{PortcullisMcp, SUPPORTED_SCOPES, required_scope};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService,
    session::{local::LocalSessionManager, never::NeverSessionManager},
};
use serde_json::json;

use crate::{
    HttpSettings,
    direct_dispatch::{DirectDispatch, Peek, eligible},
    origin_guard,
};

type Stateless = StreamableHttpService<PortcullisMcp, NeverSessionManager>;
type Sessions = StreamableHttpService<PortcullisMcp, LocalSessionManager>;

struct Endpoint {
    direct: DirectDispatch,
    stateless: Stateless,
    sessions: Option<Sessions>,
    resource_server: Arc<ResourceServer>,
    max_body_bytes: usize,
}

pub(crate) fn router(store: Store, rs: Arc<ResourceServer>, settings: &HttpSettings) -> Router {
    let handler = PortcullisMcp::new(store);
    // Host and Origin are checked by our own guard (which also knows the public URL).
    let base = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .disable_allowed_origins()
        .with_json_response(true)
        .with_max_request_body_bytes(settings.max_body_bytes);
    let direct = DirectDispatch::new(handler.clone());
    let stateless = {
        let handler = handler.clone();
        StreamableHttpService::new(
            move || Ok(handler.clone()),
            Arc::new(NeverSessionManager::default()),
            base.clone().with_legacy_session_mode(false),
        )
    };
    let sessions = settings.legacy_sessions.then(|| {
        StreamableHttpService::new(
            move || Ok(handler.clone()),
            Arc::new(LocalSessionManager::default()),
            base.with_legacy_session_mode(true),
        )
    });
    let endpoint = Arc::new(Endpoint {
        direct,
        stateless,
        sessions,
        resource_server: rs.clone(),
        max_body_bytes: settings.max_body_bytes,
    });
    let policy = Arc::new(settings.origin_policy.clone());
    Router::new()
        .route("/mcp", any(handle))
        .with_state(endpoint)
        .route_layer(from_fn_with_state(rs, require_bearer))
        .route_layer(from_fn_with_state(policy, origin_guard::guard))
}

async fn handle(State(ep): State<Arc<Endpoint>>, request: Request) -> Response {
    let uses_session = request.headers().contains_key("mcp-session-id");
    if request.method() != Method::POST {
        // GET (legacy standalone SSE stream) and DELETE (session end) only mean something to a
        // session; the stateless service answers 405 as the transport specifies.
        return match (&ep.sessions, uses_session) {
            (Some(sessions), true) => serve(sessions, request).await,
            _ => serve(&ep.stateless, request).await,
        };
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, ep.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let message = format!(
                "Invalid request: the body is larger than {} bytes; send smaller arguments",
                ep.max_body_bytes
            );
            return jsonrpc_error(StatusCode::PAYLOAD_TOO_LARGE, -32600, &message);
        }
    };
    let Ok(peek) = serde_json::from_slice::<Peek>(&bytes) else {
        return jsonrpc_error(
            StatusCode::BAD_REQUEST,
            -32700,
            "Parse error: the body must be one JSON-RPC message (a JSON object)",
        );
    };
    let method = peek.method.as_deref().unwrap_or_default();
    if method == "tools/call" {
        let tool = peek
            .params
            .as_ref()
            .and_then(|p| p.name.as_deref())
            .unwrap_or_default();
        if let (Some(scope), Some(principal)) =
            (required_scope(tool), parts.extensions.get::<Principal>())
            && !principal.scopes.contains(scope)
        {
            return ep.resource_server.reject(AuthError::InsufficientScope {
                required: step_up_scope(principal, scope),
            });
        }
    }
    let to_sessions = uses_session || method == "initialize";
    let (parts, bytes) = if eligible(&parts.headers, &peek) {
        match ep.direct.serve(parts, bytes).await {
            Ok(response) => return response,
            Err(back) => back,
        }
    } else {
        (parts, bytes)
    };
    let request = Request::from_parts(parts, Body::from(bytes));
    match &ep.sessions {
        Some(sessions) if to_sessions => serve(sessions, request).await,
        _ => serve(&ep.stateless, request).await,
    }
}

/// The scopes to ask for when stepping up: those already granted plus the missing one, so a
/// client that re-authorizes with exactly this list loses nothing it had.
fn step_up_scope(principal: &Principal, missing: &str) -> String {
    SUPPORTED_SCOPES
        .iter()
        .filter(|s| **s == missing || principal.scopes.contains(s))
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

async fn serve<M>(service: &StreamableHttpService<PortcullisMcp, M>, request: Request) -> Response
where
    M: rmcp::transport::streamable_http_server::SessionManager,
{
    service.handle(request).await.map(Body::new)
}

fn jsonrpc_error(status: StatusCode, code: i64, message: &str) -> Response {
    let body =
        json!({ "jsonrpc": "2.0", "id": null, "error": { "code": code, "message": message } });
    (status, axum::Json(body)).into_response()
}
