//! The referral programme and coupons on PostgreSQL. Balance movements are conditional
//! `UPDATE … WHERE earned - paid - reserved >= amount`: under `READ COMMITTED` a concurrent
//! update of the same referrer waits for the row lock and re-checks the condition on the new
//! row, so concurrent withdrawals and payouts can never overdraw.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use snspmt_core::order::OrderStatus;
use snspmt_core::referral::{self, CommissionStatus, WithdrawalState};
use snspmt_core::{money, Bps, Points};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::queries as q;
use super::{claim_key, insert_audit, is_unique_violation, save_key, PgStore};
use crate::{
    Commission, CommissionEntry, Coupon, CouponStore, IdempotencyKey, Idempotent, Millis, NewAudit,
    NewCoupon, NewWithdrawal, Page, Payout, Referral, ReferralStats, ReferralStore, Referrer, StoreError,
    StoreResult, UserCoupon, Withdrawal, WithdrawalFilter,
};

fn parsed<T: std::str::FromStr>(s: String) -> StoreResult<T>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e: T::Err| StoreError::Backend(e.to_string()))
}

fn rate(v: i64) -> StoreResult<Bps> {
    u32::try_from(v).map(Bps).map_err(|e| StoreError::Backend(format!("rate: {e}")))
}

fn referrer_row(r: &Row) -> StoreResult<Referrer> {
    Ok(Referrer {
        user_id: r.try_get(0)?,
        email: r.try_get(1)?,
        code: r.try_get(2)?,
        commission_rate: rate(r.try_get(3)?)?,
        is_active: r.try_get(4)?,
        earned: Points(r.try_get(5)?),
        paid: Points(r.try_get(6)?),
        reserved: Points(r.try_get(7)?),
        referral_count: r.try_get(8)?,
        created_at: r.try_get(9)?,
    })
}

fn coupon_row(r: &Row) -> StoreResult<Coupon> {
    Ok(Coupon {
        coupon_id: r.try_get(0)?,
        code: r.try_get(1)?,
        name: r.try_get(2)?,
        discount_type: parsed(r.try_get(3)?)?,
        discount_value: r.try_get(4)?,
        min_order_amount: Points(r.try_get(5)?),
        valid_from: r.try_get(6)?,
        valid_until: r.try_get(7)?,
        max_uses: r.try_get(8)?,
        issued_count: r.try_get(9)?,
        is_active: r.try_get(10)?,
        created_at: r.try_get(11)?,
        updated_at: r.try_get(12)?,
    })
}

fn user_coupon_row(r: &Row) -> StoreResult<UserCoupon> {
    Ok(UserCoupon {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        coupon_id: r.try_get(2)?,
        source: r.try_get(3)?,
        code: r.try_get(4)?,
        name: r.try_get(5)?,
        discount_type: parsed(r.try_get(6)?)?,
        discount_value: r.try_get(7)?,
        min_order_amount: Points(r.try_get(8)?),
        valid_from: r.try_get(9)?,
        expires_at: r.try_get(10)?,
        is_active: r.try_get(11)?,
        is_used: r.try_get(12)?,
        used_order_id: r.try_get(13)?,
        created_at: r.try_get(14)?,
    })
}

fn commission_row(r: &Row) -> StoreResult<Commission> {
    Ok(Commission {
        commission_id: r.try_get(0)?,
        order_id: r.try_get(1)?,
        referrer_user_id: r.try_get(2)?,
        referred_user_id: r.try_get(3)?,
        purchase_amount: Points(r.try_get(4)?),
        amount: Points(r.try_get(5)?),
        rate: rate(r.try_get(6)?)?,
        status: parsed(r.try_get(7)?)?,
        created_at: r.try_get(8)?,
        settled_at: r.try_get(9)?,
    })
}

fn entry_row(r: &Row) -> StoreResult<CommissionEntry> {
    Ok(CommissionEntry {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        kind: r.try_get(2)?,
        amount: Points(r.try_get(3)?),
        balance_after: Points(r.try_get(4)?),
        reference: r.try_get(5)?,
        description: r.try_get(6)?,
        created_at: r.try_get(7)?,
    })
}

fn withdrawal_row(r: &Row) -> StoreResult<Withdrawal> {
    Ok(Withdrawal {
        withdrawal_id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        amount: Points(r.try_get(2)?),
        bank_name: r.try_get(3)?,
        account_number: r.try_get(4)?,
        account_holder: r.try_get(5)?,
        status: parsed(r.try_get(6)?)?,
        admin_notes: r.try_get(7)?,
        decided_by: r.try_get(8)?,
        created_at: r.try_get(9)?,
        decided_at: r.try_get(10)?,
    })
}

fn payout_row(r: &Row) -> StoreResult<Payout> {
    Ok(Payout {
        payout_id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        amount: Points(r.try_get(2)?),
        kind: r.try_get(3)?,
        withdrawal_id: r.try_get(4)?,
        notes: r.try_get(5)?,
        paid_by: r.try_get(6)?,
        created_at: r.try_get(7)?,
    })
}

fn rows<T>(rows: Vec<Row>, f: fn(&Row) -> StoreResult<T>) -> StoreResult<Vec<T>> {
    rows.iter().map(f).collect()
}

fn money_err(e: money::MoneyError) -> StoreError {
    StoreError::Backend(format!("commission: {e}"))
}

async fn count(c: &impl GenericClient, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<i64> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query_one(&st, params).await?.try_get(0)?)
}

#[allow(clippy::too_many_arguments)]
async fn record_entry(
    c: &impl GenericClient,
    user_id: &str,
    kind: &str,
    amount: i64,
    balance_after: i64,
    reference: Option<String>,
    description: &str,
    now: Millis,
) -> StoreResult<()> {
    let st = c.prepare_cached(q::INSERT_COMMISSION_ENTRY).await?;
    c.query_one(&st, &[&user_id, &kind, &amount, &balance_after, &reference, &description, &now]).await?;
    Ok(())
}

async fn insert_user_coupon(c: &impl GenericClient, u: &UserCoupon, now: Millis) -> StoreResult<i64> {
    let st = c.prepare_cached(q::INSERT_USER_COUPON).await?;
    let row = c
        .query_one(
            &st,
            &[
                &u.user_id,
                &u.coupon_id,
                &u.source,
                &u.code,
                &u.name,
                &u.discount_type.as_str(),
                &u.discount_value,
                &u.min_order_amount.0,
                &u.valid_from,
                &u.expires_at,
                &now,
            ],
        )
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict("coupon_already_added")
            } else {
                e.into()
            }
        })?;
    Ok(row.try_get(0)?)
}

async fn user_coupon_in(c: &impl GenericClient, id: i64) -> StoreResult<UserCoupon> {
    let st = c.prepare_cached(q::USER_COUPON_BY_ID).await?;
    user_coupon_row(&c.query_opt(&st, &[&id]).await?.ok_or(StoreError::NotFound)?)
}

async fn referrer_in(c: &impl GenericClient, user_id: &str) -> StoreResult<Option<Referrer>> {
    let st = c.prepare_cached(q::REFERRER_BY_USER).await?;
    c.query_opt(&st, &[&user_id]).await?.as_ref().map(referrer_row).transpose()
}

/// In `place_order`'s transaction: marks the caller's coupon copy used by this order (else
/// `Conflict("invalid_coupon")`, and the whole order rolls back), and records the pending
/// commission of the user's referrer at the referrer's rate now.
pub(super) async fn referral_on_order(
    c: &impl GenericClient,
    order_id: i64,
    user_id: &str,
    coupon_id: Option<i64>,
    price: Points,
    final_price: Points,
    now: Millis,
) -> StoreResult<()> {
    if let Some(coupon) = coupon_id {
        let st = c.prepare_cached(q::USE_COUPON).await?;
        if c.query_opt(&st, &[&coupon, &user_id, &order_id, &now, &price.0]).await?.is_none() {
            return Err(StoreError::Conflict("invalid_coupon"));
        }
    }
    let st = c.prepare_cached(q::REFERRER_FOR_ORDER).await?;
    if let Some(row) = c.query_opt(&st, &[&user_id]).await? {
        let referrer: String = row.try_get(0)?;
        let bps: i64 = row.try_get(1)?;
        let amount = money::commission(final_price, rate(bps)?).map_err(money_err)?;
        let st = c.prepare_cached(q::INSERT_COMMISSION).await?;
        c.execute(&st, &[&order_id, &referrer, &user_id, &final_price.0, &amount.0, &bps, &now]).await?;
        let st = c.prepare_cached(q::SET_ORDER_COMMISSION).await?;
        c.execute(&st, &[&order_id, &amount.0]).await?;
    }
    Ok(())
}

/// In the transaction of any refund or settlement of an order: brings its pending commission
/// in line with the order (reduced by refunds, confirmed on completion, canceled on a full
/// refund — once), credits an earned commission to the referrer's balance, and gives the
/// coupon back when a failed or canceled order was refunded in full.
pub(super) async fn referral_on_settlement(
    c: &impl GenericClient,
    order_id: i64,
    now: Millis,
) -> StoreResult<()> {
    let st = c.prepare_cached(q::ORDER_SETTLEMENT).await?;
    let row = c.query_one(&st, &[&order_id]).await?;
    let status: OrderStatus = parsed(row.try_get(0)?)?;
    let (final_price, refunded) = (Points(row.try_get(1)?), Points(row.try_get(2)?));
    if referral::returns_coupon(status, final_price, refunded) {
        let st = c.prepare_cached(q::RETURN_COUPON).await?;
        c.execute(&st, &[&order_id]).await?;
    }
    let st = c.prepare_cached(q::PENDING_COMMISSION).await?;
    let Some(row) = c.query_opt(&st, &[&order_id]).await? else { return Ok(()) };
    let (bps, current): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    let s = referral::commission_settlement(status, final_price, refunded, rate(bps)?).map_err(money_err)?;
    if s.status == CommissionStatus::Pending && s.amount.0 == current {
        return Ok(());
    }
    let settled_at = (s.status != CommissionStatus::Pending).then_some(now);
    let st = c.prepare_cached(q::SETTLE_COMMISSION).await?;
    let referrer: String =
        c.query_one(&st, &[&order_id, &s.status.as_str(), &s.amount.0, &settled_at]).await?.try_get(0)?;
    let st = c.prepare_cached(q::SET_ORDER_COMMISSION).await?;
    c.execute(&st, &[&order_id, &s.amount.0]).await?;
    if s.status.is_earned() && s.amount.0 > 0 {
        let st = c.prepare_cached(q::EARN_COMMISSION).await?;
        let balance: i64 = c.query_one(&st, &[&referrer, &s.amount.0]).await?.try_get(0)?;
        let description = format!("주문 #{order_id} 추천 수수료 ({})", s.status);
        let reference = Some(format!("order:{order_id}"));
        record_entry(c, &referrer, "commission", s.amount.0, balance, reference, &description, now).await?;
    }
    Ok(())
}

fn coupon_params<'a>(c: &'a NewCoupon, kind: &'a &'static str) -> [&'a (dyn ToSql + Sync); 9] {
    [
        &c.code,
        &c.name,
        kind,
        &c.discount_value,
        &c.min_order_amount.0,
        &c.valid_from,
        &c.valid_until,
        &c.max_uses,
        &c.is_active,
    ]
}

fn code_taken(e: tokio_postgres::Error) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Conflict("coupon_code_taken")
    } else {
        e.into()
    }
}

#[async_trait]
impl CouponStore for PgStore {
    async fn create_coupon(&self, c: NewCoupon, audit: NewAudit, now: Millis) -> StoreResult<Coupon> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let kind = c.discount_type.as_str();
        let mut all: Vec<&(dyn ToSql + Sync)> = coupon_params(&c, &kind).to_vec();
        all.push(&now);
        let st = tx.prepare_cached(q::INSERT_COUPON).await?;
        let coupon = coupon_row(&tx.query_one(&st, &all).await.map_err(code_taken)?)?;
        insert_audit(&tx, &audit, now).await?;
        tx.commit().await?;
        Ok(coupon)
    }

    async fn coupon(&self, coupon_id: i64) -> StoreResult<Option<Coupon>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::COUPON_BY_ID).await?;
        c.query_opt(&st, &[&coupon_id]).await?.as_ref().map(coupon_row).transpose()
    }

    async fn coupons(&self, limit: i64, offset: i64) -> StoreResult<Page<Coupon>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::LIST_COUPONS).await?;
        let rows = rows(c.query(&st, &[&limit, &offset]).await?, coupon_row)?;
        Ok(Page { rows, total: count(&c, q::COUNT_COUPONS, &[]).await? })
    }

    async fn update_coupon(
        &self,
        id: i64,
        c: NewCoupon,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Coupon> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let kind = c.discount_type.as_str();
        let mut all: Vec<&(dyn ToSql + Sync)> = vec![&id];
        all.extend_from_slice(&coupon_params(&c, &kind));
        all.push(&now);
        let st = tx.prepare_cached(q::UPDATE_COUPON).await?;
        let coupon =
            coupon_row(&tx.query_opt(&st, &all).await.map_err(code_taken)?.ok_or(StoreError::NotFound)?)?;
        insert_audit(&tx, &audit, now).await?;
        tx.commit().await?;
        Ok(coupon)
    }

    async fn deactivate_coupon(&self, id: i64, audit: NewAudit, now: Millis) -> StoreResult<Coupon> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::DEACTIVATE_COUPON).await?;
        let coupon = coupon_row(&tx.query_opt(&st, &[&id, &now]).await?.ok_or(StoreError::NotFound)?)?;
        insert_audit(&tx, &audit, now).await?;
        tx.commit().await?;
        Ok(coupon)
    }

    async fn add_coupon_by_code(&self, user_id: &str, code: &str, now: Millis) -> StoreResult<UserCoupon> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::COUPON_BY_CODE).await?;
        let coupon = tx
            .query_opt(&st, &[&code])
            .await?
            .as_ref()
            .map(coupon_row)
            .transpose()?
            .filter(|c| c.is_active && c.valid_until.is_none_or(|u| now < u))
            .ok_or(StoreError::Conflict("invalid_coupon"))?;
        let st = tx.prepare_cached(q::HAS_COUPON_COPY).await?;
        if tx.query_one(&st, &[&coupon.coupon_id, &user_id]).await?.try_get::<_, bool>(0)? {
            return Err(StoreError::Conflict("coupon_already_added"));
        }
        let st = tx.prepare_cached(q::ISSUE_COUPON).await?;
        if tx.query_opt(&st, &[&coupon.coupon_id]).await?.is_none() {
            return Err(StoreError::Conflict("coupon_exhausted"));
        }
        let copy = crate::model::coupon_copy(&coupon, user_id, now);
        let id = insert_user_coupon(&tx, &copy, now).await?;
        let out = user_coupon_in(&tx, id).await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn user_coupon(&self, id: i64) -> StoreResult<Option<UserCoupon>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::USER_COUPON_BY_ID).await?;
        c.query_opt(&st, &[&id]).await?.as_ref().map(user_coupon_row).transpose()
    }

    async fn user_coupons(&self, user_id: &str, limit: i64, offset: i64) -> StoreResult<Page<UserCoupon>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::LIST_USER_COUPONS).await?;
        let rows = rows(c.query(&st, &[&user_id, &limit, &offset]).await?, user_coupon_row)?;
        Ok(Page { rows, total: count(&c, q::COUNT_USER_COUPONS, &[&user_id]).await? })
    }
}

#[async_trait]
impl ReferralStore for PgStore {
    async fn register_referrer(
        &self,
        user_id: &str,
        code: &str,
        rate: Bps,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Option<Referrer>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::INSERT_REFERRAL_CODE).await?;
        let inserted = tx.execute(&st, &[&code, &user_id, &i64::from(rate.0), &now]).await?;
        let referrer = referrer_in(&tx, user_id).await?;
        if inserted == 1 {
            insert_audit(&tx, &audit, now).await?;
        }
        tx.commit().await?;
        Ok(referrer)
    }

    async fn referrer(&self, user_id: &str) -> StoreResult<Option<Referrer>> {
        let c = self.client().await?;
        referrer_in(&c, user_id).await
    }

    async fn referrer_by_code(&self, code: &str) -> StoreResult<Option<Referrer>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::REFERRER_BY_CODE).await?;
        c.query_opt(&st, &[&code]).await?.as_ref().map(referrer_row).transpose()
    }

    async fn referrers(&self, limit: i64, offset: i64) -> StoreResult<Page<Referrer>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::LIST_REFERRERS).await?;
        let rows = rows(c.query(&st, &[&limit, &offset]).await?, referrer_row)?;
        Ok(Page { rows, total: count(&c, q::COUNT_REFERRERS, &[]).await? })
    }

    async fn use_referral_code(
        &self,
        user_id: &str,
        code: &str,
        coupon: UserCoupon,
        now: Millis,
    ) -> StoreResult<UserCoupon> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::ACTIVE_CODE_OWNER).await?;
        let owner: Option<String> = tx.query_opt(&st, &[&code]).await?.map(|r| r.try_get(0)).transpose()?;
        let st = tx.prepare_cached(q::INSERT_REFERRAL).await?;
        let inserted = match &owner {
            Some(owner) if owner != user_id => {
                tx.query_opt(&st, &[&user_id, owner, &code, &now]).await?.is_some()
            }
            _ => false,
        };
        if !inserted {
            // Referred already (perhaps a moment ago by a concurrent call: the insert waited for
            // it), or the code is unusable.
            let st = tx.prepare_cached(q::REFERRAL_OF).await?;
            if let Some(row) = tx.query_opt(&st, &[&user_id]).await? {
                let (used, coupon_id): (String, Option<i64>) = (row.try_get(0)?, row.try_get(1)?);
                return match coupon_id {
                    Some(id) if used == code => user_coupon_in(&tx, id).await,
                    _ => Err(StoreError::Conflict("already_referred")),
                };
            }
            return Err(match owner {
                None => StoreError::Conflict("invalid_code"),
                Some(_) => StoreError::Conflict("self_referral"),
            });
        }
        let copy = UserCoupon { user_id: user_id.to_owned(), ..coupon };
        let id = insert_user_coupon(&tx, &copy, now).await?;
        let st = tx.prepare_cached(q::SET_REFERRAL_COUPON).await?;
        tx.execute(&st, &[&user_id, &id]).await?;
        let out = user_coupon_in(&tx, id).await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn set_commission_rate(
        &self,
        user_id: &str,
        rate: Bps,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Referrer> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::SET_COMMISSION_RATE).await?;
        if tx.query_opt(&st, &[&user_id, &i64::from(rate.0)]).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        insert_audit(&tx, &audit, now).await?;
        let referrer = referrer_in(&tx, user_id).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(referrer)
    }

    async fn commissions(&self, referrer: &str, limit: i64, offset: i64) -> StoreResult<Page<Commission>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::LIST_COMMISSIONS).await?;
        let rows = rows(c.query(&st, &[&referrer, &limit, &offset]).await?, commission_row)?;
        Ok(Page { rows, total: count(&c, q::COUNT_COMMISSIONS, &[&referrer]).await? })
    }

    async fn commission_entries(
        &self,
        user_id: &str,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Page<CommissionEntry>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::COMMISSION_ENTRIES).await?;
        let rows = rows(c.query(&st, &[&user_id, &limit, &offset]).await?, entry_row)?;
        Ok(Page { rows, total: count(&c, q::COUNT_COMMISSION_ENTRIES, &[&user_id]).await? })
    }

    async fn referral_stats(&self, referrer: &str, month_start: Millis) -> StoreResult<ReferralStats> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::REFERRAL_STATS).await?;
        let r = c.query_one(&st, &[&referrer, &month_start]).await?;
        Ok(ReferralStats {
            total_referrals: r.try_get(0)?,
            active_referrals: r.try_get(1)?,
            this_month_referrals: r.try_get(2)?,
            this_month_commission: Points(r.try_get(3)?),
        })
    }

    async fn referrals(
        &self,
        referrer: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Page<Referral>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::LIST_REFERRALS).await?;
        let rows = c
            .query(&st, &[&referrer, &limit, &offset])
            .await?
            .iter()
            .map(|r| {
                Ok(Referral {
                    referred_user_id: r.try_get(0)?,
                    referred_email: r.try_get(1)?,
                    referrer_user_id: r.try_get(2)?,
                    code: r.try_get(3)?,
                    joined_at: r.try_get(4)?,
                    order_count: r.try_get(5)?,
                    commission: Points(r.try_get(6)?),
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page { rows, total: count(&c, q::COUNT_REFERRALS, &[&referrer]).await? })
    }

    async fn request_withdrawal(
        &self,
        w: NewWithdrawal,
        key: Option<IdempotencyKey>,
        now: Millis,
    ) -> StoreResult<Idempotent<Withdrawal>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if let Some(key) = &key {
            if let Some(stored) = claim_key(&tx, key, now).await? {
                let first = serde_json::from_str(&stored)
                    .map_err(|e| StoreError::Backend(format!("stored response: {e}")))?;
                return Ok(Idempotent::Replay(first));
            }
        }
        let st = tx.prepare_cached(q::RESERVE_COMMISSION).await?;
        let balance: i64 = tx
            .query_opt(&st, &[&w.user_id, &w.amount.0])
            .await?
            .ok_or(StoreError::Conflict("insufficient_commission"))?
            .try_get(0)?;
        let st = tx.prepare_cached(q::INSERT_WITHDRAWAL).await?;
        let row = withdrawal_row(
            &tx.query_one(
                &st,
                &[&w.user_id, &w.amount.0, &w.bank_name, &w.account_number, &w.account_holder, &now],
            )
            .await?,
        )?;
        let reference = Some(format!("withdrawal:{}", row.withdrawal_id));
        record_entry(
            &tx,
            &w.user_id,
            "withdrawal_request",
            -w.amount.0,
            balance,
            reference,
            "출금 신청 (예약)",
            now,
        )
        .await?;
        if let Some(key) = &key {
            let body =
                serde_json::to_string(&row).map_err(|e| StoreError::Backend(format!("serialize: {e}")))?;
            save_key(&tx, key, &body).await?;
        }
        tx.commit().await?;
        Ok(Idempotent::Fresh(row))
    }

    async fn withdrawals(&self, f: WithdrawalFilter) -> StoreResult<Page<Withdrawal>> {
        let c = self.client().await?;
        let status = f.status.map(WithdrawalState::as_str);
        let st = c.prepare_cached(q::LIST_WITHDRAWALS).await?;
        let rows = rows(c.query(&st, &[&f.user_id, &status, &f.limit, &f.offset]).await?, withdrawal_row)?;
        Ok(Page { rows, total: count(&c, q::COUNT_WITHDRAWALS, &[&f.user_id, &status]).await? })
    }

    async fn decide_withdrawal(
        &self,
        id: i64,
        approve: bool,
        notes: Option<String>,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Withdrawal> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let status = if approve { WithdrawalState::Approved } else { WithdrawalState::Rejected };
        let st = tx.prepare_cached(q::DECIDE_WITHDRAWAL).await?;
        let Some(row) = tx.query_opt(&st, &[&id, &status.as_str(), &notes, &audit.actor, &now]).await? else {
            let st = tx.prepare_cached(q::WITHDRAWAL_BY_ID).await?;
            let exists = tx.query_opt(&st, &[&id]).await?.is_some();
            return Err(if exists {
                StoreError::Conflict("already_processed")
            } else {
                StoreError::NotFound
            });
        };
        let w = withdrawal_row(&row)?;
        let (release, pay) = if approve { (0i64, w.amount.0) } else { (w.amount.0, 0i64) };
        let st = tx.prepare_cached(q::SETTLE_RESERVATION).await?;
        let balance: i64 = tx
            .query_opt(&st, &[&w.user_id, &release, &pay])
            .await?
            .ok_or_else(|| StoreError::Backend("a withdrawal's reservation is missing".into()))?
            .try_get(0)?;
        let reference = Some(format!("withdrawal:{id}"));
        if approve {
            let st = tx.prepare_cached(q::INSERT_PAYOUT).await?;
            tx.query_one(
                &st,
                &[&w.user_id, &w.amount.0, &"withdrawal", &Some(id), &notes, &audit.actor, &now],
            )
            .await?;
            record_entry(
                &tx,
                &w.user_id,
                "withdrawal_approved",
                0,
                balance,
                reference,
                "출금 승인 (지급)",
                now,
            )
            .await?;
        } else {
            record_entry(
                &tx,
                &w.user_id,
                "withdrawal_rejected",
                w.amount.0,
                balance,
                reference,
                "출금 거절 (예약 해제)",
                now,
            )
            .await?;
        }
        insert_audit(&tx, &audit, now).await?;
        tx.commit().await?;
        Ok(w)
    }

    async fn pay_commission(
        &self,
        user_id: &str,
        amount: Points,
        notes: Option<String>,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Payout> {
        if amount.0 <= 0 {
            return Err(StoreError::Conflict("insufficient_commission"));
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::PAY_COMMISSION).await?;
        let balance: i64 = tx
            .query_opt(&st, &[&user_id, &amount.0])
            .await?
            .ok_or(StoreError::Conflict("insufficient_commission"))?
            .try_get(0)?;
        let st = tx.prepare_cached(q::INSERT_PAYOUT).await?;
        let payout = payout_row(
            &tx.query_one(&st, &[&user_id, &amount.0, &"manual", &None::<i64>, &notes, &audit.actor, &now])
                .await?,
        )?;
        let reference = Some(format!("payout:{}", payout.payout_id));
        record_entry(&tx, user_id, "payout", -amount.0, balance, reference, "수수료 지급", now).await?;
        insert_audit(&tx, &audit, now).await?;
        tx.commit().await?;
        Ok(payout)
    }

    async fn payouts(&self, user_id: Option<&str>, limit: i64, offset: i64) -> StoreResult<Page<Payout>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::LIST_PAYOUTS).await?;
        let rows = rows(c.query(&st, &[&user_id, &limit, &offset]).await?, payout_row)?;
        Ok(Page { rows, total: count(&c, q::COUNT_PAYOUTS, &[&user_id]).await? })
    }
}
