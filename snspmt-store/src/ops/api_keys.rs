//! Reseller API keys and the per-user switch of the reseller API, once for both backends.
//! A key is stored only as its SHA-256 (hex); the store never sees the key itself.

use async_trait::async_trait;

use super::accounts::user_row;
use super::{insert_audit, one, rows};
use crate::sql::{Conn, Row};
use crate::{ApiKey, ApiKeyOwner, ApiKeyStore, Millis, NewApiKey, NewAudit, StoreError, StoreResult};

macro_rules! key_cols {
    () => {
        "key_id, user_id, prefix, name, created_at, last_used_at, revoked_at"
    };
}

/// Locks the user's row, so that two creations of the same user count each other's keys.
const LOCK_USER: &str = "SELECT user_id FROM users WHERE user_id = $1 FOR UPDATE";
const COUNT_LIVE_KEYS: &str = "SELECT COUNT(*) FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL";
const INSERT_KEY: &str = concat!(
    "INSERT INTO api_keys (key_id, user_id, key_hash, prefix, name, created_at) ",
    "VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
    key_cols!()
);
const LIVE_KEYS: &str = concat!(
    "SELECT ",
    key_cols!(),
    " FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at, key_id"
);
const ROTATE_KEY: &str = concat!(
    "UPDATE api_keys SET key_hash = $3, prefix = $4, last_used_at = NULL ",
    "WHERE key_id = $1 AND user_id = $2 AND revoked_at IS NULL RETURNING ",
    key_cols!()
);
const REVOKE_KEY: &str = concat!(
    "UPDATE api_keys SET revoked_at = $3 ",
    "WHERE key_id = $1 AND ($2::text IS NULL OR user_id = $2) AND revoked_at IS NULL RETURNING ",
    key_cols!()
);
const KEY_BY_HASH: &str =
    concat!("SELECT ", key_cols!(), " FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL");
const USER_WITH_ACCESS: &str =
    concat!("SELECT ", user_cols!(), ", api_enabled FROM users WHERE user_id = $1");
const TOUCH_KEY: &str = "UPDATE api_keys SET last_used_at = $2 WHERE key_id = $1";
const SET_API_ACCESS: &str = "UPDATE users SET api_enabled = $2 WHERE user_id = $1";

row_mapper!(key_row -> ApiKey {
    key_id, user_id, prefix, name, created_at, last_used_at, revoked_at,
});

async fn create_key<C: Conn>(
    c: &mut C,
    k: &NewApiKey,
    max_live: i64,
    now: Millis,
) -> StoreResult<Option<ApiKey>> {
    if c.query_opt(LOCK_USER, &[&k.user_id]).await?.is_none() {
        return Err(StoreError::NotFound);
    }
    if c.scalar::<i64>(COUNT_LIVE_KEYS, &[&k.user_id]).await? >= max_live {
        return Ok(None);
    }
    let args: [&dyn crate::sql::Param; 6] = [&k.key_id, &k.user_id, &k.key_hash, &k.prefix, &k.name, &now];
    one(c, INSERT_KEY, &args, key_row).await
}

async fn owner<C: Conn>(c: &mut C, key_hash: &str) -> StoreResult<Option<ApiKeyOwner>> {
    let Some(key) = one(c, KEY_BY_HASH, &[&key_hash], key_row).await? else { return Ok(None) };
    let Some(row) = c.query_opt(USER_WITH_ACCESS, &[&key.user_id]).await? else { return Ok(None) };
    let user = user_row(&row)?;
    let api_enabled: bool = row.get(10)?;
    Ok(Some(ApiKeyOwner { key, user, api_enabled }))
}

fn key_rows(found: Vec<Row>) -> StoreResult<Vec<ApiKey>> {
    rows(found, key_row)
}

macro_rules! impl_api_keys {
    ($store:ty) => {
        #[async_trait]
        impl ApiKeyStore for $store {
            async fn create_api_key(
                &self,
                key: NewApiKey,
                max_live: i64,
                now: Millis,
            ) -> StoreResult<Option<ApiKey>> {
                self.tx(async move |c| create_key(c, &key, max_live, now).await).await
            }

            async fn api_keys(&self, user_id: &str) -> StoreResult<Vec<ApiKey>> {
                let id = user_id.to_owned();
                self.rd(async move |c| key_rows(c.query(LIVE_KEYS, &[&id]).await?)).await
            }

            async fn rotate_api_key(
                &self,
                user_id: &str,
                key_id: &str,
                key_hash: &str,
                prefix: &str,
                _now: Millis,
            ) -> StoreResult<Option<ApiKey>> {
                let args = (key_id.to_owned(), user_id.to_owned(), key_hash.to_owned(), prefix.to_owned());
                self.tx(async move |c| {
                    let (key_id, user_id, key_hash, prefix) = &args;
                    one(c, ROTATE_KEY, &[key_id, user_id, key_hash, prefix], key_row).await
                })
                .await
            }

            async fn revoke_api_key(
                &self,
                key_id: &str,
                owner: Option<&str>,
                audit: Option<NewAudit>,
                now: Millis,
            ) -> StoreResult<Option<ApiKey>> {
                let (key_id, owner) = (key_id.to_owned(), owner.map(str::to_owned));
                self.tx(async move |c| {
                    let revoked = one(c, REVOKE_KEY, &[&key_id, &owner, &now], key_row).await?;
                    if let (Some(_), Some(audit)) = (&revoked, &audit) {
                        insert_audit(c, audit, now).await?;
                    }
                    Ok(revoked)
                })
                .await
            }

            async fn api_key_owner(&self, key_hash: &str) -> StoreResult<Option<ApiKeyOwner>> {
                let h = key_hash.to_owned();
                self.rd(async move |c| owner(c, &h).await).await
            }

            async fn touch_api_key(&self, key_id: &str, now: Millis) -> StoreResult<()> {
                let id = key_id.to_owned();
                self.tx(async move |c| c.execute(TOUCH_KEY, &[&id, &now]).await.map(drop)).await
            }

            async fn set_api_access(
                &self,
                user_id: &str,
                enabled: bool,
                audit: NewAudit,
                now: Millis,
            ) -> StoreResult<()> {
                let id = user_id.to_owned();
                self.tx(async move |c| {
                    if c.execute(SET_API_ACCESS, &[&id, &enabled]).await? == 0 {
                        return Err(StoreError::NotFound);
                    }
                    insert_audit(c, &audit, now).await.map(drop)
                })
                .await
            }
        }
    };
}

super::both_backends!(impl_api_keys);
