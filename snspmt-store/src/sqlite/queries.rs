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

macro_rules! service_cols {
    () => {
        "service_id, provider_service_id, name, category, platform, service_type, price_per_1000, \
         min_quantity, max_quantity, dripfeed, refill, cancel, is_active, description, created_at, updated_at"
    };
}

pub const INSERT_SERVICE: &str = concat!(
    "INSERT INTO services (provider_service_id, name, category, platform, service_type, price_per_1000, ",
    "min_quantity, max_quantity, dripfeed, refill, cancel, is_active, description, created_at, updated_at) ",
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14) RETURNING ",
    service_cols!()
);
pub const SERVICE_BY_ID: &str = concat!("SELECT ", service_cols!(), " FROM services WHERE service_id = ?1");
pub const SERVICE_ID_BY_PROVIDER_ID: &str = "SELECT service_id FROM services WHERE provider_service_id = ?1";
pub const LIST_SERVICES: &str = concat!(
    "SELECT ",
    service_cols!(),
    " FROM services WHERE (?1 = FALSE OR is_active) ORDER BY service_id LIMIT ?2 OFFSET ?3"
);
pub const COUNT_SERVICES: &str = "SELECT COUNT(*) FROM services WHERE (?1 = FALSE OR is_active)";
pub const UPDATE_SERVICE: &str = concat!(
    "UPDATE services SET provider_service_id = ?2, name = ?3, category = ?4, platform = ?5, service_type = ?6, ",
    "price_per_1000 = ?7, min_quantity = ?8, max_quantity = ?9, dripfeed = ?10, refill = ?11, cancel = ?12, ",
    "is_active = ?13, description = ?14, updated_at = ?15 WHERE service_id = ?1 RETURNING ",
    service_cols!()
);

// --- orders -----------------------------------------------------------------------------

macro_rules! order_cols {
    () => {
        "order_id, user_id, service_id, service_name, link, quantity, runs, interval_minutes, comments, price, \
         discount_amount, final_price, commission_amount, status, smm_panel_order_id, start_count, remains, \
         charge, refunded_amount, last_status_check, error, created_at, updated_at, scheduled_at"
    };
}

pub const INSERT_ORDER: &str =
    "INSERT INTO orders (user_id, service_id, service_name, link, quantity, runs, \
    interval_minutes, comments, price, discount_amount, final_price, status, created_at, updated_at, scheduled_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, ?14) RETURNING order_id";
pub const INSERT_JOB: &str =
    "INSERT INTO submission_jobs (order_id, part, state, due_at) VALUES (?1, 0, 'due', ?2)";
pub const ORDER_BY_ID: &str = concat!("SELECT ", order_cols!(), " FROM orders WHERE order_id = ?1");
pub const LIST_ORDERS: &str = concat!(
    "SELECT ",
    order_cols!(),
    " FROM orders WHERE (?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR status = ?2) ",
    "ORDER BY order_id DESC LIMIT ?3 OFFSET ?4"
);
pub const COUNT_ORDERS: &str =
    "SELECT COUNT(*) FROM orders WHERE (?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR status = ?2)";
pub const CLAIM_ORDER_JOB: &str = "UPDATE submission_jobs SET state = 'submitting', claimed_at = ?2, \
    attempts = attempts + 1 WHERE order_id = ?1 AND state = 'due' AND due_at <= ?2 RETURNING job_id";
pub const CLAIM_DUE_JOBS: &str = "UPDATE submission_jobs SET state = 'submitting', claimed_at = ?1, \
    attempts = attempts + 1 WHERE state = 'due' AND job_id IN (SELECT job_id FROM submission_jobs \
    WHERE state = 'due' AND due_at <= ?1 ORDER BY due_at, job_id LIMIT ?2) RETURNING job_id";
pub const MARK_JOB_ORDER_SUBMITTING: &str = "UPDATE orders SET status = 'submitting', updated_at = ?2 \
    WHERE order_id = (SELECT order_id FROM submission_jobs WHERE job_id = ?1)";
pub const CLAIMED_JOB: &str = "SELECT j.job_id, j.order_id, j.attempts, s.provider_service_id, s.service_type, \
    o.link, o.quantity, o.runs, o.interval_minutes, o.comments FROM submission_jobs j \
    JOIN orders o ON o.order_id = j.order_id JOIN services s ON s.service_id = o.service_id WHERE j.job_id = ?1";
pub const SETTLE_JOB: &str = "UPDATE submission_jobs SET state = ?2, due_at = COALESCE(?3, due_at), \
    last_error = ?4 WHERE job_id = ?1 AND state = 'submitting' RETURNING order_id";
pub const SET_ORDER_SUBMISSION: &str = "UPDATE orders SET status = ?2, \
    smm_panel_order_id = COALESCE(?3, smm_panel_order_id), error = ?4, updated_at = ?5 WHERE order_id = ?1";
pub const ADD_REFUND: &str =
    "UPDATE orders SET refunded_amount = refunded_amount + ?2 WHERE order_id = ?1 RETURNING refunded_amount";
pub const EXPIRE_JOBS: &str = "UPDATE submission_jobs SET state = 'unknown', \
    last_error = 'the worker never settled this submission' WHERE state = 'submitting' AND claimed_at < ?1 \
    RETURNING order_id";
pub const SET_ORDER_STATUS: &str = "UPDATE orders SET status = ?2, updated_at = ?3 WHERE order_id = ?1";
pub const ORDERS_TO_SYNC: &str = "SELECT order_id, smm_panel_order_id FROM orders \
    WHERE status = 'in_progress' AND smm_panel_order_id IS NOT NULL \
    ORDER BY last_status_check ASC NULLS FIRST, order_id LIMIT ?1";
pub const USER_ORDER_TO_SYNC: &str = "SELECT order_id, smm_panel_order_id FROM orders \
    WHERE order_id = ?1 AND user_id = ?2 AND status = 'in_progress' AND smm_panel_order_id IS NOT NULL";
pub const APPLY_STATUS: &str = "UPDATE orders SET status = ?2, start_count = COALESCE(?3, start_count), \
    remains = COALESCE(?4, remains), charge = COALESCE(?5, charge), last_status_check = ?6, updated_at = ?6 \
    WHERE order_id = ?1 AND status = 'in_progress' RETURNING user_id";
pub const TOUCH_STATUS_CHECK: &str = "UPDATE orders SET last_status_check = ?2 WHERE order_id = ?1";
pub const CANCEL_DUE_JOB: &str =
    "UPDATE submission_jobs SET state = 'canceled' WHERE order_id = ?1 AND state = 'due' RETURNING job_id";
pub const ADMIN_SET_STATUS: &str = "UPDATE orders SET status = ?3, \
    smm_panel_order_id = COALESCE(?4, smm_panel_order_id), updated_at = ?5 WHERE order_id = ?1 AND status = ?2 \
    RETURNING user_id";
pub const SETTLE_UNKNOWN_JOB: &str =
    "UPDATE submission_jobs SET state = ?2 WHERE order_id = ?1 AND state IN ('unknown', 'submitting')";

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

macro_rules! package_cols {
    () => {
        "package_id, name, description, price, steps, is_active, created_at, updated_at"
    };
}

macro_rules! part_cols {
    () => {
        "part_id, order_id, part_index, step_index, repeat_index, name, service_id, quantity, share, \
         delay_minutes, state, due_at, smm_order_id, upstream_status, remains, refunded, outcome, settled_at, \
         last_error"
    };
}

pub const INSERT_PACKAGE: &str = concat!(
    "INSERT INTO packages (name, description, price, steps, is_active, created_at, updated_at) ",
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) RETURNING ",
    package_cols!()
);
pub const PACKAGE_BY_ID: &str = concat!("SELECT ", package_cols!(), " FROM packages WHERE package_id = ?1");
pub const LIST_PACKAGES: &str = concat!(
    "SELECT ",
    package_cols!(),
    " FROM packages WHERE (?1 = FALSE OR is_active) ORDER BY package_id LIMIT ?2 OFFSET ?3"
);
pub const COUNT_PACKAGES: &str = "SELECT COUNT(*) FROM packages WHERE (?1 = FALSE OR is_active)";
pub const UPDATE_PACKAGE: &str = concat!(
    "UPDATE packages SET name = ?2, description = ?3, price = ?4, steps = ?5, is_active = ?6, updated_at = ?7 ",
    "WHERE package_id = ?1 RETURNING ",
    package_cols!()
);
pub const SET_ORDER_PLAN: &str = "UPDATE orders SET package_id = ?2, split_days = ?3 WHERE order_id = ?1";
pub const INSERT_PART: &str = "INSERT INTO order_parts (order_id, part_index, step_index, repeat_index, name, \
    service_id, quantity, share, delay_minutes, state, due_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
pub const ORDER_PARTS: &str =
    concat!("SELECT ", part_cols!(), " FROM order_parts WHERE order_id = ?1 ORDER BY part_index");
pub const START_PARTS: &str = "UPDATE order_parts SET state = 'due', due_at = ?2 WHERE order_id = ?1 \
    AND part_index = 0 AND state = 'waiting'";
pub const CLAIM_DUE_PARTS: &str = "UPDATE order_parts SET state = 'submitting', claimed_at = ?1, \
    attempts = attempts + 1 WHERE state = 'due' AND part_id IN (SELECT p.part_id FROM order_parts p \
    JOIN orders o ON o.order_id = p.order_id WHERE p.state = 'due' AND p.due_at <= ?1 AND (?3 IS NULL \
    OR (?3 = 'package' AND o.package_id IS NOT NULL) OR (?3 = 'split' AND o.split_days IS NOT NULL)) \
    ORDER BY p.due_at, p.part_id LIMIT ?2) RETURNING part_id";
pub const CLAIMED_PART: &str =
    "SELECT p.part_id, p.order_id, p.attempts, s.provider_service_id, s.service_type, \
    o.link, p.quantity FROM order_parts p JOIN orders o ON o.order_id = p.order_id \
    JOIN services s ON s.service_id = p.service_id WHERE p.part_id = ?1";
pub const MARK_ORDER_PROCESSING: &str = "UPDATE orders SET status = 'processing', updated_at = ?2 \
    WHERE order_id = ?1 AND status IN ('pending', 'scheduled')";
pub const SETTLE_PART: &str =
    "UPDATE order_parts SET state = ?2, smm_order_id = COALESCE(?3, smm_order_id), \
    due_at = COALESCE(?4, due_at), last_error = ?5, outcome = ?6, settled_at = ?7 \
    WHERE part_id = ?1 AND state = 'submitting' RETURNING order_id, part_index, share";
pub const ADVANCE_PARTS: &str = "UPDATE order_parts SET state = 'due', due_at = ?3 + delay_minutes * 60000 \
    WHERE order_id = ?1 AND part_index = ?2 + 1 AND state = 'waiting'";
pub const PART_ENDS: &str = "SELECT state, outcome FROM order_parts WHERE order_id = ?1 ORDER BY part_index";
pub const ADD_PART_REFUND: &str =
    "UPDATE order_parts SET refunded = refunded + ?2 WHERE part_id = ?1 RETURNING refunded";
pub const EXPIRE_PARTS: &str = "UPDATE order_parts SET state = 'unknown', settled_at = ?2, \
    last_error = 'the worker never settled this submission' WHERE state = 'submitting' AND claimed_at < ?1 \
    RETURNING order_id, part_index";
pub const PARTS_TO_SYNC: &str = "SELECT part_id, order_id, smm_order_id, share, quantity FROM order_parts \
    WHERE state = 'accepted' AND smm_order_id IS NOT NULL ORDER BY last_status_check ASC NULLS FIRST, part_id \
    LIMIT ?1";
pub const APPLY_PART_STATUS: &str =
    "UPDATE order_parts SET upstream_status = ?2, remains = COALESCE(?3, remains), \
    last_status_check = ?4, state = CASE WHEN ?5 THEN 'ended' ELSE state END, outcome = ?6, \
    settled_at = CASE WHEN ?5 THEN ?4 ELSE settled_at END WHERE part_id = ?1 AND state = 'accepted' \
    RETURNING order_id, part_index, share, refunded";
pub const RESOLVE_PART: &str =
    "UPDATE order_parts SET state = ?3, smm_order_id = COALESCE(?4, smm_order_id), \
    outcome = ?5 WHERE order_id = ?1 AND part_index = ?2 AND state = 'unknown' RETURNING part_id, share";
pub const TOUCH_PART_CHECK: &str = "UPDATE order_parts SET last_status_check = ?2 WHERE part_id = ?1";
pub const REQUEUE_PARTS: &str = "UPDATE order_parts SET state = 'due', due_at = ?1 WHERE state = 'waiting' \
    AND EXISTS (SELECT 1 FROM order_parts prev WHERE prev.order_id = order_parts.order_id \
    AND prev.part_index = order_parts.part_index - 1 AND prev.state IN ('accepted', 'unknown', 'ended') \
    AND prev.settled_at + order_parts.delay_minutes * 60000 <= ?1)";
pub const STUCK_PARTS: &str = concat!(
    "SELECT ",
    part_cols!(),
    " FROM order_parts WHERE state = 'submitting' AND claimed_at < ?1 ORDER BY part_id"
);
// --- identities and OAuth states ----------------------------------------------------------

// --- notices ------------------------------------------------------------------------------

// --- blog ---------------------------------------------------------------------------------

// --- dashboard ----------------------------------------------------------------------------

// --- referral programme -----------------------------------------------------------------
// Kept until orders/parts are ported; then delete. (Used by `referral.rs`, the hooks of the order code.)

pub const REFERRER_FOR_ORDER: &str = "SELECT f.referrer_user_id, r.commission_rate_bps FROM referrals f \
    JOIN referral_codes r ON r.user_id = f.referrer_user_id WHERE f.referred_user_id = ?1 AND r.is_active";
pub const USE_COUPON: &str = "UPDATE user_coupons SET is_used = TRUE, used_order_id = ?3, used_at = ?4 \
    WHERE id = ?1 AND user_id = ?2 AND NOT is_used AND (valid_from IS NULL OR valid_from <= ?4) \
    AND (expires_at IS NULL OR expires_at > ?4) AND min_order_amount <= ?5 AND (coupon_id IS NULL OR \
    coupon_id IN (SELECT coupon_id FROM coupons WHERE is_active AND (valid_from IS NULL OR valid_from <= ?4) \
    AND (valid_until IS NULL OR valid_until > ?4))) RETURNING id";
pub const RETURN_COUPON: &str =
    "UPDATE user_coupons SET is_used = FALSE, used_order_id = NULL, used_at = NULL WHERE used_order_id = ?1";
pub const INSERT_COMMISSION: &str = "INSERT INTO commissions (order_id, referrer_user_id, referred_user_id, \
    purchase_amount, amount, commission_rate_bps, status, created_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7)";
pub const SET_ORDER_COMMISSION: &str = "UPDATE orders SET commission_amount = ?2 WHERE order_id = ?1";
pub const ORDER_SETTLEMENT: &str =
    "SELECT status, final_price, refunded_amount FROM orders WHERE order_id = ?1";
pub const PENDING_COMMISSION: &str =
    "SELECT commission_rate_bps, amount FROM commissions WHERE order_id = ?1 AND status = 'pending'";
pub const SETTLE_COMMISSION: &str = "UPDATE commissions SET status = ?2, amount = ?3, settled_at = ?4 \
    WHERE order_id = ?1 AND status = 'pending' RETURNING referrer_user_id";
pub const EARN_COMMISSION: &str =
    "UPDATE referral_codes SET earned = earned + ?2 WHERE user_id = ?1 RETURNING earned - paid - reserved";
pub const INSERT_COMMISSION_ENTRY: &str = "INSERT INTO commission_ledger (user_id, kind, amount, \
    balance_after, reference, description, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id";
