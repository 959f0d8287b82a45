//! Workspaces: named groups a user files tasks under.

use serde::Serialize;
use sqlx::{Row, any::AnyRow};

use crate::{Actor, Description, EntityId, Store, StoreError, WorkspaceName, timestamp};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone)]
pub struct NewWorkspace {
    pub name: WorkspaceName,
    pub description: Option<Description>,
}

// A macro rather than a const: sqlx only takes SQL known at compile time.
macro_rules! workspace_columns {
    () => {
        "id, name, description, created_at, updated_at"
    };
}

fn workspace_from_row(row: &AnyRow) -> Result<Workspace, sqlx::Error> {
    Ok(Workspace {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    pub async fn list_workspaces(&self, actor: &Actor) -> Result<Vec<Workspace>, StoreError> {
        let sql = concat!(
            "SELECT ",
            workspace_columns!(),
            " FROM workspaces WHERE tenant_id = $1 AND owner_id = $2 \
             ORDER BY created_at, id"
        );
        let rows = sqlx::query(sql)
            .bind(actor.tenant.as_str())
            .bind(&actor.user_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(workspace_from_row).collect::<Result<_, _>>()?)
    }

    pub async fn get_workspace(&self, actor: &Actor, id: &EntityId) -> Result<Workspace, StoreError> {
        let sql = concat!(
            "SELECT ",
            workspace_columns!(),
            " FROM workspaces WHERE id = $1 AND tenant_id = $2 AND owner_id = $3"
        );
        let row = sqlx::query(sql)
            .bind(id.as_str())
            .bind(actor.tenant.as_str())
            .bind(&actor.user_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::not_found("workspace", id))?;
        Ok(workspace_from_row(&row)?)
    }

    pub async fn create_workspace(
        &self,
        actor: &Actor,
        new: NewWorkspace,
    ) -> Result<Workspace, StoreError> {
        let now = timestamp::now();
        let workspace = Workspace {
            id: EntityId::generate().to_string(),
            name: new.name.as_str().to_owned(),
            description: new.description.map(|d| d.as_str().to_owned()),
            created_at: now.clone(),
            updated_at: now,
        };
        sqlx::query(
            "INSERT INTO workspaces (id, tenant_id, owner_id, name, description, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&workspace.id)
        .bind(actor.tenant.as_str())
        .bind(&actor.user_id)
        .bind(&workspace.name)
        .bind(workspace.description.as_deref())
        .bind(&workspace.created_at)
        .bind(&workspace.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(workspace)
    }
}
