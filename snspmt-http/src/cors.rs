//! Cross-origin requests (`SNSPMT_CORS_ORIGINS`).
//!
//! With no origins configured the API is same-origin only: no CORS header is ever sent, and a
//! preflight is refused. Listed origins (exact `scheme://host[:port]`, or `*` for any origin but
//! `null`) get:
//!
//! - preflights (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) answered 204 with
//!   the requesting origin, the methods the path serves, the request headers the API reads and
//!   a max-age, before routing and authentication;
//! - `Access-Control-Allow-Origin` (the origin itself, never `*`) and
//!   `Access-Control-Expose-Headers` on every actual response.
//!
//! A preflight from an origin not listed is answered 403 with the JSON error body
//! `cors_origin_not_allowed` and no CORS header, so the browser refuses the call. Credentials
//! mode is not offered (`Access-Control-Allow-Credentials` is never sent): the API authenticates
//! with bearer tokens and admin tokens in headers, not cookies. Whenever origins are configured,
//! every response carries `Vary: Origin`, since it depends on the caller's origin.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode};

use crate::error::ApiError;
use crate::router;

/// The request headers a browser may send to the API.
pub const ALLOW_HEADERS: &str = "Authorization, Content-Type, Idempotency-Key, X-Admin-Token, X-Request-Id";
/// The response headers a browser may read.
pub const EXPOSE_HEADERS: &str = "X-Request-Id, Retry-After";
/// How long a browser may keep a preflight's answer: 10 minutes.
pub const MAX_AGE_SECS: u32 = 600;
/// The methods of the API, for a path whose own cannot be told.
const API_METHODS: &str = "GET, POST, PUT, DELETE";

/// An origin as configured or sent: lowercase, without a trailing slash.
pub fn normalize(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Whether `origin` (the request's `Origin` header) is allowed by `allowed` (normalized).
pub fn allows(allowed: &[String], origin: &str) -> bool {
    let origin = normalize(origin);
    allowed.iter().any(|a| *a == origin || (a == "*" && origin != "null"))
}

/// The request's `Origin` when it is listed.
pub fn allowed_origin(allowed: &[String], headers: &HeaderMap) -> Option<HeaderValue> {
    if allowed.is_empty() {
        return None;
    }
    let origin = headers.get(header::ORIGIN)?;
    allows(allowed, origin.to_str().ok()?).then(|| origin.clone())
}

/// Whether the request is a CORS preflight.
pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS
        && headers.contains_key(header::ORIGIN)
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The answer to a preflight for `path` from `origin` (`None`: not allowed).
pub fn preflight(path: &str, origin: Option<HeaderValue>) -> Result<Response<Full<Bytes>>, ApiError> {
    let Some(origin) = origin else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "cors_origin_not_allowed",
            "this origin may not call the API (SNSPMT_CORS_ORIGINS)",
        ));
    };
    // No route serves OPTIONS, so the router answers a known path with the methods it allows.
    let methods = match router::route(&Method::OPTIONS, path) {
        Err(e) if e.allow.is_some() => e.allow.unwrap_or_default(),
        Err(e) => return Err(e),
        Ok(_) => API_METHODS.to_owned(),
    };
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    if let Ok(m) = HeaderValue::from_str(&methods) {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, m);
    }
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOW_HEADERS));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(MAX_AGE_SECS));
    Ok(resp)
}

/// Adds the CORS headers of an actual response.
pub fn decorate(headers: &mut HeaderMap, configured: bool, origin: Option<HeaderValue>) {
    if !configured {
        return;
    }
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin {
        if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSE_HEADERS));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_match_exactly() {
        let list = vec![normalize("https://App.example/"), normalize("http://localhost:3000")];
        assert!(allows(&list, "https://app.example"));
        assert!(allows(&list, "http://localhost:3000"));
        assert!(!allows(&list, "https://app.example.evil"));
        assert!(!allows(&list, "http://app.example"));
        assert!(!allows(&list, "null"));
        assert!(allows(&["*".into()], "https://any.example"));
        assert!(!allows(&["*".into()], "null"));
        assert!(!allows(&[], "https://app.example"));
    }

    #[test]
    fn preflight_lists_the_paths_methods() {
        let origin = HeaderValue::from_static("https://app.example");
        let resp = preflight("/api/blog/posts/3", Some(origin)).expect("204");
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let h = resp.headers();
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_METHODS], "GET, PUT, DELETE");
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example");
        assert_eq!(
            preflight("/api/blog/posts/3", None).map_err(|e| e.code).err(),
            Some("cors_origin_not_allowed")
        );
        let origin = HeaderValue::from_static("https://app.example");
        assert_eq!(preflight("/nope", Some(origin)).map_err(|e| e.code).err(), Some("no_such_route"));
    }
}
