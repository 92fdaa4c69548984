//! Tier upgrade readiness, pure: the newest suite runs, the checklist and the clock in, one
//! verdict per target tier out. A target is ready only when its own suite reached the required
//! pass ratio in a complete run within `ready_max_age`, and every checklist item is done.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::judge;
use super::report::Report;
use crate::config::{OBSERVED_ITEMS, TierName, UpgradeChecklist};

/// The targets one can move up to.
pub const TARGETS: [TierName; 2] = [TierName::HardLaunch, TierName::Growth];

/// What the exporter keeps of a suite's newest report.
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteRun {
    pub suite: String,
    pub finished_at: DateTime<Utc>,
    pub complete: bool,
    pub pass_ratio: f64,
    /// (scenario, passed) in run order.
    pub scenarios: Vec<(String, bool)>,
}

impl From<&Report> for SuiteRun {
    fn from(r: &Report) -> Self {
        SuiteRun {
            suite: r.suite.clone(),
            finished_at: r.finished_at,
            complete: r.complete,
            pass_ratio: r.pass_ratio,
            scenarios: r
                .scenarios
                .iter()
                .map(|s| (s.name.as_str().to_string(), s.passed))
                .collect(),
        }
    }
}

/// What launchguard checked itself rather than take on trust.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Observations {
    /// Its database URL goes through the Supabase pooler.
    pub pooler: bool,
    /// The guard's Redis answered PING.
    pub redis: bool,
}

/// One checklist item of one target tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemState {
    pub target: TierName,
    pub item: String,
    pub done: bool,
}

/// Every item of every target: observed items from the observations, the rest from `done`.
pub fn checklist(c: &UpgradeChecklist, obs: Observations) -> Vec<ItemState> {
    let mut out = Vec::new();
    for t in TARGETS {
        let marked = c.tier(t).map(|ct| ct.done.as_slice()).unwrap_or(&[]);
        for item in c.items(t) {
            let done = match item {
                "connection_pooler" => obs.pooler,
                "redis" => obs.redis,
                _ => !OBSERVED_ITEMS.contains(&item) && marked.iter().any(|m| m == item),
            };
            out.push(ItemState {
                target: t,
                item: item.to_string(),
                done,
            });
        }
    }
    out
}

/// Whether a target tier is ready for the upgrade at `now`.
pub fn ready(
    target: TierName,
    runs: &[SuiteRun],
    items: &[ItemState],
    now: DateTime<Utc>,
    max_age: Duration,
    required_ratio: f64,
) -> bool {
    let suite_ok = runs.iter().any(|r| {
        let age = now.signed_duration_since(r.finished_at);
        r.suite == target.as_str()
            && r.complete
            && age >= chrono::Duration::minutes(-5)
            && age.to_std().map_or(true, |a| a <= max_age)
            && judge::suite_passes(r.pass_ratio, required_ratio)
    });
    let items_ok = items.iter().filter(|i| i.target == target).all(|i| i.done);
    suite_ok && items_ok
}

/// True when a PostgreSQL URL (or key=value string) goes through Supabase's pooler:
/// a `*.pooler.supabase.com` host or the transaction-mode port 6543.
pub fn uses_pooler(db_url: &str) -> bool {
    let (host, port) = match url::Url::parse(db_url) {
        Ok(u) if u.scheme().starts_with("postgres") => (
            u.host_str().unwrap_or_default().to_ascii_lowercase(),
            u.port(),
        ),
        _ => {
            let mut host = String::new();
            let mut port = None;
            for kv in db_url.split_whitespace() {
                match kv.split_once('=') {
                    Some(("host", h)) => host = h.trim_matches('\'').to_ascii_lowercase(),
                    Some(("port", p)) => port = p.trim_matches('\'').parse().ok(),
                    _ => {}
                }
            }
            (host, port)
        }
    };
    host.ends_with(".pooler.supabase.com") || port == Some(6543)
}

/// Everything the `strain_reports` source collected, with readiness evaluated at `at`.
#[derive(Debug, Clone, PartialEq)]
pub struct StrainFigures {
    pub runs: Vec<SuiteRun>,
    pub checklist: Vec<ItemState>,
    pub ready: Vec<(TierName, bool)>,
    pub at: DateTime<Utc>,
}

impl StrainFigures {
    pub fn evaluate(
        runs: Vec<SuiteRun>,
        c: &UpgradeChecklist,
        obs: Observations,
        now: DateTime<Utc>,
        max_age: Duration,
        required_ratio: f64,
    ) -> StrainFigures {
        let items = checklist(c, obs);
        let ready = TARGETS
            .iter()
            .map(|t| (*t, ready(*t, &runs, &items, now, max_age, required_ratio)))
            .collect();
        StrainFigures {
            runs,
            checklist: items,
            ready,
            at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEEK: Duration = Duration::from_secs(7 * 86_400);

    fn run(suite: &str, days_ago: i64, ratio: f64, complete: bool, now: DateTime<Utc>) -> SuiteRun {
        SuiteRun {
            suite: suite.into(),
            finished_at: now - chrono::Duration::days(days_ago),
            complete,
            pass_ratio: ratio,
            scenarios: vec![],
        }
    }

    fn all_done() -> UpgradeChecklist {
        let mut c = UpgradeChecklist::default();
        c.hard_launch.done = ["error_tracking", "webhook_retries", "log_aggregation"]
            .map(String::from)
            .to_vec();
        c
    }

    #[test]
    fn ready_needs_a_recent_complete_passing_run_of_its_own_suite_and_the_checklist() {
        let now: DateTime<Utc> = "2025-06-10T12:00:00Z".parse().unwrap();
        let obs = Observations {
            pooler: true,
            redis: true,
        };
        let items = checklist(&all_done(), obs);
        let t = TierName::HardLaunch;
        let ok = |runs: &[SuiteRun], items: &[ItemState]| ready(t, runs, items, now, WEEK, 0.8);
        assert!(ok(&[run("hard_launch", 1, 1.0, true, now)], &items));
        assert!(
            ok(&[run("hard_launch", 7, 0.8, true, now)], &items),
            "0.8 and 7 days are inclusive"
        );
        assert!(
            !ok(&[run("hard_launch", 8, 1.0, true, now)], &items),
            "too old"
        );
        assert!(
            !ok(&[run("hard_launch", 1, 0.75, true, now)], &items),
            "ratio below 0.8"
        );
        assert!(
            !ok(&[run("hard_launch", 1, 1.0, false, now)], &items),
            "interrupted run"
        );
        assert!(
            !ok(&[run("growth", 1, 1.0, true, now)], &items),
            "another tier's suite"
        );
        assert!(
            !ok(&[run("custom", 1, 1.0, true, now)], &items),
            "a custom run never counts"
        );
        assert!(!ok(&[], &items), "no run at all");
        let no_redis = checklist(
            &all_done(),
            Observations {
                pooler: true,
                redis: false,
            },
        );
        assert!(!ok(&[run("hard_launch", 1, 1.0, true, now)], &no_redis));
        // Growth's checklist is its own: nothing marked there, so growth is not ready.
        assert!(!ready(
            TierName::Growth,
            &[run("growth", 1, 1.0, true, now)],
            &items,
            now,
            WEEK,
            0.8
        ));
    }

    #[test]
    fn observed_items_come_from_observations_only() {
        let mut c = all_done();
        // Even if a hand-edited struct marks an observed item, the observation decides.
        c.hard_launch.done.push("redis".into());
        let items = checklist(&c, Observations::default());
        let get = |name: &str| items.iter().find(|i| i.item == name).unwrap().done;
        assert!(!get("redis") && !get("connection_pooler") && get("error_tracking"));
        assert_eq!(
            items
                .iter()
                .filter(|i| i.target == TierName::Growth)
                .count(),
            6
        );
    }

    #[test]
    fn pooler_is_recognised_by_host_or_port() {
        assert!(uses_pooler(
            "postgresql://postgres.abc:pw@aws-0-eu-central-1.pooler.supabase.com:5432/postgres"
        ));
        assert!(uses_pooler(
            "postgres://u:pw@db.abc.supabase.co:6543/postgres"
        ));
        assert!(!uses_pooler(
            "postgres://u:pw@db.abc.supabase.co:5432/postgres"
        ));
        assert!(uses_pooler(
            "host=aws-0-us-east-1.pooler.supabase.com port=5432 user=x"
        ));
        assert!(!uses_pooler("host=localhost port=5432"));
        assert!(!uses_pooler("not a url"));
    }
}
