//! Grants and the secrets that carry them. A grant is one authorization (a redeemed code, or a
//! client-credentials request): every access and refresh token issued from it names it, so
//! revoking the grant revokes the whole family — on code replay, refresh-token reuse, RFC 7009
//! revocation, or removal of the account or client.

use super::OAuthStore;
use crate::{
    StoreError,
    db::{Columns, Param},
    timestamp,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: String,
    pub client_id: String,
    pub subject: String,
    pub scope: String,
    pub resource: String,
    pub tenant: Option<String>,
    pub created_at: String,
    /// After this no refresh token of the grant is honoured.
    pub expires_at: String,
    pub revoked_at: Option<String>,
}

/// An authorization code as stored: everything the token endpoint must check it against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCode {
    pub code_hash: String,
    pub grant_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub scope: String,
    pub resource: String,
    pub subject: String,
    pub tenant: Option<String>,
    pub expires_at: String,
    pub used_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub token_hash: String,
    pub grant_id: String,
    pub expires_at: String,
    pub used_at: Option<String>,
    /// Once rotated: the hash of the token that replaced it.
    pub successor_hash: Option<String>,
    /// Once rotated: the answer that carried the successor, sealed under a key only the
    /// holder of this token can derive (see `portcullis_oauth::sealed`).
    pub replay: Option<String>,
}

macro_rules! grant_columns {
    () => {
        "id, client_id, subject, scope, resource, tenant_id, created_at, expires_at, revoked_at"
    };
}

macro_rules! code_columns {
    () => {
        "code_hash, grant_id, client_id, redirect_uri, code_challenge, scope, resource, subject, \
         tenant_id, expires_at, used_at"
    };
}

fn grant_from_row(row: &dyn Columns) -> Result<Grant, StoreError> {
    Ok(Grant {
        id: row.text(0)?,
        client_id: row.text(1)?,
        subject: row.text(2)?,
        scope: row.text(3)?,
        resource: row.text(4)?,
        tenant: row.opt_text(5)?,
        created_at: row.text(6)?,
        expires_at: row.text(7)?,
        revoked_at: row.opt_text(8)?,
    })
}

fn code_from_row(row: &dyn Columns) -> Result<StoredCode, StoreError> {
    Ok(StoredCode {
        code_hash: row.text(0)?,
        grant_id: row.text(1)?,
        client_id: row.text(2)?,
        redirect_uri: row.text(3)?,
        code_challenge: row.text(4)?,
        scope: row.text(5)?,
        resource: row.text(6)?,
        subject: row.text(7)?,
        tenant: row.opt_text(8)?,
        expires_at: row.text(9)?,
        used_at: row.opt_text(10)?,
    })
}

fn refresh_from_row(row: &dyn Columns) -> Result<RefreshToken, StoreError> {
    Ok(RefreshToken {
        token_hash: row.text(0)?,
        grant_id: row.text(1)?,
        expires_at: row.text(2)?,
        used_at: row.opt_text(3)?,
        successor_hash: row.opt_text(4)?,
        replay: row.opt_text(5)?,
    })
}

impl OAuthStore {
    pub async fn insert_grant(&self, grant: &Grant) -> Result<(), StoreError> {
        self.db
            .execute(
                concat!(
                    "INSERT INTO oauth_grants (",
                    grant_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                ),
                &[
                    Param::Text(&grant.id),
                    Param::Text(&grant.client_id),
                    Param::Text(&grant.subject),
                    Param::Text(&grant.scope),
                    Param::Text(&grant.resource),
                    Param::OptText(grant.tenant.as_deref()),
                    Param::Text(&grant.created_at),
                    Param::Text(&grant.expires_at),
                    Param::OptText(grant.revoked_at.as_deref()),
                ],
            )
            .await?;
        Ok(())
    }

    pub async fn grant(&self, id: &str) -> Result<Option<Grant>, StoreError> {
        self.db
            .fetch_optional(
                concat!(
                    "SELECT ",
                    grant_columns!(),
                    " FROM oauth_grants WHERE id = $1"
                ),
                &[Param::Text(id)],
                grant_from_row,
            )
            .await
    }

    /// Revokes the grant (idempotent); true if this call revoked it.
    pub async fn revoke_grant(&self, id: &str, reason: &str) -> Result<bool, StoreError> {
        Ok(self
            .db
            .execute(
                "UPDATE oauth_grants SET revoked_at = $1, revoked_reason = $2 \
                 WHERE id = $3 AND revoked_at IS NULL",
                &[
                    Param::Text(&timestamp::now()),
                    Param::Text(reason),
                    Param::Text(id),
                ],
            )
            .await?
            > 0)
    }

    pub(crate) async fn revoke_grants_of_subject(
        &self,
        subject: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.db
            .execute(
                "UPDATE oauth_grants SET revoked_at = $1, revoked_reason = $2 \
                 WHERE subject = $3 AND revoked_at IS NULL",
                &[
                    Param::Text(&timestamp::now()),
                    Param::Text(reason),
                    Param::Text(subject),
                ],
            )
            .await?;
        Ok(())
    }

    /// Ids of grants revoked at or after `since`, with when, oldest first: how every replica
    /// learns of revocations made elsewhere.
    pub async fn grants_revoked_since(
        &self,
        since: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        self.db
            .fetch_all(
                "SELECT id, revoked_at FROM oauth_grants WHERE revoked_at >= $1 ORDER BY revoked_at",
                &[Param::Text(since)],
                |row| Ok((row.text(0)?, row.text(1)?)),
            )
            .await
    }

    pub async fn insert_code(&self, code: &StoredCode) -> Result<(), StoreError> {
        self.db
            .execute(
                concat!(
                    "INSERT INTO oauth_codes (",
                    code_columns!(),
                    ", created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                ),
                &[
                    Param::Text(&code.code_hash),
                    Param::Text(&code.grant_id),
                    Param::Text(&code.client_id),
                    Param::Text(&code.redirect_uri),
                    Param::Text(&code.code_challenge),
                    Param::Text(&code.scope),
                    Param::Text(&code.resource),
                    Param::Text(&code.subject),
                    Param::OptText(code.tenant.as_deref()),
                    Param::Text(&code.expires_at),
                    Param::OptText(code.used_at.as_deref()),
                    Param::Text(&timestamp::now()),
                ],
            )
            .await?;
        Ok(())
    }

    pub async fn code(&self, code_hash: &str) -> Result<Option<StoredCode>, StoreError> {
        self.db
            .fetch_optional(
                concat!(
                    "SELECT ",
                    code_columns!(),
                    " FROM oauth_codes WHERE code_hash = $1"
                ),
                &[Param::Text(code_hash)],
                code_from_row,
            )
            .await
    }

    /// Marks the code used; true for exactly one caller, and only before it expires.
    pub async fn consume_code(&self, code_hash: &str) -> Result<bool, StoreError> {
        let now = timestamp::now();
        Ok(self
            .db
            .execute(
                "UPDATE oauth_codes SET used_at = $1 \
                 WHERE code_hash = $2 AND used_at IS NULL AND expires_at > $1",
                &[Param::Text(&now), Param::Text(code_hash)],
            )
            .await?
            > 0)
    }

    pub async fn insert_refresh_token(&self, token: &RefreshToken) -> Result<(), StoreError> {
        self.db
            .execute(
                "INSERT INTO oauth_refresh_tokens (token_hash, grant_id, expires_at, used_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    Param::Text(&token.token_hash),
                    Param::Text(&token.grant_id),
                    Param::Text(&token.expires_at),
                    Param::OptText(token.used_at.as_deref()),
                    Param::Text(&timestamp::now()),
                ],
            )
            .await?;
        Ok(())
    }

    pub async fn refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshToken>, StoreError> {
        self.db
            .fetch_optional(
                "SELECT token_hash, grant_id, expires_at, used_at, successor_hash, replay \
                 FROM oauth_refresh_tokens WHERE token_hash = $1",
                &[Param::Text(token_hash)],
                refresh_from_row,
            )
            .await
    }

    /// Marks the refresh token used (rotation); true for exactly one caller, before expiry.
    pub async fn consume_refresh_token(&self, token_hash: &str) -> Result<bool, StoreError> {
        let now = timestamp::now();
        Ok(self
            .db
            .execute(
                "UPDATE oauth_refresh_tokens SET used_at = $1 \
                 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1",
                &[Param::Text(&now), Param::Text(token_hash)],
            )
            .await?
            > 0)
    }

    /// Records what replaced a rotated refresh token, and the sealed answer that carried it.
    pub async fn record_successor(
        &self,
        token_hash: &str,
        successor_hash: &str,
        replay: &str,
    ) -> Result<(), StoreError> {
        self.db
            .execute(
                "UPDATE oauth_refresh_tokens SET successor_hash = $1, replay = $2 \
                 WHERE token_hash = $3",
                &[
                    Param::Text(successor_hash),
                    Param::Text(replay),
                    Param::Text(token_hash),
                ],
            )
            .await?;
        Ok(())
    }

    /// Forgets the sealed answers of tokens rotated before `before` (their grace is over).
    pub async fn forget_replays(&self, before: &str) -> Result<u64, StoreError> {
        self.db
            .execute(
                "UPDATE oauth_refresh_tokens SET replay = NULL \
                 WHERE replay IS NOT NULL AND used_at < $1",
                &[Param::Text(before)],
            )
            .await
    }

    /// Deletes what can no longer be used: expired requests, codes and refresh tokens, and
    /// grants past their lifetime plus `grace` (the longest access-token lifetime: a revoked
    /// grant must stay visible while any of its access tokens could still be presented).
    pub async fn purge_expired(&self, grace: std::time::Duration) -> Result<u64, StoreError> {
        let now = timestamp::now();
        let mut purged = 0;
        for sql in [
            "DELETE FROM oauth_authorization_requests WHERE expires_at <= $1",
            "DELETE FROM oauth_codes WHERE expires_at <= $1",
            "DELETE FROM oauth_refresh_tokens WHERE expires_at <= $1",
            "DELETE FROM oauth_federated_logins WHERE expires_at <= $1",
        ] {
            purged += self.db.execute(sql, &[Param::Text(&now)]).await?;
        }
        purged += self
            .db
            .execute(
                "DELETE FROM oauth_grants WHERE expires_at <= $1",
                &[Param::Text(&timestamp::in_past(grace))],
            )
            .await?;
        Ok(purged)
    }
}
