//! The referral programme (§11): referral codes, coupon rules, the commission life cycle, the
//! commission book of a referrer and the withdrawal state machine.
//!
//! Everything here is pure: random bytes and `now` (milliseconds since the epoch) are
//! parameters. The store applies each decision in one transaction, with conditional updates
//! that re-check the same rules, so concurrent callers cannot get around them.
//!
//! # Example
//!
//! ```
//! use snspmt_core::money::{Bps, Discount};
//! use snspmt_core::order::OrderStatus;
//! use snspmt_core::referral::{self, CommissionBook, CommissionStatus, CouponTerms};
//! use snspmt_core::referral::{Withdrawal, WithdrawalInput};
//! use snspmt_core::{Millis, Points};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A code from random bytes the caller drew (the core draws nothing itself).
//! let code = referral::referral_code(&[0, 1, 2, 3, 4, 5, 6, 7])?;
//! assert_eq!(code, "REFABCDEFGH");
//! assert_eq!(referral::normalize_code(" refabcdefgh "), Some(code));
//!
//! // The referred user's coupon: 5 % off for 30 days (times in ms since the epoch).
//! let now = Millis(1_700_000_000_000);
//! let terms = CouponTerms {
//!     discount: Discount::Percentage(Bps::REFERRAL_COUPON),
//!     min_order_amount: Points(0),
//!     valid_from: Some(now),
//!     expires_at: Some(now.plus_ms(referral::REFERRAL_COUPON_VALIDITY_MS)),
//!     is_active: true,
//!     is_used: false,
//! };
//! assert_eq!(referral::apply_coupon(&terms, Points(2_000), now)?, Points(100));
//! assert!(referral::apply_coupon(&terms, Points(2_000), now.plus_ms(31 * 24 * 60 * 60 * 1000)).is_err());
//!
//! // The referrer's commission follows the order: 10 % of what was kept after a refund.
//! let rate = Bps::DEFAULT_COMMISSION;
//! let c = referral::commission_settlement(OrderStatus::Partial, Points(2_000), Points(500), rate)?;
//! assert_eq!((c.status, c.amount), (CommissionStatus::Reduced, Points(150)));
//!
//! // The book never goes below zero: a withdrawal reserves, its approval pays.
//! let book = CommissionBook::default().earn(c.amount)?.earn(Points(1_000))?;
//! assert!(book.reserve(Points(2_000)).is_err(), "more than the balance");
//! let book = book.reserve(Points(1_000))?;
//! let mut withdrawal = Withdrawal::requested(Points(1_000));
//! let book = book.apply(withdrawal.handle(WithdrawalInput::Approve)?)?;
//! assert_eq!((book.paid, book.balance()?), (Points(1_000), Points(150)));
//! assert!(withdrawal.handle(WithdrawalInput::Reject).is_err(), "decided once");
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::money::{self, Bps, Discount, MoneyError, Points};
use crate::order::OrderStatus;
use crate::time::Millis;
use crate::validate::Invalid;

/// Every referral code starts with this.
pub const CODE_PREFIX: &str = "REF";
/// Characters after the prefix.
pub const CODE_LEN: usize = 8;
const ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// Bytes at or above this are skipped, so that every character is equally likely
/// (`252 = 7 × 36`).
const UNBIASED_LIMIT: u8 = 252;

/// The random bytes ran out before eight characters were drawn (each byte ≥ 252 is skipped;
/// 16 bytes are almost always enough, 32 practically always).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotEnoughRandomness;

impl fmt::Display for NotEnoughRandomness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not enough random bytes for a referral code")
    }
}

impl std::error::Error for NotEnoughRandomness {}

/// A referral code `REF` + 8 of `[A-Z0-9]`, drawn uniformly from `random` by rejection
/// sampling.
pub fn referral_code(random: &[u8]) -> Result<String, NotEnoughRandomness> {
    let mut code = String::with_capacity(CODE_PREFIX.len() + CODE_LEN);
    code.push_str(CODE_PREFIX);
    for b in random.iter().copied().filter(|b| *b < UNBIASED_LIMIT).take(CODE_LEN) {
        code.push(char::from(ALPHABET[usize::from(b % 36)]));
    }
    if code.len() == CODE_PREFIX.len() + CODE_LEN {
        Ok(code)
    } else {
        Err(NotEnoughRandomness)
    }
}

/// A code as a client typed it: trimmed and upper-cased; `None` when it cannot be a code.
pub fn normalize_code(s: &str) -> Option<String> {
    let s = s.trim().to_ascii_uppercase();
    let rest = s.strip_prefix(CODE_PREFIX)?;
    (rest.len() == CODE_LEN && rest.bytes().all(|b| ALPHABET.contains(&b))).then_some(s)
}

/// A referrer's commission rate from a client: 0..=10000 basis points.
pub fn commission_rate(v: i64) -> Result<Bps, Invalid> {
    u32::try_from(v).ok().and_then(|v| Bps::share(v).ok()).ok_or(Invalid {
        field: "commission_rate_bps",
        code: "invalid_rate",
        message: "commission_rate_bps must be between 0 and 10000",
    })
}

// --- coupons ----------------------------------------------------------------------------------

/// How long the referral coupon stays valid: 30 days.
pub const REFERRAL_COUPON_VALIDITY_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// The referral coupon's `discount_value` (percent).
pub const REFERRAL_COUPON_PERCENT: i64 = 5;
/// The largest fixed discount a coupon may have.
pub const MAX_FIXED_DISCOUNT: i64 = 10_000_000;

/// A coupon's `discount_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum DiscountType {
    /// `discount_value` is a percentage (1..=100).
    Percentage,
    /// `discount_value` is a number of points (KRW).
    Fixed,
}

impl DiscountType {
    pub const ALL: [DiscountType; 2] = [DiscountType::Percentage, DiscountType::Fixed];

    pub fn as_str(self) -> &'static str {
        match self {
            DiscountType::Percentage => "percentage",
            DiscountType::Fixed => "fixed",
        }
    }
}

impl fmt::Display for DiscountType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for DiscountType {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DiscountType::ALL.into_iter().find(|k| k.as_str() == s).ok_or(Invalid {
            field: "discount_type",
            code: "invalid_discount_type",
            message: "discount_type must be percentage or fixed",
        })
    }
}

/// The [`Discount`] of a `discount_type` and `discount_value`: a percentage of 1..=100 (as
/// basis points), or a fixed 1..=10,000,000 points.
pub fn discount(kind: DiscountType, value: i64) -> Result<Discount, Invalid> {
    let bad = |message| Invalid { field: "discount_value", code: "invalid_discount_value", message };
    match kind {
        DiscountType::Percentage => match u32::try_from(value) {
            Ok(p @ 1..=100) => Ok(Discount::Percentage(Bps(p * 100))),
            _ => Err(bad("a percentage discount_value must be between 1 and 100")),
        },
        DiscountType::Fixed if (1..=MAX_FIXED_DISCOUNT).contains(&value) => {
            Ok(Discount::Fixed(Points(value)))
        }
        DiscountType::Fixed => Err(bad("a fixed discount_value must be between 1 and 10000000")),
    }
}

/// What decides whether a user's copy of a coupon applies now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CouponTerms {
    pub discount: Discount,
    /// The pre-discount price must be at least this.
    pub min_order_amount: Points,
    /// Not valid before this moment (ms since the epoch).
    pub valid_from: Option<Millis>,
    /// Not valid from this moment on (ms since the epoch).
    pub expires_at: Option<Millis>,
    /// The operator has not withdrawn the coupon.
    pub is_active: bool,
    /// This copy was spent on an order.
    pub is_used: bool,
}

/// Why a coupon does not apply. Each becomes 400 `invalid_coupon` with this `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CouponRefusal {
    NotYours,
    Inactive,
    Used,
    NotYetValid,
    Expired,
    BelowMinimum { min_order_amount: Points },
    Money(MoneyError),
}

impl CouponRefusal {
    /// A stable name for the `reason` field.
    pub fn reason(self) -> &'static str {
        match self {
            CouponRefusal::NotYours => "not_yours",
            CouponRefusal::Inactive => "inactive",
            CouponRefusal::Used => "used",
            CouponRefusal::NotYetValid => "not_yet_valid",
            CouponRefusal::Expired => "expired",
            CouponRefusal::BelowMinimum { .. } => "min_order_amount",
            CouponRefusal::Money(_) => "invalid_amount",
        }
    }
}

impl fmt::Display for CouponRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CouponRefusal::NotYours => f.write_str("the coupon is not yours"),
            CouponRefusal::Inactive => f.write_str("the coupon was withdrawn"),
            CouponRefusal::Used => f.write_str("the coupon was used already"),
            CouponRefusal::NotYetValid => f.write_str("the coupon is not valid yet"),
            CouponRefusal::Expired => f.write_str("the coupon has expired"),
            CouponRefusal::BelowMinimum { min_order_amount } => {
                write!(f, "the order must cost at least {min_order_amount}")
            }
            CouponRefusal::Money(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CouponRefusal {}

/// The discount a coupon gives on an order of pre-discount `price` at `now` (ms since the
/// epoch), checked in this
/// order: withdrawn, used, not yet valid, expired (`now ≥ expires_at`), below the minimum.
/// Always `0 ≤ discount ≤ price` ([`money::coupon_discount`]).
pub fn apply_coupon(terms: &CouponTerms, price: Points, now: Millis) -> Result<Points, CouponRefusal> {
    if !terms.is_active {
        return Err(CouponRefusal::Inactive);
    }
    if terms.is_used {
        return Err(CouponRefusal::Used);
    }
    if terms.valid_from.is_some_and(|from| now < from) {
        return Err(CouponRefusal::NotYetValid);
    }
    if terms.expires_at.is_some_and(|until| now >= until) {
        return Err(CouponRefusal::Expired);
    }
    if price < terms.min_order_amount {
        return Err(CouponRefusal::BelowMinimum { min_order_amount: terms.min_order_amount });
    }
    money::coupon_discount(price, terms.discount).map_err(CouponRefusal::Money)
}

/// Whether one more copy of a coupon limited to `max_uses` copies may be handed out.
pub fn may_issue(issued: i64, max_uses: Option<i64>) -> bool {
    max_uses.is_none_or(|max| issued < max)
}

// --- commissions ------------------------------------------------------------------------------

/// Where a commission is, listed in lifecycle order. Only `Pending` changes; the others are
/// final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CommissionStatus {
    /// The order runs; the amount follows its refunds.
    Pending,
    /// The order completed: earned in full.
    Confirmed,
    /// The order ended partly refunded: earned on what was kept.
    Reduced,
    /// The order was refunded in full: nothing earned.
    Canceled,
}

impl CommissionStatus {
    pub const ALL: [CommissionStatus; 4] = [
        CommissionStatus::Pending,
        CommissionStatus::Confirmed,
        CommissionStatus::Reduced,
        CommissionStatus::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CommissionStatus::Pending => "pending",
            CommissionStatus::Confirmed => "confirmed",
            CommissionStatus::Reduced => "reduced",
            CommissionStatus::Canceled => "canceled",
        }
    }

    /// The amount counts towards the referrer's balance.
    pub fn is_earned(self) -> bool {
        matches!(self, CommissionStatus::Confirmed | CommissionStatus::Reduced)
    }
}

impl fmt::Display for CommissionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A commission status name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCommissionStatus(pub String);

impl fmt::Display for UnknownCommissionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown commission status {:?}", self.0)
    }
}

impl std::error::Error for UnknownCommissionStatus {}

impl FromStr for CommissionStatus {
    type Err = UnknownCommissionStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CommissionStatus::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownCommissionStatus(s.to_owned()))
    }
}

/// A commission as its order now stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct CommissionSettlement {
    pub status: CommissionStatus,
    pub amount: Points,
}

/// Follows an order: the commission on `final_price` at `rate`, after `refunded` went back
/// ([`money::commission_after_refund`]).
///
/// - an order still running → `Pending` (reduced by refunds made so far);
/// - `completed`, or `partial` with nothing refunded → `Confirmed`;
/// - `partial`, `canceled` or `failed` with part refunded → `Reduced`;
/// - anything refunded in full → `Canceled`, amount 0.
pub fn commission_settlement(
    order: OrderStatus,
    final_price: Points,
    refunded: Points,
    rate: Bps,
) -> Result<CommissionSettlement, MoneyError> {
    let amount = money::commission_after_refund(final_price, refunded, rate)?;
    let fully_refunded = refunded >= final_price;
    let status = match order {
        s if !s.is_terminal() => CommissionStatus::Pending,
        _ if fully_refunded => CommissionStatus::Canceled,
        _ if refunded.0 <= 0 && order != OrderStatus::Canceled && order != OrderStatus::Failed => {
            CommissionStatus::Confirmed
        }
        _ => CommissionStatus::Reduced,
    };
    let amount = if status == CommissionStatus::Canceled { Points::ZERO } else { amount };
    Ok(CommissionSettlement { status, amount })
}

/// Whether a settled order gives its coupon back: it ended `failed` or `canceled` with
/// everything refunded, so nothing was bought with it.
pub fn returns_coupon(order: OrderStatus, final_price: Points, refunded: Points) -> bool {
    matches!(order, OrderStatus::Failed | OrderStatus::Canceled) && refunded >= final_price
}

/// A referrer's commission book: `balance = earned − paid − reserved`, never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommissionBook {
    /// Confirmed and reduced commissions.
    pub earned: Points,
    /// Paid out (approved withdrawals and manual payouts).
    pub paid: Points,
    /// Held by withdrawal requests not yet decided.
    pub reserved: Points,
}

/// Why the book refuses a movement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookError {
    /// A withdrawal below [`MIN_WITHDRAWAL`].
    BelowMinimum,
    /// Zero or negative.
    NotPositive,
    /// More than the balance.
    ExceedsBalance {
        balance: Points,
    },
    /// More than is reserved (a release or approval without its request).
    ExceedsReserved,
    Money(MoneyError),
}

impl fmt::Display for BookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BookError::BelowMinimum => write!(f, "a withdrawal is at least {MIN_WITHDRAWAL} points"),
            BookError::NotPositive => f.write_str("the amount must be positive"),
            BookError::ExceedsBalance { balance } => write!(f, "the amount exceeds the balance of {balance}"),
            BookError::ExceedsReserved => f.write_str("the amount exceeds what is reserved"),
            BookError::Money(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for BookError {}

impl From<MoneyError> for BookError {
    fn from(e: MoneyError) -> Self {
        BookError::Money(e)
    }
}

/// The smallest withdrawal: 1,000 points.
pub const MIN_WITHDRAWAL: i64 = 1_000;

impl CommissionBook {
    /// `earned − paid − reserved`.
    pub fn balance(&self) -> Result<Points, MoneyError> {
        self.earned.checked_sub(self.paid)?.checked_sub(self.reserved)
    }

    /// What the movement from `self` to `after` did to the balance: the amount of its ledger
    /// entry.
    pub fn moved(&self, after: &CommissionBook) -> Result<Points, MoneyError> {
        after.balance()?.checked_sub(self.balance()?)
    }

    /// A commission became earned.
    pub fn earn(self, amount: Points) -> Result<CommissionBook, BookError> {
        if amount.is_negative() {
            return Err(BookError::NotPositive);
        }
        Ok(CommissionBook { earned: self.earned.checked_add(amount)?, ..self })
    }

    fn check_spend(&self, amount: Points) -> Result<(), BookError> {
        if amount.0 <= 0 {
            return Err(BookError::NotPositive);
        }
        let balance = self.balance()?;
        if amount > balance {
            return Err(BookError::ExceedsBalance { balance });
        }
        Ok(())
    }

    /// A withdrawal request: at least [`MIN_WITHDRAWAL`] and at most the balance, reserved at
    /// once.
    pub fn reserve(self, amount: Points) -> Result<CommissionBook, BookError> {
        if amount.0 < MIN_WITHDRAWAL {
            return Err(BookError::BelowMinimum);
        }
        self.check_spend(amount)?;
        Ok(CommissionBook { reserved: self.reserved.checked_add(amount)?, ..self })
    }

    /// A manual payout: positive and at most the balance.
    pub fn pay(self, amount: Points) -> Result<CommissionBook, BookError> {
        self.check_spend(amount)?;
        Ok(CommissionBook { paid: self.paid.checked_add(amount)?, ..self })
    }

    /// Applies a withdrawal decision's effects.
    pub fn apply(self, e: WithdrawalEffects) -> Result<CommissionBook, BookError> {
        let released = e.release.checked_add(e.pay)?;
        if released > self.reserved || e.release.is_negative() || e.pay.is_negative() {
            return Err(BookError::ExceedsReserved);
        }
        Ok(CommissionBook {
            earned: self.earned,
            paid: self.paid.checked_add(e.pay)?,
            reserved: self.reserved.checked_sub(released)?,
        })
    }
}

// --- withdrawals ------------------------------------------------------------------------------

/// Where a withdrawal request is, in lifecycle order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum WithdrawalState {
    /// Reserved, waiting for the operator.
    Requested,
    /// Paid out.
    Approved,
    /// Refused; the reservation went back to the balance.
    Rejected,
}

impl WithdrawalState {
    pub const ALL: [WithdrawalState; 3] =
        [WithdrawalState::Requested, WithdrawalState::Approved, WithdrawalState::Rejected];

    pub fn as_str(self) -> &'static str {
        match self {
            WithdrawalState::Requested => "requested",
            WithdrawalState::Approved => "approved",
            WithdrawalState::Rejected => "rejected",
        }
    }
}

impl fmt::Display for WithdrawalState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for WithdrawalState {
    type Err = UnknownCommissionStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WithdrawalState::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownCommissionStatus(s.to_owned()))
    }
}

/// The operator's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WithdrawalInput {
    Approve,
    Reject,
}

/// What a decision does to the book: `release` goes back to the balance, `pay` moves from
/// reserved to paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct WithdrawalEffects {
    pub release: Points,
    pub pay: Points,
}

/// A request decided already (a second decision is 409 `already_processed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlreadyDecided(pub WithdrawalState);

impl fmt::Display for AlreadyDecided {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the withdrawal was {} already", self.0)
    }
}

impl std::error::Error for AlreadyDecided {}

/// A withdrawal request: `requested → approved | rejected`, decided once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Withdrawal {
    pub state: WithdrawalState,
    pub amount: Points,
}

impl Withdrawal {
    /// A new request for `amount` (already reserved by [`CommissionBook::reserve`]).
    pub fn requested(amount: Points) -> Withdrawal {
        Withdrawal { state: WithdrawalState::Requested, amount }
    }

    /// Decides the request: approval pays the reserved amount, rejection releases it.
    pub fn handle(&mut self, input: WithdrawalInput) -> Result<WithdrawalEffects, AlreadyDecided> {
        if self.state != WithdrawalState::Requested {
            return Err(AlreadyDecided(self.state));
        }
        let (state, effects) = match input {
            WithdrawalInput::Approve => {
                (WithdrawalState::Approved, WithdrawalEffects { release: Points::ZERO, pay: self.amount })
            }
            WithdrawalInput::Reject => {
                (WithdrawalState::Rejected, WithdrawalEffects { release: self.amount, pay: Points::ZERO })
            }
        };
        self.state = state;
        Ok(effects)
    }

    /// The commission-ledger row of withdrawal `withdrawal_id` entering its current state.
    pub fn entry(&self, withdrawal_id: i64) -> BookEntry {
        match self.state {
            WithdrawalState::Requested => entries::withdrawal_request(withdrawal_id),
            WithdrawalState::Approved => entries::withdrawal_approved(withdrawal_id),
            WithdrawalState::Rejected => entries::withdrawal_rejected(withdrawal_id),
        }
    }
}

/// A row of a referrer's commission ledger, as the referrer reads it. Its amount is the change
/// of [`CommissionBook::balance`] the movement made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookEntry {
    /// `commission`, `withdrawal_request`, `withdrawal_approved`, `withdrawal_rejected` or
    /// `payout`.
    pub kind: &'static str,
    /// What the movement points at (`order:7`, `withdrawal:3`, `payout:5`).
    pub reference: String,
    pub description: String,
}

/// The entries of the commission ledger, one function each: the only place their kinds,
/// references and descriptions are made.
pub mod entries {
    use super::{BookEntry, CommissionStatus};

    fn entry(kind: &'static str, reference: String, description: impl Into<String>) -> BookEntry {
        BookEntry { kind, reference, description: description.into() }
    }

    /// A commission became earned when its order settled (`confirmed` or `reduced`).
    pub fn commission(order_id: i64, status: CommissionStatus) -> BookEntry {
        entry("commission", format!("order:{order_id}"), format!("주문 #{order_id} 추천 수수료 ({status})"))
    }

    /// A withdrawal was requested: its amount is reserved.
    pub fn withdrawal_request(withdrawal_id: i64) -> BookEntry {
        entry("withdrawal_request", format!("withdrawal:{withdrawal_id}"), "출금 신청 (예약)")
    }

    /// A withdrawal was approved: the reservation is paid (the balance does not move).
    pub fn withdrawal_approved(withdrawal_id: i64) -> BookEntry {
        entry("withdrawal_approved", format!("withdrawal:{withdrawal_id}"), "출금 승인 (지급)")
    }

    /// A withdrawal was rejected: the reservation goes back to the balance.
    pub fn withdrawal_rejected(withdrawal_id: i64) -> BookEntry {
        entry("withdrawal_rejected", format!("withdrawal:{withdrawal_id}"), "출금 거절 (예약 해제)")
    }

    /// A manual payout.
    pub fn payout(payout_id: i64) -> BookEntry {
        entry("payout", format!("payout:{payout_id}"), "수수료 지급")
    }
}

/// Masks an e-mail for a referrer's view: the first two characters of the local part, then
/// `***`, then the domain (`ab***@example.com`).
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let shown: String = local.chars().take(2).collect();
            format!("{shown}***@{domain}")
        }
        None => "***".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let c = referral_code(&[0, 1, 35, 36, 251, 252, 255, 25, 26, 100]).expect("enough");
        assert_eq!(c, "REFAB9A9Z02");
        assert_eq!(c.len(), 11);
        assert_eq!(referral_code(&[252; 64]), Err(NotEnoughRandomness));
        assert_eq!(referral_code(&[1; 7]), Err(NotEnoughRandomness));
        assert_eq!(normalize_code(" refab9a9z02 "), Some("REFAB9A9Z02".into()));
        for bad in ["", "REF", "REFABZAPZ0", "REFABZAPZ0WX", "XYZABZAPZ0W", "REFABZAPZ0!"] {
            assert_eq!(normalize_code(bad), None, "{bad}");
        }
    }

    #[test]
    fn rates_and_discounts() {
        assert_eq!(commission_rate(1000), Ok(Bps(1000)));
        assert_eq!(commission_rate(0), Ok(Bps(0)));
        assert!(commission_rate(10_001).is_err());
        assert!(commission_rate(-1).is_err());
        assert_eq!(discount(DiscountType::Percentage, 5), Ok(Discount::Percentage(Bps(500))));
        assert!(discount(DiscountType::Percentage, 0).is_err());
        assert!(discount(DiscountType::Percentage, 101).is_err());
        assert_eq!(discount(DiscountType::Fixed, 3000), Ok(Discount::Fixed(Points(3000))));
        assert!(discount(DiscountType::Fixed, 0).is_err());
        assert!(discount(DiscountType::Fixed, MAX_FIXED_DISCOUNT + 1).is_err());
        assert_eq!("fixed".parse::<DiscountType>(), Ok(DiscountType::Fixed));
        assert!("percent".parse::<DiscountType>().is_err());
    }

    #[test]
    fn coupon_rules_table() {
        let base = CouponTerms {
            discount: Discount::Percentage(Bps(500)),
            min_order_amount: Points(1000),
            valid_from: Some(Millis(100)),
            expires_at: Some(Millis(200)),
            is_active: true,
            is_used: false,
        };
        assert_eq!(apply_coupon(&base, Points(10_000), Millis(100)), Ok(Points(500)));
        assert_eq!(apply_coupon(&base, Points(1000), Millis(199)), Ok(Points(50)));
        assert_eq!(apply_coupon(&base, Points(10_000), Millis(99)), Err(CouponRefusal::NotYetValid));
        assert_eq!(apply_coupon(&base, Points(10_000), Millis(200)), Err(CouponRefusal::Expired));
        assert_eq!(
            apply_coupon(&base, Points(999), Millis(150)),
            Err(CouponRefusal::BelowMinimum { min_order_amount: Points(1000) })
        );
        let used = CouponTerms { is_used: true, ..base };
        assert_eq!(apply_coupon(&used, Points(10_000), Millis(150)), Err(CouponRefusal::Used));
        let off = CouponTerms { is_active: false, ..used };
        assert_eq!(apply_coupon(&off, Points(10_000), Millis(150)), Err(CouponRefusal::Inactive));
        let open = CouponTerms {
            valid_from: None,
            expires_at: None,
            discount: Discount::Fixed(Points(5000)),
            ..base
        };
        assert_eq!(apply_coupon(&open, Points(3000), Millis::MIN), Ok(Points(3000)));
        assert!(may_issue(0, Some(1)) && !may_issue(1, Some(1)) && may_issue(i64::MAX, None));
        for r in [CouponRefusal::NotYours, CouponRefusal::Expired, CouponRefusal::Used] {
            assert!(!r.reason().is_empty() && !r.to_string().is_empty());
        }
    }

    #[test]
    fn commission_follows_the_order() {
        use CommissionStatus as C;
        use OrderStatus as O;
        let rate = Bps(1000);
        let s = |o, refunded| {
            commission_settlement(o, Points(1000), Points(refunded), rate).map(|s| (s.status, s.amount.0))
        };
        assert_eq!(s(O::Pending, 0), Ok((C::Pending, 100)));
        assert_eq!(s(O::Processing, 400), Ok((C::Pending, 60)));
        assert_eq!(s(O::Completed, 0), Ok((C::Confirmed, 100)));
        assert_eq!(s(O::Partial, 250), Ok((C::Reduced, 75)));
        assert_eq!(s(O::Partial, 0), Ok((C::Confirmed, 100)));
        assert_eq!(s(O::Partial, 1000), Ok((C::Canceled, 0)));
        assert_eq!(s(O::Canceled, 1000), Ok((C::Canceled, 0)));
        assert_eq!(s(O::Failed, 1000), Ok((C::Canceled, 0)));
        assert_eq!(s(O::Canceled, 500), Ok((C::Reduced, 50)));
        assert!(returns_coupon(O::Failed, Points(10), Points(10)));
        assert!(returns_coupon(O::Canceled, Points(0), Points(0)));
        assert!(!returns_coupon(O::Partial, Points(10), Points(10)));
        assert!(!returns_coupon(O::Canceled, Points(10), Points(9)));
        for st in CommissionStatus::ALL {
            assert_eq!(st.as_str().parse::<CommissionStatus>(), Ok(st));
        }
    }

    #[test]
    fn book_entries_table() {
        let table = [
            (
                entries::commission(7, CommissionStatus::Confirmed),
                "commission",
                "order:7",
                "주문 #7 추천 수수료 (confirmed)",
            ),
            (
                entries::commission(8, CommissionStatus::Reduced),
                "commission",
                "order:8",
                "주문 #8 추천 수수료 (reduced)",
            ),
            (entries::withdrawal_request(3), "withdrawal_request", "withdrawal:3", "출금 신청 (예약)"),
            (entries::withdrawal_approved(3), "withdrawal_approved", "withdrawal:3", "출금 승인 (지급)"),
            (entries::withdrawal_rejected(4), "withdrawal_rejected", "withdrawal:4", "출금 거절 (예약 해제)"),
            (entries::payout(5), "payout", "payout:5", "수수료 지급"),
        ];
        for (e, kind, reference, description) in table {
            assert_eq!(
                (e.kind, e.reference.as_str(), e.description.as_str()),
                (kind, reference, description)
            );
        }
        let mut w = Withdrawal::requested(Points(1000));
        assert_eq!(w.entry(3), entries::withdrawal_request(3));
        let _ = w.handle(WithdrawalInput::Reject).expect("reject");
        assert_eq!(w.entry(3), entries::withdrawal_rejected(3));
        let mut w = Withdrawal::requested(Points(1000));
        let _ = w.handle(WithdrawalInput::Approve).expect("approve");
        assert_eq!(w.entry(3), entries::withdrawal_approved(3));
    }

    #[test]
    fn book_and_withdrawals() {
        let book = CommissionBook::default().earn(Points(5000)).expect("earn");
        assert_eq!(book.reserve(Points(999)), Err(BookError::BelowMinimum));
        assert_eq!(book.reserve(Points(5001)), Err(BookError::ExceedsBalance { balance: Points(5000) }));
        assert_eq!(book.pay(Points(0)), Err(BookError::NotPositive));
        assert_eq!(book.pay(Points(-5)), Err(BookError::NotPositive));
        let book = book.reserve(Points(3000)).expect("reserve");
        assert_eq!(book.balance(), Ok(Points(2000)));
        assert_eq!(
            CommissionBook::default().earn(Points(5000)).expect("earn").moved(&book),
            Ok(Points(-3000))
        );
        let mut w = Withdrawal::requested(Points(3000));
        let e = w.handle(WithdrawalInput::Approve).expect("approve");
        assert_eq!(w.handle(WithdrawalInput::Reject), Err(AlreadyDecided(WithdrawalState::Approved)));
        let approved = book.apply(e).expect("apply");
        assert_eq!(book.moved(&approved), Ok(Points::ZERO));
        let book = approved;
        assert_eq!(book, CommissionBook { earned: Points(5000), paid: Points(3000), reserved: Points(0) });
        assert_eq!(book.apply(e), Err(BookError::ExceedsReserved));
        let book = book.reserve(Points(1000)).expect("reserve");
        let mut w = Withdrawal::requested(Points(1000));
        let book = book.apply(w.handle(WithdrawalInput::Reject).expect("reject")).expect("apply");
        assert_eq!(book.balance(), Ok(Points(2000)));
        assert_eq!(mask_email("alice@example.com"), "al***@example.com");
        assert_eq!(mask_email("a@x.io"), "a***@x.io");
        assert_eq!(mask_email("nope"), "***");
    }
}
