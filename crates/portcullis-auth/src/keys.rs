//! Verification keys: parsed from PEM or a JWKS (RFC 7517), cached, and refetched from the
//! issuer when a token names a key id we have not seen (key rotation).

use std::{
    path::PathBuf,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use jsonwebtoken::{
    Algorithm, AlgorithmFamily, DecodingKey,
    jwk::{AlgorithmParameters, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse},
};

use sha2::{Digest, Sha256};

use crate::TokenError;
pub use crate::error::KeyError;

/// Where the verification keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A PEM public key (RSA, EC or Ed25519) or a JWKS document on disk, read at start-up.
    File(PathBuf),
    /// Keys supplied by the embedding application.
    Static(KeySet),
    /// A JWKS URL, fetched at start-up and again on an unknown `kid`.
    JwksUri(url::Url),
    /// The issuer's metadata (RFC 8414, then OpenID Connect Discovery) names the `jwks_uri`.
    Discovery,
    /// Keys owned by the embedding application that may change while it runs (an embedded
    /// authorization server rotating its signing key).
    Provider(Arc<dyn KeyProvider>),
}

/// A live source of verification keys, asked again whenever a token names a key id that the
/// last answer did not hold. Implementations should be cheap and may throttle themselves.
pub trait KeyProvider: Send + Sync + std::fmt::Debug {
    fn keys(&self) -> KeySet;

    /// Changes whenever `keys` may answer differently (a rotation, a key removed). Read on
    /// every request, so it must be cheap; a provider that keeps the default is asked again
    /// only when a token names a key id it did not hold.
    fn version(&self) -> u64 {
        0
    }
}

/// One verification key with what it may verify.
#[derive(Clone)]
struct VerifyingKey {
    kid: Option<String>,
    family: AlgorithmFamily,
    /// Set when the JWK pins an algorithm (`alg`); tokens must then use exactly it.
    alg: Option<Algorithm>,
    key: DecodingKey,
}

/// A set of public keys, as published in a JWKS.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Vec<VerifyingKey>,
    /// SHA-256 over the keys as published: equal fingerprints mean the same keys.
    fingerprint: [u8; 32],
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<_> = self
            .keys
            .iter()
            .map(|k| k.kid.as_deref().unwrap_or("-"))
            .collect();
        f.debug_struct("KeySet").field("kids", &kids).finish()
    }
}

fn family_of(params: &AlgorithmParameters) -> Option<AlgorithmFamily> {
    match params {
        AlgorithmParameters::RSA(_) => Some(AlgorithmFamily::Rsa),
        AlgorithmParameters::EllipticCurve(_) => Some(AlgorithmFamily::Ec),
        AlgorithmParameters::OctetKeyPair(_) => Some(AlgorithmFamily::Ed),
        // Symmetric (`oct`) keys are never accepted: a public JWKS must not hold secrets, and
        // HMAC verification with a public key is the classic algorithm-confusion attack.
        _ => None,
    }
}

fn pinned_alg(alg: &KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

impl KeySet {
    /// Parses a JWKS document, keeping the signing keys we can use and skipping the rest.
    pub fn from_jwks(jwks: &JwkSet) -> Self {
        let mut digest = Sha256::new();
        let keys = jwks
            .keys
            .iter()
            .filter_map(|jwk| {
                let key = Self::verifying_key(jwk)?;
                digest.update(serde_json::to_vec(jwk).unwrap_or_default());
                Some(key)
            })
            .collect();
        Self {
            keys,
            fingerprint: digest.finalize().into(),
        }
    }

    fn verifying_key(jwk: &Jwk) -> Option<VerifyingKey> {
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            return None;
        }
        let family = family_of(&jwk.algorithm)?;
        let alg = match &jwk.common.key_algorithm {
            Some(a) => Some(pinned_alg(a)?),
            None => None,
        };
        let key = DecodingKey::from_jwk(jwk).ok()?;
        Some(VerifyingKey {
            kid: jwk.common.key_id.clone(),
            family,
            alg,
            key,
        })
    }

    /// Parses a PEM public key (SPKI or PKCS#1 RSA), of any supported family.
    pub fn from_pem(pem: &[u8]) -> Option<Self> {
        let (family, key) = if let Ok(k) = DecodingKey::from_rsa_pem(pem) {
            (AlgorithmFamily::Rsa, k)
        } else if let Ok(k) = DecodingKey::from_ec_pem(pem) {
            (AlgorithmFamily::Ec, k)
        } else if let Ok(k) = DecodingKey::from_ed_pem(pem) {
            (AlgorithmFamily::Ed, k)
        } else {
            return None;
        };
        Some(Self {
            keys: vec![VerifyingKey {
                kid: None,
                family,
                alg: None,
                key,
            }],
            fingerprint: Sha256::digest(pem).into(),
        })
    }

    /// Reads a PEM public key or a JWKS file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, KeyError> {
        let bytes = std::fs::read(path).map_err(|error| KeyError::Read {
            path: path.display().to_string(),
            error,
        })?;
        let set = match serde_json::from_slice::<JwkSet>(&bytes) {
            Ok(jwks) => Self::from_jwks(&jwks),
            Err(_) => Self::from_pem(&bytes).unwrap_or_default(),
        };
        if set.keys.is_empty() {
            return Err(KeyError::NoUsableKey(path.display().to_string()));
        }
        Ok(set)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The key to verify a token with `kid` signed with `alg`. A key without a `kid` (a pinned
    /// PEM key) matches any token of its family.
    pub(crate) fn select(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<&DecodingKey, TokenError> {
        let usable = |k: &&VerifyingKey| k.family == alg.family() && k.alg.is_none_or(|a| a == alg);
        let found = match kid {
            Some(kid) => self
                .keys
                .iter()
                .filter(usable)
                .find(|k| k.kid.as_deref() == Some(kid) || k.kid.is_none()),
            None => {
                let mut candidates = self.keys.iter().filter(usable);
                let first = candidates.next();
                if candidates.next().is_some() {
                    return Err(TokenError::AmbiguousKey);
                }
                first
            }
        };
        match (found, kid) {
            (Some(k), _) => Ok(&k.key),
            (None, Some(kid)) if self.has_kid(kid) => Err(TokenError::AlgorithmNotAllowed(
                format!("{alg:?} for key {kid:?}"),
            )),
            (None, Some(kid)) => Err(TokenError::UnknownKey(kid.to_owned())),
            (None, None) => Err(TokenError::UnknownKey(String::new())),
        }
    }
}

/// Fetches a JWKS over HTTP with a size and time limit.
pub(crate) async fn fetch_jwks(
    client: &reqwest::Client,
    url: &url::Url,
    fetches: &portcullis_metrics::JwksFetches,
) -> Result<KeySet, KeyError> {
    let fail = |reason: String| KeyError::Fetch {
        url: url.to_string(),
        reason,
    };
    let fetched = async {
        let body = crate::discovery::get_limited(client, url)
            .await
            .map_err(fail)?;
        let jwks: JwkSet =
            serde_json::from_slice(&body).map_err(|e| fail(format!("not a JWKS: {e}")))?;
        Ok(KeySet::from_jwks(&jwks))
    }
    .await;
    fetches.record(if fetched.is_ok() {
        portcullis_metrics::FetchResult::ok
    } else {
        portcullis_metrics::FetchResult::error
    });
    fetched
}

/// Loads or fetches the keys `source` names, once, and says how many usable keys it holds
/// (`config check --connect`).
pub async fn fetch_keys(
    source: &KeySource,
    issuer: &str,
    client: &reqwest::Client,
) -> Result<usize, KeyError> {
    let set = match source {
        KeySource::File(path) => KeySet::from_file(path)?,
        KeySource::Static(set) => set.clone(),
        KeySource::Provider(p) => p.keys(),
        KeySource::JwksUri(url) => fetch_jwks(client, url, &Default::default()).await?,
        KeySource::Discovery => {
            let url = crate::discovery::discover_jwks_uri(client, issuer).await?;
            fetch_jwks(client, &url, &Default::default()).await?
        }
    };
    if set.is_empty() {
        return Err(KeyError::NoUsableKey(format!("{source:?}")));
    }
    Ok(set.keys.len())
}

/// The keys in use, refreshed from the issuer when needed. Verification reads an `Arc`
/// snapshot under a short read lock; refreshes are single-flight.
pub(crate) struct KeyStore {
    current: RwLock<Arc<KeySet>>,
    /// Bumped whenever `current` changes to different keys: what a verified-token cache
    /// compares to know that a token's key still holds.
    generation: AtomicU64,
    remote: Option<Remote>,
    provider: Option<Arc<dyn KeyProvider>>,
    /// The provider's version `current` was taken at.
    provider_version: AtomicU64,
}

struct Remote {
    client: reqwest::Client,
    /// Resolved lazily when the source is discovery, so start-up survives an unreachable issuer.
    jwks_uri: tokio::sync::Mutex<Option<url::Url>>,
    discovery_issuer: Option<String>,
    /// When the last refresh forced by an unknown `kid` ran; bounds refetches an attacker can
    /// trigger with made-up key ids to one per `min_refresh_interval`.
    last_forced: tokio::sync::Mutex<Option<Instant>>,
    min_refresh_interval: Duration,
    fetches: portcullis_metrics::JwksFetches,
}

impl KeyStore {
    pub(crate) async fn new(
        source: &KeySource,
        issuer: &str,
        client: reqwest::Client,
        min_refresh_interval: Duration,
        fetches: portcullis_metrics::JwksFetches,
    ) -> Result<Self, KeyError> {
        let provider = match source {
            KeySource::Provider(p) => Some(p.clone()),
            _ => None,
        };
        let (initial, remote) = match source {
            KeySource::Provider(p) => (p.keys(), None),
            KeySource::File(path) => (KeySet::from_file(path)?, None),
            KeySource::Static(set) => (set.clone(), None),
            KeySource::JwksUri(url) => (
                KeySet::default(),
                Some(Remote::new(
                    client,
                    Some(url.clone()),
                    None,
                    min_refresh_interval,
                    fetches.clone(),
                )),
            ),
            KeySource::Discovery => (
                KeySet::default(),
                Some(Remote::new(
                    client,
                    None,
                    Some(issuer.to_owned()),
                    min_refresh_interval,
                    fetches,
                )),
            ),
        };
        let provider_version = provider.as_ref().map_or(0, |p| p.version());
        let store = Self {
            current: RwLock::new(Arc::new(initial)),
            generation: AtomicU64::new(0),
            remote,
            provider,
            provider_version: AtomicU64::new(provider_version),
        };
        if store.remote.is_some() {
            // Start even when the issuer is down: requests get 503 until its keys arrive.
            if let Err(e) = store.refresh().await {
                tracing::warn!(error = %e, "could not fetch the issuer's signing keys at start-up; will retry on demand");
            }
        }
        Ok(store)
    }

    pub(crate) fn snapshot(&self) -> Arc<KeySet> {
        self.current
            .read()
            .expect("key store lock poisoned")
            .clone()
    }

    /// Puts `set` in use; a new generation starts only when its keys differ, so refetches of an
    /// unchanged JWKS (which made-up key ids can force) leave cached verifications alone.
    fn replace(&self, set: KeySet) -> Arc<KeySet> {
        let set = Arc::new(set);
        let mut current = self.current.write().expect("key store lock poisoned");
        if current.fingerprint != set.fingerprint {
            *current = set.clone();
            // Bumped after the swap: whoever reads the new generation also sees the new keys.
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        current.clone()
    }

    /// The current key-set generation, after adopting a provider's changed keys.
    pub(crate) fn generation(&self) -> u64 {
        if let Some(provider) = &self.provider {
            let version = provider.version();
            if self.provider_version.swap(version, Ordering::AcqRel) != version {
                self.replace(provider.keys());
            }
        }
        self.generation.load(Ordering::Acquire)
    }

    async fn refresh(&self) -> Result<(), KeyError> {
        let Some(remote) = &self.remote else {
            return Ok(());
        };
        let url = remote.jwks_uri().await?;
        let set = fetch_jwks(&remote.client, &url, &remote.fetches).await?;
        if set.is_empty() {
            return Err(KeyError::NoUsableKey(url.to_string()));
        }
        tracing::info!(jwks_uri = %url, keys = ?set, "fetched signing keys");
        self.replace(set);
        Ok(())
    }

    /// The keys to verify a token naming `kid` with `alg`: the cached ones, or refetched when
    /// they lack that key (see [`Self::refresh_for_unknown_kid`]); `None` while the issuer's
    /// keys cannot be had at all.
    pub(crate) async fn keys_for(&self, kid: Option<&str>, alg: Algorithm) -> Option<Arc<KeySet>> {
        let mut keys = self.snapshot();
        if keys.is_empty() || matches!(keys.select(kid, alg), Err(TokenError::UnknownKey(_))) {
            keys = self.refresh_for_unknown_kid(kid).await;
        }
        (!keys.is_empty()).then_some(keys)
    }

    /// Called when a token names a key we lack (or we have none): refetches at most once per
    /// interval, whatever the outcome of the last fetch, then answers with whatever keys we
    /// hold. On failure the cached keys stay.
    pub(crate) async fn refresh_for_unknown_kid(&self, kid: Option<&str>) -> Arc<KeySet> {
        if let Some(provider) = &self.provider {
            return self.replace(provider.keys());
        }
        let Some(remote) = &self.remote else {
            return self.snapshot();
        };
        let mut last = remote.last_forced.lock().await;
        // Another request may have refreshed while we waited for the lock.
        let current = self.snapshot();
        if kid.is_some_and(|kid| current.has_kid(kid)) {
            return current;
        }
        // Also while we hold no keys at all: an issuer that is down (or a JWKS that is empty)
        // must not turn every request into an outbound fetch.
        let due = last.is_none_or(|t| t.elapsed() >= remote.min_refresh_interval);
        if due {
            *last = Some(Instant::now());
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %e, "signing key refresh failed; keeping cached keys");
            }
        }
        self.snapshot()
    }
}

impl Remote {
    fn new(
        client: reqwest::Client,
        jwks_uri: Option<url::Url>,
        discovery_issuer: Option<String>,
        min_refresh_interval: Duration,
        fetches: portcullis_metrics::JwksFetches,
    ) -> Self {
        Self {
            client,
            jwks_uri: tokio::sync::Mutex::new(jwks_uri),
            discovery_issuer,
            last_forced: tokio::sync::Mutex::new(None),
            min_refresh_interval,
            fetches,
        }
    }

    async fn jwks_uri(&self) -> Result<url::Url, KeyError> {
        let mut slot = self.jwks_uri.lock().await;
        if let Some(url) = slot.as_ref() {
            return Ok(url.clone());
        }
        let issuer = self.discovery_issuer.as_deref().unwrap_or_default();
        let url = crate::discovery::discover_jwks_uri(&self.client, issuer).await?;
        *slot = Some(url.clone());
        Ok(url)
    }
}
