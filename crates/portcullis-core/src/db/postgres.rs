//! PostgreSQL through an sqlx pool; migrations with sqlx's migrator (which takes an advisory
//! lock, so replicas starting together apply them once).

use std::time::Duration;

use sqlx::{
    PgPool, Row,
    postgres::{PgPoolOptions, PgRow},
};

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
    pub(crate) async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
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
