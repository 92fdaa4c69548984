//! The outputs of a run: the JSON report (schema in docs/strain-report.schema.json, read back
//! by the exporter), JUnit XML (one test case per scenario threshold) and a Pushgateway push.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::abort::EarlyStop;
use super::capacity;
use super::compare::{PreviousRun, ScenarioChange};
use super::judge::{Quantiles, Verdict};
use super::memory::MemoryStats;
use crate::config::{ScenarioName, StrainThresholds, TierName};
use crate::markup::escape as xml;
use crate::metrics::names as n;

/// Bumped when a field changes meaning, appears or disappears. Version 2 added the rehearsal
/// flag, abort-on-fail, the comparison with the previous run and capacity search; readers
/// accept [`OLDEST_READABLE`] to this one (the new fields take their defaults) and refuse the rest.
pub const SCHEMA_VERSION: u32 = 2;
/// The oldest schema version the exporter still reads.
pub const OLDEST_READABLE: u32 = 1;
/// The suite name of a capacity search's report.
pub use crate::figures::strain::CAPACITY_SUITE;

/// One run of `launchguard strain`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    /// `hard_launch`, `growth`, `custom` for a run of chosen scenarios, or `capacity`.
    pub suite: String,
    /// The tier whose limits sized the load.
    pub target_tier: TierName,
    /// Scheme, host, port and path of the target (never credentials or a query).
    pub base_url: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// False when the run was interrupted or hit `max_requests` before every scenario ended.
    pub complete: bool,
    /// `interrupted` or `max_requests` when the run stopped early.
    pub stop_reason: Option<String>,
    pub scenarios_run: usize,
    pub scenarios_passed: usize,
    /// scenarios_passed / scenarios_run.
    pub pass_ratio: f64,
    pub required_pass_ratio: f64,
    /// complete and pass_ratio >= required_pass_ratio (a capacity search: complete and a
    /// capacity found for every scenario).
    pub passed: bool,
    /// A run of a suite shorter or lighter than the suite's definition, or judged by looser
    /// thresholds: it never counts for readiness (docs/strain.md).
    #[serde(default)]
    pub rehearsal: bool,
    /// Why it is a rehearsal, one reason per step or threshold.
    #[serde(default)]
    pub rehearsal_reasons: Vec<String>,
    /// Steps stopped as soon as their failure was certain.
    #[serde(default)]
    pub abort_on_fail: bool,
    /// The run each scenario was compared with: the newest report of the same suite found in
    /// the report directory before this one.
    #[serde(default)]
    pub previous_run: Option<PreviousRun>,
    /// `strain.regression_ratio` of the comparison.
    #[serde(default)]
    pub regression_ratio: Option<f64>,
    /// The step rule of a capacity search (`suite` is then `capacity`).
    #[serde(default)]
    pub capacity_rule: Option<capacity::Rule>,
    pub thresholds: StrainThresholds,
    pub scenarios: Vec<ScenarioReport>,
    /// The whole effective config of the run (secrets appear only as their references).
    pub config: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    pub version: String,
    pub revision: String,
}

impl Tool {
    pub fn current() -> Tool {
        Tool {
            name: "launchguard".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            revision: option_env!("LAUNCHGUARD_REVISION")
                .unwrap_or("unknown")
                .into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioStatus {
    Passed,
    Failed,
    /// Started but cut short; judged on what it did and never counted as passed.
    Interrupted,
    /// Not started because the run stopped first.
    NotRun,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioReport {
    pub name: ScenarioName,
    pub status: ScenarioStatus,
    pub passed: bool,
    pub intensity_percent: f64,
    pub duration_seconds: f64,
    pub loads: Vec<LoadReport>,
    pub stats: Option<ScenarioStats>,
    pub verdicts: Vec<Verdict>,
    /// Set when abort-on-fail ended the step early: which threshold, after how much.
    #[serde(default)]
    pub early_stop: Option<EarlyStop>,
    /// Against the same scenario of the previous run of the suite.
    #[serde(default)]
    pub comparison: Option<ScenarioChange>,
    /// A capacity search's result; the stats and verdicts above are then those of its highest
    /// passing step (or of its last step when none passed).
    #[serde(default)]
    pub capacity: Option<capacity::Outcome>,
}

/// The load of one scenario or one part of full_system, as planned and as it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadReport {
    pub part: ScenarioName,
    pub target_rate: f64,
    pub vus: Option<u32>,
    pub think_time_seconds: Option<f64>,
    pub connections: usize,
    pub requests: Vec<RequestSummary>,
    pub stats: Option<Counts>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSummary {
    pub method: String,
    pub path: String,
    pub expected_statuses: String,
}

/// Request counts of a load or a scenario.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    /// Due within the window.
    pub scheduled: u64,
    pub sent: u64,
    /// Got an HTTP answer (any status).
    pub answered: u64,
    /// Answered before the scheduled window closed.
    pub answered_in_window: u64,
    /// Answered with an expected status.
    pub ok: u64,
    /// Answered with a status outside the expected set.
    pub status_errors: u64,
    pub transport_errors: u64,
    pub timeouts: u64,
    /// Started more than 10 ms behind schedule.
    pub late: u64,
    /// Due within the window but never sent (every connection busy until it closed).
    pub dropped: u64,
    /// Cut off by an interruption.
    pub unfinished: u64,
}

impl Counts {
    pub fn errors(&self) -> u64 {
        self.status_errors + self.transport_errors + self.timeouts
    }

    pub fn finished(&self) -> u64 {
        self.answered + self.transport_errors + self.timeouts
    }

    pub fn add(&mut self, o: &Counts) {
        self.scheduled += o.scheduled;
        self.sent += o.sent;
        self.answered += o.answered;
        self.answered_in_window += o.answered_in_window;
        self.ok += o.ok;
        self.status_errors += o.status_errors;
        self.transport_errors += o.transport_errors;
        self.timeouts += o.timeouts;
        self.late += o.late;
        self.dropped += o.dropped;
        self.unfinished += o.unfinished;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioStats {
    pub counts: Counts,
    /// Answers per HTTP status code.
    pub statuses: BTreeMap<String, u64>,
    pub target_rate: f64,
    /// Requests sent per second of the window (the generator's side).
    pub send_rate: f64,
    /// Requests answered within the window per second of it: the throughput the target
    /// sustained, judged against min_throughput and the target rate.
    pub achieved_rate: f64,
    pub error_ratio: Option<f64>,
    pub window_seconds: f64,
    pub elapsed_seconds: f64,
    /// Timed from each request's scheduled start (corrected) and from its actual send (raw).
    pub latency_ms: Latency,
    pub memory: MemoryStats,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    pub corrected: Option<Quantiles>,
    pub raw: Option<Quantiles>,
}

/// The file name of a report: suite and finish time, so names sort by time within a suite.
pub fn file_name(suite: &str, finished: DateTime<Utc>) -> String {
    format!(
        "strain-{suite}-{}.json",
        finished.format("%Y%m%dT%H%M%S%.3fZ")
    )
}

/// The report files in `dir` by suite, each suite's newest first (names sort by finish time).
/// A directory that does not exist holds none.
pub fn list(dir: &Path) -> std::io::Result<BTreeMap<String, Vec<String>>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e),
    };
    let mut by_suite: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(stem) = name
            .strip_prefix("strain-")
            .and_then(|s| s.strip_suffix(".json"))
        else {
            continue;
        };
        if let Some((suite, _stamp)) = stem.rsplit_once('-') {
            by_suite.entry(suite.to_string()).or_default().push(name);
        }
    }
    for files in by_suite.values_mut() {
        files.sort_unstable_by(|a, b| b.cmp(a));
    }
    Ok(by_suite)
}

/// The newest readable report of `suite` in `dir` with its file name, parsing at most
/// `max_tries` files; None when there is none.
pub fn newest(dir: &Path, suite: &str, max_tries: usize) -> Option<(String, Report)> {
    let mut all = list(dir).ok()?;
    all.remove(suite)?
        .into_iter()
        .take(max_tries)
        .find_map(|n| match read(&dir.join(&n)) {
            Ok(r) if r.suite == suite => Some((n, r)),
            _ => None,
        })
}

/// Writes the report atomically (temporary file, then rename) so a reader never sees half.
pub fn write_json(dir: &Path, r: &Report) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(file_name(&r.suite, r.finished_at));
    let tmp = dir.join(format!(".{}.tmp", std::process::id()));
    let text = serde_json::to_string_pretty(r).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, text + "\n")?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// JUnit XML: one test suite per run, one test case per scenario threshold (a capacity
/// search: one per scenario). A rehearsal's test suite is named `strain.<suite>.rehearsal` and
/// carries the property `rehearsal=true` with its reasons, so CI keeps it apart.
pub fn junit(r: &Report) -> String {
    let secs = (r.finished_at - r.started_at).num_milliseconds() as f64 / 1000.0;
    let name = if r.rehearsal {
        format!("strain.{}.rehearsal", r.suite)
    } else {
        format!("strain.{}", r.suite)
    };
    let mut body = String::new();
    let (mut total, mut failures, mut skipped) = (0usize, 0usize, 0usize);
    let time_of = |s: &ScenarioReport| s.stats.as_ref().map_or(0.0, |st| st.elapsed_seconds);
    for s in &r.scenarios {
        let class = format!("strain.{}.{}", xml(&r.suite), s.name);
        if let Some(c) = &s.capacity {
            total += 1;
            let text = capacity_line(s.name.as_str(), c);
            body.push_str(&format!(
                "    <testcase classname=\"{class}\" name=\"capacity\" time=\"{:.3}\">\n",
                time_of(s)
            ));
            if c.requests_per_second.is_none() {
                failures += 1;
                body.push_str(&format!(
                    "      <failure message=\"{}\" type=\"capacity\"/>\n",
                    xml(&text)
                ));
            }
            body.push_str(&format!(
                "      <system-out>{}</system-out>\n    </testcase>\n",
                xml(&text)
            ));
            continue;
        }
        if s.verdicts.is_empty() {
            total += 1;
            skipped += 1;
            body.push_str(&format!(
                "    <testcase classname=\"{class}\" name=\"run\" time=\"0\">\n      <skipped message=\"not run: {}\"/>\n    </testcase>\n",
                xml(r.stop_reason.as_deref().unwrap_or("stopped"))
            ));
            continue;
        }
        for v in &s.verdicts {
            total += 1;
            body.push_str(&format!(
                "    <testcase classname=\"{class}\" name=\"{}: {}\" time=\"{:.3}\"",
                v.threshold,
                xml(&v.rule),
                time_of(s)
            ));
            if v.passed {
                body.push_str("/>\n");
                continue;
            }
            failures += 1;
            let mut msg = v.reason.clone().unwrap_or_else(|| "failed".into());
            if let Some(e) = s.early_stop.as_ref().filter(|e| e.threshold == v.threshold) {
                msg.push_str(&format!("; {}", early_stop_text(e)));
            }
            body.push_str(&format!(
                ">\n      <failure message=\"{}\" type=\"{}\"/>\n    </testcase>\n",
                xml(&msg),
                v.threshold
            ));
        }
    }
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    o.push_str(&format!(
        "<testsuites name=\"launchguard strain\" tests=\"{total}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{secs:.3}\">\n"
    ));
    o.push_str(&format!(
        "  <testsuite name=\"{}\" tests=\"{total}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{secs:.3}\" timestamp=\"{}\">\n",
        xml(&name),
        r.started_at.format("%Y-%m-%dT%H:%M:%S")
    ));
    o.push_str(&format!(
        "    <properties><property name=\"base_url\" value=\"{}\"/><property name=\"pass_ratio\" value=\"{}\"/><property name=\"rehearsal\" value=\"{}\"/>",
        xml(&r.base_url),
        r.pass_ratio,
        r.rehearsal
    ));
    if r.rehearsal {
        o.push_str(&format!(
            "<property name=\"rehearsal_reasons\" value=\"{}\"/>",
            xml(&r.rehearsal_reasons.join("; "))
        ));
    }
    o.push_str(&format!(
        "<property name=\"launchguard_version\" value=\"{}\"/></properties>\n",
        xml(&r.tool.version)
    ));
    o.push_str(&body);
    o.push_str("  </testsuite>\n</testsuites>\n");
    o
}

/// An early stop in words: which threshold, after how many requests and seconds.
pub fn early_stop_text(e: &EarlyStop) -> String {
    format!(
        "stopped early after {} of {} planned requests, {:.1} s of {:.0} s: {}",
        e.after_requests, e.planned_requests, e.after_seconds, e.planned_seconds, e.rule
    )
}

/// A scenario's capacity in words.
pub fn capacity_line(name: &str, c: &capacity::Outcome) -> String {
    let found = match c.requests_per_second {
        Some(rps) if c.limited_by.bounded() => format!(
            "at least {rps:.1} requests/s (the search stopped at {})",
            c.limited_by.as_str()
        ),
        Some(rps) => format!(
            "{rps:.1} requests/s (first failing step at {:.1})",
            c.first_failing_rate.unwrap_or(f64::NAN)
        ),
        None => "no step passed".to_string(),
    };
    let burst = match c.requests_per_second {
        Some(rps) if c.full_rate > 0.0 => format!(
            "; {:.2}x the target tier's full (burst) rate of {:.1} requests/s",
            rps / c.full_rate,
            c.full_rate
        ),
        _ => String::new(),
    };
    format!("{name}: capacity {found}{burst}")
}

fn text_sample(out: &mut String, def: &n::MetricDef, labels: &[&str], value: f64) {
    let ls: Vec<String> = def
        .labels
        .iter()
        .zip(labels)
        .map(|(k, v)| {
            format!(
                "{k}=\"{}\"",
                v.replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n")
            )
        })
        .collect();
    out.push_str(&format!("{}{{{}}} {value}\n", def.name, ls.join(",")));
}

fn family(out: &mut String, def: &n::MetricDef) {
    out.push_str(&format!(
        "# HELP {} {}\n# TYPE {} gauge\n",
        def.name, def.help, def.name
    ));
}

/// The push body in the Prometheus text format (0.0.4), which the Pushgateway reads: the
/// suite's pass ratio, scenarios and time with the rehearsal flag, or a capacity search's
/// capacities.
pub fn push_body(r: &Report) -> String {
    let mut o = String::new();
    let ts = r.finished_at.timestamp_millis() as f64 / 1000.0;
    family(&mut o, &n::STRAIN_LAST_RUN_TS);
    text_sample(&mut o, &n::STRAIN_LAST_RUN_TS, &[&r.suite], ts);
    if r.capacity_rule.is_some() {
        family(&mut o, &n::STRAIN_CAPACITY_RPS);
        for s in &r.scenarios {
            if let Some(rps) = s.capacity.as_ref().and_then(|c| c.requests_per_second) {
                text_sample(&mut o, &n::STRAIN_CAPACITY_RPS, &[s.name.as_str()], rps);
            }
        }
        family(&mut o, &n::STRAIN_CAPACITY_BOUNDED);
        for s in &r.scenarios {
            if let Some(c) = s
                .capacity
                .as_ref()
                .filter(|c| c.requests_per_second.is_some())
            {
                let b = if c.limited_by.bounded() { 1.0 } else { 0.0 };
                text_sample(&mut o, &n::STRAIN_CAPACITY_BOUNDED, &[s.name.as_str()], b);
            }
        }
        return o;
    }
    family(&mut o, &n::STRAIN_PASS_RATIO);
    text_sample(&mut o, &n::STRAIN_PASS_RATIO, &[&r.suite], r.pass_ratio);
    family(&mut o, &n::STRAIN_SCENARIO_PASSED);
    for s in &r.scenarios {
        let v = if s.passed { 1.0 } else { 0.0 };
        text_sample(
            &mut o,
            &n::STRAIN_SCENARIO_PASSED,
            &[&r.suite, s.name.as_str()],
            v,
        );
    }
    family(&mut o, &n::STRAIN_REHEARSAL);
    let v = if r.rehearsal { 1.0 } else { 0.0 };
    text_sample(&mut o, &n::STRAIN_REHEARSAL, &[&r.suite], v);
    o
}

/// The Pushgateway group of a run: `job/launchguard_strain/suite/<suite>`, and for a
/// rehearsal `.../kind/rehearsal`, so a rehearsal never replaces the real run's figures.
pub fn push_group(r: &Report) -> String {
    let base = format!("job/launchguard_strain/suite/{}", r.suite);
    if r.rehearsal {
        format!("{base}/kind/rehearsal")
    } else {
        base
    }
}

/// Why the push to the Pushgateway failed (a warning: the report is written by then). Reqwest
/// errors are kept without their URL.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("cannot build the Pushgateway client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("push to the Pushgateway failed: {0}")]
    Send(#[source] reqwest::Error),
    #[error("the Pushgateway answered {status}: {body}")]
    Status {
        status: reqwest::StatusCode,
        body: String,
    },
}

/// Why a report file cannot be read; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{}: schema_version {version} is not one this launchguard reads ({OLDEST_READABLE} to {SCHEMA_VERSION})",
        path.display()
    )]
    Schema { path: PathBuf, version: u32 },
}

/// Replaces this run's group on the Pushgateway (PUT /metrics/[`push_group`]).
pub async fn push(gateway: &str, r: &Report) -> Result<(), PushError> {
    let url = format!(
        "{}/metrics/{}",
        gateway.trim_end_matches('/'),
        push_group(r)
    );
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| PushError::Client(e.without_url()))?;
    let resp = client
        .put(&url)
        .header("content-type", "text/plain; version=0.0.4")
        .body(push_body(r))
        .send()
        .await
        .map_err(|e| PushError::Send(e.without_url()))?;
    if !resp.status().is_success() {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        return Err(PushError::Status {
            status,
            body: text.trim().to_string(),
        });
    }
    Ok(())
}

/// Reads one report; a newer schema or a broken file is an error naming the file.
pub fn read(path: &Path) -> Result<Report, ReadError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let r: Report = serde_json::from_str(&text).map_err(|source| ReadError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    if !(OLDEST_READABLE..=SCHEMA_VERSION).contains(&r.schema_version) {
        return Err(ReadError::Schema {
            path: path.to_path_buf(),
            version: r.schema_version,
        });
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_and_names_sort_by_time() {
        assert_eq!(xml("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;");
        let t1 = "2025-01-02T03:04:05.006Z".parse().unwrap();
        let t2 = "2025-01-02T03:04:05.010Z".parse().unwrap();
        let (a, b) = (file_name("growth", t1), file_name("growth", t2));
        assert_eq!(a, "strain-growth-20250102T030405.006Z.json");
        assert!(a < b);
    }
}
