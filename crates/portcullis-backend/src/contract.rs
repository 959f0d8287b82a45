//! What the routes take and answer beyond `portcullis_core::wire`, described for the OpenAPI
//! document: the delete answer, the path id, the `Idempotency-Key` header, the failures.

use portcullis_core::wire::ErrorBody;
use serde::Serialize;
use utoipa::{IntoParams, IntoResponses, ToSchema};

/// `DELETE /tasks/{id}`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Deleted {
    pub(crate) deleted: bool,
    #[schema(format = "uuid")]
    pub(crate) task_id: String,
}

/// The `{id}` of the task routes.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // only its description is used
pub(crate) struct TaskId {
    /// The task's id.
    #[param(format = "uuid")]
    id: String,
}

/// The `Idempotency-Key` header of the writes.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub(crate) struct IdempotencyKey {
    /// Makes a retried write safe: the same key and request get the first response again.
    #[param(rename = "Idempotency-Key", max_length = 255)]
    idempotency_key: Option<String>,
}

/// The failures every task and workspace route may answer with.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub(crate) enum Failures {
    /// Invalid input, or a service call without X-User-ID
    #[response(status = 400)]
    Invalid(ErrorBody),
    /// No valid user token or service token
    #[response(status = 401)]
    Unauthenticated(ErrorBody),
    /// The token lacks the scope
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No such task or workspace for this user
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// A request with this Idempotency-Key is still running
    #[response(status = 409)]
    InProgress(ErrorBody),
    /// The Idempotency-Key was used with a different request
    #[response(status = 422)]
    KeyReused(ErrorBody),
}
