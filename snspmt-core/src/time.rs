//! [`Millis`]: an instant, in milliseconds since the Unix epoch (UTC).
//!
//! Only instants are `Millis` (a `now`, a due time, an `*_at`); a duration stays a plain `i64`
//! of milliseconds. Arithmetic saturates: an instant far in the future (`i64::MAX`, "never")
//! plus a delay stays "never" instead of wrapping into the past.
//!
//! ```
//! use snspmt_core::Millis;
//!
//! let now = Millis(1_700_000_000_000);
//! assert_eq!(now.plus_minutes(5), Millis(1_700_000_300_000));
//! assert_eq!(now.plus_ms(1).ms_since(now), 1);
//! assert_eq!(Millis::MAX.plus_ms(1), Millis::MAX);
//! assert_eq!(serde_json::to_string(&now).unwrap(), "1700000000000");
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC: an instant. A bare number in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Millis(pub i64);

impl Millis {
    /// The Unix epoch.
    pub const EPOCH: Millis = Millis(0);
    /// The latest instant ("never").
    pub const MAX: Millis = Millis(i64::MAX);
    /// The earliest instant.
    pub const MIN: Millis = Millis(i64::MIN);

    /// The milliseconds since the epoch.
    pub const fn as_ms(self) -> i64 {
        self.0
    }

    /// `ms` milliseconds later (earlier when negative), saturating.
    #[must_use]
    pub const fn plus_ms(self, ms: i64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }

    /// `ms` milliseconds earlier, saturating.
    #[must_use]
    pub const fn minus_ms(self, ms: i64) -> Millis {
        Millis(self.0.saturating_sub(ms))
    }

    /// `minutes` minutes later (earlier when negative), saturating.
    #[must_use]
    pub const fn plus_minutes(self, minutes: i64) -> Millis {
        self.plus_ms(minutes.saturating_mul(60_000))
    }

    /// The milliseconds from `earlier` to `self` (negative when `earlier` is later), saturating.
    pub const fn ms_since(self, earlier: Millis) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The schema of an `i64`, inlined: the OpenAPI document shows an instant as the integer it is
/// on the wire, as it did when `Millis` was an alias (a derived schema would add a component).
#[cfg(feature = "schemars")]
impl schemars::JsonSchema for Millis {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        i64::schema_name()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        i64::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        i64::json_schema(generator)
    }
}

impl From<Millis> for i64 {
    fn from(m: Millis) -> i64 {
        m.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let cases: &[(Millis, i64, Millis)] = &[
            (Millis(10), 5, Millis(15)),
            (Millis(10), -15, Millis(-5)),
            (Millis::MAX, 1, Millis::MAX),
            (Millis::MIN, -1, Millis::MIN),
            (Millis(i64::MAX - 1), i64::MAX, Millis::MAX),
        ];
        for &(at, ms, want) in cases {
            assert_eq!(at.plus_ms(ms), want, "{at} + {ms}");
        }
        assert_eq!(Millis::MIN.minus_ms(1), Millis::MIN);
        assert_eq!(Millis(0).plus_minutes(2), Millis(120_000));
        assert_eq!(Millis(0).plus_minutes(i64::MAX), Millis::MAX);
        assert_eq!(Millis(0).plus_minutes(i64::MIN), Millis::MIN);
        assert_eq!(Millis(5).ms_since(Millis(2)), 3);
        assert_eq!(Millis(2).ms_since(Millis(5)), -3);
        assert_eq!(Millis::MAX.ms_since(Millis::MIN), i64::MAX);
        assert_eq!(Millis::MIN.ms_since(Millis::MAX), i64::MIN);
        assert_eq!(Millis(7).as_ms(), 7);
        assert_eq!(i64::from(Millis(7)), 7);
    }

    #[test]
    fn orders_as_instants() {
        let mut v = vec![Millis(3), Millis::MIN, Millis(-1), Millis::MAX, Millis(0)];
        v.sort();
        assert_eq!(v, [Millis::MIN, Millis(-1), Millis(0), Millis(3), Millis::MAX]);
        assert!(Millis(1) < Millis(2) && Millis::default() == Millis::EPOCH);
        assert_eq!(Some(Millis(1)).max(None), Some(Millis(1)));
    }

    #[test]
    fn is_a_bare_number_in_json() {
        assert_eq!(serde_json::to_string(&Millis(1_700_000_000_000)).unwrap(), "1700000000000");
        assert_eq!(serde_json::to_string(&Some(Millis(-3))).unwrap(), "-3");
        assert_eq!(serde_json::to_string(&None::<Millis>).unwrap(), "null");
        assert_eq!(serde_json::from_str::<Millis>("42").unwrap(), Millis(42));
        assert!(serde_json::from_str::<Millis>("\"42\"").is_err());
        assert_eq!(Millis(42).to_string(), "42");
    }
}
