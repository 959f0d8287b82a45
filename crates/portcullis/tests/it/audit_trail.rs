//! The audit trail stays complete when the process dies: a call is answered only after its
//! decision is committed, so after a SIGKILL under load every acknowledged call has its row.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use crate::support;

use serde_json::json;
use support::{Db, TestApp};

const WORKERS: usize = 8;

/// Calls tools as `subject` until the server stops answering; returns how many calls it
/// acknowledged (a 200 with a successful result).
async fn call_until_killed(app_url: String, token: String, stop: Arc<AtomicBool>) -> usize {
    let mcp = support::McpClient::new(app_url, token);
    let mut acknowledged = 0;
    while !stop.load(Ordering::Relaxed) {
        let (tool, arguments) = if acknowledged % 2 == 0 {
            (
                "create_task",
                json!({ "title": format!("task {acknowledged}") }),
            )
        } else {
            ("list_tasks", json!({}))
        };
        match mcp.try_call(tool, arguments).await {
            Some(reply) if reply.status == 200 && reply.result()["isError"] == json!(false) => {
                acknowledged += 1;
            }
            _ => break,
        }
    }
    acknowledged
}

async fn every_acknowledged_call_survives_sigkill(db: Db) {
    let mut app = TestApp::spawn(db).await;
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|i| {
            let token = app.token(&format!("worker-{i}"), "tasks:read tasks:write");
            tokio::spawn(call_until_killed(app.mcp_url(), token, stop.clone()))
        })
        .collect();
    // Killed mid-load, with calls in flight on every worker.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.kill();
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for (i, worker) in workers.into_iter().enumerate() {
        let acknowledged = worker.await.unwrap();
        total += acknowledged;
        let user = format!("worker-{i}");
        let recorded = app
            .audit(&[
                "--user",
                &user,
                "--decision",
                "allowed",
                "--limit",
                "100000",
            ])
            .into_iter()
            .filter(|e| e["action"] == "tools/call")
            .count();
        assert!(
            recorded >= acknowledged,
            "{user}: {acknowledged} calls acknowledged, {recorded} audited"
        );
    }
    assert!(
        total >= 50,
        "too little load to mean anything: {total} calls"
    );
}

both_backends!(every_acknowledged_call_survives_sigkill);

/// The sharpest case: the audit write cannot commit (another process holds SQLite's write
/// lock), so no call may be answered as done, and the calls answered before the lock, and
/// after it is released, are all in the trail after a SIGKILL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_call_is_answered_while_its_audit_row_cannot_be_committed() {
    let mut app = TestApp::spawn(Db::Sqlite).await;
    let path = app
        .database_url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .to_owned();
    let mcp = app.client("alice");
    assert_eq!(mcp.ok("list_tasks", json!({})).await["count"], 0);

    // Another process takes the write lock and keeps it for 2.5 s.
    let mut holder = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys, time\n\
             c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
             c.execute('BEGIN IMMEDIATE')\n\
             print('locked', flush=True)\n\
             time.sleep(2.5)\n",
            &path,
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");

    // Reads need no write lock, but their audit rows do: none may be acknowledged meanwhile.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(700))
        .build()
        .unwrap();
    let mut answered_during_lock = 0;
    for _ in 0..3 {
        let reply = http
            .post(app.mcp_url())
            .bearer_auth(app.token("alice", "tasks:read"))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                          "params": {"name": "list_tasks", "arguments": {}}}))
            .send()
            .await;
        if let Ok(r) = reply
            && r.status() == 200
        {
            answered_during_lock += 1;
        }
    }
    app.kill();
    holder.wait().unwrap();
    let recorded = app
        .audit(&[
            "--user",
            "alice",
            "--decision",
            "allowed",
            "--limit",
            "1000",
        ])
        .into_iter()
        .filter(|e| e["action"] == "tools/call")
        .count();
    assert!(
        recorded > answered_during_lock,
        "{answered_during_lock} calls answered while the audit trail was locked, {recorded} audited in all"
    );
}
