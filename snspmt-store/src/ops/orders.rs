//! The catalogue, order placement, submission claims, multi-part orders and packages, written
//! once for both backends. The life cycle after placement is in [`super::lifecycle`].

use snspmt_core::ledger::events;
use snspmt_core::order::{AdminTransition, OrderStatus};
use snspmt_core::plan::{Part, PartState, Run, Stage};
use snspmt_core::{LedgerKind, Points};

use super::lifecycle::{self, order_in, order_row, part_row, ORDER_BY_ID, ORDER_PARTS};
use super::{audited, one, page, remember, replay, rows, serialize, touch};
use crate::sql::{Conn, Dialect, Param, Row};
use crate::{
    ClaimedJob, ClaimedPart, Conflict, IdempotencyKey, Idempotent, ImportCounts, JobId, Millis, NewAudit,
    NewOrder, NewPackage, NewService, Order, OrderFilter, OrderId, OrderPart, Package, Page, PartId,
    PartKind, PartSyncTarget, Posting, Service, StatusUpdate, StoreError, StoreResult, SubmissionOutcome,
    SyncTarget,
};

macro_rules! service_cols {
    () => {
        "service_id, provider_service_id, name, category, platform, service_type, price_per_1000, \
         min_quantity, max_quantity, dripfeed, refill, cancel, is_active, description, created_at, updated_at"
    };
}

macro_rules! package_cols {
    () => {
        "package_id, name, description, price, steps, is_active, created_at, updated_at"
    };
}

const INSERT_SERVICE: &str = concat!(
    "INSERT INTO services (provider_service_id, name, category, platform, service_type, price_per_1000, ",
    "min_quantity, max_quantity, dripfeed, refill, cancel, is_active, description, created_at, updated_at) ",
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING ",
    service_cols!()
);
const SERVICE_BY_ID: &str = concat!("SELECT ", service_cols!(), " FROM services WHERE service_id = $1");
const SERVICE_ID_BY_PROVIDER_ID: &str = "SELECT service_id FROM services WHERE provider_service_id = $1";
const SERVICE_PAGE: (&str, &str) = paged!(
    service_cols,
    "FROM services WHERE ($1 = FALSE OR is_active) AND ($2::text IS NULL OR category = $2)",
    "ORDER BY service_id LIMIT $3 OFFSET $4"
);
const UPDATE_SERVICE: &str = concat!(
    "UPDATE services SET provider_service_id = $2, name = $3, category = $4, platform = $5, service_type = $6, ",
    "price_per_1000 = $7, min_quantity = $8, max_quantity = $9, dripfeed = $10, refill = $11, cancel = $12, ",
    "is_active = $13, description = $14, updated_at = $15 WHERE service_id = $1 RETURNING ",
    service_cols!()
);
/// One importer at a time on PostgreSQL, so that two imports cannot both insert a new service
/// (SQLite has one writer).
const LOCK_SERVICES: &str = "LOCK TABLE services IN SHARE ROW EXCLUSIVE MODE";

const INSERT_ORDER: &str = "INSERT INTO orders (user_id, service_id, service_name, link, quantity, runs, \
    interval_minutes, comments, price, discount_amount, final_price, status, created_at, updated_at, scheduled_at, \
    params) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15) RETURNING order_id";
const INSERT_JOB: &str =
    "INSERT INTO submission_jobs (order_id, part, state, due_at) VALUES ($1, 0, 'due', $2)";
/// PostgreSQL: the order and its submission job (the outbox row) in one round trip.
const INSERT_ORDER_AND_JOB: &str = "WITH o AS (INSERT INTO orders (user_id, service_id, service_name, link, \
    quantity, runs, interval_minutes, comments, price, discount_amount, final_price, status, created_at, updated_at, \
    scheduled_at, params) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15) \
    RETURNING order_id), j AS (INSERT INTO submission_jobs (order_id, part, state, due_at) \
    SELECT order_id, 0, 'due', $16::bigint FROM o) SELECT order_id FROM o";
/// PostgreSQL: the next order id, and whether the user has an active referrer.
const NEXT_ORDER: &str = concat!(
    "SELECT nextval(pg_get_serial_sequence('orders', 'order_id')), EXISTS (SELECT 1 ",
    referrer_of!(),
    ")"
);
/// PostgreSQL: the charge (`$11`), order `$17` and its job, and the charge's ledger row (`$18`–`$21`),
/// in one statement; nothing when the balance is short.
const PLACE_AT_ONCE: &str = "WITH moved AS (UPDATE users SET points = points - $11 \
    WHERE user_id = $1 AND points - $11 >= 0 RETURNING points), o AS (INSERT INTO orders (order_id, user_id, \
    service_id, service_name, link, quantity, runs, interval_minutes, comments, price, discount_amount, final_price, \
    status, created_at, updated_at, scheduled_at, params) SELECT $17::bigint, $1::text, $2::bigint, $3::text, \
    $4::text, $5::bigint, $6::bigint, $7::bigint, $8::text, $9::bigint, $10::bigint, $11::bigint, $12::text, \
    $13::bigint, $13::bigint, $14::bigint, $15::text FROM moved RETURNING order_id), \
    j AS (INSERT INTO submission_jobs (order_id, part, state, due_at) SELECT order_id, 0, 'due', $16::bigint FROM o) \
    INSERT INTO points_ledger (user_id, kind, amount, balance_after, reference, description, event_ref, created_at) \
    SELECT $1, $21::text, -$11::bigint, points, $18::text, $19::text, $20::text, $13 FROM moved, o \
    RETURNING id, balance_after";
const ORDER_PAGE: (&str, &str) = paged!(
    order_cols,
    "FROM orders WHERE ($1::text IS NULL OR user_id = $1) AND ($2::text IS NULL OR status = $2)",
    "ORDER BY order_id DESC LIMIT $3 OFFSET $4"
);
/// `part >= 0` (always true) steers SQLite's planner to the `(order_id, part)` index: without
/// it, it took the `(state, due_at)` one and read every due job to find this order's.
const CLAIM_ORDER_JOB: &str = "UPDATE submission_jobs SET state = 'submitting', claimed_at = $2, \
    attempts = attempts + 1 WHERE order_id = $1 AND part >= 0 AND state = 'due' AND due_at <= $2 RETURNING job_id";
/// The due jobs are picked once, in a materialised CTE: as an `IN (subquery … LIMIT)` the
/// planner may rescan the subquery per row, and with `SKIP LOCKED` each rescan picks other
/// rows, so one claim of `LIMIT 1` took every due job (found by the issue 16 benchmark).
/// The update finds the picked rows by id alone (they are locked, and still due): with
/// `state = 'due'` beside it, SQLite walked every due job to test each against the pick.
const CLAIM_DUE_JOBS: &str = "WITH pick AS MATERIALIZED (SELECT job_id FROM submission_jobs \
    WHERE state = 'due' AND due_at <= $1 ORDER BY due_at, job_id LIMIT $2 FOR UPDATE SKIP LOCKED) \
    UPDATE submission_jobs SET state = 'submitting', claimed_at = $1, \
    attempts = attempts + 1 WHERE job_id IN (SELECT job_id FROM pick) RETURNING job_id";
const MARK_JOB_ORDER_SUBMITTING: &str = "UPDATE orders SET status = 'submitting', updated_at = $2 \
    WHERE order_id = (SELECT order_id FROM submission_jobs WHERE job_id = $1)";
/// PostgreSQL: claims the due jobs `pick` chose, marks their orders `submitting` and reads what
/// the submissions need, in one statement.
macro_rules! claim_jobs_fused {
    ($pick:literal) => { concat!(
        "WITH pick AS MATERIALIZED (SELECT job_id FROM submission_jobs WHERE state = 'due' AND due_at <= $1 ",
        $pick,
        " FOR UPDATE SKIP LOCKED), j AS (UPDATE submission_jobs SET state = 'submitting', claimed_at = $1, \
        attempts = attempts + 1 WHERE state = 'due' AND job_id IN (SELECT job_id FROM pick) \
        RETURNING job_id, order_id, attempts), o AS (UPDATE orders SET status = 'submitting', updated_at = $1 \
        FROM j WHERE orders.order_id = j.order_id RETURNING orders.order_id, orders.service_id, orders.link, \
        orders.quantity, orders.runs, orders.interval_minutes, orders.comments, orders.params) \
        SELECT j.job_id, j.order_id, j.attempts, s.provider_service_id, s.service_type, o.link, o.quantity, \
        o.runs, o.interval_minutes, o.comments, o.params, s.service_id FROM j JOIN o ON o.order_id = j.order_id \
        LEFT JOIN services s ON s.service_id = o.service_id ORDER BY j.job_id"
    ) };
}
/// [`claim_jobs_fused!`] of up to `$2` due jobs, oldest due first. The pick has no other filter:
/// one on the service made PostgreSQL's generic plan sort every due job (claims took a second
/// each), and so did one written `($3 IS NULL OR order_id = $3)` to serve both claims (its
/// estimate of one row made the sort look free: 4 ms at 7,000 due jobs, growing with them).
const CLAIM_JOBS_FUSED: &str = claim_jobs_fused!("ORDER BY due_at, job_id LIMIT $2");
/// [`claim_jobs_fused!`] of the due job of order `$2`.
const CLAIM_ORDER_JOB_FUSED: &str = claim_jobs_fused!("AND order_id = $2");
const CLAIMED_JOB: &str = "SELECT j.job_id, j.order_id, j.attempts, s.provider_service_id, s.service_type, \
    o.link, o.quantity, o.runs, o.interval_minutes, o.comments, o.params FROM submission_jobs j \
    JOIN orders o ON o.order_id = j.order_id JOIN services s ON s.service_id = o.service_id WHERE j.job_id = $1";
const ORDERS_TO_SYNC: &str = "SELECT order_id, smm_panel_order_id, final_price, quantity, runs FROM orders \
    WHERE status = 'in_progress' AND smm_panel_order_id IS NOT NULL \
    ORDER BY last_status_check ASC NULLS FIRST, order_id LIMIT $1";
const USER_ORDER_TO_SYNC: &str =
    "SELECT order_id, smm_panel_order_id, final_price, quantity, runs FROM orders \
    WHERE order_id = $1 AND user_id = $2 AND status = 'in_progress' AND smm_panel_order_id IS NOT NULL";

const INSERT_PACKAGE: &str = concat!(
    "INSERT INTO packages (name, description, price, steps, is_active, created_at, updated_at) ",
    "VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING ",
    package_cols!()
);
const PACKAGE_BY_ID: &str = concat!("SELECT ", package_cols!(), " FROM packages WHERE package_id = $1");
const PACKAGE_PAGE: (&str, &str) = paged!(
    package_cols,
    "FROM packages WHERE ($1 = FALSE OR is_active)",
    "ORDER BY package_id LIMIT $2 OFFSET $3"
);
const UPDATE_PACKAGE: &str = concat!(
    "UPDATE packages SET name = $1, description = $2, price = $3, steps = $4, is_active = $5, updated_at = $6 ",
    "WHERE package_id = $7 RETURNING ",
    package_cols!()
);
const SET_ORDER_PLAN: &str = "UPDATE orders SET package_id = $2, split_days = $3 WHERE order_id = $1";
const INSERT_PART: &str = "INSERT INTO order_parts (order_id, part_index, step_index, repeat_index, name, \
    service_id, quantity, share, delay_minutes, state, due_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
const START_PARTS: &str = "UPDATE order_parts SET state = 'due', due_at = $2 WHERE order_id = $1 \
    AND part_index = 0 AND state = 'waiting'";
/// Picked once in a materialised CTE, as [`CLAIM_DUE_JOBS`].
const CLAIM_DUE_PARTS: &str = "WITH pick AS MATERIALIZED (SELECT p.part_id FROM order_parts p \
    JOIN orders o ON o.order_id = p.order_id WHERE p.state = 'due' AND p.due_at <= $1 \
    AND o.status NOT IN ('partial', 'completed', 'canceled', 'failed') AND ($3::text IS NULL \
    OR ($3 = 'package' AND o.package_id IS NOT NULL) OR ($3 = 'split' AND o.split_days IS NOT NULL)) \
    ORDER BY p.due_at, p.part_id LIMIT $2 FOR UPDATE OF p SKIP LOCKED) \
    UPDATE order_parts SET state = 'submitting', claimed_at = $1, \
    attempts = attempts + 1 WHERE part_id IN (SELECT part_id FROM pick) RETURNING part_id";
/// PostgreSQL: [`CLAIM_DUE_PARTS`], their orders made `processing` and what the submissions
/// need, in one statement that commits by itself (a part's service cannot be gone: the
/// column is a `NOT NULL` foreign key).
const CLAIM_PARTS_FUSED: &str = "WITH pick AS MATERIALIZED (SELECT p.part_id FROM order_parts p \
    JOIN orders o ON o.order_id = p.order_id WHERE p.state = 'due' AND p.due_at <= $1 \
    AND o.status NOT IN ('partial', 'completed', 'canceled', 'failed') AND ($3::text IS NULL \
    OR ($3 = 'package' AND o.package_id IS NOT NULL) OR ($3 = 'split' AND o.split_days IS NOT NULL)) \
    ORDER BY p.due_at, p.part_id LIMIT $2 FOR UPDATE OF p SKIP LOCKED), \
    p AS (UPDATE order_parts SET state = 'submitting', claimed_at = $1, \
    attempts = attempts + 1 WHERE state = 'due' AND part_id IN (SELECT part_id FROM pick) \
    RETURNING part_id, order_id, attempts, service_id, quantity), \
    m AS (UPDATE orders SET status = 'processing', updated_at = $1 WHERE order_id IN (SELECT order_id FROM p) \
    AND status IN ('pending', 'scheduled')) \
    SELECT p.part_id, p.order_id, p.attempts, s.provider_service_id, s.service_type, o.link, p.quantity \
    FROM p JOIN orders o ON o.order_id = p.order_id JOIN services s ON s.service_id = p.service_id \
    ORDER BY p.part_id";
const CLAIMED_PART: &str =
    "SELECT p.part_id, p.order_id, p.attempts, s.provider_service_id, s.service_type, \
    o.link, p.quantity FROM order_parts p JOIN orders o ON o.order_id = p.order_id \
    JOIN services s ON s.service_id = p.service_id WHERE p.part_id = $1";
const MARK_ORDER_PROCESSING: &str = "UPDATE orders SET status = 'processing', updated_at = $2 \
    WHERE order_id = $1 AND status IN ('pending', 'scheduled')";
const PARTS_TO_SYNC: &str = "SELECT part_id, order_id, smm_order_id, share, quantity FROM order_parts \
    WHERE state = 'accepted' AND smm_order_id IS NOT NULL ORDER BY last_status_check ASC NULLS FIRST, part_id \
    LIMIT $1";
const TOUCH_PART_CHECK: &str = "UPDATE order_parts SET last_status_check = $2 WHERE part_id = $1";
/// Parts whose turn came (the previous one settled `delay` ago) but were never made due.
const PARTS_TO_REQUEUE: &str = "SELECT p.part_id, prev.settled_at, p.delay_minutes FROM order_parts p \
    JOIN order_parts prev ON prev.order_id = p.order_id AND prev.part_index = p.part_index - 1 \
    JOIN orders o ON o.order_id = p.order_id \
    WHERE p.state = 'waiting' AND prev.state IN ('accepted', 'unknown', 'ended') AND prev.settled_at IS NOT NULL \
    AND o.status NOT IN ('partial', 'completed', 'canceled', 'failed')";
const REQUEUE_PART: &str =
    "UPDATE order_parts SET state = 'due', due_at = $2 WHERE part_id = $1 AND state = 'waiting'";
const STUCK_PARTS: &str = concat!(
    "SELECT ",
    part_cols!(),
    " FROM order_parts WHERE state = 'submitting' AND claimed_at < $1 ORDER BY part_id"
);

row_mapper!(service_row -> Service {
    service_id, provider_service_id, name, category, platform, service_type, price_per_1000: Points,
    min_quantity, max_quantity, dripfeed, refill, cancel, is_active, description, created_at,
    updated_at,
});

row_mapper!(claimed_row -> ClaimedJob {
    job_id, order_id, attempts, provider_service_id, service_type, link, quantity, runs,
    interval_minutes, comments, params: json_or_default,
});

row_mapper!(claimed_part_row -> ClaimedPart {
    part_id, order_id, attempts, provider_service_id, service_type, link, quantity,
});

row_mapper!(package_row -> Package {
    package_id, name, description, price: Points, steps: json, is_active, created_at, updated_at,
});

async fn provider_id_owner<C: Conn>(c: &mut C, provider_id: &str) -> StoreResult<Option<i64>> {
    c.query_opt(SERVICE_ID_BY_PROVIDER_ID, &[&provider_id]).await?.map(|r| r.get(0)).transpose()
}

async fn write_service<C: Conn>(
    c: &mut C,
    id: Option<i64>,
    s: &NewService,
    now: Millis,
) -> StoreResult<Service> {
    let owner = provider_id_owner(c, &s.provider_service_id).await?;
    if owner.is_some() && owner != id {
        return Err(StoreError::Conflict(Conflict::ProviderServiceIdTaken));
    }
    let fields: [&dyn Param; 13] = [
        &s.provider_service_id,
        &s.name,
        &s.category,
        &s.platform,
        &s.service_type,
        &s.price_per_1000.0,
        &s.min_quantity,
        &s.max_quantity,
        &s.dripfeed,
        &s.refill,
        &s.cancel,
        &s.is_active,
        &s.description,
    ];
    let row = match id {
        None => {
            let mut args = fields.to_vec();
            args.push(&now);
            c.query_opt(INSERT_SERVICE, &args).await?
        }
        Some(id) => {
            let mut args: Vec<&dyn Param> = vec![&id];
            args.extend_from_slice(&fields);
            args.push(&now);
            c.query_opt(UPDATE_SERVICE, &args).await?
        }
    };
    service_row(&row.ok_or(StoreError::NotFound)?).inspect(|s| c.note(crate::Change::Service(s.service_id)))
}

/// Creates a service (`id` is `None`) or rewrites service `id`. Audited.
async fn save_service<C: Conn>(
    c: &mut C,
    id: Option<i64>,
    s: &NewService,
    audit: &NewAudit,
    now: Millis,
) -> StoreResult<Service> {
    let saved = write_service(c, id, s, now).await?;
    audited(c, audit, now, saved).await
}

/// Inserts an order (and, for a single order, its submission job: `job_due`) and charges its
/// price (ledger `order_charge`, the core's event key), in the caller's transaction; answers the
/// new order's id and its referral commission.
async fn insert_order_and_charge<C: Conn>(
    c: &mut C,
    o: &NewOrder,
    job_due: Option<Millis>,
    now: Millis,
) -> StoreResult<(OrderId, Points)> {
    let columns = (o.status.as_str(), super::json_or_null(&o.params, o.params.is_empty())?);
    let args = order_args(o, &columns, &job_due, &now);
    let order_id: OrderId = match (c.dialect(), job_due) {
        (Dialect::Postgres, Some(_)) => c.scalar(INSERT_ORDER_AND_JOB, &args).await?,
        (_, due) => {
            let order_id = c.scalar(INSERT_ORDER, &args[..15]).await?;
            if let Some(due) = due {
                c.execute(INSERT_JOB, &[&order_id, &due]).await?;
            }
            order_id
        }
    };
    if o.final_price.0 > 0 {
        charge_new_order(c, o, order_id, now).await?;
    }
    let commission =
        super::referral::referral_on_order(c, order_id, &o.user_id, o.coupon_id, o.price, o.final_price, now)
            .await?;
    Ok((order_id, commission))
}

/// PostgreSQL: a single order without coupon or idempotency key, by a user without a referrer,
/// in two statements and no transaction: its id, then the charge, the order, its job and the
/// ledger row in one statement. `Err(o)` back when the user has a referrer (the caller places it
/// in a transaction, with the commission).
async fn place_at_once<C: Conn>(c: &mut C, o: NewOrder, now: Millis) -> StoreResult<Result<Order, NewOrder>> {
    let next = c.query_one(NEXT_ORDER, &[&o.user_id]).await?;
    let (order_id, referred): (OrderId, bool) = (next.get(0)?, next.get(1)?);
    if referred {
        return Ok(Err(o));
    }
    let columns = (o.status.as_str(), super::json_or_null(&o.params, o.params.is_empty())?);
    let (charge, kind) = (charge_posting(&o, order_id), LedgerKind::OrderCharge.as_str());
    let mut args = order_args(&o, &columns, &o.due_at, &now).to_vec();
    args.extend([&order_id as &dyn Param, &charge.reference, &charge.description, &charge.event_ref, &kind]);
    let Some(row) = c.query_opt(PLACE_AT_ONCE, &args).await? else {
        return Err(super::refusal(c, &o.user_id).await);
    };
    super::note_balance(c, &o.user_id, row.get(1)?, row.get(0)?);
    Ok(Ok(placed(&o, order_id, Points(0), now)))
}

/// The columns of a new order (`$1`–`$15`) and its job's due time (`$16`).
fn order_args<'a>(
    o: &'a NewOrder,
    (status, params): &'a (&'static str, Option<String>),
    due: &'a dyn Param,
    now: &'a Millis,
) -> [&'a dyn Param; 16] {
    [
        &o.user_id,
        &o.service_id,
        &o.service_name,
        &o.link,
        &o.quantity,
        &o.runs,
        &o.interval_minutes,
        &o.comments,
        &o.price.0,
        &o.discount_amount.0,
        &o.final_price.0,
        status,
        now,
        &o.scheduled_at,
        params,
        due,
    ]
}

/// Charges a new order's price (ledger `order_charge`, the core's event key): the balance (never
/// below zero) and its ledger row, one round trip on PostgreSQL. `InsufficientPoints` (or
/// `NotFound`) changes nothing.
async fn charge_new_order<C: Conn>(
    c: &mut C,
    o: &NewOrder,
    order_id: OrderId,
    now: Millis,
) -> StoreResult<()> {
    let charge = charge_posting(o, order_id);
    // The order is new in this transaction: no earlier posting of its event can exist (the
    // ledger's unique `event_ref` still guards it).
    super::post_new_event(c, &charge, now).await.map(drop)
}

/// The charge of new order `order_id` (ledger `order_charge`, the core's event key).
fn charge_posting(o: &NewOrder, order_id: OrderId) -> Posting {
    let (event_ref, description) = events::order_charge(order_id.0, &o.service_name);
    Posting {
        user_id: o.user_id.clone(),
        kind: LedgerKind::OrderCharge,
        amount: Points(-o.final_price.0),
        reference: Some(events::order_reference(order_id.0)),
        description,
        event_ref: Some(event_ref),
        audit: None,
    }
}

/// A single order as [`place`] just wrote it, without reading it back.
fn placed(o: &NewOrder, order_id: OrderId, commission: Points, now: Millis) -> Order {
    Order {
        order_id,
        user_id: o.user_id.clone(),
        service_id: Some(o.service_id),
        service_name: o.service_name.clone(),
        link: o.link.clone(),
        quantity: o.quantity,
        runs: o.runs,
        interval_minutes: o.interval_minutes,
        comments: o.comments.clone(),
        price: o.price,
        discount_amount: o.discount_amount,
        final_price: o.final_price,
        commission_amount: commission,
        status: o.status,
        smm_panel_order_id: None,
        start_count: None,
        remains: None,
        charge: None,
        refunded_amount: Points(0),
        last_status_check: None,
        error: None,
        created_at: now,
        updated_at: now,
        scheduled_at: o.scheduled_at,
        package_id: None,
        split_days: None,
        total_parts: 0,
        package_steps: Vec::new(),
        params: o.params.clone(),
    }
}

/// What a placement creates besides the order and its charge.
enum Work<'a> {
    /// A single order's submission job.
    Job,
    /// A multi-part order's plan and its parts, the first one due at `start_at` (if any).
    Parts { package_id: Option<i64>, split_days: Option<i64>, parts: &'a [Part], start_at: Option<Millis> },
}

/// Places an order under `key` (a key seen before replays the first answer): the order, its
/// charge and its `work`, in the caller's transaction.
async fn place<C: Conn>(
    c: &mut C,
    o: &NewOrder,
    work: Work<'_>,
    key: Option<&IdempotencyKey>,
    now: Millis,
) -> StoreResult<Idempotent<Order>> {
    if let Some(order) = replay(c, key, now).await? {
        return Ok(Idempotent::Replay(order));
    }
    let order = match work {
        Work::Job => {
            // The order and its job in one statement where the dialect allows; not read back.
            let (order_id, commission) = insert_order_and_charge(c, o, Some(o.due_at), now).await?;
            placed(o, order_id, commission, now)
        }
        Work::Parts { package_id, split_days, parts, start_at } => {
            let (order_id, _) = insert_order_and_charge(c, o, None, now).await?;
            c.execute(SET_ORDER_PLAN, &[&order_id, &package_id, &split_days]).await?;
            insert_parts(c, order_id, parts, start_at).await?;
            order_in(c, order_id).await?
        }
    };
    remember(c, key, order).await
}

/// Inserts the parts of order `order_id` in the states the core's run starts them in (the
/// first one due at `start_at`, if any; the others waiting).
async fn insert_parts<C: Conn>(
    c: &mut C,
    order_id: OrderId,
    parts: &[Part],
    start_at: Option<Millis>,
) -> StoreResult<()> {
    let run = Run::new(parts.to_vec(), start_at);
    for (p, state) in parts.iter().zip(run.states()) {
        let due = match state {
            PartState::Due { at } => Some(*at),
            _ => None,
        };
        let (index, step, repeat) = (i64::from(p.index), i64::from(p.step_index), i64::from(p.repeat_index));
        let quantity = i64::try_from(p.quantity).unwrap_or(i64::MAX);
        let delay = i64::from(p.delay_minutes);
        let stage = Stage::of(state).as_str();
        let args: [&dyn Param; 11] = [
            &order_id,
            &index,
            &step,
            &repeat,
            &p.name,
            &p.service_id,
            &quantity,
            &p.share.0,
            &delay,
            &stage,
            &due,
        ];
        c.execute(INSERT_PART, &args).await?;
    }
    Ok(())
}

/// Claims up to `limit` due jobs (`only`: the job of that order), marks their orders
/// `submitting` and reads what their submissions need: one statement on PostgreSQL.
async fn claim_jobs<C: Conn>(
    c: &mut C,
    now: Millis,
    limit: i64,
    only: Option<OrderId>,
) -> StoreResult<Vec<ClaimedJob>> {
    if c.dialect() == Dialect::Postgres {
        let (sql, arg) = only.map_or((CLAIM_JOBS_FUSED, limit), |id| (CLAIM_ORDER_JOB_FUSED, id.0));
        let rows = c.query(sql, &[&now, &arg]).await?;
        // An order whose service is gone has nothing to submit: the claim rolls back.
        return rows
            .iter()
            .map(|r| r.get::<Option<i64>>(11)?.ok_or(StoreError::NotFound).and(claimed_row(r)))
            .collect();
    }
    let ids = match only {
        None => c.query(CLAIM_DUE_JOBS, &[&now, &limit]).await?,
        Some(order_id) => c.query(CLAIM_ORDER_JOB, &[&order_id, &now]).await?,
    };
    let mut jobs = Vec::with_capacity(ids.len());
    for r in ids {
        let job_id: JobId = r.get(0)?;
        c.execute(MARK_JOB_ORDER_SUBMITTING, &[&job_id, &now]).await?;
        jobs.push(claimed_row(&c.query_one(CLAIMED_JOB, &[&job_id]).await?)?);
    }
    Ok(jobs)
}

/// Creates a package (`id` is `None`) or rewrites package `id`. Audited.
async fn save_package<C: Conn>(
    c: &mut C,
    id: Option<i64>,
    p: &NewPackage,
    audit: &NewAudit,
    now: Millis,
) -> StoreResult<Package> {
    let steps = serialize(&p.steps)?;
    let args: [&dyn Param; 7] = [&p.name, &p.description, &p.price.0, &steps, &p.is_active, &now, &id];
    let found = match id {
        None => c.query_opt(INSERT_PACKAGE, &args[..6]).await?,
        Some(_) => c.query_opt(UPDATE_PACKAGE, &args).await?,
    };
    let package = package_row(&found.ok_or(StoreError::NotFound)?)?;
    audited(c, audit, now, package).await
}

store_trait! {
    /// The catalogue of services.
    ///
    /// # Example
    ///
    /// ```
    /// use snspmt_core::Points;
    /// use snspmt_store::{CatalogStore, NewService};
    /// use snspmt_store::Millis;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let store = snspmt_store::testing::example_store(&[]).await?;
    /// # let audit = snspmt_store::testing::example_audit;
    /// let likes = NewService {
    ///     provider_service_id: "1".into(),
    ///     name: "Likes".into(),
    ///     category: "Instagram".into(),
    ///     platform: "instagram".into(),
    ///     service_type: "default".into(),
    ///     price_per_1000: Points(1_000),
    ///     min_quantity: 10,
    ///     max_quantity: 10_000,
    ///     dripfeed: false,
    ///     refill: false,
    ///     cancel: false,
    ///     is_active: true,
    ///     description: String::new(),
    /// };
    /// let created = store.create_service(likes.clone(), audit(), Millis(1_000)).await?;
    /// assert_eq!(store.service(created.service_id).await?, Some(created));
    /// // An import updates the services it knows by the upstream's id.
    /// let counts = store.import_services(vec![likes], audit(), Millis(2_000)).await?;
    /// assert_eq!((counts.inserted, counts.updated), (0, 1));
    /// assert_eq!(store.list_services(true, Some("Instagram"), 0, 0).await?.total, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub trait CatalogStore {
        /// `Conflict(Conflict::ProviderServiceIdTaken)` when the upstream id is catalogued already.
        async fn create_service(
            &self,
            service: NewService,
            audit: NewAudit,
            now: Millis,
        ) -> StoreResult<Service> {
            self.tx(async move |c| save_service(c, None, &service, &audit, now).await).await
        }

        async fn service(&self, service_id: i64) -> StoreResult<Option<Service>> {
            self.rd(async move |c| one(c, SERVICE_BY_ID, &[&service_id], service_row).await).await
        }

        /// Services by id; `active_only` drops inactive ones, `category` keeps one category.
        async fn list_services(
            &self,
            active_only: bool,
            category: Option<&str>,
            limit: i64,
            offset: i64,
        ) -> StoreResult<Page<Service>> {
            let category = category.map(str::to_owned);
            self.rd(async move |c| {
                page(c, SERVICE_PAGE, &[&active_only, &category], limit, offset, service_row).await
            })
            .await
        }

        /// Replaces the editable fields of a service (`provider_service_id` included).
        async fn update_service(
            &self,
            service_id: i64,
            service: NewService,
            audit: NewAudit,
            now: Millis,
        ) -> StoreResult<Service> {
            self.tx(async move |c| save_service(c, Some(service_id), &service, &audit, now).await).await
        }

        /// Inserts or updates services by `provider_service_id`, in one transaction.
        async fn import_services(
            &self,
            services: Vec<NewService>,
            audit: NewAudit,
            now: Millis,
        ) -> StoreResult<ImportCounts> {
            self.tx(async move |c| {
                if c.dialect() == Dialect::Postgres {
                    c.execute(LOCK_SERVICES, &[]).await?;
                }
                let mut counts = ImportCounts { inserted: 0, updated: 0 };
                for s in &services {
                    let known = provider_id_owner(c, &s.provider_service_id).await?;
                    write_service(c, known, s, now).await?;
                    *(if known.is_some() { &mut counts.updated } else { &mut counts.inserted }) += 1;
                }
                audited(c, &audit, now, counts).await
            })
            .await
        }
    }
}

store_trait! {
    /// Orders, their charges and refunds, and the submission outbox.
    ///
    /// # Example
    ///
    /// ```
    /// use snspmt_core::order::{self, OrderStatus};
    /// use snspmt_core::upstream::smm::Status;
    /// use snspmt_core::Points;
    /// use snspmt_store::{LedgerStore, NewOrder, OrderStore, StatusUpdate, SubmissionOutcome};
    /// use snspmt_store::Millis;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let store = snspmt_store::testing::example_store(&["kim"]).await?;
    /// # let audit = snspmt_store::testing::example_audit;
    /// # snspmt_store::LedgerStore::post(&store, snspmt_store::Posting {
    /// #     user_id: "kim".into(),
    /// #     kind: snspmt_core::LedgerKind::Purchase,
    /// #     amount: snspmt_core::Points(1_000),
    /// #     reference: None,
    /// #     description: "credit".into(),
    /// #     event_ref: None,
    /// #     audit: None,
    /// # }, None, Millis(0)).await?;
    /// # let service = snspmt_store::NewService {
    /// #     provider_service_id: "1".into(),
    /// #     name: "Likes".into(),
    /// #     category: "Instagram".into(),
    /// #     platform: "instagram".into(),
    /// #     service_type: "default".into(),
    /// #     price_per_1000: Points(1_000),
    /// #     min_quantity: 10,
    /// #     max_quantity: 10_000,
    /// #     dripfeed: false,
    /// #     refill: false,
    /// #     cancel: false,
    /// #     is_active: true,
    /// #     description: String::new(),
    /// # };
    /// # let service = snspmt_store::CatalogStore::create_service(&store, service, audit(), Millis(0)).await?;
    /// # let service_id = service.service_id;
    /// let t0 = Millis(1_000);
    /// let order = NewOrder {
    ///     user_id: "kim".into(),
    ///     service_id,
    ///     service_name: "Likes".into(),
    ///     link: "https://x.com/a".into(),
    ///     quantity: 100,
    ///     runs: None,
    ///     interval_minutes: None,
    ///     comments: None,
    ///     price: Points(100),
    ///     discount_amount: Points(0),
    ///     final_price: Points(100),
    ///     due_at: t0,
    ///     status: OrderStatus::Pending,
    ///     scheduled_at: None,
    ///     coupon_id: None,
    ///     params: Default::default(),
    /// };
    /// // Charged and queued in one transaction.
    /// let placed = store.place_order(order, None, t0).await?.into_inner();
    /// assert_eq!(store.balance("kim").await?, Some(Points(900)));
    ///
    /// // A worker claims the due job, sends it upstream and records how that went.
    /// let jobs = store.claim_due_jobs(t0, 10).await?;
    /// assert_eq!(jobs.iter().map(|j| j.order_id).collect::<Vec<_>>(), [placed.order_id]);
    /// let accepted = SubmissionOutcome::Accepted { smm_order_id: "23501".into() };
    /// let running = store.settle_submission(jobs[0].job_id, accepted, t0.plus_ms(1)).await?;
    /// assert_eq!(running.status, OrderStatus::InProgress);
    ///
    /// // The status sync: 25 of 100 were not delivered. The core settles; the store applies it.
    /// let target = &store.orders_to_sync(10, None).await?[0];
    /// let settlement = order::settle(target.final_price, target.total_quantity, &Status::Partial, Some(25))?;
    /// let update = StatusUpdate { settlement, start_count: Some(0), remains: Some(25), charge: None };
    /// let ended = store.apply_status(target.order_id, update, t0.plus_ms(2)).await?.ok_or("in progress")?;
    /// assert_eq!((ended.status, ended.refunded_amount), (OrderStatus::Partial, Points(25)));
    /// assert_eq!(store.balance("kim").await?, Some(Points(925)));
    /// # Ok(())
    /// # }
    /// ```
    pub trait OrderStore {
        /// In one transaction: charge `final_price` (ledger `order_charge`), insert the order and
        /// its submission job. `InsufficientPoints` changes nothing.
        async fn place_order(
            &self,
            order: NewOrder,
            key: Option<IdempotencyKey>,
            now: Millis,
        ) -> StoreResult<Idempotent<Order>> {
            let mut order = order;
            if self.dialect_name() == "postgres" && key.is_none() && order.coupon_id.is_none() && order.final_price.0 > 0 {
                match self.autocommit(async move |c| place_at_once(c, order, now).await).await? {
                    Ok(placed) => return Ok(Idempotent::Fresh(placed)),
                    Err(back) => order = back,
                }
            }
            self.tx(async move |c| place(c, &order, Work::Job, key.as_ref(), now).await).await
        }

        async fn order(&self, order_id: OrderId) -> StoreResult<Option<Order>> {
            self.rd(async move |c| one(c, ORDER_BY_ID, &[&order_id], order_row).await).await
        }

        /// Newest first.
        async fn orders(&self, filter: OrderFilter) -> StoreResult<Page<Order>> {
            self.rd(async move |c| {
                let status = filter.status.map(OrderStatus::as_str);
                page(c, ORDER_PAGE, &[&filter.user_id, &status], filter.limit, filter.offset, order_row).await
            })
            .await
        }

        /// Claims the due job of one order (`due` → `submitting`); `None` if someone else has it
        /// or it is not due.
        async fn claim_order_job(&self, order_id: OrderId, now: Millis) -> StoreResult<Option<ClaimedJob>> {
            self.tx(async move |c| Ok(claim_jobs(c, now, 1, Some(order_id)).await?.pop())).await
        }

        /// Claims up to `limit` due jobs, oldest due first; each job is handed to one caller only.
        async fn claim_due_jobs(&self, now: Millis, limit: i64) -> StoreResult<Vec<ClaimedJob>> {
            self.tx(async move |c| claim_jobs(c, now, limit, None).await).await
        }

        /// Records how a claimed submission ended. Only a `submitting` job settles (once); the
        /// refund of a rejection is posted in the same transaction.
        async fn settle_submission(
            &self,
            job_id: JobId,
            outcome: SubmissionOutcome,
            now: Millis,
        ) -> StoreResult<Order> {
            self.tx(async move |c| lifecycle::settle_submission(c, job_id, &outcome, now).await).await
        }

        /// Jobs claimed before `claimed_before` and never settled (a worker died mid-call) become
        /// `unknown`: they are never resent. Answers the orders concerned.
        async fn expire_submissions(&self, claimed_before: Millis, now: Millis) -> StoreResult<Vec<OrderId>> {
            self.tx(async move |c| lifecycle::expire_submissions(c, claimed_before, now).await).await
        }

        /// `in_progress` orders to ask the upstream about, least recently checked first;
        /// optionally only `order_ids` of `user_id`.
        async fn orders_to_sync(
            &self,
            limit: i64,
            only: Option<(&str, &[OrderId])>,
        ) -> StoreResult<Vec<SyncTarget>> {
            let only = only.map(|(u, ids)| (u.to_owned(), ids.to_vec()));
            self.rd(async move |c| {
                let row = |r: &Row| -> StoreResult<SyncTarget> {
                    Ok(SyncTarget {
                        order_id: r.get(0)?,
                        smm_order_id: r.get(1)?,
                        final_price: Points(r.get(2)?),
                        total_quantity: snspmt_core::order::total_quantity(r.get(3)?, r.get(4)?),
                    })
                };
                let Some((user, ids)) = only else {
                    return rows(c, ORDERS_TO_SYNC, &[&limit], row).await;
                };
                let mut out = Vec::new();
                for id in ids.iter().take(usize::try_from(limit).unwrap_or(0)) {
                    if let Some(r) = c.query_opt(USER_ORDER_TO_SYNC, &[id, &user]).await? {
                        out.push(row(&r)?);
                    }
                }
                Ok(out)
            })
            .await
        }

        /// Applies the upstream's status to an `in_progress` order; a terminal settlement (and its
        /// refund) happens once. `None` if the order was not `in_progress`.
        async fn apply_status(
            &self,
            order_id: OrderId,
            update: StatusUpdate,
            now: Millis,
        ) -> StoreResult<Option<Order>> {
            self.tx(async move |c| lifecycle::apply_status(c, order_id, &update, now).await).await
        }

        /// Records that the upstream's status of an order (or of one of its parts) could not be
        /// applied: the error is kept on the row for the operator, and the row moves behind the
        /// others in the sync order, so that one bad row never stops a batch.
        async fn record_sync_failure(
            &self,
            order_id: OrderId,
            part_id: Option<PartId>,
            error: &str,
            now: Millis,
        ) -> StoreResult<()> {
            let error = error.to_owned();
            self.tx(async move |c| lifecycle::record_sync_failure(c, order_id, part_id, &error, now).await)
                .await
        }

        /// Marks orders as checked now (the upstream did not know them, or said nothing new).
        async fn touch_status_checks(&self, order_ids: &[OrderId], now: Millis) -> StoreResult<()> {
            let ids = order_ids.to_vec();
            self.tx(async move |c| touch(c, lifecycle::TOUCH_STATUS_CHECK, &ids, now).await).await
        }

        /// Records how several claimed submissions ended, in one transaction (each as
        /// [`settle_submission`](OrderStore::settle_submission) would): all or none. An `Err` (one
        /// job refused, say) changes nothing; the caller settles them one at a time instead.
        async fn settle_submissions(
            &self,
            outcomes: Vec<(JobId, SubmissionOutcome)>,
            now: Millis,
        ) -> StoreResult<Vec<Order>> {
            self.tx(async move |c| lifecycle::settle_submissions(c, &outcomes, now).await).await
        }

        /// Applies the upstream's statuses of several orders (each as
        /// [`apply_status`](OrderStore::apply_status) would) and marks `untouched` as checked, in
        /// one transaction: all or none. An `Err` changes nothing; the caller applies them one at a
        /// time instead, to record which row failed.
        async fn apply_statuses(
            &self,
            updates: Vec<(OrderId, StatusUpdate)>,
            untouched: Vec<OrderId>,
            now: Millis,
        ) -> StoreResult<Vec<Option<Order>>> {
            self.tx(async move |c| lifecycle::apply_statuses(c, &updates, &untouched, now).await).await
        }

        /// The owner's cancel: only while the job is due and unclaimed → `canceled`, full refund.
        /// `Conflict(Conflict::InvalidTransition)` otherwise.
        async fn cancel_order(&self, order_id: OrderId, now: Millis) -> StoreResult<Order> {
            self.tx(async move |c| lifecycle::cancel_order(c, order_id, now).await).await
        }

        /// An operator's transition (checked by the core): status, optional upstream id, refund of
        /// what is not yet refunded, withdrawal of an unclaimed job, audit — in one transaction.
        /// `Conflict(Conflict::InvalidTransition)` if the order moved meanwhile.
        async fn admin_set_status(
            &self,
            order_id: OrderId,
            from: OrderStatus,
            transition: AdminTransition,
            smm_order_id: Option<String>,
            audit: NewAudit,
            now: Millis,
        ) -> StoreResult<Order> {
            self.tx(async move |c| {
                lifecycle::admin_set_status(c, order_id, from, transition, smm_order_id, &audit, now).await
            })
            .await
        }
    }
}

store_trait! {
    /// Packages of the catalogue.
    ///
    /// # Example
    ///
    /// ```
    /// use snspmt_core::plan::Step;
    /// use snspmt_core::Points;
    /// use snspmt_store::{NewPackage, PackageStore};
    /// use snspmt_store::Millis;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let store = snspmt_store::testing::example_store(&[]).await?;
    /// # let audit = snspmt_store::testing::example_audit;
    /// let step = Step { service_id: 1, quantity: 100, delay_minutes: Some(60), repeat: 3, name: "x".into() };
    /// let starter = NewPackage {
    ///     name: "Starter".into(),
    ///     description: "300 likes over three hours".into(),
    ///     price: Points(2_500),
    ///     steps: vec![step],
    ///     is_active: true,
    /// };
    /// let package = store.create_package(starter, audit(), Millis(1_000)).await?;
    /// assert_eq!(store.package(package.package_id).await?.map(|p| p.steps), Some(package.steps));
    /// assert_eq!(store.list_packages(true, 0, 0).await?.total, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub trait PackageStore {
        async fn create_package(
            &self,
            package: NewPackage,
            audit: NewAudit,
            now: Millis,
        ) -> StoreResult<Package> {
            self.tx(async move |c| save_package(c, None, &package, &audit, now).await).await
        }

        async fn package(&self, package_id: i64) -> StoreResult<Option<Package>> {
            self.rd(async move |c| one(c, PACKAGE_BY_ID, &[&package_id], package_row).await).await
        }

        async fn list_packages(
            &self,
            active_only: bool,
            limit: i64,
            offset: i64,
        ) -> StoreResult<Page<Package>> {
            self.rd(async move |c| page(c, PACKAGE_PAGE, &[&active_only], limit, offset, package_row).await)
                .await
        }

        async fn update_package(
            &self,
            package_id: i64,
            package: NewPackage,
            audit: NewAudit,
            now: Millis,
        ) -> StoreResult<Package> {
            self.tx(async move |c| save_package(c, Some(package_id), &package, &audit, now).await).await
        }
    }
}

store_trait! {
    /// Multi-part orders (packages, split delivery): each part one submission, run in order.
    pub trait PartStore {
        /// In one transaction: charge, insert the order and its parts. The first part is due at
        /// `start_at` (`None`: deferred until `start_parts`); the others wait for their turn.
        #[allow(clippy::too_many_arguments)]
        async fn place_multipart_order(
            &self,
            order: NewOrder,
            package_id: Option<i64>,
            split_days: Option<i64>,
            parts: Vec<Part>,
            start_at: Option<Millis>,
            key: Option<IdempotencyKey>,
            now: Millis,
        ) -> StoreResult<Idempotent<Order>> {
            self.tx(async move |c| {
                let work = Work::Parts { package_id, split_days, parts: &parts, start_at };
                place(c, &order, work, key.as_ref(), now).await
            })
            .await
        }

        /// Makes the first part of a deferred order due now; `false` if it had started already.
        async fn start_parts(&self, order_id: OrderId, now: Millis) -> StoreResult<bool> {
            self.tx(async move |c| {
                order_in(c, order_id).await?;
                Ok(c.execute(START_PARTS, &[&order_id, &now]).await? > 0)
            })
            .await
        }

        async fn order_parts(&self, order_id: OrderId) -> StoreResult<Vec<OrderPart>> {
            self.rd(async move |c| rows(c, ORDER_PARTS, &[&order_id], part_row).await).await
        }

        /// Claims due parts (`submitting`), oldest due first, each for one caller only.
        async fn claim_due_parts(
            &self,
            now: Millis,
            limit: i64,
            kind: Option<PartKind>,
        ) -> StoreResult<Vec<ClaimedPart>> {
            let kind = kind.map(|k| match k {
                PartKind::Package => "package",
                PartKind::Split => "split",
            });
            self.autocommit(async move |c| {
                if c.dialect() == Dialect::Postgres {
                    let rows = c.query(CLAIM_PARTS_FUSED, &[&now, &limit, &kind]).await?;
                    return rows.iter().map(claimed_part_row).collect();
                }
                let ids = c.query(CLAIM_DUE_PARTS, &[&now, &limit, &kind]).await?;
                let mut claimed = Vec::with_capacity(ids.len());
                for id in ids {
                    let id: PartId = id.get(0)?;
                    let part = claimed_part_row(&c.query_one(CLAIMED_PART, &[&id]).await?)?;
                    c.execute(MARK_ORDER_PROCESSING, &[&part.order_id, &now]).await?;
                    claimed.push(part);
                }
                Ok(claimed)
            })
            .await
        }

        /// Records how a part's submission ended (once), refunds a rejected part's share, makes
        /// the next part due after its delay, and updates the order's status.
        async fn settle_part_submission(
            &self,
            part_id: PartId,
            outcome: SubmissionOutcome,
            now: Millis,
        ) -> StoreResult<Order> {
            self.tx(async move |c| lifecycle::settle_part_submission(c, part_id, &outcome, now).await).await
        }

        /// Parts claimed before `claimed_before` and never settled become `unknown` (never resent).
        async fn expire_part_submissions(
            &self,
            claimed_before: Millis,
            now: Millis,
        ) -> StoreResult<Vec<OrderId>> {
            self.tx(async move |c| lifecycle::expire_part_submissions(c, claimed_before, now).await).await
        }

        /// Accepted parts to ask the upstream about, least recently checked first.
        async fn parts_to_sync(&self, limit: i64) -> StoreResult<Vec<PartSyncTarget>> {
            self.rd(async move |c| {
                rows(c, PARTS_TO_SYNC, &[&limit], |r| {
                    Ok(PartSyncTarget {
                        part_id: r.get(0)?,
                        order_id: r.get(1)?,
                        smm_order_id: r.get(2)?,
                        share: Points(r.get(3)?),
                        quantity: r.get(4)?,
                    })
                })
                .await
            })
            .await
        }

        /// Applies the upstream's status to an accepted part; a terminal one settles (once) with
        /// its refund, and the order's status follows.
        async fn apply_part_status(
            &self,
            part_id: PartId,
            update: StatusUpdate,
            now: Millis,
        ) -> StoreResult<Option<Order>> {
            self.tx(async move |c| lifecycle::apply_part_status(c, part_id, &update, now).await).await
        }

        async fn touch_part_checks(&self, part_ids: &[PartId], now: Millis) -> StoreResult<()> {
            let ids = part_ids.to_vec();
            self.tx(async move |c| touch(c, TOUCH_PART_CHECK, &ids, now).await).await
        }

        /// Records how several claimed part submissions ended, in one transaction (each as
        /// [`settle_part_submission`](PartStore::settle_part_submission) would): all or none.
        async fn settle_part_submissions(
            &self,
            outcomes: Vec<(PartId, SubmissionOutcome)>,
            now: Millis,
        ) -> StoreResult<Vec<Order>> {
            self.tx(async move |c| {
                let mut settled = Vec::with_capacity(outcomes.len());
                for (part_id, outcome) in &outcomes {
                    settled.push(lifecycle::settle_part_submission(c, *part_id, outcome, now).await?);
                }
                Ok(settled)
            })
            .await
        }

        /// Applies the upstream's statuses of several parts (each as
        /// [`apply_part_status`](PartStore::apply_part_status) would) and marks `untouched` as
        /// checked, in one transaction: all or none.
        async fn apply_part_statuses(
            &self,
            updates: Vec<(PartId, StatusUpdate)>,
            untouched: Vec<PartId>,
            now: Millis,
        ) -> StoreResult<Vec<Option<Order>>> {
            self.tx(async move |c| {
                let mut applied = Vec::with_capacity(updates.len());
                for (part_id, u) in &updates {
                    applied.push(lifecycle::apply_part_status(c, *part_id, u, now).await?);
                }
                touch(c, TOUCH_PART_CHECK, &untouched, now).await?;
                Ok(applied)
            })
            .await
        }

        /// An operator settles an `unknown` part: it was accepted (`smm_order_id`), or it failed
        /// (`None`: its share is refunded). `Conflict(Conflict::InvalidTransition)` unless it is `unknown`.
        async fn resolve_part(
            &self,
            order_id: OrderId,
            part_index: i64,
            smm_order_id: Option<String>,
            audit: NewAudit,
            now: Millis,
        ) -> StoreResult<Order> {
            self.tx(async move |c| {
                lifecycle::resolve_part(c, order_id, part_index, smm_order_id, &audit, now).await
            })
            .await
        }

        /// Makes due the parts whose turn has come but which were never made due (repair), and
        /// lists the parts stuck in `submitting` since before `claimed_before` (never resent).
        async fn requeue_parts(
            &self,
            claimed_before: Millis,
            now: Millis,
        ) -> StoreResult<(i64, Vec<OrderPart>)> {
            self.tx(async move |c| {
                let mut requeued = 0;
                for r in c.query(PARTS_TO_REQUEUE, &[]).await? {
                    let (part_id, settled_at, delay): (i64, Millis, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
                    let due =
                        snspmt_core::plan::next_due(settled_at, u32::try_from(delay).unwrap_or(u32::MAX));
                    if due <= now {
                        requeued += c.execute(REQUEUE_PART, &[&part_id, &now]).await? as i64;
                    }
                }
                let stuck = rows(c, STUCK_PARTS, &[&claimed_before], part_row).await?;
                Ok((requeued, stuck))
            })
            .await
        }
    }
}
