//! The PostgreSQL backend: tokio-postgres through a deadpool pool, prepared statements cached
//! per connection, `READ COMMITTED` transactions whose money statements are conditional
//! (`UPDATE … WHERE points + $2 >= 0`), so concurrent writers never overdraw.

mod conn;

use std::time::Duration;

use deadpool_postgres::{Hook, HookError, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use crate::{Maintenance, StoreError, StoreResult};

/// A PostgreSQL database.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    watchers: std::sync::Arc<crate::sql::Watchers>,
}

impl PgStore {
    /// Connects a pool of at most `max_connections` to `url` (`postgres://…`).
    /// A first connection is made at once: an unreachable server, an unknown database or role
    /// is an error here (naming host, port, database and user), not at the first query.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use snspmt_store::{Maintenance, Millis, PgStore};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), snspmt_store::StoreError> {
    /// let store = PgStore::connect("postgres://postgres@127.0.0.1:5432/snspmt", 16).await?;
    /// store.migrate(Millis(1_700_000_000_000)).await?;
    /// assert_eq!(store.backend(), "postgres");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(url: &str, max_connections: usize) -> StoreResult<PgStore> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| StoreError::Backend(format!("DATABASE_URL: {e}")))?;
        let store = Self::from_config(config.clone(), max_connections)?;
        match store.ping().await {
            Ok(()) => Ok(store),
            Err(StoreError::Unavailable(why) | StoreError::Backend(why)) => {
                Err(StoreError::Unavailable(format!("{}: {why}", describe(&config))))
            }
            Err(e) => Err(e),
        }
    }

    /// A pool over an already parsed configuration (tests set `search_path` through it).
    pub fn from_config(config: tokio_postgres::Config, max_connections: usize) -> StoreResult<PgStore> {
        let manager =
            Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(max_connections.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(5)))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .post_recycle(Hook::async_fn(|client, metrics| {
                let due = replan_due(metrics);
                Box::pin(async move {
                    let discarded = if due { client.batch_execute("DISCARD PLANS").await } else { Ok(()) };
                    discarded.map_err(HookError::Backend)
                })
            }))
            .build()
            .map_err(|e| StoreError::Backend(format!("pool: {e}")))?;
        Ok(PgStore { pool, watchers: Default::default() })
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Client> {
        Ok(self.pool.get().await?)
    }

    /// Runs the operation `f` in a transaction: committed when it returns `Ok`, rolled back
    /// (dropped) otherwise.
    pub(crate) async fn tx<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: AsyncFnOnce(&mut conn::PgConn<'_, deadpool_postgres::Transaction<'_>>) -> StoreResult<T>,
    {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut c = conn::PgConn::new(&tx);
        let out = f(&mut c).await?;
        let changes = std::mem::take(&mut c.changes);
        tx.commit().await?;
        self.watchers.tell(&changes);
        Ok(out)
    }

    /// Runs `f` on a pooled connection in autocommit: for an operation that is one statement
    /// (its reads on failure aside), which commits by itself, saving `BEGIN` and `COMMIT`.
    pub(crate) async fn autocommit<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: AsyncFnOnce(&mut conn::PgConn<'_, deadpool_postgres::Client>) -> StoreResult<T>,
    {
        let client = self.client().await?;
        let mut c = conn::PgConn::new(&client);
        let out = f(&mut c).await?;
        self.watchers.tell(&c.changes);
        Ok(out)
    }

    /// Runs the read-only operation `f` on a pooled connection, outside a transaction.
    pub(crate) async fn rd<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: AsyncFnOnce(&mut conn::PgConn<'_, deadpool_postgres::Client>) -> StoreResult<T>,
    {
        let client = self.client().await?;
        f(&mut conn::PgConn::new(&client)).await
    }
}

impl PgStore {
    pub(crate) fn dialect_name(&self) -> &'static str {
        "postgres"
    }

    pub(crate) fn watchers(&self) -> &crate::sql::Watchers {
        &self.watchers
    }
}

/// Where a configuration points, without its password: `PostgreSQL at host:port, database d as
/// user u (DATABASE_URL)`.
fn describe(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(h, port)| match h {
            tokio_postgres::config::Host::Tcp(h) => format!("{h}:{port}"),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(p) => format!("{}:{port}", p.display()),
        })
        .collect();
    format!(
        "PostgreSQL at {}, database {:?} as user {:?} (check DATABASE_URL)",
        if hosts.is_empty() { "localhost:5432".to_owned() } else { hosts.join(",") },
        config.get_dbname().unwrap_or("(the user's name)"),
        config.get_user().unwrap_or("(unset)")
    )
}

/// How often a pooled connection forgets its statements' plans ([`replan_due`]).
const REPLAN_EVERY: Duration = Duration::from_secs(60);

/// Whether a connection being handed out has entered a new [`REPLAN_EVERY`] of its life since
/// it was last handed out: then its cached plans are dropped (`DISCARD PLANS`; the prepared
/// statements stay). PostgreSQL keeps a prepared statement's generic plan until the table's
/// statistics change, and without autovacuum they never do: a plan made while a table was
/// small (a seq scan of `orders`, planned for about 400 rows) was still used past 40,000, and
/// batch settlements took up to 820 ms. Planned again each minute, statements follow the tables' size.
fn replan_due(metrics: &deadpool_postgres::Metrics) -> bool {
    let minute = |d: Duration| d.as_secs() / REPLAN_EVERY.as_secs();
    let last = metrics.recycled.map_or(Duration::ZERO, |at| at.saturating_duration_since(metrics.created));
    minute(metrics.age()) > minute(last)
}

#[cfg(test)]
mod tests {
    use super::{replan_due, Duration};

    #[test]
    fn plans_are_dropped_once_per_minute_of_a_connections_life() {
        let Some(created) = std::time::Instant::now().checked_sub(Duration::from_secs(130)) else { return };
        // Aged 130 s: due if last handed out in its first or second minute, not in its third.
        let due = |last: Option<u64>| {
            let recycled = last.map(|s| created + Duration::from_secs(s));
            replan_due(&deadpool_postgres::Metrics { created, recycled, recycle_count: 1 })
        };
        assert_eq!([due(None), due(Some(10)), due(Some(119)), due(Some(121))], [true, true, true, false]);
        assert!(!replan_due(&deadpool_postgres::Metrics::default()), "a new connection keeps its plans");
    }
}
