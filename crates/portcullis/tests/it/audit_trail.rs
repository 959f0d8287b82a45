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

/// The sharpest case: the database cannot take the audit rows (another process holds
/// SQLite's write lock). Calls go on, their rows waiting in the audit journal, until the
/// journal's backlog bound is reached; then calls are refused, none answered unaudited. Once
/// the lock goes, the journal drains and calls are answered again; after a SIGKILL every
/// answered call is in the trail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_wait_in_the_journal_while_the_database_is_locked_and_are_refused_when_it_is_full() {
    let mut app = TestApp::spawn_with(
        Db::Sqlite,
        support::Options {
            // Room for a handful of events.
            args: ["--audit-backlog-max-bytes", "4096", "--rate-limit", "off"]
                .map(String::from)
                .to_vec(),
            ..Default::default()
        },
    )
    .await;
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

    let call = || {
        app.http
            .post(app.mcp_url())
            .bearer_auth(app.token("alice", "tasks:read"))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                          "params": {"name": "list_tasks", "arguments": {}}}))
            .send()
    };
    let mut answered = 1;
    let (mut answered_during_lock, mut refused) = (0, 0);
    for _ in 0..40 {
        let reply = call().await.unwrap();
        match reply.status().as_u16() {
            200 => answered_during_lock += 1,
            503 => {
                refused += 1;
                let body: serde_json::Value = reply.json().await.unwrap();
                assert!(
                    body["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains("audit trail"),
                    "{body}"
                );
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        answered_during_lock >= 3 && refused >= 20,
        "{answered_during_lock} answered and {refused} refused while the database was locked"
    );
    answered += answered_during_lock;
    holder.wait().unwrap();
    // The journal drains into the database and calls are answered again.
    let mut back = false;
    for _ in 0..50 {
        if call().await.unwrap().status() == 200 {
            answered += 1;
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "calls still refused after the lock went");
    app.kill();
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
    assert_eq!(
        recorded, answered,
        "{answered} calls answered, {recorded} audited (refused calls have no decision to record)"
    );
}
