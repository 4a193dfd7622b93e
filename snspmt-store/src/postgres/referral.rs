//! The referral hooks of the order code on PostgreSQL.
// Kept until orders/parts are ported; then delete. (Everything else is in `ops/referral.rs`.)

use deadpool_postgres::GenericClient;
use snspmt_core::order::OrderStatus;
use snspmt_core::referral::{self, CommissionStatus};
use snspmt_core::{money, Bps, Points};

use super::queries as q;
use crate::{Millis, StoreError, StoreResult};

fn parsed<T: std::str::FromStr>(s: String) -> StoreResult<T>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e: T::Err| StoreError::Backend(e.to_string()))
}

fn rate(v: i64) -> StoreResult<Bps> {
    u32::try_from(v).map(Bps).map_err(|e| StoreError::Backend(format!("rate: {e}")))
}

fn money_err(e: money::MoneyError) -> StoreError {
    StoreError::Backend(format!("commission: {e}"))
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
