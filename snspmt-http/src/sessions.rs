//! The session cache: a bearer token's hash → its session's user (and balance), kept in this
//! process for `SNSPMT_SESSION_CACHE_SECS` (default 5 s, `0` = off) and at most
//! `SNSPMT_SESSION_CACHE_SIZE` sessions, so that a signed-in request costs no database round
//! trip for its caller.
//!
//! What keeps it true:
//! - **Revoke-through.** The store tells the cache after every commit of this process
//!   ([`snspmt_store::Maintenance::watch`]): a revoked session (logout) and a changed user
//!   (admin update, e-mail verified, referral code) are forgotten at once, so the next request
//!   reads the database.
//! - **Write-through balance.** Every posting of this process hands over the balance its ledger
//!   row left (`balance_after`) and the row's id. Per user, ledger ids grow in commit order, and
//!   the cached balance only moves to a higher id, so it never goes back to an older value, and
//!   a load is stamped with the user's last ledger id read in the same snapshot.
//! - **Loads that raced a change are not kept.** A load remembers the cache's epoch (bumped by
//!   every revocation, user change, and posting of a user not cached) before its query, and is
//!   served but not cached when the epoch moved meanwhile.
//! - **Other processes.** What another server process writing the same database does (a
//!   logout, a payment) is not told to this one: it is seen here at the latest when the entry
//!   expires, after the TTL. That bounds how stale a cached balance may be shown. It never
//!   bounds money: a debit is a conditional `UPDATE` on the database, whatever the cache says.

use std::collections::HashMap;
use std::sync::Mutex;

use snspmt_store::{Change, ChangeWatcher, Millis, SessionSnapshot, User};

/// Sessions (token hash → user) and their users (user id → user and balance).
pub struct SessionCache {
    /// How long an entry is trusted (ms); 0 = the cache is off.
    ttl_ms: i64,
    /// Sessions kept at most (and users, which are fewer).
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<String, Session>,
    users: HashMap<String, Cached>,
    /// Bumped by every change that a load in flight might have missed.
    epoch: u64,
}

struct Session {
    user_id: String,
    /// The session's own expiry.
    expires_at: Millis,
    /// When its load started.
    cached_at: Millis,
}

struct Cached {
    user: User,
    /// The id of the ledger row `user.points` is the balance after (0: none).
    mark: i64,
    cached_at: Millis,
}

impl SessionCache {
    /// A cache trusting entries for `secs` seconds (0 = off), of at most `size` sessions.
    pub fn new(secs: u64, size: usize) -> SessionCache {
        SessionCache {
            ttl_ms: i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX),
            capacity: size.max(1),
            inner: Mutex::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.ttl_ms > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The user of a cached, unexpired session, if any.
    pub fn get(&self, token_hash: &str, now: Millis) -> Option<User> {
        if !self.enabled() {
            return None;
        }
        let inner = self.lock();
        let s = inner.sessions.get(token_hash)?;
        if now >= s.expires_at || now.ms_since(s.cached_at) >= self.ttl_ms {
            return None;
        }
        let u = inner.users.get(&s.user_id)?;
        (now.ms_since(u.cached_at) < self.ttl_ms).then(|| u.user.clone())
    }

    /// The epoch to hand to [`SessionCache::put`], taken before a load's query.
    pub fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// Keeps a loaded session, unless something changed since `epoch` was taken. `started` is
    /// the time the load began (the entry's age counts from it).
    pub fn put(&self, token_hash: &str, snap: &SessionSnapshot, started: Millis, epoch: u64) {
        if !self.enabled() {
            return;
        }
        let mut inner = self.lock();
        if inner.epoch != epoch {
            return;
        }
        if inner.sessions.len() >= self.capacity && !inner.sessions.contains_key(token_hash) {
            self.make_room(&mut inner, started);
        }
        let mut fresh = Cached { user: snap.user.clone(), mark: snap.ledger_mark, cached_at: started };
        if let Some(known) = inner.users.get(&snap.user.user_id) {
            // A posting told since the load's snapshot is newer than what the load read.
            if known.mark > fresh.mark {
                fresh.user.points = known.user.points;
                fresh.mark = known.mark;
            }
        }
        inner.users.insert(snap.user.user_id.clone(), fresh);
        let session =
            Session { user_id: snap.user.user_id.clone(), expires_at: snap.expires_at, cached_at: started };
        inner.sessions.insert(token_hash.to_owned(), session);
    }

    /// Drops the expired entries, and everything when that is not enough (the bound holds; the
    /// next requests reload).
    fn make_room(&self, inner: &mut Inner, now: Millis) {
        let ttl = self.ttl_ms;
        inner.sessions.retain(|_, s| now < s.expires_at && now.ms_since(s.cached_at) < ttl);
        if inner.sessions.len() >= self.capacity {
            inner.sessions.clear();
        }
        let Inner { sessions, users, .. } = inner;
        let referenced: std::collections::HashSet<&str> =
            sessions.values().map(|s| s.user_id.as_str()).collect();
        users.retain(|id, u| now.ms_since(u.cached_at) < ttl && referenced.contains(id.as_str()));
    }

    /// Sessions and users held now.
    pub fn len(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.sessions.len(), inner.users.len())
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }
}

impl ChangeWatcher for SessionCache {
    fn committed(&self, changes: &[Change]) {
        if !self.enabled() {
            return;
        }
        let mut inner = self.lock();
        for change in changes {
            match change {
                Change::Balance { user_id, points, ledger_id } => match inner.users.get_mut(user_id) {
                    Some(u) => {
                        if *ledger_id > u.mark {
                            u.user.points = *points;
                            u.mark = *ledger_id;
                        }
                    }
                    // A load of this user in flight may have read the balance before it.
                    None => inner.epoch += 1,
                },
                Change::User(user_id) => {
                    inner.users.remove(user_id);
                    inner.epoch += 1;
                }
                Change::Session(token_hash) => {
                    inner.sessions.remove(token_hash);
                    inner.epoch += 1;
                }
                // The price cache's.
                Change::Rates(_) | Change::Service(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use snspmt_core::Points;

    fn snap(user_id: &str, points: i64, mark: i64) -> SessionSnapshot {
        SessionSnapshot {
            user: User {
                user_id: user_id.into(),
                email: None,
                name: String::new(),
                display_name: String::new(),
                is_admin: false,
                points: Points(points),
                has_password: false,
                created_at: Millis(0),
                email_verified: false,
                referral_code: None,
            },
            expires_at: Millis(1_000_000),
            ledger_mark: mark,
        }
    }

    fn balance(user_id: &str, points: i64, ledger_id: i64) -> Change {
        Change::Balance { user_id: user_id.into(), points: Points(points), ledger_id }
    }

    #[test]
    fn hit_until_the_ttl_or_the_session_expiry() {
        let cache = SessionCache::new(5, 10);
        let e = cache.epoch();
        cache.put("t", &snap("kim", 100, 3), Millis(1_000), e);
        assert_eq!(cache.get("t", Millis(1_000)).map(|u| u.points), Some(Points(100)));
        assert_eq!(cache.get("t", Millis(5_999)).map(|u| u.user_id), Some("kim".into()));
        assert!(cache.get("t", Millis(6_000)).is_none(), "5 s after the load began");
        assert!(cache.get("other", Millis(1_000)).is_none());
        let mut short = snap("lee", 1, 0);
        short.expires_at = Millis(2_000);
        cache.put("s", &short, Millis(1_000), e);
        assert!(cache.get("s", Millis(1_999)).is_some());
        assert!(cache.get("s", Millis(2_000)).is_none(), "the session itself expired");
    }

    #[test]
    fn off_keeps_nothing() {
        let cache = SessionCache::new(0, 10);
        cache.put("t", &snap("kim", 100, 3), Millis(1_000), cache.epoch());
        assert!(cache.get("t", Millis(1_000)).is_none());
        assert!(cache.is_empty());
    }

    #[test]
    fn balances_move_forward_only() {
        let cache = SessionCache::new(5, 10);
        cache.put("t", &snap("kim", 100, 3), Millis(0), cache.epoch());
        cache.committed(&[balance("kim", 90, 5)]);
        assert_eq!(cache.get("t", Millis(1)).map(|u| u.points), Some(Points(90)));
        // A posting told late (an older ledger row) does not take the balance back.
        cache.committed(&[balance("kim", 95, 4)]);
        assert_eq!(cache.get("t", Millis(1)).map(|u| u.points), Some(Points(90)));
        // A load that read an older snapshot keeps the newer told balance.
        cache.put("t2", &snap("kim", 100, 3), Millis(2), cache.epoch());
        assert_eq!(cache.get("t2", Millis(3)).map(|u| u.points), Some(Points(90)));
        assert_eq!(cache.get("t", Millis(3)).map(|u| u.points), Some(Points(90)));
        // A newer load wins.
        cache.put("t", &snap("kim", 70, 9), Millis(4), cache.epoch());
        assert_eq!(cache.get("t2", Millis(5)).map(|u| u.points), Some(Points(70)));
    }

    #[test]
    fn a_load_that_raced_a_change_is_not_kept() {
        let cache = SessionCache::new(5, 10);
        // A posting of a user not cached, while their load is in flight.
        let e = cache.epoch();
        cache.committed(&[balance("kim", 90, 5)]);
        cache.put("t", &snap("kim", 100, 4), Millis(0), e);
        assert!(cache.get("t", Millis(1)).is_none());
        // A revocation while a load is in flight.
        let e = cache.epoch();
        cache.committed(&[Change::Session("t".into())]);
        cache.put("t", &snap("kim", 90, 5), Millis(0), e);
        assert!(cache.get("t", Millis(1)).is_none());
        // A load that began after them is kept.
        cache.put("t", &snap("kim", 90, 5), Millis(0), cache.epoch());
        assert!(cache.get("t", Millis(1)).is_some());
    }

    #[test]
    fn revocations_and_user_changes_evict() {
        let cache = SessionCache::new(5, 10);
        let e = cache.epoch();
        cache.put("a", &snap("kim", 1, 0), Millis(0), e);
        cache.put("b", &snap("kim", 1, 0), Millis(0), e);
        cache.put("c", &snap("lee", 1, 0), Millis(0), e);
        cache.committed(&[Change::Session("a".into())]);
        assert!(cache.get("a", Millis(1)).is_none());
        assert!(cache.get("b", Millis(1)).is_some());
        cache.committed(&[Change::User("kim".into())]);
        assert!(cache.get("b", Millis(1)).is_none(), "every session of a changed user");
        assert!(cache.get("c", Millis(1)).is_some());
    }

    #[test]
    fn bounded() {
        let cache = SessionCache::new(5, 3);
        for i in 0..10 {
            cache.put(&format!("t{i}"), &snap(&format!("u{i}"), 1, 0), Millis(0), cache.epoch());
            let (sessions, users) = cache.len();
            assert!(sessions <= 3 && users <= 3, "{sessions} sessions, {users} users");
        }
        assert!(cache.get("t9", Millis(1)).is_some(), "the newest is kept");
        // Expired entries make room first.
        let cache = SessionCache::new(5, 2);
        cache.put("old", &snap("u0", 1, 0), Millis(0), cache.epoch());
        cache.put("mid", &snap("u1", 1, 0), Millis(4_000), cache.epoch());
        cache.put("new", &snap("u2", 1, 0), Millis(6_000), cache.epoch());
        assert!(cache.get("mid", Millis(6_001)).is_some());
        assert!(cache.get("new", Millis(6_001)).is_some());
        assert_eq!(cache.len(), (2, 2));
    }
}
