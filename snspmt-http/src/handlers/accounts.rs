//! Registration, login, logout, and reading a user.

use serde::Deserialize;
use serde_json::json;
use snspmt_core::validate;
use snspmt_store::NewUser;

use super::{ok, Reply};
use crate::auth::{self, Caller};
use crate::error::ApiError;
use crate::request::Req;
use crate::{views, App};

/// Failed logins for one e-mail allowed within [`LOGIN_WINDOW_MS`] before 429.
pub const MAX_LOGIN_FAILURES: i64 = 10;
pub const LOGIN_WINDOW_MS: i64 = 15 * 60 * 1000;

#[derive(Deserialize)]
struct Register {
    user_id: Option<String>,
    email: Option<String>,
    name: Option<String>,
    display_name: Option<String>,
    password: Option<String>,
}

pub async fn register(app: &App, req: &Req) -> Reply {
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
    let password_hash = match body.password {
        Some(pw) => {
            validate::password(&pw)?;
            if email.is_none() {
                return Err(ApiError::invalid_field(
                    "email",
                    "missing_field",
                    "a password login needs an email",
                ));
            }
            Some(auth::hash_password(pw).await?)
        }
        None => None,
    };
    let now = app.clock.now();
    let user =
        app.store.create_user(NewUser { user_id, email, name, display_name, password_hash }, now).await?;
    let token = start_session(app, &user.user_id, now).await?;
    ok(json!({"success": true, "message": "회원가입 완료", "token": token, "user": views::user(&user)}))
}

async fn start_session(app: &App, user_id: &str, now: i64) -> Result<String, ApiError> {
    let (token, hash) = auth::new_session_token();
    app.store.create_session(&hash, user_id, now, now + auth::SESSION_TTL_MS).await?;
    Ok(token)
}

#[derive(Deserialize)]
struct Login {
    email: String,
    password: String,
}

pub async fn login(app: &App, req: &Req) -> Reply {
    let body: Login = req.json()?;
    let email = validate::email(&body.email)?;
    if body.password.len() > validate::MAX_PASSWORD_LEN {
        return Err(ApiError::invalid_field("password", "invalid_password", "password is too long"));
    }
    let now = app.clock.now();
    if app.store.login_failures(&email, now - LOGIN_WINDOW_MS).await? >= MAX_LOGIN_FAILURES {
        return Err(ApiError::new(
            hyper::StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "로그인 시도가 너무 많습니다. 잠시 후 다시 시도하세요 (too many failed logins)",
        ));
    }
    let creds = app.store.credentials(&email).await?;
    let stored = creds.as_ref().and_then(|c| c.password_hash.clone());
    if !auth::verify_password(body.password, stored).await {
        app.store.record_login_failure(&email, now).await?;
        return Err(ApiError::new(
            hyper::StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "이메일 또는 비밀번호가 올바르지 않습니다 (wrong e-mail or password)",
        ));
    }
    let Some(creds) = creds else { return Err(ApiError::unauthorized()) };
    app.store.clear_login_failures(&email).await?;
    let token = start_session(app, &creds.user.user_id, now).await?;
    ok(json!({"success": true, "token": token, "user": views::user(&creds.user)}))
}

pub async fn logout(app: &App, req: &Req) -> Reply {
    if let Some(token) = auth::bearer_token(&req.headers) {
        app.store.revoke_session(&auth::token_hash(&token)).await?;
    }
    ok(json!({"success": true}))
}

pub async fn user(app: &App, caller: &Caller, user_id: &str) -> Reply {
    let subject = caller.subject(Some(user_id), true)?;
    let user = app.store.user(&subject).await?.ok_or_else(|| ApiError::not_found("user"))?;
    ok(json!({"user": views::user(&user)}))
}
