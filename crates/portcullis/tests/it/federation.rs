//! Signing in with the company's identity provider (issue 21): a real OpenID Connect provider
//! (panva's oidc-provider, tests/idp/oidc_idp.mjs) in front of the built-in authorization
//! server. The official Python SDK client completes the MCP OAuth flow with the user signing in
//! there; ID tokens that fail any check are refused on Portcullis's own page; users are bound to
//! the provider's subject, never merged with a local account by email unless the operator says
//! so; `local_passwords = false` leaves only the providers.

use crate::support;

use reqwest::StatusCode;
use serde_json::Value;
use support::{
    Db, Options, TestApp,
    company_idp::{CompanyIdp, Ended},
    external::{repo_root, run_client, venv_python},
    free_port,
    oauth::{Browser, PASSWORD, TestClient, pkce},
};

/// A company IdP, and Portcullis (built-in authorization server, SQLite) signing users in
/// through it as `corp`, with `extra` keys in the provider's entry and `file_extra` at the top
/// of the configuration file.
async fn behind_company_idp(extra: &str, file_extra: &str) -> (TestApp, CompanyIdp) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let idp = CompanyIdp::start(port, dir.path()).await;
    let config = dir.path().join("portcullis.toml");
    std::fs::write(
        &config,
        format!(
            "{file_extra}\n{}",
            idp.config(&dir.path().join("corp-secret"), extra)
        ),
    )
    .unwrap();
    let app = TestApp::spawn_with(
        Db::Sqlite,
        Options {
            port: Some(port),
            no_key_args: true,
            args: vec!["--config".into(), config.display().to_string()],
            ..Default::default()
        },
    )
    .await;
    // The configuration file lives as long as the server needs it.
    std::mem::forget(dir);
    (app, idp)
}

/// A browser at Portcullis's sign-in page for a new authorization request of `client`.
async fn sign_in_page(app: &TestApp, client: &TestClient) -> (Browser, String, String) {
    let (verifier, challenge) = pkce();
    let mut browser = Browser::new();
    let (status, _, page) = browser
        .get(&app.authorize_url(client, &challenge, "tasks:read tasks:write", "st-1"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    (browser, page, verifier)
}

/// Signs in at the provider as `login` and approves; returns the code's exchange.
async fn sign_in(app: &TestApp, client: &TestClient, login: &str) -> Value {
    let (mut browser, page, verifier) = sign_in_page(app, client).await;
    let consent = browser
        .sign_in_at_idp(app, &page, Some(login), &client.redirect_uri)
        .await;
    assert_eq!(consent.status, StatusCode::OK, "{consent:?}");
    assert!(consent.body.contains("Approve"), "{}", consent.body);
    let (status, location, _) = browser.decide(&app.base, &consent.body, "approve").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let answer = support::oauth::query_of(&location.unwrap());
    let (status, tokens) = app.exchange(client, &answer["code"], &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens
}

fn refused_on_our_page(ended: &Ended, app: &TestApp, client: &TestClient, why: &str) {
    assert!(
        ended.location.is_none(),
        "{why}: redirected to {:?}",
        ended.location
    );
    assert!(
        ended.url.starts_with(&app.base),
        "{why}: ended at {}",
        ended.url
    );
    assert!(
        ended.status.is_client_error(),
        "{why}: {} {}",
        ended.status,
        ended.body
    );
    assert!(!ended.body.contains(&client.redirect_uri), "{why}");
    assert!(
        ended.body.contains("cannot continue"),
        "{why}: {}",
        ended.body
    );
}

fn users(app: &TestApp) -> String {
    let (ok, out, err) = app.cli(&["user", "list"], None);
    assert!(ok, "{err}");
    out
}

/// The official Python SDK client: 401, discovery, registration, PKCE, then the user signs in
/// at the company IdP; the account is provisioned with the IdP's tenant; a user of a refused
/// domain ends on Portcullis's error page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_client_signs_in_at_the_company_idp() {
    let (app, idp) = behind_company_idp("allowed_domains = [\"example.com\"]", "").await;
    let client = repo_root().join("tests/clients/python_idp_client.py");
    let run = |login: &'static str, refused: bool| {
        let mut args = vec![
            client.display().to_string(),
            app.mcp_url(),
            "corp".to_owned(),
            login.to_owned(),
        ];
        if refused {
            args.push("--expect-refused".into());
        }
        args
    };
    let stdout = run_client(
        "python SDK via IdP",
        &venv_python(),
        &run("alice", false),
        &[],
        &app,
    )
    .await;
    assert!(stdout.contains("python idp OK"), "{stdout}");
    let summary: Value =
        serde_json::from_str(stdout.lines().rev().find(|l| l.starts_with('{')).unwrap()).unwrap();
    assert!(
        summary["tools"].to_string().contains("create_task"),
        "{summary}"
    );
    let list = users(&app);
    let alice = list
        .lines()
        .find(|l| l.starts_with("alice@example.com "))
        .unwrap_or_else(|| panic!("no provisioned account:\n{list}"));
    assert!(alice.contains(" acme "), "the IdP's tenant: {alice}");
    // The code went back with the PKCE verifier and the client authenticated with Basic.
    let exchanges = idp.token_requests().await;
    assert!(
        exchanges
            .iter()
            .all(|r| r["code_verifier"] == true && r["client_auth"] == "basic"),
        "{exchanges:?}"
    );

    let stdout = run_client(
        "python SDK via IdP, refused",
        &venv_python(),
        &run("mallory", true),
        &[],
        &app,
    )
    .await;
    assert!(stdout.contains("python idp refused OK"), "{stdout}");
    assert!(stdout.contains("other.test"), "says which domain: {stdout}");
    assert!(
        !users(&app).contains("mallory"),
        "a refused user gets no account"
    );
}

/// Every ID token check: a wrong nonce, audience or issuer, an expired token and one signed by
/// another key under the provider's key id are each refused on Portcullis's page, and a clean
/// sign-in right after works (so the refusal was the token's). A cancelled sign-in, a replayed
/// callback and a callback in another browser end there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_tokens_failing_any_check_are_refused() {
    let (app, idp) = behind_company_idp("", "").await;
    let client = app.register_public_client().await;
    for fault in [
        "wrong_nonce",
        "wrong_aud",
        "wrong_iss",
        "expired",
        "foreign_key",
    ] {
        idp.arm(fault).await;
        let (mut browser, page, _) = sign_in_page(&app, &client).await;
        let ended = browser
            .sign_in_at_idp(&app, &page, Some("alice"), &client.redirect_uri)
            .await;
        refused_on_our_page(&ended, &app, &client, fault);
        assert!(
            ended.body.contains("ID token was refused"),
            "{fault}: {}",
            ended.body
        );
    }
    let tokens = sign_in(&app, &client, "alice").await;
    assert!(tokens["access_token"].is_string());

    let (mut browser, page, _) = sign_in_page(&app, &client).await;
    let cancelled = browser
        .sign_in_at_idp(&app, &page, None, &client.redirect_uri)
        .await;
    refused_on_our_page(&cancelled, &app, &client, "cancel");
    assert!(
        cancelled.body.contains("access_denied"),
        "{}",
        cancelled.body
    );

    // The callback URL of a finished sign-in, replayed; and one taken to another browser.
    let (mut browser, page, _) = sign_in_page(&app, &client).await;
    let request = support::oauth::hidden(&page, "request").unwrap();
    let csrf = support::oauth::hidden(&page, "csrf").unwrap();
    let (_, to_idp, _) = browser
        .post_form(
            &format!("{}/authorize/federated", app.base),
            &[("request", &request), ("csrf", &csrf), ("idp", "corp")],
        )
        .await;
    let state = support::oauth::query_of(&to_idp.unwrap())["state"].clone();
    let callback = format!(
        "{}/authorize/federated/callback?state={state}&code=made-up",
        app.base
    );
    let elsewhere = Browser::new().follow(&callback, &client.redirect_uri).await;
    refused_on_our_page(&elsewhere, &app, &client, "another browser");
    let replayed = browser.follow(&callback, &client.redirect_uri).await;
    refused_on_our_page(&replayed, &app, &client, "replayed state");
    assert!(
        replayed.body.contains("already finished"),
        "{}",
        replayed.body
    );
}

/// A local account whose username is the user's email is not taken over by a provider sign-in
/// (a new account is made, under another name), unless the operator sets `link_by_email`; the
/// same provider subject is the same account every time; `local_passwords = false` removes the
/// password form and refuses a posted password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_bound_to_the_subject_and_passwords_can_be_turned_off() {
    let (app, _idp) = behind_company_idp("", "local_passwords = false").await;
    app.add_user("alice@example.com");
    let client = app.register_public_client().await;
    let (mut browser, page, _) = sign_in_page(&app, &client).await;
    assert!(!page.contains("name=\"password\""), "{page}");
    assert!(page.contains("Sign in with corp"), "{page}");
    let request = support::oauth::hidden(&page, "request").unwrap();
    let csrf = support::oauth::hidden(&page, "csrf").unwrap();
    let (status, location, body) = browser
        .post_form(
            &format!("{}/authorize/login", app.base),
            &[
                ("request", &request),
                ("csrf", &csrf),
                ("username", "alice@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(location.is_none());

    let first = sign_in(&app, &client, "alice").await;
    let second = sign_in(&app, &client, "alice").await;
    let subject = |tokens: &Value| {
        let claims = support::keys::unverified_claims(tokens["access_token"].as_str().unwrap());
        claims["sub"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        subject(&first),
        subject(&second),
        "one subject, one account"
    );
    let list = users(&app);
    let local = list
        .lines()
        .find(|l| l.starts_with("alice@example.com "))
        .unwrap();
    assert!(
        !local.contains(&subject(&first)),
        "not merged by email:\n{list}"
    );
    assert!(list.lines().any(|l| l.starts_with("corp-")), "{list}");

    // With link_by_email the provider's user becomes the local account of that email, if it
    // is in the tenant the provider names; never one of another tenant.
    let (app, _idp) = behind_company_idp("link_by_email = true", "").await;
    let add = |name: &str, tenant: Option<&str>| {
        let mut args = vec!["user", "add", name, "--password-stdin"];
        args.extend(tenant.map(|t| ["--tenant", t]).into_iter().flatten());
        let (ok, _, err) = app.cli(&args, Some(&format!("{PASSWORD}\n")));
        assert!(ok, "{err}");
    };
    add("bob@example.com", Some("acme"));
    add("carol@example.com", None);
    let client = app.register_public_client().await;
    let tokens = sign_in(&app, &client, "bob").await;
    let list = users(&app);
    let bob = list
        .lines()
        .find(|l| l.starts_with("bob@example.com "))
        .unwrap();
    assert!(bob.contains(&subject(&tokens)), "linked:\n{list}");
    let (mut browser, page, _) = sign_in_page(&app, &client).await;
    let carol = browser
        .sign_in_at_idp(&app, &page, Some("carol"), &client.redirect_uri)
        .await;
    refused_on_our_page(&carol, &app, &client, "another tenant");
    assert!(carol.body.contains("tenant"), "{}", carol.body);
}

/// Bad `[[identity_providers]]` entries and `local_passwords = false` without a provider stop
/// start-up with one line naming the setting and the fix.
#[tokio::test]
async fn bad_provider_settings_are_named() {
    let dir = tempfile::tempdir().unwrap();
    for (file, says) in [
        ("local_passwords = false\n", "`local_passwords`"),
        (
            "[[identity_providers]]\nname = \"corp\"\nissuer = \"http://idp.example.com\"\nclient_id = \"c\"\n",
            "must be an https URL",
        ),
        (
            "[[identity_providers]]\nname = \"corp\"\nissuer = \"https://idp.example.com\"\nclient_id = \"c\"\nscopes = [\"email\"]\n",
            "scopes must include openid",
        ),
        (
            "[[identity_providers]]\nname = \"corp\"\nissuer = \"https://idp.example.com\"\nclient_id = \"c\"\nclient_secret_env = \"PORTCULLIS_TEST_UNSET_SECRET\"\n",
            "which is not set",
        ),
        (
            "[[identity_providers]]\nname = \"Corp Inc\"\nissuer = \"https://idp.example.com\"\nclient_id = \"c\"\n",
            "a-z, 0-9",
        ),
    ] {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, file).unwrap();
        let out = std::process::Command::new(support::binary())
            .args(["config", "check", "--config", &path.display().to_string()])
            .args(["--data-dir", &dir.path().join("data").display().to_string()])
            .env_remove("PORTCULLIS_CONFIG")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{file}");
        assert!(stderr.contains(says), "{file}: {stderr}");
        assert!(
            stderr.contains("identity_providers") || stderr.contains("local_passwords"),
            "{stderr}"
        );
    }
}
