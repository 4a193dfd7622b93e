//! JSON shapes of domain values, as the API shows them.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{json, Value};
use snspmt_core::referral::{CommissionStatus, DiscountType, WithdrawalState};
use snspmt_core::{Bps, LedgerKind, Points};
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

/// An account, as its owner or an operator sees it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct UserView {
    pub user_id: String,
    pub email: Option<String>,
    pub name: String,
    pub display_name: String,
    pub is_admin: bool,
    /// The balance in points (1 point = 1 KRW).
    pub points: Points,
    /// Whether the account can sign in with a password.
    pub has_password: bool,
    /// Whether the e-mail was proven (a mailed link, or a provider's verified address).
    pub email_verified: bool,
    /// RFC 3339 UTC.
    pub created_at: String,
    // The names the original client reads, beside ours: `username` is the account's name,
    // `balance` its points; accounts are never deactivated, so `is_active` is always true.
    /// The original client's name for `display_name`.
    #[serde(rename = "displayName")]
    pub display_name_alias: String,
    /// The original client's name for `name`.
    pub username: String,
    /// The original client's name for `points`.
    pub balance: Points,
    /// The user's own referral code, when they are a referrer.
    pub referral_code: Option<String>,
    /// Always true: accounts are never deactivated.
    pub is_active: bool,
}

pub fn user(u: &User) -> UserView {
    UserView {
        user_id: u.user_id.clone(),
        email: u.email.clone(),
        name: u.name.clone(),
        display_name: u.display_name.clone(),
        is_admin: u.is_admin,
        points: u.points,
        has_password: u.has_password,
        email_verified: u.email_verified,
        created_at: rfc3339(u.created_at),
        display_name_alias: u.display_name.clone(),
        username: u.name.clone(),
        balance: u.points,
        referral_code: u.referral_code.clone(),
        is_active: true,
    }
}

/// One row of the points ledger.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LedgerEntryView {
    pub id: i64,
    pub user_id: String,
    pub kind: LedgerKind,
    /// Points, signed: positive credits, negative debits.
    pub amount: Points,
    /// The balance after this row, in points.
    pub balance_after: Points,
    /// The purchase, order or request this row belongs to.
    pub reference: Option<String>,
    pub description: String,
    /// RFC 3339 UTC.
    pub created_at: String,
}

pub fn ledger_entry(e: &LedgerEntry) -> LedgerEntryView {
    LedgerEntryView {
        id: e.id,
        user_id: e.user_id.clone(),
        kind: e.kind,
        amount: e.amount,
        balance_after: e.balance_after,
        reference: e.reference.clone(),
        description: e.description.clone(),
        created_at: rfc3339(e.created_at),
    }
}

/// One row of the admin audit log.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AuditEntryView {
    pub id: i64,
    /// Who acted: `admin-token`, or `user:<id>` of an admin user.
    pub actor: String,
    /// What was done (`users.update`, `database.migrate`, …).
    pub action: String,
    pub target: Option<String>,
    /// What changed: the recorded JSON, or its text when it is not JSON.
    pub detail: Value,
    /// RFC 3339 UTC.
    pub created_at: String,
}

pub fn audit_entry(a: &AuditEntry) -> AuditEntryView {
    let detail: Value = serde_json::from_str(&a.detail).unwrap_or(Value::String(a.detail.clone()));
    AuditEntryView {
        id: a.id,
        actor: a.actor.clone(),
        action: a.action.clone(),
        target: a.target.clone(),
        detail,
        created_at: rfc3339(a.created_at),
    }
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

/// A notice (an announcement, or a popup shown to visitors).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct NoticeView {
    pub notice_id: i64,
    /// The same as `notice_id` (the original client's name).
    pub id: i64,
    pub title: String,
    pub content: String,
    pub image_url: Option<String>,
    /// How it is shown: `notice`, `login`, `modal`, `banner` or `toast`.
    pub popup_type: String,
    /// The image of a `login` popup (the original client's field).
    pub login_popup_image_url: Option<String>,
    pub is_active: bool,
    /// When it starts being shown (RFC 3339 UTC); `null`: from the start.
    pub starts_at: Option<String>,
    /// When it stops being shown (RFC 3339 UTC); `null`: never.
    pub ends_at: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub updated_at: String,
}

pub fn notice(n: &snspmt_store::Notice) -> NoticeView {
    NoticeView {
        notice_id: n.notice_id,
        id: n.notice_id,
        title: n.title.clone(),
        content: n.content.clone(),
        image_url: n.image_url.clone(),
        popup_type: n.popup_type.clone(),
        login_popup_image_url: n.login_popup_image_url.clone(),
        is_active: n.is_active,
        starts_at: n.starts_at.map(rfc3339),
        ends_at: n.ends_at.map(rfc3339),
        created_at: rfc3339(n.created_at),
        updated_at: rfc3339(n.updated_at),
    }
}

/// A blog post.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PostView {
    pub post_id: i64,
    /// The same as `post_id` (the original client's name).
    pub id: i64,
    pub title: String,
    /// The body, as the operator wrote it.
    pub content: String,
    pub excerpt: String,
    pub category: String,
    pub tags: Vec<String>,
    pub thumbnail_url: Option<String>,
    pub is_published: bool,
    pub view_count: i64,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub updated_at: String,
    /// When it was first published (RFC 3339 UTC); `null` while a draft.
    pub published_at: Option<String>,
}

pub fn post(p: &snspmt_store::Post) -> PostView {
    PostView {
        post_id: p.post_id,
        id: p.post_id,
        title: p.title.clone(),
        content: p.content.clone(),
        excerpt: p.excerpt.clone(),
        category: p.category.clone(),
        tags: p.tags.clone(),
        thumbnail_url: p.thumbnail_url.clone(),
        is_published: p.is_published,
        view_count: p.view_count,
        created_at: rfc3339(p.created_at),
        updated_at: rfc3339(p.updated_at),
        published_at: p.published_at.map(rfc3339),
    }
}

/// A coupon definition, as the operator sees it. `code`/`coupon_code` and `name`/`coupon_name`
/// are the same values under our names and the original client's.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CouponView {
    /// The same as `coupon_id`.
    pub id: i64,
    pub coupon_id: i64,
    pub code: String,
    pub name: String,
    pub coupon_code: String,
    pub coupon_name: String,
    pub discount_type: DiscountType,
    /// Percent (1 to 100) or points, by `discount_type`.
    pub discount_value: i64,
    /// The smallest order price (points) it applies to.
    pub min_order_amount: Points,
    /// RFC 3339 UTC; `null`: from creation.
    pub valid_from: Option<String>,
    /// RFC 3339 UTC; `null`: no end.
    pub valid_until: Option<String>,
    /// How many copies may be handed out; `null`: unlimited.
    pub max_uses: Option<i64>,
    /// How many copies were handed out.
    pub used_count: i64,
    pub is_active: bool,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub updated_at: String,
}

/// A coupon definition, as the operator sees it.
pub fn coupon(c: &snspmt_store::Coupon) -> CouponView {
    CouponView {
        id: c.coupon_id,
        coupon_id: c.coupon_id,
        code: c.code.clone(),
        name: c.name.clone(),
        coupon_code: c.code.clone(),
        coupon_name: c.name.clone(),
        discount_type: c.discount_type,
        discount_value: c.discount_value,
        min_order_amount: c.min_order_amount,
        valid_from: c.valid_from.map(rfc3339),
        valid_until: c.valid_until.map(rfc3339),
        max_uses: c.max_uses,
        used_count: c.issued_count,
        is_active: c.is_active,
        created_at: rfc3339(c.created_at),
        updated_at: rfc3339(c.updated_at),
    }
}

/// A user's copy of a coupon.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct UserCouponView {
    /// The copy's id: what an order's `coupon_id` takes.
    pub id: i64,
    pub code: String,
    pub name: String,
    pub coupon_code: String,
    pub coupon_name: String,
    pub discount_type: DiscountType,
    /// Percent (1 to 100) or points, by `discount_type`.
    pub discount_value: i64,
    /// The smallest order price (points) it applies to.
    pub min_order_amount: Points,
    pub is_used: bool,
    /// The coupon it came from is still active.
    pub is_active: bool,
    /// `referral` (the referral coupon) or `code` (redeemed by code).
    pub source: String,
    /// RFC 3339 UTC; `null`: from issue.
    pub valid_from: Option<String>,
    /// RFC 3339 UTC; `null`: never.
    pub expires_at: Option<String>,
    /// The order it was used on.
    pub used_order_id: Option<i64>,
    /// RFC 3339 UTC.
    pub created_at: String,
}

/// A user's copy of a coupon; `id` is what `coupon_id` on an order takes.
pub fn user_coupon(c: &snspmt_store::UserCoupon) -> UserCouponView {
    UserCouponView {
        id: c.id,
        code: c.code.clone(),
        name: c.name.clone(),
        coupon_code: c.code.clone(),
        coupon_name: c.name.clone(),
        discount_type: c.discount_type,
        discount_value: c.discount_value,
        min_order_amount: c.min_order_amount,
        is_used: c.is_used,
        is_active: c.is_active,
        source: c.source.clone(),
        valid_from: c.valid_from.map(rfc3339),
        expires_at: c.expires_at.map(rfc3339),
        used_order_id: c.used_order_id,
        created_at: rfc3339(c.created_at),
    }
}

/// A referrer's commission on one order. Beside our fields, the original client's names: the
/// rate as a fraction (0.1 for 10 %), the date the commission was earned.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CommissionView {
    pub id: i64,
    pub order_id: i64,
    pub referrer_user_id: String,
    /// The referred user who placed the order.
    pub referred_user: String,
    /// The order's final price, in points.
    pub purchase_amount: Points,
    /// The commission, in points.
    pub commission_amount: Points,
    /// The referrer's rate when the order was placed, in basis points (1000 = 10 %).
    pub commission_rate_bps: Bps,
    pub status: CommissionStatus,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// When the amount became final (RFC 3339 UTC); `null` while pending.
    pub settled_at: Option<String>,
    /// `referred_user`, the original client's name.
    #[serde(rename = "referredUser")]
    pub referred_user_alias: String,
    /// `purchase_amount`, the original client's name.
    #[serde(rename = "purchaseAmount")]
    pub purchase_amount_alias: Points,
    /// `commission_amount`, the original client's name.
    #[serde(rename = "commissionAmount")]
    pub commission_amount_alias: Points,
    /// The rate as a fraction (0.1 for 10 %).
    #[serde(rename = "commissionRate")]
    pub commission_rate: f64,
    /// `created_at` (RFC 3339 UTC), the original client's name.
    #[serde(rename = "paymentDate")]
    pub payment_date: String,
}

pub fn commission(c: &snspmt_store::Commission) -> CommissionView {
    CommissionView {
        id: c.commission_id,
        order_id: c.order_id,
        referrer_user_id: c.referrer_user_id.clone(),
        referred_user: c.referred_user_id.clone(),
        purchase_amount: c.purchase_amount,
        commission_amount: c.amount,
        commission_rate_bps: c.rate,
        status: c.status,
        created_at: rfc3339(c.created_at),
        settled_at: c.settled_at.map(rfc3339),
        referred_user_alias: c.referred_user_id.clone(),
        purchase_amount_alias: c.purchase_amount,
        commission_amount_alias: c.amount,
        commission_rate: rate_fraction(c.rate),
        payment_date: rfc3339(c.created_at),
    }
}

/// One movement of a referrer's commission balance.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CommissionEntryView {
    pub id: i64,
    /// `commission`, `withdrawal_request`, `withdrawal_approved`, `withdrawal_rejected` or
    /// `payout`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Points, signed.
    pub amount: Points,
    /// The commission balance after, in points.
    pub balance_after: Points,
    pub reference: Option<String>,
    pub description: String,
    /// RFC 3339 UTC.
    pub created_at: String,
}

pub fn commission_entry(e: &snspmt_store::CommissionEntry) -> CommissionEntryView {
    CommissionEntryView {
        id: e.id,
        kind: e.kind.clone(),
        amount: e.amount,
        balance_after: e.balance_after,
        reference: e.reference.clone(),
        description: e.description.clone(),
        created_at: rfc3339(e.created_at),
    }
}

/// A rate in basis points as the fraction the original client multiplies by 100 (0.1 for 10 %).
pub fn rate_fraction(rate: snspmt_core::Bps) -> f64 {
    f64::from(rate.0) / 10_000.0
}

/// A referrer with their book: every money field a number of points. `id` is the code (a
/// referrer has one), `name` the account's name, `commission_rate` the fraction.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ReferrerView {
    /// The referral code.
    pub id: String,
    /// The referrer's account name.
    pub name: String,
    pub user_id: String,
    pub email: Option<String>,
    pub code: String,
    pub is_active: bool,
    /// The rate of orders placed from now on, in basis points (1000 = 10 %).
    pub commission_rate_bps: Bps,
    /// How many users used the code.
    pub usage_count: i64,
    /// Commission earned, in points.
    pub total_earned: Points,
    /// Commission paid out, in points.
    pub total_paid: Points,
    /// Points reserved by open withdrawal requests.
    pub pending_withdrawal: Points,
    /// What may still be withdrawn, in points.
    pub current_balance: Points,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// `created_at`, the original client's name.
    #[serde(rename = "createdAt")]
    pub created_at_alias: String,
    /// `total_earned`, the original client's name.
    pub total_commission: Points,
    /// The rate as a fraction (0.1 for 10 %).
    pub commission_rate: f64,
}

pub fn referrer(r: &snspmt_store::Referrer) -> ReferrerView {
    ReferrerView {
        id: r.code.clone(),
        name: r.name.clone(),
        user_id: r.user_id.clone(),
        email: r.email.clone(),
        code: r.code.clone(),
        is_active: r.is_active,
        commission_rate_bps: r.commission_rate,
        usage_count: r.referral_count,
        total_earned: r.earned,
        total_paid: r.paid,
        pending_withdrawal: r.reserved,
        current_balance: r.balance(),
        created_at: rfc3339(r.created_at),
        created_at_alias: rfc3339(r.created_at),
        total_commission: r.earned,
        commission_rate: rate_fraction(r.commission_rate),
    }
}

/// A referrer's request to withdraw commission to a bank account.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct WithdrawalView {
    pub id: i64,
    /// The same as `id` (the original client's name).
    pub request_id: i64,
    pub user_id: String,
    /// Points.
    pub amount: Points,
    pub bank_name: String,
    pub account_number: String,
    pub account_holder: String,
    pub status: WithdrawalState,
    pub admin_notes: Option<String>,
    /// The operator who decided.
    pub decided_by: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC; `null` while requested.
    pub decided_at: Option<String>,
}

pub fn withdrawal(w: &snspmt_store::Withdrawal) -> WithdrawalView {
    WithdrawalView {
        id: w.withdrawal_id,
        request_id: w.withdrawal_id,
        user_id: w.user_id.clone(),
        amount: w.amount,
        bank_name: w.bank_name.clone(),
        account_number: w.account_number.clone(),
        account_holder: w.account_holder.clone(),
        status: w.status,
        admin_notes: w.admin_notes.clone(),
        decided_by: w.decided_by.clone(),
        created_at: rfc3339(w.created_at),
        decided_at: w.decided_at.map(rfc3339),
    }
}

/// A payout of commission: an approved withdrawal or a manual payment.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PayoutView {
    pub id: i64,
    pub user_id: String,
    /// Points.
    pub amount: Points,
    /// `withdrawal` or `manual`.
    pub kind: String,
    /// The withdrawal request it paid, if any.
    pub withdrawal_id: Option<i64>,
    pub notes: Option<String>,
    /// The operator who paid.
    pub paid_by: String,
    /// RFC 3339 UTC.
    pub created_at: String,
}

pub fn payout(p: &snspmt_store::Payout) -> PayoutView {
    PayoutView {
        id: p.payout_id,
        user_id: p.user_id.clone(),
        amount: p.amount,
        kind: p.kind.clone(),
        withdrawal_id: p.withdrawal_id,
        notes: p.notes.clone(),
        paid_by: p.paid_by.clone(),
        created_at: rfc3339(p.created_at),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn times() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
