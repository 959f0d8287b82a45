//! Failures of an upstream call, in the tool-error taxonomy the built-in tools use
//! (`connection_error`, `timeout_error`, `backend_error`, …), always naming the upstream so an
//! agent knows which server to blame and the rest keeps working.

use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
#[error("{error_type}: {message}")]
pub struct GatewayError {
    pub error_type: &'static str,
    pub upstream: String,
    pub message: String,
    pub suggestion: String,
    /// What the upstream said, for people debugging (status, request id, `retry_after_secs`).
    pub details: serde_json::Value,
}

impl GatewayError {
    fn new(
        error_type: &'static str,
        upstream: &str,
        message: impl Into<String>,
        suggestion: impl Into<String>,
    ) -> Self {
        Self {
            error_type,
            upstream: upstream.to_owned(),
            message: message.into(),
            suggestion: suggestion.into(),
            details: serde_json::Value::Null,
        }
    }

    pub fn with_details(
        error_type: &'static str,
        upstream: &str,
        message: impl Into<String>,
        suggestion: impl Into<String>,
        details: serde_json::Value,
    ) -> Self {
        Self {
            details,
            ..Self::new(error_type, upstream, message, suggestion)
        }
    }

    pub fn connection(upstream: &str, detail: impl std::fmt::Display) -> Self {
        Self::new(
            "connection_error",
            upstream,
            format!("the upstream MCP server {upstream:?} cannot be reached: {detail}"),
            "retry in a few seconds; other tools keep working",
        )
    }

    pub fn timeout(upstream: &str, after: Duration) -> Self {
        Self::new(
            "timeout_error",
            upstream,
            format!(
                "the upstream MCP server {upstream:?} did not answer within {} s",
                after.as_secs()
            ),
            "retry later, or with a smaller request; a write may or may not have happened, so check before repeating it",
        )
    }

    pub fn backend(upstream: &str, detail: impl std::fmt::Display) -> Self {
        Self::new(
            "backend_error",
            upstream,
            format!("the upstream MCP server {upstream:?} failed: {detail}"),
            "retry later; if it keeps failing, tell the operator of that server",
        )
    }

    pub fn authentication(upstream: &str) -> Self {
        Self::new(
            "authentication_error",
            upstream,
            format!("the upstream MCP server {upstream:?} refused Portcullis's credentials"),
            "tell the operator: the upstream's auth setting or its token verifier is misconfigured",
        )
    }

    pub fn validation(upstream: &str, message: impl Into<String>) -> Self {
        Self::new(
            "validation_error",
            upstream,
            message,
            "fix the arguments and call again",
        )
    }

    pub fn not_found(upstream: &str, tool: &str) -> Self {
        Self::new(
            "not_found_error",
            upstream,
            format!("the upstream MCP server {upstream:?} has no tool {tool:?} (any more)"),
            "call tools/list to see the tools that exist now",
        )
    }

    pub fn internal(upstream: &str, message: impl Into<String>) -> Self {
        Self::new(
            "internal_error",
            upstream,
            message,
            "tell the operator; retry later",
        )
    }
}

/// The innermost cause of an rmcp failure, in words a person reads ("Connection refused (os
/// error 111)"): rmcp's outer messages name its transport types, which tell neither the agent nor
/// the operator anything.
pub(crate) fn plain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    let text = current.to_string();
    if text.contains("Transport [") || text.contains("rmcp::") {
        "the connection failed".into()
    } else if text == "Transport closed" {
        "the connection closed (did the server exit?)".into()
    } else {
        text
    }
}
