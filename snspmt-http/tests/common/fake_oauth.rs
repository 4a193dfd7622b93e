//! A loopback fake of Kakao's user API and Google's token endpoints (protocols §3.4, §4.3).
//!
//! Kakao (`KAKAO_API_URL` = [`FakeOauth::url`]):
//! - `GET /v1/user/access_token_info`, `GET|POST /v2/user/me`: Bearer lookup of the tokens a
//!   test registered with [`FakeOauth::kakao_user`]; an unknown token gets 401
//!   `{"msg":"this access token does not exist","code":-401}`.
//!
//! Google (`GOOGLE_TOKENINFO_URL` = [`FakeOauth::tokeninfo_url`], `GOOGLE_TOKEN_URL` =
//! [`FakeOauth::token_url`]):
//! - `GET|POST /tokeninfo?id_token=…`: the claims of a minted id_token with **string** values
//!   (as Google answers), or 400 `{"error":"invalid_token","error_description":"Invalid Value"}`
//!   for an unknown or (unless [`FakeOauth::set_check_exp`] turned it off) expired token.
//! - `POST /token`: form; codes registered with [`FakeOauth::google_code`], single use (reuse:
//!   400 `invalid_grant`); `client_id`, `client_secret` and `redirect_uri` must match.
//!
//! Instead of RSA-signed JWTs the fake mints opaque id_tokens: our server verifies through
//! tokeninfo, so the signature is the fake's business. Faults are queued per route
//! (`"kakao_info"`, `"kakao_me"`, `"tokeninfo"`, `"token"`) and consumed before the logic.

#![allow(dead_code)]

#[allow(clippy::duplicate_mod)]
#[path = "fake_http.rs"]
mod fake_http;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fake_http::{HttpRequest, HttpResponse, Outcome};
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;

pub const KAKAO_APP_ID: &str = "4242";
pub const GOOGLE_CLIENT_ID: &str = "snspmt-test.apps.googleusercontent.com";
pub const GOOGLE_CLIENT_SECRET: &str = "fake-google-secret";

/// A fault for the next request of a route.
#[derive(Debug, Clone)]
pub enum OauthFault {
    /// Answer this status and body.
    Http { status: u16, body: String },
    /// HTTP 200 with a body that is not JSON.
    Garbage,
    /// Close the connection without answering.
    Drop,
    /// Wait, then carry on normally.
    Delay(Duration),
}

/// A Kakao account behind an access token.
#[derive(Debug, Clone)]
pub struct KakaoUser {
    pub id: i64,
    pub app_id: String,
    pub nickname: String,
    pub email: Option<String>,
    pub is_email_verified: bool,
    pub is_email_valid: bool,
}

impl KakaoUser {
    pub fn new(id: i64) -> KakaoUser {
        KakaoUser {
            id,
            app_id: KAKAO_APP_ID.into(),
            nickname: format!("kakao {id}"),
            email: None,
            is_email_verified: false,
            is_email_valid: false,
        }
    }

    pub fn verified_email(mut self, email: &str) -> KakaoUser {
        self.email = Some(email.into());
        self.is_email_verified = true;
        self.is_email_valid = true;
        self
    }
}

/// The claims of a Google id_token, as the test wants them.
#[derive(Debug, Clone)]
pub struct GoogleClaims {
    pub sub: String,
    pub aud: String,
    pub iss: String,
    /// Seconds since the epoch.
    pub exp: i64,
    pub email: Option<String>,
    /// Sent as the given JSON value (`"true"`, `true`, `"false"`, …).
    pub email_verified: Value,
    pub name: String,
}

impl GoogleClaims {
    pub fn new(sub: &str) -> GoogleClaims {
        GoogleClaims {
            sub: sub.into(),
            aud: GOOGLE_CLIENT_ID.into(),
            iss: "https://accounts.google.com".into(),
            exp: unix_now() + 3600,
            email: None,
            email_verified: json!("false"),
            name: format!("google {sub}"),
        }
    }

    pub fn verified_email(mut self, email: &str) -> GoogleClaims {
        self.email = Some(email.into());
        self.email_verified = json!("true");
        self
    }
}

pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[derive(Default)]
struct State {
    kakao: HashMap<String, KakaoUser>,
    id_tokens: HashMap<String, GoogleClaims>,
    codes: HashMap<String, (String, String)>,
    used_codes: Vec<String>,
    faults: HashMap<&'static str, VecDeque<OauthFault>>,
    requests: Vec<(String, String)>,
    check_exp: bool,
    seq: u64,
}

/// The running fake; it stops with the test's runtime.
#[derive(Clone)]
pub struct FakeOauth {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FakeOauth {
    pub async fn start() -> FakeOauth {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("fake oauth: bind");
        let url = format!("http://{}", listener.local_addr().expect("fake oauth: addr"));
        let state = Arc::new(Mutex::new(State { check_exp: true, ..State::default() }));
        let shared = state.clone();
        fake_http::spawn(listener, "fake-oauth", move |req| {
            let state = shared.clone();
            async move { handle(&state, req).await }
        });
        FakeOauth { url, state }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn tokeninfo_url(&self) -> String {
        format!("{}/tokeninfo", self.url)
    }

    pub fn token_url(&self) -> String {
        format!("{}/token", self.url)
    }

    /// Registers a Kakao access token for `user`.
    pub fn kakao_user(&self, access_token: &str, user: KakaoUser) {
        self.lock().kakao.insert(access_token.into(), user);
    }

    /// Mints an id_token with `claims`.
    pub fn mint_id_token(&self, claims: GoogleClaims) -> String {
        let mut s = self.lock();
        s.seq += 1;
        let token = format!("fake-id-token.{}.{}", s.seq, claims.sub.len());
        s.id_tokens.insert(token.clone(), claims);
        token
    }

    /// Registers an authorization code that exchanges (once) for an id_token with `claims`,
    /// when the request carries `redirect_uri`.
    pub fn google_code(&self, code: &str, redirect_uri: &str, claims: GoogleClaims) {
        let token = self.mint_id_token(claims);
        self.lock().codes.insert(code.into(), (token, redirect_uri.into()));
    }

    pub fn set_check_exp(&self, on: bool) {
        self.lock().check_exp = on;
    }

    pub fn push_fault(&self, route: &'static str, fault: OauthFault) {
        assert!(
            matches!(route, "kakao_info" | "kakao_me" | "tokeninfo" | "token"),
            "fake oauth: route {route}"
        );
        self.lock().faults.entry(route).or_default().push_back(fault);
    }

    /// Forgets the faults not consumed yet.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// `(method, path)` of every request received.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.lock().requests.clone()
    }
}

fn json_status(status: u16, v: Value) -> Outcome {
    Outcome::Respond(HttpResponse { status, content_type: "application/json", body: v.to_string() })
}

fn form(body: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let v = req.header("authorization")?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

async fn handle(state: &Arc<Mutex<State>>, req: HttpRequest) -> Outcome {
    let route = match (req.method.as_str(), req.path()) {
        ("GET", "/v1/user/access_token_info") => "kakao_info",
        ("GET" | "POST", "/v2/user/me") => "kakao_me",
        ("GET" | "POST", "/tokeninfo") => "tokeninfo",
        ("POST", "/token") => "token",
        _ => return Outcome::Respond(HttpResponse::html_status(404)),
    };
    let fault = {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        s.requests.push((req.method.clone(), req.path().to_owned()));
        s.faults.get_mut(route).and_then(VecDeque::pop_front)
    };
    match fault {
        Some(OauthFault::Http { status, body }) => {
            return Outcome::Respond(HttpResponse { status, content_type: "application/json", body })
        }
        Some(OauthFault::Garbage) => {
            return Outcome::Respond(HttpResponse {
                status: 200,
                content_type: "text/html",
                body: "<html>maintenance</html>".into(),
            })
        }
        Some(OauthFault::Drop) => return Outcome::Drop,
        Some(OauthFault::Delay(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    match route {
        "kakao_info" | "kakao_me" => {
            let Some(user) = bearer(&req).and_then(|t| s.kakao.get(&t).cloned()) else {
                return json_status(401, json!({"msg": "this access token does not exist", "code": -401}));
            };
            if route == "kakao_info" {
                let app_id: i64 = user.app_id.parse().unwrap_or(0);
                return json_status(200, json!({"id": user.id, "expires_in": 7199, "app_id": app_id}));
            }
            let mut account = Map::new();
            account
                .insert("profile".into(), json!({"nickname": user.nickname, "is_default_nickname": false}));
            account.insert("has_email".into(), json!(user.email.is_some()));
            if let Some(email) = &user.email {
                account.insert("email_needs_agreement".into(), json!(false));
                account.insert("is_email_valid".into(), json!(user.is_email_valid));
                account.insert("is_email_verified".into(), json!(user.is_email_verified));
                account.insert("email".into(), json!(email));
            }
            json_status(
                200,
                json!({"id": user.id, "connected_at": "2022-04-05T04:30:27Z",
                    "properties": {"nickname": user.nickname}, "kakao_account": account}),
            )
        }
        "tokeninfo" => {
            let query = req.target.split_once('?').map(|(_, q)| q).unwrap_or_default();
            let mut params = form(query.as_bytes());
            params.extend(form(&req.body));
            let invalid =
                || json_status(400, json!({"error": "invalid_token", "error_description": "Invalid Value"}));
            let Some(c) = params.get("id_token").and_then(|t| s.id_tokens.get(t)).cloned() else {
                return invalid();
            };
            if s.check_exp && c.exp <= unix_now() {
                return invalid();
            }
            let mut claims = json!({
                "iss": c.iss, "azp": c.aud, "aud": c.aud, "sub": c.sub, "iat": (c.exp - 3600).to_string(),
                "exp": c.exp.to_string(), "name": c.name, "email_verified": c.email_verified,
                "alg": "RS256", "kid": "fake-key-1", "typ": "JWT",
            });
            if let Some(email) = c.email {
                claims["email"] = json!(email);
            }
            json_status(200, claims)
        }
        _ => {
            let f = form(&req.body);
            let get = |k: &str| f.get(k).map(String::as_str).unwrap_or_default();
            if get("client_id") != GOOGLE_CLIENT_ID || get("client_secret") != GOOGLE_CLIENT_SECRET {
                return json_status(
                    401,
                    json!({"error": "invalid_client", "error_description": "Unauthorized"}),
                );
            }
            if get("grant_type") != "authorization_code" {
                return json_status(400, json!({"error": "unsupported_grant_type"}));
            }
            let code = get("code").to_owned();
            let Some((token, redirect)) = s.codes.remove(&code) else {
                return json_status(
                    400,
                    json!({"error": "invalid_grant", "error_description": "Bad Request"}),
                );
            };
            if redirect != get("redirect_uri") {
                return json_status(
                    400,
                    json!({"error": "redirect_uri_mismatch", "error_description": "Bad Request"}),
                );
            }
            s.used_codes.push(code);
            json_status(
                200,
                json!({"access_token": "ya29.fake", "expires_in": 3599, "scope": "openid email profile",
                    "token_type": "Bearer", "id_token": token}),
            )
        }
    }
}
