//! Rate limits: each caller's, client's, tenant's and address's budget, per-tool budgets from
//! the file, and the Redis that shares them across replicas.

use std::{collections::HashMap, time::Duration};

use clap::Args;
use portcullis_http::ToolLimit;
use portcullis_ratelimit::{OnRedisFailure, Quota, RedisSettings};
use serde::Deserialize;

use super::{ConfigError, ranged};

#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Each caller's budget for tool calls: N/UNIT (100/min, 10/s, 5000/h) or `off`.
    /// Per-tool budgets go in the configuration file's [rate_limits.tools.*].
    #[arg(long, env = "PORTCULLIS_RATE_LIMIT", default_value = "100/min")]
    pub rate_limit: String,
    /// How many of those calls may come at once.
    #[arg(long, env = "PORTCULLIS_RATE_LIMIT_BURST", default_value_t = 20)]
    pub rate_limit_burst: u32,
    /// One budget per OAuth client across all its users, N/UNIT or `off`.
    #[arg(long, env = "PORTCULLIS_CLIENT_RATE_LIMIT", default_value = "off")]
    pub client_rate_limit: String,
    /// One budget per tenant across all its callers, N/UNIT or `off`.
    #[arg(long, env = "PORTCULLIS_TENANT_RATE_LIMIT", default_value = "off")]
    pub tenant_rate_limit: String,
    /// Per network address, for the token, login, registration and revocation endpoints and
    /// for failed authentications on /mcp.
    #[arg(long, env = "PORTCULLIS_IP_RATE_LIMIT", default_value = "60/min")]
    pub ip_rate_limit: String,
    /// Burst of the per-address budget.
    #[arg(long, env = "PORTCULLIS_IP_RATE_LIMIT_BURST", default_value_t = 30)]
    pub ip_rate_limit_burst: u32,
    /// Take the client address from this header set by your proxy (e.g. X-Forwarded-For,
    /// last entry) [default: the connection's address].
    #[arg(long, env = "PORTCULLIS_CLIENT_IP_HEADER")]
    pub client_ip_header: Option<String>,
    /// Share rate-limit budgets across replicas through this Redis (redis://host:port/db)
    /// [default: budgets kept in process].
    #[arg(long, env = "PORTCULLIS_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key.
    #[arg(long, env = "PORTCULLIS_REDIS_PREFIX", default_value = "portcullis:")]
    pub redis_prefix: String,
    /// Longest wait for Redis per check, in milliseconds.
    #[arg(long, env = "PORTCULLIS_REDIS_TIMEOUT_MS", default_value_t = 100)]
    pub redis_timeout_ms: u64,
    /// When Redis does not answer: `local` (each replica limits on its own), `open` (no
    /// limits, with a warning) or `closed` (refuse tool calls with 503).
    #[arg(long, env = "PORTCULLIS_REDIS_FAILURE_MODE", default_value = "local")]
    pub redis_failure_mode: String,
}

/// `[rate_limits.tools.<tool or group>]`: a budget of its own for a tool, or one shared by a
/// group's tools, instead of the caller's default budget.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRateLimits {
    #[serde(default)]
    tools: std::collections::BTreeMap<String, FileToolLimit>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToolLimit {
    /// N/UNIT, or `off` for no limit on this tool.
    rate: String,
    /// How many calls may come at once [default: N].
    burst: Option<u32>,
}

/// Rate limits as configured; `serve` builds the limiter from them.
#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    pub per_principal: Option<Quota>,
    pub per_client: Option<Quota>,
    pub per_tenant: Option<Quota>,
    pub per_ip: Option<Quota>,
    pub tools: HashMap<&'static str, ToolLimit>,
    pub client_ip_header: Option<axum::http::HeaderName>,
    pub redis: Option<RedisSettings>,
}

/// `rate` (N/UNIT or off) with `burst`; `None` when off.
fn quota(key: &'static str, rate: &str, burst: Option<u32>) -> Result<Option<Quota>, ConfigError> {
    Quota::parse(rate, burst).map_err(|e| {
        ConfigError::new(
            key,
            e.to_string(),
            "e.g. 100/min, with a burst of at least 1",
        )
    })
}

pub fn resolve_limits(
    args: &LimitArgs,
    file: FileRateLimits,
) -> Result<RateLimitSettings, ConfigError> {
    // Groups first, then single tools: a tool's own entry wins over its group's.
    let entries = portcullis_mcp::resolve_targets(file.tools).map_err(|name| {
        ConfigError::new(
            "rate_limits",
            format!("rate_limits.tools.{name}: no tool or group has this name"),
            "name a tool, or a group: tasks_read, tasks_write, admin",
        )
    })?;
    let mut tools = HashMap::new();
    for portcullis_mcp::Targeted {
        name,
        tools: targets,
        value: limit,
    } in entries
    {
        let quota = Quota::parse(&limit.rate, limit.burst).map_err(|e| {
            ConfigError::new(
                "rate_limits",
                format!("rate_limits.tools.{name}: {e}"),
                "e.g. rate = \"10/min\", burst = 5",
            )
        })?;
        for tool in targets {
            tools.insert(tool, ToolLimit { scope: name, quota });
        }
    }
    let client_ip_header = match &args.client_ip_header {
        Some(raw) => Some(axum::http::HeaderName::try_from(raw.trim()).map_err(|_| {
            ConfigError::new(
                "client_ip_header",
                format!("{raw:?} is not a header name"),
                "e.g. X-Forwarded-For or X-Real-IP",
            )
        })?),
        None => None,
    };
    let redis = match &args.redis_url {
        Some(url) => Some(redis_settings(args, url)?),
        None => None,
    };
    Ok(RateLimitSettings {
        per_principal: quota("rate_limit", &args.rate_limit, Some(args.rate_limit_burst))?,
        per_client: quota("client_rate_limit", &args.client_rate_limit, None)?,
        per_tenant: quota("tenant_rate_limit", &args.tenant_rate_limit, None)?,
        per_ip: quota(
            "ip_rate_limit",
            &args.ip_rate_limit,
            Some(args.ip_rate_limit_burst),
        )?,
        tools,
        client_ip_header,
        redis,
    })
}

fn redis_settings(args: &LimitArgs, url: &str) -> Result<RedisSettings, ConfigError> {
    if !url.starts_with("redis://") && !url.starts_with("rediss://") {
        return Err(ConfigError::new(
            "redis_url",
            "is not a redis:// or rediss:// URL",
            "e.g. redis://127.0.0.1:6379/0",
        ));
    }
    let timeout_ms = ranged("redis_timeout_ms", args.redis_timeout_ms, 1..=10_000)?;
    let on_failure = OnRedisFailure::parse(&args.redis_failure_mode).ok_or_else(|| {
        ConfigError::new(
            "redis_failure_mode",
            format!("{:?} is not a mode", args.redis_failure_mode),
            "use local, open or closed",
        )
    })?;
    Ok(RedisSettings {
        url: url.to_owned(),
        prefix: args.redis_prefix.clone(),
        timeout: Duration::from_millis(timeout_ms),
        on_failure,
        cooldown: Duration::from_secs(5),
    })
}
