//! Packages and multi-part orders on PostgreSQL.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use snspmt_core::order::OrderStatus;
use snspmt_core::plan::{self, Part};
use snspmt_core::Points;
use tokio_postgres::Row;

use super::orders::{insert_order_and_charge, order_in};
use super::queries as q;
use super::{claim_key, insert_audit, save_key, PgStore};
use crate::model::part_end;
use crate::{
    ClaimedPart, IdempotencyKey, Idempotent, Millis, NewAudit, NewOrder, NewPackage, Order, OrderPart,
    Package, PackageStore, Page, PartKind, PartStore, PartSyncTarget, StatusUpdate, StoreError, StoreResult,
    SubmissionOutcome,
};

fn package_row(r: &Row) -> StoreResult<Package> {
    let steps: String = r.try_get(4)?;
    Ok(Package {
        package_id: r.try_get(0)?,
        name: r.try_get(1)?,
        description: r.try_get(2)?,
        price: Points(r.try_get(3)?),
        steps: serde_json::from_str(&steps)
            .map_err(|e| StoreError::Backend(format!("package steps: {e}")))?,
        is_active: r.try_get(5)?,
        created_at: r.try_get(6)?,
        updated_at: r.try_get(7)?,
    })
}

fn part_row(r: &Row) -> StoreResult<OrderPart> {
    Ok(OrderPart {
        part_id: r.try_get(0)?,
        order_id: r.try_get(1)?,
        part_index: r.try_get(2)?,
        step_index: r.try_get(3)?,
        repeat_index: r.try_get(4)?,
        name: r.try_get(5)?,
        service_id: r.try_get(6)?,
        quantity: r.try_get(7)?,
        share: Points(r.try_get(8)?),
        delay_minutes: r.try_get(9)?,
        state: r.try_get(10)?,
        due_at: r.try_get(11)?,
        smm_order_id: r.try_get(12)?,
        upstream_status: r.try_get(13)?,
        remains: r.try_get(14)?,
        refunded: Points(r.try_get(15)?),
        outcome: r.try_get(16)?,
        settled_at: r.try_get(17)?,
        last_error: r.try_get(18)?,
    })
}

fn steps_json(p: &NewPackage) -> StoreResult<String> {
    serde_json::to_string(&p.steps).map_err(|e| StoreError::Backend(format!("serialize: {e}")))
}

async fn recompute(c: &impl GenericClient, order_id: i64, now: Millis) -> StoreResult<Order> {
    let st = c.prepare_cached(q::PART_ENDS).await?;
    let ends = c
        .query(&st, &[&order_id])
        .await?
        .iter()
        .map(|r| {
            let (state, outcome): (String, Option<String>) = (r.try_get(0)?, r.try_get(1)?);
            Ok(part_end(&state, outcome.as_deref()))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    let status = plan::order_status(&ends);
    let st = c.prepare_cached(q::SET_ORDER_STATUS).await?;
    c.execute(&st, &[&order_id, &status.as_str(), &now]).await?;
    // The referrer's commission follows the order as it ends (confirmed, reduced, canceled).
    super::referral::referral_on_settlement(c, order_id, now).await?;
    order_in(c, order_id).await
}

async fn refund_part(
    c: &impl GenericClient,
    order: &Order,
    part_id: i64,
    index: i64,
    amount: Points,
    now: Millis,
) -> StoreResult<()> {
    if amount.0 <= 0 {
        return Ok(());
    }
    let id = order.order_id;
    let event = format!("order:{id}:part:{index}:refund");
    let description = format!("주문 #{id} {}회차 환불", index + 1);
    super::orders::give_back(c, id, &order.user_id, amount, event, description, now).await?;
    let st = c.prepare_cached(q::ADD_PART_REFUND).await?;
    c.query_one(&st, &[&part_id, &amount.0]).await?;
    Ok(())
}

async fn advance(c: &impl GenericClient, order_id: i64, index: i64, now: Millis) -> StoreResult<()> {
    let st = c.prepare_cached(q::ADVANCE_PARTS).await?;
    c.execute(&st, &[&order_id, &index, &now]).await?;
    Ok(())
}

#[async_trait]
impl PackageStore for PgStore {
    async fn create_package(&self, p: NewPackage, audit: NewAudit, now: Millis) -> StoreResult<Package> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::INSERT_PACKAGE).await?;
        let row = tx
            .query_one(&st, &[&p.name, &p.description, &p.price.0, &steps_json(&p)?, &p.is_active, &now])
            .await?;
        let package = package_row(&row)?;
        insert_audit(&tx, &audit, now).await?;
        tx.commit().await?;
        Ok(package)
    }

    async fn package(&self, id: i64) -> StoreResult<Option<Package>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::PACKAGE_BY_ID).await?;
        c.query_opt(&st, &[&id]).await?.as_ref().map(package_row).transpose()
    }

    async fn list_packages(&self, active_only: bool, limit: i64, offset: i64) -> StoreResult<Page<Package>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::LIST_PACKAGES).await?;
        let rows = c
            .query(&st, &[&active_only, &limit, &offset])
            .await?
            .iter()
            .map(package_row)
            .collect::<Result<_, _>>()?;
        let st = c.prepare_cached(q::COUNT_PACKAGES).await?;
        let total = c.query_one(&st, &[&active_only]).await?.try_get(0)?;
        Ok(Page { rows, total })
    }

    async fn update_package(
        &self,
        id: i64,
        p: NewPackage,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Package> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::UPDATE_PACKAGE).await?;
        let row = tx
            .query_opt(&st, &[&id, &p.name, &p.description, &p.price.0, &steps_json(&p)?, &p.is_active, &now])
            .await?
            .ok_or(StoreError::NotFound)?;
        let package = package_row(&row)?;
        insert_audit(&tx, &audit, now).await?;
        tx.commit().await?;
        Ok(package)
    }
}

#[async_trait]
impl PartStore for PgStore {
    async fn place_multipart_order(
        &self,
        o: NewOrder,
        package_id: Option<i64>,
        split_days: Option<i64>,
        parts: Vec<Part>,
        start_at: Option<Millis>,
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
        let st = tx.prepare_cached(q::SET_ORDER_PLAN).await?;
        tx.execute(&st, &[&order_id, &package_id, &split_days]).await?;
        let st = tx.prepare_cached(q::INSERT_PART).await?;
        for p in &parts {
            let (state, due) = match (p.index, start_at) {
                (0, Some(at)) => ("due", Some(at)),
                _ => ("waiting", None),
            };
            let (index, step, repeat) =
                (i64::from(p.index), i64::from(p.step_index), i64::from(p.repeat_index));
            let quantity = i64::try_from(p.quantity).unwrap_or(i64::MAX);
            let delay = i64::from(p.delay_minutes);
            tx.execute(
                &st,
                &[
                    &order_id,
                    &index,
                    &step,
                    &repeat,
                    &p.name,
                    &p.service_id,
                    &quantity,
                    &p.share.0,
                    &delay,
                    &state,
                    &due,
                ],
            )
            .await?;
        }
        let order = order_in(&tx, order_id).await?;
        if let Some(key) = &key {
            let body =
                serde_json::to_string(&order).map_err(|e| StoreError::Backend(format!("serialize: {e}")))?;
            save_key(&tx, key, &body).await?;
        }
        tx.commit().await?;
        Ok(Idempotent::Fresh(order))
    }

    async fn start_parts(&self, order_id: i64, now: Millis) -> StoreResult<bool> {
        let c = self.client().await?;
        order_in(&c, order_id).await?;
        let st = c.prepare_cached(q::START_PARTS).await?;
        Ok(c.execute(&st, &[&order_id, &now]).await? > 0)
    }

    async fn order_parts(&self, order_id: i64) -> StoreResult<Vec<OrderPart>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::ORDER_PARTS).await?;
        c.query(&st, &[&order_id]).await?.iter().map(part_row).collect()
    }

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
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::CLAIM_DUE_PARTS).await?;
        let ids: Vec<i64> = tx
            .query(&st, &[&now, &limit, &kind])
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        let mut claimed = Vec::with_capacity(ids.len());
        for id in ids {
            let st = tx.prepare_cached(q::CLAIMED_PART).await?;
            let r = tx.query_one(&st, &[&id]).await?;
            let c = ClaimedPart {
                part_id: r.try_get(0)?,
                order_id: r.try_get(1)?,
                attempts: r.try_get(2)?,
                provider_service_id: r.try_get(3)?,
                service_type: r.try_get(4)?,
                link: r.try_get(5)?,
                quantity: r.try_get(6)?,
            };
            let st = tx.prepare_cached(q::MARK_ORDER_PROCESSING).await?;
            tx.execute(&st, &[&c.order_id, &now]).await?;
            claimed.push(c);
        }
        tx.commit().await?;
        Ok(claimed)
    }

    async fn settle_part_submission(
        &self,
        part_id: i64,
        outcome: SubmissionOutcome,
        now: Millis,
    ) -> StoreResult<Order> {
        let (state, smm_id, due, error, end) = match &outcome {
            SubmissionOutcome::Accepted { smm_order_id } => {
                ("accepted", Some(smm_order_id.clone()), None, None, None)
            }
            SubmissionOutcome::Rejected { message } => {
                ("ended", None, None, Some(message.clone()), Some("refunded"))
            }
            SubmissionOutcome::RetryLater { message, retry_at } => {
                ("due", None, Some(*retry_at), Some(message.clone()), None)
            }
            SubmissionOutcome::Unknown { message } => ("unknown", None, None, Some(message.clone()), None),
        };
        let retry = matches!(outcome, SubmissionOutcome::RetryLater { .. });
        let settled_at = (!retry).then_some(now);
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::SETTLE_PART).await?;
        let row = tx
            .query_opt(&st, &[&part_id, &state, &smm_id, &due, &error, &end, &settled_at])
            .await?
            .ok_or(StoreError::Conflict("already_processed"))?;
        let (order_id, index, share): (i64, i64, i64) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        if end.is_some() {
            let order = order_in(&tx, order_id).await?;
            refund_part(&tx, &order, part_id, index, Points(share), now).await?;
        }
        if !retry {
            advance(&tx, order_id, index, now).await?;
        }
        let order = recompute(&tx, order_id, now).await?;
        tx.commit().await?;
        Ok(order)
    }

    async fn expire_part_submissions(&self, claimed_before: Millis, now: Millis) -> StoreResult<Vec<i64>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::EXPIRE_PARTS).await?;
        let lost: Vec<(i64, i64)> = tx
            .query(&st, &[&claimed_before, &now])
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<StoreResult<_>>()?;
        for (order_id, index) in &lost {
            advance(&tx, *order_id, *index, now).await?;
            recompute(&tx, *order_id, now).await?;
        }
        tx.commit().await?;
        Ok(lost.into_iter().map(|(o, _)| o).collect())
    }

    async fn parts_to_sync(&self, limit: i64) -> StoreResult<Vec<PartSyncTarget>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::PARTS_TO_SYNC).await?;
        c.query(&st, &[&limit])
            .await?
            .iter()
            .map(|r| {
                Ok(PartSyncTarget {
                    part_id: r.try_get(0)?,
                    order_id: r.try_get(1)?,
                    smm_order_id: r.try_get(2)?,
                    share: Points(r.try_get(3)?),
                    quantity: r.try_get(4)?,
                })
            })
            .collect()
    }

    async fn apply_part_status(
        &self,
        part_id: i64,
        u: StatusUpdate,
        now: Millis,
    ) -> StoreResult<Option<Order>> {
        let terminal = u.settlement.status != OrderStatus::InProgress;
        let outcome = terminal.then_some(if u.settlement.refund.0 > 0 { "refunded" } else { "completed" });
        let upstream = u.settlement.status.as_str();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::APPLY_PART_STATUS).await?;
        let Some(row) =
            tx.query_opt(&st, &[&part_id, &upstream, &u.remains, &now, &terminal, &outcome]).await?
        else {
            return Ok(None);
        };
        let (order_id, index, share, refunded): (i64, i64, i64, i64) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?);
        let order = if terminal {
            let order = order_in(&tx, order_id).await?;
            let amount = Points(u.settlement.refund.0.min(share - refunded));
            refund_part(&tx, &order, part_id, index, amount, now).await?;
            recompute(&tx, order_id, now).await?
        } else {
            order_in(&tx, order_id).await?
        };
        tx.commit().await?;
        Ok(Some(order))
    }

    async fn touch_part_checks(&self, part_ids: &[i64], now: Millis) -> StoreResult<()> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::TOUCH_PART_CHECK).await?;
        for id in part_ids {
            c.execute(&st, &[id, &now]).await?;
        }
        Ok(())
    }

    async fn resolve_part(
        &self,
        order_id: i64,
        part_index: i64,
        smm_order_id: Option<String>,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Order> {
        let (state, outcome) =
            if smm_order_id.is_some() { ("accepted", None) } else { ("ended", Some("refunded")) };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::RESOLVE_PART).await?;
        let Some(row) = tx.query_opt(&st, &[&order_id, &part_index, &state, &smm_order_id, &outcome]).await?
        else {
            order_in(&tx, order_id).await?;
            return Err(StoreError::Conflict("invalid_transition"));
        };
        let (part_id, share): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        if outcome.is_some() {
            let order = order_in(&tx, order_id).await?;
            refund_part(&tx, &order, part_id, part_index, Points(share), now).await?;
        }
        insert_audit(&tx, &audit, now).await?;
        let order = recompute(&tx, order_id, now).await?;
        tx.commit().await?;
        Ok(order)
    }

    async fn requeue_parts(&self, claimed_before: Millis, now: Millis) -> StoreResult<(i64, Vec<OrderPart>)> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::REQUEUE_PARTS).await?;
        let requeued = c.execute(&st, &[&now]).await? as i64;
        let st = c.prepare_cached(q::STUCK_PARTS).await?;
        let stuck =
            c.query(&st, &[&claimed_before]).await?.iter().map(part_row).collect::<StoreResult<_>>()?;
        Ok((requeued, stuck))
    }
}
