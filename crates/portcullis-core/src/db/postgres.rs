//! PostgreSQL through an sqlx pool; migrations with sqlx's migrator (which takes an advisory
//! lock, so replicas starting together apply them once).

use std::time::Duration;

use sqlx::{
    Connection, PgPool, Row,
    postgres::{PgConnectOptions, PgConnection, PgPoolOptions, PgRow},
};

/// How long the first connection may take before start-up gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a connection failed, in words (not Rust's debug formatting).
fn describe(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                "connection refused (is PostgreSQL running and listening there?)".into()
            }
            std::io::ErrorKind::TimedOut => "the connection timed out".into(),
            _ => io.to_string(),
        },
        sqlx::Error::Database(db) => db.message().to_owned(),
        sqlx::Error::Tls(tls) => format!("TLS failed: {tls}"),
        other => other.to_string(),
    }
}

use super::{Columns, Param, RowMapper};
use crate::{StoreError, store::MIGRATOR};

pub(crate) struct PgDb {
    pool: PgPool,
}

impl PgDb {
    pub(crate) fn connections(&self) -> (usize, usize) {
        (self.pool.size() as usize, self.pool.num_idle())
    }
}

impl Columns for PgRow {
    fn text(&self, index: usize) -> Result<String, StoreError> {
        Ok(self.try_get(index)?)
    }

    fn opt_text(&self, index: usize) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(index)?)
    }

    fn int(&self, index: usize) -> Result<i64, StoreError> {
        Ok(self.try_get(index)?)
    }
}

fn bind<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    params: &[Param<'q>],
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    for p in params {
        query = match p {
            Param::Text(s) => query.bind(*s),
            Param::OptText(s) => query.bind(*s),
            Param::Int(i) => query.bind(*i),
        };
    }
    query
}

impl PgDb {
    /// Opens one connection and closes it: says whether (and why not) the database answers.
    pub(crate) async fn probe(url: &str) -> Result<PgConnectOptions, StoreError> {
        let options: PgConnectOptions = url.parse().map_err(|e| {
            StoreError::Unreachable(format!("the PostgreSQL URL is not valid: {e}"))
        })?;
        // One plain connection first: it fails fast and says why, where a pool would retry
        // for its whole acquire timeout and then report only "pool timed out".
        let at = format!("{}:{}", options.get_host(), options.get_port());
        let unreachable = |why: String| {
            StoreError::Unreachable(format!("cannot connect to PostgreSQL at {at}: {why}"))
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options)).await {
            Err(_) => {
                return Err(unreachable(format!(
                    "no answer within {} s",
                    CONNECT_TIMEOUT.as_secs()
                )));
            }
            Ok(Err(e)) => return Err(unreachable(describe(&e))),
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
            }
        }
        Ok(options)
    }

    pub(crate) async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = Self::probe(url).await?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    pub(crate) async fn fetch_all<T>(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
        map: RowMapper<T>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = bind(sqlx::query(sql), params).fetch_all(&self.pool).await?;
        rows.iter().map(|r| map(r)).collect()
    }

    pub(crate) async fn execute(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<u64, StoreError> {
        Ok(bind(sqlx::query(sql), params)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    pub(crate) async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}
