//! The built-in authorization server (used when no external issuer is set): token lifetimes,
//! who may register, and the clients the operator registers in the file.

use std::{path::PathBuf, time::Duration};

use clap::{ArgAction, Args};
use serde::Deserialize;

use super::{
    ConfigError,
    identity_providers::{FileIdentityProvider, resolve_identity_providers},
    ranged,
};

#[derive(Debug, Clone, Args)]
pub struct AuthorizationArgs {
    /// Idle lifetime of refresh tokens, in seconds (30 days).
    #[arg(long, env = "PORTCULLIS_REFRESH_TOKEN_TTL_SECS", default_value_t = 30 * 86_400)]
    pub refresh_token_ttl_secs: u64,
    /// Seconds during which a refresh token presented again by its client gets the same
    /// answer as the first time (a lost answer, two refreshes at once); 0 = strict rotation,
    /// any reuse revokes the grant.
    #[arg(
        long,
        env = "PORTCULLIS_REFRESH_REUSE_GRACE_SECS",
        default_value_t = 10
    )]
    pub refresh_reuse_grace_secs: u64,
    /// Lifetime of authorization codes, in seconds.
    #[arg(
        long,
        env = "PORTCULLIS_AUTHORIZATION_CODE_TTL_SECS",
        default_value_t = 60
    )]
    pub authorization_code_ttl_secs: u64,
    /// Accept RFC 7591 dynamic client registration at /register.
    #[arg(long, env = "PORTCULLIS_DYNAMIC_REGISTRATION", action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", default_value_t = true)]
    pub dynamic_registration: bool,
    /// Most dynamic registrations per hour, server-wide.
    #[arg(
        long,
        env = "PORTCULLIS_MAX_REGISTRATIONS_PER_HOUR",
        default_value_t = 100
    )]
    pub max_registrations_per_hour: u32,
    /// Most dynamic registrations per hour from one network address (an IPv6 /64), each
    /// address's share of the server-wide ceiling.
    #[arg(
        long,
        env = "PORTCULLIS_MAX_REGISTRATIONS_PER_ADDRESS",
        default_value_t = 10
    )]
    pub max_registrations_per_address: u64,
    /// Delete dynamically registered clients that have not completed a grant this many
    /// seconds after registering.
    #[arg(
        long,
        env = "PORTCULLIS_UNUSED_CLIENT_TTL_SECS",
        default_value_t = 86_400
    )]
    pub unused_client_ttl_secs: u64,
    /// Private-use redirect schemes (cursor, vscode, com.example.app …) that clients which
    /// register themselves may use, comma-separated [default: any, except javascript, data,
    /// file and the like].
    #[arg(
        long,
        env = "PORTCULLIS_ALLOWED_REDIRECT_SCHEMES",
        value_delimiter = ','
    )]
    pub allowed_redirect_schemes: Option<Vec<String>>,
    /// Rotate the signing key every this many days (needs the keys in the database:
    /// --key-encryption-key-file) [default: only by `portcullis keys rotate`].
    #[arg(long, env = "PORTCULLIS_KEY_ROTATION_DAYS")]
    pub key_rotation_days: Option<u64>,
    /// Local accounts may sign in with a password; false leaves only the
    /// [[identity_providers]] on the sign-in page.
    #[arg(long, env = "PORTCULLIS_LOCAL_PASSWORDS", action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", default_value_t = true)]
    pub local_passwords: bool,
    /// Development mode: client metadata documents may be fetched over plain http from
    /// loopback addresses. Never in production.
    #[arg(long, env = "PORTCULLIS_DEV_MODE", action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", default_value_t = false)]
    pub dev_mode: bool,
}

/// A pre-registered OAuth client in the file (`[[clients]]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileClient {
    client_id: String,
    name: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    scopes: Vec<String>,
    /// A file holding the client secret (the client is then confidential).
    secret_file: Option<PathBuf>,
    /// May introspect tokens issued to other clients (a resource server).
    #[serde(default)]
    introspection: bool,
}

/// Settings of the built-in authorization server.
#[derive(Debug, Clone)]
pub struct AuthorizationSettings {
    pub redirect_schemes: portcullis_oauth::redirect_uri::SchemePolicy,
    pub max_registrations_per_address: u32,
    pub unused_client_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub refresh_reuse_grace: Duration,
    pub code_ttl: Duration,
    pub dynamic_registration: bool,
    pub max_registrations_per_hour: u32,
    pub dev_mode: bool,
    pub clients: Vec<portcullis_oauth::ConfiguredClient>,
    pub local_passwords: bool,
    pub key_rotation: Option<Duration>,
    pub identity_providers: Vec<portcullis_oauth::federation::IdentityProviderConfig>,
    /// The `[[identity_providers]]` entries as written, for `config check` to print back.
    pub identity_provider_entries: Vec<FileIdentityProvider>,
}

pub fn resolve_authorization(
    args: &AuthorizationArgs,
    clients: Vec<FileClient>,
    identity_providers: Vec<FileIdentityProvider>,
    supported_scopes: &[String],
) -> Result<AuthorizationSettings, ConfigError> {
    let clients = clients
        .into_iter()
        .map(|c| configured_client(c, supported_scopes))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(AuthorizationSettings {
        redirect_schemes: redirect_schemes(args.allowed_redirect_schemes.as_deref())?,
        max_registrations_per_address: ranged(
            "max_registrations_per_address",
            args.max_registrations_per_address,
            1..=100_000,
        )? as u32,
        unused_client_ttl: Duration::from_secs(ranged(
            "unused_client_ttl_secs",
            args.unused_client_ttl_secs,
            60..=365 * 86_400,
        )?),
        refresh_token_ttl: Duration::from_secs(ranged(
            "refresh_token_ttl_secs",
            args.refresh_token_ttl_secs,
            60..=365 * 86_400,
        )?),
        refresh_reuse_grace: Duration::from_secs(ranged(
            "refresh_reuse_grace_secs",
            args.refresh_reuse_grace_secs,
            0..=300,
        )?),
        code_ttl: Duration::from_secs(ranged(
            "authorization_code_ttl_secs",
            args.authorization_code_ttl_secs,
            1..=600,
        )?),
        dynamic_registration: args.dynamic_registration,
        max_registrations_per_hour: args.max_registrations_per_hour,
        dev_mode: args.dev_mode,
        clients,
        local_passwords: args.local_passwords,
        key_rotation: args
            .key_rotation_days
            .map(|days| ranged("key_rotation_days", days, 1..=3650))
            .transpose()?
            .map(|days| Duration::from_secs(days * 86_400)),
        identity_providers: resolve_identity_providers(&identity_providers, args.local_passwords)?,
        identity_provider_entries: identity_providers,
    })
}

fn redirect_schemes(
    list: Option<&[String]>,
) -> Result<portcullis_oauth::redirect_uri::SchemePolicy, ConfigError> {
    let Some(list) = list else {
        return Ok(portcullis_oauth::redirect_uri::SchemePolicy::Any);
    };
    let list: Vec<String> = list
        .iter()
        .map(|s| s.trim().trim_end_matches(':').to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(bad) = list.iter().find(|s| {
        !s.starts_with(|c: char| c.is_ascii_lowercase())
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            || matches!(s.as_str(), "http" | "https")
    }) {
        return Err(ConfigError::new(
            "allowed_redirect_schemes",
            format!("{bad:?} is not a private-use URI scheme"),
            "list schemes such as cursor, vscode or com.example.app (http and https are always allowed)",
        ));
    }
    Ok(portcullis_oauth::redirect_uri::SchemePolicy::Only(list))
}

fn configured_client(
    c: FileClient,
    supported_scopes: &[String],
) -> Result<portcullis_oauth::ConfiguredClient, ConfigError> {
    let bad = |problem: String| {
        ConfigError::new(
            "clients",
            format!("client {:?}: {problem}", c.client_id),
            "fix the [[clients]] entry",
        )
    };
    if c.client_id.is_empty() || c.client_id.contains("://") || c.client_id.len() > 200 {
        return Err(bad(
            "client_id must be 1 to 200 characters and not a URL".into()
        ));
    }
    let secret_digest = match &c.secret_file {
        Some(path) => {
            let secret = std::fs::read_to_string(path)
                .map_err(|e| bad(format!("cannot read secret_file {}: {e}", path.display())))?;
            let secret = secret.trim();
            if secret.len() < 32 {
                return Err(bad("the secret must be at least 32 characters".into()));
            }
            Some(portcullis_oauth::secret::digest(secret))
        }
        None => None,
    };
    let grant_types = c.grant_types.clone().unwrap_or_else(|| {
        portcullis_oauth::client_rules::default_grant_types(
            !c.redirect_uris.is_empty(),
            secret_digest.is_some(),
            true,
        )
    });
    let name = c.name.clone().unwrap_or_else(|| c.client_id.clone());
    portcullis_oauth::client_rules::Registration {
        name: &name,
        redirect_uris: &c.redirect_uris,
        kind: portcullis_oauth::redirect_uri::AppKind::Unstated,
        schemes: &portcullis_oauth::redirect_uri::SchemePolicy::Any,
        grant_types: &grant_types,
        confidential: secret_digest.is_some(),
        scopes: &c.scopes,
        introspection: c.introspection,
        by_operator: true,
    }
    .check(supported_scopes)
    .map_err(|problem| bad(problem.to_string()))?;
    Ok(portcullis_oauth::ConfiguredClient {
        name,
        client_id: c.client_id,
        redirect_uris: c.redirect_uris,
        grant_types,
        scopes: c.scopes,
        secret_digest,
        introspection: c.introspection,
    })
}
