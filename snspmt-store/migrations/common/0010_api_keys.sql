-- Reseller API keys (issue 14): kept only as the SHA-256 (hex) of the key; `prefix` is the
-- key's first characters, shown so that a user can tell their keys apart. A rotated key keeps
-- its id and gets a new hash; a revoked one keeps its row with `revoked_at` set.
CREATE TABLE api_keys (
    key_id       TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (user_id),
    key_hash     TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    name         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_keys_user ON api_keys (user_id);

-- The operator may turn the reseller API off for a user (every key then answers `Invalid API key`).
ALTER TABLE users ADD COLUMN api_enabled BOOLEAN NOT NULL DEFAULT TRUE;
