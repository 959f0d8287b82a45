//! Where the authorization server's signing keys live: in the data directory (the default), or
//! in the database sealed under a key-encryption key, so replicas need no shared directory.

use std::path::PathBuf;

use base64::Engine;
use clap::Args;
use portcullis_oauth::sealed::SealingKey;
use secrecy::ExposeSecret;

use super::{ConfigError, secret_from};

const FIX: &str = "use 32 random bytes, base64 or hex encoded (e.g. `openssl rand -base64 32`)";

#[derive(Debug, Clone, Args)]
pub struct KeyStorageArgs {
    /// Keep the signing keys in the database, sealed under this 256-bit key-encryption key
    /// (base64 or hex, e.g. from `openssl rand -base64 32`) [default: files in <data-dir>/keys].
    #[arg(long, env = "PORTCULLIS_KEY_ENCRYPTION_KEY", hide_env_values = true)]
    pub key_encryption_key: Option<String>,
    /// Read the key-encryption key from this file instead.
    #[arg(long, env = "PORTCULLIS_KEY_ENCRYPTION_KEY_FILE")]
    pub key_encryption_key_file: Option<PathBuf>,
}

impl KeyStorageArgs {
    /// The key-encryption key, when the keys live in the database.
    pub fn resolve(&self) -> Result<Option<SealingKey>, ConfigError> {
        let env = "PORTCULLIS_KEY_ENCRYPTION_KEY";
        let Some(raw) = secret_from(
            "key_encryption_key",
            env,
            self.key_encryption_key.as_deref(),
            self.key_encryption_key_file.as_deref(),
        )?
        else {
            return Ok(None);
        };
        let text = raw.expose_secret().trim();
        let engines = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::URL_SAFE,
        ];
        let bytes = engines
            .iter()
            .find_map(|e| e.decode(text).ok())
            .filter(|b| b.len() == 32)
            .or_else(|| hex_bytes(text));
        let bytes: [u8; 32] = bytes.and_then(|b| b.try_into().ok()).ok_or_else(|| {
            ConfigError::with_env(
                "key_encryption_key",
                env,
                "is not 32 bytes in base64 or hex",
                FIX,
            )
        })?;
        Ok(Some(SealingKey::from_bytes(bytes)))
    }
}

fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(value: &str) -> KeyStorageArgs {
        KeyStorageArgs {
            key_encryption_key: Some(value.into()),
            key_encryption_key_file: None,
        }
    }

    #[test]
    fn thirty_two_bytes_in_base64_or_hex() {
        assert!(
            args("q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=")
                .resolve()
                .unwrap()
                .is_some()
        );
        assert!(args(&"ab".repeat(32)).resolve().unwrap().is_some());
        for bad in ["short", &"ab".repeat(31), "q83vEjRWeJCrze8SNFZ4kA=="] {
            let e = args(bad).resolve().unwrap_err().to_string();
            assert!(
                e.contains("key_encryption_key") && e.contains("openssl rand"),
                "{e}"
            );
        }
        assert!(
            KeyStorageArgs {
                key_encryption_key: None,
                key_encryption_key_file: None
            }
            .resolve()
            .unwrap()
            .is_none()
        );
    }
}
