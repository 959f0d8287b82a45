//! `portcullis serve`: open the store, set up token verification, bind, serve until a signal.

use std::sync::Arc;

use anyhow::Context;
use portcullis_auth::{KeySource, ResourceServer, ResourceServerConfig, RevocationCheck};
use portcullis_core::Store;
use portcullis_gateway::{Credentials, Gateway, TokenIssuer};
use portcullis_http::{HttpSettings, OriginPolicy, RateLimits};
use portcullis_mcp::TaskSource;
use portcullis_oauth::{AuthorizationServer, AuthorizationServerConfig, KeyRing};
use portcullis_ratelimit::RateLimiter;

use crate::{
    cli::ServeArgs,
    config::{
        CommonSettings, RateLimitSettings, ServeSettings, TokenKeys, TokenSettings, resolve_serve,
    },
};

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let settings = resolve_serve(&args)?;
    init_logging(settings.requests.log_json);
    run_with(settings, None, portcullis_metrics::Metrics::new()).await
}

/// `serve` in this process on a listener the caller bound (a test's port 0: no pick-a-port-
/// then-bind race), until `shutdown` resolves. `args` are `serve`'s flags, layered as the
/// command line would layer them.
pub async fn serve_on(
    args: &[String],
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let settings = resolve_serve(&crate::layers::serve_args(args)?)?;
    init_logging(settings.requests.log_json);
    let listen = Listen {
        listener: Some(listener),
        shutdown: Box::pin(shutdown),
    };
    serve_with(settings, None, portcullis_metrics::Metrics::new(), listen).await
}

/// Where and until when to serve: a listener already bound (else `--bind`'s), and the future
/// that ends serving.
pub struct Listen {
    pub listener: Option<tokio::net::TcpListener>,
    pub shutdown: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
}

/// Creates the data directory and opens the database.
pub async fn open_store(common: &CommonSettings) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&common.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {} (set --data-dir)",
            common.data_dir.display()
        )
    })?;
    Store::connect(&common.database_url)
        .await
        .map_err(|e| anyhow::anyhow!("{e} (check --database-url)"))
}

/// Serves MCP with the settings; task tools run on `tasks` (a backend) or on the store. Every
/// part counts into `metrics`, served on `--metrics-bind`.
pub async fn run_with(
    settings: ServeSettings,
    tasks: Option<TaskSource>,
    metrics: Arc<portcullis_metrics::Metrics>,
) -> anyhow::Result<()> {
    let listen = Listen {
        listener: None,
        shutdown: Box::pin(shutdown_signal()),
    };
    serve_with(settings, tasks, metrics, listen).await
}

async fn serve_with(
    settings: ServeSettings,
    tasks: Option<TaskSource>,
    metrics: Arc<portcullis_metrics::Metrics>,
    listen: Listen,
) -> anyhow::Result<()> {
    let common = &settings.common;
    // Certificates are checked before anything else starts.
    let tls = match &settings.server.tls {
        Some((cert, key)) => Some(crate::tls::server_config(cert, key)?),
        None => None,
    };
    let store = open_store(common)
        .await?
        .start_audit_journal(settings.requests.audit_backlog_max_bytes)
        .await?;
    let builtin = matches!(settings.tokens.keys, TokenKeys::Local);
    let signs_upstream = settings
        .tools
        .upstreams
        .iter()
        .any(|u| matches!(u.credentials, Credentials::Jwt { .. }));
    let ring = match builtin || signs_upstream {
        true => Some(
            crate::signing_keys::open_ring(
                common,
                settings.tokens.key_retention(),
                &store,
                settings.authorization.key_rotation,
            )
            .await?,
        ),
        false => None,
    };
    let authorization_server = match (&ring, builtin) {
        (Some(ring), true) => Some(Arc::new(
            authorization_server(&settings, &store, ring.clone()).await?,
        )),
        _ => None,
    };
    let (gateway, upstream_jwks) = gateway(
        &settings,
        ring.filter(|_| signs_upstream),
        authorization_server.is_none(),
        &metrics,
    );
    let mut settings = settings;
    if let Some(gateway) = &gateway {
        settings.tools.policy = Arc::new(
            (*settings.tools.policy)
                .clone()
                .with_gateway(gateway.clone()),
        );
    }
    let settings = settings;
    let common = &settings.common;
    let resource_server = Arc::new(
        resource_server(
            common,
            &settings.tokens,
            settings.tools.policy.scopes_supported(),
            authorization_server.as_ref().map(|s| s.keys()),
            authorization_server
                .as_ref()
                .map(|s| s.revocations() as Arc<dyn RevocationCheck>),
            &metrics,
        )
        .await?,
    );

    let listener = match listen.listener {
        Some(listener) => listener,
        None => tokio::net::TcpListener::bind(common.bind)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {} (is the port in use? set --bind)",
                    common.bind
                )
            })?,
    };
    // After the bind: a `jwt` upstream may fetch our `/jwks.json` while answering its first listing.
    let mut upstream_tasks = gateway.as_ref().map(|g| g.start()).unwrap_or_default();
    if let Some(gateway) = &gateway {
        upstream_tasks.push(reload_on_hangup(gateway.clone()));
    }
    let rate_limits = Arc::new(rate_limits(&settings)?);
    let sweeper = rate_limits.limiter.spawn_sweeper();
    let http = HttpSettings {
        origin_policy: OriginPolicy::for_public_url(
            &common.public_url,
            settings.server.allowed_origins.clone(),
            settings.server.allowed_hosts.clone(),
        ),
        legacy_sessions: settings.server.legacy_sessions,
        max_body_bytes: settings.requests.max_body_bytes,
        policy: settings.tools.policy.clone(),
        rate_limits: rate_limits.clone(),
        access_log: settings.server.access_log,
        tasks,
        metrics: metrics.clone(),
    };
    let audit = portcullis_http::AuditSink::new(store.clone());
    let mut app = portcullis_http::app(store.clone(), resource_server, audit, http);
    if let Some(keys) = upstream_jwks {
        // No built-in authorization server publishes the key upstream tokens are signed with.
        app = app.route(
            "/jwks.json",
            axum::routing::get(move || {
                let keys = keys.clone();
                async move { axum::Json(keys.jwks()) }
            }),
        );
    }
    let maintenance = authorization_server.as_ref().map(|server| {
        let endpoints = server
            .clone()
            .router()
            .route_layer(axum::middleware::from_fn_with_state(
                rate_limits.clone(),
                portcullis_http::limit_by_address,
            ));
        app = app.clone().merge(endpoints);
        server.spawn_maintenance()
    });
    tracing::info!(
        mcp = %format!("{}/mcp", common.public_base()),
        bind = %listener.local_addr()?,
        issuer = %common.effective_issuer(),
        data_dir = %common.data_dir.display(),
        database = %crate::config::masked_url(&common.database_url),
        "portcullis is serving"
    );
    let app = portcullis_http::observed(
        app,
        settings.server.access_log,
        Some(settings.requests.request_timeout),
        metrics.clone(),
    );
    let metrics = match settings.server.metrics_bind {
        Some(addr) => {
            Some(serve_metrics(addr, rate_limits.clone(), store.clone(), metrics.clone()).await?)
        }
        None => None,
    };
    crate::server::serve(
        listener,
        app,
        tls,
        settings.server.connections,
        listen.shutdown,
    )
    .await?;
    for task in maintenance
        .into_iter()
        .chain(metrics)
        .chain([sweeper])
        .chain(upstream_tasks)
    {
        task.abort();
    }
    // Moves the rest of the audit journal into the database.
    store.close().await;
    Ok(())
}

/// The gateway, and the key ring `/jwks.json` must publish for it.
type GatewayParts = (Option<Arc<Gateway>>, Option<Arc<KeyRing>>);

/// The gateway to the configured upstreams, if any, and the key ring to publish at
/// `/jwks.json` (`publish`: no built-in authorization server does it) when upstream tokens are
/// signed with `keys`.
fn gateway(
    settings: &ServeSettings,
    keys: Option<Arc<KeyRing>>,
    publish: bool,
    metrics: &portcullis_metrics::Metrics,
) -> GatewayParts {
    let upstreams = &settings.tools.upstreams;
    if upstreams.is_empty() {
        return (None, None);
    }
    let publish = keys.clone().filter(|_| publish);
    let issuer = keys.map(|keys| TokenIssuer {
        signer: Arc::new(move || keys.signer()),
        issuer: settings.common.public_base(),
        tenant_claim: settings.tokens.tenant_claim.clone(),
    });
    for upstream in upstreams {
        tracing::info!(upstream = %upstream.name, prefix = %upstream.prefix, "fronting an upstream MCP server");
    }
    (
        Some(Arc::new(Gateway::new(
            upstreams.clone(),
            issuer,
            metrics.backend_calls.clone(),
        ))),
        publish,
    )
}

/// The limiter (in process, or on Redis) with the configured budgets.
fn rate_limits(serve: &ServeSettings) -> anyhow::Result<RateLimits> {
    let settings: &RateLimitSettings = &serve.rate_limits;
    // Each address's share of dynamic registrations: N an hour, all of them at once if it likes.
    let registrations = serve.authorization.max_registrations_per_address;
    let per_ip_registrations = Some(
        portcullis_ratelimit::Quota::new(
            registrations,
            std::time::Duration::from_secs(3600),
            registrations,
        )
        .context("invalid setting `max_registrations_per_address`")?,
    );
    let limiter = match &settings.redis {
        Some(redis) => {
            let limiter = RateLimiter::with_redis(redis.clone())
                .context("invalid setting `redis_url` (--redis-url / PORTCULLIS_REDIS_URL)")?;
            tracing::info!(
                prefix = %redis.prefix,
                on_failure = redis.on_failure.as_str(),
                "rate-limit budgets are shared through Redis"
            );
            limiter
        }
        None => RateLimiter::in_process(),
    };
    Ok(RateLimits {
        limiter: Arc::new(limiter),
        per_principal: settings.per_principal,
        tools: settings.tools.clone(),
        per_client: settings.per_client,
        per_tenant: settings.per_tenant,
        per_ip: settings.per_ip,
        per_ip_registrations,
        client_ip_header: settings.client_ip_header.clone(),
    })
}

/// `/metrics` on its own listener, so it need not be exposed where `/mcp` is.
async fn serve_metrics(
    addr: std::net::SocketAddr,
    rate_limits: Arc<RateLimits>,
    store: Store,
    metrics: Arc<portcullis_metrics::Metrics>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr} for metrics (is the port in use? set --metrics-bind)")
    })?;
    tracing::info!(bind = %listener.local_addr()?, "serving /metrics");
    let app = portcullis_http::metrics_app(rate_limits, store, metrics);
    Ok(tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "the metrics listener stopped");
        }
    }))
}

/// The built-in authorization server: the default issuer when none is configured.
async fn authorization_server(
    settings: &ServeSettings,
    store: &Store,
    keys: Arc<KeyRing>,
) -> anyhow::Result<AuthorizationServer> {
    let common = &settings.common;
    let auth = &settings.authorization;
    let resource = format!("{}/mcp", common.public_base());
    let mut config = AuthorizationServerConfig::new(
        common.effective_issuer(),
        resource,
        settings.tools.policy.scopes_supported(),
    );
    config.audience = common.audience.clone();
    if common.loopback_aliases {
        let resource: url::Url = format!("{}/mcp", common.public_base()).parse()?;
        config.resource_aliases = portcullis_auth::loopback_aliases(&resource)
            .iter()
            .map(|u| u.as_str().to_owned())
            .collect();
    }
    config.access_token_ttl = settings.tokens.access_token_ttl;
    config.refresh_token_ttl = auth.refresh_token_ttl;
    config.refresh_reuse_grace = auth.refresh_reuse_grace;
    config.code_ttl = auth.code_ttl;
    config.dynamic_registration = auth.dynamic_registration;
    config.max_registrations_per_hour = auth.max_registrations_per_hour;
    config.unused_client_ttl = auth.unused_client_ttl;
    config.redirect_schemes = auth.redirect_schemes.clone();
    config.development = auth.dev_mode;
    config.clients = auth.clients.clone();
    config.identity_providers = auth.identity_providers.clone();
    config.local_passwords = auth.local_passwords;
    if auth.dev_mode {
        tracing::warn!(
            "development mode: client metadata documents may be fetched from loopback over plain http"
        );
    }
    let server = AuthorizationServer::new(config, store.oauth(), keys)
        .await
        .context("cannot start the authorization server (check --database-url)")?;
    tracing::info!(
        issuer = %common.effective_issuer(),
        kid = server.keys().signer().kid(),
        "built-in authorization server enabled; add users with `portcullis user add NAME`"
    );
    Ok(server)
}

/// Token verification: the local keys (`local`, with revocation checks when the built-in
/// authorization server issues the tokens) or the external issuer's.
pub async fn resource_server(
    common: &CommonSettings,
    tokens: &TokenSettings,
    scopes_supported: Vec<String>,
    local: Option<Arc<KeyRing>>,
    revocation: Option<Arc<dyn RevocationCheck>>,
    metrics: &portcullis_metrics::Metrics,
) -> anyhow::Result<ResourceServer> {
    let keys = match (&tokens.keys, local) {
        (TokenKeys::Local, Some(keys)) => KeySource::Provider(keys),
        (TokenKeys::Local, None) => anyhow::bail!("no local signing key is loaded"),
        (TokenKeys::File(path), _) => KeySource::File(path.clone()),
        (TokenKeys::JwksUri(url), _) => KeySource::JwksUri(url.clone()),
        (TokenKeys::Discovery, _) => KeySource::Discovery,
    };
    let resource: url::Url = format!("{}/mcp", common.public_base()).parse()?;
    let mut config = ResourceServerConfig::new(resource, common.effective_issuer(), keys);
    config.audience = Some(common.audience.clone());
    config.leeway = tokens.leeway;
    config.scopes_supported = scopes_supported;
    config.tenant_claim = tokens.tenant_claim.clone();
    config.min_key_refresh_interval = tokens.jwks_min_refresh;
    config.token_cache_size = tokens.token_cache_size;
    config.resource_name = Some("Portcullis".into());
    config.revocation = revocation;
    config.loopback_aliases = common.loopback_aliases;
    config.jwks_fetches = metrics.jwks_fetches.clone();
    ResourceServer::new(config).await.context(
        "cannot load the token verification keys (check --jwt-public-key / --jwks-uri / --issuer)",
    )
}

/// SIGHUP re-reads the upstreams' OpenAPI documents and relists their tools.
fn reload_on_hangup(gateway: Arc<Gateway>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut hangups) = signal(SignalKind::hangup()) else {
                return;
            };
            while hangups.recv().await.is_some() {
                tracing::info!("SIGHUP: re-reading the upstreams' tool lists");
                gateway.reload();
            }
        }
    })
}

pub fn init_logging(json: bool) {
    use tracing_subscriber::{EnvFilter, fmt};
    // rmcp logs every stateless request at info; keep the hot path quiet by default.
    let filter = EnvFilter::try_from_env("PORTCULLIS_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,rmcp=warn"));
    // Colours only for a person at a terminal: files and log collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

pub async fn shutdown_signal() {
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
