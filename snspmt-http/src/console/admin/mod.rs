//! The operator's pages under `/admin`: only for admin users and the admin token. Every page
//! calls the admin API as the operator, so the API's checks, refusals and audit entries apply;
//! no page writes money itself.
//!
//! A page is built by its area's module as a [`kit::Page`]; its forms post back to the page
//! with an `op`, which the same module carries out through the API. A refused action shows the
//! page again with the API's message next to the field it names (a 4xx, never a 5xx).

mod content;
mod kit;
mod orders;
mod purchases;
mod referral;
mod shop;
mod users;

use askama::Template;
use hyper::{Method, StatusCode};
use serde_json::Value;

use super::{form_status, int, list, text, urlencode, Answer, Chrome, Failure, FormError, Visit, Visitor};
use crate::error::ApiError;
use kit::{Cell, Page};

/// English of the operator pages' texts (see [`super::i18n`]).
pub const EN: &[(&str, &str)] = &[
    ("회원", "Users"),
    ("충전 신청", "Purchases"),
    ("주문", "Orders"),
    ("서비스", "Services"),
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
    ("알 수 없는 작업입니다.", "Unknown action."),
    ("확인이 필요한 주문이 없습니다.", "No order needs attention."),
    ("회원 ID", "User ID"),
    ("보기", "View"),
    ("목록으로", "Back to the list"),
    ("적용", "Apply"),
    ("처리했습니다.", "Done."),
    ("저장했습니다.", "Saved."),
    ("삭제했습니다.", "Deleted."),
    ("만들기", "Create"),
    ("수정", "Edit"),
    ("사용", "Active"),
    ("설명", "Description"),
    ("번호", "No."),
    ("방법", "Method"),
    ("작업", "Action"),
];

/// An operator page, by its path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Dashboard,
    Purchases,
    Orders,
    Order(String),
    Users,
    User(String),
    Services,
    Service(String),
    Packages,
    Package(String),
    Coupons,
    Coupon(String),
    Referral,
    Notices,
    Notice(String),
    Blog,
    Post(String),
    Audit,
}

impl Target {
    fn parse(path: &str) -> Option<Target> {
        let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(2).collect();
        let id = |s: &str| s.to_owned();
        Some(match segs.as_slice() {
            [] => Target::Dashboard,
            ["purchases"] => Target::Purchases,
            ["orders"] => Target::Orders,
            ["orders", x] => Target::Order(id(x)),
            ["users"] => Target::Users,
            ["users", x] => Target::User(id(x)),
            ["services"] => Target::Services,
            ["services", x] => Target::Service(id(x)),
            ["packages"] => Target::Packages,
            ["packages", x] => Target::Package(id(x)),
            ["coupons"] => Target::Coupons,
            ["coupons", x] => Target::Coupon(id(x)),
            ["referral"] => Target::Referral,
            ["notices"] => Target::Notices,
            ["notices", x] => Target::Notice(id(x)),
            ["blog"] => Target::Blog,
            ["blog", x] => Target::Post(id(x)),
            ["audit"] => Target::Audit,
            _ => return None,
        })
    }
}

/// What an action did: the message for the next page, and where to go (this page by default).
pub struct Done {
    pub flash: String,
    pub to: Option<String>,
}

impl Done {
    pub fn said(v: &Visit, korean: &str) -> Done {
        Done { flash: v.lang.t(korean).to_owned(), to: None }
    }

    pub fn to(mut self, path: impl Into<String>) -> Done {
        self.to = Some(path.into());
        self
    }
}

/// Routes an operator page. Everything but the sign-in page needs an operator; a signed-in
/// customer gets 403, an anonymous visitor the sign-in page.
pub async fn dispatch(v: &mut Visit) -> Answer {
    match (v.method.clone(), v.path.as_str()) {
        (Method::GET | Method::HEAD, "/admin/login") => return login_form(v, None),
        (Method::POST, "/admin/login") => return login(v).await,
        _ => {}
    }
    require_operator(v)?;
    let Some(target) = Target::parse(&v.path) else {
        return Err(Failure::Api(ApiError::not_found("page")));
    };
    match v.method.clone() {
        Method::GET | Method::HEAD if target == Target::Dashboard => dashboard(v).await,
        Method::GET | Method::HEAD => {
            let page = build(&target, v).await?;
            v.page(&PageView { c: v.chrome(&page.title), page })
        }
        Method::POST => {
            v.check_csrf()?;
            let op = v.f("op").unwrap_or("").to_owned();
            let outcome = if target == Target::Dashboard {
                Err(ApiError::bad_request("unknown_action", v.lang.t("알 수 없는 작업입니다.")))
            } else {
                act(&target, v, &op).await
            };
            match outcome {
                Ok(done) => {
                    let to = done.to.unwrap_or_else(|| here(v));
                    Ok(v.redirect_with(&to, &done.flash))
                }
                Err(e) if e.status == StatusCode::UNAUTHORIZED || e.status == StatusCode::FORBIDDEN => {
                    Err(Failure::Api(e))
                }
                Err(e) => {
                    let mut page = build(&target, v).await?;
                    let form = v.f("form").unwrap_or("").to_owned();
                    page.fail(&form, &e, &v.form);
                    v.page_status(form_status(&e), &PageView { c: v.chrome(&page.title), page })
                }
            }
        }
        _ => Err(Failure::Api(ApiError::method_not_allowed("GET, POST".into()))),
    }
}

/// Builds the page `target` shows.
async fn build(target: &Target, v: &Visit) -> Result<Page, Failure> {
    match target {
        Target::Dashboard => Err(Failure::Api(ApiError::not_found("page"))),
        Target::Purchases => purchases::list(v).await,
        Target::Orders => orders::list(v).await,
        Target::Order(id) => orders::detail(v, id).await,
        Target::Users => users::list(v).await,
        Target::User(id) => users::detail(v, id).await,
        Target::Services => shop::services(v).await,
        Target::Service(id) => shop::service(v, id).await,
        Target::Packages => shop::packages(v).await,
        Target::Package(id) => shop::package(v, id).await,
        Target::Coupons => shop::coupons(v).await,
        Target::Coupon(id) => shop::coupon(v, id).await,
        Target::Referral => referral::page(v).await,
        Target::Notices => content::notices(v).await,
        Target::Notice(id) => content::notice(v, id).await,
        Target::Blog => content::posts(v).await,
        Target::Post(id) => content::post(v, id).await,
        Target::Audit => content::audit(v).await,
    }
}

/// Carries out the action `op` posted to the page `target`.
async fn act(target: &Target, v: &Visit, op: &str) -> Result<Done, ApiError> {
    match target {
        Target::Dashboard => Err(unknown_op(v)),
        Target::Purchases => purchases::act(v, op).await,
        Target::Orders => Err(unknown_op(v)),
        Target::Order(id) => orders::act(v, id, op).await,
        Target::Users => Err(unknown_op(v)),
        Target::User(id) => users::act(v, id, op).await,
        Target::Services => shop::services_act(v, op).await,
        Target::Service(id) => shop::service_act(v, id, op).await,
        Target::Packages => shop::packages_act(v, op).await,
        Target::Package(id) => shop::package_act(v, id, op).await,
        Target::Coupons => shop::coupons_act(v, op).await,
        Target::Coupon(id) => shop::coupon_act(v, id, op).await,
        Target::Referral => referral::act(v, op).await,
        Target::Notices => content::notices_act(v, op).await,
        Target::Notice(id) => content::notice_act(v, id, op).await,
        Target::Blog => content::posts_act(v, op).await,
        Target::Post(id) => content::post_act(v, id, op).await,
        Target::Audit => Err(unknown_op(v)),
    }
}

/// An `op` the page does not have.
fn unknown_op(v: &Visit) -> ApiError {
    ApiError::bad_request("unknown_action", v.lang.t("알 수 없는 작업입니다."))
}

/// This page's path and query (without the language switch): where its forms post.
fn here(v: &Visit) -> String {
    let kept: Vec<String> = v
        .query
        .iter()
        .filter(|(k, val)| k != "lang" && !val.is_empty())
        .map(|(k, val)| format!("{}={}", urlencode(k), urlencode(val)))
        .collect();
    if kept.is_empty() {
        v.path.clone()
    } else {
        format!("{}?{}", v.path, kept.join("&"))
    }
}

/// `korean` in the visitor's language, owned.
fn t(v: &Visit, korean: &str) -> String {
    v.lang.t(korean).to_owned()
}

/// A status badge cell.
fn badge(v: &Visit, status: &str) -> Cell {
    Cell::Badge(status.to_owned(), super::i18n::status_label(v.lang, status).to_owned())
}

/// A number cell, `1,234`.
fn num(n: i64) -> Cell {
    Cell::Num(super::group_thousands(n))
}

/// Points, `1,234 P`.
fn points(n: i64) -> Cell {
    Cell::Num(format!("{} P", super::group_thousands(n)))
}

/// The form's idempotency key (sent by every form that moves money).
fn key(v: &Visit) -> Option<&str> {
    v.f("key")
}

/// Every operator page but the dashboard.
#[derive(Template)]
#[template(path = "console/admin/page.html")]
struct PageView {
    c: Chrome,
    page: Page,
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
    /// The first `unknown` orders, with links.
    unknown: Vec<orders::Brief>,
}

async fn dashboard(v: &mut Visit) -> Answer {
    let s = v.api(Method::GET, "/api/admin/stats", None).await?;
    let unknown =
        v.api(Method::GET, "/api/admin/orders?status=unknown&limit=10", None).await.unwrap_or(Value::Null);
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
        unknown: list(&unknown, "orders").iter().map(orders::Brief::of).collect(),
    };
    v.page(&page)
}
