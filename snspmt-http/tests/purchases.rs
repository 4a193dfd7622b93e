//! Buying points against a fake KCP, on SQLite and PostgreSQL: every payment credited once,
//! whatever is replayed; mismatches, declines, cancels and timeouts credit nothing.

mod common;

use std::sync::Arc;
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use common::fake_kcp::{FakeKcp, KcpFault};
use common::{assert_error_body, Auth, Backend, KcpHarness, TestServer};

on_both_backends_with_kcp!(
    a_card_payment_is_credited_once,
    twenty_concurrent_approvals_credit_once,
    an_amount_mismatch_credits_nothing,
    cancels_and_declines_credit_nothing,
    a_timeout_during_approval_is_flagged_not_failed,
    garbage_returns_are_handled,
    registration_failures_are_reported,
    bank_transfers_are_decided_once,
    bad_purchases_are_refused,
);

async fn register(s: &TestServer, token: &str, amount: i64) -> Value {
    let (status, b) = s
        .call(
            Method::POST,
            "/api/points/purchase-kcp/register",
            Auth::Bearer(token),
            Some(json!({"amount": amount, "price": amount, "good_name": "포인트 충전"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b
}

async fn a_card_payment_is_credited_once(h: KcpHarness) {
    let s = &h.server;
    let token = s.register("amy").await;
    let reg = register(s, &token, 15_000).await;
    let ordr = reg["ordr_idxx"].as_str().expect("ordr").to_owned();
    assert!(ordr.starts_with("POINT_") && ordr.len() <= 40);
    assert_eq!(reg["kcp_response"]["PayUrl"], reg["pay_url"]);
    assert!(reg["approval_key"].is_string());
    let sent = &h.kcp.requests("register")[0];
    assert_eq!(sent.json.as_ref().and_then(|j| j["good_mny"].as_str()), Some("15000"));
    assert_eq!(
        sent.json.as_ref().and_then(|j| j["Ret_URL"].as_str()),
        Some("https://panel.example/api/points/purchase-kcp/return")
    );
    let (status, form) = s
        .call(
            Method::POST,
            "/api/points/purchase-kcp/payment-form",
            Auth::Bearer(&token),
            Some(json!({"ordr_idxx": ordr})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{form}");
    let f = &form["payment_form_data"];
    assert_eq!(
        (f["good_mny"].as_str(), f["req_tx"].as_str(), f["currency"].as_str()),
        (Some("15000"), Some("pay"), Some("410"))
    );
    assert_eq!(f["approval_key"], reg["approval_key"]);
    // Someone else cannot see it.
    let other = s.register("bea").await;
    let (status, _) = s
        .call(
            Method::POST,
            "/api/points/purchase-kcp/payment-form",
            Auth::Bearer(&other),
            Some(json!({"ordr_idxx": ordr})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The browser brings KCP's form back; a tampered good_mny in it is ignored.
    let mut fields = h.kcp.authenticate(&ordr, None);
    for (k, v) in fields.iter_mut() {
        if k == "good_mny" {
            *v = "99999999".into();
        }
    }
    assert_eq!(s.kcp_return(FakeKcp::utf8_body(&fields)).await, "approved");
    assert_eq!(s.points(&token).await, 15_000);
    let approval = &h.kcp.approvals()[0];
    assert_eq!(approval.amount, 15_000, "ordr_mony came from our database");
    // The return posted again, and approve called with the same data: nothing more.
    assert_eq!(s.kcp_return(FakeKcp::utf8_body(&fields)).await, "approved");
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let body = json!({"ordr_idxx": ordr, "enc_data": get("enc_data"), "enc_info": get("enc_info"), "tran_cd": get("tran_cd")});
    let (status, b) =
        s.call(Method::POST, "/api/points/purchase-kcp/approve", Auth::Bearer(&token), Some(body)).await;
    assert_eq!((status, b["status"].as_str()), (StatusCode::OK, Some("approved")), "{b}");
    assert_eq!(b["tno"].as_str(), Some(approval.tno.as_str()));
    assert_eq!(s.points(&token).await, 15_000, "credited once");
    assert_eq!(h.kcp.approvals().len(), 1, "KCP was asked to approve once");
    let (status, hist) =
        s.call(Method::GET, "/api/points/purchase-history", Auth::Bearer(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (hist["purchases"][0]["method"].as_str(), hist["purchases"][0]["status"].as_str()),
        (Some("kcp"), Some("approved"))
    );
    let (_, ledger) =
        s.call(Method::GET, "/api/admin/transactions?user_id=amy&kind=purchase", Auth::Admin, None).await;
    assert_eq!(ledger["total"], 1);
    s.assert_ledger_consistent().await;
}

async fn twenty_concurrent_approvals_credit_once(h: KcpHarness) {
    let s = Arc::new(h.server);
    let token = s.register("cal").await;
    let reg = register(&s, &token, 5_000).await;
    let ordr = reg["ordr_idxx"].as_str().expect("ordr").to_owned();
    let fields = h.kcp.authenticate(&ordr, None);
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let body = json!({"ordr_idxx": ordr, "enc_data": get("enc_data"), "enc_info": get("enc_info"), "tran_cd": get("tran_cd")});
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (s, token, body) = (s.clone(), token.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            s.call(Method::POST, "/api/points/purchase-kcp/approve", Auth::Bearer(&token), Some(body)).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let (status, b) = t.await.expect("task");
        match status {
            StatusCode::OK => ok += 1,
            StatusCode::CONFLICT => assert_eq!(b["code"], "approval_in_progress", "{b}"),
            other => panic!("unexpected {other}: {b}"),
        }
    }
    assert!(ok >= 1);
    assert_eq!(h.kcp.approvals().len(), 1);
    assert_eq!(s.points(&token).await, 5_000);
    s.assert_ledger_consistent().await;
}

async fn an_amount_mismatch_credits_nothing(h: KcpHarness) {
    let s = &h.server;
    let token = s.register("dee").await;
    let reg = register(s, &token, 10_000).await;
    let ordr = reg["ordr_idxx"].as_str().expect("ordr").to_owned();
    h.kcp.set_answer_amount(Some(100));
    assert_eq!(s.kcp_return(FakeKcp::utf8_body(&h.kcp.authenticate(&ordr, None))).await, "pending");
    assert_eq!(s.points(&token).await, 0);
    let p = s.admin_purchase(reg["purchase_id"].as_i64().expect("id")).await;
    assert_eq!((p["status"].as_str(), p["needs_attention"].as_bool()), (Some("amount_mismatch"), Some(true)));
    let (_, attention) = s.call(Method::GET, "/api/admin/purchases?attention=1", Auth::Admin, None).await;
    assert_eq!(attention["total"], 1);
    // The user authenticated less than our price: KCP refuses (the tamper check), nothing credited.
    h.kcp.set_answer_amount(None);
    let reg = register(s, &token, 20_000).await;
    let ordr = reg["ordr_idxx"].as_str().expect("ordr").to_owned();
    assert_eq!(s.kcp_return(FakeKcp::utf8_body(&h.kcp.authenticate(&ordr, Some(200)))).await, "failed");
    // Declined through the anonymous return, the purchase stays payable (a forged return must
    // not end it); KCP's code is kept.
    let p = s.admin_purchase(reg["purchase_id"].as_i64().expect("id")).await;
    assert_eq!(p["status"], "kcp_registered", "{p}");
    assert_eq!(s.points(&token).await, 0);
    s.assert_ledger_consistent().await;
}

async fn cancels_and_declines_credit_nothing(h: KcpHarness) {
    let s = &h.server;
    let token = s.register("eli").await;
    let reg = register(s, &token, 3_000).await;
    let ordr = reg["ordr_idxx"].as_str().expect("ordr").to_owned();
    // The anonymous return's "user canceled" is shown, but changes nothing by itself (anyone
    // knowing the order number could post it): the purchase stays payable, KCP is not asked.
    assert_eq!(s.kcp_return(FakeKcp::euc_kr_body(&h.kcp.canceled_form(&ordr))).await, "canceled");
    let p = s.admin_purchase(reg["purchase_id"].as_i64().expect("id")).await;
    assert_eq!(p["status"], "kcp_registered");
    assert!(h.kcp.approvals().is_empty());

    h.kcp.set_decline(Some(("8101", "카드 한도 초과")));
    let reg = register(s, &token, 4_000).await;
    let ordr = reg["ordr_idxx"].as_str().expect("ordr").to_owned();
    let fields = h.kcp.authenticate(&ordr, None);
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let body = json!({"ordr_idxx": ordr, "enc_data": get("enc_data"), "enc_info": get("enc_info"), "tran_cd": get("tran_cd")});
    let (status, b) = s
        .call(Method::POST, "/api/points/purchase-kcp/approve", Auth::Bearer(&token), Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{b}");
    assert_error_body(&b, "kcp_declined");
    assert_eq!(b["res_cd"], "8101");
    let (status, b) =
        s.call(Method::POST, "/api/points/purchase-kcp/approve", Auth::Bearer(&token), Some(body)).await;
    assert_eq!((status, b["code"].as_str()), (StatusCode::CONFLICT, Some("already_processed")));
    assert_eq!(s.points(&token).await, 0);
}

async fn a_timeout_during_approval_is_flagged_not_failed(h: KcpHarness) {
    let s = &h.server;
    let token = s.register("fin").await;
    let reg = register(s, &token, 7_000).await;
    let ordr = reg["ordr_idxx"].as_str().expect("ordr").to_owned();
    h.kcp.push_fault("payment", KcpFault::Delay(Duration::from_millis(1500)));
    assert_eq!(s.kcp_return(FakeKcp::utf8_body(&h.kcp.authenticate(&ordr, None))).await, "pending");
    let p = s.admin_purchase(reg["purchase_id"].as_i64().expect("id")).await;
    assert_eq!(
        (p["status"].as_str(), p["needs_attention"].as_bool()),
        (Some("approval_unknown"), Some(true)),
        "{p}"
    );
    assert_eq!(s.points(&token).await, 0, "not credited");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(h.kcp.approvals().len(), 1, "KCP did approve: an operator must reconcile it");
    // Replays change nothing.
    assert_eq!(s.kcp_return(FakeKcp::utf8_body(&h.kcp.authenticate(&ordr, None))).await, "pending");
    assert_eq!(h.kcp.approvals().len(), 1);
    // A dropped connection after KCP committed is the same.
    let reg = register(s, &token, 8_000).await;
    let ordr = reg["ordr_idxx"].as_str().expect("ordr").to_owned();
    h.kcp.push_fault("payment", KcpFault::CommitThenDrop);
    assert_eq!(s.kcp_return(FakeKcp::utf8_body(&h.kcp.authenticate(&ordr, None))).await, "pending");
    assert_eq!(
        s.admin_purchase(reg["purchase_id"].as_i64().expect("id")).await["status"],
        "approval_unknown"
    );
    // An HTML 502 from KCP: unknown too, and never a 500 to us.
    let reg = register(s, &token, 9_000).await;
    let ordr = reg["ordr_idxx"].as_str().expect("ordr").to_owned();
    h.kcp.push_fault(
        "payment",
        KcpFault::Http { status: 502, content_type: "text/html", body: "<html>502</html>".into() },
    );
    assert_eq!(s.kcp_return(FakeKcp::utf8_body(&h.kcp.authenticate(&ordr, None))).await, "pending");
    assert_eq!(s.points(&token).await, 0);
    s.assert_ledger_consistent().await;
}

async fn garbage_returns_are_handled(h: KcpHarness) {
    let s = &h.server;
    let token = s.register("gil").await;
    let reg = register(s, &token, 1_000).await;
    let ordr = reg["ordr_idxx"].as_str().expect("ordr").to_owned();
    // EUC-KR message and raw bytes that are not UTF-8 at all.
    let mut body = FakeKcp::euc_kr_body(&h.kcp.authenticate(&ordr, None));
    body.extend_from_slice(b"&buyr_name=\xc8\xab\xb1\xe6\xb5\xbf&junk=%ZZ%\xff\xfe");
    assert_eq!(s.kcp_return(body).await, "approved");
    assert_eq!(s.points(&token).await, 1_000);
    for junk in [
        b"\xff\xfe\x00\x01".to_vec(),
        b"".to_vec(),
        b"ordr_idxx=../../etc&res_cd=0000".to_vec(),
        vec![b'a'; 100_000],
    ] {
        assert_eq!(s.kcp_return(junk).await, "invalid");
    }
    assert_eq!(s.oversized("/api/points/purchase-kcp/return", 2 * 1024 * 1024, &[]).await, 413);
    s.assert_ledger_consistent().await;
}

async fn registration_failures_are_reported(h: KcpHarness) {
    let s = &h.server;
    let token = s.register("hoy").await;
    h.kcp.push_fault(
        "register",
        KcpFault::Http { status: 502, content_type: "text/html", body: "<html>bad</html>".into() },
    );
    let (status, b) = s
        .call(
            Method::POST,
            "/api/points/purchase-kcp/register",
            Auth::Bearer(&token),
            Some(json!({"amount": 1000, "price": 1000})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_error_body(&b, "upstream_error");
    h.kcp.push_fault("register", KcpFault::Raw("{\"Code\":\"M112\",\"Message\":\"bad Ret_URL\"}".into()));
    let (status, b) = s
        .call(
            Method::POST,
            "/api/points/purchase-kcp/register",
            Auth::Bearer(&token),
            Some(json!({"amount": 1000, "price": 1000})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_error_body(&b, "kcp_register_failed");
    assert_eq!((b["kcp_code"].as_str(), b["kcp_message"].as_str()), (Some("M112"), Some("bad Ret_URL")));
    let (_, list) = s.call(Method::GET, "/api/admin/purchases?status=failed", Auth::Admin, None).await;
    assert_eq!(list["total"], 2);
    // Each attempt has its own ordr_idxx.
    let ordrs: std::collections::HashSet<String> = list["purchases"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|p| p["ordr_idxx"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(ordrs.len(), 2);
    // Idempotent registration: the same key answers the same purchase.
    let bearer = format!("Bearer {token}");
    let headers = [("authorization", bearer.as_str()), ("idempotency-key", "reg-1")];
    let body = json!({"amount": 2000, "price": 2000}).to_string();
    let (s1, _, b1) = s.raw(Method::POST, "/api/points/purchase-kcp/register", &headers, body.clone()).await;
    let (s2, _, b2) = s.raw(Method::POST, "/api/points/purchase-kcp/register", &headers, body).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(
        (b1["ordr_idxx"].clone(), b1["approval_key"].clone()),
        (b2["ordr_idxx"].clone(), b2["approval_key"].clone())
    );
    assert_eq!(h.kcp.registrations().len(), 1, "registered once");
}

async fn bank_transfers_are_decided_once(h: KcpHarness) {
    let s = Arc::new(h.server);
    let token = s.register("ida").await;
    let (status, b) = s
        .call(
            Method::POST,
            "/api/points/purchase",
            Auth::Bearer(&token),
            Some(json!({"amount": 30000, "price": 30000, "buyer_name": "이다"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "pending");
    let id = b["purchase_id"].as_i64().expect("id");
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.call(
                Method::PUT,
                &format!("/api/admin/purchases/{id}"),
                Auth::Admin,
                Some(json!({"status": "approved"})),
            )
            .await
        }));
    }
    let (mut won, mut lost) = (0, 0);
    for t in tasks {
        let (status, b) = t.await.expect("task");
        match status {
            StatusCode::OK => won += 1,
            StatusCode::CONFLICT => {
                assert_error_body(&b, "already_processed");
                lost += 1;
            }
            other => panic!("unexpected {other}: {b}"),
        }
    }
    assert_eq!((won, lost), (1, 49));
    assert_eq!(s.points(&token).await, 30_000);
    let (_, b) = s
        .call(
            Method::POST,
            "/api/points/purchase",
            Auth::Bearer(&token),
            Some(json!({"amount": 500, "price": 500})),
        )
        .await;
    let id2 = b["purchase_id"].as_i64().expect("id");
    let decide = |status: &'static str| {
        let s = s.clone();
        async move {
            s.call(
                Method::PUT,
                &format!("/api/admin/purchases/{id2}"),
                Auth::Admin,
                Some(json!({"status": status})),
            )
            .await
        }
    };
    assert_eq!(decide("rejected").await.0, StatusCode::OK);
    assert_eq!(decide("approved").await.0, StatusCode::CONFLICT, "a rejected purchase cannot be approved");
    assert_eq!(decide("maybe").await.0, StatusCode::BAD_REQUEST);
    let (status, _) = s
        .call(Method::PUT, "/api/admin/purchases/999999", Auth::Admin, Some(json!({"status": "approved"})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s
        .call(
            Method::PUT,
            &format!("/api/admin/purchases/{id2}"),
            Auth::Bearer(&token),
            Some(json!({"status": "approved"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "users cannot approve their own purchases");
    assert_eq!(s.points(&token).await, 30_000);
    let (_, list) =
        s.call(Method::GET, "/api/admin/purchases?method=bank&user_id=ida", Auth::Admin, None).await;
    assert_eq!(list["total"], 2);
    assert_eq!(list["purchases"][1]["decided_by"], "admin-token");
    s.assert_ledger_consistent().await;
}

async fn bad_purchases_are_refused(h: KcpHarness) {
    let s = &h.server;
    let token = s.register("jon").await;
    let cases = [
        (json!({"amount": 1000, "price": 999}), "amount_price_mismatch"),
        (json!({"amount": 0, "price": 0}), "invalid_amount"),
        (json!({"amount": -5, "price": -5}), "invalid_amount"),
        (json!({"amount": 1_000_001, "price": 1_000_001}), "invalid_amount"),
        (json!({"amount": 1000, "price": 10_000_001}), "invalid_price"),
        (json!({"amount": "1000", "price": 1000}), "invalid_type"),
        (json!({"price": 1000}), "missing_field"),
    ];
    for path in ["/api/points/purchase", "/api/points/purchase-kcp/register"] {
        for (body, code) in &cases {
            let (status, b) = s.call(Method::POST, path, Auth::Bearer(&token), Some(body.clone())).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {b}");
            assert_error_body(&b, code);
        }
    }
    let (status, b) = s
        .call(
            Method::POST,
            "/api/points/purchase-kcp/register",
            Auth::Bearer(&token),
            Some(json!({"amount": 10, "price": 10, "pay_method": "BITCOIN"})),
        )
        .await;
    assert_eq!((status, b["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_pay_method")));
    let (status, _) = s
        .call(Method::POST, "/api/points/purchase", Auth::None, Some(json!({"amount": 10, "price": 10})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, b) = s
        .call(
            Method::POST,
            "/api/points/purchase-kcp/payment-form",
            Auth::Bearer(&token),
            Some(json!({"ordr_idxx": "../../x"})),
        )
        .await;
    assert_eq!((status, b["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_ordr_idxx")));
    let (_, list) = s.call(Method::GET, "/api/admin/purchases", Auth::Admin, None).await;
    assert_eq!(list["total"], 0, "nothing recorded");
    assert!(h.kcp.registrations().is_empty());
}

#[tokio::test]
async fn without_kcp_card_payment_is_unavailable() {
    let Some(s) = TestServer::start(Backend::Sqlite, "without_kcp").await else { return };
    let token = s.register("kai").await;
    let (status, b) = s
        .call(
            Method::POST,
            "/api/points/purchase-kcp/register",
            Auth::Bearer(&token),
            Some(json!({"amount": 1000, "price": 1000})),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_error_body(&b, "upstream_not_configured");
}
