//! An order's whole life in the log: with `SNSPMT_LOG_FORMAT=json` the binary writes one JSON
//! object a line on standard output for the placement's request, the submission, each cron run
//! and sync batch, and the settlement; the generated admin token never enters that stream.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::fake_smm::{FakeSmm, FAKE_KEY};
use serde_json::{json, Value};

const ADMIN: &str = "life-log-admin-token-0123456789";

async fn call(port: u16, method: &str, path: &str, auth: Option<(&str, String)>, body: Value) -> Value {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let mut req = hyper::Request::builder().method(method).uri(format!("http://127.0.0.1:{port}{path}"));
    if let Some((k, v)) = auth {
        req = req.header(k, v);
    }
    let req = req.body(http_body_util::Full::new(bytes::Bytes::from(body.to_string()))).expect("request");
    let resp = client.request(req).await.expect("answer");
    let bytes = http_body_util::BodyExt::collect(resp.into_body()).await.expect("body").to_bytes();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orders_life_is_in_the_json_log() {
    let fake = FakeSmm::start().await;
    let dir = std::env::temp_dir().join(format!("snspmt-life-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_snspmt"))
        .arg("serve")
        .env_clear()
        .env("SNSPMT_ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", format!("sqlite://{}", dir.join("life.db").display()))
        .env("ADMIN_TOKEN", ADMIN)
        .env("SMMKINGS_API_URL", &fake.url)
        .env("SMMKINGS_API_KEY", FAKE_KEY)
        .env("SNSPMT_WORKERS", "0")
        .env("SNSPMT_LOG_FORMAT", "json")
        .env("SNSPMT_REGISTER_RATE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let lines =
        std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).collect::<Vec<_>>());
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let admin = || Some(("x-admin-token", ADMIN.to_owned()));
    let svc = json!({"provider_service_id": "1", "name": "f", "price_per_1000": 1000, "min_quantity": 10, "max_quantity": 10000});
    let svc = call(port, "POST", "/api/admin/services", admin(), svc).await["service"]["service_id"].clone();
    let reg =
        call(port, "POST", "/api/register", None, json!({"user_id": "lou", "email": "lou@example.test"}))
            .await;
    let bearer = format!("Bearer {}", reg["token"].as_str().expect("token"));
    call(port, "PUT", "/api/admin/users/lou", admin(), json!({"points_adjustment": 10_000, "reason": "t"}))
        .await;
    let placed = call(
        port,
        "POST",
        "/api/orders",
        Some(("authorization", bearer)),
        json!({"service_id": svc, "link": "https://instagram.com/p/life", "quantity": 1000}),
    )
    .await;
    let order_id = placed["order"]["order_id"].as_i64().or(placed["order_id"].as_i64()).expect("order id");
    // The placement submits in the background; a cron run makes sure.
    let mut upstream = None;
    for _ in 0..100 {
        call(port, "POST", "/api/cron/process-scheduled-orders", admin(), Value::Null).await;
        upstream = fake.orders().first().map(|o| o.id);
        if upstream.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fake.set_status(upstream.expect("submitted"), "Partial", 400);
    call(port, "POST", "/api/cron/sync-order-status", admin(), Value::Null).await;
    let _ = child.kill();
    let _ = child.wait();
    let lines = lines.join().expect("reader");
    let _ = std::fs::remove_dir_all(&dir);

    let events: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|_| panic!("not one JSON object: {l}")))
        .collect();
    assert!(!lines.iter().any(|l| l.contains(ADMIN)), "no token in the log stream");
    let of = |msg: &str| events.iter().filter(|e| e["msg"] == msg).cloned().collect::<Vec<_>>();
    let placement = of("request").into_iter().find(|e| e["path"] == "/api/orders").expect("the placement");
    assert!(placement["request_id"].as_str().is_some_and(|r| !r.is_empty()), "{placement}");
    let placed = of("order.placed");
    let placed = placed.iter().find(|e| e["order_id"] == order_id).expect("the placement's line");
    assert_eq!((&placed["status"], &placed["request_id"]), (&json!("pending"), &placement["request_id"]));
    let submitted = of("order.submission");
    assert!(
        submitted.iter().any(|e| e["order_id"] == order_id && e["status"] == "in_progress"),
        "{submitted:?}"
    );
    assert!(of("cron.run").iter().any(|e| e["job"] == "sync-order-status"), "{events:?}");
    assert!(of("sync.batch").iter().any(|e| e["settled"] == 1), "{events:?}");
    let settled = of("order.settled");
    let settled = settled.iter().find(|e| e["order_id"] == order_id).expect("the settlement");
    assert_eq!(settled["status"], "partial");
    // Each line names the request that caused it: the submission the placement (or a cron run
    // that found the order still pending), the settlement the sync's cron request.
    let requests = of("request");
    let id_of = |path: &str| -> Vec<Value> {
        requests.iter().filter(|e| e["path"] == path).map(|e| e["request_id"].clone()).collect()
    };
    let submission = submitted.iter().find(|e| e["order_id"] == order_id).expect("submission");
    let causes: Vec<Value> = [id_of("/api/orders"), id_of("/api/cron/process-scheduled-orders")].concat();
    assert!(causes.contains(&submission["request_id"]), "{submission} not from {causes:?}");
    assert_eq!(id_of("/api/cron/sync-order-status"), vec![settled["request_id"].clone()], "{settled}");
    let batch = of("sync.batch");
    assert_eq!(batch.last().map(|b| b["request_id"].clone()), Some(settled["request_id"].clone()));
    assert_eq!(settled["refunded"], 400, "400 of 1000 undelivered at 1 point each: {settled}");
}
