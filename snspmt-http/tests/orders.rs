//! Orders end to end against a fake SMM panel, on SQLite and PostgreSQL: the exact form sent,
//! unknown outcomes never resent, retries, refunds by the §6 rules, bad input, and the
//! catalogue.

mod common;

use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use common::fake_smm::{Fault, FAKE_KEY};
use common::{assert_error_body, Auth, Harness, TestServer};

on_both_backends_with_smm!(
    the_form_has_exactly_the_right_fields,
    a_timeout_after_the_panel_took_it_is_unknown_and_never_resent,
    dropped_connections_and_garbage_are_unknown,
    a_partial_refunds_pro_rata_once,
    a_cancel_refunds_in_full,
    a_definitive_rejection_fails_and_refunds,
    not_enough_funds_keeps_the_order_pending,
    bad_orders_charge_nothing,
    operator_transitions_are_checked,
    the_catalogue_is_managed_and_imported,
    check_status_and_the_proxy,
    status_sync_asks_one_hundred_at_a_time,
);

/// A service for the fake's service `provider` at `price_per_1000` points.
async fn service(s: &TestServer, provider: &str, price_per_1000: i64, extra: Value) -> i64 {
    s.create_service(provider, price_per_1000, extra).await
}

/// A user with `points`, and their token.
async fn customer(s: &TestServer, id: &str, points: i64) -> String {
    s.customer(id, points).await
}

async fn place(s: &TestServer, token: &str, body: Value) -> (StatusCode, Value) {
    s.call(Method::POST, "/api/orders", Auth::Bearer(token), Some(body)).await
}

async fn order(s: &TestServer, id: i64) -> Value {
    let (status, b) = s.call(Method::GET, &format!("/api/orders/{id}"), Auth::Admin, None).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b["order"].clone()
}

/// Waits until the order leaves `pending`/`submitting` (its immediate submission settled).
async fn settled(s: &TestServer, id: i64) -> Value {
    for _ in 0..200 {
        let o = order(s, id).await;
        if !matches!(o["status"].as_str(), Some("pending" | "submitting")) || o["error"].is_string() {
            return o;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("order {id} never settled: {}", order(s, id).await);
}

async fn sync(s: &TestServer) -> Value {
    let (status, b) = s
        .raw(Method::POST, "/api/cron/sync-order-status", &[("x-cron-token", common::CRON_TOKEN)], "")
        .await
        .into_status_body();
    assert_eq!(status, StatusCode::OK, "{b}");
    b
}

trait StatusBody {
    fn into_status_body(self) -> (StatusCode, Value);
}

impl StatusBody for (StatusCode, hyper::HeaderMap, Value) {
    fn into_status_body(self) -> (StatusCode, Value) {
        (self.0, self.2)
    }
}

fn smm_id(o: &Value) -> i64 {
    o["smm_panel_order_id"].as_str().and_then(|s| s.parse().ok()).expect("smm order id")
}

async fn the_form_has_exactly_the_right_fields(h: Harness) {
    let s = &h.server;
    let followers = service(s, "1", 1000, json!({"dripfeed": true})).await;
    let comments = service(s, "2", 8000, json!({"type": "Custom Comments", "min_quantity": 1})).await;
    let token = customer(s, "ann", 1_000_000).await;

    let (status, b) = place(
        s,
        &token,
        json!({"service_id": followers, "link": "https://instagram.com/ann", "quantity": 150}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(
        (b["price"].as_i64(), b["final_price"].as_i64(), b["status"].as_str()),
        (Some(150), Some(150), Some("pending"))
    );
    assert!(b["smm_panel_order_id"].is_null());
    let o = settled(s, b["order_id"].as_i64().expect("id")).await;
    assert_eq!(o["status"], "in_progress", "{o}");
    assert_eq!(o["status_label"], "주문 실행중");
    let adds = h.smm.requests_for("add");
    assert_eq!(adds.len(), 1);
    assert!(adds[0].is_form(), "form-encoded, not JSON");
    let keys: Vec<&str> = adds[0].form.keys().map(String::as_str).collect();
    assert_eq!(keys, ["action", "key", "link", "quantity", "service"], "no runs/interval on a plain order");
    assert_eq!(adds[0].get("key"), Some(FAKE_KEY));
    assert_eq!((adds[0].get("service"), adds[0].get("quantity")), (Some("1"), Some("150")));
    assert_eq!(o["smm_panel_order_id"].as_str().map(str::to_owned), Some(h.smm.orders()[0].id.to_string()));

    // Drip-feed: quantity per run, runs and interval sent; priced on quantity × runs.
    let (status, b) = place(
        s,
        &token,
        json!({"service_id": followers, "link": "https://instagram.com/ann2", "quantity": 100, "runs": 10, "interval": 60}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["price"], 1000);
    settled(s, b["order_id"].as_i64().expect("id")).await;
    let add = h.smm.requests_for("add").pop().expect("drip add");
    assert_eq!(
        (add.get("quantity"), add.get("runs"), add.get("interval")),
        (Some("100"), Some("10"), Some("60"))
    );

    // Custom comments: the comments, no quantity; the count is the quantity.
    let (status, b) =
        place(s, &token, json!({"service_id": comments, "link": "https://instagram.com/p/x", "comments": "멋져요\r\n최고\n\nnice"})).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["price"], 24, "3 comments at 8000 per 1000");
    settled(s, b["order_id"].as_i64().expect("id")).await;
    let add = h.smm.requests_for("add").pop().expect("comments add");
    let keys: Vec<&str> = add.form.keys().map(String::as_str).collect();
    assert_eq!(keys, ["action", "comments", "key", "link", "service"]);
    assert_eq!(add.get("comments"), Some("멋져요\n최고\n\nnice"));
    s.assert_ledger_consistent().await;
}

async fn a_timeout_after_the_panel_took_it_is_unknown_and_never_resent(h: Harness) {
    let s = &h.server;
    let svc = service(s, "1", 1000, json!({})).await;
    let token = customer(s, "bob", 10_000).await;
    h.smm.push_fault("add", Fault::Delay(Duration::from_millis(1500)));
    let (status, b) =
        place(s, &token, json!({"service_id": svc, "link": "https://instagram.com/bob", "quantity": 1000}))
            .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let id = b["order_id"].as_i64().expect("id");
    let o = settled(s, id).await;
    assert_eq!(o["status"], "unknown", "{o}");
    assert!(h.smm.wait_for_orders(1, Duration::from_secs(3)).await, "the fake created it after all");
    // Nothing resends it: not the cron, not the sync.
    for _ in 0..3 {
        let (st, _, _) = s
            .raw(
                Method::POST,
                "/api/cron/process-scheduled-orders",
                &[("x-cron-token", common::CRON_TOKEN)],
                "",
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        sync(s).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(h.smm.requests_for("add").len(), 1, "no second add ever reaches the panel");
    assert_eq!(s.points(&token).await, 9_000, "charged once, not refunded");
    let (_, list) = s.call(Method::GET, "/api/admin/orders?status=unknown", Auth::Admin, None).await;
    assert_eq!(list["total"], 1);
    // The operator finds it upstream and resolves it.
    let upstream = h.smm.orders()[0].id.to_string();
    let (status, b) = s
        .call(
            Method::POST,
            &format!("/api/admin/orders/{id}/resolve"),
            Auth::Admin,
            Some(json!({"smm_panel_order_id": upstream})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(
        (b["order"]["status"].as_str(), b["order"]["smm_panel_order_id"].as_str()),
        (Some("in_progress"), Some(upstream.as_str()))
    );
    let (status, _) = s
        .call(
            Method::POST,
            &format!("/api/admin/orders/{id}/resolve"),
            Auth::Admin,
            Some(json!({"action": "fail"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "resolved once");
    s.assert_ledger_consistent().await;
}

async fn dropped_connections_and_garbage_are_unknown(h: Harness) {
    let s = &h.server;
    let svc = service(s, "1", 1000, json!({})).await;
    let token = customer(s, "cid", 100_000).await;
    let faults = [
        Fault::CommitThenDrop,
        Fault::DropConnection,
        Fault::Http { status: 502, content_type: "text/html", body: "<html>Bad gateway</html>".into() },
        Fault::Raw(String::new()),
        Fault::Raw("{\"order\":".into()),
    ];
    let n = faults.len();
    for (i, f) in faults.into_iter().enumerate() {
        h.smm.push_fault("add", f);
        let (status, b) = place(
            s,
            &token,
            json!({"service_id": svc, "link": format!("https://instagram.com/c{i}"), "quantity": 100}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{b}");
        let o = settled(s, b["order_id"].as_i64().expect("id")).await;
        assert_eq!(o["status"], "unknown", "fault {i}: {o}");
    }
    let (_, _, _) = s
        .raw(
            Method::POST,
            "/api/cron/process-scheduled-orders",
            &[("x-admin-token", common::ADMIN_TOKEN)],
            "",
        )
        .await;
    assert_eq!(h.smm.requests_for("add").len(), n, "each sent once, none resent");
    assert_eq!(h.smm.order_count(), 1, "only CommitThenDrop created one");
    // The operator fails one: refunded in full, once.
    let (_, list) = s.call(Method::GET, "/api/admin/orders?status=unknown&limit=1", Auth::Admin, None).await;
    let id = list["orders"][0]["order_id"].as_i64().expect("id");
    let (status, b) = s
        .call(
            Method::POST,
            &format!("/api/admin/orders/{id}/resolve"),
            Auth::Admin,
            Some(json!({"action": "fail"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(
        (b["order"]["status"].as_str(), b["order"]["refunded_amount"].as_i64()),
        (Some("failed"), Some(100))
    );
    assert_eq!(s.points(&token).await, 100_000 - 100 * (n as i64 - 1));
    s.assert_ledger_consistent().await;
}

async fn a_partial_refunds_pro_rata_once(h: Harness) {
    let s = &h.server;
    let svc = service(s, "1", 999, json!({})).await;
    let token = customer(s, "dan", 10_000).await;
    let (_, b) =
        place(s, &token, json!({"service_id": svc, "link": "https://instagram.com/dan", "quantity": 3000}))
            .await;
    assert_eq!(b["price"], 2997);
    let id = b["order_id"].as_i64().expect("id");
    let o = settled(s, id).await;
    let upstream = smm_id(&o);
    h.smm.set_status(upstream, "In progress", 2000);
    let r = sync(s).await;
    assert_eq!((r["processed"].as_i64(), r["settled"].as_i64()), (Some(1), Some(0)));
    assert_eq!(order(s, id).await["remains"], 2000);
    h.smm.set_status(upstream, "Partial", 1001);
    let r = sync(s).await;
    assert_eq!(r["settled"], 1);
    let o = order(s, id).await;
    // floor(2997 × 1001 / 3000) = 999
    assert_eq!((o["status"].as_str(), o["refunded_amount"].as_i64()), (Some("partial"), Some(999)), "{o}");
    assert_eq!(s.points(&token).await, 10_000 - 2997 + 999);
    // A replayed sync refunds nothing more.
    let r = sync(s).await;
    assert_eq!(r["processed"], 0);
    assert_eq!(s.points(&token).await, 10_000 - 2997 + 999);
    let (_, ledger) =
        s.call(Method::GET, "/api/admin/transactions?user_id=dan&kind=order_refund", Auth::Admin, None).await;
    assert_eq!(ledger["total"], 1);
    s.assert_ledger_consistent().await;
}

async fn a_cancel_refunds_in_full(h: Harness) {
    let s = &h.server;
    let svc = service(s, "1", 1000, json!({})).await;
    let token = customer(s, "eve", 5_000).await;
    let (_, b) =
        place(s, &token, json!({"service_id": svc, "link": "https://instagram.com/eve", "quantity": 1234}))
            .await;
    let id = b["order_id"].as_i64().expect("id");
    let upstream = smm_id(&settled(s, id).await);
    h.smm.set_numbers_as_ints(true);
    h.smm.set_status(upstream, "Canceled", 1234);
    sync(s).await;
    let o = order(s, id).await;
    assert_eq!(
        (o["status"].as_str(), o["refunded_amount"].as_i64(), o["status_label"].as_str()),
        (Some("canceled"), Some(1234), Some("주문 미처리"))
    );
    assert_eq!(s.points(&token).await, 5_000);
    // Completed orders are not touched again.
    let (_, b) =
        place(s, &token, json!({"service_id": svc, "link": "https://instagram.com/eve2", "quantity": 100}))
            .await;
    let id2 = b["order_id"].as_i64().expect("id");
    h.smm.set_status(smm_id(&settled(s, id2).await), "Completed", 0);
    sync(s).await;
    assert_eq!(order(s, id2).await["status"], "completed");
    assert_eq!(s.points(&token).await, 4_900);
    s.assert_ledger_consistent().await;
}

async fn a_definitive_rejection_fails_and_refunds(h: Harness) {
    let s = &h.server;
    let missing = service(s, "999", 1000, json!({})).await; // the panel has no service 999
    let token = customer(s, "fay", 1_000).await;
    let (_, b) = place(
        s,
        &token,
        json!({"service_id": missing, "link": "https://instagram.com/fay", "quantity": 500}),
    )
    .await;
    let o = settled(s, b["order_id"].as_i64().expect("id")).await;
    assert_eq!((o["status"].as_str(), o["refunded_amount"].as_i64()), (Some("failed"), Some(500)), "{o}");
    assert!(o["error"].as_str().is_some_and(|e| e.contains("Incorrect service ID")));
    assert_eq!(s.points(&token).await, 1_000);
    s.assert_ledger_consistent().await;
}

async fn not_enough_funds_keeps_the_order_pending(h: Harness) {
    let s = &h.server;
    let svc = service(s, "1", 1000, json!({})).await;
    let token = customer(s, "gus", 1_000).await;
    h.smm.set_balance(0);
    let (_, b) =
        place(s, &token, json!({"service_id": svc, "link": "https://instagram.com/gus", "quantity": 500}))
            .await;
    let id = b["order_id"].as_i64().expect("id");
    let o = settled(s, id).await;
    assert_eq!(o["status"], "pending", "{o}");
    assert!(o["error"].as_str().is_some_and(|e| e.contains("Not enough funds")));
    assert_eq!(s.points(&token).await, 500, "still charged: it will be retried");
    // The retry is not due yet: the cron sends nothing.
    let (_, _, r) = s
        .raw(Method::POST, "/api/cron/process-scheduled-orders", &[("x-cron-token", common::CRON_TOKEN)], "")
        .await;
    assert_eq!(r["processed"], 0);
    assert_eq!(h.smm.requests_for("add").len(), 1);
    // The owner may cancel while it waits: refunded in full, once.
    let (status, b) =
        s.call(Method::POST, &format!("/api/orders/{id}/cancel"), Auth::Bearer(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(
        (b["order"]["status"].as_str(), b["order"]["refunded_amount"].as_i64()),
        (Some("canceled"), Some(500))
    );
    let (status, b) =
        s.call(Method::POST, &format!("/api/orders/{id}/cancel"), Auth::Bearer(&token), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error_body(&b, "invalid_transition");
    assert_eq!(s.points(&token).await, 1_000);
    s.assert_ledger_consistent().await;
}

async fn bad_orders_charge_nothing(h: Harness) {
    let s = &h.server;
    let plain = service(s, "5", 1000, json!({"dripfeed": false})).await;
    let inactive = service(s, "1", 1000, json!({"is_active": false})).await;
    let token = customer(s, "hal", 10_000).await;
    let other = customer(s, "ian", 0).await;
    let link = "https://instagram.com/hal";
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({"service_id": 424242, "link": link, "quantity": 100}), 400, "invalid_service"),
        (json!({"service_id": inactive, "link": link, "quantity": 100}), 400, "invalid_service"),
        (json!({"link": link, "quantity": 100}), 400, "missing_field"),
        (json!({"service_id": plain, "link": link, "quantity": 9}), 400, "invalid_quantity"),
        (json!({"service_id": plain, "link": link, "quantity": 100001}), 400, "invalid_quantity"),
        (json!({"service_id": plain, "link": link}), 400, "missing_field"),
        (
            json!({"service_id": plain, "link": link, "quantity": 100, "runs": 5, "interval": 60}),
            400,
            "dripfeed_not_supported",
        ),
        (json!({"service_id": plain, "link": "not a link", "quantity": 100}), 400, "invalid_link"),
        (json!({"service_id": plain, "link": "javascript:alert(1)", "quantity": 100}), 400, "invalid_link"),
        (json!({"service_id": plain, "quantity": 100}), 400, "invalid_link"),
        (json!({"service_id": plain, "link": link, "quantity": "100"}), 400, "invalid_type"),
        (json!({"service_id": [1], "link": link, "quantity": 100}), 400, "invalid_id"),
        (json!({"service_id": plain, "link": link, "quantity": -5}), 400, "invalid_quantity"),
        (json!({"service_id": plain, "link": link, "quantity": 100, "price": 1}), 409, "price_changed"),
        (json!({"service_id": plain, "link": link, "quantity": 100, "user_id": "ian"}), 403, "forbidden"),
        (json!({"service_id": plain, "link": link, "quantity": 100000}), 400, "insufficient_points"),
    ];
    for (body, want, code) in cases {
        let (status, b) = place(s, &token, body.clone()).await;
        assert_eq!(status.as_u16(), want, "{body}: {b}");
        assert_error_body(&b, code);
        if code == "price_changed" {
            assert_eq!(b["expected_price"], 100);
        }
    }
    let (status, _, b) = s
        .raw(
            Method::POST,
            "/api/orders",
            &[("authorization", &format!("Bearer {token}"))],
            b"{\"service_id\": \xff}".to_vec(),
        )
        .await;
    assert_eq!((status, b["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_json")));
    assert_eq!(s.points(&token).await, 10_000, "nothing charged");
    assert_eq!(s.points(&other).await, 0);
    let (_, list) = s.call(Method::GET, "/api/admin/orders", Auth::Admin, None).await;
    assert_eq!(list["total"], 0, "no order recorded");
    assert!(h.smm.requests_for("add").is_empty());
    // The right price is accepted, and an idempotent retry places it once.
    let bearer = format!("Bearer {token}");
    let headers = [("authorization", bearer.as_str()), ("idempotency-key", "place-1")];
    let body = json!({"service_id": plain, "link": link, "quantity": 100, "price": 100}).to_string();
    let (s1, _, b1) = s.raw(Method::POST, "/api/orders", &headers, body.clone()).await;
    let (s2, h2, b2) = s.raw(Method::POST, "/api/orders", &headers, body).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK), "{b1} {b2}");
    assert_eq!(b1["order_id"], b2["order_id"]);
    assert_eq!(h2.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    assert_eq!(s.points(&token).await, 9_900);
    s.assert_ledger_consistent().await;
}

async fn operator_transitions_are_checked(h: Harness) {
    let s = &h.server;
    let svc = service(s, "1", 1000, json!({})).await;
    let token = customer(s, "jay", 10_000).await;
    let other = customer(s, "kim", 0).await;
    let (_, b) =
        place(s, &token, json!({"service_id": svc, "link": "https://instagram.com/jay", "quantity": 1000}))
            .await;
    let id = b["order_id"].as_i64().expect("id");
    settled(s, id).await;
    // Others cannot see it, nor set statuses.
    let (status, _) = s.call(Method::GET, &format!("/api/orders/{id}"), Auth::Bearer(&other), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s
        .call(
            Method::PUT,
            &format!("/api/orders/{id}/status"),
            Auth::Bearer(&token),
            Some(json!({"status": "canceled"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, b) = s
        .call(
            Method::PUT,
            &format!("/api/orders/{id}/status"),
            Auth::Admin,
            Some(json!({"status": "partial"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error_body(&b, "invalid_transition");
    let (status, b) = s
        .call(Method::PUT, &format!("/api/orders/{id}/status"), Auth::Admin, Some(json!({"status": "bogus"})))
        .await;
    assert_eq!((status, b["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_status")));
    let (status, b) = s
        .call(
            Method::PUT,
            &format!("/api/orders/{id}/status"),
            Auth::Admin,
            Some(json!({"status": "canceled"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["order"]["refunded_amount"], 1000);
    let (status, _) = s
        .call(
            Method::PUT,
            &format!("/api/orders/{id}/status"),
            Auth::Admin,
            Some(json!({"status": "failed"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "a terminal order stays as it is");
    let (status, _) =
        s.call(Method::POST, &format!("/api/orders/{id}/cancel"), Auth::Bearer(&token), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(s.points(&token).await, 10_000, "refunded once");
    let (status, list) = s.call(Method::GET, "/api/orders", Auth::Bearer(&token), None).await;
    assert_eq!((status, list["orders"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)));
    let (status, _) = s.call(Method::GET, "/api/orders?user_id=jay", Auth::Bearer(&other), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, log) = s.call(Method::GET, "/api/admin/audit-log", Auth::Admin, None).await;
    assert!(log["entries"].as_array().expect("entries").iter().any(|e| e["action"] == "orders.set_status"));
    s.assert_ledger_consistent().await;
}

async fn the_catalogue_is_managed_and_imported(h: Harness) {
    let s = &h.server;
    let (status, b) = s
        .call(
            Method::POST,
            "/api/admin/services/import",
            Auth::Admin,
            Some(json!({"usd_krw": 1400, "markup_bps": 5000})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let listed = h.smm.services().len() as i64;
    assert_eq!((b["inserted"].as_i64(), b["updated"].as_i64()), (Some(listed), Some(0)));
    let (_, b) = s
        .call(
            Method::POST,
            "/api/admin/services/import",
            Auth::Admin,
            Some(json!({"usd_krw": 1500, "markup_bps": 0})),
        )
        .await;
    assert_eq!((b["inserted"].as_i64(), b["updated"].as_i64()), (Some(0), Some(listed)));
    let (_, all) = s.call(Method::GET, "/api/admin/services?limit=200", Auth::Admin, None).await;
    let first = all["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["provider_service_id"] == "1")
        .cloned()
        .expect("service 1");
    // rate 0.90 USD × 1500 = 1350 per 1000
    assert_eq!(first["price_per_1000"], 1350);
    assert_eq!(first["dripfeed"], true);
    let id = first["service_id"].as_i64().expect("id");
    let (status, b) = s
        .call(
            Method::PUT,
            &format!("/api/admin/services/{id}"),
            Auth::Admin,
            Some(json!({"price_per_1000": 2000, "name": "팔로워"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(
        (b["service"]["price_per_1000"].as_i64(), b["service"]["min_quantity"].as_i64()),
        (Some(2000), Some(10))
    );
    let (status, _) = s.call(Method::DELETE, &format!("/api/admin/services/{id}"), Auth::Admin, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, public) = s.call(Method::GET, "/api/smm-panel/services", Auth::None, None).await;
    assert_eq!(status, StatusCode::OK);
    let public = public["services"].as_array().expect("services");
    assert_eq!(public.len() as i64, listed - 1, "the deactivated one is hidden");
    assert!(public.iter().all(|s| s.get("provider_service_id").is_none()), "no upstream ids");
    let (status, b) = s.call(Method::POST, "/api/admin/services", Auth::Admin, Some(json!({"provider_service_id": "1", "name": "dup", "price_per_1000": 1, "min_quantity": 1, "max_quantity": 2}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{b}");
    let (status, b) = s.call(Method::POST, "/api/admin/services", Auth::Admin, Some(json!({"provider_service_id": "77", "name": "bad", "price_per_1000": 1, "min_quantity": 5, "max_quantity": 2}))).await;
    assert_eq!((status, b["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_quantity")));
    let (status, _) = s.call(Method::GET, "/api/admin/services/99999", Auth::Admin, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.call(Method::GET, "/api/admin/services", Auth::None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn check_status_and_the_proxy(h: Harness) {
    let s = &h.server;
    let svc = service(s, "1", 1000, json!({})).await;
    let token = customer(s, "leo", 10_000).await;
    let (_, b) =
        place(s, &token, json!({"service_id": svc, "link": "https://instagram.com/leo", "quantity": 100}))
            .await;
    let id = b["order_id"].as_i64().expect("id");
    h.smm.set_status(smm_id(&settled(s, id).await), "Completed", 0);
    let (status, b) = s
        .call(
            Method::POST,
            "/api/orders/check-status",
            Auth::Bearer(&token),
            Some(json!({"order_ids": [id, 987654]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["orders"][0]["status"], "completed");
    assert_eq!(b["orders"].as_array().map(Vec::len), Some(1), "unknown ids are left out");
    let (status, _) = s
        .call(Method::POST, "/api/orders/check-status", Auth::Bearer(&token), Some(json!({"order_ids": []})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // The proxy is the admin's only.
    let (status, _) = s
        .call(Method::POST, "/api/smm-panel", Auth::Bearer(&token), Some(json!({"action": "balance"})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, b) =
        s.call(Method::POST, "/api/smm-panel", Auth::Admin, Some(json!({"action": "balance"}))).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert!(b["data"]["balance"].is_string());
    let (status, b) = s.call(Method::GET, "/api/smm-panel/test", Auth::Admin, None).await;
    assert_eq!((status, b["currency"].as_str()), (StatusCode::OK, Some("USD")));
    let (status, b) =
        s.call(Method::POST, "/api/smm-panel", Auth::Admin, Some(json!({"action": "drop-tables"}))).await;
    assert_eq!((status, b["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_action")));
    h.smm.push_fault(
        "balance",
        Fault::Http { status: 503, content_type: "text/html", body: "<html>down</html>".into() },
    );
    let (status, b) = s.call(Method::GET, "/api/smm-panel/test", Auth::Admin, None).await;
    assert_eq!((status, b["code"].as_str()), (StatusCode::BAD_GATEWAY, Some("upstream_error")));
}

async fn status_sync_asks_one_hundred_at_a_time(h: Harness) {
    let s = &h.server;
    let svc = service(s, "1", 10, json!({})).await;
    let token = customer(s, "max", 1_000_000).await;
    let mut ids = Vec::new();
    for i in 0..250 {
        let (status, b) = place(
            s,
            &token,
            json!({"service_id": svc, "link": format!("https://x.com/{i}"), "quantity": 100}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{b}");
        ids.push(b["order_id"].as_i64().expect("id"));
    }
    assert!(h.smm.wait_for_orders(250, Duration::from_secs(20)).await);
    for id in &ids {
        settled(s, *id).await;
    }
    // Every 5th completes upstream.
    for o in h.smm.orders().iter().step_by(5) {
        h.smm.set_status(o.id, "Completed", 0);
    }
    let before = h.smm.requests_for("status").len();
    let r = sync(s).await;
    assert_eq!(
        (r["processed"].as_i64(), r["settled"].as_i64(), r["calls"].as_i64()),
        (Some(250), Some(50), Some(3))
    );
    let calls = h.smm.requests_for("status");
    assert_eq!(calls.len() - before, 3, "250 orders in 3 calls");
    assert!(calls.iter().all(|c| c.get("orders").is_some_and(|o| o.split(',').count() <= 100)));
    // The next round asks about the 200 still running, least recently checked first.
    let r = sync(s).await;
    assert_eq!((r["processed"].as_i64(), r["calls"].as_i64()), (Some(200), Some(2)));
}
