-- The referral programme (§11): referral codes with each referrer's commission book, referrals,
-- coupons and users' one-use copies, commissions per order, the commission ledger,
-- withdrawal requests and payouts.
CREATE TABLE referral_codes (
    code                TEXT PRIMARY KEY NOT NULL,
    user_id             TEXT NOT NULL UNIQUE REFERENCES users (user_id),
    commission_rate_bps INTEGER NOT NULL DEFAULT 1000 CHECK (commission_rate_bps BETWEEN 0 AND 10000),
    is_active           BOOLEAN NOT NULL DEFAULT TRUE,
    earned              INTEGER NOT NULL DEFAULT 0 CHECK (earned >= 0),
    paid                INTEGER NOT NULL DEFAULT 0 CHECK (paid >= 0),
    reserved            INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    created_at          INTEGER NOT NULL,
    CHECK (earned - paid - reserved >= 0)
);

CREATE TABLE referrals (
    referred_user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (user_id),
    referrer_user_id TEXT NOT NULL REFERENCES users (user_id),
    code             TEXT NOT NULL REFERENCES referral_codes (code),
    coupon_id        INTEGER,
    created_at       INTEGER NOT NULL,
    CHECK (referred_user_id <> referrer_user_id)
);
CREATE INDEX referrals_referrer ON referrals (referrer_user_id, created_at);

CREATE TABLE coupons (
    coupon_id        INTEGER PRIMARY KEY AUTOINCREMENT,
    code             TEXT NOT NULL UNIQUE,
    name             TEXT NOT NULL,
    discount_type    TEXT NOT NULL,
    discount_value   INTEGER NOT NULL CHECK (discount_value > 0),
    min_order_amount INTEGER NOT NULL DEFAULT 0 CHECK (min_order_amount >= 0),
    valid_from       INTEGER,
    valid_until      INTEGER,
    max_uses         INTEGER CHECK (max_uses IS NULL OR max_uses >= 0),
    issued_count     INTEGER NOT NULL DEFAULT 0 CHECK (issued_count >= 0),
    is_active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);

CREATE TABLE user_coupons (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id          TEXT NOT NULL REFERENCES users (user_id),
    coupon_id        INTEGER REFERENCES coupons (coupon_id),
    source           TEXT NOT NULL,
    code             TEXT NOT NULL,
    name             TEXT NOT NULL,
    discount_type    TEXT NOT NULL,
    discount_value   INTEGER NOT NULL CHECK (discount_value > 0),
    min_order_amount INTEGER NOT NULL DEFAULT 0 CHECK (min_order_amount >= 0),
    valid_from       INTEGER,
    expires_at       INTEGER,
    is_used          BOOLEAN NOT NULL DEFAULT FALSE,
    used_order_id    INTEGER REFERENCES orders (order_id),
    used_at          INTEGER,
    created_at       INTEGER NOT NULL,
    UNIQUE (coupon_id, user_id)
);
CREATE INDEX user_coupons_user ON user_coupons (user_id, id);
CREATE INDEX user_coupons_order ON user_coupons (used_order_id);

CREATE TABLE commissions (
    commission_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id            INTEGER NOT NULL UNIQUE REFERENCES orders (order_id),
    referrer_user_id    TEXT NOT NULL REFERENCES users (user_id),
    referred_user_id    TEXT NOT NULL REFERENCES users (user_id),
    purchase_amount     INTEGER NOT NULL CHECK (purchase_amount >= 0),
    amount              INTEGER NOT NULL CHECK (amount >= 0),
    commission_rate_bps INTEGER NOT NULL CHECK (commission_rate_bps BETWEEN 0 AND 10000),
    status              TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    settled_at          INTEGER
);
CREATE INDEX commissions_referrer ON commissions (referrer_user_id, commission_id DESC);

CREATE TABLE commission_ledger (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       TEXT NOT NULL REFERENCES users (user_id),
    kind          TEXT NOT NULL,
    amount        INTEGER NOT NULL,
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    reference     TEXT,
    description   TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL
);
CREATE INDEX commission_ledger_user ON commission_ledger (user_id, id);

CREATE TABLE withdrawals (
    withdrawal_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        TEXT NOT NULL REFERENCES users (user_id),
    amount         INTEGER NOT NULL CHECK (amount > 0),
    bank_name      TEXT NOT NULL,
    account_number TEXT NOT NULL,
    account_holder TEXT NOT NULL,
    status         TEXT NOT NULL,
    admin_notes    TEXT,
    decided_by     TEXT,
    created_at     INTEGER NOT NULL,
    decided_at     INTEGER
);
CREATE INDEX withdrawals_status ON withdrawals (status, withdrawal_id);
CREATE INDEX withdrawals_user ON withdrawals (user_id, withdrawal_id);

CREATE TABLE commission_payouts (
    payout_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       TEXT NOT NULL REFERENCES users (user_id),
    amount        INTEGER NOT NULL CHECK (amount > 0),
    kind          TEXT NOT NULL,
    withdrawal_id INTEGER UNIQUE REFERENCES withdrawals (withdrawal_id),
    notes         TEXT,
    paid_by       TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX commission_payouts_user ON commission_payouts (user_id, payout_id);
