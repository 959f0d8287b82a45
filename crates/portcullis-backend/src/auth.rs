//! Dual authentication on every backend route (design document 000, step 5):
//!
//! - a service: `Authorization: Bearer <SERVICE_AUTH_TOKEN>` plus `X-User-ID` (and optionally
//!   `X-Tenant-ID`), acting for that user. A service token without `X-User-ID` is 400; an
//!   `X-User-ID` with anything but a valid service token is 401, so a user's own token can
//!   never be used to act for someone else;
//! - a user: their own bearer JWT, verified as the MCP resource server does, with `tasks:read`
//!   for reads and `tasks:write` for writes.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderMap, Method, Uri},
    middleware::Next,
    response::{IntoResponse, Response},
};
use portcullis_auth::{AuthError, ResourceServer, ServiceTokens, authenticate_bearer};
use portcullis_core::TenantId;

use super::ApiError;
use portcullis_http::LoggedUser;

const USER_HEADER: &str = "x-user-id";
const TENANT_HEADER: &str = "x-tenant-id";

pub(crate) struct Authenticator {
    pub(crate) resource_server: Arc<ResourceServer>,
    pub(crate) service_tokens: ServiceTokens,
}

/// Whom a request acts for, once authenticated.
#[derive(Debug, Clone)]
pub(crate) struct Acting {
    pub(crate) tenant: TenantId,
    pub(crate) user: String,
    /// True for a service acting for the user, false for the user's own token.
    pub(crate) via_service: bool,
}

/// A user or tenant id header: sent once, and never trimmed (" victor" is not victor, and is
/// refused rather than normalised: the other side of the hop compares exactly).
fn identifier<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ApiError> {
    match portcullis_http::headers::single(headers, name) {
        Ok(Some(s)) if !portcullis_auth::is_clean_identifier(s) => Err(ApiError::validation(
            format!("{name} {}", portcullis_auth::IDENTIFIER_RULE),
        )),
        Ok(value) => Ok(value),
        Err(portcullis_http::headers::HeaderProblem::NotText) => {
            Err(ApiError::validation(format!("{name} is not ASCII")))
        }
        Err(portcullis_http::headers::HeaderProblem::Repeated) => Err(ApiError::validation(
            format!("{name} is repeated; send it once"),
        )),
    }
}

pub(crate) async fn authenticate(
    State(auth): State<Arc<Authenticator>>,
    mut request: Request,
    next: Next,
) -> Response {
    let outcome = identify(&auth, request.method(), request.uri(), request.headers()).await;
    match outcome {
        Ok(acting) => {
            request.extensions_mut().insert(acting.clone());
            let mut response = next.run(request).await;
            // For the request log, which runs outside this layer.
            response.extensions_mut().insert(LoggedUser {
                user: acting.user,
                via: if acting.via_service {
                    "service"
                } else {
                    "user"
                },
            });
            response
        }
        Err(refusal) => refusal,
    }
}

// Takes the parts it reads, not the request: the body is not `Sync`.
async fn identify(
    auth: &Authenticator,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Acting, Response> {
    let user = identifier(headers, USER_HEADER).map_err(IntoResponse::into_response)?;
    let service =
        portcullis_auth::bearer_token(headers).is_ok_and(|t| auth.service_tokens.matches(t));
    match (service, user) {
        (true, Some(user)) => {
            if user.is_empty() || user.len() > 255 {
                return Err(ApiError::validation(
                    "X-User-ID must name a user in 1 to 255 characters",
                )
                .into_response());
            }
            let tenant =
                match identifier(headers, TENANT_HEADER).map_err(IntoResponse::into_response)? {
                    Some(t) => TenantId::parse(t).map_err(|e| ApiError::from(e).into_response())?,
                    None => TenantId::default_tenant(),
                };
            Ok(Acting {
                tenant,
                user: user.to_owned(),
                via_service: true,
            })
        }
        (true, None) => Err(ApiError::validation(
            "a service call must name the user it acts for in X-User-ID",
        )
        .into_response()),
        (false, Some(_)) => Err(ApiError::unauthenticated(
            "X-User-ID is accepted only with a valid service token; the token was refused",
        )
        .into_response()),
        (false, None) => {
            let principal = authenticate_bearer(&auth.resource_server, uri, headers)
                .await
                .map_err(|e| auth.resource_server.reject_for(headers, e))?;
            let scope = if method == Method::GET {
                "tasks:read"
            } else {
                "tasks:write"
            };
            if !principal.scopes.contains(scope) {
                return Err(auth.resource_server.reject_for(
                    headers,
                    AuthError::InsufficientScope {
                        required: scope.to_owned(),
                    },
                ));
            }
            let tenant = match principal.tenant.as_deref() {
                Some(t) => TenantId::parse(t).map_err(|e| ApiError::from(e).into_response())?,
                None => TenantId::default_tenant(),
            };
            Ok(Acting {
                tenant,
                user: principal.subject,
                via_service: false,
            })
        }
    }
}
