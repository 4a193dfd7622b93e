//! The SQLite backend: one writer connection behind a mutex (write transactions are
//! `BEGIN IMMEDIATE`, so other processes are excluded too), and an r2d2 pool of readers.
//! WAL, `synchronous=NORMAL`, `foreign_keys=ON`, `busy_timeout`. The blocking calls run on
//! tokio's blocking pool.

mod conn;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;

use crate::{StoreError, StoreResult};

const STATEMENT_CACHE: usize = 256;

const PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
    PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;";

/// A SQLite database file.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    readers: r2d2::Pool<SqliteConnectionManager>,
    writer: Mutex<Connection>,
    /// A temporary database file removed when the store is dropped (`sqlite::memory:`).
    temporary: Option<PathBuf>,
    watchers: crate::sql::Watchers,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(path) = &self.temporary {
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`.
    ///
    /// # Example
    ///
    /// ```
    /// use snspmt_store::{Maintenance, Millis, SqliteStore};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let path = std::env::temp_dir().join(format!("snspmt-doc-{}.db", std::process::id()));
    /// let path = path.to_str().ok_or("a UTF-8 path")?;
    /// let store = SqliteStore::open(path)?;
    /// let version = store.migrate(Millis(0)).await?.version;
    /// drop(store);
    /// // Reopened: the schema is there.
    /// assert_eq!(SqliteStore::open(path)?.schema_version().await?, version);
    /// # for suffix in ["", "-wal", "-shm"] { let _ = std::fs::remove_file(format!("{path}{suffix}")); }
    /// # Ok(())
    /// # }
    /// ```
    pub fn open(path: &str) -> StoreResult<SqliteStore> {
        Self::open_inner(PathBuf::from(path), None)
    }

    /// A throw-away database in a temporary file, removed when the store is dropped.
    pub fn open_temporary() -> StoreResult<SqliteStore> {
        let path = std::env::temp_dir().join(format!("{}.db", crate::unique_name("snspmt", '-')));
        Self::open_inner(path.clone(), Some(path))
    }

    fn open_inner(path: PathBuf, temporary: Option<PathBuf>) -> StoreResult<SqliteStore> {
        let writer = Connection::open(&path)?;
        writer.execute_batch(PRAGMAS)?;
        // Every operation's statements stay prepared (rusqlite keeps 16 by default).
        writer.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let manager = SqliteConnectionManager::file(&path).with_init(|c| {
            c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            c.execute_batch(PRAGMAS)
        });
        let readers = r2d2::Pool::builder()
            .max_size(8)
            .connection_timeout(std::time::Duration::from_secs(10))
            .build(manager)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                readers,
                writer: Mutex::new(writer),
                temporary,
                watchers: crate::sql::Watchers::default(),
            }),
        })
    }

    /// Runs the operation `f` in an `IMMEDIATE` transaction on the writer, on the blocking
    /// pool: committed when it returns `Ok`, rolled back otherwise.
    pub(crate) async fn tx<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: AsyncFnOnce(&mut conn::LiteConn<'_>) -> StoreResult<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        blocking(move || {
            let mut guard = inner.writer.lock().unwrap_or_else(|p| p.into_inner());
            in_transaction(&inner.watchers, &mut guard, f)
        })
        .await
    }

    /// Runs `f`, a short operation whose statements must commit together (a plain posting), in
    /// a transaction: in place when the writer is free (as [`SqliteStore::rd`] reads), saving
    /// the hop to the blocking pool, else there like [`SqliteStore::tx`].
    pub(crate) async fn autocommit<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: AsyncFnOnce(&mut conn::LiteConn<'_>) -> StoreResult<T> + Send + 'static,
    {
        let f = match self.in_place(f) {
            Ok(out) => return out,
            Err(f) => f,
        };
        self.tx(f).await
    }

    /// Runs `f` in a transaction here when the writer is free; gives `f` back when it is not.
    fn in_place<T, F>(&self, f: F) -> Result<StoreResult<T>, F>
    where
        F: AsyncFnOnce(&mut conn::LiteConn<'_>) -> StoreResult<T>,
    {
        let mut guard = match self.inner.writer.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return Err(f),
        };
        Ok(in_transaction(&self.inner.watchers, &mut guard, f))
    }

    /// Runs the read-only operation `f` on a reader (in place when one is free).
    pub(crate) async fn rd<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: AsyncFnOnce(&mut conn::LiteConn<'_>) -> StoreResult<T> + Send + 'static,
    {
        if let Some(mut c) = self.inner.readers.try_get() {
            return conn::run_now(f(&mut conn::LiteConn::new(&mut c)));
        }
        let inner = self.inner.clone();
        blocking(move || {
            let mut c = inner.readers.get()?;
            conn::run_now(f(&mut conn::LiteConn::new(&mut c)))
        })
        .await
    }

    pub(crate) fn dialect_name(&self) -> &'static str {
        "sqlite"
    }

    pub(crate) fn watchers(&self) -> &crate::sql::Watchers {
        &self.inner.watchers
    }
}

/// Runs `f` in an `IMMEDIATE` transaction on the writer `conn` (held by the caller): committed
/// when it returns `Ok` (and then told to the watchers), rolled back otherwise.
fn in_transaction<T, F>(watchers: &crate::sql::Watchers, conn: &mut Connection, f: F) -> StoreResult<T>
where
    F: AsyncFnOnce(&mut conn::LiteConn<'_>) -> StoreResult<T>,
{
    if !conn.is_autocommit() {
        // A writer panicked mid-transaction: nothing of it was committed.
        conn.execute_batch("ROLLBACK")?;
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let mut lite = conn::LiteConn::new(conn);
    let out = conn::run_now(f(&mut lite));
    let changes = std::mem::take(&mut lite.changes);
    match out.and_then(|v| conn.execute_batch("COMMIT").map(|()| v).map_err(StoreError::from)) {
        Ok(v) => {
            // Told while the writer is still held: watchers hear commits in their order.
            watchers.tell(&changes);
            Ok(v)
        }
        Err(e) => {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            Err(e)
        }
    }
}

async fn blocking<T, F>(f: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> StoreResult<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
}
