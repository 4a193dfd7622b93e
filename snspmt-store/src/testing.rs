//! Support for tests that need a real database (the `testing` feature; not a stable API): a
//! PostgreSQL schema of their own, created on connect and dropped afterwards (with the
//! `postgres` feature), and the rule for when there is no PostgreSQL to test.
//!
//! The PostgreSQL URL comes from `SNSPMT_TEST_POSTGRES_URL`. Without it a PostgreSQL test
//! prints a notice and skips — unless `CI=true`, where a skipped PostgreSQL suite is a failure.

#[cfg(feature = "postgres")]
pub use pg::PgTestSchema;

/// The variable that names the PostgreSQL server for tests.
pub const POSTGRES_URL_VAR: &str = "SNSPMT_TEST_POSTGRES_URL";

/// The PostgreSQL URL to test against, or `None` to skip (after printing why).
///
/// # Panics
/// When no URL is set and `CI=true`: CI must run the PostgreSQL suite.
pub fn postgres_url(test: &str) -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{test}: {POSTGRES_URL_VAR} is not set, and CI=true requires the PostgreSQL suite");
            }
            eprintln!("notice: {test} skipped: set {POSTGRES_URL_VAR} to run it against PostgreSQL");
            None
        }
    }
}

/// A migrated throw-away SQLite store (its file is removed when it is dropped) with the users
/// `ids` (`{id}@example.com`, no password): where the crate's examples start.
#[cfg(feature = "sqlite")]
pub async fn example_store(ids: &[&str]) -> crate::StoreResult<crate::SqliteStore> {
    use crate::{Maintenance, UserStore};
    let store = crate::SqliteStore::open_temporary()?;
    store.migrate(crate::Millis::EPOCH).await?;
    for id in ids.iter().map(|id| id.to_string()) {
        let email = Some(format!("{id}@example.com"));
        let user = crate::NewUser {
            email,
            name: id.clone(),
            display_name: id.clone(),
            user_id: id,
            password_hash: None,
        };
        store.create_user(user, crate::Millis::EPOCH).await?;
    }
    Ok(store)
}

/// An operator's audit entry, as the crate's examples record one.
pub fn example_audit() -> crate::NewAudit {
    crate::NewAudit {
        actor: "admin-token".into(),
        action: "example".into(),
        target: None,
        detail: "{}".into(),
    }
}

#[cfg(feature = "postgres")]
mod pg {
    use tokio_postgres::NoTls;

    use crate::{Maintenance, PgStore, StoreError, StoreResult};

    /// A PostgreSQL schema made for one test, with a migrated store whose connections use it.
    /// Dropping it drops the schema.
    pub struct PgTestSchema {
        url: String,
        schema: String,
        pub store: PgStore,
    }

    impl PgTestSchema {
        /// Creates a fresh schema on `url` and a migrated store of `max_connections` on it.
        pub async fn create(url: &str, max_connections: usize) -> StoreResult<PgTestSchema> {
            let schema = crate::unique_name("t", '_');
            run_admin(url, &format!("CREATE SCHEMA {schema}")).await?;
            let mut config: tokio_postgres::Config =
                url.parse().map_err(|e: tokio_postgres::Error| StoreError::Backend(e.to_string()))?;
            config.options(format!("-c search_path={schema}"));
            let store = PgStore::from_config(config, max_connections)?;
            store.migrate(crate::Millis::EPOCH).await?;
            Ok(PgTestSchema { url: url.to_owned(), schema, store })
        }

        /// A `DATABASE_URL`-style connection string that selects this schema, for a server
        /// process started by a test.
        pub fn url_with_search_path(&self) -> String {
            let sep = if self.url.contains('?') { '&' } else { '?' };
            format!("{}{sep}options=-c%20search_path%3D{}", self.url, self.schema)
        }

        pub fn schema(&self) -> &str {
            &self.schema
        }
    }

    impl Drop for PgTestSchema {
        fn drop(&mut self) {
            let url = self.url.clone();
            let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
            // Drop may run inside a runtime: use a thread with its own.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    let _ = rt.block_on(run_admin(&url, &sql));
                }
            })
            .join();
        }
    }

    async fn run_admin(url: &str, sql: &str) -> StoreResult<()> {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
        let conn = tokio::spawn(connection);
        client.batch_execute(sql).await?;
        drop(client);
        let _ = conn.await;
        Ok(())
    }
}
