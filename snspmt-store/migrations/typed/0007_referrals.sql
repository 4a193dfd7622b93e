-- The referral programme (§11): referral codes with each referrer's commission book, referrals,
-- coupons and users' one-use copies, commissions per order, the commission ledger,
-- withdrawal requests and payouts.
CREATE TABLE referral_codes (
    code                TEXT PRIMARY KEY NOT NULL,
    user_id             TEXT NOT NULL UNIQUE REFERENCES users (user_id),
    commission_rate_bps BIGINT NOT NULL DEFAULT 1000 CHECK (commission_rate_bps BETWEEN 0 AND 10000),
    is_active           BOOLEAN NOT NULL DEFAULT TRUE,
    earned              BIGINT NOT NULL DEFAULT 0 CHECK (earned >= 0),
    paid                BIGINT NOT NULL DEFAULT 0 CHECK (paid >= 0),
    reserved            BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    created_at          BIGINT NOT NULL,
    CHECK (earned - paid - reserved >= 0)
);

CREATE TABLE referrals (
    referred_user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (user_id),
    referrer_user_id TEXT NOT NULL REFERENCES users (user_id),
    code             TEXT NOT NULL REFERENCES referral_codes (code),
    coupon_id        BIGINT,
    created_at       BIGINT NOT NULL,
    CHECK (referred_user_id <> referrer_user_id)
);
CREATE INDEX referrals_referrer ON referrals (referrer_user_id, created_at);

CREATE TABLE coupons (
    coupon_id        BIGSERIAL PRIMARY KEY,
    code             TEXT NOT NULL UNIQUE,
    name             TEXT NOT NULL,
    discount_type    TEXT NOT NULL,
    discount_value   BIGINT NOT NULL CHECK (discount_value > 0),
    min_order_amount BIGINT NOT NULL DEFAULT 0 CHECK (min_order_amount >= 0),
    valid_from       BIGINT,
    valid_until      BIGINT,
    max_uses         BIGINT CHECK (max_uses IS NULL OR max_uses >= 0),
    issued_count     BIGINT NOT NULL DEFAULT 0 CHECK (issued_count >= 0),
    is_active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE TABLE user_coupons (
    id               BIGSERIAL PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users (user_id),
    coupon_id        BIGINT REFERENCES coupons (coupon_id),
    source           TEXT NOT NULL,
    code             TEXT NOT NULL,
    name             TEXT NOT NULL,
    discount_type    TEXT NOT NULL,
    discount_value   BIGINT NOT NULL CHECK (discount_value > 0),
    min_order_amount BIGINT NOT NULL DEFAULT 0 CHECK (min_order_amount >= 0),
    valid_from       BIGINT,
    expires_at       BIGINT,
    is_used          BOOLEAN NOT NULL DEFAULT FALSE,
    used_order_id    BIGINT REFERENCES orders (order_id),
    used_at          BIGINT,
    created_at       BIGINT NOT NULL,
    UNIQUE (coupon_id, user_id)
);
CREATE INDEX user_coupons_user ON user_coupons (user_id, id);
CREATE INDEX user_coupons_order ON user_coupons (used_order_id);

CREATE TABLE commissions (
    commission_id       BIGSERIAL PRIMARY KEY,
    order_id            BIGINT NOT NULL UNIQUE REFERENCES orders (order_id),
    referrer_user_id    TEXT NOT NULL REFERENCES users (user_id),
    referred_user_id    TEXT NOT NULL REFERENCES users (user_id),
    purchase_amount     BIGINT NOT NULL CHECK (purchase_amount >= 0),
    amount              BIGINT NOT NULL CHECK (amount >= 0),
    commission_rate_bps BIGINT NOT NULL CHECK (commission_rate_bps BETWEEN 0 AND 10000),
    status              TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    settled_at          BIGINT
);
CREATE INDEX commissions_referrer ON commissions (referrer_user_id, commission_id DESC);

CREATE TABLE commission_ledger (
    id            BIGSERIAL PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (user_id),
    kind          TEXT NOT NULL,
    amount        BIGINT NOT NULL,
    balance_after BIGINT NOT NULL CHECK (balance_after >= 0),
    reference     TEXT,
    description   TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL
);
CREATE INDEX commission_ledger_user ON commission_ledger (user_id, id);

CREATE TABLE withdrawals (
    withdrawal_id  BIGSERIAL PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (user_id),
    amount         BIGINT NOT NULL CHECK (amount > 0),
    bank_name      TEXT NOT NULL,
    account_number TEXT NOT NULL,
    account_holder TEXT NOT NULL,
    status         TEXT NOT NULL,
    admin_notes    TEXT,
    decided_by     TEXT,
    created_at     BIGINT NOT NULL,
    decided_at     BIGINT
);
CREATE INDEX withdrawals_status ON withdrawals (status, withdrawal_id);
CREATE INDEX withdrawals_user ON withdrawals (user_id, withdrawal_id);

CREATE TABLE commission_payouts (
    payout_id     BIGSERIAL PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (user_id),
    amount        BIGINT NOT NULL CHECK (amount > 0),
    kind          TEXT NOT NULL,
    withdrawal_id BIGINT UNIQUE REFERENCES withdrawals (withdrawal_id),
    notes         TEXT,
    paid_by       TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX commission_payouts_user ON commission_payouts (user_id, payout_id);
