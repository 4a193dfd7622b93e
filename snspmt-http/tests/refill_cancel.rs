//! Refill and cancel of orders already at the upstream (issue 14), against the fake SMM panel
//! with a clock the test moves, on SQLite and PostgreSQL: who may ask for a refill and when
//! (the service's flag, the order's state, the window, one in flight, at most 3, the cooldown),
//! refill states synced in batches, a cancel forwarded with no money moved until the panel
//! reports `Canceled` (one full refund) or `Partial` (one pro-rata refund), and the local cancel
//! of an order not at the upstream yet.

mod common;

use std::sync::Arc;
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use snspmt_http::clock::ManualClock;

use common::fake_smm::{default_services, FakeService};
use common::{assert_error_body, Auth, Backend, Harness, TestServer, ADMIN_TOKEN};

on_each_backend!(
    refills_follow_the_rules,
    a_refused_refill_is_kept_as_failed_and_does_not_count,
    refill_statuses_are_synced_in_batches,
    a_forwarded_cancel_refunds_only_when_the_upstream_says_so,
    a_partial_after_a_cancel_refunds_pro_rata_once,
    a_cancel_before_the_upstream_is_still_local,
    cancels_that_are_refused,
);

/// 2026-11-27 00:00 UTC (09:00 KST).
const START: i64 = 1_795_737_600_000;
const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;

async fn harness(backend: Backend, test: &str) -> Option<(Harness, Arc<ManualClock>)> {
    Harness::with_clock(backend, test, START).await
}

/// A service on the fake's service `provider` at 1,000 points per 1,000 (1 point a unit), with
/// our `refill` and `cancel` flags.
async fn service(s: &TestServer, provider: &str, refill: bool, cancel: bool) -> i64 {
    let body = json!({"provider_service_id": provider, "name": format!("svc {provider}"), "price_per_1000": 1000,
                      "min_quantity": 10, "max_quantity": 100000, "refill": refill, "cancel": cancel});
    let (status, b) = s.call(Method::POST, "/api/admin/services", Auth::Admin, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b["service"]["service_id"].as_i64().expect("id")
}

async fn customer(s: &TestServer, user_id: &str, points: i64) -> String {
    let token = s.register(user_id).await;
    if points > 0 {
        assert_eq!(s.adjust(user_id, points).await.0, StatusCode::OK);
    }
    token
}

async fn order(s: &TestServer, id: i64) -> Value {
    let (status, b) = s.call(Method::GET, &format!("/api/orders/{id}"), Auth::Admin, None).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b["order"].clone()
}

/// Places an order of `quantity` on `svc` and waits until the panel took it; answers our id and
/// the panel's.
async fn running(s: &TestServer, token: &str, svc: i64, quantity: i64) -> (i64, i64) {
    let body = json!({"service_id": svc, "link": "https://instagram.com/x", "quantity": quantity});
    let (status, b) = s.call(Method::POST, "/api/orders", Auth::Bearer(token), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let id = b["order_id"].as_i64().expect("id");
    for _ in 0..250 {
        let o = order(s, id).await;
        if o["status"] == "in_progress" {
            let upstream = o["smm_panel_order_id"].as_str().and_then(|v| v.parse().ok()).expect("panel id");
            return (id, upstream);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("order {id} never reached the panel: {}", order(s, id).await);
}

async fn sync(s: &TestServer) -> Value {
    let (status, _, b) =
        s.raw(Method::POST, "/api/cron/sync-order-status", &[("x-admin-token", ADMIN_TOKEN)], "").await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b
}

/// A running order the panel completed, synced: answers our id and the panel's.
async fn completed(h: &Harness, token: &str, svc: i64) -> (i64, i64) {
    let (id, upstream) = running(&h.server, token, svc, 100).await;
    h.smm.set_status(upstream, "Completed", 0);
    sync(&h.server).await;
    assert_eq!(order(&h.server, id).await["status"], "completed");
    (id, upstream)
}

async fn refill(s: &TestServer, token: &str, id: i64) -> (StatusCode, Value) {
    s.call(Method::POST, &format!("/api/orders/{id}/refill"), Auth::Bearer(token), None).await
}

async fn cancel(s: &TestServer, token: &str, id: i64) -> (StatusCode, Value) {
    s.call(Method::POST, &format!("/api/orders/{id}/cancel"), Auth::Bearer(token), None).await
}

/// The order's refills and cancel requests as the admin reads them.
async fn history(s: &TestServer, id: i64) -> Value {
    let (status, b) = s.call(Method::GET, &format!("/api/orders/{id}/refills"), Auth::Admin, None).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b
}

/// How many `order_refund` rows `user` has.
async fn refunds(s: &TestServer, user: &str) -> i64 {
    let path = format!("/api/admin/transactions?user_id={user}&kind=order_refund");
    let (_, ledger) = s.call(Method::GET, &path, Auth::Admin, None).await;
    ledger["total"].as_i64().expect("total")
}

async fn refills_follow_the_rules(backend: Backend) {
    let Some((h, clock)) = harness(backend, "refills_follow_the_rules").await else { return };
    let s = &h.server;
    let refillable = service(s, "1", true, true).await;
    let plain = service(s, "5", false, false).await;
    let token = customer(s, "rae", 10_000).await;
    let other = customer(s, "oz", 0).await;

    // Running: not yet.
    let (id, upstream) = running(s, &token, refillable, 100).await;
    let (status, b) = refill(s, &token, id).await;
    assert_eq!(status, StatusCode::CONFLICT, "{b}");
    assert_error_body(&b, "refill_not_available");
    // A service without refill: never.
    let (plain_id, _) = completed(&h, &token, plain).await;
    let (status, b) = refill(s, &token, plain_id).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error_body(&b, "refill_not_available");

    h.smm.set_status(upstream, "Completed", 0);
    sync(s).await;
    // Someone else's order does not exist for them.
    let (status, b) = refill(s, &other, id).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{b}");
    let (status, b) = refill(s, &token, id).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(
        (b["refill"]["state"].as_str(), b["refill"]["status"].as_str()),
        (Some("pending"), Some("Pending"))
    );
    assert!(b["refill"].get("smm_refill_id").is_none(), "the customer never sees upstream ids: {b}");
    let first = h.smm.refills();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].order, upstream);
    let sent = h.smm.requests_for("refill");
    assert_eq!(sent[0].get("order"), Some(upstream.to_string().as_str()));
    // One in flight.
    let (status, b) = refill(s, &token, id).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error_body(&b, "refill_in_progress");
    h.smm.set_refill_status(first[0].id, "Completed");
    sync(s).await;
    let hist = history(s, id).await;
    assert_eq!(hist["refills"][0]["state"], "completed", "{hist}");
    assert_eq!(hist["refills"][0]["smm_refill_id"], first[0].id.to_string());
    // The cooldown (a day by default) runs from the last refill.
    let (status, b) = refill(s, &token, id).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error_body(&b, "refill_cooldown");
    assert!(b["retry_at"].as_i64().is_some_and(|t| t > START), "{b}");
    for n in 2..=3 {
        clock.advance(DAY);
        let (status, b) = refill(s, &token, id).await;
        assert_eq!(status, StatusCode::OK, "refill {n}: {b}");
        let fake = h.smm.refills().last().map(|r| r.id).expect("refill");
        h.smm.set_refill_status(fake, if n == 3 { "Rejected" } else { "Completed" });
        sync(s).await;
    }
    let hist = history(s, id).await;
    let states: Vec<&str> =
        hist["refills"].as_array().expect("refills").iter().filter_map(|r| r["state"].as_str()).collect();
    assert_eq!(states, ["completed", "completed", "rejected"]);
    // At most three per order.
    clock.advance(DAY);
    let (status, b) = refill(s, &token, id).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error_body(&b, "refill_limit_reached");
    // The window: 30 days after the order ended.
    let (late, _) = completed(&h, &token, refillable).await;
    clock.advance(30 * DAY + MINUTE);
    // (The customer's session has expired by now: the admin asks.)
    let (status, b) = s.call(Method::POST, &format!("/api/orders/{late}/refill"), Auth::Admin, None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error_body(&b, "refill_window_closed");
    assert_eq!(h.smm.refills().len(), 3, "nothing refused reached the panel");
    // An admin may ask for a customer's order, and sees the upstream's side.
    let newcomer = customer(s, "ria", 1_000).await;
    let (fresh, _) = completed(&h, &newcomer, refillable).await;
    let (status, b) = s.call(Method::POST, &format!("/api/orders/{fresh}/refill"), Auth::Admin, None).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert!(b["refill"]["smm_refill_id"].is_string(), "{b}");
    // Refills move no money.
    let balance = s.store.balance("rae").await.expect("balance");
    assert_eq!(balance, Some(snspmt_core::Points(10_000 - 3 * 100)));
    s.assert_ledger_consistent().await;
}

async fn a_refused_refill_is_kept_as_failed_and_does_not_count(backend: Backend) {
    let Some((h, _clock)) = harness(backend, "a_refused_refill").await else { return };
    let s = &h.server;
    // Our catalogue says refill; the panel's service 5 has none.
    let svc = service(s, "5", true, false).await;
    let token = customer(s, "ray", 1_000).await;
    let (id, _) = completed(&h, &token, svc).await;
    for _ in 0..2 {
        let (status, b) = refill(s, &token, id).await;
        assert_eq!(status, StatusCode::CONFLICT, "{b}");
        assert_error_body(&b, "refill_refused");
    }
    let hist = history(s, id).await;
    let refills = hist["refills"].as_array().expect("refills");
    assert_eq!(refills.len(), 2, "a refused request neither blocks nor cools down: {hist}");
    assert!(refills.iter().all(|r| r["state"] == "failed" && r["status"] == "Rejected"), "{hist}");
    assert_eq!(refills[0]["error"], "Refill is disabled for this service");
    let (status, b) =
        s.call(Method::GET, &format!("/api/orders/{id}/refills"), Auth::Bearer(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(b["refills"][0].get("error").is_none(), "the customer never sees the panel's text: {b}");
    assert!(h.smm.refills().is_empty());
    assert_eq!(s.points(&token).await, 900);
    s.assert_ledger_consistent().await;
}

async fn refill_statuses_are_synced_in_batches(backend: Backend) {
    let Some((h, _clock)) = harness(backend, "refill_statuses_synced").await else { return };
    let s = &h.server;
    let svc = service(s, "1", true, true).await;
    let token = customer(s, "rex", 10_000).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (id, _) = completed(&h, &token, svc).await;
        let (status, b) = refill(s, &token, id).await;
        assert_eq!(status, StatusCode::OK, "{b}");
        ids.push(id);
    }
    let fake: Vec<i64> = h.smm.refills().iter().map(|r| r.id).collect();
    h.smm.set_refill_status(fake[0], "In progress");
    h.smm.set_refill_status(fake[1], "Completed");
    let before = h.smm.requests_for("refill_status").len();
    let r = sync(s).await;
    let asked = h.smm.requests_for("refill_status");
    assert_eq!(asked.len(), before + 1, "one call for the three: {r}");
    let list = asked.last().and_then(|a| a.get("refills")).expect("refills=").to_owned();
    assert_eq!(list.split(',').count(), 3, "{list}");
    let states: Vec<Value> = refill_states(s, &ids).await;
    assert_eq!(states, [json!("in_progress"), json!("completed"), json!("pending")]);
    // The ended one is no longer asked about.
    sync(s).await;
    let list = h
        .smm
        .requests_for("refill_status")
        .last()
        .and_then(|a| a.get("refills"))
        .expect("refills=")
        .to_owned();
    assert_eq!(list.split(',').count(), 2, "{list}");
}

async fn refill_states(s: &TestServer, ids: &[i64]) -> Vec<Value> {
    let mut out = Vec::new();
    for id in ids {
        out.push(history(s, *id).await["refills"][0]["state"].clone());
    }
    out
}

async fn a_forwarded_cancel_refunds_only_when_the_upstream_says_so(backend: Backend) {
    let Some((h, _clock)) = harness(backend, "forwarded_cancel").await else { return };
    let s = &h.server;
    let svc = service(s, "1", true, true).await;
    let token = customer(s, "cat", 5_000).await;
    let (id, upstream) = running(s, &token, svc, 1234).await;
    assert_eq!(s.points(&token).await, 5_000 - 1234);

    let (status, b) = cancel(s, &token, id).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{b}");
    assert_eq!((b["success"].as_bool(), b["cancel_requested"].as_bool()), (Some(true), Some(true)), "{b}");
    assert_eq!(b["order"]["status"], "in_progress");
    assert_eq!(b["cancel"]["state"], "accepted");
    let cancels = h.smm.cancels();
    assert_eq!(cancels.len(), 1);
    assert_eq!(cancels[0].order, upstream);
    assert_eq!(s.points(&token).await, 5_000 - 1234, "no money moves on the request");
    // Asked twice: one request stands.
    let (status, b) = cancel(s, &token, id).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error_body(&b, "cancel_already_requested");
    // The panel still runs it: the sync refunds nothing.
    sync(s).await;
    assert_eq!(order(s, id).await["status"], "in_progress");
    assert_eq!(s.points(&token).await, 5_000 - 1234);
    // It reports Canceled: one full refund.
    h.smm.set_status(upstream, "Canceled", 1234);
    sync(s).await;
    let o = order(s, id).await;
    assert_eq!((o["status"].as_str(), o["refunded_amount"].as_i64()), (Some("canceled"), Some(1234)), "{o}");
    sync(s).await;
    assert_eq!(s.points(&token).await, 5_000);
    assert_eq!(refunds(s, "cat").await, 1, "refunded once");
    let hist = history(s, id).await;
    assert_eq!(hist["cancel_requests"][0]["state"], "accepted", "{hist}");
    let (status, b) = cancel(s, &token, id).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error_body(&b, "invalid_transition");
    s.assert_ledger_consistent().await;
}

async fn a_partial_after_a_cancel_refunds_pro_rata_once(backend: Backend) {
    let Some((h, _clock)) = harness(backend, "partial_after_cancel").await else { return };
    let s = &h.server;
    let svc = service(s, "1", false, true).await;
    let token = customer(s, "pia", 5_000).await;
    let (id, upstream) = running(s, &token, svc, 3000).await;
    let (status, b) = cancel(s, &token, id).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{b}");
    assert_eq!(s.points(&token).await, 2_000);
    h.smm.set_status(upstream, "Partial", 1001);
    sync(s).await;
    sync(s).await;
    let o = order(s, id).await;
    // floor(3000 × 1001 / 3000) = 1001
    assert_eq!((o["status"].as_str(), o["refunded_amount"].as_i64()), (Some("partial"), Some(1001)), "{o}");
    assert_eq!(s.points(&token).await, 2_000 + 1001);
    assert_eq!(refunds(s, "pia").await, 1);
    s.assert_ledger_consistent().await;
}

async fn a_cancel_before_the_upstream_is_still_local(backend: Backend) {
    let Some((h, _clock)) = harness(backend, "local_cancel").await else { return };
    let s = &h.server;
    // Even a service without cancel: the order never left.
    let svc = service(s, "5", false, false).await;
    let token = customer(s, "lou", 1_000).await;
    let body = json!({"service_id": svc, "link": "https://x.com/lou", "quantity": 500,
                      "scheduled_datetime": "2026-11-27 12:00"});
    let (status, b) = s.call(Method::POST, "/api/scheduled-orders", Auth::Bearer(&token), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let id = b["order_id"].as_i64().expect("id");
    assert_eq!(s.points(&token).await, 500);
    let (status, b) = cancel(s, &token, id).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(
        (b["order"]["status"].as_str(), b["order"]["refunded_amount"].as_i64()),
        (Some("canceled"), Some(500))
    );
    assert!(b.get("cancel_requested").is_none(), "{b}");
    assert_eq!(s.points(&token).await, 1_000);
    assert!(h.smm.cancels().is_empty() && h.smm.requests_for("cancel").is_empty());
    assert!(history(s, id).await["cancel_requests"].as_array().is_some_and(Vec::is_empty));
    s.assert_ledger_consistent().await;
}

async fn cancels_that_are_refused(backend: Backend) {
    let Some((h, _clock)) = harness(backend, "refused_cancels").await else { return };
    let s = &h.server;
    let mut services = default_services();
    services.push(FakeService { id: 6, name: "Plain".into(), ..services[4].clone() });
    h.smm.set_services(services);
    let fixed = service(s, "6", false, false).await;
    // Our catalogue says cancel; the panel's service 5 has none.
    let misflagged = service(s, "5", false, true).await;
    let token = customer(s, "kim", 10_000).await;
    let other = customer(s, "lee", 0).await;

    let (id, _) = running(s, &token, fixed, 100).await;
    let (status, b) = cancel(s, &token, id).await;
    assert_eq!(status, StatusCode::CONFLICT, "{b}");
    assert_error_body(&b, "cancel_not_available");
    let (status, _) = cancel(s, &other, id).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (id, _) = running(s, &token, misflagged, 100).await;
    let (status, b) = cancel(s, &token, id).await;
    assert_eq!(status, StatusCode::CONFLICT, "{b}");
    assert_error_body(&b, "cancel_refused");
    let hist = history(s, id).await;
    assert_eq!(hist["cancel_requests"][0]["state"], "failed", "{hist}");
    assert_eq!(hist["cancel_requests"][0]["error"], "Cancel is disabled for this service");
    assert_eq!(order(s, id).await["status"], "in_progress");

    // A package under way: its parts are separate upstream orders.
    let cancelable = service(s, "1", false, true).await;
    let steps = json!([{"service_id": cancelable, "quantity": 100, "repeat": 2, "delay_minutes": 10}]);
    let (status, p) = s
        .call(
            Method::POST,
            "/api/admin/packages",
            Auth::Admin,
            Some(json!({"name": "p", "price": 200, "steps": steps})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    let package_id = p["package"]["package_id"].as_i64().expect("id");
    let body = json!({"package_id": package_id, "link": "https://x.com/kim"});
    let (status, o) = s.call(Method::POST, "/api/orders", Auth::Bearer(&token), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{o}");
    let pid = o["order_id"].as_i64().expect("id");
    for _ in 0..250 {
        if order(s, pid).await["status"] == "processing" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, b) = cancel(s, &token, pid).await;
    assert_eq!(status, StatusCode::CONFLICT, "{b}");
    assert_error_body(&b, "cancel_multipart");

    assert!(h.smm.cancels().is_empty());
    assert_eq!(s.points(&token).await, 10_000 - 200 - 200);
    assert_eq!(refunds(s, "kim").await, 0);
    s.assert_ledger_consistent().await;
}
