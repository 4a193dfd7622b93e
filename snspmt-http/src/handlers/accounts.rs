//! Registration, login, logout, and reading a user.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use snspmt_core::validate;
use snspmt_store::{EmailToken, Millis, NewUser, User};

use crate::auth::{self, Caller};
use crate::error::ApiError;
use crate::guard;
use crate::mailer::Mail;
use crate::request::Req;
use crate::router::Json;
use crate::views::{self, UserView};
use crate::App;

/// Failed logins for one e-mail allowed within [`LOGIN_WINDOW_MS`] before 429.
pub const MAX_LOGIN_FAILURES: i64 = 10;
pub const LOGIN_WINDOW_MS: i64 = 15 * 60 * 1000;

/// `POST /api/register`.
#[derive(Deserialize, JsonSchema)]
#[schemars(example = serde_json::json!({"user_id": "alice", "email": "alice@example.com", "password": "correct horse", "display_name": "앨리스"}))]
pub struct Register {
    /// The account's id; a random `u_…` id by default.
    user_id: Option<String>,
    /// Required: the address a verification link is mailed to.
    email: Option<String>,
    name: Option<String>,
    /// `name` by default.
    display_name: Option<String>,
    /// Without one, the account signs in through the e-mail's provider only.
    password: Option<String>,
}

/// A new account and its first session.
#[derive(Serialize, JsonSchema)]
pub struct Registered {
    success: bool,
    message: String,
    /// The session's bearer token.
    token: String,
    user: UserView,
    /// Whether the verification mail went out (the user may ask again).
    verification_sent: bool,
}

/// How long a verification link works: 24 hours.
pub const VERIFY_TTL_MS: i64 = 24 * 60 * 60 * 1000;
const MAX_VERIFY_TOKEN_LEN: usize = 128;

/// The limiter key of the client's address (none when the request came without a socket).
fn client_key(app: &App, req: &Req) -> Option<String> {
    guard::client_ip(req.peer, &req.headers, &app.config.accounts.trusted_proxies).map(guard::ip_key)
}

fn limit(limiter: &guard::RateLimiter, key: &str) -> Result<(), ApiError> {
    limiter.check(key).map_err(guard::rate_limited)
}

pub async fn register(app: &App, req: &Req) -> Result<Json<Registered>, ApiError> {
    if let Some(ip) = client_key(app, req) {
        limit(&app.guards.register_by_ip, &ip)?;
    }
    let body: Register = req.json()?;
    let user_id = match body.user_id.as_deref() {
        Some(id) => validate::user_id(id)?.to_owned(),
        None => format!("u_{}", &auth::token_hash(&auth::random_admin_token())[..20]),
    };
    let email = body.email.as_deref().filter(|e| !e.trim().is_empty()).map(validate::email).transpose()?;
    let name = validate::short_text("name", body.name.as_deref().unwrap_or(""))?.to_owned();
    let display_name = match body.display_name.as_deref() {
        Some(d) => validate::short_text("display_name", d)?.to_owned(),
        None => name.clone(),
    };
    // An account needs a way back in: an e-mail here (Kakao and Google make their own).
    let Some(email) = email else {
        return Err(ApiError::invalid_field(
            "email",
            "missing_field",
            "이메일이 필요합니다 (an e-mail is required; or sign in with Kakao or Google)",
        ));
    };
    limit(&app.guards.register_by_account, &email)?;
    let password_hash = match body.password {
        Some(pw) => {
            validate::password(&pw)?;
            Some(auth::hash_password(&app.guards.passwords, pw).await?)
        }
        None => None,
    };
    let now = app.clock.now();
    let new_user = NewUser { user_id, email: Some(email), name, display_name, password_hash };
    let user = app.store.create_user(new_user, now).await?;
    let sent = send_verification(app, &user, now).await?;
    let token = start_session(app, &user.user_id, now).await?;
    Ok(Json(Registered {
        success: true,
        message: "회원가입 완료".into(),
        token,
        user: views::user(&user),
        verification_sent: sent,
    }))
}

/// Issues a verification token for the user's e-mail (replacing earlier ones) and mails the
/// link. `Ok(false)` when the mail could not be sent (logged; the user may ask again).
async fn send_verification(app: &App, user: &User, now: Millis) -> Result<bool, ApiError> {
    let Some(email) = user.email.clone() else { return Ok(false) };
    let (token, token_hash) = auth::new_session_token();
    let record = EmailToken {
        token_hash,
        user_id: user.user_id.clone(),
        email: email.clone(),
        created_at: now,
        expires_at: now.plus_ms(VERIFY_TTL_MS),
    };
    app.store.create_email_token(record).await?;
    let link = format!("{}/api/auth/verify-email?token={token}", app.config.public_url);
    let mail = Mail {
        to: email,
        subject: "이메일 주소를 확인해 주세요 (please verify your e-mail address)".into(),
        text: format!(
            "아래 링크를 열어 이메일 주소를 확인해 주세요 (24시간 동안 한 번 쓸 수 있습니다).\n\
             Open this link to verify your e-mail address (it works once, for 24 hours):\n\n{link}\n"
        ),
        link: Some(link),
    };
    let mailer = app.mailer.clone();
    match tokio::task::spawn_blocking(move || mailer.send(&mail)).await {
        Ok(Ok(())) => Ok(true),
        Ok(Err(e)) => {
            crate::log::warn(&format!("verification mail for user {} not sent: {e}", user.user_id));
            Ok(false)
        }
        Err(_) => Ok(false),
    }
}

/// `POST /api/auth/verify-email`: the token of the mailed link.
#[derive(Deserialize, JsonSchema)]
pub struct VerifyEmail {
    /// The token of the mailed link (a `token` query parameter wins over it).
    token: Option<String>,
}

/// `GET /api/auth/verify-email?token=` (the mailed link).
#[derive(Deserialize, JsonSchema)]
pub struct VerifyEmailQuery {
    /// The token of the mailed link.
    token: Option<String>,
}

/// A verified e-mail.
#[derive(Serialize, JsonSchema)]
pub struct EmailVerified {
    success: bool,
    message: String,
    user_id: String,
    email: Option<String>,
    email_verified: bool,
}

/// `POST /api/auth/verify-email {token}`, or `GET …?token=` (the mailed link).
pub async fn verify_email(app: &App, req: &Req) -> Result<Json<EmailVerified>, ApiError> {
    let query: VerifyEmailQuery = req.query_as()?;
    let token = match query.token {
        Some(t) => Some(t),
        None => req.json::<VerifyEmail>()?.token,
    };
    let token = token.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    let token =
        token.ok_or_else(|| ApiError::invalid_field("token", "missing_field", "token is required"))?;
    let refused =
        || ApiError::invalid_field("token", "invalid_token", "unknown, used or expired verification token");
    if token.len() > MAX_VERIFY_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(refused());
    }
    let user =
        app.store.verify_email(&auth::token_hash(&token), app.clock.now()).await?.ok_or_else(refused)?;
    Ok(Json(EmailVerified {
        success: true,
        message: "이메일이 확인되었습니다 (e-mail verified)".into(),
        user_id: user.user_id,
        email: user.email,
        email_verified: user.email_verified,
    }))
}

/// Whether a new verification link went out.
#[derive(Serialize, JsonSchema)]
pub struct VerificationResent {
    success: bool,
    /// Already verified: no link is sent.
    email_verified: bool,
    /// Whether the mail went out.
    verification_sent: bool,
}

/// `POST /api/auth/resend-verification`: a new link for the caller's unverified e-mail.
pub async fn resend_verification(app: &App, caller: &Caller) -> Result<Json<VerificationResent>, ApiError> {
    let user = caller.user().ok_or_else(ApiError::unauthorized)?;
    if user.email.is_none() {
        return Err(ApiError::bad_request("no_email", "this account has no e-mail to verify"));
    }
    if user.email_verified {
        return Ok(Json(VerificationResent {
            success: true,
            email_verified: true,
            verification_sent: false,
        }));
    }
    limit(&app.guards.resend, &user.user_id)?;
    let sent = send_verification(app, user, app.clock.now()).await?;
    Ok(Json(VerificationResent { success: true, email_verified: false, verification_sent: sent }))
}

async fn start_session(app: &App, user_id: &str, now: Millis) -> Result<String, ApiError> {
    let (token, hash) = auth::new_session_token();
    app.store.create_session(&hash, user_id, now, now.plus_ms(auth::SESSION_TTL_MS)).await?;
    Ok(token)
}

/// `POST /api/auth/login`.
#[derive(Deserialize, JsonSchema)]
#[schemars(example = serde_json::json!({"email": "alice@example.com", "password": "correct horse"}))]
pub struct Login {
    email: String,
    password: String,
}

/// A new session.
#[derive(Serialize, JsonSchema)]
pub struct LoggedIn {
    success: bool,
    /// The session's bearer token.
    token: String,
    user: UserView,
}

fn too_many_failures() -> ApiError {
    let mut e = ApiError::new(
        hyper::StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "로그인 시도가 너무 많습니다. 잠시 후 다시 시도하세요 (too many failed logins)",
    );
    e.retry_after = Some((LOGIN_WINDOW_MS / 1000) as u64);
    e
}

/// A login. Limits first (per client address, per e-mail); then the attempt is recorded as a
/// failure *before* its password is checked, and judged only if at most
/// [`MAX_LOGIN_FAILURES`] are recorded in the window: the k-th recorded attempt counts at
/// least k, so parallel guesses cannot all slip under the limit. A success clears them.
pub async fn login(app: &App, req: &Req) -> Result<Json<LoggedIn>, ApiError> {
    if let Some(ip) = client_key(app, req) {
        limit(&app.guards.login_by_ip, &ip)?;
    }
    let body: Login = req.json()?;
    let email = validate::email(&body.email)?;
    if body.password.len() > validate::MAX_PASSWORD_LEN {
        return Err(ApiError::invalid_field("password", "invalid_password", "password is too long"));
    }
    limit(&app.guards.login_by_account, &email)?;
    let now = app.clock.now();
    let attempt = app.store.record_login_failure(&email, now).await?;
    if app.store.login_failures(&email, now.minus_ms(LOGIN_WINDOW_MS)).await? > MAX_LOGIN_FAILURES {
        app.store.forget_login_failure(attempt).await?;
        return Err(too_many_failures());
    }
    let creds = app.store.credentials(&email).await?;
    let stored = creds.as_ref().and_then(|c| c.password_hash.clone());
    let verified = match auth::verify_password(&app.guards.passwords, body.password, stored).await {
        Ok(v) => v,
        Err(e) => {
            // Not judged (the gate was full): it does not count.
            app.store.forget_login_failure(attempt).await?;
            return Err(e);
        }
    };
    if !verified {
        return Err(ApiError::new(
            hyper::StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "이메일 또는 비밀번호가 올바르지 않습니다 (wrong e-mail or password)",
        ));
    }
    let Some(creds) = creds else { return Err(ApiError::unauthorized()) };
    app.store.clear_login_failures(&email).await?;
    let token = start_session(app, &creds.user.user_id, now).await?;
    Ok(Json(LoggedIn { success: true, token, user: views::user(&creds.user) }))
}

/// The session is over.
#[derive(Serialize, JsonSchema)]
pub struct LoggedOut {
    success: bool,
}

pub async fn logout(app: &App, req: &Req) -> Result<Json<LoggedOut>, ApiError> {
    if let Some(token) = auth::bearer_token(&req.headers) {
        app.store.revoke_session(&auth::token_hash(&token)).await?;
    }
    Ok(Json(LoggedOut { success: true }))
}

/// One account.
#[derive(Serialize, JsonSchema)]
pub struct OneUser {
    user: UserView,
}

pub async fn user(app: &App, caller: &Caller, user_id: &str) -> Result<Json<OneUser>, ApiError> {
    let subject = caller.subject(Some(user_id), true)?;
    let user = app.store.user(&subject).await?.ok_or_else(|| ApiError::not_found("user"))?;
    Ok(Json(OneUser { user: views::user(&user) }))
}

crate::router::route_table! {
    Register: POST "/api/register", Public, "register", body Register, reply Json<Registered>,
        |app, _, req| register(app, req);
    Login: POST "/api/auth/login", Public, "login", body Login, reply Json<LoggedIn>,
        |app, _, req| login(app, req);
    Logout: POST "/api/auth/logout", User, "logout", reply Json<LoggedOut>,
        |app, _, req| logout(app, req);
    VerifyEmailGet: GET "/api/auth/verify-email", Public, "auth.verify_email", query VerifyEmailQuery,
        reply Json<EmailVerified>,
        |app, _, req| verify_email(app, req);
    VerifyEmail: POST "/api/auth/verify-email", Public, "auth.verify_email", query VerifyEmailQuery,
        body VerifyEmail, reply Json<EmailVerified>,
        |app, _, req| verify_email(app, req);
    ResendVerification: POST "/api/auth/resend-verification", User, "auth.resend_verification",
        reply Json<VerificationResent>,
        |app, caller, _| resend_verification(app, caller);
    User: GET "/api/users/{user_id}", UserOrAdmin, "user", reply Json<OneUser>,
        |app, caller, _, user_id| user(app, caller, user_id);
}
