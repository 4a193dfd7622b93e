//! Refill and cancel of orders already at the upstream: for site users
//! (`POST /api/orders/<id>/refill`, `GET /api/orders/<id>/refills`, `POST /api/orders/<id>/cancel`)
//! and for the reseller API's `refill`, `refill_status` and `cancel` actions. The core decides
//! who may ask ([`snspmt_core::refill`]), the store records the request with the order locked,
//! and the request is forwarded to the upstream; money moves only when the status sync sees the
//! upstream's answer (`Canceled`, `Partial`).

use std::sync::Arc;

use hyper::StatusCode;
use schemars::{JsonSchema, SchemaGenerator};
use serde::Serialize;
use serde_json::{json, Value};
use snspmt_core::order::OrderStatus;
use snspmt_core::refill::{CancelRefusal, CancelState, RefillInput, RefillRefusal, RefillState};
use snspmt_core::upstream::smm::MAX_BULK;
use snspmt_store::{
    CancelRequest, Conflict, Millis, Order, OrderId, OwnerCancel, Refill, RefillId, StoreError, User,
};

use super::orders::visible;
use super::v2::{self, Params};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::router::{Answer, Json};
use crate::upstream::smm::SmmFailure;
use crate::{jobs, views, App};

// ---------------------------------------------------------------------------------------------
// What a request ended with
// ---------------------------------------------------------------------------------------------

/// Why a refill or a cancel did not happen.
#[derive(Debug)]
enum Refused {
    /// No such order (or not the caller's), no such refill.
    NoOrder,
    Refill(RefillRefusal),
    Cancel(CancelRefusal),
    /// The upstream refused the request (its text is kept on the record, for the operator).
    ByUpstream,
    /// The upstream could not be asked (not configured, busy, unreachable, an odd answer); the
    /// reason is logged ([`upstream`]).
    Upstream,
    /// The store failed.
    Store(ApiError),
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Refused::NoOrder,
            e => Refused::Store(e.into()),
        }
    }
}

impl Refused {
    /// The reseller API's text.
    fn api_text(&self, refill: bool) -> &'static str {
        match self {
            Refused::NoOrder => "Incorrect order ID",
            Refused::Refill(r) => r.api_text(),
            Refused::Cancel(r) => r.api_text(),
            Refused::ByUpstream if refill => "Refill request was refused",
            Refused::ByUpstream => "Cancel request was refused",
            Refused::Upstream | Refused::Store(_) => "Service temporarily unavailable, try again later",
        }
    }

    /// The site's answer about `order`.
    fn into_api(self, order: &Order, refill: bool) -> ApiError {
        let conflict = |code, message: String| {
            ApiError::new(StatusCode::CONFLICT, code, message).with("status", order.status.as_str())
        };
        match self {
            Refused::NoOrder => ApiError::not_found("order"),
            Refused::Refill(r) => {
                let e = conflict(r.code(), r.to_string());
                match r {
                    RefillRefusal::Cooldown { until } => e.with("retry_at", until.0),
                    RefillRefusal::WindowClosed { closed_at } => e.with("closed_at", closed_at.0),
                    _ => e,
                }
            }
            Refused::Cancel(CancelRefusal::OrderNotCancelable(from)) => ApiError::new(
                StatusCode::CONFLICT,
                "invalid_transition",
                format!("an order cannot go from {from} to {} now", OrderStatus::Canceled),
            )
            .with("status", from.as_str()),
            Refused::Cancel(r) => conflict(r.code(), r.to_string()),
            Refused::ByUpstream if refill => {
                conflict("refill_refused", "the provider refused the refill of this order".into())
            }
            Refused::ByUpstream => {
                conflict("cancel_refused", "the provider refused to cancel this order".into())
            }
            Refused::Upstream => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                "the SMM panel could not be asked; try again later",
            ),
            Refused::Store(e) => e,
        }
    }
}

/// The upstream could not be asked: logged, and [`Refused::Upstream`].
fn upstream(what: &str, text: &str) -> Refused {
    crate::log::warn(&format!("{what}: the SMM panel could not be asked: {text}"));
    Refused::Upstream
}

/// What an upstream call's failure is, for the record and for the caller.
fn failure(what: &str, f: SmmFailure) -> (String, Refused) {
    match f {
        SmmFailure::Refused(e) => (e.message, Refused::ByUpstream),
        other => {
            let text = other.to_string();
            let refused = upstream(what, &text);
            (text, refused)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The operations, shared by the site and the reseller API
// ---------------------------------------------------------------------------------------------

/// Asks the upstream for a refill of `order`, when the core allows one: the refill as the
/// upstream's answer left it (`pending`), or why not (a refused request is kept as `failed`).
async fn refill_order(app: &App, order: &Order) -> Result<Refill, Refused> {
    let client = jobs::smm_client(app).map_err(|e| upstream("refill", &e.message))?;
    let refill =
        app.store.request_refill(order.order_id, app.config.refill_policy, app.clock.now()).await??;
    let smm_order = order.smm_panel_order_id.clone().unwrap_or_default();
    let started = std::time::Instant::now();
    let answer = client.refill(&smm_order).await;
    app.metrics.upstream("smm", "refill", if answer.is_ok() { "ok" } else { "error" }, started.elapsed());
    let (input, refused) = match answer {
        Ok(id) => (RefillInput::Accepted { smm_refill_id: id }, None),
        Err(f) => {
            let (error, refused) = failure("refill", f);
            (RefillInput::Refused { error }, Some(refused))
        }
    };
    let refill = app.store.update_refill(refill.refill_id, input, app.clock.now()).await?;
    match refused {
        Some(r) => Err(r),
        None => Ok(refill),
    }
}

impl From<RefillRefusal> for Refused {
    fn from(r: RefillRefusal) -> Self {
        Refused::Refill(r)
    }
}

impl From<CancelRefusal> for Refused {
    fn from(r: CancelRefusal) -> Self {
        Refused::Cancel(r)
    }
}

/// How one order's cancel ended.
#[derive(Debug)]
enum Canceled {
    /// Not at the upstream yet: canceled and refunded here.
    Here(Order),
    /// Forwarded and accepted by the upstream; the refund waits for its status.
    Requested(Order, CancelRequest),
}

/// Cancels `orders` (already checked to be the caller's): those not at the upstream here, the
/// others forwarded to the upstream in one call per 100. One result per order, in order.
async fn cancel_orders(app: &App, orders: &[Order]) -> Vec<Result<Canceled, Refused>> {
    let mut results: Vec<Option<Result<Canceled, Refused>>> = Vec::with_capacity(orders.len());
    let mut forwarded: Vec<(usize, Order, CancelRequest)> = Vec::new();
    for (i, order) in orders.iter().enumerate() {
        match app.store.owner_cancel(order.order_id, app.clock.now()).await {
            Ok(Ok(OwnerCancel::Canceled(o))) => {
                jobs::life(app, "order.canceled", &o, None);
                results.push(Some(Ok(Canceled::Here(o))))
            }
            Ok(Ok(OwnerCancel::Forwarded { order, request })) => {
                results.push(None);
                forwarded.push((i, order, request));
            }
            Ok(Err(r)) => results.push(Some(Err(r.into()))),
            // The job was claimed between our read and the cancel: it is on its way upstream.
            Err(StoreError::Conflict(Conflict::InvalidTransition)) => {
                results.push(Some(Err(Refused::Cancel(CancelRefusal::OrderNotCancelable(order.status)))))
            }
            Err(e) => results.push(Some(Err(e.into()))),
        }
    }
    for batch in forwarded.chunks(MAX_BULK) {
        let ids: Vec<String> =
            batch.iter().map(|(_, o, _)| o.smm_panel_order_id.clone().unwrap_or_default()).collect();
        let answer = match jobs::smm_client(app) {
            Ok(client) => {
                let started = std::time::Instant::now();
                let answer = client.cancel(&ids).await;
                app.metrics.upstream(
                    "smm",
                    "cancel",
                    if answer.is_ok() { "ok" } else { "error" },
                    started.elapsed(),
                );
                answer
            }
            Err(e) => Err(SmmFailure::Call(crate::upstream::CallError::NotSent(e.message))),
        };
        for ((i, order, request), smm_id) in batch.iter().zip(&ids) {
            let (error, refused) = match &answer {
                Ok(entries) => match entries.iter().find(|(id, _)| id == smm_id).map(|(_, r)| r) {
                    Some(Ok(())) => (None, None),
                    Some(Err(e)) => (Some(e.message.clone()), Some(Refused::ByUpstream)),
                    None => {
                        let text = "the panel's answer did not name this order".to_owned();
                        let refused = upstream("cancel", &text);
                        (Some(text), Some(refused))
                    }
                },
                Err(f) => {
                    let (text, refused) = failure("cancel", f.clone());
                    (Some(text), Some(refused))
                }
            };
            let settled = app.store.settle_cancel(request.cancel_id, error, app.clock.now()).await;
            let result = match (settled, refused) {
                (Err(e), _) => Err(e.into()),
                (Ok(_), Some(r)) => Err(r),
                (Ok(request), None) => Ok(Canceled::Requested(order.clone(), request)),
            };
            if let Some(slot) = results.get_mut(*i) {
                *slot = Some(result);
            }
        }
    }
    results.into_iter().map(|r| r.unwrap_or(Err(Refused::Upstream))).collect()
}

// ---------------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------------

/// What an operator also sees of a refill.
#[derive(Serialize, JsonSchema)]
pub struct RefillOperatorView {
    pub user_id: String,
    /// The upstream's refill id, once it took the request.
    pub smm_refill_id: Option<String>,
    /// The upstream's last status text, as it spelled it.
    pub upstream_status: Option<String>,
    /// Why the upstream refused, or why its last status could not be read.
    pub error: Option<String>,
    /// When the upstream was last asked (milliseconds since the epoch).
    pub last_status_check: Option<Millis>,
}

/// The names a refill's `status` takes (the reseller API's).
fn refill_status_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = RefillState::ALL.iter().map(|s| s.api_name()).collect();
    names.dedup();
    names
}

/// A refill as its owner sees it; an operator also sees the upstream's id, status and error.
#[derive(Serialize, JsonSchema)]
pub struct RefillView {
    pub refill_id: i64,
    pub order_id: i64,
    pub state: RefillState,
    /// The state under the reseller API's name.
    #[schemars(extend("enum" = refill_status_names()))]
    pub status: &'static str,
    /// Milliseconds since the epoch.
    pub created_at: Millis,
    /// Milliseconds since the epoch.
    pub updated_at: Millis,
    /// Only for an operator.
    #[serde(flatten)]
    pub operator: Option<RefillOperatorView>,
}

fn refill_view(r: &Refill, admin: bool) -> RefillView {
    RefillView {
        refill_id: r.refill_id.0,
        order_id: r.order_id.0,
        state: r.state,
        status: r.state.api_name(),
        created_at: r.created_at,
        updated_at: r.updated_at,
        operator: admin.then(|| RefillOperatorView {
            user_id: r.user_id.clone(),
            smm_refill_id: r.smm_refill_id.clone(),
            upstream_status: r.upstream_status.clone(),
            error: r.error.clone(),
            last_status_check: r.last_status_check,
        }),
    }
}

/// What an operator also sees of a forwarded cancel.
#[derive(Serialize, JsonSchema)]
pub struct CancelOperatorView {
    /// Why the upstream refused it, or why it could not be sent.
    pub error: Option<String>,
}

/// A cancel forwarded to the upstream; an operator also sees its error.
#[derive(Serialize, JsonSchema)]
pub struct CancelView {
    pub cancel_id: i64,
    pub order_id: i64,
    pub state: CancelState,
    /// Milliseconds since the epoch.
    pub created_at: Millis,
    /// Milliseconds since the epoch.
    pub updated_at: Millis,
    /// Only for an operator.
    #[serde(flatten)]
    pub operator: Option<CancelOperatorView>,
}

fn cancel_view(c: &CancelRequest, admin: bool) -> CancelView {
    CancelView {
        cancel_id: c.cancel_id.0,
        order_id: c.order_id.0,
        state: c.state,
        created_at: c.created_at,
        updated_at: c.updated_at,
        operator: admin.then(|| CancelOperatorView { error: c.error.clone() }),
    }
}

// ---------------------------------------------------------------------------------------------
// Site routes
// ---------------------------------------------------------------------------------------------

/// A refill forwarded to the upstream.
#[derive(Serialize, JsonSchema)]
pub struct RefillRequested {
    pub success: bool,
    pub refill: RefillView,
}

/// `POST /api/orders/<id>/refill` (owner or admin): the refill, forwarded to the upstream.
pub async fn refill(app: &App, caller: &Caller, raw_id: &str) -> Result<Json<RefillRequested>, ApiError> {
    let order = visible(app, caller, raw_id).await?;
    match refill_order(app, &order).await {
        Ok(r) => Ok(Json(RefillRequested { success: true, refill: refill_view(&r, caller.is_admin()) })),
        Err(e) => Err(e.into_api(&order, true)),
    }
}

/// An order's refills and forwarded cancels, oldest first.
#[derive(Serialize, JsonSchema)]
pub struct OrderRefills {
    pub order_id: i64,
    pub refills: Vec<RefillView>,
    pub cancel_requests: Vec<CancelView>,
}

/// `GET /api/orders/<id>/refills` (owner or admin): the order's refills and forwarded cancels.
pub async fn list(app: &App, caller: &Caller, raw_id: &str) -> Result<Json<OrderRefills>, ApiError> {
    let order = visible(app, caller, raw_id).await?;
    let admin = caller.is_admin();
    let refills =
        app.store.order_refills(order.order_id).await?.iter().map(|r| refill_view(r, admin)).collect();
    let cancel_requests =
        app.store.order_cancels(order.order_id).await?.iter().map(|c| cancel_view(c, admin)).collect();
    Ok(Json(OrderRefills { order_id: order.order_id.0, refills, cancel_requests }))
}

/// An order canceled here (200) or whose cancel was forwarded to the upstream (202).
#[derive(Serialize, JsonSchema)]
pub struct CancelOutcome {
    pub success: bool,
    /// `true` (and HTTP 202) when the cancel was forwarded: the refund waits for the upstream's
    /// status. Absent when the order was canceled and refunded here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_requested: Option<bool>,
    /// The order: the operator's view for an admin, the owner's otherwise.
    pub order: views::OrderForView,
    /// The forwarded cancel; absent when the order was canceled here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel: Option<CancelView>,
}

/// The answer of `POST /api/orders/<id>/cancel`: 200 when canceled here, 202 when forwarded.
/// (The router's answer types give one status each; this one picks its status itself.)
pub struct CancelAnswer(CancelOutcome);

impl Answer for CancelAnswer {
    fn into_response(self) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
        let status = if self.0.cancel.is_some() { StatusCode::ACCEPTED } else { StatusCode::OK };
        super::json(status, &serde_json::to_value(&self.0).unwrap_or_default())
    }

    fn describe(gen: &mut SchemaGenerator) -> Option<(&'static str, Value)> {
        Some(("application/json", gen.subschema_for::<CancelOutcome>().to_value()))
    }
}

/// `POST /api/orders/<id>/cancel` (owner): an order not at the upstream yet is canceled and
/// refunded in full now (200); one running at the upstream, of a service with cancel, has its
/// cancel forwarded (202, `cancel_requested`), and is refunded when the status sync sees the
/// upstream's `Canceled` or `Partial`.
pub async fn cancel(app: &App, caller: &Caller, raw_id: &str) -> Result<CancelAnswer, ApiError> {
    let order = visible(app, caller, raw_id).await?;
    let admin = caller.is_admin();
    let result = cancel_orders(app, std::slice::from_ref(&order)).await.pop();
    match result.unwrap_or(Err(Refused::Upstream)) {
        Ok(Canceled::Here(o)) => Ok(CancelAnswer(CancelOutcome {
            success: true,
            cancel_requested: None,
            order: views::order_for(&o, admin),
            cancel: None,
        })),
        Ok(Canceled::Requested(o, request)) => Ok(CancelAnswer(CancelOutcome {
            success: true,
            cancel_requested: Some(true),
            order: views::order_for(&o, admin),
            cancel: Some(cancel_view(&request, admin)),
        })),
        Err(e) => Err(e.into_api(&order, false)),
    }
}

// ---------------------------------------------------------------------------------------------
// The reseller API
// ---------------------------------------------------------------------------------------------

/// An id list (`orders=1,2`, `refills=…`): up to [`MAX_BULK`] non-blank items, each a positive
/// integer or `Err` with its text. `None` when empty or too long.
fn id_list(text: &str) -> Option<Vec<Result<i64, String>>> {
    let items: Vec<Result<i64, String>> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| s.to_owned()))
        .collect();
    (!items.is_empty() && items.len() <= MAX_BULK).then_some(items)
}

/// An id as the caller wrote it: a number, or the text that is not one.
fn id_value(id: &Result<i64, String>) -> Value {
    match id {
        Ok(n) => json!(n),
        Err(text) => json!(text),
    }
}

/// The caller's own order `id` (another's reads as absent).
async fn own_order(app: &App, user: &User, id: &Result<i64, String>) -> Result<Order, Refused> {
    let Ok(id) = id else { return Err(Refused::NoOrder) };
    match app.store.order(OrderId(*id)).await? {
        Some(o) if o.user_id == user.user_id => Ok(o),
        _ => Err(Refused::NoOrder),
    }
}

/// One `refill` result: `{"refill": id}` or `{"error": text}`.
fn refill_result(r: &Result<RefillId, &'static str>) -> Value {
    match r {
        Ok(id) => json!(id),
        Err(text) => v2::error(text),
    }
}

async fn v2_refill_one(app: &App, user: &User, id: &Result<i64, String>) -> Result<RefillId, &'static str> {
    let order = own_order(app, user, id).await.map_err(|e| e.api_text(true))?;
    refill_order(app, &order).await.map(|r| r.refill_id).map_err(|e| e.api_text(true))
}

/// The reseller API's `refill` (`order` or `orders`).
pub async fn v2_refill(app: &Arc<App>, user: &User, p: &Params) -> Value {
    if let Some(list) = p.get("orders") {
        let Some(ids) = id_list(list) else { return v2::error("Incorrect request") };
        let mut out = Vec::with_capacity(ids.len());
        for id in &ids {
            let r = v2_refill_one(app, user, id).await;
            out.push(json!({"order": id_value(id), "refill": refill_result(&r)}));
        }
        return Value::Array(out);
    }
    let Some(id) = p.get("order") else { return v2::error("Incorrect request") };
    let id = id.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| id.to_owned());
    match v2_refill_one(app, user, &id).await {
        Ok(r) => json!({"refill": r}),
        Err(text) => v2::error(text),
    }
}

/// The caller's own refill's status name, or `Refill not found`.
async fn own_refill_status(
    app: &App,
    user: &User,
    id: &Result<i64, String>,
) -> Result<RefillState, &'static str> {
    const NOT_FOUND: &str = "Refill not found";
    let Ok(id) = id else { return Err(NOT_FOUND) };
    match app.store.refill(RefillId(*id)).await {
        Ok(Some(r)) if r.user_id == user.user_id => Ok(r.state),
        Ok(_) => Err(NOT_FOUND),
        Err(_) => Err("Service temporarily unavailable, try again later"),
    }
}

/// One `refill_status` result: the status name or `{"error": text}`.
fn status_result(r: &Result<RefillState, &'static str>) -> Value {
    match r {
        Ok(state) => json!(state.api_name()),
        Err(text) => v2::error(text),
    }
}

/// The reseller API's `refill_status` (`refill` or `refills`).
pub async fn v2_refill_status(app: &Arc<App>, user: &User, p: &Params) -> Value {
    if let Some(list) = p.get("refills") {
        let Some(ids) = id_list(list) else { return v2::error("Incorrect request") };
        let mut out = Vec::with_capacity(ids.len());
        for id in &ids {
            let r = own_refill_status(app, user, id).await;
            out.push(json!({"refill": id_value(id), "status": status_result(&r)}));
        }
        return Value::Array(out);
    }
    let Some(id) = p.get("refill") else { return v2::error("Incorrect request") };
    let id = id.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| id.to_owned());
    match own_refill_status(app, user, &id).await {
        Ok(state) => json!({"status": state.api_name()}),
        Err(text) => v2::error(text),
    }
}

/// One `cancel` result: `1` or `{"error": text}`.
fn cancel_result(r: &Result<(), &'static str>) -> Value {
    match r {
        Ok(()) => json!(1),
        Err(text) => v2::error(text),
    }
}

/// The reseller API's `cancel` (`orders`, or a single `order`): always a list, one entry per
/// id. Orders not at the upstream yet are canceled and refunded now; the others are forwarded
/// and refunded when the upstream's status says so.
pub async fn v2_cancel(app: &Arc<App>, user: &User, p: &Params) -> Value {
    let Some(list) = p.get("orders").or_else(|| p.get("order")) else {
        return v2::error("Incorrect request");
    };
    let Some(ids) = id_list(list) else { return v2::error("Incorrect request") };
    let mut results: Vec<Result<(), &'static str>> = Vec::with_capacity(ids.len());
    let mut mine: Vec<(usize, Order)> = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        match own_order(app, user, id).await {
            Ok(o) => {
                results.push(Ok(()));
                mine.push((i, o));
            }
            Err(e) => results.push(Err(e.api_text(false))),
        }
    }
    // The same order twice is canceled once; the repeat reads as the store answers it.
    let orders: Vec<Order> = mine.iter().map(|(_, o)| o.clone()).collect();
    let outcomes = cancel_orders(app, &orders).await;
    for ((i, _), outcome) in mine.iter().zip(outcomes) {
        if let (Some(slot), Err(e)) = (results.get_mut(*i), outcome) {
            *slot = Err(e.api_text(false));
        }
    }
    let out: Vec<Value> = ids
        .iter()
        .zip(&results)
        .map(|(id, r)| json!({"order": id_value(id), "cancel": cancel_result(r)}))
        .collect();
    Value::Array(out)
}

crate::router::route_table! {
    CancelOrder: POST "/api/orders/{id}/cancel", User, "orders.cancel", reply CancelAnswer,
        |app, caller, _, id| cancel(app, caller, id);
    RefillOrder: POST "/api/orders/{id}/refill", UserOrAdmin, "orders.refill", reply Json<RefillRequested>,
        |app, caller, _, id| refill(app, caller, id);
    OrderRefills: GET "/api/orders/{id}/refills", UserOrAdmin, "orders.refills", reply Json<OrderRefills>,
        |app, caller, _, id| list(app, caller, id);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_lists() {
        assert_eq!(id_list("1, 2,,x,-3"), Some(vec![Ok(1), Ok(2), Err("x".into()), Err("-3".into())]));
        assert_eq!(id_list(" , "), None);
        let many = (1..=101).map(|n| n.to_string()).collect::<Vec<_>>().join(",");
        assert_eq!(id_list(&many), None);
        assert_eq!(id_list(&many[..many.rfind(',').unwrap_or(0)]).map(|v| v.len()), Some(100));
    }

    #[test]
    fn v2_shapes() {
        let ids = [Ok(1), Err("abc".to_owned())];
        let refills = [Ok(RefillId(5)), Err("Incorrect order ID")];
        let out: Vec<Value> = ids
            .iter()
            .zip(&refills)
            .map(|(id, r)| json!({"order": id_value(id), "refill": refill_result(r)}))
            .collect();
        assert_eq!(
            Value::Array(out),
            json!([{"order": 1, "refill": 5}, {"order": "abc", "refill": {"error": "Incorrect order ID"}}])
        );
        let statuses = [Ok(RefillState::Completed), Err("Refill not found")];
        let out: Vec<Value> = [Ok(1), Ok(9)]
            .iter()
            .zip(&statuses)
            .map(|(id, r)| json!({"refill": id_value(id), "status": status_result(r)}))
            .collect();
        assert_eq!(
            Value::Array(out),
            json!([{"refill": 1, "status": "Completed"}, {"refill": 9, "status": {"error": "Refill not found"}}])
        );
        let cancels = [Ok(()), Err("Incorrect order ID")];
        let out: Vec<Value> = [Ok(9), Ok(2)]
            .iter()
            .zip(&cancels)
            .map(|(id, r)| json!({"order": id_value(id), "cancel": cancel_result(r)}))
            .collect();
        assert_eq!(
            Value::Array(out),
            json!([{"order": 9, "cancel": 1}, {"order": 2, "cancel": {"error": "Incorrect order ID"}}])
        );
        for state in RefillState::ALL {
            assert!(["Pending", "In progress", "Completed", "Rejected"].contains(&state.api_name()));
        }
    }

    #[test]
    fn refusal_texts_are_short_and_english() {
        let all = [
            Refused::NoOrder,
            Refused::Refill(RefillRefusal::InFlight),
            Refused::Refill(RefillRefusal::ServiceHasNoRefill),
            Refused::Cancel(CancelRefusal::MultiPart),
            Refused::ByUpstream,
            Refused::Upstream,
        ];
        for r in &all {
            for refill in [true, false] {
                let t = r.api_text(refill);
                assert!(t.is_ascii() && t.len() < 60, "{t}");
            }
        }
        assert_eq!(Refused::NoOrder.api_text(true), "Incorrect order ID");
        assert_eq!(
            Refused::Cancel(CancelRefusal::ServiceHasNoCancel).api_text(false),
            "Cancel is not available for this order"
        );
        assert_eq!(
            Refused::Refill(RefillRefusal::ServiceHasNoRefill).api_text(true),
            "Refill is not available for this order"
        );
    }
}
