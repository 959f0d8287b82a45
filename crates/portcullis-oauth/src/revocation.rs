//! Token revocation (RFC 7009) and introspection (RFC 7662).
//!
//! Revoking either kind of token revokes its grant: the refresh token and every access token
//! issued under it stop working (§2.1 lets a server do both). Unknown tokens, and tokens of
//! another client, are answered 200 with nothing done, so the endpoint reveals nothing.
//! Introspection (RFC 7662 §4: protected against token scanning) needs client authentication
//! with a secret, and answers only about tokens issued to the calling client, or about any
//! token for a client the operator marked `introspection = true` (a resource server). Since
//! anyone may register a confidential client, "confidential" alone would protect nothing.
//! Every other token, like an inactive one, gets `{"active": false}` and nothing else.

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

impl Issued {
    /// The client the token was issued to.
    fn client_id(&self) -> Option<&str> {
        match self {
            Self::Refresh { grant, .. } => Some(&grant.client_id),
            Self::Access { claims, .. } => claims.get("client_id").and_then(Value::as_str),
        }
    }
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
        let issued = server.identify(token).await?;
        let owner = issued
            .as_ref()
            .and_then(Issued::client_id)
            .map(str::to_owned);
        let grant_id = match issued {
            Some(Issued::Refresh { grant, .. }) => Some(grant.id),
            Some(Issued::Access { grant_id, .. }) => grant_id,
            None => None,
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
        let issued = server.identify(token).await?.filter(|issued| {
            client.introspection || issued.client_id() == Some(client.id.as_str())
        });
        let answer = match issued {
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
