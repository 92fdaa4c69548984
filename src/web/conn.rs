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
/// The cap on open connections and the idle ones, oldest idle first.
#[derive(Debug)]
pub struct Slots {
    sem: Arc<Semaphore>,
    max: usize,
    /// Idle connections by the order in which they became idle.
    idle: Mutex<BTreeMap<u64, Weak<Conn>>>,
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
            idle: Mutex::new(BTreeMap::new()),
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
            // Chosen under the map's lock, evicted after it (a connection takes its own lock,
            // then the map's, when it goes idle).
            let mut next: Option<Instant> = None;
            let victim = {
                let mut idle = self.idle.lock().expect("lock");
                let mut found = None;
                for (key, weak) in idle.iter() {
                    let Some(conn) = weak.upgrade() else {
                        continue;
                    };
                    let enough = if conn.served.load(Ordering::Relaxed) {
                        self.silence.1
                    } else {
                        self.silence.0
                    };
                    match conn.silent_since() {
                        Some(t) if now.saturating_duration_since(t) >= enough => {
                            found = Some((*key, conn));
                            break;
                        }
                        Some(t) => {
                            let at = t + enough;
                            next = Some(next.map_or(at, |n| n.min(at)));
                        }
                        // Not read yet, or the client is sending: not idle by its doing.
                        None => {}
                    }
                }
                if let Some((key, _)) = &found {
                    idle.remove(key);
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
            opened: Instant::now(),
            silent: AtomicU64::new(0),
            served: AtomicBool::new(false),
        });
        let key = conn.slots.mark_idle(&conn);
        conn.phase.lock().expect("lock").idle_key = Some(key);
        conn
    }

    /// The server waits to read and nothing has come (yet).
    pub fn read_pending(&self) {
        if self.silent.load(Ordering::Relaxed) == 0 {
            let nanos = u64::try_from(self.opened.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
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

    /// A request head was read: no deadline on the connection until its response is ready.
    pub fn begin(self: &Arc<Self>) -> Busy {
        self.served.store(true, Ordering::Relaxed);
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
        assert!(slots.idle.lock().unwrap().is_empty());
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
