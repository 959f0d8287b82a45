//! Administration of one tenant's users, for the admin tools. A [`TenantAdmin`] is bound to one
//! tenant when it is made and every query filters by it, so an administrator of one tenant
//! cannot name, count or delete another tenant's users.

use serde::Serialize;

use crate::{
    EntityId, Store, StoreError, TenantId, ValidationError,
    db::{Columns, Param},
    timestamp,
};

/// A user as administrators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserRecord {
    pub id: String,
    /// The identity-provider subject (`sub`) or name the user is known by.
    pub subject: String,
    pub tenant: String,
    pub created_at: String,
    pub task_count: i64,
    pub workspace_count: i64,
}

/// Counts for `system_stats`, within the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantStats {
    pub tenant: String,
    pub users: i64,
    pub tasks: i64,
    pub open_tasks: i64,
    pub workspaces: i64,
    pub active_api_keys: i64,
}

/// Admin operations inside one tenant.
#[derive(Clone)]
pub struct TenantAdmin {
    store: Store,
    tenant: TenantId,
}

macro_rules! user_select {
    ($where:literal) => {
        concat!(
            "SELECT u.id, u.subject, u.tenant_id, u.created_at, \
             (SELECT COUNT(*) FROM tasks t WHERE t.owner_id = u.id AND t.tenant_id = u.tenant_id), \
             (SELECT COUNT(*) FROM workspaces w WHERE w.owner_id = u.id AND w.tenant_id = u.tenant_id) \
             FROM users u WHERE u.tenant_id = $1",
            $where
        )
    };
}

fn user_from_row(row: &dyn Columns) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        id: row.text(0)?,
        subject: row.text(1)?,
        tenant: row.text(2)?,
        created_at: row.text(3)?,
        task_count: row.int(4)?,
        workspace_count: row.int(5)?,
    })
}

fn count(row: &dyn Columns) -> Result<i64, StoreError> {
    row.int(0)
}

impl Store {
    pub fn tenant_admin(&self, tenant: TenantId) -> TenantAdmin {
        TenantAdmin {
            store: self.clone(),
            tenant,
        }
    }
}

impl TenantAdmin {
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    pub async fn list_users(&self, limit: u32) -> Result<Vec<UserRecord>, StoreError> {
        self.store
            .db
            .fetch_all(
                user_select!(" ORDER BY u.created_at, u.id LIMIT $2"),
                &[
                    Param::Text(self.tenant.as_str()),
                    Param::Int(i64::from(limit)),
                ],
                user_from_row,
            )
            .await
    }

    pub async fn get_user(&self, id: &EntityId) -> Result<UserRecord, StoreError> {
        self.store
            .db
            .fetch_optional(
                user_select!(" AND u.id = $2"),
                &[Param::Text(self.tenant.as_str()), Param::Text(id.as_str())],
                user_from_row,
            )
            .await?
            .ok_or_else(|| StoreError::not_found("user", id.as_str()))
    }

    /// Registers a user by subject ahead of their first call; refuses a subject already known.
    pub async fn create_user(&self, subject: &str) -> Result<UserRecord, StoreError> {
        let subject = subject.trim();
        if subject.is_empty() || subject.len() > 255 || subject.chars().any(char::is_control) {
            return Err(ValidationError::new("subject", "must be 1 to 255 printable bytes").into());
        }
        let id = EntityId::generate();
        let inserted = self
            .store
            .db
            .execute(
                "INSERT INTO users (id, tenant_id, subject, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant_id, subject) DO NOTHING",
                &[
                    Param::Text(id.as_str()),
                    Param::Text(self.tenant.as_str()),
                    Param::Text(subject),
                    Param::Text(&timestamp::now()),
                ],
            )
            .await?;
        if inserted == 0 {
            return Err(StoreError::Conflict {
                entity: "user",
                id: subject.to_owned(),
            });
        }
        self.get_user(&id).await
    }

    /// Deletes the user with their tasks and workspaces (foreign keys cascade).
    pub async fn delete_user(&self, id: &EntityId) -> Result<UserRecord, StoreError> {
        let user = self.get_user(id).await?;
        // Children first: SQLite enforces the cascade only with foreign keys on, and being
        // explicit keeps both engines identical.
        for sql in [
            "DELETE FROM tasks WHERE owner_id = $1 AND tenant_id = $2",
            "DELETE FROM workspaces WHERE owner_id = $1 AND tenant_id = $2",
            "DELETE FROM users WHERE id = $1 AND tenant_id = $2",
        ] {
            self.store
                .db
                .execute(
                    sql,
                    &[Param::Text(id.as_str()), Param::Text(self.tenant.as_str())],
                )
                .await?;
        }
        self.store.forget_actor(&self.tenant, &user.subject);
        Ok(user)
    }

    pub async fn stats(&self) -> Result<TenantStats, StoreError> {
        let tenant = [Param::Text(self.tenant.as_str())];
        let tenant = &tenant;
        let db = &self.store.db;
        let one = |sql: &'static str| async move {
            Ok::<_, StoreError>(
                db.fetch_optional(sql, tenant, count)
                    .await?
                    .unwrap_or_default(),
            )
        };
        Ok(TenantStats {
            tenant: self.tenant.to_string(),
            users: one("SELECT COUNT(*) FROM users WHERE tenant_id = $1").await?,
            tasks: one("SELECT COUNT(*) FROM tasks WHERE tenant_id = $1").await?,
            open_tasks: one("SELECT COUNT(*) FROM tasks WHERE tenant_id = $1 AND status <> 'done'")
                .await?,
            workspaces: one("SELECT COUNT(*) FROM workspaces WHERE tenant_id = $1").await?,
            active_api_keys: one(
                "SELECT COUNT(*) FROM api_keys WHERE tenant_id = $1 AND revoked_at IS NULL",
            )
            .await?,
        })
    }
}
