//! What a rate-limit check costs: the in-process limiter and the Redis script, for one bucket
//! (a caller's default budget) and three (as for caller, OAuth client, tenant), with 10 000 callers
//! taking turns so the map behaves as under real traffic. Quotas are too large to refuse, so
//! every check takes the full charge path.
//!
//! `cargo bench -p portcullis-bench --bench limiter`; the Redis cases need the Redis at
//! `REDIS_URL` (default redis://127.0.0.1:6379) and are skipped without it.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_ratelimit::{
    Bucket, BucketKey, KeyClass, OnRedisFailure, Outcome, Quota, RateLimiter, RedisSettings,
};

const CALLERS: usize = 10_000;

fn buckets<'a>(user: &'a str, quota: Quota, n: usize) -> Vec<Bucket<'a>> {
    let keys = [
        (KeyClass::User, "acme", user),
        // Distinct per caller too: one shared bucket would run dry at a million checks a second.
        (KeyClass::Client, "", user),
        (KeyClass::Tenant, "", user),
    ];
    keys.iter()
        .take(n)
        .map(|&(class, tenant, id)| Bucket {
            key: BucketKey {
                class,
                scope: "",
                tenant,
                id,
            },
            quota,
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let quota = Quota::parse("1000000/s", None).unwrap().unwrap();
    let users: Vec<String> = (0..CALLERS).map(|i| format!("user-{i}")).collect();
    let redis_url =
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let redis = RateLimiter::with_redis(RedisSettings {
        url: redis_url,
        prefix: format!("portcullis-bench:{}:", std::process::id()),
        timeout: Duration::from_millis(500),
        on_failure: OnRedisFailure::Closed,
        cooldown: Duration::from_secs(1),
    })
    .unwrap();
    let probe = rt.block_on(redis.check(&buckets("probe", quota, 1)));
    let limiters = [
        ("memory", Some(RateLimiter::in_process())),
        (
            "redis",
            (probe.outcome == Outcome::Allowed).then_some(redis),
        ),
    ];
    let mut group = c.benchmark_group("rate_limit_check");
    for (backend, limiter) in &limiters {
        let Some(limiter) = limiter else {
            eprintln!("skipping the {backend} cases: Redis does not answer");
            continue;
        };
        for n in [1, 3] {
            let mut i = 0;
            group.bench_function(format!("{backend}_{n}_buckets"), |b| {
                b.iter(|| {
                    i = (i + 1) % CALLERS;
                    let d = rt.block_on(limiter.check(&buckets(&users[i], quota, n)));
                    assert!(d.allowed());
                })
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
