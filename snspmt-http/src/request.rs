//! A request as handlers see it: the route's inputs, a bounded body, the query, the caller.

use bytes::Bytes;
use hyper::HeaderMap;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// What a handler gets.
pub struct Req {
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The TCP peer, when the request came over a socket (tests driving `handle` have none).
    pub peer: Option<std::net::SocketAddr>,
}

/// The TCP peer of a connection, put in the request's extensions by the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub std::net::SocketAddr);

impl Req {
    pub fn new(path: String, raw_query: Option<&str>, headers: HeaderMap, body: Bytes) -> Req {
        let query = raw_query
            .map(|q| {
                form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
            })
            .unwrap_or_default();
        Req { path, query, headers, body, peer: None }
    }

    /// The first value of a query parameter; an empty value counts as absent.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// A query parameter that must be an integer in `range` when present.
    pub fn query_int(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<Option<i64>, ApiError> {
        match self.query(name) {
            None => Ok(None),
            Some(v) => match v.parse::<i64>() {
                Ok(n) if range.contains(&n) => Ok(Some(n)),
                _ => Err(ApiError::invalid_field(
                    name,
                    "invalid_query",
                    format!("{name} must be an integer from {} to {}", range.start(), range.end()),
                )),
            },
        }
    }

    /// A list filter that must parse as `T` when present: anything else is 400 `invalid_query`
    /// naming the parameter (`expected` says what it takes), never silently no filter.
    pub fn query_parsed<T: std::str::FromStr>(
        &self,
        name: &str,
        expected: &str,
    ) -> Result<Option<T>, ApiError> {
        self.query(name)
            .map(|v| {
                v.parse::<T>().map_err(|_| {
                    ApiError::invalid_field(name, "invalid_query", format!("{name} must be {expected}"))
                })
            })
            .transpose()
    }

    /// A yes/no list filter: `1`/`true` or `0`/`false` (400 `invalid_query` otherwise).
    pub fn query_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.query(name) {
            None => Ok(None),
            Some("1" | "true") => Ok(Some(true)),
            Some("0" | "false") => Ok(Some(false)),
            Some(_) => Err(ApiError::invalid_field(
                name,
                "invalid_query",
                format!("{name} must be 1, 0, true or false"),
            )),
        }
    }

    /// The query string as a `T` (its fields are the parameters; the route's `query` type
    /// documents them). Empty values count as absent, unknown names are ignored, and a value
    /// that does not parse is 400 `invalid_query` naming the parameter.
    pub fn query_as<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let mut encoded = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.query.iter().filter(|(_, v)| !v.is_empty()) {
            encoded.append_pair(k, v);
        }
        let encoded = encoded.finish();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(encoded.as_bytes()));
        serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let field = if field == "." { "query".to_owned() } else { field };
            let message = format!("{field}: {}", e.inner());
            ApiError::invalid_field(&field, "invalid_query", message)
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON of type `T`. An empty body reads as `{}`. A string holding NUL is
    /// refused (400 `invalid_text`): no field needs one, and PostgreSQL cannot store it.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let body: &[u8] = if self.body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &self.body };
        // In valid JSON a NUL can only come from the escape `\u0000`: look closer only then.
        if body.windows(6).any(|w| w == br"\u0000") {
            let value: serde_json::Value = serde_json::from_slice(body).map_err(syntax_error)?;
            if let Some(field) = nul_field(&value) {
                return Err(invalid_text(&field));
            }
            return serde_path_to_error::deserialize(value).map_err(json_error);
        }
        let mut de = serde_json::Deserializer::from_slice(body);
        let parsed = serde_path_to_error::deserialize(&mut de).map_err(json_error)?;
        de.end().map_err(syntax_error)?;
        Ok(parsed)
    }

    /// Refuses a query whose names or values hold NUL (400 `invalid_text`).
    pub fn refuse_nul(&self) -> Result<(), ApiError> {
        match self.query.iter().find(|(k, v)| k.contains('\0') || v.contains('\0')) {
            Some((k, _)) => Err(invalid_text(k)),
            None => Ok(()),
        }
    }
}

fn invalid_text(field: &str) -> ApiError {
    ApiError::invalid_field(field, "invalid_text", format!("{field} must not contain NUL characters"))
}

/// The first field (its key, or the key of the object or list holding it) whose text holds NUL.
fn nul_field(v: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::String(s) if s.contains('\0') => Some(String::new()),
        Value::Array(items) => items.iter().find_map(nul_field),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                return Some(k.replace('\0', ""));
            }
            nul_field(v).map(|inner| if inner.is_empty() { k.clone() } else { inner })
        }),
        _ => None,
    }
}

fn syntax_error(e: serde_json::Error) -> ApiError {
    serde_error(None, &e)
}

fn json_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let path = (!path.is_empty() && path != ".").then_some(path);
    serde_error(path, e.inner())
}

/// A serde error as a 400: syntax → `invalid_json`; a missing field → `missing_field`; a wrong
/// type or an out-of-range number → `invalid_type`, naming the field by its path (`amount`,
/// `steps[0].quantity`) and what it expects, never the value sent.
fn serde_error(path: Option<String>, e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    let text = e.to_string();
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {text}"))
        }
        Category::Data => {
            if let Some(missing) = text.strip_prefix("missing field `").and_then(|t| t.split('`').next()) {
                let field = match &path {
                    Some(parent) => format!("{parent}.{missing}"),
                    None => missing.to_owned(),
                };
                return ApiError::invalid_field(&field, "missing_field", format!("{field} is required"));
            }
            // serde's text is `invalid type: string "…", expected i64 at line 1 column 9`: keep
            // what is expected, drop the value and the position.
            let expected = text
                .split_once("expected ")
                .map(|(_, rest)| rest.split(" at line ").next().unwrap_or(rest).trim().to_owned());
            let subject = path.as_deref().unwrap_or("the body");
            let message = match expected {
                Some(expected) => format!("{subject} has the wrong type or value: expected {expected}"),
                None => format!("{subject} has the wrong type or value"),
            };
            let err = ApiError::bad_request("invalid_type", message);
            match path {
                Some(field) => err.with("field", field),
                None => err,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        amount: i64,
        note: Option<String>,
    }

    fn req(body: &'static [u8]) -> Req {
        Req::new("/".into(), Some("a=1&b=&c=%ED%95%9C&limit=x"), HeaderMap::new(), Bytes::from_static(body))
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Colour {
        Red,
        Blue,
    }

    #[derive(serde::Deserialize, Debug)]
    struct Filter {
        a: Option<u32>,
        b: Option<u32>,
        c: Option<String>,
        colour: Option<Colour>,
        flag: Option<bool>,
    }

    #[test]
    fn typed_queries() {
        let q = |s: &'static str| Req::new("/".into(), Some(s), HeaderMap::new(), Bytes::new());
        let f: Filter = q("a=1&b=&c=%ED%95%9C&colour=blue&flag=true&other=x").query_as().expect("parses");
        assert_eq!(
            (f.a, f.b, f.c.as_deref(), f.colour, f.flag),
            (Some(1), None, Some("한"), Some(Colour::Blue), Some(true))
        );
        let e = q("a=-3").query_as::<Filter>().expect_err("negative");
        assert_eq!((e.code, e.extra.get("field").and_then(|v| v.as_str())), ("invalid_query", Some("a")));
        let e = q("colour=green").query_as::<Filter>().expect_err("unknown variant");
        assert_eq!(e.extra.get("field").and_then(|v| v.as_str()), Some("colour"));
        let none: Filter = q("").query_as().expect("empty");
        assert!(none.a.is_none() && none.colour.is_none());
    }

    #[test]
    fn nul_text_is_refused() {
        let e = req(br#"{"amount": 5, "note": "a\u0000b"}"#).json::<Body>().expect_err("nul");
        assert_eq!((e.code, e.extra.get("field").and_then(|v| v.as_str())), ("invalid_text", Some("note")));
        // An escaped backslash before `u0000` is not a NUL.
        let b = req(br#"{"amount": 5, "note": "a\\u0000"}"#).json::<Body>().expect("no nul");
        assert_eq!(b.note.as_deref(), Some("a\\u0000"));
        let q = Req::new("/".into(), Some("search=%00"), HeaderMap::new(), Bytes::new());
        assert_eq!(q.refuse_nul().map_err(|e| e.code), Err("invalid_text"));
        assert!(req(b"").refuse_nul().is_ok());
    }

    #[test]
    fn json_errors_are_classified() {
        assert_eq!(req(b"{\"amount\": 5}").json::<Body>().map(|b| b.amount).ok(), Some(5));
        assert_eq!(req(b"{").json::<Body>().map_err(|e| e.code).err(), Some("invalid_json"));
        assert_eq!(req(b"\xff\xfe").json::<Body>().map_err(|e| e.code).err(), Some("invalid_json"));
        let e = req(b"").json::<Body>().expect_err("missing");
        assert_eq!(
            (e.code, e.extra.get("field").and_then(|v| v.as_str())),
            ("missing_field", Some("amount"))
        );
        assert_eq!(
            req(b"{\"amount\": \"5\"}").json::<Body>().map_err(|e| e.code).err(),
            Some("invalid_type")
        );
        assert_eq!(req(b"{\"amount\": 1e30}").json::<Body>().map_err(|e| e.code).err(), Some("invalid_type"));
        assert_eq!(req(b"[1]").json::<Body>().map_err(|e| e.code).err(), Some("invalid_type"));
        assert_eq!(req(b"{\"amount\": 5} x").json::<Body>().map_err(|e| e.code).err(), Some("invalid_json"));
    }

    #[test]
    fn a_wrong_type_names_the_field_not_the_value() {
        let e = req(br#"{"amount": "secret-value-123"}"#).json::<Body>().expect_err("type");
        assert_eq!((e.code, e.extra.get("field").and_then(|v| v.as_str())), ("invalid_type", Some("amount")));
        assert_eq!(e.message, "amount has the wrong type or value: expected i64");
        let e = req(br#"{"amount": 1, "note": 7}"#).json::<Body>().expect_err("type");
        assert_eq!(e.extra.get("field").and_then(|v| v.as_str()), Some("note"));
        assert!(!e.message.contains('7'), "{}", e.message);
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Outer {
            steps: Vec<Body>,
        }
        let e = req(br#"{"steps": [{"amount": 1}, {"amount": true}]}"#).json::<Outer>().expect_err("nested");
        assert_eq!(e.extra.get("field").and_then(|v| v.as_str()), Some("steps[1].amount"));
        let e = req(br#"{"steps": [{}]}"#).json::<Outer>().expect_err("missing");
        assert_eq!(
            (e.code, e.extra.get("field").and_then(|v| v.as_str())),
            ("missing_field", Some("steps[0].amount"))
        );
        let e =
            req(b"{\"amount\": 5, \"note\": 1, \"x\": \"\\u0000\"}").json::<Body>().expect_err("nul path");
        assert_eq!(e.extra.get("field").and_then(|v| v.as_str()), Some("x"));
    }

    #[test]
    fn query_values() {
        let r = req(b"");
        assert_eq!(r.query("a"), Some("1"));
        assert_eq!(r.query("b"), None);
        assert_eq!(r.query("c"), Some("한"));
        assert_eq!(r.query_int("a", 0..=5).ok(), Some(Some(1)));
        assert_eq!(r.query_int("limit", 0..=5).map_err(|e| e.code).err(), Some("invalid_query"));
        assert_eq!(r.query_int("a", 2..=5).map_err(|e| e.code).err(), Some("invalid_query"));
        assert_eq!(r.query_parsed::<i64>("a", "a number").map_err(|e| e.code), Ok(Some(1)));
        assert_eq!(r.query_parsed::<i64>("c", "a number").map_err(|e| e.code), Err("invalid_query"));
        assert_eq!(r.query_parsed::<i64>("b", "a number").map_err(|e| e.code), Ok(None));
        assert_eq!(r.query_bool("a").map_err(|e| e.code), Ok(Some(true)));
        assert_eq!(r.query_bool("b").map_err(|e| e.code), Ok(None));
        assert_eq!(r.query_bool("c").map_err(|e| e.code), Err("invalid_query"));
    }
}
