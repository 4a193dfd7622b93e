//! The PostgreSQL backend: tokio-postgres through a deadpool pool, prepared statements cached
//! per connection, `READ COMMITTED` transactions whose money statements are conditional
//! (`UPDATE … WHERE points + $2 >= 0`), so concurrent writers never overdraw.

mod content;
mod orders;
mod parts;
mod purchases;
mod queries;
mod referral;

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use snspmt_core::{LedgerKind, Points};
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, Row};

use crate::migrations::{self, Applied};
use crate::model::like_pattern;
use crate::{
    AuditEntry, AuditStore, Credentials, IdempotencyKey, Idempotent, LedgerEntry, LedgerFilter, LedgerStore,
    Maintenance, MigrationReport, Millis, NewAudit, NewUser, Page, Posting, ProfilePatch, SessionStore,
    StoreError, StoreResult, User, UserStore,
};
use queries as q;

/// Serialises concurrent `migrate` calls of several instances (`pg_advisory_xact_lock`).
const MIGRATION_LOCK: i64 = 0x736e_7370_6d74;

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

fn ledger_row(r: &Row) -> StoreResult<LedgerEntry> {
    let kind: String = r.try_get(2)?;
    Ok(LedgerEntry {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        kind: kind.parse().map_err(|e| StoreError::Backend(format!("{e}")))?,
        amount: Points(r.try_get(3)?),
        balance_after: Points(r.try_get(4)?),
        reference: r.try_get(5)?,
        description: r.try_get(6)?,
        created_at: r.try_get(7)?,
    })
}

fn audit_row(r: &Row) -> StoreResult<AuditEntry> {
    Ok(AuditEntry {
        id: r.try_get(0)?,
        actor: r.try_get(1)?,
        action: r.try_get(2)?,
        target: r.try_get(3)?,
        detail: r.try_get(4)?,
        created_at: r.try_get(5)?,
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

#[async_trait]
impl UserStore for PgStore {
    async fn create_user(&self, u: NewUser, now: Millis) -> StoreResult<User> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::USER_ID_EXISTS).await?;
        if tx.query_one(&st, &[&u.user_id]).await?.try_get::<_, bool>(0)? {
            return Err(StoreError::Conflict("user_id_taken"));
        }
        if let Some(email) = &u.email {
            let st = tx.prepare_cached(q::EMAIL_EXISTS).await?;
            if tx.query_one(&st, &[email, &u.user_id]).await?.try_get::<_, bool>(0)? {
                return Err(StoreError::Conflict("email_taken"));
            }
        }
        let st = tx.prepare_cached(q::INSERT_USER).await?;
        let row = tx
            .query_one(&st, &[&u.user_id, &u.email, &u.name, &u.display_name, &u.password_hash, &now])
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict("user_id_taken")
                } else {
                    e.into()
                }
            })?;
        let user = user_row(&row)?;
        tx.commit().await?;
        Ok(user)
    }

    async fn user(&self, user_id: &str) -> StoreResult<Option<User>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::USER_BY_ID).await?;
        c.query_opt(&st, &[&user_id]).await?.as_ref().map(user_row).transpose()
    }

    async fn credentials(&self, email: &str) -> StoreResult<Option<Credentials>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::CREDENTIALS_BY_EMAIL).await?;
        match c.query_opt(&st, &[&email]).await? {
            None => Ok(None),
            Some(r) => Ok(Some(Credentials { user: user_row(&r)?, password_hash: r.try_get(8)? })),
        }
    }

    async fn list_users(&self, search: Option<&str>, limit: i64, offset: i64) -> StoreResult<Page<User>> {
        let pattern = like_pattern(search);
        let c = self.client().await?;
        let st = c.prepare_cached(q::LIST_USERS).await?;
        let found = rows(c.query(&st, &[&pattern, &limit, &offset]).await?, user_row)?;
        let st = c.prepare_cached(q::COUNT_USERS).await?;
        let total = c.query_one(&st, &[&pattern]).await?.try_get(0)?;
        Ok(Page { rows: found, total })
    }

    async fn update_user(
        &self,
        user_id: &str,
        patch: ProfilePatch,
        adjustment: Option<Posting>,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<User> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if let Some(Some(email)) = &patch.email {
            let st = tx.prepare_cached(q::EMAIL_EXISTS).await?;
            if tx.query_one(&st, &[email, &user_id]).await?.try_get::<_, bool>(0)? {
                return Err(StoreError::Conflict("email_taken"));
            }
        }
        let st = tx.prepare_cached(q::UPDATE_PROFILE).await?;
        let email_set = patch.email.is_some();
        let email = patch.email.clone().flatten();
        let row = tx
            .query_opt(
                &st,
                &[&user_id, &email_set, &email, &patch.name, &patch.display_name, &patch.is_admin],
            )
            .await
            .map_err(
                |e| if is_unique_violation(&e) { StoreError::Conflict("email_taken") } else { e.into() },
            )?
            .ok_or(StoreError::NotFound)?;
        let mut user = user_row(&row)?;
        if let Some(p) = &adjustment {
            user.points = post_in(&tx, p, now).await?.balance_after;
        }
        insert_audit(&tx, &audit, now).await?;
        tx.commit().await?;
        Ok(user)
    }
}

#[async_trait]
impl SessionStore for PgStore {
    async fn create_session(
        &self,
        token_hash: &str,
        user_id: &str,
        now: Millis,
        expires_at: Millis,
    ) -> StoreResult<()> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::INSERT_SESSION).await?;
        c.execute(&st, &[&token_hash, &user_id, &now, &expires_at]).await?;
        Ok(())
    }

    async fn session_user(&self, token_hash: &str, now: Millis) -> StoreResult<Option<User>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::SESSION_USER).await?;
        c.query_opt(&st, &[&token_hash, &now]).await?.as_ref().map(user_row).transpose()
    }

    async fn revoke_session(&self, token_hash: &str) -> StoreResult<bool> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::DELETE_SESSION).await?;
        Ok(c.execute(&st, &[&token_hash]).await? > 0)
    }

    async fn record_login_failure(&self, email: &str, now: Millis) -> StoreResult<()> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::INSERT_LOGIN_FAILURE).await?;
        c.execute(&st, &[&email, &now]).await?;
        Ok(())
    }

    async fn login_failures(&self, email: &str, since: Millis) -> StoreResult<i64> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::COUNT_LOGIN_FAILURES).await?;
        Ok(c.query_one(&st, &[&email, &since]).await?.try_get(0)?)
    }

    async fn clear_login_failures(&self, email: &str) -> StoreResult<()> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::DELETE_LOGIN_FAILURES).await?;
        c.execute(&st, &[&email]).await?;
        Ok(())
    }
}

#[async_trait]
impl LedgerStore for PgStore {
    async fn balance(&self, user_id: &str) -> StoreResult<Option<Points>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::BALANCE).await?;
        match c.query_opt(&st, &[&user_id]).await? {
            None => Ok(None),
            Some(r) => Ok(Some(Points(r.try_get(0)?))),
        }
    }

    async fn post(
        &self,
        posting: Posting,
        key: Option<IdempotencyKey>,
        now: Millis,
    ) -> StoreResult<Idempotent<LedgerEntry>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if let Some(key) = &key {
            if let Some(stored) = claim_key(&tx, key, now).await? {
                let entry = serde_json::from_str(&stored)
                    .map_err(|e| StoreError::Backend(format!("stored response: {e}")))?;
                return Ok(Idempotent::Replay(entry));
            }
        }
        let entry = post_in(&tx, &posting, now).await?;
        if let Some(key) = &key {
            let body =
                serde_json::to_string(&entry).map_err(|e| StoreError::Backend(format!("serialize: {e}")))?;
            save_key(&tx, key, &body).await?;
        }
        tx.commit().await?;
        Ok(Idempotent::Fresh(entry))
    }

    async fn ledger(&self, f: LedgerFilter) -> StoreResult<Page<LedgerEntry>> {
        let c = self.client().await?;
        let kind = f.kind.map(LedgerKind::as_str);
        let st = c.prepare_cached(q::LEDGER_PAGE).await?;
        let found = rows(c.query(&st, &[&f.user_id, &kind, &f.limit, &f.offset]).await?, ledger_row)?;
        let st = c.prepare_cached(q::LEDGER_COUNT).await?;
        let total = c.query_one(&st, &[&f.user_id, &kind]).await?.try_get(0)?;
        Ok(Page { rows: found, total })
    }

    async fn ledger_mismatches(&self) -> StoreResult<Vec<(String, Points, Points)>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::LEDGER_MISMATCHES).await?;
        c.query(&st, &[])
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, Points(r.try_get(1)?), Points(r.try_get(2)?))))
            .collect()
    }
}

#[async_trait]
impl AuditStore for PgStore {
    async fn record_audit(&self, entry: NewAudit, now: Millis) -> StoreResult<AuditEntry> {
        let c = self.client().await?;
        let id = insert_audit(&c, &entry, now).await?;
        Ok(AuditEntry {
            id,
            actor: entry.actor,
            action: entry.action,
            target: entry.target,
            detail: entry.detail,
            created_at: now,
        })
    }

    async fn audit_log(&self, limit: i64, offset: i64) -> StoreResult<Page<AuditEntry>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::AUDIT_PAGE).await?;
        let found = rows(c.query(&st, &[&limit, &offset]).await?, audit_row)?;
        let st = c.prepare_cached(q::AUDIT_COUNT).await?;
        let total = c.query_one(&st, &[]).await?.try_get(0)?;
        Ok(Page { rows: found, total })
    }
}

#[async_trait]
impl Maintenance for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        let c = self.client().await?;
        c.simple_query(q::PING).await?;
        Ok(())
    }

    async fn migrate(&self, now: Millis) -> StoreResult<MigrationReport> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
        tx.batch_execute(q::CREATE_MIGRATIONS_TABLE).await?;
        let applied = tx
            .query(q::APPLIED_MIGRATIONS, &[])
            .await?
            .iter()
            .map(|r| Ok(Applied { version: r.try_get(0)?, checksum: r.try_get(1)? }))
            .collect::<StoreResult<Vec<_>>>()?;
        let mut report = MigrationReport { applied: Vec::new(), version: 0 };
        for m in migrations::pending(migrations::POSTGRES, &applied)? {
            tx.batch_execute(m.sql).await.map_err(|e| StoreError::Migration(format!("{}: {e}", m.name)))?;
            tx.execute(q::RECORD_MIGRATION, &[&m.version, &m.name, &m.checksum(), &now]).await?;
            report.applied.push(m.name.to_owned());
        }
        report.version = tx.query_one(q::SCHEMA_VERSION, &[]).await?.try_get(0)?;
        tx.commit().await?;
        Ok(report)
    }

    async fn schema_version(&self) -> StoreResult<i64> {
        let c = self.client().await?;
        c.batch_execute(q::CREATE_MIGRATIONS_TABLE).await?;
        Ok(c.query_one(q::SCHEMA_VERSION, &[]).await?.try_get(0)?)
    }

    async fn ops_counts(&self, attention_before: Millis) -> StoreResult<crate::OpsCounts> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::COUNT_JOBS_IN_STATE).await?;
        let due = c.query_one(&st, &[&"due"]).await?.try_get(0)?;
        let submitting = c.query_one(&st, &[&"submitting"]).await?.try_get(0)?;
        let st = c.prepare_cached(q::COUNT_UNKNOWN_ORDERS).await?;
        let unknown = c.query_one(&st, &[]).await?.try_get(0)?;
        let none: Option<String> = None;
        let st = c.prepare_cached(q::COUNT_PURCHASES).await?;
        let attention =
            c.query_one(&st, &[&none, &none, &none, &Some(attention_before)]).await?.try_get(0)?;
        let st = c.prepare_cached(q::LEDGER_TOTALS).await?;
        let ledger = c
            .query(&st, &[])
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<StoreResult<_>>()?;
        Ok(crate::OpsCounts {
            due_jobs: due,
            submitting_jobs: submitting,
            unknown_orders: unknown,
            purchases_needing_attention: attention,
            ledger,
        })
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }
}
