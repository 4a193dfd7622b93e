//! The storage contract on SQLite (with the `sqlite` feature).

#![cfg(feature = "sqlite")]

#[path = "contract/mod.rs"]
mod contract;

use std::sync::Arc;

use snspmt_store::{Maintenance, Millis, SqliteStore, Store};

async fn store() -> Arc<dyn Store> {
    let s = SqliteStore::open_temporary().expect("open");
    s.migrate(Millis(0)).await.expect("migrate");
    Arc::new(s)
}

macro_rules! sqlite_cases {
    ($($case:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $case() {
            contract::$case(store().await).await;
        }
    )*};
}

contract::for_each_case!(sqlite_cases);

#[tokio::test]
async fn temporary_database_is_removed() {
    let s = SqliteStore::open_temporary().expect("open");
    s.migrate(Millis(0)).await.expect("migrate");
    let before = std::fs::read_dir(std::env::temp_dir()).map(|d| d.count()).unwrap_or(0);
    drop(s);
    let after = std::fs::read_dir(std::env::temp_dir()).map(|d| d.count()).unwrap_or(0);
    assert!(after < before, "the temporary database file was removed ({before} -> {after})");
}
