//! The answers of the order, catalogue, package, rate, refill, mass, cron, SMM proxy and
//! purchase routes are what the OpenAPI document says of them (issue 15), on SQLite and
//! PostgreSQL: each answer validates against its route's schema (from the Rust types), and
//! carries no key that schema does not name.

mod common;

use std::sync::Arc;
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use snspmt_http::clock::ManualClock;

use common::fake_kcp::FakeKcp;
use common::openapi::Document;
use common::{Auth, Backend, Harness, KcpHarness, TestServer, ADMIN_TOKEN};

on_each_backend!(order_catalogue_and_package_answers_match_the_document, purchase_answers_match_the_document);

const START: i64 = 1_795_737_600_000;

/// Calls `method path` and checks the answer against the document's `pattern`.
async fn checked(
    s: &TestServer,
    doc: &Document,
    method: Method,
    (path, pattern): (&str, &str),
    auth: Auth<'_>,
    body: Option<Value>,
) -> Value {
    let (status, b) = s.call(method.clone(), path, auth, body).await;
    assert!(status.is_success(), "{method} {path}: {status} {b}");
    doc.check(method.as_str(), pattern, status.as_u16(), &b);
    b
}

/// Runs a cron endpoint and checks its answer.
async fn cron(s: &TestServer, doc: &Document, path: &str) -> Value {
    let (status, _, b) = s.raw(Method::POST, path, &[("x-admin-token", ADMIN_TOKEN)], "").await;
    assert_eq!(status, StatusCode::OK, "{b}");
    doc.check("POST", path, status.as_u16(), &b);
    b
}

async fn settled(s: &TestServer, id: i64) -> Value {
    for _ in 0..250 {
        let o = s.admin_order(id).await;
        if o["status"] == "in_progress" {
            return o;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("order {id} never reached the panel: {}", s.admin_order(id).await);
}

async fn order_catalogue_and_package_answers_match_the_document(backend: Backend) {
    let Some((h, _clock)): Option<(Harness, Arc<ManualClock>)> =
        Harness::with_clock(backend, "typed_answers_orders", START).await
    else {
        return;
    };
    let s = &h.server;
    let doc = Document::new();
    let admin = Auth::Admin;

    // The catalogue.
    let body = json!({"provider_service_id": "1", "name": "좋아요", "category": "Instagram", "price_per_1000": 1000,
                      "min_quantity": 10, "max_quantity": 100000, "refill": true, "cancel": true});
    let created =
        checked(s, &doc, Method::POST, ("/api/admin/services", "/api/admin/services"), admin, Some(body))
            .await;
    let svc = created["service"]["service_id"].as_i64().expect("service id");
    let svc_path = format!("/api/admin/services/{svc}");
    let one = (svc_path.as_str(), "/api/admin/services/{id}");
    checked(s, &doc, Method::GET, one, admin, None).await;
    checked(s, &doc, Method::PUT, one, admin, Some(json!({"description": "빠른 좋아요"}))).await;
    let list = ("/api/admin/services?active=1&limit=10", "/api/admin/services");
    assert_eq!(checked(s, &doc, Method::GET, list, admin, None).await["total"], 1);
    let token = s.customer("tia", 1_000_000).await;
    let me = Auth::Bearer(&token);
    let public = ("/api/smm-panel/services", "/api/smm-panel/services");
    let anonymous = checked(s, &doc, Method::GET, public, Auth::None, None).await;
    assert!(anonymous["services"][0].get("base_price_per_1000").is_none(), "{anonymous}");
    let signed_in = checked(s, &doc, Method::GET, public, me, None).await;
    assert_eq!(signed_in["services"][0]["base_price_per_1000"], 1000);

    // Rates.
    let rates = ("/api/admin/users/tia/rates", "/api/admin/users/{user_id}/rates");
    checked(s, &doc, Method::PUT, rates, admin, Some(json!({"discount_bps": 1000}))).await;
    let price_path = format!("/api/admin/users/tia/service-prices/{svc}");
    let price = (price_path.as_str(), "/api/admin/users/{user_id}/service-prices/{id}");
    checked(s, &doc, Method::PUT, price, admin, Some(json!({"price_per_1000": 800}))).await;
    let r = checked(s, &doc, Method::GET, rates, admin, None).await;
    assert_eq!(
        (r["discount_bps"].as_i64(), r["service_prices"][0]["price_per_1000"].as_i64()),
        (Some(1000), Some(800))
    );
    checked(s, &doc, Method::GET, ("/api/user/rates", "/api/user/rates"), me, None).await;
    checked(s, &doc, Method::DELETE, price, admin, None).await;

    // Orders.
    let place =
        json!({"service_id": svc, "link": "https://instagram.com/tia", "quantity": 100, "coupon_id": "none"});
    let placed = checked(s, &doc, Method::POST, ("/api/orders", "/api/orders"), me, Some(place)).await;
    assert_eq!(placed["warnings"][0]["field"], "coupon_id", "{placed}");
    let id = placed["order_id"].as_i64().expect("order id");
    let upstream = settled(s, id).await["smm_panel_order_id"].as_str().expect("panel id").to_owned();
    // The checks see a key the schema does not name, and a value of the wrong type.
    let mut tampered = placed.clone();
    tampered["order"]["internal_note"] = json!("x");
    tampered["price"] = json!("100");
    let problems = doc.problems("POST", "/api/orders", 200, &tampered);
    assert_eq!(problems.len(), 2, "{problems:?}");
    let order_path = format!("/api/orders/{id}");
    let order = (order_path.as_str(), "/api/orders/{id}");
    let customer_view = checked(s, &doc, Method::GET, order, me, None).await;
    assert!(customer_view["order"].get("upstream_charge").is_none(), "{customer_view}");
    let operator_view = checked(s, &doc, Method::GET, order, admin, None).await;
    assert!(operator_view["order"].get("upstream_charge").is_some(), "{operator_view}");
    checked(s, &doc, Method::GET, ("/api/orders?status=in_progress", "/api/orders"), me, None).await;
    checked(
        s,
        &doc,
        Method::GET,
        ("/api/admin/orders?user_id=tia&status=all", "/api/admin/orders"),
        admin,
        None,
    )
    .await;
    let check = ("/api/orders/check-status", "/api/orders/check-status");
    checked(s, &doc, Method::POST, check, me, Some(json!({"order_ids": [id]}))).await;

    // A forwarded cancel is 202; a refill of a completed order.
    let cancel_path = format!("/api/orders/{id}/cancel");
    let (status, b) = s.call(Method::POST, &cancel_path, me, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{b}");
    // The document gives the answer's schema under 200 (one status per route); 202 is the same
    // type with the forwarded cancel.
    assert_eq!(
        (b["cancel_requested"].as_bool(), b["cancel"]["state"].as_str()),
        (Some(true), Some("accepted"))
    );
    doc.check("POST", "/api/orders/{id}/cancel", 200, &b);
    let other = json!({"service_id": svc, "link": "https://instagram.com/tia2", "quantity": 100});
    let placed = checked(s, &doc, Method::POST, ("/api/orders", "/api/orders"), me, Some(other)).await;
    let done = placed["order_id"].as_i64().expect("order id");
    let done_panel: i64 =
        settled(s, done).await["smm_panel_order_id"].as_str().and_then(|v| v.parse().ok()).expect("id");
    h.smm.set_status(done_panel, "Completed", 0);
    cron(s, &doc, "/api/cron/sync-order-status").await;
    assert_eq!(s.admin_order(done).await["status"], "completed");
    let refill_path = format!("/api/orders/{done}/refill");
    checked(s, &doc, Method::POST, (refill_path.as_str(), "/api/orders/{id}/refill"), me, None).await;
    let refills_path = format!("/api/orders/{done}/refills");
    let refills = (refills_path.as_str(), "/api/orders/{id}/refills");
    let mine = checked(s, &doc, Method::GET, refills, me, None).await;
    assert!(mine["refills"][0].get("smm_refill_id").is_none(), "{mine}");
    let theirs = checked(s, &doc, Method::GET, refills, admin, None).await;
    assert!(theirs["refills"][0].get("smm_refill_id").is_some(), "{theirs}");
    let upstream_id: i64 = upstream.parse().expect("panel id");
    assert!(upstream_id > 0);

    // Scheduled orders: placed, listed, canceled here (200).
    let when = json!({"service_id": svc, "link": "https://instagram.com/tia3", "quantity": 100,
                      "scheduled_datetime": "2026-11-27 18:00"});
    let placed =
        checked(s, &doc, Method::POST, ("/api/scheduled-orders", "/api/scheduled-orders"), me, Some(when))
            .await;
    let later = placed["order_id"].as_i64().expect("order id");
    let scheduled = ("/api/admin/scheduled-orders?limit=5", "/api/admin/scheduled-orders");
    assert_eq!(checked(s, &doc, Method::GET, scheduled, admin, None).await["total"], 1);
    let cancel_path = format!("/api/orders/{later}/cancel");
    checked(s, &doc, Method::POST, (cancel_path.as_str(), "/api/orders/{id}/cancel"), me, None).await;

    // An operator's status change and resolution.
    let stuck = json!({"service_id": svc, "link": "https://instagram.com/tia4", "quantity": 100});
    let placed = checked(s, &doc, Method::POST, ("/api/orders", "/api/orders"), me, Some(stuck)).await;
    let moved = placed["order_id"].as_i64().expect("order id");
    settled(s, moved).await;
    let status_path = format!("/api/orders/{moved}/status");
    let status = (status_path.as_str(), "/api/orders/{id}/status");
    checked(s, &doc, Method::PUT, status, admin, Some(json!({"status": "completed"}))).await;

    // Packages.
    let package = json!({"name": "성장 패키지", "price": 3000, "steps": [
        {"service_id": svc, "quantity": 100, "repeat": 2, "name": "좋아요"},
        {"service_id": svc, "quantity": 50, "delay_minutes": 60},
    ]});
    let created =
        checked(s, &doc, Method::POST, ("/api/admin/packages", "/api/admin/packages"), admin, Some(package))
            .await;
    let package_id = created["package"]["package_id"].as_i64().expect("package id");
    let package_path = format!("/api/admin/packages/{package_id}");
    let one = (package_path.as_str(), "/api/admin/packages/{id}");
    checked(s, &doc, Method::GET, one, admin, None).await;
    checked(s, &doc, Method::PUT, one, admin, Some(json!({"description": "두 단계"}))).await;
    checked(s, &doc, Method::GET, ("/api/admin/packages?limit=5", "/api/admin/packages"), admin, None).await;
    let public = ("/api/packages", "/api/packages");
    assert!(checked(s, &doc, Method::GET, public, Auth::None, None).await["packages"][0]
        .get("base_price")
        .is_none());
    assert_eq!(checked(s, &doc, Method::GET, public, me, None).await["packages"][0]["base_price"], 3000);
    let deferred =
        json!({"package_id": package_id, "link": "https://instagram.com/tia5", "defer_start": true});
    let placed = checked(s, &doc, Method::POST, ("/api/orders", "/api/orders"), me, Some(deferred)).await;
    let package_order = placed["order_id"].as_i64().expect("order id");
    let start = ("/api/orders/start-package-processing", "/api/orders/start-package-processing");
    let started = checked(s, &doc, Method::POST, start, me, Some(json!({"order_id": package_order}))).await;
    assert_eq!(started["started"], true);
    let progress_path = format!("/api/orders/{package_order}/package-progress");
    let progress = (progress_path.as_str(), "/api/orders/{id}/package-progress");
    assert_eq!(checked(s, &doc, Method::GET, progress, me, None).await["total_steps"], 3);
    let reprocess = ("/api/admin/reprocess-package-orders", "/api/admin/reprocess-package-orders");
    checked(s, &doc, Method::POST, reprocess, admin, None).await;
    for path in [
        "/api/cron/process-scheduled-orders",
        "/api/cron/process-split-deliveries",
        "/api/cron/process-package-steps",
    ] {
        cron(s, &doc, path).await;
    }
    checked(s, &doc, Method::DELETE, one, admin, None).await;
    checked(s, &doc, Method::DELETE, (svc_path.as_str(), "/api/admin/services/{id}"), admin, None).await;

    // Mass orders: a placed line and a refused one; a replay answers the same body.
    let svc2 = s.create_service("5", 1000, json!({})).await;
    let lines = json!({"orders": [format!("{svc2}|https://instagram.com/tia6|100"), "nonsense".to_owned()]});
    let bearer = format!("Bearer {token}");
    let headers = [
        ("content-type", "application/json"),
        ("authorization", bearer.as_str()),
        ("idempotency-key", "mass-1"),
    ];
    let (status, first_headers, first) =
        s.raw(Method::POST, "/api/orders/mass", &headers, lines.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert!(first_headers.get("idempotent-replayed").is_none());
    doc.check("POST", "/api/orders/mass", status.as_u16(), &first);
    assert_eq!((first["placed"].as_i64(), first["failed"].as_i64()), (Some(1), Some(1)), "{first}");
    assert_eq!(first["results"][1]["error"]["code"], "invalid_line");
    let (status, again_headers, again) =
        s.raw(Method::POST, "/api/orders/mass", &headers, lines.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again_headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    assert_eq!(again, first);

    // The SMM panel proxy relays the panel's answer.
    let proxy = ("/api/smm-panel", "/api/smm-panel");
    let relayed = checked(s, &doc, Method::POST, proxy, admin, Some(json!({"action": "balance"}))).await;
    assert!(relayed["data"]["balance"].is_string(), "{relayed}");
    checked(s, &doc, Method::GET, ("/api/smm-panel/test", "/api/smm-panel/test"), admin, None).await;
}

async fn purchase_answers_match_the_document(backend: Backend) {
    let Some(h) = KcpHarness::start(backend, "typed_answers_purchases").await else { return };
    let s = &h.server;
    let doc = Document::new();
    let token = s.register("pia").await;
    let me = Auth::Bearer(&token);

    let bank = json!({"amount": 10_000, "price": 10_000, "buyer_name": "피아"});
    let bought =
        checked(s, &doc, Method::POST, ("/api/points/purchase", "/api/points/purchase"), me, Some(bank))
            .await;
    let id = bought["purchase_id"].as_i64().expect("purchase id");
    let decide_path = format!("/api/admin/purchases/{id}");
    let decide = (decide_path.as_str(), "/api/admin/purchases/{id}");
    checked(s, &doc, Method::PUT, decide, Auth::Admin, Some(json!({"status": "approved"}))).await;
    let list = ("/api/admin/purchases?status=approved&method=bank&attention=0", "/api/admin/purchases");
    assert_eq!(checked(s, &doc, Method::GET, list, Auth::Admin, None).await["total"], 1);

    let register = ("/api/points/purchase-kcp/register", "/api/points/purchase-kcp/register");
    let card = json!({"amount": 15_000, "price": 15_000});
    let reg = checked(s, &doc, Method::POST, register, me, Some(card)).await;
    let ordr = reg["ordr_idxx"].as_str().expect("ordr").to_owned();
    let form = ("/api/points/purchase-kcp/payment-form", "/api/points/purchase-kcp/payment-form");
    checked(s, &doc, Method::POST, form, me, Some(json!({"ordr_idxx": ordr}))).await;
    let fields = h.kcp.authenticate(&ordr, None);
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let approve = json!({"ordr_idxx": ordr, "enc_data": get("enc_data"), "enc_info": get("enc_info"), "tran_cd": get("tran_cd")});
    let path = ("/api/points/purchase-kcp/approve", "/api/points/purchase-kcp/approve");
    let approved = checked(s, &doc, Method::POST, path, me, Some(approve)).await;
    assert_eq!(approved["status"], "approved");
    assert_eq!(s.kcp_return(FakeKcp::utf8_body(&fields)).await, "approved");
    let history = ("/api/points/purchase-history?limit=10", "/api/points/purchase-history");
    assert_eq!(checked(s, &doc, Method::GET, history, me, None).await["total"], 2);
}
