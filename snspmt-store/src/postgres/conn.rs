//! The PostgreSQL adapter of [`Conn`]: prepared statements cached per connection.

use deadpool_postgres::GenericClient;

use crate::sql::{Conn, Dialect, Param, Row};
use crate::StoreResult;

/// A pooled PostgreSQL client, or a transaction on one.
pub(crate) struct PgConn<'a, C: GenericClient + Sync>(pub(crate) &'a C);

impl<C: GenericClient + Sync> Conn for PgConn<'_, C> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn query(
        &mut self,
        sql: &'static str,
        args: &[&dyn Param],
    ) -> impl std::future::Future<Output = StoreResult<Vec<Row>>> + Send {
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = args.iter().map(|a| a.pg()).collect();
        let c = self.0;
        async move {
            let st = c.prepare_cached(sql).await?;
            Ok(c.query(&st, &params).await?.into_iter().map(Row::Pg).collect())
        }
    }

    fn execute(
        &mut self,
        sql: &'static str,
        args: &[&dyn Param],
    ) -> impl std::future::Future<Output = StoreResult<u64>> + Send {
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = args.iter().map(|a| a.pg()).collect();
        let c = self.0;
        async move {
            let st = c.prepare_cached(sql).await?;
            Ok(c.execute(&st, &params).await?)
        }
    }

    fn batch(&mut self, sql: &str) -> impl std::future::Future<Output = StoreResult<()>> + Send {
        let c = self.0;
        async move { Ok(c.batch_execute(sql).await?) }
    }
}
