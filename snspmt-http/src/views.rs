//! JSON shapes of domain values, as the API shows them.

use serde_json::{json, Value};
use snspmt_store::{AuditEntry, LedgerEntry, Millis, User};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Milliseconds since the epoch as RFC 3339 UTC.
pub fn rfc3339(ms: Millis) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

pub fn user(u: &User) -> Value {
    json!({
        "user_id": u.user_id,
        "email": u.email,
        "name": u.name,
        "display_name": u.display_name,
        "is_admin": u.is_admin,
        "points": u.points.0,
        "has_password": u.has_password,
        "email_verified": u.email_verified,
        "created_at": rfc3339(u.created_at),
        // The names the original client reads, beside ours: `username` is the account's name,
        // `balance` its points; accounts are never deactivated, so `is_active` is always true.
        "displayName": u.display_name,
        "username": u.name,
        "balance": u.points.0,
        "referral_code": u.referral_code,
        "is_active": true,
    })
}

pub fn ledger_entry(e: &LedgerEntry) -> Value {
    json!({
        "id": e.id,
        "user_id": e.user_id,
        "kind": e.kind.as_str(),
        "amount": e.amount.0,
        "balance_after": e.balance_after.0,
        "reference": e.reference,
        "description": e.description,
        "created_at": rfc3339(e.created_at),
    })
}

pub fn audit_entry(a: &AuditEntry) -> Value {
    let detail: Value = serde_json::from_str(&a.detail).unwrap_or(Value::String(a.detail.clone()));
    json!({
        "id": a.id,
        "actor": a.actor,
        "action": a.action,
        "target": a.target,
        "detail": detail,
        "created_at": rfc3339(a.created_at),
    })
}

pub fn service(s: &snspmt_store::Service) -> Value {
    json!({
        "service_id": s.service_id,
        "provider_service_id": s.provider_service_id,
        "name": s.name,
        "category": s.category,
        "platform": s.platform,
        "type": s.service_type,
        "price_per_1000": s.price_per_1000.0,
        "min_quantity": s.min_quantity,
        "max_quantity": s.max_quantity,
        "dripfeed": s.dripfeed,
        "refill": s.refill,
        "cancel": s.cancel,
        "is_active": s.is_active,
        "description": s.description,
        "created_at": rfc3339(s.created_at),
        "updated_at": rfc3339(s.updated_at),
    })
}

/// A service as customers see it: our price, never the upstream's id or rate.
pub fn public_service(s: &snspmt_store::Service) -> Value {
    json!({
        "service_id": s.service_id,
        "name": s.name,
        "category": s.category,
        "platform": s.platform,
        "type": s.service_type,
        "price_per_1000": s.price_per_1000.0,
        "min_quantity": s.min_quantity,
        "max_quantity": s.max_quantity,
        "dripfeed": s.dripfeed,
        "refill": s.refill,
        "description": s.description,
    })
}

/// What a customer is told of an order's trouble: a stable code and a Korean text. Never the
/// internal error, which may name the upstream, its URL or its answer. `None`: nothing to say.
pub fn customer_problem(o: &snspmt_store::Order) -> Option<(&'static str, &'static str)> {
    use snspmt_core::order::OrderStatus::*;
    match o.status {
        Unknown => Some(("under_review", "주문 처리 상태를 확인하고 있습니다. 확인 후 처리해 드립니다.")),
        _ if o.error.is_none() => None,
        Pending | Scheduled | Submitting => {
            Some(("submission_delayed", "주문 발송이 지연되고 있습니다. 잠시 후 자동으로 다시 보냅니다."))
        }
        InProgress | Processing => {
            Some(("processing_issue", "주문 처리 중 문제가 발생했습니다. 확인 중입니다."))
        }
        Failed | Canceled => {
            Some(("order_failed", "주문을 처리하지 못했습니다. 사용하신 포인트는 환불되었습니다."))
        }
        Partial | Completed => None,
    }
}

/// An order as its owner sees it: our prices, never the upstream's cost nor the internal
/// error (`error` is [`customer_problem`]'s text, `error_code` its code). Beside our fields, the
/// ones the original web client reads: `charge` (the points we charged: `final_price`),
/// `is_package`, `package_steps` (the package's steps, `[]` otherwise) and `total_steps` (the
/// upstream submissions of a package or split order, 1 for a single one).
pub fn customer_order(o: &snspmt_store::Order) -> Value {
    let problem = customer_problem(o);
    let steps: Vec<Value> = o
        .package_steps
        .iter()
        .map(|s| {
            json!({
                "service_id": s.service_id,
                "name": s.name,
                "quantity": s.quantity,
                "repeat": s.repeat,
                "delay_minutes": s.delay_minutes,
            })
        })
        .collect();
    json!({
        "order_id": o.order_id,
        "user_id": o.user_id,
        "service_id": o.service_id,
        "service_name": o.service_name,
        "link": o.link,
        "quantity": o.quantity,
        "runs": o.runs,
        "interval": o.interval_minutes,
        "total_quantity": o.total_quantity(),
        "price": o.price.0,
        "discount_amount": o.discount_amount.0,
        "final_price": o.final_price.0,
        "charge": o.final_price.0,
        "commission_amount": o.commission_amount.0,
        "status": o.status.as_str(),
        "status_label": o.status.label(),
        "is_package": o.package_id.is_some(),
        "package_id": o.package_id,
        "package_steps": steps,
        "total_steps": o.total_parts.max(1),
        "split_days": o.split_days,
        "smm_panel_order_id": o.smm_panel_order_id,
        "start_count": o.start_count,
        "remains": o.remains,
        "refunded_amount": o.refunded_amount.0,
        "last_status_check": o.last_status_check.map(rfc3339),
        "error": problem.map(|(_, text)| text),
        "error_code": problem.map(|(code, _)| code),
        "is_scheduled": o.scheduled_at.is_some(),
        "scheduled_at": o.scheduled_at.map(rfc3339),
        "created_at": rfc3339(o.created_at),
        "updated_at": rfc3339(o.updated_at),
    })
}

/// An order as an operator sees it: the customer's view, plus what the upstream reported it
/// cost us (`upstream_charge`, its text in its currency), the internal error text (`error`) and
/// the service type's parameters sent with it (`params`: `{"usernames": "a\nb"}`, `{}` for none).
pub fn order(o: &snspmt_store::Order) -> Value {
    let mut v = customer_order(o);
    if let Value::Object(fields) = &mut v {
        fields.insert("upstream_charge".into(), json!(o.charge));
        fields.insert("error".into(), json!(o.error));
        fields.insert("params".into(), json!(o.params));
    }
    v
}

/// The operator's view for an admin, the customer's for anyone else.
pub fn order_for(o: &snspmt_store::Order, admin: bool) -> Value {
    if admin {
        order(o)
    } else {
        customer_order(o)
    }
}

/// A purchase as an operator sees it; `email` is the buyer's account e-mail.
pub fn purchase(p: &snspmt_store::Purchase) -> Value {
    json!({
        "id": p.purchase_id,
        "purchase_id": p.purchase_id,
        "email": p.email,
        "user_id": p.user_id,
        "method": p.method.as_str(),
        "amount": p.amount.0,
        "price": p.price.0,
        "status": p.status.as_str(),
        "needs_attention": p.status.needs_attention(),
        "buyer_name": p.buyer_name,
        "bank_info": p.bank_info,
        "ordr_idxx": p.ordr_idxx,
        "good_name": p.good_name,
        "pay_method": p.pay_method,
        "tno": p.tno,
        "res_cd": p.res_cd,
        "res_msg": p.res_msg,
        "approved_amount": p.approved_amount,
        "decided_by": p.decided_by,
        "created_at": rfc3339(p.created_at),
        "updated_at": rfc3339(p.updated_at),
        "approving_at": p.approving_at.map(rfc3339),
        "approved_at": p.approved_at.map(rfc3339),
    })
}

pub fn notice(n: &snspmt_store::Notice) -> Value {
    json!({
        "notice_id": n.notice_id,
        "id": n.notice_id,
        "title": n.title,
        "content": n.content,
        "image_url": n.image_url,
        "popup_type": n.popup_type,
        "login_popup_image_url": n.login_popup_image_url,
        "is_active": n.is_active,
        "starts_at": n.starts_at.map(rfc3339),
        "ends_at": n.ends_at.map(rfc3339),
        "created_at": rfc3339(n.created_at),
        "updated_at": rfc3339(n.updated_at),
    })
}

pub fn post(p: &snspmt_store::Post) -> Value {
    json!({
        "post_id": p.post_id,
        "id": p.post_id,
        "title": p.title,
        "content": p.content,
        "excerpt": p.excerpt,
        "category": p.category,
        "tags": p.tags,
        "thumbnail_url": p.thumbnail_url,
        "is_published": p.is_published,
        "view_count": p.view_count,
        "created_at": rfc3339(p.created_at),
        "updated_at": rfc3339(p.updated_at),
        "published_at": p.published_at.map(rfc3339),
    })
}

fn opt_time(ms: Option<Millis>) -> Value {
    ms.map_or(Value::Null, |t| Value::String(rfc3339(t)))
}

/// A coupon definition, as the operator sees it.
pub fn coupon(c: &snspmt_store::Coupon) -> Value {
    json!({
        "id": c.coupon_id,
        "coupon_id": c.coupon_id,
        "code": c.code,
        "name": c.name,
        "coupon_code": c.code,
        "coupon_name": c.name,
        "discount_type": c.discount_type.as_str(),
        "discount_value": c.discount_value,
        "min_order_amount": c.min_order_amount.0,
        "valid_from": opt_time(c.valid_from),
        "valid_until": opt_time(c.valid_until),
        "max_uses": c.max_uses,
        "used_count": c.issued_count,
        "is_active": c.is_active,
        "created_at": rfc3339(c.created_at),
        "updated_at": rfc3339(c.updated_at),
    })
}

/// A user's copy of a coupon; `id` is what `coupon_id` on an order takes.
pub fn user_coupon(c: &snspmt_store::UserCoupon) -> Value {
    json!({
        "id": c.id,
        "code": c.code,
        "name": c.name,
        "coupon_code": c.code,
        "coupon_name": c.name,
        "discount_type": c.discount_type.as_str(),
        "discount_value": c.discount_value,
        "min_order_amount": c.min_order_amount.0,
        "is_used": c.is_used,
        "is_active": c.is_active,
        "source": c.source,
        "valid_from": opt_time(c.valid_from),
        "expires_at": opt_time(c.expires_at),
        "used_order_id": c.used_order_id,
        "created_at": rfc3339(c.created_at),
    })
}

pub fn commission(c: &snspmt_store::Commission) -> Value {
    json!({
        "id": c.commission_id,
        "order_id": c.order_id,
        "referrer_user_id": c.referrer_user_id,
        "referred_user": c.referred_user_id,
        "purchase_amount": c.purchase_amount.0,
        "commission_amount": c.amount.0,
        "commission_rate_bps": c.rate.0,
        "status": c.status.as_str(),
        "created_at": rfc3339(c.created_at),
        "settled_at": opt_time(c.settled_at),
        // The original client's names: the rate as a fraction (0.1 for 10 %), the date the
        // commission was earned.
        "referredUser": c.referred_user_id,
        "purchaseAmount": c.purchase_amount.0,
        "commissionAmount": c.amount.0,
        "commissionRate": rate_fraction(c.rate),
        "paymentDate": rfc3339(c.created_at),
    })
}

pub fn commission_entry(e: &snspmt_store::CommissionEntry) -> Value {
    json!({
        "id": e.id,
        "type": e.kind,
        "amount": e.amount.0,
        "balance_after": e.balance_after.0,
        "reference": e.reference,
        "description": e.description,
        "created_at": rfc3339(e.created_at),
    })
}

/// A rate in basis points as the fraction the original client multiplies by 100 (0.1 for 10 %).
pub fn rate_fraction(rate: snspmt_core::Bps) -> f64 {
    f64::from(rate.0) / 10_000.0
}

/// A referrer with their book: every money field a number. `id` is the code (a referrer has
/// one), `name` the account's name, `commission_rate` the fraction.
pub fn referrer(r: &snspmt_store::Referrer) -> Value {
    json!({
        "id": r.code,
        "name": r.name,
        "user_id": r.user_id,
        "email": r.email,
        "code": r.code,
        "is_active": r.is_active,
        "commission_rate_bps": r.commission_rate.0,
        "usage_count": r.referral_count,
        "total_earned": r.earned.0,
        "total_paid": r.paid.0,
        "pending_withdrawal": r.reserved.0,
        "current_balance": r.balance().0,
        "created_at": rfc3339(r.created_at),
        "createdAt": rfc3339(r.created_at),
        "total_commission": r.earned.0,
        "commission_rate": rate_fraction(r.commission_rate),
    })
}

pub fn withdrawal(w: &snspmt_store::Withdrawal) -> Value {
    json!({
        "id": w.withdrawal_id,
        "request_id": w.withdrawal_id,
        "user_id": w.user_id,
        "amount": w.amount.0,
        "bank_name": w.bank_name,
        "account_number": w.account_number,
        "account_holder": w.account_holder,
        "status": w.status.as_str(),
        "admin_notes": w.admin_notes,
        "decided_by": w.decided_by,
        "created_at": rfc3339(w.created_at),
        "decided_at": opt_time(w.decided_at),
    })
}

pub fn payout(p: &snspmt_store::Payout) -> Value {
    json!({
        "id": p.payout_id,
        "user_id": p.user_id,
        "amount": p.amount.0,
        "kind": p.kind,
        "withdrawal_id": p.withdrawal_id,
        "notes": p.notes,
        "paid_by": p.paid_by,
        "created_at": rfc3339(p.created_at),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn times() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
