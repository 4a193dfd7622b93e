//! PostgreSQL statements. `sqlite/queries.rs` has the same names in the SQLite dialect.

macro_rules! user_cols {
    () => {
        "user_id, email, name, display_name, is_admin, points, password_hash IS NOT NULL, created_at"
    };
}

pub const USER_ID_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM users WHERE user_id = $1)";
pub const INSERT_USER: &str = concat!(
    "INSERT INTO users (user_id, email, name, display_name, password_hash, created_at) ",
    "VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
    user_cols!()
);

pub const BALANCE: &str = "SELECT points FROM users WHERE user_id = $1";
pub const CLAIM_IDEMPOTENCY_KEY: &str =
    "INSERT INTO idempotency_keys (user_id, scope, key, request_hash, created_at) \
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING";
pub const IDEMPOTENCY_KEY: &str =
    "SELECT request_hash, response FROM idempotency_keys WHERE user_id = $1 AND scope = $2 AND key = $3";
pub const SAVE_IDEMPOTENCY_RESPONSE: &str =
    "UPDATE idempotency_keys SET response = $4 WHERE user_id = $1 AND scope = $2 AND key = $3";
pub const EVENT_POSTED: &str = "SELECT EXISTS (SELECT 1 FROM points_ledger WHERE event_ref = $1)";
pub const MOVE_BALANCE: &str =
    "UPDATE users SET points = points + $2 WHERE user_id = $1 AND points + $2 >= 0 RETURNING points";
pub const INSERT_LEDGER_ENTRY: &str = "INSERT INTO points_ledger \
    (user_id, kind, amount, balance_after, reference, description, event_ref, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";

pub const INSERT_AUDIT: &str =
    "INSERT INTO admin_audit (actor, action, target, detail, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id";

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
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING ",
    service_cols!()
);
pub const SERVICE_BY_ID: &str = concat!("SELECT ", service_cols!(), " FROM services WHERE service_id = $1");
pub const SERVICE_ID_BY_PROVIDER_ID: &str = "SELECT service_id FROM services WHERE provider_service_id = $1";
pub const LIST_SERVICES: &str = concat!(
    "SELECT ",
    service_cols!(),
    " FROM services WHERE ($1 = FALSE OR is_active) ORDER BY service_id LIMIT $2 OFFSET $3"
);
pub const COUNT_SERVICES: &str = "SELECT COUNT(*) FROM services WHERE ($1 = FALSE OR is_active)";
pub const UPDATE_SERVICE: &str = concat!(
    "UPDATE services SET provider_service_id = $2, name = $3, category = $4, platform = $5, service_type = $6, ",
    "price_per_1000 = $7, min_quantity = $8, max_quantity = $9, dripfeed = $10, refill = $11, cancel = $12, ",
    "is_active = $13, description = $14, updated_at = $15 WHERE service_id = $1 RETURNING ",
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
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14) RETURNING order_id";
pub const INSERT_JOB: &str =
    "INSERT INTO submission_jobs (order_id, part, state, due_at) VALUES ($1, 0, 'due', $2)";
pub const ORDER_BY_ID: &str = concat!("SELECT ", order_cols!(), " FROM orders WHERE order_id = $1");
pub const LIST_ORDERS: &str = concat!(
    "SELECT ",
    order_cols!(),
    " FROM orders WHERE ($1::text IS NULL OR user_id = $1) AND ($2::text IS NULL OR status = $2) ",
    "ORDER BY order_id DESC LIMIT $3 OFFSET $4"
);
pub const COUNT_ORDERS: &str =
    "SELECT COUNT(*) FROM orders WHERE ($1::text IS NULL OR user_id = $1) AND ($2::text IS NULL OR status = $2)";
pub const CLAIM_ORDER_JOB: &str = "UPDATE submission_jobs SET state = 'submitting', claimed_at = $2, \
    attempts = attempts + 1 WHERE order_id = $1 AND state = 'due' AND due_at <= $2 RETURNING job_id";
pub const CLAIM_DUE_JOBS: &str = "UPDATE submission_jobs SET state = 'submitting', claimed_at = $1, \
    attempts = attempts + 1 WHERE state = 'due' AND job_id IN (SELECT job_id FROM submission_jobs \
    WHERE state = 'due' AND due_at <= $1 ORDER BY due_at, job_id LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING job_id";
pub const MARK_JOB_ORDER_SUBMITTING: &str = "UPDATE orders SET status = 'submitting', updated_at = $2 \
    WHERE order_id = (SELECT order_id FROM submission_jobs WHERE job_id = $1)";
pub const CLAIMED_JOB: &str = "SELECT j.job_id, j.order_id, j.attempts, s.provider_service_id, s.service_type, \
    o.link, o.quantity, o.runs, o.interval_minutes, o.comments FROM submission_jobs j \
    JOIN orders o ON o.order_id = j.order_id JOIN services s ON s.service_id = o.service_id WHERE j.job_id = $1";
pub const SETTLE_JOB: &str = "UPDATE submission_jobs SET state = $2, due_at = COALESCE($3, due_at), \
    last_error = $4 WHERE job_id = $1 AND state = 'submitting' RETURNING order_id";
pub const SET_ORDER_SUBMISSION: &str = "UPDATE orders SET status = $2, \
    smm_panel_order_id = COALESCE($3, smm_panel_order_id), error = $4, updated_at = $5 WHERE order_id = $1";
pub const ADD_REFUND: &str =
    "UPDATE orders SET refunded_amount = refunded_amount + $2 WHERE order_id = $1 RETURNING refunded_amount";
pub const EXPIRE_JOBS: &str = "UPDATE submission_jobs SET state = 'unknown', \
    last_error = 'the worker never settled this submission' WHERE state = 'submitting' AND claimed_at < $1 \
    RETURNING order_id";
pub const SET_ORDER_STATUS: &str = "UPDATE orders SET status = $2, updated_at = $3 WHERE order_id = $1";
pub const ORDERS_TO_SYNC: &str = "SELECT order_id, smm_panel_order_id FROM orders \
    WHERE status = 'in_progress' AND smm_panel_order_id IS NOT NULL \
    ORDER BY last_status_check ASC NULLS FIRST, order_id LIMIT $1";
pub const USER_ORDER_TO_SYNC: &str = "SELECT order_id, smm_panel_order_id FROM orders \
    WHERE order_id = $1 AND user_id = $2 AND status = 'in_progress' AND smm_panel_order_id IS NOT NULL";
pub const APPLY_STATUS: &str = "UPDATE orders SET status = $2, start_count = COALESCE($3, start_count), \
    remains = COALESCE($4, remains), charge = COALESCE($5, charge), last_status_check = $6, updated_at = $6 \
    WHERE order_id = $1 AND status = 'in_progress' RETURNING user_id";
pub const TOUCH_STATUS_CHECK: &str = "UPDATE orders SET last_status_check = $2 WHERE order_id = $1";
pub const CANCEL_DUE_JOB: &str =
    "UPDATE submission_jobs SET state = 'canceled' WHERE order_id = $1 AND state = 'due' RETURNING job_id";
pub const ADMIN_SET_STATUS: &str = "UPDATE orders SET status = $3, \
    smm_panel_order_id = COALESCE($4, smm_panel_order_id), updated_at = $5 WHERE order_id = $1 AND status = $2 \
    RETURNING user_id";
pub const SETTLE_UNKNOWN_JOB: &str =
    "UPDATE submission_jobs SET state = $2 WHERE order_id = $1 AND state IN ('unknown', 'submitting')";

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
    "VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING ",
    package_cols!()
);
pub const PACKAGE_BY_ID: &str = concat!("SELECT ", package_cols!(), " FROM packages WHERE package_id = $1");
pub const LIST_PACKAGES: &str = concat!(
    "SELECT ",
    package_cols!(),
    " FROM packages WHERE ($1 = FALSE OR is_active) ORDER BY package_id LIMIT $2 OFFSET $3"
);
pub const COUNT_PACKAGES: &str = "SELECT COUNT(*) FROM packages WHERE ($1 = FALSE OR is_active)";
pub const UPDATE_PACKAGE: &str = concat!(
    "UPDATE packages SET name = $2, description = $3, price = $4, steps = $5, is_active = $6, updated_at = $7 ",
    "WHERE package_id = $1 RETURNING ",
    package_cols!()
);
pub const SET_ORDER_PLAN: &str = "UPDATE orders SET package_id = $2, split_days = $3 WHERE order_id = $1";
pub const INSERT_PART: &str = "INSERT INTO order_parts (order_id, part_index, step_index, repeat_index, name, \
    service_id, quantity, share, delay_minutes, state, due_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
pub const ORDER_PARTS: &str =
    concat!("SELECT ", part_cols!(), " FROM order_parts WHERE order_id = $1 ORDER BY part_index");
pub const START_PARTS: &str = "UPDATE order_parts SET state = 'due', due_at = $2 WHERE order_id = $1 \
    AND part_index = 0 AND state = 'waiting'";
pub const CLAIM_DUE_PARTS: &str = "UPDATE order_parts SET state = 'submitting', claimed_at = $1, \
    attempts = attempts + 1 WHERE state = 'due' AND part_id IN (SELECT p.part_id FROM order_parts p \
    JOIN orders o ON o.order_id = p.order_id WHERE p.state = 'due' AND p.due_at <= $1 AND ($3::text IS NULL \
    OR ($3 = 'package' AND o.package_id IS NOT NULL) OR ($3 = 'split' AND o.split_days IS NOT NULL)) \
    ORDER BY p.due_at, p.part_id LIMIT $2 FOR UPDATE OF p SKIP LOCKED) RETURNING part_id";
pub const CLAIMED_PART: &str =
    "SELECT p.part_id, p.order_id, p.attempts, s.provider_service_id, s.service_type, \
    o.link, p.quantity FROM order_parts p JOIN orders o ON o.order_id = p.order_id \
    JOIN services s ON s.service_id = p.service_id WHERE p.part_id = $1";
pub const MARK_ORDER_PROCESSING: &str = "UPDATE orders SET status = 'processing', updated_at = $2 \
    WHERE order_id = $1 AND status IN ('pending', 'scheduled')";
pub const SETTLE_PART: &str =
    "UPDATE order_parts SET state = $2, smm_order_id = COALESCE($3, smm_order_id), \
    due_at = COALESCE($4, due_at), last_error = $5, outcome = $6, settled_at = $7 \
    WHERE part_id = $1 AND state = 'submitting' RETURNING order_id, part_index, share";
pub const ADVANCE_PARTS: &str =
    "UPDATE order_parts SET state = 'due', due_at = $3::bigint + delay_minutes * 60000 \
    WHERE order_id = $1 AND part_index = $2::bigint + 1 AND state = 'waiting'";
pub const PART_ENDS: &str = "SELECT state, outcome FROM order_parts WHERE order_id = $1 ORDER BY part_index";
pub const ADD_PART_REFUND: &str =
    "UPDATE order_parts SET refunded = refunded + $2 WHERE part_id = $1 RETURNING refunded";
pub const EXPIRE_PARTS: &str = "UPDATE order_parts SET state = 'unknown', settled_at = $2, \
    last_error = 'the worker never settled this submission' WHERE state = 'submitting' AND claimed_at < $1 \
    RETURNING order_id, part_index";
pub const PARTS_TO_SYNC: &str = "SELECT part_id, order_id, smm_order_id, share, quantity FROM order_parts \
    WHERE state = 'accepted' AND smm_order_id IS NOT NULL ORDER BY last_status_check ASC NULLS FIRST, part_id \
    LIMIT $1";
pub const APPLY_PART_STATUS: &str =
    "UPDATE order_parts SET upstream_status = $2, remains = COALESCE($3, remains), \
    last_status_check = $4, state = CASE WHEN $5 THEN 'ended' ELSE state END, outcome = $6, \
    settled_at = CASE WHEN $5 THEN $4 ELSE settled_at END WHERE part_id = $1 AND state = 'accepted' \
    RETURNING order_id, part_index, share, refunded";
pub const RESOLVE_PART: &str =
    "UPDATE order_parts SET state = $3, smm_order_id = COALESCE($4, smm_order_id), \
    outcome = $5 WHERE order_id = $1 AND part_index = $2 AND state = 'unknown' RETURNING part_id, share";
pub const TOUCH_PART_CHECK: &str = "UPDATE order_parts SET last_status_check = $2 WHERE part_id = $1";
pub const REQUEUE_PARTS: &str = "UPDATE order_parts SET state = 'due', due_at = $1 WHERE state = 'waiting' \
    AND EXISTS (SELECT 1 FROM order_parts prev WHERE prev.order_id = order_parts.order_id \
    AND prev.part_index = order_parts.part_index - 1 AND prev.state IN ('accepted', 'unknown', 'ended') \
    AND prev.settled_at + order_parts.delay_minutes * 60000 <= $1)";
pub const STUCK_PARTS: &str = concat!(
    "SELECT ",
    part_cols!(),
    " FROM order_parts WHERE state = 'submitting' AND claimed_at < $1 ORDER BY part_id"
);
// --- identities and OAuth states ----------------------------------------------------------

pub const IDENTITY_USER: &str = "SELECT u.user_id, u.email, u.name, u.display_name, u.is_admin, u.points, \
    u.password_hash IS NOT NULL, u.created_at FROM user_identities i JOIN users u ON u.user_id = i.user_id \
    WHERE i.provider = $1 AND i.subject = $2";
pub const USER_BY_EMAIL: &str = concat!("SELECT ", user_cols!(), " FROM users WHERE email = $1");
pub const PROVIDER_LINKED: &str =
    "SELECT EXISTS (SELECT 1 FROM user_identities WHERE provider = $1 AND user_id = $2)";
pub const INSERT_IDENTITY: &str =
    "INSERT INTO user_identities (provider, subject, user_id, created_at) VALUES ($1, $2, $3, $4)";
pub const DELETE_EXPIRED_OAUTH_STATES: &str = "DELETE FROM oauth_states WHERE expires_at <= $1";
pub const INSERT_OAUTH_STATE: &str =
    "INSERT INTO oauth_states (state_hash, provider, created_at, expires_at) VALUES ($1, $2, $3, $4)";
pub const CONSUME_OAUTH_STATE: &str =
    "DELETE FROM oauth_states WHERE state_hash = $1 AND provider = $2 AND expires_at > $3";

// --- notices ------------------------------------------------------------------------------

macro_rules! notice_cols {
    () => {
        "notice_id, title, content, image_url, popup_type, is_active, starts_at, ends_at, created_at, updated_at"
    };
}

pub const INSERT_NOTICE: &str = concat!(
    "INSERT INTO notices (title, content, image_url, popup_type, is_active, starts_at, ends_at, created_at, ",
    "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING ",
    notice_cols!()
);
pub const UPDATE_NOTICE: &str = concat!(
    "UPDATE notices SET title = $2, content = $3, image_url = $4, popup_type = $5, is_active = $6, ",
    "starts_at = $7, ends_at = $8, updated_at = $9 WHERE notice_id = $1 RETURNING ",
    notice_cols!()
);
pub const DELETE_NOTICE: &str = "DELETE FROM notices WHERE notice_id = $1";
pub const NOTICE_BY_ID: &str = concat!("SELECT ", notice_cols!(), " FROM notices WHERE notice_id = $1");
pub const LIST_NOTICES: &str =
    concat!("SELECT ", notice_cols!(), " FROM notices ORDER BY notice_id DESC LIMIT $1 OFFSET $2");
pub const COUNT_NOTICES: &str = "SELECT COUNT(*) FROM notices";
pub const ACTIVE_NOTICES: &str = concat!(
    "SELECT ",
    notice_cols!(),
    " FROM notices WHERE is_active AND (starts_at IS NULL OR starts_at <= $1) ",
    "AND (ends_at IS NULL OR ends_at > $1) ORDER BY notice_id DESC"
);

// --- blog ---------------------------------------------------------------------------------

macro_rules! post_cols {
    () => {
        "post_id, title, content, excerpt, category, tags, thumbnail_url, is_published, view_count, \
         created_at, updated_at, published_at"
    };
}

pub const INSERT_POST: &str = "INSERT INTO blog_posts (title, content, excerpt, category, tags, \
    thumbnail_url, is_published, created_at, updated_at, published_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, CASE WHEN $7::boolean THEN $8::bigint ELSE NULL END) RETURNING post_id";
pub const UPDATE_POST: &str = "UPDATE blog_posts SET title = $2, content = $3, excerpt = $4, category = $5, \
    tags = $6, thumbnail_url = $7, is_published = $8, updated_at = $9, \
    published_at = CASE WHEN $8::boolean THEN COALESCE(published_at, $9::bigint) ELSE published_at END \
    WHERE post_id = $1 RETURNING post_id";
pub const DELETE_POST_TAGS: &str = "DELETE FROM blog_post_tags WHERE post_id = $1";
pub const INSERT_POST_TAG: &str = "INSERT INTO blog_post_tags (post_id, tag) VALUES ($1, $2)";
pub const DELETE_POST: &str = "DELETE FROM blog_posts WHERE post_id = $1";
pub const POST_BY_ID: &str = concat!("SELECT ", post_cols!(), " FROM blog_posts WHERE post_id = $1");
pub const VIEW_POST: &str = concat!(
    "UPDATE blog_posts SET view_count = view_count + 1 WHERE post_id = $1 AND is_published RETURNING ",
    post_cols!()
);
pub const LIST_POSTS: &str = concat!(
    "SELECT ",
    post_cols!(),
    " FROM blog_posts WHERE ($1 = FALSE OR is_published) AND ($2::text IS NULL OR title ILIKE $2 ESCAPE '\\' ",
    "OR excerpt ILIKE $2 ESCAPE '\\' OR content ILIKE $2 ESCAPE '\\') AND ($3::text IS NULL OR category = $3) ",
    "AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM blog_post_tags t WHERE t.post_id = blog_posts.post_id ",
    "AND t.tag = $4)) ORDER BY post_id DESC LIMIT $5 OFFSET $6"
);
pub const COUNT_POSTS: &str = "SELECT COUNT(*) FROM blog_posts WHERE ($1 = FALSE OR is_published) \
    AND ($2::text IS NULL OR title ILIKE $2 ESCAPE '\\' OR excerpt ILIKE $2 ESCAPE '\\' OR content ILIKE $2 ESCAPE '\\') \
    AND ($3::text IS NULL OR category = $3) AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM blog_post_tags t \
    WHERE t.post_id = blog_posts.post_id AND t.tag = $4))";
pub const BLOG_CATEGORIES: &str = "SELECT category, COUNT(*) FROM blog_posts \
    WHERE is_published AND category <> '' GROUP BY category ORDER BY category";
pub const BLOG_TAGS: &str = "SELECT t.tag, COUNT(*) FROM blog_post_tags t \
    JOIN blog_posts p ON p.post_id = t.post_id WHERE p.is_published GROUP BY t.tag ORDER BY t.tag";

// --- dashboard ----------------------------------------------------------------------------

pub const DASHBOARD_STATS: &str = "SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM orders), \
    (SELECT COALESCE(-SUM(amount), 0)::bigint FROM points_ledger WHERE kind IN ('order_charge', 'order_refund')), \
    (SELECT COUNT(*) FROM point_purchases WHERE status = 'pending'), \
    (SELECT COUNT(*) FROM orders WHERE created_at >= $1::bigint), \
    (SELECT COALESCE(-SUM(amount), 0)::bigint FROM points_ledger \
        WHERE kind IN ('order_charge', 'order_refund') AND created_at >= $1), \
    (SELECT COALESCE(-SUM(amount), 0)::bigint FROM points_ledger \
        WHERE kind IN ('order_charge', 'order_refund') AND created_at >= $2::bigint)";

// --- referral programme -----------------------------------------------------------------

macro_rules! referrer_cols {
    () => {
        "r.user_id, u.email, r.code, r.commission_rate_bps, r.is_active, r.earned, r.paid, r.reserved, \
         (SELECT COUNT(*) FROM referrals f WHERE f.code = r.code)::bigint, r.created_at \
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

pub const INSERT_REFERRAL_CODE: &str = "INSERT INTO referral_codes (code, user_id, commission_rate_bps, \
    created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
pub const REFERRER_BY_USER: &str = concat!("SELECT ", referrer_cols!(), " WHERE r.user_id = $1");
pub const REFERRER_BY_CODE: &str = concat!("SELECT ", referrer_cols!(), " WHERE r.code = $1");
pub const LIST_REFERRERS: &str =
    concat!("SELECT ", referrer_cols!(), " ORDER BY r.created_at DESC, r.user_id LIMIT $1 OFFSET $2");
pub const COUNT_REFERRERS: &str = "SELECT COUNT(*) FROM referral_codes";
pub const SET_COMMISSION_RATE: &str =
    "UPDATE referral_codes SET commission_rate_bps = $2 WHERE user_id = $1 RETURNING code";
pub const ACTIVE_CODE_OWNER: &str = "SELECT user_id FROM referral_codes WHERE code = $1 AND is_active";
pub const REFERRAL_OF: &str = "SELECT code, coupon_id FROM referrals WHERE referred_user_id = $1";
pub const INSERT_REFERRAL: &str =
    "INSERT INTO referrals (referred_user_id, referrer_user_id, code, created_at) \
    VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING referred_user_id";
pub const SET_REFERRAL_COUPON: &str = "UPDATE referrals SET coupon_id = $2 WHERE referred_user_id = $1";
pub const INSERT_USER_COUPON: &str = "INSERT INTO user_coupons (user_id, coupon_id, source, code, name, \
    discount_type, discount_value, min_order_amount, valid_from, expires_at, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id";
pub const USER_COUPON_BY_ID: &str = concat!("SELECT ", user_coupon_cols!(), " WHERE c.id = $1");
pub const LIST_USER_COUPONS: &str =
    concat!("SELECT ", user_coupon_cols!(), " WHERE c.user_id = $1 ORDER BY c.id DESC LIMIT $2 OFFSET $3");
pub const COUNT_USER_COUPONS: &str = "SELECT COUNT(*) FROM user_coupons WHERE user_id = $1";
pub const REFERRER_FOR_ORDER: &str = "SELECT f.referrer_user_id, r.commission_rate_bps FROM referrals f \
    JOIN referral_codes r ON r.user_id = f.referrer_user_id WHERE f.referred_user_id = $1 AND r.is_active";
pub const USE_COUPON: &str = "UPDATE user_coupons SET is_used = TRUE, used_order_id = $3, used_at = $4 \
    WHERE id = $1 AND user_id = $2 AND NOT is_used AND (valid_from IS NULL OR valid_from <= $4) \
    AND (expires_at IS NULL OR expires_at > $4) AND min_order_amount <= $5 AND (coupon_id IS NULL OR \
    coupon_id IN (SELECT coupon_id FROM coupons WHERE is_active AND (valid_from IS NULL OR valid_from <= $4) \
    AND (valid_until IS NULL OR valid_until > $4))) RETURNING id";
pub const RETURN_COUPON: &str =
    "UPDATE user_coupons SET is_used = FALSE, used_order_id = NULL, used_at = NULL WHERE used_order_id = $1";
pub const INSERT_COMMISSION: &str = "INSERT INTO commissions (order_id, referrer_user_id, referred_user_id, \
    purchase_amount, amount, commission_rate_bps, status, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7)";
pub const SET_ORDER_COMMISSION: &str = "UPDATE orders SET commission_amount = $2 WHERE order_id = $1";
pub const ORDER_SETTLEMENT: &str =
    "SELECT status, final_price, refunded_amount FROM orders WHERE order_id = $1";
pub const PENDING_COMMISSION: &str =
    "SELECT commission_rate_bps, amount FROM commissions WHERE order_id = $1 AND status = 'pending'";
pub const SETTLE_COMMISSION: &str = "UPDATE commissions SET status = $2, amount = $3, settled_at = $4 \
    WHERE order_id = $1 AND status = 'pending' RETURNING referrer_user_id";
pub const EARN_COMMISSION: &str =
    "UPDATE referral_codes SET earned = earned + $2 WHERE user_id = $1 RETURNING earned - paid - reserved";
pub const INSERT_COMMISSION_ENTRY: &str = "INSERT INTO commission_ledger (user_id, kind, amount, \
    balance_after, reference, description, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
pub const COMMISSION_ENTRIES: &str = "SELECT id, user_id, kind, amount, balance_after, reference, \
    description, created_at FROM commission_ledger WHERE user_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3";
pub const COUNT_COMMISSION_ENTRIES: &str = "SELECT COUNT(*) FROM commission_ledger WHERE user_id = $1";
pub const LIST_COMMISSIONS: &str = concat!(
    "SELECT ",
    commission_cols!(),
    " FROM commissions WHERE referrer_user_id = $1 ORDER BY commission_id DESC LIMIT $2 OFFSET $3"
);
pub const COUNT_COMMISSIONS: &str = "SELECT COUNT(*) FROM commissions WHERE referrer_user_id = $1";
pub const REFERRAL_STATS: &str = "SELECT \
    (SELECT COUNT(*) FROM referrals WHERE referrer_user_id = $1), \
    (SELECT COUNT(DISTINCT referred_user_id) FROM commissions WHERE referrer_user_id = $1 AND status <> 'canceled'), \
    (SELECT COUNT(*) FROM referrals WHERE referrer_user_id = $1 AND created_at >= $2), \
    (SELECT COALESCE(SUM(amount), 0)::bigint FROM commissions WHERE referrer_user_id = $1 \
     AND status IN ('confirmed', 'reduced') AND settled_at >= $2)";
pub const LIST_REFERRALS: &str = "SELECT f.referred_user_id, u.email, f.referrer_user_id, f.code, f.created_at, \
    (SELECT COUNT(*) FROM commissions c WHERE c.referred_user_id = f.referred_user_id \
     AND c.referrer_user_id = f.referrer_user_id), \
    (SELECT COALESCE(SUM(c.amount), 0)::bigint FROM commissions c WHERE c.referred_user_id = f.referred_user_id \
     AND c.referrer_user_id = f.referrer_user_id AND c.status IN ('confirmed', 'reduced')) \
    FROM referrals f JOIN users u ON u.user_id = f.referred_user_id \
    WHERE ($1::text IS NULL OR f.referrer_user_id = $1) ORDER BY f.created_at DESC, f.referred_user_id LIMIT $2 OFFSET $3";
pub const COUNT_REFERRALS: &str =
    "SELECT COUNT(*) FROM referrals WHERE ($1::text IS NULL OR referrer_user_id = $1)";
pub const RESERVE_COMMISSION: &str = "UPDATE referral_codes SET reserved = reserved + $2 \
    WHERE user_id = $1 AND earned - paid - reserved >= $2 RETURNING earned - paid - reserved";
pub const SETTLE_RESERVATION: &str =
    "UPDATE referral_codes SET reserved = reserved - $2::bigint - $3::bigint, paid = paid + $3::bigint \
    WHERE user_id = $1 AND reserved >= $2::bigint + $3::bigint RETURNING earned - paid - reserved";
pub const PAY_COMMISSION: &str = "UPDATE referral_codes SET paid = paid + $2 \
    WHERE user_id = $1 AND earned - paid - reserved >= $2 RETURNING earned - paid - reserved";
pub const INSERT_WITHDRAWAL: &str = concat!(
    "INSERT INTO withdrawals (user_id, amount, bank_name, account_number, account_holder, status, created_at) ",
    "VALUES ($1, $2, $3, $4, $5, 'requested', $6) RETURNING ",
    withdrawal_cols!()
);
pub const LIST_WITHDRAWALS: &str = concat!(
    "SELECT ",
    withdrawal_cols!(),
    " FROM withdrawals WHERE ($1::text IS NULL OR user_id = $1) AND ($2::text IS NULL OR status = $2) ",
    "ORDER BY withdrawal_id DESC LIMIT $3 OFFSET $4"
);
pub const COUNT_WITHDRAWALS: &str =
    "SELECT COUNT(*) FROM withdrawals WHERE ($1::text IS NULL OR user_id = $1) AND ($2::text IS NULL OR status = $2)";
pub const WITHDRAWAL_BY_ID: &str =
    concat!("SELECT ", withdrawal_cols!(), " FROM withdrawals WHERE withdrawal_id = $1");
pub const DECIDE_WITHDRAWAL: &str = concat!(
    "UPDATE withdrawals SET status = $2, admin_notes = $3, decided_by = $4, decided_at = $5 ",
    "WHERE withdrawal_id = $1 AND status = 'requested' RETURNING ",
    withdrawal_cols!()
);
pub const INSERT_PAYOUT: &str = concat!(
    "INSERT INTO commission_payouts (user_id, amount, kind, withdrawal_id, notes, paid_by, created_at) ",
    "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
    payout_cols!()
);
pub const LIST_PAYOUTS: &str = concat!(
    "SELECT ",
    payout_cols!(),
    " FROM commission_payouts WHERE ($1::text IS NULL OR user_id = $1) ORDER BY payout_id DESC LIMIT $2 OFFSET $3"
);
pub const COUNT_PAYOUTS: &str =
    "SELECT COUNT(*) FROM commission_payouts WHERE ($1::text IS NULL OR user_id = $1)";

pub const INSERT_COUPON: &str = concat!(
    "INSERT INTO coupons (code, name, discount_type, discount_value, min_order_amount, valid_from, valid_until, ",
    "max_uses, is_active, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING ",
    coupon_cols!()
);
pub const COUPON_BY_ID: &str = concat!("SELECT ", coupon_cols!(), " FROM coupons WHERE coupon_id = $1");
pub const COUPON_BY_CODE: &str = concat!("SELECT ", coupon_cols!(), " FROM coupons WHERE code = $1");
pub const LIST_COUPONS: &str =
    concat!("SELECT ", coupon_cols!(), " FROM coupons ORDER BY coupon_id DESC LIMIT $1 OFFSET $2");
pub const COUNT_COUPONS: &str = "SELECT COUNT(*) FROM coupons";
pub const UPDATE_COUPON: &str = concat!(
    "UPDATE coupons SET code = $2, name = $3, discount_type = $4, discount_value = $5, min_order_amount = $6, ",
    "valid_from = $7, valid_until = $8, max_uses = $9, is_active = $10, updated_at = $11 WHERE coupon_id = $1 ",
    "RETURNING ",
    coupon_cols!()
);
pub const DEACTIVATE_COUPON: &str = concat!(
    "UPDATE coupons SET is_active = FALSE, updated_at = $2 WHERE coupon_id = $1 RETURNING ",
    coupon_cols!()
);
pub const ISSUE_COUPON: &str = "UPDATE coupons SET issued_count = issued_count + 1 \
    WHERE coupon_id = $1 AND (max_uses IS NULL OR issued_count < max_uses) RETURNING coupon_id";
pub const HAS_COUPON_COPY: &str =
    "SELECT EXISTS (SELECT 1 FROM user_coupons WHERE coupon_id = $1 AND user_id = $2)";
