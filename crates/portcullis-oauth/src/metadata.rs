//! Authorization server metadata (RFC 8414) and OpenID Connect Discovery 1.0, plus the JWKS.
//!
//! Both documents carry the same `issuer`, string-identical to the protected resource
//! metadata's `authorization_servers` entry (clients compare them byte for byte). They are
//! served at the root well-known paths and, when the issuer has a path, at the RFC 8414
//! path-inserted and OIDC path-appended forms.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Serialize;

use crate::AuthorizationServer;

#[derive(Debug, Serialize)]
pub struct ServerMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
    pub scopes_supported: Vec<String>,
    pub response_types_supported: Vec<&'static str>,
    pub response_modes_supported: Vec<&'static str>,
    pub grant_types_supported: Vec<&'static str>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    pub code_challenge_methods_supported: Vec<&'static str>,
    pub authorization_response_iss_parameter_supported: bool,
    pub client_id_metadata_document_supported: bool,
    /// OpenID Connect Discovery only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_types_supported: Option<Vec<&'static str>>,
    /// OpenID Connect Discovery only. No ID tokens are issued; this names the access-token
    /// signing algorithm so discovery-driven clients find a consistent document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token_signing_alg_values_supported: Option<Vec<&'static str>>,
}

impl AuthorizationServer {
    pub fn metadata(&self, openid: bool) -> ServerMetadata {
        let client_auth = vec!["none", "client_secret_basic", "client_secret_post"];
        ServerMetadata {
            issuer: self.config.issuer.clone(),
            authorization_endpoint: self.endpoint("/authorize"),
            token_endpoint: self.endpoint("/token"),
            jwks_uri: self.endpoint("/jwks.json"),
            registration_endpoint: self
                .config
                .dynamic_registration
                .then(|| self.endpoint("/register")),
            revocation_endpoint: self.endpoint("/revoke"),
            introspection_endpoint: self.endpoint("/introspect"),
            scopes_supported: self.config.scopes_supported.clone(),
            response_types_supported: vec!["code"],
            response_modes_supported: vec!["query"],
            grant_types_supported: vec![
                crate::client::AUTHORIZATION_CODE,
                crate::client::REFRESH_TOKEN,
                crate::client::CLIENT_CREDENTIALS,
            ],
            token_endpoint_auth_methods_supported: client_auth.clone(),
            revocation_endpoint_auth_methods_supported: client_auth,
            introspection_endpoint_auth_methods_supported: vec![
                "client_secret_basic",
                "client_secret_post",
            ],
            code_challenge_methods_supported: vec!["S256"],
            authorization_response_iss_parameter_supported: true,
            client_id_metadata_document_supported: true,
            subject_types_supported: openid.then(|| vec!["public"]),
            id_token_signing_alg_values_supported: openid.then(|| vec!["ES256"]),
        }
    }
}

fn public_json<T: Serialize>(value: &T, max_age: &'static str) -> Response {
    let mut response = Json(value).into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(max_age));
    response
}

async fn oauth_metadata(State(server): State<Arc<AuthorizationServer>>) -> Response {
    public_json(&server.metadata(false), "public, max-age=3600")
}

async fn openid_metadata(State(server): State<Arc<AuthorizationServer>>) -> Response {
    public_json(&server.metadata(true), "public, max-age=3600")
}

/// The published keys. Short cache: rotation must reach verifiers quickly.
pub async fn jwks(State(server): State<Arc<AuthorizationServer>>) -> Response {
    public_json(&server.keys.jwks(), "public, max-age=300")
}

/// Adds the well-known routes for `issuer` to `router`.
pub fn routes(
    router: Router<Arc<AuthorizationServer>>,
    issuer: &str,
) -> Router<Arc<AuthorizationServer>> {
    let path = url::Url::parse(issuer)
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    let mut router = router
        .route(
            "/.well-known/oauth-authorization-server",
            get(oauth_metadata),
        )
        .route("/.well-known/openid-configuration", get(openid_metadata));
    if !path.is_empty() {
        router = router
            .route(
                &format!("/.well-known/oauth-authorization-server{path}"),
                get(oauth_metadata),
            )
            .route(
                &format!("/.well-known/openid-configuration{path}"),
                get(openid_metadata),
            )
            .route(
                &format!("{path}/.well-known/openid-configuration"),
                get(openid_metadata),
            );
    }
    router
}
