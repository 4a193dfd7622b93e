//! Pricing a cart with `snspmt-core` alone: no server, no database, no clock.
//!
//! ```text
//! cargo run -p snspmt-examples --example price_cart
//! ```
//!
//! Everything here is one of the rounding rules of the product contract (§6), each a named
//! function in [`snspmt_core::money`] that says who keeps the remainder:
//!
//! 1. each catalogue line costs `ceil(price_per_1000 × quantity × runs / 1000)`, at least 1
//!    point ([`total_quantity`], [`order_price`]);
//! 2. the 5 % referral coupon comes off the cart total, rounded down
//!    ([`coupon_discount`] with [`Bps::REFERRAL_COUPON`]);
//! 3. the referrer earns 10 % of what was paid, rounded down ([`commission`] with
//!    [`Bps::DEFAULT_COMMISSION`]);
//! 4. one line comes back from the upstream as `Partial`: the undelivered share of what was
//!    paid for that line is refunded ([`partial_refund`]) and the referrer's commission is
//!    recomputed on what the panel kept ([`commission_after_refund`]).
//!
//! Every step is checked arithmetic, so a bad number is a [`MoneyError`] carried out of
//! `main` by `?`, never a wrapped amount or a panic.

use snspmt_core::money::{
    commission, commission_after_refund, coupon_discount, order_price, partial_refund, total_quantity,
    Discount,
};
use snspmt_core::{Bps, MoneyError, Points};

/// One line of the cart, as the catalogue prices it.
struct Line {
    service: &'static str,
    /// Catalogue price in points per 1000 units.
    price_per_1000: Points,
    /// Units per run.
    quantity: u64,
    /// Drip-feed runs; 1 for a plain order.
    runs: u32,
}

/// A line once priced.
struct Priced<'a> {
    line: &'a Line,
    total_quantity: u64,
    price: Points,
}

const CART: [Line; 4] = [
    Line { service: "Instagram followers (KR)", price_per_1000: Points(12_900), quantity: 1_000, runs: 1 },
    Line { service: "Instagram likes, drip-feed", price_per_1000: Points(1_500), quantity: 500, runs: 4 },
    Line { service: "YouTube views", price_per_1000: Points(2_750), quantity: 3_333, runs: 1 },
    Line { service: "TikTok followers", price_per_1000: Points(8_800), quantity: 250, runs: 1 },
];

/// The line that comes back `Partial`, and how many of its units the upstream did not deliver.
const PARTIAL_LINE: usize = 2;
const REMAINS: i64 = 1_111;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. Price every line from the catalogue; the client's idea of the price is never used.
    let priced = CART
        .iter()
        .map(|line| {
            let total_quantity = total_quantity(line.quantity, line.runs)?;
            let price = order_price(line.price_per_1000, total_quantity)?;
            Ok(Priced { line, total_quantity, price })
        })
        .collect::<Result<Vec<_>, MoneyError>>()?;

    println!("{:<28} {:>9} {:>7} {:>5} {:>9} {:>9}", "service", "P/1000", "qty", "runs", "units", "price");
    println!("{}", "-".repeat(72));
    for p in &priced {
        println!(
            "{:<28} {:>9} {:>7} {:>5} {:>9} {:>9}",
            p.line.service,
            p.line.price_per_1000.to_string(),
            p.line.quantity,
            p.line.runs,
            p.total_quantity,
            p.price.to_string(),
        );
    }
    println!("{}", "-".repeat(72));

    // 2. The coupon comes off the cart total (rounded down: the panel keeps the fraction).
    let subtotal = Points::checked_sum(priced.iter().map(|p| p.price))?;
    let coupon = Discount::Percentage(Bps::REFERRAL_COUPON);
    let discount = coupon_discount(subtotal, coupon)?;
    let final_price = subtotal.checked_sub(discount)?;

    // 3. The referrer's commission on what the customer actually paid.
    let earned = commission(final_price, Bps::DEFAULT_COMMISSION)?;

    row("subtotal", subtotal);
    row(&format!("coupon ({})", Bps::REFERRAL_COUPON), discount.checked_neg()?);
    row("paid", final_price);
    row(&format!("referrer commission ({})", Bps::DEFAULT_COMMISSION), earned);

    // 4. One line comes back Partial. What the customer paid for that line is its price less
    //    the same coupon rule applied to the line alone; rounding the line's share of the
    //    discount down can only give the line less discount than the cart got, never more.
    let partial = priced.get(PARTIAL_LINE).ok_or("no such cart line")?;
    let line_paid = partial.price.checked_sub(coupon_discount(partial.price, coupon)?)?;
    let refund = partial_refund(line_paid, REMAINS, partial.total_quantity)?;
    let kept = final_price.checked_sub(refund)?;
    let earned_after = commission_after_refund(final_price, refund, Bps::DEFAULT_COMMISSION)?;

    println!();
    println!(
        "Partial: {} delivered {} of {} units ({} undelivered)",
        partial.line.service,
        i128::from(partial.total_quantity) - i128::from(REMAINS),
        partial.total_quantity,
        REMAINS,
    );
    println!("{}", "-".repeat(72));
    row("line paid", line_paid);
    row("refund to customer", refund);
    row("panel keeps", kept);
    row("commission before refund", earned);
    row("commission after refund", earned_after);
    row("commission clawed back", earned.checked_sub(earned_after)?);

    Ok(())
}

/// One right-aligned total under the table.
fn row(label: &str, amount: Points) {
    println!("{label:<62} {:>9}", amount.to_string());
}
