//! Secrets the authorization server keeps in the database encrypted (AES-256-GCM, a random
//! nonce per sealing, the row's identity as associated data so a sealed value cannot be moved
//! to another row):
//! - the answer to a refresh, kept for the grace window in which its client may present the
//!   rotated token again, sealed under a key derived from that token (stored only as a hash),
//!   so the answer is worth nothing to anyone who does not already hold the token;
//! - the signing keys' private halves, sealed under the operator's key-encryption key.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A 256-bit AES key. Never printed.
#[derive(Clone)]
pub struct SealingKey([u8; 32]);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

impl SealingKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key only the holder of `refresh_token` can derive (domain-separated from the
    /// token's lookup hash, a plain SHA-256).
    pub fn for_refresh_token(refresh_token: &str) -> Self {
        let secret = Sha256::new()
            .chain_update(b"portcullis refresh replay\0")
            .chain_update(refresh_token.as_bytes())
            .finalize();
        Self(secret.into())
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.0).expect("a 32-byte AES key"))
    }

    /// `plaintext` sealed for this key and the row named `context`.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut sealed = plaintext.to_vec();
        self.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut sealed,
            )
            .expect("sealing in memory");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// The plaintext, if `sealed` was sealed with this key for `context` and is intact.
    pub fn open(&self, context: &str, sealed: &str) -> Option<Vec<u8>> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let mut buffer = rest.to_vec();
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let plaintext = self
            .aead()
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .ok()?;
        Some(plaintext.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_right_key_and_row_open_a_sealed_value() {
        let key = SealingKey::for_refresh_token("pcr_token");
        let sealed = key.seal("row1", b"{\"access_token\":\"x\"}");
        assert_eq!(
            key.open("row1", &sealed).unwrap(),
            b"{\"access_token\":\"x\"}"
        );
        assert!(key.open("row2", &sealed).is_none(), "moved to another row");
        assert!(
            SealingKey::for_refresh_token("pcr_other")
                .open("row1", &sealed)
                .is_none()
        );
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        assert!(key.open("row1", &URL_SAFE_NO_PAD.encode(bytes)).is_none());
    }
}
