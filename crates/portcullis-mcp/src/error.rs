//! Tool errors for AI clients: a category to branch on, a sentence to read, and what to try.

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
    /// `validation_error`, `not_found_error`, `authorization_error` or `internal_error`.
    pub error_type: &'static str,
    pub message: String,
    pub suggestions: Vec<String>,
}

impl ToolError {
    pub fn validation(message: impl Into<String>, suggestion: impl Into<String>) -> Self {
        Self {
            error_type: "validation_error",
            message: message.into(),
            suggestions: vec![suggestion.into()],
        }
    }

    pub fn forbidden(denial: &crate::Denial) -> Self {
        let suggestion = match denial {
            crate::Denial::Scope { missing, .. } => {
                format!("re-authorize the client, or use a key, with scope {missing}")
            }
            crate::Denial::Method { .. } => {
                "call this tool with a credential of an accepted kind".to_owned()
            }
        };
        Self {
            error_type: "authorization_error",
            message: denial.message(),
            suggestions: vec![suggestion],
        }
    }

    pub fn internal() -> Self {
        Self {
            error_type: "internal_error",
            message:
                "the server could not complete the call; nothing was changed if it was a write"
                    .into(),
            suggestions: vec!["retry in a few seconds".into()],
        }
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
                Self {
                    error_type: "not_found_error",
                    message: format!("no {entity} with id {id} exists for you"),
                    suggestions: vec![
                        format!("call {lister} to see the ids that exist"),
                        "check the id was copied exactly".into(),
                    ],
                }
            }
            StoreError::Conflict { entity, id } => Self::validation(
                format!("{entity} {id} already exists"),
                "choose another name",
            ),
            StoreError::Invalid(v) => Self::validation(
                v.to_string(),
                format!("fix the {} argument and call again", v.field),
            ),
            StoreError::Database(_) | StoreError::Closed => {
                // The cause goes to the operator's log, never to the client.
                tracing::error!(error = %error, "store failure during a tool call");
                Self::internal()
            }
        }
    }
}

impl IntoCallToolResult for ToolError {
    fn into_call_tool_result(self) -> Result<CallToolResponse, ErrorData> {
        let value = serde_json::to_value(&self).unwrap_or_default();
        Ok(CallToolResult::structured_error(value).into())
    }
}
