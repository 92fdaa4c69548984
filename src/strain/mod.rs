//! `launchguard strain`: runs load scenarios against a base URL on an open model, judges each
//! against the pass thresholds, writes a JSON report (read back by the exporter), and exits 0
//! when the suite passes, 1 when it fails, 2 for usage, config or target errors.
//!
//! Flow: scenario (plan) -> safety (target check) -> engine (load, histograms; `abort` stops a
//! step whose failure is certain) + memory (samples) -> judge (verdicts) -> rehearsal (does the
//! run count), compare (against the previous run) -> report (JSON, JUnit, push) and summary.
//! `--find-capacity` runs `capacity`'s step rule instead of the suite's steps.

pub mod abort;
pub mod capacity;
pub mod compare;
pub mod engine;
pub mod http1;
pub mod judge;
pub mod memory;
pub mod progress;
pub mod rehearsal;
pub mod report;
pub mod runs;
pub mod safety;
pub mod scenario;
pub mod summary;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use url::Url;

use crate::config::{Config, STRAIN_70_ITEM, ScenarioName};
use engine::{Budget, LoadSpec, Prepared, RunSettings, StepResult, Target};
use judge::Observed;
use memory::{MemorySource, MemoryStats, Sampler};
use rehearsal::{RanStep, VALIDATION_INTENSITY};
use report::{
    Counts, Latency, LoadReport, Report, RequestSummary, ScenarioReport, ScenarioStats,
    ScenarioStatus, Tool,
};
use scenario::{Selection, Step};

pub const EXIT_PASS: u8 = 0;
pub const EXIT_FAIL: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

/// The command line of a run.
#[derive(Debug, Clone, Default)]
pub struct Args {
    pub base_url: String,
    pub selection: Selection,
    pub report_dir: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    pub pushgateway: Option<String>,
    pub prometheus_url: Option<String>,
    /// Search each scenario's capacity instead of judging a suite.
    pub find_capacity: bool,
}

/// Why a run stopped before judging anything (exit code 2): the plan, the target, the
/// memory source, or writing the report. Each says what to fix; none shows a secret (the base
/// URL is shown without credentials, header values never).
#[derive(Debug, thiserror::Error)]
pub enum StrainError {
    #[error(transparent)]
    Plan(#[from] scenario::PlanError),
    #[error("--base-url: {0}")]
    BaseUrl(#[source] url::ParseError),
    #[error(transparent)]
    Target(#[from] engine::TargetError),
    #[error(transparent)]
    Refused(#[from] safety::TargetRefused),
    #[error(transparent)]
    Request(#[from] engine::RequestDefError),
    /// The one connection made before any load failed or timed out.
    #[error("cannot reach {url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Memory(#[from] memory::MemoryError),
    #[error("cannot encode the config into the report: {0}")]
    Config(#[source] serde_json::Error),
    #[error("cannot write the report into {}: {source}", dir.display())]
    Report {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write JUnit XML to {}: {source}", path.display())]
    Junit {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Runs the strain command and returns its exit code.
pub async fn run(cfg: Config, args: Args) -> u8 {
    match run_inner(cfg, args).await {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("error: {msg}");
            EXIT_USAGE
        }
    }
}

/// The base URL as it may be shown: no credentials, query or fragment.
fn shown_url(u: &Url) -> String {
    let mut c = u.clone();
    let _ = c.set_username("");
    let _ = c.set_password(None);
    c.set_query(None);
    c.set_fragment(None);
    c.to_string()
}

/// Sets the stop signal on Ctrl-C or SIGTERM; a second signal exits at once.
fn watch_signals(grace: Duration) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            std::future::pending::<()>().await;
            return;
        };
        tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
        eprintln!(
            "strain: stopping; requests in flight get {} to finish, then the report is written (signal again to quit without a report)",
            humantime::format_duration(grace)
        );
        let _ = tx.send(true);
        tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
        eprintln!("strain: quit without a report");
        std::process::exit(130);
    });
    rx
}

/// Turns a step's loads into what the engine sends; request errors name the config field.
fn prepare(step: &Step, target: &Target) -> Result<Vec<LoadSpec>, engine::RequestDefError> {
    let mut specs = Vec::new();
    for load in &step.loads {
        let mut reqs = Vec::new();
        for (i, r) in load.requests.iter().enumerate() {
            let at = format!("strain.scenarios.{}.requests.{i}", load.part);
            reqs.push(Prepared::new(
                r,
                &target.base_path,
                &target.host_header,
                &at,
            )?);
        }
        specs.push(LoadSpec {
            load: load.clone(),
            requests: reqs,
        });
    }
    Ok(specs)
}

/// The first step of each scenario of a capacity search: the selection's scenarios at the
/// start intensity for the step duration, within the bounds a first step must respect.
fn capacity_plan(cfg: &Config, sel: &Selection) -> Result<scenario::Plan, scenario::PlanError> {
    let c = &cfg.strain.capacity;
    let first = Selection {
        intensity: Some(sel.intensity.unwrap_or(c.start_intensity)),
        duration: Some(sel.duration.unwrap_or(c.step_duration.0)),
        ..sel.clone()
    };
    let mut plan = scenario::unbounded(cfg, &first)?;
    plan.suite = report::CAPACITY_SUITE.to_string();
    let s = &cfg.strain;
    for step in &plan.steps {
        let reqs = step.target_rate().min(s.rate_cap) * step.duration.as_secs_f64();
        if reqs > s.max_requests as f64 {
            return Err(scenario::PlanError::OverBound(format!(
                "the first {} step plans {reqs:.0} requests, above strain.max_requests ({}); shorten --duration or lower --intensity",
                step.scenario, s.max_requests
            )));
        }
        if step.duration > s.max_duration.0 {
            return Err(scenario::PlanError::OverBound(format!(
                "a step lasts {}, above strain.max_duration ({})",
                humantime::format_duration(step.duration),
                s.max_duration
            )));
        }
    }
    Ok(plan)
}

/// What the run loop shares between suite runs and capacity searches.
struct Runner<'a> {
    cfg: &'a Config,
    settings: RunSettings,
    stop: watch::Receiver<bool>,
    memory: MemorySource,
    progress: progress::Progress,
}

impl Runner<'_> {
    /// Runs one step with memory sampling (and abort-on-fail when asked).
    async fn step(
        &mut self,
        step: &Step,
        abort: bool,
    ) -> Result<(StepResult, MemoryStats), engine::RequestDefError> {
        let specs = prepare(step, &self.settings.target)?;
        let name = step.scenario.as_str();
        self.progress.start(name, step.duration, step.target_rate());
        let sampler = Sampler::start(self.memory.clone(), self.cfg.strain.memory_interval.0);
        let peek = || sampler.max_so_far();
        let rule = abort.then_some(engine::AbortOnFail {
            thresholds: &self.cfg.strain.thresholds,
            memory_max: &peek,
        });
        let progress = &mut self.progress;
        let res = engine::run_step(
            specs,
            step.duration,
            &self.settings,
            self.stop.clone(),
            rule,
            |l| progress.tick(name, &l),
        )
        .await;
        Ok((res, sampler.finish()))
    }
}

async fn run_inner(cfg: Config, args: Args) -> Result<u8, StrainError> {
    let plan = if args.find_capacity {
        capacity_plan(&cfg, &args.selection)?
    } else {
        scenario::plan(&cfg, &args.selection)?
    };
    let url = Url::parse(&args.base_url).map_err(StrainError::BaseUrl)?;
    let mut runner = Runner::open(&cfg, &args, &plan, &url).await?;
    let s = &cfg.strain;
    let ran: Vec<RanStep> = plan.steps.iter().map(RanStep::from).collect();
    let rehearsal_reasons = rehearsal::reasons(&cfg, &plan.suite, &ran, &s.thresholds);
    announce(&cfg, &args, &plan, &url, &rehearsal_reasons);

    let started_at = Utc::now();
    let (scenarios, stop_reason) = if args.find_capacity {
        capacity_search(&mut runner, &plan).await?
    } else {
        suite_run(&mut runner, &plan).await?
    };
    let ran_window = (started_at, Utc::now());
    let mut report = build_report(
        &cfg,
        &args,
        &plan,
        &url,
        ran_window,
        (scenarios, stop_reason),
        rehearsal_reasons,
    )?;
    let report_dir = args
        .report_dir
        .clone()
        .unwrap_or_else(|| s.report_dir.clone());
    if !args.find_capacity {
        compare_with_previous(&cfg, &report_dir, &mut report);
    }
    deliver(&cfg, &args, &plan, &ran, &report_dir, &report).await?;
    Ok(if report.passed { EXIT_PASS } else { EXIT_FAIL })
}

impl<'a> Runner<'a> {
    /// Resolves and checks the target (safety rules, every request definition, one connect)
    /// before any load, and sets up the run's bounds, signals and memory sampling.
    async fn open(
        cfg: &'a Config,
        args: &Args,
        plan: &scenario::Plan,
        url: &Url,
    ) -> Result<Runner<'a>, StrainError> {
        let s = &cfg.strain;
        let target = Target::resolve(url, s.ca_file.as_deref()).await?;
        let ips: Vec<_> = target.addrs.iter().map(|a| a.ip()).collect();
        safety::check_target(&target.host, &ips, &s.allowed_hosts)?;
        for step in &plan.steps {
            prepare(step, &target)?;
        }
        let timeout = s.request_timeout.0;
        let unreachable = |source| StrainError::Unreachable {
            url: shown_url(url),
            source,
        };
        match tokio::time::timeout(timeout, target.connect()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(unreachable(e)),
            Err(_) => {
                let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out");
                return Err(unreachable(e));
            }
        }
        let memory = match (s.memory_source, &args.prometheus_url) {
            (crate::config::MemorySourceName::Supabase, _) => {
                MemorySource::Supabase(Box::new(cfg.supabase_metrics.clone()))
            }
            (_, Some(u)) => MemorySource::prometheus(u, &s.memory_query, Duration::from_secs(5))?,
            (_, None) => MemorySource::Local,
        };
        Ok(Runner {
            cfg,
            settings: RunSettings {
                target: Arc::new(target),
                timeout,
                grace: s.grace.0,
                budget: Budget::new(s.max_requests),
            },
            stop: watch_signals(s.grace.0),
            memory,
            progress: progress::Progress::new(),
        })
    }
}

/// The run's first line: what it runs against, and whether it can count.
fn announce(
    cfg: &Config,
    args: &Args,
    plan: &scenario::Plan,
    url: &Url,
    rehearsal_reasons: &[String],
) {
    let s = &cfg.strain;
    if args.find_capacity {
        eprintln!(
            "strain: capacity search (target tier {}) against {}: {} scenario(s), steps of {} from {:.1} requests/s, times {} until a step fails",
            plan.target_tier.as_str(),
            shown_url(url),
            plan.steps.len(),
            humantime::format_duration(plan.steps.first().map_or(Duration::ZERO, |s| s.duration)),
            plan.steps.first().map_or(0.0, |s| s.target_rate()),
            s.capacity.factor
        );
        return;
    }
    eprintln!(
        "strain: suite {} (target tier {}) against {}: {} scenario(s), about {:.0} requests over {}",
        plan.suite,
        plan.target_tier.as_str(),
        shown_url(url),
        plan.steps.len(),
        plan.planned_requests(),
        humantime::format_duration(plan.planned_duration())
    );
    if !rehearsal_reasons.is_empty() {
        eprintln!(
            "strain: a rehearsal, which never counts for readiness: {}",
            rehearsal_reasons.join("; ")
        );
    }
}

/// The report of a finished run: counts, the verdict, and how it was run.
fn build_report(
    cfg: &Config,
    args: &Args,
    plan: &scenario::Plan,
    url: &Url,
    (started_at, finished_at): (DateTime<Utc>, DateTime<Utc>),
    (scenarios, stop_reason): (Vec<ScenarioReport>, Option<String>),
    rehearsal_reasons: Vec<String>,
) -> Result<Report, StrainError> {
    let s = &cfg.strain;
    let run = scenarios
        .iter()
        .filter(|s| s.status != ScenarioStatus::NotRun)
        .count();
    let passed = scenarios.iter().filter(|s| s.passed).count();
    let ratio = judge::pass_ratio(passed, run);
    let complete = stop_reason.is_none();
    Ok(Report {
        schema_version: report::SCHEMA_VERSION,
        tool: Tool::current(),
        suite: plan.suite.clone(),
        target_tier: plan.target_tier,
        base_url: shown_url(url),
        started_at,
        finished_at,
        complete,
        stop_reason,
        scenarios_run: run,
        scenarios_passed: passed,
        pass_ratio: ratio,
        required_pass_ratio: s.upgrade_pass_ratio,
        passed: if args.find_capacity {
            complete && passed == scenarios.len()
        } else {
            complete && judge::suite_passes(ratio, s.upgrade_pass_ratio)
        },
        rehearsal: !rehearsal_reasons.is_empty(),
        rehearsal_reasons,
        abort_on_fail: if args.find_capacity {
            s.capacity.abort_on_fail
        } else {
            s.abort_on_fail
        },
        previous_run: None,
        regression_ratio: None,
        capacity_rule: args.find_capacity.then(|| capacity_rule(cfg, plan)),
        thresholds: s.thresholds.clone(),
        scenarios,
        config: serde_json::to_value(cfg).map_err(StrainError::Config)?,
    })
}

fn capacity_rule(cfg: &Config, plan: &scenario::Plan) -> capacity::Rule {
    let s = &cfg.strain;
    capacity::Rule {
        start_intensity_percent: plan.steps.first().map_or(0.0, |s| s.intensity),
        factor: s.capacity.factor,
        resolution: s.capacity.resolution,
        step_seconds: plan.steps.first().map_or(0.0, |s| s.duration.as_secs_f64()),
        cooldown_seconds: s.capacity.cooldown.0.as_secs_f64(),
        abort_on_fail: s.capacity.abort_on_fail,
        thresholds: CAPACITY_THRESHOLDS.iter().map(|t| t.to_string()).collect(),
    }
}

/// Each scenario against the previous report of the same suite, regressions flagged.
fn compare_with_previous(cfg: &Config, report_dir: &std::path::Path, report: &mut Report) {
    let s = &cfg.strain;
    let Some((file, prev)) = report::newest(report_dir, &report.suite, 20) else {
        return;
    };
    for sc in &mut report.scenarios {
        sc.comparison = compare::scenario(&prev, sc, s.thresholds.error_ratio, s.regression_ratio);
    }
    report.previous_run = Some(compare::PreviousRun {
        file,
        finished_at: prev.finished_at,
        rehearsal: prev.rehearsal,
    });
    report.regression_ratio = Some(s.regression_ratio);
}

/// Writes the report and the summary, says what the run marks, then JUnit and Pushgateway.
async fn deliver(
    cfg: &Config,
    args: &Args,
    plan: &scenario::Plan,
    ran: &[RanStep],
    report_dir: &std::path::Path,
    report: &Report,
) -> Result<(), StrainError> {
    let path = report::write_json(report_dir, report).map_err(|source| StrainError::Report {
        dir: report_dir.to_path_buf(),
        source,
    })?;
    crate::out!("{}", summary::table(report));
    if !report.rehearsal && rehearsal::at_least(cfg, &plan.suite, ran, VALIDATION_INTENSITY) {
        let all = report.complete && report.scenarios_passed == report.scenarios.len();
        crate::outln!(
            "validation at {VALIDATION_INTENSITY}%: every scenario ran at {VALIDATION_INTENSITY}% intensity or more and {}",
            if all {
                format!("passed: marks {STRAIN_70_ITEM} for {}", plan.suite)
            } else {
                format!("not every one passed: {STRAIN_70_ITEM} is not done")
            }
        );
    }
    eprintln!("strain: report written to {}", path.display());
    if let Some(j) = &args.junit {
        std::fs::write(j, report::junit(report)).map_err(|source| StrainError::Junit {
            path: j.clone(),
            source,
        })?;
        eprintln!("strain: JUnit XML written to {}", j.display());
    }
    if let Some(gw) = &args.pushgateway {
        // The report is written already; a failed push is a warning, not a failed suite.
        match report::push(gw, report).await {
            Ok(()) => eprintln!("strain: pushed to the Pushgateway"),
            Err(e) => eprintln!("warning: {e}"),
        }
    }
    Ok(())
}

/// The steps of a suite (or chosen scenarios), one after another.
async fn suite_run(
    runner: &mut Runner<'_>,
    plan: &scenario::Plan,
) -> Result<(Vec<ScenarioReport>, Option<String>), StrainError> {
    let cfg = runner.cfg;
    let mut scenarios = Vec::new();
    let mut stop_reason: Option<String> = None;
    for step in &plan.steps {
        if stop_reason.is_some() {
            scenarios.push(not_run(step));
            continue;
        }
        let (res, mem) = runner.step(step, cfg.strain.abort_on_fail).await?;
        if res.interrupted {
            stop_reason = Some("interrupted".into());
        } else if runner.settings.budget.exhausted() {
            stop_reason = Some("max_requests".into());
        }
        let sr = scenario_report(step, &res, mem, cfg, stop_reason.is_some(), &[]);
        finish_progress(runner, step, &sr);
        scenarios.push(sr);
    }
    Ok((scenarios, stop_reason))
}

fn finish_progress(runner: &mut Runner<'_>, step: &Step, sr: &ScenarioReport) {
    let word = match sr.status {
        ScenarioStatus::Passed => "PASS",
        ScenarioStatus::Failed if sr.early_stop.is_some() => "FAIL (stopped early)",
        ScenarioStatus::Failed => "FAIL",
        _ => "STOPPED",
    };
    runner.progress.finish(step.scenario.as_str(), word);
}

/// The thresholds a capacity step is judged on: all but throughput, whose absolute floor says
/// whether a suite's load is enough, not whether the target broke.
pub const CAPACITY_THRESHOLDS: [&str; 4] =
    ["response_time", "error_rate", "achieved_rate", "memory"];

/// Each scenario's capacity, by the step rule of `strain::capacity`, within the run's bounds.
async fn capacity_search(
    runner: &mut Runner<'_>,
    plan: &scenario::Plan,
) -> Result<(Vec<ScenarioReport>, Option<String>), StrainError> {
    let began = std::time::Instant::now();
    let mut scenarios = Vec::new();
    let mut stop_reason: Option<String> = None;
    for first in &plan.steps {
        if stop_reason.is_some() {
            scenarios.push(not_run(first));
            continue;
        }
        let sr = search_scenario(runner, plan, first, began, &mut stop_reason).await?;
        scenarios.push(sr);
    }
    Ok((scenarios, stop_reason))
}

/// One scenario's search so far: the rates tried, the steps run, the best that passed.
struct Probe {
    search: capacity::Search,
    full_rate: f64,
    steps: Vec<capacity::Step>,
    tried: Vec<f64>,
    best: Option<(f64, ScenarioReport)>,
    last: Option<ScenarioReport>,
    /// The last step failed: let the target drain before the next.
    cool: bool,
}

impl Probe {
    /// The next step to run, or why the search ends here.
    fn next_step(
        &mut self,
        runner: &Runner<'_>,
        plan: &scenario::Plan,
        first: &Step,
        began: std::time::Instant,
    ) -> Result<Result<(Step, f64), capacity::Limit>, scenario::PlanError> {
        let s = &runner.cfg.strain;
        let rate = match self.search.next() {
            Ok(r) => r,
            Err(l) => return Ok(Err(l)),
        };
        let intensity = 100.0 * rate / self.full_rate.max(f64::MIN_POSITIVE);
        let step = scenario::step(
            runner.cfg,
            plan.target_tier,
            first.scenario,
            intensity,
            first.duration,
        )?;
        let actual = step.target_rate();
        let pause = if self.cool {
            s.capacity.cooldown.0
        } else {
            Duration::ZERO
        };
        let planned = (actual * step.duration.as_secs_f64()).ceil();
        let limit = if self
            .tried
            .iter()
            .any(|t| (t - actual).abs() <= 1e-9 * actual.max(1.0))
        {
            // Virtual users come in whole numbers: the search cannot get any finer.
            Some(capacity::Limit::Threshold)
        } else if actual > s.rate_cap * (1.0 + 1e-9) {
            Some(capacity::Limit::RateCap)
        } else if planned > runner.settings.budget.remaining() as f64 {
            Some(capacity::Limit::MaxRequests)
        } else if began.elapsed() + pause + step.duration > s.max_duration.0 {
            Some(capacity::Limit::MaxDuration)
        } else {
            None
        };
        Ok(limit.map_or(Ok((step, intensity)), Err))
    }

    /// Books one step's result.
    fn record(&mut self, step: &Step, intensity: f64, sr: &ScenarioReport) {
        let stats = sr.stats.as_ref();
        self.steps.push(capacity::Step {
            target_rate: step.target_rate(),
            intensity_percent: intensity,
            passed: sr.passed,
            achieved_rate: stats.map_or(0.0, |st| st.achieved_rate),
            p95_ms: stats.and_then(|st| st.latency_ms.corrected.map(|q| q.p95)),
            error_ratio: stats.and_then(|st| st.error_ratio),
            failed: sr
                .verdicts
                .iter()
                .filter(|v| !v.passed)
                .map(|v| v.threshold.clone())
                .collect(),
            early_stop: sr.early_stop.clone(),
        });
    }

    /// The scenario's report: its best passing step (or its last), carrying the outcome.
    fn finish(self, first: &Step, limit: capacity::Limit) -> ScenarioReport {
        let outcome = capacity::Outcome {
            requests_per_second: self.search.capacity(),
            first_failing_rate: self.search.first_failing(),
            limited_by: limit,
            full_rate: self.full_rate,
            steps: self.steps,
        };
        let mut sr = match (self.best, self.last) {
            (Some((_, b)), _) => b,
            (None, Some(l)) => l,
            (None, None) => not_run(first),
        };
        // The scenario passes the search when a capacity was found.
        sr.passed = outcome.requests_per_second.is_some();
        if sr.status != ScenarioStatus::NotRun && sr.status != ScenarioStatus::Interrupted {
            sr.status = if sr.passed {
                ScenarioStatus::Passed
            } else {
                ScenarioStatus::Failed
            };
        }
        eprintln!(
            "strain: {}",
            report::capacity_line(first.scenario.as_str(), &outcome)
        );
        sr.capacity = Some(outcome);
        sr
    }
}

/// Waits out a failing step's queue (requests the target still works on), or an interruption.
async fn cool_down(runner: &Runner<'_>, name: ScenarioName, pause: Duration) -> bool {
    eprintln!(
        "strain: {name}: cooling down for {}",
        humantime::format_duration(pause)
    );
    let mut stop = runner.stop.clone();
    tokio::select! {
        _ = tokio::time::sleep(pause) => true,
        _ = stop.wait_for(|s| *s) => false,
    }
}

/// Ramps one scenario's arrival rate until a step fails, the search is fine enough, or a bound
/// of the run is reached.
async fn search_scenario(
    runner: &mut Runner<'_>,
    plan: &scenario::Plan,
    first: &Step,
    began: std::time::Instant,
    stop_reason: &mut Option<String>,
) -> Result<ScenarioReport, StrainError> {
    let cfg = runner.cfg;
    let s = &cfg.strain;
    let full_rate =
        scenario::step(cfg, plan.target_tier, first.scenario, 100.0, first.duration)?.target_rate();
    let mut p = Probe {
        search: capacity::Search::new(
            first.target_rate(),
            s.capacity.factor,
            s.capacity.resolution,
            s.rate_cap,
        ),
        full_rate,
        steps: Vec::new(),
        tried: Vec::new(),
        best: None,
        last: None,
        cool: false,
    };
    let limit = loop {
        let (step, intensity) = match p.next_step(runner, plan, first, began)? {
            Ok(next) => next,
            Err(limit) => break limit,
        };
        let pause = s.capacity.cooldown.0;
        if p.cool && !pause.is_zero() && !cool_down(runner, first.scenario, pause).await {
            *stop_reason = Some("interrupted".into());
            break capacity::Limit::Interrupted;
        }
        let actual = step.target_rate();
        p.tried.push(actual);
        let (res, mem) = runner.step(&step, s.capacity.abort_on_fail).await?;
        if res.interrupted {
            *stop_reason = Some("interrupted".into());
        } else if runner.settings.budget.exhausted() {
            *stop_reason = Some("max_requests".into());
        }
        let stopped = stop_reason.is_some();
        let sr = scenario_report(&step, &res, mem, cfg, stopped, &["throughput"]);
        finish_progress(runner, &step, &sr);
        p.record(&step, intensity, &sr);
        if let Some(r) = stop_reason.as_deref() {
            p.last = Some(sr);
            break if r == "interrupted" {
                capacity::Limit::Interrupted
            } else {
                capacity::Limit::MaxRequests
            };
        }
        p.search.record(actual, sr.passed);
        p.cool = !sr.passed;
        if sr.passed && p.best.as_ref().is_none_or(|(b, _)| actual > *b) {
            p.best = Some((actual, sr.clone()));
        }
        p.last = Some(sr);
    };
    Ok(p.finish(first, limit))
}

fn load_reports(step: &Step, res: Option<&StepResult>) -> Vec<LoadReport> {
    step.loads
        .iter()
        .enumerate()
        .map(|(i, l)| LoadReport {
            part: l.part,
            target_rate: l.rate,
            vus: l.vus,
            think_time_seconds: l.think_time.map(|d| d.as_secs_f64()),
            connections: l.connections,
            requests: l
                .requests
                .iter()
                .map(|r| RequestSummary {
                    method: r.method.clone(),
                    path: r.path.clone(),
                    expected_statuses: r.expected_statuses.to_string(),
                })
                .collect(),
            stats: res.and_then(|r| r.loads.get(i)).map(|l| l.counts.clone()),
        })
        .collect()
}

fn not_run(step: &Step) -> ScenarioReport {
    ScenarioReport {
        name: step.scenario,
        status: ScenarioStatus::NotRun,
        passed: false,
        intensity_percent: step.intensity,
        duration_seconds: step.duration.as_secs_f64(),
        loads: load_reports(step, None),
        stats: None,
        verdicts: Vec::new(),
        early_stop: None,
        comparison: None,
        capacity: None,
    }
}

/// Judges a step; thresholds named in `skip` are not judged (a capacity search skips
/// throughput).
fn scenario_report(
    step: &Step,
    res: &StepResult,
    memory: MemoryStats,
    cfg: &Config,
    stopped: bool,
    skip: &[&str],
) -> ScenarioReport {
    let mut c = Counts::default();
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    let mut corrected: Option<hdrhistogram::Histogram<u64>> = None;
    let mut raw: Option<hdrhistogram::Histogram<u64>> = None;
    for l in &res.loads {
        c.add(&l.counts);
        for (code, n) in &l.statuses {
            *statuses.entry(code.to_string()).or_default() += n;
        }
        for (acc, h) in [(&mut corrected, &l.corrected), (&mut raw, &l.raw)] {
            match acc {
                Some(a) => {
                    let _ = a.add(h);
                }
                None => *acc = Some(h.clone()),
            }
        }
    }
    let window = res.window.as_secs_f64().max(1e-9);
    let target_rate = step.target_rate();
    let finished = c.finished();
    let stats = ScenarioStats {
        statuses,
        target_rate,
        send_rate: c.sent as f64 / window,
        achieved_rate: c.answered_in_window as f64 / window,
        error_ratio: (finished > 0).then(|| c.errors() as f64 / finished as f64),
        window_seconds: res.window.as_secs_f64(),
        elapsed_seconds: res.elapsed.as_secs_f64(),
        latency_ms: Latency {
            corrected: corrected.as_ref().and_then(engine::quantiles),
            raw: raw.as_ref().and_then(engine::quantiles),
        },
        memory,
        counts: c,
    };
    let observed = Observed {
        finished,
        errors: stats.counts.errors(),
        achieved_rate: stats.achieved_rate,
        target_rate,
        corrected: stats.latency_ms.corrected,
        memory_max: stats.memory.max_ratio,
    };
    let verdicts: Vec<_> = judge::judge(&observed, &cfg.strain.thresholds)
        .into_iter()
        .filter(|v| !skip.contains(&v.threshold.as_str()))
        .collect();
    let all_pass = verdicts.iter().all(|v| v.passed);
    let status = if stopped {
        ScenarioStatus::Interrupted
    } else if all_pass {
        ScenarioStatus::Passed
    } else {
        ScenarioStatus::Failed
    };
    ScenarioReport {
        name: step.scenario,
        status,
        passed: status == ScenarioStatus::Passed,
        intensity_percent: step.intensity,
        duration_seconds: step.duration.as_secs_f64(),
        loads: load_reports(step, Some(res)),
        stats: Some(stats),
        verdicts,
        early_stop: res.early_stop.clone(),
        comparison: None,
        capacity: None,
    }
}
