//! The gateway: third-party MCP servers behind Portcullis, each verifying the identity
//! Portcullis gives it with its own verifier. FastMCP (`JWTVerifier`) and the official Python
//! SDK (stateful sessions, a PyJWT `TokenVerifier`) check Portcullis-signed JWTs against its
//! `/jwks.json`; a service-token server checks a static token and `X-User-ID`; a stdio program
//! is spawned and supervised. The servers are in `tests/upstreams/`.

use crate::support;

use std::{path::Path, time::Duration};

use serde_json::{Value, json};
use support::{
    Db, McpClient, Options, TestApp,
    external::{UpstreamServer, repo_root, run_client, venv_python},
    free_port,
};

/// A JWT upstream on `script`, verifying ES256 tokens from the Portcullis on `portcullis_port`
/// with the audience its own URL (the gateway's default).
async fn jwt_upstream(script: &str, portcullis_port: u16, dir: &Path) -> UpstreamServer {
    let port = free_port();
    let portcullis = format!("http://127.0.0.1:{portcullis_port}");
    let args = [
        "--port".to_owned(),
        port.to_string(),
        "--jwks-url".into(),
        format!("{portcullis}/jwks.json"),
        "--issuer".into(),
        portcullis,
        "--audience".into(),
        format!("http://127.0.0.1:{port}/mcp"),
        "--algorithm".into(),
        "ES256".into(),
    ];
    UpstreamServer::start(script, &args, &[], dir).await
}

/// Portcullis on `port` with `config` (written into `dir`) as its configuration file.
pub(crate) async fn gateway_app(port: u16, config: &str, dir: &Path, options: Options) -> TestApp {
    let path = dir.join(format!("portcullis-{port}.toml"));
    std::fs::write(&path, config).unwrap();
    let mut args = vec!["--config".to_owned(), path.display().to_string()];
    args.extend(options.args.iter().cloned());
    TestApp::spawn_with(
        Db::Sqlite,
        Options {
            port: Some(port),
            args,
            ..options
        },
    )
    .await
}

/// Waits (up to a minute) until `/ready` reports every upstream in `names` listed.
pub(crate) async fn wait_listed(app: &TestApp, names: &[&str]) {
    support::eventually("upstreams listed", Duration::from_secs(60), || async {
        let (_, ready) = app.get_json("/ready").await;
        let up = |name: &&str| ready["checks"][format!("upstream:{name}")]["status"] == "ok";
        if names.iter().all(up) {
            Ok(())
        } else {
            Err(ready)
        }
    })
    .await;
}

fn names(list: &Reply) -> Vec<String> {
    list.result()["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

use support::mcp::Reply;

/// Portcullis (with `options`) in front of one FastMCP upstream named `fast`, listed.
async fn behind_fastmcp(options: Options) -> (TestApp, UpstreamServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let fast = jwt_upstream("fastmcp_notes.py", port, dir.path()).await;
    let config = format!("[[upstreams]]\nname = \"fast\"\nurl = \"{}\"\n", fast.url);
    let app = gateway_app(port, &config, dir.path(), options).await;
    wait_listed(&app, &["fast"]).await;
    (app, fast, dir)
}

const ALL: &str = "tasks:read tasks:write fast:read fast:write sdk:read sdk:write";

/// FastMCP and the official SDK (stateful) behind one endpoint: merged tools, the right user at
/// each upstream with a token Portcullis signed (never the client's), per-user data, step-up,
/// one upstream dying while the other keeps working, `/ready`, audit and metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fastmcp_and_sdk_servers_behind_one_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let fast = jwt_upstream("fastmcp_notes.py", port, dir.path()).await;
    let mut sdk = jwt_upstream("sdk_notes.py", port, dir.path()).await;
    let metrics = format!("127.0.0.1:{}", free_port());
    let config = format!(
        "[[upstreams]]\nname = \"fast\"\nurl = \"{}\"\ntimeout_secs = 10\n\n\
         [[upstreams]]\nname = \"sdk\"\nurl = \"{}\"\ntimeout_secs = 10\n",
        fast.url, sdk.url
    );
    let app = gateway_app(
        port,
        &config,
        dir.path(),
        Options {
            args: vec!["--metrics-bind".into(), metrics.clone()],
            ..Default::default()
        },
    )
    .await;
    wait_listed(&app, &["fast", "sdk"]).await;

    let alice = McpClient::new(app.mcp_url(), app.token("alice", ALL));
    let bob = McpClient::new(app.mcp_url(), app.token("bob", ALL)).era(support::Era::Current);

    // One list: the built-in tools and both upstreams', renamed with their prefixes.
    let listed = names(&alice.request("tools/list", json!({}), None).await);
    for tool in [
        "list_tasks",
        "fast_add_note",
        "fast_list_notes",
        "fast_whoami",
        "sdk_add_note",
        "sdk_list_notes",
        "sdk_whoami",
    ] {
        assert!(listed.contains(&tool.to_owned()), "{tool} in {listed:?}");
    }

    // Each upstream verified a token naming alice, signed by Portcullis, acting for her.
    for upstream in ["fast", "sdk"] {
        let me = alice.ok(&format!("{upstream}_whoami"), json!({})).await;
        assert_eq!(me["sub"], "alice", "{me}");
        assert_eq!(me["iss"], app.public_url.as_str(), "{me}");
        assert!(me["act"]["sub"].is_string(), "act names Portcullis: {me}");
        let scope = me["scope"].as_str().unwrap();
        assert!(
            scope.contains(&format!("{upstream}:read")) && !scope.contains("tasks:"),
            "the upstream sees only its own scopes: {scope}"
        );
        let lifetime = me["exp"].as_u64().unwrap() - support::keys::now();
        assert!(lifetime <= 300, "upstream tokens live at most 5 minutes");
    }

    // Per-user data at both upstreams, through both protocol eras.
    for upstream in ["fast", "sdk"] {
        let note = alice
            .ok(
                &format!("{upstream}_add_note"),
                json!({"text": format!("alice at {upstream}")}),
            )
            .await;
        assert_eq!(note["owner"], "alice", "{note}");
        let hers = alice.ok(&format!("{upstream}_list_notes"), json!({})).await;
        assert_eq!(hers["notes"].as_array().unwrap().len(), 1, "{hers}");
        let his = bob.ok(&format!("{upstream}_list_notes"), json!({})).await;
        assert_eq!(his["owner"], "bob", "{his}");
        assert_eq!(his["notes"], json!([]), "bob sees none of alice's notes");
    }

    // The upstreams never saw a client's token; they saw Portcullis's, reused across calls.
    for upstream in [&fast, &sdk] {
        let seen = upstream.seen();
        assert!(!seen.is_empty());
        for token in [&alice.token, &bob.token] {
            assert!(
                !seen.iter().any(|s| s.contains(token.as_str())),
                "a client's token reached {}",
                upstream.url
            );
        }
        let alices: std::collections::HashSet<&String> = seen
            .iter()
            .filter(|s| support::keys::unverified_claims(s)["sub"] == "alice")
            .collect();
        assert_eq!(alices.len(), 1, "one token for alice, reused: {alices:?}");
        assert!(
            seen.iter()
                .all(|s| support::keys::unverified_claims(s)["iss"] == app.public_url.as_str())
        );
    }

    // A read-only token sees the write tools (so it can step up) but gets 403 on them.
    let reader = McpClient::new(app.mcp_url(), app.token("carol", "fast:read"));
    let visible = names(&reader.request("tools/list", json!({}), None).await);
    assert!(visible.contains(&"fast_add_note".to_owned()), "{visible:?}");
    reader.ok("fast_list_notes", json!({})).await;
    let refused = reader.call("fast_add_note", json!({"text": "x"})).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let challenge = refused.header("www-authenticate").unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#) && challenge.contains("fast:write"),
        "{challenge}"
    );
    // The protected-resource metadata offers the upstream scopes.
    let (_, prm) = app
        .get_json("/.well-known/oauth-protected-resource/mcp")
        .await;
    let supported = prm["scopes_supported"].to_string();
    for scope in ["fast:read", "fast:write", "sdk:read", "sdk:write"] {
        assert!(supported.contains(scope), "{scope} in {supported}");
    }

    // The SDK server dies: its tools fail with connection_error naming it, FastMCP's work.
    sdk.kill().await;
    let failed = alice.tool_error("sdk_list_notes", json!({})).await;
    assert_eq!(failed["error_type"], "connection_error", "{failed}");
    assert_eq!(failed["details"]["upstream"], "sdk", "{failed}");
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains("\"sdk\"") && !message.contains("rmcp"),
        "{message}"
    );
    alice.ok("fast_list_notes", json!({})).await;
    alice.ok("list_tasks", json!({})).await;
    // `/ready` reports it, and stays ready: one upstream must not take the replica out.
    support::eventually("sdk reported down", Duration::from_secs(20), || async {
        let (status, ready) = app.get_json("/ready").await;
        if ready["checks"]["upstream:sdk"]["status"] != "unreachable" {
            return Err(ready);
        }
        assert_eq!(status, 200, "{ready}");
        assert_eq!(ready["checks"]["upstream:fast"]["status"], "ok", "{ready}");
        Ok(())
    })
    .await;

    // The audit trail names the upstream; the call counter counts upstream tools.
    let events = app.audit(&["--tool", "fast_add_note"]);
    let granted: Vec<&Value> = events
        .iter()
        .filter(|e| e["decision"] == "allowed")
        .collect();
    assert_eq!(granted.len(), 1, "{events:?}");
    assert_eq!(granted[0]["upstream"], "fast", "{events:?}");
    assert_eq!(granted[0]["subject"], "alice", "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| e["decision"] == "denied" && e["subject"] == "carol"),
        "{events:?}"
    );
    let (_, samples) = support::metrics::scrape(&metrics).await;
    let calls = support::metrics::value(
        &samples,
        "portcullis_tool_calls_total",
        &[("tool", "fast_add_note"), ("status", "200")],
    );
    assert_eq!(calls, 1.0);
}

/// The pattern of design document 000: a static service token plus `X-User-ID`, from an
/// environment variable Portcullis reads, never logged, never the client's token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_token_upstream_gets_the_user_in_a_header() {
    let secret = format!("svc-{}", uuid::Uuid::new_v4().simple());
    let seen = secret_upstream(
        &[],
        "auth = \"service_token\"\nservice_token_env = \"NOTES_SECRET\"",
        &secret,
    )
    .await;
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|s| *s == format!("Bearer {secret}")),
        "only the service token reached the upstream: {seen:?}"
    );
}

/// Design document 001: a static API key in its own header, here with the user header too;
/// no `Authorization` header reaches the upstream at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_upstream_gets_its_key_and_the_user() {
    let secret = format!("key-{}", uuid::Uuid::new_v4().simple());
    let seen = secret_upstream(
        &["--key-header".into(), "X-Notes-Key".into()],
        "auth = \"api_key\"\napi_key_header = \"X-Notes-Key\"\n\
         api_key_env = \"NOTES_SECRET\"\nuser_header = \"X-User-ID\"",
        &secret,
    )
    .await;
    assert_eq!(
        seen,
        Vec::<String>::new(),
        "no Authorization header upstream"
    );
}

/// `service_token_notes.py ARGS` behind Portcullis with `auth` (the upstream's TOML lines) and
/// `secret` in `NOTES_SECRET`: the user arrives, users are kept apart, the secret is never
/// logged. Returns the `Authorization` values the upstream saw.
async fn secret_upstream(args: &[String], auth: &str, secret: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let upstream = UpstreamServer::start(
        "service_token_notes.py",
        args,
        &[("UPSTREAM_SERVICE_TOKEN", secret)],
        dir.path(),
    )
    .await;
    let config = format!(
        "[[upstreams]]\nname = \"svc\"\nurl = \"{}\"\n{auth}\n",
        upstream.url
    );
    let app = gateway_app(
        free_port(),
        &config,
        dir.path(),
        Options {
            env: vec![("NOTES_SECRET".into(), secret.to_owned())],
            ..Default::default()
        },
    )
    .await;
    wait_listed(&app, &["svc"]).await;

    let alice = McpClient::new(app.mcp_url(), app.token("alice", "svc:read svc:write"));
    let bob = McpClient::new(app.mcp_url(), app.token("bob", "svc:read svc:write"));
    assert_eq!(alice.ok("svc_whoami", json!({})).await["user"], "alice");
    alice.ok("svc_add_note", json!({"text": "mine"})).await;
    assert_eq!(
        bob.ok("svc_list_notes", json!({})).await["notes"],
        json!([])
    );
    assert!(!app.stderr().contains(secret), "the secret was logged");
    let seen = upstream.seen();
    for token in [&alice.token, &bob.token] {
        assert!(!seen.iter().any(|s| s.contains(token.as_str())));
    }
    seen
}

/// An upstream slower than `timeout_secs`: a timeout_error naming it, on time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upstream_times_out_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let fast = jwt_upstream("fastmcp_notes.py", port, dir.path()).await;
    let config = format!(
        "[[upstreams]]\nname = \"fast\"\nurl = \"{}\"\ntimeout_secs = 2\n",
        fast.url
    );
    let app = gateway_app(port, &config, dir.path(), Options::default()).await;
    wait_listed(&app, &["fast"]).await;
    let alice = McpClient::new(app.mcp_url(), app.token("alice", "fast:read"));
    let started = std::time::Instant::now();
    let error = alice.tool_error("fast_sleep", json!({"seconds": 20})).await;
    let took = started.elapsed();
    assert_eq!(error["error_type"], "timeout_error", "{error}");
    assert_eq!(error["details"]["upstream"], "fast", "{error}");
    assert!(took < Duration::from_secs(6), "answered after {took:?}");
    // The upstream was told to stop, and the next call works.
    alice.ok("fast_list_notes", json!({})).await;
}

/// A stdio program, spawned and supervised: one shared process restarted after it exits, and
/// with `per_user` one process per user, so no process sees another user's calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_upstreams_are_supervised_and_kept_apart_per_user() {
    let script = repo_root().join("tests/upstreams/stdio_notes.py");
    let python = venv_python();
    let command = format!(
        "command = [{:?}, {:?}]",
        python.display().to_string(),
        script.display().to_string()
    );
    let config = format!(
        "[[upstreams]]\nname = \"shared\"\n{command}\n\n\
         [[upstreams]]\nname = \"mine\"\n{command}\nper_user = true\nmax_processes = 4\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let app = gateway_app(free_port(), &config, dir.path(), Options::default()).await;
    wait_listed(&app, &["shared", "mine"]).await;
    let scopes = "shared:read shared:write mine:read mine:write";
    let alice = McpClient::new(app.mcp_url(), app.token("alice", scopes));
    let bob = McpClient::new(app.mcp_url(), app.token("bob", scopes));

    // Shared: one process for everyone.
    let echoed = alice.call("shared_echo", json!({"text": "hi"})).await;
    assert_eq!(echoed.result()["content"][0]["text"], "hi");
    let first = alice.ok("shared_pid", json!({})).await["pid"].clone();
    assert_eq!(bob.ok("shared_pid", json!({})).await["pid"], first);

    // It exits mid-call: a connection error, then a new process after the backoff.
    let crashed = alice.tool_error("shared_crash", json!({})).await;
    assert_eq!(crashed["error_type"], "connection_error", "{crashed}");
    assert_eq!(crashed["details"]["upstream"], "shared");
    let restarted = support::eventually("a restart", Duration::from_secs(30), || async {
        let reply = alice.call("shared_pid", json!({})).await;
        let result = reply.result().clone();
        if result["isError"] == false {
            return Ok(result["structuredContent"]["pid"].clone());
        }
        assert_eq!(
            result["structuredContent"]["error_type"], "connection_error",
            "{result}"
        );
        Err(result)
    })
    .await;
    assert_ne!(restarted, first, "a new process");

    // Per user: each user's own process and notes.
    let alices = alice.ok("mine_pid", json!({})).await["pid"].clone();
    let bobs = bob.ok("mine_pid", json!({})).await["pid"].clone();
    assert_ne!(alices, bobs);
    assert_ne!(alices, restarted);
    alice.ok("mine_add_note", json!({"text": "alice's"})).await;
    assert_eq!(
        bob.ok("mine_list_notes", json!({})).await["notes"],
        json!([])
    );
    assert_eq!(
        alice.ok("mine_list_notes", json!({})).await["notes"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(alice.ok("mine_pid", json!({})).await["pid"], alices);
}

/// The official Python SDK client signs in at the built-in authorization server, sees the
/// upstream's tools and calls them; FastMCP sees the user and never any of the client's tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_client_signs_in_and_uses_an_upstream_through_the_gateway() {
    let (app, fast, dir) = behind_fastmcp(Options {
        no_key_args: true,
        ..Default::default()
    })
    .await;
    app.add_user("alice");

    let tokens = dir.path().join("client-tokens");
    let args = [
        repo_root()
            .join("tests/clients/python_gateway_client.py")
            .display()
            .to_string(),
        app.mcp_url(),
        "alice".to_owned(),
        support::oauth::PASSWORD.to_owned(),
        "fast_".to_owned(),
        tokens.display().to_string(),
    ];
    let stdout = run_client(
        "python SDK gateway client",
        &venv_python(),
        &args,
        &[],
        &app,
    )
    .await;
    assert!(stdout.contains("python gateway OK"), "{stdout}");
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    // The built-in server's subject is the account's id: alice's, at the upstream too.
    let sub = summary["whoami"]["sub"].as_str().unwrap();
    let (_, users, _) = app.cli(&["user", "list"], None);
    let alices = users
        .lines()
        .find(|l| l.contains("alice"))
        .unwrap_or_default();
    assert!(
        !sub.is_empty() && alices.contains(sub),
        "{sub} is not alice: {users}"
    );
    assert_eq!(summary["note"]["owner"], sub, "{summary}");
    assert_eq!(summary["whoami"]["act"]["sub"], app.public_url.as_str());
    let final_scope = summary["final_scope"].as_str().unwrap();
    assert!(final_scope.contains("fast:write"), "{summary}");

    let client_tokens: Vec<String> = std::fs::read_to_string(&tokens)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(!client_tokens.is_empty());
    let seen = fast.seen();
    assert!(!seen.is_empty());
    for token in &client_tokens {
        assert!(
            !seen.iter().any(|s| s.contains(token.as_str())),
            "a client token reached the upstream"
        );
    }
}

/// While an upstream tool runs, its progress and log messages reach the client that asked for
/// progress (the answer becomes an event stream); a client that gives up cancels the upstream
/// call too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_progress_reaches_the_client_and_cancellation_reaches_the_upstream() {
    let (app, _fast, _dir) = behind_fastmcp(Options::default()).await;
    let token = app.token("alice", "fast:read");

    for era in [support::Era::Legacy, support::Era::Current] {
        let client = McpClient::new(app.mcp_url(), token.clone()).era(era);
        let mut params = json!({
            "name": "fast_countdown",
            "arguments": {"steps": 3},
        });
        if era == support::Era::Legacy {
            params["_meta"] = json!({"progressToken": "mine-1"});
        }
        let mut reply = if era == support::Era::Current {
            // The current era's `_meta` is added by the client; the token goes in with it.
            let request = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
                "name": "fast_countdown", "arguments": {"steps": 3},
                "_meta": {
                    "progressToken": "mine-1",
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
                    "io.modelcontextprotocol/clientCapabilities": {}
                }
            }});
            support::mcp::send(
                client
                    .http
                    .post(&client.url)
                    .bearer_auth(&token)
                    .header("Accept", "application/json, text/event-stream")
                    .header("MCP-Protocol-Version", "2026-07-28")
                    .header("Mcp-Method", "tools/call")
                    .header("Mcp-Name", "fast_countdown")
                    .json(&request),
            )
            .await
        } else {
            client
                .request("tools/call", params, Some("fast_countdown"))
                .await
        };
        assert_eq!(reply.status, 200, "{:?}: {}", era, reply.body);
        let stream = reply.body.take();
        let text = stream.as_str().expect("an event stream");
        let events: Vec<Value> = text
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str(d.trim()).ok())
            .collect();
        let progress: Vec<&Value> = events
            .iter()
            .filter(|e| e["method"] == "notifications/progress")
            .collect();
        // Relayed in increasing order only (the upstream's may reach Portcullis out of order,
        // and a stale one is dropped): at least the last, which says 3 of 3.
        let values: Vec<f64> = progress
            .iter()
            .map(|p| p["params"]["progress"].as_f64().unwrap())
            .collect();
        assert!(
            !values.is_empty() && values.windows(2).all(|w| w[0] < w[1]),
            "{era:?}: {text}"
        );
        assert!(
            progress
                .iter()
                .all(|p| p["params"]["progressToken"] == "mine-1"),
            "the client's own progress token: {text}"
        );
        assert_eq!(values.last(), Some(&3.0), "{text}");
        if era == support::Era::Legacy {
            assert!(
                events
                    .iter()
                    .any(|e| e["method"] == "notifications/message"),
                "log messages are relayed: {text}"
            );
        }
        let result = events.last().unwrap();
        assert_eq!(result["result"]["structuredContent"]["steps"], 3, "{text}");
    }

    // A client that gives up: the upstream hears of it and stops.
    let impatient = McpClient::new(app.mcp_url(), token.clone()).era(support::Era::Current);
    let mut quick = McpClient::new(app.mcp_url(), token.clone()).era(support::Era::Current);
    quick.http = reqwest::Client::builder()
        .timeout(Duration::from_millis(1500))
        .build()
        .unwrap();
    assert!(
        quick
            .try_call("fast_sleep", json!({"seconds": 30}))
            .await
            .is_none(),
        "the call should still be running when the client gives up"
    );
    support::eventually(
        "the upstream call cancelled",
        Duration::from_secs(15),
        || async {
            let count = impatient.ok("fast_cancellations", json!({})).await["cancelled"].clone();
            if count == 1 { Ok(()) } else { Err(count) }
        },
    )
    .await;
}

/// An upstream's resources, resource templates and prompts appear next to the tools, renamed so
/// they cannot collide (`fast+<uri>`, `fast_<prompt>`), read as the caller, under the
/// upstream's read rule with a step-up on a missing scope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_resources_and_prompts_are_federated() {
    let (app, _fast, _dir) = behind_fastmcp(Options::default()).await;

    for era in [support::Era::Legacy, support::Era::Current] {
        let alice =
            McpClient::new(app.mcp_url(), app.token("alice", "fast:read fast:write")).era(era);
        let listed = alice.request("resources/list", json!({}), None).await;
        let uris = listed.result()["resources"].to_string();
        assert!(uris.contains("\"fast+notes://readme\""), "{era:?}: {uris}");
        let templates = alice
            .request("resources/templates/list", json!({}), None)
            .await;
        let templates = templates.result()["resourceTemplates"].to_string();
        assert!(templates.contains("fast+notes://{note_id}"), "{templates}");

        let read = alice
            .request(
                "resources/read",
                json!({"uri": "fast+notes://readme"}),
                Some("fast+notes://readme"),
            )
            .await;
        let contents = &read.result()["contents"][0];
        assert_eq!(contents["uri"], "fast+notes://readme", "{}", read.body);
        assert_eq!(contents["text"], "readme for alice", "{}", read.body);
        // A template's URI, filled in, reads through too.
        let note = alice
            .ok("fast_add_note", json!({"text": "templated"}))
            .await;
        let uri = format!("fast+notes://{}", note["id"]);
        let read = alice
            .request("resources/read", json!({"uri": uri}), Some(&uri))
            .await;
        assert_eq!(
            read.result()["contents"][0]["text"],
            "templated",
            "{}",
            read.body
        );

        let prompts = alice.request("prompts/list", json!({}), None).await;
        let prompts = prompts.result()["prompts"].to_string();
        assert!(prompts.contains("\"fast_summarize\""), "{prompts}");
        let prompt = alice
            .request(
                "prompts/get",
                json!({"name": "fast_summarize", "arguments": {"topic": "tests"}}),
                Some("fast_summarize"),
            )
            .await;
        let text = prompt.result()["messages"][0]["content"]["text"].clone();
        assert_eq!(text, "Summarize tests for alice", "{}", prompt.body);
    }

    // Without the upstream's read scope: 403 with a step-up to it.
    let writer = McpClient::new(app.mcp_url(), app.token("bob", "fast:write"));
    let refused = writer
        .request(
            "resources/read",
            json!({"uri": "fast+notes://readme"}),
            None,
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let challenge = refused.header("www-authenticate").unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#) && challenge.contains("fast:read"),
        "{challenge}"
    );
    let refused = writer
        .request(
            "prompts/get",
            json!({"name": "fast_summarize", "arguments": {"topic": "x"}}),
            None,
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);

    // A URI no upstream owns is not found; the audit trail names the upstream of a read.
    let alice = McpClient::new(app.mcp_url(), app.token("alice", "fast:read"));
    let missing = alice
        .request(
            "resources/read",
            json!({"uri": "elsewhere+notes://readme"}),
            None,
        )
        .await;
    assert_eq!(missing.body["error"]["code"], -32002, "{}", missing.body);
    // An unknown prompt of a known upstream is an invalid name (-32602), naming the upstream.
    let missing = alice
        .request("prompts/get", json!({"name": "fast_nope"}), None)
        .await;
    assert_eq!(missing.body["error"]["code"], -32602, "{}", missing.body);
    assert_eq!(
        missing.body["error"]["data"]["upstream"], "fast",
        "{}",
        missing.body
    );
    let events = app.audit(&["--tool", "fast+notes://readme"]);
    assert!(
        events
            .iter()
            .any(|e| e["decision"] == "allowed" && e["upstream"] == "fast"),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["decision"] == "denied" && e["subject"] == "bob"),
        "{events:?}"
    );
}

/// The FastMCP server of the README's "Protect your own MCP server", taken from the README as
/// written, behind `portcullis serve --upstream notes=…`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_fastmcp_server_works_behind_portcullis() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let start = readme
        .find("```python\n# server.py")
        .expect("the README's FastMCP server");
    let code = &readme[start + "```python\n".len()..];
    let code = &code[..code.find("```").unwrap()];
    let (port, upstream_port) = (free_port(), free_port());
    let code = code
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
        .replace("127.0.0.1:9000", &format!("127.0.0.1:{upstream_port}"))
        .replace("port=9000", &format!("port={upstream_port}"));
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("server.py");
    std::fs::write(&script, code).unwrap();
    let _server = tokio::process::Command::new(venv_python())
        .arg(&script)
        .env("FASTMCP_CHECK_FOR_UPDATES", "off")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(support::log_path(dir.path())).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    support::eventually("server.py listening", Duration::from_secs(60), || {
        tokio::net::TcpStream::connect(("127.0.0.1", upstream_port))
    })
    .await;
    let app = TestApp::spawn_with(
        Db::Sqlite,
        Options {
            port: Some(port),
            args: vec![
                "--upstream".into(),
                format!("notes=http://127.0.0.1:{upstream_port}/mcp"),
            ],
            ..Default::default()
        },
    )
    .await;
    wait_listed(&app, &["notes"]).await;
    let alice = McpClient::new(app.mcp_url(), app.token("alice", "notes:read notes:write"));
    let bob = McpClient::new(app.mcp_url(), app.token("bob", "notes:read notes:write"));
    let added = alice.call("notes_add_note", json!({"text": "hello"})).await;
    assert_eq!(added.result()["isError"], false, "{}", added.body);
    let mine = alice.call("notes_list_notes", json!({})).await;
    assert!(mine.result().to_string().contains("hello"), "{}", mine.body);
    let his = bob.call("notes_list_notes", json!({})).await;
    assert!(!his.result().to_string().contains("hello"), "{}", his.body);
    let reader = McpClient::new(app.mcp_url(), app.token("carol", "notes:read"));
    let refused = reader.call("notes_add_note", json!({"text": "x"})).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
}

/// `config check --connect` reports each upstream: a server that answers, one that does not,
/// and a stdio program that does not exist, and fails naming the bad ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_reaches_each_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let up = jwt_upstream("fastmcp_notes.py", free_port(), dir.path()).await;
    let config = dir.path().join("portcullis.toml");
    std::fs::write(
        &config,
        format!(
            "[[upstreams]]\nname = \"fast\"\nurl = \"{}\"\n\n\
             [[upstreams]]\nname = \"gone\"\nurl = \"http://127.0.0.1:{}/mcp\"\n\n\
             [[upstreams]]\nname = \"tool\"\ncommand = [\"no-such-mcp-program\"]\n",
            up.url,
            free_port()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(support::binary())
        .args(["config", "check", "--connect", "--config"])
        .arg(&config)
        .args(["--data-dir"])
        .arg(dir.path().join("data"))
        .env_remove("PORTCULLIS_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("upstream fast: ok"), "{stderr}");
    assert!(stderr.contains("upstream gone: FAILED"), "{stderr}");
    assert!(stderr.contains("upstream tool: FAILED"), "{stderr}");
    assert!(stderr.contains("no-such-mcp-program"), "{stderr}");
}
