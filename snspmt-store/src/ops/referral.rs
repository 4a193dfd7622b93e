//! The referral programme and coupons, once for both backends. The core decides every movement
//! of a referrer's commission book ([`CommissionBook`]: earn, reserve, pay, apply a decision), its
//! ledger entry ([`referral::entries`]) and every withdrawal decision ([`referral::Withdrawal`]);
//! an operation here locks the book row (`FOR UPDATE` on PostgreSQL, so a concurrent movement of
//! the same referrer waits and then reads the new book; SQLite has one writer), asks the core and
//! writes what it answered. No interleaving can overdraw a referrer.

use snspmt_core::referral::{
    self, entries, BookEntry, BookError, CommissionBook, CommissionStatus, WithdrawalInput, WithdrawalState,
};
use snspmt_core::{money, Bps, Points};

use super::{audited, insert_audit, one, page, remember, replay};
use crate::sql::{unique_as, Conn, Param, Row};
use crate::{
    Commission, CommissionEntry, Conflict, Coupon, IdempotencyKey, Idempotent, Millis, NewAudit, NewCoupon,
    NewWithdrawal, Page, Payout, Referral, ReferralStats, Referrer, StoreError, StoreResult, UserCoupon,
    Withdrawal, WithdrawalFilter, WithdrawalId,
};

macro_rules! referrer_cols {
    () => {
        "r.user_id, u.email, r.code, r.commission_rate_bps, r.is_active, r.earned, r.paid, r.reserved, \
         (SELECT COUNT(*) FROM referrals f WHERE f.code = r.code)::bigint, r.created_at, u.name \
         FROM referral_codes r JOIN users u ON u.user_id = r.user_id"
    };
}

macro_rules! coupon_cols {
    () => {
        "coupon_id, code, name, discount_type, discount_value, min_order_amount, valid_from, valid_until, \
         max_uses, issued_count, is_active, created_at, updated_at"
    };
}

macro_rules! user_coupon_cols {
    () => {
        "c.id, c.user_id, c.coupon_id, c.source, c.code, c.name, c.discount_type, c.discount_value, \
         c.min_order_amount, c.valid_from, c.expires_at, COALESCE(d.is_active, TRUE), c.is_used, \
         c.used_order_id, c.created_at FROM user_coupons c LEFT JOIN coupons d ON d.coupon_id = c.coupon_id"
    };
}

macro_rules! commission_cols {
    () => {
        "commission_id, order_id, referrer_user_id, referred_user_id, purchase_amount, amount, \
         commission_rate_bps, status, created_at, settled_at"
    };
}

macro_rules! withdrawal_cols {
    () => {
        "withdrawal_id, user_id, amount, bank_name, account_number, account_holder, status, admin_notes, \
         decided_by, created_at, decided_at"
    };
}

macro_rules! payout_cols {
    () => {
        "payout_id, user_id, amount, kind, withdrawal_id, notes, paid_by, created_at"
    };
}

const INSERT_REFERRAL_CODE: &str = "INSERT INTO referral_codes (code, user_id, commission_rate_bps, \
    created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
const REFERRER_BY_USER: &str = concat!("SELECT ", referrer_cols!(), " WHERE r.user_id = $1");
const REFERRER_BY_CODE: &str = concat!("SELECT ", referrer_cols!(), " WHERE r.code = $1");
const LIST_REFERRERS: &str =
    concat!("SELECT ", referrer_cols!(), " ORDER BY r.created_at DESC, r.user_id LIMIT $1 OFFSET $2");
const COUNT_REFERRERS: &str = "SELECT COUNT(*) FROM referral_codes";
const SET_COMMISSION_RATE: &str =
    "UPDATE referral_codes SET commission_rate_bps = $2 WHERE user_id = $1 RETURNING code";
const ACTIVE_CODE_OWNER: &str = "SELECT user_id FROM referral_codes WHERE code = $1 AND is_active";
const REFERRAL_OF: &str = "SELECT code, coupon_id FROM referrals WHERE referred_user_id = $1";
const INSERT_REFERRAL: &str = "INSERT INTO referrals (referred_user_id, referrer_user_id, code, created_at) \
    VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING referred_user_id";
const SET_REFERRAL_COUPON: &str = "UPDATE referrals SET coupon_id = $2 WHERE referred_user_id = $1";
const INSERT_USER_COUPON: &str = "INSERT INTO user_coupons (user_id, coupon_id, source, code, name, \
    discount_type, discount_value, min_order_amount, valid_from, expires_at, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id";
const USER_COUPON_BY_ID: &str = concat!("SELECT ", user_coupon_cols!(), " WHERE c.id = $1");
const LIST_USER_COUPONS: &str =
    concat!("SELECT ", user_coupon_cols!(), " WHERE c.user_id = $1 ORDER BY c.id DESC LIMIT $2 OFFSET $3");
const COUNT_USER_COUPONS: &str = "SELECT COUNT(*) FROM user_coupons WHERE user_id = $1";
const REFERRER_FOR_ORDER: &str = concat!("SELECT f.referrer_user_id, r.commission_rate_bps ", referrer_of!());
const USE_COUPON: &str = "UPDATE user_coupons SET is_used = TRUE, used_order_id = $3, used_at = $4 \
    WHERE id = $1 AND user_id = $2 AND NOT is_used AND (valid_from IS NULL OR valid_from <= $4) \
    AND (expires_at IS NULL OR expires_at > $4) AND min_order_amount <= $5 AND (coupon_id IS NULL OR \
    coupon_id IN (SELECT coupon_id FROM coupons WHERE is_active AND (valid_from IS NULL OR valid_from <= $4) \
    AND (valid_until IS NULL OR valid_until > $4))) RETURNING id";
const RETURN_COUPON: &str =
    "UPDATE user_coupons SET is_used = FALSE, used_order_id = NULL, used_at = NULL WHERE used_order_id = $1";
const INSERT_COMMISSION: &str = "INSERT INTO commissions (order_id, referrer_user_id, referred_user_id, \
    purchase_amount, amount, commission_rate_bps, status, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7)";
const SET_ORDER_COMMISSION: &str = "UPDATE orders SET commission_amount = $2 WHERE order_id = $1";
const PENDING_COMMISSION: &str =
    "SELECT commission_rate_bps, amount FROM commissions WHERE order_id = $1 AND status = 'pending'";
const SETTLE_COMMISSION: &str = "UPDATE commissions SET status = $2, amount = $3, settled_at = $4 \
    WHERE order_id = $1 AND status = 'pending' RETURNING referrer_user_id";
const BOOK_FOR_UPDATE: &str =
    "SELECT earned, paid, reserved FROM referral_codes WHERE user_id = $1 FOR UPDATE";
const SET_BOOK: &str = "UPDATE referral_codes SET earned = $2, paid = $3, reserved = $4 WHERE user_id = $1";
const INSERT_COMMISSION_ENTRY: &str = "INSERT INTO commission_ledger (user_id, kind, amount, \
    balance_after, reference, description, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
const COMMISSION_ENTRIES: &str = "SELECT id, user_id, kind, amount, balance_after, reference, \
    description, created_at FROM commission_ledger WHERE user_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3";
const COUNT_COMMISSION_ENTRIES: &str = "SELECT COUNT(*) FROM commission_ledger WHERE user_id = $1";
const COMMISSION_PAGE: (&str, &str) = paged!(
    commission_cols,
    "FROM commissions WHERE referrer_user_id = $1",
    "ORDER BY commission_id DESC LIMIT $2 OFFSET $3"
);
const REFERRAL_STATS: &str = "SELECT \
    (SELECT COUNT(*) FROM referrals WHERE referrer_user_id = $1), \
    (SELECT COUNT(DISTINCT referred_user_id) FROM commissions WHERE referrer_user_id = $1 AND status <> 'canceled'), \
    (SELECT COUNT(*) FROM referrals WHERE referrer_user_id = $1 AND created_at >= $2), \
    (SELECT COALESCE(SUM(amount), 0)::bigint FROM commissions WHERE referrer_user_id = $1 \
     AND status IN ('confirmed', 'reduced') AND settled_at >= $2)";
const LIST_REFERRALS: &str = "SELECT f.referred_user_id, u.email, f.referrer_user_id, f.code, f.created_at, \
    (SELECT COUNT(*) FROM commissions c WHERE c.referred_user_id = f.referred_user_id \
     AND c.referrer_user_id = f.referrer_user_id), \
    (SELECT COALESCE(SUM(c.amount), 0)::bigint FROM commissions c WHERE c.referred_user_id = f.referred_user_id \
     AND c.referrer_user_id = f.referrer_user_id AND c.status IN ('confirmed', 'reduced')) \
    FROM referrals f JOIN users u ON u.user_id = f.referred_user_id \
    WHERE ($1::text IS NULL OR f.referrer_user_id = $1) ORDER BY f.created_at DESC, f.referred_user_id LIMIT $2 OFFSET $3";
const COUNT_REFERRALS: &str =
    "SELECT COUNT(*) FROM referrals WHERE ($1::text IS NULL OR referrer_user_id = $1)";
const INSERT_WITHDRAWAL: &str = concat!(
    "INSERT INTO withdrawals (user_id, amount, bank_name, account_number, account_holder, status, created_at) ",
    "VALUES ($1, $2, $3, $4, $5, 'requested', $6) RETURNING ",
    withdrawal_cols!()
);
const WITHDRAWAL_PAGE: (&str, &str) = paged!(
    withdrawal_cols,
    "FROM withdrawals WHERE ($1::text IS NULL OR user_id = $1) AND ($2::text IS NULL OR status = $2)",
    "ORDER BY withdrawal_id DESC LIMIT $3 OFFSET $4"
);
const WITHDRAWAL_FOR_UPDATE: &str =
    "SELECT status, amount FROM withdrawals WHERE withdrawal_id = $1 FOR UPDATE";
const DECIDE_WITHDRAWAL: &str = concat!(
    "UPDATE withdrawals SET status = $2, admin_notes = $3, decided_by = $4, decided_at = $5 ",
    "WHERE withdrawal_id = $1 AND status = 'requested' RETURNING ",
    withdrawal_cols!()
);
const INSERT_PAYOUT: &str = concat!(
    "INSERT INTO commission_payouts (user_id, amount, kind, withdrawal_id, notes, paid_by, created_at) ",
    "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
    payout_cols!()
);
const PAYOUT_PAGE: (&str, &str) = paged!(
    payout_cols,
    "FROM commission_payouts WHERE ($1::text IS NULL OR user_id = $1)",
    "ORDER BY payout_id DESC LIMIT $2 OFFSET $3"
);

const INSERT_COUPON: &str = concat!(
    "INSERT INTO coupons (code, name, discount_type, discount_value, min_order_amount, valid_from, valid_until, ",
    "max_uses, is_active, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING ",
    coupon_cols!()
);
const COUPON_BY_ID: &str = concat!("SELECT ", coupon_cols!(), " FROM coupons WHERE coupon_id = $1");
const COUPON_BY_CODE: &str = concat!("SELECT ", coupon_cols!(), " FROM coupons WHERE code = $1");
const LIST_COUPONS: &str =
    concat!("SELECT ", coupon_cols!(), " FROM coupons ORDER BY coupon_id DESC LIMIT $1 OFFSET $2");
const COUNT_COUPONS: &str = "SELECT COUNT(*) FROM coupons";
const UPDATE_COUPON: &str = concat!(
    "UPDATE coupons SET code = $1, name = $2, discount_type = $3, discount_value = $4, min_order_amount = $5, ",
    "valid_from = $6, valid_until = $7, max_uses = $8, is_active = $9, updated_at = $10 WHERE coupon_id = $11 ",
    "RETURNING ",
    coupon_cols!()
);
const DEACTIVATE_COUPON: &str = concat!(
    "UPDATE coupons SET is_active = FALSE, updated_at = $2 WHERE coupon_id = $1 RETURNING ",
    coupon_cols!()
);
const ISSUE_COUPON: &str = "UPDATE coupons SET issued_count = issued_count + 1 \
    WHERE coupon_id = $1 AND (max_uses IS NULL OR issued_count < max_uses) RETURNING coupon_id";
const HAS_COUPON_COPY: &str =
    "SELECT EXISTS (SELECT 1 FROM user_coupons WHERE coupon_id = $1 AND user_id = $2)";

fn rate(v: i64) -> StoreResult<Bps> {
    u32::try_from(v).map(Bps).map_err(|e| StoreError::Backend(format!("rate: {e}")))
}

fn money_err(e: money::MoneyError) -> StoreError {
    StoreError::Backend(format!("commission: {e}"))
}

row_mapper!(referrer_row -> Referrer {
    user_id, email, code, commission_rate: rate, is_active, earned: Points, paid: Points, reserved: Points,
    referral_count, created_at, name,
});
row_mapper!(coupon_row -> Coupon {
    coupon_id, code, name, discount_type: parse, discount_value, min_order_amount: Points, valid_from,
    valid_until, max_uses, issued_count, is_active, created_at, updated_at,
});
row_mapper!(user_coupon_row -> UserCoupon {
    id, user_id, coupon_id, source, code, name, discount_type: parse, discount_value,
    min_order_amount: Points, valid_from, expires_at, is_active, is_used, used_order_id, created_at,
});
row_mapper!(commission_row -> Commission {
    commission_id, order_id, referrer_user_id, referred_user_id, purchase_amount: Points, amount: Points,
    rate: rate, status: parse, created_at, settled_at,
});
row_mapper!(entry_row -> CommissionEntry {
    id, user_id, kind, amount: Points, balance_after: Points, reference, description, created_at,
});
row_mapper!(withdrawal_row -> Withdrawal {
    withdrawal_id, user_id, amount: Points, bank_name, account_number, account_holder, status: parse,
    admin_notes, decided_by, created_at, decided_at,
});
row_mapper!(payout_row -> Payout {
    payout_id, user_id, amount: Points, kind, withdrawal_id, notes, paid_by, created_at,
});
row_mapper!(stats_row -> ReferralStats {
    total_referrals, active_referrals, this_month_referrals, this_month_commission: Points,
});
row_mapper!(book_row -> CommissionBook { earned: Points, paid: Points, reserved: Points });
row_mapper!(referral_row -> Referral {
    referred_user_id, referred_email, referrer_user_id, code, joined_at, order_count, commission: Points,
});

/// The core's refusal of a movement of the book, as the store's error codes.
fn refused(e: BookError) -> StoreError {
    match e {
        BookError::NotPositive | BookError::ExceedsBalance { .. } => {
            StoreError::Conflict(Conflict::InsufficientCommission)
        }
        BookError::BelowMinimum => StoreError::Conflict(Conflict::InvalidAmount),
        BookError::ExceedsReserved => StoreError::Backend("a withdrawal's reservation is missing".into()),
        BookError::Money(e) => money_err(e),
    }
}

/// A referrer's commission book, locked until the transaction ends; `None` for a non-referrer.
async fn book_in<C: Conn>(c: &mut C, user_id: &str) -> StoreResult<Option<CommissionBook>> {
    one(c, BOOK_FOR_UPDATE, &[&user_id], book_row).await
}

/// Writes the book the core moved from `before` to `after`, and appends the movement (the change
/// of the balance) to the commission ledger as `entry`.
async fn write_book<C: Conn>(
    c: &mut C,
    user_id: &str,
    (before, after): (CommissionBook, CommissionBook),
    entry: BookEntry,
    now: Millis,
) -> StoreResult<()> {
    let (amount, balance) = (before.moved(&after).map_err(money_err)?, after.balance().map_err(money_err)?);
    c.execute(SET_BOOK, &[&user_id, &after.earned.0, &after.paid.0, &after.reserved.0]).await?;
    let BookEntry { kind, reference, description } = entry;
    let args: [&dyn Param; 7] =
        [&user_id, &kind, &amount.0, &balance.0, &Some(reference), &description, &now];
    c.query_one(INSERT_COMMISSION_ENTRY, &args).await?;
    Ok(())
}

async fn insert_user_coupon<C: Conn>(c: &mut C, u: &UserCoupon, now: Millis) -> StoreResult<i64> {
    let args: [&dyn Param; 11] = [
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
    ];
    // A concurrent `add_coupon_by_code` of the same user and coupon (PostgreSQL) lost the race.
    c.scalar(INSERT_USER_COUPON, &args)
        .await
        .map_err(unique_as(StoreError::Conflict(Conflict::CouponAlreadyAdded)))
}

async fn user_coupon_in<C: Conn>(c: &mut C, id: i64) -> StoreResult<UserCoupon> {
    one(c, USER_COUPON_BY_ID, &[&id], user_coupon_row).await?.ok_or(StoreError::NotFound)
}

async fn referrer_in<C: Conn>(c: &mut C, user_id: &str) -> StoreResult<Option<Referrer>> {
    one(c, REFERRER_BY_USER, &[&user_id], referrer_row).await
}

/// In `place_order`'s transaction: marks the caller's coupon copy used by this order (else
/// `Conflict(Conflict::InvalidCoupon)`, and the whole order rolls back), and records the pending
/// commission of the user's referrer at the referrer's rate now. Answers that commission (0
/// when the user has no active referrer).
pub(crate) async fn referral_on_order<C: Conn>(
    c: &mut C,
    order_id: crate::OrderId,
    user_id: &str,
    coupon_id: Option<i64>,
    price: Points,
    final_price: Points,
    now: Millis,
) -> StoreResult<Points> {
    if let Some(coupon) = coupon_id {
        if c.query_opt(USE_COUPON, &[&coupon, &user_id, &order_id, &now, &price.0]).await?.is_none() {
            return Err(StoreError::Conflict(Conflict::InvalidCoupon));
        }
    }
    if let Some(row) = c.query_opt(REFERRER_FOR_ORDER, &[&user_id]).await? {
        let referrer: String = row.get(0)?;
        let bps: i64 = row.get(1)?;
        let amount = money::commission(final_price, rate(bps)?).map_err(money_err)?;
        c.execute(
            INSERT_COMMISSION,
            &[&order_id, &referrer, &user_id, &final_price.0, &amount.0, &bps, &now],
        )
        .await?;
        c.execute(SET_ORDER_COMMISSION, &[&order_id, &amount.0]).await?;
        return Ok(amount);
    }
    Ok(Points(0))
}

/// In the transaction of any refund or settlement of an order: brings its pending commission
/// in line with the order (reduced by refunds, confirmed on completion, canceled on a full
/// refund — once), credits an earned commission to the referrer's balance, and gives the
/// coupon back when a failed or canceled order was refunded in full. `order` is the order as
/// this transaction left it; answers it with its commission as brought in line.
pub(crate) async fn referral_on_settlement<C: Conn>(
    c: &mut C,
    mut order: crate::Order,
    now: Millis,
) -> StoreResult<crate::Order> {
    let (order_id, status, final_price, refunded) =
        (order.order_id, order.status, order.final_price, order.refunded_amount);
    if referral::returns_coupon(status, final_price, refunded) {
        c.execute(RETURN_COUPON, &[&order_id]).await?;
    }
    let Some(row) = c.query_opt(PENDING_COMMISSION, &[&order_id]).await? else { return Ok(order) };
    let (bps, current): (i64, i64) = (row.get(0)?, row.get(1)?);
    let s = referral::commission_settlement(status, final_price, refunded, rate(bps)?).map_err(money_err)?;
    if s.status == CommissionStatus::Pending && s.amount.0 == current {
        return Ok(order);
    }
    let settled_at = (s.status != CommissionStatus::Pending).then_some(now);
    let referrer: String =
        c.scalar(SETTLE_COMMISSION, &[&order_id, &s.status.as_str(), &s.amount.0, &settled_at]).await?;
    c.execute(SET_ORDER_COMMISSION, &[&order_id, &s.amount.0]).await?;
    order.commission_amount = s.amount;
    if s.status.is_earned() && s.amount.0 > 0 {
        let before = book_in(c, &referrer).await?.ok_or(StoreError::NotFound)?;
        let after = before.earn(s.amount).map_err(refused)?;
        write_book(c, &referrer, (before, after), entries::commission(order_id.0, s.status), now).await?;
    }
    Ok(order)
}

/// Creates a coupon (`id` is `None`) or rewrites coupon `id`. Audited.
async fn save_coupon<C: Conn>(
    c: &mut C,
    id: Option<i64>,
    n: &NewCoupon,
    audit: &NewAudit,
    now: Millis,
) -> StoreResult<Coupon> {
    let kind = n.discount_type.as_str();
    let args: [&dyn Param; 11] = [
        &n.code,
        &n.name,
        &kind,
        &n.discount_value,
        &n.min_order_amount.0,
        &n.valid_from,
        &n.valid_until,
        &n.max_uses,
        &n.is_active,
        &now,
        &id,
    ];
    let found = match id {
        None => c.query_opt(INSERT_COUPON, &args[..10]).await,
        Some(_) => c.query_opt(UPDATE_COUPON, &args).await,
    };
    let coupon = coupon_row(
        &found
            .map_err(unique_as(StoreError::Conflict(Conflict::CouponCodeTaken)))?
            .ok_or(StoreError::NotFound)?,
    )?;
    audited(c, audit, now, coupon).await
}

store_trait! {
    /// Coupons: the operator's definitions and users' one-use copies.
    ///
    /// # Example
    ///
    /// ```
    /// use snspmt_core::referral::DiscountType;
    /// use snspmt_core::Points;
    /// use snspmt_store::{CouponStore, NewCoupon};
    /// use snspmt_store::Millis;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let store = snspmt_store::testing::example_store(&["kim"]).await?;
    /// # let audit = snspmt_store::testing::example_audit;
    /// let welcome = NewCoupon {
    ///     code: "WELCOME".into(),
    ///     name: "10 % off".into(),
    ///     discount_type: DiscountType::Percentage,
    ///     discount_value: 10,
    ///     min_order_amount: Points(0),
    ///     valid_from: None,
    ///     valid_until: None,
    ///     max_uses: Some(100),
    ///     is_active: true,
    /// };
    /// let coupon = store.create_coupon(welcome, audit(), Millis(1_000)).await?;
    /// let copy = store.add_coupon_by_code("kim", "WELCOME", Millis(2_000)).await?;
    /// assert_eq!(copy.coupon_id, Some(coupon.coupon_id));
    /// // One copy per user.
    /// assert!(store.add_coupon_by_code("kim", "WELCOME", Millis(3_000)).await.is_err());
    /// assert_eq!(store.user_coupons("kim", 0, 0).await?.rows, [copy]);
    /// # Ok(())
    /// # }
    /// ```
    pub trait CouponStore {
        /// `Conflict(Conflict::CouponCodeTaken)` when the code exists.
        async fn create_coupon(
            &self,
            coupon: NewCoupon,
            audit: NewAudit,
            now: Millis,
        ) -> StoreResult<Coupon> {
            self.tx(async move |c| save_coupon(c, None, &coupon, &audit, now).await).await
        }

        async fn coupon(&self, coupon_id: i64) -> StoreResult<Option<Coupon>> {
            self.rd(async move |c| one(c, COUPON_BY_ID, &[&coupon_id], coupon_row).await).await
        }

        /// Newest first.
        async fn coupons(&self, limit: i64, offset: i64) -> StoreResult<Page<Coupon>> {
            let sql = (LIST_COUPONS, COUNT_COUPONS);
            self.rd(async move |c| page(c, sql, &[], limit, offset, coupon_row).await).await
        }

        /// Replaces the fields of a coupon (copies already handed out keep their terms).
        async fn update_coupon(
            &self,
            coupon_id: i64,
            coupon: NewCoupon,
            audit: NewAudit,
            now: Millis,
        ) -> StoreResult<Coupon> {
            self.tx(async move |c| save_coupon(c, Some(coupon_id), &coupon, &audit, now).await).await
        }

        /// Withdraws a coupon: its unused copies stop applying.
        async fn deactivate_coupon(
            &self,
            coupon_id: i64,
            audit: NewAudit,
            now: Millis,
        ) -> StoreResult<Coupon> {
            self.tx(async move |c| {
                let coupon = one(c, DEACTIVATE_COUPON, &[&coupon_id, &now], coupon_row).await?;
                audited(c, &audit, now, coupon.ok_or(StoreError::NotFound)?).await
            })
            .await
        }

        /// Gives `user_id` a copy of the coupon with this code, once, within `max_uses`:
        /// `Conflict("invalid_coupon" | "coupon_already_added" | "coupon_exhausted")`.
        async fn add_coupon_by_code(
            &self,
            user_id: &str,
            code: &str,
            now: Millis,
        ) -> StoreResult<UserCoupon> {
            let (user_id, code) = (user_id.to_owned(), code.to_owned());
            self.tx(async move |c| {
                let coupon = one(c, COUPON_BY_CODE, &[&code], coupon_row)
                    .await?
                    .filter(|c| c.is_active && c.valid_until.is_none_or(|u| now < u))
                    .ok_or(StoreError::Conflict(Conflict::InvalidCoupon))?;
                if c.scalar::<bool>(HAS_COUPON_COPY, &[&coupon.coupon_id, &user_id]).await? {
                    return Err(StoreError::Conflict(Conflict::CouponAlreadyAdded));
                }
                if c.query_opt(ISSUE_COUPON, &[&coupon.coupon_id]).await?.is_none() {
                    return Err(StoreError::Conflict(Conflict::CouponExhausted));
                }
                let id =
                    insert_user_coupon(c, &crate::model::coupon_copy(&coupon, &user_id, now), now).await?;
                user_coupon_in(c, id).await
            })
            .await
        }

        async fn user_coupon(&self, id: i64) -> StoreResult<Option<UserCoupon>> {
            self.rd(async move |c| one(c, USER_COUPON_BY_ID, &[&id], user_coupon_row).await).await
        }

        /// A user's copies, newest first.
        async fn user_coupons(
            &self,
            user_id: &str,
            limit: i64,
            offset: i64,
        ) -> StoreResult<Page<UserCoupon>> {
            let (id, sql) = (user_id.to_owned(), (LIST_USER_COUPONS, COUNT_USER_COUPONS));
            self.rd(async move |c| page(c, sql, &[&id], limit, offset, user_coupon_row).await).await
        }
    }
}

store_trait! {
    /// The referral programme: codes, referrals, commissions, withdrawals and payouts. A
    /// referrer's balance (`earned − paid − reserved`) moves only as the core's
    /// `referral::CommissionBook` decides, on the book row locked for the transaction, so it never
    /// goes below zero.
    ///
    /// # Example
    ///
    /// ```
    /// use snspmt_core::Bps;
    /// use snspmt_store::ReferralStore;
    /// use snspmt_store::Millis;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let store = snspmt_store::testing::example_store(&["kim", "lee"]).await?;
    /// # let audit = snspmt_store::testing::example_audit;
    /// // The caller draws the code (`snspmt_core::referral::referral_code`).
    /// let code = "REFABCDEFGH";
    /// let kim = store.register_referrer("kim", code, Bps::DEFAULT_COMMISSION, audit(), Millis(1_000)).await?;
    /// assert_eq!(kim.map(|r| r.code).as_deref(), Some(code));
    /// assert_eq!(store.referrer_by_code(code).await?.map(|r| r.user_id).as_deref(), Some("kim"));
    /// // The code is taken: another user draws another.
    /// let lee = store.register_referrer("lee", code, Bps::DEFAULT_COMMISSION, audit(), Millis(2_000)).await?;
    /// assert!(lee.is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub trait ReferralStore {
        /// Makes `user_id` a referrer with `code`, or answers their existing code. `None` when
        /// `code` belongs to someone else already (draw another). Audited.
        async fn register_referrer(
            &self,
            user_id: &str,
            code: &str,
            rate: Bps,
            audit: NewAudit,
            now: Millis,
        ) -> StoreResult<Option<Referrer>> {
            let (user_id, code) = (user_id.to_owned(), code.to_owned());
            self.tx(async move |c| {
                let rate = i64::from(rate.0);
                let inserted = c.execute(INSERT_REFERRAL_CODE, &[&code, &user_id, &rate, &now]).await?;
                let referrer = referrer_in(c, &user_id).await?;
                if inserted == 1 {
                    insert_audit(c, &audit, now).await?;
                    // The user's referral code is part of their session's user.
                    c.note(crate::Change::User(user_id));
                }
                Ok(referrer)
            })
            .await
        }

        async fn referrer(&self, user_id: &str) -> StoreResult<Option<Referrer>> {
            let id = user_id.to_owned();
            self.rd(async move |c| referrer_in(c, &id).await).await
        }

        async fn referrer_by_code(&self, code: &str) -> StoreResult<Option<Referrer>> {
            let code = code.to_owned();
            self.rd(async move |c| one(c, REFERRER_BY_CODE, &[&code], referrer_row).await).await
        }

        /// Newest first.
        async fn referrers(&self, limit: i64, offset: i64) -> StoreResult<Page<Referrer>> {
            let sql = (LIST_REFERRERS, COUNT_REFERRERS);
            self.rd(async move |c| page(c, sql, &[], limit, offset, referrer_row).await).await
        }

        /// `user_id` becomes referred by the owner of `code` and receives the referral coupon
        /// (`coupon` terms, owner and id filled in here), in one transaction. Repeating the same
        /// code answers the same coupon. `Conflict("invalid_code" | "self_referral" |
        /// "already_referred")`.
        async fn use_referral_code(
            &self,
            user_id: &str,
            code: &str,
            coupon: UserCoupon,
            now: Millis,
        ) -> StoreResult<UserCoupon> {
            let (user_id, code) = (user_id.to_owned(), code.to_owned());
            self.tx(async move |c| {
                let owner: Option<String> =
                    c.query_opt(ACTIVE_CODE_OWNER, &[&code]).await?.map(|r| r.get(0)).transpose()?;
                let inserted = match &owner {
                    Some(owner) if *owner != user_id => {
                        c.query_opt(INSERT_REFERRAL, &[&user_id, owner, &code, &now]).await?.is_some()
                    }
                    _ => false,
                };
                if !inserted {
                    // Referred already (perhaps a moment ago by a concurrent call: on PostgreSQL
                    // the insert waited for it), or the code is unusable.
                    if let Some(row) = c.query_opt(REFERRAL_OF, &[&user_id]).await? {
                        let (used, coupon_id): (String, Option<i64>) = (row.get(0)?, row.get(1)?);
                        return match coupon_id {
                            Some(id) if used == code => user_coupon_in(c, id).await,
                            _ => Err(StoreError::Conflict(Conflict::AlreadyReferred)),
                        };
                    }
                    return Err(StoreError::Conflict(match owner {
                        None => Conflict::InvalidCode,
                        Some(_) => Conflict::SelfReferral,
                    }));
                }
                let id =
                    insert_user_coupon(c, &UserCoupon { user_id: user_id.clone(), ..coupon }, now).await?;
                c.execute(SET_REFERRAL_COUPON, &[&user_id, &id]).await?;
                user_coupon_in(c, id).await
            })
            .await
        }

        /// Changes a referrer's rate for later orders. Audited. `NotFound` for a non-referrer.
        async fn set_commission_rate(
            &self,
            user_id: &str,
            rate: Bps,
            audit: NewAudit,
            now: Millis,
        ) -> StoreResult<Referrer> {
            let id = user_id.to_owned();
            self.tx(async move |c| {
                let rate = i64::from(rate.0);
                c.query_opt(SET_COMMISSION_RATE, &[&id, &rate]).await?.ok_or(StoreError::NotFound)?;
                insert_audit(c, &audit, now).await?;
                referrer_in(c, &id).await?.ok_or(StoreError::NotFound)
            })
            .await
        }

        /// A referrer's commissions, newest first.
        async fn commissions(
            &self,
            referrer: &str,
            limit: i64,
            offset: i64,
        ) -> StoreResult<Page<Commission>> {
            let id = referrer.to_owned();
            self.rd(async move |c| page(c, COMMISSION_PAGE, &[&id], limit, offset, commission_row).await)
                .await
        }

        /// A referrer's balance movements, newest first.
        async fn commission_entries(
            &self,
            user_id: &str,
            limit: i64,
            offset: i64,
        ) -> StoreResult<Page<CommissionEntry>> {
            let (id, sql) = (user_id.to_owned(), (COMMISSION_ENTRIES, COUNT_COMMISSION_ENTRIES));
            self.rd(async move |c| page(c, sql, &[&id], limit, offset, entry_row).await).await
        }

        /// Counts for a referrer; "this month" starts at `month_start`.
        async fn referral_stats(&self, referrer: &str, month_start: Millis) -> StoreResult<ReferralStats> {
            let id = referrer.to_owned();
            self.rd(async move |c| stats_row(&c.query_one(REFERRAL_STATS, &[&id, &month_start]).await?)).await
        }

        /// Referred users (of one referrer, or all), newest first.
        async fn referrals(
            &self,
            referrer: Option<&str>,
            limit: i64,
            offset: i64,
        ) -> StoreResult<Page<Referral>> {
            let (id, sql) = (referrer.map(str::to_owned), (LIST_REFERRALS, COUNT_REFERRALS));
            self.rd(async move |c| page(c, sql, &[&id], limit, offset, referral_row).await).await
        }

        /// Reserves `amount` of the balance and records the request, in one transaction.
        /// `Conflict(Conflict::InsufficientCommission)` when the balance is short (nothing changes).
        async fn request_withdrawal(
            &self,
            withdrawal: NewWithdrawal,
            key: Option<IdempotencyKey>,
            now: Millis,
        ) -> StoreResult<Idempotent<Withdrawal>> {
            let w = withdrawal;
            self.tx(async move |c| {
                if let Some(first) = replay(c, key.as_ref(), now).await? {
                    return Ok(Idempotent::Replay(first));
                }
                let before = book_in(c, &w.user_id).await?;
                let before = before.ok_or(StoreError::Conflict(Conflict::InsufficientCommission))?;
                let after = before.reserve(w.amount).map_err(refused)?;
                let args: [&dyn Param; 6] =
                    [&w.user_id, &w.amount.0, &w.bank_name, &w.account_number, &w.account_holder, &now];
                let row = withdrawal_row(&c.query_one(INSERT_WITHDRAWAL, &args).await?)?;
                let entry = referral::Withdrawal::requested(w.amount).entry(row.withdrawal_id.0);
                write_book(c, &w.user_id, (before, after), entry, now).await?;
                remember(c, key.as_ref(), row).await
            })
            .await
        }

        async fn withdrawals(&self, filter: WithdrawalFilter) -> StoreResult<Page<Withdrawal>> {
            self.rd(async move |c| {
                let status = filter.status.map(WithdrawalState::as_str);
                let args: [&dyn Param; 2] = [&filter.user_id, &status];
                page(c, WITHDRAWAL_PAGE, &args, filter.limit, filter.offset, withdrawal_row).await
            })
            .await
        }

        /// Decides a `requested` withdrawal once: approval pays the reserved amount (a payout),
        /// rejection releases it. Audited. `Conflict(Conflict::AlreadyProcessed)` after.
        async fn decide_withdrawal(
            &self,
            withdrawal_id: WithdrawalId,
            approve: bool,
            notes: Option<String>,
            audit: NewAudit,
            now: Millis,
        ) -> StoreResult<Withdrawal> {
            let id = withdrawal_id;
            self.tx(async move |c| {
                let row = c.query_opt(WITHDRAWAL_FOR_UPDATE, &[&id]).await?.ok_or(StoreError::NotFound)?;
                let mut w = referral::Withdrawal { state: row.parse(0)?, amount: Points(row.get(1)?) };
                let input = if approve { WithdrawalInput::Approve } else { WithdrawalInput::Reject };
                let effects =
                    w.handle(input).map_err(|_| StoreError::Conflict(Conflict::AlreadyProcessed))?;
                // The race guard: only a request still `requested` is decided.
                let args: [&dyn Param; 5] = [&id, &w.state.as_str(), &notes, &audit.actor, &now];
                let row = c
                    .query_opt(DECIDE_WITHDRAWAL, &args)
                    .await?
                    .ok_or(StoreError::Conflict(Conflict::AlreadyProcessed))?;
                let decided = withdrawal_row(&row)?;
                let user = decided.user_id.as_str();
                let before = book_in(c, user).await?.ok_or_else(|| refused(BookError::ExceedsReserved))?;
                let after = before.apply(effects).map_err(refused)?;
                if effects.pay > Points::ZERO {
                    let args: [&dyn Param; 7] =
                        [&user, &effects.pay.0, &"withdrawal", &Some(id), &notes, &audit.actor, &now];
                    c.query_one(INSERT_PAYOUT, &args).await?;
                }
                write_book(c, user, (before, after), w.entry(id.0), now).await?;
                audited(c, &audit, now, decided).await
            })
            .await
        }

        /// A manual payout of `amount` (> 0, ≤ balance). Audited.
        /// `Conflict(Conflict::InsufficientCommission)` when the balance is short.
        async fn pay_commission(
            &self,
            user_id: &str,
            amount: Points,
            notes: Option<String>,
            audit: NewAudit,
            now: Millis,
        ) -> StoreResult<Payout> {
            let id = user_id.to_owned();
            self.tx(async move |c| {
                let before =
                    book_in(c, &id).await?.ok_or(StoreError::Conflict(Conflict::InsufficientCommission))?;
                let after = before.pay(amount).map_err(refused)?;
                let args: [&dyn Param; 7] =
                    [&id, &amount.0, &"manual", &None::<WithdrawalId>, &notes, &audit.actor, &now];
                let payout = payout_row(&c.query_one(INSERT_PAYOUT, &args).await?)?;
                write_book(c, &id, (before, after), entries::payout(payout.payout_id.0), now).await?;
                audited(c, &audit, now, payout).await
            })
            .await
        }

        /// Payouts (of one user, or all), newest first.
        async fn payouts(&self, user_id: Option<&str>, limit: i64, offset: i64) -> StoreResult<Page<Payout>> {
            let id = user_id.map(str::to_owned);
            self.rd(async move |c| page(c, PAYOUT_PAGE, &[&id], limit, offset, payout_row).await).await
        }
    }
}
