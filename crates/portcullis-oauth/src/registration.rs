//! RFC 7591 dynamic client registration at `/register`: deprecated by MCP 2026-07-28 in favour
//! of metadata documents, still what many clients do. Registered clients are low-assurance:
//! the consent page says so, names are not trusted, they may only use `authorization_code`
//! (+ `refresh_token`), so every token they get has a user who signed in and consented.
//! Registrations are capped per hour server-wide, each address has its own share of that
//! (enforced at the HTTP edge); an identical registration of a public client gets the client
//! registered before; clients that never complete a grant, or stay idle past every refresh
//! token's lifetime, are deleted.

use std::{sync::Arc, time::Duration};

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use portcullis_core::{StoreError, oauth::StoredClient, timestamp};
use serde::{Deserialize, Serialize};

use crate::{
    AuthorizationServer, ErrorCode, OAuthError,
    client::AUTHORIZATION_CODE,
    client_rules::{Problem, Registration},
    redirect_uri::AppKind,
    secret::{self, Secret},
};

/// The registration request (RFC 7591 §2). Unknown members are ignored, as §2 requires.
#[derive(Debug, Deserialize)]
pub struct RegistrationRequest {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    pub client_name: Option<String>,
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    pub scope: Option<String>,
    pub application_type: Option<String>,
}

/// What a new client is told (RFC 7591 §3.2.1): every registered value, plus its credentials.
#[derive(Debug, Serialize)]
pub struct RegistrationResponse {
    pub client_id: String,
    pub client_id_issued_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    pub client_name: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub response_types: Vec<&'static str>,
    pub token_endpoint_auth_method: String,
    pub application_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

fn metadata_error(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, description)
}

/// `POST /register`.
pub async fn handle(State(server): State<Arc<AuthorizationServer>>, body: Bytes) -> Response {
    let result = async {
        let request: RegistrationRequest = serde_json::from_slice(&body).map_err(|e| {
            metadata_error(format!(
                "the body is not a valid client metadata JSON object: {e}"
            ))
        })?;
        server.register(request).await
    }
    .await;
    match result {
        Ok(registered) => {
            let mut response = (StatusCode::CREATED, Json(registered)).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) if e.code == ErrorCode::TemporarilyUnavailable => {
            let mut response = e.into_response();
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("600"));
            response
        }
        Err(e) => {
            tracing::info!(error = e.code.as_str(), description = %e.description, "client registration refused");
            e.into_response()
        }
    }
}

impl AuthorizationServer {
    async fn register(
        &self,
        request: RegistrationRequest,
    ) -> Result<RegistrationResponse, OAuthError> {
        let kind = match request.application_type.as_deref() {
            Some("native") => AppKind::Native,
            Some("web") => AppKind::Web,
            None => AppKind::Unstated,
            Some(other) => {
                return Err(metadata_error(format!(
                    "application_type {other:?} is not web or native"
                )));
            }
        };
        // Recorded (and answered, RFC 7591 §3.2.1) as said, else as the redirect URIs show.
        let application_type = request.application_type.clone().unwrap_or_else(|| {
            if request
                .redirect_uris
                .iter()
                .any(|u| crate::redirect_uri::is_private_use(u))
            {
                "native".into()
            } else {
                "web".into()
            }
        });
        let auth_method = request
            .token_endpoint_auth_method
            .unwrap_or_else(|| "client_secret_basic".into());
        let confidential = match auth_method.as_str() {
            "none" => false,
            "client_secret_basic" | "client_secret_post" => true,
            other => {
                return Err(metadata_error(format!(
                    "token_endpoint_auth_method {other:?} is not supported; use none, client_secret_basic or client_secret_post"
                )));
            }
        };
        // RFC 7591 §2: without grant_types, authorization_code.
        let grant_types = request
            .grant_types
            .unwrap_or_else(|| vec![AUTHORIZATION_CODE.into()]);
        if let Some(types) = &request.response_types
            && types.iter().any(|t| t != "code")
        {
            return Err(metadata_error("only the response type code is supported"));
        }
        let name = request
            .client_name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "Unnamed client".into());
        let scopes = crate::client_rules::scope_list(request.scope.as_deref());
        Registration {
            name: &name,
            redirect_uris: &request.redirect_uris,
            kind,
            schemes: &self.config.redirect_schemes,
            grant_types: &grant_types,
            confidential,
            scopes: &scopes,
            introspection: false,
            by_operator: false,
        }
        .check(&self.config.scopes_supported)
        .map_err(|problem| match problem {
            Problem::RedirectUri(m) => OAuthError::new(ErrorCode::InvalidRedirectUri, m),
            Problem::Metadata(m) => metadata_error(m),
        })?;
        // The same client software registering again (many do so on every start) gets the
        // client it registered before, instead of a new row. Only public clients: a
        // confidential one would need its secret, which is not kept.
        let fingerprint = (!confidential).then(|| {
            secret::digest(
                &serde_json::json!([
                    name,
                    request.redirect_uris,
                    grant_types,
                    auth_method,
                    application_type,
                    request.scope,
                ])
                .to_string(),
            )
        });
        if let Some(fingerprint) = &fingerprint
            && let Some(existing) = self
                .store
                .dynamic_client_by_fingerprint(
                    fingerprint,
                    &timestamp::in_past(self.config.unused_client_ttl),
                )
                .await?
        {
            tracing::info!(client = %existing.client_id, "identical registration; the existing client answered");
            return Ok(RegistrationResponse {
                client_id_issued_at: chrono::DateTime::parse_from_rfc3339(&existing.created_at)
                    .map_or(0, |t| t.timestamp()),
                client_id: existing.client_id,
                client_secret: None,
                client_secret_expires_at: None,
                client_name: existing.name,
                redirect_uris: existing.redirect_uris,
                grant_types: existing.grant_types,
                response_types: vec!["code"],
                token_endpoint_auth_method: existing.token_endpoint_auth_method,
                application_type: existing.application_type,
                scope: existing.scope,
            });
        }
        let recent = self
            .store
            .dynamic_clients_since(&timestamp::in_past(Duration::from_secs(3600)))
            .await?;
        if recent >= i64::from(self.config.max_registrations_per_hour) {
            tracing::warn!(recent, "dynamic client registration limit reached");
            return Err(OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "too many clients registered in the last hour; try again later",
            ));
        }
        let secret = confidential.then(|| Secret::generate("pcs_"));
        let now = timestamp::now();
        let stored = StoredClient {
            client_id: format!("pcc_{}", uuid::Uuid::new_v4().simple()),
            secret_hash: secret.as_ref().map(Secret::digest),
            name: name.clone(),
            redirect_uris: request.redirect_uris.clone(),
            grant_types: grant_types.clone(),
            scope: request.scope.clone(),
            application_type: application_type.clone(),
            token_endpoint_auth_method: auth_method.clone(),
            registered_by: "dynamic".into(),
            created_at: now,
            introspection: false,
            first_grant_at: None,
            last_used_at: None,
            fingerprint,
        };
        self.store
            .insert_client(&stored)
            .await
            .map_err(|e| match e {
                StoreError::Conflict { .. } => OAuthError::server_error(&"client id collision"),
                other => OAuthError::from(other),
            })?;
        tracing::info!(client = %stored.client_id, confidential, application_type, "client registered itself");
        Ok(RegistrationResponse {
            client_id: stored.client_id,
            client_id_issued_at: chrono::Utc::now().timestamp(),
            client_secret_expires_at: secret.as_ref().map(|_| 0),
            client_secret: secret.map(|s| s.expose().to_owned()),
            client_name: name,
            redirect_uris: request.redirect_uris,
            grant_types,
            response_types: vec!["code"],
            token_endpoint_auth_method: auth_method,
            application_type,
            scope: request.scope,
        })
    }
}
