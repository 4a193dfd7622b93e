-- E-mail ownership: an address is unverified until a mailed token (or a provider) proves it.
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE;
-- Accounts made or linked through a provider's verified address already proved it.
UPDATE users SET email_verified = TRUE
WHERE email IS NOT NULL AND user_id IN (SELECT user_id FROM user_identities);

-- Verification tokens, kept as SHA-256 hashes; single use (deleted when used or replaced).
CREATE TABLE email_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (user_id),
    email      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX email_tokens_user ON email_tokens (user_id);
