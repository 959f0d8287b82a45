//! Request ids, with tower-http's request-id layers: the caller's `X-Request-ID` when it sends a
//! usable one, else a new UUID; echoed on the answer, and read by the span and the log line.

use axum::{
    extract::Request,
    http::{HeaderName, HeaderValue},
    middleware::Next,
    response::Response,
};
use tower_http::request_id::{MakeRequestId, RequestId};

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// New ids: v4 UUIDs from the thread-local generator (no system call per request).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NewIds;

impl MakeRequestId for NewIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = uuid::Builder::from_random_bytes(rand::random())
            .into_uuid()
            .to_string();
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// A caller's id that is empty, longer than 128 bytes or not visible ASCII is not passed on
/// (into logs and other services): it is dropped, so a new one is made.
pub(crate) async fn drop_unusable(mut request: Request, next: Next) -> Response {
    let usable = request.headers().get(&REQUEST_ID).is_none_or(|v| {
        !v.is_empty() && v.len() <= 128 && v.as_bytes().iter().all(u8::is_ascii_graphic)
    });
    if !usable {
        request.headers_mut().remove(&REQUEST_ID);
    }
    next.run(request).await
}

/// The request's id (set by the layers above).
pub(crate) fn of<B>(request: &axum::http::Request<B>) -> &str {
    request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
}
