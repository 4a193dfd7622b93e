//! Buying points: bank transfers an operator approves, and KCP card payments approved
//! server-side. Each purchase is credited at most once, whatever is replayed.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use rand::RngCore;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use snspmt_core::purchase::{self, ApprovalOutcome, PurchaseMethod, PurchaseStatus};
use snspmt_core::upstream::kcp::{self, ReturnKind};
use snspmt_core::{validate, Millis, Points, Won};
use snspmt_store::{NewAudit, NewPurchase, Purchase, PurchaseFilter, PurchaseId, StoreError};
use time::OffsetDateTime;

use super::catalog::{parse_id, yes_no};
use super::points::idempotency_key;
use super::Paging;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::request::Req;
use crate::router::{Html, Json, Raw, Replayed, SeeOther};
use crate::upstream::kcp::{KcpClient, RegisterFailure};
use crate::{log, views, App};

/// An `approving` purchase older than this is listed for the operator.
pub const APPROVING_TOO_LONG_MS: i64 = 10 * 60 * 1000;

fn kcp_client(app: &App) -> Result<KcpClient, ApiError> {
    app.kcp.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "upstream_not_configured",
            "card payment is not configured (set KCP_SITE_CD and KCP_CERT_INFO, or SNSPMT_SIMULATE=1)",
        )
    })
}

fn optional_text(field: &'static str, v: Option<&str>) -> Result<Option<String>, ApiError> {
    Ok(v.map(|t| validate::short_text(field, t)).transpose()?.filter(|t| !t.is_empty()).map(str::to_owned))
}

/// `POST /api/points/purchase`: points bought by bank transfer, credited once an operator
/// approves.
#[derive(Deserialize, JsonSchema)]
#[schemars(example = serde_json::json!({"amount": 30000, "price": 30000, "buyer_name": "홍길동"}))]
pub struct BankPurchase {
    /// Another user's id (admins only); the caller by default.
    user_id: Option<String>,
    /// Points to buy.
    amount: i64,
    /// Won to pay.
    price: i64,
    /// The name the transfer comes from.
    buyer_name: Option<String>,
    /// The bank the transfer comes from.
    bank_info: Option<String>,
}

/// A recorded purchase (or the replay of one).
#[derive(Serialize, JsonSchema)]
pub struct Purchased {
    pub success: bool,
    pub purchase_id: i64,
    pub status: PurchaseStatus,
    pub purchase: views::PurchaseView,
}

pub async fn bank(app: &App, caller: &Caller, req: &Req) -> Result<Replayed<Purchased>, ApiError> {
    let body: BankPurchase = req.json()?;
    let user_id = caller.subject(body.user_id.as_deref(), false)?;
    let (amount, price) = purchase::validate_amounts(body.amount, body.price)?;
    let new = NewPurchase {
        user_id: user_id.clone(),
        method: PurchaseMethod::Bank,
        amount,
        price,
        buyer_name: optional_text("buyer_name", body.buyer_name.as_deref())?,
        bank_info: optional_text("bank_info", body.bank_info.as_deref())?,
        ordr_idxx: None,
        good_name: None,
        pay_method: None,
    };
    let key = idempotency_key(req, &user_id, "points.purchase")?;
    let outcome = app.store.create_purchase(new, key, app.clock.now()).await?;
    Ok(Replayed::of(&outcome, |p: &Purchase| Purchased {
        success: true,
        purchase_id: p.purchase_id.0,
        status: p.status,
        purchase: views::purchase(p),
    }))
}

/// `PUT /api/admin/purchases/{id}`: an operator decides a bank transfer.
#[derive(Deserialize, JsonSchema)]
pub struct Decide {
    /// `approved` (credits the points once) or `rejected`.
    #[schemars(extend("enum" = ["approved", "rejected"]))]
    status: String,
}

/// A purchase an operator decided or settled.
#[derive(Serialize, JsonSchema)]
pub struct PurchaseChanged {
    pub success: bool,
    pub purchase: views::PurchaseView,
}

pub async fn decide(
    app: &App,
    caller: &Caller,
    raw_id: &str,
    req: &Req,
) -> Result<Json<PurchaseChanged>, ApiError> {
    let id = parse_id("purchase_id", raw_id)?;
    let body: Decide = req.json()?;
    let approve = match body.status.as_str() {
        "approved" => true,
        "rejected" => false,
        _ => {
            return Err(ApiError::invalid_field(
                "status",
                "invalid_status",
                "status must be approved or rejected",
            ))
        }
    };
    let audit = NewAudit {
        actor: caller.actor(),
        action: if approve { "purchases.approve" } else { "purchases.reject" }.into(),
        target: Some(id.to_string()),
        detail: "{}".into(),
    };
    let p = match app.store.decide_bank_purchase(PurchaseId(id), approve, audit, app.clock.now()).await {
        Ok(p) => p,
        Err(e) => return Err(purchase_refusal(app, id, e).await),
    };
    Ok(Json(PurchaseChanged { success: true, purchase: views::purchase(&p) }))
}

/// A refusal about purchase `id`; a conflict names the purchase and its state as it is now.
async fn purchase_refusal(app: &App, id: i64, e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::not_found("purchase"),
        e @ StoreError::Conflict(_) => {
            let status = app.store.purchase(PurchaseId(id)).await.ok().flatten().map(|p| p.status);
            ApiError::from(e)
                .naming(&format!("purchase {id}"), status.map(PurchaseStatus::as_str))
                .with("purchase_id", id)
        }
        e => e.into(),
    }
}

/// `POST /api/admin/purchases/{id}/settle`: what KCP's admin shows of a card payment whose
/// approval never answered.
#[derive(Deserialize, JsonSchema)]
pub struct Settle {
    /// KCP's transaction number (up to 40 letters and digits); required for `approved`.
    tno: Option<String>,
    /// `approved` (credits the points once) or `failed`.
    #[schemars(extend("enum" = ["approved", "failed"]))]
    outcome: String,
}

/// `POST /api/admin/purchases/<id>/settle {tno?, outcome: "approved"|"failed"}`: an operator
/// settles a card payment whose approval never answered (`approval_unknown`, or `approving`
/// left by a crash) with what KCP's admin shows. `approved` needs KCP's `tno` and credits
/// once; the core decides which purchases may be settled.
pub async fn settle(
    app: &App,
    caller: &Caller,
    raw_id: &str,
    req: &Req,
) -> Result<Json<PurchaseChanged>, ApiError> {
    let id = parse_id("purchase_id", raw_id)?;
    let body: Settle = req.json()?;
    let tno = body.tno.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned);
    if tno.as_deref().is_some_and(|t| t.len() > 40 || !t.bytes().all(|b| b.is_ascii_alphanumeric())) {
        return Err(ApiError::invalid_field(
            "tno",
            "invalid_tno",
            "tno is KCP's transaction number (digits)",
        ));
    }
    let outcome = match body.outcome.as_str() {
        "approved" => purchase::OperatorOutcome::Approved {
            tno: tno.clone().ok_or_else(|| {
                ApiError::invalid_field("tno", "missing_tno", "an approved settlement needs KCP's tno")
            })?,
        },
        "failed" => purchase::OperatorOutcome::Failed { tno: tno.clone() },
        _ => {
            return Err(ApiError::invalid_field(
                "outcome",
                "invalid_outcome",
                "outcome must be approved or failed",
            ))
        }
    };
    let p = app.store.purchase(PurchaseId(id)).await?.ok_or_else(|| ApiError::not_found("purchase"))?;
    let now = app.clock.now();
    let stale_after = purchase::approval_stale_after_ms(app.config.upstream_timeout_ms);
    let settlement =
        purchase::operator_settlement(p.status, p.approving_at, p.price, &outcome, now, stale_after)
            .map_err(|r| settle_refused(r, &p))?;
    let audit = NewAudit {
        actor: caller.actor(),
        action: "purchases.settle".into(),
        target: Some(id.to_string()),
        detail: json!({"outcome": body.outcome, "tno": tno, "from": p.status.as_str()}).to_string(),
    };
    let p = match app.store.settle_by_operator(PurchaseId(id), settlement, audit, now).await {
        Ok(p) => p,
        Err(e) => return Err(purchase_refusal(app, id, e).await),
    };
    Ok(Json(PurchaseChanged { success: true, purchase: views::purchase(&p) }))
}

fn settle_refused(r: purchase::SettleRefusal, p: &Purchase) -> ApiError {
    use purchase::SettleRefusal as R;
    let message = match r {
        R::MissingTno => {
            return ApiError::invalid_field("tno", r.code(), "an approved settlement needs KCP's tno")
        }
        R::AlreadyProcessed => "this purchase has ended",
        R::InProgress => "this payment may still be being approved; try later",
        R::NotSettleable => "only a card payment whose approval never answered can be settled",
    };
    ApiError::new(StatusCode::CONFLICT, r.code(), message).about_purchase(p)
}

/// `GET /api/admin/purchases`: every user's purchases, newest first.
#[derive(Deserialize, JsonSchema)]
pub struct AdminPurchasesQuery {
    /// Only this user's purchases.
    user_id: Option<String>,
    /// Only purchases in this status.
    status: Option<PurchaseStatus>,
    /// Only purchases paid this way.
    method: Option<PurchaseMethod>,
    /// `1`/`true`: only those an operator should look at (an amount mismatch, an approval whose
    /// answer was lost, or one approving for more than 10 minutes).
    #[schemars(extend("enum" = ["1", "0", "true", "false"]))]
    attention: Option<String>,
    /// At most this many rows: 1 to 200, default 50.
    limit: Option<u32>,
    /// Skip this many rows first (default 0).
    offset: Option<u32>,
}

/// A page of purchases as the operator sees them.
#[derive(Serialize, JsonSchema)]
pub struct PurchasePage {
    pub purchases: Vec<views::PurchaseView>,
    /// Purchases matching the filter, in all.
    pub total: i64,
    /// The page size used.
    pub limit: i64,
    pub offset: i64,
}

pub async fn admin_list(app: &App, req: &Req) -> Result<Json<PurchasePage>, ApiError> {
    let query: AdminPurchasesQuery = req.query_as()?;
    let paging = Paging::of(query.limit, query.offset)?;
    let attention = yes_no("attention", query.attention.as_deref())?.unwrap_or(false);
    let filter = PurchaseFilter {
        user_id: query.user_id,
        status: query.status,
        method: query.method,
        attention_before: attention.then(|| app.clock.now().minus_ms(APPROVING_TOO_LONG_MS)),
        limit: paging.limit,
        offset: paging.offset,
    };
    let page = app.store.purchases(filter).await?;
    Ok(Json(PurchasePage {
        purchases: page.rows.iter().map(views::purchase).collect(),
        total: page.total,
        limit: paging.limit,
        offset: paging.offset,
    }))
}

/// `GET /api/points/purchase-history`: the caller's purchases (an admin may name another
/// user), newest first.
#[derive(Deserialize, JsonSchema)]
pub struct HistoryQuery {
    /// Another user's id (admins only); the caller by default.
    user_id: Option<String>,
    /// At most this many rows: 1 to 200, default 50.
    limit: Option<u32>,
    /// Skip this many rows first (default 0).
    offset: Option<u32>,
}

/// A purchase as its buyer sees it.
#[derive(Serialize, JsonSchema)]
pub struct PurchaseSummary {
    /// The purchase id (also as `purchase_id`).
    pub id: i64,
    pub purchase_id: i64,
    pub method: PurchaseMethod,
    /// Points bought.
    pub amount: Points,
    /// Won paid.
    pub price: Won,
    pub status: PurchaseStatus,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub approved_at: Option<String>,
}

/// A page of the user's purchases.
#[derive(Serialize, JsonSchema)]
pub struct PurchaseHistory {
    pub purchases: Vec<PurchaseSummary>,
    /// The user's purchases in all.
    pub total: i64,
}

pub async fn history(app: &App, caller: &Caller, req: &Req) -> Result<Json<PurchaseHistory>, ApiError> {
    let query: HistoryQuery = req.query_as()?;
    let user_id = caller.subject(query.user_id.as_deref(), true)?;
    let paging = Paging::of(query.limit, query.offset)?;
    let filter = PurchaseFilter {
        user_id: Some(user_id),
        limit: paging.limit,
        offset: paging.offset,
        ..Default::default()
    };
    let page = app.store.purchases(filter).await?;
    let purchases = page
        .rows
        .iter()
        .map(|p| PurchaseSummary {
            id: p.purchase_id.0,
            purchase_id: p.purchase_id.0,
            method: p.method,
            amount: p.amount,
            price: p.price,
            status: p.status,
            created_at: views::rfc3339(p.created_at),
            approved_at: p.approved_at.map(views::rfc3339),
        })
        .collect();
    Ok(Json(PurchaseHistory { purchases, total: page.total }))
}

/// `POST /api/points/purchase-kcp/register`: a card (or other KCP) payment, registered with
/// KCP before the payment window opens.
#[derive(Deserialize, JsonSchema)]
pub struct KcpRegisterBody {
    /// Another user's id (admins only); the caller by default.
    user_id: Option<String>,
    /// Points to buy.
    amount: i64,
    /// Won to pay.
    price: i64,
    /// What the payment window names (default `포인트 구매`).
    good_name: Option<String>,
    /// KCP's method (case-insensitive; default `CARD`).
    #[schemars(extend("enum" = PAY_METHODS))]
    pay_method: Option<String>,
}

const PAY_METHODS: [&str; 6] = ["CARD", "BANK", "VCNT", "MOBX", "TPNT", "GIFT"];

fn new_ordr_idxx(now: Millis) -> String {
    let t = views::utc(now).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let mut random = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut random);
    kcp::new_ordr_idxx(t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second(), random)
}

/// KCP's registration, under the names KCP gives them.
#[derive(Serialize, JsonSchema)]
#[allow(non_snake_case)]
pub struct KcpResponse {
    pub approvalKey: Option<String>,
    pub PayUrl: Option<String>,
    pub traceNo: Option<String>,
}

/// A KCP payment registered (or the replay of one): what opens the payment window.
#[derive(Serialize, JsonSchema)]
pub struct Registration {
    pub success: bool,
    pub purchase_id: i64,
    /// Our order number at KCP.
    pub ordr_idxx: Option<String>,
    pub approval_key: Option<String>,
    pub pay_url: Option<String>,
    pub trace_no: Option<String>,
    pub status: PurchaseStatus,
    pub kcp_response: KcpResponse,
}

fn registration_answer(p: &Purchase) -> Registration {
    Registration {
        success: true,
        purchase_id: p.purchase_id.0,
        ordr_idxx: p.ordr_idxx.clone(),
        approval_key: p.approval_key.clone(),
        pay_url: p.pay_url.clone(),
        trace_no: p.trace_no.clone(),
        status: p.status,
        kcp_response: KcpResponse {
            approvalKey: p.approval_key.clone(),
            PayUrl: p.pay_url.clone(),
            traceNo: p.trace_no.clone(),
        },
    }
}

pub async fn kcp_register(app: &App, caller: &Caller, req: &Req) -> Result<Replayed<Registration>, ApiError> {
    let body: KcpRegisterBody = req.json()?;
    let user_id = caller.subject(body.user_id.as_deref(), false)?;
    let (amount, price) = purchase::validate_amounts(body.amount, body.price)?;
    let pay_method = body.pay_method.as_deref().unwrap_or("CARD").trim().to_ascii_uppercase();
    if !PAY_METHODS.contains(&pay_method.as_str()) {
        return Err(ApiError::invalid_field("pay_method", "invalid_pay_method", "unknown pay_method"));
    }
    let good_name =
        optional_text("good_name", body.good_name.as_deref())?.unwrap_or_else(|| "포인트 구매".into());
    let client = kcp_client(app)?;
    let key = idempotency_key(req, &user_id, "points.purchase_kcp")?;
    let now = app.clock.now();
    let new = NewPurchase {
        user_id,
        method: PurchaseMethod::Kcp,
        amount,
        price,
        buyer_name: None,
        bank_info: None,
        ordr_idxx: Some(new_ordr_idxx(now)),
        good_name: Some(good_name.clone()),
        pay_method: Some(pay_method.clone()),
    };
    let created = app.store.create_purchase(new, key, now).await?;
    if created.is_replay() {
        return Ok(Replayed::of(&created, registration_answer));
    }
    let p = created.into_inner();
    let ordr = p.ordr_idxx.clone().unwrap_or_default();
    let shop = "snspmt".to_owned();
    let c = client.clone();
    let started = std::time::Instant::now();
    let registered =
        tokio::task::spawn_blocking(move || c.register(&ordr, price.0, &good_name, &pay_method, &shop))
            .await
            .map_err(|_| ApiError::internal())?;
    let outcome = match &registered {
        Ok(_) => "ok",
        Err(RegisterFailure::Refused { .. }) => "rejected",
        Err(RegisterFailure::Unreachable(_)) => "error",
    };
    app.metrics.upstream("kcp", "register", outcome, started.elapsed());
    let now = app.clock.now();
    match registered {
        Ok(r) => {
            let p = app
                .store
                .record_registration(
                    p.purchase_id,
                    r.approval_key.as_deref().unwrap_or(""),
                    r.pay_url.as_deref().unwrap_or(""),
                    r.trace_no.as_deref().unwrap_or(""),
                    now,
                )
                .await?;
            Ok(Replayed { body: registration_answer(&p), replay: false })
        }
        Err(RegisterFailure::Refused { code, message }) => {
            log::warn(&format!("KCP refused registration of purchase {}: {code} {message}", p.purchase_id));
            app.store.end_registration(p.purchase_id, PurchaseStatus::Failed, &code, &message, now).await?;
            Err(ApiError::new(StatusCode::BAD_GATEWAY, "kcp_register_failed", "KCP refused the registration")
                .with("kcp_code", code)
                .with("kcp_message", message))
        }
        Err(RegisterFailure::Unreachable(detail)) => {
            log::warn(&format!("KCP registration of purchase {} failed: {detail}", p.purchase_id));
            app.store
                .end_registration(p.purchase_id, PurchaseStatus::Failed, "network", &detail, now)
                .await?;
            Err(ApiError::new(StatusCode::BAD_GATEWAY, "upstream_error", "KCP did not answer usefully"))
        }
    }
}

/// `POST /api/points/purchase-kcp/payment-form`.
#[derive(Deserialize, JsonSchema)]
pub struct PaymentForm {
    /// The registered purchase's order number.
    ordr_idxx: String,
}

/// The fields of KCP's payment window form, under KCP's names.
#[derive(Serialize, JsonSchema)]
#[allow(non_snake_case)]
pub struct PaymentFormData {
    pub site_cd: String,
    pub ordr_idxx: Option<String>,
    pub good_name: Option<String>,
    /// Won, as decimal text.
    pub good_mny: String,
    pub pay_method: String,
    /// `card`, `acnt`, `vcnt`, `mobx` or `tpnt`.
    pub ActionResult: &'static str,
    pub approval_key: Option<String>,
    pub traceNo: Option<String>,
    pub PayUrl: Option<String>,
    /// Where KCP posts the result (`POST /api/points/purchase-kcp/return`).
    pub Ret_URL: String,
    /// Always `pay`.
    pub req_tx: &'static str,
    /// Always `410` (KRW).
    pub currency: &'static str,
    pub shop_name: &'static str,
    /// Always `N`.
    pub escw_used: &'static str,
    /// Always `UTF-8`.
    pub encoding_trans: &'static str,
}

/// What the browser posts to KCP's payment window.
#[derive(Serialize, JsonSchema)]
pub struct PaymentFormAnswer {
    pub success: bool,
    pub payment_form_data: PaymentFormData,
}

async fn own_kcp_purchase(app: &App, caller: &Caller, ordr_idxx: &str) -> Result<Purchase, ApiError> {
    if !kcp::valid_ordr_idxx(ordr_idxx) {
        return Err(ApiError::invalid_field("ordr_idxx", "invalid_ordr_idxx", "not an order number"));
    }
    let p = app.store.purchase_by_ordr(ordr_idxx).await?.ok_or_else(|| ApiError::not_found("purchase"))?;
    if caller.is_admin() || caller.user().is_some_and(|u| u.user_id == p.user_id) {
        Ok(p)
    } else {
        Err(ApiError::not_found("purchase"))
    }
}

pub async fn kcp_payment_form(
    app: &App,
    caller: &Caller,
    req: &Req,
) -> Result<Json<PaymentFormAnswer>, ApiError> {
    let body: PaymentForm = req.json()?;
    let p = own_kcp_purchase(app, caller, &body.ordr_idxx).await?;
    if p.status != PurchaseStatus::KcpRegistered || p.approval_key.is_none() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_processed",
            "this purchase cannot be paid now",
        )
        .about_purchase(&p));
    }
    let client = kcp_client(app)?;
    let pay_method = p.pay_method.clone().unwrap_or_else(|| "CARD".into());
    let action = match pay_method.as_str() {
        "BANK" => "acnt",
        "VCNT" => "vcnt",
        "MOBX" => "mobx",
        "TPNT" => "tpnt",
        _ => "card",
    };
    Ok(Json(PaymentFormAnswer {
        success: true,
        payment_form_data: PaymentFormData {
            site_cd: client.site_cd.clone(),
            ordr_idxx: p.ordr_idxx.clone(),
            good_name: p.good_name.clone(),
            good_mny: p.price.0.to_string(),
            pay_method,
            ActionResult: action,
            approval_key: p.approval_key.clone(),
            traceNo: p.trace_no.clone(),
            PayUrl: p.pay_url.clone(),
            Ret_URL: client.ret_url.clone(),
            req_tx: "pay",
            currency: "410",
            shop_name: "snspmt",
            escw_used: "N",
            encoding_trans: "UTF-8",
        },
    }))
}

/// What an approval attempt came to, for the JSON answer and the return page.
enum Approval {
    Approved(Purchase),
    Declined(Purchase),
    Mismatch(Purchase),
    /// This call's answer from KCP was lost or unreadable.
    Unknown(Purchase),
    /// An earlier call's answer was lost; an operator settles it.
    UnknownBefore(Purchase),
    /// Someone else is approving it right now.
    InProgress(Purchase),
    /// It ended before (canceled, failed earlier, …).
    Ended(Purchase),
}

impl Approval {
    /// What a caller that did not approve it learns from the purchase as it is now.
    fn as_now(p: Purchase) -> Approval {
        match p.status {
            PurchaseStatus::Approved => Approval::Approved(p),
            PurchaseStatus::Approving => Approval::InProgress(p),
            PurchaseStatus::ApprovalUnknown => Approval::UnknownBefore(p),
            PurchaseStatus::AmountMismatch => Approval::Mismatch(p),
            _ => Approval::Ended(p),
        }
    }
}

/// Approves `ordr_idxx` at KCP, once: only the caller that moves it to `approving` calls KCP,
/// with the price from our database. The approval runs in a task of its own, from the move to
/// `approving` to the settlement, so a client that goes away (a dropped request) cannot leave
/// a purchase that KCP charged stranded in `approving`. An `anonymous` approval (asked for by
/// the KCP return, which anyone can post) that KCP declines leaves the purchase payable.
async fn approve(
    app: &Arc<App>,
    ordr_idxx: &str,
    enc_data: &str,
    enc_info: &str,
    tran_cd: &str,
    anonymous: bool,
) -> Result<Approval, ApiError> {
    let app = app.clone();
    let (ordr_idxx, enc_data, enc_info, tran_cd) =
        (ordr_idxx.to_owned(), enc_data.to_owned(), enc_info.to_owned(), tran_cd.to_owned());
    tokio::spawn(
        async move { approve_to_end(&app, &ordr_idxx, &enc_data, &enc_info, &tran_cd, anonymous).await },
    )
    .await
    .map_err(|_| ApiError::internal())?
}

async fn approve_to_end(
    app: &App,
    ordr_idxx: &str,
    enc_data: &str,
    enc_info: &str,
    tran_cd: &str,
    anonymous: bool,
) -> Result<Approval, ApiError> {
    let client = kcp_client(app)?;
    let Some(p) = app.store.begin_approval(ordr_idxx, app.clock.now()).await? else {
        let p =
            app.store.purchase_by_ordr(ordr_idxx).await?.ok_or_else(|| ApiError::not_found("purchase"))?;
        return Ok(Approval::as_now(p));
    };
    let (c, enc_data, enc_info, tran_cd) =
        (client, enc_data.to_owned(), enc_info.to_owned(), tran_cd.to_owned());
    let (price, pay_method, ordr) =
        (p.price, p.pay_method.clone().unwrap_or_else(|| "CARD".into()), ordr_idxx.to_owned());
    let started = std::time::Instant::now();
    let answer = tokio::task::spawn_blocking(move || {
        c.approve(&tran_cd, &enc_data, &enc_info, price.0, &pay_method, &ordr)
    })
    .await
    .map_err(|_| ApiError::internal())?;
    let outcome = match &answer {
        Ok(parsed) => purchase::approval_outcome_for_order(price, ordr_idxx, parsed.as_ref()),
        Err(e) => ApprovalOutcome::Unknown { reason: e.to_string() },
    };
    let outcome = if anonymous { outcome.via_anonymous_return() } else { outcome };
    let label = match &outcome {
        ApprovalOutcome::Approved { .. } => "ok",
        ApprovalOutcome::Declined { .. } | ApprovalOutcome::Refused { .. } => "rejected",
        ApprovalOutcome::AmountMismatch { .. } => "mismatch",
        ApprovalOutcome::Unknown { .. } => "unknown",
    };
    app.metrics.upstream("kcp", "approve", label, started.elapsed());
    if !matches!(outcome, ApprovalOutcome::Approved { .. }) {
        log::warn(&format!("KCP approval of purchase {}: {outcome:?}", p.purchase_id));
    }
    let settled = match app.store.settle_approval(p.purchase_id, &outcome, app.clock.now()).await {
        Ok(settled) => settled,
        Err(StoreError::Conflict(code)) => {
            // A duplicate tno (never credit: it stays approving for the operator), or an
            // operator settled it first.
            log::error(&format!("purchase {}: approval not recorded ({code}); needs review", p.purchase_id));
            let now = app.store.purchase(p.purchase_id).await?.unwrap_or(p);
            return Ok(Approval::as_now(now));
        }
        Err(e) => {
            log::error(&format!(
                "purchase {}: KCP answered {outcome:?} but it was not recorded: {e}; an operator settles it",
                p.purchase_id
            ));
            return Err(e.into());
        }
    };
    Ok(match outcome {
        ApprovalOutcome::Approved { .. } => Approval::Approved(settled),
        ApprovalOutcome::Declined { .. } | ApprovalOutcome::Refused { .. } => Approval::Declined(settled),
        ApprovalOutcome::AmountMismatch { .. } => Approval::Mismatch(settled),
        ApprovalOutcome::Unknown { .. } => Approval::Unknown(settled),
    })
}

/// `POST /api/points/purchase-kcp/approve`: the payment window's result, approved at KCP
/// server-side.
#[derive(Deserialize, JsonSchema)]
pub struct Approve {
    /// The purchase's order number.
    ordr_idxx: String,
    /// KCP's opaque result, passed on unchanged.
    enc_data: String,
    /// KCP's opaque result, passed on unchanged.
    enc_info: String,
    /// KCP's transaction code.
    tran_cd: String,
}

/// A card payment approved and credited.
#[derive(Serialize, JsonSchema)]
pub struct Approved {
    pub success: bool,
    pub purchase_id: i64,
    pub status: PurchaseStatus,
    /// Points credited.
    pub amount: Points,
    /// KCP's transaction number.
    pub tno: Option<String>,
    pub purchase: views::PurchaseView,
}

fn approval_reply(a: Approval) -> Result<Json<Approved>, ApiError> {
    match a {
        Approval::Approved(p) => Ok(Json(Approved {
            success: true,
            purchase_id: p.purchase_id.0,
            status: p.status,
            amount: p.amount,
            tno: p.tno.clone(),
            purchase: views::purchase(&p),
        })),
        Approval::Declined(p) => {
            Err(ApiError::bad_request("kcp_declined", "결제가 거절되었습니다 (payment declined)")
                .with("res_cd", p.res_cd.unwrap_or_default())
                .with("res_msg", p.res_msg.unwrap_or_default()))
        }
        Approval::Mismatch(p) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "amount_mismatch",
            "the approved amount differs from the price; nothing was credited and an operator will review it",
        )
        .about_purchase(&p)),
        Approval::Unknown(p) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "approval_unknown",
            "KCP did not confirm the payment; nothing was credited and an operator will review it",
        )
        .with("purchase_id", p.purchase_id.0)),
        Approval::UnknownBefore(p) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "approval_unknown",
            "KCP did not confirm this payment; nothing was credited and an operator will review it",
        )
        .about_purchase(&p)),
        Approval::InProgress(p) => {
            Err(ApiError::new(StatusCode::CONFLICT, "approval_in_progress", "this payment is being approved")
                .about_purchase(&p))
        }
        Approval::Ended(p) => {
            Err(ApiError::new(StatusCode::CONFLICT, "already_processed", "this purchase has ended")
                .about_purchase(&p))
        }
    }
}

pub async fn kcp_approve(app: &Arc<App>, caller: &Caller, req: &Req) -> Result<Json<Approved>, ApiError> {
    let body: Approve = req.json()?;
    own_kcp_purchase(app, caller, &body.ordr_idxx).await?;
    if body.enc_data.is_empty() || body.enc_info.is_empty() || body.tran_cd.is_empty() {
        return Err(ApiError::bad_request("missing_field", "enc_data, enc_info and tran_cd are required"));
    }
    approval_reply(approve(app, &body.ordr_idxx, &body.enc_data, &body.enc_info, &body.tran_cd, false).await?)
}

/// The browser's post from KCP (`Ret_URL`). Anonymous, so trusted only through KCP's approval
/// answer: only `ordr_idxx`, `enc_data`, `enc_info`, `tran_cd` and `res_cd` are read. An
/// authenticated result is approved server-side (KCP decides); any other `res_cd` (`3001`
/// "user canceled", a failure) changes nothing: anyone who knows an `ordr_idxx` could post
/// it, so the purchase stays `kcp_registered` and payable. Answers a 303 to the points page
/// with the result.
pub async fn kcp_return(app: &Arc<App>, req: &Req) -> Result<Raw, ApiError> {
    let form = kcp::parse_return_form(&req.body);
    let result = match form.kind() {
        ReturnKind::Authenticated => {
            match approve(app, &form.ordr_idxx, &form.enc_data, &form.enc_info, &form.tran_cd, true).await {
                Ok(Approval::Approved(_)) => "approved",
                Ok(Approval::Declined(_)) => "failed",
                Ok(
                    Approval::Mismatch(_)
                    | Approval::Unknown(_)
                    | Approval::UnknownBefore(_)
                    | Approval::InProgress(_),
                ) => "pending",
                Ok(Approval::Ended(p)) => p.status.as_str(),
                Err(e) if e.status == StatusCode::NOT_FOUND => "invalid",
                Err(e) => {
                    log::warn(&format!("KCP return for {}: {e}", form.ordr_idxx));
                    "error"
                }
            }
        }
        ReturnKind::UserCanceled => "canceled",
        ReturnKind::Failed { .. } => "failed",
        ReturnKind::RegisterEcho => "pending",
        ReturnKind::Malformed => "invalid",
    };
    let ordr: String = form
        .ordr_idxx
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(40)
        .collect();
    let location = format!("{}/points?ordr_idxx={ordr}&result={result}", app.config.public_url);
    let page = format!(
        "<!doctype html><meta charset=\"utf-8\"><title>결제 결과</title><p>결제 결과: {result}</p><p><a href=\"{location}\">계속</a></p>"
    );
    let mut resp = Response::new(Full::new(Bytes::from(page)));
    *resp.status_mut() = StatusCode::SEE_OTHER;
    let headers = resp.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(&location) {
        headers.insert(hyper::header::LOCATION, v);
    }
    Ok(resp)
}

/// The fields of KCP's post to `Ret_URL` that are read (any others are ignored). Values may be
/// UTF-8 or EUC-KR.
#[derive(JsonSchema)]
#[allow(dead_code)]
pub struct KcpReturnForm {
    ordr_idxx: String,
    /// `0000` for an authenticated result, `3001` when the user canceled.
    res_cd: String,
    res_msg: Option<String>,
    /// Opaque; passed to the approval unchanged.
    enc_data: Option<String>,
    /// Opaque; passed to the approval unchanged.
    enc_info: Option<String>,
    tran_cd: Option<String>,
    trace_no: Option<String>,
    /// KCP's 12-character method bitmask.
    use_pay_method: Option<String>,
}

/// `GET /api/points/purchase-kcp/simulated-window`.
#[derive(Deserialize, JsonSchema)]
pub struct SimulatedWindowQuery {
    /// The registered purchase's order number.
    ordr_idxx: Option<String>,
}

/// The simulated payment window (only with `SNSPMT_SIMULATE=1` and no KCP settings): a page
/// whose button posts an authenticated result to our `Ret_URL`.
pub async fn kcp_simulated_window(app: &App, req: &Req) -> Result<Raw, ApiError> {
    let client = kcp_client(app)?;
    if !client.simulated {
        return Err(ApiError::no_such_route());
    }
    let query: SimulatedWindowQuery = req.query_as()?;
    let ordr =
        query.ordr_idxx.as_deref().filter(|o| kcp::valid_ordr_idxx(o)).ok_or_else(|| {
            ApiError::invalid_field("ordr_idxx", "invalid_ordr_idxx", "not an order number")
        })?;
    let enc = crate::upstream::kcp::simulated_enc_data(ordr);
    let page = format!(
        "<!doctype html><meta charset=\"utf-8\"><title>KCP (simulated)</title>\
         <form method=\"post\" action=\"{ret}\"><input type=\"hidden\" name=\"ordr_idxx\" value=\"{ordr}\">\
         <input type=\"hidden\" name=\"res_cd\" value=\"0000\"><input type=\"hidden\" name=\"tran_cd\" value=\"00100000\">\
         <input type=\"hidden\" name=\"enc_data\" value=\"{enc}\"><input type=\"hidden\" name=\"enc_info\" value=\"simulated\">\
         <button>결제하기 (simulated)</button></form>",
        ret = client.ret_url
    );
    let mut resp = Response::new(Full::new(Bytes::from(page)));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    Ok(resp)
}

/// Names a refusal after the purchase it concerns: "purchase N is <status>: …", with
/// `purchase_id` beside the code.
trait AboutPurchase {
    fn about_purchase(self, p: &snspmt_store::Purchase) -> ApiError;
}

impl AboutPurchase for ApiError {
    fn about_purchase(self, p: &snspmt_store::Purchase) -> ApiError {
        self.naming(&format!("purchase {}", p.purchase_id), Some(p.status.as_str()))
            .with("purchase_id", p.purchase_id.0)
    }
}

crate::router::route_table! {
    BankPurchase: POST "/api/points/purchase", User, "points.purchase", body BankPurchase,
        reply Replayed<Purchased>,
        |app, caller, req| bank(app, caller, req);
    PurchaseHistory: GET "/api/points/purchase-history", UserOrAdmin, "points.purchase_history",
        query HistoryQuery, reply Json<PurchaseHistory>,
        |app, caller, req| history(app, caller, req);
    KcpRegister: POST "/api/points/purchase-kcp/register", User, "kcp.register", body KcpRegisterBody,
        reply Replayed<Registration>,
        |app, caller, req| kcp_register(app, caller, req);
    KcpPaymentForm: POST "/api/points/purchase-kcp/payment-form", User, "kcp.payment_form", body PaymentForm,
        reply Json<PaymentFormAnswer>,
        |app, caller, req| kcp_payment_form(app, caller, req);
    KcpReturn: POST "/api/points/purchase-kcp/return", Public, "kcp.return",
        body KcpReturnForm as "application/x-www-form-urlencoded", reply SeeOther,
        |app, _, req| async move { kcp_return(app, req).await.map(SeeOther) };
    KcpApprove: POST "/api/points/purchase-kcp/approve", User, "kcp.approve", body Approve, reply Json<Approved>,
        |app, caller, req| kcp_approve(app, caller, req);
    KcpSimulatedWindow: GET "/api/points/purchase-kcp/simulated-window", Public, "kcp.simulated_window",
        query SimulatedWindowQuery, reply Html,
        |app, _, req| async move { kcp_simulated_window(app, req).await.map(Html) };
    AdminPurchases: GET "/api/admin/purchases", Admin, "admin.purchases", query AdminPurchasesQuery,
        reply Json<PurchasePage>,
        |app, _, req| admin_list(app, req);
    AdminDecidePurchase: PUT "/api/admin/purchases/{id}", Admin, "admin.purchases.decide", body Decide,
        reply Json<PurchaseChanged>,
        |app, caller, req, id| decide(app, caller, id, req);
    AdminSettlePurchase: POST "/api/admin/purchases/{id}/settle", Admin, "admin.purchases.settle", body Settle,
        reply Json<PurchaseChanged>,
        |app, caller, req, id| settle(app, caller, id, req);
}
