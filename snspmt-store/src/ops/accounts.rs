//! Accounts, sessions, the ledger, the audit log and maintenance, once for both backends.

use crate::Conflict;
use async_trait::async_trait;
use snspmt_core::{LedgerKind, Points};

use super::{insert_audit, one, page, post_in, remember, replay, BALANCE};
use crate::migrations::{self, Applied};
use crate::model::like_pattern;
use crate::sql::{Conn, Dialect, Row};
use crate::{
    AuditEntry, AuditStore, Credentials, EmailToken, IdempotencyKey, Idempotent, LedgerEntry, LedgerFilter,
    LedgerStore, Maintenance, MigrationReport, Millis, NewAudit, NewUser, Page, Posting, ProfilePatch,
    SessionStore, StoreError, StoreResult, User, UserStore,
};

pub(crate) const USER_ID_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM users WHERE user_id = $1)";
const EMAIL_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM users WHERE email = $1 AND user_id <> $2)";
pub(crate) const INSERT_USER: &str = concat!(
    "INSERT INTO users (user_id, email, name, display_name, password_hash, created_at, email_verified) ",
    "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
    user_cols!()
);
const USER_BY_ID: &str = concat!("SELECT ", user_cols!(), " FROM users WHERE user_id = $1");
const CREDENTIALS_BY_EMAIL: &str =
    concat!("SELECT ", user_cols!(), ", password_hash FROM users WHERE email = $1");
const USER_PAGE: (&str, &str) = paged!(
    user_cols,
    "FROM users WHERE $1::text IS NULL OR user_id ILIKE $1 ESCAPE '\\' OR email ILIKE $1 ESCAPE '\\' \
    OR name ILIKE $1 ESCAPE '\\' OR display_name ILIKE $1 ESCAPE '\\'",
    "ORDER BY created_at DESC, user_id LIMIT $2 OFFSET $3"
);
const UPDATE_PROFILE: &str = concat!(
    "UPDATE users SET email = CASE WHEN $2 THEN $3 ELSE email END, name = COALESCE($4, name), ",
    "email_verified = CASE WHEN $2 AND email IS DISTINCT FROM $3 THEN FALSE ELSE email_verified END, ",
    "display_name = COALESCE($5, display_name), is_admin = COALESCE($6, is_admin) WHERE user_id = $1 RETURNING ",
    user_cols!()
);

const INSERT_SESSION: &str =
    "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)";
const SESSION_USER: &str = "SELECT u.user_id, u.email, u.name, u.display_name, u.is_admin, u.points, \
    u.password_hash IS NOT NULL, u.created_at, u.email_verified, \
    (SELECT code FROM referral_codes rc WHERE rc.user_id = u.user_id) FROM sessions s JOIN users u ON u.user_id = s.user_id \
    WHERE s.token_hash = $1 AND s.expires_at > $2";
const DELETE_SESSION: &str = "DELETE FROM sessions WHERE token_hash = $1";
const INSERT_LOGIN_FAILURE: &str = "INSERT INTO login_failures (email, at) VALUES ($1, $2) RETURNING id";
const DELETE_LOGIN_FAILURE: &str = "DELETE FROM login_failures WHERE id = $1";
const REPLACE_EMAIL_TOKENS: &str = "DELETE FROM email_tokens WHERE user_id = $1 OR expires_at <= $2";
const INSERT_EMAIL_TOKEN: &str =
    "INSERT INTO email_tokens (token_hash, user_id, email, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)";
const TAKE_EMAIL_TOKEN: &str =
    "DELETE FROM email_tokens WHERE token_hash = $1 RETURNING user_id, email, expires_at";
const MARK_EMAIL_VERIFIED: &str = concat!(
    "UPDATE users SET email_verified = TRUE WHERE user_id = $1 AND email = $2 RETURNING ",
    user_cols!()
);
const COUNT_LOGIN_FAILURES: &str = "SELECT COUNT(*) FROM login_failures WHERE email = $1 AND at >= $2";
const DELETE_LOGIN_FAILURES: &str = "DELETE FROM login_failures WHERE email = $1";

const LEDGER_PAGE: &str =
    "SELECT id, user_id, kind, amount, balance_after, reference, description, created_at \
    FROM points_ledger WHERE ($1::text IS NULL OR user_id = $1) AND ($2::text IS NULL OR kind = $2) \
    ORDER BY id DESC LIMIT $3 OFFSET $4";
const LEDGER_COUNT: &str =
    "SELECT COUNT(*) FROM points_ledger WHERE ($1::text IS NULL OR user_id = $1) AND ($2::text IS NULL OR kind = $2)";
const LEDGER_MISMATCHES: &str =
    "SELECT u.user_id, u.points, COALESCE(SUM(l.amount), 0)::bigint FROM users u \
    LEFT JOIN points_ledger l ON l.user_id = u.user_id GROUP BY u.user_id, u.points \
    HAVING u.points <> COALESCE(SUM(l.amount), 0)::bigint";
const AUDIT_PAGE: &str =
    "SELECT id, actor, action, target, detail, created_at FROM admin_audit ORDER BY id DESC LIMIT $1 OFFSET $2";
const AUDIT_COUNT: &str = "SELECT COUNT(*) FROM admin_audit";

const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY NOT NULL, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)";
const APPLIED_MIGRATIONS: &str = "SELECT version, checksum FROM schema_migrations ORDER BY version";
const RECORD_MIGRATION: &str =
    "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)";
const SCHEMA_VERSION: &str = "SELECT COALESCE(MAX(version), 0)::bigint FROM schema_migrations";
/// Serialises concurrent `migrate` calls of several PostgreSQL instances.
const MIGRATION_LOCK: &str = "SELECT pg_advisory_xact_lock(7597404237850740340)";
const COUNT_JOBS_IN_STATE: &str = "SELECT COUNT(*) FROM submission_jobs WHERE state = $1";
const COUNT_UNKNOWN_ORDERS: &str = "SELECT COUNT(*) FROM orders WHERE status = 'unknown'";
const COUNT_PURCHASES_NEEDING_ATTENTION: &str = "SELECT COUNT(*) FROM point_purchases WHERE \
    status IN ('amount_mismatch', 'approval_unknown') OR (status = 'approving' AND approving_at < $1)";
const LEDGER_TOTALS: &str =
    "SELECT kind, COALESCE(SUM(amount), 0)::bigint, COUNT(*) FROM points_ledger GROUP BY kind ORDER BY kind";

row_mapper!(pub(crate) user_row -> User {
    user_id, email, name, display_name, is_admin, points: Points, has_password, created_at, email_verified,
    referral_code,
});

row_mapper!(ledger_row -> LedgerEntry {
    id, user_id, kind: parse, amount: Points, balance_after: Points, reference, description, created_at,
});

row_mapper!(audit_row -> AuditEntry {
    id, actor, action, target, detail, created_at,
});

pub(crate) async fn user_in<C: Conn>(c: &mut C, user_id: &str) -> StoreResult<Option<User>> {
    one(c, USER_BY_ID, &[&user_id], user_row).await
}

async fn create_user<C: Conn>(c: &mut C, u: &NewUser, now: Millis) -> StoreResult<User> {
    if c.scalar::<bool>(USER_ID_EXISTS, &[&u.user_id]).await? {
        return Err(StoreError::Conflict(Conflict::UserIdTaken));
    }
    if let Some(email) = &u.email {
        if c.scalar::<bool>(EMAIL_EXISTS, &[email, &u.user_id]).await? {
            return Err(StoreError::Conflict(Conflict::EmailTaken));
        }
    }
    let row = c
        .query_one(
            INSERT_USER,
            &[&u.user_id, &u.email, &u.name, &u.display_name, &u.password_hash, &now, &false],
        )
        .await
        .map_err(|e| match e {
            // A concurrent registration took the id or the e-mail between the checks and here.
            StoreError::UniqueViolation(m) if m.contains("email") => {
                StoreError::Conflict(Conflict::EmailTaken)
            }
            StoreError::UniqueViolation(_) => StoreError::Conflict(Conflict::UserIdTaken),
            e => e,
        })?;
    user_row(&row)
}

async fn update_user<C: Conn>(
    c: &mut C,
    id: &str,
    patch: &ProfilePatch,
    adjustment: Option<&Posting>,
    audit: &NewAudit,
    now: Millis,
) -> StoreResult<User> {
    if let Some(Some(email)) = &patch.email {
        if c.scalar::<bool>(EMAIL_EXISTS, &[email, &id]).await? {
            return Err(StoreError::Conflict(Conflict::EmailTaken));
        }
    }
    let email = patch.email.clone().flatten();
    let row = c
        .query_opt(
            UPDATE_PROFILE,
            &[&id, &patch.email.is_some(), &email, &patch.name, &patch.display_name, &patch.is_admin],
        )
        .await?
        .ok_or(StoreError::NotFound)?;
    let mut user = user_row(&row)?;
    if let Some(p) = adjustment {
        user.points = post_in(c, p, now).await?.balance_after;
    }
    insert_audit(c, audit, now).await?;
    Ok(user)
}

async fn migrate<C: Conn>(c: &mut C, now: Millis) -> StoreResult<MigrationReport> {
    let set = match c.dialect() {
        Dialect::Postgres => {
            c.execute(MIGRATION_LOCK, &[]).await?;
            migrations::POSTGRES
        }
        Dialect::Sqlite => migrations::SQLITE,
    };
    c.batch(CREATE_MIGRATIONS_TABLE).await?;
    let applied = c
        .query(APPLIED_MIGRATIONS, &[])
        .await?
        .iter()
        .map(|r| Ok(Applied { version: r.get(0)?, checksum: r.get(1)? }))
        .collect::<StoreResult<Vec<_>>>()?;
    let mut report = MigrationReport { applied: Vec::new(), version: 0 };
    for m in migrations::pending(set, &applied)? {
        c.batch(m.sql).await.map_err(|e| StoreError::Migration(format!("{}: {e}", m.name)))?;
        c.execute(RECORD_MIGRATION, &[&m.version, &m.name, &m.checksum(), &now]).await?;
        report.applied.push(m.name.to_owned());
    }
    report.version = c.scalar(SCHEMA_VERSION, &[]).await?;
    Ok(report)
}

macro_rules! impl_accounts {
    ($store:ty) => {
        #[async_trait]
        impl UserStore for $store {
            async fn create_user(&self, u: NewUser, now: Millis) -> StoreResult<User> {
                self.tx(async move |c| create_user(c, &u, now).await).await
            }

            async fn user(&self, user_id: &str) -> StoreResult<Option<User>> {
                let id = user_id.to_owned();
                self.rd(async move |c| user_in(c, &id).await).await
            }

            async fn credentials(&self, email: &str) -> StoreResult<Option<Credentials>> {
                let email = email.to_owned();
                self.rd(async move |c| {
                    let row = c.query_opt(CREDENTIALS_BY_EMAIL, &[&email]).await?;
                    row.map(|r| Ok(Credentials { user: user_row(&r)?, password_hash: r.get(10)? }))
                        .transpose()
                })
                .await
            }

            async fn list_users(
                &self,
                search: Option<&str>,
                limit: i64,
                offset: i64,
            ) -> StoreResult<Page<User>> {
                let pattern = like_pattern(search);
                self.rd(async move |c| page(c, USER_PAGE, &[&pattern], limit, offset, user_row).await).await
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
                self.tx(async move |c| update_user(c, &id, &patch, adjustment.as_ref(), &audit, now).await)
                    .await
            }
        }

        #[async_trait]
        impl SessionStore for $store {
            async fn create_session(
                &self,
                token_hash: &str,
                user_id: &str,
                now: Millis,
                expires_at: Millis,
            ) -> StoreResult<()> {
                let (h, u) = (token_hash.to_owned(), user_id.to_owned());
                self.tx(async move |c| {
                    c.execute(INSERT_SESSION, &[&h, &u, &now, &expires_at]).await.map(drop)
                })
                .await
            }

            async fn session_user(&self, token_hash: &str, now: Millis) -> StoreResult<Option<User>> {
                let h = token_hash.to_owned();
                self.rd(async move |c| one(c, SESSION_USER, &[&h, &now], user_row).await).await
            }

            async fn revoke_session(&self, token_hash: &str) -> StoreResult<bool> {
                let h = token_hash.to_owned();
                self.tx(async move |c| Ok(c.execute(DELETE_SESSION, &[&h]).await? > 0)).await
            }

            async fn record_login_failure(&self, email: &str, now: Millis) -> StoreResult<i64> {
                let e = email.to_owned();
                self.tx(async move |c| c.scalar(INSERT_LOGIN_FAILURE, &[&e, &now]).await).await
            }

            async fn forget_login_failure(&self, id: i64) -> StoreResult<()> {
                self.tx(async move |c| c.execute(DELETE_LOGIN_FAILURE, &[&id]).await.map(drop)).await
            }

            async fn create_email_token(&self, t: EmailToken) -> StoreResult<()> {
                self.tx(async move |c| {
                    c.execute(REPLACE_EMAIL_TOKENS, &[&t.user_id, &t.created_at]).await?;
                    let args: [&dyn crate::sql::Param; 5] =
                        [&t.token_hash, &t.user_id, &t.email, &t.created_at, &t.expires_at];
                    c.execute(INSERT_EMAIL_TOKEN, &args).await.map(drop)
                })
                .await
            }

            async fn verify_email(&self, token_hash: &str, now: Millis) -> StoreResult<Option<User>> {
                let h = token_hash.to_owned();
                self.tx(async move |c| {
                    let Some(t) = c.query_opt(TAKE_EMAIL_TOKEN, &[&h]).await? else { return Ok(None) };
                    let (user_id, email, expires_at): (String, String, i64) =
                        (t.get(0)?, t.get(1)?, t.get(2)?);
                    if expires_at <= now {
                        return Ok(None);
                    }
                    one(c, MARK_EMAIL_VERIFIED, &[&user_id, &email], user_row).await
                })
                .await
            }

            async fn login_failures(&self, email: &str, since: Millis) -> StoreResult<i64> {
                let e = email.to_owned();
                self.rd(async move |c| c.scalar(COUNT_LOGIN_FAILURES, &[&e, &since]).await).await
            }

            async fn clear_login_failures(&self, email: &str) -> StoreResult<()> {
                let e = email.to_owned();
                self.tx(async move |c| c.execute(DELETE_LOGIN_FAILURES, &[&e]).await.map(drop)).await
            }
        }

        #[async_trait]
        impl LedgerStore for $store {
            async fn balance(&self, user_id: &str) -> StoreResult<Option<Points>> {
                let id = user_id.to_owned();
                self.rd(async move |c| {
                    c.query_opt(BALANCE, &[&id]).await?.map(|r| r.get(0).map(Points)).transpose()
                })
                .await
            }

            async fn post(
                &self,
                posting: Posting,
                key: Option<IdempotencyKey>,
                now: Millis,
            ) -> StoreResult<Idempotent<LedgerEntry>> {
                self.tx(async move |c| {
                    if let Some(entry) = replay(c, key.as_ref(), now).await? {
                        return Ok(Idempotent::Replay(entry));
                    }
                    let entry = post_in(c, &posting, now).await?;
                    remember(c, key.as_ref(), entry).await
                })
                .await
            }

            async fn ledger(&self, f: LedgerFilter) -> StoreResult<Page<LedgerEntry>> {
                self.rd(async move |c| {
                    let kind = f.kind.map(LedgerKind::as_str);
                    page(c, (LEDGER_PAGE, LEDGER_COUNT), &[&f.user_id, &kind], f.limit, f.offset, ledger_row)
                        .await
                })
                .await
            }

            async fn ledger_mismatches(&self) -> StoreResult<Vec<(String, Points, Points)>> {
                self.rd(async move |c| {
                    c.query(LEDGER_MISMATCHES, &[])
                        .await?
                        .iter()
                        .map(|r| Ok((r.get(0)?, Points(r.get(1)?), Points(r.get(2)?))))
                        .collect()
                })
                .await
            }
        }

        #[async_trait]
        impl AuditStore for $store {
            async fn record_audit(&self, entry: NewAudit, now: Millis) -> StoreResult<AuditEntry> {
                self.tx(async move |c| {
                    let id = insert_audit(c, &entry, now).await?;
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
                self.rd(async move |c| {
                    page(c, (AUDIT_PAGE, AUDIT_COUNT), &[], limit, offset, audit_row).await
                })
                .await
            }
        }

        #[async_trait]
        impl Maintenance for $store {
            async fn ping(&self) -> StoreResult<()> {
                self.rd(async move |c| c.scalar::<i32>("SELECT 1", &[]).await.map(drop)).await
            }

            async fn migrate(&self, now: Millis) -> StoreResult<MigrationReport> {
                self.tx(async move |c| migrate(c, now).await).await
            }

            async fn schema_version(&self) -> StoreResult<i64> {
                self.tx(async move |c| {
                    c.batch(CREATE_MIGRATIONS_TABLE).await?;
                    c.scalar(SCHEMA_VERSION, &[]).await
                })
                .await
            }

            async fn ops_counts(&self, attention_before: Millis) -> StoreResult<crate::OpsCounts> {
                self.rd(async move |c| {
                    Ok(crate::OpsCounts {
                        due_jobs: c.scalar(COUNT_JOBS_IN_STATE, &[&"due"]).await?,
                        submitting_jobs: c.scalar(COUNT_JOBS_IN_STATE, &[&"submitting"]).await?,
                        unknown_orders: c.scalar(COUNT_UNKNOWN_ORDERS, &[]).await?,
                        purchases_needing_attention: c
                            .scalar(COUNT_PURCHASES_NEEDING_ATTENTION, &[&attention_before])
                            .await?,
                        ledger: c
                            .query(LEDGER_TOTALS, &[])
                            .await?
                            .iter()
                            .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                            .collect::<StoreResult<_>>()?,
                    })
                })
                .await
            }

            fn backend(&self) -> &'static str {
                self.dialect_name()
            }
        }
    };
}

super::both_backends!(impl_accounts);
