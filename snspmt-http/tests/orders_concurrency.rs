//! Orders under concurrency and retry, on SQLite and PostgreSQL: 500 concurrent orders from
//! users with small balances; a refused connection retried until the panel has it once.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use snspmt_http::clock::ManualClock;
use snspmt_http::upstream::smm::{HttpSmm, SmmClient, SmmTransport};
use snspmt_http::upstream::{Answer, CallError, Timeouts};
use snspmt_store::Millis;

use common::fake_smm::{FakeSmm, FAKE_KEY};
use common::{Auth, Backend, Harness, TestServer};

on_both_backends_with_smm!(five_hundred_concurrent_orders_charge_and_submit_once);

async fn five_hundred_concurrent_orders_charge_and_submit_once(h: Harness) {
    let s = Arc::new(h.server);
    let (status, b) = s
        .call(
            Method::POST,
            "/api/admin/services",
            Auth::Admin,
            Some(json!({"provider_service_id": "1", "name": "followers", "price_per_1000": 1000,
                        "min_quantity": 10, "max_quantity": 1000})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let svc = b["service"]["service_id"].as_i64().expect("id");
    let users = [("u0", 5_000), ("u1", 2_000), ("u2", 1_000), ("u3", 500), ("u4", 50)];
    let mut tokens = Vec::new();
    for (u, points) in users {
        tokens.push(s.register(u).await);
        assert_eq!(s.adjust(u, points).await.0, StatusCode::OK);
    }
    let mut tasks = Vec::new();
    for i in 0..500 {
        let s = s.clone();
        let token = tokens[i % users.len()].clone();
        tasks.push(tokio::spawn(async move {
            let body =
                json!({"service_id": svc, "link": format!("https://instagram.com/p/{i}"), "quantity": 100});
            s.call(Method::POST, "/api/orders", Auth::Bearer(&token), Some(body)).await
        }));
    }
    let mut accepted = HashSet::new();
    let mut refused = 0;
    for t in tasks {
        let (status, b) = t.await.expect("task");
        match status {
            StatusCode::OK => assert!(accepted.insert(b["order_id"].as_i64().expect("id"))),
            StatusCode::BAD_REQUEST => {
                assert_eq!(b["code"], "insufficient_points", "{b}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {b}"),
        }
    }
    // Each order costs 100: the users can afford 50 + 20 + 10 + 5 + 0 = 85.
    assert_eq!(accepted.len(), 85);
    assert_eq!(refused, 415);
    for (i, (u, points)) in users.iter().enumerate() {
        assert_eq!(s.points(&tokens[i]).await, points % 100, "{u} spent all it could");
    }
    // Every accepted order reaches the panel once: at once, or — when no slot of the panel's
    // limiter came free in time — on the next worker round (here, the cron).
    for _ in 0..400 {
        if h.smm.order_count() >= 85 {
            break;
        }
        cron(&s).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(h.smm.order_count(), 85, "every accepted order upstream");
    assert_eq!(cron(&s).await["processed"], 0, "nothing left to submit");
    let adds = h.smm.requests_for("add");
    assert_eq!(adds.len(), 85);
    let links: HashSet<String> = adds.iter().filter_map(|a| a.get("link").map(str::to_owned)).collect();
    assert_eq!(links.len(), 85, "no order was sent twice");
    let (_, charges) =
        s.call(Method::GET, "/api/admin/transactions?kind=order_charge&limit=1", Auth::Admin, None).await;
    assert_eq!(charges["total"], 85, "one charge per accepted order");
    // The panel has every order; each submission records the panel's answer just after it
    // (on a loaded machine, a moment after).
    let mut progressing = Value::Null;
    for _ in 0..200 {
        (_, progressing) =
            s.call(Method::GET, "/api/admin/orders?status=in_progress&limit=1", Auth::Admin, None).await;
        if progressing["total"] == 85 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(progressing["total"], 85);
    s.assert_ledger_consistent().await;
}

/// Refuses the first `refusals` calls for real (a closed port), then forwards to the fake.
struct RefusingFirst {
    refusals: usize,
    calls: AtomicUsize,
    closed: HttpSmm,
    fake: HttpSmm,
}

impl SmmTransport for RefusingFirst {
    fn post_form(&self, body: &str) -> Result<Answer, CallError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.refusals {
            self.closed.post_form(body)
        } else {
            self.fake.post_form(body)
        }
    }
}

async fn order(s: &TestServer, id: i64) -> serde_json::Value {
    s.call(Method::GET, &format!("/api/orders/{id}"), Auth::Admin, None).await.1["order"].clone()
}

async fn cron(s: &TestServer) -> serde_json::Value {
    s.raw(Method::POST, "/api/cron/process-scheduled-orders", &[("x-admin-token", common::ADMIN_TOKEN)], "")
        .await
        .2
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

async fn a_refused_connection_is_retried_until_the_panel_has_it_once(backend: Backend) {
    let fake = FakeSmm::start().await;
    let clock = Arc::new(ManualClock::new(Millis(1_800_000_000_000)));
    let timeouts = Timeouts { connect: Duration::from_millis(500), read: Duration::from_millis(500) };
    let transport = RefusingFirst {
        refusals: 2,
        calls: AtomicUsize::new(0),
        closed: HttpSmm::new(format!("http://127.0.0.1:{}/api/v2", closed_port()), timeouts),
        fake: HttpSmm::new(fake.url.clone(), timeouts),
    };
    let app_clock = clock.clone();
    let Some(s) = TestServer::start_app(backend, "refused_connection", &[], move |mut app| {
        app.smm = Some(SmmClient::new(Arc::new(transport), FAKE_KEY.into()));
        app.with_clock(app_clock)
    })
    .await
    else {
        return;
    };
    let (_, b) = s
        .call(
            Method::POST,
            "/api/admin/services",
            Auth::Admin,
            Some(json!({"provider_service_id": "1", "name": "f", "price_per_1000": 1000, "min_quantity": 10, "max_quantity": 1000})),
        )
        .await;
    let svc = b["service"]["service_id"].as_i64().expect("id");
    let token = s.register("rae").await;
    s.adjust("rae", 1000).await;
    let (_, b) = s
        .call(
            Method::POST,
            "/api/orders",
            Auth::Bearer(&token),
            Some(json!({"service_id": svc, "link": "https://x.com/rae", "quantity": 100})),
        )
        .await;
    let id = b["order_id"].as_i64().expect("id");
    for _ in 0..100 {
        if order(&s, id).await["error"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let o = order(&s, id).await;
    assert_eq!(o["status"], "pending", "refused: waits for a retry: {o}");
    assert!(o["error"].as_str().is_some_and(|e| e.starts_with("not sent")), "{o}");
    assert_eq!(cron(&s).await["processed"], 0, "not due before its back-off");
    clock.advance(61_000);
    assert_eq!(cron(&s).await["processed"], 1, "second attempt, refused again");
    assert_eq!(order(&s, id).await["status"], "pending");
    clock.advance(61_000);
    assert_eq!(cron(&s).await["processed"], 0, "the back-off doubled");
    clock.advance(61_000);
    assert_eq!(cron(&s).await["processed"], 1);
    let o = order(&s, id).await;
    assert_eq!(o["status"], "in_progress", "{o}");
    assert_eq!(fake.order_count(), 1);
    assert_eq!(fake.requests_for("add").len(), 1, "only the attempt that connected reached the panel");
    clock.advance(3_600_000);
    assert_eq!(cron(&s).await["processed"], 0);
    assert_eq!(fake.order_count(), 1);
    s.assert_ledger_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_refused_connection_is_retried() {
    a_refused_connection_is_retried_until_the_panel_has_it_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_refused_connection_is_retried() {
    a_refused_connection_is_retried_until_the_panel_has_it_once(Backend::Postgres).await;
}
