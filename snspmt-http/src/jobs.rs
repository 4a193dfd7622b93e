//! Background work shared by the in-process workers, the cron endpoints and the handlers:
//! submitting claimed jobs to the SMM panel, and syncing order statuses.
//!
//! The outbox discipline (§8): a job is claimed (`submitting`, committed) before the upstream
//! is called, and settled after; a job whose outcome is unknown is never resent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use snspmt_core::order::{self, NotAccepted, OrderStatus};
use snspmt_core::upstream::smm::{self, AddOrder, Drip, ServiceType};
use snspmt_core::{Millis, Points};
use snspmt_store::{
    ClaimedJob, ClaimedPart, Order, OrderId, PartKind, PartSyncTarget, StatusUpdate, SubmissionOutcome,
    SyncTarget,
};

use crate::error::ApiError;
use crate::upstream::limit::Slot;
use crate::upstream::smm::{AddOutcome, SmmClient, SmmFailure};
use crate::{log, App};

/// A claimed job not settled within this long is taken to be lost with its worker: it becomes
/// `unknown` (it may have reached the upstream), never resent.
pub const SUBMISSION_LEASE_MS: i64 = 5 * 60 * 1000;

/// The panel client, or 503 `upstream_not_configured`.
pub fn smm_client(app: &App) -> Result<SmmClient, ApiError> {
    app.smm.clone().ok_or_else(|| {
        ApiError::new(
            hyper::StatusCode::SERVICE_UNAVAILABLE,
            "upstream_not_configured",
            "the SMM panel is not configured (set SMMKINGS_API_KEY, or SNSPMT_SIMULATE=1)",
        )
    })
}

fn add_form(key: &str, job: &ClaimedJob) -> Result<smm::Form, smm::BuildError> {
    let service_type = ServiceType::parse(&job.service_type);
    let drip = match (job.runs, job.interval_minutes) {
        (Some(runs), Some(interval)) => Some(Drip {
            runs: u32::try_from(runs).unwrap_or(u32::MAX),
            interval: u32::try_from(interval).unwrap_or(u32::MAX),
        }),
        _ => None,
    };
    let order = AddOrder {
        service: &job.provider_service_id,
        service_type: &service_type,
        link: &job.link,
        quantity: u64::try_from(job.quantity).unwrap_or(0),
        comments: job.comments.as_deref(),
        drip,
        params: &job.params,
    };
    smm::add_form(key, &order)
}

/// How long an order's immediate submission (right after it was placed) waits for a slot of
/// the panel's limiter. Past it the order stays `pending` and the worker, or a cron call,
/// submits it: a burst of orders never floods the panel and never fails for want of a slot.
pub const SUBMIT_SOON_PATIENCE: Duration = Duration::from_secs(1);

/// One life-cycle log line about `order` (`order.placed`, `order.submission`, `order.settled`,
/// …; not with `SNSPMT_LOG=warn`).
pub(crate) fn life(app: &App, event: &str, order: &Order, part_id: Option<snspmt_store::PartId>) {
    if app.config.log_requests {
        log::event(
            event,
            serde_json::json!({
                "order_id": order.order_id, "part_id": part_id, "user_id": order.user_id,
                "status": order.status.as_str(), "refunded": order.refunded_amount.0,
            }),
        );
    }
}

/// The `add` form of a claimed part: no comments, drip-feed or extra parameters (a part is a
/// plain quantity of its step's service).
fn part_form(key: &str, part: &ClaimedPart) -> Result<smm::Form, smm::BuildError> {
    let service_type = ServiceType::parse(&part.service_type);
    let order = AddOrder {
        service: &part.provider_service_id,
        service_type: &service_type,
        link: &part.link,
        quantity: u64::try_from(part.quantity).unwrap_or(0),
        comments: None,
        drip: None,
        params: &smm::NO_PARAMS,
    };
    smm::add_form(key, &order)
}

/// Calls `add` and turns the core's reading of the answer into what the store records (§8
/// step 3); the store hands it to the core's machines, which set the next due time of what was
/// not accepted.
async fn send(
    app: &App,
    client: &SmmClient,
    slot: Slot,
    form: Result<smm::Form, smm::BuildError>,
    order_id: OrderId,
    attempts: i64,
) -> (SubmissionOutcome, Duration) {
    let form = match form {
        Ok(form) => form,
        Err(e) => {
            let message = format!("cannot build the order: {e}");
            return (SubmissionOutcome::Rejected { message }, Duration::ZERO);
        }
    };
    let started = std::time::Instant::now();
    let added = client.add(slot, form).await;
    let took = started.elapsed();
    let outcome = match &added {
        AddOutcome::Accepted { .. } => "ok",
        AddOutcome::Rejected(_) => "rejected",
        AddOutcome::NotAccepted { why, .. } => why.as_str(),
        AddOutcome::Unknown(_) => "unknown",
    };
    app.metrics.upstream("smm", "add", outcome, took);
    let outcome = match added {
        AddOutcome::Accepted { order } => SubmissionOutcome::Accepted { smm_order_id: order },
        AddOutcome::Rejected(e) => SubmissionOutcome::Rejected { message: e.message },
        AddOutcome::NotAccepted { why, detail } => {
            let text = format!("order {order_id}: not accepted ({why}), will retry: {detail}");
            if why == NotAccepted::Refused {
                log::error(&text);
            } else {
                log::warn(&text);
            }
            let attempts = u32::try_from(attempts).unwrap_or(if attempts < 0 { 0 } else { u32::MAX });
            SubmissionOutcome::NotAccepted { message: detail, why, attempts }
        }
        AddOutcome::Unknown(m) => {
            log::warn(&format!("order {}: outcome unknown, needs review: {m}", order_id));
            SubmissionOutcome::Unknown { message: m }
        }
    };
    (outcome, took)
}

/// Which due work a round submits.
#[derive(Clone, Copy)]
enum Due {
    /// Single orders' jobs.
    Jobs,
    /// Parts of package and split orders (of one kind, or all).
    Parts(Option<PartKind>),
}

enum Claimed {
    Job(ClaimedJob),
    Part(ClaimedPart),
}

/// A claimed item the panel answered, waiting to be settled.
struct Sent {
    work: Claimed,
    outcome: SubmissionOutcome,
    /// How long the panel took to answer.
    took: Duration,
}

/// Claims up to `n` due items in one statement.
async fn claim_many(app: &App, due: Due, n: i64) -> Result<Vec<Claimed>, ApiError> {
    let now = app.clock.now();
    Ok(match due {
        Due::Jobs => app.store.claim_due_jobs(now, n).await?.into_iter().map(Claimed::Job).collect(),
        Due::Parts(kind) => {
            app.store.claim_due_parts(now, n, kind).await?.into_iter().map(Claimed::Part).collect()
        }
    })
}

/// Sends one claimed item to the panel in `slot` (the slot is free again when `add` answers).
async fn send_claimed(app: &App, client: &SmmClient, slot: Slot, work: Claimed) -> Sent {
    let (form, order_id, attempts) = match &work {
        Claimed::Job(job) => (add_form(client.key(), job), job.order_id, job.attempts),
        Claimed::Part(part) => (part_form(client.key(), part), part.order_id, part.attempts),
    };
    let (outcome, took) = send(app, client, slot, form, order_id, attempts).await;
    Sent { work, outcome, took }
}

/// The most items one claim takes (more when the limiter has more slots).
const CLAIM_AT_MOST: i64 = 100;

/// How fast claims and the panel's answers come in a [`drain`], to size its claims.
#[derive(Default)]
struct Pace {
    /// Seconds a claim took, smoothed.
    claim: Option<f64>,
    /// Seconds the panel took to answer an `add`, smoothed.
    add: Option<f64>,
}

impl Pace {
    fn smooth(last: &mut Option<f64>, seconds: f64) {
        *last = Some(last.map_or(seconds, |s| 0.8 * s + 0.2 * seconds));
    }

    /// How many items the next claim takes: as many as the panel's slots can send while one
    /// claim runs, and at least one per slot. A claimed item then waits for its slot about as
    /// long as a claim takes: with a fast panel and a busy database, one claim of eight items
    /// at a time (one per slot) kept submissions far behind a sustained load on PostgreSQL.
    fn per_claim(&self, limiter: &crate::upstream::limit::Limiter) -> i64 {
        let slots = i64::try_from(limiter.concurrency()).unwrap_or(i64::MAX);
        let (Some(claim), Some(add)) = (self.claim, self.add) else { return slots };
        let mut per_second = limiter.concurrency() as f64 / add.max(1e-4);
        if let Some(rate) = limiter.per_second() {
            per_second = per_second.min(rate);
        }
        // `as` saturates: a huge product is i64::MAX before the clamp.
        ((per_second * claim).ceil() as i64).clamp(slots, slots.max(CLAIM_AT_MOST))
    }
}

/// Records the outcomes of `sent`: the jobs in one transaction and the parts in another. If a
/// batch is refused as a whole (one item settled meanwhile, say), each item is settled on its
/// own, so that one refusal never holds back the others.
async fn settle_sent(app: &App, sent: Vec<Sent>) {
    let now = app.clock.now();
    let (mut jobs, mut parts) = (Vec::new(), Vec::new());
    for s in sent {
        match s.work {
            Claimed::Job(j) => jobs.push((j.job_id, j.order_id, s.outcome)),
            Claimed::Part(p) => parts.push((p.part_id, p.order_id, s.outcome)),
        }
    }
    // Batches settling at once lock their orders in the same order.
    jobs.sort_by_key(|j| j.1);
    parts.sort_by_key(|p| p.1);
    if !jobs.is_empty() {
        let batch = jobs.iter().map(|(id, _, o)| (*id, o.clone())).collect();
        let settled = if jobs.len() > 1 { app.store.settle_submissions(batch, now).await.ok() } else { None };
        match settled {
            Some(orders) => orders.iter().for_each(|o| life(app, "order.submission", o, None)),
            None => {
                for (job_id, order_id, outcome) in jobs {
                    match app.store.settle_submission(job_id, outcome, now).await {
                        Ok(order) => life(app, "order.submission", &order, None),
                        Err(e) => log::error(&format!("order {order_id}: submission failed: {e}")),
                    }
                }
            }
        }
    }
    if !parts.is_empty() {
        let batch = parts.iter().map(|(id, _, o)| (*id, o.clone())).collect();
        let settled =
            if parts.len() > 1 { app.store.settle_part_submissions(batch, now).await.ok() } else { None };
        match settled {
            Some(orders) => {
                for (order, (part_id, _, _)) in orders.iter().zip(&parts) {
                    life(app, "order.part_submission", order, Some(*part_id));
                }
            }
            None => {
                for (part_id, order_id, outcome) in parts {
                    match app.store.settle_part_submission(part_id, outcome, now).await {
                        Ok(order) => life(app, "order.part_submission", &order, Some(part_id)),
                        Err(e) => log::error(&format!("order {order_id}: submission failed: {e}")),
                    }
                }
            }
        }
    }
}

/// The submissions and settlements under way in a [`drain`]. They are not spawned (they borrow
/// the app), so they move only while polled, and one of them may hold the database connection
/// another future waits for: [`Flight::beside`] polls them while it awaits.
struct Flight<R, S, T> {
    running: FuturesUnordered<R>,
    /// What the panel answered and is not yet being settled.
    sent: Vec<Sent>,
    /// At most one settlement at a time: what is answered meanwhile waits for the next one, so
    /// a lone answer is settled at once and a crowd in one transaction.
    settling: FuturesUnordered<S>,
    settle: T,
    pace: Pace,
}

impl<R, S, T> Flight<R, S, T>
where
    R: std::future::Future<Output = Sent>,
    S: std::future::Future<Output = ()>,
    T: Fn(Vec<Sent>) -> S,
{
    /// Keeps what the panel answered for the next settlement.
    fn answered(&mut self, sent: Sent) {
        Pace::smooth(&mut self.pace.add, sent.took.as_secs_f64());
        self.sent.push(sent);
    }

    /// Starts settling what was answered, unless a settlement is under way.
    fn settle_answered(&mut self) {
        if self.settling.is_empty() && !self.sent.is_empty() {
            let answered = std::mem::take(&mut self.sent);
            self.settling.push((self.settle)(answered));
        }
    }

    /// Awaits `f` while the rest goes on.
    async fn beside<F: std::future::Future>(&mut self, f: F) -> F::Output {
        tokio::pin!(f);
        loop {
            tokio::select! {
                out = &mut f => return out,
                Some(s) = self.running.next(), if !self.running.is_empty() => self.answered(s),
                Some(()) = self.settling.next(), if !self.settling.is_empty() => {}
            }
            self.settle_answered();
        }
    }

    /// Awaits every submission and settlement under way.
    async fn finish(&mut self) {
        loop {
            self.settle_answered();
            if self.running.is_empty() && self.settling.is_empty() {
                return;
            }
            tokio::select! {
                Some(s) = self.running.next(), if !self.running.is_empty() => self.answered(s),
                Some(()) = self.settling.next(), if !self.settling.is_empty() => {}
            }
        }
    }
}

/// Submits up to `max` due items, as many at once as the panel's limiter allows. A round takes
/// one slot (waiting at most `patience` for it, if given), then claims in one statement as many
/// items as the panel can be sent while a claim runs ([`Pace::per_claim`]; one per slot at
/// first). Each claimed item is sent in the slot the round holds or in the next one free, so it
/// never waits for a slot much longer than a claim takes. What the panel answers is settled
/// beside, one transaction at a time (all that was answered meanwhile in the next). Answers
/// how many were submitted.
async fn drain(
    app: &App,
    client: &SmmClient,
    due: Due,
    max: i64,
    patience: Option<Duration>,
) -> Result<i64, ApiError> {
    let mut flight = Flight {
        running: FuturesUnordered::new(),
        sent: Vec::new(),
        settling: FuturesUnordered::new(),
        settle: |answered| settle_sent(app, answered),
        pace: Pace::default(),
    };
    let mut done = 0;
    let mut failed = None;
    while done < max {
        let take = async {
            match patience {
                Some(p) => client.slot_within(p).await,
                None => Some(client.slot().await),
            }
        };
        let Some(slot) = flight.beside(take).await else { break };
        flight.settle_answered();
        let wanted = flight.pace.per_claim(client.limiter()).min(max - done);
        let started = std::time::Instant::now();
        match flight.beside(claim_many(app, due, wanted)).await {
            Ok(claimed) if claimed.is_empty() => break,
            Ok(claimed) => {
                Pace::smooth(&mut flight.pace.claim, started.elapsed().as_secs_f64());
                done += claimed.len() as i64;
                let mut held = Some(slot);
                for work in claimed {
                    let slot = match held.take().or_else(|| client.try_slot()) {
                        Some(slot) => slot,
                        None => flight.beside(client.slot()).await,
                    };
                    flight.running.push(send_claimed(app, client, slot, work));
                }
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    flight.finish().await;
    match failed {
        Some(e) => Err(e),
        None => Ok(done),
    }
}

/// The immediate submission rounds under way, one per app and kind of work: a placement while
/// one runs asks it for one more round instead of starting its own (`true`: asked).
static ROUNDS: std::sync::Mutex<Vec<(usize, u8, bool)>> = std::sync::Mutex::new(Vec::new());

/// Runs `drain` for `due` right after a placement, unless a round for the same app and kind
/// is under way: then that round runs once more when it ends, so that the placement's work is
/// seen. One round claims and settles the work of many placements at once.
fn drain_soon(app: Arc<App>, due: Due) {
    let Some(client) = app.smm.clone() else { return };
    let key = (Arc::as_ptr(&app) as usize, if matches!(due, Due::Jobs) { 0 } else { 1 });
    {
        let mut rounds = ROUNDS.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(round) = rounds.iter_mut().find(|r| (r.0, r.1) == key) {
            round.2 = true;
            return;
        }
        rounds.push((key.0, key.1, false));
    }
    // The submission's lines name the placing request.
    let request_id = log::current_request_id().unwrap_or_default();
    tokio::spawn(log::with_request_id(request_id, async move {
        loop {
            if let Err(e) = drain(&app, &client, due, i64::MAX, Some(SUBMIT_SOON_PATIENCE)).await {
                log::error(&format!("submission failed: {e}"));
            }
            let mut rounds = ROUNDS.lock().unwrap_or_else(|p| p.into_inner());
            let Some(at) = rounds.iter().position(|r| (r.0, r.1) == key) else { return };
            if rounds[at].2 {
                rounds[at].2 = false;
            } else {
                rounds.swap_remove(at);
                return;
            }
        }
    }));
}

/// Submits the due parts of package and split orders right after one was placed (waiting at
/// most [`SUBMIT_SOON_PATIENCE`] for each slot; the worker sends the rest).
pub fn submit_parts_soon(app: Arc<App>) {
    drain_soon(app, Due::Parts(None));
}

/// Expires lost part submissions and submits due parts (of one kind, or all).
pub async fn submit_due_parts(app: &App, kind: Option<PartKind>, max_parts: i64) -> Result<i64, ApiError> {
    let client = smm_client(app)?;
    let now = app.clock.now();
    for id in app.store.expire_part_submissions(now.minus_ms(SUBMISSION_LEASE_MS), now).await? {
        log::warn(&format!("order {id}: a part's submission lease expired; marked unknown for review"));
    }
    drain(app, &client, Due::Parts(kind), max_parts, None).await
}

/// Submits the due jobs right after an order was placed (the order's among them, if it is
/// due), in rounds that claim and settle many at once. Each round waits at most
/// [`SUBMIT_SOON_PATIENCE`] for a slot of the panel's limiter; without one the orders stay
/// `pending` for the worker.
pub fn submit_soon(app: Arc<App>, _order_id: OrderId) {
    drain_soon(app, Due::Jobs);
}

/// Expires lost submissions and submits due jobs, as many at once as the panel's limiter
/// allows. Answers how many jobs were submitted.
pub async fn submit_due(app: &App, max_jobs: i64) -> Result<i64, ApiError> {
    let client = smm_client(app)?;
    let now = app.clock.now();
    let lost = app.store.expire_submissions(now.minus_ms(SUBMISSION_LEASE_MS), now).await?;
    for id in lost {
        log::warn(&format!("order {id}: submission lease expired; marked unknown for review"));
    }
    drain(app, &client, Due::Jobs, max_jobs, None).await
}

/// What a status sync did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncReport {
    /// Orders asked about.
    pub checked: i64,
    /// Orders that reached an end (completed, partial, canceled).
    pub settled: i64,
    /// Upstream calls made.
    pub calls: i64,
    /// Batches that failed (the orders stay as they were).
    pub failed_calls: i64,
    /// Rows whose status could not be applied (recorded on the row for the operator).
    pub failed_rows: i64,
    /// Refills asked about.
    pub refills_checked: i64,
    /// Refills whose state changed.
    pub refills_updated: i64,
}

impl SyncReport {
    /// Counts `other` in.
    fn add(&mut self, other: &SyncReport) {
        self.checked += other.checked;
        self.settled += other.settled;
        self.calls += other.calls;
        self.failed_calls += other.failed_calls;
        self.failed_rows += other.failed_rows;
        self.refills_checked += other.refills_checked;
        self.refills_updated += other.refills_updated;
    }
}

/// The panel's answer about something that cost `paid` for `quantity` units, read by the core.
/// An `Err` is why it cannot be read (a `Partial` without a readable `remains`).
fn reading(paid: Points, quantity: u64, status: &smm::OrderStatus) -> Result<StatusUpdate, String> {
    let settlement =
        order::settle(paid, quantity, &status.status, status.remains).map_err(|e| e.to_string())?;
    Ok(StatusUpdate {
        settlement,
        start_count: status.start_count,
        remains: status.remains,
        charge: status.charge.clone(),
    })
}

/// Settles one order on the upstream's status (read by the core); `Ok(true)` when it ended.
/// An `Err` is why the store refused it.
async fn apply_one(
    app: &App,
    target: &SyncTarget,
    update: StatusUpdate,
    now: Millis,
) -> Result<bool, String> {
    let applied = app.store.apply_status(target.order_id, update, now).await.map_err(|e| e.to_string())?;
    let ended = applied.as_ref().filter(|o| o.status != OrderStatus::InProgress);
    if let Some(order) = ended {
        life(app, "order.settled", order, None);
    }
    Ok(ended.is_some())
}

/// Settles one part on the upstream's status (read by the core); `Ok(true)` when it ended.
async fn apply_part(
    app: &App,
    target: &PartSyncTarget,
    update: StatusUpdate,
    now: Millis,
) -> Result<bool, String> {
    let terminal = update.settlement.status != OrderStatus::InProgress;
    let applied =
        app.store.apply_part_status(target.part_id, update, now).await.map_err(|e| e.to_string())?;
    Ok(applied.is_some() && terminal)
}

/// Asks the panel for the statuses of the upstream orders `ids` (timed for the metrics).
async fn statuses_of<'a>(
    app: &App,
    client: &SmmClient,
    ids: impl Iterator<Item = &'a str>,
) -> Result<Vec<smm::StatusEntry>, SmmFailure> {
    let ids: Vec<String> = ids.map(str::to_owned).collect();
    let started = std::time::Instant::now();
    let answer = client.multi_status(&ids).await;
    let outcome = if answer.is_ok() { "ok" } else { "error" };
    app.metrics.upstream("smm", "status", outcome, started.elapsed());
    answer
}

/// The panel's ids of a batch of orders.
fn upstream_ids(batch: &[SyncTarget]) -> impl Iterator<Item = &str> {
    batch.iter().map(|t| t.smm_order_id.as_str())
}

/// Applies what the panel answered for one batch: the core reads each answer, the store applies
/// the batch in one transaction.
async fn apply_batch(
    app: &App,
    batch: &[SyncTarget],
    answer: Result<Vec<smm::StatusEntry>, SmmFailure>,
    report: &mut SyncReport,
) -> Result<(), ApiError> {
    report.calls += 1;
    let statuses = match answer {
        Ok(s) => s,
        Err(e) => {
            log::warn(&format!("status sync: a batch of {} failed: {e}", batch.len()));
            report.failed_calls += 1;
            return Ok(());
        }
    };
    let now = app.clock.now();
    let found = statuses.iter().map(|(id, r)| (id.as_str(), r)).collect::<HashMap<_, _>>();
    let (mut updates, mut untouched, mut unreadable) = (Vec::new(), Vec::new(), Vec::new());
    for target in batch {
        report.checked += 1;
        match found.get(target.smm_order_id.as_str()) {
            Some(Ok(status)) => match reading(target.final_price, target.total_quantity, status) {
                Ok(update) => updates.push((target, update)),
                Err(e) => unreadable.push((target, e)),
            },
            _ => untouched.push(target.order_id),
        }
    }
    let batched = app
        .store
        .apply_statuses(
            updates.iter().map(|(t, u)| (t.order_id, u.clone())).collect(),
            untouched.clone(),
            now,
        )
        .await;
    match batched {
        Ok(applied) => {
            for order in applied.iter().flatten().filter(|o| o.status != OrderStatus::InProgress) {
                report.settled += 1;
                life(app, "order.settled", order, None);
            }
        }
        // One row the store refuses never stops the batch: they are applied one by one, and the
        // refused row's error is recorded for the operator (it moves behind the others).
        Err(_) => {
            for (target, update) in updates {
                match apply_one(app, target, update, now).await {
                    Ok(true) => report.settled += 1,
                    Ok(false) => {}
                    Err(e) => unreadable.push((target, e)),
                }
            }
            app.store.touch_status_checks(&untouched, now).await?;
        }
    }
    for (target, e) in unreadable {
        report.failed_rows += 1;
        log::warn(&format!("order {}: status not applied: {e}", target.order_id));
        app.store.record_sync_failure(target.order_id, None, &e, now).await?;
    }
    Ok(())
}

/// Asks the panel about `targets`, 100 per call, and settles what ended; the next batch is asked
/// for while one is applied.
pub async fn sync(app: &App, client: &SmmClient, targets: Vec<SyncTarget>) -> Result<SyncReport, ApiError> {
    let mut report = SyncReport::default();
    let mut batches = targets.chunks(smm::MAX_BULK).peekable();
    let mut asked = match batches.peek() {
        Some(first) => Some(statuses_of(app, client, upstream_ids(first)).await),
        None => None,
    };
    while let (Some(batch), Some(answer)) = (batches.next(), asked.take()) {
        // The panel is asked for the next batch while this one is applied.
        let next = async {
            match batches.peek() {
                Some(next) => Some(statuses_of(app, client, upstream_ids(next)).await),
                None => None,
            }
        };
        let (applied, next) = tokio::join!(apply_batch(app, batch, answer, &mut report), next);
        applied?;
        asked = next;
    }
    if app.config.log_requests && report.calls > 0 {
        log::event(
            "sync.batch",
            serde_json::json!({"calls": report.calls, "checked": report.checked, "settled": report.settled,
                               "failed_calls": report.failed_calls, "failed_rows": report.failed_rows}),
        );
    }
    Ok(report)
}

/// One round of the status sync: up to `max_orders` in-progress orders and as many accepted
/// parts of package and split orders, least recently checked first.
pub async fn sync_due(app: &App, max_orders: i64) -> Result<SyncReport, ApiError> {
    let client = smm_client(app)?;
    let targets = app.store.orders_to_sync(max_orders, None).await?;
    let mut report = sync(app, &client, targets).await?;
    report.add(&sync_parts(app, &client, max_orders).await?);
    report.add(&sync_refills(app, &client, max_orders).await?);
    Ok(report)
}

/// Asks the panel about pending and in-progress refills, 100 per call (`refill_status` with
/// `refills=`), and records what changed through the core's refill machine.
pub async fn sync_refills(app: &App, client: &SmmClient, max_refills: i64) -> Result<SyncReport, ApiError> {
    let mut report = SyncReport::default();
    let targets = app.store.refills_to_sync(max_refills).await?;
    for batch in targets.chunks(smm::MAX_BULK) {
        let ids: Vec<String> = batch.iter().map(|r| r.smm_refill_id.clone().unwrap_or_default()).collect();
        report.calls += 1;
        let started = std::time::Instant::now();
        let answer = client.refill_status(&ids).await;
        let outcome = if answer.is_ok() { "ok" } else { "error" };
        app.metrics.upstream("smm", "refill_status", outcome, started.elapsed());
        let statuses = match answer {
            Ok(s) => s,
            Err(e) => {
                log::warn(&format!("refill sync: a batch of {} failed: {e}", batch.len()));
                report.failed_calls += 1;
                continue;
            }
        };
        let now = app.clock.now();
        for (refill, smm_id) in batch.iter().zip(&ids) {
            report.refills_checked += 1;
            let found = statuses.iter().find(|(id, _)| id == smm_id).map(|(_, r)| r);
            match found {
                Some(Ok(status)) => {
                    let input = snspmt_core::refill::RefillInput::Status(status.clone());
                    match app.store.update_refill(refill.refill_id, input, now).await {
                        Ok(r) if r.state != refill.state => report.refills_updated += 1,
                        Ok(_) => {}
                        Err(e) => {
                            report.failed_rows += 1;
                            log::warn(&format!("refill {}: status not applied: {e}", refill.refill_id));
                        }
                    }
                }
                Some(Err(e)) => {
                    app.store.record_refill_check(refill.refill_id, Some(e.message.clone()), now).await?
                }
                None => app.store.record_refill_check(refill.refill_id, None, now).await?,
            }
        }
    }
    Ok(report)
}

/// Asks the panel about accepted parts, 100 per call, and settles what ended.
async fn sync_parts(app: &App, client: &SmmClient, max_parts: i64) -> Result<SyncReport, ApiError> {
    let mut report = SyncReport::default();
    let targets = app.store.parts_to_sync(max_parts).await?;
    for batch in targets.chunks(smm::MAX_BULK) {
        report.calls += 1;
        let ids = batch.iter().map(|t| t.smm_order_id.as_str());
        let Ok(statuses) = statuses_of(app, client, ids).await else {
            report.failed_calls += 1;
            continue;
        };
        let now = app.clock.now();
        let found = statuses.iter().map(|(id, r)| (id.as_str(), r)).collect::<HashMap<_, _>>();
        let (mut updates, mut untouched, mut unreadable) = (Vec::new(), Vec::new(), Vec::new());
        for target in batch {
            report.checked += 1;
            match found.get(target.smm_order_id.as_str()) {
                Some(Ok(status)) => {
                    let quantity = u64::try_from(target.quantity).unwrap_or(0);
                    match reading(target.share, quantity, status) {
                        Ok(update) => updates.push((target, update)),
                        Err(e) => unreadable.push((target, e)),
                    }
                }
                _ => untouched.push(target.part_id),
            }
        }
        let batch_updates = updates.iter().map(|(t, u)| (t.part_id, u.clone())).collect();
        match app.store.apply_part_statuses(batch_updates, untouched.clone(), now).await {
            Ok(applied) => {
                for (applied, (_, update)) in applied.iter().zip(&updates) {
                    if applied.is_some() && update.settlement.status != OrderStatus::InProgress {
                        report.settled += 1;
                    }
                }
            }
            Err(_) => {
                for (target, update) in updates {
                    match apply_part(app, target, update, now).await {
                        Ok(true) => report.settled += 1,
                        Ok(false) => {}
                        Err(e) => unreadable.push((target, e)),
                    }
                }
                app.store.touch_part_checks(&untouched, now).await?;
            }
        }
        for (target, e) in unreadable {
            report.failed_rows += 1;
            log::warn(&format!("order {} part {}: status not applied: {e}", target.order_id, target.part_id));
            app.store.record_sync_failure(target.order_id, Some(target.part_id), &e, now).await?;
        }
    }
    Ok(report)
}

/// The in-process workers: submissions every 2 s, status sync every `sync_every`.
pub fn spawn_workers(app: Arc<App>, sync_every: Duration) {
    if app.smm.is_none() {
        log::warn("workers: the SMM panel is not configured; orders will wait");
        return;
    }
    let submitter = app.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = submit_due(&submitter, 500).await {
                log::error(&format!("submission worker: {e}"));
            }
            if let Err(e) = submit_due_parts(&submitter, None, 500).await {
                log::error(&format!("part submission worker: {e}"));
            }
        }
    });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(sync_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = sync_due(&app, 10_000).await {
                log::error(&format!("status sync worker: {e}"));
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::{Pace, CLAIM_AT_MOST};
    use crate::upstream::limit::{Limiter, Rate};

    #[test]
    fn a_claim_takes_what_the_slots_send_while_it_runs() {
        let eight = Limiter::new(8, None);
        let pace = |claim, add| Pace { claim: Some(claim), add: Some(add) };
        // Before anything was measured: one item per slot.
        assert_eq!(Pace::default().per_claim(&eight), 8);
        assert_eq!(Pace { claim: Some(0.05), add: None }.per_claim(&eight), 8);
        // A 1 ms panel and a 5 ms claim: 8 slots send 40 items meanwhile.
        assert_eq!(pace(0.005, 0.001).per_claim(&eight), 40);
        // Never more than CLAIM_AT_MOST, never fewer than one per slot.
        assert_eq!(pace(0.05, 0.001).per_claim(&eight), CLAIM_AT_MOST);
        assert_eq!(pace(0.05, 1.0).per_claim(&eight), 8);
        assert_eq!(pace(0.05, 0.0).per_claim(&eight), CLAIM_AT_MOST);
        // A rate of 20 calls a second bounds it: 20/s over a 1 s claim.
        let rated = Limiter::new(8, Rate::parse("20/1").expect("rate"));
        assert_eq!(pace(1.0, 0.001).per_claim(&rated), 20);
        // More slots than CLAIM_AT_MOST: one per slot still.
        assert_eq!(pace(0.05, 0.001).per_claim(&Limiter::new(200, None)), 200);
    }
}
