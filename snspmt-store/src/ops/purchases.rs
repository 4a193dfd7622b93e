//! Point purchases, once for both backends. The core decides every move, credit and ledger
//! text (`snspmt_core::purchase`); the statements apply a move only while the purchase is still
//! in its `from` status, so of concurrent callers exactly one wins.

use snspmt_core::purchase::{
    ApprovalOutcome, ApprovalSettlement, PurchaseMethod, PurchaseStatus, Transition,
};
use snspmt_core::Points;

use super::{insert_audit, one, page, post_in, remember, replay};
use crate::sql::{unique_as, Conn, Param, Row};
use crate::{
    clean_text, Conflict, IdempotencyKey, Idempotent, Millis, NewAudit, NewPurchase, Page, Posting, Purchase,
    PurchaseFilter, PurchaseId, StoreError, StoreResult,
};

macro_rules! purchase_cols {
    () => {
        "purchase_id, user_id, method, amount, price, status, buyer_name, bank_info, ordr_idxx, good_name, \
         pay_method, approval_key, pay_url, trace_no, tno, res_cd, res_msg, approved_amount, decided_by, \
         created_at, updated_at, approving_at, approved_at, \
         (SELECT email FROM users u WHERE u.user_id = point_purchases.user_id)"
    };
}

const INSERT_PURCHASE: &str = "INSERT INTO point_purchases (user_id, method, amount, price, status, \
    buyer_name, bank_info, ordr_idxx, good_name, pay_method, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING purchase_id";
const PURCHASE_BY_ID: &str =
    concat!("SELECT ", purchase_cols!(), " FROM point_purchases WHERE purchase_id = $1");
const PURCHASE_BY_ORDR: &str =
    concat!("SELECT ", purchase_cols!(), " FROM point_purchases WHERE ordr_idxx = $1");
const PURCHASE_PAGE: (&str, &str) = paged!(
    purchase_cols,
    "FROM point_purchases WHERE ($1::text IS NULL OR user_id = $1) AND ($2::text IS NULL OR status = $2) \
    AND ($3::text IS NULL OR method = $3) AND ($4::bigint IS NULL OR status IN ('amount_mismatch', 'approval_unknown') \
    OR (status = 'approving' AND approving_at < $4))",
    "ORDER BY purchase_id DESC LIMIT $5 OFFSET $6"
);
const RECORD_REGISTRATION: &str = "UPDATE point_purchases SET approval_key = $2, pay_url = $3, \
    trace_no = $4, updated_at = $5 WHERE purchase_id = $1 AND status = 'kcp_registered' RETURNING purchase_id";
// The moves: `$2` is the core's `to`, the last parameter its `from` (the concurrency guard).
const END_REGISTRATION: &str = "UPDATE point_purchases SET status = $2, res_cd = $3, res_msg = $4, \
    updated_at = $5 WHERE purchase_id = $1 AND status = $6 RETURNING purchase_id";
const DECIDE_BANK_PURCHASE: &str = "UPDATE point_purchases SET status = $2, decided_by = $3, \
    updated_at = $4, approved_at = $5 WHERE purchase_id = $1 AND status = $6 AND method = 'bank' \
    RETURNING user_id, amount";
const BEGIN_APPROVAL: &str = "UPDATE point_purchases SET status = $2, approving_at = $3, \
    updated_at = $3 WHERE ordr_idxx = $1 AND status = $4 RETURNING purchase_id";
const SETTLE_APPROVAL: &str = "UPDATE point_purchases SET status = $2, tno = $3, approved_amount = $4, \
    res_cd = COALESCE($5, res_cd), res_msg = COALESCE($6, res_msg), approved_at = $7, updated_at = $8, \
    decided_by = $10 WHERE purchase_id = $1 AND status = $9 RETURNING user_id, amount";

row_mapper!(purchase_row -> Purchase {
    purchase_id, user_id, method: parse, amount: Points, price: Won, status: parse, buyer_name, bank_info,
    ordr_idxx, good_name, pay_method, approval_key, pay_url, trace_no, tno, res_cd, res_msg, approved_amount,
    decided_by, created_at, updated_at, approving_at, approved_at, email,
});

async fn purchase_opt<C: Conn>(c: &mut C, id: PurchaseId) -> StoreResult<Option<Purchase>> {
    one(c, PURCHASE_BY_ID, &[&id], purchase_row).await
}

async fn purchase_in<C: Conn>(c: &mut C, id: PurchaseId) -> StoreResult<Purchase> {
    purchase_opt(c, id).await?.ok_or(StoreError::NotFound)
}

/// Why a conditional update did not match: `NotFound`, or `Conflict(Conflict::AlreadyProcessed)`.
async fn not_matched<C: Conn>(c: &mut C, id: PurchaseId) -> StoreError {
    match purchase_in(c, id).await {
        Ok(_) => StoreError::Conflict(Conflict::AlreadyProcessed),
        Err(e) => e,
    }
}

/// Posts what the core credits for purchase `id` (of `user_id`, `amount` points) making move
/// `t`, if anything.
async fn credit<C: Conn>(
    c: &mut C,
    t: Transition,
    id: PurchaseId,
    user_id: String,
    amount: i64,
    now: Millis,
) -> StoreResult<()> {
    let Some(credit) = t.credit(id.0, Points(amount)) else { return Ok(()) };
    let posting = Posting {
        user_id,
        kind: credit.kind,
        amount: credit.amount,
        reference: Some(credit.reference),
        description: credit.description,
        event_ref: Some(credit.event_ref),
        audit: None,
    };
    post_in(c, &posting, now).await.map(drop)
}

/// Runs `sql`, a guarded move of purchase `id`, and reads the purchase back; when the guard
/// does not hold, why not.
async fn moved<C: Conn>(
    c: &mut C,
    id: PurchaseId,
    sql: &'static str,
    args: &[&dyn Param],
) -> StoreResult<Purchase> {
    if c.query_opt(sql, args).await?.is_none() {
        return Err(not_matched(c, id).await);
    }
    purchase_in(c, id).await
}

/// Applies settlement `s` of purchase `id` (KCP's answer, or an operator's decision with its
/// audit row) while it is still in `s.transition.from`.
async fn settle<C: Conn>(
    c: &mut C,
    id: PurchaseId,
    s: &ApprovalSettlement,
    audit: Option<&NewAudit>,
    now: Millis,
) -> StoreResult<Purchase> {
    let t = s.transition;
    let decided_by = audit.map(|a| a.actor.as_str());
    let clean = |v: &Option<String>| v.as_deref().map(clean_text);
    let (tno, code, message) = (clean(&s.tno), clean(&s.res_cd), clean(&s.res_msg));
    let args: [&dyn Param; 10] = [
        &id,
        &t.to.as_str(),
        &tno,
        &s.approved_amount,
        &code,
        &message,
        &s.approved_at,
        &now,
        &t.from.as_str(),
        &decided_by,
    ];
    let row = c
        .query_opt(SETTLE_APPROVAL, &args)
        .await
        .map_err(unique_as(StoreError::Conflict(Conflict::DuplicateTno)))?;
    let Some(row) = row else { return Err(not_matched(c, id).await) };
    credit(c, t, id, row.get(0)?, row.get(1)?, now).await?;
    if let Some(audit) = audit {
        insert_audit(c, audit, now).await?;
    }
    purchase_in(c, id).await
}

store_trait! {
    /// Point purchases: bank transfers and KCP card payments, each credited at most once.
    ///
    /// # Example
    ///
    /// ```
    /// use snspmt_core::purchase::{PurchaseMethod, PurchaseStatus};
    /// use snspmt_core::{Points, Won};
    /// use snspmt_store::{Conflict, LedgerStore, NewPurchase, PurchaseStore, StoreError};
    /// use snspmt_store::Millis;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let store = snspmt_store::testing::example_store(&["kim"]).await?;
    /// # let audit = snspmt_store::testing::example_audit;
    /// let transfer = NewPurchase {
    ///     user_id: "kim".into(),
    ///     method: PurchaseMethod::Bank,
    ///     amount: Points(10_000),
    ///     price: Won(10_000),
    ///     buyer_name: Some("김민수".into()),
    ///     bank_info: None,
    ///     ordr_idxx: None,
    ///     good_name: None,
    ///     pay_method: None,
    /// };
    /// let purchase = store.create_purchase(transfer, None, Millis(1_000)).await?.into_inner();
    /// assert_eq!(purchase.status, PurchaseStatus::Pending);
    /// // The operator approves it once; the approval credits the points in the same transaction.
    /// let approved = store.decide_bank_purchase(purchase.purchase_id, true, audit(), Millis(2_000)).await?;
    /// assert_eq!(approved.status, PurchaseStatus::Approved);
    /// assert_eq!(store.balance("kim").await?, Some(Points(10_000)));
    /// let again = store.decide_bank_purchase(purchase.purchase_id, true, audit(), Millis(3_000)).await;
    /// assert!(matches!(again, Err(StoreError::Conflict(Conflict::AlreadyProcessed))));
    /// # Ok(())
    /// # }
    /// ```
    pub trait PurchaseStore {
        /// Records a purchase. With a key, a repeat answers the purchase as it is now.
        async fn create_purchase(
            &self,
            purchase: NewPurchase,
            key: Option<IdempotencyKey>,
            now: Millis,
        ) -> StoreResult<Idempotent<Purchase>> {
            let p = purchase;
            self.tx(async move |c| {
                if let Some(first) = replay::<_, Purchase>(c, key.as_ref(), now).await? {
                    return Ok(Idempotent::Replay(purchase_in(c, first.purchase_id).await?));
                }
                let status = p.method.initial_status();
                let args: [&dyn Param; 11] = [
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
                ];
                let id: PurchaseId = c
                    .scalar(INSERT_PURCHASE, &args)
                    .await
                    .map_err(unique_as(StoreError::Conflict(Conflict::OrdrIdxxTaken)))?;
                let purchase = purchase_in(c, id).await?;
                remember(c, key.as_ref(), purchase).await
            })
            .await
        }

        async fn purchase(&self, purchase_id: PurchaseId) -> StoreResult<Option<Purchase>> {
            self.rd(async move |c| purchase_opt(c, purchase_id).await).await
        }

        async fn purchase_by_ordr(&self, ordr_idxx: &str) -> StoreResult<Option<Purchase>> {
            let o = ordr_idxx.to_owned();
            self.rd(async move |c| one(c, PURCHASE_BY_ORDR, &[&o], purchase_row).await).await
        }

        /// Newest first.
        async fn purchases(&self, filter: PurchaseFilter) -> StoreResult<Page<Purchase>> {
            self.rd(async move |c| {
                let status = filter.status.map(PurchaseStatus::as_str);
                let method = filter.method.map(PurchaseMethod::as_str);
                let args: [&dyn Param; 4] = [&filter.user_id, &status, &method, &filter.attention_before];
                page(c, PURCHASE_PAGE, &args, filter.limit, filter.offset, purchase_row).await
            })
            .await
        }

        /// KCP accepted the trade registration.
        async fn record_registration(
            &self,
            purchase_id: PurchaseId,
            approval_key: &str,
            pay_url: &str,
            trace_no: &str,
            now: Millis,
        ) -> StoreResult<Purchase> {
            let (k, u, t) = (clean_text(approval_key), clean_text(pay_url), clean_text(trace_no));
            self.tx(async move |c| {
                moved(c, purchase_id, RECORD_REGISTRATION, &[&purchase_id, &k, &u, &t, &now]).await
            })
            .await
        }

        /// A `kcp_registered` purchase ends without an approval: `failed` (registration refused)
        /// or `canceled` (the user canceled at KCP), with KCP's code and message.
        async fn end_registration(
            &self,
            purchase_id: PurchaseId,
            status: PurchaseStatus,
            code: &str,
            message: &str,
            now: Millis,
        ) -> StoreResult<Purchase> {
            let t = Transition::end_registration(status)
                .map_err(|_| StoreError::Conflict(Conflict::InvalidTransition))?;
            let (code, message) = (clean_text(code), clean_text(message));
            self.tx(async move |c| {
                let args: [&dyn Param; 6] =
                    [&purchase_id, &t.to.as_str(), &code, &message, &now, &t.from.as_str()];
                moved(c, purchase_id, END_REGISTRATION, &args).await
            })
            .await
        }

        /// An operator decides a `pending` bank transfer once: approval credits `amount` (ledger
        /// `purchase`) in the same transaction. `Conflict(Conflict::AlreadyProcessed)` after.
        async fn decide_bank_purchase(
            &self,
            purchase_id: PurchaseId,
            approve: bool,
            audit: NewAudit,
            now: Millis,
        ) -> StoreResult<Purchase> {
            let (id, t) = (purchase_id, Transition::bank_decision(approve));
            self.tx(async move |c| {
                let args: [&dyn Param; 6] =
                    [&id, &t.to.as_str(), &audit.actor, &now, &t.approved_at(now), &t.from.as_str()];
                let Some(row) = c.query_opt(DECIDE_BANK_PURCHASE, &args).await? else {
                    return Err(not_matched(c, id).await);
                };
                credit(c, t, id, row.get(0)?, row.get(1)?, now).await?;
                insert_audit(c, &audit, now).await?;
                purchase_in(c, id).await
            })
            .await
        }

        /// `kcp_registered` → `approving`: only one caller wins; `None` for everyone else.
        async fn begin_approval(&self, ordr_idxx: &str, now: Millis) -> StoreResult<Option<Purchase>> {
            let (o, t) = (ordr_idxx.to_owned(), Transition::begin_approval());
            self.tx(async move |c| {
                match c.query_opt(BEGIN_APPROVAL, &[&o, &t.to.as_str(), &now, &t.from.as_str()]).await? {
                    None => Ok(None),
                    Some(r) => Ok(Some(purchase_in(c, r.get(0)?).await?)),
                }
            })
            .await
        }

        /// Settles an `approving` purchase (once): approved (credit in the same transaction, the
        /// `tno` unique), failed, amount mismatch, or unknown.
        async fn settle_approval(
            &self,
            purchase_id: PurchaseId,
            outcome: &ApprovalOutcome,
            now: Millis,
        ) -> StoreResult<Purchase> {
            let s = outcome.settlement(now);
            self.tx(async move |c| settle(c, purchase_id, &s, None, now).await).await
        }

        /// An operator's settlement (decided by `snspmt_core::purchase::operator_settlement`),
        /// applied while the purchase is still in its `from` status, with its audit row: `approved`
        /// credits once (`Conflict(DuplicateTno)` when the `tno` is another purchase's),
        /// `Conflict(AlreadyProcessed)` when someone moved it first.
        async fn settle_by_operator(
            &self,
            purchase_id: PurchaseId,
            settlement: ApprovalSettlement,
            audit: NewAudit,
            now: Millis,
        ) -> StoreResult<Purchase> {
            self.tx(async move |c| settle(c, purchase_id, &settlement, Some(&audit), now).await).await
        }
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use snspmt_core::purchase::{PurchaseMethod, PurchaseStatus};
    use snspmt_core::{Millis, Points, Won};

    use crate::{
        Conflict, Maintenance, NewPurchase, NewUser, PurchaseStore, SqliteStore, StoreError, UserStore,
    };

    #[tokio::test]
    async fn kcp_text_is_cleaned_and_illegal_moves_are_refused() {
        let s = SqliteStore::open_temporary().expect("open");
        s.migrate(Millis(0)).await.expect("migrate");
        let u = NewUser {
            user_id: "u1".into(),
            email: None,
            name: "n".into(),
            display_name: "d".into(),
            password_hash: None,
        };
        s.create_user(u, Millis(0)).await.expect("user");
        let p = NewPurchase {
            user_id: "u1".into(),
            method: PurchaseMethod::Kcp,
            amount: Points(100),
            price: Won(100),
            buyer_name: None,
            bank_info: None,
            ordr_idxx: Some("POINT_X".into()),
            good_name: None,
            pay_method: None,
        };
        let p = s.create_purchase(p, None, Millis(1)).await.expect("create").into_inner();
        let p = s
            .record_registration(p.purchase_id, "k\0ey", "https://pay\u{7}", "T\r1", Millis(2))
            .await
            .expect("reg");
        assert_eq!(
            (p.approval_key.as_deref(), p.pay_url.as_deref(), p.trace_no.as_deref()),
            (Some("key"), Some("https://pay"), Some("T1"))
        );
        for to in [PurchaseStatus::Approved, PurchaseStatus::Approving, PurchaseStatus::Pending] {
            assert!(matches!(
                s.end_registration(p.purchase_id, to, "0000", "x", Millis(3)).await,
                Err(StoreError::Conflict(Conflict::InvalidTransition))
            ));
        }
        let p = s
            .end_registration(
                p.purchase_id,
                PurchaseStatus::Failed,
                "99\u{0}99",
                "bad\u{0}\u{1b} answer\n",
                Millis(4),
            )
            .await
            .expect("end");
        assert_eq!(p.status, PurchaseStatus::Failed);
        assert_eq!((p.res_cd.as_deref(), p.res_msg.as_deref()), (Some("9999"), Some("bad answer\n")));
    }
}
