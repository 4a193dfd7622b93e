//! The customer's pages under `/`: sign-in and sign-up, the dashboard, and one module each for
//! ordering ([`order`]), the orders ([`orders`]), points ([`points`]) and the account's
//! referral, ledger and API keys ([`account`]).

mod account;
mod order;
mod orders;
mod points;

use askama::Template;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use super::{form_status, int, list, text, Answer, Chrome, Failure, FormError, Visit};
use crate::error::ApiError;

/// English of the customer pages' texts (see [`super::i18n`]).
pub const EN: &[(&str, &str)] = &[
    ("최근 주문", "Recent orders"),
    ("주문 번호", "Order no."),
    ("수량", "Quantity"),
    ("링크", "Link"),
    ("가격", "Price"),
    ("모든 주문 보기", "All orders"),
    ("아직 주문이 없습니다.", "No orders yet."),
    ("이름 (표시용)", "Name (shown)"),
    ("8자 이상", "8 characters or more"),
    // The order page.
    ("주문 종류", "Order type"),
    ("서비스를 고르세요", "Choose a service"),
    ("패키지를 고르세요", "Choose a package"),
    ("판매 중인 서비스가 없습니다.", "Nothing is on sale yet."),
    ("1,000개당", "per 1,000"),
    ("댓글 (한 줄에 하나, 댓글 서비스만)", "Comments (one a line, comment services only)"),
    ("주문 방식", "Delivery"),
    ("바로 주문", "Now"),
    ("드립피드 (나눠서 반복)", "Drip-feed (repeated runs)"),
    ("예약 주문", "Scheduled"),
    ("분할 주문 (하루씩 나눠서)", "Split over days"),
    ("반복 횟수", "Runs"),
    ("간격 (분)", "Interval (minutes)"),
    ("예약 일시", "Run at"),
    ("며칠에 걸쳐", "Days"),
    ("하루 수량", "Per day"),
    ("쿠폰 사용 안 함", "No coupon"),
    ("쿠폰 할인", "Coupon discount"),
    ("결제 금액", "To pay"),
    ("가격을 계산하는 중…", "Working out the price…"),
    (
        "주문을 결제할까요? 보유 포인트에서 차감됩니다.",
        "Pay for this order? The points are taken from your balance.",
    ),
    ("결제하고 주문하기", "Pay and order"),
    ("주문했습니다.", "Order placed."),
    ("숫자를 입력하세요.", "Enter a whole number."),
    ("서비스나 패키지를 고르세요.", "Choose a service or a package."),
    ("링크를 입력하면 가격이 나옵니다.", "Enter the details to see the price."),
    // The orders.
    ("주문 상세", "Order"),
    ("진행", "Progress"),
    ("단계", "Step"),
    ("주문 취소", "Cancel order"),
    ("리필 요청", "Request refill"),
    (
        "이 주문을 취소할까요? 처리되지 않은 만큼 포인트가 환불됩니다.",
        "Cancel this order? What was not delivered is refunded.",
    ),
    ("취소를 요청했습니다.", "Cancellation requested."),
    ("리필을 요청했습니다.", "Refill requested."),
    ("시작 수량", "Start count"),
    ("남은 수량", "Remaining"),
    ("환불", "Refunded"),
    ("예약 시각", "Scheduled for"),
    ("조건에 맞는 주문이 없습니다.", "No orders match."),
    // Points.
    ("무통장 입금", "Bank transfer"),
    ("카드 결제", "Card payment"),
    ("충전할 포인트", "Points to buy"),
    ("1 포인트 = 1원", "1 point = 1 KRW"),
    ("입금자명", "Sender's name"),
    ("은행", "Bank"),
    ("입금 신청", "Request"),
    ("카드로 결제", "Pay by card"),
    (
        "입금 신청을 할까요? 입금이 확인되면 포인트가 충전됩니다.",
        "Send this request? Points are added once the transfer is confirmed.",
    ),
    ("카드 결제 창으로 이동할까요?", "Go to the card payment window?"),
    (
        "입금 신청을 받았습니다. 입금이 확인되면 충전됩니다.",
        "Request received. Points are added once the transfer is confirmed.",
    ),
    ("결제 창으로 이동합니다…", "Opening the payment window…"),
    ("결제 창 열기", "Open the payment window"),
    ("충전 내역", "Purchases"),
    ("방식", "Method"),
    ("결제가 완료되어 포인트가 충전되었습니다.", "Paid: the points were added."),
    ("결제를 취소했습니다.", "The payment was canceled."),
    ("결제에 실패했습니다.", "The payment failed."),
    (
        "결제를 확인하는 중입니다. 잠시 뒤 다시 확인하세요.",
        "The payment is being confirmed. Check again shortly.",
    ),
    ("결제 결과를 확인할 수 없습니다.", "The payment's result is not known."),
    // Ledger.
    ("종류", "Kind"),
    ("잔액", "Balance"),
    ("내용", "Description"),
    ("충전", "Purchase"),
    ("주문 결제", "Order"),
    ("주문 환불", "Refund"),
    ("차감", "Deduction"),
    ("관리자 조정", "Adjustment"),
    // Referral.
    ("내 추천 코드", "My referral code"),
    ("추천 코드 (선택)", "Referral code (optional)"),
    ("추천 코드를 쓰지 못했습니다.", "The referral code could not be used."),
    ("추천 링크", "Referral link"),
    ("추천 코드가 아직 없습니다. 운영자에게 문의하세요.", "No referral code yet: ask the operator."),
    ("가입자", "Referred users"),
    ("이번 달 가입자", "This month"),
    ("누적 수수료", "Commission earned"),
    ("출금 가능", "Withdrawable"),
    ("출금 대기", "Pending withdrawal"),
    ("수수료율", "Commission rate"),
    ("수수료 내역", "Commissions"),
    ("출금 신청", "Withdraw"),
    ("예금주", "Account holder"),
    ("계좌번호", "Account number"),
    ("출금을 신청할까요?", "Request this withdrawal?"),
    ("출금을 신청했습니다.", "Withdrawal requested."),
    ("추천 코드 입력", "Enter a referral code"),
    ("추천 코드", "Referral code"),
    ("코드 사용", "Use code"),
    ("추천 코드를 등록하고 쿠폰을 받았습니다.", "Code accepted: your coupon is ready."),
    ("내 쿠폰", "My coupons"),
    ("쿠폰 코드", "Coupon code"),
    ("쿠폰 등록", "Add coupon"),
    ("쿠폰을 등록했습니다.", "Coupon added."),
    ("할인", "Discount"),
    ("최소 주문", "Minimum order"),
    ("사용 가능", "Usable"),
    // API keys.
    ("키 이름", "Key name"),
    ("새 키 만들기", "Create a key"),
    (
        "새 API 키입니다. 지금만 보여 드리니 안전한 곳에 보관하세요.",
        "Your new API key. It is shown only now: keep it somewhere safe.",
    ),
    ("접두어", "Prefix"),
    ("마지막 사용", "Last used"),
    ("재발급", "Rotate"),
    ("폐기", "Revoke"),
    (
        "이 키를 재발급할까요? 지금 키는 더 이상 쓸 수 없습니다.",
        "Rotate this key? The current key stops working.",
    ),
    ("이 키를 폐기할까요?", "Revoke this key?"),
    ("키를 폐기했습니다.", "Key revoked."),
    ("API 키가 없습니다.", "No API keys."),
];

/// Routes a customer page.
pub async fn dispatch(v: &mut Visit) -> Answer {
    let path = v.path.clone();
    match (v.method.clone(), path.as_str()) {
        (Method::GET | Method::HEAD, "/") => dashboard(v).await,
        (Method::GET | Method::HEAD, "/login") => login_form(v, None),
        (Method::POST, "/login") => login(v).await,
        (Method::GET | Method::HEAD, "/signup") => signup_form(v, None),
        (Method::POST, "/signup") => signup(v).await,
        (Method::POST, "/logout") => logout(v).await,
        (Method::GET | Method::HEAD, "/login/google") => google_start(v).await,
        (Method::POST, "/login/session") => social_session(v).await,
        (Method::GET | Method::HEAD, "/order") => order::form(v).await,
        (Method::GET | Method::HEAD, "/order/price") => order::price(v).await,
        (Method::POST, "/order") => order::place(v).await,
        (Method::GET | Method::HEAD, "/orders") => orders::index(v).await,
        (Method::GET | Method::HEAD, "/points") => points::page(v).await,
        (Method::POST, "/points/bank") => points::bank(v).await,
        (Method::POST, "/points/card") => points::card(v).await,
        (Method::GET | Method::HEAD, "/ledger") => account::ledger(v).await,
        (Method::GET | Method::HEAD, "/referral") => account::referral(v).await,
        (Method::POST, "/referral/use-code") => account::use_code(v).await,
        (Method::POST, "/referral/coupon") => account::add_coupon(v).await,
        (Method::POST, "/referral/withdraw") => account::withdraw(v).await,
        (Method::GET | Method::HEAD, "/keys") => account::keys(v).await,
        (Method::POST, "/keys") => account::create_key(v).await,
        (method, path) => match (method, path.split('/').collect::<Vec<_>>().as_slice()) {
            (Method::GET | Method::HEAD, ["", "orders", id]) => orders::detail(v, id).await,
            (Method::POST, ["", "orders", id, "cancel"]) => orders::cancel(v, id).await,
            (Method::POST, ["", "orders", id, "refill"]) => orders::refill(v, id).await,
            (Method::POST, ["", "keys", id, "rotate"]) => account::rotate_key(v, id).await,
            (Method::POST, ["", "keys", id, "revoke"]) => account::revoke_key(v, id).await,
            _ => Err(Failure::Api(ApiError::not_found("page"))),
        },
    }
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    c: Chrome,
    email: String,
    next: String,
    err: Option<FormError>,
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
    /// A referral code, from the referrer's link (`/signup?ref=…`) or typed.
    referral: String,
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
        referral: v.f("ref").or(v.q("ref")).unwrap_or("").chars().take(64).collect(),
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
            let mut msg = v.lang.t("가입을 환영합니다!").to_owned();
            if let Some(code) = v.f("ref").map(str::to_owned) {
                // The new account uses the code as `/referral` would: its coupon, or why not.
                let user = answer.get("user").cloned().unwrap_or(Value::Null);
                v.visitor = super::Visitor::User(super::Me {
                    user_id: text(&user, "user_id"),
                    name: text(&user, "display_name"),
                    email: text(&user, "email"),
                    points: 0,
                    is_admin: false,
                });
                let used = v.api(Method::POST, "/api/referral/use-code", Some(&json!({"code": code}))).await;
                let note = match used {
                    Ok(_) => v.lang.t("추천 코드를 등록하고 쿠폰을 받았습니다.").to_owned(),
                    Err(e) => format!("{} ({})", v.lang.t("추천 코드를 쓰지 못했습니다."), e.message),
                };
                msg = format!("{msg} {note}");
            }
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
    pub fn of(v: &Visit, o: &Value) -> OrderRow {
        OrderRow {
            order_id: int(o, "order_id"),
            service_name: text(o, "service_name"),
            link: text(o, "link"),
            quantity: int(o, "quantity"),
            final_price: int(o, "final_price"),
            status: text(o, "status"),
            created_at: local_time(v, &text(o, "created_at")),
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
        orders: list(&orders, "orders").iter().map(|o| OrderRow::of(v, o)).collect(),
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

/// A form's error as a template reads it: next to a field (`on`), or above the form.
#[derive(Debug, Default)]
pub struct Errs(pub Option<FormError>);

impl Errs {
    pub fn on(&self, field: &str) -> Option<&str> {
        self.0.as_ref().and_then(|e| e.on(field))
    }

    pub fn general(&self, fields: &str) -> Option<&str> {
        self.0.as_ref().and_then(|e| e.general(fields))
    }
}

/// A field of the posted form, or of the query of a `GET` (the live price asks with the
/// order form's fields), trimmed; empty counts as absent.
fn input<'a>(v: &'a Visit, name: &str) -> Option<&'a str> {
    if v.method == Method::POST {
        v.f(name)
    } else {
        v.q(name).map(str::trim).filter(|s| !s.is_empty())
    }
}

/// A whole-number field: absent, a number, or an error said next to the field.
fn number(v: &Visit, name: &str) -> Result<Option<i64>, FormError> {
    match input(v, name) {
        None => Ok(None),
        Some(s) => s
            .replace(',', "")
            .parse::<i64>()
            .map(Some)
            .map_err(|_| field_error(v, name, "숫자를 입력하세요.")),
    }
}

/// An error about `field`, in the visitor's language.
fn field_error(v: &Visit, field: &str, korean: &str) -> FormError {
    FormError { field: Some(field.to_owned()), message: v.lang.t(korean).to_owned() }
}

/// A path segment the API is asked about: digits and the characters of an API key id only,
/// so a visitor's text never changes which API path is called.
fn segment(id: &str) -> Result<&str, Failure> {
    if !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(id)
    } else {
        Err(Failure::Api(ApiError::not_found("page")))
    }
}

/// An API time (RFC 3339 UTC) as the site's local `YYYY-MM-DD HH:MM`; other text unchanged.
fn local_time(v: &Visit, rfc3339: &str) -> String {
    use time::format_description::well_known::Rfc3339;
    let Ok(t) = time::OffsetDateTime::parse(rfc3339, &Rfc3339) else { return rfc3339.to_owned() };
    let offset = time::UtcOffset::from_whole_seconds(v.app.config.tz_offset_minutes.saturating_mul(60))
        .unwrap_or(time::UtcOffset::UTC);
    let t = t.to_offset(offset);
    format!("{:04}-{:02}-{:02} {:02}:{:02}", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
}

/// A refusal of the API as a form shows it: in Korean for the validation codes whose API text is
/// English only (the business refusals already carry their Korean), else the API's words.
fn form_error(v: &Visit, e: &ApiError) -> FormError {
    let mut out = FormError::from(e);
    if v.lang == super::Lang::Ko {
        if let Some(korean) = korean_refusal(e) {
            out.message = korean;
        }
    }
    out
}

/// The Korean of the API's validation refusal `e`, when it is one the forms meet.
fn korean_refusal(e: &ApiError) -> Option<String> {
    let extra = |k: &str| e.extra.get(k).and_then(Value::as_i64);
    Some(match e.code {
        "invalid_quantity" => match (extra("min_quantity"), extra("max_quantity")) {
            (Some(min), Some(max)) => {
                format!(
                    "수량은 {}~{} 사이로 입력하세요.",
                    super::group_thousands(min),
                    super::group_thousands(max)
                )
            }
            _ => "수량이 너무 크거나 맞지 않습니다.".to_owned(),
        },
        "missing_field" => "꼭 입력해야 하는 항목입니다.".to_owned(),
        "invalid_service" => "판매 중인 서비스가 아닙니다.".to_owned(),
        "invalid_package" => "판매 중인 패키지가 아닙니다.".to_owned(),
        "invalid_link" => "올바른 링크(https://…)나 사용자 이름을 입력하세요.".to_owned(),
        "dripfeed_not_supported" => "이 서비스는 드립피드를 지원하지 않습니다.".to_owned(),
        "invalid_runs" => "반복 횟수는 2~1,000 사이로 입력하세요.".to_owned(),
        "invalid_interval" => "간격은 1~10,080분 사이로 입력하세요.".to_owned(),
        "invalid_split" => "분할 주문은 2~30일, 하루 수량은 1 이상이어야 합니다.".to_owned(),
        "invalid_schedule" => "예약 일시를 확인하세요 (지금 이후, 예약 가능한 기간 안).".to_owned(),
        "invalid_amount" => "충전 포인트는 1~1,000,000 사이로 입력하세요.".to_owned(),
        "invalid_price" | "amount_price_mismatch" => "충전 금액을 확인하세요.".to_owned(),
        "invalid_id" => "목록에서 골라 주세요.".to_owned(),
        "invalid_text" => "입력한 내용이 너무 길거나 쓸 수 없는 문자가 있습니다.".to_owned(),
        _ => return None,
    })
}

/// `GET /login/google` (opened as a pop-up by the sign-in page): on to Google's consent page,
/// with a one-time state from the API. Google comes back to the API's callback, whose page
/// hands the session to this window's opener (`console.js`), which posts it to
/// [`social_session`].
async fn google_start(v: &mut Visit) -> Answer {
    let state = v.api(Method::GET, "/api/auth/google-state", None).await?;
    let url = text(&state, "authorization_url");
    if !url.starts_with("https://") && !url.starts_with("http://") {
        return Err(Failure::Api(ApiError::internal()));
    }
    let mut resp = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::new()));
    *resp.status_mut() = StatusCode::SEE_OTHER;
    let location =
        hyper::header::HeaderValue::from_str(&url).map_err(|_| Failure::Api(ApiError::internal()))?;
    resp.headers_mut().insert(hyper::header::LOCATION, location);
    Ok(resp)
}

/// `POST /login/session`: signs the browser in with a session token the API issued (a social
/// login's hand-off). The token must name a live session; the CSRF token keeps other sites
/// from signing a visitor into an account of theirs.
async fn social_session(v: &mut Visit) -> Answer {
    v.check_csrf()?;
    let token = v.f("token").unwrap_or("").to_owned();
    let live = !token.is_empty()
        && token.len() <= 256
        && matches!(crate::auth::session_user(&v.app, &crate::auth::token_hash(&token)).await, Ok(Some(_)));
    if !live {
        let e = ApiError::unauthorized();
        return login_form(v, Some((StatusCode::UNAUTHORIZED, FormError::from(&e))));
    }
    v.sign_in(&token);
    let msg = v.lang.t("로그인했습니다.").to_owned();
    Ok(v.redirect_with("/", &msg))
}

#[cfg(test)]
mod tests {
    use super::{korean_refusal, safe_next, Errs};
    use crate::console::FormError;
    use crate::error::ApiError;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/orders?page=2")), "/orders?page=2");
        for bad in ["//evil.example", "https://evil.example", "/\\evil", ""] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn errors_go_next_to_their_field() {
        let e = Errs(Some(FormError { field: Some("quantity".into()), message: "m".into() }));
        assert_eq!(e.on("quantity"), Some("m"));
        assert_eq!(e.on("link"), None);
        assert_eq!(e.general("link quantity"), None);
        assert_eq!(e.general("link"), Some("m"));
        assert_eq!(Errs::default().general("link"), None);
    }

    #[test]
    fn validation_refusals_read_in_korean() {
        let e =
            ApiError::invalid_field("quantity", "invalid_quantity", "quantity must be between 10 and 50000")
                .with("min_quantity", 10)
                .with("max_quantity", 50_000);
        assert_eq!(korean_refusal(&e).as_deref(), Some("수량은 10~50,000 사이로 입력하세요."));
        let plain = ApiError::invalid_field("quantity", "invalid_quantity", "quantity is too large");
        assert_eq!(korean_refusal(&plain).as_deref(), Some("수량이 너무 크거나 맞지 않습니다."));
        let other = ApiError::bad_request("insufficient_points", "포인트가 부족합니다 (insufficient points)");
        assert_eq!(korean_refusal(&other), None, "a refusal already in Korean keeps the API's words");
    }
}
