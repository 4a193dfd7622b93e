//! Orders: placement (server-side price, one transaction), reading, cancel, status changes,
//! status checks, and the operator's views of orders that need attention.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};
use snspmt_core::order::{self, OrderStatus};
use snspmt_core::upstream::smm::ServiceType;
use snspmt_core::{money, validate};
use snspmt_store::{NewAudit, NewOrder, Order, OrderFilter};

use super::catalog::parse_id;
use super::points::{idempotency_key, replayable};
use super::{ok, Paging, Reply};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::request::Req;
use crate::{jobs, views, App};

#[derive(Deserialize)]
struct PlaceOrder {
    user_id: Option<String>,
    service_id: Option<Value>,
    package_id: Option<Value>,
    link: Option<String>,
    quantity: Option<i64>,
    comments: Option<String>,
    runs: Option<i64>,
    interval: Option<i64>,
    coupon_id: Option<Value>,
    price: Option<i64>,
    total_price: Option<i64>,
    #[serde(default)]
    is_scheduled: bool,
    split_days: Option<i64>,
}

fn int_id(field: &str, v: &Value) -> Result<i64, ApiError> {
    match v {
        Value::Number(n) => n.as_i64().filter(|n| *n > 0),
        Value::String(s) => s.trim().parse::<i64>().ok().filter(|n| *n > 0),
        _ => None,
    }
    .ok_or_else(|| {
        ApiError::invalid_field(field, "invalid_id", format!("{field} must be a positive integer"))
    })
}

fn unsupported(field: &str) -> ApiError {
    ApiError::invalid_field(field, "unsupported_option", format!("{field} is not available yet"))
}

pub async fn place(app: &Arc<App>, caller: &Caller, req: &Req) -> Reply {
    let body: PlaceOrder = req.json()?;
    let user_id = caller.subject(body.user_id.as_deref(), false)?;
    if body.package_id.is_some() {
        return Err(unsupported("package_id"));
    }
    if body.is_scheduled {
        return Err(unsupported("is_scheduled"));
    }
    if body.split_days.is_some() {
        return Err(unsupported("split_days"));
    }
    let service_id = body
        .service_id
        .as_ref()
        .ok_or_else(|| ApiError::invalid_field("service_id", "missing_field", "service_id is required"))
        .and_then(|v| int_id("service_id", v))?;
    let service = app.store.service(service_id).await?.filter(|s| s.is_active).ok_or_else(|| {
        ApiError::invalid_field("service_id", "invalid_service", "no such service, or it is not on sale")
    })?;
    let link = validate::link(body.link.as_deref().unwrap_or(""))?.to_owned();
    let service_type = ServiceType::parse(&service.service_type);
    let (quantity, comments) = if service_type.takes_comments() {
        let text = body.comments.as_deref().unwrap_or("");
        let n = i64::try_from(validate::comments(text)?).unwrap_or(i64::MAX);
        if body.quantity.is_some_and(|q| q != n) {
            return Err(ApiError::invalid_field(
                "quantity",
                "invalid_quantity",
                "quantity must equal the number of comments",
            ));
        }
        (n, Some(text.replace("\r\n", "\n")))
    } else {
        let q = body
            .quantity
            .ok_or_else(|| ApiError::invalid_field("quantity", "missing_field", "quantity is required"))?;
        (q, None)
    };
    if quantity < service.min_quantity || quantity > service.max_quantity {
        return Err(ApiError::invalid_field(
            "quantity",
            "invalid_quantity",
            format!("quantity must be between {} and {}", service.min_quantity, service.max_quantity),
        )
        .with("min_quantity", service.min_quantity)
        .with("max_quantity", service.max_quantity));
    }
    let drip = match (body.runs, body.interval) {
        (None, None) => None,
        (runs, interval) => {
            if !(service.dripfeed && service_type.supports_dripfeed()) {
                return Err(ApiError::invalid_field(
                    "runs",
                    "dripfeed_not_supported",
                    "this service has no drip-feed",
                ));
            }
            let runs = runs.filter(|r| (2..=1000).contains(r)).ok_or_else(|| {
                ApiError::invalid_field("runs", "invalid_runs", "runs must be between 2 and 1000")
            })?;
            let interval = interval.filter(|i| (1..=10_080).contains(i)).ok_or_else(|| {
                ApiError::invalid_field("interval", "invalid_interval", "interval must be 1..=10080 minutes")
            })?;
            Some((runs, interval))
        }
    };
    let runs = drip.map(|(r, _)| r).unwrap_or(1);
    let total = money::total_quantity(u64::try_from(quantity).unwrap_or(0), u32::try_from(runs).unwrap_or(1))
        .map_err(|_| ApiError::invalid_field("quantity", "invalid_quantity", "quantity is too large"))?;
    let price = money::order_price(service.price_per_1000, total).map_err(|_| {
        ApiError::invalid_field("quantity", "invalid_quantity", "the price would be out of range")
    })?;
    if let Some(expected) = body.price.or(body.total_price) {
        if expected != price.0 {
            return Err(ApiError::new(
                hyper::StatusCode::CONFLICT,
                "price_changed",
                "가격이 변경되었습니다 (price changed)",
            )
            .with("expected_price", price.0));
        }
    }
    let key = idempotency_key(req, &user_id, "orders.place")?;
    let now = app.clock.now();
    let (coupon_id, discount) =
        super::coupons::discount_for(app, &user_id, body.coupon_id.as_ref(), price, key.is_some(), now)
            .await?;
    let final_price = price.checked_sub(discount).map_err(|_| ApiError::internal())?;
    let new = NewOrder {
        user_id,
        service_id: service.service_id,
        service_name: service.name.clone(),
        link,
        quantity,
        runs: drip.map(|(r, _)| r),
        interval_minutes: drip.map(|(_, i)| i),
        comments,
        price,
        discount_amount: discount,
        final_price,
        due_at: now,
        status: OrderStatus::Pending,
        coupon_id,
    };
    let outcome = app.store.place_order(new, key, now).await.map_err(|e| match e {
        snspmt_store::StoreError::Conflict("invalid_coupon") => super::coupons::invalid_coupon("used"),
        e => e.into(),
    })?;
    if !outcome.is_replay() {
        jobs::submit_soon(app.clone(), outcome_order(&outcome).order_id);
    }
    Ok(replayable(&outcome, |o: &Order| {
        json!({
            "success": true,
            "order_id": o.order_id,
            "status": o.status.as_str(),
            "status_label": o.status.label(),
            "price": o.price.0,
            "discount_amount": o.discount_amount.0,
            "final_price": o.final_price.0,
            "commission_amount": o.commission_amount.0,
            "smm_panel_order_id": o.smm_panel_order_id,
            "order": views::order(o),
        })
    }))
}

fn outcome_order(o: &snspmt_store::Idempotent<Order>) -> &Order {
    match o {
        snspmt_store::Idempotent::Fresh(o) | snspmt_store::Idempotent::Replay(o) => o,
    }
}

pub async fn list(app: &App, caller: &Caller, req: &Req) -> Reply {
    let user_id = caller.subject(req.query("user_id"), true)?;
    let paging = Paging::from(req)?;
    let filter =
        OrderFilter { user_id: Some(user_id), status: None, limit: paging.limit, offset: paging.offset };
    let page = app.store.orders(filter).await?;
    ok(json!({"orders": page.rows.iter().map(views::order).collect::<Vec<_>>(), "total": page.total}))
}

/// The order, if the caller may see it (its owner, or an admin); others get 404 as if it did
/// not exist.
async fn visible(app: &App, caller: &Caller, raw_id: &str) -> Result<Order, ApiError> {
    let id = parse_id("order_id", raw_id)?;
    let order = app.store.order(id).await?.ok_or_else(|| ApiError::not_found("order"))?;
    if caller.is_admin() || caller.user().is_some_and(|u| u.user_id == order.user_id) {
        Ok(order)
    } else {
        Err(ApiError::not_found("order"))
    }
}

pub async fn get(app: &App, caller: &Caller, raw_id: &str) -> Reply {
    let order = visible(app, caller, raw_id).await?;
    ok(json!({"order": views::order(&order)}))
}

pub async fn cancel(app: &App, caller: &Caller, raw_id: &str) -> Reply {
    let order = visible(app, caller, raw_id).await?;
    if !matches!(order.status, OrderStatus::Pending | OrderStatus::Scheduled) {
        return Err(invalid_transition(order.status, OrderStatus::Canceled));
    }
    let order = app.store.cancel_order(order.order_id, app.clock.now()).await.map_err(|e| match e {
        snspmt_store::StoreError::Conflict("invalid_transition") => {
            invalid_transition(order.status, OrderStatus::Canceled)
        }
        e => e.into(),
    })?;
    ok(json!({"success": true, "order": views::order(&order)}))
}

fn invalid_transition(from: OrderStatus, to: OrderStatus) -> ApiError {
    ApiError::new(
        hyper::StatusCode::CONFLICT,
        "invalid_transition",
        format!("an order cannot go from {from} to {to} now"),
    )
    .with("status", from.as_str())
}

#[derive(Deserialize)]
struct SetStatus {
    status: String,
    smm_panel_order_id: Option<Value>,
}

fn smm_id(v: Option<&Value>) -> Result<Option<String>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 64 => Ok(Some(s.trim().to_owned())),
        Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64().map(|n| n.to_string())),
        Some(_) => Err(ApiError::invalid_field(
            "smm_panel_order_id",
            "invalid_id",
            "smm_panel_order_id must be an id",
        )),
    }
}

async fn transition(
    app: &App,
    caller: &Caller,
    order: Order,
    to: OrderStatus,
    smm_order_id: Option<String>,
    action: &str,
) -> Reply {
    let t = order::admin_transition(order.status, to).map_err(|e| invalid_transition(e.from, e.to))?;
    if to == OrderStatus::InProgress && smm_order_id.is_none() && order.smm_panel_order_id.is_none() {
        return Err(ApiError::invalid_field(
            "smm_panel_order_id",
            "missing_field",
            "an order in progress needs the panel's order id",
        ));
    }
    let audit = NewAudit {
        actor: caller.actor(),
        action: action.into(),
        target: Some(order.order_id.to_string()),
        detail: json!({"from": order.status.as_str(), "to": to.as_str(), "smm_panel_order_id": smm_order_id})
            .to_string(),
    };
    let from = order.status;
    let updated = app
        .store
        .admin_set_status(order.order_id, from, t, smm_order_id, audit, app.clock.now())
        .await
        .map_err(|e| match e {
            snspmt_store::StoreError::Conflict("invalid_transition") => invalid_transition(from, to),
            e => e.into(),
        })?;
    ok(json!({"success": true, "order": views::order(&updated)}))
}

pub async fn set_status(app: &App, caller: &Caller, raw_id: &str, req: &Req) -> Reply {
    let body: SetStatus = req.json()?;
    let to: OrderStatus = body
        .status
        .parse()
        .map_err(|_| ApiError::invalid_field("status", "invalid_status", "unknown order status"))?;
    let smm_order_id = smm_id(body.smm_panel_order_id.as_ref())?;
    let order = visible(app, caller, raw_id).await?;
    transition(app, caller, order, to, smm_order_id, "orders.set_status").await
}

#[derive(Deserialize)]
struct Resolve {
    smm_panel_order_id: Option<Value>,
    action: Option<String>,
}

/// Settles an `unknown` order: it was accepted (`smm_panel_order_id`), or it failed
/// (`action: "fail"`, full refund).
pub async fn resolve(app: &App, caller: &Caller, raw_id: &str, req: &Req) -> Reply {
    let body: Resolve = req.json()?;
    let order = visible(app, caller, raw_id).await?;
    if order.status != OrderStatus::Unknown {
        return Err(invalid_transition(order.status, OrderStatus::InProgress));
    }
    match (smm_id(body.smm_panel_order_id.as_ref())?, body.action.as_deref()) {
        (Some(id), None) => {
            transition(app, caller, order, OrderStatus::InProgress, Some(id), "orders.resolve").await
        }
        (None, Some("fail")) => {
            transition(app, caller, order, OrderStatus::Failed, None, "orders.resolve").await
        }
        _ => Err(ApiError::bad_request(
            "invalid_resolution",
            "send either smm_panel_order_id (it was accepted) or action: \"fail\"",
        )),
    }
}

pub async fn admin_list(app: &App, req: &Req) -> Reply {
    let paging = Paging::from(req)?;
    let status = req
        .query("status")
        .map(str::parse::<OrderStatus>)
        .transpose()
        .map_err(|_| ApiError::invalid_field("status", "invalid_status", "unknown order status"))?;
    let filter = OrderFilter {
        user_id: req.query("user_id").map(str::to_owned),
        status,
        limit: paging.limit,
        offset: paging.offset,
    };
    let page = app.store.orders(filter).await?;
    ok(json!({
        "orders": page.rows.iter().map(views::order).collect::<Vec<_>>(),
        "total": page.total,
        "limit": paging.limit,
        "offset": paging.offset,
    }))
}

#[derive(Deserialize)]
struct CheckStatus {
    order_ids: Vec<Value>,
    user_id: Option<String>,
}

/// Asks the panel about some of the caller's own orders now.
pub async fn check_status(app: &App, caller: &Caller, req: &Req) -> Reply {
    let body: CheckStatus = req.json()?;
    let user_id = caller.subject(body.user_id.as_deref(), false)?;
    if body.order_ids.is_empty() || body.order_ids.len() > 100 {
        return Err(ApiError::invalid_field("order_ids", "invalid_order_ids", "send 1 to 100 order ids"));
    }
    let ids = body.order_ids.iter().map(|v| int_id("order_ids", v)).collect::<Result<Vec<_>, _>>()?;
    let targets = app.store.orders_to_sync(100, Some((&user_id, &ids))).await?;
    let report = if targets.is_empty() {
        jobs::SyncReport::default()
    } else {
        jobs::sync(app, &jobs::smm_client(app)?, targets).await?
    };
    let mut orders = Vec::new();
    for id in ids {
        if let Some(o) = app.store.order(id).await?.filter(|o| o.user_id == user_id) {
            orders.push(views::order(&o));
        }
    }
    ok(json!({"success": true, "checked": report.checked, "orders": orders}))
}
