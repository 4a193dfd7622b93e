//! The upstream fault matrix: for each call that leaves the panel (SMM `add` and `status`,
//! KCP registration and approval, Kakao's token check, Google's tokeninfo), each way an upstream
//! fails — past the timeout, refused, dropped, dropped after committing, HTML 5xx, an empty
//! body, truncated JSON — ends in its expected state, and our client never sees a 500.

mod common;

use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::json;

use common::fake_kcp::{FakeKcp, KcpFault};
use common::fake_oauth::{GoogleClaims, KakaoUser, OauthFault};
use common::fake_smm::{Fault, FAKE_KEY};
use common::{Auth, Backend, Harness, KcpHarness, OauthHarness, TestServer, ADMIN_TOKEN};

/// A port nothing listens on.
/// An address that refuses connections. Port 1 (tcpmux) is never bound here: a port freed by
/// another listener could be taken by a concurrent test's server before the request is sent.
fn refused_url(path: &str) -> String {
    format!("http://127.0.0.1:1{path}")
}

fn smm_faults() -> Vec<(&'static str, Fault)> {
    vec![
        ("delay past the timeout", Fault::Delay(Duration::from_millis(1500))),
        ("dropped", Fault::DropConnection),
        ("committed, then dropped", Fault::CommitThenDrop),
        (
            "HTML 502",
            Fault::Http { status: 502, content_type: "text/html", body: "<html>bad gateway</html>".into() },
        ),
        ("empty body", Fault::Raw(String::new())),
        ("truncated JSON", Fault::Raw("{\"order\":".into())),
    ]
}

async fn setup(s: &TestServer, user: &str) -> (i64, String) {
    let body = json!({"provider_service_id": "1", "name": "f", "price_per_1000": 1000, "min_quantity": 10, "max_quantity": 100000});
    let (status, b) = s.call(Method::POST, "/api/admin/services", Auth::Admin, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let token = s.register(user).await;
    s.adjust(user, 1_000_000).await;
    (b["service"]["service_id"].as_i64().expect("service"), token)
}

async fn settled_status(s: &TestServer, id: i64) -> String {
    for _ in 0..200 {
        let (_, o) = s.call(Method::GET, &format!("/api/orders/{id}"), Auth::Admin, None).await;
        let status = o["order"]["status"].as_str().unwrap_or("").to_owned();
        if status != "pending" && status != "submitting" || o["order"]["error"].is_string() {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("order {id} never settled");
}

async fn smm_add_and_status(backend: Backend) {
    let Some(h) = Harness::start(backend, "fault_matrix_smm").await else { return };
    let s = &h.server;
    let (svc, token) = setup(s, "fay").await;
    // `add`: every fault after sending is `unknown`, never resent, never a 500.
    for (i, (what, fault)) in smm_faults().into_iter().enumerate() {
        h.smm.push_fault("add", fault);
        let (status, b) = s
            .call(
                Method::POST,
                "/api/orders",
                Auth::Bearer(&token),
                Some(json!({"service_id": svc, "link": format!("https://x.com/{i}"), "quantity": 100})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "add, {what}: {b}");
        let id = b["order_id"].as_i64().expect("id");
        assert_eq!(settled_status(s, id).await, "unknown", "add, {what}");
    }
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let sent = h.smm.requests_for("add").len();
    let (status, _, _) = s
        .raw(Method::POST, "/api/cron/process-scheduled-orders", &[("x-admin-token", ADMIN_TOKEN)], "")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.smm.requests_for("add").len(), sent, "nothing resent");

    // `status`: one healthy order in progress; every fault leaves it as it was and is counted.
    let (_, b) = s
        .call(
            Method::POST,
            "/api/orders",
            Auth::Bearer(&token),
            Some(json!({"service_id": svc, "link": "https://x.com/ok", "quantity": 100})),
        )
        .await;
    let id = b["order_id"].as_i64().expect("id");
    assert_eq!(settled_status(s, id).await, "in_progress");
    let upstream = h.smm.orders().iter().map(|o| o.id).max().expect("an order");
    h.smm.set_status(upstream, "Completed", 0);
    for (what, fault) in smm_faults() {
        h.smm.push_fault("status", fault);
        let (status, _, r) =
            s.raw(Method::POST, "/api/cron/sync-order-status", &[("x-admin-token", ADMIN_TOKEN)], "").await;
        assert_eq!(status, StatusCode::OK, "status, {what}: {r}");
        assert_eq!(r["failed_calls"], 1, "status, {what}: {r}");
        let (_, o) = s.call(Method::GET, &format!("/api/orders/{id}"), Auth::Admin, None).await;
        assert_eq!(o["order"]["status"], "in_progress", "status, {what}");
    }
    let (_, _, r) =
        s.raw(Method::POST, "/api/cron/sync-order-status", &[("x-admin-token", ADMIN_TOKEN)], "").await;
    assert_eq!(r["settled"], 1, "a healthy answer settles it: {r}");
    s.assert_ledger_consistent().await;
}

async fn smm_refused(backend: Backend) {
    let url = refused_url("/api/v2");
    let vars = [
        ("SMMKINGS_API_URL", url.as_str()),
        ("SMMKINGS_API_KEY", FAKE_KEY),
        ("SNSPMT_UPSTREAM_TIMEOUT_MS", "500"),
    ];
    let Some(s) = TestServer::start_with(backend, "fault_matrix_smm_refused", &vars).await else { return };
    let (svc, token) = setup(&s, "gia").await;
    let (status, b) = s
        .call(
            Method::POST,
            "/api/orders",
            Auth::Bearer(&token),
            Some(json!({"service_id": svc, "link": "https://x.com/r", "quantity": 100})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let id = b["order_id"].as_i64().expect("id");
    assert_eq!(settled_status(&s, id).await, "pending", "refused: waits to be retried");
    let (status, _, r) =
        s.raw(Method::POST, "/api/cron/sync-order-status", &[("x-admin-token", ADMIN_TOKEN)], "").await;
    assert_eq!((status, r["processed"].as_i64()), (StatusCode::OK, Some(0)));
    let (status, b) = s.call(Method::GET, "/api/smm-panel/test", Auth::Admin, None).await;
    assert_eq!((status, b["code"].as_str()), (StatusCode::BAD_GATEWAY, Some("upstream_error")));
}

fn kcp_faults() -> Vec<(&'static str, KcpFault)> {
    vec![
        ("delay past the timeout", KcpFault::Delay(Duration::from_millis(1500))),
        ("dropped", KcpFault::DropConnection),
        ("committed, then dropped", KcpFault::CommitThenDrop),
        (
            "HTML 502",
            KcpFault::Http { status: 502, content_type: "text/html", body: "<html>502</html>".into() },
        ),
        ("empty body", KcpFault::Raw(String::new())),
        ("truncated JSON", KcpFault::Raw("{\"res_cd\":".into())),
    ]
}

async fn kcp_register_and_approve(backend: Backend) {
    let Some(h) = KcpHarness::start(backend, "fault_matrix_kcp").await else { return };
    let s = &h.server;
    let token = s.register("hoa").await;
    let register = || {
        s.call(
            Method::POST,
            "/api/points/purchase-kcp/register",
            Auth::Bearer(&token),
            Some(json!({"amount": 1000, "price": 1000})),
        )
    };
    // Registration: nothing is charged yet; every fault is a 502 and the attempt fails.
    for (what, fault) in kcp_faults() {
        h.kcp.push_fault("register", fault);
        let (status, b) = register().await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "register, {what}: {b}");
        assert!(
            matches!(b["code"].as_str(), Some("upstream_error" | "kcp_register_failed")),
            "register, {what}: {b}"
        );
    }
    tokio::time::sleep(Duration::from_millis(1600)).await;
    // Approval: every fault credits nothing and is flagged for the operator (never `failed`).
    for (what, fault) in kcp_faults() {
        let (status, reg) = register().await;
        assert_eq!(status, StatusCode::OK, "{reg}");
        let ordr = reg["ordr_idxx"].as_str().expect("ordr").to_owned();
        h.kcp.push_fault("payment", fault);
        let (status, headers, _) = s
            .raw(
                Method::POST,
                "/api/points/purchase-kcp/return",
                &[("content-type", "application/x-www-form-urlencoded")],
                FakeKcp::utf8_body(&h.kcp.authenticate(&ordr, None)),
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "approve, {what}");
        let location = headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(location.ends_with("result=pending"), "approve, {what}: {location}");
        let (_, list) = s
            .call(Method::GET, "/api/admin/purchases?status=approval_unknown&limit=200", Auth::Admin, None)
            .await;
        assert!(
            list["purchases"].as_array().expect("list").iter().any(|p| p["ordr_idxx"] == ordr.as_str()),
            "approve, {what}: flagged"
        );
    }
    assert_eq!(s.points(&token).await, 0, "nothing credited");
    s.assert_ledger_consistent().await;
}

async fn kcp_refused(backend: Backend) {
    let (reg, pay) = (refused_url("/std/tradeReg/register"), refused_url("/gw/enc/v1/payment"));
    let vars = [
        ("KCP_SITE_CD", common::fake_kcp::SITE_CD),
        ("KCP_CERT_INFO", common::fake_kcp::CERT_INFO),
        ("KCP_REGISTER_URL", reg.as_str()),
        ("KCP_PAYMENT_URL", pay.as_str()),
        ("SNSPMT_UPSTREAM_TIMEOUT_MS", "500"),
    ];
    let Some(s) = TestServer::start_with(backend, "fault_matrix_kcp_refused", &vars).await else { return };
    let token = s.register("ivy").await;
    let (status, b) = s
        .call(
            Method::POST,
            "/api/points/purchase-kcp/register",
            Auth::Bearer(&token),
            Some(json!({"amount": 1000, "price": 1000})),
        )
        .await;
    assert_eq!((status, b["code"].as_str()), (StatusCode::BAD_GATEWAY, Some("upstream_error")));
}

fn oauth_faults() -> Vec<(&'static str, OauthFault)> {
    vec![
        ("delay past the timeout", OauthFault::Delay(Duration::from_millis(1500))),
        ("dropped", OauthFault::Drop),
        ("HTML 502", OauthFault::Http { status: 502, body: "<html>bad gateway</html>".into() }),
        ("empty body", OauthFault::Http { status: 200, body: String::new() }),
        ("truncated JSON", OauthFault::Http { status: 200, body: "{\"id\":".into() }),
        ("not JSON", OauthFault::Garbage),
    ]
}

/// Kakao and Google logins: a provider that fails is a 502, no account is made, never a 500.
async fn social_logins(backend: Backend) {
    let Some(h) = OauthHarness::start(backend, "fault_matrix_oauth").await else { return };
    let s = &h.server;
    h.oauth.kakao_user("tok", KakaoUser::new(777));
    let google_token = h.oauth.mint_id_token(GoogleClaims::new("g-777"));
    for (what, fault) in oauth_faults() {
        for (route, path, body) in [
            ("kakao_info", "/api/auth/kakao-login", json!({"access_token": "tok"})),
            ("tokeninfo", "/api/auth/google-login", json!({"id_token": google_token})),
        ] {
            // A read may be retried once: fail it twice.
            h.oauth.push_fault(route, fault.clone());
            h.oauth.push_fault(route, fault.clone());
            let (status, b) = s.call(Method::POST, path, Auth::None, Some(body)).await;
            assert_eq!(status, StatusCode::BAD_GATEWAY, "{route}, {what}: {b}");
            assert_eq!(b["code"], "upstream_error", "{route}, {what}: {b}");
            h.oauth.clear_faults();
        }
    }
    let (_, users) = s.call(Method::GET, "/api/admin/users", Auth::Admin, None).await;
    assert_eq!(users["total"], 0, "no account was made");
    // Healthy again: both log in.
    let (status, b) =
        s.call(Method::POST, "/api/auth/kakao-login", Auth::None, Some(json!({"access_token": "tok"}))).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let (status, b) = s
        .call(Method::POST, "/api/auth/google-login", Auth::None, Some(json!({"id_token": google_token})))
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
}

async fn social_refused(backend: Backend) {
    let (kakao, tokeninfo) = (refused_url(""), refused_url("/tokeninfo"));
    let vars = [
        ("KAKAO_API_URL", kakao.as_str()),
        ("GOOGLE_CLIENT_ID", common::fake_oauth::GOOGLE_CLIENT_ID),
        ("GOOGLE_TOKENINFO_URL", tokeninfo.as_str()),
        ("SNSPMT_UPSTREAM_TIMEOUT_MS", "500"),
    ];
    let Some(s) = TestServer::start_with(backend, "fault_matrix_oauth_refused", &vars).await else { return };
    for (path, body) in [
        ("/api/auth/kakao-login", json!({"access_token": "tok"})),
        ("/api/auth/google-login", json!({"id_token": "whatever"})),
    ] {
        let (status, b) = s.call(Method::POST, path, Auth::None, Some(body)).await;
        assert_eq!(
            (status, b["code"].as_str()),
            (StatusCode::BAD_GATEWAY, Some("upstream_error")),
            "{path}: {b}"
        );
    }
}

on_each_backend!(
    smm_add_and_status,
    smm_refused,
    kcp_register_and_approve,
    kcp_refused,
    social_logins,
    social_refused
);
