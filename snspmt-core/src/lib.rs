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
//! - [`upstream`]: codecs of the SMM panel API v2, KCP and the OAuth providers.

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
pub mod upstream;
pub mod validate;

pub use ledger::LedgerKind;
pub use money::{Bps, MoneyError, Points, Won};
