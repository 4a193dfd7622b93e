//! Money: integer points and won, rates in basis points, and the rounding rules of §6.
//!
//! 1 point = 1 KRW. Every amount is an `i64`; every rate is a `u32` of basis points
//! (10 000 = 100 %). Arithmetic is checked: an overflow is a [`MoneyError`], never a wrap or
//! a panic. Each rounding rule is one function whose documentation says who keeps the
//! remainder.
//!
//! # Example
//!
//! An order of 101 units at 2,500 points per thousand, its discounts, and its refund when 40
//! units were not delivered:
//!
//! ```
//! use snspmt_core::money::{self, Bps, Discount, MoneyError, Points};
//!
//! # fn main() -> Result<(), MoneyError> {
//! // 252.5 points: rounded up, the panel keeps the fraction.
//! let price = money::order_price(Points(2_500), 101)?;
//! assert_eq!(price, Points(253));
//! // A user's own 10 % discount is rounded down, so their price is rounded up.
//! assert_eq!(money::discounted_price(price, Bps(1_000))?, Points(228));
//! // A 5 % coupon takes floor(12.65); a fixed coupon never takes more than the price.
//! assert_eq!(money::coupon_discount(price, Discount::Percentage(Bps(500)))?, Points(12));
//! assert_eq!(money::coupon_discount(price, Discount::Fixed(Points(1_000)))?, Points(253));
//! // 40 of 101 undelivered: floor(253 × 40 / 101) goes back.
//! let refund = money::partial_refund(price, 40, 101)?;
//! assert_eq!(refund, Points(100));
//! // The referrer keeps 10 % of what the customer kept paying for.
//! assert_eq!(money::commission_after_refund(price, refund, Bps::DEFAULT_COMMISSION)?, Points(15));
//! // A package price split in three: the shares sum to the price, the last takes the rest.
//! assert_eq!(money::split_evenly(Points(1_000), 3)?, [Points(333), Points(333), Points(334)]);
//! // Out of range is an error, never a wrap or a panic.
//! assert_eq!(money::order_price(Points(i64::MAX), 1_001), Err(MoneyError::Overflow));
//! assert_eq!(Bps::share(10_001), Err(MoneyError::RateOutOfRange));
//! # Ok(())
//! # }
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

/// A number of points (1 point = 1 KRW). May be negative only as a ledger delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct Points(pub i64);

/// An amount of Korean won, as charged by a payment provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct Won(pub i64);

/// A rate in basis points: 10 000 = 100 %.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct Bps(pub u32);

/// Why a money computation has no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoneyError {
    /// The result does not fit in an `i64`.
    Overflow,
    /// An input that must not be negative was negative.
    Negative,
    /// A rate above 100 % where only 0..=100 % makes sense.
    RateOutOfRange,
    /// A quantity of zero where at least one unit is required.
    ZeroQuantity,
    /// More shares than [`MAX_PARTS`].
    TooManyParts,
}

impl fmt::Display for MoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MoneyError::Overflow => "amount out of range",
            MoneyError::Negative => "amount must not be negative",
            MoneyError::RateOutOfRange => "rate must be between 0 and 10000 basis points",
            MoneyError::ZeroQuantity => "quantity must be at least 1",
            MoneyError::TooManyParts => "too many parts to split into",
        })
    }
}

impl std::error::Error for MoneyError {}

impl Points {
    pub const ZERO: Points = Points(0);

    pub fn checked_add(self, other: Points) -> Result<Points, MoneyError> {
        self.0.checked_add(other.0).map(Points).ok_or(MoneyError::Overflow)
    }

    pub fn checked_sub(self, other: Points) -> Result<Points, MoneyError> {
        self.0.checked_sub(other.0).map(Points).ok_or(MoneyError::Overflow)
    }

    pub fn checked_neg(self) -> Result<Points, MoneyError> {
        self.0.checked_neg().map(Points).ok_or(MoneyError::Overflow)
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Sums amounts, failing on overflow instead of wrapping.
    pub fn checked_sum<I: IntoIterator<Item = Points>>(items: I) -> Result<Points, MoneyError> {
        items.into_iter().try_fold(Points::ZERO, Points::checked_add)
    }
}

impl fmt::Display for Points {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}P", self.0)
    }
}

impl Won {
    pub fn checked_add(self, other: Won) -> Result<Won, MoneyError> {
        self.0.checked_add(other.0).map(Won).ok_or(MoneyError::Overflow)
    }

    pub fn checked_sub(self, other: Won) -> Result<Won, MoneyError> {
        self.0.checked_sub(other.0).map(Won).ok_or(MoneyError::Overflow)
    }

    /// The points a payment of this many won buys (1 point = 1 KRW).
    pub fn to_points(self) -> Points {
        Points(self.0)
    }
}

impl fmt::Display for Won {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "₩{}", self.0)
    }
}

impl Bps {
    /// 100 %.
    pub const FULL: Bps = Bps(10_000);
    /// The default referral commission rate (§6): 10 %.
    pub const DEFAULT_COMMISSION: Bps = Bps(1_000);
    /// The referral coupon (§11): 5 % off.
    pub const REFERRAL_COUPON: Bps = Bps(500);

    /// A rate that is a share of something: 0..=100 %.
    pub fn share(value: u32) -> Result<Bps, MoneyError> {
        if value > Bps::FULL.0 {
            Err(MoneyError::RateOutOfRange)
        } else {
            Ok(Bps(value))
        }
    }
}

impl fmt::Display for Bps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}bps", self.0)
    }
}

fn non_negative(p: Points) -> Result<i128, MoneyError> {
    if p.0 < 0 {
        Err(MoneyError::Negative)
    } else {
        Ok(i128::from(p.0))
    }
}

fn narrow(v: i128) -> Result<Points, MoneyError> {
    i64::try_from(v).map(Points).map_err(|_| MoneyError::Overflow)
}

/// Price of `total_quantity` units at `price_per_1000` points per thousand:
/// `ceil(price_per_1000 × total_quantity / 1000)`, at least 1.
///
/// Rounding: **up**; the panel keeps the remainder (a fraction of a point is charged as a
/// whole point), and nothing is ever free.
pub fn order_price(price_per_1000: Points, total_quantity: u64) -> Result<Points, MoneyError> {
    if total_quantity == 0 {
        return Err(MoneyError::ZeroQuantity);
    }
    let per = non_negative(price_per_1000)?;
    let raw = per * i128::from(total_quantity);
    let price = (raw + 999) / 1000;
    narrow(price.max(1))
}

/// A user's own price: `price` less the per-user `discount`, i.e.
/// `price − floor(price × discount / 10000)`, used both for a price per 1000 units and for a
/// package's fixed price.
///
/// Rounding: the discount is rounded **down**, so the price is rounded up; the panel keeps the
/// remainder. Always `0 ≤ result ≤ price`; a negative `price` is [`MoneyError::Negative`], a
/// discount above 100 % is [`MoneyError::RateOutOfRange`].
pub fn discounted_price(price: Points, discount: Bps) -> Result<Points, MoneyError> {
    let base = non_negative(price)?;
    let bps = Bps::share(discount.0)?;
    narrow(base - base * i128::from(bps.0) / 10_000)
}

/// The total quantity of an order: `quantity × runs` (drip-feed; `runs` = 1 otherwise).
pub fn total_quantity(quantity: u64, runs: u32) -> Result<u64, MoneyError> {
    quantity.checked_mul(u64::from(runs.max(1))).ok_or(MoneyError::Overflow)
}

/// What a coupon takes off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(tag = "discount_type", content = "discount_value", rename_all = "snake_case")]
pub enum Discount {
    /// A share of the price.
    Percentage(Bps),
    /// A fixed number of points.
    Fixed(Points),
}

/// The discount a coupon gives on `price`.
///
/// Percentage: `floor(price × bps / 10000)` — rounding **down**, the panel keeps the
/// remainder. Fixed: `min(value, price)`. Always `0 ≤ discount ≤ price`.
pub fn coupon_discount(price: Points, discount: Discount) -> Result<Points, MoneyError> {
    let price_i = non_negative(price)?;
    let d = match discount {
        Discount::Percentage(bps) => {
            let bps = Bps::share(bps.0)?;
            price_i * i128::from(bps.0) / 10_000
        }
        Discount::Fixed(value) => non_negative(value)?.min(price_i),
    };
    narrow(d)
}

/// The referrer's commission on an order paid `final_price`:
/// `floor(final_price × rate / 10000)` — rounding **down**, the panel keeps the remainder.
pub fn commission(final_price: Points, rate: Bps) -> Result<Points, MoneyError> {
    let paid = non_negative(final_price)?;
    let rate = Bps::share(rate.0)?;
    narrow(paid * i128::from(rate.0) / 10_000)
}

/// The refund of a partially delivered order: `remains` of `quantity` were not delivered, so
/// the customer gets `floor(final_price × r / q)` with `r` clamped to `0..=q`.
///
/// Rounding: **down**; the panel keeps the remainder. `quantity == 0` refunds everything
/// (nothing could have been delivered).
pub fn partial_refund(final_price: Points, remains: i64, quantity: u64) -> Result<Points, MoneyError> {
    let paid = non_negative(final_price)?;
    if quantity == 0 {
        return narrow(paid);
    }
    let q = i128::from(quantity);
    let r = i128::from(remains).clamp(0, q);
    narrow(paid * r / q)
}

/// The commission that remains after a refund: `floor((final_price − refunded) × rate / 10000)`.
/// A `refunded` above `final_price` counts as `final_price` (nothing kept); a negative
/// `refunded` is refused with [`MoneyError::Negative`].
pub fn commission_after_refund(
    final_price: Points,
    refunded: Points,
    rate: Bps,
) -> Result<Points, MoneyError> {
    let paid = non_negative(final_price)?;
    let refunded = non_negative(refunded)?.min(paid);
    let kept = narrow(paid - refunded)?;
    commission(kept, rate)
}

/// The most shares [`split_evenly`] makes (a package of 1000 steps × repeats is far less).
pub const MAX_PARTS: u32 = 100_000;

/// Splits `total` into `parts` shares: `total / parts` each, and the remainder goes to the
/// **last** share, so the shares always sum to `total`.
pub fn split_evenly(total: Points, parts: u32) -> Result<Vec<Points>, MoneyError> {
    if parts == 0 {
        return Err(MoneyError::ZeroQuantity);
    }
    if parts > MAX_PARTS {
        return Err(MoneyError::TooManyParts);
    }
    let t = non_negative(total)?;
    let n = i128::from(parts);
    let each = t / n;
    let last = t - each * (n - 1);
    let mut shares = vec![narrow(each)?; parts as usize - 1];
    shares.push(narrow(last)?);
    Ok(shares)
}

/// Price of a catalogue service imported from the upstream:
/// `ceil(rate_usd_per_1000 × usd_krw × (10000 + markup) / 10000)` where the upstream rate is
/// given in millionths of a dollar (`rate_micro_usd`). Rounding **up**, the panel keeps the
/// remainder.
pub fn import_price(rate_micro_usd: u64, usd_krw: u32, markup: Bps) -> Result<Points, MoneyError> {
    let num = i128::from(rate_micro_usd)
        .checked_mul(i128::from(usd_krw))
        .and_then(|n| n.checked_mul(10_000 + i128::from(markup.0)))
        .ok_or(MoneyError::Overflow)?;
    let den: i128 = 1_000_000 * 10_000;
    narrow(num.div_euclid(den) + i128::from(num.rem_euclid(den) != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_price_table() {
        let cases: &[(i64, u64, i64)] = &[
            (1000, 1000, 1000),
            (1000, 1, 1),
            (1, 1, 1),    // 0.001 rounds up to 1
            (0, 1000, 1), // never free
            (2500, 100, 250),
            (2500, 101, 253), // 252.5 → 253
            (1999, 3, 6),     // 5.997 → 6
            (i64::MAX, 1000, i64::MAX),
        ];
        for &(per, q, want) in cases {
            assert_eq!(order_price(Points(per), q), Ok(Points(want)), "{per} x {q}");
        }
        assert_eq!(order_price(Points(i64::MAX), 1001), Err(MoneyError::Overflow));
        assert_eq!(order_price(Points(-1), 10), Err(MoneyError::Negative));
        assert_eq!(order_price(Points(10), 0), Err(MoneyError::ZeroQuantity));
    }

    #[test]
    fn discounted_price_table() {
        let cases: &[(i64, u32, i64)] = &[
            (1000, 0, 1000),
            (1000, 10_000, 0),
            (1000, 1_000, 900),
            (999, 1_000, 900), // 99.9 off rounds down to 99: the panel keeps the 0.9
            (1, 9_999, 1),     // 0.9999 off rounds down to 0
            (1, 10_000, 0),
            (0, 5_000, 0),
            (3, 3_334, 2), // 1.0002 off rounds down to 1
            (i64::MAX, 1, i64::MAX - i64::MAX / 10_000),
            (i64::MAX, 10_000, 0),
        ];
        for &(price, bps, want) in cases {
            assert_eq!(discounted_price(Points(price), Bps(bps)), Ok(Points(want)), "{price} at {bps}");
        }
        assert_eq!(discounted_price(Points(-1), Bps(0)), Err(MoneyError::Negative));
        assert_eq!(discounted_price(Points(100), Bps(10_001)), Err(MoneyError::RateOutOfRange));
    }

    #[test]
    fn discount_table() {
        assert_eq!(coupon_discount(Points(10_000), Discount::Percentage(Bps(500))), Ok(Points(500)));
        assert_eq!(coupon_discount(Points(999), Discount::Percentage(Bps(500))), Ok(Points(49)));
        assert_eq!(coupon_discount(Points(19), Discount::Percentage(Bps(500))), Ok(Points(0)));
        assert_eq!(coupon_discount(Points(100), Discount::Percentage(Bps(10_000))), Ok(Points(100)));
        assert_eq!(
            coupon_discount(Points(100), Discount::Percentage(Bps(10_001))),
            Err(MoneyError::RateOutOfRange)
        );
        assert_eq!(coupon_discount(Points(100), Discount::Fixed(Points(3000))), Ok(Points(100)));
        assert_eq!(coupon_discount(Points(5000), Discount::Fixed(Points(3000))), Ok(Points(3000)));
        assert_eq!(coupon_discount(Points(5000), Discount::Fixed(Points(-1))), Err(MoneyError::Negative));
    }

    #[test]
    fn commission_and_refund_table() {
        assert_eq!(commission(Points(9_500), Bps::DEFAULT_COMMISSION), Ok(Points(950)));
        assert_eq!(commission(Points(9), Bps::DEFAULT_COMMISSION), Ok(Points(0)));
        assert_eq!(partial_refund(Points(1000), 250, 1000), Ok(Points(250)));
        assert_eq!(partial_refund(Points(1000), 1, 3), Ok(Points(333)));
        assert_eq!(partial_refund(Points(1000), -5, 3), Ok(Points(0)));
        assert_eq!(partial_refund(Points(1000), 50, 3), Ok(Points(1000)));
        assert_eq!(partial_refund(Points(1000), 0, 0), Ok(Points(1000)));
        assert_eq!(commission_after_refund(Points(1000), Points(250), Bps(1000)), Ok(Points(75)));
        assert_eq!(commission_after_refund(Points(1000), Points(5000), Bps(1000)), Ok(Points(0)));
    }

    #[test]
    fn split_table() {
        assert_eq!(split_evenly(Points(10), 3), Ok(vec![Points(3), Points(3), Points(4)]));
        assert_eq!(split_evenly(Points(0), 2), Ok(vec![Points(0), Points(0)]));
        assert_eq!(split_evenly(Points(7), 1), Ok(vec![Points(7)]));
        assert_eq!(split_evenly(Points(7), 0), Err(MoneyError::ZeroQuantity));
    }

    #[test]
    fn import_price_table() {
        // $0.50 per 1000 at 1400 KRW/USD with 50 % markup = 1050.
        assert_eq!(import_price(500_000, 1400, Bps(5000)), Ok(Points(1050)));
        // $0.001 per 1000 rounds up to 2.
        assert_eq!(import_price(1_000, 1400, Bps(0)), Ok(Points(2)));
    }

    #[test]
    fn checked_arithmetic() {
        assert_eq!(Points(i64::MAX).checked_add(Points(1)), Err(MoneyError::Overflow));
        assert_eq!(Points(i64::MIN).checked_neg(), Err(MoneyError::Overflow));
        assert_eq!(Points::checked_sum([Points(1), Points(2), Points(-3)]), Ok(Points(0)));
    }
}
