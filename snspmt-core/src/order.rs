//! The order life cycle: statuses in lifecycle order, their Korean labels, which transitions
//! an operator may make, and how an upstream status settles an order (§6, §8).
//!
//! Everything here is pure: the store applies a [`Settlement`] in one transaction.
//!
//! # Example
//!
//! ```
//! use snspmt_core::order::{self, OrderStatus, SettleError, Settlement};
//! use snspmt_core::upstream::smm::Status;
//! use snspmt_core::Points;
//!
//! # fn main() -> Result<(), SettleError> {
//! // 1,000 points for 100 units; the panel reports 25 undelivered.
//! let s = order::settle(Points(1_000), 100, &Status::Partial, Some(25))?;
//! assert_eq!(s, Settlement { status: OrderStatus::Partial, refund: Points(250) });
//! // A partial reading without `remains` refunds nothing: the operator looks at it.
//! let unreadable = order::settle(Points(1_000), 100, &Status::Partial, None);
//! assert_eq!(unreadable, Err(SettleError::UnreadableRemains));
//! // An operator may fail a pending order (refunded in full), but not reopen a completed one.
//! let t = order::admin_transition(OrderStatus::Pending, OrderStatus::Failed).expect("allowed");
//! assert!(t.refund_in_full);
//! assert!(order::admin_transition(OrderStatus::Completed, OrderStatus::Pending).is_err());
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::money::{self, MoneyError, Points};
use crate::time::Millis;
use crate::upstream::smm;

/// Where an order is, listed in lifecycle order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Charged; the submission job is due (or waiting to retry).
    Pending,
    /// Charged; due at a later time.
    Scheduled,
    /// A worker claimed the job and may be talking to the upstream right now.
    Submitting,
    /// The upstream may or may not have the order (timeout after sending): never resent
    /// automatically; an operator resolves it.
    Unknown,
    /// The upstream accepted it.
    InProgress,
    /// A package or split order with parts still to run.
    Processing,
    /// Ended with some units undelivered, refunded pro rata.
    Partial,
    Completed,
    /// Canceled (by the owner, the operator or the upstream), refunded in full.
    Canceled,
    /// Refused by the upstream for good, refunded in full.
    Failed,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 10] = [
        OrderStatus::Pending,
        OrderStatus::Scheduled,
        OrderStatus::Submitting,
        OrderStatus::Unknown,
        OrderStatus::InProgress,
        OrderStatus::Processing,
        OrderStatus::Partial,
        OrderStatus::Completed,
        OrderStatus::Canceled,
        OrderStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Scheduled => "scheduled",
            OrderStatus::Submitting => "submitting",
            OrderStatus::Unknown => "unknown",
            OrderStatus::InProgress => "in_progress",
            OrderStatus::Processing => "processing",
            OrderStatus::Partial => "partial",
            OrderStatus::Completed => "completed",
            OrderStatus::Canceled => "canceled",
            OrderStatus::Failed => "failed",
        }
    }

    /// The label the Korean UI shows.
    pub fn label(self) -> &'static str {
        match self {
            OrderStatus::Pending | OrderStatus::Scheduled | OrderStatus::Submitting => "주문발송",
            OrderStatus::InProgress | OrderStatus::Processing | OrderStatus::Unknown => "주문 실행중",
            OrderStatus::Completed | OrderStatus::Partial => "주문 실행완료",
            OrderStatus::Canceled | OrderStatus::Failed => "주문 미처리",
        }
    }

    /// No further change happens to a terminal order.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderStatus::Partial | OrderStatus::Completed | OrderStatus::Canceled | OrderStatus::Failed
        )
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A status name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownStatus(pub String);

impl fmt::Display for UnknownStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown order status {:?}", self.0)
    }
}

impl std::error::Error for UnknownStatus {}

impl FromStr for OrderStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrderStatus::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// What an operator's status change does besides changing the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct AdminTransition {
    pub to: OrderStatus,
    /// Refund everything not yet refunded.
    pub refund_in_full: bool,
    /// Cancel a submission job that has not been claimed yet.
    pub cancel_job: bool,
}

/// A transition an operator may not make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IllegalTransition {
    pub from: OrderStatus,
    pub to: OrderStatus,
}

impl fmt::Display for IllegalTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an order cannot go from {} to {}", self.from, self.to)
    }
}

impl std::error::Error for IllegalTransition {}

/// The operator's `PUT /api/orders/<id>/status`. Legal:
/// - `pending`/`scheduled` → `canceled` | `failed` (the job is withdrawn, full refund);
/// - `unknown` → `in_progress` (it was accepted) | `failed` | `canceled` (full refund);
/// - `in_progress` | `processing` → `completed` | `canceled` | `failed` (full refund);
/// - `unknown` → `completed`.
///
/// Anything else — a terminal order, `submitting` (a worker is on it), `partial` (needs the
/// upstream's remains) — is illegal.
pub fn admin_transition(from: OrderStatus, to: OrderStatus) -> Result<AdminTransition, IllegalTransition> {
    use OrderStatus::*;
    let t = |refund_in_full, cancel_job| Ok(AdminTransition { to, refund_in_full, cancel_job });
    match (from, to) {
        (Pending | Scheduled, Canceled | Failed) => t(true, true),
        (Unknown, InProgress | Completed) => t(false, false),
        (Unknown | InProgress | Processing, Canceled | Failed) => t(true, false),
        (InProgress | Processing, Completed) => t(false, false),
        _ => Err(IllegalTransition { from, to }),
    }
}

/// How an upstream status settles an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Settlement {
    pub status: OrderStatus,
    /// Points to give back now (0 when nothing is refunded).
    pub refund: Points,
}

/// Why an upstream reading cannot settle an order. The order stays open and is listed for
/// the operator; nothing is refunded on a reading we cannot trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettleError {
    /// `Partial` without a readable `remains` (missing, not a number, out of range).
    UnreadableRemains,
    /// The refund cannot be computed (an amount out of range).
    Money(MoneyError),
}

impl fmt::Display for SettleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettleError::UnreadableRemains => {
                f.write_str("the panel reported Partial without a readable remains; review the order")
            }
            SettleError::Money(e) => write!(f, "the refund cannot be computed: {e}"),
        }
    }
}

impl std::error::Error for SettleError {}

/// Settles an order that paid `final_price` for `total_quantity` units on the upstream's
/// status: `Completed` → completed; `Partial` with `remains` → partial and
/// `floor(final_price × r / q)` back; `Canceled` → canceled and everything back; anything else
/// → still in progress, nothing back. `Partial` without a readable `remains` settles nothing
/// ([`SettleError::UnreadableRemains`]).
pub fn settle(
    final_price: Points,
    total_quantity: u64,
    status: &smm::Status,
    remains: Option<i64>,
) -> Result<Settlement, SettleError> {
    let nothing = Points::ZERO;
    Ok(match status {
        smm::Status::Completed => Settlement { status: OrderStatus::Completed, refund: nothing },
        smm::Status::Partial => {
            let remains = remains.ok_or(SettleError::UnreadableRemains)?;
            Settlement {
                status: OrderStatus::Partial,
                refund: money::partial_refund(final_price, remains, total_quantity)
                    .map_err(SettleError::Money)?,
            }
        }
        smm::Status::Canceled => Settlement { status: OrderStatus::Canceled, refund: final_price },
        _ => Settlement { status: OrderStatus::InProgress, refund: nothing },
    })
}

/// The units an order asks for in all: `quantity` per run, `runs` runs (drip-feed; one when
/// absent), 0 for values out of range.
pub fn total_quantity(quantity: i64, runs: Option<i64>) -> u64 {
    u64::try_from(quantity.saturating_mul(runs.unwrap_or(1).max(1))).unwrap_or(0)
}

/// What may still be refunded of an order: `wanted`, capped by what is left of
/// `final_price` after `refunded` (never below zero). Every refund goes through this cap, so an
/// order never gives back more than it was charged, whatever the upstream reports later.
pub fn refund_cap(final_price: Points, refunded: Points, wanted: Points) -> Points {
    Points(wanted.0.min(final_price.0.saturating_sub(refunded.0)).max(0))
}

/// Why the panel did not take a submission. In every case it created nothing, so sending the
/// order again cannot buy it twice (§8 step 3); only an ambiguous outcome is `unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotAccepted {
    /// Nothing reached the panel (connection refused, DNS).
    NotSent,
    /// The panel answered HTTP 429 Too Many Requests: a refusal, whatever its body says.
    Throttled,
    /// The panel refused for a reason that may pass: no funds on our account, an active order
    /// on the same link, a wrong key, a message we do not know.
    Refused,
}

impl NotAccepted {
    pub const ALL: [NotAccepted; 3] = [NotAccepted::NotSent, NotAccepted::Throttled, NotAccepted::Refused];

    pub fn as_str(self) -> &'static str {
        match self {
            NotAccepted::NotSent => "not_sent",
            NotAccepted::Throttled => "throttled",
            NotAccepted::Refused => "refused",
        }
    }

    /// The first back-off and its cap, in milliseconds. A 429 is retried sooner (the panel
    /// only asks us to slow down; our own limiter already paces the calls); a panel that
    /// cannot be reached or that refuses waits a minute, doubling up to an hour.
    fn backoff(self) -> (i64, i64) {
        match self {
            NotAccepted::Throttled => (15_000, 10 * 60_000),
            NotAccepted::NotSent | NotAccepted::Refused => (60_000, 60 * 60_000),
        }
    }
}

impl fmt::Display for NotAccepted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Back-off before retrying a submission that was not accepted on its `attempts`-th try
/// (attempts are counted from 1; 0 reads as 1): the cause's first delay, doubling per attempt,
/// capped (see [`NotAccepted`]).
pub fn retry_backoff_ms(why: NotAccepted, attempts: u32) -> i64 {
    let (first, cap) = why.backoff();
    let doublings = attempts.saturating_sub(1).min(20);
    first.saturating_mul(1i64 << doublings).min(cap)
}

/// When a submission not accepted at `now` on its `attempts`-th try is due again: always
/// later than `now` (saturating at the end of time).
pub fn retry_due(now: Millis, why: NotAccepted, attempts: u32) -> Millis {
    now.plus_ms(retry_backoff_ms(why, attempts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels() {
        for s in OrderStatus::ALL {
            assert_eq!(s.as_str().parse::<OrderStatus>(), Ok(s));
            assert!(!s.label().is_empty());
        }
        assert_eq!(OrderStatus::Unknown.label(), "주문 실행중");
        assert_eq!(OrderStatus::Failed.label(), "주문 미처리");
        assert!("done".parse::<OrderStatus>().is_err());
    }

    #[test]
    fn admin_transitions() {
        use OrderStatus::*;
        assert_eq!(
            admin_transition(Pending, Canceled),
            Ok(AdminTransition { to: Canceled, refund_in_full: true, cancel_job: true })
        );
        assert_eq!(admin_transition(Unknown, InProgress).map(|t| t.refund_in_full), Ok(false));
        assert_eq!(admin_transition(InProgress, Failed).map(|t| t.refund_in_full), Ok(true));
        for from in [Completed, Partial, Canceled, Failed, Submitting] {
            for to in OrderStatus::ALL {
                assert!(admin_transition(from, to).is_err(), "{from} -> {to}");
            }
        }
        assert!(admin_transition(InProgress, Partial).is_err());
        assert!(admin_transition(Pending, Completed).is_err());
    }

    #[test]
    fn settlements() {
        let p = Points(1000);
        assert_eq!(settle(p, 100, &smm::Status::Completed, Some(0)).map(|s| s.refund), Ok(Points(0)));
        assert_eq!(
            settle(p, 1000, &smm::Status::Partial, Some(157)),
            Ok(Settlement { status: OrderStatus::Partial, refund: Points(157) })
        );
        assert_eq!(settle(p, 3, &smm::Status::Partial, Some(1)).map(|s| s.refund), Ok(Points(333)));
        assert_eq!(settle(p, 100, &smm::Status::Partial, Some(-2)).map(|s| s.refund), Ok(Points(0)));
        assert_eq!(settle(p, 100, &smm::Status::Canceled, None).map(|s| s.refund), Ok(p));
        assert_eq!(settle(p, 100, &smm::Status::Partial, None), Err(SettleError::UnreadableRemains));
        assert_eq!(refund_cap(Points(1000), Points(0), Points(400)), Points(400));
        assert_eq!(
            (total_quantity(100, None), total_quantity(100, Some(3)), total_quantity(-1, None)),
            (100, 300, 0)
        );
        assert_eq!(refund_cap(Points(1000), Points(800), Points(400)), Points(200));
        assert_eq!(refund_cap(Points(1000), Points(1000), Points(400)), Points(0));
        assert_eq!(refund_cap(Points(1000), Points(1200), Points(400)), Points(0));
        let running = settle(p, 100, &smm::Status::Other("Queued".into()), Some(5));
        assert_eq!(running, Ok(Settlement { status: OrderStatus::InProgress, refund: Points(0) }));
    }

    #[test]
    fn backoff() {
        use NotAccepted::*;
        for why in [NotSent, Refused] {
            assert_eq!(retry_backoff_ms(why, 1), 60_000);
            assert_eq!(retry_backoff_ms(why, 2), 120_000);
            assert_eq!(retry_backoff_ms(why, 7), 3_600_000);
            assert_eq!(retry_backoff_ms(why, u32::MAX), 3_600_000);
            assert_eq!(retry_backoff_ms(why, 0), 60_000);
        }
        assert_eq!(retry_backoff_ms(Throttled, 1), 15_000);
        assert_eq!(retry_backoff_ms(Throttled, 3), 60_000);
        assert_eq!(retry_backoff_ms(Throttled, 6), 480_000);
        assert_eq!(retry_backoff_ms(Throttled, 7), 600_000);
        assert_eq!(retry_backoff_ms(Throttled, u32::MAX), 600_000);
        assert_eq!(retry_due(Millis(1_000), Throttled, 1), Millis(16_000));
        assert_eq!(retry_due(Millis(i64::MAX - 1), NotSent, 1), Millis::MAX);
    }
}
