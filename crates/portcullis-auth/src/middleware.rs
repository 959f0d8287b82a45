//! Axum middleware that authenticates every request it guards (RFC 6750 §2.1: the
//! `Authorization` header is the only accepted place for a token).

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderMap, Uri, header},
    middleware::Next,
    response::Response,
};

use crate::{AuthError, ResourceServer};

/// Verifies the bearer token and inserts the [`crate::Principal`] into request extensions;
/// refuses with a challenge otherwise. Use with `axum::middleware::from_fn_with_state`.
pub async fn require_bearer(
    State(rs): State<Arc<ResourceServer>>,
    mut request: Request,
    next: Next,
) -> Response {
    match authenticate_bearer(&rs, request.uri(), request.headers()).await {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(error) => rs.reject_for(request.headers(), error),
    }
}

/// Verifies the bearer token of a request: the building block of [`require_bearer`] for
/// applications that accept other credentials too.
// Takes the URI and headers rather than the request: the body is not `Sync`, so a borrow of
// the whole request could not be held across the verification await.
pub async fn authenticate_bearer(
    rs: &ResourceServer,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<crate::Principal, AuthError> {
    // The MCP authorization spec forbids tokens in the URI; refuse rather than ignore so a
    // misconfigured client learns why.
    if uri.query().is_some_and(|q| {
        q.split('&')
            .any(|pair| pair.split('=').next() == Some("access_token"))
    }) {
        return Err(AuthError::InvalidRequest(
            "access tokens are not accepted in the query string; send Authorization: Bearer <token>",
        ));
    }
    let token = bearer_token(headers)?;
    rs.verify(token).await
}

/// The token from `Authorization: Bearer <token>` (scheme case-insensitive, RFC 9110 §11.1).
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(AuthError::MissingToken);
    };
    if values.next().is_some() {
        return Err(AuthError::InvalidRequest(
            "more than one Authorization header",
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| AuthError::InvalidRequest("the Authorization header is not ASCII"))?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::MissingToken);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthError::InvalidRequest(
            "the Authorization header has no token after Bearer",
        ));
    }
    Ok(token)
}
