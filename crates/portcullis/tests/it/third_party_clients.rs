//! The official MCP client SDKs (Python `mcp` and TypeScript `@modelcontextprotocol/sdk`) drive
//! every task tool of the real server over Streamable HTTP with a bearer token.
//!
//! The SDKs are installed into `target/test-clients/` by `scripts/install-test-clients.sh`; the
//! client programs are `tests/clients/python_client.py` and `tests/clients/typescript_client.mjs`.
//! A missing install fails these tests rather than skipping them.

use crate::support;

use std::path::Path;

use support::{
    Db, TestApp,
    external::{repo_root, require_installed, run_client, test_clients_dir},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_client_uses_every_tool() {
    let venv_python = test_clients_dir().join("venv/bin/python");
    require_installed("the Python venv with the `mcp` SDK", &venv_python);
    let script = repo_root().join("tests/clients/python_client.py");
    require_installed("the Python client script", &script);

    let app = TestApp::spawn(Db::Sqlite).await;
    let args = [
        script.display().to_string(),
        app.mcp_url(),
        app.token("alice", "tasks:read tasks:write"),
    ];
    let stdout = run_client("python SDK client", &venv_python, &args, &[], &app).await;
    assert!(
        stdout.contains("python sdk OK"),
        "python SDK client did not report success:\n{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_sdk_client_uses_every_tool() {
    let node_modules = test_clients_dir().join("node/node_modules");
    require_installed(
        "the TypeScript SDK `@modelcontextprotocol/sdk`",
        &node_modules.join("@modelcontextprotocol/sdk/package.json"),
    );
    let script = repo_root().join("tests/clients/typescript_client.mjs");
    require_installed("the TypeScript client script", &script);

    let app = TestApp::spawn(Db::Sqlite).await;
    let args = [
        script.display().to_string(),
        app.mcp_url(),
        app.token("alice", "tasks:read tasks:write"),
    ];
    let envs = [("PORTCULLIS_TEST_NODE_MODULES", node_modules)];
    let stdout = run_client(
        "TypeScript SDK client",
        Path::new("node"),
        &args,
        &envs,
        &app,
    )
    .await;
    assert!(
        stdout.contains("typescript sdk OK"),
        "TypeScript SDK client did not report success:\n{stdout}"
    );
}

/// The Python SDK's own OAuth client against the built-in authorization server: discovery from
/// the 401, dynamic registration, PKCE, login and consent forms, token, tools, refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_client_logs_in_through_the_builtin_authorization_server() {
    let venv_python = test_clients_dir().join("venv/bin/python");
    require_installed("the Python venv with the `mcp` SDK", &venv_python);
    let script = repo_root().join("tests/clients/python_oauth_client.py");
    require_installed("the Python OAuth client script", &script);

    let app = TestApp::spawn_builtin(Db::Sqlite, &[]).await;
    let args = [
        script.display().to_string(),
        app.mcp_url(),
        "alice".to_owned(),
        support::oauth::PASSWORD.to_owned(),
    ];
    let stdout = run_client("python SDK OAuth client", &venv_python, &args, &[], &app).await;
    assert!(
        stdout.contains("python oauth OK"),
        "python SDK OAuth client did not report success:\n{stdout}"
    );
    // Nothing secret reaches the server's log.
    let log = app.stderr();
    assert!(
        !log.contains(support::oauth::PASSWORD),
        "the password was logged"
    );
    assert!(
        !log.contains("pcr_") && !log.contains("pca_") && !log.contains("pcs_"),
        "a secret was logged:\n{log}"
    );
}

/// A client pointed at `localhost` while the server's public URL was derived from its
/// `127.0.0.1` bind: the metadata names the resource the client used, and its whole OAuth flow
/// and tool calls work (the official SDK aborts when `resource` does not match its URL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_client_logs_in_at_localhost_without_a_public_url() {
    let venv_python = test_clients_dir().join("venv/bin/python");
    require_installed("the Python venv with the `mcp` SDK", &venv_python);
    let script = repo_root().join("tests/clients/python_oauth_client.py");
    let app = TestApp::spawn_with(
        Db::Sqlite,
        support::Options {
            no_key_args: true,
            derived_public_url: true,
            ..Default::default()
        },
    )
    .await;
    app.add_user("alice");
    let localhost = format!("http://localhost:{}/mcp", app.port);
    let prm: serde_json::Value = reqwest::get(format!(
        "http://localhost:{}/.well-known/oauth-protected-resource/mcp",
        app.port
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(prm["resource"], localhost.as_str(), "{prm}");
    let args = [
        script.display().to_string(),
        localhost,
        "alice".to_owned(),
        support::oauth::PASSWORD.to_owned(),
    ];
    let stdout = run_client(
        "python SDK OAuth client at localhost",
        &venv_python,
        &args,
        &[],
        &app,
    )
    .await;
    assert!(stdout.contains("python oauth OK"), "{stdout}");
}

/// Headless Chromium fills in and submits the login and consent pages (no JavaScript needed);
/// the code it brings back is exchanged for a working token. Screenshots of both pages are left
/// in `target/screenshots/` for a person to look at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_logs_in_and_approves_on_the_builtin_pages() {
    let node_modules = test_clients_dir().join("node/node_modules");
    require_installed(
        "playwright-core",
        &node_modules.join("playwright-core/package.json"),
    );
    require_installed(
        "Debian's Chromium (apt-get install chromium)",
        Path::new("/usr/bin/chromium"),
    );
    let script = repo_root().join("tests/clients/browser_login.mjs");

    let app = TestApp::spawn_builtin(Db::Sqlite, &[]).await;
    let client = app.register_public_client().await;
    let (verifier, challenge) = support::oauth::pkce();
    let url = app.authorize_url(
        &client,
        &challenge,
        "tasks:read tasks:write",
        "browser-state",
    );
    let shots = repo_root().join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let args = [
        script.display().to_string(),
        url,
        client.redirect_uri.clone(),
        "alice".to_owned(),
        support::oauth::PASSWORD.to_owned(),
        shots.display().to_string(),
    ];
    let envs = [("PORTCULLIS_TEST_NODE_MODULES", node_modules)];
    let stdout = run_client("Chromium login", Path::new("node"), &args, &envs, &app).await;
    let response: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(response["state"], "browser-state");
    assert_eq!(response["iss"], app.base.as_str());
    let (status, tokens) = app
        .exchange(&client, response["code"].as_str().unwrap(), &verifier)
        .await;
    assert_eq!(status, 200, "{tokens}");
    assert!(shots.join("login.png").exists() && shots.join("consent.png").exists());
}
