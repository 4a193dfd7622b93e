-- Packages and multi-part orders (packages, split delivery): each part one submission.
CREATE TABLE packages (
    package_id  BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    price       BIGINT NOT NULL CHECK (price >= 1),
    steps       TEXT NOT NULL,
    is_active   BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

ALTER TABLE orders ADD COLUMN package_id BIGINT REFERENCES packages (package_id);
ALTER TABLE orders ADD COLUMN split_days BIGINT;

CREATE TABLE order_parts (
    part_id           BIGSERIAL PRIMARY KEY,
    order_id          BIGINT NOT NULL REFERENCES orders (order_id),
    part_index        BIGINT NOT NULL,
    step_index        BIGINT NOT NULL,
    repeat_index      BIGINT NOT NULL,
    name              TEXT NOT NULL,
    service_id        BIGINT NOT NULL REFERENCES services (service_id),
    quantity          BIGINT NOT NULL CHECK (quantity >= 1),
    share             BIGINT NOT NULL CHECK (share >= 0),
    delay_minutes     BIGINT NOT NULL,
    state             TEXT NOT NULL,
    due_at            BIGINT,
    claimed_at        BIGINT,
    attempts          BIGINT NOT NULL DEFAULT 0,
    smm_order_id      TEXT,
    upstream_status   TEXT,
    remains           BIGINT,
    refunded          BIGINT NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= share),
    outcome           TEXT,
    last_status_check BIGINT,
    settled_at        BIGINT,
    last_error        TEXT,
    UNIQUE (order_id, part_index)
);
CREATE INDEX order_parts_due ON order_parts (state, due_at, part_id);
CREATE INDEX order_parts_sync ON order_parts (state, last_status_check, part_id);
