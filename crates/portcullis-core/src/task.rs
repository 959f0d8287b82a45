//! Tasks: a user's to-do items, optionally filed in one of their workspaces.

use serde::{Deserialize, Serialize};

use crate::{
    Actor, Description, EntityId, Limit, Store, StoreError, TaskStatus, TaskTitle,
    db::{Columns, Param},
    timestamp,
};

/// A task as stored and as returned to clients.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    #[cfg_attr(feature = "openapi", schema(format = "uuid"))]
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

// A macro rather than a const so it can be `concat!`ed into static SQL.
macro_rules! task_columns {
    () => {
        "id, title, description, status, workspace_id, completed_at, created_at, updated_at"
    };
}

/// The `list_tasks` statement for a filter combination. One statement per combination rather
/// than `($3 IS NULL OR status = $3)`: SQLite re-plans a statement on every run when a bound
/// value decides its plan. Each is served in index order, with no sort (see the test below).
pub(crate) fn list_sql(by_status: bool, by_workspace: bool) -> &'static str {
    macro_rules! list_sql {
        ($filters:literal) => {
            concat!(
                "SELECT ",
                task_columns!(),
                " FROM tasks WHERE tenant_id = $1 AND owner_id = $2",
                $filters,
                " ORDER BY created_at, id LIMIT $3"
            )
        };
    }
    match (by_status, by_workspace) {
        (false, false) => list_sql!(""),
        (true, false) => list_sql!(" AND status = $4"),
        (false, true) => list_sql!(" AND workspace_id = $4"),
        (true, true) => list_sql!(" AND status = $4 AND workspace_id = $5"),
    }
}

fn task_from_row(row: &dyn Columns) -> Result<Task, StoreError> {
    Ok(Task {
        id: row.text(0)?,
        title: row.text(1)?,
        description: row.opt_text(2)?,
        status: row
            .text(3)?
            .parse()
            .map_err(|e: crate::ValidationError| StoreError::Database(Box::new(e)))?,
        workspace_id: row.opt_text(4)?,
        completed_at: row.opt_text(5)?,
        created_at: row.text(6)?,
        updated_at: row.text(7)?,
    })
}

impl Store {
    /// The actor's tasks, oldest first.
    pub async fn list_tasks(
        &self,
        actor: &Actor,
        filter: &TaskFilter,
    ) -> Result<Vec<Task>, StoreError> {
        let status = filter.status.map(TaskStatus::as_str);
        let workspace = filter.workspace_id.as_ref().map(EntityId::as_str);
        let sql = list_sql(status.is_some(), workspace.is_some());
        let mut params = vec![
            Param::Text(actor.tenant.as_str()),
            Param::Text(&actor.user_id),
            Param::Int(i64::from(filter.limit.get())),
        ];
        params.extend(status.map(Param::Text));
        params.extend(workspace.map(Param::Text));
        self.db.fetch_all(sql, &params, task_from_row).await
    }

    pub async fn get_task(&self, actor: &Actor, id: &EntityId) -> Result<Task, StoreError> {
        let sql = concat!(
            "SELECT ",
            task_columns!(),
            " FROM tasks WHERE id = $1 AND tenant_id = $2 AND owner_id = $3"
        );
        let params = [
            Param::Text(id.as_str()),
            Param::Text(actor.tenant.as_str()),
            Param::Text(&actor.user_id),
        ];
        self.db
            .fetch_optional(sql, &params, task_from_row)
            .await?
            .ok_or_else(|| StoreError::not_found("task", id))
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
        self.db
            .execute(
                "INSERT INTO tasks (id, tenant_id, owner_id, workspace_id, title, description, \
             status, completed_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $9)",
                &[
                    Param::Text(&task.id),
                    Param::Text(actor.tenant.as_str()),
                    Param::Text(&actor.user_id),
                    Param::OptText(task.workspace_id.as_deref()),
                    Param::Text(&task.title),
                    Param::OptText(task.description.as_deref()),
                    Param::Text(task.status.as_str()),
                    Param::Text(&task.created_at),
                    Param::Text(&task.updated_at),
                ],
            )
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
        let updated = self
            .db
            .execute(
                "UPDATE tasks SET title = $1, description = $2, status = $3, workspace_id = $4, \
             completed_at = $5, updated_at = $6 WHERE id = $7 AND tenant_id = $8 AND owner_id = $9",
                &[
                    Param::Text(&task.title),
                    Param::OptText(task.description.as_deref()),
                    Param::Text(task.status.as_str()),
                    Param::OptText(task.workspace_id.as_deref()),
                    Param::OptText(task.completed_at.as_deref()),
                    Param::Text(&task.updated_at),
                    Param::Text(id.as_str()),
                    Param::Text(actor.tenant.as_str()),
                    Param::Text(&actor.user_id),
                ],
            )
            .await?;
        if updated == 0 {
            // Deleted between the read and the write.
            return Err(StoreError::not_found("task", id));
        }
        Ok(task)
    }

    pub async fn complete_task(&self, actor: &Actor, id: &EntityId) -> Result<Task, StoreError> {
        let patch = TaskPatch {
            status: Some(TaskStatus::Done),
            ..TaskPatch::default()
        };
        self.update_task(actor, id, patch).await
    }

    pub async fn delete_task(&self, actor: &Actor, id: &EntityId) -> Result<(), StoreError> {
        let deleted = self
            .db
            .execute(
                "DELETE FROM tasks WHERE id = $1 AND tenant_id = $2 AND owner_id = $3",
                &[
                    Param::Text(id.as_str()),
                    Param::Text(actor.tenant.as_str()),
                    Param::Text(&actor.user_id),
                ],
            )
            .await?;
        if deleted == 0 {
            return Err(StoreError::not_found("task", id));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::list_sql;
    use crate::db::query_plan;

    /// Every list statement walks `tasks_by_owner` in order. A plan with "TEMP B-TREE" sorts all
    /// of a user's tasks before LIMIT applies: once a user has thousands of tasks, every
    /// `list_tasks` call pays for all of them.
    #[test]
    fn lists_are_served_in_index_order_without_a_sort() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/plan.db", dir.path().display());
        for (by_status, by_workspace) in
            [(false, false), (true, false), (false, true), (true, true)]
        {
            let plan = query_plan(&url, list_sql(by_status, by_workspace));
            assert!(plan.contains("tasks_by_owner"), "{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        }
    }
}
