//! The baseline for load runs: a bare axum handler that does the same RS256 verification as
//! Portcullis (jsonwebtoken, iss/aud/exp checks) and returns a fixed `tools/call` result.
//! Usage: `bare-mcp BIND PUBLIC_KEY_PEM ISSUER AUDIENCE [RESULT_JSON_FILE]`; with the file, the
//! fixed result is that JSON-RPC `result` (e.g. one captured from Portcullis, so both servers
//! write the same bytes), else an empty task list.

use std::sync::Arc;

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value, json};

// The same allocator as the portcullis binary, so the ratio measures our code, not malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Verifier {
    key: DecodingKey,
    validation: Validation,
    result: Value,
}

async fn mcp(State(v): State<Arc<Verifier>>, headers: HeaderMap, body: Bytes) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "));
    let Some(token) = token else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    if jsonwebtoken::decode::<Map<String, Value>>(token, &v.key, &v.validation).is_err() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let id = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b.get("id").cloned())
        .unwrap_or(Value::Null);
    axum::Json(json!({ "jsonrpc": "2.0", "id": id, "result": v.result })).into_response()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (bind, key, issuer, audience, result_file) = match args.as_slice() {
        [b, k, i, a] => (b, k, i, a, None),
        [b, k, i, a, r] => (b, k, i, a, Some(r)),
        _ => {
            eprintln!("usage: bare-mcp BIND PUBLIC_KEY_PEM ISSUER AUDIENCE [RESULT_JSON_FILE]");
            std::process::exit(2);
        }
    };
    let result = match result_file {
        Some(path) => serde_json::from_slice(&std::fs::read(path).expect("read result file"))
            .expect("result file is JSON"),
        None => json!({
            "content": [{ "type": "text", "text": "{\"count\":0,\"tasks\":[]}" }],
            "structuredContent": { "count": 0, "tasks": [] },
            "isError": false
        }),
    };
    let pem = std::fs::read(key).expect("read public key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    let verifier = Arc::new(Verifier {
        key: DecodingKey::from_rsa_pem(&pem).expect("RSA public key"),
        validation,
        result,
    });
    let app = Router::new().route("/mcp", post(mcp)).with_state(verifier);
    let listener = tokio::net::TcpListener::bind(bind).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
