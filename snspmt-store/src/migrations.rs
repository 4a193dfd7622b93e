//! Embedded, per-dialect migrations, recorded with a SHA-256 checksum.
//!
//! `migrations/sqlite/NNNN_name.sql` and `migrations/postgres/NNNN_name.sql` carry the same
//! names (a test checks it); a migration whose text both dialects accept is written once, in
//! `migrations/common/NNNN_name.sql`, and applied by both. An applied migration whose text changed is refused: the fix for a
//! released migration is a new migration.

use sha2::{Digest, Sha256};

use crate::{StoreError, StoreResult};

/// One migration file.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

impl Migration {
    /// SHA-256 of the file text, hex.
    pub fn checksum(&self) -> String {
        hex(&Sha256::digest(self.sql.as_bytes()))
    }
}

macro_rules! migrations {
    ($dialect:literal: $($version:literal => $dir:ident $name:literal),* $(,)?) => {
        &[$(Migration {
            version: $version,
            name: $name,
            sql: migrations!(@file $dialect, $dir, $name),
        }),*]
    };
    (@file $dialect:literal, own, $name:literal) => {
        include_str!(concat!("../migrations/", $dialect, "/", $name, ".sql"))
    };
    (@file $dialect:literal, common, $name:literal) => {
        include_str!(concat!("../migrations/common/", $name, ".sql"))
    };
}

pub const SQLITE: &[Migration] = migrations!("sqlite": 1 => own "0001_foundation", 2 => own "0002_orders", 3 => own "0003_purchases", 4 => own "0004_scheduling", 5 => own "0005_parts", 6 => own "0006_content", 7 => own "0007_referrals", 8 => common "0008_accounts", 9 => common "0009_notice_login_popup", 10 => common "0010_api_keys", 11 => own "0011_refills", 12 => common "0012_user_rates", 13 => common "0013_order_params");
pub const POSTGRES: &[Migration] = migrations!("postgres": 1 => own "0001_foundation", 2 => own "0002_orders", 3 => own "0003_purchases", 4 => own "0004_scheduling", 5 => own "0005_parts", 6 => own "0006_content", 7 => own "0007_referrals", 8 => common "0008_accounts", 9 => common "0009_notice_login_popup", 10 => common "0010_api_keys", 11 => own "0011_refills", 12 => common "0012_user_rates", 13 => common "0013_order_params");

/// An applied migration as recorded in `schema_migrations`.
#[derive(Debug, Clone)]
pub struct Applied {
    pub version: i64,
    pub checksum: String,
}

/// Which of `all` still have to run, after checking the applied ones are unchanged and known.
pub fn pending<'a>(all: &'a [Migration], applied: &[Applied]) -> StoreResult<Vec<&'a Migration>> {
    for a in applied {
        match all.iter().find(|m| m.version == a.version) {
            None => {
                return Err(StoreError::Migration(format!(
                    "the database has migration {} which this build does not know (newer schema)",
                    a.version
                )))
            }
            Some(m) if m.checksum() != a.checksum => {
                return Err(StoreError::Migration(format!(
                    "migration {} was changed after it was applied (checksum mismatch)",
                    m.name
                )))
            }
            Some(_) => {}
        }
    }
    Ok(all.iter().filter(|m| !applied.iter().any(|a| a.version == m.version)).collect())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialects_have_the_same_migrations() {
        let names = |ms: &[Migration]| ms.iter().map(|m| (m.version, m.name)).collect::<Vec<_>>();
        assert_eq!(names(SQLITE), names(POSTGRES));
        let dir = |d: &str| {
            let mut v: Vec<String> =
                std::fs::read_dir(format!("{}/migrations/{d}", env!("CARGO_MANIFEST_DIR")))
                    .map(|rd| {
                        rd.filter_map(|e| e.ok())
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                            .collect()
                    })
                    .unwrap_or_default();
            v.sort();
            v
        };
        assert_eq!(dir("sqlite"), dir("postgres"));
        let mut files = [dir("sqlite"), dir("common")].concat();
        files.sort();
        let listed: Vec<String> = SQLITE.iter().map(|m| format!("{}.sql", m.name)).collect();
        assert_eq!(files, listed, "every migration file is embedded, once");
        for (i, m) in SQLITE.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.name);
            assert!(m.name.starts_with(&format!("{:04}_", m.version)));
        }
    }

    #[test]
    fn changed_or_unknown_migrations_are_refused() {
        let m = SQLITE[0];
        let ok = Applied { version: 1, checksum: m.checksum() };
        assert_eq!(pending(SQLITE, &[ok]).map(|p| p.len()).ok(), Some(SQLITE.len() - 1));
        assert_eq!(pending(SQLITE, &[]).map(|p| p.len()).ok(), Some(SQLITE.len()));
        let changed = Applied { version: 1, checksum: "00".into() };
        assert!(matches!(pending(SQLITE, &[changed]), Err(StoreError::Migration(_))));
        let unknown = Applied { version: 999, checksum: "00".into() };
        assert!(matches!(pending(SQLITE, &[unknown]), Err(StoreError::Migration(_))));
    }
}
