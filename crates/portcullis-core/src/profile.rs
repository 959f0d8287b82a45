//! User profiles for the backend's internal route (`GET /api/internal/users/{id}`): what other
//! services may know about a user, assembled from the task domain and the built-in
//! authorization server's accounts and grants.

use serde::Serialize;

use crate::{
    Store, StoreError,
    db::{Columns, Param},
};

/// A user as other services see it (field names as the internal API documents them).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserProfile {
    pub id: String,
    /// The sign-in name when it is an e-mail address.
    pub email: Option<String>,
    pub name: String,
    pub roles: Vec<String>,
    /// Scopes the user has granted to clients that still hold them.
    pub permissions: Vec<String>,
    pub created_at: String,
    /// When the user last signed in to the built-in authorization server (a grant was made).
    pub last_login_at: Option<String>,
}

impl Store {
    /// The profile of the user whose id (token `sub`) is `id`; `None` when no such user exists.
    pub async fn user_profile(&self, id: &str) -> Result<Option<UserProfile>, StoreError> {
        let account = self
            .db
            .fetch_optional(
                "SELECT username, created_at FROM accounts WHERE id = $1",
                &[Param::Text(id)],
                |row: &dyn Columns| Ok((row.text(0)?, row.text(1)?)),
            )
            .await?;
        let first_seen = self
            .db
            .fetch_optional(
                "SELECT MIN(created_at) FROM users WHERE subject = $1",
                &[Param::Text(id)],
                |row: &dyn Columns| row.opt_text(0),
            )
            .await?
            .flatten();
        let (name, created_at) = match (account, first_seen) {
            (Some((username, created)), _) => (username, created),
            (None, Some(seen)) => (id.to_owned(), seen),
            (None, None) => return Ok(None),
        };
        let grants = self
            .db
            .fetch_all(
                "SELECT scope, created_at, COALESCE(revoked_at, '') FROM oauth_grants WHERE subject = $1",
                &[Param::Text(id)],
                |row: &dyn Columns| Ok((row.text(0)?, row.text(1)?, row.text(2)?)),
            )
            .await?;
        let last_login_at = grants.iter().map(|g| g.1.clone()).max();
        let mut permissions: Vec<String> = grants
            .iter()
            .filter(|g| g.2.is_empty())
            .flat_map(|g| g.0.split(' ').map(str::to_owned).collect::<Vec<_>>())
            .filter(|s| !s.is_empty())
            .collect();
        permissions.sort();
        permissions.dedup();
        Ok(Some(UserProfile {
            id: id.to_owned(),
            email: name.contains('@').then(|| name.clone()),
            name,
            roles: vec!["user".into()],
            permissions,
            created_at,
            last_login_at,
        }))
    }
}
