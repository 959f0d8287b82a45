//! The longest a request other than a GET may take (GETs may be long-lived event streams):
//! then it is answered 503 with a JSON error and `Retry-After`. tower-http's `TimeoutLayer`
//! answers with an empty body, which tells an agent nothing.

use std::time::Duration;

use axum::{
    extract::{Request, State},
    http::{HeaderValue, Method},
    middleware::Next,
    response::{IntoResponse, Response},
};

pub(crate) async fn limit(
    State(limit): State<Option<Duration>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(limit) = limit.filter(|_| request.method() != Method::GET) else {
        return next.run(request).await;
    };
    let route = crate::request_context::route_of(&request);
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(endpoint = %route, "request timed out");
            timed_out(limit)
        }
    }
}

/// 503 for a request that ran out of time; `Retry-After` invites one more try.
fn timed_out(limit: Duration) -> Response {
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
