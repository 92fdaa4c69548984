//! The alert catalogue: one alert per signal, with its warning/critical (or info) variants, its
//! text, its runbook, and how a promtool test drives it. Rules, tests and docs/runbooks.md are all
//! rendered from this table, so a threshold or a `for:` exists once.
//!
//! Metric names come only from `metrics::names`; thresholds from `cfg.thresholds`,
//! `cfg.budgets` and `cfg.kit.rules`.

use std::time::Duration;

use crate::config::kit::Signal;
use crate::config::{Config, Threshold};
use crate::core::levels::FigureName;
use crate::metrics::names::{self as n, MetricDef};

use super::format::{humanize, humanize_duration, humanize_percentage, promql_number};
use super::panels;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// How a value is printed in an alert's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Ratio,
    Bytes,
    Seconds,
    Count,
}

impl Unit {
    /// The Go template that prints `$value`.
    fn template(self) -> &'static str {
        match self {
            Unit::Ratio => "{{ $value | humanizePercentage }}",
            Unit::Bytes => "{{ $value | humanize }}B",
            Unit::Seconds => "{{ $value | humanizeDuration }}",
            Unit::Count => "{{ $value | humanize }}",
        }
    }

    /// The same text for a known value (thresholds, and the promtool expectations).
    pub fn text(self, v: f64) -> String {
        match self {
            Unit::Ratio => humanize_percentage(v),
            Unit::Bytes => format!("{}B", humanize(v)),
            Unit::Seconds => humanize_duration(v),
            Unit::Count => humanize(v),
        }
    }
}

/// A piece of an alert description.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    /// `$value` in a unit.
    Value(Unit),
    /// `$labels.<name>`.
    Label(&'static str),
    /// The tier's cron cadence of the job named by `$labels.cron_job`, read with a query when
    /// the alert fires (the tier can change without a new render).
    Cadence,
}

fn lb(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

fn t(s: impl Into<String>) -> Part {
    Part::Text(s.into())
}

/// Renders a description as the Go template Prometheus evaluates.
pub fn template(parts: &[Part]) -> String {
    parts
        .iter()
        .map(|p| match p {
            Part::Text(s) => s.clone(),
            Part::Value(u) => u.template().to_string(),
            Part::Label(l) => format!("{{{{ $labels.{l} }}}}"),
            Part::Cadence => format!(
                "{{{{ with printf \"{}{{cron_job=%q}}\" $labels.cron_job | query }}}}\
                 {{{{ . | first | value | humanizeDuration }}}}{{{{ end }}}}",
                n::CRON_EXPECTED_INTERVAL.name
            ),
        })
        .collect()
}

/// The text the template yields for a known value, labels and cadence.
pub fn expected_text(parts: &[Part], value: f64, labels: &[(&str, &str)], cadence: f64) -> String {
    parts
        .iter()
        .map(|p| match p {
            Part::Text(s) => s.clone(),
            Part::Value(u) => u.text(value),
            Part::Label(l) => labels
                .iter()
                .find(|(k, _)| k == l)
                .map(|(_, v)| v.to_string())
                .unwrap_or_default(),
            Part::Cadence => humanize_duration(cadence),
        })
        .collect()
}

/// Where an alert's `resource` label (grouping and inhibition key) comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Resource {
    /// A fixed value: the figure's name.
    Static(&'static str),
    /// Copied from one of the series' labels with label_replace.
    FromLabel(&'static str),
    /// The series already carries `resource`.
    Series,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub severity: Severity,
    /// The limit in the alert's own unit (seconds for ages, cadences for the sync job).
    pub threshold: f64,
    pub expr: String,
    pub description: Vec<Part>,
    /// When it fires, in words, for the runbook.
    pub condition: String,
}

/// How a promtool test makes the alert's value a chosen number.
#[derive(Debug, Clone)]
pub enum Probe {
    /// Gauges held constant so the alert's value is `v`; variants fire at `v >= threshold`.
    /// `step` is the smallest meaningful change ("just under" = threshold - step).
    Level {
        step: f64,
        series: fn(f64) -> Vec<(String, f64)>,
        labels: Vec<(&'static str, String)>,
    },
    /// A 0/1 gauge that fires at 0.
    Zero {
        series: String,
        labels: Vec<(&'static str, String)>,
    },
    /// A timestamp held constant; the value is its age, `time() - ts`, in seconds (times
    /// `cadence` when thresholds count cadences). Variants fire at `age > threshold`.
    Age {
        series: String,
        /// Other gauges the expression joins (the expected cadence), held constant.
        extra: Vec<(String, f64)>,
        cadence: f64,
        step: f64,
        labels: Vec<(&'static str, String)>,
    },
    /// Fires when `series` is missing altogether.
    Absent { series: String },
    /// A 0/1 gauge that fires when it falls from 1 to 0.
    Lost {
        series: String,
        labels: Vec<(&'static str, String)>,
    },
}

/// What docs/runbooks.md says about an alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Runbook {
    pub meaning: String,
    /// (dashboard title, panel title) where the founder confirms it.
    pub confirm: (&'static str, &'static str),
    pub confirm_how: String,
    /// The action per severity, in the words of the brief's section 4.
    pub actions: Vec<(Severity, String)>,
    pub why_for: String,
}

#[derive(Debug, Clone)]
pub struct Alert {
    pub name: &'static str,
    pub signal: Signal,
    pub summary: &'static str,
    pub for_: Duration,
    pub resource: Resource,
    pub variants: Vec<Variant>,
    pub probe: Probe,
    pub runbook: Runbook,
}

impl Alert {
    /// The anchor GitHub gives the alert's heading in docs/runbooks.md.
    pub fn anchor(&self) -> String {
        self.name.to_lowercase()
    }
}

/// `name{matchers}` for a gauge or a counter's exposed name.
pub fn sel(def: &MetricDef, matchers: &str) -> String {
    let name = def.exposed_name();
    if matchers.is_empty() {
        name
    } else {
        format!("{name}{{{matchers}}}")
    }
}

/// A PromQL double-quoted string.
pub fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn with_resource(expr: String, r: &Resource) -> String {
    match r {
        Resource::FromLabel(l) => {
            format!("label_replace({expr}, \"resource\", \"$1\", \"{l}\", \"(.*)\")")
        }
        _ => expr,
    }
}

/// Default `for:` of each signal; the runbook says why.
pub fn default_for(s: Signal) -> Duration {
    let m = |x: u64| Duration::from_secs(60 * x);
    match s {
        Signal::AiTokens | Signal::Bandwidth => m(5),
        Signal::Storage | Signal::CronLoad | Signal::SupabasePlan => m(15),
        Signal::QueueDepth | Signal::ResponseTime | Signal::ErrorRate => m(5),
        Signal::VisualJobRisk => m(10),
        Signal::Budget | Signal::ClientBudget => m(1),
        Signal::TierHeadroom => m(30),
        Signal::SourceDown | Signal::ExporterDown | Signal::PoolerPressure => m(5),
        Signal::SourceStale
        | Signal::SyncJobLate
        | Signal::CronJobFailures
        | Signal::StrainReadinessLost => Duration::ZERO,
    }
}

/// Warning and critical variants of `value >= threshold`.
fn level_variants(
    value: &str,
    r: &Resource,
    th: Threshold,
    desc: impl Fn(Severity, &str) -> Vec<Part>,
    unit: Unit,
) -> Vec<Variant> {
    [
        (Severity::Warning, th.warning),
        (Severity::Critical, th.critical),
    ]
    .into_iter()
    .map(|(sev, limit)| Variant {
        severity: sev,
        threshold: limit,
        expr: with_resource(format!("{value} >= {}", promql_number(limit)), r),
        description: desc(sev, &unit.text(limit)),
        condition: format!("at or above {}", unit.text(limit)),
    })
    .collect()
}

/// "(warning at 70%)" after a value.
fn at(sev: Severity, limit: &str) -> String {
    format!(" ({} at {limit})", sev.label())
}

/// The whole catalogue for a config.
#[expect(
    clippy::too_many_lines,
    reason = "not split yet (issue 13): the kit and the status page are read from the catalogue next"
)]
pub fn alerts(cfg: &Config) -> Vec<Alert> {
    let kr = &cfg.kit.rules;
    let for_ = |s: Signal| kr.for_.get(&s).map(|d| d.0).unwrap_or(default_for(s));
    let th = |f: FigureName| {
        cfg.thresholds
            .by_figure()
            .into_iter()
            .find(|(g, _)| *g == f)
            .map(|(_, t)| t)
            .expect("every figure has thresholds")
    };
    let founder = panels::FOUNDER;
    let health = panels::HEALTH;
    let mut out = Vec::new();

    // --- Resource Monitor figures (brief section 4) -------------------------------------------
    struct Fig {
        name: &'static str,
        signal: Signal,
        figure: FigureName,
        value: String,
        resource: Resource,
        unit: Unit,
        step: f64,
        series: fn(f64) -> Vec<(String, f64)>,
        labels: Vec<(&'static str, String)>,
        summary: &'static str,
        desc: fn(Severity, &str) -> Vec<Part>,
        meaning: &'static str,
        panel: &'static str,
        actions: [&'static str; 2],
        why_for: &'static str,
    }
    let figs = vec![
        Fig {
            name: "LaunchguardAiTokenUsage",
            signal: Signal::AiTokens,
            figure: FigureName::AiTokens,
            value: sel(&n::TIER_USAGE_RATIO, "resource=\"ai_tokens_per_day\""),
            resource: Resource::Series,
            unit: Unit::Ratio,
            step: 0.001,
            series: |v| {
                vec![(
                    sel(&n::TIER_USAGE_RATIO, "resource=\"ai_tokens_per_day\""),
                    v,
                )]
            },
            labels: lb(&[("resource", "ai_tokens_per_day")]),
            summary: "AI token use today is close to the tier's daily limit",
            desc: |s, l| {
                vec![
                    t("AI tokens used today (all providers, cache included) are "),
                    Part::Value(Unit::Ratio),
                    t(format!(" of the tier's daily token limit{}.", at(s, l))),
                ]
            },
            meaning: "Tokens counted today (input + output + cache read + cache write, every provider) over the current tier's `ai_tokens_per_day`. The count resets at local midnight.",
            panel: panels::AI_TOKENS,
            actions: [
                "**Monitor**: find the clients and models behind the growth (Cost Shield, spend per provider); move simple tasks to cheaper models.",
                "**Intervene**: throttle AI-heavy features for the rest of the day, and plan the tier upgrade if this is steady growth rather than a spike.",
            ],
            why_for: "The figure only grows during the day, so `for` only rides out a single odd collection; a real crossing stays crossed.",
        },
        Fig {
            name: "LaunchguardBandwidth",
            signal: Signal::Bandwidth,
            figure: FigureName::Bandwidth,
            value: sel(&n::BANDWIDTH_BYTES, "period=\"day\""),
            resource: Resource::Static("bandwidth"),
            unit: Unit::Bytes,
            step: 1e6,
            series: |v| vec![(sel(&n::BANDWIDTH_BYTES, "period=\"day\""), v)],
            labels: lb(&[("period", "day")]),
            summary: "Bandwidth served today is high",
            desc: |s, l| {
                vec![
                    t("The platform has served "),
                    Part::Value(Unit::Bytes),
                    t(format!(" today{}.", at(s, l))),
                ]
            },
            meaning: "Bytes served today, summed from the platform's traffic table (GB = 10^9 bytes). Resets at local midnight.",
            panel: panels::BANDWIDTH,
            actions: [
                "**Monitor**: check for large downloads or a crawler; make sure static assets go through the CDN.",
                "**Intervene**: cap or cache the heavy endpoints; check the hosting plan's egress allowance.",
            ],
            why_for: "A cumulative daily figure; `for` rides out a single odd collection.",
        },
        Fig {
            name: "LaunchguardStorage",
            signal: Signal::Storage,
            figure: FigureName::Storage,
            value: format!("sum without (store) ({})", sel(&n::STORAGE_BYTES, "")),
            resource: Resource::Static("storage"),
            unit: Unit::Bytes,
            step: 1e6,
            series: |v| {
                vec![
                    (sel(&n::STORAGE_BYTES, "store=\"database\""), v / 2.0),
                    (sel(&n::STORAGE_BYTES, "store=\"objects\""), v / 2.0),
                ]
            },
            labels: lb(&[]),
            summary: "Database and storage buckets are using a lot of space",
            desc: |s, l| {
                vec![
                    t("Database plus storage bucket objects use "),
                    Part::Value(Unit::Bytes),
                    t(format!("{}.", at(s, l))),
                ]
            },
            meaning: "pg_database_size plus the size of every storage bucket object.",
            panel: panels::STORAGE,
            actions: [
                "**Monitor**: look at the 7-day trend; find the growing tables or buckets.",
                "**Intervene**: clean up (old job rows, cron.job_run_details, unused objects) or move to a larger Supabase plan before the quota is hit.",
            ],
            why_for: "Storage changes slowly and a vacuum or bulk upload can spike it briefly; nothing is lost by waiting 15 minutes.",
        },
        Fig {
            name: "LaunchguardQueueDepth",
            signal: Signal::QueueDepth,
            figure: FigureName::QueueDepth,
            value: sel(&n::QUEUE_DEPTH, ""),
            resource: Resource::Static("queue_depth"),
            unit: Unit::Count,
            step: 1.0,
            series: |v| vec![(sel(&n::QUEUE_DEPTH, ""), v)],
            labels: lb(&[]),
            summary: "Many jobs are waiting to start",
            desc: |s, l| {
                vec![
                    Part::Value(Unit::Count),
                    t(format!(
                        " jobs are queued and waiting to start{}.",
                        at(s, l)
                    )),
                ]
            },
            meaning: "Jobs of every kind with status `queued`.",
            panel: panels::QUEUE_DEPTH,
            actions: [
                "**Delay new jobs**: schedule new non-urgent jobs later; check that the workers are running.",
                "**Pause intake**: stop accepting new jobs until the queue drains; add workers or raise concurrency if the tier allows.",
            ],
            why_for: "Bursts of jobs are normal and drain within minutes; a queue that stays long for 5 minutes is not draining.",
        },
        Fig {
            name: "LaunchguardCronLoad",
            signal: Signal::CronLoad,
            figure: FigureName::CronLoad,
            value: sel(&n::CRON_LOAD_RATIO, ""),
            resource: Resource::FromLabel("cron_job"),
            unit: Unit::Ratio,
            step: 0.001,
            series: |v| vec![(sel(&n::CRON_LOAD_RATIO, "cron_job=\"platform-sync\""), v)],
            labels: lb(&[("cron_job", "platform-sync"), ("resource", "platform-sync")]),
            summary: "A pg_cron job runs for most of its schedule interval",
            desc: |s, l| {
                vec![
                    t("pg_cron job "),
                    Part::Label("cron_job"),
                    t(" runs for "),
                    Part::Value(Unit::Ratio),
                    t(format!(" of its schedule interval on average{}.", at(s, l))),
                ]
            },
            meaning: "For each pg_cron job, its mean run time over the last day divided by its schedule interval. Near 100% the next run starts before the last one ends.",
            panel: panels::CRON_LOAD,
            actions: [
                "**Monitor**: see which job grows; check its queries' plans.",
                "**Intervene**: make the job incremental, spread its schedule, or move it off the database.",
            ],
            why_for: "The figure is a mean over a day of runs and changes only when a run ends.",
        },
        Fig {
            name: "LaunchguardVisualJobRisk",
            signal: Signal::VisualJobRisk,
            figure: FigureName::VisualJobRisk,
            value: sel(&n::VISUAL_JOB_RISK, ""),
            resource: Resource::Static("visual_job_risk"),
            unit: Unit::Ratio,
            step: 0.001,
            series: |v| vec![(sel(&n::VISUAL_JOB_RISK, ""), v)],
            labels: lb(&[]),
            summary: "Visual jobs are at risk of piling up or failing",
            desc: |s, l| {
                vec![
                    t("Visual job risk is "),
                    Part::Value(Unit::Ratio),
                    t(format!("{}.", at(s, l))),
                ]
            },
            meaning: "0.4 x queued visual jobs (capped at 50) + 0.3 x failures in the last hour (capped at 10) + 0.3 x mean processing time (capped at 60 s). The Visual job risk panel splits it into its three parts.",
            panel: panels::VISUAL_RISK,
            actions: [
                "**Monitor**: see which part drives it (queue, failures or time).",
                "**Intervene**: pause new visual jobs, fix the failing provider or worker, or add capacity.",
            ],
            why_for: "The failure and time parts are hourly windows that move slowly; 10 minutes separates a trend from one bad batch.",
        },
        Fig {
            name: "LaunchguardResponseTime",
            signal: Signal::ResponseTime,
            figure: FigureName::ResponseTime,
            value: sel(&n::API_RESPONSE, "statistic=\"p95\""),
            resource: Resource::Static("response_time"),
            unit: Unit::Seconds,
            step: 0.001,
            series: |v| vec![(sel(&n::API_RESPONSE, "statistic=\"p95\""), v)],
            labels: lb(&[("statistic", "p95")]),
            summary: "API responses are slow",
            desc: |s, l| {
                vec![
                    t("p95 API response time over the last 5 minutes is "),
                    Part::Value(Unit::Seconds),
                    t(format!("{}.", at(s, l))),
                ]
            },
            meaning: "95th percentile of the platform's API response times over the last 5 full minutes, from its traffic table.",
            panel: panels::RESPONSE_TIME,
            actions: [
                "**Monitor**: check the database (pooler pressure, slow queries) and AI provider latency.",
                "**Throttle**: slow down heavy endpoints and AI features until the p95 recovers.",
            ],
            why_for: "The figure is already a 5-minute window; another 5 minutes keeps one slow burst from paging.",
        },
        Fig {
            name: "LaunchguardErrorRate",
            signal: Signal::ErrorRate,
            figure: FigureName::ErrorRate,
            value: sel(&n::API_ERROR_RATIO, ""),
            resource: Resource::Static("error_rate"),
            unit: Unit::Ratio,
            step: 0.001,
            series: |v| vec![(sel(&n::API_ERROR_RATIO, ""), v)],
            labels: lb(&[]),
            summary: "Many API requests fail",
            desc: |s, l| {
                vec![
                    Part::Value(Unit::Ratio),
                    t(format!(
                        " of API requests failed over the last 5 minutes{}.",
                        at(s, l)
                    )),
                ]
            },
            meaning: "Failed over all API responses in the last 5 full minutes.",
            panel: panels::ERROR_RATE,
            actions: [
                "**Investigate**: find the failing endpoint and its error in the platform's logs.",
                "**Alert the founder**: this is the page; roll back the last deploy or disable the failing feature.",
            ],
            why_for: "A 5-minute window already; waiting another 5 minutes ignores one bad deploy minute but still pages within 10.",
        },
        Fig {
            name: "LaunchguardSupabasePlan",
            signal: Signal::SupabasePlan,
            figure: FigureName::SupabasePlan,
            value: format!(
                "max without (part) ({})",
                sel(&n::SUPABASE_PLAN_USAGE_RATIO, "")
            ),
            resource: Resource::Static("supabase_plan"),
            unit: Unit::Ratio,
            step: 0.001,
            series: |v| {
                vec![
                    (
                        sel(&n::SUPABASE_PLAN_USAGE_RATIO, "part=\"database_size\""),
                        v,
                    ),
                    (
                        sel(&n::SUPABASE_PLAN_USAGE_RATIO, "part=\"disk_volume\""),
                        v / 2.0,
                    ),
                ]
            },
            labels: lb(&[]),
            summary: "The project is using much of its Supabase plan",
            desc: |s, l| {
                vec![
                    t("The Supabase project uses "),
                    Part::Value(Unit::Ratio),
                    t(format!(" of its plan's database size or disk{}.", at(s, l))),
                ]
            },
            meaning: "The largest of: database size over the plan's (Free: 500 MB, read-only past it), used disk over the disk the plan includes (Pro: 8 GB, billed past it), used disk over the disk's size (read-only at 95% when it cannot grow); from Supabase's own metrics endpoint (docs/sources.md).",
            panel: panels::SUPABASE_PLAN,
            actions: [
                "**Monitor**: find the growing tables (old job rows, logs, cron.job_run_details) on the 7-day trend.",
                "**Intervene**: clean up or move to the next Supabase plan (or raise the spend cap) before the database turns read-only.",
            ],
            why_for: "Database size grows slowly and a vacuum or bulk load can spike it briefly; nothing is lost by waiting 15 minutes.",
        },
    ];
    for f in figs {
        let tf = th(f.figure);
        let variants = level_variants(&f.value, &f.resource, tf, f.desc, f.unit);
        out.push(Alert {
            name: f.name,
            signal: f.signal,
            summary: f.summary,
            for_: for_(f.signal),
            resource: f.resource,
            variants,
            probe: Probe::Level {
                step: f.step,
                series: f.series,
                labels: f.labels,
            },
            runbook: Runbook {
                meaning: f.meaning.into(),
                confirm: (founder, f.panel),
                confirm_how: format!(
                    "the line crosses the orange (warning, {}) or red (critical, {}) step; the dashed line is the 7-day trend of the daily peak.",
                    f.unit.text(tf.warning),
                    f.unit.text(tf.critical)
                ),
                actions: vec![
                    (Severity::Warning, f.actions[0].into()),
                    (Severity::Critical, f.actions[1].into()),
                ],
                why_for: f.why_for.into(),
            },
        });
    }

    // --- Cost Shield (brief section 3) --------------------------------------------------------
    let b = &cfg.budgets;
    let budget_th = Threshold {
        warning: b.alert_ratio,
        critical: 1.0,
    };
    let r = Resource::FromLabel("scope");
    out.push(Alert {
        name: "LaunchguardBudget",
        signal: Signal::Budget,
        summary: "AI spend is close to or over its budget",
        for_: for_(Signal::Budget),
        variants: level_variants(
            &sel(&n::BUDGET_USED_RATIO, "scope!=\"client_daily\""),
            &r,
            budget_th,
            |s, l| {
                let tail = if s == Severity::Critical {
                    ": the guard denies new spend in this scope until it resets or the budget is raised"
                } else {
                    ""
                };
                vec![
                    t("The "),
                    Part::Label("scope"),
                    t(" AI budget is "),
                    Part::Value(Unit::Ratio),
                    t(format!(" used{}{tail}.", at(s, l))),
                ]
            },
            Unit::Ratio,
        ),
        resource: r,
        probe: Probe::Level {
            step: 0.001,
            series: |v| vec![(sel(&n::BUDGET_USED_RATIO, "scope=\"daily\""), v)],
            labels: lb(&[("scope", "daily"), ("resource", "daily")]),
        },
        runbook: Runbook {
            meaning: "Spend from the ledger over the daily or monthly budget (USD). The daily budget resets at local midnight, the monthly one on the 1st. The per-client budget is its own alert, LaunchguardClientBudget.".into(),
            confirm: (founder, panels::BUDGET_USE),
            confirm_how: format!(
                "the scope's bar is orange from {} and red at 100%; the forecast bar shows where the period will end at the current pace, and Budget exhausted at says when.",
                humanize_percentage(b.alert_ratio)
            ),
            actions: vec![
                (Severity::Warning, "**Throttle**: the guard asks callers to slow down; find the provider and clients behind the spend (spend per provider, client budget use).".into()),
                (Severity::Critical, "**Raise the budget** in the config if the spend is wanted (a config reload applies it), or wait for the period to roll over: until then the guard denies new spend in this scope (hard stop).".into()),
            ],
            why_for: "Spend comes from the durable ledger and only grows, so there is no noise to wait out; one minute lets a single odd collection pass.".into(),
        },
    });
    let r = Resource::FromLabel("client");
    out.push(Alert {
        name: "LaunchguardClientBudget",
        signal: Signal::ClientBudget,
        summary: "A client's AI spend today is close to or over the per-client budget",
        for_: for_(Signal::ClientBudget),
        variants: level_variants(
            &sel(&n::CLIENT_BUDGET_USED_RATIO, ""),
            &r,
            budget_th,
            |s, l| {
                vec![
                    t("Client "),
                    Part::Label("client"),
                    t(" has used "),
                    Part::Value(Unit::Ratio),
                    t(format!(" of its daily AI budget{}.", at(s, l))),
                ]
            },
            Unit::Ratio,
        ),
        resource: r,
        probe: Probe::Level {
            step: 0.001,
            series: |v| {
                vec![(
                    sel(
                        &n::CLIENT_BUDGET_USED_RATIO,
                        "client=\"10000000-0000-4000-8000-000000000001\"",
                    ),
                    v,
                )]
            },
            labels: lb(&[
                ("client", "10000000-0000-4000-8000-000000000001"),
                ("resource", "10000000-0000-4000-8000-000000000001"),
            ]),
        },
        runbook: Runbook {
            meaning: "One client's spend today over the per-client daily budget. Clients past the label cap are summed as client=\"other\" (its value is the largest of them).".into(),
            confirm: (founder, panels::CLIENT_BUDGET),
            confirm_how: "the client's bar is orange from the alert ratio and red at 100%.".into(),
            actions: vec![
                (Severity::Warning, "**Throttle** that client: check for a runaway integration or loop in its usage.".into()),
                (Severity::Critical, "The guard **denies** that client's new spend until local midnight; **raise the budget** for a client that pays for more, or contact them.".into()),
            ],
            why_for: "As for the scope budgets, the ledger does not flap.".into(),
        },
    });

    // --- Performance Guard: tier headroom (brief section 2) -----------------------------------
    let near = kr.tier_near_ratio;
    out.push(Alert {
        name: "LaunchguardTierHeadroom",
        signal: Signal::TierHeadroom,
        summary: "A tier limit is near: plan the upgrade",
        for_: for_(Signal::TierHeadroom),
        resource: Resource::Series,
        variants: vec![Variant {
            severity: Severity::Info,
            threshold: near,
            expr: format!(
                "{} >= {}",
                sel(&n::TIER_USAGE_RATIO, ""),
                promql_number(near)
            ),
            description: vec![
                Part::Label("resource"),
                t(" is at "),
                Part::Value(Unit::Ratio),
                t(format!(
                    " of the current tier's limit (info at {}): plan the tier upgrade.",
                    humanize_percentage(near)
                )),
            ],
            condition: format!("usage at or above {} of a limit", humanize_percentage(near)),
        }],
        probe: Probe::Level {
            step: 0.001,
            series: |v| vec![(sel(&n::TIER_USAGE_RATIO, "resource=\"clients\""), v)],
            labels: lb(&[("resource", "clients")]),
        },
        runbook: Runbook {
            meaning: "Usage of a tier resource (active clients, AI tokens per day, visual jobs per day, concurrent jobs, API requests per minute) over the current tier's limit. Info only: it stays on the dashboard and sends nothing.".into(),
            confirm: (founder, panels::HEADROOM),
            confirm_how: format!(
                "the resource's headroom bar is below {} (usage above {}).",
                humanize_percentage(1.0 - near),
                humanize_percentage(near)
            ),
            actions: vec![(Severity::Info, "**Plan the tier upgrade**: run the strain suite for the next tier (Strain Test row) and change `tier` in the config when it passes.".into())],
            why_for: "Concurrent jobs and requests per minute swing within minutes; planning an upgrade only needs usage that stays high.".into(),
        },
    });

    // --- The exporter and its sources -----------------------------------------------------------
    out.push(Alert {
        name: "LaunchguardSourceDown",
        signal: Signal::SourceDown,
        summary: "A launchguard source fails every collection",
        for_: for_(Signal::SourceDown),
        resource: Resource::FromLabel("source"),
        variants: vec![Variant {
            severity: Severity::Warning,
            threshold: 0.0,
            expr: with_resource(
                format!("{} == 0", sel(&n::SOURCE_UP, "")),
                &Resource::FromLabel("source"),
            ),
            description: vec![
                t("Every collection of the "),
                Part::Label("source"),
                t(format!(
                    " source has failed for at least {}; its figures stay at their last good values.",
                    humanize_duration(for_(Signal::SourceDown).as_secs_f64())
                )),
            ],
            condition: "the last collection failed".into(),
        }],
        probe: Probe::Zero {
            series: sel(&n::SOURCE_UP, "source=\"supabase\""),
            labels: lb(&[("source", "supabase"), ("resource", "supabase")]),
        },
        runbook: Runbook {
            meaning: "The source's last collection failed, and so did every one since the alert went pending. The exporter keeps serving the last good figures, so the other alerts see old data.".into(),
            confirm: (health, panels::SOURCES_UP),
            confirm_how: "the source shows DOWN; Collection errors names the reason (connect, timeout, auth, query) and launchguard's log has one line per failure.".into(),
            actions: vec![(Severity::Warning, "**Investigate**: run `launchguard check --connect` with the same config; check the database URL, the reader role's password, Supabase's status page and the network path.".into())],
            why_for: "A restart of the database or pooler takes a minute or two and recovers by itself.".into(),
        },
    });
    let stale = kr.source_stale;
    let r = Resource::FromLabel("source");
    out.push(Alert {
        name: "LaunchguardSourceStale",
        signal: Signal::SourceStale,
        summary: "A source's figures are old",
        for_: for_(Signal::SourceStale),
        variants: [
            (Severity::Warning, stale.warning),
            (Severity::Critical, stale.critical),
        ]
        .into_iter()
        .map(|(s, d)| {
            let secs = d.as_secs_f64();
            Variant {
                severity: s,
                threshold: secs,
                expr: with_resource(
                    format!(
                        "time() - {} > {}",
                        sel(&n::SOURCE_LAST_SUCCESS, ""),
                        promql_number(secs)
                    ),
                    &r,
                ),
                description: vec![
                    t("The last successful collection of the "),
                    Part::Label("source"),
                    t(" source was "),
                    Part::Value(Unit::Seconds),
                    t(format!(
                        " ago ({} after {}); every figure from it is that old.",
                        s.label(),
                        humanize_duration(secs)
                    )),
                ],
                condition: format!("data older than {}", humanize_duration(secs)),
            }
        })
        .collect(),
        resource: r,
        probe: Probe::Age {
            series: sel(&n::SOURCE_LAST_SUCCESS, "source=\"supabase\""),
            extra: vec![],
            cadence: 1.0,
            step: 60.0,
            labels: lb(&[("source", "supabase"), ("resource", "supabase")]),
        },
        runbook: Runbook {
            meaning: "Time since the source's last successful collection. The dashboards and every other alert read figures this old: past the critical age the guard is blind.".into(),
            confirm: (health, panels::DATA_AGE),
            confirm_how: format!(
                "the source's line is above the orange ({}) or red ({}) step.",
                humanize_duration(stale.warning.as_secs_f64()),
                humanize_duration(stale.critical.as_secs_f64())
            ),
            actions: vec![
                (Severity::Warning, "**Investigate** as for LaunchguardSourceDown.".into()),
                (Severity::Critical, "**Alert the founder**: budgets and limits are not being watched; fix the source or watch spend in the providers' consoles until it is back.".into()),
            ],
            why_for: "The value is itself a duration, so the threshold already waits.".into(),
        },
    });
    out.push(Alert {
        name: "LaunchguardExporterDown",
        signal: Signal::ExporterDown,
        summary: "Prometheus has no launchguard metrics",
        for_: for_(Signal::ExporterDown),
        resource: Resource::Static("exporter"),
        variants: vec![Variant {
            severity: Severity::Critical,
            threshold: 0.0,
            expr: format!("absent({})", sel(&n::BUILD_INFO, "")),
            description: vec![t(format!(
                "No launchguard exporter has been scraped for {}: no budget, tier or resource alert can fire.",
                humanize_duration(for_(Signal::ExporterDown).as_secs_f64())
            ))],
            condition: format!("no {} series", n::BUILD_INFO.name),
        }],
        probe: Probe::Absent {
            series: sel(&n::BUILD_INFO, "version=\"0.1.0\", revision=\"abc\""),
        },
        runbook: Runbook {
            meaning: format!("{} is missing: the exporter is down, or Prometheus cannot scrape it. Every other launchguard alert is silent meanwhile.", n::BUILD_INFO.name),
            confirm: (health, panels::BUILD),
            confirm_how: "the panel shows no data; Prometheus' Targets page shows the launchguard target down and why.".into(),
            actions: vec![(Severity::Critical, "**Alert the founder**, then **investigate**: restart the exporter, check its logs (a config error exits with code 2 and names the file, line and field), and the network between Prometheus and it.".into())],
            why_for: "An exporter restart or a Prometheus reload takes seconds; five minutes without metrics is an outage.".into(),
        },
    });

    // --- Platform jobs and database ------------------------------------------------------------
    let late = kr.sync_job_late_cadences;
    let job = quote(&cfg.database.sync_job);
    let r = Resource::FromLabel("cron_job");
    out.push(Alert {
        name: "LaunchguardSyncJobLate",
        signal: Signal::SyncJobLate,
        summary: "The platform sync job has not succeeded for too long",
        for_: for_(Signal::SyncJobLate),
        variants: [
            (Severity::Warning, late.warning),
            (Severity::Critical, late.critical),
        ]
        .into_iter()
        .map(|(s, k)| Variant {
            severity: s,
            threshold: k,
            // No success in the pg_cron history read (7 days) counts as a success at time 0.
            expr: with_resource(
                format!(
                    "time() - ({ls} or {ei} * 0) > {k} * {ei}",
                    ls = sel(&n::CRON_LAST_SUCCESS, &format!("cron_job={job}")),
                    ei = sel(&n::CRON_EXPECTED_INTERVAL, &format!("cron_job={job}")),
                    k = promql_number(k),
                ),
                &r,
            ),
            description: vec![
                t("pg_cron job "),
                Part::Label("cron_job"),
                t(" last succeeded "),
                Part::Value(Unit::Seconds),
                t(format!(
                    " ago, more than {}x the tier's cron cadence of ",
                    promql_number(k)
                )),
                Part::Cadence,
                t(format!(" ({}).", s.label())),
            ],
            condition: format!(
                "last success older than {}x the tier's cron cadence",
                promql_number(k)
            ),
        })
        .collect(),
        resource: r,
        probe: Probe::Age {
            series: sel(&n::CRON_LAST_SUCCESS, &format!("cron_job={job}")),
            extra: vec![(
                sel(&n::CRON_EXPECTED_INTERVAL, &format!("cron_job={job}")),
                1800.0,
            )],
            cadence: 1800.0,
            step: 60.0,
            labels: lb(&[
                ("cron_job", &cfg.database.sync_job),
                ("resource", &cfg.database.sync_job),
            ]),
        },
        runbook: Runbook {
            meaning: format!(
                "The pg_cron job `{}` (config `database.sync_job`) keeps the platform's data in sync; the tier expects it every `cron_cadence` (daily at soft launch, hourly at hard launch, every 30 minutes at growth). The alert reads the cadence from the exporter, so a tier change needs no new render. A last success of decades ago means no successful run in the 7 days of history read.",
                cfg.database.sync_job
            ),
            confirm: (founder, panels::SYNC_AGE),
            confirm_how: "the job's bar (time since its last success) is past twice its cadence; pg_cron failures shows whether runs fail or do not start.".into(),
            actions: vec![
                (Severity::Warning, "**Investigate**: `select * from cron.job_run_details where jobid = ... order by runid desc limit 5` shows the last runs' status and return_message.".into()),
                (Severity::Critical, "**Alert the founder**: clients see stale data; run the sync by hand and fix the job.".into()),
            ],
            why_for: "The value is an age, compared with multiples of the cadence.".into(),
        },
    });
    let r = Resource::FromLabel("cron_job");
    out.push(Alert {
        name: "LaunchguardCronJobFailures",
        signal: Signal::CronJobFailures,
        summary: "pg_cron job runs failed in the last 24 hours",
        for_: for_(Signal::CronJobFailures),
        variants: level_variants(
            &sel(&n::CRON_FAILURES, ""),
            &r,
            kr.cron_failures,
            |s, l| {
                vec![
                    t("pg_cron job "),
                    Part::Label("cron_job"),
                    t(" failed "),
                    Part::Value(Unit::Count),
                    t(format!(" times in the last 24 hours{}.", at(s, l))),
                ]
            },
            Unit::Count,
        ),
        resource: r,
        probe: Probe::Level {
            step: 1.0,
            series: |v| vec![(sel(&n::CRON_FAILURES, "cron_job=\"nightly-report\""), v)],
            labels: lb(&[("cron_job", "nightly-report"), ("resource", "nightly-report")]),
        },
        runbook: Runbook {
            meaning: "Runs of a pg_cron job that ended with status `failed` in the last 24 hours (cron.job_run_details, read through launchguard's SECURITY DEFINER view).".into(),
            confirm: (founder, panels::CRON_FAILURES),
            confirm_how: "the job's bar is above zero.".into(),
            actions: vec![
                (Severity::Warning, "**Investigate**: read the failed runs' return_message in cron.job_run_details.".into()),
                (Severity::Critical, "**Intervene**: the job fails repeatedly; disable it (`cron.alter_job(..., active := false)`) if it harms data, and fix it.".into()),
            ],
            why_for: "The count is already a 24-hour window; the alert clears 24 hours after the last failure.".into(),
        },
    });
    out.push(Alert {
        name: "LaunchguardPoolerPressure",
        signal: Signal::PoolerPressure,
        summary: "Database connections are close to max_connections",
        for_: for_(Signal::PoolerPressure),
        resource: Resource::Static("database_connections"),
        variants: level_variants(
            &format!(
                "{} / {}",
                sel(&n::DB_CONNECTIONS, ""),
                sel(&n::DB_MAX_CONNECTIONS, "")
            ),
            &Resource::Static("database_connections"),
            kr.pooler_ratio,
            |s, l| {
                vec![
                    t("Open database connections are "),
                    Part::Value(Unit::Ratio),
                    t(format!(" of max_connections{}.", at(s, l))),
                ]
            },
            Unit::Ratio,
        ),
        probe: Probe::Level {
            step: 0.001,
            series: |v| {
                vec![
                    (sel(&n::DB_CONNECTIONS, ""), (v * 1000.0).round()),
                    (sel(&n::DB_MAX_CONNECTIONS, ""), 1000.0),
                ]
            },
            labels: lb(&[]),
        },
        runbook: Runbook {
            meaning: "Client connections in pg_stat_activity over the server's max_connections. Past it, new connections (serverless functions, the pooler) are refused.".into(),
            confirm: (founder, panels::POOLER),
            confirm_how: "the bar is orange or red.".into(),
            actions: vec![
                (Severity::Warning, "**Monitor**: make sure serverless functions connect through the transaction pooler (port 6543), not directly.".into()),
                (Severity::Critical, "**Throttle** connection-hungry work, close idle sessions, or move to a larger compute add-on.".into()),
            ],
            why_for: "Connection counts spike with deploys and cold starts and fall back within a minute or two.".into(),
        },
    });

    // --- Strain readiness (brief section 5) -----------------------------------------------------
    let ready = sel(&n::TIER_UPGRADE_READY, "");
    out.push(Alert {
        name: "LaunchguardStrainReadinessLost",
        signal: Signal::StrainReadinessLost,
        summary: "The platform is no longer ready for the next tier",
        for_: for_(Signal::StrainReadinessLost),
        resource: Resource::FromLabel("target"),
        variants: vec![Variant {
            severity: Severity::Warning,
            threshold: 0.0,
            expr: with_resource(
                format!("{ready} == 0 and max_over_time({ready}[7d]) == 1"),
                &Resource::FromLabel("target"),
            ),
            description: vec![
                t("The latest strain suite for the "),
                Part::Label("target"),
                t(" tier passed too few scenarios: the platform was ready for it in the last 7 days and is not anymore."),
            ],
            condition: "upgrade readiness fell from 1 to 0 within 7 days".into(),
        }],
        probe: Probe::Lost {
            series: sel(&n::TIER_UPGRADE_READY, "target=\"hard_launch\""),
            labels: lb(&[("target", "hard_launch"), ("resource", "hard_launch")]),
        },
        runbook: Runbook {
            meaning: "A tier upgrade needs the target tier's strain suite to pass at least 80% of its scenarios. The last run fell below that after a run in the last 7 days had passed: something made the platform slower or less reliable under load.".into(),
            confirm: (founder, panels::STRAIN_READY),
            confirm_how: "Upgrade ready shows NOT READY; Strain pass rate shows which suite fell, Strain last run when.".into(),
            actions: vec![(Severity::Warning, "**Investigate** before upgrading: compare the last two strain reports (JSON) scenario by scenario; do not change the tier until a suite passes again.".into())],
            why_for: "Readiness changes only when a strain run finishes.".into(),
        },
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_alert_per_signal_and_camel_case_names() {
        let a = alerts(&Config::default());
        let mut signals: Vec<_> = a.iter().map(|a| a.signal).collect();
        signals.sort();
        signals.dedup();
        assert_eq!(signals.len(), a.len());
        assert_eq!(a.len(), 19);
        for al in &a {
            assert!(al.name.starts_with("Launchguard"), "{}", al.name);
            assert!(al.name.chars().all(|c| c.is_ascii_alphanumeric()));
            let sevs: Vec<_> = al.variants.iter().map(|v| v.severity).collect();
            let mut sorted = sevs.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sevs, sorted, "{}: one variant per severity", al.name);
            assert!(!al.runbook.actions.is_empty());
        }
    }

    #[test]
    fn thresholds_follow_the_config() {
        let mut cfg = Config::default();
        cfg.thresholds.set(
            FigureName::QueueDepth,
            crate::config::Threshold {
                warning: 50.0,
                critical: 321.0,
            },
        );
        cfg.budgets.alert_ratio = 0.65;
        cfg.kit
            .rules
            .for_
            .insert(Signal::QueueDepth, crate::config::Dur::from_secs(7));
        let a = alerts(&cfg);
        let q = a
            .iter()
            .find(|a| a.name == "LaunchguardQueueDepth")
            .unwrap();
        assert_eq!(q.variants[1].expr, "launchguard_queue_depth >= 321");
        assert_eq!(q.for_, Duration::from_secs(7));
        let b = a.iter().find(|a| a.name == "LaunchguardBudget").unwrap();
        assert!(
            b.variants[0].expr.contains(">= 0.65"),
            "{}",
            b.variants[0].expr
        );
    }

    #[test]
    fn template_and_expected_text_agree_on_shape() {
        let parts = vec![
            t("Client "),
            Part::Label("client"),
            t(" at "),
            Part::Value(Unit::Ratio),
        ];
        assert_eq!(
            template(&parts),
            "Client {{ $labels.client }} at {{ $value | humanizePercentage }}"
        );
        assert_eq!(
            expected_text(&parts, 0.9, &[("client", "c1")], 0.0),
            "Client c1 at 90%"
        );
    }
}
