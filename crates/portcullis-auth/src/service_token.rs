//! Service tokens (microservice mode): a shared secret that identifies a trusted service, sent
//! as `Authorization: Bearer <token>` together with `X-User-ID` naming the user it acts for.
//!
//! Several tokens may be valid at once, so a token rotates without downtime: add the new one
//! to the backend, move the callers over, remove the old one. Presented tokens are compared by
//! SHA-256 digest in constant time against every configured token (no early exit), so neither
//! timing nor length tells an attacker how close a guess was.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Shortest token accepted: 32 characters, as the design requires.
pub const MIN_SERVICE_TOKEN_LEN: usize = 32;

/// Why a configured token list cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceTokenError {
    #[error("no service token is set")]
    Empty,
    #[error(
        "token {position} is {len} characters; each token must have at least {MIN_SERVICE_TOKEN_LEN}"
    )]
    TooShort { position: usize, len: usize },
}

/// The tokens a backend accepts, kept only as digests.
#[derive(Clone)]
pub struct ServiceTokens {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for ServiceTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServiceTokens({} configured)", self.digests.len())
    }
}

/// Splits a comma-separated list (`SERVICE_AUTH_TOKEN=new,old`) and checks every token.
pub fn parse_service_tokens(raw: &str) -> Result<Vec<String>, ServiceTokenError> {
    let tokens: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    if tokens.is_empty() {
        return Err(ServiceTokenError::Empty);
    }
    for (i, token) in tokens.iter().enumerate() {
        let len = token.chars().count();
        if len < MIN_SERVICE_TOKEN_LEN {
            return Err(ServiceTokenError::TooShort {
                position: i + 1,
                len,
            });
        }
    }
    Ok(tokens)
}

impl ServiceTokens {
    pub fn new(tokens: &[String]) -> Self {
        Self {
            digests: tokens
                .iter()
                .map(|t| Sha256::digest(t.as_bytes()).into())
                .collect(),
        }
    }

    /// True when `presented` is one of the tokens.
    pub fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = subtle::Choice::from(0);
        for known in &self.digests {
            found |= known.ct_eq(&digest);
        }
        found.into()
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_configured_token_matches_and_short_ones_are_refused() {
        let (a, b) = ("a".repeat(32), "b".repeat(40));
        let tokens = ServiceTokens::new(&parse_service_tokens(&format!(" {a} ,{b},")).unwrap());
        assert!(tokens.matches(&a) && tokens.matches(&b));
        assert!(!tokens.matches(&"a".repeat(31)) && !tokens.matches(""));
        assert_eq!(
            parse_service_tokens(&format!("{a},short")),
            Err(ServiceTokenError::TooShort {
                position: 2,
                len: 5
            })
        );
        assert_eq!(parse_service_tokens(" , "), Err(ServiceTokenError::Empty));
        assert_eq!(format!("{tokens:?}"), "ServiceTokens(2 configured)");
    }
}
