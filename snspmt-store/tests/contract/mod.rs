//! The storage contract: every backend must pass these, compiled once per backend
//! (`tests/sqlite.rs`, `tests/postgres.rs`).

mod fixture;

use std::sync::Arc;

use fixture::new_order;
use snspmt_core::order::{self, OrderStatus, Settlement};
use snspmt_core::purchase::{ApprovalOutcome, PurchaseMethod, PurchaseStatus};
use snspmt_core::referral::{CommissionStatus, DiscountType, WithdrawalState};
use snspmt_core::Bps;
use snspmt_core::Won;
use snspmt_core::{LedgerKind, Millis, Points};
use snspmt_store::{
    Conflict, EmailToken, IdempotencyKey, Idempotent, LedgerEntry, LedgerFilter, NewAudit, NewCoupon,
    NewNotice, NewOrder, NewPost, NewPurchase, NewService, NewUser, NewWithdrawal, OrderId, PostFilter,
    Posting, ProfilePatch, PurchaseFilter, PurchaseId, SocialLink, SocialLogin, StatusUpdate, Store,
    StoreError, StoreResult, SubmissionOutcome, UserCoupon, WithdrawalFilter, WithdrawalId,
};

/// Calls `$m!(case, case, …)` with every contract case, so each backend lists them once.
macro_rules! for_each_case {
    ($m:ident) => {
        $m!(
            users_are_unique_by_id_and_email,
            sessions_expire_and_revoke,
            postings_move_balance_and_ledger_together,
            insufficient_points_change_nothing,
            events_are_posted_once,
            idempotency_keys_replay_and_refuse_other_bodies,
            concurrent_debits_never_overdraw,
            concurrent_replays_apply_once,
            ledger_filters_and_pages,
            profile_updates_are_audited,
            login_failures_are_counted,
            email_tokens_are_single_use_and_expire,
            migrations_are_idempotent,
            orders_charge_in_one_transaction,
            due_jobs_are_claimed_once_under_concurrency,
            submissions_and_statuses_settle_once,
            lost_submissions_become_unknown,
            services_import_by_provider_id,
            bank_purchases_are_decided_once,
            kcp_approvals_credit_once,
            parts_run_in_order_and_once,
            social_logins_link_by_identity_and_verified_email_only,
            concurrent_first_social_logins_make_one_account,
            oauth_states_are_single_use_and_expire,
            notices_show_inside_their_window,
            blog_posts_filter_count_and_publish,
            dashboard_stats_come_from_the_ledger,
            referral_codes_and_coupons_are_issued_once,
            commissions_follow_their_orders,
            a_coupon_is_used_by_one_order_under_concurrency,
            withdrawals_never_exceed_the_balance_under_concurrency,
            coupon_definitions_and_copies,
            operator_end_refunds_only_the_parts_never_submitted,
            owners_cancel_runs_that_have_not_started,
            sync_failures_are_recorded_and_move_behind,
            upstream_text_is_cleaned_before_it_is_stored,
            api_keys_are_looked_up_by_hash_rotated_and_revoked,
            api_keys_are_capped_per_user_under_concurrency,
            refills_follow_the_rules_and_their_machine,
            refill_requests_in_flight_are_one_under_concurrency,
            cancels_of_running_orders_move_no_money,
            user_rates_are_set_audited_and_per_user,
            order_batches_are_claimed_once_and_answer_replays,
            order_params_are_stored_and_claimed_with_the_job,
            commits_are_told_to_watchers,
            batches_settle_and_apply_all_or_none,
            a_batch_settles_as_one_at_a_time_would,
            concurrent_orders_never_overdraw,
            a_claim_takes_at_most_its_limit
        );
    };
}
pub(crate) use for_each_case;

fn new_user(id: &str, email: Option<&str>) -> NewUser {
    NewUser {
        user_id: id.into(),
        email: email.map(str::to_owned),
        name: format!("name of {id}"),
        display_name: id.into(),
        password_hash: None,
    }
}

fn posting(user: &str, kind: LedgerKind, amount: i64) -> Posting {
    Posting {
        user_id: user.into(),
        kind,
        amount: Points(amount),
        reference: None,
        description: format!("{kind} {amount}"),
        event_ref: None,
        audit: None,
    }
}

fn key(user: &str, k: &str, body: &str) -> IdempotencyKey {
    IdempotencyKey { user_id: user.into(), scope: "points.deduct", key: k.into(), request_hash: body.into() }
}

async fn credited(s: &dyn Store, user: &str, amount: i64) {
    s.create_user(new_user(user, None), Millis(1)).await.expect("create user");
    if amount > 0 {
        s.post(posting(user, LedgerKind::Purchase, amount), None, Millis(2)).await.expect("credit");
    }
}

async fn assert_consistent(s: &dyn Store) {
    let mismatches = s.ledger_mismatches().await.expect("mismatches");
    assert!(mismatches.is_empty(), "balances differ from their ledgers: {mismatches:?}");
}

pub async fn users_are_unique_by_id_and_email(s: Arc<dyn Store>) {
    let u = s.create_user(new_user("alice", Some("alice@example.com")), Millis(10)).await.expect("create");
    assert_eq!(u.points, Points(0));
    assert_eq!(u.created_at, Millis(10));
    assert!(!u.has_password && !u.is_admin);
    assert!(matches!(
        s.create_user(new_user("alice", Some("other@example.com")), Millis(11)).await,
        Err(StoreError::Conflict(Conflict::UserIdTaken))
    ));
    assert!(matches!(
        s.create_user(new_user("alice2", Some("alice@example.com")), Millis(11)).await,
        Err(StoreError::Conflict(Conflict::EmailTaken))
    ));
    let mut with_pw = new_user("bob", Some("bob@example.com"));
    with_pw.password_hash = Some("$argon2id$stub".into());
    s.create_user(with_pw, Millis(12)).await.expect("bob");
    let creds = s.credentials("bob@example.com").await.expect("creds").expect("bob exists");
    assert_eq!(creds.password_hash.as_deref(), Some("$argon2id$stub"));
    assert!(creds.user.has_password);
    assert!(s.credentials("nobody@example.com").await.expect("lookup").is_none());
    assert_eq!(s.user("alice").await.expect("user").map(|u| u.user_id), Some("alice".into()));
    assert!(s.user("carol").await.expect("user").is_none());
}

pub async fn sessions_expire_and_revoke(s: Arc<dyn Store>) {
    credited(&*s, "u1", 0).await;
    s.create_session("hash-1", "u1", Millis(100), Millis(200)).await.expect("session");
    assert_eq!(
        s.session_user("hash-1", Millis(150)).await.expect("lookup").map(|u| u.user_id),
        Some("u1".into())
    );
    assert!(s.session_user("hash-1", Millis(200)).await.expect("lookup").is_none(), "expired at 200");
    assert!(s.session_user("hash-2", Millis(150)).await.expect("lookup").is_none());
    assert!(s.revoke_session("hash-1").await.expect("revoke"));
    assert!(!s.revoke_session("hash-1").await.expect("revoke again"));
    assert!(s.session_user("hash-1", Millis(150)).await.expect("lookup").is_none());
}

pub async fn postings_move_balance_and_ledger_together(s: Arc<dyn Store>) {
    credited(&*s, "u1", 1000).await;
    let e =
        s.post(posting("u1", LedgerKind::Deduct, -300), None, Millis(5)).await.expect("debit").into_inner();
    assert_eq!((e.amount, e.balance_after, e.kind), (Points(-300), Points(700), LedgerKind::Deduct));
    assert_eq!(s.balance("u1").await.expect("balance"), Some(Points(700)));
    let e =
        s.post(posting("u1", LedgerKind::Deduct, -700), None, Millis(6)).await.expect("to zero").into_inner();
    assert_eq!(e.balance_after, Points(0));
    assert!(matches!(
        s.post(posting("ghost", LedgerKind::Purchase, 5), None, Millis(7)).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(s.balance("ghost").await.expect("balance"), None);
    assert_consistent(&*s).await;
}

pub async fn insufficient_points_change_nothing(s: Arc<dyn Store>) {
    credited(&*s, "u1", 100).await;
    let before = s.ledger(LedgerFilter { user_id: Some("u1".into()), limit: 50, ..Default::default() }).await;
    let before = before.expect("ledger").total;
    match s.post(posting("u1", LedgerKind::Deduct, -101), Some(key("u1", "k", "h")), Millis(5)).await {
        Err(StoreError::InsufficientPoints { balance }) => assert_eq!(balance, Points(100)),
        other => panic!("expected insufficient points, got {other:?}"),
    }
    assert_eq!(s.balance("u1").await.expect("balance"), Some(Points(100)));
    let after = s.ledger(LedgerFilter { user_id: Some("u1".into()), limit: 50, ..Default::default() }).await;
    assert_eq!(after.expect("ledger").total, before);
    // The refused request left no key behind: once funded, the same key runs.
    s.post(posting("u1", LedgerKind::Purchase, 1), None, Millis(6)).await.expect("credit");
    let e = s
        .post(posting("u1", LedgerKind::Deduct, -101), Some(key("u1", "k", "h")), Millis(7))
        .await
        .expect("debit");
    assert!(matches!(e, Idempotent::Fresh(_)));
    assert_consistent(&*s).await;
}

pub async fn events_are_posted_once(s: Arc<dyn Store>) {
    credited(&*s, "u1", 0).await;
    let mut p = posting("u1", LedgerKind::Purchase, 500);
    p.event_ref = Some("purchase:1".into());
    s.post(p.clone(), None, Millis(5)).await.expect("first");
    assert!(matches!(s.post(p, None, Millis(6)).await, Err(StoreError::AlreadyPosted)));
    assert_eq!(s.balance("u1").await.expect("balance"), Some(Points(500)));
    assert_consistent(&*s).await;
}

pub async fn idempotency_keys_replay_and_refuse_other_bodies(s: Arc<dyn Store>) {
    credited(&*s, "u1", 1000).await;
    credited(&*s, "u2", 1000).await;
    let first =
        s.post(posting("u1", LedgerKind::Deduct, -100), Some(key("u1", "k1", "body-a")), Millis(5)).await;
    let first = first.expect("first");
    assert!(!first.is_replay());
    let again =
        s.post(posting("u1", LedgerKind::Deduct, -100), Some(key("u1", "k1", "body-a")), Millis(6)).await;
    let again = again.expect("replay");
    assert!(again.is_replay());
    assert_eq!(again.into_inner(), first.into_inner(), "the replay is the first result");
    assert!(matches!(
        s.post(posting("u1", LedgerKind::Deduct, -50), Some(key("u1", "k1", "body-b")), Millis(7)).await,
        Err(StoreError::IdempotencyKeyReused)
    ));
    // Another user's identical key is another key.
    let other =
        s.post(posting("u2", LedgerKind::Deduct, -100), Some(key("u2", "k1", "body-a")), Millis(8)).await;
    assert!(!other.expect("u2").is_replay());
    assert_eq!(s.balance("u1").await.expect("b"), Some(Points(900)));
    assert_eq!(s.balance("u2").await.expect("b"), Some(Points(900)));
    assert_consistent(&*s).await;
}

/// `n` deductions of `amount` from u1 at once (the i-th at time 10 + i), all under `key`: their
/// results.
async fn deducted_at_once(
    s: &Arc<dyn Store>,
    n: i64,
    amount: i64,
    key: Option<IdempotencyKey>,
) -> Vec<StoreResult<Idempotent<LedgerEntry>>> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let (s, key) = (s.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            s.post(posting("u1", LedgerKind::Deduct, amount), key, Millis(10 + i)).await
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("task"));
    }
    results
}

/// What the racing `tasks` answered that went through; every other one must be refused with
/// `refused`.
async fn winners<T>(tasks: Vec<tokio::task::JoinHandle<StoreResult<T>>>, refused: Conflict) -> Vec<T> {
    let mut won = Vec::new();
    for t in tasks {
        match t.await.expect("task") {
            Ok(v) => won.push(v),
            Err(StoreError::Conflict(c)) if c == refused => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    won
}

pub async fn concurrent_debits_never_overdraw(s: Arc<dyn Store>) {
    credited(&*s, "u1", 1000).await;
    let (mut ok, mut short) = (0, 0);
    for r in deducted_at_once(&s, 200, -10, None).await {
        match r {
            Ok(_) => ok += 1,
            Err(StoreError::InsufficientPoints { .. }) => short += 1,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!((ok, short), (100, 100));
    assert_eq!(s.balance("u1").await.expect("b"), Some(Points(0)));
    assert_consistent(&*s).await;
}

pub async fn concurrent_replays_apply_once(s: Arc<dyn Store>) {
    credited(&*s, "u1", 1000).await;
    let same = Some(key("u1", "same", "h"));
    let results: Vec<_> =
        deducted_at_once(&s, 20, -100, same).await.into_iter().map(|r| r.expect("post")).collect();
    assert_eq!(results.iter().filter(|r| !r.is_replay()).count(), 1);
    let ids: std::collections::HashSet<i64> = results.into_iter().map(|r| r.into_inner().id).collect();
    assert_eq!(ids.len(), 1, "every replay names the same entry");
    assert_eq!(s.balance("u1").await.expect("b"), Some(Points(900)));
    assert_consistent(&*s).await;
}

pub async fn ledger_filters_and_pages(s: Arc<dyn Store>) {
    credited(&*s, "u1", 100).await;
    credited(&*s, "u2", 200).await;
    for i in 0..5 {
        s.post(posting("u1", LedgerKind::Deduct, -1), None, Millis(100 + i)).await.expect("debit");
    }
    let all = s.ledger(LedgerFilter { limit: 50, ..Default::default() }).await.expect("all");
    assert_eq!(all.total, 7);
    // A filter's default limit is a page of DEFAULT_LIMIT rows, not none.
    let default = s.ledger(LedgerFilter { user_id: Some("u1".into()), ..Default::default() }).await;
    assert_eq!(default.expect("default limit").rows.len(), 6);
    assert!(all.rows.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let u1 = s
        .ledger(LedgerFilter {
            user_id: Some("u1".into()),
            kind: Some(LedgerKind::Deduct),
            limit: 2,
            offset: 1,
        })
        .await
        .expect("filtered");
    assert_eq!(u1.total, 5);
    assert_eq!(u1.rows.len(), 2);
    assert!(u1.rows.iter().all(|e| e.user_id == "u1" && e.kind == LedgerKind::Deduct));
    assert_eq!(u1.rows[0].balance_after, Points(96), "offset 1 skips the newest (95)");
    let purchases =
        s.ledger(LedgerFilter { kind: Some(LedgerKind::Purchase), limit: 50, ..Default::default() });
    assert_eq!(purchases.await.expect("purchases").total, 2);
}

pub async fn profile_updates_are_audited(s: Arc<dyn Store>) {
    s.create_user(new_user("u1", Some("u1@example.com")), Millis(1)).await.expect("u1");
    s.create_user(new_user("u2", Some("u2@example.com")), Millis(1)).await.expect("u2");
    let audit = |what: &str| NewAudit {
        actor: "admin-token".into(),
        action: what.into(),
        target: Some("u1".into()),
        detail: "{}".into(),
    };
    let patch = ProfilePatch { name: Some("New Name".into()), is_admin: Some(true), ..Default::default() };
    let u = s.update_user("u1", patch, None, audit("users.update"), Millis(50)).await.expect("update");
    assert_eq!((u.name.as_str(), u.is_admin, u.email.as_deref()), ("New Name", true, Some("u1@example.com")));
    let taken = ProfilePatch { email: Some(Some("u2@example.com".into())), ..Default::default() };
    assert!(matches!(
        s.update_user("u1", taken, None, audit("users.update"), Millis(51)).await,
        Err(StoreError::Conflict(Conflict::EmailTaken))
    ));
    assert!(matches!(
        s.update_user("nobody", ProfilePatch::default(), None, audit("users.update"), Millis(52)).await,
        Err(StoreError::NotFound)
    ));
    let mut adjust = posting("u1", LedgerKind::AdminAdjust, 250);
    adjust.audit = Some(audit("points.adjust"));
    s.post(adjust, None, Millis(53)).await.expect("adjust");
    // A profile change with an adjustment that would overdraw changes nothing at all.
    let rename = ProfilePatch { name: Some("Renamed".into()), ..Default::default() };
    let overdraw = posting("u1", LedgerKind::AdminAdjust, -251);
    assert!(matches!(
        s.update_user("u1", rename.clone(), Some(overdraw), audit("users.update"), Millis(54)).await,
        Err(StoreError::InsufficientPoints { .. })
    ));
    assert_eq!(s.user("u1").await.expect("u1").map(|u| u.name), Some("New Name".into()));
    let debit = posting("u1", LedgerKind::AdminAdjust, -50);
    let u = s
        .update_user("u1", rename, Some(debit), audit("users.update"), Millis(55))
        .await
        .expect("update + adjust");
    assert_eq!((u.name.as_str(), u.points), ("Renamed", Points(200)));
    assert_eq!(s.balance("u1").await.expect("balance"), Some(Points(200)));
    let log = s.audit_log(50, 0).await.expect("audit log");
    assert_eq!(log.total, 3, "the refused updates left no audit rows");
    assert_eq!(log.rows[0].action, "users.update");
    let log = s.audit_log(2, 1).await.expect("audit log");
    assert_eq!(log.rows[0].action, "points.adjust");
    assert_eq!(log.rows[1].action, "users.update");
    let page = s.list_users(Some("u1@EXAMPLE"), 50, 0).await.expect("search");
    assert_eq!(page.rows.iter().map(|u| u.user_id.as_str()).collect::<Vec<_>>(), ["u1"]);
    assert_eq!(s.list_users(Some("%"), 50, 0).await.expect("literal %").total, 0);
    assert_eq!(s.list_users(None, 1, 0).await.expect("all").total, 2);
}

pub async fn login_failures_are_counted(s: Arc<dyn Store>) {
    for t in [10, 20, 30] {
        s.record_login_failure("a@example.com", Millis(t)).await.expect("record");
    }
    s.record_login_failure("b@example.com", Millis(30)).await.expect("record");
    assert_eq!(s.login_failures("a@example.com", Millis(0)).await.expect("count"), 3);
    assert_eq!(s.login_failures("a@example.com", Millis(20)).await.expect("count"), 2);
    s.clear_login_failures("a@example.com").await.expect("clear");
    assert_eq!(s.login_failures("a@example.com", Millis(0)).await.expect("count"), 0);
    assert_eq!(s.login_failures("b@example.com", Millis(0)).await.expect("count"), 1);
}

pub async fn migrations_are_idempotent(s: Arc<dyn Store>) {
    let again = s.migrate(Millis(99)).await.expect("migrate again");
    assert!(again.applied.is_empty());
    let latest = snspmt_store::migrations::SQLITE.last().map_or(0, |m| m.version);
    assert_eq!(again.version, latest);
    assert_eq!(s.schema_version().await.expect("version"), latest);
    s.ping().await.expect("ping");
}

fn audit() -> NewAudit {
    NewAudit { actor: "test".into(), action: "test".into(), target: None, detail: "{}".into() }
}

pub fn new_service(provider: &str) -> NewService {
    NewService {
        provider_service_id: provider.into(),
        name: format!("service {provider}"),
        category: "Instagram".into(),
        platform: "instagram".into(),
        service_type: "default".into(),
        price_per_1000: Points(1000),
        min_quantity: 10,
        max_quantity: 10_000,
        dripfeed: false,
        refill: false,
        cancel: false,
        is_active: true,
        description: String::new(),
    }
}

/// Orders placed at once by one user (PostgreSQL places them without a transaction, issue 16)
/// charge exactly what the balance holds; the refused ones leave nothing behind.
pub async fn concurrent_orders_never_overdraw(s: Arc<dyn Store>) {
    credited(&*s, "u1", 1000).await;
    let svc = s.create_service(new_service("1"), audit(), Millis(1)).await.expect("service").service_id;
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.place_order(new_order("u1", svc, 100, 1), None, Millis(2)).await })
        })
        .collect();
    let (mut ok, mut short) = (0, 0);
    for t in tasks {
        match t.await.expect("task") {
            Ok(_) => ok += 1,
            Err(StoreError::InsufficientPoints { balance }) => {
                assert!(balance < Points(100));
                short += 1;
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!((ok, short), (10, 30));
    assert_eq!(s.balance("u1").await.expect("balance"), Some(Points(0)));
    let page =
        s.orders(snspmt_store::OrderFilter { user_id: Some("u1".into()), limit: 50, ..Default::default() });
    assert_eq!(page.await.expect("orders").total, 10);
    assert_eq!(s.claim_due_jobs(Millis(3), 100).await.expect("claim").len(), 10);
    assert_consistent(&*s).await;
}

pub async fn orders_charge_in_one_transaction(s: Arc<dyn Store>) {
    credited(&*s, "u1", 150).await;
    let svc = s.create_service(new_service("1"), audit(), Millis(1)).await.expect("service").service_id;
    let o = s.place_order(new_order("u1", svc, 100, 5), None, Millis(5)).await.expect("order").into_inner();
    assert_eq!((o.status, o.final_price, o.refunded_amount), (OrderStatus::Pending, Points(100), Points(0)));
    assert!(matches!(
        s.place_order(new_order("u1", svc, 100, 6), None, Millis(6)).await,
        Err(StoreError::InsufficientPoints { .. })
    ));
    let page =
        s.orders(snspmt_store::OrderFilter { user_id: Some("u1".into()), limit: 50, ..Default::default() });
    assert_eq!(page.await.expect("orders").total, 1, "the refused order left nothing behind");
    assert_eq!(s.balance("u1").await.expect("balance"), Some(Points(50)));
    assert!(s.claim_due_jobs(Millis(6), 10).await.expect("claim").len() == 1, "exactly the one job");
    assert_consistent(&*s).await;
}

/// Eight claimers at once, each calling `claim` until it hands out nothing: every id claimed,
/// checked to be handed out once.
async fn claimed_by_eight<T, F, Fut>(s: &Arc<dyn Store>, claim: F) -> Vec<T>
where
    T: Copy + Eq + std::hash::Hash + Send + 'static,
    F: Fn(Arc<dyn Store>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Vec<T>> + Send,
{
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (s, claim) = (s.clone(), claim.clone());
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claimed = claim(s.clone()).await;
                if claimed.is_empty() {
                    return mine;
                }
                mine.extend(claimed);
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    let unique: std::collections::HashSet<T> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "claimed once");
    all
}

pub async fn due_jobs_are_claimed_once_under_concurrency(s: Arc<dyn Store>) {
    credited(&*s, "u1", 1_000_000).await;
    let svc = s.create_service(new_service("1"), audit(), Millis(1)).await.expect("service").service_id;
    for i in 0..200 {
        s.place_order(new_order("u1", svc, 10, i), None, Millis(i)).await.expect("order");
    }
    let all = claimed_by_eight(&s, |s| async move {
        s.claim_due_jobs(Millis(1_000), 7).await.expect("claim").into_iter().map(|j| j.order_id).collect()
    })
    .await;
    assert_eq!(all.len(), 200, "every job claimed exactly once");
    let submitting = s.orders(snspmt_store::OrderFilter {
        status: Some(OrderStatus::Submitting),
        limit: 1,
        ..Default::default()
    });
    assert_eq!(submitting.await.expect("orders").total, 200);
}

/// A claim of `limit` rows takes at most `limit` and leaves the rest due (issue 16: written as
/// `IN (subquery … LIMIT … SKIP LOCKED)`, PostgreSQL could rescan the subquery per row and one
/// claim of 1 took every due row, the rest never sent).
pub async fn a_claim_takes_at_most_its_limit(s: Arc<dyn Store>) {
    use snspmt_core::plan::{self, Step};
    credited(&*s, "u1", 1_000_000).await;
    let svc = s.create_service(new_service("1"), audit(), Millis(1)).await.expect("service").service_id;
    for i in 0..20 {
        s.place_order(new_order("u1", svc, 10, i), None, Millis(i)).await.expect("order");
    }
    for round in 1..=3 {
        let claimed = s.claim_due_jobs(Millis(1_000), 1).await.expect("claim");
        assert_eq!(claimed.len(), 1, "round {round}: one job");
        let submitting = s.orders(snspmt_store::OrderFilter {
            status: Some(OrderStatus::Submitting),
            limit: 1,
            ..Default::default()
        });
        assert_eq!(submitting.await.expect("orders").total, round, "the others stay due");
    }
    assert_eq!(s.claim_due_jobs(Millis(1_000), 5).await.expect("claim").len(), 5);
    let steps = [Step { service_id: svc, quantity: 100, delay_minutes: None, repeat: 1, name: "s".into() }];
    let parts = plan::package_parts(&steps, Points(100)).expect("plan");
    let mut order = new_order("u1", svc, 100, 0);
    order.quantity = 100;
    for _ in 0..12 {
        s.place_multipart_order(
            order.clone(),
            None,
            Some(1),
            parts.clone(),
            Some(Millis(0)),
            None,
            Millis(0),
        )
        .await
        .expect("placed");
    }
    let mut seen = std::collections::HashSet::new();
    for round in 0..12 {
        let claimed = s.claim_due_parts(Millis(5), 1, None).await.expect("claim");
        assert_eq!(claimed.len(), 1, "round {round}: one part");
        assert!(seen.insert(claimed[0].part_id), "a new part each time");
    }
    assert!(s.claim_due_parts(Millis(5), 1, None).await.expect("claim").is_empty(), "all twelve taken");
}

pub async fn submissions_and_statuses_settle_once(s: Arc<dyn Store>) {
    credited(&*s, "u1", 10_000).await;
    let svc = s.create_service(new_service("1"), audit(), Millis(1)).await.expect("service").service_id;
    let a = s.place_order(new_order("u1", svc, 1000, 1), None, Millis(1)).await.expect("a").into_inner();
    let b = s.place_order(new_order("u1", svc, 3000, 1), None, Millis(1)).await.expect("b").into_inner();
    let ja = s.claim_order_job(a.order_id, Millis(2)).await.expect("claim").expect("a is due");
    assert!(s.claim_order_job(a.order_id, Millis(2)).await.expect("claim").is_none(), "claimed once");
    let jb = s.claim_order_job(b.order_id, Millis(2)).await.expect("claim").expect("b is due");
    let rejected = SubmissionOutcome::Rejected { message: "Incorrect service ID".into() };
    let failed = s.settle_submission(ja.job_id, rejected.clone(), Millis(3)).await.expect("settle");
    assert_eq!((failed.status, failed.refunded_amount), (OrderStatus::Failed, Points(1000)));
    assert!(matches!(
        s.settle_submission(ja.job_id, rejected, Millis(4)).await,
        Err(StoreError::Conflict(_))
    ));
    let accepted = SubmissionOutcome::Accepted { smm_order_id: "77".into() };
    let running = s.settle_submission(jb.job_id, accepted, Millis(5)).await.expect("settle");
    assert_eq!(
        (running.status, running.smm_panel_order_id.as_deref()),
        (OrderStatus::InProgress, Some("77"))
    );
    let targets = s.orders_to_sync(10, None).await.expect("targets");
    assert_eq!(targets.iter().map(|t| t.smm_order_id.as_str()).collect::<Vec<_>>(), ["77"]);
    let partial = StatusUpdate {
        settlement: Settlement { status: OrderStatus::Partial, refund: Points(1001) },
        start_count: Some(10),
        remains: Some(1001),
        charge: Some("0.5".into()),
    };
    let done = s
        .apply_status(b.order_id, partial.clone(), Millis(6))
        .await
        .expect("apply")
        .expect("was in progress");
    assert_eq!(
        (done.status, done.refunded_amount, done.remains),
        (OrderStatus::Partial, Points(1001), Some(1001))
    );
    assert!(s.apply_status(b.order_id, partial, Millis(7)).await.expect("apply").is_none(), "settled once");
    assert!(s.orders_to_sync(10, None).await.expect("targets").is_empty());
    assert_eq!(s.balance("u1").await.expect("balance"), Some(Points(10_000 - 3000 + 1001)));
    // An operator's full refund of a partial order is not allowed by the core, and a cancel
    // refunds only what is left.
    assert!(order::admin_transition(OrderStatus::Partial, OrderStatus::Canceled).is_err());
    assert_consistent(&*s).await;
}

pub async fn lost_submissions_become_unknown(s: Arc<dyn Store>) {
    credited(&*s, "u1", 1000).await;
    let svc = s.create_service(new_service("1"), audit(), Millis(1)).await.expect("service").service_id;
    let o = s.place_order(new_order("u1", svc, 100, 1), None, Millis(1)).await.expect("order").into_inner();
    s.claim_due_jobs(Millis(10), 10).await.expect("claim");
    assert!(
        s.expire_submissions(Millis(10), Millis(20)).await.expect("expire").is_empty(),
        "not older than the lease"
    );
    assert_eq!(s.expire_submissions(Millis(11), Millis(20)).await.expect("expire"), [o.order_id]);
    let unknown = s.order(o.order_id).await.expect("order").expect("exists");
    assert_eq!(unknown.status, OrderStatus::Unknown);
    assert!(s.claim_due_jobs(Millis(1_000_000), 10).await.expect("claim").is_empty(), "never resent");
    let t = order::admin_transition(OrderStatus::Unknown, OrderStatus::Failed).expect("legal");
    let failed = s
        .admin_set_status(o.order_id, OrderStatus::Unknown, t, None, audit(), Millis(30))
        .await
        .expect("fail it");
    assert_eq!((failed.status, failed.refunded_amount), (OrderStatus::Failed, Points(100)));
    assert!(matches!(
        s.admin_set_status(o.order_id, OrderStatus::Unknown, t, None, audit(), Millis(31)).await,
        Err(StoreError::Conflict(Conflict::InvalidTransition))
    ));
    assert_eq!(s.balance("u1").await.expect("balance"), Some(Points(1000)));
    assert_consistent(&*s).await;
}

pub async fn services_import_by_provider_id(s: Arc<dyn Store>) {
    let first = s
        .import_services(vec![new_service("1"), new_service("2")], audit(), Millis(1))
        .await
        .expect("import");
    assert_eq!((first.inserted, first.updated), (2, 0));
    let mut changed = new_service("2");
    changed.price_per_1000 = Points(2500);
    let second =
        s.import_services(vec![changed, new_service("3")], audit(), Millis(2)).await.expect("import");
    assert_eq!((second.inserted, second.updated), (1, 1));
    let all = s.list_services(false, None, 50, 0).await.expect("list");
    assert_eq!(all.total, 3);
    assert_eq!(
        all.rows.iter().find(|x| x.provider_service_id == "2").map(|x| x.price_per_1000),
        Some(Points(2500))
    );
    assert!(matches!(
        s.create_service(new_service("3"), audit(), Millis(3)).await,
        Err(StoreError::Conflict(Conflict::ProviderServiceIdTaken))
    ));
    let id = all.rows[0].service_id;
    let mut off = new_service(&all.rows[0].provider_service_id);
    off.is_active = false;
    s.update_service(id, off, audit(), Millis(4)).await.expect("deactivate");
    assert_eq!(s.list_services(true, None, 50, 0).await.expect("active").total, 2);
    let mut other = new_service("4");
    other.category = "YouTube".into();
    s.import_services(vec![other], audit(), Millis(5)).await.expect("import");
    let by_category = |c: &'static str| s.list_services(false, Some(c), 50, 0);
    assert_eq!(by_category("Instagram").await.expect("category").total, 3);
    let youtube = by_category("YouTube").await.expect("category");
    assert_eq!(
        (youtube.total, youtube.rows.len(), youtube.rows[0].provider_service_id.as_str()),
        (1, 1, "4")
    );
    assert_eq!(by_category("TikTok").await.expect("category").total, 0);
}

fn new_purchase(user: &str, method: PurchaseMethod, amount: i64, ordr: Option<&str>) -> NewPurchase {
    NewPurchase {
        user_id: user.into(),
        method,
        amount: Points(amount),
        price: Won(amount),
        buyer_name: Some("홍길동".into()),
        bank_info: None,
        ordr_idxx: ordr.map(str::to_owned),
        good_name: Some("포인트".into()),
        pay_method: Some("CARD".into()),
    }
}

pub async fn bank_purchases_are_decided_once(s: Arc<dyn Store>) {
    credited(&*s, "u1", 0).await;
    let key = IdempotencyKey {
        user_id: "u1".into(),
        scope: "points.purchase",
        key: "k".into(),
        request_hash: "h".into(),
    };
    let p = s
        .create_purchase(new_purchase("u1", PurchaseMethod::Bank, 5000, None), Some(key.clone()), Millis(1))
        .await;
    let p = p.expect("purchase");
    assert!(!p.is_replay());
    let p = p.into_inner();
    assert_eq!(p.status, PurchaseStatus::Pending);
    let again =
        s.create_purchase(new_purchase("u1", PurchaseMethod::Bank, 5000, None), Some(key), Millis(2)).await;
    assert_eq!(
        again.expect("replay").into_inner().purchase_id,
        p.purchase_id,
        "the key replays the purchase"
    );
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = s.clone();
        let id = p.purchase_id;
        tasks.push(tokio::spawn(async move { s.decide_bank_purchase(id, true, audit(), Millis(3)).await }));
    }
    let won = winners(tasks, Conflict::AlreadyProcessed).await;
    assert!(won.iter().all(|p| p.status == PurchaseStatus::Approved));
    assert_eq!(won.len(), 1, "one of 50 approves, 49 are refused");
    assert_eq!(s.balance("u1").await.expect("balance"), Some(Points(5000)));
    let r = s.create_purchase(new_purchase("u1", PurchaseMethod::Bank, 700, None), None, Millis(4)).await;
    let r = r.expect("second").into_inner();
    let rejected = s.decide_bank_purchase(r.purchase_id, false, audit(), Millis(5)).await.expect("reject");
    assert_eq!(rejected.status, PurchaseStatus::Rejected);
    assert!(matches!(
        s.decide_bank_purchase(r.purchase_id, true, audit(), Millis(6)).await,
        Err(StoreError::Conflict(Conflict::AlreadyProcessed))
    ));
    assert!(matches!(
        s.decide_bank_purchase(PurchaseId(9999), true, audit(), Millis(6)).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(s.balance("u1").await.expect("balance"), Some(Points(5000)));
    let pending = PurchaseFilter { status: Some(PurchaseStatus::Pending), limit: 50, ..Default::default() };
    assert_eq!(s.purchases(pending).await.expect("list").total, 0);
    let bank = PurchaseFilter {
        method: Some(PurchaseMethod::Bank),
        user_id: Some("u1".into()),
        limit: 50,
        ..Default::default()
    };
    assert_eq!(s.purchases(bank).await.expect("list").total, 2);
    assert_consistent(&*s).await;
}

pub async fn kcp_approvals_credit_once(s: Arc<dyn Store>) {
    credited(&*s, "u1", 0).await;
    let kcp = |ordr: &str, amount| new_purchase("u1", PurchaseMethod::Kcp, amount, Some(ordr));
    let a = s.create_purchase(kcp("POINT_A", 10_000), None, Millis(1)).await.expect("a").into_inner();
    assert_eq!(a.status, PurchaseStatus::KcpRegistered);
    assert!(matches!(
        s.create_purchase(kcp("POINT_A", 1), None, Millis(1)).await,
        Err(StoreError::Conflict(Conflict::OrdrIdxxTaken))
    ));
    let a = s
        .record_registration(a.purchase_id, "key", "https://pay", "T0000TRACE", Millis(2))
        .await
        .expect("registered");
    assert_eq!(a.approval_key.as_deref(), Some("key"));
    // Twenty concurrent approvals: one moves it to approving.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move { s.begin_approval("POINT_A", Millis(3)).await }));
    }
    let mut winners = 0;
    for t in tasks {
        if t.await.expect("task").expect("begin").is_some() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
    let approved = ApprovalOutcome::Approved { tno: "23732987373372".into(), amount: 10_000 };
    let a = s.settle_approval(a.purchase_id, &approved, Millis(4)).await.expect("settle");
    assert_eq!((a.status, a.tno.as_deref()), (PurchaseStatus::Approved, Some("23732987373372")));
    assert!(matches!(
        s.settle_approval(a.purchase_id, &approved, Millis(5)).await,
        Err(StoreError::Conflict(Conflict::AlreadyProcessed))
    ));
    assert_eq!(s.balance("u1").await.expect("balance"), Some(Points(10_000)));
    // The same tno on another purchase is refused; a mismatch credits nothing.
    let b = s.create_purchase(kcp("POINT_B", 500), None, Millis(6)).await.expect("b").into_inner();
    s.begin_approval("POINT_B", Millis(7)).await.expect("begin").expect("won");
    assert!(matches!(
        s.settle_approval(b.purchase_id, &approved, Millis(8)).await,
        Err(StoreError::Conflict(Conflict::DuplicateTno))
    ));
    let mismatch = ApprovalOutcome::AmountMismatch { tno: Some("11111111111111".into()), amount: Some(1) };
    let b = s.settle_approval(b.purchase_id, &mismatch, Millis(9)).await.expect("mismatch");
    assert_eq!(b.status, PurchaseStatus::AmountMismatch);
    let c = s.create_purchase(kcp("POINT_C", 300), None, Millis(10)).await.expect("c").into_inner();
    s.begin_approval("POINT_C", Millis(11)).await.expect("begin").expect("won");
    let d = s.create_purchase(kcp("POINT_D", 300), None, Millis(12)).await.expect("d").into_inner();
    let d = s
        .end_registration(d.purchase_id, PurchaseStatus::Canceled, "3001", "user canceled", Millis(13))
        .await
        .expect("cancel");
    assert_eq!(d.status, PurchaseStatus::Canceled);
    assert!(
        s.begin_approval("POINT_D", Millis(14)).await.expect("begin").is_none(),
        "a canceled purchase is never approved"
    );
    assert_eq!(s.balance("u1").await.expect("balance"), Some(Points(10_000)));
    // Attention: the mismatch, and C approving since 11 (older than 20).
    let attention = PurchaseFilter { attention_before: Some(Millis(20)), limit: 50, ..Default::default() };
    let ids: Vec<PurchaseId> =
        s.purchases(attention).await.expect("list").rows.iter().map(|p| p.purchase_id).collect();
    assert_eq!(ids, [c.purchase_id, b.purchase_id]);
    let recent = PurchaseFilter { attention_before: Some(Millis(5)), limit: 50, ..Default::default() };
    assert_eq!(s.purchases(recent).await.expect("list").total, 1, "C is not old enough yet");
    assert_eq!(
        s.purchase_by_ordr("POINT_C").await.expect("by ordr").map(|p| p.status),
        Some(PurchaseStatus::Approving)
    );
    assert_consistent(&*s).await;
}

pub async fn parts_run_in_order_and_once(s: Arc<dyn Store>) {
    use snspmt_core::plan::{self, Step};
    credited(&*s, "u1", 100_000).await;
    let svc = s.create_service(new_service("1"), audit(), Millis(1)).await.expect("service").service_id;
    let steps =
        [Step { service_id: svc, quantity: 100, delay_minutes: Some(10), repeat: 3, name: "s".into() }];
    let parts = plan::package_parts(&steps, Points(301)).expect("plan");
    let mut order = new_order("u1", svc, 301, 0);
    order.quantity = 300;
    for _ in 0..40 {
        s.place_multipart_order(
            order.clone(),
            None,
            Some(3),
            parts.clone(),
            Some(Millis(0)),
            None,
            Millis(0),
        )
        .await
        .expect("placed");
    }
    // Eight claimers at once: each first part is handed out once.
    let all = claimed_by_eight(&s, |s| async move {
        s.claim_due_parts(Millis(5), 3, None).await.expect("claim").into_iter().map(|p| p.part_id).collect()
    })
    .await;
    assert_eq!(all.len(), 40);
    // Settle one order's parts: accepted, then rejected (its share back), then unknown.
    let first = *all.iter().min().expect("a part");
    let o = s
        .settle_part_submission(first, SubmissionOutcome::Accepted { smm_order_id: "9".into() }, Millis(100))
        .await;
    let order_id = o.expect("accepted").order_id;
    assert!(matches!(
        s.settle_part_submission(
            first,
            SubmissionOutcome::Accepted { smm_order_id: "9".into() },
            Millis(100)
        )
        .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        s.claim_due_parts(Millis(100 + 10 * 60_000 - 1), 100, None).await.expect("claim").is_empty(),
        "not before its delay"
    );
    let second = s.claim_due_parts(Millis(100 + 10 * 60_000), 100, None).await.expect("claim");
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].order_id, order_id);
    let rejected = SubmissionOutcome::Rejected { message: "Incorrect link".into() };
    let o = s.settle_part_submission(second[0].part_id, rejected, Millis(700_000)).await.expect("rejected");
    assert_eq!((o.status, o.refunded_amount), (OrderStatus::Processing, Points(100)));
    let third = s.claim_due_parts(Millis(700_000 + 10 * 60_000), 100, None).await.expect("claim");
    let o = s.settle_part_submission(
        third[0].part_id,
        SubmissionOutcome::Unknown { message: "timeout".into() },
        Millis(2_000_000),
    );
    assert_eq!(o.await.expect("unknown").status, OrderStatus::Processing, "an unknown part keeps it open");
    let parts = s.order_parts(order_id).await.expect("parts");
    assert_eq!(parts.iter().map(|p| p.state.as_str()).collect::<Vec<_>>(), ["accepted", "ended", "unknown"]);
    // The accepted part completes; the order stays open while one part is unknown.
    let done = StatusUpdate {
        settlement: Settlement { status: OrderStatus::Completed, refund: Points(0) },
        start_count: None,
        remains: Some(0),
        charge: None,
    };
    let o = s
        .apply_part_status(first, done.clone(), Millis(3_000_000))
        .await
        .expect("apply")
        .expect("was accepted");
    assert_eq!(o.status, OrderStatus::Processing);
    assert!(
        s.apply_part_status(first, done, Millis(3_000_001)).await.expect("apply").is_none(),
        "settled once"
    );
    assert_consistent(&*s).await;
}

fn social(provider: &'static str, subject: &str, email: Option<&str>, new_id: &str) -> SocialLogin {
    SocialLogin {
        provider,
        subject: subject.into(),
        verified_email: email.map(str::to_owned),
        new_user: new_user(new_id, Some("ignored@example.com")),
    }
}

fn email_token(hash: &str, user: &str, email: &str, expires_at: i64) -> EmailToken {
    EmailToken {
        token_hash: hash.into(),
        user_id: user.into(),
        email: email.into(),
        created_at: Millis(1),
        expires_at: Millis(expires_at),
    }
}

pub async fn social_logins_link_by_identity_and_verified_email_only(s: Arc<dyn Store>) {
    s.create_user(new_user("alice", Some("alice@example.com")), Millis(1)).await.expect("alice");
    // No verified e-mail: a new account, even though the id looks like someone's.
    let (u, how) = s.social_login(social("kakao", "100", None, "k_100"), Millis(2)).await.expect("login");
    assert_eq!((u.user_id.as_str(), u.email.as_deref(), how), ("k_100", None, SocialLink::Created));
    let (u, how) = s.social_login(social("kakao", "100", None, "k_other"), Millis(3)).await.expect("again");
    assert_eq!((u.user_id.as_str(), how), ("k_100", SocialLink::Known), "found by the identity");
    // Alice's address is only claimed: a provider's verified login of it links nothing and
    // gets an account of its own, without the address.
    let (u, how) = s
        .social_login(social("google", "g-0", Some("alice@example.com"), "g_0"), Millis(3))
        .await
        .expect("g0");
    assert_eq!((u.user_id.as_str(), u.email.as_deref(), how), ("g_0", None, SocialLink::Created));
    s.create_email_token(email_token("h-alice", "alice", "alice@example.com", 1_000)).await.expect("token");
    let alice = s.verify_email("h-alice", Millis(3)).await.expect("verify").expect("verified");
    assert!(alice.email_verified);
    // A verified e-mail of an existing (verified) account links to it, once.
    let (u, how) = s
        .social_login(social("google", "g-1", Some("alice@example.com"), "g_1"), Millis(4))
        .await
        .expect("g");
    assert_eq!((u.user_id.as_str(), how), ("alice", SocialLink::LinkedByEmail));
    let (u, how) = s.social_login(social("google", "g-1", None, "g_1b"), Millis(5)).await.expect("g again");
    assert_eq!((u.user_id.as_str(), how), ("alice", SocialLink::Known));
    // Another Google identity with the same address cannot take alice's account.
    let (u, how) = s
        .social_login(social("google", "g-2", Some("alice@example.com"), "g_2"), Millis(6))
        .await
        .expect("g2");
    assert_eq!((u.user_id.as_str(), u.email.as_deref(), how), ("g_2", None, SocialLink::Created));
    // A verified address nobody has becomes the new account's.
    let (u, _) =
        s.social_login(social("kakao", "200", Some("new@example.com"), "k_200"), Millis(7)).await.expect("k");
    assert_eq!((u.email.as_deref(), u.email_verified), (Some("new@example.com"), true));
    assert_eq!(s.user("alice").await.expect("user").map(|u| u.points), Some(Points(0)));
}

pub async fn email_tokens_are_single_use_and_expire(s: Arc<dyn Store>) {
    s.create_user(new_user("bob", Some("bob@example.com")), Millis(1)).await.expect("bob");
    assert_eq!(s.user("bob").await.expect("user").map(|u| u.email_verified), Some(false));
    s.create_email_token(email_token("t1", "bob", "bob@example.com", 100)).await.expect("t1");
    s.create_email_token(email_token("t2", "bob", "bob@example.com", 100)).await.expect("t2");
    assert!(s.verify_email("t1", Millis(10)).await.expect("t1").is_none(), "replaced by t2");
    assert!(s.verify_email("t2", Millis(100)).await.expect("t2").is_none(), "expired");
    assert!(s.verify_email("never", Millis(10)).await.expect("unknown").is_none());
    // A token for an address the user no longer has proves nothing.
    s.create_email_token(email_token("t3", "bob", "bob@example.com", 1_000)).await.expect("t3");
    let patch = ProfilePatch { email: Some(Some("bob2@example.com".into())), ..ProfilePatch::default() };
    s.update_user("bob", patch, None, audit(), Millis(20)).await.expect("update");
    assert!(s.verify_email("t3", Millis(30)).await.expect("t3").is_none());
    s.create_email_token(email_token("t4", "bob", "bob2@example.com", 1_000)).await.expect("t4");
    let bob = s.verify_email("t4", Millis(40)).await.expect("t4").expect("verified");
    assert_eq!((bob.email.as_deref(), bob.email_verified), (Some("bob2@example.com"), true));
    assert!(s.verify_email("t4", Millis(41)).await.expect("again").is_none(), "single use");
    assert_eq!(s.user("bob").await.expect("user").map(|u| u.email_verified), Some(true));
}

pub async fn concurrent_first_social_logins_make_one_account(s: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.social_login(social("kakao", "777", None, &format!("k_{i}")), Millis(1)).await
        }));
    }
    let won = winners(tasks, Conflict::IdentityTaken).await;
    let ids: std::collections::BTreeSet<String> = won.into_iter().map(|(u, _)| u.user_id).collect();
    assert_eq!(ids.len(), 1, "one account for one identity: {ids:?}");
    let (u, how) = s.social_login(social("kakao", "777", None, "k_late"), Millis(2)).await.expect("later");
    assert_eq!((Some(u.user_id), how), (ids.into_iter().next(), SocialLink::Known));
}

pub async fn oauth_states_are_single_use_and_expire(s: Arc<dyn Store>) {
    s.create_oauth_state("h1", "google", Millis(10), Millis(100)).await.expect("state");
    s.create_oauth_state("h2", "google", Millis(10), Millis(100)).await.expect("state");
    assert!(!s.consume_oauth_state("h1", "kakao", Millis(20)).await.expect("other provider"));
    assert!(s.consume_oauth_state("h1", "google", Millis(20)).await.expect("first use"));
    assert!(!s.consume_oauth_state("h1", "google", Millis(21)).await.expect("second use"));
    assert!(!s.consume_oauth_state("h2", "google", Millis(100)).await.expect("expired"));
    assert!(!s.consume_oauth_state("never", "google", Millis(20)).await.expect("unknown"));
}

fn notice(title: &str, active: bool, starts: Option<i64>, ends: Option<i64>) -> NewNotice {
    NewNotice {
        title: title.into(),
        content: format!("about {title}"),
        image_url: None,
        popup_type: "modal".into(),
        is_active: active,
        starts_at: starts.map(Millis),
        ends_at: ends.map(Millis),
        login_popup_image_url: None,
    }
}

pub async fn notices_show_inside_their_window(s: Arc<dyn Store>) {
    let always = s.create_notice(notice("always", true, None, None), audit(), Millis(1)).await.expect("n");
    let window =
        s.create_notice(notice("window", true, Some(100), Some(200)), audit(), Millis(2)).await.expect("n");
    s.create_notice(notice("off", false, None, None), audit(), Millis(3)).await.expect("n");
    let titles = |ns: Vec<snspmt_store::Notice>| ns.into_iter().map(|n| n.title).collect::<Vec<_>>();
    assert_eq!(titles(s.active_notices(Millis(50)).await.expect("active")), ["always"]);
    assert_eq!(titles(s.active_notices(Millis(100)).await.expect("active")), ["window", "always"]);
    assert_eq!(
        titles(s.active_notices(Millis(200)).await.expect("active")),
        ["always"],
        "ends_at is exclusive"
    );
    let mut changed = notice("always, edited", false, None, None);
    changed.image_url = Some("/uploads/x.png".into());
    let edited = s.update_notice(always.notice_id, changed, audit(), Millis(5)).await.expect("update");
    assert_eq!(
        (edited.is_active, edited.image_url.as_deref(), edited.updated_at),
        (false, Some("/uploads/x.png"), Millis(5))
    );
    assert_eq!(titles(s.active_notices(Millis(150)).await.expect("active")), ["window"]);
    s.delete_notice(window.notice_id, audit(), Millis(6)).await.expect("delete");
    assert!(matches!(s.delete_notice(window.notice_id, audit(), Millis(7)).await, Err(StoreError::NotFound)));
    assert!(matches!(
        s.update_notice(9999, notice("x", true, None, None), audit(), Millis(7)).await,
        Err(StoreError::NotFound)
    ));
    assert!(s.notice(window.notice_id).await.expect("notice").is_none());
    assert_eq!(s.notices(50, 0).await.expect("list").total, 2);
    // Create, update and two deletes (one refused) were audited; the refused ones were not.
    assert_eq!(s.audit_log(50, 0).await.expect("audit").total, 5);
}

fn post(title: &str, category: &str, tags: &[&str], published: bool) -> NewPost {
    NewPost {
        title: title.into(),
        content: format!("content of {title}"),
        excerpt: String::new(),
        category: category.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        thumbnail_url: None,
        is_published: published,
    }
}

pub async fn blog_posts_filter_count_and_publish(s: Arc<dyn Store>) {
    let a = s
        .create_post(post("Instagram 100% growth", "sns", &["insta", "tips"], true), audit(), Millis(1))
        .await;
    let a = a.expect("a");
    assert_eq!((a.published_at, a.tags.len()), (Some(Millis(1)), 2));
    let b =
        s.create_post(post("YouTube views", "video", &["tips"], true), audit(), Millis(2)).await.expect("b");
    let draft =
        s.create_post(post("Secret draft", "sns", &["insta"], false), audit(), Millis(3)).await.expect("c");
    assert_eq!(draft.published_at, None);
    let public = |search: Option<&str>, category: Option<&str>, tag: Option<&str>| PostFilter {
        published_only: true,
        search: search.map(str::to_owned),
        category: category.map(str::to_owned),
        tag: tag.map(str::to_owned),
        limit: 50,
        offset: 0,
    };
    let ids =
        |p: snspmt_store::Page<snspmt_store::Post>| p.rows.iter().map(|p| p.post_id).collect::<Vec<_>>();
    assert_eq!(ids(s.posts(public(None, None, None)).await.expect("list")), [b.post_id, a.post_id]);
    assert_eq!(ids(s.posts(public(Some("youtube"), None, None)).await.expect("search")), [b.post_id]);
    assert_eq!(ids(s.posts(public(Some("100%"), None, None)).await.expect("literal %")), [a.post_id]);
    assert_eq!(ids(s.posts(public(Some("0%g"), None, None)).await.expect("literal %")), Vec::<i64>::new());
    // A filter with NUL matches nothing, on both backends.
    for (search, category, tag) in
        [(Some("You\0"), None, None), (None, Some("sns\0"), None), (None, None, Some("\0"))]
    {
        let page = s.posts(public(search, category, tag)).await.expect("NUL filter");
        assert_eq!((page.total, page.rows.len()), (0, 0));
    }
    assert_eq!(ids(s.posts(public(None, Some("sns"), None)).await.expect("category")), [a.post_id]);
    assert_eq!(ids(s.posts(public(None, None, Some("insta"))).await.expect("tag")), [a.post_id]);
    let all = PostFilter { limit: 1, offset: 1, ..Default::default() };
    let page = s.posts(all).await.expect("admin list");
    assert_eq!((page.total, ids(page)), (3, vec![b.post_id]));
    let cats: Vec<(String, i64)> =
        s.blog_categories().await.expect("cats").into_iter().map(|c| (c.name, c.count)).collect();
    assert_eq!(cats, [("sns".to_owned(), 1), ("video".to_owned(), 1)]);
    let tags: Vec<(String, i64)> =
        s.blog_tags().await.expect("tags").into_iter().map(|c| (c.name, c.count)).collect();
    assert_eq!(tags, [("insta".to_owned(), 1), ("tips".to_owned(), 2)]);
    // Views count only on published posts.
    assert!(s.view_post(draft.post_id).await.expect("view").is_none());
    s.view_post(a.post_id).await.expect("view").expect("published");
    assert_eq!(s.view_post(a.post_id).await.expect("view").map(|p| p.view_count), Some(2));
    // Publishing the draft, changing its tags.
    let published =
        s.update_post(draft.post_id, post("Now public", "sns", &["new"], true), audit(), Millis(9)).await;
    let published = published.expect("update");
    assert_eq!((published.published_at, published.tags.clone()), (Some(Millis(9)), vec!["new".to_owned()]));
    let tags: Vec<String> = s.blog_tags().await.expect("tags").into_iter().map(|c| c.name).collect();
    assert_eq!(tags, ["insta", "new", "tips"]);
    s.delete_post(a.post_id, audit(), Millis(10)).await.expect("delete");
    assert!(matches!(s.delete_post(a.post_id, audit(), Millis(11)).await, Err(StoreError::NotFound)));
    assert!(matches!(
        s.update_post(a.post_id, post("x", "", &[], true), audit(), Millis(11)).await,
        Err(StoreError::NotFound)
    ));
    assert!(s.blog_post(a.post_id).await.expect("post").is_none());
    let tags: Vec<String> = s.blog_tags().await.expect("tags").into_iter().map(|c| c.name).collect();
    assert_eq!(tags, ["new", "tips"]);
}

pub async fn dashboard_stats_come_from_the_ledger(s: Arc<dyn Store>) {
    let empty = s.dashboard_stats(Millis(0), Millis(0)).await.expect("stats");
    assert_eq!(empty, snspmt_store::DashboardStats::default());
    credited(&*s, "u1", 10_000).await;
    credited(&*s, "u2", 0).await;
    let svc = s.create_service(new_service("1"), audit(), Millis(1)).await.expect("service").service_id;
    s.place_order(new_order("u1", svc, 1000, 10), None, Millis(10)).await.expect("old order");
    let late =
        s.place_order(new_order("u1", svc, 300, 100), None, Millis(100)).await.expect("new").into_inner();
    s.place_order(new_order("u1", svc, 200, 150), None, Millis(150)).await.expect("newer");
    s.cancel_order(late.order_id, Millis(160)).await.expect("refund");
    s.create_purchase(new_purchase("u2", PurchaseMethod::Bank, 5000, None), None, Millis(170))
        .await
        .expect("pending");
    let stats = s.dashboard_stats(Millis(100), Millis(50)).await.expect("stats");
    assert_eq!(stats.total_users, 2);
    assert_eq!(stats.total_orders, 3);
    assert_eq!(stats.total_revenue, 1200, "1000 + 300 + 200 charged, 300 refunded");
    assert_eq!(stats.pending_purchases, 1);
    assert_eq!(stats.today_orders, 2);
    assert_eq!(stats.today_revenue, 200);
    assert_eq!(stats.monthly_sales, 200);
    let stats = s.dashboard_stats(Millis(155), Millis(5)).await.expect("stats");
    assert_eq!((stats.today_orders, stats.today_revenue, stats.monthly_sales), (0, -300, 1200));
}

// --- referral programme -------------------------------------------------------------------

const DAY: i64 = 24 * 60 * 60 * 1000;

fn referral_coupon(now: i64) -> UserCoupon {
    UserCoupon {
        id: 0,
        user_id: String::new(),
        coupon_id: None,
        source: "referral".into(),
        code: "REFERRAL".into(),
        name: "추천인 쿠폰 5%".into(),
        discount_type: DiscountType::Percentage,
        discount_value: 5,
        min_order_amount: Points(0),
        valid_from: Some(Millis(now)),
        expires_at: Some(Millis(now + 30 * DAY)),
        is_active: true,
        is_used: false,
        used_order_id: None,
        created_at: Millis(now),
    }
}

fn withdrawal(user: &str, amount: i64) -> NewWithdrawal {
    NewWithdrawal {
        user_id: user.into(),
        amount: Points(amount),
        bank_name: "국민은행".into(),
        account_number: "123-456".into(),
        account_holder: "홍길동".into(),
    }
}

/// A referrer `a` (code `REFAAAAAAAA` at `bps`) and a referred `b` with 100,000 points, and a
/// service; answers the service id and b's referral coupon.
async fn referred_pair(s: &dyn Store, bps: u32) -> (i64, UserCoupon) {
    credited(s, "a", 0).await;
    credited(s, "b", 100_000).await;
    let a = s.register_referrer("a", "REFAAAAAAAA", Bps(bps), audit(), Millis(1)).await.expect("register");
    assert_eq!(a.map(|r| r.code), Some("REFAAAAAAAA".into()));
    let coupon =
        s.use_referral_code("b", "REFAAAAAAAA", referral_coupon(10), Millis(10)).await.expect("use code");
    let svc = s.create_service(new_service("1"), audit(), Millis(1)).await.expect("service").service_id;
    (svc, coupon)
}

/// Runs an order through submission and the upstream's final status.
async fn settle(s: &dyn Store, order_id: OrderId, settlement: Settlement, now: i64) {
    let job = s.claim_order_job(order_id, Millis(now)).await.expect("claim").expect("due");
    let accepted = SubmissionOutcome::Accepted { smm_order_id: format!("u{order_id}") };
    s.settle_submission(job.job_id, accepted, Millis(now)).await.expect("accepted");
    let update = StatusUpdate { settlement, start_count: None, remains: None, charge: None };
    s.apply_status(order_id, update, Millis(now)).await.expect("apply").expect("in progress");
}

async fn assert_book_agrees(s: &dyn Store, user: &str) {
    let r = s.referrer(user).await.expect("referrer").expect("exists");
    let entries = s.commission_entries(user, 200, 0).await.expect("entries");
    let sum: i64 = entries.rows.iter().map(|e| e.amount.0).sum();
    assert_eq!(Points(sum), r.balance(), "balance = sum of the commission transactions");
    assert_eq!(entries.rows.first().map_or(0, |e| e.balance_after.0), r.balance().0);
    assert!(r.balance().0 >= 0 && r.reserved.0 >= 0);
    let paid: i64 =
        s.payouts(Some(user), 200, 0).await.expect("payouts").rows.iter().map(|p| p.amount.0).sum();
    assert_eq!(Points(paid), r.paid);
}

pub async fn referral_codes_and_coupons_are_issued_once(s: Arc<dyn Store>) {
    let (_, coupon) = referred_pair(&*s, 1000).await;
    assert_eq!((coupon.user_id.as_str(), coupon.discount_value, coupon.is_used), ("b", 5, false));
    // Registering again answers the same code, whatever code is offered.
    let again =
        s.register_referrer("a", "REFBBBBBBBB", Bps(5), audit(), Millis(2)).await.expect("again").expect("a");
    assert_eq!((again.code.as_str(), again.commission_rate), ("REFAAAAAAAA", Bps(1000)));
    // Someone else cannot take a code in use: None, draw another.
    credited(&*s, "c", 0).await;
    assert!(s
        .register_referrer("c", "REFAAAAAAAA", Bps(1000), audit(), Millis(3))
        .await
        .expect("collision")
        .is_none());
    s.register_referrer("c", "REFCCCCCCCC", Bps(1000), audit(), Millis(3)).await.expect("c").expect("c");
    let repeat =
        s.use_referral_code("b", "REFAAAAAAAA", referral_coupon(20), Millis(20)).await.expect("repeat");
    assert_eq!(repeat.id, coupon.id, "the same coupon, nothing new");
    assert_eq!(s.user_coupons("b", 50, 0).await.expect("coupons").total, 1);
    for (user, code, want) in [
        ("b", "REFCCCCCCCC", "already_referred"),
        ("a", "REFAAAAAAAA", "self_referral"),
        ("c", "REFZZZZZZZZ", "invalid_code"),
    ] {
        match s.use_referral_code(user, code, referral_coupon(30), Millis(30)).await {
            Err(StoreError::Conflict(code)) => assert_eq!(code.code(), want),
            other => panic!("{user} {code}: expected {want}, got {other:?}"),
        }
    }
    assert!(s.user_coupons("a", 50, 0).await.expect("coupons").rows.is_empty());
    let a = s.referrer("a").await.expect("a").expect("a");
    assert_eq!(a.referral_count, 1);
    assert_eq!(s.referrer_by_code("REFCCCCCCCC").await.expect("c").map(|r| r.user_id), Some("c".into()));
    assert_eq!(s.referrals(Some("a"), 50, 0).await.expect("referrals").total, 1);
    assert_eq!(s.referrers(50, 0).await.expect("referrers").total, 2);
}

pub async fn commissions_follow_their_orders(s: Arc<dyn Store>) {
    let (svc, coupon) = referred_pair(&*s, 1000).await;
    // An order with the coupon: 10,000 − 5 % = 9,500 paid, 950 pending commission.
    let mut o = new_order("b", svc, 10_000, 100);
    o.discount_amount = Points(500);
    o.final_price = Points(9_500);
    o.coupon_id = Some(coupon.id);
    let first = s.place_order(o.clone(), None, Millis(100)).await.expect("order").into_inner();
    assert_eq!(first.commission_amount, Points(950));
    assert!(s.user_coupon(coupon.id).await.expect("coupon").expect("exists").is_used);
    assert!(matches!(
        s.place_order(o, None, Millis(101)).await,
        Err(StoreError::Conflict(Conflict::InvalidCoupon))
    ));
    assert_eq!(s.balance("b").await.expect("balance"), Some(Points(100_000 - 9_500)));
    let c = s.commissions("a", 50, 0).await.expect("commissions");
    assert_eq!(c.total, 1);
    assert_eq!(
        (c.rows[0].status, c.rows[0].rate, c.rows[0].amount),
        (CommissionStatus::Pending, Bps(1000), Points(950))
    );
    settle(&*s, first.order_id, Settlement { status: OrderStatus::Completed, refund: Points(0) }, 200).await;
    let a = s.referrer("a").await.expect("a").expect("a");
    assert_eq!((a.earned, a.balance()), (Points(950), Points(950)));
    // The rate changes for later orders only.
    s.set_commission_rate("a", Bps(2000), audit(), Millis(300)).await.expect("rate");
    let partial =
        s.place_order(new_order("b", svc, 1000, 300), None, Millis(300)).await.expect("order").into_inner();
    assert_eq!(partial.commission_amount, Points(200));
    settle(&*s, partial.order_id, Settlement { status: OrderStatus::Partial, refund: Points(250) }, 400)
        .await;
    let p = s.order(partial.order_id).await.expect("order").expect("exists");
    assert_eq!((p.refunded_amount, p.commission_amount), (Points(250), Points(150)));
    let canceled =
        s.place_order(new_order("b", svc, 1000, 500), None, Millis(500)).await.expect("order").into_inner();
    settle(&*s, canceled.order_id, Settlement { status: OrderStatus::Canceled, refund: Points(1000) }, 600)
        .await;
    let all = s.commissions("a", 50, 0).await.expect("commissions").rows;
    let by_order = |id: OrderId| all.iter().find(|c| c.order_id == id).map(|c| (c.status, c.amount, c.rate));
    assert_eq!(by_order(first.order_id), Some((CommissionStatus::Confirmed, Points(950), Bps(1000))));
    assert_eq!(by_order(partial.order_id), Some((CommissionStatus::Reduced, Points(150), Bps(2000))));
    assert_eq!(by_order(canceled.order_id), Some((CommissionStatus::Canceled, Points(0), Bps(2000))));
    // Settling again changes nothing.
    let update = StatusUpdate {
        settlement: Settlement { status: OrderStatus::Completed, refund: Points(0) },
        start_count: None,
        remains: None,
        charge: None,
    };
    assert!(s.apply_status(first.order_id, update, Millis(700)).await.expect("apply").is_none());
    let a = s.referrer("a").await.expect("a").expect("a");
    assert_eq!(a.earned, Points(950 + 150));
    let stats = s.referral_stats("a", Millis(0)).await.expect("stats");
    assert_eq!(
        (stats.total_referrals, stats.active_referrals, stats.this_month_commission),
        (1, 1, Points(1100))
    );
    let referrals = s.referrals(Some("a"), 50, 0).await.expect("referrals").rows;
    assert_eq!((referrals[0].order_count, referrals[0].commission), (3, Points(1100)));
    assert_book_agrees(&*s, "a").await;
    assert_consistent(&*s).await;
}

pub async fn a_coupon_is_used_by_one_order_under_concurrency(s: Arc<dyn Store>) {
    let (svc, coupon) = referred_pair(&*s, 1000).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = s.clone();
        let mut o = new_order("b", svc, 1000, 100 + i);
        o.discount_amount = Points(50);
        o.final_price = Points(950);
        o.coupon_id = Some(coupon.id);
        tasks.push(tokio::spawn(async move { s.place_order(o, None, Millis(100)).await }));
    }
    let used = winners(tasks, Conflict::InvalidCoupon).await.len();
    assert_eq!(used, 1, "one order gets the discount");
    assert_eq!(s.balance("b").await.expect("balance"), Some(Points(100_000 - 950)));
    assert_eq!(s.commissions("a", 50, 0).await.expect("commissions").total, 1);
    // A failed order refunded in full gives the coupon back.
    let order_id =
        s.user_coupon(coupon.id).await.expect("coupon").expect("exists").used_order_id.expect("used");
    let job = s.claim_order_job(order_id, Millis(200)).await.expect("claim").expect("due");
    let rejected = SubmissionOutcome::Rejected { message: "Incorrect link".into() };
    s.settle_submission(job.job_id, rejected, Millis(200)).await.expect("rejected");
    let back = s.user_coupon(coupon.id).await.expect("coupon").expect("exists");
    assert!(!back.is_used && back.used_order_id.is_none(), "{back:?}");
    assert_eq!(
        s.commissions("a", 50, 0).await.expect("commissions").rows[0].status,
        CommissionStatus::Canceled
    );
    assert_consistent(&*s).await;
}

pub async fn withdrawals_never_exceed_the_balance_under_concurrency(s: Arc<dyn Store>) {
    // At 100 % commission a completed order of 10,000 earns 10,000.
    let (svc, _) = referred_pair(&*s, 10_000).await;
    let o =
        s.place_order(new_order("b", svc, 10_000, 100), None, Millis(100)).await.expect("order").into_inner();
    settle(&*s, o.order_id, Settlement { status: OrderStatus::Completed, refund: Points(0) }, 100).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = s.clone();
        let key = IdempotencyKey {
            user_id: "a".into(),
            scope: "referral.withdrawal",
            key: format!("k{}", i % 10),
            request_hash: "h".into(),
        };
        tasks.push(tokio::spawn(async move {
            s.request_withdrawal(withdrawal("a", 1_500), Some(key), Millis(200)).await
        }));
    }
    let mut fresh = std::collections::HashSet::new();
    for w in winners(tasks, Conflict::InsufficientCommission).await {
        match w {
            Idempotent::Fresh(w) => assert!(fresh.insert(w.withdrawal_id)),
            Idempotent::Replay(w) => assert_eq!(w.amount, Points(1_500)),
        }
    }
    assert_eq!(fresh.len(), 6, "10 keys, 6 × 1,500 fit in 10,000");
    let a = s.referrer("a").await.expect("a").expect("a");
    assert_eq!((a.reserved, a.balance()), (Points(9_000), Points(1_000)));
    assert_book_agrees(&*s, "a").await;
    // Decisions: each once, concurrently.
    let ids: Vec<WithdrawalId> = fresh.into_iter().collect();
    let mut tasks = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        for _ in 0..3 {
            let (s, id) = (s.clone(), *id);
            let approve = i % 2 == 0;
            tasks.push(tokio::spawn(async move {
                s.decide_withdrawal(id, approve, None, audit(), Millis(300)).await
            }));
        }
    }
    assert_eq!(winners(tasks, Conflict::AlreadyProcessed).await.len(), 6);
    assert!(matches!(
        s.decide_withdrawal(WithdrawalId(999_999), true, None, audit(), Millis(300)).await,
        Err(StoreError::NotFound)
    ));
    let a = s.referrer("a").await.expect("a").expect("a");
    assert_eq!((a.paid, a.reserved, a.balance()), (Points(4_500), Points(0), Points(5_500)));
    // Manual payouts race too: 20 × 500 against 5,500 → 11 pass.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.pay_commission("a", Points(500), None, audit(), Millis(400)).await
        }));
    }
    let mut paid = 0;
    for t in tasks {
        if t.await.expect("task").is_ok() {
            paid += 1;
        }
    }
    assert_eq!(paid, 11);
    assert!(matches!(
        s.pay_commission("a", Points(-5), None, audit(), Millis(500)).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.request_withdrawal(withdrawal("a", 1_000), None, Millis(500)).await,
        Err(StoreError::Conflict(Conflict::InsufficientCommission))
    ));
    let a = s.referrer("a").await.expect("a").expect("a");
    assert_eq!((a.paid, a.balance()), (Points(10_000), Points(0)));
    let requested =
        WithdrawalFilter { status: Some(WithdrawalState::Requested), limit: 50, ..Default::default() };
    assert_eq!(s.withdrawals(requested).await.expect("list").total, 0);
    assert_book_agrees(&*s, "a").await;
}

pub async fn coupon_definitions_and_copies(s: Arc<dyn Store>) {
    credited(&*s, "u1", 0).await;
    credited(&*s, "u2", 0).await;
    let def = NewCoupon {
        code: "WELCOME".into(),
        name: "환영 쿠폰".into(),
        discount_type: DiscountType::Fixed,
        discount_value: 1000,
        min_order_amount: Points(5000),
        valid_from: None,
        valid_until: Some(Millis(1_000)),
        max_uses: Some(1),
        is_active: true,
    };
    let c = s.create_coupon(def.clone(), audit(), Millis(1)).await.expect("create");
    assert!(matches!(
        s.create_coupon(def.clone(), audit(), Millis(1)).await,
        Err(StoreError::Conflict(Conflict::CouponCodeTaken))
    ));
    let copy = s.add_coupon_by_code("u1", "WELCOME", Millis(10)).await.expect("add");
    assert_eq!(
        (copy.coupon_id, copy.expires_at, copy.min_order_amount),
        (Some(c.coupon_id), Some(Millis(1_000)), Points(5000))
    );
    assert!(matches!(
        s.add_coupon_by_code("u1", "WELCOME", Millis(10)).await,
        Err(StoreError::Conflict(Conflict::CouponAlreadyAdded))
    ));
    assert!(matches!(
        s.add_coupon_by_code("u2", "WELCOME", Millis(10)).await,
        Err(StoreError::Conflict(Conflict::CouponExhausted))
    ));
    assert!(matches!(
        s.add_coupon_by_code("u2", "NOPE", Millis(10)).await,
        Err(StoreError::Conflict(Conflict::InvalidCoupon))
    ));
    let mut more = def.clone();
    more.max_uses = None;
    s.update_coupon(c.coupon_id, more, audit(), Millis(20)).await.expect("update");
    assert!(
        matches!(
            s.add_coupon_by_code("u2", "WELCOME", Millis(1_000)).await,
            Err(StoreError::Conflict(Conflict::InvalidCoupon))
        ),
        "expired"
    );
    s.add_coupon_by_code("u2", "WELCOME", Millis(999)).await.expect("add");
    let off = s.deactivate_coupon(c.coupon_id, audit(), Millis(30)).await.expect("deactivate");
    assert!(!off.is_active);
    assert!(
        !s.user_coupon(copy.id).await.expect("copy").expect("exists").is_active,
        "withdrawn copies stop applying"
    );
    assert_eq!(s.coupons(50, 0).await.expect("list").total, 1);
    assert_eq!(s.coupon(c.coupon_id).await.expect("get").map(|c| c.issued_count), Some(2));
}

fn package_of(svc: i64, repeat: u32, delay: u32, price: i64) -> Vec<snspmt_core::plan::Part> {
    let steps = [snspmt_core::plan::Step {
        service_id: svc,
        quantity: 100,
        delay_minutes: Some(delay),
        repeat,
        name: "s".into(),
    }];
    snspmt_core::plan::package_parts(&steps, Points(price)).expect("plan")
}

async fn a_package(s: &dyn Store, svc: i64) -> i64 {
    let steps = vec![snspmt_core::plan::Step {
        service_id: svc,
        quantity: 100,
        delay_minutes: Some(1),
        repeat: 1,
        name: "s".into(),
    }];
    let p = snspmt_store::NewPackage {
        name: "p".into(),
        description: String::new(),
        price: Points(1),
        steps,
        is_active: true,
    };
    s.create_package(p, audit(), Millis(1)).await.expect("package").package_id
}

fn status_update(status: OrderStatus, refund: i64) -> StatusUpdate {
    StatusUpdate {
        settlement: Settlement { status, refund: Points(refund) },
        start_count: None,
        remains: None,
        charge: None,
    }
}

pub async fn operator_end_refunds_only_the_parts_never_submitted(s: Arc<dyn Store>) {
    credited(&*s, "u1", 10_000).await;
    let svc = s.create_service(new_service("1"), audit(), Millis(1)).await.expect("service").service_id;
    let pkg = a_package(&*s, svc).await;
    let mut order = new_order("u1", svc, 1000, 0);
    order.quantity = 400;
    let placed = s.place_multipart_order(
        order,
        Some(pkg),
        None,
        package_of(svc, 4, 1, 1000),
        Some(Millis(0)),
        None,
        Millis(0),
    );
    let order_id = placed.await.expect("placed").into_inner().order_id;
    let first = s.claim_due_parts(Millis(10), 10, None).await.expect("claim");
    assert_eq!(first.len(), 1);
    let accepted = SubmissionOutcome::Accepted { smm_order_id: "501".into() };
    let o = s.settle_part_submission(first[0].part_id, accepted, Millis(20)).await.expect("accepted");
    assert_eq!(o.status, OrderStatus::Processing);
    // The operator ends the order: the three parts never submitted give back their shares.
    let t = order::admin_transition(OrderStatus::Processing, OrderStatus::Canceled).expect("legal");
    let o = s
        .admin_set_status(order_id, OrderStatus::Processing, t, None, audit(), Millis(30))
        .await
        .expect("ended");
    assert_eq!((o.status, o.refunded_amount), (OrderStatus::Canceled, Points(750)));
    assert_eq!(s.balance("u1").await.expect("balance"), Some(Points(10_000 - 1000 + 750)));
    // Nothing more is ever submitted, however late it is.
    assert!(s.claim_due_parts(Millis(i64::MAX / 2), 100, None).await.expect("claim").is_empty());
    let (requeued, _) = s.requeue_parts(Millis(0), Millis(i64::MAX / 2)).await.expect("requeue");
    assert_eq!(requeued, 0);
    assert!(s.claim_due_parts(Millis(i64::MAX / 2), 100, None).await.expect("claim").is_empty());
    // The part in flight still settles with its own share; the order stays as the operator left it.
    let o =
        s.apply_part_status(first[0].part_id, status_update(OrderStatus::Canceled, 250), Millis(40)).await;
    let o = o.expect("applies").expect("was accepted");
    assert_eq!((o.status, o.refunded_amount), (OrderStatus::Canceled, Points(1000)));
    let states: Vec<String> = s
        .order_parts(order_id)
        .await
        .expect("parts")
        .into_iter()
        .map(|p| p.state.as_str().to_owned())
        .collect();
    assert_eq!(states, ["ended", "ended", "ended", "ended"]);
    // A second end is refused; the books agree.
    let t = order::admin_transition(OrderStatus::Processing, OrderStatus::Failed).expect("legal");
    assert!(matches!(
        s.admin_set_status(order_id, OrderStatus::Processing, t, None, audit(), Millis(50)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_consistent(&*s).await;
}

pub async fn owners_cancel_runs_that_have_not_started(s: Arc<dyn Store>) {
    credited(&*s, "u1", 10_000).await;
    let svc = s.create_service(new_service("1"), audit(), Millis(1)).await.expect("service").service_id;
    let pkg = a_package(&*s, svc).await;
    let later = 3_600_000;
    let mut scheduled = new_order("u1", svc, 900, later);
    scheduled.status = OrderStatus::Scheduled;
    scheduled.scheduled_at = Some(Millis(later));
    // A scheduled package and a scheduled split order: both cancel in full before their time.
    let package = s
        .place_multipart_order(
            scheduled.clone(),
            Some(1),
            None,
            package_of(svc, 3, 60, 900),
            Some(Millis(later)),
            None,
            Millis(0),
        )
        .await
        .expect("package")
        .into_inner();
    let split_parts = snspmt_core::plan::split_parts(svc, 3, 100, Points(900)).expect("split");
    let split = s
        .place_multipart_order(scheduled, None, Some(3), split_parts, Some(Millis(later)), None, Millis(0))
        .await
        .expect("split")
        .into_inner();
    for order_id in [package.order_id, split.order_id] {
        let o = s.cancel_order(order_id, Millis(10)).await.expect("canceled");
        assert_eq!((o.status, o.refunded_amount), (OrderStatus::Canceled, Points(900)));
        assert!(matches!(s.cancel_order(order_id, Millis(11)).await, Err(StoreError::Conflict(_))), "once");
    }
    assert_eq!(s.balance("u1").await.expect("balance"), Some(Points(10_000)));
    assert!(
        s.claim_due_parts(Millis(later * 10), 100, None).await.expect("claim").is_empty(),
        "nothing runs"
    );
    // The operator may cancel a scheduled run too (in full: nothing was submitted).
    let mut again = new_order("u1", svc, 600, later);
    again.status = OrderStatus::Scheduled;
    let third = s
        .place_multipart_order(
            again,
            Some(pkg),
            None,
            package_of(svc, 2, 60, 600),
            Some(Millis(later)),
            None,
            Millis(20),
        )
        .await
        .expect("third")
        .into_inner();
    let t = order::admin_transition(OrderStatus::Scheduled, OrderStatus::Canceled).expect("legal");
    let o = s
        .admin_set_status(third.order_id, OrderStatus::Scheduled, t, None, audit(), Millis(30))
        .await
        .expect("ended");
    assert_eq!((o.status, o.refunded_amount), (OrderStatus::Canceled, Points(600)));
    // Once a part reached the upstream, the owner can no longer cancel.
    let mut now_order = new_order("u1", svc, 500, 0);
    now_order.quantity = 200;
    let started = s
        .place_multipart_order(
            now_order,
            Some(pkg),
            None,
            package_of(svc, 2, 60, 500),
            Some(Millis(0)),
            None,
            Millis(40),
        )
        .await
        .expect("started")
        .into_inner();
    let claimed = s.claim_due_parts(Millis(50), 10, None).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    assert!(matches!(s.cancel_order(started.order_id, Millis(60)).await, Err(StoreError::Conflict(_))));
    assert_consistent(&*s).await;
}

pub async fn sync_failures_are_recorded_and_move_behind(s: Arc<dyn Store>) {
    credited(&*s, "u1", 10_000).await;
    let svc = s.create_service(new_service("1"), audit(), Millis(1)).await.expect("service").service_id;
    let mut ids = Vec::new();
    for i in 0..3 {
        let o =
            s.place_order(new_order("u1", svc, 100, 1), None, Millis(1)).await.expect("order").into_inner();
        let job = s.claim_order_job(o.order_id, Millis(2)).await.expect("claim").expect("due");
        let accepted = SubmissionOutcome::Accepted { smm_order_id: format!("{}", 900 + i) };
        s.settle_submission(job.job_id, accepted, Millis(3)).await.expect("accepted");
        ids.push(o.order_id);
    }
    s.touch_status_checks(&ids, Millis(10)).await.expect("touch");
    s.record_sync_failure(ids[0], None, "the panel said Partial with remains \"abc\"\u{0}", Millis(20))
        .await
        .expect("recorded");
    let targets = s.orders_to_sync(3, None).await.expect("targets");
    assert_eq!(
        targets.iter().map(|t| t.order_id).collect::<Vec<_>>(),
        [ids[1], ids[2], ids[0]],
        "moved behind"
    );
    let o = s.order(ids[0]).await.expect("order").expect("exists");
    assert_eq!(o.status, OrderStatus::InProgress, "still open");
    assert_eq!(o.refunded_amount, Points(0));
    let error = o.error.expect("the error is kept for the operator");
    assert!(error.contains("abc") && !error.contains('\u{0}'), "{error:?}");
}

pub async fn upstream_text_is_cleaned_before_it_is_stored(s: Arc<dyn Store>) {
    credited(&*s, "u1", 10_000).await;
    let svc = s.create_service(new_service("1"), audit(), Millis(1)).await.expect("service").service_id;
    let o = s.place_order(new_order("u1", svc, 700, 1), None, Millis(1)).await.expect("order").into_inner();
    let job = s.claim_order_job(o.order_id, Millis(2)).await.expect("claim").expect("due");
    let rejected = SubmissionOutcome::Rejected { message: "bad\u{0}link\u{7}".into() };
    let failed = s.settle_submission(job.job_id, rejected, Millis(3)).await.expect("settled, not stuck");
    assert_eq!((failed.status, failed.refunded_amount), (OrderStatus::Failed, Points(700)));
    assert_eq!(failed.error.as_deref(), Some("badlink"));
    let o = s.place_order(new_order("u1", svc, 300, 1), None, Millis(4)).await.expect("order").into_inner();
    let job = s.claim_order_job(o.order_id, Millis(5)).await.expect("claim").expect("due");
    let accepted = SubmissionOutcome::Accepted { smm_order_id: "12\u{0}3".into() };
    let running = s.settle_submission(job.job_id, accepted, Millis(6)).await.expect("accepted");
    assert_eq!(running.smm_panel_order_id.as_deref(), Some("123"));
    let mut update = status_update(OrderStatus::InProgress, 0);
    update.charge = Some("0.1\u{0}".into());
    let o = s.apply_status(o.order_id, update, Millis(7)).await.expect("apply").expect("in progress");
    assert_eq!(o.charge.as_deref(), Some("0.1"));
    assert_consistent(&*s).await;
}

// ---- api keys (issue 14) ----

fn new_key(id: &str, user: &str, hash: &str) -> snspmt_store::NewApiKey {
    snspmt_store::NewApiKey {
        key_id: id.into(),
        user_id: user.into(),
        key_hash: hash.into(),
        prefix: format!("snsp_{id}"),
        name: format!("key {id}"),
    }
}

pub async fn api_keys_are_looked_up_by_hash_rotated_and_revoked(s: Arc<dyn Store>) {
    credited(&*s, "ann", 500).await;
    credited(&*s, "bob", 0).await;
    let k = s
        .create_api_key(new_key("k1", "ann", "h1"), 10, Millis(5))
        .await
        .expect("create")
        .expect("under the cap");
    assert_eq!(
        (k.key_id.as_str(), k.created_at, k.last_used_at, k.revoked_at),
        ("k1", Millis(5), None, None)
    );
    assert!(matches!(
        s.create_api_key(new_key("k2", "nobody", "h2"), 10, Millis(5)).await,
        Err(StoreError::NotFound)
    ));
    assert!(s.create_api_key(new_key("k3", "ann", "h1"), 10, Millis(5)).await.is_err(), "hashes are unique");

    let owner = s.api_key_owner("h1").await.expect("lookup").expect("live");
    assert_eq!(
        (owner.user.user_id.as_str(), owner.user.points, owner.api_enabled),
        ("ann", Points(500), true)
    );
    assert!(s.api_key_owner("k1").await.expect("lookup").is_none(), "by hash only");
    s.touch_api_key("k1", Millis(9)).await.expect("touch");
    assert_eq!(s.api_keys("ann").await.expect("list")[0].last_used_at, Some(Millis(9)));

    // Rotation: same id, new hash; the old hash finds nothing. Only the owner rotates.
    assert!(s.rotate_api_key("bob", "k1", "h9", "p", Millis(10)).await.expect("rotate").is_none());
    let r =
        s.rotate_api_key("ann", "k1", "h1b", "snsp_new", Millis(10)).await.expect("rotate").expect("ann's");
    assert_eq!((r.key_id.as_str(), r.prefix.as_str(), r.created_at), ("k1", "snsp_new", Millis(5)));
    assert!(s.api_key_owner("h1").await.expect("lookup").is_none());
    assert!(s.api_key_owner("h1b").await.expect("lookup").is_some());

    // The operator's switch, audited.
    s.set_api_access("ann", false, audit(), Millis(11)).await.expect("off");
    assert!(!s.api_key_owner("h1b").await.expect("lookup").expect("still live").api_enabled);
    assert!(matches!(
        s.set_api_access("nobody", false, audit(), Millis(11)).await,
        Err(StoreError::NotFound)
    ));
    s.set_api_access("ann", true, audit(), Millis(12)).await.expect("on");
    assert_eq!(s.audit_log(10, 0).await.expect("audit").total, 2);

    // Revocation: not by another user; by the owner once; by the operator with an audit row.
    assert!(s.revoke_api_key("k1", Some("bob"), None, Millis(13)).await.expect("revoke").is_none());
    let gone = s.revoke_api_key("k1", Some("ann"), None, Millis(13)).await.expect("revoke").expect("ann's");
    assert_eq!(gone.revoked_at, Some(Millis(13)));
    assert!(s.api_key_owner("h1b").await.expect("lookup").is_none());
    assert!(s.api_keys("ann").await.expect("list").is_empty());
    assert!(s.revoke_api_key("k1", Some("ann"), None, Millis(14)).await.expect("again").is_none());
    assert!(s.rotate_api_key("ann", "k1", "h1c", "p", Millis(14)).await.expect("rotate").is_none());
    s.create_api_key(new_key("k4", "ann", "h4"), 10, Millis(15))
        .await
        .expect("create")
        .expect("under the cap");
    assert!(s.revoke_api_key("k4", None, Some(audit()), Millis(16)).await.expect("revoke").is_some());
    assert!(s.revoke_api_key("k4", None, Some(audit()), Millis(17)).await.expect("revoke").is_none());
    assert_eq!(s.audit_log(10, 0).await.expect("audit").total, 3, "one audit row per revocation");
}

pub async fn api_keys_are_capped_per_user_under_concurrency(s: Arc<dyn Store>) {
    credited(&*s, "ann", 0).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.create_api_key(new_key(&format!("k{i}"), "ann", &format!("h{i}")), 5, Millis(i)).await
        }));
    }
    let mut created = 0;
    for t in tasks {
        if t.await.expect("task").expect("create").is_some() {
            created += 1;
        }
    }
    assert_eq!(created, 5);
    assert_eq!(s.api_keys("ann").await.expect("list").len(), 5);
    // A revoked key frees its place.
    let first = s.api_keys("ann").await.expect("list")[0].key_id.clone();
    s.revoke_api_key(&first, Some("ann"), None, Millis(30)).await.expect("revoke").expect("live");
    assert!(s
        .create_api_key(new_key("again", "ann", "h-again"), 5, Millis(31))
        .await
        .expect("create")
        .is_some());
    assert!(s
        .create_api_key(new_key("over", "ann", "h-over"), 5, Millis(32))
        .await
        .expect("create")
        .is_none());
}

// ---- refills and cancels (issue 14) ----

/// An order of `u1` at 1000 points on a service with `refill`/`cancel`, accepted upstream as
/// `smm`; answers its id.
async fn running_order(s: &dyn Store, provider: &str, refill: bool, cancel: bool, smm: &str) -> OrderId {
    let svc = NewService { refill, cancel, ..new_service(provider) };
    let svc = s.create_service(svc, audit(), Millis(1)).await.expect("service").service_id;
    let o = s.place_order(new_order("u1", svc, 1000, 1), None, Millis(1)).await.expect("order").into_inner();
    let job = s.claim_order_job(o.order_id, Millis(2)).await.expect("claim").expect("due");
    let accepted = SubmissionOutcome::Accepted { smm_order_id: smm.into() };
    s.settle_submission(job.job_id, accepted, Millis(3)).await.expect("accepted");
    o.order_id
}

pub async fn refills_follow_the_rules_and_their_machine(s: Arc<dyn Store>) {
    use snspmt_core::refill::{RefillInput, RefillPolicy, RefillRefusal, RefillState};
    use snspmt_core::upstream::smm::RefillStatus;
    credited(&*s, "u1", 10_000).await;
    let policy = RefillPolicy { window_ms: 1_000_000, cooldown_ms: 100, max_per_order: 2 };
    let id = running_order(&*s, "1", true, false, "71").await;
    let plain = running_order(&*s, "2", false, false, "72").await;
    assert_eq!(
        s.request_refill(id, policy, Millis(10)).await.expect("ask"),
        Err(RefillRefusal::OrderNotRefillable(OrderStatus::InProgress))
    );
    s.apply_status(id, status_update(OrderStatus::Completed, 0), Millis(20)).await.expect("apply");
    s.apply_status(plain, status_update(OrderStatus::Completed, 0), Millis(20)).await.expect("apply");
    assert_eq!(
        s.request_refill(plain, policy, Millis(30)).await.expect("ask"),
        Err(RefillRefusal::ServiceHasNoRefill)
    );
    assert!(matches!(s.request_refill(OrderId(999), policy, Millis(30)).await, Err(StoreError::NotFound)));

    let r = s.request_refill(id, policy, Millis(30)).await.expect("ask").expect("allowed");
    assert_eq!(
        (r.order_id, r.user_id.as_str(), r.state, r.smm_refill_id.as_deref()),
        (id, "u1", RefillState::Requested, None)
    );
    assert_eq!(s.request_refill(id, policy, Millis(31)).await.expect("ask"), Err(RefillRefusal::InFlight));
    assert!(s.refills_to_sync(10).await.expect("to sync").is_empty(), "not at the upstream yet");
    let r = s
        .update_refill(r.refill_id, RefillInput::Accepted { smm_refill_id: "5\u{0}".into() }, Millis(32))
        .await
        .expect("accepted");
    assert_eq!((r.state, r.smm_refill_id.as_deref()), (RefillState::Pending, Some("5")));
    assert!(matches!(
        s.update_refill(r.refill_id, RefillInput::Accepted { smm_refill_id: "6".into() }, Millis(33)).await,
        Err(StoreError::Conflict(Conflict::InvalidTransition))
    ));
    let due = s.refills_to_sync(10).await.expect("to sync");
    assert_eq!(due.iter().map(|r| r.refill_id).collect::<Vec<_>>(), [r.refill_id]);
    s.record_refill_check(r.refill_id, Some("Refill not found".into()), Millis(34)).await.expect("check");
    let checked = s.refill(r.refill_id).await.expect("read").expect("there");
    assert_eq!(
        (checked.error.as_deref(), checked.last_status_check),
        (Some("Refill not found"), Some(Millis(34)))
    );
    let done = s
        .update_refill(r.refill_id, RefillInput::Status(RefillStatus::Completed), Millis(40))
        .await
        .expect("status");
    assert_eq!(
        (done.state, done.upstream_status.as_deref(), done.error),
        (RefillState::Completed, Some("completed"), None)
    );
    assert!(s.refills_to_sync(10).await.expect("to sync").is_empty());
    // The cooldown runs from the last refill; a refused request does not count.
    assert_eq!(
        s.request_refill(id, policy, Millis(50)).await.expect("ask"),
        Err(RefillRefusal::Cooldown { until: Millis(130) })
    );
    let second = s.request_refill(id, policy, Millis(130)).await.expect("ask").expect("allowed");
    let failed = s
        .update_refill(second.refill_id, RefillInput::Refused { error: "disabled".into() }, Millis(131))
        .await
        .expect("refused");
    assert_eq!((failed.state, failed.error.as_deref()), (RefillState::Failed, Some("disabled")));
    let third =
        s.request_refill(id, policy, Millis(132)).await.expect("ask").expect("a failed one does not count");
    s.update_refill(third.refill_id, RefillInput::Accepted { smm_refill_id: "9".into() }, Millis(133))
        .await
        .expect("accepted");
    s.update_refill(third.refill_id, RefillInput::Status(RefillStatus::Rejected), Millis(134))
        .await
        .expect("rejected");
    assert_eq!(
        s.request_refill(id, policy, Millis(10_000)).await.expect("ask"),
        Err(RefillRefusal::LimitReached { max: 2 })
    );
    let all = s.order_refills(id).await.expect("list");
    assert_eq!(
        all.iter().map(|r| r.state).collect::<Vec<_>>(),
        [RefillState::Completed, RefillState::Failed, RefillState::Rejected]
    );
    let late = RefillPolicy { max_per_order: 10, ..policy };
    assert!(matches!(
        s.request_refill(id, late, Millis(20 + 1_000_001)).await.expect("ask"),
        Err(RefillRefusal::WindowClosed { .. })
    ));
    assert_eq!(s.balance("u1").await.expect("balance"), Some(Points(8000)), "refills move no money");
    assert_consistent(&*s).await;
}

pub async fn refill_requests_in_flight_are_one_under_concurrency(s: Arc<dyn Store>) {
    use snspmt_core::refill::RefillPolicy;
    credited(&*s, "u1", 10_000).await;
    let id = running_order(&*s, "1", true, false, "71").await;
    s.apply_status(id, status_update(OrderStatus::Completed, 0), Millis(20)).await.expect("apply");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.request_refill(id, RefillPolicy::default(), Millis(30)).await })
        })
        .collect();
    let mut granted = 0;
    for t in tasks {
        if t.await.expect("task").expect("store").is_ok() {
            granted += 1;
        }
    }
    assert_eq!(granted, 1, "one refill in flight per order");
    assert_eq!(s.order_refills(id).await.expect("list").len(), 1);
    // Never answered (its server died mid-call): after the lease it no longer blocks.
    let lease = snspmt_core::refill::REQUEST_LEASE_MS;
    assert!(s.request_refill(id, RefillPolicy::default(), Millis(30 + lease)).await.expect("ask").is_err());
    assert!(s.request_refill(id, RefillPolicy::default(), Millis(31 + lease)).await.expect("ask").is_ok());
}

pub async fn cancels_of_running_orders_move_no_money(s: Arc<dyn Store>) {
    use snspmt_core::refill::{CancelRefusal, CancelState};
    use snspmt_store::OwnerCancel;
    credited(&*s, "u1", 10_000).await;
    let id = running_order(&*s, "1", false, true, "71").await;
    let fixed = running_order(&*s, "2", false, false, "72").await;
    assert_eq!(s.owner_cancel(fixed, Millis(10)).await.expect("ask"), Err(CancelRefusal::ServiceHasNoCancel));
    let Ok(OwnerCancel::Forwarded { order, request }) = s.owner_cancel(id, Millis(10)).await.expect("ask")
    else {
        panic!("a running order's cancel is forwarded");
    };
    assert_eq!((order.order_id, request.state, request.user_id.as_str()), (id, CancelState::Requested, "u1"));
    assert_eq!(s.owner_cancel(id, Millis(11)).await.expect("ask"), Err(CancelRefusal::AlreadyRequested));
    let refused = s
        .settle_cancel(request.cancel_id, Some("Order can't be canceled".into()), Millis(12))
        .await
        .expect("settle");
    assert_eq!(
        (refused.state, refused.error.as_deref()),
        (CancelState::Failed, Some("Order can't be canceled"))
    );
    assert!(matches!(
        s.settle_cancel(request.cancel_id, None, Millis(13)).await,
        Err(StoreError::Conflict(Conflict::AlreadyProcessed))
    ));
    let Ok(OwnerCancel::Forwarded { request, .. }) = s.owner_cancel(id, Millis(14)).await.expect("ask")
    else {
        panic!("after a refusal the owner may ask again");
    };
    assert_eq!(
        s.settle_cancel(request.cancel_id, None, Millis(15)).await.expect("settle").state,
        CancelState::Accepted
    );
    assert_eq!(s.order(id).await.expect("read").expect("order").status, OrderStatus::InProgress);
    assert_eq!(s.balance("u1").await.expect("balance"), Some(Points(8000)), "nothing refunded yet");
    // The upstream's Canceled, seen by the sync, refunds in full once.
    let canceled = s
        .apply_status(id, status_update(OrderStatus::Canceled, 1000), Millis(20))
        .await
        .expect("apply")
        .expect("ran");
    assert_eq!((canceled.status, canceled.refunded_amount), (OrderStatus::Canceled, Points(1000)));
    assert_eq!(
        s.owner_cancel(id, Millis(21)).await.expect("ask"),
        Err(CancelRefusal::OrderNotCancelable(OrderStatus::Canceled))
    );
    assert_eq!(s.order_cancels(id).await.expect("list").len(), 2);
    // A pending order is canceled here, in full.
    let svc = s.create_service(new_service("3"), audit(), Millis(1)).await.expect("service").service_id;
    let pending =
        s.place_order(new_order("u1", svc, 500, 100), None, Millis(30)).await.expect("order").into_inner();
    let Ok(OwnerCancel::Canceled(o)) = s.owner_cancel(pending.order_id, Millis(31)).await.expect("ask")
    else {
        panic!("a pending order is canceled locally");
    };
    assert_eq!((o.status, o.refunded_amount), (OrderStatus::Canceled, Points(500)));
    assert_eq!(s.balance("u1").await.expect("balance"), Some(Points(9000)));
    assert_consistent(&*s).await;
}

// ---- per-user rates and mass orders ----

pub async fn user_rates_are_set_audited_and_per_user(s: Arc<dyn Store>) {
    credited(&*s, "rated", 0).await;
    credited(&*s, "other", 0).await;
    let svc = s.create_service(new_service("1"), audit(), Millis(1)).await.expect("service").service_id;
    let fresh = s.user_rates("rated").await.expect("rates").expect("known user");
    assert_eq!((fresh.discount, fresh.service_prices.len()), (Bps(0), 0));
    assert!(s.user_rates("nobody").await.expect("rates").is_none());
    let audits_before = s.audit_log(100, 0).await.expect("audit").total;

    let set = s.set_user_discount("rated", Bps(1_500), audit(), Millis(2)).await.expect("discount");
    assert_eq!(set.discount, Bps(1_500));
    let set = s.set_service_price("rated", svc, Points(321), audit(), Millis(3)).await.expect("price");
    assert_eq!(set.service_prices.len(), 1);
    assert_eq!((set.service_prices[0].service_id, set.service_prices[0].price_per_1000), (svc, Points(321)));
    assert_eq!(set.service_prices[0].base_price_per_1000, Points(1000));
    let again = s.set_service_price("rated", svc, Points(0), audit(), Millis(4)).await.expect("upsert");
    assert_eq!(again.service_prices[0].price_per_1000, Points(0));
    assert_eq!(s.audit_log(100, 0).await.expect("audit").total, audits_before + 3);

    // Another user's terms are untouched.
    let other = s.user_rates("other").await.expect("rates").expect("known");
    assert_eq!((other.discount, other.service_prices.len()), (Bps(0), 0));

    // Refusals change nothing and audit nothing.
    assert!(matches!(
        s.set_user_discount("nobody", Bps(10), audit(), Millis(5)).await,
        Err(StoreError::NotFound)
    ));
    assert!(s.set_user_discount("rated", Bps(10_001), audit(), Millis(5)).await.is_err());
    assert!(matches!(
        s.set_service_price("rated", svc + 1000, Points(1), audit(), Millis(5)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.set_service_price("nobody", svc, Points(1), audit(), Millis(5)).await,
        Err(StoreError::NotFound)
    ));
    assert!(s.set_service_price("rated", svc, Points(-1), audit(), Millis(5)).await.is_err());
    assert!(matches!(
        s.delete_service_price("other", svc, audit(), Millis(5)).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(s.audit_log(100, 0).await.expect("audit").total, audits_before + 3);
    let kept = s.user_rates("rated").await.expect("rates").expect("known");
    assert_eq!(kept.discount, Bps(1_500));

    let removed = s.delete_service_price("rated", svc, audit(), Millis(6)).await.expect("delete");
    assert!(removed.service_prices.is_empty());
    assert_eq!(removed.discount, Bps(1_500));
    assert_eq!(s.audit_log(100, 0).await.expect("audit").total, audits_before + 4);
}

pub async fn order_batches_are_claimed_once_and_answer_replays(s: Arc<dyn Store>) {
    use snspmt_store::BatchClaim;
    credited(&*s, "mass", 0).await;
    let batch = |k: &str, body: &str| IdempotencyKey {
        user_id: "mass".into(),
        scope: "orders.mass",
        key: k.into(),
        request_hash: body.into(),
    };
    // Eight claims at once: one owns the batch, the others see it in flight.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = s.clone();
        let k = batch("b1", "h1");
        tasks.push(tokio::spawn(async move { s.claim_order_batch(&k, Millis(0), Millis(100)).await }));
    }
    let mut claims = Vec::new();
    for t in tasks {
        claims.push(t.await.expect("join").expect("claim"));
    }
    assert_eq!(claims.iter().filter(|c| **c == BatchClaim::Claimed).count(), 1, "{claims:?}");
    assert_eq!(claims.iter().filter(|c| **c == BatchClaim::InFlight).count(), 7, "{claims:?}");
    assert!(matches!(
        s.claim_order_batch(&batch("b1", "other body"), Millis(0), Millis(101)).await,
        Err(StoreError::IdempotencyKeyReused)
    ));
    s.finish_order_batch(&batch("b1", "h1"), "{\"placed\":1}", Millis(102)).await.expect("finish");
    s.finish_order_batch(&batch("b1", "h1"), "{\"placed\":2}", Millis(103))
        .await
        .expect("second answer ignored");
    assert_eq!(
        s.claim_order_batch(&batch("b1", "h1"), Millis(1_000_000), Millis(104)).await.expect("replay"),
        BatchClaim::Done("{\"placed\":1}".into())
    );

    // A claim whose run died: taken over once its lease is over, by one caller only.
    assert_eq!(
        s.claim_order_batch(&batch("b2", "h2"), Millis(0), Millis(200)).await.expect("claim"),
        BatchClaim::Claimed
    );
    assert_eq!(
        s.claim_order_batch(&batch("b2", "h2"), Millis(150), Millis(210)).await.expect("lease"),
        BatchClaim::InFlight
    );
    assert_eq!(
        s.claim_order_batch(&batch("b2", "h2"), Millis(250), Millis(260)).await.expect("take"),
        BatchClaim::Resumed
    );
    assert_eq!(
        s.claim_order_batch(&batch("b2", "h2"), Millis(250), Millis(261)).await.expect("held"),
        BatchClaim::InFlight
    );

    // A released claim (refused before anything was placed) can be claimed again.
    assert_eq!(
        s.claim_order_batch(&batch("b3", "h3"), Millis(0), Millis(300)).await.expect("claim"),
        BatchClaim::Claimed
    );
    s.release_order_batch(&batch("b3", "h3")).await.expect("release");
    assert_eq!(
        s.claim_order_batch(&batch("b3", "h3"), Millis(0), Millis(301)).await.expect("again"),
        BatchClaim::Claimed
    );
    // Keys are per user.
    credited(&*s, "mass2", 0).await;
    let mut theirs = batch("b1", "h1");
    theirs.user_id = "mass2".into();
    assert_eq!(
        s.claim_order_batch(&theirs, Millis(0), Millis(400)).await.expect("claim"),
        BatchClaim::Claimed
    );
}

pub async fn order_params_are_stored_and_claimed_with_the_job(s: Arc<dyn Store>) {
    use snspmt_core::upstream::smm::OrderParams;
    credited(&*s, "u1", 1000).await;
    let svc = s.create_service(new_service("1"), audit(), Millis(1)).await.expect("service").service_id;
    let params: OrderParams = [("usernames", "a\nb"), ("answer_number", "2")].into_iter().collect();
    let with = NewOrder { params: params.clone(), ..new_order("u1", svc, 100, 5) };
    let a = s.place_order(with, None, Millis(5)).await.expect("order").into_inner();
    assert_eq!(a.params, params);
    let b = s.place_order(new_order("u1", svc, 100, 5), None, Millis(5)).await.expect("order").into_inner();
    assert!(b.params.is_empty(), "no params read back as none");
    assert_eq!(s.order(a.order_id).await.expect("read").expect("a").params, params);
    let listed =
        s.orders(snspmt_store::OrderFilter { user_id: Some("u1".into()), limit: 50, ..Default::default() });
    let listed = listed.await.expect("orders").rows;
    assert_eq!(listed.iter().find(|o| o.order_id == a.order_id).map(|o| &o.params), Some(&params));
    let job = s.claim_order_job(a.order_id, Millis(6)).await.expect("claim").expect("due");
    assert_eq!(job.params, params, "the submission sends what was placed");
    let job = s.claim_order_job(b.order_id, Millis(6)).await.expect("claim").expect("due");
    assert!(job.params.is_empty());
    assert_consistent(&*s).await;
}

/// Keeps what a store tells its watchers.
#[derive(Default)]
struct Told(std::sync::Mutex<Vec<snspmt_store::Change>>);

impl snspmt_store::ChangeWatcher for Told {
    fn committed(&self, changes: &[snspmt_store::Change]) {
        self.0.lock().expect("told").extend_from_slice(changes);
    }
}

impl Told {
    fn take(&self) -> Vec<snspmt_store::Change> {
        std::mem::take(&mut *self.0.lock().expect("told"))
    }
}

pub async fn commits_are_told_to_watchers(s: Arc<dyn Store>) {
    use snspmt_store::Change;
    let told = Arc::new(Told::default());
    let weak: std::sync::Weak<Told> = Arc::downgrade(&told);
    let watcher: std::sync::Weak<dyn snspmt_store::ChangeWatcher> = weak;
    s.watch(watcher);
    credited(&*s, "u1", 1000).await;
    let credit = match told.take().as_slice() {
        [Change::Balance { user_id, points, ledger_id }] => {
            assert_eq!((user_id.as_str(), *points), ("u1", Points(1000)));
            *ledger_id
        }
        other => panic!("expected one balance, got {other:?}"),
    };
    s.create_session("hash-1", "u1", Millis(100), Millis(10_000)).await.expect("session");
    let snap = s.session_snapshot("hash-1", Millis(150)).await.expect("snapshot").expect("live");
    assert_eq!((snap.user.points, snap.ledger_mark, snap.expires_at), (Points(1000), credit, Millis(10_000)));
    assert!(s.session_snapshot("hash-1", Millis(10_000)).await.expect("snapshot").is_none(), "expired");
    // A plain debit and a keyed one: each told with its ledger row, ids growing.
    let plain =
        s.post(posting("u1", LedgerKind::Deduct, -10), None, Millis(5)).await.expect("debit").into_inner();
    let keyed = s.post(posting("u1", LedgerKind::Deduct, -20), Some(key("u1", "k1", "h")), Millis(6)).await;
    let keyed = keyed.expect("keyed").into_inner();
    assert!(credit < plain.id && plain.id < keyed.id);
    assert_eq!(
        told.take(),
        vec![
            Change::Balance { user_id: "u1".into(), points: Points(990), ledger_id: plain.id },
            Change::Balance { user_id: "u1".into(), points: Points(970), ledger_id: keyed.id },
        ]
    );
    let snap = s.session_snapshot("hash-1", Millis(150)).await.expect("snapshot").expect("live");
    assert_eq!((snap.user.points, snap.ledger_mark), (Points(970), keyed.id));
    // A replay, a refusal and a rolled-back posting tell nothing.
    let replay = s.post(posting("u1", LedgerKind::Deduct, -20), Some(key("u1", "k1", "h")), Millis(7)).await;
    assert!(matches!(replay, Ok(Idempotent::Replay(ref e)) if *e == keyed));
    let refused =
        s.post(posting("u1", LedgerKind::Deduct, -971), Some(key("u1", "k2", "h")), Millis(8)).await;
    assert!(matches!(refused, Err(StoreError::InsufficientPoints { .. })));
    let refused = s.post(posting("u1", LedgerKind::Deduct, -971), None, Millis(8)).await;
    assert!(matches!(refused, Err(StoreError::InsufficientPoints { .. })));
    assert!(told.take().is_empty());
    // User changes and revocations.
    let patch = ProfilePatch { is_admin: Some(true), ..Default::default() };
    s.update_user("u1", patch, None, audit(), Millis(9)).await.expect("update");
    assert_eq!(told.take(), vec![Change::User("u1".into())]);
    assert!(s.revoke_session("hash-1").await.expect("revoke"));
    assert_eq!(told.take(), vec![Change::Session("hash-1".into())]);
    // Rates and services (a price cache forgets them); a refused change tells nothing.
    s.set_user_discount("u1", Bps(500), audit(), Millis(11)).await.expect("discount");
    assert_eq!(told.take(), vec![Change::Rates("u1".into())]);
    let svc = s.create_service(new_service("1"), audit(), Millis(12)).await.expect("service").service_id;
    assert_eq!(told.take(), vec![Change::Service(svc)]);
    s.set_service_price("u1", svc, Points(70), audit(), Millis(13)).await.expect("price");
    s.delete_service_price("u1", svc, audit(), Millis(14)).await.expect("unpriced");
    assert_eq!(told.take(), vec![Change::Rates("u1".into()), Change::Rates("u1".into())]);
    let mut changed = new_service("1");
    changed.is_active = false;
    s.update_service(svc, changed.clone(), audit(), Millis(15)).await.expect("update");
    let imported = s.import_services(vec![changed, new_service("2")], audit(), Millis(16)).await;
    assert_eq!(imported.expect("import").inserted, 1);
    let told_now = told.take();
    assert_eq!(told_now.len(), 3, "{told_now:?}");
    assert!(told_now[..2].iter().all(|c| *c == Change::Service(svc)), "{told_now:?}");
    let refused = s.delete_service_price("u1", svc, audit(), Millis(17)).await;
    assert!(matches!(refused, Err(StoreError::NotFound)), "{refused:?}");
    assert!(s.create_service(new_service("2"), audit(), Millis(18)).await.is_err(), "a taken upstream id");
    assert!(told.take().is_empty());
    // A dropped watcher is forgotten.
    drop(told);
    s.post(posting("u1", LedgerKind::Deduct, -1), None, Millis(10)).await.expect("debit");
    assert_consistent(&*s).await;
}

/// Every kind of submission outcome settles in a batch exactly as it does alone: the same
/// status, refund, upstream id, error and next due time, and each answer is what a read finds.
pub async fn a_batch_settles_as_one_at_a_time_would(s: Arc<dyn Store>) {
    credited(&*s, "u1", 10_000).await;
    let svc = s.create_service(new_service("1"), audit(), Millis(1)).await.expect("service").service_id;
    let not_sent = SubmissionOutcome::NotAccepted {
        message: "later".into(),
        why: order::NotAccepted::NotSent,
        attempts: 1,
    };
    let outcomes = [
        SubmissionOutcome::Accepted { smm_order_id: "81".into() },
        SubmissionOutcome::Rejected { message: "no such link".into() },
        not_sent,
        SubmissionOutcome::Unknown { message: "timed out".into() },
        SubmissionOutcome::Accepted { smm_order_id: "82".into() },
    ];
    for _ in 0..2 * outcomes.len() {
        s.place_order(new_order("u1", svc, 100, 1), None, Millis(1)).await.expect("order");
    }
    let jobs = s.claim_due_jobs(Millis(2), 100).await.expect("claim");
    assert_eq!(jobs.len(), 2 * outcomes.len());
    let (batch, alone) = jobs.split_at(outcomes.len());
    let in_batch = batch.iter().zip(&outcomes).map(|(j, o)| (j.job_id, o.clone())).collect();
    let batched = s.settle_submissions(in_batch, Millis(3)).await.expect("batch");
    let mut one_by_one = Vec::new();
    for (j, o) in alone.iter().zip(&outcomes) {
        one_by_one.push(s.settle_submission(j.job_id, o.clone(), Millis(3)).await.expect("alone"));
    }
    let seen = |o: &snspmt_store::Order| {
        (o.status, o.refunded_amount, o.smm_panel_order_id.clone(), o.error.clone(), o.updated_at)
    };
    assert_eq!(batched.iter().map(seen).collect::<Vec<_>>(), one_by_one.iter().map(seen).collect::<Vec<_>>());
    assert_eq!(batched[1].status, OrderStatus::Failed);
    for o in batched.iter().chain(&one_by_one) {
        assert_eq!(s.order(o.order_id).await.expect("read").as_ref(), Some(o));
    }
    assert_eq!(s.balance("u1").await.expect("balance"), Some(Points(10_000 - 1000 + 200)));
    // The retried ones are due again at the same time, in both halves; nothing else is.
    assert!(s.claim_due_jobs(Millis(59_999), 100).await.expect("claim").is_empty());
    let again = s.claim_due_jobs(Millis(60_003), 100).await.expect("claim");
    assert_eq!(
        again.iter().map(|j| j.order_id).collect::<Vec<_>>(),
        [batched[2].order_id, one_by_one[2].order_id]
    );
    // A job settled already refuses the whole batch, which changes nothing.
    let twice = vec![(again[0].job_id, outcomes[0].clone()), (batch[0].job_id, outcomes[0].clone())];
    assert!(matches!(s.settle_submissions(twice, Millis(4)).await, Err(StoreError::Conflict(_))));
    let still = s.order(again[0].order_id).await.expect("read").expect("there");
    assert_eq!(still.status, OrderStatus::Submitting);
    assert_consistent(&*s).await;
}

/// The batched forms of the life cycle (issue 16): a placement answers the order as stored,
/// several submissions settle and several statuses apply in one transaction each, all or none.
pub async fn batches_settle_and_apply_all_or_none(s: Arc<dyn Store>) {
    credited(&*s, "u1", 10_000).await;
    let svc = s.create_service(new_service("1"), audit(), Millis(1)).await.expect("service").service_id;
    let mut ids = Vec::new();
    for price in [1000, 2000, 3000, 400] {
        let placed =
            s.place_order(new_order("u1", svc, price, 1), None, Millis(1)).await.expect("order").into_inner();
        // The placement is not read back: what it answers is what a read finds.
        assert_eq!(s.order(placed.order_id).await.expect("order").as_ref(), Some(&placed));
        ids.push(placed.order_id);
    }
    assert_eq!(s.balance("u1").await.expect("balance"), Some(Points(10_000 - 6400)));
    let jobs = s.claim_due_jobs(Millis(2), 3).await.expect("claim");
    assert_eq!(jobs.iter().map(|j| j.order_id).collect::<Vec<_>>(), ids[..3]);
    assert!(jobs
        .iter()
        .all(|j| j.link == "https://x.com/a" && j.provider_service_id == "1" && j.attempts == 1));
    for id in &ids[..3] {
        assert_eq!(s.order(*id).await.expect("order").expect("there").status, OrderStatus::Submitting);
    }
    let accepted = |id: &str| SubmissionOutcome::Accepted { smm_order_id: id.into() };
    let rejected = SubmissionOutcome::Rejected { message: "no".into() };
    let settled = s
        .settle_submissions(
            vec![
                (jobs[0].job_id, accepted("71")),
                (jobs[1].job_id, accepted("72")),
                (jobs[2].job_id, rejected),
            ],
            Millis(3),
        )
        .await
        .expect("settle");
    assert_eq!(
        settled.iter().map(|o| (o.status, o.refunded_amount)).collect::<Vec<_>>(),
        [
            (OrderStatus::InProgress, Points(0)),
            (OrderStatus::InProgress, Points(0)),
            (OrderStatus::Failed, Points(3000))
        ]
    );
    assert_eq!(s.balance("u1").await.expect("balance"), Some(Points(10_000 - 6400 + 3000)));
    // One settled job in a batch refuses the whole batch: the other one stays claimed.
    let last = s.claim_due_jobs(Millis(2), 10).await.expect("claim");
    assert_eq!(last.iter().map(|j| j.order_id).collect::<Vec<_>>(), [ids[3]]);
    let mixed = vec![(last[0].job_id, accepted("74")), (jobs[0].job_id, accepted("71"))];
    assert!(matches!(s.settle_submissions(mixed, Millis(4)).await, Err(StoreError::Conflict(_))));
    assert_eq!(s.order(ids[3]).await.expect("order").expect("there").status, OrderStatus::Submitting);
    s.settle_submissions(vec![(last[0].job_id, accepted("74"))], Millis(4)).await.expect("settle alone");
    // Statuses: one ends partial (its refund once), one goes on, one is untouched but checked.
    let partial = StatusUpdate {
        settlement: Settlement { status: OrderStatus::Partial, refund: Points(500) },
        start_count: Some(1),
        remains: Some(50),
        charge: None,
    };
    let running = StatusUpdate { remains: Some(7), ..status_update(OrderStatus::InProgress, 0) };
    let applied = s
        .apply_statuses(vec![(ids[0], partial.clone()), (ids[1], running)], vec![ids[3]], Millis(5))
        .await
        .expect("apply");
    assert_eq!(
        applied
            .iter()
            .map(|o| o.as_ref().map(|o| (o.status, o.refunded_amount, o.remains)))
            .collect::<Vec<_>>(),
        [
            Some((OrderStatus::Partial, Points(500), Some(50))),
            Some((OrderStatus::InProgress, Points(0), Some(7)))
        ]
    );
    assert_eq!(s.order(ids[3]).await.expect("order").expect("there").last_status_check, Some(Millis(5)));
    assert_eq!(s.balance("u1").await.expect("balance"), Some(Points(10_000 - 6400 + 3000 + 500)));
    // Applied again: the ended order is no longer in progress (None), nothing is paid twice.
    let again = s.apply_statuses(vec![(ids[0], partial)], Vec::new(), Millis(6)).await.expect("apply");
    assert_eq!(again, [None]);
    assert_eq!(s.balance("u1").await.expect("balance"), Some(Points(10_000 - 6400 + 3000 + 500)));
    let targets = s.orders_to_sync(10, None).await.expect("targets");
    assert_eq!(targets.iter().map(|t| t.order_id).collect::<Vec<_>>(), [ids[1], ids[3]]);
}
