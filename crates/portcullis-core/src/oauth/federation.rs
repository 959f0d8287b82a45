//! Sign-in through external OpenID Connect providers: the sign-ins in flight (one row per
//! redirect to a provider, used once) and the binding of a provider's subject to an account.

use super::{Account, OAuthStore, accounts::account_from_row};
use crate::{
    StoreError,
    db::{Columns, Param},
    secret::Secret,
    timestamp,
};

/// A sign-in sent to a provider: what its callback needs to finish it.
#[derive(Debug, Clone)]
pub struct FederatedLogin {
    /// SHA-256 of the `state` sent to the provider.
    pub state_hash: String,
    /// The authorization request the sign-in is for.
    pub request_id: String,
    pub provider: String,
    pub nonce: Secret,
    pub code_verifier: Secret,
    pub expires_at: String,
}

/// Who signed in at a provider, as far as the account binding needs it.
#[derive(Debug, Clone)]
pub struct ExternalIdentity<'a> {
    pub provider: &'a str,
    /// The provider's stable subject (the configured claim's value).
    pub subject: &'a str,
    pub email: Option<&'a str>,
    /// The username to give a new account, if free.
    pub preferred_username: &'a str,
    /// The username to use when the preferred one is taken (unique per provider and subject).
    pub fallback_username: &'a str,
    pub tenant: Option<&'a str>,
}

/// The password hash of an account made by a provider sign-in: not a PHC string, so no
/// password ever matches it (until an operator sets one with `user passwd`).
pub const NO_PASSWORD: &str = "!external";

fn login_from_row(row: &dyn Columns) -> Result<FederatedLogin, StoreError> {
    Ok(FederatedLogin {
        state_hash: row.text(0)?,
        request_id: row.text(1)?,
        provider: row.text(2)?,
        nonce: Secret::from_string(row.text(3)?),
        code_verifier: Secret::from_string(row.text(4)?),
        expires_at: row.text(5)?,
    })
}

impl OAuthStore {
    pub async fn insert_federated_login(&self, login: &FederatedLogin) -> Result<(), StoreError> {
        self.db
            .execute(
                "INSERT INTO oauth_federated_logins (state_hash, request_id, provider, nonce, \
                 code_verifier, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    Param::Text(&login.state_hash),
                    Param::Text(&login.request_id),
                    Param::Text(&login.provider),
                    Param::Text(login.nonce.expose()),
                    Param::Text(login.code_verifier.expose()),
                    Param::Text(&login.expires_at),
                    Param::Text(&timestamp::now()),
                ],
            )
            .await?;
        Ok(())
    }

    /// The sign-in whose `state` hashes to `state_hash`, removed so that it is used at most
    /// once (of two callbacks racing with the same state, only the one whose delete counts a
    /// row gets it); `None` if unknown, used or expired.
    pub async fn take_federated_login(
        &self,
        state_hash: &str,
    ) -> Result<Option<FederatedLogin>, StoreError> {
        let Some(login) = self
            .db
            .fetch_optional(
                "SELECT state_hash, request_id, provider, nonce, code_verifier, expires_at \
                 FROM oauth_federated_logins WHERE state_hash = $1 AND expires_at > $2",
                &[Param::Text(state_hash), Param::Text(&timestamp::now())],
                login_from_row,
            )
            .await?
        else {
            return Ok(None);
        };
        let deleted = self
            .db
            .execute(
                "DELETE FROM oauth_federated_logins WHERE state_hash = $1",
                &[Param::Text(state_hash)],
            )
            .await?;
        Ok((deleted == 1).then_some(login))
    }

    /// The account bound to `provider`'s `subject`, if that identity signed in before.
    pub async fn account_for_identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<Account>, StoreError> {
        self.db
            .fetch_optional(
                "SELECT a.id, a.username, a.tenant_id, a.created_at FROM external_identities e \
                 JOIN accounts a ON a.id = e.account_id WHERE e.provider = $1 AND e.subject = $2",
                &[Param::Text(provider), Param::Text(subject)],
                account_from_row,
            )
            .await
    }

    /// Binds the identity to `account_id` (first sign-in), or records a later sign-in.
    pub async fn bind_identity(
        &self,
        identity: &ExternalIdentity<'_>,
        account_id: &str,
    ) -> Result<(), StoreError> {
        let now = timestamp::now();
        self.db
            .execute(
                "INSERT INTO external_identities (provider, subject, account_id, email, \
                 created_at, last_login_at) VALUES ($1, $2, $3, $4, $5, $5) \
                 ON CONFLICT (provider, subject) DO UPDATE SET email = $4, last_login_at = $5",
                &[
                    Param::Text(identity.provider),
                    Param::Text(identity.subject),
                    Param::Text(account_id),
                    Param::OptText(identity.email),
                    Param::Text(&now),
                ],
            )
            .await?;
        Ok(())
    }

    /// A new account for an identity's first sign-in, under its preferred username or, when
    /// another account has that name, its fallback; then bound to the identity. The account
    /// has no password: it signs in only through the provider.
    pub async fn provision_account(
        &self,
        identity: &ExternalIdentity<'_>,
    ) -> Result<Account, StoreError> {
        let mut account = None;
        for username in [identity.preferred_username, identity.fallback_username] {
            if super::accounts::validate_username(username).is_err() {
                continue;
            }
            match self
                .create_account(username, NO_PASSWORD, identity.tenant)
                .await
            {
                Ok(created) => {
                    account = Some(created);
                    break;
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        let account = account.ok_or_else(|| StoreError::Conflict {
            entity: "user",
            id: identity.fallback_username.to_owned(),
        })?;
        self.bind_identity(identity, &account.id).await?;
        Ok(account)
    }
}
