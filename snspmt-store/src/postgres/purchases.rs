//! Point purchases on PostgreSQL.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use snspmt_core::purchase::{ApprovalOutcome, PurchaseMethod, PurchaseStatus};
use snspmt_core::{LedgerKind, Points, Won};
use tokio_postgres::Row;

use super::queries as q;
use super::{claim_key, insert_audit, is_unique_violation, post_in, save_key, PgStore};
use crate::model::settlement_row;
use crate::{
    IdempotencyKey, Idempotent, Millis, NewAudit, NewPurchase, Page, Posting, Purchase, PurchaseFilter,
    PurchaseStore, StoreError, StoreResult,
};

fn parsed<T: std::str::FromStr>(s: String) -> StoreResult<T>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e: T::Err| StoreError::Backend(e.to_string()))
}

fn purchase_row(r: &Row) -> StoreResult<Purchase> {
    Ok(Purchase {
        purchase_id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        method: parsed(r.try_get(2)?)?,
        amount: Points(r.try_get(3)?),
        price: Won(r.try_get(4)?),
        status: parsed(r.try_get(5)?)?,
        buyer_name: r.try_get(6)?,
        bank_info: r.try_get(7)?,
        ordr_idxx: r.try_get(8)?,
        good_name: r.try_get(9)?,
        pay_method: r.try_get(10)?,
        approval_key: r.try_get(11)?,
        pay_url: r.try_get(12)?,
        trace_no: r.try_get(13)?,
        tno: r.try_get(14)?,
        res_cd: r.try_get(15)?,
        res_msg: r.try_get(16)?,
        approved_amount: r.try_get(17)?,
        decided_by: r.try_get(18)?,
        created_at: r.try_get(19)?,
        updated_at: r.try_get(20)?,
        approving_at: r.try_get(21)?,
        approved_at: r.try_get(22)?,
    })
}

async fn purchase_in(c: &impl GenericClient, id: i64) -> StoreResult<Purchase> {
    let st = c.prepare_cached(q::PURCHASE_BY_ID).await?;
    purchase_row(&c.query_opt(&st, &[&id]).await?.ok_or(StoreError::NotFound)?)
}

async fn credit(
    c: &impl GenericClient,
    purchase_id: i64,
    user_id: &str,
    amount: i64,
    now: Millis,
) -> StoreResult<()> {
    let posting = Posting {
        user_id: user_id.to_owned(),
        kind: LedgerKind::Purchase,
        amount: Points(amount),
        reference: Some(format!("purchase:{purchase_id}")),
        description: format!("포인트 구매 #{purchase_id}"),
        event_ref: Some(format!("purchase:{purchase_id}")),
        audit: None,
    };
    post_in(c, &posting, now).await.map(drop)
}

async fn not_matched(c: &impl GenericClient, id: i64) -> StoreError {
    match purchase_in(c, id).await {
        Ok(_) => StoreError::Conflict("already_processed"),
        Err(e) => e,
    }
}

#[async_trait]
impl PurchaseStore for PgStore {
    async fn create_purchase(
        &self,
        p: NewPurchase,
        key: Option<IdempotencyKey>,
        now: Millis,
    ) -> StoreResult<Idempotent<Purchase>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if let Some(key) = &key {
            if let Some(stored) = claim_key(&tx, key, now).await? {
                let first: Purchase = serde_json::from_str(&stored)
                    .map_err(|e| StoreError::Backend(format!("stored response: {e}")))?;
                return Ok(Idempotent::Replay(purchase_in(&tx, first.purchase_id).await?));
            }
        }
        let status = match p.method {
            PurchaseMethod::Bank => PurchaseStatus::Pending,
            PurchaseMethod::Kcp => PurchaseStatus::KcpRegistered,
        };
        let st = tx.prepare_cached(q::INSERT_PURCHASE).await?;
        let id: i64 = tx
            .query_one(
                &st,
                &[
                    &p.user_id,
                    &p.method.as_str(),
                    &p.amount.0,
                    &p.price.0,
                    &status.as_str(),
                    &p.buyer_name,
                    &p.bank_info,
                    &p.ordr_idxx,
                    &p.good_name,
                    &p.pay_method,
                    &now,
                ],
            )
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict("ordr_idxx_taken")
                } else {
                    e.into()
                }
            })?
            .try_get(0)?;
        let purchase = purchase_in(&tx, id).await?;
        if let Some(key) = &key {
            let body = serde_json::to_string(&purchase)
                .map_err(|e| StoreError::Backend(format!("serialize: {e}")))?;
            save_key(&tx, key, &body).await?;
        }
        tx.commit().await?;
        Ok(Idempotent::Fresh(purchase))
    }

    async fn purchase(&self, purchase_id: i64) -> StoreResult<Option<Purchase>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::PURCHASE_BY_ID).await?;
        c.query_opt(&st, &[&purchase_id]).await?.as_ref().map(purchase_row).transpose()
    }

    async fn purchase_by_ordr(&self, ordr_idxx: &str) -> StoreResult<Option<Purchase>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::PURCHASE_BY_ORDR).await?;
        c.query_opt(&st, &[&ordr_idxx]).await?.as_ref().map(purchase_row).transpose()
    }

    async fn purchases(&self, f: PurchaseFilter) -> StoreResult<Page<Purchase>> {
        let c = self.client().await?;
        let status = f.status.map(PurchaseStatus::as_str);
        let method = f.method.map(PurchaseMethod::as_str);
        let st = c.prepare_cached(q::LIST_PURCHASES).await?;
        let rows = c
            .query(&st, &[&f.user_id, &status, &method, &f.attention_before, &f.limit, &f.offset])
            .await?
            .iter()
            .map(purchase_row)
            .collect::<Result<_, _>>()?;
        let st = c.prepare_cached(q::COUNT_PURCHASES).await?;
        let total =
            c.query_one(&st, &[&f.user_id, &status, &method, &f.attention_before]).await?.try_get(0)?;
        Ok(Page { rows, total })
    }

    async fn record_registration(
        &self,
        id: i64,
        approval_key: &str,
        pay_url: &str,
        trace_no: &str,
        now: Millis,
    ) -> StoreResult<Purchase> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::RECORD_REGISTRATION).await?;
        if c.query_opt(&st, &[&id, &approval_key, &pay_url, &trace_no, &now]).await?.is_none() {
            return Err(not_matched(&c, id).await);
        }
        purchase_in(&c, id).await
    }

    async fn end_registration(
        &self,
        id: i64,
        status: PurchaseStatus,
        code: &str,
        message: &str,
        now: Millis,
    ) -> StoreResult<Purchase> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::END_REGISTRATION).await?;
        if c.query_opt(&st, &[&id, &status.as_str(), &code, &message, &now]).await?.is_none() {
            return Err(not_matched(&c, id).await);
        }
        purchase_in(&c, id).await
    }

    async fn decide_bank_purchase(
        &self,
        id: i64,
        approve: bool,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Purchase> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let status = if approve { PurchaseStatus::Approved } else { PurchaseStatus::Rejected };
        let st = tx.prepare_cached(q::DECIDE_BANK_PURCHASE).await?;
        let Some(row) = tx.query_opt(&st, &[&id, &status.as_str(), &audit.actor, &now]).await? else {
            return Err(not_matched(&tx, id).await);
        };
        let (user_id, amount): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
        if approve {
            credit(&tx, id, &user_id, amount, now).await?;
        }
        insert_audit(&tx, &audit, now).await?;
        let purchase = purchase_in(&tx, id).await?;
        tx.commit().await?;
        Ok(purchase)
    }

    async fn begin_approval(&self, ordr_idxx: &str, now: Millis) -> StoreResult<Option<Purchase>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::BEGIN_APPROVAL).await?;
        match c.query_opt(&st, &[&ordr_idxx, &now]).await? {
            None => Ok(None),
            Some(r) => Ok(Some(purchase_in(&c, r.try_get(0)?).await?)),
        }
    }

    async fn settle_approval(
        &self,
        id: i64,
        outcome: &ApprovalOutcome,
        now: Millis,
    ) -> StoreResult<Purchase> {
        let (status, tno, amount, code, message, approved_at) = settlement_row(outcome, now);
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::SETTLE_APPROVAL).await?;
        let row = tx
            .query_opt(&st, &[&id, &status.as_str(), &tno, &amount, &code, &message, &approved_at, &now])
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict("duplicate_tno")
                } else {
                    e.into()
                }
            })?;
        let Some(row) = row else { return Err(not_matched(&tx, id).await) };
        let (user_id, points): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
        if status == PurchaseStatus::Approved {
            credit(&tx, id, &user_id, points, now).await?;
        }
        let purchase = purchase_in(&tx, id).await?;
        tx.commit().await?;
        Ok(purchase)
    }
}
