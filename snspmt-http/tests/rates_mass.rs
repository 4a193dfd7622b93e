//! Per-user rates and mass orders (issue 14), on SQLite and PostgreSQL: a discount and a
//! per-service price change what one user sees and pays (single, drip-feed, split, package
//! orders, listings) and nobody else's; the admin routes validate and audit; a mass order
//! places each line once with its own result, refuses a batch over the balance, and replays
//! its first answer under the same `Idempotency-Key`, even ten at once.

mod common;

use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use common::{assert_error_body, Auth, Harness, TestServer};
use snspmt_store::LedgerFilter;

on_both_backends_with_smm!(
    rates_change_what_one_user_sees_and_pays,
    admin_rate_routes_validate_and_audit,
    mass_orders_place_each_line_once,
    mass_orders_refuse_too_many_lines_and_short_balances,
    mass_order_replays_answer_the_first_answer,
);

async fn service(s: &TestServer, provider: &str, price_per_1000: i64) -> i64 {
    s.create_service(provider, price_per_1000, json!({"dripfeed": true})).await
}

async fn customer(s: &TestServer, id: &str, points: i64) -> String {
    s.customer(id, points).await
}

async fn admin(s: &TestServer, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    s.call(method, path, Auth::Admin, body).await
}

async fn order(s: &TestServer, token: &str, body: Value) -> Value {
    let (status, b) = s.call(Method::POST, "/api/orders", Auth::Bearer(token), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b
}

fn price_of(listing: &Value, key: &str, id: i64, field: &str) -> i64 {
    listing[key]
        .as_array()
        .expect("list")
        .iter()
        .find(|x| x[if key == "services" { "service_id" } else { "package_id" }] == id)
        .and_then(|x| x[field].as_i64())
        .unwrap_or_else(|| panic!("{id} in {listing}"))
}

async fn ledger_rows(s: &TestServer, user: &str) -> i64 {
    let filter = LedgerFilter { user_id: Some(user.into()), kind: None, limit: 1, offset: 0 };
    s.store.ledger(filter).await.expect("ledger").total
}

async fn order_count(s: &TestServer, token: &str) -> i64 {
    let (status, b) = s.call(Method::GET, "/api/orders?status=all", Auth::Bearer(token), None).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b["total"].as_i64().expect("total")
}

async fn rates_change_what_one_user_sees_and_pays(h: Harness) {
    let s = &h.server;
    let a = service(s, "1", 1000).await;
    let b = service(s, "5", 2000).await;
    let (status, p) = admin(
        s,
        Method::POST,
        "/api/admin/packages",
        Some(json!({"name": "pack", "price": 1000, "steps": [{"service_id": a, "quantity": 100}, {"service_id": b, "quantity": 100}]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    let package = p["package"]["package_id"].as_i64().expect("package id");
    let rita = customer(s, "rita", 10_000).await;
    let otto = customer(s, "otto", 10_000).await;

    let (status, r) =
        admin(s, Method::PUT, "/api/admin/users/rita/rates", Some(json!({"discount_bps": 1000}))).await;
    assert_eq!((status, r["discount_bps"].as_i64()), (StatusCode::OK, Some(1000)), "{r}");
    let (status, r) = admin(
        s,
        Method::PUT,
        &format!("/api/admin/users/rita/service-prices/{b}"),
        Some(json!({"price_per_1000": 500})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["service_prices"][0]["price_per_1000"], 500);
    assert_eq!(r["service_prices"][0]["base_price_per_1000"], 2000);

    // Listings: the signed-in user's prices; anyone else's are the catalogue's.
    let (_, mine) = s.call(Method::GET, "/api/smm-panel/services", Auth::Bearer(&rita), None).await;
    assert_eq!(price_of(&mine, "services", a, "price_per_1000"), 900, "discount: {mine}");
    assert_eq!(price_of(&mine, "services", b, "price_per_1000"), 500, "the override wins over the discount");
    assert_eq!(price_of(&mine, "services", a, "base_price_per_1000"), 1000);
    for auth in [Auth::None, Auth::Bearer(&otto), Auth::Bearer("not-a-session")] {
        let (status, public) = s.call(Method::GET, "/api/smm-panel/services", auth, None).await;
        assert_eq!(status, StatusCode::OK, "{public}");
        assert_eq!(price_of(&public, "services", a, "price_per_1000"), 1000);
        assert_eq!(price_of(&public, "services", b, "price_per_1000"), 2000);
    }
    let (_, packs) = s.call(Method::GET, "/api/packages", Auth::Bearer(&rita), None).await;
    assert_eq!(price_of(&packs, "packages", package, "price"), 900, "the discount applies to packages");
    let (_, packs) = s.call(Method::GET, "/api/packages", Auth::Bearer(&otto), None).await;
    assert_eq!(price_of(&packs, "packages", package, "price"), 1000);
    let (status, own) = s.call(Method::GET, "/api/user/rates", Auth::Bearer(&rita), None).await;
    assert_eq!(status, StatusCode::OK, "{own}");
    assert_eq!(own["discount_bps"], 1000);
    assert_eq!(price_of(&own, "services", a, "price_per_1000"), 900);
    assert_eq!(price_of(&own, "services", b, "price_per_1000"), 500);
    assert_eq!(price_of(&own, "packages", package, "price"), 900);
    let (_, others) = s.call(Method::GET, "/api/user/rates", Auth::Bearer(&otto), None).await;
    assert_eq!(
        (others["discount_bps"].as_i64(), others["service_prices"].as_array().map(Vec::len)),
        (Some(0), Some(0))
    );

    // Orders: single, drip-feed, override, split and package, at rita's prices.
    let link = "https://instagram.com/rita";
    let (status, changed) = s
        .call(
            Method::POST,
            "/api/orders",
            Auth::Bearer(&rita),
            Some(json!({"service_id": a, "link": link, "quantity": 1000, "price": 1000})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{changed}");
    assert_error_body(&changed, "price_changed");
    assert_eq!(changed["expected_price"], 900, "the price check compares with the user's price");
    let single =
        order(s, &rita, json!({"service_id": a, "link": link, "quantity": 1000, "price": 900})).await;
    assert_eq!((single["price"].as_i64(), single["final_price"].as_i64()), (Some(900), Some(900)));
    let drip =
        order(s, &rita, json!({"service_id": a, "link": link, "quantity": 100, "runs": 2, "interval": 10}))
            .await;
    assert_eq!(drip["price"], 180);
    let own_price = order(s, &rita, json!({"service_id": b, "link": link, "quantity": 1000})).await;
    assert_eq!(own_price["price"], 500);
    let split =
        order(s, &rita, json!({"service_id": a, "link": link, "split_days": 2, "split_quantity": 100})).await;
    assert_eq!(split["price"], 180);
    let pack = order(s, &rita, json!({"package_id": package, "link": link, "price": 900})).await;
    assert_eq!(pack["price"], 900, "per-service prices do not apply to packages; the discount does");
    assert_eq!(s.points(&rita).await, 10_000 - 900 - 180 - 500 - 180 - 900);

    // Nobody else's prices moved.
    let theirs = order(s, &otto, json!({"service_id": a, "link": link, "quantity": 1000})).await;
    assert_eq!(theirs["price"], 1000);
    let theirs = order(s, &otto, json!({"service_id": b, "link": link, "quantity": 1000})).await;
    assert_eq!(theirs["price"], 2000);
    let theirs = order(s, &otto, json!({"package_id": package, "link": link})).await;
    assert_eq!(theirs["price"], 1000);
    assert_eq!(s.points(&otto).await, 10_000 - 1000 - 2000 - 1000);

    // Removing the override falls back to the discount.
    let (status, _) =
        admin(s, Method::DELETE, &format!("/api/admin/users/rita/service-prices/{b}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let back = order(s, &rita, json!({"service_id": b, "link": link, "quantity": 1000})).await;
    assert_eq!(back["price"], 1800);
    s.assert_ledger_consistent().await;
}

async fn admin_rate_routes_validate_and_audit(h: Harness) {
    let s = &h.server;
    let a = service(s, "1", 1000).await;
    let user = customer(s, "vera", 0).await;
    let rates = "/api/admin/users/vera/rates";
    for (body, code) in [
        (json!({"discount_bps": 10_001}), "invalid_discount"),
        (json!({"discount_bps": -1}), "invalid_discount"),
        (json!({}), "missing_field"),
        (json!({"discount_bps": "ten"}), "invalid_type"),
    ] {
        let (status, b) = admin(s, Method::PUT, rates, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {b}");
        assert!(b["code"].is_string(), "{b}");
        if code != "invalid_type" {
            assert_error_body(&b, code);
        }
    }
    let price = |id: &str| format!("/api/admin/users/vera/service-prices/{id}");
    let (status, b) =
        admin(s, Method::PUT, &price(&a.to_string()), Some(json!({"price_per_1000": -1}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{b}");
    assert_error_body(&b, "invalid_price");
    let (status, b) = admin(s, Method::PUT, &price("abc"), Some(json!({"price_per_1000": 1}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{b}");
    for (method, path, body) in [
        (Method::PUT, "/api/admin/users/nobody/rates".to_owned(), Some(json!({"discount_bps": 10}))),
        (Method::GET, "/api/admin/users/nobody/rates".to_owned(), None),
        (
            Method::PUT,
            format!("/api/admin/users/nobody/service-prices/{a}"),
            Some(json!({"price_per_1000": 1})),
        ),
        (Method::PUT, price(&(a + 1000).to_string()), Some(json!({"price_per_1000": 1}))),
        (Method::DELETE, price(&a.to_string()), None),
    ] {
        let (status, b) = admin(s, method.clone(), &path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {b}");
        assert_error_body(&b, "not_found");
    }
    // Only operators.
    let (status, _) =
        s.call(Method::PUT, rates, Auth::Bearer(&user), Some(json!({"discount_bps": 10}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s.call(Method::GET, rates, Auth::None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = s.call(Method::GET, "/api/user/rates", Auth::None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Nothing refused was written or audited; each change is.
    let (_, r) = admin(s, Method::GET, rates, None).await;
    assert_eq!(
        (r["discount_bps"].as_i64(), r["service_prices"].as_array().map(Vec::len)),
        (Some(0), Some(0))
    );
    let audit = |log: &Value| -> Vec<(String, String)> {
        log["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|e| e["action"].as_str().is_some_and(|a| a.starts_with("users.") && a != "users.update"))
            .map(|e| {
                (e["action"].as_str().unwrap_or("").to_owned(), e["target"].as_str().unwrap_or("").to_owned())
            })
            .collect()
    };
    let (_, log) = admin(s, Method::GET, "/api/admin/audit-log", None).await;
    assert!(audit(&log).is_empty(), "{log}");
    assert_eq!(admin(s, Method::PUT, rates, Some(json!({"discount_bps": 10_000}))).await.0, StatusCode::OK);
    assert_eq!(
        admin(s, Method::PUT, &price(&a.to_string()), Some(json!({"price_per_1000": 0}))).await.0,
        StatusCode::OK
    );
    assert_eq!(admin(s, Method::DELETE, &price(&a.to_string()), None).await.0, StatusCode::OK);
    let (_, log) = admin(s, Method::GET, "/api/admin/audit-log", None).await;
    let mut entries = audit(&log);
    entries.sort();
    assert_eq!(
        entries,
        [
            ("users.delete_service_price".to_owned(), "vera".to_owned()),
            ("users.set_discount".to_owned(), "vera".to_owned()),
            ("users.set_service_price".to_owned(), "vera".to_owned()),
        ]
    );
    let (_, r) = admin(s, Method::GET, rates, None).await;
    assert_eq!(r["discount_bps"], 10_000, "100 % is allowed: {r}");
}

async fn mass(
    s: &TestServer,
    token: &str,
    body: Value,
    key: Option<&str>,
) -> (StatusCode, hyper::HeaderMap, Value) {
    let bearer = format!("Bearer {token}");
    let mut headers = vec![("content-type", "application/json"), ("authorization", bearer.as_str())];
    if let Some(key) = key {
        headers.push(("idempotency-key", key));
    }
    s.raw(Method::POST, "/api/orders/mass", &headers, body.to_string()).await
}

async fn mass_orders_place_each_line_once(h: Harness) {
    let s = &h.server;
    let a = service(s, "1", 1000).await;
    let b = service(s, "5", 2000).await;
    let token = customer(s, "mona", 10_000).await;
    admin(s, Method::PUT, "/api/admin/users/mona/rates", Some(json!({"discount_bps": 5000}))).await;
    let text = format!(
        "{a}|https://instagram.com/one|100\n\
         999999|https://instagram.com/two|100\n\
         not a line\n\
         \n\
         {a}|https://instagram.com/three|5\n\
         {b}|https://instagram.com/fo|ur|200\r\n\
         {a}|ftp://nope|100"
    );
    let (status, _, r) = mass(s, &token, json!({"orders": text}), None).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!((r["placed"].as_i64(), r["failed"].as_i64()), (Some(2), Some(4)), "{r}");
    let results = r["results"].as_array().expect("results");
    let lines: Vec<i64> = results.iter().filter_map(|x| x["line"].as_i64()).collect();
    assert_eq!(lines, [1, 2, 3, 5, 6, 7], "blank lines have no result");
    assert!(results[0]["order_id"].is_i64(), "{r}");
    assert_eq!(results[0]["price"], 50, "at the user's rate (50 % off 1000 per 1000, 100 units)");
    assert_eq!(results[1]["error"]["code"], "invalid_service");
    assert_eq!(results[2]["error"]["code"], "invalid_line");
    assert_eq!(results[3]["error"]["code"], "invalid_quantity");
    assert_eq!(results[4]["link"], "https://instagram.com/fo|ur", "a link may hold |");
    assert_eq!(results[4]["price"], 200);
    assert!(results[5]["error"]["code"].is_string(), "{r}");
    assert_eq!(r["total_price"], 250);
    assert_eq!(s.points(&token).await, 10_000 - 250);

    // The other body forms: an array of lines, and text/plain.
    let (status, _, r) =
        mass(s, &token, json!({"orders": [format!("{a}|https://instagram.com/arr|100")]}), None).await;
    assert_eq!((status, r["placed"].as_i64()), (StatusCode::OK, Some(1)), "{r}");
    let (status, _, r) = mass(s, &token, json!([format!("{a}|https://instagram.com/bare|100")]), None).await;
    assert_eq!((status, r["placed"].as_i64()), (StatusCode::OK, Some(1)), "{r}");
    let bearer = format!("Bearer {token}");
    let (status, _, r) = s
        .raw(
            Method::POST,
            "/api/orders/mass",
            &[("content-type", "text/plain; charset=utf-8"), ("authorization", bearer.as_str())],
            format!("{a}|https://instagram.com/plain|100\n"),
        )
        .await;
    assert_eq!((status, r["placed"].as_i64()), (StatusCode::OK, Some(1)), "{r}");

    // Every placed line reaches the panel once.
    assert!(h.smm.wait_for_requests("add", 5, Duration::from_secs(5)).await, "five adds");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let adds = h.smm.requests_for("add");
    assert_eq!(adds.len(), 5);
    let mut links: Vec<String> = adds.iter().filter_map(|x| x.get("link").map(str::to_owned)).collect();
    links.sort();
    links.dedup();
    assert_eq!(links.len(), 5, "each line once: {links:?}");
    assert_eq!(s.points(&token).await, 10_000 - 250 - 150);
    let (status, _, r) = s.raw(Method::POST, "/api/orders/mass", &[], "{}").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{r}");
    s.assert_ledger_consistent().await;
}

async fn mass_orders_refuse_too_many_lines_and_short_balances(h: Harness) {
    let s = &h.server;
    let a = service(s, "1", 1000).await;
    let token = customer(s, "nils", 1_000).await;
    let line = |i: usize| format!("{a}|https://instagram.com/{i}|100");
    let many: Vec<String> = (0..501).map(line).collect();
    let (status, _, r) = mass(s, &token, json!({"orders": many.join("\n")}), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{r}");
    assert_error_body(&r, "too_many_lines");
    let (status, _, r) = mass(s, &token, json!({"orders": many}), Some("big")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{r}");
    let (status, _, r) = mass(s, &token, json!({"orders": "\n\n"}), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{r}");
    assert_error_body(&r, "no_lines");
    let (status, _, r) = mass(s, &token, json!({"orders": 12}), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{r}");

    // 11 lines of 100 points with 1000 points: nothing is placed (bad lines do not count).
    let mut lines: Vec<String> = (0..11).map(line).collect();
    lines.push("0|https://instagram.com/bad|100".into());
    let (status, _, r) = mass(s, &token, json!({"orders": lines.join("\n")}), Some("short")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{r}");
    assert_error_body(&r, "insufficient_points");
    assert_eq!((r["required"].as_i64(), r["points"].as_i64()), (Some(1100), Some(1000)));
    assert_eq!(order_count(s, &token).await, 0);
    assert_eq!(s.points(&token).await, 1_000);
    assert_eq!(ledger_rows(s, "nils").await, 1);

    // The refused batch kept nothing: after a top-up the same key places it.
    s.adjust("nils", 100).await;
    let (status, _, r) = mass(s, &token, json!({"orders": lines.join("\n")}), Some("short")).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(
        (r["placed"].as_i64(), r["failed"].as_i64(), r["total_price"].as_i64()),
        (Some(11), Some(1), Some(1100))
    );
    assert_eq!(s.points(&token).await, 0);
    assert!(h.smm.wait_for_requests("add", 11, Duration::from_secs(5)).await);
    s.assert_ledger_consistent().await;
}

async fn mass_order_replays_answer_the_first_answer(h: Harness) {
    let s = &h.server;
    let a = service(s, "1", 1000).await;
    let token = customer(s, "rex", 100_000).await;
    let text = |tag: &str| {
        (0..4).map(|i| format!("{a}|https://instagram.com/{tag}{i}|100")).collect::<Vec<_>>().join("\n")
            + "\n0|https://instagram.com/x|100"
    };
    let body = json!({"orders": text("k")});
    let (status, headers, first) = mass(s, &token, body.clone(), Some("batch-1")).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert!(headers.get("idempotent-replayed").is_none());
    assert_eq!((first["placed"].as_i64(), first["failed"].as_i64()), (Some(4), Some(1)));
    let (orders, rows, points) =
        (order_count(s, &token).await, ledger_rows(s, "rex").await, s.points(&token).await);
    let (status, headers, again) = mass(s, &token, body.clone(), Some("batch-1")).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, first, "a replay answers exactly the first answer");
    assert_eq!(headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    assert_eq!(
        (order_count(s, &token).await, ledger_rows(s, "rex").await, s.points(&token).await),
        (orders, rows, points)
    );
    let (status, _, other) = mass(s, &token, json!({"orders": text("other")}), Some("batch-1")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{other}");
    assert_error_body(&other, "idempotency_key_reused");

    // Ten at once with a new key: one places, all answer the same.
    let body = json!({"orders": text("c")});
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (addr, token, body) = (s.addr, token.clone(), body.to_string());
        tasks.push(tokio::spawn(async move { post_raw(addr, &token, "batch-2", body).await }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        let (status, answer) = t.await.expect("join");
        assert_eq!(status, StatusCode::OK, "{answer}");
        answers.push(answer);
    }
    assert!(answers.iter().all(|x| *x == answers[0]), "{answers:?}");
    assert_eq!(answers[0]["placed"], 4);
    assert_eq!(order_count(s, &token).await, orders + 4);
    assert_eq!(ledger_rows(s, "rex").await, rows + 4);
    assert_eq!(s.points(&token).await, points - 400);
    assert!(h.smm.wait_for_requests("add", 8, Duration::from_secs(5)).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(h.smm.requests_for("add").len(), 8, "every placed line reaches the panel once");
    s.assert_ledger_consistent().await;
}

/// A mass order over a connection of its own (the test server's client is not shared across
/// tasks).
async fn post_raw(addr: std::net::SocketAddr, token: &str, key: &str, body: String) -> (StatusCode, Value) {
    use http_body_util::{BodyExt, Full};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    let req = hyper::Request::builder()
        .method(Method::POST)
        .uri(format!("http://{addr}/api/orders/mass"))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .header("idempotency-key", key)
        .body(Full::new(bytes::Bytes::from(body)))
        .expect("request");
    let resp = client.request(req).await.expect("response");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}
