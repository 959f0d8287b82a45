//! Where a tool's task and workspace operations run: on the local store through the caller's
//! actor (all in one process), or on the REST backend acting for the caller (microservice
//! mode). Tools see one interface either way, already bound to the calling user.

use std::sync::Arc;

use portcullis_backend_client::{BackendClient, OnBehalf};
use portcullis_core::{
    Actor, EntityId, NewTask, NewWorkspace, Store, Task, TaskFilter, TaskPatch, TenantId, Workspace,
};

use crate::ToolError;

/// What tools read and write through.
#[derive(Clone, Debug)]
pub enum TaskSource {
    Store(Store),
    Backend(Arc<BackendClient>),
}

/// One user's tasks and workspaces.
pub(crate) enum UserTasks<'a> {
    Local {
        store: &'a Store,
        actor: Actor,
    },
    Remote {
        client: &'a BackendClient,
        user: String,
        tenant: TenantId,
    },
}

impl<'a> UserTasks<'a> {
    pub(crate) async fn bind(
        source: &'a TaskSource,
        tenant: TenantId,
        user: &str,
    ) -> Result<Self, ToolError> {
        Ok(match source {
            TaskSource::Store(store) => Self::Local {
                store,
                actor: store.actor(&tenant, user).await?,
            },
            TaskSource::Backend(client) => Self::Remote {
                client,
                user: user.to_owned(),
                tenant,
            },
        })
    }

    pub(crate) async fn list_tasks(&self, filter: &TaskFilter) -> Result<Vec<Task>, ToolError> {
        Ok(match self {
            Self::Local { store, actor } => store.list_tasks(actor, filter).await?,
            Self::Remote {
                client,
                user,
                tenant,
            } => client.list_tasks(on_behalf(user, tenant), filter).await?,
        })
    }

    pub(crate) async fn get_task(&self, id: &EntityId) -> Result<Task, ToolError> {
        Ok(match self {
            Self::Local { store, actor } => store.get_task(actor, id).await?,
            Self::Remote {
                client,
                user,
                tenant,
            } => client.get_task(on_behalf(user, tenant), id).await?,
        })
    }

    pub(crate) async fn create_task(&self, new: NewTask) -> Result<Task, ToolError> {
        Ok(match self {
            Self::Local { store, actor } => store.create_task(actor, new).await?,
            Self::Remote {
                client,
                user,
                tenant,
            } => client.create_task(on_behalf(user, tenant), &new).await?,
        })
    }

    pub(crate) async fn update_task(
        &self,
        id: &EntityId,
        patch: TaskPatch,
    ) -> Result<Task, ToolError> {
        Ok(match self {
            Self::Local { store, actor } => store.update_task(actor, id, patch).await?,
            Self::Remote {
                client,
                user,
                tenant,
            } => {
                client
                    .update_task(on_behalf(user, tenant), id, &patch)
                    .await?
            }
        })
    }

    pub(crate) async fn complete_task(&self, id: &EntityId) -> Result<Task, ToolError> {
        Ok(match self {
            Self::Local { store, actor } => store.complete_task(actor, id).await?,
            Self::Remote {
                client,
                user,
                tenant,
            } => client.complete_task(on_behalf(user, tenant), id).await?,
        })
    }

    pub(crate) async fn delete_task(&self, id: &EntityId) -> Result<(), ToolError> {
        match self {
            Self::Local { store, actor } => store.delete_task(actor, id).await?,
            Self::Remote {
                client,
                user,
                tenant,
            } => client.delete_task(on_behalf(user, tenant), id).await?,
        }
        Ok(())
    }

    pub(crate) async fn list_workspaces(&self) -> Result<Vec<Workspace>, ToolError> {
        Ok(match self {
            Self::Local { store, actor } => store.list_workspaces(actor).await?,
            Self::Remote {
                client,
                user,
                tenant,
            } => client.list_workspaces(on_behalf(user, tenant)).await?,
        })
    }

    pub(crate) async fn create_workspace(&self, new: NewWorkspace) -> Result<Workspace, ToolError> {
        Ok(match self {
            Self::Local { store, actor } => store.create_workspace(actor, new).await?,
            Self::Remote {
                client,
                user,
                tenant,
            } => {
                client
                    .create_workspace(on_behalf(user, tenant), &new)
                    .await?
            }
        })
    }
}

fn on_behalf<'b>(user: &'b str, tenant: &'b TenantId) -> OnBehalf<'b> {
    // The default tenant is implied; naming it would only add a header.
    let tenant = Some(tenant.as_str()).filter(|t| *t != TenantId::default_tenant().as_str());
    OnBehalf { user, tenant }
}
