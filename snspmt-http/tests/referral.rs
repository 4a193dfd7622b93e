//! The referral programme end to end through the real server and the fake SMM panel, on
//! SQLite and PostgreSQL: codes, the referral coupon, commissions following their orders,
//! withdrawals decided once, the operator's views, abuse, and the concurrency promises.

mod common;

use std::sync::Arc;
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use snspmt_store::Millis;

use common::{assert_error_body, Auth, Harness, TestServer};
use snspmt_http::clock::ManualClock;

on_both_backends_with_smm!(
    the_referral_programme_end_to_end,
    abuse_is_refused_and_changes_nothing,
    concurrent_withdrawals_never_exceed_the_balance,
    a_one_use_coupon_discounts_one_of_twenty_concurrent_orders,
    coupons_are_managed_and_added_by_code,
);

const DAY: i64 = 24 * 60 * 60 * 1000;

async fn service(s: &TestServer, price_per_1000: i64) -> i64 {
    let body = json!({
        "provider_service_id": "1", "name": "followers", "category": "Instagram",
        "price_per_1000": price_per_1000, "min_quantity": 10, "max_quantity": 1_000_000,
    });
    let (status, b) = s.call(Method::POST, "/api/admin/services", Auth::Admin, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b["service"]["service_id"].as_i64().expect("service id")
}

/// Registers `id` with an e-mail and `points`, answering the token.
async fn customer(s: &TestServer, id: &str, points: i64) -> String {
    let body = json!({"user_id": id, "email": format!("{id}@example.com")});
    let (status, b) = s.call(Method::POST, "/api/register", Auth::None, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    if points > 0 {
        assert_eq!(s.adjust(id, points).await.0, StatusCode::OK);
    }
    b["token"].as_str().expect("token").to_owned()
}

async fn get(s: &TestServer, path: &str, auth: Auth<'_>) -> Value {
    let (status, b) = s.call(Method::GET, path, auth, None).await;
    assert_eq!(status, StatusCode::OK, "{path}: {b}");
    b
}

async fn post(s: &TestServer, path: &str, auth: Auth<'_>, body: Value) -> (StatusCode, Value) {
    s.call(Method::POST, path, auth, Some(body)).await
}

async fn register_code(s: &TestServer, email: &str) -> String {
    let (status, b) = post(s, "/api/admin/referral/register", Auth::Admin, json!({"email": email})).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b["code"].as_str().expect("code").to_owned()
}

async fn order(s: &TestServer, id: i64) -> Value {
    get(s, &format!("/api/orders/{id}"), Auth::Admin).await["order"].clone()
}

/// Waits until the order was accepted by the panel; answers the panel's id.
async fn accepted(s: &TestServer, id: i64) -> i64 {
    for _ in 0..200 {
        let o = order(s, id).await;
        if o["status"] == "in_progress" {
            return o["smm_panel_order_id"].as_str().and_then(|v| v.parse().ok()).expect("smm id");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("order {id} was never accepted: {}", order(s, id).await);
}

async fn sync(s: &TestServer) {
    let (status, _, b) =
        s.raw(Method::POST, "/api/cron/sync-order-status", &[("x-cron-token", common::CRON_TOKEN)], "").await;
    assert_eq!(status, StatusCode::OK, "{b}");
}

/// Every key is a JSON integer (never a string or null).
fn assert_ints(v: &Value, keys: &[&str]) {
    for k in keys {
        assert!(v[*k].is_i64(), "{k} must be an integer in {v}");
    }
}

async fn book(s: &TestServer, token: &str) -> Value {
    let b = get(s, "/api/referral/commission-points", Auth::Bearer(token)).await;
    assert_ints(&b, &["total_earned", "total_paid", "pending_withdrawal", "current_balance"]);
    b
}

/// The balance equals earned − paid − reserved, and the sum of the transactions.
async fn assert_book_agrees(s: &TestServer, token: &str) -> i64 {
    let b = book(s, token).await;
    let balance = b["current_balance"].as_i64().expect("balance");
    let n = |k: &str| b[k].as_i64().expect("number");
    assert_eq!(balance, n("total_earned") - n("total_paid") - n("pending_withdrawal"), "{b}");
    let t = get(s, "/api/referral/commission-transactions?limit=200", Auth::Bearer(token)).await;
    let rows = t["transactions"].as_array().expect("transactions");
    let sum: i64 = rows
        .iter()
        .map(|r| {
            assert_ints(r, &["amount", "balance_after"]);
            r["amount"].as_i64().expect("amount")
        })
        .sum();
    assert_eq!(sum, balance, "transactions sum to the balance: {t}");
    if let Some(last) = rows.first() {
        assert_eq!(last["balance_after"].as_i64(), Some(balance));
    }
    balance
}

async fn withdraw(
    s: &TestServer,
    token: &str,
    amount: i64,
    key: Option<&str>,
) -> (StatusCode, hyper::HeaderMap, Value) {
    let bearer = format!("Bearer {token}");
    let mut headers = vec![("authorization", bearer.as_str()), ("content-type", "application/json")];
    if let Some(k) = key {
        headers.push(("idempotency-key", k));
    }
    let body = json!({"amount": amount, "bank_name": "국민은행", "account_number": "123-45-678", "account_holder": "홍길동"});
    s.raw(Method::POST, "/api/referral/withdrawal-request", &headers, body.to_string()).await
}

async fn the_referral_programme_end_to_end(h: Harness) {
    let s = &h.server;
    let svc = service(s, 1000).await;
    let a = customer(s, "alice", 0).await;
    let b = customer(s, "bob", 100_000).await;
    let code = register_code(s, "alice@example.com").await;
    assert!(code.starts_with("REF") && code.len() == 11, "{code}");
    assert_eq!(register_code(s, "alice@example.com").await, code, "the same code again");
    let v = get(s, &format!("/api/referral/validate-code?code={code}"), Auth::None).await;
    assert_eq!(v, json!({"valid": true}), "no owner data");
    let v = get(s, "/api/referral/validate-code?code=REFZZZZZZZZ", Auth::None).await;
    assert_eq!(v, json!({"valid": false}));

    // B uses the code: the 5 % coupon for 30 days; a repeat (or the alias) is the same coupon.
    let (status, used) = post(s, "/api/referral/use-code", Auth::Bearer(&b), json!({"code": code})).await;
    assert_eq!(status, StatusCode::OK, "{used}");
    let coupon = &used["coupon"];
    assert_ints(coupon, &["id", "discount_value"]);
    assert_eq!(
        (coupon["discount_type"].as_str(), coupon["discount_value"].as_i64()),
        (Some("percentage"), Some(5))
    );
    assert!(coupon["expires_at"].is_string());
    let coupon_id = coupon["id"].as_i64().expect("id");
    let (_, again) = post(
        s,
        "/api/referral/issue-coupon",
        Auth::Bearer(&b),
        json!({"referral_code": code.to_lowercase()}),
    )
    .await;
    assert_eq!(again["coupon"]["id"].as_i64(), Some(coupon_id), "{again}");
    let mine = get(s, "/api/user/coupons", Auth::Bearer(&b)).await;
    assert_eq!(mine["coupons"].as_array().map(Vec::len), Some(1));
    assert_ints(&mine["coupons"][0], &["id", "discount_value", "min_order_amount"]);

    // An order with the coupon: 10,000 − 500 = 9,500; commission 950 pending.
    let body = json!({"service_id": svc, "link": "https://instagram.com/bob", "quantity": 10_000, "coupon_id": coupon_id, "price": 10_000});
    let (status, o1) = post(s, "/api/orders", Auth::Bearer(&b), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{o1}");
    assert_ints(&o1, &["price", "discount_amount", "final_price", "commission_amount"]);
    assert_eq!(
        (
            o1["price"].as_i64(),
            o1["discount_amount"].as_i64(),
            o1["final_price"].as_i64(),
            o1["commission_amount"].as_i64()
        ),
        (Some(10_000), Some(500), Some(9_500), Some(950))
    );
    assert_eq!(s.points(&b).await, 90_500);
    let (status, twice) = post(s, "/api/orders", Auth::Bearer(&b), body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_body(&twice, "invalid_coupon");
    assert_eq!(s.points(&b).await, 90_500, "a refused order charges nothing");
    let o1_id = o1["order_id"].as_i64().expect("id");
    let c = get(s, "/api/referral/commissions", Auth::Bearer(&a)).await;
    assert_eq!(c["commissions"][0]["status"], "pending");
    assert_eq!(book(s, &a).await["current_balance"], 0, "pending is not balance");

    // Completed → confirmed at A's rate.
    let up = accepted(s, o1_id).await;
    h.smm.set_status(up, "Completed", 0);
    sync(s).await;
    let c = get(s, "/api/referral/commissions", Auth::Bearer(&a)).await;
    let row = &c["commissions"][0];
    assert_ints(row, &["order_id", "purchase_amount", "commission_amount", "commission_rate_bps"]);
    assert_eq!(
        (
            row["status"].as_str(),
            row["commission_amount"].as_i64(),
            row["commission_rate_bps"].as_i64(),
            row["referred_user"].as_str()
        ),
        (Some("confirmed"), Some(950), Some(1000), Some("bob"))
    );
    assert_eq!(assert_book_agrees(s, &a).await, 950);

    // A new rate applies to later orders; a partial refund reduces pro rata; a cancel cancels.
    let (status, r) = s
        .call(
            Method::PUT,
            "/api/admin/referral/update-commission-rate",
            Auth::Admin,
            Some(json!({"email": "alice@example.com", "commission_rate_bps": 2000})),
        )
        .await;
    assert_eq!((status, r["commission_rate_bps"].as_i64()), (StatusCode::OK, Some(2000)), "{r}");
    let (_, o2) = post(
        s,
        "/api/orders",
        Auth::Bearer(&b),
        json!({"service_id": svc, "link": "https://instagram.com/bob", "quantity": 1000}),
    )
    .await;
    assert_eq!(o2["commission_amount"], 200, "{o2}");
    let o2_id = o2["order_id"].as_i64().expect("id");
    let (_, o3) = post(
        s,
        "/api/orders",
        Auth::Bearer(&b),
        json!({"service_id": svc, "link": "https://instagram.com/bob2", "quantity": 1000}),
    )
    .await;
    let o3_id = o3["order_id"].as_i64().expect("id");
    let (up2, up3) = (accepted(s, o2_id).await, accepted(s, o3_id).await);
    h.smm.set_status(up2, "Partial", 250);
    h.smm.set_status(up3, "Canceled", 1000);
    sync(s).await;
    assert_eq!(order(s, o2_id).await["commission_amount"], 150);
    let c = get(s, "/api/referral/commissions", Auth::Bearer(&a)).await;
    let status_of =
        |id: i64| {
            c["commissions"].as_array().expect("list").iter().find(|r| r["order_id"] == id).map(|r| {
                (r["status"].clone(), r["commission_amount"].clone(), r["commission_rate_bps"].clone())
            })
        };
    assert_eq!(status_of(o1_id), Some((json!("confirmed"), json!(950), json!(1000))));
    assert_eq!(status_of(o2_id), Some((json!("reduced"), json!(150), json!(2000))));
    assert_eq!(status_of(o3_id), Some((json!("canceled"), json!(0), json!(2000))));
    assert_eq!(assert_book_agrees(s, &a).await, 1100);

    // Withdrawal: 999 and more than the balance are refused; 1,000 is reserved, replayable.
    let (status, _, e) = withdraw(s, &a, 999, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_body(&e, "invalid_amount");
    let (status, _, e) = withdraw(s, &a, 1_101, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_body(&e, "insufficient_commission");
    let (status, _, w) = withdraw(s, &a, 1_000, Some("w-1")).await;
    assert_eq!((status, w["status"].as_str()), (StatusCode::OK, Some("requested")), "{w}");
    assert_ints(&w, &["request_id", "amount"]);
    let (status, headers, replay) = withdraw(s, &a, 1_000, Some("w-1")).await;
    assert_eq!((status, &replay), (StatusCode::OK, &w));
    assert_eq!(headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    let p = book(s, &a).await;
    assert_eq!((p["pending_withdrawal"].as_i64(), p["current_balance"].as_i64()), (Some(1000), Some(100)));
    assert_book_agrees(s, &a).await;

    // The admin approves once; a second decision is 409.
    let list = get(s, "/api/admin/withdrawal-requests?status=requested", Auth::Admin).await;
    assert_eq!(list["total"], 1);
    assert_ints(&list["requests"][0], &["id", "amount"]);
    let request_id = w["request_id"].clone();
    let (status, d) = post(
        s,
        "/api/admin/process-withdrawal",
        Auth::Admin,
        json!({"request_id": request_id, "action": "approve"}),
    )
    .await;
    assert_eq!((status, d["status"].as_str()), (StatusCode::OK, Some("approved")), "{d}");
    for action in ["approve", "reject"] {
        let (status, e) = post(
            s,
            "/api/admin/process-withdrawal",
            Auth::Admin,
            json!({"request_id": request_id, "action": action}),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_error_body(&e, "already_processed");
    }
    let p = book(s, &a).await;
    assert_eq!(
        (p["total_paid"].as_i64(), p["pending_withdrawal"].as_i64(), p["current_balance"].as_i64()),
        (Some(1000), Some(0), Some(100))
    );
    assert_book_agrees(s, &a).await;

    // Views: numbers in the keys §11 names.
    let stats = get(s, "/api/referral/stats", Auth::Bearer(&a)).await;
    assert_ints(
        &stats,
        &[
            "totalReferrals",
            "activeReferrals",
            "totalCommission",
            "thisMonthReferrals",
            "thisMonthCommission",
        ],
    );
    assert!(stats["commissionRate"].is_number(), "{stats}");
    assert_eq!(
        (
            stats["totalReferrals"].as_i64(),
            stats["totalCommission"].as_i64(),
            stats["commissionRate"].as_f64()
        ),
        (Some(1), Some(1100), Some(0.2))
    );
    let refs = get(s, "/api/referral/referrals", Auth::Bearer(&a)).await;
    let r0 = &refs["referrals"][0];
    assert_ints(r0, &["order_count", "commission"]);
    assert_eq!(
        (r0["user_id"].as_str(), r0["email"].as_str(), r0["order_count"].as_i64()),
        (Some("bob"), Some("bo***@example.com"), Some(3))
    );
    let codes = get(s, "/api/referral/my-codes", Auth::Bearer(&a)).await;
    assert_ints(&codes["codes"][0], &["usage_count", "total_commission"]);
    assert_eq!(codes["codes"][0]["code"].as_str(), Some(code.as_str()));
    assert_eq!(get(s, "/api/referral/my-codes", Auth::Bearer(&b)).await, json!({"codes": []}));
    let (status, e) =
        s.call(Method::GET, "/api/referral/commissions?user_id=alice", Auth::Bearer(&b), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error_body(&e, "forbidden");
    for (path, list) in [
        ("/api/admin/referral/list", "referrals"),
        ("/api/admin/referral/codes", "codes"),
        ("/api/admin/referral/commission-overview", "referrers"),
        ("/api/admin/referral/payment-history", "payments"),
    ] {
        let v = get(s, path, Auth::Admin).await;
        assert!(v[list].is_array() && v["total"].is_i64(), "{path}: {v}");
    }
    let overview = get(s, "/api/admin/referral/commission-overview", Auth::Admin).await;
    assert_ints(
        &overview["totals"],
        &["total_earned", "total_paid", "pending_withdrawal", "current_balance"],
    );
    assert_ints(
        &overview["referrers"][0],
        &[
            "total_earned",
            "total_paid",
            "pending_withdrawal",
            "current_balance",
            "commission_rate_bps",
            "usage_count",
        ],
    );

    // Manual payouts: > 0 and ≤ the balance.
    for (amount, code) in [(-5, "invalid_amount"), (0, "invalid_amount"), (101, "insufficient_commission")] {
        let (status, e) = post(
            s,
            "/api/admin/referral/pay-commission",
            Auth::Admin,
            json!({"user_id": "alice", "amount": amount}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{amount}");
        assert_error_body(&e, code);
    }
    let (status, paid) = post(
        s,
        "/api/admin/referral/pay-commission",
        Auth::Admin,
        json!({"user_id": "alice", "amount": 100, "notes": "계좌 이체"}),
    )
    .await;
    assert_eq!((status, paid["current_balance"].as_i64()), (StatusCode::OK, Some(0)), "{paid}");
    let history = get(s, "/api/admin/referral/payment-history", Auth::Admin).await;
    assert_eq!(history["total"], 2);
    assert_eq!(assert_book_agrees(s, &a).await, 0);
    let audit = get(s, "/api/admin/audit-log?limit=200", Auth::Admin).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .map(|v| v.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    for want in [
        "referral.register",
        "referral.update_commission_rate",
        "referral.process_withdrawal",
        "referral.pay_commission",
    ] {
        assert!(actions.contains(&want), "{want} audited: {audit}");
    }
    s.assert_ledger_consistent().await;
}

async fn abuse_is_refused_and_changes_nothing(h: Harness) {
    let s = &h.server;
    let svc = service(s, 1000).await;
    let a = customer(s, "alice", 0).await;
    let b = customer(s, "bob", 50_000).await;
    let c = customer(s, "carol", 50_000).await;
    let code_a = register_code(s, "alice@example.com").await;
    let code_c = register_code(s, "carol@example.com").await;
    let expect = |status: StatusCode, body: &Value, want_status: StatusCode, code: &str| {
        assert_eq!(status, want_status, "{body}");
        assert_error_body(body, code);
    };
    // Self-referral, an unknown code, a malformed code.
    let (st, e) = post(s, "/api/referral/use-code", Auth::Bearer(&a), json!({"code": code_a})).await;
    expect(st, &e, StatusCode::BAD_REQUEST, "self_referral");
    let (st, e) = post(s, "/api/referral/use-code", Auth::Bearer(&b), json!({"code": "REFZZZZZZZZ"})).await;
    expect(st, &e, StatusCode::BAD_REQUEST, "invalid_code");
    let (st, e) = post(s, "/api/referral/use-code", Auth::Bearer(&b), json!({"code": "nope"})).await;
    expect(st, &e, StatusCode::BAD_REQUEST, "invalid_code");
    // A second code.
    let (st, used) = post(s, "/api/referral/use-code", Auth::Bearer(&b), json!({"code": code_a})).await;
    assert_eq!(st, StatusCode::OK);
    let coupon_id = used["coupon"]["id"].as_i64().expect("id");
    let (st, e) = post(s, "/api/referral/use-code", Auth::Bearer(&b), json!({"code": code_c})).await;
    expect(st, &e, StatusCode::CONFLICT, "already_referred");
    assert_eq!(get(s, "/api/referral/referrals", Auth::Bearer(&c)).await["referrals"], json!([]));
    // Someone else's coupon.
    let order = |coupon: Value| json!({"service_id": svc, "link": "https://instagram.com/x", "quantity": 1000, "coupon_id": coupon});
    let (st, e) = post(s, "/api/orders", Auth::Bearer(&c), order(json!(coupon_id))).await;
    expect(st, &e, StatusCode::BAD_REQUEST, "invalid_coupon");
    assert_eq!(e["reason"], "not_yours");
    let (st, e) = post(s, "/api/orders", Auth::Bearer(&b), order(json!(999_999))).await;
    expect(st, &e, StatusCode::BAD_REQUEST, "invalid_coupon");
    // min_order_amount not met (on the pre-discount price), not yet valid.
    let (st, _) = post(s, "/api/admin/coupons", Auth::Admin, json!({"code": "BIG", "name": "큰 주문", "discount_type": "fixed", "discount_value": 1000, "min_order_amount": 5000})).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = post(s, "/api/admin/coupons", Auth::Admin, json!({"code": "LATER", "discount_type": "percentage", "discount_value": 10, "valid_from": "2999-01-01T00:00:00Z"})).await;
    assert_eq!(st, StatusCode::OK);
    let (_, big) =
        post(s, "/api/user/coupons/add-by-code", Auth::Bearer(&b), json!({"coupon_code": "big"})).await;
    let (_, later) =
        post(s, "/api/user/coupons/add-by-code", Auth::Bearer(&b), json!({"coupon_code": "LATER"})).await;
    let (st, e) = post(s, "/api/orders", Auth::Bearer(&b), order(big["coupon"]["id"].clone())).await;
    expect(st, &e, StatusCode::BAD_REQUEST, "invalid_coupon");
    assert_eq!(
        (e["reason"].as_str(), e["min_order_amount"].as_i64()),
        (Some("min_order_amount"), Some(5000))
    );
    let (st, e) = post(s, "/api/orders", Auth::Bearer(&b), order(later["coupon"]["id"].clone())).await;
    expect(st, &e, StatusCode::BAD_REQUEST, "invalid_coupon");
    assert_eq!(e["reason"], "not_yet_valid");
    // An already-used coupon.
    let (st, first) = post(s, "/api/orders", Auth::Bearer(&b), order(json!(coupon_id))).await;
    assert_eq!(st, StatusCode::OK, "{first}");
    let before = s.points(&b).await;
    let (st, e) = post(s, "/api/orders", Auth::Bearer(&b), order(json!(coupon_id))).await;
    expect(st, &e, StatusCode::BAD_REQUEST, "invalid_coupon");
    assert_eq!(e["reason"], "used");
    assert_eq!(s.points(&b).await, before);
    let (_, orders) = s.call(Method::GET, "/api/orders", Auth::Bearer(&b), None).await;
    assert_eq!(orders["orders"].as_array().map(Vec::len), Some(1), "refused orders leave nothing");
    // Withdrawals of 999 or more than the balance; a negative payout.
    let (st, _, e) = withdraw(s, &a, 999, None).await;
    expect(st, &e, StatusCode::BAD_REQUEST, "invalid_amount");
    let (st, _, e) = withdraw(s, &a, 1_000, None).await;
    expect(st, &e, StatusCode::BAD_REQUEST, "insufficient_commission");
    let (st, _, e) = withdraw(s, &c, 5_000, None).await;
    expect(st, &e, StatusCode::BAD_REQUEST, "insufficient_commission");
    let (st, e) = post(
        s,
        "/api/admin/referral/pay-commission",
        Auth::Admin,
        json!({"user_id": "alice", "amount": -1000}),
    )
    .await;
    expect(st, &e, StatusCode::BAD_REQUEST, "invalid_amount");
    let (st, e) = post(
        s,
        "/api/admin/referral/update-commission-rate",
        Auth::Admin,
        json!({"user_id": "alice", "commission_rate_bps": 10_001}),
    )
    .await;
    expect(st, &e, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let (st, e) = s
        .call(
            Method::PUT,
            "/api/admin/referral/update-commission-rate",
            Auth::Admin,
            Some(json!({"user_id": "alice", "commission_rate_bps": 10_001})),
        )
        .await;
    expect(st, &e, StatusCode::BAD_REQUEST, "invalid_rate");
    let (st, e) = post(
        s,
        "/api/admin/referral/pay-commission",
        Auth::Bearer(&a),
        json!({"user_id": "alice", "amount": 1}),
    )
    .await;
    expect(st, &e, StatusCode::FORBIDDEN, "forbidden");
    let (st, e) = post(s, "/api/referral/withdrawal-request", Auth::Bearer(&a), json!({"user_id": "bob", "amount": 1000, "bank_name": "x", "account_number": "1", "account_holder": "x"})).await;
    expect(st, &e, StatusCode::FORBIDDEN, "forbidden");
    let p = book(s, &a).await;
    assert_eq!(
        p,
        json!({"user_id": "alice", "total_earned": 0, "total_paid": 0, "pending_withdrawal": 0, "current_balance": 0})
    );
    assert_eq!(get(s, "/api/admin/withdrawal-requests", Auth::Admin).await["total"], 0);
    assert_eq!(get(s, "/api/admin/referral/payment-history", Auth::Admin).await["total"], 0);
    s.assert_ledger_consistent().await;
}

/// A referrer `alice` with a confirmed commission of 10,000 (100 % of a 10,000 order).
async fn rich_referrer(h: &Harness) -> String {
    let s = &h.server;
    let svc = service(s, 1000).await;
    let a = customer(s, "alice", 0).await;
    let b = customer(s, "bob", 10_000).await;
    let (st, r) = post(
        s,
        "/api/admin/referral/register",
        Auth::Admin,
        json!({"user_id": "alice", "commission_rate_bps": 10_000}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let code = r["code"].as_str().expect("code").to_owned();
    let (st, _) = post(s, "/api/referral/use-code", Auth::Bearer(&b), json!({"code": code})).await;
    assert_eq!(st, StatusCode::OK);
    let (_, o) = post(
        s,
        "/api/orders",
        Auth::Bearer(&b),
        json!({"service_id": svc, "link": "https://instagram.com/bob", "quantity": 10_000}),
    )
    .await;
    let up = accepted(s, o["order_id"].as_i64().expect("id")).await;
    h.smm.set_status(up, "Completed", 0);
    sync(s).await;
    assert_eq!(book(s, &a).await["current_balance"], 10_000);
    a
}

async fn concurrent_withdrawals_never_exceed_the_balance(h: Harness) {
    let a = rich_referrer(&h).await;
    let s = Arc::new(h.server);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (s, a) = (s.clone(), a.clone());
        tasks.push(tokio::spawn(async move {
            let key = format!("k-{i}");
            let (status, _, body) = withdraw(&s, &a, 1_500 + i * 10, Some(&key)).await;
            (status, body)
        }));
    }
    let mut accepted = 0i64;
    for t in tasks {
        let (status, body) = t.await.expect("task");
        match status {
            StatusCode::OK => accepted += body["amount"].as_i64().expect("amount"),
            StatusCode::BAD_REQUEST => assert_error_body(&body, "insufficient_commission"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(accepted <= 10_000 && accepted > 10_000 - 1_700, "accepted {accepted}");
    let p = book(&s, &a).await;
    assert_eq!(p["pending_withdrawal"].as_i64(), Some(accepted));
    assert_eq!(assert_book_agrees(&s, &a).await, 10_000 - accepted);
    // Concurrent decisions: each request decided once.
    let list = get(&s, "/api/admin/withdrawal-requests?limit=200", Auth::Admin).await;
    let ids: Vec<Value> =
        list["requests"].as_array().expect("requests").iter().map(|r| r["id"].clone()).collect();
    let mut tasks = Vec::new();
    for id in &ids {
        for action in ["approve", "reject", "approve"] {
            let (s, id) = (s.clone(), id.clone());
            tasks.push(tokio::spawn(async move {
                post(
                    &s,
                    "/api/admin/process-withdrawal",
                    Auth::Admin,
                    json!({"request_id": id, "action": action}),
                )
                .await
                .0
            }));
        }
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.expect("task") {
            StatusCode::OK => ok += 1,
            StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, ids.len());
    let p = book(&s, &a).await;
    assert_eq!(p["pending_withdrawal"], 0);
    assert!(p["total_paid"].as_i64().expect("paid") <= accepted);
    assert_book_agrees(&s, &a).await;
}

async fn a_one_use_coupon_discounts_one_of_twenty_concurrent_orders(h: Harness) {
    let s = Arc::new(h.server);
    let svc = service(&s, 1000).await;
    customer(&s, "alice", 0).await;
    let b = customer(&s, "bob", 100_000).await;
    let code = register_code(&s, "alice@example.com").await;
    let (_, used) = post(&s, "/api/referral/use-code", Auth::Bearer(&b), json!({"code": code})).await;
    let coupon_id = used["coupon"]["id"].as_i64().expect("id");
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (s, b) = (s.clone(), b.clone());
        tasks.push(tokio::spawn(async move {
            let body = json!({"service_id": svc, "link": format!("https://instagram.com/b{i}"), "quantity": 1000, "coupon_id": coupon_id});
            post(&s, "/api/orders", Auth::Bearer(&b), body).await
        }));
    }
    let mut discounted = 0;
    for t in tasks {
        let (status, body) = t.await.expect("task");
        match status {
            StatusCode::OK => {
                assert_eq!(body["discount_amount"], 50);
                discounted += 1;
            }
            StatusCode::BAD_REQUEST => assert_error_body(&body, "invalid_coupon"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(discounted, 1, "one order gets the discount");
    assert_eq!(s.points(&b).await, 100_000 - 950);
    s.assert_ledger_consistent().await;
}

async fn coupons_are_managed_and_added_by_code(h: Harness) {
    let s = &h.server;
    let svc = service(s, 1000).await;
    let u = customer(s, "uma", 20_000).await;
    let v = customer(s, "vic", 20_000).await;
    let (st, created) = post(s, "/api/admin/coupons", Auth::Admin, json!({"code": "welcome", "name": "환영", "discount_type": "fixed", "discount_value": 3000, "max_uses": 1})).await;
    assert_eq!(st, StatusCode::OK, "{created}");
    let c = &created["coupon"];
    assert_ints(c, &["id", "discount_value", "min_order_amount", "max_uses", "used_count"]);
    assert_eq!((created["success"].as_bool(), c["code"].as_str()), (Some(true), Some("WELCOME")));
    let id = c["id"].as_i64().expect("id");
    let (st, e) = post(
        s,
        "/api/admin/coupons",
        Auth::Admin,
        json!({"code": "WELCOME", "discount_type": "fixed", "discount_value": 1}),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_error_body(&e, "coupon_code_taken");
    for bad in [
        json!({"code": "X1", "discount_type": "percentage", "discount_value": 101}),
        json!({"code": "X2", "discount_type": "bogus", "discount_value": 1}),
        json!({"code": "X3", "discount_type": "fixed", "discount_value": 5, "valid_from": "2030-01-01T00:00:00Z", "valid_until": "2029-01-01T00:00:00Z"}),
    ] {
        let (st, e) = post(s, "/api/admin/coupons", Auth::Admin, bad).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    }
    let (st, added) =
        post(s, "/api/user/coupons/add-by-code", Auth::Bearer(&u), json!({"coupon_code": "WELCOME"})).await;
    assert_eq!(st, StatusCode::OK, "{added}");
    let (st, e) =
        post(s, "/api/user/coupons/add-by-code", Auth::Bearer(&u), json!({"coupon_code": "WELCOME"})).await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_error_body(&e, "coupon_already_added");
    let (st, e) =
        post(s, "/api/user/coupons/add-by-code", Auth::Bearer(&v), json!({"coupon_code": "WELCOME"})).await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_error_body(&e, "coupon_exhausted");
    let (st, e) =
        post(s, "/api/user/coupons/add-by-code", Auth::Bearer(&v), json!({"coupon_code": "NOPE"})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_error_body(&e, "invalid_coupon");
    // A fixed discount above the price is capped at the price.
    let (st, o) = post(s, "/api/orders", Auth::Bearer(&u), json!({"service_id": svc, "link": "https://instagram.com/u", "quantity": 2000, "coupon_id": added["coupon"]["id"]})).await;
    assert_eq!(
        (st, o["discount_amount"].as_i64(), o["final_price"].as_i64()),
        (StatusCode::OK, Some(2000), Some(0)),
        "{o}"
    );
    assert_eq!(s.points(&u).await, 20_000);
    let mine = get(s, "/api/user/coupons", Auth::Bearer(&u)).await;
    assert_eq!(mine["coupons"][0]["is_used"], true);
    // Update and withdrawal of the coupon.
    let (st, up) = s
        .call(
            Method::PUT,
            &format!("/api/admin/coupons/{id}"),
            Auth::Admin,
            Some(json!({"max_uses": null, "name": "환영 2"})),
        )
        .await;
    assert_eq!(
        (st, up["coupon"]["max_uses"].clone(), up["coupon"]["name"].as_str()),
        (StatusCode::OK, Value::Null, Some("환영 2")),
        "{up}"
    );
    let (st, _) =
        post(s, "/api/user/coupons/add-by-code", Auth::Bearer(&v), json!({"coupon_code": "welcome"})).await;
    assert_eq!(st, StatusCode::OK);
    let (st, del) = s.call(Method::DELETE, &format!("/api/admin/coupons/{id}"), Auth::Admin, None).await;
    assert_eq!((st, del["coupon"]["is_active"].as_bool()), (StatusCode::OK, Some(false)));
    let vc = get(s, "/api/user/coupons", Auth::Bearer(&v)).await["coupons"][0]["id"].clone();
    let (st, e) = post(
        s,
        "/api/orders",
        Auth::Bearer(&v),
        json!({"service_id": svc, "link": "https://instagram.com/v", "quantity": 2000, "coupon_id": vc}),
    )
    .await;
    assert_eq!((st, e["reason"].as_str()), (StatusCode::BAD_REQUEST, Some("inactive")), "{e}");
    let list = get(s, "/api/admin/coupons", Auth::Admin).await;
    assert_eq!(list["total"], 1);
    let (st, _) = s.call(Method::GET, "/api/admin/coupons/999", Auth::Admin, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

// --- with a clock that moves ----------------------------------------------------------------

async fn an_expired_referral_coupon_is_refused_and_a_failed_order_returns_it(
    h: Harness,
    clock: Arc<ManualClock>,
) {
    let s = &h.server;
    let svc = service(s, 1000).await;
    customer(s, "alice", 0).await;
    let reg = json!({"user_id": "bob", "email": "bob@example.com", "password": "correct horse"});
    let (st, r) = post(s, "/api/register", Auth::None, reg).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let b = r["token"].as_str().expect("token").to_owned();
    assert_eq!(s.adjust("bob", 50_000).await.0, StatusCode::OK);
    let code = register_code(s, "alice@example.com").await;
    let (_, used) = post(s, "/api/referral/use-code", Auth::Bearer(&b), json!({"code": code})).await;
    let coupon_id = used["coupon"]["id"].as_i64().expect("id");
    // A failed order refunded in full gives the coupon back.
    h.smm.push_fault("add", common::fake_smm::Fault::Error("Incorrect link".into()));
    let body = json!({"service_id": svc, "link": "https://instagram.com/bob", "quantity": 1000, "coupon_id": coupon_id});
    let (st, o) = post(s, "/api/orders", Auth::Bearer(&b), body.clone()).await;
    assert_eq!(st, StatusCode::OK, "{o}");
    let id = o["order_id"].as_i64().expect("id");
    for _ in 0..200 {
        if order(s, id).await["status"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(order(s, id).await["status"], "failed");
    assert_eq!(s.points(&b).await, 50_000);
    let mine = get(s, "/api/user/coupons", Auth::Bearer(&b)).await;
    assert_eq!(mine["coupons"][0]["is_used"], false, "{mine}");
    // 30 days later the coupon has expired (the session too: log in again).
    clock.advance(30 * DAY);
    let login = json!({"email": "bob@example.com", "password": "correct horse"});
    let (st, l) = post(s, "/api/auth/login", Auth::None, login).await;
    assert_eq!(st, StatusCode::OK, "{l}");
    let b = l["token"].as_str().expect("token").to_owned();
    let (st, e) = post(s, "/api/orders", Auth::Bearer(&b), body).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert_error_body(&e, "invalid_coupon");
    assert_eq!(e["reason"], "expired");
    assert_eq!(s.points(&b).await, 50_000);
}

async fn with_clock(backend: common::Backend, test: &str) -> Option<(Harness, Arc<ManualClock>)> {
    let clock = Arc::new(ManualClock::new(Millis(1_800_000_000_000)));
    let c = clock.clone();
    let h = Harness::start_app(backend, test, move |app| app.with_clock(c)).await?;
    Some((h, clock))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_an_expired_referral_coupon_is_refused_and_a_failed_order_returns_it() {
    let Some((h, clock)) = with_clock(common::Backend::Sqlite, "expired_sqlite").await else { return };
    an_expired_referral_coupon_is_refused_and_a_failed_order_returns_it(h, clock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_an_expired_referral_coupon_is_refused_and_a_failed_order_returns_it() {
    let Some((h, clock)) = with_clock(common::Backend::Postgres, "expired_postgres").await else { return };
    an_expired_referral_coupon_is_refused_and_a_failed_order_returns_it(h, clock).await;
}
