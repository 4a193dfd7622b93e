//! Validation of what clients send: user ids, e-mails, passwords, names and amounts, and the
//! options of an order body (drip-feed, split, package steps, coupon) read the way the seed's
//! own example bodies mean them.
//!
//! Each check returns a [`Invalid`] naming the field and a stable code, which the server
//! turns into a 400 body without inspecting messages.
//!
//! # Example
//!
//! ```
//! use snspmt_core::validate::{self, Invalid};
//! use snspmt_core::Points;
//!
//! # fn main() -> Result<(), Invalid> {
//! assert_eq!(validate::email(" Kim@Example.COM ")?, "kim@example.com");
//! assert_eq!(validate::user_id("kim_01")?, "kim_01");
//! assert_eq!(validate::positive_amount("amount", 5_000)?, Points(5_000));
//! // A refusal names the field and a stable code for the 400 body.
//! let refused = validate::user_id("no spaces").unwrap_err();
//! assert_eq!((refused.field, refused.code), ("user_id", "invalid_user_id"));
//! assert_eq!(validate::password("short").unwrap_err().code, "weak_password");
//! assert_eq!(validate::positive_amount("amount", 0).unwrap_err().code, "invalid_amount");
//! # Ok(())
//! # }
//! ```

use std::fmt;

use crate::money::Points;

/// Why a client-supplied value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The request field at fault (`"user_id"`, `"email"`, …).
    pub field: &'static str,
    /// A stable snake_case code (`"invalid_user_id"`, `"invalid_amount"`, …).
    pub code: &'static str,
    /// A human explanation.
    pub message: &'static str,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for Invalid {}

pub const MAX_USER_ID_LEN: usize = 128;
pub const MAX_EMAIL_LEN: usize = 254;
pub const MIN_PASSWORD_LEN: usize = 8;
/// Long enough for any passphrase, short enough that hashing it is not a denial of service.
pub const MAX_PASSWORD_LEN: usize = 1024;
pub const MAX_NAME_LEN: usize = 100;
pub const MAX_DESCRIPTION_LEN: usize = 500;
/// The largest single debit or credit a client may ask for: 100 million points.
pub const MAX_AMOUNT: i64 = 100_000_000;

/// A user id: 1..=128 characters of `[A-Za-z0-9_.:@-]`.
pub fn user_id(s: &str) -> Result<&str, Invalid> {
    let ok = !s.is_empty()
        && s.len() <= MAX_USER_ID_LEN
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.:@-".contains(&b));
    if ok {
        Ok(s)
    } else {
        Err(Invalid {
            field: "user_id",
            code: "invalid_user_id",
            message: "user_id must be 1-128 characters of A-Z a-z 0-9 _ . : @ -",
        })
    }
}

/// An e-mail address, normalised to lower case (e-mails are unique case-insensitively).
///
/// Deliberately modest: one `@`, a non-empty local part, a dotted domain, no spaces or
/// control characters, at most 254 bytes.
pub fn email(s: &str) -> Result<String, Invalid> {
    let bad = Invalid { field: "email", code: "invalid_email", message: "email is not a valid address" };
    let s = s.trim();
    if s.is_empty() || s.len() > MAX_EMAIL_LEN || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad);
    }
    let Some((local, domain)) = s.split_once('@') else {
        return Err(bad);
    };
    let domain_ok = !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..");
    if local.is_empty() || !domain_ok {
        return Err(bad);
    }
    // Lower-casing can lengthen a string (`Ⱥ` → `ⱥ`): the stored form must fit too.
    let lower = s.to_lowercase();
    if lower.len() > MAX_EMAIL_LEN {
        return Err(bad);
    }
    Ok(lower)
}

/// A password: 8..=1024 characters.
pub fn password(s: &str) -> Result<&str, Invalid> {
    let n = s.chars().count();
    if n < MIN_PASSWORD_LEN {
        Err(Invalid {
            field: "password",
            code: "weak_password",
            message: "password must be at least 8 characters",
        })
    } else if s.len() > MAX_PASSWORD_LEN {
        Err(Invalid { field: "password", code: "invalid_password", message: "password is too long" })
    } else {
        Ok(s)
    }
}

/// A display name or similar short text: at most 100 characters, no control characters.
/// Surrounding white space is trimmed.
pub fn short_text<'a>(field: &'static str, s: &'a str) -> Result<&'a str, Invalid> {
    let t = s.trim();
    if t.chars().count() > MAX_NAME_LEN || t.chars().any(char::is_control) {
        Err(Invalid { field, code: "invalid_text", message: "text is too long or has control characters" })
    } else {
        Ok(t)
    }
}

/// A free-text description: at most 500 characters; control characters other than new lines
/// are refused.
pub fn description(s: &str) -> Result<&str, Invalid> {
    let t = s.trim();
    if t.chars().count() > MAX_DESCRIPTION_LEN || t.chars().any(|c| c.is_control() && c != '\n') {
        Err(Invalid {
            field: "description",
            code: "invalid_description",
            message: "description is too long or has control characters",
        })
    } else {
        Ok(t)
    }
}

/// A positive amount of points: 1..=100 000 000.
pub fn positive_amount(field: &'static str, v: i64) -> Result<Points, Invalid> {
    if (1..=MAX_AMOUNT).contains(&v) {
        Ok(Points(v))
    } else {
        Err(Invalid { field, code: "invalid_amount", message: "amount must be between 1 and 100000000" })
    }
}

/// A signed adjustment of points: non-zero, at most 100 000 000 either way.
pub fn adjustment(field: &'static str, v: i64) -> Result<Points, Invalid> {
    if v != 0 && (-MAX_AMOUNT..=MAX_AMOUNT).contains(&v) {
        Ok(Points(v))
    } else {
        Err(Invalid {
            field,
            code: "invalid_amount",
            message: "adjustment must be non-zero and at most 100000000 either way",
        })
    }
}

pub const MAX_LINK_LEN: usize = 2048;

/// The target of an order: an `http(s)://` URL of at most 2048 bytes with a host and no
/// white space or control characters, or a bare username (`@` optional, 1..=64 of
/// `[A-Za-z0-9._-]`) for services that take one.
pub fn link(s: &str) -> Result<&str, Invalid> {
    let bad =
        Invalid { field: "link", code: "invalid_link", message: "link must be an http(s) URL or a username" };
    let t = s.trim();
    if t.is_empty() || t.len() > MAX_LINK_LEN || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad);
    }
    let lower = t.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://")) {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host_ok = !host.is_empty()
            && host.contains('.')
            && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:@".contains(&b) || b >= 0x80);
        return if host_ok { Ok(t) } else { Err(bad) };
    }
    let name = t.strip_prefix('@').unwrap_or(t);
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if name_ok {
        Ok(t)
    } else {
        Err(bad)
    }
}

/// Custom comments: one per line (`\n` or `\r\n`), blank lines ignored; answers how many.
pub fn comments(s: &str) -> Result<u64, Invalid> {
    let bad = |message| Invalid { field: "comments", code: "invalid_comments", message };
    if s.len() > 100_000 {
        return Err(bad("comments are too long"));
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\r') {
        return Err(bad("comments have control characters"));
    }
    let n = s.lines().filter(|l| !l.trim().is_empty()).count() as u64;
    if n == 0 {
        Err(bad("this service needs comments, one per line"))
    } else {
        Ok(n)
    }
}

/// Something an order body asked for that was ignored rather than refused; the answer lists
/// it under `warnings` so the client can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ignored {
    pub field: &'static str,
    /// Always `"ignored"`.
    pub code: &'static str,
    pub message: &'static str,
}

/// Drip-feed delivery: `runs` submissions of the quantity, `interval` minutes apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DripFeed {
    pub runs: i64,
    /// Minutes between runs.
    pub interval: i64,
}

/// `runs`/`interval` of an order. The seed's own "no drip-feed" values — `runs` 0 or 1 (or
/// absent) with `interval` 0 (or absent), sent in every example body — mean a plain order
/// (`Ok(None)`). Otherwise `runs` must be 2..=1000 (`invalid_runs`) and `interval` 1..=10080
/// minutes (`invalid_interval`).
pub fn dripfeed(runs: Option<i64>, interval: Option<i64>) -> Result<Option<DripFeed>, Invalid> {
    let plain_runs = matches!(runs, None | Some(0 | 1));
    let plain_interval = matches!(interval, None | Some(0));
    if plain_runs && plain_interval {
        return Ok(None);
    }
    let runs = runs.filter(|r| (2..=1000).contains(r)).ok_or(Invalid {
        field: "runs",
        code: "invalid_runs",
        message: "runs must be between 2 and 1000 for drip-feed (1 or 0 with interval 0: no drip-feed)",
    })?;
    let interval = interval.filter(|i| (1..=10_080).contains(i)).ok_or(Invalid {
        field: "interval",
        code: "invalid_interval",
        message: "interval must be 1..=10080 minutes",
    })?;
    Ok(Some(DripFeed { runs, interval }))
}

/// Split delivery: `days` submissions of `per_day`, one a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// Days (one submission a day).
    pub days: i64,
    pub per_day: i64,
}

/// `split_days`/`split_quantity` of an order. `split_days` 0 or absent means no split
/// (`split_quantity` then must be 0 or absent too); otherwise `split_days` is 2..=30 with a
/// positive `split_quantity` (`invalid_split`).
pub fn split(days: Option<i64>, per_day: Option<i64>) -> Result<Option<Split>, Invalid> {
    match (days, per_day) {
        (None | Some(0), None | Some(0)) => Ok(None),
        (Some(days), Some(per_day)) if (2..=30).contains(&days) && per_day > 0 => {
            Ok(Some(Split { days, per_day }))
        }
        _ => Err(Invalid {
            field: "split_days",
            code: "invalid_split",
            message: "split_days must be 2..=30 with a positive split_quantity (0: no split)",
        }),
    }
}

/// `package_steps` of an order: absent, `null` or `[]` mean no package. A package is ordered by
/// `package_id`; its steps and price come from the catalogue, never from the client, so steps
/// sent with the order are refused (`unsupported_option`).
pub fn package_steps(v: Option<&serde_json::Value>) -> Result<(), Invalid> {
    use serde_json::Value;
    match v {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(steps)) if steps.is_empty() => Ok(()),
        Some(_) => Err(Invalid {
            field: "package_steps",
            code: "unsupported_option",
            message: "order a package by package_id: its steps come from the catalogue",
        }),
    }
}

/// How an order names its coupon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CouponRef {
    /// No coupon (absent, `null` or an empty string).
    None,
    /// The caller's coupon copy with this id (a positive integer, or its decimal text).
    Id(i64),
    /// A name the server does not know as a coupon id (the original client sends
    /// `"manual_discount"`): no discount, and the answer says so.
    Ignored(Ignored),
}

/// `coupon_id` of an order: a positive integer (or its text) names a coupon copy; any other
/// text is ignored with a warning; a number that is not a positive integer, or a value of
/// another type, is refused (`invalid_id`).
pub fn coupon_ref(v: Option<&serde_json::Value>) -> Result<CouponRef, Invalid> {
    use serde_json::Value;
    let bad =
        Invalid { field: "coupon_id", code: "invalid_id", message: "coupon_id must be a positive integer" };
    let ignored = Ignored {
        field: "coupon_id",
        code: "ignored",
        message: "coupon_id is not a coupon of yours: no coupon was applied",
    };
    match v {
        None | Some(Value::Null) => Ok(CouponRef::None),
        Some(Value::Number(n)) => n.as_i64().filter(|n| *n > 0).map(CouponRef::Id).ok_or(bad),
        Some(Value::String(s)) => {
            let t = s.trim();
            if t.is_empty() {
                Ok(CouponRef::None)
            } else if t.bytes().all(|b| b.is_ascii_digit() || b == b'-' || b == b'+') {
                t.parse::<i64>().ok().filter(|n| *n > 0).map(CouponRef::Id).ok_or(bad)
            } else {
                Ok(CouponRef::Ignored(ignored))
            }
        }
        Some(_) => Err(bad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links() {
        for ok in [
            "https://www.instagram.com/p/abc/",
            "http://youtu.be/x?t=1",
            "HTTPS://EXAMPLE.COM",
            "@some.user",
            "some_user-1",
            "https://한국.kr/경로",
        ] {
            assert!(link(ok).is_ok(), "{ok}");
        }
        let long = format!("https://x.com/{}", "a".repeat(2048));
        for bad in [
            "",
            " ",
            "ftp://x.com",
            "https://",
            "https:///path",
            "https://nohost",
            "javascript:alert(1)",
            "https://x.com/a b",
            "user name",
            "@",
            "a/b",
            &long,
            "https://x.com/\u{0}",
        ] {
            assert_eq!(link(bad).map_err(|e| e.code), Err("invalid_link"), "{bad:?}");
        }
    }

    #[test]
    fn comment_lists() {
        assert_eq!(comments("great\r\nnice\n\n  \nwow"), Ok(3));
        assert!(comments("").is_err());
        assert!(comments("\n \n").is_err());
        assert!(comments("a\u{7}").is_err());
    }

    #[test]
    fn user_ids() {
        for ok in ["a", "user_1", "kakao:123", "a.b@c-d", &"x".repeat(128)] {
            assert!(user_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", " a", "a b", "a/b", "한글", "a\u{0}", &"x".repeat(129), "<script>"] {
            assert_eq!(user_id(bad).map_err(|e| e.code), Err("invalid_user_id"), "{bad}");
        }
    }

    #[test]
    fn emails() {
        assert_eq!(email(" Foo@Example.COM ").as_deref(), Ok("foo@example.com"));
        for bad in
            ["", "foo", "foo@", "@x.com", "a@b", "a@.com", "a@b..com", "a b@c.com", "a@b@c.com", "a@b.com."]
        {
            assert!(email(bad).is_err(), "{bad}");
        }
        assert!(email(&format!("{}@x.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn passwords_and_amounts() {
        assert!(password("1234567").is_err());
        assert!(password("12345678").is_ok());
        assert!(password("비밀번호비밀번호").is_ok());
        assert!(password(&"x".repeat(1025)).is_err());
        assert!(positive_amount("amount", 0).is_err());
        assert!(positive_amount("amount", -1).is_err());
        assert!(positive_amount("amount", MAX_AMOUNT + 1).is_err());
        assert_eq!(positive_amount("amount", 1), Ok(Points(1)));
        assert!(adjustment("points_adjustment", 0).is_err());
        assert_eq!(adjustment("points_adjustment", -5), Ok(Points(-5)));
        assert!(short_text("name", "a\u{7}").is_err());
        assert_eq!(short_text("name", "  홍길동 "), Ok("홍길동"));
        assert!(description("line\nline").is_ok());
    }

    #[test]
    fn seed_order_options() {
        // The seed's "no drip-feed" values, and their absence, are a plain order.
        for (runs, interval) in
            [(None, None), (Some(1), Some(0)), (Some(0), Some(0)), (Some(1), None), (None, Some(0))]
        {
            assert_eq!(dripfeed(runs, interval), Ok(None), "{runs:?} {interval:?}");
        }
        assert_eq!(dripfeed(Some(3), Some(60)), Ok(Some(DripFeed { runs: 3, interval: 60 })));
        let code = |r, i| dripfeed(r, i).map_err(|e| e.code);
        assert_eq!(code(Some(1), Some(5)), Err("invalid_runs"), "an interval needs runs");
        assert_eq!(code(Some(-1), Some(0)), Err("invalid_runs"));
        assert_eq!(code(Some(1001), Some(5)), Err("invalid_runs"));
        assert_eq!(code(Some(3), Some(0)), Err("invalid_interval"));
        assert_eq!(code(Some(3), None), Err("invalid_interval"));
        assert_eq!(code(Some(3), Some(10_081)), Err("invalid_interval"));

        for (days, per_day) in [(None, None), (Some(0), None), (Some(0), Some(0)), (None, Some(0))] {
            assert_eq!(split(days, per_day), Ok(None), "{days:?} {per_day:?}");
        }
        assert_eq!(split(Some(3), Some(100)), Ok(Some(Split { days: 3, per_day: 100 })));
        for (days, per_day) in [
            (Some(1), Some(100)),
            (Some(31), Some(1)),
            (Some(3), None),
            (Some(0), Some(5)),
            (None, Some(5)),
            (Some(3), Some(0)),
        ] {
            assert_eq!(
                split(days, per_day).map_err(|e| e.code),
                Err("invalid_split"),
                "{days:?} {per_day:?}"
            );
        }

        use serde_json::json;
        assert_eq!(package_steps(None), Ok(()));
        assert_eq!(package_steps(Some(&json!([]))), Ok(()));
        assert_eq!(package_steps(Some(&json!(null))), Ok(()));
        assert_eq!(
            package_steps(Some(&json!([{"service_id": 1}]))).map_err(|e| e.code),
            Err("unsupported_option")
        );
        assert_eq!(package_steps(Some(&json!("x"))).map_err(|e| e.code), Err("unsupported_option"));
    }

    #[test]
    fn coupon_refs() {
        use serde_json::json;
        assert_eq!(coupon_ref(None), Ok(CouponRef::None));
        assert_eq!(coupon_ref(Some(&json!(null))), Ok(CouponRef::None));
        assert_eq!(coupon_ref(Some(&json!(""))), Ok(CouponRef::None));
        assert_eq!(coupon_ref(Some(&json!(7))), Ok(CouponRef::Id(7)));
        assert_eq!(coupon_ref(Some(&json!(" 7 "))), Ok(CouponRef::Id(7)));
        let ignored = coupon_ref(Some(&json!("manual_discount")));
        assert!(matches!(
            ignored,
            Ok(CouponRef::Ignored(Ignored { field: "coupon_id", code: "ignored", .. }))
        ));
        assert!(matches!(coupon_ref(Some(&json!("REF12345678"))), Ok(CouponRef::Ignored(_))));
        for bad in
            [json!(0), json!(-3), json!(1.5), json!("0"), json!("-2"), json!(true), json!([1]), json!({})]
        {
            assert_eq!(coupon_ref(Some(&bad)).map_err(|e| e.code), Err("invalid_id"), "{bad}");
        }
    }
}
