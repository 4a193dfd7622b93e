//! The service catalogue: admin CRUD, import from the panel, the public list.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use snspmt_core::money::{self, Bps};
use snspmt_core::upstream::smm::ServiceType;
use snspmt_core::{validate, Points};
use snspmt_store::{NewAudit, NewService, Service};

use super::Paging;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::request::Req;
use crate::router::Json;
use crate::{jobs, views, App};

/// The catalogue on sale.
#[derive(Serialize, JsonSchema)]
pub struct PublicServices {
    pub success: bool,
    pub services: Vec<views::PublicServiceView>,
    /// The services' ids as text (the original client reads them so).
    pub service_ids: Vec<String>,
    /// Services on sale.
    pub total: i64,
}

/// Every active service (the whole catalogue: customers choose from it), at the prices of the
/// signed-in caller when a bearer session comes with the request (per-user rates), else at the
/// catalogue's.
pub async fn public_services(app: &App, req: &Req) -> Result<Json<PublicServices>, ApiError> {
    let book = super::rates::viewer_book(app, req).await?;
    let page = app.store.list_services(true, None, 10_000, 0).await?;
    // `service_ids`: the original client reads the ids as strings.
    let service_ids: Vec<String> = page.rows.iter().map(|s| s.service_id.to_string()).collect();
    let services = page
        .rows
        .iter()
        .map(|s| {
            let mut v = views::public_service(s);
            if let Some(book) = &book {
                v.price_per_1000 = book.rate(s);
                v.base_price_per_1000 = Some(s.price_per_1000);
            }
            v
        })
        .collect();
    Ok(Json(PublicServices { success: true, services, service_ids, total: page.total }))
}

/// `GET /api/admin/services`: the catalogue, active or not.
#[derive(Deserialize, JsonSchema)]
pub struct AdminServicesQuery {
    /// `1`/`true`: only the services on sale.
    #[schemars(extend("enum" = ["1", "0", "true", "false"]))]
    active: Option<String>,
    /// Only this category (exactly).
    category: Option<String>,
    /// At most this many rows: 1 to 200, default 50.
    limit: Option<u32>,
    /// Skip this many rows first (default 0).
    offset: Option<u32>,
}

/// A yes/no list filter: `1`/`true` or `0`/`false` (400 `invalid_query` naming it otherwise).
pub(crate) fn yes_no(name: &str, value: Option<&str>) -> Result<Option<bool>, ApiError> {
    match value {
        None => Ok(None),
        Some("1" | "true") => Ok(Some(true)),
        Some("0" | "false") => Ok(Some(false)),
        Some(_) => {
            Err(ApiError::invalid_field(name, "invalid_query", format!("{name} must be 1, 0, true or false")))
        }
    }
}

/// A page of the catalogue as the operator sees it.
#[derive(Serialize, JsonSchema)]
pub struct ServicePage {
    pub services: Vec<views::ServiceView>,
    /// Services matching the filter, in all.
    pub total: i64,
    /// The page size used.
    pub limit: i64,
    pub offset: i64,
}

pub async fn admin_services(app: &App, req: &Req) -> Result<Json<ServicePage>, ApiError> {
    let query: AdminServicesQuery = req.query_as()?;
    let paging = Paging::of(query.limit, query.offset)?;
    let active_only = yes_no("active", query.active.as_deref())?.unwrap_or(false);
    let page =
        app.store.list_services(active_only, query.category.as_deref(), paging.limit, paging.offset).await?;
    Ok(Json(ServicePage {
        services: page.rows.iter().map(views::service).collect(),
        total: page.total,
        limit: paging.limit,
        offset: paging.offset,
    }))
}

/// A service as it is now.
#[derive(Serialize, JsonSchema)]
pub struct ServiceAnswer {
    pub service: views::ServiceView,
}

/// A service an operator created or changed.
#[derive(Serialize, JsonSchema)]
pub struct ServiceChanged {
    pub success: bool,
    pub service: views::ServiceView,
}

/// Services imported from the panel.
#[derive(Serialize, JsonSchema)]
pub struct Imported {
    pub success: bool,
    /// New services.
    pub inserted: i64,
    /// Services already known (by the panel's id), updated.
    pub updated: i64,
}

/// The upstream panel's id of a service: its text, or a non-negative integer.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum ProviderId {
    Number(u64),
    Text(String),
}

/// A service as an admin sends it; on creation `provider_service_id`, `name`,
/// `price_per_1000`, `min_quantity` and `max_quantity` are required, on update absent fields
/// keep their value.
#[derive(Deserialize, Default, JsonSchema)]
pub struct ServiceBody {
    /// The upstream panel's id of the service (up to 64 characters).
    #[schemars(with = "Option<ProviderId>")]
    provider_service_id: Option<Value>,
    name: Option<String>,
    category: Option<String>,
    platform: Option<String>,
    /// The upstream type (`default`, `custom_comments`, …; spaces, case and hyphens do not
    /// matter); `default` when a new service has none.
    #[serde(rename = "type")]
    service_type: Option<String>,
    /// Points per 1000 units, 0 to 100000000.
    price_per_1000: Option<i64>,
    /// At least 1.
    min_quantity: Option<i64>,
    /// At least `min_quantity`, at most 1000000000.
    max_quantity: Option<i64>,
    /// Drip-feed offered (default no).
    dripfeed: Option<bool>,
    /// Refills offered (default no).
    refill: Option<bool>,
    /// Cancels offered (default no).
    cancel: Option<bool>,
    /// On sale (default yes).
    is_active: Option<bool>,
    description: Option<String>,
}

fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() && s.len() <= 64 => Some(s.trim().to_owned()),
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        _ => None,
    }
}

fn merged(body: ServiceBody, base: Option<&Service>) -> Result<NewService, ApiError> {
    let missing = |f: &str| ApiError::invalid_field(f, "missing_field", format!("{f} is required"));
    let provider_service_id = match (&body.provider_service_id, base) {
        (Some(v), _) => id_text(v).ok_or_else(|| {
            ApiError::invalid_field(
                "provider_service_id",
                "invalid_type",
                "provider_service_id must be an id",
            )
        })?,
        (None, Some(b)) => b.provider_service_id.clone(),
        (None, None) => return Err(missing("provider_service_id")),
    };
    let name = match (body.name.as_deref(), base) {
        (Some(n), _) => validate::short_text("name", n)?.to_owned(),
        (None, Some(b)) => b.name.clone(),
        (None, None) => return Err(missing("name")),
    };
    if name.is_empty() {
        return Err(missing("name"));
    }
    let text = |f: &'static str, v: Option<String>, old: Option<&String>| -> Result<String, ApiError> {
        match v {
            Some(v) => Ok(validate::short_text(f, &v)?.to_owned()),
            None => Ok(old.cloned().unwrap_or_default()),
        }
    };
    let int = |f: &str, v: Option<i64>, old: Option<i64>| v.or(old).ok_or_else(|| missing(f));
    let price = int("price_per_1000", body.price_per_1000, base.map(|b| b.price_per_1000.0))?;
    let min = int("min_quantity", body.min_quantity, base.map(|b| b.min_quantity))?;
    let max = int("max_quantity", body.max_quantity, base.map(|b| b.max_quantity))?;
    if !(0..=validate::MAX_AMOUNT).contains(&price) {
        return Err(ApiError::invalid_field(
            "price_per_1000",
            "invalid_price",
            "price_per_1000 must be 0..=100000000",
        ));
    }
    if min < 1 || max < min || max > 1_000_000_000 {
        return Err(ApiError::invalid_field(
            "min_quantity",
            "invalid_quantity",
            "need 1 <= min_quantity <= max_quantity",
        ));
    }
    let service_type = match (body.service_type.as_deref(), base) {
        (Some(t), _) => ServiceType::parse(t).as_str().to_owned(),
        (None, Some(b)) => b.service_type.clone(),
        (None, None) => ServiceType::Default.as_str().to_owned(),
    };
    let description = match body.description {
        Some(d) => validate::description(&d)?.to_owned(),
        None => base.map(|b| b.description.clone()).unwrap_or_default(),
    };
    let flag = |v: Option<bool>, old: Option<bool>, default: bool| v.or(old).unwrap_or(default);
    Ok(NewService {
        provider_service_id,
        name,
        category: text("category", body.category, base.map(|b| &b.category))?,
        platform: text("platform", body.platform, base.map(|b| &b.platform))?,
        service_type,
        price_per_1000: Points(price),
        min_quantity: min,
        max_quantity: max,
        dripfeed: flag(body.dripfeed, base.map(|b| b.dripfeed), false),
        refill: flag(body.refill, base.map(|b| b.refill), false),
        cancel: flag(body.cancel, base.map(|b| b.cancel), false),
        is_active: flag(body.is_active, base.map(|b| b.is_active), true),
        description,
    })
}

fn audit(caller: &Caller, action: &str, target: Option<String>, detail: Value) -> NewAudit {
    NewAudit { actor: caller.actor(), action: action.into(), target, detail: detail.to_string() }
}

pub async fn create_service(app: &App, caller: &Caller, req: &Req) -> Result<Json<ServiceChanged>, ApiError> {
    let s = merged(req.json()?, None)?;
    let a = audit(caller, "services.create", Some(s.provider_service_id.clone()), json!({"name": s.name}));
    let service = app.store.create_service(s, a, app.clock.now()).await?;
    Ok(Json(ServiceChanged { success: true, service: views::service(&service) }))
}

pub fn parse_id(field: &str, raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::invalid_field(field, "invalid_id", format!("{field} must be a positive integer"))
    })
}

async fn existing(app: &App, id: i64) -> Result<Service, ApiError> {
    app.store.service(id).await?.ok_or_else(|| ApiError::not_found("service"))
}

pub async fn service(app: &App, raw_id: &str) -> Result<Json<ServiceAnswer>, ApiError> {
    let s = existing(app, parse_id("service_id", raw_id)?).await?;
    Ok(Json(ServiceAnswer { service: views::service(&s) }))
}

pub async fn update_service(
    app: &App,
    caller: &Caller,
    raw_id: &str,
    req: &Req,
) -> Result<Json<ServiceChanged>, ApiError> {
    let id = parse_id("service_id", raw_id)?;
    let base = existing(app, id).await?;
    let s = merged(req.json()?, Some(&base))?;
    let a = audit(
        caller,
        "services.update",
        Some(id.to_string()),
        json!({"name": s.name, "price_per_1000": s.price_per_1000.0}),
    );
    let service = app.store.update_service(id, s, a, app.clock.now()).await?;
    Ok(Json(ServiceChanged { success: true, service: views::service(&service) }))
}

/// Delete = deactivate: orders keep naming the service.
pub async fn deactivate_service(
    app: &App,
    caller: &Caller,
    raw_id: &str,
) -> Result<Json<ServiceChanged>, ApiError> {
    let id = parse_id("service_id", raw_id)?;
    let base = existing(app, id).await?;
    let s = merged(ServiceBody { is_active: Some(false), ..Default::default() }, Some(&base))?;
    let a = audit(caller, "services.deactivate", Some(id.to_string()), json!({}));
    let service = app.store.update_service(id, s, a, app.clock.now()).await?;
    Ok(Json(ServiceChanged { success: true, service: views::service(&service) }))
}

/// `POST /api/admin/services/import`: the panel's services, priced in points.
#[derive(Deserialize, JsonSchema)]
pub struct Import {
    /// Won per US dollar, 1 to 100000 (the panel's rates are in USD).
    usd_krw: u32,
    /// The markup on the panel's rate, in basis points (0 to 100000; 10000 = +100 %).
    markup_bps: u32,
}

fn platform_of(name: &str, category: &str) -> String {
    let text = format!("{name} {category}").to_lowercase();
    ["instagram", "youtube", "tiktok", "facebook", "twitter", "telegram", "threads", "naver", "spotify"]
        .into_iter()
        .find(|p| text.contains(p))
        .unwrap_or("")
        .to_owned()
}

pub async fn import_services(app: &App, caller: &Caller, req: &Req) -> Result<Json<Imported>, ApiError> {
    let body: Import = req.json()?;
    if !(1..=100_000).contains(&body.usd_krw) {
        return Err(ApiError::invalid_field("usd_krw", "invalid_rate", "usd_krw must be 1..=100000"));
    }
    if body.markup_bps > 100_000 {
        return Err(ApiError::invalid_field("markup_bps", "invalid_rate", "markup_bps must be 0..=100000"));
    }
    let client = jobs::smm_client(app)?;
    let listed = client.services().await.map_err(upstream_error)?;
    let mut services = Vec::with_capacity(listed.len());
    for s in listed {
        let price = money::import_price(s.rate_micros, body.usd_krw, Bps(body.markup_bps))
            .map_err(|_| ApiError::invalid_field("usd_krw", "invalid_rate", "the price would overflow"))?;
        let (min, max) = (i64::try_from(s.min).unwrap_or(1).max(1), i64::try_from(s.max).unwrap_or(i64::MAX));
        services.push(NewService {
            platform: platform_of(&s.name, &s.category),
            provider_service_id: s.service,
            name: s.name.chars().take(validate::MAX_NAME_LEN).collect(),
            category: s.category.chars().take(validate::MAX_NAME_LEN).collect(),
            service_type: s.service_type.as_str().to_owned(),
            price_per_1000: price,
            min_quantity: min,
            max_quantity: max.max(min),
            dripfeed: s.dripfeed,
            refill: s.refill,
            cancel: s.cancel,
            is_active: true,
            description: String::new(),
        });
    }
    let a = audit(
        caller,
        "services.import",
        None,
        json!({"usd_krw": body.usd_krw, "markup_bps": body.markup_bps, "count": services.len()}),
    );
    let counts = app.store.import_services(services, a, app.clock.now()).await?;
    Ok(Json(Imported { success: true, inserted: counts.inserted, updated: counts.updated }))
}

/// An upstream that answered badly is 502 `upstream_error`; one that is busy (our limiter had
/// no slot in time, or the panel answered 429) is 503 `unavailable`: try again later.
pub fn upstream_error(e: crate::upstream::smm::SmmFailure) -> ApiError {
    use crate::upstream::smm::SmmFailure;
    crate::log::warn(&format!("SMM panel: {e}"));
    match e {
        SmmFailure::Busy | SmmFailure::Throttled => ApiError::new(
            hyper::StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the SMM panel is busy; try again later",
        ),
        SmmFailure::Call(_) | SmmFailure::BadAnswer { .. } | SmmFailure::Refused(_) => ApiError::new(
            hyper::StatusCode::BAD_GATEWAY,
            "upstream_error",
            "the SMM panel did not answer usefully",
        ),
    }
}

crate::router::route_table! {
    PublicServices: GET "/api/smm-panel/services", Public, "services.public", reply Json<PublicServices>,
        |app, _, req| public_services(app, req);
    AdminServices: GET "/api/admin/services", Admin, "admin.services", query AdminServicesQuery,
        reply Json<ServicePage>,
        |app, _, req| admin_services(app, req);
    AdminCreateService: POST "/api/admin/services", Admin, "admin.services.create", body ServiceBody,
        reply Json<ServiceChanged>,
        |app, caller, req| create_service(app, caller, req);
    AdminImportServices: POST "/api/admin/services/import", Admin, "admin.services.import", body Import,
        reply Json<Imported>,
        |app, caller, req| import_services(app, caller, req);
    AdminService: GET "/api/admin/services/{id}", Admin, "admin.services.get", reply Json<ServiceAnswer>,
        |app, _, _, id| service(app, id);
    AdminUpdateService: PUT "/api/admin/services/{id}", Admin, "admin.services.update", body ServiceBody,
        reply Json<ServiceChanged>,
        |app, caller, req, id| update_service(app, caller, id, req);
    AdminDeleteService: DELETE "/api/admin/services/{id}", Admin, "admin.services.delete",
        reply Json<ServiceChanged>,
        |app, caller, _, id| deactivate_service(app, caller, id);
}
