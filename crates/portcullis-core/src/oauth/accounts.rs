//! Login accounts of the built-in authorization server. An account's `id` is the `sub` of the
//! tokens issued for it: stable, never reused, unlike a username that can be removed and
//! added again.

use serde::Serialize;

use super::OAuthStore;
use crate::{
    StoreError, ValidationError,
    db::{Columns, Param},
    timestamp,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub id: String,
    pub username: String,
    pub tenant: Option<String>,
    pub created_at: String,
}

/// An account with what a login needs to check. The hash is a PHC string, never a password.
#[derive(Clone)]
pub struct AccountLogin {
    pub account: Account,
    pub password_hash: String,
}

impl std::fmt::Debug for AccountLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountLogin")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// Usernames: 1–64 characters, letters, digits and `._@-`, so they are safe in pages and logs.
pub fn validate_username(raw: &str) -> Result<(), ValidationError> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "username",
            "must be 1 to 64 characters: letters, digits, '.', '_', '@' or '-'",
        ))
    }
}

pub(super) fn account_from_row(row: &dyn Columns) -> Result<Account, StoreError> {
    Ok(Account {
        id: row.text(0)?,
        username: row.text(1)?,
        tenant: row.opt_text(2)?,
        created_at: row.text(3)?,
    })
}

fn login_from_row(row: &dyn Columns) -> Result<AccountLogin, StoreError> {
    Ok(AccountLogin {
        account: account_from_row(row)?,
        password_hash: row.text(4)?,
    })
}

impl OAuthStore {
    pub async fn create_account(
        &self,
        username: &str,
        password_hash: &str,
        tenant: Option<&str>,
    ) -> Result<Account, StoreError> {
        validate_username(username)?;
        let now = timestamp::now();
        let account = Account {
            id: uuid::Uuid::now_v7().hyphenated().to_string(),
            username: username.to_owned(),
            tenant: tenant.map(str::to_owned),
            created_at: now.clone(),
        };
        let inserted = self
            .db
            .execute(
                "INSERT INTO accounts (id, username, password_hash, tenant_id, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (username) DO NOTHING",
                &[
                    Param::Text(&account.id),
                    Param::Text(username),
                    Param::Text(password_hash),
                    Param::OptText(tenant),
                    Param::Text(&now),
                ],
            )
            .await?;
        if inserted == 0 {
            return Err(StoreError::Conflict {
                entity: "user",
                id: username.to_owned(),
            });
        }
        Ok(account)
    }

    pub async fn account_login(&self, username: &str) -> Result<Option<AccountLogin>, StoreError> {
        self.db
            .fetch_optional(
                "SELECT id, username, tenant_id, created_at, password_hash \
                 FROM accounts WHERE username = $1",
                &[Param::Text(username)],
                login_from_row,
            )
            .await
    }

    /// The account called `username`: its `id` is the subject of every token it gets.
    pub async fn account_named(&self, username: &str) -> Result<Option<Account>, StoreError> {
        self.db
            .fetch_optional(
                "SELECT id, username, tenant_id, created_at FROM accounts WHERE username = $1",
                &[Param::Text(username)],
                account_from_row,
            )
            .await
    }

    pub async fn account(&self, id: &str) -> Result<Option<Account>, StoreError> {
        self.db
            .fetch_optional(
                "SELECT id, username, tenant_id, created_at FROM accounts WHERE id = $1",
                &[Param::Text(id)],
                account_from_row,
            )
            .await
    }

    pub async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.db
            .fetch_all(
                "SELECT id, username, tenant_id, created_at FROM accounts ORDER BY username",
                &[],
                account_from_row,
            )
            .await
    }

    /// Removes the account; its tokens stop refreshing because their grants are revoked too.
    pub async fn remove_account(&self, username: &str) -> Result<bool, StoreError> {
        let Some(login) = self.account_login(username).await? else {
            return Ok(false);
        };
        self.revoke_grants_of_subject(&login.account.id, "account removed")
            .await?;
        self.db
            .execute(
                "DELETE FROM external_identities WHERE account_id = $1",
                &[Param::Text(&login.account.id)],
            )
            .await?;
        let removed = self
            .db
            .execute(
                "DELETE FROM accounts WHERE id = $1",
                &[Param::Text(&login.account.id)],
            )
            .await?;
        Ok(removed > 0)
    }

    /// Sets a new password hash and lifts the username's sign-in locks. (They are kept in
    /// `login_throttle`; the `failed_logins`/`locked_until` columns of 0002 are unused.)
    pub async fn set_password(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        let changed = self
            .db
            .execute(
                "UPDATE accounts SET password_hash = $1, failed_logins = 0, locked_until = NULL, \
                 updated_at = $2 WHERE username = $3",
                &[
                    Param::Text(password_hash),
                    Param::Text(&timestamp::now()),
                    Param::Text(username),
                ],
            )
            .await?;
        self.clear_login_attempts_for(username).await?;
        Ok(changed > 0)
    }
}
