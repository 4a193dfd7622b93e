//! The SQLite backend: one writer connection behind a mutex (write transactions are
//! `BEGIN IMMEDIATE`, so other processes are excluded too), and an r2d2 pool of readers.
//! WAL, `synchronous=NORMAL`, `foreign_keys=ON`, `busy_timeout`. The blocking calls run on
//! tokio's blocking pool.

mod content;
mod orders;
mod parts;
mod purchases;
mod queries;
mod referral;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction, TransactionBehavior};
use snspmt_core::{LedgerKind, Points};

use crate::migrations::{self, Applied};
use crate::model::like_pattern;
use crate::{
    AuditEntry, AuditStore, Credentials, IdempotencyKey, Idempotent, LedgerEntry, LedgerFilter, LedgerStore,
    Maintenance, MigrationReport, Millis, NewAudit, NewUser, Page, Posting, ProfilePatch, SessionStore,
    StoreError, StoreResult, User, UserStore,
};
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

fn kind_from_sql(s: String) -> rusqlite::Result<LedgerKind> {
    s.parse()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e)))
}

fn ledger_row(r: &Row<'_>) -> rusqlite::Result<LedgerEntry> {
    Ok(LedgerEntry {
        id: r.get(0)?,
        user_id: r.get(1)?,
        kind: kind_from_sql(r.get(2)?)?,
        amount: Points(r.get(3)?),
        balance_after: Points(r.get(4)?),
        reference: r.get(5)?,
        description: r.get(6)?,
        created_at: r.get(7)?,
    })
}

fn audit_row(r: &Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        id: r.get(0)?,
        actor: r.get(1)?,
        action: r.get(2)?,
        target: r.get(3)?,
        detail: r.get(4)?,
        created_at: r.get(5)?,
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

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, u: NewUser, now: Millis) -> StoreResult<User> {
        self.write(move |tx| {
            let taken: bool = tx.prepare_cached(q::USER_ID_EXISTS)?.query_row([&u.user_id], |r| r.get(0))?;
            if taken {
                return Err(StoreError::Conflict("user_id_taken"));
            }
            if let Some(email) = &u.email {
                let taken: bool =
                    tx.prepare_cached(q::EMAIL_EXISTS)?.query_row(params![email, u.user_id], |r| r.get(0))?;
                if taken {
                    return Err(StoreError::Conflict("email_taken"));
                }
            }
            Ok(tx.prepare_cached(q::INSERT_USER)?.query_row(
                params![u.user_id, u.email, u.name, u.display_name, u.password_hash, now],
                user_row,
            )?)
        })
        .await
    }

    async fn user(&self, user_id: &str) -> StoreResult<Option<User>> {
        let id = user_id.to_owned();
        self.read(move |c| Ok(c.prepare_cached(q::USER_BY_ID)?.query_row([id], user_row).optional()?)).await
    }

    async fn credentials(&self, email: &str) -> StoreResult<Option<Credentials>> {
        let email = email.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached(q::CREDENTIALS_BY_EMAIL)?
                .query_row([email], |r| Ok(Credentials { user: user_row(r)?, password_hash: r.get(8)? }))
                .optional()?)
        })
        .await
    }

    async fn list_users(&self, search: Option<&str>, limit: i64, offset: i64) -> StoreResult<Page<User>> {
        let pattern = like_pattern(search);
        self.read(move |c| {
            let rows = c
                .prepare_cached(q::LIST_USERS)?
                .query_map(params![pattern, limit, offset], user_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let total = c.prepare_cached(q::COUNT_USERS)?.query_row([pattern], |r| r.get(0))?;
            Ok(Page { rows, total })
        })
        .await
    }

    async fn update_user(
        &self,
        user_id: &str,
        patch: ProfilePatch,
        adjustment: Option<Posting>,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<User> {
        let id = user_id.to_owned();
        self.write(move |tx| {
            if let Some(Some(email)) = &patch.email {
                let taken: bool =
                    tx.prepare_cached(q::EMAIL_EXISTS)?.query_row(params![email, id], |r| r.get(0))?;
                if taken {
                    return Err(StoreError::Conflict("email_taken"));
                }
            }
            let email = patch.email.clone().flatten();
            let params =
                params![id, patch.email.is_some(), email, patch.name, patch.display_name, patch.is_admin];
            let mut user = tx
                .prepare_cached(q::UPDATE_PROFILE)?
                .query_row(params, user_row)
                .optional()?
                .ok_or(StoreError::NotFound)?;
            if let Some(p) = &adjustment {
                user.points = post_in(tx, p, now)?.balance_after;
            }
            insert_audit(tx, &audit, now)?;
            Ok(user)
        })
        .await
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(
        &self,
        token_hash: &str,
        user_id: &str,
        now: Millis,
        expires_at: Millis,
    ) -> StoreResult<()> {
        let (h, u) = (token_hash.to_owned(), user_id.to_owned());
        self.write(move |tx| {
            tx.prepare_cached(q::INSERT_SESSION)?.execute(params![h, u, now, expires_at])?;
            Ok(())
        })
        .await
    }

    async fn session_user(&self, token_hash: &str, now: Millis) -> StoreResult<Option<User>> {
        let h = token_hash.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached(q::SESSION_USER)?.query_row(params![h, now], user_row).optional()?)
        })
        .await
    }

    async fn revoke_session(&self, token_hash: &str) -> StoreResult<bool> {
        let h = token_hash.to_owned();
        self.write(move |tx| Ok(tx.prepare_cached(q::DELETE_SESSION)?.execute([h])? > 0)).await
    }

    async fn record_login_failure(&self, email: &str, now: Millis) -> StoreResult<()> {
        let e = email.to_owned();
        self.write(move |tx| {
            tx.prepare_cached(q::INSERT_LOGIN_FAILURE)?.execute(params![e, now])?;
            Ok(())
        })
        .await
    }

    async fn login_failures(&self, email: &str, since: Millis) -> StoreResult<i64> {
        let e = email.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached(q::COUNT_LOGIN_FAILURES)?.query_row(params![e, since], |r| r.get(0))?)
        })
        .await
    }

    async fn clear_login_failures(&self, email: &str) -> StoreResult<()> {
        let e = email.to_owned();
        self.write(move |tx| {
            tx.prepare_cached(q::DELETE_LOGIN_FAILURES)?.execute([e])?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl LedgerStore for SqliteStore {
    async fn balance(&self, user_id: &str) -> StoreResult<Option<Points>> {
        let id = user_id.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached(q::BALANCE)?.query_row([id], |r| r.get(0).map(Points)).optional()?)
        })
        .await
    }

    async fn post(
        &self,
        posting: Posting,
        key: Option<IdempotencyKey>,
        now: Millis,
    ) -> StoreResult<Idempotent<LedgerEntry>> {
        self.write(move |tx| {
            if let Some(key) = &key {
                if let Some(stored) = claim_key(tx, key, now)? {
                    return Ok(Idempotent::Replay(deserialize(&stored)?));
                }
            }
            let entry = post_in(tx, &posting, now)?;
            if let Some(key) = &key {
                save_key(tx, key, &serialize(&entry)?)?;
            }
            Ok(Idempotent::Fresh(entry))
        })
        .await
    }

    async fn ledger(&self, f: LedgerFilter) -> StoreResult<Page<LedgerEntry>> {
        self.read(move |c| {
            let kind = f.kind.map(LedgerKind::as_str);
            let rows = c
                .prepare_cached(q::LEDGER_PAGE)?
                .query_map(params![f.user_id, kind, f.limit, f.offset], ledger_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let total =
                c.prepare_cached(q::LEDGER_COUNT)?.query_row(params![f.user_id, kind], |r| r.get(0))?;
            Ok(Page { rows, total })
        })
        .await
    }

    async fn ledger_mismatches(&self) -> StoreResult<Vec<(String, Points, Points)>> {
        self.read(|c| {
            Ok(c.prepare_cached(q::LEDGER_MISMATCHES)?
                .query_map([], |r| Ok((r.get(0)?, Points(r.get(1)?), Points(r.get(2)?))))?
                .collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn record_audit(&self, entry: NewAudit, now: Millis) -> StoreResult<AuditEntry> {
        self.write(move |tx| {
            let id = insert_audit(tx, &entry, now)?;
            Ok(AuditEntry {
                id,
                actor: entry.actor,
                action: entry.action,
                target: entry.target,
                detail: entry.detail,
                created_at: now,
            })
        })
        .await
    }

    async fn audit_log(&self, limit: i64, offset: i64) -> StoreResult<Page<AuditEntry>> {
        self.read(move |c| {
            let rows = c
                .prepare_cached(q::AUDIT_PAGE)?
                .query_map(params![limit, offset], audit_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let total = c.prepare_cached(q::AUDIT_COUNT)?.query_row([], |r| r.get(0))?;
            Ok(Page { rows, total })
        })
        .await
    }
}

#[async_trait]
impl Maintenance for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| Ok(c.prepare_cached(q::PING)?.query_row([], |r| r.get::<_, i64>(0)).map(drop)?)).await
    }

    async fn migrate(&self, now: Millis) -> StoreResult<MigrationReport> {
        self.write(move |tx| {
            tx.execute_batch(q::CREATE_MIGRATIONS_TABLE)?;
            let applied = tx
                .prepare(q::APPLIED_MIGRATIONS)?
                .query_map([], |r| Ok(Applied { version: r.get(0)?, checksum: r.get(1)? }))?
                .collect::<Result<Vec<_>, _>>()?;
            let mut report = MigrationReport { applied: Vec::new(), version: 0 };
            for m in migrations::pending(migrations::SQLITE, &applied)? {
                tx.execute_batch(m.sql).map_err(|e| StoreError::Migration(format!("{}: {e}", m.name)))?;
                tx.execute(q::RECORD_MIGRATION, params![m.version, m.name, m.checksum(), now])?;
                report.applied.push(m.name.to_owned());
            }
            report.version = tx.query_row(q::SCHEMA_VERSION, [], |r| r.get(0))?;
            Ok(report)
        })
        .await
    }

    async fn schema_version(&self) -> StoreResult<i64> {
        self.write(|tx| {
            tx.execute_batch(q::CREATE_MIGRATIONS_TABLE)?;
            Ok(tx.query_row(q::SCHEMA_VERSION, [], |r| r.get(0))?)
        })
        .await
    }

    async fn ops_counts(&self, attention_before: Millis) -> StoreResult<crate::OpsCounts> {
        self.read(move |c| {
            let jobs = |state: &str| -> StoreResult<i64> {
                Ok(c.prepare_cached(q::COUNT_JOBS_IN_STATE)?.query_row([state], |r| r.get(0))?)
            };
            let none: Option<String> = None;
            Ok(crate::OpsCounts {
                due_jobs: jobs("due")?,
                submitting_jobs: jobs("submitting")?,
                unknown_orders: c.prepare_cached(q::COUNT_UNKNOWN_ORDERS)?.query_row([], |r| r.get(0))?,
                purchases_needing_attention: c
                    .prepare_cached(q::COUNT_PURCHASES)?
                    .query_row(params![none, none, none, attention_before], |r| r.get(0))?,
                ledger: c
                    .prepare_cached(q::LEDGER_TOTALS)?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<Result<_, _>>()?,
            })
        })
        .await
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}
