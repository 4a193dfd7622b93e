//! Per-user rates and the batches of mass orders, once for both backends.

use snspmt_core::{Bps, Points};

use super::{audited, changed, rows};
use crate::sql::{Conn, Row};
use crate::{BatchClaim, IdempotencyKey, Millis, NewAudit, ServicePrice, StoreError, StoreResult, UserRates};

/// The user's discount, and one row per own price (`NULL`s when there is none): one round trip.
const USER_RATES: &str = "SELECT u.discount_bps, p.service_id, s.name, s.price_per_1000, p.price_per_1000, \
    p.updated_at FROM users u LEFT JOIN user_service_prices p ON p.user_id = u.user_id \
    LEFT JOIN services s ON s.service_id = p.service_id WHERE u.user_id = $1 ORDER BY p.service_id";
const SET_DISCOUNT: &str = "UPDATE users SET discount_bps = $2 WHERE user_id = $1";
const SERVICE_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM services WHERE service_id = $1)";
const UPSERT_PRICE: &str =
    "INSERT INTO user_service_prices (user_id, service_id, price_per_1000, updated_at) \
    VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, service_id) \
    DO UPDATE SET price_per_1000 = excluded.price_per_1000, updated_at = excluded.updated_at";
const DELETE_PRICE: &str = "DELETE FROM user_service_prices WHERE user_id = $1 AND service_id = $2";

const CLAIM_BATCH: &str =
    "INSERT INTO order_batches (user_id, batch_key, request_hash, claimed_at, created_at) \
    VALUES ($1, $2, $3, $4, $4) ON CONFLICT DO NOTHING";
const BATCH: &str = "SELECT request_hash, response FROM order_batches WHERE user_id = $1 AND batch_key = $2";
const TAKE_OVER_BATCH: &str = "UPDATE order_batches SET claimed_at = $3 \
    WHERE user_id = $1 AND batch_key = $2 AND response IS NULL AND claimed_at < $4";
const FINISH_BATCH: &str = "UPDATE order_batches SET response = $3, completed_at = $4 \
    WHERE user_id = $1 AND batch_key = $2 AND response IS NULL";
const RELEASE_BATCH: &str =
    "DELETE FROM order_batches WHERE user_id = $1 AND batch_key = $2 AND response IS NULL";

/// An own price from a [`USER_RATES`] row; `None` on the row of a user without any.
fn service_price_row(r: &Row) -> StoreResult<Option<ServicePrice>> {
    let Some(service_id) = r.get::<Option<i64>>(1)? else { return Ok(None) };
    Ok(Some(ServicePrice {
        service_id,
        service_name: r.get(2)?,
        base_price_per_1000: Points(r.get(3)?),
        price_per_1000: Points(r.get(4)?),
        updated_at: r.get(5)?,
    }))
}

async fn user_rates<C: Conn>(c: &mut C, user_id: &str) -> StoreResult<Option<UserRates>> {
    let found = rows(c, USER_RATES, &[&user_id], |r| Ok((r.get::<i32>(0)?, service_price_row(r)?))).await?;
    let Some(&(bps, _)) = found.first() else { return Ok(None) };
    let discount = u32::try_from(bps).ok().and_then(|b| Bps::share(b).ok());
    let discount = discount.ok_or_else(|| StoreError::Backend(format!("stored discount_bps {bps}")))?;
    let service_prices = found.into_iter().filter_map(|(_, price)| price).collect();
    Ok(Some(UserRates { user_id: user_id.to_owned(), discount, service_prices }))
}

/// The user's rates after a change of them (told to the store's watchers).
async fn rates_of<C: Conn>(c: &mut C, user_id: &str) -> StoreResult<UserRates> {
    c.note(crate::Change::Rates(user_id.to_owned()));
    user_rates(c, user_id).await?.ok_or(StoreError::NotFound)
}

async fn claim_batch<C: Conn>(
    c: &mut C,
    key: &IdempotencyKey,
    lease_before: Millis,
    now: Millis,
) -> StoreResult<BatchClaim> {
    if c.execute(CLAIM_BATCH, &[&key.user_id, &key.key, &key.request_hash, &now]).await? == 1 {
        return Ok(BatchClaim::Claimed);
    }
    let row = c.query_one(BATCH, &[&key.user_id, &key.key]).await?;
    let hash: String = row.get(0)?;
    if hash != key.request_hash {
        return Err(StoreError::IdempotencyKeyReused);
    }
    if let Some(response) = row.get::<Option<String>>(1)? {
        return Ok(BatchClaim::Done(response));
    }
    if c.execute(TAKE_OVER_BATCH, &[&key.user_id, &key.key, &now, &lease_before]).await? == 1 {
        Ok(BatchClaim::Resumed)
    } else {
        Ok(BatchClaim::InFlight)
    }
}

store_trait! {
    /// Per-user rates (an operator's discount and per-service prices) and the batches of mass
    /// orders.
    ///
    /// # Example
    ///
    /// ```
    /// use snspmt_core::Bps;
    /// use snspmt_store::RateStore;
    /// use snspmt_store::Millis;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let store = snspmt_store::testing::example_store(&["kim"]).await?;
    /// # let audit = snspmt_store::testing::example_audit;
    /// let rates = store.set_user_discount("kim", Bps(1_000), audit(), Millis(1_000)).await?;
    /// assert_eq!((rates.discount, rates.service_prices.len()), (Bps(1_000), 0));
    /// assert_eq!(store.user_rates("kim").await?, Some(rates));
    /// assert_eq!(store.user_rates("nobody").await?, None);
    /// # Ok(())
    /// # }
    /// ```
    pub trait RateStore {
        /// The user's discount and per-service prices; `None` for an unknown user.
        async fn user_rates(&self, user_id: &str) -> StoreResult<Option<UserRates>> {
            let user_id = user_id.to_owned();
            self.rd(async move |c| user_rates(c, &user_id).await).await
        }

        /// Sets the user's discount (0..=10000 bps), audited. `NotFound` for an unknown user.
        async fn set_user_discount(
            &self,
            user_id: &str,
            discount: Bps,
            audit: NewAudit,
            now: Millis,
        ) -> StoreResult<UserRates> {
            let user_id = user_id.to_owned();
            let bps = Bps::share(discount.0).ok().and_then(|b| i32::try_from(b.0).ok());
            let bps = bps.ok_or(StoreError::Conflict(crate::Conflict::InvalidAmount))?;
            self.tx(async move |c| {
                changed(c.execute(SET_DISCOUNT, &[&user_id, &bps]).await?)?;
                let rates = rates_of(c, &user_id).await?;
                audited(c, &audit, now, rates).await
            })
            .await
        }

        /// Sets the user's own price of a service (≥ 0), audited. `NotFound` for an unknown user
        /// or service.
        async fn set_service_price(
            &self,
            user_id: &str,
            service_id: i64,
            price_per_1000: Points,
            audit: NewAudit,
            now: Millis,
        ) -> StoreResult<UserRates> {
            if price_per_1000.is_negative() {
                return Err(StoreError::Conflict(crate::Conflict::InvalidAmount));
            }
            let user_id = user_id.to_owned();
            self.tx(async move |c| {
                if user_rates(c, &user_id).await?.is_none()
                    || !c.scalar::<bool>(SERVICE_EXISTS, &[&service_id]).await?
                {
                    return Err(StoreError::NotFound);
                }
                c.execute(UPSERT_PRICE, &[&user_id, &service_id, &price_per_1000.0, &now]).await?;
                let rates = rates_of(c, &user_id).await?;
                audited(c, &audit, now, rates).await
            })
            .await
        }

        /// Removes the user's own price of a service, audited. `NotFound` when there was none.
        async fn delete_service_price(
            &self,
            user_id: &str,
            service_id: i64,
            audit: NewAudit,
            now: Millis,
        ) -> StoreResult<UserRates> {
            let user_id = user_id.to_owned();
            self.tx(async move |c| {
                changed(c.execute(DELETE_PRICE, &[&user_id, &service_id]).await?)?;
                let rates = rates_of(c, &user_id).await?;
                audited(c, &audit, now, rates).await
            })
            .await
        }

        /// Claims the batch of `key` (its `scope` is not stored: batches are their own table) in a
        /// transaction of its own: new, resumed when an earlier claim is older than
        /// `lease_before` and never answered, in flight, or done with its stored answer. The same
        /// key with another body is `IdempotencyKeyReused`.
        async fn claim_order_batch(
            &self,
            key: &IdempotencyKey,
            lease_before: Millis,
            now: Millis,
        ) -> StoreResult<BatchClaim> {
            let key = key.clone();
            self.tx(async move |c| claim_batch(c, &key, lease_before, now).await).await
        }

        /// Stores the answer of a claimed batch (once; a second answer is ignored).
        async fn finish_order_batch(
            &self,
            key: &IdempotencyKey,
            response: &str,
            now: Millis,
        ) -> StoreResult<()> {
            let (user_id, batch, response) = (key.user_id.clone(), key.key.clone(), response.to_owned());
            self.tx(async move |c| {
                c.execute(FINISH_BATCH, &[&user_id, &batch, &response, &now]).await.map(drop)
            })
            .await
        }

        /// Forgets an unanswered claim (the batch was refused before anything was placed).
        async fn release_order_batch(&self, key: &IdempotencyKey) -> StoreResult<()> {
            let (user_id, batch) = (key.user_id.clone(), key.key.clone());
            self.tx(async move |c| c.execute(RELEASE_BATCH, &[&user_id, &batch]).await.map(drop)).await
        }
    }
}
