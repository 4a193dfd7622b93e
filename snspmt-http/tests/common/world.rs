//! A world of one of everything, made through the API: services, packages, a notice, a post,
//! a coupon, alice referring bob, bob's orders (completed, in progress, unknown), purchases, a
//! withdrawal request and an API key. The audit walk and the OpenAPI validation act on it.

use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use snspmt_store::Millis;

use super::fake_smm::{FakeSmm, Fault};
use super::{Auth, TestServer, CRON_TOKEN};

/// The ids the walk's calls act on, made beforehand.
pub struct World {
    pub service: i64,
    pub spare_service: i64,
    pub package: i64,
    pub spare_package: i64,
    pub notice: i64,
    pub post: i64,
    pub coupon: i64,
    pub unknown_order: i64,
    pub live_order: i64,
    pub purchase: i64,
    /// A card purchase whose approval answer was lost (`approval_unknown`).
    pub unknown_purchase: i64,
    pub withdrawal: Value,
    /// One of bob's reseller API keys.
    pub api_key: String,
    /// Sessions of alice (the referrer) and bob (the customer).
    pub alice: String,
    pub bob: String,
}

pub async fn ok(s: &TestServer, method: Method, path: &str, auth: Auth<'_>, body: Option<Value>) -> Value {
    let (status, b) = s.call(method.clone(), path, auth, body).await;
    assert_eq!(status, StatusCode::OK, "{method} {path}: {b}");
    b
}

pub async fn order_status(s: &TestServer, id: i64) -> Value {
    ok(s, Method::GET, &format!("/api/orders/{id}"), Auth::Admin, None).await["order"].clone()
}

/// Waits until the order left `pending` and `submitting`; answers it.
pub async fn settled(s: &TestServer, id: i64) -> Value {
    for _ in 0..300 {
        let o = order_status(s, id).await;
        if o["status"] != "pending" && o["status"] != "submitting" {
            return o;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("order {id} stayed pending");
}

pub async fn place(s: &TestServer, token: &str, service: i64, quantity: i64) -> i64 {
    let body = json!({"service_id": service, "link": format!("https://instagram.com/{quantity}"), "quantity": quantity});
    ok(s, Method::POST, "/api/orders", Auth::Bearer(token), Some(body)).await["order_id"]
        .as_i64()
        .expect("id")
}

pub async fn world(s: &TestServer, smm: &FakeSmm) -> World {
    let service_body = |id: &str| {
        json!({"provider_service_id": id, "name": "followers", "category": "Instagram",
            "price_per_1000": 1000, "min_quantity": 10, "max_quantity": 1_000_000})
    };
    let service = ok(s, Method::POST, "/api/admin/services", Auth::Admin, Some(service_body("1"))).await
        ["service"]["service_id"]
        .as_i64()
        .expect("id");
    let spare_service = ok(s, Method::POST, "/api/admin/services", Auth::Admin, Some(service_body("3")))
        .await["service"]["service_id"]
        .as_i64()
        .expect("id");
    let package_body = json!({"name": "p1", "price": 50, "steps": [{"service_id": service, "quantity": 10}]});
    let package = ok(s, Method::POST, "/api/admin/packages", Auth::Admin, Some(package_body.clone())).await
        ["package"]["package_id"]
        .as_i64()
        .expect("id");
    let spare_package = ok(s, Method::POST, "/api/admin/packages", Auth::Admin, Some(package_body)).await
        ["package"]["package_id"]
        .as_i64()
        .expect("id");
    let notice_body = json!({"title": "n1", "content": "c", "popup_type": "modal"});
    let notice = ok(s, Method::POST, "/api/admin/notices", Auth::Admin, Some(notice_body)).await["notice"]
        ["notice_id"]
        .as_i64()
        .expect("id");
    let post = ok(s, Method::POST, "/api/blog/posts", Auth::Admin, Some(json!({"title": "b1"}))).await
        ["post"]["post_id"]
        .as_i64()
        .expect("id");
    let coupon_body = json!({"code": "AUDIT1", "discount_type": "fixed", "discount_value": 100});
    let coupon = ok(s, Method::POST, "/api/admin/coupons", Auth::Admin, Some(coupon_body)).await["coupon"]
        ["id"]
        .as_i64()
        .expect("id");

    // Alice refers Bob; Bob's completed order earns her 2,000, of which 1,000 she asks out.
    let register = |id: &'static str| async move {
        let body = json!({"user_id": id, "email": format!("{id}@example.com")});
        ok(s, Method::POST, "/api/register", Auth::None, Some(body)).await["token"]
            .as_str()
            .expect("token")
            .to_owned()
    };
    let alice = register("alice").await;
    let bob = register("bob").await;
    register("carol").await;
    assert_eq!(s.adjust("bob", 100_000).await.0, StatusCode::OK);
    let code = ok(
        s,
        Method::POST,
        "/api/admin/referral/register",
        Auth::Admin,
        Some(json!({"email": "alice@example.com"})),
    )
    .await["code"]
        .as_str()
        .expect("code")
        .to_owned();
    ok(s, Method::POST, "/api/referral/use-code", Auth::Bearer(&bob), Some(json!({"code": code}))).await;
    let earning = place(s, &bob, service, 20_000).await;
    let upstream = settled(s, earning).await["smm_panel_order_id"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("accepted upstream");
    smm.set_status(upstream, "Completed", 0);
    let (status, _, b) =
        s.raw(Method::POST, "/api/cron/sync-order-status", &[("x-cron-token", CRON_TOKEN)], "").await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let book = ok(s, Method::GET, "/api/referral/commission-points", Auth::Bearer(&alice), None).await;
    assert!(book["current_balance"].as_i64().unwrap_or(0) >= 1_100, "{book}");
    let withdrawal_body = json!({"amount": 1000, "bank_name": "국민은행", "account_number": "123-45-678", "account_holder": "홍길동"});
    let withdrawal =
        ok(s, Method::POST, "/api/referral/withdrawal-request", Auth::Bearer(&alice), Some(withdrawal_body))
            .await["request_id"]
            .clone();

    let live_order = place(s, &bob, service, 1000).await;
    assert_eq!(settled(s, live_order).await["status"], "in_progress");
    smm.push_fault("add", Fault::Delay(Duration::from_millis(1500)));
    let unknown_order = place(s, &bob, service, 1001).await;
    assert_eq!(settled(s, unknown_order).await["status"], "unknown");
    let purchase_body = json!({"amount": 30000, "price": 30000, "buyer_name": "밥"});
    let purchase = ok(s, Method::POST, "/api/points/purchase", Auth::Bearer(&bob), Some(purchase_body)).await
        ["purchase_id"]
        .as_i64()
        .expect("id");
    let unknown_purchase = approval_unknown_purchase(s).await;
    let api_key = ok(s, Method::POST, "/api/user/api-keys", Auth::Bearer(&bob), Some(json!({"name": "bot"})))
        .await["api_key"]["id"]
        .as_str()
        .expect("key id")
        .to_owned();
    World {
        service,
        spare_service,
        package,
        spare_package,
        notice,
        post,
        coupon,
        unknown_order,
        live_order,
        purchase,
        unknown_purchase,
        withdrawal,
        api_key,
        alice,
        bob,
    }
}

/// A card purchase of bob's left `approval_unknown`, written through the store as the approval
/// task would leave it.
pub async fn approval_unknown_purchase(s: &TestServer) -> i64 {
    use snspmt_core::purchase::{ApprovalOutcome, PurchaseMethod};
    let new = snspmt_store::NewPurchase {
        user_id: "bob".into(),
        method: PurchaseMethod::Kcp,
        amount: snspmt_core::Points(5000),
        price: snspmt_core::Won(5000),
        buyer_name: None,
        bank_info: None,
        ordr_idxx: Some("AUDITWALK0001".into()),
        good_name: Some("points".into()),
        pay_method: Some("CARD".into()),
    };
    let p = s.store.create_purchase(new, None, Millis(0)).await.expect("purchase").into_inner();
    s.store.begin_approval("AUDITWALK0001", Millis(1)).await.expect("begin").expect("approving");
    let lost = ApprovalOutcome::Unknown { reason: "connection dropped".into() };
    s.store.settle_approval(p.purchase_id, &lost, Millis(2)).await.expect("unknown");
    p.purchase_id.0
}
