//! Reseller API keys: a user creates, lists, rotates and revokes their own; an operator revokes
//! any key and turns the reseller API off for a user.
//!
//! A key is `snsp_` and 32 random bytes (base64url), shown once; the database keeps its
//! SHA-256. Rotating keeps the key's id and replaces its secret: the old key answers
//! `Invalid API key` from then on.

use base64::Engine;
use hyper::StatusCode;
use rand::RngCore;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use snspmt_core::validate;
use snspmt_store::{ApiKey, NewApiKey, NewAudit};

use crate::auth::{token_hash, Caller};
use crate::error::ApiError;
use crate::request::Req;
use crate::router::Json;
use crate::{views, App};

/// What every key starts with (so that a leaked key is recognisable in a scan).
pub const KEY_PREFIX: &str = "snsp_";
/// How many characters of a key are kept and shown to tell keys apart.
pub const SHOWN_PREFIX_LEN: usize = 12;
/// Live keys a user may hold at once.
pub const MAX_LIVE_KEYS: i64 = 10;

/// A new key, and its hash and shown prefix.
fn new_key() -> (String, String, String) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let key = format!("{KEY_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let prefix: String = key.chars().take(SHOWN_PREFIX_LEN).collect();
    let hash = token_hash(&key);
    (key, hash, prefix)
}

fn new_key_id() -> String {
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("ak_{}", snspmt_core::lower_hex(&bytes))
}

/// A reseller API key as its owner sees it: never the key, nor its hash.
#[derive(Serialize, JsonSchema)]
pub struct ApiKeyView {
    /// The key's id (`ak_…`): it stays the same when the key is rotated.
    id: String,
    name: String,
    /// The key's first characters, to tell keys apart.
    prefix: String,
    /// RFC 3339 UTC.
    created_at: String,
    /// RFC 3339 UTC; `null`: never used.
    last_used_at: Option<String>,
}

/// A key as its owner sees it: never the key, nor its hash.
fn view(k: &ApiKey) -> ApiKeyView {
    ApiKeyView {
        id: k.key_id.clone(),
        name: k.name.clone(),
        prefix: k.prefix.clone(),
        created_at: views::rfc3339(k.created_at),
        last_used_at: k.last_used_at.map(views::rfc3339),
    }
}

fn owner(caller: &Caller) -> Result<&snspmt_store::User, ApiError> {
    caller.user().ok_or_else(ApiError::unauthorized)
}

fn unknown_key() -> ApiError {
    ApiError::not_found("api key")
}

/// The caller's live keys, oldest first.
#[derive(Serialize, JsonSchema)]
pub struct ApiKeys {
    api_keys: Vec<ApiKeyView>,
}

/// `GET /api/user/api-keys`: the caller's live keys, oldest first.
pub async fn list(app: &App, caller: &Caller) -> Result<Json<ApiKeys>, ApiError> {
    let user = owner(caller)?;
    let keys = app.store.api_keys(&user.user_id).await?;
    Ok(Json(ApiKeys { api_keys: keys.iter().map(view).collect() }))
}

/// `POST /api/user/api-keys`; the body may be empty.
#[derive(Deserialize, Default, JsonSchema)]
pub struct CreateApiKey {
    /// A label for the key; `API key` by default.
    name: Option<String>,
}

/// A new or rotated key, with its secret: shown this once.
#[derive(Serialize, JsonSchema)]
pub struct NewKey {
    success: bool,
    api_key: ApiKeyView,
    /// The key itself (`snsp_…`): the only time it is shown.
    key: String,
    message: String,
}

/// `POST /api/user/api-keys` `{name?}`: a new key, shown this once.
pub async fn create(app: &App, caller: &Caller, req: &Req) -> Result<Json<NewKey>, ApiError> {
    let user = owner(caller)?;
    let body: CreateApiKey =
        if req.body.trim_ascii().is_empty() { CreateApiKey::default() } else { req.json()? };
    let name = match body.name.as_deref().map(|n| validate::short_text("name", n)).transpose()? {
        Some(n) if !n.is_empty() => n.to_owned(),
        _ => "API key".to_owned(),
    };
    let (key, key_hash, prefix) = new_key();
    let new = NewApiKey { key_id: new_key_id(), user_id: user.user_id.clone(), key_hash, prefix, name };
    let created = app.store.create_api_key(new, MAX_LIVE_KEYS, app.clock.now()).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "too_many_api_keys",
            format!("at most {MAX_LIVE_KEYS} live API keys: revoke one first"),
        )
        .with("max_keys", MAX_LIVE_KEYS)
    })?;
    Ok(Json(NewKey {
        success: true,
        api_key: view(&created),
        key,
        message: "Keep this key now: it is not shown again.".into(),
    }))
}

/// `POST /api/user/api-keys/<id>/rotate`: the same key id with a new secret; the old secret
/// stops working at once.
pub async fn rotate(app: &App, caller: &Caller, id: &str) -> Result<Json<NewKey>, ApiError> {
    let user = owner(caller)?;
    let (key, key_hash, prefix) = new_key();
    let rotated = app
        .store
        .rotate_api_key(&user.user_id, id, &key_hash, &prefix, app.clock.now())
        .await?
        .ok_or_else(unknown_key)?;
    Ok(Json(NewKey {
        success: true,
        api_key: view(&rotated),
        key,
        message: "Keep this key now: it is not shown again. The previous key no longer works.".into(),
    }))
}

/// A revoked key of the caller.
#[derive(Serialize, JsonSchema)]
pub struct KeyDeleted {
    success: bool,
    /// The key's id.
    id: String,
}

/// `DELETE /api/user/api-keys/<id>`: revokes one of the caller's keys.
pub async fn delete(app: &App, caller: &Caller, id: &str) -> Result<Json<KeyDeleted>, ApiError> {
    let user = owner(caller)?;
    app.store
        .revoke_api_key(id, Some(&user.user_id), None, app.clock.now())
        .await?
        .ok_or_else(unknown_key)?;
    Ok(Json(KeyDeleted { success: true, id: id.to_owned() }))
}

/// A key an operator revoked.
#[derive(Serialize, JsonSchema)]
pub struct KeyRevoked {
    success: bool,
    /// The key's id.
    id: String,
    /// Its owner.
    user_id: String,
}

/// `DELETE /api/admin/api-keys/<id>`: an operator revokes any live key (audited).
pub async fn admin_revoke(app: &App, caller: &Caller, id: &str) -> Result<Json<KeyRevoked>, ApiError> {
    let audit = NewAudit {
        actor: caller.actor(),
        action: "api_keys.revoke".into(),
        target: Some(id.to_owned()),
        detail: json!({"key_id": id}).to_string(),
    };
    let revoked =
        app.store.revoke_api_key(id, None, Some(audit), app.clock.now()).await?.ok_or_else(unknown_key)?;
    Ok(Json(KeyRevoked { success: true, id: revoked.key_id, user_id: revoked.user_id }))
}

/// `PUT /api/admin/users/{user_id}/api-access`.
#[derive(Deserialize, JsonSchema)]
pub struct ApiAccess {
    /// Whether the user may call the reseller API.
    enabled: bool,
}

/// The user's reseller API access after the change.
#[derive(Serialize, JsonSchema)]
pub struct ApiAccessSet {
    success: bool,
    user_id: String,
    /// Whether the user may call the reseller API.
    api_enabled: bool,
}

/// `PUT /api/admin/users/<user_id>/api-access` `{"enabled": bool}` (audited).
pub async fn admin_set_access(
    app: &App,
    caller: &Caller,
    user_id: &str,
    req: &Req,
) -> Result<Json<ApiAccessSet>, ApiError> {
    let body: ApiAccess = req.json()?;
    let audit = NewAudit {
        actor: caller.actor(),
        action: "users.api_access".into(),
        target: Some(user_id.to_owned()),
        detail: json!({"enabled": body.enabled}).to_string(),
    };
    app.store.set_api_access(user_id, body.enabled, audit, app.clock.now()).await.map_err(|e| match e {
        snspmt_store::StoreError::NotFound => ApiError::not_found("user"),
        e => e.into(),
    })?;
    Ok(Json(ApiAccessSet { success: true, user_id: user_id.to_owned(), api_enabled: body.enabled }))
}

crate::router::route_table! {
    ApiKeys: GET "/api/user/api-keys", User, "api_keys",
        reply Json<ApiKeys>,
        |app, caller, _| list(app, caller);
    CreateApiKey: POST "/api/user/api-keys", User, "api_keys.create",
        body CreateApiKey, reply Json<NewKey>,
        |app, caller, req| create(app, caller, req);
    RotateApiKey: POST "/api/user/api-keys/{id}/rotate", User, "api_keys.rotate",
        reply Json<NewKey>,
        |app, caller, _, id| rotate(app, caller, id);
    DeleteApiKey: DELETE "/api/user/api-keys/{id}", User, "api_keys.delete",
        reply Json<KeyDeleted>,
        |app, caller, _, id| delete(app, caller, id);
    AdminRevokeApiKey: DELETE "/api/admin/api-keys/{id}", Admin, "admin.api_keys.revoke",
        reply Json<KeyRevoked>,
        |app, caller, _, id| admin_revoke(app, caller, id);
    AdminSetApiAccess: PUT "/api/admin/users/{user_id}/api-access", Admin, "admin.users.api_access",
        body ApiAccess, reply Json<ApiAccessSet>,
        |app, caller, req, user_id| admin_set_access(app, caller, user_id, req);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_prefixed_and_hashed() {
        let (a, hash_a, prefix_a) = new_key();
        let (b, _, _) = new_key();
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX) && a.len() == KEY_PREFIX.len() + 43, "{a}");
        assert_eq!(prefix_a, a[..SHOWN_PREFIX_LEN]);
        assert_eq!(hash_a, token_hash(&a));
        assert_eq!(hash_a.len(), 64);
        assert!(new_key_id().starts_with("ak_"));
    }
}
