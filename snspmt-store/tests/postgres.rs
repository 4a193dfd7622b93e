//! The storage contract on PostgreSQL: each case in a schema of its own.
//! Needs `SNSPMT_TEST_POSTGRES_URL`; skips without it, except under `CI=true`. Built with the
//! `postgres` feature only.

#![cfg(feature = "postgres")]

#[path = "contract/mod.rs"]
mod contract;

use std::sync::Arc;

use snspmt_store::testing::{postgres_url, PgTestSchema};
use snspmt_store::{Maintenance, Millis, Store};

macro_rules! postgres_cases {
    ($($case:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $case() {
            let Some(url) = postgres_url(stringify!($case)) else { return };
            let schema = PgTestSchema::create(&url, 16).await.expect("test schema");
            let store: Arc<dyn Store> = Arc::new(schema.store.clone());
            contract::$case(store).await;
        }
    )*};
}

contract::for_each_case!(postgres_cases);

#[tokio::test]
async fn concurrent_migrations_of_several_instances_agree() {
    let Some(url) = postgres_url("concurrent_migrations_of_several_instances_agree") else {
        return;
    };
    let schema = PgTestSchema::create(&url, 4).await.expect("test schema");
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let s = schema.store.clone();
        tasks.push(tokio::spawn(async move { s.migrate(Millis(1)).await }));
    }
    for t in tasks {
        assert!(t.await.expect("task").expect("migrate").applied.is_empty());
    }
}
