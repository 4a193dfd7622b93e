//! Credentials: bearer sessions, the admin token, passwords.
//!
//! Session tokens are 32 random bytes (base64url); the database keeps only their SHA-256.
//! Passwords are hashed with argon2id on the password gate's threads, each reusing its memory.
//! The admin token is compared in constant time (over SHA-256 digests, so the length leaks
//! nothing either).

use std::cell::RefCell;
use std::sync::OnceLock;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use snspmt_store::User;
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::guard::PasswordGate;
use crate::router::Access;
use crate::App;

/// How long a session lives: 30 days.
pub const SESSION_TTL_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Caller {
    Anonymous,
    /// A signed-in user (possibly an admin user).
    User(User),
    /// The holder of `ADMIN_TOKEN`.
    AdminToken,
}

impl Caller {
    pub fn user(&self) -> Option<&User> {
        match self {
            Caller::User(u) => Some(u),
            _ => None,
        }
    }

    pub fn is_admin(&self) -> bool {
        match self {
            Caller::AdminToken => true,
            Caller::User(u) => u.is_admin,
            Caller::Anonymous => false,
        }
    }

    /// Who to name in the audit log.
    pub fn actor(&self) -> String {
        match self {
            Caller::AdminToken => "admin-token".into(),
            Caller::User(u) => format!("user:{}", u.user_id),
            Caller::Anonymous => "anonymous".into(),
        }
    }

    /// The user a request is about: the caller, unless a `user_id` names someone else, which
    /// only an admin may do where `admin_may_act` — anyone else gets 403.
    pub fn subject(&self, requested: Option<&str>, admin_may_act: bool) -> Result<String, ApiError> {
        match (self, requested) {
            (Caller::User(u), None) => Ok(u.user_id.clone()),
            (Caller::User(u), Some(id)) if u.user_id == id => Ok(u.user_id.clone()),
            (c, Some(id)) if admin_may_act && c.is_admin() => Ok(id.to_owned()),
            (Caller::User(_), Some(_)) => Err(ApiError::forbidden()),
            (_, None) => Err(ApiError::invalid_field("user_id", "missing_field", "user_id is required")),
            (_, Some(_)) => Err(ApiError::forbidden()),
        }
    }
}

/// A new session token and the hash to store.
pub fn new_session_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

/// SHA-256 of a token, hex.
pub fn token_hash(token: &str) -> String {
    snspmt_core::lower_hex(&Sha256::digest(token.as_bytes()))
}

/// A random token for `ADMIN_TOKEN` when none is configured.
pub fn random_admin_token() -> String {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Constant-time comparison of a presented token with the configured one.
pub fn token_matches(presented: &str, expected: &str) -> bool {
    Sha256::digest(presented.as_bytes()).ct_eq(&Sha256::digest(expected.as_bytes())).into()
}

fn bearer(headers: &hyper::HeaderMap) -> Option<&str> {
    let v = headers.get(hyper::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The bearer token of a request, if any.
pub fn bearer_token(headers: &hyper::HeaderMap) -> Option<String> {
    bearer(headers).map(str::to_owned)
}

/// Establishes the caller for an endpoint's access level, or refuses.
pub async fn authenticate(app: &App, headers: &hyper::HeaderMap, access: Access) -> Result<Caller, ApiError> {
    if access == Access::Public {
        return Ok(Caller::Anonymous);
    }
    if access == Access::Metrics {
        let bearer_ok = app
            .config
            .metrics_token
            .as_deref()
            .is_some_and(|t| bearer(headers).is_some_and(|b| token_matches(b, t)));
        if bearer_ok {
            return Ok(Caller::AdminToken);
        }
        let admin_ok = headers
            .get("x-admin-token")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| app.config.is_admin_token(p));
        return if admin_ok { Ok(Caller::AdminToken) } else { Err(ApiError::unauthorized()) };
    }
    if access == Access::Cron {
        let ok = |name: &str, expected: &str| {
            headers.get(name).and_then(|v| v.to_str().ok()).is_some_and(|p| token_matches(p, expected))
        };
        let cron = app.config.cron_token.as_deref().is_some_and(|t| ok("x-cron-token", t));
        let admin = headers
            .get("x-admin-token")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| app.config.is_admin_token(p));
        return if cron || admin { Ok(Caller::AdminToken) } else { Err(ApiError::unauthorized()) };
    }
    if matches!(access, Access::Admin | Access::UserOrAdmin) {
        if let Some(presented) = headers.get("x-admin-token") {
            let ok = presented.to_str().is_ok_and(|p| app.config.is_admin_token(p));
            return if ok { Ok(Caller::AdminToken) } else { Err(ApiError::unauthorized()) };
        }
    }
    let Some(token) = bearer(headers) else {
        return Err(ApiError::unauthorized());
    };
    let user = session_user(app, &token_hash(token)).await?.ok_or_else(ApiError::unauthorized)?;
    if access == Access::Admin && !user.is_admin {
        return Err(ApiError::forbidden());
    }
    Ok(Caller::User(user))
}

/// The user of an unexpired session: from the session cache, or read (and cached).
pub async fn session_user(app: &App, hash: &str) -> Result<Option<User>, ApiError> {
    let now = app.clock.now();
    if !app.sessions.enabled() {
        return Ok(app.store.session_user(hash, now).await?);
    }
    if let Some(user) = app.sessions.get(hash, now) {
        return Ok(Some(user));
    }
    let epoch = app.sessions.epoch();
    let Some(snap) = app.store.session_snapshot(hash, now).await? else { return Ok(None) };
    app.sessions.put(hash, &snap, now, epoch);
    Ok(Some(snap.user))
}

/// Hashes a password with argon2id on the password gate's threads (it is deliberately slow
/// and takes ~19 MiB): 503 `overloaded` when the gate's queue is full.
pub async fn hash_password(gate: &PasswordGate, password: String) -> Result<String, ApiError> {
    gate.run(move || hash_blocking(&password)).await?.ok_or_else(ApiError::internal)
}

/// Verifies a password against a stored hash; with no hash, verifies against a dummy so that
/// unknown e-mails take as long as wrong passwords (behind the same gate).
pub async fn verify_password(
    gate: &PasswordGate,
    password: String,
    stored: Option<String>,
) -> Result<bool, ApiError> {
    gate.run(move || {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| dummy_hash().to_owned());
        verify_blocking(&password, &hash) && known
    })
    .await
}

/// The most memory a stored hash may ask for: 64 MiB (ours take 19 MiB).
const MAX_BLOCKS: usize = 64 * 1024;

thread_local! {
    /// The argon2 memory of this thread (a password gate thread), allocated once and reused:
    /// a fresh 19 MiB allocation per hash would spread over the allocator's arenas and stay.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// argon2 of `password` and `salt` with `params` into `out`, in this thread's memory.
fn argon2_into(ctx: &Argon2<'_>, params: &Params, password: &[u8], salt: &[u8], out: &mut [u8]) -> bool {
    let blocks = params.block_count();
    if blocks > MAX_BLOCKS {
        return false;
    }
    MEMORY.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() < blocks {
            m.resize(blocks, Block::default());
        }
        ctx.hash_password_into_with_memory(password, salt, out, &mut m[..blocks]).is_ok()
    })
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) of `password` with a new salt.
fn hash_blocking(password: &str) -> Option<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let params = Params::default();
    let ctx = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.as_salt().decode_b64(&mut salt_buf).ok()?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    if !argon2_into(&ctx, &params, password.as_bytes(), salt_bytes, &mut out) {
        return None;
    }
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).ok()?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).ok()?),
    };
    Some(phc.to_string())
}

/// Whether `password` matches the PHC string `phc` (constant-time comparison).
fn verify_blocking(password: &str, phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else { return false };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else { return false };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm) else { return false };
    let Ok(version) = hash.version.map(Version::try_from).transpose() else { return false };
    let Ok(params) = Params::try_from(&hash) else { return false };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else { return false };
    let mut out = vec![0u8; expected.len()];
    let ctx = Argon2::new(algorithm, version.unwrap_or_default(), params.clone());
    argon2_into(&ctx, &params, password.as_bytes(), salt, &mut out)
        && bool::from(out.ct_eq(expected.as_bytes()))
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking(&random_admin_token()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use snspmt_store::Millis;

    use super::*;

    #[test]
    fn tokens() {
        let (t, h) = new_session_token();
        assert_eq!(t.len(), 43);
        assert_eq!(h, token_hash(&t));
        assert_eq!(h.len(), 64);
        assert_ne!(new_session_token().0, t);
        assert!(token_matches("abc", "abc"));
        assert!(!token_matches("abc", "abd"));
        assert!(!token_matches("", "abc"));
    }

    #[test]
    fn bearer_parsing() {
        let mut h = hyper::HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(hyper::header::AUTHORIZATION, "Bearer abc".parse().expect("header"));
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(hyper::header::AUTHORIZATION, "bearer  xyz ".parse().expect("header"));
        assert_eq!(bearer(&h), Some("xyz"));
        h.insert(hyper::header::AUTHORIZATION, "Basic abc".parse().expect("header"));
        assert_eq!(bearer(&h), None);
    }

    fn user(id: &str, admin: bool) -> User {
        User {
            user_id: id.into(),
            email: None,
            name: String::new(),
            display_name: String::new(),
            is_admin: admin,
            points: snspmt_core::Points(0),
            has_password: false,
            created_at: Millis(0),
            email_verified: false,
            referral_code: None,
        }
    }

    #[test]
    fn subjects() {
        let alice = Caller::User(user("alice", false));
        assert_eq!(alice.subject(None, true).ok(), Some("alice".into()));
        assert_eq!(alice.subject(Some("alice"), false).ok(), Some("alice".into()));
        assert_eq!(alice.subject(Some("bob"), true).map_err(|e| e.code), Err("forbidden"));
        let admin = Caller::User(user("root", true));
        assert_eq!(admin.subject(Some("bob"), true).ok(), Some("bob".into()));
        assert_eq!(admin.subject(Some("bob"), false).map_err(|e| e.code), Err("forbidden"));
        assert_eq!(Caller::AdminToken.subject(Some("bob"), true).ok(), Some("bob".into()));
        assert_eq!(Caller::AdminToken.subject(None, true).map_err(|e| e.code), Err("missing_field"));
    }

    #[tokio::test]
    async fn passwords() {
        let gate = PasswordGate::new(1, 4);
        let h = hash_password(&gate, "correct horse".into()).await.expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&gate, "correct horse".into(), Some(h.clone())).await.expect("run"));
        assert!(!verify_password(&gate, "wrong horse".into(), Some(h)).await.expect("run"));
        assert!(!verify_password(&gate, "anything".into(), None).await.expect("run"));
        // Hashes made by the argon2 crate's own API verify, and ours verify there.
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let theirs = Argon2::default().hash_password(b"old password", &salt).expect("hash").to_string();
        assert!(verify_password(&gate, "old password".into(), Some(theirs)).await.expect("run"));
        let ours = hash_password(&gate, "new password".into()).await.expect("hash");
        let parsed = PasswordHash::new(&ours).expect("phc");
        assert!(Argon2::default().verify_password(b"new password", &parsed).is_ok());
        assert!(!verify_blocking("x", "$argon2id$v=19$m=999999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"));
        assert!(!verify_blocking("x", "not a hash"));
    }
}
