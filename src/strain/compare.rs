//! Each scenario against the previous run of the same suite: corrected p95, error ratio and
//! achieved rate, with the changes past `strain.regression_ratio` flagged. Pure: two reports'
//! figures in, changes out. Regressions are flagged only when both runs offered the same load
//! (target rates within 1%): a different load explains a different latency.
//!
//! The rule, with r = `regression_ratio`:
//! - p95: the current p95 is above the previous one times (1 + r);
//! - achieved rate: the current one is below the previous one times (1 - r);
//! - error ratio: it rose by more than r times `thresholds.error_ratio` (a relative change of a
//!   ratio near zero means nothing: 0.01% to 0.02% doubles, yet is noise).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::report::{Report, ScenarioReport};

/// The run compared against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviousRun {
    /// Its file name in the report directory.
    pub file: String,
    pub finished_at: DateTime<Utc>,
    pub rehearsal: bool,
}

/// One figure before and now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    pub previous: Option<f64>,
    pub current: Option<f64>,
    /// (current - previous) / previous; None when either is missing or previous is 0.
    pub change_ratio: Option<f64>,
}

impl Change {
    fn new(previous: Option<f64>, current: Option<f64>) -> Change {
        let change_ratio = match (previous, current) {
            (Some(p), Some(c)) if p > 0.0 && p.is_finite() && c.is_finite() => Some((c - p) / p),
            _ => None,
        };
        Change {
            previous,
            current,
            change_ratio,
        }
    }
}

/// A scenario's figures against the previous run's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioChange {
    /// Both runs offered the same load (target rates within 1%); regressions need it.
    pub same_load: bool,
    pub p95_ms: Change,
    pub error_ratio: Change,
    pub achieved_rate: Change,
    /// The figures that regressed: `p95_ms`, `error_ratio`, `achieved_rate`.
    pub regressions: Vec<String>,
}

/// The change of one scenario; None when either run has no figures for it.
pub fn scenario(
    previous: &Report,
    current: &ScenarioReport,
    error_ratio_limit: f64,
    ratio: f64,
) -> Option<ScenarioChange> {
    let prev = previous
        .scenarios
        .iter()
        .find(|s| s.name == current.name)?
        .stats
        .as_ref()?;
    let cur = current.stats.as_ref()?;
    let same_load = prev.target_rate > 0.0
        && ((cur.target_rate - prev.target_rate).abs() / prev.target_rate) <= 0.01;
    let p95 = Change::new(
        prev.latency_ms.corrected.map(|q| q.p95),
        cur.latency_ms.corrected.map(|q| q.p95),
    );
    let errors = Change::new(prev.error_ratio, cur.error_ratio);
    let achieved = Change::new(Some(prev.achieved_rate), Some(cur.achieved_rate));
    let mut regressions = Vec::new();
    if same_load {
        if let (Some(p), Some(c)) = (p95.previous, p95.current)
            && c > p * (1.0 + ratio)
        {
            regressions.push("p95_ms".to_string());
        }
        if let (Some(p), Some(c)) = (errors.previous, errors.current)
            && c - p > ratio * error_ratio_limit
        {
            regressions.push("error_ratio".to_string());
        }
        if let (Some(p), Some(c)) = (achieved.previous, achieved.current)
            && c < p * (1.0 - ratio)
        {
            regressions.push("achieved_rate".to_string());
        }
    }
    Some(ScenarioChange {
        same_load,
        p95_ms: p95,
        error_ratio: errors,
        achieved_rate: achieved,
        regressions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_ratio_needs_a_positive_previous_value() {
        assert_eq!(Change::new(Some(10.0), Some(15.0)).change_ratio, Some(0.5));
        assert_eq!(Change::new(Some(0.0), Some(0.1)).change_ratio, None);
        assert_eq!(Change::new(None, Some(0.1)).change_ratio, None);
    }
}
