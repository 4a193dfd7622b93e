//! The kinds of rows in the append-only points ledger.
//!
//! # Example
//!
//! ```
//! use snspmt_core::ledger::{events, LedgerKind, UnknownLedgerKind};
//!
//! # fn main() -> Result<(), UnknownLedgerKind> {
//! // Kinds are stored by name.
//! let kind: LedgerKind = "order_refund".parse()?;
//! assert_eq!((kind, kind.direction()), (LedgerKind::OrderRefund, Some(true)));
//! assert_eq!(LedgerKind::AdminAdjust.direction(), None, "an adjustment goes either way");
//! assert!("refund".parse::<LedgerKind>().is_err());
//! // Each event has one key, unique in the ledger, so it is posted at most once.
//! let (event_ref, description) = events::order_charge(7, "좋아요");
//! assert_eq!((event_ref.as_str(), description.as_str()), ("order:7:charge", "주문 #7 좋아요"));
//! assert_eq!(events::part_refund(7, 0).0, "order:7:part:0:refund");
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a balance changed. Each change of a balance is exactly one ledger row of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum LedgerKind {
    /// Points bought (bank transfer approved, or card payment approved).
    Purchase,
    /// An order's price taken at placement.
    OrderCharge,
    /// What the upstream did not deliver, given back.
    OrderRefund,
    /// The user debited their own points (`POST /api/points/deduct`).
    Deduct,
    /// An operator changed the balance, with a reason.
    AdminAdjust,
}

impl LedgerKind {
    pub const ALL: [LedgerKind; 5] = [
        LedgerKind::Purchase,
        LedgerKind::OrderCharge,
        LedgerKind::OrderRefund,
        LedgerKind::Deduct,
        LedgerKind::AdminAdjust,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Purchase => "purchase",
            LedgerKind::OrderCharge => "order_charge",
            LedgerKind::OrderRefund => "order_refund",
            LedgerKind::Deduct => "deduct",
            LedgerKind::AdminAdjust => "admin_adjust",
        }
    }

    /// Whether rows of this kind add to the balance (`Some(true)`), take from it
    /// (`Some(false)`) or may go either way (`None`).
    pub fn direction(self) -> Option<bool> {
        match self {
            LedgerKind::Purchase | LedgerKind::OrderRefund => Some(true),
            LedgerKind::OrderCharge | LedgerKind::Deduct => Some(false),
            LedgerKind::AdminAdjust => None,
        }
    }
}

impl fmt::Display for LedgerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A ledger kind name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLedgerKind(pub String);

impl fmt::Display for UnknownLedgerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown ledger kind {:?}", self.0)
    }
}

impl std::error::Error for UnknownLedgerKind {}

impl FromStr for LedgerKind {
    type Err = UnknownLedgerKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LedgerKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| UnknownLedgerKind(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in LedgerKind::ALL {
            assert_eq!(k.as_str().parse::<LedgerKind>(), Ok(k));
            assert_eq!(serde_plain(k), k.as_str());
        }
        assert!("refund".parse::<LedgerKind>().is_err());
    }

    fn serde_plain(k: LedgerKind) -> String {
        // serde's snake_case naming must agree with `as_str`, which the SQL stores.
        let s = format!("{k:?}");
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if c.is_uppercase() {
                if i > 0 {
                    out.push('_');
                }
                out.extend(c.to_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    }
}

/// The ledger events of orders: each key is posted at most once (a unique `event_ref`), and
/// its description is what the customer reads in the points history. The only place these
/// texts are made.
pub mod events {
    /// What a ledger row of an order points at.
    pub fn order_reference(order_id: i64) -> String {
        format!("order:{order_id}")
    }

    /// The charge of an order: `(event_ref, description)`.
    pub fn order_charge(order_id: i64, service_name: &str) -> (String, String) {
        (format!("order:{order_id}:charge"), format!("주문 #{order_id} {service_name}"))
    }

    /// The refund of a single order (once, whatever the amount).
    pub fn order_refund(order_id: i64) -> (String, String) {
        (format!("order:{order_id}:refund"), format!("주문 #{order_id} 환불"))
    }

    /// The refund of part `index` (from 0) of a package or split order.
    pub fn part_refund(order_id: i64, index: i64) -> (String, String) {
        (format!("order:{order_id}:part:{index}:refund"), format!("주문 #{order_id} {}회차 환불", index + 1))
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn keys_are_distinct_per_event() {
            assert_eq!(super::order_charge(7, "좋아요").0, "order:7:charge");
            assert_eq!(super::order_refund(7).0, "order:7:refund");
            assert_eq!(
                super::part_refund(7, 0),
                ("order:7:part:0:refund".into(), "주문 #7 1회차 환불".into())
            );
        }
    }
}
