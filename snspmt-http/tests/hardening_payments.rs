//! Issue 12, payments, on SQLite and PostgreSQL: a card payment completes whatever the
//! browser's connection does; an approval whose answer was lost (or that a crash left
//! `approving`) is settled once by an operator with KCP's `tno`; the anonymous KCP return
//! cannot end someone else's purchase; concurrent approve/decide/settle answer stable codes.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use snspmt_store::Millis;
use tokio::io::AsyncWriteExt;

use common::fake_kcp::{FakeKcp, KcpFault};
use common::{assert_error_body, Auth, KcpHarness, TestServer};

on_both_backends_with_kcp!(
    a_disconnect_mid_approval_still_credits_once,
    an_operator_settles_an_unknown_approval_once,
    a_stale_approving_purchase_is_settleable,
    a_strangers_failed_return_leaves_the_purchase_payable,
    a_strangers_forged_authenticated_return_leaves_the_purchase_payable,
    concurrent_settles_decisions_and_approvals_answer_stable_codes,
);

async fn register(s: &TestServer, token: &str, amount: i64) -> (i64, String) {
    let (status, b) = s
        .call(
            Method::POST,
            "/api/points/purchase-kcp/register",
            Auth::Bearer(token),
            Some(json!({"amount": amount, "price": amount})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    (b["purchase_id"].as_i64().expect("id"), b["ordr_idxx"].as_str().expect("ordr").to_owned())
}

fn field(fields: &[(String, String)], name: &str) -> String {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
}

fn approve_body(ordr: &str, fields: &[(String, String)]) -> Value {
    json!({"ordr_idxx": ordr, "enc_data": field(fields, "enc_data"), "enc_info": field(fields, "enc_info"),
           "tran_cd": field(fields, "tran_cd")})
}

/// Polls until purchase `id` leaves `approving` (at most 10 s); answers it.
async fn settled(s: &TestServer, id: i64) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let p = s.admin_purchase(id).await;
        if p["status"] != "approving" || tokio::time::Instant::now() >= deadline {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn settle(s: &TestServer, id: i64, body: Value) -> (StatusCode, Value) {
    s.call(Method::POST, &format!("/api/admin/purchases/{id}/settle"), Auth::Admin, Some(body)).await
}

async fn purchase_credits(s: &TestServer, user: &str) -> i64 {
    let (_, ledger) = s
        .call(
            Method::GET,
            &format!("/api/admin/transactions?user_id={user}&kind=purchase"),
            Auth::Admin,
            None,
        )
        .await;
    ledger["total"].as_i64().expect("total")
}

/// Sends `path` with `body` over a raw connection, waits until KCP received the approval,
/// and hangs up without reading the answer (the browser went away).
async fn hang_up_during_approval(
    h: &KcpHarness,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    approvals_before: usize,
) {
    let mut stream = tokio::net::TcpStream::connect(h.server.addr).await.expect("connect");
    let mut head =
        format!("POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n", h.server.addr, body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(body).await.expect("body");
    assert!(
        h.kcp.wait_for_requests("payment", approvals_before + 1, Duration::from_secs(5)).await,
        "the server called KCP"
    );
    drop(stream);
}

async fn a_disconnect_mid_approval_still_credits_once(h: KcpHarness) {
    let s = &h.server;
    let token = s.register("amy").await;

    // The browser's return: KCP approves while the browser has gone.
    let (id, ordr) = register(s, &token, 12_000).await;
    let fields = h.kcp.authenticate(&ordr, None);
    h.kcp.push_fault("payment", KcpFault::Delay(Duration::from_millis(250)));
    let form = FakeKcp::utf8_body(&fields);
    hang_up_during_approval(
        &h,
        "/api/points/purchase-kcp/return",
        &[("content-type", "application/x-www-form-urlencoded")],
        &form,
        0,
    )
    .await;
    let p = settled(s, id).await;
    assert_eq!(p["status"], "approved", "{p}");
    assert_eq!(p["tno"].as_str(), Some(h.kcp.approvals()[0].tno.as_str()));
    assert_eq!(s.points(&token).await, 12_000);
    // The browser comes back and posts the return again: approved, nothing more.
    assert_eq!(s.kcp_return(form).await, "approved");

    // The frontend's approve call, dropped the same way.
    let (id, ordr) = register(s, &token, 3_000).await;
    let fields = h.kcp.authenticate(&ordr, None);
    h.kcp.push_fault("payment", KcpFault::Delay(Duration::from_millis(250)));
    let bearer = format!("Bearer {token}");
    let body = approve_body(&ordr, &fields).to_string();
    hang_up_during_approval(
        &h,
        "/api/points/purchase-kcp/approve",
        &[("content-type", "application/json"), ("authorization", &bearer)],
        body.as_bytes(),
        1,
    )
    .await;
    assert_eq!(settled(s, id).await["status"], "approved");
    let (status, b) = s
        .call(
            Method::POST,
            "/api/points/purchase-kcp/approve",
            Auth::Bearer(&token),
            Some(approve_body(&ordr, &fields)),
        )
        .await;
    assert_eq!((status, b["status"].as_str()), (StatusCode::OK, Some("approved")), "{b}");

    assert_eq!(s.points(&token).await, 15_000, "each purchase credited exactly once");
    assert_eq!(purchase_credits(s, "amy").await, 2);
    assert_eq!(h.kcp.approvals().len(), 2, "KCP asked once per purchase");
    s.assert_ledger_consistent().await;
}

async fn an_operator_settles_an_unknown_approval_once(h: KcpHarness) {
    let s = &h.server;
    let token = s.register("bo").await;
    let (id, ordr) = register(s, &token, 8_000).await;
    let fields = h.kcp.authenticate(&ordr, None);
    // KCP approves and takes the money; its answer is lost.
    h.kcp.push_fault("payment", KcpFault::CommitThenDrop);
    assert_eq!(s.kcp_return(FakeKcp::utf8_body(&fields)).await, "pending");
    assert_eq!(s.admin_purchase(id).await["status"], "approval_unknown");
    let tno = h.kcp.approvals()[0].tno.clone();

    // Bad settlements change nothing.
    for (body, code) in [
        (json!({"outcome": "approved"}), "missing_tno"),
        (json!({"tno": "  ", "outcome": "approved"}), "missing_tno"),
        (json!({"tno": tno, "outcome": "maybe"}), "invalid_outcome"),
        (json!({"tno": 5, "outcome": "approved"}), "invalid_type"),
    ] {
        let (status, b) = settle(s, id, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {b}");
        assert_error_body(&b, code);
    }
    let (status, b) = settle(s, 999_999, json!({"tno": tno, "outcome": "approved"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{b}");
    let (status, _) = s
        .call(
            Method::POST,
            &format!("/api/admin/purchases/{id}/settle"),
            Auth::Bearer(&token),
            Some(json!({"tno": tno, "outcome": "approved"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "users cannot settle");
    assert_eq!(s.points(&token).await, 0);

    // The operator found the payment in KCP's admin: one credit.
    let (status, b) = settle(s, id, json!({"tno": tno, "outcome": "approved"})).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let p = &b["purchase"];
    assert_eq!((p["status"].as_str(), p["tno"].as_str()), (Some("approved"), Some(tno.as_str())), "{b}");
    assert_eq!(p["decided_by"], "admin-token");
    assert_eq!(s.points(&token).await, 8_000);

    // Never again: a second settlement, a replayed return, the approve call.
    for outcome in ["approved", "failed"] {
        let (status, b) = settle(s, id, json!({"tno": tno, "outcome": outcome})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{b}");
        assert_error_body(&b, "already_processed");
    }
    assert_eq!(s.kcp_return(FakeKcp::utf8_body(&fields)).await, "approved");
    let (status, b) = s
        .call(
            Method::POST,
            "/api/points/purchase-kcp/approve",
            Auth::Bearer(&token),
            Some(approve_body(&ordr, &fields)),
        )
        .await;
    assert_eq!((status, b["status"].as_str()), (StatusCode::OK, Some("approved")), "{b}");
    assert_eq!(s.points(&token).await, 8_000, "credited once");
    assert_eq!(purchase_credits(s, "bo").await, 1);

    // The same tno cannot credit another purchase.
    let (id2, ordr2) = register(s, &token, 8_000).await;
    h.kcp.push_fault("payment", KcpFault::CommitThenDrop);
    assert_eq!(s.kcp_return(FakeKcp::utf8_body(&h.kcp.authenticate(&ordr2, None))).await, "pending");
    let (status, b) = settle(s, id2, json!({"tno": tno, "outcome": "approved"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{b}");
    assert_error_body(&b, "duplicate_tno");
    assert_eq!(s.admin_purchase(id2).await["status"], "approval_unknown");
    // KCP shows no payment for it: the operator fails it; nothing credited.
    let (status, b) = settle(s, id2, json!({"outcome": "failed"})).await;
    assert_eq!((status, b["purchase"]["status"].as_str()), (StatusCode::OK, Some("failed")), "{b}");
    assert_eq!(s.points(&token).await, 8_000);

    // Both settlements are in the audit log.
    let (_, audit) = s.call(Method::GET, "/api/admin/audit-log?limit=100", Auth::Admin, None).await;
    let settles = audit["entries"]
        .as_array()
        .expect("audit entries")
        .iter()
        .filter(|e| e["action"] == "purchases.settle")
        .count();
    assert_eq!(settles, 2, "{audit}");
    s.assert_ledger_consistent().await;
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

async fn a_stale_approving_purchase_is_settleable(h: KcpHarness) {
    let s = &h.server;
    let token = s.register("cy").await;
    // A crash while KCP was being asked: the purchase was left `approving` an hour ago.
    let (id, ordr) = register(s, &token, 5_000).await;
    let hour_ago = now_ms() - 3_600_000;
    s.store.begin_approval(&ordr, Millis(hour_ago)).await.expect("begin").expect("won");
    assert_eq!(s.admin_purchase(id).await["status"], "approving");
    // KCP shows the payment: the operator settles it once.
    let (status, b) = settle(s, id, json!({"tno": "23732987373372", "outcome": "approved"})).await;
    assert_eq!((status, b["purchase"]["status"].as_str()), (StatusCode::OK, Some("approved")), "{b}");
    assert_eq!(s.points(&token).await, 5_000);
    let (status, b) = settle(s, id, json!({"tno": "23732987373372", "outcome": "approved"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{b}");
    assert_error_body(&b, "already_processed");

    // One that is being approved right now cannot be settled under its feet.
    let (id, ordr) = register(s, &token, 6_000).await;
    s.store.begin_approval(&ordr, Millis(now_ms())).await.expect("begin").expect("won");
    let (status, b) = settle(s, id, json!({"outcome": "failed"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{b}");
    assert_error_body(&b, "approval_in_progress");
    // Nor one the user has not paid yet, nor a bank transfer.
    let (id, _) = register(s, &token, 7_000).await;
    let (status, b) = settle(s, id, json!({"tno": "1", "outcome": "approved"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{b}");
    assert_error_body(&b, "not_settleable");
    let (_, bank) = s
        .call(
            Method::POST,
            "/api/points/purchase",
            Auth::Bearer(&token),
            Some(json!({"amount": 10, "price": 10})),
        )
        .await;
    let bank_id = bank["purchase_id"].as_i64().expect("id");
    let (status, b) = settle(s, bank_id, json!({"tno": "2", "outcome": "approved"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{b}");
    assert_error_body(&b, "not_settleable");
    assert_eq!(s.points(&token).await, 5_000);
    s.assert_ledger_consistent().await;
}

async fn a_strangers_failed_return_leaves_the_purchase_payable(h: KcpHarness) {
    let s = &h.server;
    let victim = s.register("dan").await;
    let (id, ordr) = register(s, &victim, 9_000).await;
    // A stranger who learnt the order number posts "the user canceled", then a failure code.
    let cancel = FakeKcp::euc_kr_body(&h.kcp.canceled_form(&ordr));
    assert_eq!(s.kcp_return(cancel).await, "canceled");
    let failed = format!("ordr_idxx={ordr}&res_cd=9999&res_msg=nope&enc_data=&enc_info=&tran_cd=");
    assert_eq!(s.kcp_return(failed.into_bytes()).await, "failed");
    assert_eq!(s.admin_purchase(id).await["status"], "kcp_registered", "the purchase is still payable");
    assert!(h.kcp.approvals().is_empty());
    // The owner pays it.
    let (status, b) = s
        .call(
            Method::POST,
            "/api/points/purchase-kcp/payment-form",
            Auth::Bearer(&victim),
            Some(json!({"ordr_idxx": ordr})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(s.kcp_return(FakeKcp::utf8_body(&h.kcp.authenticate(&ordr, None))).await, "approved");
    assert_eq!(s.points(&victim).await, 9_000);
    s.assert_ledger_consistent().await;
}

async fn a_strangers_forged_authenticated_return_leaves_the_purchase_payable(h: KcpHarness) {
    let s = &h.server;
    let victim = s.register("fay").await;
    let (id, ordr) = register(s, &victim, 7_000).await;
    // A stranger posts "authenticated" with made-up enc_data: KCP declines that approval.
    let forged =
        format!("ordr_idxx={ordr}&res_cd=0000&res_msg=ok&enc_data=forged&enc_info=forged&tran_cd=00100000");
    assert_eq!(s.kcp_return(forged.into_bytes()).await, "failed");
    assert_eq!(
        s.admin_purchase(id).await["status"],
        "kcp_registered",
        "KCP's decline of a forged return ends nothing"
    );
    // The owner still pays it.
    let (status, b) = s
        .call(
            Method::POST,
            "/api/points/purchase-kcp/payment-form",
            Auth::Bearer(&victim),
            Some(json!({"ordr_idxx": ordr})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(s.kcp_return(FakeKcp::utf8_body(&h.kcp.authenticate(&ordr, None))).await, "approved");
    assert_eq!(s.points(&victim).await, 7_000);
    s.assert_ledger_consistent().await;
}

/// Codes a racing caller may see: one wins, the others are told why not, in a stable code.
fn assert_stable(status: StatusCode, b: &Value, what: &str) {
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{what}: {b}");
    if status != StatusCode::OK {
        assert_eq!(status, StatusCode::CONFLICT, "{what}: {b}");
        let code = b["code"].as_str().unwrap_or_default();
        assert!(
            ["already_processed", "approval_in_progress", "approval_unknown", "not_settleable"]
                .contains(&code),
            "{what}: {b}"
        );
    }
}

async fn concurrent_settles_decisions_and_approvals_answer_stable_codes(h: KcpHarness) {
    let s = Arc::new(h.server);
    let token = s.register("eve").await;

    // An approval whose answer was lost: settles, decisions and approvals at once.
    let (id, ordr) = register(&s, &token, 4_000).await;
    let fields = h.kcp.authenticate(&ordr, None);
    h.kcp.push_fault("payment", KcpFault::CommitThenDrop);
    assert_eq!(s.kcp_return(FakeKcp::utf8_body(&fields)).await, "pending");
    let tno = h.kcp.approvals()[0].tno.clone();
    let mut tasks = Vec::new();
    for i in 0..36 {
        let (s, token, tno, body) = (s.clone(), token.clone(), tno.clone(), approve_body(&ordr, &fields));
        tasks.push(tokio::spawn(async move {
            let (status, b) = match i % 4 {
                0 => settle(&s, id, json!({"tno": tno, "outcome": "approved"})).await,
                1 => settle(&s, id, json!({"tno": tno, "outcome": "failed"})).await,
                2 => {
                    s.call(
                        Method::PUT,
                        &format!("/api/admin/purchases/{id}"),
                        Auth::Admin,
                        Some(json!({"status": "approved"})),
                    )
                    .await
                }
                _ => {
                    s.call(Method::POST, "/api/points/purchase-kcp/approve", Auth::Bearer(&token), Some(body))
                        .await
                }
            };
            (i % 4, status, b)
        }));
    }
    let mut settled_ok = 0;
    for t in tasks {
        let (kind, status, b) = t.await.expect("task");
        assert_stable(status, &b, &format!("kind {kind}"));
        if status == StatusCode::OK && kind < 2 {
            settled_ok += 1;
        }
    }
    assert_eq!(settled_ok, 1, "exactly one settlement wins");
    let status = s.admin_purchase(id).await["status"].clone();
    let want = if status == "approved" { 4_000 } else { 0 };
    assert_eq!(s.points(&token).await, want, "{status}");

    // A live approval (KCP slow) racing settles, decisions and more approvals.
    let (id, ordr) = register(&s, &token, 2_000).await;
    let fields = h.kcp.authenticate(&ordr, None);
    h.kcp.push_fault("payment", KcpFault::Delay(Duration::from_millis(150)));
    let mut tasks = Vec::new();
    for i in 0..30 {
        let (s, token, body) = (s.clone(), token.clone(), approve_body(&ordr, &fields));
        tasks.push(tokio::spawn(async move {
            let (status, b) = match i % 3 {
                0 => {
                    s.call(Method::POST, "/api/points/purchase-kcp/approve", Auth::Bearer(&token), Some(body))
                        .await
                }
                1 => settle(&s, id, json!({"tno": "99999999999999", "outcome": "approved"})).await,
                _ => {
                    s.call(
                        Method::PUT,
                        &format!("/api/admin/purchases/{id}"),
                        Auth::Admin,
                        Some(json!({"status": "rejected"})),
                    )
                    .await
                }
            };
            (i % 3, status, b)
        }));
    }
    for t in tasks {
        let (kind, status, b) = t.await.expect("task");
        assert_stable(status, &b, &format!("kind {kind}"));
        if kind > 0 {
            assert_eq!(status, StatusCode::CONFLICT, "kind {kind}: {b}");
        }
    }
    assert_eq!(settled(&s, id).await["status"], "approved");
    assert_eq!(s.points(&token).await, want + 2_000);
    assert_eq!(h.kcp.approvals().len(), 2);
    s.assert_ledger_consistent().await;
}
