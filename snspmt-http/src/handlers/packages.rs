//! Packages of the catalogue: admin CRUD and the public list.

use serde::Deserialize;
use serde_json::{json, Value};
use snspmt_core::plan::{self, Step};
use snspmt_core::{validate, Points};
use snspmt_store::{NewAudit, NewPackage, Package};

use super::catalog::parse_id;
use super::{ok, Paging, Reply};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::request::Req;
use crate::router::Raw;
use crate::{views, App};

fn view(p: &Package) -> Value {
    json!({
        "package_id": p.package_id,
        "name": p.name,
        "description": p.description,
        "price": p.price.0,
        "steps": p.steps.iter().map(|s| json!({
            "service_id": s.service_id, "quantity": s.quantity, "name": s.name,
            "delay_minutes": s.delay_minutes.unwrap_or(plan::DEFAULT_DELAY_MINUTES), "repeat": s.repeat,
        })).collect::<Vec<_>>(),
        "total_submissions": p.steps.iter().map(|s| u64::from(s.repeat)).sum::<u64>(),
        "is_active": p.is_active,
        "created_at": views::rfc3339(p.created_at),
        "updated_at": views::rfc3339(p.updated_at),
    })
}

/// Active packages, at the signed-in caller's price (their discount) when a bearer session
/// comes with the request.
pub async fn public(app: &App, req: &Req) -> Reply {
    let book = super::rates::viewer_book(app, req).await?;
    let page = app.store.list_packages(true, 10_000, 0).await?;
    let packages: Vec<Value> = page
        .rows
        .iter()
        .map(|p| {
            let mut v = view(p);
            if let Some(book) = &book {
                v["price"] = json!(book.package_price(p).0);
                v["base_price"] = json!(p.price.0);
            }
            v
        })
        .collect();
    ok(json!({"packages": packages, "total": page.total}))
}

pub async fn admin_list(app: &App, req: &Req) -> Reply {
    let paging = Paging::from(req)?;
    let page = app.store.list_packages(false, paging.limit, paging.offset).await?;
    ok(json!({"packages": page.rows.iter().map(view).collect::<Vec<_>>(), "total": page.total,
              "limit": paging.limit, "offset": paging.offset}))
}

#[derive(Deserialize)]
struct StepBody {
    service_id: i64,
    quantity: u64,
    delay_minutes: Option<u32>,
    repeat: Option<u32>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct PackageBody {
    name: Option<String>,
    description: Option<String>,
    price: Option<i64>,
    steps: Option<Vec<StepBody>>,
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

pub async fn create(app: &App, caller: &Caller, req: &Req) -> Reply {
    let p = merged(app, req.json()?, None).await?;
    let package =
        app.store.create_package(p, audit(caller, "packages.create", None), app.clock.now()).await?;
    ok(json!({"success": true, "package": view(&package)}))
}

async fn existing(app: &App, raw_id: &str) -> Result<Package, ApiError> {
    let id = parse_id("package_id", raw_id)?;
    app.store.package(id).await?.ok_or_else(|| ApiError::not_found("package"))
}

pub async fn get(app: &App, raw_id: &str) -> Reply {
    ok(json!({"package": view(&existing(app, raw_id).await?)}))
}

pub async fn update(app: &App, caller: &Caller, raw_id: &str, req: &Req) -> Reply {
    let base = existing(app, raw_id).await?;
    let p = merged(app, req.json()?, Some(&base)).await?;
    let a = audit(caller, "packages.update", Some(base.package_id.to_string()));
    let package = app.store.update_package(base.package_id, p, a, app.clock.now()).await?;
    ok(json!({"success": true, "package": view(&package)}))
}

/// Delete = deactivate: orders keep their package.
pub async fn deactivate(app: &App, caller: &Caller, raw_id: &str) -> Reply {
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
    ok(json!({"success": true, "package": view(&package)}))
}

crate::router::route_table! {
    PublicPackages: GET "/api/packages", Public, "packages.public", reply Raw,
        |app, _, req| public(app, req);
    AdminPackages: GET "/api/admin/packages", Admin, "admin.packages", reply Raw,
        |app, _, req| admin_list(app, req);
    AdminCreatePackage: POST "/api/admin/packages", Admin, "admin.packages.create", reply Raw,
        |app, caller, req| create(app, caller, req);
    AdminPackage: GET "/api/admin/packages/{id}", Admin, "admin.packages.get", reply Raw,
        |app, _, _, id| get(app, id);
    AdminUpdatePackage: PUT "/api/admin/packages/{id}", Admin, "admin.packages.update", reply Raw,
        |app, caller, req, id| update(app, caller, id, req);
    AdminDeletePackage: DELETE "/api/admin/packages/{id}", Admin, "admin.packages.delete", reply Raw,
        |app, caller, _, id| deactivate(app, caller, id);
}
