//! The console's static files, compiled into the binary (no CDN, nothing fetched at run time).

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::HeaderValue;
use hyper::{Method, Response};

/// `(path, content type, bytes)`.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("/static/console.css", "text/css; charset=utf-8", include_bytes!("../../assets/console.css")),
    ("/static/console.js", "text/javascript; charset=utf-8", include_bytes!("../../assets/console.js")),
    // htmx 2.0.11 from npm `htmx.org` (see assets/vendor/README.md).
    (
        "/static/htmx.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/vendor/htmx.min.js"),
    ),
];

/// The asset at `path`, for `GET`/`HEAD`.
pub fn serve(method: &Method, path: &str) -> Option<Response<Full<Bytes>>> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let (_, content_type, bytes) = ASSETS.iter().find(|(p, _, _)| *p == path)?;
    let mut resp = Response::new(Full::new(Bytes::from_static(bytes)));
    let headers = resp.headers_mut();
    headers.insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(hyper::header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    headers.insert(hyper::header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Some(resp)
}
