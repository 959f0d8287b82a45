//! The example, in process: a real listener on port 0, a token signed by a local key, and an
//! MCP client speaking plain HTTP.

use std::{sync::Arc, time::Duration};

use portcullis_auth::{
    KeySource, ResourceServer, ResourceServerConfig,
    signing::{LocalSigner, MintRequest},
};
use serde_json::{Value, json};

const ISSUER: &str = "https://issuer.example";

async fn start(keys: &LocalSigner) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config = ResourceServerConfig::new(
        format!("{base}/mcp").parse().unwrap(),
        ISSUER.into(),
        KeySource::Static(keys.key_set()),
    );
    config.scopes_supported = vec!["notes:read".into(), "notes:write".into()];
    let rs = Arc::new(ResourceServer::new(config).await.unwrap());
    let app = portcullis_example_protected_server::app(rs);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

fn token(keys: &LocalSigner, base: &str, sub: &str, scope: &str) -> String {
    keys.mint(&MintRequest {
        issuer: ISSUER,
        audience: &format!("{base}/mcp"),
        subject: sub,
        client_id: "example",
        scope,
        tenant: None,
        grant_id: None,
        ttl: Duration::from_secs(60),
    })
    .unwrap()
}

async fn call(base: &str, token: Option<&str>, tool: &str, arguments: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let header = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let mut body = response.json::<Value>().await.unwrap_or(json!({}));
    if let Some(header) = header {
        body["www-authenticate"] = header.into();
    }
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_see_the_verified_caller_and_check_their_scope() {
    let dir = tempfile::tempdir().unwrap();
    let keys = LocalSigner::load_or_generate(dir.path()).unwrap();
    let base = start(&keys).await;

    // No token: 401, and the challenge points MCP clients at the metadata.
    let (status, body) = call(&base, None, "list_notes", json!({})).await;
    assert_eq!(status, 401);
    let challenge = body["www-authenticate"].as_str().unwrap();
    assert!(
        challenge.contains("resource_metadata=") && challenge.contains("notes:read"),
        "{challenge}"
    );

    let writer = token(&keys, &base, "alice", "notes:read notes:write");
    let (status, body) = call(&base, Some(&writer), "add_note", json!({"text": "milk"})).await;
    assert_eq!(
        (status, &body["result"]["isError"]),
        (200, &json!(false)),
        "{body}"
    );
    let (_, body) = call(&base, Some(&writer), "list_notes", json!({})).await;
    assert_eq!(body["result"]["content"][0]["text"], "milk", "{body}");

    // Another user sees only their own notes; a read-only token may not write.
    let reader = token(&keys, &base, "bob", "notes:read");
    let (_, body) = call(&base, Some(&reader), "list_notes", json!({})).await;
    assert_eq!(body["result"]["content"][0]["text"], "", "{body}");
    let (_, body) = call(&base, Some(&reader), "add_note", json!({"text": "x"})).await;
    assert_eq!(body["result"]["isError"], true, "{body}");
    assert!(body.to_string().contains("notes:write"), "{body}");
}
