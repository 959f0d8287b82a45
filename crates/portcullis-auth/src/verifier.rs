//! JWT access-token verification (RFC 9068 §4, RFC 8725 §3): an algorithm allow-list with no
//! `none` and no HMAC, the key chosen by `kid`, exact `iss`, `aud` equal to this resource,
//! `exp`/`nbf` with a small leeway.

use std::{collections::HashMap, sync::Arc, time::Duration};

use jsonwebtoken::{Algorithm, Validation, errors::ErrorKind};
use serde_json::{Map, Value};

use crate::{
    AuthError, KeySource, Principal, ScopeSet, TokenError,
    keys::{KeyError, KeyStore},
    token_cache::TokenCache,
};

/// Asymmetric algorithms accepted by default. HMAC is never accepted (a resource server must
/// not share the issuer's signing secret) and `none` is not an algorithm jsonwebtoken parses.
pub const ALLOWED_ALGORITHMS: [Algorithm; 4] = [
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// What a token must satisfy.
#[derive(Debug, Clone)]
pub struct VerifierSettings {
    /// Required `iss`, compared byte for byte.
    pub issuer: String,
    /// Required member of `aud`.
    pub audience: String,
    /// Further accepted `aud` values (the same resource under its other loopback names).
    pub extra_audiences: Vec<String>,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
    /// Accepted `alg` values; a subset of [`ALLOWED_ALGORITHMS`] (and their 384/512 variants).
    pub algorithms: Vec<Algorithm>,
    /// Claim holding the tenant id (e.g. `org_id`).
    pub tenant_claim: String,
    /// Least time between key refetches forced by unknown key ids.
    pub min_key_refresh_interval: Duration,
    /// Where JWKS fetches are counted.
    pub jwks_fetches: portcullis_metrics::JwksFetches,
    /// Verified tokens remembered (see [`TokenCache`]); `0` verifies every request.
    pub token_cache_size: usize,
}

/// Verifies bearer JWTs and turns them into [`Principal`]s.
pub struct JwtVerifier {
    settings: VerifierSettings,
    validations: HashMap<Algorithm, Validation>,
    keys: KeyStore,
    cache: TokenCache,
}

impl JwtVerifier {
    pub async fn new(
        settings: VerifierSettings,
        source: &KeySource,
        client: reqwest::Client,
    ) -> Result<Self, KeyError> {
        let validations = settings
            .algorithms
            .iter()
            .filter(|a| !matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
            .map(|&alg| {
                let mut v = Validation::new(alg);
                v.set_issuer(&[&settings.issuer]);
                let audiences: Vec<&str> = std::iter::once(settings.audience.as_str())
                    .chain(settings.extra_audiences.iter().map(String::as_str))
                    .collect();
                v.set_audience(&audiences);
                v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
                v.leeway = settings.leeway.as_secs();
                v.validate_nbf = true;
                (alg, v)
            })
            .collect();
        let keys = KeyStore::new(
            source,
            &settings.issuer,
            client,
            settings.min_key_refresh_interval,
            settings.jwks_fetches.clone(),
        )
        .await?;
        Ok(Self {
            cache: TokenCache::new(settings.token_cache_size),
            settings,
            validations,
            keys,
        })
    }

    pub fn settings(&self) -> &VerifierSettings {
        &self.settings
    }

    /// Checks `token` completely, or finds it verified before under the same keys; never logs
    /// it. Revocation is the caller's to check, on every request.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        // Read before verifying: keys that change meanwhile make the entry stale at once.
        let generation = self.keys.generation();
        if let Some(principal) = self.cache.get(token, generation) {
            return Ok(principal);
        }
        let principal = self.verify_signature_and_claims(token).await?;
        self.cache.insert(token, &principal, generation);
        Ok(principal)
    }

    /// How many verified tokens are remembered now.
    pub fn cached_tokens(&self) -> usize {
        self.cache.len()
    }

    async fn verify_signature_and_claims(&self, token: &str) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        // RFC 7515 §4.1.11: a critical extension we do not implement must not be ignored, and
        // this verifier implements none.
        if header.crit.is_some() {
            return Err(TokenError::UnsupportedCritical.into());
        }
        let validation = self
            .validations
            .get(&header.alg)
            .ok_or_else(|| TokenError::AlgorithmNotAllowed(format!("{:?}", header.alg)))?;
        if let Some(typ) = header.typ.as_deref() {
            // RFC 9068 §4 wants `at+jwt`; many IdPs still say `JWT`. Anything else (an ID
            // token, a logout token) is not an access token.
            let t = typ.to_ascii_lowercase();
            if !matches!(t.as_str(), "at+jwt" | "application/at+jwt" | "jwt") {
                return Err(TokenError::WrongType(typ.to_owned()).into());
            }
        }
        let keys = self
            .keys
            .keys_for(header.kid.as_deref(), header.alg)
            .await
            .ok_or(AuthError::KeysUnavailable)?;
        let key = keys.select(header.kid.as_deref(), header.alg)?;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, validation)
            .map_err(|e| map_jwt_error(e.kind()))?;
        self.principal(data.claims)
    }

    fn principal(&self, claims: Map<String, Value>) -> Result<Principal, AuthError> {
        let string_claim = |name: &str| -> Result<Option<String>, TokenError> {
            match claims.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(TokenError::InvalidClaim(name.to_owned())),
            }
        };
        let subject = string_claim("sub")?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| TokenError::MissingClaim("sub".into()))?;
        if !crate::is_clean_identifier(&subject) {
            return Err(TokenError::UncleanIdentifier("sub".into()).into());
        }
        let scopes = match (claims.get("scope"), claims.get("scp")) {
            (Some(Value::String(s)), _) => ScopeSet::parse(s),
            (None, Some(Value::String(s))) => ScopeSet::parse(s),
            (None, Some(Value::Array(items))) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            (None, None) => ScopeSet::default(),
            _ => return Err(TokenError::InvalidClaim("scope".into()).into()),
        };
        let client_id = match string_claim("client_id")? {
            Some(c) => Some(c),
            None => string_claim("azp")?,
        };
        let tenant = string_claim(&self.settings.tenant_claim)?;
        if tenant
            .as_deref()
            .is_some_and(|t| !crate::is_clean_identifier(t))
        {
            return Err(TokenError::UncleanIdentifier(self.settings.tenant_claim.clone()).into());
        }
        // RFC 9068 §2.2: with no resource owner (client credentials) the subject is the client.
        let method = if client_id.as_deref() == Some(subject.as_str()) {
            crate::AuthMethod::ClientCredentials
        } else {
            crate::AuthMethod::Oauth
        };
        let expires_at = claims
            .get("exp")
            .and_then(Value::as_u64)
            .unwrap_or_default();
        Ok(Principal {
            subject,
            method,
            credential: client_id.clone(),
            client_id,
            scopes,
            tenant,
            expires_at,
            claims: Arc::new(claims),
        })
    }
}

pub(crate) fn map_jwt_error(kind: &ErrorKind) -> TokenError {
    match kind {
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
        ErrorKind::InvalidAudience => TokenError::WrongAudience,
        ErrorKind::MissingRequiredClaim(c) => TokenError::MissingClaim(c.clone()),
        ErrorKind::InvalidClaimFormat(c) => TokenError::InvalidClaim(c.clone()),
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
            TokenError::AlgorithmNotAllowed("for this key".into())
        }
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidRsaKey(_) => TokenError::BadSignature,
        _ => TokenError::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::{
        KeyProvider, KeySet, ResourceServer, ResourceServerConfig,
        signing::{LocalSigner, MintRequest},
    };

    const ISS: &str = "http://127.0.0.1:1";
    const AUD: &str = "http://127.0.0.1:1/mcp";

    /// Keys an embedding application changes while the verifier runs.
    #[derive(Debug, Default)]
    struct Ring {
        keys: Mutex<(u64, Vec<jsonwebtoken::jwk::Jwk>)>,
    }

    impl Ring {
        fn publish(&self, signers: &[&LocalSigner]) {
            let mut keys = self.keys.lock().unwrap();
            keys.0 += 1;
            keys.1 = signers.iter().map(|s| s.jwk().clone()).collect();
        }
    }

    impl KeyProvider for Ring {
        fn keys(&self) -> KeySet {
            let keys = self.keys.lock().unwrap().1.clone();
            KeySet::from_jwks(&jsonwebtoken::jwk::JwkSet { keys })
        }

        fn version(&self) -> u64 {
            self.keys.lock().unwrap().0
        }
    }

    fn signer(dir: &tempfile::TempDir, name: &str) -> LocalSigner {
        LocalSigner::generate(&dir.path().join(name)).unwrap()
    }

    fn mint(signer: &LocalSigner, subject: &str) -> String {
        signer
            .mint(&MintRequest {
                issuer: ISS,
                audience: AUD,
                subject,
                client_id: "cli",
                scope: "tasks:read",
                tenant: None,
                grant_id: None,
                ttl: Duration::from_secs(600),
            })
            .unwrap()
    }

    async fn verifier(ring: &Arc<Ring>, cache: usize) -> ResourceServer {
        let mut config = ResourceServerConfig::new(
            AUD.parse().unwrap(),
            ISS.into(),
            KeySource::Provider(ring.clone()),
        );
        config.token_cache_size = cache;
        ResourceServer::new(config).await.unwrap()
    }

    #[tokio::test]
    async fn a_cached_token_stops_working_when_its_key_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (signer(&dir, "old.pem"), signer(&dir, "new.pem"));
        let ring = Arc::new(Ring::default());
        ring.publish(&[&old]);
        let rs = verifier(&ring, 100).await;
        let token = mint(&old, "alice");
        assert_eq!(rs.verify(&token).await.unwrap().subject, "alice");
        assert_eq!(rs.verifier().cached_tokens(), 1);
        assert_eq!(rs.verify(&token).await.unwrap().subject, "alice");

        // Rotation: the new key signs, the old one is still published; both verify.
        ring.publish(&[&new, &old]);
        assert_eq!(rs.verify(&token).await.unwrap().subject, "alice");
        let fresh = mint(&new, "bob");
        assert_eq!(rs.verify(&fresh).await.unwrap().subject, "bob");

        // Removal: the old key's token is refused at once, though it was cached.
        ring.publish(&[&new]);
        assert!(matches!(
            rs.verify(&token).await,
            Err(AuthError::InvalidToken(TokenError::UnknownKey(_)))
        ));
        assert_eq!(rs.verify(&fresh).await.unwrap().subject, "bob");
    }

    #[tokio::test]
    async fn a_token_differing_in_one_byte_is_never_served_from_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let key = signer(&dir, "key.pem");
        let ring = Arc::new(Ring::default());
        ring.publish(&[&key]);
        let rs = verifier(&ring, 100).await;
        let token = mint(&key, "alice");
        rs.verify(&token).await.unwrap();
        // Every position: header, claims, signature, and the dots between them.
        for i in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            if tampered == token {
                continue;
            }
            match rs.verify(&tampered).await {
                Err(_) => {}
                // A changed base64 padding bit can decode to the same bytes; then the token
                // verified on its own, not from the cache, and it says the same thing.
                Ok(p) => assert_eq!(p.subject, "alice", "byte {i}"),
            }
        }
        assert_eq!(rs.verify(&token).await.unwrap().subject, "alice");
        // The only entries are the original and tampered tokens that verified on their own.
        let tampered_and_valid = rs.verifier().cached_tokens() - 1;
        assert!(tampered_and_valid < 4, "{tampered_and_valid}");
    }

    #[tokio::test]
    async fn with_the_cache_off_nothing_is_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let key = signer(&dir, "key.pem");
        let ring = Arc::new(Ring::default());
        ring.publish(&[&key]);
        let rs = verifier(&ring, 0).await;
        let token = mint(&key, "alice");
        rs.verify(&token).await.unwrap();
        assert_eq!(rs.verifier().cached_tokens(), 0);
    }
}
