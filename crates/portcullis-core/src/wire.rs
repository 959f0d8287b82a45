//! The REST backend's JSON bodies (microservice mode), shared by the backend and its client so
//! the two cannot drift apart. Each request body validates into the store's input type.

use serde::{Deserialize, Serialize};

use crate::{
    Description, EntityId, Limit, NewTask, NewWorkspace, Task, TaskFilter, TaskPatch, TaskStatus,
    TaskTitle, ValidationError, Workspace, WorkspaceName,
};

/// `GET /tasks` query parameters.
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<TaskStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(format = "uuid"))]
    pub workspace_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 500, default = 100))]
    pub limit: Option<i64>,
}

impl TaskQuery {
    pub fn validate(&self) -> Result<TaskFilter, ValidationError> {
        Ok(TaskFilter {
            status: self.status,
            workspace_id: optional_id("workspace_id", self.workspace_id.as_deref())?,
            limit: Limit::parse(self.limit)?,
        })
    }

    pub fn from_filter(filter: &TaskFilter) -> Self {
        Self {
            status: filter.status,
            workspace_id: filter.workspace_id.as_ref().map(|w| w.to_string()),
            limit: Some(i64::from(filter.limit.get())),
        }
    }
}

/// `POST /tasks`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTaskBody {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(format = "uuid"))]
    pub workspace_id: Option<String>,
}

impl CreateTaskBody {
    pub fn validate(&self) -> Result<NewTask, ValidationError> {
        Ok(NewTask {
            title: TaskTitle::parse(&self.title)?,
            description: self
                .description
                .as_deref()
                .map(Description::parse)
                .transpose()?,
            workspace_id: optional_id("workspace_id", self.workspace_id.as_deref())?,
        })
    }

    pub fn from_new(new: &NewTask) -> Self {
        Self {
            title: new.title.as_str().to_owned(),
            description: new.description.as_ref().map(|d| d.as_str().to_owned()),
            workspace_id: new.workspace_id.as_ref().map(|w| w.to_string()),
        }
    }
}

/// `PATCH /tasks/{id}`: fields left out stay; `""` clears `description` or `workspace_id`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateTaskBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TaskStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
}

impl UpdateTaskBody {
    pub fn validate(&self) -> Result<TaskPatch, ValidationError> {
        let patch = TaskPatch {
            title: self.title.as_deref().map(TaskTitle::parse).transpose()?,
            description: match self.description.as_deref() {
                None => None,
                Some(d) if d.trim().is_empty() => Some(None),
                Some(d) => Some(Some(Description::parse(d)?)),
            },
            status: self.status,
            workspace_id: match self.workspace_id.as_deref() {
                None => None,
                Some(w) if w.trim().is_empty() => Some(None),
                Some(w) => Some(Some(EntityId::parse("workspace_id", w)?)),
            },
        };
        if patch.title.is_none()
            && patch.description.is_none()
            && patch.status.is_none()
            && patch.workspace_id.is_none()
        {
            return Err(ValidationError::new(
                "fields",
                "nothing to update: give at least one of title, description, status, workspace_id",
            ));
        }
        Ok(patch)
    }

    pub fn from_patch(patch: &TaskPatch) -> Self {
        let cleared = |v: Option<&str>| v.unwrap_or_default().to_owned();
        Self {
            title: patch.title.as_ref().map(|t| t.as_str().to_owned()),
            description: patch
                .description
                .as_ref()
                .map(|d| cleared(d.as_ref().map(Description::as_str))),
            status: patch.status,
            workspace_id: patch
                .workspace_id
                .as_ref()
                .map(|w| cleared(w.as_ref().map(EntityId::as_str))),
        }
    }
}

/// `POST /workspaces`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspaceBody {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl CreateWorkspaceBody {
    pub fn validate(&self) -> Result<NewWorkspace, ValidationError> {
        Ok(NewWorkspace {
            name: WorkspaceName::parse(&self.name)?,
            description: self
                .description
                .as_deref()
                .map(Description::parse)
                .transpose()?,
        })
    }

    pub fn from_new(new: &NewWorkspace) -> Self {
        Self {
            name: new.name.as_str().to_owned(),
            description: new.description.as_ref().map(|d| d.as_str().to_owned()),
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskList {
    pub tasks: Vec<Task>,
    pub count: usize,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OneTask {
    pub task: Task,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkspaceList {
    pub workspaces: Vec<Workspace>,
    pub count: usize,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OneWorkspace {
    pub workspace: Workspace,
}

/// Every error the backend returns: `{"error": {"type", "message", "details"}}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// `validation_error`, `authentication_error`, `authorization_error`, `not_found_error`,
    /// `conflict_error`, `rate_limited`, `internal_error`.
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: serde_json::Value,
}

fn optional_id(
    field: &'static str,
    raw: Option<&str>,
) -> Result<Option<EntityId>, ValidationError> {
    raw.filter(|s| !s.trim().is_empty())
        .map(|s| EntityId::parse(field, s))
        .transpose()
}
