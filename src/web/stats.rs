//! The server's own counters: connections, cuts and refused logins, appended to the published
//! exposition by /metrics (metrics/served.rs) and encoded again only when one of them moved.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use tokio::time::Instant;

use super::conn::{Cut, Slots};
use crate::metrics::encode::Exposition;
use crate::metrics::names as n;
use crate::metrics::served::{Appended, Version, total};

/// Why a basic-auth request was refused (the `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Missing,
    Wrong,
    RateLimited,
    Busy,
}

impl Refusal {
    pub const ALL: [Refusal; 4] = [
        Refusal::Missing,
        Refusal::Wrong,
        Refusal::RateLimited,
        Refusal::Busy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::Wrong => "wrong",
            Refusal::RateLimited => "rate_limited",
            Refusal::Busy => "busy",
        }
    }
}

/// At most one "connection limit reached" log line per this period.
const LIMIT_LOG_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Stats {
    slots: Arc<Slots>,
    limit_reached: AtomicU64,
    cut: [AtomicU64; Cut::ALL.len()],
    refused: [AtomicU64; Refusal::ALL.len()],
    /// When the limit was last logged, and how many hits that line did not report.
    limit_log: Mutex<(Option<Instant>, u64)>,
}

impl Stats {
    pub fn new(slots: Arc<Slots>) -> Arc<Stats> {
        Arc::new(Stats {
            slots,
            limit_reached: AtomicU64::new(0),
            cut: Default::default(),
            refused: Default::default(),
            limit_log: Mutex::new((None, 0)),
        })
    }

    pub fn cut(&self, c: Cut) {
        self.cut[c.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn refused(&self, r: Refusal) {
        self.refused[r as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A new connection found the cap reached: counted every time, logged once a minute at
    /// most (an idle-socket flood would otherwise write one line per socket).
    pub fn limit_reached(&self) {
        self.limit_reached.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let mut log = self.limit_log.lock();
        let due = log
            .0
            .is_none_or(|at| now.duration_since(at) >= LIMIT_LOG_EVERY);
        if !due {
            log.1 += 1;
            return;
        }
        tracing::warn!(
            limit = self.slots.max(),
            since_last_line = log.1,
            "connection limit reached: idle connections whose client is silent are closed to \
             make room, or new connections wait; logged once a minute at most, counted in \
             launchguard_http_connection_limit_reached_total"
        );
        *log = (Some(now), 0);
    }

    /// Every sample as of now. Counters export the label sets used so far (as the guard's and
    /// client libraries do); their families are declared so HELP and TYPE show from the start.
    pub fn exposition(&self) -> Exposition {
        let mut e = Exposition::default();
        e.set(&n::HTTP_CONNECTIONS_OPEN, &[], self.slots.open() as f64);
        e.set(&n::HTTP_CONNECTIONS_LIMIT, &[], self.slots.max() as f64);
        let counters = [(&n::HTTP_CONNECTION_LIMIT_REACHED, None, &self.limit_reached)]
            .into_iter()
            .chain(Cut::ALL.iter().map(|c| {
                (
                    &n::HTTP_CONNECTIONS_CUT,
                    Some(c.as_str()),
                    &self.cut[c.index()],
                )
            }))
            .chain(Refusal::ALL.iter().map(|r| {
                (
                    &n::HTTP_AUTH_REFUSED,
                    Some(r.as_str()),
                    &self.refused[*r as usize],
                )
            }));
        for (def, label, count) in counters {
            e.declare(def);
            let v = count.load(Ordering::Relaxed);
            if v > 0 {
                e.set(def, label.as_slice(), v as f64);
            }
        }
        e
    }
}

impl Appended for Stats {
    fn version(&self, _now_sec: i64) -> Version {
        let counted = [&self.limit_reached]
            .into_iter()
            .chain(&self.cut)
            .chain(&self.refused);
        [
            total(counted),
            self.slots.open() as u64,
            self.slots.max() as u64,
            0,
        ]
    }

    fn exposition(&self) -> Option<Exposition> {
        Some(Stats::exposition(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_show_their_families_and_the_label_sets_used() {
        let s = Stats::new(Slots::new(
            7,
            (Duration::from_secs(1), Duration::from_secs(5)),
        ));
        s.cut(Cut::Evicted);
        s.refused(Refusal::Busy);
        let e = s.exposition();
        assert_eq!(e.get(n::HTTP_CONNECTIONS_LIMIT.name, &[]), Some(7.0));
        assert_eq!(
            e.get(n::HTTP_CONNECTIONS_CUT.name, &[("reason", "evicted")]),
            Some(1.0)
        );
        assert_eq!(
            e.get(n::HTTP_CONNECTIONS_CUT.name, &[("reason", "idle_timeout")]),
            None,
            "a label set not used yet"
        );
        let text = e.clone().encode();
        assert!(
            text.contains("# TYPE launchguard_http_connection_limit_reached counter"),
            "{text}"
        );
        assert_eq!(
            e.get(n::HTTP_AUTH_REFUSED.name, &[("reason", "busy")]),
            Some(1.0)
        );
    }
}
