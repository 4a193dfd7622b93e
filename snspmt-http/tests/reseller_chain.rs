//! snspmt as its own upstream: a second server's SMM panel is the first server's `/api/v2`,
//! reached with a reseller's key. Orders, drip-feed, refill and cancel travel through both, and
//! the money agrees on both sides. Also the reseller API's refill, refill_status and cancel
//! actions against one server.

mod common;

use std::time::Duration;

use common::fake_smm::FakeSmm;
use common::{Auth, Backend, Harness, TestServer, CRON_TOKEN};
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn snspmt_is_its_own_upstream_sqlite() {
    chain(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn snspmt_is_its_own_upstream_postgres() {
    chain(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn v2_refill_status_and_cancel_sqlite() {
    if let Some(h) = Harness::start(Backend::Sqlite, "v2_refill_cancel").await {
        v2_refill_and_cancel(h).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn v2_refill_status_and_cancel_postgres() {
    if let Some(h) = Harness::start(Backend::Postgres, "v2_refill_cancel").await {
        v2_refill_and_cancel(h).await;
    }
}

// ---- helpers ----

async fn call(s: &TestServer, method: Method, path: &str, auth: Auth<'_>, body: Option<Value>) -> Value {
    let (status, b) = s.call(method, path, auth, body).await;
    assert!(status.is_success(), "{path}: {status} {b}");
    b
}

async fn v2(s: &TestServer, key: &str, pairs: &[(&str, &str)]) -> Value {
    let body =
        form_urlencoded::Serializer::new(String::new()).append_pair("key", key).extend_pairs(pairs).finish();
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    let (status, _, b) = s.raw(Method::POST, "/api/v2", &headers, body).await;
    assert_eq!(status, StatusCode::OK, "{pairs:?}: {b}");
    b
}

async fn sync(s: &TestServer) {
    let (status, _, b) =
        s.raw(Method::POST, "/api/cron/sync-order-status", &[("x-cron-token", CRON_TOKEN)], "").await;
    assert_eq!(status, StatusCode::OK, "{b}");
}

async fn order(s: &TestServer, id: i64) -> Value {
    s.admin_order(id).await
}

/// Waits until the order left `pending`/`submitting`.
async fn submitted(s: &TestServer, id: i64) -> Value {
    s.settled_order(id).await
}

async fn place(s: &TestServer, token: &str, body: Value) -> i64 {
    let b = call(s, Method::POST, "/api/orders", Auth::Bearer(token), Some(body)).await;
    b["order_id"].as_i64().unwrap_or_else(|| panic!("no order id: {b}"))
}

/// The fake panel's order behind `snspmt` order `id` (its `smm_panel_order_id`).
async fn upstream_id(s: &TestServer, id: i64) -> i64 {
    let o = order(s, id).await;
    o["smm_panel_order_id"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .or_else(|| o["smm_panel_order_id"].as_i64())
        .unwrap_or_else(|| panic!("order {id} has no upstream id: {o}"))
}

/// Syncs `servers` in order until `check` holds for order `id` of the last one.
async fn sync_until(servers: &[&TestServer], id: i64, check: impl Fn(&Value) -> bool) -> Value {
    let last = servers[servers.len() - 1];
    for _ in 0..50 {
        for s in servers {
            sync(s).await;
        }
        let o = order(last, id).await;
        if check(&o) {
            return o;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("order {id} never got there: {}", order(last, id).await);
}

async fn points(s: &TestServer, user: &str) -> i64 {
    call(s, Method::GET, &format!("/api/users/{user}"), Auth::Admin, None).await["user"]["points"]
        .as_i64()
        .expect("points")
}

fn money(text: &Value) -> i64 {
    let t = text.as_str().unwrap_or_else(|| panic!("not a decimal string: {text}"));
    let (whole, frac) = t.split_once('.').unwrap_or((t, "0"));
    assert!(frac.bytes().all(|b| b == b'0'), "points are whole: {t}");
    whole.parse().unwrap_or_else(|_| panic!("not a number: {t}"))
}

/// Imports the upstream's catalogue at `usd_krw` and `markup_bps`; answers the service ids by
/// upstream id.
async fn import(s: &TestServer, usd_krw: u32, markup_bps: u32) -> Vec<(String, i64, i64)> {
    let body = json!({"usd_krw": usd_krw, "markup_bps": markup_bps});
    call(s, Method::POST, "/api/admin/services/import", Auth::Admin, Some(body)).await;
    let b = call(s, Method::GET, "/api/admin/services?limit=100", Auth::Admin, None).await;
    b["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|v| {
            (
                v["provider_service_id"].as_str().unwrap_or_default().to_owned(),
                v["service_id"].as_i64().expect("id"),
                v["price_per_1000"].as_i64().expect("price"),
            )
        })
        .collect()
}

fn by_provider(list: &[(String, i64, i64)], provider: &str) -> (i64, i64) {
    list.iter()
        .find(|(p, _, _)| p == provider)
        .map(|(_, id, price)| (*id, *price))
        .unwrap_or_else(|| panic!("no service {provider} in {list:?}"))
}

// ---- two servers ----

/// Panel A sells to a reseller whose software is panel B; B's customer orders on B.
async fn chain(backend: Backend) {
    let Some(Harness { server: a, smm }) = Harness::start(backend, "chain_upstream").await else { return };
    let fake: &FakeSmm = &smm;

    // A: the catalogue from the fake panel at 1,000 KRW a dollar; a reseller with 100,000 points
    // and a key.
    let a_services = import(&a, 1000, 0).await;
    let (a_followers, a_rate) = by_provider(&a_services, "1");
    assert_eq!(a_rate, 900, "0.90 USD a thousand at 1,000 KRW");
    let reseller_token = a.register("reseller").await;
    assert_eq!(a.adjust("reseller", 100_000).await.0, StatusCode::OK);
    let b_key = call(
        &a,
        Method::POST,
        "/api/user/api-keys",
        Auth::Bearer(&reseller_token),
        Some(json!({"name": "panel b"})),
    )
    .await["key"]
        .as_str()
        .expect("key")
        .to_owned();

    // B: its SMM panel is A's reseller API.
    let upstream = format!("http://{}/api/v2", a.addr);
    let vars = [
        ("SMMKINGS_API_URL", upstream.as_str()),
        ("SMMKINGS_API_KEY", b_key.as_str()),
        ("SNSPMT_UPSTREAM_TIMEOUT_MS", "3000"),
        ("CRON_TOKEN", CRON_TOKEN),
        ("SNSPMT_REFILL_COOLDOWN_SECS", "0"),
    ];
    let Some(b) = TestServer::start_with(backend, "chain_reseller", &vars).await else { return };
    let b_services = import(&b, 1, 2000).await;
    let (b_followers, b_rate) = by_provider(&b_services, &a_followers.to_string());
    assert_eq!(b_rate, 1080, "A's 900 with B's 20 % markup");
    let customer = b.register("customer").await;
    assert_eq!(b.adjust("customer", 50_000).await.0, StatusCode::OK);

    // 1. A normal order: B → A → fake, completed back up the chain.
    let plain = place(
        &b,
        &customer,
        json!({"service_id": b_followers, "link": "https://instagram.com/one", "quantity": 1000}),
    )
    .await;
    submitted(&b, plain).await;
    let a_plain = upstream_id(&b, plain).await;
    submitted(&a, a_plain).await;
    let a_order = order(&a, a_plain).await;
    assert_eq!((a_order["user_id"].as_str(), a_order["final_price"].as_i64()), (Some("reseller"), Some(900)));
    let fake_plain = upstream_id(&a, a_plain).await;
    assert_eq!(fake.order(fake_plain).expect("at the fake").quantity, 1000);
    fake.set_status(fake_plain, "Completed", 0);
    let done = sync_until(&[&a, &b], plain, |o| o["status"] == "completed").await;
    assert_eq!(money(&done["upstream_charge"]), 900, "B records what A charged: {done}");

    // 2. Drip-feed: 3 runs of 100, every 10 minutes, carried to the fake as such.
    let drip = place(
        &b,
        &customer,
        json!({"service_id": b_followers, "link": "https://instagram.com/two", "quantity": 100, "runs": 3, "interval": 10}),
    )
    .await;
    submitted(&b, drip).await;
    let a_drip = upstream_id(&b, drip).await;
    submitted(&a, a_drip).await;
    let a_drip_order = order(&a, a_drip).await;
    assert_eq!((a_drip_order["runs"].as_i64(), a_drip_order["final_price"].as_i64()), (Some(3), Some(270)));
    let fake_drip = fake.order(upstream_id(&a, a_drip).await).expect("at the fake");
    assert_eq!((fake_drip.quantity, fake_drip.runs, fake_drip.interval), (100, Some(3), Some(10)));
    fake.set_status(fake_drip.id, "Completed", 0);
    sync_until(&[&a, &b], drip, |o| o["status"] == "completed").await;

    // 3. A refill of the completed order, through both panels, its status synced back.
    let (status, r) =
        b.call(Method::POST, &format!("/api/orders/{plain}/refill"), Auth::Bearer(&customer), None).await;
    assert!(status.is_success(), "{status} {r}");
    let a_refills = call(&a, Method::GET, &format!("/api/orders/{a_plain}/refills"), Auth::Admin, None).await;
    assert_eq!(a_refills["refills"].as_array().map(Vec::len), Some(1), "{a_refills}");
    let fake_refill = fake.refills().into_iter().find(|r| r.order == fake_plain).expect("refill at the fake");
    fake.set_refill_status(fake_refill.id, "Completed");
    let mut refill_state = Value::Null;
    for _ in 0..50 {
        sync(&a).await;
        sync(&b).await;
        let list = call(&b, Method::GET, &format!("/api/orders/{plain}/refills"), Auth::Admin, None).await;
        refill_state = list["refills"][0]["state"].clone();
        if refill_state == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(refill_state, "completed");

    // 4. A cancel: forwarded through A to the fake; no money moves until the fake says so.
    let doomed = place(
        &b,
        &customer,
        json!({"service_id": b_followers, "link": "https://instagram.com/three", "quantity": 500}),
    )
    .await;
    submitted(&b, doomed).await;
    let a_doomed = upstream_id(&b, doomed).await;
    submitted(&a, a_doomed).await;
    let fake_doomed = upstream_id(&a, a_doomed).await;
    let (before_b, before_a) = (points(&b, "customer").await, points(&a, "reseller").await);
    let (status, c) =
        b.call(Method::POST, &format!("/api/orders/{doomed}/cancel"), Auth::Bearer(&customer), None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{c}");
    assert!(fake.cancels().iter().any(|c| c.order == fake_doomed), "the cancel reached the fake");
    sync(&a).await;
    sync(&b).await;
    assert_eq!(
        (points(&b, "customer").await, points(&a, "reseller").await),
        (before_b, before_a),
        "no refund yet"
    );
    fake.set_status(fake_doomed, "Canceled", 500);
    sync_until(&[&a, &b], doomed, |o| o["status"] == "canceled").await;
    assert_eq!(order(&a, a_doomed).await["status"], "canceled");
    assert_eq!(points(&b, "customer").await, before_b + 540, "B refunds its customer in full");
    assert_eq!(points(&a, "reseller").await, before_a + 450, "A refunds the reseller in full");

    // The money agrees on both sides: each B order's upstream charge is what A kept for it, B's
    // view of its balance at A is A's balance of the reseller, and each ledger adds up.
    let spent_at_a = 900 + 270;
    assert_eq!(points(&a, "reseller").await, 100_000 - spent_at_a);
    let balance = v2(&a, &b_key, &[("action", "balance")]).await;
    assert_eq!(money(&balance["balance"]), 100_000 - spent_at_a);
    assert_eq!(points(&b, "customer").await, 50_000 - 1080 - 324);
    for (b_id, a_id) in [(plain, a_plain), (drip, a_drip), (doomed, a_doomed)] {
        let (bo, ao) = (order(&b, b_id).await, order(&a, a_id).await);
        let kept = ao["final_price"].as_i64().unwrap_or(-1) - ao["refunded_amount"].as_i64().unwrap_or(-1);
        assert_eq!(money(&bo["upstream_charge"]), kept, "B order {b_id} / A order {a_id}: {bo} {ao}");
    }
    a.assert_ledger_consistent().await;
    b.assert_ledger_consistent().await;
}

// ---- the reseller actions refill, refill_status and cancel on one server ----

async fn v2_refill_and_cancel(h: Harness) {
    let s = &h.server;
    let services = import(s, 1000, 0).await;
    let (followers, _) = by_provider(&services, "1");
    let (likes, _) = by_provider(&services, "5");
    let key_of = |token: String| async move {
        call(s, Method::POST, "/api/user/api-keys", Auth::Bearer(&token), Some(json!({}))).await["key"]
            .as_str()
            .expect("key")
            .to_owned()
    };
    let ann = s.register("ann").await;
    let bob = s.register("bob").await;
    assert_eq!(s.adjust("ann", 10_000).await.0, StatusCode::OK);
    let (ann_key, bob_key) = (key_of(ann).await, key_of(bob).await);

    let add = |service: i64, link: &'static str| {
        let key = ann_key.clone();
        async move {
            let sid = service.to_string();
            let b = v2(s, &key, &[("action", "add"), ("service", &sid), ("link", link), ("quantity", "100")])
                .await;
            b["order"].as_i64().unwrap_or_else(|| panic!("no order: {b}"))
        }
    };
    let refillable = add(followers, "https://instagram.com/a").await;
    let plain = add(likes, "https://instagram.com/b").await;
    let running = add(followers, "https://instagram.com/c").await;
    for id in [refillable, plain, running] {
        submitted(s, id).await;
    }
    for id in [refillable, plain] {
        h.smm.set_status(upstream_id(s, id).await, "Completed", 0);
    }
    sync(s).await;

    // refill: one order, several orders with inline errors; another user's order is unknown.
    let r = v2(s, &ann_key, &[("action", "refill"), ("order", &refillable.to_string())]).await;
    let refill_id = r["refill"].as_i64().or_else(|| r["refill"].as_str().and_then(|t| t.parse().ok()));
    let refill_id = refill_id.unwrap_or_else(|| panic!("no refill id: {r}"));
    let bob_sees = v2(s, &bob_key, &[("action", "refill"), ("order", &refillable.to_string())]).await;
    assert_eq!(bob_sees, json!({"error": "Incorrect order ID"}));
    let many = format!("{plain},999999,{running}");
    let r = v2(s, &ann_key, &[("action", "refill"), ("orders", &many)]).await;
    let items = r.as_array().unwrap_or_else(|| panic!("a list: {r}"));
    assert_eq!(items.len(), 3, "{r}");
    for item in items {
        assert!(item["refill"]["error"].is_string(), "none of these can be refilled: {r}");
    }
    assert_eq!(items[1]["refill"], json!({"error": "Incorrect order ID"}));

    // refill_status: the fake's answer comes through the sync.
    let st = v2(s, &ann_key, &[("action", "refill_status"), ("refill", &refill_id.to_string())]).await;
    assert!(matches!(st["status"].as_str(), Some("Pending" | "In progress")), "{st}");
    let fake_refill = h.smm.refills().into_iter().next().expect("forwarded");
    h.smm.set_refill_status(fake_refill.id, "Completed");
    sync(s).await;
    let list = format!("{refill_id},424242");
    let st = v2(s, &ann_key, &[("action", "refill_status"), ("refills", &list)]).await;
    assert_eq!(st[0]["status"], "Completed", "{st}");
    assert_eq!(st[1]["status"], json!({"error": "Refill not found"}), "{st}");
    let st = v2(s, &bob_key, &[("action", "refill_status"), ("refill", &refill_id.to_string())]).await;
    assert_eq!(st, json!({"error": "Refill not found"}), "another user's refill does not exist");

    // cancel: forwarded for the running order, refused for others; refunded only on Canceled.
    let before = points(s, "ann").await;
    let list = format!("{running},{plain},999999");
    let c = v2(s, &bob_key, &[("action", "cancel"), ("orders", &running.to_string())]).await;
    assert_eq!(c[0]["cancel"], json!({"error": "Incorrect order ID"}), "{c}");
    let c = v2(s, &ann_key, &[("action", "cancel"), ("orders", &list)]).await;
    assert_eq!(c[0], json!({"order": running, "cancel": 1}), "{c}");
    assert!(c[1]["cancel"]["error"].is_string(), "a completed order cannot be canceled: {c}");
    assert_eq!(c[2]["cancel"], json!({"error": "Incorrect order ID"}), "{c}");
    let fake_running = upstream_id(s, running).await;
    assert!(h.smm.cancels().iter().any(|c| c.order == fake_running));
    sync(s).await;
    assert_eq!(points(s, "ann").await, before, "nothing refunded on the request");
    h.smm.set_status(fake_running, "Canceled", 100);
    sync(s).await;
    let o = order(s, running).await;
    assert_eq!(o["status"], "canceled");
    assert_eq!(points(s, "ann").await, before + o["final_price"].as_i64().expect("price"));
    let st = v2(s, &ann_key, &[("action", "status"), ("order", &running.to_string())]).await;
    assert_eq!(st["status"], "Canceled");
    s.assert_ledger_consistent().await;
}
