//! Property tests of the money rules (product §6) and of client-input validation.
//!
//! STYLE.md asks for three layers on top of the boundary tables beside the code:
//!
//! 1. **No panic** (`*_never_panics`): every function returns `Ok` or `Err` for any input over
//!    the full `i64`/`u64`/`u32` ranges, negative and huge values included.
//! 2. **Invariants** (`*_invariants`, …): the §6 inequalities hold on every `Ok` result —
//!    `0 ≤ discount ≤ price`, `0 ≤ commission ≤ final_price`, `0 ≤ refund ≤ final_price`,
//!    shares sum to the total, prices are at least 1 and grow with the quantity.
//! 3. **Oracle** (`*_matches_reference`): agreement with an independent reference written
//!    below in wide (`u128`/`i128`) arithmetic and with different rounding code. Whenever
//!    the exact result fits in an `i64` the function must return it; when it does not, the
//!    function must return `Err(MoneyError::Overflow)`.
//!
//! Failures are not persisted to a `proptest-regressions/` file; a case worth keeping is
//! written out as a plain `#[test]` at the end of this file instead.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use snspmt_core::money::{
    commission, commission_after_refund, coupon_discount, discounted_price, import_price, order_price,
    partial_refund, split_evenly, total_quantity, Discount,
};
use snspmt_core::validate::{self, MAX_EMAIL_LEN};
use snspmt_core::{Bps, MoneyError, Points, Won};

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

/// Any `i64`, weighted towards the places where rounding and overflow live: zero, small
/// positive amounts, the top of the range and the negative edge.
fn any_amount() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => any::<i64>(),
        4 => 0..=1_000_000_000_i64,
        2 => (i64::MAX - 1_000_000)..=i64::MAX,
        1 => -1_000..0_i64,
        1 => prop::sample::select(vec![
            i64::MIN,
            i64::MIN + 1,
            -1,
            0,
            1,
            999,
            1_000,
            1_001,
            i64::MAX / 1_000,
            i64::MAX - 1,
            i64::MAX,
        ]),
    ]
}

/// A non-negative amount, for properties about the `Ok` path.
fn paid_amount() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => 0..=1_000_000_000_i64,
        1 => 0..=i64::MAX,
        1 => (i64::MAX - 1_000_000)..=i64::MAX,
    ]
}

/// Any `u64` quantity, weighted towards zero, small orders and the top of the range.
fn any_quantity() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => any::<u64>(),
        4 => 0..=1_000_000_u64,
        2 => (u64::MAX - 1_000_000)..=u64::MAX,
        1 => prop::sample::select(vec![0, 1, 999, 1_000, 1_001, u64::MAX / 2, u64::MAX]),
    ]
}

/// Any `u32` run count; 0 and 1 both mean "not drip-feed".
fn any_runs() -> impl Strategy<Value = u32> {
    prop_oneof![
        2 => any::<u32>(),
        4 => 0..=100_u32,
        1 => prop::sample::select(vec![0, 1, u32::MAX]),
    ]
}

/// Any `u32` rate, weighted towards the valid share range 0..=10 000 and its edges.
fn any_rate() -> impl Strategy<Value = u32> {
    prop_oneof![
        2 => any::<u32>(),
        4 => 0..=10_000_u32,
        1 => prop::sample::select(vec![0, 1, 9_999, 10_000, 10_001, u32::MAX]),
    ]
}

/// Any won-per-dollar exchange rate: realistic ones, and the top of the `u32` range.
fn any_usd_krw() -> impl Strategy<Value = u32> {
    prop_oneof![
        2 => 0..=5_000_u32,
        1 => any::<u32>(),
        1 => (u32::MAX - 1_000)..=u32::MAX,
    ]
}

/// Any import markup in basis points: a markup may exceed 100 %, so the whole `u32` range is
/// meaningful, weighted towards realistic markups and the top of the range.
fn any_markup() -> impl Strategy<Value = u32> {
    prop_oneof![
        2 => 0..=30_000_u32,
        1 => any::<u32>(),
        1 => (u32::MAX - 1_000)..=u32::MAX,
    ]
}

/// A rate that is a valid share (0..=100 %).
fn share_rate() -> impl Strategy<Value = Bps> {
    (0..=10_000_u32).prop_map(Bps)
}

/// Any coupon, valid or not.
fn any_discount() -> impl Strategy<Value = Discount> {
    prop_oneof![
        any_rate().prop_map(|b| Discount::Percentage(Bps(b))),
        any_amount().prop_map(|v| Discount::Fixed(Points(v))),
    ]
}

/// Runs the default number of cases (`PROPTEST_CASES` overrides it) and writes no
/// regression files into the source tree.
fn config() -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

// ---------------------------------------------------------------------------------------------
// The reference implementation
// ---------------------------------------------------------------------------------------------

/// An independent statement of §6 in wide arithmetic. It shares no code with
/// `snspmt_core::money` and rounds differently: ceilings are "quotient, plus one if there is
/// a remainder" instead of `(n + d − 1) / d`, and `floor(a × b / d)` is computed without
/// forming `a × b`.
mod reference {
    use snspmt_core::MoneyError;

    /// What a money function must return for some input.
    #[derive(Debug)]
    pub enum Expect {
        /// The exact mathematical result; `None` when it does not even fit in a `u128`
        /// (so certainly not in an `i64`).
        Value(Option<u128>),
        /// Some input is invalid: the function must fail with one of these. Which one wins
        /// when several inputs are bad is the implementation's choice.
        Invalid(Vec<MoneyError>),
    }

    /// `Invalid` with every error whose condition holds, or `Value(value())` if none does.
    pub fn expect(errors: &[(bool, MoneyError)], value: impl FnOnce() -> Option<u128>) -> Expect {
        let errs: Vec<MoneyError> = errors.iter().filter(|(bad, _)| *bad).map(|&(_, e)| e).collect();
        if errs.is_empty() {
            Expect::Value(value())
        } else {
            Expect::Invalid(errs)
        }
    }

    /// `ceil(n / d)` for `d > 0`.
    pub fn ceil_div(n: u128, d: u128) -> u128 {
        let (q, r) = (n / d, n % d);
        q + u128::from(r != 0)
    }

    /// `floor(a × b / d)` for `d > 0`, via `a = q·d + r` ⇒ `a·b/d = q·b + r·b/d`, so no
    /// intermediate is larger than the result or than `d × b`. `None` only if the result
    /// itself exceeds `u128`.
    pub fn mul_div_floor(a: u128, b: u128, d: u128) -> Option<u128> {
        let (q, r) = (a / d, a % d);
        q.checked_mul(b)?.checked_add(r.checked_mul(b)? / d)
    }

    /// A non-negative `i64` as `u128`. Only called once negativity has been ruled out.
    pub fn wide(v: i64) -> u128 {
        u128::try_from(v).unwrap_or(0)
    }

    pub fn order_price(per: i64, q: u64) -> Expect {
        expect(&[(q == 0, MoneyError::ZeroQuantity), (per < 0, MoneyError::Negative)], || {
            Some(ceil_div(wide(per) * u128::from(q), 1_000).max(1))
        })
    }

    /// `Ok(quantity × max(runs, 1))` or `Err(Overflow)`.
    pub fn total_quantity(quantity: u64, runs: u32) -> Result<u64, MoneyError> {
        let runs = if runs == 0 { 1 } else { runs };
        u64::try_from(u128::from(quantity) * u128::from(runs)).map_err(|_| MoneyError::Overflow)
    }

    pub fn percentage_discount(price: i64, bps: u32) -> Expect {
        expect(&[(price < 0, MoneyError::Negative), (bps > 10_000, MoneyError::RateOutOfRange)], || {
            mul_div_floor(wide(price), u128::from(bps), 10_000)
        })
    }

    pub fn fixed_discount(price: i64, value: i64) -> Expect {
        expect(&[(price < 0, MoneyError::Negative), (value < 0, MoneyError::Negative)], || {
            Some(wide(if value < price { value } else { price }))
        })
    }

    /// A user's price: the price less the discount rounded down.
    pub fn discounted_price(price: i64, bps: u32) -> Expect {
        expect(&[(price < 0, MoneyError::Negative), (bps > 10_000, MoneyError::RateOutOfRange)], || {
            Some(wide(price) - mul_div_floor(wide(price), u128::from(bps), 10_000)?)
        })
    }

    pub fn commission(paid: i64, rate: u32) -> Expect {
        expect(&[(paid < 0, MoneyError::Negative), (rate > 10_000, MoneyError::RateOutOfRange)], || {
            mul_div_floor(wide(paid), u128::from(rate), 10_000)
        })
    }

    pub fn partial_refund(paid: i64, remains: i64, q: u64) -> Expect {
        expect(&[(paid < 0, MoneyError::Negative)], || {
            if q == 0 {
                return Some(wide(paid));
            }
            let q = u128::from(q);
            let r = if remains <= 0 { 0 } else { wide(remains).min(q) };
            mul_div_floor(wide(paid), r, q)
        })
    }

    pub fn commission_after_refund(paid: i64, refunded: i64, rate: u32) -> Expect {
        expect(
            &[
                (paid < 0, MoneyError::Negative),
                (refunded < 0, MoneyError::Negative),
                (rate > 10_000, MoneyError::RateOutOfRange),
            ],
            || {
                let kept = if refunded >= paid { 0 } else { wide(paid) - wide(refunded) };
                mul_div_floor(kept, u128::from(rate), 10_000)
            },
        )
    }

    pub fn import_price(rate_micro_usd: u64, usd_krw: u32, markup: u32) -> Expect {
        expect(&[], || {
            let num = u128::from(rate_micro_usd)
                .checked_mul(u128::from(usd_krw))?
                .checked_mul(10_000 + u128::from(markup))?;
            Some(ceil_div(num, 1_000_000 * 10_000))
        })
    }

    /// The shares of `split_evenly`: `parts − 1` shares of `total / parts`, then one share of
    /// `total / parts + total % parts`.
    pub fn split_evenly(total: i64, parts: u32) -> Result<Vec<i64>, Vec<MoneyError>> {
        let mut errs = Vec::new();
        if parts == 0 {
            errs.push(MoneyError::ZeroQuantity);
        }
        if total < 0 {
            errs.push(MoneyError::Negative);
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        let n = i64::from(parts);
        let (each, rem) = (total / n, total % n);
        let mut shares: Vec<i64> = (1..parts).map(|_| each).collect();
        shares.push(each + rem);
        Ok(shares)
    }
}

use reference::Expect;

/// Asserts that `actual` is what the reference expects: the exact value if it fits in an
/// `i64`, `Err(Overflow)` if it does not, one of the listed errors for invalid input.
fn check(actual: Result<Points, MoneyError>, expected: Expect) -> Result<(), TestCaseError> {
    match expected {
        Expect::Invalid(errs) => {
            prop_assert!(
                matches!(actual, Err(e) if errs.contains(&e)),
                "expected one of {:?}, got {:?}",
                errs,
                actual
            );
        }
        Expect::Value(v) => {
            let want = v.and_then(|v| i64::try_from(v).ok()).map(Points).ok_or(MoneyError::Overflow);
            prop_assert_eq!(actual, want);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Layer 1: nothing panics, whatever the input
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn order_price_never_panics(per in any::<i64>(), q in any::<u64>()) {
        let _ = order_price(Points(per), q);
    }

    #[test]
    fn total_quantity_never_panics(q in any::<u64>(), runs in any::<u32>()) {
        let _ = total_quantity(q, runs);
    }

    #[test]
    fn coupon_discount_never_panics(price in any::<i64>(), bps in any::<u32>(), v in any::<i64>()) {
        let _ = coupon_discount(Points(price), Discount::Percentage(Bps(bps)));
        let _ = coupon_discount(Points(price), Discount::Fixed(Points(v)));
    }

    #[test]
    fn commission_never_panics(paid in any::<i64>(), rate in any::<u32>()) {
        let _ = commission(Points(paid), Bps(rate));
    }

    #[test]
    fn partial_refund_never_panics(paid in any::<i64>(), remains in any::<i64>(), q in any::<u64>()) {
        let _ = partial_refund(Points(paid), remains, q);
    }

    #[test]
    fn commission_after_refund_never_panics(
        paid in any::<i64>(),
        refunded in any::<i64>(),
        rate in any::<u32>(),
    ) {
        let _ = commission_after_refund(Points(paid), Points(refunded), Bps(rate));
    }

    #[test]
    fn import_price_never_panics(micro in any::<u64>(), krw in any::<u32>(), markup in any::<u32>()) {
        let _ = import_price(micro, krw, Bps(markup));
    }

    /// `split_evenly` refuses more than `MAX_PARTS` shares, so any `u32` is safe to pass.
    #[test]
    fn split_evenly_never_panics(total in any::<i64>(), parts in any::<u32>()) {
        let got = split_evenly(Points(total), parts);
        if parts > snspmt_core::money::MAX_PARTS {
            prop_assert_eq!(got, Err(MoneyError::TooManyParts));
        }
    }

    /// Invalid input fails before anything is allocated, even for `u32::MAX` parts.
    #[test]
    fn split_evenly_refuses_bad_input_before_allocating(
        total in i64::MIN..0,
        parts in any::<u32>(),
    ) {
        let got = split_evenly(Points(total), parts);
        prop_assert!(
            matches!(got, Err(MoneyError::Negative | MoneyError::ZeroQuantity | MoneyError::TooManyParts)),
            "{:?}",
            got
        );
    }

    #[test]
    fn points_and_won_checked_ops_never_panic(a in any::<i64>(), b in any::<i64>()) {
        let _ = Points(a).checked_add(Points(b));
        let _ = Points(a).checked_sub(Points(b));
        let _ = Points(a).checked_neg();
        let _ = Points::checked_sum([Points(a), Points(b), Points(a)]);
        let _ = Won(a).checked_add(Won(b));
        let _ = Won(a).checked_sub(Won(b));
    }
}

// ---------------------------------------------------------------------------------------------
// Layer 2: the §6 invariants on every Ok result
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// A price is at least 1 and is the ceiling of `per × q / 1000`:
    /// `(p − 1) × 1000 < per × q ≤ p × 1000` (the lower bound only when `p > 1`).
    #[test]
    fn order_price_invariants(per in any_amount(), q in any_quantity()) {
        if let Ok(Points(p)) = order_price(Points(per), q) {
            prop_assert!(p >= 1);
            let exact = i128::from(per) * i128::from(q);
            prop_assert!(i128::from(p) * 1_000 >= exact, "{} < {}/1000", p, exact);
            if p > 1 {
                prop_assert!((i128::from(p) - 1) * 1_000 < exact, "{} is not the ceiling", p);
            }
        }
    }

    /// More units never cost less, and if the larger order has a price so does the smaller.
    #[test]
    fn order_price_is_monotonic_in_quantity(
        per in any_amount(),
        a in any_quantity(),
        b in any_quantity(),
    ) {
        let (lo, hi) = (a.min(b).max(1), a.max(b).max(1));
        if let Ok(p_hi) = order_price(Points(per), hi) {
            let p_lo = order_price(Points(per), lo);
            prop_assert!(matches!(p_lo, Ok(p) if p <= p_hi), "{:?} > {:?}", p_lo, p_hi);
        }
    }

    /// A dearer catalogue line never prices lower.
    #[test]
    fn order_price_is_monotonic_in_rate(a in paid_amount(), b in paid_amount(), q in any_quantity()) {
        let (lo, hi) = (a.min(b), a.max(b));
        if let Ok(p_hi) = order_price(Points(hi), q) {
            let p_lo = order_price(Points(lo), q);
            prop_assert!(matches!(p_lo, Ok(p) if p <= p_hi), "{:?} > {:?}", p_lo, p_hi);
        }
    }

    /// Drip-feed multiplies; zero runs counts as one.
    #[test]
    fn total_quantity_invariants(q in any_quantity(), runs in any_runs()) {
        if let Ok(t) = total_quantity(q, runs) {
            prop_assert!(t >= q);
            prop_assert_eq!(t / u64::from(runs.max(1)), q);
        }
    }

    /// `0 ≤ discount ≤ price`, so `final_price = price − discount` is never negative.
    #[test]
    fn coupon_discount_invariants(price in any_amount(), discount in any_discount()) {
        if let Ok(d) = coupon_discount(Points(price), discount) {
            prop_assert!(Points::ZERO <= d && d <= Points(price), "{} off {}", d, price);
            let final_price = Points(price).checked_sub(d);
            prop_assert!(matches!(final_price, Ok(f) if !f.is_negative()));
        }
    }

    /// `0 ≤ commission ≤ final_price`.
    #[test]
    fn commission_invariants(paid in any_amount(), rate in any_rate()) {
        if let Ok(c) = commission(Points(paid), Bps(rate)) {
            prop_assert!(Points::ZERO <= c && c <= Points(paid), "{} on {}", c, paid);
        }
    }

    /// `0 ≤ refund ≤ final_price`; nothing undelivered refunds nothing, nothing delivered
    /// refunds everything, and more undelivered never refunds less.
    #[test]
    fn partial_refund_invariants(
        paid in any_amount(),
        a in any_amount(),
        b in any_amount(),
        q in any_quantity(),
    ) {
        let (r_lo, r_hi) = (a.min(b), a.max(b));
        if let (Ok(lo), Ok(hi)) = (
            partial_refund(Points(paid), r_lo, q),
            partial_refund(Points(paid), r_hi, q),
        ) {
            for refund in [lo, hi] {
                prop_assert!(Points::ZERO <= refund && refund <= Points(paid));
            }
            prop_assert!(lo <= hi, "remains {} refunds {} > remains {} refunds {}", r_lo, lo, r_hi, hi);
            if q > 0 && r_lo <= 0 {
                prop_assert_eq!(lo, Points::ZERO);
            }
            if i128::from(r_hi) >= i128::from(q) {
                prop_assert_eq!(hi, Points(paid));
            }
        }
    }

    /// After a refund the commission never grows: `0 ≤ commission_after_refund ≤
    /// commission(final_price)`, with equality when nothing was refunded.
    #[test]
    fn commission_after_refund_never_exceeds_commission(
        paid in any_amount(),
        refunded in any_amount(),
        rate in any_rate(),
    ) {
        if let Ok(after) = commission_after_refund(Points(paid), Points(refunded), Bps(rate)) {
            let before = commission(Points(paid), Bps(rate));
            prop_assert!(matches!(before, Ok(b) if Points::ZERO <= after && after <= b),
                "after {} vs before {:?}", after, before);
            if refunded == 0 {
                prop_assert_eq!(Ok(after), before);
            }
        }
    }

    /// The shares sum to the total, none is negative, all are equal but the last, and the
    /// last carries the remainder: `each ≤ last < each + parts`.
    #[test]
    fn split_evenly_invariants(total in any_amount(), parts in 0..=4_096_u32) {
        if let Ok(shares) = split_evenly(Points(total), parts) {
            prop_assert_eq!(shares.len(), parts as usize);
            prop_assert_eq!(Points::checked_sum(shares.iter().copied()), Ok(Points(total)));
            prop_assert!(shares.iter().all(|s| !s.is_negative()));
            let (last, rest) = shares.split_last().ok_or_else(|| TestCaseError::fail("no shares"))?;
            let each = rest.first().copied().unwrap_or(*last);
            prop_assert!(rest.iter().all(|&s| s == each), "unequal shares {:?}", rest);
            prop_assert!(
                each <= *last && i128::from(last.0) < i128::from(each.0) + i128::from(parts),
                "last {} vs each {} with {} parts", last, each, parts
            );
        }
    }

    /// An imported price is never negative and is the ceiling of the exact KRW amount.
    #[test]
    fn import_price_invariants(micro in any_quantity(), krw in 0..=5_000_u32, markup in any_markup()) {
        if let Ok(Points(p)) = import_price(micro, krw, Bps(markup)) {
            prop_assert!(p >= 0);
            let num = u128::from(micro) * u128::from(krw) * (10_000 + u128::from(markup));
            prop_assert!(u128::try_from(p).unwrap_or(0) * 10_000_000_000 >= num);
        }
    }

    /// One order through its life with realistic catalogue numbers: priced, discounted,
    /// commissioned, then partially refunded. Every step succeeds (a `MoneyError` fails the
    /// case through `?`) and every §6 bound holds.
    #[test]
    fn order_lifecycle_invariants(
        per in 0..=10_000_000_i64,
        quantity in 1..=1_000_000_u64,
        runs in 0..=100_u32,
        discount in prop_oneof![
            share_rate().prop_map(Discount::Percentage),
            (0..=1_000_000_i64).prop_map(|v| Discount::Fixed(Points(v))),
        ],
        rate in share_rate(),
        remains in -10..=1_000_010_i64,
    ) {
        let total = total_quantity(quantity, runs)?;
        let price = order_price(Points(per), total)?;
        let off = coupon_discount(price, discount)?;
        let final_price = price.checked_sub(off)?;
        let earned = commission(final_price, rate)?;
        let refund = partial_refund(final_price, remains, total)?;
        let kept = commission_after_refund(final_price, refund, rate)?;

        prop_assert!(price >= Points(1));
        prop_assert!(Points::ZERO <= off && off <= price);
        prop_assert!(Points::ZERO <= earned && earned <= final_price);
        prop_assert!(Points::ZERO <= refund && refund <= final_price);
        prop_assert!(Points::ZERO <= kept && kept <= earned);
        // What the panel keeps after the refund pays the remaining commission.
        prop_assert!(kept <= final_price.checked_sub(refund)?);
    }
}

// ---------------------------------------------------------------------------------------------
// Layer 3: the oracle
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn order_price_matches_reference(per in any_amount(), q in any_quantity()) {
        check(order_price(Points(per), q), reference::order_price(per, q))?;
    }

    #[test]
    fn total_quantity_matches_reference(q in any_quantity(), runs in any_runs()) {
        prop_assert_eq!(total_quantity(q, runs), reference::total_quantity(q, runs));
    }

    #[test]
    fn percentage_discount_matches_reference(price in any_amount(), bps in any_rate()) {
        check(
            coupon_discount(Points(price), Discount::Percentage(Bps(bps))),
            reference::percentage_discount(price, bps),
        )?;
    }

    #[test]
    fn fixed_discount_matches_reference(price in any_amount(), value in any_amount()) {
        check(
            coupon_discount(Points(price), Discount::Fixed(Points(value))),
            reference::fixed_discount(price, value),
        )?;
    }

    #[test]
    fn commission_matches_reference(paid in any_amount(), rate in any_rate()) {
        check(commission(Points(paid), Bps(rate)), reference::commission(paid, rate))?;
    }

    #[test]
    fn partial_refund_matches_reference(
        paid in any_amount(),
        remains in any_amount(),
        q in any_quantity(),
    ) {
        check(
            partial_refund(Points(paid), remains, q),
            reference::partial_refund(paid, remains, q),
        )?;
    }

    /// Pins the current contract for a negative `refunded`: it is refused as `Negative`
    /// (the doc comment says "clamped to 0..=final_price"; see the report).
    #[test]
    fn commission_after_refund_matches_reference(
        paid in any_amount(),
        refunded in any_amount(),
        rate in any_rate(),
    ) {
        check(
            commission_after_refund(Points(paid), Points(refunded), Bps(rate)),
            reference::commission_after_refund(paid, refunded, rate),
        )?;
    }

    #[test]
    fn import_price_matches_reference(
        micro in any_quantity(),
        krw in any_usd_krw(),
        markup in any_markup(),
    ) {
        check(
            import_price(micro, krw, Bps(markup)),
            reference::import_price(micro, krw, markup),
        )?;
    }

    #[test]
    fn split_evenly_matches_reference(total in any_amount(), parts in 0..=4_096_u32) {
        let got = split_evenly(Points(total), parts);
        match reference::split_evenly(total, parts) {
            Ok(want) => prop_assert_eq!(got, Ok(want.into_iter().map(Points).collect())),
            Err(errs) => prop_assert!(
                matches!(got, Err(e) if errs.contains(&e)),
                "expected one of {:?}, got {:?}", errs, got
            ),
        }
    }

    #[test]
    fn bps_share_matches_reference(v in any_rate()) {
        let want = if v <= 10_000 { Ok(Bps(v)) } else { Err(MoneyError::RateOutOfRange) };
        prop_assert_eq!(Bps::share(v), want);
    }

    #[test]
    fn points_and_won_checked_ops_match_reference(a in any_amount(), b in any_amount()) {
        let fit = |v: i128| i64::try_from(v).map_err(|_| MoneyError::Overflow);
        let (wa, wb) = (i128::from(a), i128::from(b));
        prop_assert_eq!(Points(a).checked_add(Points(b)), fit(wa + wb).map(Points));
        prop_assert_eq!(Points(a).checked_sub(Points(b)), fit(wa - wb).map(Points));
        prop_assert_eq!(Points(a).checked_neg(), fit(-wa).map(Points));
        prop_assert_eq!(Won(a).checked_add(Won(b)), fit(wa + wb).map(Won));
        prop_assert_eq!(Won(a).checked_sub(Won(b)), fit(wa - wb).map(Won));
        prop_assert_eq!(Won(a).to_points(), Points(a));
    }

    /// `checked_sum` adds left to right and fails as soon as a running total leaves the
    /// `i64` range, even if later items would bring it back.
    #[test]
    fn points_checked_sum_matches_reference(items in prop::collection::vec(any_amount(), 0..16)) {
        let mut running: i128 = 0;
        let mut want = Ok(Points::ZERO);
        for &v in &items {
            running += i128::from(v);
            match i64::try_from(running) {
                Ok(r) => want = Ok(Points(r)),
                Err(_) => {
                    want = Err(MoneyError::Overflow);
                    break;
                }
            }
        }
        prop_assert_eq!(Points::checked_sum(items.into_iter().map(Points)), want);
    }
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

/// `^[A-Za-z0-9_.:@-]{1,128}$`, written out by hand: counts characters (not bytes) and
/// names the ASCII ranges explicitly, so it does not share `validate::user_id`'s shortcuts.
fn is_user_id(s: &str) -> bool {
    let n = s.chars().count();
    (1..=128).contains(&n)
        && s.chars().all(|c| matches!(c, 'A'..='Z' | 'a'..='z' | '0'..='9' | '_' | '.' | ':' | '@' | '-'))
}

/// Characters that look like they might belong in a user id but do not: separators,
/// control characters, non-ASCII letters and digits (`한`, `é`, the Kelvin sign, `٣`, a
/// full-width `Ａ`).
const STRANGERS: [char; 12] =
    [' ', '/', '+', '#', '\0', '\n', '한', 'é', '\u{212A}', '٣', '\u{FF21}', '\u{7F}'];

/// Strings close to the user-id pattern: a valid id with exactly one foreign character
/// inserted, valid characters across the 128-character boundary, and mostly-valid strings
/// with foreign characters mixed in.
fn near_miss_user_id() -> impl Strategy<Value = String> {
    let one_stranger = (
        "[A-Za-z0-9_.:@-]{0,128}",
        prop_oneof![prop::sample::select(STRANGERS.to_vec()), any::<char>()],
        any::<prop::sample::Index>(),
    )
        .prop_map(|(id, c, at)| {
            let mut chars: Vec<char> = id.chars().collect();
            chars.insert(at.index(chars.len() + 1), c);
            String::from_iter(chars)
        });
    let mixed = prop::collection::vec(
        prop_oneof![
            30 => "[A-Za-z0-9_.:@-]".prop_map(|s| s.chars().next().unwrap_or('a')),
            1 => prop::sample::select(STRANGERS.to_vec()),
            1 => any::<char>(),
        ],
        0..=130,
    )
    .prop_map(String::from_iter);
    prop_oneof![one_stranger, "[A-Za-z0-9_.:@-]{126,130}", Just(String::new()), mixed,]
}

/// Plausible addresses, with mixed case, non-ASCII letters and surrounding white space.
fn email_like() -> impl Strategy<Value = String> {
    (
        "[ \t]{0,2}",
        "[A-Za-z0-9._%+ÀÉΣİȺȾ-]{1,40}",
        "[A-Za-zÀÉİȺȾ0-9-]{1,20}(\\.[A-Za-z]{2,6}){1,2}",
        "[ \t]{0,2}",
    )
        .prop_map(|(pre, local, domain, post)| format!("{pre}{local}@{domain}{post}"))
}

/// Addresses padded to 248..=256 bytes, with letters whose lower case is longer in UTF-8
/// (`İ`, `Ⱥ`, `Ⱦ`), to probe the `MAX_EMAIL_LEN` boundary.
fn email_near_limit() -> impl Strategy<Value = String> {
    ("[A-Za-zİȺȾ]{1,8}", "[a-z]{1,10}\\.[a-z]{2,4}", 248_usize..=256).prop_map(|(head, domain, target)| {
        let pad = target.saturating_sub(head.len() + 1 + domain.len());
        format!("{head}{}@{domain}", "a".repeat(pad))
    })
}

proptest! {
    #![proptest_config(config())]

    /// Every string of the pattern is accepted, and returned unchanged.
    #[test]
    fn user_id_accepts_every_matching_string(s in "[A-Za-z0-9_.:@-]{1,128}") {
        prop_assert!(is_user_id(&s));
        prop_assert_eq!(validate::user_id(&s).ok(), Some(s.as_str()));
    }

    #[test]
    fn user_id_agrees_with_pattern_on_arbitrary_strings(s in any::<String>()) {
        prop_assert_eq!(validate::user_id(&s).is_ok(), is_user_id(&s), "{:?}", s);
    }

    #[test]
    fn user_id_agrees_with_pattern_on_near_misses(s in near_miss_user_id()) {
        match validate::user_id(&s) {
            Ok(v) => prop_assert!(is_user_id(&s) && v == s, "accepted {:?}", s),
            Err(e) => {
                prop_assert!(!is_user_id(&s), "refused {:?}", s);
                prop_assert_eq!(e.code, "invalid_user_id");
            }
        }
    }

    /// A normalised e-mail is lower case, fits the column, and validates to itself, so
    /// normalising twice is normalising once.
    #[test]
    fn email_is_lowercase_and_idempotent(
        s in prop_oneof![any::<String>(), email_like(), email_near_limit()],
    ) {
        if let Ok(e) = validate::email(&s) {
            prop_assert_eq!(&e, &e.to_lowercase(), "not lower case");
            prop_assert!(e.len() <= MAX_EMAIL_LEN, "{} bytes from {:?}", e.len(), s);
            prop_assert_eq!(validate::email(&e), Ok(e.clone()), "not idempotent for {:?}", s);
        }
    }

    /// Addresses differing only in ASCII case normalise to the same address.
    #[test]
    fn email_ignores_ascii_case(s in email_like()) {
        prop_assert_eq!(validate::email(&s), validate::email(&s.to_ascii_uppercase()));
    }
}

// ---------------------------------------------------------------------------------------------
// Minimal cases found by the properties above
// ---------------------------------------------------------------------------------------------

/// Found by `import_price_never_panics`: the numerator `rate × usd_krw × (10000 + markup)`
/// is formed with unchecked `i128` multiplication, which panics in debug builds (and wraps in
/// release builds, where `import_price(18446701132726495979, u32::MAX, Bps(u32::MAX))`
/// returns a plausible-looking `Ok(Points(1359497834))`). One markup point lower is the
/// largest input that still fails cleanly.
#[test]
fn import_price_extreme_inputs_are_an_overflow_not_a_panic() {
    assert_eq!(import_price(u64::MAX, u32::MAX, Bps(2_147_473_648)), Err(MoneyError::Overflow));
    let got = std::panic::catch_unwind(|| import_price(u64::MAX, u32::MAX, Bps(2_147_473_649)));
    assert_eq!(got.ok(), Some(Err(MoneyError::Overflow)), "import_price panicked");
}

/// Found by `email_is_lowercase_and_idempotent`: the length limit is checked before lower
/// casing, and `Ⱥ` (2 bytes) lower-cases to `ⱥ` (3 bytes), so a 254-byte address normalises
/// to 255 bytes, which `email` itself then refuses. Either refusing the input or keeping the
/// output within the limit would satisfy this test.
#[test]
fn email_normalised_at_the_length_limit_revalidates() {
    let input = format!("Ⱥ{}@a.co", "a".repeat(247));
    assert_eq!(input.len(), MAX_EMAIL_LEN);
    if let Ok(normalised) = validate::email(&input) {
        assert!(normalised.len() <= MAX_EMAIL_LEN, "normalised to {} bytes", normalised.len());
        assert_eq!(validate::email(&normalised), Ok(normalised.clone()));
    }
}

// ---------------------------------------------------------------------------------------------
// Per-user rates: the user's price after their discount
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn discounted_price_never_panics(price in any::<i64>(), bps in any::<u32>()) {
        let _ = discounted_price(Points(price), Bps(bps));
    }

    /// Never above the base price, never negative; a bigger discount never costs more.
    #[test]
    fn discounted_price_invariants(price in any_amount(), a in any_rate(), b in any_rate()) {
        if let Ok(p) = discounted_price(Points(price), Bps(a)) {
            prop_assert!(Points::ZERO <= p && p <= Points(price), "{} at {} bps: {}", price, a, p);
            if let Ok(q) = discounted_price(Points(price), Bps(b)) {
                prop_assert!(if a <= b { q <= p } else { p <= q }, "monotonic");
            }
        }
        if price >= 0 {
            prop_assert_eq!(discounted_price(Points(price), Bps(0)), Ok(Points(price)));
        }
    }

    #[test]
    fn discounted_price_matches_reference(price in any_amount(), bps in any_rate()) {
        check(discounted_price(Points(price), Bps(bps)), reference::discounted_price(price, bps))?;
    }
}
