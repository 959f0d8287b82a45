//! The verified-token cache as clients meet it: a remembered token is still refused the moment
//! anything that makes it invalid happens (its key leaves the JWKS, its `exp` passes), and a
//! token that differs from a remembered one in one byte is verified on its own. Revocation with
//! the cache on is covered where revocation is (`oauth_server.rs`: in this process at once,
//! from another process within the polling interval).

use crate::support;

use serde_json::json;
use support::{Db, McpClient, Options, TestApp, TestIssuer, idp::TestIdp, keys::now};

async fn status(app: &TestApp, token: &str) -> u16 {
    McpClient::new(app.mcp_url(), token.to_owned())
        .call("list_tasks", json!({}))
        .await
        .status
}

fn in_process(args: &[&str]) -> Options {
    Options {
        in_process: true,
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_token_is_refused_once_its_key_leaves_the_jwks() {
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
                "--jwks-min-refresh-secs".into(),
                "0".into(),
            ],
            in_process: true,
            ..Options::default()
        },
    )
    .await;
    let aud = app.mcp_url();
    let old = first.token("alice", "tasks:read", &aud);
    for _ in 0..3 {
        assert_eq!(status(&app, &old).await, 200);
    }
    // The IdP replaces its key. The first token naming the new key makes Portcullis refetch
    // the JWKS; from then on the old key's token is refused, remembered or not.
    let second = TestIssuer::with_kid("x", "kid-2").issued_by(&idp.base);
    idp.publish(vec![second.jwk()]);
    assert_eq!(
        status(&app, &second.token("alice", "tasks:read", &aud)).await,
        200
    );
    assert_eq!(status(&app, &old).await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_token_is_refused_the_moment_it_expires() {
    let app = TestApp::spawn_with(Db::Sqlite, in_process(&["--jwt-leeway-secs", "0"])).await;
    let aud = format!("{}/mcp", app.public_url);
    let mut claims = app.issuer.claims("alice", "tasks:read", &aud);
    let exp = now() + 2;
    claims["exp"] = json!(exp);
    let token = app.issuer.sign(&claims);
    assert_eq!(status(&app, &token).await, 200);
    assert_eq!(status(&app, &token).await, 200);
    // Poll until the clock passes exp: the first refusal must come at once after it.
    let refused = support::eventually(
        "the expired token to be refused",
        std::time::Duration::from_secs(5),
        || async {
            match status(&app, &token).await {
                401 => Ok(now()),
                other => Err(other),
            }
        },
    )
    .await;
    assert!(refused >= exp, "refused before exp");
    assert!(refused <= exp + 1, "served {} s past exp", refused - exp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_one_byte_off_a_remembered_one_is_refused() {
    let app = TestApp::spawn_with(Db::Sqlite, in_process(&[])).await;
    let token = app.token("alice", "tasks:read");
    assert_eq!(status(&app, &token).await, 200);
    assert_eq!(status(&app, &token).await, 200);
    let (header_end, signature_start) = (token.find('.').unwrap(), token.rfind('.').unwrap() + 1);
    // A byte in the header, in the claims, in the signature, and the last one.
    for i in [
        header_end / 2,
        (header_end + signature_start) / 2,
        signature_start + 10,
        token.len() - 1,
    ] {
        let mut bytes = token.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(status(&app, &tampered).await, 401, "byte {i} changed");
    }
    assert_eq!(status(&app, &format!("{token}A")).await, 401);
    assert_eq!(status(&app, &token).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_can_be_turned_off_and_its_size_is_checked() {
    let app = TestApp::spawn_with(Db::Sqlite, in_process(&["--token-cache-size", "0"])).await;
    let token = app.token("alice", "tasks:read");
    assert_eq!(status(&app, &token).await, 200);
    assert_eq!(status(&app, &token).await, 200);
    let (ok, _, stderr) = app.cli(&["config", "check", "--token-cache-size", "5000000"], None);
    assert!(!ok);
    assert!(
        stderr.contains("token_cache_size") && stderr.contains("0 turns the cache off"),
        "{stderr}"
    );
}
