//! The backend's one error shape, `{"error": {"type", "message", "details"}}`, and its mapping
//! from store errors. Clients branch on `type` (and the status); `message` is for people.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use portcullis_core::{
    StoreError,
    wire::{ErrorBody, ErrorDetail},
};
use serde_json::{Value, json};

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    details: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            details: Value::Null,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "validation_error", message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "authentication_error", message)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { entity, id } => Self::new(
                StatusCode::NOT_FOUND,
                "not_found_error",
                format!("no {entity} with id {id} exists for this user"),
            )
            .with_details(json!({ "entity": entity, "id": id })),
            StoreError::Conflict { entity, id } => Self::new(
                StatusCode::CONFLICT,
                "conflict_error",
                format!("{entity} {id} already exists"),
            ),
            StoreError::Invalid(v) => {
                Self::validation(v.to_string()).with_details(json!({ "field": v.field }))
            }
            StoreError::Database(_) | StoreError::Unreachable(_) | StoreError::Closed => {
                tracing::error!(%error, "store failure in the backend");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "the backend could not complete the request; nothing was changed",
                )
            }
        }
    }
}

impl From<portcullis_core::ValidationError> for ApiError {
    fn from(error: portcullis_core::ValidationError) -> Self {
        StoreError::Invalid(error).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                kind: self.kind.to_owned(),
                message: self.message,
                details: self.details,
            },
        };
        (self.status, Json(body)).into_response()
    }
}
