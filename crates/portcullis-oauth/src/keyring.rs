//! The authorization server's signing keys: the key that signs, and retired keys still
//! published in the JWKS until every token they signed has expired. They live either
//!
//! - in the data directory: `keys/signing-key.pem` signs; `keys/retired/<unix-time>-<kid>.pem`
//!   are keys rotated out. Replicas must share the directory. `portcullis keys rotate` changes
//!   the files; running servers notice within a second or two (or at once when a token names a
//!   key id they do not hold); or
//! - in the database ([`database`]), private keys sealed under the operator's key-encryption
//!   key: every replica shares them with the data, and a rotation reaches every replica
//!   without a restart and without a shared directory.

mod database;

pub use database::KeyRingError;

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::jwk::JwkSet;
use portcullis_auth::{
    KeyProvider, KeySet,
    signing::{LocalSigner, SigningError},
};

pub(crate) const CURRENT: &str = "signing-key.pem";
const NEXT: &str = "next-signing-key.pem";
const RETIRED: &str = "retired";
/// Least time between looks at the directory.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// Least time between looks forced by a token naming an unknown key id.
const FORCED_CHECK_INTERVAL: Duration = Duration::from_millis(100);

struct Keys {
    signer: Arc<LocalSigner>,
    jwks: JwkSet,
    key_set: KeySet,
    /// The signing key file's modification time (directory keys).
    stamp: Option<SystemTime>,
    loaded_at: Instant,
}

impl Keys {
    fn new(signer: LocalSigner, jwks: JwkSet, stamp: Option<SystemTime>) -> Self {
        Self {
            key_set: KeySet::from_jwks(&jwks),
            signer: Arc::new(signer),
            jwks,
            stamp,
            loaded_at: Instant::now(),
        }
    }
}

/// Where the keys live.
enum Source {
    Directory(PathBuf),
    Database(database::Stored),
}

/// The signing key plus the retired keys still published.
pub struct KeyRing {
    source: Source,
    /// How long a retired key stays published: the longest access-token lifetime plus leeway.
    retention: Duration,
    keys: RwLock<Arc<Keys>>,
    last_check: Mutex<Instant>,
    /// Bumped on every reload, so verifiers adopt changed keys (a retired key aged out, a
    /// rotation by another process) without waiting for an unknown key id.
    version: AtomicU64,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.source {
            Source::Directory(dir) => dir.display().to_string(),
            Source::Database(_) => "database".into(),
        };
        f.debug_struct("KeyRing")
            .field("source", &source)
            .field("kid", &self.signer().kid())
            .finish()
    }
}

/// What `rotate` did.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub retired_kid: String,
    pub new_kid: String,
    pub pruned: usize,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn stamp(dir: &Path) -> Option<SystemTime> {
    std::fs::metadata(dir.join(CURRENT))
        .and_then(|m| m.modified())
        .ok()
}

/// Retired key files with their retirement time.
pub(crate) fn retired_files(dir: &Path) -> Vec<(u64, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir.join(RETIRED)) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let time = name.split_once('-')?.0.parse().ok()?;
            name.ends_with(".pem").then(|| (time, e.path()))
        })
        .collect()
}

/// A key retired at `retired_at` can no longer have live tokens after `retention`.
fn aged_out(retired_at: u64, retention: Duration) -> bool {
    retired_at.saturating_add(retention.as_secs()) <= unix_now()
}

fn load(dir: &Path, retention: Duration, generate: bool) -> Result<Keys, SigningError> {
    let signer = if generate {
        LocalSigner::load_or_generate(dir)?
    } else {
        LocalSigner::load(&dir.join(CURRENT))?
    };
    let mut jwks = signer.jwks();
    for (retired_at, path) in retired_files(dir) {
        if aged_out(retired_at, retention) {
            continue;
        }
        match LocalSigner::load(&path) {
            Ok(old) if old.kid() != signer.kid() => jwks.keys.push(old.jwk().clone()),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "skipping an unreadable retired signing key"),
        }
    }
    Ok(Keys::new(signer, jwks, stamp(dir)))
}

impl KeyRing {
    /// Opens the ring in `dir`, generating the first key if there is none.
    pub fn open(dir: &Path, retention: Duration) -> Result<Self, SigningError> {
        let keys = load(dir, retention, true)?;
        Ok(Self {
            source: Source::Directory(dir.to_owned()),
            retention,
            keys: RwLock::new(Arc::new(keys)),
            last_check: Mutex::new(Instant::now()),
            version: AtomicU64::new(0),
        })
    }

    fn snapshot(&self) -> Arc<Keys> {
        self.maybe_reload(CHECK_INTERVAL);
        self.keys.read().expect("key ring poisoned").clone()
    }

    fn maybe_reload(&self, interval: Duration) {
        // Database keys are refreshed by their own task (see `database`).
        let Source::Directory(dir) = &self.source else {
            return;
        };
        {
            let mut last = self.last_check.lock().expect("key ring poisoned");
            if last.elapsed() < interval {
                return;
            }
            *last = Instant::now();
        }
        let (current, loaded_at) = {
            let keys = self.keys.read().expect("key ring poisoned");
            (keys.stamp, keys.loaded_at)
        };
        let on_disk = stamp(dir);
        // Retired keys age out of the JWKS even when nothing changed on disk, so reload when
        // the file changed or at least once a minute.
        let stale = current != on_disk;
        let periodic = loaded_at.elapsed() >= Duration::from_secs(60);
        if !(stale || periodic) || on_disk.is_none() {
            return;
        }
        match load(dir, self.retention, false) {
            Ok(keys) => {
                if stale {
                    tracing::info!(
                        kid = keys.signer.kid(),
                        "signing key changed on disk; reloaded"
                    );
                }
                self.replace(keys);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot reload the signing keys; keeping the loaded ones")
            }
        }
    }

    /// Puts `keys` in use; verifiers see the new version and adopt them.
    fn replace(&self, keys: Keys) {
        *self.keys.write().expect("key ring poisoned") = Arc::new(keys);
        self.version.fetch_add(1, Ordering::AcqRel);
    }

    /// The key that signs new tokens.
    pub fn signer(&self) -> Arc<LocalSigner> {
        self.snapshot().signer.clone()
    }

    /// The published keys (RFC 7517): the signing key and retired keys still in use.
    pub fn jwks(&self) -> JwkSet {
        self.snapshot().jwks.clone()
    }

    /// Retires the signing key and makes a new one. Retired keys older than `retention` are
    /// deleted. Safe while servers run: they keep the old key until the new one is in place.
    pub fn rotate(dir: &Path, retention: Duration) -> Result<Rotation, SigningError> {
        let old = LocalSigner::load_or_generate(dir)?;
        let retired_dir = dir.join(RETIRED);
        let io = |e: std::io::Error| SigningError::Key {
            path: dir.display().to_string(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(&retired_dir).map_err(io)?;
        let next_path = dir.join(NEXT);
        // A leftover from an interrupted rotation was never used to sign: start over.
        let _ = std::fs::remove_file(&next_path);
        let new = LocalSigner::generate(&next_path)?;
        let retired_path = retired_dir.join(format!("{}-{}.pem", unix_now(), old.kid()));
        std::fs::rename(dir.join(CURRENT), &retired_path).map_err(io)?;
        std::fs::rename(&next_path, dir.join(CURRENT)).map_err(io)?;
        let mut pruned = 0;
        for (retired_at, path) in retired_files(dir) {
            if aged_out(retired_at, retention) && std::fs::remove_file(path).is_ok() {
                pruned += 1;
            }
        }
        Ok(Rotation {
            retired_kid: old.kid().to_owned(),
            new_kid: new.kid().to_owned(),
            pruned,
        })
    }
}

impl KeyProvider for KeyRing {
    /// Asked when a token names a key id we do not hold: look at the disk now (a rotation by
    /// another process), bounded to ten looks a second.
    fn keys(&self) -> KeySet {
        self.maybe_reload(FORCED_CHECK_INTERVAL);
        self.keys.read().expect("key ring poisoned").key_set.clone()
    }

    /// Looks at the disk at most once a second.
    fn version(&self) -> u64 {
        self.maybe_reload(CHECK_INTERVAL);
        self.version.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_the_old_key_published_until_retention_ends() {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::open(dir.path(), Duration::from_secs(3600)).unwrap();
        let first = ring.signer().kid().to_owned();
        let rotation = KeyRing::rotate(dir.path(), Duration::from_secs(3600)).unwrap();
        assert_eq!(rotation.retired_kid, first);
        // A new ring (another replica, or a restart) signs with the new key, publishes both.
        let reopened = KeyRing::open(dir.path(), Duration::from_secs(3600)).unwrap();
        assert_eq!(reopened.signer().kid(), rotation.new_kid);
        let kids: Vec<_> = reopened
            .jwks()
            .keys
            .iter()
            .map(|k| k.common.key_id.clone().unwrap())
            .collect();
        assert_eq!(kids, vec![rotation.new_kid.clone(), first.clone()]);
        // With no retention the retired key is neither published nor kept.
        let again = KeyRing::rotate(dir.path(), Duration::ZERO).unwrap();
        assert_eq!(again.pruned, 2);
        let short = KeyRing::open(dir.path(), Duration::ZERO).unwrap();
        assert_eq!(short.jwks().keys.len(), 1);
    }

    #[tokio::test]
    async fn a_verifier_drops_a_removed_key_even_for_a_token_it_has_cached() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Arc::new(KeyRing::open(dir.path(), Duration::from_secs(3600)).unwrap());
        let (iss, aud) = ("http://127.0.0.1:1", "http://127.0.0.1:1/mcp");
        let config = portcullis_auth::ResourceServerConfig::new(
            aud.parse().unwrap(),
            iss.into(),
            portcullis_auth::KeySource::Provider(ring.clone()),
        );
        let rs = portcullis_auth::ResourceServer::new(config).await.unwrap();
        let token = ring
            .signer()
            .mint(&portcullis_auth::signing::MintRequest {
                issuer: iss,
                audience: aud,
                subject: "alice",
                client_id: "cli",
                scope: "tasks:read",
                tenant: None,
                grant_id: None,
                ttl: Duration::from_secs(600),
            })
            .unwrap();
        rs.verify(&token).await.unwrap();
        rs.verify(&token).await.unwrap();
        assert_eq!(rs.verifier().cached_tokens(), 1);
        // Another process rotates with no retention: the token's key is gone from disk.
        KeyRing::rotate(dir.path(), Duration::ZERO).unwrap();
        // The ring looks at the disk at most once a second.
        std::thread::sleep(CHECK_INTERVAL + Duration::from_millis(100));
        assert!(
            rs.verify(&token).await.is_err(),
            "a removed key still verified"
        );
    }
}
