//! The referral hooks of the order code on SQLite.
// Kept until orders/parts are ported; then delete. (Everything else is in `ops/referral.rs`.)

use rusqlite::{params, Connection, OptionalExtension};
use snspmt_core::order::OrderStatus;
use snspmt_core::referral::{self, CommissionStatus};
use snspmt_core::{money, Bps, Points};

use super::queries as q;
use crate::{Millis, StoreError, StoreResult};

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
