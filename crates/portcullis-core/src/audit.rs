//! The audit trail: one row per authentication or authorization decision. Rows name
//! credentials by their public ids (an API key's id, an OAuth client id) and never hold a
//! secret; `reason` is one of a fixed set of sentences written by the HTTP layer.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::{
    EntityId, Store, StoreError,
    audit_journal::{self, AuditJournal},
    db::{Columns, Durability, Param},
    timestamp,
};

/// Rows per statement group when the journal is moved into the table.
const MOVE_IN_CHUNK: usize = 64;
/// Every this many rounds, the journal directory is searched for files of dead processes.
const RESCAN_ROUNDS: u32 = 25;

/// One decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: String,
    pub occurred_at: String,
    /// `oauth`, `api_key` or `none` (nothing usable was presented).
    pub method: String,
    /// The API key id or OAuth client id, when known.
    pub credential: Option<String>,
    /// The authenticated subject (token `sub`, or the key's owner).
    pub subject: Option<String>,
    /// The user a trusted key acted for (`X-Mcp-User` / `X-User-ID`).
    pub acting_user: Option<String>,
    pub tenant: Option<String>,
    /// `authenticate` or the MCP method (`tools/call`, `tools/list` …).
    pub action: String,
    pub tool: Option<String>,
    /// The upstream MCP server the tool belongs to (gateway mode); `None` for built-in tools.
    pub upstream: Option<String>,
    /// `allowed` or `denied`.
    pub decision: String,
    pub reason: String,
}

impl AuditEvent {
    /// A new event stamped now; fill in the optional fields as known.
    pub fn new(method: &str, action: &str, allowed: bool, reason: impl Into<String>) -> Self {
        Self {
            id: EntityId::generate().to_string(),
            occurred_at: timestamp::now(),
            method: method.to_owned(),
            credential: None,
            subject: None,
            acting_user: None,
            tenant: None,
            action: action.to_owned(),
            tool: None,
            upstream: None,
            decision: if allowed { "allowed" } else { "denied" }.to_owned(),
            reason: reason.into(),
        }
    }
}

/// What `portcullis audit` asks for; every field narrows the result.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only events at or after this stored timestamp.
    pub since: Option<String>,
    /// `allowed` or `denied`.
    pub decision: Option<String>,
    /// Matches `subject` or `acting_user`.
    pub user: Option<String>,
    pub tool: Option<String>,
    /// Newest events first, at most this many.
    pub limit: u32,
}

impl AuditQuery {
    /// The query's filters (the `WHERE` of [`Store::query_audit`]) applied to one event.
    fn matches(&self, e: &AuditEvent) -> bool {
        self.since
            .as_ref()
            .is_none_or(|since| e.occurred_at >= *since)
            && self.decision.as_ref().is_none_or(|d| e.decision == *d)
            && self
                .user
                .as_ref()
                .is_none_or(|u| e.subject.as_ref() == Some(u) || e.acting_user.as_ref() == Some(u))
            && self
                .tool
                .as_ref()
                .is_none_or(|t| e.tool.as_ref() == Some(t))
    }
}

/// The journal of a SQLite server and the task moving it into the table.
pub(crate) struct JournalRunner {
    journal: Arc<AuditJournal>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

fn event_params(e: &AuditEvent) -> [Param<'_>; 12] {
    [
        Param::Text(&e.id),
        Param::Text(&e.occurred_at),
        Param::Text(&e.method),
        Param::OptText(e.credential.as_deref()),
        Param::OptText(e.subject.as_deref()),
        Param::OptText(e.acting_user.as_deref()),
        Param::OptText(e.tenant.as_deref()),
        Param::Text(&e.action),
        Param::OptText(e.tool.as_deref()),
        Param::Text(&e.decision),
        Param::Text(&e.reason),
        Param::OptText(e.upstream.as_deref()),
    ]
}

/// Skips an event already there: moving a journal file in a second time is harmless.
const INSERT_EVENT: &str = "INSERT INTO audit_events (id, occurred_at, method, credential, subject, \
     acting_user, tenant_id, action, tool, decision, reason, upstream) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO NOTHING";

fn event_from_row(row: &dyn Columns) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        id: row.text(0)?,
        occurred_at: row.text(1)?,
        method: row.text(2)?,
        credential: row.opt_text(3)?,
        subject: row.opt_text(4)?,
        acting_user: row.opt_text(5)?,
        tenant: row.opt_text(6)?,
        action: row.text(7)?,
        tool: row.opt_text(8)?,
        decision: row.text(9)?,
        reason: row.text(10)?,
        upstream: row.opt_text(11)?,
    })
}

impl Store {
    /// Records events and returns once they are safe from the process being killed. On a
    /// SQLite server with the journal started that is an append to the journal (see
    /// [`crate::audit_journal`]); otherwise each is its own statement: on SQLite concurrent
    /// writes share one commit, audit events alone without an fsync (the next commit of any
    /// other write, or a checkpoint, syncs them); PostgreSQL commits durably.
    pub async fn record_audit(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        if let Some(runner) = &self.journal {
            return runner.journal.append(events);
        }
        let writes = events.iter().map(|e| async move {
            self.db
                .execute_with(Durability::ProcessCrash, INSERT_EVENT, &event_params(e))
                .await
        });
        for result in futures::future::join_all(writes).await {
            result?;
        }
        Ok(())
    }

    /// Sends audit events to a journal first (SQLite; PostgreSQL is left as it is) and starts
    /// moving it into the table. Files left by a process that died are moved in before this
    /// returns. Call once, on the store a server records with, before cloning it.
    pub async fn start_audit_journal(mut self, max_backlog: u64) -> Result<Self, StoreError> {
        let Some(dir) = self.db.sqlite_path().map(audit_journal::directory_of) else {
            return Ok(self);
        };
        let journal = Arc::new(
            tokio::task::spawn_blocking(move || AuditJournal::open(dir, max_backlog))
                .await
                .map_err(|e| StoreError::Database(Box::new(e)))??,
        );
        let mover = self.clone();
        mover.move_in(&journal, true).await;
        let task = tokio::spawn({
            let journal = journal.clone();
            async move {
                for round in 1u32.. {
                    tokio::time::sleep(audit_journal::INGEST_EVERY).await;
                    mover.move_in(&journal, round % RESCAN_ROUNDS == 0).await;
                }
            }
        });
        self.journal = Some(Arc::new(JournalRunner {
            journal,
            task: Mutex::new(Some(task)),
        }));
        Ok(self)
    }

    /// Moves everything still in the journal into the table (at shutdown).
    pub(crate) async fn stop_audit_journal(&self) {
        let Some(runner) = &self.journal else { return };
        let task = runner.task.lock().expect("poisoned").take();
        if let Some(task) = task {
            // A file the task held when stopped is unlocked by the abort: the rescan takes it.
            task.abort();
            let _ = task.await;
        }
        self.move_in(&runner.journal, true).await;
        runner.journal.close();
    }

    /// One round: seals this process's file, moves it (and any file waiting from an earlier
    /// round, and with `rescan` any file a dead process left) into the table, deletes what
    /// is committed and keeps the rest for the next round.
    async fn move_in(&self, journal: &AuditJournal, rescan: bool) {
        let mut files = journal.seal().unwrap_or_else(|error| {
            tracing::error!(%error, "could not seal the audit journal file; retrying");
            Vec::new()
        });
        if rescan {
            files.extend(journal.abandoned());
        }
        for sealed in files {
            let path = sealed.path().to_owned();
            let written =
                match tokio::task::spawn_blocking(move || audit_journal::complete_lines(&path))
                    .await
                {
                    Ok(Ok(lines)) => self.insert_audit(lines.chunks(MOVE_IN_CHUNK)).await,
                    Ok(Err(e)) => Err(StoreError::Database(Box::new(e))),
                    Err(e) => Err(StoreError::Database(Box::new(e))),
                };
            match written {
                Ok(()) => journal.moved_in(sealed),
                Err(error) => {
                    tracing::warn!(%error, file = %sealed.path().display(), "could not move audit journal events into the database yet; they wait in the journal");
                    journal.retry(sealed);
                }
            }
        }
    }

    /// Inserts events durably, skipping any already there: each chunk its own commit, so
    /// requests run between them; only the last commit syncs (and so syncs the earlier ones'
    /// WAL frames too).
    async fn insert_audit(
        &self,
        chunks: impl Iterator<Item = Vec<AuditEvent>>,
    ) -> Result<(), StoreError> {
        let mut chunks = chunks.peekable();
        while let Some(chunk) = chunks.next() {
            let rows: Vec<_> = chunk.iter().map(event_params).collect();
            let durability = if chunks.peek().is_none() {
                Durability::PowerLoss
            } else {
                Durability::ProcessCrash
            };
            self.db
                .execute_many(durability, INSERT_EVENT, &rows)
                .await?;
        }
        Ok(())
    }

    /// Events matching `query`, newest first: the table's and, on SQLite, the journal's not
    /// yet moved in (read first: a file moved in meanwhile is then in the table).
    pub async fn query_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        let journaled = match self.db.sqlite_path().map(audit_journal::directory_of) {
            Some(dir) => tokio::task::spawn_blocking(move || audit_journal::read_pending(&dir))
                .await
                .map_err(|e| StoreError::Database(Box::new(e)))?,
            None => Vec::new(),
        };
        // Unused filters compare against themselves ($n IS NULL), which both engines plan once:
        // this is an operator's query, not a hot path.
        let mut events = self
            .db
            .fetch_all(
                "SELECT id, occurred_at, method, credential, subject, acting_user, tenant_id, \
                 action, tool, decision, reason, upstream FROM audit_events \
                 WHERE ($1 IS NULL OR occurred_at >= $1) \
                   AND ($2 IS NULL OR decision = $2) \
                   AND ($3 IS NULL OR subject = $3 OR acting_user = $3) \
                   AND ($4 IS NULL OR tool = $4) \
                 ORDER BY occurred_at DESC, id DESC LIMIT $5",
                &[
                    Param::OptText(query.since.as_deref()),
                    Param::OptText(query.decision.as_deref()),
                    Param::OptText(query.user.as_deref()),
                    Param::OptText(query.tool.as_deref()),
                    Param::Int(i64::from(query.limit)),
                ],
                event_from_row,
            )
            .await?;
        if journaled.is_empty() {
            return Ok(events);
        }
        events.extend(journaled.into_iter().filter(|e| query.matches(e)));
        events.sort_by(|a, b| (&b.occurred_at, &b.id).cmp(&(&a.occurred_at, &a.id)));
        events.dedup_by(|a, b| a.id == b.id);
        events.truncate(query.limit as usize);
        Ok(events)
    }
}
