//! The `milestone` section: what the seed's next milestone asks besides strain readiness and the
//! checklist ("5 soft launch clients stabilized, 80% trial completion rate achieved"). The
//! rules themselves are in `core::milestone`; docs/upgrading-a-tier.md defines each component.

use serde::{Deserialize, Serialize};

/// Longest window of days a client's stability is judged over: each closed day is one cached
/// ledger query, so the window is bounded.
pub const MAX_STABLE_DAYS: u32 = 31;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Milestone {
    /// Trials that ended in conversion over trials that ended, at least (inclusive).
    pub trial_completion_ratio: f64,
    /// Local calendar days, today included, in which no client may have reached its daily
    /// budget or caused a critical AI token level.
    pub stable_days: u32,
}

impl Default for Milestone {
    fn default() -> Self {
        Milestone {
            trial_completion_ratio: 0.8,
            stable_days: 7,
        }
    }
}

pub(super) fn validate(m: &Milestone, out: &mut Vec<(String, String)>) {
    let r = m.trial_completion_ratio;
    if !(r.is_finite() && r > 0.0 && r <= 1.0) {
        out.push((
            "milestone.trial_completion_ratio".into(),
            "must be above 0 and at most 1".into(),
        ));
    }
    if !(1..=MAX_STABLE_DAYS).contains(&m.stable_days) {
        out.push((
            "milestone.stable_days".into(),
            format!("must be between 1 and {MAX_STABLE_DAYS}"),
        ));
    }
}
