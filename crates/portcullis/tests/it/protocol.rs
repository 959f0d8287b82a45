//! Protocol behaviour on `/mcp`: discovery, the legacy handshake, tool metadata, version and
//! header validation, plain JSON responses.

use crate::support;

use serde_json::json;
use support::{Db, Era, TestApp, mcp::send};

fn post(app: &TestApp, token: &str) -> reqwest::RequestBuilder {
    app.http
        .post(app.mcp_url())
        .bearer_auth(token)
        .header("Accept", "application/json, text/event-stream")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_are_listed_with_schemas_and_annotations() {
    let app = TestApp::spawn_in_process(Db::Sqlite).await;
    for era in [Era::Legacy, Era::Current] {
        let reply = app
            .client("alice")
            .era(era)
            .request("tools/list", json!({}), None)
            .await;
        assert_eq!(
            reply.header("content-type"),
            Some("application/json"),
            "plain JSON, not SSE"
        );
        let tools = reply.result()["tools"].as_array().unwrap().clone();
        let mut names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "complete_task",
                "create_task",
                "create_workspace",
                "delete_task",
                "get_task",
                "list_tasks",
                "list_workspaces",
                "update_task"
            ]
        );
        let tool = |n: &str| tools.iter().find(|t| t["name"] == n).unwrap().clone();
        assert_eq!(tool("list_tasks")["annotations"]["readOnlyHint"], true);
        assert_eq!(tool("delete_task")["annotations"]["destructiveHint"], true);
        assert_eq!(tool("create_task")["annotations"]["readOnlyHint"], false);
        let create = tool("create_task");
        assert_eq!(create["inputSchema"]["type"], "object");
        assert_eq!(create["inputSchema"]["required"], json!(["title"]));
        assert!(create["inputSchema"]["properties"]["description"].is_object());
        assert!(create["description"].as_str().unwrap().len() > 20);
        let status = &tool("list_tasks")["inputSchema"]["properties"]["status"];
        assert!(status.to_string().contains("in_progress"), "{status}");
        if era == Era::Current {
            assert!(
                reply.result().get("ttlMs").is_some(),
                "2026-07-28 lists carry cache hints: {}",
                reply.body
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_discover_describes_the_server() {
    let app = TestApp::spawn_in_process(Db::Sqlite).await;
    let reply = app
        .client("alice")
        .era(Era::Current)
        .request("server/discover", json!({}), None)
        .await;
    let result = reply.result();
    let versions = result["supportedVersions"].as_array().unwrap();
    for v in ["2026-07-28", "2025-11-25", "2025-06-18"] {
        assert!(versions.contains(&json!(v)), "{result}");
    }
    assert!(result["capabilities"]["tools"].is_object());
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "portcullis"
    );
    assert!(reply.header("mcp-session-id").is_none(), "stateless");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_clients_can_initialize_then_call_without_a_session() {
    let app = TestApp::spawn_in_process(Db::Sqlite).await;
    let token = app.token("alice", "tasks:read tasks:write");
    for version in ["2025-06-18", "2025-11-25"] {
        let init = send(post(&app, &token).json(&json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": { "protocolVersion": version, "capabilities": {}, "clientInfo": { "name": "t", "version": "1" } }
        })))
        .await;
        assert_eq!(init.result()["protocolVersion"], version);
        assert!(
            init.header("mcp-session-id").is_none(),
            "stateless by default"
        );
        let note = send(
            post(&app, &token)
                .header("MCP-Protocol-Version", version)
                .json(&json!({
                    "jsonrpc": "2.0", "method": "notifications/initialized"
                })),
        )
        .await;
        assert_eq!(note.status, 202);
        let call = send(
            post(&app, &token)
                .header("MCP-Protocol-Version", version)
                .json(&json!({
                    "jsonrpc": "2.0", "id": 2, "method": "tools/call",
                    "params": { "name": "create_task", "arguments": { "title": version } }
                })),
        )
        .await;
        assert_eq!(call.result()["structuredContent"]["task"]["title"], version);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_sessions_when_enabled() {
    let app = TestApp::spawn_with(
        Db::Sqlite,
        support::Options {
            args: vec!["--legacy-sessions".into()],
            ..Default::default()
        },
    )
    .await;
    let token = app.token("alice", "tasks:read tasks:write");
    let init = send(post(&app, &token).json(&json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "t", "version": "1" } }
    })))
    .await;
    assert_eq!(init.status, 200);
    let session = init
        .header("mcp-session-id")
        .expect("a session id")
        .to_owned();
    let with_session = |body: serde_json::Value| {
        post(&app, &token)
            .header("MCP-Protocol-Version", "2025-11-25")
            .header("Mcp-Session-Id", session.clone())
            .json(&body)
    };
    assert_eq!(
        send(with_session(
            json!({"jsonrpc":"2.0","method":"notifications/initialized"})
        ))
        .await
        .status,
        202
    );
    let call = send(with_session(json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_tasks","arguments":{}}}))).await;
    assert_eq!(call.status, 200);
    // Session responses stream as SSE: the JSON-RPC result is the `data:` line of an event.
    let text = call.body.as_str().expect("an SSE body").to_owned();
    let data = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .find(|d| d.contains("\"result\""))
        .unwrap_or_else(|| panic!("no result event in {text}"));
    let message: serde_json::Value = serde_json::from_str(data.trim()).unwrap();
    assert_eq!(
        message["result"]["structuredContent"]["tasks"],
        json!([]),
        "{text}"
    );
    // Requests without a session are still served statelessly.
    let stateless = app.client("alice").call("list_tasks", json!({})).await;
    assert_eq!(stateless.result()["structuredContent"]["tasks"], json!([]));
    // An unknown session is 404, as the 2025 transports require.
    let unknown = send(
        post(&app, &token)
            .header("MCP-Protocol-Version", "2025-11-25")
            .header("Mcp-Session-Id", "nope")
            .json(&json!({"jsonrpc":"2.0","id":3,"method":"tools/list"})),
    )
    .await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_versions_and_mismatched_headers_are_refused() {
    let app = TestApp::spawn_in_process(Db::Sqlite).await;
    let token = app.token("alice", "tasks:read tasks:write");
    let bad_header = send(
        post(&app, &token)
            .header("MCP-Protocol-Version", "1999-01-01")
            .json(&json!({
                "jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}
            })),
    )
    .await;
    assert_eq!(bad_header.status, 400, "{}", bad_header.body);

    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2099-01-01",
        "io.modelcontextprotocol/clientInfo": { "name": "t", "version": "1" },
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    let bad_meta = send(
        post(&app, &token)
            .header("MCP-Protocol-Version", "2099-01-01")
            .header("Mcp-Method", "server/discover")
            .json(&json!({
                "jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": { "_meta": meta }
            })),
    )
    .await;
    assert_eq!(bad_meta.status, 400, "{}", bad_meta.body);
    assert_eq!(bad_meta.body["error"]["code"], -32022, "{}", bad_meta.body);

    let init = send(post(&app, &token).json(&json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": { "protocolVersion": "1999-01-01", "capabilities": {}, "clientInfo": { "name": "t", "version": "1" } }
    })))
    .await;
    // Version negotiation: the server answers with a version it supports.
    let offered = init.result()["protocolVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        ["2025-11-25", "2025-06-18"].contains(&offered.as_str()),
        "{offered}"
    );

    // 2026-07-28: Mcp-Name must match the tool in the body.
    let alice = app.client("alice").era(Era::Current);
    let mut params = json!({ "name": "list_tasks", "arguments": {} });
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": { "name": "t", "version": "1" },
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    let mismatch = send(
        post(&app, &alice.token)
            .header("MCP-Protocol-Version", "2026-07-28")
            .header("Mcp-Method", "tools/call")
            .header("Mcp-Name", "delete_task")
            .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params })),
    )
    .await;
    assert_eq!(mismatch.status, 400, "{}", mismatch.body);

    let not_json = send(
        post(&app, &token)
            .header("content-type", "application/json")
            .body("[1,2"),
    )
    .await;
    assert_eq!(not_json.status, 400);
}

/// Well-formed stateless `tools/call` and `tools/list` requests take a direct path to rmcp's
/// handler; anything unusual goes through rmcp's transport. Both must answer identically. An
/// `Accept` header with parameters is one way to force the transport path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_dispatch_answers_exactly_as_rmcp_transport_does() {
    // Every case is sent twice: a budget these cases never exhaust.
    let app = TestApp::spawn_with(
        Db::Sqlite,
        support::Options {
            in_process: true,
            args: ["--rate-limit", "1000/min", "--rate-limit-burst", "1000"]
                .map(String::from)
                .to_vec(),
            ..support::Options::default()
        },
    )
    .await;
    let token = app.token("alice", "tasks:read tasks:write");
    app.client("alice")
        .ok(
            "create_task",
            json!({ "title": "fixed", "description": "d" }),
        )
        .await;
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": { "name": "t", "version": "1" },
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    let cases = [
        (
            "2025-11-25",
            None,
            json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
        ),
        (
            "2025-06-18",
            None,
            json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_tasks","arguments":{}}}),
        ),
        (
            "2025-11-25",
            None,
            json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get_task","arguments":{"task_id":"nope"}}}),
        ),
        (
            "2025-11-25",
            None,
            json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"no_such_tool","arguments":{}}}),
        ),
        (
            "2026-07-28",
            Some(("tools/list", None)),
            json!({"jsonrpc":"2.0","id":"a","method":"tools/list","params":{"_meta": meta}}),
        ),
        (
            "2026-07-28",
            Some(("tools/call", Some("list_tasks"))),
            json!({"jsonrpc":"2.0","id":"b","method":"tools/call","params":{"name":"list_tasks","arguments":{"status":"todo"},"_meta": meta}}),
        ),
        (
            "2026-07-28",
            Some(("tools/call", Some("update_task"))),
            json!({"jsonrpc":"2.0","id":"c","method":"tools/call","params":{"name":"update_task","arguments":{"task_id":"0190b8c4-0000-7000-8000-000000000000","title":"x"},"_meta": meta}}),
        ),
        // Shapes the direct path reads itself rather than through rmcp's message types.
        (
            "2025-11-25",
            None,
            json!({"jsonrpc":"2.0","id":5,"method":"tools/list","params":{}}),
        ),
        (
            "2025-11-25",
            None,
            json!({"jsonrpc":"2.0","id":6,"method":"tools/list","params":{"cursor":"nope"}}),
        ),
        (
            "2025-11-25",
            None,
            json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"list_tasks","arguments":{"limit":1},"unknown":true}}),
        ),
    ];
    // Not requests rmcp accepts: whatever it answers, the direct path must answer the same.
    let refused = [
        json!({"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"list_tasks"},"result":{}}),
        json!({"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"list_tasks"},"result":null}),
        json!({"jsonrpc":"2.0","id":12,"method":"tools/list","params":null}),
        json!({"jsonrpc":"1.0","id":9,"method":"tools/call","params":{"name":"list_tasks"}}),
        json!({"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"list_tasks","arguments":[1]}}),
        json!({"jsonrpc":"2.0","id":{"a":1},"method":"tools/call","params":{"name":"list_tasks"}}),
    ];
    let cases = cases.into_iter().map(|case| (case, true)).chain(
        refused
            .into_iter()
            .map(|body| (("2025-11-25", None, body), false)),
    );
    for ((version, headers, body), accepted) in cases {
        let mut answers = Vec::new();
        for accept in [
            "application/json, text/event-stream",
            "application/json;q=1, text/event-stream;q=1",
        ] {
            let mut req = app
                .http
                .post(app.mcp_url())
                .bearer_auth(&token)
                .header("Accept", accept)
                .header("MCP-Protocol-Version", version);
            if let Some((method, name)) = headers {
                req = req.header("Mcp-Method", method);
                if let Some(name) = name {
                    req = req.header("Mcp-Name", name);
                }
            }
            let reply = send(req.json(&body)).await;
            answers.push((
                reply.status,
                reply.header("content-type").map(str::to_owned),
                reply.body,
            ));
        }
        assert_eq!(
            answers[0], answers[1],
            "direct and transport paths differ for {body}"
        );
        if accepted {
            assert_eq!(answers[0].0, 200, "{body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_a_json_rpc_error() {
    let app = TestApp::spawn_with(
        Db::Sqlite,
        support::Options {
            args: vec!["--max-body-bytes".into(), "2048".into()],
            ..Default::default()
        },
    )
    .await;
    let token = app.token("alice", "tasks:read tasks:write");
    let big = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_task","arguments":{"title":"x","description":"d".repeat(4096)}}});
    let reply = send(
        post(&app, &token)
            .header("MCP-Protocol-Version", "2025-11-25")
            .json(&big),
    )
    .await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.body["error"]["code"], -32600);
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2048 bytes")
    );
    assert_eq!(
        app.client("alice").ok("list_tasks", json!({})).await["count"],
        0
    );
}
