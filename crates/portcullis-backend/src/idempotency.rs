//! `Idempotency-Key` on the backend's writes: the first request with a key runs and its
//! response is kept; a retry with the same key and the same request gets that response again
//! (with `Idempotent-Replayed: true`) instead of running twice. So a client that lost a
//! response (a dropped connection, a timeout) can retry a `create_task` safely.
//!
//! A retry while the first attempt still runs gets 409 with `Retry-After`; the same key with a
//! different request gets 422. A first attempt that fails with a server error releases the key,
//! since nothing was written. Keys are per user and kept for 24 hours.

use axum::{
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use portcullis_core::{
    Store,
    idempotency::{Claim, KeyOwner},
};
use sha2::{Digest, Sha256};

use super::{ApiError, auth::Acting};

const KEY_HEADER: &str = "idempotency-key";
const REPLAYED: &str = "idempotent-replayed";
/// Largest response kept for replay.
const MAX_RESPONSE: usize = 1024 * 1024;

/// The store, and the largest request body to read (the route's own limit is applied by its
/// extractor, which runs after this layer has read the body).
#[derive(Clone)]
pub(crate) struct Replays {
    pub(crate) store: Store,
    pub(crate) max_body_bytes: usize,
}

pub(crate) async fn replay(
    State(Replays {
        store,
        max_body_bytes,
    }): State<Replays>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() == Method::GET || !request.headers().contains_key(KEY_HEADER) {
        return next.run(request).await;
    }
    let Some(acting) = request.extensions().get::<Acting>().cloned() else {
        return next.run(request).await;
    };
    let key = match request.headers().get(KEY_HEADER).map(HeaderValue::to_str) {
        Some(Ok(key)) => key.trim().to_owned(),
        _ => return ApiError::validation("Idempotency-Key is not ASCII").into_response(),
    };
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, max_body_bytes).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "validation_error",
            format!("the request body is unreadable or larger than {max_body_bytes} bytes"),
        )
        .into_response();
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update([0]);
    hasher.update(parts.uri.path());
    hasher.update([0]);
    hasher.update(&bytes);
    let hash = portcullis_core::secret::hex(&hasher.finalize());
    let owner = KeyOwner {
        tenant: acting.tenant.as_str(),
        user: &acting.user,
    };
    match store.claim_idempotency_key(owner, &key, &hash).await {
        Ok(Claim::New) => {}
        Ok(Claim::Replay { status, body }) => {
            tracing::info!(user = %acting.user, "replaying the response of an idempotent request");
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut response = (status, body).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            headers.insert(REPLAYED, HeaderValue::from_static("true"));
            return response;
        }
        Ok(Claim::InProgress) => {
            let mut response = ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_in_progress",
                "a request with this Idempotency-Key is still running; retry in a moment",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return response;
        }
        Ok(Claim::Mismatch) => {
            return ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_error",
                "this Idempotency-Key was already used with a different request; use a new key for a new request",
            )
            .into_response();
        }
        Err(error) => return ApiError::from(error).into_response(),
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_RESPONSE).await else {
        // Cannot be kept for a replay; the write (a single row) never answers this much.
        let _ = store.release_idempotency_key(owner, &key).await;
        tracing::error!("an idempotent response was too large to keep");
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the response could not be recorded for replay",
        )
        .into_response();
    };
    let outcome = if parts.status.is_server_error() {
        store.release_idempotency_key(owner, &key).await
    } else {
        let text = String::from_utf8_lossy(&bytes);
        store
            .complete_idempotency_key(owner, &key, parts.status.as_u16(), &text)
            .await
    };
    if let Err(error) = outcome {
        tracing::error!(%error, "could not record an idempotent response");
    }
    parts
        .headers
        .insert(REPLAYED, HeaderValue::from_static("false"));
    Response::from_parts(parts, Body::from(bytes))
}
