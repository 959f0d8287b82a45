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
    /// May introspect tokens issued to other clients (`introspection = true`).
    pub introspection: bool,
}

#[derive(Debug, Clone)]
pub struct AuthorizationServerConfig {
    /// The issuer identifier, exactly as the protected resource metadata names it.
    pub issuer: String,
    /// The one protected resource (RFC 8707) tokens are issued for: `<public-url>/mcp`.
    pub resource: String,
    /// The `aud` written into access tokens (defaults to `resource` in the embedder).
    pub audience: String,
    /// The same resource under other names (loopback aliases): accepted as `resource`, and
    /// then the `aud` of the tokens issued for it.
    pub resource_aliases: Vec<String>,
    pub scopes_supported: Vec<String>,
    pub access_token_ttl: Duration,
    /// Idle lifetime of a refresh token; each rotation starts it again.
    pub refresh_token_ttl: Duration,
    /// How long a rotated refresh token presented again by its client gets the same answer
    /// as the first time (zero: strict rotation, any reuse revokes the grant).
    pub refresh_reuse_grace: Duration,
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
    /// Most dynamic registrations accepted per hour, server-wide (each address also has a
    /// share of its own, enforced at the HTTP edge).
    pub max_registrations_per_hour: u32,
    /// Dynamic clients that have not completed a grant this long after registering are deleted.
    pub unused_client_ttl: Duration,
    pub clients: Vec<ConfiguredClient>,
    /// Failed sign-ins for one username from one network before that pair is locked (30 s,
    /// doubling up to 15 min).
    pub max_failed_logins: u32,
    /// Failed sign-ins for one username from all networks together before it is locked for
    /// 30 s everywhere: bounds guessing from many addresses, and stays short so nobody can
    /// keep a user out for long.
    pub max_failed_logins_per_user: u32,
    /// Cookies carry `Secure` (the public URL is https).
    pub secure_cookies: bool,
    /// Private-use redirect schemes clients that register themselves may use.
    pub redirect_schemes: crate::redirect_uri::SchemePolicy,
    /// Company identity providers users may sign in with (`[[identity_providers]]`).
    pub identity_providers: Vec<crate::federation::IdentityProviderConfig>,
    /// Local accounts may sign in with a password (off leaves only the identity providers).
    pub local_passwords: bool,
}

impl AuthorizationServerConfig {
    /// Defaults for an issuer serving one resource.
    pub fn new(issuer: String, resource: String, scopes_supported: Vec<String>) -> Self {
        Self {
            secure_cookies: issuer.starts_with("https://"),
            issuer,
            audience: resource.clone(),
            resource_aliases: Vec::new(),
            resource,
            scopes_supported,
            access_token_ttl: Duration::from_secs(3600),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            refresh_reuse_grace: Duration::from_secs(10),
            grant_ttl: Duration::from_secs(90 * 24 * 3600),
            code_ttl: Duration::from_secs(60),
            request_ttl: Duration::from_secs(600),
            development: false,
            dynamic_registration: true,
            max_registrations_per_hour: 100,
            unused_client_ttl: Duration::from_secs(24 * 3600),
            clients: Vec::new(),
            max_failed_logins: 5,
            redirect_schemes: Default::default(),
            max_failed_logins_per_user: 20,
            identity_providers: Vec::new(),
            local_passwords: true,
        }
    }
}
