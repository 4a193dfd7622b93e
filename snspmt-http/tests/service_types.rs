//! Every service type an order can carry parameters for, on SQLite and PostgreSQL, against the
//! fake SMM panel: a reseller `add` and a site order of each type reach the panel with exactly
//! the type's parameters (no `quantity` where the type takes none, no `runs` without
//! drip-feed); a missing or bad parameter is refused by name and charges nothing; Mentions
//! Custom List and Subscriptions are priced on the quantity their parameters fix; the
//! parameters are stored with the order and read back from the store.

mod common;

use std::collections::BTreeSet;

use hyper::{Method, StatusCode};
use serde_json::{json, Map, Value};
use snspmt_store::OrderId;

use common::fake_smm::{default_services, typed_services};
use common::{Auth, Harness, TestServer};

on_both_backends_with_smm!(
    each_type_reaches_the_panel_with_exactly_its_parameters,
    a_missing_or_bad_parameter_is_refused_by_name_and_charges_nothing,
    mentions_custom_list_is_priced_on_its_usernames,
    subscriptions_are_priced_on_max_times_posts,
);

/// Points per 1000 units of every typed service: one point a unit.
const PRICE_PER_1000: i64 = 1000;

/// One case: the fake's service id, its type, the parameters of a valid order (beyond
/// `service`, `link` and `quantity`), and the fields the panel must receive beyond `key`,
/// `action` and `service`.
struct Case {
    provider: i64,
    kind: &'static str,
    params: Vec<(&'static str, &'static str)>,
    sent: Vec<&'static str>,
    /// Whether `link` and `quantity` go with the order (a Custom List or Comment Replies order
    /// counts its lines; a subscription has neither).
    link: bool,
    quantity: bool,
}

fn cases() -> Vec<Case> {
    let c = |provider, kind, params: &[(&'static str, &'static str)], sent: &[&'static str], quantity| Case {
        provider,
        kind,
        params: params.to_vec(),
        sent: sent.to_vec(),
        link: true,
        quantity,
    };
    vec![
        c(10, "Mentions", &[("usernames", "ann\nbob")], &["link", "quantity", "usernames"], true),
        c(
            11,
            "Mentions with Hashtags",
            &[("usernames", "ann"), ("hashtags", "#kr\n#sns")],
            &["link", "quantity", "usernames", "hashtags"],
            true,
        ),
        c(12, "Mentions Custom List", &[("usernames", "ann\nbob\ncat")], &["link", "usernames"], false),
        c(13, "Mentions Hashtag", &[("hashtag", "#seoul")], &["link", "quantity", "hashtag"], true),
        c(14, "Mentions User Followers", &[("username", "nike")], &["link", "quantity", "username"], true),
        c(
            15,
            "Mentions Media Likers",
            &[("media", "https://instagram.com/p/m")],
            &["link", "quantity", "media"],
            true,
        ),
        c(16, "Comment Likes", &[("username", "ann")], &["link", "quantity", "username"], true),
        c(
            17,
            "Comment Replies",
            &[("username", "ann"), ("comments", "hi\nthere")],
            &["link", "username", "comments"],
            false,
        ),
        c(18, "Poll", &[("answer_number", "2")], &["link", "quantity", "answer_number"], true),
        c(19, "Invites from Groups", &[("groups", "g1\ng2")], &["link", "quantity", "groups"], true),
        c(
            20,
            "Web Traffic",
            &[
                ("country", "KR"),
                ("device", "1"),
                ("type_of_traffic", "2"),
                ("referring_url", "https://ref.example"),
            ],
            &["link", "quantity", "country", "device", "type_of_traffic", "referring_url"],
            true,
        ),
        Case {
            provider: 21,
            kind: "Subscriptions",
            params: vec![("username", "ann"), ("min", "10"), ("max", "20"), ("posts", "3"), ("delay", "30")],
            sent: vec!["username", "min", "max", "posts", "delay"],
            link: false,
            quantity: false,
        },
    ]
}

/// Seeds the fake with its default and typed services, and our catalogue with one service per
/// case (min 1, max 100000): `(case, our service id)`.
async fn catalogue(h: &Harness) -> Vec<(Case, i64)> {
    let mut fake = default_services();
    fake.extend(typed_services());
    h.smm.set_services(fake);
    let mut out = Vec::new();
    for case in cases() {
        let id = service(&h.server, case.provider, case.kind).await;
        out.push((case, id));
    }
    out
}

async fn service(s: &TestServer, provider: i64, kind: &str) -> i64 {
    let body = json!({
        "provider_service_id": provider.to_string(), "name": format!("{kind} service"),
        "category": "Instagram", "type": kind, "price_per_1000": PRICE_PER_1000,
        "min_quantity": 1, "max_quantity": 100_000,
    });
    let (status, b) = s.call(Method::POST, "/api/admin/services", Auth::Admin, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b["service"]["service_id"].as_i64().expect("service id")
}

/// A user with `points`, their session token and a reseller key.
async fn reseller(s: &TestServer, id: &str, points: i64) -> (String, String) {
    let token = s.register(id).await;
    assert_eq!(s.adjust(id, points).await.0, StatusCode::OK);
    let (status, b) =
        s.call(Method::POST, "/api/user/api-keys", Auth::Bearer(&token), Some(json!({"name": "bot"}))).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    (token, b["key"].as_str().expect("key").to_owned())
}

/// `POST /api/v2`, form-encoded; the answer must be HTTP 200 JSON.
async fn v2(s: &TestServer, pairs: &[(&str, &str)]) -> Value {
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    let (status, _, b) = s.raw(Method::POST, "/api/v2", &headers, body).await;
    assert_eq!(status, StatusCode::OK, "{pairs:?}: {b}");
    b
}

async fn order(s: &TestServer, id: i64) -> Value {
    s.admin_order(id).await
}

/// Waits until the order's submission settled.
async fn settled(s: &TestServer, id: i64) -> Value {
    s.settled_order(id).await
}

/// The v2 `add` parameters of a case's valid order.
fn v2_pairs<'a>(key: &'a str, case: &'a Case, service: &'a str, link: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut pairs = vec![("key", key), ("action", "add"), ("service", service)];
    if case.link {
        pairs.push(("link", link));
    }
    if case.quantity {
        pairs.push(("quantity", "100"));
    }
    pairs.extend(case.params.iter().copied());
    pairs
}

/// The site order body of a case's valid order: the parameters as top-level fields.
fn site_body(case: &Case, service: i64, link: &str) -> Value {
    let mut body = Map::new();
    body.insert("service_id".into(), json!(service));
    if case.link {
        body.insert("link".into(), json!(link));
    }
    if case.quantity {
        body.insert("quantity".into(), json!(100));
    }
    for (k, v) in &case.params {
        body.insert((*k).into(), json!(v));
    }
    Value::Object(body)
}

/// The fields of the last `add` the panel received, beyond `key`, `action` and `service`.
fn last_add(h: &Harness) -> (BTreeSet<String>, common::fake_smm::Recorded) {
    let sent = h.smm.requests_for("add");
    let last = sent.last().expect("an add was sent").clone();
    let names = last.form.keys().filter(|k| !["key", "action", "service"].contains(&k.as_str())).cloned();
    (names.collect(), last)
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// What a valid order of the case is priced at: one point a unit.
fn price_of(case: &Case) -> i64 {
    match case.kind {
        "Mentions Custom List" => 3,
        "Comment Replies" => 2,
        "Subscriptions" => 20 * 3,
        _ => 100,
    }
}

async fn each_type_reaches_the_panel_with_exactly_its_parameters(h: Harness) {
    let s = &h.server;
    let catalogue = catalogue(&h).await;
    let (token, key) = reseller(s, "ann", 100_000).await;
    let mut spent = 0;
    for (i, (case, service)) in catalogue.iter().enumerate() {
        let service_text = service.to_string();
        // Through the reseller API …
        let link = format!("https://instagram.com/p/v2-{i}");
        let b = v2(s, &v2_pairs(&key, case, &service_text, &link)).await;
        let id = b["order"].as_i64().unwrap_or_else(|| panic!("{}: {b}", case.kind));
        let o = settled(s, id).await;
        assert_eq!(o["status"], "in_progress", "{}: {o}", case.kind);
        let (sent, rec) = last_add(&h);
        assert_eq!(sent, names(&case.sent), "{}: {:?}", case.kind, rec.form);
        assert_eq!(rec.get("service"), Some(case.provider.to_string().as_str()));
        for (k, v) in &case.params {
            assert_eq!(rec.get(k), Some(*v), "{}: {k}", case.kind);
        }
        assert_eq!(o["final_price"].as_i64(), Some(price_of(case)), "{}: {o}", case.kind);
        spent += price_of(case);
        // … the parameters are stored with the order and read back from the store …
        let stored = s.store.order(OrderId(id)).await.expect("read").expect("stored");
        let want: Vec<(&str, &str)> = case.params.iter().copied().filter(|(k, _)| *k != "comments").collect();
        let got: Vec<(&str, &str)> = stored.params.iter().collect();
        assert_eq!(got.len(), want.len(), "{}: {got:?}", case.kind);
        for pair in &want {
            assert!(got.contains(pair), "{}: {pair:?} in {got:?}", case.kind);
        }
        assert_eq!(order(s, id).await["params"].as_object().map(Map::len), Some(want.len()));

        // … and as a site order, with the parameters as top-level fields.
        let link = format!("https://instagram.com/p/site-{i}");
        let (status, b) = s
            .call(Method::POST, "/api/orders", Auth::Bearer(&token), Some(site_body(case, *service, &link)))
            .await;
        assert_eq!(status, StatusCode::OK, "{}: {b}", case.kind);
        let id = b["order_id"].as_i64().unwrap_or_else(|| panic!("{}: {b}", case.kind));
        assert!(b.get("params").is_none(), "the customer's view does not show them: {b}");
        let o = settled(s, id).await;
        assert_eq!(o["status"], "in_progress", "{}: {o}", case.kind);
        let (sent, rec) = last_add(&h);
        assert_eq!(sent, names(&case.sent), "{}: {:?}", case.kind, rec.form);
        if case.link {
            assert_eq!(rec.get("link"), Some(link.as_str()));
        }
        spent += price_of(case);
    }
    assert_eq!(s.points(&token).await, 100_000 - spent);
    assert_eq!(h.smm.order_count(), 2 * catalogue.len());
    s.assert_ledger_consistent().await;
}

async fn a_missing_or_bad_parameter_is_refused_by_name_and_charges_nothing(h: Harness) {
    let s = &h.server;
    let catalogue = catalogue(&h).await;
    let (token, key) = reseller(s, "bob", 100_000).await;
    for (case, service) in &catalogue {
        let service_text = service.to_string();
        let link = "https://instagram.com/p/x";
        // Each required parameter left out in turn (optional ones are not in the cases).
        for (missing, _) in &case.params {
            let pairs: Vec<(&str, &str)> =
                v2_pairs(&key, case, &service_text, link).into_iter().filter(|(k, _)| k != missing).collect();
            let b = v2(s, &pairs).await;
            assert_eq!(b, json!({"error": "Incorrect request"}), "{} without {missing}", case.kind);

            let mut body = site_body(case, *service, link);
            body.as_object_mut().expect("object").remove(*missing);
            let (status, b) = s.call(Method::POST, "/api/orders", Auth::Bearer(&token), Some(body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{} without {missing}: {b}", case.kind);
            assert_eq!(b["field"], *missing, "{b}");
            assert!(b["message"].as_str().is_some_and(|m| m.contains(missing)), "{b}");
            let code = if *missing == "comments" { "invalid_comments" } else { "missing_field" };
            common::assert_error_body(&b, code);
        }
    }
    // Bad values, by name.
    let by_kind =
        |kind: &str| catalogue.iter().find(|(c, _)| c.kind == kind).map(|(c, id)| (c, *id)).expect("case");
    let bad: [(&str, &str, &str); 6] = [
        ("Poll", "answer_number", "0"),
        ("Poll", "answer_number", "two"),
        ("Web Traffic", "device", "9"),
        ("Web Traffic", "type_of_traffic", "7"),
        ("Subscriptions", "delay", "7"),
        ("Subscriptions", "posts", "0"),
    ];
    for (kind, field, value) in bad {
        let (case, service) = by_kind(kind);
        let service_text = service.to_string();
        let mut pairs = v2_pairs(&key, case, &service_text, "https://instagram.com/p/y");
        pairs.retain(|(k, _)| k != &field);
        pairs.push((field, value));
        assert_eq!(v2(s, &pairs).await, json!({"error": "Incorrect request"}), "{kind} {field}={value}");
        let mut body = site_body(case, service, "https://instagram.com/p/y");
        body[field] = json!(value);
        let (status, b) = s.call(Method::POST, "/api/orders", Auth::Bearer(&token), Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{kind} {field}={value}: {b}");
        assert_eq!(b["field"], field, "{b}");
        common::assert_error_body(&b, "invalid_param");
    }
    // Web Traffic's keyword is required only for Google traffic.
    let (case, service) = by_kind("Web Traffic");
    let mut body = site_body(case, service, "https://instagram.com/p/z");
    body["type_of_traffic"] = json!(1);
    let (status, b) = s.call(Method::POST, "/api/orders", Auth::Bearer(&token), Some(body)).await;
    assert_eq!((status, &b["field"]), (StatusCode::BAD_REQUEST, &json!("google_keyword")), "{b}");

    assert_eq!(s.points(&token).await, 100_000, "nothing charged");
    assert!(h.smm.requests_for("add").is_empty(), "nothing sent");
    s.assert_ledger_consistent().await;
}

async fn mentions_custom_list_is_priced_on_its_usernames(h: Harness) {
    let s = &h.server;
    let catalogue = catalogue(&h).await;
    let (_, service) = catalogue.iter().find(|(c, _)| c.kind == "Mentions Custom List").expect("case");
    let (token, key) = reseller(s, "cat", 10).await;
    let service_text = service.to_string();
    // Five usernames (blank lines and spaces do not count) are five units: 5 points.
    let names = "ann\n\n bob \r\ncat\ndan\neve\n";
    let pairs = [
        ("key", key.as_str()),
        ("action", "add"),
        ("service", &service_text),
        ("link", "https://instagram.com/p/list"),
        ("usernames", names),
    ];
    let b = v2(s, &pairs).await;
    let o = settled(s, b["order"].as_i64().unwrap_or_else(|| panic!("{b}"))).await;
    assert_eq!((o["quantity"].as_i64(), o["final_price"].as_i64()), (Some(5), Some(5)), "{o}");
    let (_, rec) = last_add(&h);
    assert_eq!(rec.get("usernames"), Some("ann\nbob\ncat\ndan\neve"));
    assert_eq!(rec.get("quantity"), None);
    assert_eq!(h.smm.orders().last().map(|o| o.quantity), Some(5), "the panel counts the same");
    // A quantity sent must agree with the count.
    let mut with_quantity = pairs.to_vec();
    with_quantity.push(("quantity", "4"));
    assert_eq!(v2(s, &with_quantity).await, json!({"error": "Incorrect quantity"}));
    // Six more usernames cost 6 points, more than the 5 left.
    let six = "a\nb\nc\nd\ne\nf";
    let mut pairs = pairs.to_vec();
    pairs[4] = ("usernames", six);
    assert_eq!(v2(s, &pairs).await, json!({"error": "Not enough funds on balance"}));
    let body = json!({"service_id": service, "link": "https://instagram.com/p/list", "usernames": ["x", "y"], "quantity": 2});
    let (status, b) = s.call(Method::POST, "/api/orders", Auth::Bearer(&token), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "a list may be a JSON array: {b}");
    assert_eq!(b["final_price"].as_i64(), Some(2), "{b}");
    settled(s, b["order_id"].as_i64().expect("id")).await;
    assert_eq!(
        h.smm.orders().last().and_then(|o| o.params.get("usernames").cloned()).as_deref(),
        Some("x\ny")
    );
    assert_eq!(s.points(&token).await, 10 - 5 - 2);
    s.assert_ledger_consistent().await;
}

async fn subscriptions_are_priced_on_max_times_posts(h: Harness) {
    let s = &h.server;
    let catalogue = catalogue(&h).await;
    let (_, service) = catalogue.iter().find(|(c, _)| c.kind == "Subscriptions").expect("case");
    let (token, key) = reseller(s, "dan", 1000).await;
    let service_text = service.to_string();
    let pairs = [
        ("key", key.as_str()),
        ("action", "add"),
        ("service", &service_text),
        ("username", "nike"),
        ("min", "100"),
        ("max", "200"),
        ("posts", "4"),
        ("old_posts", "1"),
        ("delay", "60"),
        ("expiry", "31/12/2026"),
    ];
    let b = v2(s, &pairs).await;
    let id = b["order"].as_i64().unwrap_or_else(|| panic!("{b}"));
    let o = settled(s, id).await;
    // At most 200 a post for 4 posts: 800 units, 800 points.
    assert_eq!((o["quantity"].as_i64(), o["final_price"].as_i64()), (Some(800), Some(800)), "{o}");
    assert_eq!(o["link"], "nike", "the followed account stands for the link");
    let (sent, rec) = last_add(&h);
    assert_eq!(
        sent,
        names(&["username", "min", "max", "posts", "old_posts", "delay", "expiry"]),
        "{:?}",
        rec.form
    );
    assert_eq!(rec.get("expiry"), Some("31/12/2026"));
    // Out of the service's per-post bounds: the bound is named.
    let mut big = pairs.to_vec();
    big[5] = ("max", "100001");
    assert_eq!(v2(s, &big).await, json!({"error": "Quantity more than maximum 100000"}));
    let body = json!({"service_id": service, "username": "nike", "min": 5, "max": 3, "posts": 1, "delay": 0});
    let (status, b) = s.call(Method::POST, "/api/orders", Auth::Bearer(&token), Some(body)).await;
    assert_eq!((status, &b["field"]), (StatusCode::BAD_REQUEST, &json!("max")), "{b}");
    // 200 × 2 posts is more than the 200 points left.
    let mut more = pairs.to_vec();
    more[6] = ("posts", "2");
    more[4] = ("min", "150");
    assert_eq!(v2(s, &more).await, json!({"error": "Not enough funds on balance"}));
    assert_eq!(s.points(&token).await, 200);
    s.assert_ledger_consistent().await;
}
