//! Microservice mode (issue 7): `portcullis backend` and `portcullis mcp --backend-url` as
//! separate processes on random ports, over real HTTP.

use crate::support;

use std::{
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use support::{Db, Options, TestApp, TestIssuer, free_port};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN_A: &str = "service-token-a-0123456789abcdefghijklmnop";
const TOKEN_B: &str = "service-token-b-0123456789abcdefghijklmnop";
const INTERNAL_KEY: &str = "internal-key-0123456789abcdefghijklmnopq";

/// A running `portcullis backend`; its users' tokens come from `issuer`.
struct Backend {
    base: String,
    port: u16,
    dir: tempfile::TempDir,
    child: Child,
    issuer: TestIssuer,
    database_url: String,
    log: std::path::PathBuf,
    _db: support::TestDb,
}

impl Backend {
    async fn start(tokens: &str) -> Self {
        Self::start_on(Db::Sqlite, tokens).await
    }

    async fn start_on(db: Db, tokens: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let test_db = support::TestDb::create(db, dir.path()).await;
        let issuer = TestIssuer::new("https://issuer.test");
        std::fs::write(dir.path().join("public.pem"), issuer.public_pem()).unwrap();
        let port = free_port();
        let log = support::log_path(dir.path());
        let child = spawn_backend(dir.path(), port, tokens, &issuer.issuer, &test_db.url, &log);
        let backend = Self {
            base: format!("http://127.0.0.1:{port}"),
            port,
            dir,
            child,
            issuer,
            database_url: test_db.url.clone(),
            log,
            _db: test_db,
        };
        backend.wait_up().await;
        backend
    }

    async fn wait_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("{}/health", self.base)).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "backend did not start:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Restarts on the same port and data with other service tokens.
    async fn restart(&mut self, tokens: &str) {
        self.stop();
        self.child = spawn_backend(
            self.dir.path(),
            self.port,
            tokens,
            &self.issuer.issuer,
            &self.database_url,
            &self.log,
        );
        self.wait_up().await;
    }
}

fn spawn_backend(
    dir: &std::path::Path,
    port: u16,
    tokens: &str,
    issuer: &str,
    database_url: &str,
    log: &std::path::Path,
) -> Child {
    let base = format!("http://127.0.0.1:{port}");
    Command::new(support::binary())
        .args([
            "backend",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--public-url",
            &base,
        ])
        .args(["--data-dir", dir.join("data").to_str().unwrap()])
        .args(["--database-url", database_url])
        .args(["--jwt-public-key", dir.join("public.pem").to_str().unwrap()])
        .args(["--issuer", issuer, "--audience", &base])
        .env("SERVICE_AUTH_TOKEN", tokens)
        .env("INTERNAL_API_KEY", INTERNAL_KEY)
        .env_remove("PORTCULLIS_CONFIG")
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap(),
        )
        .spawn()
        .unwrap()
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `portcullis mcp` calling `backend_url` with `token`.
async fn mcp(backend_url: &str, token: &str, extra: &[&str]) -> TestApp {
    let mut args = vec!["--backend-url".to_owned(), backend_url.to_owned()];
    args.extend(extra.iter().map(|s| s.to_string()));
    TestApp::spawn_with(
        Db::Sqlite,
        Options {
            command: Some("mcp".into()),
            args,
            env: vec![("SERVICE_AUTH_TOKEN".into(), token.into())],
            ..Options::default()
        },
    )
    .await
}

fn error_type(error: &Value) -> &str {
    error["error_type"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_work_end_to_end_and_users_stay_isolated_across_the_hop() {
    let backend = Backend::start(TOKEN_A).await;
    let app = mcp(&backend.base, TOKEN_A, &[]).await;
    let alice = app.client("alice");
    let bob = app.client("bob");

    let workspace = alice
        .ok("create_workspace", json!({ "name": "Home" }))
        .await["workspace"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let task = alice
        .ok(
            "create_task",
            json!({ "title": "Buy milk", "description": "2 litres", "workspace_id": workspace }),
        )
        .await["task"]
        .clone();
    let id = task["id"].as_str().unwrap().to_owned();
    assert_eq!(task["status"], "todo");
    let listed = alice
        .ok("list_tasks", json!({ "workspace_id": workspace }))
        .await;
    assert_eq!(listed["count"], 1);
    assert_eq!(
        alice.ok("get_task", json!({ "task_id": id })).await["task"]["title"],
        "Buy milk"
    );
    let updated = alice
        .ok(
            "update_task",
            json!({ "task_id": id, "status": "in_progress", "description": "" }),
        )
        .await;
    assert_eq!(updated["task"]["status"], "in_progress");
    assert_eq!(updated["task"]["description"], Value::Null);
    let done = alice.ok("complete_task", json!({ "task_id": id })).await;
    assert!(done["task"]["completed_at"].is_string());
    assert_eq!(alice.ok("list_workspaces", json!({})).await["count"], 1);

    // Bob sees nothing of alice's, and cannot touch her task by id.
    assert_eq!(bob.ok("list_tasks", json!({})).await["count"], 0);
    let error = bob.tool_error("get_task", json!({ "task_id": id })).await;
    assert_eq!(error_type(&error), "not_found_error", "{error}");
    let error = bob
        .tool_error("delete_task", json!({ "task_id": id }))
        .await;
    assert_eq!(error_type(&error), "not_found_error");
    // Validation happens before the hop; the backend's own validation comes back as such.
    let error = alice
        .tool_error("create_task", json!({ "title": "" }))
        .await;
    assert_eq!(error_type(&error), "validation_error");

    assert_eq!(
        alice.ok("delete_task", json!({ "task_id": id })).await["deleted"],
        true
    );
    assert_eq!(alice.ok("list_tasks", json!({})).await["count"], 0);

    // Both sides log each call with the same request id.
    let mcp_log = app.stderr();
    let line = mcp_log
        .lines()
        .find(|l| l.contains("backend call") && l.contains("/tasks"))
        .expect("the MCP side logs backend calls");
    let request_id = line
        .split("request_id=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("with a request id")
        .trim_matches('"')
        .to_owned();
    let backend_log = backend.stderr();
    assert!(
        backend_log.lines().any(|l| l.contains("backend request")
            && l.contains(&request_id)
            && l.contains("alice")),
        "the backend logs request {request_id}:\n{backend_log}\nMCP:\n{mcp_log}"
    );
    for secret in [TOKEN_A, INTERNAL_KEY] {
        assert!(
            !mcp_log.contains(secret) && !backend_log.contains(secret),
            "a secret was logged"
        );
    }
}

/// The REST API on its own, on both databases: authentication, idempotency, OpenAPI, the
/// internal users route.
async fn the_backend_checks_service_tokens_and_user_context(db: Db) {
    let backend = Backend::start_on(db, TOKEN_A).await;
    let http = reqwest::Client::new();
    let tasks = format!("{}/tasks", backend.base);
    let status = |r: reqwest::Response| r.status().as_u16();
    // A service token without X-User-ID: 400.
    let r = http.get(&tasks).bearer_auth(TOKEN_A).send().await.unwrap();
    assert_eq!(status(r), 400);
    // A wrong service token, or none, with X-User-ID: 401.
    let r = http
        .get(&tasks)
        .bearer_auth(TOKEN_B)
        .header("X-User-ID", "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "authentication_error");
    let r = http
        .get(&tasks)
        .header("X-User-ID", "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 401);
    // A user's own token works, and cannot be combined with X-User-ID to act for another.
    let alice = backend
        .issuer
        .token("alice", "tasks:read tasks:write", &backend.base);
    let r = http.get(&tasks).bearer_auth(&alice).send().await.unwrap();
    assert_eq!(status(r), 200);
    let r = http
        .get(&tasks)
        .bearer_auth(&alice)
        .header("X-User-ID", "bob")
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 401);
    let reader = backend.issuer.token("carol", "tasks:read", &backend.base);
    let r = http
        .post(&tasks)
        .bearer_auth(&reader)
        .json(&json!({ "title": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );

    // Idempotency-Key: the same write twice is one task; the same key for another body is 422.
    let create = |title: &str| {
        http.post(&tasks)
            .bearer_auth(TOKEN_A)
            .header("X-User-ID", "dave")
            .header("Idempotency-Key", "key-1")
            .json(&json!({ "title": title }))
            .send()
    };
    let first = create("once").await.unwrap();
    assert_eq!(first.status(), 201);
    assert_eq!(first.headers()["idempotent-replayed"], "false");
    let first: Value = first.json().await.unwrap();
    let again = create("once").await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["task"]["id"], again["task"]["id"]);
    assert_eq!(create("other").await.unwrap().status(), 422);
    let list: Value = http
        .get(&tasks)
        .bearer_auth(TOKEN_A)
        .header("X-User-ID", "dave")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["count"], 1);

    // The OpenAPI document and the internal users route.
    let doc: Value = reqwest::get(format!("{}/openapi.json", backend.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/tasks"]["post"].is_object());
    let internal = |id: &str, key: Option<&str>| {
        let request = http.get(format!("{}/api/internal/users/{id}", backend.base));
        match key {
            Some(key) => request.header("X-API-Key", key),
            None => request,
        }
        .send()
    };
    assert_eq!(status(internal("dave", None).await.unwrap()), 401);
    assert_eq!(status(internal("dave", Some(TOKEN_A)).await.unwrap()), 401);
    assert_eq!(
        status(internal("nobody", Some(INTERNAL_KEY)).await.unwrap()),
        404
    );
    let profile: Value = internal("dave", Some(INTERNAL_KEY))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(profile["id"], "dave");
    for field in [
        "email",
        "name",
        "roles",
        "permissions",
        "createdAt",
        "lastLoginAt",
    ] {
        assert!(profile.get(field).is_some(), "{field} missing: {profile}");
    }
}

both_backends!(the_backend_checks_service_tokens_and_user_context);

#[test]
fn short_or_missing_service_tokens_stop_start_up() {
    for (command, token) in [
        ("backend", Some("too-short")),
        ("backend", None),
        ("mcp", Some("short")),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(support::binary());
        cmd.args([command, "--data-dir", dir.path().to_str().unwrap()])
            .args(["--bind", &format!("127.0.0.1:{}", free_port())])
            .args(
                ["--backend-url", "http://127.0.0.1:9"]
                    .iter()
                    .filter(|_| command == "mcp"),
            )
            .env_remove("SERVICE_AUTH_TOKEN")
            .env_remove("PORTCULLIS_CONFIG");
        if let Some(token) = token {
            cmd.env("SERVICE_AUTH_TOKEN", token);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "{command} started with {token:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("SERVICE_AUTH_TOKEN") && stderr.contains("32"),
            "{stderr}"
        );
        if let Some(token) = token {
            assert!(!stderr.contains(token), "the token was echoed: {stderr}");
        }
    }
}

/// Two tokens at once: services move from one to the other without a refused call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_tokens_rotate_without_downtime() {
    let backend = Backend::start(&format!("{TOKEN_A},{TOKEN_B}")).await;
    let old = mcp(&backend.base, TOKEN_A, &[]).await;
    let new = mcp(&backend.base, TOKEN_B, &[]).await;
    old.client("alice")
        .ok("create_task", json!({ "title": "via old" }))
        .await;
    new.client("alice")
        .ok("create_task", json!({ "title": "via new" }))
        .await;
    assert_eq!(
        new.client("alice").ok("list_tasks", json!({})).await["count"],
        2
    );
    // The old token is retired: its holder gets an authentication error, the new one carries on.
    let mut backend = backend;
    backend.restart(TOKEN_B).await;
    let error = old
        .client("alice")
        .tool_error("list_tasks", json!({}))
        .await;
    assert_eq!(error_type(&error), "authentication_error", "{error}");
    assert!(
        error["suggestions"][0]
            .as_str()
            .unwrap()
            .contains("operator")
    );
    assert_eq!(
        new.client("alice").ok("list_tasks", json!({})).await["count"],
        2
    );
    drop(backend);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_backend_is_a_connection_error_within_the_timeout() {
    let mut backend = Backend::start(TOKEN_A).await;
    let app = mcp(&backend.base, TOKEN_A, &["--backend-timeout-secs", "3"]).await;
    let alice = app.client("alice");
    alice.ok("list_tasks", json!({})).await;
    backend.stop();
    let started = Instant::now();
    let error = alice.tool_error("list_tasks", json!({})).await;
    assert_eq!(error_type(&error), "connection_error", "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(error["details"]["request_id"].is_string());
    assert!(!error["suggestions"].as_array().unwrap().is_empty());
}

/// `/ready` of the MCP service reports the backend, and is 503 while it is down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_reports_the_backend() {
    let mut backend = Backend::start(TOKEN_A).await;
    let app = mcp(&backend.base, TOKEN_A, &[]).await;
    let ready = || async {
        let r = reqwest::get(format!("{}/ready", app.base)).await.unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    let (status, body) = ready().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["backend"]["status"], "ok");
    assert_eq!(body["checks"]["database"]["status"], "ok");
    backend.stop();
    let (status, body) = ready().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"]["backend"]["status"], "unreachable");
    assert_eq!(body["checks"]["database"]["status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_backend_is_a_timeout_error() {
    let url = silent_backend().await;
    let app = mcp(&url, TOKEN_A, &["--backend-timeout-secs", "1"]).await;
    let started = Instant::now();
    let error = app
        .client("alice")
        .tool_error("create_task", json!({ "title": "t" }))
        .await;
    let took = started.elapsed();
    assert_eq!(error_type(&error), "timeout_error", "{error}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2500),
        "{took:?}"
    );
}

/// The URL of a server that accepts connections and never answers.
async fn silent_backend() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

/// A proxy in front of the backend that forwards the first request but drops its response,
/// as a network failure would after the backend had done the work.
async fn dropping_proxy(backend_port: u16) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let dropped = Arc::new(AtomicBool::new(false));
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let dropped = dropped.clone();
            tokio::spawn(async move {
                let mut upstream = tokio::net::TcpStream::connect(("127.0.0.1", backend_port))
                    .await
                    .unwrap();
                if !dropped.swap(true, Ordering::SeqCst) {
                    // Forward one request, wait for the backend's answer, then hang up on the
                    // client without passing it on.
                    let mut buf = vec![0u8; 64 * 1024];
                    let n = client.read(&mut buf).await.unwrap();
                    upstream.write_all(&buf[..n]).await.unwrap();
                    let _ = upstream.read(&mut buf).await;
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_retried_after_a_dropped_response_leaves_one_task() {
    let backend = Backend::start(TOKEN_A).await;
    let proxy = dropping_proxy(backend.port).await;
    let app = mcp(&proxy, TOKEN_A, &[]).await;
    let alice = app.client("alice");
    let created = alice
        .ok("create_task", json!({ "title": "exactly once" }))
        .await;
    let listed = alice.ok("list_tasks", json!({})).await;
    assert_eq!(listed["count"], 1, "{listed}");
    assert_eq!(listed["tasks"][0]["id"], created["task"]["id"]);
    assert!(
        backend
            .stderr()
            .contains("replaying the response of an idempotent request"),
        "the retry was answered from the first attempt"
    );
    assert!(
        app.stderr().contains("backend call failed"),
        "the dropped attempt was logged"
    );
}

/// SIGTERM while a call is in flight: the call still gets its answer, then the process exits
/// cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_in_flight_requests() {
    let url = silent_backend().await;
    let mut app = mcp(&url, TOKEN_A, &["--backend-timeout-secs", "2"]).await;
    let alice = app.client("alice");
    let in_flight = tokio::spawn(async move { alice.try_call("list_tasks", json!({})).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let exited_cleanly = tokio::task::spawn_blocking(move || {
        let ok = app.terminate();
        (ok, app)
    });
    let reply = in_flight
        .await
        .unwrap()
        .expect("the in-flight call was answered");
    let result = reply.result();
    assert_eq!(
        result["structuredContent"]["error_type"], "timeout_error",
        "{result}"
    );
    let (ok, app) = exited_cleanly.await.unwrap();
    assert!(ok, "the server did not exit cleanly:\n{}", app.stderr());
    assert!(app.stderr().contains("shutting down"));
}
