//! Issue 12, the upstream's part, on SQLite and PostgreSQL:
//!
//! - a burst of orders against a panel that answers 429 above 64 requests at once: the server's
//!   own limiter keeps below it, nothing ends `unknown`, every order reaches the panel once;
//! - a 429 (whatever its body) and a refused connection are "not accepted": the order (or a
//!   split order's part) waits in `pending` and is sent on a later round, never `unknown`;
//! - customers never see the upstream's cost (`upstream_charge`; their `charge` is our price) or
//!   its internal error text (URLs); the operator still does.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use snspmt_http::clock::ManualClock;
use snspmt_http::upstream::smm::{HttpSmm, SmmClient, SmmTransport};
use snspmt_http::upstream::{Answer, CallError, Timeouts};
use snspmt_store::Millis;

use common::fake_smm::{FakeSmm, Fault, FAKE_KEY};
use common::{Auth, Backend, TestServer, ADMIN_TOKEN};

on_each_backend!(
    a_burst_against_a_panel_limited_to_64_leaves_nothing_unknown,
    a_429_is_not_accepted_and_retried_on_a_later_round,
    a_refused_connection_is_pending_and_retried,
    customers_never_see_the_upstream_cost_or_its_errors,
);

const START: i64 = 1_800_000_000_000;
const SECOND: i64 = 1_000;

/// A server wired to `smm`, with `vars` on top; its clock is `clock` when given.
async fn server(
    backend: Backend,
    test: &str,
    smm: &FakeSmm,
    vars: &[(&str, &str)],
    clock: Option<Arc<ManualClock>>,
) -> Option<TestServer> {
    let mut all = vec![
        ("SMMKINGS_API_URL", smm.url.as_str()),
        ("SMMKINGS_API_KEY", FAKE_KEY),
        ("SNSPMT_UPSTREAM_TIMEOUT_MS", "5000"),
    ];
    all.extend_from_slice(vars);
    TestServer::start_app(backend, test, &all, move |app| match clock {
        Some(c) => app.with_clock(c),
        None => app,
    })
    .await
}

async fn service(s: &TestServer) -> i64 {
    let body = json!({"provider_service_id": "1", "name": "followers", "price_per_1000": 1000,
                      "min_quantity": 10, "max_quantity": 100000});
    let (status, b) = s.call(Method::POST, "/api/admin/services", Auth::Admin, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b["service"]["service_id"].as_i64().expect("service id")
}

async fn customer(s: &TestServer, id: &str, points: i64) -> String {
    let token = s.register(id).await;
    assert_eq!(s.adjust(id, points).await.0, StatusCode::OK);
    token
}

async fn place(s: &TestServer, token: &str, body: Value) -> i64 {
    let (status, b) = s.call(Method::POST, "/api/orders", Auth::Bearer(token), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b["order_id"].as_i64().expect("order id")
}

/// Submits what is due (`POST /api/cron/process-scheduled-orders`); answers how many.
async fn cron(s: &TestServer) -> i64 {
    let (status, _, b) = s
        .raw(Method::POST, "/api/cron/process-scheduled-orders", &[("x-admin-token", ADMIN_TOKEN)], "")
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b["processed"].as_i64().expect("processed")
}

async fn admin_order(s: &TestServer, id: i64) -> Value {
    let (status, b) = s.call(Method::GET, &format!("/api/orders/{id}"), Auth::Admin, None).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b["order"].clone()
}

async fn total(s: &TestServer, status: &str) -> i64 {
    let (_, b) =
        s.call(Method::GET, &format!("/api/admin/orders?status={status}&limit=1"), Auth::Admin, None).await;
    b["total"].as_i64().expect("total")
}

/// Waits until the order's immediate submission has settled (it left `pending`/`submitting`,
/// or it is back in `pending` with the reason recorded).
async fn settled(s: &TestServer, id: i64) -> Value {
    for _ in 0..250 {
        let o = admin_order(s, id).await;
        if !matches!(o["status"].as_str(), Some("pending" | "submitting")) || o["error"].is_string() {
            return o;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("order {id} never settled: {}", admin_order(s, id).await);
}

async fn a_burst_against_a_panel_limited_to_64_leaves_nothing_unknown(backend: Backend) {
    const ORDERS: usize = 300;
    const USERS: usize = 10;
    let smm = FakeSmm::start().await;
    smm.set_max_concurrent(Some(64));
    smm.set_latency(Duration::from_millis(500));
    let vars = [("SNSPMT_UPSTREAM_CONCURRENCY", "48")];
    let Some(s) = server(backend, "upstream_burst", &smm, &vars, None).await else { return };
    let s = Arc::new(s);
    let svc = service(&s).await;
    let mut tokens = Vec::new();
    for u in 0..USERS {
        tokens.push(customer(&s, &format!("burst{u}"), 100 * (ORDERS / USERS) as i64).await);
    }
    // 30 clients place 10 orders each, all at once.
    let mut clients = Vec::new();
    for c in 0..30 {
        let (s, token) = (s.clone(), tokens[c % USERS].clone());
        clients.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for k in 0..ORDERS / 30 {
                let link = format!("https://instagram.com/p/burst-{c}-{k}");
                ids.push(place(&s, &token, json!({"service_id": svc, "link": link, "quantity": 100})).await);
            }
            ids
        }));
    }
    let mut ids = HashSet::new();
    for c in clients {
        ids.extend(c.await.expect("client"));
    }
    assert_eq!(ids.len(), ORDERS);
    // Whatever found no slot at once waits in `pending` for the next round.
    for _ in 0..100 {
        if total(&s, "in_progress").await == ORDERS as i64 {
            break;
        }
        cron(&s).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(total(&s, "unknown").await, 0, "nothing needs an operator");
    assert_eq!(total(&s, "in_progress").await, ORDERS as i64, "every order was taken");
    assert_eq!(smm.throttled(), 0, "the panel never had to refuse");
    assert!(smm.peak_concurrent() <= 48, "at most 48 calls at once, saw {}", smm.peak_concurrent());
    let adds = smm.requests_for("add");
    assert_eq!(adds.len(), ORDERS, "each order sent once");
    let links: HashSet<String> = adds.iter().filter_map(|a| a.get("link").map(str::to_owned)).collect();
    assert_eq!((links.len(), smm.order_count()), (ORDERS, ORDERS), "one upstream order per order");
    assert_eq!(cron(&s).await, 0, "nothing left to send");
    let (_, charges) =
        s.call(Method::GET, "/api/admin/transactions?kind=order_charge&limit=1", Auth::Admin, None).await;
    assert_eq!(charges["total"], ORDERS, "one charge per order");
    s.assert_ledger_consistent().await;
}

async fn a_429_is_not_accepted_and_retried_on_a_later_round(backend: Backend) {
    let smm = FakeSmm::start().await;
    let clock = Arc::new(ManualClock::new(Millis(START)));
    let Some(s) = server(backend, "upstream_429", &smm, &[], Some(clock.clone())).await else { return };
    let svc = service(&s).await;
    let token = customer(&s, "tia", 10_000).await;

    // A single order: two 429s (HTML bodies, as a proxy answers), then the panel takes it.
    smm.push_throttled("add", 2);
    let id =
        place(&s, &token, json!({"service_id": svc, "link": "https://x.com/tia", "quantity": 100})).await;
    let o = settled(&s, id).await;
    assert_eq!(o["status"], "pending", "a 429 is not an unknown outcome: {o}");
    assert!(o["error"].as_str().is_some_and(|e| e.contains("429")), "the operator sees why: {o}");
    assert_eq!(cron(&s).await, 0, "not due before its back-off");
    clock.advance(15 * SECOND);
    assert_eq!(cron(&s).await, 1, "second try, throttled again");
    assert_eq!(admin_order(&s, id).await["status"], "pending");
    clock.advance(15 * SECOND);
    assert_eq!(cron(&s).await, 0, "the back-off doubled");
    clock.advance(15 * SECOND);
    assert_eq!(cron(&s).await, 1, "third try");
    let o = admin_order(&s, id).await;
    assert_eq!(o["status"], "in_progress", "{o}");
    assert_eq!(smm.requests_for("add").len(), 3);
    assert_eq!(smm.order_count(), 1, "created once");

    // A split order's first day: a 429 leaves the part due again, the order running.
    smm.push_throttled("add", 1);
    let body = json!({"service_id": svc, "link": "https://x.com/tia-split", "split_days": 2, "split_quantity": 100, "quantity": 200});
    let split = place(&s, &token, body).await;
    assert!(smm.wait_for_requests("add", 4, Duration::from_secs(5)).await, "the first day was sent");
    let mut part = Value::Null;
    for _ in 0..100 {
        let (_, p) =
            s.call(Method::GET, &format!("/api/orders/{split}/package-progress"), Auth::Admin, None).await;
        part = p["progress"][0].clone();
        if part["status"] == "due" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(part["status"], "due", "a throttled part waits for its retry: {part}");
    assert_eq!(admin_order(&s, split).await["status"], "processing");
    clock.advance(15 * SECOND);
    assert_eq!(cron(&s).await, 1);
    let (_, p) =
        s.call(Method::GET, &format!("/api/orders/{split}/package-progress"), Auth::Admin, None).await;
    assert_eq!(p["progress"][0]["status"], "accepted", "{p}");
    assert_eq!(smm.order_count(), 2);
    assert_eq!(total(&s, "unknown").await, 0);
    s.assert_ledger_consistent().await;
}

/// Refuses every call for real (a closed port) while `down`, else forwards to the fake.
struct Switch {
    down: Arc<AtomicBool>,
    closed: HttpSmm,
    fake: HttpSmm,
}

impl SmmTransport for Switch {
    fn post_form(&self, body: &str) -> Result<Answer, CallError> {
        if self.down.load(Ordering::SeqCst) {
            self.closed.post_form(body)
        } else {
            self.fake.post_form(body)
        }
    }
}

async fn a_refused_connection_is_pending_and_retried(backend: Backend) {
    let smm = FakeSmm::start().await;
    let clock = Arc::new(ManualClock::new(Millis(START)));
    let down = Arc::new(AtomicBool::new(true));
    let timeouts = Timeouts { connect: Duration::from_millis(500), read: Duration::from_millis(500) };
    let closed_port =
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let transport = Switch {
        down: down.clone(),
        closed: HttpSmm::new(format!("http://127.0.0.1:{closed_port}/api/v2"), timeouts),
        fake: HttpSmm::new(smm.url.clone(), timeouts),
    };
    let app_clock = clock.clone();
    let Some(s) = TestServer::start_app(backend, "upstream_refused", &[], move |mut app| {
        app.smm = Some(SmmClient::new(Arc::new(transport), FAKE_KEY.into()));
        app.with_clock(app_clock)
    })
    .await
    else {
        return;
    };
    let svc = service(&s).await;
    let token = customer(&s, "ray", 10_000).await;
    let single =
        place(&s, &token, json!({"service_id": svc, "link": "https://x.com/ray", "quantity": 100})).await;
    let body = json!({"service_id": svc, "link": "https://x.com/ray-split", "split_days": 2, "split_quantity": 100, "quantity": 200});
    let split = place(&s, &token, body).await;
    let o = settled(&s, single).await;
    assert_eq!(o["status"], "pending", "nothing reached the panel: {o}");
    // The split's first day was tried too: due again a minute later.
    let mut first_day = Value::Null;
    for _ in 0..250 {
        let (_, p) =
            s.call(Method::GET, &format!("/api/orders/{split}/package-progress"), Auth::Admin, None).await;
        first_day = p["progress"][0].clone();
        if first_day["due_at"] == "2027-01-15T08:01:00Z" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!((&first_day["status"], &first_day["due_at"]), (&json!("due"), &json!("2027-01-15T08:01:00Z")));
    assert_eq!(cron(&s).await, 0, "not due before its back-off");
    clock.advance(60 * SECOND);
    assert_eq!(cron(&s).await, 2, "both retried, refused again");
    assert_eq!(total(&s, "unknown").await, 0);
    assert_eq!(admin_order(&s, split).await["status"], "processing");
    down.store(false, Ordering::SeqCst);
    clock.advance(120 * SECOND);
    assert_eq!(cron(&s).await, 2, "both retried once the panel is back");
    assert_eq!(admin_order(&s, single).await["status"], "in_progress");
    let (_, p) =
        s.call(Method::GET, &format!("/api/orders/{split}/package-progress"), Auth::Admin, None).await;
    assert_eq!(p["progress"][0]["status"], "accepted", "{p}");
    assert_eq!(smm.order_count(), 2, "each sent once it could be");
    assert_eq!(total(&s, "unknown").await, 0);
    s.assert_ledger_consistent().await;
}

/// No field of a customer's view holds the upstream's cost or its internal text.
fn assert_customer_view(o: &Value, internal: &str) {
    assert!(o.get("upstream_charge").is_none(), "the upstream's cost is not shown: {o}");
    assert!(o["charge"].is_i64() && o["charge"] == o["final_price"], "charge is the points we charged: {o}");
    let text = o.to_string();
    assert!(!text.contains(internal) && !text.contains("http://127.0.0.1"), "no internal text: {o}");
}

async fn customers_never_see_the_upstream_cost_or_its_errors(backend: Backend) {
    const INTERNAL: &str = "http://panel-backend.internal:8080/api/v2";
    let smm = FakeSmm::start().await;
    let vars = [("SNSPMT_UPSTREAM_TIMEOUT_MS", "500")];
    let Some(s) = server(backend, "upstream_views", &smm, &vars, None).await else { return };
    let svc = service(&s).await;
    let token = customer(&s, "cy", 10_000).await;
    let cy = Auth::Bearer(&token);

    // Taken; the panel's status answer carries its charge.
    let running =
        place(&s, &token, json!({"service_id": svc, "link": "https://x.com/cy-1", "quantity": 100})).await;
    assert_eq!(settled(&s, running).await["status"], "in_progress");
    let (status, _, r) =
        s.raw(Method::POST, "/api/cron/sync-order-status", &[("x-admin-token", ADMIN_TOKEN)], "").await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let o = admin_order(&s, running).await;
    assert!(o["upstream_charge"].as_str().is_some_and(|c| c.starts_with("0.09")), "{o}");
    assert_eq!(o["charge"], 100, "to the operator too, charge is our price in points: {o}");
    // Each next answer of the panel, for one order at a time: refused for good with an internal
    // URL in its message; throttled (back to pending); dropped after sending (unknown).
    let mut ids = Vec::new();
    let answers = [
        Fault::Error(format!("Incorrect service ID (upstream {INTERNAL})")),
        Fault::Http {
            status: 429,
            content_type: "text/html",
            body: format!("<a href=\"{INTERNAL}\">busy</a>"),
        },
        Fault::DropConnection,
    ];
    for (k, answer) in answers.into_iter().enumerate() {
        smm.push_fault("add", answer);
        let link = format!("https://x.com/cy-{}", k + 2);
        let id = place(&s, &token, json!({"service_id": svc, "link": link, "quantity": 100})).await;
        settled(&s, id).await;
        ids.push(id);
    }
    let [failed, delayed, unknown] = ids[..] else { unreachable!("three orders") };

    let expected = [
        (running, "in_progress", Value::Null),
        (failed, "failed", json!("order_failed")),
        (delayed, "pending", json!("submission_delayed")),
        (unknown, "unknown", json!("under_review")),
    ];
    for (id, status, code) in &expected {
        let (st, b) = s.call(Method::GET, &format!("/api/orders/{id}"), cy, None).await;
        assert_eq!(st, StatusCode::OK, "{b}");
        let o = &b["order"];
        assert_eq!((&o["status"], &o["error_code"]), (&json!(status), code), "{o}");
        assert_eq!(o["error"].is_string(), !code.is_null(), "a user-facing text with each code: {o}");
        assert_eq!(o["final_price"], 100, "our price: {o}");
        assert_customer_view(o, INTERNAL);
    }
    let (_, list) = s.call(Method::GET, "/api/orders", cy, None).await;
    let orders = list["orders"].as_array().expect("orders");
    assert_eq!(orders.len(), 4);
    for o in orders {
        assert_customer_view(o, INTERNAL);
    }
    let (status, checked) = s
        .call(Method::POST, "/api/orders/check-status", cy, Some(json!({"order_ids": [running, failed]})))
        .await;
    assert_eq!(status, StatusCode::OK, "{checked}");
    for o in checked["orders"].as_array().expect("orders") {
        assert_customer_view(o, INTERNAL);
    }

    // The operator keeps the whole story.
    let o = admin_order(&s, failed).await;
    assert!(o["error"].as_str().is_some_and(|e| e.contains(INTERNAL)), "{o}");
    assert!(admin_order(&s, delayed).await["error"]
        .as_str()
        .is_some_and(|e| e.contains("429") && e.contains(INTERNAL)));
    let (_, all) = s.call(Method::GET, "/api/admin/orders?user_id=cy", Auth::Admin, None).await;
    let charged =
        all["orders"].as_array().expect("orders").iter().filter(|o| o["upstream_charge"].is_string()).count();
    assert_eq!(charged, 1, "the admin list shows the upstream's cost: {all}");
    s.assert_ledger_consistent().await;
}
