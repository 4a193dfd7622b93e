//! Accounts, sessions, the ledger, the audit log and maintenance, once for both backends.

use async_trait::async_trait;
use snspmt_core::{LedgerKind, Points};

use super::{
    deserialize, insert_audit, note_balance, one, page, post_in, refusal, remember, replay, rows,
    stored_answer, BALANCE,
};
use crate::migrations::{self, Applied};
use crate::model::like_pattern;
use crate::sql::{Conn, Dialect, Param, Row};
use crate::{
    AuditEntry, Change, Conflict, Credentials, EmailToken, IdempotencyKey, Idempotent, LedgerEntry,
    LedgerFilter, Maintenance, MigrationReport, Millis, NewAudit, NewUser, Page, Posting, ProfilePatch,
    SessionSnapshot, StoreError, StoreResult, User,
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
const SESSION_SNAPSHOT: &str = "SELECT u.user_id, u.email, u.name, u.display_name, u.is_admin, u.points, \
    u.password_hash IS NOT NULL, u.created_at, u.email_verified, \
    (SELECT code FROM referral_codes rc WHERE rc.user_id = u.user_id), s.expires_at, \
    COALESCE((SELECT MAX(l.id) FROM points_ledger l WHERE l.user_id = u.user_id), 0)::bigint \
    FROM sessions s JOIN users u ON u.user_id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2";
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

/// PostgreSQL, a posting under an idempotency key in one statement (autocommit, one round
/// trip): the balance moves unless the key is known, the ledger row is appended, and the key is
/// stored with its answer (the ledger row as JSON, read back as a [`LedgerEntry`] on replay).
/// No row: the key is known, or the balance is too small; nothing was written. A key stored
/// meanwhile by a concurrent request fails the key's insert (a unique violation), which undoes
/// the whole statement.
const KEYED_POSTING: &str = "WITH moved AS (UPDATE users SET points = points + $2 \
    WHERE user_id = $1 AND points + $2 >= 0 AND NOT EXISTS (SELECT 1 FROM idempotency_keys \
    WHERE user_id = $8::text AND scope = $9::text AND key = $10::text) RETURNING points), \
    entry AS (INSERT INTO points_ledger \
    (user_id, kind, amount, balance_after, reference, description, event_ref, created_at) \
    SELECT $1, $3::text, $2, points, $4::text, $5::text, $6::text, $7::bigint FROM moved \
    RETURNING id, user_id, kind, amount, balance_after, reference, description, created_at), \
    claim AS (INSERT INTO idempotency_keys (user_id, scope, key, request_hash, created_at, response) \
    SELECT $8::text, $9::text, $10::text, $11::text, $7::bigint, json_build_object('id', id, \
    'user_id', user_id, 'kind', kind, 'amount', amount, 'balance_after', balance_after, \
    'reference', reference, 'description', description, 'created_at', created_at)::text FROM entry) \
    SELECT id, balance_after FROM entry";
const KEY_KNOWN: &str =
    "SELECT EXISTS (SELECT 1 FROM idempotency_keys WHERE user_id = $1 AND scope = $2 AND key = $3)";

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

/// A plain posting under a key on PostgreSQL, in one statement ([`KEYED_POSTING`]), run in
/// autocommit.
async fn post_keyed<C: Conn>(
    c: &mut C,
    p: &Posting,
    key: &IdempotencyKey,
    now: Millis,
) -> StoreResult<Idempotent<LedgerEntry>> {
    let args: [&dyn crate::sql::Param; 11] = [
        &p.user_id,
        &p.amount.0,
        &p.kind.as_str(),
        &p.reference,
        &p.description,
        &p.event_ref,
        &now,
        &key.user_id,
        &key.scope,
        &key.key,
        &key.request_hash,
    ];
    let row = match c.query_opt(KEYED_POSTING, &args).await {
        Ok(Some(row)) => row,
        Ok(None) => {
            if c.scalar::<bool>(KEY_KNOWN, &[&key.user_id, &key.scope, &key.key]).await? {
                return replay_stored(c, key).await;
            }
            return Err(refusal(c, &p.user_id).await);
        }
        // A concurrent request with the same key stored it first: nothing of this one stays.
        Err(StoreError::UniqueViolation(_)) => return replay_stored(c, key).await,
        Err(e) => return Err(e),
    };
    let (id, balance_after): (i64, i64) = (row.get(0)?, row.get(1)?);
    note_balance(c, &p.user_id, balance_after, id);
    Ok(Idempotent::Fresh(p.entry(id, balance_after, now)))
}

async fn replay_stored<C: Conn>(c: &mut C, key: &IdempotencyKey) -> StoreResult<Idempotent<LedgerEntry>> {
    Ok(Idempotent::Replay(deserialize(&stored_answer(c, key).await?)?))
}

/// A posting, replayed under its key when that was seen: a plain one under a key on PostgreSQL
/// in one statement ([`post_keyed`]), else the key's claim, the posting and its answer.
async fn post_any<C: Conn>(
    c: &mut C,
    p: &Posting,
    key: Option<&IdempotencyKey>,
    now: Millis,
) -> StoreResult<Idempotent<LedgerEntry>> {
    if let (Dialect::Postgres, Some(k), None, None) = (c.dialect(), key, &p.audit, &p.event_ref) {
        return post_keyed(c, p, k, now).await;
    }
    if let Some(entry) = replay(c, key, now).await? {
        return Ok(Idempotent::Replay(entry));
    }
    let entry = post_in(c, p, now).await?;
    remember(c, key, entry).await
}

async fn migrate<C: Conn>(c: &mut C, now: Millis) -> StoreResult<MigrationReport> {
    let set = match c.dialect() {
        Dialect::Postgres => {
            c.execute(MIGRATION_LOCK, &[]).await?;
            &migrations::POSTGRES
        }
        Dialect::Sqlite => &migrations::SQLITE,
    };
    c.batch(CREATE_MIGRATIONS_TABLE).await?;
    let applied =
        rows(c, APPLIED_MIGRATIONS, &[], |r| Ok(Applied { version: r.get(0)?, checksum: r.get(1)? })).await?;
    let mut report = MigrationReport { applied: Vec::new(), version: 0 };
    for m in migrations::pending(set, &applied)? {
        c.batch(&m.sql).await.map_err(|e| StoreError::Migration(format!("{}: {e}", m.name)))?;
        c.execute(RECORD_MIGRATION, &[&m.version, &m.name, &m.checksum(), &now]).await?;
        report.applied.push(m.name.to_owned());
    }
    report.version = c.scalar(SCHEMA_VERSION, &[]).await?;
    Ok(report)
}

store_trait! {
    /// Accounts.
    ///
    /// # Example
    ///
    /// ```
    /// use snspmt_store::{Conflict, NewUser, StoreError, UserStore};
    /// use snspmt_store::Millis;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let store = snspmt_store::testing::example_store(&[]).await?;
    /// let new_user = |id: &str, email: &str| NewUser {
    ///     user_id: id.into(),
    ///     email: Some(email.into()),
    ///     name: id.into(),
    ///     display_name: id.into(),
    ///     password_hash: None,
    /// };
    /// let kim = store.create_user(new_user("kim", "kim@example.com"), Millis(1_000)).await?;
    /// assert_eq!((kim.created_at, kim.is_admin), (Millis(1_000), false));
    /// let taken = store.create_user(new_user("lee", "kim@example.com"), Millis(1_001)).await;
    /// assert!(matches!(taken, Err(StoreError::Conflict(Conflict::EmailTaken))));
    /// assert_eq!(store.user("kim").await?, Some(kim));
    /// assert_eq!(store.list_users(Some("kim"), 0, 0).await?.total, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub trait UserStore {
        /// Creates a user with a zero balance. `Conflict("user_id_taken" | "email_taken")`.
        async fn create_user(&self, user: NewUser, now: Millis) -> StoreResult<User> {
            self.tx(async move |c| create_user(c, &user, now).await).await
        }

        async fn user(&self, user_id: &str) -> StoreResult<Option<User>> {
            let id = user_id.to_owned();
            self.rd(async move |c| one(c, USER_BY_ID, &[&id], user_row).await).await
        }

        /// Looks a user up by (lower-case) e-mail, with the password hash for a login.
        async fn credentials(&self, email: &str) -> StoreResult<Option<Credentials>> {
            let email = email.to_owned();
            self.rd(async move |c| {
                let row = c.query_opt(CREDENTIALS_BY_EMAIL, &[&email]).await?;
                row.map(|r| Ok(Credentials { user: user_row(&r)?, password_hash: r.get(10)? })).transpose()
            })
            .await
        }

        /// Users whose id, e-mail or names contain `search`, newest first.
        async fn list_users(&self, search: Option<&str>, limit: i64, offset: i64) -> StoreResult<Page<User>> {
            let pattern = like_pattern(search);
            self.rd(async move |c| page(c, USER_PAGE, &[&pattern], limit, offset, user_row).await).await
        }

        /// An operator's change of a user, in one transaction: the profile fields of `patch`, then
        /// the balance `adjustment` (a ledger posting), then the audit entry. Nothing changes if
        /// any part is refused (`email_taken`, insufficient points, unknown user).
        async fn update_user(
            &self,
            user_id: &str,
            patch: ProfilePatch,
            adjustment: Option<Posting>,
            audit: NewAudit,
            now: Millis,
        ) -> StoreResult<User> {
            let id = user_id.to_owned();
            self.tx(async move |c| {
                if let Some(Some(email)) = &patch.email {
                    if c.scalar::<bool>(EMAIL_EXISTS, &[email, &id]).await? {
                        return Err(StoreError::Conflict(Conflict::EmailTaken));
                    }
                }
                let email = patch.email.clone().flatten();
                let args: [&dyn Param; 6] =
                    [&id, &patch.email.is_some(), &email, &patch.name, &patch.display_name, &patch.is_admin];
                let row = c.query_opt(UPDATE_PROFILE, &args).await?.ok_or(StoreError::NotFound)?;
                let mut user = user_row(&row)?;
                if let Some(p) = &adjustment {
                    user.points = post_in(c, p, now).await?.balance_after;
                }
                insert_audit(c, &audit, now).await?;
                c.note(Change::User(user.user_id.clone()));
                Ok(user)
            })
            .await
        }
    }
}

store_trait! {
    /// Bearer sessions and login throttling.
    ///
    /// # Example
    ///
    /// ```
    /// use snspmt_store::SessionStore;
    /// use snspmt_store::Millis;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let store = snspmt_store::testing::example_store(&["kim"]).await?;
    /// // Kept by the SHA-256 of the bearer token, never the token; expires at 2,000 ms.
    /// store.create_session("sha256-of-the-token", "kim", Millis(1_000), Millis(2_000)).await?;
    /// let user = store.session_user("sha256-of-the-token", Millis(1_500)).await?;
    /// assert_eq!(user.map(|u| u.user_id).as_deref(), Some("kim"));
    /// assert_eq!(store.session_user("sha256-of-the-token", Millis(2_000)).await?, None);
    /// assert!(store.revoke_session("sha256-of-the-token").await?);
    /// # Ok(())
    /// # }
    /// ```
    pub trait SessionStore {
        /// Stores a session by the SHA-256 (hex) of its token.
        async fn create_session(
            &self,
            token_hash: &str,
            user_id: &str,
            now: Millis,
            expires_at: Millis,
        ) -> StoreResult<()> {
            let (h, u) = (token_hash.to_owned(), user_id.to_owned());
            self.tx(async move |c| c.execute(INSERT_SESSION, &[&h, &u, &now, &expires_at]).await.map(drop))
                .await
        }

        /// The user of an unexpired session.
        async fn session_user(&self, token_hash: &str, now: Millis) -> StoreResult<Option<User>> {
            let h = token_hash.to_owned();
            self.rd(async move |c| one(c, SESSION_USER, &[&h, &now], user_row).await).await
        }

        /// The user of an unexpired session with the session's expiry and the user's ledger mark
        /// (the id of their last ledger row), all read in one snapshot: what a session cache keeps.
        async fn session_snapshot(
            &self,
            token_hash: &str,
            now: Millis,
        ) -> StoreResult<Option<SessionSnapshot>> {
            let h = token_hash.to_owned();
            self.rd(async move |c| {
                let Some(r) = c.query_opt(SESSION_SNAPSHOT, &[&h, &now]).await? else { return Ok(None) };
                Ok(Some(SessionSnapshot {
                    user: user_row(&r)?,
                    expires_at: r.get(10)?,
                    ledger_mark: r.get(11)?,
                }))
            })
            .await
        }

        /// Revokes a session; `true` if it existed.
        async fn revoke_session(&self, token_hash: &str) -> StoreResult<bool> {
            let h = token_hash.to_owned();
            self.tx(async move |c| {
                let revoked = c.execute(DELETE_SESSION, &[&h]).await? > 0;
                c.note(Change::Session(h));
                Ok(revoked)
            })
            .await
        }

        /// Records a login attempt as a failure, before it is judged (so that parallel guesses
        /// count each other); answers its id, for [`SessionStore::forget_login_failure`].
        async fn record_login_failure(&self, email: &str, now: Millis) -> StoreResult<i64> {
            let e = email.to_owned();
            self.tx(async move |c| c.scalar(INSERT_LOGIN_FAILURE, &[&e, &now]).await).await
        }

        /// Forgets one recorded attempt (one refused before its password was checked).
        async fn forget_login_failure(&self, id: i64) -> StoreResult<()> {
            self.tx(async move |c| c.execute(DELETE_LOGIN_FAILURE, &[&id]).await.map(drop)).await
        }

        /// Stores an e-mail verification token (by hash), replacing the user's earlier ones.
        async fn create_email_token(&self, token: EmailToken) -> StoreResult<()> {
            self.tx(async move |c| {
                c.execute(REPLACE_EMAIL_TOKENS, &[&token.user_id, &token.created_at]).await?;
                let args: [&dyn crate::sql::Param; 5] =
                    [&token.token_hash, &token.user_id, &token.email, &token.created_at, &token.expires_at];
                c.execute(INSERT_EMAIL_TOKEN, &args).await.map(drop)
            })
            .await
        }

        /// Uses up a verification token: when it is unexpired and the user's e-mail is still the
        /// one it was sent to, marks that e-mail verified and answers the user.
        async fn verify_email(&self, token_hash: &str, now: Millis) -> StoreResult<Option<User>> {
            let h = token_hash.to_owned();
            self.tx(async move |c| {
                let Some(t) = c.query_opt(TAKE_EMAIL_TOKEN, &[&h]).await? else { return Ok(None) };
                let (user_id, email, expires_at): (String, String, Millis) = (t.get(0)?, t.get(1)?, t.get(2)?);
                if expires_at <= now {
                    return Ok(None);
                }
                let user = one(c, MARK_EMAIL_VERIFIED, &[&user_id, &email], user_row).await?;
                c.note(Change::User(user_id));
                Ok(user)
            })
            .await
        }

        /// How many failed logins for `email` since `since`.
        async fn login_failures(&self, email: &str, since: Millis) -> StoreResult<i64> {
            let e = email.to_owned();
            self.rd(async move |c| c.scalar(COUNT_LOGIN_FAILURES, &[&e, &since]).await).await
        }

        /// Forgets the failures of `email` (after a successful login).
        async fn clear_login_failures(&self, email: &str) -> StoreResult<()> {
            let e = email.to_owned();
            self.tx(async move |c| c.execute(DELETE_LOGIN_FAILURES, &[&e]).await.map(drop)).await
        }
    }
}

store_trait! {
    /// Balances and the append-only points ledger.
    ///
    /// # Example
    ///
    /// ```
    /// use snspmt_core::{LedgerKind, Points};
    /// use snspmt_store::{IdempotencyKey, LedgerStore, Posting, StoreError};
    /// use snspmt_store::Millis;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let store = snspmt_store::testing::example_store(&["kim"]).await?;
    /// let posting = |kind: LedgerKind, amount: i64| Posting {
    ///     user_id: "kim".into(),
    ///     kind,
    ///     amount: Points(amount),
    ///     reference: None,
    ///     description: kind.to_string(),
    ///     event_ref: None,
    ///     audit: None,
    /// };
    /// store.post(posting(LedgerKind::Purchase, 1_000), None, Millis(1)).await?;
    /// // A debit below zero changes nothing.
    /// let overdraft = store.post(posting(LedgerKind::Deduct, -1_001), None, Millis(2)).await;
    /// assert!(matches!(overdraft, Err(StoreError::InsufficientPoints { balance: Points(1_000) })));
    /// // A client's retry with the same Idempotency-Key replays the first answer.
    /// let key = || IdempotencyKey::new("kim", "points.deduct", "k-1", br#"{"amount":300}"#);
    /// let first = store.post(posting(LedgerKind::Deduct, -300), Some(key()), Millis(3)).await?;
    /// let again = store.post(posting(LedgerKind::Deduct, -300), Some(key()), Millis(4)).await?;
    /// assert!(again.is_replay());
    /// assert_eq!(again.into_inner(), first.into_inner());
    /// assert_eq!(store.balance("kim").await?, Some(Points(700)));
    /// assert!(store.ledger_mismatches().await?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub trait LedgerStore {
        async fn balance(&self, user_id: &str) -> StoreResult<Option<Points>> {
            let id = user_id.to_owned();
            self.rd(async move |c| {
                c.query_opt(BALANCE, &[&id]).await?.map(|r| r.get(0).map(Points)).transpose()
            })
            .await
        }

        /// Moves a balance and appends its ledger row in one transaction.
        ///
        /// `InsufficientPoints` if the balance would go below zero, `NotFound` for an unknown
        /// user, `AlreadyPosted` for an `event_ref` seen before. With an idempotency key, a repeat
        /// of the same request returns the first entry as `Replay` and moves nothing; the same key
        /// with another body is `IdempotencyKeyReused`.
        async fn post(
            &self,
            posting: Posting,
            key: Option<IdempotencyKey>,
            now: Millis,
        ) -> StoreResult<Idempotent<LedgerEntry>> {
            if posting.audit.is_none() && posting.event_ref.is_none() {
                // One statement on PostgreSQL (with its key, if any): no transaction around
                // it, one round trip. SQLite runs it in a transaction all the same.
                return self.autocommit(async move |c| post_any(c, &posting, key.as_ref(), now).await).await;
            }
            self.tx(async move |c| post_any(c, &posting, key.as_ref(), now).await).await
        }

        async fn ledger(&self, filter: LedgerFilter) -> StoreResult<Page<LedgerEntry>> {
            self.rd(async move |c| {
                let kind = filter.kind.map(LedgerKind::as_str);
                let args: [&dyn Param; 2] = [&filter.user_id, &kind];
                page(c, (LEDGER_PAGE, LEDGER_COUNT), &args, filter.limit, filter.offset, ledger_row).await
            })
            .await
        }

        /// Users whose balance differs from the sum of their ledger rows (always empty unless
        /// something is badly wrong): `(user_id, balance, ledger_sum)`.
        async fn ledger_mismatches(&self) -> StoreResult<Vec<(String, Points, Points)>> {
            self.rd(async move |c| {
                rows(c, LEDGER_MISMATCHES, &[], |r| Ok((r.get(0)?, Points(r.get(1)?), Points(r.get(2)?)))).await
            })
            .await
        }
    }
}

store_trait! {
    /// The admin audit log.
    ///
    /// # Example
    ///
    /// ```
    /// use snspmt_store::{AuditStore, NewAudit};
    /// use snspmt_store::Millis;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let store = snspmt_store::testing::example_store(&[]).await?;
    /// let audit = NewAudit {
    ///     actor: "admin-token".into(),
    ///     action: "users.update".into(),
    ///     target: Some("kim".into()),
    ///     detail: r#"{"is_admin":true}"#.into(),
    /// };
    /// let entry = store.record_audit(audit, Millis(1_000)).await?;
    /// assert_eq!(store.audit_log(0, 0).await?.rows, [entry]);
    /// # Ok(())
    /// # }
    /// ```
    pub trait AuditStore {
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
            self.rd(async move |c| page(c, (AUDIT_PAGE, AUDIT_COUNT), &[], limit, offset, audit_row).await)
                .await
        }
    }
}

macro_rules! impl_accounts {
    ($store:ty) => {
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
                        ledger: rows(c, LEDGER_TOTALS, &[], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                            .await?,
                    })
                })
                .await
            }

            fn backend(&self) -> &'static str {
                self.dialect_name()
            }

            fn watch(&self, watcher: std::sync::Weak<dyn crate::ChangeWatcher>) {
                self.watchers().add(watcher);
            }
        }
    };
}

super::both_backends!(impl_accounts);
