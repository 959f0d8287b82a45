//! The command line as an operator uses it: zero-config start, development tokens, the config
//! file and environment, and one clear line for each bad setting.

use crate::support;

use std::{process::Command, time::Duration};

use serde_json::json;
use support::{McpClient, binary, free_port};

fn run(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(binary());
    cmd.args(args).env_remove("PORTCULLIS_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run portcullis")
}

fn mint(bind: &str, scope: &str, env: &[(&str, &str)]) -> std::process::Output {
    run(
        &[
            "token", "mint", "--bind", bind, "--sub", "alice", "--scope", scope,
        ],
        env,
    )
}

struct Server(std::process::Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_healthy(base: &str) {
    for _ in 0..200 {
        if reqwest::get(format!("{base}/health"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server at {base} did not start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_config_start_creates_its_data_and_accepts_minted_tokens() {
    let home = tempfile::tempdir().unwrap();
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let env = [
        ("HOME", home.path().to_str().unwrap()),
        ("XDG_DATA_HOME", ""),
    ];
    let mut cmd = Command::new(binary());
    cmd.args(["serve", "--bind", &bind])
        .env_remove("PORTCULLIS_CONFIG")
        .stderr(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let _server = Server(cmd.spawn().unwrap());
    let base = format!("http://{bind}");
    wait_healthy(&base).await;
    let data = home.path().join(".local/share/portcullis");
    assert!(
        data.join("portcullis.db").exists(),
        "SQLite database created under the data dir"
    );
    assert!(
        data.join("keys/signing-key.pem").exists(),
        "signing key generated"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("keys/signing-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "private key readable by others");
    }
    assert_eq!(
        reqwest::get(format!("{base}/ready"))
            .await
            .unwrap()
            .status(),
        200
    );

    let out = mint(&bind, "tasks:read tasks:write", &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.trim_end();
    assert_eq!(stdout.lines().count(), 1, "the token alone on stdout");
    assert_eq!(token.split('.').count(), 3);

    let client = McpClient::new(format!("{base}/mcp"), token.to_owned());
    client
        .ok("create_task", json!({ "title": "zero config" }))
        .await;
    assert_eq!(
        client.ok("list_tasks", json!({})).await["tasks"][0]["title"],
        "zero config"
    );
    let meta: serde_json::Value =
        reqwest::get(format!("{base}/.well-known/oauth-protected-resource/mcp"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(meta["authorization_servers"], json!([base]));

    // A read-only token minted the same way is limited to reads.
    let out = mint(&bind, "tasks:read", &env);
    let reader = McpClient::new(
        format!("{base}/mcp"),
        String::from_utf8(out.stdout).unwrap().trim().to_owned(),
    );
    assert_eq!(
        reader
            .call("create_task", json!({ "title": "x" }))
            .await
            .status,
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_come_from_a_config_file_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("portcullis.toml");
    std::fs::write(
        &config,
        format!(
            "bind = \"127.0.0.1:1\"\ndata_dir = \"{}\"\nlog_format = \"json\"\n",
            dir.path().join("d").display()
        ),
    )
    .unwrap();
    // The environment overrides the file's bind.
    let mut cmd = Command::new(binary());
    cmd.args(["serve", "--config", config.to_str().unwrap()])
        .env("PORTCULLIS_BIND", format!("127.0.0.1:{port}"))
        .stderr(std::process::Stdio::null());
    let _server = Server(cmd.spawn().unwrap());
    wait_healthy(&format!("http://127.0.0.1:{port}")).await;
    assert!(
        dir.path().join("d/portcullis.db").exists(),
        "data_dir from the file"
    );
}

#[test]
fn bad_settings_stop_start_up_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let bad_toml = dir.path().join("bad.toml");
    std::fs::write(&bad_toml, "bnid = \"127.0.0.1:1\"\n").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--bind".into(), "localhost-ish".into()], "--bind"),
        (
            vec!["--public-url".into(), "not a url".into()],
            "--public-url",
        ),
        (
            vec!["--database-url".into(), "mysql://x/y".into()],
            "--database-url",
        ),
        (
            vec!["--config".into(), bad_toml.display().to_string()],
            "bnid",
        ),
        (
            vec!["--jwt-public-key".into(), format!("{d}/missing.pem")],
            "--issuer",
        ),
        (
            vec![
                "--jwt-public-key".into(),
                format!("{d}/missing.pem"),
                "--issuer".into(),
                "https://i.test".into(),
            ],
            "missing.pem",
        ),
        (vec!["--log-format".into(), "xml".into()], "--log-format"),
    ];
    for (args, mentions) in cases {
        let mut full = vec![
            "serve".to_owned(),
            "--data-dir".into(),
            d.to_owned(),
            "--bind".into(),
            format!("127.0.0.1:{}", free_port()),
        ];
        full.extend(args.clone());
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        let out = run(&refs, &[]);
        assert!(!out.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let error_lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
        assert_eq!(error_lines.len(), 1, "{args:?}: {stderr}");
        assert!(error_lines[0].contains(mentions), "{args:?}: {stderr}");
    }
}

/// A database that cannot be reached is reported at once, in words: where, and why.
#[test]
fn database_errors_say_where_and_why_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let started = std::time::Instant::now();
    let refused = run(
        &[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            data,
            "--database-url",
            "postgres://postgres@127.0.0.1:1/portcullis",
        ],
        &[],
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("cannot connect to PostgreSQL at 127.0.0.1:1: connection refused"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("Some(") && !stderr.contains("pool timed out"),
        "{stderr}"
    );
    // An explicit SQLite URL in a directory that does not exist is not created.
    let missing = dir.path().join("typo").join("portcullis.db");
    let url = format!("sqlite://{}", missing.display());
    let typo = run(
        &[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            data,
            "--database-url",
            &url,
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&typo.stderr);
    assert!(!typo.status.success());
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(
        !dir.path().join("typo").exists(),
        "the directory was created"
    );
}

/// `--bind localhost:PORT` is the IPv4 loopback address.
#[test]
fn bind_accepts_localhost() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        &[
            "config",
            "check",
            "--bind",
            "localhost:9000",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("bind = \"127.0.0.1:9000\""), "{text}");
}
