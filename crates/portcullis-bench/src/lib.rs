//! Shared pieces of the benchmarks: an RSA test key and RS256 tokens, so the baseline server,
//! the load script and the criterion benches all do the same verification work.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::{
    encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der},
    rsa::{KeyPair, KeySize},
    signature::KeyPair as _,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

/// A freshly generated RSA-2048 key pair as PEM (private PKCS#8, public SPKI).
pub struct BenchKey {
    pub private_pem: String,
    pub public_pem: String,
}

impl BenchKey {
    pub fn generate() -> Self {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
        let private: Pkcs8V1Der = pair.as_der().expect("PKCS#8");
        let public: PublicKeyX509Der = pair.public_key().as_der().expect("SPKI");
        Self {
            private_pem: pem::encode(&pem::Pem::new("PRIVATE KEY", private.as_ref().to_vec())),
            public_pem: pem::encode(&pem::Pem::new("PUBLIC KEY", public.as_ref().to_vec())),
        }
    }
}

/// An RS256 access token valid for `ttl_secs`.
pub fn rs256_token(
    private_pem: &str,
    iss: &str,
    aud: &str,
    sub: &str,
    scope: &str,
    ttl_secs: u64,
) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some("bench".into());
    // `client_id` is never a subject: a token whose `sub` is its own client is a
    // client-credentials token, which the default policy lets touch no user's data.
    let claims = serde_json::json!({
        "iss": iss, "aud": aud, "sub": sub, "scope": scope, "client_id": "bench-client",
        "iat": now, "exp": now + ttl_secs, "jti": uuid::Uuid::new_v4().to_string(),
    });
    let key = EncodingKey::from_rsa_pem(private_pem.as_bytes()).expect("RSA private key");
    jsonwebtoken::encode(&header, &claims, &key).expect("sign")
}
