//! Point purchases on SQLite.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};
use snspmt_core::purchase::{ApprovalOutcome, PurchaseMethod, PurchaseStatus};
use snspmt_core::{LedgerKind, Points, Won};

use super::queries as q;
use super::{
    claim_key, deserialize, insert_audit, is_unique_violation, post_in, save_key, serialize, SqliteStore,
};
use crate::model::settlement_row;
use crate::{
    IdempotencyKey, Idempotent, Millis, NewAudit, NewPurchase, Page, Posting, Purchase, PurchaseFilter,
    PurchaseStore, StoreError, StoreResult,
};

fn parsed<T: std::str::FromStr>(idx: usize, s: String) -> rusqlite::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    s.parse()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e)))
}

fn purchase_row(r: &Row<'_>) -> rusqlite::Result<Purchase> {
    Ok(Purchase {
        purchase_id: r.get(0)?,
        user_id: r.get(1)?,
        method: parsed::<PurchaseMethod>(2, r.get(2)?)?,
        amount: Points(r.get(3)?),
        price: Won(r.get(4)?),
        status: parsed::<PurchaseStatus>(5, r.get(5)?)?,
        buyer_name: r.get(6)?,
        bank_info: r.get(7)?,
        ordr_idxx: r.get(8)?,
        good_name: r.get(9)?,
        pay_method: r.get(10)?,
        approval_key: r.get(11)?,
        pay_url: r.get(12)?,
        trace_no: r.get(13)?,
        tno: r.get(14)?,
        res_cd: r.get(15)?,
        res_msg: r.get(16)?,
        approved_amount: r.get(17)?,
        decided_by: r.get(18)?,
        created_at: r.get(19)?,
        updated_at: r.get(20)?,
        approving_at: r.get(21)?,
        approved_at: r.get(22)?,
    })
}

fn purchase_in(c: &Connection, id: i64) -> StoreResult<Purchase> {
    c.prepare_cached(q::PURCHASE_BY_ID)?.query_row([id], purchase_row).optional()?.ok_or(StoreError::NotFound)
}

/// Credits a purchase's points, once per purchase (the ledger's unique `event_ref`).
fn credit(tx: &Connection, purchase_id: i64, user_id: &str, amount: i64, now: Millis) -> StoreResult<()> {
    let posting = Posting {
        user_id: user_id.to_owned(),
        kind: LedgerKind::Purchase,
        amount: Points(amount),
        reference: Some(format!("purchase:{purchase_id}")),
        description: format!("포인트 구매 #{purchase_id}"),
        event_ref: Some(format!("purchase:{purchase_id}")),
        audit: None,
    };
    post_in(tx, &posting, now).map(drop)
}

/// The current state of a purchase a conditional update did not match: `NotFound`, or
/// `Conflict("already_processed")`.
fn not_matched(c: &Connection, id: i64) -> StoreError {
    match purchase_in(c, id) {
        Ok(_) => StoreError::Conflict("already_processed"),
        Err(e) => e,
    }
}

#[async_trait]
impl PurchaseStore for SqliteStore {
    async fn create_purchase(
        &self,
        p: NewPurchase,
        key: Option<IdempotencyKey>,
        now: Millis,
    ) -> StoreResult<Idempotent<Purchase>> {
        self.write(move |tx| {
            if let Some(key) = &key {
                if let Some(stored) = claim_key(tx, key, now)? {
                    let first: Purchase = deserialize(&stored)?;
                    return Ok(Idempotent::Replay(purchase_in(tx, first.purchase_id)?));
                }
            }
            let status = match p.method {
                PurchaseMethod::Bank => PurchaseStatus::Pending,
                PurchaseMethod::Kcp => PurchaseStatus::KcpRegistered,
            };
            let id: i64 = tx
                .prepare_cached(q::INSERT_PURCHASE)?
                .query_row(
                    params![
                        p.user_id,
                        p.method.as_str(),
                        p.amount.0,
                        p.price.0,
                        status.as_str(),
                        p.buyer_name,
                        p.bank_info,
                        p.ordr_idxx,
                        p.good_name,
                        p.pay_method,
                        now
                    ],
                    |r| r.get(0),
                )
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::Conflict("ordr_idxx_taken")
                    } else {
                        e.into()
                    }
                })?;
            let purchase = purchase_in(tx, id)?;
            if let Some(key) = &key {
                save_key(tx, key, &serialize(&purchase)?)?;
            }
            Ok(Idempotent::Fresh(purchase))
        })
        .await
    }

    async fn purchase(&self, purchase_id: i64) -> StoreResult<Option<Purchase>> {
        self.read(move |c| {
            Ok(c.prepare_cached(q::PURCHASE_BY_ID)?.query_row([purchase_id], purchase_row).optional()?)
        })
        .await
    }

    async fn purchase_by_ordr(&self, ordr_idxx: &str) -> StoreResult<Option<Purchase>> {
        let o = ordr_idxx.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached(q::PURCHASE_BY_ORDR)?.query_row([o], purchase_row).optional()?)
        })
        .await
    }

    async fn purchases(&self, f: PurchaseFilter) -> StoreResult<Page<Purchase>> {
        self.read(move |c| {
            let status = f.status.map(PurchaseStatus::as_str);
            let method = f.method.map(PurchaseMethod::as_str);
            let rows = c
                .prepare_cached(q::LIST_PURCHASES)?
                .query_map(
                    params![f.user_id, status, method, f.attention_before, f.limit, f.offset],
                    purchase_row,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            let total = c
                .prepare_cached(q::COUNT_PURCHASES)?
                .query_row(params![f.user_id, status, method, f.attention_before], |r| r.get(0))?;
            Ok(Page { rows, total })
        })
        .await
    }

    async fn record_registration(
        &self,
        id: i64,
        approval_key: &str,
        pay_url: &str,
        trace_no: &str,
        now: Millis,
    ) -> StoreResult<Purchase> {
        let (k, u, t) = (approval_key.to_owned(), pay_url.to_owned(), trace_no.to_owned());
        self.write(move |tx| {
            let hit = tx.prepare_cached(q::RECORD_REGISTRATION)?.exists(params![id, k, u, t, now])?;
            if !hit {
                return Err(not_matched(tx, id));
            }
            purchase_in(tx, id)
        })
        .await
    }

    async fn end_registration(
        &self,
        id: i64,
        status: PurchaseStatus,
        code: &str,
        message: &str,
        now: Millis,
    ) -> StoreResult<Purchase> {
        let (c, m) = (code.to_owned(), message.to_owned());
        self.write(move |tx| {
            let hit =
                tx.prepare_cached(q::END_REGISTRATION)?.exists(params![id, status.as_str(), c, m, now])?;
            if !hit {
                return Err(not_matched(tx, id));
            }
            purchase_in(tx, id)
        })
        .await
    }

    async fn decide_bank_purchase(
        &self,
        id: i64,
        approve: bool,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Purchase> {
        self.write(move |tx| {
            let status = if approve { PurchaseStatus::Approved } else { PurchaseStatus::Rejected };
            let decided: Option<(String, i64)> = tx
                .prepare_cached(q::DECIDE_BANK_PURCHASE)?
                .query_row(params![id, status.as_str(), audit.actor, now], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((user_id, amount)) = decided else { return Err(not_matched(tx, id)) };
            if approve {
                credit(tx, id, &user_id, amount, now)?;
            }
            insert_audit(tx, &audit, now)?;
            purchase_in(tx, id)
        })
        .await
    }

    async fn begin_approval(&self, ordr_idxx: &str, now: Millis) -> StoreResult<Option<Purchase>> {
        let o = ordr_idxx.to_owned();
        self.write(move |tx| {
            let id: Option<i64> =
                tx.prepare_cached(q::BEGIN_APPROVAL)?.query_row(params![o, now], |r| r.get(0)).optional()?;
            id.map(|id| purchase_in(tx, id)).transpose()
        })
        .await
    }

    async fn settle_approval(
        &self,
        id: i64,
        outcome: &ApprovalOutcome,
        now: Millis,
    ) -> StoreResult<Purchase> {
        let outcome = outcome.clone();
        self.write(move |tx| {
            let (status, tno, amount, code, message, approved_at) = settlement_row(&outcome, now);
            let settled: Option<(String, i64)> = tx
                .prepare_cached(q::SETTLE_APPROVAL)?
                .query_row(params![id, status.as_str(), tno, amount, code, message, approved_at, now], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::Conflict("duplicate_tno")
                    } else {
                        e.into()
                    }
                })?;
            let Some((user_id, points)) = settled else { return Err(not_matched(tx, id)) };
            if status == PurchaseStatus::Approved {
                credit(tx, id, &user_id, points, now)?;
            }
            purchase_in(tx, id)
        })
        .await
    }
}
