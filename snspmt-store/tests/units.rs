//! Unit checks of the store's public pieces: the embedded migrations and database URLs.

use snspmt_store::migrations::{for_dialect, pending, sqlite_types, Applied, Migration, POSTGRES, SQLITE};
use snspmt_store::{DatabaseUrl, Dialect, StoreError};

#[test]
fn every_file_is_embedded_once_in_order() {
    let names = |ms: &[Migration]| ms.iter().map(|m| (m.version, m.name)).collect::<Vec<_>>();
    assert_eq!(names(&SQLITE), names(&POSTGRES));
    let dir = |d: &str| {
        let mut v: Vec<String> = std::fs::read_dir(format!("{}/migrations/{d}", env!("CARGO_MANIFEST_DIR")))
            .map(|rd| {
                rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let mut files = [dir("common"), dir("typed")].concat();
    files.sort();
    let listed: Vec<String> = SQLITE.iter().map(|m| format!("{}.sql", m.name)).collect();
    assert_eq!(files, listed, "every migration file is embedded, once");
    for (i, m) in SQLITE.iter().enumerate() {
        assert_eq!(m.version, i as i64 + 1, "{}", m.name);
        assert!(m.name.starts_with(&format!("{:04}_", m.version)));
    }
}

/// A released migration never changes what it runs (a deployed database would refuse it).
#[test]
fn released_migrations_keep_their_checksums() {
    // Each version, then the first 16 hex digits of its PostgreSQL and its SQLite checksum.
    let released = "1 97aded2378ac192c 707694edf13f9a04  2 92ada276b0c91a08 50d882eb5b98e08b \
        3 2868295e1ed9d09f 66c37d1674a906f0  4 830e84b873aefa49 d98bae3ab271bff5 \
        5 8f5f1675fc291637 98cb04102633cfcc  6 405164dac0eacd9b 536771c1aebc34ef \
        7 54801c780eda4930 44b0dc8999c9b900  8 9f92d3750464c9b9 9f92d3750464c9b9 \
        9 2d93acd636a8ea6f 2d93acd636a8ea6f  10 e8542b31ce20294f e8542b31ce20294f \
        11 94f2ba474f7bd3ff 7c02a9b7052d48ba  12 2829f9b518ff92f1 2829f9b518ff92f1 \
        13 e38d5f264f882e77 e38d5f264f882e77  14 dcf5b15a3bb48140 58e843028136ca46";
    let words: Vec<&str> = released.split_whitespace().collect();
    assert_eq!(words.len(), 42);
    for w in words.chunks(3) {
        let at = |ms: &[Migration]| ms.iter().find(|m| m.version.to_string() == w[0]).map(|m| m.checksum());
        assert!(at(&POSTGRES).is_some_and(|c| c.starts_with(w[1])), "PostgreSQL migration {}", w[0]);
        assert!(at(&SQLITE).is_some_and(|c| c.starts_with(w[2])), "SQLite migration {}", w[0]);
    }
}

#[test]
fn dialect_blocks_are_kept_for_their_dialect_only() {
    let sql = "a BIGINT\n--@postgres\nb BOOLEAN\n--@sqlite\nb INTEGER\n--@end\nc\n";
    assert_eq!(for_dialect(sql, Dialect::Postgres), "a BIGINT\nb BOOLEAN\nc\n");
    assert_eq!(sqlite_types(&for_dialect(sql, Dialect::Sqlite)), "a INTEGER\nb INTEGER\nc\n");
    for m in POSTGRES.iter().chain(SQLITE.iter()) {
        assert!(!m.sql.contains("--@"), "{}: a dialect marker is left", m.name);
    }
}

#[test]
fn changed_or_unknown_migrations_are_refused() {
    let ok = Applied { version: 1, checksum: SQLITE[0].checksum() };
    assert_eq!(pending(&SQLITE, &[ok]).map(|p| p.len()).ok(), Some(SQLITE.len() - 1));
    assert_eq!(pending(&SQLITE, &[]).map(|p| p.len()).ok(), Some(SQLITE.len()));
    let changed = Applied { version: 1, checksum: "00".into() };
    assert!(matches!(pending(&SQLITE, &[changed]), Err(StoreError::Migration(_))));
    let unknown = Applied { version: 999, checksum: "00".into() };
    assert!(matches!(pending(&SQLITE, &[unknown]), Err(StoreError::Migration(_))));
}

#[test]
fn database_urls() {
    assert_eq!(
        DatabaseUrl::parse("sqlite://snspmt.db").ok(),
        Some(DatabaseUrl::SqliteFile("snspmt.db".into()))
    );
    assert_eq!(
        DatabaseUrl::parse("sqlite:///tmp/x.db").ok(),
        Some(DatabaseUrl::SqliteFile("/tmp/x.db".into()))
    );
    assert_eq!(DatabaseUrl::parse("sqlite::memory:").ok(), Some(DatabaseUrl::SqliteMemory));
    assert!(matches!(DatabaseUrl::parse("postgres://u@h/db"), Ok(DatabaseUrl::Postgres(_))));
    assert!(DatabaseUrl::parse("mysql://x").is_err());
    assert!(DatabaseUrl::parse("sqlite://").is_err());
}

/// A URL of a backend left out of the build is an error that names the feature.
#[cfg(not(feature = "postgres"))]
#[tokio::test]
async fn postgres_url_without_the_postgres_feature() {
    let url = DatabaseUrl::parse("postgres://u@127.0.0.1:1/db").expect("parses");
    let e = snspmt_store::open(&url).await.err().expect("refused");
    assert!(e.to_string().contains("build it with the `postgres` feature"), "{e}");
}

#[cfg(not(feature = "sqlite"))]
#[tokio::test]
async fn sqlite_url_without_the_sqlite_feature() {
    let e = snspmt_store::open(&DatabaseUrl::SqliteMemory).await.err().expect("refused");
    assert!(e.to_string().contains("build it with the `sqlite` feature"), "{e}");
}

#[test]
fn cleans_control_bytes() {
    assert_eq!(snspmt_store::clean_text("a\u{0}b\u{7}c\nd\te"), "abc\nd\te");
}
