//! The `strain` section (load scenarios, suites, pass thresholds, safety bounds) and the
//! `upgrade_checklist` (the seed's infrastructure checklist per target tier).
//!
//! Scenario loads left unset are derived from the target tier's limits when a run is planned
//! (see `strain::scenario` and docs/strain.md), so a tier change in the config changes the load.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Dur, SecretRef, TierName, syntax};

/// Load scenarios, suites and their pass thresholds (brief section 5).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Strain {
    /// Tier whose limits size the scenarios of a `--scenario` run; unset means the tier after
    /// `tier` (a suite always uses its own tier).
    pub target_tier: Option<TierName>,
    /// Hosts that may be targeted although they are neither loopback nor private.
    pub allowed_hosts: Vec<String>,
    /// Bound on the requests of one whole run; a plan above it is refused.
    pub max_requests: u64,
    /// Bound on the summed arrival rate (requests per second) at any moment of a run.
    pub rate_cap: f64,
    /// Bound on the planned length of one whole run.
    pub max_duration: Dur,
    /// Bound on the connections one scenario opens.
    pub max_connections: usize,
    /// A request with no complete answer after this long is an error (`timeout`).
    pub request_timeout: Dur,
    /// After Ctrl-C, requests in flight get this long to finish before the report is written.
    pub grace: Dur,
    /// Where JSON reports are written and where the exporter reads them.
    pub report_dir: PathBuf,
    /// Extra root CA (PEM) trusted for an https target, e.g. a staging server's own CA.
    pub ca_file: Option<PathBuf>,
    /// PromQL for the memory of the system under test as a ratio 0..1 (with --prometheus-url).
    pub memory_query: String,
    /// How often memory is sampled during a scenario (at least 5s from `supabase`, whose
    /// endpoint changes once a minute).
    pub memory_interval: Dur,
    /// Whose memory the `memory_ratio` threshold judges: `system` (the local host, or
    /// `memory_query` with --prometheus-url) or `supabase` (the database's, from the
    /// `supabase_metrics` endpoint).
    pub memory_source: MemorySourceName,
    /// Full intensity is this many times the tier's sustained API rate (see docs/strain.md).
    pub burst_factor: f64,
    /// Pass ratio a suite needs for a tier upgrade (our rule: at least 0.8).
    pub upgrade_pass_ratio: f64,
    /// A suite run older than this no longer counts for readiness.
    pub ready_max_age: Dur,
    /// How often the exporter re-reads the report directory and the checklist checks.
    pub refresh: Dur,
    pub thresholds: StrainThresholds,
    /// Stop a suite or scenario step as soon as its failure is certain (docs/strain.md).
    pub abort_on_fail: bool,
    /// A scenario's change against the previous run of its suite counts as a regression past
    /// this ratio (p95 up, achieved rate down, error ratio up by this share of its threshold).
    pub regression_ratio: f64,
    /// `launchguard strain --find-capacity`: the step rule of the search.
    pub capacity: CapacitySearch,
    pub scenarios: Scenarios,
    pub suites: Suites,
}

impl Default for Strain {
    fn default() -> Self {
        Strain {
            target_tier: None,
            allowed_hosts: Vec::new(),
            max_requests: 500_000,
            rate_cap: 1_000.0,
            max_duration: Dur::from_secs(3_600),
            max_connections: 512,
            request_timeout: Dur::from_secs(10),
            grace: Dur::from_secs(5),
            report_dir: PathBuf::from("strain-reports"),
            ca_file: None,
            memory_query: "max(1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)"
                .into(),
            memory_interval: Dur::from_secs(1),
            memory_source: MemorySourceName::System,
            burst_factor: 10.0,
            upgrade_pass_ratio: 0.8,
            ready_max_age: Dur::from_secs(7 * 86_400),
            refresh: Dur::from_secs(60),
            thresholds: StrainThresholds::default(),
            abort_on_fail: false,
            regression_ratio: 0.2,
            capacity: CapacitySearch::default(),
            scenarios: Scenarios::default(),
            suites: Suites::default(),
        }
    }
}

impl Strain {
    /// The scenario definition of a single (non-composite) scenario.
    pub fn scenario(&self, name: ScenarioName) -> Option<&ScenarioDef> {
        match name {
            ScenarioName::AiLoad => Some(&self.scenarios.ai_load),
            ScenarioName::VisualJobs => Some(&self.scenarios.visual_jobs),
            ScenarioName::ConcurrentUsers => Some(&self.scenarios.concurrent_users),
            ScenarioName::QueueFlood => Some(&self.scenarios.queue_flood),
            ScenarioName::FullSystem => None,
        }
    }

    pub fn suite(&self, t: TierName) -> Option<&[SuiteEntry]> {
        match t {
            TierName::SoftLaunch => None,
            TierName::HardLaunch => Some(&self.suites.hard_launch),
            TierName::Growth => Some(&self.suites.growth),
        }
    }
}

/// Where `launchguard strain` samples memory.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MemorySourceName {
    /// The local host, or `memory_query` against `--prometheus-url`.
    #[default]
    System,
    /// The database's memory from Supabase's metrics endpoint (`supabase_metrics`).
    Supabase,
}

/// The five scenarios of the brief; `full_system` runs the other four at once.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioName {
    AiLoad,
    VisualJobs,
    ConcurrentUsers,
    QueueFlood,
    FullSystem,
}

impl ScenarioName {
    pub const ALL: [ScenarioName; 5] = [
        ScenarioName::AiLoad,
        ScenarioName::VisualJobs,
        ScenarioName::ConcurrentUsers,
        ScenarioName::QueueFlood,
        ScenarioName::FullSystem,
    ];
    /// The parts `full_system` runs together.
    pub const PARTS: [ScenarioName; 4] = [
        ScenarioName::AiLoad,
        ScenarioName::VisualJobs,
        ScenarioName::ConcurrentUsers,
        ScenarioName::QueueFlood,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ScenarioName::AiLoad => "ai_load",
            ScenarioName::VisualJobs => "visual_jobs",
            ScenarioName::ConcurrentUsers => "concurrent_users",
            ScenarioName::QueueFlood => "queue_flood",
            ScenarioName::FullSystem => "full_system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.as_str() == s)
    }
}

impl fmt::Display for ScenarioName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Scenarios {
    pub ai_load: ScenarioDef,
    pub visual_jobs: ScenarioDef,
    pub concurrent_users: ScenarioDef,
    pub queue_flood: ScenarioDef,
}

/// One scenario. Every field left unset takes the default derived for the target tier.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ScenarioDef {
    /// Requests sent in turn; empty means the scenario's default requests.
    pub requests: Vec<RequestDef>,
    /// Arrival rate (requests per second) at 100% intensity.
    pub rate: Option<f64>,
    /// Virtual users at 100% intensity; each starts a request every `think_time`.
    pub vus: Option<u32>,
    /// Time between two scheduled requests of one virtual user.
    pub think_time: Option<Dur>,
    /// Connections the scenario may hold open; unset means one per request per second,
    /// one per virtual user, within `max_connections`.
    pub connections: Option<usize>,
}

/// One request of a scenario. `{{vu}}` and `{{seq}}` in path, header values and body are
/// replaced by the virtual user's number and the request's sequence number.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RequestDef {
    pub method: String,
    /// Path (and query) appended to the base URL.
    pub path: String,
    /// Header values are literal, or a whole `${ENV}` / `file:` reference for a secret.
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
    /// Statuses that count as success; anything else is an error.
    pub expected_statuses: StatusSet,
}

impl Default for RequestDef {
    fn default() -> Self {
        RequestDef {
            method: "GET".into(),
            path: "/".into(),
            headers: BTreeMap::new(),
            body: None,
            expected_statuses: StatusSet::default(),
        }
    }
}

/// Inclusive ranges of HTTP statuses, written as `200`, `"200-399"`.
#[derive(Clone, PartialEq, Eq)]
pub struct StatusSet(pub Vec<(u16, u16)>);

impl Default for StatusSet {
    fn default() -> Self {
        StatusSet(vec![(200, 399)])
    }
}

impl StatusSet {
    pub fn contains(&self, s: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| (lo..=hi).contains(&s))
    }

    fn parse_item(s: &str) -> Result<(u16, u16), String> {
        let num = |t: &str| {
            t.trim()
                .parse::<u16>()
                .ok()
                .filter(|v| (100..=599).contains(v))
                .ok_or_else(|| format!("`{t}` is not an HTTP status (100-599)"))
        };
        match s.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(format!("`{s}`: the range is reversed"));
                }
                Ok((a, b))
            }
            None => num(s).map(|v| (v, v)),
        }
    }
}

impl fmt::Debug for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string())
    }
}

impl StatusSet {
    /// Each range as written in the config: `200` or `200-399`.
    fn parts(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|&(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect()
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.parts().join(","))
    }
}

impl Serialize for StatusSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.parts().serialize(s)
    }
}

impl<'de> Deserialize<'de> for StatusSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Item {
            Num(u16),
            Text(String),
        }
        let items = Vec::<Item>::deserialize(d)?;
        if items.is_empty() {
            return Err(serde::de::Error::custom(
                "needs at least one status or range",
            ));
        }
        items
            .into_iter()
            .map(|i| match i {
                Item::Num(n) => StatusSet::parse_item(&n.to_string()),
                Item::Text(t) => StatusSet::parse_item(&t),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(StatusSet)
            .map_err(serde::de::Error::custom)
    }
}

/// The latency statistic judged against `response_time`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LatencyStatistic {
    P95,
    P99,
    Max,
}

impl LatencyStatistic {
    pub fn as_str(self) -> &'static str {
        match self {
            LatencyStatistic::P95 => "p95",
            LatencyStatistic::P99 => "p99",
            LatencyStatistic::Max => "max",
        }
    }
}

/// Pass thresholds of every scenario (the seed's table).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StrainThresholds {
    /// Upper bound on the latency statistic (timed from each request's scheduled start).
    pub response_time: Dur,
    pub statistic: LatencyStatistic,
    /// Upper bound on errors / finished requests.
    pub error_ratio: f64,
    /// Lower bound on answered requests per second.
    pub min_throughput: f64,
    /// The achieved arrival rate must be within this share of the target rate.
    pub rate_tolerance_ratio: f64,
    /// Upper bound on the memory of the system under test (used / total).
    pub memory_ratio: f64,
}

impl Default for StrainThresholds {
    fn default() -> Self {
        StrainThresholds {
            response_time: Dur::from_secs(2),
            statistic: LatencyStatistic::P95,
            error_ratio: 0.05,
            min_throughput: 10.0,
            rate_tolerance_ratio: 0.05,
            memory_ratio: 0.85,
        }
    }
}

/// The step rule of a capacity search: start at `start_intensity` percent of the scenario's
/// full-intensity rate, multiply by `factor` while steps pass, then halve the gap between the
/// last passing and the first failing rate until it is within `resolution` of the former.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CapacitySearch {
    /// Percent of full intensity of the first step (`--intensity` overrides it).
    pub start_intensity: f64,
    /// Each passing step's rate times this is the next step's, until one fails.
    pub factor: f64,
    /// The search ends when (first failing - highest passing) / highest passing <= this.
    pub resolution: f64,
    /// Length of each step (`--duration` overrides it).
    pub step_duration: Dur,
    /// Pause after a failing step, so the target drains the queue it left before the next.
    pub cooldown: Dur,
    /// Stop a step as soon as its failure is certain.
    pub abort_on_fail: bool,
}

impl Default for CapacitySearch {
    fn default() -> Self {
        CapacitySearch {
            start_intensity: 20.0,
            factor: 2.0,
            resolution: 0.05,
            step_duration: Dur::from_secs(30),
            cooldown: Dur::from_secs(30),
            abort_on_fail: true,
        }
    }
}

/// One step of a suite: a scenario at an intensity for a duration.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SuiteEntry {
    pub scenario: ScenarioName,
    /// Percent of the scenario's full intensity.
    pub intensity: f64,
    pub duration: Dur,
}

fn step(scenario: ScenarioName, intensity: f64, secs: u64) -> SuiteEntry {
    SuiteEntry {
        scenario,
        intensity,
        duration: Dur::from_secs(secs),
    }
}

/// The brief's recommended suites, run before moving up to each tier.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Suites {
    pub hard_launch: Vec<SuiteEntry>,
    pub growth: Vec<SuiteEntry>,
}

impl Default for Suites {
    fn default() -> Self {
        use ScenarioName::*;
        let hard = vec![
            step(AiLoad, 50.0, 60),
            step(VisualJobs, 60.0, 120),
            step(ConcurrentUsers, 70.0, 180),
        ];
        let mut growth = hard.clone();
        growth.push(step(FullSystem, 80.0, 300));
        Suites {
            hard_launch: hard,
            growth,
        }
    }
}

/// The seed's week-2 validation, "pass all strain tests at 70% intensity", as a checklist item
/// derived from the strain reports (docs/strain.md says which runs count).
pub const STRAIN_70_ITEM: &str = "strain_all_pass_70";

/// Checklist items launchguard observes itself; they cannot be marked done by hand.
pub const OBSERVED_ITEMS: [&str; 3] = ["connection_pooler", "redis", STRAIN_70_ITEM];

/// The seed's infrastructure checklist for moving up to a tier.
pub fn seed_items(t: TierName) -> &'static [&'static str] {
    match t {
        TierName::SoftLaunch => &[],
        TierName::HardLaunch => &[
            "connection_pooler",
            "error_tracking",
            "redis",
            "webhook_retries",
            "log_aggregation",
            STRAIN_70_ITEM,
        ],
        TierName::Growth => &[
            "cdn",
            "read_replicas",
            "queue_system",
            "apm",
            "autoscaling",
            "multi_region",
        ],
    }
}

/// Infrastructure checklist per target tier; a tier upgrade needs every item done.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct UpgradeChecklist {
    pub hard_launch: ChecklistTier,
    pub growth: ChecklistTier,
    /// The Redis the guard uses; the `redis` item is done when it answers PING.
    pub redis_url: SecretRef,
}

impl Default for UpgradeChecklist {
    fn default() -> Self {
        UpgradeChecklist {
            hard_launch: ChecklistTier::default(),
            growth: ChecklistTier::default(),
            redis_url: SecretRef::Env("REDIS_URL".into()),
        }
    }
}

impl UpgradeChecklist {
    pub fn tier(&self, t: TierName) -> Option<&ChecklistTier> {
        match t {
            TierName::SoftLaunch => None,
            TierName::HardLaunch => Some(&self.hard_launch),
            TierName::Growth => Some(&self.growth),
        }
    }

    /// Every item of a target tier: the seed's, then the founder's extra items.
    pub fn items(&self, t: TierName) -> Vec<&str> {
        let mut v: Vec<&str> = seed_items(t).to_vec();
        if let Some(c) = self.tier(t) {
            for i in &c.extra_items {
                if !v.contains(&i.as_str()) {
                    v.push(i);
                }
            }
        }
        v
    }
}

/// The founder marks items done by listing them; observed items are checked instead.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ChecklistTier {
    pub done: Vec<String>,
    /// Items added to the seed's list for this tier.
    pub extra_items: Vec<String>,
}

/// Adds one problem.
fn push(out: &mut Vec<(String, String)>, path: &str, message: &str) {
    out.push((path.to_string(), message.to_string()));
}

/// Problems of the `strain` and `upgrade_checklist` sections as (field path, message).
pub(super) fn validate(s: &Strain, c: &UpgradeChecklist, out: &mut Vec<(String, String)>) {
    general(s, out);
    capacity(&s.capacity, out);
    thresholds(&s.thresholds, out);
    scenarios(s, out);
    suites(s, out);
    checklist(c, out);
}

/// Bounds, durations, ratios and hosts of the section itself.
fn general(s: &Strain, out: &mut Vec<(String, String)>) {
    let mut bad = |p: &str, m: &str| out.push((p.to_string(), m.to_string()));
    let positive = |v: f64| v.is_finite() && v > 0.0;
    let ratio = |v: f64| v.is_finite() && v > 0.0 && v <= 1.0;
    if s.target_tier == Some(TierName::SoftLaunch) {
        bad(
            "strain.target_tier",
            "must be hard_launch or growth (tiers one moves up to)",
        );
    }
    if s.max_requests == 0 {
        bad("strain.max_requests", "must be at least 1");
    }
    if !positive(s.rate_cap) {
        bad("strain.rate_cap", "must be a number above 0");
    }
    if s.max_connections == 0 {
        bad("strain.max_connections", "must be at least 1");
    }
    for (name, d) in [
        ("max_duration", s.max_duration),
        ("request_timeout", s.request_timeout),
        ("memory_interval", s.memory_interval),
        ("ready_max_age", s.ready_max_age),
        ("refresh", s.refresh),
    ] {
        if d.0.is_zero() {
            bad(&format!("strain.{name}"), "must be greater than zero");
        }
    }
    if s.memory_query.trim().is_empty() {
        bad("strain.memory_query", "must not be empty");
    }
    if !positive(s.burst_factor) {
        bad("strain.burst_factor", "must be a number above 0");
    }
    if !ratio(s.upgrade_pass_ratio) {
        bad("strain.upgrade_pass_ratio", "must be above 0 and at most 1");
    }
    if !(s.regression_ratio.is_finite() && s.regression_ratio > 0.0 && s.regression_ratio <= 10.0) {
        bad("strain.regression_ratio", "must be above 0 and at most 10");
    }
    for (i, h) in s.allowed_hosts.iter().enumerate() {
        if h.trim().is_empty() || h.contains('/') || h.contains(' ') {
            bad(
                &format!("strain.allowed_hosts.{i}"),
                "must be a bare host name or address, e.g. staging.example.com",
            );
        }
    }
}

/// The capacity search's step rule.
fn capacity(cap: &CapacitySearch, out: &mut Vec<(String, String)>) {
    let mut bad = |p: &str, m: &str| out.push((p.to_string(), m.to_string()));
    if !(cap.start_intensity.is_finite()
        && cap.start_intensity > 0.0
        && cap.start_intensity <= 1000.0)
    {
        bad(
            "strain.capacity.start_intensity",
            "must be a percent above 0 (at most 1000)",
        );
    }
    if !(cap.factor.is_finite() && cap.factor >= 1.1 && cap.factor <= 10.0) {
        bad("strain.capacity.factor", "must be between 1.1 and 10");
    }
    if !(cap.resolution.is_finite() && cap.resolution >= 0.005 && cap.resolution <= 1.0) {
        bad("strain.capacity.resolution", "must be between 0.005 and 1");
    }
    if cap.step_duration.0.is_zero() {
        bad("strain.capacity.step_duration", "must be greater than zero");
    }
}

/// The pass thresholds.
fn thresholds(t: &StrainThresholds, out: &mut Vec<(String, String)>) {
    let mut bad = |p: &str, m: &str| out.push((p.to_string(), m.to_string()));
    let ratio = |v: f64| v.is_finite() && v > 0.0 && v <= 1.0;
    if t.response_time.0.is_zero() {
        bad(
            "strain.thresholds.response_time",
            "must be greater than zero",
        );
    }
    if !ratio(t.error_ratio) {
        bad(
            "strain.thresholds.error_ratio",
            "must be above 0 and at most 1",
        );
    }
    if !(t.min_throughput.is_finite() && t.min_throughput >= 0.0) {
        bad("strain.thresholds.min_throughput", "must be a number >= 0");
    }
    if !ratio(t.rate_tolerance_ratio) {
        bad(
            "strain.thresholds.rate_tolerance_ratio",
            "must be above 0 and at most 1",
        );
    }
    if !ratio(t.memory_ratio) {
        bad(
            "strain.thresholds.memory_ratio",
            "must be above 0 and at most 1",
        );
    }
}

/// Each scenario's load and requests.
fn scenarios(s: &Strain, out: &mut Vec<(String, String)>) {
    let positive = |v: f64| v.is_finite() && v > 0.0;
    for name in ScenarioName::PARTS {
        let def = s.scenario(name).expect("a part is a single scenario");
        let base = format!("strain.scenarios.{name}");
        if def.rate.is_some_and(|r| !positive(r)) {
            push(out, &format!("{base}.rate"), "must be a number above 0");
        }
        if def.vus == Some(0) {
            push(out, &format!("{base}.vus"), "must be at least 1");
        }
        if def.think_time.is_some_and(|d| d.0.is_zero()) {
            push(
                out,
                &format!("{base}.think_time"),
                "must be greater than zero",
            );
        }
        if def.rate.is_some() && def.vus.is_some() {
            push(
                out,
                &format!("{base}.vus"),
                "set either rate or vus (with think_time), not both",
            );
        }
        if def.connections == Some(0) {
            push(out, &format!("{base}.connections"), "must be at least 1");
        }
        for (i, r) in def.requests.iter().enumerate() {
            request(r, &format!("{base}.requests.{i}"), out);
        }
    }
}

/// One request definition: method, path and headers as HTTP allows them.
fn request(r: &RequestDef, rp: &str, out: &mut Vec<(String, String)>) {
    let mut bad = |p: &str, m: &str| out.push((p.to_string(), m.to_string()));
    if !syntax::is_token(&r.method) {
        bad(&format!("{rp}.method"), "is not an HTTP method");
    }
    let filled = r.path.replace("{{vu}}", "0").replace("{{seq}}", "0");
    if !r.path.starts_with('/') {
        bad(&format!("{rp}.path"), "must start with /");
    } else if !syntax::is_path_and_query(&filled) {
        bad(
            &format!("{rp}.path"),
            "is not a valid path and query (percent-encode spaces and special characters)",
        );
    }
    for (k, v) in &r.headers {
        if !syntax::is_token(k) {
            bad(&format!("{rp}.headers.{k}"), "is not a valid header name");
        } else if !syntax::is_header_value(v) {
            bad(
                &format!("{rp}.headers.{k}"),
                "is not a valid header value (visible ASCII only)",
            );
        }
    }
}

/// The upgrade suites: at least one scenario each, sane intensities and durations.
fn suites(s: &Strain, out: &mut Vec<(String, String)>) {
    let mut bad = |p: &str, m: &str| out.push((p.to_string(), m.to_string()));
    for tier in [TierName::HardLaunch, TierName::Growth] {
        let entries = s.suite(tier).expect("an upgrade tier has a suite");
        let base = format!("strain.suites.{}", tier.as_str());
        if entries.is_empty() {
            bad(&base, "must run at least one scenario");
        }
        for (i, e) in entries.iter().enumerate() {
            if !(e.intensity.is_finite() && e.intensity > 0.0 && e.intensity <= 1000.0) {
                bad(
                    &format!("{base}.{i}.intensity"),
                    "must be a percent above 0 (at most 1000)",
                );
            }
            if e.duration.0.is_zero() {
                bad(&format!("{base}.{i}.duration"), "must be greater than zero");
            }
        }
    }
}

/// Extra items are snake_case; done items exist and are not observed ones.
fn checklist(c: &UpgradeChecklist, out: &mut Vec<(String, String)>) {
    let mut bad = |p: &str, m: &str| out.push((p.to_string(), m.to_string()));
    for tier in [TierName::HardLaunch, TierName::Growth] {
        let ct = c.tier(tier).expect("an upgrade tier has a checklist");
        let base = format!("upgrade_checklist.{}", tier.as_str());
        let items = c.items(tier);
        for (i, item) in ct.extra_items.iter().enumerate() {
            let ok = !item.is_empty()
                && item
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
            if !ok {
                bad(
                    &format!("{base}.extra_items.{i}"),
                    "item names are snake_case (a-z, 0-9, _)",
                );
            }
        }
        for (i, item) in ct.done.iter().enumerate() {
            let p = format!("{base}.done.{i}");
            if OBSERVED_ITEMS.contains(&item.as_str()) {
                bad(
                    &p,
                    "is checked by launchguard itself (see docs/strain.md), not marked by hand",
                );
            } else if !items.contains(&item.as_str()) {
                let list = items.join(", ");
                bad(
                    &p,
                    &format!("is not an item of this tier's checklist ({list})"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;

    #[test]
    fn statuses_parse_numbers_and_ranges() {
        let c = load_str(
            "strain:\n  scenarios:\n    ai_load:\n      requests:\n        - path: /x\n          expected_statuses: [200, \"300-302\"]\n",
        )
        .unwrap();
        let set = &c.strain.scenarios.ai_load.requests[0].expected_statuses;
        assert!(set.contains(200) && set.contains(301));
        assert!(!set.contains(201) && !set.contains(303));
        let e = &load_str(
            "strain:\n  scenarios:\n    ai_load:\n      requests:\n        - expected_statuses: [\"399-200\"]\n",
        )
        .unwrap_err()[0];
        assert!(e.message.contains("reversed"), "{e}");
    }

    #[test]
    fn observed_item_cannot_be_marked_done() {
        let errs = load_str(
            "upgrade_checklist:\n  hard_launch:\n    done: [error_tracking, redis, cdn]\n",
        )
        .unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "upgrade_checklist.hard_launch.done.1",
                "upgrade_checklist.hard_launch.done.2"
            ]
        );
        assert_eq!(errs[0].line, Some(3), "{}", errs[0]);
    }

    #[test]
    fn bad_scenario_fields_are_located() {
        let text = "strain:\n  scenarios:\n    visual_jobs:\n      rate: 5\n      vus: 3\n      requests:\n        - method: \"GE T\"\n          path: nope\n";
        let errs = load_str(text).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "strain.scenarios.visual_jobs.vus",
                "strain.scenarios.visual_jobs.requests.0.method",
                "strain.scenarios.visual_jobs.requests.0.path"
            ]
        );
    }

    #[test]
    fn checklist_items_follow_the_seed() {
        let c = UpgradeChecklist::default();
        // The seed's five infrastructure items and its week-2 validation at 70%.
        assert_eq!(c.items(TierName::HardLaunch).len(), 6);
        assert_eq!(c.items(TierName::Growth).len(), 6);
    }
}
