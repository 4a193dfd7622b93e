//! The customer's console pages in a real browser, on SQLite and PostgreSQL: buying points by
//! (simulated) card and ordering a service and a package until they complete, a referral
//! coupon at checkout, two users who never see each other's data, and odd input to every
//! customer form (never a 5xx, never a change where none belongs).

mod common;

use std::time::{Duration, Instant};

use common::browser::{Browser, Console};
use common::{Auth, TestServer};
use fantoccini::Locator;
use hyper::{HeaderMap, Method, StatusCode};
use serde_json::json;

/// Waits up to 10 s for the text of `css` to contain `needle` (the live price is fetched by
/// htmx after the form changes); answers the text last seen.
async fn wait_text(b: &Browser, css: &str, needle: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(e) = b.client.find(Locator::Css(css)).await {
            last = e.text().await.unwrap_or_default();
            if last.contains(needle) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.shot("wait-text-failed").await;
    panic!("{css} never said {needle:?}; last {last:?}");
}

/// A service of the simulated panel's `1001` at 1,000 points per 1,000, and a package of two
/// of its steps at 3,000 points.
async fn catalogue(s: &TestServer) -> (i64, i64) {
    let service = s
        .create_service(
            "1001",
            1000,
            json!({"name": "인스타 팔로워", "platform": "instagram", "max_quantity": 50000, "dripfeed": true}),
        )
        .await;
    let package = json!({"name": "스타터 패키지", "price": 3000, "steps": [
        {"service_id": service, "quantity": 100, "delay_minutes": 0},
        {"service_id": service, "quantity": 200, "delay_minutes": 0},
    ]});
    let (status, p) = s.call(Method::POST, "/api/admin/packages", Auth::Admin, Some(package)).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    (service, p["package"]["package_id"].as_i64().expect("package id"))
}

/// The user id of the account with `email`.
async fn user_id_of(s: &TestServer, email: &str) -> String {
    let (status, users) =
        s.call(Method::GET, &format!("/api/admin/users?search={email}"), Auth::Admin, None).await;
    assert_eq!(status, StatusCode::OK, "{users}");
    users["users"][0]["user_id"].as_str().expect("user id").to_owned()
}

/// The balance of `user_id`, as the operator reads it.
async fn balance_of(s: &TestServer, user_id: &str) -> i64 {
    let (status, b) = s.call(Method::GET, &format!("/api/users/{user_id}"), Auth::Admin, None).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b["user"]["points"].as_i64().expect("points")
}

/// The order id of the `/orders/{id}` page the browser is on.
async fn order_on_page(b: &Browser) -> i64 {
    let path = b.path().await;
    path.strip_prefix("/orders/")
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("not an order page: {path}"))
}

/// Fills the order form for `quantity` of `service` at `link` and waits for the live price.
async fn fill_service_order(b: &Browser, service: i64, link: &str, quantity: &str, price: &str) {
    b.goto("/order").await;
    b.select("#order-service", &service.to_string()).await;
    b.fill("#order-link", link).await;
    b.fill("#order-quantity", quantity).await;
    wait_text(b, "#price-final", price).await;
    b.shot("order-priced").await;
}

/// Scenario A: sign up → buy points by simulated card → a normal and a package order through
/// `/order` → both complete on `/orders`, as the scheduler's cron calls advance them.
async fn card_points_then_orders_complete(c: Console) {
    let (b, s) = (&c.browser, &c.server);
    let (service, package) = catalogue(s).await;
    b.sign_up("buyer@example.com", "correct-horse-1").await;
    let user = user_id_of(s, "buyer@example.com").await;

    // Points by card: the page registers the payment, hands the browser to the (simulated)
    // window, whose button posts KCP's return, which sends the browser back with the result.
    b.goto("/points").await;
    assert!(b.has("#purchases-empty").await, "no purchases yet");
    b.fill("#card-amount", "10000").await;
    b.click_confirmed("#card-submit").await;
    b.click("form[action*='purchase-kcp/return'] button").await;
    assert!(b.path().await.starts_with("/points?ordr_idxx="), "{}", b.path().await);
    assert!(b.text("#pay-result").await.contains("충전되었습니다"), "{}", b.text("#pay-result").await);
    assert_eq!(b.text("#points-balance").await, "10,000 P");
    assert_eq!(b.text("#balance").await, "10,000", "the header shows the new balance");
    assert!(b.text("#purchases-table").await.contains("승인"), "the history shows the approved purchase");
    assert_eq!(balance_of(s, &user).await, 10_000);

    // A normal order: the live price follows the quantity.
    fill_service_order(b, service, "https://instagram.com/p/console-a", "1000", "1,000 P").await;
    b.fill("#order-quantity", "2000").await;
    wait_text(b, "#price-final", "2,000 P").await;
    b.fill("#order-quantity", "1000").await;
    wait_text(b, "#price-final", "1,000 P").await;
    b.click_confirmed("#order-submit").await;
    let normal = order_on_page(b).await;
    assert!(b.html().await.contains("주문했습니다."));
    assert_eq!(b.text("#order-paid").await, "1,000 P");

    // A package order.
    // Chosen from the catalogue beside the form, which fills the form's selects.
    b.goto("/order").await;
    b.find(&format!("button[data-pick$='order-package:{package}']")).await.click().await.expect("pick");
    assert_eq!(b.find("#order-kind").await.prop("value").await.expect("value").as_deref(), Some("package"));
    b.fill("#order-link", "https://instagram.com/p/console-pkg").await;
    wait_text(b, "#price-final", "3,000 P").await;
    b.click_confirmed("#order-submit").await;
    let pkg = order_on_page(b).await;
    assert!(b.has("#order-parts").await, "a package shows its parts");
    assert_eq!(balance_of(s, &user).await, 6_000);

    // The scheduler's work, by hand: submit due package steps, ask the panel for statuses.
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        let (status, _) = s.call(Method::POST, "/api/cron/process-package-steps", Auth::Admin, None).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = s.call(Method::POST, "/api/cron/sync-order-status", Auth::Admin, None).await;
        assert_eq!(status, StatusCode::OK);
        let (a, p) = (s.admin_order(normal).await, s.admin_order(pkg).await);
        if a["status"] == "completed" && p["status"] == "completed" {
            break;
        }
        assert!(Instant::now() < deadline, "orders did not complete: {a} {p}");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    for id in [normal, pkg] {
        assert!(
            b.reload_until("/orders", &format!("#order-{id} .badge"), "완료", 10).await,
            "order {id} 완료"
        );
    }
    assert!(b.text(&format!("#order-{pkg}")).await.contains("2/2"), "the package's parts are all done");
    b.goto(&format!("/orders/{pkg}")).await;
    assert!(b.text("#order-status").await.contains("완료"));
    b.goto("/ledger").await;
    let ledger = b.text("#ledger-table").await;
    assert!(
        ledger.contains("+10,000 P") && ledger.contains("-1,000 P") && ledger.contains("-3,000 P"),
        "{ledger}"
    );
    b.goto("/").await;
    assert_eq!(b.text("#dashboard-points").await, "6,000 P");
    s.assert_ledger_consistent().await;
}

/// Scenario D: a referral code used on `/referral` gives a coupon, picked at checkout; the order
/// is paid at the discounted price.
async fn referral_coupon_at_checkout(c: Console) {
    let (b, s) = (&c.browser, &c.server);
    let (service, _) = catalogue(s).await;
    s.register("referrer").await;
    let (status, r) = s
        .call(
            Method::POST,
            "/api/admin/referral/register",
            Auth::Admin,
            Some(json!({"email": "referrer@example.test"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let code = r["code"].as_str().expect("code").to_owned();

    b.sign_up("newbie@example.com", "correct-horse-1").await;
    let user = user_id_of(s, "newbie@example.com").await;
    assert_eq!(s.adjust(&user, 5_000).await.0, StatusCode::OK);
    b.goto("/referral").await;
    assert!(b.has("#referral-none").await, "a customer without a code is told so");
    assert!(b.has("#coupons-empty").await);
    b.fill("#use-code", "NOT-A-CODE").await;
    b.click("#use-code-submit").await;
    assert!(b.has(".error, .field-error").await, "an unknown code is refused next to the form");
    b.fill("#use-code", &code).await;
    b.click("#use-code-submit").await;
    assert!(b.html().await.contains("쿠폰을 받았습니다"));
    assert!(b.text("#coupons-table").await.contains("5%"));

    fill_service_order(b, service, "https://instagram.com/p/console-d", "1000", "1,000 P").await;
    let coupon = b.find("#order-coupon option:nth-child(2)").await.attr("value").await.expect("attr");
    let coupon = coupon.expect("a coupon to choose");
    // The price before the coupon (above), then with it.
    b.select("#order-coupon", &coupon).await;
    wait_text(b, "#price-discount", "-50 P").await;
    wait_text(b, "#price-final", "950 P").await;
    b.shot("order-with-coupon").await;
    b.click_confirmed("#order-submit").await;
    let id = order_on_page(b).await;
    assert_eq!(b.text("#order-paid").await, "950 P");
    assert_eq!(b.text("#order-discount").await, "-50 P");
    let o = s.admin_order(id).await;
    assert_eq!(
        (o["price"].as_i64(), o["discount_amount"].as_i64(), o["final_price"].as_i64()),
        (Some(1000), Some(50), Some(950))
    );
    assert_eq!(balance_of(s, &user).await, 4_050);
    // The coupon is spent: the order form no longer offers it.
    b.goto("/order").await;
    assert!(!b.has("#order-coupon option:nth-child(2)").await, "a used coupon is not offered again");

    // The referrer's link: sign-up with the code filled in gives the coupon at once.
    b.sign_out().await;
    b.goto(&format!("/signup?ref={code}")).await;
    assert_eq!(
        b.find("#signup-ref").await.prop("value").await.expect("value").as_deref(),
        Some(code.as_str())
    );
    b.fill("input[name=email]", "linked@example.com").await;
    b.fill("input[name=password]", "correct-horse-1").await;
    b.click("#signup-submit").await;
    assert_eq!(b.path().await, "/");
    assert!(b.html().await.contains("쿠폰을 받았습니다"), "the welcome says the coupon came");
    b.goto("/referral").await;
    assert!(b.text("#coupons-table").await.contains("5%"));
    let (_, referrals) = s.call(Method::GET, "/api/admin/referral/list", Auth::Admin, None).await;
    assert!(referrals.to_string().contains("linked"), "the new user is the referrer's: {referrals}");
}

/// Drip-feed, scheduled and split orders through the form's delivery options, each priced live
/// and stored as asked; a scheduled order canceled from its page is refunded.
async fn drip_scheduled_and_split_orders(c: Console) {
    let (b, s) = (&c.browser, &c.server);
    let (service, _) = catalogue(s).await;
    b.sign_up("options@example.com", "correct-horse-1").await;
    let user = user_id_of(s, "options@example.com").await;
    assert_eq!(s.adjust(&user, 10_000).await.0, StatusCode::OK);
    let start = |mode: &'static str| async move {
        b.goto("/order").await;
        b.select("#order-service", &service.to_string()).await;
        b.fill("#order-link", &format!("https://instagram.com/p/{mode}")).await;
        b.select("#order-mode", mode).await;
    };

    start("drip").await;
    b.fill("#order-quantity", "100").await;
    b.fill("#order-runs", "3").await;
    b.fill("#order-interval", "30").await;
    wait_text(b, "#price-final", "300 P").await;
    b.click_confirmed("#order-submit").await;
    let drip = s.admin_order(order_on_page(b).await).await;
    assert_eq!(
        (drip["runs"].as_i64(), drip["interval"].as_i64(), drip["final_price"].as_i64()),
        (Some(3), Some(30), Some(300)),
        "{drip}"
    );

    start("scheduled").await;
    b.fill("#order-quantity", "200").await;
    let tomorrow = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    let at = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}",
        tomorrow.year(),
        u8::from(tomorrow.month()),
        tomorrow.day(),
        tomorrow.hour(),
        tomorrow.minute()
    );
    b.client
        .execute(
            "var f = document.getElementById('order-scheduled'); f.value = arguments[0]; f.dispatchEvent(new Event('change', {bubbles: true}));",
            vec![json!(at)],
        )
        .await
        .expect("set the time");
    wait_text(b, "#price-final", "200 P").await;
    b.click_confirmed("#order-submit").await;
    let scheduled = order_on_page(b).await;
    let o = s.admin_order(scheduled).await;
    assert_eq!((o["status"].as_str(), o["is_scheduled"].as_bool()), (Some("scheduled"), Some(true)), "{o}");
    assert!(b.text("#order-status").await.contains("예약됨"));

    start("split").await;
    b.fill("#order-split-days", "3").await;
    b.fill("#order-split-quantity", "100").await;
    wait_text(b, "#price-final", "300 P").await;
    b.click_confirmed("#order-submit").await;
    let split = s.admin_order(order_on_page(b).await).await;
    assert_eq!((split["split_days"].as_i64(), split["total_steps"].as_i64()), (Some(3), Some(3)), "{split}");
    assert!(b.has("#order-parts").await, "a split order shows its days");
    assert_eq!(balance_of(s, &user).await, 10_000 - 300 - 200 - 300);

    // The scheduled order has not reached the panel: canceled from its page, refunded in full.
    b.goto(&format!("/orders/{scheduled}")).await;
    b.click_confirmed("#order-cancel").await;
    assert!(b.html().await.contains("취소를 요청했습니다."));
    assert_eq!(s.admin_order(scheduled).await["status"], "canceled");
    assert_eq!(balance_of(s, &user).await, 10_000 - 300 - 300);
    b.goto("/orders?status=canceled").await;
    assert!(b.has(&format!("#order-{scheduled}")).await, "the filter shows the canceled order");
    assert!(!b.html().await.contains("/p/drip"), "and only those");
    s.assert_ledger_consistent().await;
}

/// The cookie jar and CSRF token of a customer signed up through the form.
async fn signed_up(s: &TestServer, email: &str) -> (String, String) {
    fn cookie(h: &HeaderMap, name: &str) -> Option<String> {
        h.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|l| {
            l.strip_prefix(&format!("{name}=")).map(|rest| rest.split(';').next().unwrap_or("").to_owned())
        })
    }
    let (_, h, _) = s.raw(Method::GET, "/signup", &[], "").await;
    let csrf = cookie(&h, "snspmt_csrf").expect("a CSRF cookie");
    let jar = format!("snspmt_csrf={csrf}");
    let body = format!("csrf={csrf}&email={email}&name=n&password=correct-horse-1");
    let form = [("cookie", jar.as_str()), ("content-type", "application/x-www-form-urlencoded")];
    let (status, h, _) = s.raw(Method::POST, "/signup", &form, body).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let session = cookie(&h, "snspmt_session").expect("a session cookie");
    (format!("snspmt_csrf={csrf}; snspmt_session={session}"), csrf)
}

/// Two customers: B never sees A's orders, purchases or ledger, and cannot act on A's order.
async fn users_see_only_their_own(c: Console) {
    let (b, s) = (&c.browser, &c.server);
    let (service, _) = catalogue(s).await;
    let alice = s.customer("alice", 5_000).await;
    let (status, placed) = s
        .call(
            Method::POST,
            "/api/orders",
            Auth::Bearer(&alice),
            Some(json!({"service_id": service, "link": "https://instagram.com/p/alice-private", "quantity": 100})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{placed}");
    let alices = placed["order_id"].as_i64().expect("order id");
    let (status, p) = s
        .call(
            Method::POST,
            "/api/points/purchase",
            Auth::Bearer(&alice),
            Some(json!({"amount": 7777, "price": 7777, "buyer_name": "앨리스"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");

    b.sign_up("bob@example.com", "correct-horse-1").await;
    b.goto("/orders").await;
    assert!(b.has("#orders-empty").await, "bob has no orders");
    assert!(!b.html().await.contains("alice-private"));
    b.goto(&format!("/orders/{alices}")).await;
    assert!(b.text("h1").await.contains("오류"), "another user's order is refused");
    assert!(!b.html().await.contains("alice-private"));
    b.goto(&format!("/orders/{alices}?user_id=alice")).await;
    assert!(!b.html().await.contains("alice-private"));
    b.goto("/orders?user_id=alice").await;
    assert!(!b.html().await.contains("alice-private"), "a user_id in the query changes nothing");
    b.goto("/points").await;
    assert!(b.has("#purchases-empty").await, "bob has no purchases");
    assert!(!b.html().await.contains("7,777"));
    b.goto("/ledger?user_id=alice").await;
    assert!(b.has("#ledger-empty").await, "bob's ledger is empty, whatever the query says");
    assert!(!b.html().await.contains("5,000"));

    // Acting on Alice's order from Bob's session: refused, and her order is untouched.
    let (jar, csrf) = signed_up(s, "carol@example.com").await;
    let form = [("cookie", jar.as_str()), ("content-type", "application/x-www-form-urlencoded")];
    for action in ["cancel", "refill"] {
        let (status, _, _) =
            s.raw(Method::POST, &format!("/orders/{alices}/{action}"), &form, format!("csrf={csrf}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{action} of another user's order");
    }
    let o = s.admin_order(alices).await;
    assert_ne!(o["status"], "canceled");
    assert_eq!(s.points(&alice).await, 4_900);
}

/// Odd values posted to every customer form: never a 5xx, and no money, order or purchase
/// appears. The browser shows the field errors.
async fn odd_input_to_every_form(c: Console) {
    let (b, s) = (&c.browser, &c.server);
    let (service, package) = catalogue(s).await;
    let (jar, csrf) = signed_up(s, "odd@example.com").await;
    let user = user_id_of(s, "odd@example.com").await;
    assert_eq!(s.adjust(&user, 5_000).await.0, StatusCode::OK);
    let huge = "x".repeat(10 * 1024);
    let long_link = format!("https://instagram.com/{huge}");
    let posts: Vec<(&str, String)> = vec![
        ("/order", String::new()),
        ("/order", "kind=service&service_id=&link=&quantity=".into()),
        ("/order", "service_id=abc&quantity=xyz&link=x".into()),
        ("/order", format!("service_id=999999&quantity=100&link={long_link}")),
        ("/order", format!("service_id={service}&quantity=-5&link=https://x.com/a")),
        ("/order", format!("service_id={service}&quantity=0&link=https://x.com/a")),
        ("/order", format!("service_id={service}&quantity=99999999999999999999999&link=https://x.com/a")),
        ("/order", format!("service_id={service}&quantity=9223372036854775807&link=https://x.com/a")),
        ("/order", format!("service_id={service}&quantity=1000000&link=https://x.com/a")),
        ("/order", format!("service_id={service}&quantity=100&link={huge}")),
        ("/order", format!("service_id={service}&quantity=100&link=https://x.com/a&mode=drip&runs=-1&interval=abc")),
        ("/order", format!("service_id={service}&quantity=100&link=https://x.com/a&mode=drip&runs=9223372036854775807&interval=1")),
        ("/order", format!("service_id={service}&quantity=100&link=https://x.com/a&mode=scheduled&scheduled_datetime=garbage")),
        ("/order", format!("service_id={service}&quantity=100&link=https://x.com/a&mode=scheduled&scheduled_datetime=1999-01-01T00:00")),
        ("/order", format!("service_id={service}&link=https://x.com/a&mode=split&split_days=1000&split_quantity=-1")),
        ("/order", format!("service_id={service}&link=https://x.com/a&mode=split&split_days=9223372036854775807&split_quantity=9223372036854775807")),
        ("/order", format!("service_id={service}&quantity=100&link=https://x.com/a&coupon_id=999")),
        ("/order", format!("service_id={service}&quantity=100&link=https://x.com/a&coupon_id=abc")),
        ("/order", format!("service_id={service}&quantity=5&link=https://x.com/a&comments={huge}")),
        ("/order", format!("service_id={service}&quantity=5&link=https://x.com/a&key={huge}")),
        ("/order", "kind=package&package_id=-1&link=https://x.com/a".into()),
        ("/order", "kind=package&package_id=99999999&link=https://x.com/a".into()),
        ("/order", format!("kind=package&package_id={package}&link=")),
        ("/points/bank", String::new()),
        ("/points/bank", "amount=-1".into()),
        ("/points/bank", "amount=abc".into()),
        ("/points/bank", "amount=99999999999999999999".into()),
        ("/points/bank", "amount=10000001".into()),
        ("/points/bank", format!("amount=1000&buyer_name={huge}")),
        ("/points/bank", format!("amount=1000&bank_info={huge}")),
        ("/points/card", "amount=0".into()),
        ("/points/card", "amount=-5".into()),
        ("/points/card", "amount=1e9".into()),
        ("/points/card", "amount=9223372036854775807".into()),
        ("/referral/use-code", String::new()),
        ("/referral/use-code", format!("code={huge}")),
        ("/referral/use-code", "code=NOPE".into()),
        ("/referral/coupon", String::new()),
        ("/referral/coupon", format!("coupon_code={huge}")),
        ("/referral/coupon", "coupon_code=NOPE".into()),
        ("/referral/withdraw", String::new()),
        ("/referral/withdraw", "amount=-1&bank_name=b&account_number=1&account_holder=h".into()),
        ("/referral/withdraw", "amount=abc".into()),
        ("/referral/withdraw", format!("amount=5000&bank_name={huge}&account_number=1&account_holder=h")),
        ("/keys", format!("name={huge}")),
        ("/keys/nope/rotate", String::new()),
        ("/keys/nope/revoke", String::new()),
        ("/keys/..%2F..%2Fapi%2Forders/revoke", String::new()),
        ("/orders/abc/cancel", String::new()),
        ("/orders/-1/cancel", String::new()),
        ("/orders/99999999/refill", String::new()),
        ("/orders/99999999999999999999999/cancel", String::new()),
        ("/nowhere", String::new()),
    ];
    let form = [("cookie", jar.as_str()), ("content-type", "application/x-www-form-urlencoded")];
    for (path, body) in &posts {
        let with_csrf = if body.is_empty() { format!("csrf={csrf}") } else { format!("csrf={csrf}&{body}") };
        let (status, _, _) = s.raw(Method::POST, path, &form, with_csrf).await;
        assert!(status.is_client_error() || status.is_redirection(), "POST {path} {:.80}: {status}", body);
        assert_ne!(status, StatusCode::SEE_OTHER, "POST {path} {:.80} was taken", body);
        // Without the token, refused before anything.
        let (status, _, _) = s.raw(Method::POST, path, &form, body.clone()).await;
        assert!(
            status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
            "POST {path} without csrf: {status}"
        );
    }
    // The live price answers every query with a page (its problem said in words).
    for (path, body) in posts.iter().filter(|(p, _)| *p == "/order") {
        let (status, _, _) = s.raw(Method::GET, &format!("/order/price?{body}"), &form[..1], "").await;
        assert_eq!(status, StatusCode::OK, "GET {path}/price?{:.80}", body);
    }
    for path in [
        "/orders/abc",
        "/orders/99999999999999999999",
        "/orders/-1",
        "/orders?status=bogus&page=-1",
        "/orders?page=abc",
        "/points?page=99999999",
        "/points?result=%3Cscript%3E&ordr_idxx=%3Cb%3E",
        "/ledger?page=-3",
        "/referral?x=1",
        "/keys?page=1",
    ] {
        let (status, _, _) = s.raw(Method::GET, path, &form[..1], "").await;
        assert!(!status.is_server_error(), "GET {path}: {status}");
    }
    // A sign-up whose referral code is odd still makes the account (the code is only refused).
    for (email, code) in [("odd-ref1@example.com", huge.as_str()), ("odd-ref2@example.com", "%00'\"<b>")] {
        let body = format!(
            "csrf={csrf}&email={email}&password=correct-horse-1&ref={}",
            form_urlencoded::byte_serialize(code.as_bytes()).collect::<String>()
        );
        let (status, _, _) = s.raw(Method::POST, "/signup", &form, body).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "sign-up with ref {:.20}", code);
    }
    assert_eq!(balance_of(s, &user).await, 5_000, "no odd input moved money");
    let (_, orders) =
        s.call(Method::GET, &format!("/api/admin/orders?user_id={user}"), Auth::Admin, None).await;
    assert_eq!(orders["total"], 0, "no odd input placed an order: {orders}");
    let (_, purchases) =
        s.call(Method::GET, &format!("/api/points/purchase-history?user_id={user}"), Auth::Admin, None).await;
    assert_eq!(purchases["total"], 0, "no odd input made a purchase: {purchases}");
    s.assert_ledger_consistent().await;

    // In the browser, the refusals are said next to their fields, and the values stay.
    b.sign_up("odd-browser@example.com", "correct-horse-1").await;
    b.goto("/order").await;
    b.select("#order-service", &service.to_string()).await;
    b.fill("#order-link", "https://instagram.com/p/odd").await;
    b.fill("#order-quantity", "열개").await;
    wait_text(b, "#price-problem", "").await;
    b.click_confirmed("#order-submit").await;
    assert_eq!(b.path().await, "/order");
    assert!(b.text("label .field-error").await.contains("숫자"), "text in a number field is said so");
    assert_eq!(
        b.find("#order-link").await.prop("value").await.expect("value").as_deref(),
        Some("https://instagram.com/p/odd")
    );
    b.fill("#order-quantity", "1").await;
    b.click_confirmed("#order-submit").await;
    assert!(b.has(".field-error").await, "a quantity under the minimum is refused next to the field");
    b.goto("/points").await;
    b.fill("#bank-amount", "-5").await;
    b.click_confirmed("#bank-submit").await;
    assert!(b.has("#bank-form .field-error").await, "a negative amount is refused next to the field");
    let odd = user_id_of(s, "odd-browser@example.com").await;
    assert_eq!(balance_of(s, &odd).await, 0);
}

/// API keys: created (the secret shown once), rotated, revoked.
async fn api_keys_lifecycle(c: Console) {
    let b = &c.browser;
    b.sign_up("keys@example.com", "correct-horse-1").await;
    b.goto("/keys").await;
    assert!(b.has("#keys-empty").await);
    b.fill("#key-name", "리셀러 봇").await;
    b.click("#key-create").await;
    let first = b.text("#new-key").await;
    assert!(first.len() > 20, "{first}");
    assert!(b.text("#keys-table").await.contains("리셀러 봇"));
    b.goto("/keys").await;
    assert!(!b.has("#new-key").await, "the secret is shown only once");
    assert!(!b.html().await.contains(&first));
    b.click_confirmed("#keys-table form[action$='/rotate'] button").await;
    let second = b.text("#new-key").await;
    assert_ne!(first, second, "a rotated key is a new secret");
    b.click_confirmed("#keys-table form[action$='/revoke'] button").await;
    assert!(b.has("#keys-empty").await, "the revoked key is gone");
}

console_tests!(
    card_points_then_orders_complete,
    referral_coupon_at_checkout,
    users_see_only_their_own,
    odd_input_to_every_form,
    api_keys_lifecycle,
    drip_scheduled_and_split_orders
);
