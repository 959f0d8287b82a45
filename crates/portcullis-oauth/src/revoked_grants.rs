//! Grants revoked before their tokens expire. JWT access tokens cannot be recalled, so the
//! resource server asks this set (in memory, on every request) whether a token's grant (`sid`)
//! was revoked. Revocations made in this process land at once; those made by other replicas
//! arrive by polling the grants table every couple of seconds.

use std::{
    collections::HashSet,
    sync::{Mutex, RwLock},
    time::Duration,
};

use portcullis_auth::RevocationCheck;
use portcullis_core::{StoreError, oauth::OAuthStore, timestamp};

/// Clock skew tolerated between replicas writing `revoked_at`.
const OVERLAP: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub struct RevokedGrants {
    ids: RwLock<HashSet<String>>,
    /// The newest `revoked_at` seen.
    cursor: Mutex<Option<String>>,
}

impl RevokedGrants {
    pub fn insert(&self, grant_id: &str) {
        self.ids
            .write()
            .expect("revocations poisoned")
            .insert(grant_id.to_owned());
    }

    pub fn contains(&self, grant_id: &str) -> bool {
        self.ids
            .read()
            .expect("revocations poisoned")
            .contains(grant_id)
    }

    /// Reads revocations newer than the last seen (with an overlap for clock skew); on the
    /// first call, every revoked grant still stored.
    pub async fn sync(&self, store: &OAuthStore) -> Result<(), StoreError> {
        let since = {
            let cursor = self.cursor.lock().expect("revocations poisoned");
            match cursor.as_deref() {
                None => String::new(),
                Some(c) => overlap_before(c),
            }
        };
        let rows = store.grants_revoked_since(&since).await?;
        if let Some((_, newest)) = rows.last() {
            *self.cursor.lock().expect("revocations poisoned") = Some(newest.clone());
        } else if since.is_empty() {
            *self.cursor.lock().expect("revocations poisoned") = Some(timestamp::now());
        }
        if !rows.is_empty() {
            let mut ids = self.ids.write().expect("revocations poisoned");
            ids.extend(rows.into_iter().map(|(id, _)| id));
        }
        Ok(())
    }

    /// Forgets everything and reloads (drops grants that have since been purged).
    pub async fn reload(&self, store: &OAuthStore) -> Result<(), StoreError> {
        let rows = store.grants_revoked_since("").await?;
        let newest = rows
            .last()
            .map(|(_, at)| at.clone())
            .unwrap_or_else(timestamp::now);
        *self.ids.write().expect("revocations poisoned") =
            rows.into_iter().map(|(id, _)| id).collect();
        *self.cursor.lock().expect("revocations poisoned") = Some(newest);
        Ok(())
    }
}

fn overlap_before(stamp: &str) -> String {
    chrono_like_minus(stamp, OVERLAP).unwrap_or_default()
}

/// `stamp - d`, in the stored timestamp format; `None` if `stamp` does not parse.
fn chrono_like_minus(stamp: &str, d: Duration) -> Option<String> {
    let parsed = chrono::DateTime::parse_from_rfc3339(stamp).ok()?;
    let earlier = parsed.with_timezone(&chrono::Utc) - chrono::Duration::from_std(d).ok()?;
    Some(earlier.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

impl RevocationCheck for RevokedGrants {
    fn is_revoked(&self, claims: &serde_json::Map<String, serde_json::Value>) -> bool {
        claims
            .get("sid")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|sid| self.contains(sid))
    }
}
