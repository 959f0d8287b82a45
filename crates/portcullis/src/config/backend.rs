//! Microservice mode's settings: the service token both sides share, the backend's internal
//! key, and how `mcp` reaches the backend.

use std::{path::PathBuf, time::Duration};

use clap::Args;
use portcullis_auth::parse_service_tokens;
use portcullis_backend_client::BackendConfig;
use secrecy::{ExposeSecret, SecretString};

use super::{ConfigError, parse_url, secret_from};

const TOKEN_FIX: &str = "set SERVICE_AUTH_TOKEN to a random value of at least 32 characters (e.g. `openssl rand -base64 32`); list several, comma-separated, while rotating";

/// The token MCP services present to the backend.
#[derive(Debug, Clone, Args)]
pub struct ServiceTokenArgs {
    /// The service token, at least 32 characters. Required. `backend` accepts each of a
    /// comma-separated list (so one can rotate without downtime); `mcp` presents the first.
    #[arg(long, env = "SERVICE_AUTH_TOKEN", hide_env_values = true)]
    pub service_auth_token: Option<String>,
    /// Read the service token(s) from this file instead (for secrets mounted as files).
    #[arg(long, env = "SERVICE_AUTH_TOKEN_FILE")]
    pub service_auth_token_file: Option<PathBuf>,
}

/// The key guarding the backend's `/api/internal/*`.
#[derive(Debug, Clone, Args)]
pub struct InternalKeyArgs {
    /// Key guarding /api/internal/* (X-API-Key), at least 32 characters [default: those
    /// routes refuse every request].
    #[arg(long, env = "INTERNAL_API_KEY", hide_env_values = true)]
    pub internal_api_key: Option<String>,
    /// Read the internal API key from this file instead.
    #[arg(long, env = "INTERNAL_API_KEY_FILE")]
    pub internal_api_key_file: Option<PathBuf>,
}

/// How `portcullis mcp` reaches its backend.
#[derive(Debug, Clone, Args)]
pub struct BackendClientArgs {
    /// Base URL of the `portcullis backend` that executes the tools.
    #[arg(long, env = "PORTCULLIS_BACKEND_URL")]
    pub backend_url: Option<String>,
    /// Longest a backend call may take, retries included, in seconds.
    #[arg(long, env = "PORTCULLIS_BACKEND_TIMEOUT_SECS", default_value_t = 30.0)]
    pub backend_timeout_secs: f64,
    /// Retries of a backend call that failed to connect, timed out or got 503.
    #[arg(long, env = "PORTCULLIS_BACKEND_RETRIES", default_value_t = 2)]
    pub backend_retries: u32,
}

impl ServiceTokenArgs {
    /// The service tokens, checked: at least one is required.
    pub fn required(&self) -> Result<Vec<String>, ConfigError> {
        let env = "SERVICE_AUTH_TOKEN";
        let raw = secret_from(
            "service_auth_token",
            env,
            self.service_auth_token.as_deref(),
            self.service_auth_token_file.as_deref(),
        )?
        .ok_or_else(|| ConfigError::with_env("service_auth_token", env, "is not set", TOKEN_FIX))?;
        parse_service_tokens(raw.expose_secret())
            .map_err(|e| ConfigError::with_env("service_auth_token", env, e.to_string(), TOKEN_FIX))
    }
}

impl InternalKeyArgs {
    /// The internal API keys, checked; `None` when unset.
    pub fn keys(&self) -> Result<Option<Vec<String>>, ConfigError> {
        let env = "INTERNAL_API_KEY";
        let Some(raw) = secret_from(
            "internal_api_key",
            env,
            self.internal_api_key.as_deref(),
            self.internal_api_key_file.as_deref(),
        )?
        else {
            return Ok(None);
        };
        parse_service_tokens(raw.expose_secret())
            .map(Some)
            .map_err(|e| {
                ConfigError::with_env(
                    "internal_api_key",
                    env,
                    e.to_string(),
                    "set INTERNAL_API_KEY to a random value of at least 32 characters",
                )
            })
    }
}

/// The backend client's settings, when a backend URL is configured.
pub fn backend_config(
    args: &BackendClientArgs,
    tokens: &ServiceTokenArgs,
) -> Result<Option<BackendConfig>, ConfigError> {
    let Some(raw_url) = &args.backend_url else {
        return Ok(None);
    };
    let mut base_url = parse_url("backend_url", raw_url, "http://127.0.0.1:8081")?;
    // Relative paths join under the URL's path, whatever the operator wrote.
    if !base_url.path().ends_with('/') {
        base_url.set_path(&format!("{}/", base_url.path()));
    }
    let tokens = tokens.required()?;
    let timeout = args.backend_timeout_secs;
    if !(0.1..=600.0).contains(&timeout) {
        return Err(ConfigError::new(
            "backend_timeout_secs",
            format!("{timeout} is out of range"),
            "use 0.1 to 600 seconds",
        ));
    }
    if args.backend_retries > 10 {
        return Err(ConfigError::new(
            "backend_retries",
            format!("{} is too many", args.backend_retries),
            "use 0 to 10",
        ));
    }
    let mut config = BackendConfig::new(base_url, SecretString::from(tokens[0].clone()));
    config.timeout = Duration::from_secs_f64(timeout);
    config.retries = args.backend_retries;
    Ok(Some(config))
}
