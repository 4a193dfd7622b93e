//! `GET /metrics` is valid Prometheus text and moves with traffic; every answer carries a
//! request id.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::json;

use common::fake_smm::{FakeSmm, FAKE_KEY};
use common::{Auth, Backend, TestServer};

const METRICS_TOKEN: &str = "metrics-token-0123456789";

/// Parses the text exposition format strictly enough to catch malformed output: `# HELP` and
/// `# TYPE` comments, then `name{label="value",…} number` samples. Answers sample → value.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    let mut typed = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            typed.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "unexpected line {line:?}");
        let (series, value) = line.rsplit_once(' ').expect("sample value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line:?}"));
        let name = series.split('{').next().expect("name");
        assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'), "name {name}");
        if let Some(labels) = series.strip_prefix(name).filter(|l| !l.is_empty()) {
            let inner = labels.strip_prefix('{').and_then(|l| l.strip_suffix('}')).expect("braces");
            for pair in inner.split("\",") {
                let (k, v) = pair.split_once("=\"").expect("label=\"value\"");
                assert!(k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'), "label {k}");
                assert!(!v.trim_end_matches('"').contains('"'), "quote in {v}");
            }
        }
        let base = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name);
        assert!(typed.contains_key(name) || typed.contains_key(base), "no TYPE for {name}");
        samples.insert(series.to_owned(), value);
    }
    samples
}

async fn scrape(s: &TestServer) -> HashMap<String, f64> {
    let bearer = format!("Bearer {METRICS_TOKEN}");
    let (status, headers, _) =
        s.raw(Method::GET, "/metrics", &[("authorization", bearer.as_str())], "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/plain")));
    // The JSON client can't read text: fetch it raw.
    let client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let req = hyper::Request::get(format!("http://{}/metrics", s.addr))
        .header("authorization", bearer)
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .expect("request");
    use http_body_util::BodyExt;
    let body =
        client.request(req).await.expect("response").into_body().collect().await.expect("body").to_bytes();
    parse(std::str::from_utf8(&body).expect("utf-8"))
}

async fn metrics_move_with_traffic(backend: Backend) {
    let fake = FakeSmm::start().await;
    let vars = [
        ("METRICS_TOKEN", METRICS_TOKEN),
        ("SMMKINGS_API_URL", fake.url.as_str()),
        ("SMMKINGS_API_KEY", FAKE_KEY),
    ];
    let Some(s) = TestServer::start_with(backend, "metrics", &vars).await else { return };
    for (auth, want) in [
        (vec![], 401),
        (vec![("authorization", "Bearer wrong")], 401),
        (vec![("x-admin-token", common::ADMIN_TOKEN)], 200),
    ] {
        let (status, _, _) = s.raw(Method::GET, "/metrics", &auth, "").await;
        assert_eq!(status.as_u16(), want, "{auth:?}");
    }
    let token = s.register("mia").await;
    s.adjust("mia", 1000).await;
    let before = scrape(&s).await;
    let points = "snspmt_requests_total{endpoint=\"points\",status=\"200\"}";
    for _ in 0..3 {
        s.points(&token).await;
    }
    let (_, b) = s
        .call(
            Method::POST,
            "/api/admin/services",
            Auth::Admin,
            Some(json!({"provider_service_id": "1", "name": "f",
            "price_per_1000": 1000, "min_quantity": 10, "max_quantity": 1000})),
        )
        .await;
    let svc = b["service"]["service_id"].as_i64().expect("id");
    s.call(
        Method::POST,
        "/api/orders",
        Auth::Bearer(&token),
        Some(json!({"service_id": svc, "link": "https://x.com/m", "quantity": 100})),
    )
    .await;
    assert!(fake.wait_for_orders(1, Duration::from_secs(5)).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = scrape(&s).await;
    let get = |m: &HashMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(0.0);
    assert_eq!(get(&after, points) - get(&before, points), 3.0);
    assert!(get(&after, "snspmt_request_duration_seconds_count{endpoint=\"points\"}") >= 3.0);
    assert_eq!(get(&after, "snspmt_upstream_calls_total{upstream=\"smm\",call=\"add\",outcome=\"ok\"}"), 1.0);
    assert_eq!(get(&after, "snspmt_ledger_amount_total{kind=\"order_charge\"}"), -100.0);
    assert_eq!(get(&after, "snspmt_ledger_rows_total{kind=\"admin_adjust\"}"), 1.0);
    assert_eq!(get(&after, "snspmt_due_jobs"), 0.0);
    assert_eq!(get(&after, "snspmt_unknown_orders"), 0.0);

    // Request ids: a sane one is echoed, anything else replaced.
    let (_, h, _) = s.raw(Method::GET, "/health", &[("x-request-id", "abc-123")], "").await;
    assert_eq!(h.get("x-request-id").and_then(|v| v.to_str().ok()), Some("abc-123"));
    let (_, h, _) = s.raw(Method::GET, "/health", &[("x-request-id", "bad id <script>")], "").await;
    let id = h.get("x-request-id").and_then(|v| v.to_str().ok()).expect("id").to_owned();
    assert_eq!(id.len(), 16);
    let (_, h2, _) = s.raw(Method::GET, "/api/nope", &[], "").await;
    assert!(
        h2.get("x-request-id").is_some_and(|v| v.to_str().ok() != Some(id.as_str())),
        "errors carry an id too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_metrics_move_with_traffic() {
    metrics_move_with_traffic(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_metrics_move_with_traffic() {
    metrics_move_with_traffic(Backend::Postgres).await;
}
