//! The verified caller, as handed to handlers and tools.

use std::{collections::BTreeSet, fmt, sync::Arc};

use axum::{extract::FromRequestParts, http::request::Parts};

use crate::AuthError;

/// The scopes a token grants (RFC 6749 §3.3: space-delimited, case-sensitive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<String>);

impl ScopeSet {
    pub fn parse(raw: &str) -> Self {
        Self(
            raw.split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    /// True when every scope in `required` is granted.
    pub fn contains_all<'a>(&self, required: impl IntoIterator<Item = &'a str>) -> bool {
        required.into_iter().all(|s| self.contains(s))
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl FromIterator<String> for ScopeSet {
    fn from_iter<T: IntoIterator<Item = String>>(iter: T) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
            first = false;
        }
        Ok(())
    }
}

/// How a caller authenticated; per-tool policies name these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// An OAuth 2.1 bearer access token (`Authorization: Bearer`).
    Oauth,
    /// A Portcullis API key (`X-API-Key`).
    ApiKey,
    /// A service token plus the user it acts for (microservice mode).
    ServiceToken,
    /// An OAuth access token with no user behind it: the client credentials grant, where the
    /// client is its own subject (RFC 9068 §2.2). A service identity, never a user: the
    /// default policy lets it call nothing.
    ClientCredentials,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 4] = [
        Self::Oauth,
        Self::ApiKey,
        Self::ServiceToken,
        Self::ClientCredentials,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oauth => "oauth",
            Self::ApiKey => "api_key",
            Self::ServiceToken => "service_token",
            Self::ClientCredentials => "client_credentials",
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated caller: who (subject), through which client, with which scopes, in which
/// tenant. Inserted into request extensions by [`crate::require_bearer`]; extract it in axum
/// handlers, or read it from `http::request::Parts` extensions inside rmcp tools.
#[derive(Clone)]
pub struct Principal {
    /// `sub`: the end user (or the client itself for client-credentials tokens, whose method is
    /// then [`AuthMethod::ClientCredentials`]). For an API
    /// key, the key's owner, or the user a trusted key acts for.
    pub subject: String,
    pub method: AuthMethod,
    /// The credential's public id: an API key's id; for OAuth, the client id when known.
    pub credential: Option<String>,
    /// `client_id` (RFC 9068) or `azp` (OIDC), when the token names one.
    pub client_id: Option<String>,
    pub scopes: ScopeSet,
    /// The tenant claim's value (default claim name `org_id`), when present.
    pub tenant: Option<String>,
    /// Seconds since the epoch at which the token expires.
    pub expires_at: u64,
    /// Every claim of the token, for application-specific checks.
    pub claims: Arc<serde_json::Map<String, serde_json::Value>>,
}

impl fmt::Debug for Principal {
    // Claims can carry personal data; keep them out of debug output and logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("subject", &self.subject)
            .field("method", &self.method)
            .field("credential", &self.credential)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes.to_string())
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or(AuthError::MissingToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_space_delimited_and_exact() {
        let s = ScopeSet::parse("tasks:read  tasks:write");
        assert!(s.contains("tasks:read"));
        assert!(!s.contains("tasks"));
        assert!(s.contains_all(["tasks:read", "tasks:write"]));
        assert!(!s.contains_all(["admin"]));
        assert_eq!(s.to_string(), "tasks:read tasks:write");
    }
}
