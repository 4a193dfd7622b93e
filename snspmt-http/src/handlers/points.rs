//! The caller's points: balance and self-debit.

use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use snspmt_core::{validate, LedgerKind, Points};
use snspmt_store::{IdempotencyKey, Idempotent, LedgerEntry, Posting};

use super::{json, Reply};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::request::Req;
use crate::App;

pub async fn balance(app: &App, caller: &Caller, req: &Req) -> Reply {
    let subject = caller.subject(req.query("user_id"), true)?;
    // The caller's own balance came with their session (one query, read in the same snapshot).
    let points = match caller.user() {
        Some(u) if u.user_id == subject => u.points,
        _ => app.store.balance(&subject).await?.ok_or_else(|| ApiError::not_found("user"))?,
    };
    super::ok(json!({"user_id": subject, "points": points.0}))
}

#[derive(Deserialize)]
struct Deduct {
    user_id: Option<String>,
    amount: i64,
    description: Option<String>,
}

pub async fn deduct(app: &App, caller: &Caller, req: &Req) -> Reply {
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
    Ok(replayable(&outcome, |e: &LedgerEntry| {
        json!({
            "success": true,
            "user_id": e.user_id,
            "amount": -e.amount.0,
            "points": e.balance_after.0,
            "transaction_id": e.id,
        })
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
    let request_hash = Sha256::digest(&req.body).iter().map(|b| format!("{b:02x}")).collect();
    Ok(Some(IdempotencyKey { user_id: user_id.to_owned(), scope, key: key.to_owned(), request_hash }))
}

/// Renders an idempotent outcome; a replay says so in `Idempotent-Replayed: true`.
pub fn replayable<T>(
    outcome: &Idempotent<T>,
    render: impl Fn(&T) -> Value,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    let (value, replay) = match outcome {
        Idempotent::Fresh(v) => (v, false),
        Idempotent::Replay(v) => (v, true),
    };
    let mut resp = json(hyper::StatusCode::OK, &render(value));
    if replay {
        resp.headers_mut().insert("idempotent-replayed", hyper::header::HeaderValue::from_static("true"));
    }
    resp
}
