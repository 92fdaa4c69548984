//! Readiness for the next tier, as the status page shows it: a view of the assessment's
//! readiness (`core::readiness`), so the page and `launchguard_tier_upgrade_ready` always
//! agree. No report for the target's suite yet means "not measured", never ready; a rehearsal
//! never measures it, and the page says so when the newest run is one.

use chrono::{DateTime, Utc};

use crate::config::TierName;
use crate::core::readiness::Readiness as Assessed;
use crate::figures::strain::SuiteRun;

#[derive(Debug, Clone, PartialEq)]
pub enum Readiness {
    /// Already at the top tier: nothing to upgrade to.
    TopTier,
    /// No strain report for the target tier's suite that counts has been read yet.
    NotMeasured {
        target: TierName,
        /// The pass ratio the suite needs (`strain.upgrade_pass_ratio`).
        required: f64,
        /// Checklist items of the target not done yet.
        missing: Vec<String>,
        /// When the newest run of the target's suite was a rehearsal: its finish time.
        rehearsal: Option<DateTime<Utc>>,
    },
    Measured {
        target: TierName,
        required: f64,
        suite: String,
        pass_ratio: f64,
        last_run: DateTime<Utc>,
        /// The assessment's verdict: a recent complete passing run and the checklist done.
        ready: bool,
        missing: Vec<String>,
        /// When the newest run of the target's suite was a rehearsal: its finish time.
        rehearsal: Option<DateTime<Utc>>,
    },
}

impl Readiness {
    /// Ready means measured and judged ready; "not measured" is never ready.
    pub fn ready(&self) -> bool {
        matches!(self, Readiness::Measured { ready: true, .. })
    }
}

/// Readiness of the platform for the tier after `tier`.
pub fn next_tier(tier: TierName, r: &Assessed) -> Readiness {
    let Some(target) = tier.next() else {
        return Readiness::TopTier;
    };
    let required = r.required_ratio;
    let Some(t) = r.target(target) else {
        return Readiness::NotMeasured {
            target,
            required,
            missing: Vec::new(),
            rehearsal: None,
        };
    };
    let rehearsal = t
        .newest_is_rehearsal
        .then(|| newest_finish(r, target))
        .flatten();
    match &t.newest_counted {
        None => Readiness::NotMeasured {
            target,
            required,
            missing: t.missing.clone(),
            rehearsal,
        },
        Some(run) => Readiness::Measured {
            target,
            required,
            suite: run.suite.clone(),
            pass_ratio: run.pass_ratio,
            last_run: run.finished_at,
            ready: t.ready,
            missing: t.missing.clone(),
            rehearsal,
        },
    }
}

/// When the newest run of the target's suite (a rehearsal or not) finished.
fn newest_finish(r: &Assessed, target: TierName) -> Option<DateTime<Utc>> {
    r.runs
        .as_deref()?
        .iter()
        .filter(|run| run.suite == target.as_str())
        .map(|run: &SuiteRun| run.finished_at)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::core::readiness;
    use crate::figures::strain::{Observations, StrainFigures};

    fn run(ratio: f64, now: DateTime<Utc>) -> SuiteRun {
        SuiteRun {
            suite: "hard_launch".into(),
            finished_at: now,
            complete: true,
            pass_ratio: ratio,
            scenarios: vec![("ai_load".into(), ratio >= 1.0)],
            at_validation_intensity: true,
            ..SuiteRun::default()
        }
    }

    /// Every checklist item of hard_launch done, but those in `missing`.
    fn config(missing: &[&str]) -> Config {
        let mut cfg = Config::default();
        cfg.upgrade_checklist.hard_launch.done =
            ["error_tracking", "webhook_retries", "log_aggregation"]
                .iter()
                .filter(|i| !missing.contains(i))
                .map(|i| i.to_string())
                .collect();
        cfg
    }

    fn assessed(cfg: &Config, runs: Vec<SuiteRun>, now: DateTime<Utc>) -> Assessed {
        let f = StrainFigures {
            runs,
            observations: Observations {
                pooler: true,
                redis: true,
            },
        };
        readiness::assess(cfg, Some(&f), now)
    }

    #[test]
    fn not_measured_is_not_ready_and_growth_is_the_top() {
        let cfg = Config::default();
        let r = next_tier(
            TierName::SoftLaunch,
            &readiness::assess(&cfg, None, Utc::now()),
        );
        assert!(matches!(
            r,
            Readiness::NotMeasured {
                target: TierName::HardLaunch,
                ..
            }
        ));
        assert!(!r.ready());
        let r = readiness::assess(&cfg, None, Utc::now());
        assert_eq!(next_tier(TierName::Growth, &r), Readiness::TopTier);
    }

    #[test]
    fn measured_follows_the_verdict_names_missing_items_and_the_required_ratio() {
        let now = Utc::now();
        let cfg = config(&[]);
        assert!(
            next_tier(
                TierName::SoftLaunch,
                &assessed(&cfg, vec![run(1.0, now)], now)
            )
            .ready()
        );
        let cfg = config(&["log_aggregation"]);
        match next_tier(
            TierName::SoftLaunch,
            &assessed(&cfg, vec![run(1.0, now)], now),
        ) {
            Readiness::Measured { ready, missing, .. } => {
                assert!(!ready);
                assert_eq!(missing, vec!["log_aggregation".to_string()]);
            }
            other => panic!("{other:?}"),
        }
        // A configured pass ratio of 0.9 is what the page asks for, and what it judges by.
        let mut cfg = config(&[]);
        cfg.strain.upgrade_pass_ratio = 0.9;
        match next_tier(
            TierName::SoftLaunch,
            &assessed(&cfg, vec![run(0.85, now)], now),
        ) {
            Readiness::Measured {
                required, ready, ..
            } => assert_eq!((required, ready), (0.9, false)),
            other => panic!("{other:?}"),
        }
        // A report of another suite does not measure this target.
        let mut other = run(1.0, now);
        other.suite = "growth".into();
        assert!(matches!(
            next_tier(TierName::SoftLaunch, &assessed(&cfg, vec![other], now)),
            Readiness::NotMeasured { .. }
        ));
    }

    #[test]
    fn a_rehearsal_never_measures_and_is_named() {
        let now = Utc::now();
        let cfg = config(&[]);
        let mut rehearsal = run(1.0, now);
        rehearsal.rehearsal = vec!["ai_load ran 3 s of the suite's 60 s".into()];
        let r = assessed(&cfg, vec![rehearsal.clone()], now);
        assert!(matches!(
            next_tier(TierName::SoftLaunch, &r),
            Readiness::NotMeasured { rehearsal: Some(t), .. } if t == now
        ));
        // An older full run measures; the newer rehearsal is still named.
        let mut full = run(0.5, now - chrono::Duration::hours(1));
        full.at_validation_intensity = false;
        let r = assessed(&cfg, vec![rehearsal, full], now);
        match next_tier(TierName::SoftLaunch, &r) {
            Readiness::Measured {
                pass_ratio,
                rehearsal,
                ..
            } => assert_eq!((pass_ratio, rehearsal), (0.5, Some(now))),
            other => panic!("{other:?}"),
        }
    }
}
