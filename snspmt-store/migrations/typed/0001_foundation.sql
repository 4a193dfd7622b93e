-- Accounts, sessions, balances, the append-only points ledger, idempotency keys, audit log.
CREATE TABLE users (
    user_id       TEXT PRIMARY KEY NOT NULL,
    email         TEXT UNIQUE,
    name          TEXT NOT NULL DEFAULT '',
    display_name  TEXT NOT NULL DEFAULT '',
    password_hash TEXT,
--@postgres
    is_admin      BOOLEAN NOT NULL DEFAULT FALSE,
--@sqlite
    is_admin      INTEGER NOT NULL DEFAULT 0,
--@end
    points        BIGINT NOT NULL DEFAULT 0 CHECK (points >= 0),
    created_at    BIGINT NOT NULL
);
CREATE INDEX users_created ON users (created_at DESC);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (user_id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE login_failures (
    id     BIGSERIAL PRIMARY KEY,
    email  TEXT NOT NULL,
    at     BIGINT NOT NULL
);
CREATE INDEX login_failures_email ON login_failures (email, at);

CREATE TABLE points_ledger (
    id            BIGSERIAL PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (user_id),
    kind          TEXT NOT NULL,
    amount        BIGINT NOT NULL CHECK (amount <> 0),
    balance_after BIGINT NOT NULL CHECK (balance_after >= 0),
    reference     TEXT,
    description   TEXT NOT NULL DEFAULT '',
    event_ref     TEXT UNIQUE,
    created_at    BIGINT NOT NULL
);
CREATE INDEX points_ledger_user ON points_ledger (user_id, id);
CREATE INDEX points_ledger_kind ON points_ledger (kind, id);

--@postgres
CREATE FUNCTION points_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'points_ledger is append-only'; END $$;
CREATE TRIGGER points_ledger_no_update BEFORE UPDATE OR DELETE ON points_ledger
FOR EACH ROW EXECUTE FUNCTION points_ledger_append_only();
--@sqlite
CREATE TRIGGER points_ledger_no_update BEFORE UPDATE ON points_ledger
BEGIN SELECT RAISE(ABORT, 'points_ledger is append-only'); END;
CREATE TRIGGER points_ledger_no_delete BEFORE DELETE ON points_ledger
BEGIN SELECT RAISE(ABORT, 'points_ledger is append-only'); END;
--@end

CREATE TABLE idempotency_keys (
    user_id      TEXT NOT NULL,
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response     TEXT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (user_id, scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE admin_audit (
    id         BIGSERIAL PRIMARY KEY,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT,
    detail     TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);
