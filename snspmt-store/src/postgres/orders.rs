//! The catalogue and orders on PostgreSQL.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use snspmt_core::order::{AdminTransition, OrderStatus};
use snspmt_core::{LedgerKind, Points};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::queries as q;
use super::{claim_key, post_in, save_key, PgStore};
use crate::{
    CatalogStore, ClaimedJob, IdempotencyKey, Idempotent, ImportCounts, Millis, NewAudit, NewOrder,
    NewService, Order, OrderFilter, OrderStore, Page, Posting, Service, StatusUpdate, StoreError,
    StoreResult, SubmissionOutcome, SyncTarget,
};

fn service_row(r: &Row) -> StoreResult<Service> {
    Ok(Service {
        service_id: r.try_get(0)?,
        provider_service_id: r.try_get(1)?,
        name: r.try_get(2)?,
        category: r.try_get(3)?,
        platform: r.try_get(4)?,
        service_type: r.try_get(5)?,
        price_per_1000: Points(r.try_get(6)?),
        min_quantity: r.try_get(7)?,
        max_quantity: r.try_get(8)?,
        dripfeed: r.try_get(9)?,
        refill: r.try_get(10)?,
        cancel: r.try_get(11)?,
        is_active: r.try_get(12)?,
        description: r.try_get(13)?,
        created_at: r.try_get(14)?,
        updated_at: r.try_get(15)?,
    })
}

pub(super) fn order_row(r: &Row) -> StoreResult<Order> {
    let status: String = r.try_get(13)?;
    Ok(Order {
        order_id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        service_id: r.try_get(2)?,
        service_name: r.try_get(3)?,
        link: r.try_get(4)?,
        quantity: r.try_get(5)?,
        runs: r.try_get(6)?,
        interval_minutes: r.try_get(7)?,
        comments: r.try_get(8)?,
        price: Points(r.try_get(9)?),
        discount_amount: Points(r.try_get(10)?),
        final_price: Points(r.try_get(11)?),
        commission_amount: Points(r.try_get(12)?),
        status: status.parse().map_err(|e| StoreError::Backend(format!("{e}")))?,
        smm_panel_order_id: r.try_get(14)?,
        start_count: r.try_get(15)?,
        remains: r.try_get(16)?,
        charge: r.try_get(17)?,
        refunded_amount: Points(r.try_get(18)?),
        last_status_check: r.try_get(19)?,
        error: r.try_get(20)?,
        created_at: r.try_get(21)?,
        updated_at: r.try_get(22)?,
        scheduled_at: r.try_get(23)?,
    })
}

fn claimed_row(r: &Row) -> StoreResult<ClaimedJob> {
    Ok(ClaimedJob {
        job_id: r.try_get(0)?,
        order_id: r.try_get(1)?,
        attempts: r.try_get(2)?,
        provider_service_id: r.try_get(3)?,
        service_type: r.try_get(4)?,
        link: r.try_get(5)?,
        quantity: r.try_get(6)?,
        runs: r.try_get(7)?,
        interval_minutes: r.try_get(8)?,
        comments: r.try_get(9)?,
    })
}

fn service_params(s: &NewService) -> [&(dyn ToSql + Sync); 13] {
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

async fn provider_id_owner(c: &impl GenericClient, provider_id: &str) -> StoreResult<Option<i64>> {
    let st = c.prepare_cached(q::SERVICE_ID_BY_PROVIDER_ID).await?;
    match c.query_opt(&st, &[&provider_id]).await? {
        Some(r) => Ok(Some(r.try_get(0)?)),
        None => Ok(None),
    }
}

async fn insert_service(c: &impl GenericClient, s: &NewService, now: Millis) -> StoreResult<Service> {
    if provider_id_owner(c, &s.provider_service_id).await?.is_some() {
        return Err(StoreError::Conflict("provider_service_id_taken"));
    }
    let mut all: Vec<&(dyn ToSql + Sync)> = service_params(s).to_vec();
    all.push(&now);
    let st = c.prepare_cached(q::INSERT_SERVICE).await?;
    service_row(&c.query_one(&st, &all).await?)
}

async fn update_service_in(
    c: &impl GenericClient,
    id: i64,
    s: &NewService,
    now: Millis,
) -> StoreResult<Service> {
    if provider_id_owner(c, &s.provider_service_id).await?.is_some_and(|o| o != id) {
        return Err(StoreError::Conflict("provider_service_id_taken"));
    }
    let mut all: Vec<&(dyn ToSql + Sync)> = vec![&id];
    all.extend_from_slice(&service_params(s));
    all.push(&now);
    let st = c.prepare_cached(q::UPDATE_SERVICE).await?;
    service_row(&c.query_opt(&st, &all).await?.ok_or(StoreError::NotFound)?)
}

/// Inserts an order and charges its price (ledger `order_charge`), in the caller's
/// transaction; answers the new order's id.
pub(super) async fn insert_order_and_charge(
    c: &impl GenericClient,
    o: &NewOrder,
    now: Millis,
) -> StoreResult<i64> {
    let st = c.prepare_cached(q::INSERT_ORDER).await?;
    let order_id: i64 = c
        .query_one(
            &st,
            &[
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
                &o.status.as_str(),
                &now,
                &o.scheduled_at,
            ],
        )
        .await?
        .try_get(0)?;
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
        post_in(c, &charge, now).await?;
    }
    super::referral::referral_on_order(c, order_id, &o.user_id, o.coupon_id, o.price, o.final_price, now)
        .await?;
    Ok(order_id)
}

pub(super) async fn order_in(c: &impl GenericClient, order_id: i64) -> StoreResult<Order> {
    let st = c.prepare_cached(q::ORDER_BY_ID).await?;
    order_row(&c.query_opt(&st, &[&order_id]).await?.ok_or(StoreError::NotFound)?)
}

/// Posts a refund of `amount` (> 0) of an order (ledger `order_refund`, once per `event_ref`)
/// and adds it to the order's `refunded_amount`.
pub(super) async fn give_back(
    c: &impl GenericClient,
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
    post_in(c, &posting, now).await?;
    let st = c.prepare_cached(q::ADD_REFUND).await?;
    c.query_one(&st, &[&order_id, &amount.0]).await?;
    Ok(())
}

/// Gives back `amount` of an order's price (once per order), and settles the referrer's
/// commission accordingly.
async fn refund(
    c: &impl GenericClient,
    order_id: i64,
    user_id: &str,
    amount: Points,
    now: Millis,
) -> StoreResult<()> {
    if amount.0 > 0 {
        let event = format!("order:{order_id}:refund");
        give_back(c, order_id, user_id, amount, event, format!("주문 #{order_id} 환불"), now).await?;
    }
    super::referral::referral_on_settlement(c, order_id, now).await
}

async fn refund_rest(c: &impl GenericClient, order: &Order, now: Millis) -> StoreResult<()> {
    let rest = order
        .final_price
        .checked_sub(order.refunded_amount)
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    refund(c, order.order_id, &order.user_id, rest, now).await
}

async fn claimed(c: &impl GenericClient, job_id: i64, now: Millis) -> StoreResult<ClaimedJob> {
    let st = c.prepare_cached(q::MARK_JOB_ORDER_SUBMITTING).await?;
    c.execute(&st, &[&job_id, &now]).await?;
    let st = c.prepare_cached(q::CLAIMED_JOB).await?;
    claimed_row(&c.query_one(&st, &[&job_id]).await?)
}

async fn set_status(
    c: &impl GenericClient,
    order_id: i64,
    status: OrderStatus,
    now: Millis,
) -> StoreResult<()> {
    let st = c.prepare_cached(q::SET_ORDER_STATUS).await?;
    c.execute(&st, &[&order_id, &status.as_str(), &now]).await?;
    Ok(())
}

async fn cancel_due_job(c: &impl GenericClient, order_id: i64) -> StoreResult<bool> {
    let st = c.prepare_cached(q::CANCEL_DUE_JOB).await?;
    Ok(c.query_opt(&st, &[&order_id]).await?.is_some())
}

fn to_json<T: serde::Serialize>(t: &T) -> StoreResult<String> {
    serde_json::to_string(t).map_err(|e| StoreError::Backend(format!("serialize: {e}")))
}

#[async_trait]
impl CatalogStore for PgStore {
    async fn create_service(
        &self,
        service: NewService,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Service> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let s = insert_service(&tx, &service, now).await?;
        super::insert_audit(&tx, &audit, now).await?;
        tx.commit().await?;
        Ok(s)
    }

    async fn service(&self, service_id: i64) -> StoreResult<Option<Service>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::SERVICE_BY_ID).await?;
        c.query_opt(&st, &[&service_id]).await?.as_ref().map(service_row).transpose()
    }

    async fn list_services(&self, active_only: bool, limit: i64, offset: i64) -> StoreResult<Page<Service>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::LIST_SERVICES).await?;
        let rows = c
            .query(&st, &[&active_only, &limit, &offset])
            .await?
            .iter()
            .map(service_row)
            .collect::<Result<_, _>>()?;
        let st = c.prepare_cached(q::COUNT_SERVICES).await?;
        let total = c.query_one(&st, &[&active_only]).await?.try_get(0)?;
        Ok(Page { rows, total })
    }

    async fn update_service(
        &self,
        id: i64,
        service: NewService,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Service> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let s = update_service_in(&tx, id, &service, now).await?;
        super::insert_audit(&tx, &audit, now).await?;
        tx.commit().await?;
        Ok(s)
    }

    async fn import_services(
        &self,
        services: Vec<NewService>,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<ImportCounts> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // One importer at a time, so two imports cannot both insert the same new service.
        tx.execute("LOCK TABLE services IN SHARE ROW EXCLUSIVE MODE", &[]).await?;
        let mut counts = ImportCounts { inserted: 0, updated: 0 };
        for s in &services {
            match provider_id_owner(&tx, &s.provider_service_id).await? {
                Some(id) => {
                    update_service_in(&tx, id, s, now).await?;
                    counts.updated += 1;
                }
                None => {
                    insert_service(&tx, s, now).await?;
                    counts.inserted += 1;
                }
            }
        }
        super::insert_audit(&tx, &audit, now).await?;
        tx.commit().await?;
        Ok(counts)
    }
}

#[async_trait]
impl OrderStore for PgStore {
    async fn place_order(
        &self,
        o: NewOrder,
        key: Option<IdempotencyKey>,
        now: Millis,
    ) -> StoreResult<Idempotent<Order>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if let Some(key) = &key {
            if let Some(stored) = claim_key(&tx, key, now).await? {
                let order = serde_json::from_str(&stored)
                    .map_err(|e| StoreError::Backend(format!("stored response: {e}")))?;
                return Ok(Idempotent::Replay(order));
            }
        }
        let order_id = insert_order_and_charge(&tx, &o, now).await?;
        let st = tx.prepare_cached(q::INSERT_JOB).await?;
        tx.execute(&st, &[&order_id, &o.due_at]).await?;
        let order = order_in(&tx, order_id).await?;
        if let Some(key) = &key {
            save_key(&tx, key, &to_json(&order)?).await?;
        }
        tx.commit().await?;
        Ok(Idempotent::Fresh(order))
    }

    async fn order(&self, order_id: i64) -> StoreResult<Option<Order>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::ORDER_BY_ID).await?;
        c.query_opt(&st, &[&order_id]).await?.as_ref().map(order_row).transpose()
    }

    async fn orders(&self, f: OrderFilter) -> StoreResult<Page<Order>> {
        let c = self.client().await?;
        let status = f.status.map(OrderStatus::as_str);
        let st = c.prepare_cached(q::LIST_ORDERS).await?;
        let rows = c
            .query(&st, &[&f.user_id, &status, &f.limit, &f.offset])
            .await?
            .iter()
            .map(order_row)
            .collect::<Result<_, _>>()?;
        let st = c.prepare_cached(q::COUNT_ORDERS).await?;
        let total = c.query_one(&st, &[&f.user_id, &status]).await?.try_get(0)?;
        Ok(Page { rows, total })
    }

    async fn claim_order_job(&self, order_id: i64, now: Millis) -> StoreResult<Option<ClaimedJob>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::CLAIM_ORDER_JOB).await?;
        let Some(row) = tx.query_opt(&st, &[&order_id, &now]).await? else { return Ok(None) };
        let job = claimed(&tx, row.try_get(0)?, now).await?;
        tx.commit().await?;
        Ok(Some(job))
    }

    async fn claim_due_jobs(&self, now: Millis, limit: i64) -> StoreResult<Vec<ClaimedJob>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::CLAIM_DUE_JOBS).await?;
        let ids: Vec<i64> =
            tx.query(&st, &[&now, &limit]).await?.iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?;
        let mut jobs = Vec::with_capacity(ids.len());
        for id in ids {
            jobs.push(claimed(&tx, id, now).await?);
        }
        tx.commit().await?;
        Ok(jobs)
    }

    async fn settle_submission(
        &self,
        job_id: i64,
        outcome: SubmissionOutcome,
        now: Millis,
    ) -> StoreResult<Order> {
        let (job_state, retry_at, error) = match &outcome {
            SubmissionOutcome::Accepted { .. } => ("done", None, None),
            SubmissionOutcome::Rejected { message } => ("failed", None, Some(message.as_str())),
            SubmissionOutcome::RetryLater { message, retry_at } => {
                ("due", Some(*retry_at), Some(message.as_str()))
            }
            SubmissionOutcome::Unknown { message } => ("unknown", None, Some(message.as_str())),
        };
        let (status, smm_id) = match &outcome {
            SubmissionOutcome::Accepted { smm_order_id } => {
                (OrderStatus::InProgress, Some(smm_order_id.as_str()))
            }
            SubmissionOutcome::Rejected { .. } => (OrderStatus::Failed, None),
            SubmissionOutcome::RetryLater { .. } => (OrderStatus::Pending, None),
            SubmissionOutcome::Unknown { .. } => (OrderStatus::Unknown, None),
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::SETTLE_JOB).await?;
        let order_id: i64 = tx
            .query_opt(&st, &[&job_id, &job_state, &retry_at, &error])
            .await?
            .ok_or(StoreError::Conflict("already_processed"))?
            .try_get(0)?;
        let st = tx.prepare_cached(q::SET_ORDER_SUBMISSION).await?;
        tx.execute(&st, &[&order_id, &status.as_str(), &smm_id, &error, &now]).await?;
        let mut order = order_in(&tx, order_id).await?;
        if status == OrderStatus::Failed {
            refund_rest(&tx, &order, now).await?;
            order = order_in(&tx, order_id).await?;
        }
        tx.commit().await?;
        Ok(order)
    }

    async fn expire_submissions(&self, claimed_before: Millis, now: Millis) -> StoreResult<Vec<i64>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::EXPIRE_JOBS).await?;
        let ids: Vec<i64> = tx
            .query(&st, &[&claimed_before])
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        for id in &ids {
            set_status(&tx, *id, OrderStatus::Unknown, now).await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    async fn orders_to_sync(&self, limit: i64, only: Option<(&str, &[i64])>) -> StoreResult<Vec<SyncTarget>> {
        let c = self.client().await?;
        let row = |r: &Row| -> StoreResult<SyncTarget> {
            Ok(SyncTarget { order_id: r.try_get(0)?, smm_order_id: r.try_get(1)? })
        };
        match only {
            None => {
                let st = c.prepare_cached(q::ORDERS_TO_SYNC).await?;
                c.query(&st, &[&limit]).await?.iter().map(row).collect()
            }
            Some((user, ids)) => {
                let st = c.prepare_cached(q::USER_ORDER_TO_SYNC).await?;
                let mut out = Vec::new();
                for id in ids.iter().take(usize::try_from(limit).unwrap_or(0)) {
                    if let Some(r) = c.query_opt(&st, &[id, &user]).await? {
                        out.push(row(&r)?);
                    }
                }
                Ok(out)
            }
        }
    }

    async fn apply_status(&self, order_id: i64, u: StatusUpdate, now: Millis) -> StoreResult<Option<Order>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::APPLY_STATUS).await?;
        let status = u.settlement.status.as_str();
        if tx
            .query_opt(&st, &[&order_id, &status, &u.start_count, &u.remains, &u.charge, &now])
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let order = order_in(&tx, order_id).await?;
        let rest = order.final_price.0 - order.refunded_amount.0;
        refund(&tx, order_id, &order.user_id, Points(u.settlement.refund.0.min(rest)), now).await?;
        let order = order_in(&tx, order_id).await?;
        tx.commit().await?;
        Ok(Some(order))
    }

    async fn touch_status_checks(&self, order_ids: &[i64], now: Millis) -> StoreResult<()> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::TOUCH_STATUS_CHECK).await?;
        for id in order_ids {
            c.execute(&st, &[id, &now]).await?;
        }
        Ok(())
    }

    async fn cancel_order(&self, order_id: i64, now: Millis) -> StoreResult<Order> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if !cancel_due_job(&tx, order_id).await? {
            order_in(&tx, order_id).await?;
            return Err(StoreError::Conflict("invalid_transition"));
        }
        set_status(&tx, order_id, OrderStatus::Canceled, now).await?;
        let order = order_in(&tx, order_id).await?;
        refund_rest(&tx, &order, now).await?;
        let order = order_in(&tx, order_id).await?;
        tx.commit().await?;
        Ok(order)
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
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if t.cancel_job && !cancel_due_job(&tx, order_id).await? {
            return Err(StoreError::Conflict("invalid_transition"));
        }
        let st = tx.prepare_cached(q::ADMIN_SET_STATUS).await?;
        let moved =
            tx.query_opt(&st, &[&order_id, &from.as_str(), &t.to.as_str(), &smm_order_id, &now]).await?;
        if moved.is_none() {
            return Err(StoreError::Conflict("invalid_transition"));
        }
        if from == OrderStatus::Unknown {
            let job_state = if t.refund_in_full { "failed" } else { "done" };
            let st = tx.prepare_cached(q::SETTLE_UNKNOWN_JOB).await?;
            tx.execute(&st, &[&order_id, &job_state]).await?;
        }
        let order = order_in(&tx, order_id).await?;
        if t.refund_in_full {
            refund_rest(&tx, &order, now).await?;
        }
        super::referral::referral_on_settlement(&tx, order_id, now).await?;
        super::insert_audit(&tx, &audit, now).await?;
        let order = order_in(&tx, order_id).await?;
        tx.commit().await?;
        Ok(order)
    }
}
