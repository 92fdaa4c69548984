//! The guard's metrics, encoded at scrape time and appended to the published exposition:
//! decisions change per request, and this small family costs microseconds to encode, so a
//! scrape always sees current counters without re-publishing everything on a short tick.

use std::sync::atomic::Ordering;

use chrono::Utc;

use super::admin::{ACTIONS, KillKey};
use super::reservations::ReservationStore;
use super::rules::{Kind, Reason, from_nanos};
use super::{Guard, SCOPES};
use crate::metrics::encode::Exposition;
use crate::metrics::names as n;

/// How long a throttle or deny keeps `launchguard_guard_throttled{scope}` at 1.
const THROTTLED_WINDOW_SECONDS: i64 = 60;

fn usd(nanos: i64) -> f64 {
    use rust_decimal::prelude::ToPrimitive;
    from_nanos(nanos).to_f64().unwrap_or(f64::NAN)
}

impl Guard {
    /// Every guard sample as of now.
    pub fn exposition(&self) -> Exposition {
        let now = Utc::now();
        let mut e = Exposition::default();
        // Counters export the label sets used so far (as client libraries do); the families
        // are declared so their HELP and TYPE show from the start.
        e.declare(&n::GUARD_DECISIONS);
        for r in Reason::ALL {
            let c = self.stats.decisions[r.index()].load(Ordering::Relaxed);
            if c == 0 {
                continue;
            }
            e.set(
                &n::GUARD_DECISIONS,
                &[r.decision().as_str(), r.code()],
                c as f64,
            );
        }
        let st = self
            .status
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for k in Kind::ALL {
            if k != Kind::Api {
                e.set(
                    &n::GUARD_RESERVATIONS,
                    &[k.as_str()],
                    st.outstanding[k.index()] as f64,
                );
            }
        }
        for (scope, v) in [
            ("daily", st.reserved_cost_nano),
            ("monthly", st.reserved_cost_nano),
            ("client_daily", st.max_client_reserved_nano),
        ] {
            e.set(&n::GUARD_RESERVED_USD, &[scope], usd(v));
        }
        let admin = self.admin_state();
        let global = KillKey::Global.field();
        e.set(
            &n::GUARD_KILL_SWITCH,
            &["global", ""],
            if admin.kill_switches.contains_key(&global) {
                1.0
            } else {
                0.0
            },
        );
        for field in admin.kill_switches.keys().filter(|f| **f != global) {
            let (scope, target) = KillKey::labels(field);
            e.set(&n::GUARD_KILL_SWITCH, &[scope, target], 1.0);
        }
        e.declare(&n::GUARD_BUDGET_OVERRIDE);
        for (field, o) in &admin.budget_overrides {
            if o.until > now {
                let (scope, client) = field.split_once(':').unwrap_or((field, ""));
                e.set(
                    &n::GUARD_BUDGET_OVERRIDE,
                    &[scope, client],
                    usd(super::rules::to_nanos(o.budget_usd)),
                );
            }
        }
        for (i, scope) in SCOPES.iter().enumerate() {
            let at = self.stats.throttled_at[i].load(Ordering::Relaxed);
            let on = at > 0 && now.timestamp() - at < THROTTLED_WINDOW_SECONDS;
            e.set(&n::GUARD_THROTTLED, &[scope], if on { 1.0 } else { 0.0 });
        }
        e.declare(&n::GUARD_ADMIN_CHANGES);
        for (i, action) in ACTIONS.iter().enumerate() {
            let c = self.stats.admin_changes[i].load(Ordering::Relaxed);
            if c == 0 {
                continue;
            }
            e.set(&n::GUARD_ADMIN_CHANGES, &[action], c as f64);
        }
        e.set(
            &n::GUARD_STORE_UP,
            &[self.store.name()],
            if self.store_up.load(Ordering::Relaxed) {
                1.0
            } else {
                0.0
            },
        );
        if let Some(t) = self.snapshot().collected_at {
            e.set(
                &n::GUARD_SNAPSHOT_AGE,
                &[],
                (now - t).num_milliseconds() as f64 / 1000.0,
            );
        }
        e
    }

    /// The published exposition with the guard's families appended before `# EOF`.
    pub fn append_to(&self, published: &[u8]) -> Vec<u8> {
        self.exposition().append_to(published)
    }
}
