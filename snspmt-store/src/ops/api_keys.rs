//! Reseller API keys and the per-user switch of the reseller API, once for both backends.
//! A key is stored only as its SHA-256 (hex); the store never sees the key itself.

use super::accounts::user_row;
use super::{changed, insert_audit, one, rows};
use crate::sql::{Conn, Row};
use crate::{ApiKey, ApiKeyOwner, Millis, NewApiKey, NewAudit, StoreError, StoreResult};

macro_rules! key_cols {
    () => {
        "key_id, user_id, prefix, name, created_at, last_used_at, revoked_at"
    };
}

const LIVE_KEY_BY_HASH: &str =
    concat!("SELECT ", key_cols!(), " FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL");

row_mapper!(key_row -> ApiKey {
    key_id, user_id, prefix, name, created_at, last_used_at, revoked_at,
});

store_trait! {
    /// Reseller API keys, kept as the SHA-256 (hex) of the key, and the operator's per-user switch
    /// of the reseller API.
    ///
    /// # Example
    ///
    /// ```
    /// use snspmt_store::{ApiKeyStore, NewApiKey};
    /// use snspmt_store::Millis;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let store = snspmt_store::testing::example_store(&["kim"]).await?;
    /// let new_key = NewApiKey {
    ///     key_id: "k1".into(),
    ///     user_id: "kim".into(),
    ///     key_hash: "sha256-of-the-key".into(),
    ///     prefix: "snsp_AbCdEfG".into(),
    ///     name: "reseller".into(),
    /// };
    /// // At most 5 live keys per user.
    /// let key = store.create_api_key(new_key, 5, Millis(1_000)).await?.ok_or("under the cap")?;
    /// let owner = store.api_key_owner("sha256-of-the-key").await?.ok_or("a live key")?;
    /// assert_eq!((owner.key, owner.user.user_id.as_str()), (key, "kim"));
    /// store.revoke_api_key("k1", Some("kim"), None, Millis(2_000)).await?.ok_or("revoked")?;
    /// assert!(store.api_key_owner("sha256-of-the-key").await?.is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub trait ApiKeyStore {
        /// Stores a new key for its user, unless the user has `max_live` live keys already
        /// (`None`). `NotFound` for an unknown user.
        async fn create_api_key(
            &self,
            key: NewApiKey,
            max_live: i64,
            now: Millis,
        ) -> StoreResult<Option<ApiKey>> {
            let k = key;
            self.tx(async move |c| {
                // The user's row is locked: two creations for one user count each other's keys.
                let lock = "SELECT user_id FROM users WHERE user_id = $1 FOR UPDATE";
                c.query_opt(lock, &[&k.user_id]).await?.ok_or(StoreError::NotFound)?;
                let live = "SELECT COUNT(*) FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL";
                if c.scalar::<i64>(live, &[&k.user_id]).await? >= max_live {
                    return Ok(None);
                }
                let insert = concat!(
                    "INSERT INTO api_keys (key_id, user_id, key_hash, prefix, name, created_at) ",
                    "VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
                    key_cols!()
                );
                let args: [&dyn crate::sql::Param; 6] =
                    [&k.key_id, &k.user_id, &k.key_hash, &k.prefix, &k.name, &now];
                one(c, insert, &args, key_row).await
            })
            .await
        }

        /// A user's live (unrevoked) keys, oldest first.
        async fn api_keys(&self, user_id: &str) -> StoreResult<Vec<ApiKey>> {
            let id = user_id.to_owned();
            let sql = concat!(
                "SELECT ",
                key_cols!(),
                " FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at, key_id"
            );
            self.rd(async move |c| rows(c, sql, &[&id], key_row).await).await
        }

        /// Gives a live key of `user_id` a new hash and prefix (same id): the old key stops
        /// working at once. `None` when `user_id` has no such live key.
        async fn rotate_api_key(
            &self,
            user_id: &str,
            key_id: &str,
            key_hash: &str,
            prefix: &str,
            now: Millis,
        ) -> StoreResult<Option<ApiKey>> {
            let _ = now; // a rotated key keeps its dates
            let args = (key_id.to_owned(), user_id.to_owned(), key_hash.to_owned(), prefix.to_owned());
            self.tx(async move |c| {
                let (key_id, user_id, key_hash, prefix) = &args;
                let sql = concat!(
                    "UPDATE api_keys SET key_hash = $3, prefix = $4, last_used_at = NULL ",
                    "WHERE key_id = $1 AND user_id = $2 AND revoked_at IS NULL RETURNING ",
                    key_cols!()
                );
                one(c, sql, &[key_id, user_id, key_hash, prefix], key_row).await
            })
            .await
        }

        /// Revokes a live key: one of `owner`'s, or (`owner` `None`, an operator) anyone's, with
        /// the `audit` row in the same transaction. `None` when there is no such live key.
        async fn revoke_api_key(
            &self,
            key_id: &str,
            owner: Option<&str>,
            audit: Option<NewAudit>,
            now: Millis,
        ) -> StoreResult<Option<ApiKey>> {
            let (key_id, owner) = (key_id.to_owned(), owner.map(str::to_owned));
            self.tx(async move |c| {
                let sql = concat!(
                    "UPDATE api_keys SET revoked_at = $3 WHERE key_id = $1 ",
                    "AND ($2::text IS NULL OR user_id = $2) AND revoked_at IS NULL RETURNING ",
                    key_cols!()
                );
                let revoked = one(c, sql, &[&key_id, &owner, &now], key_row).await?;
                if let (Some(_), Some(audit)) = (&revoked, &audit) {
                    insert_audit(c, audit, now).await?;
                }
                Ok(revoked)
            })
            .await
        }

        /// The owner of the live key whose hash is `key_hash`.
        async fn api_key_owner(&self, key_hash: &str) -> StoreResult<Option<ApiKeyOwner>> {
            let h = key_hash.to_owned();
            self.rd(async move |c| {
                let Some(key) = one(c, LIVE_KEY_BY_HASH, &[&h], key_row).await? else { return Ok(None) };
                let sql = concat!("SELECT ", user_cols!(), ", api_enabled FROM users WHERE user_id = $1");
                let Some(row) = c.query_opt(sql, &[&key.user_id]).await? else {
                    return Ok(None);
                };
                let (user, api_enabled) = (user_row(&row)?, row.get(10)?);
                Ok(Some(ApiKeyOwner { key, user, api_enabled }))
            })
            .await
        }

        /// Records that a key was used at `now`.
        async fn touch_api_key(&self, key_id: &str, now: Millis) -> StoreResult<()> {
            let id = key_id.to_owned();
            let sql = "UPDATE api_keys SET last_used_at = $2 WHERE key_id = $1";
            self.tx(async move |c| c.execute(sql, &[&id, &now]).await.map(drop)).await
        }

        /// Turns the reseller API on or off for a user, audited. `NotFound` for an unknown user.
        async fn set_api_access(
            &self,
            user_id: &str,
            enabled: bool,
            audit: NewAudit,
            now: Millis,
        ) -> StoreResult<()> {
            let id = user_id.to_owned();
            self.tx(async move |c| {
                let sql = "UPDATE users SET api_enabled = $2 WHERE user_id = $1";
                changed(c.execute(sql, &[&id, &enabled]).await?)?;
                insert_audit(c, &audit, now).await.map(drop)
            })
            .await
        }
    }
}
