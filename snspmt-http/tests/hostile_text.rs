//! Text holding NUL is refused with 400 `invalid_text` and changes nothing, on SQLite and
//! PostgreSQL alike (PostgreSQL cannot store it; it used to answer 500).

mod common;

use hyper::{Method, StatusCode};
use serde_json::json;

use common::{assert_error_body, Auth, TestServer};

on_both_backends!(nul_in_queries_and_bodies_is_refused);

async fn nul_in_queries_and_bodies_is_refused(s: TestServer) {
    // A public read with NUL in its query.
    for path in ["/api/blog/posts?search=%00", "/api/blog/posts?category=a%00b", "/api/notices/active?x%00=1"]
    {
        let (status, _, body) = s.raw(Method::GET, path, &[], "").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_error_body(&body, "invalid_text");
    }
    // Registration: refused, and the id stays free.
    let (status, body) = s
        .call(Method::POST, "/api/register", Auth::None, Some(json!({"user_id": "nul", "name": "a\u{0}b"})))
        .await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("name")), "{body}");
    assert_error_body(&body, "invalid_text");
    let token = s.register("nul");
    let token = token.await;
    // An admin write: refused, the profile unchanged.
    let (status, body) = s
        .call(Method::PUT, "/api/admin/users/nul", Auth::Admin, Some(json!({"display_name": "x\u{0}"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_error_body(&body, "invalid_text");
    let (status, body) = s.call(Method::GET, "/api/admin/users?search=nul", Auth::Admin, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!body.to_string().contains("\\u0000"), "{body}");
    // A paid request: refused before anything is charged.
    assert_eq!(s.adjust("nul", 10_000).await.0, StatusCode::OK);
    let order = json!({"service_id": 1, "link": "https://x.com/\u{0}", "quantity": 100});
    let (status, body) = s.call(Method::POST, "/api/orders", Auth::Bearer(&token), Some(order)).await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("link")), "{body}");
    assert_eq!(s.points(&token).await, 10_000);
    // A nested field and an escaped backslash (which is not a NUL).
    let nested = json!({"amount": 1, "description": "ok", "meta": [{"note": "\u{0}"}]});
    let (status, body) = s.call(Method::POST, "/api/points/deduct", Auth::Bearer(&token), Some(nested)).await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("note")), "{body}");
    let fine = json!({"amount": 1, "description": "a\\u0000"});
    let (status, body) = s.call(Method::POST, "/api/points/deduct", Auth::Bearer(&token), Some(fine)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(s.points(&token).await, 9_999);
    s.assert_ledger_consistent().await;
}
