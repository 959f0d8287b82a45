//! Tasks: a user's to-do items, optionally filed in one of their workspaces.

use serde::Serialize;
use sqlx::{Row, any::AnyRow};

use crate::{
    Actor, Description, EntityId, Limit, Store, StoreError, TaskStatus, TaskTitle, timestamp,
};

/// A task as stored and as returned to clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Task {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub status: TaskStatus,
    pub workspace_id: Option<String>,
    pub completed_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// Input of [`Store::create_task`], already validated.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub title: TaskTitle,
    pub description: Option<Description>,
    pub workspace_id: Option<EntityId>,
}

/// Changes of [`Store::update_task`]; `None` leaves a field as it is. `Some(None)` clears an
/// optional field.
#[derive(Debug, Clone, Default)]
pub struct TaskPatch {
    pub title: Option<TaskTitle>,
    pub description: Option<Option<Description>>,
    pub status: Option<TaskStatus>,
    pub workspace_id: Option<Option<EntityId>>,
}

/// Filters of [`Store::list_tasks`].
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub status: Option<TaskStatus>,
    pub workspace_id: Option<EntityId>,
    pub limit: Limit,
}

// A macro rather than a const: sqlx only takes SQL known at compile time.
macro_rules! task_columns {
    () => {
        "id, title, description, status, workspace_id, completed_at, created_at, updated_at"
    };
}

fn task_from_row(row: &AnyRow) -> Result<Task, sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(Task {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        status: status.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        workspace_id: row.try_get("workspace_id")?,
        completed_at: row.try_get("completed_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    /// The actor's tasks, oldest first.
    pub async fn list_tasks(&self, actor: &Actor, filter: &TaskFilter) -> Result<Vec<Task>, StoreError> {
        let sql = concat!(
            "SELECT ",
            task_columns!(),
            " FROM tasks WHERE tenant_id = $1 AND owner_id = $2 \
             AND ($3 IS NULL OR status = $3) AND ($4 IS NULL OR workspace_id = $4) \
             ORDER BY created_at, id LIMIT $5"
        );
        let rows = sqlx::query(sql)
            .bind(actor.tenant.as_str())
            .bind(&actor.user_id)
            .bind(filter.status.map(TaskStatus::as_str))
            .bind(filter.workspace_id.as_ref().map(EntityId::as_str))
            .bind(i64::from(filter.limit.get()))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(task_from_row).collect::<Result<_, _>>()?)
    }

    pub async fn get_task(&self, actor: &Actor, id: &EntityId) -> Result<Task, StoreError> {
        let sql = concat!(
            "SELECT ",
            task_columns!(),
            " FROM tasks WHERE id = $1 AND tenant_id = $2 AND owner_id = $3"
        );
        let row = sqlx::query(sql)
            .bind(id.as_str())
            .bind(actor.tenant.as_str())
            .bind(&actor.user_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::not_found("task", id))?;
        Ok(task_from_row(&row)?)
    }

    pub async fn create_task(&self, actor: &Actor, new: NewTask) -> Result<Task, StoreError> {
        if let Some(ws) = &new.workspace_id {
            self.get_workspace(actor, ws).await?;
        }
        let now = timestamp::now();
        let task = Task {
            id: EntityId::generate().to_string(),
            title: new.title.as_str().to_owned(),
            description: new.description.map(|d| d.as_str().to_owned()),
            status: TaskStatus::Todo,
            workspace_id: new.workspace_id.map(|w| w.to_string()),
            completed_at: None,
            created_at: now.clone(),
            updated_at: now,
        };
        sqlx::query(
            "INSERT INTO tasks (id, tenant_id, owner_id, workspace_id, title, description, \
             status, completed_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $9)",
        )
        .bind(&task.id)
        .bind(actor.tenant.as_str())
        .bind(&actor.user_id)
        .bind(task.workspace_id.as_deref())
        .bind(&task.title)
        .bind(task.description.as_deref())
        .bind(task.status.as_str())
        .bind(&task.created_at)
        .bind(&task.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(task)
    }

    /// Applies `patch`; moving a task to `done` stamps `completed_at`, moving it out clears it.
    pub async fn update_task(
        &self,
        actor: &Actor,
        id: &EntityId,
        patch: TaskPatch,
    ) -> Result<Task, StoreError> {
        let mut task = self.get_task(actor, id).await?;
        if let Some(Some(ws)) = &patch.workspace_id {
            self.get_workspace(actor, ws).await?;
        }
        let now = timestamp::now();
        if let Some(title) = patch.title {
            task.title = title.as_str().to_owned();
        }
        if let Some(description) = patch.description {
            task.description = description.map(|d| d.as_str().to_owned());
        }
        if let Some(workspace) = patch.workspace_id {
            task.workspace_id = workspace.map(|w| w.to_string());
        }
        if let Some(status) = patch.status {
            if status != task.status {
                task.completed_at = (status == TaskStatus::Done).then(|| now.clone());
            }
            task.status = status;
        }
        task.updated_at = now;
        let updated = sqlx::query(
            "UPDATE tasks SET title = $1, description = $2, status = $3, workspace_id = $4, \
             completed_at = $5, updated_at = $6 WHERE id = $7 AND tenant_id = $8 AND owner_id = $9",
        )
        .bind(&task.title)
        .bind(task.description.as_deref())
        .bind(task.status.as_str())
        .bind(task.workspace_id.as_deref())
        .bind(task.completed_at.as_deref())
        .bind(&task.updated_at)
        .bind(id.as_str())
        .bind(actor.tenant.as_str())
        .bind(&actor.user_id)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            // Deleted between the read and the write.
            return Err(StoreError::not_found("task", id));
        }
        Ok(task)
    }

    pub async fn complete_task(&self, actor: &Actor, id: &EntityId) -> Result<Task, StoreError> {
        let patch = TaskPatch { status: Some(TaskStatus::Done), ..TaskPatch::default() };
        self.update_task(actor, id, patch).await
    }

    pub async fn delete_task(&self, actor: &Actor, id: &EntityId) -> Result<(), StoreError> {
        let deleted = sqlx::query("DELETE FROM tasks WHERE id = $1 AND tenant_id = $2 AND owner_id = $3")
            .bind(id.as_str())
            .bind(actor.tenant.as_str())
            .bind(&actor.user_id)
            .execute(&self.pool)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::not_found("task", id));
        }
        Ok(())
    }
}
