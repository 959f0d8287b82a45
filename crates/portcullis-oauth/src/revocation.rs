//! Token revocation (RFC 7009) and introspection (RFC 7662).
//!
//! Revoking either kind of token revokes its grant: the refresh token and every access token
//! issued under it stop working (§2.1 lets a server do both). Unknown tokens, and tokens of
//! another client, are answered 200 with nothing done, so the endpoint reveals nothing.
//! Introspection is for confidential clients (resource servers) only, to prevent token
//! scanning (RFC 7662 §4); inactive tokens get `{"active": false}` and nothing else.

use std::sync::Arc;

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use portcullis_core::timestamp;
use serde_json::{Value, json};

use crate::{AuthorizationServer, OAuthError, params::Params, secret};

/// A token this server issued, identified.
enum Issued {
    Refresh {
        grant: Box<portcullis_core::oauth::Grant>,
        expires_at: String,
        used: bool,
    },
    Access {
        claims: Arc<serde_json::Map<String, Value>>,
        grant_id: Option<String>,
    },
}

impl AuthorizationServer {
    async fn identify(&self, token: &str) -> Result<Option<Issued>, OAuthError> {
        if token.starts_with("pcr_") {
            let Some(row) = self.store.refresh_token(&secret::digest(token)).await? else {
                return Ok(None);
            };
            let Some(grant) = self.store.grant(&row.grant_id).await? else {
                return Ok(None);
            };
            return Ok(Some(Issued::Refresh {
                grant: Box::new(grant),
                expires_at: row.expires_at,
                used: row.used_at.is_some(),
            }));
        }
        match self.verifier.verify(token).await {
            Ok(principal) => {
                let grant_id = principal
                    .claims
                    .get("sid")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                Ok(Some(Issued::Access {
                    claims: principal.claims,
                    grant_id,
                }))
            }
            Err(_) => Ok(None),
        }
    }
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /revoke`.
pub async fn revoke(
    State(server): State<Arc<AuthorizationServer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let params = Params::parse(&body)?;
        let client = server.clients.authenticate(&headers, &params).await?;
        let token = params.require("token")?;
        let (owner, grant_id) = match server.identify(token).await? {
            Some(Issued::Refresh { grant, .. }) => (Some(grant.client_id.clone()), Some(grant.id)),
            Some(Issued::Access { claims, grant_id }) => (
                claims
                    .get("client_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                grant_id,
            ),
            None => (None, None),
        };
        if let (Some(owner), Some(grant_id)) = (owner, grant_id)
            && owner == client.id
        {
            server
                .revoke_grant(&grant_id, "revoked by the client (RFC 7009)")
                .await?;
        }
        Ok::<_, OAuthError>(())
    }
    .await;
    match result {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(e) => e.into_response(),
    }
}

/// `POST /introspect`.
pub async fn introspect(
    State(server): State<Arc<AuthorizationServer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let params = Params::parse(&body)?;
        let client = server.clients.authenticate(&headers, &params).await?;
        if !client.is_confidential() {
            return Err(OAuthError::invalid_client(
                "introspection is open to confidential clients only; authenticate with a client secret",
            ));
        }
        let token = params.require("token")?;
        let inactive = json!({ "active": false });
        let answer = match server.identify(token).await? {
            Some(Issued::Refresh { grant, expires_at, used }) => {
                let now = timestamp::now();
                if used || grant.revoked_at.is_some() || expires_at <= now || grant.expires_at <= now {
                    inactive
                } else {
                    let exp = chrono::DateTime::parse_from_rfc3339(&expires_at).map(|t| t.timestamp()).unwrap_or(0);
                    json!({
                        "active": true,
                        "token_type": "refresh_token",
                        "scope": grant.scope,
                        "client_id": grant.client_id,
                        "sub": grant.subject,
                        "aud": grant.resource,
                        "iss": server.config.issuer,
                        "exp": exp,
                    })
                }
            }
            Some(Issued::Access { claims, grant_id }) => {
                let revoked = match &grant_id {
                    Some(id) => {
                        server.revoked.contains(id)
                            || server.store.grant(id).await?.is_none_or(|g| g.revoked_at.is_some())
                    }
                    None => false,
                };
                if revoked {
                    inactive
                } else {
                    let mut out = serde_json::Map::new();
                    out.insert("active".into(), Value::Bool(true));
                    out.insert("token_type".into(), Value::String("access_token".into()));
                    for key in ["scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti", "org_id"] {
                        if let Some(v) = claims.get(key) {
                            out.insert(key.into(), v.clone());
                        }
                    }
                    Value::Object(out)
                }
            }
            None => inactive,
        };
        Ok(answer)
    }
    .await;
    match result {
        Ok(answer) => no_store(Json(answer).into_response()),
        Err(e) => e.into_response(),
    }
}
