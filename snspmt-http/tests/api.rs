//! The foundation's HTTP API against the real server, on SQLite and PostgreSQL.

mod common;

use hyper::{Method, StatusCode};
use serde_json::json;

use common::{assert_error_body, Auth, TestServer};

on_both_backends!(
    user_endpoints_need_a_session,
    admin_endpoints_need_the_admin,
    another_users_id_is_forbidden,
    register_login_logout,
    login_is_throttled,
    bad_input_changes_nothing,
    deduct_is_idempotent,
    admin_adjustments_go_through_the_ledger,
    public_endpoints_show_no_secrets,
    unknown_routes_and_methods,
);

async fn user_endpoints_need_a_session(s: TestServer) {
    let cases: &[(Method, &str)] = &[
        (Method::GET, "/api/points"),
        (Method::POST, "/api/points/deduct"),
        (Method::POST, "/api/auth/logout"),
        (Method::GET, "/api/users/someone"),
    ];
    for (m, path) in cases {
        for auth in [Auth::None, Auth::Bearer("not-a-session")] {
            let (status, body) = s.call(m.clone(), path, auth, Some(json!({"amount": 1}))).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{m} {path}");
            assert_error_body(&body, "unauthorized");
        }
    }
    let (status, _, _) = s.raw(Method::GET, "/api/points", &[("authorization", "Basic abc")], "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn admin_endpoints_need_the_admin(s: TestServer) {
    let token = s.register("plain").await;
    let cases: &[(Method, &str)] = &[
        (Method::GET, "/api/admin/users"),
        (Method::PUT, "/api/admin/users/plain"),
        (Method::GET, "/api/admin/transactions"),
        (Method::POST, "/api/admin/migrate-database"),
        (Method::GET, "/api/admin/audit-log"),
    ];
    let body = json!({"points_adjustment": 100, "reason": "x"}).to_string();
    for (m, path) in cases {
        for headers in [vec![], vec![("x-admin-token", "wrong-token")], vec![("x-admin-token", "")]] {
            let (status, _, b) = s.raw(m.clone(), path, &headers, body.clone()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{m} {path} {headers:?}");
            assert_error_body(&b, "unauthorized");
        }
        let (status, b) = s.call(m.clone(), path, Auth::Bearer(&token), Some(json!({}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{m} {path} as a plain user");
        assert_error_body(&b, "forbidden");
    }
    // The published default token of the original is not an admin token here.
    let (status, _, _) =
        s.raw(Method::GET, "/api/admin/users", &[("x-admin-token", "admin_sociality_2024")], "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(s.points(&token).await, 0, "nothing was credited");
    // An admin user (made admin by the admin) may use the admin API with a bearer session.
    let (status, _) =
        s.call(Method::PUT, "/api/admin/users/plain", Auth::Admin, Some(json!({"is_admin": true}))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = s.call(Method::GET, "/api/admin/users", Auth::Bearer(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 1);
}

async fn another_users_id_is_forbidden(s: TestServer) {
    let alice = s.register("alice").await;
    let _bob = s.register("bob").await;
    assert_eq!(s.adjust("bob", 500).await.0, StatusCode::OK);
    let cases: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, "/api/points?user_id=bob".into(), None),
        (Method::POST, "/api/points/deduct".into(), Some(json!({"user_id": "bob", "amount": 100}))),
        (Method::GET, "/api/users/bob".into(), None),
    ];
    for (m, path, body) in cases {
        let (status, b) = s.call(m.clone(), &path, Auth::Bearer(&alice), body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{m} {path}");
        assert_error_body(&b, "forbidden");
    }
    let (status, b) = s.call(Method::GET, "/api/users/bob", Auth::Admin, None).await;
    assert_eq!((status, b["user"]["points"].as_i64()), (StatusCode::OK, Some(500)), "the admin may read bob");
    // Alice's own id works, and bob still has all his points.
    let (status, b) = s.call(Method::GET, "/api/points?user_id=alice", Auth::Bearer(&alice), None).await;
    assert_eq!((status, b["points"].as_i64()), (StatusCode::OK, Some(0)));
    let (status, b) = s.call(Method::GET, "/api/users/alice", Auth::Bearer(&alice), None).await;
    assert_eq!((status, b["user"]["user_id"].as_str()), (StatusCode::OK, Some("alice")));
    let (_, b) = s.call(Method::GET, "/api/users/bob", Auth::Admin, None).await;
    assert_eq!(b["user"]["points"], 500);
}

async fn register_login_logout(s: TestServer) {
    let register = json!({"user_id": "carol", "email": "Carol@Example.com", "password": "correct horse", "name": "캐롤"});
    let (status, body) = s.call(Method::POST, "/api/register", Auth::None, Some(register)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["email"], "carol@example.com");
    assert!(body.to_string().find("correct horse").is_none(), "the password is never returned");
    assert!(body["user"].get("password_hash").is_none());
    let first = body["token"].as_str().expect("token").to_owned();

    for dup in [
        json!({"user_id": "carol", "email": "carol3@example.com"}),
        json!({"user_id": "carol2", "email": "CAROL@example.com"}),
    ] {
        let (status, b) = s.call(Method::POST, "/api/register", Auth::None, Some(dup)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{b}");
    }
    let (status, b) = s
        .call(
            Method::POST,
            "/api/register",
            Auth::None,
            Some(json!({"user_id": "dave", "email": "d@x.com", "password": "short"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_body(&b, "weak_password");

    let login = |pw: &str| json!({"email": "carol@EXAMPLE.com", "password": pw});
    let (status, b) = s.call(Method::POST, "/api/auth/login", Auth::None, Some(login("wrong horse"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error_body(&b, "invalid_credentials");
    let (status, b) = s.call(Method::POST, "/api/auth/login", Auth::None, Some(login("correct horse"))).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["user"]["user_id"], "carol");
    let second = b["token"].as_str().expect("token").to_owned();
    assert_ne!(first, second);

    let (status, _) = s.call(Method::POST, "/api/auth/logout", Auth::Bearer(&second), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = s.call(Method::GET, "/api/points", Auth::Bearer(&second), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a logged-out token is dead");
    assert_eq!(s.points(&first).await, 0, "the other session lives on");

    // A user registered without a password cannot log in with one.
    let (status, _) = s
        .call(
            Method::POST,
            "/api/register",
            Auth::None,
            Some(json!({"user_id": "social", "email": "s@x.com"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = s
        .call(
            Method::POST,
            "/api/auth/login",
            Auth::None,
            Some(json!({"email": "s@x.com", "password": "anything1"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn login_is_throttled(s: TestServer) {
    let reg = json!({"user_id": "erin", "email": "erin@x.com", "password": "right password"});
    assert_eq!(s.call(Method::POST, "/api/register", Auth::None, Some(reg)).await.0, StatusCode::OK);
    for _ in 0..10 {
        let bad = json!({"email": "erin@x.com", "password": "wrong password"});
        assert_eq!(
            s.call(Method::POST, "/api/auth/login", Auth::None, Some(bad)).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let good = json!({"email": "ERIN@x.com", "password": "right password"});
    let (status, b) = s.call(Method::POST, "/api/auth/login", Auth::None, Some(good)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "even the right password waits");
    assert_error_body(&b, "rate_limited");
    // Another e-mail is not affected.
    let other = json!({"email": "frank@x.com", "password": "whatever1"});
    assert_eq!(
        s.call(Method::POST, "/api/auth/login", Auth::None, Some(other)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

async fn bad_input_changes_nothing(s: TestServer) {
    let token = s.register("gina").await;
    assert_eq!(s.adjust("gina", 1000).await.0, StatusCode::OK);
    let bearer = format!("Bearer {token}");
    let auth = [("authorization", bearer.as_str()), ("content-type", "application/json")];
    let bodies: Vec<(&str, Vec<u8>, u16)> = vec![
        ("wrong type", br#"{"amount": "100"}"#.to_vec(), 400),
        ("float", br#"{"amount": 10.5}"#.to_vec(), 400),
        ("missing", br#"{"description": "x"}"#.to_vec(), 400),
        ("negative", br#"{"amount": -100}"#.to_vec(), 400),
        ("zero", br#"{"amount": 0}"#.to_vec(), 400),
        ("huge", br#"{"amount": 100000000000}"#.to_vec(), 400),
        ("beyond i64", br#"{"amount": 1e300}"#.to_vec(), 400),
        ("more than i64", br#"{"amount": 99999999999999999999999}"#.to_vec(), 400),
        ("not json", b"amount=100".to_vec(), 400),
        ("array", b"[100]".to_vec(), 400),
        ("null", b"null".to_vec(), 400),
        ("invalid utf-8", b"{\"amount\": 1, \"description\": \"\xff\xfe\"}".to_vec(), 400),
        ("too much", br#"{"amount": 1001}"#.to_vec(), 400),
    ];
    for (what, body, want) in bodies {
        let (status, _, b) = s.raw(Method::POST, "/api/points/deduct", &auth, body).await;
        assert_eq!(status.as_u16(), want, "{what}: {b}");
        assert!(b["code"].is_string() && b["error"].is_string() && b["message"].is_string(), "{what}: {b}");
    }
    assert_eq!(s.oversized("/api/points/deduct", 2 * 1024 * 1024, &auth).await, 413, "a 2 MiB body");
    let (status, _, b) =
        s.raw(Method::POST, "/api/points/deduct", &auth, br#"{"amount": 1001}"#.to_vec()).await;
    assert_eq!((status, b["code"].as_str()), (StatusCode::BAD_REQUEST, Some("insufficient_points")));
    let (status, _, b) =
        s.raw(Method::POST, "/api/register", &[], br#"{"user_id": "bad id!"}"#.to_vec()).await;
    assert_eq!(
        (status, b["code"].as_str(), b["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_user_id"), Some("user_id"))
    );
    let (status, _, b) = s.raw(Method::POST, "/api/register", &[], br#"{"user_id": 5}"#.to_vec()).await;
    assert_eq!((status, b["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_type")));
    let (status, _, b) =
        s.raw(Method::GET, "/api/admin/users?limit=abc", &[("x-admin-token", common::ADMIN_TOKEN)], "").await;
    assert_eq!((status, b["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")));
    let (status, _, b) = s
        .raw(Method::GET, "/api/admin/transactions?kind=bogus", &[("x-admin-token", common::ADMIN_TOKEN)], "")
        .await;
    assert_eq!((status, b["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")));
    let bad_key = [("authorization", bearer.as_str()), ("idempotency-key", "")];
    let (status, _, b) =
        s.raw(Method::POST, "/api/points/deduct", &bad_key, br#"{"amount": 1}"#.to_vec()).await;
    assert_eq!((status, b["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_idempotency_key")));

    assert_eq!(s.points(&token).await, 1000, "no bad request moved a point");
    let (_, ledger) = s.call(Method::GET, "/api/admin/transactions?user_id=gina", Auth::Admin, None).await;
    assert_eq!(ledger["total"], 1, "only the credit is in the ledger");
    s.assert_ledger_consistent().await;
}

async fn deduct_is_idempotent(s: TestServer) {
    let token = s.register("hank").await;
    assert_eq!(s.adjust("hank", 1000).await.0, StatusCode::OK);
    let bearer = format!("Bearer {token}");
    let with_key = [("authorization", bearer.as_str()), ("idempotency-key", "order-1")];
    let body = br#"{"amount": 300, "description": "first"}"#.to_vec();
    let (s1, h1, b1) = s.raw(Method::POST, "/api/points/deduct", &with_key, body.clone()).await;
    assert_eq!((s1, b1["points"].as_i64()), (StatusCode::OK, Some(700)), "{b1}");
    assert!(h1.get("idempotent-replayed").is_none());
    let (s2, h2, b2) = s.raw(Method::POST, "/api/points/deduct", &with_key, body).await;
    assert_eq!(s2, StatusCode::OK);
    assert_eq!(b2, b1, "the replay is the first answer");
    assert_eq!(h2.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    let other = br#"{"amount": 301, "description": "first"}"#.to_vec();
    let (s3, _, b3) = s.raw(Method::POST, "/api/points/deduct", &with_key, other).await;
    assert_eq!(s3, StatusCode::CONFLICT);
    assert_error_body(&b3, "idempotency_key_reused");
    assert_eq!(s.points(&token).await, 700, "charged once");
    // Without a key, each request is its own.
    for _ in 0..2 {
        let (st, _) = s
            .call(Method::POST, "/api/points/deduct", Auth::Bearer(&token), Some(json!({"amount": 100})))
            .await;
        assert_eq!(st, StatusCode::OK);
    }
    assert_eq!(s.points(&token).await, 500);
    s.assert_ledger_consistent().await;
}

async fn admin_adjustments_go_through_the_ledger(s: TestServer) {
    let token = s.register("ivan").await;
    let put = |body: serde_json::Value| s.call(Method::PUT, "/api/admin/users/ivan", Auth::Admin, Some(body));
    let (status, b) = put(json!({"points_adjustment": 500})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_body(&b, "reason_required");
    let (status, b) = put(json!({"points": 999999})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_body(&b, "balance_not_writable");
    let (status, b) = put(json!({})).await;
    assert_eq!((status, b["code"].as_str()), (StatusCode::BAD_REQUEST, Some("nothing_to_update")));
    let (status, b) =
        put(json!({"points_adjustment": 500, "reason": "welcome", "display_name": "Ivan"})).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!((b["user"]["points"].as_i64(), b["user"]["display_name"].as_str()), (Some(500), Some("Ivan")));
    let (status, b) = put(json!({"points_adjustment": -600, "reason": "too much", "name": "changed"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_body(&b, "insufficient_points");
    let (_, b) = s.call(Method::GET, "/api/users/ivan", Auth::Admin, None).await;
    assert_eq!(b["user"]["name"], "", "a refused update changes nothing");
    let (status, _) = put(json!({"points_adjustment": -200, "reason": "correction"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.points(&token).await, 300);
    let (status, b) =
        s.call(Method::PUT, "/api/admin/users/nobody", Auth::Admin, Some(json!({"name": "x"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_body(&b, "not_found");

    let (_, b) = s
        .call(Method::GET, "/api/admin/transactions?user_id=ivan&kind=admin_adjust", Auth::Admin, None)
        .await;
    assert_eq!(b["total"], 2);
    let amounts: Vec<i64> =
        b["transactions"].as_array().expect("list").iter().filter_map(|t| t["amount"].as_i64()).collect();
    assert_eq!(amounts, [-200, 500], "newest first");
    assert_eq!(b["transactions"][0]["balance_after"], 300);
    assert_eq!(b["transactions"][0]["description"], "correction");

    let (status, b) = s.call(Method::POST, "/api/admin/migrate-database", Auth::Admin, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(b["applied"], json!([]), "already migrated");
    let (_, b) = s.call(Method::GET, "/api/admin/audit-log", Auth::Admin, None).await;
    let actions: Vec<&str> =
        b["entries"].as_array().expect("list").iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["database.migrate", "users.update", "users.update"]);
    assert_eq!(b["entries"][1]["actor"], "admin-token");
    assert_eq!(b["entries"][1]["detail"]["points_adjustment"], -200);
    let (_, b) = s.call(Method::GET, "/api/admin/users?search=iva&limit=1", Auth::Admin, None).await;
    assert_eq!((b["total"].as_i64(), b["users"][0]["user_id"].as_str()), (Some(1), Some("ivan")));
    s.assert_ledger_consistent().await;
}

async fn public_endpoints_show_no_secrets(s: TestServer) {
    for path in ["/health", "/api/health"] {
        let (status, b) = s.call(Method::GET, path, Auth::None, None).await;
        assert_eq!(
            (status, b["status"].as_str(), b["database"].as_str()),
            (StatusCode::OK, Some("ok"), Some("ok"))
        );
    }
    let (status, b) = s.call(Method::GET, "/api/config", Auth::None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(b.get("firebase_api_key").is_some());
    let (status, b) = s.call(Method::GET, "/api/deployment-status", Auth::None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(b["schema_version"], snspmt_store::migrations::SQLITE.last().map_or(0, |m| m.version));
    assert!(b["integrations"]["smm_panel"].is_boolean());
    assert!(!b.to_string().contains(common::ADMIN_TOKEN));
    let (status, doc) = s.call(Method::GET, "/api/openapi.json", Auth::None, None).await;
    assert_eq!((status, doc["openapi"].as_str()), (StatusCode::OK, Some("3.1.0")));
    assert!(doc["paths"]["/api/points/deduct"]["post"].is_object());
}

async fn unknown_routes_and_methods(s: TestServer) {
    let (status, b) = s.call(Method::GET, "/api/definitely-not", Auth::None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_body(&b, "no_such_route");
    let (status, h, b) = s.raw(Method::DELETE, "/api/points", &[], "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(h.get("allow").and_then(|v| v.to_str().ok()), Some("GET"));
    assert_error_body(&b, "method_not_allowed");
    let (status, b) = s.call(Method::GET, "/api/users/nobody", Auth::Admin, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_body(&b, "not_found");
}
