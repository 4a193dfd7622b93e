//! The visitor's account: `/ledger` (their points ledger), `/referral` (their code, stats,
//! commissions and withdrawals, a code to use, their coupons) and `/keys` (reseller API keys).

use askama::Template;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use super::{form_error, local_time, number, segment, Errs};
use crate::console::{
    form_key, form_status, int, list, text, Answer, Chrome, Failure, FormError, Pager, Visit,
};

/// A ledger row.
pub struct LedgerRow {
    pub kind: &'static str,
    pub amount: i64,
    pub balance_after: i64,
    pub description: String,
    pub created_at: String,
}

#[derive(Template)]
#[template(path = "console/customer/ledger.html")]
struct LedgerPage {
    c: Chrome,
    rows: Vec<LedgerRow>,
    pager: Pager,
}

/// `/ledger`: the JSON API has no ledger for customers, so the page reads the store's ledger,
/// always filtered to the signed-in visitor's own id (never one the request names).
pub async fn ledger(v: &mut Visit) -> Answer {
    let me = v.me()?.clone();
    let mut pager = Pager::from_visit(v, 30);
    let filter = snspmt_store::LedgerFilter {
        user_id: Some(me.user_id),
        kind: None,
        limit: pager.per_page,
        offset: (pager.page - 1) * pager.per_page,
    };
    let page = v.app.store.ledger(filter).await.map_err(|e| Failure::Api(e.into()))?;
    pager.total = page.total;
    let rows = page
        .rows
        .iter()
        .map(|e| LedgerRow {
            kind: match e.kind.as_str() {
                "purchase" => "충전",
                "order_charge" => "주문 결제",
                "order_refund" => "주문 환불",
                "deduct" => "차감",
                _ => "관리자 조정",
            },
            amount: e.amount.0,
            balance_after: e.balance_after.0,
            description: e.description.clone(),
            created_at: local_time(v, &crate::views::rfc3339(e.created_at)),
        })
        .collect();
    let page = LedgerPage { c: v.chrome("포인트 내역"), rows, pager };
    v.page(&page)
}

/// A commission of the referrer's list.
pub struct CommissionRow {
    pub amount: i64,
    pub status: String,
    pub created_at: String,
}

/// A coupon of the visitor's.
pub struct CouponRow {
    pub name: String,
    pub code: String,
    pub discount: String,
    pub min_order: i64,
    pub used: bool,
}

#[derive(Template)]
#[template(path = "console/customer/referral.html")]
struct ReferralPage {
    c: Chrome,
    code: Option<String>,
    link: String,
    referrals: i64,
    month_referrals: i64,
    earned: i64,
    balance: i64,
    pending: i64,
    rate_percent: String,
    commissions: Vec<CommissionRow>,
    coupons: Vec<CouponRow>,
    withdraw_key: String,
    /// Which form `err` belongs to: `use`, `coupon` or `withdraw`.
    err_form: String,
    err: Errs,
}

pub async fn referral(v: &mut Visit) -> Answer {
    v.me()?;
    show_referral(v, "", None).await
}

async fn show_referral(v: &Visit, which: &str, err: Option<(StatusCode, FormError)>) -> Answer {
    let codes = v.api(Method::GET, "/api/referral/my-codes", None).await?;
    let stats = v.api(Method::GET, "/api/referral/stats", None).await?;
    let book = v.api(Method::GET, "/api/referral/commission-points", None).await?;
    let commissions = v.api(Method::GET, "/api/referral/commissions?limit=50", None).await?;
    let coupons = v.api(Method::GET, "/api/user/coupons?limit=200", None).await?;
    let code = list(&codes, "codes")
        .iter()
        .find(|c| c.get("is_active") != Some(&Value::Bool(false)))
        .map(|c| text(c, "code"));
    let link = code
        .as_ref()
        .map(|c| {
            format!(
                "{}/signup?ref={}",
                v.app.config.public_url.trim_end_matches('/'),
                crate::console::urlencode(c)
            )
        })
        .unwrap_or_default();
    let bps = int(&stats, "commission_rate_bps");
    let (status, err) = match err {
        Some((s, e)) => (s, Some(e)),
        None => (StatusCode::OK, None),
    };
    let page = ReferralPage {
        c: v.chrome("추천인"),
        code,
        link,
        referrals: int(&stats, "totalReferrals"),
        month_referrals: int(&stats, "thisMonthReferrals"),
        earned: int(&book, "total_earned"),
        balance: int(&book, "current_balance"),
        pending: int(&book, "pending_withdrawal"),
        rate_percent: format!("{}.{:02}%", bps / 100, bps % 100),
        commissions: list(&commissions, "commissions")
            .iter()
            .map(|c| CommissionRow {
                amount: int(c, "commission_amount"),
                status: text(c, "status"),
                created_at: local_time(v, &text(c, "created_at")),
            })
            .collect(),
        coupons: list(&coupons, "coupons")
            .iter()
            .map(|c| {
                let value = int(c, "discount_value");
                CouponRow {
                    name: text(c, "name"),
                    code: text(c, "code"),
                    discount: if text(c, "discount_type") == "percentage" {
                        format!("{value}%")
                    } else {
                        format!("{} P", crate::console::group_thousands(value))
                    },
                    min_order: int(c, "min_order_amount"),
                    used: c.get("is_used") == Some(&Value::Bool(true)),
                }
            })
            .collect(),
        withdraw_key: if which == "withdraw" { v.f("key").map(str::to_owned) } else { None }
            .unwrap_or_else(form_key),
        err_form: which.to_owned(),
        err: Errs(err),
    };
    v.page_status(status, &page)
}

/// Posts `body` to the API's `path` and goes back to `/referral` saying `done`, or shows the
/// referral page again with the refusal next to form `which`.
async fn referral_action(
    v: &mut Visit,
    which: &str,
    path: &str,
    body: Value,
    key: Option<String>,
    done: &str,
) -> Answer {
    match v.api_keyed(Method::POST, path, Some(&body), key.as_deref()).await {
        Ok(_) => {
            let msg = v.lang.t(done).to_owned();
            Ok(v.redirect_with("/referral", &msg))
        }
        Err(e) if e.status == StatusCode::UNAUTHORIZED => Err(Failure::SignIn),
        Err(e) => show_referral(v, which, Some((form_status(&e), form_error(v, &e)))).await,
    }
}

/// `POST /referral/use-code`: the visitor is referred by a code and gets its coupon.
pub async fn use_code(v: &mut Visit) -> Answer {
    v.check_csrf()?;
    v.me()?;
    let body = json!({"code": v.f("code").unwrap_or("")});
    referral_action(v, "use", "/api/referral/use-code", body, None, "추천 코드를 등록하고 쿠폰을 받았습니다.")
        .await
}

/// `POST /referral/coupon`: a coupon added by its code.
pub async fn add_coupon(v: &mut Visit) -> Answer {
    v.check_csrf()?;
    v.me()?;
    let body = json!({"coupon_code": v.f("coupon_code").unwrap_or("")});
    referral_action(v, "coupon", "/api/user/coupons/add-by-code", body, None, "쿠폰을 등록했습니다.").await
}

/// `POST /referral/withdraw`: a withdrawal of commission, with the form's idempotency key.
pub async fn withdraw(v: &mut Visit) -> Answer {
    v.check_csrf()?;
    v.me()?;
    let amount = match number(v, "amount") {
        Ok(a) => a.unwrap_or(0),
        Err(e) => return show_referral(v, "withdraw", Some((StatusCode::BAD_REQUEST, e))).await,
    };
    let body = json!({
        "amount": amount,
        "bank_name": v.f("bank_name").unwrap_or(""),
        "account_number": v.f("account_number").unwrap_or(""),
        "account_holder": v.f("account_holder").unwrap_or(""),
    });
    let key = v.f("key").filter(|k| k.len() <= 64).map(str::to_owned);
    referral_action(v, "withdraw", "/api/referral/withdrawal-request", body, key, "출금을 신청했습니다.")
        .await
}

/// An API key of the list.
pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: String,
    pub last_used_at: String,
}

#[derive(Template)]
#[template(path = "console/customer/keys.html")]
struct KeysPage {
    c: Chrome,
    keys: Vec<KeyRow>,
    /// A key just created or rotated: shown this once, never kept.
    secret: Option<String>,
    err: Errs,
}

pub async fn keys(v: &mut Visit) -> Answer {
    v.me()?;
    show_keys(v, None, None).await
}

async fn show_keys(v: &Visit, secret: Option<String>, err: Option<(StatusCode, FormError)>) -> Answer {
    let answer = v.api(Method::GET, "/api/user/api-keys", None).await?;
    let (status, err) = match err {
        Some((s, e)) => (s, Some(e)),
        None => (StatusCode::OK, None),
    };
    let page = KeysPage {
        c: v.chrome("API 키"),
        keys: list(&answer, "api_keys")
            .iter()
            .map(|k| KeyRow {
                id: text(k, "id"),
                name: text(k, "name"),
                prefix: text(k, "prefix"),
                created_at: local_time(v, &text(k, "created_at")),
                last_used_at: local_time(v, &text(k, "last_used_at")),
            })
            .collect(),
        secret,
        err: Errs(err),
    };
    let mut resp = v.page_status(status, &page)?;
    // The page may carry a secret: no cache keeps it.
    resp.headers_mut()
        .insert(hyper::header::CACHE_CONTROL, hyper::header::HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// Shows the key list with the new secret of `answer`, or the refusal.
async fn key_answer(v: &Visit, answer: Result<Value, crate::error::ApiError>) -> Answer {
    match answer {
        Ok(a) => show_keys(v, Some(text(&a, "key")), None).await,
        Err(e) if e.status == StatusCode::UNAUTHORIZED => Err(Failure::SignIn),
        Err(e) => show_keys(v, None, Some((form_status(&e), form_error(v, &e)))).await,
    }
}

/// `POST /keys`: a new key, its secret shown on the answer page only.
pub async fn create_key(v: &mut Visit) -> Answer {
    v.check_csrf()?;
    v.me()?;
    let body = match v.f("name") {
        Some(name) => json!({"name": name}),
        None => json!({}),
    };
    let answer = v.api(Method::POST, "/api/user/api-keys", Some(&body)).await;
    key_answer(v, answer).await
}

/// `POST /keys/{id}/rotate`.
pub async fn rotate_key(v: &mut Visit, id: &str) -> Answer {
    v.check_csrf()?;
    v.me()?;
    let id = segment(id)?;
    let answer = v.api(Method::POST, &format!("/api/user/api-keys/{id}/rotate"), None).await;
    key_answer(v, answer).await
}

/// `POST /keys/{id}/revoke`.
pub async fn revoke_key(v: &mut Visit, id: &str) -> Answer {
    v.check_csrf()?;
    v.me()?;
    let id = segment(id)?.to_owned();
    match v.api(Method::DELETE, &format!("/api/user/api-keys/{id}"), None).await {
        Ok(_) => {
            let msg = v.lang.t("키를 폐기했습니다.").to_owned();
            Ok(v.redirect_with("/keys", &msg))
        }
        Err(e) if e.status == StatusCode::UNAUTHORIZED => Err(Failure::SignIn),
        Err(e) => show_keys(v, None, Some((form_status(&e), form_error(v, &e)))).await,
    }
}
