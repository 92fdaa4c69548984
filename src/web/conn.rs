//! What one connection may hold: a deadline for every phase in which the server waits on the
//! client, and a slot under the cap on open connections.
//!
//! A connection is *idle* while no request is in flight on it: from accept until its first
//! request head is read (TLS handshake and HTTP/2 sniff included), and between a response and
//! the next request head. Idle time is always bounded (`header_timeout` for the first request,
//! `idle_timeout` after a response); a request in flight has its body bounded by
//! `body_timeout` (see `body.rs`). When the cap is reached, an idle connection whose client has
//! sent nothing while the server waited to read (`SILENT_NEW` before its first request,
//! `SILENT_KEPT` between requests) is closed to make room, the longest-idle first: sockets that
//! send nothing cannot lock out the scrapers, while a connection the server has not read yet,
//! or whose client is still sending, is never cut, and a burst of honest clients past the cap
//! waits its turn.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
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

/// How long a client must have sent nothing while the server waited to read before its
/// connection, which has not made a request yet, can be evicted for a new one: longer than an
/// honest client pauses in a TLS handshake or before its request (one round trip). At the
/// cap, about `max_connections / SILENT_NEW` such sockets a second can be displaced (1,024 at
/// the default cap); a faster flood of new sockets waits in the listen backlog.
pub const SILENT_NEW: Duration = Duration::from_millis(500);

/// The same for a keep-alive connection between requests. Longer: its client (a pooled HTTP
/// client) may reuse it at any moment, and one closed just then fails that request; holding a
/// slot this way costs an attacker a request per connection every few seconds.
pub const SILENT_KEPT: Duration = Duration::from_secs(5);

/// What eviction found.
#[derive(Debug, PartialEq, Eq)]
enum Evict {
    Done,
    /// The longest-idle connection can be evicted at this instant.
    NotBefore(Instant),
    /// Every connection is serving a request.
    NoneIdle,
}
/// The cap on open connections and the open ones (for eviction).
#[derive(Debug)]
pub struct Slots {
    sem: Arc<Semaphore>,
    max: usize,
    /// Every open connection, by the order it was accepted. A connection enters at accept
    /// and leaves when dropped, so a request touches no shared lock: eviction (at the cap
    /// only) reads each one's phase from its atomics.
    open: Mutex<BTreeMap<u64, Weak<Conn>>>,
    seq: AtomicU64,
    /// Silence after which an idle connection may be evicted: (before its first request, between
    /// requests).
    silence: (Duration, Duration),
}

impl Slots {
    /// `max` slots; an idle connection silent `silence.0` (before its first request) or
    /// `silence.1` (between requests) may be evicted for a new one.
    pub fn new(max: usize, silence: (Duration, Duration)) -> Arc<Slots> {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        Arc::new(Slots {
            sem: Arc::new(Semaphore::new(max)),
            max,
            open: Mutex::new(BTreeMap::new()),
            seq: AtomicU64::new(0),
            silence,
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

    async fn take(&self) -> OwnedSemaphorePermit {
        self.sem
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// A slot at the cap: the longest-idle connection whose client has been silent long enough
    /// is closed for it; until there is one, the slot of whichever connection ends first. True
    /// when a connection was evicted.
    pub async fn take_at_cap(&self) -> (OwnedSemaphorePermit, bool) {
        loop {
            let recheck = match self.evict_oldest_idle(Instant::now()) {
                Evict::Done => return (self.take().await, true),
                Evict::NotBefore(at) => at,
                // A busy connection may go idle (keep-alive), a fresh one silent, without ending.
                Evict::NoneIdle => Instant::now() + self.silence.0,
            };
            tokio::select! {
                p = self.take() => return (p, false),
                _ = tokio::time::sleep_until(recheck) => {}
            }
        }
    }

    fn evict_oldest_idle(&self, now: Instant) -> Evict {
        loop {
            // Chosen under the map's lock, evicted after it.
            let mut next: Option<Instant> = None;
            let victim = {
                let open = self.open.lock().expect("lock");
                // The connection idle the longest among those silent long enough.
                let mut found: Option<(Instant, Arc<Conn>)> = None;
                for weak in open.values() {
                    let Some(conn) = weak.upgrade() else {
                        continue;
                    };
                    let Some(idle_since) = conn.idle_since() else {
                        continue;
                    };
                    let enough = if conn.served.load(Ordering::Relaxed) {
                        self.silence.1
                    } else {
                        self.silence.0
                    };
                    match conn.silent_since() {
                        Some(t) if now.saturating_duration_since(t) >= enough => {
                            let older = found.as_ref().is_none_or(|(at, _)| idle_since < *at);
                            found = if older {
                                Some((idle_since, conn))
                            } else {
                                found
                            };
                        }
                        Some(t) => {
                            let at = t + enough;
                            next = Some(next.map_or(at, |n| n.min(at)));
                        }
                        // Not read yet, or the client is sending: not idle by its doing.
                        None => {}
                    }
                }
                found
            };
            match victim {
                Some((_, conn)) if conn.evict() => return Evict::Done,
                // It started a request meanwhile: look again.
                Some(_) => continue,
                None => return next.map_or(Evict::NoneIdle, Evict::NotBefore),
            }
        }
    }

    fn enter(&self, conn: &Arc<Conn>) {
        self.open
            .lock()
            .expect("lock")
            .insert(conn.key, Arc::downgrade(conn));
    }

    fn leave(&self, key: u64) {
        self.open.lock().expect("lock").remove(&key);
    }
}

/// `Conn::state`: requests in flight in the low bits, and this bit once evicted.
const EVICTED: u64 = 1 << 63;

/// One connection's phase, kept in atomics so that a request costs no lock, no wake-up and no
/// timer: the deadline is read from them by one timer that re-arms itself when it fires.
#[derive(Debug)]
pub struct Conn {
    /// Requests in flight, with `EVICTED` set once evicted (the deadline then stays, whatever
    /// arrives next).
    state: AtomicU64,
    /// Since when no request has been in flight, as nanoseconds after `opened`; meaningful
    /// while `state` is 0.
    idle_since: AtomicU64,
    /// Wakes `expired` at once when the connection is evicted.
    evicted: Notify,
    slots: Arc<Slots>,
    key: u64,
    header_timeout: Duration,
    idle_timeout: Duration,
    opened: Instant,
    /// Since when the server has waited to read and the client sent nothing, as nanoseconds
    /// after `opened` plus one; 0 while not waiting (not read yet, or bytes just came).
    silent: AtomicU64,
    /// A request has been read on it (it is a keep-alive connection when idle).
    served: AtomicBool,
}

impl Conn {
    /// A connection just accepted: idle, its first request head due within `header_timeout`.
    pub fn open(slots: Arc<Slots>, header_timeout: Duration, idle_timeout: Duration) -> Arc<Conn> {
        let key = slots.seq.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            state: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            evicted: Notify::new(),
            slots,
            key,
            header_timeout,
            idle_timeout,
            opened: Instant::now(),
            silent: AtomicU64::new(0),
            served: AtomicBool::new(false),
        });
        conn.slots.enter(&conn);
        conn
    }

    fn since_opened(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_nanos()).unwrap_or(u64::MAX - 1)
    }

    /// The server waits to read and nothing has come (yet).
    pub fn read_pending(&self) {
        if self.silent.load(Ordering::Relaxed) == 0 {
            let nanos = self.since_opened();
            let _ = self.silent.compare_exchange(
                0,
                nanos.saturating_add(1),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    /// Bytes came from the client.
    pub fn read_some(&self) {
        if self.silent.load(Ordering::Relaxed) != 0 {
            self.silent.store(0, Ordering::Relaxed);
        }
    }

    fn silent_since(&self) -> Option<Instant> {
        match self.silent.load(Ordering::Relaxed) {
            0 => None,
            n => Some(self.opened + Duration::from_nanos(n - 1)),
        }
    }

    /// Since when the connection has been idle; None while a request is in flight or once
    /// evicted.
    fn idle_since(&self) -> Option<Instant> {
        if self.state.load(Ordering::Acquire) != 0 {
            return None;
        }
        Some(self.opened + Duration::from_nanos(self.idle_since.load(Ordering::Acquire)))
    }

    /// A request head was read: no deadline on the connection until its response is ready.
    pub fn begin(self: &Arc<Self>) -> Busy {
        self.served.store(true, Ordering::Relaxed);
        self.state.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }

    fn end(&self) {
        // Stamped before the count drops, so whoever sees the connection idle sees when it
        // became so. Another stream may begin in between: then it is busy, whatever the stamp.
        self.idle_since
            .store(self.since_opened(), Ordering::Release);
        self.state.fetch_sub(1, Ordering::AcqRel);
    }

    /// Closes the connection now if it is idle; false when a request is in flight.
    fn evict(&self) -> bool {
        let idle = self
            .state
            .compare_exchange(0, EVICTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if idle {
            self.slots.leave(self.key);
            self.evicted.notify_one();
        }
        idle
    }

    /// The deadline in force now, or None while a request is in flight.
    fn deadline(&self) -> Option<(Instant, Cut)> {
        let state = self.state.load(Ordering::Acquire);
        if state & EVICTED != 0 {
            return Some((self.opened, Cut::Evicted));
        }
        if state != 0 {
            return None;
        }
        let since = self.opened + Duration::from_nanos(self.idle_since.load(Ordering::Acquire));
        if self.served.load(Ordering::Relaxed) {
            Some((since + self.idle_timeout, Cut::IdleTimeout))
        } else {
            Some((since + self.header_timeout, Cut::HeaderTimeout))
        }
    }

    /// Completes when the connection's deadline passes, with the reason. One timer, re-armed
    /// when it fires: while a request is in flight it looks again `idle_timeout` later (a
    /// deadline can come no sooner than that after the request ends).
    pub async fn expired(&self) -> Cut {
        let sleep = tokio::time::sleep_until(Instant::now());
        tokio::pin!(sleep);
        loop {
            let now = Instant::now();
            let at = match self.deadline() {
                Some((_, Cut::Evicted)) => return Cut::Evicted,
                Some((at, cut)) if at <= now => return cut,
                Some((at, _)) => at,
                None => now + self.idle_timeout,
            };
            sleep.as_mut().reset(at);
            tokio::select! {
                _ = &mut sleep => {}
                _ = self.evicted.notified() => {}
            }
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if *self.state.get_mut() & EVICTED == 0 {
            self.slots.leave(self.key);
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

/// The connection's socket, telling its `Conn` when the server waits on the client for bytes
/// and when bytes come (what eviction goes by).
#[derive(Debug)]
pub struct Watched<T> {
    inner: T,
    conn: Arc<Conn>,
}

impl<T> Watched<T> {
    pub fn new(inner: T, conn: Arc<Conn>) -> Self {
        Watched { inner, conn }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        match &r {
            Poll::Pending => self.conn.read_pending(),
            Poll::Ready(Ok(())) if buf.filled().len() > before => self.conn.read_some(),
            Poll::Ready(_) => {}
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(3600);

    #[tokio::test(start_paused = true)]
    async fn idle_phases_are_bounded_and_requests_are_not() {
        let slots = Slots::new(4, (Duration::from_secs(1), Duration::from_secs(5)));
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
        let slots = Slots::new(4, (Duration::from_secs(1), Duration::from_secs(5)));
        let c = Conn::open(slots, Duration::from_secs(1), Duration::from_secs(1));
        let (a, b) = (c.begin(), c.begin());
        drop(a);
        assert!(tokio::time::timeout(LONG, c.expired()).await.is_err());
        drop(b);
        assert_eq!(c.expired().await, Cut::IdleTimeout);
    }

    #[tokio::test(start_paused = true)]
    async fn eviction_takes_the_longest_idle_and_never_a_busy_one() {
        let slots = Slots::new(3, (Duration::from_secs(1), Duration::from_secs(5)));
        let old = Conn::open(slots.clone(), LONG, LONG);
        let busy_conn = Conn::open(slots.clone(), LONG, LONG);
        let young = Conn::open(slots.clone(), LONG, LONG);
        for c in [&old, &busy_conn, &young] {
            c.read_pending();
        }
        // `busy_conn` became idle before `young` but is now serving a request.
        let _busy = busy_conn.begin();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(slots.evict_oldest_idle(Instant::now()), Evict::Done);
        assert_eq!(old.expired().await, Cut::Evicted);
        assert_eq!(slots.evict_oldest_idle(Instant::now()), Evict::Done);
        assert_eq!(young.expired().await, Cut::Evicted);
        assert_eq!(
            slots.evict_oldest_idle(Instant::now()),
            Evict::NoneIdle,
            "only a busy connection is left"
        );
        // A request head that arrives just after the eviction does not cancel it.
        let _late = young.begin();
        assert_eq!(young.expired().await, Cut::Evicted);
        drop(old);
        drop((busy_conn, _busy, young, _late));
        assert!(slots.open.lock().unwrap().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_fresh_connection_is_not_evicted_and_the_new_one_waits() {
        let slots = Slots::new(1, (Duration::from_secs(1), Duration::from_secs(5)));
        let permit = slots.try_take().unwrap();
        // Silent for 200 ms: perhaps a client still in its handshake.
        let c = Conn::open(slots.clone(), LONG, LONG);
        c.read_pending();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let t0 = Instant::now();
        assert_eq!(
            slots.evict_oldest_idle(t0),
            Evict::NotBefore(t0 + Duration::from_millis(800))
        );
        // The new connection gets the slot when the old one has idled its second: evicted,
        // and its task gives the slot back.
        let waiter = tokio::spawn({
            let slots = slots.clone();
            async move { slots.take_at_cap().await.1 }
        });
        assert_eq!(c.expired().await, Cut::Evicted);
        assert_eq!(t0.elapsed(), Duration::from_millis(800));
        drop(permit);
        assert!(waiter.await.unwrap(), "evicted for the new connection");
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_not_read_yet_or_still_sending_is_never_evicted() {
        let slots = Slots::new(4, (Duration::from_secs(1), Duration::from_secs(5)));
        // Accepted, but the server has not read it yet (a burst: its bytes may be waiting).
        let unread = Conn::open(slots.clone(), LONG, LONG);
        // A client that sends a byte now and then: silent only since its last byte.
        let sending = Conn::open(slots.clone(), LONG, LONG);
        sending.read_pending();
        tokio::time::sleep(Duration::from_millis(900)).await;
        sending.read_some();
        sending.read_pending();
        tokio::time::sleep(Duration::from_millis(900)).await;
        let now = Instant::now();
        assert_eq!(
            slots.evict_oldest_idle(now),
            Evict::NotBefore(now + Duration::from_millis(100))
        );
        sending.read_some();
        assert_eq!(slots.evict_oldest_idle(now), Evict::NoneIdle);
        drop(unread);
    }

    #[tokio::test(start_paused = true)]
    async fn a_keep_alive_connection_must_be_silent_longer() {
        let slots = Slots::new(4, (Duration::from_secs(1), Duration::from_secs(5)));
        let kept = Conn::open(slots.clone(), LONG, LONG);
        drop(kept.begin());
        kept.read_pending();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = Instant::now();
        assert_eq!(
            slots.evict_oldest_idle(now),
            Evict::NotBefore(now + Duration::from_secs(3))
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(slots.evict_oldest_idle(Instant::now()), Evict::Done);
        assert_eq!(kept.expired().await, Cut::Evicted);
    }

    #[tokio::test]
    async fn slots_count_open_connections() {
        let slots = Slots::new(2, (Duration::from_secs(1), Duration::from_secs(5)));
        let a = slots.try_take().unwrap();
        let _b = slots.try_take().unwrap();
        assert_eq!(slots.open(), 2);
        assert!(slots.try_take().is_none());
        drop(a);
        assert_eq!(slots.open(), 1);
        let (_c, evicted) = slots.take_at_cap().await;
        assert!(!evicted);
        assert_eq!(slots.open(), 2);
    }
}
