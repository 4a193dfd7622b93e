//! Kakao and Google login (protocols §3, §4): parse what the providers answer and decide,
//! given `now`, whether it proves an identity.
//!
//! The server verifies a Kakao access token with `/v1/user/access_token_info` (which app
//! issued it) and reads the person from `/v2/user/me`; a Google id_token is checked through
//! tokeninfo (`aud`, `iss`, `exp`). An e-mail counts only when the provider says it is
//! verified: it is the only thing that may link an identity to an existing account.

use std::fmt;

use serde_json::Value;

/// Why a provider's answer is not one we understand (the provider is broken or not the
/// provider: 502 to our client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not JSON; the start of the body, at most 120 characters.
    NotJson(String),
    /// JSON without what the answer must carry; the text says what is missing.
    UnexpectedShape(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::NotJson(s) => write!(f, "provider answer is not JSON: {s}"),
            ParseError::UnexpectedShape(s) => write!(f, "unexpected provider answer: {s}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Why a well-formed token does not prove an identity to us (401 to our client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// A Kakao token issued to another app (`app_id`).
    WrongApp,
    /// A Google token minted for another client (`aud`).
    WrongAudience,
    /// Not issued by the provider (`iss`).
    WrongIssuer,
    /// `exp` has passed.
    Expired,
    /// The two answers of the provider name different people.
    SubjectMismatch,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rejection::WrongApp => "the token belongs to another app",
            Rejection::WrongAudience => "the token was minted for another client",
            Rejection::WrongIssuer => "the token has an unknown issuer",
            Rejection::Expired => "the token has expired",
            Rejection::SubjectMismatch => "the provider's answers disagree about the user",
        })
    }
}

impl std::error::Error for Rejection {}

fn json(body: &[u8]) -> Result<serde_json::Map<String, Value>, ParseError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => {
            Err(ParseError::UnexpectedShape(format!("not an object: {}", snippet(&other.to_string()))))
        }
        Err(_) => Err(ParseError::NotJson(snippet(&String::from_utf8_lossy(body)))),
    }
}

fn snippet(s: &str) -> String {
    s.chars().take(120).collect()
}

/// An integer sent as a JSON number or as a string of digits.
fn integer(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A boolean sent as JSON `true`/`false` or as the strings `"true"`/`"false"`.
fn boolean(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Kakao (protocols §3).
pub mod kakao {
    use super::*;

    /// `/v1/user/access_token_info`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct TokenInfo {
        pub id: i64,
        pub app_id: i64,
    }

    pub fn parse_token_info(body: &[u8]) -> Result<TokenInfo, ParseError> {
        let map = json(body)?;
        let id = integer(map.get("id")).ok_or_else(|| ParseError::UnexpectedShape("no id".into()))?;
        let app_id =
            integer(map.get("app_id")).ok_or_else(|| ParseError::UnexpectedShape("no app_id".into()))?;
        Ok(TokenInfo { id, app_id })
    }

    /// The token must come from our app when one is configured.
    pub fn check_app(info: &TokenInfo, expected_app_id: Option<&str>) -> Result<(), Rejection> {
        match expected_app_id {
            Some(app) if app.trim() != info.app_id.to_string() => Err(Rejection::WrongApp),
            _ => Ok(()),
        }
    }

    /// The person of `/v2/user/me`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Profile {
        pub id: i64,
        pub nickname: Option<String>,
        /// Only when Kakao says it is valid and verified (`is_email_valid && is_email_verified`).
        pub verified_email: Option<String>,
    }

    pub fn parse_profile(body: &[u8]) -> Result<Profile, ParseError> {
        let map = json(body)?;
        let id = integer(map.get("id")).ok_or_else(|| ParseError::UnexpectedShape("no id".into()))?;
        let account = map.get("kakao_account").and_then(Value::as_object);
        let field = |k: &str| account.and_then(|a| a.get(k));
        let nickname = text(field("profile").and_then(|p| p.get("nickname")))
            .or_else(|| text(map.get("properties").and_then(|p| p.get("nickname"))));
        let verified = boolean(field("is_email_valid")) && boolean(field("is_email_verified"));
        let verified_email = if verified { text(field("email")).map(|e| e.to_lowercase()) } else { None };
        Ok(Profile { id, nickname, verified_email })
    }

    /// Both answers must be about the same user.
    pub fn check_same_user(info: &TokenInfo, profile: &Profile) -> Result<(), Rejection> {
        if info.id == profile.id {
            Ok(())
        } else {
            Err(Rejection::SubjectMismatch)
        }
    }
}

/// Google (protocols §4).
pub mod google {
    use super::*;

    /// The issuers Google uses, with and without the scheme.
    pub const ISSUERS: [&str; 2] = ["accounts.google.com", "https://accounts.google.com"];

    /// The claims tokeninfo answers for an id_token (values may be strings or JSON types).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Claims {
        pub iss: String,
        pub sub: String,
        pub aud: String,
        /// Seconds since the epoch.
        pub exp: i64,
        pub email: Option<String>,
        pub email_verified: bool,
        pub name: Option<String>,
        pub picture: Option<String>,
    }

    impl Claims {
        /// The e-mail, lower case, only when Google says it is verified.
        pub fn verified_email(&self) -> Option<String> {
            self.email.as_ref().filter(|_| self.email_verified).map(|e| e.to_lowercase())
        }
    }

    pub fn parse_tokeninfo(body: &[u8]) -> Result<Claims, ParseError> {
        let map = json(body)?;
        let need = |k: &str| text(map.get(k)).ok_or_else(|| ParseError::UnexpectedShape(format!("no {k}")));
        Ok(Claims {
            iss: need("iss")?,
            sub: need("sub")?,
            aud: need("aud")?,
            exp: integer(map.get("exp")).ok_or_else(|| ParseError::UnexpectedShape("no exp".into()))?,
            email: text(map.get("email")),
            email_verified: boolean(map.get("email_verified")),
            name: text(map.get("name")),
            picture: text(map.get("picture")),
        })
    }

    /// `aud` is our client id, `iss` is Google, `exp` is after `now_secs`.
    pub fn verify(claims: &Claims, client_id: &str, now_secs: i64) -> Result<(), Rejection> {
        if claims.aud != client_id {
            return Err(Rejection::WrongAudience);
        }
        if !ISSUERS.contains(&claims.iss.as_str()) {
            return Err(Rejection::WrongIssuer);
        }
        if claims.exp <= now_secs {
            return Err(Rejection::Expired);
        }
        Ok(())
    }

    /// The id_token of a code exchange answer (`/token`).
    pub fn parse_token_response(body: &[u8]) -> Result<String, ParseError> {
        let map = json(body)?;
        text(map.get("id_token")).ok_or_else(|| ParseError::UnexpectedShape("no id_token".into()))
    }

    /// The OAuth `error` of an error answer (`invalid_grant`, …), if the body is one.
    pub fn oauth_error(body: &[u8]) -> Option<String> {
        json(body).ok().and_then(|m| text(m.get("error")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kakao_token_info_and_app() {
        let info = kakao::parse_token_info(br#"{"id":123456789,"expires_in":7199,"app_id":1234}"#);
        let info = info.expect("parsed");
        assert_eq!(info, kakao::TokenInfo { id: 123456789, app_id: 1234 });
        assert_eq!(kakao::check_app(&info, Some("1234")), Ok(()));
        assert_eq!(kakao::check_app(&info, None), Ok(()));
        assert_eq!(kakao::check_app(&info, Some("9999")), Err(Rejection::WrongApp));
        assert!(matches!(kakao::parse_token_info(b"<html>"), Err(ParseError::NotJson(_))));
        assert!(matches!(kakao::parse_token_info(b"{\"id\":1}"), Err(ParseError::UnexpectedShape(_))));
    }

    #[test]
    fn kakao_email_counts_only_when_valid_and_verified() {
        let body = |valid: &str, verified: &str| {
            format!(
                r#"{{"id":2188915874,"properties":{{"nickname":"props"}},"kakao_account":{{"profile":{{"nickname":"프로필"}},
                "is_email_valid":{valid},"is_email_verified":{verified},"email":"User@Example.com"}}}}"#
            )
        };
        let p = kakao::parse_profile(body("true", "true").as_bytes()).expect("profile");
        assert_eq!(p.id, 2188915874);
        assert_eq!(p.nickname.as_deref(), Some("프로필"));
        assert_eq!(p.verified_email.as_deref(), Some("user@example.com"));
        for (valid, verified) in [("true", "false"), ("false", "true"), ("null", "true")] {
            let p = kakao::parse_profile(body(valid, verified).as_bytes()).expect("profile");
            assert_eq!(p.verified_email, None, "{valid} {verified}");
        }
        let p = kakao::parse_profile(br#"{"id":"7","properties":{"nickname":"n"}}"#).expect("minimal");
        assert_eq!((p.id, p.nickname.as_deref(), p.verified_email.as_deref()), (7, Some("n"), None));
        let info = kakao::TokenInfo { id: 8, app_id: 1 };
        assert_eq!(kakao::check_same_user(&info, &p), Err(Rejection::SubjectMismatch));
    }

    fn claims(extra: &str) -> Vec<u8> {
        format!(
            r#"{{"iss":"https://accounts.google.com","sub":"1101","azp":"c","aud":"client-1","iat":"1433978353",
            "exp":"2000000000","email":"A@b.com"{extra}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn google_claims_verify() {
        let c = google::parse_tokeninfo(&claims(r#","email_verified":"true""#)).expect("claims");
        assert_eq!(
            (c.sub.as_str(), c.exp, c.verified_email().as_deref()),
            ("1101", 2_000_000_000, Some("a@b.com"))
        );
        assert_eq!(google::verify(&c, "client-1", 1_900_000_000), Ok(()));
        assert_eq!(google::verify(&c, "client-2", 1_900_000_000), Err(Rejection::WrongAudience));
        assert_eq!(google::verify(&c, "client-1", 2_000_000_000), Err(Rejection::Expired));
        let plain = google::Claims { iss: "accounts.google.com".into(), ..c.clone() };
        assert_eq!(google::verify(&plain, "client-1", 0), Ok(()));
        let evil = google::Claims { iss: "https://evil.example".into(), ..c };
        assert_eq!(google::verify(&evil, "client-1", 0), Err(Rejection::WrongIssuer));
        for flag in [r#","email_verified":"false""#, r#","email_verified":false"#, ""] {
            let c = google::parse_tokeninfo(&claims(flag)).expect("claims");
            assert_eq!(c.verified_email(), None, "{flag}");
        }
        let c = google::parse_tokeninfo(&claims(r#","email_verified":true"#)).expect("claims");
        assert!(c.email_verified);
        assert!(matches!(google::parse_tokeninfo(br#"{"sub":"1"}"#), Err(ParseError::UnexpectedShape(_))));
    }

    #[test]
    fn google_token_answers() {
        assert_eq!(
            google::parse_token_response(br#"{"id_token":"abc","access_token":"x"}"#),
            Ok("abc".into())
        );
        assert!(google::parse_token_response(b"{}").is_err());
        assert_eq!(
            google::oauth_error(br#"{"error":"invalid_grant","error_description":"Bad Request"}"#).as_deref(),
            Some("invalid_grant")
        );
        assert_eq!(google::oauth_error(b"oops"), None);
    }
}
