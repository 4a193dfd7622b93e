//! The PostgreSQL adapter of [`Conn`]: prepared statements cached per connection.

use deadpool_postgres::GenericClient;
use futures_util::TryStreamExt;

use crate::sql::{Conn, Dialect, Param, Row};
use crate::{Change, StoreResult};

/// A pooled PostgreSQL client, or a transaction on one, and the changes noted on it.
pub(crate) struct PgConn<'a, C: GenericClient + Sync> {
    c: &'a C,
    pub(crate) changes: Vec<Change>,
}

impl<'a, C: GenericClient + Sync> PgConn<'a, C> {
    pub(crate) fn new(c: &'a C) -> Self {
        PgConn { c, changes: Vec::new() }
    }
}

impl<C: GenericClient + Sync> Conn for PgConn<'_, C> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn note(&mut self, change: Change) {
        self.changes.push(change);
    }

    fn query_map<T: Send>(
        &mut self,
        sql: &'static str,
        args: &[&dyn Param],
        mut f: impl FnMut(Row) -> StoreResult<T> + Send,
    ) -> impl std::future::Future<Output = StoreResult<Vec<T>>> + Send {
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = args.iter().map(|a| a.pg()).collect();
        let c = self.c;
        async move {
            let st = c.prepare_cached(sql).await?;
            let rows = c.query_raw(&st, params).await?.map_err(crate::StoreError::from);
            rows.and_then(|r| std::future::ready(f(Row::Pg(r)))).try_collect().await
        }
    }

    fn execute(
        &mut self,
        sql: &'static str,
        args: &[&dyn Param],
    ) -> impl std::future::Future<Output = StoreResult<u64>> + Send {
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = args.iter().map(|a| a.pg()).collect();
        let c = self.c;
        async move {
            let st = c.prepare_cached(sql).await?;
            Ok(c.execute(&st, &params).await?)
        }
    }

    fn batch(&mut self, sql: &str) -> impl std::future::Future<Output = StoreResult<()>> + Send {
        let c = self.c;
        async move { Ok(c.batch_execute(sql).await?) }
    }
}
