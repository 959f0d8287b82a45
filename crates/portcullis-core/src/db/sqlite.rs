//! SQLite in process (rusqlite): inline reads on pooled connections, one writer thread with
//! group commit. WAL lets readers run beside the writer. A group holding any write that must
//! survive a power loss commits with `synchronous = FULL` (fsync before it is acknowledged);
//! a group of audit events alone commits with `NORMAL` (into the WAL, no fsync), which
//! survives the process being killed, and the next FULL commit syncs those frames too.

use std::{
    path::{Path, PathBuf},
    sync::{Mutex, mpsc},
    time::Duration,
};

use rusqlite::{Connection, OpenFlags, Row};

use super::{Columns, Durability, Param, RowMapper};
use crate::{StoreError, ValidationError, store::MIGRATOR, timestamp};

/// Connections kept for reads; more are opened under load and closed when returned.
const MAX_IDLE_READERS: usize = 8;
/// Most writes committed in one transaction.
const MAX_GROUP: usize = 256;
/// How many times a writer under load lets the request threads run before it commits.
const MAX_YIELDS: usize = 4;
/// Positional parameter names, as written in the SQL.
const PARAM_NAMES: [&str; 16] = [
    "$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9", "$10", "$11", "$12", "$13", "$14", "$15",
    "$16",
];

#[derive(Debug)]
enum OwnedParam {
    Text(String),
    OptText(Option<String>),
    Int(i64),
}

impl OwnedParam {
    fn as_param(&self) -> Param<'_> {
        match self {
            Self::Text(s) => Param::Text(s),
            Self::OptText(s) => Param::OptText(s.as_deref()),
            Self::Int(i) => Param::Int(*i),
        }
    }
}

impl From<&Param<'_>> for OwnedParam {
    fn from(p: &Param<'_>) -> Self {
        match p {
            Param::Text(s) => Self::Text((*s).to_owned()),
            Param::OptText(s) => Self::OptText(s.map(str::to_owned)),
            Param::Int(i) => Self::Int(*i),
        }
    }
}

struct WriteJob {
    durability: Durability,
    sql: &'static str,
    /// `rows` runs of the statement, their parameters one after another.
    params: Vec<OwnedParam>,
    rows: usize,
    reply: tokio::sync::oneshot::Sender<Result<u64, StoreError>>,
}

pub(crate) struct SqliteDb {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    writer: Mutex<Option<mpsc::Sender<WriteJob>>>,
}

impl SqliteDb {
    /// Pooled readers (idle) plus the one writer connection.
    pub(crate) fn connections(&self) -> (usize, usize) {
        let idle = self.readers.lock().map(|r| r.len()).unwrap_or(0);
        (idle + 1, idle)
    }
}

impl Columns for Row<'_> {
    fn text(&self, index: usize) -> Result<String, StoreError> {
        Ok(self.get(index)?)
    }

    fn opt_text(&self, index: usize) -> Result<Option<String>, StoreError> {
        Ok(self.get(index)?)
    }

    fn int(&self, index: usize) -> Result<i64, StoreError> {
        Ok(self.get(index)?)
    }
}

/// The file a `sqlite:` URL names (`sqlite://path`, `sqlite:path`, query parameters ignored).
fn path_of(url: &str) -> Result<PathBuf, ValidationError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let rest = rest.split('?').next().unwrap_or_default();
    if rest.is_empty() || rest.contains(":memory:") {
        return Err(ValidationError::new(
            "database_url",
            "must name a SQLite file, e.g. sqlite://./portcullis.db",
        ));
    }
    Ok(PathBuf::from(rest))
}

/// Never creates directories: a typo in an explicit URL must not silently make a new, empty
/// database somewhere (the embedder creates its default data directory).
fn check_directory(path: &Path) -> Result<(), StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        return Err(StoreError::Unreachable(format!(
            "cannot open the SQLite database {}: the directory {} does not exist (create it, or fix the URL)",
            path.display(),
            parent.display()
        )));
    }
    Ok(())
}

fn open(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;")?;
    conn.set_prepared_statement_cache_capacity(64);
    // Query-planner stability: without it SQLite re-plans (re-parses) a cached statement
    // whenever a bound value could change its plan, which measured as the largest single cost
    // of a read. Our queries are simple indexed lookups whose plan never depends on values.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(conn)
}

/// Binds `params` in order to `$1`, `$2`, …; a number the statement does not use is skipped.
fn bind<'p>(
    stmt: &mut rusqlite::Statement<'_>,
    params: impl IntoIterator<Item = Param<'p>>,
) -> Result<(), StoreError> {
    for (i, p) in params.into_iter().enumerate() {
        let name = PARAM_NAMES.get(i).ok_or_else(|| {
            StoreError::Database(
                format!("a statement has more than {} parameters", PARAM_NAMES.len()).into(),
            )
        })?;
        let Some(index) = stmt.parameter_index(name)? else {
            continue;
        };
        match p {
            Param::Text(s) => stmt.raw_bind_parameter(index, s)?,
            Param::OptText(s) => stmt.raw_bind_parameter(index, s)?,
            Param::Int(n) => stmt.raw_bind_parameter(index, n)?,
        }
    }
    Ok(())
}

impl SqliteDb {
    /// Whether the database can be opened, without creating or migrating anything.
    pub(crate) fn probe(url: &str) -> Result<(), StoreError> {
        let path = path_of(url)?;
        check_directory(&path)?;
        if path.exists() {
            open(&path, true)?.query_row("SELECT 1", [], |_| Ok(()))?;
        }
        Ok(())
    }

    pub(crate) fn open(url: &str) -> Result<Self, StoreError> {
        let path = path_of(url)?;
        check_directory(&path)?;
        let mut writer = open(&path, false)?;
        // Persistent for the file; set before any reader opens.
        writer.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        migrate(&mut writer)?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("portcullis-sqlite-writer".into())
            .spawn(move || {
                lower_priority();
                write_loop(writer, rx)
            })
            .map_err(|e| StoreError::Database(Box::new(e)))?;
        Ok(Self {
            path,
            readers: Mutex::new(Vec::new()),
            writer: Mutex::new(Some(tx)),
        })
    }

    fn reader(&self) -> Result<Connection, StoreError> {
        match self.readers.lock().expect("reader pool poisoned").pop() {
            Some(conn) => Ok(conn),
            None => open(&self.path, true),
        }
    }

    fn give_back(&self, conn: Connection) {
        let mut pool = self.readers.lock().expect("reader pool poisoned");
        if pool.len() < MAX_IDLE_READERS {
            pool.push(conn);
        }
    }

    /// Runs a read inline: an indexed query over one user's rows takes microseconds, less
    /// than a hop to another thread would.
    pub(crate) fn fetch_all<T>(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
        map: RowMapper<T>,
    ) -> Result<Vec<T>, StoreError> {
        let conn = self.reader()?;
        let result = (|| {
            let mut stmt = conn.prepare_cached(sql)?;
            bind(&mut stmt, params.iter().cloned())?;
            let mut rows = stmt.raw_query();
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(map(row)?);
            }
            Ok(out)
        })();
        self.give_back(conn);
        result
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) async fn execute(
        &self,
        durability: Durability,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<u64, StoreError> {
        self.send(
            durability,
            sql,
            params.iter().map(OwnedParam::from).collect(),
            1,
        )
        .await
    }

    /// One statement run once per row, in one transaction; the rows changed in all.
    pub(crate) async fn execute_many<const N: usize>(
        &self,
        durability: Durability,
        sql: &'static str,
        rows: &[[Param<'_>; N]],
    ) -> Result<u64, StoreError> {
        let params = rows.iter().flatten().map(OwnedParam::from).collect();
        self.send(durability, sql, params, rows.len()).await
    }

    async fn send(
        &self,
        durability: Durability,
        sql: &'static str,
        params: Vec<OwnedParam>,
        rows: usize,
    ) -> Result<u64, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = WriteJob {
            durability,
            sql,
            params,
            rows,
            reply,
        };
        let sent = match self.writer.lock().expect("writer lock poisoned").as_ref() {
            Some(tx) => tx.send(job).is_ok(),
            None => false,
        };
        if !sent {
            return Err(StoreError::Closed);
        }
        answer.await.map_err(|_| StoreError::Closed)?
    }

    pub(crate) fn ping(&self) -> bool {
        self.fetch_all("SELECT 1", &[], |_| Ok(())).is_ok()
    }

    /// Stops accepting writes; the writer thread commits what it has and exits.
    pub(crate) fn close(&self) {
        self.writer.lock().expect("writer lock poisoned").take();
    }
}

/// The writer thread: waits for a write, takes every other write already queued, runs them in
/// one transaction, commits once, then answers each. A statement that fails rolls back alone
/// (SQLite's statement-level atomicity) and only its caller sees the error.
fn write_loop(conn: Connection, rx: mpsc::Receiver<WriteJob>) {
    // `open` leaves every connection at FULL.
    let mut synchronous = Durability::PowerLoss;
    let mut last_group = 0;
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        // Under load (the last commit was shared) let the request threads run first: the
        // writes they are about to queue join this commit instead of each paying for its own.
        // A commit costs the same for one row as for dozens; alone, a write is not delayed.
        let mut yields = if last_group > 1 { MAX_YIELDS } else { 0 };
        loop {
            while group.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(job) => group.push(job),
                    Err(_) => break,
                }
            }
            if yields == 0 || group.len() >= MAX_GROUP {
                break;
            }
            yields -= 1;
            std::thread::yield_now();
        }
        let needed = if group.iter().any(|j| j.durability == Durability::PowerLoss) {
            Durability::PowerLoss
        } else {
            Durability::ProcessCrash
        };
        last_group = group.len();
        let mut results: Vec<Result<u64, StoreError>> = Vec::with_capacity(group.len());
        let began = set_synchronous(&conn, &mut synchronous, needed)
            .and_then(|()| conn.execute_batch("BEGIN IMMEDIATE"));
        if let Err(e) = began {
            let msg = e.to_string();
            for job in group {
                let _ = job
                    .reply
                    .send(Err(StoreError::Database(msg.clone().into())));
            }
            continue;
        }
        for job in &group {
            results.push((|| {
                let mut stmt = conn.prepare_cached(job.sql)?;
                let mut changed = 0;
                let per_row = job.params.len() / job.rows.max(1);
                for row in 0..job.rows {
                    let params = &job.params[row * per_row..(row + 1) * per_row];
                    bind(&mut stmt, params.iter().map(OwnedParam::as_param))?;
                    changed += stmt.raw_execute()? as u64;
                }
                Ok(changed)
            })());
        }
        if let Err(e) = conn.execute_batch("COMMIT") {
            let _ = conn.execute_batch("ROLLBACK");
            let msg = e.to_string();
            results = group
                .iter()
                .map(|_| Err(StoreError::Database(msg.clone().into())))
                .collect();
        }
        for (job, result) in group.into_iter().zip(results) {
            let _ = job.reply.send(result);
        }
    }
}

/// Gives the writer thread a lower CPU priority than the request threads (nice 10, this
/// thread only). On a busy core, a commit (and above all a WAL checkpoint, several
/// milliseconds of page copying) otherwise takes turns with request handling and stalls every
/// call in flight: the tail latency of reads that never wait for this thread. Writes that do
/// wait still get the core whenever the request threads wait for them.
fn lower_priority() {
    // On Linux a "process" priority set for pid 0 is the calling thread's.
    #[cfg(target_os = "linux")]
    if let Err(error) = rustix::process::setpriority_process(None, 10) {
        tracing::debug!(%error, "could not lower the SQLite writer's priority");
    }
}

/// Switches the writer's `synchronous` setting (between transactions) when `needed` differs.
fn set_synchronous(
    conn: &Connection,
    current: &mut Durability,
    needed: Durability,
) -> rusqlite::Result<()> {
    if *current != needed {
        conn.execute_batch(match needed {
            Durability::PowerLoss => "PRAGMA synchronous = FULL",
            Durability::ProcessCrash => "PRAGMA synchronous = NORMAL",
        })?;
        *current = needed;
    }
    Ok(())
}

/// Applies the embedded migrations (the same files sqlx applies on PostgreSQL) that the file
/// has not seen, each in its own transaction.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS portcullis_migrations (
             version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )?;
    for m in MIGRATOR.iter() {
        let applied: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM portcullis_migrations WHERE version = ?1)",
            [m.version],
            |r| r.get(0),
        )?;
        if applied {
            continue;
        }
        let tx = conn.transaction()?;
        tx.execute_batch(m.sql.as_str())?;
        tx.execute(
            "INSERT INTO portcullis_migrations (version, description, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![m.version, m.description.as_ref(), timestamp::now()],
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// `EXPLAIN QUERY PLAN` for `sql` on a freshly migrated database at `url`, one detail per line.
#[cfg(test)]
pub(crate) fn query_plan(url: &str, sql: &str) -> String {
    let db = SqliteDb::open(url).expect("open test database");
    let conn = db.reader().expect("reader");
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("explain");
    let rows = stmt
        .query_map(
            rusqlite::params_from_iter(std::iter::repeat_n("x", stmt.parameter_count())),
            |r| r.get::<_, String>(3),
        )
        .expect("plan rows");
    rows.map(|r| r.expect("plan row"))
        .collect::<Vec<_>>()
        .join("\n")
}
