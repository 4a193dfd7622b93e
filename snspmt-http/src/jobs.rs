//! Background work shared by the in-process workers, the cron endpoints and the handlers:
//! submitting claimed jobs to the SMM panel, and syncing order statuses.
//!
//! The outbox discipline (§8): a job is claimed (`submitting`, committed) before the upstream
//! is called, and settled after; a job whose outcome is unknown is never resent.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use snspmt_core::order::{self, NotAccepted, OrderStatus};
use snspmt_core::upstream::smm::{self, AddOrder, Drip, ServiceType};
use snspmt_core::Points;
use snspmt_store::{
    ClaimedJob, ClaimedPart, Order, OrderId, PartKind, PartSyncTarget, StatusUpdate, SubmissionOutcome,
    SyncTarget,
};

use crate::error::ApiError;
use crate::upstream::limit::Slot;
use crate::upstream::smm::{AddOutcome, SmmClient};
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

/// Sends one claimed job to the panel in `slot` and records the outcome.
pub async fn submit(app: &App, client: &SmmClient, slot: Slot, job: ClaimedJob) -> Result<Order, ApiError> {
    let form = add_form(client.key(), &job);
    let outcome = send(app, client, slot, form, job.order_id, job.attempts).await;
    let order = app.store.settle_submission(job.job_id, outcome, app.clock.now()).await?;
    life(app, "order.submission", &order, None);
    Ok(order)
}

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

/// Sends one claimed part of a package or split order in `slot` and records the outcome.
pub async fn submit_part(
    app: &App,
    client: &SmmClient,
    slot: Slot,
    part: ClaimedPart,
) -> Result<Order, ApiError> {
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
    let form = smm::add_form(client.key(), &order);
    let outcome = send(app, client, slot, form, part.order_id, part.attempts).await;
    let order = app.store.settle_part_submission(part.part_id, outcome, app.clock.now()).await?;
    life(app, "order.part_submission", &order, Some(part.part_id));
    Ok(order)
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
) -> SubmissionOutcome {
    let form = match form {
        Ok(form) => form,
        Err(e) => return SubmissionOutcome::Rejected { message: format!("cannot build the order: {e}") },
    };
    let started = std::time::Instant::now();
    let added = client.add(slot, form).await;
    let outcome = match &added {
        AddOutcome::Accepted { .. } => "ok",
        AddOutcome::Rejected(_) => "rejected",
        AddOutcome::NotAccepted { why, .. } => why.as_str(),
        AddOutcome::Unknown(_) => "unknown",
    };
    app.metrics.upstream("smm", "add", outcome, started.elapsed());
    match added {
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
    }
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

async fn claim_one(app: &App, due: Due) -> Result<Option<Claimed>, ApiError> {
    let now = app.clock.now();
    Ok(match due {
        Due::Jobs => app.store.claim_due_jobs(now, 1).await?.pop().map(Claimed::Job),
        Due::Parts(kind) => app.store.claim_due_parts(now, 1, kind).await?.pop().map(Claimed::Part),
    })
}

async fn submit_claimed(app: &App, client: &SmmClient, slot: Slot, work: Claimed) {
    let (order_id, result) = match work {
        Claimed::Job(job) => (job.order_id, submit(app, client, slot, job).await),
        Claimed::Part(part) => (part.order_id, submit_part(app, client, slot, part).await),
    };
    if let Err(e) = result {
        log::error(&format!("order {order_id}: submission failed: {e}"));
    }
}

/// Awaits `f` while the submissions under way go on: they are not spawned (they borrow the
/// app), so they move only while polled, and one of them may hold the database connection
/// `f` waits for.
async fn beside<F: std::future::Future>(
    running: &mut FuturesUnordered<impl std::future::Future<Output = ()>>,
    f: F,
) -> F::Output {
    tokio::pin!(f);
    loop {
        tokio::select! {
            out = &mut f => return out,
            Some(()) = running.next(), if !running.is_empty() => {}
        }
    }
}

/// Submits up to `max` due items, as many at once as the panel's limiter allows: each takes a
/// slot first (with `patience`, waiting at most that long in all), and only then is claimed,
/// so no claimed item ever waits for a slot. Answers how many were submitted.
async fn drain(
    app: &App,
    client: &SmmClient,
    due: Due,
    max: i64,
    patience: Option<Duration>,
) -> Result<i64, ApiError> {
    let deadline = patience.map(|p| tokio::time::Instant::now() + p);
    let mut running = FuturesUnordered::new();
    let mut done = 0;
    let mut failed = None;
    while done < max {
        let take = async {
            match deadline {
                Some(at) => tokio::time::timeout_at(at, client.slot()).await.ok(),
                None => Some(client.slot().await),
            }
        };
        let Some(slot) = beside(&mut running, take).await else { break };
        match beside(&mut running, claim_one(app, due)).await {
            Ok(Some(work)) => {
                done += 1;
                running.push(submit_claimed(app, client, slot, work));
            }
            Ok(None) => break,
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    while running.next().await.is_some() {}
    match failed {
        Some(e) => Err(e),
        None => Ok(done),
    }
}

/// Submits the due parts of package and split orders right after one was placed (waiting at
/// most [`SUBMIT_SOON_PATIENCE`] for a slot; the worker sends the rest).
pub fn submit_parts_soon(app: Arc<App>) {
    let Some(client) = app.smm.clone() else { return };
    let request_id = log::current_request_id().unwrap_or_default();
    tokio::spawn(log::with_request_id(request_id, async move {
        if let Err(e) = drain(&app, &client, Due::Parts(None), 50, Some(SUBMIT_SOON_PATIENCE)).await {
            log::error(&format!("part submission failed: {e}"));
        }
    }));
}

/// Expires lost part submissions and submits due parts (of one kind, or all).
pub async fn submit_due_parts(app: &App, kind: Option<PartKind>, max_parts: i64) -> Result<i64, ApiError> {
    let client = smm_client(app)?;
    let now = app.clock.now();
    for id in app.store.expire_part_submissions(now - SUBMISSION_LEASE_MS, now).await? {
        log::warn(&format!("order {id}: a part's submission lease expired; marked unknown for review"));
    }
    drain(app, &client, Due::Parts(kind), max_parts, None).await
}

/// Submits an order's job right after it was placed, if it is due and nobody else has it. It
/// waits at most [`SUBMIT_SOON_PATIENCE`] for a slot of the panel's limiter; without one the
/// order stays `pending` for the worker.
pub fn submit_soon(app: Arc<App>, order_id: OrderId) {
    let Some(client) = app.smm.clone() else { return };
    // The submission's line names the placing request.
    let request_id = log::current_request_id().unwrap_or_default();
    tokio::spawn(log::with_request_id(request_id, async move {
        let Some(slot) = client.slot_within(SUBMIT_SOON_PATIENCE).await else { return };
        match app.store.claim_order_job(order_id, app.clock.now()).await {
            Ok(Some(job)) => {
                if let Err(e) = submit(&app, &client, slot, job).await {
                    log::error(&format!("order {order_id}: submission failed: {e}"));
                }
            }
            Ok(None) => {}
            Err(e) => log::error(&format!("order {order_id}: claim failed: {e}")),
        }
    }));
}

/// Expires lost submissions and submits due jobs, as many at once as the panel's limiter
/// allows. Answers how many jobs were submitted.
pub async fn submit_due(app: &App, max_jobs: i64) -> Result<i64, ApiError> {
    let client = smm_client(app)?;
    let now = app.clock.now();
    let lost = app.store.expire_submissions(now - SUBMISSION_LEASE_MS, now).await?;
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

/// Settles one order on the upstream's status, as the core says; `Ok(true)` when it ended.
/// An `Err` is the reason it could not be applied (an unreadable reading, a store refusal).
async fn apply_one(
    app: &App,
    target: &SyncTarget,
    status: &smm::OrderStatus,
    now: i64,
) -> Result<bool, String> {
    let update = reading(target.final_price, target.total_quantity, status)?;
    let applied = app.store.apply_status(target.order_id, update, now).await.map_err(|e| e.to_string())?;
    let ended = applied.as_ref().filter(|o| o.status != OrderStatus::InProgress);
    if let Some(order) = ended {
        life(app, "order.settled", order, None);
    }
    Ok(ended.is_some())
}

/// Settles one part on the upstream's status; `Ok(true)` when it ended.
async fn apply_part(
    app: &App,
    target: &PartSyncTarget,
    status: &smm::OrderStatus,
    now: i64,
) -> Result<bool, String> {
    let update = reading(target.share, u64::try_from(target.quantity).unwrap_or(0), status)?;
    let terminal = update.settlement.status != OrderStatus::InProgress;
    let applied =
        app.store.apply_part_status(target.part_id, update, now).await.map_err(|e| e.to_string())?;
    Ok(applied.is_some() && terminal)
}

/// Asks the panel about `targets`, 100 per call, and settles what ended.
pub async fn sync(app: &App, client: &SmmClient, targets: Vec<SyncTarget>) -> Result<SyncReport, ApiError> {
    let mut report = SyncReport::default();
    for batch in targets.chunks(smm::MAX_BULK) {
        let ids: Vec<String> = batch.iter().map(|t| t.smm_order_id.clone()).collect();
        report.calls += 1;
        let started = std::time::Instant::now();
        let answer = client.multi_status(&ids).await;
        let outcome = if answer.is_ok() { "ok" } else { "error" };
        app.metrics.upstream("smm", "status", outcome, started.elapsed());
        let statuses = match answer {
            Ok(s) => s,
            Err(e) => {
                log::warn(&format!("status sync: a batch of {} failed: {e}", batch.len()));
                report.failed_calls += 1;
                continue;
            }
        };
        let now = app.clock.now();
        let mut untouched = Vec::new();
        for target in batch {
            report.checked += 1;
            let found = statuses.iter().find(|(id, _)| *id == target.smm_order_id).map(|(_, r)| r);
            let Some(Ok(status)) = found else {
                untouched.push(target.order_id);
                continue;
            };
            // One row that cannot be applied never stops the batch: its error is recorded for
            // the operator and it moves behind the others.
            match apply_one(app, target, status, now).await {
                Ok(true) => report.settled += 1,
                Ok(false) => {}
                Err(e) => {
                    report.failed_rows += 1;
                    log::warn(&format!("order {}: status not applied: {e}", target.order_id));
                    app.store.record_sync_failure(target.order_id, None, &e, now).await?;
                }
            }
        }
        app.store.touch_status_checks(&untouched, now).await?;
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
    let parts = sync_parts(app, &client, max_orders).await?;
    report.checked += parts.checked;
    report.settled += parts.settled;
    report.calls += parts.calls;
    report.failed_calls += parts.failed_calls;
    report.failed_rows += parts.failed_rows;
    let refills = sync_refills(app, &client, max_orders).await?;
    report.calls += refills.calls;
    report.failed_calls += refills.failed_calls;
    report.refills_checked = refills.refills_checked;
    report.refills_updated = refills.refills_updated;
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
        let ids: Vec<String> = batch.iter().map(|t| t.smm_order_id.clone()).collect();
        report.calls += 1;
        let started = std::time::Instant::now();
        let answer = client.multi_status(&ids).await;
        app.metrics.upstream("smm", "status", if answer.is_ok() { "ok" } else { "error" }, started.elapsed());
        let Ok(statuses) = answer else {
            report.failed_calls += 1;
            continue;
        };
        let now = app.clock.now();
        let mut untouched = Vec::new();
        for target in batch {
            report.checked += 1;
            let found = statuses.iter().find(|(id, _)| *id == target.smm_order_id).map(|(_, r)| r);
            let Some(Ok(status)) = found else {
                untouched.push(target.part_id);
                continue;
            };
            match apply_part(app, target, status, now).await {
                Ok(true) => report.settled += 1,
                Ok(false) => {}
                Err(e) => {
                    report.failed_rows += 1;
                    log::warn(&format!(
                        "order {} part {}: status not applied: {e}",
                        target.order_id, target.part_id
                    ));
                    app.store.record_sync_failure(target.order_id, Some(target.part_id), &e, now).await?;
                }
            }
        }
        app.store.touch_part_checks(&untouched, now).await?;
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
