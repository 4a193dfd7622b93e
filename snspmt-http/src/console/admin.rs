//! The operator's pages under `/admin`: only for admin users and the admin token. Every page
//! calls the admin API as the operator, so the API's checks and audit entries apply.

use askama::Template;
use hyper::{Method, StatusCode};
use serde_json::Value;

use super::{int, Answer, Chrome, Failure, FormError, Visit, Visitor};
use crate::error::ApiError;

/// English of the operator pages' texts (see [`super::i18n`]).
pub const EN: &[(&str, &str)] = &[
    ("회원", "Users"),
    ("충전 신청", "Purchases"),
    ("주문", "Orders"),
    ("서비스 관리", "Services"),
    ("패키지", "Packages"),
    ("쿠폰", "Coupons"),
    ("블로그", "Blog"),
    ("감사 로그", "Audit log"),
    ("전체 회원", "Users"),
    ("전체 주문", "Orders"),
    ("총 매출", "Revenue"),
    ("오늘 주문", "Orders today"),
    ("오늘 매출", "Revenue today"),
    ("이번 달 매출", "Sales this month"),
    ("승인 대기 충전", "Purchases awaiting approval"),
    ("확인이 필요한 주문", "Orders needing attention"),
    ("관리자 로그인", "Operator sign-in"),
    (
        "관리자 계정으로 로그인하거나 관리자 토큰을 입력하세요.",
        "Sign in with an admin account, or enter the admin token.",
    ),
];

/// Routes an operator page. Everything but the sign-in page needs an operator; a signed-in
/// customer gets 403, an anonymous visitor the sign-in page.
pub async fn dispatch(v: &mut Visit) -> Answer {
    match (v.method.clone(), v.path.as_str()) {
        (Method::GET | Method::HEAD, "/admin/login") => login_form(v, None),
        (Method::POST, "/admin/login") => login(v).await,
        _ => {
            require_operator(v)?;
            match (v.method.clone(), v.path.as_str()) {
                (Method::GET | Method::HEAD, "/admin") => dashboard(v).await,
                _ => Err(Failure::Api(ApiError::not_found("page"))),
            }
        }
    }
}

/// Refuses a visitor who is not an operator.
fn require_operator(v: &Visit) -> Result<(), Failure> {
    match &v.visitor {
        Visitor::Anonymous => Err(Failure::SignIn),
        _ if v.is_operator() => Ok(()),
        _ => Err(Failure::Api(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            v.lang.t("관리자만 볼 수 있는 페이지입니다."),
        ))),
    }
}

#[derive(Template)]
#[template(path = "console/admin/login.html")]
struct LoginPage {
    c: Chrome,
    next: String,
    err: Option<FormError>,
}

fn login_form(v: &Visit, err: Option<FormError>) -> Answer {
    let status = if err.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    let next = match v.q("next").or(v.f("next")) {
        Some(n) if n.starts_with("/admin") => n.to_owned(),
        _ => "/admin".to_owned(),
    };
    v.page_status(status, &LoginPage { c: v.chrome("관리자 로그인"), next, err })
}

async fn login(v: &mut Visit) -> Answer {
    v.check_csrf()?;
    let token =
        v.form.iter().find(|(k, _)| k == "token").map(|(_, t)| t.trim().to_owned()).unwrap_or_default();
    if !token.is_empty() && v.app.config.is_admin_token(&token) {
        v.sign_in_admin_token(&token);
        let next = match v.f("next") {
            Some(n) if n.starts_with("/admin") => n.to_owned(),
            _ => "/admin".to_owned(),
        };
        let msg = v.lang.t("로그인했습니다.").to_owned();
        return Ok(v.redirect_with(&next, &msg));
    }
    let e = ApiError::unauthorized();
    login_form(v, Some(FormError { field: Some("token".into()), message: e.message }))
}

#[derive(Template)]
#[template(path = "console/admin/dashboard.html")]
struct DashboardPage {
    c: Chrome,
    total_users: i64,
    total_orders: i64,
    total_revenue: i64,
    pending_purchases: i64,
    today_orders: i64,
    today_revenue: i64,
    monthly_sales: i64,
    attention: i64,
}

async fn dashboard(v: &mut Visit) -> Answer {
    let s = v.api(Method::GET, "/api/admin/stats", None).await?;
    let unknown =
        v.api(Method::GET, "/api/admin/orders?status=unknown&limit=1", None).await.unwrap_or(Value::Null);
    let page = DashboardPage {
        c: v.chrome("대시보드"),
        total_users: int(&s, "total_users"),
        total_orders: int(&s, "total_orders"),
        total_revenue: int(&s, "total_revenue"),
        pending_purchases: int(&s, "pending_purchases"),
        today_orders: int(&s, "today_orders"),
        today_revenue: int(&s, "today_revenue"),
        monthly_sales: int(&s, "monthly_sales"),
        attention: int(&unknown, "total"),
    };
    v.page(&page)
}
