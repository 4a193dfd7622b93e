//! Refill and cancel requests of orders already at the upstream (issue 14), written once for
//! both backends. Each operation locks the order, loads what the core's rules need
//! ([`snspmt_core::refill`]), and writes the request or its next state. None of them moves
//! money: a forwarded cancel is refunded by the status sync ([`super::lifecycle::apply_status`]).

use snspmt_core::refill::{
    may_cancel, may_refill, CancelRefusal, CancelRoute, CancelState, OrderFacts, RefillHistory, RefillInput,
    RefillPolicy, RefillRefusal, RefillState,
};

use super::lifecycle::{self, order_row};
use super::{one, rows};
use crate::sql::{clean_text, Conn, Row};
use crate::{
    CancelId, CancelRequest, Conflict, Millis, Order, OrderId, OwnerCancel, Refill, RefillId, StoreError,
    StoreResult,
};

macro_rules! refill_cols {
    () => {
        "refill_id, order_id, user_id, smm_refill_id, state, upstream_status, error, last_status_check, \
         created_at, updated_at"
    };
}

macro_rules! cancel_cols {
    () => {
        "cancel_id, order_id, user_id, state, error, created_at, updated_at"
    };
}

const ORDER_FOR_UPDATE: &str =
    concat!("SELECT ", order_cols!(), " FROM orders WHERE order_id = $1 FOR UPDATE");

const ORDER_CANCELS: &str =
    concat!("SELECT ", cancel_cols!(), " FROM cancel_requests WHERE order_id = $1 ORDER BY cancel_id");

row_mapper!(refill_row -> Refill {
    refill_id, order_id, user_id, smm_refill_id, state: parse, upstream_status, error, last_status_check,
    created_at, updated_at,
});

row_mapper!(cancel_row -> CancelRequest {
    cancel_id, order_id, user_id, state: parse, error, created_at, updated_at,
});

/// The order, locked for the transaction, and the facts the core's rules read.
async fn order_facts<C: Conn>(c: &mut C, order_id: OrderId) -> StoreResult<(Order, OrderFacts)> {
    let order = order_row(&c.query_opt(ORDER_FOR_UPDATE, &[&order_id]).await?.ok_or(StoreError::NotFound)?)?;
    let sql = "SELECT refill, cancel FROM services WHERE service_id = $1";
    let (refill, cancel) = match order.service_id {
        Some(id) => one(c, sql, &[&id], |r| Ok((r.get(0)?, r.get(1)?))).await?.unwrap_or_default(),
        None => (false, false),
    };
    let facts = OrderFacts {
        status: order.status,
        has_upstream_id: order.smm_panel_order_id.is_some(),
        multipart: order.total_parts > 0 || order.package_id.is_some() || order.split_days.is_some(),
        service_refill: refill,
        service_cancel: cancel,
        updated_at: order.updated_at,
    };
    Ok((order, facts))
}

store_trait! {
    /// Refill and cancel requests of orders already at the upstream. The rules are the core's
    /// (`snspmt_core::refill`); no operation here moves money.
    pub trait RefillStore {
        /// With the order locked: when `may_refill` allows it under `policy` at `now`, records a
        /// `requested` refill (the caller forwards it and feeds the answer to
        /// [`RefillStore::update_refill`]); otherwise answers the refusal and writes nothing.
        /// `NotFound` for an unknown order.
        async fn request_refill(
            &self,
            order_id: OrderId,
            policy: RefillPolicy,
            now: Millis,
        ) -> StoreResult<Result<Refill, RefillRefusal>> {
            self.tx(async move |c| {
                let (order, facts) = order_facts(c, order_id).await?;
                let sql = "SELECT state, created_at FROM refills WHERE order_id = $1";
                let earlier = rows(c, sql, &[&order_id], |r| Ok((r.parse::<RefillState>(0)?, r.get::<Millis>(1)?))).await?;
                if let Err(refusal) = may_refill(&facts, &RefillHistory::of(earlier, now), &policy, now) {
                    return Ok(Err(refusal));
                }
                let state = RefillState::Requested.as_str();
                let sql = concat!(
                    "INSERT INTO refills (order_id, user_id, state, created_at, updated_at) ",
                    "VALUES ($1, $2, $3, $4, $4) RETURNING ",
                    refill_cols!()
                );
                let row = c.query_one(sql, &[&order_id, &order.user_id, &state, &now]).await?;
                Ok(Ok(refill_row(&row)?))
            })
            .await
        }

        /// Feeds an input (the upstream's answer, or its status) to the refill's machine and writes
        /// the next state. `Conflict(InvalidTransition)` when the refill does not take it.
        async fn update_refill(
            &self,
            refill_id: RefillId,
            input: RefillInput,
            now: Millis,
        ) -> StoreResult<Refill> {
            self.tx(async move |c| {
                let sql = concat!("SELECT ", refill_cols!(), " FROM refills WHERE refill_id = $1 FOR UPDATE");
                let found = c.query_opt(sql, &[&refill_id]).await?;
                let refill = refill_row(&found.ok_or(StoreError::NotFound)?)?;
                let next = refill
                    .state
                    .handle(&input)
                    .map_err(|_| StoreError::Conflict(Conflict::InvalidTransition))?;
                let (smm_id, upstream_status, error, checked) = match &input {
                    RefillInput::Accepted { smm_refill_id } => {
                        (Some(clean_text(smm_refill_id)), None, None, None)
                    }
                    RefillInput::Refused { error } => (None, None, Some(clean_text(error)), None),
                    RefillInput::Status(s) => (None, Some(clean_text(s.as_str())), None, Some(now)),
                };
                let args: [&dyn crate::sql::Param; 8] = [
                    &refill_id,
                    &refill.state.as_str(),
                    &next.as_str(),
                    &smm_id,
                    &upstream_status,
                    &error,
                    &checked.or(refill.last_status_check),
                    &now,
                ];
                // The state moves only from the one read.
                let sql = concat!(
                    "UPDATE refills SET state = $3, smm_refill_id = COALESCE($4, smm_refill_id), ",
                    "upstream_status = COALESCE($5, upstream_status), error = $6, last_status_check = $7, ",
                    "updated_at = $8 WHERE refill_id = $1 AND state = $2 RETURNING ",
                    refill_cols!()
                );
                let row = c.query_opt(sql, &args).await?;
                refill_row(&row.ok_or(StoreError::Conflict(Conflict::InvalidTransition))?)
            })
            .await
        }

        /// The status sync asked about a refill and learnt nothing new (or `error`).
        async fn record_refill_check(
            &self,
            refill_id: RefillId,
            error: Option<String>,
            now: Millis,
        ) -> StoreResult<()> {
            let error = error.as_deref().map(clean_text);
            let sql =
                "UPDATE refills SET error = COALESCE($2, error), last_status_check = $3 WHERE refill_id = $1";
            self.tx(async move |c| c.execute(sql, &[&refill_id, &error, &now]).await.map(drop)).await
        }

        async fn refill(&self, refill_id: RefillId) -> StoreResult<Option<Refill>> {
            let sql = concat!("SELECT ", refill_cols!(), " FROM refills WHERE refill_id = $1");
            self.rd(async move |c| one(c, sql, &[&refill_id], refill_row).await).await
        }

        /// An order's refills, oldest first.
        async fn order_refills(&self, order_id: OrderId) -> StoreResult<Vec<Refill>> {
            let sql =
                concat!("SELECT ", refill_cols!(), " FROM refills WHERE order_id = $1 ORDER BY refill_id");
            self.rd(async move |c| rows(c, sql, &[&order_id], refill_row).await).await
        }

        /// Pending and in-progress refills the upstream knows, least recently checked first.
        async fn refills_to_sync(&self, limit: i64) -> StoreResult<Vec<Refill>> {
            let sql = concat!(
                "SELECT ",
                refill_cols!(),
                " FROM refills WHERE state IN ('pending', 'in_progress') AND smm_refill_id IS NOT NULL ",
                "ORDER BY last_status_check ASC NULLS FIRST, refill_id LIMIT $1"
            );
            self.rd(async move |c| rows(c, sql, &[&limit], refill_row).await).await
        }

        /// The owner's cancel, with the order locked, as `may_cancel` routes it: an order not at
        /// the upstream yet is canceled and refunded here (as [`crate::OrderStore::cancel_order`]); one
        /// running there gets a `requested` cancel for the caller to forward (no money moves);
        /// otherwise the refusal, and nothing is written. `NotFound` for an unknown order.
        async fn owner_cancel(
            &self,
            order_id: OrderId,
            now: Millis,
        ) -> StoreResult<Result<OwnerCancel, CancelRefusal>> {
            self.tx(async move |c| {
                let (order, facts) = order_facts(c, order_id).await?;
                let open = "SELECT EXISTS (SELECT 1 FROM cancel_requests \
                    WHERE order_id = $1 AND state IN ('requested', 'accepted'))";
                let open = c.scalar::<bool>(open, &[&order_id]).await?;
                match may_cancel(&facts, open) {
                    Err(refusal) => Ok(Err(refusal)),
                    Ok(CancelRoute::Local) => {
                        Ok(Ok(OwnerCancel::Canceled(lifecycle::cancel_order(c, order_id, now).await?)))
                    }
                    Ok(CancelRoute::Upstream) => {
                        let state = CancelState::Requested.as_str();
                        let sql = concat!(
                            "INSERT INTO cancel_requests (order_id, user_id, state, created_at, updated_at) ",
                            "VALUES ($1, $2, $3, $4, $4) RETURNING ",
                            cancel_cols!()
                        );
                        let row = c.query_one(sql, &[&order_id, &order.user_id, &state, &now]).await?;
                        Ok(Ok(OwnerCancel::Forwarded { request: cancel_row(&row)?, order }))
                    }
                }
            })
            .await
        }

        /// Records the upstream's answer to a forwarded cancel: accepted (`error` is `None`) or
        /// refused. `Conflict(AlreadyProcessed)` when it was answered already.
        async fn settle_cancel(
            &self,
            cancel_id: CancelId,
            error: Option<String>,
            now: Millis,
        ) -> StoreResult<CancelRequest> {
            self.tx(async move |c| {
                let sql = concat!(
                    "SELECT ",
                    cancel_cols!(),
                    " FROM cancel_requests WHERE cancel_id = $1 FOR UPDATE"
                );
                let found = c.query_opt(sql, &[&cancel_id]).await?;
                let request = cancel_row(&found.ok_or(StoreError::NotFound)?)?;
                let next = request
                    .state
                    .handle(error.is_none())
                    .map_err(|_| StoreError::Conflict(Conflict::AlreadyProcessed))?;
                let error = error.as_deref().map(clean_text);
                let args: [&dyn crate::sql::Param; 5] =
                    [&cancel_id, &request.state.as_str(), &next.as_str(), &error, &now];
                let sql = concat!(
                    "UPDATE cancel_requests SET state = $3, error = $4, updated_at = $5 ",
                    "WHERE cancel_id = $1 AND state = $2 RETURNING ",
                    cancel_cols!()
                );
                let row = c.query_opt(sql, &args).await?;
                cancel_row(&row.ok_or(StoreError::Conflict(Conflict::AlreadyProcessed))?)
            })
            .await
        }

        /// An order's forwarded cancels, oldest first.
        async fn order_cancels(&self, order_id: OrderId) -> StoreResult<Vec<CancelRequest>> {
            self.rd(async move |c| rows(c, ORDER_CANCELS, &[&order_id], cancel_row).await).await
        }
    }
}
