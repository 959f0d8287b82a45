//! Storage of the built-in OAuth 2.1 authorization server: login accounts, registered clients,
//! pending authorization requests, grants with their codes and refresh tokens.
//!
//! None of this is scoped to an [`crate::Actor`]: it is what establishes one. Secrets (codes,
//! refresh tokens, client secrets) arrive here already hashed; passwords as argon2 PHC strings.
//! Every single-use step (redeeming a code, rotating a refresh token) is one conditional
//! `UPDATE`, so two replicas racing on the same secret cannot both win.

mod accounts;
mod clients;
mod federation;
mod grants;
mod login_throttle;
mod requests;
mod signing_keys;

use std::sync::Arc;

pub use accounts::{Account, AccountLogin};
pub use clients::StoredClient;
pub use federation::{ExternalIdentity, FederatedLogin, NO_PASSWORD};
pub use grants::{Grant, RefreshToken, StoredCode};
pub use login_throttle::{Attempt, LockoutRule, username_key, username_network_key};
pub use requests::PendingAuthorization;
pub use signing_keys::StoredSigningKey;

use crate::{Store, db::Db};

/// The authorization server's tables. Cheap to clone.
#[derive(Clone)]
pub struct OAuthStore {
    pub(crate) db: Arc<Db>,
}

impl std::fmt::Debug for OAuthStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthStore").finish_non_exhaustive()
    }
}

impl Store {
    /// The authorization server's storage, on the same database.
    pub fn oauth(&self) -> OAuthStore {
        OAuthStore {
            db: self.db.clone(),
        }
    }
}

/// JSON array text ↔ list of strings, for list-valued client metadata.
fn list_to_json(items: &[String]) -> String {
    serde_json::to_string(items).expect("a list of strings serializes")
}

fn list_from_json(text: &str) -> Result<Vec<String>, crate::StoreError> {
    serde_json::from_str(text).map_err(|e| crate::StoreError::Database(Box::new(e)))
}
