-- Refill and cancel requests of orders already at the upstream (issue 14). The order's own row
-- is untouched: money moves only when the status sync settles the order.
CREATE TABLE refills (
    refill_id         BIGSERIAL PRIMARY KEY,
    order_id          BIGINT NOT NULL REFERENCES orders (order_id),
    user_id           TEXT NOT NULL REFERENCES users (user_id),
    smm_refill_id     TEXT,
    state             TEXT NOT NULL,
    upstream_status   TEXT,
    error             TEXT,
    last_status_check BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX refills_order ON refills (order_id, refill_id);
CREATE INDEX refills_user ON refills (user_id, refill_id);
CREATE INDEX refills_open ON refills (state, last_status_check, refill_id);

CREATE TABLE cancel_requests (
    cancel_id  BIGSERIAL PRIMARY KEY,
    order_id   BIGINT NOT NULL REFERENCES orders (order_id),
    user_id    TEXT NOT NULL REFERENCES users (user_id),
    state      TEXT NOT NULL,
    error      TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX cancel_requests_order ON cancel_requests (order_id, cancel_id);
