//! One OpenID Connect provider: its endpoints (discovery, cached), its signing keys, the code
//! exchange and the ID token check (OpenID Connect Core §3.1.3.5–3.1.3.7).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use jsonwebtoken::{Algorithm, Validation};
use portcullis_auth::{IssuerKeys, issuer_metadata};
use serde::Deserialize;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use super::IdentityProviderConfig;
use crate::redirect_uri::is_loopback_http;

/// Discovery documents are read again after this long (keys follow rotation on their own).
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// After a failed discovery, sign-ins wait this long before it is tried again: the button is
/// there for anyone to press, and each press must not become an outbound request.
const FAILURE_TTL: Duration = Duration::from_secs(10);
/// Least time between key refetches a token with an unknown `kid` can force.
const KEY_REFRESH: Duration = Duration::from_secs(10);
/// Largest token endpoint answer read.
const MAX_TOKEN_RESPONSE: usize = 256 * 1024;
/// Clock skew tolerated on `exp`, `iat` and `nbf`.
const LEEWAY_SECS: u64 = 60;
/// ID token signatures accepted: asymmetric only (an HMAC would be keyed with our secret).
const ID_TOKEN_ALGORITHMS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// Why a provider could not be used or did not sign the user in. Never contains a token.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("cannot read the provider's configuration: {0}")]
    Discovery(String),
    #[error("the provider refused the code exchange ({0})")]
    TokenRefused(String),
    #[error("the provider's token endpoint could not be used: {0}")]
    TokenEndpoint(String),
    #[error("the ID token was refused: {0}")]
    IdToken(String),
}

/// What discovery says about the provider.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub authorization: url::Url,
    token: url::Url,
    /// Send the client secret in the form (`client_secret_post`) rather than Basic.
    secret_in_body: bool,
    algorithms: Vec<Algorithm>,
    keys: Arc<IssuerKeys>,
}

enum Cached {
    Ready(Endpoints, Instant),
    Failed(String, Instant),
}

pub struct Provider {
    config: IdentityProviderConfig,
    client: reqwest::Client,
    cached: tokio::sync::Mutex<Option<Cached>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
    error: Option<String>,
}

impl Provider {
    pub(super) fn new(config: IdentityProviderConfig, client: reqwest::Client) -> Self {
        Self {
            config,
            client,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn config(&self) -> &IdentityProviderConfig {
        &self.config
    }

    /// The provider's endpoints and keys, from a cached discovery or a new one (single-flight:
    /// concurrent sign-ins wait for one fetch).
    pub async fn endpoints(&self) -> Result<Endpoints, ProviderError> {
        let mut cached = self.cached.lock().await;
        match &*cached {
            Some(Cached::Ready(endpoints, at)) if at.elapsed() < METADATA_TTL => {
                return Ok(endpoints.clone());
            }
            Some(Cached::Failed(reason, at)) if at.elapsed() < FAILURE_TTL => {
                return Err(ProviderError::Discovery(reason.clone()));
            }
            _ => {}
        }
        match self.discover().await {
            Ok(endpoints) => {
                *cached = Some(Cached::Ready(endpoints.clone(), Instant::now()));
                Ok(endpoints)
            }
            Err(reason) => {
                *cached = Some(Cached::Failed(reason.clone(), Instant::now()));
                Err(ProviderError::Discovery(reason))
            }
        }
    }

    async fn discover(&self) -> Result<Endpoints, String> {
        let meta = issuer_metadata(&self.client, &self.config.issuer)
            .await
            .map_err(|e| e.to_string())?;
        let url = |name: &str| -> Result<url::Url, String> {
            let raw = meta
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("the discovery document has no {name}"))?;
            let url = url::Url::parse(raw).map_err(|e| format!("{name} {raw:?}: {e}"))?;
            if url.scheme() != "https" && !is_loopback_http(&url) {
                return Err(format!("{name} {raw:?} is not https"));
            }
            Ok(url)
        };
        let strings = |name: &str| -> Option<Vec<String>> {
            meta.get(name)?.as_array().map(|items| {
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
        };
        // OpenID Connect Discovery §3: the default is client_secret_basic.
        let auth_methods = strings("token_endpoint_auth_methods_supported")
            .unwrap_or_else(|| vec!["client_secret_basic".into()]);
        let secret_in_body = !auth_methods.iter().any(|m| m == "client_secret_basic")
            && auth_methods.iter().any(|m| m == "client_secret_post");
        let advertised = strings("id_token_signing_alg_values_supported").unwrap_or_default();
        let algorithms: Vec<Algorithm> = ID_TOKEN_ALGORITHMS
            .into_iter()
            .filter(|a| advertised.is_empty() || advertised.iter().any(|s| *s == format!("{a:?}")))
            .collect();
        if algorithms.is_empty() {
            return Err(format!(
                "the provider signs ID tokens only with {advertised:?}; accepted are RS256, RS384, RS512, PS256, ES256 and EdDSA"
            ));
        }
        let keys = IssuerKeys::fetch(url("jwks_uri")?, self.client.clone(), KEY_REFRESH)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Endpoints {
            authorization: url("authorization_endpoint")?,
            token: url("token_endpoint")?,
            secret_in_body,
            algorithms,
            keys: Arc::new(keys),
        })
    }

    /// Exchanges `code` (with the PKCE verifier) and returns the verified ID token's claims.
    /// The provider's access and refresh tokens are not kept.
    pub async fn redeem(
        &self,
        endpoints: &Endpoints,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
        nonce: &str,
    ) -> Result<Map<String, Value>, ProviderError> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier),
        ];
        let mut request = self.client.post(endpoints.token.clone());
        match &self.config.client_secret {
            Some(secret) if !endpoints.secret_in_body => {
                // RFC 6749 §2.3.1: both parts form-encoded before Basic encoding.
                let pair = format!(
                    "{}:{}",
                    form_encode(&self.config.client_id),
                    form_encode(secret.expose())
                );
                request = request.header(
                    reqwest::header::AUTHORIZATION,
                    format!("Basic {}", STANDARD.encode(pair)),
                );
            }
            Some(secret) => {
                form.push(("client_id", &self.config.client_id));
                form.push(("client_secret", secret.expose()));
            }
            None => form.push(("client_id", &self.config.client_id)),
        }
        let mut response = request
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| ProviderError::TokenEndpoint(innermost(&e)))?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| ProviderError::TokenEndpoint(innermost(&e)))?
        {
            if body.len() + chunk.len() > MAX_TOKEN_RESPONSE {
                return Err(ProviderError::TokenEndpoint(
                    "the answer is larger than 256 KiB".into(),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
            ProviderError::TokenEndpoint(format!("HTTP {status} without a JSON answer"))
        })?;
        if !status.is_success() {
            let code = answer
                .error
                .filter(|e| is_error_code(e))
                .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
            return Err(ProviderError::TokenRefused(code));
        }
        let id_token = answer.id_token.ok_or_else(|| {
            ProviderError::IdToken(
                "the provider sent no ID token (is `openid` among the scopes?)".into(),
            )
        })?;
        self.verify_id_token(endpoints, &id_token, nonce).await
    }

    async fn verify_id_token(
        &self,
        endpoints: &Endpoints,
        id_token: &str,
        nonce: &str,
    ) -> Result<Map<String, Value>, ProviderError> {
        let mut validation = Validation::new(endpoints.algorithms[0]);
        validation.algorithms = endpoints.algorithms.clone();
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        let claims: Map<String, Value> = endpoints
            .keys
            .verify(id_token, &validation)
            .await
            .map_err(|e| ProviderError::IdToken(e.to_string()))?;
        check_id_token_claims(&claims, &self.config.client_id, nonce)?;
        Ok(claims)
    }
}

/// What `jsonwebtoken` does not check (OpenID Connect Core §3.1.3.7): `nonce` equal to the one
/// sent (constant time), `iat` present, and with several audiences (or any `azp`) `azp` equal
/// to our client id.
fn check_id_token_claims(
    claims: &Map<String, Value>,
    client_id: &str,
    nonce: &str,
) -> Result<(), ProviderError> {
    let refused = |why: &str| Err(ProviderError::IdToken(why.to_owned()));
    let sent: bool = claims
        .get("nonce")
        .and_then(Value::as_str)
        .is_some_and(|n| n.as_bytes().ct_eq(nonce.as_bytes()).into());
    if !sent {
        return refused(
            "its nonce is not the one this sign-in sent (a replayed or injected token)",
        );
    }
    if !claims.get("iat").is_some_and(Value::is_number) {
        return refused("it has no iat claim");
    }
    let several = claims
        .get("aud")
        .and_then(Value::as_array)
        .is_some_and(|a| a.len() > 1);
    match claims.get("azp").and_then(Value::as_str) {
        Some(azp) if azp != client_id => refused("it was issued to another client (azp)"),
        None if several => refused("it names several audiences and no azp"),
        _ => Ok(()),
    }
}

/// An OAuth error code as a provider may send one (RFC 6749 §5.2: printable ASCII); anything
/// else is not shown.
pub(crate) fn is_error_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn nonce_iat_and_azp_are_checked() {
        let good = json!({ "nonce": "n1", "iat": 1, "aud": "c" });
        assert!(check_id_token_claims(&claims(good), "c", "n1").is_ok());
        for bad in [
            json!({ "nonce": "n2", "iat": 1, "aud": "c" }),
            json!({ "iat": 1, "aud": "c" }),
            json!({ "nonce": "n1", "aud": "c" }),
            json!({ "nonce": "n1", "iat": 1, "aud": ["c", "d"] }),
            json!({ "nonce": "n1", "iat": 1, "aud": "c", "azp": "d" }),
        ] {
            assert!(
                check_id_token_claims(&claims(bad.clone()), "c", "n1").is_err(),
                "{bad}"
            );
        }
        let several_with_azp = json!({ "nonce": "n1", "iat": 1, "aud": ["c", "d"], "azp": "c" });
        assert!(check_id_token_claims(&claims(several_with_azp), "c", "n1").is_ok());
    }
}
