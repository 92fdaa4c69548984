//! The guard's metrics, appended to the published exposition by /metrics (metrics/served.rs):
//! decisions change per request, so they are not published with the rest; they are encoded
//! again only when their version moved (a decision, a founder's change, the store's status or
//! health, or the clock's second for the throttled window and the snapshot age), so a scrape
//! sees current counters and an idle guard costs nothing per scrape.

use std::sync::atomic::Ordering;

use chrono::Utc;

use std::collections::BTreeMap;

use chrono::DateTime;
use rust_decimal::Decimal;

use super::Guard;
use super::admin::{ACTIONS, FounderControls, KillKey};
use super::reservations::ReservationStore;
use crate::core::bounded::Bounded;
use crate::core::bounded::from_nanos;
use crate::core::labels::{self, OTHER};
use crate::metrics::encode::Exposition;
use crate::metrics::names as n;
use crate::metrics::served::{Appended, Version, total};
use crate::policy::{Kind, Reason};

/// How long a throttle or deny keeps `launchguard_guard_throttled{scope}` at 1.
const THROTTLED_WINDOW_SECONDS: i64 = 60;

fn usd(nanos: i64) -> f64 {
    use rust_decimal::prelude::ToPrimitive;
    from_nanos(nanos).to_f64().unwrap_or(f64::NAN)
}

/// Values per (scope, target or client).
type Samples<V> = BTreeMap<(String, String), V>;

/// Kill switches per (scope, target), the global one always (0 or 1). Targets past their
/// scope's cap (providers: `provider_cap`, clients: `client_cap`; the first by name) are
/// counted in `target="other"`. Also returns how many targets were folded.
fn kill_switches(
    admin: &FounderControls,
    provider_cap: usize,
    client_cap: usize,
) -> (Samples<u64>, usize) {
    let global = KillKey::Global.field();
    let mut out = BTreeMap::from([(
        ("global".to_string(), String::new()),
        u64::from(admin.kill_switches.contains_key(&global)),
    )]);
    let mut folded = 0;
    for (scope, cap) in [("provider", provider_cap), ("client", client_cap)] {
        let targets = admin.kill_switches.keys().filter_map(|f| {
            let (s, target) = KillKey::labels(f);
            (s == scope).then(|| (target.to_string(), 1u64))
        });
        // Every switch weighs the same: the first targets by name keep their label.
        let f = labels::fold(
            targets,
            cap,
            OTHER.to_string(),
            |_| (),
            |a, b| *a = a.plus(b),
        );
        folded += f.folded;
        out.extend(
            f.values
                .into_iter()
                .map(|(t, n)| ((scope.to_string(), t), n)),
        );
    }
    (out, folded)
}

/// Budget overrides in force per (scope, client); per-client ones past `client_cap` (the
/// largest kept) are shown as `client="other"` with the largest of them.
fn overrides(
    admin: &FounderControls,
    now: DateTime<Utc>,
    client_cap: usize,
) -> (Samples<Decimal>, usize) {
    let mut out = Samples::new();
    let mut per_client = Vec::new();
    for (field, o) in admin.budget_overrides.iter().filter(|(_, o)| o.until > now) {
        match field.split_once(':') {
            Some((scope, client)) => per_client.push(((scope, client.to_string()), o.budget_usd)),
            None => {
                out.insert((field.clone(), String::new()), o.budget_usd);
            }
        }
    }
    let mut folded = 0;
    let scopes: std::collections::BTreeSet<&str> =
        per_client.iter().map(|((s, _), _)| *s).collect();
    for scope in scopes {
        let clients = per_client
            .iter()
            .filter(|((s, _), _)| *s == scope)
            .map(|((_, c), v)| (c.clone(), *v));
        let f = labels::fold(
            clients,
            client_cap,
            OTHER.to_string(),
            |v| *v,
            |a, b| *a = (*a).max(b),
        );
        folded += f.folded;
        out.extend(
            f.values
                .into_iter()
                .map(|(c, v)| ((scope.to_string(), c), v)),
        );
    }
    (out, folded)
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
        let cfg = self.config();
        let (switches, targets_folded) =
            kill_switches(&admin, cfg.max_provider_labels, cfg.max_client_labels);
        for ((scope, target), on) in &switches {
            e.set(&n::GUARD_KILL_SWITCH, &[scope, target], *on as f64);
        }
        e.declare(&n::GUARD_BUDGET_OVERRIDE);
        let (overrides, clients_folded) = overrides(&admin, now, cfg.max_client_labels);
        for ((scope, client), budget_usd) in overrides {
            e.set(
                &n::GUARD_BUDGET_OVERRIDE,
                &[&scope, &client],
                usd(crate::core::bounded::to_nanos(budget_usd)),
            );
        }
        e.set(&n::GUARD_LABELS_FOLDED, &["target"], targets_folded as f64);
        e.set(&n::GUARD_LABELS_FOLDED, &["client"], clients_folded as f64);
        for (scope, at) in self.stats.scopes.iter().zip(&self.stats.throttled_at) {
            let at = at.load(Ordering::Relaxed);
            let on = at > 0 && now.timestamp() - at < THROTTLED_WINDOW_SECONDS;
            e.set(
                &n::GUARD_THROTTLED,
                &[scope.as_str()],
                if on { 1.0 } else { 0.0 },
            );
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
}

impl Appended for Guard {
    /// The founder's controls and the config come with the publication (served.rs keys on
    /// both); the throttled window, override expiry and snapshot age with the clock's second.
    fn version(&self, now_sec: i64) -> Version {
        [
            total(&self.stats.decisions),
            total(&self.stats.admin_changes),
            self.status_changes.load(Ordering::Acquire) << 1
                | u64::from(self.store_up.load(Ordering::Relaxed)),
            now_sec as u64,
        ]
    }

    fn exposition(&self) -> Option<Exposition> {
        Some(Guard::exposition(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::admin::Scope;
    use rust_decimal_macros::dec;

    fn now() -> DateTime<Utc> {
        "2026-11-26T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn kill_switch_targets_are_capped_per_scope() {
        let mut a = FounderControls::default();
        for i in 0..30 {
            a.set_kill(KillKey::Client(format!("c{i:02}")), now(), "");
        }
        a.set_kill(KillKey::Provider("openai".into()), now(), "");
        a.set_kill(KillKey::Provider("anthropic".into()), now(), "");
        let (s, folded) = kill_switches(&a, 1, 5);
        let get = |scope: &str, t: &str| s.get(&(scope.to_string(), t.to_string())).copied();
        // The global switch is always there, off here.
        assert_eq!(get("global", ""), Some(0));
        // The first targets by name keep their label; `other` counts the rest.
        assert_eq!(get("provider", "anthropic"), Some(1));
        assert_eq!(get("provider", OTHER), Some(1));
        assert_eq!(get("client", "c04"), Some(1));
        assert_eq!(get("client", "c05"), None);
        assert_eq!(get("client", OTHER), Some(25));
        assert_eq!(s.len(), 1 + 2 + 6);
        assert_eq!(folded, 1 + 25);
        // Under the caps nothing is folded.
        let (s, folded) = kill_switches(&a, 10, 100);
        assert_eq!((s.len(), folded), (1 + 2 + 30, 0));
    }

    #[test]
    fn client_overrides_are_capped_keeping_the_largest() {
        let mut a = FounderControls::default();
        let until = now() + chrono::Duration::hours(1);
        a.set_override(Scope::Daily, None, dec!(80), until, now());
        for i in 1..=10 {
            let c = format!("c{i:02}");
            a.set_override(Scope::ClientDaily, Some(&c), i.into(), until, now());
        }
        // Expired overrides are not in force and never labelled.
        a.set_override(Scope::ClientDaily, Some("old"), dec!(99), now(), now());
        let (s, folded) = overrides(&a, now(), 3);
        let get = |scope: &str, c: &str| s.get(&(scope.to_string(), c.to_string())).copied();
        assert_eq!(get("daily", ""), Some(dec!(80)));
        assert_eq!(get("client_daily", "c10"), Some(dec!(10)));
        assert_eq!(get("client_daily", "c08"), Some(dec!(8)));
        assert_eq!(get("client_daily", OTHER), Some(dec!(7)));
        assert_eq!(get("client_daily", "old"), None);
        assert_eq!((s.len(), folded), (5, 7));
    }
}
