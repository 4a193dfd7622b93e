//! The PostgreSQL backend: tokio-postgres through a deadpool pool, prepared statements cached
//! per connection, `READ COMMITTED` transactions whose money statements are conditional
//! (`UPDATE … WHERE points + $2 >= 0`), so concurrent writers never overdraw.

mod conn;
mod content;
mod orders;
mod parts;
mod queries;
mod referral;

use std::time::Duration;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use snspmt_core::Points;
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, Row};

use crate::{
    IdempotencyKey, LedgerEntry, Maintenance, Millis, NewAudit, Posting, StoreError, StoreResult, User,
};
use queries as q;

/// A PostgreSQL database.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
}

impl PgStore {
    /// Connects a pool of at most `max_connections` to `url` (`postgres://…`).
    pub async fn connect(url: &str, max_connections: usize) -> StoreResult<PgStore> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| StoreError::Backend(format!("DATABASE_URL: {e}")))?;
        let store = Self::from_config(config, max_connections)?;
        store.ping().await?;
        Ok(store)
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
            .build()
            .map_err(|e| StoreError::Backend(format!("pool: {e}")))?;
        Ok(PgStore { pool })
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
        let out = f(&mut conn::PgConn(&tx)).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Runs the read-only operation `f` on a pooled connection, outside a transaction.
    pub(crate) async fn rd<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: AsyncFnOnce(&mut conn::PgConn<'_, deadpool_postgres::Client>) -> StoreResult<T>,
    {
        let client = self.client().await?;
        f(&mut conn::PgConn(&client)).await
    }
}

impl PgStore {
    pub(crate) fn dialect_name(&self) -> &'static str {
        "postgres"
    }
}

fn user_row(r: &Row) -> StoreResult<User> {
    Ok(User {
        user_id: r.try_get(0)?,
        email: r.try_get(1)?,
        name: r.try_get(2)?,
        display_name: r.try_get(3)?,
        is_admin: r.try_get(4)?,
        points: Points(r.try_get(5)?),
        has_password: r.try_get(6)?,
        created_at: r.try_get(7)?,
    })
}

fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

async fn insert_audit(c: &impl GenericClient, a: &NewAudit, now: Millis) -> StoreResult<i64> {
    let st = c.prepare_cached(q::INSERT_AUDIT).await?;
    Ok(c.query_one(&st, &[&a.actor, &a.action, &a.target, &a.detail, &now]).await?.try_get(0)?)
}

/// Claims an idempotency key in the caller's transaction: `None` if new, `Some(response)` to
/// replay. A concurrent claim of the same key waits for the first transaction to end.
async fn claim_key(c: &impl GenericClient, key: &IdempotencyKey, now: Millis) -> StoreResult<Option<String>> {
    let st = c.prepare_cached(q::CLAIM_IDEMPOTENCY_KEY).await?;
    if c.execute(&st, &[&key.user_id, &key.scope, &key.key, &key.request_hash, &now]).await? == 1 {
        return Ok(None);
    }
    let st = c.prepare_cached(q::IDEMPOTENCY_KEY).await?;
    let row = c.query_one(&st, &[&key.user_id, &key.scope, &key.key]).await?;
    let hash: String = row.try_get(0)?;
    let response: Option<String> = row.try_get(1)?;
    match response {
        Some(body) if hash == key.request_hash => Ok(Some(body)),
        _ => Err(StoreError::IdempotencyKeyReused),
    }
}

async fn save_key(c: &impl GenericClient, key: &IdempotencyKey, response: &str) -> StoreResult<()> {
    let st = c.prepare_cached(q::SAVE_IDEMPOTENCY_RESPONSE).await?;
    c.execute(&st, &[&key.user_id, &key.scope, &key.key, &response]).await?;
    Ok(())
}

async fn post_in(c: &impl GenericClient, p: &Posting, now: Millis) -> StoreResult<LedgerEntry> {
    if let Some(event) = &p.event_ref {
        let st = c.prepare_cached(q::EVENT_POSTED).await?;
        if c.query_one(&st, &[event]).await?.try_get::<_, bool>(0)? {
            return Err(StoreError::AlreadyPosted);
        }
    }
    let st = c.prepare_cached(q::MOVE_BALANCE).await?;
    let Some(row) = c.query_opt(&st, &[&p.user_id, &p.amount.0]).await? else {
        let st = c.prepare_cached(q::BALANCE).await?;
        return Err(match c.query_opt(&st, &[&p.user_id]).await? {
            None => StoreError::NotFound,
            Some(r) => StoreError::insufficient(Points(r.try_get(0)?)),
        });
    };
    let balance_after: i64 = row.try_get(0)?;
    let st = c.prepare_cached(q::INSERT_LEDGER_ENTRY).await?;
    let id: i64 = c
        .query_one(
            &st,
            &[
                &p.user_id,
                &p.kind.as_str(),
                &p.amount.0,
                &balance_after,
                &p.reference,
                &p.description,
                &p.event_ref,
                &now,
            ],
        )
        .await
        .map_err(|e| if is_unique_violation(&e) { StoreError::AlreadyPosted } else { e.into() })?
        .try_get(0)?;
    if let Some(audit) = &p.audit {
        insert_audit(c, audit, now).await?;
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

fn rows<T>(rows: Vec<Row>, f: fn(&Row) -> StoreResult<T>) -> StoreResult<Vec<T>> {
    rows.iter().map(f).collect()
}
