//! JSON shapes of domain values, as the API shows them.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use snspmt_core::order::OrderStatus;
use snspmt_core::purchase::{PurchaseMethod, PurchaseStatus};
use snspmt_core::referral::{CommissionStatus, DiscountType, WithdrawalState};
use snspmt_core::{Bps, LedgerKind, Points, Won};
use snspmt_store::{AuditEntry, LedgerEntry, Millis, User};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// An instant as a UTC date and time (`None` beyond the years `time` can show).
pub fn utc(ms: Millis) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms.0) * 1_000_000).ok()
}

/// Milliseconds since the epoch as RFC 3339 UTC.
pub fn rfc3339(ms: Millis) -> String {
    utc(ms).and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
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

/// A service as an operator sees it: with the upstream's id.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ServiceView {
    pub service_id: i64,
    /// The upstream panel's id of the service.
    pub provider_service_id: String,
    pub name: String,
    pub category: String,
    pub platform: String,
    /// The upstream type (`default`, `custom_comments`, … or the panel's own text for a type
    /// we do not know): which parameters an order takes.
    #[serde(rename = "type")]
    pub service_type: String,
    /// Points per 1000 units, the catalogue's price.
    pub price_per_1000: Points,
    pub min_quantity: i64,
    pub max_quantity: i64,
    /// Whether drip-feed (`runs`, `interval`) is offered.
    pub dripfeed: bool,
    pub refill: bool,
    pub cancel: bool,
    /// Whether it is on sale (a deleted service is inactive).
    pub is_active: bool,
    pub description: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub updated_at: String,
}

pub fn service(s: &snspmt_store::Service) -> ServiceView {
    ServiceView {
        service_id: s.service_id,
        provider_service_id: s.provider_service_id.clone(),
        name: s.name.clone(),
        category: s.category.clone(),
        platform: s.platform.clone(),
        service_type: s.service_type.clone(),
        price_per_1000: s.price_per_1000,
        min_quantity: s.min_quantity,
        max_quantity: s.max_quantity,
        dripfeed: s.dripfeed,
        refill: s.refill,
        cancel: s.cancel,
        is_active: s.is_active,
        description: s.description.clone(),
        created_at: rfc3339(s.created_at),
        updated_at: rfc3339(s.updated_at),
    }
}

/// A service as customers see it: our price, never the upstream's id or rate.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PublicServiceView {
    pub service_id: i64,
    pub name: String,
    pub category: String,
    pub platform: String,
    /// The upstream type (`default`, `custom_comments`, …): which parameters an order takes.
    #[serde(rename = "type")]
    pub service_type: String,
    /// Points per 1000 units: the signed-in caller's price when the list was asked for with a
    /// session, else the catalogue's.
    pub price_per_1000: Points,
    /// The catalogue's points per 1000 units, beside the caller's own price; only in a list
    /// asked for with a session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_price_per_1000: Option<Points>,
    pub min_quantity: i64,
    pub max_quantity: i64,
    /// Whether drip-feed (`runs`, `interval`) is offered.
    pub dripfeed: bool,
    pub refill: bool,
    pub description: String,
}

/// A service as customers see it: our price, never the upstream's id or rate.
pub fn public_service(s: &snspmt_store::Service) -> PublicServiceView {
    PublicServiceView {
        service_id: s.service_id,
        name: s.name.clone(),
        category: s.category.clone(),
        platform: s.platform.clone(),
        service_type: s.service_type.clone(),
        price_per_1000: s.price_per_1000,
        base_price_per_1000: None,
        min_quantity: s.min_quantity,
        max_quantity: s.max_quantity,
        dripfeed: s.dripfeed,
        refill: s.refill,
        description: s.description.clone(),
    }
}

/// What a customer is told of an order's trouble: a stable code and a Korean text. Never the
/// internal error, which may name the upstream, its URL or its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerProblem {
    /// `under_review`, `submission_delayed`, `processing_issue` or `order_failed`.
    pub code: &'static str,
    /// What the customer reads (Korean).
    pub text: &'static str,
}

/// What a customer is told of an order's trouble; `None`: nothing to say.
pub fn customer_problem(o: &snspmt_store::Order) -> Option<CustomerProblem> {
    use snspmt_core::order::OrderStatus::*;
    let (code, text) = match o.status {
        Unknown => ("under_review", "주문 처리 상태를 확인하고 있습니다. 확인 후 처리해 드립니다."),
        _ if o.error.is_none() => return None,
        Pending | Scheduled | Submitting => {
            ("submission_delayed", "주문 발송이 지연되고 있습니다. 잠시 후 자동으로 다시 보냅니다.")
        }
        InProgress | Processing => ("processing_issue", "주문 처리 중 문제가 발생했습니다. 확인 중입니다."),
        Failed | Canceled => {
            ("order_failed", "주문을 처리하지 못했습니다. 사용하신 포인트는 환불되었습니다.")
        }
        Partial | Completed => return None,
    };
    Some(CustomerProblem { code, text })
}

/// The codes [`customer_problem`] gives, for the schema of `error_code`.
const PROBLEM_CODES: [&str; 4] = ["under_review", "submission_delayed", "processing_issue", "order_failed"];

/// One step of a package order, as the catalogue defines the package now.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PackageStepView {
    pub service_id: i64,
    pub name: String,
    /// Units per run of the step.
    pub quantity: u64,
    /// How many times the step runs (at least 1).
    pub repeat: u32,
    /// Minutes after the previous part was accepted; `null` means 1440 (a day).
    pub delay_minutes: Option<u32>,
}

/// The fields both views of an order show.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OrderFields {
    pub order_id: i64,
    pub user_id: String,
    /// The service ordered (a package order: its first step's).
    pub service_id: Option<i64>,
    /// The service's name (a package order: the package's).
    pub service_name: String,
    pub link: String,
    /// Units per run (drip-feed), or in all.
    pub quantity: i64,
    /// Drip-feed runs; `null` for a single run.
    pub runs: Option<i64>,
    /// Drip-feed: minutes between runs.
    pub interval: Option<i64>,
    /// Units in all: `quantity × runs`.
    pub total_quantity: u64,
    /// Points, before the coupon.
    pub price: Points,
    /// Points the coupon took off.
    pub discount_amount: Points,
    /// Points charged: `price - discount_amount`.
    pub final_price: Points,
    /// The points we charged (`final_price`), under the original web client's name.
    pub charge: Points,
    /// Points credited to the referrer.
    pub commission_amount: Points,
    pub status: OrderStatus,
    /// The status as the Korean UI shows it.
    pub status_label: &'static str,
    pub is_package: bool,
    pub package_id: Option<i64>,
    /// A package order's steps; `[]` otherwise.
    pub package_steps: Vec<PackageStepView>,
    /// Upstream submissions of a package or split order; 1 for a single one.
    pub total_steps: i64,
    /// Days of a split delivery.
    pub split_days: Option<i64>,
    /// The upstream panel's order id, once it accepted the order.
    pub smm_panel_order_id: Option<String>,
    /// The count the panel reported when it started.
    pub start_count: Option<i64>,
    /// Units the panel reported undelivered.
    pub remains: Option<i64>,
    /// Points refunded so far.
    pub refunded_amount: Points,
    /// When the panel was last asked (RFC 3339 UTC).
    pub last_status_check: Option<String>,
    /// A stable code for the order's trouble (`error` says it in words); `null` when none.
    #[schemars(extend("enum" = problem_codes()))]
    pub error_code: Option<&'static str>,
    pub is_scheduled: bool,
    /// The customer's chosen time, for a scheduled order (RFC 3339 UTC).
    pub scheduled_at: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub updated_at: String,
}

fn problem_codes() -> Vec<Option<&'static str>> {
    PROBLEM_CODES.iter().copied().map(Some).chain([None]).collect()
}

/// An order as its owner sees it: our prices, never the upstream's cost nor the internal
/// error.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CustomerOrderView {
    #[serde(flatten)]
    pub order: OrderFields,
    /// What the customer is told of the order's trouble (Korean); `null` when nothing.
    pub error: Option<&'static str>,
}

/// An order as an operator sees it: the customer's view, plus what the upstream reported it
/// cost us and the internal error text.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OrderView {
    #[serde(flatten)]
    pub order: OrderFields,
    /// What the upstream reported the order cost us: its text, in its currency.
    pub upstream_charge: Option<String>,
    /// The internal error text (may name the upstream and its answer).
    pub error: Option<String>,
    /// The service type's parameters sent with it (`{"usernames": "a\nb"}`; `{}` for none).
    pub params: BTreeMap<String, String>,
}

/// The operator's view of an order for an admin, the customer's for anyone else.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum OrderForView {
    Operator(OrderView),
    Customer(CustomerOrderView),
}

fn order_fields(o: &snspmt_store::Order) -> OrderFields {
    let steps = o
        .package_steps
        .iter()
        .map(|s| PackageStepView {
            service_id: s.service_id,
            name: s.name.clone(),
            quantity: s.quantity,
            repeat: s.repeat,
            delay_minutes: s.delay_minutes,
        })
        .collect();
    OrderFields {
        order_id: o.order_id.0,
        user_id: o.user_id.clone(),
        service_id: o.service_id,
        service_name: o.service_name.clone(),
        link: o.link.clone(),
        quantity: o.quantity,
        runs: o.runs,
        interval: o.interval_minutes,
        total_quantity: o.total_quantity(),
        price: o.price,
        discount_amount: o.discount_amount,
        final_price: o.final_price,
        charge: o.final_price,
        commission_amount: o.commission_amount,
        status: o.status,
        status_label: o.status.label(),
        is_package: o.package_id.is_some(),
        package_id: o.package_id,
        package_steps: steps,
        total_steps: o.total_parts.max(1),
        split_days: o.split_days,
        smm_panel_order_id: o.smm_panel_order_id.clone(),
        start_count: o.start_count,
        remains: o.remains,
        refunded_amount: o.refunded_amount,
        last_status_check: o.last_status_check.map(rfc3339),
        error_code: customer_problem(o).map(|p| p.code),
        is_scheduled: o.scheduled_at.is_some(),
        scheduled_at: o.scheduled_at.map(rfc3339),
        created_at: rfc3339(o.created_at),
        updated_at: rfc3339(o.updated_at),
    }
}

/// An order as its owner sees it: our prices, never the upstream's cost nor the internal
/// error (`error` is [`customer_problem`]'s text, `error_code` its code). Beside our fields, the
/// ones the original web client reads: `charge` (the points we charged: `final_price`),
/// `is_package`, `package_steps` (the package's steps, `[]` otherwise) and `total_steps` (the
/// upstream submissions of a package or split order, 1 for a single one).
pub fn customer_order(o: &snspmt_store::Order) -> CustomerOrderView {
    CustomerOrderView { order: order_fields(o), error: customer_problem(o).map(|p| p.text) }
}

/// An order as an operator sees it: the customer's view, plus what the upstream reported it
/// cost us (`upstream_charge`, its text in its currency), the internal error text (`error`) and
/// the service type's parameters sent with it (`params`: `{"usernames": "a\nb"}`, `{}` for none).
pub fn order(o: &snspmt_store::Order) -> OrderView {
    OrderView {
        order: order_fields(o),
        upstream_charge: o.charge.clone(),
        error: o.error.clone(),
        params: o.params.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
    }
}

/// The operator's view for an admin, the customer's for anyone else.
pub fn order_for(o: &snspmt_store::Order, admin: bool) -> OrderForView {
    if admin {
        OrderForView::Operator(order(o))
    } else {
        OrderForView::Customer(customer_order(o))
    }
}

/// A purchase as an operator sees it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PurchaseView {
    /// The purchase id (also as `purchase_id`).
    pub id: i64,
    pub purchase_id: i64,
    /// The buyer's account e-mail.
    pub email: Option<String>,
    pub user_id: String,
    pub method: PurchaseMethod,
    /// Points bought.
    pub amount: Points,
    /// Won paid.
    pub price: Won,
    pub status: PurchaseStatus,
    /// An operator should look at it: an approval that never finished (`approving`), one for
    /// the wrong amount, or one whose answer was lost. Money may have moved at KCP.
    pub needs_attention: bool,
    /// A bank transfer: the name the transfer comes from.
    pub buyer_name: Option<String>,
    pub bank_info: Option<String>,
    /// A KCP payment: our order number at KCP.
    pub ordr_idxx: Option<String>,
    pub good_name: Option<String>,
    /// A KCP payment: `CARD`, `BANK`, `VCNT`, `MOBX`, `TPNT` or `GIFT`.
    pub pay_method: Option<String>,
    /// KCP's transaction number.
    pub tno: Option<String>,
    /// KCP's result code.
    pub res_cd: Option<String>,
    /// KCP's result text.
    pub res_msg: Option<String>,
    /// Won KCP reported approving.
    pub approved_amount: Option<i64>,
    /// Who approved, rejected or settled it.
    pub decided_by: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub updated_at: String,
    /// When the approval at KCP began (RFC 3339 UTC).
    pub approving_at: Option<String>,
    /// RFC 3339 UTC.
    pub approved_at: Option<String>,
}

/// A purchase as an operator sees it; `email` is the buyer's account e-mail.
pub fn purchase(p: &snspmt_store::Purchase) -> PurchaseView {
    PurchaseView {
        id: p.purchase_id.0,
        purchase_id: p.purchase_id.0,
        email: p.email.clone(),
        user_id: p.user_id.clone(),
        method: p.method,
        amount: p.amount,
        price: p.price,
        status: p.status,
        needs_attention: p.status.needs_attention(),
        buyer_name: p.buyer_name.clone(),
        bank_info: p.bank_info.clone(),
        ordr_idxx: p.ordr_idxx.clone(),
        good_name: p.good_name.clone(),
        pay_method: p.pay_method.clone(),
        tno: p.tno.clone(),
        res_cd: p.res_cd.clone(),
        res_msg: p.res_msg.clone(),
        approved_amount: p.approved_amount,
        decided_by: p.decided_by.clone(),
        created_at: rfc3339(p.created_at),
        updated_at: rfc3339(p.updated_at),
        approving_at: p.approving_at.map(rfc3339),
        approved_at: p.approved_at.map(rfc3339),
    }
}

#[cfg(test)]
mod typed_view_tests {
    use serde_json::{json, Value};

    fn keys(v: &impl serde::Serialize) -> Vec<String> {
        let mut keys: Vec<String> = match serde_json::to_value(v) {
            Ok(Value::Object(m)) => m.keys().cloned().collect(),
            other => panic!("not an object: {other:?}"),
        };
        keys.sort();
        keys
    }

    fn sorted(names: &[&str]) -> Vec<String> {
        let mut names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        names.sort();
        names
    }

    fn order() -> snspmt_store::Order {
        serde_json::from_value(json!({
            "order_id": 7, "user_id": "u", "service_id": 3, "service_name": "likes", "link": "https://x",
            "quantity": 100, "runs": null, "interval_minutes": null, "comments": null, "price": 500,
            "discount_amount": 50, "final_price": 450, "commission_amount": 0, "status": "in_progress",
            "smm_panel_order_id": "99", "start_count": null, "remains": null, "charge": "0.12",
            "refunded_amount": 0, "last_status_check": null, "error": "panel said: no", "created_at": 0,
            "updated_at": 1, "scheduled_at": null, "params": {"usernames": "a\nb"},
            "package_steps": [{"service_id": 3, "quantity": 10, "delay_minutes": null, "repeat": 2, "name": "s"}],
        }))
        .expect("an order")
    }

    /// The keys the untyped views had (and the original client reads).
    const CUSTOMER_ORDER: [&str; 32] = [
        "order_id",
        "user_id",
        "service_id",
        "service_name",
        "link",
        "quantity",
        "runs",
        "interval",
        "total_quantity",
        "price",
        "discount_amount",
        "final_price",
        "charge",
        "commission_amount",
        "status",
        "status_label",
        "is_package",
        "package_id",
        "package_steps",
        "total_steps",
        "split_days",
        "smm_panel_order_id",
        "start_count",
        "remains",
        "refunded_amount",
        "last_status_check",
        "error",
        "error_code",
        "is_scheduled",
        "scheduled_at",
        "created_at",
        "updated_at",
    ];

    #[test]
    fn order_views_keep_their_keys() {
        let o = order();
        assert_eq!(keys(&super::customer_order(&o)), sorted(&CUSTOMER_ORDER));
        let operator: Vec<&str> =
            CUSTOMER_ORDER.iter().copied().chain(["upstream_charge", "params"]).collect();
        assert_eq!(keys(&super::order(&o)), sorted(&operator));
        assert_eq!(keys(&super::order_for(&o, true)), sorted(&operator));
        assert_eq!(keys(&super::order_for(&o, false)), sorted(&CUSTOMER_ORDER));
        let customer = serde_json::to_value(super::customer_order(&o)).expect("json");
        // The customer reads our words for the trouble, never the internal error.
        assert_eq!(customer["error_code"], "processing_issue");
        assert!(customer["error"].as_str().is_some_and(|t| !t.contains("panel")), "{customer}");
        assert_eq!(
            (customer["status"].as_str(), customer["charge"].as_i64()),
            (Some("in_progress"), Some(450))
        );
        assert_eq!(
            customer["package_steps"],
            json!([{"service_id": 3, "name": "s", "quantity": 10, "repeat": 2, "delay_minutes": null}])
        );
        let operator = serde_json::to_value(super::order(&o)).expect("json");
        assert_eq!(
            (operator["error"].as_str(), operator["upstream_charge"].as_str(), &operator["params"]),
            (Some("panel said: no"), Some("0.12"), &json!({"usernames": "a\nb"}))
        );
        let mut failed = o.clone();
        failed.status = snspmt_core::order::OrderStatus::Failed;
        let customer = serde_json::to_value(super::customer_order(&failed)).expect("json");
        assert_eq!(customer["error_code"], "order_failed");
        let mut fine = o.clone();
        fine.error = None;
        let customer = serde_json::to_value(super::customer_order(&fine)).expect("json");
        assert_eq!((&customer["error"], &customer["error_code"]), (&Value::Null, &Value::Null));
    }

    #[test]
    fn service_and_purchase_views_keep_their_keys() {
        let s: snspmt_store::Service = serde_json::from_value(json!({
            "service_id": 3, "provider_service_id": "p1", "name": "likes", "category": "Instagram",
            "platform": "instagram", "service_type": "default", "price_per_1000": 1000, "min_quantity": 10,
            "max_quantity": 1000, "dripfeed": false, "refill": true, "cancel": false, "is_active": true,
            "description": "", "created_at": 0, "updated_at": 0,
        }))
        .expect("a service");
        assert_eq!(
            keys(&super::service(&s)),
            sorted(&[
                "service_id",
                "provider_service_id",
                "name",
                "category",
                "platform",
                "type",
                "price_per_1000",
                "min_quantity",
                "max_quantity",
                "dripfeed",
                "refill",
                "cancel",
                "is_active",
                "description",
                "created_at",
                "updated_at",
            ])
        );
        let public = [
            "service_id",
            "name",
            "category",
            "platform",
            "type",
            "price_per_1000",
            "min_quantity",
            "max_quantity",
            "dripfeed",
            "refill",
            "description",
        ];
        assert_eq!(keys(&super::public_service(&s)), sorted(&public));
        let p: snspmt_store::Purchase = serde_json::from_value(json!({
            "purchase_id": 4, "user_id": "u", "method": "kcp", "amount": 1000, "price": 1000,
            "status": "approval_unknown", "buyer_name": null, "bank_info": null, "ordr_idxx": "POINT_1",
            "good_name": null, "pay_method": "CARD", "approval_key": "k", "pay_url": null, "trace_no": null,
            "tno": null, "res_cd": null, "res_msg": null, "approved_amount": null, "decided_by": null,
            "created_at": 0, "updated_at": 0, "approving_at": 5, "approved_at": null,
        }))
        .expect("a purchase");
        assert_eq!(
            keys(&super::purchase(&p)),
            sorted(&[
                "id",
                "purchase_id",
                "email",
                "user_id",
                "method",
                "amount",
                "price",
                "status",
                "needs_attention",
                "buyer_name",
                "bank_info",
                "ordr_idxx",
                "good_name",
                "pay_method",
                "tno",
                "res_cd",
                "res_msg",
                "approved_amount",
                "decided_by",
                "created_at",
                "updated_at",
                "approving_at",
                "approved_at",
            ])
        );
        let v = serde_json::to_value(super::purchase(&p)).expect("json");
        assert_eq!(
            (v["method"].as_str(), v["status"].as_str(), v["needs_attention"].as_bool()),
            (Some("kcp"), Some("approval_unknown"), Some(true))
        );
        assert_eq!(v["approving_at"], "1970-01-01T00:00:00.005Z");
    }
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
        used_order_id: c.used_order_id.map(|o| o.0),
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
        id: c.commission_id.0,
        order_id: c.order_id.0,
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
        id: w.withdrawal_id.0,
        request_id: w.withdrawal_id.0,
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
        id: p.payout_id.0,
        user_id: p.user_id.clone(),
        amount: p.amount,
        kind: p.kind.clone(),
        withdrawal_id: p.withdrawal_id.map(|w| w.0),
        notes: p.notes.clone(),
        paid_by: p.paid_by.clone(),
        created_at: rfc3339(p.created_at),
    }
}

#[cfg(test)]
mod tests {
    use super::Millis;

    #[test]
    fn times() {
        assert_eq!(super::rfc3339(Millis(0)), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(Millis(1_700_000_000_123)), "2023-11-14T22:13:20.123Z");
    }
}
