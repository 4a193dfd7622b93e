//! The answers of the account, admin, referral, coupon, API key, notice, blog, social-login,
//! upload and system routes are what the OpenAPI document says, on SQLite and PostgreSQL:
//! each answer validates against its route's schema made strict (every documented required
//! key present, no key left undocumented, every value of its documented type). Also: the
//! typed queries keep their checks (limits, enums, ranges).

mod common;

use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{json, Map, Value};

use common::fake_oauth::KakaoUser;
use common::openapi::Document;
use common::{assert_error_body, Auth, Backend, Harness, OauthHarness, TestServer};

/// Calls `method path` and checks a 200 answer against the route `pattern`.
async fn documented(
    d: &Document,
    s: &TestServer,
    method: Method,
    path: &str,
    pattern: &str,
    auth: Auth<'_>,
    body: Option<Value>,
) -> Value {
    let (status, answer) = s.call(method.clone(), path, auth, body).await;
    assert_eq!(status, StatusCode::OK, "{method} {path}: {answer}");
    d.check_success(method.as_str(), pattern, &answer);
    answer
}

fn object(v: &Value) -> &Map<String, Value> {
    v.as_object().unwrap_or_else(|| panic!("an object: {v}"))
}

async fn accounts_admin_and_system(s: &TestServer) {
    let d = Document::new();
    let get = Method::GET;
    let post = Method::POST;
    let put = Method::PUT;

    for path in ["/api/health", "/health"] {
        let h = documented(&d, s, get.clone(), path, path, Auth::None, None).await;
        assert_eq!(h, json!({"status": "ok", "database": "ok"}));
    }
    let c = documented(&d, s, get.clone(), "/api/config", "/api/config", Auth::None, None).await;
    assert_eq!(object(&c).len(), 3, "{c}");
    let st =
        documented(&d, s, get.clone(), "/api/deployment-status", "/api/deployment-status", Auth::None, None)
            .await;
    assert!(st["schema_version"].as_i64().is_some_and(|v| v > 0), "{st}");

    // Accounts.
    let r = documented(
        &d,
        s,
        post.clone(),
        "/api/register",
        "/api/register",
        Auth::None,
        Some(json!({"user_id": "alice", "email": "alice@example.com", "password": "correct-horse-9"})),
    )
    .await;
    assert_eq!((r["user"]["user_id"].as_str(), r["user"]["points"].as_i64()), (Some("alice"), Some(0)));
    let login = documented(
        &d,
        s,
        post.clone(),
        "/api/auth/login",
        "/api/auth/login",
        Auth::None,
        Some(json!({"email": "alice@example.com", "password": "correct-horse-9"})),
    )
    .await;
    let alice = login["token"].as_str().expect("token").to_owned();
    let resent = documented(
        &d,
        s,
        post.clone(),
        "/api/auth/resend-verification",
        "/api/auth/resend-verification",
        Auth::Bearer(&alice),
        None,
    )
    .await;
    assert_eq!(resent["email_verified"], false);
    let token = s.outbox.last_token("alice@example.com").expect("a verification mail");
    let v = documented(
        &d,
        s,
        get.clone(),
        &format!("/api/auth/verify-email?token={token}"),
        "/api/auth/verify-email",
        Auth::None,
        None,
    )
    .await;
    assert_eq!(v["email_verified"], true);
    let u = documented(
        &d,
        s,
        get.clone(),
        "/api/users/alice",
        "/api/users/{user_id}",
        Auth::Bearer(&alice),
        None,
    )
    .await;
    assert_eq!(u["user"]["email_verified"], true);

    // Admin.
    let bob = s.register("bob").await;
    let updated = documented(
        &d,
        s,
        put.clone(),
        "/api/admin/users/bob",
        "/api/admin/users/{user_id}",
        Auth::Admin,
        Some(json!({"points_adjustment": 100_000, "reason": "test", "display_name": "Bob"})),
    )
    .await;
    assert_eq!(updated["user"]["points"], 100_000);
    let users = documented(
        &d,
        s,
        get.clone(),
        "/api/admin/users?search=bo&limit=1",
        "/api/admin/users",
        Auth::Admin,
        None,
    )
    .await;
    assert_eq!((users["total"].as_i64(), users["limit"].as_i64()), (Some(1), Some(1)), "{users}");
    let t = documented(
        &d,
        s,
        get.clone(),
        "/api/admin/transactions?kind=admin_adjust&limit=500",
        "/api/admin/transactions",
        Auth::Admin,
        None,
    )
    .await;
    assert_eq!((t["total"].as_i64(), t["limit"].as_i64()), (Some(1), Some(200)), "a limit is capped: {t}");
    assert_eq!(t["transactions"][0]["kind"], "admin_adjust");
    let a = documented(&d, s, get.clone(), "/api/admin/audit-log", "/api/admin/audit-log", Auth::Admin, None)
        .await;
    assert_eq!(a["entries"][0]["detail"]["display_name"], "Bob", "the detail is JSON: {a}");
    documented(&d, s, get.clone(), "/api/admin/stats", "/api/admin/stats", Auth::Admin, None).await;
    let m = documented(
        &d,
        s,
        post.clone(),
        "/api/admin/migrate-database",
        "/api/admin/migrate-database",
        Auth::Admin,
        None,
    )
    .await;
    assert_eq!(m["applied"], json!([]), "{m}");

    // The typed queries keep their checks.
    assert!(d.query_names("GET", "/api/admin/transactions").contains(&"kind".to_owned()));
    for (path, field) in [
        ("/api/admin/transactions?kind=bonus", "kind"),
        ("/api/admin/transactions?limit=0", "limit"),
        ("/api/admin/users?offset=-1", "offset"),
        ("/api/admin/withdrawal-requests?status=paid", "status"),
        ("/api/admin/audit-log?limit=x", "limit"),
    ] {
        let (status, e) = s.call(get.clone(), path, Auth::Admin, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {e}");
        assert_error_body(&e, "invalid_query");
        assert_eq!(e["field"], field, "{path}: {e}");
    }

    // API keys.
    let k = documented(
        &d,
        s,
        post.clone(),
        "/api/user/api-keys",
        "/api/user/api-keys",
        Auth::Bearer(&bob),
        Some(json!({"name": "shop"})),
    )
    .await;
    let key_id = k["api_key"]["id"].as_str().expect("id").to_owned();
    assert!(k["key"].as_str().is_some_and(|k| k.starts_with("snsp_")), "{k}");
    let listed =
        documented(&d, s, get.clone(), "/api/user/api-keys", "/api/user/api-keys", Auth::Bearer(&bob), None)
            .await;
    assert_eq!(listed["api_keys"][0]["last_used_at"], Value::Null);
    documented(
        &d,
        s,
        post.clone(),
        &format!("/api/user/api-keys/{key_id}/rotate"),
        "/api/user/api-keys/{id}/rotate",
        Auth::Bearer(&bob),
        None,
    )
    .await;
    documented(
        &d,
        s,
        Method::DELETE,
        &format!("/api/admin/api-keys/{key_id}"),
        "/api/admin/api-keys/{id}",
        Auth::Admin,
        None,
    )
    .await;
    let second =
        documented(&d, s, post.clone(), "/api/user/api-keys", "/api/user/api-keys", Auth::Bearer(&bob), None)
            .await;
    let second = second["api_key"]["id"].as_str().expect("id").to_owned();
    documented(
        &d,
        s,
        Method::DELETE,
        &format!("/api/user/api-keys/{second}"),
        "/api/user/api-keys/{id}",
        Auth::Bearer(&bob),
        None,
    )
    .await;

    documented(
        &d,
        s,
        put,
        "/api/admin/users/bob/api-access",
        "/api/admin/users/{user_id}/api-access",
        Auth::Admin,
        Some(json!({"enabled": false})),
    )
    .await;
    documented(&d, s, post, "/api/auth/logout", "/api/auth/logout", Auth::Bearer(&alice), None).await;
}

/// Waits until the panel accepted order `id`, has the panel complete it, and syncs.
async fn completed(h: &Harness, id: i64) {
    let s = &h.server;
    for _ in 0..200 {
        let o = s.admin_order(id).await;
        if o["status"] == "in_progress" {
            let upstream = o["smm_panel_order_id"].as_str().and_then(|v| v.parse().ok()).expect("panel id");
            h.smm.set_status(upstream, "Completed", 0);
            let cron = [("x-cron-token", common::CRON_TOKEN)];
            let (status, _, b) = s.raw(Method::POST, "/api/cron/sync-order-status", &cron, "").await;
            assert_eq!(status, StatusCode::OK, "{b}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("order {id} was never accepted: {}", s.admin_order(id).await);
}

async fn referral_and_coupons(h: &Harness) {
    let s = &h.server;
    let d = Document::new();
    let get = Method::GET;
    let post = Method::POST;
    let svc = s.create_service("1", 1000, json!({})).await;
    let carol = s.customer("carol", 0).await;
    let dave = s.customer("dave", 100_000).await;
    let reg = documented(
        &d,
        s,
        post.clone(),
        "/api/admin/referral/register",
        "/api/admin/referral/register",
        Auth::Admin,
        Some(json!({"user_id": "carol"})),
    )
    .await;
    let code = reg["code"].as_str().expect("code").to_owned();
    assert_eq!(reg["referralCode"], reg["code"]);
    let valid = documented(
        &d,
        s,
        get.clone(),
        &format!("/api/referral/validate-code?code={code}"),
        "/api/referral/validate-code",
        Auth::None,
        None,
    )
    .await;
    assert_eq!(valid, json!({"valid": true}));
    let used = documented(
        &d,
        s,
        post.clone(),
        "/api/referral/use-code",
        "/api/referral/use-code",
        Auth::Bearer(&dave),
        Some(json!({"code": code})),
    )
    .await;
    let coupon_id = used["coupon"]["id"].as_i64().expect("id");
    documented(
        &d,
        s,
        post.clone(),
        "/api/referral/issue-coupon",
        "/api/referral/issue-coupon",
        Auth::Bearer(&dave),
        Some(json!({"referral_code": code})),
    )
    .await;

    // An order with the referral coupon, completed: a confirmed commission of 950.
    let body = json!({"service_id": svc, "link": "https://instagram.com/dave", "quantity": 10_000, "coupon_id": coupon_id});
    let (status, placed) = s.call(post.clone(), "/api/orders", Auth::Bearer(&dave), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{placed}");
    let id = placed["order_id"].as_i64().expect("order id");
    completed(h, id).await;

    let c = documented(
        &d,
        s,
        get.clone(),
        "/api/referral/commissions",
        "/api/referral/commissions",
        Auth::Bearer(&carol),
        None,
    )
    .await;
    assert_eq!(
        (c["commissions"][0]["status"].as_str(), c["commissions"][0]["commissionRate"].as_f64()),
        (Some("confirmed"), Some(0.1))
    );
    for (path, pattern) in [
        ("/api/referral/my-codes", "/api/referral/my-codes"),
        ("/api/referral/commission-points", "/api/referral/commission-points"),
        ("/api/referral/commission-transactions?limit=5", "/api/referral/commission-transactions"),
        ("/api/referral/stats", "/api/referral/stats"),
        ("/api/referral/referrals", "/api/referral/referrals"),
    ] {
        documented(&d, s, get.clone(), path, pattern, Auth::Bearer(&carol), None).await;
    }
    let referrals = documented(
        &d,
        s,
        get.clone(),
        "/api/referral/referrals",
        "/api/referral/referrals",
        Auth::Bearer(&carol),
        None,
    )
    .await;
    assert_eq!(referrals["referrals"][0]["status"], "active");

    // A withdrawal, decided; a manual payout of the rest.
    let (status, w) = s
        .call(
            post.clone(),
            "/api/referral/withdrawal-request",
            Auth::Bearer(&carol),
            Some(json!({"amount": 1000, "bank_name": "국민은행", "account_number": "1", "account_holder": "A"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "950 is below the minimum: {w}");
    assert_error_body(&w, "insufficient_commission");
    // At 50 % the next order earns 5,000.
    let rate = documented(
        &d,
        s,
        Method::PUT,
        "/api/admin/referral/update-commission-rate",
        "/api/admin/referral/update-commission-rate",
        Auth::Admin,
        Some(json!({"user_id": "carol", "commission_rate_bps": 5000})),
    )
    .await;
    assert_eq!(rate["commission_rate_bps"], 5000);
    let (status, placed) = s
        .call(
            post.clone(),
            "/api/orders",
            Auth::Bearer(&dave),
            Some(json!({"service_id": svc, "link": "https://instagram.com/dave", "quantity": 10_000})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{placed}");
    let id = placed["order_id"].as_i64().expect("order id");
    completed(h, id).await;
    let bearer = format!("Bearer {carol}");
    let request =
        json!({"amount": 2000, "bank_name": "국민은행", "account_number": "1", "account_holder": "A"});
    let headers = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
        ("idempotency-key", "w-1"),
    ];
    let (status, first_headers, first) =
        s.raw(post.clone(), "/api/referral/withdrawal-request", &headers, request.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert!(first_headers.get("idempotent-replayed").is_none());
    d.check_success("POST", "/api/referral/withdrawal-request", &first);
    let (status, again_headers, again) =
        s.raw(post.clone(), "/api/referral/withdrawal-request", &headers, request.to_string()).await;
    assert_eq!((status, &again), (StatusCode::OK, &first), "a replay answers the same");
    assert_eq!(again_headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    let requests = documented(
        &d,
        s,
        get.clone(),
        "/api/admin/withdrawal-requests?status=requested",
        "/api/admin/withdrawal-requests",
        Auth::Admin,
        None,
    )
    .await;
    assert_eq!(requests["total"], 1, "{requests}");
    let decided = documented(
        &d,
        s,
        post.clone(),
        "/api/admin/process-withdrawal",
        "/api/admin/process-withdrawal",
        Auth::Admin,
        Some(json!({"request_id": first["request_id"].to_string(), "action": "approve"})),
    )
    .await;
    assert_eq!(
        (decided["status"].as_str(), decided["request"]["status"].as_str()),
        (Some("approved"), Some("approved"))
    );
    let paid = documented(
        &d,
        s,
        post.clone(),
        "/api/admin/referral/pay-commission",
        "/api/admin/referral/pay-commission",
        Auth::Admin,
        Some(json!({"email": "carol@example.test", "amount": 100})),
    )
    .await;
    assert_eq!(paid["payout"]["kind"], "manual");
    for (path, pattern, total) in [
        ("/api/admin/referral/list?referrer_user_id=carol", "/api/admin/referral/list", 1),
        ("/api/admin/referral/codes", "/api/admin/referral/codes", 1),
        ("/api/admin/referral/commission-overview", "/api/admin/referral/commission-overview", 1),
        ("/api/admin/referral/payment-history?user_id=carol", "/api/admin/referral/payment-history", 2),
    ] {
        let page = documented(&d, s, get.clone(), path, pattern, Auth::Admin, None).await;
        assert_eq!(page["total"], total, "{path}: {page}");
    }

    // Coupons.
    let created = documented(
        &d,
        s,
        post.clone(),
        "/api/admin/coupons",
        "/api/admin/coupons",
        Auth::Admin,
        Some(json!({"code": "WELCOME", "discount_type": "fixed", "discount_value": 500, "max_uses": 10})),
    )
    .await;
    let cid = created["coupon"]["id"].as_i64().expect("id");
    let one = format!("/api/admin/coupons/{cid}");
    documented(&d, s, get.clone(), &one, "/api/admin/coupons/{id}", Auth::Admin, None).await;
    documented(
        &d,
        s,
        Method::PUT,
        &one,
        "/api/admin/coupons/{id}",
        Auth::Admin,
        Some(json!({"valid_until": null, "name": "환영"})),
    )
    .await;
    documented(&d, s, get.clone(), "/api/admin/coupons", "/api/admin/coupons", Auth::Admin, None).await;
    documented(
        &d,
        s,
        post.clone(),
        "/api/user/coupons/add-by-code",
        "/api/user/coupons/add-by-code",
        Auth::Bearer(&dave),
        Some(json!({"coupon_code": "welcome"})),
    )
    .await;
    let mine =
        documented(&d, s, get.clone(), "/api/user/coupons", "/api/user/coupons", Auth::Bearer(&dave), None)
            .await;
    assert_eq!(mine["total"], 2, "{mine}");
    let (status, e) = s
        .call(
            post,
            "/api/admin/coupons",
            Auth::Admin,
            Some(json!({"code": "X1", "discount_type": "half", "discount_value": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_body(&e, "invalid_discount_type");
    let gone = documented(&d, s, Method::DELETE, &one, "/api/admin/coupons/{id}", Auth::Admin, None).await;
    assert_eq!(gone["coupon"]["is_active"], false);
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82";

async fn content_social_and_uploads(h: &OauthHarness) {
    let s = &h.server;
    let d = Document::new();
    let get = Method::GET;
    let post = Method::POST;

    // Notices.
    let n = documented(
        &d,
        s,
        post.clone(),
        "/api/admin/notices",
        "/api/admin/notices",
        Auth::Admin,
        Some(json!({"title": "공지", "content": "내용", "popup_type": "login", "ends_at": null})),
    )
    .await;
    let nid = n["notice"]["id"].as_i64().expect("id");
    let one = format!("/api/admin/notices/{nid}");
    documented(&d, s, get.clone(), &one, "/api/admin/notices/{id}", Auth::Admin, None).await;
    documented(
        &d,
        s,
        Method::PUT,
        &one,
        "/api/admin/notices/{id}",
        Auth::Admin,
        Some(json!({"image_url": "/uploads/a.png"})),
    )
    .await;
    documented(&d, s, get.clone(), "/api/admin/notices", "/api/admin/notices", Auth::Admin, None).await;
    let active =
        documented(&d, s, get.clone(), "/api/notices/active", "/api/notices/active", Auth::None, None).await;
    assert_eq!(active["notices"][0]["image_url"], "/uploads/a.png");
    documented(&d, s, Method::DELETE, &one, "/api/admin/notices/{id}", Auth::Admin, None).await;

    // The blog.
    let p = documented(
        &d,
        s,
        post.clone(),
        "/api/blog/posts",
        "/api/blog/posts",
        Auth::Admin,
        Some(json!({"title": "글", "content": "<p>본문<script>x</script></p>", "tags": "a, b", "is_published": true, "category": "소식"})),
    )
    .await;
    assert_eq!(p["post"]["tags"], json!(["a", "b"]));
    let pid = p["post"]["id"].as_i64().expect("id");
    let one = format!("/api/blog/posts/{pid}");
    documented(
        &d,
        s,
        Method::PUT,
        &one,
        "/api/blog/posts/{id}",
        Auth::Admin,
        Some(json!({"tags": ["c"], "thumbnail_url": null})),
    )
    .await;
    let read = documented(&d, s, get.clone(), &one, "/api/blog/posts/{id}", Auth::None, None).await;
    assert!(!read["post"]["content"].as_str().unwrap_or_default().contains("script"), "{read}");
    let list = documented(
        &d,
        s,
        get.clone(),
        "/api/blog/posts?page=1&limit=5&tag=c",
        "/api/blog/posts",
        Auth::None,
        None,
    )
    .await;
    assert_eq!(list["pagination"], json!({"page": 1, "limit": 5, "total": 1, "pages": 1}));
    documented(&d, s, get.clone(), "/api/admin/blog/posts", "/api/admin/blog/posts", Auth::Admin, None).await;
    let cats =
        documented(&d, s, get.clone(), "/api/blog/categories", "/api/blog/categories", Auth::None, None)
            .await;
    assert_eq!(cats["categories"], json!([{"name": "소식", "count": 1}]));
    documented(&d, s, get.clone(), "/api/blog/tags", "/api/blog/tags", Auth::None, None).await;
    for (path, field) in [("/api/blog/posts?page=0", "page"), ("/api/blog/posts?limit=101", "limit")] {
        let (status, e) = s.call(get.clone(), path, Auth::None, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {e}");
        assert_error_body(&e, "invalid_query");
        assert_eq!(e["field"], field);
    }
    documented(&d, s, Method::DELETE, &one, "/api/blog/posts/{id}", Auth::Admin, None).await;

    // Uploads: the answer of a stored image.
    let mut form = b"--BOUNDARY\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\
        Content-Type: image/png\r\n\r\n"
        .to_vec();
    form.extend_from_slice(PNG);
    form.extend_from_slice(b"\r\n--BOUNDARY--\r\n");
    let headers =
        [("content-type", "multipart/form-data; boundary=BOUNDARY"), ("x-admin-token", common::ADMIN_TOKEN)];
    let (status, _, up) = s.raw(post.clone(), "/api/admin/upload-image", &headers, form).await;
    assert_eq!(status, StatusCode::OK, "{up}");
    d.check_success("POST", "/api/admin/upload-image", &up);
    assert_eq!(up["size"].as_u64(), Some(PNG.len() as u64));

    // Social logins.
    h.oauth.kakao_user("tok-a", KakaoUser::new(7));
    let k = documented(
        &d,
        s,
        post,
        "/api/auth/kakao-login",
        "/api/auth/kakao-login",
        Auth::None,
        Some(json!({"access_token": "tok-a"})),
    )
    .await;
    assert_eq!((k["provider"].as_str(), k["is_new_user"].as_bool()), (Some("kakao"), Some(true)));
    let g =
        documented(&d, s, get, "/api/auth/google-state", "/api/auth/google-state", Auth::None, None).await;
    assert_eq!(g["expires_in"], 600);
}

async fn with_smm(backend: Backend, test: &str) {
    let Some(h) = Harness::start(backend, test).await else { return };
    accounts_admin_and_system(&h.server).await;
    referral_and_coupons(&h).await;
}

async fn with_oauth(backend: Backend, test: &str) {
    let Some(h) = OauthHarness::start(backend, test).await else { return };
    content_social_and_uploads(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_accounts_referral_and_coupons_answer_as_documented() {
    with_smm(Backend::Sqlite, "documented_accounts").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_accounts_referral_and_coupons_answer_as_documented() {
    with_smm(Backend::Postgres, "documented_accounts").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_content_social_and_uploads_answer_as_documented() {
    with_oauth(Backend::Sqlite, "documented_content").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_content_social_and_uploads_answer_as_documented() {
    with_oauth(Backend::Postgres, "documented_content").await;
}

#[test]
fn the_check_refuses_an_undocumented_key_a_missing_key_and_a_wrong_type() {
    let d = Document::new();
    d.check_success("GET", "/api/health", &json!({"status": "ok", "database": "ok"}));
    for wrong in [
        json!({"status": "ok", "database": "ok", "extra": 1}),
        json!({"status": "ok"}),
        json!({"status": "ok", "database": 1}),
    ] {
        let refused = std::panic::catch_unwind(|| d.check_success("GET", "/api/health", &wrong));
        assert!(refused.is_err(), "{wrong} passed");
    }
    let user = json!({"user": {"user_id": "u", "email": null, "name": "n", "display_name": "n",
        "is_admin": false, "points": 1, "has_password": false, "email_verified": false,
        "created_at": "2024-01-01T00:00:00Z", "displayName": "n", "username": "n", "balance": 1,
        "referral_code": null, "is_active": true}});
    d.check_success("GET", "/api/users/{user_id}", &user);
    let mut nested = user.clone();
    nested["user"]["points"] = json!("1");
    let refused = std::panic::catch_unwind(|| d.check_success("GET", "/api/users/{user_id}", &nested));
    assert!(refused.is_err(), "a nested wrong type passed");
}
