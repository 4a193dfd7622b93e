//! The caller's points: balance and self-debit.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use snspmt_core::{validate, LedgerKind, Points};
use snspmt_store::{IdempotencyKey, LedgerEntry, Posting};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::request::Req;
use crate::router::{Json, Replayed};
use crate::App;

/// `GET /api/points`: whose balance (an admin may name another user).
#[derive(Deserialize, JsonSchema)]
pub struct BalanceQuery {
    /// Another user's id (admins only); the caller by default.
    user_id: Option<String>,
}

/// A user's balance.
#[derive(Serialize, JsonSchema)]
pub struct Balance {
    user_id: String,
    /// Points (1 point = 1 KRW).
    points: i64,
}

pub async fn balance(app: &App, caller: &Caller, req: &Req) -> Result<Json<Balance>, ApiError> {
    let query: BalanceQuery = req.query_as()?;
    let subject = caller.subject(query.user_id.as_deref(), true)?;
    // The caller's own balance came with their session (one query, read in the same snapshot).
    let points = match caller.user() {
        Some(u) if u.user_id == subject => u.points,
        _ => app.store.balance(&subject).await?.ok_or_else(|| ApiError::not_found("user"))?,
    };
    Ok(Json(Balance { user_id: subject, points: points.0 }))
}

/// `POST /api/points/deduct`.
#[derive(Deserialize, JsonSchema)]
#[schemars(example = serde_json::json!({"amount": 300, "description": "포인트 차감"}))]
pub struct Deduct {
    /// Another user's id (admins only); the caller by default.
    user_id: Option<String>,
    /// Points to take, at least 1.
    amount: i64,
    description: Option<String>,
}

/// A debit's ledger row.
#[derive(Serialize, JsonSchema)]
pub struct Deducted {
    success: bool,
    user_id: String,
    /// Points taken.
    amount: i64,
    /// The balance after.
    points: i64,
    /// The ledger row's id.
    transaction_id: i64,
}

pub async fn deduct(app: &App, caller: &Caller, req: &Req) -> Result<Replayed<Deducted>, ApiError> {
    let body: Deduct = req.json()?;
    let subject = caller.subject(body.user_id.as_deref(), false)?;
    let amount = validate::positive_amount("amount", body.amount)?;
    let description = validate::description(body.description.as_deref().unwrap_or("포인트 차감"))?.to_owned();
    let key = idempotency_key(req, &subject, "points.deduct")?;
    let posting = Posting {
        user_id: subject,
        kind: LedgerKind::Deduct,
        amount: Points(-amount.0),
        reference: None,
        description,
        event_ref: None,
        audit: None,
    };
    let outcome = app.store.post(posting, key, app.clock.now()).await?;
    Ok(Replayed::of(&outcome, |e: &LedgerEntry| Deducted {
        success: true,
        user_id: e.user_id.clone(),
        amount: -e.amount.0,
        points: e.balance_after.0,
        transaction_id: e.id,
    }))
}

/// The `Idempotency-Key` of a money-moving request, bound to the caller, the operation and a
/// hash of the body.
pub fn idempotency_key(
    req: &Req,
    user_id: &str,
    scope: &'static str,
) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(raw) = req.headers.get("idempotency-key") else { return Ok(None) };
    let key = raw
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::invalid_field(
                "Idempotency-Key",
                "invalid_idempotency_key",
                "Idempotency-Key must be 1-255 visible ASCII characters",
            )
        })?;
    Ok(Some(IdempotencyKey::new(user_id, scope, key, &req.body)))
}

crate::router::route_table! {
    Points: GET "/api/points", User, "points", query BalanceQuery, reply Json<Balance>,
        |app, caller, req| balance(app, caller, req);
    DeductPoints: POST "/api/points/deduct", User, "points.deduct", body Deduct, reply Replayed<Deducted>,
        |app, caller, req| deduct(app, caller, req);
}
