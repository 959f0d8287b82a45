//! Opening the database, and resolving authenticated subjects to local users.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use sqlx::migrate::Migrator;

use crate::{
    Actor, StoreError, TenantId, ValidationError,
    db::{Columns, Db, Param, PgDb, SqliteDb},
    timestamp,
};

/// The versioned migrations, applied by sqlx on PostgreSQL and by our own runner on SQLite.
pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Tells the back end from a URL's scheme; anything else is refused with the accepted forms.
    pub fn from_url(url: &str) -> Result<Self, ValidationError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(ValidationError::new(
                "database_url",
                "must start with sqlite:// (a file) or postgres:// (a server)",
            ))
        }
    }
}

/// The database, migrated and ready. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: Arc<Db>,
    backend: Backend,
    /// tenant → subject → local user id. User rows are never renamed, so the cache cannot go
    /// stale; it saves a round trip on every authenticated request. Nested maps so a hit is a
    /// borrowed lookup with no allocation.
    actors: Arc<RwLock<ActorCache>>,
    /// Set by [`Store::start_audit_journal`] (a SQLite server): where audit events go first.
    pub(crate) journal: Option<Arc<crate::audit::JournalRunner>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

type ActorCache = HashMap<String, HashMap<String, Arc<str>>>;

fn user_id(row: &dyn Columns) -> Result<String, StoreError> {
    row.text(0)
}

impl Store {
    /// Connects (creating a SQLite file if it does not exist) and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let backend = Backend::from_url(url)?;
        let db = match backend {
            Backend::Sqlite => {
                let url = url.to_owned();
                // Opening and migrating touches the disk: keep it off the async threads.
                Db::Sqlite(
                    tokio::task::spawn_blocking(move || SqliteDb::open(&url))
                        .await
                        .map_err(|e| StoreError::Database(Box::new(e)))??,
                )
            }
            Backend::Postgres => Db::Postgres(PgDb::connect(url).await?),
        };
        Ok(Self {
            db: Arc::new(db),
            backend,
            actors: Arc::default(),
            journal: None,
        })
    }

    /// Whether the database at `url` can be reached and opened, without creating, migrating
    /// or changing anything (`config check --connect`).
    pub async fn probe(url: &str) -> Result<(), StoreError> {
        match Backend::from_url(url)? {
            Backend::Sqlite => {
                let url = url.to_owned();
                tokio::task::spawn_blocking(move || SqliteDb::probe(&url))
                    .await
                    .map_err(|e| StoreError::Database(Box::new(e)))?
            }
            Backend::Postgres => PgDb::probe(url).await.map(|_| ()),
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// True when the database answers a trivial query (readiness probe).
    /// Database connections (open, idle), for metrics.
    pub fn connections(&self) -> (usize, usize) {
        self.db.connections()
    }

    pub async fn ping(&self) -> bool {
        self.db.ping().await
    }

    /// Resolves an authenticated subject to a local user, creating the user on first sight.
    pub async fn actor(&self, tenant: &TenantId, subject: &str) -> Result<Actor, StoreError> {
        if subject.is_empty() || subject.len() > 255 {
            return Err(ValidationError::new("sub", "must be 1 to 255 bytes").into());
        }
        let cached = self
            .actors
            .read()
            .expect("actor cache poisoned")
            .get(tenant.as_str())
            .and_then(|users| users.get(subject))
            .cloned();
        if let Some(id) = cached {
            return Ok(Actor {
                user_id: id,
                tenant: tenant.clone(),
            });
        }
        let lookup = "SELECT id FROM users WHERE tenant_id = $1 AND subject = $2";
        let params = [Param::Text(tenant.as_str()), Param::Text(subject)];
        let id = match self.db.fetch_optional(lookup, &params, user_id).await? {
            Some(id) => id,
            None => {
                let new_id = uuid::Uuid::now_v7().hyphenated().to_string();
                let now = timestamp::now();
                self.db
                    .execute(
                        "INSERT INTO users (id, tenant_id, subject, created_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (tenant_id, subject) DO NOTHING",
                        &[Param::Text(&new_id), Param::Text(tenant.as_str()), Param::Text(subject), Param::Text(&now)],
                    )
                    .await?;
                // Another request (or replica) may have created the user first: read the winner.
                self.db
                    .fetch_optional(lookup, &params, user_id)
                    .await?
                    .ok_or_else(|| StoreError::not_found("user", subject))?
            }
        };
        let id: Arc<str> = id.into();
        self.actors
            .write()
            .expect("actor cache poisoned")
            .entry(tenant.as_str().to_owned())
            .or_default()
            .insert(subject.to_owned(), id.clone());
        Ok(Actor {
            user_id: id,
            tenant: tenant.clone(),
        })
    }

    /// Drops a cached user id (after the user is deleted), so the subject's next call creates
    /// a fresh user instead of writing under the deleted id.
    pub(crate) fn forget_actor(&self, tenant: &TenantId, subject: &str) {
        if let Some(users) = self
            .actors
            .write()
            .expect("actor cache poisoned")
            .get_mut(tenant.as_str())
        {
            users.remove(subject);
        }
    }

    /// Stops the store: pending SQLite writes commit, PostgreSQL connections close.
    pub async fn close(&self) {
        self.stop_audit_journal().await;
        self.db.close().await;
    }
}
