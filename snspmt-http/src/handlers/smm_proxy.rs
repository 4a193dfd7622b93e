//! The admin-only SMM panel proxy (it spends the panel's balance) and its connection test.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use snspmt_core::upstream::smm::{self, Form};

use super::catalog::upstream_error;
use snspmt_store::NewAudit;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::request::Req;
use crate::router::Json;
use crate::{jobs, App};

/// An id at the panel: its text, or a number.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum PanelId {
    Number(u64),
    Text(String),
}

/// Ids at the panel: a list, or the panel's own `"1,2,3"`.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum PanelIds {
    List(Vec<PanelId>),
    One(PanelId),
}

/// `POST /api/smm-panel`: one call of the SMM panel's API, with the panel's key added. `add`,
/// `refill` and `cancel` are audited.
#[derive(Deserialize, JsonSchema)]
pub struct Proxy {
    #[schemars(extend("enum" = ["services", "balance", "add", "status", "refill", "cancel"]))]
    action: String,
    /// `add`: the panel's service id.
    #[schemars(with = "Option<PanelId>")]
    service: Option<Value>,
    /// `add`: the target URL.
    link: Option<String>,
    /// `add`: units.
    quantity: Option<u64>,
    /// `add`: custom comments, one per line.
    comments: Option<String>,
    /// `add`: drip-feed runs (with `interval`).
    runs: Option<u32>,
    /// `add`: drip-feed minutes between runs.
    interval: Option<u32>,
    /// `status`, `refill`, `cancel`: the panel's order id.
    #[schemars(with = "Option<PanelId>")]
    order: Option<Value>,
    /// `status`, `cancel`: several of the panel's order ids.
    #[schemars(with = "Option<PanelIds>")]
    orders: Option<Value>,
}

/// The panel's answer, relayed.
#[derive(Serialize, JsonSchema)]
pub struct Relayed {
    /// `false` when the panel answered `{"error": …}`.
    pub success: bool,
    /// The panel's JSON answer, as it gave it.
    pub data: Value,
}

/// The panel's balance: the connection works.
#[derive(Serialize, JsonSchema)]
pub struct PanelBalance {
    pub success: bool,
    /// The panel's balance as a plain decimal string (`"100.84292"`), in its currency.
    pub balance: String,
    pub currency: Option<String>,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn ids(v: &Option<Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items.iter().filter_map(text).collect(),
        Some(Value::String(s)) => {
            s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
        }
        Some(other) => text(other).into_iter().collect(),
        None => Vec::new(),
    }
}

/// The ids of `cancel`: `orders`, or the one `order`.
fn cancel_ids(body: &Proxy) -> Vec<String> {
    match &body.orders {
        Some(_) => ids(&body.orders),
        None => body.order.as_ref().and_then(text).into_iter().collect(),
    }
}

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("invalid_request", e.to_string())
}

/// The proxy's actions that change something at the panel (spend its balance, cancel, refill).
/// They are audited before the call, so an attempt is on record whatever the panel answers;
/// the reads (`services`, `balance`, `status`) are not. The key is never in the record.
const WRITES: [&str; 3] = ["add", "refill", "cancel"];

pub async fn proxy(app: &App, caller: &Caller, req: &Req) -> Result<Json<Relayed>, ApiError> {
    let body: Proxy = req.json()?;
    let audit = WRITES.contains(&body.action.as_str()).then(|| NewAudit {
        actor: caller.actor(),
        action: format!("smm_proxy.{}", body.action),
        target: body.order.as_ref().and_then(text).or_else(|| body.service.as_ref().and_then(text)),
        detail: json!({
            "service": body.service.as_ref().and_then(text),
            "link": body.link,
            "quantity": body.quantity,
            "comment_lines": body.comments.as_deref().map(|c| c.lines().count()),
            "runs": body.runs,
            "interval": body.interval,
            "order": body.order.as_ref().and_then(text),
            "orders": if body.action == "cancel" { cancel_ids(&body) } else { ids(&body.orders) },
        })
        .to_string(),
    });
    let client = jobs::smm_client(app)?;
    let key = client.key().to_owned();
    let form: Form = match body.action.as_str() {
        "services" => smm::services_form(&key),
        "balance" => smm::balance_form(&key),
        "status" => match (&body.order, &body.orders) {
            (Some(o), _) => smm::status_form(&key, &text(o).ok_or_else(|| bad("order must be an id"))?),
            (None, Some(_)) => smm::multi_status_form(&key, &ids(&body.orders)).map_err(bad)?,
            (None, None) => {
                return Err(ApiError::invalid_field("order", "missing_field", "order or orders is required"))
            }
        },
        "refill" => smm::refill_form(
            &key,
            &body.order.as_ref().and_then(text).ok_or_else(|| bad("order is required"))?,
        ),
        "cancel" => smm::cancel_form(&key, &cancel_ids(&body)).map_err(bad)?,
        "add" => {
            let service = body.service.as_ref().and_then(text).ok_or_else(|| bad("service is required"))?;
            // What the admin sent goes through: `comments` alone is a custom-comments order (its
            // quantity is the number of lines); with a `quantity`, both are sent.
            let kind = if body.comments.is_some() && body.quantity.is_none() {
                smm::ServiceType::CustomComments
            } else {
                smm::ServiceType::Default
            };
            let order = smm::AddOrder {
                service: &service,
                service_type: &kind,
                link: body.link.as_deref().unwrap_or(""),
                quantity: body.quantity.unwrap_or(0),
                comments: body.comments.as_deref(),
                drip: match (body.runs, body.interval) {
                    (Some(runs), Some(interval)) => Some(smm::Drip { runs, interval }),
                    _ => None,
                },
                params: &smm::NO_PARAMS,
            };
            let mut form = smm::add_form(&key, &order).map_err(bad)?;
            if let (Some(comments), false) = (&body.comments, kind.takes_comments()) {
                form.push(("comments", comments.clone()));
            }
            form
        }
        _ => {
            return Err(ApiError::invalid_field(
                "action",
                "invalid_action",
                "action must be services, balance, add, status, refill or cancel",
            ))
        }
    };
    if let Some(audit) = audit {
        app.store.record_audit(audit, app.clock.now()).await?;
    }
    let answer = client.raw(form).await.map_err(upstream_error)?;
    let value: Value = serde_json::from_slice(&answer.body).map_err(|_| {
        ApiError::new(hyper::StatusCode::BAD_GATEWAY, "upstream_error", "the SMM panel did not answer JSON")
    })?;
    Ok(Json(Relayed { success: value.get("error").is_none(), data: value }))
}

pub async fn test(app: &App) -> Result<Json<PanelBalance>, ApiError> {
    let client = jobs::smm_client(app)?;
    let balance = client.balance().await.map_err(upstream_error)?;
    Ok(Json(PanelBalance { success: true, balance: balance.balance, currency: balance.currency }))
}

crate::router::route_table! {
    SmmPanelProxy: POST "/api/smm-panel", Admin, "smm_panel.proxy", body Proxy, reply Json<Relayed>,
        |app, caller, req| proxy(app, caller, req);
    SmmPanelTest: GET "/api/smm-panel/test", Admin, "smm_panel.test", reply Json<PanelBalance>,
        |app, _, _| test(app);
}
