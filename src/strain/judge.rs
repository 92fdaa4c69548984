//! Verdicts: statistics in, pass or fail per threshold out. Pure, so every edge is a unit test.
//! A threshold with no samples fails with "no data" (k6 passes it; we do not).

use serde::{Deserialize, Serialize};

use crate::config::{LatencyStatistic, StrainThresholds};

/// Latency quantiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Quantiles {
    pub fn get(&self, s: LatencyStatistic) -> f64 {
        match s {
            LatencyStatistic::P95 => self.p95,
            LatencyStatistic::P99 => self.p99,
            LatencyStatistic::Max => self.max,
        }
    }
}

/// What the judge needs of one scenario's run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    /// Requests that ended (answer, transport error or timeout).
    pub finished: u64,
    pub errors: u64,
    /// Requests answered within the scheduled window per second of it (the throughput).
    pub achieved_rate: f64,
    pub target_rate: f64,
    /// Latency timed from the scheduled start; None when nothing finished.
    pub corrected: Option<Quantiles>,
    /// Highest memory ratio sampled; None when no sample could be taken.
    pub memory_max: Option<f64>,
}

/// The thresholds, each a stable name used in reports, JUnit and the docs.
pub const THRESHOLDS: [&str; 5] = [
    "response_time",
    "error_rate",
    "throughput",
    "achieved_rate",
    "memory",
];

/// One threshold's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub threshold: String,
    /// What was compared, e.g. `p95 <= 2000 ms`.
    pub rule: String,
    pub value: Option<f64>,
    pub limit: f64,
    pub unit: String,
    pub passed: bool,
    /// Why it failed or could not be judged (e.g. "no data").
    pub reason: Option<String>,
}

fn verdict(
    threshold: &str,
    rule: String,
    value: Option<f64>,
    limit: f64,
    unit: &str,
    ok: impl Fn(f64) -> bool,
) -> Verdict {
    let (passed, reason) = match value {
        None => (false, Some("no data".to_string())),
        Some(v) if !v.is_finite() => (false, Some("no data".to_string())),
        Some(v) => {
            let p = ok(v);
            (
                p,
                (!p).then(|| format!("{} {unit} breaks {rule}", fmt_num(v))),
            )
        }
    };
    Verdict {
        threshold: threshold.into(),
        rule,
        value,
        limit,
        unit: unit.into(),
        passed,
        reason,
    }
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

/// Every threshold of one scenario, in the order of [`THRESHOLDS`].
pub fn judge(o: &Observed, t: &StrainThresholds) -> Vec<Verdict> {
    let stat = t.statistic;
    let rt_ms = t.response_time.as_secs_f64() * 1000.0;
    let latency = o.corrected.filter(|q| q.count > 0).map(|q| q.get(stat));
    let error_ratio = (o.finished > 0).then(|| o.errors as f64 / o.finished as f64);
    let throughput = (o.finished > 0).then_some(o.achieved_rate);
    let deviation = (o.target_rate > 0.0 && o.finished > 0)
        .then(|| (o.achieved_rate - o.target_rate).abs() / o.target_rate);
    let tol = t.rate_tolerance_ratio;
    vec![
        verdict(
            "response_time",
            format!("{} <= {} ms", stat.as_str(), fmt_num(rt_ms)),
            latency,
            rt_ms,
            "ms",
            |v| v <= rt_ms,
        ),
        verdict(
            "error_rate",
            format!("errors <= {}%", fmt_num(t.error_ratio * 100.0)),
            error_ratio,
            t.error_ratio,
            "ratio",
            |v| v <= t.error_ratio,
        ),
        verdict(
            "throughput",
            format!("throughput >= {} req/s", fmt_num(t.min_throughput)),
            throughput,
            t.min_throughput,
            "req/s",
            |v| v >= t.min_throughput,
        ),
        verdict(
            "achieved_rate",
            format!(
                "achieved rate within {}% of {} req/s",
                fmt_num(tol * 100.0),
                fmt_num(o.target_rate)
            ),
            deviation,
            tol,
            "ratio",
            |v| v <= tol,
        ),
        verdict(
            "memory",
            format!("memory <= {}%", fmt_num(t.memory_ratio * 100.0)),
            o.memory_max,
            t.memory_ratio,
            "ratio",
            |v| v <= t.memory_ratio,
        ),
    ]
}

/// Scenarios passed over scenarios run; no scenario run is 0, not a division by zero.
pub fn pass_ratio(passed: usize, run: usize) -> f64 {
    if run == 0 {
        0.0
    } else {
        passed as f64 / run as f64
    }
}

pub use crate::core::readiness::suite_passes;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Dur;

    fn q(p95: f64, max: f64) -> Quantiles {
        Quantiles {
            count: 100,
            mean: p95 / 2.0,
            p50: p95 / 2.0,
            p90: p95,
            p95,
            p99: max,
            max,
        }
    }

    fn healthy() -> Observed {
        Observed {
            finished: 1000,
            errors: 10,
            achieved_rate: 49.5,
            target_rate: 50.0,
            corrected: Some(q(120.0, 900.0)),
            memory_max: Some(0.4),
        }
    }

    fn failed(v: &[Verdict]) -> Vec<&str> {
        v.iter()
            .filter(|v| !v.passed)
            .map(|v| v.threshold.as_str())
            .collect()
    }

    #[test]
    fn healthy_run_passes_every_threshold() {
        let v = judge(&healthy(), &StrainThresholds::default());
        assert_eq!(v.len(), THRESHOLDS.len());
        assert!(failed(&v).is_empty(), "{v:?}");
    }

    #[test]
    fn each_threshold_fails_on_its_side_of_the_edge() {
        let t = StrainThresholds::default();
        let mut o = healthy();
        o.corrected = Some(q(2000.0, 2000.0));
        assert!(failed(&judge(&o, &t)).is_empty(), "2000 ms is allowed");
        o.corrected = Some(q(2000.5, 2000.5));
        assert_eq!(failed(&judge(&o, &t)), ["response_time"]);
        let mut o = healthy();
        o.errors = 50;
        assert!(failed(&judge(&o, &t)).is_empty(), "exactly 5% is allowed");
        o.errors = 51;
        assert_eq!(failed(&judge(&o, &t)), ["error_rate"]);
        let mut o = healthy();
        o.target_rate = 10.0;
        o.achieved_rate = 9.99;
        assert_eq!(failed(&judge(&o, &t)), ["throughput"]);
        let mut o = healthy();
        o.achieved_rate = 47.4;
        assert_eq!(failed(&judge(&o, &t)), ["achieved_rate"]);
        let mut o = healthy();
        o.memory_max = Some(0.86);
        assert_eq!(failed(&judge(&o, &t)), ["memory"]);
    }

    #[test]
    fn statistic_is_selectable() {
        let mut t = StrainThresholds::default();
        let o = healthy(); // p95 120 ms, max 900 ms
        t.response_time = Dur(std::time::Duration::from_millis(500));
        assert!(judge(&o, &t)[0].passed);
        t.statistic = LatencyStatistic::Max;
        let v = &judge(&o, &t)[0];
        assert!(!v.passed && v.rule.starts_with("max"), "{v:?}");
    }

    #[test]
    fn no_samples_fail_with_no_data() {
        let o = Observed {
            target_rate: 50.0,
            ..Observed::default()
        };
        let v = judge(&o, &StrainThresholds::default());
        assert!(
            v.iter()
                .all(|v| !v.passed && v.reason.as_deref() == Some("no data")),
            "{v:?}"
        );
    }

    #[test]
    fn pass_ratio_and_the_upgrade_rule() {
        assert_eq!(pass_ratio(0, 0), 0.0);
        assert!(suite_passes(pass_ratio(4, 5), 0.8));
        assert!(!suite_passes(pass_ratio(3, 4), 0.8));
        assert!(!suite_passes(pass_ratio(2, 3), 0.8));
        assert!(suite_passes(pass_ratio(3, 3), 0.8));
    }
}
