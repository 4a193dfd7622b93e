-- Packages and multi-part orders (packages, split delivery): each part one submission.
CREATE TABLE packages (
    package_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    price       INTEGER NOT NULL CHECK (price >= 1),
    steps       TEXT NOT NULL,
    is_active   BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

ALTER TABLE orders ADD COLUMN package_id INTEGER REFERENCES packages (package_id);
ALTER TABLE orders ADD COLUMN split_days INTEGER;

CREATE TABLE order_parts (
    part_id           INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id          INTEGER NOT NULL REFERENCES orders (order_id),
    part_index        INTEGER NOT NULL,
    step_index        INTEGER NOT NULL,
    repeat_index      INTEGER NOT NULL,
    name              TEXT NOT NULL,
    service_id        INTEGER NOT NULL REFERENCES services (service_id),
    quantity          INTEGER NOT NULL CHECK (quantity >= 1),
    share             INTEGER NOT NULL CHECK (share >= 0),
    delay_minutes     INTEGER NOT NULL,
    state             TEXT NOT NULL,
    due_at            INTEGER,
    claimed_at        INTEGER,
    attempts          INTEGER NOT NULL DEFAULT 0,
    smm_order_id      TEXT,
    upstream_status   TEXT,
    remains           INTEGER,
    refunded          INTEGER NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= share),
    outcome           TEXT,
    last_status_check INTEGER,
    settled_at        INTEGER,
    last_error        TEXT,
    UNIQUE (order_id, part_index)
);
CREATE INDEX order_parts_due ON order_parts (state, due_at, part_id);
CREATE INDEX order_parts_sync ON order_parts (state, last_status_check, part_id);
