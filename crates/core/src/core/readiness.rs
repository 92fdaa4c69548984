//! Tier upgrade readiness, pure: the newest suite runs, what launchguard observed and the
//! clock in, one verdict per target tier out. Rehearsals are ignored. A target is ready only
//! when the newest run of its own suite that counts is complete and reached the configured pass
//! ratio (`strain.upgrade_pass_ratio`) within `ready_max_age`, and every checklist item is
//! done, the seed's 70% validation included.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::{Config, OBSERVED_ITEMS, STRAIN_70_ITEM, TierName, UpgradeChecklist};
use crate::figures::strain::{Observations, StrainFigures, SuiteRun};

/// The targets one can move up to.
pub const TARGETS: [TierName; 2] = [TierName::HardLaunch, TierName::Growth];

/// The upgrade rule: the pass ratio must reach the required ratio, inclusive.
pub fn suite_passes(ratio: f64, required: f64) -> bool {
    ratio + 1e-9 >= required
}

/// The newest run of `suite` that satisfies `keep`.
pub fn newest<'a>(
    runs: &'a [SuiteRun],
    suite: &str,
    keep: impl Fn(&SuiteRun) -> bool,
) -> Option<&'a SuiteRun> {
    runs.iter()
        .filter(|r| r.suite == suite && keep(r))
        .max_by_key(|r| r.finished_at)
}

/// Finished within `max_age` of `now` (and not from the future, beyond 5 minutes of skew).
pub fn fresh(r: &SuiteRun, now: DateTime<Utc>, max_age: Duration) -> bool {
    let age = now.signed_duration_since(r.finished_at);
    age >= chrono::Duration::minutes(-5) && age.to_std().map_or(true, |a| a <= max_age)
}

/// The seed's week-2 validation for `target`: the newest run of its suite that counts and ran
/// every step at 70% or more is complete, passed every scenario, and is fresh.
pub fn validated_at_70(
    target: TierName,
    runs: &[SuiteRun],
    now: DateTime<Utc>,
    max_age: Duration,
) -> bool {
    newest(runs, target.as_str(), |r| {
        r.counts() && r.at_validation_intensity
    })
    .is_some_and(|r| r.all_passed() && fresh(r, now, max_age))
}

/// One checklist item of one target tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemState {
    pub target: TierName,
    pub item: String,
    pub done: bool,
}

/// Every item of every target: observed items from the observations and the runs (for
/// `strain_all_pass_70`), the rest from `done`.
pub fn checklist(
    c: &UpgradeChecklist,
    obs: Observations,
    runs: &[SuiteRun],
    now: DateTime<Utc>,
    max_age: Duration,
) -> Vec<ItemState> {
    let mut out = Vec::new();
    for t in TARGETS {
        let marked = c.tier(t).map(|ct| ct.done.as_slice()).unwrap_or(&[]);
        for item in c.items(t) {
            let done = match item {
                "connection_pooler" => obs.pooler,
                "redis" => obs.redis,
                STRAIN_70_ITEM => validated_at_70(t, runs, now, max_age),
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

/// The strain half of readiness: the newest run of the target's suite that counts is complete,
/// fresh and reached the required pass ratio.
pub fn suite_ok(
    target: TierName,
    runs: &[SuiteRun],
    now: DateTime<Utc>,
    max_age: Duration,
    required_ratio: f64,
) -> bool {
    newest(runs, target.as_str(), SuiteRun::counts).is_some_and(|r| {
        r.complete && fresh(r, now, max_age) && suite_passes(r.pass_ratio, required_ratio)
    })
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
    let suite_ok = suite_ok(target, runs, now, max_age, required_ratio);
    let items_ok = items.iter().filter(|i| i.target == target).all(|i| i.done);
    suite_ok && items_ok
}

/// One target tier's readiness as the founder reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetReadiness {
    pub target: TierName,
    /// The newest run of the target's suite that counts (no rehearsal).
    pub newest_counted: Option<SuiteRun>,
    /// The newest run of the suite is a rehearsal (it changes nothing).
    pub newest_is_rehearsal: bool,
    /// Checklist items of the target not done yet.
    pub missing: Vec<String>,
    pub ready: bool,
}

/// Readiness for every target, the checklist and the runs it was judged on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Readiness {
    /// The pass ratio a suite needs (`strain.upgrade_pass_ratio`).
    pub required_ratio: f64,
    /// None until the strain reports source has read the report directory once.
    pub runs: Option<Vec<SuiteRun>>,
    pub checklist: Vec<ItemState>,
    pub targets: Vec<TargetReadiness>,
}

impl Readiness {
    pub fn target(&self, t: TierName) -> Option<&TargetReadiness> {
        self.targets.iter().find(|r| r.target == t)
    }
}

/// Readiness at `now` from the strain figures (None: not read yet, nothing is ready).
pub fn assess(cfg: &Config, strain: Option<&StrainFigures>, now: DateTime<Utc>) -> Readiness {
    let s = &cfg.strain;
    let (runs, obs) = strain.map_or((&[][..], Observations::default()), |f| {
        (f.runs.as_slice(), f.observations)
    });
    let items = checklist(&cfg.upgrade_checklist, obs, runs, now, s.ready_max_age.0);
    let targets = TARGETS
        .iter()
        .map(|&t| TargetReadiness {
            target: t,
            newest_counted: newest(runs, t.as_str(), SuiteRun::counts).cloned(),
            newest_is_rehearsal: newest(runs, t.as_str(), |_| true).is_some_and(|r| !r.counts()),
            missing: items
                .iter()
                .filter(|i| i.target == t && !i.done)
                .map(|i| i.item.clone())
                .collect(),
            ready: strain.is_some()
                && ready(
                    t,
                    runs,
                    &items,
                    now,
                    s.ready_max_age.0,
                    s.upgrade_pass_ratio,
                ),
        })
        .collect();
    Readiness {
        required_ratio: s.upgrade_pass_ratio,
        runs: strain.map(|f| f.runs.clone()),
        checklist: items,
        targets,
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
            scenarios: vec![("ai_load".into(), ratio >= 1.0)],
            ..SuiteRun::default()
        }
    }

    fn all_done() -> UpgradeChecklist {
        let mut c = UpgradeChecklist::default();
        c.hard_launch.done = ["error_tracking", "webhook_retries", "log_aggregation"]
            .map(String::from)
            .to_vec();
        c
    }

    const OBS: Observations = Observations {
        pooler: true,
        redis: true,
    };

    /// A passing run at 70% that marks the validation item, `days_ago` old.
    fn at_70(days_ago: i64, now: DateTime<Utc>) -> SuiteRun {
        SuiteRun {
            at_validation_intensity: true,
            ..run("hard_launch", days_ago, 1.0, true, now)
        }
    }

    #[test]
    fn ready_needs_a_recent_complete_passing_run_of_its_own_suite_and_the_checklist() {
        let now: DateTime<Utc> = "2025-06-10T12:00:00Z".parse().unwrap();
        let t = TierName::HardLaunch;
        let v = at_70(3, now);
        // Every item done (the 70% item by `v`); the suite rule judged on `runs` alone.
        let done = checklist(&all_done(), OBS, std::slice::from_ref(&v), now, WEEK);
        assert!(done.iter().filter(|i| i.target == t).all(|i| i.done));
        let ok_suite = |runs: &[SuiteRun]| ready(t, runs, &done, now, WEEK, 0.8);
        assert!(ok_suite(&[run("hard_launch", 1, 1.0, true, now)]));
        assert!(
            ok_suite(&[run("hard_launch", 7, 0.8, true, now)]),
            "0.8 and 7 days are inclusive"
        );
        assert!(
            !ok_suite(&[run("hard_launch", 8, 1.0, true, now)]),
            "too old"
        );
        assert!(
            !ok_suite(&[run("hard_launch", 1, 0.75, true, now)]),
            "ratio below 0.8"
        );
        assert!(
            !ok_suite(&[run("hard_launch", 1, 1.0, false, now)]),
            "interrupted run"
        );
        assert!(
            !ok_suite(&[run("growth", 1, 1.0, true, now)]),
            "another tier's suite"
        );
        assert!(
            !ok_suite(&[run("custom", 1, 1.0, true, now)]),
            "a custom run never counts"
        );
        assert!(!ok_suite(&[]), "no run at all");
        // The checklist computed from the runs themselves.
        let ok = |runs: &[SuiteRun]| {
            let items = checklist(&all_done(), OBS, runs, now, WEEK);
            ready(t, runs, &items, now, WEEK, 0.8)
        };
        assert!(
            !ok(&[run("hard_launch", 1, 1.0, true, now)]),
            "no validation run at 70%"
        );
        // A validation run at 70% is a suite run too: alone it is enough.
        assert!(ok(std::slice::from_ref(&v)));
        // The newest run that counts decides, not any run: an older pass does not hide a fail.
        assert!(!ok(&[
            run("hard_launch", 2, 1.0, true, now),
            run("hard_launch", 1, 0.5, true, now),
            v.clone()
        ]));
        let no_redis = checklist(
            &all_done(),
            Observations {
                pooler: true,
                redis: false,
            },
            std::slice::from_ref(&v),
            now,
            WEEK,
        );
        assert!(!ready(
            t,
            std::slice::from_ref(&v),
            &no_redis,
            now,
            WEEK,
            0.8
        ));
        // Growth's checklist is its own: nothing marked there, so growth is not ready.
        let items = checklist(&all_done(), OBS, &[], now, WEEK);
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
    fn rehearsals_are_ignored() {
        let now: DateTime<Utc> = "2025-06-10T12:00:00Z".parse().unwrap();
        let t = TierName::HardLaunch;
        let rehearsal = |r: SuiteRun| SuiteRun {
            rehearsal: vec!["ai_load ran 3 s of the suite's 60 s".into()],
            ..r
        };
        let ok = |runs: &[SuiteRun]| {
            let items = checklist(&all_done(), OBS, runs, now, WEEK);
            ready(t, runs, &items, now, WEEK, 0.8)
        };
        // A passing rehearsal at 70% marks nothing and readies nothing.
        assert!(!ok(&[rehearsal(at_70(0, now))]));
        // A failing full run stays the verdict when a newer rehearsal passes.
        assert!(!ok(&[
            run("hard_launch", 2, 0.5, true, now),
            rehearsal(at_70(0, now))
        ]));
        // A passing full run still counts when a newer rehearsal fails.
        assert!(ok(&[
            at_70(2, now),
            rehearsal(run("hard_launch", 0, 0.0, true, now))
        ]));
    }

    #[test]
    fn the_70_percent_item_needs_every_scenario_passing_in_the_newest_such_run() {
        let now: DateTime<Utc> = "2025-06-10T12:00:00Z".parse().unwrap();
        let t = TierName::HardLaunch;
        let item = |runs: &[SuiteRun]| validated_at_70(t, runs, now, WEEK);
        assert!(item(&[at_70(1, now)]));
        // Not at 70%: a normal suite run passing everything does not mark it.
        assert!(!item(&[run("hard_launch", 1, 1.0, true, now)]));
        // One scenario failing at 70% (ratio 0.8 would pass the suite rule, not this).
        let mut one_fails = at_70(1, now);
        one_fails.scenarios = vec![
            ("ai_load".into(), true),
            ("visual_jobs".into(), true),
            ("concurrent_users".into(), true),
            ("queue_flood".into(), true),
            ("full_system".into(), false),
        ];
        one_fails.pass_ratio = 0.8;
        assert!(!item(&[one_fails.clone()]));
        // The newest run at 70% decides: a newer failing attempt unsets an older pass.
        assert!(!item(&[at_70(3, now), one_fails]));
        // Interrupted, or older than ready_max_age.
        let mut cut = at_70(1, now);
        cut.complete = false;
        assert!(!item(&[cut]));
        assert!(!item(&[at_70(8, now)]));
        // Another target's suite.
        let mut growth = at_70(1, now);
        growth.suite = "growth".into();
        assert!(!item(&[growth]));
        // The item is in hard_launch's checklist, observed: never marked by hand.
        let items = checklist(&all_done(), OBS, &[at_70(1, now)], now, WEEK);
        let it = items
            .iter()
            .find(|i| i.target == t && i.item == STRAIN_70_ITEM)
            .unwrap();
        assert!(it.done);
    }

    #[test]
    fn observed_items_come_from_observations_only() {
        let mut c = all_done();
        // Even if a hand-edited struct marks an observed item, the observation decides.
        c.hard_launch.done.push("redis".into());
        c.hard_launch.done.push(STRAIN_70_ITEM.into());
        let now = Utc::now();
        let items = checklist(&c, Observations::default(), &[], now, WEEK);
        let get = |name: &str| items.iter().find(|i| i.item == name).unwrap().done;
        assert!(!get("redis") && !get("connection_pooler") && get("error_tracking"));
        assert!(!get(STRAIN_70_ITEM));
        assert_eq!(
            items
                .iter()
                .filter(|i| i.target == TierName::Growth)
                .count(),
            6
        );
    }
}
