//! The outside security review's findings (issue 15), one test each, against the real binary.
//! Every test here failed on the code the review read; the item number is in the test's name.

use crate::support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{
    Db, McpClient, Options, Shared, TestApp,
    oauth::{Browser, PASSWORD, hidden, pkce},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn field(out: &str, name: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in {out}"))
        .to_owned()
}

/// `portcullis client add ARGS`; returns (client_id, client_secret if any).
fn add_client(app: &TestApp, args: &[&str]) -> (String, Option<String>) {
    let mut full = vec!["client", "add"];
    full.extend_from_slice(args);
    let (ok, out, err) = app.cli(&full, None);
    assert!(ok, "{err}");
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .map(str::to_owned);
    (field(&out, "client_id"), secret)
}

async fn register(app: &TestApp, body: Value) -> (StatusCode, Value) {
    let r = app
        .http
        .post(format!("{}/register", app.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

/// Audit events matching `args`, polled until `done` holds (the writer batches).
async fn audit_until(app: &TestApp, args: &[&str], done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut full = vec!["audit", "--json", "--limit", "1000"];
        full.extend_from_slice(args);
        let (ok, out, err) = app.cli(&full, None);
        assert!(ok, "{err}");
        let events: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if done(&events) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "audit never showed it: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Writes `text` as the server's configuration file and returns its path.
fn config_file(app_dir: &std::path::Path, text: &str) -> String {
    let path = app_dir.join("portcullis.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Item 1: Nobody gets a token without a user except clients the operator registered, with the
/// scopes the operator granted, as a service identity the default policy refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i01_no_anonymous_client_credentials_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(
        dir.path(),
        "[policy.tools.list_workspaces]\nmethods = [\"oauth\", \"api_key\", \"client_credentials\"]\n",
    );
    let app = TestApp::spawn_builtin(Db::Sqlite, &["--config", &config]).await;

    // The review's path: self-register with client_credentials.
    let (status, body) = register(
        &app,
        json!({"client_name": "x", "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_client_metadata");
    // A self-registered confidential client may not use the grant either.
    let (status, body) = register(
        &app,
        json!({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "client_secret_basic"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (id, secret) = (
        body["client_id"].as_str().unwrap().to_owned(),
        body["client_secret"].as_str().unwrap().to_owned(),
    );
    let (status, body, _) = app
        .token_request(
            &[("grant_type", "client_credentials")],
            Some((&id, &secret)),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unauthorized_client");

    // An operator's client without granted scopes gets none.
    let (bare, bare_secret) = add_client(&app, &["Bare", "--confidential"]);
    let (_, body, _) = app
        .token_request(
            &[("grant_type", "client_credentials")],
            Some((&bare, bare_secret.as_deref().unwrap())),
        )
        .await;
    assert_eq!(body["error"], "invalid_scope", "{body}");

    // With granted scopes it gets exactly those, as a service identity.
    let (svc, svc_secret) = add_client(&app, &["Sync", "--confidential", "--scopes", "tasks:read"]);
    let svc_secret = svc_secret.unwrap();
    let (_, body, _) = app
        .token_request(
            &[
                ("grant_type", "client_credentials"),
                ("scope", "tasks:read tasks:write"),
            ],
            Some((&svc, &svc_secret)),
        )
        .await;
    assert_eq!(body["error"], "invalid_scope", "{body}");
    let (status, body, _) = app
        .token_request(
            &[("grant_type", "client_credentials")],
            Some((&svc, &svc_secret)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "tasks:read");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let client = McpClient::new(app.mcp_url(), token);
    // No user data by default …
    let refused = client.call("list_tasks", json!({})).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    // … only what a tool's policy names it for.
    client.ok("list_workspaces", json!({})).await;
    let events = audit_until(&app, &["--tool", "list_tasks"], |e| !e.is_empty()).await;
    assert_eq!(events[0]["method"], "client_credentials", "{events:?}");
    assert_eq!(events[0]["decision"], "denied");
}

/// Item 2: Introspection answers only about the caller's own tokens, unless the operator marked
/// the caller `introspection = true`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i02_introspection_is_for_the_tokens_client_or_an_operator_marked_one() {
    let app = TestApp::spawn_builtin(Db::Sqlite, &[]).await;
    let victim = app.register_public_client().await;
    let (params, verifier) = app.authorize(&victim, "alice", "tasks:read").await;
    let (_, tokens) = app.exchange(&victim, &params["code"], &verifier).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    let introspect = |token: String, id: String, secret: String| {
        let (http, url) = (app.http.clone(), format!("{}/introspect", app.base));
        async move {
            let r = http
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.unwrap()
        }
    };
    // A self-registered confidential client learns nothing about others' tokens.
    let (_, body) = register(
        &app,
        json!({"redirect_uris": ["https://probe.example/cb"], "token_endpoint_auth_method": "client_secret_basic"}),
    )
    .await;
    let (probe, probe_secret) = (
        body["client_id"].as_str().unwrap().to_owned(),
        body["client_secret"].as_str().unwrap().to_owned(),
    );
    for token in [&access, &refresh] {
        let info = introspect(token.clone(), probe.clone(), probe_secret.clone()).await;
        assert_eq!(info, json!({"active": false}));
    }
    // A resource server the operator marked may.
    let (rs, rs_secret) = add_client(
        &app,
        &["Resource server", "--confidential", "--introspection"],
    );
    let rs_secret = rs_secret.unwrap();
    for token in [&access, &refresh] {
        let info = introspect(token.clone(), rs.clone(), rs_secret.clone()).await;
        assert_eq!(info["active"], true, "{info}");
        assert_eq!(info["client_id"], victim.client_id.as_str());
    }
}

/// Posts the login form of `page` with the cookies of `browser`.
async fn post_login(
    app: &TestApp,
    browser: &Browser,
    page: &str,
    user: &str,
    pw: &str,
) -> StatusCode {
    let form = [
        ("request", hidden(page, "request").unwrap()),
        ("csrf", hidden(page, "csrf").unwrap()),
        ("username", user.to_owned()),
        ("password", pw.to_owned()),
    ];
    browser
        .http
        .post(format!("{}/authorize/login", app.base))
        .header("cookie", browser.cookie_header())
        .form(&form)
        .send()
        .await
        .unwrap()
        .status()
}

/// A login page for a fresh browser.
async fn login_page(app: &TestApp) -> (Browser, String) {
    let client = app.register_public_client().await;
    let (_, challenge) = pkce();
    let mut browser = Browser::new();
    let (status, _, page) = browser
        .get(&app.authorize_url(&client, &challenge, "tasks:read", "st"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    (browser, page)
}

/// Item 3: Twenty wrong passwords at once: at most the limit are checked, and the lock holds for
/// the right one afterwards. On both databases.
async fn i03_lockout_holds_under_concurrency(db: Db) {
    let app = TestApp::spawn_builtin(db, &[]).await;
    let (browser, page) = login_page(&app).await;
    let attempts = (0..20).map(|_| post_login(&app, &browser, &page, "alice", "wrong password!"));
    let statuses = futures::future::join_all(attempts).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let locked = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(checked + locked, 20, "{statuses:?}");
    assert!(
        checked <= 5,
        "{checked} passwords were checked: {statuses:?}"
    );
    let right = post_login(&app, &browser, &page, "alice", PASSWORD).await;
    assert_eq!(right, StatusCode::TOO_MANY_REQUESTS);
}

both_backends!(i03_lockout_holds_under_concurrency);

/// Item 4: The lockout reads the same for a name with and without an account, and is kept per
/// network: a remote attacker locks only their own address out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i04_lockout_reveals_no_accounts_and_is_per_network() {
    let app = TestApp::spawn_builtin(Db::Sqlite, &["--client-ip-header", "X-Forwarded-For"]).await;
    let (browser, page) = login_page(&app).await;
    let from = |ip: &'static str, user: &'static str, pw: &'static str| {
        let form = [
            ("request", hidden(&page, "request").unwrap()),
            ("csrf", hidden(&page, "csrf").unwrap()),
            ("username", user.to_owned()),
            ("password", pw.to_owned()),
        ];
        let request = browser
            .http
            .post(format!("{}/authorize/login", app.base))
            .header("cookie", browser.cookie_header())
            .header("x-forwarded-for", ip)
            .form(&form);
        async move {
            let r = request.send().await.unwrap();
            let status = r.status();
            let text = r.text().await.unwrap();
            let message = hidden_error(&text);
            (status, message)
        }
    };
    let mut seen = Vec::new();
    for user in ["alice", "nobody-here"] {
        let mut answers = Vec::new();
        for _ in 0..6 {
            answers.push(from("203.0.113.5", user, "wrong password!").await);
        }
        seen.push(answers);
    }
    assert_eq!(seen[0], seen[1], "an account shows in the answers");
    assert_eq!(seen[0][5].0, StatusCode::TOO_MANY_REQUESTS, "{:?}", seen[0]);
    // Alice, elsewhere, is not locked out by the attacker's address.
    let (status, _) = from("198.51.100.7", "alice", PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

/// The error paragraph of a login page.
fn hidden_error(page: &str) -> String {
    page.split("role=\"alert\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or_default()
        .to_owned()
}

/// Item 5: Unknown HTTP methods become one `other` label, not a series each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i05_random_methods_do_not_grow_the_metrics() {
    let metrics = format!("127.0.0.1:{}", support::free_port());
    let app = TestApp::spawn_with(
        Db::Sqlite,
        Options {
            args: vec!["--metrics-bind".into(), metrics.clone()],
            ..Options::default()
        },
    )
    .await;
    let (before, _) = support::metrics::scrape(&metrics).await;
    for i in 0..50 {
        let method = format!("M{i}{}", "X".repeat(2000));
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let _ = app
            .http
            .request(method, app.mcp_url())
            .send()
            .await
            .unwrap();
    }
    let (after, samples) = support::metrics::scrape(&metrics).await;
    assert!(!after.contains("XXXX"), "a request's method became a label");
    assert!(
        after.len() < before.len() + 2000,
        "{} → {} bytes",
        before.len(),
        after.len()
    );
    let other = support::metrics::value(
        &samples,
        "portcullis_http_requests_total",
        &[("method", "other")],
    );
    assert_eq!(other, 50.0);
}

/// Item 6: A tool no rule names is refused and audited as denied (the policy fails closed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i06_a_tool_without_a_rule_is_denied() {
    let app = TestApp::spawn_in_process(Db::Sqlite).await;
    let reply = app.client("alice").call("no_such_tool", json!({})).await;
    assert_eq!(reply.body["error"]["code"], -32602, "{}", reply.body);
    let events = audit_until(&app, &["--tool", "no_such_tool"], |e| !e.is_empty()).await;
    assert_eq!(events[0]["decision"], "denied", "{events:?}");
}

/// Item 7: Retired signing keys stay for the configured token lifetime, not a fixed hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i07_retired_keys_outlive_long_lived_tokens() {
    let app = TestApp::spawn_builtin(Db::Sqlite, &["--access-token-ttl-secs", "86400"]).await;
    let ttl = ["--access-token-ttl-secs", "86400"];
    let (ok, token, err) = app.cli(&["token", "mint", "--sub", "alice", "--ttl", "86400"], None);
    assert!(ok, "{err}");
    let token = token.trim().to_owned();
    let (ok, _, err) = app.cli(&[&["keys", "rotate"][..], &ttl].concat(), None);
    assert!(ok, "{err}");
    // Two hours pass for the retired key (its file name starts with its retirement time).
    let retired = app.data_dir.join("keys").join("retired");
    let file = std::fs::read_dir(&retired)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let name = file.file_name().unwrap().to_str().unwrap().to_owned();
    let (stamp, rest) = name.split_once('-').unwrap();
    let earlier = stamp.parse::<u64>().unwrap() - 7200;
    std::fs::rename(&file, retired.join(format!("{earlier}-{rest}"))).unwrap();
    let (ok, newest, err) = app.cli(&[&["keys", "rotate"][..], &ttl].concat(), None);
    assert!(ok, "{err}");
    assert!(err.contains("0 expired key(s) deleted"), "{err}");
    let (ok, listed, err) = app.cli(&[&["keys", "list"][..], &ttl].concat(), None);
    assert!(ok, "{err}");
    assert_eq!(listed.lines().count(), 3, "{listed}");
    // Once the server has the newest key, the day-long token still verifies.
    let newest = newest.trim().to_owned();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, jwks) = app.get_json("/jwks.json").await;
        if jwks.to_string().contains(&newest) {
            assert_eq!(jwks["keys"].as_array().unwrap().len(), 3, "{jwks}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server never loaded {newest}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    McpClient::new(app.mcp_url(), token)
        .ok("list_tasks", json!({}))
        .await;
}

/// Item 8: A self-registered client's redirect URI is not followed for errors before sign-in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i08_no_open_redirect_for_unvetted_clients() {
    let app = TestApp::spawn_builtin(Db::Sqlite, &[]).await;
    let (_, body) = register(
        &app,
        json!({"redirect_uris": ["https://evil.example/phish"], "token_endpoint_auth_method": "none"}),
    )
    .await;
    let evil = body["client_id"].as_str().unwrap().to_owned();
    let (operator, _) = add_client(
        &app,
        &["Vetted", "--redirect-uri", "https://app.example/cb"],
    );
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let authorize = |client_id: String, uri: &'static str| {
        let url = format!(
            "{}/authorize?response_type=token&client_id={client_id}&redirect_uri={uri}&state=s",
            app.base
        );
        let http = no_redirects.clone();
        async move { http.get(url).send().await.unwrap() }
    };
    let r = authorize(evil, "https://evil.example/phish").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("unsupported_response_type")
    );
    // An operator-registered client still gets the standard error redirect.
    let r = authorize(operator, "https://app.example/cb").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"].to_str().unwrap();
    assert!(location.starts_with("https://app.example/cb?error=unsupported_response_type"));
}

/// Item 9: Each address has its own share of registrations, and clients that never complete a
/// grant are deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i09_registration_is_shared_per_address_and_cleaned_up() {
    let app = TestApp::spawn_builtin(
        Db::Sqlite,
        &[
            "--client-ip-header",
            "X-Forwarded-For",
            "--max-registrations-per-address",
            "3",
            "--unused-client-ttl-secs",
            "3600",
        ],
    )
    .await;
    let from = |ip: &'static str| {
        let request = app
            .http
            .post(format!("{}/register", app.base))
            .header("x-forwarded-for", ip)
            .json(&json!({"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none", "application_type": "native"}));
        async move {
            let r = request.send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(from("203.0.113.9").await.0);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    // Another address still registers.
    let (status, _) = from("2001:db8:1:2::1").await;
    assert_eq!(status, StatusCode::CREATED);
    // Same /64: the same share.
    for _ in 0..2 {
        from("2001:db8:1:2::99").await;
    }
    assert_eq!(
        from("2001:db8:1:2::abc").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );

    // One client completes a grant; then every registration is two days old.
    let used = app.register_public_client().await;
    let (params, verifier) = app.authorize(&used, "alice", "tasks:read").await;
    assert_eq!(
        app.exchange(&used, &params["code"], &verifier).await.0,
        StatusCode::OK
    );
    let path = app.database_url.trim_start_matches("sqlite://");
    let db = rusqlite::Connection::open(path).unwrap();
    let old = (chrono::Utc::now() - chrono::Duration::days(2))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    db.execute("UPDATE oauth_clients SET created_at = ?1", [&old])
        .unwrap();
    drop(db);
    // A replica starting on the same database cleans up.
    let replica = TestApp::spawn_with(
        Db::Sqlite,
        Options {
            no_key_args: true,
            args: vec!["--unused-client-ttl-secs".into(), "3600".into()],
            shared: Some(Shared {
                public_url: app.public_url.clone(),
                data_dir: app.data_dir.clone(),
                database_url: app.database_url.clone(),
            }),
            ..Options::default()
        },
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (ok, out, err) = replica.cli(&["client", "list"], None);
        assert!(ok, "{err}");
        let rows = out.lines().skip(1).count();
        if rows == 1 {
            assert!(out.contains(&used.client_id), "{out}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "unused clients were not deleted:\n{out}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Reads from `stream` until it is closed; returns how long that took (or `None` after
/// `limit`).
async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

/// Item 10: Slow or silent clients are cut off, and connections are capped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i10_slow_clients_do_not_hold_connections() {
    let app = TestApp::spawn_with(
        Db::Sqlite,
        Options {
            args: ["--header-read-timeout-secs", "1", "--max-connections", "3"]
                .map(String::from)
                .to_vec(),
            ..Options::default()
        },
    )
    .await;
    let addr = format!("127.0.0.1:{}", app.port);
    // Silent: closed after the header-read timeout.
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let took = closed_within(&mut silent, Duration::from_secs(5)).await;
    assert!(took.is_some_and(|t| t < Duration::from_secs(3)), "{took:?}");
    // One header line every 300 ms: closed once the headers are a second late.
    let mut drip = tokio::net::TcpStream::connect(&addr).await.unwrap();
    drip.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut closed = false;
    for i in 0..20 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if drip
            .write_all(format!("X-Drip-{i}: x\r\n").as_bytes())
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        let mut buf = [0u8; 256];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(1), drip.read(&mut buf)).await
        {
            closed = true;
            break;
        }
    }
    assert!(
        closed && started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    // Three connections held (each sending half a request): a fourth is not served …
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fourth = tokio::net::TcpStream::connect(&addr).await.unwrap();
    fourth
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    let early = tokio::time::timeout(Duration::from_millis(500), fourth.read(&mut buf)).await;
    assert!(early.is_err(), "served beyond the connection cap");
    // … until one of them goes.
    drop(held.pop());
    let n = tokio::time::timeout(Duration::from_secs(3), fourth.read(&mut buf))
        .await
        .expect("served once a connection was free")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
}

/// Item 11: A cookie the browser brings is never adopted, and CSRF tokens need the server's key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i11_a_planted_cookie_binds_nothing() {
    let app = TestApp::spawn_builtin(Db::Sqlite, &[]).await;
    let client = app.register_public_client().await;
    let (_, challenge) = pkce();
    let planted = "pcb_plantedbytheattacker0000000000000000000000";
    // The victim's browser carries the attacker's cookie under every name it might use.
    let url = app.authorize_url(&client, &challenge, "tasks:read", "st");
    let r = app
        .http
        .get(&url)
        .header("cookie", format!("portcullis_browser={planted}"))
        .send()
        .await
        .unwrap();
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    let page = r.text().await.unwrap();
    let request = hidden(&page, "request").unwrap();
    let (name, value) = set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap();
    assert_ne!(value, planted, "the planted cookie was adopted");
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"));
    // The victim signs in with the cookie the server set.
    let login = app
        .http
        .post(format!("{}/authorize/login", app.base))
        .header("cookie", format!("{name}={value}"))
        .form(&[
            ("request", request.as_str()),
            ("csrf", hidden(&page, "csrf").unwrap().as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.url().path(), "/authorize/consent");
    // The attacker, knowing the planted cookie and the request id, forges the consent the
    // old way (an unkeyed digest of cookie and request): refused.
    let forged = {
        use sha2::Digest;
        let d = sha2::Sha256::digest(format!("csrf:{planted}:{request}").as_bytes());
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    for cookie in [
        format!("portcullis_browser={planted}"),
        format!("{name}={planted}"),
    ] {
        let r = Browser::new()
            .http
            .post(format!("{}/authorize/consent", app.base))
            .header("cookie", cookie)
            .form(&[
                ("request", request.as_str()),
                ("csrf", &forged),
                ("approve", "approve"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(r.headers().get("location").is_none());
    }
}

/// Item 12: `" victor"` is not victor, on either side of the microservice hop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i12_padded_subjects_are_refused_on_both_sides() {
    let app = TestApp::spawn(Db::Sqlite).await;
    app.client("victor")
        .ok("create_task", json!({"title": "mine"}))
        .await;
    for sub in [" victor", "victor ", "vic\ttor"] {
        let reply = McpClient::new(app.mcp_url(), app.token(sub, "tasks:read"))
            .call("list_tasks", json!({}))
            .await;
        assert_eq!(reply.status, 401, "{sub:?}: {}", reply.body);
    }
    let token = "service-token-0123456789abcdefghijklmnopqrstuv";
    let backend = TestApp::spawn_with(
        Db::Sqlite,
        Options {
            command: Some("backend".into()),
            env: vec![("SERVICE_AUTH_TOKEN".into(), token.into())],
            ..Options::default()
        },
    )
    .await;
    let as_user = |user: &'static str| {
        backend
            .http
            .get(format!("{}/tasks", backend.base))
            .bearer_auth(token)
            .header("x-user-id", user)
            .send()
    };
    assert_eq!(as_user("victor").await.unwrap().status(), StatusCode::OK);
    // (HTTP itself drops whitespace around a header value; a tab inside one it keeps.)
    assert_eq!(
        as_user("vic\ttor").await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
}

/// A local HTTP server answering 500 to everything, counting requests.
async fn failing_server() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().fallback(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "down") }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, hits)
}

/// Item 13: Outbound fetches an anonymous caller can trigger are throttled: client metadata
/// documents, and JWKS while no keys are cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i13_outbound_fetches_are_throttled() {
    let (documents, document_hits) = failing_server().await;
    let app = TestApp::spawn_builtin(Db::Sqlite, &["--dev-mode", "true"]).await;
    let client_id = format!("{documents}/client.json");
    let (_, challenge) = pkce();
    let url = format!(
        "{}/authorize?response_type=code&client_id={client_id}&redirect_uri=http://127.0.0.1/cb&code_challenge={challenge}&code_challenge_method=S256",
        app.base
    );
    let requests = (0..100).map(|_| app.http.get(&url).send());
    for r in futures::future::join_all(requests).await {
        assert_eq!(r.unwrap().status(), StatusCode::BAD_REQUEST);
    }
    let n = document_hits.load(Ordering::SeqCst);
    assert!(n <= 2, "{n} metadata document fetches for 100 requests");

    let (jwks, jwks_hits) = failing_server().await;
    let idp = TestApp::spawn_with(
        Db::Sqlite,
        Options {
            no_key_args: true,
            args: [
                "--issuer",
                "https://issuer.test",
                "--jwks-uri",
                &format!("{jwks}/jwks.json"),
                "--jwks-min-refresh-secs",
                "60",
                // Failed authentications would otherwise hit the per-address budget first.
                "--ip-rate-limit",
                "off",
            ]
            .map(String::from)
            .to_vec(),
            ..Options::default()
        },
    )
    .await;
    let token = idp.token("alice", "tasks:read");
    let client = McpClient::new(idp.mcp_url(), token);
    let calls = (0..50).map(|_| client.call("list_tasks", json!({})));
    for reply in futures::future::join_all(calls).await {
        assert_eq!(reply.status, 503);
    }
    let n = jwks_hits.load(Ordering::SeqCst);
    assert!(n <= 2, "{n} JWKS fetches for 50 requests");
}

/// Item 14: A legacy session answers only the principal that opened it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i14_legacy_sessions_are_bound_to_their_user() {
    let app = TestApp::spawn_with(
        Db::Sqlite,
        Options {
            args: vec!["--legacy-sessions".into(), "true".into()],
            ..Options::default()
        },
    )
    .await;
    let (alice, bob) = (
        app.token("alice", "tasks:read tasks:write"),
        app.token("bob", "tasks:read tasks:write"),
    );
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    let r = app
        .http
        .post(app.mcp_url())
        .bearer_auth(&alice)
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let session = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let with = |method: reqwest::Method, token: &str| {
        app.http
            .request(method, app.mcp_url())
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .header("mcp-session-id", &session)
    };
    let call = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_tasks","arguments":{}}});
    // Bob, knowing the id, can neither post into it, read its stream, nor end it.
    for request in [
        with(reqwest::Method::POST, &bob).json(&call),
        with(reqwest::Method::GET, &bob),
        with(reqwest::Method::DELETE, &bob),
    ] {
        assert_eq!(
            request.send().await.unwrap().status(),
            StatusCode::NOT_FOUND
        );
    }
    // Alice's session survived all of that.
    let r = with(reqwest::Method::POST, &alice)
        .json(&call)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        with(reqwest::Method::DELETE, &alice)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
}

/// Item 15: Protocol looseness: `crit`, repeated `Host`/`Origin`, and budgets charged only for
/// requests that are well-formed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i15_protocol_looseness() {
    let app = TestApp::spawn_with(
        Db::Sqlite,
        Options {
            args: ["--rate-limit", "10/min", "--rate-limit-burst", "5"]
                .map(String::from)
                .to_vec(),
            ..Options::default()
        },
    )
    .await;
    // A critical header parameter nobody here understands.
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(app.issuer.kid.clone());
    header.crit = Some(vec!["exp".into()]);
    let claims = app.issuer.claims("alice", "tasks:read", &app.mcp_url());
    let critical = app.issuer.sign_with_header(&header, &claims);
    let reply = McpClient::new(app.mcp_url(), critical)
        .call("list_tasks", json!({}))
        .await;
    assert_eq!(reply.status, 401, "{}", reply.body);

    // Repeated Host or Origin.
    for extra in [
        "Host: 127.0.0.1\r\n",
        "Origin: http://a.example\r\nOrigin: http://b.example\r\n",
    ] {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
            .await
            .unwrap();
        let request =
            format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n");
        s.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{extra:?}: {answer}");
    }

    // Twenty requests whose headers contradict their body cost no budget.
    let token = app.token("alice", "tasks:read");
    let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_tasks","arguments":{},
        "_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}});
    for _ in 0..20 {
        let r = app
            .http
            .post(app.mcp_url())
            .bearer_auth(&token)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "delete_task")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
    let client = McpClient::new(app.mcp_url(), token).era(support::Era::Current);
    client.ok("list_tasks", json!({})).await;
}
