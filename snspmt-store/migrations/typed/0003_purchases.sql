-- Point purchases: bank transfers decided by an operator, and KCP card payments.
CREATE TABLE point_purchases (
    purchase_id     BIGSERIAL PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (user_id),
    method          TEXT NOT NULL,
    amount          BIGINT NOT NULL CHECK (amount > 0),
    price           BIGINT NOT NULL CHECK (price > 0),
    status          TEXT NOT NULL,
    buyer_name      TEXT,
    bank_info       TEXT,
    ordr_idxx       TEXT UNIQUE,
    good_name       TEXT,
    pay_method      TEXT,
    approval_key    TEXT,
    pay_url         TEXT,
    trace_no        TEXT,
    tno             TEXT UNIQUE,
    res_cd          TEXT,
    res_msg         TEXT,
    approved_amount BIGINT,
    decided_by      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    approving_at    BIGINT,
    approved_at     BIGINT
);
CREATE INDEX point_purchases_user ON point_purchases (user_id, purchase_id DESC);
CREATE INDEX point_purchases_status ON point_purchases (status, purchase_id);
