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

/// The writer leaves checkpoints to a thread of their own (it checkpoints itself only past
/// 8,000 WAL pages): what it commits reaches the database file without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkpointer_copies_the_wal_into_the_database_beside_the_writer() {
    use snspmt_store::{CatalogStore, NewService};
    let path = std::env::temp_dir().join(format!("snspmt-checkpoints-{}.db", std::process::id()));
    let s = SqliteStore::open(&path.to_string_lossy()).expect("open");
    s.migrate(Millis(0)).await.expect("migrate");
    // 500 services of 2 kB each: some 300 pages, far below the writer's own checkpoint.
    let services = (0..500)
        .map(|i| NewService { description: format!("{i:02000}"), ..contract::new_service(&i.to_string()) })
        .collect();
    s.import_services(services, snspmt_store::testing::example_audit(), Millis(1)).await.expect("import");
    let size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while size() < 1_000_000 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let copied = size();
    drop(s);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    assert!(copied >= 1_000_000, "the database file holds {copied} bytes");
}
