//! Kakao and Google login against the fake providers, on SQLite and PostgreSQL.

mod common;

use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use common::fake_oauth::{GoogleClaims, KakaoUser, OauthFault};
use common::{assert_error_body, Auth, Backend, OauthHarness, TestServer, PUBLIC_URL};

on_both_backends_with_oauth!(
    kakao_logs_in_and_links_by_kakao_id,
    kakao_unverified_email_never_links,
    kakao_body_cannot_choose_the_account,
    kakao_foreign_or_invalid_tokens_are_refused,
    kakao_down_is_a_bad_gateway,
    google_login_checks_audience_issuer_expiry_and_verification,
    google_down_is_a_bad_gateway,
    google_callback_checks_state_and_escapes_the_page,
);

async fn register_alice(s: &TestServer) -> String {
    let (status, body) = s
        .call(
            Method::POST,
            "/api/register",
            Auth::None,
            Some(json!({"user_id": "alice", "email": "alice@example.com", "password": "correct horse"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Alice proved her address: a provider's verified e-mail may link to her account.
    s.verify_email("alice@example.com").await;
    body["token"].as_str().expect("token").to_owned()
}

async fn kakao(s: &TestServer, body: Value) -> (StatusCode, Value) {
    s.call(Method::POST, "/api/auth/kakao-login", Auth::None, Some(body)).await
}

async fn google(s: &TestServer, id_token: &str) -> (StatusCode, Value) {
    s.call(Method::POST, "/api/auth/google-login", Auth::None, Some(json!({"id_token": id_token}))).await
}

/// The session of a login answer works, and belongs to `user_id`.
async fn assert_session(s: &TestServer, body: &Value, user_id: &str) {
    assert_eq!(body["success"], true, "{body}");
    assert_eq!(body["user"]["user_id"], user_id, "{body}");
    let token = body["token"].as_str().expect("token");
    let (status, me) = s.call(Method::GET, &format!("/api/users/{user_id}"), Auth::Bearer(token), None).await;
    assert_eq!(status, StatusCode::OK, "{me}");
}

async fn kakao_logs_in_and_links_by_kakao_id(h: OauthHarness) {
    let s = &h.server;
    register_alice(s).await;
    h.oauth.kakao_user("tok-a", KakaoUser::new(111).verified_email("Alice@Example.com"));
    let (status, body) = kakao(s, json!({"access_token": "tok-a"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_session(s, &body, "alice").await;
    assert_eq!(body["is_new_user"], false);
    // Later tokens of the same Kakao user find the account by its Kakao id, e-mail or not.
    h.oauth.kakao_user("tok-b", KakaoUser::new(111));
    let (status, body) = kakao(s, json!({"access_token": "tok-b", "id_token": "ignored"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_session(s, &body, "alice").await;
    // A new Kakao user gets a new account.
    h.oauth.kakao_user("tok-c", KakaoUser::new(112));
    let (status, body) = kakao(s, json!({"access_token": "tok-c"})).await;
    assert_eq!((status, &body["is_new_user"]), (StatusCode::OK, &json!(true)), "{body}");
    assert_eq!(body["user"]["name"], "kakao 112");
    let id = body["user"]["user_id"].as_str().expect("id").to_owned();
    assert_ne!(id, "alice");
    assert_session(s, &body, &id).await;
}

async fn kakao_unverified_email_never_links(h: OauthHarness) {
    let s = &h.server;
    register_alice(s).await;
    let mut unverified = KakaoUser::new(222).verified_email("alice@example.com");
    unverified.is_email_verified = false;
    h.oauth.kakao_user("tok-unverified", unverified);
    let mut invalid = KakaoUser::new(223).verified_email("alice@example.com");
    invalid.is_email_valid = false;
    h.oauth.kakao_user("tok-invalid", invalid);
    for token in ["tok-unverified", "tok-invalid"] {
        let (status, body) = kakao(s, json!({"access_token": token})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_ne!(body["user"]["user_id"], "alice", "{token}: {body}");
        assert_eq!(body["user"]["email"], Value::Null, "an unverified e-mail is not stored");
    }
}

async fn kakao_body_cannot_choose_the_account(h: OauthHarness) {
    let s = &h.server;
    register_alice(s).await;
    h.oauth.kakao_user("tok-alice", KakaoUser::new(111).verified_email("alice@example.com"));
    let (status, first) = kakao(s, json!({"access_token": "tok-alice"})).await;
    assert_eq!((status, &first["user"]["user_id"]), (StatusCode::OK, &json!("alice")));
    // Mallory's own valid token, with a body naming alice every way the original trusted.
    h.oauth.kakao_user("tok-mallory", KakaoUser::new(666));
    let (status, body) = kakao(
        s,
        json!({"access_token": "tok-mallory", "email": "alice@example.com", "kakaoId": "111",
            "kakao_id": 111, "id": 111, "user_id": "alice", "nickname": "alice"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_ne!(body["user"]["user_id"], "alice", "{body}");
    // Without a valid token, the body alone gets nothing.
    let (status, body) =
        kakao(s, json!({"access_token": "forged", "email": "alice@example.com", "id": 111})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error_body(&body, "invalid_token");
}

async fn kakao_foreign_or_invalid_tokens_are_refused(h: OauthHarness) {
    let s = &h.server;
    let mut foreign = KakaoUser::new(333);
    foreign.app_id = "9999".into();
    h.oauth.kakao_user("tok-other-app", foreign);
    for token in ["tok-other-app", "never-issued"] {
        let (status, body) = kakao(s, json!({"access_token": token})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token}");
        assert_error_body(&body, "invalid_token");
    }
    for bad in
        [json!({}), json!({"access_token": ""}), json!({"access_token": 5}), json!({"access_token": "a b"})]
    {
        let (status, body) = kakao(s, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["code"].is_string());
    }
    let (status, _, body) = s.raw(Method::POST, "/api/auth/kakao-login", &[], "{not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_body(&body, "invalid_json");
}

async fn kakao_down_is_a_bad_gateway(h: OauthHarness) {
    let s = &h.server;
    h.oauth.kakao_user("tok", KakaoUser::new(444));
    let faults = [
        ("kakao_info", OauthFault::Http { status: 500, body: "oops".into() }),
        ("kakao_info", OauthFault::Garbage),
        ("kakao_info", OauthFault::Drop),
        ("kakao_info", OauthFault::Delay(std::time::Duration::from_millis(1500))),
        ("kakao_me", OauthFault::Http { status: 503, body: "{}".into() }),
    ];
    for (route, fault) in faults {
        // A read may be retried once (our user/me retry; the HTTP client's retry of a GET
        // on a reused connection that was closed): fail it twice.
        h.oauth.push_fault(route, fault.clone());
        h.oauth.push_fault(route, fault.clone());
        let (status, body) = kakao(s, json!({"access_token": "tok"})).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{route} {fault:?}: {body}");
        assert_error_body(&body, "upstream_error");
        h.oauth.clear_faults();
    }
    // A single failure of user/me is retried once.
    h.oauth.push_fault("kakao_me", OauthFault::Drop);
    let (status, body) = kakao(s, json!({"access_token": "tok"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn google_login_checks_audience_issuer_expiry_and_verification(h: OauthHarness) {
    let s = &h.server;
    register_alice(s).await;
    // Verified (as a JSON bool this time) links to alice; then found by `sub`.
    let mut claims = GoogleClaims::new("g-1").verified_email("alice@example.com");
    claims.email_verified = json!(true);
    let (status, body) = google(s, &h.oauth.mint_id_token(claims)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_session(s, &body, "alice").await;
    let mut plain_iss = GoogleClaims::new("g-1");
    plain_iss.iss = "accounts.google.com".into();
    let (status, body) = google(s, &h.oauth.mint_id_token(plain_iss)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["user_id"], "alice");
    // email_verified "false": a new account without the address.
    let mut unverified = GoogleClaims::new("g-2");
    unverified.email = Some("alice@example.com".into());
    let (status, body) = google(s, &h.oauth.mint_id_token(unverified)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_ne!(body["user"]["user_id"], "alice");
    assert_eq!(body["user"]["email"], Value::Null);
    // Another client's token, a foreign issuer, an expired token, an unknown token: 401.
    let mut other_aud = GoogleClaims::new("g-1").verified_email("alice@example.com");
    other_aud.aud = "someone-else.apps.googleusercontent.com".into();
    let mut evil_iss = GoogleClaims::new("g-1");
    evil_iss.iss = "https://accounts.google.com.evil.example".into();
    h.oauth.set_check_exp(false);
    let mut expired = GoogleClaims::new("g-1");
    expired.exp = common::fake_oauth::unix_now() - 10;
    for c in [other_aud, evil_iss, expired] {
        let (status, body) = google(s, &h.oauth.mint_id_token(c.clone())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{c:?}: {body}");
        assert_error_body(&body, "invalid_token");
    }
    let (status, body) = google(s, "never-minted").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error_body(&body, "invalid_token");
    let (status, body) = s.call(Method::POST, "/api/auth/google-login", Auth::None, Some(json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_body(&body, "missing_field");
}

async fn google_down_is_a_bad_gateway(h: OauthHarness) {
    let s = &h.server;
    let token = h.oauth.mint_id_token(GoogleClaims::new("g-9"));
    for fault in [OauthFault::Http { status: 500, body: "x".into() }, OauthFault::Garbage, OauthFault::Drop] {
        h.oauth.push_fault("tokeninfo", fault.clone());
        h.oauth.push_fault("tokeninfo", fault.clone());
        let (status, body) = google(s, &token).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{fault:?}: {body}");
        assert_error_body(&body, "upstream_error");
        h.oauth.clear_faults();
    }
    let (status, body) = google(s, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn callback(s: &TestServer, query: &str) -> (StatusCode, hyper::HeaderMap, String) {
    let (status, headers, body) =
        s.raw_bytes(Method::GET, &format!("/api/auth/google-callback?{query}"), &[], "").await;
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

async fn new_state(s: &TestServer) -> String {
    let (status, body) = s.call(Method::GET, "/api/auth/google-state", Auth::None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url = body["authorization_url"].as_str().expect("url");
    assert!(url.starts_with("https://accounts.google.com/o/oauth2/v2/auth?"), "{url}");
    assert!(url.contains("redirect_uri=https%3A%2F%2Fpanel.example%2Fapi%2Fauth%2Fgoogle-callback"), "{url}");
    body["state"].as_str().expect("state").to_owned()
}

async fn google_callback_checks_state_and_escapes_the_page(h: OauthHarness) {
    let s = &h.server;
    let redirect = format!("{PUBLIC_URL}/api/auth/google-callback");
    let evil = "</script><script>alert(1)</script>";
    let mut claims = GoogleClaims::new("g-xss").verified_email("x@example.com");
    claims.name = evil.into();
    h.oauth.google_code("code-1", &redirect, claims);
    let state = new_state(s).await;
    // A state we never issued, or none: refused before the code is spent.
    for query in ["code=code-1&state=forged", "code=code-1"] {
        let (status, _, body) = callback(s, query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
    }
    let (status, headers, page) = callback(s, &format!("code=code-1&state={state}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(headers["content-type"].to_str().expect("ct").starts_with("text/html"));
    assert!(headers["content-security-policy"].to_str().expect("csp").contains("script-src 'sha256-"));
    assert!(!page.contains(evil) && !page.contains("<script>alert(1)"), "the name is escaped: {page}");
    assert!(
        page.contains("\\u003c/script\\u003e\\u003cscript\\u003ealert(1)\\u003c/script\\u003e"),
        "{page}"
    );
    assert_eq!(page.matches("<script").count(), 2, "{page}");
    // The data block is JSON with the session, for the opener at our public origin.
    let start = page.find("id=\"login-data\">").expect("data block") + "id=\"login-data\">".len();
    let end = start + page[start..].find("</script>").expect("end");
    let data: Value = serde_json::from_str(&page[start..end]).expect("json");
    assert_eq!(data["origin"], PUBLIC_URL);
    assert_eq!(data["message"]["user"]["name"], evil);
    let id = data["message"]["user"]["user_id"].as_str().expect("id").to_owned();
    assert_session(s, &data["message"], &id).await;
    // The state was used up.
    h.oauth.google_code("code-2", &redirect, GoogleClaims::new("g-2"));
    let (status, _, body) = callback(s, &format!("code=code-2&state={state}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let err: Value = serde_json::from_str(&body).expect("error body");
    assert_error_body(&err, "invalid_state");
    // A used code with a fresh state: the login expired.
    let (status, _, body) = callback(s, &format!("code=code-1&state={}", new_state(s).await)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_body(&serde_json::from_str(&body).expect("json"), "login_expired");
    // The token endpoint down: 502.
    h.oauth.push_fault("token", OauthFault::Http { status: 503, body: "busy".into() });
    let (status, _, body) = callback(s, &format!("code=code-2&state={}", new_state(s).await)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
}

/// Without GOOGLE_CLIENT_ID, Google login is 503 `upstream_not_configured`; nothing is called.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_without_configuration_is_unavailable() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(s) = TestServer::start(backend, "google_without_configuration_is_unavailable").await else {
            continue;
        };
        let (status, body) = google(&s, "x").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_error_body(&body, "upstream_not_configured");
        for path in ["/api/auth/google-state", "/api/auth/google-callback?code=a&state=b"] {
            let (status, body) = s.call(Method::GET, path, Auth::None, None).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
            assert_error_body(&body, "upstream_not_configured");
        }
    }
}
