//! Where the server listens, who it says it is, where its data lives, and how it treats
//! connections and requests.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{ArgAction, Args};

use super::{ConfigError, parse_url, ranged};

/// Settings shared by every command that touches the server's data or identity.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// TOML configuration file; its keys are the flag names with `_` for `-`.
    #[arg(long, env = "PORTCULLIS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "PORTCULLIS_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// The URL clients use to reach this server [default: http://<bind>].
    #[arg(long, env = "PORTCULLIS_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Directory for the SQLite database and generated keys [default:
    /// $XDG_DATA_HOME/portcullis, else ~/.local/share/portcullis].
    #[arg(long, env = "PORTCULLIS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// sqlite://FILE or postgres://USER@HOST/DB [default: sqlite://<data-dir>/portcullis.db].
    #[arg(long, env = "PORTCULLIS_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Required `iss` of access tokens [default: the public URL, with the local signing key].
    #[arg(long, env = "PORTCULLIS_ISSUER")]
    pub issuer: Option<String>,
    /// Required `aud` of access tokens [default: <public-url>/mcp].
    #[arg(long, env = "PORTCULLIS_AUDIENCE")]
    pub audience: Option<String>,
    #[command(flatten)]
    pub key_storage: super::KeyStorageArgs,
}

/// How requests are read and logged, for every server (`serve`, `mcp`, `backend`).
#[derive(Debug, Clone, Args)]
pub struct RequestArgs {
    /// Largest accepted request body in bytes.
    #[arg(long, env = "PORTCULLIS_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Log format: `pretty` or `json`.
    #[arg(long, env = "PORTCULLIS_LOG_FORMAT", default_value = "pretty")]
    pub log_format: String,
    /// Longest a request (other than a GET stream) may take before it is answered 503, in
    /// seconds.
    #[arg(long, env = "PORTCULLIS_REQUEST_TIMEOUT_SECS", default_value_t = 60)]
    pub request_timeout_secs: u64,
    /// SQLite: the most audit-journal bytes that may wait to be moved into the database
    /// (when it refuses writes for long); beyond it calls are refused, never left unaudited.
    #[arg(long, env = "PORTCULLIS_AUDIT_BACKLOG_MAX_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub audit_backlog_max_bytes: u64,
}

/// The MCP server's listener: sessions, browsers, connections, TLS, logs and metrics.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Keep Mcp-Session-Id sessions for 2025-era clients that initialize (needs sticky routing
    /// across replicas); false: every request stands alone.
    #[arg(long, env = "PORTCULLIS_LEGACY_SESSIONS", action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", default_value_t = false)]
    pub legacy_sessions: bool,
    /// Browser origins allowed to call /mcp, comma-separated (the public URL's origin always is).
    #[arg(long, env = "PORTCULLIS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Host header values accepted besides loopback names and the public URL's host.
    #[arg(long, env = "PORTCULLIS_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,
    /// Log one line per request at info (method, route, status, user, duration, request id).
    #[arg(long, env = "PORTCULLIS_ACCESS_LOG", action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", default_value_t = false)]
    pub access_log: bool,
    /// Longest a client may take to send a request's headers, in seconds.
    #[arg(
        long,
        env = "PORTCULLIS_HEADER_READ_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub header_read_timeout_secs: u64,
    /// Close a kept-alive connection idle this long between requests, in seconds.
    #[arg(long, env = "PORTCULLIS_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub idle_timeout_secs: u64,
    /// Most connections served at once (TLS handshakes included); more wait to be accepted.
    #[arg(long, env = "PORTCULLIS_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: u64,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key) [default: plain HTTP, for
    /// deployments behind a proxy that terminates TLS].
    #[arg(long, env = "PORTCULLIS_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "PORTCULLIS_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Serve Prometheus /metrics on this address (e.g. 127.0.0.1:9090) [default: not served].
    #[arg(long, env = "PORTCULLIS_METRICS_BIND")]
    pub metrics_bind: Option<String>,
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
    /// The configuration file, if one was given (for its tables).
    pub config: Option<PathBuf>,
    /// Signing keys live in the database, sealed under this key (else in `keys_dir`).
    pub key_encryption_key: Option<portcullis_oauth::sealed::SealingKey>,
    /// The key-encryption key's file, when it came from one (for `config check`).
    pub key_encryption_key_file: Option<PathBuf>,
    /// The public URL and audience were derived, not configured.
    derived_url: bool,
    derived_audience: bool,
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

    /// Serving HTTPS itself, the derived public URL (and audience) are https too.
    fn serving_https(&mut self) {
        if self.derived_url {
            let _ = self.public_url.set_scheme("https");
            if self.derived_audience {
                self.audience = format!("{}/mcp", self.public_base());
            }
        }
    }
}

/// How requests are read and logged.
#[derive(Debug, Clone)]
pub struct RequestSettings {
    pub max_body_bytes: usize,
    pub log_json: bool,
    pub request_timeout: Duration,
    pub audit_backlog_max_bytes: u64,
}

/// The MCP server's listener.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub connections: crate::server::ConnectionLimits,
    pub legacy_sessions: bool,
    pub allowed_origins: Vec<String>,
    pub allowed_hosts: Vec<String>,
    pub access_log: bool,
    /// Certificate chain and key files when serving HTTPS itself.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub metrics_bind: Option<SocketAddr>,
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

pub fn resolve_common(args: &CommonArgs) -> Result<CommonSettings, ConfigError> {
    let bind = parse_bind(&args.bind)?;
    let public_url = match &args.public_url {
        Some(raw) => parse_url("public_url", raw, "https://mcp.example.com")?,
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
        ));
    }
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    let database_url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("portcullis.db").display()));
    portcullis_core::Backend::from_url(&database_url).map_err(|e| {
        ConfigError::new(
            "database_url",
            e.reason,
            "e.g. sqlite://./portcullis.db or postgres://user@localhost/portcullis",
        )
    })?;
    if let Some(issuer) = &args.issuer {
        parse_url("issuer", issuer, "https://idp.example.com")?;
    }
    let audience = match &args.audience {
        Some(aud) if !aud.is_empty() => aud.clone(),
        Some(_) => {
            return Err(ConfigError::new(
                "audience",
                "is empty",
                "omit it to use <public-url>/mcp",
            ));
        }
        None => format!("{}/mcp", public_url.as_str().trim_end_matches('/')),
    };
    let derived_url = args.public_url.is_none();
    Ok(CommonSettings {
        bind,
        loopback_aliases: derived_url && (bind.ip().is_loopback() || bind.ip().is_unspecified()),
        public_url,
        data_dir,
        database_url,
        issuer: args.issuer.clone(),
        audience,
        config: args.config.clone(),
        key_encryption_key: args.key_storage.resolve()?,
        key_encryption_key_file: args.key_storage.key_encryption_key_file.clone(),
        derived_url,
        derived_audience: args.audience.is_none(),
    })
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

pub fn resolve_requests(args: &RequestArgs) -> Result<RequestSettings, ConfigError> {
    let log_json = match args.log_format.as_str() {
        "json" => true,
        "pretty" => false,
        other => {
            return Err(ConfigError::new(
                "log_format",
                format!("{other:?} is not a format"),
                "use pretty or json",
            ));
        }
    };
    let max_body_bytes = ranged(
        "max_body_bytes",
        args.max_body_bytes as u64,
        1024..=64 * 1024 * 1024,
    )? as usize;
    Ok(RequestSettings {
        max_body_bytes,
        log_json,
        request_timeout: Duration::from_secs(ranged(
            "request_timeout_secs",
            args.request_timeout_secs,
            1..=3600,
        )?),
        audit_backlog_max_bytes: ranged(
            "audit_backlog_max_bytes",
            args.audit_backlog_max_bytes,
            4096..=1 << 40,
        )?,
    })
}

/// The listener's settings; serving HTTPS turns the derived public URL to https.
pub fn resolve_server(
    args: &ServerArgs,
    common: &mut CommonSettings,
) -> Result<ServerSettings, ConfigError> {
    let tls = match (args.tls_cert.clone(), args.tls_key.clone()) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => {
            return Err(ConfigError::new(
                "tls_cert",
                "only one of --tls-cert and --tls-key is set",
                "give both the certificate chain and its private key, or neither",
            ));
        }
    };
    if tls.is_some() {
        common.serving_https();
    }
    let metrics_bind = match &args.metrics_bind {
        Some(raw) => Some(raw.parse().map_err(|_| {
            ConfigError::new(
                "metrics_bind",
                format!("{raw:?} is not an address"),
                "use IP:PORT, e.g. 127.0.0.1:9090",
            )
        })?),
        None => None,
    };
    let connections = crate::server::ConnectionLimits {
        header_read_timeout: Duration::from_secs(ranged(
            "header_read_timeout_secs",
            args.header_read_timeout_secs,
            1..=300,
        )?),
        idle_timeout: Duration::from_secs(ranged(
            "idle_timeout_secs",
            args.idle_timeout_secs,
            1..=3600,
        )?),
        max_connections: ranged("max_connections", args.max_connections, 1..=1_000_000)? as usize,
    };
    Ok(ServerSettings {
        connections,
        legacy_sessions: args.legacy_sessions,
        allowed_origins: args.allowed_origins.clone(),
        allowed_hosts: args.allowed_hosts.clone(),
        access_log: args.access_log,
        tls,
        metrics_bind,
    })
}
