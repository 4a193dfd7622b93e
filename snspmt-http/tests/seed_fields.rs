//! What the original web client sends and reads (issue 13), on SQLite and PostgreSQL: the
//! notice popup types, uploads as that client sends them, the admin SMM proxy passing through
//! what the admin sent, the fields its screens read beside ours, and error texts that name
//! what went wrong.

mod common;

use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use common::{assert_error_body, Auth, Backend, Harness, OauthHarness, TestServer};

on_each_backend!(
    notices_take_the_original_popup_types,
    uploads_take_the_file_field_and_a_boundary_found_in_the_body,
    the_smm_proxy_passes_through_what_the_admin_sent,
    purchases_carry_the_fields_the_client_reads,
    users_carry_the_fields_the_client_reads,
    referral_answers_carry_the_fields_the_client_reads,
    coupons_carry_the_fields_the_client_reads,
    the_public_service_list_carries_success_and_service_ids,
    every_conflict_names_what_conflicted,
    a_wrong_type_names_the_field_not_the_value,
);

async fn get(s: &TestServer, path: &str, auth: Auth<'_>) -> Value {
    let (status, b) = s.call(Method::GET, path, auth, None).await;
    assert_eq!(status, StatusCode::OK, "{path}: {b}");
    b
}

async fn post(s: &TestServer, path: &str, auth: Auth<'_>, body: Value) -> (StatusCode, Value) {
    s.call(Method::POST, path, auth, Some(body)).await
}

/// Registers `id` (e-mail `<id>@example.com`, name and display name given) with `points`.
async fn customer(s: &TestServer, id: &str, points: i64) -> String {
    let body = json!({"user_id": id, "email": format!("{id}@example.com"), "name": format!("{id} name"),
        "display_name": format!("{id} shown")});
    let (status, b) = post(s, "/api/register", Auth::None, body).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    if points > 0 {
        assert_eq!(s.adjust(id, points).await.0, StatusCode::OK);
    }
    b["token"].as_str().expect("token").to_owned()
}

async fn audit_actions(s: &TestServer) -> Vec<String> {
    let log = get(s, "/api/admin/audit-log?limit=100", Auth::Admin).await;
    log["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str().map(str::to_owned))
        .collect()
}

async fn notices_take_the_original_popup_types(backend: Backend) {
    let Some(s) = TestServer::start(backend, "notices_take_the_original_popup_types").await else { return };
    let s = &s;
    let (status, b) = post(
        s,
        "/api/admin/notices",
        Auth::Admin,
        json!({"title": "로그인 팝업", "content": "c", "image_url": "", "popup_type": "login",
            "login_popup_image_url": "/uploads/0123456789abcdef0123456789abcdef.png", "is_active": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let login_id = b["notice"]["id"].as_i64().expect("id");
    assert_eq!(b["notice"]["popup_type"], "login");
    assert_eq!(b["notice"]["login_popup_image_url"], "/uploads/0123456789abcdef0123456789abcdef.png");
    assert_eq!(b["notice"]["image_url"], Value::Null);
    // The client's form for a plain notice sends an empty login image: none is kept.
    let (status, b) = post(
        s,
        "/api/admin/notices",
        Auth::Admin,
        json!({"title": "공지", "content": "c", "image_url": "", "login_popup_image_url": "", "popup_type": "notice",
            "is_active": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(
        (b["notice"]["popup_type"].as_str(), &b["notice"]["login_popup_image_url"]),
        (Some("notice"), &Value::Null)
    );
    // Without a type, a notice is a `notice`; our display styles still fit beside.
    let (_, b) = post(s, "/api/admin/notices", Auth::Admin, json!({"title": "기본"})).await;
    assert_eq!(b["notice"]["popup_type"], "notice", "{b}");
    let (status, b) =
        post(s, "/api/admin/notices", Auth::Admin, json!({"title": "배너", "popup_type": "banner"})).await;
    assert_eq!((status, b["notice"]["popup_type"].as_str()), (StatusCode::OK, Some("banner")), "{b}");
    // The login image is checked like every image URL; unknown types are refused.
    for (body, field, code) in [
        (
            json!({"title": "x", "popup_type": "login", "login_popup_image_url": "javascript:alert(1)"}),
            "login_popup_image_url",
            "invalid_url",
        ),
        (json!({"title": "x", "popup_type": "signup"}), "popup_type", "invalid_popup_type"),
    ] {
        let (status, e) = post(s, "/api/admin/notices", Auth::Admin, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
        assert_error_body(&e, code);
        assert_eq!(e["field"], field);
    }
    // Shown to visitors with its login image; an update that omits the image keeps it.
    let active = get(s, "/api/notices/active", Auth::None).await;
    let shown = active["notices"].as_array().expect("notices").iter().find(|n| n["id"] == login_id).cloned();
    assert_eq!(
        shown.map(|n| n["login_popup_image_url"].clone()),
        Some(json!("/uploads/0123456789abcdef0123456789abcdef.png"))
    );
    let (status, b) = s
        .call(
            Method::PUT,
            &format!("/api/admin/notices/{login_id}"),
            Auth::Admin,
            Some(json!({"title": "새 제목"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(
        (b["notice"]["popup_type"].as_str(), b["notice"]["login_popup_image_url"].as_str()),
        (Some("login"), Some("/uploads/0123456789abcdef0123456789abcdef.png"))
    );
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82";

/// A form as a browser writes it, under boundary `b`.
fn form(b: &str, field: &str) -> Vec<u8> {
    let mut body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"photo.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(PNG);
    body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    body
}

async fn uploads_take_the_file_field_and_a_boundary_found_in_the_body(backend: Backend) {
    let test = "uploads_take_the_file_field_and_a_boundary_found_in_the_body";
    let Some(h) = OauthHarness::start(backend, test).await else { return };
    let s = &h.server;
    let b = "----WebKitFormBoundary7MA4YWxkTrZu0gW";
    let proper = format!("multipart/form-data; boundary={b}");
    for (content_type, field) in [
        (Some(proper.as_str()), "file"),
        // The original client: its form under `application/json`, or with no boundary.
        (Some("application/json"), "file"),
        (Some("multipart/form-data"), "image"),
        (None, "file"),
    ] {
        let mut headers = vec![("x-admin-token", common::ADMIN_TOKEN)];
        if let Some(ct) = content_type {
            headers.push(("content-type", ct));
        }
        let (status, _, answer) =
            s.raw(Method::POST, "/api/admin/upload-image", &headers, form(b, field)).await;
        assert_eq!(status, StatusCode::OK, "{content_type:?} {field}: {answer}");
        assert_eq!(answer["success"], true);
        let url = answer["image_url"].as_str().expect("url").to_owned();
        let (status, _, bytes) = s.raw_bytes(Method::GET, &url, &[], "").await;
        assert_eq!((status, &bytes[..]), (StatusCode::OK, PNG), "{url}");
    }
    // A JSON body under a JSON type is still no form; another field name is still refused.
    let headers = [("x-admin-token", common::ADMIN_TOKEN), ("content-type", "application/json")];
    let (status, _, e) = s.raw(Method::POST, "/api/admin/upload-image", &headers, r#"{"file": "x"}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_body(&e, "invalid_multipart");
    let (status, _, e) = s.raw(Method::POST, "/api/admin/upload-image", &headers, form(b, "photo")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_body(&e, "missing_field");
}

async fn the_smm_proxy_passes_through_what_the_admin_sent(backend: Backend) {
    let test = "the_smm_proxy_passes_through_what_the_admin_sent";
    let Some(h) = Harness::start(backend, test).await else { return };
    let s = &h.server;
    let add = json!({"action": "add", "service": "1", "link": "https://instagram.com/p/x", "quantity": 100,
        "comments": "좋아요\nnice"});
    let (status, b) = post(s, "/api/smm-panel", Auth::Admin, add).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let sent = h.smm.requests_for("add").pop().expect("add sent");
    assert_eq!((sent.get("quantity"), sent.get("comments")), (Some("100"), Some("좋아요\nnice")));
    // `comments` alone: a custom-comments order, no quantity invented.
    let alone =
        json!({"action": "add", "service": "1", "link": "https://instagram.com/p/y", "comments": "a\nb"});
    let (status, b) = post(s, "/api/smm-panel", Auth::Admin, alone).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let sent = h.smm.requests_for("add").pop().expect("add sent");
    assert_eq!((sent.get("quantity"), sent.get("comments")), (None, Some("a\nb")));
    // `cancel` takes one `order`, a list, or the panel's own comma list.
    for (body, orders) in [
        (json!({"action": "cancel", "order": 1000}), "1000"),
        (json!({"action": "cancel", "order": "1001"}), "1001"),
        (json!({"action": "cancel", "orders": [1000, "1001"]}), "1000,1001"),
        (json!({"action": "cancel", "orders": "1000, 1001"}), "1000,1001"),
    ] {
        let (status, b) = post(s, "/api/smm-panel", Auth::Admin, body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}: {b}");
        let sent = h.smm.requests_for("cancel").pop().expect("cancel sent");
        assert_eq!(sent.get("orders"), Some(orders), "{body}");
    }
    let (status, e) = post(s, "/api/smm-panel", Auth::Admin, json!({"action": "cancel"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    // The writes are on record.
    let actions = audit_actions(s).await;
    assert_eq!(actions.iter().filter(|a| *a == "smm_proxy.add").count(), 2, "{actions:?}");
    assert_eq!(actions.iter().filter(|a| *a == "smm_proxy.cancel").count(), 4, "{actions:?}");
}

async fn purchases_carry_the_fields_the_client_reads(backend: Backend) {
    let Some(s) = TestServer::start(backend, "purchases_carry_the_fields_the_client_reads").await else {
        return;
    };
    let s = &s;
    let token = customer(s, "pia", 0).await;
    let (status, b) = post(
        s,
        "/api/points/purchase",
        Auth::Bearer(&token),
        json!({"amount": 30000, "price": 30000, "buyer_name": "홍길동", "bank_info": "국민 123"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let id = b["purchase_id"].as_i64().expect("id");
    let mine = get(s, "/api/points/purchase-history", Auth::Bearer(&token)).await;
    assert_eq!(
        (mine["purchases"][0]["id"].as_i64(), mine["purchases"][0]["purchase_id"].as_i64()),
        (Some(id), Some(id))
    );
    let all = get(s, "/api/admin/purchases", Auth::Admin).await;
    let p = &all["purchases"][0];
    assert_eq!(p["id"].as_i64(), Some(id), "{p}");
    assert_eq!(p["purchase_id"].as_i64(), Some(id));
    assert_eq!(p["email"], "pia@example.com");
    assert_eq!(p["buyer_name"], "홍길동");
    assert_eq!(p["bank_info"], "국민 123");
    assert_eq!(p["user_id"], "pia");
}

async fn users_carry_the_fields_the_client_reads(backend: Backend) {
    let Some(s) = TestServer::start(backend, "users_carry_the_fields_the_client_reads").await else { return };
    let s = &s;
    let token = customer(s, "uri", 1234).await;
    let (status, r) =
        post(s, "/api/admin/referral/register", Auth::Admin, json!({"email": "uri@example.com"})).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let code = r["code"].as_str().expect("code").to_owned();
    let check = |u: &Value| {
        assert_eq!(u["displayName"], "uri shown", "{u}");
        assert_eq!(u["display_name"], "uri shown");
        assert_eq!(u["username"], "uri name");
        assert_eq!(u["balance"], 1234);
        assert_eq!(u["points"], 1234);
        assert_eq!(u["referral_code"], code.as_str());
        assert_eq!(u["is_active"], true);
    };
    check(&get(s, "/api/users/uri", Auth::Bearer(&token)).await["user"]);
    let all = get(s, "/api/admin/users?search=uri", Auth::Admin).await;
    check(&all["users"][0]);
    // One who is no referrer has no code.
    customer(s, "vera", 0).await;
    let all = get(s, "/api/admin/users?search=vera", Auth::Admin).await;
    assert_eq!(
        (all["users"][0]["referral_code"].clone(), all["users"][0]["balance"].clone()),
        (Value::Null, json!(0))
    );
}

async fn referral_answers_carry_the_fields_the_client_reads(backend: Backend) {
    let test = "referral_answers_carry_the_fields_the_client_reads";
    let Some(h) = Harness::start(backend, test).await else { return };
    let s = &h.server;
    let body = json!({"provider_service_id": "1", "name": "followers", "category": "Instagram",
        "price_per_1000": 1000, "min_quantity": 10, "max_quantity": 1_000_000});
    let (status, svc) = post(s, "/api/admin/services", Auth::Admin, body).await;
    assert_eq!(status, StatusCode::OK, "{svc}");
    let svc = svc["service"]["service_id"].as_i64().expect("service id");
    let a = customer(s, "ari", 0).await;
    let b = customer(s, "ben", 100_000).await;
    let (status, r) =
        post(s, "/api/admin/referral/register", Auth::Admin, json!({"email": "ari@example.com"})).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let code = r["code"].as_str().expect("code").to_owned();
    assert_eq!(
        (r["referralCode"].as_str(), r["email"].as_str(), r["name"].as_str()),
        (Some(code.as_str()), Some("ari@example.com"), Some("ari name"))
    );
    let (status, used) = post(s, "/api/referral/use-code", Auth::Bearer(&b), json!({"code": code})).await;
    assert_eq!(status, StatusCode::OK, "{used}");
    let order = json!({"service_id": svc, "link": "https://instagram.com/ben", "quantity": 10_000});
    let (status, o) = post(s, "/api/orders", Auth::Bearer(&b), order).await;
    assert_eq!(status, StatusCode::OK, "{o}");

    let c = get(s, "/api/referral/commissions", Auth::Bearer(&a)).await;
    let row = &c["commissions"][0];
    assert_eq!(row["referredUser"], "ben", "{row}");
    assert_eq!(row["purchaseAmount"], 10_000);
    assert_eq!(row["commissionAmount"], 1_000);
    assert_eq!(row["commissionRate"].as_f64(), Some(0.1));
    assert_eq!(row["commission_rate_bps"], 1000);
    assert!(row["paymentDate"].as_str().is_some_and(|d| d.ends_with('Z')), "{row}");

    let r = get(s, "/api/referral/referrals", Auth::Bearer(&a)).await;
    let row = &r["referrals"][0];
    assert_eq!(row["id"], "ben", "{row}");
    assert_eq!(row["user"], row["email"], "the masked e-mail");
    assert!(row["user"].as_str().is_some_and(|u| u.contains('*') && !u.contains("ben@")), "{row}");
    assert!(row["joinDate"].as_str().is_some_and(|d| d.ends_with('Z')), "{row}");
    assert_eq!(row["status"], "active", "ben has ordered");

    let st = get(s, "/api/referral/stats", Auth::Bearer(&a)).await;
    assert_eq!(
        (st["commissionRate"].as_f64(), st["commission_rate_bps"].as_i64()),
        (Some(0.1), Some(1000)),
        "{st}"
    );

    let codes = get(s, "/api/admin/referral/codes", Auth::Admin).await;
    let row = &codes["codes"][0];
    assert_eq!(row["id"], code.as_str(), "{row}");
    assert_eq!(row["name"], "ari name");
    assert!(row["createdAt"].as_str().is_some_and(|d| d.ends_with('Z')), "{row}");
    assert_eq!(row["total_commission"], 0, "a pending commission is not earned yet");
    assert_eq!(row["commission_rate"].as_f64(), Some(0.1));
}

async fn coupons_carry_the_fields_the_client_reads(backend: Backend) {
    let Some(s) = TestServer::start(backend, "coupons_carry_the_fields_the_client_reads").await else {
        return;
    };
    let s = &s;
    let u = customer(s, "cal", 0).await;
    let body = json!({"code": "welcome", "name": "환영", "discount_type": "fixed", "discount_value": 3000});
    let (status, c) = post(s, "/api/admin/coupons", Auth::Admin, body).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(
        (c["coupon"]["coupon_code"].as_str(), c["coupon"]["coupon_name"].as_str()),
        (Some("WELCOME"), Some("환영"))
    );
    let listed = get(s, "/api/admin/coupons", Auth::Admin).await;
    assert_eq!(listed["coupons"][0]["coupon_code"], "WELCOME", "{listed}");
    let (status, added) =
        post(s, "/api/user/coupons/add-by-code", Auth::Bearer(&u), json!({"coupon_code": "WELCOME"})).await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_eq!(
        (added["coupon"]["coupon_code"].as_str(), added["coupon"]["coupon_name"].as_str()),
        (Some("WELCOME"), Some("환영"))
    );
    let mine = get(s, "/api/user/coupons", Auth::Bearer(&u)).await;
    let row = &mine["coupons"][0];
    assert_eq!(
        (row["coupon_code"].as_str(), row["coupon_name"].as_str()),
        (Some("WELCOME"), Some("환영")),
        "{row}"
    );
    assert_eq!((row["code"].as_str(), row["name"].as_str()), (Some("WELCOME"), Some("환영")));
}

async fn the_public_service_list_carries_success_and_service_ids(backend: Backend) {
    let test = "the_public_service_list_carries_success_and_service_ids";
    let Some(s) = TestServer::start(backend, test).await else { return };
    let s = &s;
    let mut ids = Vec::new();
    for (upstream, active) in [("11", true), ("12", true), ("13", false)] {
        let body = json!({"provider_service_id": upstream, "name": format!("s{upstream}"), "category": "Instagram",
            "price_per_1000": 1000, "min_quantity": 10, "max_quantity": 1000, "is_active": active});
        let (status, b) = post(s, "/api/admin/services", Auth::Admin, body).await;
        assert_eq!(status, StatusCode::OK, "{b}");
        if active {
            ids.push(b["service"]["service_id"].as_i64().expect("id").to_string());
        }
    }
    let b = get(s, "/api/smm-panel/services", Auth::None).await;
    assert_eq!(b["success"], true, "{b}");
    let mut listed: Vec<String> = b["service_ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect();
    listed.sort();
    ids.sort();
    assert_eq!(listed, ids, "the active services' ids, as strings");
    assert_eq!(b["services"].as_array().map(Vec::len), Some(2));
}

async fn every_conflict_names_what_conflicted(backend: Backend) {
    let Some(s) = TestServer::start(backend, "every_conflict_names_what_conflicted").await else { return };
    let s = &s;
    let token = customer(s, "dan", 0).await;
    let (_, b) =
        post(s, "/api/points/purchase", Auth::Bearer(&token), json!({"amount": 5000, "price": 5000})).await;
    let id = b["purchase_id"].as_i64().expect("id");
    let path = format!("/api/admin/purchases/{id}");
    let (status, b) = s.call(Method::PUT, &path, Auth::Admin, Some(json!({"status": "approved"}))).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let (status, e) = s.call(Method::PUT, &path, Auth::Admin, Some(json!({"status": "rejected"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_error_body(&e, "already_processed");
    let message = e["message"].as_str().expect("message");
    assert!(message.contains(&format!("purchase {id}")) && message.contains("approved"), "{message}");
    assert_eq!((e["purchase_id"].as_i64(), e["status"].as_str()), (Some(id), Some("approved")));
    // A taken user_id or e-mail names its field.
    for (body, field) in [
        (json!({"user_id": "dan", "email": "other@example.com"}), "user_id"),
        (json!({"user_id": "dan2", "email": "dan@example.com"}), "email"),
    ] {
        let (status, e) = post(s, "/api/register", Auth::None, body).await;
        assert_eq!(status, StatusCode::CONFLICT, "{e}");
        assert_eq!(e["field"], field, "{e}");
        assert!(e["message"].as_str().is_some_and(|m| m.contains(field)), "{e}");
    }
    // A coupon code, too.
    let coupon = json!({"code": "DUP", "discount_type": "fixed", "discount_value": 1});
    assert_eq!(post(s, "/api/admin/coupons", Auth::Admin, coupon.clone()).await.0, StatusCode::OK);
    let (status, e) = post(s, "/api/admin/coupons", Auth::Admin, coupon).await;
    assert_eq!((status, e["field"].as_str()), (StatusCode::CONFLICT, Some("code")), "{e}");
}

async fn a_wrong_type_names_the_field_not_the_value(backend: Backend) {
    let test = "a_wrong_type_names_the_field_not_the_value";
    let Some(s) = TestServer::start(backend, test).await else { return };
    let s = &s;
    let token = customer(s, "eve", 0).await;
    let (status, e) = post(
        s,
        "/api/points/purchase",
        Auth::Bearer(&token),
        json!({"amount": "card-4111-1111", "price": 1000}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert_error_body(&e, "invalid_type");
    assert_eq!(e["field"], "amount", "{e}");
    let message = e["message"].as_str().expect("message");
    assert!(message.contains("amount") && !message.contains("4111"), "{message}");
    let (status, e) =
        post(s, "/api/admin/notices", Auth::Admin, json!({"title": "t", "is_active": "yes-secret"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!((e["code"].as_str(), e["field"].as_str()), (Some("invalid_type"), Some("is_active")));
    assert!(!e["message"].as_str().unwrap_or_default().contains("yes-secret"), "{e}");
}
