//! Tool errors for AI clients: a category to branch on, a sentence to read, and what to try.

use portcullis_backend_client::{BackendError, ErrorKind};
use portcullis_core::StoreError;
use rmcp::{
    ErrorData,
    handler::server::tool::IntoCallToolResult,
    model::{CallToolResponse, CallToolResult},
};
use serde::Serialize;

/// A failed tool call, returned to the model as a result with `isError: true`.
#[derive(Debug, Clone, Serialize)]
pub struct ToolError {
    /// `validation_error`, `not_found_error`, `authorization_error`, `internal_error`, and in
    /// microservice mode `authentication_error`, `backend_error`, `timeout_error`,
    /// `connection_error`, `rate_limited`.
    pub error_type: &'static str,
    pub message: String,
    /// Facts for whoever debugs the failure (HTTP status, request id …); absent when empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    pub suggestions: Vec<String>,
}

impl ToolError {
    pub fn new(
        error_type: &'static str,
        message: impl Into<String>,
        suggestion: impl Into<String>,
    ) -> Self {
        Self {
            error_type,
            message: message.into(),
            details: None,
            suggestions: vec![suggestion.into()],
        }
    }

    pub fn validation(message: impl Into<String>, suggestion: impl Into<String>) -> Self {
        Self::new("validation_error", message, suggestion)
    }

    pub fn forbidden(denial: &crate::Denial) -> Self {
        let suggestion = match denial {
            crate::Denial::Scope { missing, .. } => {
                format!("re-authorize the client, or use a key, with scope {missing}")
            }
            crate::Denial::Method { .. } => {
                "call this tool with a credential of an accepted kind".to_owned()
            }
            crate::Denial::NoRule { .. } => {
                "call tools/list to see the tools you may call".to_owned()
            }
        };
        Self::new("authorization_error", denial.message(), suggestion)
    }

    pub fn internal() -> Self {
        Self::new(
            "internal_error",
            "the server could not complete the call; nothing was changed if it was a write",
            "retry in a few seconds",
        )
    }
}

impl From<StoreError> for ToolError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { entity, id } => {
                let lister = match entity {
                    "workspace" => "list_workspaces",
                    "user" => "list_users",
                    _ => "list_tasks",
                };
                let mut error = Self::new(
                    "not_found_error",
                    format!("no {entity} with id {id} exists for you"),
                    format!("call {lister} to see the ids that exist"),
                );
                error
                    .suggestions
                    .push("check the id was copied exactly".into());
                error
            }
            StoreError::Conflict { entity, id } => Self::validation(
                format!("{entity} {id} already exists"),
                "choose another name",
            ),
            StoreError::Invalid(v) => Self::validation(
                v.to_string(),
                format!("fix the {} argument and call again", v.field),
            ),
            StoreError::Database(_) | StoreError::Unreachable(_) | StoreError::Closed => {
                // The cause goes to the operator's log, never to the client.
                tracing::error!(error = %error, "store failure during a tool call");
                Self::internal()
            }
        }
    }
}

impl From<BackendError> for ToolError {
    fn from(error: BackendError) -> Self {
        let suggestions: &[&str] = match error.kind {
            ErrorKind::Authentication => {
                &["this is a server configuration problem (the service token); tell the operator"]
            }
            ErrorKind::Authorization => &["the backend does not allow this user that operation"],
            ErrorKind::NotFound => &[
                "call list_tasks or list_workspaces to see the ids that exist",
                "check the id was copied exactly",
            ],
            ErrorKind::Validation => &["fix the arguments the message names and call again"],
            ErrorKind::Backend => &["retry in a few seconds; tell the operator if it persists"],
            ErrorKind::Timeout => &[
                "retry in a little while",
                "for a write, list first: it may have been done (retries of the same call never duplicate it)",
            ],
            ErrorKind::Connection => &[
                "the task service is unreachable; retry in a little while",
                "tell the operator if it persists",
            ],
            ErrorKind::RateLimited => &["wait before calling again, and make fewer calls"],
        };
        if matches!(error.kind, ErrorKind::Backend | ErrorKind::Authentication) {
            tracing::error!(%error, details = %error.details, "backend call failed");
        }
        Self {
            error_type: error.kind.as_str(),
            message: error.message,
            details: Some(error.details),
            suggestions: suggestions.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl IntoCallToolResult for ToolError {
    fn into_call_tool_result(self) -> Result<CallToolResponse, ErrorData> {
        let value = serde_json::to_value(&self).unwrap_or_default();
        Ok(CallToolResult::structured_error(value).into())
    }
}

impl From<portcullis_gateway::GatewayError> for ToolError {
    fn from(error: portcullis_gateway::GatewayError) -> Self {
        if matches!(
            error.error_type,
            "backend_error" | "authentication_error" | "internal_error"
        ) {
            tracing::warn!(upstream = %error.upstream, %error, "upstream call failed");
        }
        let mut details = match error.details {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        details.insert("upstream".into(), error.upstream.into());
        Self {
            error_type: error.error_type,
            message: error.message,
            details: Some(details.into()),
            suggestions: vec![error.suggestion],
        }
    }
}

/// An upstream failure on a request that has no tool result to carry it (`resources/read`,
/// `prompts/get`): a JSON-RPC error with the same type, sentence and upstream. What is missing
/// is a resource (-32002, "resource not found") or, for a prompt, an invalid name (-32602).
pub(crate) fn rpc_error(error: portcullis_gateway::GatewayError, resource: bool) -> ErrorData {
    let data = serde_json::json!({
        "error_type": error.error_type,
        "upstream": error.upstream,
        "suggestions": [error.suggestion],
    });
    match error.error_type {
        "not_found_error" if resource => ErrorData::resource_not_found(error.message, Some(data)),
        "not_found_error" | "validation_error" => {
            ErrorData::invalid_params(error.message, Some(data))
        }
        _ => ErrorData::internal_error(error.message, Some(data)),
    }
}
