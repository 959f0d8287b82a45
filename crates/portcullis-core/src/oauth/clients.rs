//! Clients registered with the authorization server: by an operator (`portcullis client add`)
//! or by the client itself (RFC 7591 dynamic registration). Clients identified by a metadata
//! document URL and clients from the configuration file are never stored here.

use serde::Serialize;

use super::{OAuthStore, list_from_json, list_to_json};
use crate::{
    StoreError,
    db::{Columns, Param},
};

#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct StoredClient {
    pub client_id: String,
    /// SHA-256 (hex) of the client secret; `None` for public clients.
    #[serde(skip)]
    pub secret_hash: Option<String>,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    /// Scopes the client may ask for; `None` allows every supported scope.
    pub scope: Option<String>,
    pub application_type: String,
    pub token_endpoint_auth_method: String,
    /// `cli` or `dynamic`.
    pub registered_by: String,
    pub created_at: String,
    /// An operator let this client introspect tokens issued to other clients.
    pub introspection: bool,
    /// When the client first completed a grant; dynamic clients that never do are purged.
    pub first_grant_at: Option<String>,
    /// When the client last got tokens (a code redeemed or a refresh).
    pub last_used_at: Option<String>,
    /// A digest of a public dynamic client's metadata: an identical registration gets this
    /// client back instead of a new row.
    #[serde(skip)]
    pub fingerprint: Option<String>,
}

impl std::fmt::Debug for StoredClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredClient")
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .field("confidential", &self.secret_hash.is_some())
            .field("registered_by", &self.registered_by)
            .finish_non_exhaustive()
    }
}

macro_rules! client_columns {
    () => {
        "client_id, secret_hash, name, redirect_uris, grant_types, scope, application_type, \
         token_endpoint_auth_method, registered_by, created_at, introspection, first_grant_at, \
         last_used_at, fingerprint"
    };
}

fn client_from_row(row: &dyn Columns) -> Result<StoredClient, StoreError> {
    Ok(StoredClient {
        client_id: row.text(0)?,
        secret_hash: row.opt_text(1)?,
        name: row.text(2)?,
        redirect_uris: list_from_json(&row.text(3)?)?,
        grant_types: list_from_json(&row.text(4)?)?,
        scope: row.opt_text(5)?,
        application_type: row.text(6)?,
        token_endpoint_auth_method: row.text(7)?,
        registered_by: row.text(8)?,
        created_at: row.text(9)?,
        introspection: row.int(10)? != 0,
        first_grant_at: row.opt_text(11)?,
        last_used_at: row.opt_text(12)?,
        fingerprint: row.opt_text(13)?,
    })
}

impl OAuthStore {
    pub async fn insert_client(&self, client: &StoredClient) -> Result<(), StoreError> {
        let inserted = self
            .db
            .execute(
                concat!(
                    "INSERT INTO oauth_clients (",
                    client_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                     ON CONFLICT (client_id) DO NOTHING"
                ),
                &[
                    Param::Text(&client.client_id),
                    Param::OptText(client.secret_hash.as_deref()),
                    Param::Text(&client.name),
                    Param::Text(&list_to_json(&client.redirect_uris)),
                    Param::Text(&list_to_json(&client.grant_types)),
                    Param::OptText(client.scope.as_deref()),
                    Param::Text(&client.application_type),
                    Param::Text(&client.token_endpoint_auth_method),
                    Param::Text(&client.registered_by),
                    Param::Text(&client.created_at),
                    Param::Int(i64::from(client.introspection)),
                    Param::OptText(client.first_grant_at.as_deref()),
                    Param::OptText(client.last_used_at.as_deref()),
                    Param::OptText(client.fingerprint.as_deref()),
                ],
            )
            .await?;
        if inserted == 0 {
            return Err(StoreError::Conflict {
                entity: "client",
                id: client.client_id.clone(),
            });
        }
        Ok(())
    }

    pub async fn client(&self, client_id: &str) -> Result<Option<StoredClient>, StoreError> {
        self.db
            .fetch_optional(
                concat!(
                    "SELECT ",
                    client_columns!(),
                    " FROM oauth_clients WHERE client_id = $1"
                ),
                &[Param::Text(client_id)],
                client_from_row,
            )
            .await
    }

    pub async fn list_clients(&self) -> Result<Vec<StoredClient>, StoreError> {
        self.db
            .fetch_all(
                concat!(
                    "SELECT ",
                    client_columns!(),
                    " FROM oauth_clients ORDER BY created_at, client_id"
                ),
                &[],
                client_from_row,
            )
            .await
    }

    /// Removes the client and revokes every grant it holds.
    pub async fn remove_client(&self, client_id: &str) -> Result<bool, StoreError> {
        self.db
            .execute(
                "UPDATE oauth_grants SET revoked_at = $1, revoked_reason = 'client removed' \
                 WHERE client_id = $2 AND revoked_at IS NULL",
                &[
                    Param::Text(&crate::timestamp::now()),
                    Param::Text(client_id),
                ],
            )
            .await?;
        let removed = self
            .db
            .execute(
                "DELETE FROM oauth_clients WHERE client_id = $1",
                &[Param::Text(client_id)],
            )
            .await?;
        Ok(removed > 0)
    }

    /// How many clients registered themselves since `since` (RFC 3339), for abuse limits.
    pub async fn dynamic_clients_since(&self, since: &str) -> Result<i64, StoreError> {
        Ok(self
            .db
            .fetch_optional(
                "SELECT COUNT(*) FROM oauth_clients WHERE registered_by = 'dynamic' AND created_at >= $1",
                &[Param::Text(since)],
                |row| row.int(0),
            )
            .await?
            .unwrap_or_default())
    }

    /// Records that the client got tokens now (and, the first time, that it completed a
    /// grant). Clients that are not stored (configured, metadata documents) change nothing.
    pub async fn mark_client_used(&self, client_id: &str) -> Result<(), StoreError> {
        self.db
            .execute(
                "UPDATE oauth_clients SET first_grant_at = COALESCE(first_grant_at, $1), \
                 last_used_at = $1 WHERE client_id = $2",
                &[
                    Param::Text(&crate::timestamp::now()),
                    Param::Text(client_id),
                ],
            )
            .await?;
        Ok(())
    }

    /// The newest dynamic client registered since `since` whose metadata has `fingerprint`.
    pub async fn dynamic_client_by_fingerprint(
        &self,
        fingerprint: &str,
        since: &str,
    ) -> Result<Option<StoredClient>, StoreError> {
        self.db
            .fetch_optional(
                concat!(
                    "SELECT ",
                    client_columns!(),
                    " FROM oauth_clients WHERE fingerprint = $1 AND registered_by = 'dynamic' \
                     AND created_at >= $2 ORDER BY created_at DESC LIMIT 1"
                ),
                &[Param::Text(fingerprint), Param::Text(since)],
                client_from_row,
            )
            .await
    }

    /// Deletes dynamically registered clients older than `unused_for` that never completed a
    /// grant, and those that got no tokens for `idle_for` (by then every refresh token they
    /// held has expired, so they can do nothing a new registration could not): registrations
    /// anyone can make must not pile up. Returns how many went.
    pub async fn purge_unused_dynamic_clients(
        &self,
        unused_for: std::time::Duration,
        idle_for: std::time::Duration,
    ) -> Result<u64, StoreError> {
        let never = self
            .db
            .execute(
                "DELETE FROM oauth_clients WHERE registered_by = 'dynamic' \
                 AND first_grant_at IS NULL AND created_at <= $1",
                &[Param::Text(&crate::timestamp::in_past(unused_for))],
            )
            .await?;
        let idle = self
            .db
            .execute(
                "DELETE FROM oauth_clients WHERE registered_by = 'dynamic' \
                 AND last_used_at IS NOT NULL AND last_used_at <= $1",
                &[Param::Text(&crate::timestamp::in_past(idle_for))],
            )
            .await?;
        Ok(never + idle)
    }
}
