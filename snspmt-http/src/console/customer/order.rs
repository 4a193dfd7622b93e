//! `/order`: a new order — the catalogue by platform and category at the visitor's price, a
//! package instead, drip-feed, scheduled and split delivery, a coupon — with the price worked
//! out live (`/order/price`, asked by htmx as the form changes) by the API's own quote.

use askama::Template;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use super::{field_error, form_error, input, number, Errs};
use crate::console::{form_key, form_status, int, list, text, Answer, Chrome, Failure, FormError, Visit};
use crate::error::ApiError;
use crate::handlers::{coupons, orders};
use snspmt_core::money::Points;

/// A service on sale, as the order form lists it.
pub struct ServiceRow {
    pub id: i64,
    pub name: String,
    pub price_per_1000: i64,
    pub min: i64,
    pub max: i64,
}

/// The services of one platform and category.
pub struct ServiceGroup {
    pub label: String,
    pub services: Vec<ServiceRow>,
}

pub struct PackageRow {
    pub id: i64,
    pub name: String,
    pub price: i64,
    pub steps: usize,
}

pub struct CouponRow {
    pub id: i64,
    pub name: String,
    pub label: String,
}

/// The form's values as sent (shown again with an error).
#[derive(Default)]
pub struct OrderForm {
    pub kind: String,
    pub service_id: String,
    pub package_id: String,
    pub link: String,
    pub quantity: String,
    pub comments: String,
    pub mode: String,
    pub runs: String,
    pub interval: String,
    pub scheduled_datetime: String,
    pub split_days: String,
    pub split_quantity: String,
    pub coupon_id: String,
}

impl OrderForm {
    fn of(v: &Visit) -> OrderForm {
        let f = |name: &str| input(v, name).unwrap_or("").to_owned();
        OrderForm {
            kind: f("kind"),
            service_id: f("service_id"),
            package_id: f("package_id"),
            link: f("link"),
            quantity: f("quantity"),
            comments: f("comments"),
            mode: f("mode"),
            runs: f("runs"),
            interval: f("interval"),
            scheduled_datetime: f("scheduled_datetime"),
            split_days: f("split_days"),
            split_quantity: f("split_quantity"),
            coupon_id: f("coupon_id"),
        }
    }
}

#[derive(Template)]
#[template(path = "console/customer/order.html")]
struct OrderPage {
    c: Chrome,
    groups: Vec<ServiceGroup>,
    packages: Vec<PackageRow>,
    coupons: Vec<CouponRow>,
    form: OrderForm,
    key: String,
    err: Errs,
}

pub async fn form(v: &mut Visit) -> Answer {
    v.me()?;
    show(v, None).await
}

/// The order form, with the values sent and `err` when it comes back.
async fn show(v: &Visit, err: Option<(StatusCode, FormError)>) -> Answer {
    let services = v.api(Method::GET, "/api/smm-panel/services", None).await?;
    let packages = v.api(Method::GET, "/api/packages", None).await?;
    let coupons = v.api(Method::GET, "/api/user/coupons?limit=200", None).await?;
    let mut groups: Vec<ServiceGroup> = Vec::new();
    let mut rows: Vec<&Value> = list(&services, "services").iter().collect();
    rows.sort_by_key(|s| (text(s, "platform"), text(s, "category"), int(s, "service_id")));
    for s in rows {
        let label = match (text(s, "platform"), text(s, "category")) {
            (p, c) if p.is_empty() || p.eq_ignore_ascii_case(&c) => c,
            (p, c) => format!("{p} · {c}"),
        };
        let row = ServiceRow {
            id: int(s, "service_id"),
            name: text(s, "name"),
            price_per_1000: int(s, "price_per_1000"),
            min: int(s, "min_quantity"),
            max: int(s, "max_quantity"),
        };
        match groups.last_mut() {
            Some(g) if g.label == label => g.services.push(row),
            _ => groups.push(ServiceGroup { label, services: vec![row] }),
        }
    }
    let coupons = list(&coupons, "coupons")
        .iter()
        .filter(|c| {
            c.get("is_used") == Some(&Value::Bool(false)) && c.get("is_active") != Some(&Value::Bool(false))
        })
        .map(|c| {
            let value = int(c, "discount_value");
            let label = if text(c, "discount_type") == "percentage" {
                format!("{value}%")
            } else {
                format!("{} P", crate::console::group_thousands(value))
            };
            CouponRow { id: int(c, "id"), name: text(c, "name"), label }
        })
        .collect();
    let (status, err) = match err {
        Some((s, e)) => (s, Some(e)),
        None => (StatusCode::OK, None),
    };
    let mut form = OrderForm::of(v);
    if form.kind.is_empty() && v.q("package").is_some() {
        form.kind = "package".into();
    }
    let page = OrderPage {
        c: v.chrome("주문하기"),
        groups,
        packages: list(&packages, "packages")
            .iter()
            .map(|p| PackageRow {
                id: int(p, "package_id"),
                name: text(p, "name"),
                price: int(p, "price"),
                steps: list(p, "steps").len(),
            })
            .collect(),
        coupons,
        form,
        // A form shown again keeps its key: a second submit of the same order is one order.
        key: v.f("key").filter(|k| k.len() <= 64).map(str::to_owned).unwrap_or_else(form_key),
        err: Errs(err),
    };
    v.page_status(status, &page)
}

/// The API's order body from the form, and whether it is a scheduled order.
fn order_body(v: &Visit) -> Result<(Value, bool), FormError> {
    let mut body = json!({});
    let package = input(v, "kind") == Some("package");
    if package {
        let id = number(v, "package_id")?
            .ok_or_else(|| field_error(v, "package_id", "서비스나 패키지를 고르세요."))?;
        body["package_id"] = json!(id);
    } else {
        let id = number(v, "service_id")?
            .ok_or_else(|| field_error(v, "service_id", "서비스나 패키지를 고르세요."))?;
        body["service_id"] = json!(id);
    }
    if let Some(link) = input(v, "link") {
        body["link"] = json!(link);
    }
    let mode = if package { "now" } else { input(v, "mode").unwrap_or("now") };
    if mode != "split" && !package {
        if let Some(q) = number(v, "quantity")? {
            body["quantity"] = json!(q);
        }
    }
    if let Some(comments) = input(v, "comments").filter(|_| !package) {
        body["comments"] = json!(comments);
    }
    let scheduled = mode == "scheduled";
    match mode {
        "drip" => {
            body["runs"] = json!(number(v, "runs")?);
            body["interval"] = json!(number(v, "interval")?);
        }
        "scheduled" => {
            // `datetime-local` sends `2026-12-01T09:30`; the API takes `2026-12-01 09:30`.
            let at = input(v, "scheduled_datetime").unwrap_or("").replacen('T', " ", 1);
            body["is_scheduled"] = json!(true);
            body["scheduled_datetime"] = json!(at);
        }
        "split" => {
            body["split_days"] = json!(number(v, "split_days")?);
            body["split_quantity"] = json!(number(v, "split_quantity")?);
        }
        _ => {}
    }
    if let Some(coupon) = number(v, "coupon_id")?.filter(|_| !package && mode != "split") {
        body["coupon_id"] = json!(coupon);
    }
    Ok((body, scheduled))
}

#[derive(Template)]
#[template(path = "console/customer/price.html")]
struct PriceFragment {
    c: Chrome,
    problem: Option<String>,
    price: i64,
    discount: i64,
    final_price: i64,
}

/// `GET /order/price`: the price of the order the form describes, before and after its coupon,
/// from the API's own quote (nothing is placed). Always 200, so htmx shows what it says.
pub async fn price(v: &mut Visit) -> Answer {
    let me = v.me()?.clone();
    let mut fragment =
        PriceFragment { c: v.chrome("가격"), problem: None, price: 0, discount: 0, final_price: 0 };
    match quote(v, &me.user_id).await {
        Ok((price, discount, final_price)) => {
            fragment.price = price.0;
            fragment.discount = discount.0;
            fragment.final_price = final_price.0;
        }
        Err(e) => fragment.problem = Some(e.message),
    }
    v.page(&fragment)
}

/// The order's price, its coupon's discount and what would be paid, as placing it reckons
/// them (the same core `Points` subtraction as the placement).
async fn quote(v: &Visit, user_id: &str) -> Result<(Points, Points, Points), FormError> {
    let (mut body, scheduled) = order_body(v)?;
    // The price does not depend on the link: quote before one is typed.
    if body.get("link").is_none() {
        body["link"] = json!("https://example.com/p/quote");
    }
    let coupon = body.as_object_mut().and_then(|b| b.remove("coupon_id"));
    let asked: orders::PlaceOrder = serde_json::from_value(body)
        .map_err(|_| FormError { field: None, message: v.lang.t("숫자를 입력하세요.").to_owned() })?;
    let price = orders::quote_for(&v.app, user_id, &asked, scheduled).await.map_err(|e| form_error(v, &e))?;
    let discount = match coupon {
        None => Points(0),
        Some(id) => {
            let (_, d) = coupons::discount_for(&v.app, user_id, Some(&id), price, false, v.app.clock.now())
                .await
                .map_err(|e| form_error(v, &e))?;
            d
        }
    };
    let final_price = price.checked_sub(discount).map_err(|_| form_error(v, &ApiError::internal()))?;
    Ok((price, discount, final_price))
}

/// `POST /order`: the order, paid through the API with the form's idempotency key.
pub async fn place(v: &mut Visit) -> Answer {
    v.check_csrf()?;
    v.me()?;
    let (body, scheduled) = match order_body(v) {
        Ok(b) => b,
        Err(e) => return show(v, Some((StatusCode::BAD_REQUEST, e))).await,
    };
    let path = if scheduled { "/api/scheduled-orders" } else { "/api/orders" };
    let key = v.f("key").filter(|k| k.len() <= 64).map(str::to_owned);
    match v.api_keyed(Method::POST, path, Some(&body), key.as_deref()).await {
        Ok(placed) => {
            let id = int(&placed, "order_id");
            let msg = v.lang.t("주문했습니다.").to_owned();
            Ok(v.redirect_with(&format!("/orders/{id}"), &msg))
        }
        Err(e) if e.status == StatusCode::UNAUTHORIZED => Err(Failure::SignIn),
        Err(e) => show(v, Some((form_status(&e), form_error(v, &e)))).await,
    }
}
