//! Secrets as the authorization server uses them. The secret type and its digest live in
//! `portcullis_core::secret` (API keys use them too); PKCE (RFC 7636) is here.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
pub use portcullis_core::secret::{Secret, digest, keyed_digest, matches_digest};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// PKCE S256 (RFC 7636 §4.6): BASE64URL(SHA256(verifier)) == challenge, in constant time.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    pkce_challenge(verifier)
        .as_bytes()
        .ct_eq(challenge.as_bytes())
        .into()
}

/// The S256 challenge of `verifier`: what this server sends when it is the client (signing
/// users in through an identity provider).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// RFC 7636 §4.1: 43–128 characters of `[A-Za-z0-9-._~]`.
pub fn is_valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// An S256 challenge is the unpadded base64url of 32 bytes: exactly 43 characters.
pub fn is_valid_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_example() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(is_valid_verifier(verifier));
        assert!(pkce_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"
        ));
    }
}
