//! Typed configuration: flags and `PORTCULLIS_*` environment (via clap) over a TOML file over
//! defaults, validated once at start-up. A bad value stops start-up with one line naming the
//! setting and the fix.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use portcullis_http::ToolLimit;
use portcullis_ratelimit::{OnRedisFailure, Quota, RedisSettings};
use serde::Deserialize;
use std::collections::HashMap;

use crate::cli::{CommonArgs, ServeArgs};

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

/// Settings that exist only as tables of the configuration file.
const FILE_ONLY: [&str; 4] = ["clients", "policy", "rate_limits", "upstreams"];

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
        let names = (!FILE_ONLY.contains(&key)).then(|| {
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

/// The TOML file: the same names as the flags, with `_`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    bind: Option<String>,
    public_url: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    jwt_public_key: Option<PathBuf>,
    jwks_uri: Option<String>,
    jwt_leeway_secs: Option<u64>,
    jwks_min_refresh_secs: Option<u64>,
    tenant_claim: Option<String>,
    legacy_sessions: Option<bool>,
    allowed_origins: Option<Vec<String>>,
    allowed_hosts: Option<Vec<String>>,
    max_body_bytes: Option<usize>,
    log_format: Option<String>,
    access_token_ttl_secs: Option<u64>,
    refresh_token_ttl_secs: Option<u64>,
    authorization_code_ttl_secs: Option<u64>,
    dynamic_registration: Option<bool>,
    max_registrations_per_hour: Option<u32>,
    max_registrations_per_address: Option<u32>,
    unused_client_ttl_secs: Option<u64>,
    allowed_redirect_schemes: Option<Vec<String>>,
    dev_mode: Option<bool>,
    #[serde(default)]
    clients: Vec<FileClient>,
    #[serde(default)]
    policy: FilePolicy,
    rate_limit: Option<String>,
    rate_limit_burst: Option<u32>,
    client_rate_limit: Option<String>,
    tenant_rate_limit: Option<String>,
    ip_rate_limit: Option<String>,
    ip_rate_limit_burst: Option<u32>,
    client_ip_header: Option<String>,
    redis_url: Option<String>,
    redis_prefix: Option<String>,
    redis_timeout_ms: Option<u64>,
    redis_failure_mode: Option<String>,
    metrics_bind: Option<String>,
    access_log: Option<bool>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    request_timeout_secs: Option<u64>,
    header_read_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    max_connections: Option<u32>,
    #[serde(default)]
    rate_limits: FileRateLimits,
    service_auth_token: Option<String>,
    internal_api_key: Option<String>,
    backend_url: Option<String>,
    backend_timeout_secs: Option<f64>,
    backend_retries: Option<u32>,
    /// `[[upstreams]]`: MCP servers Portcullis fronts (see `portcullis_gateway::UpstreamConfig`).
    #[serde(default)]
    upstreams: Vec<portcullis_gateway::UpstreamConfig>,
    builtin_tools: Option<bool>,
}

/// `[rate_limits.tools.<tool or group>]`: a budget of its own for a tool, or one shared by a
/// group's tools, instead of the caller's default budget.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRateLimits {
    #[serde(default)]
    tools: std::collections::BTreeMap<String, FileToolLimit>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToolLimit {
    /// N/UNIT, or `off` for no limit on this tool.
    rate: String,
    /// How many calls may come at once [default: N].
    burst: Option<u32>,
}

/// `[policy]`: which credentials and scopes each tool (or group) accepts.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePolicy {
    hide_forbidden_tools: Option<bool>,
    /// `[policy.tools.<tool or group>]` with `methods` and/or `scopes`.
    #[serde(default)]
    tools: std::collections::BTreeMap<String, portcullis_mcp::RuleOverride>,
}

/// A pre-registered OAuth client in the file (`[[clients]]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileClient {
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

fn load_file(path: Option<&Path>) -> anyhow::Result<FileConfig> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            "config",
            format!("cannot read {}: {e}", path.display()),
            "give the path of a readable TOML file",
        )
    })?;
    toml::from_str(&text).map_err(|e| {
        ConfigError::new(
            "config",
            format!("{} is not valid: {}", path.display(), e.message()),
            "keys are the flag names with _ (see --help)",
        )
        .into()
    })
}

/// Where tokens' keys come from.
#[derive(Debug, Clone)]
pub enum TokenKeys {
    /// The generated key in the data directory; the issuer is this server.
    Local,
    File(PathBuf),
    JwksUri(url::Url),
    Discovery,
}

/// Identity and storage settings shared by `serve` and the admin commands.
#[derive(Debug, Clone)]
pub struct CommonSettings {
    pub bind: SocketAddr,
    pub public_url: url::Url,
    /// The public URL was derived from a loopback bind, not configured: the server also
    /// answers as `localhost`, `127.0.0.1` and `[::1]` on its port.
    pub loopback_aliases: bool,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub issuer: Option<String>,
    pub audience: String,
}

impl CommonSettings {
    /// The public URL as clients see it, without a trailing slash.
    pub fn public_base(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_owned()
    }

    /// The issuer tokens must carry: the configured one, else this server.
    pub fn effective_issuer(&self) -> String {
        self.issuer.clone().unwrap_or_else(|| self.public_base())
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.data_dir.join("keys")
    }
}

#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub common: CommonSettings,
    pub connections: crate::server::ConnectionLimits,
    pub token_keys: TokenKeys,
    pub leeway: Duration,
    pub jwks_min_refresh: Duration,
    pub tenant_claim: String,
    pub legacy_sessions: bool,
    pub allowed_origins: Vec<String>,
    pub allowed_hosts: Vec<String>,
    pub max_body_bytes: usize,
    pub log_json: bool,
    pub authorization: AuthorizationSettings,
    pub policy: std::sync::Arc<portcullis_mcp::Policy>,
    pub rate_limits: RateLimitSettings,
    pub metrics_bind: Option<SocketAddr>,
    pub access_log: bool,
    /// Certificate chain and key files when serving HTTPS itself.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub request_timeout: Duration,
    /// Microservice settings as the file gives them; the flags of `backend`/`mcp` win.
    pub file_microservice: FileMicroservice,
    /// `[policy.tools.*]` as given (the effective policy is the defaults with these applied).
    pub policy_overrides: std::collections::BTreeMap<String, portcullis_mcp::RuleOverride>,
    /// The upstream MCP servers, as configured (file tables and `--upstream` shortcuts) and
    /// as checked.
    pub upstream_configs: Vec<portcullis_gateway::UpstreamConfig>,
    pub upstreams: Vec<portcullis_gateway::UpstreamSpec>,
    /// Serve the built-in task and admin tools.
    pub builtin_tools: bool,
}

/// The configuration file's microservice keys (secrets included: files are for operators).
#[derive(Debug, Clone, Default)]
pub struct FileMicroservice {
    pub service_auth_token: Option<secrecy::SecretString>,
    pub internal_api_key: Option<secrecy::SecretString>,
    pub backend_url: Option<String>,
    pub backend_timeout_secs: Option<f64>,
    pub backend_retries: Option<u32>,
}

/// Rate limits as configured; `serve` builds the limiter from them.
#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    pub per_principal: Option<Quota>,
    pub per_client: Option<Quota>,
    pub per_tenant: Option<Quota>,
    pub per_ip: Option<Quota>,
    pub tools: HashMap<&'static str, ToolLimit>,
    pub client_ip_header: Option<axum::http::HeaderName>,
    pub redis: Option<RedisSettings>,
}

/// Settings of the built-in authorization server (used when no external issuer is set).
#[derive(Debug, Clone)]
pub struct AuthorizationSettings {
    pub access_token_ttl: Duration,
    pub redirect_schemes: portcullis_oauth::redirect_uri::SchemePolicy,
    /// Clock skew tolerated by the resource server (so retired keys outlive it too).
    pub leeway: Duration,
    pub max_registrations_per_address: u32,
    pub unused_client_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub code_ttl: Duration,
    pub dynamic_registration: bool,
    pub max_registrations_per_hour: u32,
    pub dev_mode: bool,
    pub clients: Vec<portcullis_oauth::ConfiguredClient>,
}

impl AuthorizationSettings {
    /// How long a retired signing key stays published: until its last token has expired.
    pub fn key_retention(&self) -> Duration {
        retention_for(self.access_token_ttl, self.leeway)
    }
}

/// A key retired now may have signed a token a moment ago: keep it for that token's lifetime,
/// the verification leeway, and a margin for clocks and key-ring reloads.
fn retention_for(access_token_ttl: Duration, leeway: Duration) -> Duration {
    access_token_ttl + leeway + Duration::from_secs(300)
}

/// The retention `keys rotate`/`keys list` use: from the access-token lifetime given on the
/// command line (or its env var), else the configuration file's, and the file's leeway.
pub fn key_retention(
    ttl_flag: Option<u64>,
    file: &FileConfigHandle,
) -> Result<Duration, ConfigError> {
    let ttl = ranged(
        "access_token_ttl_secs",
        ttl_flag.or(file.0.access_token_ttl_secs).unwrap_or(3600),
        60..=86_400,
    )?;
    let leeway = file.0.jwt_leeway_secs.unwrap_or(30);
    Ok(retention_for(
        Duration::from_secs(ttl),
        Duration::from_secs(leeway),
    ))
}

fn ranged(
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

fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("portcullis");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(home).join(".local/share/portcullis");
    }
    PathBuf::from("portcullis-data")
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

pub fn resolve_common(args: &CommonArgs) -> anyhow::Result<(CommonSettings, FileConfigHandle)> {
    let file = load_file(args.config.as_deref())?;
    let bind_raw = args
        .bind
        .clone()
        .or(file.bind.clone())
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let bind = parse_bind(&bind_raw)?;
    let public_url_given = args.public_url.is_some() || file.public_url.is_some();
    let public_url = match args.public_url.clone().or(file.public_url.clone()) {
        Some(raw) => parse_url("public_url", &raw, "https://mcp.example.com")?,
        None => {
            // An unspecified bind address is not somewhere a client can connect to.
            let host = match bind.ip() {
                ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
                ip if ip.is_unspecified() => "[::1]".to_owned(),
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                ip => ip.to_string(),
            };
            url::Url::parse(&format!("http://{host}:{}", bind.port()))
                .expect("a socket address makes a URL")
        }
    };
    if public_url.query().is_some() || public_url.fragment().is_some() {
        return Err(ConfigError::new(
            "public_url",
            "has a query or fragment",
            "give scheme://host[:port][/path] only",
        )
        .into());
    }
    let data_dir = args
        .data_dir
        .clone()
        .or(file.data_dir.clone())
        .unwrap_or_else(default_data_dir);
    let database_url = args
        .database_url
        .clone()
        .or(file.database_url.clone())
        .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("portcullis.db").display()));
    portcullis_core::Backend::from_url(&database_url).map_err(|e| {
        ConfigError::new(
            "database_url",
            e.reason,
            "e.g. sqlite://./portcullis.db or postgres://user@localhost/portcullis",
        )
    })?;
    let issuer = args.issuer.clone().or(file.issuer.clone());
    if let Some(issuer) = &issuer {
        parse_url("issuer", issuer, "https://idp.example.com")?;
    }
    let audience = match args.audience.clone().or(file.audience.clone()) {
        Some(aud) if !aud.is_empty() => aud,
        Some(_) => {
            return Err(ConfigError::new(
                "audience",
                "is empty",
                "omit it to use <public-url>/mcp",
            )
            .into());
        }
        None => format!("{}/mcp", public_url.as_str().trim_end_matches('/')),
    };
    let loopback_aliases =
        !public_url_given && (bind.ip().is_loopback() || bind.ip().is_unspecified());
    let settings = CommonSettings {
        bind,
        loopback_aliases,
        public_url,
        data_dir,
        database_url,
        issuer,
        audience,
    };
    Ok((settings, FileConfigHandle(file)))
}

/// `IP:PORT`, or `localhost:PORT` (which means the IPv4 loopback address).
fn parse_bind(raw: &str) -> Result<SocketAddr, ConfigError> {
    if let Ok(addr) = raw.parse() {
        return Ok(addr);
    }
    match raw.rsplit_once(':') {
        Some((host, port)) if host.eq_ignore_ascii_case("localhost") => port
            .parse::<u16>()
            .map(|port| SocketAddr::from(([127, 0, 0, 1], port)))
            .map_err(|_| {
                ConfigError::new(
                    "bind",
                    format!("{raw:?} has no valid port"),
                    "e.g. localhost:8080",
                )
            }),
        _ => Err(ConfigError::new(
            "bind",
            format!("{raw:?} is not an address"),
            "use IP:PORT or localhost:PORT, e.g. 127.0.0.1:8080",
        )),
    }
}

/// The parsed file, passed on so `serve` reads it once.
pub struct FileConfigHandle(FileConfig);

pub fn resolve_serve(args: &ServeArgs) -> anyhow::Result<ServeSettings> {
    let (mut common, FileConfigHandle(mut file)) = resolve_common(&args.common)?;
    let tls = match (
        args.tls_cert.clone().or(file.tls_cert.take()),
        args.tls_key.clone().or(file.tls_key.take()),
    ) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => {
            return Err(ConfigError::new(
                "tls_cert",
                "only one of --tls-cert and --tls-key is set",
                "give both the certificate chain and its private key, or neither",
            )
            .into());
        }
    };
    // Serving HTTPS itself, the default public URL (and audience) are https too.
    if tls.is_some() && args.common.public_url.is_none() && file.public_url.is_none() {
        let _ = common.public_url.set_scheme("https");
        if args.common.audience.is_none() && file.audience.is_none() {
            common.audience = format!("{}/mcp", common.public_base());
        }
    }
    let rate_limits = rate_limits(args, &mut file)?;
    let metrics_bind = match args.metrics_bind.clone().or(file.metrics_bind.take()) {
        Some(raw) => Some(raw.parse().map_err(|_| {
            ConfigError::new(
                "metrics_bind",
                format!("{raw:?} is not an address"),
                "use IP:PORT, e.g. 127.0.0.1:9090",
            )
        })?),
        None => None,
    };
    let key_file = args.tokens.jwt_public_key.clone().or(file.jwt_public_key);
    let jwks_uri = args.tokens.jwks_uri.clone().or(file.jwks_uri);
    let token_keys = match (key_file, jwks_uri, &common.issuer) {
        (Some(path), _, Some(_)) => TokenKeys::File(path),
        (None, Some(uri), Some(_)) => TokenKeys::JwksUri(parse_url(
            "jwks_uri",
            &uri,
            "https://idp.example.com/.well-known/jwks.json",
        )?),
        (None, None, Some(_)) => TokenKeys::Discovery,
        (Some(_), _, None) | (None, Some(_), None) => {
            return Err(ConfigError::new(
                "issuer",
                "external token keys are configured but no issuer",
                "set --issuer to the exact `iss` your identity provider puts in tokens",
            )
            .into());
        }
        (None, None, None) => TokenKeys::Local,
    };
    let log_format = args
        .log_format
        .clone()
        .or(file.log_format)
        .unwrap_or_else(|| "pretty".into());
    let log_json = match log_format.as_str() {
        "json" => true,
        "pretty" => false,
        other => {
            return Err(ConfigError::new(
                "log_format",
                format!("{other:?} is not a format"),
                "use pretty or json",
            )
            .into());
        }
    };
    let tenant_claim = args
        .tokens
        .tenant_claim
        .clone()
        .or(file.tenant_claim)
        .unwrap_or_else(|| "org_id".into());
    if tenant_claim.is_empty() {
        return Err(
            ConfigError::new("tenant_claim", "is empty", "name a claim such as org_id").into(),
        );
    }
    let max_body_bytes = args
        .max_body_bytes
        .or(file.max_body_bytes)
        .unwrap_or(1024 * 1024);
    if !(1024..=64 * 1024 * 1024).contains(&max_body_bytes) {
        return Err(ConfigError::new(
            "max_body_bytes",
            format!("{max_body_bytes} is out of range"),
            "use 1024 to 67108864",
        )
        .into());
    }
    let leeway = args
        .tokens
        .jwt_leeway_secs
        .or(file.jwt_leeway_secs)
        .unwrap_or(30);
    if leeway > 300 {
        return Err(ConfigError::new(
            "jwt_leeway_secs",
            format!("{leeway} s is too lax"),
            "use at most 300 seconds",
        )
        .into());
    }
    let access_ttl = ranged(
        "access_token_ttl_secs",
        args.access_token_ttl_secs
            .or(file.access_token_ttl_secs)
            .unwrap_or(3600),
        60..=86_400,
    )?;
    let refresh_ttl = ranged(
        "refresh_token_ttl_secs",
        args.refresh_token_ttl_secs
            .or(file.refresh_token_ttl_secs)
            .unwrap_or(30 * 86_400),
        60..=365 * 86_400,
    )?;
    let code_ttl = ranged(
        "authorization_code_ttl_secs",
        args.authorization_code_ttl_secs
            .or(file.authorization_code_ttl_secs)
            .unwrap_or(60),
        1..=600,
    )?;
    let builtin_tools = args.builtin_tools.or(file.builtin_tools).unwrap_or(true);
    let (upstream_configs, upstreams) =
        upstreams(args, std::mem::take(&mut file.upstreams), builtin_tools)?;
    let hide_forbidden_tools = args
        .hide_forbidden_tools
        .or(file.policy.hide_forbidden_tools)
        .unwrap_or(true);
    let prefixes: Vec<(String, String)> = upstreams
        .iter()
        .map(|u| (u.name.clone(), u.prefix.clone()))
        .collect();
    let mut policy =
        portcullis_mcp::Policy::with_overrides(&file.policy.tools, hide_forbidden_tools, &prefixes)
            .map_err(|problem| {
                ConfigError::new(
                    "policy",
                    problem,
                    "fix the [policy.tools.*] table in the configuration file",
                )
            })?;
    if !builtin_tools {
        policy = policy.without_builtin_tools();
    }
    let supported_scopes = policy.scopes_supported();
    let clients = std::mem::take(&mut file.clients)
        .into_iter()
        .map(|c| configured_client(c, &supported_scopes))
        .collect::<Result<Vec<_>, _>>()?;
    let redirect_schemes = match args
        .allowed_redirect_schemes
        .clone()
        .or(file.allowed_redirect_schemes.take())
    {
        None => portcullis_oauth::redirect_uri::SchemePolicy::Any,
        Some(list) => {
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
                )
                .into());
            }
            portcullis_oauth::redirect_uri::SchemePolicy::Only(list)
        }
    };
    let authorization = AuthorizationSettings {
        access_token_ttl: Duration::from_secs(access_ttl),
        redirect_schemes,
        leeway: Duration::from_secs(leeway),
        max_registrations_per_address: ranged(
            "max_registrations_per_address",
            u64::from(
                args.max_registrations_per_address
                    .or(file.max_registrations_per_address)
                    .unwrap_or(10),
            ),
            1..=100_000,
        )? as u32,
        unused_client_ttl: Duration::from_secs(ranged(
            "unused_client_ttl_secs",
            args.unused_client_ttl_secs
                .or(file.unused_client_ttl_secs)
                .unwrap_or(86_400),
            60..=365 * 86_400,
        )?),
        refresh_token_ttl: Duration::from_secs(refresh_ttl),
        code_ttl: Duration::from_secs(code_ttl),
        dynamic_registration: args
            .dynamic_registration
            .or(file.dynamic_registration)
            .unwrap_or(true),
        max_registrations_per_hour: args
            .max_registrations_per_hour
            .or(file.max_registrations_per_hour)
            .unwrap_or(100),
        dev_mode: args.dev_mode.or(file.dev_mode).unwrap_or(false),
        clients,
    };
    let policy_overrides = std::mem::take(&mut file.policy.tools);
    let file_microservice = FileMicroservice {
        service_auth_token: file.service_auth_token.take().map(Into::into),
        internal_api_key: file.internal_api_key.take().map(Into::into),
        backend_url: file.backend_url.take(),
        backend_timeout_secs: file.backend_timeout_secs,
        backend_retries: file.backend_retries,
    };
    let request_timeout = Duration::from_secs(ranged(
        "request_timeout_secs",
        args.request_timeout_secs
            .or(file.request_timeout_secs)
            .unwrap_or(60),
        1..=3600,
    )?);
    let connections = crate::server::ConnectionLimits {
        header_read_timeout: Duration::from_secs(ranged(
            "header_read_timeout_secs",
            args.header_read_timeout_secs
                .or(file.header_read_timeout_secs)
                .unwrap_or(10),
            1..=300,
        )?),
        idle_timeout: Duration::from_secs(ranged(
            "idle_timeout_secs",
            args.idle_timeout_secs
                .or(file.idle_timeout_secs)
                .unwrap_or(60),
            1..=3600,
        )?),
        max_connections: ranged(
            "max_connections",
            u64::from(
                args.max_connections
                    .or(file.max_connections)
                    .unwrap_or(1024),
            ),
            1..=1_000_000,
        )? as usize,
    };
    Ok(ServeSettings {
        upstream_configs,
        upstreams,
        builtin_tools,
        policy_overrides,
        connections,
        request_timeout,
        tls,
        access_log: args.access_log.or(file.access_log).unwrap_or(false),
        file_microservice,
        rate_limits,
        metrics_bind,
        policy: std::sync::Arc::new(policy),
        authorization,
        common,
        token_keys,
        leeway: Duration::from_secs(leeway),
        jwks_min_refresh: Duration::from_secs(
            args.tokens
                .jwks_min_refresh_secs
                .or(file.jwks_min_refresh_secs)
                .unwrap_or(5),
        ),
        tenant_claim,
        legacy_sessions: args
            .legacy_sessions
            .or(file.legacy_sessions)
            .unwrap_or(false),
        allowed_origins: args
            .allowed_origins
            .clone()
            .or(file.allowed_origins)
            .unwrap_or_default(),
        allowed_hosts: args
            .allowed_hosts
            .clone()
            .or(file.allowed_hosts)
            .unwrap_or_default(),
        max_body_bytes,
        log_json,
    })
}

/// `[[upstreams]]` from the file, then each `--upstream NAME=URL`, checked as one set.
fn upstreams(
    args: &ServeArgs,
    mut configs: Vec<portcullis_gateway::UpstreamConfig>,
    builtin_tools: bool,
) -> Result<
    (
        Vec<portcullis_gateway::UpstreamConfig>,
        Vec<portcullis_gateway::UpstreamSpec>,
    ),
    ConfigError,
> {
    for raw in args.upstream.iter().flatten() {
        configs.push(
            portcullis_gateway::UpstreamConfig::from_shortcut(raw)
                .map_err(|e| ConfigError::new("upstream", e.problem, e.fix))?,
        );
    }
    let builtin: Vec<&str> = if builtin_tools {
        portcullis_mcp::GROUPS
            .iter()
            .flat_map(|(_, tools)| tools.iter().copied())
            .collect()
    } else {
        Vec::new()
    };
    let specs = portcullis_gateway::validate(&configs, &builtin, &|var| std::env::var(var).ok())
        .map_err(|e| {
            ConfigError::new(
                "upstreams",
                format!("upstream {:?}: `{}` {}", e.name, e.key, e.problem),
                e.fix,
            )
        })?;
    if !builtin_tools && specs.is_empty() {
        return Err(ConfigError::new(
            "builtin_tools",
            "is false and no upstream is configured, so there would be no tools",
            "add an [[upstreams]] table or --upstream NAME=URL, or keep the built-in tools",
        ));
    }
    Ok((configs, specs))
}

/// `rate` (N/UNIT or off) with `burst`, else the default; `None` when off.
fn quota(
    key: &'static str,
    rate: Option<String>,
    burst: Option<u32>,
    default: Option<&str>,
) -> Result<Option<Quota>, ConfigError> {
    let Some(rate) = rate.or(default.map(str::to_owned)) else {
        return Ok(None);
    };
    Quota::parse(&rate, burst).map_err(|e| {
        ConfigError::new(
            key,
            e.to_string(),
            "e.g. 100/min, with a burst of at least 1",
        )
    })
}

fn rate_limits(args: &ServeArgs, file: &mut FileConfig) -> Result<RateLimitSettings, ConfigError> {
    let per_principal = quota(
        "rate_limit",
        args.rate_limit.clone().or(file.rate_limit.take()),
        Some(
            args.rate_limit_burst
                .or(file.rate_limit_burst)
                .unwrap_or(20),
        ),
        Some("100/min"),
    )?;
    let per_client = quota(
        "client_rate_limit",
        args.client_rate_limit
            .clone()
            .or(file.client_rate_limit.take()),
        None,
        None,
    )?;
    let per_tenant = quota(
        "tenant_rate_limit",
        args.tenant_rate_limit
            .clone()
            .or(file.tenant_rate_limit.take()),
        None,
        None,
    )?;
    let per_ip = quota(
        "ip_rate_limit",
        args.ip_rate_limit.clone().or(file.ip_rate_limit.take()),
        Some(
            args.ip_rate_limit_burst
                .or(file.ip_rate_limit_burst)
                .unwrap_or(30),
        ),
        Some("60/min"),
    )?;
    // Groups first, then single tools: a tool's own entry wins over its group's.
    let entries = portcullis_mcp::resolve_targets(std::mem::take(&mut file.rate_limits.tools))
        .map_err(|name| {
            ConfigError::new(
                "rate_limits",
                format!("rate_limits.tools.{name}: no tool or group has this name"),
                "name a tool, or a group: tasks_read, tasks_write, admin",
            )
        })?;
    let mut tools = HashMap::new();
    for portcullis_mcp::Targeted {
        name,
        tools: targets,
        value: limit,
    } in entries
    {
        let quota = Quota::parse(&limit.rate, limit.burst).map_err(|e| {
            ConfigError::new(
                "rate_limits",
                format!("rate_limits.tools.{name}: {e}"),
                "e.g. rate = \"10/min\", burst = 5",
            )
        })?;
        for tool in targets {
            tools.insert(tool, ToolLimit { scope: name, quota });
        }
    }
    let client_ip_header = match args
        .client_ip_header
        .clone()
        .or(file.client_ip_header.take())
    {
        Some(raw) => Some(axum::http::HeaderName::try_from(raw.trim()).map_err(|_| {
            ConfigError::new(
                "client_ip_header",
                format!("{raw:?} is not a header name"),
                "e.g. X-Forwarded-For or X-Real-IP",
            )
        })?),
        None => None,
    };
    let redis = match args.redis_url.clone().or(file.redis_url.take()) {
        Some(url) => Some(redis_settings(args, file, url)?),
        None => None,
    };
    Ok(RateLimitSettings {
        per_principal,
        per_client,
        per_tenant,
        per_ip,
        tools,
        client_ip_header,
        redis,
    })
}

fn redis_settings(
    args: &ServeArgs,
    file: &mut FileConfig,
    url: String,
) -> Result<RedisSettings, ConfigError> {
    if !url.starts_with("redis://") && !url.starts_with("rediss://") {
        return Err(ConfigError::new(
            "redis_url",
            "is not a redis:// or rediss:// URL",
            "e.g. redis://127.0.0.1:6379/0",
        ));
    }
    let timeout_ms = ranged(
        "redis_timeout_ms",
        args.redis_timeout_ms
            .or(file.redis_timeout_ms)
            .unwrap_or(100),
        1..=10_000,
    )?;
    let mode = args
        .redis_failure_mode
        .clone()
        .or(file.redis_failure_mode.take())
        .unwrap_or_else(|| "local".into());
    let on_failure = OnRedisFailure::parse(&mode).ok_or_else(|| {
        ConfigError::new(
            "redis_failure_mode",
            format!("{mode:?} is not a mode"),
            "use local, open or closed",
        )
    })?;
    Ok(RedisSettings {
        url,
        prefix: args
            .redis_prefix
            .clone()
            .or(file.redis_prefix.take())
            .unwrap_or_else(|| "portcullis:".into()),
        timeout: Duration::from_millis(timeout_ms),
        on_failure,
        cooldown: Duration::from_secs(5),
    })
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
