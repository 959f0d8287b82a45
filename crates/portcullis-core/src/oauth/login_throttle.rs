//! Failed sign-ins, counted per key: the authorization server derives keys from the submitted
//! username (whether or not an account has it, so the answers cannot tell who has one) and
//! from the username with the caller's network.
//!
//! An attempt is counted *before* its password is checked, by one conditional upsert that also
//! sets the lock when the count reaches the limit and does nothing while a lock holds. So
//! concurrent attempts cannot lose a count, a failure can never clear a lock, and no more than
//! the limit of passwords is ever checked between two locks.

use super::OAuthStore;
use crate::{StoreError, db::Param, secret::digest, timestamp};

/// The counter of `username` from every network.
pub fn username_key(username: &str) -> String {
    digest(&format!("login:{username}"))
}

/// The counter of `username` from one network: the username's key, `:`, the network's digest
/// (so an operator can clear every counter of a username).
pub fn username_network_key(username: &str, network: &str) -> String {
    format!("{}:{}", username_key(username), digest(network))
}

/// How a key locks: after `max_failures` counted attempts, for `steps[0]`, then each further
/// attempt after a lock has run out locks for the next step (the last one repeats).
#[derive(Debug, Clone)]
pub struct LockoutRule {
    pub max_failures: u32,
    pub steps: [std::time::Duration; 6],
}

/// What counting an attempt decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Counted; the password may be checked.
    Counted,
    /// Refused unchecked: the key is locked for this many more seconds.
    Locked(i64),
}

impl OAuthStore {
    /// Counts one sign-in attempt against `key` unless it is locked.
    pub async fn count_login_attempt(
        &self,
        key: &str,
        rule: &LockoutRule,
    ) -> Result<Attempt, StoreError> {
        let now = timestamp::now();
        let steps = rule.steps.map(timestamp::in_future);
        let counted = self
            .db
            .execute(
                "INSERT INTO login_throttle (key, failures, locked_until, updated_at) \
                 VALUES ($1, 1, CASE WHEN 1 >= $2 THEN $3 ELSE NULL END, $9) \
                 ON CONFLICT (key) DO UPDATE SET \
                   failures = login_throttle.failures + 1, \
                   locked_until = CASE \
                     WHEN login_throttle.failures + 1 < $2 THEN login_throttle.locked_until \
                     WHEN login_throttle.failures + 1 - $2 >= 5 THEN $8 \
                     WHEN login_throttle.failures + 1 - $2 = 4 THEN $7 \
                     WHEN login_throttle.failures + 1 - $2 = 3 THEN $6 \
                     WHEN login_throttle.failures + 1 - $2 = 2 THEN $5 \
                     WHEN login_throttle.failures + 1 - $2 = 1 THEN $4 \
                     ELSE $3 END, \
                   updated_at = $9 \
                 WHERE login_throttle.locked_until IS NULL OR login_throttle.locked_until <= $9",
                &[
                    Param::Text(key),
                    Param::Int(i64::from(rule.max_failures)),
                    Param::Text(&steps[0]),
                    Param::Text(&steps[1]),
                    Param::Text(&steps[2]),
                    Param::Text(&steps[3]),
                    Param::Text(&steps[4]),
                    Param::Text(&steps[5]),
                    Param::Text(&now),
                ],
            )
            .await?;
        if counted > 0 {
            return Ok(Attempt::Counted);
        }
        let until = self
            .db
            .fetch_optional(
                "SELECT locked_until FROM login_throttle WHERE key = $1",
                &[Param::Text(key)],
                |row| row.opt_text(0),
            )
            .await?
            .flatten();
        let left = until
            .and_then(|u| chrono::DateTime::parse_from_rfc3339(&u).ok())
            .map(|t| (t.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds())
            .unwrap_or(1);
        Ok(Attempt::Locked(left.max(1)))
    }

    /// Forgets every counter of `username` (a new password was set).
    pub async fn clear_login_attempts_for(&self, username: &str) -> Result<(), StoreError> {
        let key = username_key(username);
        self.db
            .execute(
                "DELETE FROM login_throttle WHERE key = $1 OR key LIKE $2",
                &[Param::Text(&key), Param::Text(&format!("{key}:%"))],
            )
            .await?;
        Ok(())
    }

    /// Forgets the failures of `keys` after a successful sign-in.
    pub async fn clear_login_attempts(&self, keys: &[&str]) -> Result<(), StoreError> {
        for key in keys {
            self.db
                .execute(
                    "DELETE FROM login_throttle WHERE key = $1",
                    &[Param::Text(key)],
                )
                .await?;
        }
        Ok(())
    }

    /// Drops counters idle for `idle` whose lock has run out: rows anyone can create by
    /// typing usernames must not accumulate.
    pub async fn purge_login_attempts(&self, idle: std::time::Duration) -> Result<u64, StoreError> {
        self.db
            .execute(
                "DELETE FROM login_throttle WHERE updated_at <= $1 \
                 AND (locked_until IS NULL OR locked_until <= $2)",
                &[
                    Param::Text(&timestamp::in_past(idle)),
                    Param::Text(&timestamp::now()),
                ],
            )
            .await
    }

    /// The secret called `name`, shared by every replica on this database: created (random,
    /// 256 bits) by whichever asks first.
    pub async fn server_secret(&self, name: &str) -> Result<String, StoreError> {
        let candidate = {
            use rand::RngCore;
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            crate::secret::hex(&bytes)
        };
        self.db
            .execute(
                "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO NOTHING",
                &[
                    Param::Text(name),
                    Param::Text(&candidate),
                    Param::Text(&timestamp::now()),
                ],
            )
            .await?;
        self.db
            .fetch_optional(
                "SELECT value FROM server_secrets WHERE name = $1",
                &[Param::Text(name)],
                |row| row.text(0),
            )
            .await?
            .ok_or_else(|| StoreError::Database("the server secret was not stored".into()))
    }
}
