//! Idempotency keys for writes that may be retried (the REST backend's `Idempotency-Key`,
//! draft-ietf-httpapi-idempotency-key-header): the first attempt claims the key, its response
//! is kept, and a retry with the same key and request gets that response back.
//!
//! Keys belong to a user within a tenant, so one user's key can never replay another's
//! response. The claim is an `INSERT … ON CONFLICT DO NOTHING`: atomic on both databases and
//! across replicas.

use std::time::Duration;

use crate::{
    Store, StoreError, ValidationError,
    db::{Columns, Param},
    timestamp,
};

/// How long a key is remembered.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);

/// The outcome of claiming a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First use: run the request, then [`Store::complete_idempotency_key`].
    New,
    /// Seen and finished: send this response again.
    Replay { status: u16, body: String },
    /// Seen, and the first attempt is still running.
    InProgress,
    /// Seen with a different request: the client reused a key.
    Mismatch,
}

/// Whose key it is.
#[derive(Debug, Clone, Copy)]
pub struct KeyOwner<'a> {
    pub tenant: &'a str,
    pub user: &'a str,
}

/// A key must be 1-255 visible ASCII characters.
pub fn validate_key(key: &str) -> Result<(), ValidationError> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ValidationError::new(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters (a UUID is a good choice)",
        ));
    }
    Ok(())
}

impl Store {
    /// Claims `key` for a request whose content hashes to `request_hash`.
    pub async fn claim_idempotency_key(
        &self,
        owner: KeyOwner<'_>,
        key: &str,
        request_hash: &str,
    ) -> Result<Claim, StoreError> {
        validate_key(key)?;
        let now = timestamp::now();
        let inserted = self
            .db
            .execute(
                "INSERT INTO idempotency_keys (tenant_id, user_id, idem_key, request_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, user_id, idem_key) DO NOTHING",
                &[
                    Param::Text(owner.tenant),
                    Param::Text(owner.user),
                    Param::Text(key),
                    Param::Text(request_hash),
                    Param::Text(&now),
                ],
            )
            .await?;
        if inserted == 1 {
            return Ok(Claim::New);
        }
        let row = self
            .db
            .fetch_optional(
                "SELECT request_hash, COALESCE(status, -1), response FROM idempotency_keys \
                 WHERE tenant_id = $1 AND user_id = $2 AND idem_key = $3",
                &[
                    Param::Text(owner.tenant),
                    Param::Text(owner.user),
                    Param::Text(key),
                ],
                |row: &dyn Columns| Ok((row.text(0)?, row.int(1)?, row.opt_text(2)?)),
            )
            .await?;
        Ok(match row {
            // Released between our insert and our read: the caller may simply retry.
            None => Claim::InProgress,
            Some((hash, _, _)) if hash != request_hash => Claim::Mismatch,
            Some((_, status, Some(body))) if status >= 0 => Claim::Replay {
                status: u16::try_from(status).unwrap_or(500),
                body,
            },
            Some(_) => Claim::InProgress,
        })
    }

    /// Records the response of the request that claimed `key`.
    pub async fn complete_idempotency_key(
        &self,
        owner: KeyOwner<'_>,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<(), StoreError> {
        self.db
            .execute(
                "UPDATE idempotency_keys SET status = $4, response = $5 \
                 WHERE tenant_id = $1 AND user_id = $2 AND idem_key = $3",
                &[
                    Param::Text(owner.tenant),
                    Param::Text(owner.user),
                    Param::Text(key),
                    Param::Int(i64::from(status)),
                    Param::Text(body),
                ],
            )
            .await?;
        Ok(())
    }

    /// Forgets a claim whose request failed without changing anything, so a retry can run.
    pub async fn release_idempotency_key(
        &self,
        owner: KeyOwner<'_>,
        key: &str,
    ) -> Result<(), StoreError> {
        self.db
            .execute(
                "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND user_id = $2 AND idem_key = $3",
                &[
                    Param::Text(owner.tenant),
                    Param::Text(owner.user),
                    Param::Text(key),
                ],
            )
            .await?;
        Ok(())
    }

    /// Forgets keys older than [`RETENTION`]; returns how many.
    pub async fn purge_idempotency_keys(&self) -> Result<u64, StoreError> {
        let cutoff = timestamp::in_past(RETENTION);
        self.db
            .execute(
                "DELETE FROM idempotency_keys WHERE created_at < $1",
                &[Param::Text(&cutoff)],
            )
            .await
    }
}
