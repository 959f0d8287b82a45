//! The built-in authorization server end to end, over real HTTP against the real binary:
//! metadata, registration, login and consent, code exchange, refresh rotation, replay and
//! reuse detection, client credentials, revocation, introspection, key rotation, metadata
//! documents, and every "deny by default" rule.

use crate::support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{
    Db, McpClient, TestApp,
    oauth::{Browser, PASSWORD, TestClient, pkce, query_of},
};

async fn builtin(db: Db, extra: &[&str]) -> TestApp {
    TestApp::spawn_builtin(db, extra).await
}

async fn list_status(app: &TestApp, token: &str) -> u16 {
    McpClient::new(app.mcp_url(), token.to_owned())
        .call("list_tasks", json!({}))
        .await
        .status
}

async fn full_flow(db: Db) {
    // Strict rotation: any reuse revokes (the grace window has its own test).
    let app = builtin(db, &["--refresh-reuse-grace-secs", "0"]).await;

    // Discovery, as a client does it: PRM names the issuer, whose metadata matches exactly.
    let prm = app
        .get_json("/.well-known/oauth-protected-resource/mcp")
        .await
        .1;
    let issuer = prm["authorization_servers"][0].as_str().unwrap().to_owned();
    assert_eq!(issuer, app.base);
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let meta = app.get_json(path).await.1;
        assert_eq!(meta["issuer"], issuer, "{path}");
        assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
        assert_eq!(meta["client_id_metadata_document_supported"], true);
        for key in [
            "registration_endpoint",
            "jwks_uri",
            "scopes_supported",
            "grant_types_supported",
            "token_endpoint_auth_methods_supported",
        ] {
            assert!(!meta[key].is_null(), "{path} lacks {key}");
        }
    }
    let jwks = app.get_json("/jwks.json").await.1;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);

    let client = app.register_public_client().await;
    let (response, verifier) = app
        .authorize(&client, "alice", "tasks:read tasks:write")
        .await;
    assert_eq!(response["state"], "st-123");
    assert_eq!(response["iss"], issuer);
    let code = &response["code"];

    let (status, tokens) = app.exchange(&client, code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "tasks:read tasks:write");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    // The token works on the MCP endpoint, as alice.
    let mcp = McpClient::new(app.mcp_url(), access.clone());
    let created = mcp.ok("create_task", json!({"title": "from oauth"})).await;
    assert_eq!(created["task"]["title"], "from oauth");
    let listed = mcp.ok("list_tasks", json!({})).await;
    assert_eq!(listed["tasks"].as_array().unwrap().len(), 1);

    // Refresh rotates: a new pair, the old refresh token is spent.
    let (status, rotated) = app.refresh(&client, &refresh).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_refresh = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, refresh);
    let new_access = rotated["access_token"].as_str().unwrap().to_owned();
    assert_eq!(list_status(&app, &new_access).await, 200);

    // Reuse of the spent refresh token revokes the whole family.
    let (status, body) = app.refresh(&client, &refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    let (status, body) = app.refresh(&client, &new_refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(list_status(&app, &new_access).await, 401);
    assert_eq!(list_status(&app, &access).await, 401);
}

async fn code_replay_revokes_what_the_code_issued(db: Db) {
    let app = builtin(db, &[]).await;
    let client = app.register_public_client().await;
    let (response, verifier) = app.authorize(&client, "alice", "tasks:read").await;
    let (status, tokens) = app.exchange(&client, &response["code"], &verifier).await;
    assert_eq!(status, StatusCode::OK);
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(list_status(&app, &access).await, 200);

    let (status, body) = app.exchange(&client, &response["code"], &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        list_status(&app, &access).await,
        401,
        "replay must revoke the first tokens"
    );
    let (status, _) = app
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// Within the grace window the same refresh token from its client gets the same answer (an
/// answer lost on the way); once that answer's refresh token is used, or after the window, the
/// old token coming back revokes the grant.
async fn a_lost_refresh_answer_is_given_again_within_the_grace_window(db: Db) {
    let app = builtin(db, &["--refresh-reuse-grace-secs", "2"]).await;
    let client = app.register_public_client().await;
    let authorized = || async {
        let (response, verifier) = app.authorize(&client, "alice", "tasks:read").await;
        let (status, tokens) = app.exchange(&client, &response["code"], &verifier).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        tokens["refresh_token"].as_str().unwrap().to_owned()
    };
    let field = |v: &Value, k: &str| v[k].as_str().unwrap().to_owned();

    let r0 = authorized().await;
    let (status, first) = app.refresh(&client, &r0).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, again) = app.refresh(&client, &r0).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        field(&again, "refresh_token"),
        field(&first, "refresh_token")
    );
    assert_eq!(field(&again, "access_token"), field(&first, "access_token"));
    assert!(again["expires_in"].as_u64().unwrap() <= first["expires_in"].as_u64().unwrap());
    // Another client holding the token gets nothing.
    let response = app
        .http
        .post(format!("{}/register", app.base))
        .json(&json!({
            "client_name": "Another Agent", "redirect_uris": ["http://127.0.0.1/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none", "application_type": "native",
        }))
        .send()
        .await
        .unwrap();
    let other = TestClient {
        client_id: response.json::<Value>().await.unwrap()["client_id"]
            .as_str()
            .unwrap()
            .to_owned(),
        secret: None,
        redirect_uri: client.redirect_uri.clone(),
    };
    assert_ne!(other.client_id, client.client_id);
    let (status, _) = app.refresh(&other, &r0).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // The successor used, the old token again is a replay: the grant goes.
    let (status, second) = app.refresh(&client, &field(&first, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let (status, body) = app.refresh(&client, &r0).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        list_status(&app, &field(&second, "access_token")).await,
        401
    );

    // After the window (a clock in the server's process: nothing to poll), reuse revokes.
    let r0 = authorized().await;
    let (status, first) = app.refresh(&client, &r0).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    let (status, body) = app.refresh(&client, &r0).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(list_status(&app, &field(&first, "access_token")).await, 401);
}

both_backends!(
    full_flow,
    code_replay_revokes_what_the_code_issued,
    a_lost_refresh_answer_is_given_again_within_the_grace_window
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_errors_before_the_redirect_is_trusted_are_shown_not_redirected() {
    let app = builtin(Db::Sqlite, &[]).await;
    let client = app.register_public_client().await;
    let (_, challenge) = pkce();
    let mut browser = Browser::new();

    let unknown = TestClient {
        client_id: "pcc_nope".into(),
        secret: None,
        redirect_uri: client.redirect_uri.clone(),
    };
    let (status, location, page) = browser
        .get(&app.authorize_url(&unknown, &challenge, "tasks:read", "s"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(location.is_none());
    assert!(page.contains("no client"), "{page}");

    for bad in [
        "http://127.0.0.1:49152/other",
        "https://evil.example/callback",
        "http://localhost:49152/callback",
    ] {
        let wrong = TestClient {
            client_id: client.client_id.clone(),
            secret: None,
            redirect_uri: bad.into(),
        };
        let (status, location, page) = browser
            .get(&app.authorize_url(&wrong, &challenge, "tasks:read", "s"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(location.is_none(), "{bad} must not be redirected to");
        assert!(page.contains("not registered"), "{page}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_errors_after_the_redirect_is_trusted_go_back_with_iss_and_state() {
    let app = builtin(Db::Sqlite, &[]).await;
    // Trusted: the operator registered this redirect URI (a self-registered client's errors
    // stay on the server's own page, tests/security.rs item 8).
    let (ok, out, err) = app.cli(
        &[
            "client",
            "add",
            "Vetted",
            "--redirect-uri",
            "http://127.0.0.1/callback",
        ],
        None,
    );
    assert!(ok, "{err}");
    let client = support::oauth::TestClient {
        client_id: out
            .lines()
            .find_map(|l| l.strip_prefix("client_id: "))
            .unwrap()
            .to_owned(),
        secret: None,
        redirect_uri: "http://127.0.0.1:49152/callback".into(),
    };
    let (_, challenge) = pkce();
    let base_url = app.authorize_url(&client, &challenge, "tasks:read", "st");
    let cases: Vec<(String, &str)> = vec![
        (
            base_url.replace("&code_challenge_method=S256", ""),
            "invalid_request",
        ),
        (
            base_url.replace("code_challenge_method=S256", "code_challenge_method=plain"),
            "invalid_request",
        ),
        (
            base_url
                .replace(&format!("code_challenge={challenge}&"), "")
                .replace("&code_challenge_method=S256", ""),
            "invalid_request",
        ),
        (
            base_url.replace("scope=tasks%3Aread", "scope=tasks%3Aread+admin"),
            "invalid_scope",
        ),
        (
            base_url.replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (
            base_url.replace(
                &url::form_urlencoded::byte_serialize(app.mcp_url().as_bytes()).collect::<String>(),
                "https%3A%2F%2Fother.example%2Fmcp",
            ),
            "invalid_target",
        ),
    ];
    for (url, error) in cases {
        let (status, location, _) = Browser::new().get(&url).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{url}");
        let params = query_of(&location.unwrap());
        assert_eq!(params["error"], error, "{url}");
        assert_eq!(params["state"], "st");
        assert_eq!(params["iss"], app.base);
        assert!(!params["error_description"].is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_denies_by_default() {
    let app = builtin(Db::Sqlite, &["--authorization-code-ttl-secs", "1"]).await;
    let client = app.register_public_client().await;

    // Wrong PKCE verifier: refused, and the code is burnt.
    let (response, verifier) = app.authorize(&client, "alice", "tasks:read").await;
    let (other_verifier, _) = pkce();
    let (status, body) = app
        .exchange(&client, &response["code"], &other_verifier)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, _) = app.exchange(&client, &response["code"], &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Missing verifier.
    let (response, _) = app.authorize(&client, "alice", "tasks:read").await;
    let (status, body, _) = app
        .token_request(
            &[
                ("grant_type", "authorization_code"),
                ("code", &response["code"]),
                ("client_id", &client.client_id),
            ],
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );

    // Expired code (1 s lifetime).
    let (response, verifier) = app.authorize(&client, "alice", "tasks:read").await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (status, body) = app.exchange(&client, &response["code"], &verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );

    // Redirect URI mismatch at the token endpoint.
    let (response, verifier) = app.authorize(&client, "alice", "tasks:read").await;
    let mcp = app.mcp_url();
    let (status, body, _) = app
        .token_request(
            &[
                ("grant_type", "authorization_code"),
                ("code", &response["code"]),
                ("code_verifier", &verifier),
                ("client_id", &client.client_id),
                ("redirect_uri", "http://127.0.0.1:1/elsewhere"),
                ("resource", &mcp),
            ],
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // Unknown client, unsupported grant type, duplicated parameter.
    let (status, body, _) = app
        .token_request(
            &[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("client_id", "pcc_nope"),
            ],
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (status, body, _) = app
        .token_request(
            &[("grant_type", "password"), ("client_id", &client.client_id)],
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );
    let (status, body, _) = app
        .token_request(
            &[
                ("grant_type", "refresh_token"),
                ("grant_type", "refresh_token"),
                ("client_id", &client.client_id),
            ],
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    // A public client may not use client_credentials.
    let (status, body, _) = app
        .token_request(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &client.client_id),
            ],
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_denies_bad_metadata() {
    let app = builtin(Db::Sqlite, &["--max-registrations-per-hour", "3"]).await;
    let register = |body: Value| {
        let http = app.http.clone();
        let url = format!("{}/register", app.base);
        async move {
            let r = http.post(url).json(&body).send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let cases = [
        (
            json!({"redirect_uris": ["http://evil.example/cb"], "token_endpoint_auth_method": "none"}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb#frag"]}),
            "invalid_redirect_uri",
        ),
        (json!({"redirect_uris": []}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "scope": "tasks:read root"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "grant_types": ["password"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "application_type": "desktop"}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
            "invalid_client_metadata",
        ),
    ];
    for (body, error) in cases {
        let (status, answer) = register(body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer["error"], error, "{body}: {answer}");
    }
    // Confidential by default (RFC 7591: client_secret_basic), secret shown once.
    let (status, answer) =
        register(json!({"redirect_uris": ["https://app.example/cb"], "client_name": "Web app"}))
            .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(
        answer["client_secret"]
            .as_str()
            .unwrap()
            .starts_with("pcs_")
    );
    assert_eq!(answer["client_secret_expires_at"], 0);
    assert_eq!(answer["token_endpoint_auth_method"], "client_secret_basic");
    // The hourly cap.
    register(json!({"redirect_uris": ["https://app.example/cb"]})).await;
    register(json!({"redirect_uris": ["https://app.example/cb"]})).await;
    let (status, answer) = register(json!({"redirect_uris": ["https://app.example/cb"]})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_and_consent_forms_are_csrf_protected_throttled_and_deniable() {
    let app = builtin(Db::Sqlite, &[]).await;
    let client = app.register_public_client().await;
    let (_, challenge) = pkce();
    let url = app.authorize_url(&client, &challenge, "tasks:read", "st");

    // A form posted from another browser (no cookie) or with a forged token is refused.
    let mut browser = Browser::new();
    let (_, _, page) = browser.get(&url).await;
    let request = support::oauth::hidden(&page, "request").unwrap();
    let csrf = support::oauth::hidden(&page, "csrf").unwrap();
    let login = format!("{}/authorize/login", app.base);
    let form = [
        ("request", request.as_str()),
        ("csrf", csrf.as_str()),
        ("username", "alice"),
        ("password", PASSWORD),
    ];
    let (status, _, _) = Browser::new().post_form(&login, &form).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let forged = [
        ("request", request.as_str()),
        ("csrf", "0000"),
        ("username", "alice"),
        ("password", PASSWORD),
    ];
    let (status, _, _) = browser.post_form(&login, &forged).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Wrong passwords are refused, then the account is locked even for the right one.
    for _ in 0..5 {
        let (status, _, body) = browser
            .login(&app.base, &page, "alice", "wrong password!")
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(body.contains("Wrong username or password"));
    }
    let (status, _, body) = browser.login(&app.base, &page, "alice", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // Unknown users get the same answer as wrong passwords.
    let (status, _, body) = browser.login(&app.base, &page, "mallory", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("Wrong username or password"));
    // The operator resets the password, which lifts the lock.
    let (ok, _, err) = app.cli(
        &["user", "passwd", "alice", "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(ok, "{err}");

    // Deny: the client is told access_denied, with state and iss.
    let (_, _, consent) = browser.login(&app.base, &page, "alice", PASSWORD).await;
    assert!(
        consent.contains("Test Agent") && consent.contains("tasks:read"),
        "{consent}"
    );
    assert!(consent.contains("name=\"approve\"") && consent.contains("name=\"deny\""));
    let (status, location, _) = browser.decide(&app.base, &consent, "deny").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let params = query_of(&location.unwrap());
    assert_eq!(
        (params["error"].as_str(), params["state"].as_str()),
        ("access_denied", "st")
    );
    assert_eq!(params["iss"], app.base);
    // The decision is final: posting again does nothing.
    let (status, location, _) = browser.decide(&app.base, &consent, "approve").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(location.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_introspection_and_revocation() {
    let app = builtin(Db::Sqlite, &[]).await;
    let (ok, out, err) = app.cli(
        &[
            "client",
            "add",
            "Nightly sync",
            "--confidential",
            "--scopes",
            "tasks:read",
        ],
        None,
    );
    assert!(ok, "{err}");
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap()
            .to_owned()
    };
    let (id, secret) = (field("client_id"), field("client_secret"));

    // Wrong secret: 401 with a Basic challenge.
    let (status, body, headers) = app
        .token_request(
            &[("grant_type", "client_credentials")],
            Some((&id, "wrong")),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    // Beyond the client's allowed scopes.
    let (status, body, _) = app
        .token_request(
            &[
                ("grant_type", "client_credentials"),
                ("scope", "tasks:write"),
            ],
            Some((&id, &secret)),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );

    let (status, body, headers) = app
        .token_request(
            &[("grant_type", "client_credentials")],
            Some((&id, &secret)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(body.get("refresh_token").is_none());
    let access = body["access_token"].as_str().unwrap().to_owned();
    // A service identity, not a user: the default policy lets it call no tool (403), and
    // revoking it below turns that into 401.
    assert_eq!(list_status(&app, &access).await, 403);

    let introspect = |token: String, creds: (String, String)| {
        let http = app.http.clone();
        let url = format!("{}/introspect", app.base);
        async move {
            let r = http
                .post(url)
                .basic_auth(creds.0, Some(creds.1))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, info) = introspect(access.clone(), (id.clone(), secret.clone())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["active"], true);
    assert_eq!(info["sub"], id.as_str());
    assert_eq!(info["scope"], "tasks:read");
    let (status, _) = introspect(access.clone(), (id.clone(), "bad".into())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, info) = introspect("garbage".into(), (id.clone(), secret.clone())).await;
    assert_eq!(info, json!({"active": false}));

    // RFC 7009: revoke; the token stops working at once.
    let r = app
        .http
        .post(format!("{}/revoke", app.base))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(list_status(&app, &access).await, 401);
    let (_, info) = introspect(access.clone(), (id.clone(), secret.clone())).await;
    assert_eq!(info, json!({"active": false}));
    // Unknown tokens are "revoked" too (200), revealing nothing.
    let r = app
        .http
        .post(format!("{}/revoke", app.base))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", "pcr_unknown")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Removing the client revokes what it holds and stops new tokens.
    let (_, body, _) = app
        .token_request(
            &[("grant_type", "client_credentials")],
            Some((&id, &secret)),
        )
        .await;
    let second = body["access_token"].as_str().unwrap().to_owned();
    let (ok, _, err) = app.cli(&["client", "remove", &id], None);
    assert!(ok, "{err}");
    let (status, _, _) = app
        .token_request(
            &[("grant_type", "client_credentials")],
            Some((&id, &secret)),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Another process revoked it: this server learns within its polling interval.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while list_status(&app, &second).await != 401 {
        assert!(
            std::time::Instant::now() < deadline,
            "revocation by another process never arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_without_restart_and_old_tokens_keep_working() {
    let app = builtin(Db::Sqlite, &[]).await;
    let client = app.register_public_client().await;
    let (response, verifier) = app.authorize(&client, "alice", "tasks:read").await;
    let (_, tokens) = app.exchange(&client, &response["code"], &verifier).await;
    let old_access = tokens["access_token"].as_str().unwrap().to_owned();
    let old_kid = app.get_json("/jwks.json").await.1["keys"][0]["kid"]
        .as_str()
        .unwrap()
        .to_owned();

    let (ok, new_kid, err) = app.cli(&["keys", "rotate"], None);
    assert!(ok, "{err}");
    let new_kid = new_kid.trim().to_owned();
    assert_ne!(new_kid, old_kid);
    // A token signed by the new key (minted by the CLI) is accepted by the running server.
    let (ok, minted, err) = app.cli(&["token", "mint", "--sub", "bob"], None);
    assert!(ok, "{err}");
    assert_eq!(list_status(&app, minted.trim()).await, 200);
    assert_eq!(
        list_status(&app, &old_access).await,
        200,
        "tokens of the retired key stay valid"
    );
    // Within a couple of seconds the server signs with the new key and publishes both.
    let wanted = vec![new_kid.clone(), old_kid];
    support::eventually(
        "both keys published",
        std::time::Duration::from_secs(15),
        || async {
            let kids: Vec<String> = app.get_json("/jwks.json").await.1["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                .collect();
            if kids == wanted { Ok(()) } else { Err(kids) }
        },
    )
    .await;
    let (_, refreshed) = app
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    let header = refreshed["access_token"]
        .as_str()
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .to_owned();
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap(),
    )
    .unwrap();
    assert_eq!(header["kid"], new_kid.as_str());
    assert_eq!(header["typ"], "at+jwt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_id_metadata_documents_are_fetched_in_development_mode_only() {
    // The client's document, served by the "client" on a loopback port.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let doc_url = format!(
        "http://127.0.0.1:{}/client.json",
        listener.local_addr().unwrap().port()
    );
    let doc = json!({
        "client_id": doc_url,
        "client_name": "Document Client",
        "redirect_uris": ["http://127.0.0.1/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
        "application_type": "native",
    });
    let router = axum::Router::new().route(
        "/client.json",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { axum::Json(doc) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let client = TestClient {
        client_id: doc_url.clone(),
        secret: None,
        redirect_uri: "http://127.0.0.1:50000/callback".into(),
    };

    let dev = builtin(Db::Sqlite, &["--dev-mode"]).await;
    let (response, verifier) = dev.authorize(&client, "alice", "tasks:read").await;
    let (status, tokens) = dev.exchange(&client, &response["code"], &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(
        list_status(&dev, tokens["access_token"].as_str().unwrap()).await,
        200
    );

    // Without development mode a loopback http document is never fetched.
    let prod = builtin(Db::Sqlite, &[]).await;
    let (_, challenge) = pkce();
    let (status, location, page) = Browser::new()
        .get(&prod.authorize_url(&client, &challenge, "tasks:read", "s"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(location.is_none());
    assert!(page.contains("https"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_commands_manage_accounts() {
    let app = builtin(Db::Sqlite, &[]).await;
    let (ok, _, err) = app.cli(
        &["user", "add", "alice", "--password-stdin"],
        Some("another password\n"),
    );
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");
    let (ok, _, err) = app.cli(&["user", "add", "bob", "--password-stdin"], Some("short\n"));
    assert!(!ok);
    assert!(err.contains("8 to 1024"), "{err}");
    let (ok, _, err) = app.cli(&["user", "add", "bob"], None);
    assert!(!ok, "no terminal and no --password-stdin must fail");
    assert!(err.contains("--password-stdin"), "{err}");
    let (ok, out, _) = app.cli(&["user", "list"], None);
    assert!(ok);
    assert!(out.contains("alice") && !out.contains("$argon2"), "{out}");

    // Removing a user revokes their tokens.
    let client = app.register_public_client().await;
    let (response, verifier) = app.authorize(&client, "alice", "tasks:read").await;
    let (_, tokens) = app.exchange(&client, &response["code"], &verifier).await;
    let (ok, _, err) = app.cli(&["user", "remove", "alice"], None);
    assert!(ok, "{err}");
    let (status, _) = app
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (ok, _, _) = app.cli(&["user", "remove", "alice"], None);
    assert!(!ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_issuer_mode_has_no_authorization_server() {
    let app = TestApp::spawn(Db::Sqlite).await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/token",
        "/authorize",
    ] {
        let r = app
            .http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let prm = app
        .get_json("/.well-known/oauth-protected-resource/mcp")
        .await
        .1;
    assert_eq!(prm["authorization_servers"][0], app.issuer.issuer.as_str());
}

/// Registrations shaped exactly like those of Claude Code, VS Code and Cursor are accepted;
/// a private-use scheme is named on the consent page; operators can restrict the schemes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn popular_clients_register_and_private_use_schemes_are_named() {
    let app = builtin(Db::Sqlite, &[]).await;
    let register = |body: Value| {
        let (http, url) = (app.http.clone(), format!("{}/register", app.base));
        async move {
            let r = http.post(url).json(&body).send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let claude_code = json!({"client_name": "Claude Code (portcullis)",
        "redirect_uris": ["http://localhost:54545/callback"],
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "token_endpoint_auth_method": "none"});
    let vscode = json!({"client_name": "Visual Studio Code",
        "redirect_uris": ["http://127.0.0.1:33418", "https://vscode.dev/redirect"],
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "token_endpoint_auth_method": "none"});
    let cursor = json!({"client_name": "Cursor",
        "redirect_uris": ["cursor://anysphere.cursor-mcp/oauth/callback",
            "https://www.cursor.com/agents/mcp/oauth/callback", "http://localhost:8787/callback"],
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "token_endpoint_auth_method": "none"});
    for body in [&claude_code, &vscode] {
        let (status, answer) = register(body.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}: {answer}");
    }
    let (status, answer) = register(cursor.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let client = TestClient {
        client_id: answer["client_id"].as_str().unwrap().to_owned(),
        secret: None,
        redirect_uri: "cursor://anysphere.cursor-mcp/oauth/callback".into(),
    };
    let (_, challenge) = pkce();
    let mut browser = Browser::new();
    let (_, _, page) = browser
        .get(&app.authorize_url(&client, &challenge, "tasks:read", "st"))
        .await;
    let (status, _, consent) = browser.login(&app.base, &page, "alice", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{consent}");
    assert!(consent.contains("<code>cursor:</code>"), "{consent}");
    let (status, location, _) = browser.decide(&app.base, &consent, "approve").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        location
            .unwrap()
            .starts_with("cursor://anysphere.cursor-mcp/oauth/callback?code=")
    );

    // Never a scheme that runs code or reads files, and never a remote https for a native app.
    for (uris, kind) in [
        (json!(["javascript:alert(1)"]), "native"),
        (json!(["data:text/html,hi"]), "native"),
        (json!(["file:///etc/passwd"]), "native"),
        (json!(["https://app.example/cb"]), "native"),
        (json!(["cursor://x/cb"]), "web"),
    ] {
        let (status, answer) = register(json!({"redirect_uris": uris, "application_type": kind,
            "token_endpoint_auth_method": "none"}))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uris}");
        assert_eq!(answer["error"], "invalid_redirect_uri", "{answer}");
    }

    // An operator who allows only VS Code's scheme refuses Cursor's.
    let strict = builtin(Db::Sqlite, &["--allowed-redirect-schemes", "vscode"]).await;
    let r = strict
        .http
        .post(format!("{}/register", strict.base))
        .json(&cursor)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let answer: Value = r.json().await.unwrap();
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap()
            .contains("cursor:"),
        "{answer}"
    );
}

/// One identity per user: `token mint --user`, an OAuth sign-in and a trusted key acting for
/// the account name all reach the same tasks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_is_one_subject_whichever_way_they_authenticate() {
    let app = builtin(Db::Sqlite, &[]).await;
    let (ok, token, err) = app.cli(&["token", "mint", "--user", "alice"], None);
    assert!(ok, "{err}");
    let minted = McpClient::new(app.mcp_url(), token.trim().to_owned());
    let created = minted
        .ok("create_task", json!({"title": "from the CLI"}))
        .await;
    let id = created["task"]["id"].clone();

    let client = app.register_public_client().await;
    let (params, verifier) = app.authorize(&client, "alice", "tasks:read").await;
    let (_, tokens) = app.exchange(&client, &params["code"], &verifier).await;
    let signed_in = McpClient::new(
        app.mcp_url(),
        tokens["access_token"].as_str().unwrap().into(),
    );
    let listed = signed_in.ok("list_tasks", json!({})).await;
    assert_eq!(listed["count"], 1, "{listed}");
    assert_eq!(listed["tasks"][0]["id"], id);

    let (ok, key, err) = app.cli(
        &[
            "apikey",
            "create",
            "--name",
            "gw",
            "--scopes",
            "tasks:read",
            "--trusted",
        ],
        None,
    );
    assert!(ok, "{err}");
    let acting = McpClient::with_api_key(app.mcp_url(), key.trim()).header("X-Mcp-User", "alice");
    assert_eq!(
        acting.ok("list_tasks", json!({})).await["tasks"][0]["id"],
        id
    );

    let (ok, _, err) = app.cli(&["token", "mint", "--user", "nobody"], None);
    assert!(!ok);
    assert!(
        err.contains("no account \"nobody\"") && err.contains("--sub"),
        "{err}"
    );
}

/// Registration hygiene: the same client software registering again with identical metadata
/// gets its client back instead of a new row (a confidential one never does: its secret is not
/// kept); `client list` shows each client's last use; a dynamic client idle past every refresh
/// token's lifetime is deleted, a recently used one stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_are_reused_listed_with_their_last_use_and_expire_when_idle() {
    let app = builtin(Db::Sqlite, &["--refresh-token-ttl-secs", "60"]).await;
    let first = app.register_public_client().await;
    let again = app.register_public_client().await;
    assert_eq!(
        first.client_id, again.client_id,
        "identical metadata, one client"
    );
    let register = |body: Value| {
        let http = app.http.clone();
        let url = format!("{}/register", app.base);
        async move {
            let response = http.post(url).json(&body).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
            response.json::<Value>().await.unwrap()
        }
    };
    let renamed = register(json!({
        "client_name": "Another Agent", "redirect_uris": ["http://127.0.0.1/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none", "application_type": "native",
    }))
    .await;
    assert_ne!(renamed["client_id"], first.client_id.as_str());
    let confidential = json!({
        "client_name": "Server App", "redirect_uris": ["https://app.example.com/cb"],
        "grant_types": ["authorization_code"], "token_endpoint_auth_method": "client_secret_basic",
    });
    let (one, two) = (
        register(confidential.clone()).await,
        register(confidential).await,
    );
    assert_ne!(one["client_id"], two["client_id"]);
    assert!(one["client_secret"].is_string() && two["client_secret"].is_string());

    let (params, verifier) = app.authorize(&first, "alice", "tasks:read").await;
    assert_eq!(
        app.exchange(&first, &params["code"], &verifier).await.0,
        StatusCode::OK
    );
    let (ok, listed, err) = app.cli(&["client", "list"], None);
    assert!(ok, "{err}");
    assert!(
        listed.lines().next().unwrap().contains("LAST USED"),
        "{listed}"
    );
    assert_eq!(listed.lines().count(), 1 + 4, "{listed}");
    let row = |id: &str| {
        listed
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap()
            .to_owned()
    };
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert!(row(&first.client_id).contains(&today), "{listed}");
    assert!(
        row(renamed["client_id"].as_str().unwrap()).contains("never"),
        "{listed}"
    );

    // The used client idle for two hours (past 60 s of refresh idle time plus the hour an
    // access token lives); the renamed one used a minute ago. A replica starting cleans up.
    let db = rusqlite::Connection::open(app.database_url.trim_start_matches("sqlite://")).unwrap();
    let ago = |secs: i64| {
        (chrono::Utc::now() - chrono::Duration::seconds(secs))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    db.execute(
        "UPDATE oauth_clients SET last_used_at = ?1 WHERE client_id = ?2",
        [&ago(7200), &first.client_id],
    )
    .unwrap();
    db.execute(
        "UPDATE oauth_clients SET last_used_at = ?1, first_grant_at = ?1 WHERE client_id = ?2",
        [&ago(60), renamed["client_id"].as_str().unwrap()],
    )
    .unwrap();
    drop(db);
    let replica = TestApp::spawn_with(
        Db::Sqlite,
        support::Options {
            no_key_args: true,
            args: vec!["--refresh-token-ttl-secs".into(), "60".into()],
            shared: Some(support::Shared {
                public_url: app.public_url.clone(),
                data_dir: app.data_dir.clone(),
                database_url: app.database_url.clone(),
            }),
            ..Default::default()
        },
    )
    .await;
    support::eventually(
        "the idle client is deleted",
        std::time::Duration::from_secs(15),
        || async {
            let (_, out, _) = replica.cli(&["client", "list"], None);
            if out.contains(&first.client_id) {
                Err(out)
            } else {
                Ok(out)
            }
        },
    )
    .await;
    let (_, out, _) = replica.cli(&["client", "list"], None);
    assert!(
        out.contains(renamed["client_id"].as_str().unwrap()),
        "{out}"
    );
}

/// Signing keys in the database (issue 21): an existing data directory's keys (the signing key
/// and a retired one) move in on the first start with a key-encryption key, and the tokens they
/// signed stay valid; a wrong key-encryption key is refused with a clear message;
/// `--key-rotation-days` rotates a key older than that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_keys_move_into_the_database_and_rotate_on_schedule() {
    let mut files = builtin(Db::Sqlite, &[]).await;
    let mint = |app: &TestApp, extra: &[&str]| {
        let mut args = vec!["token", "mint", "--user", "alice", "--scope", "tasks:read"];
        args.extend(extra);
        let (ok, token, err) = app.cli(&args, None);
        assert!(ok, "{err}");
        token.trim().to_owned()
    };
    let old = mint(&files, &[]);
    let (ok, _, err) = files.cli(&["keys", "rotate"], None);
    assert!(ok, "{err}");
    let current = mint(&files, &[]);
    assert!(files.terminate());

    let secrets = tempfile::tempdir().unwrap();
    let kek = secrets.path().join("kek");
    std::fs::write(&kek, "ab".repeat(32)).unwrap();
    let kek = kek.display().to_string();
    let shared = support::Shared {
        public_url: files.public_url.clone(),
        data_dir: files.data_dir.clone(),
        database_url: files.database_url.clone(),
    };
    let start = |extra: &[&str]| {
        let mut args = vec!["--key-encryption-key-file".to_owned(), kek.clone()];
        args.extend(extra.iter().map(|s| s.to_string()));
        TestApp::spawn_with(
            Db::Sqlite,
            support::Options {
                no_key_args: true,
                args,
                shared: Some(shared.clone()),
                ..Default::default()
            },
        )
    };
    let mut moved = start(&[]).await;
    for token in [&old, &current] {
        assert_eq!(
            list_status(&moved, token).await,
            200,
            "signed before the move"
        );
    }
    let kid = |token: &str| {
        support::keys::unverified_header(token)["kid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (ok, listed, err) = moved.cli(&["keys", "list", "--key-encryption-key-file", &kek], None);
    assert!(ok, "{err}");
    assert!(
        listed.contains(&format!("{} signing", kid(&current))),
        "{listed}"
    );
    assert!(
        listed.contains(&format!("{} retired", kid(&old))),
        "{listed}"
    );
    assert_eq!(
        kid(&mint(&moved, &["--key-encryption-key-file", &kek])),
        kid(&current)
    );

    let wrong = secrets.path().join("wrong");
    std::fs::write(&wrong, "cd".repeat(32)).unwrap();
    let (ok, _, err) = moved.cli(
        &[
            "keys",
            "list",
            "--key-encryption-key-file",
            &wrong.display().to_string(),
        ],
        None,
    );
    assert!(!ok);
    assert!(err.contains("key-encryption key"), "{err}");

    // The signing key started signing two days ago: with --key-rotation-days 1 it is due.
    assert!(moved.terminate());
    let db =
        rusqlite::Connection::open(files.database_url.trim_start_matches("sqlite://")).unwrap();
    let days_ago = |days: i64| {
        (chrono::Utc::now() - chrono::Duration::days(days))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    db.execute(
        "UPDATE signing_keys SET signs_from = ?1 WHERE kid = ?2",
        [&days_ago(2), &kid(&current)],
    )
    .unwrap();
    db.execute(
        "UPDATE signing_keys SET signs_from = ?1 WHERE kid = ?2",
        [&days_ago(3), &kid(&old)],
    )
    .unwrap();
    drop(db);
    let rotating = start(&["--key-rotation-days", "1"]).await;
    support::eventually(
        "a scheduled rotation",
        std::time::Duration::from_secs(20),
        || async {
            let (_, jwks) = rotating.get_json("/jwks.json").await;
            let kids: Vec<String> = jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                .collect();
            if kids.iter().any(|k| *k != kid(&current) && *k != kid(&old)) {
                Ok(())
            } else {
                Err(kids)
            }
        },
    )
    .await;
    assert_eq!(
        list_status(&rotating, &current).await,
        200,
        "the rotated-out key still verifies"
    );
}
