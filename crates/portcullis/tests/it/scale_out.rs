//! Three replicas of one deployment on the test PostgreSQL and Redis (issue 8): the same public
//! URL, database, Redis prefix and (shared-volume) data directory, on different ports; or, with
//! the signing keys in the database, no shared directory at all (issue 21).

use crate::support;

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{
    Db, McpClient, Options, Shared, TestApp, TestDb, free_port,
    oauth::{Browser, PASSWORD, pkce, query_of},
};

struct Deployment {
    replicas: Vec<TestApp>,
    public_url: String,
    _db: TestDb,
    _data: tempfile::TempDir,
}

async fn deploy(n: usize, extra: &[&str]) -> Deployment {
    deploy_with(n, extra, false).await
}

/// `n` replicas; with `own_dirs` each has a data directory of its own (nothing shared but the
/// database and Redis).
async fn deploy_with(n: usize, extra: &[&str], own_dirs: bool) -> Deployment {
    let data = tempfile::tempdir().unwrap();
    let db = TestDb::create(Db::Postgres, data.path()).await;
    // The load balancer's address, as every replica advertises it (nothing listens there).
    let public_url = format!("http://127.0.0.1:{}", free_port());
    let prefix = format!("portcullis-test:{}:", uuid::Uuid::new_v4().simple());
    let redis = std::env::var("PORTCULLIS_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let shared = Shared {
        public_url: public_url.clone(),
        data_dir: data.path().join("data"),
        database_url: db.url.clone(),
    };
    let mut replicas = Vec::new();
    for i in 0..n {
        let shared = match own_dirs {
            true => Shared {
                data_dir: data.path().join(format!("data-{i}")),
                ..shared.clone()
            },
            false => shared.clone(),
        };
        let mut args: Vec<String> = ["--redis-url", &redis, "--redis-prefix", &prefix]
            .map(String::from)
            .to_vec();
        args.extend(extra.iter().map(|s| s.to_string()));
        // Started one after another: the first creates the schema and the signing key.
        replicas.push(
            TestApp::spawn_with(
                Db::Postgres,
                Options {
                    args,
                    no_key_args: true,
                    shared: Some(shared),
                    ..Options::default()
                },
            )
            .await,
        );
    }
    Deployment {
        replicas,
        public_url,
        _db: db,
        _data: data,
    }
}

/// Authorize on one replica, log in there and consent on another, redeem the code on a third,
/// call tools on each, refresh on one and get the same answer again on another within the grace
/// window, refresh concurrently on two, and see the old token refused once its successor is used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oauth_flow_crosses_replicas() {
    let d = deploy(3, &[]).await;
    let [a, b, c] = [&d.replicas[0], &d.replicas[1], &d.replicas[2]];
    a.add_user("alice");
    let resource = format!("{}/mcp", d.public_url);

    // Dynamic registration on A.
    let client = a.register_public_client().await;
    let (client_id, redirect_uri) = (client.client_id.as_str(), client.redirect_uri.as_str());

    // The browser starts on A, logs in on B, consents on C.
    let (verifier, challenge) = pkce();
    let mut authorize = url::Url::parse(&format!("{}/authorize", a.base)).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("scope", "tasks:read tasks:write")
        .append_pair("state", "s1")
        .append_pair("resource", &resource);
    let mut browser = Browser::new();
    let (status, _, login_page) = browser.get(authorize.as_str()).await;
    assert_eq!(status, StatusCode::OK, "{login_page}");
    let (status, _, consent) = browser.login(&b.base, &login_page, "alice", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{consent}");
    let (status, location, _) = browser.decide(&c.base, &consent, "approve").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let params = query_of(&location.unwrap());
    assert_eq!(params["iss"], d.public_url, "one issuer for the deployment");

    // The code is redeemed on B.
    let token = |replica: &TestApp, form: Vec<(&'static str, String)>| {
        let request = replica
            .http
            .post(format!("{}/token", replica.base))
            .form(&form);
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, tokens) = token(
        b,
        vec![
            ("grant_type", "authorization_code".into()),
            ("code", params["code"].clone()),
            ("code_verifier", verifier),
            ("client_id", client_id.into()),
            ("redirect_uri", redirect_uri.into()),
            ("resource", resource.clone()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_owned();

    // Tools work on every replica with that token; the data is one.
    McpClient::new(c.mcp_url(), access.clone())
        .ok("create_task", json!({ "title": "made on C" }))
        .await;
    for replica in [a, b, c] {
        let listed = McpClient::new(replica.mcp_url(), access.clone())
            .ok("list_tasks", json!({}))
            .await;
        assert_eq!(listed["count"], 1, "on {}", replica.base);
    }

    // Refresh on C; the same token presented again on A within the grace window (an answer
    // lost on the way) gets the same answer: rotation is shared, and so is its record.
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let form = |rt: &str| {
        vec![
            ("grant_type", "refresh_token".into()),
            ("refresh_token", rt.to_owned()),
            ("client_id", client_id.to_owned()),
            ("resource", resource.clone()),
        ]
    };
    let (status, refreshed) = token(c, form(&refresh)).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let (status, again) = token(a, form(&refresh)).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["refresh_token"], refreshed["refresh_token"]);
    assert_eq!(again["access_token"], refreshed["access_token"]);

    // Two refreshes of one token at once, on two replicas: one successor, which both get.
    let successor = refreshed["refresh_token"].as_str().unwrap().to_owned();
    let ((s1, first), (s2, second)) =
        tokio::join!(token(a, form(&successor)), token(b, form(&successor)));
    assert_eq!(
        (s1, s2),
        (StatusCode::OK, StatusCode::OK),
        "{first} {second}"
    );
    assert_eq!(first["refresh_token"], second["refresh_token"]);
    assert_ne!(first["refresh_token"], refreshed["refresh_token"]);

    // Once the successor has been used, the old token coming back is a replay: refused on any
    // replica, and the whole grant revoked.
    let (status, replayed) = token(c, form(&refresh)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{replayed}");
    assert_eq!(replayed["error"], "invalid_grant");
    let latest = first["refresh_token"].as_str().unwrap();
    let (status, revoked) = token(b, form(latest)).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the grant is revoked: {revoked}"
    );
}

/// Writers on all three replicas at once, then one replica killed in the middle of the load:
/// every acknowledged task is stored exactly once, and the other replicas keep serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_and_a_killed_replica_lose_nothing() {
    let mut d = deploy(3, &["--rate-limit", "off"]).await;
    let (ok, token, err) = d.replicas[0].cli(
        &[
            "token",
            "mint",
            "--sub",
            "writer",
            "--scope",
            "tasks:read tasks:write",
        ],
        None,
    );
    assert!(ok, "{err}");
    let token = token.trim().to_owned();
    let urls: Vec<String> = d.replicas.iter().map(TestApp::mcp_url).collect();

    // Round 1: 3 replicas × 4 writers × 15 tasks, all acknowledged.
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let failed = Arc::new(Mutex::new(Vec::<String>::new()));
    let run = |round: &'static str, per_writer: usize| {
        let mut writers = Vec::new();
        for (r, url) in urls.iter().enumerate() {
            for w in 0..4 {
                let (client, acknowledged, failed) = (
                    McpClient::new(url.clone(), token.clone()),
                    acknowledged.clone(),
                    failed.clone(),
                );
                writers.push(tokio::spawn(async move {
                    for i in 0..per_writer {
                        let title = format!("{round}-r{r}-w{w}-{i}");
                        let reply = tokio::time::timeout(
                            Duration::from_secs(10),
                            client.try_call("create_task", json!({ "title": title })),
                        )
                        .await;
                        match reply {
                            Ok(Some(reply)) if reply.status == 200 => {
                                let result = reply.result();
                                assert_eq!(result["isError"], false, "{result}");
                                acknowledged.lock().unwrap().push(title);
                            }
                            _ => failed.lock().unwrap().push(title),
                        }
                    }
                }));
            }
        }
        writers
    };
    for writer in run("one", 15) {
        writer.await.unwrap();
    }
    assert!(
        failed.lock().unwrap().is_empty(),
        "{:?}",
        failed.lock().unwrap()
    );
    assert_eq!(acknowledged.lock().unwrap().len(), 180);

    // Round 2: the same load, and replica 1 is killed while it runs.
    let writers = run("two", 20);
    // Kill once a quarter of the round is acknowledged: in the middle of the load.
    let round_two = || {
        acknowledged
            .lock()
            .unwrap()
            .iter()
            .filter(|t| t.starts_with("two-"))
            .count()
    };
    while round_two() < 60 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    d.replicas[1].kill();
    for writer in writers {
        writer.await.unwrap();
    }
    let failures: Vec<String> = failed.lock().unwrap().clone();
    assert!(
        !failures.is_empty(),
        "the replica was killed after its writers had finished"
    );
    assert!(
        failures.iter().all(|t| t.contains("-r1-")),
        "only writers on the killed replica fail: {failures:?}"
    );
    let acked: Vec<String> = acknowledged.lock().unwrap().clone();
    let (on_a, on_c) = (
        acked.iter().filter(|t| t.starts_with("two-r0")).count(),
        acked.iter().filter(|t| t.starts_with("two-r2")).count(),
    );
    assert_eq!(
        (on_a, on_c),
        (80, 80),
        "the surviving replicas were unaffected"
    );

    // Read back through a survivor: every acknowledged task exactly once; tasks whose answer
    // was lost with the replica may exist, at most once each.
    let mut stored = Vec::new();
    let reader = McpClient::new(urls[2].clone(), token.clone());
    let listed = reader.ok("list_tasks", json!({ "limit": 500 })).await;
    for task in listed["tasks"].as_array().unwrap() {
        stored.push(task["title"].as_str().unwrap().to_owned());
    }
    let unique: HashSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "no task is stored twice");
    for title in &acked {
        assert!(unique.contains(title), "acknowledged {title} was lost");
    }
    let extra = stored.len() - acked.len();
    assert!(
        extra <= failures.len(),
        "{extra} stored tasks were neither acknowledged nor in flight on the killed replica"
    );
}

/// Signing keys in the database (issue 21): three replicas with a data directory each and a
/// key-encryption key. A key rotated through one replica's database reaches all three within
/// seconds; tokens signed before the rotation stay valid everywhere, tokens signed after it too;
/// no replica writes a key file, and the database holds no private key in the clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_keys_in_the_database_need_no_shared_directory() {
    let secrets = tempfile::tempdir().unwrap();
    let kek = secrets.path().join("kek");
    std::fs::write(&kek, "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=\n").unwrap();
    let kek_arg = kek.display().to_string();
    let d = deploy_with(3, &["--key-encryption-key-file", &kek_arg], true).await;
    let [a, b, c] = [&d.replicas[0], &d.replicas[1], &d.replicas[2]];
    a.add_user("alice");
    let kids = |replica: &TestApp| {
        let http = replica.http.clone();
        let url = format!("{}/jwks.json", replica.base);
        async move {
            let jwks: Value = http.get(url).send().await.unwrap().json().await.unwrap();
            let mut kids: Vec<String> = jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                .collect();
            kids.sort();
            kids
        }
    };
    let first = kids(a).await;
    assert_eq!(first.len(), 1, "{first:?}");
    for replica in [b, c] {
        assert_eq!(kids(replica).await, first, "one key for the deployment");
    }

    // A token from the first key: signed in on A, redeemed on B.
    let client = a.register_public_client().await;
    let (params, verifier) = a.authorize(&client, "alice", "tasks:read").await;
    let (status, tokens) = b.exchange(&client, &params["code"], &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let old_access = tokens["access_token"].as_str().unwrap().to_owned();
    let kid_of = |token: &str| {
        support::keys::unverified_header(token)["kid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(kid_of(&old_access), first[0]);

    // Rotated through C's configuration: the database, not a directory.
    let (ok, out, err) = c.cli(
        &["keys", "rotate", "--key-encryption-key-file", &kek_arg],
        None,
    );
    assert!(ok, "{err}");
    let new_kid = out.lines().next().unwrap().trim().to_owned();
    assert_ne!(new_kid, first[0]);
    for replica in [a, b, c] {
        support::eventually(
            "every replica publishes both keys",
            Duration::from_secs(10),
            || async {
                let held = kids(replica).await;
                if held.contains(&new_kid) && held.contains(&first[0]) {
                    Ok(())
                } else {
                    Err(held)
                }
            },
        )
        .await;
    }
    // Once the new key signs (a few seconds after the rotation), a refresh on A gets a token
    // signed by it, which every replica accepts, as it still accepts the old one.
    support::eventually("the new key signs", Duration::from_secs(15), || async {
        let (_, listed, _) = b.cli(
            &["keys", "list", "--key-encryption-key-file", &kek_arg],
            None,
        );
        if listed.contains(&format!("{new_kid} signing")) {
            Ok(())
        } else {
            Err(listed)
        }
    })
    .await;
    // Each replica reads the table every second.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (status, refreshed) = a
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let new_access = refreshed["access_token"].as_str().unwrap().to_owned();
    assert_eq!(kid_of(&new_access), new_kid);
    for replica in [a, b, c] {
        for token in [&old_access, &new_access] {
            McpClient::new(replica.mcp_url(), token.clone())
                .ok("list_tasks", json!({}))
                .await;
        }
        assert!(
            !replica.data_dir.join("keys").exists(),
            "a key file was written"
        );
    }
    let (ok, listed, err) = b.cli(
        &["keys", "list", "--key-encryption-key-file", &kek_arg],
        None,
    );
    assert!(ok, "{err}");
    assert!(listed.contains(&format!("{new_kid} signing")), "{listed}");
    assert!(
        listed.contains(&format!("{} retired", first[0])),
        "{listed}"
    );

    let pool = sqlx::PgPool::connect(&a.database_url).await.unwrap();
    let stored: Vec<(String,)> = sqlx::query_as("SELECT private_key FROM signing_keys")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    for (sealed,) in stored {
        // PKCS#8 DER in base64 starts with "MIG"; sealed bytes start anywhere.
        assert!(
            !sealed.contains("PRIVATE KEY") && !sealed.starts_with("MIG"),
            "{sealed}"
        );
    }
    pool.close().await;
}
