//! Portcullis's Prometheus metrics on `prometheus-client`, and the id of the request being
//! served (so calls to other services can carry it).
//!
//! Every label set is a typed struct whose values come from closed sets: route templates and
//! tool names are `&'static str` taken from fixed tables, methods and outcomes are enums, and
//! statuses are numbers. So no request can create a label value, and the number of series is
//! bounded by the product of those sets. Counting is atomic; finding an existing series takes
//! a shared (read) lock only.
//!
//! [`Metrics`] owns one registry. The binary makes one and hands each part the handle it
//! counts with: library crates take a family handle ([`JwksFetches`], [`BackendCalls`]) in
//! their configuration instead of writing to process globals; a default handle counts into
//! nothing anyone scrapes.

use std::{borrow::Cow, sync::Arc, time::Duration};

use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// Latency buckets in seconds: 1 ms to 30 s.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

type Latencies<S> = Family<S, Histogram, fn() -> Histogram>;

/// An HTTP method as a label: the standard methods, `other` for anything else (a method is
/// any token a client likes, up to the header size limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
    Other,
}

impl HttpMethod {
    pub fn of(method: &http::Method) -> Self {
        match *method {
            http::Method::GET => Self::Get,
            http::Method::POST => Self::Post,
            http::Method::PUT => Self::Put,
            http::Method::PATCH => Self::Patch,
            http::Method::DELETE => Self::Delete,
            http::Method::HEAD => Self::Head,
            http::Method::OPTIONS => Self::Options,
            _ => Self::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Head => "HEAD",
            Self::Options => "OPTIONS",
            Self::Other => "other",
        }
    }
}

impl EncodeLabelValue for HttpMethod {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct HttpLabels {
    /// The template of the route that answered (axum's `MatchedPath`: a registered route, never
    /// a client's path), or `other`.
    pub route: Cow<'static, str>,
    pub method: HttpMethod,
    pub status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: Cow<'static, str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ToolLabels {
    /// A tool the policy knows (built-in, or listed by a capped upstream), or `unknown`.
    pub tool: std::borrow::Cow<'static, str>,
    pub status: u16,
}

/// What an authentication or authorization step decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum AuthResult {
    authenticated,
    rejected,
    allowed,
    denied,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct AuthLabels {
    /// An authentication method's name (`oauth`, `api_key` …), or `none`.
    pub method: &'static str,
    pub result: AuthResult,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum FetchResult {
    ok,
    error,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct FetchLabels {
    pub result: FetchResult,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum PoolState {
    total,
    idle,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PoolLabels {
    pub state: PoolState,
}

/// How a call to another service ended: its HTTP status, or why there was none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallOutcome {
    Status(u16),
    Timeout,
    ConnectionError,
}

impl EncodeLabelValue for CallOutcome {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        match self {
            Self::Status(code) => std::fmt::Write::write_fmt(encoder, format_args!("{code}")),
            Self::Timeout => std::fmt::Write::write_str(encoder, "timeout"),
            Self::ConnectionError => std::fmt::Write::write_str(encoder, "connection_error"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CallLabels {
    /// The backend route template.
    pub route: &'static str,
    pub method: HttpMethod,
    pub outcome: CallOutcome,
}

/// Fetches of an issuer's JWKS, for `portcullis-auth`.
#[derive(Debug, Clone, Default)]
pub struct JwksFetches(Family<FetchLabels, Counter>);

impl JwksFetches {
    pub fn record(&self, result: FetchResult) {
        self.0.get_or_create(&FetchLabels { result }).inc();
    }
}

/// Calls to the REST backend, for `portcullis-backend-client`.
#[derive(Debug, Clone)]
pub struct BackendCalls(Latencies<CallLabels>);

impl Default for BackendCalls {
    fn default() -> Self {
        Self(Family::new_with_constructor(latency_histogram))
    }
}

impl BackendCalls {
    pub fn observe(&self, labels: CallLabels, elapsed: Duration) {
        self.0.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }
}

/// Every metric Portcullis exports, registered once.
pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Latencies<RouteLabels>,
    pub tool_calls: Family<ToolLabels, Counter>,
    pub auth_decisions: Family<AuthLabels, Counter>,
    pub db_connections: Family<PoolLabels, Gauge>,
    pub jwks_fetches: JwksFetches,
    pub backend_calls: BackendCalls,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let http_requests = Family::default();
        let http_duration = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let tool_calls = Family::default();
        let auth_decisions = Family::default();
        let db_connections = Family::default();
        let jwks_fetches = JwksFetches::default();
        let backend_calls = BackendCalls::default();
        // Counters get `_total` appended by the registry.
        registry.register(
            "portcullis_http_requests",
            "HTTP requests by route, method and status",
            http_requests.clone(),
        );
        registry.register(
            "portcullis_http_request_duration_seconds",
            "HTTP request latency by route",
            http_duration.clone(),
        );
        registry.register(
            "portcullis_tool_calls",
            "MCP tools/call requests by tool and HTTP status",
            tool_calls.clone(),
        );
        registry.register(
            "portcullis_auth_decisions",
            "Authentication and authorization decisions by method and result",
            auth_decisions.clone(),
        );
        registry.register(
            "portcullis_jwks_fetches",
            "Fetches of the issuer's JWKS by result",
            jwks_fetches.0.clone(),
        );
        registry.register(
            "portcullis_db_pool_connections",
            "Database pool connections by state",
            db_connections.clone(),
        );
        registry.register(
            "portcullis_backend_call_duration_seconds",
            "Calls to the REST backend (microservice mode) by route, method and outcome",
            backend_calls.0.clone(),
        );
        Self {
            registry,
            http_requests,
            http_duration,
            tool_calls,
            auth_decisions,
            db_connections,
            jwks_fetches,
            backend_calls,
        }
    }
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn auth(&self, method: &'static str, result: AuthResult) {
        self.auth_decisions
            .get_or_create(&AuthLabels { method, result })
            .inc();
    }

    /// Every metric in the Prometheus text format (0.0.4); `extra` appends families kept
    /// elsewhere (the rate limiter's counters).
    pub fn render(&self, extra: impl FnOnce(&mut String)) -> String {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            .expect("writing to a String does not fail");
        extra(&mut out);
        out
    }
}

/// The media type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs `work` with `id` as the current request id (see [`request_id`]).
pub async fn with_request_id<F: std::future::Future>(id: String, work: F) -> F::Output {
    REQUEST_ID.scope(id, work).await
}

/// The id of the HTTP request being served on this task, for passing on to other services.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_documented_names_labels_and_buckets() {
        let metrics = Metrics::new();
        metrics
            .http_requests
            .get_or_create(&HttpLabels {
                route: "/mcp".into(),
                method: HttpMethod::of(&http::Method::from_bytes(b"XYZZY").unwrap()),
                status: 200,
            })
            .inc();
        metrics.auth("oauth", AuthResult::denied);
        metrics.backend_calls.observe(
            CallLabels {
                route: "/tasks",
                method: HttpMethod::Get,
                outcome: CallOutcome::Timeout,
            },
            Duration::from_millis(3),
        );
        let out = metrics.render(|out| out.push_str("extra_total 1\n"));
        assert!(
            out.contains(
                "portcullis_http_requests_total{route=\"/mcp\",method=\"other\",status=\"200\"} 1"
            ),
            "{out}"
        );
        assert!(
            out.contains("portcullis_auth_decisions_total{method=\"oauth\",result=\"denied\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("portcullis_backend_call_duration_seconds_bucket{le=\"0.005\",route=\"/tasks\",method=\"GET\",outcome=\"timeout\"} 1")
                || out.contains("portcullis_backend_call_duration_seconds_bucket{route=\"/tasks\",method=\"GET\",outcome=\"timeout\",le=\"0.005\"} 1"),
            "{out}"
        );
        assert!(out.ends_with("extra_total 1\n"), "{out}");
    }
}
