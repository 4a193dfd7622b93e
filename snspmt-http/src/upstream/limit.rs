//! Manners towards one upstream: at most `concurrency` calls at once and, when set, at most
//! `calls` calls every `per` ([`Rate`]). Every call to the SMM panel holds a [`Slot`] while it
//! runs, whoever makes it (an order's immediate submission, the worker, the status sync, the
//! admin proxy), so a burst of orders queues here instead of flooding the panel.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// `N` calls every `per`, as `SNSPMT_UPSTREAM_RATE=N/SECONDS` says (the same reading as the
/// login and registration limits).
pub use crate::guard::Rate;

/// The rate's calls spread evenly over its period, a burst of at most `N`.
fn quota(rate: Rate) -> Option<Quota> {
    let calls = NonZeroU32::new(rate.n)?;
    let every = rate.per.checked_div(rate.n).filter(|d| !d.is_zero())?;
    Some(Quota::with_period(every)?.allow_burst(calls))
}

/// The permission to make one upstream call; the call's slot is free again when it drops.
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

/// The limits of one upstream provider. Cheap to share (`Arc`).
pub struct Limiter {
    slots: Arc<Semaphore>,
    rate: Option<DefaultDirectRateLimiter>,
    /// The rate's calls per second, if any.
    per_second: Option<f64>,
    concurrency: usize,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("concurrency", &self.concurrency)
            .field("free", &self.slots.available_permits())
            .field("rate", &self.rate.is_some())
            .finish()
    }
}

impl Limiter {
    /// At most `concurrency` (at least 1) calls at once and, with a rate, at most that many a
    /// period.
    pub fn new(concurrency: usize, rate: Option<Rate>) -> Limiter {
        let concurrency = concurrency.clamp(1, Semaphore::MAX_PERMITS);
        let quota = rate.and_then(quota);
        Limiter {
            slots: Arc::new(Semaphore::new(concurrency)),
            rate: quota.map(RateLimiter::direct),
            per_second: quota.map(|q| 1.0 / q.replenish_interval().as_secs_f64()),
            concurrency,
        }
    }

    /// How many calls may run at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// The rate's calls per second, if a rate is set.
    pub fn per_second(&self) -> Option<f64> {
        self.per_second
    }

    /// Waits for a slot (and for the rate to allow one more call).
    pub async fn slot(&self) -> Slot {
        // The semaphore is never closed.
        let permit = match self.slots.clone().acquire_owned().await {
            Ok(p) => p,
            Err(_) => unreachable_closed(),
        };
        if let Some(rate) = &self.rate {
            rate.until_ready().await;
        }
        Slot { _permit: permit }
    }

    /// A slot within `wait`, or `None` (the caller leaves the work for later).
    pub async fn slot_within(&self, wait: Duration) -> Option<Slot> {
        tokio::time::timeout(wait, self.slot()).await.ok()
    }

    /// A slot now, or `None`.
    pub fn try_slot(&self) -> Option<Slot> {
        let permit = self.slots.clone().try_acquire_owned().ok()?;
        if let Some(rate) = &self.rate {
            rate.check().ok()?;
        }
        Some(Slot { _permit: permit })
    }
}

/// The limiter's semaphore is owned by it and never closed.
#[cold]
fn unreachable_closed() -> ! {
    panic!("the upstream limiter's semaphore is never closed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        let r = |n, secs| Ok(Some(Rate { n, per: Duration::from_secs(secs) }));
        assert_eq!(Rate::parse("20/1"), r(20, 1));
        assert_eq!(Rate::parse(" 600 / 60 "), r(600, 60));
        assert_eq!(Rate::parse("0"), Ok(None));
        assert_eq!(Rate::parse("0/10"), Ok(None));
        for bad in ["", "20", "20/0", "x/1", "1/x", "-1/1", "1/999999", "1/1/1"] {
            assert!(Rate::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn slots_are_bounded_and_given_back() {
        let limiter = Limiter::new(2, None);
        let a = limiter.try_slot().expect("first");
        let _b = limiter.slot().await;
        assert!(limiter.try_slot().is_none(), "two at most");
        assert!(limiter.slot_within(Duration::from_millis(20)).await.is_none());
        drop(a);
        assert!(limiter.slot_within(Duration::from_millis(20)).await.is_some());
        assert_eq!(Limiter::new(0, None).concurrency(), 1);
    }

    #[tokio::test]
    async fn the_rate_spaces_calls() {
        let rate = Rate::parse("2/1").expect("rate");
        let limiter = Limiter::new(8, rate);
        let started = std::time::Instant::now();
        for _ in 0..3 {
            drop(limiter.slot().await);
        }
        // A burst of two, then one more half a second later.
        assert!(started.elapsed() >= Duration::from_millis(400), "{:?}", started.elapsed());
        assert!(limiter.try_slot().is_none(), "the rate is spent");
    }
}
