//! Typed configuration. Each setting is declared once, as a clap argument in the module of its
//! concern (its flag, `PORTCULLIS_<NAME>` variable, default and help); its key in the TOML
//! file is its id, and `crate::layers` puts flags > environment > file > default. What follows is
//! checked once at start-up: a bad value stops start-up with one line naming the setting and
//! the fix.

mod authentication;
mod authorization_server;
mod backend;
mod file;
mod identity_providers;
mod limits;
mod server;
mod signing_keys;
mod tools;

use std::path::Path;

use serde::Deserialize;

pub use authentication::{LifetimeArgs, TokenArgs, TokenKeys, TokenSettings, resolve_tokens};
pub use authorization_server::{AuthorizationArgs, AuthorizationSettings};
pub use backend::{BackendClientArgs, InternalKeyArgs, ServiceTokenArgs, backend_config};
pub use file::{FILE_ONLY, read as read_file};
pub use limits::{LimitArgs, RateLimitSettings};
pub use server::{
    CommonArgs, CommonSettings, RequestArgs, RequestSettings, ServerArgs, ServerSettings,
    resolve_common, resolve_requests,
};
pub use signing_keys::KeyStorageArgs;
pub use tools::{ToolArgs, ToolSettings};

use clap::Args;

/// `serve`: every setting of the MCP server, by concern.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub tokens: TokenArgs,
    #[command(flatten)]
    pub requests: RequestArgs,
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub authorization: AuthorizationArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub tools: ToolArgs,
}

#[derive(Debug, Clone, Args)]
pub struct BackendArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub tokens: TokenArgs,
    #[command(flatten)]
    pub requests: RequestArgs,
    #[command(flatten)]
    pub service_tokens: ServiceTokenArgs,
    #[command(flatten)]
    pub internal: InternalKeyArgs,
}

#[derive(Debug, Clone, Args)]
pub struct McpArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(flatten)]
    pub backend: BackendClientArgs,
    #[command(flatten)]
    pub service_tokens: ServiceTokenArgs,
}

/// A setting that cannot be used, with how to fix it.
#[derive(Debug)]
pub struct ConfigError {
    key: &'static str,
    /// The flag and environment variable, for settings that have them (tables such as
    /// `[policy]` or `[[clients]]` live only in the file).
    names: Option<(String, String)>,
    problem: String,
    fix: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (key, problem, fix) = (self.key, &self.problem, &self.fix);
        match &self.names {
            Some((flag, env)) => {
                write!(
                    f,
                    "invalid setting `{key}` (--{flag} / {env}): {problem}; {fix}"
                )
            }
            None => write!(
                f,
                "invalid setting `[{key}]` in the configuration file: {problem}; {fix}"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// A setting whose environment variable is not `PORTCULLIS_<KEY>` (the design documents'
    /// `SERVICE_AUTH_TOKEN`, `INTERNAL_API_KEY`).
    pub fn with_env(
        key: &'static str,
        env: &str,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            names: Some((key.replace('_', "-"), env.to_owned())),
            ..Self::new(key, problem, fix)
        }
    }

    pub fn new(key: &'static str, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        let names = (!file::FILE_ONLY.contains(&key)).then(|| {
            (
                key.replace('_', "-"),
                format!("PORTCULLIS_{}", key.to_ascii_uppercase()),
            )
        });
        Self {
            key,
            names,
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

/// The file's tables: the settings that have no flag. The plain keys were layered under the
/// flags already (`crate::layers`), which also refused unknown ones.
#[derive(Debug, Default, Deserialize)]
struct FileTables {
    #[serde(default)]
    clients: Vec<authorization_server::FileClient>,
    /// `[[identity_providers]]`: company OpenID Connect providers to sign in with.
    #[serde(default)]
    identity_providers: Vec<identity_providers::FileIdentityProvider>,
    #[serde(default)]
    policy: tools::FilePolicy,
    #[serde(default)]
    rate_limits: limits::FileRateLimits,
    /// `[[upstreams]]`: MCP servers Portcullis fronts (see `portcullis_gateway::UpstreamConfig`).
    #[serde(default)]
    upstreams: Vec<portcullis_gateway::UpstreamConfig>,
}

impl FileTables {
    fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        file::read(path)?.try_into().map_err(|e: toml::de::Error| {
            ConfigError::new(
                "config",
                format!("{} is not valid: {}", path.display(), e.message()),
                "keys are the flag names with _ (see --help)",
            )
        })
    }
}

/// Everything `serve` (and `mcp`) runs with.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub common: CommonSettings,
    pub requests: RequestSettings,
    pub server: ServerSettings,
    pub tokens: TokenSettings,
    pub authorization: AuthorizationSettings,
    pub rate_limits: RateLimitSettings,
    pub tools: ToolSettings,
}

pub fn resolve_serve(args: &ServeArgs) -> Result<ServeSettings, ConfigError> {
    let mut common = resolve_common(&args.common)?;
    let file = FileTables::load(common.config.as_deref())?;
    let server = server::resolve_server(&args.server, &mut common)?;
    let tokens = resolve_tokens(&args.tokens, &common)?;
    let tools = tools::resolve_tools(&args.tools, file.policy, file.upstreams)?;
    if args.authorization.key_rotation_days.is_some() && common.key_encryption_key.is_none() {
        return Err(ConfigError::new(
            "key_rotation_days",
            "scheduled rotation needs the signing keys in the database",
            "set --key-encryption-key-file (or PORTCULLIS_KEY_ENCRYPTION_KEY), or rotate with `portcullis keys rotate`",
        ));
    }
    if !file.identity_providers.is_empty() && !matches!(tokens.keys, TokenKeys::Local) {
        return Err(ConfigError::new(
            "identity_providers",
            "providers sign users in at the built-in authorization server, which does not run with an external issuer",
            "remove --issuer (and its keys) to use them, or configure the providers at your issuer",
        ));
    }
    Ok(ServeSettings {
        requests: resolve_requests(&args.requests)?,
        rate_limits: limits::resolve_limits(&args.limits, file.rate_limits)?,
        authorization: authorization_server::resolve_authorization(
            &args.authorization,
            file.clients,
            file.identity_providers,
            &tools.policy.scopes_supported(),
        )?,
        server,
        tokens,
        tools,
        common,
    })
}

pub fn ranged(
    key: &'static str,
    value: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::new(
            key,
            format!("{value} is out of range"),
            format!("use {} to {}", range.start(), range.end()),
        ))
    }
}

pub fn parse_url(key: &'static str, raw: &str, example: &str) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(raw).map_err(|e| {
        ConfigError::new(
            key,
            format!("{raw:?} is not a URL ({e})"),
            format!("use e.g. {example}"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::new(
            key,
            format!("{raw:?} is not an http(s) URL"),
            format!("use e.g. {example}"),
        ));
    }
    Ok(url)
}

/// A secret given directly (flag, environment or configuration file), else read from a file
/// (trimmed).
pub(crate) fn secret_from(
    key: &'static str,
    env: &str,
    direct: Option<&str>,
    path: Option<&std::path::Path>,
) -> Result<Option<secrecy::SecretString>, ConfigError> {
    if let Some(value) = direct {
        return Ok(Some(secrecy::SecretString::from(value)));
    }
    let Some(path) = path else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::with_env(
            key,
            env,
            format!("cannot read {}: {e}", path.display()),
            "give the path of a readable file holding the secret",
        )
    })?;
    Ok(Some(secrecy::SecretString::from(text.trim())))
}

/// What `config check` prints in place of a secret.
pub const MASK: &str = "********";

/// A URL with any password replaced by [`MASK`].
pub fn masked_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some(MASK));
            url.to_string()
        }
        _ => raw.to_owned(),
    }
}
