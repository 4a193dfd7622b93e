//! Property tests of the referral rules (product §11): the commission book against a model,
//! under any interleaving of commissions, withdrawal requests, decisions and payouts; the
//! commission life cycle; coupons; referral codes.

use proptest::prelude::*;

use snspmt_core::money::Discount;
use snspmt_core::order::OrderStatus;
use snspmt_core::referral::{
    apply_coupon, commission_settlement, normalize_code, referral_code, BookError, CommissionBook,
    CommissionStatus, CouponTerms, Withdrawal, WithdrawalInput, WithdrawalState, MIN_WITHDRAWAL,
};
use snspmt_core::{Bps, Millis, Points};

#[derive(Debug, Clone)]
enum Op {
    Earn(i64),
    Request(i64),
    Decide(usize, bool),
    Pay(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..20_000_i64).prop_map(Op::Earn),
        4 => prop_oneof![0..3_000_i64, -10..100_000_i64, Just(MIN_WITHDRAWAL), Just(i64::MAX)].prop_map(Op::Request),
        3 => (0..40_usize, any::<bool>()).prop_map(|(i, a)| Op::Decide(i, a)),
        2 => prop_oneof![-5..5_000_i64, Just(i64::MAX), Just(i64::MIN)].prop_map(Op::Pay),
    ]
}

proptest! {
    /// Whatever the order of events, the balance is `earned − paid − reserved`, never negative;
    /// the reserved amount is exactly what open requests hold; paid is what approvals and
    /// payouts took; a refused movement changes nothing.
    #[test]
    fn the_book_never_overdraws(ops in prop::collection::vec(op(), 0..80)) {
        let mut book = CommissionBook::default();
        let mut requests: Vec<Withdrawal> = Vec::new();
        let (mut earned, mut paid_out) = (0i64, 0i64);
        for op in ops {
            let before = book;
            let balance = book.balance().expect("balance");
            match op {
                Op::Earn(x) => {
                    book = book.earn(Points(x)).expect("earn");
                    earned += x;
                }
                Op::Request(x) => match book.reserve(Points(x)) {
                    Ok(b) => {
                        prop_assert!(x >= MIN_WITHDRAWAL && x <= balance.0, "accepted {x} of {balance}");
                        book = b;
                        requests.push(Withdrawal::requested(Points(x)));
                    }
                    Err(e) => {
                        prop_assert!(x < MIN_WITHDRAWAL || x > balance.0, "refused {x} of {balance}: {e}");
                        prop_assert_eq!(book, before);
                    }
                },
                Op::Decide(i, approve) => {
                    if requests.is_empty() { continue; }
                    let idx = i % requests.len();
                    let w = &mut requests[idx];
                    let was = w.state;
                    let input = if approve { WithdrawalInput::Approve } else { WithdrawalInput::Reject };
                    match w.handle(input) {
                        Ok(effects) => {
                            prop_assert_eq!(was, WithdrawalState::Requested);
                            book = book.apply(effects).expect("a decided request was reserved");
                            paid_out += effects.pay.0;
                        }
                        Err(e) => {
                            prop_assert_eq!(e.0, was);
                            prop_assert_ne!(was, WithdrawalState::Requested);
                        }
                    }
                }
                Op::Pay(x) => match book.pay(Points(x)) {
                    Ok(b) => {
                        prop_assert!(x > 0 && x <= balance.0);
                        book = b;
                        paid_out += x;
                    }
                    Err(e) => {
                        let expected = matches!(e, BookError::NotPositive | BookError::ExceedsBalance { .. });
                        prop_assert!(expected, "{:?}", e);
                        prop_assert_eq!(book, before);
                    }
                },
            }
            let balance = book.balance().expect("balance");
            prop_assert!(balance.0 >= 0, "negative balance {balance}");
            prop_assert_eq!(balance.0, book.earned.0 - book.paid.0 - book.reserved.0);
            let open: i64 = requests.iter().filter(|w| w.state == WithdrawalState::Requested).map(|w| w.amount.0).sum();
            prop_assert_eq!(book.reserved.0, open);
            prop_assert_eq!(book.paid.0, paid_out);
            prop_assert_eq!(book.earned.0, earned);
            prop_assert!(book.paid.0 + book.reserved.0 <= book.earned.0);
        }
    }

    /// A commission is between 0 and what the referrer's rate gives on the kept amount, and
    /// only a running order keeps it pending.
    #[test]
    fn commissions_stay_in_bounds(
        idx in 0..OrderStatus::ALL.len(),
        final_price in 0..=i64::MAX / 2,
        refunded in 0..=i64::MAX / 2,
        rate in 0..=10_000_u32,
    ) {
        let order = OrderStatus::ALL[idx];
        let s = commission_settlement(order, Points(final_price), Points(refunded), Bps(rate)).expect("in range");
        prop_assert!(s.amount.0 >= 0 && s.amount.0 <= final_price);
        let kept = i128::from(final_price - refunded.min(final_price));
        prop_assert!(i128::from(s.amount.0) <= kept * i128::from(rate) / 10_000);
        prop_assert_eq!(s.status == CommissionStatus::Pending, !order.is_terminal());
        if s.status == CommissionStatus::Canceled {
            prop_assert_eq!(s.amount.0, 0);
        }
    }

    /// A coupon's discount never exceeds the price and never applies outside its window.
    #[test]
    fn coupons_respect_their_terms(
        price in 0..1_000_000_000_i64,
        percent in 1..=100_u32,
        fixed in 1..10_000_000_i64,
        use_fixed in any::<bool>(),
        from in proptest::option::of(-1_000..1_000_i64),
        until in proptest::option::of(-1_000..1_000_i64),
        now in -2_000..2_000_i64,
        min in 0..1_000_000_000_i64,
    ) {
        let discount = if use_fixed { Discount::Fixed(Points(fixed)) } else { Discount::Percentage(Bps(percent * 100)) };
        let terms = CouponTerms {
            discount,
            min_order_amount: Points(min),
            valid_from: from.map(Millis),
            expires_at: until.map(Millis),
            is_active: true,
            is_used: false,
        };
        match apply_coupon(&terms, Points(price), Millis(now)) {
            Ok(d) => {
                prop_assert!(d.0 >= 0 && d.0 <= price);
                prop_assert!(price >= min);
                prop_assert!(from.is_none_or(|f| now >= f) && until.is_none_or(|u| now < u));
            }
            Err(_) => prop_assert!(
                price < min || from.is_some_and(|f| now < f) || until.is_some_and(|u| now >= u)
            ),
        }
    }

    /// Codes are `REF` + 8 of [A-Z0-9] and read back as themselves.
    #[test]
    fn codes_have_the_right_shape(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        match referral_code(&bytes) {
            Ok(code) => {
                prop_assert_eq!(code.len(), 11);
                prop_assert_eq!(normalize_code(&code.to_lowercase()), Some(code.clone()));
            }
            Err(_) => prop_assert!(bytes.iter().filter(|b| **b < 252).count() < 8),
        }
    }
}
