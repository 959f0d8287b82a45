//! REST APIs behind Portcullis from their OpenAPI documents (issue 19): a real FastAPI app with
//! design document 000's dual authentication (tests/upstreams/fastapi_notes_api.py), driven by
//! the official Python SDK client, and `portcullis backend` itself.

use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{
    McpClient, Options, TestApp,
    external::{UpstreamServer, repo_root, run_client, venv_python},
    free_port,
};

use crate::gateway::{gateway_app, wait_listed};

const SERVICE_TOKEN: &str = "svc-notes-0123456789abcdef0123456789abcdef";
const BOTH: &str = "notes_api:read notes_api:write";

/// The FastAPI app, and Portcullis in front of it as upstream `notes_api`.
async fn behind_fastapi(extra: &str) -> (TestApp, UpstreamServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let api = UpstreamServer::start(
        "fastapi_notes_api.py",
        &["--port".into(), free_port().to_string()],
        &[("SERVICE_AUTH_TOKEN", SERVICE_TOKEN)],
        dir.path(),
    )
    .await;
    let config = format!(
        "[[upstreams]]\nname = \"notes_api\"\nopenapi = \"{}/openapi.json\"\n\
         auth = \"service_token\"\nservice_token_env = \"NOTES_API_TOKEN\"\n\
         user_header = \"X-User-ID\"\ntimeout_secs = 10\nretries = 2\n{extra}",
        api.url
    );
    let app = gateway_app(
        free_port(),
        &config,
        dir.path(),
        Options {
            env: vec![("NOTES_API_TOKEN".into(), SERVICE_TOKEN.into())],
            ..Default::default()
        },
    )
    .await;
    wait_listed(&app, &["notes_api"]).await;
    (app, api, dir)
}

/// A test control of the FastAPI app (service token, no user).
async fn control(api: &UpstreamServer, method: reqwest::Method, path: &str) -> Value {
    reqwest::Client::new()
        .request(method, format!("{}{path}", api.url))
        .bearer_auth(SERVICE_TOKEN)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn requests_seen(api: &UpstreamServer) -> u64 {
    control(api, reqwest::Method::GET, "/_faults/requests").await["requests"]
        .as_u64()
        .unwrap()
}

/// The official Python SDK client through Portcullis: generated tools with real argument names,
/// two users who cannot see each other's data, errors in the tool-error taxonomy, a create whose
/// answer the API dropped made exactly once, and 403 `insufficient_scope` for a read-only token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_uses_a_fastapi_backend_as_two_users() {
    let (app, api, _dir) = behind_fastapi("").await;
    // The API drops its answer to the first create (alice's note, made by the SDK client).
    control(&api, reqwest::Method::POST, "/_faults/drop-next-create").await;
    let before = requests_seen(&api).await;
    let args = [
        repo_root()
            .join("tests/clients/python_openapi_client.py")
            .display()
            .to_string(),
        app.mcp_url(),
        app.token("alice", BOTH),
        app.token("bob", BOTH),
        "notes_api_".to_owned(),
        app.token("carol", "notes_api:read"),
    ];
    let stdout = run_client(
        "python SDK OpenAPI client",
        &venv_python(),
        &args,
        &[],
        &app,
    )
    .await;
    assert!(stdout.contains("python openapi OK"), "{stdout}");
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        summary["bad"]["error_type"], "validation_error",
        "{summary}"
    );
    assert!(
        summary["bad"]["message"]
            .as_str()
            .unwrap()
            .contains("title"),
        "{summary}"
    );
    assert_eq!(
        summary["hidden"]["error_type"], "not_found_error",
        "{summary}"
    );
    assert_eq!(summary["hidden"]["details"]["status"], 404, "{summary}");
    assert_eq!(summary["reader_refused"]["status"], 403, "{summary}");
    // What reached the API: alice's create twice (its first answer dropped; one note, as the
    // client's own check saw), her get and list; bob's list, get and create; the reader's list.
    // Not the bad call, not the refused write.
    assert_eq!(requests_seen(&api).await - before, 2 + 2 + 3 + 1);
    let tools: Vec<&str> = summary["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for tool in [
        "notes_api_create_note",
        "notes_api_list_notes",
        "notes_api_get_note_notes_note_id_get",
        "notes_api_delete_note",
        "notes_api_echo_label",
    ] {
        assert!(tools.contains(&tool), "{tools:?}");
    }
    // The test controls are not in the document, so not tools.
    assert!(!tools.iter().any(|t| t.contains("fault")), "{tools:?}");
    // The API saw only the service token, never a client's token.
    let seen = api.seen();
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|s| s == &format!("Bearer {SERVICE_TOKEN}")),
        "{seen:?}"
    );
    // Every call is audited under the acting user.
    let audit = app
        .audit_when(
            &["--tool", "notes_api_create_note", "--user", "alice"],
            |events| events.iter().any(|e| e["decision"] == "allowed"),
        )
        .await;
    assert!(
        audit.iter().all(|e| e["tool"] == "notes_api_create_note"),
        "{audit:?}"
    );
}

/// Bad arguments never reach the API; a read-only token gets 403 `insufficient_scope` for a
/// write; a create whose answer is lost is retried with the same `Idempotency-Key` and creates
/// one note; a path argument cannot change the path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_checked_scoped_retried_once_and_encoded() {
    let (app, api, _dir) = behind_fastapi("").await;
    let alice = McpClient::new(app.mcp_url(), app.token("alice", BOTH));

    let before = requests_seen(&api).await;
    for bad in [
        json!({ "title": "" }),
        json!({ "title": "x", "priority": "urgent" }),
        json!({ "title": "x", "owner": "bob" }),
        json!({}),
    ] {
        let error = alice.tool_error("notes_api_create_note", bad.clone()).await;
        assert_eq!(error["error_type"], "validation_error", "{bad}: {error}");
    }
    let error = alice
        .tool_error("notes_api_list_notes", json!({ "limit": 1000 }))
        .await;
    assert!(
        error["message"].as_str().unwrap().contains("limit"),
        "{error}"
    );
    assert_eq!(
        requests_seen(&api).await,
        before,
        "a bad call reached the API"
    );

    let reader = McpClient::new(app.mcp_url(), app.token("carol", "notes_api:read"));
    reader.ok("notes_api_list_notes", json!({})).await;
    let refused = reader
        .call("notes_api_create_note", json!({ "title": "no" }))
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let challenge = refused.header("www-authenticate").unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#)
            && challenge.contains("notes_api:write"),
        "{challenge}"
    );
    assert_eq!(
        requests_seen(&api).await,
        before + 1,
        "only the list reached it"
    );

    // The first answer to this create is dropped after the note was made.
    control(&api, reqwest::Method::POST, "/_faults/drop-next-create").await;
    let created = alice
        .ok("notes_api_create_note", json!({ "title": "exactly once" }))
        .await;
    assert_eq!(created["title"], "exactly once");
    let listed = alice.ok("notes_api_list_notes", json!({})).await;
    let titles: Vec<&Value> = listed["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| &n["title"])
        .collect();
    assert_eq!(titles, [&json!("exactly once")], "{listed}");
    assert!(
        requests_seen(&api).await >= before + 4,
        "the create was sent twice"
    );

    // HTTP statuses in the tool-error taxonomy, with the API's message and Retry-After.
    for (code, kind) in [
        (400, "validation_error"),
        (403, "authorization_error"),
        (404, "not_found_error"),
        (409, "validation_error"),
        (422, "validation_error"),
        (429, "rate_limited"),
        (500, "backend_error"),
    ] {
        let error = alice
            .tool_error("notes_api_answer_with", json!({ "code": code }))
            .await;
        assert_eq!(error["error_type"], kind, "{code}: {error}");
        assert_eq!(error["details"]["status"], code, "{error}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains(&format!("status {code} as asked")),
            "{error}"
        );
        assert!(!error["suggestions"][0].as_str().unwrap().is_empty());
        if code == 429 {
            assert_eq!(error["details"]["retry_after_secs"], 7, "{error}");
        }
    }

    // A form body: its fields are arguments, sent form-encoded.
    let id = created["id"].clone();
    let renamed = alice
        .ok(
            "notes_api_rename_note",
            json!({ "note_id": id, "title": "renamed" }),
        )
        .await;
    assert_eq!(renamed["title"], "renamed", "{renamed}");

    // A path argument arrives whole, as one segment (`?`, `#`, `%` and spaces encoded; that
    // `/` stays inside its segment is the unit tests' part: Starlette decodes `%2F` itself).
    let echoed = alice
        .ok("notes_api_echo_label", json!({ "label": "a b?x=1#y%z" }))
        .await;
    assert_eq!(echoed["label"], "a b?x=1#y%z");
    assert_eq!(echoed["user"], "alice");
}

/// `include`/`exclude` choose the operations; a document that breaks keeps the last good tools
/// (on `/ready` as `stale`, with the reason) until SIGHUP reads a good one again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_filtered_and_a_broken_one_keeps_the_last_tools() {
    let dir = tempfile::tempdir().unwrap();
    let document = dir.path().join("openapi.json");
    let petstore = repo_root().join("tests/fixtures/openapi/petstore-3.0.json");
    std::fs::copy(&petstore, &document).unwrap();
    let config = format!(
        "[[upstreams]]\nname = \"pets\"\nopenapi = \"{}\"\nbase_url = \"http://127.0.0.1:9/v3\"\n\
         auth = \"none\"\ninclude = [\"tag:pet\", \"getInventory\"]\nexclude = [\"deletePet\"]\n\
         tools_ttl_secs = 3600\n",
        document.display()
    );
    let mut app = gateway_app(free_port(), &config, dir.path(), Options::default()).await;
    wait_listed(&app, &["pets"]).await;
    let client = McpClient::new(app.mcp_url(), app.token("alice", "pets:read pets:write"));
    let list = |reply: support::mcp::Reply| -> Vec<String> {
        reply.result()["tools"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["name"].as_str())
            .filter(|n| n.starts_with("pets_"))
            .map(str::to_owned)
            .collect()
    };
    let tools = list(client.request("tools/list", json!({}), None).await);
    assert!(tools.contains(&"pets_addPet".to_owned()), "{tools:?}");
    assert!(tools.contains(&"pets_getInventory".to_owned()), "{tools:?}");
    assert!(!tools.contains(&"pets_deletePet".to_owned()), "{tools:?}");
    assert!(!tools.contains(&"pets_createUser".to_owned()), "{tools:?}");
    let count = tools.len();
    // Nothing listens at the base URL: a connection error naming the API.
    let error = client.tool_error("pets_getInventory", json!({})).await;
    assert_eq!(error["error_type"], "connection_error", "{error}");

    std::fs::write(&document, "{ not json").unwrap();
    app.signal("HUP");
    support::eventually(
        "the broken document is noticed",
        Duration::from_secs(20),
        || async {
            let (_, ready) = app.get_json("/ready").await;
            let check = &ready["checks"]["upstream:pets"];
            if check.to_string().contains("not JSON") {
                Ok(())
            } else {
                Err(ready)
            }
        },
    )
    .await;
    let (_, ready) = app.get_json("/ready").await;
    assert!(
        ready["checks"]["upstream:pets"]
            .to_string()
            .contains("stale"),
        "{ready}"
    );
    let kept = list(client.request("tools/list", json!({}), None).await);
    assert_eq!(kept.len(), count, "the last good tools stay");

    let mut smaller: Value =
        serde_json::from_str(&std::fs::read_to_string(&petstore).unwrap()).unwrap();
    smaller["paths"]
        .as_object_mut()
        .unwrap()
        .remove("/store/inventory");
    std::fs::write(&document, smaller.to_string()).unwrap();
    app.signal("HUP");
    support::eventually(
        "the fixed document is read",
        Duration::from_secs(20),
        || async {
            let tools = list(client.request("tools/list", json!({}), None).await);
            if tools.len() == count - 1 {
                Ok(())
            } else {
                Err(tools)
            }
        },
    )
    .await;
}

/// `portcullis backend`'s own `/openapi.json` through this path: its operations become the task
/// tools (prefixed), called with the service token and `X-User-ID`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portcullis_backend_as_an_openapi_upstream() {
    let backend = TestApp::spawn_with(
        support::Db::Sqlite,
        Options {
            command: Some("backend".into()),
            env: vec![("SERVICE_AUTH_TOKEN".into(), SERVICE_TOKEN.into())],
            ..Default::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[[upstreams]]\nname = \"tasks_api\"\nopenapi = \"{}/openapi.json\"\n\
         base_url = \"{}\"\nauth = \"service_token\"\nservice_token_env = \"TASKS_API_TOKEN\"\n\
         exclude = [\"get_user_profile\"]\n",
        backend.public_url.as_str().trim_end_matches('/'),
        backend.public_url.as_str().trim_end_matches('/'),
    );
    let app = gateway_app(
        free_port(),
        &config,
        dir.path(),
        Options {
            env: vec![("TASKS_API_TOKEN".into(), SERVICE_TOKEN.into())],
            ..Default::default()
        },
    )
    .await;
    wait_listed(&app, &["tasks_api"]).await;
    let both = "tasks_api:read tasks_api:write";
    let alice = McpClient::new(app.mcp_url(), app.token("alice", both));
    let bob = McpClient::new(app.mcp_url(), app.token("bob", both));
    let created = alice
        .ok(
            "tasks_api_create_task",
            json!({ "title": "from the document" }),
        )
        .await;
    let id = created["task"]["id"].as_str().unwrap().to_owned();
    let mine = alice.ok("tasks_api_list_tasks", json!({})).await;
    assert_eq!(mine["tasks"][0]["id"], id.as_str(), "{mine}");
    let theirs = bob.ok("tasks_api_list_tasks", json!({})).await;
    assert_eq!(theirs["tasks"], json!([]), "{theirs}");
    let hidden = bob
        .tool_error("tasks_api_get_task", json!({ "id": id }))
        .await;
    assert_eq!(hidden["error_type"], "not_found_error", "{hidden}");
    let bad = alice
        .tool_error("tasks_api_create_task", json!({ "title": "x".repeat(201) }))
        .await;
    assert_eq!(bad["error_type"], "validation_error", "{bad}");
}

/// The README's "Turn your REST API into MCP tools": its FastAPI app and its `[[upstreams]]`
/// table, taken from the README as written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_rest_api_works_behind_portcullis() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let block = |opening: &str| {
        let start = readme.find(opening).expect(opening);
        let code = &readme[start + opening.find('\n').unwrap() + 1..];
        code[..code.find("```").unwrap()].to_owned()
    };
    let api_port = free_port();
    let code = block("```python\n# api.py").replace("port=8000", &format!("port={api_port}"));
    let config = block("```toml\n[[upstreams]]\nname = \"notes_api\"")
        .replace("127.0.0.1:8000", &format!("127.0.0.1:{api_port}"));
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("api.py");
    std::fs::write(&script, code).unwrap();
    let _api = tokio::process::Command::new(venv_python())
        .arg(&script)
        .env("SERVICE_AUTH_TOKEN", SERVICE_TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(support::log_path(dir.path())).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    support::eventually("api.py listening", Duration::from_secs(60), || {
        tokio::net::TcpStream::connect(("127.0.0.1", api_port))
    })
    .await;
    let app = gateway_app(
        free_port(),
        &config,
        dir.path(),
        Options {
            env: vec![("SERVICE_AUTH_TOKEN".into(), SERVICE_TOKEN.into())],
            ..Default::default()
        },
    )
    .await;
    wait_listed(&app, &["notes_api"]).await;
    let alice = McpClient::new(app.mcp_url(), app.token("alice", BOTH));
    let bob = McpClient::new(app.mcp_url(), app.token("bob", BOTH));
    let note = alice
        .ok(
            "notes_api_create_note",
            json!({ "title": "hello", "tags": ["a"] }),
        )
        .await;
    assert_eq!(note["title"], "hello", "{note}");
    let mine = alice.ok("notes_api_list_notes", json!({})).await;
    assert_eq!(mine["notes"][0]["title"], "hello", "{mine}");
    let his = bob.ok("notes_api_list_notes", json!({})).await;
    assert_eq!(his["notes"], json!([]), "{his}");
    let bad = alice
        .tool_error("notes_api_create_note", json!({ "tags": ["no title"] }))
        .await;
    assert_eq!(bad["error_type"], "validation_error", "{bad}");
}
