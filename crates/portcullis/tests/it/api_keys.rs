//! API keys, per-tool policy, user context, tenants and the audit trail, over real HTTP against
//! the real binary (issue 5).

use crate::support;

use serde_json::{Value, json};
use support::{Db, McpClient, TestApp};

/// `portcullis apikey create …`: the key alone on stdout.
fn create_key(app: &TestApp, args: &[&str]) -> String {
    let mut full = vec!["apikey", "create"];
    full.extend_from_slice(args);
    let (ok, stdout, stderr) = app.cli(&full, None);
    assert!(ok, "apikey create failed: {stderr}");
    let key = stdout.trim().to_owned();
    assert!(
        key.starts_with("pck_") && !key.contains(char::is_whitespace),
        "stdout must be the key alone: {stdout:?}"
    );
    key
}

/// The secret part of `pck_<id>_<secret>` (which may itself contain `_`).
fn secret_of(key: &str) -> &str {
    let secret = key.splitn(3, '_').nth(2).expect("a Portcullis API key");
    assert_eq!(secret.len(), 43, "{key}");
    secret
}

fn key_client(app: &TestApp, key: &str) -> McpClient {
    McpClient::with_api_key(app.mcp_url(), key)
}

fn tool_names(reply: &Value) -> Vec<String> {
    reply["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn seen(client: &McpClient) -> Vec<String> {
    tool_names(client.request("tools/list", json!({}), None).await.result())
}

/// Every method × tool-class combination of the default policy, and `tools/list` showing each
/// caller what it may call.
async fn policy_matrix(db: Db) {
    let app = TestApp::spawn_in_process(db).await;
    let tasks_key = create_key(
        &app,
        &["--name", "tasks", "--scopes", "tasks:read tasks:write"],
    );
    let admin_key = create_key(&app, &["--name", "ops", "--scopes", "admin"]);
    let read_key = create_key(&app, &["--name", "reader", "--scopes", "tasks:read"]);
    let oauth = app.client("alice");
    let oauth_admin = McpClient::new(
        app.mcp_url(),
        app.token("alice", "tasks:read tasks:write admin"),
    );

    // Task tools: OAuth and API keys with the task scopes.
    oauth.ok("create_task", json!({"title": "by oauth"})).await;
    let tasks = key_client(&app, &tasks_key);
    let made = tasks.ok("create_task", json!({"title": "by key"})).await;
    assert_eq!(made["task"]["title"], "by key");
    // Without a user context the key acts as its owner (its name by default), not as alice.
    let listed = tasks.ok("list_tasks", json!({})).await;
    assert_eq!(listed["count"], 1, "{listed}");

    // A key without the scope: 403 insufficient_scope naming it.
    let reader = key_client(&app, &read_key);
    reader.ok("list_tasks", json!({})).await;
    let refused = reader.call("create_task", json!({"title": "x"})).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let challenge = refused.header("www-authenticate").unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#) && challenge.contains("tasks:write"),
        "{challenge}"
    );

    // Admin tools: API keys with `admin` only. OAuth is refused even with the scope, and is
    // not invited to step up (re-authorizing would not help).
    let admin = key_client(&app, &admin_key);
    let stats = admin.ok("system_stats", json!({})).await;
    assert_eq!(stats["stats"]["tenant"], "default");
    assert!(stats["stats"]["tasks"].as_i64().unwrap() >= 2, "{stats}");
    for client in [&oauth, &oauth_admin] {
        let refused = client.call("list_users", json!({})).await;
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert!(refused.header("www-authenticate").is_none());
        assert!(
            refused.body["error_description"]
                .as_str()
                .unwrap()
                .contains("API keys"),
            "{}",
            refused.body
        );
    }
    let refused = tasks.call("list_users", json!({})).await;
    assert_eq!(refused.status, 403);
    assert!(
        refused
            .header("www-authenticate")
            .unwrap()
            .contains(r#"scope="tasks:read tasks:write admin""#),
        "the step-up scope keeps what the credential has and adds admin"
    );
    // The admin key holds no task scopes.
    assert_eq!(admin.call("list_tasks", json!({})).await.status, 403);

    // tools/list: each caller sees what it may call.
    let oauth_tools = seen(&oauth).await;
    assert!(oauth_tools.contains(&"create_task".to_owned()));
    assert!(
        !oauth_tools
            .iter()
            .any(|t| t == "list_users" || t == "system_stats")
    );
    let admin_tools = seen(&admin).await;
    assert_eq!(admin_tools.len(), 5, "{admin_tools:?}");
    assert!(admin_tools.contains(&"delete_user".to_owned()));
    let reader_tools = seen(&reader).await;
    assert!(reader_tools.contains(&"get_task".to_owned()));
    assert!(!reader_tools.contains(&"update_task".to_owned()));
}

/// User context: a trusted key acts for the named user and only that user's data; an
/// untrusted key, or a bearer token, sending the header is refused rather than ignored.
async fn user_context(db: Db) {
    let app = TestApp::spawn(db).await;
    let trusted = create_key(
        &app,
        &[
            "--name",
            "gateway",
            "--scopes",
            "tasks:read tasks:write",
            "--trusted",
        ],
    );
    let untrusted = create_key(&app, &["--name", "plain", "--scopes", "tasks:read"]);

    let as_bob = key_client(&app, &trusted).header("X-Mcp-User", "bob");
    let made = as_bob.ok("create_task", json!({"title": "bob's"})).await;
    let id = made["task"]["id"].as_str().unwrap().to_owned();
    // Bob, signing in himself, sees the task the gateway filed for him.
    let bob = app.client("bob");
    assert_eq!(
        bob.ok("get_task", json!({"task_id": id})).await["task"]["title"],
        "bob's"
    );
    // The same key acting for carol (X-User-ID works too) cannot see or touch it.
    let as_carol = key_client(&app, &trusted).header("X-User-ID", "carol");
    let err = as_carol
        .tool_error("get_task", json!({"task_id": id}))
        .await;
    assert_eq!(err["error_type"], "not_found_error");
    let err = as_carol
        .tool_error("delete_task", json!({"task_id": id}))
        .await;
    assert_eq!(err["error_type"], "not_found_error");
    assert_eq!(as_carol.ok("list_tasks", json!({})).await["count"], 0);

    // Refused, not ignored.
    let alice = app.client("alice");
    let alice_token = alice.token.clone();
    for client in [
        key_client(&app, &untrusted).header("X-Mcp-User", "bob"),
        alice.header("X-Mcp-User", "bob"),
    ] {
        let refused = client.call("list_tasks", json!({})).await;
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert_eq!(refused.body["error"], "access_denied");
    }
    // Two different users at once is a bad request.
    let both = key_client(&app, &trusted)
        .header("X-Mcp-User", "bob")
        .header("X-User-ID", "carol");
    assert_eq!(both.call("list_tasks", json!({})).await.status, 400);
    // A bearer token and a key at once is a bad request too.
    let mut two_credentials = app.client("alice");
    two_credentials
        .headers
        .push(("X-API-Key".into(), trusted.clone()));
    assert_eq!(
        two_credentials.call("list_tasks", json!({})).await.status,
        400
    );

    // The audit trail attributes the gateway's calls to bob and names the key, not the secret.
    let events = app.audit(&["--user", "bob", "--tool", "create_task"]);
    let event = events.first().expect("create_task for bob is audited");
    assert_eq!(event["acting_user"], "bob");
    assert_eq!(event["method"], "api_key");
    assert_eq!(event["decision"], "allowed");
    let denied = app.audit(&["--decision", "denied"]);
    assert!(
        denied
            .iter()
            .any(|e| e["reason"].as_str().unwrap().contains("trusted API key")),
        "{denied:?}"
    );
    // Neither the keys nor the bearer token reached the audit trail or the server's output.
    let (_, all_events, _) = app.cli(&["audit", "--json", "--limit", "1000"], None);
    let signature = alice_token.rsplit('.').next().unwrap();
    for secret in [secret_of(&trusted), secret_of(&untrusted), signature] {
        assert!(
            !all_events.contains(secret),
            "a secret reached the audit trail"
        );
        assert!(!app.stderr().contains(secret), "a secret reached the log");
    }
}

/// Revoked and expired keys are refused at once, with a 401 challenge; malformed and unknown
/// keys too. Keys are stored hashed, listed without secrets, and never logged or audited.
async fn key_lifecycle(db: Db) {
    let app = TestApp::spawn(db).await;
    let key = create_key(&app, &["--name", "ci", "--scopes", "tasks:read"]);
    let short = create_key(
        &app,
        &[
            "--name",
            "brief",
            "--scopes",
            "tasks:read",
            "--expires-in",
            "1s",
        ],
    );
    let client = key_client(&app, &key);
    client.ok("list_tasks", json!({})).await;

    let (ok, listing, _) = app.cli(&["apikey", "list"], None);
    assert!(ok);
    assert!(listing.contains("ci") && listing.contains("active"));
    assert!(!listing.contains(&key), "list must not print the secret");

    let (ok, _, stderr) = app.cli(&["apikey", "revoke", "ci"], None);
    assert!(ok, "{stderr}");
    let refused = client.call("list_tasks", json!({})).await;
    assert_eq!(refused.status, 401);
    assert!(
        refused
            .header("www-authenticate")
            .unwrap()
            .contains("resource_metadata=")
    );
    assert_eq!(refused.body["error"], "invalid_api_key");
    let (ok, _, _) = app.cli(&["apikey", "revoke", "ci"], None);
    assert!(!ok, "revoking twice fails");

    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let expired = key_client(&app, &short).call("list_tasks", json!({})).await;
    assert_eq!(expired.status, 401);
    assert!(
        expired.body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );

    // A key with one character changed, an unknown id, and garbage.
    let mut tampered = key.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    for bad in [
        tampered.as_str(),
        "pck_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "hunter2",
    ] {
        assert_eq!(
            key_client(&app, bad)
                .call("list_tasks", json!({}))
                .await
                .status,
            401
        );
    }

    // Bad input to the CLI: one clear line, nothing created.
    for args in [
        vec!["--name", "bad name", "--scopes", "tasks:read"],
        vec!["--name", "ok", "--scopes", ""],
        vec![
            "--name",
            "ok",
            "--scopes",
            "tasks:read",
            "--expires-in",
            "soon",
        ],
        vec!["--name", "brief", "--scopes", "tasks:read"],
    ] {
        let mut full = vec!["apikey", "create"];
        full.extend(args.iter().copied());
        let (ok, stdout, stderr) = app.cli(&full, None);
        assert!(!ok && stdout.is_empty(), "{args:?}: {stdout}");
        assert!(stderr.lines().count() <= 3, "{stderr}");
    }

    // Only hashes at rest, and no key in the audit trail or the server's output.
    let denied = app.audit(&["--decision", "denied"]);
    assert!(
        denied
            .iter()
            .any(|e| e["reason"].as_str().unwrap().contains("revoked"))
    );
    assert!(
        denied
            .iter()
            .any(|e| e["reason"].as_str().unwrap().contains("expired"))
    );
    let (_, all_events, _) = app.cli(&["audit", "--json", "--limit", "1000"], None);
    let log = app.stderr();
    for secret in [&key, &short, &tampered] {
        let secret_part = secret_of(secret);
        assert!(
            !all_events.contains(secret_part),
            "a key reached the audit trail"
        );
        assert!(!log.contains(secret_part), "a key reached the log");
    }
    if db == Db::Sqlite {
        let bytes = std::fs::read(app.dir.path().join("test.db")).unwrap();
        let wal = std::fs::read(app.dir.path().join("test.db-wal")).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes) + String::from_utf8_lossy(&wal);
        assert!(!text.contains(secret_of(&key)), "a key is stored in clear");
    }
}

/// Tenants: a token's `org_id` claim or a key's tenant confines every query. Same user names
/// in two tenants are two different users; admin tools see only their own tenant.
async fn tenants(db: Db) {
    let app = TestApp::spawn_in_process(db).await;
    let token_in = |tenant: &str, sub: &str| {
        let mut claims = app
            .issuer
            .claims(sub, "tasks:read tasks:write", &app.mcp_url());
        claims["org_id"] = json!(tenant);
        McpClient::new(app.mcp_url(), app.issuer.sign(&claims))
    };
    let alice_a = token_in("acme", "alice");
    let alice_b = token_in("globex", "alice");
    let made = alice_a
        .ok("create_task", json!({"title": "acme plans"}))
        .await;
    let id = made["task"]["id"].as_str().unwrap().to_owned();
    // Same subject, other tenant: not found, by every tool.
    assert_eq!(alice_b.ok("list_tasks", json!({})).await["count"], 0);
    for tool in ["get_task", "complete_task", "delete_task"] {
        let err = alice_b.tool_error(tool, json!({"task_id": id})).await;
        assert_eq!(err["error_type"], "not_found_error", "{tool}");
    }
    let err = alice_b
        .tool_error("update_task", json!({"task_id": id, "title": "mine now"}))
        .await;
    assert_eq!(err["error_type"], "not_found_error");

    // Keys carry their tenant; a trusted globex key acting for alice is globex's alice.
    let globex_gateway = create_key(
        &app,
        &[
            "--name",
            "globex-gw",
            "--scopes",
            "tasks:read tasks:write",
            "--trusted",
            "--tenant",
            "globex",
        ],
    );
    let via_key = key_client(&app, &globex_gateway).header("X-Mcp-User", "alice");
    assert_eq!(via_key.ok("list_tasks", json!({})).await["count"], 0);
    let err = via_key.tool_error("get_task", json!({"task_id": id})).await;
    assert_eq!(err["error_type"], "not_found_error");

    // Admin keys: acme's admin sees acme's alice, globex's admin cannot find or delete her.
    let acme_admin = key_client(
        &app,
        &create_key(
            &app,
            &[
                "--name", "acme-ops", "--scopes", "admin", "--tenant", "acme",
            ],
        ),
    );
    let globex_admin = key_client(
        &app,
        &create_key(
            &app,
            &[
                "--name",
                "globex-ops",
                "--scopes",
                "admin",
                "--tenant",
                "globex",
            ],
        ),
    );
    let users = acme_admin.ok("list_users", json!({})).await;
    assert_eq!(users["count"], 1, "{users}");
    let alice_id = users["users"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(users["users"][0]["task_count"], 1);
    for tool in ["get_user", "delete_user"] {
        let err = globex_admin
            .tool_error(tool, json!({"user_id": alice_id}))
            .await;
        assert_eq!(err["error_type"], "not_found_error", "{tool}");
    }
    let globex_users = globex_admin.ok("list_users", json!({})).await;
    assert!(
        globex_users["users"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["tenant"] == "globex"),
        "{globex_users}"
    );
    // create_user, then delete_user removes the user with their tasks.
    let carol = acme_admin
        .ok("create_user", json!({"subject": "carol"}))
        .await;
    assert_eq!(carol["user"]["subject"], "carol");
    let dup = acme_admin
        .tool_error("create_user", json!({"subject": "carol"}))
        .await;
    assert_eq!(dup["error_type"], "validation_error");
    let deleted = acme_admin
        .ok("delete_user", json!({"user_id": alice_id}))
        .await;
    assert_eq!(deleted["deleted"], true);
    let err = alice_a.tool_error("get_task", json!({"task_id": id})).await;
    assert_eq!(err["error_type"], "not_found_error");
    // alice can still sign in; she starts afresh.
    assert_eq!(alice_a.ok("list_tasks", json!({})).await["count"], 0);
    let stats = acme_admin.ok("system_stats", json!({})).await;
    assert_eq!(stats["stats"]["tenant"], "acme");
    assert_eq!(stats["stats"]["active_api_keys"], 1);
}

both_backends!(policy_matrix, user_context, key_lifecycle, tenants);

/// Per-tool overrides from the configuration file: admin tools opened to OAuth with an extra
/// scope, `tools/list` filtering switched off; and a bad policy stops start-up with one line.
#[tokio::test]
async fn policy_comes_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("portcullis.toml");
    std::fs::write(
        &config,
        r#"
[policy]
hide_forbidden_tools = false

[policy.tools.admin]
methods = ["oauth", "api_key"]

[policy.tools.system_stats]
scopes = ["admin", "stats:read"]
"#,
    )
    .unwrap();
    let app = TestApp::spawn_with(
        Db::Sqlite,
        support::Options {
            args: vec!["--config".into(), config.display().to_string()],
            ..Default::default()
        },
    )
    .await;
    let admin = McpClient::new(app.mcp_url(), app.token("root", "admin"));
    admin.ok("list_users", json!({})).await;
    let refused = admin.call("system_stats", json!({})).await;
    assert_eq!(refused.status, 403);
    assert!(
        refused
            .header("www-authenticate")
            .unwrap()
            .contains("stats:read")
    );
    let everything = app.client("alice");
    let listed = everything.request("tools/list", json!({}), None).await;
    assert_eq!(tool_names(listed.result()).len(), 13);

    std::fs::write(
        &config,
        "[policy.tools.launch_missiles]\nmethods = [\"oauth\"]\n",
    )
    .unwrap();
    let (ok, _, stderr) = app.cli(&["serve", "--config", &config.display().to_string()], None);
    assert!(!ok);
    assert!(
        stderr.contains("policy.tools.launch_missiles") && stderr.lines().count() == 1,
        "{stderr}"
    );
}
