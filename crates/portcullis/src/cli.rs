//! Command-line interface. Every setting is also an environment variable `PORTCULLIS_<NAME>`
//! and a key in the TOML file given with `--config`; flags and environment win over the file.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "portcullis",
    version,
    about = "An authenticated, per-user MCP server"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (MCP endpoint at <public-url>/mcp).
    Serve(Box<ServeArgs>),
    /// Microservice mode: the task REST API (/tasks, /workspaces, /openapi.json) for MCP
    /// services calling with SERVICE_AUTH_TOKEN and X-User-ID, or for users' own tokens.
    Backend(Box<BackendArgs>),
    /// Microservice mode: the MCP server, with its tools executed by a `portcullis backend`.
    Mcp(Box<McpArgs>),
    /// Development tokens signed with the local key in the data directory.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Accounts that can log in to the built-in authorization server.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// OAuth clients registered by the operator.
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// The built-in authorization server's signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// API keys (X-API-Key) for services and administrators.
    Apikey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// The audit trail: every authentication and authorization decision, newest first.
    Audit(AuditArgs),
    /// The configuration: `config check` validates it and prints the effective settings.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate flags, environment and file as `serve` (and `mcp`/`backend`) would read them,
    /// then print the effective configuration as a TOML configuration file (secrets are not
    /// printed). Exits 1 with one line naming the setting when something is wrong.
    Check(Box<ConfigCheckArgs>),
}

#[derive(Debug, Clone, Args)]
pub struct ConfigCheckArgs {
    #[command(flatten)]
    pub mcp: McpArgs,
    /// Also reach what the configuration names — the database, Redis, the issuer's keys, the
    /// backend — and report each; exits 1 if one does not answer.
    #[arg(long)]
    pub connect: bool,
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key and print it, alone, on stdout. It is shown only this once.
    Create(ApiKeyCreateArgs),
    /// List keys (never their secrets).
    List(ListArgs),
    /// Revoke a key by id or name; servers refuse it from their next request.
    Revoke(ApiKeyRevokeArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ApiKeyCreateArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// A unique name (letters, digits, '.', '_', '-').
    #[arg(long)]
    pub name: String,
    /// Space-separated scopes, e.g. "tasks:read tasks:write" or "admin".
    #[arg(long)]
    pub scopes: String,
    /// May act for a user named in X-Mcp-User / X-User-ID.
    #[arg(long)]
    pub trusted: bool,
    /// Lifetime, e.g. 90d, 12h, 30m [default: no expiry].
    #[arg(long, value_parser = parse_lifetime)]
    pub expires_in: Option<std::time::Duration>,
    /// Who the key acts as without a user context [default: the key's name].
    #[arg(long)]
    pub owner: Option<String>,
    /// The tenant every call with this key is confined to [default: the default tenant].
    #[arg(long)]
    pub tenant: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ApiKeyRevokeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The key's id (from `apikey list`) or name.
    pub key: String,
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Only decisions in this last stretch of time, e.g. 1h, 7d.
    #[arg(long, value_parser = parse_lifetime)]
    pub since: Option<std::time::Duration>,
    /// Only `allowed` or only `denied` decisions.
    #[arg(long, value_parser = ["allowed", "denied"])]
    pub decision: Option<String>,
    /// Only decisions about this subject or acting user.
    #[arg(long)]
    pub user: Option<String>,
    /// Only calls of this tool.
    #[arg(long)]
    pub tool: Option<String>,
    /// At most this many decisions.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `90d`, `12h`, `30m`, `45s` or `2w`.
fn parse_lifetime(raw: &str) -> Result<std::time::Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{raw:?}: expected a number and a unit, e.g. 30d or 12h"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("{raw:?}: the unit must be s, m, h, d or w")),
    };
    if n == 0 {
        return Err(format!("{raw:?}: must be longer than zero"));
    }
    n.checked_mul(seconds)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("{raw:?}: too long"))
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account (password from --password-stdin or an interactive prompt).
    Add(UserAddArgs),
    /// List accounts.
    List(CommonOnly),
    /// Remove an account and revoke its tokens.
    Remove(UserNameArgs),
    /// Set a new password (also clears a lockout).
    Passwd(UserPasswdArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CommonOnly {
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Args)]
pub struct UserAddArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Username (letters, digits, '.', '_', '@', '-').
    pub name: String,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// Tenant the account belongs to (written to the tenant claim of its tokens).
    #[arg(long)]
    pub tenant: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct UserNameArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    pub name: String,
}

#[derive(Debug, Clone, Args)]
pub struct UserPasswdArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    pub name: String,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its client_id (and secret, shown once, for --confidential).
    Add(ClientAddArgs),
    /// List registered clients (operator-registered and self-registered).
    List(CommonOnly),
    /// Remove a client and revoke its tokens.
    Remove(ClientRemoveArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ClientAddArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Name shown on the consent page.
    pub name: String,
    /// Allowed redirect URI (repeat for several). Loopback http URIs match any port.
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// Give the client a secret (server-side apps, client_credentials).
    #[arg(long)]
    pub confidential: bool,
    /// Grant types [default: authorization_code refresh_token; client_credentials if
    /// --confidential and no redirect URI].
    #[arg(long = "grant-type")]
    pub grant_types: Vec<String>,
    /// Space-separated scopes the client may ask for [default: all for user sign-ins;
    /// none for client_credentials, which gets only the scopes granted here].
    #[arg(long, visible_alias = "scopes")]
    pub scope: Option<String>,
    /// Let the client introspect tokens issued to other clients (a resource server); needs
    /// --confidential. Without it a client may introspect only its own tokens.
    #[arg(long)]
    pub introspection: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ClientRemoveArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    pub client_id: String,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Retire the signing key and create a new one; the old key stays published until the
    /// tokens it signed have expired. Running servers pick the change up by themselves.
    Rotate(KeysRotateArgs),
    /// Show the published keys.
    List(KeysListArgs),
}

#[derive(Debug, Clone, Args)]
pub struct KeysListArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The servers' access-token lifetime, in seconds [default: 3600]: retired keys younger
    /// than it (plus the leeway) are still published.
    #[arg(long, env = "PORTCULLIS_ACCESS_TOKEN_TTL_SECS")]
    pub access_token_ttl_secs: Option<u64>,
}

#[derive(Debug, Clone, Args)]
pub struct KeysRotateArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// How long retired keys stay published, in seconds [default: the access-token lifetime
    /// (--access-token-ttl-secs, or the configuration file's) + the leeway + 5 min].
    #[arg(long)]
    pub retention_secs: Option<u64>,
    /// The servers' access-token lifetime, in seconds [default: 3600].
    #[arg(long, env = "PORTCULLIS_ACCESS_TOKEN_TTL_SECS")]
    pub access_token_ttl_secs: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Mint an access token for the embedded issuer and print it alone on stdout.
    Mint(MintArgs),
}

/// Settings shared by every command that touches the server's data or identity.
#[derive(Debug, Clone, Args, Default)]
pub struct CommonArgs {
    /// TOML configuration file; its keys are the flag names with `_` for `-`.
    #[arg(long, env = "PORTCULLIS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "PORTCULLIS_BIND")]
    pub bind: Option<String>,
    /// The URL clients use to reach this server [default: http://<bind>].
    #[arg(long, env = "PORTCULLIS_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Directory for the SQLite database and generated keys.
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
}

/// How access tokens are verified (users' tokens, for `backend`).
#[derive(Debug, Clone, Args, Default)]
pub struct TokenArgs {
    /// Verify tokens with this PEM public key or JWKS file.
    #[arg(long, env = "PORTCULLIS_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<PathBuf>,
    /// Verify tokens with keys fetched from this JWKS URL.
    #[arg(long, env = "PORTCULLIS_JWKS_URI")]
    pub jwks_uri: Option<String>,
    /// Clock skew tolerated on exp/nbf, in seconds [default: 30].
    #[arg(long, env = "PORTCULLIS_JWT_LEEWAY_SECS")]
    pub jwt_leeway_secs: Option<u64>,
    /// Least seconds between JWKS refetches triggered by unknown key ids [default: 5].
    #[arg(long, env = "PORTCULLIS_JWKS_MIN_REFRESH_SECS")]
    pub jwks_min_refresh_secs: Option<u64>,
    /// Token claim naming the tenant [default: org_id].
    #[arg(long, env = "PORTCULLIS_TENANT_CLAIM")]
    pub tenant_claim: Option<String>,
}

#[derive(Debug, Clone, Args, Default)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub tokens: TokenArgs,
    /// Keep Mcp-Session-Id sessions for 2025-era clients that initialize (needs sticky routing
    /// across replicas) [default: false, every request stands alone].
    #[arg(long, env = "PORTCULLIS_LEGACY_SESSIONS", num_args = 0..=1, default_missing_value = "true")]
    pub legacy_sessions: Option<bool>,
    /// An upstream MCP server to put behind Portcullis, NAME=URL (repeatable, or comma-separated
    /// in the environment); every other upstream setting at its default. Full settings go in
    /// the configuration file's [[upstreams]] tables.
    #[arg(long, env = "PORTCULLIS_UPSTREAM", value_delimiter = ',')]
    pub upstream: Option<Vec<String>>,
    /// Serve the built-in task and admin tools; false when Portcullis only fronts upstreams
    /// [default: true].
    #[arg(long, env = "PORTCULLIS_BUILTIN_TOOLS", num_args = 0..=1, default_missing_value = "true")]
    pub builtin_tools: Option<bool>,
    /// tools/list shows each caller only the tools the policy lets it call [default: true].
    /// Per-tool rules are set in the configuration file's [policy.tools.*] tables.
    #[arg(long, env = "PORTCULLIS_HIDE_FORBIDDEN_TOOLS", num_args = 0..=1, default_missing_value = "true")]
    pub hide_forbidden_tools: Option<bool>,
    /// Browser origins allowed to call /mcp, comma-separated (the public URL's origin always is).
    #[arg(long, env = "PORTCULLIS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Option<Vec<String>>,
    /// Host header values accepted besides loopback names and the public URL's host.
    #[arg(long, env = "PORTCULLIS_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Option<Vec<String>>,
    /// Largest accepted /mcp request body in bytes [default: 1048576].
    #[arg(long, env = "PORTCULLIS_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Log format: `pretty` or `json` [default: pretty].
    #[arg(long, env = "PORTCULLIS_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Lifetime of access tokens from the built-in authorization server [default: 3600].
    #[arg(long, env = "PORTCULLIS_ACCESS_TOKEN_TTL_SECS")]
    pub access_token_ttl_secs: Option<u64>,
    /// Idle lifetime of refresh tokens [default: 2592000 (30 days)].
    #[arg(long, env = "PORTCULLIS_REFRESH_TOKEN_TTL_SECS")]
    pub refresh_token_ttl_secs: Option<u64>,
    /// Lifetime of authorization codes [default: 60].
    #[arg(long, env = "PORTCULLIS_AUTHORIZATION_CODE_TTL_SECS")]
    pub authorization_code_ttl_secs: Option<u64>,
    /// Accept RFC 7591 dynamic client registration at /register [default: true].
    #[arg(long, env = "PORTCULLIS_DYNAMIC_REGISTRATION", num_args = 0..=1, default_missing_value = "true")]
    pub dynamic_registration: Option<bool>,
    /// Most dynamic registrations per hour, server-wide [default: 100].
    #[arg(long, env = "PORTCULLIS_MAX_REGISTRATIONS_PER_HOUR")]
    pub max_registrations_per_hour: Option<u32>,
    /// Most dynamic registrations per hour from one network address (an IPv6 /64), each
    /// address's share of the server-wide ceiling [default: 10].
    #[arg(long, env = "PORTCULLIS_MAX_REGISTRATIONS_PER_ADDRESS")]
    pub max_registrations_per_address: Option<u32>,
    /// Delete dynamically registered clients that have not completed a grant this many
    /// seconds after registering [default: 86400].
    #[arg(long, env = "PORTCULLIS_UNUSED_CLIENT_TTL_SECS")]
    pub unused_client_ttl_secs: Option<u64>,
    /// Private-use redirect schemes (cursor, vscode, com.example.app …) that clients which
    /// register themselves may use, comma-separated [default: any, except javascript, data,
    /// file and the like].
    #[arg(
        long,
        env = "PORTCULLIS_ALLOWED_REDIRECT_SCHEMES",
        value_delimiter = ','
    )]
    pub allowed_redirect_schemes: Option<Vec<String>>,
    /// Development mode: client metadata documents may be fetched over plain http from
    /// loopback addresses. Never in production [default: false].
    #[arg(long, env = "PORTCULLIS_DEV_MODE", num_args = 0..=1, default_missing_value = "true")]
    pub dev_mode: Option<bool>,
    /// Each caller's budget for tool calls: N/UNIT (100/min, 10/s, 5000/h) or `off`
    /// [default: 100/min]. Per-tool budgets go in the configuration file's [rate_limits.tools.*].
    #[arg(long, env = "PORTCULLIS_RATE_LIMIT")]
    pub rate_limit: Option<String>,
    /// How many of those calls may come at once [default: 20].
    #[arg(long, env = "PORTCULLIS_RATE_LIMIT_BURST")]
    pub rate_limit_burst: Option<u32>,
    /// One budget per OAuth client across all its users, N/UNIT [default: off].
    #[arg(long, env = "PORTCULLIS_CLIENT_RATE_LIMIT")]
    pub client_rate_limit: Option<String>,
    /// One budget per tenant across all its callers, N/UNIT [default: off].
    #[arg(long, env = "PORTCULLIS_TENANT_RATE_LIMIT")]
    pub tenant_rate_limit: Option<String>,
    /// Per network address, for the token, login, registration and revocation endpoints and
    /// for failed authentications on /mcp [default: 60/min].
    #[arg(long, env = "PORTCULLIS_IP_RATE_LIMIT")]
    pub ip_rate_limit: Option<String>,
    /// Burst of the per-address budget [default: 30].
    #[arg(long, env = "PORTCULLIS_IP_RATE_LIMIT_BURST")]
    pub ip_rate_limit_burst: Option<u32>,
    /// Take the client address from this header set by your proxy (e.g. X-Forwarded-For,
    /// last entry) [default: the connection's address].
    #[arg(long, env = "PORTCULLIS_CLIENT_IP_HEADER")]
    pub client_ip_header: Option<String>,
    /// Share rate-limit budgets across replicas through this Redis (redis://host:port/db)
    /// [default: budgets kept in process].
    #[arg(long, env = "PORTCULLIS_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key [default: portcullis:].
    #[arg(long, env = "PORTCULLIS_REDIS_PREFIX")]
    pub redis_prefix: Option<String>,
    /// Longest wait for Redis per check, in milliseconds [default: 100].
    #[arg(long, env = "PORTCULLIS_REDIS_TIMEOUT_MS")]
    pub redis_timeout_ms: Option<u64>,
    /// When Redis does not answer: `local` (each replica limits on its own), `open` (no
    /// limits, with a warning) or `closed` (refuse tool calls with 503) [default: local].
    #[arg(long, env = "PORTCULLIS_REDIS_FAILURE_MODE")]
    pub redis_failure_mode: Option<String>,
    /// Log one line per request at info (method, route, status, user, duration, request id)
    /// [default: false].
    #[arg(long, env = "PORTCULLIS_ACCESS_LOG", num_args = 0..=1, default_missing_value = "true")]
    pub access_log: Option<bool>,
    /// Longest a request (other than a GET stream) may take before it is answered 503, in
    /// seconds [default: 60].
    #[arg(long, env = "PORTCULLIS_REQUEST_TIMEOUT_SECS")]
    pub request_timeout_secs: Option<u64>,
    /// Longest a client may take to send a request's headers, in seconds [default: 10].
    #[arg(long, env = "PORTCULLIS_HEADER_READ_TIMEOUT_SECS")]
    pub header_read_timeout_secs: Option<u64>,
    /// Close a kept-alive connection idle this long between requests, in seconds
    /// [default: 60].
    #[arg(long, env = "PORTCULLIS_IDLE_TIMEOUT_SECS")]
    pub idle_timeout_secs: Option<u64>,
    /// Most connections served at once (TLS handshakes included); more wait to be accepted
    /// [default: 1024].
    #[arg(long, env = "PORTCULLIS_MAX_CONNECTIONS")]
    pub max_connections: Option<u32>,
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

#[derive(Debug, Clone, Args)]
pub struct MintArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The local account (from `portcullis user add`) the token is for: its subject and tenant
    /// are the ones its OAuth sign-ins get, so both see the same tasks.
    #[arg(long, conflicts_with = "sub", required_unless_present = "sub")]
    pub user: Option<String>,
    /// An external subject, used as is (an identity provider's `sub`). Not a local account's
    /// name: for those use --user.
    #[arg(long)]
    pub sub: Option<String>,
    /// Space-separated scopes.
    #[arg(long, default_value = "tasks:read tasks:write")]
    pub scope: String,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl: u64,
    /// Tenant (written to the tenant claim, `org_id`).
    #[arg(long)]
    pub tenant: Option<String>,
    /// client_id claim.
    #[arg(long, default_value = "portcullis-cli")]
    pub client_id: String,
}

#[derive(Debug, Clone, Args)]
pub struct BackendArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub tokens: TokenArgs,
    /// Largest accepted request body in bytes [default: 1048576].
    #[arg(long, env = "PORTCULLIS_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Log format: `pretty` or `json` [default: pretty].
    #[arg(long, env = "PORTCULLIS_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Tokens accepted from MCP services, comma-separated so one can rotate without downtime;
    /// each at least 32 characters. Required.
    #[arg(long, env = "SERVICE_AUTH_TOKEN", hide_env_values = true)]
    pub service_auth_token: Option<String>,
    /// Read the service tokens from this file instead (for secrets mounted as files).
    #[arg(long, env = "SERVICE_AUTH_TOKEN_FILE")]
    pub service_auth_token_file: Option<PathBuf>,
    /// Key guarding /api/internal/* (X-API-Key), at least 32 characters [default: those
    /// routes refuse every request].
    #[arg(long, env = "INTERNAL_API_KEY", hide_env_values = true)]
    pub internal_api_key: Option<String>,
    /// Read the internal API key from this file instead.
    #[arg(long, env = "INTERNAL_API_KEY_FILE")]
    pub internal_api_key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct McpArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Base URL of the `portcullis backend` that executes the tools.
    #[arg(long, env = "PORTCULLIS_BACKEND_URL")]
    pub backend_url: Option<String>,
    /// The token this service presents to the backend; with a comma-separated list (as the
    /// backend takes it) the first is used. At least 32 characters. Required.
    #[arg(long, env = "SERVICE_AUTH_TOKEN", hide_env_values = true)]
    pub service_auth_token: Option<String>,
    /// Read the service token from this file instead (for secrets mounted as files).
    #[arg(long, env = "SERVICE_AUTH_TOKEN_FILE")]
    pub service_auth_token_file: Option<PathBuf>,
    /// Longest a backend call may take, retries included, in seconds [default: 30].
    #[arg(long, env = "PORTCULLIS_BACKEND_TIMEOUT_SECS")]
    pub backend_timeout_secs: Option<f64>,
    /// Retries of a backend call that failed to connect, timed out or got 503 [default: 2].
    #[arg(long, env = "PORTCULLIS_BACKEND_RETRIES")]
    pub backend_retries: Option<u32>,
}
