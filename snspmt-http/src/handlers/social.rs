//! Kakao and Google login. The provider proves who the person is; nothing in the request
//! body (an e-mail, an id) chooses the account. Accounts are found by provider identity, and
//! linked to an existing e-mail account only when the provider says the e-mail is verified
//! and that account proved the address too (`email_verified`): an address merely claimed at
//! registration links nothing, so nobody can pre-register a victim's address and wait.
//!
//! The Google code flow: `GET /api/auth/google-state` issues a single-use `state` (kept
//! hashed in the database for [`STATE_TTL_MS`]) and the authorization URL; Google redirects
//! the popup to `GET /api/auth/google-callback?code&state`, which checks the state, exchanges
//! the code, verifies the id_token and answers a page that posts the session to
//! `window.opener` (target origin: `SNSPMT_PUBLIC_URL`).

use base64::Engine;
use hyper::StatusCode;
use rand::RngCore;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use snspmt_store::{Conflict, NewUser, SocialLink, SocialLogin, StoreError, User};

use super::bytes;
use crate::auth;
use crate::error::ApiError;
use crate::request::Req;
use crate::router::{Html, Json, Raw};
use crate::upstream::oauth::{GoogleClient, LoginFailure};
use crate::views::{self, UserView};
use crate::App;

/// How long an issued Google `state` may be used: 10 minutes.
pub const STATE_TTL_MS: i64 = 10 * 60 * 1000;
/// Google's authorization page.
pub const GOOGLE_AUTHORIZE_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
const MAX_TOKEN_LEN: usize = 8192;

fn not_configured(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "upstream_not_configured",
        format!("{what} is not configured"),
    )
}

fn login_error(provider: &str, e: LoginFailure) -> ApiError {
    match e {
        LoginFailure::InvalidToken => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            format!("{provider} did not accept the token (invalid or expired)"),
        ),
        LoginFailure::Rejected(r) => ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", r.to_string()),
        LoginFailure::InvalidGrant => ApiError::bad_request(
            "login_expired",
            "로그인이 만료되었습니다. 다시 시도하세요 (the authorization code was used or expired)",
        ),
        LoginFailure::Upstream(detail) => {
            crate::log::warn(&format!("{provider} login: {detail}"));
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                format!("{provider} did not answer usefully"),
            )
        }
    }
}

/// A token from the body: present, not huge, printable.
fn token(field: &'static str, v: Option<String>) -> Result<String, ApiError> {
    let t = v.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    let t =
        t.ok_or_else(|| ApiError::invalid_field(field, "missing_field", format!("{field} is required")))?;
    if t.len() > MAX_TOKEN_LEN || !t.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid_field(field, "invalid_token", format!("{field} is not a token")));
    }
    Ok(t)
}

/// A provider's display name, made safe to store: no control characters, at most 100 chars.
fn display(name: Option<&str>) -> String {
    name.unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect::<String>()
        .trim()
        .to_owned()
}

fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Finds or creates the account (one retry when a concurrent first login of the same
/// identity won the race), and starts a session.
async fn sign_in(
    app: &App,
    provider: &'static str,
    subject: String,
    verified_email: Option<String>,
    name: String,
) -> Result<(String, User, SocialLink), ApiError> {
    let login = SocialLogin {
        provider,
        subject,
        verified_email,
        new_user: NewUser {
            user_id: format!("{}_{}", &provider[..1], &auth::token_hash(&random_token(24))[..20]),
            email: None,
            name: name.clone(),
            display_name: name,
            password_hash: None,
        },
    };
    let now = app.clock.now();
    let (user, link) = match app.store.social_login(login.clone(), now).await {
        Err(StoreError::Conflict(Conflict::IdentityTaken | Conflict::UserIdTaken)) => {
            app.store.social_login(login, now).await?
        }
        other => other?,
    };
    let (token, hash) = auth::new_session_token();
    app.store.create_session(&hash, &user.user_id, now, now.plus_ms(auth::SESSION_TTL_MS)).await?;
    Ok((token, user, link))
}

/// A session from a provider's login.
#[derive(Serialize, JsonSchema)]
pub struct SocialSession {
    success: bool,
    /// The session's bearer token.
    token: String,
    user: UserView,
    /// `kakao` or `google`.
    #[schemars(extend("enum" = ["kakao", "google"]))]
    provider: &'static str,
    /// Whether this login created the account.
    is_new_user: bool,
}

fn session_body(provider: &'static str, token: String, user: &User, link: SocialLink) -> SocialSession {
    SocialSession {
        success: true,
        token,
        user: views::user(user),
        provider,
        is_new_user: link == SocialLink::Created,
    }
}

/// `POST /api/auth/kakao-login`.
#[derive(Deserialize, JsonSchema)]
pub struct KakaoBody {
    /// The Kakao access token; verified with Kakao.
    access_token: Option<String>,
    /// Accepted and not used: the access token is verified with Kakao instead.
    #[allow(dead_code)]
    id_token: Option<Value>,
}

pub async fn kakao_login(app: &App, req: &Req) -> Result<Json<SocialSession>, ApiError> {
    let body: KakaoBody = req.json()?;
    let access_token = token("access_token", body.access_token)?;
    let client = app.kakao.clone();
    let profile = tokio::task::spawn_blocking(move || client.verify(&access_token))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|e| login_error("Kakao", e))?;
    let name = display(profile.nickname.as_deref());
    let (token, user, link) =
        sign_in(app, "kakao", profile.id.to_string(), profile.verified_email, name).await?;
    Ok(Json(session_body("kakao", token, &user, link)))
}

fn google(app: &App) -> Result<GoogleClient, ApiError> {
    app.google.clone().ok_or_else(|| not_configured("Google login"))
}

async fn verify_google(
    app: &App,
    client: GoogleClient,
    id_token: String,
) -> Result<snspmt_core::upstream::oauth::google::Claims, ApiError> {
    let now_secs = app.clock.now().0.div_euclid(1000);
    tokio::task::spawn_blocking(move || client.verify_id_token(&id_token, now_secs))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|e| login_error("Google", e))
}

/// `POST /api/auth/google-login`.
#[derive(Deserialize, JsonSchema)]
pub struct GoogleBody {
    /// The Google ID token (a JWT); verified against Google's keys and our client id.
    id_token: Option<String>,
}

pub async fn google_login(app: &App, req: &Req) -> Result<Json<SocialSession>, ApiError> {
    let client = google(app)?;
    let body: GoogleBody = req.json()?;
    let id_token = token("id_token", body.id_token)?;
    let claims = verify_google(app, client, id_token).await?;
    let name = display(claims.name.as_deref());
    let (token, user, link) =
        sign_in(app, "google", claims.sub.clone(), claims.verified_email(), name).await?;
    Ok(Json(session_body("google", token, &user, link)))
}

/// A single-use `state` for the Google code flow, and the URL to open.
#[derive(Serialize, JsonSchema)]
pub struct GoogleState {
    success: bool,
    state: String,
    /// Seconds the state may be used.
    expires_in: i64,
    /// Google's authorization page with our client id, redirect URI, scope and the state.
    authorization_url: String,
}

/// Issues a single-use `state` for the Google code flow, with the URL to open.
pub async fn google_state(app: &App) -> Result<Json<GoogleState>, ApiError> {
    let client = google(app)?;
    let state = random_token(32);
    let now = app.clock.now();
    app.store.create_oauth_state(&auth::token_hash(&state), "google", now, now.plus_ms(STATE_TTL_MS)).await?;
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &client.client_id)
        .append_pair("redirect_uri", &client.redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid email profile")
        .append_pair("state", &state)
        .finish();
    Ok(Json(GoogleState {
        success: true,
        state,
        expires_in: STATE_TTL_MS / 1000,
        authorization_url: format!("{GOOGLE_AUTHORIZE_URL}?{query}"),
    }))
}

/// `GET /api/auth/google-callback`: where Google sends the login popup back.
#[derive(Deserialize, JsonSchema)]
pub struct GoogleCallbackQuery {
    /// The `state` of `GET /api/auth/google-state`; it works once.
    state: Option<String>,
    /// The authorization code.
    code: Option<String>,
    /// Set by Google when the person canceled.
    error: Option<String>,
}

/// Answers an HTML page that posts the session (the body of `POST /api/auth/google-login`) to
/// the window that opened the popup.
pub async fn google_callback(app: &App, req: &Req) -> Result<Raw, ApiError> {
    let client = google(app)?;
    if client.client_secret.is_none() {
        return Err(not_configured("Google login (GOOGLE_CLIENT_SECRET)"));
    }
    let query: GoogleCallbackQuery = req.query_as()?;
    let state =
        query.state.ok_or_else(|| ApiError::invalid_field("state", "missing_field", "state is required"))?;
    // The state is used up first, whatever follows: a callback URL works once.
    if !app.store.consume_oauth_state(&auth::token_hash(&state), "google", app.clock.now()).await? {
        return Err(ApiError::invalid_field("state", "invalid_state", "unknown, used or expired state"));
    }
    if query.error.is_some() {
        return Err(ApiError::bad_request("access_denied", "the Google login was canceled"));
    }
    let code = token("code", query.code)?;
    let exchange = client.clone();
    let id_token = tokio::task::spawn_blocking(move || exchange.exchange_code(&code))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|e| login_error("Google", e))?;
    let claims = verify_google(app, client, id_token).await?;
    let name = display(claims.name.as_deref());
    let (token, user, link) =
        sign_in(app, "google", claims.sub.clone(), claims.verified_email(), name).await?;
    let page = handoff_page(&app.config.public_url, &json!(session_body("google", token, &user, link)));
    let mut resp = bytes(StatusCode::OK, "text/html; charset=utf-8", page);
    let headers = resp.headers_mut();
    headers.insert("referrer-policy", hyper::header::HeaderValue::from_static("no-referrer"));
    if let Ok(csp) = hyper::header::HeaderValue::from_str(&format!(
        "default-src 'none'; script-src 'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(HANDOFF_SCRIPT.as_bytes()))
    )) {
        headers.insert("content-security-policy", csp);
    }
    Ok(resp)
}

/// The page's only script: it reads the JSON data block and posts it to the opener.
const HANDOFF_SCRIPT: &str = "(function () {\n\
  var data = JSON.parse(document.getElementById(\"login-data\").textContent);\n\
  if (window.opener) {\n\
    window.opener.postMessage(data.message, data.origin);\n\
    window.close();\n\
  } else {\n\
    document.getElementById(\"status\").textContent = \"로그인이 완료되었습니다. 이 창을 닫아 주세요.\";\n\
  }\n\
})();";

/// JSON that is safe inside a `<script>` element: `<`, `>`, `&`, U+2028 and U+2029 are
/// written as `\u` escapes (valid JSON, and nothing can close the element or start markup).
pub fn script_json(v: &Value) -> String {
    let text = v.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// The page that hands a session to the window that opened the login popup. Every value is
/// in a JSON data block; none is written into HTML or script text.
pub fn handoff_page(origin: &str, message: &Value) -> String {
    let data = script_json(&json!({"origin": origin, "message": message}));
    format!(
        "<!DOCTYPE html>\n<html lang=\"ko\"><head><meta charset=\"utf-8\"><title>로그인</title></head>\n<body>\n\
         <p id=\"status\">로그인 처리 중…</p>\n\
         <script type=\"application/json\" id=\"login-data\">{data}</script>\n\
         <script>{HANDOFF_SCRIPT}</script>\n</body></html>\n"
    )
}

crate::router::route_table! {
    KakaoLogin: POST "/api/auth/kakao-login", Public, "auth.kakao_login",
        body KakaoBody, reply Json<SocialSession>,
        |app, _, req| kakao_login(app, req);
    GoogleLogin: POST "/api/auth/google-login", Public, "auth.google_login",
        body GoogleBody, reply Json<SocialSession>,
        |app, _, req| google_login(app, req);
    GoogleState: GET "/api/auth/google-state", Public, "auth.google_state",
        reply Json<GoogleState>,
        |app, _, _| google_state(app);
    GoogleCallback: GET "/api/auth/google-callback", Public, "auth.google_callback",
        query GoogleCallbackQuery, reply Html,
        |app, _, req| async move { google_callback(app, req).await.map(Html) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_break_out() {
        let evil = "</script><script>alert(1)</script>&\u{2028}\u{2029}";
        let out = script_json(&json!({"name": evil}));
        assert!(!out.contains('<') && !out.contains('>') && !out.contains('&'));
        assert!(!out.contains('\u{2028}') && !out.contains('\u{2029}'));
        let back: Value = serde_json::from_str(&out).expect("still JSON");
        assert_eq!(back["name"], evil);
        let page = handoff_page("https://panel.example", &json!({"name": evil}));
        assert_eq!(page.matches("<script").count(), 2, "only the page's own two script elements");
        assert_eq!(page.matches("</script>").count(), 2);
    }

    #[test]
    fn tokens_and_names() {
        assert_eq!(token("t", Some(" abc.def-_ ".into())).ok().as_deref(), Some("abc.def-_"));
        assert_eq!(token("t", None).map_err(|e| e.code), Err("missing_field"));
        assert_eq!(token("t", Some("a b".into())).map_err(|e| e.code), Err("invalid_token"));
        assert_eq!(display(Some("  홍\u{0}길동\n ")), "홍길동");
        assert_eq!(display(None), "");
    }
}
