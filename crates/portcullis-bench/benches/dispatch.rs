//! A whole `/mcp` request in process (no sockets): Origin/Host guard, bearer verification, the
//! scope gate, rmcp's transport and tool router, and the SQLite store. `tools/list` shows the
//! cost without the database; `list_tasks` with it.

use std::sync::Arc;

use axum::{body::Body, http::Request};
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use portcullis_auth::{KeySet, KeySource, ResourceServer, ResourceServerConfig};
use portcullis_bench::{BenchKey, rs256_token};
use portcullis_http::{HttpSettings, OriginPolicy};
use serde_json::json;
use tower::ServiceExt;

const ISS: &str = "https://issuer.bench";
const BASE: &str = "http://127.0.0.1:8080";
const DIRECT: &str = "application/json, text/event-stream";
const VIA_TRANSPORT: &str = "application/json;q=1, text/event-stream;q=1";

/// `accept` with parameters (`;q=1`) makes Portcullis hand the request to rmcp's transport
/// instead of its direct path, so the two can be compared.
// The allocator the portcullis binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn request(
    token: &str,
    body: &serde_json::Value,
    version: &str,
    method: &str,
    name: Option<&str>,
    accept: &str,
) -> Request<Body> {
    let mut r = Request::post("/mcp")
        .header("host", "127.0.0.1:8080")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("accept", accept)
        .header("mcp-protocol-version", version);
    // The standard headers belong to 2026-07-28; legacy clients do not send them.
    if version == "2026-07-28" {
        r = r.header("mcp-method", method);
        if let Some(name) = name {
            r = r.header("mcp-name", name);
        }
    }
    r.body(Body::from(body.to_string())).unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = BenchKey::generate();
    let aud = format!("{BASE}/mcp");
    let token = rs256_token(
        &key.private_pem,
        ISS,
        &aud,
        "alice",
        "tasks:read tasks:write",
        86_400,
    );
    let app = rt.block_on(async {
        let store =
            portcullis_core::Store::connect(&format!("sqlite://{}/bench.db", dir.path().display()))
                .await
                .unwrap();
        let keys = KeySet::from_pem(key.public_pem.as_bytes()).unwrap();
        let mut config =
            ResourceServerConfig::new(aud.parse().unwrap(), ISS.into(), KeySource::Static(keys));
        config.scopes_supported = vec!["tasks:read".into(), "tasks:write".into()];
        let rs = Arc::new(ResourceServer::new(config).await.unwrap());
        let public_url: url::Url = BASE.parse().unwrap();
        let settings = HttpSettings {
            origin_policy: OriginPolicy::for_public_url(&public_url, vec![], vec![]),
            legacy_sessions: false,
            max_body_bytes: 1 << 20,
            policy: Arc::default(),
            // Like the load script: a limiter that counts every call but never refuses one.
            rate_limits: Arc::new(portcullis_http::RateLimits {
                per_principal: portcullis_ratelimit::Quota::parse("1000000/s", None).unwrap(),
                ..portcullis_http::RateLimits::none()
            }),
            access_log: false,
            tasks: None,
            metrics: portcullis_metrics::Metrics::new(),
        };
        // Audited like the server: every request commits its decision before it runs.
        let audit = portcullis_http::AuditSink::new(store.clone());
        portcullis_http::app(store, rs, audit, settings)
    });
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": { "name": "bench", "version": "1" },
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    let create = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_task","arguments":{"title":"seed"},"_meta":meta}});
    for _ in 0..10 {
        let r = rt
            .block_on(app.clone().oneshot(request(
                &token,
                &create,
                "2026-07-28",
                "tools/call",
                Some("create_task"),
                DIRECT,
            )))
            .unwrap();
        assert!(r.status().is_success());
    }

    let list_2026 = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_tasks","arguments":{},"_meta":meta}});
    let list_2025 = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_tasks","arguments":{}}});
    let tools_list = json!({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":meta}});
    let cases = [
        (
            "tools_list_2026",
            &tools_list,
            "2026-07-28",
            "tools/list",
            None,
            DIRECT,
        ),
        (
            "list_tasks_2026",
            &list_2026,
            "2026-07-28",
            "tools/call",
            Some("list_tasks"),
            DIRECT,
        ),
        (
            "list_tasks_2025",
            &list_2025,
            "2025-11-25",
            "tools/call",
            Some("list_tasks"),
            DIRECT,
        ),
        (
            "list_tasks_2026_rmcp_transport",
            &list_2026,
            "2026-07-28",
            "tools/call",
            Some("list_tasks"),
            VIA_TRANSPORT,
        ),
        (
            "list_tasks_2025_rmcp_transport",
            &list_2025,
            "2025-11-25",
            "tools/call",
            Some("list_tasks"),
            VIA_TRANSPORT,
        ),
    ];
    let mut group = c.benchmark_group("mcp_dispatch");
    for (name, body, version, method, tool, accept) in cases {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                let app = app.clone();
                let req = request(&token, body, version, method, tool, accept);
                async move {
                    let r = app.oneshot(req).await.unwrap();
                    assert!(r.status().is_success());
                    r.into_body().collect().await.unwrap()
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
