//! `[[upstreams]]`: how an upstream is written in the configuration file, and the checks that
//! turn it into an [`UpstreamSpec`] the gateway can use. Each key is declared once, here; the
//! `--upstream NAME=URL` shortcut is the same table with every other key at its default.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use http::HeaderName;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Longest lifetime of a token Portcullis signs for an upstream (the issue's "≤ 5 min").
pub const UPSTREAM_TOKEN_TTL: Duration = Duration::from_secs(300);
const DEFAULT_TIMEOUT_SECS: u64 = 30;
const DEFAULT_TOOLS_TTL_SECS: u64 = 300;
const DEFAULT_MAX_PROCESSES: usize = 16;
const DEFAULT_IDLE_SECS: u64 = 600;
/// Service tokens shorter than this are refused, as for `portcullis backend`.
const MIN_SECRET_LEN: usize = 32;

/// One `[[upstreams]]` table as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// `[a-z0-9_-]+`, unique: names the upstream in scopes (`<name>:read`), logs, audit, `/ready`.
    pub name: String,
    /// A Streamable HTTP endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A stdio program and its arguments, spawned and supervised by Portcullis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// A REST API's OpenAPI 3.0/3.1 document (a URL or a file): its operations become tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openapi: Option<String>,
    /// Where the OpenAPI operations are called. Default: the document's first server, else its
    /// origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// OpenAPI operations to expose: operationIds, `tag:NAME`, or `*` (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<String>>,
    /// OpenAPI operations to leave out (wins over `include`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<Vec<String>>,
    /// OpenAPI: retries of a call that failed to connect, timed out or got 503 (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Environment of a stdio program (nothing else of Portcullis's environment is passed on).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Exposed tool name = prefix + the upstream's name for it. Default `<name>_`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// `jwt` (default for `url`), `service_token`, `api_key` or `none` (default for `command`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthMode>,
    /// `aud` of the tokens signed for this upstream (`jwt`). Default: the upstream `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// How long a listed tool set is used before it is listed again (a `list_changed`
    /// notification refreshes it sooner; for `openapi`, how often the document is re-read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools_ttl_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_token_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_token_env: Option<String>,
    /// Header naming the acting user (`service_token`, optionally `api_key`). Default `X-User-ID`
    /// for `service_token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_header: Option<String>,
    /// Header naming the acting user's tenant. Default `X-Tenant-ID` with `service_token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_header: Option<String>,
    /// Header carrying the static key (`api_key`). Default `X-API-Key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// stdio: one process per acting user instead of one shared process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_user: Option<bool>,
    /// stdio with `per_user`: at most this many processes at once (default 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_processes: Option<usize>,
    /// Upstream connections (HTTP sessions, per-user processes) unused this long are closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_secs: Option<u64>,
}

/// How Portcullis authenticates to an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    Jwt,
    ServiceToken,
    ApiKey,
    None,
}

/// A usable upstream.
#[derive(Debug, Clone)]
pub struct UpstreamSpec {
    pub name: String,
    pub prefix: String,
    pub target: Target,
    pub credentials: Credentials,
    pub timeout: Duration,
    pub tools_ttl: Duration,
    pub idle: Duration,
}

#[derive(Debug, Clone)]
pub enum Target {
    Http(url::Url),
    OpenApi(OpenApiTarget),
    Stdio {
        program: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        /// `Some(cap)`: one process per acting user, at most `cap` at once.
        per_user: Option<usize>,
    },
}

/// A REST API described by an OpenAPI document.
#[derive(Debug, Clone)]
pub struct OpenApiTarget {
    pub document: DocumentSource,
    /// `None`: from the document (its first server, else its origin).
    pub base_url: Option<url::Url>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub retries: u32,
}

/// Where an OpenAPI document is read from.
#[derive(Debug, Clone)]
pub enum DocumentSource {
    Url(url::Url),
    File(PathBuf),
}

const DEFAULT_RETRIES: u32 = 2;

/// What the upstream is told about who is calling. Secrets are wrapped: `Debug` prints
/// `[REDACTED]`.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// A short-lived token Portcullis signs: `sub`, tenant, scopes, `act`.
    Jwt {
        audience: String,
    },
    ServiceToken {
        token: SecretString,
        user_header: HeaderName,
        tenant_header: HeaderName,
    },
    ApiKey {
        header: HeaderName,
        key: SecretString,
        user_header: Option<HeaderName>,
        tenant_header: Option<HeaderName>,
    },
    None,
}

/// An `[[upstreams]]` entry that cannot be used: which one, which key, what to do.
#[derive(Debug, thiserror::Error)]
#[error("upstream {name:?}: `{key}` {problem}; {fix}")]
pub struct UpstreamConfigError {
    pub name: String,
    pub key: &'static str,
    pub problem: String,
    pub fix: String,
}

impl UpstreamConfig {
    /// `NAME=URL`, the `--upstream` shortcut.
    pub fn from_shortcut(raw: &str) -> Result<Self, UpstreamConfigError> {
        let Some((name, url)) = raw.split_once('=') else {
            return Err(UpstreamConfigError {
                name: raw.to_owned(),
                key: "upstream",
                problem: "is not NAME=URL".into(),
                fix: "write it as notes=http://127.0.0.1:9000/mcp".into(),
            });
        };
        Ok(Self {
            name: name.trim().to_owned(),
            url: Some(url.trim().to_owned()),
            ..Self::default()
        })
    }
}

/// Checks every entry and the set as a whole (unique names, prefixes that cannot shadow one
/// another or a built-in tool).
pub fn validate(
    entries: &[UpstreamConfig],
    builtin_tools: &[&str],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<UpstreamSpec>, UpstreamConfigError> {
    let specs = entries
        .iter()
        .map(|entry| entry.validate(env))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, a) in specs.iter().enumerate() {
        for b in &specs[i + 1..] {
            if a.name == b.name {
                return Err(error(
                    &b.name,
                    "name",
                    "is used twice",
                    "give each upstream its own name",
                ));
            }
            if a.prefix.starts_with(&b.prefix) || b.prefix.starts_with(&a.prefix) {
                return Err(error(
                    &b.name,
                    "prefix",
                    format!(
                        "{:?} overlaps {:?} of upstream {:?}",
                        b.prefix, a.prefix, a.name
                    ),
                    "give each upstream a prefix that is not the start of another's",
                ));
            }
        }
        if let Some(tool) = builtin_tools.iter().find(|t| t.starts_with(&a.prefix)) {
            return Err(error(
                &a.name,
                "prefix",
                format!("{:?} would shadow the built-in tool {tool}", a.prefix),
                "choose another prefix, or set builtin_tools = false",
            ));
        }
    }
    Ok(specs)
}

fn error(
    name: &str,
    key: &'static str,
    problem: impl Into<String>,
    fix: impl Into<String>,
) -> UpstreamConfigError {
    UpstreamConfigError {
        name: name.to_owned(),
        key,
        problem: problem.into(),
        fix: fix.into(),
    }
}

/// True for names usable in scopes, prefixes and metric labels.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl UpstreamConfig {
    fn validate(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<UpstreamSpec, UpstreamConfigError> {
        let name = &self.name;
        let err = |key, problem: String, fix: &str| error(name, key, problem, fix);
        if !is_name(name) {
            return Err(err(
                "name",
                format!("{name:?} is not 1-64 characters of a-z, 0-9, _ and -"),
                "use a short lowercase name such as notes",
            ));
        }
        let prefix = self.prefix.clone().unwrap_or_else(|| format!("{name}_"));
        // Exposed names must stay valid MCP tool names (SEP-986: A-Z a-z 0-9 _ - .).
        if prefix.is_empty()
            || prefix.len() > 64
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        {
            return Err(err(
                "prefix",
                format!("{prefix:?} is not 1-64 characters of A-Z, a-z, 0-9, _, - and ."),
                "use something like notes_",
            ));
        }
        let given = [
            self.url.is_some(),
            self.command.is_some(),
            self.openapi.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(err(
                "url",
                "`url`, `command` and `openapi`: more than one is set".into(),
                "an upstream is HTTP MCP (url), stdio MCP (command) or a REST API (openapi)",
            ));
        }
        let openapi_only = [
            ("base_url", self.base_url.is_some()),
            ("include", self.include.is_some()),
            ("exclude", self.exclude.is_some()),
            ("retries", self.retries.is_some()),
        ];
        if self.openapi.is_none()
            && let Some((key, _)) = openapi_only.iter().find(|(_, set)| *set)
        {
            return Err(err(
                key,
                "applies only to an openapi upstream".into(),
                "remove it, or give openapi = \"URL or file\"",
            ));
        }
        let target = match (&self.url, &self.command, &self.openapi) {
            (_, _, Some(raw)) => Target::OpenApi(self.openapi_target(raw)?),
            (None, None, None) => {
                return Err(err(
                    "url",
                    "is missing (and so are `command` and `openapi`)".into(),
                    "give url = \"http://host:port/mcp\", command = [\"program\", \"arg\"] or openapi = \"http://host:port/openapi.json\"",
                ));
            }
            (Some(raw), _, None) => {
                let url = url::Url::parse(raw)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
                let Some(url) = url else {
                    return Err(err(
                        "url",
                        format!("{raw:?} is not an http(s) URL"),
                        "write the upstream's MCP endpoint, e.g. http://127.0.0.1:9000/mcp",
                    ));
                };
                if !self.env.is_empty() || self.per_user.is_some() || self.max_processes.is_some() {
                    return Err(err(
                        "env",
                        "per_user and max_processes apply only to stdio upstreams".into(),
                        "remove them, or use command",
                    ));
                }
                Target::Http(url)
            }
            (None, Some(command), None) => {
                let Some((program, args)) =
                    command.split_first().filter(|(p, _)| !p.trim().is_empty())
                else {
                    return Err(err(
                        "command",
                        "is empty".into(),
                        "give the program and its arguments, e.g. [\"uvx\", \"some-mcp-server\"]",
                    ));
                };
                let per_user = self
                    .per_user
                    .unwrap_or(false)
                    .then(|| self.max_processes.unwrap_or(DEFAULT_MAX_PROCESSES));
                if per_user == Some(0) {
                    return Err(err(
                        "max_processes",
                        "is 0".into(),
                        "allow at least one process",
                    ));
                }
                Target::Stdio {
                    program: program.clone(),
                    args: args.to_vec(),
                    env: self.env.clone(),
                    per_user,
                }
            }
        };
        let http = matches!(target, Target::Http(_) | Target::OpenApi(_));
        let mode = self
            .auth
            .unwrap_or(if http { AuthMode::Jwt } else { AuthMode::None });
        if !http && mode != AuthMode::None {
            return Err(err(
                "auth",
                "must be \"none\" for a stdio upstream (there are no headers to carry an identity)"
                    .into(),
                "pass what the program needs in env, or use an HTTP upstream",
            ));
        }
        let header = |key: &'static str,
                      raw: &Option<String>,
                      default: Option<&str>|
         -> Result<Option<HeaderName>, UpstreamConfigError> {
            match raw.as_deref().or(default) {
                None => Ok(None),
                Some(h) => HeaderName::try_from(h).map(Some).map_err(|_| {
                    err(
                        key,
                        format!("{h:?} is not a header name"),
                        "use a name such as X-User-ID",
                    )
                }),
            }
        };
        let credentials = match mode {
            AuthMode::Jwt => Credentials::Jwt {
                audience: self
                    .audience
                    .clone()
                    .or_else(|| self.url.clone())
                    .or_else(|| self.base_url.clone())
                    .or_else(|| self.openapi.clone())
                    .unwrap_or_default(),
            },
            AuthMode::ServiceToken => Credentials::ServiceToken {
                token: secret(
                    name,
                    "service_token",
                    &self.service_token_file,
                    &self.service_token_env,
                    env,
                )?,
                user_header: header("user_header", &self.user_header, Some("X-User-ID"))?
                    .expect("default"),
                tenant_header: header("tenant_header", &self.tenant_header, Some("X-Tenant-ID"))?
                    .expect("default"),
            },
            AuthMode::ApiKey => Credentials::ApiKey {
                header: header("api_key_header", &self.api_key_header, Some("X-API-Key"))?
                    .expect("default"),
                key: secret(name, "api_key", &self.api_key_file, &self.api_key_env, env)?,
                user_header: header("user_header", &self.user_header, None)?,
                tenant_header: header("tenant_header", &self.tenant_header, None)?,
            },
            AuthMode::None => Credentials::None,
        };
        if mode != AuthMode::Jwt && self.audience.is_some() {
            return Err(err(
                "audience",
                "applies only to auth = \"jwt\"".into(),
                "remove it",
            ));
        }
        let timeout = self.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
        if !(1..=3600).contains(&timeout) {
            return Err(err(
                "timeout_secs",
                format!("{timeout} is outside 1-3600"),
                "give the seconds one call may take",
            ));
        }
        let tools_ttl = self.tools_ttl_secs.unwrap_or(DEFAULT_TOOLS_TTL_SECS);
        if tools_ttl == 0 {
            return Err(err(
                "tools_ttl_secs",
                "is 0".into(),
                "give at least 1 second",
            ));
        }
        Ok(UpstreamSpec {
            name: name.clone(),
            prefix,
            target,
            credentials,
            timeout: Duration::from_secs(timeout),
            tools_ttl: Duration::from_secs(tools_ttl),
            idle: Duration::from_secs(self.idle_secs.unwrap_or(DEFAULT_IDLE_SECS).max(1)),
        })
    }
}

impl UpstreamConfig {
    fn openapi_target(&self, raw: &str) -> Result<OpenApiTarget, UpstreamConfigError> {
        let err = |key, problem: String, fix: &str| error(&self.name, key, problem, fix);
        let http_url = |raw: &str| {
            url::Url::parse(raw)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        };
        let document = match http_url(raw) {
            Some(url) => DocumentSource::Url(url),
            None if raw.contains("://") => {
                return Err(err(
                    "openapi",
                    format!("{raw:?} is not an http(s) URL"),
                    "give the document's http(s) URL or a file path",
                ));
            }
            None => DocumentSource::File(PathBuf::from(raw)),
        };
        let base_url = match &self.base_url {
            None => None,
            Some(raw) => Some(http_url(raw).ok_or_else(|| {
                err(
                    "base_url",
                    format!("{raw:?} is not an http(s) URL"),
                    "give the API's root, e.g. http://127.0.0.1:8000",
                )
            })?),
        };
        if !self.env.is_empty() || self.per_user.is_some() || self.max_processes.is_some() {
            return Err(err(
                "env",
                "per_user and max_processes apply only to stdio upstreams".into(),
                "remove them",
            ));
        }
        let retries = self.retries.unwrap_or(DEFAULT_RETRIES);
        if retries > 10 {
            return Err(err(
                "retries",
                format!("{retries} is too many"),
                "use 0 to 10",
            ));
        }
        let selectors = |key, list: &Option<Vec<String>>| {
            let list = list.clone().unwrap_or_default();
            match list
                .iter()
                .find(|s| s.trim().is_empty() || s.trim() == "tag:")
            {
                Some(bad) => Err(err(
                    key,
                    format!("{bad:?} names no operation"),
                    "list operationIds, tag:NAME, or \"*\"",
                )),
                None => Ok(list),
            }
        };
        Ok(OpenApiTarget {
            document,
            base_url,
            include: selectors("include", &self.include)?,
            exclude: selectors("exclude", &self.exclude)?,
            retries,
        })
    }
}

/// A secret from a file or an environment variable (never from the configuration file itself,
/// which is printed by `config check` and often committed).
fn secret(
    name: &str,
    what: &'static str,
    file: &Option<PathBuf>,
    var: &Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<SecretString, UpstreamConfigError> {
    let (file_key, env_key) = match what {
        "service_token" => ("service_token_file", "service_token_env"),
        _ => ("api_key_file", "api_key_env"),
    };
    let value = match (file, var) {
        (Some(_), Some(_)) => {
            return Err(error(
                name,
                file_key,
                format!("and `{env_key}` are both set"),
                "give one of them",
            ));
        }
        (None, None) => {
            return Err(error(
                name,
                file_key,
                format!("is missing (and so is `{env_key}`)"),
                format!("name the file or the environment variable holding the {what}"),
            ));
        }
        (Some(path), None) => std::fs::read_to_string(path)
            .map_err(|e| {
                error(
                    name,
                    file_key,
                    format!("cannot be read from {}: {e}", path.display()),
                    "give a readable file",
                )
            })?
            .trim()
            .to_owned(),
        (None, Some(var)) => env(var).ok_or_else(|| {
            error(
                name,
                env_key,
                format!("names {var}, which is not set"),
                format!("export {var}"),
            )
        })?,
    };
    if what == "service_token" && value.len() < MIN_SECRET_LEN {
        return Err(error(
            name,
            file_key,
            format!("holds a token of {} characters", value.len()),
            format!("use at least {MIN_SECRET_LEN} random characters"),
        ));
    }
    if value.is_empty() || http::HeaderValue::from_str(&value).is_err() {
        return Err(error(
            name,
            file_key,
            format!("holds an empty {what} or one that cannot be sent in a header"),
            "store one line of printable characters",
        ));
    }
    Ok(SecretString::from(value))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn parse(toml_text: &str) -> Vec<UpstreamConfig> {
        #[derive(Deserialize)]
        struct File {
            upstreams: Vec<UpstreamConfig>,
        }
        toml::from_str::<File>(toml_text).unwrap().upstreams
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_follow_the_kind_of_upstream() {
        let specs = validate(
            &parse(
                r#"
                [[upstreams]]
                name = "notes"
                url = "http://127.0.0.1:9000/mcp"
                [[upstreams]]
                name = "files"
                command = ["python3", "server.py"]
                "#,
            ),
            &["list_tasks"],
            &no_env,
        )
        .unwrap();
        assert_eq!(specs[0].prefix, "notes_");
        assert!(
            matches!(&specs[0].credentials, Credentials::Jwt { audience } if audience == "http://127.0.0.1:9000/mcp")
        );
        assert_eq!(specs[0].timeout, Duration::from_secs(30));
        assert!(matches!(specs[1].credentials, Credentials::None));
        assert!(
            matches!(&specs[1].target, Target::Stdio { program, per_user: None, .. } if program == "python3")
        );
    }

    #[test]
    fn secrets_come_from_the_environment_or_a_file() {
        let token = "s".repeat(40);
        let env = |name: &str| (name == "NOTES_TOKEN").then(|| "s".repeat(40));
        let specs = validate(
            &parse(
                r#"
                [[upstreams]]
                name = "notes"
                url = "http://127.0.0.1:9000/mcp"
                auth = "service_token"
                service_token_env = "NOTES_TOKEN"
                "#,
            ),
            &[],
            &env,
        )
        .unwrap();
        let Credentials::ServiceToken {
            token: got,
            user_header,
            ..
        } = &specs[0].credentials
        else {
            panic!("{:?}", specs[0].credentials)
        };
        assert_eq!(got.expose_secret(), token);
        assert_eq!(user_header.as_str(), "x-user-id");
        assert!(
            !format!("{:?}", specs[0]).contains(&token),
            "Debug must not print the token"
        );
    }

    #[test]
    fn mistakes_name_the_upstream_and_the_key() {
        let cases = [
            (
                r#"name = "Notes"
                url = "http://x/mcp""#,
                "`name`",
            ),
            (r#"name = "notes""#, "`url` is missing"),
            (
                r#"name = "notes"
                url = "ftp://x/mcp""#,
                "not an http(s) URL",
            ),
            (
                r#"name = "notes"
                command = ["x"]
                auth = "jwt""#,
                "`auth` must be \"none\"",
            ),
            (
                r#"name = "notes"
                url = "http://x/mcp"
                auth = "service_token"
                service_token_env = "UNSET""#,
                "UNSET, which is not set",
            ),
            (
                r#"name = "notes"
                url = "http://x/mcp"
                timeout_secs = 0"#,
                "`timeout_secs`",
            ),
            (
                r#"name = "list"
                url = "http://x/mcp""#,
                "shadow the built-in tool list_tasks",
            ),
        ];
        for (body, expected) in cases {
            let text = format!("[[upstreams]]\n{body}\n");
            let message = validate(&parse(&text), &["list_tasks"], &no_env)
                .unwrap_err()
                .to_string();
            assert!(message.contains(expected), "{body}: {message}");
        }
        let twice = parse(
            r#"
            [[upstreams]]
            name = "a"
            url = "http://x/mcp"
            prefix = "n_"
            [[upstreams]]
            name = "b"
            url = "http://y/mcp"
            prefix = "n_x"
            "#,
        );
        assert!(
            validate(&twice, &[], &no_env)
                .unwrap_err()
                .to_string()
                .contains("overlaps")
        );
        assert!(toml::from_str::<toml::Table>("x = 1").is_ok());
        assert!(UpstreamConfig::from_shortcut("notes").is_err());
        assert_eq!(
            UpstreamConfig::from_shortcut("notes=http://127.0.0.1:9000/mcp")
                .unwrap()
                .url
                .as_deref(),
            Some("http://127.0.0.1:9000/mcp")
        );
    }
}
