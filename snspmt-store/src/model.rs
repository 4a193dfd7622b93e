//! The rows the store reads and writes, as domain values.

use serde::{Deserialize, Serialize};
use snspmt_core::{LedgerKind, Points};

/// A moment: the core's instant, milliseconds since the Unix epoch (UTC). Both dialects store
/// it as a 64-bit integer so that queries and comparisons are the same on each.
pub use snspmt_core::Millis;

/// Declares integer id newtypes: a bare number in JSON, bound and read as `i64` by both drivers
/// (`sql.rs`).
macro_rules! id_types {
    ($($(#[$doc:meta])* $name:ident;)+) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { self.0.fmt(f) }
        }
    )+};
}

id_types! {
    /// An order's id.
    OrderId;
    /// A part's id (of a multi-part order).
    PartId;
    /// A submission job's id.
    JobId;
    /// A point purchase's id.
    PurchaseId;
    /// A commission's id.
    CommissionId;
    /// A withdrawal request's id.
    WithdrawalId;
    /// A payout's id (an approved withdrawal or a manual payment).
    PayoutId;
    /// A refill request's id (ours, not the upstream's).
    RefillId;
    /// A forwarded cancel's id.
    CancelId;
}

/// Declares a row type and, after it, the type of what creating one takes: the fields marked
/// `new`, in the same order and with the same docs.
macro_rules! with_new {
    ($(#[$a:meta])* pub struct $name:ident { $($body:tt)* } $(#[$na:meta])* pub struct $new:ident;) => {
        with_new!(@row $(#[$a])* pub struct $name { $($body)* });
        with_new!(@new [$(#[$na])* pub struct $new] [] $($body)*);
    };
    (@row $(#[$a:meta])* pub struct $name:ident { $($(#[$fa:meta])* $(new)? pub $f:ident: $t:ty,)* }) => {
        $(#[$a])* pub struct $name { $($(#[$fa])* pub $f: $t,)* }
    };
    (@new [$($head:tt)*] [$($done:tt)*]) => { $($head)* { $($done)* } };
    (@new $head:tt [$($done:tt)*] $(#[$fa:meta])* new pub $f:ident: $t:ty, $($rest:tt)*) => {
        with_new!(@new $head [$($done)* $(#[$fa])* pub $f: $t,] $($rest)*);
    };
    (@new $head:tt $done:tt $(#[$fa:meta])* pub $f:ident: $t:ty, $($rest:tt)*) => {
        with_new!(@new $head $done $($rest)*);
    };
}

/// An account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub user_id: String,
    pub email: Option<String>,
    pub name: String,
    pub display_name: String,
    pub is_admin: bool,
    pub points: Points,
    pub has_password: bool,
    pub created_at: Millis,
    /// Whether the e-mail was proven (a mailed token, or a provider's verified address).
    pub email_verified: bool,
    /// The user's own referral code, when they are a referrer.
    #[serde(default)]
    pub referral_code: Option<String>,
}

/// What registration stores.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub user_id: String,
    /// Already normalised to lower case.
    pub email: Option<String>,
    pub name: String,
    pub display_name: String,
    /// An argon2id PHC string; never a password.
    pub password_hash: Option<String>,
}

/// A user with the stored password hash, for verifying a login.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: Option<String>,
}

/// An e-mail verification token as stored: its SHA-256, whose address it proves, until when.
#[derive(Debug, Clone)]
pub struct EmailToken {
    pub token_hash: String,
    pub user_id: String,
    pub email: String,
    pub created_at: Millis,
    pub expires_at: Millis,
}

/// A change of profile fields by an operator; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProfilePatch {
    pub email: Option<Option<String>>,
    pub name: Option<String>,
    pub display_name: Option<String>,
    pub is_admin: Option<bool>,
}

impl ProfilePatch {
    pub fn is_empty(&self) -> bool {
        self.email.is_none() && self.name.is_none() && self.display_name.is_none() && self.is_admin.is_none()
    }
}

/// One row of the append-only points ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub id: i64,
    pub user_id: String,
    pub kind: LedgerKind,
    /// Signed: positive credits, negative debits.
    pub amount: Points,
    pub balance_after: Points,
    /// The purchase, order or request this entry belongs to.
    pub reference: Option<String>,
    pub description: String,
    pub created_at: Millis,
}

/// A balance change to post: one ledger row, and the balance moved in the same transaction.
#[derive(Debug, Clone)]
pub struct Posting {
    pub user_id: String,
    pub kind: LedgerKind,
    /// Signed amount; the posting is refused if the balance would go below zero.
    pub amount: Points,
    pub reference: Option<String>,
    pub description: String,
    /// A unique reference of the business event (`purchase:42`, `order:7:refund`): posting the
    /// same event twice is refused by the database, so no event is ever paid twice.
    pub event_ref: Option<String>,
    /// Recorded in the admin audit log in the same transaction (admin adjustments).
    pub audit: Option<NewAudit>,
}

impl Posting {
    /// The ledger row of this posting, appended as `id` with the balance it left.
    pub(crate) fn entry(&self, id: i64, balance_after: i64, now: Millis) -> LedgerEntry {
        LedgerEntry {
            id,
            user_id: self.user_id.clone(),
            kind: self.kind,
            amount: self.amount,
            balance_after: Points(balance_after),
            reference: self.reference.clone(),
            description: self.description.clone(),
            created_at: now,
        }
    }
}

/// Which ledger rows to list.
#[derive(Debug, Clone, Default)]
pub struct LedgerFilter {
    pub user_id: Option<String>,
    pub kind: Option<LedgerKind>,
    /// Rows at most; `0` (the default) means [`DEFAULT_LIMIT`].
    pub limit: i64,
    pub offset: i64,
}

/// A client's `Idempotency-Key` on a money-moving request.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// The user the key belongs to: keys of different users never collide.
    pub user_id: String,
    /// The operation (`"points.deduct"`): the same key on another operation is another key.
    pub scope: &'static str,
    pub key: String,
    /// SHA-256 (hex) of the request body; the same key with another body is refused.
    pub request_hash: String,
}

impl IdempotencyKey {
    /// The key `key` of `user_id` on operation `scope`, for a request whose body is `body`
    /// (its SHA-256 becomes [`request_hash`](IdempotencyKey::request_hash)).
    ///
    /// ```
    /// use snspmt_store::IdempotencyKey;
    ///
    /// let a = IdempotencyKey::new("alice", "points.deduct", "k1", br#"{"amount":300}"#);
    /// let b = IdempotencyKey::new("alice", "points.deduct", "k1", br#"{"amount":301}"#);
    /// assert_eq!(a.request_hash.len(), 64);
    /// assert_ne!(a.request_hash, b.request_hash, "another body is another request");
    /// ```
    pub fn new(user_id: &str, scope: &'static str, key: &str, body: &[u8]) -> IdempotencyKey {
        use sha2::Digest;
        let request_hash = snspmt_core::lower_hex(&sha2::Sha256::digest(body));
        IdempotencyKey { user_id: user_id.to_owned(), scope, key: key.to_owned(), request_hash }
    }
}

/// The outcome of an idempotent operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Idempotent<T> {
    /// The operation ran now.
    Fresh(T),
    /// The key was seen before: this is the first run's result, and nothing ran again.
    Replay(T),
}

impl<T> Idempotent<T> {
    pub fn into_inner(self) -> T {
        match self {
            Idempotent::Fresh(t) | Idempotent::Replay(t) => t,
        }
    }

    pub fn is_replay(&self) -> bool {
        matches!(self, Idempotent::Replay(_))
    }
}

/// An admin action to record.
#[derive(Debug, Clone)]
pub struct NewAudit {
    /// `"admin-token"` or `"user:<id>"`.
    pub actor: String,
    /// `"users.update"`, `"points.adjust"`, `"database.migrate"`, …
    pub action: String,
    pub target: Option<String>,
    /// JSON text with the details (never secrets).
    pub detail: String,
}

/// A recorded admin action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: String,
    pub created_at: Millis,
}

/// A page of rows and how many there are in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub rows: Vec<T>,
    pub total: i64,
}

/// What `migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    pub applied: Vec<String>,
    pub version: i64,
}

/// The rows a list returns when its filter's `limit` is left at `0`.
pub const DEFAULT_LIMIT: i64 = 50;

with_new! {
    /// A catalogue service.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Service {
        pub service_id: i64,
        new pub provider_service_id: String,
        new pub name: String,
        new pub category: String,
        new pub platform: String,
        /// The upstream type, as `snspmt_core::upstream::smm::ServiceType::as_str` spells it.
        new pub service_type: String,
        new pub price_per_1000: Points,
        new pub min_quantity: i64,
        new pub max_quantity: i64,
        new pub dripfeed: bool,
        new pub refill: bool,
        new pub cancel: bool,
        new pub is_active: bool,
        new pub description: String,
        pub created_at: Millis,
        pub updated_at: Millis,
    }

    /// A service to create (or, by `provider_service_id`, to update on import).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct NewService;
}

/// How many services an import created and changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportCounts {
    pub inserted: i64,
    pub updated: i64,
}

/// An order as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: OrderId,
    pub user_id: String,
    pub service_id: Option<i64>,
    pub service_name: String,
    pub link: String,
    /// Per run for drip-feed orders.
    pub quantity: i64,
    pub runs: Option<i64>,
    pub interval_minutes: Option<i64>,
    pub comments: Option<String>,
    pub price: Points,
    pub discount_amount: Points,
    pub final_price: Points,
    pub commission_amount: Points,
    pub status: snspmt_core::order::OrderStatus,
    pub smm_panel_order_id: Option<String>,
    pub start_count: Option<i64>,
    pub remains: Option<i64>,
    pub charge: Option<String>,
    pub refunded_amount: Points,
    pub last_status_check: Option<Millis>,
    pub error: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// The customer's chosen time, for scheduled orders.
    pub scheduled_at: Option<Millis>,
    /// The package ordered, for a package order.
    #[serde(default)]
    pub package_id: Option<i64>,
    /// Days of a split delivery.
    #[serde(default)]
    pub split_days: Option<i64>,
    /// Upstream submissions of a package or split order (its parts); 0 for a single order.
    #[serde(default)]
    pub total_parts: i64,
    /// The package's steps as the catalogue defines them now (empty unless a package order);
    /// the parts the order runs are its own (`OrderPart`), fixed when it was placed.
    #[serde(default)]
    pub package_steps: Vec<snspmt_core::plan::Step>,
    /// The service type's own parameters (`usernames`, `answer_number`, …), as placed; empty
    /// for the types that take none. Comments stay in [`Order::comments`].
    #[serde(default)]
    pub params: snspmt_core::upstream::smm::OrderParams,
}

impl Order {
    /// Units ordered in all: `quantity × runs`.
    pub fn total_quantity(&self) -> u64 {
        snspmt_core::order::total_quantity(self.quantity, self.runs)
    }
}

/// What `place_order` stores: the order, its charge and its submission job, in one
/// transaction.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub user_id: String,
    pub service_id: i64,
    pub service_name: String,
    pub link: String,
    pub quantity: i64,
    pub runs: Option<i64>,
    pub interval_minutes: Option<i64>,
    pub comments: Option<String>,
    pub price: Points,
    pub discount_amount: Points,
    pub final_price: Points,
    /// When the submission is due (now, or the scheduled time).
    pub due_at: Millis,
    pub status: snspmt_core::order::OrderStatus,
    pub scheduled_at: Option<Millis>,
    /// The caller's coupon copy (`UserCoupon::id`) the discount came from: marked used in the
    /// order's transaction, or the whole order is refused (`Conflict(Conflict::InvalidCoupon)`).
    pub coupon_id: Option<i64>,
    /// The service type's own parameters, checked (`smm::check_params`); empty for none.
    pub params: snspmt_core::upstream::smm::OrderParams,
}

/// A submission job a worker claimed (now `submitting`), with what the upstream `add` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    pub job_id: JobId,
    pub order_id: OrderId,
    pub attempts: i64,
    pub provider_service_id: String,
    pub service_type: String,
    pub link: String,
    pub quantity: i64,
    pub runs: Option<i64>,
    pub interval_minutes: Option<i64>,
    pub comments: Option<String>,
    /// The order's type parameters, sent with it.
    pub params: snspmt_core::upstream::smm::OrderParams,
}

/// How a submission ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmissionOutcome {
    /// The upstream took it: `in_progress`.
    Accepted { smm_order_id: String },
    /// Refused for good: `failed`, refunded in full.
    Rejected { message: String },
    /// Not taken on its `attempts`-th try (nothing sent, HTTP 429, a refusal that may pass):
    /// back to `pending`, due again when the core says.
    NotAccepted { message: String, why: snspmt_core::order::NotAccepted, attempts: u32 },
    /// Maybe taken: `unknown`, never resent automatically.
    Unknown { message: String },
}

/// An order to ask the upstream about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncTarget {
    pub order_id: OrderId,
    pub smm_order_id: String,
    /// What the core needs to read the panel's answer: the price paid and the units in all.
    pub final_price: snspmt_core::Points,
    pub total_quantity: u64,
}

/// What the upstream said of an order, settled by the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    pub settlement: snspmt_core::order::Settlement,
    pub start_count: Option<i64>,
    pub remains: Option<i64>,
    pub charge: Option<String>,
}

/// Which orders an admin list shows.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub user_id: Option<String>,
    pub status: Option<snspmt_core::order::OrderStatus>,
    /// Rows at most; `0` (the default) means [`DEFAULT_LIMIT`].
    pub limit: i64,
    pub offset: i64,
}

with_new! {
    /// A purchase of points.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Purchase {
        pub purchase_id: PurchaseId,
        new pub user_id: String,
        new pub method: snspmt_core::purchase::PurchaseMethod,
        /// Points bought.
        new pub amount: Points,
        /// Won paid.
        new pub price: snspmt_core::Won,
        pub status: snspmt_core::purchase::PurchaseStatus,
        new pub buyer_name: Option<String>,
        new pub bank_info: Option<String>,
        new pub ordr_idxx: Option<String>,
        new pub good_name: Option<String>,
        new pub pay_method: Option<String>,
        pub approval_key: Option<String>,
        pub pay_url: Option<String>,
        pub trace_no: Option<String>,
        pub tno: Option<String>,
        pub res_cd: Option<String>,
        pub res_msg: Option<String>,
        pub approved_amount: Option<i64>,
        pub decided_by: Option<String>,
        pub created_at: Millis,
        pub updated_at: Millis,
        pub approving_at: Option<Millis>,
        pub approved_at: Option<Millis>,
        /// The buyer's account e-mail (read with the purchase, not stored on it).
        #[serde(default)]
        pub email: Option<String>,
    }

    /// A purchase to record: a bank transfer (`pending`) or a KCP attempt (`kcp_registered`).
    #[derive(Debug, Clone)]
    pub struct NewPurchase;
}

/// Which purchases to list.
#[derive(Debug, Clone, Default)]
pub struct PurchaseFilter {
    pub user_id: Option<String>,
    pub status: Option<snspmt_core::purchase::PurchaseStatus>,
    pub method: Option<snspmt_core::purchase::PurchaseMethod>,
    /// Only those an operator must look at: `amount_mismatch`, `approval_unknown`, and
    /// `approving` since before this moment.
    pub attention_before: Option<Millis>,
    /// Rows at most; `0` (the default) means [`DEFAULT_LIMIT`].
    pub limit: i64,
    pub offset: i64,
}

/// A `LIKE` pattern that finds `search` anywhere, with `%`, `_` and `\\` taken literally.
pub(crate) fn like_pattern(search: Option<&str>) -> Option<String> {
    search.filter(|s| !s.is_empty()).map(|s| {
        let escaped = s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        format!("%{escaped}%")
    })
}

/// What an operator watches: work waiting, work in doubt, and the ledger by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpsCounts {
    pub due_jobs: i64,
    pub submitting_jobs: i64,
    pub unknown_orders: i64,
    pub purchases_needing_attention: i64,
    /// (kind, sum of amounts, rows)
    pub ledger: Vec<(String, i64, i64)>,
}

with_new! {
    /// A multi-step product of the catalogue.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Package {
        pub package_id: i64,
        new pub name: String,
        new pub description: String,
        new pub price: Points,
        new pub steps: Vec<snspmt_core::plan::Step>,
        new pub is_active: bool,
        pub created_at: Millis,
        pub updated_at: Millis,
    }

    /// A package to create or replace.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct NewPackage;
}

/// Which multi-part orders a runner takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    Package,
    Split,
}

/// One part of a multi-part order, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPart {
    pub part_id: PartId,
    pub order_id: OrderId,
    pub part_index: i64,
    pub step_index: i64,
    pub repeat_index: i64,
    pub name: String,
    pub service_id: i64,
    pub quantity: i64,
    pub share: Points,
    pub delay_minutes: i64,
    pub state: snspmt_core::plan::Stage,
    pub due_at: Option<Millis>,
    pub smm_order_id: Option<String>,
    pub upstream_status: Option<String>,
    pub remains: Option<i64>,
    pub refunded: Points,
    /// How it ended: `completed`, `refunded`.
    pub outcome: Option<String>,
    pub settled_at: Option<Millis>,
    pub last_error: Option<String>,
}

impl OrderPart {
    /// Where the part is, as the core's plan sees it.
    pub fn run_state(&self) -> snspmt_core::plan::PartState {
        use snspmt_core::plan::{PartState, Stage};
        let at = self.settled_at.unwrap_or_default();
        match self.state {
            Stage::Waiting => PartState::Waiting,
            Stage::Due => PartState::Due { at: self.due_at.unwrap_or_default() },
            Stage::Submitting => PartState::Submitting,
            Stage::Accepted => PartState::Accepted { at },
            Stage::Unknown => PartState::Unknown { at },
            Stage::Ended => PartState::Ended {
                refunded: self.refunded,
                completed: self.outcome.as_deref() == Some("completed"),
            },
        }
    }
}

/// A part a worker claimed (now `submitting`), with what `add` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedPart {
    pub part_id: PartId,
    pub order_id: OrderId,
    pub attempts: i64,
    pub provider_service_id: String,
    pub service_type: String,
    pub link: String,
    pub quantity: i64,
}

/// A part to ask the upstream about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartSyncTarget {
    pub part_id: PartId,
    pub order_id: OrderId,
    pub smm_order_id: String,
    pub share: Points,
    pub quantity: i64,
}

/// A sign-in through an identity provider, already verified with the provider.
#[derive(Debug, Clone)]
pub struct SocialLogin {
    /// `"kakao"` or `"google"`.
    pub provider: &'static str,
    /// The provider's stable id of the person (Kakao `id`, Google `sub`).
    pub subject: String,
    /// An e-mail the provider says is verified (lower case), or `None`. Only a verified
    /// e-mail may link the identity to an existing account.
    pub verified_email: Option<String>,
    /// The account to create when neither the identity nor the e-mail is known. Its `email`
    /// is ignored: the store uses `verified_email` when that address is free.
    pub new_user: NewUser,
}

/// How a social login found its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocialLink {
    /// The identity was known.
    Known,
    /// The identity was new and linked to the account of its verified e-mail.
    LinkedByEmail,
    /// A new account was created for the identity.
    Created,
}

/// A notice (popup) shown to visitors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub notice_id: i64,
    pub title: String,
    pub content: String,
    pub image_url: Option<String>,
    pub popup_type: String,
    pub is_active: bool,
    pub starts_at: Option<Millis>,
    pub ends_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// The image of a `login` popup (the original client's field).
    #[serde(default)]
    pub login_popup_image_url: Option<String>,
}

/// The editable fields of a notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotice {
    pub title: String,
    pub content: String,
    pub image_url: Option<String>,
    pub popup_type: String,
    pub is_active: bool,
    pub starts_at: Option<Millis>,
    pub ends_at: Option<Millis>,
    pub login_popup_image_url: Option<String>,
}

with_new! {
    /// A blog post.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Post {
        pub post_id: i64,
        new pub title: String,
        new pub content: String,
        new pub excerpt: String,
        new pub category: String,
        /// Distinct, non-empty.
        new pub tags: Vec<String>,
        new pub thumbnail_url: Option<String>,
        new pub is_published: bool,
        pub view_count: i64,
        pub created_at: Millis,
        pub updated_at: Millis,
        /// When it was first published.
        pub published_at: Option<Millis>,
    }

    /// The editable fields of a post.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct NewPost;
}

/// Which posts to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct PostFilter {
    pub published_only: bool,
    /// Found in the title, excerpt or content.
    pub search: Option<String>,
    pub category: Option<String>,
    pub tag: Option<String>,
    /// Rows at most; `0` (the default) means [`DEFAULT_LIMIT`].
    pub limit: i64,
    pub offset: i64,
}

/// A category or tag and how many published posts carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelCount {
    pub name: String,
    pub count: i64,
}

/// The admin dashboard's figures. Revenue is what orders charged (ledger `order_charge`)
/// minus what they refunded (ledger `order_refund`), in points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DashboardStats {
    pub total_users: i64,
    pub total_orders: i64,
    pub total_revenue: i64,
    pub pending_purchases: i64,
    pub today_orders: i64,
    pub today_revenue: i64,
    pub monthly_sales: i64,
}

/// A referrer: their code, commission rate and commission book (§11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referrer {
    pub user_id: String,
    pub email: Option<String>,
    pub code: String,
    /// Applies to orders placed from now on; each commission keeps the rate of its order.
    pub commission_rate: snspmt_core::Bps,
    pub is_active: bool,
    pub earned: Points,
    pub paid: Points,
    pub reserved: Points,
    /// How many users used the code.
    pub referral_count: i64,
    pub created_at: Millis,
    /// The referrer's account name.
    #[serde(default)]
    pub name: String,
}

impl Referrer {
    pub fn book(&self) -> snspmt_core::referral::CommissionBook {
        snspmt_core::referral::CommissionBook {
            earned: self.earned,
            paid: self.paid,
            reserved: self.reserved,
        }
    }

    /// `earned − paid − reserved`.
    pub fn balance(&self) -> Points {
        self.book().balance().unwrap_or(Points::ZERO)
    }
}

with_new! {
    /// A coupon an operator defines; users get copies of it by its code.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Coupon {
        pub coupon_id: i64,
        new pub code: String,
        new pub name: String,
        new pub discount_type: snspmt_core::referral::DiscountType,
        /// Percent (1..=100) or points, by `discount_type`.
        new pub discount_value: i64,
        new pub min_order_amount: Points,
        new pub valid_from: Option<Millis>,
        new pub valid_until: Option<Millis>,
        /// How many copies may be handed out; `None` is unlimited.
        new pub max_uses: Option<i64>,
        pub issued_count: i64,
        new pub is_active: bool,
        pub created_at: Millis,
        pub updated_at: Millis,
    }

    /// A coupon to create or the new fields of one.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct NewCoupon;
}

/// A user's own copy of a coupon: one use. Its terms are copied when it is handed out; the
/// operator can still withdraw the coupon it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCoupon {
    pub id: i64,
    pub user_id: String,
    /// The coupon it is a copy of; `None` for the referral coupon.
    pub coupon_id: Option<i64>,
    /// `"referral"` or `"code"`.
    pub source: String,
    pub code: String,
    pub name: String,
    pub discount_type: snspmt_core::referral::DiscountType,
    pub discount_value: i64,
    pub min_order_amount: Points,
    pub valid_from: Option<Millis>,
    pub expires_at: Option<Millis>,
    /// The coupon it came from is still active.
    pub is_active: bool,
    pub is_used: bool,
    pub used_order_id: Option<OrderId>,
    pub created_at: Millis,
}

impl UserCoupon {
    /// The terms the core checks an order against.
    pub fn terms(&self) -> Result<snspmt_core::referral::CouponTerms, snspmt_core::validate::Invalid> {
        Ok(snspmt_core::referral::CouponTerms {
            discount: snspmt_core::referral::discount(self.discount_type, self.discount_value)?,
            min_order_amount: self.min_order_amount,
            valid_from: self.valid_from,
            expires_at: self.expires_at,
            is_active: self.is_active,
            is_used: self.is_used,
        })
    }
}

/// A user's copy of an operator's coupon, with its terms as they are now.
pub(crate) fn coupon_copy(c: &Coupon, user_id: &str, now: Millis) -> UserCoupon {
    UserCoupon {
        id: 0,
        user_id: user_id.to_owned(),
        coupon_id: Some(c.coupon_id),
        source: "code".into(),
        code: c.code.clone(),
        name: c.name.clone(),
        discount_type: c.discount_type,
        discount_value: c.discount_value,
        min_order_amount: c.min_order_amount,
        valid_from: c.valid_from,
        expires_at: c.valid_until,
        is_active: true,
        is_used: false,
        used_order_id: None,
        created_at: now,
    }
}

/// The commission a referrer earns on one order of a referred user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commission {
    pub commission_id: CommissionId,
    pub order_id: OrderId,
    pub referrer_user_id: String,
    pub referred_user_id: String,
    /// The order's final price.
    pub purchase_amount: Points,
    pub amount: Points,
    /// The referrer's rate when the order was placed.
    pub rate: snspmt_core::Bps,
    pub status: snspmt_core::referral::CommissionStatus,
    pub created_at: Millis,
    pub settled_at: Option<Millis>,
}

/// One movement of a referrer's commission balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommissionEntry {
    pub id: i64,
    pub user_id: String,
    /// `commission`, `withdrawal_request`, `withdrawal_approved`, `withdrawal_rejected`, `payout`.
    pub kind: String,
    pub amount: Points,
    pub balance_after: Points,
    pub reference: Option<String>,
    pub description: String,
    pub created_at: Millis,
}

/// A user who joined through a referral code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referral {
    pub referred_user_id: String,
    pub referred_email: Option<String>,
    pub referrer_user_id: String,
    pub code: String,
    pub joined_at: Millis,
    /// Orders placed since (those with a commission row).
    pub order_count: i64,
    /// Earned (confirmed or reduced) commission on them.
    pub commission: Points,
}

/// A referrer's counts for `GET /api/referral/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReferralStats {
    pub total_referrals: i64,
    /// Referred users with at least one commission that was not canceled.
    pub active_referrals: i64,
    pub this_month_referrals: i64,
    /// Commission earned (settled) since the start of the month.
    pub this_month_commission: Points,
}

with_new! {
    /// A withdrawal request of commission.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Withdrawal {
        pub withdrawal_id: WithdrawalId,
        new pub user_id: String,
        new pub amount: Points,
        new pub bank_name: String,
        new pub account_number: String,
        new pub account_holder: String,
        pub status: snspmt_core::referral::WithdrawalState,
        pub admin_notes: Option<String>,
        pub decided_by: Option<String>,
        pub created_at: Millis,
        pub decided_at: Option<Millis>,
    }

    /// What a withdrawal request stores.
    #[derive(Debug, Clone)]
    pub struct NewWithdrawal;
}

/// A payout of commission: an approved withdrawal or a manual payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    pub payout_id: PayoutId,
    pub user_id: String,
    pub amount: Points,
    /// `"withdrawal"` or `"manual"`.
    pub kind: String,
    pub withdrawal_id: Option<WithdrawalId>,
    pub notes: Option<String>,
    pub paid_by: String,
    pub created_at: Millis,
}

/// Which withdrawal requests to list.
#[derive(Debug, Clone, Default)]
pub struct WithdrawalFilter {
    pub user_id: Option<String>,
    pub status: Option<snspmt_core::referral::WithdrawalState>,
    /// Rows at most; `0` (the default) means [`DEFAULT_LIMIT`].
    pub limit: i64,
    pub offset: i64,
}

// ---- api keys (issue 14) ----

/// A reseller API key as its owner sees it: never the key itself, nor its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Random and stable: a rotated key keeps its id.
    pub key_id: String,
    pub user_id: String,
    /// The key's first characters (`snsp_AbCdEfG`), to tell keys apart.
    pub prefix: String,
    pub name: String,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
}

/// A key to store: the SHA-256 (hex) of the key, never the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    pub key_id: String,
    pub user_id: String,
    pub key_hash: String,
    pub prefix: String,
    pub name: String,
}

/// The owner of a live key, and whether the operator lets them use the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyOwner {
    pub key: ApiKey,
    pub user: User,
    pub api_enabled: bool,
}

// ---- refills and cancels (issue 14) ----

/// A refill of an order at the upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refill {
    pub refill_id: RefillId,
    pub order_id: OrderId,
    pub user_id: String,
    /// The upstream's refill id, once it took the request.
    pub smm_refill_id: Option<String>,
    pub state: snspmt_core::refill::RefillState,
    /// The upstream's last status text, as it spelled it.
    pub upstream_status: Option<String>,
    /// Why the upstream refused, or why its last status could not be read.
    pub error: Option<String>,
    pub last_status_check: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A cancel of an order at the upstream, forwarded on the owner's request. The order itself
/// changes (and is refunded) only when the status sync sees the upstream's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelRequest {
    pub cancel_id: CancelId,
    pub order_id: OrderId,
    pub user_id: String,
    pub state: snspmt_core::refill::CancelState,
    pub error: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// What an owner's cancel did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerCancel {
    /// The order was not at the upstream yet: canceled here and refunded in full.
    Canceled(Order),
    /// The order runs at the upstream: the cancel is recorded (`requested`) for the caller to
    /// forward; nothing is refunded until the status sync sees the upstream's answer.
    Forwarded { order: Order, request: CancelRequest },
}

// ---- per-user rates and mass orders ----

/// An operator's per-user terms: a discount on every price, and per-service prices that win
/// over it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRates {
    pub user_id: String,
    pub discount: snspmt_core::Bps,
    /// By service id.
    pub service_prices: Vec<ServicePrice>,
}

/// A user's own price of one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePrice {
    pub service_id: i64,
    pub service_name: String,
    /// The catalogue's price, for comparison.
    pub base_price_per_1000: Points,
    pub price_per_1000: Points,
    pub updated_at: Millis,
}

/// Where a mass order's batch stands after [`crate::RateStore::claim_order_batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchClaim {
    /// The key is new: the caller owns the batch and runs it.
    Claimed,
    /// An earlier run's lease expired before it answered (it died halfway): the caller owns the
    /// batch again and runs it; lines placed before replay by their own keys.
    Resumed,
    /// Another run holds the lease and has not answered yet.
    InFlight,
    /// The batch answered already: this is its answer.
    Done(String),
}
