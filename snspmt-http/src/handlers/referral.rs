//! The referral programme (§11): codes, the referral coupon, commissions, withdrawals, and
//! the operator's views and payouts.

use rand::RngCore;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use snspmt_core::referral::{self, DiscountType, WithdrawalState};
use snspmt_core::{validate, Bps, Points};
use snspmt_store::{
    Conflict, Millis, NewAudit, NewWithdrawal, Referrer, StoreError, UserCoupon, Withdrawal,
    WithdrawalFilter, WithdrawalId,
};

use super::points::idempotency_key;
use super::{PageQuery, Paging};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::request::Req;
use crate::router::{Json, Replayed};
use crate::views::{self, CommissionEntryView, CommissionView, PayoutView, ReferrerView, WithdrawalView};
use crate::App;

fn conflict_as_bad_request(e: StoreError) -> ApiError {
    match e {
        // What the client sent is wrong, not the state: 400 with the conflict's code and text.
        StoreError::Conflict(
            c @ (Conflict::InvalidCode | Conflict::SelfReferral | Conflict::InsufficientCommission),
        ) => ApiError::bad_request(c.code(), crate::error::conflict_message(c)),
        e => e.into(),
    }
}

/// Whose referral data: the caller's, or (admins only) another user's.
#[derive(Deserialize, JsonSchema)]
pub struct SubjectQuery {
    /// Another user's id (admins only); the caller by default.
    user_id: Option<String>,
}

/// Whose referral data, a page of it.
#[derive(Deserialize, JsonSchema)]
pub struct SubjectPageQuery {
    /// Another user's id (admins only); the caller by default.
    user_id: Option<String>,
    /// At most this many rows: 1 to 200, default 50.
    limit: Option<u32>,
    /// Skip this many rows first (default 0).
    offset: Option<u32>,
}

/// A referral code of the caller.
#[derive(Serialize, JsonSchema)]
pub struct MyCode {
    code: String,
    is_active: bool,
    /// How many users used it.
    usage_count: i64,
    /// Commission earned, in points.
    total_commission: Points,
    /// The commission rate in basis points (1000 = 10 %).
    commission_rate_bps: Bps,
    /// RFC 3339 UTC.
    created_at: String,
}

/// The caller's referral codes (none, or one).
#[derive(Serialize, JsonSchema)]
pub struct MyCodes {
    codes: Vec<MyCode>,
}

pub async fn my_codes(app: &App, caller: &Caller, req: &Req) -> Result<Json<MyCodes>, ApiError> {
    let query: SubjectQuery = req.query_as()?;
    let user_id = caller.subject(query.user_id.as_deref(), true)?;
    let codes = app
        .store
        .referrer(&user_id)
        .await?
        .iter()
        .map(|r| MyCode {
            code: r.code.clone(),
            is_active: r.is_active,
            usage_count: r.referral_count,
            total_commission: r.earned,
            commission_rate_bps: r.commission_rate,
            created_at: views::rfc3339(r.created_at),
        })
        .collect();
    Ok(Json(MyCodes { codes }))
}

/// `GET /api/referral/validate-code`.
#[derive(Deserialize, JsonSchema)]
pub struct ValidateCodeQuery {
    /// The code as typed (trimmed and upper-cased before the check).
    code: Option<String>,
}

/// Whether a code can be used.
#[derive(Serialize, JsonSchema)]
pub struct CodeValidity {
    /// The code exists and is active.
    valid: bool,
}

/// Whether a code can be used; says nothing about its owner.
pub async fn validate_code(app: &App, req: &Req) -> Result<Json<CodeValidity>, ApiError> {
    let query: ValidateCodeQuery = req.query_as()?;
    let valid = match query.code.as_deref().and_then(referral::normalize_code) {
        Some(code) => app.store.referrer_by_code(&code).await?.is_some_and(|r| r.is_active),
        None => false,
    };
    Ok(Json(CodeValidity { valid }))
}

/// `POST /api/referral/use-code` (`code`) and `POST /api/referral/issue-coupon`
/// (`referral_code`): one of the two is required.
#[derive(Deserialize, JsonSchema)]
#[schemars(example = serde_json::json!({"code": "REF1A2B3C4D"}))]
pub struct UseCode {
    /// The referral code (`use-code`).
    code: Option<String>,
    /// The referral code (`issue-coupon`).
    referral_code: Option<String>,
    /// Must be the caller's own id when given.
    user_id: Option<String>,
}

/// The referral coupon the caller received.
#[derive(Serialize, JsonSchema)]
pub struct ReferralCoupon {
    /// The copy's id: what an order's `coupon_id` takes.
    id: i64,
    code: String,
    name: String,
    coupon_code: String,
    coupon_name: String,
    discount_type: DiscountType,
    /// Percent or points, by `discount_type`.
    discount_value: i64,
    /// RFC 3339 UTC.
    expires_at: Option<String>,
    is_used: bool,
}

/// The caller is referred, and holds the referral coupon.
#[derive(Serialize, JsonSchema)]
pub struct CodeUsed {
    success: bool,
    coupon: ReferralCoupon,
}

/// `use-code` (`{code}`) and its alias `issue-coupon` (`{referral_code}`): the caller becomes
/// referred and receives the 5 % / 30-day coupon; a repeat answers the same coupon.
pub async fn use_code(
    app: &App,
    caller: &Caller,
    req: &Req,
    field: &'static str,
) -> Result<Json<CodeUsed>, ApiError> {
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
        expires_at: Some(now.plus_ms(referral::REFERRAL_COUPON_VALIDITY_MS)),
        is_active: true,
        is_used: false,
        used_order_id: None,
        created_at: now,
    };
    let coupon =
        app.store.use_referral_code(&user_id, &code, template, now).await.map_err(conflict_as_bad_request)?;
    Ok(Json(CodeUsed {
        success: true,
        coupon: ReferralCoupon {
            id: coupon.id,
            code: coupon.code.clone(),
            name: coupon.name.clone(),
            coupon_code: coupon.code,
            coupon_name: coupon.name,
            discount_type: coupon.discount_type,
            discount_value: coupon.discount_value,
            expires_at: coupon.expires_at.map(views::rfc3339),
            is_used: coupon.is_used,
        },
    }))
}

/// A page of the referrer's commissions.
#[derive(Serialize, JsonSchema)]
pub struct Commissions {
    commissions: Vec<CommissionView>,
    /// How many there are in all.
    total: i64,
}

pub async fn commissions(app: &App, caller: &Caller, req: &Req) -> Result<Json<Commissions>, ApiError> {
    let query: SubjectPageQuery = req.query_as()?;
    let user_id = caller.subject(query.user_id.as_deref(), true)?;
    let paging = Paging::of(query.limit, query.offset)?;
    let page = app.store.commissions(&user_id, paging.limit, paging.offset).await?;
    Ok(Json(Commissions {
        commissions: page.rows.iter().map(views::commission).collect(),
        total: page.total,
    }))
}

/// A referrer's commission book, in points (all zero for a user who is not a referrer).
#[derive(Serialize, JsonSchema)]
pub struct Book {
    /// Commission earned.
    total_earned: i64,
    /// Commission paid out.
    total_paid: i64,
    /// Reserved by open withdrawal requests.
    pending_withdrawal: i64,
    /// What may still be withdrawn.
    current_balance: i64,
}

fn book_view(r: Option<&Referrer>) -> Book {
    let book = r.map(Referrer::book).unwrap_or_default();
    Book {
        total_earned: book.earned.0,
        total_paid: book.paid.0,
        pending_withdrawal: book.reserved.0,
        current_balance: book.balance().unwrap_or(Points::ZERO).0,
    }
}

/// A user's commission book.
#[derive(Serialize, JsonSchema)]
pub struct CommissionPoints {
    #[serde(flatten)]
    book: Book,
    user_id: String,
}

pub async fn commission_points(
    app: &App,
    caller: &Caller,
    req: &Req,
) -> Result<Json<CommissionPoints>, ApiError> {
    let query: SubjectQuery = req.query_as()?;
    let user_id = caller.subject(query.user_id.as_deref(), true)?;
    let referrer = app.store.referrer(&user_id).await?;
    Ok(Json(CommissionPoints { book: book_view(referrer.as_ref()), user_id }))
}

/// A page of the movements of a referrer's commission balance.
#[derive(Serialize, JsonSchema)]
pub struct CommissionTransactions {
    transactions: Vec<CommissionEntryView>,
    /// How many there are in all.
    total: i64,
}

pub async fn commission_transactions(
    app: &App,
    caller: &Caller,
    req: &Req,
) -> Result<Json<CommissionTransactions>, ApiError> {
    let query: SubjectPageQuery = req.query_as()?;
    let user_id = caller.subject(query.user_id.as_deref(), true)?;
    let paging = Paging::of(query.limit, query.offset)?;
    let page = app.store.commission_entries(&user_id, paging.limit, paging.offset).await?;
    Ok(Json(CommissionTransactions {
        transactions: page.rows.iter().map(views::commission_entry).collect(),
        total: page.total,
    }))
}

/// The first moment of `now`'s month, UTC.
fn month_start(now: Millis) -> Millis {
    views::utc(now)
        .and_then(|t| t.replace_day(1).ok())
        .map(|t| t.replace_time(time::Time::MIDNIGHT))
        .map_or(Millis::EPOCH, |t| Millis(t.unix_timestamp().saturating_mul(1000)))
}

/// A referrer's figures, in the original client's names.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReferralStats {
    /// Users who joined with the code.
    total_referrals: i64,
    /// Referred users with at least one commission that was not canceled.
    active_referrals: i64,
    /// Commission earned, in points.
    total_commission: i64,
    /// Users who joined this month (UTC).
    this_month_referrals: i64,
    /// Commission earned (settled) this month (UTC), in points.
    this_month_commission: i64,
    /// The rate as a fraction (0.1 for 10 %); the default rate for a user who is not a referrer.
    commission_rate: f64,
    /// The rate in basis points (1000 = 10 %).
    #[serde(rename = "commission_rate_bps")]
    commission_rate_bps: Bps,
}

pub async fn stats(app: &App, caller: &Caller, req: &Req) -> Result<Json<ReferralStats>, ApiError> {
    let query: SubjectQuery = req.query_as()?;
    let user_id = caller.subject(query.user_id.as_deref(), true)?;
    let referrer = app.store.referrer(&user_id).await?;
    let stats = app.store.referral_stats(&user_id, month_start(app.clock.now())).await?;
    let rate = referrer.as_ref().map_or(Bps::DEFAULT_COMMISSION, |r| r.commission_rate);
    Ok(Json(ReferralStats {
        total_referrals: stats.total_referrals,
        active_referrals: stats.active_referrals,
        total_commission: referrer.as_ref().map_or(0, |r| r.earned.0),
        this_month_referrals: stats.this_month_referrals,
        this_month_commission: stats.this_month_commission.0,
        commission_rate: views::rate_fraction(rate),
        commission_rate_bps: rate,
    }))
}

/// Whether a referred user has ordered since joining.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReferredStatus {
    Active,
    Inactive,
}

/// A user who joined with the referrer's code, as the referrer sees them.
#[derive(Serialize, JsonSchema)]
pub struct Referred {
    user_id: String,
    /// The e-mail, masked (`ab***@example.com`).
    email: Option<String>,
    /// RFC 3339 UTC.
    joined_at: String,
    /// Orders placed since (those with a commission).
    order_count: i64,
    /// Commission earned on them, in points.
    commission: i64,
    // The original client's names: `user` is what it shows (the masked e-mail, or the id),
    // `status` whether the referred user has ordered since.
    /// `user_id`, the original client's name.
    id: String,
    /// What the original client shows: the masked e-mail, or the id.
    user: String,
    /// `joined_at`, the original client's name.
    #[serde(rename = "joinDate")]
    join_date: String,
    status: ReferredStatus,
}

/// A page of the referrer's referred users.
#[derive(Serialize, JsonSchema)]
pub struct Referrals {
    referrals: Vec<Referred>,
    /// How many there are in all.
    total: i64,
}

pub async fn referrals(app: &App, caller: &Caller, req: &Req) -> Result<Json<Referrals>, ApiError> {
    let query: SubjectPageQuery = req.query_as()?;
    let user_id = caller.subject(query.user_id.as_deref(), true)?;
    let paging = Paging::of(query.limit, query.offset)?;
    let page = app.store.referrals(Some(&user_id), paging.limit, paging.offset).await?;
    let rows = page
        .rows
        .iter()
        .map(|r| {
            let email = r.referred_email.as_deref().map(referral::mask_email);
            Referred {
                user_id: r.referred_user_id.clone(),
                user: email.clone().unwrap_or_else(|| r.referred_user_id.clone()),
                email,
                joined_at: views::rfc3339(r.joined_at),
                order_count: r.order_count,
                commission: r.commission.0,
                id: r.referred_user_id.clone(),
                join_date: views::rfc3339(r.joined_at),
                status: if r.order_count > 0 { ReferredStatus::Active } else { ReferredStatus::Inactive },
            }
        })
        .collect();
    Ok(Json(Referrals { referrals: rows, total: page.total }))
}

/// `POST /api/referral/withdrawal-request`.
#[derive(Deserialize, JsonSchema)]
#[schemars(example = serde_json::json!({"amount": 10000, "bank_name": "국민은행", "account_number": "123-45-678", "account_holder": "홍길동"}))]
pub struct WithdrawalBody {
    /// Must be the caller's own id when given.
    user_id: Option<String>,
    /// Points to withdraw: at least 1,000, at most the commission balance.
    amount: i64,
    bank_name: String,
    account_number: String,
    account_holder: String,
}

/// The reserved withdrawal request.
#[derive(Serialize, JsonSchema)]
pub struct WithdrawalRequested {
    success: bool,
    request_id: i64,
    /// Always `requested`: the operator decides later.
    status: WithdrawalState,
    /// Points reserved.
    amount: i64,
}

fn required_text(field: &'static str, s: &str) -> Result<String, ApiError> {
    let t = validate::short_text(field, s)?;
    if t.is_empty() {
        return Err(ApiError::invalid_field(field, "missing_field", format!("{field} is required")));
    }
    Ok(t.to_owned())
}

/// Reserves `amount` (≥ 1,000, ≤ the balance) at once; `Idempotency-Key` replays.
pub async fn request_withdrawal(
    app: &App,
    caller: &Caller,
    req: &Req,
) -> Result<Replayed<WithdrawalRequested>, ApiError> {
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
    Ok(Replayed::of(&outcome, |w: &Withdrawal| WithdrawalRequested {
        success: true,
        request_id: w.withdrawal_id.0,
        status: WithdrawalState::Requested,
        amount: w.amount.0,
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

/// `POST /api/admin/referral/register`: the user (by `user_id` or `email`) and their rate.
#[derive(Deserialize, JsonSchema)]
pub struct RegisterReferrer {
    #[serde(flatten)]
    who: Who,
    /// The commission rate in basis points (1000 = 10 %); 1000 by default.
    commission_rate_bps: Option<i64>,
}

/// `user_id` or `email` of an admin body: one is required; `user_id` wins.
#[derive(Deserialize, JsonSchema)]
pub struct Who {
    user_id: Option<String>,
    /// The account's e-mail.
    email: Option<String>,
}

/// A referrer's code.
#[derive(Serialize, JsonSchema)]
pub struct ReferrerRegistered {
    success: bool,
    code: String,
    user_id: String,
    /// The commission rate in basis points (1000 = 10 %).
    commission_rate_bps: Bps,
    /// `code`, the original client's name.
    #[serde(rename = "referralCode")]
    referral_code: String,
    email: Option<String>,
    /// The account's name.
    name: String,
}

/// Creates (or answers) the referral code of a user.
pub async fn admin_register(
    app: &App,
    caller: &Caller,
    req: &Req,
) -> Result<Json<ReferrerRegistered>, ApiError> {
    let body: RegisterReferrer = req.json()?;
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
            return Ok(Json(ReferrerRegistered {
                success: true,
                referral_code: r.code.clone(),
                code: r.code,
                user_id: r.user_id,
                commission_rate_bps: r.commission_rate,
                email: r.email,
                name: r.name,
            }));
        }
    }
    Err(ApiError::internal())
}

/// `GET /api/admin/referral/list`.
#[derive(Deserialize, JsonSchema)]
pub struct AdminReferralsQuery {
    /// Only the users referred by this referrer.
    referrer_user_id: Option<String>,
    /// At most this many rows: 1 to 200, default 50.
    limit: Option<u32>,
    /// Skip this many rows first (default 0).
    offset: Option<u32>,
}

/// A user who joined through a referral code, as the operator sees them.
#[derive(Serialize, JsonSchema)]
pub struct AdminReferral {
    referred_user_id: String,
    referred_email: Option<String>,
    referrer_user_id: String,
    /// The code used.
    code: String,
    /// RFC 3339 UTC.
    joined_at: String,
    /// Orders placed since (those with a commission).
    order_count: i64,
    /// Commission earned on them, in points.
    commission: i64,
}

/// A page of referred users.
#[derive(Serialize, JsonSchema)]
pub struct AdminReferrals {
    referrals: Vec<AdminReferral>,
    /// How many there are in all.
    total: i64,
    limit: i64,
    offset: i64,
}

pub async fn admin_referrals(app: &App, req: &Req) -> Result<Json<AdminReferrals>, ApiError> {
    let query: AdminReferralsQuery = req.query_as()?;
    let paging = Paging::of(query.limit, query.offset)?;
    let page = app.store.referrals(query.referrer_user_id.as_deref(), paging.limit, paging.offset).await?;
    let rows = page
        .rows
        .iter()
        .map(|r| AdminReferral {
            referred_user_id: r.referred_user_id.clone(),
            referred_email: r.referred_email.clone(),
            referrer_user_id: r.referrer_user_id.clone(),
            code: r.code.clone(),
            joined_at: views::rfc3339(r.joined_at),
            order_count: r.order_count,
            commission: r.commission.0,
        })
        .collect();
    Ok(Json(AdminReferrals {
        referrals: rows,
        total: page.total,
        limit: paging.limit,
        offset: paging.offset,
    }))
}

/// A page of referrers.
#[derive(Serialize, JsonSchema)]
pub struct ReferrerCodes {
    codes: Vec<ReferrerView>,
    /// How many there are in all.
    total: i64,
    limit: i64,
    offset: i64,
}

pub async fn admin_codes(app: &App, req: &Req) -> Result<Json<ReferrerCodes>, ApiError> {
    let query: PageQuery = req.query_as()?;
    let paging = Paging::of(query.limit, query.offset)?;
    let page = app.store.referrers(paging.limit, paging.offset).await?;
    Ok(Json(ReferrerCodes {
        codes: page.rows.iter().map(views::referrer).collect(),
        total: page.total,
        limit: paging.limit,
        offset: paging.offset,
    }))
}

/// A page of referrers' books, and the sums over that page.
#[derive(Serialize, JsonSchema)]
pub struct CommissionOverview {
    referrers: Vec<ReferrerView>,
    /// The sums of the page's books.
    totals: Book,
    /// How many referrers there are in all.
    total: i64,
    limit: i64,
    offset: i64,
}

/// Every referrer's book, and the sums.
pub async fn admin_overview(app: &App, req: &Req) -> Result<Json<CommissionOverview>, ApiError> {
    let query: PageQuery = req.query_as()?;
    let paging = Paging::of(query.limit, query.offset)?;
    let page = app.store.referrers(paging.limit, paging.offset).await?;
    let sum = |f: fn(&Referrer) -> i64| page.rows.iter().map(f).fold(0i64, i64::saturating_add);
    Ok(Json(CommissionOverview {
        referrers: page.rows.iter().map(views::referrer).collect(),
        totals: Book {
            total_earned: sum(|r| r.earned.0),
            total_paid: sum(|r| r.paid.0),
            pending_withdrawal: sum(|r| r.reserved.0),
            current_balance: sum(|r| r.balance().0),
        },
        total: page.total,
        limit: paging.limit,
        offset: paging.offset,
    }))
}

/// `GET /api/admin/referral/payment-history`.
#[derive(Deserialize, JsonSchema)]
pub struct PaymentsQuery {
    /// Only this referrer's payouts.
    user_id: Option<String>,
    /// At most this many rows: 1 to 200, default 50.
    limit: Option<u32>,
    /// Skip this many rows first (default 0).
    offset: Option<u32>,
}

/// A page of commission payouts.
#[derive(Serialize, JsonSchema)]
pub struct Payments {
    payments: Vec<PayoutView>,
    /// How many there are in all.
    total: i64,
    limit: i64,
    offset: i64,
}

pub async fn admin_payments(app: &App, req: &Req) -> Result<Json<Payments>, ApiError> {
    let query: PaymentsQuery = req.query_as()?;
    let paging = Paging::of(query.limit, query.offset)?;
    let page = app.store.payouts(query.user_id.as_deref(), paging.limit, paging.offset).await?;
    Ok(Json(Payments {
        payments: page.rows.iter().map(views::payout).collect(),
        total: page.total,
        limit: paging.limit,
        offset: paging.offset,
    }))
}

/// `POST /api/admin/referral/pay-commission`: the referrer (by `user_id` or `email`).
#[derive(Deserialize, JsonSchema)]
pub struct Pay {
    #[serde(flatten)]
    who: Who,
    /// Points to pay: at least 1, at most the commission balance.
    amount: i64,
    notes: Option<String>,
}

/// The payout, and the referrer's book after it.
#[derive(Serialize, JsonSchema)]
pub struct Paid {
    #[serde(flatten)]
    book: Book,
    success: bool,
    payout: PayoutView,
}

/// A manual payout: amount > 0 and ≤ the balance.
pub async fn admin_pay(app: &App, caller: &Caller, req: &Req) -> Result<Json<Paid>, ApiError> {
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
    Ok(Json(Paid { book: book_view(referrer.as_ref()), success: true, payout: views::payout(&payout) }))
}

/// `PUT /api/admin/referral/update-commission-rate`: the referrer (by `user_id` or `email`).
#[derive(Deserialize, JsonSchema)]
pub struct SetRate {
    #[serde(flatten)]
    who: Who,
    /// The new rate in basis points (1000 = 10 %), for orders placed from now on.
    commission_rate_bps: i64,
}

/// The referrer's new rate.
#[derive(Serialize, JsonSchema)]
pub struct RateSet {
    success: bool,
    user_id: String,
    code: String,
    /// Basis points (1000 = 10 %).
    commission_rate_bps: Bps,
}

pub async fn admin_set_rate(app: &App, caller: &Caller, req: &Req) -> Result<Json<RateSet>, ApiError> {
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
    Ok(Json(RateSet {
        success: true,
        user_id: r.user_id,
        code: r.code,
        commission_rate_bps: r.commission_rate,
    }))
}

/// `GET /api/admin/withdrawal-requests`.
#[derive(Deserialize, JsonSchema)]
pub struct WithdrawalsQuery {
    /// Only this user's requests.
    user_id: Option<String>,
    /// Only requests in this state.
    status: Option<WithdrawalState>,
    /// At most this many rows: 1 to 200, default 50.
    limit: Option<u32>,
    /// Skip this many rows first (default 0).
    offset: Option<u32>,
}

/// A page of withdrawal requests.
#[derive(Serialize, JsonSchema)]
pub struct WithdrawalRequests {
    requests: Vec<WithdrawalView>,
    /// How many match in all.
    total: i64,
    limit: i64,
    offset: i64,
}

pub async fn admin_withdrawals(app: &App, req: &Req) -> Result<Json<WithdrawalRequests>, ApiError> {
    let query: WithdrawalsQuery = req.query_as()?;
    let paging = Paging::of(query.limit, query.offset)?;
    let filter = WithdrawalFilter {
        user_id: query.user_id,
        status: query.status,
        limit: paging.limit,
        offset: paging.offset,
    };
    let page = app.store.withdrawals(filter).await?;
    Ok(Json(WithdrawalRequests {
        requests: page.rows.iter().map(views::withdrawal).collect(),
        total: page.total,
        limit: paging.limit,
        offset: paging.offset,
    }))
}

/// A positive integer id, as a JSON number or as text.
#[derive(JsonSchema)]
#[allow(dead_code)]
#[serde(untagged)]
enum IdNumberOrText {
    Number(i64),
    Text(String),
}

/// `POST /api/admin/process-withdrawal`.
#[derive(Deserialize, JsonSchema)]
pub struct Process {
    /// The request's id (a positive integer, as a number or as text).
    #[schemars(with = "IdNumberOrText")]
    request_id: Value,
    /// `approve` (records the payout) or `reject` (releases the reservation).
    #[schemars(extend("enum" = ["approve", "reject"]))]
    action: String,
    admin_notes: Option<String>,
}

/// The decided request.
#[derive(Serialize, JsonSchema)]
pub struct WithdrawalProcessed {
    success: bool,
    request: WithdrawalView,
    /// `approved` or `rejected`.
    status: WithdrawalState,
}

/// Approves (records the payout) or rejects (releases the reservation) a request, once.
pub async fn admin_process_withdrawal(
    app: &App,
    caller: &Caller,
    req: &Req,
) -> Result<Json<WithdrawalProcessed>, ApiError> {
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
    let w =
        app.store.decide_withdrawal(WithdrawalId(id), approve, notes, audit, app.clock.now()).await.map_err(
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
    Ok(Json(WithdrawalProcessed { success: true, request: views::withdrawal(&w), status: w.status }))
}

crate::router::route_table! {
    ReferralMyCodes: GET "/api/referral/my-codes", User, "referral.my_codes",
        query SubjectQuery, reply Json<MyCodes>,
        |app, caller, req| my_codes(app, caller, req);
    ReferralValidateCode: GET "/api/referral/validate-code", Public, "referral.validate_code",
        query ValidateCodeQuery, reply Json<CodeValidity>,
        |app, _, req| validate_code(app, req);
    ReferralUseCode: POST "/api/referral/use-code", User, "referral.use_code",
        body UseCode, reply Json<CodeUsed>,
        |app, caller, req| use_code(app, caller, req, "code");
    ReferralIssueCoupon: POST "/api/referral/issue-coupon", User, "referral.issue_coupon",
        body UseCode, reply Json<CodeUsed>,
        |app, caller, req| use_code(app, caller, req, "referral_code");
    ReferralCommissions: GET "/api/referral/commissions", User, "referral.commissions",
        query SubjectPageQuery, reply Json<Commissions>,
        |app, caller, req| commissions(app, caller, req);
    ReferralCommissionPoints: GET "/api/referral/commission-points", User, "referral.commission_points",
        query SubjectQuery, reply Json<CommissionPoints>,
        |app, caller, req| commission_points(app, caller, req);
    ReferralCommissionTransactions: GET "/api/referral/commission-transactions", User, "referral.commission_transactions",
        query SubjectPageQuery, reply Json<CommissionTransactions>,
        |app, caller, req| commission_transactions(app, caller, req);
    ReferralStats: GET "/api/referral/stats", User, "referral.stats",
        query SubjectQuery, reply Json<ReferralStats>,
        |app, caller, req| stats(app, caller, req);
    ReferralReferrals: GET "/api/referral/referrals", User, "referral.referrals",
        query SubjectPageQuery, reply Json<Referrals>,
        |app, caller, req| referrals(app, caller, req);
    WithdrawalRequest: POST "/api/referral/withdrawal-request", User, "referral.withdrawal_request",
        body WithdrawalBody, reply Replayed<WithdrawalRequested>,
        |app, caller, req| request_withdrawal(app, caller, req);
    AdminReferralRegister: POST "/api/admin/referral/register", Admin, "admin.referral.register",
        body RegisterReferrer, reply Json<ReferrerRegistered>,
        |app, caller, req| admin_register(app, caller, req);
    AdminReferralList: GET "/api/admin/referral/list", Admin, "admin.referral.list",
        query AdminReferralsQuery, reply Json<AdminReferrals>,
        |app, _, req| admin_referrals(app, req);
    AdminReferralCodes: GET "/api/admin/referral/codes", Admin, "admin.referral.codes",
        query PageQuery, reply Json<ReferrerCodes>,
        |app, _, req| admin_codes(app, req);
    AdminCommissionOverview: GET "/api/admin/referral/commission-overview", Admin, "admin.referral.commission_overview",
        query PageQuery, reply Json<CommissionOverview>,
        |app, _, req| admin_overview(app, req);
    AdminPaymentHistory: GET "/api/admin/referral/payment-history", Admin, "admin.referral.payment_history",
        query PaymentsQuery, reply Json<Payments>,
        |app, _, req| admin_payments(app, req);
    AdminPayCommission: POST "/api/admin/referral/pay-commission", Admin, "admin.referral.pay_commission",
        body Pay, reply Json<Paid>,
        |app, caller, req| admin_pay(app, caller, req);
    AdminUpdateCommissionRate: PUT "/api/admin/referral/update-commission-rate", Admin, "admin.referral.update_commission_rate",
        body SetRate, reply Json<RateSet>,
        |app, caller, req| admin_set_rate(app, caller, req);
    AdminWithdrawalRequests: GET "/api/admin/withdrawal-requests", Admin, "admin.withdrawal_requests",
        query WithdrawalsQuery, reply Json<WithdrawalRequests>,
        |app, _, req| admin_withdrawals(app, req);
    AdminProcessWithdrawal: POST "/api/admin/process-withdrawal", Admin, "admin.process_withdrawal",
        body Process, reply Json<WithdrawalProcessed>,
        |app, caller, req| admin_process_withdrawal(app, caller, req);
}

#[cfg(test)]
mod tests {
    use super::Millis;

    #[test]
    fn month_starts() {
        // 2023-11-14T22:13:20Z → 2023-11-01T00:00:00Z
        assert_eq!(super::month_start(Millis(1_700_000_000_123)), Millis(1_698_796_800_000));
        assert_eq!(super::month_start(Millis(0)), Millis(0));
    }
}
