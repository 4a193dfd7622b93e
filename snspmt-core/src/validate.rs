//! Validation of what clients send: user ids, e-mails, passwords, names and amounts.
//!
//! Each check returns a [`Invalid`] naming the field and a stable code, which the server
//! turns into a 400 body without inspecting messages.

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
}
