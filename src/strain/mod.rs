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

use chrono::Utc;
use tokio::sync::watch;
use url::Url;

use crate::config::{Config, STRAIN_70_ITEM};
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
fn prepare(step: &Step, target: &Target) -> Result<Vec<LoadSpec>, String> {
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
fn capacity_plan(cfg: &Config, sel: &Selection) -> Result<scenario::Plan, String> {
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
            return Err(format!(
                "the first {} step plans {reqs:.0} requests, above strain.max_requests ({}); shorten --duration or lower --intensity",
                step.scenario, s.max_requests
            ));
        }
        if step.duration > s.max_duration.0 {
            return Err(format!(
                "a step lasts {}, above strain.max_duration ({})",
                humantime::format_duration(step.duration),
                s.max_duration
            ));
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
    ) -> Result<(StepResult, MemoryStats), String> {
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

async fn run_inner(cfg: Config, args: Args) -> Result<u8, String> {
    let plan = if args.find_capacity {
        capacity_plan(&cfg, &args.selection)?
    } else {
        scenario::plan(&cfg, &args.selection)?
    };
    let url = Url::parse(&args.base_url).map_err(|e| format!("--base-url: {e}"))?;
    let target = Target::resolve(&url, cfg.strain.ca_file.as_deref()).await?;
    let ips: Vec<_> = target.addrs.iter().map(|a| a.ip()).collect();
    safety::check_target(&target.host, &ips, &cfg.strain.allowed_hosts)?;
    // Every request definition is checked before any load.
    for step in &plan.steps {
        prepare(step, &target)?;
    }
    let s = &cfg.strain;
    let timeout = s.request_timeout.0;
    match tokio::time::timeout(timeout, target.connect()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(format!("cannot reach {}: {e}", shown_url(&url))),
        Err(_) => {
            return Err(format!(
                "cannot reach {}: connect timed out",
                shown_url(&url)
            ));
        }
    }
    let memory = match (s.memory_source, &args.prometheus_url) {
        (crate::config::MemorySourceName::Supabase, _) => {
            MemorySource::Supabase(Box::new(cfg.supabase_metrics.clone()))
        }
        (_, Some(u)) => MemorySource::prometheus(u, &s.memory_query, Duration::from_secs(5))?,
        (_, None) => MemorySource::Local,
    };
    let report_dir = args
        .report_dir
        .clone()
        .unwrap_or_else(|| s.report_dir.clone());
    let mut runner = Runner {
        cfg: &cfg,
        settings: RunSettings {
            target: Arc::new(target),
            timeout,
            grace: s.grace.0,
            budget: Budget::new(s.max_requests),
        },
        stop: watch_signals(s.grace.0),
        memory,
        progress: progress::Progress::new(),
    };
    let ran: Vec<RanStep> = plan.steps.iter().map(RanStep::from).collect();
    let rehearsal_reasons = rehearsal::reasons(&cfg, &plan.suite, &ran, &s.thresholds);
    if args.find_capacity {
        eprintln!(
            "strain: capacity search (target tier {}) against {}: {} scenario(s), steps of {} from {:.1} requests/s, times {} until a step fails",
            plan.target_tier.as_str(),
            shown_url(&url),
            plan.steps.len(),
            humantime::format_duration(plan.steps.first().map_or(Duration::ZERO, |s| s.duration)),
            plan.steps.first().map_or(0.0, |s| s.target_rate()),
            s.capacity.factor
        );
    } else {
        eprintln!(
            "strain: suite {} (target tier {}) against {}: {} scenario(s), about {:.0} requests over {}",
            plan.suite,
            plan.target_tier.as_str(),
            shown_url(&url),
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

    let started_at = Utc::now();
    let (scenarios, stop_reason, abort_on_fail) = if args.find_capacity {
        let (sc, stop) = capacity_search(&mut runner, &plan).await?;
        (sc, stop, s.capacity.abort_on_fail)
    } else {
        let (sc, stop) = suite_run(&mut runner, &plan).await?;
        (sc, stop, s.abort_on_fail)
    };
    let finished_at = Utc::now();
    let run = scenarios
        .iter()
        .filter(|s| s.status != ScenarioStatus::NotRun)
        .count();
    let passed = scenarios.iter().filter(|s| s.passed).count();
    let ratio = judge::pass_ratio(passed, run);
    let complete = stop_reason.is_none();
    let mut report = Report {
        schema_version: report::SCHEMA_VERSION,
        tool: Tool::current(),
        suite: plan.suite.clone(),
        target_tier: plan.target_tier,
        base_url: shown_url(&url),
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
        abort_on_fail,
        previous_run: None,
        regression_ratio: None,
        capacity_rule: args.find_capacity.then(|| capacity::Rule {
            start_intensity_percent: plan.steps.first().map_or(0.0, |s| s.intensity),
            factor: s.capacity.factor,
            resolution: s.capacity.resolution,
            step_seconds: plan.steps.first().map_or(0.0, |s| s.duration.as_secs_f64()),
            cooldown_seconds: s.capacity.cooldown.0.as_secs_f64(),
            abort_on_fail: s.capacity.abort_on_fail,
            thresholds: CAPACITY_THRESHOLDS.iter().map(|t| t.to_string()).collect(),
        }),
        thresholds: s.thresholds.clone(),
        scenarios,
        config: serde_json::to_value(&cfg).map_err(|e| e.to_string())?,
    };
    if !args.find_capacity
        && let Some((file, prev)) = report::newest(&report_dir, &plan.suite, 20)
    {
        for sc in &mut report.scenarios {
            sc.comparison =
                compare::scenario(&prev, sc, s.thresholds.error_ratio, s.regression_ratio);
        }
        report.previous_run = Some(compare::PreviousRun {
            file,
            finished_at: prev.finished_at,
            rehearsal: prev.rehearsal,
        });
        report.regression_ratio = Some(s.regression_ratio);
    }
    let path = report::write_json(&report_dir, &report)
        .map_err(|e| format!("cannot write the report into {}: {e}", report_dir.display()))?;
    print!("{}", summary::table(&report));
    if !report.rehearsal && rehearsal::at_least(&cfg, &plan.suite, &ran, VALIDATION_INTENSITY) {
        let all = report.complete && report.scenarios_passed == report.scenarios.len();
        println!(
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
        std::fs::write(j, report::junit(&report))
            .map_err(|e| format!("cannot write JUnit XML to {}: {e}", j.display()))?;
        eprintln!("strain: JUnit XML written to {}", j.display());
    }
    if let Some(gw) = &args.pushgateway {
        // The report is written already; a failed push is a warning, not a failed suite.
        match report::push(gw, &report).await {
            Ok(()) => eprintln!("strain: pushed to the Pushgateway"),
            Err(e) => eprintln!("warning: {e}"),
        }
    }
    Ok(if report.passed { EXIT_PASS } else { EXIT_FAIL })
}

/// The steps of a suite (or chosen scenarios), one after another.
async fn suite_run(
    runner: &mut Runner<'_>,
    plan: &scenario::Plan,
) -> Result<(Vec<ScenarioReport>, Option<String>), String> {
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
) -> Result<(Vec<ScenarioReport>, Option<String>), String> {
    let cfg = runner.cfg;
    let s = &cfg.strain;
    let began = std::time::Instant::now();
    let mut scenarios = Vec::new();
    let mut stop_reason: Option<String> = None;
    for first in &plan.steps {
        if stop_reason.is_some() {
            scenarios.push(not_run(first));
            continue;
        }
        let name = first.scenario;
        let full_rate =
            scenario::step(cfg, plan.target_tier, name, 100.0, first.duration)?.target_rate();
        let mut search = capacity::Search::new(
            first.target_rate(),
            s.capacity.factor,
            s.capacity.resolution,
            s.rate_cap,
        );
        let mut steps: Vec<capacity::Step> = Vec::new();
        let mut tried: Vec<f64> = Vec::new();
        let mut best: Option<(f64, ScenarioReport)> = None;
        let mut last: Option<ScenarioReport> = None;
        let mut cool = false;
        let limit = loop {
            let rate = match search.next() {
                Ok(r) => r,
                Err(l) => break l,
            };
            let intensity = 100.0 * rate / full_rate.max(f64::MIN_POSITIVE);
            let step = scenario::step(cfg, plan.target_tier, name, intensity, first.duration)?;
            let actual = step.target_rate();
            if tried
                .iter()
                .any(|t| (t - actual).abs() <= 1e-9 * actual.max(1.0))
            {
                // Virtual users come in whole numbers: the search cannot get any finer.
                break capacity::Limit::Threshold;
            }
            if actual > s.rate_cap * (1.0 + 1e-9) {
                break capacity::Limit::RateCap;
            }
            let planned = (actual * step.duration.as_secs_f64()).ceil();
            if planned > runner.settings.budget.remaining() as f64 {
                break capacity::Limit::MaxRequests;
            }
            let pause = if cool {
                s.capacity.cooldown.0
            } else {
                Duration::ZERO
            };
            if began.elapsed() + pause + step.duration > s.max_duration.0 {
                break capacity::Limit::MaxDuration;
            }
            if !pause.is_zero() {
                // A failing step leaves a queue behind (requests the target still works on):
                // let it drain, or the next step inherits its latency.
                eprintln!(
                    "strain: {name}: cooling down for {}",
                    humantime::format_duration(pause)
                );
                let mut stop = runner.stop.clone();
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.wait_for(|s| *s) => {
                        stop_reason = Some("interrupted".into());
                        break capacity::Limit::Interrupted;
                    }
                }
            }
            tried.push(actual);
            let (res, mem) = runner.step(&step, s.capacity.abort_on_fail).await?;
            if res.interrupted {
                stop_reason = Some("interrupted".into());
            } else if runner.settings.budget.exhausted() {
                stop_reason = Some("max_requests".into());
            }
            let sr = scenario_report(
                &step,
                &res,
                mem,
                cfg,
                stop_reason.is_some(),
                &["throughput"],
            );
            finish_progress(runner, &step, &sr);
            let stats = sr.stats.as_ref();
            steps.push(capacity::Step {
                target_rate: actual,
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
            if let Some(r) = &stop_reason {
                last = Some(sr);
                break if r == "interrupted" {
                    capacity::Limit::Interrupted
                } else {
                    capacity::Limit::MaxRequests
                };
            }
            search.record(actual, sr.passed);
            cool = !sr.passed;
            if sr.passed && best.as_ref().is_none_or(|(b, _)| actual > *b) {
                best = Some((actual, sr.clone()));
            }
            last = Some(sr);
        };
        let outcome = capacity::Outcome {
            requests_per_second: search.capacity(),
            first_failing_rate: search.first_failing(),
            limited_by: limit,
            full_rate,
            steps,
        };
        let mut sr = match (best, last) {
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
        eprintln!("strain: {}", report::capacity_line(name.as_str(), &outcome));
        sr.capacity = Some(outcome);
        scenarios.push(sr);
    }
    Ok((scenarios, stop_reason))
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
