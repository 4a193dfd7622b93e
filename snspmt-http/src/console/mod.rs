//! The web console (issue 17): server-rendered pages for customers under `/` and for operators
//! under `/admin`, Korean by default with English available.
//!
//! A page is a client of the JSON API living in the same process: [`Visit::api`] calls the
//! API's own route handler with the visitor's credentials, so every money rule, validation and
//! refusal is the API's, written once. The console adds only what a browser needs:
//! - the session in an `HttpOnly; SameSite=Lax` cookie (`Secure` when served over TLS);
//! - a CSRF token on every form (a per-browser cookie the form must echo);
//! - HTML from compile-time templates (askama escapes every value) under a
//!   Content-Security-Policy that allows scripts from `/static/` only;
//! - an idempotency key in every form that moves money, so a double submit pays once.

mod admin;
mod assets;
mod customer;
mod i18n;

use std::sync::Arc;

use askama::Template;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, Method, Response, StatusCode};
use serde_json::Value;

use crate::error::ApiError;
use crate::request::Req;
use crate::{auth, router, App};

pub use i18n::Lang;

/// The session cookie: the API's bearer token.
const SESSION_COOKIE: &str = "snspmt_session";
/// The operator's admin token, when an operator signed in with it rather than as an admin user.
const ADMIN_COOKIE: &str = "snspmt_admin";
/// The per-browser CSRF secret every form echoes.
const CSRF_COOKIE: &str = "snspmt_csrf";
/// A one-shot message for the next page.
const FLASH_COOKIE: &str = "snspmt_flash";
const LANG_COOKIE: &str = "snspmt_lang";

/// Whether the console serves `path`: everything outside the API's own paths.
pub fn claims(path: &str) -> bool {
    !(path.starts_with("/api/")
        || path == "/api"
        || path.starts_with("/uploads/")
        || matches!(path, "/health" | "/metrics" | "/sitemap.xml" | "/rss.xml"))
}

/// The signed-in visitor, as the API describes them (`GET /api/users/{id}`).
#[derive(Debug, Clone)]
pub struct Me {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub points: i64,
    pub is_admin: bool,
}

/// Who is visiting.
#[derive(Debug, Clone)]
pub enum Visitor {
    Anonymous,
    /// Signed in with a session (customers, and operators whose account is an admin).
    User(Me),
    /// An operator signed in with the admin token.
    AdminToken,
}

/// One request to the console: what it asked, who asked, and the cookies to set in the answer.
pub struct Visit {
    pub app: Arc<App>,
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// The fields of a posted form (`application/x-www-form-urlencoded`).
    pub form: Vec<(String, String)>,
    pub visitor: Visitor,
    pub lang: Lang,
    /// The CSRF token this browser's forms carry.
    pub csrf: String,
    /// The message left by the previous answer (a redirect after a form).
    pub flash: Option<String>,
    session: Option<String>,
    admin_token: Option<String>,
    secure: bool,
    peer: Option<std::net::SocketAddr>,
    set_cookies: Vec<String>,
}

/// A console answer, or a failure to render as a page.
pub type Answer = Result<Response<Full<Bytes>>, Failure>;

/// Why a page could not be shown: rendered as an error page with the API's message.
#[derive(Debug)]
pub enum Failure {
    /// Not signed in: go to the sign-in page (and come back).
    SignIn,
    /// An API refusal or a console one.
    Api(ApiError),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Failure {
        if e.status == StatusCode::UNAUTHORIZED {
            Failure::SignIn
        } else {
            Failure::Api(e)
        }
    }
}

impl From<askama::Error> for Failure {
    fn from(e: askama::Error) -> Failure {
        crate::log::error(&format!("console template: {e}"));
        Failure::Api(ApiError::internal())
    }
}

/// The layout every page shares: language, visitor, CSRF token, flash, active menu.
pub struct Chrome {
    pub lang: Lang,
    pub csrf: String,
    pub flash: Option<String>,
    /// The signed-in customer, if any.
    pub me: Option<Me>,
    /// Whether the visitor may open `/admin`.
    pub operator: bool,
    /// Whether this page is an operator page (the admin menu is shown).
    pub admin_area: bool,
    /// The path of this page, for the active menu entry and the language switch.
    pub path: String,
    pub title: String,
}

impl Chrome {
    /// The text in the visitor's language (Korean is the key; see [`i18n`]).
    pub fn t<'a>(&self, korean: &'a str) -> &'a str {
        self.lang.in_area(self.admin_area, korean)
    }

    /// Whether `prefix` is the active menu entry.
    pub fn active(&self, prefix: &str) -> bool {
        if prefix == "/" || prefix == "/admin" {
            self.path == prefix
        } else {
            self.path.starts_with(prefix)
        }
    }

    /// `1,234` for 1234.
    pub fn num(&self, n: impl std::borrow::Borrow<i64>) -> String {
        group_thousands(*n.borrow())
    }

    /// A status badge's label in the visitor's language.
    pub fn status(&self, status: impl AsRef<str>) -> &'static str {
        i18n::status_label(self.lang, status.as_ref())
    }

    /// The other language, for the switch in the header.
    pub fn other_lang(&self) -> Lang {
        match self.lang {
            Lang::Ko => Lang::En,
            Lang::En => Lang::Ko,
        }
    }
}

/// `1234567` → `1,234,567`.
pub fn group_thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Serves one console request. The server calls it for every path [`claims`] gives.
pub async fn respond<B>(
    app: &Arc<App>,
    req: hyper::Request<B>,
) -> Result<(&'static str, Response<Full<Bytes>>), (&'static str, ApiError)>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    if let Some(asset) = assets::serve(&parts.method, &path) {
        return Ok(("console.static", asset));
    }
    if parts.method != Method::GET && parts.method != Method::POST && parts.method != Method::HEAD {
        return Err(("console", ApiError::method_not_allowed("GET, POST".into())));
    }
    let body = if parts.method == Method::POST {
        let limit = if path.starts_with("/admin/uploads") { router::MAX_BODY * 8 } else { router::MAX_BODY };
        match Limited::read(body, limit).await {
            Ok(b) => b,
            Err(e) => return Err(("console", e)),
        }
    } else {
        Bytes::new()
    };
    let peer = parts.extensions.get::<crate::request::Peer>().map(|p| p.0);
    let mut visit = Visit::new(app.clone(), &parts, body, peer).await;
    let name = if path.starts_with("/admin") { "console.admin" } else { "console.page" };
    let answer = if path == "/admin" || path.starts_with("/admin/") {
        admin::dispatch(&mut visit).await
    } else {
        customer::dispatch(&mut visit).await
    };
    let resp = match answer {
        Ok(resp) => resp,
        Err(Failure::SignIn) => {
            let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let login = if visit.path.starts_with("/admin") { "/admin/login" } else { "/login" };
            visit.redirect(&format!("{login}?next={}", urlencode(next)))
        }
        Err(Failure::Api(e)) => visit.error_page(&e),
    };
    Ok((name, visit.finish(resp)))
}

/// Reads a body up to a limit.
struct Limited;

impl Limited {
    async fn read<B>(body: B, limit: usize) -> Result<Bytes, ApiError>
    where
        B: hyper::body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        match http_body_util::Limited::new(body, limit).collect().await {
            Ok(c) => Ok(c.to_bytes()),
            Err(_) => Err(ApiError::payload_too_large(limit)),
        }
    }
}

impl Visit {
    async fn new(
        app: Arc<App>,
        parts: &hyper::http::request::Parts,
        body: Bytes,
        peer: Option<std::net::SocketAddr>,
    ) -> Visit {
        let cookies = cookies(&parts.headers);
        let cookie = |name: &str| cookies.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let query: Vec<(String, String)> = parts
            .uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
        let mut set_cookies = Vec::new();
        let secure = app.config.public_url.starts_with("https://")
            || parts.headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes() == b"https");
        let asked_lang = query.iter().find(|(k, _)| k == "lang").and_then(|(_, v)| Lang::parse(v));
        let lang = match asked_lang {
            Some(l) => {
                set_cookies.push(cookie_line(LANG_COOKIE, l.code(), secure, Some(365 * 24 * 3600)));
                l
            }
            None => cookie(LANG_COOKIE).and_then(|v| Lang::parse(&v)).unwrap_or(Lang::Ko),
        };
        let csrf =
            match cookie(CSRF_COOKIE).filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit())) {
                Some(c) => c,
                None => {
                    let fresh = format!("{:032x}", rand::random::<u128>());
                    set_cookies.push(cookie_line(CSRF_COOKIE, &fresh, secure, None));
                    fresh
                }
            };
        let flash = cookie(FLASH_COOKIE).map(|f| {
            set_cookies.push(cookie_line(FLASH_COOKIE, "", secure, Some(0)));
            percent_decode(&f)
        });
        let mut visit = Visit {
            app,
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            query,
            form,
            visitor: Visitor::Anonymous,
            lang,
            csrf,
            flash,
            session: cookie(SESSION_COOKIE).filter(|t| t.len() <= 256),
            admin_token: cookie(ADMIN_COOKIE).filter(|t| t.len() <= 256),
            secure,
            peer,
            set_cookies,
        };
        visit.visitor = visit.who().await;
        visit
    }

    /// Who the cookies say is visiting; a stale cookie is forgotten.
    async fn who(&mut self) -> Visitor {
        if let Some(token) = self.admin_token.clone() {
            if self.app.config.is_admin_token(&token) {
                return Visitor::AdminToken;
            }
            self.admin_token = None;
            self.set_cookies.push(cookie_line(ADMIN_COOKIE, "", self.secure, Some(0)));
        }
        let Some(token) = self.session.clone() else { return Visitor::Anonymous };
        match auth::session_user(&self.app, &auth::token_hash(&token)).await {
            Ok(Some(user)) => Visitor::User(Me {
                user_id: user.user_id.clone(),
                name: user.display_name.clone(),
                email: user.email.clone().unwrap_or_default(),
                points: user.points.0,
                is_admin: user.is_admin,
            }),
            _ => {
                self.session = None;
                self.set_cookies.push(cookie_line(SESSION_COOKIE, "", self.secure, Some(0)));
                Visitor::Anonymous
            }
        }
    }

    /// The signed-in customer, or [`Failure::SignIn`].
    pub fn me(&self) -> Result<&Me, Failure> {
        match &self.visitor {
            Visitor::User(me) => Ok(me),
            _ => Err(Failure::SignIn),
        }
    }

    /// Whether the visitor is an operator (admin user or admin token).
    pub fn is_operator(&self) -> bool {
        match &self.visitor {
            Visitor::User(me) => me.is_admin,
            Visitor::AdminToken => true,
            Visitor::Anonymous => false,
        }
    }

    /// The layout data for a page titled `title` (Korean; translated).
    pub fn chrome(&self, title: &str) -> Chrome {
        Chrome {
            lang: self.lang,
            csrf: self.csrf.clone(),
            flash: self.flash.clone(),
            me: match &self.visitor {
                Visitor::User(me) => Some(me.clone()),
                _ => None,
            },
            operator: self.is_operator(),
            admin_area: self.path.starts_with("/admin"),
            path: self.path.clone(),
            title: self.lang.in_area(self.path.starts_with("/admin"), title).to_owned(),
        }
    }

    /// A query parameter (empty counts as absent).
    pub fn q(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// A form field, trimmed (empty counts as absent).
    pub fn f(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    /// Every value of a repeated form field.
    pub fn f_all(&self, name: &str) -> Vec<&str> {
        self.form.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    /// Refuses a posted form whose CSRF token is not this browser's (403).
    pub fn check_csrf(&self) -> Result<(), Failure> {
        let sent = self.f("csrf").unwrap_or("");
        if self.method == Method::POST && auth::token_matches(sent, &self.csrf) {
            Ok(())
        } else {
            Err(Failure::Api(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf",
                self.lang.t("보안 토큰이 맞지 않습니다. 페이지를 새로 고친 뒤 다시 시도하세요."),
            )))
        }
    }

    /// Calls the API as the visitor: `GET`s and `DELETE`s without a body, others with `body`
    /// as JSON. Answers the API's JSON (`null` for an empty or non-JSON answer), or its error.
    pub async fn api(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        self.api_keyed(method, path_and_query, body, None).await
    }

    /// [`Visit::api`] with an `Idempotency-Key` (the form's, so a double submit is one call).
    pub async fn api_keyed(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Value, ApiError> {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let matched = router::route(&method, path)?;
        let mut headers = HeaderMap::new();
        match (&self.visitor, &self.admin_token, &self.session) {
            (Visitor::AdminToken, Some(token), _) => {
                if let Ok(v) = HeaderValue::from_str(token) {
                    headers.insert(HeaderName::from_static("x-admin-token"), v);
                }
            }
            (Visitor::User(_), _, Some(token)) => {
                if let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}")) {
                    headers.insert(hyper::header::AUTHORIZATION, v);
                }
            }
            _ => {}
        }
        if let Some(key) = idempotency_key.and_then(|k| HeaderValue::from_str(k).ok()) {
            headers.insert(HeaderName::from_static("idempotency-key"), key);
        }
        let body = match body {
            Some(v) => {
                headers.insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Bytes::from(serde_json::to_vec(v).map_err(|_| ApiError::internal())?)
            }
            None => Bytes::new(),
        };
        let caller = auth::authenticate(&self.app, &headers, matched.route.access).await?;
        let mut req = Req::new(path.to_owned(), query, headers, body);
        req.peer = self.peer;
        let resp = (matched.route.handler)(&self.app, &caller, &req, &matched.params).await?;
        let bytes = resp.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Signs the visitor in with an API session token.
    pub fn sign_in(&mut self, token: &str) {
        self.set_cookies.push(cookie_line(SESSION_COOKIE, token, self.secure, Some(30 * 24 * 3600)));
        self.session = Some(token.to_owned());
    }

    /// Signs an operator in with the admin token.
    pub fn sign_in_admin_token(&mut self, token: &str) {
        self.set_cookies.push(cookie_line(ADMIN_COOKIE, token, self.secure, Some(12 * 3600)));
        self.admin_token = Some(token.to_owned());
        self.visitor = Visitor::AdminToken;
    }

    /// Forgets the session and admin cookies.
    pub fn sign_out(&mut self) {
        self.set_cookies.push(cookie_line(SESSION_COOKIE, "", self.secure, Some(0)));
        self.set_cookies.push(cookie_line(ADMIN_COOKIE, "", self.secure, Some(0)));
        self.session = None;
        self.admin_token = None;
        self.visitor = Visitor::Anonymous;
    }

    /// The session token, for the API's logout.
    pub fn session_token(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// A 303 to `to` (a path on this site).
    pub fn redirect(&mut self, to: &str) -> Response<Full<Bytes>> {
        let to = if to.starts_with('/') && !to.starts_with("//") { to } else { "/" };
        let mut resp = Response::new(Full::new(Bytes::new()));
        *resp.status_mut() = StatusCode::SEE_OTHER;
        if let Ok(v) = HeaderValue::from_str(to) {
            resp.headers_mut().insert(hyper::header::LOCATION, v);
        }
        resp
    }

    /// A 303 to `to` with a message shown on the next page.
    pub fn redirect_with(&mut self, to: &str, flash: &str) -> Response<Full<Bytes>> {
        let line = cookie_line(FLASH_COOKIE, &urlencode(flash), self.secure, Some(60));
        self.set_cookies.push(line);
        self.redirect(to)
    }

    /// A page: the template rendered, 200.
    pub fn page(&self, template: &impl Template) -> Answer {
        self.page_status(StatusCode::OK, template)
    }

    /// A page with another status (a form shown again with its error is 400/409/…).
    pub fn page_status(&self, status: StatusCode, template: &impl Template) -> Answer {
        let html = template.render()?;
        let mut resp = Response::new(Full::new(Bytes::from(html)));
        *resp.status_mut() = status;
        resp.headers_mut()
            .insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        Ok(resp)
    }

    /// The error page for a refusal (the API's message, the status kept).
    fn error_page(&self, e: &ApiError) -> Response<Full<Bytes>> {
        let page = ErrorPage {
            c: self.chrome("오류"),
            status: e.status.as_u16(),
            message: e.message.clone(),
            code: e.code,
        };
        match self.page_status(e.status, &page) {
            Ok(resp) => resp,
            Err(_) => {
                let mut resp = Response::new(Full::new(Bytes::from(e.message.clone())));
                *resp.status_mut() = e.status;
                resp
            }
        }
    }

    /// Adds the cookies and the security headers every console answer carries.
    fn finish(&mut self, mut resp: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
        let headers = resp.headers_mut();
        for line in self.set_cookies.drain(..) {
            if let Ok(v) = HeaderValue::from_str(&line) {
                headers.append(hyper::header::SET_COOKIE, v);
            }
        }
        let form_action = match self.app.kcp.as_ref().filter(|k| !k.simulated) {
            Some(_) => format!("'self' {}", origin_of(&self.app.config.kcp.payment_url)),
            None => "'self'".to_owned(),
        };
        let csp = format!(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
        );
        if let Ok(v) = HeaderValue::from_str(&csp) {
            headers.insert(hyper::header::CONTENT_SECURITY_POLICY, v);
        }
        headers.insert(hyper::header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(hyper::header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        headers.insert(hyper::header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
        resp
    }
}

/// The error page.
#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    c: Chrome,
    status: u16,
    message: String,
    code: &'static str,
}

/// `scheme://host[:port]` of a URL (for the CSP's `form-action`).
fn origin_of(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return String::new() };
    let host = rest.split('/').next().unwrap_or("");
    format!("{scheme}://{host}")
}

/// A `Set-Cookie` line: `Path=/; HttpOnly; SameSite=Lax`, `Secure` over TLS, and `Max-Age`
/// when given (0 deletes).
fn cookie_line(name: &str, value: &str, secure: bool, max_age: Option<i64>) -> String {
    let mut line = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if secure {
        line.push_str("; Secure");
    }
    if let Some(age) = max_age {
        line.push_str(&format!("; Max-Age={age}"));
    }
    line
}

/// The request's cookies, `name=value` pairs.
fn cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(hyper::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// Percent-encodes a query value or cookie value.
pub fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// A fresh idempotency key for a form that moves money.
pub fn form_key() -> String {
    format!("console-{:032x}", rand::random::<u128>())
}

/// The error of a form, shown next to its field (or above the form when it names none).
#[derive(Debug, Clone, Default)]
pub struct FormError {
    pub field: Option<String>,
    pub message: String,
}

impl FormError {
    /// The message when the error is about `field`.
    pub fn on(&self, field: &str) -> Option<&str> {
        (self.field.as_deref() == Some(field)).then_some(self.message.as_str())
    }

    /// The message when the error names none of the form's `fields` (space-separated), which
    /// show their own.
    pub fn general(&self, fields: &str) -> Option<&str> {
        match &self.field {
            Some(f) if fields.split(' ').any(|x| x == f) => None,
            _ => Some(self.message.as_str()),
        }
    }
}

impl From<&ApiError> for FormError {
    fn from(e: &ApiError) -> FormError {
        FormError {
            field: e.extra.get("field").and_then(Value::as_str).map(str::to_owned),
            message: e.message.clone(),
        }
    }
}

/// The status a form shown again with `e` answers with.
pub fn form_status(e: &ApiError) -> StatusCode {
    if e.status.is_client_error() {
        e.status
    } else {
        StatusCode::BAD_REQUEST
    }
}

/// A JSON value's field as text (`""` when absent).
pub fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// A JSON value's field as an integer (0 when absent).
pub fn int(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(Value::as_i64).unwrap_or(0)
}

/// A JSON value's field as a list.
pub fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// Pagination for a list page: `page` from the query, `per_page` rows.
#[derive(Debug, Clone)]
pub struct Pager {
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
    /// The page's path with the other query parameters, to which `page=N` is appended.
    pub base: String,
}

impl Pager {
    /// Reads `page` (from 1) from the visit's query.
    pub fn from_visit(v: &Visit, per_page: i64) -> Pager {
        let page = v
            .q("page")
            .and_then(|p| p.parse::<i64>().ok())
            .filter(|p| (1..=100_000).contains(p))
            .unwrap_or(1);
        let kept: String = v
            .query
            .iter()
            .filter(|(k, val)| k != "page" && k != "lang" && !val.is_empty())
            .map(|(k, val)| format!("{}={}&", urlencode(k), urlencode(val)))
            .collect();
        Pager { page, per_page, total: 0, base: format!("{}?{kept}", v.path) }
    }

    /// `limit=…&offset=…` for the API.
    pub fn api_query(&self) -> String {
        format!("limit={}&offset={}", self.per_page, (self.page - 1) * self.per_page)
    }

    pub fn pages(&self) -> i64 {
        ((self.total + self.per_page - 1) / self.per_page).max(1)
    }

    pub fn has_prev(&self) -> bool {
        self.page > 1
    }

    pub fn has_next(&self) -> bool {
        self.page < self.pages()
    }

    pub fn prev(&self) -> String {
        format!("{}page={}", self.base, self.page - 1)
    }

    pub fn next(&self) -> String {
        format!("{}page={}", self.base, self.page + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_everything_but_the_api() {
        assert!(claims("/"));
        assert!(claims("/orders"));
        assert!(claims("/admin/users"));
        assert!(claims("/static/console.css"));
        assert!(!claims("/api/orders"));
        assert!(!claims("/uploads/x.png"));
        assert!(!claims("/health"));
        assert!(!claims("/metrics"));
    }

    #[test]
    fn thousands() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1_000), "1,000");
        assert_eq!(group_thousands(-1_234_567), "-1,234,567");
    }

    #[test]
    fn cookie_lines() {
        assert_eq!(cookie_line("a", "b", false, None), "a=b; Path=/; HttpOnly; SameSite=Lax");
        assert_eq!(
            cookie_line("a", "", true, Some(0)),
            "a=; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=0"
        );
    }

    #[test]
    fn cookie_parsing() {
        let mut h = HeaderMap::new();
        h.insert(hyper::header::COOKIE, HeaderValue::from_static("a=1; snspmt_session=tok ;b=2"));
        let c = cookies(&h);
        assert!(c.contains(&("snspmt_session".into(), "tok".into())));
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn flash_round_trip() {
        assert_eq!(percent_decode(&urlencode("충전 신청 완료 & ok")), "충전 신청 완료 & ok");
    }
}
