//! The outputs of a run: the JSON report (schema in docs/strain-report.schema.json, read back
//! by the exporter), JUnit XML (one test case per scenario threshold) and a Pushgateway push.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::judge::{Quantiles, Verdict};
use super::memory::MemoryStats;
use crate::config::{ScenarioName, StrainThresholds, TierName};
use crate::markup::escape as xml;
use crate::metrics::names as n;

/// Bumped when a field changes meaning or disappears; readers refuse other versions.
pub const SCHEMA_VERSION: u32 = 1;

/// One run of `launchguard strain`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    /// `hard_launch`, `growth`, or `custom` for a run of chosen scenarios.
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
    /// complete and pass_ratio >= required_pass_ratio.
    pub passed: bool,
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

/// JUnit XML: one test suite per run, one test case per scenario threshold.
pub fn junit(r: &Report) -> String {
    let cases: Vec<(&ScenarioReport, &Verdict)> = r
        .scenarios
        .iter()
        .flat_map(|s| s.verdicts.iter().map(move |v| (s, v)))
        .collect();
    let not_run: Vec<&ScenarioReport> = r
        .scenarios
        .iter()
        .filter(|s| s.verdicts.is_empty())
        .collect();
    let failures = cases.iter().filter(|(_, v)| !v.passed).count();
    let total = cases.len() + not_run.len();
    let secs = (r.finished_at - r.started_at).num_milliseconds() as f64 / 1000.0;
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    o.push_str(&format!(
        "<testsuites name=\"launchguard strain\" tests=\"{total}\" failures=\"{failures}\" skipped=\"{}\" time=\"{secs:.3}\">\n",
        not_run.len()
    ));
    o.push_str(&format!(
        "  <testsuite name=\"strain.{}\" tests=\"{total}\" failures=\"{failures}\" skipped=\"{}\" time=\"{secs:.3}\" timestamp=\"{}\">\n",
        xml(&r.suite),
        not_run.len(),
        r.started_at.format("%Y-%m-%dT%H:%M:%S")
    ));
    o.push_str(&format!(
        "    <properties><property name=\"base_url\" value=\"{}\"/><property name=\"pass_ratio\" value=\"{}\"/><property name=\"launchguard_version\" value=\"{}\"/></properties>\n",
        xml(&r.base_url),
        r.pass_ratio,
        xml(&r.tool.version)
    ));
    for (s, v) in &cases {
        let time = s.stats.as_ref().map_or(0.0, |st| st.elapsed_seconds);
        o.push_str(&format!(
            "    <testcase classname=\"strain.{}.{}\" name=\"{}: {}\" time=\"{time:.3}\"",
            xml(&r.suite),
            s.name,
            v.threshold,
            xml(&v.rule)
        ));
        if v.passed {
            o.push_str("/>\n");
        } else {
            let msg = v.reason.clone().unwrap_or_else(|| "failed".into());
            o.push_str(&format!(
                ">\n      <failure message=\"{}\" type=\"{}\"/>\n    </testcase>\n",
                xml(&msg),
                v.threshold
            ));
        }
    }
    for s in not_run {
        o.push_str(&format!(
            "    <testcase classname=\"strain.{}.{}\" name=\"run\" time=\"0\">\n      <skipped message=\"not run: {}\"/>\n    </testcase>\n",
            xml(&r.suite),
            s.name,
            xml(r.stop_reason.as_deref().unwrap_or("stopped"))
        ));
    }
    o.push_str("  </testsuite>\n</testsuites>\n");
    o
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

/// The push body in the Prometheus text format (0.0.4), which the Pushgateway reads.
pub fn push_body(r: &Report) -> String {
    let mut o = String::new();
    for def in [
        &n::STRAIN_PASS_RATIO,
        &n::STRAIN_SCENARIO_PASSED,
        &n::STRAIN_LAST_RUN_TS,
    ] {
        o.push_str(&format!(
            "# HELP {} {}\n# TYPE {} gauge\n",
            def.name, def.help, def.name
        ));
        match def.name {
            x if x == n::STRAIN_PASS_RATIO.name => {
                text_sample(&mut o, def, &[&r.suite], r.pass_ratio)
            }
            x if x == n::STRAIN_SCENARIO_PASSED.name => {
                for s in &r.scenarios {
                    text_sample(
                        &mut o,
                        def,
                        &[&r.suite, s.name.as_str()],
                        if s.passed { 1.0 } else { 0.0 },
                    );
                }
            }
            _ => text_sample(
                &mut o,
                def,
                &[&r.suite],
                r.finished_at.timestamp_millis() as f64 / 1000.0,
            ),
        }
    }
    o
}

/// Replaces this suite's group on the Pushgateway (PUT /metrics/job/launchguard_strain/suite/S).
pub async fn push(gateway: &str, r: &Report) -> Result<(), String> {
    let url = format!(
        "{}/metrics/job/launchguard_strain/suite/{}",
        gateway.trim_end_matches('/'),
        r.suite
    );
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client
        .put(&url)
        .header("content-type", "text/plain; version=0.0.4")
        .body(push_body(r))
        .send()
        .await
        .map_err(|e| format!("push to the Pushgateway failed: {}", e.without_url()))?;
    if !resp.status().is_success() {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        return Err(format!(
            "the Pushgateway answered {status}: {}",
            text.trim()
        ));
    }
    Ok(())
}

/// Reads one report; a newer schema or a broken file is an error naming the file.
pub fn read(path: &Path) -> Result<Report, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let r: Report = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if r.schema_version != SCHEMA_VERSION {
        return Err(format!(
            "{}: schema_version {} is not {SCHEMA_VERSION}",
            path.display(),
            r.schema_version
        ));
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
