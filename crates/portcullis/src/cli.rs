//! Command-line interface: the commands and their arguments. The settings themselves are
//! declared in `config`, by concern; every one is also an environment variable
//! `PORTCULLIS_<NAME>` and a key in the TOML file given with `--config`.

use clap::{Args, Parser, Subcommand};

use crate::config::LifetimeArgs;
pub use crate::config::{BackendArgs, CommonArgs, McpArgs, ServeArgs};

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
    /// Retired keys younger than the access-token lifetime (plus the leeway) are still
    /// published.
    #[command(flatten)]
    pub lifetimes: LifetimeArgs,
}

#[derive(Debug, Clone, Args)]
pub struct KeysRotateArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// How long retired keys stay published, in seconds [default: the access-token lifetime
    /// + the leeway + 5 min].
    #[arg(long)]
    pub retention_secs: Option<u64>,
    #[command(flatten)]
    pub lifetimes: LifetimeArgs,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Mint an access token for the embedded issuer and print it alone on stdout.
    Mint(MintArgs),
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
