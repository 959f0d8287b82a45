//! Every tool, in both protocol eras, on SQLite and PostgreSQL, through the real server.

use crate::support;

use serde_json::json;
use support::{Db, Era, TestApp};

both_backends!(
    task_lifecycle_in_both_eras,
    users_cannot_touch_each_others_data,
    bad_arguments_are_tool_errors,
    tenants_are_separate
);

async fn task_lifecycle_in_both_eras(db: Db) {
    let app = TestApp::spawn_in_process(db).await;
    for era in [Era::Legacy, Era::Current] {
        let alice = app.client(&format!("alice-{era:?}")).era(era);
        let ws = alice
            .ok("create_workspace", json!({ "name": "Home" }))
            .await;
        let ws_id = ws["workspace"]["id"].as_str().unwrap().to_owned();
        let listed = alice.ok("list_workspaces", json!({})).await;
        assert_eq!(listed["workspaces"][0]["name"], "Home");

        let created = alice
            .ok(
                "create_task",
                json!({ "title": "  Buy milk ", "description": "2 litres", "workspace_id": ws_id }),
            )
            .await;
        let task = &created["task"];
        assert_eq!(task["title"], "Buy milk");
        assert_eq!(task["status"], "todo");
        assert_eq!(task["workspace_id"], json!(ws_id));
        let id = task["id"].as_str().unwrap().to_owned();
        alice
            .ok("create_task", json!({ "title": "Call mum" }))
            .await;

        let all = alice.ok("list_tasks", json!({})).await;
        assert_eq!(all["tasks"].as_array().unwrap().len(), 2);
        assert_eq!(all["count"], 2);
        let in_ws = alice
            .ok("list_tasks", json!({ "workspace_id": ws_id }))
            .await;
        assert_eq!(in_ws["tasks"].as_array().unwrap().len(), 1);

        let got = alice.ok("get_task", json!({ "task_id": id })).await;
        assert_eq!(got["task"]["description"], "2 litres");

        let updated = alice
            .ok(
                "update_task",
                json!({ "task_id": id, "title": "Buy oat milk", "status": "in_progress" }),
            )
            .await;
        assert_eq!(updated["task"]["title"], "Buy oat milk");
        assert_eq!(updated["task"]["status"], "in_progress");
        assert!(updated["task"]["completed_at"].is_null());

        let done = alice.ok("complete_task", json!({ "task_id": id })).await;
        assert_eq!(done["task"]["status"], "done");
        assert!(done["task"]["completed_at"].is_string());
        let only_done = alice.ok("list_tasks", json!({ "status": "done" })).await;
        assert_eq!(only_done["tasks"].as_array().unwrap().len(), 1);
        let reopened = alice
            .ok("update_task", json!({ "task_id": id, "status": "todo" }))
            .await;
        assert!(reopened["task"]["completed_at"].is_null());

        let deleted = alice.ok("delete_task", json!({ "task_id": id })).await;
        assert_eq!(deleted["deleted"], true);
        let gone = alice.tool_error("get_task", json!({ "task_id": id })).await;
        assert_eq!(gone["error_type"], "not_found_error");
        assert!(!gone["suggestions"].as_array().unwrap().is_empty());
    }
}

async fn users_cannot_touch_each_others_data(db: Db) {
    let app = TestApp::spawn_in_process(db).await;
    for era in [Era::Legacy, Era::Current] {
        let alice = app.client("alice").era(era);
        let bob = app.client("bob").era(era);
        let task = alice
            .ok("create_task", json!({ "title": "Alice's secret" }))
            .await;
        let id = task["task"]["id"].as_str().unwrap().to_owned();
        let ws = alice
            .ok("create_workspace", json!({ "name": "Alice's" }))
            .await;
        let ws_id = ws["workspace"]["id"].as_str().unwrap().to_owned();

        for (tool, args) in [
            ("get_task", json!({ "task_id": id })),
            ("update_task", json!({ "task_id": id, "title": "pwned" })),
            ("complete_task", json!({ "task_id": id })),
            ("delete_task", json!({ "task_id": id })),
            (
                "create_task",
                json!({ "title": "sneaky", "workspace_id": ws_id }),
            ),
            ("list_tasks", json!({ "workspace_id": ws_id })),
        ] {
            let reply = bob.call(tool, args).await;
            let result = reply.result();
            if tool == "list_tasks" {
                assert_eq!(
                    result["structuredContent"]["tasks"],
                    json!([]),
                    "bob saw alice's tasks"
                );
            } else {
                assert_eq!(
                    result["isError"], true,
                    "{tool} on alice's data succeeded for bob: {result}"
                );
                assert_eq!(result["structuredContent"]["error_type"], "not_found_error");
            }
        }
        let bobs = bob.ok("list_tasks", json!({})).await;
        assert!(!bobs["tasks"].to_string().contains("Alice's secret"));
        assert_eq!(
            bob.ok("list_workspaces", json!({})).await["workspaces"],
            json!([])
        );
        // Alice's task is untouched.
        let still = alice.ok("get_task", json!({ "task_id": id })).await;
        assert_eq!(still["task"]["title"], "Alice's secret");
        assert_eq!(still["task"]["status"], "todo");
    }
}

async fn bad_arguments_are_tool_errors(db: Db) {
    let app = TestApp::spawn_in_process(db).await;
    let alice = app.client("alice").era(Era::Current);
    for (tool, args, mention) in [
        ("create_task", json!({}), "title"),
        ("create_task", json!({ "title": "" }), "title"),
        ("create_task", json!({ "title": "x".repeat(201) }), "title"),
        (
            "create_task",
            json!({ "title": "ok", "colour": "red" }),
            "colour",
        ),
        ("get_task", json!({ "task_id": "42" }), "task_id"),
        ("list_tasks", json!({ "status": "finished" }), "finished"),
        ("list_tasks", json!({ "limit": 0 }), "limit"),
        (
            "update_task",
            json!({ "task_id": "0190b8c4-0000-7000-8000-000000000000" }),
            "nothing to update",
        ),
        (
            "create_task",
            json!({ "title": "ok", "workspace_id": "0190b8c4-0000-7000-8000-000000000000" }),
            "workspace",
        ),
    ] {
        let error = alice.tool_error(tool, args.clone()).await;
        let text = error.to_string();
        assert!(
            text.contains(mention),
            "{tool} {args}: error does not mention {mention}: {text}"
        );
        assert!(
            error["message"].is_string() && error["error_type"].is_string(),
            "{error}"
        );
        assert!(!error["suggestions"].as_array().unwrap().is_empty());
    }
}

async fn tenants_are_separate(db: Db) {
    let app = TestApp::spawn_in_process(db).await;
    let url = app.mcp_url();
    let token_in = |tenant: &str| {
        let mut claims = app
            .issuer
            .claims("same-user", "tasks:read tasks:write", &url);
        claims["org_id"] = json!(tenant);
        app.issuer.sign(&claims)
    };
    let acme = support::McpClient::new(url.clone(), token_in("acme"));
    let globex = support::McpClient::new(url.clone(), token_in("globex"));
    let task = acme
        .ok("create_task", json!({ "title": "acme plan" }))
        .await;
    let id = task["task"]["id"].as_str().unwrap();
    assert_eq!(globex.ok("list_tasks", json!({})).await["tasks"], json!([]));
    let err = globex
        .tool_error("get_task", json!({ "task_id": id }))
        .await;
    assert_eq!(err["error_type"], "not_found_error");
    assert_eq!(
        acme.ok("list_tasks", json!({})).await["tasks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
