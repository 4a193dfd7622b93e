-- Per-user rates (issue 14): a discount on every price, in basis points (0..=10000), and
-- per-service prices that win over it.
ALTER TABLE users ADD COLUMN discount_bps INTEGER NOT NULL DEFAULT 0 CHECK (discount_bps BETWEEN 0 AND 10000);

CREATE TABLE user_service_prices (
    user_id        TEXT NOT NULL REFERENCES users (user_id),
    service_id     BIGINT NOT NULL REFERENCES services (service_id),
    price_per_1000 BIGINT NOT NULL CHECK (price_per_1000 >= 0),
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (user_id, service_id)
);

-- Mass orders: one row per batch and Idempotency-Key. A batch is claimed (lease from
-- claimed_at) before its lines are placed, and its answer is stored when it ends.
CREATE TABLE order_batches (
    user_id      TEXT NOT NULL REFERENCES users (user_id),
    batch_key    TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    claimed_at   BIGINT NOT NULL,
    response     TEXT,
    created_at   BIGINT NOT NULL,
    completed_at BIGINT,
    PRIMARY KEY (user_id, batch_key)
);
