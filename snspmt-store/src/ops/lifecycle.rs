//! The order life cycle, written once for both backends: submissions settling, upstream
//! statuses, cancels and operator ends, for single and multi-part orders. Each operation loads
//! what the core needs, asks it ([`snspmt_core::order`], [`snspmt_core::plan::Run`]), writes the
//! changed rows and posts the refunds with the core's event keys, in the caller's transaction.

use snspmt_core::ledger::events;
use snspmt_core::order::{admin_transition, refund_cap, AdminTransition, OrderStatus};
use snspmt_core::plan::{Ender, Part, PartState, Run, Stage, Submitted};
use snspmt_core::single::{Input, Job, Single};
use snspmt_core::{LedgerKind, Points};

use super::{audited, post_in};
use crate::sql::{clean_text, Conn, Dialect, Row};
use crate::{Conflict, JobId, Millis, OrderId, PartId};
use crate::{NewAudit, Order, OrderPart, Posting, StatusUpdate, StoreError, StoreResult, SubmissionOutcome};

/// PostgreSQL: `= ANY` the ids under `$key` in the JSON array `$1`. Joined with the array alone,
/// the planner expects 100 rows and hashes a scan of the whole table; `= ANY` is an index scan.
macro_rules! any_id {
    ($key:literal) => {
        concat!(
            "= ANY(ARRAY(SELECT (value ->> '",
            $key,
            "')::bigint FROM json_array_elements($1::text::json)))"
        )
    };
}

pub(crate) const ORDER_BY_ID: &str = concat!("SELECT ", order_cols!(), " FROM orders WHERE order_id = $1");
const ORDER_FOR_UPDATE: &str =
    concat!("SELECT ", order_cols!(), " FROM orders WHERE order_id = $1 FOR UPDATE");
pub(crate) const ORDER_PARTS: &str =
    concat!("SELECT ", part_cols!(), " FROM order_parts WHERE order_id = $1 ORDER BY part_index");
const ADD_REFUND: &str =
    "UPDATE orders SET refunded_amount = refunded_amount + $2 WHERE order_id = $1 RETURNING refunded_amount";
const SET_ORDER_STATUS: &str =
    concat!("UPDATE orders SET status = $2, updated_at = $3 WHERE order_id = $1 RETURNING ", order_cols!());
const APPLY_STATUS: &str = concat!(
    "UPDATE orders SET start_count = COALESCE($2, start_count), remains = COALESCE($3, remains), ",
    "charge = COALESCE($4, charge), last_status_check = $5 WHERE order_id = $1 AND status = 'in_progress' RETURNING ",
    order_cols!()
);
/// PostgreSQL: [`APPLY_STATUS`] for a batch of orders in one statement (`$1`: a JSON array of
/// `{"id", "sc", "rem", "ch"}`).
const APPLY_STATUSES: &str = concat!(
    "UPDATE orders SET start_count = COALESCE(u.sc, start_count), remains = COALESCE(u.rem, remains), ",
    "charge = COALESCE(u.ch, charge), last_status_check = $2 ",
    "FROM json_to_recordset($1::text::json) AS u(id bigint, sc bigint, rem bigint, ch text) ",
    "WHERE orders.order_id = u.id AND orders.status = 'in_progress' AND orders.order_id ",
    any_id!("id"),
    " RETURNING ",
    order_cols!()
);
/// PostgreSQL: marks a batch of orders (`$1`: a JSON array of ids) checked at `$2`.
const TOUCH_STATUS_CHECKS: &str = "UPDATE orders SET last_status_check = $2 \
    WHERE order_id = ANY(ARRAY(SELECT value::bigint FROM json_array_elements_text($1::text::json)))";
pub(crate) const TOUCH_STATUS_CHECK: &str = "UPDATE orders SET last_status_check = $2 WHERE order_id = $1";
const LOST_JOBS: &str =
    "SELECT order_id FROM submission_jobs WHERE state = 'submitting' AND claimed_at < $1 \
    ORDER BY job_id";
const RECORD_ORDER_SYNC_ERROR: &str =
    "UPDATE orders SET error = $2, last_status_check = $3 WHERE order_id = $1";
const RECORD_PART_SYNC_ERROR: &str =
    "UPDATE order_parts SET last_error = $2, last_status_check = $3 WHERE part_id = $1";
const ADD_PART_REFUND: &str =
    "UPDATE order_parts SET refunded = refunded + $2 WHERE part_id = $1 RETURNING refunded";
/// An order (locked) and its submission job (one per order), in one round trip: by order id
/// (`$1`) or by job id.
const ORDER_AND_JOB: &str = concat!(
    "SELECT ",
    order_cols!(),
    ", job_id, state, due_at FROM orders JOIN submission_jobs USING (order_id) ",
    "WHERE order_id = COALESCE($1::bigint, (SELECT order_id FROM submission_jobs WHERE job_id = $2::bigint)) ",
    "FOR UPDATE OF orders"
);
/// PostgreSQL: [`ORDER_AND_JOB`] for a batch of jobs (`$1`: a JSON array of ids), the orders
/// locked in id order.
const ORDERS_AND_JOBS: &str = concat!(
    "SELECT ",
    order_cols!(),
    ", job_id, state, due_at FROM orders JOIN submission_jobs USING (order_id) ",
    "WHERE job_id = ANY(ARRAY(SELECT value::bigint FROM json_array_elements_text($1::text::json))) ",
    "ORDER BY order_id FOR UPDATE OF orders"
);
/// PostgreSQL: [`MOVE_JOB`] for a batch (`$1`: a JSON array).
const MOVE_JOBS: &str = concat!(
    "UPDATE submission_jobs SET state = m.js, due_at = COALESCE(m.jd, due_at), last_error = COALESCE(m.je, last_error) ",
    "FROM json_to_recordset($1::text::json) AS m(ji bigint, jw text, js text, jd bigint, je text) ",
    "WHERE job_id = m.ji AND state = m.jw AND job_id ",
    any_id!("ji"),
    " RETURNING job_id"
);
/// PostgreSQL: [`SET_ORDER_STATE`] for a batch of submission outcomes (`$1`: a JSON array).
const SET_ORDER_STATES: &str = concat!(
    "UPDATE orders SET status = m.os, smm_panel_order_id = COALESCE(m.om, smm_panel_order_id), error = m.oe, ",
    "updated_at = $2 FROM json_to_recordset($1::text::json) AS m(oi bigint, ow text, os text, om text, oe text) ",
    "WHERE orders.order_id = m.oi AND orders.status = m.ow AND orders.order_id ",
    any_id!("oi"),
    " RETURNING ",
    order_cols!()
);
/// The job moves only from the state the machine saw (a concurrent writer makes it a conflict).
const MOVE_JOB: &str = "UPDATE submission_jobs SET state = $3, due_at = COALESCE($4, due_at), \
    last_error = COALESCE($5, last_error) WHERE job_id = $1 AND state = $2 RETURNING job_id";
const SET_ORDER_STATE: &str = concat!(
    "UPDATE orders SET status = $3, smm_panel_order_id = COALESCE($4, smm_panel_order_id), ",
    "error = CASE WHEN $7 THEN $5 ELSE error END, updated_at = $6 WHERE order_id = $1 AND status = $2 RETURNING ",
    order_cols!()
);
/// The order of part `$1`, locked, and the part's index (one round trip).
const PART_ORDER_FOR_UPDATE: &str = concat!(
    "SELECT ",
    order_cols!(),
    ", (SELECT part_index FROM order_parts WHERE part_id = $1) FROM orders ",
    "WHERE order_id = (SELECT order_id FROM order_parts WHERE part_id = $1) FOR UPDATE"
);
const WRITE_PART: &str = "UPDATE order_parts SET state = $3, due_at = $4, settled_at = $5, outcome = $6 \
    WHERE part_id = $1 AND state = $2 RETURNING part_id";
const PART_SUBMISSION: &str = "UPDATE order_parts SET smm_order_id = COALESCE($2, smm_order_id), \
    last_error = $3 WHERE part_id = $1";
/// [`WRITE_PART`] and [`PART_SUBMISSION`] of the same part in one statement.
const WRITE_PART_SUBMISSION: &str = "UPDATE order_parts SET state = $3, due_at = $4, settled_at = $5, \
    outcome = $6, smm_order_id = COALESCE($7, smm_order_id), last_error = $8 \
    WHERE part_id = $1 AND state = $2 RETURNING part_id";
const PART_STATUS: &str = "UPDATE order_parts SET upstream_status = $2, remains = COALESCE($3, remains), \
    last_status_check = $4 WHERE part_id = $1";
const LOST_PARTS: &str =
    "SELECT part_id FROM order_parts WHERE state = 'submitting' AND claimed_at < $1 ORDER BY part_id";
const HAS_PARTS: &str = "SELECT EXISTS (SELECT 1 FROM order_parts WHERE order_id = $1)";

row_mapper!(pub(crate) order_row -> Order {
    order_id, user_id, service_id, service_name, link, quantity, runs, interval_minutes, comments,
    price: Points, discount_amount: Points, final_price: Points, commission_amount: Points,
    status: parse, smm_panel_order_id, start_count, remains, charge, refunded_amount: Points,
    last_status_check, error, created_at, updated_at, scheduled_at, package_id, split_days, total_parts,
    package_steps: json, params: json_or_default,
});

row_mapper!(pub(crate) part_row -> OrderPart {
    part_id, order_id, part_index, step_index, repeat_index, name, service_id, quantity, share: Points,
    delay_minutes, state: parse, due_at, smm_order_id, upstream_status, remains, refunded: Points, outcome,
    settled_at, last_error,
});

pub(crate) async fn order_in<C: Conn>(c: &mut C, order_id: OrderId) -> StoreResult<Order> {
    order_row(&c.query_opt(ORDER_BY_ID, &[&order_id]).await?.ok_or(StoreError::NotFound)?)
}

/// The order, locked for the rest of the transaction on PostgreSQL.
async fn order_locked<C: Conn>(c: &mut C, order_id: OrderId) -> StoreResult<Order> {
    order_row(&c.query_opt(ORDER_FOR_UPDATE, &[&order_id]).await?.ok_or(StoreError::NotFound)?)
}

fn core_part(p: &OrderPart) -> Part {
    Part {
        index: u32::try_from(p.part_index).unwrap_or(u32::MAX),
        step_index: u32::try_from(p.step_index).unwrap_or(0),
        repeat_index: u32::try_from(p.repeat_index).unwrap_or(0),
        name: p.name.clone(),
        service_id: p.service_id,
        quantity: u64::try_from(p.quantity).unwrap_or(0),
        delay_minutes: u32::try_from(p.delay_minutes).unwrap_or(0),
        share: p.share,
    }
}

/// The stored parts of an order and the run the core makes of them.
async fn load_run<C: Conn>(c: &mut C, order_id: OrderId) -> StoreResult<(Vec<OrderPart>, Run)> {
    let parts = super::rows(c, ORDER_PARTS, &[&order_id], part_row).await?;
    let states = parts.iter().map(OrderPart::run_state).collect::<Vec<_>>();
    let run = Run::from_states(parts.iter().map(core_part).collect(), states);
    Ok((parts, run))
}

/// Posts a refund (ledger `order_refund`, once per event key) and adds it to the order's
/// `refunded_amount`; the amount is capped by the core so that an order never gives back more
/// than it was charged. Answers what was refunded.
async fn give_back<C: Conn>(
    c: &mut C,
    order: &Order,
    wanted: Points,
    event: (String, String),
    now: Millis,
) -> StoreResult<Points> {
    let refunded: i64 =
        c.scalar("SELECT refunded_amount FROM orders WHERE order_id = $1", &[&order.order_id]).await?;
    let amount = refund_cap(order.final_price, Points(refunded), wanted);
    post_refund(c, order, amount, event, now).await?;
    Ok(amount)
}

/// Posts a refund the core decided (ledger `order_refund`, once per event key) and adds it to
/// the order's `refunded_amount`.
async fn post_refund<C: Conn>(
    c: &mut C,
    order: &Order,
    amount: Points,
    (event_ref, description): (String, String),
    now: Millis,
) -> StoreResult<()> {
    if amount.0 <= 0 {
        return Ok(());
    }
    let posting = Posting {
        user_id: order.user_id.clone(),
        kind: LedgerKind::OrderRefund,
        amount,
        reference: Some(events::order_reference(order.order_id.0)),
        description,
        event_ref: Some(event_ref),
        audit: None,
    };
    post_in(c, &posting, now).await?;
    c.execute(ADD_REFUND, &[&order.order_id, &amount.0]).await?;
    Ok(())
}

async fn refund_part<C: Conn>(
    c: &mut C,
    order: &Order,
    part_id: PartId,
    index: i64,
    wanted: Points,
    now: Millis,
) -> StoreResult<()> {
    let amount = give_back(c, order, wanted, events::part_refund(order.order_id.0, index), now).await?;
    if amount.0 > 0 {
        c.execute(ADD_PART_REFUND, &[&part_id, &amount.0]).await?;
    }
    Ok(())
}

/// Ends a multi-part order before its time: the core decides which parts end and what each
/// gives back; the order takes `to`.
async fn end_run<C: Conn>(
    c: &mut C,
    order: &Order,
    by: Ender,
    to: OrderStatus,
    now: Millis,
) -> StoreResult<Order> {
    let (parts, mut run) = load_run(c, order.order_id).await?;
    let refunds = run.end(by).map_err(|_| StoreError::Conflict(Conflict::InvalidTransition))?;
    // The order takes `to` first: ended, it does not follow its parts (and its commission
    // settles once, on that status).
    let row = c.query_opt(SET_ORDER_STATUS, &[&order.order_id, &to.as_str(), &now]).await?;
    let order = order_row(&row.ok_or(StoreError::NotFound)?)?;
    apply_run(c, &order, &parts, &run, &refunds, None, now).await
}

/// A submission's outcome as the core's machines take it, with the panel's id and the error
/// text (cleaned) to store.
fn outcome_of(outcome: &SubmissionOutcome) -> (Submitted, Option<String>, Option<String>) {
    match outcome {
        SubmissionOutcome::Accepted { smm_order_id } => {
            (Submitted::Accepted, Some(clean_text(smm_order_id)), None)
        }
        SubmissionOutcome::Rejected { message } => (Submitted::Rejected, None, Some(clean_text(message))),
        SubmissionOutcome::NotAccepted { message, why, attempts } => {
            (Submitted::NotAccepted { why: *why, attempts: *attempts }, None, Some(clean_text(message)))
        }
        SubmissionOutcome::Unknown { message } => (Submitted::Unknown, None, Some(clean_text(message))),
    }
}

/// A single order (locked) and its submission job, as the core's machine sees them: by the
/// order's id or the job's.
async fn single<C: Conn>(
    c: &mut C,
    order_id: Option<OrderId>,
    job_id: Option<JobId>,
) -> StoreResult<Option<(Order, JobId, Single)>> {
    let Some(row) = c.query_opt(ORDER_AND_JOB, &[&order_id, &job_id]).await? else { return Ok(None) };
    single_row(&row).map(Some)
}

/// An order, its job and the machine the core makes of them, from a row of [`ORDER_AND_JOB`].
fn single_row(row: &Row) -> StoreResult<(Order, JobId, Single)> {
    let order = order_row(row)?;
    let (job_id, state, due_at): (JobId, String, Millis) = {
        let n = super::ORDER_COLUMNS;
        (row.get(n)?, row.get(n + 1)?, row.get(n + 2)?)
    };
    let job = Job::from_stored(&state, due_at)
        .ok_or_else(|| StoreError::Backend(format!("job {job_id}: unknown state {state:?}")))?;
    let machine = Single {
        status: order.status,
        job,
        final_price: order.final_price,
        total_quantity: order.total_quantity(),
        refunded: order.refunded_amount,
    };
    Ok((order, job_id, machine))
}

/// What the store writes besides the machine's effects.
#[derive(Default)]
struct Written {
    smm_order_id: Option<String>,
    error: Option<String>,
    /// The order's `error` becomes `error` (a submission's outcome replaces the last one).
    set_error: bool,
}

/// Hands `input` to the order's machine and writes its effects: the job (from the state the
/// machine saw), the order's status, the refund with the core's event key, the commission.
/// An input the machine refuses is `Conflict(refused)` and changes nothing.
async fn drive<C: Conn>(
    c: &mut C,
    (order, job_id, mut machine): (Order, JobId, Single),
    input: Input<'_>,
    extra: Written,
    refused: Conflict,
    now: Millis,
) -> StoreResult<Order> {
    let seen_job = machine.job;
    let e = machine.handle(input, now).map_err(|_| StoreError::Conflict(refused))?;
    if let Some(job) = e.job {
        let due = match job {
            Job::Due { at } => Some(at),
            _ => None,
        };
        let moved =
            c.query_opt(MOVE_JOB, &[&job_id, &seen_job.as_str(), &job.as_str(), &due, &extra.error]).await?;
        if moved.is_none() {
            return Err(StoreError::Conflict(refused));
        }
    }
    // The machine capped the refund with the order as locked in this transaction.
    post_refund(c, &order, e.refund, events::order_refund(order.order_id.0), now).await?;
    let args: [&dyn crate::sql::Param; 7] = [
        &order.order_id,
        &order.status.as_str(),
        &e.status.as_str(),
        &extra.smm_order_id,
        &extra.error,
        &now,
        &extra.set_error,
    ];
    let row = c.query_opt(SET_ORDER_STATE, &args).await?.ok_or(StoreError::Conflict(refused))?;
    let order = order_row(&row)?;
    if !e.status.is_terminal() {
        return Ok(order);
    }
    super::referral::referral_on_settlement(c, order, now).await
}

/// The owner's cancel: a single order while its job is due and unclaimed; a multi-part order
/// while none of its parts was submitted. Full refund either way.
pub(crate) async fn cancel_order<C: Conn>(c: &mut C, order_id: OrderId, now: Millis) -> StoreResult<Order> {
    // The machines refuse an order that has ended (a run's parts are no longer waiting).
    let order = order_locked(c, order_id).await?;
    if c.scalar::<bool>(HAS_PARTS, &[&order_id]).await? {
        return end_run(c, &order, Ender::Owner, OrderStatus::Canceled, now).await;
    }
    let loaded = single(c, Some(order_id), None).await?.ok_or(StoreError::NotFound)?;
    drive(c, loaded, Input::OwnerCancel, Written::default(), Conflict::InvalidTransition, now).await
}

/// An operator's transition (checked by the core). For a multi-part order, the run ends as
/// the core says (parts never submitted are canceled and refunded, parts in flight are not).
pub(crate) async fn admin_set_status<C: Conn>(
    c: &mut C,
    order_id: OrderId,
    from: OrderStatus,
    t: AdminTransition,
    smm_order_id: Option<String>,
    audit: &NewAudit,
    now: Millis,
) -> StoreResult<Order> {
    let order = order_locked(c, order_id).await?;
    // The transition must be the core's for the order as it is now: a stale `from` or a
    // transition the core does not make (e.g. ending a run that has ended) changes nothing.
    if order.status != from || admin_transition(order.status, t.to) != Ok(t) {
        return Err(StoreError::Conflict(Conflict::InvalidTransition));
    }
    let order = if c.scalar::<bool>(HAS_PARTS, &[&order_id]).await? {
        // An operator's transition of a run ends it (a run is never `unknown` or `in_progress`).
        if !t.to.is_terminal() {
            return Err(StoreError::Conflict(Conflict::InvalidTransition));
        }
        end_run(c, &order, Ender::Operator, t.to, now).await?
    } else {
        let extra = Written { smm_order_id: smm_order_id.as_deref().map(clean_text), ..Written::default() };
        let loaded = single(c, Some(order_id), None).await?.ok_or(StoreError::NotFound)?;
        drive(c, loaded, Input::Operator(t.to), extra, Conflict::InvalidTransition, now).await?
    };
    audited(c, audit, now, order).await
}

/// Records how a claimed submission of a single order ended; a rejection refunds in full.
pub(crate) async fn settle_submission<C: Conn>(
    c: &mut C,
    job_id: JobId,
    outcome: &SubmissionOutcome,
    now: Millis,
) -> StoreResult<Order> {
    let (submitted, smm_order_id, error) = outcome_of(outcome);
    let loaded =
        single(c, None, Some(job_id)).await?.ok_or(StoreError::Conflict(Conflict::AlreadyProcessed))?;
    let extra = Written { smm_order_id, error, set_error: true };
    drive(c, loaded, Input::Submitted(submitted), extra, Conflict::AlreadyProcessed, now).await
}

/// [`settle_submission`] for a batch, in one transaction. On PostgreSQL the orders and jobs are
/// read in one statement, and each machine's decision is written with the others' in two (an
/// outcome that refunds or ends its order is settled on its own, as in [`settle_submission`]).
pub(crate) async fn settle_submissions<C: Conn>(
    c: &mut C,
    outcomes: &[(JobId, SubmissionOutcome)],
    now: Millis,
) -> StoreResult<Vec<Order>> {
    if c.dialect() != Dialect::Postgres || outcomes.len() < 2 {
        let mut settled = Vec::with_capacity(outcomes.len());
        for (job_id, outcome) in outcomes {
            settled.push(settle_submission(c, *job_id, outcome, now).await?);
        }
        return Ok(settled);
    }
    let mut settled = Vec::with_capacity(outcomes.len());
    let ids = super::serialize(&outcomes.iter().map(|o| o.0).collect::<Vec<_>>())?;
    let mut loaded = std::collections::HashMap::new();
    for row in c.query(ORDERS_AND_JOBS, &[&ids]).await? {
        let one = single_row(&row)?;
        loaded.insert(one.1, one);
    }
    let (mut jobs, mut orders, mut slots) = (Vec::new(), Vec::new(), Vec::new());
    for (job_id, outcome) in outcomes {
        let (order, _, machine) =
            loaded.remove(job_id).ok_or(StoreError::Conflict(Conflict::AlreadyProcessed))?;
        let (submitted, smm_order_id, error) = outcome_of(outcome);
        let e = { machine }.handle(Input::Submitted(submitted), now);
        let e = e.map_err(|_| StoreError::Conflict(Conflict::AlreadyProcessed))?;
        if e.refund.0 > 0 || e.status.is_terminal() {
            let extra = Written { smm_order_id, error, set_error: true };
            let one = (order, *job_id, machine);
            settled.push(Some(
                drive(c, one, Input::Submitted(submitted), extra, Conflict::AlreadyProcessed, now).await?,
            ));
            continue;
        }
        if let Some(job) = e.job {
            let due = if let Job::Due { at } = job { Some(at) } else { None };
            jobs.push(serde_json::json!({"ji": job_id, "jw": machine.job.as_str(), "js": job.as_str(), "jd": due, "je": error}));
        }
        orders.push(
            serde_json::json!({"oi": order.order_id, "ow": order.status.as_str(), "os": e.status.as_str(),
                                       "om": smm_order_id, "oe": error}),
        );
        slots.push((settled.len(), order.order_id));
        settled.push(None);
    }
    if !jobs.is_empty() && c.query(MOVE_JOBS, &[&super::serialize(&jobs)?]).await?.len() != jobs.len() {
        return Err(StoreError::Conflict(Conflict::AlreadyProcessed));
    }
    if !orders.is_empty() {
        let mut written = std::collections::HashMap::new();
        for row in c.query(SET_ORDER_STATES, &[&super::serialize(&orders)?, &now]).await? {
            let order = order_row(&row)?;
            written.insert(order.order_id, order);
        }
        for (at, order_id) in slots {
            settled[at] = written.remove(&order_id);
        }
    }
    settled.into_iter().map(|o| o.ok_or(StoreError::Conflict(Conflict::AlreadyProcessed))).collect()
}

/// Applies the upstream's status (read by the core) to an `in_progress` order; a terminal
/// settlement and its refund happen once. `None` if the order was not `in_progress`.
pub(crate) async fn apply_status<C: Conn>(
    c: &mut C,
    order_id: OrderId,
    u: &StatusUpdate,
    now: Millis,
) -> StoreResult<Option<Order>> {
    let charge = u.charge.as_deref().map(clean_text);
    let Some(row) =
        c.query_opt(APPLY_STATUS, &[&order_id, &u.start_count, &u.remains, &charge, &now]).await?
    else {
        return Ok(None);
    };
    if !u.settlement.status.is_terminal() {
        // Still running: only what the panel reported changes (one round trip per order).
        return order_row(&row).map(Some);
    }
    settle_on_status(c, order_id, u, now).await
}

/// The core's settlement of an order whose reported status was just applied and is terminal.
async fn settle_on_status<C: Conn>(
    c: &mut C,
    order_id: OrderId,
    u: &StatusUpdate,
    now: Millis,
) -> StoreResult<Option<Order>> {
    let loaded = single(c, Some(order_id), None).await?.ok_or(StoreError::NotFound)?;
    if loaded.0.status != OrderStatus::InProgress {
        return Ok(None); // an operator ended it meanwhile
    }
    drive(c, loaded, Input::Settled(u.settlement), Written::default(), Conflict::InvalidTransition, now)
        .await
        .map(Some)
}

/// [`apply_status`] for a batch of orders, and marks `untouched` checked. On PostgreSQL what the
/// panel reported is written for the whole batch in one statement (and `untouched` in another);
/// only the orders that ended take more, each settled by the core as in [`apply_status`].
pub(crate) async fn apply_statuses<C: Conn>(
    c: &mut C,
    updates: &[(OrderId, StatusUpdate)],
    untouched: &[OrderId],
    now: Millis,
) -> StoreResult<Vec<Option<Order>>> {
    let mut applied = Vec::with_capacity(updates.len());
    if c.dialect() != Dialect::Postgres {
        for (order_id, u) in updates {
            applied.push(apply_status(c, *order_id, u, now).await?);
        }
        super::touch(c, TOUCH_STATUS_CHECK, untouched, now).await?;
        return Ok(applied);
    }
    if !updates.is_empty() {
        let reported = updates
            .iter()
            .map(|(id, u)| {
                serde_json::json!({"id": id.0, "sc": u.start_count, "rem": u.remains,
                                   "ch": u.charge.as_deref().map(clean_text)})
            })
            .collect::<Vec<_>>();
        let reported = super::serialize(&reported)?;
        let mut running = std::collections::HashMap::new();
        for row in c.query(APPLY_STATUSES, &[&reported, &now]).await? {
            let order = order_row(&row)?;
            running.insert(order.order_id, order);
        }
        for (order_id, u) in updates {
            let Some(order) = running.remove(order_id) else {
                applied.push(None); // not in progress
                continue;
            };
            if u.settlement.status.is_terminal() {
                applied.push(settle_on_status(c, *order_id, u, now).await?);
            } else {
                applied.push(Some(order));
            }
        }
    }
    if !untouched.is_empty() {
        let ids = super::serialize(&untouched)?;
        c.execute(TOUCH_STATUS_CHECKS, &[&ids, &now]).await?;
    }
    Ok(applied)
}

/// Lost submissions (claimed before `claimed_before`, never settled) become `unknown`: never
/// resent. Answers the orders concerned.
pub(crate) async fn expire_submissions<C: Conn>(
    c: &mut C,
    claimed_before: Millis,
    now: Millis,
) -> StoreResult<Vec<OrderId>> {
    let ids = c
        .query(LOST_JOBS, &[&claimed_before])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect::<StoreResult<Vec<OrderId>>>()?;
    for id in &ids {
        let loaded = single(c, Some(*id), None).await?.ok_or(StoreError::NotFound)?;
        let error = Some("the worker never settled this submission".to_owned());
        let extra = Written { smm_order_id: None, error, set_error: false };
        drive(c, loaded, Input::LeaseExpired, extra, Conflict::AlreadyProcessed, now).await?;
    }
    Ok(ids)
}

/// Records that an order's (or a part's) upstream status could not be applied: the error is
/// kept for the operator and the row moves behind the others in the sync order.
pub(crate) async fn record_sync_failure<C: Conn>(
    c: &mut C,
    order_id: OrderId,
    part_id: Option<PartId>,
    error: &str,
    now: Millis,
) -> StoreResult<()> {
    let error = clean_text(error);
    match part_id {
        Some(id) => c.execute(RECORD_PART_SYNC_ERROR, &[&id, &error, &now]).await?,
        None => c.execute(RECORD_ORDER_SYNC_ERROR, &[&order_id, &error, &now]).await?,
    };
    Ok(())
}

/// The order (locked), its stored parts, and the run the core makes of them; an ended order's
/// run never submits again.
async fn run_of<C: Conn>(c: &mut C, order_id: OrderId) -> StoreResult<(Order, Vec<OrderPart>, Run)> {
    let order = order_locked(c, order_id).await?;
    run_for(c, order).await
}

/// [`run_of`] the order of part `part_id`, with the part's index. `AlreadyProcessed` if there is
/// no such part.
async fn run_of_part<C: Conn>(c: &mut C, part_id: PartId) -> StoreResult<(u32, Order, Vec<OrderPart>, Run)> {
    let found = c.query_opt(PART_ORDER_FOR_UPDATE, &[&part_id]).await?;
    let row = found.ok_or(StoreError::Conflict(Conflict::AlreadyProcessed))?;
    let index = u32::try_from(row.get::<i64>(super::ORDER_COLUMNS)?).unwrap_or(u32::MAX);
    let (order, parts, run) = run_for(c, order_row(&row)?).await?;
    Ok((index, order, parts, run))
}

async fn run_for<C: Conn>(c: &mut C, order: Order) -> StoreResult<(Order, Vec<OrderPart>, Run)> {
    let (parts, run) = load_run(c, order.order_id).await?;
    let run = run.with_ended(order.status.is_terminal());
    Ok((order, parts, run))
}

/// A part's submission outcome to store with its new state: the upstream's id and the error.
type Noted<'a> = (PartId, Option<&'a str>, Option<&'a str>);

/// Writes the parts whose state the run changed (each from the state it was read in: a
/// concurrent writer makes it a conflict), posts the refunds the run decided, and then the
/// order's status follows its parts (the core's rule) — unless it has ended already: an
/// operator's end is final, whatever its parts in flight do afterwards.
async fn apply_run<C: Conn>(
    c: &mut C,
    order: &Order,
    before: &[OrderPart],
    run: &Run,
    refunds: &[(u32, Points)],
    mut noted: Option<Noted<'_>>,
    now: Millis,
) -> StoreResult<Order> {
    for (p, after) in before.iter().zip(run.states()) {
        if p.run_state() == *after {
            continue;
        }
        let (due_at, settled_at, outcome) = match *after {
            PartState::Waiting => (None, None, None),
            PartState::Due { at } => (Some(at), None, None),
            PartState::Submitting => (p.due_at, None, None),
            PartState::Accepted { at } | PartState::Unknown { at } => (p.due_at, Some(at), None),
            PartState::Ended { completed, .. } => {
                let due_at = p.due_at.filter(|_| !matches!(p.state, Stage::Waiting | Stage::Due));
                (due_at, Some(now), Some(if completed { "completed" } else { "refunded" }))
            }
        };
        let state = Stage::of(after).as_str();
        let (seen, this) = (p.state.as_str(), noted.take_if(|n| n.0 == p.part_id));
        let (smm_id, error) = this.map_or((None, None), |n| (n.1, n.2));
        let args: [&dyn crate::sql::Param; 8] =
            [&p.part_id, &seen, &state, &due_at, &settled_at, &outcome, &smm_id, &error];
        let (sql, n) = if this.is_some() { (WRITE_PART_SUBMISSION, 8) } else { (WRITE_PART, 6) };
        if c.query_opt(sql, &args[..n]).await?.is_none() {
            return Err(StoreError::Conflict(Conflict::AlreadyProcessed));
        }
    }
    if let Some((part_id, smm_id, error)) = noted {
        c.execute(PART_SUBMISSION, &[&part_id, &smm_id, &error]).await?;
    }
    for (index, amount) in refunds {
        let p = &before[*index as usize];
        refund_part(c, order, p.part_id, p.part_index, *amount, now).await?;
    }
    // Only a refund changed the order since it was read (and locked).
    let mut order = if refunds.is_empty() { order.clone() } else { order_in(c, order.order_id).await? };
    // The commission and coupon follow the order's status and refunds: unchanged, they are.
    let mut moved = !refunds.is_empty() || order.status.is_terminal();
    if !order.status.is_terminal() {
        // The parts as just written are the run's states.
        let status = run.order_status();
        if status != order.status {
            let row = c.query_opt(SET_ORDER_STATUS, &[&order.order_id, &status.as_str(), &now]).await?;
            order = order_row(&row.ok_or(StoreError::NotFound)?)?;
            moved = true;
        }
    }
    if !moved {
        return Ok(order);
    }
    super::referral::referral_on_settlement(c, order, now).await
}

/// Records how a part's submission ended (once); the core's run decides the part's state, its
/// refund and the next part's due time.
pub(crate) async fn settle_part_submission<C: Conn>(
    c: &mut C,
    part_id: PartId,
    outcome: &SubmissionOutcome,
    now: Millis,
) -> StoreResult<Order> {
    let (submitted, smm_id, error) = outcome_of(outcome);
    let (index, order, parts, mut run) = run_of_part(c, part_id).await?;
    let e =
        run.submitted(index, submitted, now).map_err(|_| StoreError::Conflict(Conflict::AlreadyProcessed))?;
    let noted = (part_id, smm_id.as_deref(), error.as_deref());
    apply_run(c, &order, &parts, &run, e.refund.as_slice(), Some(noted), now).await
}

/// Lost part submissions (claimed before `claimed_before`, never settled) become `unknown`,
/// never resent; the run goes on past them. Answers the orders concerned.
pub(crate) async fn expire_part_submissions<C: Conn>(
    c: &mut C,
    claimed_before: Millis,
    now: Millis,
) -> StoreResult<Vec<OrderId>> {
    let lost = c.query(LOST_PARTS, &[&claimed_before]).await?;
    let mut orders = Vec::with_capacity(lost.len());
    for row in lost {
        let part_id: PartId = row.get(0)?;
        let (index, order, parts, mut run) = run_of_part(c, part_id).await?;
        let order_id = order.order_id;
        let e = run
            .submitted(index, Submitted::Unknown, now)
            .map_err(|_| StoreError::Conflict(Conflict::AlreadyProcessed))?;
        let noted = (part_id, None, Some("the worker never settled this submission"));
        apply_run(c, &order, &parts, &run, e.refund.as_slice(), Some(noted), now).await?;
        orders.push(order_id);
    }
    Ok(orders)
}

/// Applies the upstream's status (read by the core) to an accepted part; a terminal one ends it
/// with its refund as the run decides. `None` if the part was not accepted.
pub(crate) async fn apply_part_status<C: Conn>(
    c: &mut C,
    part_id: PartId,
    u: &StatusUpdate,
    now: Millis,
) -> StoreResult<Option<Order>> {
    let (index, order, parts, mut run) = run_of_part(c, part_id).await?;
    let Ok(e) = run.settled(index, u.settlement) else { return Ok(None) };
    c.execute(PART_STATUS, &[&part_id, &u.settlement.status.as_str(), &u.remains, &now]).await?;
    apply_run(c, &order, &parts, &run, e.refund.as_slice(), None, now).await.map(Some)
}

/// An operator settles an `unknown` part: accepted (`smm_order_id`), or failed (its share back).
pub(crate) async fn resolve_part<C: Conn>(
    c: &mut C,
    order_id: OrderId,
    part_index: i64,
    smm_order_id: Option<String>,
    audit: &NewAudit,
    now: Millis,
) -> StoreResult<Order> {
    let smm_order_id = smm_order_id.as_deref().map(clean_text);
    let (order, parts, mut run) = run_of(c, order_id).await?;
    let index = u32::try_from(part_index).map_err(|_| StoreError::Conflict(Conflict::InvalidTransition))?;
    let e = run
        .resolve(index, smm_order_id.is_some())
        .map_err(|_| StoreError::Conflict(Conflict::InvalidTransition))?;
    let noted = parts.get(index as usize).map(|p| (p.part_id, smm_order_id.as_deref(), None));
    let order = apply_run(c, &order, &parts, &run, e.refund.as_slice(), noted, now).await?;
    audited(c, audit, now, order).await
}
