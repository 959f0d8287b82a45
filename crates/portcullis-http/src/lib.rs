//! The Portcullis HTTP application: one axum `Router` with the MCP endpoint, its protected
//! resource metadata, and health probes. The binary only binds and serves it.

mod audit_sink;
mod authentication;
mod backend;
mod direct_dispatch;
mod health;
mod mcp_endpoint;
mod origin_guard;
mod rate_limit;

use std::sync::Arc;

use axum::Router;
use portcullis_auth::ResourceServer;
use portcullis_core::Store;
use portcullis_mcp::Policy;

pub use audit_sink::AuditSink;
pub use backend::{ApiError, BackendSettings, backend_app};
pub use origin_guard::OriginPolicy;
pub use rate_limit::{RateLimits, ToolLimit, limit_by_address};

/// What the HTTP layer needs beyond the store and the resource server.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub origin_policy: OriginPolicy,
    /// Create `Mcp-Session-Id` sessions for legacy (2025) clients that send `initialize`.
    /// Off by default: every request then stands alone and any replica can serve it.
    pub legacy_sessions: bool,
    /// Largest request body accepted on `/mcp`.
    pub max_body_bytes: usize,
    /// Which credentials and scopes each tool accepts.
    pub policy: Arc<Policy>,
    /// Budgets for tool calls and unauthenticated traffic.
    pub rate_limits: Arc<RateLimits>,
    /// Where task tools run; `None`: on the store (all in one process).
    pub tasks: Option<portcullis_mcp::TaskSource>,
}

/// Builds the application router. Audit events go to `audit` (see [`AuditSink::spawn`]).
pub fn app(
    store: Store,
    resource_server: Arc<ResourceServer>,
    audit: AuditSink,
    settings: HttpSettings,
) -> Router {
    let mcp = mcp_endpoint::router(store.clone(), resource_server.clone(), audit, &settings);
    Router::new()
        .merge(health::router(store))
        .merge(portcullis_auth::metadata_routes(resource_server))
        .merge(mcp)
}

/// `/metrics` in the Prometheus text format, for a listener of its own (`--metrics-bind`):
/// operators scrape it from inside their network, not through the public endpoint.
pub fn metrics_app(rate_limits: Arc<RateLimits>) -> Router {
    Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let rate_limits = rate_limits.clone();
            async move {
                let mut body = String::new();
                rate_limits.render_metrics(&mut body);
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    body,
                )
            }
        }),
    )
}
