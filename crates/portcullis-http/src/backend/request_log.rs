//! One log line per backend request (endpoint, method, status, user, duration) carrying the
//! request id: the caller's `X-Request-ID` when it sends a sane one, else a new UUID. The id is
//! echoed in the response so both sides of a hop log the same id.

use std::time::Instant;

use axum::{
    extract::Request,
    http::{HeaderValue, header::HeaderName},
    middleware::Next,
    response::Response,
};

use super::auth::Acting;

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub(crate) async fn log(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let method = request.method().clone();
    let endpoint = request.uri().path().to_owned();
    let header = HeaderValue::from_str(&id).expect("checked to be visible ASCII");
    request.headers_mut().insert(REQUEST_ID, header.clone());
    // The user is known only once authentication has run, inside; it reports back through
    // the response's extensions.
    let mut response = next.run(request).await;
    let acting = response.extensions().get::<Acting>();
    let user = acting.map_or("-", |a| a.user.as_str());
    let via = acting.map_or("-", |a| if a.via_service { "service" } else { "user" });
    tracing::info!(
        request_id = %id,
        method = %method,
        endpoint = %endpoint,
        status = response.status().as_u16(),
        user,
        via,
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "backend request"
    );
    response.headers_mut().insert(REQUEST_ID, header);
    response
}
