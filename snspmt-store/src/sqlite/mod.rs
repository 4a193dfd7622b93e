//! The SQLite backend: one writer connection behind a mutex (write transactions are
//! `BEGIN IMMEDIATE`, so other processes are excluded too), and an r2d2 pool of readers.
//! WAL, `synchronous=NORMAL`, `foreign_keys=ON`, `busy_timeout`. The blocking calls run on
//! tokio's blocking pool.

mod conn;
mod content;
mod orders;
mod parts;
mod queries;
mod referral;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction, TransactionBehavior};
use snspmt_core::Points;

use crate::{IdempotencyKey, LedgerEntry, Millis, NewAudit, Posting, StoreError, StoreResult, User};
use queries as q;

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
    pub fn open(path: &str) -> StoreResult<SqliteStore> {
        Self::open_inner(PathBuf::from(path), None)
    }

    /// A throw-away database in a temporary file, removed when the store is dropped.
    pub fn open_temporary() -> StoreResult<SqliteStore> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let name =
            format!("snspmt-{}-{nanos}-{}.db", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        let path = std::env::temp_dir().join(name);
        Self::open_inner(path.clone(), Some(path))
    }

    fn open_inner(path: PathBuf, temporary: Option<PathBuf>) -> StoreResult<SqliteStore> {
        let writer = Connection::open(&path)?;
        writer.execute_batch(PRAGMAS)?;
        let manager = SqliteConnectionManager::file(&path).with_init(|c| c.execute_batch(PRAGMAS));
        let readers = r2d2::Pool::builder()
            .max_size(8)
            .connection_timeout(std::time::Duration::from_secs(10))
            .build(manager)?;
        Ok(SqliteStore { inner: Arc::new(Inner { readers, writer: Mutex::new(writer), temporary }) })
    }

    /// Runs `f` on a pooled reader connection, in place: a read is one indexed lookup in a WAL
    /// snapshot (microseconds, never waiting for the writer), cheaper than a hand-off to the
    /// blocking pool. A reader is taken without waiting; when all are busy the read goes to the
    /// blocking pool instead, so a burst never parks an async worker.
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        if let Some(conn) = self.inner.readers.try_get() {
            return f(&conn);
        }
        let inner = self.inner.clone();
        blocking(move || {
            let conn = inner.readers.get()?;
            f(&conn)
        })
        .await
    }

    /// Runs `f` in an `IMMEDIATE` transaction on the writer, committing when it returns `Ok`.
    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        blocking(move || {
            // A poisoned lock only means a writer panicked mid-call; its transaction was rolled
            // back when it unwound, so the connection is usable.
            let mut conn = inner.writer.lock().unwrap_or_else(|p| p.into_inner());
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }
}

impl SqliteStore {
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
            let conn: &mut Connection = &mut guard;
            if !conn.is_autocommit() {
                // A writer panicked mid-transaction: nothing of it was committed.
                conn.execute_batch("ROLLBACK")?;
            }
            conn.execute_batch("BEGIN IMMEDIATE")?;
            let out = conn::run_now(f(&mut conn::LiteConn(conn)));
            match out.and_then(|v| conn.execute_batch("COMMIT").map(|()| v).map_err(StoreError::from)) {
                Ok(v) => Ok(v),
                Err(e) => {
                    if !conn.is_autocommit() {
                        let _ = conn.execute_batch("ROLLBACK");
                    }
                    Err(e)
                }
            }
        })
        .await
    }

    /// Runs the read-only operation `f` on a reader (in place when one is free).
    pub(crate) async fn rd<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: AsyncFnOnce(&mut conn::LiteConn<'_>) -> StoreResult<T> + Send + 'static,
    {
        if let Some(mut c) = self.inner.readers.try_get() {
            return conn::run_now(f(&mut conn::LiteConn(&mut c)));
        }
        let inner = self.inner.clone();
        blocking(move || {
            let mut c = inner.readers.get()?;
            conn::run_now(f(&mut conn::LiteConn(&mut c)))
        })
        .await
    }
}

impl SqliteStore {
    pub(crate) fn dialect_name(&self) -> &'static str {
        "sqlite"
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

fn user_row(r: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        user_id: r.get(0)?,
        email: r.get(1)?,
        name: r.get(2)?,
        display_name: r.get(3)?,
        is_admin: r.get(4)?,
        points: Points(r.get(5)?),
        has_password: r.get(6)?,
        created_at: r.get(7)?,
    })
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
        || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

fn insert_audit(tx: &Connection, a: &NewAudit, now: Millis) -> StoreResult<i64> {
    Ok(tx
        .prepare_cached(q::INSERT_AUDIT)?
        .query_row(params![a.actor, a.action, a.target, a.detail, now], |r| r.get(0))?)
}

/// Claims an idempotency key inside the caller's transaction: `Ok(None)` if it is new (the
/// caller runs the operation and saves its result), `Ok(Some(response))` to replay.
fn claim_key(tx: &Connection, key: &IdempotencyKey, now: Millis) -> StoreResult<Option<String>> {
    let inserted = tx.prepare_cached(q::CLAIM_IDEMPOTENCY_KEY)?.execute(params![
        key.user_id,
        key.scope,
        key.key,
        key.request_hash,
        now
    ])?;
    if inserted == 1 {
        return Ok(None);
    }
    let (hash, response): (String, Option<String>) = tx
        .prepare_cached(q::IDEMPOTENCY_KEY)?
        .query_row(params![key.user_id, key.scope, key.key], |r| Ok((r.get(0)?, r.get(1)?)))?;
    match response {
        Some(body) if hash == key.request_hash => Ok(Some(body)),
        _ => Err(StoreError::IdempotencyKeyReused),
    }
}

fn save_key(tx: &Connection, key: &IdempotencyKey, response: &str) -> StoreResult<()> {
    tx.prepare_cached(q::SAVE_IDEMPOTENCY_RESPONSE)?.execute(params![
        key.user_id,
        key.scope,
        key.key,
        response
    ])?;
    Ok(())
}

fn post_in(tx: &Connection, p: &Posting, now: Millis) -> StoreResult<LedgerEntry> {
    if let Some(event) = &p.event_ref {
        let seen: bool = tx.prepare_cached(q::EVENT_POSTED)?.query_row([event], |r| r.get(0))?;
        if seen {
            return Err(StoreError::AlreadyPosted);
        }
    }
    let balance: Option<i64> = tx
        .prepare_cached(q::MOVE_BALANCE)?
        .query_row(params![p.user_id, p.amount.0], |r| r.get(0))
        .optional()?;
    let Some(balance_after) = balance else {
        let current: Option<i64> =
            tx.prepare_cached(q::BALANCE)?.query_row([&p.user_id], |r| r.get(0)).optional()?;
        return Err(match current {
            None => StoreError::NotFound,
            Some(b) => StoreError::insufficient(Points(b)),
        });
    };
    let id: i64 = tx
        .prepare_cached(q::INSERT_LEDGER_ENTRY)?
        .query_row(
            params![
                p.user_id,
                p.kind.as_str(),
                p.amount.0,
                balance_after,
                p.reference,
                p.description,
                p.event_ref,
                now
            ],
            |r| r.get(0),
        )
        .map_err(|e| if is_unique_violation(&e) { StoreError::AlreadyPosted } else { e.into() })?;
    if let Some(audit) = &p.audit {
        insert_audit(tx, audit, now)?;
    }
    Ok(LedgerEntry {
        id,
        user_id: p.user_id.clone(),
        kind: p.kind,
        amount: p.amount,
        balance_after: Points(balance_after),
        reference: p.reference.clone(),
        description: p.description.clone(),
        created_at: now,
    })
}

fn serialize<T: serde::Serialize>(t: &T) -> StoreResult<String> {
    serde_json::to_string(t).map_err(|e| StoreError::Backend(format!("serialize: {e}")))
}

fn deserialize<T: serde::de::DeserializeOwned>(s: &str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Backend(format!("stored response: {e}")))
}
