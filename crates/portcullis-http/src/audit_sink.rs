//! Writes audit events off the request path. Requests hand events to a bounded queue and go
//! on; one task writes whatever has queued up in one go (on SQLite, one commit). A full queue
//! makes requests wait rather than drop events: the trail must be complete. When the last
//! sender is gone (the server has stopped) the task writes what is left and ends.

use portcullis_core::{AuditEvent, Store};
use tokio::sync::mpsc;

const QUEUE: usize = 8192;
const BATCH: usize = 512;

#[derive(Clone, Debug)]
pub struct AuditSink {
    tx: mpsc::Sender<AuditEvent>,
}

impl AuditSink {
    /// Starts the writer task; await the handle after the server stops to flush.
    pub fn spawn(store: Store) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<AuditEvent>(QUEUE);
        let writer = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                if let Err(error) = store.record_audit(&batch).await {
                    // Never silently: the operator learns how many decisions went unrecorded.
                    tracing::error!(%error, lost = batch.len(), "could not write audit events");
                }
                batch.clear();
            }
        });
        (Self { tx }, writer)
    }

    pub async fn record(&self, event: AuditEvent) {
        if self.tx.send(event).await.is_err() {
            tracing::error!("audit writer has stopped; an audit event was not recorded");
        }
    }
}
