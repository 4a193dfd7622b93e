//! The customer's pages under `/`: sign-in and sign-up, the dashboard, and (one module each as
//! they grow) ordering, orders, points, referral and API keys.

use askama::Template;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use super::{form_status, int, list, text, Answer, Chrome, Failure, FormError, Visit};
use crate::error::ApiError;

/// English of the customer pages' texts (see [`super::i18n`]).
pub const EN: &[(&str, &str)] = &[
    ("최근 주문", "Recent orders"),
    ("주문 번호", "Order no."),
    ("서비스", "Service"),
    ("수량", "Quantity"),
    ("링크", "Link"),
    ("가격", "Price"),
    ("모든 주문 보기", "All orders"),
    ("아직 주문이 없습니다.", "No orders yet."),
    ("이름 (표시용)", "Name (shown)"),
    ("8자 이상", "8 characters or more"),
];

/// Routes a customer page.
pub async fn dispatch(v: &mut Visit) -> Answer {
    match (v.method.clone(), v.path.as_str()) {
        (Method::GET | Method::HEAD, "/") => dashboard(v).await,
        (Method::GET | Method::HEAD, "/login") => login_form(v, None),
        (Method::POST, "/login") => login(v).await,
        (Method::GET | Method::HEAD, "/signup") => signup_form(v, None),
        (Method::POST, "/signup") => signup(v).await,
        (Method::POST, "/logout") => logout(v).await,
        _ => Err(Failure::Api(ApiError::not_found("page"))),
    }
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    c: Chrome,
    email: String,
    next: String,
    err: Option<FormError>,
    kakao: bool,
    google: bool,
}

fn login_form(v: &Visit, err: Option<(StatusCode, FormError)>) -> Answer {
    let (status, err) = match err {
        Some((s, e)) => (s, Some(e)),
        None => (StatusCode::OK, None),
    };
    let page = LoginPage {
        c: v.chrome("로그인"),
        email: v.f("email").unwrap_or("").to_owned(),
        next: safe_next(v.q("next").or(v.f("next"))),
        err,
        kakao: v.app.config.kakao_app_id.is_some(),
        google: v.app.google.is_some(),
    };
    v.page_status(status, &page)
}

/// `next` when it is a path on this site, else `/`.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

async fn login(v: &mut Visit) -> Answer {
    v.check_csrf()?;
    let body = json!({
        "email": v.f("email").unwrap_or(""),
        "password": v.form.iter().find(|(k, _)| k == "password").map(|(_, p)| p.as_str()).unwrap_or(""),
    });
    match v.api(Method::POST, "/api/auth/login", Some(&body)).await {
        Ok(answer) => {
            v.sign_in(&text(&answer, "token"));
            let next = safe_next(v.f("next"));
            let msg = v.lang.t("로그인했습니다.").to_owned();
            Ok(v.redirect_with(&next, &msg))
        }
        Err(e) => login_form(v, Some((form_status(&e), FormError::from(&e)))),
    }
}

#[derive(Template)]
#[template(path = "console/signup.html")]
struct SignupPage {
    c: Chrome,
    email: String,
    name: String,
    err: Option<FormError>,
}

fn signup_form(v: &Visit, err: Option<(StatusCode, FormError)>) -> Answer {
    let (status, err) = match err {
        Some((s, e)) => (s, Some(e)),
        None => (StatusCode::OK, None),
    };
    let page = SignupPage {
        c: v.chrome("회원가입"),
        email: v.f("email").unwrap_or("").to_owned(),
        name: v.f("name").unwrap_or("").to_owned(),
        err,
    };
    v.page_status(status, &page)
}

async fn signup(v: &mut Visit) -> Answer {
    v.check_csrf()?;
    let mut body = json!({
        "email": v.f("email").unwrap_or(""),
        "password": v.form.iter().find(|(k, _)| k == "password").map(|(_, p)| p.as_str()).unwrap_or(""),
    });
    if let Some(name) = v.f("name") {
        body["name"] = Value::from(name);
    }
    match v.api(Method::POST, "/api/register", Some(&body)).await {
        Ok(answer) => {
            v.sign_in(&text(&answer, "token"));
            let msg = v.lang.t("가입을 환영합니다!").to_owned();
            Ok(v.redirect_with("/", &msg))
        }
        Err(e) => signup_form(v, Some((form_status(&e), FormError::from(&e)))),
    }
}

async fn logout(v: &mut Visit) -> Answer {
    v.check_csrf()?;
    if v.session_token().is_some() {
        // The API's logout revokes the session everywhere (the cookie alone is not enough).
        let _ = v.api(Method::POST, "/api/auth/logout", None).await;
    }
    v.sign_out();
    let msg = v.lang.t("로그아웃했습니다.").to_owned();
    Ok(v.redirect_with("/login", &msg))
}

/// A row of an order list.
pub struct OrderRow {
    pub order_id: i64,
    pub service_name: String,
    pub link: String,
    pub quantity: i64,
    pub final_price: i64,
    pub status: String,
    pub created_at: String,
}

impl OrderRow {
    pub fn of(o: &Value) -> OrderRow {
        OrderRow {
            order_id: int(o, "order_id"),
            service_name: text(o, "service_name"),
            link: text(o, "link"),
            quantity: int(o, "quantity"),
            final_price: int(o, "final_price"),
            status: text(o, "status"),
            created_at: text(o, "created_at"),
        }
    }
}

/// An active notice, shown as a popup once per browser session.
pub struct NoticeRow {
    pub id: i64,
    pub title: String,
    pub content: String,
}

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage {
    c: Chrome,
    points: i64,
    orders: Vec<OrderRow>,
    total_orders: i64,
    notices: Vec<NoticeRow>,
}

async fn dashboard(v: &mut Visit) -> Answer {
    let me = v.me()?.clone();
    let points = v.api(Method::GET, "/api/points", None).await?;
    let orders = v.api(Method::GET, "/api/orders?limit=5", None).await?;
    let notices = v.api(Method::GET, "/api/notices/active", None).await.unwrap_or(Value::Null);
    let page = DashboardPage {
        c: v.chrome("대시보드"),
        points: points.get("points").and_then(Value::as_i64).unwrap_or(me.points),
        orders: list(&orders, "orders").iter().map(OrderRow::of).collect(),
        total_orders: int(&orders, "total"),
        notices: list(&notices, "notices")
            .iter()
            .map(|n| NoticeRow {
                id: int(n, "notice_id"),
                title: text(n, "title"),
                content: text(n, "content"),
            })
            .collect(),
    };
    v.page(&page)
}
