//! `launchguard strain`: runs load scenarios against a base URL on an open model, judges each
//! against the pass thresholds, writes a JSON report (read back by the exporter), and exits 0
//! when the suite passes, 1 when it fails, 2 for usage, config or target errors.
//!
//! Flow: scenario (plan) -> safety (target check) -> engine (load, histograms) + memory
//! (samples) -> judge (verdicts) -> report (JSON, JUnit, push) and summary (table).

pub mod engine;
pub mod exposition;
pub mod http1;
pub mod judge;
pub mod memory;
pub mod progress;
pub mod readiness;
pub mod report;
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

use crate::config::Config;
use engine::{Budget, LoadSpec, Prepared, RunSettings, StepResult, Target};
use judge::Observed;
use memory::{MemorySource, MemoryStats, Sampler};
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

async fn run_inner(cfg: Config, args: Args) -> Result<u8, String> {
    let plan = scenario::plan(&cfg, &args.selection)?;
    let url = Url::parse(&args.base_url).map_err(|e| format!("--base-url: {e}"))?;
    let target = Target::resolve(&url, cfg.strain.ca_file.as_deref()).await?;
    let ips: Vec<_> = target.addrs.iter().map(|a| a.ip()).collect();
    safety::check_target(&target.host, &ips, &cfg.strain.allowed_hosts)?;
    let base_path = target.base_path.clone();
    let mut prepared: Vec<Vec<LoadSpec>> = Vec::new();
    for step in &plan.steps {
        let mut specs = Vec::new();
        for load in &step.loads {
            let mut reqs = Vec::new();
            for (i, r) in load.requests.iter().enumerate() {
                let at = format!("strain.scenarios.{}.requests.{i}", load.part);
                reqs.push(Prepared::new(r, &base_path, &target.host_header, &at)?);
            }
            specs.push(LoadSpec {
                load: load.clone(),
                requests: reqs,
            });
        }
        prepared.push(specs);
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
    let memory_source = match &args.prometheus_url {
        Some(u) => MemorySource::prometheus(u, &s.memory_query, Duration::from_secs(5))?,
        None => MemorySource::Local,
    };
    let report_dir = args
        .report_dir
        .clone()
        .unwrap_or_else(|| s.report_dir.clone());
    let stop = watch_signals(s.grace.0);
    let settings = RunSettings {
        target: Arc::new(target),
        timeout,
        grace: s.grace.0,
        budget: Budget::new(s.max_requests),
    };
    eprintln!(
        "strain: suite {} (target tier {}) against {}: {} scenario(s), about {:.0} requests over {}",
        plan.suite,
        plan.target_tier.as_str(),
        shown_url(&url),
        plan.steps.len(),
        plan.planned_requests(),
        humantime::format_duration(plan.planned_duration())
    );

    let started_at = Utc::now();
    let mut progress = progress::Progress::new();
    let mut scenarios = Vec::new();
    let mut stop_reason: Option<String> = None;
    for (step, specs) in plan.steps.iter().zip(prepared) {
        if stop_reason.is_some() {
            scenarios.push(not_run(step));
            continue;
        }
        let name = step.scenario.as_str();
        progress.start(name, step.duration, step.target_rate());
        let sampler = Sampler::start(memory_source.clone(), s.memory_interval.0);
        let res = engine::run_step(specs, step.duration, &settings, stop.clone(), |l| {
            progress.tick(name, &l)
        })
        .await;
        let mem = sampler.finish();
        if res.interrupted {
            stop_reason = Some("interrupted".into());
        } else if settings.budget.exhausted() {
            stop_reason = Some("max_requests".into());
        }
        let sr = scenario_report(step, &res, mem, &cfg, stop_reason.is_some());
        let word = match sr.status {
            ScenarioStatus::Passed => "PASS",
            ScenarioStatus::Failed => "FAIL",
            _ => "STOPPED",
        };
        progress.finish(name, word);
        scenarios.push(sr);
    }
    let finished_at = Utc::now();
    let run = scenarios
        .iter()
        .filter(|s| s.status != ScenarioStatus::NotRun)
        .count();
    let passed = scenarios.iter().filter(|s| s.passed).count();
    let ratio = judge::pass_ratio(passed, run);
    let complete = stop_reason.is_none();
    let report = Report {
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
        passed: complete && judge::suite_passes(ratio, s.upgrade_pass_ratio),
        thresholds: s.thresholds.clone(),
        scenarios,
        config: serde_json::to_value(&cfg).map_err(|e| e.to_string())?,
    };
    let path = report::write_json(&report_dir, &report)
        .map_err(|e| format!("cannot write the report into {}: {e}", report_dir.display()))?;
    print!("{}", summary::table(&report));
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
    }
}

fn scenario_report(
    step: &Step,
    res: &StepResult,
    memory: MemoryStats,
    cfg: &Config,
    stopped: bool,
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
    let verdicts = judge::judge(&observed, &cfg.strain.thresholds);
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
    }
}
