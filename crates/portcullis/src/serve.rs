//! `portcullis serve`: open the store, set up token verification, bind, serve until a signal.

use std::sync::Arc;

use anyhow::Context;
use portcullis_auth::{KeySource, ResourceServer, ResourceServerConfig, signing::LocalSigner};
use portcullis_core::Store;
use portcullis_http::{HttpSettings, OriginPolicy};
use portcullis_mcp::SUPPORTED_SCOPES;

use crate::{
    cli::ServeArgs,
    config::{ServeSettings, TokenKeys, resolve_serve},
};

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let settings = resolve_serve(&args)?;
    init_logging(settings.log_json);
    let common = &settings.common;
    std::fs::create_dir_all(&common.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {} (set --data-dir)",
            common.data_dir.display()
        )
    })?;

    let store = Store::connect(&common.database_url)
        .await
        .with_context(|| {
            format!(
                "cannot open the database (check --database-url; backend {:?})",
                portcullis_core::Backend::from_url(&common.database_url).ok()
            )
        })?;
    let resource_server = Arc::new(resource_server(&settings).await?);

    let listener = tokio::net::TcpListener::bind(common.bind)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (is the port in use? set --bind)",
                common.bind
            )
        })?;
    let http = HttpSettings {
        origin_policy: OriginPolicy::for_public_url(
            &common.public_url,
            settings.allowed_origins.clone(),
            settings.allowed_hosts.clone(),
        ),
        legacy_sessions: settings.legacy_sessions,
        max_body_bytes: settings.max_body_bytes,
    };
    let app = portcullis_http::app(store.clone(), resource_server, http);
    tracing::info!(
        mcp = %format!("{}/mcp", common.public_base()),
        bind = %listener.local_addr()?,
        issuer = %common.effective_issuer(),
        database = ?store.backend(),
        "portcullis is serving"
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    store.close().await;
    Ok(())
}

async fn resource_server(settings: &ServeSettings) -> anyhow::Result<ResourceServer> {
    let common = &settings.common;
    let keys = match &settings.token_keys {
        TokenKeys::Local => {
            let signer = LocalSigner::load_or_generate(&common.keys_dir())?;
            tracing::info!(
                kid = signer.kid(),
                "verifying tokens signed by the local key; mint one with `portcullis token mint --sub NAME`"
            );
            KeySource::Static(signer.key_set())
        }
        TokenKeys::File(path) => KeySource::File(path.clone()),
        TokenKeys::JwksUri(url) => KeySource::JwksUri(url.clone()),
        TokenKeys::Discovery => KeySource::Discovery,
    };
    let resource: url::Url = format!("{}/mcp", common.public_base()).parse()?;
    let mut config = ResourceServerConfig::new(resource, common.effective_issuer(), keys);
    config.audience = Some(common.audience.clone());
    config.leeway = settings.leeway;
    config.scopes_supported = SUPPORTED_SCOPES.iter().map(|s| s.to_string()).collect();
    config.tenant_claim = settings.tenant_claim.clone();
    config.min_key_refresh_interval = settings.jwks_min_refresh;
    config.resource_name = Some("Portcullis".into());
    ResourceServer::new(config).await.context(
        "cannot load the token verification keys (check --jwt-public-key / --jwks-uri / --issuer)",
    )
}

fn init_logging(json: bool) {
    use tracing_subscriber::{EnvFilter, fmt};
    // rmcp logs every stateless request at info; keep the hot path quiet by default.
    let filter = EnvFilter::try_from_env("PORTCULLIS_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,rmcp=warn"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}
