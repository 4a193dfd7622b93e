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
    ("상시", "Always"),
    ("지급 내역이 없습니다.", "No payouts yet."),
    ("최근 지급 내역", "Recent payouts"),
    ("출금", "Withdrawal"),
    ("직접 지급", "Direct payout"),
    ("충전", "Purchase"),
    ("주문 결제", "Order charge"),
    ("주문 환불", "Order refund"),
    ("차감", "Deduction"),
    ("관리자 조정", "Operator adjustment"),
    ("선택하세요", "Choose"),
    ("입력하세요.", "This field is required."),
    ("숫자(정수)로 입력하세요.", "Enter a whole number."),
    ("예정", "Due"),
    ("접수됨", "Accepted"),
    ("승인", "Approve"),
    ("거절", "Reject"),
    ("지급 완료", "Mark paid"),
    ("1000개당", "Per 1000"),
    ("기본 가격", "Base price"),
    ("단계", "Steps"),
    ("발급", "Issued"),
    ("사용 횟수", "Uses"),
    ("요율 (bp)", "Rate (bp)"),
    ("입금액", "Paid (KRW)"),
    ("잔액", "Balance"),
    ("적립", "Earned"),
    ("조회", "Views"),
    ("지급", "Paid out"),
    ("최소 주문", "Minimum order"),
    ("출금 대기", "Pending withdrawal"),
    ("포인트", "Points"),
    ("회원 가격", "User's price"),
    ("1000개당 포인트", "Points per 1000"),
    ("API 사용", "API access"),
    ("ID, 이메일, 이름", "ID, e-mail, name"),
    ("KCP 거래번호", "KCP transaction no."),
    ("KCP 관리자 화면에서 확인한 결과로 정산합니다. 계속할까요?", "Settle with what KCP's admin shows. Continue?"),
    ("가격 (포인트)", "Price (points)"),
    ("가입일", "Joined"),
    ("가져오기", "Import"),
    ("갱신", "updated"),
    ("거절했습니다.", "Rejected."),
    ("게시", "Published"),
    ("결과 처리", "Resolve"),
    ("결과 확인", "Resolve the outcome"),
    ("결제 금액", "Charged"),
    ("결제 안 됨", "Not paid"),
    ("결제됨 (포인트 지급)", "Paid (credit the points)"),
    ("계좌", "Account"),
    ("계좌로 송금했습니까? 출금을 지급 완료로 처리합니다:", "Did you transfer the money? The withdrawal is marked paid:"),
    ("공지", "Notice"),
    ("공지 추가", "New notice"),
    ("공지사항이 없습니다.", "No notices."),
    ("관리자 권한", "Operator rights"),
    ("글쓰기", "New post"),
    ("글이 없습니다.", "No posts."),
    ("금액 불일치", "Amount mismatch"),
    ("기간", "Period"),
    ("기록이 없습니다.", "No entries."),
    ("남은 수량", "Remains"),
    ("내용", "Content"),
    ("내용 (HTML)", "Content (HTML)"),
    ("단계 (한 줄에 하나: 서비스 번호, 수량, 반복, 지연(분), 이름)", "Steps (one a line: service no., quantity, repeat, delay (min), name)"),
    ("단계는 한 줄에 하나씩 '서비스 번호, 수량, 반복, 지연(분), 이름' 형식입니다. 줄:", "Steps are one a line as 'service no., quantity, repeat, delay (min), name'. Line:"),
    ("대상", "Target"),
    ("대표 이미지 주소", "Thumbnail URL"),
    ("더하거나 뺄 포인트 (빼려면 -)", "Points to add (negative to take)"),
    ("드립피드", "Drip-feed"),
    ("등록", "Register"),
    ("등록된 추천인 코드가 없습니다.", "No referral codes yet."),
    ("로그인 팝업", "Sign-in popup"),
    ("리셀러 API", "Reseller API"),
    ("리필", "Refill"),
    ("마진 (bp)", "Markup (bp)"),
    ("메모", "Note"),
    ("모두 보기", "See all"),
    ("무통장 입금", "Bank transfer"),
    ("발행", "Published"),
    ("배너", "Banner"),
    ("부분 주문", "Parts"),
    ("비율 (%)", "Percentage (%)"),
    ("사용 중지", "Deactivate"),
    ("사용 중지했습니다.", "Deactivated."),
    ("사유", "Reason"),
    ("삭제할까요? 되돌릴 수 없습니다.", "Delete? This cannot be undone."),
    ("상태 변경", "Change status"),
    ("새 상태", "New status"),
    ("새 서비스", "new services"),
    ("서비스 목록", "Service list"),
    ("서비스 번호", "Service no."),
    ("서비스 추가", "New service"),
    ("서비스가 없습니다. 패널에서 가져오세요.", "No services. Import them from the panel."),
    ("수수료 지급", "Pay commission"),
    ("수수료 합계", "Commission totals"),
    ("수수료를 지급했습니다.", "Commission paid."),
    ("순서", "No."),
    ("승인 결과 모름", "Approval unknown"),
    ("승인 결과를 받지 못했거나 금액이 맞지 않는 결제입니다. KCP 관리자 화면에서 확인한 뒤 정산하세요.", "Payments whose approval never answered or whose amount does not match. Check KCP's admin, then settle."),
    ("승인했습니다. 포인트가 지급되었습니다.", "Approved; the points were credited."),
    ("시작 (RFC 3339)", "Starts (RFC 3339)"),
    ("시작 수", "Start count"),
    ("실패 (환불)", "Failed (refund)"),
    ("실패 처리 (전액 환불)", "Mark failed (full refund)"),
    ("실패로 처리하고 환불했습니다.", "Marked failed and refunded."),
    ("아니요", "No"),
    ("알림", "Toast"),
    ("예", "Yes"),
    ("요약", "Excerpt"),
    ("요율 저장", "Save rate"),
    ("유형", "Type"),
    ("이 부분 주문의 결과를 처리할까요?", "Resolve this part?"),
    ("이 서비스의 판매를 중지할까요?", "Stop selling this service?"),
    ("이 서비스의 회원별 가격을 저장할까요?", "Save this user's price for the service?"),
    ("이 추천인에게 수수료를 지급할까요?", "Pay this referrer's commission?"),
    ("이 추천인의 수수료율을 바꿀까요? 앞으로의 주문에 적용됩니다.", "Change this referrer's rate? It applies to orders from now on."),
    ("이 출금 신청을 거절할까요? 금액은 수수료 잔액으로 돌아갑니다.", "Reject this withdrawal? The amount goes back to the commission balance."),
    ("이 충전 신청을 거절할까요?", "Reject this purchase?"),
    ("이 쿠폰을 사용 중지할까요? 이미 받은 쿠폰은 그대로입니다.", "Deactivate this coupon? Coupons already handed out stay."),
    ("이 패널 주문 번호로 진행 중 처리할까요?", "Mark it in progress under this panel order no.?"),
    ("이 패키지의 판매를 중지할까요?", "Stop selling this package?"),
    ("이 회원별 가격을 삭제할까요?", "Delete this user's price?"),
    ("이 회원의 API 사용을 바꿀까요?", "Change this user's API access?"),
    ("이 회원의 포인트를 조정할까요? 원장에 사유와 함께 기록됩니다.", "Adjust this user's points? The ledger keeps the reason."),
    ("이 회원의 할인율을 바꿀까요?", "Change this user's discount?"),
    ("이미지 주소", "Image URL"),
    ("입금을 확인했습니까? 포인트를 지급합니다:", "Did the transfer arrive? These points are credited:"),
    ("입금자명", "Sender"),
    ("전체 신청", "All purchases"),
    ("접수된 주문으로 처리했습니다.", "Marked as accepted by the panel."),
    ("접수됨으로 처리", "Mark accepted"),
    ("정산", "Settle"),
    ("정산이 필요한 카드 결제가 없습니다.", "No card payment needs settling."),
    ("정산했습니다.", "Settled."),
    ("정액 (포인트)", "Fixed (points)"),
    ("제목", "Title"),
    ("종료 (RFC 3339)", "Ends (RFC 3339)"),
    ("종류", "Kind"),
    ("주문 상태를 바꿀까요? 환불이 따를 수 있습니다.", "Change the order's status? A refund may follow."),
    ("주문이 없습니다.", "No orders."),
    ("주문이 할 수 없는 변경은 거절됩니다. 취소·실패는 남은 금액을 환불합니다.", "A move the order cannot make is refused. Canceled and failed refund what is left."),
    ("차단", "Blocked"),
    ("처리자", "Actor"),
    ("처리할 출금 신청이 없습니다.", "No withdrawal to process."),
    ("초안", "Draft"),
    ("최대 발급 수 (비우면 무제한)", "Most copies (empty: unlimited)"),
    ("최대 수량", "Maximum quantity"),
    ("최소 수량", "Minimum quantity"),
    ("최소 주문 금액", "Minimum order"),
    ("추천인 코드", "Referral codes"),
    ("추천인 코드 등록", "Register a referral code"),
    ("출금 신청", "Withdrawal requests"),
    ("충전 신청이 없습니다.", "No purchases."),
    ("카드 (KCP)", "Card (KCP)"),
    ("카테고리", "Category"),
    ("코드", "Code"),
    ("코드를 등록했습니다:", "Code registered:"),
    ("쿠폰 추가", "New coupon"),
    ("쿠폰이 없습니다.", "No coupons."),
    ("태그 (쉼표로 구분)", "Tags (comma-separated)"),
    ("판매 중", "On sale"),
    ("판매 중만", "On sale only"),
    ("판매 중지", "Stop selling"),
    ("판매를 중지했습니다.", "No longer on sale."),
    ("팝업", "Modal"),
    ("패널 번호", "Panel no."),
    ("패널 서비스 번호", "Panel service no."),
    ("패널 주문 번호", "Panel order no."),
    ("패널 주문 번호 (진행 중으로 바꿀 때)", "Panel order no. (to move it in progress)"),
    ("패널 주문 번호를 입력하세요.", "Enter the panel's order no."),
    ("패널에 보낸 뒤 응답을 받지 못한 주문입니다. 패널에서 주문을 찾아 그 번호를 입력하거나, 접수되지 않았다면 실패로 처리해 전액 환불하세요.", "The panel's answer to this order never came. Find it at the panel and enter its number, or, if the panel never took it, mark it failed for a full refund."),
    ("패널에 접수되지 않은 주문으로 처리하고 환불합니다:", "Mark it never taken by the panel and refund:"),
    ("패널에서 가져오기", "Import from the panel"),
    ("패널의 달러 가격에 환율과 마진을 곱해 포인트 가격을 정합니다. 마진은 bp 단위입니다 (10000 = +100%).", "Our price is the panel's USD rate × the exchange rate × the markup, in basis points (10000 = +100 %)."),
    ("패널의 서비스를 가져와 가격을 갱신할까요?", "Import the panel's services and update their prices?"),
    ("패키지 추가", "New package"),
    ("패키지가 없습니다.", "No packages."),
    ("포인트 조정", "Adjust points"),
    ("포인트를 조정했습니다.", "Points adjusted."),
    ("플랫폼", "Platform"),
    ("할인", "Discount"),
    ("할인 (bp)", "Discount (bp)"),
    ("할인 값", "Discount value"),
    ("할인 방식", "Discount type"),
    ("할인 저장", "Save discount"),
    ("할인은 bp 단위입니다 (100 = 1%). 회원별 가격은 1000개당 포인트입니다.", "Discounts are in basis points (100 = 1 %); a user's prices are points per 1000."),
    ("허용", "Allowed"),
    ("현재 잔액:", "Balance now:"),
    ("형식", "Kind"),
    ("확인이 필요한 카드 결제", "Card payments needing attention"),
    ("환불 금액", "Refunded"),
    ("환율 (원/달러)", "Exchange rate (KRW/USD)"),
    ("회원 ID나 이메일로 회원을 지정합니다. 요율은 bp 단위입니다 (1000 = 10%).", "Name the user by id or e-mail. The rate is in basis points (1000 = 10 %)."),
    ("회원 정보", "Profile"),
    ("회원 정보를 저장할까요? 관리자 권한도 함께 바뀝니다.", "Save the profile? Operator rights change with it."),
    ("회원별 가격 저장", "Save the user's price"),
    ("회원별 가격이 없습니다.", "No prices of the user's own."),
    ("회원별 요율", "User's rates"),
    ("회원이 없습니다.", "No users."),
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
        Done { flash: v.lang.admin_t(korean).to_owned(), to: None }
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
                Err(ApiError::bad_request("unknown_action", v.lang.admin_t("알 수 없는 작업입니다.")))
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
    ApiError::bad_request("unknown_action", v.lang.admin_t("알 수 없는 작업입니다."))
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
    v.lang.admin_t(korean).to_owned()
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
            v.lang.admin_t("관리자만 볼 수 있는 페이지입니다."),
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
        let msg = v.lang.admin_t("로그인했습니다.").to_owned();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::Lang;

    /// The Korean string literals of a source text.
    fn korean_literals(src: &str) -> Vec<String> {
        let mut found = Vec::new();
        let mut chars = src.chars();
        while let Some(c) = chars.next() {
            if c != '"' {
                continue;
            }
            let mut lit = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '"' => break,
                    c => lit.push(c),
                }
            }
            if lit.chars().any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c)) && !lit.contains('{') {
                found.push(lit.trim_start_matches('#').to_owned());
            }
        }
        found
    }

    #[test]
    fn every_operator_text_has_its_english() {
        let sources = [
            include_str!("mod.rs"),
            include_str!("kit.rs"),
            include_str!("content.rs"),
            include_str!("orders.rs"),
            include_str!("purchases.rs"),
            include_str!("referral.rs"),
            include_str!("shop.rs"),
            include_str!("users.rs"),
            include_str!("../../../templates/console/admin/dashboard.html"),
            include_str!("../../../templates/console/admin/login.html"),
            include_str!("../../../templates/console/admin/menu.html"),
            include_str!("../../../templates/console/admin/page.html"),
        ];
        let korean = |s: &str| s.chars().any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c));
        let missing: Vec<String> =
            sources.iter().flat_map(|s| korean_literals(s)).filter(|k| korean(Lang::En.admin_t(k))).collect();
        assert!(missing.is_empty(), "no English for {missing:?}");
    }

    #[test]
    fn pages_by_path() {
        assert_eq!(Target::parse("/admin"), Some(Target::Dashboard));
        assert_eq!(Target::parse("/admin/"), Some(Target::Dashboard));
        assert_eq!(Target::parse("/admin/orders/12"), Some(Target::Order("12".into())));
        assert_eq!(Target::parse("/admin/users/u_1"), Some(Target::User("u_1".into())));
        assert_eq!(Target::parse("/admin/blog/3"), Some(Target::Post("3".into())));
        assert_eq!(Target::parse("/admin/orders/12/x"), None);
        assert_eq!(Target::parse("/admin/nowhere"), None);
    }
}
