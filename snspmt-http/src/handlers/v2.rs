//! The reseller API (`/api/v2`): the SMM panel API v2 that panels expose to their customers,
//! served to ours. Every answer is HTTP 200 JSON; a logical error is `{"error": "..."}` with the
//! conventional text, so that existing reseller software recognises it.

use std::collections::BTreeMap;
use std::sync::Arc;

use hyper::StatusCode;
use serde_json::{json, Map, Value};
use snspmt_core::order::OrderStatus;
use snspmt_core::upstream::smm::{self, OrderParams, QuantityRule, ServiceType};
use snspmt_core::Points;
use snspmt_store::{IdempotencyKey, Order, OrderId, Service, User};

use super::orders::{outcome_order, place_for, PlaceOrder};
use super::{ok, rates, refills, Reply};
use crate::auth::token_hash;
use crate::error::ApiError;
use crate::request::Req;
use crate::router::Raw;
use crate::App;

/// A request's parameters: the query string, then the body (form-encoded or a JSON object);
/// a body value wins over the query's.
#[derive(Debug, Default, Clone)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    /// The parameters of a request: never fails (an unreadable body adds nothing).
    pub fn of(req: &Req) -> Params {
        let mut map: BTreeMap<String, String> = req.query.iter().cloned().collect();
        let body = req.body.trim_ascii();
        if body.first() == Some(&b'{') {
            if let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) {
                for (k, v) in obj {
                    let text = match v {
                        Value::String(s) => s,
                        Value::Null => continue,
                        other => other.to_string(),
                    };
                    map.insert(k, text);
                }
            }
        } else {
            map.extend(form_urlencoded::parse(body).into_owned());
        }
        Params(map)
    }

    /// A parameter's value, trimmed; `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Params {
        Params(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }
}

/// `{"error": text}`.
pub fn error(text: &str) -> Value {
    json!({ "error": text })
}

/// The conventional error texts (§1.2 "Error strings seen in the wild").
pub mod text {
    pub const INVALID_KEY: &str = "Invalid API key";
    pub const INCORRECT_REQUEST: &str = "Incorrect request";
    pub const INCORRECT_ORDER: &str = "Incorrect order ID";
    pub const INCORRECT_SERVICE: &str = "Incorrect service ID";
    pub const INCORRECT_LINK: &str = "Incorrect link";
    pub const INCORRECT_QUANTITY: &str = "Incorrect quantity";
    pub const NOT_ENOUGH_FUNDS: &str = "Not enough funds on balance";
    pub const TOO_MANY_REQUESTS: &str = "Too many requests";
    pub const DUPLICATE_REQUEST_ID: &str = "Duplicate request_id with different parameters";
    pub const NO_DRIPFEED: &str = "Drip-feed is not available for this service";
    pub const TYPE_NOT_SUPPORTED: &str = "This service type cannot be ordered through the API";
    pub const UNAVAILABLE: &str = "Temporarily unavailable, try again later";
}

/// The most ids in one `orders=` list.
pub const MAX_IDS: usize = 100;
/// The longest `request_id`.
pub const MAX_REQUEST_ID_LEN: usize = 64;
/// `last_used_at` is written at most once in this many milliseconds per key.
const TOUCH_EVERY_MS: i64 = 60_000;
/// The currency every amount is in.
const CURRENCY: &str = "KRW";

/// `POST /api/v2` (and `GET` with a query string).
pub async fn handle(app: &Arc<App>, req: &Req) -> Reply {
    let params = Params::of(req);
    let user = match authenticate(app, &params, req).await {
        Ok(user) => user,
        Err(Refusal::InvalidKey) => return ok(error(text::INVALID_KEY)),
        Err(Refusal::TooMany(retry_after)) => return Ok(too_many_requests(retry_after)),
        Err(Refusal::Unavailable) => return ok(error(text::UNAVAILABLE)),
    };
    let answer = match params.get("action") {
        Some("services") => services(app, &user).await,
        Some("add") => add(app, &user, &params).await,
        Some("status") => status(app, &user, &params).await,
        Some("balance") => Ok(balance(&user)),
        Some("refill") => Ok(refills::v2_refill(app, &user, &params).await),
        Some("refill_status") => Ok(refills::v2_refill_status(app, &user, &params).await),
        Some("cancel") => Ok(refills::v2_cancel(app, &user, &params).await),
        _ => Ok(error(text::INCORRECT_REQUEST)),
    };
    // Whatever went wrong inside (the database, say) is still an HTTP 200 `{"error"}` here:
    // the error was logged where it became an `ApiError`.
    ok(answer.unwrap_or_else(|e| {
        error(if e.status.is_server_error() { text::UNAVAILABLE } else { text::INCORRECT_REQUEST })
    }))
}

/// HTTP 429 `{"error": "Too many requests"}` with `Retry-After`.
fn too_many_requests(retry_after: u64) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    let mut resp = super::json(StatusCode::TOO_MANY_REQUESTS, &error(text::TOO_MANY_REQUESTS));
    resp.headers_mut().insert(hyper::header::RETRY_AFTER, hyper::header::HeaderValue::from(retry_after));
    resp
}

/// Why a call is not served.
enum Refusal {
    /// No key, an unknown or revoked key, or the owner's API access is off.
    InvalidKey,
    /// The key's rate is spent: retry after this many seconds.
    TooMany(u64),
    /// The key could not be checked (the database is unavailable).
    Unavailable,
}

/// The presented key: the `key` parameter (body, then query string), else `X-Api-Key`.
fn presented_key<'a>(params: &'a Params, req: &'a Req) -> Option<&'a str> {
    params
        .get("key")
        .or_else(|| req.headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim))
        .filter(|k| !k.is_empty() && k.len() <= 256)
}

/// The key's owner, when the key (from `key`, `X-Api-Key` or the query) is live, within its
/// rate, and the owner may use the API. The rate is counted per presented key before the
/// database is asked, so a flood costs no query.
async fn authenticate(app: &Arc<App>, params: &Params, req: &Req) -> Result<User, Refusal> {
    let key = presented_key(params, req).ok_or(Refusal::InvalidKey)?;
    let hash = token_hash(key);
    app.guards.api.check(&hash).map_err(Refusal::TooMany)?;
    let owner = match app.store.api_key_owner(&hash).await {
        Ok(Some(owner)) => owner,
        Ok(None) => return Err(Refusal::InvalidKey),
        Err(e) => {
            crate::log::error(&format!("reseller API key lookup: {e}"));
            return Err(Refusal::Unavailable);
        }
    };
    if !owner.api_enabled {
        return Err(Refusal::InvalidKey);
    }
    let now = app.clock.now();
    if owner.key.last_used_at.is_none_or(|at| now.ms_since(at) >= TOUCH_EVERY_MS) {
        // Best effort: a lost touch only makes `last_used_at` older.
        let _ = app.store.touch_api_key(&owner.key.key_id, now).await;
    }
    Ok(owner.user)
}

/// Points as the panels' decimal money string (`"1500.00"`).
fn money(p: Points) -> String {
    format!("{}.00", p.0)
}

/// `services`: the active catalogue at the caller's rates.
async fn services(app: &Arc<App>, user: &User) -> Result<Value, ApiError> {
    const PAGE: i64 = 200;
    let book = rates::price_book(app, &user.user_id).await?;
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let page = app.store.list_services(true, None, PAGE, offset).await?;
        let n = page.rows.len();
        out.extend(page.rows.iter().map(|s| service_entry(s, book.rate(s))));
        if n < PAGE as usize {
            break;
        }
        offset += PAGE;
    }
    Ok(Value::Array(out))
}

fn service_entry(s: &Service, rate: Points) -> Value {
    let kind = ServiceType::parse(&s.service_type);
    json!({
        "service": s.service_id,
        "name": s.name,
        "type": kind.panel_name(),
        "category": s.category,
        "rate": money(rate),
        "min": s.min_quantity.to_string(),
        "max": s.max_quantity.to_string(),
        "dripfeed": s.dripfeed && kind.supports_dripfeed(),
        "refill": s.refill,
        "cancel": s.cancel,
    })
}

/// An integer parameter: `None` when absent, `Err` when present and not an integer.
fn int_param(p: &Params, name: &str) -> Result<Option<i64>, ()> {
    p.get(name).map(|v| v.parse::<i64>().map_err(drop)).transpose()
}

/// `add`: one order through the site's own placement path (same checks, price, charge,
/// ledger rows and submission). `quantity` is per run for a drip-feed order, as on the site.
async fn add(app: &Arc<App>, user: &User, p: &Params) -> Result<Value, ApiError> {
    let Some(raw_service) = p.get("service") else { return Ok(error(text::INCORRECT_REQUEST)) };
    let Some(service_id) = raw_service.parse::<i64>().ok().filter(|n| *n > 0) else {
        return Ok(error(text::INCORRECT_SERVICE));
    };
    let Some(service) = rates::priced_service(app, service_id).await?.filter(|s| s.is_active) else {
        return Ok(error(text::INCORRECT_SERVICE));
    };
    let kind = ServiceType::parse(&service.service_type);
    let Some(spec) = kind.spec() else { return Ok(error(text::TYPE_NOT_SUPPORTED)) };
    let link = p.get("link");
    if spec.link && link.is_none() {
        return Ok(error(text::INCORRECT_REQUEST));
    }
    let (Ok(runs), Ok(interval)) = (int_param(p, "runs"), int_param(p, "interval")) else {
        return Ok(error(text::INCORRECT_REQUEST));
    };
    let Ok(asked_quantity) = int_param(p, "quantity") else { return Ok(error(text::INCORRECT_QUANTITY)) };
    // The type's own parameters (comments among them), checked here so that a missing or bad
    // one is `Incorrect request` before anything is priced.
    let given: OrderParams =
        ServiceType::all_param_names().into_iter().filter_map(|n| Some((n, p.get(n)?))).collect();
    let checked = match smm::check_params(&kind, &given) {
        Ok(checked) => checked,
        Err(_) => return Ok(error(text::INCORRECT_REQUEST)),
    };
    let mut params = checked.params;
    let comments = params.remove("comments");
    let quantity = match spec.quantity {
        // A package is one unit of the service, whatever `quantity` says.
        QuantityRule::Package => Some(service.min_quantity),
        QuantityRule::Given => match asked_quantity {
            Some(q) => Some(q),
            None => return Ok(error(text::INCORRECT_REQUEST)),
        },
        // Counted from the parameters; a `quantity` sent must agree.
        QuantityRule::LinesOf(_) | QuantityRule::MaxTimesPosts => asked_quantity,
    };
    let link = link.unwrap_or_default();
    let key = match p.get("request_id") {
        None => None,
        Some(id) if id.len() <= MAX_REQUEST_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic()) => {
            let normalised =
                json!([service_id, link, quantity, runs, interval, comments, params]).to_string();
            Some(IdempotencyKey::new(&user.user_id, "v2.add", id, normalised.as_bytes()))
        }
        Some(_) => return Ok(error(text::INCORRECT_REQUEST)),
    };
    let body = PlaceOrder {
        service_id: Some(Value::from(service_id)),
        link: Some(link.to_owned()),
        quantity,
        comments,
        runs,
        interval,
        type_params: params.iter().map(|(k, v)| (k.to_owned(), Value::from(v))).collect(),
        ..PlaceOrder::default()
    };
    match place_for(app, user.user_id.clone(), &body, key, false).await {
        Ok((outcome, _)) => Ok(json!({ "order": outcome_order(&outcome).order_id })),
        Err(e) => {
            // The quantity the bounds were checked against: the line count for the types that
            // count lines (a subscription's error names its `min` or `max` itself).
            let counted = checked.quantity.and_then(|n| i64::try_from(n).ok());
            Ok(add_refusal(&e, counted.or(quantity)))
        }
    }
}

/// The conventional answer to a placement `place_for` refused.
fn add_refusal(e: &ApiError, quantity: Option<i64>) -> Value {
    let bound = |k: &str| e.extra.get(k).and_then(Value::as_i64);
    let quantity = bound("quantity").or(quantity);
    match e.code {
        "invalid_service" | "invalid_id" => error(text::INCORRECT_SERVICE),
        "invalid_link" => error(text::INCORRECT_LINK),
        "invalid_quantity" => match (quantity, bound("min_quantity"), bound("max_quantity")) {
            (Some(q), Some(min), _) if q < min => error(&format!("Quantity less than minimal {min}")),
            (Some(q), _, Some(max)) if q > max => error(&format!("Quantity more than maximum {max}")),
            _ => error(text::INCORRECT_QUANTITY),
        },
        "insufficient_points" => error(text::NOT_ENOUGH_FUNDS),
        "dripfeed_not_supported" => error(text::NO_DRIPFEED),
        "idempotency_key_reused" => error(text::DUPLICATE_REQUEST_ID),
        _ if e.status.is_server_error() => error(text::UNAVAILABLE),
        _ => error(text::INCORRECT_REQUEST),
    }
}

/// The panels' status of one of our statuses.
fn panel_status(s: OrderStatus) -> &'static str {
    match s {
        OrderStatus::Pending | OrderStatus::Scheduled | OrderStatus::Submitting | OrderStatus::Unknown => {
            "Pending"
        }
        OrderStatus::InProgress => "In progress",
        OrderStatus::Processing => "Processing",
        OrderStatus::Completed => "Completed",
        OrderStatus::Partial => "Partial",
        OrderStatus::Canceled | OrderStatus::Failed => "Canceled",
    }
}

/// `{charge, start_count, status, remains, currency}` of an order: `charge` is what was paid
/// less what was refunded; `remains` the units not delivered (all of them until the upstream
/// says otherwise).
fn order_status(o: &Order) -> Value {
    let total = i64::try_from(o.total_quantity()).unwrap_or(i64::MAX);
    let remains = match o.status {
        OrderStatus::Pending | OrderStatus::Scheduled | OrderStatus::Submitting | OrderStatus::Unknown => {
            total
        }
        OrderStatus::InProgress | OrderStatus::Processing | OrderStatus::Canceled | OrderStatus::Failed => {
            o.remains.unwrap_or(total)
        }
        OrderStatus::Completed | OrderStatus::Partial => o.remains.unwrap_or(0),
    };
    let charge = o.final_price.checked_sub(o.refunded_amount).unwrap_or(o.final_price);
    json!({
        "charge": money(charge),
        "start_count": o.start_count.unwrap_or(0).to_string(),
        "status": panel_status(o.status),
        "remains": remains.to_string(),
        "currency": CURRENCY,
    })
}

/// One of the caller's orders; another user's order is as unknown as a missing one.
async fn own_order(app: &App, user: &User, raw: &str) -> Result<Option<Order>, ApiError> {
    let Some(id) = raw.trim().parse::<i64>().ok().filter(|n| *n > 0) else { return Ok(None) };
    Ok(app.store.order(OrderId(id)).await?.filter(|o| o.user_id == user.user_id))
}

/// `status`: `order=N`, or `orders=1,2,…` (at most [`MAX_IDS`]) keyed by id with inline errors.
async fn status(app: &Arc<App>, user: &User, p: &Params) -> Result<Value, ApiError> {
    if let Some(list) = p.get("orders") {
        let ids: Vec<&str> = list.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        if ids.is_empty() || ids.len() > MAX_IDS {
            return Ok(error(text::INCORRECT_REQUEST));
        }
        let mut out = Map::new();
        for id in ids {
            let answer = match own_order(app, user, id).await? {
                Some(o) => order_status(&o),
                None => error(text::INCORRECT_ORDER),
            };
            out.insert(id.to_owned(), answer);
        }
        return Ok(Value::Object(out));
    }
    let Some(raw) = p.get("order") else { return Ok(error(text::INCORRECT_REQUEST)) };
    Ok(match own_order(app, user, raw).await? {
        Some(o) => order_status(&o),
        None => error(text::INCORRECT_ORDER),
    })
}

/// `balance`.
fn balance(user: &User) -> Value {
    json!({ "balance": money(user.points), "currency": CURRENCY })
}

crate::router::route_table! {
    ResellerApiGet: GET "/api/v2", Public, "v2", reply Raw,
        |app, _, req| handle(app, req);
    ResellerApi: POST "/api/v2", Public, "v2", reply Raw,
        |app, _, req| handle(app, req);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_panel_names() {
        for s in OrderStatus::ALL {
            let name = panel_status(s);
            assert!(
                ["Pending", "In progress", "Processing", "Completed", "Partial", "Canceled"].contains(&name),
                "{s:?}"
            );
        }
        assert_eq!(panel_status(OrderStatus::Failed), "Canceled");
        assert_eq!(panel_status(OrderStatus::Unknown), "Pending");
    }

    #[test]
    fn refusals_map_to_conventional_texts() {
        let q = |min: i64, max: i64| {
            ApiError::invalid_field("quantity", "invalid_quantity", "x")
                .with("min_quantity", min)
                .with("max_quantity", max)
        };
        assert_eq!(add_refusal(&q(10, 100), Some(5)), error("Quantity less than minimal 10"));
        assert_eq!(add_refusal(&q(10, 100), Some(500)), error("Quantity more than maximum 100"));
        assert_eq!(
            add_refusal(&ApiError::invalid_field("quantity", "invalid_quantity", "x"), Some(5)),
            error(text::INCORRECT_QUANTITY)
        );
        assert_eq!(add_refusal(&ApiError::internal(), None), error(text::UNAVAILABLE));
        assert_eq!(
            add_refusal(&ApiError::bad_request("whatever", "x"), None),
            error(text::INCORRECT_REQUEST)
        );
        assert_eq!(money(Points(1500)), "1500.00");
    }

    #[test]
    fn params_body_wins_and_never_fails() {
        let p = Params::from_pairs(&[("key", " k "), ("empty", "  ")]);
        assert_eq!(p.get("key"), Some("k"));
        assert_eq!(p.get("empty"), None);
    }
}
