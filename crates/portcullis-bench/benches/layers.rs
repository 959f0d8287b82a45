//! What each layer of the `/mcp` direct path costs, measured alone in process on one worker, and
//! the whole request (HTTP request through the router, no sockets) in the configurations that
//! switch layers on and off. The README's "latency each layer adds" table comes from this run.
//!
//! Layers alone: an RS256 JWT verified; the same JWT found in the verified-token cache; an API
//! key looked up and its secret compared; the per-tool policy; the rate limiter (one budget);
//! the audit decision appended to the journal (what every call waits for on a SQLite server),
//! and for comparison the same row committed to SQLite directly (what calls waited for before
//! the journal, and still do on a store without one).
//!
//! `cargo bench -p portcullis-bench --bench layers`

use std::{sync::Arc, time::Duration};

use axum::{body::Body, http::Request};
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use portcullis_auth::{KeySet, KeySource, ResourceServer, ResourceServerConfig};
use portcullis_bench::{BenchKey, rs256_token};
use portcullis_core::{AuditEvent, NewApiKey, Store};
use portcullis_http::{AuditSink, HttpSettings, OriginPolicy, RateLimits};
use portcullis_ratelimit::{Bucket, BucketKey, KeyClass, Quota, RateLimiter};
use serde_json::json;
use tower::ServiceExt;

const ISS: &str = "https://issuer.bench";
const BASE: &str = "http://127.0.0.1:8080";

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

async fn resource_server(key: &BenchKey, cache: usize) -> Arc<ResourceServer> {
    let keys = KeySet::from_pem(key.public_pem.as_bytes()).unwrap();
    let mut config = ResourceServerConfig::new(
        format!("{BASE}/mcp").parse().unwrap(),
        ISS.into(),
        KeySource::Static(keys),
    );
    config.scopes_supported = vec!["tasks:read".into(), "tasks:write".into()];
    config.token_cache_size = cache;
    Arc::new(ResourceServer::new(config).await.unwrap())
}

fn never_refusing() -> Arc<RateLimits> {
    Arc::new(RateLimits {
        per_principal: Quota::parse("1000000/s", None).unwrap(),
        ..RateLimits::none()
    })
}

fn app(store: &Store, rs: Arc<ResourceServer>, rate_limits: Arc<RateLimits>) -> axum::Router {
    let settings = HttpSettings {
        origin_policy: OriginPolicy::for_public_url(&BASE.parse().unwrap(), vec![], vec![]),
        legacy_sessions: false,
        max_body_bytes: 1 << 20,
        policy: Arc::default(),
        rate_limits,
        access_log: false,
        tasks: None,
        metrics: portcullis_metrics::Metrics::new(),
    };
    portcullis_http::app(store.clone(), rs, AuditSink::new(store.clone()), settings)
}

fn list_tasks(credential: (&str, &str)) -> Request<Body> {
    let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call",
                      "params":{"name":"list_tasks","arguments":{"limit":10}}});
    Request::post("/mcp")
        .header("host", "127.0.0.1:8080")
        .header(credential.0, credential.1)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = BenchKey::generate();
    let token = rs256_token(
        &key.private_pem,
        ISS,
        &format!("{BASE}/mcp"),
        "alice",
        "tasks:read tasks:write",
        86_400,
    );
    let bearer = format!("Bearer {token}");
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let (store, verified, cached, api_key) = rt.block_on(async {
        // As `serve` opens it.
        let store = Store::connect(&url)
            .await
            .unwrap()
            // Appended alone the journal outgrows what the mover keeps up with, so the
            // append bench below would reach the serving bound and be refused.
            .start_audit_journal(1 << 40)
            .await
            .unwrap();
        let (_, secret) = store
            .create_api_key(NewApiKey {
                name: "bench".into(),
                owner: "alice".into(),
                tenant: None,
                scopes: vec!["tasks:read".into(), "tasks:write".into()],
                trusted: false,
                expires_in: None,
            })
            .await
            .unwrap();
        (
            store,
            resource_server(&key, 0).await,
            resource_server(&key, 10_000).await,
            secret.expose().to_owned(),
        )
    });
    let principal = rt.block_on(verified.verify(&token)).unwrap();

    let mut alone = c.benchmark_group("layer_alone");
    alone.bench_function("jwt_verified_rs256", |b| {
        b.to_async(&rt)
            .iter(|| async { verified.verify(&token).await.unwrap() })
    });
    alone.bench_function("jwt_from_cache", |b| {
        b.to_async(&rt)
            .iter(|| async { cached.verify(&token).await.unwrap() })
    });
    alone.bench_function("api_key", |b| {
        b.to_async(&rt)
            .iter(|| async { store.authenticate_api_key(&api_key).await.unwrap().unwrap() })
    });
    let policy = portcullis_mcp::Policy::default();
    alone.bench_function("policy", |b| {
        b.iter(|| policy.check("list_tasks", &principal).unwrap())
    });
    let limiter = RateLimiter::in_process();
    // A budget criterion cannot exhaust (it checks millions of times a second): each of 256
    // users' buckets holds a million calls, and the checks go round them, so every check is
    // the allowed path a real request takes.
    let quota = Quota::parse("1000000/s", None).unwrap().unwrap();
    let users: Vec<String> = (0..256).map(|i| format!("user{i}")).collect();
    let buckets: Vec<[Bucket<'_>; 1]> = users
        .iter()
        .map(|id| {
            [Bucket {
                key: BucketKey {
                    class: KeyClass::User,
                    scope: "",
                    tenant: "",
                    id,
                },
                quota,
            }]
        })
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    alone.bench_function("rate_limit", |b| {
        b.to_async(&rt).iter(|| async {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % buckets.len();
            assert!(limiter.check(&buckets[i]).await.allowed())
        })
    });
    alone.finish();
    // Every iteration leaves a row behind: a short run keeps the journal and table small.
    let mut alone = c.benchmark_group("layer_alone");
    alone
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    let unjournaled = rt.block_on(Store::connect(&url)).unwrap();
    for (name, store) in [
        ("audit_journal_append", &store),
        ("audit_commit", &unjournaled),
    ] {
        let audit = AuditSink::new(store.clone());
        alone.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                let mut event = AuditEvent::new("oauth", "tools/call", true, "bench");
                event.subject = Some("alice".into());
                event.tool = Some("list_tasks".into());
                audit.record(event).await.unwrap()
            })
        });
    }
    alone.finish();

    // Whole requests: the default configuration, then with one layer changed. Building the
    // router starts tasks (rmcp's peer), so it happens inside the runtime.
    let _runtime = rt.enter();
    let apps = [
        (
            "default_jwt_cached",
            app(&store, cached.clone(), never_refusing()),
            ("authorization", bearer.as_str()),
        ),
        (
            "jwt_verified",
            app(&store, verified.clone(), never_refusing()),
            ("authorization", bearer.as_str()),
        ),
        (
            "jwt_cached_no_rate_limit",
            app(&store, cached.clone(), Arc::new(RateLimits::none())),
            ("authorization", bearer.as_str()),
        ),
        (
            "api_key",
            app(&store, cached.clone(), never_refusing()),
            ("x-api-key", api_key.as_str()),
        ),
    ];
    let mut whole = c.benchmark_group("whole_request_list_tasks");
    for (name, app, credential) in &apps {
        whole.bench_function(*name, |b| {
            b.to_async(&rt).iter(|| async {
                let r = app.clone().oneshot(list_tasks(*credential)).await.unwrap();
                assert!(r.status().is_success(), "{name}: {}", r.status());
                r.into_body().collect().await.unwrap()
            })
        });
    }
    whole.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
