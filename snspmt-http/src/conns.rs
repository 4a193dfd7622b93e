//! The open connections, so that a full house sheds its slowest client instead of refusing a
//! new one.
//!
//! Under the connection cap (`SNSPMT_MAX_CONNECTIONS`) a flood of idle or trickling clients
//! would otherwise keep every slot and turn every newcomer away, health probes included. When
//! the cap is reached, the oldest connection that is not working on a request (it is waiting
//! for a request head, or still receiving a body) is asked to close, and the newcomer takes its
//! slot. A connection is *working* from the moment its body has been read until its answer is
//! written; those are never shed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// A connection younger than this is never shed (it has had no time to send its request).
pub const SHED_MIN_AGE: Duration = Duration::from_millis(500);

/// The registry of open connections.
#[derive(Default)]
pub struct Conns {
    next: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Conn>>>,
}

/// One open connection.
pub struct Conn {
    id: u64,
    opened: Instant,
    working: AtomicBool,
    shedding: AtomicBool,
    shed: Notify,
}

/// Put in a request's extensions: the connection it came on.
#[derive(Clone)]
pub struct Working(pub Arc<Conn>);

impl Conn {
    /// Marks whether the connection is working on a request (not to be shed).
    pub fn set_working(&self, working: bool) {
        self.working.store(working, Ordering::Release);
    }

    /// Completes when the connection has been asked to close.
    pub async fn shed(&self) {
        self.shed.notified().await;
    }
}

impl Conns {
    /// Registers a new connection; [`Conns::close`] removes it.
    pub fn open(&self) -> Arc<Conn> {
        let conn = Arc::new(Conn {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            opened: Instant::now(),
            working: AtomicBool::new(false),
            shedding: AtomicBool::new(false),
            shed: Notify::new(),
        });
        self.lock().insert(conn.id, conn.clone());
        conn
    }

    pub fn close(&self, conn: &Conn) {
        self.lock().remove(&conn.id);
    }

    /// Asks the oldest connection that is idle or still receiving, and at least `min_age` old,
    /// to close. Whether one was asked.
    pub fn shed_one(&self, min_age: Duration) -> bool {
        let open = self.lock();
        let victim = open
            .values()
            .filter(|c| {
                !c.working.load(Ordering::Acquire)
                    && !c.shedding.load(Ordering::Acquire)
                    && c.opened.elapsed() >= min_age
            })
            .min_by_key(|c| c.opened);
        match victim {
            Some(c) => {
                c.shedding.store(true, Ordering::Release);
                // `notify_one` keeps a permit: a connection not yet waiting still closes.
                c.shed.notify_one();
                true
            }
            None => false,
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_oldest_idle_connection_is_shed_never_a_working_one() {
        let conns = Conns::default();
        let (old, young) = (conns.open(), conns.open());
        old.set_working(true);
        assert!(!conns.shed_one(Duration::from_secs(3600)), "none is old enough");
        assert!(conns.shed_one(Duration::ZERO), "the idle one");
        tokio::time::timeout(Duration::from_secs(1), young.shed()).await.expect("asked to close");
        assert!(!conns.shed_one(Duration::ZERO), "the working one stays, the shed one is not asked twice");
        old.set_working(false);
        assert!(conns.shed_one(Duration::ZERO));
        tokio::time::timeout(Duration::from_secs(1), old.shed()).await.expect("asked to close");
        conns.close(&old);
        conns.close(&young);
        assert!(conns.is_empty());
    }
}
