//! Microservice mode (design document 000): `portcullis backend` serves the task domain as a
//! REST API; `portcullis mcp --backend-url URL` is the MCP server whose tools call it with a
//! service token and the user they act for.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use portcullis_auth::{ServiceTokens, parse_service_tokens};
use portcullis_backend_client::{BackendClient, BackendConfig};
use portcullis_http::BackendSettings;
use portcullis_mcp::TaskSource;
use portcullis_oauth::KeyRing;
use secrecy::{ExposeSecret, SecretString};

use crate::{
    cli::{BackendArgs, McpArgs, ServeArgs},
    config::{ConfigError, ServeSettings, parse_url, resolve_serve},
    serve,
};

const TOKEN_FIX: &str = "set SERVICE_AUTH_TOKEN to a random value of at least 32 characters (e.g. `openssl rand -base64 32`); list several, comma-separated, while rotating";

/// A secret given directly, else read from a file (trimmed), else from the config file.
fn secret_from(
    key: &'static str,
    env: &str,
    direct: Option<&str>,
    path: Option<&std::path::Path>,
    file: Option<&SecretString>,
) -> Result<Option<SecretString>, ConfigError> {
    if let Some(value) = direct {
        return Ok(Some(SecretString::from(value)));
    }
    if let Some(path) = path {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::with_env(
                key,
                env,
                format!("cannot read {}: {e}", path.display()),
                "give the path of a readable file holding the secret",
            )
        })?;
        return Ok(Some(SecretString::from(text.trim())));
    }
    Ok(file.cloned())
}

/// The service tokens, checked; `None` when none is configured.
fn service_tokens(
    direct: Option<&str>,
    path: Option<&std::path::Path>,
    file: Option<&SecretString>,
) -> Result<Option<Vec<String>>, ConfigError> {
    let env = "SERVICE_AUTH_TOKEN";
    let Some(raw) = secret_from("service_auth_token", env, direct, path, file)? else {
        return Ok(None);
    };
    parse_service_tokens(raw.expose_secret())
        .map(Some)
        .map_err(|e| ConfigError::with_env("service_auth_token", env, e.to_string(), TOKEN_FIX))
}

fn required_tokens(tokens: Option<Vec<String>>) -> Result<Vec<String>, ConfigError> {
    tokens.ok_or_else(|| {
        ConfigError::with_env(
            "service_auth_token",
            "SERVICE_AUTH_TOKEN",
            "is not set",
            TOKEN_FIX,
        )
    })
}

pub async fn backend(args: BackendArgs) -> anyhow::Result<()> {
    // The backend verifies users' tokens exactly as `serve` does: reuse its settings.
    let serve_args = ServeArgs {
        common: args.common.clone(),
        tokens: args.tokens.clone(),
        max_body_bytes: args.max_body_bytes,
        log_format: args.log_format.clone(),
        ..ServeArgs::default()
    };
    let settings = resolve_serve(&serve_args)?;
    let file = &settings.file_microservice;
    let tokens = required_tokens(service_tokens(
        args.service_auth_token.as_deref(),
        args.service_auth_token_file.as_deref(),
        file.service_auth_token.as_ref(),
    )?)?;
    let internal_key = secret_from(
        "internal_api_key",
        "INTERNAL_API_KEY",
        args.internal_api_key.as_deref(),
        args.internal_api_key_file.as_deref(),
        file.internal_api_key.as_ref(),
    )?;
    let internal = match internal_key {
        Some(raw) => Some(ServiceTokens::new(
            &parse_service_tokens(raw.expose_secret()).map_err(|e| {
                ConfigError::with_env(
                    "internal_api_key",
                    "INTERNAL_API_KEY",
                    e.to_string(),
                    "set INTERNAL_API_KEY to a random value of at least 32 characters",
                )
            })?,
        )),
        None => None,
    };
    serve::init_logging(settings.log_json);
    let store = serve::open_store(&settings.common).await?;
    let local_keys = match settings.token_keys {
        crate::config::TokenKeys::Local => Some(Arc::new(
            KeyRing::open(
                &settings.common.keys_dir(),
                settings.authorization.key_retention(),
            )
            .context("cannot load or create the signing key (check --data-dir permissions)")?,
        )),
        _ => None,
    };
    let metrics = portcullis_metrics::Metrics::new();
    let resource_server =
        Arc::new(serve::resource_server(&settings, local_keys, None, &metrics).await?);
    if internal.is_none() {
        tracing::warn!("INTERNAL_API_KEY is not set: /api/internal/* refuses every request");
    }
    let app = portcullis_http::backend_app(
        store.clone(),
        resource_server,
        BackendSettings {
            service_tokens: ServiceTokens::new(&tokens),
            internal_api_key: internal,
            max_body_bytes: settings.max_body_bytes,
            request_timeout: Some(settings.request_timeout),
            metrics,
        },
    );
    let purge = spawn_idempotency_purge(store.clone());
    let listener = tokio::net::TcpListener::bind(settings.common.bind)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (is the port in use? set --bind)",
                settings.common.bind
            )
        })?;
    tracing::info!(
        bind = %listener.local_addr()?,
        service_tokens = tokens.len(),
        database = ?store.backend(),
        "portcullis backend is serving"
    );
    crate::server::serve(
        listener,
        app,
        None,
        crate::server::ConnectionLimits::default(),
        serve::shutdown_signal(),
    )
    .await?;
    purge.abort();
    store.close().await;
    Ok(())
}

/// Forgets idempotency keys past their retention, hourly.
fn spawn_idempotency_purge(store: portcullis_core::Store) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            if let Err(error) = store.purge_idempotency_keys().await {
                tracing::warn!(%error, "could not purge old idempotency keys");
            }
        }
    })
}

/// The backend client's settings, when a backend URL is configured.
pub fn backend_config(
    args: &McpArgs,
    settings: &ServeSettings,
) -> anyhow::Result<Option<BackendConfig>> {
    let file = &settings.file_microservice;
    let Some(raw_url) = args.backend_url.clone().or(file.backend_url.clone()) else {
        return Ok(None);
    };
    let mut base_url = parse_url("backend_url", &raw_url, "http://127.0.0.1:8081")?;
    // Relative paths join under the URL's path, whatever the operator wrote.
    if !base_url.path().ends_with('/') {
        base_url.set_path(&format!("{}/", base_url.path()));
    }
    let tokens = required_tokens(service_tokens(
        args.service_auth_token.as_deref(),
        args.service_auth_token_file.as_deref(),
        file.service_auth_token.as_ref(),
    )?)?;
    let timeout = args
        .backend_timeout_secs
        .or(file.backend_timeout_secs)
        .unwrap_or(30.0);
    if !(0.1..=600.0).contains(&timeout) {
        return Err(ConfigError::new(
            "backend_timeout_secs",
            format!("{timeout} is out of range"),
            "use 0.1 to 600 seconds",
        )
        .into());
    }
    let retries = args.backend_retries.or(file.backend_retries).unwrap_or(2);
    if retries > 10 {
        return Err(ConfigError::new(
            "backend_retries",
            format!("{retries} is too many"),
            "use 0 to 10",
        )
        .into());
    }
    let mut config = BackendConfig::new(base_url, SecretString::from(tokens[0].clone()));
    config.timeout = Duration::from_secs_f64(timeout);
    config.retries = retries;
    Ok(Some(config))
}

pub async fn mcp(args: McpArgs) -> anyhow::Result<()> {
    let settings = resolve_serve(&args.serve)?;
    let config = backend_config(&args, &settings)?.ok_or_else(|| {
        ConfigError::new(
            "backend_url",
            "is not set",
            "give the URL of the `portcullis backend`, e.g. http://127.0.0.1:8081",
        )
    })?;
    let (url, timeout, retries) = (config.base_url.clone(), config.timeout, config.retries);
    let metrics = portcullis_metrics::Metrics::new();
    let client = BackendClient::new(BackendConfig {
        calls: metrics.backend_calls.clone(),
        ..config
    })
    .context("cannot set up the backend HTTP client")?;
    serve::init_logging(settings.log_json);
    tracing::info!(backend = %url, timeout_secs = timeout.as_secs_f64(), retries, "tools run on the backend");
    serve::run_with(
        settings,
        Some(TaskSource::Backend(Arc::new(client))),
        metrics,
    )
    .await
}
