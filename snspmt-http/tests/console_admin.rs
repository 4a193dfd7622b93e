//! The operator's console pages (`/admin`) in a real browser and over raw HTTP, on SQLite and
//! PostgreSQL: a bank transfer approved, an `unknown` order resolved both ways, every page for
//! operators only, and no form that answers 5xx to odd input.

mod common;

use std::time::Duration;

use common::browser::Console;
use common::fake_kcp::{FakeKcp, KcpFault};
use common::fake_smm::{self, FakeSmm, Fault};
use common::{Auth, Backend, KcpHarness, TestServer, ADMIN_TOKEN, CRON_TOKEN};
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

/// Scenario B: a customer asks for a bank transfer on the points page; the operator approves it in the browser
/// (after the confirmation); the customer's dashboard shows the points.
async fn bank_transfer_approved_by_the_operator(c: Console) {
    let (s, b) = (&c.server, &c.browser);
    let (token, _) = customer_with_password(s, "bank@example.com").await;
    // The customer asks for the transfer on the points page (after its confirmation).
    b.sign_in("bank@example.com", PASSWORD).await;
    b.goto("/points").await;
    b.fill("#bank-amount", "30000").await;
    b.fill("#bank-buyer", "홍길동").await;
    b.click_confirmed("#bank-submit").await;
    assert!(b.has(".flash").await, "the request is confirmed on the page");
    let (status, list) = s.call(Method::GET, "/api/admin/purchases?status=pending", Auth::Admin, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let purchases = list["purchases"].as_array().expect("purchases");
    assert_eq!(purchases.len(), 1, "one transfer asked for: {list}");
    let id = purchases[0]["purchase_id"].as_i64().expect("purchase id");
    assert_eq!(s.points(&token).await, 0, "nothing is credited before the operator approves");
    b.sign_out().await;

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
    placed_n(s, token, service, link, 1000).await
}

async fn placed_n(s: &TestServer, token: &str, service: i64, link: &str, quantity: i64) -> Value {
    let body = json!({"service_id": service, "link": link, "quantity": quantity});
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

// ---- raw HTTP: who may open and post to the operator pages, and odd input ----

/// A browser's cookies and its CSRF token, over raw HTTP.
struct Jar {
    cookie: String,
    csrf: String,
}

fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|l| {
        l.strip_prefix(&format!("{name}=")).map(|rest| rest.split(';').next().unwrap_or("").to_owned())
    })
}

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

/// Signs in on `/admin/login` with the admin token.
async fn operator(s: &TestServer) -> Jar {
    let (_, h, _) = s.raw(Method::GET, "/admin/login", &[], "").await;
    let csrf = set_cookie(&h, "snspmt_csrf").expect("csrf cookie");
    let jar = format!("snspmt_csrf={csrf}");
    let body = format!("csrf={csrf}&token={ADMIN_TOKEN}");
    let (status, h, _) = s.raw(Method::POST, "/admin/login", &[("cookie", &jar), FORM], body).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let admin = set_cookie(&h, "snspmt_admin").expect("admin cookie");
    Jar { cookie: format!("snspmt_csrf={csrf}; snspmt_admin={admin}"), csrf }
}

/// Signs in on `/login` as a customer registered with [`PASSWORD`].
async fn signed_in(s: &TestServer, email: &str) -> Jar {
    let (_, h, _) = s.raw(Method::GET, "/login", &[], "").await;
    let csrf = set_cookie(&h, "snspmt_csrf").expect("csrf cookie");
    let jar = format!("snspmt_csrf={csrf}");
    let body = format!("csrf={csrf}&email={email}&password={PASSWORD}");
    let (status, h, _) = s.raw(Method::POST, "/login", &[("cookie", &jar), FORM], body).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "sign-in of {email}");
    let session = set_cookie(&h, "snspmt_session").expect("session cookie");
    Jar { cookie: format!("snspmt_csrf={csrf}; snspmt_session={session}"), csrf }
}

/// `GET path` with the jar: status, `Location`, body.
async fn page(s: &TestServer, jar: Option<&Jar>, path: &str) -> (StatusCode, String, String) {
    let headers: Vec<(&str, &str)> = jar.map(|j| vec![("cookie", j.cookie.as_str())]).unwrap_or_default();
    let (status, h, body) = raw_text(s, Method::GET, path, &headers, String::new()).await;
    let location = h.get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    (status, location, body)
}

async fn raw_text(
    s: &TestServer,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: String,
) -> (StatusCode, HeaderMap, String) {
    let (status, h, bytes) = s.raw_bytes(method, path, headers, body.into_bytes()).await;
    (status, h, String::from_utf8_lossy(&bytes).into_owned())
}

/// Posts `fields` (url-encoded) to `action` with the jar and its CSRF token.
async fn post(s: &TestServer, jar: &Jar, action: &str, fields: &[(String, String)]) -> (StatusCode, String) {
    let mut body = form_urlencoded::Serializer::new(String::new());
    body.append_pair("csrf", &jar.csrf);
    for (k, v) in fields.iter().filter(|(k, _)| k != "csrf") {
        body.append_pair(k, v);
    }
    let (status, _, text) =
        raw_text(s, Method::POST, action, &[("cookie", jar.cookie.as_str()), FORM], body.finish()).await;
    (status, text)
}

/// A form of a page, as a browser would send it.
#[derive(Debug, Clone)]
struct PageForm {
    action: String,
    /// Hidden fields (ids, `op`, `form`, the idempotency key), sent as they are.
    hidden: Vec<(String, String)>,
    /// The fields a person fills in, with the value the page shows.
    visible: Vec<(String, String)>,
}

fn unescape(s: &str) -> String {
    s.replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let len = tag[start..].find('"')?;
    Some(unescape(&tag[start..start + len]))
}

/// The operator `POST` forms of a page (its `GET` filter forms and the header's sign-out left
/// out).
fn post_forms(html: &str) -> Vec<PageForm> {
    let mut forms = Vec::new();
    for chunk in html.split("<form ").skip(1) {
        let Some(end) = chunk.find("</form>") else { continue };
        let inner = &chunk[..end];
        let tag = &inner[..inner.find('>').unwrap_or(0)];
        if attr(&format!(" {tag}"), "method").as_deref() != Some("post") {
            continue;
        }
        let action = attr(&format!(" {tag}"), "action").unwrap_or_default();
        let (mut hidden, mut visible) = (Vec::new(), Vec::new());
        for piece in inner.split('<').skip(1) {
            let tag = format!(" {}", &piece[..piece.find('>').unwrap_or(piece.len())]);
            let Some(name) = attr(&tag, "name") else { continue };
            if piece.starts_with("input") {
                let value = attr(&tag, "value").unwrap_or_default();
                match attr(&tag, "type").as_deref() {
                    Some("hidden") => hidden.push((name, value)),
                    Some("checkbox") if tag.contains(" checked") => visible.push((name, value)),
                    Some("checkbox") => {}
                    _ => visible.push((name, value)),
                }
            } else if piece.starts_with("select") {
                let first = piece_after(inner, piece).and_then(|rest| {
                    let options = &rest[..rest.find("</select>").unwrap_or(rest.len())];
                    let selected = options.split("<option").find(|o| o.contains(" selected"));
                    let any = options.split("<option").nth(1);
                    selected.or(any).and_then(|o| attr(&format!(" {o}"), "value"))
                });
                visible.push((name, first.unwrap_or_default()));
            } else if piece.starts_with("textarea") {
                let content = piece.split_once('>').map(|(_, c)| unescape(c)).unwrap_or_default();
                visible.push((name, content));
            }
        }
        if action.starts_with("/admin") {
            forms.push(PageForm { action, hidden, visible });
        }
    }
    forms
}

/// The text of `inner` from `piece` on.
fn piece_after<'a>(inner: &'a str, piece: &str) -> Option<&'a str> {
    let at = inner.find(piece)?;
    Some(&inner[at..])
}

/// Everything an operator page can show, made through the API: a pending bank transfer, an
/// `unknown` order and a completed one, a referrer whose code was used, a service, a package,
/// a coupon, a notice and a post. Answers the operator pages to visit (detail pages with
/// real ids) and the customer's e-mail.
async fn world(s: &TestServer, smm: &FakeSmm) -> Vec<String> {
    let service = s.create_service("1", 1000, json!({})).await;
    let (referrer, referrer_id) = customer_with_password(s, "referrer@example.com").await;
    let (buyer, buyer_id) = customer_with_password(s, "buyer@example.com").await;
    assert_eq!(s.adjust(&buyer_id, 50_000).await.0, StatusCode::OK);
    let (status, r) = s
        .call(
            Method::POST,
            "/api/admin/referral/register",
            Auth::Admin,
            Some(json!({"user_id": referrer_id})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let (status, b) = s
        .call(Method::POST, "/api/referral/use-code", Auth::Bearer(&buyer), Some(json!({"code": r["code"]})))
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    // A completed order earns the referrer 2,000 points of commission; 1,000 are asked for.
    let done = placed_n(s, &buyer, service, "https://instagram.com/done", 20_000).await;
    let upstream = done["smm_panel_order_id"].as_str().expect("accepted").parse::<i64>().expect("panel id");
    smm.set_status(upstream, "Completed", 0);
    let (status, _, _) =
        s.raw(Method::POST, "/api/cron/sync-order-status", &[("x-cron-token", CRON_TOKEN)], "").await;
    assert_eq!(status, StatusCode::OK);
    smm.push_fault("add", Fault::DropConnection);
    let unknown = placed(s, &buyer, service, "https://instagram.com/lost").await;
    assert_eq!(unknown["status"], "unknown");
    let (status, w) = s
        .call(
            Method::POST,
            "/api/referral/withdrawal-request",
            Auth::Bearer(&referrer),
            Some(
                json!({"amount": 1000, "bank_name": "은행", "account_number": "123", "account_holder": "김"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{w}");
    let (status, p) = s
        .call(
            Method::POST,
            "/api/points/purchase",
            Auth::Bearer(&buyer),
            Some(json!({"amount": 10000, "price": 10000, "buyer_name": "홍길동"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    let created =
        |b: &Value, what: &str, id: &str| b[what][id].as_i64().unwrap_or_else(|| panic!("{what}: {b}"));
    let steps = json!([{"service_id": service, "quantity": 100, "repeat": 2, "delay_minutes": 10}]);
    let (_, b) = s
        .call(
            Method::POST,
            "/api/admin/packages",
            Auth::Admin,
            Some(json!({"name": "세트", "price": 5000, "steps": steps})),
        )
        .await;
    let package = created(&b, "package", "package_id");
    // A package order whose first part's answer is lost: the part is `unknown`.
    smm.push_fault("add", Fault::Delay(Duration::from_millis(1500)));
    let body = json!({"package_id": package, "link": "https://instagram.com/set"});
    let (status, o) = s.call(Method::POST, "/api/orders", Auth::Bearer(&buyer), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{o}");
    let package_order = o["order_id"].as_i64().expect("id");
    let mut part = Value::Null;
    for _ in 0..200 {
        let (_, p) = s
            .call(Method::GET, &format!("/api/orders/{package_order}/package-progress"), Auth::Admin, None)
            .await;
        part = p["progress"][0].clone();
        if part["status"] == "unknown" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(part["status"], "unknown", "{part}");
    let (_, b) = s
        .call(
            Method::POST,
            "/api/admin/coupons",
            Auth::Admin,
            Some(json!({"code": "WELCOME", "discount_type": "percentage", "discount_value": 10})),
        )
        .await;
    let coupon = created(&b, "coupon", "coupon_id");
    let (_, b) = s
        .call(
            Method::POST,
            "/api/admin/notices",
            Auth::Admin,
            Some(json!({"title": "공지", "content": "안녕하세요"})),
        )
        .await;
    let notice = created(&b, "notice", "notice_id");
    let (_, b) = s
        .call(
            Method::POST,
            "/api/blog/posts",
            Auth::Admin,
            Some(json!({"title": "글", "content": "<p>본문</p>"})),
        )
        .await;
    let post = created(&b, "post", "post_id");
    [
        "/admin".to_owned(),
        "/admin/purchases".to_owned(),
        "/admin/orders".to_owned(),
        format!("/admin/orders/{}", unknown["order_id"]),
        format!("/admin/orders/{}", done["order_id"]),
        format!("/admin/orders/{package_order}"),
        "/admin/users".to_owned(),
        format!("/admin/users/{buyer_id}"),
        format!("/admin/users/{referrer_id}"),
        "/admin/services".to_owned(),
        format!("/admin/services/{service}"),
        "/admin/packages".to_owned(),
        format!("/admin/packages/{package}"),
        "/admin/coupons".to_owned(),
        format!("/admin/coupons/{coupon}"),
        "/admin/referral".to_owned(),
        "/admin/notices".to_owned(),
        format!("/admin/notices/{notice}"),
        "/admin/blog".to_owned(),
        format!("/admin/blog/{post}"),
        "/admin/audit".to_owned(),
    ]
    .to_vec()
}

/// A session of the world's buyer.
async fn buyer_token(s: &TestServer) -> String {
    let body = json!({"email": "buyer@example.com", "password": PASSWORD});
    let (status, b) = s.call(Method::POST, "/api/auth/login", Auth::None, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b["token"].as_str().expect("token").to_owned()
}

/// A server wired to a fake panel, without a browser.
async fn server_with_panel(backend: Backend, test: &str) -> Option<(TestServer, FakeSmm)> {
    let smm = FakeSmm::start().await;
    let vars = [
        ("SMMKINGS_API_URL", smm.url.as_str()),
        ("SMMKINGS_API_KEY", fake_smm::FAKE_KEY),
        ("SNSPMT_UPSTREAM_TIMEOUT_MS", "500"),
        ("CRON_TOKEN", CRON_TOKEN),
    ];
    let s = TestServer::start_with(backend, test, &vars).await?;
    Some((s, smm))
}

/// What the operator pages could change, read through the admin API.
async fn state(s: &TestServer) -> Value {
    let mut all = serde_json::Map::new();
    for path in [
        "/api/admin/audit-log?limit=200",
        "/api/admin/services?limit=200",
        "/api/admin/packages?limit=200",
        "/api/admin/coupons?limit=200",
        "/api/admin/notices?limit=200",
        "/api/admin/blog/posts?limit=100",
        "/api/admin/referral/commission-overview?limit=200",
        "/api/admin/withdrawal-requests?limit=200",
    ] {
        let (status, b) = s.call(Method::GET, path, Auth::Admin, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {b}");
        all.insert(path.to_owned(), b);
    }
    let picks: [(&str, &str, &[&str]); 3] = [
        ("/api/admin/users?limit=200", "users", &["user_id", "points", "is_admin", "email", "display_name"]),
        ("/api/admin/purchases?limit=200", "purchases", &["purchase_id", "status"]),
        (
            "/api/admin/orders?limit=200",
            "orders",
            &["order_id", "status", "refunded_amount", "smm_panel_order_id"],
        ),
    ];
    for (path, list, keys) in picks {
        let (_, b) = s.call(Method::GET, path, Auth::Admin, None).await;
        let rows: Vec<Value> = b[list]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| Value::Array(keys.iter().map(|k| r[*k].clone()).collect()))
            .collect();
        all.insert(path.to_owned(), Value::Array(rows));
    }
    Value::Object(all)
}

async fn admin_pages_are_for_operators_only(backend: Backend) {
    let Some((s, smm)) = server_with_panel(backend, "console_admin_pages_only").await else { return };
    let pages = world(&s, &smm).await;
    let op = operator(&s).await;
    let customer = signed_in(&s, "buyer@example.com").await;
    let mut forms = Vec::new();
    for path in &pages {
        let (status, _, html) = page(&s, Some(&op), path).await;
        assert_eq!(status, StatusCode::OK, "{path} for the operator: {html}");
        forms.extend(post_forms(&html));
        // A stranger is sent to sign in (and back); a customer is refused.
        let (status, location, _) = page(&s, None, path).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path} for a stranger");
        assert!(location.starts_with("/admin/login?next="), "{path}: {location}");
        let (status, _, html) = page(&s, Some(&customer), path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path} for a customer");
        assert!(!html.contains("name=\"op\""), "{path}: no operator form is shown to a customer");
    }
    let actions: std::collections::BTreeSet<&str> =
        forms.iter().map(|f| f.action.split('?').next().unwrap_or("")).collect();
    assert!(forms.len() >= 25, "the pages have their forms: {}", forms.len());
    for needed in ["approve-", "reject-", "resolve-accept", "resolve-fail", "set-status", "adjust", "import"]
    {
        assert!(
            forms.iter().any(|f| f.hidden.iter().any(|(k, v)| k == "form" && v.starts_with(needed))),
            "a form {needed}"
        );
    }
    // Every form, posted by a customer exactly as the operator's page has it: refused, and
    // nothing changed.
    let before = state(&s).await;
    for f in &forms {
        let fields: Vec<(String, String)> = f.hidden.iter().chain(&f.visible).cloned().collect();
        let (status, _) = post(&s, &customer, &f.action, &fields).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{} {:?} for a customer", f.action, f.hidden);
        let (status, _, _) = raw_text(&s, Method::POST, &f.action, &[FORM], "op=approve".into()).await;
        assert!(
            status == StatusCode::SEE_OTHER || status == StatusCode::FORBIDDEN,
            "{} for a stranger",
            f.action
        );
    }
    assert_eq!(state(&s).await, before, "no customer's post changed anything ({} actions)", actions.len());
    // The same form from the operator works (one, to show the refusals above were not for
    // another reason).
    let approve = forms
        .iter()
        .find(|f| f.hidden.iter().any(|(k, v)| k == "form" && v.starts_with("approve-")))
        .expect("an approval form");
    let fields: Vec<(String, String)> = approve.hidden.iter().chain(&approve.visible).cloned().collect();
    let (status, _) = post(&s, &op, &approve.action, &fields).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_ne!(state(&s).await, before);
    // An admin account (not the admin token) is an operator too, through its own session.
    let (status, b) =
        s.call(Method::GET, "/api/admin/users?search=referrer@example.com", Auth::Admin, None).await;
    assert_eq!(status, StatusCode::OK);
    let referrer = b["users"][0]["user_id"].as_str().expect("id").to_owned();
    let (status, _) = s
        .call(
            Method::PUT,
            &format!("/api/admin/users/{referrer}"),
            Auth::Admin,
            Some(json!({"is_admin": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let staff = signed_in(&s, "referrer@example.com").await;
    let (status, _, html) = page(&s, Some(&staff), "/admin/users").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let reject = forms
        .iter()
        .find(|f| f.hidden.iter().any(|(k, v)| k == "form" && v.starts_with("reject-withdrawal-")))
        .expect("a withdrawal to reject");
    let fields: Vec<(String, String)> = reject.hidden.iter().chain(&reject.visible).cloned().collect();
    let (status, _) = post(&s, &staff, &reject.action, &fields).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, log) = s.call(Method::GET, "/api/admin/audit-log?limit=1", Auth::Admin, None).await;
    assert!(log.to_string().contains(&referrer), "the audit log names the admin account: {log}");
    s.assert_ledger_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_pages_are_for_operators_only_sqlite() {
    admin_pages_are_for_operators_only(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_pages_are_for_operators_only_postgres() {
    admin_pages_are_for_operators_only(Backend::Postgres).await;
}

const ODD: &[&str] = &[
    "",
    "-1",
    "0",
    "99999999999999999999",
    "abc",
    "<script>alert(1)</script>",
    "1e3",
    "１２３",
    "\u{0}",
    "'; DROP TABLE users; --",
];

async fn odd_input_is_never_a_server_error(backend: Backend) {
    let Some((s, smm)) = server_with_panel(backend, "console_admin_odd_input").await else { return };
    let pages = world(&s, &smm).await;
    let op = operator(&s).await;
    let long = "가".repeat(3000);
    let mut posted = 0;
    for path in &pages {
        // Odd filters and page numbers.
        for q in [
            "?status=%00&page=-1",
            "?page=99999999999999999999&user_id=%27",
            "?search=%25&category=%3Cb%3E&active=x",
        ] {
            let (status, _, body) = page(&s, Some(&op), &format!("{path}{q}")).await;
            assert!(status.as_u16() < 500, "GET {path}{q}: {status} {body}");
        }
        let (_, _, html) = page(&s, Some(&op), path).await;
        for f in post_forms(&html) {
            let mut variants: Vec<Vec<(String, String)>> = Vec::new();
            for odd in ODD.iter().copied().chain([long.as_str()]) {
                // Every field odd at once, then one field at a time; ids and keys too.
                let all: Vec<(String, String)> = f
                    .hidden
                    .iter()
                    .filter(|(k, _)| k == "op" || k == "form")
                    .cloned()
                    .chain(
                        f.hidden
                            .iter()
                            .chain(&f.visible)
                            .filter(|(k, _)| k != "op" && k != "form")
                            .map(|(k, _)| (k.clone(), odd.to_owned())),
                    )
                    .collect();
                variants.push(all);
                for (i, _) in f.visible.iter().enumerate() {
                    let mut one: Vec<(String, String)> = f.hidden.iter().chain(&f.visible).cloned().collect();
                    one[f.hidden.len() + i].1 = odd.to_owned();
                    variants.push(one);
                }
            }
            variants.push(vec![("op".into(), "nothing-like-this".into())]);
            variants.push(Vec::new());
            for fields in variants {
                let (status, body) = post(&s, &op, &f.action, &fields).await;
                posted += 1;
                assert!(status.as_u16() < 500, "POST {} {fields:?}: {status} {body}", f.action);
            }
        }
    }
    // Ids that are not ids.
    for path in [
        "/admin/orders/abc",
        "/admin/orders/99999999999999999999",
        "/admin/users/%00",
        "/admin/services/-1",
        "/admin/blog/0",
        "/admin/nowhere/1/2",
    ] {
        let (status, _, _) = page(&s, Some(&op), path).await;
        assert!(status.as_u16() < 500 && status != StatusCode::OK, "{path}: {status}");
        let (status, _) = post(&s, &op, path, &[("op".into(), "update".into())]).await;
        assert!(status.as_u16() < 500, "POST {path}: {status}");
    }
    assert!(posted > 500, "forms were posted: {posted}");
    s.assert_ledger_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn odd_input_is_never_a_server_error_sqlite() {
    odd_input_is_never_a_server_error(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn odd_input_is_never_a_server_error_postgres() {
    odd_input_is_never_a_server_error(Backend::Postgres).await;
}

/// Every operator page in the browser (a screenshot of each), and the everyday forms: import
/// the panel's services with a markup, edit and stop one, adjust a user's points (a bad
/// number is said next to its field), create a coupon and a notice.
async fn every_operator_page_in_the_browser(backend: Backend) {
    let Some((c, smm)) = console_with_panel(backend, "every_operator_page").await else { return };
    let (s, b) = (&c.server, &c.browser);
    let pages = world(s, &smm).await;
    b.admin_login().await;
    for path in &pages {
        b.goto(path).await;
        assert!(!b.text("h1").await.is_empty(), "{path} has a title");
        assert!(!b.has(".error").await, "{path} shows no error");
    }
    // English on demand.
    b.goto("/admin/purchases?lang=en").await;
    assert!(b.text("h1").await.contains("Purchases"));
    b.goto("/admin/purchases?lang=ko").await;

    // Import the panel's catalogue with a 50 % markup.
    b.goto("/admin/services").await;
    b.fill("#import input[name=usd_krw]", "1000").await;
    b.fill("#import input[name=markup_bps]", "5000").await;
    b.click_confirmed("#import-submit").await;
    assert_eq!(
        b.text(".flash").await,
        "새 서비스 4 / 갱신 1",
        "the panel's five services, one known already"
    );
    let (_, list) = s.call(Method::GET, "/api/admin/services?limit=200", Auth::Admin, None).await;
    let imported = list["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|x| x["provider_service_id"] == "5")
        .cloned()
        .expect("the panel's service 5");
    assert_eq!(imported["price_per_1000"], 375, "0.25 USD × 1000 KRW × 1.5");
    let id = imported["service_id"].as_i64().expect("id");
    // Edit it, then stop selling it.
    b.goto(&format!("/admin/services/{id}")).await;
    b.fill("#edit-service input[name=price_per_1000]", "400").await;
    b.click_confirmed("#edit-service-submit").await;
    assert_eq!(
        s.call(Method::GET, &format!("/api/admin/services/{id}"), Auth::Admin, None).await.1["service"]
            ["price_per_1000"],
        400
    );
    b.goto("/admin/services").await;
    b.click_confirmed(&format!("#deactivate-{id}-submit")).await;
    assert_eq!(
        s.call(Method::GET, &format!("/api/admin/services/{id}"), Auth::Admin, None).await.1["service"]
            ["is_active"],
        false
    );

    // Points adjustment: a bad number is refused next to its field, then a good one is credited.
    let (_, users) =
        s.call(Method::GET, "/api/admin/users?search=buyer@example.com", Auth::Admin, None).await;
    let buyer = users["users"][0].clone();
    let (uid, before) =
        (buyer["user_id"].as_str().expect("id").to_owned(), buyer["points"].as_i64().expect("points"));
    b.goto(&format!("/admin/users/{uid}")).await;
    b.fill("#adjust input[name=points_adjustment]", "12abc").await;
    b.fill("#adjust input[name=reason]", "보상").await;
    b.click_confirmed("#adjust-submit").await;
    assert!(b.has("#adjust .field-error").await, "the error is next to the field");
    assert_eq!(
        b.find("#adjust input[name=reason]").await.prop("value").await.expect("value").as_deref(),
        Some("보상"),
        "what was typed is kept"
    );
    b.fill("#adjust input[name=points_adjustment]", "1,500").await;
    b.click_confirmed("#adjust-submit").await;
    assert!(b.has(".flash").await);
    let (_, u) = s.call(Method::GET, &format!("/api/users/{uid}"), Auth::Admin, None).await;
    assert_eq!(u["user"]["points"].as_i64(), Some(before + 1500));

    // The unknown part of the package order: it never reached the panel, refunded its share.
    let (_, orders) = s.call(Method::GET, "/api/admin/orders?limit=200", Auth::Admin, None).await;
    let package_order = orders["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .find(|o| o["is_package"] == true)
        .and_then(|o| o["order_id"].as_i64())
        .expect("the package order");
    let before = s.points(&buyer_token(s).await).await;
    b.goto(&format!("/admin/orders/{package_order}")).await;
    assert!(b.text("#part-0").await.contains("확인 필요"));
    b.select("#resolve-part-0 select[name=outcome]", "fail").await;
    b.click_confirmed("#resolve-part-0-submit").await;
    assert!(!b.has("#resolve-part-0").await, "a resolved part has no form");
    assert_eq!(s.points(&buyer_token(s).await).await, before + 2500, "the part's share came back");

    // A coupon and a notice.
    b.goto("/admin/coupons").await;
    b.fill("#create-coupon input[name=code]", "SPRING").await;
    b.fill("#create-coupon input[name=discount_value]", "15").await;
    b.click("#create-coupon-submit").await;
    assert!(b.has("#coupon-2").await || b.html().await.contains("SPRING"), "the new coupon is listed");
    b.goto("/admin/notices").await;
    b.fill("#create-notice input[name=title]", "점검 안내").await;
    b.click("#create-notice-submit").await;
    assert!(b.html().await.contains("점검 안내"));
    let (_, active) = s.call(Method::GET, "/api/notices/active", Auth::None, None).await;
    assert!(active.to_string().contains("점검 안내"), "{active}");
    s.assert_ledger_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_operator_page_in_the_browser_sqlite() {
    every_operator_page_in_the_browser(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_operator_page_in_the_browser_postgres() {
    every_operator_page_in_the_browser(Backend::Postgres).await;
}

/// The KCP attention list: a card payment whose approval answer was lost is listed, a
/// settlement without KCP's transaction number is refused next to its field, and the one with
/// it credits the points once.
async fn a_lost_card_approval_is_settled_on_the_purchases_page(backend: Backend) {
    let Some(h) = KcpHarness::start(backend, "console_admin_kcp_settle").await else { return };
    let s = &h.server;
    let token = s.register("carda").await;
    let (status, r) = s
        .call(
            Method::POST,
            "/api/points/purchase-kcp/register",
            Auth::Bearer(&token),
            Some(json!({"amount": 8000, "price": 8000})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let id = r["purchase_id"].as_i64().expect("id");
    let fields = h.kcp.authenticate(r["ordr_idxx"].as_str().expect("ordr"), None);
    h.kcp.push_fault("payment", KcpFault::CommitThenDrop);
    assert_eq!(s.kcp_return(FakeKcp::utf8_body(&fields)).await, "pending");
    assert_eq!(s.admin_purchase(id).await["status"], "approval_unknown");
    let tno = h.kcp.approvals()[0].tno.clone();

    let op = operator(s).await;
    let (status, _, html) = page(s, Some(&op), "/admin/purchases").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&format!("id=\"attention-{id}\"")), "listed for attention");
    let form = post_forms(&html)
        .into_iter()
        .find(|f| f.hidden.iter().any(|(k, v)| k == "form" && *v == format!("settle-{id}")))
        .expect("a settlement form");
    let with = |outcome: &str, tno: &str| -> Vec<(String, String)> {
        let mut fields: Vec<(String, String)> = form.hidden.clone();
        fields.push(("outcome".into(), outcome.into()));
        fields.push(("tno".into(), tno.into()));
        fields
    };
    // Odd values in every field of the settlement form: refused, never a 5xx, nothing credited
    // (letters and digits are a transaction number KCP could have given, so not odd here).
    let not_a_tno = |t: &str| t.is_empty() || !t.bytes().all(|b| b.is_ascii_alphanumeric());
    for odd in ODD.iter().filter(|o| not_a_tno(o)) {
        for (outcome, tno) in [(*odd, tno.as_str()), ("approved", *odd), (*odd, *odd)] {
            let (status, html) = post(s, &op, &form.action, &with(outcome, tno)).await;
            assert!(status.is_client_error(), "{outcome:?} {tno:?}: {status} {html}");
        }
        let mut fields = with("approved", &tno);
        fields.retain(|(k, _)| k != "purchase_id");
        fields.push(("purchase_id".into(), (*odd).to_owned()));
        let (status, _) = post(s, &op, &form.action, &fields).await;
        assert!(status.is_client_error(), "purchase_id {odd:?}: {status}");
    }
    assert_eq!(s.points(&token).await, 0);
    let (status, html) = post(s, &op, &form.action, &with("approved", "")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("field-error"), "the refusal is next to the tno field");
    assert_eq!(s.points(&token).await, 0);
    let (status, _) = post(s, &op, &form.action, &with("approved", &tno)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(s.points(&token).await, 8000);
    // The same form again (a double submit): refused, credited once.
    let (status, _) = post(s, &op, &form.action, &with("approved", &tno)).await;
    assert!(status.is_client_error(), "{status}");
    assert_eq!(s.points(&token).await, 8000);
    let (_, _, html) = page(s, Some(&op), "/admin/purchases").await;
    assert!(!html.contains(&format!("settle-{id}")), "settled: off the attention list");
    s.assert_ledger_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_card_approval_is_settled_on_the_purchases_page_sqlite() {
    a_lost_card_approval_is_settled_on_the_purchases_page(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_card_approval_is_settled_on_the_purchases_page_postgres() {
    a_lost_card_approval_is_settled_on_the_purchases_page(Backend::Postgres).await;
}
