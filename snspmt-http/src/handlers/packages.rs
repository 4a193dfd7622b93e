//! Packages of the catalogue: admin CRUD and the public list.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use snspmt_core::plan::{self, Step};
use snspmt_core::{validate, Points};
use snspmt_store::{NewAudit, NewPackage, Package};

use super::catalog::parse_id;
use super::{PageQuery, Paging};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::request::Req;
use crate::router::Json;
use crate::{views, App};

/// One step of a package: a service, run `repeat` times.
#[derive(Serialize, JsonSchema)]
pub struct StepView {
    pub service_id: i64,
    /// Units per run.
    pub quantity: u64,
    pub name: String,
    /// Minutes after the previous part was accepted.
    pub delay_minutes: u32,
    /// How many times the step runs.
    pub repeat: u32,
}

/// A package of the catalogue.
#[derive(Serialize, JsonSchema)]
pub struct PackageView {
    pub package_id: i64,
    pub name: String,
    pub description: String,
    /// Points: the signed-in caller's price in the public list asked for with a session, else
    /// the catalogue's.
    pub price: Points,
    /// The catalogue's price in points, beside the caller's own; only in the public list asked
    /// for with a session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_price: Option<Points>,
    pub steps: Vec<StepView>,
    /// Upstream submissions an order makes: the sum of the steps' `repeat`.
    pub total_submissions: u64,
    /// Whether it is on sale (a deleted package is inactive).
    pub is_active: bool,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub updated_at: String,
}

fn view(p: &Package) -> PackageView {
    PackageView {
        package_id: p.package_id,
        name: p.name.clone(),
        description: p.description.clone(),
        price: p.price,
        base_price: None,
        steps: p
            .steps
            .iter()
            .map(|s| StepView {
                service_id: s.service_id,
                quantity: s.quantity,
                name: s.name.clone(),
                delay_minutes: s.delay_minutes.unwrap_or(plan::DEFAULT_DELAY_MINUTES),
                repeat: s.repeat,
            })
            .collect(),
        total_submissions: p.steps.iter().map(|s| u64::from(s.repeat)).sum::<u64>(),
        is_active: p.is_active,
        created_at: views::rfc3339(p.created_at),
        updated_at: views::rfc3339(p.updated_at),
    }
}

/// The packages on sale.
#[derive(Serialize, JsonSchema)]
pub struct PublicPackages {
    pub packages: Vec<PackageView>,
    /// Packages on sale.
    pub total: i64,
}

/// Active packages, at the signed-in caller's price (their discount) when a bearer session
/// comes with the request.
pub async fn public(app: &App, req: &Req) -> Result<Json<PublicPackages>, ApiError> {
    let book = super::rates::viewer_book(app, req).await?;
    let page = app.store.list_packages(true, 10_000, 0).await?;
    let packages = page
        .rows
        .iter()
        .map(|p| {
            let mut v = view(p);
            if let Some(book) = &book {
                v.price = book.package_price(p);
                v.base_price = Some(p.price);
            }
            v
        })
        .collect();
    Ok(Json(PublicPackages { packages, total: page.total }))
}

/// A page of packages, active or not.
#[derive(Serialize, JsonSchema)]
pub struct PackagePage {
    pub packages: Vec<PackageView>,
    /// Packages in all.
    pub total: i64,
    /// The page size used.
    pub limit: i64,
    pub offset: i64,
}

pub async fn admin_list(app: &App, req: &Req) -> Result<Json<PackagePage>, ApiError> {
    let query: PageQuery = req.query_as()?;
    let paging = Paging::of(query.limit, query.offset)?;
    let page = app.store.list_packages(false, paging.limit, paging.offset).await?;
    Ok(Json(PackagePage {
        packages: page.rows.iter().map(view).collect(),
        total: page.total,
        limit: paging.limit,
        offset: paging.offset,
    }))
}

/// A package as it is now.
#[derive(Serialize, JsonSchema)]
pub struct PackageAnswer {
    pub package: PackageView,
}

/// A package an operator created or changed.
#[derive(Serialize, JsonSchema)]
pub struct PackageChanged {
    pub success: bool,
    pub package: PackageView,
}

/// One step of a package as an admin sends it.
#[derive(Deserialize, JsonSchema)]
pub struct StepBody {
    /// A service of the catalogue.
    service_id: i64,
    /// Units per run, within the service's minimum and maximum.
    quantity: u64,
    /// Minutes after the previous part was accepted (at most 4 weeks); 1440 by default.
    delay_minutes: Option<u32>,
    /// How many times the step runs (default 1).
    repeat: Option<u32>,
    name: Option<String>,
}

/// A package as an admin sends it; on creation `name`, `price` and `steps` are required, on
/// update absent fields keep their value.
#[derive(Deserialize, JsonSchema)]
pub struct PackageBody {
    name: Option<String>,
    description: Option<String>,
    /// The package's price in points (at least 1).
    price: Option<i64>,
    /// The steps, run in order (replaces all of them on update).
    steps: Option<Vec<StepBody>>,
    /// On sale (default yes).
    is_active: Option<bool>,
}

async fn merged(app: &App, body: PackageBody, base: Option<&Package>) -> Result<NewPackage, ApiError> {
    let missing = |f: &str| ApiError::invalid_field(f, "missing_field", format!("{f} is required"));
    let name = match (body.name.as_deref(), base) {
        (Some(n), _) => validate::short_text("name", n)?.to_owned(),
        (None, Some(b)) => b.name.clone(),
        (None, None) => return Err(missing("name")),
    };
    if name.is_empty() {
        return Err(missing("name"));
    }
    let price = body.price.or(base.map(|b| b.price.0)).ok_or_else(|| missing("price"))?;
    let price = validate::positive_amount("price", price)?;
    let steps: Vec<Step> = match (body.steps, base) {
        (Some(steps), _) => steps
            .into_iter()
            .map(|s| {
                Ok(Step {
                    service_id: s.service_id,
                    quantity: s.quantity,
                    delay_minutes: s.delay_minutes,
                    repeat: s.repeat.unwrap_or(1),
                    name: s
                        .name
                        .as_deref()
                        .map(|n| validate::short_text("steps", n))
                        .transpose()?
                        .unwrap_or("")
                        .to_owned(),
                })
            })
            .collect::<Result<_, ApiError>>()?,
        (None, Some(b)) => b.steps.clone(),
        (None, None) => return Err(missing("steps")),
    };
    plan::package_parts(&steps, price)
        .map_err(|e| ApiError::invalid_field("steps", "invalid_steps", e.to_string()))?;
    for s in &steps {
        let service = app.store.service(s.service_id).await?.ok_or_else(|| {
            ApiError::invalid_field("steps", "invalid_service", format!("no service {}", s.service_id))
        })?;
        let q = i64::try_from(s.quantity).unwrap_or(i64::MAX);
        if q < service.min_quantity || q > service.max_quantity {
            return Err(ApiError::invalid_field(
                "steps",
                "invalid_quantity",
                format!(
                    "step quantity outside {}..={} of service {}",
                    service.min_quantity, service.max_quantity, s.service_id
                ),
            ));
        }
        if s.delay_minutes.is_some_and(|d| d > 10_080 * 4) {
            return Err(ApiError::invalid_field(
                "steps",
                "invalid_delay",
                "delay_minutes is at most 4 weeks",
            ));
        }
    }
    let description = match body.description {
        Some(d) => validate::description(&d)?.to_owned(),
        None => base.map(|b| b.description.clone()).unwrap_or_default(),
    };
    Ok(NewPackage {
        name,
        description,
        price: Points(price.0),
        steps,
        is_active: body.is_active.or(base.map(|b| b.is_active)).unwrap_or(true),
    })
}

fn audit(caller: &Caller, action: &str, target: Option<String>) -> NewAudit {
    NewAudit { actor: caller.actor(), action: action.into(), target, detail: "{}".into() }
}

pub async fn create(app: &App, caller: &Caller, req: &Req) -> Result<Json<PackageChanged>, ApiError> {
    let p = merged(app, req.json()?, None).await?;
    let package =
        app.store.create_package(p, audit(caller, "packages.create", None), app.clock.now()).await?;
    Ok(Json(PackageChanged { success: true, package: view(&package) }))
}

async fn existing(app: &App, raw_id: &str) -> Result<Package, ApiError> {
    let id = parse_id("package_id", raw_id)?;
    app.store.package(id).await?.ok_or_else(|| ApiError::not_found("package"))
}

pub async fn get(app: &App, raw_id: &str) -> Result<Json<PackageAnswer>, ApiError> {
    Ok(Json(PackageAnswer { package: view(&existing(app, raw_id).await?) }))
}

pub async fn update(
    app: &App,
    caller: &Caller,
    raw_id: &str,
    req: &Req,
) -> Result<Json<PackageChanged>, ApiError> {
    let base = existing(app, raw_id).await?;
    let p = merged(app, req.json()?, Some(&base)).await?;
    let a = audit(caller, "packages.update", Some(base.package_id.to_string()));
    let package = app.store.update_package(base.package_id, p, a, app.clock.now()).await?;
    Ok(Json(PackageChanged { success: true, package: view(&package) }))
}

/// Delete = deactivate: orders keep their package.
pub async fn deactivate(app: &App, caller: &Caller, raw_id: &str) -> Result<Json<PackageChanged>, ApiError> {
    let base = existing(app, raw_id).await?;
    let p = NewPackage {
        name: base.name.clone(),
        description: base.description.clone(),
        price: base.price,
        steps: base.steps.clone(),
        is_active: false,
    };
    let a = audit(caller, "packages.deactivate", Some(base.package_id.to_string()));
    let package = app.store.update_package(base.package_id, p, a, app.clock.now()).await?;
    Ok(Json(PackageChanged { success: true, package: view(&package) }))
}

crate::router::route_table! {
    PublicPackages: GET "/api/packages", Public, "packages.public", reply Json<PublicPackages>,
        |app, _, req| public(app, req);
    AdminPackages: GET "/api/admin/packages", Admin, "admin.packages", query PageQuery, reply Json<PackagePage>,
        |app, _, req| admin_list(app, req);
    AdminCreatePackage: POST "/api/admin/packages", Admin, "admin.packages.create", body PackageBody,
        reply Json<PackageChanged>,
        |app, caller, req| create(app, caller, req);
    AdminPackage: GET "/api/admin/packages/{id}", Admin, "admin.packages.get", reply Json<PackageAnswer>,
        |app, _, _, id| get(app, id);
    AdminUpdatePackage: PUT "/api/admin/packages/{id}", Admin, "admin.packages.update", body PackageBody,
        reply Json<PackageChanged>,
        |app, caller, req, id| update(app, caller, id, req);
    AdminDeletePackage: DELETE "/api/admin/packages/{id}", Admin, "admin.packages.delete",
        reply Json<PackageChanged>,
        |app, caller, _, id| deactivate(app, caller, id);
}
