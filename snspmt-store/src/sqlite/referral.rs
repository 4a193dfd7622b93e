//! The referral programme and coupons on SQLite. Every balance movement is a conditional
//! `UPDATE … WHERE earned - paid - reserved >= amount` inside the writer's `IMMEDIATE`
//! transaction, so no interleaving can overdraw a referrer.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};
use snspmt_core::order::OrderStatus;
use snspmt_core::referral::{self, CommissionStatus, WithdrawalState};
use snspmt_core::{money, Bps, Points};

use super::queries as q;
use super::{claim_key, deserialize, insert_audit, is_unique_violation, save_key, serialize, SqliteStore};
use crate::{
    Commission, CommissionEntry, Coupon, CouponStore, IdempotencyKey, Idempotent, Millis, NewAudit,
    NewCoupon, NewWithdrawal, Page, Payout, Referral, ReferralStats, ReferralStore, Referrer, StoreError,
    StoreResult, UserCoupon, Withdrawal, WithdrawalFilter,
};

fn parsed<T: std::str::FromStr>(idx: usize, s: String) -> rusqlite::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    s.parse()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e)))
}

fn rate(idx: usize, v: i64) -> rusqlite::Result<Bps> {
    u32::try_from(v).map(Bps).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Integer, Box::new(e))
    })
}

fn referrer_row(r: &Row<'_>) -> rusqlite::Result<Referrer> {
    Ok(Referrer {
        user_id: r.get(0)?,
        email: r.get(1)?,
        code: r.get(2)?,
        commission_rate: rate(3, r.get(3)?)?,
        is_active: r.get(4)?,
        earned: Points(r.get(5)?),
        paid: Points(r.get(6)?),
        reserved: Points(r.get(7)?),
        referral_count: r.get(8)?,
        created_at: r.get(9)?,
    })
}

fn coupon_row(r: &Row<'_>) -> rusqlite::Result<Coupon> {
    Ok(Coupon {
        coupon_id: r.get(0)?,
        code: r.get(1)?,
        name: r.get(2)?,
        discount_type: parsed(3, r.get(3)?)?,
        discount_value: r.get(4)?,
        min_order_amount: Points(r.get(5)?),
        valid_from: r.get(6)?,
        valid_until: r.get(7)?,
        max_uses: r.get(8)?,
        issued_count: r.get(9)?,
        is_active: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
    })
}

fn user_coupon_row(r: &Row<'_>) -> rusqlite::Result<UserCoupon> {
    Ok(UserCoupon {
        id: r.get(0)?,
        user_id: r.get(1)?,
        coupon_id: r.get(2)?,
        source: r.get(3)?,
        code: r.get(4)?,
        name: r.get(5)?,
        discount_type: parsed(6, r.get(6)?)?,
        discount_value: r.get(7)?,
        min_order_amount: Points(r.get(8)?),
        valid_from: r.get(9)?,
        expires_at: r.get(10)?,
        is_active: r.get(11)?,
        is_used: r.get(12)?,
        used_order_id: r.get(13)?,
        created_at: r.get(14)?,
    })
}

fn commission_row(r: &Row<'_>) -> rusqlite::Result<Commission> {
    Ok(Commission {
        commission_id: r.get(0)?,
        order_id: r.get(1)?,
        referrer_user_id: r.get(2)?,
        referred_user_id: r.get(3)?,
        purchase_amount: Points(r.get(4)?),
        amount: Points(r.get(5)?),
        rate: rate(6, r.get(6)?)?,
        status: parsed(7, r.get(7)?)?,
        created_at: r.get(8)?,
        settled_at: r.get(9)?,
    })
}

fn entry_row(r: &Row<'_>) -> rusqlite::Result<CommissionEntry> {
    Ok(CommissionEntry {
        id: r.get(0)?,
        user_id: r.get(1)?,
        kind: r.get(2)?,
        amount: Points(r.get(3)?),
        balance_after: Points(r.get(4)?),
        reference: r.get(5)?,
        description: r.get(6)?,
        created_at: r.get(7)?,
    })
}

fn withdrawal_row(r: &Row<'_>) -> rusqlite::Result<Withdrawal> {
    Ok(Withdrawal {
        withdrawal_id: r.get(0)?,
        user_id: r.get(1)?,
        amount: Points(r.get(2)?),
        bank_name: r.get(3)?,
        account_number: r.get(4)?,
        account_holder: r.get(5)?,
        status: parsed(6, r.get(6)?)?,
        admin_notes: r.get(7)?,
        decided_by: r.get(8)?,
        created_at: r.get(9)?,
        decided_at: r.get(10)?,
    })
}

fn payout_row(r: &Row<'_>) -> rusqlite::Result<Payout> {
    Ok(Payout {
        payout_id: r.get(0)?,
        user_id: r.get(1)?,
        amount: Points(r.get(2)?),
        kind: r.get(3)?,
        withdrawal_id: r.get(4)?,
        notes: r.get(5)?,
        paid_by: r.get(6)?,
        created_at: r.get(7)?,
    })
}

fn money_err(e: money::MoneyError) -> StoreError {
    StoreError::Backend(format!("commission: {e}"))
}

#[allow(clippy::too_many_arguments)]
fn record_entry(
    tx: &Connection,
    user_id: &str,
    kind: &str,
    amount: i64,
    balance_after: i64,
    reference: Option<String>,
    description: &str,
    now: Millis,
) -> StoreResult<()> {
    tx.prepare_cached(q::INSERT_COMMISSION_ENTRY)?
        .query_row(params![user_id, kind, amount, balance_after, reference, description, now], |r| {
            r.get::<_, i64>(0)
        })?;
    Ok(())
}

fn insert_user_coupon(tx: &Connection, c: &UserCoupon, now: Millis) -> StoreResult<i64> {
    Ok(tx.prepare_cached(q::INSERT_USER_COUPON)?.query_row(
        params![
            c.user_id,
            c.coupon_id,
            c.source,
            c.code,
            c.name,
            c.discount_type.as_str(),
            c.discount_value,
            c.min_order_amount.0,
            c.valid_from,
            c.expires_at,
            now
        ],
        |r| r.get(0),
    )?)
}

fn user_coupon_in(c: &Connection, id: i64) -> StoreResult<UserCoupon> {
    c.prepare_cached(q::USER_COUPON_BY_ID)?
        .query_row([id], user_coupon_row)
        .optional()?
        .ok_or(StoreError::NotFound)
}

fn referrer_in(c: &Connection, user_id: &str) -> StoreResult<Referrer> {
    c.prepare_cached(q::REFERRER_BY_USER)?
        .query_row([user_id], referrer_row)
        .optional()?
        .ok_or(StoreError::NotFound)
}

/// In `place_order`'s transaction: marks the caller's coupon copy used by this order (else
/// `Conflict("invalid_coupon")`, and the whole order rolls back), and records the pending
/// commission of the user's referrer at the referrer's rate now.
pub(super) fn referral_on_order(
    tx: &Connection,
    order_id: i64,
    user_id: &str,
    coupon_id: Option<i64>,
    price: Points,
    final_price: Points,
    now: Millis,
) -> StoreResult<()> {
    if let Some(coupon) = coupon_id {
        let used =
            tx.prepare_cached(q::USE_COUPON)?.exists(params![coupon, user_id, order_id, now, price.0])?;
        if !used {
            return Err(StoreError::Conflict("invalid_coupon"));
        }
    }
    let referrer: Option<(String, i64)> = tx
        .prepare_cached(q::REFERRER_FOR_ORDER)?
        .query_row([user_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if let Some((referrer, bps)) = referrer {
        let rate = Bps(u32::try_from(bps).unwrap_or(0));
        let amount = money::commission(final_price, rate).map_err(money_err)?;
        tx.prepare_cached(q::INSERT_COMMISSION)?.execute(params![
            order_id,
            referrer,
            user_id,
            final_price.0,
            amount.0,
            bps,
            now
        ])?;
        tx.prepare_cached(q::SET_ORDER_COMMISSION)?.execute(params![order_id, amount.0])?;
    }
    Ok(())
}

/// In the transaction of any refund or settlement of an order: brings its pending commission
/// in line with the order (reduced by refunds, confirmed on completion, canceled on a full
/// refund — once), credits an earned commission to the referrer's balance, and gives the
/// coupon back when a failed or canceled order was refunded in full.
pub(super) fn referral_on_settlement(tx: &Connection, order_id: i64, now: Millis) -> StoreResult<()> {
    let (status, final_price, refunded): (String, i64, i64) = tx
        .prepare_cached(q::ORDER_SETTLEMENT)?
        .query_row([order_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let status: OrderStatus = status.parse().map_err(|e| StoreError::Backend(format!("{e}")))?;
    let (final_price, refunded) = (Points(final_price), Points(refunded));
    if referral::returns_coupon(status, final_price, refunded) {
        tx.prepare_cached(q::RETURN_COUPON)?.execute([order_id])?;
    }
    let pending: Option<(i64, i64)> = tx
        .prepare_cached(q::PENDING_COMMISSION)?
        .query_row([order_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((bps, current)) = pending else { return Ok(()) };
    let s =
        referral::commission_settlement(status, final_price, refunded, Bps(u32::try_from(bps).unwrap_or(0)))
            .map_err(money_err)?;
    if s.status == CommissionStatus::Pending && s.amount.0 == current {
        return Ok(());
    }
    let settled_at = (s.status != CommissionStatus::Pending).then_some(now);
    let referrer: String = tx
        .prepare_cached(q::SETTLE_COMMISSION)?
        .query_row(params![order_id, s.status.as_str(), s.amount.0, settled_at], |r| r.get(0))?;
    tx.prepare_cached(q::SET_ORDER_COMMISSION)?.execute(params![order_id, s.amount.0])?;
    if s.status.is_earned() && s.amount.0 > 0 {
        let balance: i64 =
            tx.prepare_cached(q::EARN_COMMISSION)?.query_row(params![referrer, s.amount.0], |r| r.get(0))?;
        let description = format!("주문 #{order_id} 추천 수수료 ({})", s.status);
        record_entry(
            tx,
            &referrer,
            "commission",
            s.amount.0,
            balance,
            Some(format!("order:{order_id}")),
            &description,
            now,
        )?;
    }
    Ok(())
}

fn coupon_params<'a>(c: &'a NewCoupon, kind: &'a &'static str) -> [&'a dyn rusqlite::ToSql; 9] {
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

fn code_taken(e: rusqlite::Error) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Conflict("coupon_code_taken")
    } else {
        e.into()
    }
}

#[async_trait]
impl CouponStore for SqliteStore {
    async fn create_coupon(&self, c: NewCoupon, audit: NewAudit, now: Millis) -> StoreResult<Coupon> {
        self.write(move |tx| {
            let kind = c.discount_type.as_str();
            let mut all: Vec<&dyn rusqlite::ToSql> = coupon_params(&c, &kind).to_vec();
            all.push(&now);
            let coupon = tx
                .prepare_cached(q::INSERT_COUPON)?
                .query_row(all.as_slice(), coupon_row)
                .map_err(code_taken)?;
            insert_audit(tx, &audit, now)?;
            Ok(coupon)
        })
        .await
    }

    async fn coupon(&self, coupon_id: i64) -> StoreResult<Option<Coupon>> {
        self.read(move |c| {
            Ok(c.prepare_cached(q::COUPON_BY_ID)?.query_row([coupon_id], coupon_row).optional()?)
        })
        .await
    }

    async fn coupons(&self, limit: i64, offset: i64) -> StoreResult<Page<Coupon>> {
        self.read(move |c| {
            let rows = c
                .prepare_cached(q::LIST_COUPONS)?
                .query_map(params![limit, offset], coupon_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let total = c.prepare_cached(q::COUNT_COUPONS)?.query_row([], |r| r.get(0))?;
            Ok(Page { rows, total })
        })
        .await
    }

    async fn update_coupon(
        &self,
        id: i64,
        c: NewCoupon,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Coupon> {
        self.write(move |tx| {
            let kind = c.discount_type.as_str();
            let mut all: Vec<&dyn rusqlite::ToSql> = vec![&id];
            all.extend_from_slice(&coupon_params(&c, &kind));
            all.push(&now);
            let coupon = tx
                .prepare_cached(q::UPDATE_COUPON)?
                .query_row(all.as_slice(), coupon_row)
                .optional()
                .map_err(code_taken)?
                .ok_or(StoreError::NotFound)?;
            insert_audit(tx, &audit, now)?;
            Ok(coupon)
        })
        .await
    }

    async fn deactivate_coupon(&self, id: i64, audit: NewAudit, now: Millis) -> StoreResult<Coupon> {
        self.write(move |tx| {
            let coupon = tx
                .prepare_cached(q::DEACTIVATE_COUPON)?
                .query_row(params![id, now], coupon_row)
                .optional()?
                .ok_or(StoreError::NotFound)?;
            insert_audit(tx, &audit, now)?;
            Ok(coupon)
        })
        .await
    }

    async fn add_coupon_by_code(&self, user_id: &str, code: &str, now: Millis) -> StoreResult<UserCoupon> {
        let (user_id, code) = (user_id.to_owned(), code.to_owned());
        self.write(move |tx| {
            let coupon = tx
                .prepare_cached(q::COUPON_BY_CODE)?
                .query_row([&code], coupon_row)
                .optional()?
                .filter(|c| c.is_active && c.valid_until.is_none_or(|u| now < u))
                .ok_or(StoreError::Conflict("invalid_coupon"))?;
            if tx
                .prepare_cached(q::HAS_COUPON_COPY)?
                .query_row(params![coupon.coupon_id, user_id], |r| r.get(0))?
            {
                return Err(StoreError::Conflict("coupon_already_added"));
            }
            if !tx.prepare_cached(q::ISSUE_COUPON)?.exists([coupon.coupon_id])? {
                return Err(StoreError::Conflict("coupon_exhausted"));
            }
            let copy = crate::model::coupon_copy(&coupon, &user_id, now);
            let id = insert_user_coupon(tx, &copy, now)?;
            user_coupon_in(tx, id)
        })
        .await
    }

    async fn user_coupon(&self, id: i64) -> StoreResult<Option<UserCoupon>> {
        self.read(move |c| {
            Ok(c.prepare_cached(q::USER_COUPON_BY_ID)?.query_row([id], user_coupon_row).optional()?)
        })
        .await
    }

    async fn user_coupons(&self, user_id: &str, limit: i64, offset: i64) -> StoreResult<Page<UserCoupon>> {
        let user_id = user_id.to_owned();
        self.read(move |c| {
            let rows = c
                .prepare_cached(q::LIST_USER_COUPONS)?
                .query_map(params![user_id, limit, offset], user_coupon_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let total = c.prepare_cached(q::COUNT_USER_COUPONS)?.query_row([user_id], |r| r.get(0))?;
            Ok(Page { rows, total })
        })
        .await
    }
}

fn settle_reservation(tx: &Connection, w: &Withdrawal, approve: bool) -> StoreResult<i64> {
    let (release, pay) = if approve { (0, w.amount.0) } else { (w.amount.0, 0) };
    tx.prepare_cached(q::SETTLE_RESERVATION)?
        .query_row(params![w.user_id, release, pay], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::Backend("a withdrawal's reservation is missing".into()))
}

#[async_trait]
impl ReferralStore for SqliteStore {
    async fn register_referrer(
        &self,
        user_id: &str,
        code: &str,
        rate: Bps,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Option<Referrer>> {
        let (user_id, code) = (user_id.to_owned(), code.to_owned());
        self.write(move |tx| {
            let inserted =
                tx.prepare_cached(q::INSERT_REFERRAL_CODE)?.execute(params![code, user_id, rate.0, now])?;
            let referrer =
                tx.prepare_cached(q::REFERRER_BY_USER)?.query_row([&user_id], referrer_row).optional()?;
            if inserted == 1 {
                insert_audit(tx, &audit, now)?;
            }
            Ok(referrer)
        })
        .await
    }

    async fn referrer(&self, user_id: &str) -> StoreResult<Option<Referrer>> {
        let id = user_id.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached(q::REFERRER_BY_USER)?.query_row([id], referrer_row).optional()?)
        })
        .await
    }

    async fn referrer_by_code(&self, code: &str) -> StoreResult<Option<Referrer>> {
        let code = code.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached(q::REFERRER_BY_CODE)?.query_row([code], referrer_row).optional()?)
        })
        .await
    }

    async fn referrers(&self, limit: i64, offset: i64) -> StoreResult<Page<Referrer>> {
        self.read(move |c| {
            let rows = c
                .prepare_cached(q::LIST_REFERRERS)?
                .query_map(params![limit, offset], referrer_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let total = c.prepare_cached(q::COUNT_REFERRERS)?.query_row([], |r| r.get(0))?;
            Ok(Page { rows, total })
        })
        .await
    }

    async fn use_referral_code(
        &self,
        user_id: &str,
        code: &str,
        coupon: UserCoupon,
        now: Millis,
    ) -> StoreResult<UserCoupon> {
        let (user_id, code) = (user_id.to_owned(), code.to_owned());
        self.write(move |tx| {
            let existing: Option<(String, Option<i64>)> = tx
                .prepare_cached(q::REFERRAL_OF)?
                .query_row([&user_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            if let Some((used, coupon_id)) = existing {
                return match coupon_id {
                    Some(id) if used == code => user_coupon_in(tx, id),
                    _ => Err(StoreError::Conflict("already_referred")),
                };
            }
            let owner: String = tx
                .prepare_cached(q::ACTIVE_CODE_OWNER)?
                .query_row([&code], |r| r.get(0))
                .optional()?
                .ok_or(StoreError::Conflict("invalid_code"))?;
            if owner == user_id {
                return Err(StoreError::Conflict("self_referral"));
            }
            tx.prepare_cached(q::INSERT_REFERRAL)?
                .query_row(params![user_id, owner, code, now], |r| r.get::<_, String>(0))?;
            let copy = UserCoupon { user_id: user_id.clone(), ..coupon };
            let id = insert_user_coupon(tx, &copy, now)?;
            tx.prepare_cached(q::SET_REFERRAL_COUPON)?.execute(params![user_id, id])?;
            user_coupon_in(tx, id)
        })
        .await
    }

    async fn set_commission_rate(
        &self,
        user_id: &str,
        rate: Bps,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Referrer> {
        let id = user_id.to_owned();
        self.write(move |tx| {
            if !tx.prepare_cached(q::SET_COMMISSION_RATE)?.exists(params![id, rate.0])? {
                return Err(StoreError::NotFound);
            }
            insert_audit(tx, &audit, now)?;
            referrer_in(tx, &id)
        })
        .await
    }

    async fn commissions(&self, referrer: &str, limit: i64, offset: i64) -> StoreResult<Page<Commission>> {
        let id = referrer.to_owned();
        self.read(move |c| {
            let rows = c
                .prepare_cached(q::LIST_COMMISSIONS)?
                .query_map(params![id, limit, offset], commission_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let total = c.prepare_cached(q::COUNT_COMMISSIONS)?.query_row([id], |r| r.get(0))?;
            Ok(Page { rows, total })
        })
        .await
    }

    async fn commission_entries(
        &self,
        user_id: &str,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Page<CommissionEntry>> {
        let id = user_id.to_owned();
        self.read(move |c| {
            let rows = c
                .prepare_cached(q::COMMISSION_ENTRIES)?
                .query_map(params![id, limit, offset], entry_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let total = c.prepare_cached(q::COUNT_COMMISSION_ENTRIES)?.query_row([id], |r| r.get(0))?;
            Ok(Page { rows, total })
        })
        .await
    }

    async fn referral_stats(&self, referrer: &str, month_start: Millis) -> StoreResult<ReferralStats> {
        let id = referrer.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached(q::REFERRAL_STATS)?.query_row(params![id, month_start], |r| {
                Ok(ReferralStats {
                    total_referrals: r.get(0)?,
                    active_referrals: r.get(1)?,
                    this_month_referrals: r.get(2)?,
                    this_month_commission: Points(r.get(3)?),
                })
            })?)
        })
        .await
    }

    async fn referrals(
        &self,
        referrer: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Page<Referral>> {
        let referrer = referrer.map(str::to_owned);
        self.read(move |c| {
            let rows = c
                .prepare_cached(q::LIST_REFERRALS)?
                .query_map(params![referrer, limit, offset], |r| {
                    Ok(Referral {
                        referred_user_id: r.get(0)?,
                        referred_email: r.get(1)?,
                        referrer_user_id: r.get(2)?,
                        code: r.get(3)?,
                        joined_at: r.get(4)?,
                        order_count: r.get(5)?,
                        commission: Points(r.get(6)?),
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let total = c.prepare_cached(q::COUNT_REFERRALS)?.query_row([referrer], |r| r.get(0))?;
            Ok(Page { rows, total })
        })
        .await
    }

    async fn request_withdrawal(
        &self,
        w: NewWithdrawal,
        key: Option<IdempotencyKey>,
        now: Millis,
    ) -> StoreResult<Idempotent<Withdrawal>> {
        self.write(move |tx| {
            if let Some(key) = &key {
                if let Some(stored) = claim_key(tx, key, now)? {
                    return Ok(Idempotent::Replay(deserialize(&stored)?));
                }
            }
            let balance: i64 = tx
                .prepare_cached(q::RESERVE_COMMISSION)?
                .query_row(params![w.user_id, w.amount.0], |r| r.get(0))
                .optional()?
                .ok_or(StoreError::Conflict("insufficient_commission"))?;
            let row = tx.prepare_cached(q::INSERT_WITHDRAWAL)?.query_row(
                params![w.user_id, w.amount.0, w.bank_name, w.account_number, w.account_holder, now],
                withdrawal_row,
            )?;
            let reference = Some(format!("withdrawal:{}", row.withdrawal_id));
            record_entry(
                tx,
                &w.user_id,
                "withdrawal_request",
                -w.amount.0,
                balance,
                reference,
                "출금 신청 (예약)",
                now,
            )?;
            if let Some(key) = &key {
                save_key(tx, key, &serialize(&row)?)?;
            }
            Ok(Idempotent::Fresh(row))
        })
        .await
    }

    async fn withdrawals(&self, f: WithdrawalFilter) -> StoreResult<Page<Withdrawal>> {
        self.read(move |c| {
            let status = f.status.map(WithdrawalState::as_str);
            let rows = c
                .prepare_cached(q::LIST_WITHDRAWALS)?
                .query_map(params![f.user_id, status, f.limit, f.offset], withdrawal_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let total = c
                .prepare_cached(q::COUNT_WITHDRAWALS)?
                .query_row(params![f.user_id, status], |r| r.get(0))?;
            Ok(Page { rows, total })
        })
        .await
    }

    async fn decide_withdrawal(
        &self,
        id: i64,
        approve: bool,
        notes: Option<String>,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Withdrawal> {
        self.write(move |tx| {
            let status = if approve { WithdrawalState::Approved } else { WithdrawalState::Rejected };
            let decided = tx
                .prepare_cached(q::DECIDE_WITHDRAWAL)?
                .query_row(params![id, status.as_str(), notes, audit.actor, now], withdrawal_row)
                .optional()?;
            let Some(w) = decided else {
                let exists = tx.prepare_cached(q::WITHDRAWAL_BY_ID)?.exists([id])?;
                return Err(if exists {
                    StoreError::Conflict("already_processed")
                } else {
                    StoreError::NotFound
                });
            };
            let balance = settle_reservation(tx, &w, approve)?;
            let reference = Some(format!("withdrawal:{id}"));
            if approve {
                tx.prepare_cached(q::INSERT_PAYOUT)?.query_row(
                    params![w.user_id, w.amount.0, "withdrawal", id, notes, audit.actor, now],
                    payout_row,
                )?;
                record_entry(
                    tx,
                    &w.user_id,
                    "withdrawal_approved",
                    0,
                    balance,
                    reference,
                    "출금 승인 (지급)",
                    now,
                )?;
            } else {
                record_entry(
                    tx,
                    &w.user_id,
                    "withdrawal_rejected",
                    w.amount.0,
                    balance,
                    reference,
                    "출금 거절 (예약 해제)",
                    now,
                )?;
            }
            insert_audit(tx, &audit, now)?;
            Ok(w)
        })
        .await
    }

    async fn pay_commission(
        &self,
        user_id: &str,
        amount: Points,
        notes: Option<String>,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Payout> {
        let id = user_id.to_owned();
        self.write(move |tx| {
            if amount.0 <= 0 {
                return Err(StoreError::Conflict("insufficient_commission"));
            }
            let balance: i64 = tx
                .prepare_cached(q::PAY_COMMISSION)?
                .query_row(params![id, amount.0], |r| r.get(0))
                .optional()?
                .ok_or(StoreError::Conflict("insufficient_commission"))?;
            let payout = tx.prepare_cached(q::INSERT_PAYOUT)?.query_row(
                params![id, amount.0, "manual", None::<i64>, notes, audit.actor, now],
                payout_row,
            )?;
            let reference = Some(format!("payout:{}", payout.payout_id));
            record_entry(tx, &id, "payout", -amount.0, balance, reference, "수수료 지급", now)?;
            insert_audit(tx, &audit, now)?;
            Ok(payout)
        })
        .await
    }

    async fn payouts(&self, user_id: Option<&str>, limit: i64, offset: i64) -> StoreResult<Page<Payout>> {
        let id = user_id.map(str::to_owned);
        self.read(move |c| {
            let rows = c
                .prepare_cached(q::LIST_PAYOUTS)?
                .query_map(params![id, limit, offset], payout_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let total = c.prepare_cached(q::COUNT_PAYOUTS)?.query_row([id], |r| r.get(0))?;
            Ok(Page { rows, total })
        })
        .await
    }
}
