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

pub mod ledger;
pub mod media;
pub mod money;
pub mod order;
pub mod plan;
pub mod purchase;
pub mod referral;
pub mod schedule;
pub mod upstream;
pub mod validate;

pub use ledger::LedgerKind;
pub use money::{Bps, MoneyError, Points, Won};
