//! Opaque secrets Portcullis hands out (API keys, authorization codes, refresh tokens, client
//! secrets, CSRF cookies): 256 random bits, stored only as SHA-256 digests and compared in
//! constant time. A fast hash suffices because the inputs are uniformly random, not guessable
//! passwords.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A secret in transit: printed only where it is handed to its owner, never by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A new random secret with a readable prefix (`pca_` for codes, `pcr_` for refresh
    /// tokens …) so a leaked value can be recognised by secret scanners.
    pub fn generate(prefix: &str) -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    pub fn from_string(value: String) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> String {
        digest(&self.0)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// SHA-256, hex: the stored form of a secret.
pub fn digest(value: &str) -> String {
    hex(&Sha256::digest(value.as_bytes()))
}

/// HMAC-SHA-256 of `message` under `key`, hex: a value only the holder of `key` can compute
/// (CSRF tokens), where a plain digest could be computed by anyone who knows the inputs.
pub fn keyed_digest(key: &[u8], message: &str) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any size");
    mac.update(message.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// Does `presented` hash to `stored`? Constant time in the digest comparison.
pub fn matches_digest(presented: &str, stored: &str) -> bool {
    digest(presented).as_bytes().ct_eq(stored.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_prefixed_and_redacted() {
        let a = Secret::generate("pcr_");
        let b = Secret::generate("pcr_");
        assert_ne!(a, b);
        assert!(a.expose().starts_with("pcr_") && a.expose().len() == 47);
        assert!(matches_digest(a.expose(), &a.digest()));
        assert!(!matches_digest(b.expose(), &a.digest()));
        assert_eq!(format!("{a:?}"), "Secret(<redacted>)");
    }
}
