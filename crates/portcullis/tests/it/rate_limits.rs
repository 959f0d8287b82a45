//! Rate limiting over real HTTP against the real binary (issue 6): budgets per caller and per
//! tool, refill, isolation between callers, budgets shared by two servers through the test
//! Redis, a Redis that stops mid-test, per-address limits, and the metrics.

use crate::support;

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use support::{Db, McpClient, Options, TestApp, free_port, mcp::Reply};

fn redis_url() -> String {
    std::env::var("PORTCULLIS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A key prefix no other test run uses.
fn redis_prefix() -> String {
    format!("portcullis-test:{}:", uuid::Uuid::new_v4().simple())
}

async fn spawn(args: &[&str]) -> TestApp {
    TestApp::spawn_with(
        Db::Sqlite,
        Options {
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Options::default()
        },
    )
    .await
}

/// Asserts a 429 from the limiter and returns its `Retry-After`.
fn assert_limited(reply: &Reply, budget: &str) -> u64 {
    assert_eq!(reply.status, 429, "expected 429, got {}", reply.body);
    let error = &reply.body["error"];
    assert_eq!(error["code"], -32029, "{}", reply.body);
    assert_eq!(reply.body["id"], 1, "the JSON-RPC id is echoed");
    let data = &error["data"];
    assert_eq!(data["error_type"], "rate_limited");
    assert_eq!(data["budget"], budget);
    assert!(
        data["suggestions"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
    );
    let retry: u64 = reply
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert_eq!(data["retry_after_seconds"], retry);
    retry
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_over_the_limit_gets_429_with_retry_after_then_refills() {
    // One call per second on average, three at once.
    let app = spawn(&["--rate-limit", "60/min", "--rate-limit-burst", "3"]).await;
    let alice = app.client("alice");
    for left in [2, 1, 0] {
        let reply = alice.call("list_tasks", json!({})).await;
        reply.result();
        assert_eq!(reply.header("ratelimit-policy"), Some("\"user\";q=60;w=60"));
        let limit = reply.header("ratelimit").unwrap();
        assert!(
            limit.starts_with(&format!("\"user\";r={left};t=")),
            "{limit}"
        );
    }
    let refused = alice.call("list_tasks", json!({})).await;
    assert_eq!(
        assert_limited(&refused, "user"),
        1,
        "the next slot is a second away"
    );
    assert_eq!(refused.header("ratelimit"), Some("\"user\";r=0;t=1"));
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("60/min (burst 3)")
    );

    // Refill at the configured rate: after Retry-After one call fits, and only one.
    tokio::time::sleep(Duration::from_millis(1050)).await;
    alice.call("list_tasks", json!({})).await.result();
    assert_limited(&alice.call("list_tasks", json!({})).await, "user");

    // Protocol traffic that touches no data is not counted.
    alice.request("tools/list", json!({}), None).await.result();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_do_not_share_budgets() {
    let app = spawn(&["--rate-limit", "1/min", "--rate-limit-burst", "2"]).await;
    let key = {
        let (ok, out, err) = app.cli(
            &[
                "apikey",
                "create",
                "--name",
                "bot",
                "--scopes",
                "tasks:read",
            ],
            None,
        );
        assert!(ok, "{err}");
        out.trim().to_owned()
    };
    let alice = app.client("alice");
    for _ in 0..2 {
        alice.call("list_tasks", json!({})).await.result();
    }
    assert_limited(&alice.call("list_tasks", json!({})).await, "user");
    // Bob, a different tenant's alice, and an API key each have their own budget.
    app.client("bob")
        .call("list_tasks", json!({}))
        .await
        .result();
    let mut claims = app.issuer.claims("alice", "tasks:read", &app.mcp_url());
    claims["org_id"] = json!("globex");
    let other_alice = McpClient::new(app.mcp_url(), app.issuer.sign(&claims));
    other_alice.call("list_tasks", json!({})).await.result();
    let bot = McpClient::with_api_key(app.mcp_url(), &key);
    bot.call("list_tasks", json!({})).await.result();
    bot.call("list_tasks", json!({})).await.result();
    assert_limited(&bot.call("list_tasks", json!({})).await, "api_key");
    // Once known to be over budget, the key is refused before it is even looked up.
    let again = bot.call("list_tasks", json!({})).await;
    assert_eq!(again.status, 429);
    assert_eq!(again.body["error"]["data"]["budget"], "api_key");
}

/// A refused call runs no tool and writes no audit row: it never reaches the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_calls_never_reach_the_database() {
    let app = spawn(&["--rate-limit", "1/min", "--rate-limit-burst", "2"]).await;
    let alice = app.client("alice");
    let mut created = 0;
    for i in 0..6 {
        let reply = alice
            .call("create_task", json!({ "title": format!("t{i}") }))
            .await;
        match reply.status {
            200 => created += 1,
            _ => {
                assert_limited(&reply, "user");
            }
        }
    }
    assert_eq!(created, 2);
    // The tasks table, read directly: only the allowed calls wrote.
    let db = app.database_url.trim_start_matches("sqlite://");
    let count: i64 = rusqlite::Connection::open(db)
        .unwrap()
        .query_row("SELECT count(*) FROM tasks", [], |row| row.get(0))
        .unwrap();
    assert_eq!(count, 2);
    // Two allowed tool calls in the audit trail, no refusals: a later marker call shows the
    // writer has stored everything before it.
    alice.request("tools/list", json!({}), None).await.result();
    let events = app
        .audit_when(&["--limit", "100"], |e| {
            e.iter().any(|e| e["action"] == "tools/list")
        })
        .await;
    let creates: Vec<_> = events
        .iter()
        .filter(|e| e["tool"] == "create_task")
        .collect();
    assert_eq!(creates.len(), 2, "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_can_have_its_own_budget() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("portcullis.toml");
    std::fs::write(
        &config,
        "rate_limit = \"100/min\"\n\
         [rate_limits.tools.create_task]\nrate = \"1/h\"\nburst = 1\n\
         [rate_limits.tools.tasks_read]\nrate = \"off\"\n",
    )
    .unwrap();
    let app = spawn(&["--config", config.to_str().unwrap()]).await;
    let alice = app.client("alice");
    let first = alice.call("create_task", json!({ "title": "one" })).await;
    first.result();
    assert_eq!(
        first.header("ratelimit-policy"),
        Some("\"user.create_task\";q=1;w=3600")
    );
    let second = alice.call("create_task", json!({ "title": "two" })).await;
    assert!(assert_limited(&second, "user.create_task") > 3500);
    // Other writes draw on the default budget; reads are not limited at all.
    alice
        .call("create_workspace", json!({ "name": "w" }))
        .await
        .result();
    let read = alice.call("list_tasks", json!({})).await;
    read.result();
    assert_eq!(read.header("ratelimit"), None);
}

/// Two servers (two replicas) sharing the test Redis enforce one combined budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_sharing_redis_enforce_one_limit() {
    let prefix = redis_prefix();
    let url = redis_url();
    let shared = [
        "--rate-limit",
        "1/h",
        "--rate-limit-burst",
        "4",
        "--redis-url",
        &url,
        "--redis-prefix",
        &prefix,
        "--redis-failure-mode",
        "closed",
    ];
    let a = spawn(&shared).await;
    let b = second_replica(&a, &shared).await;
    let token = a.token("alice", "tasks:read tasks:write");
    let on_a = McpClient::new(a.mcp_url(), token.clone());
    let on_b = McpClient::new(b.mcp_url(), token);
    let mut allowed = 0;
    for i in 0..8 {
        let client = if i % 2 == 0 { &on_a } else { &on_b };
        let reply = client.call("list_tasks", json!({})).await;
        if reply.status == 200 {
            allowed += 1;
        } else {
            assert_limited(&reply, "user");
        }
    }
    assert_eq!(allowed, 4, "the burst of 4 is shared by both servers");
    // bob's budget is his own, on either server.
    let bob = McpClient::new(b.mcp_url(), a.token("bob", "tasks:read"));
    bob.call("list_tasks", json!({})).await.result();
}

/// A server accepting the same tokens as `first` (its key, issuer and audience).
async fn second_replica(first: &TestApp, args: &[&str]) -> TestApp {
    let mut all: Vec<String> = vec![
        "--jwt-public-key".into(),
        first.dir.path().join("public.pem").display().to_string(),
        "--issuer".into(),
        first.issuer.issuer.clone(),
        "--audience".into(),
        first.mcp_url(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    TestApp::spawn_with(
        Db::Sqlite,
        Options {
            args: all,
            no_key_args: true,
            ..Options::default()
        },
    )
    .await
}

/// A private Redis on a free port, so this test can stop it without disturbing others.
struct PrivateRedis {
    child: Child,
    url: String,
}

impl PrivateRedis {
    async fn start() -> Self {
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is needed for this test");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "private redis did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Redis stops mid-test: each failure mode does what it says, within the timeout, and none
/// hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_mid_test_takes_the_configured_path() {
    let mut redis = PrivateRedis::start().await;
    let prefix = redis_prefix();
    let args = |mode: &'static str| {
        vec![
            "--rate-limit".to_owned(),
            "1/h".into(),
            "--rate-limit-burst".into(),
            "2".into(),
            "--redis-url".into(),
            redis.url.clone(),
            "--redis-prefix".into(),
            format!("{prefix}{mode}:"),
            "--redis-timeout-ms".into(),
            "100".into(),
            "--redis-failure-mode".into(),
            mode.into(),
        ]
    };
    let mut servers = Vec::new();
    for mode in ["closed", "open", "local"] {
        let args = args(mode);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        servers.push((mode, spawn(&refs).await));
    }
    // While Redis runs, every server limits through it.
    for (_, app) in &servers {
        let alice = app.client("alice");
        for _ in 0..2 {
            alice.call("list_tasks", json!({})).await.result();
        }
        assert_limited(&alice.call("list_tasks", json!({})).await, "user");
    }
    redis.stop();
    for (mode, app) in &servers {
        let carol = app.client("carol");
        let started = Instant::now();
        let outcomes: Vec<Reply> = {
            let mut v = Vec::new();
            for _ in 0..3 {
                v.push(carol.call("list_tasks", json!({})).await);
            }
            v
        };
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{mode}: three calls took {:?}",
            started.elapsed()
        );
        let statuses: Vec<u16> = outcomes.iter().map(|r| r.status).collect();
        match *mode {
            "closed" => {
                assert_eq!(statuses, [503, 503, 503], "{mode}");
                let data = &outcomes[0].body["error"]["data"];
                assert_eq!(data["error_type"], "rate_limiter_unavailable");
                assert!(outcomes[0].header("retry-after").is_some());
            }
            "open" => assert_eq!(statuses, [200, 200, 200], "{mode}"),
            // Each replica enforces the budget itself: carol's burst of 2, then refused.
            _ => {
                assert_eq!(statuses, [200, 200, 429], "{mode}");
            }
        }
        assert!(
            app.stderr().contains("Redis is not answering"),
            "{mode}: the operator is told"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_are_limited_on_the_token_endpoint_and_failed_authentication() {
    let metrics_port = free_port();
    let metrics = format!("127.0.0.1:{metrics_port}");
    // The built-in authorization server (no external issuer), three requests per address.
    let app = TestApp::spawn_with(
        Db::Sqlite,
        Options {
            args: [
                "--ip-rate-limit",
                "3/h",
                "--ip-rate-limit-burst",
                "3",
                "--metrics-bind",
                &metrics,
            ]
            .map(String::from)
            .to_vec(),
            no_key_args: true,
            ..Options::default()
        },
    )
    .await;
    let token_url = format!("{}/token", app.base);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = app
            .http
            .post(&token_url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "nobody"),
            ])
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert!(r.headers().get("retry-after").is_some());
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"], "temporarily_unavailable");
        }
    }
    assert_eq!(&statuses[3..], [429], "{statuses:?}");
    assert!(statuses[..3].iter().all(|s| *s != 429), "{statuses:?}");

    // Failed authentications on /mcp draw on the same per-address budget, which is spent:
    // refused with 429 and not written to the audit trail. Valid tokens are unaffected.
    let bad = McpClient::new(app.mcp_url(), "not-a-token".into());
    let reply = bad.call("list_tasks", json!({})).await;
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert_eq!(reply.body["error"]["data"]["budget"], "ip");
    let (ok, token, err) = app.cli(&["token", "mint", "--sub", "alice"], None);
    assert!(ok, "{err}");
    McpClient::new(app.mcp_url(), token.trim().to_owned())
        .call("list_tasks", json!({}))
        .await
        .result();
    // Once alice's later call is stored, everything before it is: no refusal among them.
    let events = app
        .audit_when(&["--limit", "100"], |e| {
            e.iter().any(|e| e["subject"] == "alice")
        })
        .await;
    let denied: Vec<_> = events
        .iter()
        .filter(|e| e["decision"] == "denied")
        .collect();
    assert!(denied.is_empty(), "{denied:?}");

    // The counts per key class, in the Prometheus text format.
    let (text, samples) = support::metrics::scrape(&metrics).await;
    let decisions = |class, outcome| {
        support::metrics::value(
            &samples,
            "portcullis_rate_limit_decisions_total",
            &[("class", class), ("outcome", outcome)],
        )
    };
    assert_eq!(decisions("ip", "limited"), 2.0, "{text}");
    assert_eq!(decisions("ip", "allowed"), 3.0);
    assert_eq!(decisions("user", "allowed"), 1.0);
}

#[test]
fn bad_rate_limit_settings_stop_start_up_with_one_line() {
    for (args, names) in [
        (vec!["--rate-limit", "100/fortnight"], "rate_limit"),
        (vec!["--rate-limit-burst", "0"], "rate_limit"),
        (vec!["--redis-url", "http://localhost"], "redis_url"),
        (
            vec![
                "--redis-url",
                "redis://127.0.0.1",
                "--redis-failure-mode",
                "maybe",
            ],
            "redis_failure_mode",
        ),
        (vec!["--metrics-bind", "nowhere"], "metrics_bind"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(support::binary())
            .args([
                "serve",
                "--data-dir",
                dir.path().to_str().unwrap(),
                "--bind",
            ])
            .arg(format!("127.0.0.1:{}", free_port()))
            .args(&args)
            .env_remove("PORTCULLIS_CONFIG")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} started");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = stderr.trim();
        assert_eq!(line.lines().count(), 1, "{args:?}: {stderr}");
        assert!(line.contains(&format!("`{names}`")), "{args:?}: {line}");
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        "[rate_limits.tools.launch_rockets]\nrate = \"1/s\"\n",
    )
    .unwrap();
    let out = Command::new(support::binary())
        .args([
            "serve",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--config",
        ])
        .arg(&config)
        .env_remove("PORTCULLIS_CONFIG")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("rate_limits.tools.launch_rockets"));
}

/// `/ready` reports a shared Redis: required (503 when down) only when calls are refused
/// without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_reports_redis_as_the_failure_mode_requires() {
    let dead = format!("redis://127.0.0.1:{}", support::free_port());
    for (mode, status, required) in [("closed", 503, true), ("local", 200, false)] {
        let app = TestApp::spawn_with(
            Db::Sqlite,
            Options {
                args: ["--redis-url", &dead, "--redis-failure-mode", mode]
                    .map(String::from)
                    .to_vec(),
                ..Options::default()
            },
        )
        .await;
        let r = reqwest::get(format!("{}/ready", app.base)).await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{mode}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["checks"]["redis"]["status"], "unreachable", "{body}");
        assert_eq!(body["checks"]["redis"]["required"], required, "{body}");
    }
    let live = TestApp::spawn_with(
        Db::Sqlite,
        Options {
            args: vec!["--redis-url".into(), redis_url()],
            ..Options::default()
        },
    )
    .await;
    let body: Value = reqwest::get(format!("{}/ready", live.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["checks"]["redis"]["status"], "ok", "{body}");
}
