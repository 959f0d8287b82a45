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

/// Runs the local or the remote form of one operation, converting either error.
macro_rules! on_either {
    ($self:ident, ($store:ident, $actor:ident) => $local:expr, ($client:ident, $who:ident) => $remote:expr) => {
        match $self {
            UserTasks::Local {
                store: $store,
                actor: $actor,
            } => $local.await?,
            UserTasks::Remote {
                client: $client,
                user,
                tenant,
            } => {
                let $who = on_behalf(user, tenant);
                $remote.await?
            }
        }
    };
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
        Ok(on_either!(self,
            (store, actor) => store.list_tasks(actor, filter),
            (client, who) => client.list_tasks(who, filter)))
    }

    pub(crate) async fn get_task(&self, id: &EntityId) -> Result<Task, ToolError> {
        Ok(on_either!(self,
            (store, actor) => store.get_task(actor, id),
            (client, who) => client.get_task(who, id)))
    }

    pub(crate) async fn create_task(&self, new: NewTask) -> Result<Task, ToolError> {
        Ok(on_either!(self,
            (store, actor) => store.create_task(actor, new),
            (client, who) => client.create_task(who, &new)))
    }

    pub(crate) async fn update_task(
        &self,
        id: &EntityId,
        patch: TaskPatch,
    ) -> Result<Task, ToolError> {
        Ok(on_either!(self,
            (store, actor) => store.update_task(actor, id, patch),
            (client, who) => client.update_task(who, id, &patch)))
    }

    pub(crate) async fn complete_task(&self, id: &EntityId) -> Result<Task, ToolError> {
        Ok(on_either!(self,
            (store, actor) => store.complete_task(actor, id),
            (client, who) => client.complete_task(who, id)))
    }

    pub(crate) async fn delete_task(&self, id: &EntityId) -> Result<(), ToolError> {
        on_either!(self,
            (store, actor) => store.delete_task(actor, id),
            (client, who) => client.delete_task(who, id));
        Ok(())
    }

    pub(crate) async fn list_workspaces(&self) -> Result<Vec<Workspace>, ToolError> {
        Ok(on_either!(self,
            (store, actor) => store.list_workspaces(actor),
            (client, who) => client.list_workspaces(who)))
    }

    pub(crate) async fn create_workspace(&self, new: NewWorkspace) -> Result<Workspace, ToolError> {
        Ok(on_either!(self,
            (store, actor) => store.create_workspace(actor, new),
            (client, who) => client.create_workspace(who, &new)))
    }
}

fn on_behalf<'b>(user: &'b str, tenant: &'b TenantId) -> OnBehalf<'b> {
    // The default tenant is implied; naming it would only add a header.
    let tenant = Some(tenant.as_str()).filter(|t| *t != TenantId::default_tenant().as_str());
    OnBehalf { user, tenant }
}
