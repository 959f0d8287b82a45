//! Workspaces: named groups a user files tasks under.

use serde::{Deserialize, Serialize};

use crate::{
    Actor, Description, EntityId, Store, StoreError, WorkspaceName,
    db::{Columns, Param},
    timestamp,
};

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    #[cfg_attr(feature = "openapi", schema(format = "uuid"))]
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

// A macro rather than a const so it can be `concat!`ed into static SQL.
macro_rules! workspace_columns {
    () => {
        "id, name, description, created_at, updated_at"
    };
}

fn workspace_from_row(row: &dyn Columns) -> Result<Workspace, StoreError> {
    Ok(Workspace {
        id: row.text(0)?,
        name: row.text(1)?,
        description: row.opt_text(2)?,
        created_at: row.text(3)?,
        updated_at: row.text(4)?,
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
        let params = [
            Param::Text(actor.tenant.as_str()),
            Param::Text(&actor.user_id),
        ];
        self.db.fetch_all(sql, &params, workspace_from_row).await
    }

    pub async fn get_workspace(
        &self,
        actor: &Actor,
        id: &EntityId,
    ) -> Result<Workspace, StoreError> {
        let sql = concat!(
            "SELECT ",
            workspace_columns!(),
            " FROM workspaces WHERE id = $1 AND tenant_id = $2 AND owner_id = $3"
        );
        let params = [
            Param::Text(id.as_str()),
            Param::Text(actor.tenant.as_str()),
            Param::Text(&actor.user_id),
        ];
        self.db
            .fetch_optional(sql, &params, workspace_from_row)
            .await?
            .ok_or_else(|| StoreError::not_found("workspace", id))
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
        self.db
            .execute(
                "INSERT INTO workspaces (id, tenant_id, owner_id, name, description, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    Param::Text(&workspace.id),
                    Param::Text(actor.tenant.as_str()),
                    Param::Text(&actor.user_id),
                    Param::Text(&workspace.name),
                    Param::OptText(workspace.description.as_deref()),
                    Param::Text(&workspace.created_at),
                    Param::Text(&workspace.updated_at),
                ],
            )
            .await?;
        Ok(workspace)
    }
}
