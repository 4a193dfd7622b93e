//! Packages and split delivery against the fake SMM panel with a clock the test moves, on
//! SQLite and PostgreSQL: every part sent once, in order, each after its delay; each part
//! settles and refunds its own share.

mod common;

use std::sync::Arc;
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use snspmt_http::clock::ManualClock;

use common::fake_smm::Fault;
use common::{assert_error_body, Auth, Backend, Harness, TestServer, ADMIN_TOKEN};

const START: i64 = 1_795_737_600_000;
const MINUTE: i64 = 60_000;

async fn harness(backend: Backend, test: &str) -> Option<(Harness, Arc<ManualClock>)> {
    Harness::with_clock(backend, test, START).await
}

async fn service(s: &TestServer, provider: &str) -> i64 {
    let body = json!({"provider_service_id": provider, "name": format!("svc {provider}"), "price_per_1000": 1000,
                      "min_quantity": 10, "max_quantity": 100000});
    let (status, b) = s.call(Method::POST, "/api/admin/services", Auth::Admin, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b["service"]["service_id"].as_i64().expect("id")
}

async fn cron(s: &TestServer, path: &str) -> i64 {
    let (status, _, b) = s.raw(Method::POST, path, &[("x-admin-token", ADMIN_TOKEN)], "").await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b["processed"].as_i64().expect("processed")
}

async fn steps(s: &TestServer) -> i64 {
    cron(s, "/api/cron/process-package-steps").await
}

async fn progress(s: &TestServer, id: i64) -> Value {
    let (status, b) =
        s.call(Method::GET, &format!("/api/orders/{id}/package-progress"), Auth::Admin, None).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b
}

async fn wait_adds(h: &Harness, n: usize) {
    assert!(h.smm.wait_for_requests("add", n, Duration::from_secs(5)).await, "expected {n} adds");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

async fn a_package_runs_every_part_once_in_order(backend: Backend) {
    let Some((h, clock)) = harness(backend, "package_runs").await else { return };
    let s = &h.server;
    let a = service(s, "1").await;
    let b = service(s, "5").await;
    let package = json!({"name": "인스타 성장 패키지", "price": 1000, "steps": [
        {"service_id": a, "quantity": 100, "repeat": 2, "name": "팔로워"},
        {"service_id": b, "quantity": 50, "delay_minutes": 90, "name": "좋아요"},
        {"service_id": a, "quantity": 200, "delay_minutes": 30},
    ]});
    let (status, p) = s.call(Method::POST, "/api/admin/packages", Auth::Admin, Some(package)).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    let package_id = p["package"]["package_id"].as_i64().expect("id");
    assert_eq!(p["package"]["total_submissions"], 4);
    let (_, public) = s.call(Method::GET, "/api/packages", Auth::None, None).await;
    assert_eq!(public["packages"][0]["price"], 1000);

    let token = s.register("pam").await;
    s.adjust("pam", 5000).await;
    let (status, o) = s
        .call(
            Method::POST,
            "/api/orders",
            Auth::Bearer(&token),
            Some(json!({"package_id": package_id, "link": "https://x.com/pam", "price": 1000})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{o}");
    let id = o["order_id"].as_i64().expect("id");
    assert_eq!(s.points(&token).await, 4000, "the package price, at once");
    wait_adds(&h, 1).await;
    let pr = progress(s, id).await;
    assert_eq!((pr["total_steps"].as_i64(), pr["status"].as_str()), (Some(4), Some("processing")));
    assert_eq!(pr["progress"][0]["status"], "accepted");
    assert_eq!(pr["progress"][1]["status"], "due");

    // Part 2 is due 24 h after part 1 was accepted; not a minute before.
    clock.advance(1439 * MINUTE);
    assert_eq!(steps(s).await, 0);
    clock.advance(MINUTE);
    assert_eq!(steps(s).await, 1);
    assert_eq!(steps(s).await, 0, "once");
    clock.advance(89 * MINUTE);
    assert_eq!(steps(s).await, 0);
    clock.advance(MINUTE);
    assert_eq!(steps(s).await, 1);
    clock.advance(30 * MINUTE);
    assert_eq!(steps(s).await, 1);
    clock.advance(10_000 * MINUTE);
    assert_eq!(steps(s).await, 0, "nothing left");
    let adds = h.smm.requests_for("add");
    let sent: Vec<(Option<&str>, Option<&str>)> =
        adds.iter().map(|a| (a.get("service"), a.get("quantity"))).collect();
    assert_eq!(
        sent,
        [
            (Some("1"), Some("100")),
            (Some("1"), Some("100")),
            (Some("5"), Some("50")),
            (Some("1"), Some("200"))
        ]
    );

    // The panel settles each part; each refunds its own share (250).
    let ids: Vec<i64> = h.smm.orders().iter().map(|o| o.id).collect();
    h.smm.set_status(ids[0], "Completed", 0);
    h.smm.set_status(ids[1], "Partial", 50); // 50 of 100 undelivered → 125 back
    h.smm.set_status(ids[2], "Canceled", 50); // all 250 back
    let (_, _, r) =
        s.raw(Method::POST, "/api/cron/sync-order-status", &[("x-admin-token", ADMIN_TOKEN)], "").await;
    assert_eq!(r["settled"], 3, "{r}");
    let pr = progress(s, id).await;
    assert_eq!(pr["status"], "processing", "one part still running");
    h.smm.set_status(ids[3], "Completed", 0);
    let (_, _, r) =
        s.raw(Method::POST, "/api/cron/sync-order-status", &[("x-admin-token", ADMIN_TOKEN)], "").await;
    assert_eq!(r["settled"], 1);
    let (_, o) = s.call(Method::GET, &format!("/api/orders/{id}"), Auth::Bearer(&token), None).await;
    assert_eq!(
        (o["order"]["status"].as_str(), o["order"]["refunded_amount"].as_i64()),
        (Some("partial"), Some(375))
    );
    assert_eq!(s.points(&token).await, 4375);
    let statuses: Vec<String> = progress(s, id).await["progress"]
        .as_array()
        .expect("parts")
        .iter()
        .map(|p| p["status"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(statuses, ["completed", "refunded", "refunded", "completed"]);
    let (_, _, r) =
        s.raw(Method::POST, "/api/cron/sync-order-status", &[("x-admin-token", ADMIN_TOKEN)], "").await;
    assert_eq!(r["processed"], 0, "settled parts are not asked about again");
    assert_eq!(s.points(&token).await, 4375);
    s.assert_ledger_consistent().await;
}

async fn a_failed_step_refunds_its_share_and_the_rest_goes_on(backend: Backend) {
    let Some((h, clock)) = harness(backend, "failed_step").await else { return };
    let s = &h.server;
    let good = service(s, "1").await;
    let missing = service(s, "999").await; // the panel has no service 999
    let package = json!({"name": "p", "price": 301, "steps": [
        {"service_id": missing, "quantity": 100},
        {"service_id": good, "quantity": 100, "delay_minutes": 10, "repeat": 2},
    ]});
    let (_, p) = s.call(Method::POST, "/api/admin/packages", Auth::Admin, Some(package)).await;
    let package_id = p["package"]["package_id"].as_i64().expect("id");
    let token = s.register("ron").await;
    s.adjust("ron", 1000).await;
    let (_, o) = s
        .call(
            Method::POST,
            "/api/orders",
            Auth::Bearer(&token),
            Some(json!({"package_id": package_id, "link": "https://x.com/r"})),
        )
        .await;
    let id = o["order_id"].as_i64().expect("id");
    wait_adds(&h, 1).await;
    let pr = progress(s, id).await;
    assert_eq!(
        (pr["progress"][0]["status"].as_str(), pr["progress"][0]["refunded_amount"].as_i64()),
        (Some("refunded"), Some(100))
    );
    assert_eq!(s.points(&token).await, 1000 - 301 + 100, "exactly the first share (100 of 301) back");
    clock.advance(10 * MINUTE);
    assert_eq!(steps(s).await, 1);
    clock.advance(10 * MINUTE);
    assert_eq!(steps(s).await, 1);
    assert_eq!(h.smm.order_count(), 2);
    for o in h.smm.orders() {
        h.smm.set_status(o.id, "Completed", 0);
    }
    cron(s, "/api/cron/sync-order-status").await;
    let (_, o) = s.call(Method::GET, &format!("/api/orders/{id}"), Auth::Admin, None).await;
    assert_eq!(
        (o["order"]["status"].as_str(), o["order"]["refunded_amount"].as_i64()),
        (Some("partial"), Some(100))
    );
    s.assert_ledger_consistent().await;
}

async fn split_delivery_sends_one_part_a_day(backend: Backend) {
    let Some((h, clock)) = harness(backend, "split").await else { return };
    let s = &h.server;
    let svc = service(s, "1").await;
    let token = s.register("sol").await;
    s.adjust("sol", 10_000).await;
    let (status, o) = s
        .call(
            Method::POST,
            "/api/orders",
            Auth::Bearer(&token),
            Some(json!({"service_id": svc, "link": "https://x.com/s", "split_days": 3, "split_quantity": 100, "quantity": 300})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{o}");
    assert_eq!(o["price"], 300, "priced on the total");
    let id = o["order_id"].as_i64().expect("id");
    wait_adds(&h, 1).await;
    assert_eq!(cron(s, "/api/cron/process-split-deliveries").await, 0);
    clock.advance(24 * 60 * MINUTE - MINUTE);
    assert_eq!(cron(s, "/api/cron/process-split-deliveries").await, 0, "not before a day");
    clock.advance(MINUTE);
    assert_eq!(cron(s, "/api/cron/process-split-deliveries").await, 1);
    clock.advance(24 * 60 * MINUTE);
    assert_eq!(cron(s, "/api/cron/process-split-deliveries").await, 1);
    clock.advance(24 * 60 * MINUTE);
    assert_eq!(cron(s, "/api/cron/process-split-deliveries").await, 0, "three days, three parts");
    assert_eq!(h.smm.requests_for("add").iter().filter(|a| a.get("quantity") == Some("100")).count(), 3);
    assert_eq!(progress(s, id).await["total_steps"], 3);
    assert_eq!(s.points(&token).await, 9_700);
    s.assert_ledger_consistent().await;
}

async fn deferred_packages_start_once(backend: Backend) {
    let Some((h, _clock)) = harness(backend, "deferred").await else { return };
    let s = &h.server;
    let svc = service(s, "1").await;
    let (_, p) = s
        .call(
            Method::POST,
            "/api/admin/packages",
            Auth::Admin,
            Some(json!({"name": "p", "price": 50, "steps": [{"service_id": svc, "quantity": 10}]})),
        )
        .await;
    let package_id = p["package"]["package_id"].as_i64().expect("id");
    let token = s.register("ted").await;
    s.adjust("ted", 100).await;
    let (_, o) = s
        .call(
            Method::POST,
            "/api/orders",
            Auth::Bearer(&token),
            Some(json!({"package_id": package_id, "link": "https://x.com/t", "defer_start": true})),
        )
        .await;
    let id = o["order_id"].as_i64().expect("id");
    assert_eq!(steps(s).await, 0, "waiting for its start");
    let other = s.register("uma").await;
    assert_eq!(start(s, &other, id).await.0, StatusCode::NOT_FOUND, "not yours");
    let (status, b) = start(s, &token, id).await;
    assert_eq!((status, b["started"].as_bool()), (StatusCode::OK, Some(true)));
    let (_, b) = start(s, &token, id).await;
    assert_eq!(b["started"], false, "idempotent");
    wait_adds(&h, 1).await;
    assert_eq!(steps(s).await, 0);
    assert_eq!(h.smm.requests_for("add").len(), 1);
    let (_, r) = s.call(Method::POST, "/api/admin/reprocess-package-orders", Auth::Admin, None).await;
    assert_eq!((r["requeued"].as_i64(), r["stuck"].as_array().map(Vec::len)), (Some(0), Some(0)));
}

async fn start(s: &TestServer, token: &str, id: i64) -> (StatusCode, Value) {
    s.call(
        Method::POST,
        "/api/orders/start-package-processing",
        Auth::Bearer(token),
        Some(json!({"order_id": id})),
    )
    .await
}

async fn bad_plans_charge_nothing(backend: Backend) {
    let Some((h, _clock)) = harness(backend, "bad_plans").await else { return };
    let s = &h.server;
    let svc = service(s, "1").await;
    let token = s.register("val").await;
    s.adjust("val", 10_000).await;
    let link = "https://x.com/v";
    let cases = [
        (json!({"service_id": svc, "link": link, "split_days": 1, "split_quantity": 100}), "invalid_split"),
        (json!({"service_id": svc, "link": link, "split_days": 31, "split_quantity": 100}), "invalid_split"),
        (json!({"service_id": svc, "link": link, "split_days": 3}), "invalid_split"),
        (json!({"service_id": svc, "link": link, "split_days": 3, "split_quantity": 5}), "invalid_quantity"),
        (
            json!({"service_id": svc, "link": link, "split_days": 3, "split_quantity": 100, "quantity": 200}),
            "invalid_quantity",
        ),
        (
            json!({"service_id": svc, "link": link, "quantity": 100, "runs": 0, "interval": 10}),
            "dripfeed_not_supported",
        ),
        (json!({"package_id": 4242, "link": link}), "invalid_package"),
        (json!({"package_id": "x", "link": link}), "invalid_id"),
    ];
    for (body, code) in cases {
        let (status, b) = s.call(Method::POST, "/api/orders", Auth::Bearer(&token), Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {b}");
        assert_error_body(&b, code);
    }
    for bad in [
        json!({"name": "p", "price": 10, "steps": []}),
        json!({"name": "p", "price": 10, "steps": [{"service_id": 999, "quantity": 10}]}),
        json!({"name": "p", "price": 10, "steps": [{"service_id": svc, "quantity": 1}]}),
        json!({"name": "p", "price": 0, "steps": [{"service_id": svc, "quantity": 10}]}),
        json!({"name": "p", "price": 10, "steps": [{"service_id": svc, "quantity": 10, "repeat": 0}]}),
    ] {
        let (status, b) = s.call(Method::POST, "/api/admin/packages", Auth::Admin, Some(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {b}");
    }
    assert_eq!(s.points(&token).await, 10_000);
    assert!(h.smm.requests_for("add").is_empty());
}

async fn an_unknown_part_is_resolved_by_the_operator(backend: Backend) {
    let Some((h, clock)) = harness(backend, "unknown_part").await else { return };
    let s = &h.server;
    let svc = service(s, "1").await;
    let package = json!({"name": "p", "price": 400, "steps": [{"service_id": svc, "quantity": 100, "delay_minutes": 10, "repeat": 2}]});
    let (_, p) = s.call(Method::POST, "/api/admin/packages", Auth::Admin, Some(package)).await;
    let package_id = p["package"]["package_id"].as_i64().expect("id");
    let token = s.register("una").await;
    s.adjust("una", 1000).await;
    h.smm.push_fault("add", Fault::Delay(Duration::from_millis(1500)));
    let (_, o) = s
        .call(
            Method::POST,
            "/api/orders",
            Auth::Bearer(&token),
            Some(json!({"package_id": package_id, "link": "https://x.com/u"})),
        )
        .await;
    let id = o["order_id"].as_i64().expect("id");
    for _ in 0..100 {
        if progress(s, id).await["progress"][0]["status"] == "unknown" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(progress(s, id).await["progress"][0]["status"], "unknown");
    let path = format!("/api/admin/orders/{id}/resolve");
    let resolve = |body: Value| s.call(Method::POST, &path, Auth::Admin, Some(body));
    let (status, b) = resolve(json!({"part_index": 1, "action": "fail"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "part 1 is not unknown: {b}");
    let (status, b) = resolve(json!({"part_index": 0, "action": "fail"})).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["order"]["refunded_amount"], 200, "its share back");
    let (status, _) = resolve(json!({"part_index": 0, "action": "fail"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "resolved once");
    assert_eq!(s.points(&token).await, 1000 - 400 + 200);
    // The run went on: part 1 is due ten minutes after part 0 settled as unknown.
    clock.advance(10 * MINUTE);
    assert_eq!(steps(s).await, 1);
    let last = h.smm.orders().iter().map(|o| o.id).max().expect("orders");
    h.smm.set_status(last, "Completed", 0);
    cron(s, "/api/cron/sync-order-status").await;
    let (_, o) = s.call(Method::GET, &format!("/api/orders/{id}"), Auth::Admin, None).await;
    assert_eq!(o["order"]["status"], "partial", "one part refunded, one completed");
    s.assert_ledger_consistent().await;
}

on_each_backend!(
    a_package_runs_every_part_once_in_order,
    a_failed_step_refunds_its_share_and_the_rest_goes_on,
    split_delivery_sends_one_part_a_day,
    deferred_packages_start_once,
    bad_plans_charge_nothing,
    an_unknown_part_is_resolved_by_the_operator
);
