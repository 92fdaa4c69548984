//! Abort-on-fail: when a step's failure is already certain, whatever its remaining requests
//! do. Pure: the step's running tally and the thresholds in, the threshold that can no longer
//! pass out. No statistics and no guess: a rule fires only when the end-of-step verdict
//! (`judge::judge`) is bound to fail, so stopping loses nothing but the remaining load.
//!
//! Why it is certain: a step never finishes more than its planned requests `N` (the engine
//! stops scheduling there), bad requests (errors, slow requests, the highest memory sample) can
//! only grow, and the finished count only grows up to `N`. So
//! - errors: `errors / N > error_ratio` now implies `errors' / finished' > error_ratio` at the
//!   end (`errors' >= errors`, `finished' <= N`);
//! - latency: the statistic (p95, p99 or max) of `n` finished requests is the value at rank
//!   `ceil(q n)`, so it is above the limit as soon as more than `n - ceil(q n)` of them are
//!   slow; that allowance never shrinks as `n` grows, so `slow > N - ceil(q N)` now settles it
//!   (slow = corrected latency above `response_time`, as the histogram records it);
//! - memory: the highest sample only grows.
//!
//! Throughput and the achieved rate are judged at the end only: the requests still due can
//! bring them back until the window closes.

use serde::{Deserialize, Serialize};

use crate::config::{LatencyStatistic, StrainThresholds};

/// What a running step has done so far (every load of it summed).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    /// Requests the step plans in all (rate x duration, per load, summed).
    pub planned: u64,
    /// Requests that ended (answer, transport error or timeout).
    pub finished: u64,
    pub errors: u64,
    /// Finished requests whose corrected latency is above `response_time`.
    pub slow: u64,
    /// Highest memory sample so far.
    pub memory_max: Option<f64>,
}

/// Why a step was stopped early; written into the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStop {
    /// `error_rate`, `response_time` or `memory`.
    pub threshold: String,
    /// The certainty that fired, in words.
    pub rule: String,
    /// Bad requests (errors or slow ones) counted when it fired; 0 for memory.
    pub bad_requests: u64,
    /// The most bad requests the step could have had and still pass.
    pub allowed_bad_requests: u64,
    /// Requests finished when it fired, of the planned ones.
    pub after_requests: u64,
    pub planned_requests: u64,
    /// Seconds into the step when it fired, of the planned ones.
    pub after_seconds: f64,
    pub planned_seconds: f64,
}

/// The quantile of a latency statistic, as a fraction (max is 1).
fn quantile(s: LatencyStatistic) -> f64 {
    match s {
        LatencyStatistic::P95 => 0.95,
        LatencyStatistic::P99 => 0.99,
        LatencyStatistic::Max => 1.0,
    }
}

/// Slow requests `n` finished requests may hold while the statistic stays within the limit:
/// `n - ceil(q n)`, the rank rule of `hdrhistogram::Histogram::value_at_quantile`.
pub fn allowed_slow(n: u64, s: LatencyStatistic) -> u64 {
    let rank = ((quantile(s) * n as f64).ceil() as u64).clamp(1, n.max(1));
    n.saturating_sub(rank)
}

/// The most errors `n` planned requests may end with and still pass `error_ratio`, computed
/// with the judge's own division so the two never disagree.
pub fn allowed_errors(n: u64, error_ratio: f64) -> u64 {
    if n == 0 {
        return 0;
    }
    let ok = |e: u64| e as f64 / n as f64 <= error_ratio;
    let mut e = ((error_ratio * n as f64).floor() as u64).min(n);
    while e > 0 && !ok(e) {
        e -= 1;
    }
    while e < n && ok(e + 1) {
        e += 1;
    }
    e
}

/// The threshold whose failure is certain, if any: (threshold, rule, bad, allowed).
pub fn certain_failure(t: &Tally, th: &StrainThresholds) -> Option<(String, String, u64, u64)> {
    if t.planned == 0 {
        return None;
    }
    let n = t.planned;
    if t.errors as f64 / n as f64 > th.error_ratio {
        let allowed = allowed_errors(n, th.error_ratio);
        return Some((
            "error_rate".into(),
            format!(
                "{} errors already exceed {}% of the {n} planned requests ({allowed} allowed)",
                t.errors,
                th.error_ratio * 100.0
            ),
            t.errors,
            allowed,
        ));
    }
    let allowed = allowed_slow(n, th.statistic);
    if t.slow > allowed {
        return Some((
            "response_time".into(),
            format!(
                "{} requests already slower than {} ms: {} of the {n} planned requests can no longer stay within it ({allowed} allowed)",
                t.slow,
                th.response_time.0.as_millis(),
                th.statistic.as_str()
            ),
            t.slow,
            allowed,
        ));
    }
    if let Some(m) = t.memory_max
        && m.is_finite()
        && m > th.memory_ratio
    {
        return Some((
            "memory".into(),
            format!(
                "memory sampled at {:.1}%, above {}% (the highest sample is what is judged)",
                m * 100.0,
                th.memory_ratio * 100.0
            ),
            0,
            0,
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strain::judge::{self, Observed};

    #[test]
    fn allowances_match_the_rank_and_ratio_rules() {
        assert_eq!(allowed_slow(100, LatencyStatistic::P95), 5);
        assert_eq!(allowed_slow(101, LatencyStatistic::P95), 5);
        assert_eq!(allowed_slow(120, LatencyStatistic::P95), 6);
        assert_eq!(allowed_slow(1000, LatencyStatistic::P99), 10);
        assert_eq!(allowed_slow(1000, LatencyStatistic::Max), 0);
        assert_eq!(allowed_slow(0, LatencyStatistic::P95), 0);
        assert_eq!(allowed_errors(100, 0.05), 5);
        // 0.29 x 100 is 28.999999999999996 in floating point; the judge's division says 29 pass.
        assert_eq!(allowed_errors(100, 0.29), 29);
        assert_eq!(allowed_errors(7, 0.05), 0);
        assert_eq!(allowed_errors(3, 1.0), 3);
        // The allowance never shrinks as the count grows (the certainty argument needs it).
        for s in [
            LatencyStatistic::P95,
            LatencyStatistic::P99,
            LatencyStatistic::Max,
        ] {
            for n in 0..5000 {
                assert!(allowed_slow(n + 1, s) >= allowed_slow(n, s), "{s:?} {n}");
            }
        }
    }

    #[test]
    fn slow_allowance_agrees_with_the_histogram_quantile() {
        // For every n up to 400 and every number of slow requests, the histogram's p95 is above
        // the limit exactly when slow > allowed_slow(n).
        for n in 1..400u64 {
            let allowed = allowed_slow(n, LatencyStatistic::P95);
            for slow in [allowed, allowed + 1] {
                if slow > n {
                    continue;
                }
                let mut h =
                    hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
                for _ in 0..(n - slow) {
                    h.record(1_000).unwrap();
                }
                for _ in 0..slow {
                    h.record(5_000_000).unwrap();
                }
                let above = h.value_at_quantile(0.95) > 2_000_000;
                assert_eq!(above, slow > allowed, "n {n} slow {slow}");
            }
        }
    }

    #[test]
    fn fires_only_when_the_final_verdict_cannot_pass() {
        let th = StrainThresholds::default();
        let t = Tally {
            planned: 200,
            finished: 40,
            errors: 10,
            ..Tally::default()
        };
        assert!(
            certain_failure(&t, &th).is_none(),
            "10 of 200 is exactly 5%"
        );
        let t = Tally { errors: 11, ..t };
        let (name, _, bad, allowed) = certain_failure(&t, &th).unwrap();
        assert_eq!((name.as_str(), bad, allowed), ("error_rate", 11, 10));
        // Whatever the remaining requests do, the judge fails error_rate: best case, all the
        // other 189 planned requests finish without error.
        let o = Observed {
            finished: 200,
            errors: 11,
            ..Observed::default()
        };
        assert!(!judge::judge(&o, &th)[1].passed);

        let t = Tally {
            planned: 200,
            finished: 30,
            slow: 10,
            ..Tally::default()
        };
        assert!(
            certain_failure(&t, &th).is_none(),
            "10 slow of 200 may pass"
        );
        let t = Tally { slow: 11, ..t };
        assert_eq!(certain_failure(&t, &th).unwrap().0, "response_time");
        let t = Tally {
            planned: 200,
            memory_max: Some(0.9),
            ..Tally::default()
        };
        assert_eq!(certain_failure(&t, &th).unwrap().0, "memory");
        assert!(certain_failure(&Tally::default(), &th).is_none());
    }
}
