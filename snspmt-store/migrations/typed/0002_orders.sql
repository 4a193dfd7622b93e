-- The catalogue, orders, and the submission outbox.
CREATE TABLE services (
    service_id          BIGSERIAL PRIMARY KEY,
    provider_service_id TEXT NOT NULL UNIQUE,
    name                TEXT NOT NULL,
    category            TEXT NOT NULL DEFAULT '',
    platform            TEXT NOT NULL DEFAULT '',
    service_type        TEXT NOT NULL DEFAULT 'default',
    price_per_1000      BIGINT NOT NULL CHECK (price_per_1000 >= 0),
    min_quantity        BIGINT NOT NULL CHECK (min_quantity >= 1),
    max_quantity        BIGINT NOT NULL CHECK (max_quantity >= min_quantity),
    dripfeed            BOOLEAN NOT NULL DEFAULT FALSE,
    refill              BOOLEAN NOT NULL DEFAULT FALSE,
    cancel              BOOLEAN NOT NULL DEFAULT FALSE,
    is_active           BOOLEAN NOT NULL DEFAULT TRUE,
    description         TEXT NOT NULL DEFAULT '',
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

CREATE TABLE orders (
    order_id           BIGSERIAL PRIMARY KEY,
    user_id            TEXT NOT NULL REFERENCES users (user_id),
    service_id         BIGINT REFERENCES services (service_id),
    service_name       TEXT NOT NULL,
    link               TEXT NOT NULL,
    quantity           BIGINT NOT NULL CHECK (quantity >= 1),
    runs               BIGINT,
    interval_minutes   BIGINT,
    comments           TEXT,
    price              BIGINT NOT NULL CHECK (price >= 0),
    discount_amount    BIGINT NOT NULL DEFAULT 0 CHECK (discount_amount >= 0),
    final_price        BIGINT NOT NULL CHECK (final_price >= 0),
    commission_amount  BIGINT NOT NULL DEFAULT 0,
    status             TEXT NOT NULL,
    smm_panel_order_id TEXT,
    start_count        BIGINT,
    remains            BIGINT,
    charge             TEXT,
    refunded_amount    BIGINT NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0 AND refunded_amount <= final_price),
    last_status_check  BIGINT,
    error              TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX orders_user ON orders (user_id, order_id DESC);
CREATE INDEX orders_status ON orders (status, last_status_check, order_id);

CREATE TABLE submission_jobs (
    job_id     BIGSERIAL PRIMARY KEY,
    order_id   BIGINT NOT NULL REFERENCES orders (order_id),
    part       BIGINT NOT NULL DEFAULT 0,
    state      TEXT NOT NULL,
    due_at     BIGINT NOT NULL,
    attempts   BIGINT NOT NULL DEFAULT 0,
    claimed_at BIGINT,
    last_error TEXT,
    UNIQUE (order_id, part)
);
CREATE INDEX submission_jobs_due ON submission_jobs (state, due_at, job_id);
