//! Scheduled orders with a clock the test moves, on SQLite and PostgreSQL; and due work run
//! exactly once by four server instances and concurrent cron calls on one PostgreSQL database.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::json;
use snspmt_http::clock::{Clock, ManualClock};
use snspmt_http::{App, Config};
use snspmt_store::testing::{postgres_url, PgTestSchema};
use snspmt_store::{Millis, PgStore, Store};

use common::fake_smm::{FakeSmm, FAKE_KEY};
use common::{assert_error_body, Auth, Backend, Harness, TestServer, ADMIN_TOKEN};

/// 2026-11-27 00:00 UTC (09:00 KST).
const START: i64 = 1_795_737_600_000;
const MINUTE: i64 = 60_000;

async fn harness(backend: Backend, test: &str) -> Option<(Harness, Arc<ManualClock>)> {
    Harness::with_clock(backend, test, START).await
}

async fn service(s: &TestServer) -> i64 {
    let body = json!({"provider_service_id": "1", "name": "followers", "price_per_1000": 1000,
                      "min_quantity": 10, "max_quantity": 100000});
    let (status, b) = s.call(Method::POST, "/api/admin/services", Auth::Admin, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b["service"]["service_id"].as_i64().expect("id")
}

async fn cron(s: &TestServer) -> i64 {
    let (status, _, b) = s
        .raw(Method::POST, "/api/cron/process-scheduled-orders", &[("x-admin-token", ADMIN_TOKEN)], "")
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b["processed"].as_i64().expect("processed")
}

async fn scheduled_orders_wait_for_their_time(backend: Backend) {
    let Some((h, clock)) = harness(backend, "scheduled_orders_wait").await else { return };
    let s = &h.server;
    let svc = service(s).await;
    let token = s.register("sam").await;
    s.adjust("sam", 10_000).await;
    // 09:30 KST, half an hour ahead, in the panel's local form.
    let (status, b) = s
        .call(
            Method::POST,
            "/api/scheduled-orders",
            Auth::Bearer(&token),
            Some(json!({"service_id": svc, "link": "https://x.com/sam", "quantity": 1000, "scheduled_datetime": "2026-11-27 09:30"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(
        (b["status"].as_str(), b["message"].as_str()),
        (Some("scheduled"), Some("예약 발송이 설정되었습니다."))
    );
    assert_eq!(b["scheduled_datetime"], "2026-11-27T00:30:00Z");
    let id = b["order_id"].as_i64().expect("id");
    assert_eq!(s.points(&token).await, 9_000, "charged at creation");
    // The same through /api/orders with is_scheduled, in RFC 3339; this one is canceled.
    let (status, b) = s
        .call(
            Method::POST,
            "/api/orders",
            Auth::Bearer(&token),
            Some(json!({"service_id": svc, "link": "https://x.com/sam2", "quantity": 1000, "is_scheduled": true,
                        "scheduled_datetime": "2026-11-27T11:00:00+09:00"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let other = b["order_id"].as_i64().expect("id");
    let (_, list) = s.call(Method::GET, "/api/admin/scheduled-orders", Auth::Admin, None).await;
    assert_eq!(list["total"], 2);
    assert_eq!(list["orders"][0]["is_scheduled"], true);

    // Not sent early.
    clock.advance(29 * MINUTE);
    assert_eq!(cron(s).await, 0);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(h.smm.requests_for("add").is_empty());
    let (status, b) =
        s.call(Method::POST, &format!("/api/orders/{other}/cancel"), Auth::Bearer(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["order"]["refunded_amount"], 1000);
    assert_eq!(s.points(&token).await, 9_000);

    // Due: sent once, however often the cron runs.
    clock.advance(MINUTE);
    assert_eq!(cron(s).await, 1);
    for _ in 0..3 {
        assert_eq!(cron(s).await, 0);
    }
    clock.advance(3 * 60 * MINUTE);
    assert_eq!(cron(s).await, 0, "the canceled one never goes");
    let adds = h.smm.requests_for("add");
    assert_eq!(adds.len(), 1);
    assert_eq!(adds[0].get("link"), Some("https://x.com/sam"));
    let (_, o) = s.call(Method::GET, &format!("/api/orders/{id}"), Auth::Bearer(&token), None).await;
    assert_eq!(o["order"]["status"], "in_progress");
    let (status, _) =
        s.call(Method::POST, &format!("/api/orders/{id}/cancel"), Auth::Bearer(&token), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "too late to cancel");
    s.assert_ledger_consistent().await;
}

async fn bad_schedules_charge_nothing(backend: Backend) {
    let Some((h, _clock)) = harness(backend, "bad_schedules").await else { return };
    let s = &h.server;
    let svc = service(s).await;
    let token = s.register("tia").await;
    s.adjust("tia", 10_000).await;
    for when in [
        json!("2026-11-27 08:00"),     // in the past
        json!("2026-11-27 09:04"),     // 4 minutes ahead
        json!("2026-12-05 09:00"),     // 8 days ahead
        json!("2026-11-27T00:04:00Z"), // 4 minutes ahead, RFC 3339
        json!("next tuesday"),
        json!("2026-02-30 10:00"),
        json!(12345),
        json!(null),
    ] {
        let body = json!({"service_id": svc, "link": "https://x.com/t", "quantity": 100, "scheduled_datetime": when});
        let (status, b) =
            s.call(Method::POST, "/api/scheduled-orders", Auth::Bearer(&token), Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{when}: {b}");
        assert!(matches!(b["code"].as_str(), Some("invalid_schedule" | "invalid_type")), "{when}: {b}");
    }
    let body = json!({"service_id": svc, "link": "https://x.com/t", "quantity": 100, "is_scheduled": true});
    let (status, b) = s.call(Method::POST, "/api/orders", Auth::Bearer(&token), Some(body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_body(&b, "invalid_schedule");
    for (field, value) in [("split_days", json!(1)), ("package_id", json!(1))] {
        let mut body = json!({"service_id": svc, "link": "https://x.com/t", "quantity": 100});
        body[field] = value;
        let (status, b) = s.call(Method::POST, "/api/orders", Auth::Bearer(&token), Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {b}");
    }
    assert_eq!(s.points(&token).await, 10_000, "nothing charged");
    let (_, list) = s.call(Method::GET, "/api/admin/orders", Auth::Admin, None).await;
    assert_eq!(list["total"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_scheduled_orders_wait_for_their_time() {
    scheduled_orders_wait_for_their_time(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_scheduled_orders_wait_for_their_time() {
    scheduled_orders_wait_for_their_time(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_bad_schedules_charge_nothing() {
    bad_schedules_charge_nothing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_bad_schedules_charge_nothing() {
    bad_schedules_charge_nothing(Backend::Postgres).await;
}

/// Four instances (own pools, own in-process workers) on one PostgreSQL database, plus
/// eight concurrent cron calls, over 1,000 due jobs: the panel receives each exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_instances_and_eight_crons_send_each_due_job_once() {
    let Some(url) = postgres_url("four_instances_and_eight_crons_send_each_due_job_once") else { return };
    let schema = PgTestSchema::create(&url, 4).await.expect("schema");
    let fake = FakeSmm::start().await;
    let clock = Arc::new(ManualClock::new(Millis(START)));
    let mut addrs = Vec::new();
    let mut stops = Vec::new();
    for _ in 0..4 {
        let store: Arc<dyn Store> =
            Arc::new(PgStore::connect(&schema.url_with_search_path(), 8).await.expect("pool"));
        let vars = [
            ("ADMIN_TOKEN", ADMIN_TOKEN),
            ("SMMKINGS_API_URL", fake.url.as_str()),
            ("SMMKINGS_API_KEY", FAKE_KEY),
            ("SNSPMT_LOG", "warn"),
        ];
        let config = Config::from_lookup(
            |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()),
            String::new,
        )
        .expect("config");
        let app = Arc::new(App::new(store, config).with_clock(clock.clone()));
        snspmt_http::jobs::spawn_workers(app.clone(), Duration::from_secs(3600));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        addrs.push(listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        stops.push(tx);
        tokio::spawn(snspmt_http::serve(listener, app, async move {
            let _ = rx.await;
        }));
    }
    let client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let call = |addr: std::net::SocketAddr,
                method: Method,
                path: &str,
                headers: Vec<(&'static str, String)>,
                body: String| {
        let client = client.clone();
        let uri = format!("http://{addr}{path}");
        async move {
            use http_body_util::BodyExt;
            let mut req = hyper::Request::builder().method(method).uri(uri);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let resp = client
                .request(req.body(http_body_util::Full::new(bytes::Bytes::from(body))).expect("req"))
                .await
                .expect("resp");
            let status = resp.status();
            let bytes = resp.into_body().collect().await.expect("body").to_bytes();
            (status, serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default())
        }
    };
    let admin = || vec![("x-admin-token", ADMIN_TOKEN.to_owned())];
    let svc = json!({"provider_service_id": "1", "name": "f", "price_per_1000": 10, "min_quantity": 10, "max_quantity": 1000});
    let (_, b) = call(addrs[0], Method::POST, "/api/admin/services", admin(), svc.to_string()).await;
    let svc = b["service"]["service_id"].as_i64().expect("service");
    let (_, b) = call(
        addrs[0],
        Method::POST,
        "/api/register",
        vec![],
        json!({"user_id": "bulk", "email": "bulk@example.test"}).to_string(),
    )
    .await;
    let bearer = format!("Bearer {}", b["token"].as_str().expect("token"));
    let adjust = json!({"points_adjustment": 1_000_000, "reason": "bulk"}).to_string();
    call(addrs[0], Method::PUT, "/api/admin/users/bulk", admin(), adjust).await;
    // 1,000 orders due at 09:10 KST, placed through all four instances.
    let mut placing = Vec::new();
    for i in 0..1000 {
        let body = json!({"service_id": svc, "link": format!("https://x.com/{i}"), "quantity": 10,
                          "scheduled_datetime": "2026-11-27 09:10"});
        let fut = call(
            addrs[i % 4],
            Method::POST,
            "/api/scheduled-orders",
            vec![("authorization", bearer.clone())],
            body.to_string(),
        );
        placing.push(tokio::spawn(fut));
    }
    for p in placing {
        let (status, b) = p.await.expect("task");
        assert_eq!(status, StatusCode::OK, "{b}");
    }
    assert!(fake.requests_for("add").is_empty());
    clock.advance(10 * MINUTE);
    let mut crons = Vec::new();
    for i in 0..8 {
        crons.push(tokio::spawn(call(
            addrs[i % 4],
            Method::POST,
            "/api/cron/process-scheduled-orders",
            admin(),
            String::new(),
        )));
    }
    let mut by_cron = 0;
    for c in crons {
        let (status, b) = c.await.expect("cron");
        assert_eq!(status, StatusCode::OK, "{b}");
        by_cron += b["processed"].as_i64().expect("processed");
    }
    assert!(
        fake.wait_for_orders(1000, Duration::from_secs(30)).await,
        "only {} reached the panel",
        fake.order_count()
    );
    tokio::time::sleep(Duration::from_secs(3)).await; // let the workers take another look
    let adds = fake.requests_for("add");
    let links: HashSet<String> = adds.iter().filter_map(|a| a.get("link").map(str::to_owned)).collect();
    assert_eq!((adds.len(), links.len()), (1000, 1000), "every job sent exactly once");
    assert!(by_cron <= 1000, "the crons claimed {by_cron}");
    let (_, b) =
        call(addrs[1], Method::GET, "/api/admin/orders?status=in_progress&limit=1", admin(), String::new())
            .await;
    assert_eq!(b["total"], 1000);
    let mismatches = schema.store.clone();
    assert!(snspmt_store::LedgerStore::ledger_mismatches(&mismatches).await.expect("ledger").is_empty());
    assert!(clock.now() > Millis(START));
    drop(stops);
}
