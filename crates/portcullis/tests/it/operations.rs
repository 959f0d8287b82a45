//! Operating Portcullis (issue 8): `config check`, `.env`, secrets from files, request ids and
//! the access log, and `/metrics` read by a Prometheus text-format parser.

use crate::support;

use std::{collections::HashMap, process::Command};

use serde_json::{Value, json};
use support::{Db, McpClient, Options, TestApp, free_port};

fn portcullis(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(support::binary())
        .args(args)
        .current_dir(dir)
        .env_remove("PORTCULLIS_CONFIG")
        .env_remove("PORTCULLIS_RATE_LIMIT")
        .env_remove("SERVICE_AUTH_TOKEN")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn config_check_prints_the_effective_configuration_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let token = "tok-0123456789abcdef0123456789abcdef";
    std::fs::write(
        dir.path().join("portcullis.toml"),
        format!(
            "database_url = \"postgres://app:hunter2@db.internal/portcullis\"\n\
             redis_url = \"redis://:redispass@127.0.0.1:6379/0\"\n\
             service_auth_token = \"{token}\"\n\
             backend_url = \"http://127.0.0.1:8081\"\n\
             [rate_limits.tools.create_task]\nrate = \"10/min\"\n"
        ),
    )
    .unwrap();
    // .env supplies a variable (the real environment would win over it).
    std::fs::write(dir.path().join(".env"), "PORTCULLIS_RATE_LIMIT=5/min\n").unwrap();
    let data = dir.path().join("data");
    let (ok, stdout, stderr) = portcullis(
        dir.path(),
        &[
            "config",
            "check",
            "--config",
            "portcullis.toml",
            "--data-dir",
            data.to_str().unwrap(),
        ],
    );
    assert!(ok, "{stderr}");
    let parsed: toml::Table = stdout.parse().expect("the output is TOML");
    // Settings holding a secret are comments saying they are set: the file stays valid.
    assert!(parsed.get("database_url").is_none(), "{stdout}");
    assert!(
        stdout.contains("# database_url = \"postgres://app:********@db.internal/portcullis\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("# redis_url = \"redis://:********@127.0.0.1:6379/0\""),
        "{stdout}"
    );
    assert!(parsed.get("service_auth_token").is_none());
    assert!(
        stdout.contains("# service_auth_token = \"********\""),
        "{stdout}"
    );
    assert_eq!(parsed["rate_limit"].as_str(), Some("5/min"), "from .env");
    assert_eq!(parsed["rate_limit_burst"].as_integer(), Some(20));
    assert_eq!(
        parsed["rate_limits"]["tools"]["create_task"]["rate"].as_str(),
        Some("10/min")
    );
    assert_eq!(parsed["access_log"].as_bool(), Some(false));
    for secret in ["hunter2", "redispass", token] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} was printed"
        );
    }

    // Bad values: exit 1 and one line naming the setting.
    for (args, key) in [
        (vec!["--rate-limit", "lots"], "rate_limit"),
        (vec!["--bind", "nowhere"], "bind"),
        (vec!["--backend-url", "ftp://x"], "backend_url"),
        (
            vec!["--backend-url", "http://x", "--service-auth-token", "short"],
            "service_auth_token",
        ),
    ] {
        let mut all = vec!["config", "check", "--data-dir", data.to_str().unwrap()];
        all.extend(args.iter());
        let (ok, stdout, stderr) = portcullis(dir.path(), &all);
        assert!(!ok, "{args:?} passed");
        assert!(stdout.is_empty(), "{stdout}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(&format!("`{key}`")), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("short\""),
            "the secret was echoed: {stderr}"
        );
    }
}

/// `config check` prints a configuration file that reads back as the same configuration, and
/// `--connect` reaches what it names.
#[test]
fn config_check_round_trips_and_connects() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        dir.path().join("in.toml"),
        "public_url = \"https://mcp.example.com\"\nrate_limit = \"50/10s\"\nrate_limit_burst = 7\n\
         allowed_redirect_schemes = [\"vscode\"]\n\
         [policy.tools.admin]\nmethods = [\"oauth\", \"api_key\"]\n\
         [rate_limits.tools.tasks_write]\nrate = \"10/min\"\nburst = 2\n",
    )
    .unwrap();
    let check = |file: &str, extra: &[&str]| {
        let mut args = vec![
            "config",
            "check",
            "--config",
            file,
            "--data-dir",
            data.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        portcullis(dir.path(), &args)
    };
    let (ok, first, err) = check("in.toml", &[]);
    assert!(ok, "{err}");
    std::fs::write(dir.path().join("out.toml"), &first).unwrap();
    let (ok, second, err) = check("out.toml", &[]);
    assert!(
        ok,
        "the printed configuration does not read back: {err}\n{first}"
    );
    assert_eq!(first, second);
    let parsed: toml::Table = first.parse().unwrap();
    assert_eq!(
        parsed["policy"]["tools"]["admin"]["methods"][0].as_str(),
        Some("oauth")
    );

    // --connect: the database answers; a Redis nobody runs does not, and says so.
    let (ok, _, err) = check("out.toml", &["--connect"]);
    assert!(ok, "{err}");
    assert!(err.contains("database: ok"), "{err}");
    let dead = format!("redis://127.0.0.1:{}", support::free_port());
    let (ok, _, err) = check("out.toml", &["--connect", "--redis-url", &dead]);
    assert!(!ok);
    assert!(err.contains("redis: FAILED"), "{err}");

    // Settings that live only in the file are named as file tables, not as made-up flags.
    std::fs::write(
        dir.path().join("bad.toml"),
        "[policy.tools.nope]\nscopes = [\"x\"]\n",
    )
    .unwrap();
    let (ok, _, err) = check("bad.toml", &[]);
    assert!(!ok);
    assert!(
        err.contains("`[policy]` in the configuration file"),
        "{err}"
    );
    assert!(!err.contains("--policy"), "{err}");
}

#[test]
fn secrets_can_come_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let token = "file-token-0123456789abcdef0123456789";
    std::fs::write(dir.path().join("token"), format!("{token}\n")).unwrap();
    let data = dir.path().join("data");
    let check = |file: &str| {
        portcullis(
            dir.path(),
            &[
                "config",
                "check",
                "--data-dir",
                data.to_str().unwrap(),
                "--backend-url",
                "http://127.0.0.1:8081",
                "--service-auth-token-file",
                file,
            ],
        )
    };
    let (ok, stdout, stderr) = check("token");
    assert!(ok, "{stderr}");
    assert!(stdout.contains("service_auth_token = \"********\"") && !stdout.contains(token));
    let (ok, _, stderr) = check("missing");
    assert!(!ok && stderr.contains("`service_auth_token`") && stderr.contains("cannot read"));
}

/// Each log line of a request carries its id (the caller's `X-Request-ID`, echoed back), and
/// `--access-log` adds one line per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_and_the_access_log() {
    let app = TestApp::spawn_with(
        Db::Sqlite,
        Options {
            args: ["--access-log", "--log-format", "json"]
                .map(String::from)
                .to_vec(),
            ..Options::default()
        },
    )
    .await;
    let client = app.client("alice").header("X-Request-ID", "req-test-42");
    let reply = client.call("list_tasks", json!({})).await;
    reply.result();
    assert_eq!(reply.header("x-request-id"), Some("req-test-42"));
    let generated = app.client("bob").call("list_tasks", json!({})).await;
    let generated_id = generated
        .header("x-request-id")
        .expect("an id is generated")
        .to_owned();
    assert_eq!(generated_id.len(), 36, "a UUID: {generated_id}");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let lines: Vec<Value> = app
        .stderr()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access = |id: &str| {
        lines
            .iter()
            .find(|l| l["fields"]["message"] == "request" && l["span"]["request_id"] == id)
    };
    let line = access("req-test-42").expect("an access-log line for the request");
    assert_eq!(line["fields"]["endpoint"], "/mcp");
    assert_eq!(line["fields"]["status"], 200);
    assert_eq!(line["fields"]["user"], "alice");
    assert_eq!(line["fields"]["via"], "oauth");
    assert!(access(&generated_id).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_on_their_own_address_in_the_prometheus_format() {
    let metrics = format!("127.0.0.1:{}", free_port());
    let app = TestApp::spawn_with(
        Db::Sqlite,
        Options {
            args: vec!["--metrics-bind".into(), metrics.clone()],
            ..Options::default()
        },
    )
    .await;
    let alice = app.client("alice");
    alice.ok("create_task", json!({ "title": "t" })).await;
    alice.ok("list_tasks", json!({})).await;
    let reader = McpClient::new(app.mcp_url(), app.token("carol", "tasks:read"));
    assert_eq!(
        reader
            .call("create_task", json!({ "title": "x" }))
            .await
            .status,
        403
    );
    let anonymous = McpClient::new(app.mcp_url(), "bad-token".into());
    assert_eq!(anonymous.call("list_tasks", json!({})).await.status, 401);
    // Not on the public listener.
    let public = reqwest::get(format!("{}/metrics", app.base)).await.unwrap();
    assert_ne!(public.status(), 200);

    let (text, s) = support::metrics::scrape(&metrics).await;
    let requests = |status| {
        support::metrics::value(
            &s,
            "portcullis_http_requests_total",
            &[("route", "/mcp"), ("method", "POST"), ("status", status)],
        )
    };
    assert_eq!(requests("200"), 2.0, "{text}");
    assert_eq!(requests("403"), 1.0);
    assert_eq!(requests("401"), 1.0);
    let tool = |tool, status| {
        support::metrics::value(
            &s,
            "portcullis_tool_calls_total",
            &[("tool", tool), ("status", status)],
        )
    };
    assert_eq!(tool("create_task", "200"), 1.0);
    assert_eq!(tool("create_task", "403"), 1.0);
    let auth = |method, result| {
        support::metrics::value(
            &s,
            "portcullis_auth_decisions_total",
            &[("method", method), ("result", result)],
        )
    };
    assert_eq!(auth("oauth", "authenticated"), 3.0);
    assert_eq!(auth("oauth", "denied"), 1.0);
    assert_eq!(auth("oauth", "rejected"), 1.0, "{text}");
    assert!(
        support::metrics::value(&s, "portcullis_db_pool_connections", &[("state", "total")]) >= 1.0
    );
    assert_eq!(
        support::metrics::value(
            &s,
            "portcullis_rate_limit_decisions_total",
            &[("class", "user"), ("outcome", "allowed")]
        ),
        3.0
    );
    // The latency histogram: its count matches the requests, buckets are cumulative.
    let histogram: HashMap<String, f64> = s
        .iter()
        .filter(|x| x.metric == "portcullis_http_request_duration_seconds")
        .filter(|x| x.labels.get("route") == Some("/mcp"))
        .filter_map(|x| match &x.value {
            prometheus_parse::Value::Histogram(buckets) => Some(
                buckets
                    .iter()
                    .map(|b| (b.less_than.to_string(), b.count))
                    .collect::<HashMap<_, _>>(),
            ),
            _ => None,
        })
        .next()
        .expect("a histogram for /mcp");
    assert_eq!(histogram["inf"], 4.0, "{histogram:?}");
}

/// Browser MCP clients at an allowed origin: preflight without credentials, CORS headers on
/// answers (the OAuth challenge readable), other origins refused; metadata readable anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_for_allowed_browser_origins() {
    let app = TestApp::spawn_with(
        Db::Sqlite,
        Options {
            args: vec!["--allowed-origins".into(), "https://app.example".into()],
            ..Options::default()
        },
    )
    .await;
    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, app.mcp_url())
        .header("Origin", "https://app.example")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type, mcp-protocol-version",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    assert!(
        h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );

    let anonymous =
        McpClient::new(app.mcp_url(), String::new()).header("Origin", "https://app.example");
    let reply = anonymous.call("list_tasks", json!({})).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert!(
        reply
            .header("access-control-expose-headers")
            .unwrap()
            .contains("www-authenticate")
    );

    let other = McpClient::new(app.mcp_url(), app.token("alice", "tasks:read"))
        .header("Origin", "https://evil.example");
    assert_eq!(other.call("list_tasks", json!({})).await.status, 403);

    let metadata = app
        .http
        .get(format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            app.base
        ))
        .header("Origin", "https://anywhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(metadata.headers()["access-control-allow-origin"], "*");
    // A browser's preflight for the metadata: any origin, the headers MCP clients send.
    let preflight = app
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/.well-known/oauth-protected-resource/mcp", app.base),
        )
        .header("Origin", "https://anywhere.example")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "mcp-protocol-version")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    assert!(
        h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("mcp-protocol-version")
    );
    assert_eq!(h["access-control-max-age"], "600");
}

/// `--tls-cert`/`--tls-key`: the server speaks HTTPS itself, with an https public URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_a_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        // A leaf, not a CA: certificate verifiers refuse a CA certificate as a server's.
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl makes the test certificate");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let port = free_port();
    let data = dir.path().join("data");
    // Killed when the test ends, passed or not.
    struct Server(std::process::Child);
    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Server(
        Command::new(support::binary())
            .args([
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(&data)
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .args(["--header-read-timeout-secs", "1"])
            .env_remove("PORTCULLIS_CONFIG")
            .stderr(std::fs::File::create(support::log_path(dir.path())).unwrap())
            .spawn()
            .unwrap(),
    );
    let trusted = reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    let https = reqwest::Client::builder()
        .add_root_certificate(trusted)
        .build()
        .unwrap();
    let base = format!("https://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while let Err(error) = https.get(format!("{base}/health")).send().await {
        assert!(
            std::time::Instant::now() < deadline,
            "no HTTPS answer: {error:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The metadata advertises the https resource, and an MCP call works over TLS.
    let prm: Value = https
        .get(format!("{base}/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm["resource"], format!("{base}/mcp"));
    let out = Command::new(support::binary())
        .args(["token", "mint", "--sub", "alice", "--data-dir"])
        .arg(&data)
        .args(["--public-url", &base])
        .output()
        .unwrap();
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let mut client = McpClient::new(format!("{base}/mcp"), token);
    client.http = https;
    client.ok("list_tasks", json!({})).await;
    // A client that never starts its handshake is cut off by the header-read timeout.
    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut silent, &mut buf),
    )
    .await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_)))
            && started.elapsed() < std::time::Duration::from_secs(3),
        "a silent TLS client held its connection for {:?}",
        started.elapsed()
    );
    // Plain HTTP on the TLS port gets no answer.
    assert!(
        reqwest::get(format!("http://127.0.0.1:{port}/health"))
            .await
            .is_err()
    );
}
