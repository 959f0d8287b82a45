//! A local token issuer: an ES256 key kept in the data directory, used when no external
//! issuer is configured and by `portcullis token mint` for development tokens.
//!
//! Tokens follow RFC 9068 (`typ: at+jwt`, `iss`, `aud`, `sub`, `client_id`, `scope`, `exp`,
//! `iat`, `jti`). The private key file is created with mode 0600 and never logged.

use std::{
    io::Write,
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{
    Algorithm, EncodingKey, Header,
    jwk::{
        AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
        EllipticCurveKeyType, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash,
    },
};
use serde::Serialize;

use crate::KeySet;

const KEY_FILE: &str = "signing-key.pem";

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("cannot use signing key {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("cannot sign the token: {0}")]
    Sign(String),
}

/// An ES256 signing key with its public JWK.
pub struct LocalSigner {
    encoding: EncodingKey,
    jwk: Jwk,
    path: PathBuf,
}

impl std::fmt::Debug for LocalSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSigner")
            .field("kid", &self.kid())
            .field("path", &self.path)
            .finish()
    }
}

/// Claims of a minted access token.
#[derive(Debug, Clone, Serialize)]
pub struct AccessClaims<'a> {
    pub iss: &'a str,
    pub aud: &'a str,
    pub sub: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    pub exp: u64,
    pub iat: u64,
    pub jti: String,
    /// The grant the token was issued under (revoking the grant revokes the token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<&'a str>,
}

impl LocalSigner {
    /// Loads `<dir>/signing-key.pem`, generating it (mode 0600) on first use.
    pub fn load_or_generate(dir: &Path) -> Result<Self, SigningError> {
        let path = dir.join(KEY_FILE);
        if path.exists() {
            Self::load(&path)
        } else {
            std::fs::create_dir_all(dir).map_err(|e| key_error(&path, e.to_string()))?;
            Self::generate(&path)
        }
    }

    /// Loads a PKCS#8 P-256 key from a PEM file.
    pub fn load(path: &Path) -> Result<Self, SigningError> {
        Self::from_der(Self::read_pkcs8(path)?, path)
    }

    /// Generates a new key into `path` (which must not exist), mode 0600.
    pub fn generate(path: &Path) -> Result<Self, SigningError> {
        let der = Self::generate_pkcs8()?;
        let text = pem::encode(&pem::Pem::new("PRIVATE KEY", der.clone()));
        write_private(path, text.as_bytes()).map_err(|e| key_error(path, e.to_string()))?;
        Self::from_der(der, path)
    }

    /// A new P-256 key as PKCS#8 DER, kept in memory (for a key ring stored elsewhere).
    pub fn generate_pkcs8() -> Result<Vec<u8>, SigningError> {
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map(|doc| doc.as_ref().to_vec())
            .map_err(|_| SigningError::Sign("key generation failed".into()))
    }

    /// A key from PKCS#8 DER bytes; `origin` names where they came from, for errors.
    pub fn from_pkcs8(der: Vec<u8>, origin: &str) -> Result<Self, SigningError> {
        Self::from_der(der, Path::new(origin))
    }

    /// The PKCS#8 DER of a PEM key file (to move a key from a file into another store).
    pub fn read_pkcs8(path: &Path) -> Result<Vec<u8>, SigningError> {
        let text = std::fs::read(path).map_err(|e| key_error(path, e.to_string()))?;
        let block = pem::parse(text).map_err(|e| key_error(path, format!("not PEM: {e}")))?;
        Ok(block.into_contents())
    }

    fn from_der(der: Vec<u8>, path: &Path) -> Result<Self, SigningError> {
        let fail = |reason: String| key_error(path, reason);
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
            .map_err(|_| fail("not a PKCS#8 P-256 private key".into()))?;
        let point = pair.public_key().as_ref();
        // Uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
        if point.len() != 65 || point[0] != 4 {
            return Err(fail("unexpected public key encoding".into()));
        }
        let mut jwk = Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::ES256),
                ..CommonParameters::default()
            },
            algorithm: AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                key_type: EllipticCurveKeyType::EC,
                curve: EllipticCurve::P256,
                x: URL_SAFE_NO_PAD.encode(&point[1..33]),
                y: URL_SAFE_NO_PAD.encode(&point[33..65]),
            }),
        };
        // RFC 7638 thumbprint as key id: stable across restarts, changes with the key.
        jwk.common.key_id = Some(
            jwk.thumbprint(ThumbprintHash::SHA256)
                .map_err(|e| fail(e.to_string()))?,
        );
        Ok(Self {
            encoding: EncodingKey::from_ec_der(&der),
            jwk,
            path: path.to_owned(),
        })
    }

    pub fn kid(&self) -> &str {
        self.jwk.common.key_id.as_deref().unwrap_or_default()
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// The file the key was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The public key as a JWKS document.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: vec![self.jwk.clone()],
        }
    }

    /// The public key, for a verifier.
    pub fn key_set(&self) -> KeySet {
        KeySet::from_jwks(&self.jwks())
    }

    /// Signs an RFC 9068 access token for `sub` valid for `ttl`.
    pub fn mint(&self, claims: &MintRequest<'_>) -> Result<String, SigningError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(self.kid().to_owned());
        let body = AccessClaims {
            iss: claims.issuer,
            aud: claims.audience,
            sub: claims.subject,
            client_id: claims.client_id,
            scope: claims.scope,
            iat: now,
            exp: now + claims.ttl.as_secs(),
            jti: uuid::Uuid::new_v4().to_string(),
            sid: claims.grant_id,
            org_id: claims.tenant,
        };
        jsonwebtoken::encode(&header, &body, &self.encoding)
            .map_err(|e| SigningError::Sign(e.to_string()))
    }
}

impl LocalSigner {
    /// Signs any claim set under this key (`kid` in the header), e.g. the tokens the gateway
    /// mints for upstreams, which carry claims an access token for Portcullis does not (`act`).
    pub fn sign(&self, typ: &str, claims: &impl Serialize) -> Result<String, SigningError> {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some(typ.to_owned());
        header.kid = Some(self.kid().to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| SigningError::Sign(e.to_string()))
    }
}

/// What to put in a minted token.
#[derive(Debug, Clone)]
pub struct MintRequest<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    pub subject: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    pub tenant: Option<&'a str>,
    /// Grant id, written as `sid`.
    pub grant_id: Option<&'a str>,
    pub ttl: Duration,
}

fn key_error(path: &Path, reason: String) -> SigningError {
    SigningError::Key {
        path: path.display().to_string(),
        reason,
    }
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn minted_tokens_verify_and_the_key_persists() {
        let dir = tempfile::tempdir().unwrap();
        let signer = LocalSigner::load_or_generate(dir.path()).unwrap();
        let again = LocalSigner::load_or_generate(dir.path()).unwrap();
        assert_eq!(signer.kid(), again.kid());

        let mut config = crate::ResourceServerConfig::new(
            "http://127.0.0.1:1/mcp".parse().unwrap(),
            "http://127.0.0.1:1".into(),
            crate::KeySource::Static(signer.key_set()),
        );
        config.scopes_supported = vec!["tasks:read".into()];
        let rs = crate::ResourceServer::new(config).await.unwrap();
        let token = again
            .mint(&MintRequest {
                issuer: "http://127.0.0.1:1",
                audience: "http://127.0.0.1:1/mcp",
                subject: "alice",
                client_id: "cli",
                scope: "tasks:read",
                tenant: None,
                grant_id: None,
                ttl: Duration::from_secs(60),
            })
            .unwrap();
        let principal = rs.verify(&token).await.unwrap();
        assert_eq!(principal.subject, "alice");
        assert!(principal.scopes.contains("tasks:read"));
        assert_eq!(principal.client_id.as_deref(), Some("cli"));
    }
}
