//! Connection, migrations and actor resolution for the one database Portcullis uses.
//!
//! Both back ends go through sqlx's `Any` driver with SQL both understand (`$N` parameters,
//! text ids and timestamps), so there is one implementation of every query and the same test
//! suite covers both.

use std::{
    collections::HashMap,
    str::FromStr,
    sync::{Arc, RwLock},
    time::Duration,
};

use sqlx::{
    AnyPool, Executor,
    any::{AnyConnectOptions, AnyPoolOptions},
    migrate::Migrator,
};

use crate::{Actor, StoreError, TenantId, ValidationError, timestamp};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

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
    pub(crate) pool: AnyPool,
    backend: Backend,
    /// (tenant, subject) → local user id. User rows are never renamed, so the cache cannot go
    /// stale; it saves a round trip on every authenticated request.
    actors: Arc<RwLock<HashMap<(String, String), String>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish_non_exhaustive()
    }
}

impl Store {
    /// Connects, creating a SQLite file if it does not exist, and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let url = match backend {
            // `mode=rwc` creates the file on first start.
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // WAL lets readers run beside the writer; synchronous=FULL keeps every
                            // acknowledged write on disk; foreign keys are off by default in SQLite.
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?
            }
        };
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool, backend, actors: Arc::default() })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// True when the database answers a trivial query (readiness probe).
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Resolves an authenticated subject to a local user, creating the user on first sight.
    pub async fn actor(&self, tenant: &TenantId, subject: &str) -> Result<Actor, StoreError> {
        if subject.is_empty() || subject.len() > 255 {
            return Err(ValidationError::new("sub", "must be 1 to 255 bytes").into());
        }
        let key = (tenant.as_str().to_owned(), subject.to_owned());
        if let Some(id) = self.actors.read().expect("actor cache poisoned").get(&key) {
            return Ok(Actor { user_id: id.clone(), tenant: tenant.clone() });
        }
        sqlx::query(
            "INSERT INTO users (id, tenant_id, subject, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, subject) DO NOTHING",
        )
        .bind(uuid::Uuid::now_v7().hyphenated().to_string())
        .bind(tenant.as_str())
        .bind(subject)
        .bind(timestamp::now())
        .execute(&self.pool)
        .await?;
        let id: String = sqlx::query_scalar("SELECT id FROM users WHERE tenant_id = $1 AND subject = $2")
            .bind(tenant.as_str())
            .bind(subject)
            .fetch_one(&self.pool)
            .await?;
        self.actors.write().expect("actor cache poisoned").insert(key, id.clone());
        Ok(Actor { user_id: id, tenant: tenant.clone() })
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
