//! Bounded work per client: rate limits on login and registration (per client address and
//! per account), the client address behind trusted proxies, and the gate in front of password
//! hashing.
//!
//! Everything here is in-process memory with a fixed bound: a limiter keeps at most
//! [`MAX_KEYS`] keys (evicting full buckets, then the least recently seen), and the password
//! gate lets [`PasswordGate::permits`] hashes run (on threads of its own) with at most `queue`
//! more waiting; beyond that a request is answered 503 at once, holding nothing.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::StatusCode;

use crate::error::ApiError;

/// The most keys one limiter remembers.
pub const MAX_KEYS: usize = 65_536;

/// `N` events per `per` (a token bucket: bursts of `N`, refilled evenly over `per`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub n: u32,
    pub per: Duration,
}

impl Rate {
    /// `N/SECONDS` (`20/60`); `0` (or `0/…`) is no limit (`None`).
    pub fn parse(s: &str) -> Result<Option<Rate>, String> {
        let s = s.trim();
        if s == "0" {
            return Ok(None);
        }
        let bad = || format!("must look like N/SECONDS (e.g. 20/60) or 0: {s}");
        let (n, secs) = s.split_once('/').ok_or_else(bad)?;
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        let secs: u64 = secs.trim().parse().map_err(|_| bad())?;
        if n == 0 {
            return Ok(None);
        }
        if secs == 0 || secs > 86_400 * 7 {
            return Err(bad());
        }
        Ok(Some(Rate { n, per: Duration::from_secs(secs) }))
    }
}

struct Bucket {
    tokens: f64,
    seen: Instant,
}

/// A keyed token-bucket limiter with a bounded number of keys.
pub struct RateLimiter {
    rate: Option<Rate>,
    buckets: Mutex<HashMap<String, Bucket>>,
    max_keys: usize,
}

impl RateLimiter {
    pub fn new(rate: Option<Rate>) -> RateLimiter {
        RateLimiter::with_capacity(rate, MAX_KEYS)
    }

    pub fn with_capacity(rate: Option<Rate>, max_keys: usize) -> RateLimiter {
        RateLimiter { rate, buckets: Mutex::new(HashMap::new()), max_keys: max_keys.max(2) }
    }

    /// Takes one event for `key` at `now`: `Ok`, or `Err(seconds to wait)`.
    pub fn check_at(&self, key: &str, now: Instant) -> Result<(), u64> {
        let Some(rate) = self.rate else { return Ok(()) };
        let cap = f64::from(rate.n);
        let per_sec = cap / rate.per.as_secs_f64();
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if !map.contains_key(key) && map.len() >= self.max_keys {
            Self::evict(&mut map, now, per_sec, cap, self.max_keys);
        }
        let b = map.entry(key.to_owned()).or_insert(Bucket { tokens: cap, seen: now });
        let refill = now.saturating_duration_since(b.seen).as_secs_f64() * per_sec;
        b.tokens = (b.tokens + refill).min(cap);
        b.seen = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / per_sec).ceil().max(1.0) as u64)
        }
    }

    pub fn check(&self, key: &str) -> Result<(), u64> {
        self.check_at(key, Instant::now())
    }

    /// Drops the buckets that have refilled (they hold nothing a new bucket would not); if
    /// that is not enough, keeps the most recently seen half.
    fn evict(map: &mut HashMap<String, Bucket>, now: Instant, per_sec: f64, cap: f64, max: usize) {
        map.retain(|_, b| b.tokens + now.saturating_duration_since(b.seen).as_secs_f64() * per_sec < cap);
        if map.len() >= max {
            let mut seen: Vec<Instant> = map.values().map(|b| b.seen).collect();
            let mid = seen.len() / 2;
            let (_, cut, _) = seen.select_nth_unstable(mid);
            let cut = *cut;
            map.retain(|_, b| b.seen > cut);
        }
    }

    pub fn len(&self) -> usize {
        self.buckets.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// 429 `rate_limited` with `Retry-After`.
pub fn rate_limited(retry_after: u64) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "요청이 너무 많습니다. 잠시 후 다시 시도하세요 (too many requests)",
    );
    e.retry_after = Some(retry_after);
    e
}

/// An address block: `10.0.0.0/8`, `::1`, `192.168.1.7`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    bits: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let bad = || format!("not an IP address or CIDR block: {s}");
        let (a, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u8>().map_err(|_| bad())?)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        if bits > max {
            return Err(bad());
        }
        Ok(Cidr { addr, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => prefix_eq(&a.octets(), &b.octets(), self.bits),
            (IpAddr::V6(a), IpAddr::V6(b)) => prefix_eq(&a.octets(), &b.octets(), self.bits),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let (whole, rest) = (usize::from(bits / 8), bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || (a[whole] ^ b[whole]) >> (8 - rest) == 0
}

/// An IPv4-mapped IPv6 address as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// `SNSPMT_TRUSTED_PROXIES`: a comma list of addresses and blocks.
pub fn parse_proxies(s: &str) -> Result<Vec<Cidr>, String> {
    s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(Cidr::parse).collect()
}

/// The client's address: the TCP peer, or — only when the peer is a trusted proxy — the
/// right-most address of `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(peer: Option<SocketAddr>, headers: &hyper::HeaderMap, trusted: &[Cidr]) -> Option<IpAddr> {
    let peer = canonical(peer?.ip());
    if !trusted.iter().any(|c| c.contains(peer)) {
        return Some(peer);
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for v in headers.get_all("x-forwarded-for") {
        let Ok(v) = v.to_str() else { return Some(peer) };
        for part in v.split(',') {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) => hops.push(canonical(ip)),
                // A hop we cannot read: trust nothing to its left.
                Err(_) => hops.clear(),
            }
        }
    }
    Some(hops.into_iter().rev().find(|ip| !trusted.iter().any(|c| c.contains(*ip))).unwrap_or(peer))
}

/// The limiter key of an address: IPv4 as is, IPv6 by its /64 (one subscriber's block).
pub fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// At most `permits` password hashes at once and `queue` more waiting: `permits` threads of
/// its own (so the hashing memory, ~19 MiB a hash, lives in at most `permits` threads'
/// allocator arenas and is reused, instead of spreading over the blocking pool's many
/// threads), fed through a channel of `queue` places.
pub struct PasswordGate {
    jobs: std::sync::mpsc::SyncSender<Job>,
    permits: usize,
}

/// Seconds a refused client is told to wait.
pub const OVERLOAD_RETRY_AFTER: u64 = 1;

impl PasswordGate {
    pub fn new(permits: usize, queue: usize) -> PasswordGate {
        let permits = permits.max(1);
        let (jobs, rx) = std::sync::mpsc::sync_channel::<Job>(queue);
        let rx = std::sync::Arc::new(Mutex::new(rx));
        for i in 0..permits {
            let rx = rx.clone();
            let spawned =
                std::thread::Builder::new().name(format!("snspmt-password-{i}")).spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    match job {
                        // A panicking job loses its answer (the caller gets 500), not the thread.
                        Ok(job) => drop(std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))),
                        Err(_) => return,
                    }
                });
            if let Err(e) = spawned {
                crate::log::error(&format!("password worker not started: {e}"));
            }
        }
        PasswordGate { jobs, permits }
    }

    /// Permits ≈ CPUs, and a queue of 8 per permit.
    pub fn for_this_machine() -> PasswordGate {
        let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        PasswordGate::new(cpus, cpus * 8)
    }

    pub fn permits(&self) -> usize {
        self.permits
    }

    /// Runs `work` on the gate's threads; refuses at once (503 `overloaded`) when every
    /// thread is busy and the queue is full.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(work());
        });
        self.jobs.try_send(job).map_err(|e| match e {
            std::sync::mpsc::TrySendError::Full(_) => overloaded(),
            std::sync::mpsc::TrySendError::Disconnected(_) => ApiError::internal(),
        })?;
        rx.await.map_err(|_| ApiError::internal())
    }
}

/// 503 `overloaded` with `Retry-After`.
pub fn overloaded() -> ApiError {
    let mut e = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "overloaded",
        "서버가 바쁩니다. 잠시 후 다시 시도하세요 (too many password checks at once)",
    );
    e.retry_after = Some(OVERLOAD_RETRY_AFTER);
    e
}

/// The guards of account endpoints, shared by all requests.
pub struct Guards {
    pub passwords: PasswordGate,
    pub login_by_ip: RateLimiter,
    pub login_by_account: RateLimiter,
    pub register_by_ip: RateLimiter,
    pub register_by_account: RateLimiter,
    /// Verification e-mails a user may ask for: [`RESEND_RATE`].
    pub resend: RateLimiter,
    /// Reseller API calls per API key (`SNSPMT_API_RATE`); no limit unless
    /// [`Guards::with_api_rate`] sets one.
    pub api: RateLimiter,
}

/// Resending the verification e-mail: 3 per 10 minutes per user.
pub const RESEND_RATE: Rate = Rate { n: 3, per: Duration::from_secs(600) };

impl Guards {
    pub fn new(login: Option<Rate>, register: Option<Rate>) -> Guards {
        Guards {
            passwords: PasswordGate::for_this_machine(),
            login_by_ip: RateLimiter::new(login),
            login_by_account: RateLimiter::new(login),
            register_by_ip: RateLimiter::new(register),
            register_by_account: RateLimiter::new(register),
            resend: RateLimiter::new(Some(RESEND_RATE)),
            api: RateLimiter::new(None),
        }
    }

    /// The same guards with the reseller API's per-key rate.
    pub fn with_api_rate(mut self, rate: Option<Rate>) -> Guards {
        self.api = RateLimiter::new(rate);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(Rate::parse("20/60"), Ok(Some(Rate { n: 20, per: Duration::from_secs(60) })));
        assert_eq!(Rate::parse("0"), Ok(None));
        assert_eq!(Rate::parse("0/60"), Ok(None));
        assert!(Rate::parse("20").is_err());
        assert!(Rate::parse("20/0").is_err());
        assert!(Rate::parse("x/60").is_err());
    }

    #[test]
    fn buckets_refill_and_say_how_long_to_wait() {
        let l = RateLimiter::new(Some(Rate { n: 2, per: Duration::from_secs(10) }));
        let t = Instant::now();
        assert!(l.check_at("a", t).is_ok());
        assert!(l.check_at("a", t).is_ok());
        assert_eq!(l.check_at("a", t), Err(5));
        assert!(l.check_at("b", t).is_ok(), "keys are apart");
        assert!(l.check_at("a", t + Duration::from_secs(5)).is_ok(), "one token back after 5 s");
        assert!(RateLimiter::new(None).check("a").is_ok());
    }

    #[test]
    fn keys_are_bounded() {
        let l = RateLimiter::with_capacity(Some(Rate { n: 1, per: Duration::from_secs(60) }), 100);
        let t = Instant::now();
        for i in 0..1000 {
            let _ = l.check_at(&format!("k{i}"), t + Duration::from_millis(i));
        }
        assert!(l.len() <= 100, "{}", l.len());
        // The most recent key is still limited.
        assert!(l.check_at("k999", t + Duration::from_millis(1000)).is_err());
    }

    #[test]
    fn trusted_proxies() {
        let trusted = parse_proxies("10.0.0.0/8, ::1").expect("list");
        let mut h = hyper::HeaderMap::new();
        h.insert("x-forwarded-for", "1.2.3.4, 10.1.1.1".parse().expect("header"));
        let peer = |s: &str| Some(SocketAddr::new(s.parse().expect("ip"), 1));
        assert_eq!(client_ip(peer("10.0.0.1"), &h, &trusted), "1.2.3.4".parse().ok());
        assert_eq!(client_ip(peer("[::1]".trim_matches(['[', ']'])), &h, &trusted), "1.2.3.4".parse().ok());
        assert_eq!(client_ip(peer("8.8.8.8"), &h, &trusted), "8.8.8.8".parse().ok(), "untrusted peer");
        h.insert("x-forwarded-for", "garbage".parse().expect("header"));
        assert_eq!(client_ip(peer("10.0.0.1"), &h, &trusted), "10.0.0.1".parse().ok());
        assert!(parse_proxies("10.0.0.0/33").is_err());
        assert!(Cidr::parse("192.168.0.0/16")
            .expect("cidr")
            .contains("::ffff:192.168.3.4".parse().expect("ip")));
        assert_eq!(ip_key("2001:db8:1:2:3:4:5:6".parse().expect("ip")), "2001:db8:1:2::/64");
    }

    #[tokio::test]
    async fn the_gate_refuses_beyond_its_queue() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let gate = std::sync::Arc::new(PasswordGate::new(1, 1));
        let started = std::sync::Arc::new(AtomicBool::new(false));
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (g, s) = (gate.clone(), started.clone());
        let first = tokio::spawn(async move {
            g.run(move || {
                s.store(true, Ordering::SeqCst);
                wait.recv().is_ok()
            })
            .await
            .is_ok()
        });
        while !started.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // The one thread is busy; the second job takes the one queue place, the third is refused.
        let (second_ran, second_done) = std::sync::mpsc::channel::<()>();
        let second = gate.jobs.try_send(Box::new(move || {
            let _ = second_ran.send(());
        }));
        assert!(second.is_ok());
        let e = gate.run(|| true).await.map_err(|e| (e.code, e.retry_after)).err();
        assert_eq!(e, Some(("overloaded", Some(OVERLOAD_RETRY_AFTER))));
        release.send(()).expect("release");
        assert!(first.await.expect("join"));
        // The queued job has left the queue once it runs: the gate takes work again.
        second_done.recv_timeout(Duration::from_secs(10)).expect("the queued job ran");
        assert_eq!(gate.run(|| 7).await.ok(), Some(7));
        assert_eq!(gate.run(|| panic!("boom")).await.map_err(|e| e.code).err(), Some("internal"));
        assert_eq!(gate.run(|| 8).await.ok(), Some(8), "a panic does not kill the thread");
    }
}
