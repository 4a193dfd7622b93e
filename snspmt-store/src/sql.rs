//! The portable statement layer: every store operation is written once against [`Conn`], and a
//! thin adapter per driver runs its statements (`sqlite::LiteConn`, `postgres::PgConn`).
//!
//! Statements are written in PostgreSQL's form with `$N` placeholders. The SQLite adapter
//! rewrites them once (`$N` → `?N`; `FOR UPDATE [SKIP LOCKED]` dropped, since SQLite has one
//! writer and every write transaction is `IMMEDIATE`). Where the dialects really differ (DDL,
//! a few upserts), an operation picks with [`Conn::dialect`].

use std::future::Future;

use crate::{Change, ChangeWatcher, StoreError, StoreResult};

/// The watchers of a store's commits ([`crate::Maintenance::watch`]).
#[derive(Default)]
pub(crate) struct Watchers(std::sync::RwLock<Vec<std::sync::Weak<dyn ChangeWatcher>>>);

impl Watchers {
    pub(crate) fn add(&self, w: std::sync::Weak<dyn ChangeWatcher>) {
        let mut list = self.0.write().unwrap_or_else(|p| p.into_inner());
        list.retain(|w| w.strong_count() > 0);
        list.push(w);
    }

    /// Tells every live watcher what a commit changed (nothing when `changes` is empty).
    pub(crate) fn tell(&self, changes: &[Change]) {
        if changes.is_empty() {
            return;
        }
        let list = self.0.read().unwrap_or_else(|p| p.into_inner());
        for w in list.iter().filter_map(std::sync::Weak::upgrade) {
            w.committed(changes);
        }
    }
}

/// Which SQL dialect a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A statement parameter every compiled-in driver can bind: `i64`, `bool`, `&str`, `String`,
/// the core's [`Millis`](crate::Millis) and the id newtypes, and their `Option`s.
pub(crate) trait Param: LiteParam + PgParam + Sync {}

impl<T: LiteParam + PgParam + Sync> Param for T {}

/// What the SQLite driver binds (anything, without the `sqlite` feature).
#[cfg(feature = "sqlite")]
pub(crate) trait LiteParam {
    fn lite(&self) -> &dyn rusqlite::ToSql;
}

#[cfg(not(feature = "sqlite"))]
pub(crate) trait LiteParam {}

#[cfg(not(feature = "sqlite"))]
impl<T: ?Sized> LiteParam for T {}

/// What the PostgreSQL driver binds (anything, without the `postgres` feature).
#[cfg(feature = "postgres")]
pub(crate) trait PgParam {
    fn pg(&self) -> &(dyn tokio_postgres::types::ToSql + Sync);
}

#[cfg(not(feature = "postgres"))]
pub(crate) trait PgParam {}

#[cfg(not(feature = "postgres"))]
impl<T: ?Sized> PgParam for T {}

/// One result row, owned.
pub(crate) enum Row {
    #[cfg(feature = "sqlite")]
    Lite(Vec<rusqlite::types::Value>),
    #[cfg(feature = "postgres")]
    Pg(tokio_postgres::Row),
}

/// A column type every compiled-in driver can read.
pub(crate) trait Col: LiteCol + PgCol {}

impl<T: LiteCol + PgCol> Col for T {}

/// A column type the SQLite driver reads (any, without the `sqlite` feature).
#[cfg(feature = "sqlite")]
pub(crate) trait LiteCol: Sized {
    fn from_lite(v: &rusqlite::types::Value) -> StoreResult<Self>;
}

#[cfg(not(feature = "sqlite"))]
pub(crate) trait LiteCol {}

#[cfg(not(feature = "sqlite"))]
impl<T> LiteCol for T {}

/// A column type the PostgreSQL driver reads (any, without the `postgres` feature).
#[cfg(feature = "postgres")]
pub(crate) trait PgCol: Sized {
    fn from_pg(r: &tokio_postgres::Row, i: usize) -> StoreResult<Self>;
}

#[cfg(not(feature = "postgres"))]
pub(crate) trait PgCol {}

#[cfg(not(feature = "postgres"))]
impl<T> PgCol for T {}

/// The types both drivers bind and read natively: parameters and columns pass straight through.
/// (An explicit list, not a blanket impl over the drivers' traits, so that the core's types,
/// which cannot implement them, fit in too: see `int_newtypes!`.)
macro_rules! native {
    (params: $($p:ty),+; cols: $($c:ty),+) => {
        $(
            #[cfg(feature = "sqlite")]
            impl LiteParam for $p { fn lite(&self) -> &dyn rusqlite::ToSql { self } }
            #[cfg(feature = "postgres")]
            impl PgParam for $p { fn pg(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) { self } }
        )+
        $(
            #[cfg(feature = "sqlite")]
            impl LiteCol for $c {
                fn from_lite(v: &rusqlite::types::Value) -> StoreResult<Self> {
                    rusqlite::types::FromSql::column_result(v.into())
                        .map_err(|e| StoreError::Backend(format!("column: {e}")))
                }
            }
            #[cfg(feature = "postgres")]
            impl PgCol for $c {
                fn from_pg(r: &tokio_postgres::Row, i: usize) -> StoreResult<Self> { Ok(r.try_get(i)?) }
            }
        )+
    };
}

native! {
    params: i64, i32, bool, &str, String, Option<i64>, Option<bool>, Option<&str>, Option<String>;
    cols: i64, i32, bool, String, Option<i64>, Option<bool>, Option<String>
}

/// Newtypes over `i64` (the core's [`Millis`](crate::Millis), the store's ids), bound and read as their `i64`
/// by reference: no conversion on the hot path. `None` binds a `NULL` of type `bigint`.
macro_rules! int_newtypes {
    ($($t:ident),+) => {$(
        #[cfg(feature = "sqlite")]
        impl LiteParam for crate::$t { fn lite(&self) -> &dyn rusqlite::ToSql { &self.0 } }
        #[cfg(feature = "sqlite")]
        impl LiteParam for Option<crate::$t> {
            fn lite(&self) -> &dyn rusqlite::ToSql { self.as_ref().map_or(&None::<i64>, |v| &v.0) }
        }
        #[cfg(feature = "postgres")]
        impl PgParam for crate::$t { fn pg(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) { &self.0 } }
        #[cfg(feature = "postgres")]
        impl PgParam for Option<crate::$t> {
            fn pg(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) { self.as_ref().map_or(&None::<i64>, |v| &v.0) }
        }
        #[cfg(feature = "sqlite")]
        impl LiteCol for crate::$t {
            fn from_lite(v: &rusqlite::types::Value) -> StoreResult<Self> { i64::from_lite(v).map(Self) }
        }
        #[cfg(feature = "sqlite")]
        impl LiteCol for Option<crate::$t> {
            fn from_lite(v: &rusqlite::types::Value) -> StoreResult<Self> { Ok(Option::<i64>::from_lite(v)?.map(crate::$t)) }
        }
        #[cfg(feature = "postgres")]
        impl PgCol for crate::$t {
            fn from_pg(r: &tokio_postgres::Row, i: usize) -> StoreResult<Self> { i64::from_pg(r, i).map(Self) }
        }
        #[cfg(feature = "postgres")]
        impl PgCol for Option<crate::$t> {
            fn from_pg(r: &tokio_postgres::Row, i: usize) -> StoreResult<Self> { Ok(Option::<i64>::from_pg(r, i)?.map(crate::$t)) }
        }
    )+};
}

int_newtypes! {
    Millis, OrderId, PartId, JobId, RefillId, CancelId, PurchaseId, CommissionId, WithdrawalId, PayoutId
}

impl Row {
    /// Column `i`, converted.
    pub(crate) fn get<T: Col>(&self, i: usize) -> StoreResult<T> {
        match self {
            #[cfg(feature = "sqlite")]
            Row::Lite(values) => match values.get(i) {
                Some(v) => T::from_lite(v),
                None => Err(StoreError::Backend(format!("no column {i}"))),
            },
            #[cfg(feature = "postgres")]
            Row::Pg(r) => T::from_pg(r, i),
        }
    }

    /// Column `i`, parsed from its text (stored enums).
    pub(crate) fn parse<T: std::str::FromStr>(&self, i: usize) -> StoreResult<T>
    where
        T::Err: std::fmt::Display,
    {
        let s: String = self.get(i)?;
        s.parse().map_err(|e| StoreError::Backend(format!("column {i}: {e}")))
    }
}

/// A connection (inside a transaction for writes) that runs portable statements.
pub(crate) trait Conn: Send {
    fn dialect(&self) -> Dialect;

    /// Notes a change for the store's watchers, told once the transaction commits.
    fn note(&mut self, change: Change);

    /// Each row mapped by `f` as it arrives: a long result never sits in memory as rows.
    fn query_map<T: Send>(
        &mut self,
        sql: &'static str,
        args: &[&dyn Param],
        f: impl FnMut(Row) -> StoreResult<T> + Send,
    ) -> impl Future<Output = StoreResult<Vec<T>>> + Send;

    fn query(
        &mut self,
        sql: &'static str,
        args: &[&dyn Param],
    ) -> impl Future<Output = StoreResult<Vec<Row>>> + Send {
        self.query_map(sql, args, Ok)
    }

    /// Rows changed.
    fn execute(
        &mut self,
        sql: &'static str,
        args: &[&dyn Param],
    ) -> impl Future<Output = StoreResult<u64>> + Send;

    /// Runs several statements (DDL, migrations) with no parameters.
    fn batch(&mut self, sql: &str) -> impl Future<Output = StoreResult<()>> + Send;

    /// The first row, if any.
    fn query_opt(
        &mut self,
        sql: &'static str,
        args: &[&dyn Param],
    ) -> impl Future<Output = StoreResult<Option<Row>>> + Send {
        let fut = self.query(sql, args);
        async move { Ok(fut.await?.into_iter().next()) }
    }

    /// Exactly one row (`NotFound` when none).
    fn query_one(
        &mut self,
        sql: &'static str,
        args: &[&dyn Param],
    ) -> impl Future<Output = StoreResult<Row>> + Send {
        let fut = self.query(sql, args);
        async move { fut.await?.into_iter().next().ok_or(StoreError::NotFound) }
    }

    /// Column 0 of exactly one row.
    fn scalar<T: Col + Send>(
        &mut self,
        sql: &'static str,
        args: &[&dyn Param],
    ) -> impl Future<Output = StoreResult<T>> + Send {
        let fut = self.query_one(sql, args);
        async move { fut.await?.get(0) }
    }
}

/// Rewrites a PostgreSQL-form statement for SQLite: `$N` → `?N`, `::type` casts dropped
/// (SQLite's values carry their own types), `ILIKE` → `LIKE` (SQLite's `LIKE` ignores ASCII
/// case), and `FOR UPDATE [SKIP LOCKED]` dropped (one writer, `IMMEDIATE` transactions).
#[cfg(feature = "sqlite")]
pub(crate) fn to_sqlite(sql: &str) -> String {
    let sql = drop_row_locks(&sql.replace(" ILIKE ", " LIKE "));
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut in_string = false;
    while let Some(ch) = chars.next() {
        if ch == '\'' {
            in_string = !in_string;
        }
        if in_string {
            out.push(ch);
        } else if ch == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else if ch == ':' && chars.peek() == Some(&':') {
            chars.next();
            while chars.peek().is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_') {
                chars.next();
            }
        } else {
            out.push(ch);
        }
    }
    out
}

/// Drops every `FOR UPDATE [OF table] [SKIP LOCKED]`.
#[cfg(feature = "sqlite")]
fn drop_row_locks(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(i) = rest.find(" FOR UPDATE") {
        out.push_str(&rest[..i]);
        rest = &rest[i + " FOR UPDATE".len()..];
        if let Some(after) = rest.strip_prefix(" OF ") {
            let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
            rest = &after[end..];
        }
        rest = rest.strip_prefix(" SKIP LOCKED").unwrap_or(rest);
    }
    out.push_str(rest);
    out
}

/// For `map_err`: a unique-constraint violation (either driver) becomes `instead`, any other
/// error stays.
pub(crate) fn unique_as(instead: StoreError) -> impl FnOnce(StoreError) -> StoreError {
    move |e| if matches!(e, StoreError::UniqueViolation(_)) { instead } else { e }
}

/// Strips NUL and other control bytes (tab and newline kept) from text that came from an
/// upstream, so that it can be stored on both backends.
pub fn clean_text(s: &str) -> String {
    s.chars().filter(|c| !c.is_control() || *c == '\n' || *c == '\t').collect()
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;

    #[test]
    fn rewrites_placeholders_and_locks() {
        assert_eq!(
            to_sqlite("SELECT a FROM t WHERE b = $1 AND c = '$2' AND d = $12 FOR UPDATE SKIP LOCKED"),
            "SELECT a FROM t WHERE b = ?1 AND c = '$2' AND d = ?12"
        );
        assert_eq!(to_sqlite("SELECT 1 FROM t WHERE x = $1 FOR UPDATE"), "SELECT 1 FROM t WHERE x = ?1");
        assert_eq!(
            to_sqlite("UPDATE p SET a = 1 WHERE id IN (SELECT id FROM p LIMIT $2 FOR UPDATE OF p SKIP LOCKED) RETURNING id"),
            "UPDATE p SET a = 1 WHERE id IN (SELECT id FROM p LIMIT ?2) RETURNING id"
        );
        assert_eq!(
            to_sqlite("SELECT COALESCE(SUM(a), 0)::bigint FROM t WHERE ($1::text IS NULL OR n ILIKE $1) AND s = 'a::b'"),
            "SELECT COALESCE(SUM(a), 0) FROM t WHERE (?1 IS NULL OR n LIKE ?1) AND s = 'a::b'"
        );
    }
}
