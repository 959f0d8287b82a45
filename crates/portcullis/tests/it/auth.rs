//! The resource server as a client meets it: challenges, every way a token can be wrong,
//! metadata, scope step-up, key rotation and discovery, Origin/Host checks.

use crate::support;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use support::{Db, McpClient, Options, TestApp, TestIssuer, idp::TestIdp, keys::now, mcp::send};

fn challenge(reply: &support::mcp::Reply) -> String {
    reply
        .header("www-authenticate")
        .unwrap_or_else(|| panic!("no challenge; status {} body {}", reply.status, reply.body))
        .to_owned()
}

async fn list_with(app: &TestApp, token: &str) -> support::mcp::Reply {
    McpClient::new(app.mcp_url(), token.to_owned())
        .call("list_tasks", json!({}))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_token_gets_a_challenge_pointing_at_the_metadata() {
    let app = TestApp::spawn_in_process(Db::Sqlite).await;
    let reply = send(
        app.http
            .post(app.mcp_url())
            .header("Accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc":"2.0","id":1,"method":"tools/list"})),
    )
    .await;
    assert_eq!(reply.status, 401);
    let c = challenge(&reply);
    assert!(c.starts_with("Bearer "), "{c}");
    assert!(c.contains(r#"error="invalid_token""#), "{c}");
    assert!(
        c.contains(&format!(
            r#"resource_metadata="{}/.well-known/oauth-protected-resource/mcp""#,
            app.base
        )),
        "{c}"
    );
    assert!(c.contains(r#"scope="tasks:read tasks:write""#), "{c}");

    for bad in [
        "Bearer",
        "Bearer not.a.jwt",
        "Basic YWxpY2U6cHc=",
        "Bearer a.b.c",
    ] {
        let reply = send(
            app.http
                .post(app.mcp_url())
                .header("Authorization", bad)
                .json(&json!({})),
        )
        .await;
        assert!(matches!(reply.status, 400 | 401), "{bad}: {}", reply.status);
        assert!(challenge(&reply).contains("resource_metadata="), "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_bad_token_is_refused() {
    let app = TestApp::spawn_in_process(Db::Sqlite).await;
    let aud = app.mcp_url();
    let good = app.issuer.claims("alice", "tasks:read", &aud);
    assert_eq!(
        list_with(&app, &app.issuer.sign(&good)).await.status,
        200,
        "control: a good token works"
    );

    let other_key = TestIssuer::new(&app.issuer.issuer);
    let with = |patch: serde_json::Value| {
        let mut c = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let none_token = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(good.to_string())
    );
    // The classic confusion attack: HMAC keyed with the (public) RSA key.
    let hs_with_public_key = |secret: &[u8]| {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(app.issuer.kid.clone());
        jsonwebtoken::encode(&h, &good, &EncodingKey::from_secret(secret)).unwrap()
    };
    let mut id_token_header = Header::new(Algorithm::RS256);
    id_token_header.typ = Some("id_token+jwt".into());
    let cases: Vec<(&str, String, &str)> = vec![
        ("wrong key", other_key.sign(&good), "signature"),
        ("alg none", none_token, "well-formed"),
        (
            "HS256 with the PEM public key",
            hs_with_public_key(app.issuer.public_pem().as_bytes()),
            "HS256",
        ),
        (
            "HS256 with the DER public key",
            hs_with_public_key(app.issuer.public_der()),
            "HS256",
        ),
        (
            "wrong issuer",
            app.issuer.sign(&with(json!({"iss": "https://evil.test"}))),
            "issuer",
        ),
        (
            "issuer with trailing slash",
            app.issuer
                .sign(&with(json!({"iss": "https://issuer.test/"}))),
            "issuer",
        ),
        (
            "wrong audience",
            app.issuer
                .sign(&with(json!({"aud": "https://other.example/mcp"}))),
            "audience",
        ),
        (
            "no audience",
            app.issuer.sign(&with(json!({"aud": null}))),
            "aud",
        ),
        (
            "expired",
            app.issuer.sign(&with(json!({"exp": now() - 120}))),
            "expired",
        ),
        (
            "not yet valid",
            app.issuer.sign(&with(json!({"nbf": now() + 600}))),
            "not valid yet",
        ),
        (
            "no exp",
            app.issuer.sign(&with(json!({"exp": null}))),
            "exp",
        ),
        (
            "no subject",
            app.issuer.sign(&with(json!({"sub": null}))),
            "sub",
        ),
        (
            "an ID token",
            app.issuer.sign_with_header(&id_token_header, &good),
            "not an access token",
        ),
    ];
    for (what, token, says) in cases {
        let reply = list_with(&app, &token).await;
        assert_eq!(reply.status, 401, "{what}: {}", reply.body);
        let c = challenge(&reply);
        assert!(c.contains(r#"error="invalid_token""#), "{what}: {c}");
        assert!(
            c.contains(says),
            "{what}: challenge should say {says:?}: {c}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_in_the_query_string_are_refused() {
    let app = TestApp::spawn_in_process(Db::Sqlite).await;
    let token = app.token("alice", "tasks:read");
    let reply = send(
        app.http
            .post(format!("{}?access_token={token}", app.mcp_url()))
            .header("Accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc":"2.0","id":1,"method":"tools/list"})),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert!(challenge(&reply).contains(r#"error="invalid_request""#));
    // Even with a valid header as well: the token must not travel in URLs at all.
    let reply = send(
        app.http
            .post(format!("{}?access_token=x", app.mcp_url()))
            .bearer_auth(&token)
            .json(&json!({})),
    )
    .await;
    assert_eq!(reply.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_resource_metadata_is_served_at_both_well_known_paths() {
    let app = TestApp::spawn_in_process(Db::Sqlite).await;
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let r = app
            .http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let doc: serde_json::Value = r.json().await.unwrap();
        assert_eq!(doc["resource"], app.mcp_url(), "{path}");
        // Exactly as configured: no trailing slash added.
        assert_eq!(
            doc["authorization_servers"],
            json!(["https://issuer.test"]),
            "{path}"
        );
        assert_eq!(
            doc["scopes_supported"],
            json!(["tasks:read", "tasks:write"])
        );
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_scope_gets_403_with_a_step_up_scope() {
    let app = TestApp::spawn_in_process(Db::Sqlite).await;
    let reader = McpClient::new(app.mcp_url(), app.token("alice", "tasks:read"));
    assert_eq!(reader.call("list_tasks", json!({})).await.status, 200);
    let reply = reader.call("create_task", json!({"title": "x"})).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    let c = challenge(&reply);
    assert!(c.contains(r#"error="insufficient_scope""#), "{c}");
    assert!(c.contains(r#"scope="tasks:read tasks:write""#), "{c}");
    assert!(c.contains("resource_metadata="), "{c}");

    let nothing = McpClient::new(app.mcp_url(), app.token("alice", "profile"));
    let reply = nothing.call("list_tasks", json!({})).await;
    assert_eq!(reply.status, 403);
    assert!(challenge(&reply).contains(r#"scope="tasks:read""#));
    // Listing tools needs no particular scope.
    assert_eq!(
        nothing.request("tools/list", json!({}), None).await.status,
        200
    );
    // The refused write did not happen.
    let writer = app.client("alice");
    assert_eq!(writer.ok("list_tasks", json!({})).await["count"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_unknown_kids_fail_and_cached_keys_survive_an_outage() {
    let first = TestIssuer::with_kid("placeholder", "kid-1");
    let idp = TestIdp::start(vec![first.jwk()]).await;
    let first = first.issued_by(&idp.base);
    let app = TestApp::spawn_with(
        Db::Sqlite,
        Options {
            no_key_args: true,
            args: vec![
                "--issuer".into(),
                idp.base.clone(),
                "--jwks-uri".into(),
                idp.jwks_uri(),
            ],
            ..Options::default()
        },
    )
    .await;
    let aud = app.mcp_url();
    assert_eq!(
        list_with(&app, &first.token("alice", "tasks:read", &aud))
            .await
            .status,
        200
    );

    // The IdP rotates to a new key (publishing both, as IdPs do during rotation).
    let second = TestIssuer::with_kid("x", "kid-2").issued_by(&idp.base);
    idp.publish(vec![first.jwk(), second.jwk()]);
    assert_eq!(
        list_with(&app, &second.token("alice", "tasks:read", &aud))
            .await
            .status,
        200,
        "new kid after rotation"
    );

    // A kid nobody publishes is refused, and repeated attempts do not hammer the IdP.
    let stranger = TestIssuer::with_kid("x", "kid-unknown").issued_by(&idp.base);
    let fetches = idp.jwks_fetches();
    for _ in 0..5 {
        let reply = list_with(&app, &stranger.token("alice", "tasks:read", &aud)).await;
        assert_eq!(reply.status, 401);
        assert!(challenge(&reply).contains("kid-unknown"));
    }
    assert!(
        idp.jwks_fetches() <= fetches + 1,
        "unknown kids must not trigger a fetch each"
    );

    // The IdP goes down: keys already fetched keep working.
    idp.go_offline();
    assert_eq!(
        list_with(&app, &second.token("alice", "tasks:read", &aud))
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_discovered_from_the_issuer_metadata() {
    let key = TestIssuer::with_kid("placeholder", "disc-1");
    let idp = TestIdp::start(vec![key.jwk()]).await;
    let key = key.issued_by(&idp.base);
    let app = TestApp::spawn_with(
        Db::Sqlite,
        Options {
            no_key_args: true,
            args: vec!["--issuer".into(), idp.base.clone()],
            ..Options::default()
        },
    )
    .await;
    assert_eq!(
        list_with(&app, &key.token("alice", "tasks:read", &app.mcp_url()))
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_origins_and_hosts_are_refused() {
    let app = TestApp::spawn_in_process(Db::Sqlite).await;
    let token = app.token("alice", "tasks:read");
    let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/list"});
    let post = || {
        app.http
            .post(app.mcp_url())
            .bearer_auth(&token)
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", "2025-11-25")
            .json(&body)
    };
    assert_eq!(
        send(post().header("Origin", "https://evil.example"))
            .await
            .status,
        403
    );
    assert_eq!(
        send(post().header("Origin", app.base.clone())).await.status,
        200
    );
    assert_eq!(
        send(post().header("Host", format!("evil.example:{}", app.port)))
            .await
            .status,
        403
    );
    assert_eq!(
        send(post().header("Host", format!("localhost:{}", app.port)))
            .await
            .status,
        200
    );
    assert_eq!(send(post()).await.status, 200);
}
