//! Issue 12, accounts: e-mail ownership before a provider may link, stable conflict codes in
//! registration races, bounded password hashing, an atomic login throttle, and rate limits
//! per client address and per account — on SQLite and PostgreSQL.

mod common;

use std::sync::Arc;

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use snspmt_store::Millis;

use common::fake_oauth::{GoogleClaims, KakaoUser};
use common::{assert_error_body, Auth, Backend, OauthHarness, TestServer};
use snspmt_http::clock::ManualClock;
use snspmt_http::guard::{Guards, PasswordGate};

mod social {
    use super::*;
    on_both_backends_with_oauth!(an_unverified_registration_cannot_capture_a_social_login);
}
on_both_backends!(
    registration_needs_an_email,
    verification_flow_end_to_end,
    registration_races_answer_stable_codes,
    parallel_guesses_on_one_email_are_counted_atomically,
);
on_each_backend!(
    verification_links_expire,
    parallel_unknown_logins_are_bounded,
    rate_limits_per_client_address,
    rate_limits_behind_a_trusted_proxy,
);

async fn post(s: &TestServer, path: &str, auth: Auth<'_>, body: Value) -> (StatusCode, Value) {
    s.call(Method::POST, path, auth, Some(body)).await
}

async fn register(s: &TestServer, body: Value) -> (StatusCode, Value) {
    post(s, "/api/register", Auth::None, body).await
}

// --- 1. pre-hijacking -----------------------------------------------------------------------

async fn an_unverified_registration_cannot_capture_a_social_login(h: OauthHarness) {
    let s = &h.server;
    // Mallory registers the victim's address with a password she knows; she never proves it.
    let (status, b) =
        register(s, json!({"user_id": "mallory", "email": "victim@example.com", "password": "mallory's pw"}))
            .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["user"]["email_verified"], false, "{b}");
    // The victim signs in with Kakao, which has verified that address: a new account, not
    // Mallory's. The address stays with the unverified claim; the new account goes without it.
    h.oauth.kakao_user("tok-victim", KakaoUser::new(7001).verified_email("victim@example.com"));
    let (status, kakao) =
        post(s, "/api/auth/kakao-login", Auth::None, json!({"access_token": "tok-victim"})).await;
    assert_eq!(status, StatusCode::OK, "{kakao}");
    assert_ne!(kakao["user"]["user_id"], "mallory", "linked to the pre-hijacked account: {kakao}");
    assert_eq!((&kakao["is_new_user"], &kakao["user"]["email"]), (&json!(true), &Value::Null), "{kakao}");
    // Google likewise.
    let claims = GoogleClaims::new("g-victim").verified_email("victim@example.com");
    let id_token = h.oauth.mint_id_token(claims);
    let (status, google) = post(s, "/api/auth/google-login", Auth::None, json!({"id_token": id_token})).await;
    assert_eq!(status, StatusCode::OK, "{google}");
    assert_ne!(google["user"]["user_id"], "mallory", "{google}");
    // Mallory's password session reaches only her own account, never the victim's.
    let (status, login) = post(
        s,
        "/api/auth/login",
        Auth::None,
        json!({"email": "victim@example.com", "password": "mallory's pw"}),
    )
    .await;
    assert_eq!((status, &login["user"]["user_id"]), (StatusCode::OK, &json!("mallory")), "{login}");
    let victim = kakao["user"]["user_id"].as_str().expect("id");
    let mallory = login["token"].as_str().expect("token");
    let (status, _) = s.call(Method::GET, &format!("/api/users/{victim}"), Auth::Bearer(mallory), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A provider's verified address that nobody claimed is the new account's, verified.
    h.oauth.kakao_user("tok-new", KakaoUser::new(7002).verified_email("fresh@example.com"));
    let (status, b) = post(s, "/api/auth/kakao-login", Auth::None, json!({"access_token": "tok-new"})).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(
        (&b["user"]["email"], &b["user"]["email_verified"]),
        (&json!("fresh@example.com"), &json!(true))
    );
    // Once the owner proves an address, a provider's verified login links to that account.
    let (status, b) =
        register(s, json!({"user_id": "owner", "email": "owner@example.com", "password": "owner's pw"}))
            .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    s.verify_email("owner@example.com").await;
    h.oauth.kakao_user("tok-owner", KakaoUser::new(7003).verified_email("owner@example.com"));
    let (status, b) =
        post(s, "/api/auth/kakao-login", Auth::None, json!({"access_token": "tok-owner"})).await;
    assert_eq!(
        (status, &b["user"]["user_id"], &b["is_new_user"]),
        (StatusCode::OK, &json!("owner"), &json!(false))
    );
}

async fn registration_needs_an_email(s: TestServer) {
    for body in [json!({}), json!({"user_id": "lonely"}), json!({"user_id": "lonely", "email": "  "})] {
        let (status, b) = register(&s, body.clone()).await;
        assert_eq!((status, b["field"].as_str()), (StatusCode::BAD_REQUEST, Some("email")), "{body}: {b}");
        assert_error_body(&b, "missing_field");
    }
    let (status, b) = register(&s, json!({"password": "long enough"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{b}");
    // Nothing was created: the id is still free.
    let (status, b) = register(&s, json!({"user_id": "lonely", "email": "lonely@example.com"})).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let (_, users) = s.call(Method::GET, "/api/admin/users", Auth::Admin, None).await;
    assert_eq!(users["users"].as_array().map(Vec::len), Some(1), "{users}");
}

// --- e-mail verification ----------------------------------------------------------------------

async fn verification_flow_end_to_end(s: TestServer) {
    let (status, b) =
        register(&s, json!({"user_id": "vera", "email": "Vera@Example.com", "password": "vera's password"}))
            .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!((&b["user"]["email_verified"], &b["verification_sent"]), (&json!(false), &json!(true)), "{b}");
    let session = b["token"].as_str().expect("token").to_owned();
    let mails = s.outbox.to("vera@example.com");
    assert_eq!(mails.len(), 1, "{mails:?}");
    let link = mails[0].link.clone().expect("link");
    assert!(link.starts_with("http://127.0.0.1:8080/api/auth/verify-email?token="), "{link}");
    assert!(mails[0].text.contains(&link), "the text carries the link");
    let token = s.outbox.last_token("vera@example.com").expect("token");
    assert!(token.len() >= 40, "a long random token");
    // The database keeps only the token's hash.
    assert!(!b.to_string().contains(&token));

    // A resend replaces the first link.
    let (status, again) = post(&s, "/api/auth/resend-verification", Auth::Bearer(&session), json!({})).await;
    assert_eq!((status, &again["verification_sent"]), (StatusCode::OK, &json!(true)), "{again}");
    let second = s.outbox.last_token("vera@example.com").expect("second token");
    assert_ne!(second, token);
    let (status, b) = post(&s, "/api/auth/verify-email", Auth::None, json!({"token": token})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a replaced token is dead: {b}");
    assert_error_body(&b, "invalid_token");

    // The clicked link (GET) verifies; the token works once.
    let path = format!("/api/auth/verify-email?token={second}");
    let (status, b) = s.call(Method::GET, &path, Auth::None, None).await;
    assert_eq!(
        (status, &b["email_verified"], &b["user_id"]),
        (StatusCode::OK, &json!(true), &json!("vera")),
        "{b}"
    );
    let (status, b) = s.call(Method::GET, &path, Auth::None, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{b}");
    assert_error_body(&b, "invalid_token");
    let (_, me) = s.call(Method::GET, "/api/users/vera", Auth::Bearer(&session), None).await;
    assert_eq!(me["user"]["email_verified"], true, "{me}");
    let (status, b) = post(&s, "/api/auth/resend-verification", Auth::Bearer(&session), json!({})).await;
    assert_eq!((status, &b["verification_sent"]), (StatusCode::OK, &json!(false)), "{b}");
    assert_eq!(s.outbox.to("vera@example.com").len(), 2, "nothing sent for a verified address");
    // An operator's change of the address makes it unproven again; other changes do not.
    let (status, b) =
        s.call(Method::PUT, "/api/admin/users/vera", Auth::Admin, Some(json!({"name": "V"}))).await;
    assert_eq!((status, &b["user"]["email_verified"]), (StatusCode::OK, &json!(true)), "{b}");
    let change = json!({"email": "vera@example.com"});
    let (_, b) = s.call(Method::PUT, "/api/admin/users/vera", Auth::Admin, Some(change)).await;
    assert_eq!(b["user"]["email_verified"], true, "the same address: {b}");
    let change = json!({"email": "vera2@example.com"});
    let (status, b) = s.call(Method::PUT, "/api/admin/users/vera", Auth::Admin, Some(change)).await;
    assert_eq!((status, &b["user"]["email_verified"]), (StatusCode::OK, &json!(false)), "{b}");
    // An operator can free an address (an unverified claim on someone else's, say).
    let change = json!({"email": null});
    let (status, b) = s.call(Method::PUT, "/api/admin/users/vera", Auth::Admin, Some(change)).await;
    assert_eq!((status, &b["user"]["email"]), (StatusCode::OK, &Value::Null), "{b}");

    // Bad tokens and the missing one.
    for body in [json!({}), json!({"token": ""}), json!({"token": "nope"}), json!({"token": "a b"})] {
        let (status, b) = post(&s, "/api/auth/verify-email", Auth::None, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {b}");
    }
    // Resending needs a session, and is rate limited per user.
    let (status, _) = post(&s, "/api/auth/resend-verification", Auth::None, json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let other = s.register("resender").await;
    for _ in 0..3 {
        let (status, b) = post(&s, "/api/auth/resend-verification", Auth::Bearer(&other), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{b}");
    }
    let bearer = format!("Bearer {other}");
    let (status, headers, b) =
        s.raw(Method::POST, "/api/auth/resend-verification", &[("authorization", bearer.as_str())], "").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{b}");
    assert_error_body(&b, "rate_limited");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(s.outbox.to("resender@example.test").len(), 4, "one at registration, three resent");
}

async fn verification_links_expire(backend: Backend) {
    let clock = Arc::new(ManualClock::new(Millis(1_700_000_000_000)));
    let c = clock.clone();
    let Some(s) =
        TestServer::start_app(backend, "verification_links_expire", &[], move |app| app.with_clock(c)).await
    else {
        return;
    };
    s.register("late").await;
    let token = s.outbox.last_token("late@example.test").expect("token");
    clock.advance(24 * 60 * 60 * 1000 + 1);
    let (status, b) = post(&s, "/api/auth/verify-email", Auth::None, json!({"token": token})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{b}");
    assert_error_body(&b, "invalid_token");
    let (_, u) = s.call(Method::GET, "/api/users/late", Auth::Admin, None).await;
    assert_eq!(u["user"]["email_verified"], false, "{u}");
}

// --- 2. registration races ------------------------------------------------------------------

async fn registration_races_answer_stable_codes(s: TestServer) {
    let s = Arc::new(s);
    for round in 0..3 {
        // Different ids, one e-mail: one account, every other answer `email_taken`.
        let racers = (0..16).map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                register(
                    &s,
                    json!({"user_id": format!("r{round}-{i}"), "email": format!("race{round}@example.com")}),
                )
                .await
            })
        });
        let answers = futures_join(racers).await;
        let won = answers.iter().filter(|(st, _)| *st == StatusCode::OK).count();
        assert_eq!(won, 1, "{answers:?}");
        for (status, b) in answers.iter().filter(|(st, _)| *st != StatusCode::OK) {
            assert_eq!(*status, StatusCode::CONFLICT, "{b}");
            assert_error_body(b, "email_taken");
        }
        // One id, different e-mails: every other answer `user_id_taken`.
        let racers = (0..16).map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                register(
                    &s,
                    json!({"user_id": format!("same{round}"), "email": format!("s{round}-{i}@example.com")}),
                )
                .await
            })
        });
        let answers = futures_join(racers).await;
        assert_eq!(answers.iter().filter(|(st, _)| *st == StatusCode::OK).count(), 1, "{answers:?}");
        for (status, b) in answers.iter().filter(|(st, _)| *st != StatusCode::OK) {
            assert_eq!(*status, StatusCode::CONFLICT, "{b}");
            assert_error_body(b, "user_id_taken");
        }
    }
}

async fn futures_join<T: Send + 'static>(tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for t in tasks.collect::<Vec<_>>() {
        out.push(t.await.expect("task"));
    }
    out
}

// --- 3. bounded password hashing ----------------------------------------------------------------

async fn parallel_unknown_logins_are_bounded(backend: Backend) {
    // A gate of one permit and a queue of four, so that a burst surely overflows it.
    let small_gate = |mut app: snspmt_http::App| {
        app.guards = Arc::new(Guards { passwords: PasswordGate::new(1, 4), ..Guards::new(None, None) });
        app
    };
    let Some(s) =
        TestServer::start_app(backend, "parallel_unknown_logins_are_bounded", &[], small_gate).await
    else {
        return;
    };
    let s = Arc::new(s);
    let logins = (0..300).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            let body = json!({"email": format!("nobody{i}@example.com"), "password": "guess guess"});
            s.raw(Method::POST, "/api/auth/login", &[("content-type", "application/json")], body.to_string())
                .await
        })
    });
    let answers = tokio::time::timeout(std::time::Duration::from_secs(120), futures_join(logins))
        .await
        .expect("the burst is answered");
    let mut overloaded = 0;
    for (status, headers, b) in &answers {
        match status.as_u16() {
            401 => assert_error_body(b, "invalid_credentials"),
            503 => {
                assert_error_body(b, "overloaded");
                assert!(headers.contains_key("retry-after"), "{headers:?}");
                overloaded += 1;
            }
            other => panic!("unexpected {other}: {b}"),
        }
    }
    assert!(overloaded > 0, "300 parallel password checks were all queued");
    // Refused attempts were not judged, so they do not count against the e-mail.
    let (status, b) =
        post(&s, "/api/auth/login", Auth::None, json!({"email": "nobody0@example.com", "password": "x"}))
            .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{b}");
}

// --- 4. the throttle in parallel --------------------------------------------------------------

async fn parallel_guesses_on_one_email_are_counted_atomically(s: TestServer) {
    let (status, b) =
        register(&s, json!({"user_id": "erin", "email": "erin@example.com", "password": "right password"}))
            .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let s = Arc::new(s);
    let guesses = (0..100).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            let body = json!({"email": "erin@example.com", "password": format!("wrong guess {i}")});
            s.raw(Method::POST, "/api/auth/login", &[("content-type", "application/json")], body.to_string())
                .await
        })
    });
    let answers = futures_join(guesses).await;
    let evaluated = answers.iter().filter(|(st, _, _)| *st == StatusCode::UNAUTHORIZED).count();
    let limited = answers.iter().filter(|(st, _, _)| *st == StatusCode::TOO_MANY_REQUESTS).count();
    assert!(evaluated <= 10, "{evaluated} guesses were evaluated");
    assert_eq!(evaluated + limited, 100, "only 401 and 429");
    for (_, headers, b) in answers.iter().filter(|(st, _, _)| *st == StatusCode::TOO_MANY_REQUESTS) {
        assert_error_body(b, "rate_limited");
        assert!(headers.contains_key("retry-after"));
    }
    // Refused guesses do not count as judged ones: sequential guesses make up the rest of the
    // ten, and not one more.
    let mut judged = evaluated;
    loop {
        let body = json!({"email": "erin@example.com", "password": "one more wrong"});
        let (status, b) = post(&s, "/api/auth/login", Auth::None, body).await;
        match status {
            StatusCode::UNAUTHORIZED => judged += 1,
            StatusCode::TOO_MANY_REQUESTS => break,
            other => panic!("{other}: {b}"),
        }
        assert!(judged <= 10, "more than ten judged");
    }
    assert_eq!(judged, 10);
    // Even the right password waits now.
    let (status, b) = post(
        &s,
        "/api/auth/login",
        Auth::None,
        json!({"email": "erin@example.com", "password": "right password"}),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{b}");
}

// --- 5. rate limits ---------------------------------------------------------------------------

async fn raw_post(s: &TestServer, path: &str, xff: Option<&str>, body: Value) -> (StatusCode, Value, bool) {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(x) = xff {
        headers.push(("x-forwarded-for", x));
    }
    let (status, h, b) = s.raw(Method::POST, path, &headers, body.to_string()).await;
    (status, b, h.contains_key("retry-after"))
}

async fn rate_limits_per_client_address(backend: Backend) {
    let vars = [("SNSPMT_REGISTER_RATE", "2/600"), ("SNSPMT_LOGIN_RATE", "3/600")];
    let Some(s) = TestServer::start_with(backend, "rate_limits_per_client_address", &vars).await else {
        return;
    };
    for i in 0..2 {
        let (status, b, _) = raw_post(
            &s,
            "/api/register",
            None,
            json!({"user_id": format!("a{i}"), "email": format!("a{i}@x.com")}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{b}");
    }
    // The peer is not a trusted proxy: its X-Forwarded-For changes nothing.
    let (status, b, retry) =
        raw_post(&s, "/api/register", Some("203.0.113.9"), json!({"user_id": "a2", "email": "a2@x.com"}))
            .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{b}");
    assert_error_body(&b, "rate_limited");
    assert!(retry, "Retry-After");
    for i in 0..3 {
        let body = json!({"email": format!("n{i}@x.com"), "password": "whatever1"});
        let (status, b, _) = raw_post(&s, "/api/auth/login", Some(&format!("198.51.100.{i}")), body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{b}");
    }
    let body = json!({"email": "a0@x.com", "password": "whatever1"});
    let (status, b, retry) = raw_post(&s, "/api/auth/login", None, body).await;
    assert_eq!((status, retry), (StatusCode::TOO_MANY_REQUESTS, true), "{b}");
    assert_error_body(&b, "rate_limited");
}

async fn rate_limits_behind_a_trusted_proxy(backend: Backend) {
    let vars = [
        ("SNSPMT_REGISTER_RATE", "2/600"),
        ("SNSPMT_LOGIN_RATE", "3/600"),
        ("SNSPMT_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1"),
    ];
    let Some(s) = TestServer::start_with(backend, "rate_limits_behind_a_trusted_proxy", &vars).await else {
        return;
    };
    let reg = |i: usize| json!({"user_id": format!("p{i}"), "email": format!("p{i}@x.com")});
    // Per client address, as the proxy reports it (the right-most untrusted hop).
    assert_eq!(raw_post(&s, "/api/register", Some("203.0.113.1"), reg(0)).await.0, StatusCode::OK);
    assert_eq!(
        raw_post(&s, "/api/register", Some("198.51.100.7, 203.0.113.1"), reg(1)).await.0,
        StatusCode::OK
    );
    let (status, b, retry) = raw_post(&s, "/api/register", Some("203.0.113.1, 10.1.2.3"), reg(2)).await;
    assert_eq!((status, retry), (StatusCode::TOO_MANY_REQUESTS, true), "{b}");
    // Another client behind the same proxy is not affected.
    assert_eq!(raw_post(&s, "/api/register", Some("203.0.113.2"), reg(3)).await.0, StatusCode::OK);
    // Per account: guesses at one e-mail from ever new addresses still run out.
    for i in 0..3 {
        let body = json!({"email": "p0@x.com", "password": "not it at all"});
        let (status, b, _) = raw_post(&s, "/api/auth/login", Some(&format!("192.0.2.{i}")), body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{b}");
    }
    let body = json!({"email": "p0@x.com", "password": "not it at all"});
    let (status, b, retry) = raw_post(&s, "/api/auth/login", Some("192.0.2.200"), body).await;
    assert_eq!((status, retry), (StatusCode::TOO_MANY_REQUESTS, true), "{b}");
    assert_error_body(&b, "rate_limited");
    // And another e-mail from a fresh address is fine.
    let body = json!({"email": "p1@x.com", "password": "not it at all"});
    assert_eq!(raw_post(&s, "/api/auth/login", Some("192.0.2.201"), body).await.0, StatusCode::UNAUTHORIZED);
}
