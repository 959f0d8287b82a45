//! The authorization server's signing keys in the database (see migration 0011): the private
//! halves arrive here already sealed under the key-encryption key and leave sealed.

use super::OAuthStore;
use crate::{
    StoreError,
    db::{Columns, Param},
    timestamp,
};

/// One stored signing key.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    pub kid: String,
    /// PKCS#8 DER, sealed (AES-256-GCM) under the key-encryption key with the kid as context.
    pub sealed_private_key: String,
    /// The public JWK, as published.
    pub public_jwk: String,
    /// RFC 3339: when the key starts signing.
    pub signs_from: String,
}

impl std::fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("signs_from", &self.signs_from)
            .finish_non_exhaustive()
    }
}

fn key_from_row(row: &dyn Columns) -> Result<StoredSigningKey, StoreError> {
    Ok(StoredSigningKey {
        kid: row.text(0)?,
        sealed_private_key: row.text(1)?,
        public_jwk: row.text(2)?,
        signs_from: row.text(3)?,
    })
}

impl OAuthStore {
    /// Every stored key, oldest first.
    pub async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        self.db
            .fetch_all(
                "SELECT kid, private_key, public_jwk, signs_from FROM signing_keys \
                 ORDER BY signs_from, kid",
                &[],
                key_from_row,
            )
            .await
    }

    /// Adds a key (a key id already stored is left as it is: two replicas importing or
    /// generating the same key at once).
    pub async fn insert_signing_key(&self, key: &StoredSigningKey) -> Result<(), StoreError> {
        self.db
            .execute(
                "INSERT INTO signing_keys (kid, private_key, public_jwk, signs_from, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kid) DO NOTHING",
                &[
                    Param::Text(&key.kid),
                    Param::Text(&key.sealed_private_key),
                    Param::Text(&key.public_jwk),
                    Param::Text(&key.signs_from),
                    Param::Text(&timestamp::now()),
                ],
            )
            .await?;
        Ok(())
    }

    pub async fn delete_signing_key(&self, kid: &str) -> Result<bool, StoreError> {
        Ok(self
            .db
            .execute(
                "DELETE FROM signing_keys WHERE kid = $1",
                &[Param::Text(kid)],
            )
            .await?
            > 0)
    }
}
