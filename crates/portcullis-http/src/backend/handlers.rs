//! The backend's routes: each extracts whom it acts for and its input, calls one store method
//! through that user's actor, and returns the shared wire types.

use axum::{
    Extension, Json,
    extract::{Path, Query, State, rejection::JsonRejection, rejection::QueryRejection},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use portcullis_auth::ServiceTokens;
use portcullis_core::{
    Actor, EntityId, Store,
    wire::{
        CreateTaskBody, CreateWorkspaceBody, OneTask, OneWorkspace, TaskList, TaskQuery,
        UpdateTaskBody, WorkspaceList,
    },
};
use serde_json::json;

use super::{ApiError, auth::Acting};

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

pub(crate) async fn delete_task(
    State(store): State<Store>,
    Extension(acting): Extension<Acting>,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let id = task_id(&id)?;
    store
        .delete_task(&actor(&store, &acting).await?, &id)
        .await?;
    Ok(Json(json!({ "deleted": true, "task_id": id })))
}

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
