//! The request metrics and, when enabled, one log line per request ([`observe`]); the id of
//! the request is handed to calls made to other services. Assembled with the other
//! per-request layers in `request_layers`.

use std::{borrow::Cow, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    http::Method,
    middleware::Next,
    response::Response,
};
use std::sync::Arc;

use portcullis_metrics::{HttpLabels, HttpMethod, Metrics, RouteLabels};

/// Who a request acted for, reported by the authentication layers for the log line.
#[derive(Debug, Clone)]
pub struct LoggedUser {
    pub user: String,
    /// `oauth`, `api_key`, `service` …
    pub via: &'static str,
}

/// How the request layer behaves on one listener.
#[derive(Debug, Clone)]
pub struct RequestLog {
    /// Log one line per request at info.
    pub enabled: bool,
    /// The line's message (`request`, or `backend request` on the backend).
    pub message: &'static str,
    /// Longest a request other than a GET may take before it is answered 503 (GETs may be
    /// long-lived event streams).
    pub timeout: Option<std::time::Duration>,
    pub metrics: Arc<Metrics>,
}

impl RequestLog {
    fn count(&self, route: Cow<'static, str>, method: &Method, status: axum::http::StatusCode) {
        self.metrics
            .http_requests
            .get_or_create(&HttpLabels {
                route,
                method: HttpMethod::of(method),
                status: status.as_u16(),
            })
            .inc();
    }
}

/// The label of the route a request went to: its template as registered (axum's
/// `MatchedPath`), so the label set is the route table whatever paths clients send; `other` for
/// a request no route matched.
pub(crate) fn route_of(request: &Request) -> Cow<'static, str> {
    match request.extensions().get::<MatchedPath>() {
        Some(matched) => Cow::Owned(matched.as_str().to_owned()),
        None => Cow::Borrowed("other"),
    }
}

/// The request metrics and, when enabled, the log line; the request id for outgoing calls.
pub async fn observe(State(log): State<RequestLog>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = crate::request_id::of(&request).to_owned();
    let method = request.method().clone();
    let route = route_of(&request);
    let response = portcullis_metrics::with_request_id(id, next.run(request)).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    log.metrics
        .http_duration
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(elapsed.as_secs_f64());
    if log.enabled {
        let who = response.extensions().get::<LoggedUser>();
        tracing::info!(
            method = %method,
            endpoint = %route,
            status,
            user = who.map_or("-", |w| w.user.as_str()),
            via = who.map_or("-", |w| w.via),
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "{}", log.message
        );
    }
    log.count(route, &method, response.status());
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request_layers::layers;
    use axum::{Router, body::Body, routing::get};
    use tower::ServiceExt;

    /// Route labels are the registered templates, whatever the path; unmatched paths are one
    /// label, so clients cannot grow the series.
    #[tokio::test]
    async fn route_labels_are_templates_never_paths() {
        let metrics = Metrics::new();
        let app = layers(
            Router::new().route("/tasks/{id}", get(|| async { "task" })),
            RequestLog {
                enabled: false,
                message: "request",
                timeout: None,
                metrics: metrics.clone(),
            },
        );
        for path in ["/tasks/a", "/tasks/b", "/random/1", "/random/2"] {
            let request = Request::builder().uri(path).body(Body::empty()).unwrap();
            app.clone().oneshot(request).await.unwrap();
        }
        let text = metrics.render(|_| {});
        let series: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("portcullis_http_requests_total{"))
            .collect();
        assert_eq!(series.len(), 2, "{text}");
        assert!(
            text.contains(r#"route="/tasks/{id}",method="GET",status="200"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"route="other",method="GET",status="404"} 2"#),
            "{text}"
        );
    }
}
