//! The reseller API (`/api/v2`) and its keys, on SQLite and PostgreSQL, against the fake SMM
//! panel: keys (create, list, rotate, revoke, the operator's revoke and switch), every action
//! in form, JSON and GET encodings, every error text, key isolation, `request_id` replays,
//! money under 100 parallel `add`s, v2 orders being site orders, and the per-key rate limit.

mod common;

use std::sync::Arc;
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use common::{Auth, Backend, Harness, TestServer};

on_both_backends_with_smm!(
    keys_are_created_listed_rotated_and_revoked,
    the_operator_revokes_keys_and_turns_access_off,
    every_action_in_every_encoding,
    add_takes_each_orderable_service_type,
    every_error_text_and_no_charge,
    malformed_requests_never_fail,
    a_key_sees_only_its_owners_orders,
    a_request_id_replays_the_first_answer,
    parallel_adds_charge_each_order_once,
    a_v2_order_is_a_site_order,
);

on_each_backend!(the_rate_limit_answers_429_per_key);

/// A service for the fake's service `provider` at `price_per_1000` points (min 10, max 100000).
async fn service(s: &TestServer, provider: &str, price_per_1000: i64, extra: Value) -> i64 {
    s.create_service(provider, price_per_1000, extra).await
}

/// A user with `points`, and their session token.
async fn customer(s: &TestServer, id: &str, points: i64) -> String {
    s.customer(id, points).await
}

/// A new key of the session's user: `(key id, key)`.
async fn new_key(s: &TestServer, token: &str, name: &str) -> (String, String) {
    let (status, b) =
        s.call(Method::POST, "/api/user/api-keys", Auth::Bearer(token), Some(json!({"name": name}))).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let key = b["key"].as_str().expect("key").to_owned();
    (b["api_key"]["id"].as_str().expect("id").to_owned(), key)
}

/// A customer with `points` and one key.
async fn reseller(s: &TestServer, id: &str, points: i64) -> (String, String) {
    let token = customer(s, id, points).await;
    let (_, key) = new_key(s, &token, "bot").await;
    (token, key)
}

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// `POST /api/v2`, form-encoded; the answer must be HTTP 200 JSON.
async fn v2(s: &TestServer, pairs: &[(&str, &str)]) -> Value {
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    let (status, _, b) = s.raw(Method::POST, "/api/v2", &headers, form(pairs)).await;
    assert_eq!(status, StatusCode::OK, "{pairs:?}: {b}");
    b
}

/// `POST /api/v2` with a JSON body.
async fn v2_json(s: &TestServer, body: Value) -> Value {
    let headers = [("content-type", "application/json")];
    let (status, _, b) = s.raw(Method::POST, "/api/v2", &headers, body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}: {b}");
    b
}

/// `GET /api/v2?…`.
async fn v2_get(s: &TestServer, pairs: &[(&str, &str)]) -> Value {
    let (status, _, b) = s.raw(Method::GET, &format!("/api/v2?{}", form(pairs)), &[], "").await;
    assert_eq!(status, StatusCode::OK, "{pairs:?}: {b}");
    b
}

/// `POST /api/v2` with the key in `X-Api-Key`, the rest form-encoded.
async fn v2_header(s: &TestServer, key: &str, pairs: &[(&str, &str)]) -> Value {
    let headers = [("content-type", "application/x-www-form-urlencoded"), ("x-api-key", key)];
    let (status, _, b) = s.raw(Method::POST, "/api/v2", &headers, form(pairs)).await;
    assert_eq!(status, StatusCode::OK, "{pairs:?}: {b}");
    b
}

fn err(text: &str) -> Value {
    json!({ "error": text })
}

/// Waits until the order's submission settled.
async fn settled(s: &TestServer, id: i64) -> Value {
    s.settled_order(id).await
}

async fn sync(s: &TestServer) {
    let (status, _, b) =
        s.raw(Method::POST, "/api/cron/sync-order-status", &[("x-cron-token", common::CRON_TOKEN)], "").await;
    assert_eq!(status, StatusCode::OK, "{b}");
}

/// The ledger rows of a user as `(kind, amount)`, oldest first.
async fn ledger(s: &TestServer, user_id: &str) -> Vec<(String, i64)> {
    let (status, b) =
        s.call(Method::GET, &format!("/api/admin/transactions?user_id={user_id}"), Auth::Admin, None).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let mut rows: Vec<(String, i64)> = b["transactions"]
        .as_array()
        .expect("transactions")
        .iter()
        .map(|t| {
            (t["kind"].as_str().unwrap_or_default().to_owned(), t["amount"].as_i64().unwrap_or_default())
        })
        .collect();
    rows.reverse();
    rows
}

fn order_id(answer: &Value) -> i64 {
    answer["order"].as_i64().unwrap_or_else(|| panic!("no order in {answer}"))
}

async fn keys_are_created_listed_rotated_and_revoked(h: Harness) {
    let s = &h.server;
    let token = customer(s, "ann", 5_000).await;
    let (status, b) = s
        .call(Method::POST, "/api/user/api-keys", Auth::Bearer(&token), Some(json!({"name": "my bot"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let key = b["key"].as_str().expect("key").to_owned();
    let id = b["api_key"]["id"].as_str().expect("id").to_owned();
    assert!(key.starts_with("snsp_") && key.len() > 40, "{key}");
    assert_eq!(b["api_key"]["prefix"].as_str(), Some(&key[..12]));
    assert_eq!(b["api_key"]["name"], "my bot");
    // Stored as its SHA-256 only.
    let owner =
        s.store.api_key_owner(&snspmt_http::auth::token_hash(&key)).await.expect("read").expect("live");
    assert_eq!((owner.user.user_id.as_str(), owner.key.key_id.as_str()), ("ann", id.as_str()));
    assert!(s.store.api_key_owner(&key).await.expect("read").is_none(), "the key itself is no lookup");

    // A key without a name, then the list: ids, names, prefixes, never a key or a hash.
    let (status, b) = s.call(Method::POST, "/api/user/api-keys", Auth::Bearer(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["api_key"]["name"], "API key");
    let second = b["key"].as_str().expect("key").to_owned();
    let (status, list) = s.call(Method::GET, "/api/user/api-keys", Auth::Bearer(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let keys = list["api_keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["id"], id.as_str());
    let text = list.to_string();
    assert!(!text.contains(&key) && !text.contains(&second), "a key is listed: {text}");
    assert!(!text.contains(&snspmt_http::auth::token_hash(&key)) && !text.contains("hash"), "{text}");
    for k in keys {
        let mut fields: Vec<&str> = k.as_object().expect("object").keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["created_at", "id", "last_used_at", "name", "prefix"]);
    }

    // It works, and its use is recorded.
    assert_eq!(v2(s, &[("key", &key), ("action", "balance")]).await["balance"], "5000.00");
    let (_, list) = s.call(Method::GET, "/api/user/api-keys", Auth::Bearer(&token), None).await;
    assert!(list["api_keys"][0]["last_used_at"].is_string(), "{list}");

    // Rotation: the same id, a new key; the old key is dead at once.
    let (status, b) =
        s.call(Method::POST, &format!("/api/user/api-keys/{id}/rotate"), Auth::Bearer(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let rotated = b["key"].as_str().expect("key").to_owned();
    assert_eq!(b["api_key"]["id"], id.as_str());
    assert_ne!(rotated, key);
    assert_eq!(v2(s, &[("key", &key), ("action", "balance")]).await, err("Invalid API key"));
    assert_eq!(v2(s, &[("key", &rotated), ("action", "balance")]).await["balance"], "5000.00");

    // Revocation by the owner.
    let (status, b) =
        s.call(Method::DELETE, &format!("/api/user/api-keys/{id}"), Auth::Bearer(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(v2(s, &[("key", &rotated), ("action", "balance")]).await, err("Invalid API key"));
    let (status, _) =
        s.call(Method::DELETE, &format!("/api/user/api-keys/{id}"), Auth::Bearer(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "revoked twice");
    let (status, _) =
        s.call(Method::POST, &format!("/api/user/api-keys/{id}/rotate"), Auth::Bearer(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a revoked key is not rotated back to life");
    let (_, list) = s.call(Method::GET, "/api/user/api-keys", Auth::Bearer(&token), None).await;
    assert_eq!(list["api_keys"].as_array().map(Vec::len), Some(1));

    // Another user can neither rotate nor revoke ann's key, nor list it.
    let bob = customer(s, "bob", 0).await;
    let second_id = list["api_keys"][0]["id"].as_str().expect("id").to_owned();
    let (status, _) = s
        .call(Method::POST, &format!("/api/user/api-keys/{second_id}/rotate"), Auth::Bearer(&bob), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) =
        s.call(Method::DELETE, &format!("/api/user/api-keys/{second_id}"), Auth::Bearer(&bob), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = s.call(Method::GET, "/api/user/api-keys", Auth::Bearer(&bob), None).await;
    assert_eq!(list["api_keys"], json!([]));
    assert_eq!(v2(s, &[("key", &second), ("action", "balance")]).await["balance"], "5000.00");

    // No session, no keys; at most 10 live keys.
    let (status, _) = s.call(Method::GET, "/api/user/api-keys", Auth::None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for i in 1..10 {
        new_key(s, &token, &format!("k{i}")).await;
    }
    let (status, b) = s.call(Method::POST, "/api/user/api-keys", Auth::Bearer(&token), None).await;
    assert_eq!((status, b["code"].as_str()), (StatusCode::CONFLICT, Some("too_many_api_keys")), "{b}");
    let (status, b) = s
        .call(
            Method::POST,
            "/api/user/api-keys",
            Auth::Bearer(&token),
            Some(json!({"name": "x".repeat(500)})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{b}");
}

async fn the_operator_revokes_keys_and_turns_access_off(h: Harness) {
    let s = &h.server;
    let token = customer(s, "ann", 1_000).await;
    let (id, key) = new_key(s, &token, "a").await;
    let (_, other) = new_key(s, &token, "b").await;
    let balance = |k: String| async move { v2(s, &[("key", &k), ("action", "balance")]).await };

    // Only the operator.
    let (status, _) =
        s.call(Method::DELETE, &format!("/api/admin/api-keys/{id}"), Auth::Bearer(&token), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, b) = s.call(Method::DELETE, &format!("/api/admin/api-keys/{id}"), Auth::Admin, None).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["user_id"], "ann");
    assert_eq!(balance(key.clone()).await, err("Invalid API key"));
    assert_eq!(balance(other.clone()).await["balance"], "1000.00");
    let (status, _) = s.call(Method::DELETE, &format!("/api/admin/api-keys/{id}"), Auth::Admin, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.call(Method::DELETE, "/api/admin/api-keys/ak_nosuchkey", Auth::Admin, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // API access off: every key of the user is refused; on again: they work.
    let access = |enabled: bool| json!({ "enabled": enabled });
    let (status, _) = s
        .call(Method::PUT, "/api/admin/users/ann/api-access", Auth::Bearer(&token), Some(access(false)))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, b) =
        s.call(Method::PUT, "/api/admin/users/ann/api-access", Auth::Admin, Some(access(false))).await;
    assert_eq!((status, &b["api_enabled"]), (StatusCode::OK, &json!(false)), "{b}");
    assert_eq!(balance(other.clone()).await, err("Invalid API key"));
    let (status, b) =
        s.call(Method::PUT, "/api/admin/users/ann/api-access", Auth::Admin, Some(access(true))).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(balance(other.clone()).await["balance"], "1000.00");
    let (status, _) =
        s.call(Method::PUT, "/api/admin/users/nobody/api-access", Auth::Admin, Some(access(false))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s
        .call(Method::PUT, "/api/admin/users/ann/api-access", Auth::Admin, Some(json!({"enabled": "no"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Audited: one revoke, two switches.
    let audit = s.store.audit_log(100, 0).await.expect("audit").rows;
    let count = |action: &str| audit.iter().filter(|a| a.action == action).count();
    assert_eq!((count("api_keys.revoke"), count("users.api_access")), (1, 2), "{audit:?}");
    assert!(
        audit.iter().all(|a| !a.detail.contains(&key) && !a.detail.contains(&other)),
        "a key in the audit log"
    );
}

async fn every_action_in_every_encoding(h: Harness) {
    let s = &h.server;
    let followers = service(s, "1", 1500, json!({"dripfeed": true, "refill": true, "cancel": true})).await;
    let comments = service(s, "2", 8000, json!({"type": "Custom Comments", "min_quantity": 1})).await;
    service(s, "5", 100, json!({"is_active": false})).await;
    let (token, key) = reseller(s, "ann", 100_000).await;
    let k = key.as_str();

    // services
    let by_form = v2(s, &[("key", k), ("action", "services")]).await;
    let by_json = v2_json(s, json!({"key": k, "action": "services"})).await;
    let by_get = v2_get(s, &[("key", k), ("action", "services")]).await;
    let by_header = v2_header(s, k, &[("action", "services")]).await;
    assert_eq!(by_form, by_json);
    assert_eq!(by_form, by_get);
    assert_eq!(by_form, by_header);
    let list = by_form.as_array().expect("an array");
    assert_eq!(list.len(), 2, "only active services: {by_form}");
    assert_eq!(
        list[0],
        json!({"service": followers, "name": "service 1", "type": "Default", "category": "Instagram",
            "rate": "1500.00", "min": "10", "max": "100000", "dripfeed": true, "refill": true, "cancel": true})
    );
    assert_eq!(list[1]["service"], comments);
    assert_eq!(list[1]["type"], "Custom Comments");
    assert_eq!(list[1]["rate"], "8000.00");
    assert_eq!((&list[1]["dripfeed"], &list[1]["refill"]), (&json!(false), &json!(false)));

    // add, in each encoding (quantity as a number in JSON, as text elsewhere)
    let svc = followers.to_string();
    let mut ids = Vec::new();
    let link = |n: usize| format!("https://instagram.com/ann{n}");
    ids.push(order_id(
        &v2(s, &[("key", k), ("action", "add"), ("service", &svc), ("link", &link(0)), ("quantity", "100")])
            .await,
    ));
    ids.push(order_id(
        &v2_json(
            s,
            json!({"key": k, "action": "add", "service": followers, "link": link(1), "quantity": 100}),
        )
        .await,
    ));
    ids.push(order_id(
        &v2_get(
            s,
            &[("key", k), ("action", "add"), ("service", &svc), ("link", &link(2)), ("quantity", "100")],
        )
        .await,
    ));
    ids.push(order_id(
        &v2_header(s, k, &[("action", "add"), ("service", &svc), ("link", &link(3)), ("quantity", "100")])
            .await,
    ));
    assert_eq!(ids.iter().collect::<std::collections::BTreeSet<_>>().len(), 4, "{ids:?}");
    // 4 × 150 points.
    assert_eq!(s.points(&token).await, 100_000 - 600);

    // status, single, in each encoding
    let first = ids[0].to_string();
    let o = settled(s, ids[0]).await;
    assert_eq!(o["status"], "in_progress", "{o}");
    let expected = json!({"charge": "150.00", "start_count": "0", "status": "In progress", "remains": "100", "currency": "KRW"});
    assert_eq!(v2(s, &[("key", k), ("action", "status"), ("order", &first)]).await, expected);
    assert_eq!(v2_json(s, json!({"key": k, "action": "status", "order": ids[0]})).await, expected);
    assert_eq!(v2_get(s, &[("key", k), ("action", "status"), ("order", &first)]).await, expected);
    assert_eq!(v2_header(s, k, &[("action", "status"), ("order", &first)]).await, expected);

    // status, multi (every order submitted first: two reads must see the same states)
    for id in &ids[1..] {
        settled(s, *id).await;
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let multi = v2(s, &[("key", k), ("action", "status"), ("orders", &list)]).await;
    let multi = multi.as_object().expect("an object");
    assert_eq!(multi.len(), 4);
    assert_eq!(multi[&first], expected);
    for id in &ids {
        assert_eq!(multi[&id.to_string()]["currency"], "KRW");
    }
    assert_eq!(
        v2_json(s, json!({"key": k, "action": "status", "orders": list})).await,
        Value::Object(multi.clone())
    );

    // balance
    let expected = json!({"balance": "99400.00", "currency": "KRW"});
    assert_eq!(v2(s, &[("key", k), ("action", "balance")]).await, expected);
    assert_eq!(v2_json(s, json!({"key": k, "action": "balance"})).await, expected);
    assert_eq!(v2_get(s, &[("key", k), ("action", "balance")]).await, expected);
    assert_eq!(v2_header(s, k, &[("action", "balance")]).await, expected);
    s.assert_ledger_consistent().await;
}

async fn add_takes_each_orderable_service_type(h: Harness) {
    let s = &h.server;
    let drip = service(s, "1", 1000, json!({"dripfeed": true})).await;
    let plain = service(s, "5", 1000, json!({})).await;
    let comments =
        service(s, "2", 10_000, json!({"type": "Custom Comments", "min_quantity": 1, "max_quantity": 5}))
            .await;
    let package =
        service(s, "3", 50_000, json!({"type": "Package", "min_quantity": 1, "max_quantity": 1})).await;
    let subscriptions = service(s, "4", 1000, json!({"type": "Subscriptions"})).await;
    let unknown = service(s, "6", 1000, json!({"type": "SEO"})).await;
    let (token, key) = reseller(s, "ann", 100_000).await;
    let k = key.as_str();
    let add = |pairs: Vec<(&'static str, String)>| {
        let key = key.clone();
        async move {
            let mut all: Vec<(&str, &str)> = vec![("key", key.as_str()), ("action", "add")];
            all.extend(pairs.iter().map(|(a, b)| (*a, b.as_str())));
            v2(s, &all).await
        }
    };

    // Drip-feed: quantity is per run; 100 × 3 runs = 300 units, 300 points.
    let b = add(vec![
        ("service", drip.to_string()),
        ("link", "https://instagram.com/drip".into()),
        ("quantity", "100".into()),
        ("runs", "3".into()),
        ("interval", "60".into()),
    ])
    .await;
    let o = settled(s, order_id(&b)).await;
    assert_eq!(
        (o["quantity"].as_i64(), o["runs"].as_i64(), o["final_price"].as_i64()),
        (Some(100), Some(3), Some(300)),
        "{o}"
    );
    let sent = h.smm.requests_for("add");
    let sent = sent.last().expect("sent");
    assert_eq!(
        (sent.get("quantity"), sent.get("runs"), sent.get("interval")),
        (Some("100"), Some("3"), Some("60"))
    );
    assert_eq!(
        v2(s, &[("key", k), ("action", "status"), ("order", &order_id(&b).to_string())]).await["remains"],
        "300"
    );
    // … not on a service without drip-feed.
    let b = add(vec![
        ("service", plain.to_string()),
        ("link", "https://instagram.com/plain".into()),
        ("quantity", "100".into()),
        ("runs", "3".into()),
        ("interval", "60".into()),
    ])
    .await;
    assert_eq!(b, err("Drip-feed is not available for this service"));

    // Custom comments: one per line, the count is the quantity; `quantity`, if sent, must agree.
    let b = add(vec![
        ("service", comments.to_string()),
        ("link", "https://instagram.com/p/1".into()),
        ("comments", "nice\r\ngreat\nwow".into()),
    ])
    .await;
    let o = settled(s, order_id(&b)).await;
    assert_eq!((o["quantity"].as_i64(), o["final_price"].as_i64()), (Some(3), Some(30)), "{o}");
    assert_eq!(
        h.smm.requests_for("add").last().and_then(|r| r.get("comments").map(str::to_owned)).as_deref(),
        Some("nice\ngreat\nwow")
    );
    let b = add(vec![
        ("service", comments.to_string()),
        ("link", "https://instagram.com/p/1".into()),
        ("comments", "a\nb".into()),
        ("quantity", "5".into()),
    ])
    .await;
    assert_eq!(b, err("Incorrect quantity"));
    let b = add(vec![
        ("service", comments.to_string()),
        ("link", "https://instagram.com/p/1".into()),
        ("comments", "1\n2\n3\n4\n5\n6".into()),
    ])
    .await;
    assert_eq!(b, err("Quantity more than maximum 5"));
    let b = add(vec![("service", comments.to_string()), ("link", "https://instagram.com/p/1".into())]).await;
    assert_eq!(b, err("Incorrect request"), "comments are required");

    // A package: the link only (a quantity is ignored); one unit at its rate.
    let b = add(vec![
        ("service", package.to_string()),
        ("link", "https://instagram.com/pkg".into()),
        ("quantity", "999".into()),
    ])
    .await;
    let o = settled(s, order_id(&b)).await;
    assert_eq!((o["quantity"].as_i64(), o["final_price"].as_i64()), (Some(1), Some(50)), "{o}");
    assert_eq!(h.smm.requests_for("add").last().and_then(|r| r.get("quantity").map(str::to_owned)), None);

    // A type without its own parameters (a subscription's username, min, max, posts, delay) is
    // an incorrect request; a type nobody knows cannot be ordered. Neither charges anything.
    let before = s.points(&token).await;
    let b = add(vec![
        ("service", subscriptions.to_string()),
        ("link", "https://instagram.com/sub".into()),
        ("quantity", "100".into()),
        ("usernames", "a\nb".into()),
    ])
    .await;
    assert_eq!(b, err("Incorrect request"));
    let b = add(vec![
        ("service", unknown.to_string()),
        ("link", "https://instagram.com/seo".into()),
        ("quantity", "100".into()),
    ])
    .await;
    assert_eq!(b, err("This service type cannot be ordered through the API"));
    assert_eq!(s.points(&token).await, before);
    assert_eq!(s.points(&token).await, 100_000 - 300 - 30 - 50);
    s.assert_ledger_consistent().await;
}

async fn every_error_text_and_no_charge(h: Harness) {
    let s = &h.server;
    let svc = service(s, "1", 1000, json!({})).await;
    let inactive = service(s, "5", 1000, json!({"is_active": false})).await;
    let (token, key) = reseller(s, "ann", 150).await;
    let k = key.as_str();
    let svc = svc.to_string();
    let add = |service: &str, link: &str, quantity: &str| {
        let (service, link, quantity, key) =
            (service.to_owned(), link.to_owned(), quantity.to_owned(), key.clone());
        async move {
            v2(
                s,
                &[
                    ("key", &key),
                    ("action", "add"),
                    ("service", &service),
                    ("link", &link),
                    ("quantity", &quantity),
                ],
            )
            .await
        }
    };
    let link = "https://instagram.com/ann";

    for b in [
        v2(s, &[("action", "balance")]).await,
        v2(s, &[("key", "snsp_nope"), ("action", "balance")]).await,
        v2(s, &[("key", ""), ("action", "balance")]).await,
        v2_header(s, "wrong", &[("action", "balance")]).await,
    ] {
        assert_eq!(b, err("Invalid API key"));
    }
    for b in [
        v2(s, &[("key", k)]).await,
        v2(s, &[("key", k), ("action", "launch")]).await,
        v2(s, &[("key", k), ("action", "status")]).await,
        v2(s, &[("key", k), ("action", "add"), ("link", link), ("quantity", "100")]).await,
        v2(s, &[("key", k), ("action", "add"), ("service", &svc), ("quantity", "100")]).await,
        v2(s, &[("key", k), ("action", "add"), ("service", &svc), ("link", link)]).await,
        v2(
            s,
            &[
                ("key", k),
                ("action", "add"),
                ("service", &svc),
                ("link", link),
                ("quantity", "100"),
                ("runs", "x"),
            ],
        )
        .await,
    ] {
        assert_eq!(b, err("Incorrect request"));
    }
    for order in ["999999", "abc", "-1", "0"] {
        assert_eq!(
            v2(s, &[("key", k), ("action", "status"), ("order", order)]).await,
            err("Incorrect order ID")
        );
    }
    for service in ["999999", "abc", "0", &inactive.to_string()] {
        assert_eq!(add(service, link, "100").await, err("Incorrect service ID"), "{service}");
    }
    for bad in ["not a link", "ftp://x", "https://", "<script>"] {
        assert_eq!(add(&svc, bad, "100").await, err("Incorrect link"), "{bad}");
    }
    assert_eq!(add(&svc, link, "abc").await, err("Incorrect quantity"));
    assert_eq!(add(&svc, link, "1.5").await, err("Incorrect quantity"));
    assert_eq!(add(&svc, link, "5").await, err("Quantity less than minimal 10"));
    assert_eq!(add(&svc, link, "-5").await, err("Quantity less than minimal 10"));
    assert_eq!(add(&svc, link, "200000").await, err("Quantity more than maximum 100000"));
    assert_eq!(add(&svc, link, "200").await, err("Not enough funds on balance"));
    let many: Vec<String> = (1..=101).map(|i| i.to_string()).collect();
    assert_eq!(
        v2(s, &[("key", k), ("action", "status"), ("orders", &many.join(","))]).await,
        err("Incorrect request"),
        "more than 100 ids"
    );
    assert_eq!(v2(s, &[("key", k), ("action", "status"), ("orders", " , ")]).await, err("Incorrect request"));

    // Nothing was charged, nothing was sent.
    assert_eq!(s.points(&token).await, 150);
    assert!(h.smm.requests_for("add").is_empty());
    // The balance fits exactly: 150 units at 1000 per 1000.
    let b = add(&svc, link, "150").await;
    order_id(&b);
    assert_eq!(s.points(&token).await, 0);
    assert_eq!(
        v2(s, &[("key", k), ("action", "balance")]).await,
        json!({"balance": "0.00", "currency": "KRW"})
    );
    assert_eq!(add(&svc, link, "10").await, err("Not enough funds on balance"));
    s.assert_ledger_consistent().await;
}

async fn malformed_requests_never_fail(h: Harness) {
    let s = &h.server;
    let (_, key) = reseller(s, "ann", 1_000).await;
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("application/json", b"{not json".to_vec()),
        ("application/json", b"[1,2,3]".to_vec()),
        ("application/json", br#"{"key": 12, "action": ["add"]}"#.to_vec()),
        (
            "application/json",
            format!(r#"{{"key": "{key}", "action": "add", "service": {{"a": 1}}, "quantity": 1e400}}"#)
                .into_bytes(),
        ),
        (
            "application/json",
            format!(r#"{{"key": "{key}", "action": "status", "order": 99999999999999999999999}}"#)
                .into_bytes(),
        ),
        ("application/x-www-form-urlencoded", b"%ff%fe=%00&key=\xff\xfe".to_vec()),
        (
            "application/x-www-form-urlencoded",
            format!("key={key}&action=add&service=1&link=x&quantity=99999999999999999999").into_bytes(),
        ),
        (
            "application/x-www-form-urlencoded",
            format!("key={key}&action=status&orders={}", ",".repeat(5000)).into_bytes(),
        ),
        ("text/plain", b"\x00\x01\x02".to_vec()),
        ("", Vec::new()),
    ];
    for (content_type, body) in bodies {
        let headers = [("content-type", content_type)];
        let (status, _, b) = s.raw(Method::POST, "/api/v2", &headers, body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{}: {b}", String::from_utf8_lossy(&body));
        assert!(b["error"].is_string(), "{}: {b}", String::from_utf8_lossy(&body));
    }
    let (status, _, b) = s.raw(Method::GET, "/api/v2?key=%zz&action", &[], "").await;
    assert_eq!((status, b), (StatusCode::OK, err("Invalid API key")));
    s.assert_ledger_consistent().await;
}

async fn a_key_sees_only_its_owners_orders(h: Harness) {
    let s = &h.server;
    let svc = service(s, "1", 1000, json!({})).await.to_string();
    let (_, a_key) = reseller(s, "ann", 10_000).await;
    let (_, b_key) = reseller(s, "bob", 10_000).await;
    let place = |key: String| {
        let svc = svc.clone();
        async move {
            order_id(
                &v2(
                    s,
                    &[
                        ("key", &key),
                        ("action", "add"),
                        ("service", &svc),
                        ("link", "https://instagram.com/x"),
                        ("quantity", "100"),
                    ],
                )
                .await,
            )
        }
    };
    let a_order = place(a_key.clone()).await;
    let b_order = place(b_key.clone()).await;
    // A site order of ann's too.
    let missing = (b_order.max(a_order) + 1000).to_string();
    let (a, b) = (a_order.to_string(), b_order.to_string());

    // Single: another user's order answers exactly like one that does not exist.
    let theirs = v2(s, &[("key", &b_key), ("action", "status"), ("order", &a)]).await;
    let nobodys = v2(s, &[("key", &b_key), ("action", "status"), ("order", &missing)]).await;
    assert_eq!(theirs, err("Incorrect order ID"));
    assert_eq!(theirs, nobodys);
    assert_eq!(v2(s, &[("key", &b_key), ("action", "status"), ("order", &b)]).await["currency"], "KRW");
    assert_eq!(v2(s, &[("key", &a_key), ("action", "status"), ("order", &a)]).await["currency"], "KRW");

    // Multi: the same, inline.
    let list = format!("{a},{b},{missing}");
    let multi = v2(s, &[("key", &b_key), ("action", "status"), ("orders", &list)]).await;
    assert_eq!(multi[&a], err("Incorrect order ID"), "{multi}");
    assert_eq!(multi[&missing], err("Incorrect order ID"));
    assert_eq!(multi[&b]["currency"], "KRW", "{multi}");
    let multi = v2(s, &[("key", &a_key), ("action", "status"), ("orders", &list)]).await;
    assert_eq!(multi[&b], err("Incorrect order ID"), "{multi}");
    assert!(multi[&a]["status"].is_string(), "{multi}");
}

async fn a_request_id_replays_the_first_answer(h: Harness) {
    let s = &h.server;
    let svc = service(s, "1", 1000, json!({})).await.to_string();
    let (token, key) = reseller(s, "ann", 10_000).await;
    let (_, bob_key) = reseller(s, "bob", 10_000).await;
    let add = |key: String, request_id: String, quantity: &'static str| {
        let svc = svc.clone();
        async move {
            v2(
                s,
                &[
                    ("key", &key),
                    ("action", "add"),
                    ("service", &svc),
                    ("link", "https://instagram.com/ann"),
                    ("quantity", quantity),
                    ("request_id", &request_id),
                ],
            )
            .await
        }
    };
    let first = add(key.clone(), "req-1".into(), "100").await;
    let again = add(key.clone(), "req-1".into(), "100").await;
    assert_eq!(first, again);
    // The same request in JSON (quantity a number) is the same request.
    let json_again = v2_json(
        s,
        json!({"key": key, "action": "add", "service": svc.parse::<i64>().expect("id"), "link": "https://instagram.com/ann",
            "quantity": 100, "request_id": "req-1"}),
    )
    .await;
    assert_eq!(json_again, first);
    assert_eq!(s.points(&token).await, 10_000 - 100, "charged once");
    assert_eq!(
        add(key.clone(), "req-1".into(), "200").await,
        err("Duplicate request_id with different parameters")
    );
    // Another request id is another order; another user's same id is theirs.
    let second = add(key.clone(), "req-2".into(), "100").await;
    assert_ne!(order_id(&second), order_id(&first));
    let bobs = add(bob_key.clone(), "req-1".into(), "100").await;
    assert_ne!(order_id(&bobs), order_id(&first));
    assert_eq!(add(key.clone(), "x".repeat(65), "100").await, err("Incorrect request"));
    assert_eq!(add(key.clone(), "with space".into(), "100").await, err("Incorrect request"));
    assert_eq!(s.points(&token).await, 10_000 - 200);
    // Submitted once each.
    assert!(h.smm.wait_for_orders(3, Duration::from_secs(5)).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(h.smm.requests_for("add").len(), 3);
    s.assert_ledger_consistent().await;
}

async fn parallel_adds_charge_each_order_once(h: Harness) {
    let h = Arc::new(h);
    let s = &h.server;
    let svc = service(s, "1", 1000, json!({})).await.to_string();
    // 100 points an order; 2,550 points fit 25 of them.
    let (token, key) = reseller(s, "ann", 2_550).await;
    let mut tasks = Vec::new();
    for i in 0..100 {
        let (h, key, svc) = (h.clone(), key.clone(), svc.clone());
        tasks.push(tokio::spawn(async move {
            let link = format!("https://instagram.com/p{i}");
            let body = form(&[
                ("key", &key),
                ("action", "add"),
                ("service", &svc),
                ("link", &link),
                ("quantity", "100"),
            ]);
            let headers = [("content-type", "application/x-www-form-urlencoded")];
            let (status, _, b) = h.server.raw(Method::POST, "/api/v2", &headers, body).await;
            assert_eq!(status, StatusCode::OK, "{b}");
            b
        }));
    }
    let (mut placed, mut refused) = (Vec::new(), 0);
    for t in tasks {
        let b = t.await.expect("task");
        if b.get("order").is_some() {
            placed.push(order_id(&b));
        } else {
            assert_eq!(b, err("Not enough funds on balance"));
            refused += 1;
        }
    }
    assert_eq!((placed.len(), refused), (25, 75));
    assert_eq!(s.points(&token).await, 50);
    s.assert_ledger_consistent().await;
    let charges: Vec<_> =
        ledger(s, "ann").await.into_iter().filter(|(kind, _)| kind == "order_charge").collect();
    assert_eq!(charges.len(), 25);
    assert!(charges.iter().all(|(_, amount)| *amount == -100), "{charges:?}");
    assert!(h.smm.wait_for_orders(25, Duration::from_secs(10)).await, "every order reaches the panel");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(h.smm.requests_for("add").len(), 25, "each once");
}

async fn a_v2_order_is_a_site_order(h: Harness) {
    let s = &h.server;
    let svc = service(s, "1", 999, json!({})).await;
    let site = customer(s, "sam", 10_000).await;
    let (_, key) = reseller(s, "rex", 10_000).await;
    let (status, b) = s
        .call(
            Method::POST,
            "/api/orders",
            Auth::Bearer(&site),
            Some(json!({"service_id": svc, "link": "https://instagram.com/site", "quantity": 3000})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let site_order = b["order_id"].as_i64().expect("id");
    let v2_order = order_id(
        &v2(
            s,
            &[
                ("key", &key),
                ("action", "add"),
                ("service", &svc.to_string()),
                ("link", "https://instagram.com/v2"),
                ("quantity", "3000"),
            ],
        )
        .await,
    );
    let site_o = settled(s, site_order).await;
    let v2_o = settled(s, v2_order).await;
    assert_eq!(
        (site_o["status"].as_str(), v2_o["status"].as_str()),
        (Some("in_progress"), Some("in_progress"))
    );
    for field in ["price", "final_price", "quantity", "service_id", "discount_amount", "commission_amount"] {
        assert_eq!(site_o[field], v2_o[field], "{field}");
    }
    // The same ledger rows, in kind and amount.
    assert_eq!(ledger(s, "sam").await, ledger(s, "rex").await);
    assert_eq!(
        ledger(s, "rex").await,
        vec![("admin_adjust".to_owned(), 10_000), ("order_charge".to_owned(), -2997)]
    );
    // The panel got it once, with the v2 link.
    let adds = h.smm.requests_for("add");
    assert_eq!(adds.iter().filter(|r| r.get("link") == Some("https://instagram.com/v2")).count(), 1);
    assert_eq!(adds.len(), 2);

    // Its life as the panel tells it: in progress, then partial with a pro-rata refund.
    let upstream: i64 = v2_o["smm_panel_order_id"].as_str().and_then(|s| s.parse().ok()).expect("smm id");
    h.smm.set_start_count(upstream, 120);
    h.smm.set_status(upstream, "In progress", 2000);
    sync(s).await;
    let id = v2_order.to_string();
    let status = v2(s, &[("key", &key), ("action", "status"), ("order", &id)]).await;
    assert_eq!(status["status"], "In progress", "{status}");
    assert_eq!(status["remains"], "2000");
    h.smm.set_status(upstream, "Partial", 1001);
    sync(s).await;
    let status = v2(s, &[("key", &key), ("action", "status"), ("order", &id)]).await;
    // floor(2997 × 1001 / 3000) = 999 refunded.
    assert_eq!(status["status"], "Partial", "{status}");
    assert_eq!(status["charge"], "1998.00");
    assert_eq!(status["remains"], "1001");
    assert_eq!(v2(s, &[("key", &key), ("action", "balance")]).await["balance"], "8002.00");
    s.assert_ledger_consistent().await;
}

async fn the_rate_limit_answers_429_per_key(backend: Backend) {
    let Some(s) =
        TestServer::start_with(backend, "the_rate_limit_answers_429_per_key", &[("SNSPMT_API_RATE", "3/60")])
            .await
    else {
        return;
    };
    let (_, key) = reseller(&s, "ann", 100).await;
    let (_, other) = reseller(&s, "bob", 100).await;
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    for _ in 0..3 {
        assert_eq!(v2(&s, &[("key", &key), ("action", "balance")]).await["balance"], "100.00");
    }
    let (status, headers_back, b) =
        s.raw(Method::POST, "/api/v2", &headers, form(&[("key", &key), ("action", "balance")])).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(b, err("Too many requests"));
    let retry: u64 = headers_back
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry), "{retry}");
    // Another key has its own budget.
    assert_eq!(v2(&s, &[("key", &other), ("action", "balance")]).await["balance"], "100.00");
}
