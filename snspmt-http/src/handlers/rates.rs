//! Per-user rates: the prices a user sees and pays (site, reseller API, mass orders) after the
//! operator's per-user discount and per-service overrides.
//!
//! The rule: a per-service price (`user_service_prices`) wins; otherwise the catalogue price
//! less the user's discount ([`money::discounted_price`]: the discount rounds down, the panel
//! keeps the remainder). A package has one fixed price and no service of its own, so only the
//! discount applies to it, never a per-service price. Coupons and referral commissions apply
//! on top of these prices exactly as on catalogue prices.

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use snspmt_core::money::{self, Bps};
use snspmt_core::{validate, Points};
use snspmt_store::{NewAudit, Package, Service, StoreError, UserRates};

use super::catalog::parse_id;
use crate::auth::{self, Caller};
use crate::error::ApiError;
use crate::request::Req;
use crate::router::Json;
use crate::{views, App};

/// A user's prices.
#[derive(Debug, Clone, Default)]
pub struct PriceBook {
    discount: Bps,
    overrides: HashMap<i64, Points>,
}

impl PriceBook {
    /// The book of a user's stored terms.
    pub fn from_rates(rates: &UserRates) -> PriceBook {
        PriceBook {
            discount: rates.discount,
            overrides: rates.service_prices.iter().map(|p| (p.service_id, p.price_per_1000)).collect(),
        }
    }

    /// The user's price per 1,000 units of `service`: their own price of it, else the catalogue
    /// price less their discount.
    pub fn rate(&self, service: &Service) -> Points {
        match self.overrides.get(&service.service_id) {
            Some(own) => *own,
            None => self.discounted(service.price_per_1000),
        }
    }

    /// The user's price of a package: its price less their discount (per-service prices do not
    /// apply to packages).
    pub fn package_price(&self, package: &Package) -> Points {
        self.discounted(package.price)
    }

    /// The user's discount on catalogue prices.
    pub fn discount(&self) -> Bps {
        self.discount
    }

    /// Whether the user has their own price of this service.
    pub fn has_own_price(&self, service_id: i64) -> bool {
        self.overrides.contains_key(&service_id)
    }

    fn discounted(&self, price: Points) -> Points {
        // Stored prices are never negative and stored discounts never above 100 %: the rule
        // cannot refuse them; the catalogue price is the safe answer if it ever did.
        money::discounted_price(price, self.discount).unwrap_or(price)
    }
}

/// The prices of `user_id` (the catalogue's for an unknown user), from the price cache.
pub async fn price_book(app: &App, user_id: &str) -> Result<PriceBook, ApiError> {
    let now = app.clock.now();
    if let Some(book) = app.prices.book(user_id, now) {
        return Ok(book);
    }
    let epoch = app.prices.epoch();
    let book = app.store.user_rates(user_id).await?.map(|r| PriceBook::from_rates(&r)).unwrap_or_default();
    app.prices.put_book(user_id, &book, now, epoch);
    Ok(book)
}

/// A service as an order prices it, from the price cache.
pub async fn priced_service(app: &App, service_id: i64) -> Result<Option<Service>, ApiError> {
    let now = app.clock.now();
    if let Some(service) = app.prices.service(service_id, now) {
        return Ok(service);
    }
    let epoch = app.prices.epoch();
    let service = app.store.service(service_id).await?;
    app.prices.put_service(service_id, &service, now, epoch);
    Ok(service)
}

/// The prices of whoever calls a public listing: a valid bearer session's user's, else the
/// catalogue's (`None`). A bad or expired token on a public page is not an error.
pub async fn viewer_book(app: &App, req: &Req) -> Result<Option<PriceBook>, ApiError> {
    let Some(token) = auth::bearer_token(&req.headers) else { return Ok(None) };
    let Some(user) = app.store.session_user(&auth::token_hash(&token), app.clock.now()).await? else {
        return Ok(None);
    };
    price_book(app, &user.user_id).await.map(Some)
}

fn not_found(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::not_found("user or service"),
        e => e.into(),
    }
}

/// A user's own price of a service.
#[derive(Serialize, JsonSchema)]
pub struct ServicePriceView {
    pub service_id: i64,
    pub service_name: String,
    /// The catalogue's points per 1000 units.
    pub base_price_per_1000: Points,
    /// The user's points per 1000 units.
    pub price_per_1000: Points,
    /// RFC 3339 UTC.
    pub updated_at: String,
}

/// A user's terms: their discount on catalogue prices and their own prices of services.
#[derive(Serialize, JsonSchema)]
pub struct RatesView {
    pub success: bool,
    pub user_id: String,
    /// The discount on catalogue prices, in basis points (100 = 1 %).
    pub discount_bps: Bps,
    pub service_prices: Vec<ServicePriceView>,
}

fn rates_view(r: &UserRates) -> RatesView {
    RatesView {
        success: true,
        user_id: r.user_id.clone(),
        discount_bps: r.discount,
        service_prices: r
            .service_prices
            .iter()
            .map(|p| ServicePriceView {
                service_id: p.service_id,
                service_name: p.service_name.clone(),
                base_price_per_1000: p.base_price_per_1000,
                price_per_1000: p.price_per_1000,
                updated_at: views::rfc3339(p.updated_at),
            })
            .collect(),
    }
}

/// `GET /api/admin/users/{user_id}/rates`.
pub async fn admin_rates(app: &App, user_id: &str) -> Result<Json<RatesView>, ApiError> {
    let rates = app.store.user_rates(user_id).await?.ok_or_else(|| ApiError::not_found("user"))?;
    Ok(Json(rates_view(&rates)))
}

/// `PUT /api/admin/users/{user_id}/rates`.
#[derive(Deserialize, JsonSchema)]
pub struct SetDiscount {
    /// The user's discount on catalogue prices, in basis points: 0 to 10000.
    #[schemars(required)]
    discount_bps: Option<i64>,
}

/// `PUT /api/admin/users/{user_id}/rates` `{"discount_bps": N}` (0..=10000), audited.
pub async fn admin_set_discount(
    app: &App,
    caller: &Caller,
    user_id: &str,
    req: &Req,
) -> Result<Json<RatesView>, ApiError> {
    let body: SetDiscount = req.json()?;
    let bps = body.discount_bps.ok_or_else(|| {
        ApiError::invalid_field("discount_bps", "missing_field", "discount_bps is required")
    })?;
    let discount = u32::try_from(bps).ok().and_then(|b| Bps::share(b).ok()).ok_or_else(|| {
        ApiError::invalid_field("discount_bps", "invalid_discount", "discount_bps must be 0..=10000")
    })?;
    let audit = NewAudit {
        actor: caller.actor(),
        action: "users.set_discount".into(),
        target: Some(user_id.to_owned()),
        detail: json!({"discount_bps": discount.0}).to_string(),
    };
    let rates =
        app.store.set_user_discount(user_id, discount, audit, app.clock.now()).await.map_err(not_found)?;
    Ok(Json(rates_view(&rates)))
}

/// `PUT /api/admin/users/{user_id}/service-prices/{id}`.
#[derive(Deserialize, JsonSchema)]
pub struct SetServicePrice {
    /// The user's own points per 1000 units of the service: 0 to 100000000.
    #[schemars(required)]
    price_per_1000: Option<i64>,
}

/// `PUT /api/admin/users/{user_id}/service-prices/{service_id}` `{"price_per_1000": N}`, audited.
pub async fn admin_set_service_price(
    app: &App,
    caller: &Caller,
    user_id: &str,
    raw_service: &str,
    req: &Req,
) -> Result<Json<RatesView>, ApiError> {
    let service_id = parse_id("service_id", raw_service)?;
    let body: SetServicePrice = req.json()?;
    let price = body.price_per_1000.ok_or_else(|| {
        ApiError::invalid_field("price_per_1000", "missing_field", "price_per_1000 is required")
    })?;
    if !(0..=validate::MAX_AMOUNT).contains(&price) {
        return Err(ApiError::invalid_field(
            "price_per_1000",
            "invalid_price",
            "price_per_1000 must be 0..=100000000",
        ));
    }
    let audit = NewAudit {
        actor: caller.actor(),
        action: "users.set_service_price".into(),
        target: Some(user_id.to_owned()),
        detail: json!({"service_id": service_id, "price_per_1000": price}).to_string(),
    };
    let rates = app
        .store
        .set_service_price(user_id, service_id, Points(price), audit, app.clock.now())
        .await
        .map_err(not_found)?;
    Ok(Json(rates_view(&rates)))
}

/// `DELETE /api/admin/users/{user_id}/service-prices/{service_id}`, audited; 404 when the user
/// had no own price of that service.
pub async fn admin_delete_service_price(
    app: &App,
    caller: &Caller,
    user_id: &str,
    raw_service: &str,
) -> Result<Json<RatesView>, ApiError> {
    let service_id = parse_id("service_id", raw_service)?;
    let audit = NewAudit {
        actor: caller.actor(),
        action: "users.delete_service_price".into(),
        target: Some(user_id.to_owned()),
        detail: json!({"service_id": service_id}).to_string(),
    };
    let rates = app
        .store
        .delete_service_price(user_id, service_id, audit, app.clock.now())
        .await
        .map_err(not_found)?;
    Ok(Json(rates_view(&rates)))
}

/// A service at the caller's price.
#[derive(Serialize, JsonSchema)]
pub struct MyServicePrice {
    pub service_id: i64,
    pub name: String,
    /// The catalogue's points per 1000 units.
    pub base_price_per_1000: Points,
    /// The caller's points per 1000 units.
    pub price_per_1000: Points,
    /// Whether it is the caller's own price (else the catalogue's less their discount).
    pub own_price: bool,
}

/// A package at the caller's price.
#[derive(Serialize, JsonSchema)]
pub struct MyPackagePrice {
    pub package_id: i64,
    pub name: String,
    /// The catalogue's price in points.
    pub base_price: Points,
    /// The caller's price in points.
    pub price: Points,
}

/// The caller's terms, and what they pay for everything on sale.
#[derive(Serialize, JsonSchema)]
pub struct MyRates {
    #[serde(flatten)]
    pub rates: RatesView,
    pub services: Vec<MyServicePrice>,
    pub packages: Vec<MyPackagePrice>,
}

/// `GET /api/user/rates`: the caller's discount, own prices, and the price of every active
/// service and package as they pay it.
pub async fn mine(app: &App, caller: &Caller) -> Result<Json<MyRates>, ApiError> {
    let user = caller.user().ok_or_else(ApiError::unauthorized)?;
    let rates = app.store.user_rates(&user.user_id).await?.ok_or_else(ApiError::unauthorized)?;
    let book = PriceBook::from_rates(&rates);
    let services = app.store.list_services(true, None, 10_000, 0).await?;
    let packages = app.store.list_packages(true, 10_000, 0).await?;
    Ok(Json(MyRates {
        rates: rates_view(&rates),
        services: services
            .rows
            .iter()
            .map(|s| MyServicePrice {
                service_id: s.service_id,
                name: s.name.clone(),
                base_price_per_1000: s.price_per_1000,
                price_per_1000: book.rate(s),
                own_price: book.has_own_price(s.service_id),
            })
            .collect(),
        packages: packages
            .rows
            .iter()
            .map(|p| MyPackagePrice {
                package_id: p.package_id,
                name: p.name.clone(),
                base_price: p.price,
                price: book.package_price(p),
            })
            .collect(),
    }))
}

crate::router::route_table! {
    MyRates: GET "/api/user/rates", User, "rates.mine", reply Json<MyRates>,
        |app, caller, _| mine(app, caller);
    AdminUserRates: GET "/api/admin/users/{user_id}/rates", Admin, "admin.users.rates", reply Json<RatesView>,
        |app, _, _, user_id| admin_rates(app, user_id);
    AdminSetUserDiscount: PUT "/api/admin/users/{user_id}/rates", Admin, "admin.users.set_discount",
        body SetDiscount, reply Json<RatesView>,
        |app, caller, req, user_id| admin_set_discount(app, caller, user_id, req);
    AdminSetServicePrice: PUT "/api/admin/users/{user_id}/service-prices/{id}", Admin,
        "admin.users.set_service_price", body SetServicePrice, reply Json<RatesView>,
        |app, caller, req, user_id, id| admin_set_service_price(app, caller, user_id, id, req);
    AdminDeleteServicePrice: DELETE "/api/admin/users/{user_id}/service-prices/{id}", Admin,
        "admin.users.delete_service_price", reply Json<RatesView>,
        |app, caller, _, user_id, id| admin_delete_service_price(app, caller, user_id, id);
}
