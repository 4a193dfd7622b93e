//! `/orders`: the visitor's orders (status filter, pages, the progress of packages and split
//! deliveries) and `/orders/{id}` with its parts, refill and cancel. The API decides whose
//! order is whose: another user's order is its 404.

use askama::Template;
use hyper::Method;
use serde_json::Value;

use super::{local_time, segment, OrderRow};
use crate::console::{int, list, text, Answer, Chrome, Failure, Pager, Visit};

/// The statuses the filter offers (the API's names).
const FILTER: [&str; 9] = [
    "pending",
    "scheduled",
    "processing",
    "in_progress",
    "completed",
    "partial",
    "canceled",
    "failed",
    "unknown",
];

/// An order of the list, with the progress of its parts when it has several.
pub struct ListRow {
    pub o: OrderRow,
    /// `(parts ended, parts)` of a package or split order.
    pub parts: Option<(i64, i64)>,
}

#[derive(Template)]
#[template(path = "console/customer/orders.html")]
struct OrdersPage {
    c: Chrome,
    rows: Vec<ListRow>,
    pager: Pager,
    status: String,
    filter: &'static [&'static str],
}

pub async fn index(v: &mut Visit) -> Answer {
    v.me()?;
    let mut pager = Pager::from_visit(v, 20);
    let status = v.q("status").filter(|s| FILTER.contains(s)).unwrap_or("all").to_owned();
    let answer =
        v.api(Method::GET, &format!("/api/orders?status={status}&{}", pager.api_query()), None).await?;
    pager.total = int(&answer, "total");
    let mut rows = Vec::new();
    for o in list(&answer, "orders") {
        let parts = if int(o, "total_steps") > 1 { progress(v, int(o, "order_id")).await } else { None };
        rows.push(ListRow { o: OrderRow::of(v, o), parts });
    }
    let page = OrdersPage { c: v.chrome("주문 내역"), rows, pager, status, filter: &FILTER };
    v.page(&page)
}

/// `(ended, all)` parts of a package or split order, when the API tells.
async fn progress(v: &Visit, id: i64) -> Option<(i64, i64)> {
    let p = v.api(Method::GET, &format!("/api/orders/{id}/package-progress"), None).await.ok()?;
    let parts = list(&p, "progress");
    let ended =
        parts.iter().filter(|x| matches!(text(x, "status").as_str(), "completed" | "refunded")).count();
    Some((i64::try_from(ended).unwrap_or(0), i64::try_from(parts.len()).unwrap_or(0)))
}

/// One part of a package or split order.
pub struct PartRow {
    pub name: String,
    pub quantity: i64,
    pub status: String,
    pub due_at: String,
}

#[derive(Template)]
#[template(path = "console/customer/order_detail.html")]
struct DetailPage {
    c: Chrome,
    o: OrderRow,
    runs: i64,
    interval: i64,
    total_quantity: i64,
    price: i64,
    discount: i64,
    start_count: String,
    remains: String,
    refunded: i64,
    scheduled_at: String,
    problem: String,
    parts: Vec<PartRow>,
    can_cancel: bool,
    can_refill: bool,
}

pub async fn detail(v: &mut Visit, id: &str) -> Answer {
    v.me()?;
    let id = segment(id)?;
    let answer = v.api(Method::GET, &format!("/api/orders/{id}"), None).await?;
    let o = answer.get("order").cloned().unwrap_or(Value::Null);
    let row = OrderRow::of(v, &o);
    let parts = if int(&o, "total_steps") > 1 {
        let p = v.api(Method::GET, &format!("/api/orders/{}/package-progress", row.order_id), None).await?;
        list(&p, "progress")
            .iter()
            .map(|x| PartRow {
                name: text(x, "step_name"),
                quantity: int(x, "quantity"),
                status: text(x, "status"),
                due_at: local_time(v, &text(x, "due_at")),
            })
            .collect()
    } else {
        Vec::new()
    };
    let status = row.status.as_str();
    let page = DetailPage {
        c: v.chrome("주문 상세"),
        runs: int(&o, "runs"),
        interval: int(&o, "interval"),
        total_quantity: int(&o, "total_quantity"),
        price: int(&o, "price"),
        discount: int(&o, "discount_amount"),
        start_count: text(&o, "start_count"),
        remains: text(&o, "remains"),
        refunded: int(&o, "refunded_amount"),
        scheduled_at: local_time(v, &text(&o, "scheduled_at")),
        problem: text(&o, "error"),
        parts,
        can_cancel: matches!(status, "pending" | "scheduled" | "processing" | "in_progress"),
        can_refill: matches!(status, "completed" | "partial"),
        o: row,
    };
    v.page(&page)
}

/// `POST /orders/{id}/cancel`.
pub async fn cancel(v: &mut Visit, id: &str) -> Answer {
    act(v, id, "cancel", "취소를 요청했습니다.").await
}

/// `POST /orders/{id}/refill`.
pub async fn refill(v: &mut Visit, id: &str) -> Answer {
    act(v, id, "refill", "리필을 요청했습니다.").await
}

/// Asks the API to `action` the order, and says how it went on the order's page.
async fn act(v: &mut Visit, id: &str, action: &str, done: &str) -> Answer {
    v.check_csrf()?;
    v.me()?;
    let id = segment(id)?.to_owned();
    // An order that is not the visitor's (or no order) is the error page, as when shown.
    v.api(Method::GET, &format!("/api/orders/{id}"), None).await?;
    let msg = match v.api(Method::POST, &format!("/api/orders/{id}/{action}"), None).await {
        Ok(_) => v.lang.t(done).to_owned(),
        Err(e) if e.status == hyper::StatusCode::UNAUTHORIZED => return Err(Failure::SignIn),
        Err(e) => e.message,
    };
    Ok(v.redirect_with(&format!("/orders/{id}"), &msg))
}
