//! The Portcullis HTTP application: one axum `Router` with the MCP endpoint, its protected
//! resource metadata, and health probes. The binary only binds and serves it.

mod audit_sink;
mod authentication;
mod direct_dispatch;
pub mod headers;
mod health;
mod mcp_endpoint;
mod origin_guard;
mod rate_limit;
mod request_check;
mod request_context;
mod request_id;
mod request_layers;
mod request_timeout;
mod session_owners;
mod singletons;

use std::sync::Arc;

use axum::Router;
use portcullis_auth::ResourceServer;
use portcullis_core::Store;
use portcullis_mcp::Policy;

pub use audit_sink::{AuditSink, AuditUnavailable};
pub use health::{Dependency, router as health_router};
pub use origin_guard::OriginPolicy;
pub use rate_limit::{RateLimits, ToolLimit, limit_by_address};
pub use request_context::{LoggedUser, RequestLog};
pub use request_layers::layers as request_layers;

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
    /// Log one line per request at info.
    pub access_log: bool,
    /// Where task tools run; `None`: on the store (all in one process).
    pub tasks: Option<portcullis_mcp::TaskSource>,
    pub metrics: Arc<portcullis_metrics::Metrics>,
}

/// Builds the application router. Audit events go to `audit` (see [`AuditSink`]).
pub fn app(
    store: Store,
    resource_server: Arc<ResourceServer>,
    audit: AuditSink,
    settings: HttpSettings,
) -> Router {
    let mcp = mcp_endpoint::router(store.clone(), resource_server.clone(), audit, &settings);
    Router::new()
        .merge(health::router(dependencies(&store, &settings)))
        .merge(portcullis_auth::metadata_routes(resource_server))
        .merge(mcp)
}

/// What `/ready` checks: the database; Redis when budgets are shared through it (required
/// only when calls are refused without it); the REST backend when tools run there.
fn dependencies(store: &Store, settings: &HttpSettings) -> Vec<Dependency> {
    let mut out = vec![Dependency::database(store.clone())];
    let limiter = settings.rate_limits.limiter.clone();
    if limiter.backend() == "redis" {
        out.push(Dependency::new(
            "redis",
            limiter.requires_redis(),
            move || {
                let limiter = limiter.clone();
                async move { limiter.probe().await.unwrap_or(Ok(())) }
            },
        ));
    }
    if let Some(gateway) = settings.policy.gateway() {
        for status in gateway.status() {
            let (gateway, name) = (gateway.clone(), status.name.clone());
            out.push(Dependency::new(
                format!("upstream:{name}"),
                false,
                move || {
                    let (gateway, name) = (gateway.clone(), name.clone());
                    async move {
                        let status = gateway.status().into_iter().find(|s| s.name == name);
                        match status {
                            Some(s) if s.state == "up" => Ok(()),
                            Some(s) => Err(format!(
                                "{} ({} tools listed): {}",
                                s.state,
                                s.tools,
                                s.error.unwrap_or_default()
                            )),
                            None => Err("not configured".into()),
                        }
                    }
                },
            ));
        }
    }
    if let Some(portcullis_mcp::TaskSource::Backend(client)) = &settings.tasks {
        let client = client.clone();
        out.push(Dependency::new("backend", true, move || {
            let client = client.clone();
            async move { client.probe().await }
        }));
    }
    out
}

/// Wraps a whole application (MCP endpoint, authorization server …) in the per-request layer:
/// request id, metrics, and the access log when `access_log` is on.
pub fn observed(
    app: Router,
    access_log: bool,
    timeout: Option<std::time::Duration>,
    metrics: Arc<portcullis_metrics::Metrics>,
) -> Router {
    request_layers(
        app,
        RequestLog {
            enabled: access_log,
            message: "request",
            timeout,
            metrics,
        },
    )
}

/// `/metrics` in the Prometheus text format, for a listener of its own (`--metrics-bind`):
/// operators scrape it from inside their network, not through the public endpoint.
pub fn metrics_app(
    rate_limits: Arc<RateLimits>,
    store: Store,
    metrics: Arc<portcullis_metrics::Metrics>,
) -> Router {
    use portcullis_metrics::{PoolLabels, PoolState};
    Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let (rate_limits, store, metrics) =
                (rate_limits.clone(), store.clone(), metrics.clone());
            async move {
                let (total, idle) = store.connections();
                for (state, n) in [(PoolState::total, total), (PoolState::idle, idle)] {
                    metrics
                        .db_connections
                        .get_or_create(&PoolLabels { state })
                        .set(n as i64);
                }
                let body = metrics.render(|out| rate_limits.render_metrics(out));
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        portcullis_metrics::CONTENT_TYPE,
                    )],
                    body,
                )
            }
        }),
    )
}
