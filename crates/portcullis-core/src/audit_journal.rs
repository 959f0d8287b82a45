//! The audit journal (SQLite servers): an audit event is appended to a file in
//! `<database>-audit/` before the request it describes goes on, and a background task moves
//! the files into `audit_events` in large transactions.
//!
//! Why: waiting for the writer thread's commit cost every call two thread switches and, under
//! light load, a commit of its own; profiles of `list_tasks` put a quarter of the server's core
//! there, and a WAL checkpoint in that thread stalled every waiting call (the p99). An append is
//! one `write` into the page cache, no dearer than the SQLite point reads a request already
//! makes inline.
//!
//! What holds:
//! - An event is acknowledged only once its line is written, so it survives the process being
//!   killed. Files are moved into the table by commits with `synchronous = FULL` every
//!   [`INGEST_EVERY`]: a power loss can take at most that last window of events.
//! - Nothing is dropped: a file is deleted only after its events are committed (`ON CONFLICT
//!   DO NOTHING` on the event id makes a second pass harmless); when the database refuses,
//!   the files wait for the next round. A live file is held under an exclusive lock (`flock`)
//!   by the process writing it, so a file nobody holds was left by one that died, and the next
//!   process to open the journal moves it in.
//! - Bounded: with more than `max_backlog` bytes waiting (the database has refused writes for
//!   a long time), appends fail and the request is refused: fail closed.
//! - Readers ([`read_pending`]) see the files too, so the trail is complete at once, also for
//!   `portcullis audit` in another process.
//! - A line cut short (the process killed inside `write`) was never acknowledged; readers skip
//!   it.

use std::{
    fs::{self, File, OpenOptions},
    io::Write,
    path::{Path, PathBuf},
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use crate::{AuditEvent, StoreError};

/// How often the journal is moved into the table (and the most a power loss can take).
pub(crate) const INGEST_EVERY: Duration = Duration::from_millis(200);
const SUFFIX: &str = "jsonl";

/// The journal directory of the SQLite database file `database`.
pub(crate) fn directory_of(database: &Path) -> PathBuf {
    let mut name = database.file_name().unwrap_or_default().to_os_string();
    name.push("-audit");
    database.with_file_name(name)
}

pub(crate) struct AuditJournal {
    dir: PathBuf,
    active: Mutex<Active>,
    /// Sealed files whose events are not committed yet (the database refused): retried first.
    pending: Mutex<Vec<Sealed>>,
    /// Bytes appended by this process and not yet committed to the table.
    backlog: AtomicU64,
    max_backlog: u64,
}

struct Active {
    /// `None` after a failed write: the next append starts a new file, so no good line ever
    /// follows a torn one.
    file: Option<Held>,
    bytes: u64,
    /// Given up after a failed write; moved in with the next seal.
    broken: Vec<Sealed>,
}

/// A journal file under this process's exclusive lock (released when it is dropped).
pub(crate) struct Held {
    file: File,
    path: PathBuf,
}

/// A file closed to appends, waiting to be moved into the table.
pub(crate) struct Sealed {
    held: Held,
    /// Counted in this process's backlog (0 for a file another process left).
    bytes: u64,
}

impl Sealed {
    pub(crate) fn path(&self) -> &Path {
        &self.held.path
    }
}

impl Held {
    fn create(dir: &Path) -> Result<Self, StoreError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        // Names sort by creation, so files are moved in (and read) oldest first.
        let path = dir.join(format!(
            "{nanos:020}-{}-{}.{SUFFIX}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .and_then(|file| {
                file.try_lock()
                    .map_err(std::io::Error::other)
                    .map(|()| file)
            })
            .map_err(|e| {
                StoreError::Unreachable(format!(
                    "cannot start an audit journal file in {}: {e}",
                    dir.display()
                ))
            })?;
        Ok(Self { file, path })
    }
}

impl std::fmt::Debug for AuditJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditJournal")
            .field("dir", &self.dir)
            .field("backlog", &self.backlog.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl AuditJournal {
    /// Opens (creating) the journal directory with a file of this process's own.
    pub(crate) fn open(dir: PathBuf, max_backlog: u64) -> Result<Self, StoreError> {
        fs::create_dir_all(&dir).map_err(|e| {
            StoreError::Unreachable(format!(
                "cannot create the audit journal directory {}: {e}",
                dir.display()
            ))
        })?;
        let first = Held::create(&dir)?;
        Ok(Self {
            dir,
            active: Mutex::new(Active {
                file: Some(first),
                bytes: 0,
                broken: Vec::new(),
            }),
            pending: Mutex::default(),
            backlog: AtomicU64::new(0),
            max_backlog,
        })
    }

    /// Appends `events` in one write; returns once the operating system has them.
    pub(crate) fn append(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        let mut lines = Vec::with_capacity(384 * events.len());
        for event in events {
            serde_json::to_writer(&mut lines, event).map_err(|e| StoreError::Database(e.into()))?;
            lines.push(b'\n');
        }
        let len = lines.len() as u64;
        let waiting = self.backlog.load(Ordering::Relaxed);
        if waiting + len > self.max_backlog {
            return Err(StoreError::Unreachable(format!(
                "the audit journal holds {waiting} bytes not yet in the database (at most {}): \
                 the database is not taking writes",
                self.max_backlog
            )));
        }
        let mut active = self.active.lock().expect("audit journal poisoned");
        let held = match &mut active.file {
            Some(held) => held,
            None => active.file.insert(Held::create(&self.dir)?),
        };
        // Counted before the write: a torn part still has to be moved in and subtracted.
        self.backlog.fetch_add(len, Ordering::Relaxed);
        let written = held.file.write_all(&lines);
        active.bytes += len;
        if let Err(e) = written {
            let bytes = std::mem::take(&mut active.bytes);
            if let Some(held) = active.file.take() {
                active.broken.push(Sealed { held, bytes });
            }
            return Err(StoreError::Unreachable(format!(
                "cannot write the audit journal in {}: {e}",
                self.dir.display()
            )));
        }
        Ok(())
    }

    /// Closes the current file to appends when it holds anything (a new one takes its place)
    /// and returns every file of this process waiting to be moved in, oldest first.
    pub(crate) fn seal(&self) -> Result<Vec<Sealed>, StoreError> {
        let mut waiting = std::mem::take(&mut *self.pending.lock().expect("poisoned"));
        let mut active = self.active.lock().expect("audit journal poisoned");
        waiting.append(&mut active.broken);
        if active.bytes > 0 {
            let fresh = Held::create(&self.dir)?;
            let bytes = std::mem::take(&mut active.bytes);
            if let Some(held) = active.file.replace(fresh) {
                waiting.push(Sealed { held, bytes });
            }
        }
        Ok(waiting)
    }

    /// A sealed file could not be moved in; it is retried first next time.
    pub(crate) fn retry(&self, sealed: Sealed) {
        self.pending.lock().expect("poisoned").push(sealed);
    }

    /// Deletes a file whose events are committed.
    pub(crate) fn moved_in(&self, sealed: Sealed) {
        if let Err(e) = fs::remove_file(sealed.path()) {
            tracing::warn!(file = %sealed.path().display(), error = %e, "could not delete a moved-in audit journal file; its events will be moved in again, harmlessly");
        }
        self.backlog.fetch_sub(sealed.bytes, Ordering::Relaxed);
    }

    /// At shutdown, after the last move-in: deletes this process's file when it is empty.
    pub(crate) fn close(&self) {
        let mut active = self.active.lock().expect("audit journal poisoned");
        if active.bytes == 0
            && let Some(held) = active.file.take()
        {
            let _ = fs::remove_file(&held.path);
        }
    }

    /// Files nobody holds (left by a process that died), now held by us, oldest first.
    pub(crate) fn abandoned(&self) -> Vec<Sealed> {
        let mut out: Vec<Sealed> = journal_files(&self.dir)
            .into_iter()
            .filter_map(|path| {
                let file = OpenOptions::new().read(true).open(&path).ok()?;
                file.try_lock().ok()?;
                Some(Sealed {
                    held: Held { file, path },
                    bytes: 0,
                })
            })
            .collect();
        out.sort_by(|a, b| a.path().cmp(b.path()));
        out
    }
}

fn journal_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == SUFFIX))
        .collect()
}

/// A journal file's complete lines. The part after the last newline is a line cut short (its
/// request was never answered) and is left out.
pub(crate) fn complete_lines(path: &Path) -> std::io::Result<Lines> {
    let mut bytes = fs::read(path)?;
    bytes.truncate(
        bytes
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |end| end + 1),
    );
    Ok(Lines {
        bytes,
        path: path.to_owned(),
    })
}

/// Complete journal lines, read but not yet parsed.
pub(crate) struct Lines {
    bytes: Vec<u8>,
    path: PathBuf,
}

impl Lines {
    /// The events, `n` at a time (parsing is spread out so requests run in between). A line
    /// that does not parse is skipped and logged.
    pub(crate) fn chunks(&self, n: usize) -> impl Iterator<Item = Vec<AuditEvent>> + '_ {
        let mut lines = self.bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty());
        std::iter::from_fn(move || {
            loop {
                let mut taken = 0;
                let events: Vec<_> = (lines.by_ref().take(n))
                    .inspect(|_| taken += 1)
                    .filter_map(|l| self.parse(l))
                    .collect();
                match (taken, events.is_empty()) {
                    (0, _) => return None,
                    (_, false) => return Some(events),
                    // A chunk of nothing but unreadable lines: on to the next.
                    (_, true) => {}
                }
            }
        })
    }

    fn parse(&self, line: &[u8]) -> Option<AuditEvent> {
        serde_json::from_slice(line)
            .inspect_err(|e| {
                tracing::warn!(file = %self.path.display(), error = %e, "skipping an unreadable audit journal line");
            })
            .ok()
    }
}

/// Every event still in the journal directory `dir`, any process's (for readers of the trail).
pub(crate) fn read_pending(dir: &Path) -> Vec<AuditEvent> {
    journal_files(dir)
        .iter()
        // Moved in and deleted since the listing: the table has its events.
        .filter_map(|p| complete_lines(p).ok())
        .flat_map(|lines| lines.chunks(usize::MAX).flatten().collect::<Vec<_>>())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuditQuery, Store};

    fn event(subject: &str) -> AuditEvent {
        let mut e = AuditEvent::new("oauth", "tools/call", true, "scope granted");
        e.subject = Some(subject.into());
        e.tool = Some("list_tasks".into());
        e
    }

    async fn open_store(dir: &Path) -> Store {
        Store::connect(&format!("sqlite://{}", dir.join("p.db").display()))
            .await
            .unwrap()
    }

    /// Rows in the table itself, the journal aside.
    async fn in_table(store: &Store) -> i64 {
        store
            .db
            .fetch_all("SELECT count(*) FROM audit_events", &[], |r| r.int(0))
            .await
            .unwrap()[0]
    }

    fn all() -> AuditQuery {
        AuditQuery {
            limit: 1000,
            ..AuditQuery::default()
        }
    }

    #[tokio::test]
    async fn journaled_events_are_read_at_once_and_moved_into_the_table() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path())
            .await
            .start_audit_journal(1 << 20)
            .await
            .unwrap();
        let events: Vec<_> = (0..5).map(|i| event(&format!("u{i}"))).collect();
        for e in &events {
            store.record_audit(std::slice::from_ref(e)).await.unwrap();
        }
        // Readers see them before they are moved in (another process's reader too).
        let other = open_store(dir.path()).await;
        assert_eq!(other.query_audit(&all()).await.unwrap().len(), 5);
        let alice = AuditQuery {
            user: Some("u3".into()),
            ..all()
        };
        assert_eq!(
            other.query_audit(&alice).await.unwrap(),
            vec![events[3].clone()]
        );
        tokio::time::sleep(INGEST_EVERY * 3).await;
        assert_eq!(in_table(&store).await, 5);
        // Moved in once: no duplicates from the table and a journal read racing it.
        assert_eq!(other.query_audit(&all()).await.unwrap().len(), 5);
        store.close().await;
        assert!(
            journal_files(&directory_of(&dir.path().join("p.db"))).is_empty(),
            "shutdown leaves no journal file behind"
        );
    }

    #[tokio::test]
    async fn files_left_by_a_killed_process_are_moved_in_by_the_next() {
        let dir = tempfile::tempdir().unwrap();
        open_store(dir.path()).await.close().await;
        let journal_dir = directory_of(&dir.path().join("p.db"));
        fs::create_dir_all(&journal_dir).unwrap();
        // What a process killed inside its third write leaves: two lines and a torn one.
        let (a, b) = (event("a"), event("b"));
        let mut bytes = Vec::new();
        for e in [&a, &b] {
            serde_json::to_writer(&mut bytes, e).unwrap();
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(br#"{"id":"torn","occurred_at":"2026-"#);
        fs::write(
            journal_dir.join(format!("00000000000000000001-1-0.{SUFFIX}")),
            &bytes,
        )
        .unwrap();
        // A file a live process holds is not touched.
        let live = Held::create(&journal_dir).unwrap();
        let c = event("c");
        let mut line = serde_json::to_vec(&c).unwrap();
        line.push(b'\n');
        (&live.file).write_all(&line).unwrap();

        let store = open_store(dir.path())
            .await
            .start_audit_journal(1 << 20)
            .await
            .unwrap();
        assert_eq!(
            in_table(&store).await,
            2,
            "moved in before serving; the torn line skipped"
        );
        assert!(live.path.exists(), "a held file stays");
        let mut seen: Vec<_> = store.query_audit(&all()).await.unwrap();
        seen.sort_by(|x, y| x.subject.cmp(&y.subject));
        assert_eq!(seen, vec![a, b, c.clone()]);
        // Its holder dies: the next rescan moves it in.
        drop(live);
        store.close().await;
        assert_eq!(in_table(&open_store(dir.path()).await).await, 3);
    }

    #[tokio::test]
    async fn a_full_backlog_refuses_appends_and_keeps_what_it_has() {
        let dir = tempfile::tempdir().unwrap();
        let journal = AuditJournal::open(dir.path().join("j"), 1000).unwrap();
        let mut accepted = 0;
        let refusal = loop {
            match journal.append(&[event("x")]) {
                Ok(()) => accepted += 1,
                Err(e) => break e.to_string(),
            }
        };
        assert!(accepted >= 1, "{refusal}");
        assert!(refusal.contains("not taking writes"), "{refusal}");
        assert_eq!(read_pending(&dir.path().join("j")).len(), accepted);
        // Once moved in, there is room again.
        for sealed in journal.seal().unwrap() {
            journal.moved_in(sealed);
        }
        journal.append(&[event("y")]).unwrap();
    }
}
