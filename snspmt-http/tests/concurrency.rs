//! 500 concurrent deducts and admin credits on a few users, through the real server: no
//! balance below zero, every balance equal to its ledger sum, every Idempotency-Key applied
//! once — on SQLite and PostgreSQL.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use hyper::{Method, StatusCode};
use serde_json::json;

use common::{Auth, TestServer};

on_both_backends!(concurrent_deducts_and_credits_keep_the_books);

/// Starting balances: rich users never run short; poor ones must refuse some deducts.
const USERS: [(&str, i64); 5] =
    [("rich", 10_000), ("mid", 1_000), ("poor", 100), ("poorer", 10), ("broke", 0)];

async fn concurrent_deducts_and_credits_keep_the_books(s: TestServer) {
    let s = Arc::new(s);
    let mut tokens = HashMap::new();
    for (user, start) in USERS {
        tokens.insert(user, s.register(user).await);
        if start > 0 {
            assert_eq!(s.adjust(user, start).await.0, StatusCode::OK);
        }
    }
    // Per user: 80 deducts of 7 over 40 keys (each key sent twice with the same body) and
    // 20 admin credits of 5 — 100 requests a user, 500 in all, all at once.
    let mut tasks = Vec::new();
    for (user, _) in USERS {
        for i in 0..100 {
            let s = s.clone();
            let token = tokens[user].clone();
            tasks.push(tokio::spawn(async move {
                if i < 80 {
                    let key = format!("{user}-{}", i % 40);
                    let bearer = format!("Bearer {token}");
                    let headers = [("authorization", bearer.as_str()), ("idempotency-key", key.as_str())];
                    let (status, _, body) = s
                        .raw(Method::POST, "/api/points/deduct", &headers, json!({"amount": 7}).to_string())
                        .await;
                    (user, Some(key), status, body)
                } else {
                    let (status, body) = s.adjust(user, 5).await;
                    (user, None, status, body)
                }
            }));
        }
    }
    // key → the transaction ids its successful answers named
    let mut by_key: HashMap<String, HashSet<i64>> = HashMap::new();
    let mut refused = 0;
    for t in tasks {
        let (user, key, status, body) = t.await.expect("task");
        match (key, status) {
            (Some(key), StatusCode::OK) => {
                let id = body["transaction_id"].as_i64().expect("transaction id");
                by_key.entry(key).or_default().insert(id);
            }
            (Some(_), StatusCode::BAD_REQUEST) => {
                assert_eq!(body["code"], "insufficient_points", "{user}: {body}");
                refused += 1;
            }
            (None, StatusCode::OK) => {}
            (key, status) => panic!("{user} {key:?}: unexpected {status} {body}"),
        }
    }
    assert!(refused > 0, "the poor users must have been refused some deducts");
    for (key, ids) in &by_key {
        assert_eq!(ids.len(), 1, "key {key} answered with several transactions: {ids:?}");
    }

    for (user, start) in USERS {
        let balance = s.points(&tokens[user]).await;
        assert!(balance >= 0);
        let applied =
            by_key.keys().filter(|k| k.rsplit_once('-').map(|(u, _)| u) == Some(user)).count() as i64;
        assert_eq!(balance, start + 20 * 5 - applied * 7, "{user}: balance after {applied} deducts");
        let (_, ledger) = s
            .call(
                Method::GET,
                &format!("/api/admin/transactions?user_id={user}&kind=deduct&limit=200"),
                Auth::Admin,
                None,
            )
            .await;
        assert_eq!(ledger["total"].as_i64(), Some(applied), "{user}: one ledger row per applied key");
    }
    s.assert_ledger_consistent().await;
}
