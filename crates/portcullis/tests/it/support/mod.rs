//! Test harness: runs the real `portcullis` binary on a random port against a fresh SQLite
//! file or a fresh PostgreSQL database, and talks to it over HTTP like a client would.

#![allow(dead_code, unused_imports)]

pub mod company_idp;
pub mod external;
pub mod idp;
pub mod keys;
pub mod mcp;
pub mod metrics;
pub mod oauth;

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub use keys::TestIssuer;
pub use mcp::{Era, McpClient};

/// Database back ends the suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Base URL of the PostgreSQL server used by tests (database `test` must exist).
pub fn postgres_admin_url() -> String {
    std::env::var("PORTCULLIS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A database that exists for one test: a SQLite file in the test's directory, or a
/// PostgreSQL database with a random name, dropped when the test ends.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn create(db: Db, dir: &Path) -> Self {
        match db {
            Db::Sqlite => Self {
                url: format!("sqlite://{}", dir.join("test.db").display()),
                pg_name: None,
            },
            Db::Postgres => {
                use sqlx::Connection;
                let admin = postgres_admin_url();
                let name = format!("portcullis_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("PostgreSQL at {admin} is needed for this test: {e}")
                    });
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let (base, _) = admin.rsplit_once('/').expect("admin URL has a database");
                Self {
                    url: format!("{base}/{name}"),
                    pg_name: Some(name),
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // Best effort, synchronously: the test's runtime may already be gone.
            let _ = Command::new("psql")
                .args([
                    &postgres_admin_url(),
                    "-qc",
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Where a spawned server's stderr goes: `PORTCULLIS_TEST_LOG_DIR` when set (scripts/test.sh
/// sets it and checks every log of the run for secrets afterwards), else `dir`.
pub fn log_path(dir: &Path) -> PathBuf {
    match std::env::var_os("PORTCULLIS_TEST_LOG_DIR") {
        Some(logs) => PathBuf::from(logs).join(format!("{}.log", uuid::Uuid::new_v4().simple())),
        None => dir.join("stderr.log"),
    }
}

/// Polls `probe` every 50 ms until it answers `Some`, for at most `within`; panics naming
/// `what` (and the last thing `probe` saw, through `describe`) when it never does. Tests wait on
/// conditions this way, never on a sleep long enough on a quiet machine.
pub async fn eventually<T, S, F, Fut>(what: &str, within: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, S>>,
    S: std::fmt::Debug,
{
    let deadline = Instant::now() + within;
    loop {
        match probe().await {
            Ok(found) => return found,
            Err(seen) if Instant::now() >= deadline => {
                panic!("{what}: not within {within:?}; last seen: {seen:?}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_portcullis"))
}

/// A running `portcullis serve`. Killed on drop; its stderr is kept for assertions.
pub struct TestApp {
    pub base: String,
    /// What clients are told the server is (the same for every replica of a deployment).
    pub public_url: String,
    pub data_dir: PathBuf,
    pub port: u16,
    pub issuer: TestIssuer,
    pub dir: tempfile::TempDir,
    runner: Runner,
    _db: TestDb,
    pub database_url: String,
    pub http: reqwest::Client,
    log: PathBuf,
}

/// How the server runs: as the real process, or in this test's process.
enum Runner {
    Process(Child),
    InProcess {
        shutdown: Option<tokio::sync::oneshot::Sender<()>>,
        task: tokio::task::JoinHandle<()>,
    },
}

/// In-process servers log here (one file per test process, in `PORTCULLIS_TEST_LOG_DIR` when
/// set, which `scripts/test.sh` checks for secrets), not onto the test's own stderr.
fn in_process_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let dir = std::env::var_os("PORTCULLIS_TEST_LOG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let path = dir.join(format!("in-process-{}.log", std::process::id()));
        let file = std::fs::File::create(path).unwrap();
        let filter = tracing_subscriber::EnvFilter::try_from_env("PORTCULLIS_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rmcp=warn"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .try_init();
    });
}

/// What to start the server with, beyond the defaults of [`TestApp::spawn`].
#[derive(Default)]
pub struct Options {
    /// Extra command-line arguments.
    pub args: Vec<String>,
    /// Start without `--jwt-public-key`/`--issuer` (the caller passes its own).
    pub no_key_args: bool,
    /// The subcommand [default: serve].
    pub command: Option<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Replicas of one deployment: the same public URL, data directory (signing keys) and
    /// database instead of this server's own.
    pub shared: Option<Shared>,
    /// Start without `--public-url`: the server derives it from its loopback bind (and then
    /// answers under every loopback name).
    pub derived_public_url: bool,
    /// Listen on this port instead of a free one picked at start (for settings that must name
    /// the server's URL before it runs, such as an upstream's JWKS URL).
    pub port: Option<u16>,
    /// Run `serve` in this process on a listener bound to port 0 ([`portcullis::serve::serve_on`])
    /// instead of as the binary. Such a server has no stderr of its own and no environment of
    /// its own: tests that need either run the binary.
    pub in_process: bool,
}

/// What the replicas of one deployment share.
#[derive(Clone)]
pub struct Shared {
    pub public_url: String,
    pub data_dir: PathBuf,
    pub database_url: String,
}

impl TestApp {
    pub async fn spawn(db: Db) -> Self {
        Self::spawn_with(db, Options::default()).await
    }

    /// `serve` in this process, with the defaults of [`TestApp::spawn`].
    pub async fn spawn_in_process(db: Db) -> Self {
        Self::spawn_with(
            db,
            Options {
                in_process: true,
                ..Options::default()
            },
        )
        .await
    }

    pub async fn spawn_with(db: Db, options: Options) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let test_db = match &options.shared {
            Some(shared) => TestDb {
                url: shared.database_url.clone(),
                pg_name: None,
            },
            None => TestDb::create(db, dir.path()).await,
        };
        let issuer = TestIssuer::new("https://issuer.test");
        let key_path = dir.path().join("public.pem");
        std::fs::write(&key_path, issuer.public_pem()).unwrap();
        // In process, the listener is bound first, on port 0: no race for a free port.
        let listener = match options.in_process {
            true => Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
            false => None,
        };
        let port = match &listener {
            Some(l) => l.local_addr().unwrap().port(),
            None => options.port.unwrap_or_else(free_port),
        };
        let base = format!("http://127.0.0.1:{port}");
        let public_url = options
            .shared
            .as_ref()
            .map_or_else(|| base.clone(), |s| s.public_url.clone());
        let data_dir = options
            .shared
            .as_ref()
            .map_or_else(|| dir.path().join("data"), |s| s.data_dir.clone());
        let mut args: Vec<String> = vec![
            options.command.clone().unwrap_or_else(|| "serve".into()),
            "--bind".into(),
            format!("127.0.0.1:{port}"),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--database-url".into(),
            test_db.url.clone(),
        ];
        if !options.derived_public_url {
            args.extend(["--public-url".into(), public_url.clone()]);
        }
        if !options.no_key_args {
            args.extend([
                "--jwt-public-key".into(),
                key_path.display().to_string(),
                "--issuer".into(),
                issuer.issuer.clone(),
                "--audience".into(),
                format!("{public_url}/mcp"),
            ]);
        }
        args.extend(options.args);
        let log = log_path(dir.path());
        let runner = match listener {
            Some(listener) => {
                assert!(
                    options.env.is_empty(),
                    "an in-process server has no environment of its own"
                );
                assert_eq!(args[0], "serve", "only serve runs in process");
                in_process_logging();
                let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                let flags = args[1..].to_vec();
                let task = tokio::spawn(async move {
                    let shutdown = async move {
                        let _ = rx.await;
                    };
                    if let Err(error) =
                        portcullis::serve::serve_on(&flags, listener, shutdown).await
                    {
                        panic!("the in-process server failed: {error:#}");
                    }
                });
                Runner::InProcess {
                    shutdown: Some(tx),
                    task,
                }
            }
            None => Runner::Process(
                Command::new(binary())
                    .args(&args)
                    .env_remove("PORTCULLIS_CONFIG")
                    .envs(options.env.iter().map(|(k, v)| (k, v)))
                    .stdout(Stdio::null())
                    .stderr(std::fs::File::create(&log).unwrap())
                    .spawn()
                    .expect("start portcullis"),
            ),
        };
        let app = Self {
            base,
            public_url,
            data_dir,
            port,
            issuer,
            dir,
            runner,
            database_url: test_db.url.clone(),
            _db: test_db,
            http: reqwest::Client::new(),
            log,
        };
        app.wait_healthy().await;
        app
    }

    async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = self.http.get(format!("{}/health", self.base)).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Runner::InProcess { task, .. } = &self.runner {
                assert!(
                    !task.is_finished(),
                    "the in-process server stopped before it was healthy (its panic is above)"
                );
            }
            assert!(
                Instant::now() < deadline,
                "server did not become healthy:\n{}",
                match self.runner {
                    Runner::Process(_) => self.stderr(),
                    Runner::InProcess { .. } => "(in process: see the test's output)".into(),
                }
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What the server wrote to stderr (the binary only: asserting on an in-process server's
    /// would pass whatever it logged).
    pub fn stderr(&self) -> String {
        assert!(
            matches!(self.runner, Runner::Process(_)),
            "an in-process server has no stderr of its own; run this test on the binary"
        );
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs `portcullis ARGS --data-dir … --database-url …` against this server's data,
    /// feeding `stdin`; returns (success, stdout, stderr).
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        use std::io::Write;
        let mut child = Command::new(binary())
            .args(args)
            .args([
                "--data-dir",
                &self.data_dir.display().to_string(),
                "--database-url",
                &self.database_url,
                "--public-url",
                &self.public_url,
            ])
            .env_remove("PORTCULLIS_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run portcullis");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `GET {base}{path}`: the status and the JSON body.
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    /// The audit events `audit` with `args` lists once `done` holds for them (the audit writer
    /// stores events a moment after the answer).
    pub async fn audit_when(
        &self,
        args: &[&str],
        done: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        eventually("audit events", Duration::from_secs(15), || async {
            let events = self.audit(args);
            if done(&events) {
                Ok(events)
            } else {
                Err(events)
            }
        })
        .await
    }

    /// `portcullis audit --json ARGS…`, one event per line.
    pub fn audit(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let mut full = vec!["audit", "--json"];
        full.extend_from_slice(args);
        let (ok, stdout, stderr) = self.cli(&full, None);
        assert!(ok, "audit failed: {stderr}");
        stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base)
    }

    /// A token for `sub` with `scope`, accepted by this server.
    pub fn token(&self, sub: &str, scope: &str) -> String {
        self.issuer
            .token(sub, scope, &format!("{}/mcp", self.public_url))
    }

    pub fn client(&self, sub: &str) -> McpClient {
        McpClient::new(self.mcp_url(), self.token(sub, "tasks:read tasks:write"))
    }
}

impl TestApp {
    /// Asks the server to stop (SIGTERM, as an orchestrator would) and waits for it to exit;
    /// returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let child = self.child();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        child.wait().is_ok_and(|s| s.success())
    }

    /// Sends the server a signal (`HUP`, `TERM`, …) and returns at once.
    pub fn signal(&mut self, name: &str) {
        let pid = self.child().id().to_string();
        let _ = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status();
    }

    /// Kills the server at once, as a crash would.
    pub fn kill(&mut self) {
        match &mut self.runner {
            Runner::Process(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Runner::InProcess { task, .. } => task.abort(),
        }
    }

    fn child(&mut self) -> &mut Child {
        match &mut self.runner {
            Runner::Process(child) => child,
            Runner::InProcess { .. } => panic!("signals need the binary, not an in-process server"),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        match &mut self.runner {
            Runner::Process(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Runner::InProcess { shutdown, .. } => {
                // A graceful stop (the audit writer flushes what is queued); the task ends with
                // the test's runtime at the latest.
                if let Some(tx) = shutdown.take() {
                    let _ = tx.send(());
                }
            }
        }
    }
}

/// Runs a test body once per database back end: `both_backends!(name);` defines
/// `name::sqlite` and `name::postgres` calling `name(Db)`.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(super::support::Db::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(super::support::Db::Postgres).await
                }
            }
        )*
    };
}
