//! Model-based property test: the core's state machines (one [`Single`] per single order, one
//! [`Run`] per multi-part order) and the real store (SQLite always, PostgreSQL with
//! `SNSPMT_TEST_POSTGRES_URL`) are fed the same random sequence of inputs — placements, clock
//! ticks, claims, submission outcomes, lease expiries, upstream readings, operator ends, owner
//! cancels, part resolutions and crashes (the store dropped and reopened on the same database) —
//! and must agree after every step: the store accepts exactly what the model accepts (a refused
//! input changes nothing), claims hand out exactly what the model says is due, and every
//! order's status and refund, every part's state and every balance are the model's.
//!
//! Where the store's rules go beyond the core's machines, the model says so explicitly:
//! - a multi-part order keeps the status it was placed with (`pending`/`scheduled`) until a
//!   part is first claimed, then follows [`Run::order_status`];
//! - an operator's (or the owner's) end fixes the order's status, whatever its parts in flight
//!   do afterwards;
//! - a part in flight at such an end that comes back "retry later" ends with its share back
//!   (the core's [`Run`] would make it due again: see the ignored regression test below);
//! - an operator's resolution of an unknown part (no core method) makes it accepted, or ended
//!   with its share back.
//!
//! `PROPTEST_CASES` overrides the number of cases (48 on SQLite, 32 on PostgreSQL).
//!
//! It needs the `sqlite` feature; the PostgreSQL half needs `postgres` too.

#![cfg(feature = "sqlite")]

#[path = "contract/fixture.rs"]
mod fixture;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use snspmt_core::order::{admin_transition, settle, AdminTransition, NotAccepted, OrderStatus};
use snspmt_core::plan::{self, Ender, PartState, Run, Step, Submitted};
use snspmt_core::single::{Input, Job, Single};
use snspmt_core::upstream::smm;
use snspmt_core::{LedgerKind, Millis, Points};
#[cfg(feature = "postgres")]
use snspmt_store::testing::{postgres_url, PgTestSchema};
use snspmt_store::{
    JobId, Maintenance, NewAudit, NewOrder, NewPackage, NewService, NewUser, OrderId, OrderPart, PartId,
    Posting, SqliteStore, StatusUpdate, Store, StoreError, SubmissionOutcome,
};

const USERS: [&str; 2] = ["u0", "u1"];
const FIRST_CREDIT: i64 = 6_000;
const T0: i64 = 1_000_000;

// ---------------------------------------------------------------------------------------------
// Inputs

#[derive(Debug, Clone, Copy)]
enum Start {
    Now,
    Later(i64),
    Deferred,
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Accepted,
    Rejected,
    /// Not accepted on the n-th try (its cause picked by n).
    NotAccepted(u32),
    Unknown,
}

#[derive(Debug, Clone, Copy)]
enum Up {
    Completed,
    Partial,
    Canceled,
    InProgress,
}

impl Up {
    fn status(self) -> smm::Status {
        match self {
            Up::Completed => smm::Status::Completed,
            Up::Partial => smm::Status::Partial,
            Up::Canceled => smm::Status::Canceled,
            Up::InProgress => smm::Status::InProgress,
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Credit { user: usize, amount: i64 },
    Single { user: usize, price: i64, quantity: i64, runs: Option<i64>, delay: i64 },
    Package { user: usize, price: i64, steps: Vec<(u64, Option<u32>, u32)>, start: Start },
    Split { user: usize, price: i64, days: u32, per_day: u64, start: Start },
    StartParts { pick: usize },
    Advance(i64),
    ClaimJobs,
    ClaimParts,
    SettleJob { pick: usize, any: bool, outcome: Outcome },
    SettlePart { pick: usize, any: bool, outcome: Outcome },
    ExpireJobs { lease: i64 },
    ExpireParts { lease: i64 },
    Upstream { pick: usize, any: bool, up: Up, remains: Option<i64> },
    PartUpstream { pick: usize, any: bool, up: Up, remains: Option<i64> },
    Operator { pick: usize, to: OrderStatus, stale: bool },
    OwnerCancel { pick: usize },
    Resolve { pick: usize, any: bool, accepted: bool },
    Crash,
}

fn price() -> impl Strategy<Value = i64> {
    prop_oneof![1 => 0i64..=5, 9 => 100i64..=3_000]
}

fn start() -> impl Strategy<Value = Start> {
    prop_oneof![
        3 => Just(Start::Now),
        1 => (1i64..=3).prop_map(|h| Start::Later(h * 3_600_000)),
        1 => Just(Start::Deferred),
    ]
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        4 => Just(Outcome::Accepted),
        1 => Just(Outcome::Rejected),
        1 => (1u32..=8).prop_map(Outcome::NotAccepted),
        2 => Just(Outcome::Unknown),
    ]
}

fn up() -> impl Strategy<Value = (Up, Option<i64>)> {
    let up = prop_oneof![
        3 => Just(Up::Completed),
        3 => Just(Up::Partial),
        2 => Just(Up::Canceled),
        1 => Just(Up::InProgress),
    ];
    (up, prop::option::weighted(0.9, -5i64..400))
}

fn op() -> impl Strategy<Value = Op> {
    let user = 0..USERS.len();
    let pick = any::<usize>();
    let any_ = prop::bool::weighted(0.2);
    let to = prop::sample::select(vec![
        OrderStatus::Canceled,
        OrderStatus::Failed,
        OrderStatus::Completed,
        OrderStatus::InProgress,
        OrderStatus::Partial,
        OrderStatus::Pending,
    ]);
    let lease = prop_oneof![Just(0i64), Just(60_000), Just(300_000)];
    prop_oneof![
        1 => (user.clone(), 1i64..=5_000).prop_map(|(user, amount)| Op::Credit { user, amount }),
        2 => (
            user.clone(),
            price(),
            10i64..=300,
            prop::option::weighted(0.2, 2i64..=3),
            prop_oneof![3 => Just(0i64), 1 => Just(60_000i64), 1 => Just(3_600_000i64)],
        )
            .prop_map(|(user, price, quantity, runs, delay)| Op::Single { user, price, quantity, runs, delay }),
        2 => (
            user.clone(),
            price(),
            prop::collection::vec((1u64..=200, prop::option::weighted(0.8, 1u32..=3), 1u32..=3), 1..=2),
            start(),
        )
            .prop_map(|(user, price, steps, start)| Op::Package { user, price, steps, start }),
        1 => (user, price(), 2u32..=4, 10u64..=100, start())
            .prop_map(|(user, price, days, per_day, start)| Op::Split { user, price, days, per_day, start }),
        1 => pick.prop_map(|pick| Op::StartParts { pick }),
        4 => prop_oneof![
            Just(1i64),
            Just(60_000i64),
            Just(180_000i64),
            Just(600_000i64),
            Just(3_600_000i64),
            Just(86_400_000i64)
        ]
        .prop_map(Op::Advance),
        3 => Just(Op::ClaimJobs),
        4 => Just(Op::ClaimParts),
        4 => (pick, any_, outcome())
            .prop_map(|(pick, any, outcome)| Op::SettleJob { pick, any, outcome }),
        5 => (pick, any_, outcome())
            .prop_map(|(pick, any, outcome)| Op::SettlePart { pick, any, outcome }),
        1 => lease.clone().prop_map(|lease| Op::ExpireJobs { lease }),
        1 => lease.prop_map(|lease| Op::ExpireParts { lease }),
        3 => (pick, any_, up())
            .prop_map(|(pick, any, (up, remains))| Op::Upstream { pick, any, up, remains }),
        4 => (pick, any_, up())
            .prop_map(|(pick, any, (up, remains))| Op::PartUpstream { pick, any, up, remains }),
        2 => (pick, to, prop::bool::weighted(0.15))
            .prop_map(|(pick, to, stale)| Op::Operator { pick, to, stale }),
        1 => pick.prop_map(|pick| Op::OwnerCancel { pick }),
        2 => (pick, any_, any::<bool>()).prop_map(|(pick, any, accepted)| Op::Resolve { pick, any, accepted }),
        1 => Just(Op::Crash),
    ]
}

// ---------------------------------------------------------------------------------------------
// The model

#[derive(Debug, Clone)]
enum Kind {
    Single {
        m: Single,
        job_id: Option<JobId>,
        claimed_at: i64,
    },
    Run {
        run: Run,
        part_ids: Vec<PartId>,
        /// The status it was placed with (kept until a part is first claimed).
        placed: OrderStatus,
        claimed: bool,
        /// An operator's or the owner's end: the order keeps this status whatever its parts do.
        ended: Option<OrderStatus>,
        claimed_at: Vec<i64>,
    },
}

#[derive(Debug, Clone)]
struct OrderM {
    id: OrderId,
    user: usize,
    final_price: Points,
    kind: Kind,
}

impl OrderM {
    fn status(&self) -> OrderStatus {
        match &self.kind {
            Kind::Single { m, .. } => m.status,
            Kind::Run { run, placed, claimed, ended, .. } => match ended {
                Some(s) => *s,
                None if !*claimed => *placed,
                None => run.order_status(),
            },
        }
    }

    fn refunded(&self) -> Points {
        match &self.kind {
            Kind::Single { m, .. } => m.refunded,
            Kind::Run { run, .. } => run.refunded(),
        }
    }
}

/// The run's answer to a part's submission outcome. The core's [`Run`] does not know that a run
/// was ended; the store's rule for that case (an ended run never submits again: a part in
/// flight that the panel did not take ends with its share back) is applied here.
fn run_submitted(
    run: &mut Run,
    ended: bool,
    index: u32,
    outcome: Submitted,
    now: i64,
) -> Result<(), plan::RunError> {
    let i = index as usize;
    if ended && matches!(outcome, Submitted::NotAccepted { .. }) && run.states()[i] == PartState::Submitting {
        let mut states = run.states().to_vec();
        states[i] = PartState::Ended { refunded: run.parts()[i].share, completed: false };
        *run = Run::from_states(run.parts().to_vec(), states);
        return Ok(());
    }
    run.submitted(index, outcome, Millis(now)).map(|_| ())
}

fn set_part_state(run: &mut Run, i: usize, state: PartState) {
    let mut states = run.states().to_vec();
    states[i] = state;
    *run = Run::from_states(run.parts().to_vec(), states);
}

/// A stored part as the core sees it (the store's own reading).
fn stored_state(p: &OrderPart) -> PartState {
    p.run_state()
}

// ---------------------------------------------------------------------------------------------
// Backends

enum Backend {
    Sqlite(PathBuf),
    #[cfg(feature = "postgres")]
    Postgres(Box<tokio_postgres::Config>),
}

impl Backend {
    async fn open(&self) -> Arc<dyn Store> {
        match self {
            Backend::Sqlite(path) => {
                let s = SqliteStore::open(path.to_str().expect("utf-8 path")).expect("open sqlite");
                s.migrate(Millis(0)).await.expect("migrate");
                Arc::new(s)
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(config) => {
                Arc::new(snspmt_store::PgStore::from_config((**config).clone(), 4).expect("open postgres"))
            }
        }
    }
}

impl Drop for Backend {
    // Without `postgres`, SQLite is the only backend.
    #[cfg_attr(not(feature = "postgres"), allow(irrefutable_let_patterns))]
    fn drop(&mut self) {
        if let Backend::Sqlite(path) = self {
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

fn sqlite_backend() -> Backend {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let name = format!("snspmt-model-{}-{}.db", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
    let path = std::env::temp_dir().join(name);
    let _ = std::fs::remove_file(&path);
    Backend::Sqlite(path)
}

/// Empties every table of the test schema but the migrations' record (`DELETE`, repeated
/// until the foreign keys let every table go: much cheaper than `TRUNCATE` on tiny tables; the
/// append-only ledger refuses a `DELETE` and is truncated).
#[cfg(feature = "postgres")]
async fn empty_postgres(config: &tokio_postgres::Config) {
    const EMPTY: &str = "DO $$ DECLARE t text; blocked int; passes int := 0; BEGIN LOOP blocked := 0; \
        FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() \
        AND tablename <> 'schema_migrations' LOOP \
        BEGIN EXECUTE 'DELETE FROM ' || quote_ident(t); \
        EXCEPTION WHEN foreign_key_violation THEN blocked := blocked + 1; \
        WHEN raise_exception THEN EXECUTE 'TRUNCATE ' || quote_ident(t) || ' CASCADE'; END; END LOOP; \
        EXIT WHEN blocked = 0; passes := passes + 1; \
        IF passes > 50 THEN RAISE EXCEPTION 'the schema cannot be emptied'; END IF; END LOOP; END $$";
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.expect("connect");
    let conn = tokio::spawn(connection);
    client.batch_execute(EMPTY).await.expect("empty the schema");
    drop(client);
    let _ = conn.await;
}

// ---------------------------------------------------------------------------------------------
// The harness

struct Harness {
    store: Arc<dyn Store>,
    now: i64,
    svc: i64,
    pkg: i64,
    credits: [i64; 2],
    charges: [i64; 2],
    orders: Vec<OrderM>,
    ctx: String,
}

fn audit() -> NewAudit {
    NewAudit { actor: "model".into(), action: "model".into(), target: None, detail: "{}".into() }
}

fn submission(o: Outcome) -> (Submitted, SubmissionOutcome) {
    match o {
        Outcome::Accepted => (Submitted::Accepted, SubmissionOutcome::Accepted { smm_order_id: "42".into() }),
        Outcome::Rejected => (Submitted::Rejected, SubmissionOutcome::Rejected { message: "no".into() }),
        Outcome::NotAccepted(attempts) => {
            let why = NotAccepted::ALL[attempts as usize % NotAccepted::ALL.len()];
            (
                Submitted::NotAccepted { why, attempts },
                SubmissionOutcome::NotAccepted { message: "later".into(), why, attempts },
            )
        }
        Outcome::Unknown => (Submitted::Unknown, SubmissionOutcome::Unknown { message: "timeout".into() }),
    }
}

/// Picks one of `all`: among those `eligible` says yes to, unless `any` (or none is eligible).
fn choose<T: Copy>(all: &[T], pick: usize, any: bool, eligible: impl Fn(&T) -> bool) -> Option<T> {
    let good: Vec<T> = all.iter().copied().filter(|t| eligible(t)).collect();
    let from = if any || good.is_empty() { all.to_vec() } else { good };
    (!from.is_empty()).then(|| from[pick % from.len()])
}

fn new_order(user: usize, price: i64, quantity: i64, status: OrderStatus, due_at: i64) -> NewOrder {
    let scheduled_at = (status == OrderStatus::Scheduled).then_some(due_at);
    NewOrder {
        quantity,
        status,
        scheduled_at: scheduled_at.map(Millis),
        ..fixture::new_order(USERS[user], 0, price, due_at)
    }
}

impl Harness {
    async fn new(backend: &Backend) -> Harness {
        let store = backend.open().await;
        for u in USERS {
            let user = NewUser {
                user_id: u.into(),
                email: None,
                name: u.into(),
                display_name: u.into(),
                password_hash: None,
            };
            store.create_user(user, Millis(T0)).await.expect("user");
            let p = Posting {
                user_id: u.into(),
                kind: LedgerKind::Purchase,
                amount: Points(FIRST_CREDIT),
                reference: None,
                description: "credit".into(),
                event_ref: None,
                audit: None,
            };
            store.post(p, None, Millis(T0)).await.expect("credit");
        }
        let service = NewService {
            provider_service_id: "1".into(),
            name: "svc".into(),
            category: "Instagram".into(),
            platform: "instagram".into(),
            service_type: "default".into(),
            price_per_1000: Points(1000),
            min_quantity: 1,
            max_quantity: 100_000,
            dripfeed: true,
            refill: false,
            cancel: false,
            is_active: true,
            description: String::new(),
        };
        let svc = store.create_service(service, audit(), Millis(T0)).await.expect("service").service_id;
        let steps = vec![Step {
            service_id: svc,
            quantity: 100,
            delay_minutes: Some(1),
            repeat: 2,
            name: "s".into(),
        }];
        let package = NewPackage {
            name: "p".into(),
            description: String::new(),
            price: Points(100),
            steps,
            is_active: true,
        };
        let pkg = store.create_package(package, audit(), Millis(T0)).await.expect("package").package_id;
        Harness {
            store,
            now: T0,
            svc,
            pkg,
            credits: [FIRST_CREDIT; 2],
            charges: [0; 2],
            orders: Vec::new(),
            ctx: String::new(),
        }
    }

    fn balance(&self, user: usize) -> i64 {
        self.credits[user] - self.charges[user]
            + self.orders.iter().filter(|o| o.user == user).map(|o| o.refunded().0).sum::<i64>()
    }

    /// `(order, part)` of every part of every run.
    fn all_parts(&self) -> Vec<(usize, usize)> {
        let mut all = Vec::new();
        for (oi, o) in self.orders.iter().enumerate() {
            if let Kind::Run { run, .. } = &o.kind {
                all.extend((0..run.states().len()).map(|pi| (oi, pi)));
            }
        }
        all
    }

    fn part_state(&self, (oi, pi): (usize, usize)) -> PartState {
        match &self.orders[oi].kind {
            Kind::Run { run, .. } => run.states()[pi],
            Kind::Single { .. } => unreachable!("a single order has no parts"),
        }
    }

    fn singles(&self) -> Vec<usize> {
        (0..self.orders.len()).filter(|&i| matches!(self.orders[i].kind, Kind::Single { .. })).collect()
    }

    /// The store must refuse: `Err`, and (checked after the step) nothing changed.
    fn refused<T: std::fmt::Debug>(&self, what: &str, r: Result<T, StoreError>) {
        match r {
            Err(StoreError::Conflict(_)) => {}
            other => panic!("{}: the model refuses {what}, the store answered {other:?}", self.ctx),
        }
    }

    fn accepted<T>(&self, what: &str, r: Result<T, StoreError>) -> T {
        match r {
            Ok(v) => v,
            Err(e) => panic!("{}: the model accepts {what}, the store refused: {e:?}", self.ctx),
        }
    }

    /// True when `user` cannot pay `price`: then the store must have refused the placement `r`.
    fn unaffordable<T: std::fmt::Debug>(&self, user: usize, price: i64, r: &Result<T, StoreError>) -> bool {
        if price <= self.balance(user) {
            return false;
        }
        assert!(
            matches!(r, Err(StoreError::InsufficientPoints { .. })),
            "{}: expected insufficient points, got {r:?}",
            self.ctx
        );
        true
    }

    async fn place_single(&mut self, user: usize, price: i64, quantity: i64, runs: Option<i64>, delay: i64) {
        let due = self.now + delay;
        let status = if delay > 0 { OrderStatus::Scheduled } else { OrderStatus::Pending };
        let mut o = new_order(user, price, quantity, status, due);
        o.service_id = self.svc;
        o.runs = runs;
        o.interval_minutes = runs.map(|_| 10);
        let r = self.store.place_order(o, None, Millis(self.now)).await;
        if self.unaffordable(user, price, &r) {
            return;
        }
        let placed = self.accepted("the order", r).into_inner();
        let total_quantity = u64::try_from(quantity * runs.unwrap_or(1)).expect("quantity");
        let m = Single {
            status,
            job: Job::Due { at: Millis(due) },
            final_price: Points(price),
            total_quantity,
            refunded: Points::ZERO,
        };
        self.charges[user] += price;
        self.orders.push(OrderM {
            id: placed.order_id,
            user,
            final_price: Points(price),
            kind: Kind::Single { m, job_id: None, claimed_at: 0 },
        });
    }

    async fn place_run(
        &mut self,
        user: usize,
        price: i64,
        parts: Vec<plan::Part>,
        split_days: Option<i64>,
        start: Start,
    ) {
        let start_at = match start {
            Start::Now => Some(self.now),
            Start::Later(d) => Some(self.now + d),
            Start::Deferred => None,
        };
        let status =
            if matches!(start, Start::Later(_)) { OrderStatus::Scheduled } else { OrderStatus::Pending };
        let quantity = parts.iter().map(|p| p.quantity as i64).sum();
        let mut o = new_order(user, price, quantity, status, start_at.unwrap_or(self.now));
        o.service_id = self.svc;
        let package_id = split_days.is_none().then_some(self.pkg);
        let r = self
            .store
            .place_multipart_order(
                o,
                package_id,
                split_days,
                parts.clone(),
                start_at.map(Millis),
                None,
                Millis(self.now),
            )
            .await;
        if self.unaffordable(user, price, &r) {
            return;
        }
        let placed = self.accepted("the run", r).into_inner();
        let stored = self.store.order_parts(placed.order_id).await.expect("parts");
        let n = parts.len();
        self.charges[user] += price;
        self.orders.push(OrderM {
            id: placed.order_id,
            user,
            final_price: Points(price),
            kind: Kind::Run {
                run: Run::new(parts, start_at.map(Millis)),
                part_ids: stored.iter().map(|p| p.part_id).collect(),
                placed: status,
                claimed: false,
                ended: None,
                claimed_at: vec![0; n],
            },
        });
    }

    async fn apply(&mut self, op: &Op, backend: &Backend) {
        let now = self.now;
        match op {
            Op::Credit { user, amount } => {
                let p = Posting {
                    user_id: USERS[*user].into(),
                    kind: LedgerKind::AdminAdjust,
                    amount: Points(*amount),
                    reference: None,
                    description: "top up".into(),
                    event_ref: None,
                    audit: None,
                };
                self.accepted("a credit", self.store.post(p, None, Millis(now)).await);
                self.credits[*user] += amount;
            }
            Op::Single { user, price, quantity, runs, delay } => {
                self.place_single(*user, *price, *quantity, *runs, *delay).await;
            }
            Op::Package { user, price, steps, start } => {
                let steps: Vec<Step> = steps
                    .iter()
                    .map(|&(quantity, delay_minutes, repeat)| Step {
                        service_id: self.svc,
                        quantity,
                        delay_minutes,
                        repeat,
                        name: String::new(),
                    })
                    .collect();
                let parts = plan::package_parts(&steps, Points(*price)).expect("plan");
                self.place_run(*user, *price, parts, None, *start).await;
            }
            Op::Split { user, price, days, per_day, start } => {
                let parts = plan::split_parts(self.svc, *days, *per_day, Points(*price)).expect("plan");
                self.place_run(*user, *price, parts, Some(i64::from(*days)), *start).await;
            }
            Op::StartParts { pick } => {
                let runs: Vec<usize> = (0..self.orders.len())
                    .filter(|&i| matches!(self.orders[i].kind, Kind::Run { .. }))
                    .collect();
                let Some(oi) = choose(&runs, *pick, true, |_| true) else { return };
                let Kind::Run { run, .. } = &mut self.orders[oi].kind else { unreachable!() };
                let expected = run.start(Millis(now));
                let got = self.store.start_parts(self.orders[oi].id, Millis(now)).await.expect("start_parts");
                assert_eq!(got, expected, "{}: start_parts", self.ctx);
            }
            Op::Advance(ms) => self.now += ms,
            Op::ClaimJobs => {
                let mut expected = BTreeSet::new();
                for o in &mut self.orders {
                    if let Kind::Single { m, claimed_at, .. } = &mut o.kind {
                        if m.handle(Input::Claim, Millis(now)).is_ok() {
                            expected.insert(o.id);
                            *claimed_at = now;
                        }
                    }
                }
                let claimed = self.store.claim_due_jobs(Millis(now), 1_000).await.expect("claim jobs");
                let got: BTreeSet<OrderId> = claimed.iter().map(|j| j.order_id).collect();
                assert_eq!(got.len(), claimed.len(), "{}: one job per order", self.ctx);
                assert_eq!(got, expected, "{}: claimed jobs", self.ctx);
                for j in claimed {
                    let o = self.orders.iter_mut().find(|o| o.id == j.order_id).expect("known order");
                    if let Kind::Single { job_id, .. } = &mut o.kind {
                        *job_id = Some(j.job_id);
                    }
                }
            }
            Op::ClaimParts => {
                let mut expected = BTreeSet::new();
                for o in &mut self.orders {
                    if let Kind::Run { run, part_ids, claimed, claimed_at, .. } = &mut o.kind {
                        let e = run.handle_timeout(Millis(now));
                        for i in e.submit {
                            expected.insert(part_ids[i as usize]);
                            claimed_at[i as usize] = now;
                            *claimed = true;
                        }
                    }
                }
                let claimed =
                    self.store.claim_due_parts(Millis(now), 1_000, None).await.expect("claim parts");
                let got: BTreeSet<PartId> = claimed.iter().map(|p| p.part_id).collect();
                assert_eq!(got.len(), claimed.len(), "{}: each part once", self.ctx);
                assert_eq!(got, expected, "{}: claimed parts", self.ctx);
            }
            Op::SettleJob { pick, any, outcome } => {
                let known: Vec<usize> = self
                    .singles()
                    .into_iter()
                    .filter(|&i| matches!(self.orders[i].kind, Kind::Single { job_id: Some(_), .. }))
                    .collect();
                let Some(oi) = choose(
                    &known,
                    *pick,
                    *any,
                    |&i| matches!(&self.orders[i].kind, Kind::Single { m, .. } if m.job == Job::Submitting),
                ) else {
                    return;
                };
                let (submitted, outcome) = submission(*outcome);
                let Kind::Single { m, job_id: Some(job_id), .. } = &mut self.orders[oi].kind else {
                    unreachable!()
                };
                let job_id = *job_id;
                let model = m.handle(Input::Submitted(submitted), Millis(now));
                let r = self.store.settle_submission(job_id, outcome, Millis(now)).await;
                match model {
                    Ok(_) => drop(self.accepted("the submission outcome", r)),
                    Err(_) => self.refused("the submission outcome", r),
                }
            }
            Op::SettlePart { pick, any, outcome } => {
                let all = self.all_parts();
                let Some((oi, pi)) =
                    choose(&all, *pick, *any, |&p| self.part_state(p) == PartState::Submitting)
                else {
                    return;
                };
                let (submitted, outcome) = submission(*outcome);
                let Kind::Run { run, part_ids, ended, .. } = &mut self.orders[oi].kind else {
                    unreachable!()
                };
                let part_id = part_ids[pi];
                let model = run_submitted(run, ended.is_some(), pi as u32, submitted, now);
                let r = self.store.settle_part_submission(part_id, outcome, Millis(now)).await;
                match model {
                    Ok(()) => drop(self.accepted("the part's outcome", r)),
                    Err(_) => self.refused("the part's outcome", r),
                }
            }
            Op::ExpireJobs { lease } => {
                let before = now - lease;
                let mut expected = Vec::new();
                for o in &mut self.orders {
                    if let Kind::Single { m, claimed_at, .. } = &mut o.kind {
                        if m.job == Job::Submitting && *claimed_at < before {
                            let _ =
                                m.handle(Input::LeaseExpired, Millis(now)).expect("a submitting job expires");
                            expected.push(o.id);
                        }
                    }
                }
                let mut got =
                    self.store.expire_submissions(Millis(before), Millis(now)).await.expect("expire");
                got.sort_unstable();
                expected.sort_unstable();
                assert_eq!(got, expected, "{}: expired jobs", self.ctx);
            }
            Op::ExpireParts { lease } => {
                let before = now - lease;
                let mut expected = Vec::new();
                for o in &mut self.orders {
                    if let Kind::Run { run, ended, claimed_at, .. } = &mut o.kind {
                        for (i, at) in claimed_at.iter().enumerate() {
                            if run.states()[i] == PartState::Submitting && *at < before {
                                run_submitted(run, ended.is_some(), i as u32, Submitted::Unknown, now)
                                    .expect("a submitting part expires");
                                expected.push(o.id);
                            }
                        }
                    }
                }
                let mut got = self
                    .store
                    .expire_part_submissions(Millis(before), Millis(now))
                    .await
                    .expect("expire parts");
                got.sort_unstable();
                expected.sort_unstable();
                assert_eq!(got, expected, "{}: expired parts", self.ctx);
            }
            Op::Upstream { pick, any, up, remains } => {
                let singles = self.singles();
                let Some(oi) =
                    choose(&singles, *pick, *any, |&i| self.orders[i].status() == OrderStatus::InProgress)
                else {
                    return;
                };
                let status = up.status();
                let id = self.orders[oi].id;
                let Kind::Single { m, .. } = &mut self.orders[oi].kind else { unreachable!() };
                let Ok(settlement) = settle(m.final_price, m.total_quantity, &status, *remains) else {
                    // Unreadable: the sync records a failure and settles nothing; so does the model.
                    let mut probe = *m;
                    let r = probe.handle(Input::Upstream { status: &status, remains: *remains }, Millis(now));
                    assert!(
                        r.is_err() && probe == *m,
                        "{}: an unreadable reading settled the model",
                        self.ctx
                    );
                    return;
                };
                let model = m.handle(Input::Upstream { status: &status, remains: *remains }, Millis(now));
                let update =
                    StatusUpdate { settlement, start_count: Some(1), remains: *remains, charge: None };
                let r = self.store.apply_status(id, update, Millis(now)).await;
                match (model, r) {
                    (Ok(_), Ok(Some(_))) | (Err(_), Ok(None)) => {}
                    (model, r) => panic!("{}: upstream status: model {model:?}, store {r:?}", self.ctx),
                }
            }
            Op::PartUpstream { pick, any, up, remains } => {
                let all = self.all_parts();
                let Some((oi, pi)) =
                    choose(&all, *pick, *any, |&p| matches!(self.part_state(p), PartState::Accepted { .. }))
                else {
                    return;
                };
                let status = up.status();
                let Kind::Run { run, part_ids, .. } = &mut self.orders[oi].kind else { unreachable!() };
                let part = run.parts()[pi].clone();
                let Ok(settlement) = plan::settle_part(part.share, part.quantity, &status, *remains) else {
                    return;
                };
                let model = run.upstream(pi as u32, &status, *remains);
                let update = StatusUpdate { settlement, start_count: None, remains: *remains, charge: None };
                let r = self.store.apply_part_status(part_ids[pi], update, Millis(now)).await;
                match (model, r) {
                    (Ok(_), Ok(Some(_))) | (Err(_), Ok(None)) => {}
                    (model, r) => panic!("{}: part status: model {model:?}, store {r:?}", self.ctx),
                }
            }
            Op::Operator { pick, to, stale } => {
                let all: Vec<usize> = (0..self.orders.len()).collect();
                let Some(oi) = choose(&all, *pick, true, |_| true) else { return };
                let status = self.orders[oi].status();
                let from = if *stale {
                    OrderStatus::ALL[(OrderStatus::ALL.iter().position(|s| *s == status).expect("a status")
                        + 1)
                        % OrderStatus::ALL.len()]
                } else {
                    status
                };
                let legal = admin_transition(from, *to);
                // An illegal transition is sent as the store would see a forged one.
                let t = legal.unwrap_or(AdminTransition {
                    to: *to,
                    refund_in_full: matches!(to, OrderStatus::Canceled | OrderStatus::Failed),
                    cancel_job: matches!(from, OrderStatus::Pending | OrderStatus::Scheduled),
                });
                let smm =
                    matches!(to, OrderStatus::InProgress | OrderStatus::Completed).then(|| "op-1".to_owned());
                let id = self.orders[oi].id;
                let model_ok = legal.is_ok()
                    && !*stale
                    && match &mut self.orders[oi].kind {
                        Kind::Single { m, .. } => m.handle(Input::Operator(*to), Millis(now)).is_ok(),
                        Kind::Run { run, ended, .. } => {
                            // A run ends (the parts never submitted give their shares back).
                            let _ = run.end(Ender::Operator).expect("an operator may always end a run");
                            *ended = Some(*to);
                            true
                        }
                    };
                let r = self.store.admin_set_status(id, from, t, smm, audit(), Millis(now)).await;
                if model_ok {
                    let o = self.accepted("the operator's transition", r);
                    assert_eq!(o.status, *to, "{}: the operator's status", self.ctx);
                } else {
                    self.refused(&format!("the operator's {from} -> {to}"), r);
                }
            }
            Op::OwnerCancel { pick } => {
                let all: Vec<usize> = (0..self.orders.len()).collect();
                let Some(oi) = choose(&all, *pick, true, |_| true) else { return };
                let status = self.orders[oi].status();
                let id = self.orders[oi].id;
                let model_ok = match &mut self.orders[oi].kind {
                    Kind::Single { m, .. } => m.handle(Input::OwnerCancel, Millis(now)).is_ok(),
                    Kind::Run { run, ended, .. } => {
                        !status.is_terminal() && {
                            let mut r = run.clone();
                            r.end(Ender::Owner).is_ok() && {
                                *run = r;
                                *ended = Some(OrderStatus::Canceled);
                                true
                            }
                        }
                    }
                };
                let r = self.store.cancel_order(id, Millis(now)).await;
                if model_ok {
                    self.accepted("the owner's cancel", r);
                } else {
                    self.refused("the owner's cancel", r);
                }
            }
            Op::Resolve { pick, any, accepted } => {
                let all = self.all_parts();
                let Some((oi, pi)) =
                    choose(&all, *pick, *any, |&p| matches!(self.part_state(p), PartState::Unknown { .. }))
                else {
                    return;
                };
                let id = self.orders[oi].id;
                let Kind::Run { run, .. } = &mut self.orders[oi].kind else { unreachable!() };
                let model_ok = match run.states()[pi] {
                    PartState::Unknown { at } => {
                        let next = if *accepted {
                            PartState::Accepted { at }
                        } else {
                            PartState::Ended { refunded: run.parts()[pi].share, completed: false }
                        };
                        set_part_state(run, pi, next);
                        true
                    }
                    _ => false,
                };
                let smm = accepted.then(|| "resolved".to_owned());
                let r = self.store.resolve_part(id, pi as i64, smm, audit(), Millis(now)).await;
                if model_ok {
                    self.accepted("the resolution", r);
                } else {
                    self.refused("the resolution", r);
                }
            }
            Op::Crash => {
                let old = std::mem::replace(&mut self.store, backend.open().await);
                drop(old);
            }
        }
    }

    /// Everything the store shows agrees with the model.
    async fn check(&self) {
        for o in &self.orders {
            let stored = self.store.order(o.id).await.expect("order").expect("order exists");
            assert_eq!(
                (stored.status, stored.refunded_amount),
                (o.status(), o.refunded()),
                "{}: order {} (status, refunded); model {:?}",
                self.ctx,
                o.id,
                o.kind
            );
            assert!(
                (0..=o.final_price.0).contains(&stored.refunded_amount.0),
                "{}: order {} refunded {} of {}",
                self.ctx,
                o.id,
                stored.refunded_amount.0,
                o.final_price.0
            );
            if let Kind::Run { run, .. } = &o.kind {
                let parts = self.store.order_parts(o.id).await.expect("parts");
                let got: Vec<PartState> = parts.iter().map(stored_state).collect();
                assert_eq!(got, run.states(), "{}: parts of order {}", self.ctx, o.id);
            }
        }
        for (u, name) in USERS.iter().enumerate() {
            let b = self.store.balance(name).await.expect("balance").expect("user");
            assert_eq!(b.0, self.balance(u), "{}: balance of {name}", self.ctx);
        }
        let mismatches = self.store.ledger_mismatches().await.expect("mismatches");
        assert!(mismatches.is_empty(), "{}: balances differ from their ledgers: {mismatches:?}", self.ctx);
    }
}

async fn run_case(backend: Backend, ops: Vec<Op>) {
    let mut h = Harness::new(&backend).await;
    for (step, op) in ops.iter().enumerate() {
        h.ctx = format!("step {step} at {} ({op:?})", h.now);
        h.apply(op, &backend).await;
        h.check().await;
    }
    drop(h);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// `cases` random sequences, each against a fresh database from `fresh`; `PROPTEST_CASES`
/// overrides the count. Failures shrink and are kept in `model.proptest-regressions`.
fn check_model(test: &str, cases: u32, fresh: impl Fn(&tokio::runtime::Runtime) -> Backend) {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(cases);
    let config = ProptestConfig {
        cases,
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let rt = runtime();
    let strategy = prop::collection::vec(op(), 20..=60);
    let started = std::time::Instant::now();
    if let Err(e) = runner.run(&strategy, |ops| {
        let backend = fresh(&rt);
        rt.block_on(run_case(backend, ops));
        Ok(())
    }) {
        panic!("{test}: {e}\n{runner}");
    }
    eprintln!("{test}: {cases} cases in {:?}", started.elapsed());
}

#[test]
fn model_agrees_sqlite() {
    check_model("model_agrees_sqlite", 48, |_| sqlite_backend());
}

#[cfg(feature = "postgres")]
#[test]
fn model_agrees_postgres() {
    let Some(url) = postgres_url("model_agrees_postgres") else { return };
    let rt = runtime();
    // One schema for the whole run, emptied before each case (cheaper than a schema each).
    let schema = rt.block_on(PgTestSchema::create(&url, 1)).expect("test schema");
    let mut config: tokio_postgres::Config = url.parse().expect("postgres url");
    // A dropped pool is our crash, not a lost server: commits need not wait for the disk.
    config.options(format!("-c search_path={} -c synchronous_commit=off", schema.schema()));
    check_model("model_agrees_postgres", 32, |rt| {
        rt.block_on(empty_postgres(&config));
        Backend::Postgres(Box::new(config.clone()))
    });
    drop(schema);
}

// ---------------------------------------------------------------------------------------------
// Regressions found by the model

/// A run placed for 1000 in two parts (100 units each, one minute apart), its first part
/// claimed at `T0`; answers the store, the order and its first part's id.
async fn run_in_flight(backend: &Backend) -> (Arc<dyn Store>, OrderId, PartId, Run) {
    let h = Harness::new(backend).await;
    let steps =
        [Step { service_id: h.svc, quantity: 100, delay_minutes: Some(1), repeat: 2, name: String::new() }];
    let parts = plan::package_parts(&steps, Points(1000)).expect("plan");
    let mut o = new_order(0, 1000, 200, OrderStatus::Pending, T0);
    o.service_id = h.svc;
    let placed = h
        .store
        .place_multipart_order(o, Some(h.pkg), None, parts.clone(), Some(Millis(T0)), None, Millis(T0))
        .await;
    let order_id = placed.expect("placed").into_inner().order_id;
    let claimed = h.store.claim_due_parts(Millis(T0), 10, None).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    let mut run = Run::new(parts, Some(Millis(T0)));
    assert_eq!(run.handle_timeout(Millis(T0)).submit, [0]);
    (h.store.clone(), order_id, claimed[0].part_id, run)
}

/// The store used to take any transition it was handed for a multi-part order (it checked
/// only the `from` status): an operator's `canceled -> completed` of a run that had ended was
/// applied. It now asks the core, as it does for single orders.
#[test]
fn forged_operator_transitions_of_runs_are_refused() {
    runtime().block_on(async {
        let backend = sqlite_backend();
        let (store, order_id, _, _) = run_in_flight(&backend).await;
        let t = admin_transition(OrderStatus::Processing, OrderStatus::Canceled).expect("legal");
        let o =
            store.admin_set_status(order_id, OrderStatus::Processing, t, None, audit(), Millis(T0 + 1)).await;
        assert_eq!(o.expect("ended").status, OrderStatus::Canceled);
        for to in [OrderStatus::Completed, OrderStatus::Failed, OrderStatus::Canceled] {
            assert!(admin_transition(OrderStatus::Canceled, to).is_err());
            let forged = AdminTransition { to, refund_in_full: false, cancel_job: false };
            let r = store
                .admin_set_status(order_id, OrderStatus::Canceled, forged, None, audit(), Millis(T0 + 2))
                .await;
            assert!(
                matches!(r, Err(StoreError::Conflict(snspmt_store::Conflict::InvalidTransition))),
                "{to}: {r:?}"
            );
        }
        let o = store.order(order_id).await.expect("order").expect("exists");
        assert_eq!((o.status, o.refunded_amount), (OrderStatus::Canceled, Points(500)));
        // A transition the core would make from another status is refused as well.
        let t = admin_transition(OrderStatus::Pending, OrderStatus::Failed).expect("legal from pending");
        let r =
            store.admin_set_status(order_id, OrderStatus::Canceled, t, None, audit(), Millis(T0 + 3)).await;
        assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    });
}

/// The core's [`Run`] does not know that a run was ended: when the part in flight at an
/// operator's end comes back "retry later", `Run::submitted` makes it due again (and
/// `Run::handle_timeout` would submit it again), while the store ends it and gives its share
/// back (an ended order never submits again). The model test applies the store's rule
/// (`run_submitted`); this case shows the core's own answer.
/// Found by the model test: the core's run re-dued a part that came back `NotAccepted` after an
/// operator ended the run, while the store ended it with its share refunded. The core now knows
/// an ended run ([`Run::end`]) and agrees.
#[test]
fn retry_later_of_a_part_in_flight_at_an_operator_end() {
    runtime().block_on(async {
        let backend = sqlite_backend();
        let (store, order_id, part_id, mut run) = run_in_flight(&backend).await;
        let t = admin_transition(OrderStatus::Processing, OrderStatus::Canceled).expect("legal");
        store
            .admin_set_status(order_id, OrderStatus::Processing, t, None, audit(), Millis(T0 + 1))
            .await
            .expect("ended");
        let _ = run.end(Ender::Operator).expect("an operator ends a run");
        let why = NotAccepted::NotSent;
        let retry = SubmissionOutcome::NotAccepted { message: "later".into(), why, attempts: 1 };
        let o = store.settle_part_submission(part_id, retry, Millis(T0 + 2)).await.expect("settled");
        let _ = run
            .submitted(0, Submitted::NotAccepted { why, attempts: 1 }, Millis(T0 + 2))
            .expect("core takes it");
        let stored: Vec<PartState> =
            store.order_parts(order_id).await.expect("parts").iter().map(stored_state).collect();
        assert_eq!(stored, run.states(), "the part in flight");
        assert_eq!(o.refunded_amount, run.refunded(), "the refund");
        assert!(run.handle_timeout(Millis(T0 + 60_000)).submit.is_empty(), "never submitted again");
    });
}
