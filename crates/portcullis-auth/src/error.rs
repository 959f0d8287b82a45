//! Why a request was not authenticated or authorized, mapped to RFC 6750 error codes.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::Challenge;

/// Why a bearer token was refused. The text is safe to show a client: it never contains the
/// token or key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("signing algorithm {0} is not accepted")]
    AlgorithmNotAllowed(String),
    #[error("no key with id {0:?} is published by the issuer")]
    UnknownKey(String),
    #[error("the token has no key id and the issuer publishes several keys")]
    AmbiguousKey,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    #[error("the token lacks the required claim {0}")]
    MissingClaim(String),
    #[error("the token type {0:?} is not an access token")]
    WrongType(String),
    #[error("claim {0} has an invalid value")]
    InvalidClaim(String),
    #[error("claim {0} {rule}", rule = crate::IDENTIFIER_RULE)]
    UncleanIdentifier(String),
    #[error("the token names critical header parameters (crit) this server does not understand")]
    UnsupportedCritical,
    #[error("the token has been revoked")]
    Revoked,
}

/// An authentication or authorization failure at the protocol level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token was sent; send Authorization: Bearer <token>")]
    MissingToken,
    #[error("{0}")]
    InvalidRequest(&'static str),
    #[error("invalid token: {0}")]
    InvalidToken(#[from] TokenError),
    #[error("the token lacks the scope this call needs: {required}")]
    InsufficientScope { required: String },
    #[error("the issuer's signing keys could not be fetched; try again shortly")]
    KeysUnavailable,
    /// An `X-API-Key` that is malformed, unknown, revoked or does not match. One message for
    /// all of them: which one it was is for the audit trail, not for whoever holds the key.
    #[error("the API key is not valid; ask an administrator for a new one")]
    InvalidApiKey,
    #[error("the API key has expired; ask an administrator for a new one")]
    ExpiredApiKey,
    /// Authenticated, but this credential may not do this whatever scopes it gets (the tool
    /// does not accept its method, or it sent a user context it may not use). No challenge:
    /// re-authorizing would not help.
    #[error("{0}")]
    AccessDenied(String),
}

impl AuthError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken
            | Self::InvalidToken(_)
            | Self::InvalidApiKey
            | Self::ExpiredApiKey => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::InsufficientScope { .. } | Self::AccessDenied(_) => StatusCode::FORBIDDEN,
            Self::KeysUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The RFC 6750 §3.1 error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingToken | Self::InvalidToken(_) => "invalid_token",
            Self::InvalidApiKey | Self::ExpiredApiKey => "invalid_api_key",
            Self::AccessDenied(_) => "access_denied",
            Self::InvalidRequest(_) => "invalid_request",
            Self::InsufficientScope { .. } => "insufficient_scope",
            Self::KeysUnavailable => "temporarily_unavailable",
        }
    }

    /// The challenge for this error; `resource_metadata` and `scope` are filled in by the
    /// resource server that knows them.
    pub fn challenge(&self) -> Challenge {
        Challenge {
            // RFC 6750's codes describe bearer tokens; a refused API key gets the bare
            // challenge (where to find the metadata) and says what went wrong in the body.
            error: match self {
                Self::InvalidApiKey | Self::ExpiredApiKey => None,
                _ => Some(self.code()),
            },
            error_description: Some(self.to_string()),
            scope: match self {
                Self::InsufficientScope { required } => Some(required.clone()),
                _ => None,
            },
            resource_metadata: None,
        }
    }

    /// The response for this error with the given challenge: status, `WWW-Authenticate`, and a
    /// small JSON body (`error`, `error_description`) for clients that read bodies.
    pub fn into_response_with(self, challenge: &Challenge) -> Response {
        let body = serde_json::json!({
            "error": self.code(),
            "error_description": self.to_string(),
        });
        let mut response = (self.status(), axum::Json(body)).into_response();
        if matches!(self, Self::AccessDenied(_)) {
            return response;
        }
        if let Ok(value) = HeaderValue::from_str(&challenge.to_header_value()) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        if matches!(self, Self::KeysUnavailable) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let challenge = self.challenge();
        self.into_response_with(&challenge)
    }
}

/// Why keys could not be loaded. Said at start-up, with the file or URL at fault.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error(
        "{0} holds no usable public key (expected a PEM public key or a JWKS with RSA, EC P-256 or Ed25519 signing keys)"
    )]
    NoUsableKey(String),
    #[error("cannot fetch {url}: {reason}")]
    Fetch { url: String, reason: String },
}
