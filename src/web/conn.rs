//! What one connection may hold: a deadline for every phase in which the server waits on the
//! client, and a slot under the cap on open connections.
//!
//! A connection is *idle* while no request is in flight on it: from accept until its first
//! request head is read (TLS handshake and HTTP/2 sniff included), and between a response and
//! the next request head. Idle time is always bounded (`header_timeout` for the first request,
//! `idle_timeout` after a response); a request in flight has its body bounded by
//! `body_timeout` (see `body.rs`). When the cap is reached, the connection idle the longest is
//! closed to make room, so sockets that send nothing cannot lock out the scrapers.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;

/// Why the server closed a connection (the `reason` label of the cut counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// No complete request head within `header_timeout` of accept (handshake included).
    HeaderTimeout,
    /// No new request within `idle_timeout` of the last response (or its write stalled).
    IdleTimeout,
    /// A request body not complete within `body_timeout` (answered 408).
    BodyTimeout,
    /// Closed while idle to make room for a new connection at the cap.
    Evicted,
}

impl Cut {
    pub const ALL: [Cut; 4] = [
        Cut::HeaderTimeout,
        Cut::IdleTimeout,
        Cut::BodyTimeout,
        Cut::Evicted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Cut::HeaderTimeout => "header_timeout",
            Cut::IdleTimeout => "idle_timeout",
            Cut::BodyTimeout => "body_timeout",
            Cut::Evicted => "evicted",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

type Deadline = Option<(Instant, Cut)>;

/// The cap on open connections and the idle ones, oldest idle first.
#[derive(Debug)]
pub struct Slots {
    sem: Arc<Semaphore>,
    max: usize,
    /// Idle connections by the order in which they became idle.
    idle: Mutex<BTreeMap<u64, Weak<Conn>>>,
    seq: AtomicU64,
}

impl Slots {
    pub fn new(max: usize) -> Arc<Slots> {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        Arc::new(Slots {
            sem: Arc::new(Semaphore::new(max)),
            max,
            idle: Mutex::new(BTreeMap::new()),
            seq: AtomicU64::new(0),
        })
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.max.saturating_sub(self.sem.available_permits())
    }

    /// A slot at once, or None at the cap.
    pub fn try_take(&self) -> Option<OwnedSemaphorePermit> {
        self.sem.clone().try_acquire_owned().ok()
    }

    /// Waits for a slot.
    pub async fn take(&self) -> OwnedSemaphorePermit {
        self.sem
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// Closes the connection that has been idle the longest; false when none is idle.
    pub fn evict_oldest_idle(&self) -> bool {
        loop {
            let Some((_, weak)) = self.idle.lock().expect("lock").pop_first() else {
                return false;
            };
            if let Some(conn) = weak.upgrade()
                && conn.evict()
            {
                return true;
            }
        }
    }

    fn mark_idle(&self, conn: &Arc<Conn>) -> u64 {
        let key = self.seq.fetch_add(1, Ordering::Relaxed);
        self.idle
            .lock()
            .expect("lock")
            .insert(key, Arc::downgrade(conn));
        key
    }

    fn unmark_idle(&self, key: u64) {
        self.idle.lock().expect("lock").remove(&key);
    }
}

#[derive(Debug)]
struct Phase {
    in_flight: usize,
    /// Key in `Slots::idle` while idle.
    idle_key: Option<u64>,
    /// Evicted: the deadline stays, whatever arrives next.
    evicted: bool,
}

/// One connection's deadline, moved by the requests on it.
#[derive(Debug)]
pub struct Conn {
    deadline: watch::Sender<Deadline>,
    phase: Mutex<Phase>,
    slots: Arc<Slots>,
    idle_timeout: Duration,
}

impl Conn {
    /// A connection just accepted: idle, its first request head due within `header_timeout`.
    pub fn open(slots: Arc<Slots>, header_timeout: Duration, idle_timeout: Duration) -> Arc<Conn> {
        let conn = Arc::new(Conn {
            deadline: watch::Sender::new(Some((
                Instant::now() + header_timeout,
                Cut::HeaderTimeout,
            ))),
            phase: Mutex::new(Phase {
                in_flight: 0,
                idle_key: None,
                evicted: false,
            }),
            slots,
            idle_timeout,
        });
        let key = conn.slots.mark_idle(&conn);
        conn.phase.lock().expect("lock").idle_key = Some(key);
        conn
    }

    /// A request head was read: no deadline on the connection until its response is ready.
    pub fn begin(self: &Arc<Self>) -> Busy {
        let mut p = self.phase.lock().expect("lock");
        p.in_flight += 1;
        if let Some(key) = p.idle_key.take() {
            self.slots.unmark_idle(key);
        }
        if !p.evicted {
            self.deadline.send_replace(None);
        }
        Busy(self.clone())
    }

    fn end(self: &Arc<Self>) {
        let mut p = self.phase.lock().expect("lock");
        p.in_flight = p.in_flight.saturating_sub(1);
        if p.in_flight == 0 && p.idle_key.is_none() && !p.evicted {
            p.idle_key = Some(self.slots.mark_idle(self));
            self.deadline
                .send_replace(Some((Instant::now() + self.idle_timeout, Cut::IdleTimeout)));
        }
    }

    /// Closes the connection now if it is idle; false when a request is in flight.
    fn evict(&self) -> bool {
        let mut p = self.phase.lock().expect("lock");
        if p.in_flight > 0 {
            return false;
        }
        p.idle_key = None;
        p.evicted = true;
        self.deadline
            .send_replace(Some((Instant::now(), Cut::Evicted)));
        true
    }

    /// Completes when the connection's deadline passes, with the reason.
    pub async fn expired(&self) -> Cut {
        let mut rx = self.deadline.subscribe();
        loop {
            let d = *rx.borrow_and_update();
            match d {
                Some((at, cut)) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => return cut,
                        r = rx.changed() => if r.is_err() { std::future::pending::<()>().await },
                    }
                }
                None => {
                    if rx.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            }
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(key) = self.phase.get_mut().expect("lock").idle_key.take() {
            self.slots.unmark_idle(key);
        }
    }
}

/// A request in flight; dropping it (the response is ready) starts the idle deadline.
#[derive(Debug)]
pub struct Busy(Arc<Conn>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(3600);

    #[tokio::test(start_paused = true)]
    async fn idle_phases_are_bounded_and_requests_are_not() {
        let slots = Slots::new(4);
        let c = Conn::open(
            slots.clone(),
            Duration::from_secs(2),
            Duration::from_secs(5),
        );
        let t0 = Instant::now();
        assert_eq!(c.expired().await, Cut::HeaderTimeout);
        assert_eq!(t0.elapsed(), Duration::from_secs(2));

        let c = Conn::open(
            slots.clone(),
            Duration::from_secs(2),
            Duration::from_secs(5),
        );
        let busy = c.begin();
        // In flight: no deadline at all.
        assert!(
            tokio::time::timeout(LONG, c.expired()).await.is_err(),
            "a request in flight has no connection deadline"
        );
        let t1 = Instant::now();
        drop(busy);
        assert_eq!(c.expired().await, Cut::IdleTimeout);
        assert_eq!(t1.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn two_streams_keep_the_connection_busy_until_both_end() {
        let slots = Slots::new(4);
        let c = Conn::open(slots, Duration::from_secs(1), Duration::from_secs(1));
        let (a, b) = (c.begin(), c.begin());
        drop(a);
        assert!(tokio::time::timeout(LONG, c.expired()).await.is_err());
        drop(b);
        assert_eq!(c.expired().await, Cut::IdleTimeout);
    }

    #[tokio::test(start_paused = true)]
    async fn eviction_takes_the_longest_idle_and_never_a_busy_one() {
        let slots = Slots::new(4);
        let old = Conn::open(slots.clone(), LONG, LONG);
        let busy_conn = Conn::open(slots.clone(), LONG, LONG);
        let young = Conn::open(slots.clone(), LONG, LONG);
        // `busy_conn` became idle before `young` but is now serving a request.
        let _busy = busy_conn.begin();
        assert!(slots.evict_oldest_idle());
        assert_eq!(old.expired().await, Cut::Evicted);
        assert!(slots.evict_oldest_idle());
        assert_eq!(young.expired().await, Cut::Evicted);
        assert!(!slots.evict_oldest_idle(), "only a busy connection is left");
        // A request head that arrives just after the eviction does not cancel it.
        let _late = young.begin();
        assert_eq!(young.expired().await, Cut::Evicted);
        drop(old);
        assert!(slots.idle.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn slots_count_open_connections() {
        let slots = Slots::new(2);
        let a = slots.try_take().unwrap();
        let _b = slots.try_take().unwrap();
        assert_eq!(slots.open(), 2);
        assert!(slots.try_take().is_none());
        drop(a);
        assert_eq!(slots.open(), 1);
        let _c = slots.take().await;
        assert_eq!(slots.open(), 2);
    }
}
