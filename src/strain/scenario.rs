//! Planning a run: which scenarios, at what load, for how long. Pure: config and flags in,
//! a plan or a usage error out. Loads left unset in the config are derived from the target
//! tier's limits here (the derivation is documented in docs/strain.md).

use std::time::Duration;

use crate::config::{Config, RequestDef, ScenarioName, StatusSet, TierLimits, TierName};

/// What the command line asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    /// A named suite (`hard_launch` or `growth`).
    pub suite: Option<TierName>,
    /// Scenarios to run instead of a suite.
    pub scenarios: Vec<ScenarioName>,
    /// Percent overriding every step's intensity.
    pub intensity: Option<f64>,
    /// Overrides every step's duration.
    pub duration: Option<Duration>,
}

/// Suite label of a run that picked its own scenarios; it never counts for readiness.
pub const CUSTOM_SUITE: &str = "custom";
/// Intensity and duration of a `--scenario` run without flags.
pub const DEFAULT_INTENSITY: f64 = 100.0;
pub const DEFAULT_DURATION: Duration = Duration::from_secs(60);

/// A whole run.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub suite: String,
    pub target_tier: TierName,
    pub steps: Vec<Step>,
}

impl Plan {
    pub fn planned_requests(&self) -> f64 {
        self.steps
            .iter()
            .map(|s| s.target_rate() * s.duration.as_secs_f64())
            .sum()
    }

    pub fn planned_duration(&self) -> Duration {
        self.steps.iter().map(|s| s.duration).sum()
    }
}

/// One scenario of a run; `full_system` has one load per part, run at once.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub scenario: ScenarioName,
    pub intensity: f64,
    pub duration: Duration,
    pub loads: Vec<Load>,
}

impl Step {
    pub fn target_rate(&self) -> f64 {
        self.loads.iter().map(|l| l.rate).sum()
    }
}

/// The load one scenario (or one part of full_system) puts on the target.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    pub part: ScenarioName,
    /// Arrival rate in requests per second, intensity applied.
    pub rate: f64,
    /// Virtual users (intensity applied) and the time between their scheduled requests.
    pub vus: Option<u32>,
    pub think_time: Option<Duration>,
    pub connections: usize,
    pub requests: Vec<RequestDef>,
}

/// Marks the load as a strain test so the platform can answer from a dry-run path.
pub const STRAIN_HEADER: &str = "x-launchguard-strain";
/// Think time of the derived concurrent_users load.
pub const DEFAULT_THINK_TIME: Duration = Duration::from_secs(1);

/// Full-intensity load of a scenario derived from tier limits when the config leaves it unset:
/// (arrival rate, virtual users).
pub fn derived_load(name: ScenarioName, l: &TierLimits, burst: f64) -> (Option<f64>, Option<u32>) {
    match name {
        // The tier's sustained API rate, times the burst factor.
        ScenarioName::AiLoad => (Some(burst * l.api_requests_per_minute as f64 / 60.0), None),
        // Every concurrent-job slot submits a visual job and polls it once per second.
        ScenarioName::VisualJobs => (Some(2.0 * l.concurrent_jobs as f64), None),
        // Every client of the tier as one user acting once per think time.
        ScenarioName::ConcurrentUsers => (None, Some(l.clients.min(u32::MAX as u64) as u32)),
        // burst x the jobs the tier runs at once, every second: the queue must grow.
        ScenarioName::QueueFlood => (Some(burst * l.concurrent_jobs as f64), None),
        ScenarioName::FullSystem => (None, None),
    }
}

fn req(method: &str, path: &str, body: Option<&str>) -> RequestDef {
    let mut headers = std::collections::BTreeMap::new();
    headers.insert(STRAIN_HEADER.to_string(), "1".to_string());
    if body.is_some() {
        headers.insert("content-type".into(), "application/json".into());
    }
    RequestDef {
        method: method.into(),
        path: path.into(),
        headers,
        body: body.map(str::to_string),
        expected_statuses: StatusSet::default(),
    }
}

/// The requests a scenario sends when the config gives none.
pub fn default_requests(name: ScenarioName) -> Vec<RequestDef> {
    match name {
        ScenarioName::AiLoad => vec![req(
            "POST",
            "/api/ai/generate",
            Some(r#"{"prompt":"launchguard strain test {{seq}}","max_tokens":64}"#),
        )],
        ScenarioName::VisualJobs => vec![
            req(
                "POST",
                "/api/jobs",
                Some(r#"{"kind":"visual","prompt":"launchguard strain test {{seq}}"}"#),
            ),
            req("GET", "/api/jobs?kind=visual", None),
        ],
        ScenarioName::ConcurrentUsers => vec![
            req("GET", "/", None),
            req("GET", "/api/health?user={{vu}}", None),
        ],
        ScenarioName::QueueFlood => vec![req(
            "POST",
            "/api/jobs",
            Some(r#"{"kind":"generic","payload":"launchguard strain test {{seq}}"}"#),
        )],
        ScenarioName::FullSystem => Vec::new(),
    }
}

/// Why a run cannot be planned: every variant is fixed by changing a flag or the config.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("--intensity {0}: must be a percent above 0 (at most 1000)")]
    Intensity(f64),
    #[error("--duration must be greater than zero")]
    ZeroDuration,
    #[error("--suite and --scenario exclude each other")]
    SuiteAndScenario,
    #[error("there is no suite for {}", .0.as_str())]
    NoSuite(TierName),
    #[error(
        "strain.scenarios.{part}.connections ({connections}) is above strain.max_connections ({max})"
    )]
    Connections {
        part: ScenarioName,
        connections: usize,
        max: usize,
    },
    /// The plan passes a safety bound (`strain.rate_cap`, `max_requests`, `max_duration`);
    /// the text names the bound and how to stay within it.
    #[error("{0}")]
    OverBound(String),
}

/// Builds the plan, or says in one sentence why the request is refused.
pub fn plan(cfg: &Config, sel: &Selection) -> Result<Plan, PlanError> {
    let s = &cfg.strain;
    let plan = unbounded(cfg, sel)?;
    for step in &plan.steps {
        if step.target_rate() > s.rate_cap {
            return Err(PlanError::OverBound(format!(
                "{} at {}% asks {:.1} requests/s, above strain.rate_cap ({}); lower --intensity or raise the cap in the config",
                step.scenario,
                step.intensity,
                step.target_rate(),
                s.rate_cap
            )));
        }
    }
    if plan.planned_requests() > s.max_requests as f64 {
        return Err(PlanError::OverBound(format!(
            "the run plans {:.0} requests, above strain.max_requests ({}); shorten --duration, lower --intensity or raise the bound",
            plan.planned_requests(),
            s.max_requests
        )));
    }
    if plan.planned_duration() > s.max_duration.0 {
        return Err(PlanError::OverBound(format!(
            "the run lasts {}, above strain.max_duration ({})",
            humantime::format_duration(plan.planned_duration()),
            s.max_duration
        )));
    }
    Ok(plan)
}

/// The plan before the safety bounds: what a selection means under a config. Used to run
/// (through [`plan`]) and to compare a run with the suite's definition (`strain::rehearsal`).
pub fn unbounded(cfg: &Config, sel: &Selection) -> Result<Plan, PlanError> {
    let s = &cfg.strain;
    if let Some(p) = sel.intensity
        && !(p.is_finite() && p > 0.0 && p <= 1000.0)
    {
        return Err(PlanError::Intensity(p));
    }
    if sel.duration.is_some_and(|d| d.is_zero()) {
        return Err(PlanError::ZeroDuration);
    }
    let (suite, target, entries): (String, TierName, Vec<(ScenarioName, f64, Duration)>) =
        if sel.scenarios.is_empty() {
            let tier = sel.suite.unwrap_or_else(|| upgrade_target(cfg));
            let entries = s.suite(tier).ok_or(PlanError::NoSuite(tier))?;
            let e = entries
                .iter()
                .map(|e| (e.scenario, e.intensity, e.duration.0))
                .collect();
            (tier.as_str().to_string(), tier, e)
        } else {
            if sel.suite.is_some() {
                return Err(PlanError::SuiteAndScenario);
            }
            let tier = s.target_tier.unwrap_or_else(|| upgrade_target(cfg));
            let mut seen = Vec::new();
            for n in &sel.scenarios {
                if !seen.contains(n) {
                    seen.push(*n);
                }
            }
            let e = seen
                .into_iter()
                .map(|n| (n, DEFAULT_INTENSITY, DEFAULT_DURATION))
                .collect();
            (CUSTOM_SUITE.to_string(), tier, e)
        };
    let mut steps = Vec::new();
    for (name, intensity, duration) in entries {
        let intensity = sel.intensity.unwrap_or(intensity);
        let duration = sel.duration.unwrap_or(duration);
        steps.push(step(cfg, target, name, intensity, duration)?);
    }
    Ok(Plan {
        suite,
        target_tier: target,
        steps,
    })
}

/// One scenario at an intensity (percent of its full load for `target`) for a duration; no
/// bound checked here (the callers do).
pub fn step(
    cfg: &Config,
    target: TierName,
    name: ScenarioName,
    intensity: f64,
    duration: Duration,
) -> Result<Step, PlanError> {
    let limits = cfg.tiers.get(target);
    let parts: Vec<ScenarioName> = if name == ScenarioName::FullSystem {
        ScenarioName::PARTS.to_vec()
    } else {
        vec![name]
    };
    let mut loads = Vec::new();
    for part in parts {
        loads.push(load(cfg, part, limits, intensity)?);
    }
    Ok(Step {
        scenario: name,
        intensity,
        duration,
        loads,
    })
}

/// The tier the platform would move up to (growth stays growth).
pub fn upgrade_target(cfg: &Config) -> TierName {
    cfg.tier.next().unwrap_or(TierName::Growth)
}

fn load(
    cfg: &Config,
    part: ScenarioName,
    l: &TierLimits,
    intensity: f64,
) -> Result<Load, PlanError> {
    let s = &cfg.strain;
    let def = s.scenario(part).expect("a part is a single scenario");
    let (d_rate, d_vus) = derived_load(part, l, s.burst_factor);
    let scale = intensity / 100.0;
    let (rate, vus, think) = if def.rate.is_some() || (def.vus.is_none() && d_vus.is_none()) {
        let full = def.rate.or(d_rate).unwrap_or(1.0);
        (full * scale, None, None)
    } else {
        let think = def.think_time.map(|d| d.0).unwrap_or(DEFAULT_THINK_TIME);
        let full = def.vus.or(d_vus).unwrap_or(1) as f64;
        let vus = (full * scale).round().max(1.0) as u32;
        (vus as f64 / think.as_secs_f64(), Some(vus), Some(think))
    };
    // Enough connections to carry the target rate at the latency limit: past that, requests
    // start late and the corrected latency shows it.
    let derived_conns = match vus {
        Some(v) => v as usize,
        None => (rate * s.thresholds.response_time.as_secs_f64())
            .ceil()
            .max(4.0) as usize,
    };
    let connections = match def.connections {
        Some(c) if c > s.max_connections => {
            return Err(PlanError::Connections {
                part,
                connections: c,
                max: s.max_connections,
            });
        }
        Some(c) => c,
        None => derived_conns.min(s.max_connections),
    };
    let requests = if def.requests.is_empty() {
        default_requests(part)
    } else {
        def.requests.clone()
    };
    Ok(Load {
        part,
        rate,
        vus,
        think_time: think,
        connections,
        requests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_run_is_the_next_tiers_suite_derived_from_its_limits() {
        let cfg = Config::default();
        let p = plan(&cfg, &Selection::default()).unwrap();
        assert_eq!(
            (p.suite.as_str(), p.target_tier),
            ("hard_launch", TierName::HardLaunch)
        );
        let names: Vec<_> = p.steps.iter().map(|s| s.scenario).collect();
        assert_eq!(
            names,
            [
                ScenarioName::AiLoad,
                ScenarioName::VisualJobs,
                ScenarioName::ConcurrentUsers
            ]
        );
        // 300 requests/min x burst 10 / 60 s = 50/s at full intensity; the suite runs 50%.
        assert_eq!(p.steps[0].target_rate(), 25.0);
        assert_eq!(p.steps[0].duration, Duration::from_secs(60));
        // 10 concurrent jobs x 2 = 20/s at 60%.
        assert_eq!(p.steps[1].target_rate(), 12.0);
        // 50 clients as users, 70% = 35 users, one request per second each.
        assert_eq!(p.steps[2].loads[0].vus, Some(35));
        assert_eq!(p.steps[2].target_rate(), 35.0);
        // Every step of the default suite clears the 10 requests/s throughput threshold.
        assert!(p.steps.iter().all(|s| s.target_rate() >= 10.0));
    }

    #[test]
    fn growth_suite_adds_full_system_with_all_parts() {
        let cfg = Config::default();
        let sel = Selection {
            suite: Some(TierName::Growth),
            ..Selection::default()
        };
        let p = plan(&cfg, &sel).unwrap();
        let full = p.steps.last().unwrap();
        assert_eq!(full.scenario, ScenarioName::FullSystem);
        assert_eq!(full.loads.len(), 4);
        // 0.8 x (100 + 50 + 100 + 250)
        assert!((full.target_rate() - 400.0).abs() < 1e-9);
        assert!(p.planned_requests() <= cfg.strain.max_requests as f64);
    }

    #[test]
    fn overrides_and_bounds() {
        let mut cfg = Config::default();
        cfg.strain.scenarios.ai_load.rate = Some(40.0);
        let sel = Selection {
            scenarios: vec![ScenarioName::AiLoad, ScenarioName::AiLoad],
            intensity: Some(50.0),
            duration: Some(Duration::from_secs(2)),
            ..Selection::default()
        };
        let p = plan(&cfg, &sel).unwrap();
        assert_eq!(p.suite, CUSTOM_SUITE);
        assert_eq!(p.steps.len(), 1);
        assert_eq!(p.steps[0].target_rate(), 20.0);
        cfg.strain.rate_cap = 10.0;
        let e = plan(&cfg, &sel).unwrap_err();
        assert!(
            matches!(&e, PlanError::OverBound(m) if m.contains("rate_cap")),
            "{e}"
        );
        cfg.strain.rate_cap = 1000.0;
        cfg.strain.max_requests = 30;
        let e = plan(&cfg, &sel).unwrap_err();
        assert!(
            matches!(&e, PlanError::OverBound(m) if m.contains("max_requests")),
            "{e}"
        );
        let both = Selection {
            suite: Some(TierName::Growth),
            ..sel
        };
        assert_eq!(plan(&cfg, &both), Err(PlanError::SuiteAndScenario));
    }
}
