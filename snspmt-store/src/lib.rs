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
//! use snspmt_core::{LedgerKind, Points};
//! use snspmt_store::{LedgerFilter, LedgerStore, Maintenance, NewUser, Posting, SqliteStore};
//! use snspmt_store::{StoreError, UserStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), StoreError> {
//! let now = 1_700_000_000_000; // ms since the epoch: every operation is told the time
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
#[cfg(feature = "postgres")]
pub use postgres::PgStore;
pub use sql::{clean_text, Dialect};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

use snspmt_core::Points;

/// Accounts.
///
/// # Example
///
/// ```
/// use snspmt_store::{Conflict, NewUser, StoreError, UserStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let store = snspmt_store::SqliteStore::open_temporary()?;
/// # snspmt_store::Maintenance::migrate(&store, 0).await?;
/// let new_user = |id: &str, email: &str| NewUser {
///     user_id: id.into(),
///     email: Some(email.into()),
///     name: id.into(),
///     display_name: id.into(),
///     password_hash: None,
/// };
/// let kim = store.create_user(new_user("kim", "kim@example.com"), 1_000).await?;
/// assert_eq!((kim.created_at, kim.is_admin), (1_000, false));
/// let taken = store.create_user(new_user("lee", "kim@example.com"), 1_001).await;
/// assert!(matches!(taken, Err(StoreError::Conflict(Conflict::EmailTaken))));
/// assert_eq!(store.user("kim").await?, Some(kim));
/// assert_eq!(store.list_users(Some("kim"), 0, 0).await?.total, 1);
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates a user with a zero balance. `Conflict("user_id_taken" | "email_taken")`.
    async fn create_user(&self, user: NewUser, now: Millis) -> StoreResult<User>;
    async fn user(&self, user_id: &str) -> StoreResult<Option<User>>;
    /// Looks a user up by (lower-case) e-mail, with the password hash for a login.
    async fn credentials(&self, email: &str) -> StoreResult<Option<Credentials>>;
    /// Users whose id, e-mail or names contain `search`, newest first.
    async fn list_users(&self, search: Option<&str>, limit: i64, offset: i64) -> StoreResult<Page<User>>;
    /// An operator's change of a user, in one transaction: the profile fields of `patch`, then
    /// the balance `adjustment` (a ledger posting), then the audit entry. Nothing changes if
    /// any part is refused (`email_taken`, insufficient points, unknown user).
    async fn update_user(
        &self,
        user_id: &str,
        patch: ProfilePatch,
        adjustment: Option<Posting>,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<User>;
}

/// Bearer sessions and login throttling.
///
/// # Example
///
/// ```
/// use snspmt_store::SessionStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let store = snspmt_store::SqliteStore::open_temporary()?;
/// # snspmt_store::Maintenance::migrate(&store, 0).await?;
/// # let user = |id: &str| snspmt_store::NewUser {
/// #     user_id: id.into(),
/// #     email: Some(format!("{id}@example.com")),
/// #     name: id.into(),
/// #     display_name: id.into(),
/// #     password_hash: None,
/// # };
/// # snspmt_store::UserStore::create_user(&store, user("kim"), 0).await?;
/// // Kept by the SHA-256 of the bearer token, never the token; expires at 2,000 ms.
/// store.create_session("sha256-of-the-token", "kim", 1_000, 2_000).await?;
/// let user = store.session_user("sha256-of-the-token", 1_500).await?;
/// assert_eq!(user.map(|u| u.user_id).as_deref(), Some("kim"));
/// assert_eq!(store.session_user("sha256-of-the-token", 2_000).await?, None);
/// assert!(store.revoke_session("sha256-of-the-token").await?);
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a session by the SHA-256 (hex) of its token.
    async fn create_session(
        &self,
        token_hash: &str,
        user_id: &str,
        now: Millis,
        expires_at: Millis,
    ) -> StoreResult<()>;
    /// The user of an unexpired session.
    async fn session_user(&self, token_hash: &str, now: Millis) -> StoreResult<Option<User>>;
    /// The user of an unexpired session with the session's expiry and the user's ledger mark
    /// (the id of their last ledger row), all read in one snapshot: what a session cache keeps.
    async fn session_snapshot(&self, token_hash: &str, now: Millis) -> StoreResult<Option<SessionSnapshot>>;
    /// Revokes a session; `true` if it existed.
    async fn revoke_session(&self, token_hash: &str) -> StoreResult<bool>;
    /// Records a login attempt as a failure, before it is judged (so that parallel guesses
    /// count each other); answers its id, for [`SessionStore::forget_login_failure`].
    async fn record_login_failure(&self, email: &str, now: Millis) -> StoreResult<i64>;
    /// Forgets one recorded attempt (one refused before its password was checked).
    async fn forget_login_failure(&self, id: i64) -> StoreResult<()>;
    /// Stores an e-mail verification token (by hash), replacing the user's earlier ones.
    async fn create_email_token(&self, token: EmailToken) -> StoreResult<()>;
    /// Uses up a verification token: when it is unexpired and the user's e-mail is still the
    /// one it was sent to, marks that e-mail verified and answers the user.
    async fn verify_email(&self, token_hash: &str, now: Millis) -> StoreResult<Option<User>>;
    /// How many failed logins for `email` since `since`.
    async fn login_failures(&self, email: &str, since: Millis) -> StoreResult<i64>;
    /// Forgets the failures of `email` (after a successful login).
    async fn clear_login_failures(&self, email: &str) -> StoreResult<()>;
}

/// Balances and the append-only points ledger.
///
/// # Example
///
/// ```
/// use snspmt_core::{LedgerKind, Points};
/// use snspmt_store::{IdempotencyKey, LedgerStore, Posting, StoreError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let store = snspmt_store::SqliteStore::open_temporary()?;
/// # snspmt_store::Maintenance::migrate(&store, 0).await?;
/// # let user = |id: &str| snspmt_store::NewUser {
/// #     user_id: id.into(),
/// #     email: Some(format!("{id}@example.com")),
/// #     name: id.into(),
/// #     display_name: id.into(),
/// #     password_hash: None,
/// # };
/// # snspmt_store::UserStore::create_user(&store, user("kim"), 0).await?;
/// let posting = |kind: LedgerKind, amount: i64| Posting {
///     user_id: "kim".into(),
///     kind,
///     amount: Points(amount),
///     reference: None,
///     description: kind.to_string(),
///     event_ref: None,
///     audit: None,
/// };
/// store.post(posting(LedgerKind::Purchase, 1_000), None, 1).await?;
/// // A debit below zero changes nothing.
/// let overdraft = store.post(posting(LedgerKind::Deduct, -1_001), None, 2).await;
/// assert!(matches!(overdraft, Err(StoreError::InsufficientPoints { balance: Points(1_000) })));
/// // A client's retry with the same Idempotency-Key replays the first answer.
/// let key = || IdempotencyKey::new("kim", "points.deduct", "k-1", br#"{"amount":300}"#);
/// let first = store.post(posting(LedgerKind::Deduct, -300), Some(key()), 3).await?;
/// let again = store.post(posting(LedgerKind::Deduct, -300), Some(key()), 4).await?;
/// assert!(again.is_replay());
/// assert_eq!(again.into_inner(), first.into_inner());
/// assert_eq!(store.balance("kim").await?, Some(Points(700)));
/// assert!(store.ledger_mismatches().await?.is_empty());
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait LedgerStore: Send + Sync {
    async fn balance(&self, user_id: &str) -> StoreResult<Option<Points>>;
    /// Moves a balance and appends its ledger row in one transaction.
    ///
    /// `InsufficientPoints` if the balance would go below zero, `NotFound` for an unknown
    /// user, `AlreadyPosted` for an `event_ref` seen before. With an idempotency key, a repeat
    /// of the same request returns the first entry as `Replay` and moves nothing; the same key
    /// with another body is `IdempotencyKeyReused`.
    async fn post(
        &self,
        posting: Posting,
        key: Option<IdempotencyKey>,
        now: Millis,
    ) -> StoreResult<Idempotent<LedgerEntry>>;
    async fn ledger(&self, filter: LedgerFilter) -> StoreResult<Page<LedgerEntry>>;
    /// Users whose balance differs from the sum of their ledger rows (always empty unless
    /// something is badly wrong): `(user_id, balance, ledger_sum)`.
    async fn ledger_mismatches(&self) -> StoreResult<Vec<(String, Points, Points)>>;
}

/// The admin audit log.
///
/// # Example
///
/// ```
/// use snspmt_store::{AuditStore, NewAudit};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let store = snspmt_store::SqliteStore::open_temporary()?;
/// # snspmt_store::Maintenance::migrate(&store, 0).await?;
/// let audit = NewAudit {
///     actor: "admin-token".into(),
///     action: "users.update".into(),
///     target: Some("kim".into()),
///     detail: r#"{"is_admin":true}"#.into(),
/// };
/// let entry = store.record_audit(audit, 1_000).await?;
/// assert_eq!(store.audit_log(0, 0).await?.rows, [entry]);
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn record_audit(&self, entry: NewAudit, now: Millis) -> StoreResult<AuditEntry>;
    async fn audit_log(&self, limit: i64, offset: i64) -> StoreResult<Page<AuditEntry>>;
}

/// Health and schema.
///
/// # Example
///
/// ```
/// use snspmt_store::{DatabaseUrl, Maintenance};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), snspmt_store::StoreError> {
/// let store = snspmt_store::open(&DatabaseUrl::parse("sqlite::memory:")?).await?;
/// let report = store.migrate(1_000).await?;
/// assert_eq!(report.version, store.schema_version().await?);
/// assert!(store.migrate(2_000).await?.applied.is_empty(), "nothing left to apply");
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
    /// balances, users and sessions ([`Change`]). Held weakly: a dropped watcher is forgotten.
    fn watch(&self, watcher: std::sync::Weak<dyn ChangeWatcher>);
}

/// What a committed transaction changed that a cache of sessions and users must know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A posting: the balance as its ledger row `ledger_id` left it. Per user, ledger ids grow
    /// in commit order (the balance row is locked before the ledger row takes its id).
    Balance { user_id: String, points: Points, ledger_id: i64 },
    /// A user's profile, rights or referral code changed.
    User(String),
    /// A session (by token hash) was revoked.
    Session(String),
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

/// The catalogue of services.
///
/// # Example
///
/// ```
/// use snspmt_core::Points;
/// use snspmt_store::{CatalogStore, NewService};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let store = snspmt_store::SqliteStore::open_temporary()?;
/// # snspmt_store::Maintenance::migrate(&store, 0).await?;
/// # let audit = || snspmt_store::NewAudit {
/// #     actor: "admin-token".into(),
/// #     action: "example".into(),
/// #     target: None,
/// #     detail: "{}".into(),
/// # };
/// let likes = NewService {
///     provider_service_id: "1".into(),
///     name: "Likes".into(),
///     category: "Instagram".into(),
///     platform: "instagram".into(),
///     service_type: "default".into(),
///     price_per_1000: Points(1_000),
///     min_quantity: 10,
///     max_quantity: 10_000,
///     dripfeed: false,
///     refill: false,
///     cancel: false,
///     is_active: true,
///     description: String::new(),
/// };
/// let created = store.create_service(likes.clone(), audit(), 1_000).await?;
/// assert_eq!(store.service(created.service_id).await?, Some(created));
/// // An import updates the services it knows by the upstream's id.
/// let counts = store.import_services(vec![likes], audit(), 2_000).await?;
/// assert_eq!((counts.inserted, counts.updated), (0, 1));
/// assert_eq!(store.list_services(true, Some("Instagram"), 0, 0).await?.total, 1);
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait CatalogStore: Send + Sync {
    /// `Conflict(Conflict::ProviderServiceIdTaken)` when the upstream id is catalogued already.
    async fn create_service(&self, service: NewService, audit: NewAudit, now: Millis)
        -> StoreResult<Service>;
    async fn service(&self, service_id: i64) -> StoreResult<Option<Service>>;
    /// Services by id; `active_only` drops inactive ones, `category` keeps one category.
    async fn list_services(
        &self,
        active_only: bool,
        category: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Page<Service>>;
    /// Replaces the editable fields of a service (`provider_service_id` included).
    async fn update_service(
        &self,
        service_id: i64,
        service: NewService,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Service>;
    /// Inserts or updates services by `provider_service_id`, in one transaction.
    async fn import_services(
        &self,
        services: Vec<NewService>,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<ImportCounts>;
}

/// Orders, their charges and refunds, and the submission outbox.
///
/// # Example
///
/// ```
/// use snspmt_core::order::{self, OrderStatus};
/// use snspmt_core::upstream::smm::Status;
/// use snspmt_core::Points;
/// use snspmt_store::{LedgerStore, NewOrder, OrderStore, StatusUpdate, SubmissionOutcome};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let store = snspmt_store::SqliteStore::open_temporary()?;
/// # snspmt_store::Maintenance::migrate(&store, 0).await?;
/// # let user = |id: &str| snspmt_store::NewUser {
/// #     user_id: id.into(),
/// #     email: Some(format!("{id}@example.com")),
/// #     name: id.into(),
/// #     display_name: id.into(),
/// #     password_hash: None,
/// # };
/// # snspmt_store::UserStore::create_user(&store, user("kim"), 0).await?;
/// # let audit = || snspmt_store::NewAudit {
/// #     actor: "admin-token".into(),
/// #     action: "example".into(),
/// #     target: None,
/// #     detail: "{}".into(),
/// # };
/// # snspmt_store::LedgerStore::post(&store, snspmt_store::Posting {
/// #     user_id: "kim".into(),
/// #     kind: snspmt_core::LedgerKind::Purchase,
/// #     amount: snspmt_core::Points(1_000),
/// #     reference: None,
/// #     description: "credit".into(),
/// #     event_ref: None,
/// #     audit: None,
/// # }, None, 0).await?;
/// # let service = snspmt_store::NewService {
/// #     provider_service_id: "1".into(),
/// #     name: "Likes".into(),
/// #     category: "Instagram".into(),
/// #     platform: "instagram".into(),
/// #     service_type: "default".into(),
/// #     price_per_1000: Points(1_000),
/// #     min_quantity: 10,
/// #     max_quantity: 10_000,
/// #     dripfeed: false,
/// #     refill: false,
/// #     cancel: false,
/// #     is_active: true,
/// #     description: String::new(),
/// # };
/// # let service = snspmt_store::CatalogStore::create_service(&store, service, audit(), 0).await?;
/// # let service_id = service.service_id;
/// let t0 = 1_000;
/// let order = NewOrder {
///     user_id: "kim".into(),
///     service_id,
///     service_name: "Likes".into(),
///     link: "https://x.com/a".into(),
///     quantity: 100,
///     runs: None,
///     interval_minutes: None,
///     comments: None,
///     price: Points(100),
///     discount_amount: Points(0),
///     final_price: Points(100),
///     due_at: t0,
///     status: OrderStatus::Pending,
///     scheduled_at: None,
///     coupon_id: None,
///     params: Default::default(),
/// };
/// // Charged and queued in one transaction.
/// let placed = store.place_order(order, None, t0).await?.into_inner();
/// assert_eq!(store.balance("kim").await?, Some(Points(900)));
///
/// // A worker claims the due job, sends it upstream and records how that went.
/// let jobs = store.claim_due_jobs(t0, 10).await?;
/// assert_eq!(jobs.iter().map(|j| j.order_id).collect::<Vec<_>>(), [placed.order_id]);
/// let accepted = SubmissionOutcome::Accepted { smm_order_id: "23501".into() };
/// let running = store.settle_submission(jobs[0].job_id, accepted, t0 + 1).await?;
/// assert_eq!(running.status, OrderStatus::InProgress);
///
/// // The status sync: 25 of 100 were not delivered. The core settles; the store applies it.
/// let target = &store.orders_to_sync(10, None).await?[0];
/// let settlement = order::settle(target.final_price, target.total_quantity, &Status::Partial, Some(25))?;
/// let update = StatusUpdate { settlement, start_count: Some(0), remains: Some(25), charge: None };
/// let ended = store.apply_status(target.order_id, update, t0 + 2).await?.ok_or("in progress")?;
/// assert_eq!((ended.status, ended.refunded_amount), (OrderStatus::Partial, Points(25)));
/// assert_eq!(store.balance("kim").await?, Some(Points(925)));
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait OrderStore: Send + Sync {
    /// In one transaction: charge `final_price` (ledger `order_charge`), insert the order and
    /// its submission job. `InsufficientPoints` changes nothing.
    async fn place_order(
        &self,
        order: NewOrder,
        key: Option<IdempotencyKey>,
        now: Millis,
    ) -> StoreResult<Idempotent<Order>>;
    async fn order(&self, order_id: OrderId) -> StoreResult<Option<Order>>;
    /// Newest first.
    async fn orders(&self, filter: OrderFilter) -> StoreResult<Page<Order>>;
    /// Claims the due job of one order (`due` → `submitting`); `None` if someone else has it
    /// or it is not due.
    async fn claim_order_job(&self, order_id: OrderId, now: Millis) -> StoreResult<Option<ClaimedJob>>;
    /// Claims up to `limit` due jobs, oldest due first; each job is handed to one caller only.
    async fn claim_due_jobs(&self, now: Millis, limit: i64) -> StoreResult<Vec<ClaimedJob>>;
    /// Records how a claimed submission ended. Only a `submitting` job settles (once); the
    /// refund of a rejection is posted in the same transaction.
    async fn settle_submission(
        &self,
        job_id: JobId,
        outcome: SubmissionOutcome,
        now: Millis,
    ) -> StoreResult<Order>;
    /// Jobs claimed before `claimed_before` and never settled (a worker died mid-call) become
    /// `unknown`: they are never resent. Answers the orders concerned.
    async fn expire_submissions(&self, claimed_before: Millis, now: Millis) -> StoreResult<Vec<OrderId>>;
    /// `in_progress` orders to ask the upstream about, least recently checked first;
    /// optionally only `order_ids` of `user_id`.
    async fn orders_to_sync(
        &self,
        limit: i64,
        only: Option<(&str, &[OrderId])>,
    ) -> StoreResult<Vec<SyncTarget>>;
    /// Applies the upstream's status to an `in_progress` order; a terminal settlement (and its
    /// refund) happens once. `None` if the order was not `in_progress`.
    async fn apply_status(
        &self,
        order_id: OrderId,
        update: StatusUpdate,
        now: Millis,
    ) -> StoreResult<Option<Order>>;
    /// Records that the upstream's status of an order (or of one of its parts) could not be
    /// applied: the error is kept on the row for the operator, and the row moves behind the
    /// others in the sync order, so that one bad row never stops a batch.
    async fn record_sync_failure(
        &self,
        order_id: OrderId,
        part_id: Option<PartId>,
        error: &str,
        now: Millis,
    ) -> StoreResult<()>;
    /// Marks orders as checked now (the upstream did not know them, or said nothing new).
    async fn touch_status_checks(&self, order_ids: &[OrderId], now: Millis) -> StoreResult<()>;
    /// Records how several claimed submissions ended, in one transaction (each as
    /// [`settle_submission`](OrderStore::settle_submission) would): all or none. An `Err` (one
    /// job refused, say) changes nothing; the caller settles them one at a time instead.
    async fn settle_submissions(
        &self,
        outcomes: Vec<(JobId, SubmissionOutcome)>,
        now: Millis,
    ) -> StoreResult<Vec<Order>> {
        let mut settled = Vec::with_capacity(outcomes.len());
        for (job_id, outcome) in outcomes {
            settled.push(self.settle_submission(job_id, outcome, now).await?);
        }
        Ok(settled)
    }
    /// Applies the upstream's statuses of several orders (each as
    /// [`apply_status`](OrderStore::apply_status) would) and marks `untouched` as checked, in
    /// one transaction: all or none. An `Err` changes nothing; the caller applies them one at a
    /// time instead, to record which row failed.
    async fn apply_statuses(
        &self,
        updates: Vec<(OrderId, StatusUpdate)>,
        untouched: Vec<OrderId>,
        now: Millis,
    ) -> StoreResult<Vec<Option<Order>>> {
        let mut applied = Vec::with_capacity(updates.len());
        for (order_id, update) in updates {
            applied.push(self.apply_status(order_id, update, now).await?);
        }
        self.touch_status_checks(&untouched, now).await?;
        Ok(applied)
    }
    /// The owner's cancel: only while the job is due and unclaimed → `canceled`, full refund.
    /// `Conflict(Conflict::InvalidTransition)` otherwise.
    async fn cancel_order(&self, order_id: OrderId, now: Millis) -> StoreResult<Order>;
    /// An operator's transition (checked by the core): status, optional upstream id, refund of
    /// what is not yet refunded, withdrawal of an unclaimed job, audit — in one transaction.
    /// `Conflict(Conflict::InvalidTransition)` if the order moved meanwhile.
    async fn admin_set_status(
        &self,
        order_id: OrderId,
        from: snspmt_core::order::OrderStatus,
        transition: snspmt_core::order::AdminTransition,
        smm_order_id: Option<String>,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Order>;
}

/// Point purchases: bank transfers and KCP card payments, each credited at most once.
///
/// # Example
///
/// ```
/// use snspmt_core::purchase::{PurchaseMethod, PurchaseStatus};
/// use snspmt_core::{Points, Won};
/// use snspmt_store::{Conflict, LedgerStore, NewPurchase, PurchaseStore, StoreError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let store = snspmt_store::SqliteStore::open_temporary()?;
/// # snspmt_store::Maintenance::migrate(&store, 0).await?;
/// # let user = |id: &str| snspmt_store::NewUser {
/// #     user_id: id.into(),
/// #     email: Some(format!("{id}@example.com")),
/// #     name: id.into(),
/// #     display_name: id.into(),
/// #     password_hash: None,
/// # };
/// # snspmt_store::UserStore::create_user(&store, user("kim"), 0).await?;
/// # let audit = || snspmt_store::NewAudit {
/// #     actor: "admin-token".into(),
/// #     action: "example".into(),
/// #     target: None,
/// #     detail: "{}".into(),
/// # };
/// let transfer = NewPurchase {
///     user_id: "kim".into(),
///     method: PurchaseMethod::Bank,
///     amount: Points(10_000),
///     price: Won(10_000),
///     buyer_name: Some("김민수".into()),
///     bank_info: None,
///     ordr_idxx: None,
///     good_name: None,
///     pay_method: None,
/// };
/// let purchase = store.create_purchase(transfer, None, 1_000).await?.into_inner();
/// assert_eq!(purchase.status, PurchaseStatus::Pending);
/// // The operator approves it once; the approval credits the points in the same transaction.
/// let approved = store.decide_bank_purchase(purchase.purchase_id, true, audit(), 2_000).await?;
/// assert_eq!(approved.status, PurchaseStatus::Approved);
/// assert_eq!(store.balance("kim").await?, Some(Points(10_000)));
/// let again = store.decide_bank_purchase(purchase.purchase_id, true, audit(), 3_000).await;
/// assert!(matches!(again, Err(StoreError::Conflict(Conflict::AlreadyProcessed))));
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait PurchaseStore: Send + Sync {
    /// Records a purchase. With a key, a repeat answers the purchase as it is now.
    async fn create_purchase(
        &self,
        purchase: NewPurchase,
        key: Option<IdempotencyKey>,
        now: Millis,
    ) -> StoreResult<Idempotent<Purchase>>;
    async fn purchase(&self, purchase_id: i64) -> StoreResult<Option<Purchase>>;
    async fn purchase_by_ordr(&self, ordr_idxx: &str) -> StoreResult<Option<Purchase>>;
    /// Newest first.
    async fn purchases(&self, filter: PurchaseFilter) -> StoreResult<Page<Purchase>>;
    /// KCP accepted the trade registration.
    async fn record_registration(
        &self,
        purchase_id: i64,
        approval_key: &str,
        pay_url: &str,
        trace_no: &str,
        now: Millis,
    ) -> StoreResult<Purchase>;
    /// A `kcp_registered` purchase ends without an approval: `failed` (registration refused)
    /// or `canceled` (the user canceled at KCP), with KCP's code and message.
    async fn end_registration(
        &self,
        purchase_id: i64,
        status: snspmt_core::purchase::PurchaseStatus,
        code: &str,
        message: &str,
        now: Millis,
    ) -> StoreResult<Purchase>;
    /// An operator decides a `pending` bank transfer once: approval credits `amount` (ledger
    /// `purchase`) in the same transaction. `Conflict(Conflict::AlreadyProcessed)` after.
    async fn decide_bank_purchase(
        &self,
        purchase_id: i64,
        approve: bool,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Purchase>;
    /// `kcp_registered` → `approving`: only one caller wins; `None` for everyone else.
    async fn begin_approval(&self, ordr_idxx: &str, now: Millis) -> StoreResult<Option<Purchase>>;
    /// Settles an `approving` purchase (once): approved (credit in the same transaction, the
    /// `tno` unique), failed, amount mismatch, or unknown.
    async fn settle_approval(
        &self,
        purchase_id: i64,
        outcome: &snspmt_core::purchase::ApprovalOutcome,
        now: Millis,
    ) -> StoreResult<Purchase>;
    /// An operator's settlement (decided by `snspmt_core::purchase::operator_settlement`),
    /// applied while the purchase is still in its `from` status, with its audit row: `approved`
    /// credits once (`Conflict(DuplicateTno)` when the `tno` is another purchase's),
    /// `Conflict(AlreadyProcessed)` when someone moved it first.
    async fn settle_by_operator(
        &self,
        purchase_id: i64,
        settlement: snspmt_core::purchase::ApprovalSettlement,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Purchase>;
}

/// Packages of the catalogue.
///
/// # Example
///
/// ```
/// use snspmt_core::plan::Step;
/// use snspmt_core::Points;
/// use snspmt_store::{NewPackage, PackageStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let store = snspmt_store::SqliteStore::open_temporary()?;
/// # snspmt_store::Maintenance::migrate(&store, 0).await?;
/// # let audit = || snspmt_store::NewAudit {
/// #     actor: "admin-token".into(),
/// #     action: "example".into(),
/// #     target: None,
/// #     detail: "{}".into(),
/// # };
/// let step = Step { service_id: 1, quantity: 100, delay_minutes: Some(60), repeat: 3, name: "x".into() };
/// let starter = NewPackage {
///     name: "Starter".into(),
///     description: "300 likes over three hours".into(),
///     price: Points(2_500),
///     steps: vec![step],
///     is_active: true,
/// };
/// let package = store.create_package(starter, audit(), 1_000).await?;
/// assert_eq!(store.package(package.package_id).await?.map(|p| p.steps), Some(package.steps));
/// assert_eq!(store.list_packages(true, 0, 0).await?.total, 1);
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait PackageStore: Send + Sync {
    async fn create_package(&self, package: NewPackage, audit: NewAudit, now: Millis)
        -> StoreResult<Package>;
    async fn package(&self, package_id: i64) -> StoreResult<Option<Package>>;
    async fn list_packages(&self, active_only: bool, limit: i64, offset: i64) -> StoreResult<Page<Package>>;
    async fn update_package(
        &self,
        package_id: i64,
        package: NewPackage,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Package>;
}

/// Multi-part orders (packages, split delivery): each part one submission, run in order.
#[async_trait]
pub trait PartStore: Send + Sync {
    /// In one transaction: charge, insert the order and its parts. The first part is due at
    /// `start_at` (`None`: deferred until `start_parts`); the others wait for their turn.
    #[allow(clippy::too_many_arguments)]
    async fn place_multipart_order(
        &self,
        order: NewOrder,
        package_id: Option<i64>,
        split_days: Option<i64>,
        parts: Vec<snspmt_core::plan::Part>,
        start_at: Option<Millis>,
        key: Option<IdempotencyKey>,
        now: Millis,
    ) -> StoreResult<Idempotent<Order>>;
    /// Makes the first part of a deferred order due now; `false` if it had started already.
    async fn start_parts(&self, order_id: OrderId, now: Millis) -> StoreResult<bool>;
    async fn order_parts(&self, order_id: OrderId) -> StoreResult<Vec<OrderPart>>;
    /// Claims due parts (`submitting`), oldest due first, each for one caller only.
    async fn claim_due_parts(
        &self,
        now: Millis,
        limit: i64,
        kind: Option<PartKind>,
    ) -> StoreResult<Vec<ClaimedPart>>;
    /// Records how a part's submission ended (once), refunds a rejected part's share, makes
    /// the next part due after its delay, and updates the order's status.
    async fn settle_part_submission(
        &self,
        part_id: PartId,
        outcome: SubmissionOutcome,
        now: Millis,
    ) -> StoreResult<Order>;
    /// Parts claimed before `claimed_before` and never settled become `unknown` (never resent).
    async fn expire_part_submissions(&self, claimed_before: Millis, now: Millis)
        -> StoreResult<Vec<OrderId>>;
    /// Accepted parts to ask the upstream about, least recently checked first.
    async fn parts_to_sync(&self, limit: i64) -> StoreResult<Vec<PartSyncTarget>>;
    /// Applies the upstream's status to an accepted part; a terminal one settles (once) with
    /// its refund, and the order's status follows.
    async fn apply_part_status(
        &self,
        part_id: PartId,
        update: StatusUpdate,
        now: Millis,
    ) -> StoreResult<Option<Order>>;
    async fn touch_part_checks(&self, part_ids: &[PartId], now: Millis) -> StoreResult<()>;
    /// Records how several claimed part submissions ended, in one transaction (each as
    /// [`settle_part_submission`](PartStore::settle_part_submission) would): all or none.
    async fn settle_part_submissions(
        &self,
        outcomes: Vec<(PartId, SubmissionOutcome)>,
        now: Millis,
    ) -> StoreResult<Vec<Order>> {
        let mut settled = Vec::with_capacity(outcomes.len());
        for (part_id, outcome) in outcomes {
            settled.push(self.settle_part_submission(part_id, outcome, now).await?);
        }
        Ok(settled)
    }
    /// Applies the upstream's statuses of several parts (each as
    /// [`apply_part_status`](PartStore::apply_part_status) would) and marks `untouched` as
    /// checked, in one transaction: all or none.
    async fn apply_part_statuses(
        &self,
        updates: Vec<(PartId, StatusUpdate)>,
        untouched: Vec<PartId>,
        now: Millis,
    ) -> StoreResult<Vec<Option<Order>>> {
        let mut applied = Vec::with_capacity(updates.len());
        for (part_id, update) in updates {
            applied.push(self.apply_part_status(part_id, update, now).await?);
        }
        self.touch_part_checks(&untouched, now).await?;
        Ok(applied)
    }
    /// An operator settles an `unknown` part: it was accepted (`smm_order_id`), or it failed
    /// (`None`: its share is refunded). `Conflict(Conflict::InvalidTransition)` unless it is `unknown`.
    async fn resolve_part(
        &self,
        order_id: OrderId,
        part_index: i64,
        smm_order_id: Option<String>,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Order>;
    /// Makes due the parts whose turn has come but which were never made due (repair), and
    /// lists the parts stuck in `submitting` since before `claimed_before` (never resent).
    async fn requeue_parts(&self, claimed_before: Millis, now: Millis) -> StoreResult<(i64, Vec<OrderPart>)>;
}

/// Sign-in through identity providers (Kakao, Google) and the OAuth `state`s we issue.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// Finds or creates the account of a verified provider identity, in one transaction:
    /// the account already linked to `(provider, subject)`; else the account whose e-mail is
    /// `verified_email` when that account's own e-mail is verified too (then the identity is
    /// linked to it, unless that account has another identity of this provider); else a new
    /// account (`new_user`, with `verified_email`, marked verified, when no account has it; an
    /// address only claimed by an unverified account stays there, and the new account has
    /// none). Nothing else in a request can choose the account.
    async fn social_login(&self, login: SocialLogin, now: Millis) -> StoreResult<(User, SocialLink)>;
    /// Stores an issued OAuth `state` (by its hash) until `expires_at`; forgets expired ones.
    async fn create_oauth_state(
        &self,
        state_hash: &str,
        provider: &str,
        now: Millis,
        expires_at: Millis,
    ) -> StoreResult<()>;
    /// Uses up a state: `true` once, for an unexpired state of `provider` we issued.
    async fn consume_oauth_state(&self, state_hash: &str, provider: &str, now: Millis) -> StoreResult<bool>;
}

/// Notices (popups) and when they show.
///
/// # Example
///
/// ```
/// use snspmt_store::{NewNotice, NoticeStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let store = snspmt_store::SqliteStore::open_temporary()?;
/// # snspmt_store::Maintenance::migrate(&store, 0).await?;
/// # let audit = || snspmt_store::NewAudit {
/// #     actor: "admin-token".into(),
/// #     action: "example".into(),
/// #     target: None,
/// #     detail: "{}".into(),
/// # };
/// // Shown from 1,000 ms to 2,000 ms since the epoch.
/// let maintenance = NewNotice {
///     title: "Maintenance".into(),
///     content: "The panel pauses at 03:00.".into(),
///     image_url: None,
///     popup_type: "modal".into(),
///     is_active: true,
///     starts_at: Some(1_000),
///     ends_at: Some(2_000),
///     login_popup_image_url: None,
/// };
/// let notice = store.create_notice(maintenance, audit(), 500).await?;
/// assert!(store.active_notices(999).await?.is_empty());
/// assert_eq!(store.active_notices(1_500).await?, [notice]);
/// assert!(store.active_notices(2_000).await?.is_empty());
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait NoticeStore: Send + Sync {
    async fn create_notice(&self, notice: NewNotice, audit: NewAudit, now: Millis) -> StoreResult<Notice>;
    /// Replaces the editable fields. `NotFound` for an unknown notice.
    async fn update_notice(
        &self,
        notice_id: i64,
        notice: NewNotice,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Notice>;
    /// `NotFound` for an unknown notice.
    async fn delete_notice(&self, notice_id: i64, audit: NewAudit, now: Millis) -> StoreResult<()>;
    async fn notice(&self, notice_id: i64) -> StoreResult<Option<Notice>>;
    /// Every notice, newest first.
    async fn notices(&self, limit: i64, offset: i64) -> StoreResult<Page<Notice>>;
    /// Active notices whose window contains `now` (`starts_at <= now < ends_at`, an open end
    /// when unset), newest first.
    async fn active_notices(&self, now: Millis) -> StoreResult<Vec<Notice>>;
}

/// The blog.
#[async_trait]
pub trait BlogStore: Send + Sync {
    async fn create_post(&self, post: NewPost, audit: NewAudit, now: Millis) -> StoreResult<Post>;
    /// Replaces the editable fields (and the tags). `NotFound` for an unknown post.
    async fn update_post(
        &self,
        post_id: i64,
        post: NewPost,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Post>;
    /// `NotFound` for an unknown post.
    async fn delete_post(&self, post_id: i64, audit: NewAudit, now: Millis) -> StoreResult<()>;
    /// Any post, published or not (for operators).
    async fn blog_post(&self, post_id: i64) -> StoreResult<Option<Post>>;
    /// A published post, counting one view; `None` for an unknown or unpublished post.
    async fn view_post(&self, post_id: i64) -> StoreResult<Option<Post>>;
    async fn posts(&self, filter: PostFilter) -> StoreResult<Page<Post>>;
    /// Categories of published posts with their counts, by name.
    async fn blog_categories(&self) -> StoreResult<Vec<LabelCount>>;
    /// Tags of published posts with their counts, by name.
    async fn blog_tags(&self) -> StoreResult<Vec<LabelCount>>;
}

/// Figures for the admin dashboard.
///
/// # Example
///
/// ```
/// use snspmt_store::DashboardStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let store = snspmt_store::SqliteStore::open_temporary()?;
/// # snspmt_store::Maintenance::migrate(&store, 0).await?;
/// let stats = store.dashboard_stats(1_000, 0).await?;
/// assert_eq!((stats.total_users, stats.total_orders, stats.today_revenue), (0, 0, 0));
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait DashboardStore: Send + Sync {
    /// Totals, and orders and revenue since `today_start` and since `month_start`.
    async fn dashboard_stats(&self, today_start: Millis, month_start: Millis) -> StoreResult<DashboardStats>;
}

/// Coupons: the operator's definitions and users' one-use copies.
///
/// # Example
///
/// ```
/// use snspmt_core::referral::DiscountType;
/// use snspmt_core::Points;
/// use snspmt_store::{CouponStore, NewCoupon};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let store = snspmt_store::SqliteStore::open_temporary()?;
/// # snspmt_store::Maintenance::migrate(&store, 0).await?;
/// # let user = |id: &str| snspmt_store::NewUser {
/// #     user_id: id.into(),
/// #     email: Some(format!("{id}@example.com")),
/// #     name: id.into(),
/// #     display_name: id.into(),
/// #     password_hash: None,
/// # };
/// # snspmt_store::UserStore::create_user(&store, user("kim"), 0).await?;
/// # let audit = || snspmt_store::NewAudit {
/// #     actor: "admin-token".into(),
/// #     action: "example".into(),
/// #     target: None,
/// #     detail: "{}".into(),
/// # };
/// let welcome = NewCoupon {
///     code: "WELCOME".into(),
///     name: "10 % off".into(),
///     discount_type: DiscountType::Percentage,
///     discount_value: 10,
///     min_order_amount: Points(0),
///     valid_from: None,
///     valid_until: None,
///     max_uses: Some(100),
///     is_active: true,
/// };
/// let coupon = store.create_coupon(welcome, audit(), 1_000).await?;
/// let copy = store.add_coupon_by_code("kim", "WELCOME", 2_000).await?;
/// assert_eq!(copy.coupon_id, Some(coupon.coupon_id));
/// // One copy per user.
/// assert!(store.add_coupon_by_code("kim", "WELCOME", 3_000).await.is_err());
/// assert_eq!(store.user_coupons("kim", 0, 0).await?.rows, [copy]);
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait CouponStore: Send + Sync {
    /// `Conflict(Conflict::CouponCodeTaken)` when the code exists.
    async fn create_coupon(&self, coupon: NewCoupon, audit: NewAudit, now: Millis) -> StoreResult<Coupon>;
    async fn coupon(&self, coupon_id: i64) -> StoreResult<Option<Coupon>>;
    /// Newest first.
    async fn coupons(&self, limit: i64, offset: i64) -> StoreResult<Page<Coupon>>;
    /// Replaces the fields of a coupon (copies already handed out keep their terms).
    async fn update_coupon(
        &self,
        coupon_id: i64,
        coupon: NewCoupon,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Coupon>;
    /// Withdraws a coupon: its unused copies stop applying.
    async fn deactivate_coupon(&self, coupon_id: i64, audit: NewAudit, now: Millis) -> StoreResult<Coupon>;
    /// Gives `user_id` a copy of the coupon with this code, once, within `max_uses`:
    /// `Conflict("invalid_coupon" | "coupon_already_added" | "coupon_exhausted")`.
    async fn add_coupon_by_code(&self, user_id: &str, code: &str, now: Millis) -> StoreResult<UserCoupon>;
    async fn user_coupon(&self, id: i64) -> StoreResult<Option<UserCoupon>>;
    /// A user's copies, newest first.
    async fn user_coupons(&self, user_id: &str, limit: i64, offset: i64) -> StoreResult<Page<UserCoupon>>;
}

/// The referral programme: codes, referrals, commissions, withdrawals and payouts. A
/// referrer's balance (`earned − paid − reserved`) moves only as the core's
/// `referral::CommissionBook` decides, on the book row locked for the transaction, so it never
/// goes below zero.
///
/// # Example
///
/// ```
/// use snspmt_core::Bps;
/// use snspmt_store::ReferralStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let store = snspmt_store::SqliteStore::open_temporary()?;
/// # snspmt_store::Maintenance::migrate(&store, 0).await?;
/// # let user = |id: &str| snspmt_store::NewUser {
/// #     user_id: id.into(),
/// #     email: Some(format!("{id}@example.com")),
/// #     name: id.into(),
/// #     display_name: id.into(),
/// #     password_hash: None,
/// # };
/// # snspmt_store::UserStore::create_user(&store, user("kim"), 0).await?;
/// # let audit = || snspmt_store::NewAudit {
/// #     actor: "admin-token".into(),
/// #     action: "example".into(),
/// #     target: None,
/// #     detail: "{}".into(),
/// # };
/// # snspmt_store::UserStore::create_user(&store, user("lee"), 0).await?;
/// // The caller draws the code (`snspmt_core::referral::referral_code`).
/// let code = "REFABCDEFGH";
/// let kim = store.register_referrer("kim", code, Bps::DEFAULT_COMMISSION, audit(), 1_000).await?;
/// assert_eq!(kim.map(|r| r.code).as_deref(), Some(code));
/// assert_eq!(store.referrer_by_code(code).await?.map(|r| r.user_id).as_deref(), Some("kim"));
/// // The code is taken: another user draws another.
/// let lee = store.register_referrer("lee", code, Bps::DEFAULT_COMMISSION, audit(), 2_000).await?;
/// assert!(lee.is_none());
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait ReferralStore: Send + Sync {
    /// Makes `user_id` a referrer with `code`, or answers their existing code. `None` when
    /// `code` belongs to someone else already (draw another). Audited.
    async fn register_referrer(
        &self,
        user_id: &str,
        code: &str,
        rate: snspmt_core::Bps,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Option<Referrer>>;
    async fn referrer(&self, user_id: &str) -> StoreResult<Option<Referrer>>;
    async fn referrer_by_code(&self, code: &str) -> StoreResult<Option<Referrer>>;
    /// Newest first.
    async fn referrers(&self, limit: i64, offset: i64) -> StoreResult<Page<Referrer>>;
    /// `user_id` becomes referred by the owner of `code` and receives the referral coupon
    /// (`coupon` terms, owner and id filled in here), in one transaction. Repeating the same
    /// code answers the same coupon. `Conflict("invalid_code" | "self_referral" |
    /// "already_referred")`.
    async fn use_referral_code(
        &self,
        user_id: &str,
        code: &str,
        coupon: UserCoupon,
        now: Millis,
    ) -> StoreResult<UserCoupon>;
    /// Changes a referrer's rate for later orders. Audited. `NotFound` for a non-referrer.
    async fn set_commission_rate(
        &self,
        user_id: &str,
        rate: snspmt_core::Bps,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Referrer>;
    /// A referrer's commissions, newest first.
    async fn commissions(&self, referrer: &str, limit: i64, offset: i64) -> StoreResult<Page<Commission>>;
    /// A referrer's balance movements, newest first.
    async fn commission_entries(
        &self,
        user_id: &str,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Page<CommissionEntry>>;
    /// Counts for a referrer; "this month" starts at `month_start`.
    async fn referral_stats(&self, referrer: &str, month_start: Millis) -> StoreResult<ReferralStats>;
    /// Referred users (of one referrer, or all), newest first.
    async fn referrals(&self, referrer: Option<&str>, limit: i64, offset: i64)
        -> StoreResult<Page<Referral>>;
    /// Reserves `amount` of the balance and records the request, in one transaction.
    /// `Conflict(Conflict::InsufficientCommission)` when the balance is short (nothing changes).
    async fn request_withdrawal(
        &self,
        withdrawal: NewWithdrawal,
        key: Option<IdempotencyKey>,
        now: Millis,
    ) -> StoreResult<Idempotent<Withdrawal>>;
    async fn withdrawals(&self, filter: WithdrawalFilter) -> StoreResult<Page<Withdrawal>>;
    /// Decides a `requested` withdrawal once: approval pays the reserved amount (a payout),
    /// rejection releases it. Audited. `Conflict(Conflict::AlreadyProcessed)` after.
    async fn decide_withdrawal(
        &self,
        withdrawal_id: i64,
        approve: bool,
        notes: Option<String>,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Withdrawal>;
    /// A manual payout of `amount` (> 0, ≤ balance). Audited.
    /// `Conflict(Conflict::InsufficientCommission)` when the balance is short.
    async fn pay_commission(
        &self,
        user_id: &str,
        amount: Points,
        notes: Option<String>,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Payout>;
    /// Payouts (of one user, or all), newest first.
    async fn payouts(&self, user_id: Option<&str>, limit: i64, offset: i64) -> StoreResult<Page<Payout>>;
}

// ---- api keys (issue 14) ----

/// Reseller API keys, kept as the SHA-256 (hex) of the key, and the operator's per-user switch
/// of the reseller API.
///
/// # Example
///
/// ```
/// use snspmt_store::{ApiKeyStore, NewApiKey};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let store = snspmt_store::SqliteStore::open_temporary()?;
/// # snspmt_store::Maintenance::migrate(&store, 0).await?;
/// # let user = |id: &str| snspmt_store::NewUser {
/// #     user_id: id.into(),
/// #     email: Some(format!("{id}@example.com")),
/// #     name: id.into(),
/// #     display_name: id.into(),
/// #     password_hash: None,
/// # };
/// # snspmt_store::UserStore::create_user(&store, user("kim"), 0).await?;
/// let new_key = NewApiKey {
///     key_id: "k1".into(),
///     user_id: "kim".into(),
///     key_hash: "sha256-of-the-key".into(),
///     prefix: "snsp_AbCdEfG".into(),
///     name: "reseller".into(),
/// };
/// // At most 5 live keys per user.
/// let key = store.create_api_key(new_key, 5, 1_000).await?.ok_or("under the cap")?;
/// let owner = store.api_key_owner("sha256-of-the-key").await?.ok_or("a live key")?;
/// assert_eq!((owner.key, owner.user.user_id.as_str()), (key, "kim"));
/// store.revoke_api_key("k1", Some("kim"), None, 2_000).await?.ok_or("revoked")?;
/// assert!(store.api_key_owner("sha256-of-the-key").await?.is_none());
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Stores a new key for its user, unless the user has `max_live` live keys already
    /// (`None`). `NotFound` for an unknown user.
    async fn create_api_key(&self, key: NewApiKey, max_live: i64, now: Millis)
        -> StoreResult<Option<ApiKey>>;
    /// A user's live (unrevoked) keys, oldest first.
    async fn api_keys(&self, user_id: &str) -> StoreResult<Vec<ApiKey>>;
    /// Gives a live key of `user_id` a new hash and prefix (same id): the old key stops
    /// working at once. `None` when `user_id` has no such live key.
    async fn rotate_api_key(
        &self,
        user_id: &str,
        key_id: &str,
        key_hash: &str,
        prefix: &str,
        now: Millis,
    ) -> StoreResult<Option<ApiKey>>;
    /// Revokes a live key: one of `owner`'s, or (`owner` `None`, an operator) anyone's, with
    /// the `audit` row in the same transaction. `None` when there is no such live key.
    async fn revoke_api_key(
        &self,
        key_id: &str,
        owner: Option<&str>,
        audit: Option<NewAudit>,
        now: Millis,
    ) -> StoreResult<Option<ApiKey>>;
    /// The owner of the live key whose hash is `key_hash`.
    async fn api_key_owner(&self, key_hash: &str) -> StoreResult<Option<ApiKeyOwner>>;
    /// Records that a key was used at `now`.
    async fn touch_api_key(&self, key_id: &str, now: Millis) -> StoreResult<()>;
    /// Turns the reseller API on or off for a user, audited. `NotFound` for an unknown user.
    async fn set_api_access(
        &self,
        user_id: &str,
        enabled: bool,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<()>;
}

// ---- refills and cancels (issue 14) ----

/// Refill and cancel requests of orders already at the upstream. The rules are the core's
/// (`snspmt_core::refill`); no operation here moves money.
#[async_trait]
pub trait RefillStore: Send + Sync {
    /// With the order locked: when `may_refill` allows it under `policy` at `now`, records a
    /// `requested` refill (the caller forwards it and feeds the answer to
    /// [`RefillStore::update_refill`]); otherwise answers the refusal and writes nothing.
    /// `NotFound` for an unknown order.
    async fn request_refill(
        &self,
        order_id: OrderId,
        policy: snspmt_core::refill::RefillPolicy,
        now: Millis,
    ) -> StoreResult<Result<Refill, snspmt_core::refill::RefillRefusal>>;
    /// Feeds an input (the upstream's answer, or its status) to the refill's machine and writes
    /// the next state. `Conflict(InvalidTransition)` when the refill does not take it.
    async fn update_refill(
        &self,
        refill_id: RefillId,
        input: snspmt_core::refill::RefillInput,
        now: Millis,
    ) -> StoreResult<Refill>;
    /// The status sync asked about a refill and learnt nothing new (or `error`).
    async fn record_refill_check(
        &self,
        refill_id: RefillId,
        error: Option<String>,
        now: Millis,
    ) -> StoreResult<()>;
    async fn refill(&self, refill_id: RefillId) -> StoreResult<Option<Refill>>;
    /// An order's refills, oldest first.
    async fn order_refills(&self, order_id: OrderId) -> StoreResult<Vec<Refill>>;
    /// Pending and in-progress refills the upstream knows, least recently checked first.
    async fn refills_to_sync(&self, limit: i64) -> StoreResult<Vec<Refill>>;
    /// The owner's cancel, with the order locked, as `may_cancel` routes it: an order not at
    /// the upstream yet is canceled and refunded here (as [`OrderStore::cancel_order`]); one
    /// running there gets a `requested` cancel for the caller to forward (no money moves);
    /// otherwise the refusal, and nothing is written. `NotFound` for an unknown order.
    async fn owner_cancel(
        &self,
        order_id: OrderId,
        now: Millis,
    ) -> StoreResult<Result<OwnerCancel, snspmt_core::refill::CancelRefusal>>;
    /// Records the upstream's answer to a forwarded cancel: accepted (`error` is `None`) or
    /// refused. `Conflict(AlreadyProcessed)` when it was answered already.
    async fn settle_cancel(
        &self,
        cancel_id: CancelId,
        error: Option<String>,
        now: Millis,
    ) -> StoreResult<CancelRequest>;
    /// An order's forwarded cancels, oldest first.
    async fn order_cancels(&self, order_id: OrderId) -> StoreResult<Vec<CancelRequest>>;
}

// ---- per-user rates and mass orders ----

/// Per-user rates (an operator's discount and per-service prices) and the batches of mass
/// orders.
///
/// # Example
///
/// ```
/// use snspmt_core::Bps;
/// use snspmt_store::RateStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let store = snspmt_store::SqliteStore::open_temporary()?;
/// # snspmt_store::Maintenance::migrate(&store, 0).await?;
/// # let user = |id: &str| snspmt_store::NewUser {
/// #     user_id: id.into(),
/// #     email: Some(format!("{id}@example.com")),
/// #     name: id.into(),
/// #     display_name: id.into(),
/// #     password_hash: None,
/// # };
/// # snspmt_store::UserStore::create_user(&store, user("kim"), 0).await?;
/// # let audit = || snspmt_store::NewAudit {
/// #     actor: "admin-token".into(),
/// #     action: "example".into(),
/// #     target: None,
/// #     detail: "{}".into(),
/// # };
/// let rates = store.set_user_discount("kim", Bps(1_000), audit(), 1_000).await?;
/// assert_eq!((rates.discount, rates.service_prices.len()), (Bps(1_000), 0));
/// assert_eq!(store.user_rates("kim").await?, Some(rates));
/// assert_eq!(store.user_rates("nobody").await?, None);
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait RateStore: Send + Sync {
    /// The user's discount and per-service prices; `None` for an unknown user.
    async fn user_rates(&self, user_id: &str) -> StoreResult<Option<UserRates>>;
    /// Sets the user's discount (0..=10000 bps), audited. `NotFound` for an unknown user.
    async fn set_user_discount(
        &self,
        user_id: &str,
        discount: snspmt_core::Bps,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<UserRates>;
    /// Sets the user's own price of a service (≥ 0), audited. `NotFound` for an unknown user
    /// or service.
    async fn set_service_price(
        &self,
        user_id: &str,
        service_id: i64,
        price_per_1000: Points,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<UserRates>;
    /// Removes the user's own price of a service, audited. `NotFound` when there was none.
    async fn delete_service_price(
        &self,
        user_id: &str,
        service_id: i64,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<UserRates>;
    /// Claims the batch of `key` (its `scope` is not stored: batches are their own table) in a
    /// transaction of its own: new, resumed when an earlier claim is older than
    /// `lease_before` and never answered, in flight, or done with its stored answer. The same
    /// key with another body is `IdempotencyKeyReused`.
    async fn claim_order_batch(
        &self,
        key: &IdempotencyKey,
        lease_before: Millis,
        now: Millis,
    ) -> StoreResult<BatchClaim>;
    /// Stores the answer of a claimed batch (once; a second answer is ignored).
    async fn finish_order_batch(&self, key: &IdempotencyKey, response: &str, now: Millis) -> StoreResult<()>;
    /// Forgets an unanswered claim (the batch was refused before anything was placed).
    async fn release_order_batch(&self, key: &IdempotencyKey) -> StoreResult<()>;
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
/// use snspmt_store::{DatabaseUrl, Maintenance, UserStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), snspmt_store::StoreError> {
/// let store = snspmt_store::open(&DatabaseUrl::parse("sqlite::memory:")?).await?;
/// store.migrate(0).await?;
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

/// The error of a `DATABASE_URL` whose backend was left out of this build.
#[cfg(not(all(feature = "sqlite", feature = "postgres")))]
fn not_compiled_in(backend: &str, feature: &str) -> StoreError {
    StoreError::Backend(format!(
        "DATABASE_URL names a {backend} database, but this build of snspmt-store has no {backend} \
         backend: build it with the `{feature}` feature"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let e = open(&url).await.err().expect("refused");
        assert!(e.to_string().contains("build it with the `postgres` feature"), "{e}");
    }

    #[cfg(not(feature = "sqlite"))]
    #[tokio::test]
    async fn sqlite_url_without_the_sqlite_feature() {
        let e = open(&DatabaseUrl::SqliteMemory).await.err().expect("refused");
        assert!(e.to_string().contains("build it with the `sqlite` feature"), "{e}");
    }
}
