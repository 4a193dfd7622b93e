//! Embedded migrations, recorded with a SHA-256 checksum, each written once for both dialects.
//!
//! `migrations/common/NNNN_name.sql` is text both dialects run as it is.
//! `migrations/typed/NNNN_name.sql` is written with PostgreSQL's column types; SQLite runs it with
//! its own ([`sqlite_types`]), and where the dialects differ more, the file holds both versions
//! of those lines, each between `--@postgres` or `--@sqlite` and `--@end` ([`for_dialect`]).
//! An applied migration whose text changed is refused: the fix for a released migration is a
//! new migration (and a test pins the released ones' checksums).

use std::borrow::Cow;
use std::sync::LazyLock;

use sha2::{Digest, Sha256};

use crate::{Dialect, StoreError, StoreResult};

/// One migration, as one dialect runs it.
#[derive(Debug, Clone)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: Cow<'static, str>,
}

impl Migration {
    /// SHA-256 of the text the dialect runs, hex.
    pub fn checksum(&self) -> String {
        snspmt_core::lower_hex(&Sha256::digest(self.sql.as_bytes()))
    }
}

macro_rules! migrations {
    ($($version:literal => $dir:ident $name:literal),* $(,)?) => {
        /// Each migration's version, name, text, and whether it is a `typed` one.
        const FILES: &[(i64, &str, &str, bool)] = &[$((
            $version,
            $name,
            include_str!(concat!("../migrations/", stringify!($dir), "/", $name, ".sql")),
            migrations!(@typed $dir),
        )),*];
    };
    (@typed typed) => { true };
    (@typed common) => { false };
}

migrations! {
    1 => typed "0001_foundation",
    2 => typed "0002_orders",
    3 => typed "0003_purchases",
    4 => typed "0004_scheduling",
    5 => typed "0005_parts",
    6 => typed "0006_content",
    7 => typed "0007_referrals",
    8 => common "0008_accounts",
    9 => common "0009_notice_login_popup",
    10 => common "0010_api_keys",
    11 => typed "0011_refills",
    12 => common "0012_user_rates",
    13 => common "0013_order_params",
    14 => typed "0014_sync_index_nulls_first",
}

pub static POSTGRES: LazyLock<Vec<Migration>> = LazyLock::new(|| all(Dialect::Postgres));
pub static SQLITE: LazyLock<Vec<Migration>> = LazyLock::new(|| all(Dialect::Sqlite));

fn all(dialect: Dialect) -> Vec<Migration> {
    let text = |sql: &'static str, typed: bool| match (typed, dialect) {
        (false, _) => Cow::Borrowed(sql),
        (true, Dialect::Postgres) => for_dialect(sql, dialect),
        (true, Dialect::Sqlite) => Cow::Owned(sqlite_types(&for_dialect(sql, dialect))),
    };
    FILES
        .iter()
        .map(|&(version, name, sql, typed)| Migration { version, name, sql: text(sql, typed) })
        .collect()
}

/// The text of a `typed` migration for `dialect`: the lines of the other dialect's blocks, and
/// the `--@postgres`, `--@sqlite` and `--@end` lines themselves, left out.
pub fn for_dialect(sql: &'static str, dialect: Dialect) -> Cow<'static, str> {
    if !sql.contains("\n--@") {
        return Cow::Borrowed(sql);
    }
    let mut only = None;
    let mut out = String::with_capacity(sql.len());
    for line in sql.split_inclusive('\n') {
        match line.trim_end() {
            "--@postgres" => only = Some(Dialect::Postgres),
            "--@sqlite" => only = Some(Dialect::Sqlite),
            "--@end" => only = None,
            _ if only.is_none_or(|d| d == dialect) => out.push_str(line),
            _ => {}
        }
    }
    Cow::Owned(out)
}

/// SQLite's types in a `typed` migration: `BIGSERIAL PRIMARY KEY` becomes
/// `INTEGER PRIMARY KEY AUTOINCREMENT` and `BIGINT` becomes `INTEGER` (SQLite's 64-bit integer).
pub fn sqlite_types(sql: &str) -> String {
    sql.replace("BIGSERIAL PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT").replace("BIGINT", "INTEGER")
}

/// An applied migration as recorded in `schema_migrations`.
#[derive(Debug, Clone)]
pub struct Applied {
    pub version: i64,
    pub checksum: String,
}

/// Which of `all` still have to run, after checking the applied ones are unchanged and known.
pub fn pending<'a>(all: &'a [Migration], applied: &[Applied]) -> StoreResult<Vec<&'a Migration>> {
    for a in applied {
        let Some(m) = all.iter().find(|m| m.version == a.version) else {
            let why = "which this build does not know (newer schema)";
            return Err(StoreError::Migration(format!("the database has migration {} {why}", a.version)));
        };
        if m.checksum() != a.checksum {
            let why = "was changed after it was applied (checksum mismatch)";
            return Err(StoreError::Migration(format!("migration {} {why}", m.name)));
        }
    }
    Ok(all.iter().filter(|m| !applied.iter().any(|a| a.version == m.version)).collect())
}
