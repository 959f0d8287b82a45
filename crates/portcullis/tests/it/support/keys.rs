//! A test identity provider: an RSA key pair, tokens signed with it, and its JWKS.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::{
    encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der},
    rsa::{KeyPair, KeySize},
    signature::KeyPair as _,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use serde_json::{Value, json};

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[derive(Clone)]
pub struct TestIssuer {
    pub issuer: String,
    pub kid: String,
    encoding: EncodingKey,
    public_der: Vec<u8>,
}

impl TestIssuer {
    pub fn new(issuer: &str) -> Self {
        Self::with_kid(issuer, "test-key-1")
    }

    pub fn with_kid(issuer: &str, kid: &str) -> Self {
        let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let pkcs8: Pkcs8V1Der = pair.as_der().unwrap();
        let public: PublicKeyX509Der = pair.public_key().as_der().unwrap();
        Self {
            issuer: issuer.to_owned(),
            kid: kid.to_owned(),
            // PKCS#8 goes through PEM: `from_rsa_der` expects PKCS#1.
            encoding: EncodingKey::from_rsa_pem(
                pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.as_ref().to_vec())).as_bytes(),
            )
            .unwrap(),
            public_der: public.as_ref().to_vec(),
        }
    }

    /// The same key, issuing as `issuer`.
    pub fn issued_by(mut self, issuer: &str) -> Self {
        self.issuer = issuer.to_owned();
        self
    }

    pub fn public_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PUBLIC KEY", self.public_der.clone()))
    }

    /// The public key as a JWK with this issuer's `kid`.
    pub fn jwk(&self) -> Jwk {
        let mut jwk = Jwk::from_encoding_key(&self.encoding, Algorithm::RS256).unwrap();
        jwk.common.key_id = Some(self.kid.clone());
        jwk
    }

    /// Standard claims for `sub` valid for an hour.
    pub fn claims(&self, sub: &str, scope: &str, aud: &str) -> Value {
        let now = now();
        json!({
            "iss": self.issuer, "sub": sub, "aud": aud, "scope": scope,
            "client_id": "test-client", "iat": now, "exp": now + 3600,
            "jti": uuid::Uuid::new_v4().to_string(),
        })
    }

    pub fn token(&self, sub: &str, scope: &str, aud: &str) -> String {
        self.sign(&self.claims(sub, scope, aud))
    }

    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("at+jwt".into());
        self.sign_with_header(&header, claims)
    }

    pub fn sign_with_header(&self, header: &Header, claims: &Value) -> String {
        jsonwebtoken::encode(header, claims, &self.encoding).unwrap()
    }

    pub fn public_der(&self) -> &[u8] {
        &self.public_der
    }
}

/// The claims of a JWT (or of `Bearer <JWT>`), unverified: for tests reading what a token
/// that something else verified says.
pub fn unverified_claims(bearer: &str) -> Value {
    unverified_part(bearer, 1)
}

/// The header of a JWT, unverified.
pub fn unverified_header(bearer: &str) -> Value {
    unverified_part(bearer, 0)
}

fn unverified_part(bearer: &str, index: usize) -> Value {
    use base64::Engine;
    let token = bearer.strip_prefix("Bearer ").unwrap_or(bearer);
    let part = token.split('.').nth(index).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
