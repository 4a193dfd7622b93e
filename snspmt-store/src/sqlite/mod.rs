//! The SQLite backend: one writer connection, owned by a writer thread (write transactions are
//! `BEGIN IMMEDIATE`, so other processes are excluded too), and an r2d2 pool of readers.
//! WAL, `synchronous=NORMAL`, `foreign_keys=ON`, `busy_timeout`.
//!
//! Writes are group-committed: the writer thread takes every operation queued while it was busy
//! and runs them one after another in one transaction, each inside its own savepoint (an
//! operation that fails is rolled back alone), then commits once and answers them all. One
//! commit, one WAL append, and one hand-off per batch instead of per operation. (Running a
//! short posting in place on the caller's thread when the writer was free, tried too, served
//! fewer deducts under load: 16,559/s against 20,604/s.)

mod conn;

use std::path::PathBuf;
use std::sync::{mpsc, Arc};

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;

use crate::{StoreError, StoreResult};

const STATEMENT_CACHE: usize = 256;

/// A reader's page cache (SQLite's default is 2 MiB per connection): the readers' caches filled
/// one by one as the database grew, and the server's memory with them.
const READER_CACHE: &str = "PRAGMA cache_size = -512;";

/// `temp_store = MEMORY`: the savepoints of a group commit keep their sub-journals in memory
/// (in a temporary file, writing them was an eighth of an order's time).
const PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
    PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA temp_store = MEMORY;";

/// The writer checkpoints the WAL itself only past this many pages (a bound): the checkpointer
/// thread ([`checkpoints`]) copies it into the database file beside the writer.
const WRITER_CHECKPOINT: &str = "PRAGMA wal_autocheckpoint = 8000;";

/// SQLite's heap in this process (every connection's page cache, statements and schema: 3.7 MB
/// in a soak) is kept near this bound by reusing cached pages instead of allocating new ones.
const HEAP_LIMIT: &str = "PRAGMA soft_heap_limit = 4194304;";

/// How often the checkpointer thread copies what the writer committed into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// A SQLite database file.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    readers: r2d2::Pool<SqliteConnectionManager>,
    /// The watchers of the writer's commits.
    watchers: Arc<crate::sql::Watchers>,
    /// The writer thread's queue; the thread ends when the store is dropped.
    queue: mpsc::Sender<Queued>,
    /// A temporary database file removed when the store is dropped (`sqlite::memory:`).
    temporary: Option<PathBuf>,
}

/// The most operations one group commit takes.
const MAX_BATCH: usize = 64;

/// A queued write: runs the operation on the writer (inside the batch's transaction) and hands
/// back how it went.
/// Given an error instead of a connection, it does not run and answers that error.
type Queued = Box<dyn for<'a, 'b> FnOnce(Result<&'a mut conn::LiteConn<'b>, &'a StoreError>) -> Ran + Send>;

/// A queued write that ran: whether it succeeded, and its answer, given once the batch is
/// decided (`None`: committed; `Some(e)`: the batch failed with `e`, and so did it).
struct Ran {
    ok: bool,
    answer: Answer,
}

/// Answers a queued write's caller, once its batch is decided.
type Answer = Box<dyn FnOnce(Option<&StoreError>) + Send>;

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
        writer.execute_batch(&format!("{PRAGMAS} {WRITER_CHECKPOINT} {HEAP_LIMIT}"))?;
        // Every operation's statements stay prepared (rusqlite keeps 16 by default).
        writer.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // The plans do not depend on bound values: SQLite would otherwise prepare a claim again
        // whenever its `LIMIT` changed (3 % of the writer's time).
        writer.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        let manager = SqliteConnectionManager::file(&path).with_init(|c| {
            c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            c.execute_batch(PRAGMAS)?;
            c.execute_batch(READER_CACHE)
        });
        let readers = r2d2::Pool::builder()
            .max_size(8)
            .connection_timeout(std::time::Duration::from_secs(10))
            .build(manager)?;
        let watchers = Arc::new(crate::sql::Watchers::default());
        let (queue, queued) = mpsc::channel();
        let w = watchers.clone();
        thread("snspmt-sqlite-writer", move || group_commits(writer, &w, &queued))?;
        let inner = Arc::new(Inner { readers, watchers, queue, temporary });
        let (checkpointer, store) = (Connection::open(&path)?, Arc::downgrade(&inner));
        checkpointer.execute_batch(PRAGMAS)?;
        thread("snspmt-sqlite-checkpoints", move || checkpoints(&checkpointer, &store))?;
        Ok(SqliteStore { inner })
    }

    /// Runs the operation `f` on the writer thread, in the transaction of its next group
    /// commit: its writes are committed when it returns `Ok` (and answered after the commit),
    /// rolled back otherwise.
    pub(crate) async fn tx<T: Send + 'static>(&self, f: impl LiteOp<T>) -> StoreResult<T> {
        let (queued, answered) = queue(f);
        self.inner.queue.send(queued).map_err(|_| StoreError::Backend("the writer thread ended".into()))?;
        answered.await.map_err(|_| panicked())?
    }

    /// Runs `f`, a short operation whose statements must commit together (a plain posting), in
    /// a transaction: as [`SqliteStore::tx`] (PostgreSQL runs it without one).
    pub(crate) async fn autocommit<T: Send + 'static>(&self, f: impl LiteOp<T>) -> StoreResult<T> {
        self.tx(f).await
    }

    /// Runs the read-only operation `f` on a reader (in place when one is free).
    pub(crate) async fn rd<T: Send + 'static>(&self, f: impl LiteOp<T>) -> StoreResult<T> {
        if let Some(mut c) = self.inner.readers.try_get() {
            return conn::run_now(f(&mut conn::LiteConn::new(&mut c)));
        }
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            conn::run_now(f(&mut conn::LiteConn::new(&mut *inner.readers.get()?)))
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }

    pub(crate) fn dialect_name(&self) -> &'static str {
        "sqlite"
    }

    pub(crate) fn watchers(&self) -> &crate::sql::Watchers {
        &self.inner.watchers
    }
}

/// An operation on a connection: a write on the writer thread, or a read on a reader.
pub(crate) trait LiteOp<T>:
    AsyncFnOnce(&mut conn::LiteConn<'_>) -> StoreResult<T> + Send + 'static
{
}
impl<T, F: AsyncFnOnce(&mut conn::LiteConn<'_>) -> StoreResult<T> + Send + 'static> LiteOp<T> for F {}

/// `f` as a queued write, and where its answer comes.
fn queue<T: Send + 'static>(f: impl LiteOp<T>) -> (Queued, tokio::sync::oneshot::Receiver<StoreResult<T>>) {
    let (answer, answered) = tokio::sync::oneshot::channel();
    let queued: Queued = Box::new(move |c| match c.map_err(batch_failed).and_then(|c| conn::run_now(f(c))) {
        Ok(v) => Ran {
            ok: true,
            answer: Box::new(move |failed| drop(answer.send(failed.map_or(Ok(v), |e| Err(batch_failed(e)))))),
        },
        Err(e) => Ran { ok: false, answer: Box::new(move |_| drop(answer.send(Err(e)))) },
    });
    (queued, answered)
}

/// What the caller of a write hears when its operation panicked (its savepoint was rolled back
/// and its answer dropped).
fn panicked() -> StoreError {
    StoreError::Backend("a write operation failed".into())
}

/// Starts a named thread of the store.
fn thread(name: &str, f: impl FnOnce() + Send + 'static) -> StoreResult<()> {
    let spawned = std::thread::Builder::new().name(name.into()).spawn(f);
    spawned.map(drop).map_err(|e| StoreError::Backend(format!("{name} thread: {e}")))
}

/// Copies the WAL into the database file until the store is dropped. A passive checkpoint waits
/// for neither the writer nor a reader. Run by the writer after its commits (SQLite's default),
/// every queued operation waited for each checkpoint and its `fsync`s: moved here, SQLite's
/// deducts and orders in `wrkload` rose by about 30 % (`benches/README.md`).
fn checkpoints(c: &Connection, store: &std::sync::Weak<Inner>) {
    while store.strong_count() > 0 {
        std::thread::sleep(CHECKPOINT_EVERY);
        let _ = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }
}

/// The writer thread: takes what is queued (up to [`MAX_BATCH`]) and group-commits it, until
/// the store is dropped.
fn group_commits(mut conn: Connection, watchers: &crate::sql::Watchers, queued: &mpsc::Receiver<Queued>) {
    while let Ok(first) = queued.recv() {
        let mut batch = vec![first];
        batch.extend(queued.try_iter().take(MAX_BATCH - 1));
        let mut pending = batch.into_iter();
        // A batch ends early only when SQLite rolled back the whole transaction (disk full, I/O
        // error): the operations before that point are answered with the failure, the rest run
        // in the next transaction.
        while pending.len() > 0 {
            group_commit(watchers, &mut conn, &mut pending);
        }
    }
}

/// Runs one of the writer's own statements, prepared once (parsing them each time was 2 % of
/// its time).
fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// Runs queued operations in one `IMMEDIATE` transaction, each in a savepoint, commits, and
/// answers them.
fn group_commit(
    watchers: &crate::sql::Watchers,
    conn: &mut Connection,
    pending: &mut impl ExactSizeIterator<Item = Queued>,
) {
    // An operation alone in its transaction needs no savepoint: it is undone with it.
    let alone = pending.len() == 1;
    let begun = if conn.is_autocommit() { Ok(()) } else { run(conn, "ROLLBACK") };
    if let Err(e) = begun.and_then(|()| run(conn, "BEGIN IMMEDIATE")) {
        let e = StoreError::from(e);
        pending.for_each(|q| (q(Err(&e)).answer)(None));
        return;
    }
    let mut answers = Vec::new();
    let mut changes = Vec::new();
    for q in pending.by_ref() {
        let saved = if alone { Ok(()) } else { run(conn, "SAVEPOINT op") };
        if let Err(e) = saved.map_err(StoreError::from) {
            (q(Err(&e)).answer)(None);
            continue;
        }
        let mut lite = conn::LiteConn::new(conn);
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q(Ok(&mut lite))));
        let noted = std::mem::take(&mut lite.changes);
        let ok = matches!(&ran, Ok(ran) if ran.ok);
        let undone = ok || conn.is_autocommit() || (!alone && run(conn, "ROLLBACK TO op").is_ok());
        let released = alone || run(conn, "RELEASE op").is_ok();
        if !undone || conn.is_autocommit() || !released {
            // The transaction is given up (an operation alone in it failed, SQLite rolled it
            // back, or a savepoint would not undo): nothing of it is committed, and what ran in
            // it is answered as failed (an operation that failed by itself, with its own error).
            let e = StoreError::Backend("the write transaction was rolled back".into());
            answers.extend(ran.ok().map(|ran| ran.answer));
            answers.drain(..).for_each(|a| a(Some(&e)));
            let _ = conn.is_autocommit() || run(conn, "ROLLBACK").is_ok();
            return;
        }
        match ran {
            Ok(ran) if ok => {
                changes.extend(noted);
                answers.push(ran.answer);
            }
            // Refused (answered now: it changed nothing), or panicked (its caller hears of it
            // through the dropped answer).
            Ok(ran) => (ran.answer)(None),
            Err(_) => {}
        }
    }
    match run(conn, "COMMIT") {
        Ok(()) => {
            // Told on the writer thread: watchers hear commits in their order.
            watchers.tell(&changes);
            answers.into_iter().for_each(|a| a(None));
        }
        Err(e) => {
            let _ = conn.is_autocommit() || run(conn, "ROLLBACK").is_ok();
            let e = StoreError::from(e);
            answers.into_iter().for_each(|a| a(Some(&e)));
        }
    }
}

/// The error to answer each operation of a batch that failed with `e`.
fn batch_failed(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        other => StoreError::Backend(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::Conn;

    /// Operations queued while the writer is busy commit together, and each one that fails or
    /// panics is undone alone: its rows are gone, the others' stay, every caller hears its own.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_group_commit_undoes_only_what_failed() {
        let store = SqliteStore::open_temporary().expect("store");
        store.tx(async |c| c.batch("CREATE TABLE t (x INTEGER NOT NULL)").await).await.expect("table");
        // The writer is kept busy while the others queue up behind it.
        let busy = store.clone();
        let busy = tokio::spawn(async move {
            busy.tx(async |_| {
                std::thread::sleep(std::time::Duration::from_millis(300));
                Ok(())
            })
            .await
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let tasks: Vec<_> = (0..150_i64)
            .map(|i| {
                let s = store.clone();
                tokio::spawn(async move {
                    s.tx(async move |c| {
                        c.execute("INSERT INTO t (x) VALUES ($1)", &[&i]).await?;
                        assert!(i != 7, "an operation panics");
                        if i % 3 == 0 {
                            Err(StoreError::NotFound)
                        } else {
                            Ok(i)
                        }
                    })
                    .await
                })
            })
            .collect();
        busy.await.expect("task").expect("busy");
        for (i, t) in (0..).zip(tasks) {
            match (i, t.await.expect("task")) {
                (7, Err(StoreError::Backend(_))) | (_, Err(StoreError::NotFound)) if i % 3 == 0 || i == 7 => {
                }
                (i, Ok(v)) if i % 3 != 0 && i != 7 => assert_eq!(v, i),
                (i, other) => panic!("operation {i}: {other:?}"),
            }
        }
        // Alone in its transaction, undone with it.
        let alone = store
            .tx(async |c| {
                c.execute("INSERT INTO t (x) VALUES (1000)", &[]).await?;
                Err::<(), _>(StoreError::NotFound)
            })
            .await;
        assert!(matches!(alone, Err(StoreError::NotFound)), "{alone:?}");
        let kept: Vec<i64> = store
            .rd(async |c| {
                c.query("SELECT x FROM t ORDER BY x", &[]).await?.iter().map(|r| r.get(0)).collect()
            })
            .await
            .expect("rows");
        assert_eq!(kept, (0..150).filter(|i| i % 3 != 0 && *i != 7).collect::<Vec<i64>>());
    }
}
