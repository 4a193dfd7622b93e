//! Packages and multi-part orders on SQLite.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};
use snspmt_core::order::OrderStatus;
use snspmt_core::plan::{self, Part};
use snspmt_core::Points;

use super::queries as q;
use super::{claim_key, deserialize, insert_audit, save_key, serialize, SqliteStore};
use crate::model::part_end;
use crate::{
    ClaimedPart, IdempotencyKey, Idempotent, Millis, NewAudit, NewOrder, NewPackage, Order, OrderPart,
    Package, PackageStore, Page, PartKind, PartStore, PartSyncTarget, StatusUpdate, StoreError, StoreResult,
    SubmissionOutcome,
};

fn package_row(r: &Row<'_>) -> rusqlite::Result<Package> {
    let steps: String = r.get(4)?;
    Ok(Package {
        package_id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        price: Points(r.get(3)?),
        steps: serde_json::from_str(&steps).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, Box::new(e))
        })?,
        is_active: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

fn part_row(r: &Row<'_>) -> rusqlite::Result<OrderPart> {
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

fn steps_json(p: &NewPackage) -> StoreResult<String> {
    serde_json::to_string(&p.steps).map_err(|e| StoreError::Backend(format!("serialize: {e}")))
}

fn order_in(c: &Connection, order_id: i64) -> StoreResult<Order> {
    c.prepare_cached(q::ORDER_BY_ID)?
        .query_row([order_id], super::orders::order_row)
        .optional()?
        .ok_or(StoreError::NotFound)
}

/// The order's status from its parts (core rules), written back.
fn recompute(tx: &Connection, order_id: i64, now: Millis) -> StoreResult<Order> {
    let ends = tx
        .prepare_cached(q::PART_ENDS)?
        .query_map([order_id], |r| {
            let (state, outcome): (String, Option<String>) = (r.get(0)?, r.get(1)?);
            Ok(part_end(&state, outcome.as_deref()))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let status = plan::order_status(&ends);
    tx.prepare_cached(q::SET_ORDER_STATUS)?.execute(params![order_id, status.as_str(), now])?;
    // The referrer's commission follows the order as it ends (confirmed, reduced, canceled).
    super::referral::referral_on_settlement(tx, order_id, now)?;
    order_in(tx, order_id)
}

/// Gives back `amount` of part `index` of an order, once per part.
fn refund_part(
    tx: &Connection,
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
    super::orders::give_back(tx, id, &order.user_id, amount, event, description, now)?;
    tx.prepare_cached(q::ADD_PART_REFUND)?.query_row(params![part_id, amount.0], |r| r.get::<_, i64>(0))?;
    Ok(())
}

#[async_trait]
impl PackageStore for SqliteStore {
    async fn create_package(&self, p: NewPackage, audit: NewAudit, now: Millis) -> StoreResult<Package> {
        self.write(move |tx| {
            let package = tx.prepare_cached(q::INSERT_PACKAGE)?.query_row(
                params![p.name, p.description, p.price.0, steps_json(&p)?, p.is_active, now],
                package_row,
            )?;
            insert_audit(tx, &audit, now)?;
            Ok(package)
        })
        .await
    }

    async fn package(&self, id: i64) -> StoreResult<Option<Package>> {
        self.read(move |c| Ok(c.prepare_cached(q::PACKAGE_BY_ID)?.query_row([id], package_row).optional()?))
            .await
    }

    async fn list_packages(&self, active_only: bool, limit: i64, offset: i64) -> StoreResult<Page<Package>> {
        self.read(move |c| {
            let rows = c
                .prepare_cached(q::LIST_PACKAGES)?
                .query_map(params![active_only, limit, offset], package_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let total = c.prepare_cached(q::COUNT_PACKAGES)?.query_row([active_only], |r| r.get(0))?;
            Ok(Page { rows, total })
        })
        .await
    }

    async fn update_package(
        &self,
        id: i64,
        p: NewPackage,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Package> {
        self.write(move |tx| {
            let package = tx
                .prepare_cached(q::UPDATE_PACKAGE)?
                .query_row(
                    params![id, p.name, p.description, p.price.0, steps_json(&p)?, p.is_active, now],
                    package_row,
                )
                .optional()?
                .ok_or(StoreError::NotFound)?;
            insert_audit(tx, &audit, now)?;
            Ok(package)
        })
        .await
    }
}

#[async_trait]
impl PartStore for SqliteStore {
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
        self.write(move |tx| {
            if let Some(key) = &key {
                if let Some(stored) = claim_key(tx, key, now)? {
                    return Ok(Idempotent::Replay(deserialize(&stored)?));
                }
            }
            let order_id = super::orders::insert_order_and_charge(tx, &o, now)?;
            tx.prepare_cached(q::SET_ORDER_PLAN)?.execute(params![order_id, package_id, split_days])?;
            let mut insert = tx.prepare_cached(q::INSERT_PART)?;
            for p in &parts {
                let (state, due) = match (p.index, start_at) {
                    (0, Some(at)) => ("due", Some(at)),
                    _ => ("waiting", None),
                };
                insert.execute(params![
                    order_id,
                    p.index,
                    p.step_index,
                    p.repeat_index,
                    p.name,
                    p.service_id,
                    i64::try_from(p.quantity).unwrap_or(i64::MAX),
                    p.share.0,
                    p.delay_minutes,
                    state,
                    due
                ])?;
            }
            let order = order_in(tx, order_id)?;
            if let Some(key) = &key {
                save_key(tx, key, &serialize(&order)?)?;
            }
            Ok(Idempotent::Fresh(order))
        })
        .await
    }

    async fn start_parts(&self, order_id: i64, now: Millis) -> StoreResult<bool> {
        self.write(move |tx| {
            order_in(tx, order_id)?;
            Ok(tx.prepare_cached(q::START_PARTS)?.execute(params![order_id, now])? > 0)
        })
        .await
    }

    async fn order_parts(&self, order_id: i64) -> StoreResult<Vec<OrderPart>> {
        self.read(move |c| {
            Ok(c.prepare_cached(q::ORDER_PARTS)?
                .query_map([order_id], part_row)?
                .collect::<Result<_, _>>()?)
        })
        .await
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
        self.write(move |tx| {
            let ids = tx
                .prepare_cached(q::CLAIM_DUE_PARTS)?
                .query_map(params![now, limit, kind], |r| r.get::<_, i64>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            let mut claimed = Vec::with_capacity(ids.len());
            for id in ids {
                let c = tx.prepare_cached(q::CLAIMED_PART)?.query_row([id], |r| {
                    Ok(ClaimedPart {
                        part_id: r.get(0)?,
                        order_id: r.get(1)?,
                        attempts: r.get(2)?,
                        provider_service_id: r.get(3)?,
                        service_type: r.get(4)?,
                        link: r.get(5)?,
                        quantity: r.get(6)?,
                    })
                })?;
                tx.prepare_cached(q::MARK_ORDER_PROCESSING)?.execute(params![c.order_id, now])?;
                claimed.push(c);
            }
            Ok(claimed)
        })
        .await
    }

    async fn settle_part_submission(
        &self,
        part_id: i64,
        outcome: SubmissionOutcome,
        now: Millis,
    ) -> StoreResult<Order> {
        self.write(move |tx| {
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
                SubmissionOutcome::Unknown { message } => {
                    ("unknown", None, None, Some(message.clone()), None)
                }
            };
            let retry = matches!(outcome, SubmissionOutcome::RetryLater { .. });
            let settled_at = (!retry).then_some(now);
            let (order_id, index, share): (i64, i64, i64) = tx
                .prepare_cached(q::SETTLE_PART)?
                .query_row(params![part_id, state, smm_id, due, error, end, settled_at], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?
                .ok_or(StoreError::Conflict("already_processed"))?;
            if end.is_some() {
                let order = order_in(tx, order_id)?;
                refund_part(tx, &order, part_id, index, Points(share), now)?;
            }
            if !retry {
                tx.prepare_cached(q::ADVANCE_PARTS)?.execute(params![order_id, index, now])?;
            }
            recompute(tx, order_id, now)
        })
        .await
    }

    async fn expire_part_submissions(&self, claimed_before: Millis, now: Millis) -> StoreResult<Vec<i64>> {
        self.write(move |tx| {
            let lost = tx
                .prepare_cached(q::EXPIRE_PARTS)?
                .query_map(params![claimed_before, now], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            for (order_id, index) in &lost {
                tx.prepare_cached(q::ADVANCE_PARTS)?.execute(params![order_id, index, now])?;
                recompute(tx, *order_id, now)?;
            }
            Ok(lost.into_iter().map(|(o, _)| o).collect())
        })
        .await
    }

    async fn parts_to_sync(&self, limit: i64) -> StoreResult<Vec<PartSyncTarget>> {
        self.read(move |c| {
            Ok(c.prepare_cached(q::PARTS_TO_SYNC)?
                .query_map([limit], |r| {
                    Ok(PartSyncTarget {
                        part_id: r.get(0)?,
                        order_id: r.get(1)?,
                        smm_order_id: r.get(2)?,
                        share: Points(r.get(3)?),
                        quantity: r.get(4)?,
                    })
                })?
                .collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn apply_part_status(
        &self,
        part_id: i64,
        u: StatusUpdate,
        now: Millis,
    ) -> StoreResult<Option<Order>> {
        self.write(move |tx| {
            let terminal = u.settlement.status != OrderStatus::InProgress;
            let outcome =
                terminal.then_some(if u.settlement.refund.0 > 0 { "refunded" } else { "completed" });
            let upstream = u.settlement.status.as_str();
            let hit: Option<(i64, i64, i64, i64)> = tx
                .prepare_cached(q::APPLY_PART_STATUS)?
                .query_row(params![part_id, upstream, u.remains, now, terminal, outcome], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()?;
            let Some((order_id, index, share, refunded)) = hit else { return Ok(None) };
            if terminal {
                let order = order_in(tx, order_id)?;
                let amount = Points(u.settlement.refund.0.min(share - refunded));
                refund_part(tx, &order, part_id, index, amount, now)?;
                return recompute(tx, order_id, now).map(Some);
            }
            Ok(Some(order_in(tx, order_id)?))
        })
        .await
    }

    async fn touch_part_checks(&self, part_ids: &[i64], now: Millis) -> StoreResult<()> {
        let ids = part_ids.to_vec();
        self.write(move |tx| {
            let mut st = tx.prepare_cached(q::TOUCH_PART_CHECK)?;
            for id in ids {
                st.execute(params![id, now])?;
            }
            Ok(())
        })
        .await
    }

    async fn resolve_part(
        &self,
        order_id: i64,
        part_index: i64,
        smm_order_id: Option<String>,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Order> {
        self.write(move |tx| {
            let (state, outcome) =
                if smm_order_id.is_some() { ("accepted", None) } else { ("ended", Some("refunded")) };
            let hit: Option<(i64, i64)> = tx
                .prepare_cached(q::RESOLVE_PART)?
                .query_row(params![order_id, part_index, state, smm_order_id, outcome], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            let Some((part_id, share)) = hit else {
                order_in(tx, order_id)?;
                return Err(StoreError::Conflict("invalid_transition"));
            };
            if outcome.is_some() {
                let order = order_in(tx, order_id)?;
                refund_part(tx, &order, part_id, part_index, Points(share), now)?;
            }
            insert_audit(tx, &audit, now)?;
            recompute(tx, order_id, now)
        })
        .await
    }

    async fn requeue_parts(&self, claimed_before: Millis, now: Millis) -> StoreResult<(i64, Vec<OrderPart>)> {
        self.write(move |tx| {
            let requeued = tx.prepare_cached(q::REQUEUE_PARTS)?.execute([now])? as i64;
            let stuck = tx
                .prepare_cached(q::STUCK_PARTS)?
                .query_map([claimed_before], part_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok((requeued, stuck))
        })
        .await
    }
}
