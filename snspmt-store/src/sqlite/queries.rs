//! SQLite statements. `postgres/queries.rs` has the same names in the PostgreSQL dialect.

pub const BALANCE: &str = "SELECT points FROM users WHERE user_id = ?1";
pub const CLAIM_IDEMPOTENCY_KEY: &str =
    "INSERT INTO idempotency_keys (user_id, scope, key, request_hash, created_at) \
    VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING";
pub const IDEMPOTENCY_KEY: &str =
    "SELECT request_hash, response FROM idempotency_keys WHERE user_id = ?1 AND scope = ?2 AND key = ?3";
pub const SAVE_IDEMPOTENCY_RESPONSE: &str =
    "UPDATE idempotency_keys SET response = ?4 WHERE user_id = ?1 AND scope = ?2 AND key = ?3";
pub const EVENT_POSTED: &str = "SELECT EXISTS (SELECT 1 FROM points_ledger WHERE event_ref = ?1)";
pub const MOVE_BALANCE: &str =
    "UPDATE users SET points = points + ?2 WHERE user_id = ?1 AND points + ?2 >= 0 RETURNING points";
pub const INSERT_LEDGER_ENTRY: &str = "INSERT INTO points_ledger \
    (user_id, kind, amount, balance_after, reference, description, event_ref, created_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id";

pub const INSERT_AUDIT: &str =
    "INSERT INTO admin_audit (actor, action, target, detail, created_at) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id";

// --- catalogue --------------------------------------------------------------------------

// --- orders -----------------------------------------------------------------------------

// --- purchases --------------------------------------------------------------------------

macro_rules! purchase_cols {
    () => {
        "purchase_id, user_id, method, amount, price, status, buyer_name, bank_info, ordr_idxx, good_name, \
         pay_method, approval_key, pay_url, trace_no, tno, res_cd, res_msg, approved_amount, decided_by, \
         created_at, updated_at, approving_at, approved_at"
    };
}

pub const INSERT_PURCHASE: &str = "INSERT INTO point_purchases (user_id, method, amount, price, status, \
    buyer_name, bank_info, ordr_idxx, good_name, pay_method, created_at, updated_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11) RETURNING purchase_id";
pub const PURCHASE_BY_ID: &str =
    concat!("SELECT ", purchase_cols!(), " FROM point_purchases WHERE purchase_id = ?1");
pub const PURCHASE_BY_ORDR: &str =
    concat!("SELECT ", purchase_cols!(), " FROM point_purchases WHERE ordr_idxx = ?1");
pub const LIST_PURCHASES: &str = concat!(
    "SELECT ",
    purchase_cols!(),
    " FROM point_purchases WHERE (?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR status = ?2) ",
    "AND (?3 IS NULL OR method = ?3) AND (?4 IS NULL OR status IN ('amount_mismatch', 'approval_unknown') ",
    "OR (status = 'approving' AND approving_at < ?4)) ORDER BY purchase_id DESC LIMIT ?5 OFFSET ?6"
);
pub const COUNT_PURCHASES: &str = "SELECT COUNT(*) FROM point_purchases WHERE (?1 IS NULL OR user_id = ?1) \
    AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR method = ?3) AND (?4 IS NULL OR status IN \
    ('amount_mismatch', 'approval_unknown') OR (status = 'approving' AND approving_at < ?4))";
pub const RECORD_REGISTRATION: &str = "UPDATE point_purchases SET approval_key = ?2, pay_url = ?3, \
    trace_no = ?4, updated_at = ?5 WHERE purchase_id = ?1 AND status = 'kcp_registered' RETURNING purchase_id";
pub const END_REGISTRATION: &str = "UPDATE point_purchases SET status = ?2, res_cd = ?3, res_msg = ?4, \
    updated_at = ?5 WHERE purchase_id = ?1 AND status = 'kcp_registered' RETURNING purchase_id";
pub const DECIDE_BANK_PURCHASE: &str = "UPDATE point_purchases SET status = ?2, decided_by = ?3, \
    updated_at = ?4, approved_at = CASE WHEN ?2 = 'approved' THEN ?4 ELSE NULL END \
    WHERE purchase_id = ?1 AND status = 'pending' AND method = 'bank' RETURNING user_id, amount";
pub const BEGIN_APPROVAL: &str = "UPDATE point_purchases SET status = 'approving', approving_at = ?2, \
    updated_at = ?2 WHERE ordr_idxx = ?1 AND status = 'kcp_registered' RETURNING purchase_id";
pub const SETTLE_APPROVAL: &str = "UPDATE point_purchases SET status = ?2, tno = ?3, approved_amount = ?4, \
    res_cd = ?5, res_msg = ?6, approved_at = ?7, updated_at = ?8 WHERE purchase_id = ?1 AND status = 'approving' \
    RETURNING user_id, amount";

// --- operations -------------------------------------------------------------------------

// --- packages and multi-part orders -------------------------------------------------------

// --- identities and OAuth states ----------------------------------------------------------

// --- notices ------------------------------------------------------------------------------

// --- blog ---------------------------------------------------------------------------------

// --- dashboard ----------------------------------------------------------------------------

// --- referral programme -----------------------------------------------------------------
// Kept until orders/parts are ported; then delete. (Used by `referral.rs`, the hooks of the order code.)
