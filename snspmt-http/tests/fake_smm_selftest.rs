//! Self-test of the loopback SMM panel fake (`tests/common/fake_smm.rs`).

#[path = "common/fake_smm.rs"]
mod fake_smm;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use bytes::Bytes;
use fake_smm::{FakeSmm, Fault, FAKE_KEY};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

#[derive(Debug)]
struct Resp {
    status: StatusCode,
    content_type: Option<String>,
    text: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }
}

async fn send(
    client: &HttpClient,
    method: Method,
    url: &str,
    content_type: Option<&str>,
    body: String,
) -> Result<Resp, String> {
    let mut req = Request::builder().method(method).uri(url);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let req = req.body(Full::new(Bytes::from(body))).expect("request");
    let resp = client.request(req).await.map_err(|e| format!("{e:?}"))?;
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.map_err(|e| format!("{e:?}"))?.to_bytes();
    Ok(Resp {
        status: parts.status,
        content_type: parts.headers.get("content-type").map(|v| v.to_str().unwrap().to_owned()),
        text: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

fn form_body(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// A form POST with the right key prepended.
async fn form(fake: &FakeSmm, pairs: &[(&str, &str)]) -> Result<Resp, String> {
    let mut all = vec![("key", FAKE_KEY)];
    all.extend_from_slice(pairs);
    send(&client(), Method::POST, &fake.url, Some("application/x-www-form-urlencoded"), form_body(&all)).await
}

async fn call(fake: &FakeSmm, pairs: &[(&str, &str)]) -> Value {
    let r = form(fake, pairs).await.expect("transport");
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    r.json()
}

async fn expect_error(fake: &FakeSmm, pairs: &[(&str, &str)], msg: &str) {
    let v = call(fake, pairs).await;
    assert_eq!(v, json!({ "error": msg }), "request {pairs:?}");
}

#[tokio::test]
async fn form_json_and_get_bodies_are_accepted_and_recorded() {
    let fake = FakeSmm::start().await;
    assert!(fake.url.starts_with("http://127.0.0.1:") && fake.url.ends_with("/api/v2"), "{}", fake.url);
    let c = client();

    // Form.
    let r = send(
        &c,
        Method::POST,
        &fake.url,
        Some("application/x-www-form-urlencoded"),
        form_body(&[("key", FAKE_KEY), ("action", "services")]),
    )
    .await
    .unwrap();
    let services = r.json();
    let list = services.as_array().expect("array");
    assert_eq!(list.len(), 5);
    assert_eq!(
        list[0],
        json!({"service":1,"name":"Instagram Followers","type":"Default","category":"Instagram",
               "rate":"0.90","min":"10","max":"100000","refill":true,"cancel":true,"dripfeed":true})
    );
    let types: Vec<&str> = list.iter().map(|s| s["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["Default", "Custom Comments", "Package", "Subscriptions", "Default"]);
    assert_eq!(list[1]["rate"], "8");
    assert_eq!(list[1]["dripfeed"], false);
    assert_eq!(
        (&list[2]["rate"], &list[2]["min"], &list[2]["max"]),
        (&json!("12.5"), &json!("1"), &json!("1"))
    );
    assert_eq!(
        (&list[3]["rate"], &list[3]["min"], &list[3]["max"]),
        (&json!("2"), &json!("50"), &json!("5000"))
    );
    assert_eq!(list[4]["name"], "Instagram Likes");
    assert_eq!(
        (&list[4]["rate"], &list[4]["max"], &list[4]["dripfeed"]),
        (&json!("0.25"), &json!("50000"), &json!(false))
    );

    // JSON, with a number and a boolean.
    let body = json!({"key": FAKE_KEY, "action": "balance", "runs": 3, "flag": true}).to_string();
    let r = send(&c, Method::POST, &fake.url, Some("application/json"), body).await.unwrap();
    assert_eq!(r.json(), json!({"balance": "1000000.00000", "currency": "USD"}));

    // GET with a query string.
    let url = format!("{}?{}", fake.url, form_body(&[("key", FAKE_KEY), ("action", "balance")]));
    let r = send(&c, Method::GET, &url, None, String::new()).await.unwrap();
    assert_eq!(r.json()["currency"], "USD");

    // Wrong path.
    let r =
        send(&c, Method::POST, &fake.url.replace("/api/v2", "/api/v1"), None, String::new()).await.unwrap();
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let reqs = fake.requests();
    assert_eq!(reqs.len(), 4);
    assert_eq!(reqs[0].method, "POST");
    assert!(reqs[0].is_form() && !reqs[0].is_json());
    assert_eq!(reqs[0].content_type.as_deref(), Some("application/x-www-form-urlencoded"));
    assert_eq!(reqs[0].get("key"), Some(FAKE_KEY));
    assert_eq!(reqs[0].action(), Some("services"));
    assert!(reqs[1].is_json());
    assert_eq!(reqs[1].get("runs"), Some("3"));
    assert_eq!(reqs[1].get("flag"), Some("true"));
    assert_eq!(reqs[2].method, "GET");
    assert_eq!(reqs[2].content_type, None);
    assert_eq!(reqs[2].action(), Some("balance"));
    assert_eq!(reqs[3].path, "/api/v1");
    assert_eq!(fake.requests_for("balance").len(), 2);
    assert_eq!(fake.requests_for("services").len(), 1);
    assert!(fake.requests_for("add").is_empty());
}

#[tokio::test]
async fn add_creates_orders_with_the_right_fields() {
    let fake = FakeSmm::start().await;
    let start = fake.balance();

    // Default.
    let v = call(
        &fake,
        &[("action", "add"), ("service", "5"), ("link", "https://instagram.com/p/x"), ("quantity", "100")],
    )
    .await;
    assert_eq!(v, json!({"order": "1000"}));
    // Drip-feed: total = quantity × runs.
    let v = call(
        &fake,
        &[
            ("action", "add"),
            ("service", "1"),
            ("link", "https://instagram.com/u"),
            ("quantity", "400"),
            ("runs", "30"),
            ("interval", "1440"),
        ],
    )
    .await;
    assert_eq!(v, json!({"order": "1001"}));
    // Custom Comments: quantity is the number of non-empty lines.
    let v = call(
        &fake,
        &[
            ("action", "add"),
            ("service", "2"),
            ("link", "https://instagram.com/p/y"),
            ("comments", "nice\r\n\n  \nwow 🔥\ncool"),
        ],
    )
    .await;
    assert_eq!(v, json!({"order": "1002"}));
    // Package: no quantity.
    let v = call(&fake, &[("action", "add"), ("service", "3"), ("link", "https://instagram.com/p/z")]).await;
    assert_eq!(v, json!({"order": "1003"}));
    // Subscriptions: no link.
    let v = call(
        &fake,
        &[
            ("action", "add"),
            ("service", "4"),
            ("username", "someone"),
            ("min", "100"),
            ("max", "200"),
            ("delay", "0"),
        ],
    )
    .await;
    assert_eq!(v, json!({"order": "1004"}));

    let orders = fake.orders();
    assert_eq!(fake.order_count(), 5);
    let ids: Vec<i64> = orders.iter().map(|o| o.id).collect();
    assert_eq!(ids, [1000, 1001, 1002, 1003, 1004]);

    let o = &orders[0];
    assert_eq!((o.service.as_str(), o.link.as_str(), o.quantity), ("5", "https://instagram.com/p/x", 100));
    assert_eq!((o.runs, o.interval, o.comments.as_deref()), (None, None, None));
    assert_eq!((o.status.as_str(), o.remains, o.start_count), ("Pending", 100, 0));
    assert_eq!(o.charge, "0.02500"); // 0.25 × 100 / 1000

    let o = &orders[1];
    assert_eq!((o.quantity, o.runs, o.interval, o.remains), (400, Some(30), Some(1440), 12_000));
    assert_eq!(o.charge, "10.80000"); // 0.90 × 400 × 30 / 1000

    let o = &orders[2];
    assert_eq!((o.quantity, o.remains, o.charge.as_str()), (3, 3, "0.02400"));
    assert_eq!(o.comments.as_deref(), Some("nice\r\n\n  \nwow 🔥\ncool"));

    let o = &orders[3];
    assert_eq!((o.quantity, o.charge.as_str()), (1, "0.01250"));

    let o = &orders[4];
    assert_eq!((o.link.as_str(), o.username.as_deref(), o.quantity), ("", Some("someone"), 200));

    let spent: i64 = orders.iter().map(|o| o.charge_micros).sum();
    assert_eq!(spent, 25_000 + 10_800_000 + 24_000 + 12_500 + 400_000);
    assert_eq!(fake.balance(), start - spent);

    // The status of a fresh order, strings by default.
    let v = call(&fake, &[("action", "status"), ("order", "1001")]).await;
    assert_eq!(
        v,
        json!({"charge":"10.80000","start_count":"0","status":"Pending","remains":"12000","currency":"USD"})
    );
}

#[tokio::test]
async fn every_error_string() {
    let fake = FakeSmm::start().await;
    let c = client();
    let add = |service: &'static str, link: &'static str, qty: &'static str| {
        vec![("action", "add"), ("service", service), ("link", link), ("quantity", qty)]
    };

    // Key: wrong, missing, in JSON too.
    let r = send(
        &c,
        Method::POST,
        &fake.url,
        Some("application/x-www-form-urlencoded"),
        form_body(&[("key", "nope"), ("action", "balance")]),
    )
    .await
    .unwrap();
    assert_eq!((r.status, r.json()), (StatusCode::OK, json!({"error": "Invalid API key"})));
    let r =
        send(&c, Method::POST, &fake.url, Some("application/json"), json!({"action": "balance"}).to_string())
            .await
            .unwrap();
    assert_eq!(r.json(), json!({"error": "Invalid API key"}));
    // Not JSON although declared JSON.
    let r = send(&c, Method::POST, &fake.url, Some("application/json"), "{oops".into()).await.unwrap();
    assert_eq!(r.json(), json!({"error": "Incorrect request"}));
    expect_error(&fake, &[("action", "frobnicate")], "Incorrect request").await;

    expect_error(&fake, &add("99", "https://x.y/a", "100"), "Incorrect service ID").await;
    expect_error(&fake, &add("abc", "https://x.y/a", "100"), "Incorrect service ID").await;
    expect_error(&fake, &add("1", "https://x.y/a", "9"), "Quantity less than minimal 10").await;
    expect_error(&fake, &add("1", "https://x.y/a", "100001"), "Quantity more than maximum 100000").await;
    expect_error(&fake, &add("5", "https://x.y/a", "50001"), "Quantity more than maximum 50000").await;
    expect_error(&fake, &add("1", "https://x.y/a", "ten"), "Incorrect quantity").await;
    expect_error(&fake, &add("1", "", "100"), "Incorrect link").await;
    expect_error(&fake, &add("1", "https://x.y/a b", "100"), "Incorrect link").await;
    expect_error(&fake, &[("action", "add"), ("service", "1"), ("quantity", "100")], "Incorrect link").await;
    expect_error(
        &fake,
        &[("action", "add"), ("service", "2"), ("link", "https://x.y/a"), ("comments", "\n \r\n")],
        "Quantity less than minimal 1",
    )
    .await;
    let many = vec!["c"; 1501].join("\n");
    expect_error(
        &fake,
        &[("action", "add"), ("service", "2"), ("link", "https://x.y/a"), ("comments", many.as_str())],
        "Quantity more than maximum 1500",
    )
    .await;
    expect_error(
        &fake,
        &[
            ("action", "add"),
            ("service", "4"),
            ("username", "u"),
            ("min", "10"),
            ("max", "100"),
            ("delay", "0"),
        ],
        "Quantity less than minimal 50",
    )
    .await;

    // Funds: 0.90 × 1000 / 1000 = 0.9 USD = 900000 micros.
    fake.set_balance(899_999);
    expect_error(&fake, &add("1", "https://x.y/a", "1000"), "Not enough funds on balance").await;
    // Drip-feed multiplies: 0.90 × 100 × 10 / 1000 = 0.9 too.
    expect_error(
        &fake,
        &[
            ("action", "add"),
            ("service", "1"),
            ("link", "https://x.y/a"),
            ("quantity", "100"),
            ("runs", "10"),
            ("interval", "60"),
        ],
        "Not enough funds on balance",
    )
    .await;
    assert_eq!(fake.order_count(), 0);
    fake.set_balance(900_000);
    assert_eq!(call(&fake, &add("1", "https://x.y/a", "1000")).await, json!({"order": "1000"}));
    assert_eq!(fake.balance(), 0);
    let v = call(&fake, &[("action", "balance")]).await;
    assert_eq!(v, json!({"balance": "0.00000", "currency": "USD"}));
    fake.set_balance(100_842_920);
    let v = call(&fake, &[("action", "balance")]).await;
    assert_eq!(v, json!({"balance": "100.84292", "currency": "USD"}));

    // Duplicate links, only when enabled and only while the first order is active.
    assert_eq!(call(&fake, &add("5", "https://x.y/a", "10")).await, json!({"order": "1001"}));
    fake.set_reject_duplicate_links(true);
    expect_error(
        &fake,
        &add("5", "https://x.y/a", "10"),
        "You have active order with this link. Please wait until order being completed.",
    )
    .await;
    assert_eq!(call(&fake, &add("5", "https://x.y/other", "10")).await, json!({"order": "1002"}));
    fake.set_status(1000, "Completed", 0);
    fake.set_status(1001, "In progress", 5);
    expect_error(
        &fake,
        &add("5", "https://x.y/a", "10"),
        "You have active order with this link. Please wait until order being completed.",
    )
    .await;
    fake.set_status(1001, "Canceled", 10);
    assert_eq!(call(&fake, &add("5", "https://x.y/a", "10")).await, json!({"order": "1003"}));

    // Status / refill / cancel on unknown ids.
    expect_error(&fake, &[("action", "status"), ("order", "42")], "Incorrect order ID").await;
    expect_error(&fake, &[("action", "status"), ("order", "x")], "Incorrect order ID").await;
    expect_error(&fake, &[("action", "refill"), ("order", "42")], "Incorrect order ID").await;
    expect_error(&fake, &[("action", "refill_status"), ("refill", "42")], "Refill not found").await;
    assert_eq!(fake.order_count(), 4);
}

#[tokio::test]
async fn multi_status_inline_errors_and_numbers_as_ints() {
    let fake = FakeSmm::start().await;
    for _ in 0..2 {
        call(&fake, &[("action", "add"), ("service", "1"), ("link", "https://x.y/a"), ("quantity", "1000")])
            .await;
    }
    // 0.90 × 1000 / 1000 = 0.9; Partial with 250 of 1000 undelivered → 0.675 and 0.225 back.
    let before = fake.balance();
    fake.set_start_count(1000, 3572);
    fake.set_status(1000, "Partial", 250);
    assert_eq!(fake.balance(), before + 225_000);
    fake.set_status(1001, "In progress", 10);

    let v = call(&fake, &[("action", "status"), ("orders", "1000, 7,1001")]).await;
    assert_eq!(
        v,
        json!({
            "1000": {"charge":"0.67500","start_count":"3572","status":"Partial","remains":"250","currency":"USD"},
            "7": {"error":"Incorrect order ID"},
            "1001": {"charge":"0.90000","start_count":"0","status":"In progress","remains":"10","currency":"USD"},
        })
    );
    let too_many = (1..=101).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    expect_error(&fake, &[("action", "status"), ("orders", too_many.as_str())], "Incorrect request").await;

    fake.set_numbers_as_ints(true);
    let v = call(&fake, &[("action", "status"), ("order", "1000")]).await;
    assert_eq!(
        v,
        json!({"charge":0.675,"start_count":3572,"status":"Partial","remains":250,"currency":"USD"})
    );
    let v = call(&fake, &[("action", "status"), ("orders", "1001")]).await;
    assert_eq!(v["1001"]["remains"], json!(10));
    let v =
        call(&fake, &[("action", "add"), ("service", "5"), ("link", "https://x.y/b"), ("quantity", "10")])
            .await;
    assert_eq!(v, json!({"order": 1002}));
    let v = call(&fake, &[("action", "services")]).await;
    assert_eq!((&v[0]["min"], &v[0]["max"], &v[0]["rate"]), (&json!(10), &json!(100000), &json!("0.90")));
    fake.set_numbers_as_ints(false);
    let v =
        call(&fake, &[("action", "add"), ("service", "5"), ("link", "https://x.y/c"), ("quantity", "10")])
            .await;
    assert_eq!(v, json!({"order": "1003"}));

    // Negative remains (over-delivery) and an unknown status pass through.
    fake.set_status(1003, "Processing", -2);
    let v = call(&fake, &[("action", "status"), ("order", "1003")]).await;
    assert_eq!((&v["status"], &v["remains"]), (&json!("Processing"), &json!("-2")));
    // Canceled: charge zero, refunded.
    let before = fake.balance();
    fake.set_status(1002, "Canceled", 10);
    assert_eq!(fake.order(1002).unwrap().charge, "0.00000");
    assert_eq!(fake.balance(), before + 2_500);
}

#[tokio::test]
async fn refill_and_cancel() {
    let fake = FakeSmm::start().await;
    call(&fake, &[("action", "add"), ("service", "1"), ("link", "https://x.y/a"), ("quantity", "100")]).await;
    call(&fake, &[("action", "add"), ("service", "5"), ("link", "https://x.y/b"), ("quantity", "100")]).await;

    assert_eq!(call(&fake, &[("action", "refill"), ("order", "1000")]).await, json!({"refill": "1"}));
    let v = call(&fake, &[("action", "refill"), ("orders", "1000,1001,9")]).await;
    assert_eq!(
        v,
        json!([
            {"order":1000,"refill":2},
            {"order":1001,"refill":{"error":"Refill is disabled for this service"}},
            {"order":9,"refill":{"error":"Incorrect order ID"}},
        ])
    );
    assert_eq!(fake.refills().len(), 2);
    fake.set_refill_status(2, "Rejected");
    assert_eq!(
        call(&fake, &[("action", "refill_status"), ("refill", "1")]).await,
        json!({"status": "Pending"})
    );
    let v = call(&fake, &[("action", "refill_status"), ("refills", "1,2,3")]).await;
    assert_eq!(
        v,
        json!([
            {"refill":1,"status":"Pending"},
            {"refill":2,"status":"Rejected"},
            {"refill":3,"status":{"error":"Refill not found"}},
        ])
    );

    let v = call(&fake, &[("action", "cancel"), ("orders", "9,1000,1001")]).await;
    assert_eq!(
        v,
        json!([
            {"order":9,"cancel":{"error":"Incorrect order ID"}},
            {"order":1000,"cancel":1},
            {"order":1001,"cancel":{"error":"Cancel is disabled for this service"}},
        ])
    );
    assert_eq!(fake.cancels().len(), 1);
    assert_eq!(fake.order(1000).unwrap().status, "Pending", "cancel does not advance the order");
    expect_error(&fake, &[("action", "cancel"), ("order", "1000")], "Incorrect request").await;
}

#[tokio::test]
async fn faults() {
    let fake = FakeSmm::start().await;
    let add = [("action", "add"), ("service", "1"), ("link", "https://x.y/a"), ("quantity", "100")];

    // Faults are per action: one queued for `add` does not touch `balance`.
    fake.push_fault("add", Fault::DropConnection);
    fake.push_fault("add", Fault::CommitThenDrop);
    fake.push_fault(
        "add",
        Fault::Http { status: 502, content_type: "text/html", body: "<html>Bad gateway</html>".into() },
    );
    fake.push_fault("add", Fault::Raw(String::new()));
    fake.push_fault("add", Fault::Raw("{\"order\":".into()));
    fake.push_fault("add", Fault::Error("Not enough funds on balance".into()));
    assert_eq!(fake.pending_faults(), 6);
    assert_eq!(call(&fake, &[("action", "balance")]).await["currency"], "USD");

    // DropConnection: a client error, nothing created.
    let e = form(&fake, &add).await.expect_err("dropped");
    assert!(!e.is_empty());
    assert_eq!(fake.order_count(), 0);

    // CommitThenDrop: a client error, and the order exists.
    form(&fake, &add).await.expect_err("dropped after commit");
    assert_eq!(fake.order_count(), 1);
    assert_eq!(fake.orders()[0].id, 1000);

    // Http 502 HTML.
    let r = form(&fake, &add).await.unwrap();
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert_eq!(r.content_type.as_deref(), Some("text/html"));
    assert_eq!(r.text, "<html>Bad gateway</html>");

    // Raw empty, then truncated JSON.
    let r = form(&fake, &add).await.unwrap();
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, ""));
    let r = form(&fake, &add).await.unwrap();
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, "{\"order\":"));

    // Error.
    let r = form(&fake, &add).await.unwrap();
    assert_eq!((r.status, r.json()), (StatusCode::OK, json!({"error": "Not enough funds on balance"})));
    assert_eq!(fake.order_count(), 1);
    assert_eq!(fake.pending_faults(), 0);

    // The queue is empty: normal behaviour again.
    assert_eq!(call(&fake, &add).await, json!({"order": "1001"}));

    // Every request was recorded, faulted or not.
    assert_eq!(fake.requests_for("add").len(), 7);
    assert_eq!(fake.requests().len(), 8);

    // Faults on other actions.
    fake.push_fault("status", Fault::Http { status: 503, content_type: "text/plain", body: "busy".into() });
    let r = form(&fake, &[("action", "status"), ("order", "1000")]).await.unwrap();
    assert_eq!((r.status, r.text.as_str()), (StatusCode::SERVICE_UNAVAILABLE, "busy"));
    assert_eq!(call(&fake, &[("action", "status"), ("order", "1000")]).await["status"], "Pending");
}

#[tokio::test]
async fn drops_on_a_pooled_keep_alive_connection_are_not_retried() {
    let fake = FakeSmm::start().await;
    let c = client();
    let body = |action: &str| {
        form_body(&[
            ("key", FAKE_KEY),
            ("action", action),
            ("service", "1"),
            ("link", "https://x.y/a"),
            ("quantity", "100"),
        ])
    };
    let ct = Some("application/x-www-form-urlencoded");
    // Warm the pool, so the next requests go over a reused connection.
    send(&c, Method::POST, &fake.url, ct, body("balance")).await.unwrap();
    fake.push_fault("add", Fault::DropConnection);
    send(&c, Method::POST, &fake.url, ct, body("add")).await.expect_err("dropped");
    assert_eq!(fake.order_count(), 0);
    send(&c, Method::POST, &fake.url, ct, body("balance")).await.unwrap();
    fake.push_fault("add", Fault::CommitThenDrop);
    send(&c, Method::POST, &fake.url, ct, body("add")).await.expect_err("dropped after commit");
    assert_eq!(fake.order_count(), 1);
    assert_eq!(fake.requests_for("add").len(), 2, "the client did not resend");
    // The pool recovers.
    let r = send(&c, Method::POST, &fake.url, ct, body("add")).await.unwrap();
    assert_eq!(r.json(), json!({"order": "1001"}));
}

#[tokio::test]
async fn delay_is_observed_and_commits_after_a_client_timeout() {
    let fake = FakeSmm::start().await;
    let add = [("action", "add"), ("service", "1"), ("link", "https://x.y/a"), ("quantity", "100")];

    fake.push_fault("balance", Fault::Delay(Duration::from_millis(300)));
    let t = Instant::now();
    let v = call(&fake, &[("action", "balance")]).await;
    assert!(t.elapsed() >= Duration::from_millis(300), "{:?}", t.elapsed());
    assert_eq!(v["currency"], "USD");

    // The client gives up after 100 ms; the fake still creates the order at 400 ms.
    fake.push_fault("add", Fault::Delay(Duration::from_millis(400)));
    let t = Instant::now();
    let r = tokio::time::timeout(Duration::from_millis(100), form(&fake, &add)).await;
    assert!(r.is_err(), "timed out");
    assert!(fake.wait_for_requests("add", 1, Duration::from_secs(2)).await);
    assert_eq!(fake.order_count(), 0, "not yet committed");
    assert!(fake.wait_for_orders(1, Duration::from_secs(5)).await);
    assert!(t.elapsed() >= Duration::from_millis(400));
    assert_eq!(fake.orders()[0].quantity, 100);
}

/// Sends raw bytes on one connection and reads until the server closes it.
fn raw_exchange(addr: std::net::SocketAddr, payload: Vec<u8>) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&payload).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read until close");
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn raw_http_keep_alive_chunked_and_drop() {
    let fake = FakeSmm::start().await;
    let addr = fake.addr;
    let body1 = form_body(&[("key", FAKE_KEY), ("action", "balance")]);
    let body2 =
        json!({"key": FAKE_KEY, "action": "add", "service": 5, "link": "https://x.y/a", "quantity": 10})
            .to_string();
    // Two pipelined requests on one connection: form with Content-Length, then chunked JSON
    // with `Connection: close`.
    let mut payload = format!(
        "POST /api/v2 HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{}",
        body1.len(),
        body1
    );
    let (a, b) = body2.split_at(10);
    payload.push_str(&format!(
        "POST /api/v2 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    ));
    let text = tokio::task::spawn_blocking(move || raw_exchange(addr, payload.into_bytes())).await.unwrap();
    let responses: Vec<&str> = text.split("HTTP/1.1 ").filter(|s| !s.is_empty()).collect();
    assert_eq!(responses.len(), 2, "{text}");
    assert!(responses[0].starts_with("200 OK\r\n"), "{text}");
    assert!(responses[0].contains("Connection: keep-alive\r\n"), "{text}");
    assert!(responses[0].ends_with("{\"balance\":\"1000000.00000\",\"currency\":\"USD\"}"), "{text}");
    let expected = "{\"order\":\"1000\"}";
    assert!(responses[1].contains(&format!("Content-Length: {}\r\n", expected.len())), "{text}");
    assert!(responses[1].contains("Connection: close\r\n"), "{text}");
    assert!(responses[1].ends_with(expected), "{text}");
    assert_eq!(fake.orders()[0].link, "https://x.y/a");
    assert_eq!(fake.requests()[1].get("service"), Some("5"));

    // DropConnection closes without a single byte.
    fake.push_fault("balance", Fault::DropConnection);
    let payload = format!(
        "POST /api/v2 HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{}",
        body1.len(),
        body1
    );
    let text = tokio::task::spawn_blocking(move || raw_exchange(addr, payload.into_bytes())).await.unwrap();
    assert_eq!(text, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overload_answers_429_above_the_cap_and_throttled_calls_create_nothing() {
    let fake = FakeSmm::start().await;
    fake.set_latency(Duration::from_secs(1));
    fake.set_max_concurrent(Some(3));
    let mut calls = Vec::new();
    for i in 0..8 {
        let fake_url = fake.url.clone();
        calls.push(tokio::spawn(async move {
            let link = format!("https://x.y/{i}");
            let body = form_body(&[
                ("key", FAKE_KEY),
                ("action", "add"),
                ("service", "1"),
                ("link", &link),
                ("quantity", "100"),
            ]);
            send(&client(), Method::POST, &fake_url, Some("application/x-www-form-urlencoded"), body).await
        }));
    }
    let mut statuses = Vec::new();
    for c in calls {
        let r = c.await.expect("task").expect("transport");
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(r.content_type.as_deref(), Some("text/html"));
            assert!(r.text.contains("429 Too Many Requests"), "{}", r.text);
        }
        statuses.push(r.status);
    }
    // Eight at once against a cap of three (a loaded machine may spread the arrivals).
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert!(ok >= 3 && fake.throttled() >= 1, "{statuses:?}");
    assert_eq!(ok + fake.throttled(), 8, "{statuses:?}");
    assert_eq!(fake.order_count(), ok, "a 429 creates nothing");
    assert!((4..=8).contains(&fake.peak_concurrent()), "peak {}", fake.peak_concurrent());
    assert_eq!(fake.requests_for("add").len(), 8, "every request is recorded");

    // Off again; and the next k calls of an action answered 429, then normal.
    fake.set_max_concurrent(None);
    fake.set_latency(Duration::ZERO);
    fake.push_throttled("add", 2);
    let add = [("action", "add"), ("service", "1"), ("link", "https://x.y/k"), ("quantity", "100")];
    for _ in 0..2 {
        assert_eq!(form(&fake, &add).await.expect("transport").status, StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(call(&fake, &add).await["order"], json!((1000 + ok).to_string()));
}

#[tokio::test]
async fn typed_services_check_their_required_parameters() {
    let fake = FakeSmm::start().await;
    fake.set_services(fake_smm::typed_services());
    let link = ("link", "https://x.y/p");
    // Mentions: `usernames` is required, and recorded with the order.
    expect_error(
        &fake,
        &[("action", "add"), ("service", "10"), link, ("quantity", "5")],
        "Incorrect usernames",
    )
    .await;
    let v =
        call(&fake, &[("action", "add"), ("service", "10"), link, ("quantity", "5"), ("usernames", "a\nb")])
            .await;
    assert!(v["order"].is_string(), "{v}");
    let o = fake.orders().pop().expect("order");
    assert_eq!((o.quantity, o.params.get("usernames").map(String::as_str)), (5, Some("a\nb")));
    // Mentions Custom List: the quantity is the number of usernames.
    let v = call(&fake, &[("action", "add"), ("service", "12"), link, ("usernames", "a\n\nb\nc")]).await;
    assert!(v["order"].is_string(), "{v}");
    assert_eq!(fake.orders().pop().map(|o| o.quantity), Some(3));
    // Web Traffic: the keyword only for Google traffic.
    let web =
        [("action", "add"), ("service", "20"), link, ("quantity", "5"), ("country", "KR"), ("device", "1")];
    let mut google = web.to_vec();
    google.push(("type_of_traffic", "1"));
    expect_error(&fake, &google, "Incorrect google_keyword").await;
    let mut blank = web.to_vec();
    blank.push(("type_of_traffic", "3"));
    assert!(call(&fake, &blank).await["order"].is_string());
}
