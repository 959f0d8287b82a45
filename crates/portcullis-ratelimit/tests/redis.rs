//! The Redis backend against the test Redis (127.0.0.1:6379, or `PORTCULLIS_TEST_REDIS_URL`),
//! each test under its own key prefix.

use std::time::{Duration, Instant};

use portcullis_ratelimit::{
    Bucket, BucketKey, KeyClass, OnRedisFailure, Outcome, Quota, RateLimiter, RedisSettings,
};

fn redis_url() -> String {
    std::env::var("PORTCULLIS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn settings(url: String, prefix: &str, on_failure: OnRedisFailure) -> RedisSettings {
    RedisSettings {
        url,
        prefix: prefix.to_owned(),
        timeout: Duration::from_millis(200),
        on_failure,
        cooldown: Duration::from_secs(30),
    }
}

fn bucket<'a>(id: &'a str, scope: &'a str, quota: Quota) -> Bucket<'a> {
    Bucket {
        key: BucketKey {
            class: KeyClass::User,
            scope,
            tenant: "acme",
            id,
        },
        quota,
    }
}

fn prefix() -> String {
    format!("portcullis-test:{}:", uuid::Uuid::new_v4())
}

#[tokio::test]
async fn two_limiters_share_one_budget_through_redis() {
    let prefix = prefix();
    let a =
        RateLimiter::with_redis(settings(redis_url(), &prefix, OnRedisFailure::Closed)).unwrap();
    let b =
        RateLimiter::with_redis(settings(redis_url(), &prefix, OnRedisFailure::Closed)).unwrap();
    let q = Quota::new(10, Duration::from_secs(60), 4).unwrap();
    let mut allowed = 0;
    for i in 0..10 {
        let limiter = if i % 2 == 0 { &a } else { &b };
        let d = limiter.check(&[bucket("alice", "", q)]).await;
        assert_ne!(d.outcome, Outcome::FailedClosed, "Redis must answer");
        if d.allowed() {
            allowed += 1;
        } else {
            assert_eq!(d.outcome, Outcome::Limited);
            assert!(
                (5..=6).contains(&d.retry_after_secs()),
                "{}",
                d.retry_after_secs()
            );
        }
    }
    assert_eq!(allowed, 4, "the burst is shared, not per limiter");
    let other = a.check(&[bucket("bob", "", q)]).await;
    assert!(other.allowed());
    assert_eq!(other.states()[0].remaining, 3, "bob has his own budget");
}

#[tokio::test]
async fn a_refusal_by_one_bucket_charges_none() {
    let limiter =
        RateLimiter::with_redis(settings(redis_url(), &prefix(), OnRedisFailure::Closed)).unwrap();
    let wide = Quota::new(100, Duration::from_secs(60), 100).unwrap();
    let narrow = Quota::new(1, Duration::from_secs(60), 1).unwrap();
    let pair = [
        bucket("alice", "", wide),
        bucket("alice", "create_task", narrow),
    ];
    assert!(limiter.check(&pair).await.allowed());
    assert_eq!(limiter.check(&pair).await.outcome, Outcome::Limited);
    let after = limiter.check(&pair[..1]).await;
    assert_eq!(after.states()[0].remaining, 98);
}

/// A port nothing listens on: connection refused at once.
fn dead_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("redis://127.0.0.1:{port}")
}

#[tokio::test]
async fn an_unreachable_redis_takes_the_configured_path_quickly() {
    let q = Quota::new(1, Duration::from_secs(60), 1).unwrap();
    for (mode, expect) in [
        (
            OnRedisFailure::Open,
            [Outcome::FailedOpen, Outcome::FailedOpen],
        ),
        (
            OnRedisFailure::Closed,
            [Outcome::FailedClosed, Outcome::FailedClosed],
        ),
        (OnRedisFailure::Local, [Outcome::Allowed, Outcome::Limited]),
    ] {
        let limiter = RateLimiter::with_redis(settings(dead_url(), &prefix(), mode)).unwrap();
        let started = Instant::now();
        let first = limiter.check(&[bucket("alice", "", q)]).await;
        let second = limiter.check(&[bucket("alice", "", q)]).await;
        assert_eq!([first.outcome, second.outcome], expect, "{mode:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{mode:?} took {:?}",
            started.elapsed()
        );
        if mode == OnRedisFailure::Closed {
            assert!(second.retry_after_secs() >= 1);
        }
    }
}

/// A Redis that accepts connections and never answers: the timeout bounds every check, and
/// once the breaker opens checks stop waiting at all.
#[tokio::test]
async fn a_hung_redis_is_bounded_by_the_timeout_and_the_breaker() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let limiter = RateLimiter::with_redis(settings(url, &prefix(), OnRedisFailure::Open)).unwrap();
    let q = Quota::new(1, Duration::from_secs(60), 1).unwrap();
    let started = Instant::now();
    for _ in 0..3 {
        assert_eq!(
            limiter.check(&[bucket("alice", "", q)]).await.outcome,
            Outcome::FailedOpen
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let open = Instant::now();
    for _ in 0..100 {
        assert_eq!(
            limiter.check(&[bucket("alice", "", q)]).await.outcome,
            Outcome::FailedOpen
        );
    }
    assert!(
        open.elapsed() < Duration::from_millis(200),
        "the open breaker must not wait: {:?}",
        open.elapsed()
    );
}
