//! Records audit events before the request they describe goes on: a call is run (and so can be
//! acknowledged) only after its decision is committed, so a process killed at any moment never
//! leaves an answered call missing from the trail.
//!
//! Writes are batched by the store, not here: on SQLite every event waiting at that moment
//! shares one commit (audit-only commits skip the fsync, see `Store::record_audit`), and on
//! PostgreSQL concurrent commits share WAL flushes. At most `IN_FLIGHT` events wait at once;
//! more wait for a slot (back-pressure), none is dropped. When the store cannot write, the
//! caller learns it and refuses the call: fail closed.

use std::sync::Arc;

use portcullis_core::{AuditEvent, Store};
use tokio::sync::Semaphore;

const IN_FLIGHT: usize = 8192;

#[derive(Clone, Debug)]
pub struct AuditSink {
    store: Store,
    slots: Arc<Semaphore>,
}

/// The event could not be recorded; the request it describes must not go on.
#[derive(Debug)]
pub struct AuditUnavailable;

impl std::fmt::Display for AuditUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the audit trail cannot be written")
    }
}

impl std::error::Error for AuditUnavailable {}

impl AuditSink {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            slots: Arc::new(Semaphore::new(IN_FLIGHT)),
        }
    }

    /// Returns once `event` is committed.
    pub async fn record(&self, event: AuditEvent) -> Result<(), AuditUnavailable> {
        let _slot = self
            .slots
            .acquire()
            .await
            .expect("the semaphore is never closed");
        self.store
            .record_audit(std::slice::from_ref(&event))
            .await
            .map_err(|error| {
                // Never silently: the operator learns which decision went unrecorded.
                tracing::error!(%error, action = %event.action, decision = %event.decision, "could not write an audit event; the request is refused");
                AuditUnavailable
            })
    }
}
