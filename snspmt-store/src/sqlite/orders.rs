//! The catalogue and orders on SQLite.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};
use snspmt_core::order::{AdminTransition, OrderStatus};
use snspmt_core::{LedgerKind, Points};

use super::queries as q;
use super::{claim_key, deserialize, insert_audit, post_in, save_key, serialize, SqliteStore};
use crate::{
    CatalogStore, ClaimedJob, IdempotencyKey, Idempotent, ImportCounts, Millis, NewAudit, NewOrder,
    NewService, Order, OrderFilter, OrderStore, Page, Posting, Service, StatusUpdate, StoreError,
    StoreResult, SubmissionOutcome, SyncTarget,
};

fn service_row(r: &Row<'_>) -> rusqlite::Result<Service> {
    Ok(Service {
        service_id: r.get(0)?,
        provider_service_id: r.get(1)?,
        name: r.get(2)?,
        category: r.get(3)?,
        platform: r.get(4)?,
        service_type: r.get(5)?,
        price_per_1000: Points(r.get(6)?),
        min_quantity: r.get(7)?,
        max_quantity: r.get(8)?,
        dripfeed: r.get(9)?,
        refill: r.get(10)?,
        cancel: r.get(11)?,
        is_active: r.get(12)?,
        description: r.get(13)?,
        created_at: r.get(14)?,
        updated_at: r.get(15)?,
    })
}

fn status_from_sql(idx: usize, s: String) -> rusqlite::Result<OrderStatus> {
    s.parse()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e)))
}

pub(super) fn order_row(r: &Row<'_>) -> rusqlite::Result<Order> {
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
        status: status_from_sql(13, r.get(13)?)?,
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

fn claimed_row(r: &Row<'_>) -> rusqlite::Result<ClaimedJob> {
    Ok(ClaimedJob {
        job_id: r.get(0)?,
        order_id: r.get(1)?,
        attempts: r.get(2)?,
        provider_service_id: r.get(3)?,
        service_type: r.get(4)?,
        link: r.get(5)?,
        quantity: r.get(6)?,
        runs: r.get(7)?,
        interval_minutes: r.get(8)?,
        comments: r.get(9)?,
    })
}

fn service_params(s: &NewService) -> [&dyn rusqlite::ToSql; 13] {
    [
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
    ]
}

fn insert_service(tx: &Connection, s: &NewService, now: Millis) -> StoreResult<Service> {
    let taken = tx.prepare_cached(q::SERVICE_ID_BY_PROVIDER_ID)?.exists([&s.provider_service_id])?;
    if taken {
        return Err(StoreError::Conflict("provider_service_id_taken"));
    }
    let p = service_params(s);
    let mut all: Vec<&dyn rusqlite::ToSql> = p.to_vec();
    all.push(&now);
    Ok(tx.prepare_cached(q::INSERT_SERVICE)?.query_row(all.as_slice(), service_row)?)
}

fn update_service_in(tx: &Connection, id: i64, s: &NewService, now: Millis) -> StoreResult<Service> {
    let other: Option<i64> = tx
        .prepare_cached(q::SERVICE_ID_BY_PROVIDER_ID)?
        .query_row([&s.provider_service_id], |r| r.get(0))
        .optional()?;
    if other.is_some_and(|o| o != id) {
        return Err(StoreError::Conflict("provider_service_id_taken"));
    }
    let p = service_params(s);
    let mut all: Vec<&dyn rusqlite::ToSql> = vec![&id];
    all.extend_from_slice(&p);
    all.push(&now);
    tx.prepare_cached(q::UPDATE_SERVICE)?
        .query_row(all.as_slice(), service_row)
        .optional()?
        .ok_or(StoreError::NotFound)
}

/// Inserts an order and charges its price (ledger `order_charge`), in the caller's
/// transaction; answers the new order's id.
pub(super) fn insert_order_and_charge(tx: &Connection, o: &NewOrder, now: Millis) -> StoreResult<i64> {
    let order_id: i64 = tx.prepare_cached(q::INSERT_ORDER)?.query_row(
        params![
            o.user_id,
            o.service_id,
            o.service_name,
            o.link,
            o.quantity,
            o.runs,
            o.interval_minutes,
            o.comments,
            o.price.0,
            o.discount_amount.0,
            o.final_price.0,
            o.status.as_str(),
            now,
            o.scheduled_at
        ],
        |r| r.get(0),
    )?;
    if o.final_price.0 > 0 {
        let charge = Posting {
            user_id: o.user_id.clone(),
            kind: LedgerKind::OrderCharge,
            amount: Points(-o.final_price.0),
            reference: Some(format!("order:{order_id}")),
            description: format!("주문 #{order_id} {}", o.service_name),
            event_ref: Some(format!("order:{order_id}:charge")),
            audit: None,
        };
        post_in(tx, &charge, now)?;
    }
    super::referral::referral_on_order(tx, order_id, &o.user_id, o.coupon_id, o.price, o.final_price, now)?;
    Ok(order_id)
}

fn order_in(c: &Connection, order_id: i64) -> StoreResult<Order> {
    c.prepare_cached(q::ORDER_BY_ID)?.query_row([order_id], order_row).optional()?.ok_or(StoreError::NotFound)
}

/// Posts a refund of `amount` (> 0) of an order (ledger `order_refund`, once per `event_ref`)
/// and adds it to the order's `refunded_amount`.
pub(super) fn give_back(
    tx: &Connection,
    order_id: i64,
    user_id: &str,
    amount: Points,
    event_ref: String,
    description: String,
    now: Millis,
) -> StoreResult<()> {
    let posting = Posting {
        user_id: user_id.to_owned(),
        kind: LedgerKind::OrderRefund,
        amount,
        reference: Some(format!("order:{order_id}")),
        description,
        event_ref: Some(event_ref),
        audit: None,
    };
    post_in(tx, &posting, now)?;
    tx.prepare_cached(q::ADD_REFUND)?.query_row(params![order_id, amount.0], |r| r.get::<_, i64>(0))?;
    Ok(())
}

/// Gives back `amount` of an order's price (once per order), and settles the referrer's
/// commission accordingly.
fn refund(tx: &Connection, order_id: i64, user_id: &str, amount: Points, now: Millis) -> StoreResult<()> {
    if amount.0 > 0 {
        let event = format!("order:{order_id}:refund");
        give_back(tx, order_id, user_id, amount, event, format!("주문 #{order_id} 환불"), now)?;
    }
    super::referral::referral_on_settlement(tx, order_id, now)
}

/// Refunds whatever of the order is not refunded yet.
fn refund_rest(tx: &Connection, order: &Order, now: Millis) -> StoreResult<()> {
    let rest = order
        .final_price
        .checked_sub(order.refunded_amount)
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    refund(tx, order.order_id, &order.user_id, rest, now)
}

fn claimed(tx: &Connection, job_id: i64, now: Millis) -> StoreResult<ClaimedJob> {
    tx.prepare_cached(q::MARK_JOB_ORDER_SUBMITTING)?.execute(params![job_id, now])?;
    Ok(tx.prepare_cached(q::CLAIMED_JOB)?.query_row([job_id], claimed_row)?)
}

#[async_trait]
impl CatalogStore for SqliteStore {
    async fn create_service(
        &self,
        service: NewService,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Service> {
        self.write(move |tx| {
            let s = insert_service(tx, &service, now)?;
            insert_audit(tx, &audit, now)?;
            Ok(s)
        })
        .await
    }

    async fn service(&self, service_id: i64) -> StoreResult<Option<Service>> {
        self.read(move |c| {
            Ok(c.prepare_cached(q::SERVICE_BY_ID)?.query_row([service_id], service_row).optional()?)
        })
        .await
    }

    async fn list_services(&self, active_only: bool, limit: i64, offset: i64) -> StoreResult<Page<Service>> {
        self.read(move |c| {
            let rows = c
                .prepare_cached(q::LIST_SERVICES)?
                .query_map(params![active_only, limit, offset], service_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let total = c.prepare_cached(q::COUNT_SERVICES)?.query_row([active_only], |r| r.get(0))?;
            Ok(Page { rows, total })
        })
        .await
    }

    async fn update_service(
        &self,
        id: i64,
        service: NewService,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Service> {
        self.write(move |tx| {
            let s = update_service_in(tx, id, &service, now)?;
            insert_audit(tx, &audit, now)?;
            Ok(s)
        })
        .await
    }

    async fn import_services(
        &self,
        services: Vec<NewService>,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<ImportCounts> {
        self.write(move |tx| {
            let mut counts = ImportCounts { inserted: 0, updated: 0 };
            for s in &services {
                let existing: Option<i64> = tx
                    .prepare_cached(q::SERVICE_ID_BY_PROVIDER_ID)?
                    .query_row([&s.provider_service_id], |r| r.get(0))
                    .optional()?;
                match existing {
                    Some(id) => {
                        update_service_in(tx, id, s, now)?;
                        counts.updated += 1;
                    }
                    None => {
                        insert_service(tx, s, now)?;
                        counts.inserted += 1;
                    }
                }
            }
            insert_audit(tx, &audit, now)?;
            Ok(counts)
        })
        .await
    }
}

#[async_trait]
impl OrderStore for SqliteStore {
    async fn place_order(
        &self,
        o: NewOrder,
        key: Option<IdempotencyKey>,
        now: Millis,
    ) -> StoreResult<Idempotent<Order>> {
        self.write(move |tx| {
            if let Some(key) = &key {
                if let Some(stored) = claim_key(tx, key, now)? {
                    return Ok(Idempotent::Replay(deserialize(&stored)?));
                }
            }
            let order_id = insert_order_and_charge(tx, &o, now)?;
            tx.prepare_cached(q::INSERT_JOB)?.execute(params![order_id, o.due_at])?;
            let order = order_in(tx, order_id)?;
            if let Some(key) = &key {
                save_key(tx, key, &serialize(&order)?)?;
            }
            Ok(Idempotent::Fresh(order))
        })
        .await
    }

    async fn order(&self, order_id: i64) -> StoreResult<Option<Order>> {
        self.read(move |c| {
            Ok(c.prepare_cached(q::ORDER_BY_ID)?.query_row([order_id], order_row).optional()?)
        })
        .await
    }

    async fn orders(&self, f: OrderFilter) -> StoreResult<Page<Order>> {
        self.read(move |c| {
            let status = f.status.map(OrderStatus::as_str);
            let rows = c
                .prepare_cached(q::LIST_ORDERS)?
                .query_map(params![f.user_id, status, f.limit, f.offset], order_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let total =
                c.prepare_cached(q::COUNT_ORDERS)?.query_row(params![f.user_id, status], |r| r.get(0))?;
            Ok(Page { rows, total })
        })
        .await
    }

    async fn claim_order_job(&self, order_id: i64, now: Millis) -> StoreResult<Option<ClaimedJob>> {
        self.write(move |tx| {
            let job: Option<i64> = tx
                .prepare_cached(q::CLAIM_ORDER_JOB)?
                .query_row(params![order_id, now], |r| r.get(0))
                .optional()?;
            job.map(|job_id| claimed(tx, job_id, now)).transpose()
        })
        .await
    }

    async fn claim_due_jobs(&self, now: Millis, limit: i64) -> StoreResult<Vec<ClaimedJob>> {
        self.write(move |tx| {
            let ids = tx
                .prepare_cached(q::CLAIM_DUE_JOBS)?
                .query_map(params![now, limit], |r| r.get::<_, i64>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            ids.into_iter().map(|job_id| claimed(tx, job_id, now)).collect()
        })
        .await
    }

    async fn settle_submission(
        &self,
        job_id: i64,
        outcome: SubmissionOutcome,
        now: Millis,
    ) -> StoreResult<Order> {
        self.write(move |tx| {
            let (job_state, retry_at, error) = match &outcome {
                SubmissionOutcome::Accepted { .. } => ("done", None, None),
                SubmissionOutcome::Rejected { message } => ("failed", None, Some(message)),
                SubmissionOutcome::RetryLater { message, retry_at } => {
                    ("due", Some(*retry_at), Some(message))
                }
                SubmissionOutcome::Unknown { message } => ("unknown", None, Some(message)),
            };
            let order_id: i64 = tx
                .prepare_cached(q::SETTLE_JOB)?
                .query_row(params![job_id, job_state, retry_at, error], |r| r.get(0))
                .optional()?
                .ok_or(StoreError::Conflict("already_processed"))?;
            let (status, smm_id) = match &outcome {
                SubmissionOutcome::Accepted { smm_order_id } => (OrderStatus::InProgress, Some(smm_order_id)),
                SubmissionOutcome::Rejected { .. } => (OrderStatus::Failed, None),
                SubmissionOutcome::RetryLater { .. } => (OrderStatus::Pending, None),
                SubmissionOutcome::Unknown { .. } => (OrderStatus::Unknown, None),
            };
            tx.prepare_cached(q::SET_ORDER_SUBMISSION)?.execute(params![
                order_id,
                status.as_str(),
                smm_id,
                error,
                now
            ])?;
            let order = order_in(tx, order_id)?;
            if status == OrderStatus::Failed {
                refund_rest(tx, &order, now)?;
                return order_in(tx, order_id);
            }
            Ok(order)
        })
        .await
    }

    async fn expire_submissions(&self, claimed_before: Millis, now: Millis) -> StoreResult<Vec<i64>> {
        self.write(move |tx| {
            let ids = tx
                .prepare_cached(q::EXPIRE_JOBS)?
                .query_map([claimed_before], |r| r.get::<_, i64>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            for id in &ids {
                tx.prepare_cached(q::SET_ORDER_STATUS)?.execute(params![
                    id,
                    OrderStatus::Unknown.as_str(),
                    now
                ])?;
            }
            Ok(ids)
        })
        .await
    }

    async fn orders_to_sync(&self, limit: i64, only: Option<(&str, &[i64])>) -> StoreResult<Vec<SyncTarget>> {
        let only = only.map(|(u, ids)| (u.to_owned(), ids.to_vec()));
        self.read(move |c| {
            let row = |r: &Row<'_>| Ok(SyncTarget { order_id: r.get(0)?, smm_order_id: r.get(1)? });
            match only {
                None => Ok(c
                    .prepare_cached(q::ORDERS_TO_SYNC)?
                    .query_map([limit], row)?
                    .collect::<Result<_, _>>()?),
                Some((user, ids)) => {
                    let mut st = c.prepare_cached(q::USER_ORDER_TO_SYNC)?;
                    let mut out = Vec::new();
                    for id in ids.iter().take(usize::try_from(limit).unwrap_or(0)) {
                        if let Some(t) = st.query_row(params![id, user], row).optional()? {
                            out.push(t);
                        }
                    }
                    Ok(out)
                }
            }
        })
        .await
    }

    async fn apply_status(&self, order_id: i64, u: StatusUpdate, now: Millis) -> StoreResult<Option<Order>> {
        self.write(move |tx| {
            let updated: Option<String> = tx
                .prepare_cached(q::APPLY_STATUS)?
                .query_row(
                    params![order_id, u.settlement.status.as_str(), u.start_count, u.remains, u.charge, now],
                    |r| r.get(0),
                )
                .optional()?;
            if updated.is_none() {
                return Ok(None);
            }
            let order = order_in(tx, order_id)?;
            let rest = order.final_price.0 - order.refunded_amount.0;
            refund(tx, order_id, &order.user_id, Points(u.settlement.refund.0.min(rest)), now)?;
            Ok(Some(order_in(tx, order_id)?))
        })
        .await
    }

    async fn touch_status_checks(&self, order_ids: &[i64], now: Millis) -> StoreResult<()> {
        let ids = order_ids.to_vec();
        self.write(move |tx| {
            let mut st = tx.prepare_cached(q::TOUCH_STATUS_CHECK)?;
            for id in ids {
                st.execute(params![id, now])?;
            }
            Ok(())
        })
        .await
    }

    async fn cancel_order(&self, order_id: i64, now: Millis) -> StoreResult<Order> {
        self.write(move |tx| {
            let withdrawn = tx.prepare_cached(q::CANCEL_DUE_JOB)?.exists([order_id])?;
            if !withdrawn {
                order_in(tx, order_id)?;
                return Err(StoreError::Conflict("invalid_transition"));
            }
            tx.prepare_cached(q::SET_ORDER_STATUS)?.execute(params![
                order_id,
                OrderStatus::Canceled.as_str(),
                now
            ])?;
            let order = order_in(tx, order_id)?;
            refund_rest(tx, &order, now)?;
            order_in(tx, order_id)
        })
        .await
    }

    async fn admin_set_status(
        &self,
        order_id: i64,
        from: OrderStatus,
        t: AdminTransition,
        smm_order_id: Option<String>,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Order> {
        self.write(move |tx| {
            if t.cancel_job && !tx.prepare_cached(q::CANCEL_DUE_JOB)?.exists([order_id])? {
                return Err(StoreError::Conflict("invalid_transition"));
            }
            let moved = tx
                .prepare_cached(q::ADMIN_SET_STATUS)?
                .query_row(params![order_id, from.as_str(), t.to.as_str(), smm_order_id, now], |r| {
                    r.get::<_, String>(0)
                })
                .optional()?;
            if moved.is_none() {
                return Err(StoreError::Conflict("invalid_transition"));
            }
            if from == OrderStatus::Unknown {
                let job_state = if t.refund_in_full { "failed" } else { "done" };
                tx.prepare_cached(q::SETTLE_UNKNOWN_JOB)?.execute(params![order_id, job_state])?;
            }
            let order = order_in(tx, order_id)?;
            if t.refund_in_full {
                refund_rest(tx, &order, now)?;
            }
            super::referral::referral_on_settlement(tx, order_id, now)?;
            insert_audit(tx, &audit, now)?;
            order_in(tx, order_id)
        })
        .await
    }
}
