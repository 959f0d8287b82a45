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

    pub(crate) fn with_request_id(mut self, id: &str) -> Self {
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
            (None, _) => format!("the backend answered HTTP {status}"),
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
