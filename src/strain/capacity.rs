//! Capacity search (`launchguard strain --find-capacity`): the step rule, pure. Each scenario
//! starts at `start` requests/s; every passing step multiplies the rate by `factor` (never
//! past `strain.rate_cap`, which is tried exactly once); once a step fails, the gap between the
//! highest passing rate P and the lowest failing rate F is halved until `(F - P) / P <=
//! resolution`. When the first step fails, the rate is divided by `factor` until one passes
//! (down to [`MIN_RATE`]). The capacity is P: the highest offered rate at which a whole step
//! passed every threshold the search judges (docs/strain.md).
//!
//! Steps, not a continuous ramp: latency lags load (a queue needs time to fill), so a ramp
//! stops late and overstates the capacity.

use serde::{Deserialize, Serialize};

use super::abort::EarlyStop;

/// Below this rate (requests/s) a search that found no passing step gives up.
pub const MIN_RATE: f64 = 0.5;

/// Why a scenario's search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// A failing rate was found within `resolution` of a passing one: the capacity is measured.
    Threshold,
    /// Every step up to `strain.rate_cap` passed: the capacity is at least the cap.
    RateCap,
    /// The next step would have gone past `strain.max_requests`.
    MaxRequests,
    /// The next step would have ended after `strain.max_duration`.
    MaxDuration,
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// No step passed, down to [`MIN_RATE`].
    NoPassingRate,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Threshold => "threshold",
            Limit::RateCap => "rate_cap",
            Limit::MaxRequests => "max_requests",
            Limit::MaxDuration => "max_duration",
            Limit::Interrupted => "interrupted",
            Limit::NoPassingRate => "no_passing_rate",
        }
    }

    /// True when the search was cut before it bracketed the capacity from above: the true
    /// capacity may be higher than the one reported.
    pub fn bounded(self) -> bool {
        !matches!(self, Limit::Threshold | Limit::NoPassingRate)
    }
}

/// The state of one scenario's search.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    start: f64,
    factor: f64,
    resolution: f64,
    cap: f64,
    pass: Option<f64>,
    fail: Option<f64>,
    steps: usize,
}

impl Search {
    /// `start`, `cap` in requests/s; `factor` > 1; `resolution` > 0 (validated in the config).
    pub fn new(start: f64, factor: f64, resolution: f64, cap: f64) -> Search {
        Search {
            start,
            factor,
            resolution,
            cap,
            pass: None,
            fail: None,
            steps: 0,
        }
    }

    /// The next step's rate, or why the search is over.
    pub fn next(&self) -> Result<f64, Limit> {
        match (self.pass, self.fail) {
            _ if self.steps == 0 => Ok(self.start.min(self.cap)),
            (Some(p), None) if p >= self.cap => Err(Limit::RateCap),
            (Some(p), None) => Ok((p * self.factor).min(self.cap)),
            (None, Some(f)) => {
                let r = f / self.factor;
                if r < MIN_RATE {
                    Err(Limit::NoPassingRate)
                } else {
                    Ok(r)
                }
            }
            (Some(p), Some(f)) if (f - p) / p <= self.resolution => Err(Limit::Threshold),
            (Some(p), Some(f)) => Ok((p + f) / 2.0),
            (None, None) => Err(Limit::NoPassingRate),
        }
    }

    /// Records a step's verdict at `rate`.
    pub fn record(&mut self, rate: f64, passed: bool) {
        self.steps += 1;
        if passed {
            self.pass = Some(self.pass.map_or(rate, |p| p.max(rate)));
        } else {
            self.fail = Some(self.fail.map_or(rate, |f| f.min(rate)));
        }
    }

    /// The highest passing rate so far.
    pub fn capacity(&self) -> Option<f64> {
        self.pass
    }

    /// The lowest failing rate so far.
    pub fn first_failing(&self) -> Option<f64> {
        self.fail
    }
}

/// The step rule a capacity run used (flags applied), for the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub start_intensity_percent: f64,
    pub factor: f64,
    pub resolution: f64,
    pub step_seconds: f64,
    /// Pause after a failing step.
    pub cooldown_seconds: f64,
    pub abort_on_fail: bool,
    /// Thresholds the steps are judged on (all but `throughput`: a light step is not a broken one).
    pub thresholds: Vec<String>,
}

/// One step of a search, as it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub target_rate: f64,
    pub intensity_percent: f64,
    pub passed: bool,
    pub achieved_rate: f64,
    pub p95_ms: Option<f64>,
    pub error_ratio: Option<f64>,
    /// Thresholds that failed.
    pub failed: Vec<String>,
    pub early_stop: Option<EarlyStop>,
}

/// One scenario's search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// The highest rate at which a whole step passed; None when none did.
    pub requests_per_second: Option<f64>,
    /// The lowest rate at which a step failed; None when none did.
    pub first_failing_rate: Option<f64>,
    pub limited_by: Limit,
    /// The scenario's rate at 100% intensity for the target tier: its burst rate.
    pub full_rate: f64,
    pub steps: Vec<Step>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a search against a target that passes every rate up to `capacity`.
    fn search(capacity: f64, start: f64, cap: f64) -> (Search, Limit, Vec<f64>) {
        let mut s = Search::new(start, 2.0, 0.05, cap);
        let mut rates = Vec::new();
        loop {
            match s.next() {
                Ok(r) => {
                    rates.push(r);
                    s.record(r, r <= capacity);
                    assert!(rates.len() < 100, "the search ends");
                }
                Err(l) => return (s, l, rates),
            }
        }
    }

    #[test]
    fn brackets_the_capacity_within_the_resolution() {
        for capacity in [7.0, 100.0, 133.0, 480.0, 999.0] {
            let (s, limit, rates) = search(capacity, 25.0, 1000.0);
            assert_eq!(limit, Limit::Threshold, "{capacity}: {rates:?}");
            let p = s.capacity().unwrap();
            let f = s.first_failing().unwrap();
            assert!(p <= capacity && (f - p) / p <= 0.05, "{capacity}: {p} {f}");
            assert!(capacity - p <= 0.05 * p, "{capacity}: {p}");
        }
        let (_, _, rates) = search(100.0, 25.0, 1000.0);
        assert_eq!(&rates[..4], [25.0, 50.0, 100.0, 200.0]);
        assert_eq!(rates[4], 150.0);
    }

    #[test]
    fn stops_at_the_rate_cap_and_when_nothing_passes() {
        let (s, limit, rates) = search(5000.0, 100.0, 700.0);
        assert_eq!(limit, Limit::RateCap);
        assert!(limit.bounded());
        assert_eq!(rates, [100.0, 200.0, 400.0, 700.0]);
        assert_eq!(s.capacity(), Some(700.0));
        let (s, limit, rates) = search(0.1, 10.0, 1000.0);
        assert_eq!(limit, Limit::NoPassingRate);
        assert_eq!(s.capacity(), None);
        assert_eq!(rates, [10.0, 5.0, 2.5, 1.25, 0.625]);
    }
}
