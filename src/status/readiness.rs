//! Readiness for the next tier, as the status page shows it.
//!
//! The strain suite (issue 5, `launchguard strain`) measures it: a suite pass rate of at least
//! 80% for the target tier's suite. Until its reports are collected this says so honestly.
//! MERGE SEAM: when `Collected` holds the latest strain reports, fill `Readiness::Measured` in
//! [`next_tier`] from them (the same numbers as `launchguard_strain_pass_ratio{suite}` and
//! `launchguard_tier_upgrade_ready{target}`).

use chrono::{DateTime, Utc};

use crate::config::{Config, TierName};
use crate::state::Collected;

/// The pass rate a tier upgrade needs (brief section 5).
pub const REQUIRED_PASS_RATIO: f64 = 0.8;

#[derive(Debug, Clone, PartialEq)]
pub enum Readiness {
    /// Already at the top tier: nothing to upgrade to.
    TopTier,
    /// No strain report for the target tier's suite has been read yet.
    NotMeasured { target: TierName },
    Measured {
        target: TierName,
        suite: String,
        pass_ratio: f64,
        last_run: DateTime<Utc>,
    },
}

impl Readiness {
    /// Ready means measured and passing; "not measured" is never ready.
    pub fn ready(&self) -> bool {
        matches!(self, Readiness::Measured { pass_ratio, .. } if *pass_ratio >= REQUIRED_PASS_RATIO)
    }
}

/// Readiness of the platform for the tier after the current one.
pub fn next_tier(cfg: &Config, _collected: &Collected) -> Readiness {
    match cfg.tier.next() {
        None => Readiness::TopTier,
        Some(target) => Readiness::NotMeasured { target },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_measured_is_not_ready_and_growth_is_the_top() {
        let mut cfg = Config::default();
        let r = next_tier(&cfg, &Collected::default());
        assert_eq!(
            r,
            Readiness::NotMeasured {
                target: TierName::HardLaunch
            }
        );
        assert!(!r.ready());
        cfg.tier = TierName::Growth;
        assert_eq!(next_tier(&cfg, &Collected::default()), Readiness::TopTier);
        let m = Readiness::Measured {
            target: TierName::Growth,
            suite: "before_growth".into(),
            pass_ratio: 0.8,
            last_run: Utc::now(),
        };
        assert!(m.ready());
    }
}
