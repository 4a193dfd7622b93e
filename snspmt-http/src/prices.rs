//! The price cache: each user's price book and the catalogue's services, kept in this process
//! for the session cache's TTL (`SNSPMT_SESSION_CACHE_SECS`, `0` = off) and at most
//! `SNSPMT_SESSION_CACHE_SIZE` of each, so that pricing an order costs no read of the database.
//! On SQLite a read after any commit starts with an empty page cache: the two reads were a
//! sixth of the request threads' time in the order benchmark.
//!
//! What keeps it true is what keeps the session cache true ([`crate::sessions`]):
//! - **Revoke-through.** The store tells the cache after every commit of this process: a user
//!   whose discount or own prices changed ([`Change::Rates`]) and a service created or rewritten
//!   ([`Change::Service`]) are forgotten at once, so the next order reads the database.
//! - **Loads that raced a change are not kept** (the cache's epoch moved while they read).
//! - **Other processes.** A price changed by another server process on the same database is
//!   seen here at the latest when the entry expires, after the TTL: for that long, this process
//!   may still charge the price it read before. Every charge is still the conditional debit of
//!   the store; the cache decides what a price is, never whether a balance covers it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

use snspmt_store::{Change, ChangeWatcher, Millis, Service};

use crate::handlers::rates::PriceBook;

/// Price books by user id and services by id (`None`: no such service).
pub struct PriceCache {
    /// How long an entry is trusted (ms); 0 = the cache is off.
    ttl_ms: i64,
    /// Entries kept at most, per map.
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    books: HashMap<String, (PriceBook, Millis)>,
    services: HashMap<i64, (Option<Service>, Millis)>,
    /// Bumped by every change that a load in flight might have missed.
    epoch: u64,
}

impl PriceCache {
    /// A cache trusting entries for `secs` seconds (0 = off), of at most `size` of each kind.
    pub fn new(secs: u64, size: usize) -> PriceCache {
        PriceCache {
            ttl_ms: i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX),
            capacity: size.max(1),
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The epoch to hand to a `put`, taken before a load's query.
    pub fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// A user's cached price book.
    pub fn book(&self, user_id: &str, now: Millis) -> Option<PriceBook> {
        fresh(self.ttl_ms, &self.lock().books, user_id, now)
    }

    /// A cached service (`Some(None)`: known not to exist).
    pub fn service(&self, service_id: i64, now: Millis) -> Option<Option<Service>> {
        fresh(self.ttl_ms, &self.lock().services, &service_id, now)
    }

    /// Keeps a loaded book, unless something changed since `epoch` was taken. `started` is the
    /// time the load began (the entry's age counts from it).
    pub fn put_book(&self, user_id: &str, book: &PriceBook, started: Millis, epoch: u64) {
        let (ttl, capacity) = (self.ttl_ms, self.capacity);
        let mut inner = self.lock();
        if ttl > 0 && inner.epoch == epoch {
            keep(ttl, capacity, &mut inner.books, user_id.to_owned(), book.clone(), started);
        }
    }

    /// Keeps a loaded service (or its absence), as [`PriceCache::put_book`].
    pub fn put_service(&self, service_id: i64, service: &Option<Service>, started: Millis, epoch: u64) {
        let (ttl, capacity) = (self.ttl_ms, self.capacity);
        let mut inner = self.lock();
        if ttl > 0 && inner.epoch == epoch {
            keep(ttl, capacity, &mut inner.services, service_id, service.clone(), started);
        }
    }

    /// Books and services held now.
    pub fn len(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.books.len(), inner.services.len())
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }
}

/// The entry of `key`, while younger than `ttl_ms`.
fn fresh<K, Q, V>(ttl_ms: i64, map: &HashMap<K, (V, Millis)>, key: &Q, now: Millis) -> Option<V>
where
    K: Hash + Eq + std::borrow::Borrow<Q>,
    Q: Hash + Eq + ?Sized,
    V: Clone,
{
    let (value, cached_at) = map.get(key)?;
    (now.ms_since(*cached_at) < ttl_ms).then(|| value.clone())
}

/// Inserts an entry; a full map first drops its expired entries, and everything when that is
/// not enough (the bound holds; the next requests reload).
fn keep<K: Hash + Eq, V>(
    ttl_ms: i64,
    capacity: usize,
    map: &mut HashMap<K, (V, Millis)>,
    key: K,
    value: V,
    at: Millis,
) {
    if map.len() >= capacity && !map.contains_key(&key) {
        map.retain(|_, (_, cached_at)| at.ms_since(*cached_at) < ttl_ms);
        if map.len() >= capacity {
            map.clear();
        }
    }
    map.insert(key, (value, at));
}

impl ChangeWatcher for PriceCache {
    fn committed(&self, changes: &[Change]) {
        let mut inner = self.lock();
        for change in changes {
            match change {
                Change::Rates(user_id) => {
                    inner.books.remove(user_id);
                    inner.epoch += 1;
                }
                Change::Service(service_id) => {
                    inner.services.remove(service_id);
                    inner.epoch += 1;
                }
                Change::Balance { .. } | Change::User(_) | Change::Session(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use snspmt_core::Points;

    fn service(id: i64, price: i64) -> Service {
        Service {
            service_id: id,
            provider_service_id: format!("p{id}"),
            name: format!("service {id}"),
            category: String::new(),
            platform: String::new(),
            service_type: "default".into(),
            price_per_1000: Points(price),
            min_quantity: 10,
            max_quantity: 1000,
            dripfeed: false,
            refill: false,
            cancel: false,
            is_active: true,
            description: String::new(),
            created_at: Millis(0),
            updated_at: Millis(0),
        }
    }

    fn price_of(cache: &PriceCache, id: i64, now: i64) -> Option<Option<Points>> {
        cache.service(id, Millis(now)).map(|s| s.map(|s| s.price_per_1000))
    }

    #[test]
    fn hit_until_the_ttl() {
        let cache = PriceCache::new(5, 10);
        cache.put_service(1, &Some(service(1, 500)), Millis(1_000), cache.epoch());
        cache.put_service(2, &None, Millis(1_000), cache.epoch());
        cache.put_book("kim", &PriceBook::default(), Millis(1_000), cache.epoch());
        assert_eq!(price_of(&cache, 1, 5_999), Some(Some(Points(500))));
        assert_eq!(price_of(&cache, 2, 5_999), Some(None), "known not to exist");
        assert!(cache.book("kim", Millis(5_999)).is_some());
        assert_eq!(price_of(&cache, 1, 6_000), None, "5 s after the load began");
        assert!(cache.book("kim", Millis(6_000)).is_none());
        assert!(cache.book("lee", Millis(1_000)).is_none());
    }

    #[test]
    fn off_keeps_nothing() {
        let cache = PriceCache::new(0, 10);
        cache.put_service(1, &Some(service(1, 500)), Millis(0), cache.epoch());
        cache.put_book("kim", &PriceBook::default(), Millis(0), cache.epoch());
        assert!(cache.is_empty());
        assert_eq!(price_of(&cache, 1, 0), None);
    }

    #[test]
    fn changes_evict_and_a_load_that_raced_one_is_not_kept() {
        let cache = PriceCache::new(5, 10);
        cache.put_service(1, &Some(service(1, 500)), Millis(0), cache.epoch());
        cache.put_service(2, &Some(service(2, 700)), Millis(0), cache.epoch());
        cache.put_book("kim", &PriceBook::default(), Millis(0), cache.epoch());
        cache.put_book("lee", &PriceBook::default(), Millis(0), cache.epoch());
        cache.committed(&[Change::Service(1), Change::Rates("kim".into())]);
        assert_eq!(price_of(&cache, 1, 1), None);
        assert_eq!(price_of(&cache, 2, 1), Some(Some(Points(700))), "only the changed service");
        assert!(cache.book("kim", Millis(1)).is_none());
        assert!(cache.book("lee", Millis(1)).is_some(), "only the changed user");
        // Balances, users and sessions are the session cache's.
        cache.committed(&[Change::User("lee".into()), Change::Session("t".into())]);
        assert!(cache.book("lee", Millis(1)).is_some());
        // A load in flight while a price changes is served but not kept.
        let e = cache.epoch();
        cache.committed(&[Change::Service(1)]);
        cache.put_service(1, &Some(service(1, 500)), Millis(2), e);
        assert_eq!(price_of(&cache, 1, 3), None);
        let e = cache.epoch();
        cache.committed(&[Change::Rates("kim".into())]);
        cache.put_book("kim", &PriceBook::default(), Millis(2), e);
        assert!(cache.book("kim", Millis(3)).is_none());
        cache.put_service(1, &Some(service(1, 900)), Millis(4), cache.epoch());
        assert_eq!(price_of(&cache, 1, 5), Some(Some(Points(900))));
    }

    #[test]
    fn bounded() {
        let cache = PriceCache::new(5, 3);
        for i in 0..10 {
            cache.put_service(i, &None, Millis(0), cache.epoch());
            cache.put_book(&format!("u{i}"), &PriceBook::default(), Millis(0), cache.epoch());
            let (books, services) = cache.len();
            assert!(books <= 3 && services <= 3, "{books} books, {services} services");
        }
        assert_eq!(price_of(&cache, 9, 1), Some(None), "the newest is kept");
        // Expired entries make room first.
        let cache = PriceCache::new(5, 2);
        cache.put_service(0, &None, Millis(0), cache.epoch());
        cache.put_service(1, &None, Millis(4_000), cache.epoch());
        cache.put_service(2, &None, Millis(6_000), cache.epoch());
        assert_eq!((price_of(&cache, 1, 6_001), price_of(&cache, 2, 6_001)), (Some(None), Some(None)));
        assert_eq!(cache.len(), (0, 2));
    }
}
