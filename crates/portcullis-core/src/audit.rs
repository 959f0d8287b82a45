//! The audit trail: one row per authentication or authorization decision. Rows name
//! credentials by their public ids (an API key's id, an OAuth client id) and never hold a
//! secret; `reason` is one of a fixed set of sentences written by the HTTP layer.

use serde::Serialize;

use crate::{
    EntityId, Store, StoreError,
    db::{Columns, Durability, Param},
    timestamp,
};

/// One decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    /// Writes events and returns once they are committed. Each is its own statement; on SQLite
    /// concurrent writes share one commit, and a commit of audit events alone is durable
    /// against the process being killed but not against a power loss (WAL without fsync;
    /// the next commit of any other write, or a checkpoint, syncs them).
    pub async fn record_audit(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        let writes = events.iter().map(|e| async move {
            let params = [
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
            ];
            self.db
                .execute_with(
                    Durability::ProcessCrash,
                    "INSERT INTO audit_events (id, occurred_at, method, credential, subject, \
                     acting_user, tenant_id, action, tool, decision, reason, upstream) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    &params,
                )
                .await
        });
        for result in futures::future::join_all(writes).await {
            result?;
        }
        Ok(())
    }

    pub async fn query_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        // Unused filters compare against themselves ($n IS NULL), which both engines plan once:
        // this is an operator's query, not a hot path.
        self.db
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
            .await
    }
}
