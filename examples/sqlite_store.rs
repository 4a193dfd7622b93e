//! Using the SQLite store directly, without the HTTP server: create a user, credit and debit
//! points through the ledger, replay an idempotent debit, and check the books balance.
//!
//! `cargo run -p snspmt-examples --example sqlite_store [PATH]` (a temporary file by default).

use snspmt_core::{LedgerKind, Millis, Points};
use snspmt_store::{
    IdempotencyKey, LedgerFilter, LedgerStore, Maintenance, NewUser, Posting, SqliteStore, StoreError,
    UserStore,
};

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp() * 1000
}

fn posting(user: &str, kind: LedgerKind, amount: i64, description: &str) -> Posting {
    Posting {
        user_id: user.into(),
        kind,
        amount: Points(amount),
        reference: None,
        description: description.into(),
        event_ref: None,
        audit: None,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = match std::env::args().nth(1) {
        Some(path) => SqliteStore::open(&path)?,
        None => SqliteStore::open_temporary()?,
    };
    let report = store.migrate(Millis(now())).await?;
    println!("schema version {} (applied now: {:?})", report.version, report.applied);

    let user = NewUser {
        user_id: format!("example-{}", now()),
        email: None,
        name: "예제".into(),
        display_name: "example".into(),
        password_hash: None,
    };
    let user = store.create_user(user, Millis(now())).await?;
    let id = user.user_id.as_str();

    // A purchase, posted with a unique event reference: posting the same event again is refused.
    let mut purchase = posting(id, LedgerKind::Purchase, 10_000, "bank transfer approved");
    purchase.event_ref = Some(format!("purchase:{id}"));
    store.post(purchase.clone(), None, Millis(now())).await?;
    match store.post(purchase, None, Millis(now())).await {
        Err(StoreError::AlreadyPosted) => println!("second credit of the same purchase refused"),
        other => println!("unexpected: {other:?}"),
    }

    // An idempotent debit: the retry replays the first result and moves nothing.
    let key = IdempotencyKey::new(id, "points.deduct", "retry-me", br#"{"amount":300}"#);
    for attempt in 1..=2 {
        let outcome = store
            .post(posting(id, LedgerKind::Deduct, -2_500, "self debit"), Some(key.clone()), Millis(now()))
            .await?;
        println!(
            "attempt {attempt}: replay={} balance_after={}",
            outcome.is_replay(),
            outcome.into_inner().balance_after
        );
    }

    // Overdrawing is refused and changes nothing.
    match store.post(posting(id, LedgerKind::Deduct, -1_000_000, "too much"), None, Millis(now())).await {
        Err(StoreError::InsufficientPoints { balance }) => println!("overdraw refused; balance is {balance}"),
        other => println!("unexpected: {other:?}"),
    }

    let ledger =
        store.ledger(LedgerFilter { user_id: Some(id.into()), limit: 50, ..Default::default() }).await?;
    for e in ledger.rows.iter().rev() {
        println!(
            "#{:<4} {:<12} {:>8} → {:>8}  {}",
            e.id, e.kind, e.amount.0, e.balance_after.0, e.description
        );
    }
    let mismatches = store.ledger_mismatches().await?;
    println!("balance = ledger sum for every user: {}", mismatches.is_empty());
    Ok(())
}
