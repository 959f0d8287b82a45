//! The backend's routes: each extracts whom it acts for and its input, calls one store method
//! through that user's actor, and returns the shared wire types.

use axum::{
    Extension, Json,
    extract::{Path, Query, State, rejection::JsonRejection, rejection::QueryRejection},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use portcullis_auth::ServiceTokens;
use portcullis_core::wire::ErrorBody;
use portcullis_core::{
    Actor, EntityId, Store,
    wire::{
        CreateTaskBody, CreateWorkspaceBody, OneTask, OneWorkspace, TaskList, TaskQuery,
        UpdateTaskBody, WorkspaceList,
    },
};

use super::{
    ApiError,
    auth::Acting,
    contract::{Deleted, Failures, IdempotencyKey, TaskId},
};

type ApiResult<T> = Result<T, ApiError>;

async fn actor(store: &Store, acting: &Acting) -> ApiResult<Actor> {
    Ok(store.actor(&acting.tenant, &acting.user).await?)
}

fn task_id(raw: &str) -> ApiResult<EntityId> {
    Ok(EntityId::parse("task_id", raw)?)
}

fn body<T>(body: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    body.map(|Json(b)| b)
        .map_err(|e| ApiError::validation(format!("the JSON body is not valid: {}", e.body_text())))
}

#[utoipa::path(get, path = "/tasks", operation_id = "list_tasks", tag = "tasks",
    summary = "List the user's tasks, oldest first", params(TaskQuery),
    responses((status = 200, description = "The tasks", body = TaskList), Failures))]
pub(crate) async fn list_tasks(
    State(store): State<Store>,
    Extension(acting): Extension<Acting>,
    query: Result<Query<TaskQuery>, QueryRejection>,
) -> ApiResult<Json<TaskList>> {
    let Query(query) = query.map_err(|e| ApiError::validation(e.body_text()))?;
    let filter = query.validate()?;
    let tasks = store
        .list_tasks(&actor(&store, &acting).await?, &filter)
        .await?;
    Ok(Json(TaskList {
        count: tasks.len(),
        tasks,
    }))
}

#[utoipa::path(get, path = "/tasks/{id}", operation_id = "get_task", tag = "tasks",
    summary = "Get a task", params(TaskId),
    responses((status = 200, description = "The task", body = OneTask), Failures))]
pub(crate) async fn get_task(
    State(store): State<Store>,
    Extension(acting): Extension<Acting>,
    Path(id): Path<String>,
) -> ApiResult<Json<OneTask>> {
    let task = store
        .get_task(&actor(&store, &acting).await?, &task_id(&id)?)
        .await?;
    Ok(Json(OneTask { task }))
}

#[utoipa::path(post, path = "/tasks", operation_id = "create_task", tag = "tasks",
    summary = "Create a task", params(IdempotencyKey), request_body = CreateTaskBody,
    responses((status = 201, description = "Created", body = OneTask), Failures))]
pub(crate) async fn create_task(
    State(store): State<Store>,
    Extension(acting): Extension<Acting>,
    input: Result<Json<CreateTaskBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<OneTask>)> {
    let new = body(input)?.validate()?;
    let task = store
        .create_task(&actor(&store, &acting).await?, new)
        .await?;
    Ok((StatusCode::CREATED, Json(OneTask { task })))
}

#[utoipa::path(patch, path = "/tasks/{id}", operation_id = "update_task", tag = "tasks",
    summary = "Change a task; \"\" clears description or workspace_id",
    params(TaskId, IdempotencyKey), request_body = UpdateTaskBody,
    responses((status = 200, description = "The changed task", body = OneTask), Failures))]
pub(crate) async fn update_task(
    State(store): State<Store>,
    Extension(acting): Extension<Acting>,
    Path(id): Path<String>,
    input: Result<Json<UpdateTaskBody>, JsonRejection>,
) -> ApiResult<Json<OneTask>> {
    let patch = body(input)?.validate()?;
    let task = store
        .update_task(&actor(&store, &acting).await?, &task_id(&id)?, patch)
        .await?;
    Ok(Json(OneTask { task }))
}

#[utoipa::path(post, path = "/tasks/{id}/complete", operation_id = "complete_task",
    tag = "tasks", summary = "Mark a task done", params(TaskId, IdempotencyKey),
    responses((status = 200, description = "The completed task", body = OneTask), Failures))]
pub(crate) async fn complete_task(
    State(store): State<Store>,
    Extension(acting): Extension<Acting>,
    Path(id): Path<String>,
) -> ApiResult<Json<OneTask>> {
    let task = store
        .complete_task(&actor(&store, &acting).await?, &task_id(&id)?)
        .await?;
    Ok(Json(OneTask { task }))
}

#[utoipa::path(delete, path = "/tasks/{id}", operation_id = "delete_task", tag = "tasks",
    summary = "Delete a task", params(TaskId, IdempotencyKey),
    responses((status = 200, description = "Deleted", body = Deleted), Failures))]
pub(crate) async fn delete_task(
    State(store): State<Store>,
    Extension(acting): Extension<Acting>,
    Path(id): Path<String>,
) -> ApiResult<Json<Deleted>> {
    let id = task_id(&id)?;
    store
        .delete_task(&actor(&store, &acting).await?, &id)
        .await?;
    Ok(Json(Deleted {
        deleted: true,
        task_id: id.as_str().to_owned(),
    }))
}

#[utoipa::path(get, path = "/workspaces", operation_id = "list_workspaces",
    tag = "workspaces", summary = "List the user's workspaces",
    responses((status = 200, description = "The workspaces", body = WorkspaceList), Failures))]
pub(crate) async fn list_workspaces(
    State(store): State<Store>,
    Extension(acting): Extension<Acting>,
) -> ApiResult<Json<WorkspaceList>> {
    let workspaces = store
        .list_workspaces(&actor(&store, &acting).await?)
        .await?;
    Ok(Json(WorkspaceList {
        count: workspaces.len(),
        workspaces,
    }))
}

#[utoipa::path(post, path = "/workspaces", operation_id = "create_workspace",
    tag = "workspaces", summary = "Create a workspace", params(IdempotencyKey),
    request_body = CreateWorkspaceBody,
    responses((status = 201, description = "Created", body = OneWorkspace), Failures))]
pub(crate) async fn create_workspace(
    State(store): State<Store>,
    Extension(acting): Extension<Acting>,
    input: Result<Json<CreateWorkspaceBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<OneWorkspace>)> {
    let new = body(input)?.validate()?;
    let workspace = store
        .create_workspace(&actor(&store, &acting).await?, new)
        .await?;
    Ok((StatusCode::CREATED, Json(OneWorkspace { workspace })))
}

/// State of the internal routes: the store and `INTERNAL_API_KEY`.
#[derive(Clone)]
pub(crate) struct Internal {
    pub(crate) store: Store,
    pub(crate) key: Option<ServiceTokens>,
}

/// `GET /api/internal/users/{id}` (design document 001): 401 without the right `X-API-Key`,
/// 404 for an unknown user.
#[utoipa::path(get, path = "/api/internal/users/{id}", operation_id = "get_user_profile",
    tag = "internal", summary = "A user's profile, for other services",
    security(("internalApiKey" = [])),
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The profile", body = portcullis_core::UserProfile),
        (status = 401, description = "Missing or wrong X-API-Key", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody)))]
pub(crate) async fn internal_user(
    State(internal): State<Internal>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let presented = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    let allowed = match (&internal.key, presented) {
        (Some(key), Some(presented)) => key.matches(presented.trim()),
        _ => false,
    };
    if !allowed {
        return ApiError::unauthenticated("a valid X-API-Key is required for internal routes")
            .into_response();
    }
    match internal.store.user_profile(&id).await {
        Ok(Some(profile)) => Json(profile).into_response(),
        Ok(None) => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found_error",
            format!("no user with id {id}"),
        )
        .into_response(),
        Err(error) => ApiError::from(error).into_response(),
    }
}
