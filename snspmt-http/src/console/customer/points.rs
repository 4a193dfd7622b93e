//! `/points`: buying points by bank transfer (the operator approves it) or by card through
//! KCP's payment window (the simulated one in simulate mode), the result of a payment as KCP's
//! return sends the browser back, and the purchase history.

use askama::Template;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use super::{form_error, local_time, number, Errs};
use crate::console::{form_key, form_status, int, list, text, Answer, Chrome, FormError, Pager, Visit};

/// A purchase of the history.
pub struct PurchaseRow {
    pub id: i64,
    pub method: String,
    pub amount: i64,
    pub status: String,
    pub created_at: String,
}

#[derive(Template)]
#[template(path = "console/customer/points.html")]
struct PointsPage {
    c: Chrome,
    points: i64,
    /// `(ok, message)` of a card payment the browser came back from.
    result: Option<(bool, String)>,
    bank_key: String,
    card_key: String,
    amount: String,
    buyer_name: String,
    bank_info: String,
    /// Which form `err` belongs to: `bank` or `card`.
    err_form: String,
    err: Errs,
    card: bool,
    rows: Vec<PurchaseRow>,
    pager: Pager,
}

pub async fn page(v: &mut Visit) -> Answer {
    v.me()?;
    show(v, "", None).await
}

async fn show(v: &Visit, which: &str, err: Option<(StatusCode, FormError)>) -> Answer {
    let points = v.api(Method::GET, "/api/points", None).await?;
    let mut pager = Pager::from_visit(v, 20);
    let history =
        v.api(Method::GET, &format!("/api/points/purchase-history?{}", pager.api_query()), None).await?;
    pager.total = int(&history, "total");
    let result = v.q("result").map(|r| {
        let (ok, korean) = match r {
            "approved" => (true, "결제가 완료되어 포인트가 충전되었습니다."),
            "canceled" => (false, "결제를 취소했습니다."),
            "failed" | "rejected" => (false, "결제에 실패했습니다."),
            "pending" | "approving" | "kcp_registered" => {
                (false, "결제를 확인하는 중입니다. 잠시 뒤 다시 확인하세요.")
            }
            _ => (false, "결제 결과를 확인할 수 없습니다."),
        };
        (ok, v.lang.t(korean).to_owned())
    });
    let (status, err) = match err {
        Some((s, e)) => (s, Some(e)),
        None => (StatusCode::OK, None),
    };
    let keep = |name: &str| if which.is_empty() { String::new() } else { v.f(name).unwrap_or("").to_owned() };
    let page = PointsPage {
        c: v.chrome("포인트 충전"),
        points: int(&points, "points"),
        result,
        bank_key: if which == "bank" { v.f("key").map(str::to_owned) } else { None }.unwrap_or_else(form_key),
        card_key: if which == "card" { v.f("key").map(str::to_owned) } else { None }.unwrap_or_else(form_key),
        amount: keep("amount"),
        buyer_name: keep("buyer_name"),
        bank_info: keep("bank_info"),
        err_form: which.to_owned(),
        err: Errs(err),
        card: v.app.kcp.is_some(),
        rows: list(&history, "purchases")
            .iter()
            .map(|p| PurchaseRow {
                id: int(p, "purchase_id"),
                method: text(p, "method"),
                amount: int(p, "amount"),
                status: text(p, "status"),
                created_at: local_time(v, &text(p, "created_at")),
            })
            .collect(),
        pager,
    };
    v.page_status(status, &page)
}

/// The amount field: points, paid 1 point = 1 KRW.
fn amount(v: &Visit) -> Result<i64, FormError> {
    // An absent amount is the API's to refuse (it says which bounds hold).
    Ok(number(v, "amount")?.unwrap_or(0))
}

fn key(v: &Visit) -> Option<String> {
    v.f("key").filter(|k| k.len() <= 64).map(str::to_owned)
}

/// `POST /points/bank`: a bank-transfer purchase, approved later by an operator.
pub async fn bank(v: &mut Visit) -> Answer {
    v.check_csrf()?;
    v.me()?;
    let amount = match amount(v) {
        Ok(a) => a,
        Err(e) => return show(v, "bank", Some((StatusCode::BAD_REQUEST, e))).await,
    };
    let mut body = json!({"amount": amount, "price": amount});
    for field in ["buyer_name", "bank_info"] {
        if let Some(value) = v.f(field) {
            body[field] = Value::from(value);
        }
    }
    match v.api_keyed(Method::POST, "/api/points/purchase", Some(&body), key(v).as_deref()).await {
        Ok(_) => {
            let msg = v.lang.t("입금 신청을 받았습니다. 입금이 확인되면 충전됩니다.").to_owned();
            Ok(v.redirect_with("/points", &msg))
        }
        Err(e) => show(v, "bank", Some((form_status(&e), form_error(v, &e)))).await,
    }
}

/// One field of the form that opens KCP's window.
pub struct Field {
    pub name: String,
    pub value: String,
}

#[derive(Template)]
#[template(path = "console/customer/pay.html")]
struct PayPage {
    c: Chrome,
    action: String,
    method: &'static str,
    fields: Vec<Field>,
}

/// `POST /points/card`: registers the payment with KCP, then hands the browser to the payment
/// window (a form that submits itself). KCP's return comes back to `/points?result=…`.
pub async fn card(v: &mut Visit) -> Answer {
    v.check_csrf()?;
    v.me()?;
    let amount = match amount(v) {
        Ok(a) => a,
        Err(e) => return show(v, "card", Some((StatusCode::BAD_REQUEST, e))).await,
    };
    let body = json!({"amount": amount, "price": amount, "pay_method": "CARD"});
    let registered = match v
        .api_keyed(Method::POST, "/api/points/purchase-kcp/register", Some(&body), key(v).as_deref())
        .await
    {
        Ok(r) => r,
        Err(e) => return show(v, "card", Some((form_status(&e), form_error(v, &e)))).await,
    };
    let ordr = text(&registered, "ordr_idxx");
    let form = match v
        .api(Method::POST, "/api/points/purchase-kcp/payment-form", Some(&json!({"ordr_idxx": ordr})))
        .await
    {
        Ok(f) => f,
        Err(e) => return show(v, "card", Some((form_status(&e), form_error(v, &e)))).await,
    };
    let data = form.get("payment_form_data").cloned().unwrap_or(Value::Null);
    let pay_url = text(&data, "PayUrl");
    let simulated = v.app.kcp.as_ref().is_some_and(|k| k.simulated);
    let page = if simulated {
        // The simulated window is a page of this server that takes the order number.
        let path = pay_url.split('?').next().unwrap_or("").to_owned();
        let path = match path.find("/api/") {
            Some(i) => path[i..].to_owned(),
            None => path,
        };
        PayPage {
            c: v.chrome("카드 결제"),
            action: path,
            method: "get",
            fields: vec![Field { name: "ordr_idxx".into(), value: ordr }],
        }
    } else {
        let fields = data
            .as_object()
            .map(|o| {
                o.iter()
                    .filter(|(k, _)| k.as_str() != "PayUrl")
                    .map(|(k, val)| Field {
                        name: k.clone(),
                        value: match val {
                            Value::String(s) => s.clone(),
                            Value::Null => String::new(),
                            other => other.to_string(),
                        },
                    })
                    .collect()
            })
            .unwrap_or_default();
        PayPage { c: v.chrome("카드 결제"), action: pay_url, method: "post", fields }
    };
    v.page(&page)
}
