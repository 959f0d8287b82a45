//! The shared backend: the same GCRA as [`crate::memory`], run by one Lua script so a check of
//! every bucket of a request is one round trip and atomic across replicas. The script reads the
//! clock from Redis (`TIME`), so replicas with skewed clocks still agree.
//!
//! Not for Redis Cluster: a request's buckets may hash to different slots.

use std::{sync::RwLock, time::Duration};

use redis::{
    Script,
    aio::{ConnectionManager, ConnectionManagerConfig},
};

use crate::{Bucket, MAX_BUCKETS, gcra::BucketState};

/// KEYS: the buckets. ARGV: per bucket its interval and tolerance (µs). Returns the verdict
/// (1 or 0), then per bucket: remaining, reset (µs), retry (µs). Charges all or none.
const GCRA: &str = r"
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {1}
local next = {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i - 1])
  local tolerance = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat < now then tat = now end
  local ahead = tat + interval - now
  if ahead > tolerance then
    out[1] = 0
    out[#out + 1] = 0
    out[#out + 1] = tat - now
    out[#out + 1] = ahead - tolerance
  else
    next[i] = tat + interval
    out[#out + 1] = math.floor((tolerance - ahead) / interval)
    out[#out + 1] = ahead
    out[#out + 1] = 0
  end
end
if out[1] == 1 then
  for i = 1, #KEYS do
    local ttl = math.ceil((next[i] - now) / 1000) + 1000
    redis.call('SET', KEYS[i], string.format('%d', next[i]), 'PX', ttl)
  end
end
return out
";

/// Why Redis did not answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RedisFailure {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Redis(#[from] redis::RedisError),
    #[error("unexpected reply from the rate-limit script")]
    Reply,
}

pub(crate) struct RedisStore {
    client: redis::Client,
    connection: RwLock<Option<ConnectionManager>>,
    script: Script,
    prefix: String,
    timeout: Duration,
}

impl RedisStore {
    /// Checks the URL now; connects on first use (a Redis that is down at start-up is a runtime
    /// failure handled like any other, not a reason to refuse to start).
    pub(crate) fn new(url: &str, prefix: String, timeout: Duration) -> redis::RedisResult<Self> {
        Ok(Self {
            client: redis::Client::open(url)?,
            connection: RwLock::new(None),
            script: Script::new(GCRA),
            prefix,
            timeout,
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, RedisFailure> {
        if let Some(c) = self
            .connection
            .read()
            .expect("redis connection lock")
            .as_ref()
        {
            return Ok(c.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1);
        let connect = ConnectionManager::new_with_config(self.client.clone(), config);
        let manager = tokio::time::timeout(self.timeout, connect)
            .await
            .map_err(|_| RedisFailure::Timeout(self.timeout))??;
        *self.connection.write().expect("redis connection lock") = Some(manager.clone());
        Ok(manager)
    }

    /// `PING`, within the timeout (readiness probes).
    pub(crate) async fn ping(&self) -> Result<(), RedisFailure> {
        let mut connection = self.connection().await?;
        let pong: String = tokio::time::timeout(
            self.timeout,
            redis::cmd("PING").query_async(&mut connection),
        )
        .await
        .map_err(|_| RedisFailure::Timeout(self.timeout))??;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(RedisFailure::Reply)
        }
    }

    pub(crate) async fn check(
        &self,
        buckets: &[Bucket<'_>],
        states: &mut [BucketState],
    ) -> Result<bool, RedisFailure> {
        let mut connection = self.connection().await?;
        let mut invocation = self.script.prepare_invoke();
        for bucket in buckets.iter().take(MAX_BUCKETS) {
            invocation
                .key(bucket.key.redis_key(&self.prefix))
                .arg(bucket.quota.interval_us())
                .arg(bucket.quota.tolerance_us());
        }
        let reply: Vec<i64> =
            tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection))
                .await
                .map_err(|_| RedisFailure::Timeout(self.timeout))??;
        let n = buckets.len().min(MAX_BUCKETS);
        if reply.len() != 1 + 3 * n {
            return Err(RedisFailure::Reply);
        }
        for (state, values) in states.iter_mut().zip(reply[1..].chunks_exact(3)) {
            let [remaining, reset, retry] =
                [values[0], values[1], values[2]].map(|v| v.max(0) as u64);
            *state = BucketState {
                remaining,
                reset_us: reset,
                retry_us: retry,
            };
        }
        Ok(reply[0] == 1)
    }
}
