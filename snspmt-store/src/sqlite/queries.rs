//! SQLite statements. `postgres/queries.rs` has the same names in the PostgreSQL dialect.

macro_rules! user_cols {
    () => {
        "user_id, email, name, display_name, is_admin, points, password_hash IS NOT NULL, created_at"
    };
}

pub const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at INTEGER NOT NULL)";
pub const APPLIED_MIGRATIONS: &str = "SELECT version, checksum FROM schema_migrations ORDER BY version";
pub const RECORD_MIGRATION: &str =
    "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)";
pub const SCHEMA_VERSION: &str = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations";
pub const PING: &str = "SELECT 1";

pub const USER_ID_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM users WHERE user_id = ?1)";
pub const EMAIL_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM users WHERE email = ?1 AND user_id <> ?2)";
pub const INSERT_USER: &str = concat!(
    "INSERT INTO users (user_id, email, name, display_name, password_hash, created_at) ",
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING ",
    user_cols!()
);
pub const USER_BY_ID: &str = concat!("SELECT ", user_cols!(), " FROM users WHERE user_id = ?1");
pub const CREDENTIALS_BY_EMAIL: &str =
    concat!("SELECT ", user_cols!(), ", password_hash FROM users WHERE email = ?1");
pub const LIST_USERS: &str = concat!(
    "SELECT ",
    user_cols!(),
    " FROM users WHERE ?1 IS NULL OR user_id LIKE ?1 ESCAPE '\\' OR email LIKE ?1 ESCAPE '\\' ",
    "OR name LIKE ?1 ESCAPE '\\' OR display_name LIKE ?1 ESCAPE '\\' ",
    "ORDER BY created_at DESC, user_id LIMIT ?2 OFFSET ?3"
);
pub const COUNT_USERS: &str = "SELECT COUNT(*) FROM users WHERE ?1 IS NULL OR user_id LIKE ?1 ESCAPE '\\' \
    OR email LIKE ?1 ESCAPE '\\' OR name LIKE ?1 ESCAPE '\\' OR display_name LIKE ?1 ESCAPE '\\'";
pub const UPDATE_PROFILE: &str = concat!(
    "UPDATE users SET email = CASE WHEN ?2 THEN ?3 ELSE email END, name = COALESCE(?4, name), ",
    "display_name = COALESCE(?5, display_name), is_admin = COALESCE(?6, is_admin) WHERE user_id = ?1 RETURNING ",
    user_cols!()
);

pub const INSERT_SESSION: &str =
    "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)";
pub const SESSION_USER: &str = "SELECT u.user_id, u.email, u.name, u.display_name, u.is_admin, u.points, \
    u.password_hash IS NOT NULL, u.created_at FROM sessions s JOIN users u ON u.user_id = s.user_id \
    WHERE s.token_hash = ?1 AND s.expires_at > ?2";
pub const DELETE_SESSION: &str = "DELETE FROM sessions WHERE token_hash = ?1";
pub const INSERT_LOGIN_FAILURE: &str = "INSERT INTO login_failures (email, at) VALUES (?1, ?2)";
pub const COUNT_LOGIN_FAILURES: &str = "SELECT COUNT(*) FROM login_failures WHERE email = ?1 AND at >= ?2";
pub const DELETE_LOGIN_FAILURES: &str = "DELETE FROM login_failures WHERE email = ?1";

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
pub const LEDGER_PAGE: &str =
    "SELECT id, user_id, kind, amount, balance_after, reference, description, created_at \
    FROM points_ledger WHERE (?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR kind = ?2) \
    ORDER BY id DESC LIMIT ?3 OFFSET ?4";
pub const LEDGER_COUNT: &str =
    "SELECT COUNT(*) FROM points_ledger WHERE (?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR kind = ?2)";
pub const LEDGER_MISMATCHES: &str = "SELECT u.user_id, u.points, COALESCE(SUM(l.amount), 0) FROM users u \
    LEFT JOIN points_ledger l ON l.user_id = u.user_id GROUP BY u.user_id, u.points \
    HAVING u.points <> COALESCE(SUM(l.amount), 0)";

pub const INSERT_AUDIT: &str =
    "INSERT INTO admin_audit (actor, action, target, detail, created_at) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id";
pub const AUDIT_PAGE: &str =
    "SELECT id, actor, action, target, detail, created_at FROM admin_audit ORDER BY id DESC LIMIT ?1 OFFSET ?2";
pub const AUDIT_COUNT: &str = "SELECT COUNT(*) FROM admin_audit";
