//! Order lifecycle regressions against the fake SMM panel with a clock the test moves, on
//! SQLite and PostgreSQL: an admin ending a running package order, a status sync that one
//! unappliable answer must not stop, owner and admin cancels of scheduled package and split
//! orders, `Partial` answers whose `remains` cannot be read, and an `add` rejection whose text
//! holds a NUL.

mod common;

use std::sync::Arc;
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use snspmt_http::clock::ManualClock;

use common::fake_smm::Fault;
use common::{Auth, Backend, Harness, TestServer, ADMIN_TOKEN};

/// 2026-11-27 00:00 UTC (09:00 KST).
const START: i64 = 1_795_737_600_000;
const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;

/// The statuses an order never leaves.
const ENDED: [&str; 4] = ["completed", "partial", "canceled", "failed"];

async fn harness(backend: Backend, test: &str) -> Option<(Harness, Arc<ManualClock>)> {
    Harness::with_clock(backend, test, START).await
}

/// A service on the panel's service `provider` at 1,000 points per 1,000 (1 point a unit).
async fn service(s: &TestServer, provider: &str) -> i64 {
    let body = json!({"provider_service_id": provider, "name": format!("svc {provider}"), "price_per_1000": 1000,
                      "min_quantity": 10, "max_quantity": 100000});
    let (status, b) = s.call(Method::POST, "/api/admin/services", Auth::Admin, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b["service"]["service_id"].as_i64().expect("id")
}

async fn package(s: &TestServer, price: i64, steps: Value) -> i64 {
    let body = json!({"name": "lifecycle package", "price": price, "steps": steps});
    let (status, p) = s.call(Method::POST, "/api/admin/packages", Auth::Admin, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    p["package"]["package_id"].as_i64().expect("id")
}

/// A user with `points` to spend.
async fn customer(s: &TestServer, user_id: &str, points: i64) -> String {
    let token = s.register(user_id).await;
    assert_eq!(s.adjust(user_id, points).await.0, StatusCode::OK);
    token
}

async fn place(s: &TestServer, token: &str, path: &str, body: Value) -> Value {
    let (status, o) = s.call(Method::POST, path, Auth::Bearer(token), Some(body.clone())).await;
    assert_eq!(status, StatusCode::OK, "{path} {body}: {o}");
    o
}

/// The order as the admin reads it (`GET /api/orders/<id>`).
async fn order(s: &TestServer, id: i64) -> Value {
    let (status, b) = s.call(Method::GET, &format!("/api/orders/{id}"), Auth::Admin, None).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b["order"].clone()
}

async fn progress(s: &TestServer, id: i64) -> Value {
    let (status, b) =
        s.call(Method::GET, &format!("/api/orders/{id}/package-progress"), Auth::Admin, None).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b
}

/// Polls the order (up to 5 s) until `done` holds; answers its last reading.
async fn wait_order(s: &TestServer, id: i64, done: impl Fn(&Value) -> bool) -> Value {
    let mut o = order(s, id).await;
    for _ in 0..250 {
        if done(&o) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        o = order(s, id).await;
    }
    o
}

/// Waits (up to 5 s) until part `index` of order `id` shows `status`; answers the progress.
async fn wait_part(s: &TestServer, id: i64, index: usize, status: &str) -> Value {
    let mut p = progress(s, id).await;
    for _ in 0..250 {
        if p["progress"][index]["status"] == status {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        p = progress(s, id).await;
    }
    panic!("part {index} of order {id} never became {status}: {p}");
}

/// The panel's id of an order or part, as the fake knows it.
fn smm_id(v: &Value) -> i64 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no panel order id: {v}"))
}

/// A cron (or admin) POST; answers its status and body without judging them.
async fn post(s: &TestServer, path: &str) -> (StatusCode, Value) {
    let (status, _, b) = s.raw(Method::POST, path, &[("x-admin-token", ADMIN_TOKEN)], "").await;
    (status, b)
}

async fn sync(s: &TestServer) -> (StatusCode, Value) {
    post(s, "/api/cron/sync-order-status").await
}

/// Everything that submits due work: the three cron routes (the same functions the
/// in-process workers run) and the operator's re-queue of package parts.
async fn run_all_due_work(s: &TestServer) {
    for path in [
        "/api/cron/process-scheduled-orders",
        "/api/cron/process-package-steps",
        "/api/cron/process-split-deliveries",
        "/api/admin/reprocess-package-orders",
    ] {
        let (status, b) = post(s, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {b}");
    }
}

fn ended(o: &Value) -> bool {
    o["status"].as_str().is_some_and(|s| ENDED.contains(&s))
}

fn has_control(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
}

// ---------------------------------------------------------------------------------------
// 1. The admin ends a package order that is processing
// ---------------------------------------------------------------------------------------

async fn admin_cancel_of_a_processing_package_refunds_only_unsent_parts(backend: Backend) {
    let Some((h, clock)) = harness(backend, "admin_cancel_processing_package").await else { return };
    let s = &h.server;
    let svc = service(s, "1").await;
    let package_id =
        package(s, 300, json!([{"service_id": svc, "quantity": 100, "repeat": 3, "delay_minutes": 10}]))
            .await;
    let token = customer(s, "ana", 1000).await;
    let o =
        place(s, &token, "/api/orders", json!({"package_id": package_id, "link": "https://x.com/ana"})).await;
    let id = o["order_id"].as_i64().expect("id");
    assert_eq!(s.points(&token).await, 700);
    let p = wait_part(s, id, 0, "accepted").await;
    assert_eq!(p["status"], "processing", "{p}");
    let shares: Vec<i64> = p["progress"]
        .as_array()
        .expect("parts")
        .iter()
        .map(|x| x["share"].as_i64().expect("share"))
        .collect();
    assert_eq!(shares.iter().sum::<i64>(), 300, "{p}");
    let unsent: i64 = shares[1..].iter().sum();
    assert_eq!(h.smm.requests_for("add").len(), 1);

    let (status, b) = s
        .call(
            Method::PUT,
            &format!("/api/orders/{id}/status"),
            Auth::Admin,
            Some(json!({"status": "canceled"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert!(ended(&b["order"]), "the admin ended it: {b}");
    assert_eq!(
        b["order"]["refunded_amount"].as_i64(),
        Some(unsent),
        "the refund is the shares of the parts never submitted ({unsent}), not the price: \
         part 0 was accepted upstream and keeps its share: {b}"
    );
    assert_eq!(s.points(&token).await, 700 + unsent);

    // Past every due time, through every route that submits due work.
    for step in [10 * MINUTE, 10 * MINUTE, 60 * MINUTE, DAY, 7 * DAY] {
        clock.advance(step);
        run_all_due_work(s).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let adds = h.smm.requests_for("add").len();
    assert_eq!(adds, 1, "no part reaches the panel after the admin ended the order ({adds} adds)");
    let o = order(s, id).await;
    assert!(ended(&o), "the order stays ended: {o}");

    // The part already running upstream completes: nothing changes for the ended order.
    h.smm.set_status(smm_id(&p["progress"][0]["smm_order_id"]), "Completed", 0);
    let (status, r) = sync(s).await;
    assert!(status.is_success(), "sync: {status} {r}");
    let o = order(s, id).await;
    assert!(ended(&o), "the order stays ended after its accepted part completes: {o}");
    assert_eq!(o["refunded_amount"].as_i64(), Some(unsent), "{o}");
    assert_eq!(s.points(&token).await, 700 + unsent);
    s.assert_ledger_consistent().await;
}

// ---------------------------------------------------------------------------------------
// 2. The status sync never starves
// ---------------------------------------------------------------------------------------

/// The panel cancels the accepted part of an order the admin already ended: the sync answers
/// 2xx and still settles the other orders and parts of its batch.
async fn sync_survives_a_part_that_cannot_be_applied(backend: Backend) {
    let Some((h, _clock)) = harness(backend, "sync_survives_part").await else { return };
    let s = &h.server;
    let svc = service(s, "1").await;
    let three =
        package(s, 300, json!([{"service_id": svc, "quantity": 100, "repeat": 3, "delay_minutes": 10}]))
            .await;
    let one = package(s, 100, json!([{"service_id": svc, "quantity": 100}])).await;
    let token = customer(s, "bo", 10_000).await;

    // A: a package order the admin ends while part 0 runs upstream.
    let a = place(s, &token, "/api/orders", json!({"package_id": three, "link": "https://x.com/a"})).await;
    let a = a["order_id"].as_i64().expect("id");
    let a_part = smm_id(&wait_part(s, a, 0, "accepted").await["progress"][0]["smm_order_id"]);
    let (status, b) = s
        .call(
            Method::PUT,
            &format!("/api/orders/{a}/status"),
            Auth::Admin,
            Some(json!({"status": "canceled"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");

    // B: another package order, whose part comes after A's in the sync batch.
    let b = place(s, &token, "/api/orders", json!({"package_id": one, "link": "https://x.com/b"})).await;
    let b = b["order_id"].as_i64().expect("id");
    let b_part = smm_id(&wait_part(s, b, 0, "accepted").await["progress"][0]["smm_order_id"]);

    // C: a single order in progress.
    let c = place(
        s,
        &token,
        "/api/orders",
        json!({"service_id": svc, "link": "https://x.com/c", "quantity": 100}),
    )
    .await;
    let c = c["order_id"].as_i64().expect("id");
    let o = wait_order(s, c, |o| o["status"] == "in_progress").await;
    assert_eq!(o["status"], "in_progress", "{o}");
    let c_smm = smm_id(&o["smm_panel_order_id"]);

    h.smm.set_status(a_part, "Canceled", 100);
    h.smm.set_status(b_part, "Completed", 0);
    h.smm.set_status(c_smm, "Completed", 0);
    let (status, r) = sync(s).await;
    assert!(status.is_success(), "one unappliable part must not fail the sync: {status} {r}");
    let o = order(s, c).await;
    assert_eq!(o["status"], "completed", "the single order of the batch settled: {o}");
    let p = progress(s, b).await;
    assert_eq!(
        (p["status"].as_str(), p["progress"][0]["status"].as_str()),
        (Some("completed"), Some("completed")),
        "the other part of the batch settled: {p}"
    );
    let o = order(s, a).await;
    assert!(ended(&o), "A stays ended: {o}");
    let refunded = o["refunded_amount"].as_i64().expect("refunded");
    assert!((0..=300).contains(&refunded), "never more than the price back: {o}");
    let (status, r) = sync(s).await;
    assert!(status.is_success(), "and the next sync too: {status} {r}");
    s.assert_ledger_consistent().await;
}

const MANY: usize = 1000;

/// 1,000 single orders in progress, 10 of them answered with values that cannot be stored
/// or applied: one sync call settles the 990 others.
async fn one_sync_settles_990_orders_around_10_poisoned_ones(backend: Backend) {
    let Some((h, _clock)) = harness(backend, "sync_990_of_1000").await else { return };
    let Harness { server, smm } = h;
    let s = Arc::new(server);
    let svc = service(&s, "1").await;
    let token = customer(&s, "many", 20_000).await;
    for chunk in (0..MANY).collect::<Vec<_>>().chunks(50) {
        let mut tasks = Vec::new();
        for &i in chunk {
            let s = s.clone();
            let token = token.clone();
            tasks.push(tokio::spawn(async move {
                let body = json!({"service_id": svc, "link": format!("https://x.com/p/{i}"), "quantity": 10});
                s.call(Method::POST, "/api/orders", Auth::Bearer(&token), Some(body)).await
            }));
        }
        for t in tasks {
            let (status, b) = t.await.expect("task");
            assert_eq!(status, StatusCode::OK, "{b}");
        }
    }
    // The server sends an order at once when the panel's limiter has a slot within a second;
    // on a loaded machine the rest wait for the worker, which here is the cron route.
    for _ in 0..20 {
        if smm.wait_for_orders_progressing(MANY, Duration::from_secs(2)).await {
            break;
        }
        let (status, b) = post(&s, "/api/cron/process-scheduled-orders").await;
        assert!(status.is_success(), "{status} {b}");
    }
    let arrived = smm.wait_for_orders_progressing(MANY, Duration::from_secs(30)).await;
    assert!(arrived, "only {} upstream, none for 30 s", smm.order_count());
    let mut running = 0;
    for _ in 0..1500 {
        let (_, b) =
            s.call(Method::GET, "/api/admin/orders?status=in_progress&limit=1", Auth::Admin, None).await;
        running = b["total"].as_i64().unwrap_or(0);
        if running == MANY as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(running, MANY as i64, "every order in progress before the sync");
    let orders = all_orders(&s).await;
    assert_eq!(orders.len(), MANY);

    // The sync asks oldest-checked first, then by order id: poison the first ones it meets,
    // and some further on.
    let poisons = [
        json!({"status": "Completed", "charge": "0.01\u{0}", "start_count": "0", "remains": "0"}),
        json!({"status": "Canceled", "charge": "\u{0}", "start_count": "0", "remains": "10"}),
        json!({"status": "Partial", "charge": "0.0\u{0}5", "start_count": "0", "remains": "abc"}),
        json!({"status": "Completed", "charge": "bad\u{0}charge\u{7}", "start_count": "\u{0}", "remains": "0"}),
        json!({"status": "Partial", "charge": "\u{0}", "remains": null}),
        json!({"status": "In progress", "charge": "\u{0}\u{0}", "remains": "5"}),
        json!({"status": "Completed", "charge": "0.01\u{0}", "remains": "99999999999999999999999"}),
        json!("weird"),
        json!({"status": 7, "charge": "0.01"}),
        json!({"status": "Completed", "charge": format!("9{}", "\u{0}".repeat(64))}),
    ];
    let positions = [0, 1, 2, 3, 111, 333, 500, 666, 888, 999];
    let mut poisoned = Vec::new();
    for (position, entry) in positions.into_iter().zip(poisons) {
        let o = &orders[position];
        smm.set_status_entry(smm_id(&o["smm_panel_order_id"]), entry);
        poisoned.push(o["order_id"].as_i64().expect("id"));
    }
    assert_eq!(poisoned.len(), 10);
    for o in &orders {
        let id = o["order_id"].as_i64().expect("id");
        if !poisoned.contains(&id) {
            smm.set_status(smm_id(&o["smm_panel_order_id"]), "Completed", 0);
        }
    }

    let (status, r) = sync(&s).await;
    assert!(status.is_success(), "10 poisoned answers must not fail the sync: {status} {r}");
    let after = all_orders(&s).await;
    let stuck: Vec<i64> = after
        .iter()
        .filter(|o| !poisoned.contains(&o["order_id"].as_i64().unwrap_or(0)) && o["status"] != "completed")
        .map(|o| o["order_id"].as_i64().unwrap_or(0))
        .collect();
    assert!(
        stuck.is_empty(),
        "one sync settles all 990 readable orders; {} were left unsettled (first: {:?})",
        stuck.len(),
        &stuck[..stuck.len().min(5)]
    );
    for o in after.iter().filter(|o| poisoned.contains(&o["order_id"].as_i64().unwrap_or(0))) {
        let charge = o["charge"].as_str().unwrap_or("");
        assert!(!has_control(charge), "no control character stored from the panel: {o}");
        assert!(o["refunded_amount"].as_i64().unwrap_or(-1) <= o["final_price"].as_i64().unwrap_or(0), "{o}");
    }
    s.assert_ledger_consistent().await;
}

/// Every order through the admin list, oldest first.
async fn all_orders(s: &TestServer) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let path = format!("/api/admin/orders?limit=200&offset={}", out.len());
        let (status, b) = s.call(Method::GET, &path, Auth::Admin, None).await;
        assert_eq!(status, StatusCode::OK, "{b}");
        let rows = b["orders"].as_array().cloned().unwrap_or_default();
        if rows.is_empty() {
            break;
        }
        out.extend(rows);
    }
    out.sort_by_key(|o| o["order_id"].as_i64().unwrap_or(0));
    out
}

// ---------------------------------------------------------------------------------------
// 3. Cancels of scheduled package and split orders
// ---------------------------------------------------------------------------------------

/// Places a scheduled package order and a scheduled split order (09:30 KST, half an hour
/// ahead); answers their ids. Charges 200 + 300.
async fn scheduled_package_and_split(s: &TestServer, token: &str) -> [i64; 2] {
    let svc = service(s, "1").await;
    let package_id =
        package(s, 200, json!([{"service_id": svc, "quantity": 100, "repeat": 2, "delay_minutes": 10}]))
            .await;
    let when = "2026-11-27 09:30";
    let p = place(
        s,
        token,
        "/api/scheduled-orders",
        json!({"package_id": package_id, "link": "https://x.com/pkg", "scheduled_datetime": when}),
    )
    .await;
    assert_eq!((p["status"].as_str(), p["final_price"].as_i64()), (Some("scheduled"), Some(200)), "{p}");
    let sp = place(
        s,
        token,
        "/api/scheduled-orders",
        json!({"service_id": svc, "link": "https://x.com/split", "split_days": 3, "split_quantity": 100,
               "scheduled_datetime": when}),
    )
    .await;
    assert_eq!((sp["status"].as_str(), sp["final_price"].as_i64()), (Some("scheduled"), Some(300)), "{sp}");
    [p["order_id"].as_i64().expect("id"), sp["order_id"].as_i64().expect("id")]
}

/// After the cancels: past the scheduled time and every later due time, nothing reaches the
/// panel and the orders stay canceled with their price back.
async fn nothing_ever_sent(h: &Harness, clock: &ManualClock, ids: [i64; 2]) {
    let s = &h.server;
    for step in [31 * MINUTE, 10 * MINUTE, DAY, DAY, DAY, 7 * DAY] {
        clock.advance(step);
        run_all_due_work(s).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let adds = h.smm.requests_for("add");
    assert!(adds.is_empty(), "a canceled scheduled order reached the panel: {adds:?}");
    for id in ids {
        let o = order(s, id).await;
        assert_eq!(o["status"], "canceled", "{o}");
        assert_eq!(o["refunded_amount"], o["final_price"], "{o}");
    }
    s.assert_ledger_consistent().await;
}

async fn owner_cancels_scheduled_package_and_split_orders(backend: Backend) {
    let Some((h, clock)) = harness(backend, "owner_cancels_scheduled_multipart").await else { return };
    let s = &h.server;
    let token = customer(s, "cy", 1000).await;
    let ids = scheduled_package_and_split(s, &token).await;
    assert_eq!(s.points(&token).await, 500);
    for (id, what) in ids.iter().zip(["package", "split"]) {
        let (status, b) =
            s.call(Method::POST, &format!("/api/orders/{id}/cancel"), Auth::Bearer(&token), None).await;
        assert_eq!(status, StatusCode::OK, "the owner cancels a scheduled {what} order: {b}");
        assert_eq!(b["order"]["status"], "canceled", "{b}");
        assert_eq!(b["order"]["refunded_amount"], b["order"]["final_price"], "full refund: {b}");
    }
    assert_eq!(s.points(&token).await, 1000, "the balance is back where it started");
    nothing_ever_sent(&h, &clock, ids).await;
    assert_eq!(s.points(&token).await, 1000);
}

async fn admin_cancels_scheduled_package_and_split_orders(backend: Backend) {
    let Some((h, clock)) = harness(backend, "admin_cancels_scheduled_multipart").await else { return };
    let s = &h.server;
    let token = customer(s, "di", 1000).await;
    let ids = scheduled_package_and_split(s, &token).await;
    assert_eq!(s.points(&token).await, 500);
    for (id, what) in ids.iter().zip(["package", "split"]) {
        let (status, b) = s
            .call(
                Method::PUT,
                &format!("/api/orders/{id}/status"),
                Auth::Admin,
                Some(json!({"status": "canceled"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "the admin cancels a scheduled {what} order: {b}");
        assert_eq!(b["order"]["status"], "canceled", "{b}");
        assert_eq!(b["order"]["refunded_amount"], b["order"]["final_price"], "full refund: {b}");
    }
    assert_eq!(s.points(&token).await, 1000, "the balance is back where it started");
    nothing_ever_sent(&h, &clock, ids).await;
    assert_eq!(s.points(&token).await, 1000);
}

// ---------------------------------------------------------------------------------------
// 4. `Partial` with unreadable `remains`
// ---------------------------------------------------------------------------------------

async fn a_partial_with_unreadable_remains_keeps_the_order_open(backend: Backend) {
    let Some((h, _clock)) = harness(backend, "partial_unreadable_remains").await else { return };
    let s = &h.server;
    let svc = service(s, "1").await;
    let one = package(s, 100, json!([{"service_id": svc, "quantity": 100}])).await;
    let token = customer(s, "ed", 1000).await;
    let remains = [json!("abc"), Value::Null, json!("99999999999999999999999")];
    let mut singles = Vec::new();
    for (i, r) in remains.iter().enumerate() {
        let body = json!({"service_id": svc, "link": format!("https://x.com/e{i}"), "quantity": 100});
        let id = place(s, &token, "/api/orders", body).await["order_id"].as_i64().expect("id");
        let o = wait_order(s, id, |o| o["status"] == "in_progress").await;
        assert_eq!(o["status"], "in_progress", "{o}");
        let upstream = smm_id(&o["smm_panel_order_id"]);
        h.smm.set_status_entry(
            upstream,
            json!({"status": "Partial", "charge": "0.04500", "start_count": "12", "remains": r, "currency": "USD"}),
        );
        singles.push((id, upstream));
    }
    let p = place(s, &token, "/api/orders", json!({"package_id": one, "link": "https://x.com/epkg"})).await;
    let pkg = p["order_id"].as_i64().expect("id");
    let part = smm_id(&wait_part(s, pkg, 0, "accepted").await["progress"][0]["smm_order_id"]);
    h.smm.set_status_entry(part, json!({"status": "Partial", "charge": "0.04500", "remains": "abc"}));
    assert_eq!(s.points(&token).await, 600);

    let (status, r) = sync(s).await;
    assert!(status.is_success(), "{status} {r}");
    for ((id, _), r) in singles.iter().zip(&remains) {
        let o = order(s, *id).await;
        assert_eq!(
            (o["status"].as_str(), o["refunded_amount"].as_i64()),
            (Some("in_progress"), Some(0)),
            "Partial with remains {r} cannot be settled: the order stays open, nothing refunded: {o}"
        );
    }
    let p = progress(s, pkg).await;
    assert_eq!(
        (
            p["status"].as_str(),
            p["progress"][0]["status"].as_str(),
            p["progress"][0]["refunded_amount"].as_i64()
        ),
        (Some("processing"), Some("accepted"), Some(0)),
        "a part's Partial with remains \"abc\" leaves the part running: {p}"
    );
    assert_eq!(s.points(&token).await, 600, "nothing refunded");
    // The operator still finds them among the running orders.
    let (_, list) = s.call(Method::GET, "/api/admin/orders?status=in_progress", Auth::Admin, None).await;
    let listed: Vec<i64> =
        list["orders"].as_array().expect("orders").iter().filter_map(|o| o["order_id"].as_i64()).collect();
    for (id, _) in &singles {
        assert!(listed.contains(id), "order {id} is listed as running: {list}");
    }

    // A readable answer later settles them by the rules: 40 of 100 undelivered → 40 back.
    for (_, upstream) in &singles {
        h.smm.clear_status_entry(*upstream);
        h.smm.set_status(*upstream, "Partial", 40);
    }
    let (status, r) = sync(s).await;
    assert!(status.is_success(), "{status} {r}");
    for (id, _) in &singles {
        let o = order(s, *id).await;
        assert_eq!((o["status"].as_str(), o["refunded_amount"].as_i64()), (Some("partial"), Some(40)), "{o}");
    }
    assert_eq!(s.points(&token).await, 720);
    s.assert_ledger_consistent().await;
}

// ---------------------------------------------------------------------------------------
// 5. An `add` rejection whose text holds a NUL
// ---------------------------------------------------------------------------------------

async fn an_add_rejection_with_a_nul_fails_the_order_with_a_full_refund(backend: Backend) {
    let Some((h, _clock)) = harness(backend, "add_rejection_nul").await else { return };
    let s = &h.server;
    let svc = service(s, "1").await;
    let one = package(s, 100, json!([{"service_id": svc, "quantity": 100}])).await;
    let token = customer(s, "fa", 1000).await;

    h.smm.push_fault("add", Fault::Error("Incorrect link\u{0} (nul\u{0}inside)".into()));
    let body = json!({"service_id": svc, "link": "https://x.com/f", "quantity": 100});
    let id = place(s, &token, "/api/orders", body).await["order_id"].as_i64().expect("id");
    let o = wait_order(s, id, ended).await;
    assert!(
        matches!(o["status"].as_str(), Some("failed" | "canceled")),
        "a definitive rejection ends the order (not stuck in {}): {o}",
        o["status"]
    );
    assert_eq!(o["refunded_amount"], o["final_price"], "full refund: {o}");
    let error = o["error"].as_str().unwrap_or_else(|| panic!("the rejection is recorded: {o}"));
    assert!(!error.contains('\u{0}'), "the stored error has no NUL: {error:?}");
    assert!(error.contains("Incorrect link"), "{error:?}");
    assert_eq!(s.points(&token).await, 1000);

    // The same for the part of a package order.
    h.smm.push_fault("add", Fault::Error("Incorrect link\u{0}".into()));
    let p = place(s, &token, "/api/orders", json!({"package_id": one, "link": "https://x.com/fpkg"})).await;
    let pkg = p["order_id"].as_i64().expect("id");
    let p = wait_part(s, pkg, 0, "refunded").await;
    assert_eq!(
        (p["status"].as_str(), p["progress"][0]["refunded_amount"].as_i64()),
        (Some("canceled"), Some(100)),
        "{p}"
    );
    assert_eq!(s.points(&token).await, 1000);
    assert_eq!(h.smm.order_count(), 0);
    s.assert_ledger_consistent().await;
}

on_each_backend!(
    admin_cancel_of_a_processing_package_refunds_only_unsent_parts,
    sync_survives_a_part_that_cannot_be_applied,
    one_sync_settles_990_orders_around_10_poisoned_ones,
    owner_cancels_scheduled_package_and_split_orders,
    admin_cancels_scheduled_package_and_split_orders,
    a_partial_with_unreadable_remains_keeps_the_order_open,
    an_add_rejection_with_a_nul_fails_the_order_with_a_full_refund
);
