//! Orders: placement (server-side price, one transaction), reading, cancel, status changes,
//! status checks, and the operator's views of orders that need attention.

use snspmt_core::plan::Stage;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use snspmt_core::order::{self, OrderStatus};
use snspmt_core::upstream::smm::{self, OrderParams, QuantityRule, ServiceType};
use snspmt_core::{money, plan, schedule, validate, Millis, Points};
use snspmt_store::{NewAudit, NewOrder, Order, OrderFilter, OrderId};
use std::collections::BTreeMap;

use super::catalog::parse_id;
use super::points::idempotency_key;
use super::rates::{price_book, priced_service, PriceBook};
use super::{PageQuery, Paging};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::request::Req;
use crate::router::{Json, Replayed};
use crate::{jobs, views, App};

/// A positive integer id, as a number or as its decimal text.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum IdValue {
    Number(i64),
    Text(String),
}

/// What an order placement asks for: the site's JSON body, or built by the reseller API and
/// the mass order from their own inputs. A service order names `service_id`, a package order
/// `package_id`.
#[derive(Deserialize, Default, JsonSchema)]
#[schemars(transform = with_type_params)]
#[schemars(example = serde_json::json!({"service_id": 12, "link": "https://instagram.com/p/abc", "quantity": 1000, "coupon_id": 3}))]
pub struct PlaceOrder {
    /// Another user's id (admins only); the caller by default.
    pub user_id: Option<String>,
    /// The service to order (a positive integer, or its text).
    #[schemars(with = "Option<IdValue>")]
    pub service_id: Option<Value>,
    /// The package to order instead of a service (a positive integer, or its text).
    #[schemars(with = "Option<IdValue>")]
    pub package_id: Option<Value>,
    /// The target URL (a subscription follows `username` instead).
    pub link: Option<String>,
    /// Units (per run with drip-feed). Required unless the service type derives it (one
    /// comment or username per line, `max × posts`) or the order is split or a package.
    pub quantity: Option<i64>,
    /// Custom comments, one per line.
    pub comments: Option<String>,
    /// Drip-feed: how many runs.
    pub runs: Option<i64>,
    /// Drip-feed: minutes between runs.
    pub interval: Option<i64>,
    /// The id of one of the caller's coupons (`GET /api/user/coupons`); not with packages or
    /// split orders.
    #[schemars(with = "Option<IdValue>")]
    pub coupon_id: Option<Value>,
    /// The points the client expects to pay before any coupon: a different price is 409
    /// `price_changed` with `expected_price`.
    pub price: Option<i64>,
    /// The same as `price` (the original client's name).
    pub total_price: Option<i64>,
    /// Place it for `scheduled_datetime`.
    #[serde(default)]
    pub is_scheduled: bool,
    /// When a scheduled order runs: `YYYY-MM-DD HH:MM` in the site's time zone, or RFC 3339.
    pub scheduled_datetime: Option<String>,
    /// Split delivery: over how many days (2 to 30), `split_quantity` a day.
    pub split_days: Option<i64>,
    /// Split delivery: units a day.
    pub split_quantity: Option<i64>,
    /// The seed's package steps: only `[]` (no package) is taken; packages go by `package_id`.
    #[schemars(with = "Option<Vec<Value>>")]
    pub package_steps: Option<Value>,
    /// A package order that waits for `start-package-processing`.
    #[serde(default)]
    pub defer_start: bool,
    /// Every other top-level field: the service type's own parameters (`usernames`,
    /// `answer_number`, … as `smm::ServiceType::spec` names them) are read from here, the rest
    /// is ignored.
    #[serde(flatten)]
    pub type_params: BTreeMap<String, Value>,
}

/// Names the service types' own parameters in the schema of [`PlaceOrder`], which reads them
/// from the body's other fields.
fn with_type_params(schema: &mut schemars::Schema) {
    let object = schema.ensure_object();
    let Some(props) = object.entry("properties").or_insert_with(|| json!({})).as_object_mut() else {
        return;
    };
    for name in ServiceType::all_param_names() {
        props.entry(name).or_insert_with(|| {
            json!({
                "description": "A parameter of the service's `type` (as the panel's API names it): \
                                text, a number, or an array of lines.",
                "anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "array", "items": {"type": "string"}}],
            })
        });
    }
}

impl PlaceOrder {
    /// The type parameters the body carries, as text: a string as is, a number in decimal, an
    /// array of strings one per line (`"usernames": ["a", "b"]`), anything else as its JSON (which
    /// the check then refuses); `comments` from its own field.
    fn given_params(&self) -> OrderParams {
        let mut given: OrderParams = ServiceType::all_param_names()
            .into_iter()
            .filter_map(|name| {
                let text = match self.type_params.get(name)? {
                    Value::Null => return None,
                    Value::String(s) => s.clone(),
                    Value::Array(items) if items.iter().all(Value::is_string) => {
                        items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n")
                    }
                    other => other.to_string(),
                };
                Some((name, text))
            })
            .collect();
        if let Some(comments) = &self.comments {
            given.insert("comments", comments.clone());
        }
        given
    }
}

/// 400 naming the type parameter at fault: `missing_field` when it is absent, `invalid_comments`
/// for comments (as before there were other parameters), else `invalid_param`.
pub(crate) fn param_error(e: &smm::ParamError) -> ApiError {
    let code = match (&e.problem, e.field) {
        (_, "comments") => "invalid_comments",
        (smm::ParamProblem::Missing, _) => "missing_field",
        _ => "invalid_param",
    };
    let message = match &e.problem {
        smm::ParamProblem::Invalid(why) if e.field == "comments" => (*why).to_owned(),
        _ => e.to_string(),
    };
    ApiError::invalid_field(e.field, code, message)
}

/// A placed order (or the replay of one) and what its request asked that was ignored.
pub(crate) type Placed = (snspmt_store::Idempotent<Order>, Vec<validate::Ignored>);

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

/// `POST /api/orders`: an order now, or at `scheduled_datetime` with `is_scheduled`.
pub async fn place(app: &Arc<App>, caller: &Caller, req: &Req) -> Result<Replayed<OrderPlaced>, ApiError> {
    place_order(app, caller, req, false).await
}

/// `POST /api/scheduled-orders`: an order at `scheduled_datetime`.
pub async fn place_scheduled(
    app: &Arc<App>,
    caller: &Caller,
    req: &Req,
) -> Result<Replayed<OrderPlaced>, ApiError> {
    place_order(app, caller, req, true).await
}

async fn place_order(
    app: &Arc<App>,
    caller: &Caller,
    req: &Req,
    scheduled: bool,
) -> Result<Replayed<OrderPlaced>, ApiError> {
    let body: PlaceOrder = req.json()?;
    let user_id = caller.subject(body.user_id.as_deref(), false)?;
    let key = idempotency_key(req, &user_id, "orders.place")?;
    let (outcome, warnings) = place_for(app, user_id, &body, key, scheduled).await?;
    Ok(order_reply(&outcome, &warnings))
}

/// Places an order for `user_id`: every check, the user's price (their [`PriceBook`]), one
/// transaction, and the submission started. The one placement path of the site, the reseller
/// API and mass orders.
pub(crate) async fn place_for(
    app: &Arc<App>,
    user_id: String,
    body: &PlaceOrder,
    key: Option<snspmt_store::IdempotencyKey>,
    scheduled: bool,
) -> Result<Placed, ApiError> {
    match prepare(app, user_id, body, key, scheduled, false).await? {
        Prepared::Placed(placed) => Ok(*placed),
        Prepared::Quoted(_) => Err(ApiError::internal()),
    }
}

/// What [`place_for`] would charge `user_id` for `body` before any coupon, after every check it
/// makes; nothing is placed or charged.
pub(crate) async fn quote_for(
    app: &Arc<App>,
    user_id: &str,
    body: &PlaceOrder,
    scheduled: bool,
) -> Result<Points, ApiError> {
    match prepare(app, user_id.to_owned(), body, None, scheduled, true).await? {
        Prepared::Quoted(price) => Ok(price),
        Prepared::Placed(_) => Err(ApiError::internal()),
    }
}

/// How far [`prepare`] went.
enum Prepared {
    /// Checked and priced (`quote`): the price before any coupon.
    Quoted(Points),
    Placed(Box<Placed>),
}

/// The one body of [`place_for`] and [`quote_for`]: with `quote`, it stops once the price is
/// known, before the coupon and the store.
async fn prepare(
    app: &Arc<App>,
    user_id: String,
    body: &PlaceOrder,
    key: Option<snspmt_store::IdempotencyKey>,
    scheduled: bool,
    quote: bool,
) -> Result<Prepared, ApiError> {
    let now = app.clock.now();
    let book = price_book(app, &user_id).await?;
    let scheduled_at = if scheduled || body.is_scheduled {
        let text = body.scheduled_datetime.as_deref().ok_or_else(|| {
            ApiError::invalid_field(
                "scheduled_datetime",
                "invalid_schedule",
                "scheduled_datetime is required",
            )
        })?;
        let at = schedule::parse_datetime(text, app.config.tz_offset_minutes)?;
        Some(schedule::check_window(at, now)?)
    } else {
        None
    };
    validate::package_steps(body.package_steps.as_ref())?;
    let split = validate::split(body.split_days, body.split_quantity)?;
    let mut warnings = Vec::new();
    let coupon = match validate::coupon_ref(body.coupon_id.as_ref())? {
        validate::CouponRef::None => None,
        validate::CouponRef::Id(id) => Some(id),
        validate::CouponRef::Ignored(w) => {
            warnings.push(w);
            None
        }
    };
    if (body.package_id.is_some() || split.is_some()) && coupon.is_some() {
        return Err(unsupported("coupon_id"));
    }
    if let Some(package_id) = &body.package_id {
        let package_id = int_id("package_id", package_id)?;
        let order = Placement { app, key, body, user_id, scheduled_at, now, warnings, book: &book, quote };
        return place_package(order, package_id).await;
    }
    let service_id = body
        .service_id
        .as_ref()
        .ok_or_else(|| ApiError::invalid_field("service_id", "missing_field", "service_id is required"))
        .and_then(|v| int_id("service_id", v))?;
    let service = priced_service(app, service_id).await?.filter(|s| s.is_active).ok_or_else(|| {
        ApiError::invalid_field("service_id", "invalid_service", "no such service, or it is not on sale")
    })?;
    let service_type = ServiceType::parse(&service.service_type);
    let spec = service_type.spec().ok_or_else(|| {
        ApiError::invalid_field(
            "service_id",
            "unsupported_service_type",
            format!("service type `{service_type}` cannot be ordered"),
        )
    })?;
    let checked = smm::check_params(&service_type, &body.given_params()).map_err(|e| param_error(&e))?;
    let mut params = checked.params;
    let comments = params.remove("comments");
    // A subscription has no link: it follows `username`, which the order shows as its link.
    let link = if spec.link {
        validate::link(body.link.as_deref().unwrap_or(""))?.to_owned()
    } else {
        params.get("username").unwrap_or_default().to_owned()
    };
    let drip = validate::dripfeed(body.runs, body.interval);
    if let Some(split) = split {
        if checked.quantity.is_some() || !params.is_empty() || !matches!(drip, Ok(None)) {
            return Err(ApiError::invalid_field(
                "split_days",
                "invalid_split",
                "split delivery is for plain quantity services, without drip-feed",
            ));
        }
        if body.quantity.is_some_and(|q| Some(q) != split.days.checked_mul(split.per_day)) {
            return Err(ApiError::invalid_field(
                "quantity",
                "invalid_quantity",
                "quantity must equal split_days × split_quantity",
            ));
        }
        let order = Placement { app, key, body, user_id, scheduled_at, now, warnings, book: &book, quote };
        return place_split(order, &service, link, split).await;
    }
    let quantity = match (spec.quantity, checked.quantity) {
        (QuantityRule::LinesOf(lines), Some(n)) => {
            let n = i64::try_from(n).unwrap_or(i64::MAX);
            if body.quantity.is_some_and(|q| q != n) {
                return Err(ApiError::invalid_field(
                    "quantity",
                    "invalid_quantity",
                    format!("quantity must equal the number of {lines}"),
                ));
            }
            n
        }
        (QuantityRule::MaxTimesPosts, Some(n)) => {
            let n = i64::try_from(n).unwrap_or(i64::MAX);
            if body.quantity.is_some_and(|q| q != n) {
                return Err(ApiError::invalid_field(
                    "quantity",
                    "invalid_quantity",
                    "quantity must equal max × posts",
                ));
            }
            // The panel bounds what one post gets: `min` and `max` within the service's.
            for (field, value) in [("min", params.get("min")), ("max", params.get("max"))] {
                let value = value.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
                if value < service.min_quantity || value > service.max_quantity {
                    return Err(ApiError::invalid_field(
                        field,
                        "invalid_quantity",
                        format!(
                            "{field} must be between {} and {}",
                            service.min_quantity, service.max_quantity
                        ),
                    )
                    .with("min_quantity", service.min_quantity)
                    .with("max_quantity", service.max_quantity)
                    .with("quantity", value));
                }
            }
            n
        }
        _ => body
            .quantity
            .ok_or_else(|| ApiError::invalid_field("quantity", "missing_field", "quantity is required"))?,
    };
    let per_post = spec.quantity == QuantityRule::MaxTimesPosts;
    if !per_post && (quantity < service.min_quantity || quantity > service.max_quantity) {
        return Err(ApiError::invalid_field(
            "quantity",
            "invalid_quantity",
            format!("quantity must be between {} and {}", service.min_quantity, service.max_quantity),
        )
        .with("min_quantity", service.min_quantity)
        .with("max_quantity", service.max_quantity));
    }
    let drip = match drip {
        Ok(None) => None,
        asked => {
            if !(service.dripfeed && service_type.supports_dripfeed()) {
                return Err(ApiError::invalid_field(
                    "runs",
                    "dripfeed_not_supported",
                    "this service has no drip-feed",
                ));
            }
            asked?.map(|d| (d.runs, d.interval))
        }
    };
    let runs = drip.map(|(r, _)| r).unwrap_or(1);
    let total = money::total_quantity(u64::try_from(quantity).unwrap_or(0), u32::try_from(runs).unwrap_or(1))
        .map_err(|_| ApiError::invalid_field("quantity", "invalid_quantity", "quantity is too large"))?;
    let price = money::order_price(book.rate(&service), total).map_err(|_| {
        ApiError::invalid_field("quantity", "invalid_quantity", "the price would be out of range")
    })?;
    expect_price(body, price)?;
    if quote {
        return Ok(Prepared::Quoted(price));
    }
    let (coupon_id, discount) = super::coupons::discount_for(
        app,
        &user_id,
        coupon.map(Value::from).as_ref(),
        price,
        key.is_some(),
        now,
    )
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
        due_at: scheduled_at.unwrap_or(now),
        status: if scheduled_at.is_some() { OrderStatus::Scheduled } else { OrderStatus::Pending },
        scheduled_at,
        coupon_id,
        params,
    };
    let outcome = app.store.place_order(new, key, now).await.map_err(|e| match e {
        snspmt_store::StoreError::Conflict(snspmt_store::Conflict::InvalidCoupon) => {
            super::coupons::invalid_coupon("used")
        }
        e => e.into(),
    })?;
    if !outcome.is_replay() {
        jobs::life(app, "order.placed", outcome_order(&outcome), None);
    }
    if !outcome.is_replay() && scheduled_at.is_none() {
        jobs::submit_soon(app.clone(), outcome_order(&outcome).order_id);
    }
    Ok(Prepared::Placed(Box::new((outcome, warnings))))
}

/// 409 `price_changed` when the client expected another (pre-discount) price.
fn expect_price(body: &PlaceOrder, price: Points) -> Result<(), ApiError> {
    match body.price.or(body.total_price) {
        Some(expected) if expected != price.0 => Err(ApiError::new(
            hyper::StatusCode::CONFLICT,
            "price_changed",
            "가격이 변경되었습니다 (price changed)",
        )
        .with("expected_price", price.0)),
        _ => Ok(()),
    }
}

/// What a split or package placement shares with the single one.
struct Placement<'a> {
    app: &'a Arc<App>,
    key: Option<snspmt_store::IdempotencyKey>,
    body: &'a PlaceOrder,
    user_id: String,
    scheduled_at: Option<Millis>,
    now: Millis,
    warnings: Vec<validate::Ignored>,
    book: &'a PriceBook,
    quote: bool,
}

/// A split delivery: `days` submissions of `per_day`, one a day, priced on the total at the
/// user's rate.
async fn place_split(
    o: Placement<'_>,
    service: &snspmt_store::Service,
    link: String,
    validate::Split { days, per_day }: validate::Split,
) -> Result<Prepared, ApiError> {
    let Placement { app, key, body, user_id, scheduled_at, now, warnings, book, quote } = o;
    if per_day < service.min_quantity || per_day > service.max_quantity {
        return Err(ApiError::invalid_field(
            "split_quantity",
            "invalid_quantity",
            format!("split_quantity must be between {} and {}", service.min_quantity, service.max_quantity),
        ));
    }
    let total = days * per_day;
    let price = money::order_price(book.rate(service), u64::try_from(total).unwrap_or(0)).map_err(|_| {
        ApiError::invalid_field("split_quantity", "invalid_quantity", "the price would be out of range")
    })?;
    expect_price(body, price)?;
    if quote {
        return Ok(Prepared::Quoted(price));
    }
    let parts = plan::split_parts(
        service.service_id,
        u32::try_from(days).unwrap_or(0),
        u64::try_from(per_day).unwrap_or(0),
        price,
    )
    .map_err(|e| ApiError::invalid_field("split_days", "invalid_split", e.to_string()))?;
    let new = NewOrder {
        user_id: user_id.clone(),
        service_id: service.service_id,
        service_name: service.name.clone(),
        link,
        quantity: total,
        runs: None,
        interval_minutes: None,
        comments: None,
        price,
        discount_amount: Points::ZERO,
        final_price: price,
        due_at: scheduled_at.unwrap_or(now),
        status: if scheduled_at.is_some() { OrderStatus::Scheduled } else { OrderStatus::Pending },
        scheduled_at,
        coupon_id: None,
        params: Default::default(),
    };
    let start = Some(scheduled_at.unwrap_or(now));
    let outcome = app.store.place_multipart_order(new, None, Some(days), parts, start, key, now).await?;
    if !outcome.is_replay() {
        jobs::life(app, "order.placed", outcome_order(&outcome), None);
    }
    if !outcome.is_replay() && scheduled_at.is_none() {
        jobs::submit_parts_soon(app.clone());
    }
    Ok(Prepared::Placed(Box::new((outcome, warnings))))
}

/// A package: its fixed price less the user's discount (per-service prices do not apply to
/// packages), its steps × repeats as parts run in order.
async fn place_package(o: Placement<'_>, package_id: i64) -> Result<Prepared, ApiError> {
    let Placement { app, key, body, user_id, scheduled_at, now, warnings, book, quote } = o;
    let invalid =
        || ApiError::invalid_field("package_id", "invalid_package", "no such package, or it is not on sale");
    let package = app.store.package(package_id).await?.filter(|p| p.is_active).ok_or_else(invalid)?;
    let link = validate::link(body.link.as_deref().unwrap_or(""))?.to_owned();
    for step in &package.steps {
        priced_service(app, step.service_id).await?.filter(|s| s.is_active).ok_or_else(invalid)?;
    }
    let price = book.package_price(&package);
    expect_price(body, price)?;
    if quote {
        return Ok(Prepared::Quoted(price));
    }
    let parts = plan::package_parts(&package.steps, price).map_err(|_| invalid())?;
    let quantity: u64 = parts.iter().map(|p| p.quantity).sum();
    let first_service = package.steps.first().map(|s| s.service_id).ok_or_else(invalid)?;
    let new = NewOrder {
        user_id: user_id.clone(),
        service_id: first_service,
        service_name: package.name.clone(),
        link,
        quantity: i64::try_from(quantity).unwrap_or(i64::MAX),
        runs: None,
        interval_minutes: None,
        comments: None,
        price,
        discount_amount: Points::ZERO,
        final_price: price,
        due_at: scheduled_at.unwrap_or(now),
        status: if scheduled_at.is_some() { OrderStatus::Scheduled } else { OrderStatus::Pending },
        scheduled_at,
        coupon_id: None,
        params: Default::default(),
    };
    let start = if body.defer_start { None } else { Some(scheduled_at.unwrap_or(now)) };
    let outcome =
        app.store.place_multipart_order(new, Some(package_id), None, parts, start, key, now).await?;
    if !outcome.is_replay() {
        jobs::life(app, "order.placed", outcome_order(&outcome), None);
    }
    if !outcome.is_replay() && start == Some(now) {
        jobs::submit_parts_soon(app.clone());
    }
    Ok(Prepared::Placed(Box::new((outcome, warnings))))
}

/// A field of the request that was ignored, and why.
#[derive(Serialize, JsonSchema)]
pub struct Warning {
    pub field: &'static str,
    /// Always `ignored`.
    pub code: &'static str,
    pub message: &'static str,
}

/// A placed order (or the replay of one).
#[derive(Serialize, JsonSchema)]
pub struct OrderPlaced {
    pub success: bool,
    /// What the customer reads (Korean): placed, or scheduled.
    pub message: &'static str,
    /// When a scheduled order runs (RFC 3339 UTC); `null` for an order now.
    pub scheduled_datetime: Option<String>,
    pub order_id: i64,
    pub status: OrderStatus,
    /// The status as the Korean UI shows it.
    pub status_label: &'static str,
    /// Points, before the coupon.
    pub price: Points,
    /// Points the coupon took off.
    pub discount_amount: Points,
    /// Points charged.
    pub final_price: Points,
    /// Points credited to the referrer.
    pub commission_amount: Points,
    pub smm_panel_order_id: Option<String>,
    pub order: views::CustomerOrderView,
    /// What the request asked that was ignored.
    pub warnings: Vec<Warning>,
}

/// The answer to a placed order (a replay's too: the same body ignores the same things, so
/// `warnings` is computed from the request again).
fn order_reply(
    outcome: &snspmt_store::Idempotent<Order>,
    warnings: &[validate::Ignored],
) -> Replayed<OrderPlaced> {
    Replayed::of(outcome, |o: &Order| OrderPlaced {
        success: true,
        message: if o.scheduled_at.is_some() {
            "예약 발송이 설정되었습니다."
        } else {
            "주문이 접수되었습니다."
        },
        scheduled_datetime: o.scheduled_at.map(views::rfc3339),
        order_id: o.order_id.0,
        status: o.status,
        status_label: o.status.label(),
        price: o.price,
        discount_amount: o.discount_amount,
        final_price: o.final_price,
        commission_amount: o.commission_amount,
        smm_panel_order_id: o.smm_panel_order_id.clone(),
        order: views::customer_order(o),
        warnings: warnings
            .iter()
            .map(|w| Warning { field: w.field, code: w.code, message: w.message })
            .collect(),
    })
}

pub(crate) fn outcome_order(o: &snspmt_store::Idempotent<Order>) -> &Order {
    match o {
        snspmt_store::Idempotent::Fresh(o) | snspmt_store::Idempotent::Replay(o) => o,
    }
}

/// The values `status` takes in an order list: `all`, or one of our statuses.
fn status_filter_names() -> Vec<&'static str> {
    std::iter::once("all").chain(OrderStatus::ALL.iter().map(|s| s.as_str())).collect()
}

/// The `status` filter of an order list: one of our statuses, or `all` (no filter).
fn status_filter(status: Option<&str>) -> Result<Option<OrderStatus>, ApiError> {
    match status {
        None | Some("all") => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| {
            ApiError::invalid_field(
                "status",
                "invalid_query",
                "status must be an order status (pending, scheduled, in_progress, completed, …) or all",
            )
        }),
    }
}

/// `GET /api/orders`: the caller's orders (an admin may name another user).
#[derive(Deserialize, JsonSchema)]
pub struct OrdersQuery {
    /// Another user's id (admins only); the caller by default.
    user_id: Option<String>,
    /// Only orders in this status; `all` (the default) for every one.
    #[schemars(extend("enum" = status_filter_names()))]
    status: Option<String>,
    /// At most this many rows: 1 to 200, default 50.
    limit: Option<u32>,
    /// Skip this many rows first (default 0).
    offset: Option<u32>,
}

/// A page of orders, newest first: the operator's view for an admin, the owner's otherwise.
#[derive(Serialize, JsonSchema)]
pub struct OrderList {
    pub orders: Vec<views::OrderForView>,
    /// Orders matching the filter, in all.
    pub total: i64,
}

pub async fn list(app: &App, caller: &Caller, req: &Req) -> Result<Json<OrderList>, ApiError> {
    let query: OrdersQuery = req.query_as()?;
    let user_id = caller.subject(query.user_id.as_deref(), true)?;
    let paging = Paging::of(query.limit, query.offset)?;
    let status = status_filter(query.status.as_deref())?;
    let filter = OrderFilter { user_id: Some(user_id), status, limit: paging.limit, offset: paging.offset };
    let page = app.store.orders(filter).await?;
    let orders = page.rows.iter().map(|o| views::order_for(o, caller.is_admin())).collect();
    Ok(Json(OrderList { orders, total: page.total }))
}

/// The order, if the caller may see it (its owner, or an admin); others get 404 as if it did
/// not exist.
pub(crate) async fn visible(app: &App, caller: &Caller, raw_id: &str) -> Result<Order, ApiError> {
    let id = OrderId(parse_id("order_id", raw_id)?);
    let order = app.store.order(id).await?.ok_or_else(|| ApiError::not_found("order"))?;
    if caller.is_admin() || caller.user().is_some_and(|u| u.user_id == order.user_id) {
        Ok(order)
    } else {
        Err(ApiError::not_found("order"))
    }
}

/// One order: the operator's view for an admin, the owner's otherwise.
#[derive(Serialize, JsonSchema)]
pub struct OrderAnswer {
    pub order: views::OrderForView,
}

pub async fn get(app: &App, caller: &Caller, raw_id: &str) -> Result<Json<OrderAnswer>, ApiError> {
    let order = visible(app, caller, raw_id).await?;
    Ok(Json(OrderAnswer { order: views::order_for(&order, caller.is_admin()) }))
}

fn invalid_transition(from: OrderStatus, to: OrderStatus) -> ApiError {
    ApiError::new(
        hyper::StatusCode::CONFLICT,
        "invalid_transition",
        format!("an order cannot go from {from} to {to} now"),
    )
    .with("status", from.as_str())
}

/// The names of our order statuses.
fn status_names() -> Vec<&'static str> {
    OrderStatus::ALL.iter().map(|s| s.as_str()).collect()
}

/// `PUT /api/orders/{id}/status`: an operator moves an order.
#[derive(Deserialize, JsonSchema)]
pub struct SetStatus {
    /// The new status (an unknown name is 400 `invalid_status`; a move the order cannot make
    /// is 409 `invalid_transition`).
    #[schemars(extend("enum" = status_names()))]
    status: String,
    /// The panel's order id (a text or a non-negative integer): needed to move an order to
    /// `in_progress` that has none.
    #[schemars(with = "Option<IdValue>")]
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

/// An order an operator changed, as the operator sees it.
#[derive(Serialize, JsonSchema)]
pub struct OrderChanged {
    pub success: bool,
    pub order: views::OrderView,
}

async fn transition(
    app: &App,
    caller: &Caller,
    order: Order,
    to: OrderStatus,
    smm_order_id: Option<String>,
    action: &str,
) -> Result<Json<OrderChanged>, ApiError> {
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
            snspmt_store::StoreError::Conflict(snspmt_store::Conflict::InvalidTransition) => {
                invalid_transition(from, to)
            }
            e => e.into(),
        })?;
    jobs::life(app, "order.operator_transition", &updated, None);
    Ok(Json(OrderChanged { success: true, order: views::order(&updated) }))
}

pub async fn set_status(
    app: &App,
    caller: &Caller,
    raw_id: &str,
    req: &Req,
) -> Result<Json<OrderChanged>, ApiError> {
    let body: SetStatus = req.json()?;
    let to: OrderStatus = body
        .status
        .parse()
        .map_err(|_| ApiError::invalid_field("status", "invalid_status", "unknown order status"))?;
    let smm_order_id = smm_id(body.smm_panel_order_id.as_ref())?;
    let order = visible(app, caller, raw_id).await?;
    transition(app, caller, order, to, smm_order_id, "orders.set_status").await
}

/// `POST /api/admin/orders/{id}/resolve`: what became of an order (or a part) whose submission
/// has no known outcome. Send either `smm_panel_order_id` or `action: "fail"`.
#[derive(Deserialize, JsonSchema)]
pub struct Resolve {
    /// The panel accepted it, under this id (a text or a non-negative integer).
    #[schemars(with = "Option<IdValue>")]
    smm_panel_order_id: Option<Value>,
    /// `fail`: the panel never took it (refunded in full).
    #[schemars(extend("enum" = ["fail"]))]
    action: Option<String>,
    /// For a package or split order: which part.
    part_index: Option<i64>,
}

/// Settles an `unknown` order: it was accepted (`smm_panel_order_id`), or it failed
/// (`action: "fail"`, full refund).
pub async fn resolve(
    app: &App,
    caller: &Caller,
    raw_id: &str,
    req: &Req,
) -> Result<Json<OrderChanged>, ApiError> {
    let body: Resolve = req.json()?;
    let order = visible(app, caller, raw_id).await?;
    if let Some(part_index) = body.part_index {
        let smm = match (smm_id(body.smm_panel_order_id.as_ref())?, body.action.as_deref()) {
            (Some(id), None) => Some(id),
            (None, Some("fail")) => None,
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_resolution",
                    "send either smm_panel_order_id (it was accepted) or action: \"fail\"",
                ))
            }
        };
        let audit = NewAudit {
            actor: caller.actor(),
            action: "orders.resolve_part".into(),
            target: Some(order.order_id.to_string()),
            detail: json!({"part_index": part_index, "smm_panel_order_id": smm}).to_string(),
        };
        let updated =
            app.store.resolve_part(order.order_id, part_index, smm, audit, app.clock.now()).await.map_err(
                |e| match e {
                    snspmt_store::StoreError::Conflict(_) => ApiError::new(
                        hyper::StatusCode::CONFLICT,
                        "invalid_transition",
                        "only a part whose outcome is unknown can be resolved",
                    ),
                    e => e.into(),
                },
            )?;
        return Ok(Json(OrderChanged { success: true, order: views::order(&updated) }));
    }
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

/// A page of orders as the operator sees them, newest first.
#[derive(Serialize, JsonSchema)]
pub struct OrderPage {
    pub orders: Vec<views::OrderView>,
    /// Orders matching the filter, in all.
    pub total: i64,
    /// The page size used.
    pub limit: i64,
    pub offset: i64,
}

/// The orders waiting for their time.
pub async fn admin_scheduled(app: &App, req: &Req) -> Result<Json<OrderPage>, ApiError> {
    let query: PageQuery = req.query_as()?;
    let paging = Paging::of(query.limit, query.offset)?;
    let filter = OrderFilter {
        user_id: None,
        status: Some(OrderStatus::Scheduled),
        limit: paging.limit,
        offset: paging.offset,
    };
    let page = app.store.orders(filter).await?;
    Ok(Json(OrderPage {
        orders: page.rows.iter().map(views::order).collect(),
        total: page.total,
        limit: paging.limit,
        offset: paging.offset,
    }))
}

/// `GET /api/admin/orders`: every user's orders.
#[derive(Deserialize, JsonSchema)]
pub struct AdminOrdersQuery {
    /// Only this user's orders.
    user_id: Option<String>,
    /// Only orders in this status; `all` (the default) for every one.
    #[schemars(extend("enum" = status_filter_names()))]
    status: Option<String>,
    /// At most this many rows: 1 to 200, default 50.
    limit: Option<u32>,
    /// Skip this many rows first (default 0).
    offset: Option<u32>,
}

pub async fn admin_list(app: &App, req: &Req) -> Result<Json<OrderPage>, ApiError> {
    let query: AdminOrdersQuery = req.query_as()?;
    let paging = Paging::of(query.limit, query.offset)?;
    let status = status_filter(query.status.as_deref())?;
    let filter = OrderFilter { user_id: query.user_id, status, limit: paging.limit, offset: paging.offset };
    let page = app.store.orders(filter).await?;
    Ok(Json(OrderPage {
        orders: page.rows.iter().map(views::order).collect(),
        total: page.total,
        limit: paging.limit,
        offset: paging.offset,
    }))
}

/// `POST /api/orders/check-status`: ask the panel about some of the caller's orders now.
#[derive(Deserialize, JsonSchema)]
pub struct CheckStatus {
    /// 1 to 100 order ids (positive integers, or their text).
    #[schemars(with = "Vec<IdValue>")]
    order_ids: Vec<Value>,
    /// Another user's id (admins only); the caller by default.
    user_id: Option<String>,
}

/// The orders asked about, as they are after the check.
#[derive(Serialize, JsonSchema)]
pub struct StatusChecked {
    pub success: bool,
    /// Orders the panel was asked about (those still running).
    pub checked: i64,
    /// The orders named that are the user's, in the order named.
    pub orders: Vec<views::OrderForView>,
}

/// Asks the panel about some of the caller's own orders now.
pub async fn check_status(app: &App, caller: &Caller, req: &Req) -> Result<Json<StatusChecked>, ApiError> {
    let body: CheckStatus = req.json()?;
    let user_id = caller.subject(body.user_id.as_deref(), false)?;
    if body.order_ids.is_empty() || body.order_ids.len() > 100 {
        return Err(ApiError::invalid_field("order_ids", "invalid_order_ids", "send 1 to 100 order ids"));
    }
    let ids =
        body.order_ids.iter().map(|v| int_id("order_ids", v).map(OrderId)).collect::<Result<Vec<_>, _>>()?;
    let targets = app.store.orders_to_sync(100, Some((&user_id, &ids))).await?;
    let report = if targets.is_empty() {
        jobs::SyncReport::default()
    } else {
        jobs::sync(app, &jobs::smm_client(app)?, targets).await?
    };
    let mut orders = Vec::new();
    for id in ids {
        if let Some(o) = app.store.order(id).await?.filter(|o| o.user_id == user_id) {
            orders.push(views::order_for(&o, caller.is_admin()));
        }
    }
    Ok(Json(StatusChecked { success: true, checked: report.checked, orders }))
}

/// `POST /api/orders/start-package-processing`.
#[derive(Deserialize, JsonSchema)]
pub struct StartPackage {
    /// A package order placed with `defer_start` (a positive integer, or its text).
    #[schemars(with = "IdValue")]
    order_id: Value,
}

/// Whether a deferred package order was started.
#[derive(Serialize, JsonSchema)]
pub struct PackageStarted {
    pub success: bool,
    pub order_id: i64,
    /// `false` when it had started before: nothing was done.
    pub started: bool,
}

/// Starts a package order placed with `defer_start` (idempotent: a second call starts nothing).
pub async fn start_package(
    app: &Arc<App>,
    caller: &Caller,
    req: &Req,
) -> Result<Json<PackageStarted>, ApiError> {
    let body: StartPackage = req.json()?;
    let id = int_id("order_id", &body.order_id)?;
    let order = visible(app, caller, &id.to_string()).await?;
    let started = app.store.start_parts(order.order_id, app.clock.now()).await?;
    if started {
        jobs::submit_parts_soon(app.clone());
    }
    Ok(Json(PackageStarted { success: true, order_id: order.order_id.0, started }))
}

/// The names of a part's `status` in a package's progress.
fn part_status_names() -> Vec<&'static str> {
    Stage::ALL
        .iter()
        .filter(|s| **s != Stage::Ended)
        .map(|s| s.as_str())
        .chain(["completed", "refunded"])
        .collect()
}

/// One part (one upstream submission) of a package or split order.
#[derive(Serialize, JsonSchema)]
pub struct PartProgress {
    /// The package step it belongs to (0-based).
    pub step_index: i64,
    pub step_name: String,
    /// Which run of its step (0-based).
    pub repeat_index: i64,
    /// Its place among all the parts (0-based).
    pub part_index: i64,
    pub service_id: i64,
    pub quantity: i64,
    /// Points of the order's price this part carries.
    pub share: Points,
    /// Where it is (`waiting`, `due`, `submitting`, `accepted`, `unknown`), or how it ended
    /// (`completed`, `refunded`).
    #[schemars(extend("enum" = part_status_names()))]
    pub status: String,
    /// The panel's order id for this part.
    pub smm_order_id: Option<String>,
    /// Points refunded for this part.
    pub refunded_amount: Points,
    /// When it is (or was) due to be sent (RFC 3339 UTC).
    pub due_at: Option<String>,
    /// When it ended (RFC 3339 UTC).
    pub completed_at: Option<String>,
}

/// A package or split order's parts.
#[derive(Serialize, JsonSchema)]
pub struct PackageProgress {
    pub order_id: i64,
    pub status: OrderStatus,
    /// The index of the first part not ended (`total_steps` when all have).
    pub current_step: i64,
    /// The number of parts.
    pub total_steps: usize,
    pub progress: Vec<PartProgress>,
}

/// `GET /api/orders/<id>/package-progress`.
pub async fn package_progress(
    app: &App,
    caller: &Caller,
    raw_id: &str,
) -> Result<Json<PackageProgress>, ApiError> {
    let mut order = visible(app, caller, raw_id).await?;
    let mut parts = app.store.order_parts(order.order_id).await?;
    // A part's settlement and its order's status commit together, but these are two reads: the
    // parts are read again until the order's status is the same after them as before, so the
    // answer never shows a part settled beside a status from before it.
    for _ in 0..3 {
        let Some(after) = app.store.order(order.order_id).await? else { break };
        if after.status == order.status {
            break;
        }
        order = after;
        parts = app.store.order_parts(order.order_id).await?;
    }
    if parts.is_empty() {
        return Err(ApiError::not_found("package order"));
    }
    let current =
        parts.iter().find(|p| p.state != Stage::Ended).map(|p| p.part_index).unwrap_or(parts.len() as i64);
    let progress = parts
        .iter()
        .map(|p| PartProgress {
            step_index: p.step_index,
            step_name: p.name.clone(),
            repeat_index: p.repeat_index,
            part_index: p.part_index,
            service_id: p.service_id,
            quantity: p.quantity,
            share: p.share,
            status: match (p.state.as_str(), p.outcome.as_deref()) {
                ("ended", Some(outcome)) => outcome.to_owned(),
                (state, _) => state.to_owned(),
            },
            smm_order_id: p.smm_order_id.clone(),
            refunded_amount: p.refunded,
            due_at: p.due_at.map(views::rfc3339),
            completed_at: p.settled_at.filter(|_| p.state == Stage::Ended).map(views::rfc3339),
        })
        .collect();
    Ok(Json(PackageProgress {
        order_id: order.order_id.0,
        status: order.status,
        current_step: current,
        total_steps: parts.len(),
        progress,
    }))
}

/// A part left in `submitting` (an operator resolves it).
#[derive(Serialize, JsonSchema)]
pub struct StuckPart {
    pub order_id: i64,
    pub part_index: i64,
    pub step_name: String,
    /// Always `submitting`.
    pub state: &'static str,
}

/// What reprocessing did.
#[derive(Serialize, JsonSchema)]
pub struct Reprocessed {
    pub success: bool,
    /// Parts made due again.
    pub requeued: i64,
    /// Parts stuck in `submitting`: never resent.
    pub stuck: Vec<StuckPart>,
}

/// Re-queues parts whose turn came but were never made due, and lists those stuck in
/// `submitting` (never resent: an operator resolves them).
pub async fn reprocess_packages(app: &App, caller: &Caller) -> Result<Json<Reprocessed>, ApiError> {
    let now = app.clock.now();
    let (requeued, stuck) = app.store.requeue_parts(now.minus_ms(jobs::SUBMISSION_LEASE_MS), now).await?;
    let audit = NewAudit {
        actor: caller.actor(),
        action: "packages.reprocess".into(),
        target: None,
        detail: json!({"requeued": requeued, "stuck": stuck.len()}).to_string(),
    };
    app.store.record_audit(audit, now).await?;
    let stuck = stuck
        .iter()
        .map(|p| StuckPart {
            order_id: p.order_id.0,
            part_index: p.part_index,
            step_name: p.name.clone(),
            state: p.state.as_str(),
        })
        .collect();
    Ok(Json(Reprocessed { success: true, requeued, stuck }))
}

crate::router::route_table! {
    Orders: GET "/api/orders", User, "orders.list", query OrdersQuery, reply Json<OrderList>,
        |app, caller, req| list(app, caller, req);
    PlaceOrder: POST "/api/orders", User, "orders.place", body PlaceOrder, reply Replayed<OrderPlaced>,
        |app, caller, req| place(app, caller, req);
    CheckOrderStatus: POST "/api/orders/check-status", User, "orders.check_status", body CheckStatus,
        reply Json<StatusChecked>,
        |app, caller, req| check_status(app, caller, req);
    Order: GET "/api/orders/{id}", UserOrAdmin, "orders.get", reply Json<OrderAnswer>,
        |app, caller, _, id| get(app, caller, id);
    SetOrderStatus: PUT "/api/orders/{id}/status", Admin, "orders.set_status", body SetStatus,
        reply Json<OrderChanged>,
        |app, caller, req, id| set_status(app, caller, id, req);
    AdminOrders: GET "/api/admin/orders", Admin, "admin.orders", query AdminOrdersQuery, reply Json<OrderPage>,
        |app, _, req| admin_list(app, req);
    AdminResolveOrder: POST "/api/admin/orders/{id}/resolve", Admin, "admin.orders.resolve", body Resolve,
        reply Json<OrderChanged>,
        |app, caller, req, id| resolve(app, caller, id, req);
    PlaceScheduledOrder: POST "/api/scheduled-orders", User, "orders.place_scheduled", body PlaceOrder,
        reply Replayed<OrderPlaced>,
        |app, caller, req| place_scheduled(app, caller, req);
    AdminScheduledOrders: GET "/api/admin/scheduled-orders", Admin, "admin.scheduled_orders", query PageQuery,
        reply Json<OrderPage>,
        |app, _, req| admin_scheduled(app, req);
    StartPackageProcessing: POST "/api/orders/start-package-processing", User, "orders.start_package",
        body StartPackage, reply Json<PackageStarted>,
        |app, caller, req| start_package(app, caller, req);
    PackageProgress: GET "/api/orders/{id}/package-progress", UserOrAdmin, "orders.package_progress",
        reply Json<PackageProgress>,
        |app, caller, _, id| package_progress(app, caller, id);
    AdminReprocessPackageOrders: POST "/api/admin/reprocess-package-orders", Admin,
        "admin.reprocess_package_orders", reply Json<Reprocessed>,
        |app, caller, _| reprocess_packages(app, caller);
}
