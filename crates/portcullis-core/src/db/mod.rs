//! The database executor: one small interface (`fetch_all`, `fetch_optional`, `execute`) over
//! two engines, so every domain query is written once.
//!
//! - SQLite runs in process through rusqlite. Reads run inline on pooled connections with cached
//!   prepared statements; writes go to one writer thread that commits them in groups (one
//!   fsync for every write waiting at that moment), and a write is acknowledged only after its
//!   group commits. sqlx's SQLite driver was measured at several times the cost per query
//!   (a worker thread per connection, statement re-preparation), see the README.
//! - PostgreSQL goes through an sqlx pool.
//!
//! SQL uses `$N` parameters, which both engines accept.

mod postgres;
mod sqlite;

pub(crate) use postgres::PgDb;
pub(crate) use sqlite::SqliteDb;
#[cfg(test)]
pub(crate) use sqlite::query_plan;

use crate::StoreError;

/// A query parameter.
#[derive(Debug, Clone)]
pub(crate) enum Param<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i64),
}

/// What an acknowledged write must survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// A power loss: on disk before the write is acknowledged (SQLite `synchronous = FULL`).
    PowerLoss,
    /// The process being killed: handed to the operating system before it is acknowledged
    /// (SQLite WAL with `synchronous = NORMAL`). PostgreSQL commits durably either way.
    ProcessCrash,
}

/// Reads the columns of one result row by position.
pub(crate) trait Columns {
    fn text(&self, index: usize) -> Result<String, StoreError>;
    fn opt_text(&self, index: usize) -> Result<Option<String>, StoreError>;
    fn int(&self, index: usize) -> Result<i64, StoreError>;
}

/// Turns a row into a domain value.
pub(crate) type RowMapper<T> = fn(&dyn Columns) -> Result<T, StoreError>;

pub(crate) enum Db {
    Sqlite(SqliteDb),
    Postgres(PgDb),
}

impl Db {
    pub(crate) async fn fetch_all<T: Send + 'static>(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
        map: RowMapper<T>,
    ) -> Result<Vec<T>, StoreError> {
        match self {
            Db::Sqlite(db) => db.fetch_all(sql, params, map),
            Db::Postgres(db) => db.fetch_all(sql, params, map).await,
        }
    }

    pub(crate) async fn fetch_optional<T: Send + 'static>(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
        map: RowMapper<T>,
    ) -> Result<Option<T>, StoreError> {
        Ok(self.fetch_all(sql, params, map).await?.into_iter().next())
    }

    /// Runs a write, durable against a power loss, and returns the number of rows it changed.
    pub(crate) async fn execute(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<u64, StoreError> {
        self.execute_with(Durability::PowerLoss, sql, params).await
    }

    /// Runs a write that must survive `durability`.
    pub(crate) async fn execute_with(
        &self,
        durability: Durability,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<u64, StoreError> {
        match self {
            Db::Sqlite(db) => db.execute(durability, sql, params).await,
            Db::Postgres(db) => db.execute(sql, params).await,
        }
    }

    /// Runs one statement once per row of parameters, all committed together, durable
    /// against `durability`.
    pub(crate) async fn execute_many<const N: usize>(
        &self,
        durability: Durability,
        sql: &'static str,
        rows: &[[Param<'_>; N]],
    ) -> Result<(), StoreError> {
        match self {
            Db::Sqlite(db) => db.execute_many(durability, sql, rows).await.map(|_| ()),
            Db::Postgres(db) => {
                for row in rows {
                    db.execute(sql, row).await?;
                }
                Ok(())
            }
        }
    }

    /// The file of a SQLite database.
    pub(crate) fn sqlite_path(&self) -> Option<&std::path::Path> {
        match self {
            Db::Sqlite(db) => Some(db.path()),
            Db::Postgres(_) => None,
        }
    }

    /// (connections open, of which idle).
    pub(crate) fn connections(&self) -> (usize, usize) {
        match self {
            Db::Sqlite(db) => db.connections(),
            Db::Postgres(db) => db.connections(),
        }
    }

    pub(crate) async fn ping(&self) -> bool {
        match self {
            Db::Sqlite(db) => db.ping(),
            Db::Postgres(db) => db.ping().await,
        }
    }

    pub(crate) async fn close(&self) {
        match self {
            Db::Sqlite(db) => db.close(),
            Db::Postgres(db) => db.close().await,
        }
    }
}
