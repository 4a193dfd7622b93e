//! Storage for snspmt: one trait family split by aggregate, with a SQLite backend
//! (rusqlite + r2d2_sqlite, WAL, `IMMEDIATE` write transactions behind one writer) and a
//! PostgreSQL backend (tokio-postgres + deadpool, cached prepared statements).
//!
//! Every method is one business operation that owns its transaction: there is no generic
//! `execute(sql)`. Money moves only through [`LedgerStore::post`], which changes the balance
//! and appends its ledger row in one transaction, refuses to take a balance below zero, and
//! replays an [`IdempotencyKey`] instead of running twice.
//!
//! Both backends run the same contract test suite (`tests/contract`).
//!
//! # Features
//!
//! - `sqlite` (default): [`SqliteStore`], on rusqlite (SQLite bundled) and r2d2.
//! - `postgres` (default): [`PgStore`], on tokio-postgres and deadpool.
//! - `testing`: the `testing` module, helpers for tests that need a database (a PostgreSQL
//!   schema per test); not a stable API.
//!
//! An embedder that needs one backend takes only its feature
//! (`default-features = false, features = ["sqlite"]`); [`open`] answers a `DATABASE_URL` of a
//! backend left out of the build with an error that names the feature.
//!
//! # Example
//!
//! A throw-away SQLite database (a temporary file, removed when the store is dropped): migrate
//! it, create a user, credit 5,000 points with their ledger row, and read the ledger back.
//!
//! ```
//! use snspmt_core::{LedgerKind, Millis, Points};
//! use snspmt_store::{LedgerFilter, LedgerStore, Maintenance, NewUser, Posting, SqliteStore};
//! use snspmt_store::{StoreError, UserStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), StoreError> {
//! let now = Millis(1_700_000_000_000); // ms since the epoch: every operation is told the time
//! let store = SqliteStore::open_temporary()?; // or SqliteStore::open("snspmt.db")
//! store.migrate(now).await?;
//!
//! let user = NewUser {
//!     user_id: "kim".into(),
//!     email: Some("kim@example.com".into()),
//!     name: "Kim".into(),
//!     display_name: "kim".into(),
//!     password_hash: None,
//! };
//! assert_eq!(store.create_user(user, now).await?.points, Points(0));
//!
//! // The balance and its ledger row move together, in one transaction.
//! let credit = Posting {
//!     user_id: "kim".into(),
//!     kind: LedgerKind::Purchase,
//!     amount: Points(5_000),
//!     reference: Some("purchase:1".into()),
//!     description: "bank transfer".into(),
//!     event_ref: Some("purchase:1".into()),
//!     audit: None,
//! };
//! let entry = store.post(credit.clone(), None, now).await?.into_inner();
//! assert_eq!(entry.balance_after, Points(5_000));
//! // The same business event is never posted twice.
//! assert!(matches!(store.post(credit, None, now).await, Err(StoreError::AlreadyPosted)));
//!
//! // A filter left at its defaults reads a page of `DEFAULT_LIMIT` (50) rows.
//! let page = store.ledger(LedgerFilter { user_id: Some("kim".into()), ..Default::default() }).await?;
//! assert_eq!((page.total, page.rows), (1, vec![entry]));
//! assert_eq!(store.balance("kim").await?, Some(Points(5_000)));
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;

use async_trait::async_trait;

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!("snspmt-store needs a backend: enable the `sqlite` or the `postgres` feature (or both)");

mod error;
pub mod migrations;
mod model;
pub(crate) mod ops;
#[cfg(feature = "postgres")]
pub mod postgres;
mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{Conflict, StoreError, StoreResult};
pub use model::*;
pub use ops::accounts::{AuditStore, LedgerStore, SessionStore, UserStore};
pub use ops::api_keys::ApiKeyStore;
pub use ops::content::{BlogStore, DashboardStore, IdentityStore, NoticeStore};
pub use ops::orders::{CatalogStore, OrderStore, PackageStore, PartStore};
pub use ops::purchases::PurchaseStore;
pub use ops::rates::RateStore;
pub use ops::referral::{CouponStore, ReferralStore};
pub use ops::refills::RefillStore;
#[cfg(feature = "postgres")]
pub use postgres::PgStore;
pub use sql::{clean_text, Dialect};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

use snspmt_core::Points;

/// Health and schema.
///
/// # Example
///
/// ```
/// use snspmt_store::{DatabaseUrl, Maintenance, Millis};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), snspmt_store::StoreError> {
/// let store = snspmt_store::open(&DatabaseUrl::parse("sqlite::memory:")?).await?;
/// let report = store.migrate(Millis(1_000)).await?;
/// assert_eq!(report.version, store.schema_version().await?);
/// assert!(store.migrate(Millis(2_000)).await?.applied.is_empty(), "nothing left to apply");
/// store.ping().await?;
/// assert_eq!(store.backend(), "sqlite");
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait Maintenance: Send + Sync {
    /// A round trip to the database.
    async fn ping(&self) -> StoreResult<()>;
    /// Applies pending migrations (idempotent; safe with several instances starting at once).
    async fn migrate(&self, now: Millis) -> StoreResult<MigrationReport>;
    /// The highest applied migration version.
    async fn schema_version(&self) -> StoreResult<i64>;
    /// Queue depths and ledger totals for `/metrics`; purchases `approving` since before
    /// `attention_before` count as needing attention.
    async fn ops_counts(&self, attention_before: Millis) -> StoreResult<OpsCounts>;
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;
    /// Tells `watcher`, after each commit of this store (this process), what it changed in
    /// balances, users, sessions, rates and services ([`Change`]). Held weakly: a dropped watcher is forgotten.
    fn watch(&self, watcher: std::sync::Weak<dyn ChangeWatcher>);
}

/// What a committed transaction changed that a cache of sessions, users and prices must know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A posting: the balance as its ledger row `ledger_id` left it. Per user, ledger ids grow
    /// in commit order (the balance row is locked before the ledger row takes its id).
    Balance { user_id: String, points: Points, ledger_id: i64 },
    /// A user's profile, rights or referral code changed.
    User(String),
    /// A session (by token hash) was revoked.
    Session(String),
    /// A user's discount or own prices changed.
    Rates(String),
    /// A catalogue service (by id) was created or rewritten.
    Service(i64),
}

/// Told about each commit's [`Change`]s (see [`Maintenance::watch`]); called on the committing
/// task or thread, after the commit: it must be quick and must not block.
pub trait ChangeWatcher: Send + Sync {
    fn committed(&self, changes: &[Change]);
}

/// A session as [`SessionStore::session_snapshot`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSnapshot {
    pub user: User,
    /// When the session expires (ms).
    pub expires_at: Millis,
    /// The id of the user's last ledger row (0 when none), read with `user.points`.
    pub ledger_mark: i64,
}

/// Declares `Store`, everything the server needs from storage, as the sum of the traits listed
/// once.
macro_rules! store_traits {
    ($($t:ident),+) => {
        /// Everything the server needs from storage.
        pub trait Store: $($t +)+ {}
        impl<T> Store for T where T: $($t +)+ {}
    };
}

store_traits!(
    UserStore,
    SessionStore,
    LedgerStore,
    AuditStore,
    CatalogStore,
    OrderStore,
    PurchaseStore,
    PackageStore,
    PartStore,
    IdentityStore,
    NoticeStore,
    BlogStore,
    DashboardStore,
    CouponStore,
    ReferralStore,
    Maintenance,
    ApiKeyStore,
    RefillStore,
    RateStore
);

/// How to reach a database, parsed from `DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite file.
    SqliteFile(String),
    /// A throw-away SQLite database (`sqlite::memory:`), kept in a temporary file.
    SqliteMemory,
    /// A PostgreSQL connection string.
    Postgres(String),
}

impl DatabaseUrl {
    /// Reads `sqlite://path`, `sqlite:path`, `sqlite::memory:` or `postgres[ql]://…`.
    ///
    /// # Example
    ///
    /// ```
    /// use snspmt_store::DatabaseUrl;
    ///
    /// # fn main() -> Result<(), snspmt_store::StoreError> {
    /// assert_eq!(DatabaseUrl::parse("sqlite://snspmt.db")?, DatabaseUrl::SqliteFile("snspmt.db".into()));
    /// assert_eq!(DatabaseUrl::parse("sqlite::memory:")?, DatabaseUrl::SqliteMemory);
    /// assert!(matches!(DatabaseUrl::parse("postgres://u@127.0.0.1/db")?, DatabaseUrl::Postgres(_)));
    /// assert!(DatabaseUrl::parse("mysql://u@127.0.0.1/db").is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn parse(url: &str) -> StoreResult<DatabaseUrl> {
        if url == "sqlite::memory:" || url == "sqlite://:memory:" {
            Ok(DatabaseUrl::SqliteMemory)
        } else if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            if path.is_empty() {
                Err(StoreError::Backend("DATABASE_URL names no SQLite file".into()))
            } else {
                Ok(DatabaseUrl::SqliteFile(path.to_owned()))
            }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres(url.to_owned()))
        } else {
            Err(StoreError::Backend("DATABASE_URL must start with sqlite:// or postgres://".into()))
        }
    }
}

/// Opens the database named by `url` (no migrations are run).
///
/// A URL whose backend this build leaves out (the `sqlite` or `postgres` feature) is a
/// [`StoreError::Backend`] that names the missing feature.
///
/// # Example
///
/// ```
/// use snspmt_store::{DatabaseUrl, Maintenance, Millis, UserStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), snspmt_store::StoreError> {
/// let store = snspmt_store::open(&DatabaseUrl::parse("sqlite::memory:")?).await?;
/// store.migrate(Millis(0)).await?;
/// assert_eq!(store.backend(), "sqlite");
/// assert_eq!(store.user("nobody").await?, None);
/// # Ok(())
/// # }
/// ```
pub async fn open(url: &DatabaseUrl) -> StoreResult<Arc<dyn Store>> {
    Ok(match url {
        #[cfg(feature = "sqlite")]
        DatabaseUrl::SqliteFile(path) => Arc::new(SqliteStore::open(path)?),
        #[cfg(feature = "sqlite")]
        DatabaseUrl::SqliteMemory => Arc::new(SqliteStore::open_temporary()?),
        #[cfg(not(feature = "sqlite"))]
        DatabaseUrl::SqliteFile(_) | DatabaseUrl::SqliteMemory => {
            return Err(not_compiled_in("SQLite", "sqlite"))
        }
        #[cfg(feature = "postgres")]
        DatabaseUrl::Postgres(url) => Arc::new(PgStore::connect(url, 16).await?),
        #[cfg(not(feature = "postgres"))]
        DatabaseUrl::Postgres(_) => return Err(not_compiled_in("PostgreSQL", "postgres")),
    })
}

/// A name unlike any other this process or another makes: `prefix`, the process id, the time
/// (ns) and a sequence number, joined by `sep` (temporary databases, test schemas).
#[cfg(any(feature = "sqlite", feature = "testing"))]
pub(crate) fn unique_name(prefix: &str, sep: char) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{sep}{}{sep}{nanos}{sep}{seq}", std::process::id())
}

/// The error of a `DATABASE_URL` whose backend was left out of this build.
#[cfg(not(all(feature = "sqlite", feature = "postgres")))]
fn not_compiled_in(backend: &str, feature: &str) -> StoreError {
    StoreError::Backend(format!(
        "DATABASE_URL names a {backend} database, but this build of snspmt-store has no {backend} \
         backend: build it with the `{feature}` feature"
    ))
}
