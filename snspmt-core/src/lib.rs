//! The sans-IO core of snspmt: money, pricing, validation and ledger kinds.
//!
//! This crate never touches a socket, a file, a clock or a random source. The current time,
//! identifiers and random bytes are always parameters, so every function here is pure and
//! can be tested (and embedded) without a runtime. CI proves it: `cargo tree -p snspmt-core
//! -e normal` names no I/O crate, and `clippy.toml` disallows the clock functions.
//!
//! - [`money`]: the `Points`/`Won`/`Bps` newtypes and every rounding rule of the product
//!   contract (§6): order price, coupon discount, commission and refunds.
//! - [`ledger`]: the kinds of points-ledger entries.
//! - [`referral`]: referral codes, coupon rules, the commission life cycle and withdrawals.
//! - [`validate`]: user ids, e-mails, passwords and amounts as they arrive from clients.
//! - [`media`]: the type of an uploaded image, by its magic bytes.
//! - [`order`]: order statuses, the operator's transitions and how an upstream status settles
//!   an order.
//! - [`single`]: the life cycle of a single order as a state machine (`handle`, `poll_timeout`).
//! - [`plan`]: package and split plans, and [`plan::Run`], the multi-part run as a state machine.
//! - [`refill`]: refill and cancel of orders at the upstream: who may ask, and the request's
//!   life cycle.
//! - [`purchase`]: point purchases (bank transfer, KCP card) and their transitions.
//! - [`schedule`]: when a scheduled order is due.
//! - [`time`]: [`Millis`], an instant in milliseconds since the epoch.
//! - [`upstream`]: codecs of the SMM panel API v2, KCP and the OAuth providers.
//!
//! # Example
//!
//! An order of 1,500 units at 2,000 points per thousand with a 10 % coupon, from its price to
//! its refund when the panel delivers only part of it. Every time is a parameter (milliseconds
//! since the epoch); the caller does the I/O and feeds the answers back in.
//!
//! ```
//! use snspmt_core::money::{self, Bps, Discount, Points};
//! use snspmt_core::order::OrderStatus;
//! use snspmt_core::plan::Submitted;
//! use snspmt_core::single::{Input, Job, Single};
//! use snspmt_core::upstream::smm;
//! use snspmt_core::Millis;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let price = money::order_price(Points(2_000), 1_500)?;
//! let discount = money::coupon_discount(price, Discount::Percentage(Bps(1_000)))?;
//! let final_price = price.checked_sub(discount)?;
//! assert_eq!((price, final_price), (Points(3_000), Points(2_700)));
//!
//! let now = Millis(1_700_000_000_000);
//! let mut order = Single {
//!     status: OrderStatus::Pending,
//!     job: Job::Due { at: now },
//!     final_price,
//!     total_quantity: 1_500,
//!     refunded: Points(0),
//! };
//! assert_eq!(order.handle(Input::Claim, now)?.status, OrderStatus::Submitting);
//! // The caller sent `smm::add_form(..)`; the panel took it.
//! let reply = smm::read_add_answer(200, br#"{"order": 23501}"#);
//! assert_eq!(reply, smm::AddOutcome::Accepted { order: "23501".into() });
//! assert_eq!(order.handle(Input::Submitted(Submitted::Accepted), now.plus_ms(1))?.status, OrderStatus::InProgress);
//!
//! // Later, `action=status`: 500 of the 1,500 units were not delivered.
//! let status = smm::parse_status(br#"{"status": "Partial", "remains": "500"}"#)??;
//! let done = order.handle(Input::Upstream { status: &status.status, remains: status.remains }, now.plus_ms(2))?;
//! assert_eq!((done.status, done.refund), (OrderStatus::Partial, Points(900)));
//! # Ok(())
//! # }
//! ```

pub mod ledger;
pub mod media;
pub mod money;
pub mod order;
pub mod plan;
pub mod purchase;
pub mod referral;
pub mod refill;
pub mod schedule;
pub mod single;
pub mod time;
pub mod upstream;
pub mod validate;

pub use ledger::LedgerKind;
pub use money::{Bps, MoneyError, Points, Won};
pub use time::Millis;

/// `bytes` in lower-case hexadecimal (a digest as it is stored and compared).
///
/// ```
/// assert_eq!(snspmt_core::lower_hex(&[0x00, 0x9f, 0xa0]), "009fa0");
/// ```
pub fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}
