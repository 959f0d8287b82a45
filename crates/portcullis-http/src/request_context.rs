//! Every request, on every listener: a request id (the caller's `X-Request-ID` when it sends a
//! sane one, else a new UUID) that is echoed back, put on every log line written while the
//! request is served (a tracing span), and handed to calls made to other services; the request
//! metrics; and, when enabled, one log line per request.

use std::{borrow::Cow, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderName, HeaderValue, Method},
    middleware::Next,
    response::Response,
};
use std::sync::Arc;

use portcullis_metrics::{HttpLabels, HttpMethod, Metrics, RouteLabels};
use tracing::Instrument;

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

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

fn request_id(request: &Request) -> String {
    request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        // A v4 UUID from the thread-local generator: no system call per request.
        .unwrap_or_else(|| {
            uuid::Builder::from_random_bytes(rand::random())
                .into_uuid()
                .to_string()
        })
}

/// RFC 9112 §3.2: a request with more than one `Host` MUST be refused with 400; a repeated
/// `Origin` is refused too, since the checks behind this layer read only one of each.
fn repeated_singleton(request: &Request) -> Option<&'static str> {
    use axum::http::header::{HOST, ORIGIN};
    [(HOST, "Host"), (ORIGIN, "Origin")]
        .into_iter()
        .find(|(name, _)| request.headers().get_all(name).iter().nth(1).is_some())
        .map(|(_, label)| label)
}

pub async fn observe(State(log): State<RequestLog>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    if let Some(header) = repeated_singleton(&request) {
        use axum::response::IntoResponse;
        let message = format!("Bad Request: the {header} header must be sent once\n");
        let response = (axum::http::StatusCode::BAD_REQUEST, message).into_response();
        log.count(route_of(&request), request.method(), response.status());
        return response;
    }
    let id = request_id(&request);
    let header = HeaderValue::from_str(&id).expect("checked to be visible ASCII");
    request.headers_mut().insert(REQUEST_ID, header.clone());
    let method = request.method().clone();
    let route = route_of(&request);
    let span = tracing::info_span!("request", request_id = %id);
    let limit = log.timeout.filter(|_| method != axum::http::Method::GET);
    let work = portcullis_metrics::with_request_id(id, next.run(request)).instrument(span.clone());
    let mut response = match limit {
        Some(limit) => match tokio::time::timeout(limit, work).await {
            Ok(response) => response,
            Err(_) => {
                let _entered = span.enter();
                tracing::warn!(endpoint = %route, "request timed out");
                timed_out(limit)
            }
        },
        None => work.await,
    };
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
        let _entered = span.enter();
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
    response.headers_mut().insert(REQUEST_ID, header);
    response
}

/// 503 for a request that ran out of time; `Retry-After` invites one more try.
fn timed_out(limit: std::time::Duration) -> Response {
    use axum::response::IntoResponse;
    let body = serde_json::json!({
        "error": {
            "type": "timeout_error",
            "message": format!("the request did not finish within {} s", limit.as_secs_f64()),
        }
    });
    let mut response = (
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(body),
    )
        .into_response();
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        HeaderValue::from_static("1"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{Router, body::Body, routing::get};
    use tower::ServiceExt;

    /// Route labels are the registered templates, whatever the path; unmatched paths are one
    /// label, so clients cannot grow the series.
    #[tokio::test]
    async fn route_labels_are_templates_never_paths() {
        let metrics = Metrics::new();
        let app = Router::new()
            .route("/tasks/{id}", get(|| async { "task" }))
            .layer(axum::middleware::from_fn_with_state(
                RequestLog {
                    enabled: false,
                    message: "request",
                    timeout: None,
                    metrics: metrics.clone(),
                },
                observe,
            ));
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
