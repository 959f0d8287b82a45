//! Backend failures as a small taxonomy an AI can branch on.

use std::time::Duration;

use portcullis_core::wire::ErrorBody;
use serde_json::{Value, json};

/// What kind of failure a backend call met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The backend refused the service's credentials (401): a configuration problem.
    Authentication,
    /// The backend refused this user the operation (403).
    Authorization,
    NotFound,
    /// The input was refused (400, 409, 422).
    Validation,
    /// The backend failed (5xx) or answered something unreadable.
    Backend,
    /// No answer within the call's timeout.
    Timeout,
    /// The backend could not be reached, or dropped the connection.
    Connection,
    RateLimited,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authentication => "authentication_error",
            Self::Authorization => "authorization_error",
            Self::NotFound => "not_found_error",
            Self::Validation => "validation_error",
            Self::Backend => "backend_error",
            Self::Timeout => "timeout_error",
            Self::Connection => "connection_error",
            Self::RateLimited => "rate_limited",
        }
    }
}

/// A failed backend call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {message}", kind.as_str())]
pub struct BackendError {
    pub kind: ErrorKind,
    pub message: String,
    /// Status, request id, and what the backend said, for people debugging.
    pub details: Value,
}

impl BackendError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            details: json!({}),
        }
    }

    pub fn with_request_id(mut self, id: &str) -> Self {
        self.details["request_id"] = json!(id);
        self
    }

    /// From a non-success answer; the backend's own message when its body says one.
    pub(crate) fn from_status(status: u16, body: &str) -> Self {
        let kind = match status {
            400 | 409 | 422 => ErrorKind::Validation,
            401 => ErrorKind::Authentication,
            403 => ErrorKind::Authorization,
            404 => ErrorKind::NotFound,
            429 => ErrorKind::RateLimited,
            _ => ErrorKind::Backend,
        };
        let parsed = serde_json::from_str::<ErrorBody>(body).ok();
        let message = match (&parsed, kind) {
            (_, ErrorKind::Authentication) => {
                "the backend refused this service's credentials (service token)".to_owned()
            }
            (Some(b), _) => b.error.message.clone(),
            (None, _) => foreign_message(body)
                .unwrap_or_else(|| format!("the backend answered HTTP {status}")),
        };
        let mut error = Self::new(kind, message);
        error.details = json!({ "status": status });
        if let Some(b) = parsed {
            error.details["backend_error_type"] = json!(b.error.kind);
            if !b.error.details.is_null() {
                error.details["backend_details"] = b.error.details;
            }
        }
        error
    }

    pub(crate) fn transport(kind: ErrorKind, timeout: Duration, error: &reqwest::Error) -> Self {
        let message = match kind {
            ErrorKind::Timeout => format!(
                "the backend did not answer within {} s",
                timeout.as_secs_f64()
            ),
            _ => "the backend could not be reached (connection refused or dropped)".to_owned(),
        };
        let mut e = Self::new(kind, message);
        // The cause without the URL's credentials: reqwest errors never include headers.
        e.details["cause"] = json!(error.to_string());
        e
    }
}

/// The longest message taken from another API's error body.
const MAX_MESSAGE_CHARS: usize = 500;

/// The message in an error body of another API: FastAPI's `detail` (a sentence, or a list of
/// `{loc, msg}`), RFC 9457's `detail`/`title`, or a plain `message`/`error`.
fn foreign_message(body: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body).ok()?;
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    let message = match value.get("detail") {
        Some(Value::Array(items)) => {
            let parts: Vec<String> = items
                .iter()
                .filter_map(|item| {
                    let msg = item.get("msg")?.as_str()?;
                    let at: Vec<String> = item
                        .get("loc")
                        .and_then(Value::as_array)
                        .map(|loc| {
                            loc.iter()
                                .filter(|p| {
                                    !matches!(
                                        p.as_str(),
                                        Some("body" | "query" | "path" | "header")
                                    )
                                })
                                .map(|p| {
                                    p.as_str()
                                        .map(str::to_owned)
                                        .unwrap_or_else(|| p.to_string())
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    Some(if at.is_empty() {
                        msg.to_owned()
                    } else {
                        format!("{}: {msg}", at.join("."))
                    })
                })
                .collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        _ => None,
    };
    let message = message
        .or_else(|| text("detail"))
        .or_else(|| text("message"))
        .or_else(|| text("error"))
        .or_else(|| text("title"))?;
    Some(message.chars().take(MAX_MESSAGE_CHARS).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_of_other_apis_are_read() {
        let fastapi =
            r#"{"detail":[{"type":"missing","loc":["body","title"],"msg":"Field required"}]}"#;
        assert_eq!(
            BackendError::from_status(422, fastapi).message,
            "title: Field required"
        );
        let plain = r#"{"detail":"Note not found"}"#;
        let e = BackendError::from_status(404, plain);
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::NotFound, "Note not found")
        );
        assert_eq!(
            BackendError::from_status(500, "<html>").message,
            "the backend answered HTTP 500"
        );
    }
}
