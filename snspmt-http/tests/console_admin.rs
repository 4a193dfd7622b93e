//! The operator's console pages (`/admin`) in a real browser and over raw HTTP, on SQLite and
//! PostgreSQL: a bank transfer approved, an `unknown` order resolved both ways, every page for
//! operators only, and no form that answers 5xx to odd input.

mod common;

use std::time::Duration;

use common::browser::Console;
use common::fake_smm::{self, FakeSmm, Fault};
use common::{Auth, Backend, TestServer, ADMIN_TOKEN, CRON_TOKEN};
use hyper::{HeaderMap, Method, StatusCode};
use serde_json::{json, Value};

const PASSWORD: &str = "correct-horse-1";

/// A customer with a password (so the browser can sign in as them); answers their session
/// token and user id.
async fn customer_with_password(s: &TestServer, email: &str) -> (String, String) {
    let body = json!({"email": email, "password": PASSWORD, "name": "고객"});
    let (status, b) = s.call(Method::POST, "/api/register", Auth::None, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    (b["token"].as_str().expect("token").to_owned(), b["user"]["user_id"].as_str().expect("id").to_owned())
}

/// Scenario B: a customer asks for a bank transfer; the operator approves it in the browser
/// (after the confirmation); the customer's dashboard shows the points.
async fn bank_transfer_approved_by_the_operator(c: Console) {
    let (s, b) = (&c.server, &c.browser);
    let (token, _) = customer_with_password(s, "bank@example.com").await;
    let (status, p) = s
        .call(
            Method::POST,
            "/api/points/purchase",
            Auth::Bearer(&token),
            Some(json!({"amount": 30000, "price": 30000, "buyer_name": "홍길동"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    let id = p["purchase_id"].as_i64().expect("purchase id");

    b.admin_login().await;
    assert_eq!(b.text("#pending-purchases").await, "1", "the dashboard counts the pending transfer");
    b.click("a[href='/admin/purchases']").await;
    assert!(b.text(&format!("#purchase-{id}")).await.contains("홍길동"), "the buyer's name is shown");
    // Declining the confirmation changes nothing.
    b.find(&format!("#approve-{id}-submit")).await.click().await.expect("click");
    b.client.dismiss_alert().await.expect("a confirmation is asked");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.points(&token).await, 0, "nothing moves without the confirmation");
    b.click_confirmed(&format!("#approve-{id}-submit")).await;
    assert!(b.has(".flash").await, "the approval is confirmed on the page");
    assert!(!b.has(&format!("#approve-{id}")).await, "an approved transfer cannot be approved again");
    assert!(b.text(&format!("#purchase-{id}")).await.contains("승인"));
    assert_eq!(s.points(&token).await, 30000);
    // A second approval of the same purchase (an old page posted again) is refused, credits nothing.
    let (status, _) = s
        .call(
            Method::PUT,
            &format!("/api/admin/purchases/{id}"),
            Auth::Admin,
            Some(json!({"status": "approved"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(s.points(&token).await, 30000);

    // The customer sees the balance.
    b.goto("/admin").await;
    b.sign_out().await;
    b.sign_in("bank@example.com", PASSWORD).await;
    assert_eq!(b.text("#dashboard-points").await, "30,000 P");
    s.assert_ledger_consistent().await;
}

console_tests!(bank_transfer_approved_by_the_operator);

/// A console wired to a fake panel (not the simulated one), so that a test can make an
/// order's outcome unknown.
async fn console_with_panel(backend: Backend, test: &str) -> Option<(Console, FakeSmm)> {
    let smm = FakeSmm::start().await;
    let vars = [
        ("SNSPMT_SIMULATE", "0"),
        ("SMMKINGS_API_URL", smm.url.as_str()),
        ("SMMKINGS_API_KEY", fake_smm::FAKE_KEY),
        ("SNSPMT_UPSTREAM_TIMEOUT_MS", "500"),
        ("CRON_TOKEN", CRON_TOKEN),
    ];
    let c = Console::start_with(backend, test, &vars).await?;
    Some((c, smm))
}

/// Places an order as `token` and waits until its submission settled; answers the order.
async fn placed(s: &TestServer, token: &str, service: i64, link: &str) -> Value {
    let body = json!({"service_id": service, "link": link, "quantity": 1000});
    let (status, b) = s.call(Method::POST, "/api/orders", Auth::Bearer(token), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    s.settled_order(b["order_id"].as_i64().expect("order id")).await
}

/// Scenario C: orders whose submission has no known outcome; the operator finds them on the
/// dashboard and resolves one as accepted by the panel (charged) and one as failed (refunded).
async fn unknown_order_resolved_by_the_operator(backend: Backend) {
    let Some((c, smm)) = console_with_panel(backend, "unknown_order_resolved").await else { return };
    let (s, b) = (&c.server, &c.browser);
    let service = s.create_service("1", 1000, json!({})).await;
    let (token, uid) = customer_with_password(s, "unknown@example.com").await;
    assert_eq!(s.adjust(&uid, 5000).await.0, StatusCode::OK);
    // The panel takes the first order but its answer comes too late; the second never arrives.
    smm.push_fault("add", Fault::Delay(Duration::from_millis(1500)));
    let taken = placed(s, &token, service, "https://instagram.com/taken").await;
    smm.push_fault("add", Fault::DropConnection);
    let lost = placed(s, &token, service, "https://instagram.com/lost").await;
    assert_eq!((taken["status"].as_str(), lost["status"].as_str()), (Some("unknown"), Some("unknown")));
    assert_eq!(s.points(&token).await, 3000, "both charged while unknown");
    assert!(smm.wait_for_orders(1, Duration::from_secs(3)).await, "the panel created the first");
    let upstream = smm.orders()[0].id.to_string();
    let (taken_id, lost_id) =
        (taken["order_id"].as_i64().expect("id"), lost["order_id"].as_i64().expect("id"));

    b.admin_login().await;
    assert_eq!(b.text("#attention-orders").await, "2");
    b.click(&format!("#attention-{taken_id}")).await;
    assert_eq!(b.path().await, format!("/admin/orders/{taken_id}"));
    b.fill("#resolve-accept input[name=smm_panel_order_id]", &upstream).await;
    b.click_confirmed("#resolve-accept-submit").await;
    assert!(b.has(".flash").await);
    assert!(!b.has("#resolve-accept").await, "a resolved order has no resolution form");
    let o = s.admin_order(taken_id).await;
    assert_eq!(
        (o["status"].as_str(), o["smm_panel_order_id"].as_str()),
        (Some("in_progress"), Some(upstream.as_str()))
    );
    assert_eq!(s.points(&token).await, 3000, "accepted by the panel: still charged");

    b.goto("/admin/orders?status=unknown").await;
    assert!(b.has(&format!("#order-{lost_id}")).await);
    assert!(!b.has(&format!("#order-{taken_id}")).await, "the filter shows only unknown orders");
    b.click(&format!("#order-{lost_id} a[href='/admin/orders/{lost_id}']")).await;
    b.click_confirmed("#resolve-fail-submit").await;
    let o = s.admin_order(lost_id).await;
    assert_eq!((o["status"].as_str(), o["refunded_amount"].as_i64()), (Some("failed"), Some(1000)));
    assert_eq!(s.points(&token).await, 4000, "never taken by the panel: refunded once");
    b.goto("/admin").await;
    assert_eq!(b.text("#attention-orders").await, "0");
    assert_eq!(smm.requests_for("add").len(), 2, "the console resent nothing");
    s.assert_ledger_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_order_resolved_by_the_operator_sqlite() {
    unknown_order_resolved_by_the_operator(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_order_resolved_by_the_operator_postgres() {
    unknown_order_resolved_by_the_operator(Backend::Postgres).await;
}
