//! The console as a crawler sees it, on a world of one of everything: every page a customer or
//! an operator can reach by its links, and every form on them posted with hostile values.
//!
//! - no page and no form answers 5xx, whatever the values;
//! - balances still equal their ledgers afterwards;
//! - a customer never sees another customer's data (by the pages or by guessing ids);
//! - every operator page refuses a customer (403) and sends an anonymous visitor to sign in.

mod common;

use std::collections::{BTreeSet, VecDeque};

use common::fake_smm::{self, FakeSmm};
use common::world::{ok, world};
use common::{Auth, Backend, TestServer, ADMIN_TOKEN, CRON_TOKEN};
use hyper::{Method, StatusCode};
use serde_json::json;

/// The CSRF token the crawler's browser holds (any 32 hex digits the server accepts).
const CSRF: &str = "0123456789abcdef0123456789abcdef";

/// A visitor with cookies.
struct Visitor<'a> {
    s: &'a TestServer,
    cookie: String,
}

impl<'a> Visitor<'a> {
    fn customer(s: &'a TestServer, session: &str) -> Visitor<'a> {
        Visitor { s, cookie: format!("snspmt_csrf={CSRF}; snspmt_session={session}") }
    }

    fn operator(s: &'a TestServer) -> Visitor<'a> {
        Visitor { s, cookie: format!("snspmt_csrf={CSRF}; snspmt_admin={ADMIN_TOKEN}") }
    }

    fn anonymous(s: &'a TestServer) -> Visitor<'a> {
        Visitor { s, cookie: format!("snspmt_csrf={CSRF}") }
    }

    async fn get(&self, path: &str) -> (StatusCode, String, Option<String>) {
        let (status, headers, body) =
            self.s.raw_bytes(Method::GET, path, &[("cookie", &self.cookie)], "").await;
        let location = headers.get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
        (status, String::from_utf8_lossy(&body).into_owned(), location)
    }

    async fn post(&self, path: &str, body: String) -> (StatusCode, String) {
        let headers =
            [("cookie", self.cookie.as_str()), ("content-type", "application/x-www-form-urlencoded")];
        let (status, _, body) = self.s.raw_bytes(Method::POST, path, &headers, body).await;
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}

/// Undoes askama's HTML escaping in an attribute.
fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#47;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of attribute `name` in a tag's text.
fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

/// The site's own pages this page links to (no API, no sign-out, no language switch).
fn links(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(unescape)
        .filter(|l| l.starts_with('/') && !l.starts_with("//"))
        .filter(|l| !l.starts_with("/api/") && !l.starts_with("/static/") && !l.starts_with("/uploads/"))
        .filter(|l| !l.contains("lang=") && !l.starts_with("/logout"))
        .map(|l| l.split('#').next().unwrap_or_default().to_owned())
        .collect()
}

/// A form on a page.
#[derive(Debug, Clone)]
struct Form {
    action: String,
    method: String,
    /// `(name, value, type)` of its inputs, selects and text areas.
    fields: Vec<(String, String, String)>,
}

fn forms(html: &str, page: &str) -> Vec<Form> {
    let mut found = Vec::new();
    for chunk in html.split("<form").skip(1) {
        let Some(head_end) = chunk.find('>') else { continue };
        let head = &chunk[..head_end];
        let body = chunk[head_end..].split("</form>").next().unwrap_or_default();
        let action = attr(head, "action").unwrap_or_else(|| page.to_owned());
        let method = attr(head, "method").unwrap_or_else(|| "get".into()).to_lowercase();
        let mut fields = Vec::new();
        for (tag_name, default_type) in [("<input", "text"), ("<select", "select"), ("<textarea", "textarea")]
        {
            for tag in body.split(tag_name).skip(1) {
                let tag = tag.split('>').next().unwrap_or_default();
                let Some(name) = attr(tag, "name") else { continue };
                let kind = attr(tag, "type").unwrap_or_else(|| default_type.into());
                fields.push((name, attr(tag, "value").unwrap_or_default(), kind));
            }
        }
        found.push(Form { action, method, fields });
    }
    found
}

/// Hostile values, taken in turn.
const HOSTILE: &[&str] = &[
    "",
    "-1",
    "0",
    "99999999999999999999999",
    "9223372036854775807",
    "abc",
    "<script>alert(1)</script>",
    "１２３",
    "' OR 1=1 --",
    "https://instagram.com/x\u{0}y",
    "1e9",
    "2026-13-45T99:99",
];

/// A body for `form` in round `round`: the CSRF token kept, every other field hostile (round
/// 0 and 1), empty (round 2) or 10 kB long (round 3).
fn hostile_body(form: &Form, round: usize) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    out.append_pair("csrf", CSRF);
    let long = "가".repeat(3_400);
    for (i, (name, value, kind)) in form.fields.iter().enumerate() {
        if name == "csrf" {
            continue;
        }
        let v = match round {
            0 if kind == "hidden" => value.clone(),
            0 | 1 => HOSTILE[(i + round * 5) % HOSTILE.len()].to_owned(),
            2 => String::new(),
            _ => long.clone(),
        };
        out.append_pair(name, &v);
    }
    out.finish()
}

/// Every page reachable from `start` (at most `max`), each answered below 500; answers the
/// pages with their HTML.
async fn crawl(v: &Visitor<'_>, start: &[&str], max: usize) -> Vec<(String, String)> {
    let mut seen: BTreeSet<String> = start.iter().map(|s| (*s).to_owned()).collect();
    let mut queue: VecDeque<String> = seen.iter().cloned().collect();
    let mut pages = Vec::new();
    while let Some(path) = queue.pop_front() {
        if pages.len() >= max {
            break;
        }
        let (status, html, _) = v.get(&path).await;
        assert!(status.as_u16() < 500, "GET {path}: {status}\n{html}");
        if start.contains(&path.as_str()) {
            assert_eq!(status, StatusCode::OK, "GET {path}\n{html}");
        }
        for link in links(&html) {
            // Pages of a list differ only by their page number: a few are enough.
            let key = link.split("page=").next().unwrap_or_default().to_owned();
            if seen.insert(key) {
                queue.push_back(link);
            }
        }
        pages.push((path, html));
    }
    pages
}

/// Posts every form of `pages` with hostile values; no answer is 5xx.
async fn hostile_forms(v: &Visitor<'_>, pages: &[(String, String)]) -> usize {
    let mut tried = BTreeSet::new();
    let mut posted = 0;
    for (page, html) in pages {
        for form in forms(html, page) {
            if form.action.starts_with("/api/")
                || form.action.starts_with("/logout")
                || form.action.contains("://")
            {
                continue;
            }
            let names: Vec<&str> = form.fields.iter().map(|f| f.0.as_str()).collect();
            if !tried.insert((form.action.clone(), form.method.clone(), format!("{names:?}"))) {
                continue;
            }
            // A query string of 10 kB values is past any URL limit: GET forms get rounds 0–2.
            let rounds = if form.method == "post" { 4 } else { 3 };
            for round in 0..rounds {
                let body = hostile_body(&form, round);
                let (status, answer) = if form.method == "post" {
                    v.post(&form.action, body).await
                } else {
                    let sep = if form.action.contains('?') { '&' } else { '?' };
                    let (s, a, _) = v.get(&format!("{}{sep}{body}", form.action)).await;
                    (s, a)
                };
                assert!(
                    status.as_u16() < 500,
                    "{} {} (round {round}) from {page}: {status}\n{answer}",
                    form.method,
                    form.action
                );
                posted += 1;
            }
        }
    }
    posted
}

async fn every_page_and_form(backend: Backend) {
    let smm = FakeSmm::start().await;
    let vars = [
        ("SMMKINGS_API_URL", smm.url.as_str()),
        ("SMMKINGS_API_KEY", fake_smm::FAKE_KEY),
        ("SNSPMT_UPSTREAM_TIMEOUT_MS", "500"),
        ("CRON_TOKEN", CRON_TOKEN),
        ("SNSPMT_PUBLIC_URL", "http://{addr}"),
    ];
    let Some(s) = TestServer::start_with(backend, "console_crawl", &vars).await else { return };
    let w = world(&s, &smm).await;
    // Carol has her own order and purchase; she must never see bob's.
    let carol = register_with_session(&s, "carol2").await;
    assert_eq!(s.adjust("carol2", 50_000).await.0, StatusCode::OK);
    let body = json!({"service_id": w.service, "link": "https://instagram.com/carol", "quantity": 100});
    let carol_order = ok(&s, Method::POST, "/api/orders", Auth::Bearer(&carol), Some(body)).await["order_id"]
        .as_i64()
        .expect("id");

    // Bob, the customer with everything.
    let bob = Visitor::customer(&s, &w.bob);
    let bob_pages =
        crawl(&bob, &["/", "/order", "/orders", "/points", "/ledger", "/referral", "/keys"], 120).await;
    assert!(bob_pages.iter().any(|(p, _)| p.starts_with("/orders")), "the crawl reached the orders");
    for (path, html) in &bob_pages {
        assert!(!html.contains("carol2@example.com"), "{path} shows carol's e-mail to bob");
        assert!(!html.contains("https://instagram.com/carol"), "{path} shows carol's order to bob");
    }

    // Carol: none of bob's data, by the pages or by guessing his ids.
    let carol_v = Visitor::customer(&s, &carol);
    let carol_pages =
        crawl(&carol_v, &["/", "/orders", "/points", "/ledger", "/referral", "/keys"], 60).await;
    for (path, html) in &carol_pages {
        assert!(!html.contains("bob@example.com"), "{path} shows bob's e-mail to carol");
        assert!(!html.contains(&format!("/orders/{}\"", w.live_order)), "{path} links bob's order");
    }
    for path in [format!("/orders/{}", w.live_order), format!("/orders/{}", w.unknown_order)] {
        let (status, html, _) = carol_v.get(&path).await;
        assert!(status.is_client_error(), "carol GET {path}: {status}");
        assert!(!html.contains("bob@example.com") && !html.contains("instagram.com/1000"), "{path}");
    }
    let (status, html, _) = bob.get(&format!("/orders/{carol_order}")).await;
    assert!(
        status.is_client_error() && !html.contains("instagram.com/carol"),
        "bob GET carol's order: {status}"
    );

    // The operator: every page, and a customer refused on each.
    let operator = Visitor::operator(&s);
    let admin_pages = crawl(
        &operator,
        &[
            "/admin",
            "/admin/users",
            "/admin/purchases",
            "/admin/orders",
            "/admin/services",
            "/admin/packages",
            "/admin/coupons",
            "/admin/referral",
            "/admin/notices",
            "/admin/blog",
            "/admin/audit",
        ],
        150,
    )
    .await;
    let anonymous = Visitor::anonymous(&s);
    let mut admin_paths = 0;
    for (path, html) in &admin_pages {
        if !path.starts_with("/admin") || path.starts_with("/admin/login") {
            continue;
        }
        admin_paths += 1;
        let (status, body, _) = bob.get(path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "a customer on {path}");
        assert!(!body.contains("carol2@example.com"), "{path} leaks to a customer");
        let (status, _, location) = anonymous.get(path).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "anonymous on {path}");
        assert!(location.is_some_and(|l| l.starts_with("/admin/login")), "{path}");
        for form in
            forms(html, path).into_iter().filter(|f| f.method == "post" && f.action.starts_with("/admin"))
        {
            if form.action.starts_with("/admin/login") {
                continue;
            }
            let (status, _) = bob.post(&form.action, hostile_body(&form, 0)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "a customer posting {}", form.action);
        }
    }
    assert!(admin_paths >= 3, "the operator crawl found {admin_paths} pages");

    // Hostile values in every form, as the customer and as the operator.
    let posted = hostile_forms(&bob, &bob_pages).await + hostile_forms(&operator, &admin_pages).await;
    eprintln!(
        "crawled {} customer pages, {} operator pages; {posted} hostile form posts",
        bob_pages.len(),
        admin_pages.len()
    );
    assert!(bob_pages.len() >= 10 && admin_pages.len() >= 20, "the crawls were short");
    assert!(posted >= 100, "only {posted} form posts");
    s.assert_ledger_consistent().await;
}

/// Registers `user_id` through the API and answers its session token.
async fn register_with_session(s: &TestServer, user_id: &str) -> String {
    let body =
        json!({"user_id": user_id, "email": format!("{user_id}@example.com"), "password": "correct-horse-1"});
    ok(s, Method::POST, "/api/register", Auth::None, Some(body)).await["token"]
        .as_str()
        .expect("token")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_every_page_and_form() {
    every_page_and_form(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_every_page_and_form() {
    every_page_and_form(Backend::Postgres).await;
}
