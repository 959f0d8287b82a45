//! `portcullis config check [--connect]`: validate exactly as `serve`/`mcp` would, print the
//! effective configuration as a configuration file, and with `--connect` reach every service
//! it names and report each.

use std::time::Duration;

use portcullis_auth::KeySource;
use portcullis_core::Store;

use crate::{
    cli::ConfigCheckArgs,
    config::{ServeSettings, TokenKeys, backend_config, resolve_serve},
    effective::effective,
};

/// Longest any one service may take to answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn check(args: ConfigCheckArgs) -> anyhow::Result<()> {
    let settings = resolve_serve(&args.mcp.serve)?;
    let backend = backend_config(&args.mcp.backend, &args.mcp.service_tokens)?;
    print!("{}", effective(&settings, backend.as_ref()).render());
    if !args.connect {
        eprintln!("the configuration is valid (add --connect to reach the services it names)");
        return Ok(());
    }
    let mut failed = 0;
    let mut results = reach(&settings, backend).await;
    for upstream in &settings.tools.upstreams {
        let outcome = portcullis_gateway::probe(upstream, CONNECT_TIMEOUT).await;
        results.push((format!("upstream {}", upstream.name).into(), outcome));
    }
    for (name, result) in results {
        match result {
            Ok(detail) => eprintln!("{name}: ok ({detail})"),
            Err(why) => {
                failed += 1;
                eprintln!("{name}: FAILED: {why}");
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of the services the configuration names did not answer");
    }
    eprintln!("the configuration is valid and every service it names answers");
    Ok(())
}

type Outcome = Result<String, String>;

async fn within(work: impl Future<Output = Outcome>) -> Outcome {
    tokio::time::timeout(CONNECT_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())))
}

/// Each service the settings name, and whether it answers.
async fn reach(
    settings: &ServeSettings,
    backend: Option<portcullis_backend_client::BackendConfig>,
) -> Vec<(std::borrow::Cow<'static, str>, Outcome)> {
    let common = &settings.common;
    let mut out = Vec::new();
    let url = crate::config::masked_url(&common.database_url);
    let created_at_start = !common.data_dir.exists()
        && portcullis_core::Backend::from_url(&common.database_url)
            .is_ok_and(|b| b == portcullis_core::Backend::Sqlite)
        && common
            .database_url
            .contains(&*common.data_dir.to_string_lossy());
    out.push((
        "database".into(),
        if created_at_start {
            Ok(format!(
                "{url}: the data directory {} is created at start",
                common.data_dir.display()
            ))
        } else {
            within(async {
                Store::probe(&common.database_url)
                    .await
                    .map(|()| url.clone())
                    .map_err(|e| e.to_string())
            })
            .await
        },
    ));
    if let Some(redis) = &settings.rate_limits.redis {
        let redis = redis.clone();
        out.push((
            "redis".into(),
            within(async move {
                let url = crate::config::masked_url(&redis.url);
                let limiter = portcullis_ratelimit::RateLimiter::with_redis(redis)
                    .map_err(|e| e.to_string())?;
                match limiter.probe().await {
                    Some(Ok(())) | None => Ok(url),
                    Some(Err(why)) => Err(why),
                }
            })
            .await,
        ));
    }
    let source = match &settings.tokens.keys {
        TokenKeys::Local => None,
        TokenKeys::File(path) => Some(KeySource::File(path.clone())),
        TokenKeys::JwksUri(url) => Some(KeySource::JwksUri(url.clone())),
        TokenKeys::Discovery => Some(KeySource::Discovery),
    };
    if let Some(source) = source {
        let issuer = common.effective_issuer();
        out.push((
            "token keys".into(),
            within(async move {
                let http = reqwest::Client::builder()
                    .timeout(CONNECT_TIMEOUT)
                    .build()
                    .map_err(|e| e.to_string())?;
                portcullis_auth::fetch_keys(&source, &issuer, &http)
                    .await
                    .map(|n| format!("{n} usable key(s)"))
                    .map_err(|e| e.to_string())
            })
            .await,
        ));
    }
    if let Some(config) = backend {
        out.push((
            "backend".into(),
            within(async move {
                let url = config.base_url.to_string();
                let client = portcullis_backend_client::BackendClient::new(config)
                    .map_err(|e| e.to_string())?;
                client.probe().await.map(|()| url)
            })
            .await,
        ));
    }
    out
}
