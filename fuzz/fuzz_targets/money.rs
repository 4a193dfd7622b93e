//! Every money function on arbitrary integers: never a panic, and the §6 bounds hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snspmt_core::money::{self, Discount};
use snspmt_core::{Bps, Points};

fuzz_target!(|input: (i64, u64, u32, i64, u32)| {
    let (price, quantity, rate, value, parts) = input;
    let _ = money::order_price(Points(price), quantity);
    if let Ok(d) = money::coupon_discount(Points(price), Discount::Percentage(Bps(rate))) {
        assert!(d.0 >= 0 && d.0 <= price);
    }
    if let Ok(d) = money::coupon_discount(Points(price), Discount::Fixed(Points(value))) {
        assert!(d.0 >= 0 && d.0 <= price);
    }
    if let Ok(c) = money::commission(Points(price), Bps(rate)) {
        assert!(c.0 >= 0 && c.0 <= price);
    }
    if let Ok(r) = money::partial_refund(Points(price), value, quantity) {
        assert!(r.0 >= 0 && r.0 <= price);
    }
    if let Ok(shares) = money::split_evenly(Points(price), parts) {
        assert_eq!(shares.iter().map(|s| i128::from(s.0)).sum::<i128>(), i128::from(price));
    }
    let _ = money::import_price(quantity, rate, Bps(parts));
});
