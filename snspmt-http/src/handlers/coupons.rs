//! Coupons (§11): the operator's CRUD of coupon definitions, and users' own copies.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use snspmt_core::referral::{self, DiscountType};
use snspmt_core::{validate, Points};
use snspmt_store::{Coupon, Millis, NewAudit, NewCoupon, StoreError};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::catalog::parse_id;
use super::{PageQuery, Paging};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::request::Req;
use crate::router::Json;
use crate::views::{self, CouponView, UserCouponView};
use crate::App;

/// A coupon as the operator sends it; on update, absent fields keep their value. On create,
/// `code`, `discount_type` and `discount_value` are required.
#[derive(Deserialize, Default, JsonSchema)]
pub struct CouponBody {
    /// 2 to 50 of `A-Z 0-9 _ -` (upper-cased).
    code: Option<String>,
    /// The code by default.
    name: Option<String>,
    #[schemars(extend("enum" = ["percentage", "fixed", null]))]
    discount_type: Option<String>,
    /// Percent (1 to 100) or points, by `discount_type`.
    discount_value: Option<i64>,
    /// The smallest order price (points) it applies to: 0 (the default) to 100,000,000.
    min_order_amount: Option<i64>,
    /// RFC 3339; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<String>")]
    valid_from: Option<Value>,
    /// RFC 3339, after `valid_from`; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<String>")]
    valid_until: Option<Value>,
    /// How many copies may be handed out (1 to 1,000,000,000); `null`: unlimited.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<i64>")]
    max_uses: Option<Value>,
    /// `true` by default.
    is_active: Option<bool>,
}

/// A field that was sent, `null` included (`None` only when absent), so `null` can clear it.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// A coupon code: 2..=50 of `[A-Z0-9_-]`, upper-cased.
fn coupon_code(s: &str) -> Result<String, ApiError> {
    let c = s.trim().to_ascii_uppercase();
    let ok =
        (2..=50).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(c)
    } else {
        Err(ApiError::invalid_field("code", "invalid_code", "code must be 2-50 characters of A-Z 0-9 _ -"))
    }
}

/// An optional moment: an RFC 3339 string, or null.
fn moment(field: &str, v: &Value) -> Result<Option<Millis>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => OffsetDateTime::parse(s.trim(), &Rfc3339)
            .ok()
            .and_then(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok())
            .map(|ms| Some(Millis(ms)))
            .ok_or_else(|| {
                ApiError::invalid_field(field, "invalid_time", format!("{field} must be RFC 3339"))
            }),
        _ => {
            Err(ApiError::invalid_field(field, "invalid_time", format!("{field} must be an RFC 3339 string")))
        }
    }
}

fn merged(body: CouponBody, base: Option<&Coupon>) -> Result<NewCoupon, ApiError> {
    let missing = |f: &str| ApiError::invalid_field(f, "missing_field", format!("{f} is required"));
    let code = match (body.code.as_deref(), base) {
        (Some(c), _) => coupon_code(c)?,
        (None, Some(b)) => b.code.clone(),
        (None, None) => return Err(missing("code")),
    };
    let name = match (body.name.as_deref(), base) {
        (Some(n), _) => validate::short_text("name", n)?.to_owned(),
        (None, Some(b)) => b.name.clone(),
        (None, None) => code.clone(),
    };
    let discount_type: DiscountType = match (body.discount_type.as_deref(), base) {
        (Some(t), _) => t.parse()?,
        (None, Some(b)) => b.discount_type,
        (None, None) => return Err(missing("discount_type")),
    };
    let discount_value =
        body.discount_value.or(base.map(|b| b.discount_value)).ok_or_else(|| missing("discount_value"))?;
    referral::discount(discount_type, discount_value)?;
    let min_order_amount = body.min_order_amount.or(base.map(|b| b.min_order_amount.0)).unwrap_or(0);
    if !(0..=validate::MAX_AMOUNT).contains(&min_order_amount) {
        return Err(ApiError::invalid_field(
            "min_order_amount",
            "invalid_amount",
            "min_order_amount must be 0..=100000000",
        ));
    }
    let valid_from = match &body.valid_from {
        Some(v) => moment("valid_from", v)?,
        None => base.and_then(|b| b.valid_from),
    };
    let valid_until = match &body.valid_until {
        Some(v) => moment("valid_until", v)?,
        None => base.and_then(|b| b.valid_until),
    };
    if let (Some(from), Some(until)) = (valid_from, valid_until) {
        if until <= from {
            return Err(ApiError::invalid_field(
                "valid_until",
                "invalid_time",
                "valid_until must be after valid_from",
            ));
        }
    }
    let max_uses = match &body.max_uses {
        None => base.and_then(|b| b.max_uses),
        Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().filter(|n| (1..=1_000_000_000).contains(n)).ok_or_else(|| {
            ApiError::invalid_field(
                "max_uses",
                "invalid_max_uses",
                "max_uses must be a positive integer or null",
            )
        })?),
    };
    Ok(NewCoupon {
        code,
        name,
        discount_type,
        discount_value,
        min_order_amount: Points(min_order_amount),
        valid_from,
        valid_until,
        max_uses,
        is_active: body.is_active.or(base.map(|b| b.is_active)).unwrap_or(true),
    })
}

fn audit(caller: &Caller, action: &str, target: Option<i64>, c: &NewCoupon) -> NewAudit {
    NewAudit {
        actor: caller.actor(),
        action: action.into(),
        target: target.map(|t| t.to_string()),
        detail: json!({
            "code": c.code, "discount_type": c.discount_type.as_str(), "discount_value": c.discount_value,
            "min_order_amount": c.min_order_amount.0, "max_uses": c.max_uses, "is_active": c.is_active,
        })
        .to_string(),
    }
}

/// A page of coupon definitions.
#[derive(Serialize, JsonSchema)]
pub struct Coupons {
    coupons: Vec<CouponView>,
    /// How many there are in all.
    total: i64,
    limit: i64,
    offset: i64,
}

pub async fn admin_list(app: &App, req: &Req) -> Result<Json<Coupons>, ApiError> {
    let query: PageQuery = req.query_as()?;
    let paging = Paging::of(query.limit, query.offset)?;
    let page = app.store.coupons(paging.limit, paging.offset).await?;
    Ok(Json(Coupons {
        coupons: page.rows.iter().map(views::coupon).collect(),
        total: page.total,
        limit: paging.limit,
        offset: paging.offset,
    }))
}

/// A coupon definition after a change.
#[derive(Serialize, JsonSchema)]
pub struct CouponChanged {
    success: bool,
    coupon: CouponView,
}

/// One coupon definition.
#[derive(Serialize, JsonSchema)]
pub struct OneCoupon {
    coupon: CouponView,
}

pub async fn create(app: &App, caller: &Caller, req: &Req) -> Result<Json<CouponChanged>, ApiError> {
    let body: CouponBody = req.json()?;
    let new = merged(body, None)?;
    let audit = audit(caller, "coupons.create", None, &new);
    let coupon = app.store.create_coupon(new, audit, app.clock.now()).await?;
    Ok(Json(CouponChanged { success: true, coupon: views::coupon(&coupon) }))
}

async fn existing(app: &App, raw_id: &str) -> Result<Coupon, ApiError> {
    let id = parse_id("coupon_id", raw_id)?;
    app.store.coupon(id).await?.ok_or_else(|| ApiError::not_found("coupon"))
}

pub async fn get(app: &App, raw_id: &str) -> Result<Json<OneCoupon>, ApiError> {
    let coupon = existing(app, raw_id).await?;
    Ok(Json(OneCoupon { coupon: views::coupon(&coupon) }))
}

pub async fn update(
    app: &App,
    caller: &Caller,
    raw_id: &str,
    req: &Req,
) -> Result<Json<CouponChanged>, ApiError> {
    let body: CouponBody = req.json()?;
    let base = existing(app, raw_id).await?;
    let new = merged(body, Some(&base))?;
    let audit = audit(caller, "coupons.update", Some(base.coupon_id), &new);
    let coupon = app.store.update_coupon(base.coupon_id, new, audit, app.clock.now()).await?;
    Ok(Json(CouponChanged { success: true, coupon: views::coupon(&coupon) }))
}

/// Withdraws a coupon (its copies stop applying); the row stays for the history.
pub async fn deactivate(app: &App, caller: &Caller, raw_id: &str) -> Result<Json<CouponChanged>, ApiError> {
    let base = existing(app, raw_id).await?;
    let audit = NewAudit {
        actor: caller.actor(),
        action: "coupons.deactivate".into(),
        target: Some(base.coupon_id.to_string()),
        detail: json!({"code": base.code}).to_string(),
    };
    let coupon = app.store.deactivate_coupon(base.coupon_id, audit, app.clock.now()).await?;
    Ok(Json(CouponChanged { success: true, coupon: views::coupon(&coupon) }))
}

/// `GET /api/user/coupons`.
#[derive(Deserialize, JsonSchema)]
pub struct MineQuery {
    /// Another user's id (admins only); the caller by default.
    user_id: Option<String>,
    /// At most this many rows: 1 to 200, default 50.
    limit: Option<u32>,
    /// Skip this many rows first (default 0).
    offset: Option<u32>,
}

/// A page of the user's coupon copies.
#[derive(Serialize, JsonSchema)]
pub struct UserCoupons {
    coupons: Vec<UserCouponView>,
    /// How many there are in all.
    total: i64,
}

pub async fn mine(app: &App, caller: &Caller, req: &Req) -> Result<Json<UserCoupons>, ApiError> {
    let query: MineQuery = req.query_as()?;
    let user_id = caller.subject(query.user_id.as_deref(), true)?;
    let paging = Paging::of(query.limit, query.offset)?;
    let page = app.store.user_coupons(&user_id, paging.limit, paging.offset).await?;
    Ok(Json(UserCoupons { coupons: page.rows.iter().map(views::user_coupon).collect(), total: page.total }))
}

/// `POST /api/user/coupons/add-by-code`: `coupon_code` (or `code`) is required.
#[derive(Deserialize, JsonSchema)]
pub struct AddByCode {
    /// The coupon's code.
    coupon_code: Option<String>,
    /// The same, under another name.
    code: Option<String>,
    /// Must be the caller's own id when given.
    user_id: Option<String>,
}

/// The caller's new copy of the coupon.
#[derive(Serialize, JsonSchema)]
pub struct CouponAdded {
    success: bool,
    coupon: UserCouponView,
}

pub async fn add_by_code(app: &App, caller: &Caller, req: &Req) -> Result<Json<CouponAdded>, ApiError> {
    let body: AddByCode = req.json()?;
    let user_id = caller.subject(body.user_id.as_deref(), false)?;
    let raw = body
        .coupon_code
        .or(body.code)
        .ok_or_else(|| ApiError::invalid_field("coupon_code", "missing_field", "coupon_code is required"))?;
    let code = coupon_code(&raw).map_err(|_| invalid_coupon("unknown_code"))?;
    let copy = app.store.add_coupon_by_code(&user_id, &code, app.clock.now()).await.map_err(|e| match e {
        StoreError::Conflict(snspmt_store::Conflict::InvalidCoupon) => invalid_coupon("unknown_code"),
        e => e.into(),
    })?;
    Ok(Json(CouponAdded { success: true, coupon: views::user_coupon(&copy) }))
}

/// 400 `invalid_coupon`, with why.
pub fn invalid_coupon(reason: &str) -> ApiError {
    ApiError::invalid_field("coupon_id", "invalid_coupon", "사용할 수 없는 쿠폰입니다 (invalid coupon)")
        .with("reason", reason)
}

/// The caller's coupon copy named by `coupon_id` on an order, checked server-side against the
/// pre-discount `price` at `now`: `(Some(id), discount)`, or `(None, 0)` without a coupon.
/// Anything wrong is 400 `invalid_coupon` with a `reason`. With an `Idempotency-Key` a used
/// copy passes here: the store replays the first order, or its conditional update refuses.
pub async fn discount_for(
    app: &App,
    user_id: &str,
    coupon_id: Option<&Value>,
    price: Points,
    may_be_replay: bool,
    now: Millis,
) -> Result<(Option<i64>, Points), ApiError> {
    let id = match coupon_id {
        None | Some(Value::Null) => return Ok((None, Points::ZERO)),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    }
    .filter(|id| *id > 0)
    .ok_or_else(|| {
        ApiError::invalid_field("coupon_id", "invalid_id", "coupon_id must be a positive integer")
    })?;
    let copy = app.store.user_coupon(id).await?.ok_or_else(|| invalid_coupon("not_found"))?;
    if copy.user_id != user_id {
        return Err(invalid_coupon(referral::CouponRefusal::NotYours.reason()));
    }
    let mut terms = copy.terms().map_err(|_| invalid_coupon("invalid_terms"))?;
    terms.is_used &= !may_be_replay;
    let discount = referral::apply_coupon(&terms, price, now).map_err(|r| {
        let e = invalid_coupon(r.reason());
        match r {
            referral::CouponRefusal::BelowMinimum { min_order_amount } => {
                e.with("min_order_amount", min_order_amount.0)
            }
            _ => e,
        }
    })?;
    Ok((Some(id), discount))
}

crate::router::route_table! {
    UserCoupons: GET "/api/user/coupons", User, "coupons.mine",
        query MineQuery, reply Json<UserCoupons>,
        |app, caller, req| mine(app, caller, req);
    AddCouponByCode: POST "/api/user/coupons/add-by-code", User, "coupons.add_by_code",
        body AddByCode, reply Json<CouponAdded>,
        |app, caller, req| add_by_code(app, caller, req);
    AdminCoupons: GET "/api/admin/coupons", Admin, "admin.coupons",
        query PageQuery, reply Json<Coupons>,
        |app, _, req| admin_list(app, req);
    AdminCreateCoupon: POST "/api/admin/coupons", Admin, "admin.coupons.create",
        body CouponBody, reply Json<CouponChanged>,
        |app, caller, req| create(app, caller, req);
    AdminCoupon: GET "/api/admin/coupons/{id}", Admin, "admin.coupons.get",
        reply Json<OneCoupon>,
        |app, _, _, id| get(app, id);
    AdminUpdateCoupon: PUT "/api/admin/coupons/{id}", Admin, "admin.coupons.update",
        body CouponBody, reply Json<CouponChanged>,
        |app, caller, req, id| update(app, caller, id, req);
    AdminDeleteCoupon: DELETE "/api/admin/coupons/{id}", Admin, "admin.coupons.delete",
        reply Json<CouponChanged>,
        |app, caller, _, id| deactivate(app, caller, id);
}
