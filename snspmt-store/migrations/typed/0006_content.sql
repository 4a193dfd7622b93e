-- Social identities, OAuth states, notices, the blog.
CREATE TABLE user_identities (
    provider   TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (user_id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (provider, subject),
    UNIQUE (provider, user_id)
);

CREATE TABLE oauth_states (
    state_hash TEXT PRIMARY KEY NOT NULL,
    provider   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oauth_states_expires ON oauth_states (expires_at);

CREATE TABLE notices (
    notice_id  BIGSERIAL PRIMARY KEY,
    title      TEXT NOT NULL,
    content    TEXT NOT NULL DEFAULT '',
    image_url  TEXT,
    popup_type TEXT NOT NULL DEFAULT 'modal',
--@postgres
    is_active  BOOLEAN NOT NULL DEFAULT TRUE,
--@sqlite
    is_active  INTEGER NOT NULL DEFAULT 1,
--@end
    starts_at  BIGINT,
    ends_at    BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX notices_active ON notices (is_active, notice_id);

CREATE TABLE blog_posts (
    post_id       BIGSERIAL PRIMARY KEY,
    title         TEXT NOT NULL,
    content       TEXT NOT NULL DEFAULT '',
    excerpt       TEXT NOT NULL DEFAULT '',
    category      TEXT NOT NULL DEFAULT '',
    tags          TEXT NOT NULL DEFAULT '[]',
    thumbnail_url TEXT,
--@postgres
    is_published  BOOLEAN NOT NULL DEFAULT FALSE,
--@sqlite
    is_published  INTEGER NOT NULL DEFAULT 0,
--@end
    view_count    BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    published_at  BIGINT
);
CREATE INDEX blog_posts_published ON blog_posts (is_published, post_id DESC);

CREATE TABLE blog_post_tags (
    post_id BIGINT NOT NULL REFERENCES blog_posts (post_id) ON DELETE CASCADE,
    tag     TEXT NOT NULL,
    PRIMARY KEY (post_id, tag)
);
CREATE INDEX blog_post_tags_tag ON blog_post_tags (tag);
