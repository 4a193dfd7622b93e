//! What a store operation can fail with.

use std::fmt;

use snspmt_core::Points;

/// Declares [`Conflict`] with each variant's stable code.
macro_rules! conflicts {
    ($($(#[$doc:meta])* $name:ident = $code:literal,)+) => {
        /// Which rule a refused operation hit. Every variant has a stable code (`code()`), and the
        /// server maps each one explicitly to an HTTP answer.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Conflict { $($(#[$doc])* $name,)+ }

        impl Conflict {
            /// The stable code clients see.
            pub fn code(self) -> &'static str {
                match self { $(Conflict::$name => $code,)+ }
            }
        }
    };
}

conflicts! {
    /// The purchase, withdrawal or submission was decided already.
    AlreadyProcessed = "already_processed",
    /// The user was referred by someone already.
    AlreadyReferred = "already_referred",
    /// The user has a copy of this coupon already.
    CouponAlreadyAdded = "coupon_already_added",
    /// Another coupon has this code.
    CouponCodeTaken = "coupon_code_taken",
    /// The coupon's copies are all handed out.
    CouponExhausted = "coupon_exhausted",
    /// KCP's transaction number was credited to another purchase.
    DuplicateTno = "duplicate_tno",
    /// Another account has this e-mail.
    EmailTaken = "email_taken",
    /// The provider identity belongs to another account.
    IdentityTaken = "identity_taken",
    /// The commission balance is short (or the user is not a referrer).
    InsufficientCommission = "insufficient_commission",
    /// The amount is outside what the rule allows.
    InvalidAmount = "invalid_amount",
    /// No such referral code.
    InvalidCode = "invalid_code",
    /// The coupon does not exist, is not the user's, or does not apply.
    InvalidCoupon = "invalid_coupon",
    /// The life cycle does not allow this from the current state.
    InvalidTransition = "invalid_transition",
    /// Another purchase has this KCP order number.
    OrdrIdxxTaken = "ordr_idxx_taken",
    /// Another service has this upstream service id.
    ProviderServiceIdTaken = "provider_service_id_taken",
    /// One's own referral code.
    SelfReferral = "self_referral",
    /// Another account has this user id.
    UserIdTaken = "user_id_taken",
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A store failure. Domain refusals (`NotFound`, `Conflict`, `InsufficientPoints`, …) are
/// distinct from infrastructure failures (`Unavailable`, `Backend`), whose text is for logs
/// only and never shown to clients.
#[derive(Debug)]
pub enum StoreError {
    /// The row the operation is about does not exist.
    NotFound,
    /// A rule of the life cycle or of uniqueness refused the operation; nothing changed.
    Conflict(Conflict),
    /// The posting would take the balance below zero.
    InsufficientPoints { balance: snspmt_core::Points },
    /// The idempotency key was used before with another request body.
    IdempotencyKeyReused,
    /// The business event was posted already (a unique `event_ref`).
    AlreadyPosted,
    /// An applied migration was changed after it ran, or the schema is newer than this build.
    Migration(String),
    /// The database cannot be reached (pool timeout, connection refused).
    Unavailable(String),
    /// A unique constraint was hit (operations turn this into their own `Conflict`).
    UniqueViolation(String),
    /// Any other database failure.
    Backend(String),
}

impl StoreError {
    pub fn insufficient(balance: Points) -> Self {
        StoreError::InsufficientPoints { balance }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound => f.write_str("not found"),
            StoreError::Conflict(code) => write!(f, "conflict: {code}"),
            StoreError::InsufficientPoints { balance } => {
                write!(f, "insufficient points (balance {balance})")
            }
            StoreError::IdempotencyKeyReused => f.write_str("idempotency key reused with another request"),
            StoreError::AlreadyPosted => f.write_str("this event was posted already"),
            StoreError::Migration(m) => write!(f, "migration: {m}"),
            StoreError::Unavailable(m) => write!(f, "database unavailable: {m}"),
            StoreError::UniqueViolation(m) => write!(f, "unique constraint: {m}"),
            StoreError::Backend(m) => write!(f, "database error: {m}"),
        }
    }
}

impl std::error::Error for StoreError {}

#[cfg(feature = "sqlite")]
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::{ffi, ErrorCode};
        let unique = [ffi::SQLITE_CONSTRAINT_UNIQUE, ffi::SQLITE_CONSTRAINT_PRIMARYKEY];
        match e.sqlite_error() {
            Some(f) if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                StoreError::Unavailable(e.to_string())
            }
            Some(f) if unique.contains(&f.extended_code) => StoreError::UniqueViolation(e.to_string()),
            _ => StoreError::Backend(e.to_string()),
        }
    }
}

#[cfg(feature = "sqlite")]
impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

#[cfg(feature = "postgres")]
impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        let Some(d) = e.as_db_error().filter(|_| !e.is_closed()) else {
            // "error connecting to server" alone hides the cause ("Connection refused", …).
            let cause = std::error::Error::source(&e).map(|s| format!(": {s}")).unwrap_or_default();
            return StoreError::Unavailable(format!("{e}{cause}"));
        };
        if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
            // `e.to_string()` is only "db error": name the constraint, which callers tell apart.
            StoreError::UniqueViolation(format!("{} ({})", d.message(), d.constraint().unwrap_or_default()))
        } else {
            // "db error" alone says nothing: keep the server's code, message and detail.
            let detail = d.detail().map(|x| format!(": {x}")).unwrap_or_default();
            StoreError::Backend(format!("{} ({}){detail}", d.message(), d.code().code()))
        }
    }
}

#[cfg(feature = "postgres")]
impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            // A connection that could not be made: say why (unknown database or role, refused…).
            deadpool_postgres::PoolError::Backend(e) => match StoreError::from(e) {
                StoreError::Backend(why) | StoreError::Unavailable(why) => StoreError::Unavailable(why),
                other => other,
            },
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
