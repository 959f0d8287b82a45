//! Microservice mode (design document 000): `portcullis backend` serves the task domain as a
//! REST API; `portcullis mcp --backend-url URL` is the MCP server whose tools call it with a
//! service token and the user they act for.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use portcullis_auth::ServiceTokens;
use portcullis_backend::BackendSettings;
use portcullis_backend_client::{BackendClient, BackendConfig};
use portcullis_mcp::TaskSource;

use crate::{
    cli::{BackendArgs, McpArgs},
    config::{
        ConfigError, TokenKeys, backend_config, resolve_common, resolve_requests, resolve_serve,
        resolve_tokens,
    },
    serve,
};

pub async fn backend(args: BackendArgs) -> anyhow::Result<()> {
    // The backend verifies users' tokens exactly as `serve` does.
    let common = resolve_common(&args.common)?;
    let tokens = resolve_tokens(&args.tokens, &common)?;
    let requests = resolve_requests(&args.requests)?;
    let service_tokens = args.service_tokens.required()?;
    let internal = args.internal.keys()?.map(|keys| ServiceTokens::new(&keys));
    serve::init_logging(requests.log_json);
    let store = serve::open_store(&common).await?;
    let local_keys = match tokens.keys {
        TokenKeys::Local => Some(
            crate::signing_keys::open_ring(&common, tokens.key_retention(), &store, None).await?,
        ),
        _ => None,
    };
    let metrics = portcullis_metrics::Metrics::new();
    // The backend serves the task tools' scopes, as the default policy names them.
    let scopes = portcullis_mcp::Policy::default().scopes_supported();
    let resource_server = Arc::new(
        serve::resource_server(&common, &tokens, scopes, local_keys, None, &metrics).await?,
    );
    if internal.is_none() {
        tracing::warn!("INTERNAL_API_KEY is not set: /api/internal/* refuses every request");
    }
    let app = portcullis_backend::backend_app(
        store.clone(),
        resource_server,
        BackendSettings {
            service_tokens: ServiceTokens::new(&service_tokens),
            internal_api_key: internal,
            max_body_bytes: requests.max_body_bytes,
            request_timeout: Some(requests.request_timeout),
            metrics,
        },
    );
    let purge = spawn_idempotency_purge(store.clone());
    let listener = tokio::net::TcpListener::bind(common.bind)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (is the port in use? set --bind)",
                common.bind
            )
        })?;
    tracing::info!(
        bind = %listener.local_addr()?,
        service_tokens = service_tokens.len(),
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

pub async fn mcp(args: McpArgs) -> anyhow::Result<()> {
    let settings = resolve_serve(&args.serve)?;
    let config = backend_config(&args.backend, &args.service_tokens)?.ok_or_else(|| {
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
    serve::init_logging(settings.requests.log_json);
    tracing::info!(backend = %url, timeout_secs = timeout.as_secs_f64(), retries, "tools run on the backend");
    serve::run_with(
        settings,
        Some(TaskSource::Backend(Arc::new(client))),
        metrics,
    )
    .await
}
