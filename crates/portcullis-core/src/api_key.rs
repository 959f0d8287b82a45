//! API keys (`X-API-Key`) for services and administrators.
//!
//! A key reads `pck_<id>_<secret>`: the id (public, 16 hex characters) finds the row, the secret
//! (256 random bits) is checked against its SHA-256 digest in constant time. Only the digest is
//! stored; the whole key is shown once, when it is created. Nothing here is cached, so a revoked
//! key is refused by every replica on its next request.

use std::time::Duration;

use serde::Serialize;

use crate::{
    Store, StoreError, ValidationError,
    db::{Columns, Param},
    secret::{self, Secret},
    timestamp,
};

const PREFIX: &str = "pck_";
const ID_LEN: usize = 16;

/// A key as listed: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    /// Who the key acts as when it carries no user context.
    pub owner: String,
    /// The tenant every call made with the key is confined to.
    pub tenant: String,
    /// Space-separated scopes.
    pub scopes: String,
    /// May act for a user named in `X-Mcp-User` / `X-User-ID`.
    pub trusted: bool,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// What `apikey create` asks for.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: String,
    pub owner: String,
    pub tenant: Option<String>,
    pub scopes: Vec<String>,
    pub trusted: bool,
    pub expires_in: Option<Duration>,
}

/// Why a presented key was refused. Deliberately coarse towards clients: the HTTP layer says
/// "invalid API key" for all but expiry, and the audit trail keeps the precise reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyRejection {
    #[error("not a Portcullis API key")]
    Malformed,
    #[error("no such key")]
    Unknown,
    #[error("the secret does not match")]
    WrongSecret,
    #[error("the key has been revoked")]
    Revoked,
    #[error("the key has expired")]
    Expired,
}

/// Names: 1–64 characters of letters, digits and `._-`, safe in listings and logs.
fn validate_name(raw: &str) -> Result<(), ValidationError> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    ok.then_some(()).ok_or_else(|| {
        ValidationError::new(
            "name",
            "must be 1 to 64 characters: letters, digits, '.', '_' or '-'",
        )
    })
}

/// Scopes are RFC 6749 scope tokens: printable ASCII without spaces, quotes or backslashes.
fn validate_scopes(scopes: &[String]) -> Result<(), ValidationError> {
    let token_ok = |s: &String| {
        !s.is_empty()
            && s.bytes()
                .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
    };
    if scopes.is_empty() || !scopes.iter().all(token_ok) {
        return Err(ValidationError::new(
            "scopes",
            "give at least one scope, e.g. \"tasks:read tasks:write\" or \"admin\"",
        ));
    }
    Ok(())
}

/// The id part of a well-formed `pck_<id>_<secret>`; says nothing about whether the key is valid.
pub fn key_id(presented: &str) -> Option<&str> {
    let rest = presented.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let well_formed = id.len() == ID_LEN
        && id.bytes().all(|b| b.is_ascii_hexdigit())
        && secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    well_formed.then_some(id)
}

fn new_id() -> String {
    let bytes: [u8; ID_LEN / 2] = rand::random();
    crate::secret::hex(&bytes)
}

macro_rules! key_columns {
    () => {
        "id, name, owner, tenant_id, scopes, trusted, created_at, expires_at, last_used_at, \
         revoked_at"
    };
}

fn key_from_row(row: &dyn Columns) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: row.text(0)?,
        name: row.text(1)?,
        owner: row.text(2)?,
        tenant: row.text(3)?,
        scopes: row.text(4)?,
        trusted: row.int(5)? == 1,
        created_at: row.text(6)?,
        expires_at: row.opt_text(7)?,
        last_used_at: row.opt_text(8)?,
        revoked_at: row.opt_text(9)?,
    })
}

fn key_and_hash_from_row(row: &dyn Columns) -> Result<(ApiKey, String), StoreError> {
    Ok((key_from_row(row)?, row.text(10)?))
}

impl Store {
    /// Creates a key; the returned [`Secret`] is the only copy of the whole key.
    pub async fn create_api_key(&self, new: NewApiKey) -> Result<(ApiKey, Secret), StoreError> {
        validate_name(&new.name)?;
        validate_scopes(&new.scopes)?;
        if new.owner.is_empty() || new.owner.len() > 255 {
            return Err(ValidationError::new("owner", "must be 1 to 255 bytes").into());
        }
        let tenant = match &new.tenant {
            Some(t) => crate::TenantId::parse(t)?,
            None => crate::TenantId::default_tenant(),
        };
        if self.api_key_by_name(&new.name).await?.is_some() {
            return Err(StoreError::Conflict {
                entity: "API key",
                id: new.name,
            });
        }
        let id = new_id();
        let secret = Secret::generate(&format!("{PREFIX}{id}_"));
        let key = ApiKey {
            id,
            name: new.name,
            owner: new.owner,
            tenant: tenant.to_string(),
            scopes: new.scopes.join(" "),
            trusted: new.trusted,
            created_at: timestamp::now(),
            expires_at: new.expires_in.map(timestamp::in_future),
            last_used_at: None,
            revoked_at: None,
        };
        self.db
            .execute(
                "INSERT INTO api_keys (id, name, owner, tenant_id, scopes, trusted, secret_hash, \
                 created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    Param::Text(&key.id),
                    Param::Text(&key.name),
                    Param::Text(&key.owner),
                    Param::Text(&key.tenant),
                    Param::Text(&key.scopes),
                    Param::Int(i64::from(key.trusted)),
                    Param::Text(&secret.digest()),
                    Param::Text(&key.created_at),
                    Param::OptText(key.expires_at.as_deref()),
                ],
            )
            .await?;
        Ok((key, secret))
    }

    /// Checks a presented key: well-formed, known, secret matching (constant time), not
    /// revoked, not expired.
    pub async fn authenticate_api_key(
        &self,
        presented: &str,
    ) -> Result<Result<ApiKey, ApiKeyRejection>, StoreError> {
        let Some(id) = key_id(presented) else {
            return Ok(Err(ApiKeyRejection::Malformed));
        };
        let row = self
            .db
            .fetch_optional(
                concat!(
                    "SELECT ",
                    key_columns!(),
                    ", secret_hash FROM api_keys WHERE id = $1"
                ),
                &[Param::Text(id)],
                key_and_hash_from_row,
            )
            .await?;
        let Some((key, hash)) = row else {
            return Ok(Err(ApiKeyRejection::Unknown));
        };
        if !secret::matches_digest(presented, &hash) {
            return Ok(Err(ApiKeyRejection::WrongSecret));
        }
        if key.revoked_at.is_some() {
            return Ok(Err(ApiKeyRejection::Revoked));
        }
        if key
            .expires_at
            .as_deref()
            .is_some_and(|e| e <= timestamp::now().as_str())
        {
            return Ok(Err(ApiKeyRejection::Expired));
        }
        Ok(Ok(key))
    }

    /// Records that the key was used. Callers throttle this (it is a write).
    pub async fn touch_api_key(&self, id: &str) -> Result<(), StoreError> {
        self.db
            .execute(
                "UPDATE api_keys SET last_used_at = $1 WHERE id = $2",
                &[Param::Text(&timestamp::now()), Param::Text(id)],
            )
            .await?;
        Ok(())
    }

    pub async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        self.db
            .fetch_all(
                concat!(
                    "SELECT ",
                    key_columns!(),
                    " FROM api_keys ORDER BY created_at, id"
                ),
                &[],
                key_from_row,
            )
            .await
    }

    async fn api_key_by_name(&self, name: &str) -> Result<Option<ApiKey>, StoreError> {
        self.db
            .fetch_optional(
                concat!(
                    "SELECT ",
                    key_columns!(),
                    " FROM api_keys WHERE name = $1 AND revoked_at IS NULL"
                ),
                &[Param::Text(name)],
                key_from_row,
            )
            .await
    }

    /// Revokes the active key with this id or name; takes effect on the next request.
    pub async fn revoke_api_key(&self, id_or_name: &str) -> Result<ApiKey, StoreError> {
        let key = match self.api_key_by_name(id_or_name).await? {
            Some(k) => k,
            None => self
                .list_api_keys()
                .await?
                .into_iter()
                .find(|k| k.id == id_or_name && k.revoked_at.is_none())
                .ok_or_else(|| StoreError::NotFound {
                    entity: "API key",
                    id: id_or_name.to_owned(),
                })?,
        };
        let now = timestamp::now();
        self.db
            .execute(
                "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                &[Param::Text(&now), Param::Text(&key.id)],
            )
            .await?;
        Ok(ApiKey {
            revoked_at: Some(now),
            ..key
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_keys_have_an_id() {
        let secret = Secret::generate("pck_0123456789abcdef_");
        assert_eq!(key_id(secret.expose()), Some("0123456789abcdef"));
        for bad in [
            "",
            "pck_",
            "pck_0123456789abcdef",
            "pck_0123456789abcdeg_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "pck_0123456789abcdef_short",
            "pca_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "pck_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!",
        ] {
            assert_eq!(key_id(bad), None, "{bad}");
        }
    }
}
