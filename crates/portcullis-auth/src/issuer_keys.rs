//! Verifying JWTs other than access tokens against an issuer's published keys: an OpenID
//! Connect provider's ID tokens. The keys come from its `jwks_uri` and are refetched, at most
//! once per interval, when a token names a key id not seen yet (rotation), exactly as for
//! access tokens; the claims rules are the caller's `Validation`.

use std::time::Duration;

use jsonwebtoken::{Algorithm, Validation};
use serde::de::DeserializeOwned;

use crate::{
    AuthError, KeySource, TokenError,
    keys::{KeyError, KeyStore},
    verifier::map_jwt_error,
};

/// One issuer's signing keys, fetched lazily and kept fresh.
pub struct IssuerKeys {
    keys: KeyStore,
}

impl std::fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKeys")
            .field("keys", &self.keys.snapshot())
            .finish()
    }
}

impl IssuerKeys {
    /// Keys from `jwks_uri`, fetched now if it answers (else on first use).
    pub async fn fetch(
        jwks_uri: url::Url,
        client: reqwest::Client,
        min_refresh_interval: Duration,
    ) -> Result<Self, KeyError> {
        let keys = KeyStore::new(
            &KeySource::JwksUri(jwks_uri),
            "",
            client,
            min_refresh_interval,
            Default::default(),
        )
        .await?;
        Ok(Self { keys })
    }

    /// Checks `token`'s signature with the key its header names and its claims against
    /// `validation` (whose algorithms must list the header's `alg`), and returns the claims.
    pub async fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        validation: &Validation,
    ) -> Result<T, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.crit.is_some() {
            return Err(TokenError::UnsupportedCritical.into());
        }
        if !validation.algorithms.contains(&header.alg)
            || matches!(
                header.alg,
                Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
            )
        {
            return Err(TokenError::AlgorithmNotAllowed(format!("{:?}", header.alg)).into());
        }
        let kid = header.kid.as_deref();
        let keys = self
            .keys
            .keys_for(kid, header.alg)
            .await
            .ok_or(AuthError::KeysUnavailable)?;
        let key = keys.select(kid, header.alg)?;
        let data = jsonwebtoken::decode::<T>(token, key, validation)
            .map_err(|e| map_jwt_error(e.kind()))?;
        Ok(data.claims)
    }
}
