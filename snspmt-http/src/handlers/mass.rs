//! Mass orders: `POST /api/orders/mass`, many lines `service_id|link|quantity`, each its own
//! order through [`orders::place_for`](super::orders::place_for) with its own result.
//!
//! Every line is parsed and priced first (at the user's rates); when the valid lines together
//! cost more than the balance, nothing is placed. With an `Idempotency-Key`, the batch is
//! claimed in the store before any line is placed and its answer stored at the end: a replay
//! (even concurrent) answers that answer and places nothing. Each line is placed under its own
//! key `<batch>#<line>`, so a run that dies halfway and is resumed after its lease never places
//! a line twice.

use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use snspmt_core::order::OrderStatus;
use snspmt_core::Points;
use snspmt_store::{BatchClaim, IdempotencyKey};

use super::orders::{outcome_order, place_for, quote_for, PlaceOrder};
use super::points::idempotency_key;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::request::Req;
use crate::router::Replayed;
use crate::App;

/// The most lines a batch may hold.
pub const MAX_LINES: usize = 500;
const SCOPE: &str = "orders.mass";
const LINE_SCOPE: &str = "orders.mass_line";
/// How long a run holds its batch before a retry may take it over (the run died).
const LEASE_MS: i64 = 120_000;
/// How long a replay waits for a run in flight to answer before it answers 409.
const REPLAY_WAIT: Duration = Duration::from_secs(30);
const REPLAY_POLL: Duration = Duration::from_millis(50);

/// The lines of a mass order, as one text or one string per line.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum Lines {
    Text(String),
    List(Vec<String>),
}

/// `POST /api/orders/mass`: lines `service_id|link|quantity` (the link may hold `|`), at most
/// 500. The body may also be a bare JSON array of lines, or the lines as a `text/plain` body.
#[derive(JsonSchema)]
#[allow(dead_code)]
pub struct MassBody {
    /// The lines: one text (split on newlines) or an array of lines; blank lines are skipped.
    #[schemars(with = "Lines")]
    orders: Value,
}

/// Why a line was not placed.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct LineError {
    /// The error code, as a whole request would have had it (`invalid_line`,
    /// `invalid_quantity`, `insufficient_points`, …).
    pub code: String,
    pub message: String,
    /// The field at fault, when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// A line placed as an order.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct LinePlaced {
    /// The line's number in the request (1-based, blank lines counted).
    pub line: usize,
    pub order_id: i64,
    pub service_id: Option<i64>,
    pub link: String,
    pub quantity: i64,
    /// Points, before any coupon.
    pub price: Points,
    /// Points charged.
    pub final_price: Points,
    pub status: OrderStatus,
}

/// A line that was not placed.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct LineFailed {
    /// The line's number in the request (1-based, blank lines counted).
    pub line: usize,
    pub error: LineError,
}

/// What became of one line.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum LineResult {
    Placed(LinePlaced),
    Failed(LineFailed),
}

/// What a mass order placed (a replay answers the first run's answer).
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct MassPlaced {
    pub success: bool,
    /// One result per non-blank line, in order.
    pub results: Vec<LineResult>,
    /// Lines placed.
    pub placed: u64,
    /// Lines not placed.
    pub failed: u64,
    /// Points charged for the placed lines.
    pub total_price: Points,
}

/// The non-empty lines of the request, with their 1-based line numbers: `{"orders": "text"}`,
/// `{"orders": ["line", …]}`, a bare JSON array of lines, or a `text/plain` body.
fn lines(req: &Req) -> Result<Vec<(usize, String)>, ApiError> {
    let plain = req.header("content-type").is_some_and(|t| t.trim_start().starts_with("text/plain"));
    let texts: Vec<String> = if plain {
        let text = std::str::from_utf8(&req.body)
            .map_err(|_| ApiError::bad_request("invalid_body", "the body is not UTF-8 text"))?;
        text.split('\n').map(str::to_owned).collect()
    } else {
        let body: Value = req.json()?;
        let orders = match body {
            Value::Object(mut o) => o.remove("orders").unwrap_or(Value::Null),
            other => other,
        };
        match orders {
            Value::String(text) => text.split('\n').map(str::to_owned).collect(),
            Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    _ => Err(ApiError::invalid_field(
                        "orders",
                        "invalid_type",
                        "orders must be text or an array of lines",
                    )),
                })
                .collect::<Result<_, _>>()?,
            Value::Null => {
                return Err(ApiError::invalid_field("orders", "missing_field", "orders is required"))
            }
            _ => {
                return Err(ApiError::invalid_field(
                    "orders",
                    "invalid_type",
                    "orders must be text or an array of lines",
                ))
            }
        }
    };
    let lines: Vec<(usize, String)> = texts
        .into_iter()
        .enumerate()
        .map(|(i, t)| (i + 1, t.trim().to_owned()))
        .filter(|(_, t)| !t.is_empty())
        .collect();
    if lines.is_empty() {
        return Err(ApiError::invalid_field(
            "orders",
            "no_lines",
            "send at least one line service_id|link|quantity",
        ));
    }
    if lines.len() > MAX_LINES {
        return Err(ApiError::invalid_field(
            "orders",
            "too_many_lines",
            format!("a mass order has at most {MAX_LINES} lines"),
        )
        .with("max_lines", MAX_LINES)
        .with("lines", lines.len()));
    }
    Ok(lines)
}

/// One line `service_id|link|quantity` (the link may itself hold `|`).
fn parse_line(text: &str) -> Result<PlaceOrder, ApiError> {
    let format = || {
        ApiError::bad_request("invalid_line", "a line is service_id|link|quantity").with("field", "orders")
    };
    let (service, rest) = text.split_once('|').ok_or_else(format)?;
    let (link, quantity) = rest.rsplit_once('|').ok_or_else(format)?;
    let service_id = service.trim().parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::invalid_field("service_id", "invalid_id", "service_id must be a positive integer")
    })?;
    let quantity = quantity.trim().parse::<i64>().map_err(|_| {
        ApiError::invalid_field("quantity", "invalid_quantity", "quantity must be an integer")
    })?;
    Ok(PlaceOrder {
        service_id: Some(json!(service_id)),
        link: Some(link.trim().to_owned()),
        quantity: Some(quantity),
        ..PlaceOrder::default()
    })
}

fn line_error(line: usize, e: &ApiError) -> LineResult {
    LineResult::Failed(LineFailed {
        line,
        error: LineError {
            code: e.code.to_owned(),
            message: e.message.clone(),
            field: e.extra.get("field").and_then(Value::as_str).map(str::to_owned),
        },
    })
}

/// `POST /api/orders/mass`.
pub async fn place(app: &Arc<App>, caller: &Caller, req: &Req) -> Result<Replayed<MassPlaced>, ApiError> {
    let user_id = caller.user().map(|u| u.user_id.clone()).ok_or_else(ApiError::unauthorized)?;
    let lines = lines(req)?;
    let key = idempotency_key(req, &user_id, SCOPE)?;
    let resumed = match &key {
        None => false,
        Some(key) => match claim(app, key).await? {
            Claimed::Replay(answer) => return replay(&answer),
            Claimed::Run { resumed } => resumed,
        },
    };
    match run(app, &user_id, &lines, key.as_ref(), resumed).await {
        Ok(answer) => {
            if let Some(key) = &key {
                let text = serde_json::to_string(&answer).map_err(|_| ApiError::internal())?;
                app.store.finish_order_batch(key, &text, app.clock.now()).await?;
            }
            Ok(Replayed { body: answer, replay: false })
        }
        Err(Refusal::BeforeAnything(e)) => {
            if let Some(key) = &key {
                app.store.release_order_batch(key).await?;
            }
            Err(e)
        }
        // Some lines may be placed: the claim stays, and a retry after the lease resumes.
        Err(Refusal::Halfway(e)) => Err(e),
    }
}

enum Claimed {
    Replay(String),
    Run { resumed: bool },
}

/// Claims the batch, or waits for the run in flight to answer.
async fn claim(app: &App, key: &IdempotencyKey) -> Result<Claimed, ApiError> {
    let waited = tokio::time::Instant::now();
    loop {
        let now = app.clock.now();
        match app.store.claim_order_batch(key, now.minus_ms(LEASE_MS), now).await? {
            BatchClaim::Claimed => return Ok(Claimed::Run { resumed: false }),
            BatchClaim::Resumed => return Ok(Claimed::Run { resumed: true }),
            BatchClaim::Done(answer) => return Ok(Claimed::Replay(answer)),
            BatchClaim::InFlight if waited.elapsed() < REPLAY_WAIT => tokio::time::sleep(REPLAY_POLL).await,
            BatchClaim::InFlight => {
                let mut e = ApiError::new(
                    hyper::StatusCode::CONFLICT,
                    "batch_in_progress",
                    "this batch is still being placed; retry with the same Idempotency-Key",
                );
                e.retry_after = Some(5);
                return Err(e);
            }
        }
    }
}

/// The stored answer of a batch run before, answered again.
fn replay(answer: &str) -> Result<Replayed<MassPlaced>, ApiError> {
    let body: MassPlaced = serde_json::from_str(answer).map_err(|_| ApiError::internal())?;
    Ok(Replayed { body, replay: true })
}

enum Refusal {
    /// Nothing was placed.
    BeforeAnything(ApiError),
    /// A failure of ours after the first line was tried.
    Halfway(ApiError),
}

async fn run(
    app: &Arc<App>,
    user_id: &str,
    lines: &[(usize, String)],
    batch: Option<&IdempotencyKey>,
    resumed: bool,
) -> Result<MassPlaced, Refusal> {
    // Parse and price every line first.
    let mut checked = Vec::with_capacity(lines.len());
    let mut total = Points::ZERO;
    for (n, text) in lines {
        let parsed = parse_line(text);
        let priced = match &parsed {
            Ok(order) => quote_for(app, user_id, order, false).await,
            Err(e) => Err(e.clone()),
        };
        match priced {
            Ok(price) => {
                total =
                    total.checked_add(price).map_err(|_| Refusal::BeforeAnything(ApiError::internal()))?;
            }
            Err(e) if e.status.is_server_error() => return Err(Refusal::BeforeAnything(e)),
            Err(_) => {}
        }
        checked.push((*n, text, parsed, priced));
    }
    // A resumed run passed this check when it started; its placed lines are paid already.
    if !resumed {
        let balance = app
            .store
            .balance(user_id)
            .await
            .map_err(|e| Refusal::BeforeAnything(e.into()))?
            .ok_or_else(|| Refusal::BeforeAnything(ApiError::unauthorized()))?;
        if total > balance {
            return Err(Refusal::BeforeAnything(
                ApiError::bad_request(
                    "insufficient_points",
                    "포인트가 부족합니다 (insufficient points for the whole batch; nothing was placed)",
                )
                .with("points", balance.0)
                .with("required", total.0),
            ));
        }
    }
    let mut results = Vec::with_capacity(checked.len());
    let (mut placed, mut failed, mut paid) = (0u64, 0u64, Points::ZERO);
    for (n, text, parsed, priced) in checked {
        let order = match (parsed, priced) {
            (Ok(order), Ok(_)) => order,
            (Err(e), _) | (_, Err(e)) => {
                failed += 1;
                results.push(line_error(n, &e));
                continue;
            }
        };
        let key = batch
            .map(|b| IdempotencyKey::new(user_id, LINE_SCOPE, &format!("{}#{n}", b.key), text.as_bytes()));
        match place_for(app, user_id.to_owned(), &order, key, false).await {
            Ok((outcome, _)) => {
                let o = outcome_order(&outcome);
                placed += 1;
                paid = paid.checked_add(o.final_price).map_err(|_| Refusal::Halfway(ApiError::internal()))?;
                results.push(LineResult::Placed(LinePlaced {
                    line: n,
                    order_id: o.order_id.0,
                    service_id: o.service_id,
                    link: o.link.clone(),
                    quantity: o.quantity,
                    price: o.price,
                    final_price: o.final_price,
                    status: o.status,
                }));
            }
            Err(e) if e.status.is_server_error() => return Err(Refusal::Halfway(e)),
            Err(e) => {
                failed += 1;
                results.push(line_error(n, &e));
            }
        }
    }
    Ok(MassPlaced { success: true, results, placed, failed, total_price: paid })
}

crate::router::route_table! {
    MassOrder: POST "/api/orders/mass", User, "orders.mass", body MassBody, reply Replayed<MassPlaced>,
        |app, caller, req| place(app, caller, req);
}
