//! Readiness for the next tier, as the status page shows it: read from what the strain reports
//! source collected (`Collected::strain`), so the page and `launchguard_tier_upgrade_ready`
//! always agree. No report for the target's suite yet means "not measured", never ready; a
//! rehearsal never measures it, and the page says so when the newest run is one.

use chrono::{DateTime, Utc};

use crate::config::{Config, TierName};
use crate::state::Collected;
use crate::strain::readiness::{SuiteRun, newest};

/// The pass rate a tier upgrade needs (brief section 5).
pub const REQUIRED_PASS_RATIO: f64 = 0.8;

#[derive(Debug, Clone, PartialEq)]
pub enum Readiness {
    /// Already at the top tier: nothing to upgrade to.
    TopTier,
    /// No strain report for the target tier's suite has been read yet.
    NotMeasured {
        target: TierName,
        /// Checklist items of the target not done yet.
        missing: Vec<String>,
        /// When the newest run of the target's suite was a rehearsal: its finish time.
        rehearsal: Option<DateTime<Utc>>,
    },
    Measured {
        target: TierName,
        suite: String,
        pass_ratio: f64,
        last_run: DateTime<Utc>,
        /// The strain module's verdict: a recent complete passing run and the checklist done.
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

/// Readiness of the platform for the tier after the current one.
pub fn next_tier(cfg: &Config, collected: &Collected) -> Readiness {
    let Some(target) = cfg.tier.next() else {
        return Readiness::TopTier;
    };
    let Some(f) = &collected.strain else {
        return Readiness::NotMeasured {
            target,
            missing: Vec::new(),
            rehearsal: None,
        };
    };
    let missing: Vec<String> = f
        .checklist
        .iter()
        .filter(|i| i.target == target && !i.done)
        .map(|i| i.item.clone())
        .collect();
    let rehearsal = newest(&f.runs, target.as_str(), |_| true)
        .filter(|r| !r.counts())
        .map(|r| r.finished_at);
    match newest(&f.runs, target.as_str(), SuiteRun::counts) {
        None => Readiness::NotMeasured {
            target,
            missing,
            rehearsal,
        },
        Some(r) => Readiness::Measured {
            target,
            suite: r.suite.clone(),
            pass_ratio: r.pass_ratio,
            last_run: r.finished_at,
            ready: f.ready.iter().any(|(t, ok)| *t == target && *ok),
            missing,
            rehearsal,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strain::readiness::{ItemState, StrainFigures};

    fn figures(ratio: f64, ready: bool, missing: &[&str]) -> StrainFigures {
        let now = Utc::now();
        StrainFigures {
            runs: vec![SuiteRun {
                suite: "hard_launch".into(),
                finished_at: now,
                complete: true,
                pass_ratio: ratio,
                ..SuiteRun::default()
            }],
            checklist: ["connection_pooler", "redis"]
                .iter()
                .map(|i| ItemState {
                    target: TierName::HardLaunch,
                    item: i.to_string(),
                    done: !missing.contains(i),
                })
                .collect(),
            ready: vec![(TierName::HardLaunch, ready), (TierName::Growth, false)],
            at: now,
        }
    }

    #[test]
    fn not_measured_is_not_ready_and_growth_is_the_top() {
        let mut cfg = Config::default();
        let r = next_tier(&cfg, &Collected::default());
        assert!(matches!(
            r,
            Readiness::NotMeasured {
                target: TierName::HardLaunch,
                ..
            }
        ));
        assert!(!r.ready());
        cfg.tier = TierName::Growth;
        assert_eq!(next_tier(&cfg, &Collected::default()), Readiness::TopTier);
    }

    #[test]
    fn measured_follows_the_strain_verdict_and_names_missing_items() {
        let cfg = Config::default();
        let c = Collected {
            strain: Some(figures(1.0, true, &[])),
            ..Collected::default()
        };
        assert!(next_tier(&cfg, &c).ready());
        let c = Collected {
            strain: Some(figures(1.0, false, &["redis"])),
            ..Collected::default()
        };
        match next_tier(&cfg, &c) {
            r @ Readiness::Measured { .. } => {
                assert!(!r.ready());
                let Readiness::Measured { missing, .. } = r else {
                    unreachable!()
                };
                assert_eq!(missing, vec!["redis".to_string()]);
            }
            other => panic!("{other:?}"),
        }
        // A report of another suite does not measure this target.
        let mut f = figures(1.0, false, &[]);
        f.runs[0].suite = "growth".into();
        let c = Collected {
            strain: Some(f),
            ..Collected::default()
        };
        assert!(matches!(next_tier(&cfg, &c), Readiness::NotMeasured { .. }));
    }

    #[test]
    fn a_rehearsal_never_measures_and_is_named() {
        let cfg = Config::default();
        let mut f = figures(1.0, false, &[]);
        f.runs[0].rehearsal = vec!["ai_load ran 3 s of the suite's 60 s".into()];
        let at = f.runs[0].finished_at;
        let c = Collected {
            strain: Some(f.clone()),
            ..Collected::default()
        };
        assert!(matches!(
            next_tier(&cfg, &c),
            Readiness::NotMeasured { rehearsal: Some(t), .. } if t == at
        ));
        // An older full run measures; the newer rehearsal is still named.
        let mut full = f.runs[0].clone();
        full.rehearsal.clear();
        full.pass_ratio = 0.5;
        full.finished_at = at - chrono::Duration::hours(1);
        f.runs.push(full);
        let c = Collected {
            strain: Some(f),
            ..Collected::default()
        };
        match next_tier(&cfg, &c) {
            Readiness::Measured {
                pass_ratio,
                rehearsal,
                ..
            } => assert_eq!((pass_ratio, rehearsal), (0.5, Some(at))),
            other => panic!("{other:?}"),
        }
    }
}
