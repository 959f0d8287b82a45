//! What the authorization server is told by its embedder.

use std::time::Duration;

/// A client defined in the configuration file (never stored in the database).
#[derive(Debug, Clone)]
pub struct ConfiguredClient {
    pub client_id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    /// Scopes the client may ask for; empty allows every supported scope.
    pub scopes: Vec<String>,
    /// SHA-256 hex of the secret for a confidential client.
    pub secret_digest: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AuthorizationServerConfig {
    /// The issuer identifier, exactly as the protected resource metadata names it.
    pub issuer: String,
    /// The one protected resource (RFC 8707) tokens are issued for: `<public-url>/mcp`.
    pub resource: String,
    /// The `aud` written into access tokens (defaults to `resource` in the embedder).
    pub audience: String,
    pub scopes_supported: Vec<String>,
    pub access_token_ttl: Duration,
    /// Idle lifetime of a refresh token; each rotation starts it again.
    pub refresh_token_ttl: Duration,
    /// Absolute lifetime of a grant: no refresh after it.
    pub grant_ttl: Duration,
    pub code_ttl: Duration,
    /// How long a user has to log in and decide.
    pub request_ttl: Duration,
    /// Development mode: client metadata documents may be served over plain http from a
    /// loopback address (never in production: that is a server-side request to localhost).
    pub development: bool,
    /// RFC 7591 dynamic client registration at `/register`.
    pub dynamic_registration: bool,
    /// Most dynamic registrations accepted per hour, server-wide.
    pub max_registrations_per_hour: u32,
    pub clients: Vec<ConfiguredClient>,
    /// Consecutive failed logins before an account is locked for a while.
    pub max_failed_logins: u32,
    /// Cookies carry `Secure` (the public URL is https).
    pub secure_cookies: bool,
}

impl AuthorizationServerConfig {
    /// Defaults for an issuer serving one resource.
    pub fn new(issuer: String, resource: String, scopes_supported: Vec<String>) -> Self {
        Self {
            secure_cookies: issuer.starts_with("https://"),
            issuer,
            audience: resource.clone(),
            resource,
            scopes_supported,
            access_token_ttl: Duration::from_secs(3600),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            grant_ttl: Duration::from_secs(90 * 24 * 3600),
            code_ttl: Duration::from_secs(60),
            request_ttl: Duration::from_secs(600),
            development: false,
            dynamic_registration: true,
            max_registrations_per_hour: 100,
            clients: Vec::new(),
            max_failed_logins: 5,
        }
    }
}
