//! Third-party programs the tests drive: the official SDK clients, Chromium, and the upstream
//! MCP servers in `tests/upstreams/`, all installed into `target/test-clients/` by
//! `scripts/install-test-clients.sh`. A missing install fails a test rather than skipping it.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use super::TestApp;

const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);
pub const INSTALL_HINT: &str =
    "run `scripts/install-test-clients.sh` from the repository root to install the MCP client SDKs";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

pub fn test_clients_dir() -> PathBuf {
    repo_root().join("target/test-clients")
}

pub fn require_installed(what: &str, path: &Path) {
    assert!(
        path.exists(),
        "{what} is not installed ({} is missing): {INSTALL_HINT}",
        path.display()
    );
}

/// Runs `program args…` with `envs`, failing the test on a timeout or a non-zero exit and printing
/// the program's output either way. Returns its stdout.
pub async fn run_client(
    label: &str,
    program: &Path,
    args: &[String],
    envs: &[(&str, PathBuf)],
    app: &TestApp,
) -> String {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, value) in envs {
        command.env(key, value);
    }
    let child = command.spawn().unwrap_or_else(|e| {
        panic!(
            "could not start {label} ({}): {e}; {INSTALL_HINT}",
            program.display()
        )
    });
    let output = match tokio::time::timeout(CLIENT_TIMEOUT, child.wait_with_output()).await {
        Ok(output) => output.unwrap_or_else(|e| panic!("waiting for {label}: {e}")),
        Err(_) => panic!(
            "{label} did not finish within {CLIENT_TIMEOUT:?} (killed)\n--- server stderr ---\n{}",
            app.stderr()
        ),
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    println!("--- {label} stdout ---\n{stdout}");
    if !stderr.is_empty() {
        println!("--- {label} stderr ---\n{stderr}");
    }
    assert!(
        output.status.success(),
        "{label} failed with {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n--- server stderr ---\n{}",
        output.status,
        app.stderr()
    );
    stdout
}

/// The venv's Python, with the `mcp` SDK and FastMCP.
pub fn venv_python() -> PathBuf {
    let python = test_clients_dir().join("venv/bin/python");
    require_installed("the Python venv with the `mcp` SDK and FastMCP", &python);
    python
}

/// One of the upstream MCP servers in `tests/upstreams/`, running until dropped.
pub struct UpstreamServer {
    /// Its Streamable HTTP endpoint, as it announced it.
    pub url: String,
    /// Every `Authorization` header value it received (with `--seen-tokens`).
    pub seen_tokens: PathBuf,
    child: tokio::process::Child,
}

impl UpstreamServer {
    /// Starts `tests/upstreams/SCRIPT ARGS… --seen-tokens FILE` and waits (up to a minute) for
    /// its `listening on URL` line.
    pub async fn start(script: &str, args: &[String], envs: &[(&str, &str)], dir: &Path) -> Self {
        use tokio::io::AsyncBufReadExt;
        let path = repo_root().join("tests/upstreams").join(script);
        require_installed(script, &path);
        let seen_tokens = dir.join(format!("{script}.{}.seen", uuid::Uuid::new_v4().simple()));
        let mut command = tokio::process::Command::new(venv_python());
        command
            .arg(&path)
            .args(args)
            .arg("--seen-tokens")
            .arg(&seen_tokens)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(super::log_path(dir)).unwrap())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {script}: {e}; {INSTALL_HINT}"));
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("{script} did not start listening within a minute"))
            .unwrap()
            .unwrap_or_else(|| panic!("{script} exited before listening"));
        let url = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{script} printed {line:?}"))
            .to_owned();
        Self {
            url,
            seen_tokens,
            child,
        }
    }

    /// The `Authorization` values it has received so far.
    pub fn seen(&self) -> Vec<String> {
        std::fs::read_to_string(&self.seen_tokens)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}
