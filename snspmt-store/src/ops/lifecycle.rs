//! The order life cycle, written once for both backends: submissions settling, upstream
//! statuses, cancels and operator ends, for single and multi-part orders. Each operation loads
//! what the core needs, asks it ([`snspmt_core::order`], [`snspmt_core::plan::Run`]), writes the
//! changed rows and posts the refunds with the core's event keys, in the caller's transaction.

use snspmt_core::ledger::events;
use snspmt_core::order::{refund_cap, AdminTransition, OrderStatus};
use snspmt_core::plan::{self, Ender, Part, PartState, Run};
use snspmt_core::{LedgerKind, Points};

use super::{insert_audit, post_in};
use crate::sql::{clean_text, Conn, Row};
use crate::{NewAudit, Order, OrderPart, Posting, StatusUpdate, StoreError, StoreResult, SubmissionOutcome};

type Millis = i64;

macro_rules! order_cols {
    () => {
        "order_id, user_id, service_id, service_name, link, quantity, runs, interval_minutes, comments, price, \
         discount_amount, final_price, commission_amount, status, smm_panel_order_id, start_count, remains, \
         charge, refunded_amount, last_status_check, error, created_at, updated_at, scheduled_at"
    };
}

macro_rules! part_cols {
    () => {
        "part_id, order_id, part_index, step_index, repeat_index, name, service_id, quantity, share, \
         delay_minutes, state, due_at, smm_order_id, upstream_status, remains, refunded, outcome, settled_at, \
         last_error"
    };
}

pub(crate) const ORDER_BY_ID: &str = concat!("SELECT ", order_cols!(), " FROM orders WHERE order_id = $1");
const ORDER_FOR_UPDATE: &str =
    concat!("SELECT ", order_cols!(), " FROM orders WHERE order_id = $1 FOR UPDATE");
pub(crate) const ORDER_PARTS: &str =
    concat!("SELECT ", part_cols!(), " FROM order_parts WHERE order_id = $1 ORDER BY part_index");
const ADD_REFUND: &str =
    "UPDATE orders SET refunded_amount = refunded_amount + $2 WHERE order_id = $1 RETURNING refunded_amount";
const SET_ORDER_STATUS: &str = "UPDATE orders SET status = $2, updated_at = $3 WHERE order_id = $1";
const CANCEL_DUE_JOB: &str =
    "UPDATE submission_jobs SET state = 'canceled' WHERE order_id = $1 AND state = 'due' RETURNING job_id";
const ADMIN_SET_STATUS: &str = "UPDATE orders SET status = $3, \
    smm_panel_order_id = COALESCE($4, smm_panel_order_id), updated_at = $5 WHERE order_id = $1 AND status = $2 \
    RETURNING user_id";
const SETTLE_UNKNOWN_JOB: &str =
    "UPDATE submission_jobs SET state = $2 WHERE order_id = $1 AND state IN ('unknown', 'submitting')";
const SETTLE_JOB: &str = "UPDATE submission_jobs SET state = $2, due_at = COALESCE($3, due_at), \
    last_error = $4 WHERE job_id = $1 AND state = 'submitting' RETURNING order_id";
const SET_ORDER_SUBMISSION: &str = "UPDATE orders SET status = $2, \
    smm_panel_order_id = COALESCE($3, smm_panel_order_id), error = $4, updated_at = $5 WHERE order_id = $1";
const APPLY_STATUS: &str = "UPDATE orders SET status = $2, start_count = COALESCE($3, start_count), \
    remains = COALESCE($4, remains), charge = COALESCE($5, charge), last_status_check = $6, updated_at = $6 \
    WHERE order_id = $1 AND status = 'in_progress' RETURNING user_id";
const RECORD_ORDER_SYNC_ERROR: &str =
    "UPDATE orders SET error = $2, last_status_check = $3 WHERE order_id = $1 RETURNING order_id";
const RECORD_PART_SYNC_ERROR: &str =
    "UPDATE order_parts SET last_error = $2, last_status_check = $3 WHERE part_id = $1 RETURNING part_id";
const END_PART: &str = "UPDATE order_parts SET state = 'ended', outcome = 'refunded', settled_at = $2, \
    due_at = NULL WHERE part_id = $1 AND state IN ('waiting', 'due') RETURNING part_id";
const ADD_PART_REFUND: &str =
    "UPDATE order_parts SET refunded = refunded + $2 WHERE part_id = $1 RETURNING refunded";
const SETTLE_PART: &str = "UPDATE order_parts SET state = $2, smm_order_id = COALESCE($3, smm_order_id), \
    due_at = COALESCE($4, due_at), last_error = $5, outcome = $6, settled_at = $7 \
    WHERE part_id = $1 AND state = 'submitting' RETURNING order_id, part_index, share";
const NEXT_WAITING_DELAY: &str =
    "SELECT delay_minutes FROM order_parts WHERE order_id = $1 AND part_index = $2 AND state = 'waiting'";
const MAKE_PART_DUE: &str =
    "UPDATE order_parts SET state = 'due', due_at = $3 WHERE order_id = $1 AND part_index = $2 AND state = 'waiting'";
const APPLY_PART_STATUS: &str =
    "UPDATE order_parts SET upstream_status = $2, remains = COALESCE($3, remains), \
    last_status_check = $4, state = CASE WHEN $5 THEN 'ended' ELSE state END, outcome = $6, \
    settled_at = CASE WHEN $5 THEN $4 ELSE settled_at END WHERE part_id = $1 AND state = 'accepted' \
    RETURNING order_id, part_index, share, refunded";
const RESOLVE_PART: &str = "UPDATE order_parts SET state = $3, smm_order_id = COALESCE($4, smm_order_id), \
    outcome = $5 WHERE order_id = $1 AND part_index = $2 AND state = 'unknown' RETURNING part_id, share";
const HAS_PARTS: &str = "SELECT EXISTS (SELECT 1 FROM order_parts WHERE order_id = $1)";

pub(crate) fn order_row(r: &Row) -> StoreResult<Order> {
    Ok(Order {
        order_id: r.get(0)?,
        user_id: r.get(1)?,
        service_id: r.get(2)?,
        service_name: r.get(3)?,
        link: r.get(4)?,
        quantity: r.get(5)?,
        runs: r.get(6)?,
        interval_minutes: r.get(7)?,
        comments: r.get(8)?,
        price: Points(r.get(9)?),
        discount_amount: Points(r.get(10)?),
        final_price: Points(r.get(11)?),
        commission_amount: Points(r.get(12)?),
        status: r.parse::<OrderStatus>(13)?,
        smm_panel_order_id: r.get(14)?,
        start_count: r.get(15)?,
        remains: r.get(16)?,
        charge: r.get(17)?,
        refunded_amount: Points(r.get(18)?),
        last_status_check: r.get(19)?,
        error: r.get(20)?,
        created_at: r.get(21)?,
        updated_at: r.get(22)?,
        scheduled_at: r.get(23)?,
    })
}

pub(crate) fn part_row(r: &Row) -> StoreResult<OrderPart> {
    Ok(OrderPart {
        part_id: r.get(0)?,
        order_id: r.get(1)?,
        part_index: r.get(2)?,
        step_index: r.get(3)?,
        repeat_index: r.get(4)?,
        name: r.get(5)?,
        service_id: r.get(6)?,
        quantity: r.get(7)?,
        share: Points(r.get(8)?),
        delay_minutes: r.get(9)?,
        state: r.get(10)?,
        due_at: r.get(11)?,
        smm_order_id: r.get(12)?,
        upstream_status: r.get(13)?,
        remains: r.get(14)?,
        refunded: Points(r.get(15)?),
        outcome: r.get(16)?,
        settled_at: r.get(17)?,
        last_error: r.get(18)?,
    })
}

pub(crate) async fn order_in<C: Conn>(c: &mut C, order_id: i64) -> StoreResult<Order> {
    order_row(&c.query_opt(ORDER_BY_ID, &[&order_id]).await?.ok_or(StoreError::NotFound)?)
}

/// The order, locked for the rest of the transaction on PostgreSQL.
async fn order_locked<C: Conn>(c: &mut C, order_id: i64) -> StoreResult<Order> {
    order_row(&c.query_opt(ORDER_FOR_UPDATE, &[&order_id]).await?.ok_or(StoreError::NotFound)?)
}

/// Where a stored part is, for the core.
fn part_state(p: &OrderPart) -> StoreResult<PartState> {
    let at = p.settled_at.unwrap_or_default();
    Ok(match p.state.as_str() {
        "waiting" => PartState::Waiting,
        "due" => PartState::Due { at: p.due_at.unwrap_or_default() },
        "submitting" => PartState::Submitting,
        "accepted" => PartState::Accepted { at },
        "unknown" => PartState::Unknown { at },
        "ended" => {
            PartState::Ended { refunded: p.refunded, completed: p.outcome.as_deref() == Some("completed") }
        }
        other => return Err(StoreError::Backend(format!("part {}: unknown state {other:?}", p.part_id))),
    })
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
async fn load_run<C: Conn>(c: &mut C, order_id: i64) -> StoreResult<(Vec<OrderPart>, Run)> {
    let parts = super::rows(c.query(ORDER_PARTS, &[&order_id]).await?, part_row)?;
    let states = parts.iter().map(part_state).collect::<StoreResult<Vec<_>>>()?;
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
    (event_ref, description): (String, String),
    now: Millis,
) -> StoreResult<Points> {
    let refunded: i64 =
        c.scalar("SELECT refunded_amount FROM orders WHERE order_id = $1", &[&order.order_id]).await?;
    let amount = refund_cap(order.final_price, Points(refunded), wanted);
    if amount.0 <= 0 {
        return Ok(Points::ZERO);
    }
    let posting = Posting {
        user_id: order.user_id.clone(),
        kind: LedgerKind::OrderRefund,
        amount,
        reference: Some(events::order_reference(order.order_id)),
        description,
        event_ref: Some(event_ref),
        audit: None,
    };
    post_in(c, &posting, now).await?;
    c.execute(ADD_REFUND, &[&order.order_id, &amount.0]).await?;
    Ok(amount)
}

/// Refunds what is left of a single order's price (once per order), and settles the
/// referrer's commission accordingly.
async fn refund_rest<C: Conn>(c: &mut C, order: &Order, now: Millis) -> StoreResult<()> {
    give_back(c, order, order.final_price, events::order_refund(order.order_id), now).await?;
    super::referral::referral_on_settlement(c, order.order_id, now).await
}

async fn refund_part<C: Conn>(
    c: &mut C,
    order: &Order,
    part_id: i64,
    index: i64,
    wanted: Points,
    now: Millis,
) -> StoreResult<()> {
    let amount = give_back(c, order, wanted, events::part_refund(order.order_id, index), now).await?;
    if amount.0 > 0 {
        c.execute(ADD_PART_REFUND, &[&part_id, &amount.0]).await?;
    }
    Ok(())
}

/// The order's status follows its parts (the core's rule) — unless it has ended already: an
/// operator's end is final, whatever its parts in flight do afterwards.
async fn recompute<C: Conn>(c: &mut C, order_id: i64, now: Millis) -> StoreResult<Order> {
    let order = order_in(c, order_id).await?;
    if !order.status.is_terminal() {
        let (_, run) = load_run(c, order_id).await?;
        let status = run.order_status();
        if status != order.status {
            c.execute(SET_ORDER_STATUS, &[&order_id, &status.as_str(), &now]).await?;
        }
    }
    super::referral::referral_on_settlement(c, order_id, now).await?;
    order_in(c, order_id).await
}

/// Ends a multi-part order before its time: the core decides which parts end and what each
/// gives back; the order takes `to`.
async fn end_run<C: Conn>(
    c: &mut C,
    order: &Order,
    by: Ender,
    to: OrderStatus,
    now: Millis,
) -> StoreResult<()> {
    let (parts, mut run) = load_run(c, order.order_id).await?;
    let refunds = run.end(by).map_err(|_| StoreError::Conflict("invalid_transition"))?;
    for (i, state) in run.states().iter().enumerate() {
        if matches!(state, PartState::Ended { .. }) && matches!(parts[i].state.as_str(), "waiting" | "due") {
            c.execute(END_PART, &[&parts[i].part_id, &now]).await?;
        }
    }
    for (index, amount) in refunds {
        let p = &parts[index as usize];
        refund_part(c, order, p.part_id, p.part_index, amount, now).await?;
    }
    c.execute(SET_ORDER_STATUS, &[&order.order_id, &to.as_str(), &now]).await?;
    super::referral::referral_on_settlement(c, order.order_id, now).await
}

/// The owner's cancel: a single order while its job is due and unclaimed; a multi-part order
/// while none of its parts was submitted. Full refund either way.
pub(crate) async fn cancel_order<C: Conn>(c: &mut C, order_id: i64, now: Millis) -> StoreResult<Order> {
    let order = order_locked(c, order_id).await?;
    if order.status.is_terminal() {
        return Err(StoreError::Conflict("invalid_transition"));
    }
    if c.scalar::<bool>(HAS_PARTS, &[&order_id]).await? {
        end_run(c, &order, Ender::Owner, OrderStatus::Canceled, now).await?;
        return order_in(c, order_id).await;
    }
    if c.query_opt(CANCEL_DUE_JOB, &[&order_id]).await?.is_none() {
        return Err(StoreError::Conflict("invalid_transition"));
    }
    c.execute(SET_ORDER_STATUS, &[&order_id, &OrderStatus::Canceled.as_str(), &now]).await?;
    refund_rest(c, &order, now).await?;
    order_in(c, order_id).await
}

/// An operator's transition (checked by the core). For a multi-part order, the run ends as
/// the core says (parts never submitted are canceled and refunded, parts in flight are not).
pub(crate) async fn admin_set_status<C: Conn>(
    c: &mut C,
    order_id: i64,
    from: OrderStatus,
    t: AdminTransition,
    smm_order_id: Option<String>,
    audit: &NewAudit,
    now: Millis,
) -> StoreResult<Order> {
    let order = order_locked(c, order_id).await?;
    if order.status != from {
        return Err(StoreError::Conflict("invalid_transition"));
    }
    if c.scalar::<bool>(HAS_PARTS, &[&order_id]).await? {
        if !matches!(t.to, OrderStatus::Canceled | OrderStatus::Failed | OrderStatus::Completed) {
            return Err(StoreError::Conflict("invalid_transition"));
        }
        end_run(c, &order, Ender::Operator, t.to, now).await?;
        insert_audit(c, audit, now).await?;
        return order_in(c, order_id).await;
    }
    if t.cancel_job && c.query_opt(CANCEL_DUE_JOB, &[&order_id]).await?.is_none() {
        return Err(StoreError::Conflict("invalid_transition"));
    }
    let smm_order_id = smm_order_id.as_deref().map(clean_text);
    let moved = c
        .query_opt(ADMIN_SET_STATUS, &[&order_id, &from.as_str(), &t.to.as_str(), &smm_order_id, &now])
        .await?;
    if moved.is_none() {
        return Err(StoreError::Conflict("invalid_transition"));
    }
    if from == OrderStatus::Unknown {
        let job_state = if t.refund_in_full { "failed" } else { "done" };
        c.execute(SETTLE_UNKNOWN_JOB, &[&order_id, &job_state]).await?;
    }
    if t.refund_in_full {
        refund_rest(c, &order, now).await?;
    } else {
        super::referral::referral_on_settlement(c, order_id, now).await?;
    }
    insert_audit(c, audit, now).await?;
    order_in(c, order_id).await
}

/// Records how a claimed submission of a single order ended; a rejection refunds in full.
pub(crate) async fn settle_submission<C: Conn>(
    c: &mut C,
    job_id: i64,
    outcome: &SubmissionOutcome,
    now: Millis,
) -> StoreResult<Order> {
    let (job_state, retry_at, error, status, smm_id) = match outcome {
        SubmissionOutcome::Accepted { smm_order_id } => {
            ("done", None, None, OrderStatus::InProgress, Some(clean_text(smm_order_id)))
        }
        SubmissionOutcome::Rejected { message } => ("failed", None, Some(message), OrderStatus::Failed, None),
        SubmissionOutcome::RetryLater { message, retry_at } => {
            ("due", Some(*retry_at), Some(message), OrderStatus::Pending, None)
        }
        SubmissionOutcome::Unknown { message } => {
            ("unknown", None, Some(message), OrderStatus::Unknown, None)
        }
    };
    let error = error.map(|m| clean_text(m));
    let order_id: i64 = c
        .query_opt(SETTLE_JOB, &[&job_id, &job_state, &retry_at, &error])
        .await?
        .ok_or(StoreError::Conflict("already_processed"))?
        .get(0)?;
    c.execute(SET_ORDER_SUBMISSION, &[&order_id, &status.as_str(), &smm_id, &error, &now]).await?;
    let order = order_in(c, order_id).await?;
    if status == OrderStatus::Failed {
        refund_rest(c, &order, now).await?;
        return order_in(c, order_id).await;
    }
    Ok(order)
}

/// Applies the upstream's status to an `in_progress` order; a terminal settlement (and its
/// refund, capped by the core) happens once.
pub(crate) async fn apply_status<C: Conn>(
    c: &mut C,
    order_id: i64,
    u: &StatusUpdate,
    now: Millis,
) -> StoreResult<Option<Order>> {
    let charge = u.charge.as_deref().map(clean_text);
    let status = u.settlement.status.as_str();
    if c.query_opt(APPLY_STATUS, &[&order_id, &status, &u.start_count, &u.remains, &charge, &now])
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let order = order_in(c, order_id).await?;
    if u.settlement.status.is_terminal() {
        give_back(c, &order, u.settlement.refund, events::order_refund(order_id), now).await?;
        super::referral::referral_on_settlement(c, order_id, now).await?;
    }
    Ok(Some(order_in(c, order_id).await?))
}

/// Records that an order's (or a part's) upstream status could not be applied: the error is
/// kept for the operator and the row moves behind the others in the sync order.
pub(crate) async fn record_sync_failure<C: Conn>(
    c: &mut C,
    order_id: i64,
    part_id: Option<i64>,
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

/// Records how a part's submission ended (once): the core's run decides the refund and the next
/// due part.
pub(crate) async fn settle_part_submission<C: Conn>(
    c: &mut C,
    part_id: i64,
    outcome: &SubmissionOutcome,
    now: Millis,
) -> StoreResult<Order> {
    let (state, smm_id, due, error, end) = match outcome {
        SubmissionOutcome::Accepted { smm_order_id } => {
            ("accepted", Some(clean_text(smm_order_id)), None, None, None)
        }
        SubmissionOutcome::Rejected { message } => ("ended", None, None, Some(message), Some("refunded")),
        SubmissionOutcome::RetryLater { message, retry_at } => {
            ("due", None, Some(*retry_at), Some(message), None)
        }
        SubmissionOutcome::Unknown { message } => ("unknown", None, None, Some(message), None),
    };
    let error = error.map(|m| clean_text(m));
    let retry = matches!(outcome, SubmissionOutcome::RetryLater { .. });
    let settled_at = (!retry).then_some(now);
    let row = c
        .query_opt(SETTLE_PART, &[&part_id, &state, &smm_id, &due, &error, &end, &settled_at])
        .await?
        .ok_or(StoreError::Conflict("already_processed"))?;
    let (order_id, index, share): (i64, i64, i64) = (row.get(0)?, row.get(1)?, row.get(2)?);
    let order = order_in(c, order_id).await?;
    if end.is_some() {
        refund_part(c, &order, part_id, index, Points(share), now).await?;
    }
    if retry {
        if order.status.is_terminal() {
            // The order ended while this part was in flight, and the panel did not take it: it
            // is never sent again, and its share goes back.
            c.execute(END_PART, &[&part_id, &now]).await?;
            refund_part(c, &order, part_id, index, Points(share), now).await?;
        }
        return recompute(c, order_id, now).await;
    }
    part_settled(c, order_id, index, now).await
}

/// Part `index` of an order was settled (accepted, rejected, unknown) at `now`: the next part
/// becomes due by the core's rule — only while the order runs: an ended order submits nothing
/// — and the order's status follows its parts.
pub(crate) async fn part_settled<C: Conn>(
    c: &mut C,
    order_id: i64,
    index: i64,
    now: Millis,
) -> StoreResult<Order> {
    let order = order_in(c, order_id).await?;
    if !order.status.is_terminal() {
        let next = index + 1;
        if let Some(row) = c.query_opt(NEXT_WAITING_DELAY, &[&order_id, &next]).await? {
            let delay: i64 = row.get(0)?;
            let due = plan::next_due(now, u32::try_from(delay).unwrap_or(u32::MAX));
            c.execute(MAKE_PART_DUE, &[&order_id, &next, &due]).await?;
        }
    }
    recompute(c, order_id, now).await
}

/// Applies the upstream's status to an accepted part; a terminal one settles (once) with its
/// refund (capped by its share and by what is left of the order's price).
pub(crate) async fn apply_part_status<C: Conn>(
    c: &mut C,
    part_id: i64,
    u: &StatusUpdate,
    now: Millis,
) -> StoreResult<Option<Order>> {
    let terminal = u.settlement.status != OrderStatus::InProgress;
    let outcome = terminal.then_some(if u.settlement.refund.0 > 0 { "refunded" } else { "completed" });
    let upstream = u.settlement.status.as_str();
    let Some(row) =
        c.query_opt(APPLY_PART_STATUS, &[&part_id, &upstream, &u.remains, &now, &terminal, &outcome]).await?
    else {
        return Ok(None);
    };
    let (order_id, index, share, refunded): (i64, i64, i64, i64) =
        (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
    if !terminal {
        return Ok(Some(order_in(c, order_id).await?));
    }
    let order = order_in(c, order_id).await?;
    let wanted = refund_cap(Points(share), Points(refunded), u.settlement.refund);
    refund_part(c, &order, part_id, index, wanted, now).await?;
    Ok(Some(recompute(c, order_id, now).await?))
}

/// An operator settles an `unknown` part: accepted (`smm_order_id`), or failed (its share back).
pub(crate) async fn resolve_part<C: Conn>(
    c: &mut C,
    order_id: i64,
    part_index: i64,
    smm_order_id: Option<String>,
    audit: &NewAudit,
    now: Millis,
) -> StoreResult<Order> {
    let smm_order_id = smm_order_id.as_deref().map(clean_text);
    let (state, outcome) =
        if smm_order_id.is_some() { ("accepted", None) } else { ("ended", Some("refunded")) };
    let Some(row) =
        c.query_opt(RESOLVE_PART, &[&order_id, &part_index, &state, &smm_order_id, &outcome]).await?
    else {
        order_in(c, order_id).await?;
        return Err(StoreError::Conflict("invalid_transition"));
    };
    let (part_id, share): (i64, i64) = (row.get(0)?, row.get(1)?);
    if outcome.is_some() {
        let order = order_in(c, order_id).await?;
        refund_part(c, &order, part_id, part_index, Points(share), now).await?;
    }
    insert_audit(c, audit, now).await?;
    recompute(c, order_id, now).await
}
