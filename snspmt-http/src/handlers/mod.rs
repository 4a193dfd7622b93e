//! One module per area; each handler takes the app, the caller and the request.

pub mod accounts;
pub mod admin;
pub mod api_keys;
pub mod blog;
pub mod catalog;
pub mod coupons;
pub mod cron;
pub mod mass;
pub mod notices;
pub mod orders;
pub mod packages;
pub mod points;
pub mod purchases;
pub mod rates;
pub mod referral;
pub mod refills;
pub mod smm_proxy;
pub mod social;
pub mod system;
pub mod uploads;
pub mod v2;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::Value;

use crate::error::ApiError;
use crate::router::Route;

/// The route tables of the handler modules: every route the server answers.
pub static TABLES: &[&[Route]] = &[
    accounts::ROUTES,
    points::ROUTES,
    system::ROUTES,
    v2::ROUTES,
    api_keys::ROUTES,
    admin::ROUTES,
    catalog::ROUTES,
    smm_proxy::ROUTES,
    orders::ROUTES,
    refills::ROUTES,
    cron::ROUTES,
    purchases::ROUTES,
    packages::ROUTES,
    social::ROUTES,
    notices::ROUTES,
    blog::ROUTES,
    uploads::ROUTES,
    referral::ROUTES,
    coupons::ROUTES,
    mass::ROUTES,
    rates::ROUTES,
];

/// What a handler answers.
pub type Reply = Result<Response<Full<Bytes>>, ApiError>;

/// A JSON response.
pub fn json(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = Response::new(Full::new(Bytes::from(bytes)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// A response of another type (HTML, XML, an image), with `X-Content-Type-Options: nosniff`.
pub fn bytes(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(content_type));
    headers.insert("x-content-type-options", hyper::header::HeaderValue::from_static("nosniff"));
    resp
}

/// A 200 JSON response.
pub fn ok(body: Value) -> Reply {
    Ok(json(StatusCode::OK, &body))
}

/// `limit`/`offset` of a list: default 50, at most 200.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub limit: i64,
    pub offset: i64,
}

/// The `limit`/`offset` query parameters, for a list's typed query (`#[serde(flatten)]` does not
/// work with query strings: copy these two fields into the query type and call [`Paging::of`]).
#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
pub struct PageQuery {
    /// At most this many rows: 1 to 200, default 50.
    pub limit: Option<u32>,
    /// Skip this many rows first (default 0).
    pub offset: Option<u32>,
}

impl Paging {
    /// The paging of a typed query's `limit` and `offset`: `limit` 0 is refused (400
    /// `invalid_query`), above 200 is 200, absent is 50.
    pub fn of(limit: Option<u32>, offset: Option<u32>) -> Result<Paging, ApiError> {
        if limit == Some(0) {
            return Err(ApiError::invalid_field(
                "limit",
                "invalid_query",
                format!("limit must be an integer from 1 to {}", u32::MAX),
            ));
        }
        Ok(Paging { limit: i64::from(limit.unwrap_or(50).min(200)), offset: i64::from(offset.unwrap_or(0)) })
    }

    pub fn from(req: &crate::request::Req) -> Result<Paging, ApiError> {
        let limit = req.query_int("limit", 1..=i64::from(u32::MAX))?.unwrap_or(50).min(200);
        let offset = req.query_int("offset", 0..=i64::from(u32::MAX))?.unwrap_or(0);
        Ok(Paging { limit, offset })
    }
}
