//! Which runs count: a run of a suite whose steps are shorter or lighter than the suite's
//! definition, or judged by looser thresholds, is a rehearsal and never feeds readiness; and
//! which runs are the seed's "all strain tests at 70% intensity". Pure: a config and what ran
//! in, reasons out. The runner records its own reasons in the report; the exporter checks the
//! report again against its own config, so a run made with a doctored config file does not
//! count either (docs/strain.md).

use crate::config::{Config, LatencyStatistic, ScenarioName, StrainThresholds, TierName};

use super::report::Report;
use super::scenario::{self, Selection, Step};

/// The seed's week-2 validation intensity, percent of each scenario's full load.
pub const VALIDATION_INTENSITY: f64 = 70.0;

/// One step as it ran.
#[derive(Debug, Clone, PartialEq)]
pub struct RanStep {
    pub scenario: ScenarioName,
    pub intensity: f64,
    pub duration_seconds: f64,
    /// Summed target rate of the step's loads, requests per second.
    pub target_rate: f64,
}

impl From<&Step> for RanStep {
    fn from(s: &Step) -> Self {
        RanStep {
            scenario: s.scenario,
            intensity: s.intensity,
            duration_seconds: s.duration.as_secs_f64(),
            target_rate: s.target_rate(),
        }
    }
}

/// The steps of a report.
pub fn ran_steps(r: &Report) -> Vec<RanStep> {
    r.scenarios
        .iter()
        .map(|s| RanStep {
            scenario: s.name,
            intensity: s.intensity_percent,
            duration_seconds: s.duration_seconds,
            target_rate: s.loads.iter().map(|l| l.target_rate).sum(),
        })
        .collect()
}

/// The tier whose suite a report's suite name is, if it is one.
pub fn suite_tier(suite: &str) -> Option<TierName> {
    match suite {
        "hard_launch" => Some(TierName::HardLaunch),
        "growth" => Some(TierName::Growth),
        _ => None,
    }
}

fn fmt(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Why a run of `suite` is a rehearsal under `cfg` (empty: it counts). Runs that are not of
/// a suite (`custom`, `capacity`) are never rehearsals; they never count anyway.
pub fn reasons(
    cfg: &Config,
    suite: &str,
    ran: &[RanStep],
    thresholds: &StrainThresholds,
) -> Vec<String> {
    let Some(tier) = suite_tier(suite) else {
        return Vec::new();
    };
    let sel = Selection {
        suite: Some(tier),
        ..Selection::default()
    };
    let defined = match scenario::unbounded(cfg, &sel) {
        Ok(p) => p.steps,
        Err(e) => return vec![format!("the suite cannot be planned from the config: {e}")],
    };
    let mut out = Vec::new();
    let names = |v: &mut dyn Iterator<Item = ScenarioName>| {
        v.map(|n| n.as_str()).collect::<Vec<_>>().join(", ")
    };
    if defined.len() != ran.len()
        || defined
            .iter()
            .zip(ran)
            .any(|(d, r)| d.scenario != r.scenario)
    {
        out.push(format!(
            "ran {}, but the suite is {}",
            names(&mut ran.iter().map(|r| r.scenario)),
            names(&mut defined.iter().map(|d| d.scenario))
        ));
        return out;
    }
    for (d, r) in defined.iter().zip(ran) {
        let want = d.duration.as_secs_f64();
        if r.duration_seconds + 1e-3 < want {
            out.push(format!(
                "{} ran {} s of the suite's {} s",
                r.scenario,
                fmt(r.duration_seconds),
                fmt(want)
            ));
        }
        if r.intensity + 1e-9 < d.intensity {
            out.push(format!(
                "{} ran at {}% of the suite's {}%",
                r.scenario,
                fmt(r.intensity),
                fmt(d.intensity)
            ));
        } else if r.target_rate < d.target_rate() * (1.0 - 1e-6) {
            out.push(format!(
                "{} offered {} requests/s, below the suite's {}",
                r.scenario,
                fmt(r.target_rate),
                fmt(d.target_rate())
            ));
        }
    }
    out.extend(looser(thresholds, &cfg.strain.thresholds));
    out
}

fn quantile_rank(s: LatencyStatistic) -> u8 {
    match s {
        LatencyStatistic::P95 => 0,
        LatencyStatistic::P99 => 1,
        LatencyStatistic::Max => 2,
    }
}

/// The thresholds of a run that are looser than the config's.
fn looser(ran: &StrainThresholds, cfg: &StrainThresholds) -> Vec<String> {
    let mut out = Vec::new();
    let mut say = |what: &str, ran: String, cfg: String| {
        out.push(format!(
            "judged with {what} {ran}, looser than the config's {cfg}"
        ))
    };
    if ran.response_time.0 > cfg.response_time.0 {
        say(
            "response_time",
            ran.response_time.to_string(),
            cfg.response_time.to_string(),
        );
    }
    if quantile_rank(ran.statistic) < quantile_rank(cfg.statistic) {
        say(
            "statistic",
            ran.statistic.as_str().into(),
            cfg.statistic.as_str().into(),
        );
    }
    if ran.error_ratio > cfg.error_ratio {
        say("error_ratio", fmt(ran.error_ratio), fmt(cfg.error_ratio));
    }
    if ran.min_throughput < cfg.min_throughput {
        say(
            "min_throughput",
            fmt(ran.min_throughput),
            fmt(cfg.min_throughput),
        );
    }
    if ran.rate_tolerance_ratio > cfg.rate_tolerance_ratio {
        say(
            "rate_tolerance_ratio",
            fmt(ran.rate_tolerance_ratio),
            fmt(cfg.rate_tolerance_ratio),
        );
    }
    if ran.memory_ratio > cfg.memory_ratio {
        say("memory_ratio", fmt(ran.memory_ratio), fmt(cfg.memory_ratio));
    }
    out
}

/// Whether every step ran at `pct` percent of its full load or more, by intensity and by the
/// rate the config gives that intensity (so a lowered full rate in the run's own config does
/// not pass for 70%).
pub fn at_least(cfg: &Config, suite: &str, ran: &[RanStep], pct: f64) -> bool {
    let Some(tier) = suite_tier(suite) else {
        return false;
    };
    let sel = Selection {
        suite: Some(tier),
        intensity: Some(pct),
        ..Selection::default()
    };
    let Ok(p) = scenario::unbounded(cfg, &sel) else {
        return false;
    };
    !ran.is_empty()
        && p.steps.len() == ran.len()
        && p.steps.iter().zip(ran).all(|(d, r)| {
            d.scenario == r.scenario
                && r.intensity + 1e-9 >= pct
                && r.target_rate >= d.target_rate() * (1.0 - 1e-6)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Dur;
    use std::time::Duration;

    fn ran(cfg: &Config, sel: &Selection) -> Vec<RanStep> {
        scenario::unbounded(cfg, sel)
            .unwrap()
            .steps
            .iter()
            .map(RanStep::from)
            .collect()
    }

    fn suite(intensity: Option<f64>, duration: Option<u64>) -> Selection {
        Selection {
            suite: Some(TierName::HardLaunch),
            intensity,
            duration: duration.map(Duration::from_secs),
            ..Selection::default()
        }
    }

    #[test]
    fn shorter_lighter_or_looser_runs_are_rehearsals() {
        let cfg = Config::default();
        let th = &cfg.strain.thresholds;
        let full = ran(&cfg, &suite(None, None));
        assert!(reasons(&cfg, "hard_launch", &full, th).is_empty());
        // Heavier and longer is not a rehearsal.
        let heavy = ran(&cfg, &suite(Some(100.0), Some(300)));
        assert!(reasons(&cfg, "hard_launch", &heavy, th).is_empty());
        let short = ran(&cfg, &suite(None, Some(3)));
        let r = reasons(&cfg, "hard_launch", &short, th);
        assert_eq!(r.len(), 3, "{r:?}");
        assert_eq!(r[0], "ai_load ran 3 s of the suite's 60 s");
        // --intensity 60 is heavier for ai_load (50) and lighter for concurrent_users (70).
        let mixed = ran(&cfg, &suite(Some(60.0), None));
        assert_eq!(
            reasons(&cfg, "hard_launch", &mixed, th),
            ["concurrent_users ran at 60% of the suite's 70%"]
        );
        // A run whose own config lowered a scenario's full rate offers less than the suite.
        let mut low = cfg.clone();
        low.strain.scenarios.ai_load.rate = Some(10.0);
        let lowered = ran(&low, &suite(None, None));
        assert_eq!(
            reasons(&cfg, "hard_launch", &lowered, th),
            ["ai_load offered 5 requests/s, below the suite's 25"]
        );
        let mut loose = th.clone();
        loose.response_time = Dur::from_secs(10);
        loose.statistic = LatencyStatistic::P95;
        let r = reasons(&cfg, "hard_launch", &full, &loose);
        assert_eq!(
            r,
            ["judged with response_time 10s, looser than the config's 2s"]
        );
        // A different scenario set.
        let r = reasons(&cfg, "hard_launch", &full[..2], th);
        assert!(
            r[0].starts_with("ran ai_load, visual_jobs, but the suite is"),
            "{r:?}"
        );
        assert!(reasons(&cfg, "custom", &short, th).is_empty());
    }

    #[test]
    fn seventy_percent_means_every_step_at_seventy_or_more() {
        let cfg = Config::default();
        let at = |sel: &Selection| at_least(&cfg, "hard_launch", &ran(&cfg, sel), 70.0);
        assert!(!at(&suite(None, None)), "the suite runs ai_load at 50%");
        assert!(at(&suite(Some(70.0), None)));
        assert!(at(&suite(Some(100.0), None)));
        assert!(!at(&suite(Some(60.0), None)));
        // A lowered full rate in the run's config does not pass for 70% of the exporter's.
        let mut low = cfg.clone();
        low.strain.scenarios.ai_load.rate = Some(10.0);
        let r = ran(&low, &suite(Some(70.0), None));
        assert!(!at_least(&cfg, "hard_launch", &r, 70.0));
        assert!(!at_least(&cfg, "custom", &r, 70.0));
    }
}
