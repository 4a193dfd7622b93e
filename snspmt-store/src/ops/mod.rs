//! Every store operation, written once against [`Conn`](crate::sql::Conn): it loads rows, asks
//! the core, writes what changed and posts the ledger effects. `sqlite` and `postgres` only
//! supply a connection and a transaction (`tx`, `rd`).

/// A row mapper from the columns in order: `row_mapper!(vis name -> Type { field, field: how })`,
/// `how` one of `Points`, `Won`, `rate`, `parse` (a stored enum), `json` (JSON text).
macro_rules! row_mapper {
    ($vis:vis $name:ident -> $ty:ident { $($field:ident $(: $how:ident)?),* $(,)? }) => {
        $vis fn $name(r: &Row) -> StoreResult<$ty> {
            let mut col = 0..;
            Ok($ty { $($field: row_mapper!(@ r, col.next().unwrap_or_default(), $field $(, $how)?)),* })
        }
    };
    (@ $r:ident, $i:expr, $field:ident) => { $r.get($i)? };
    (@ $r:ident, $i:expr, $field:ident, Points) => { Points($r.get($i)?) };
    (@ $r:ident, $i:expr, $field:ident, Won) => { snspmt_core::Won($r.get($i)?) };
    (@ $r:ident, $i:expr, $field:ident, rate) => { rate($r.get($i)?)? };
    (@ $r:ident, $i:expr, $field:ident, parse) => { $r.parse($i)? };
    (@ $r:ident, $i:expr, $field:ident, json) => { $crate::ops::json_column($r, $i, stringify!($field))? };
    (@ $r:ident, $i:expr, $field:ident, json_or_default) => {
        $crate::ops::json_column_or_default($r, $i, stringify!($field))?
    };
}

// The columns of the rows read back in more than one operation.
macro_rules! user_cols {
    () => {
        "user_id, email, name, display_name, is_admin, points, password_hash IS NOT NULL, created_at, email_verified, \
         (SELECT code FROM referral_codes rc WHERE rc.user_id = users.user_id)"
    };
}

macro_rules! order_cols {
    () => {
        "order_id, user_id, service_id, service_name, link, quantity, runs, interval_minutes, comments, price, \
         discount_amount, final_price, commission_amount, status, smm_panel_order_id, start_count, remains, \
         charge, refunded_amount, last_status_check, error, created_at, updated_at, scheduled_at, package_id, \
         split_days, (SELECT COUNT(*) FROM order_parts p WHERE p.order_id = orders.order_id), \
         COALESCE((SELECT steps FROM packages k WHERE k.package_id = orders.package_id), '[]'), params"
    };
}

/// The active referrer of user `$1` (the `f` and `r` rows), for a placement's commission.
macro_rules! referrer_of {
    () => {
        "FROM referrals f JOIN referral_codes r ON r.user_id = f.referrer_user_id \
         WHERE f.referred_user_id = $1 AND r.is_active"
    };
}

/// How many columns `order_cols!` reads (a query may select more after them).
pub(crate) const ORDER_COLUMNS: usize = 29;

macro_rules! part_cols {
    () => {
        "part_id, order_id, part_index, step_index, repeat_index, name, service_id, quantity, share, \
         delay_minutes, state, due_at, smm_order_id, upstream_status, remains, refunded, outcome, settled_at, \
         last_error"
    };
}

/// The statements of one listing for [`page`]: `(list, count)` from one FROM/WHERE clause, so that
/// the count counts what the list pages through (`$order`: its ORDER BY, LIMIT and OFFSET).
macro_rules! paged {
    ($cols:ident, $from:literal, $order:literal) => {
        (concat!("SELECT ", $cols!(), " ", $from, " ", $order), concat!("SELECT COUNT(*) ", $from))
    };
}

/// Declares a store trait and implements it for each compiled-in backend from one list, so
/// that an operation's signature and body are written once. A body runs on the backend's
/// `tx` (a write transaction), `autocommit` or `rd` (a reader), each of which hands it a
/// [`Conn`](crate::sql::Conn).
macro_rules! store_trait {
    (
        $(#[$attr:meta])*
        pub trait $name:ident {
            $(
                $(#[$mattr:meta])*
                async fn $method:ident(&$self:ident $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty $body:block
            )*
        }
    ) => {
        $(#[$attr])*
        #[async_trait::async_trait]
        pub trait $name: Send + Sync {
            $($(#[$mattr])* async fn $method(&$self $(, $arg: $ty)*) -> $ret;)*
        }

        #[cfg(feature = "sqlite")]
        #[async_trait::async_trait]
        impl $name for crate::sqlite::SqliteStore {
            $(async fn $method(&$self $(, $arg: $ty)*) -> $ret $body)*
        }

        #[cfg(feature = "postgres")]
        #[async_trait::async_trait]
        impl $name for crate::postgres::PgStore {
            $(async fn $method(&$self $(, $arg: $ty)*) -> $ret $body)*
        }
    };
}

pub(crate) mod accounts;
pub(crate) mod api_keys;
pub(crate) mod content;
pub(crate) mod lifecycle;
pub(crate) mod orders;
pub(crate) mod purchases;
pub(crate) mod rates;
pub(crate) mod referral;
pub(crate) mod refills;

use snspmt_core::Points;

use crate::sql::{unique_as, Conn, Param, Row};
use crate::{IdempotencyKey, LedgerEntry, Millis, NewAudit, Page, Posting, StoreError, StoreResult};

const INSERT_AUDIT: &str =
    "INSERT INTO admin_audit (actor, action, target, detail, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id";
const CLAIM_IDEMPOTENCY_KEY: &str =
    "INSERT INTO idempotency_keys (user_id, scope, key, request_hash, created_at) \
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING";
const IDEMPOTENCY_KEY: &str =
    "SELECT request_hash, response FROM idempotency_keys WHERE user_id = $1 AND scope = $2 AND key = $3";
const SAVE_IDEMPOTENCY_RESPONSE: &str =
    "UPDATE idempotency_keys SET response = $4 WHERE user_id = $1 AND scope = $2 AND key = $3";
const EVENT_POSTED: &str = "SELECT EXISTS (SELECT 1 FROM points_ledger WHERE event_ref = $1)";
const MOVE_BALANCE: &str =
    "UPDATE users SET points = points + $2 WHERE user_id = $1 AND points + $2 >= 0 RETURNING points";
pub(crate) const BALANCE: &str = "SELECT points FROM users WHERE user_id = $1";
const INSERT_LEDGER_ENTRY: &str = "INSERT INTO points_ledger \
    (user_id, kind, amount, balance_after, reference, description, event_ref, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
/// PostgreSQL: [`MOVE_BALANCE`] and [`INSERT_LEDGER_ENTRY`] in one statement (one round trip);
/// no row when the balance would go below zero (or the user is unknown).
const MOVE_AND_RECORD: &str = "WITH moved AS (UPDATE users SET points = points + $2 \
    WHERE user_id = $1 AND points + $2 >= 0 RETURNING points) \
    INSERT INTO points_ledger (user_id, kind, amount, balance_after, reference, description, event_ref, created_at) \
    SELECT $1, $3::text, $2, points, $4::text, $5::text, $6::text, $7::bigint FROM moved RETURNING id, balance_after";

/// Appends an audit entry in the caller's transaction.
pub(crate) async fn insert_audit<C: Conn>(c: &mut C, a: &NewAudit, now: Millis) -> StoreResult<i64> {
    c.scalar(INSERT_AUDIT, &[&a.actor, &a.action, &a.target, &a.detail, &now]).await
}

/// Audits what an operation wrote, in the caller's transaction, and answers it.
pub(crate) async fn audited<C: Conn, T>(
    c: &mut C,
    audit: &NewAudit,
    now: Millis,
    written: T,
) -> StoreResult<T> {
    insert_audit(c, audit, now).await?;
    Ok(written)
}

/// The answer stored for a key another request claimed first: it, when that request was the
/// same and finished; [`StoreError::IdempotencyKeyReused`] otherwise.
pub(crate) async fn stored_answer<C: Conn>(c: &mut C, key: &IdempotencyKey) -> StoreResult<String> {
    let row = c.query_one(IDEMPOTENCY_KEY, &[&key.user_id, &key.scope, &key.key]).await?;
    match (row.get::<String>(0)?, row.get::<Option<String>>(1)?) {
        (hash, Some(body)) if hash == key.request_hash => Ok(body),
        _ => Err(StoreError::IdempotencyKeyReused),
    }
}

/// The stored answer to replay for `key`: `None` when there is no key, or the key is new and is
/// claimed now in the caller's transaction (the caller runs the operation and saves its answer
/// with [`remember`]). On PostgreSQL a concurrent claim of the same key waits for the first
/// transaction to end. An operation with a key: `if let Some(r) = replay(..)? { return
/// Ok(Replay(r)) }`, run, then [`remember`] its answer.
pub(crate) async fn replay<C: Conn, T: serde::de::DeserializeOwned>(
    c: &mut C,
    key: Option<&IdempotencyKey>,
    now: Millis,
) -> StoreResult<Option<T>> {
    let Some(key) = key else { return Ok(None) };
    let args: [&dyn Param; 5] = [&key.user_id, &key.scope, &key.key, &key.request_hash, &now];
    if c.execute(CLAIM_IDEMPOTENCY_KEY, &args).await? == 1 {
        return Ok(None);
    }
    deserialize(&stored_answer(c, key).await?).map(Some)
}

/// Saves the answer of an operation run under `key`, for [`replay`].
pub(crate) async fn remember<C: Conn, T: serde::Serialize>(
    c: &mut C,
    key: Option<&IdempotencyKey>,
    out: T,
) -> StoreResult<crate::Idempotent<T>> {
    if let Some(key) = key {
        let args: [&dyn Param; 4] = [&key.user_id, &key.scope, &key.key, &serialize(&out)?];
        c.execute(SAVE_IDEMPOTENCY_RESPONSE, &args).await?;
    }
    Ok(crate::Idempotent::Fresh(out))
}

/// Moves a balance and appends its ledger row, in the caller's transaction.
pub(crate) async fn post_in<C: Conn>(c: &mut C, p: &Posting, now: Millis) -> StoreResult<LedgerEntry> {
    if let Some(event) = &p.event_ref {
        if c.scalar::<bool>(EVENT_POSTED, &[event]).await? {
            return Err(StoreError::AlreadyPosted);
        }
    }
    post_new_event(c, p, now).await
}

/// [`post_in`] for a posting whose `event_ref` cannot have been posted yet.
pub(crate) async fn post_new_event<C: Conn>(c: &mut C, p: &Posting, now: Millis) -> StoreResult<LedgerEntry> {
    let (id, balance_after): (i64, i64) = match c.dialect() {
        crate::sql::Dialect::Postgres => {
            let args: [&dyn crate::sql::Param; 7] =
                [&p.user_id, &p.amount.0, &p.kind.as_str(), &p.reference, &p.description, &p.event_ref, &now];
            match c.query_opt(MOVE_AND_RECORD, &args).await.map_err(unique_as(StoreError::AlreadyPosted))? {
                Some(row) => (row.get(0)?, row.get(1)?),
                None => return Err(refusal(c, &p.user_id).await),
            }
        }
        crate::sql::Dialect::Sqlite => {
            let Some(row) = c.query_opt(MOVE_BALANCE, &[&p.user_id, &p.amount.0]).await? else {
                return Err(refusal(c, &p.user_id).await);
            };
            let balance_after: i64 = row.get(0)?;
            let args: [&dyn crate::sql::Param; 8] = [
                &p.user_id,
                &p.kind.as_str(),
                &p.amount.0,
                &balance_after,
                &p.reference,
                &p.description,
                &p.event_ref,
                &now,
            ];
            let id =
                c.scalar(INSERT_LEDGER_ENTRY, &args).await.map_err(unique_as(StoreError::AlreadyPosted))?;
            (id, balance_after)
        }
    };
    note_balance(c, &p.user_id, balance_after, id);
    if let Some(audit) = &p.audit {
        insert_audit(c, audit, now).await?;
    }
    Ok(p.entry(id, balance_after, now))
}

/// Notes a posting's new balance for the store's watchers (the server's session cache writes it
/// through). Every statement that moves `users.points` must be followed by this, in the same
/// transaction: a balance moved without it stays stale in that cache until its TTL.
pub(crate) fn note_balance<C: Conn>(c: &mut C, user_id: &str, balance_after: i64, ledger_id: i64) {
    c.note(crate::Change::Balance { user_id: user_id.to_owned(), points: Points(balance_after), ledger_id });
}

/// Why a balance did not move: the user is unknown, or the balance is too small.
pub(crate) async fn refusal<C: Conn>(c: &mut C, user_id: &str) -> StoreError {
    match c.query_opt(BALANCE, &[&user_id]).await {
        Ok(None) => StoreError::NotFound,
        Ok(Some(r)) => match r.get(0) {
            Ok(points) => StoreError::insufficient(Points(points)),
            Err(e) => e,
        },
        Err(e) => e,
    }
}

pub(crate) fn serialize<T: serde::Serialize>(t: &T) -> StoreResult<String> {
    serde_json::to_string(t).map_err(|e| StoreError::Backend(format!("serialize: {e}")))
}

/// Stored JSON text, decoded (`what` names it in the error).
fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Backend(format!("stored {what}: {e}")))
}

/// A column of JSON text, decoded (`what` names it in the error).
pub(crate) fn json_column<T: serde::de::DeserializeOwned>(r: &Row, i: usize, what: &str) -> StoreResult<T> {
    from_json(&r.get::<String>(i)?, what)
}

/// A nullable JSON column: NULL is `T::default()`.
pub(crate) fn json_column_or_default<T: serde::de::DeserializeOwned + Default>(
    r: &Row,
    i: usize,
    what: &str,
) -> StoreResult<T> {
    r.get::<Option<String>>(i)?.map_or_else(|| Ok(T::default()), |text| from_json(&text, what))
}

/// A value for a nullable JSON column: `None` (NULL) when `empty`.
pub(crate) fn json_or_null<T: serde::Serialize>(value: &T, empty: bool) -> StoreResult<Option<String>> {
    (!empty).then(|| serialize(value)).transpose()
}

pub(crate) fn deserialize<T: serde::de::DeserializeOwned>(s: &str) -> StoreResult<T> {
    from_json(s, "response")
}

/// The row `sql` finds, mapped by `f`.
pub(crate) async fn one<C: Conn, T>(
    c: &mut C,
    sql: &'static str,
    args: &[&dyn Param],
    f: fn(&Row) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    c.query_opt(sql, args).await?.as_ref().map(f).transpose()
}

/// A page of `list` (its parameters: `filter`, then limit and offset) and the `count` of all rows;
/// a `limit` of 0 or less is [`crate::DEFAULT_LIMIT`].
pub(crate) async fn page<C: Conn, T: Send>(
    c: &mut C,
    (list, count): (&'static str, &'static str),
    filter: &[&dyn Param],
    limit: i64,
    offset: i64,
    f: fn(&Row) -> StoreResult<T>,
) -> StoreResult<Page<T>> {
    let limit = if limit > 0 { limit } else { crate::DEFAULT_LIMIT };
    let mut args = filter.to_vec();
    args.extend([&limit as &dyn Param, &offset]);
    Ok(Page { rows: rows(c, list, &args, f).await?, total: c.scalar(count, filter).await? })
}

/// Runs `sql` (`$1` an id, `$2` the time) once for each of `ids`.
pub(crate) async fn touch<C: Conn, I: Param>(
    c: &mut C,
    sql: &'static str,
    ids: &[I],
    now: Millis,
) -> StoreResult<()> {
    for id in ids {
        c.execute(sql, &[id, &now]).await?;
    }
    Ok(())
}

/// `NotFound` when a statement changed no row (else how many it changed).
pub(crate) fn changed(rows: u64) -> StoreResult<u64> {
    (rows > 0).then_some(rows).ok_or(StoreError::NotFound)
}

/// The rows of `sql`, each mapped with `f` as it arrives ([`Conn::query_map`]).
pub(crate) async fn rows<C: Conn, T: Send>(
    c: &mut C,
    sql: &'static str,
    args: &[&dyn Param],
    f: fn(&Row) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    c.query_map(sql, args, |r| f(&r)).await
}

/// Implements store traits for both backends (each one compiled in) from one body: `$body` is
/// written once and runs inside the backend's transaction (`tx`) or on a reader (`rd`).
macro_rules! both_backends {
    ($mac:ident) => {
        #[cfg(feature = "sqlite")]
        $mac!(crate::sqlite::SqliteStore);
        #[cfg(feature = "postgres")]
        $mac!(crate::postgres::PgStore);
    };
}
pub(crate) use both_backends;
