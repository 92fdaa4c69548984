//! Failed logins per peer, as token buckets: a peer may fail `per_window` times per `window`
//! (in a burst or spread out); past that it gets 429 without a password check until a token
//! comes back. IPv6 peers are counted per /64, the block one host usually holds.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Bound on the peers remembered. Beyond it, peers whose bucket is full again are forgotten
/// first; if all are still in penalty a new peer is not tracked, and the bcrypt queue alone
/// bounds what it costs.
const MAX_PEERS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug)]
pub struct PeerFailures {
    capacity: f64,
    /// Tokens per second.
    rate: f64,
    peers: Mutex<HashMap<IpAddr, Bucket>>,
}

/// The key a peer is counted under.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

impl PeerFailures {
    pub fn new(per_window: u32, window: Duration) -> PeerFailures {
        let capacity = f64::from(per_window.max(1));
        let secs = window.as_secs_f64().max(1e-3);
        PeerFailures {
            capacity,
            rate: capacity / secs,
            peers: Mutex::new(HashMap::new()),
        }
    }

    fn refill(&self, b: &mut Bucket, now: Instant) {
        let dt = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + dt * self.rate).min(self.capacity);
        b.at = now;
    }

    /// None when `ip` may try a password now; otherwise how long until it may.
    pub fn wait(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let mut peers = self.peers.lock().expect("lock");
        let b = peers.get_mut(&key(ip))?;
        self.refill(b, now);
        (b.tokens < 1.0).then(|| Duration::from_secs_f64((1.0 - b.tokens) / self.rate))
    }

    /// Counts one failed login of `ip`.
    pub fn failed(&self, ip: IpAddr, now: Instant) {
        let mut peers = self.peers.lock().expect("lock");
        let k = key(ip);
        if !peers.contains_key(&k) && peers.len() >= MAX_PEERS {
            peers.retain(|_, b| {
                let dt = now.saturating_duration_since(b.at).as_secs_f64();
                b.tokens + dt * self.rate < self.capacity
            });
            if peers.len() >= MAX_PEERS {
                return;
            }
        }
        let b = peers.entry(k).or_insert(Bucket {
            tokens: self.capacity,
            at: now,
        });
        self.refill(b, now);
        b.tokens = (b.tokens - 1.0).max(0.0);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.peers.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_peer_gets_its_failures_then_waits_for_a_token() {
        let p = PeerFailures::new(3, Duration::from_secs(60));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let now = Instant::now();
        for _ in 0..3 {
            assert_eq!(p.wait(a, now), None);
            p.failed(a, now);
        }
        // One token back every 20 s.
        assert_eq!(p.wait(a, now), Some(Duration::from_secs(20)));
        assert_eq!(p.wait(b, now), None, "another peer is not affected");
        let later = now + Duration::from_secs(20);
        assert_eq!(p.wait(a, later), None);
        p.failed(a, later);
        assert!(p.wait(a, later).is_some());
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let k = |s: &str| key(s.parse().unwrap());
        assert_eq!(k("2001:db8:1:2:aaaa::1"), k("2001:db8:1:2:bbbb::9"));
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
        assert_eq!(k("::ffff:192.0.2.7"), k("192.0.2.7"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_table_is_bounded() {
        let p = PeerFailures::new(1, Duration::from_secs(60));
        let now = Instant::now();
        for i in 0..(MAX_PEERS as u32 + 50) {
            p.failed(IpAddr::V4(i.into()), now);
        }
        assert_eq!(p.len(), MAX_PEERS);
        // Once their tokens are back, old peers make room for new ones.
        let later = now + Duration::from_secs(61);
        p.failed("198.51.100.1".parse().unwrap(), later);
        assert_eq!(p.len(), 1);
    }
}
