//! Who an upstream is told is calling, and the credentials that say so. The client's own token
//! never leaves Portcullis (MCP "Security Best Practices": no token passthrough): an upstream
//! gets a token Portcullis signs for it, a service credential with the user's id, or nothing.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use http::{HeaderName, HeaderValue};
use portcullis_auth::{Principal, signing::LocalSigner};
use secrecy::ExposeSecret;
use serde::Serialize;

use crate::{
    config::{Credentials, UPSTREAM_TOKEN_TTL},
    error::GatewayError,
};

/// The acting user of an upstream call: the verified principal, reduced to what the upstream is
/// told. Upstream connections are kept per `Acting`, because SDK-based servers bind a session to
/// the credential that opened it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Acting {
    pub subject: String,
    pub tenant: Option<String>,
    pub client_id: Option<String>,
    /// This upstream's scopes that the caller holds, sorted, space-separated.
    pub scope: String,
}

/// The subject of the calls Portcullis makes on its own behalf (listing an upstream's tools).
pub const GATEWAY_SUBJECT: &str = "portcullis-gateway";

impl Acting {
    /// The principal, with only the scopes that belong to upstream `name` (`name:read`,
    /// `name:write`, or any other `name:*`).
    pub fn of(principal: &Principal, upstream: &str) -> Self {
        let own = format!("{upstream}:");
        let mut scopes: Vec<&str> = principal
            .scopes
            .iter()
            .filter(|s| s.starts_with(&own))
            .collect();
        scopes.sort_unstable();
        Self {
            subject: principal.subject.clone(),
            tenant: principal.tenant.clone(),
            client_id: principal.client_id.clone(),
            scope: scopes.join(" "),
        }
    }

    /// Portcullis itself, for listing: it may see every tool the upstream has.
    pub fn gateway(upstream: &str) -> Self {
        Self {
            subject: GATEWAY_SUBJECT.to_owned(),
            tenant: None,
            client_id: None,
            scope: format!("{upstream}:read {upstream}:write"),
        }
    }
}

/// Where the gateway's signing key comes from (the key ring, which may rotate).
pub type SignerSource = Arc<dyn Fn() -> Arc<LocalSigner> + Send + Sync>;

/// What the JWT mode needs to sign tokens.
#[derive(Clone)]
pub struct TokenIssuer {
    pub signer: SignerSource,
    /// `iss`: Portcullis's public URL, whose `/jwks.json` publishes the key.
    pub issuer: String,
    /// The claim that carries the tenant (the same name Portcullis reads, default `org_id`).
    pub tenant_claim: String,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// The headers one request to an upstream carries.
#[derive(Clone, Default)]
pub struct Outgoing {
    /// The `Authorization: Bearer` value.
    pub bearer: Option<String>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Outgoing")
            .field("bearer", &self.bearer.as_ref().map(|_| "[REDACTED]"))
            .field("headers", &names)
            .finish()
    }
}

/// Signed upstream tokens, reused until a minute before they expire, per (upstream, acting
/// user): one signature per user every few minutes, not one per call. Bounded: when full it is
/// emptied (every entry can be re-signed at once).
#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<TokenKey, (Arc<str>, u64)>>,
}

/// (upstream, acting user).
type TokenKey = (Arc<str>, Acting);

const TOKEN_CACHE_MAX: usize = 10_000;
const REUSE_MARGIN: Duration = Duration::from_secs(60);

/// The claims of a token for an upstream (RFC 9068 plus RFC 8693 `act`).
#[derive(Serialize)]
struct UpstreamClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    scope: &'a str,
    iat: u64,
    exp: u64,
    jti: String,
    /// The party acting on the user's behalf: this Portcullis.
    act: Act<'a>,
    #[serde(flatten)]
    tenant: HashMap<&'a str, &'a str>,
}

#[derive(Serialize)]
struct Act<'a> {
    sub: &'a str,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

impl TokenCache {
    fn token(
        &self,
        issuer: &TokenIssuer,
        upstream: &Arc<str>,
        audience: &str,
        acting: &Acting,
    ) -> Result<Arc<str>, GatewayError> {
        let key = (upstream.clone(), acting.clone());
        let t = now();
        if let Some((token, exp)) = self.entries.lock().expect("token cache").get(&key)
            && *exp > t + REUSE_MARGIN.as_secs()
        {
            return Ok(token.clone());
        }
        let exp = t + UPSTREAM_TOKEN_TTL.as_secs();
        let mut tenant = HashMap::new();
        if let Some(value) = acting.tenant.as_deref() {
            tenant.insert(issuer.tenant_claim.as_str(), value);
        }
        let claims = UpstreamClaims {
            iss: &issuer.issuer,
            aud: audience,
            sub: &acting.subject,
            client_id: acting.client_id.as_deref(),
            scope: &acting.scope,
            iat: t,
            exp,
            jti: uuid::Uuid::new_v4().to_string(),
            act: Act {
                sub: &issuer.issuer,
            },
            tenant,
        };
        let token: Arc<str> = (issuer.signer)()
            .sign("at+jwt", &claims)
            .map_err(|e| {
                GatewayError::internal(upstream, format!("cannot sign the upstream token: {e}"))
            })?
            .into();
        let mut entries = self.entries.lock().expect("token cache");
        if entries.len() >= TOKEN_CACHE_MAX {
            entries.clear();
        }
        entries.insert(key, (token.clone(), exp));
        Ok(token)
    }
}

/// Builds the credentials for one request.
pub struct IdentityProvider {
    pub upstream: Arc<str>,
    pub credentials: Credentials,
    pub issuer: Option<TokenIssuer>,
    pub tokens: Arc<TokenCache>,
}

impl IdentityProvider {
    pub fn outgoing(&self, acting: &Acting) -> Result<Outgoing, GatewayError> {
        let user_headers = |user: &HeaderName,
                            tenant: Option<&HeaderName>|
         -> Result<Vec<(HeaderName, HeaderValue)>, GatewayError> {
            let value = |v: &str| {
                HeaderValue::from_str(v).map_err(|_| {
                    GatewayError::validation(
                        &self.upstream,
                        "the user's id cannot be sent in a header (it is not printable ASCII)",
                    )
                })
            };
            let mut headers = vec![(user.clone(), value(&acting.subject)?)];
            if let (Some(name), Some(t)) = (tenant, acting.tenant.as_deref()) {
                headers.push((name.clone(), value(t)?));
            }
            Ok(headers)
        };
        Ok(match &self.credentials {
            Credentials::None => Outgoing::default(),
            Credentials::Jwt { audience } => {
                let issuer = self.issuer.as_ref().ok_or_else(|| {
                    GatewayError::internal(
                        &self.upstream,
                        "no signing key is loaded for upstream tokens",
                    )
                })?;
                Outgoing {
                    bearer: Some(
                        self.tokens
                            .token(issuer, &self.upstream, audience, acting)?
                            .to_string(),
                    ),
                    headers: Vec::new(),
                }
            }
            Credentials::ServiceToken {
                token,
                user_header,
                tenant_header,
            } => Outgoing {
                bearer: Some(token.expose_secret().to_owned()),
                headers: user_headers(user_header, Some(tenant_header))?,
            },
            Credentials::ApiKey {
                header,
                key,
                user_header,
                tenant_header,
            } => {
                let mut headers = vec![(
                    header.clone(),
                    HeaderValue::from_str(key.expose_secret()).map_err(|_| {
                        GatewayError::internal(
                            &self.upstream,
                            "the API key cannot be sent in a header",
                        )
                    })?,
                )];
                if let Some(user) = user_header {
                    headers.extend(user_headers(user, tenant_header.as_ref())?);
                }
                for (_, v) in &mut headers {
                    v.set_sensitive(true);
                }
                Outgoing {
                    bearer: None,
                    headers,
                }
            }
        })
    }
}
