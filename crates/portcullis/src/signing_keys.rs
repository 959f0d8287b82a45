//! The key ring a command signs with: in the database when a key-encryption key is configured
//! (every replica shares it with the data), else in the data directory.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use portcullis_core::Store;
use portcullis_oauth::KeyRing;

use crate::config::CommonSettings;

/// Opens (or creates) the ring; `rotate_every` schedules rotation (database keys only).
pub async fn open_ring(
    common: &CommonSettings,
    retention: Duration,
    store: &Store,
    rotate_every: Option<Duration>,
) -> anyhow::Result<Arc<KeyRing>> {
    match &common.key_encryption_key {
        Some(kek) => KeyRing::in_database(
            store.oauth(),
            kek.clone(),
            retention,
            &common.keys_dir(),
            rotate_every,
        )
        .await
        .context("cannot use the signing keys in the database"),
        None => Ok(Arc::new(
            KeyRing::open(&common.keys_dir(), retention)
                .context("cannot load or create the signing key (check --data-dir permissions)")?,
        )),
    }
}
