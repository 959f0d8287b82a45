//! Signing keys in the database, private halves sealed (AES-256-GCM) under the operator's
//! key-encryption key, so replicas share them with the data instead of a directory.
//!
//! A key signs from its `signs_from` on; a rotation sets it a few seconds ahead, so every
//! replica (each reads the table every second) publishes the new key before any replica signs
//! with it. The newest key whose time has come signs; every other key stays published until
//! its successor has signed for longer than the retention (the longest access-token lifetime),
//! and is then pruned by the next rotation. On first start the keys of an existing data
//! directory are moved in, so the tokens they signed stay valid.

use std::{
    path::Path,
    sync::{Arc, Mutex, RwLock, Weak, atomic::AtomicU64},
    time::{Duration, Instant},
};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use portcullis_auth::signing::{LocalSigner, SigningError};
use portcullis_core::{
    StoreError,
    oauth::{OAuthStore, StoredSigningKey},
    timestamp,
};

use super::{CURRENT, KeyRing, Keys, Rotation, Source, retired_files};
use crate::sealed::SealingKey;

/// How far ahead of now a rotated-in key starts signing: longer than a replica takes to read
/// the table (every second), so no replica meets a token signed by a key it has not seen.
const PROPAGATION: Duration = Duration::from_secs(3);
/// How often each replica reads the table.
const REFRESH: Duration = Duration::from_secs(1);
/// Every this many reads, whether a scheduled rotation is due is checked too.
const ROTATION_CHECK_ROUNDS: u64 = 5;

/// Why the keys in the database cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error(transparent)]
    Signing(#[from] SigningError),
    #[error("cannot read or write the signing keys in the database: {0}")]
    Store(#[from] StoreError),
    #[error(
        "signing key {0} in the database cannot be opened with this key-encryption key (another key sealed it); give the key the signing keys were stored with"
    )]
    WrongKey(String),
    #[error("signing key {0} in the database is damaged: {1}")]
    Damaged(String, String),
}

/// What a database-backed ring keeps to refresh and rotate.
pub(super) struct Stored {
    store: OAuthStore,
    kek: SealingKey,
}

impl KeyRing {
    /// The ring in the database, with its refresh task (every second, until the ring is
    /// dropped) and, with `rotate_every`, scheduled rotation. An empty table first receives
    /// the keys of `legacy_dir` (an existing data directory's), else a new key.
    pub async fn in_database(
        store: OAuthStore,
        kek: SealingKey,
        retention: Duration,
        legacy_dir: &Path,
        rotate_every: Option<Duration>,
    ) -> Result<Arc<Self>, KeyRingError> {
        let mut rows = store.signing_keys().await?;
        if rows.is_empty() {
            import_or_generate(&store, &kek, legacy_dir).await?;
            rows = store.signing_keys().await?;
        }
        let keys = build(&rows, &kek, retention)?;
        tracing::info!(
            kid = keys.signer.kid(),
            keys = rows.len(),
            "signing keys loaded from the database"
        );
        let ring = Arc::new(Self {
            source: Source::Database(Stored { store, kek }),
            retention,
            keys: RwLock::new(Arc::new(keys)),
            last_check: Mutex::new(Instant::now()),
            version: AtomicU64::new(0),
        });
        tokio::spawn(refresh_loop(Arc::downgrade(&ring), rotate_every));
        Ok(ring)
    }

    /// Rotates the keys in the database: a new key signs from a few seconds from now on, and
    /// keys no token can need any more are deleted.
    pub async fn rotate_in_database(
        store: &OAuthStore,
        kek: &SealingKey,
        retention: Duration,
    ) -> Result<Rotation, KeyRingError> {
        let rows = store.signing_keys().await?;
        let current = build(&rows, kek, retention)?.signer.kid().to_owned();
        let new = insert_new(store, kek, &timestamp::in_future(PROPAGATION)).await?;
        let mut pruned = 0;
        for row in aged_out(&rows, retention) {
            if store.delete_signing_key(&row.kid).await? {
                pruned += 1;
            }
        }
        Ok(Rotation {
            retired_kid: current,
            new_kid: new,
            pruned,
        })
    }

    /// Each stored key with its role now: `signing`, `next` (signs soon) or `retired`.
    pub async fn list_in_database(
        store: &OAuthStore,
        kek: &SealingKey,
        retention: Duration,
    ) -> Result<Vec<(String, &'static str)>, KeyRingError> {
        let rows = store.signing_keys().await?;
        let signing = build(&rows, kek, retention)?.signer.kid().to_owned();
        let now = timestamp::now();
        Ok(published(&rows, retention)
            .map(|row| {
                let role = if row.kid == signing {
                    "signing"
                } else if row.signs_from > now {
                    "next"
                } else {
                    "retired"
                };
                (row.kid.clone(), role)
            })
            .collect())
    }

    async fn refresh_from_database(&self) -> Result<(), KeyRingError> {
        let Source::Database(stored) = &self.source else {
            return Ok(());
        };
        let rows = stored.store.signing_keys().await?;
        let current = self.keys.read().expect("key ring poisoned").clone();
        let signs_now = signer_row(&rows).map(|r| r.kid.as_str());
        let published: Vec<&str> = published(&rows, self.retention)
            .map(|r| r.kid.as_str())
            .collect();
        let held: Vec<&str> = current
            .jwks
            .keys
            .iter()
            .filter_map(|k| k.common.key_id.as_deref())
            .collect();
        if signs_now == Some(current.signer.kid()) && published == held {
            return Ok(());
        }
        let keys = build(&rows, &stored.kek, self.retention)?;
        tracing::info!(kid = keys.signer.kid(), published = ?published, "signing keys changed in the database");
        self.replace(keys);
        Ok(())
    }

    async fn rotate_if_due(&self, every: Duration) -> Result<(), KeyRingError> {
        let Source::Database(stored) = &self.source else {
            return Ok(());
        };
        let rows = stored.store.signing_keys().await?;
        let newest = rows.iter().map(|r| r.signs_from.as_str()).max();
        if newest.is_some_and(|t| t > timestamp::in_past(every).as_str()) {
            return Ok(());
        }
        let rotation = Self::rotate_in_database(&stored.store, &stored.kek, self.retention).await?;
        tracing::info!(new = %rotation.new_kid, retired = %rotation.retired_kid, "scheduled signing key rotation");
        Ok(())
    }
}

async fn refresh_loop(ring: Weak<KeyRing>, rotate_every: Option<Duration>) {
    let mut tick = tokio::time::interval(REFRESH);
    let mut rounds: u64 = 0;
    loop {
        tick.tick().await;
        rounds += 1;
        let Some(ring) = ring.upgrade() else { return };
        if let Err(e) = ring.refresh_from_database().await {
            tracing::warn!(error = %e, "cannot refresh the signing keys; keeping the loaded ones");
        }
        if let Some(every) = rotate_every
            && (rounds == 1 || rounds.is_multiple_of(ROTATION_CHECK_ROUNDS))
            && let Err(e) = ring.rotate_if_due(every).await
        {
            tracing::warn!(error = %e, "scheduled signing key rotation failed; will retry");
        }
    }
}

/// The key that signs now: the newest whose time has come (ties by kid, so every replica
/// picks the same one when two rotated at once).
fn signer_row(rows: &[StoredSigningKey]) -> Option<&StoredSigningKey> {
    let now = timestamp::now();
    rows.iter()
        .filter(|r| r.signs_from <= now)
        .max_by(|a, b| (&a.signs_from, &a.kid).cmp(&(&b.signs_from, &b.kid)))
        .or_else(|| rows.iter().min_by(|a, b| a.signs_from.cmp(&b.signs_from)))
}

/// Keys whose successor has signed for longer than `retention`: no live token needs them.
/// `rows` are ordered by `signs_from`.
fn aged_out(
    rows: &[StoredSigningKey],
    retention: Duration,
) -> impl Iterator<Item = &StoredSigningKey> {
    let cutoff = timestamp::in_past(retention);
    rows.iter()
        .zip(rows.iter().skip(1))
        .filter(move |(_, next)| next.signs_from <= cutoff)
        .map(|(row, _)| row)
}

/// Keys to publish: every key not aged out (including one that signs only soon).
fn published(
    rows: &[StoredSigningKey],
    retention: Duration,
) -> impl Iterator<Item = &StoredSigningKey> {
    let gone: Vec<&str> = aged_out(rows, retention).map(|r| r.kid.as_str()).collect();
    rows.iter().filter(move |r| !gone.contains(&r.kid.as_str()))
}

fn build(
    rows: &[StoredSigningKey],
    kek: &SealingKey,
    retention: Duration,
) -> Result<Keys, KeyRingError> {
    let signer_row = signer_row(rows)
        .ok_or_else(|| KeyRingError::Damaged("-".into(), "the table holds no key".into()))?;
    let der = kek
        .open(&signer_row.kid, &signer_row.sealed_private_key)
        .ok_or_else(|| KeyRingError::WrongKey(signer_row.kid.clone()))?;
    let signer = LocalSigner::from_pkcs8(der, &format!("database key {}", signer_row.kid))?;
    if signer.kid() != signer_row.kid {
        return Err(KeyRingError::Damaged(
            signer_row.kid.clone(),
            "its private key is another key's".into(),
        ));
    }
    let mut jwks = signer.jwks();
    for row in published(rows, retention).filter(|r| r.kid != signer_row.kid) {
        let jwk: Jwk = serde_json::from_str(&row.public_jwk)
            .map_err(|e| KeyRingError::Damaged(row.kid.clone(), e.to_string()))?;
        jwks.keys.push(jwk);
    }
    Ok(Keys::new(signer, JwkSet { keys: jwks.keys }, None))
}

/// Seals `der` and stores it as a key signing from `signs_from`; returns its kid.
async fn insert_key(
    store: &OAuthStore,
    kek: &SealingKey,
    der: Vec<u8>,
    signs_from: &str,
) -> Result<String, KeyRingError> {
    let signer = LocalSigner::from_pkcs8(der.clone(), "a new signing key")?;
    let kid = signer.kid().to_owned();
    store
        .insert_signing_key(&StoredSigningKey {
            sealed_private_key: kek.seal(&kid, &der),
            public_jwk: serde_json::to_string(signer.jwk()).expect("a JWK serializes"),
            signs_from: signs_from.to_owned(),
            kid: kid.clone(),
        })
        .await?;
    Ok(kid)
}

async fn insert_new(
    store: &OAuthStore,
    kek: &SealingKey,
    signs_from: &str,
) -> Result<String, KeyRingError> {
    insert_key(store, kek, LocalSigner::generate_pkcs8()?, signs_from).await
}

/// Moves a data directory's keys in (the retired ones with the times they stopped signing, so
/// they age out as they would have), or makes the first key.
async fn import_or_generate(
    store: &OAuthStore,
    kek: &SealingKey,
    dir: &Path,
) -> Result<(), KeyRingError> {
    let current = dir.join(CURRENT);
    if !current.exists() {
        let kid = insert_new(store, kek, &timestamp::now()).await?;
        tracing::info!(kid, "first signing key created in the database");
        return Ok(());
    }
    let mut retired = retired_files(dir);
    retired.sort();
    // Each key signed from its predecessor's retirement on; the first since its file was made.
    let made = |path: &Path| {
        std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as u64)
    };
    let mut signs_from = retired
        .first()
        .map_or_else(|| made(&current), |(_, path)| made(path));
    for (retired_at, path) in retired {
        insert_key(
            store,
            kek,
            LocalSigner::read_pkcs8(&path)?,
            &timestamp::from_unix_millis(signs_from),
        )
        .await?;
        // Strictly later than its predecessor (a file name has whole seconds), so the order
        // holds within one second too.
        signs_from = (retired_at * 1000).max(signs_from + 1);
    }
    let kid = insert_key(
        store,
        kek,
        LocalSigner::read_pkcs8(&current)?,
        &timestamp::from_unix_millis(signs_from),
    )
    .await?;
    tracing::info!(kid, dir = %dir.display(), "signing keys moved from the data directory into the database (the files can be deleted)");
    Ok(())
}
