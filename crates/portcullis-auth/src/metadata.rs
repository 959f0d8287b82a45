//! OAuth 2.0 Protected Resource Metadata (RFC 9728 §2–3), served where MCP clients look for
//! it: at the path-specific well-known URL and, for clients that only try it, the root one.

use std::sync::Arc;

use axum::{
    Json, Router,
    http::{HeaderValue, Method, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Serialize;

use crate::ResourceServer;

/// The metadata document. `authorization_servers` holds issuer strings exactly as configured:
/// clients compare them byte for byte with the authorization server's `issuer`.
#[derive(Debug, Clone, Serialize)]
pub struct ProtectedResourceMetadata {
    pub resource: String,
    pub authorization_servers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    pub bearer_methods_supported: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
}

fn document(rs: &ResourceServer, headers: &axum::http::HeaderMap) -> Response {
    let mut response = Json(rs.metadata_for(headers)).into_response();
    // Public, and needed by browser-based clients before they hold a token.
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// Routes serving the metadata (unauthenticated).
pub fn metadata_routes<S: Clone + Send + Sync + 'static>(rs: Arc<ResourceServer>) -> Router<S> {
    let root = "/.well-known/oauth-protected-resource";
    let mut router = Router::new();
    let handler = {
        let rs = rs.clone();
        move |headers: axum::http::HeaderMap| {
            let rs = rs.clone();
            async move { document(&rs, &headers) }
        }
    };
    router = router.route(root, get(handler.clone()));
    if rs.metadata_path() != root {
        router = router.route(rs.metadata_path(), get(handler));
    }
    // Browser-based clients read the metadata cross-origin.
    router.layer(public_cors())
}

/// CORS for the endpoints browser-based MCP clients call directly. They carry no cookies, so
/// any origin may call them; credentials are in the request itself.
pub fn public_cors() -> tower_http::cors::CorsLayer {
    use tower_http::cors::{Any, CorsLayer};
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("mcp-protocol-version"),
        ])
        .max_age(std::time::Duration::from_secs(600))
}
