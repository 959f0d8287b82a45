//! Rate limiting for Portcullis: "N per period with burst B" budgets keyed by who is calling
//! (user, OAuth client, API key, tenant, or network address) and optionally by tool.
//!
//! The algorithm is GCRA ([`gcra`]): one timestamp per bucket, O(1) per check, nothing
//! allocated on the in-process path once a caller has a bucket. Budgets live in process
//! ([`RateLimiter::in_process`]) or in Redis ([`RateLimiter::with_redis`]) so that replicas
//! share them; a request's buckets are checked and charged together, all or none.
//!
//! When Redis cannot answer within its timeout the [`OnRedisFailure`] choice applies, and a
//! circuit breaker keeps later requests from waiting on a Redis that is down.

mod breaker;
mod gcra;
mod key;
mod memory;
mod metrics;
mod quota;
mod redis_store;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use serde::Deserialize;

pub use gcra::BucketState;
pub use key::{Bucket, BucketKey, KeyClass};
pub use metrics::{Metrics, Outcome};
pub use quota::{Quota, QuotaError};

use breaker::{Admit, Breaker};
use memory::MemoryStore;
use redis_store::RedisStore;

/// Most buckets one request is checked against.
pub const MAX_BUCKETS: usize = 4;
/// Least time between two "Redis is failing" warnings.
const WARNING_INTERVAL_US: u64 = 10_000_000;

/// What happens to a request when Redis cannot answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnRedisFailure {
    /// Let it through, with a warning in the log.
    Open,
    /// Refuse it (503) until Redis answers again.
    Closed,
    /// Count it against this replica's own in-process budgets (each replica then allows the
    /// full budget on its own).
    Local,
}

impl OnRedisFailure {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "open" => Some(Self::Open),
            "closed" => Some(Self::Closed),
            "local" => Some(Self::Local),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
            Self::Local => "local",
        }
    }
}

/// How to reach the shared backend.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub url: String,
    /// Prepended to every key, so deployments (and test runs) sharing a Redis stay apart.
    pub prefix: String,
    /// Longest wait for a connection or a reply.
    pub timeout: Duration,
    pub on_failure: OnRedisFailure,
    /// How long the breaker stays open before one request probes Redis again.
    pub cooldown: Duration,
}

/// The answer for one request.
#[derive(Debug, Clone, Copy)]
pub struct Decision {
    pub outcome: Outcome,
    states: [BucketState; MAX_BUCKETS],
    len: usize,
    /// For [`Outcome::FailedClosed`]: when Redis will next be tried (µs).
    unavailable_us: u64,
}

impl Decision {
    /// True when the request may proceed.
    pub fn allowed(&self) -> bool {
        matches!(self.outcome, Outcome::Allowed | Outcome::FailedOpen)
    }

    /// Each bucket's state, in the order the buckets were given (empty when Redis failed and
    /// nothing was counted).
    pub fn states(&self) -> &[BucketState] {
        &self.states[..self.len]
    }

    /// How long a refused caller should wait, in whole seconds (at least 1), as `Retry-After`.
    pub fn retry_after_secs(&self) -> u64 {
        let us = self
            .states()
            .iter()
            .map(|s| s.retry_us)
            .max()
            .unwrap_or(0)
            .max(self.unavailable_us);
        us.div_ceil(1_000_000).max(1)
    }
}

struct Shared {
    store: RedisStore,
    breaker: Breaker,
    on_failure: OnRedisFailure,
}

/// The limiter: check a request's buckets, count the outcome.
pub struct RateLimiter {
    shared: Option<Shared>,
    /// The in-process budgets (the backend, or the `local` fallback when Redis fails).
    local: MemoryStore,
    /// Buckets known to be refusing, and until when: lets a caller be turned away before any
    /// work (such as an API-key lookup) is spent on it.
    blocked: MemoryStore,
    metrics: Metrics,
    last_warning: AtomicU64,
    epoch: Instant,
}

impl RateLimiter {
    pub fn in_process() -> Self {
        Self {
            shared: None,
            local: MemoryStore::default(),
            blocked: MemoryStore::default(),
            metrics: Metrics::default(),
            last_warning: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// Budgets shared through Redis. Fails only on a malformed URL: an unreachable Redis is
    /// handled per request, as configured.
    pub fn with_redis(settings: RedisSettings) -> Result<Self, redis::RedisError> {
        let store = RedisStore::new(&settings.url, settings.prefix, settings.timeout)?;
        Ok(Self {
            shared: Some(Shared {
                store,
                breaker: Breaker::new(settings.cooldown.as_micros() as u64),
                on_failure: settings.on_failure,
            }),
            ..Self::in_process()
        })
    }

    /// `memory` or `redis`.
    pub fn backend(&self) -> &'static str {
        if self.shared.is_some() {
            "redis"
        } else {
            "memory"
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Whether the shared Redis answers: `None` when budgets are kept in process.
    pub async fn probe(&self) -> Option<Result<(), String>> {
        let shared = self.shared.as_ref()?;
        Some(shared.store.ping().await.map_err(|e| e.to_string()))
    }

    /// Whether tool calls are refused while Redis is down (`--redis-failure-mode closed`),
    /// which makes Redis a required dependency.
    pub fn requires_redis(&self) -> bool {
        self.shared
            .as_ref()
            .is_some_and(|s| matches!(s.on_failure, OnRedisFailure::Closed))
    }

    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// Checks `buckets` (at most [`MAX_BUCKETS`]; more are ignored) and charges them all if
    /// every one has room.
    pub async fn check(&self, buckets: &[Bucket<'_>]) -> Decision {
        let buckets = &buckets[..buckets.len().min(MAX_BUCKETS)];
        let mut decision = Decision {
            outcome: Outcome::Allowed,
            states: [BucketState::default(); MAX_BUCKETS],
            len: buckets.len(),
            unavailable_us: 0,
        };
        let allowed = match &self.shared {
            None => self.local.check(buckets, &mut decision.states),
            Some(shared) => match self.check_shared(shared, buckets, &mut decision).await {
                Some(allowed) => allowed,
                None => return self.counted(buckets, decision),
            },
        };
        if !allowed {
            decision.outcome = Outcome::Limited;
            for (bucket, state) in buckets.iter().zip(&decision.states) {
                if state.retry_us > 0 {
                    self.blocked.block(&bucket.key, state.retry_us);
                }
            }
        }
        self.counted(buckets, decision)
    }

    /// Redis's verdict, or the fallback's; `None` when the fallback decided the outcome itself.
    async fn check_shared(
        &self,
        shared: &Shared,
        buckets: &[Bucket<'_>],
        decision: &mut Decision,
    ) -> Option<bool> {
        let now = self.now_us();
        let retry_in = match shared.breaker.admit(now) {
            Admit::Go => match shared.store.check(buckets, &mut decision.states).await {
                Ok(allowed) => {
                    if shared.breaker.is_open() {
                        tracing::info!("Redis answers again; rate limits are shared again");
                    }
                    shared.breaker.succeeded();
                    return Some(allowed);
                }
                Err(error) => {
                    if shared.breaker.failed(self.now_us()) {
                        tracing::error!(%error, on_failure = shared.on_failure.as_str(),
                            "Redis is not answering; rate-limit checks take the configured failure path");
                    }
                    match shared.breaker.admit(self.now_us()) {
                        Admit::Skip(us) => us,
                        Admit::Go => 0,
                    }
                }
            },
            Admit::Skip(us) => us,
        };
        self.warn_degraded(shared.on_failure);
        match shared.on_failure {
            OnRedisFailure::Local => Some(self.local.check(buckets, &mut decision.states)),
            OnRedisFailure::Open => {
                decision.outcome = Outcome::FailedOpen;
                decision.len = 0;
                None
            }
            OnRedisFailure::Closed => {
                decision.outcome = Outcome::FailedClosed;
                decision.len = 0;
                decision.unavailable_us = retry_in.max(1_000_000);
                None
            }
        }
    }

    fn warn_degraded(&self, on_failure: OnRedisFailure) {
        let now = self.now_us();
        let last = self.last_warning.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= WARNING_INTERVAL_US)
            && self
                .last_warning
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let effect = match on_failure {
                OnRedisFailure::Open => "requests pass unlimited",
                OnRedisFailure::Closed => "requests are refused with 503",
                OnRedisFailure::Local => "each replica enforces the budgets on its own",
            };
            tracing::warn!(
                on_failure = on_failure.as_str(),
                "rate limiting without Redis: {effect}"
            );
        }
    }

    fn counted(&self, buckets: &[Bucket<'_>], decision: Decision) -> Decision {
        for (i, bucket) in buckets.iter().enumerate() {
            let outcome = match decision.outcome {
                // Count the refusal against the buckets that refused, the rest as allowed.
                Outcome::Limited if decision.states.get(i).is_some_and(|s| s.retry_us == 0) => {
                    continue;
                }
                other => other,
            };
            self.metrics.count(bucket.key.class, outcome);
        }
        decision
    }

    /// How long `key` is known to refuse, from this process's own recent answers; no backend
    /// round trip. Lets callers be turned away before costlier work such as authentication.
    pub fn blocked_for(&self, key: &BucketKey<'_>) -> Option<Duration> {
        self.blocked.blocked_for(key).map(Duration::from_micros)
    }

    /// Counts a refusal made from [`Self::blocked_for`]'s answer.
    pub fn count_blocked(&self, class: KeyClass) {
        self.metrics.count(class, Outcome::Limited);
    }

    /// Forgets full buckets every minute for as long as the limiter lives.
    pub fn spawn_sweeper(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(limiter) = weak.upgrade() else {
                    return;
                };
                limiter.local.sweep();
                limiter.blocked.sweep();
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, quota: Quota) -> Bucket<'_> {
        Bucket {
            key: BucketKey {
                class: KeyClass::User,
                scope: "",
                tenant: "t",
                id,
            },
            quota,
        }
    }

    #[tokio::test]
    async fn refusals_are_remembered_and_counted() {
        let limiter = RateLimiter::in_process();
        let q = Quota::new(1, Duration::from_secs(60), 2).unwrap();
        assert!(limiter.check(&[user("alice", q)]).await.allowed());
        assert!(limiter.check(&[user("alice", q)]).await.allowed());
        let refused = limiter.check(&[user("alice", q)]).await;
        assert_eq!(refused.outcome, Outcome::Limited);
        assert_eq!(refused.retry_after_secs(), 60);
        let blocked = limiter.blocked_for(&user("alice", q).key).unwrap();
        assert!(blocked > Duration::from_secs(59), "{blocked:?}");
        assert_eq!(limiter.blocked_for(&user("bob", q).key), None);
        let counts = limiter.metrics().snapshot();
        let count = |o| {
            counts
                .iter()
                .find(|c| c.0 == KeyClass::User && c.1 == o)
                .unwrap()
                .2
        };
        assert_eq!((count(Outcome::Allowed), count(Outcome::Limited)), (2, 1));
    }
}
