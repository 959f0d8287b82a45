//! Passwords: argon2id (RFC 9106) PHC strings with the `argon2` crate's default parameters
//! (19 MiB, 2 passes), hashed off the async threads. Unknown usernames are checked against a
//! dummy hash so a login takes as long whether or not the user exists.

use std::sync::LazyLock;

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};

/// A password as typed: never printed by `Debug`.
#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must be 8 to 1024 characters")]
    Length,
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

impl Password {
    pub fn new(value: String) -> Result<Self, PasswordError> {
        let chars = value.chars().count();
        if !(8..=1024).contains(&chars) {
            return Err(PasswordError::Length);
        }
        Ok(Self(value))
    }

    /// A password as submitted on the login form, checked only by verification.
    pub fn submitted(value: String) -> Self {
        Self(value)
    }

    /// The argon2id PHC string to store.
    pub async fn hash(self) -> Result<String, PasswordError> {
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(self.0.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| PasswordError::Hash(e.to_string()))
        })
        .await
        .map_err(|e| PasswordError::Hash(e.to_string()))?
    }

    /// Checks the password against a stored hash, or against a dummy when the account does not
    /// exist (the answer is then always false).
    pub async fn verify(self, stored: Option<String>) -> bool {
        tokio::task::spawn_blocking(move || {
            let (hash, real) = match &stored {
                Some(h) => (h.as_str(), true),
                None => (DUMMY_HASH.as_str(), false),
            };
            let Ok(parsed) = PasswordHash::new(hash) else {
                return false;
            };
            let ok = Argon2::default()
                .verify_password(self.0.as_bytes(), &parsed)
                .is_ok();
            ok && real
        })
        .await
        .unwrap_or(false)
    }
}

static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(b"portcullis-dummy-password", &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
});

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_only_the_right_password() {
        assert!(Password::new("short".into()).is_err());
        let hash = Password::new("correct horse".into())
            .unwrap()
            .hash()
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            Password::submitted("correct horse".into())
                .verify(Some(hash.clone()))
                .await
        );
        assert!(
            !Password::submitted("wrong horse".into())
                .verify(Some(hash))
                .await
        );
        assert!(
            !Password::submitted("portcullis-dummy-password".into())
                .verify(None)
                .await
        );
    }
}
