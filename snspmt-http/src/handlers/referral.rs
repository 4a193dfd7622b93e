//! The referral programme (§11): codes, the referral coupon, commissions, withdrawals, and
//! the operator's views and payouts.

use rand::RngCore;
use serde::Deserialize;
use serde_json::{json, Value};
use snspmt_core::referral::{self, DiscountType, WithdrawalState};
use snspmt_core::{validate, Bps, Points};
use snspmt_store::{
    Conflict, Millis, NewAudit, NewWithdrawal, Referrer, StoreError, UserCoupon, Withdrawal, WithdrawalFilter,
};
use time::OffsetDateTime;

use super::points::{idempotency_key, replayable};
use super::{ok, Paging, Reply};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::request::Req;
use crate::router::Raw;
use crate::{views, App};

fn conflict_as_bad_request(e: StoreError) -> ApiError {
    match e {
        // What the client sent is wrong, not the state: 400 with the conflict's code and text.
        StoreError::Conflict(
            c @ (Conflict::InvalidCode | Conflict::SelfReferral | Conflict::InsufficientCommission),
        ) => ApiError::bad_request(c.code(), crate::error::conflict_message(c)),
        e => e.into(),
    }
}

pub async fn my_codes(app: &App, caller: &Caller, req: &Req) -> Reply {
    let user_id = caller.subject(req.query("user_id"), true)?;
    let codes: Vec<Value> = app
        .store
        .referrer(&user_id)
        .await?
        .iter()
        .map(|r| {
            json!({
                "code": r.code,
                "is_active": r.is_active,
                "usage_count": r.referral_count,
                "total_commission": r.earned.0,
                "commission_rate_bps": r.commission_rate.0,
                "created_at": views::rfc3339(r.created_at),
            })
        })
        .collect();
    ok(json!({"codes": codes}))
}

/// Whether a code can be used; says nothing about its owner.
pub async fn validate_code(app: &App, req: &Req) -> Reply {
    let valid = match req.query("code").and_then(referral::normalize_code) {
        Some(code) => app.store.referrer_by_code(&code).await?.is_some_and(|r| r.is_active),
        None => false,
    };
    ok(json!({"valid": valid}))
}

#[derive(Deserialize)]
struct UseCode {
    code: Option<String>,
    referral_code: Option<String>,
    user_id: Option<String>,
}

/// `use-code` (`{code}`) and its alias `issue-coupon` (`{referral_code}`): the caller becomes
/// referred and receives the 5 % / 30-day coupon; a repeat answers the same coupon.
pub async fn use_code(app: &App, caller: &Caller, req: &Req, field: &'static str) -> Reply {
    let body: UseCode = req.json()?;
    let user_id = caller.subject(body.user_id.as_deref(), false)?;
    let raw = body
        .code
        .or(body.referral_code)
        .ok_or_else(|| ApiError::invalid_field(field, "missing_field", format!("{field} is required")))?;
    let code = referral::normalize_code(&raw).ok_or_else(|| {
        ApiError::invalid_field(
            field,
            "invalid_code",
            "유효하지 않은 추천 코드입니다 (invalid referral code)",
        )
    })?;
    let now = app.clock.now();
    let template = UserCoupon {
        id: 0,
        user_id: user_id.clone(),
        coupon_id: None,
        source: "referral".into(),
        code: code.clone(),
        name: "추천인 할인 쿠폰 5%".into(),
        discount_type: DiscountType::Percentage,
        discount_value: referral::REFERRAL_COUPON_PERCENT,
        min_order_amount: Points::ZERO,
        valid_from: Some(now),
        expires_at: now.checked_add(referral::REFERRAL_COUPON_VALIDITY_MS),
        is_active: true,
        is_used: false,
        used_order_id: None,
        created_at: now,
    };
    let coupon =
        app.store.use_referral_code(&user_id, &code, template, now).await.map_err(conflict_as_bad_request)?;
    ok(json!({
        "success": true,
        "coupon": {
            "id": coupon.id,
            "code": coupon.code,
            "name": coupon.name,
            "coupon_code": coupon.code,
            "coupon_name": coupon.name,
            "discount_type": coupon.discount_type.as_str(),
            "discount_value": coupon.discount_value,
            "expires_at": coupon.expires_at.map(views::rfc3339),
            "is_used": coupon.is_used,
        },
    }))
}

pub async fn commissions(app: &App, caller: &Caller, req: &Req) -> Reply {
    let user_id = caller.subject(req.query("user_id"), true)?;
    let paging = Paging::from(req)?;
    let page = app.store.commissions(&user_id, paging.limit, paging.offset).await?;
    ok(
        json!({"commissions": page.rows.iter().map(views::commission).collect::<Vec<_>>(), "total": page.total}),
    )
}

fn book_view(r: Option<&Referrer>) -> Value {
    let book = r.map(Referrer::book).unwrap_or_default();
    json!({
        "total_earned": book.earned.0,
        "total_paid": book.paid.0,
        "pending_withdrawal": book.reserved.0,
        "current_balance": book.balance().unwrap_or(Points::ZERO).0,
    })
}

pub async fn commission_points(app: &App, caller: &Caller, req: &Req) -> Reply {
    let user_id = caller.subject(req.query("user_id"), true)?;
    let referrer = app.store.referrer(&user_id).await?;
    let mut body = book_view(referrer.as_ref());
    body["user_id"] = json!(user_id);
    ok(body)
}

pub async fn commission_transactions(app: &App, caller: &Caller, req: &Req) -> Reply {
    let user_id = caller.subject(req.query("user_id"), true)?;
    let paging = Paging::from(req)?;
    let page = app.store.commission_entries(&user_id, paging.limit, paging.offset).await?;
    ok(json!({
        "transactions": page.rows.iter().map(views::commission_entry).collect::<Vec<_>>(),
        "total": page.total,
    }))
}

/// The first moment of `now`'s month, UTC.
fn month_start(now: Millis) -> Millis {
    OffsetDateTime::from_unix_timestamp(now.div_euclid(1000))
        .ok()
        .and_then(|t| t.replace_day(1).ok())
        .map(|t| t.replace_time(time::Time::MIDNIGHT))
        .map_or(0, |t| t.unix_timestamp().saturating_mul(1000))
}

pub async fn stats(app: &App, caller: &Caller, req: &Req) -> Reply {
    let user_id = caller.subject(req.query("user_id"), true)?;
    let referrer = app.store.referrer(&user_id).await?;
    let stats = app.store.referral_stats(&user_id, month_start(app.clock.now())).await?;
    let rate = referrer.as_ref().map_or(Bps::DEFAULT_COMMISSION, |r| r.commission_rate);
    ok(json!({
        "totalReferrals": stats.total_referrals,
        "activeReferrals": stats.active_referrals,
        "totalCommission": referrer.as_ref().map_or(0, |r| r.earned.0),
        "thisMonthReferrals": stats.this_month_referrals,
        "thisMonthCommission": stats.this_month_commission.0,
        "commissionRate": views::rate_fraction(rate),
        "commission_rate_bps": rate.0,
    }))
}

pub async fn referrals(app: &App, caller: &Caller, req: &Req) -> Reply {
    let user_id = caller.subject(req.query("user_id"), true)?;
    let paging = Paging::from(req)?;
    let page = app.store.referrals(Some(&user_id), paging.limit, paging.offset).await?;
    let rows: Vec<Value> = page
        .rows
        .iter()
        .map(|r| {
            let email = r.referred_email.as_deref().map(referral::mask_email);
            json!({
                "user_id": r.referred_user_id,
                "email": email,
                "joined_at": views::rfc3339(r.joined_at),
                "order_count": r.order_count,
                "commission": r.commission.0,
                // The original client's names: `user` is what it shows (the masked e-mail, or
                // the id), `status` whether the referred user has ordered since.
                "id": r.referred_user_id,
                "user": email.clone().unwrap_or_else(|| r.referred_user_id.clone()),
                "joinDate": views::rfc3339(r.joined_at),
                "status": if r.order_count > 0 { "active" } else { "inactive" },
            })
        })
        .collect();
    ok(json!({"referrals": rows, "total": page.total}))
}

#[derive(Deserialize)]
struct WithdrawalBody {
    user_id: Option<String>,
    amount: i64,
    bank_name: String,
    account_number: String,
    account_holder: String,
}

fn required_text(field: &'static str, s: &str) -> Result<String, ApiError> {
    let t = validate::short_text(field, s)?;
    if t.is_empty() {
        return Err(ApiError::invalid_field(field, "missing_field", format!("{field} is required")));
    }
    Ok(t.to_owned())
}

/// Reserves `amount` (≥ 1,000, ≤ the balance) at once; `Idempotency-Key` replays.
pub async fn request_withdrawal(app: &App, caller: &Caller, req: &Req) -> Reply {
    let body: WithdrawalBody = req.json()?;
    let user_id = caller.subject(body.user_id.as_deref(), false)?;
    if body.amount < referral::MIN_WITHDRAWAL || body.amount > validate::MAX_AMOUNT {
        return Err(ApiError::invalid_field(
            "amount",
            "invalid_amount",
            format!(
                "출금은 {}원 이상입니다 (amount must be at least {})",
                referral::MIN_WITHDRAWAL,
                referral::MIN_WITHDRAWAL
            ),
        )
        .with("min_amount", referral::MIN_WITHDRAWAL));
    }
    let new = NewWithdrawal {
        user_id: user_id.clone(),
        amount: Points(body.amount),
        bank_name: required_text("bank_name", &body.bank_name)?,
        account_number: required_text("account_number", &body.account_number)?,
        account_holder: required_text("account_holder", &body.account_holder)?,
    };
    let key = idempotency_key(req, &user_id, "referral.withdrawal")?;
    let outcome =
        app.store.request_withdrawal(new, key, app.clock.now()).await.map_err(conflict_as_bad_request)?;
    Ok(replayable(&outcome, |w: &Withdrawal| {
        json!({
            "success": true,
            "request_id": w.withdrawal_id,
            "status": WithdrawalState::Requested.as_str(),
            "amount": w.amount.0,
        })
    }))
}

// --- admin ------------------------------------------------------------------------------------

/// The user an admin body names by `user_id` or `email`.
async fn named_user(app: &App, who: &Who) -> Result<String, ApiError> {
    let user = match (&who.user_id, &who.email) {
        (Some(id), _) => app.store.user(id).await?,
        (None, Some(email)) => {
            let email = validate::email(email)?;
            app.store.credentials(&email).await?.map(|c| c.user)
        }
        (None, None) => {
            return Err(ApiError::invalid_field("user_id", "missing_field", "user_id or email is required"))
        }
    };
    user.map(|u| u.user_id).ok_or_else(|| ApiError::not_found("user"))
}

#[derive(Deserialize)]
struct Register {
    #[serde(flatten)]
    who: Who,
    commission_rate_bps: Option<i64>,
}

/// `user_id` or `email` of an admin body.
#[derive(Deserialize)]
struct Who {
    user_id: Option<String>,
    email: Option<String>,
}

/// Creates (or answers) the referral code of a user.
pub async fn admin_register(app: &App, caller: &Caller, req: &Req) -> Reply {
    let body: Register = req.json()?;
    let rate = body
        .commission_rate_bps
        .map(referral::commission_rate)
        .transpose()?
        .unwrap_or(Bps::DEFAULT_COMMISSION);
    let user_id = named_user(app, &body.who).await?;
    for _ in 0..8 {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let Ok(code) = referral::referral_code(&bytes) else { continue };
        let audit = NewAudit {
            actor: caller.actor(),
            action: "referral.register".into(),
            target: Some(user_id.clone()),
            detail: json!({"code": code, "commission_rate_bps": rate.0}).to_string(),
        };
        if let Some(r) = app.store.register_referrer(&user_id, &code, rate, audit, app.clock.now()).await? {
            return ok(json!({
                "success": true,
                "code": r.code,
                "user_id": r.user_id,
                "commission_rate_bps": r.commission_rate.0,
                "referralCode": r.code,
                "email": r.email,
                "name": r.name,
            }));
        }
    }
    Err(ApiError::internal())
}

pub async fn admin_referrals(app: &App, req: &Req) -> Reply {
    let paging = Paging::from(req)?;
    let page = app.store.referrals(req.query("referrer_user_id"), paging.limit, paging.offset).await?;
    let rows: Vec<Value> = page
        .rows
        .iter()
        .map(|r| {
            json!({
                "referred_user_id": r.referred_user_id,
                "referred_email": r.referred_email,
                "referrer_user_id": r.referrer_user_id,
                "code": r.code,
                "joined_at": views::rfc3339(r.joined_at),
                "order_count": r.order_count,
                "commission": r.commission.0,
            })
        })
        .collect();
    ok(json!({"referrals": rows, "total": page.total, "limit": paging.limit, "offset": paging.offset}))
}

pub async fn admin_codes(app: &App, req: &Req) -> Reply {
    let paging = Paging::from(req)?;
    let page = app.store.referrers(paging.limit, paging.offset).await?;
    ok(json!({
        "codes": page.rows.iter().map(views::referrer).collect::<Vec<_>>(),
        "total": page.total,
        "limit": paging.limit,
        "offset": paging.offset,
    }))
}

/// Every referrer's book, and the sums.
pub async fn admin_overview(app: &App, req: &Req) -> Reply {
    let paging = Paging::from(req)?;
    let page = app.store.referrers(paging.limit, paging.offset).await?;
    let sum = |f: fn(&Referrer) -> i64| page.rows.iter().map(f).fold(0i64, i64::saturating_add);
    ok(json!({
        "referrers": page.rows.iter().map(views::referrer).collect::<Vec<_>>(),
        "totals": {
            "total_earned": sum(|r| r.earned.0),
            "total_paid": sum(|r| r.paid.0),
            "pending_withdrawal": sum(|r| r.reserved.0),
            "current_balance": sum(|r| r.balance().0),
        },
        "total": page.total,
        "limit": paging.limit,
        "offset": paging.offset,
    }))
}

pub async fn admin_payments(app: &App, req: &Req) -> Reply {
    let paging = Paging::from(req)?;
    let page = app.store.payouts(req.query("user_id"), paging.limit, paging.offset).await?;
    ok(json!({
        "payments": page.rows.iter().map(views::payout).collect::<Vec<_>>(),
        "total": page.total,
        "limit": paging.limit,
        "offset": paging.offset,
    }))
}

#[derive(Deserialize)]
struct Pay {
    #[serde(flatten)]
    who: Who,
    amount: i64,
    notes: Option<String>,
}

/// A manual payout: amount > 0 and ≤ the balance.
pub async fn admin_pay(app: &App, caller: &Caller, req: &Req) -> Reply {
    let body: Pay = req.json()?;
    let amount = validate::positive_amount("amount", body.amount)?;
    let notes = body.notes.as_deref().map(validate::description).transpose()?.map(str::to_owned);
    let user_id = named_user(app, &body.who).await?;
    let audit = NewAudit {
        actor: caller.actor(),
        action: "referral.pay_commission".into(),
        target: Some(user_id.clone()),
        detail: json!({"amount": amount.0, "notes": notes}).to_string(),
    };
    let payout = app
        .store
        .pay_commission(&user_id, amount, notes, audit, app.clock.now())
        .await
        .map_err(conflict_as_bad_request)?;
    let referrer = app.store.referrer(&user_id).await?;
    let mut body = book_view(referrer.as_ref());
    body["success"] = json!(true);
    body["payout"] = json!(views::payout(&payout));
    ok(body)
}

#[derive(Deserialize)]
struct SetRate {
    #[serde(flatten)]
    who: Who,
    commission_rate_bps: i64,
}

pub async fn admin_set_rate(app: &App, caller: &Caller, req: &Req) -> Reply {
    let body: SetRate = req.json()?;
    let rate = referral::commission_rate(body.commission_rate_bps)?;
    let user_id = named_user(app, &body.who).await?;
    let audit = NewAudit {
        actor: caller.actor(),
        action: "referral.update_commission_rate".into(),
        target: Some(user_id.clone()),
        detail: json!({"commission_rate_bps": rate.0}).to_string(),
    };
    let r =
        app.store.set_commission_rate(&user_id, rate, audit, app.clock.now()).await.map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found("referrer"),
            e => e.into(),
        })?;
    ok(
        json!({"success": true, "user_id": r.user_id, "code": r.code, "commission_rate_bps": r.commission_rate.0}),
    )
}

pub async fn admin_withdrawals(app: &App, req: &Req) -> Reply {
    let paging = Paging::from(req)?;
    let status = req.query_parsed::<WithdrawalState>("status", "a withdrawal status")?;
    let filter = WithdrawalFilter {
        user_id: req.query("user_id").map(str::to_owned),
        status,
        limit: paging.limit,
        offset: paging.offset,
    };
    let page = app.store.withdrawals(filter).await?;
    ok(json!({
        "requests": page.rows.iter().map(views::withdrawal).collect::<Vec<_>>(),
        "total": page.total,
        "limit": paging.limit,
        "offset": paging.offset,
    }))
}

#[derive(Deserialize)]
struct Process {
    request_id: Value,
    action: String,
    admin_notes: Option<String>,
}

/// Approves (records the payout) or rejects (releases the reservation) a request, once.
pub async fn admin_process_withdrawal(app: &App, caller: &Caller, req: &Req) -> Reply {
    let body: Process = req.json()?;
    let id = match &body.request_id {
        Value::Number(n) => n.as_i64().filter(|n| *n > 0),
        Value::String(s) => s.trim().parse().ok().filter(|n: &i64| *n > 0),
        _ => None,
    }
    .ok_or_else(|| {
        ApiError::invalid_field("request_id", "invalid_id", "request_id must be a positive integer")
    })?;
    let approve = match body.action.as_str() {
        "approve" => true,
        "reject" => false,
        _ => {
            return Err(ApiError::invalid_field(
                "action",
                "invalid_action",
                "action must be approve or reject",
            ))
        }
    };
    let notes = body.admin_notes.as_deref().map(validate::description).transpose()?.map(str::to_owned);
    let audit = NewAudit {
        actor: caller.actor(),
        action: "referral.process_withdrawal".into(),
        target: Some(id.to_string()),
        detail: json!({"action": body.action, "admin_notes": notes}).to_string(),
    };
    let w = app.store.decide_withdrawal(id, approve, notes, audit, app.clock.now()).await.map_err(
        |e| match e {
            StoreError::NotFound => ApiError::not_found("withdrawal request"),
            StoreError::Conflict(Conflict::AlreadyProcessed) => ApiError::new(
                hyper::StatusCode::CONFLICT,
                "already_processed",
                "이미 처리된 출금 요청입니다 (already approved or rejected)",
            )
            .naming(&format!("withdrawal request {id}"), None)
            .with("request_id", id),
            e => e.into(),
        },
    )?;
    ok(json!({"success": true, "request": views::withdrawal(&w), "status": w.status.as_str()}))
}

crate::router::route_table! {
    ReferralMyCodes: GET "/api/referral/my-codes", User, "referral.my_codes", reply Raw,
        |app, caller, req| my_codes(app, caller, req);
    ReferralValidateCode: GET "/api/referral/validate-code", Public, "referral.validate_code", reply Raw,
        |app, _, req| validate_code(app, req);
    ReferralUseCode: POST "/api/referral/use-code", User, "referral.use_code", reply Raw,
        |app, caller, req| use_code(app, caller, req, "code");
    ReferralIssueCoupon: POST "/api/referral/issue-coupon", User, "referral.issue_coupon", reply Raw,
        |app, caller, req| use_code(app, caller, req, "referral_code");
    ReferralCommissions: GET "/api/referral/commissions", User, "referral.commissions", reply Raw,
        |app, caller, req| commissions(app, caller, req);
    ReferralCommissionPoints: GET "/api/referral/commission-points", User, "referral.commission_points", reply Raw,
        |app, caller, req| commission_points(app, caller, req);
    ReferralCommissionTransactions: GET "/api/referral/commission-transactions", User, "referral.commission_transactions", reply Raw,
        |app, caller, req| commission_transactions(app, caller, req);
    ReferralStats: GET "/api/referral/stats", User, "referral.stats", reply Raw,
        |app, caller, req| stats(app, caller, req);
    ReferralReferrals: GET "/api/referral/referrals", User, "referral.referrals", reply Raw,
        |app, caller, req| referrals(app, caller, req);
    WithdrawalRequest: POST "/api/referral/withdrawal-request", User, "referral.withdrawal_request", reply Raw,
        |app, caller, req| request_withdrawal(app, caller, req);
    AdminReferralRegister: POST "/api/admin/referral/register", Admin, "admin.referral.register", reply Raw,
        |app, caller, req| admin_register(app, caller, req);
    AdminReferralList: GET "/api/admin/referral/list", Admin, "admin.referral.list", reply Raw,
        |app, _, req| admin_referrals(app, req);
    AdminReferralCodes: GET "/api/admin/referral/codes", Admin, "admin.referral.codes", reply Raw,
        |app, _, req| admin_codes(app, req);
    AdminCommissionOverview: GET "/api/admin/referral/commission-overview", Admin, "admin.referral.commission_overview", reply Raw,
        |app, _, req| admin_overview(app, req);
    AdminPaymentHistory: GET "/api/admin/referral/payment-history", Admin, "admin.referral.payment_history", reply Raw,
        |app, _, req| admin_payments(app, req);
    AdminPayCommission: POST "/api/admin/referral/pay-commission", Admin, "admin.referral.pay_commission", reply Raw,
        |app, caller, req| admin_pay(app, caller, req);
    AdminUpdateCommissionRate: PUT "/api/admin/referral/update-commission-rate", Admin, "admin.referral.update_commission_rate", reply Raw,
        |app, caller, req| admin_set_rate(app, caller, req);
    AdminWithdrawalRequests: GET "/api/admin/withdrawal-requests", Admin, "admin.withdrawal_requests", reply Raw,
        |app, _, req| admin_withdrawals(app, req);
    AdminProcessWithdrawal: POST "/api/admin/process-withdrawal", Admin, "admin.process_withdrawal", reply Raw,
        |app, caller, req| admin_process_withdrawal(app, caller, req);
}

#[cfg(test)]
mod tests {
    #[test]
    fn month_starts() {
        // 2023-11-14T22:13:20Z → 2023-11-01T00:00:00Z
        assert_eq!(super::month_start(1_700_000_000_123), 1_698_796_800_000);
        assert_eq!(super::month_start(0), 0);
    }
}
