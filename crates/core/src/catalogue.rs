//! The figure catalogue: one declaration per Resource Monitor figure (brief section 4). Its
//! `figure` label, config key, unit, title, help, default thresholds, actions per level,
//! default `for:` of its alert, the guard scope it gates and how its value is read from the
//! assessment's basis are written once, here. Levels, metrics, the status page, dashboards,
//! alerts and the guard's scopes all iterate this table: adding a figure is one entry here and
//! the source that brings its data in.

use std::time::Duration;

use strum::{EnumIter, EnumString, IntoEnumIterator, IntoStaticStr};

use crate::config::Threshold;
use crate::core::assess::Basis;

/// The figures that have a warning and a critical threshold (the `figure` label).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, EnumIter, EnumString, IntoStaticStr,
)]
#[strum(serialize_all = "snake_case")]
pub enum FigureName {
    AiTokens,
    Bandwidth,
    Storage,
    QueueDepth,
    CronLoad,
    VisualJobRisk,
    ResponseTime,
    ErrorRate,
    SupabasePlan,
}

/// How a figure's value is measured, and so printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// 0..1, printed as a percentage.
    Ratio,
    Bytes,
    Seconds,
    /// A count of things (jobs), with its noun.
    Count(&'static str),
}

/// One figure, declared once.
#[derive(Debug, Clone, Copy)]
pub struct FigureDef {
    pub name: FigureName,
    /// Its key under `thresholds:` in the config file.
    pub config_key: &'static str,
    pub unit: Unit,
    /// Title on the dashboard and the status page.
    pub title: &'static str,
    /// What it measures, in one sentence (panel descriptions, docs).
    pub help: &'static str,
    /// The brief's thresholds, the config's defaults.
    pub defaults: Threshold,
    /// The brief's action at each level: normal, warning, critical.
    pub actions: [&'static str; 3],
    /// How long the alert waits before firing, unless `kit.rules.for` says otherwise.
    pub default_for: Duration,
    /// The alert's name (warning and critical share it).
    pub alert: &'static str,
    /// The guard scope a verdict on this figure names, when the guard acts on it.
    pub guard_scope: Option<&'static str>,
    /// Its value from the assessment's basis; None when its data is unavailable.
    pub value: fn(&Basis) -> Option<f64>,
    /// What the kit's alert, runbook and dashboard panel need beyond the fields above.
    pub kit: FigureKit,
}

/// A figure's alert text, runbook prose and the series the kit reads. The kit builds the alert
/// (warning and critical at the config's thresholds, with boundary promtool tests), the runbook
/// section and the dashboard panel (value, threshold steps, 7-day trend) from this alone.
#[derive(Debug, Clone, Copy)]
pub struct FigureKit {
    /// The alert's one-line summary.
    pub summary: &'static str,
    /// The alert's description: `{value}` is the value in the figure's unit, `{at}` names the
    /// variant's limit (" (warning at 70%)"), `{$label}` prints a label of the series.
    pub description: &'static str,
    /// Runbook prose in Markdown: `## meaning`, `## warning`, `## critical` (the actions) and
    /// `## why for` (why the default `for:`).
    pub runbook: &'static str,
    /// The series the alert reads and its promtool tests drive.
    pub series: Series,
    /// A series that must be at or above a config value for the alert to fire (the error rate
    /// only with enough traffic to mean something).
    pub requires: Option<Requires>,
    /// A series the dashboard panel draws beside the value, with its legend (the figure's
    /// parts, or its value per job).
    pub detail: Option<(&'static str, &'static str)>,
}

/// A minimum the alert requires of another series (a metric of `metrics::names`).
#[derive(Debug, Clone, Copy)]
pub struct Requires {
    pub metric: &'static str,
    /// Its minimum, from the config.
    pub at_least: fn(&crate::config::Config) -> f64,
    /// What it counts, for the runbook and the rule's condition.
    pub what: &'static str,
}

/// The series an alert reads: by default `launchguard_figure_value{figure="<label>"}`; a
/// figure with a richer exported series names it (a metric of the root crate's
/// `metrics::names`, which a test there checks, with the labels it has).
#[derive(Debug, Clone, Copy)]
pub struct Series {
    /// The exported metric; None for the figure value.
    pub metric: Option<&'static str>,
    /// Label matchers that select the figure's series of the metric.
    pub matchers: &'static [(&'static str, &'static str)],
    /// How the alert's `resource` label is made.
    pub resource: AlertResource,
    /// The metric is summed over this label's values (its promtool test splits the value
    /// evenly among them).
    pub sum_over: Option<(&'static str, &'static [&'static str])>,
}

/// How a figure's alert gets its `resource` label (grouping and inhibition key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertResource {
    /// One alert; `resource` is the figure's label.
    Figure,
    /// One alert per value of this label, copied into `resource`; the second string is an
    /// example value for the promtool tests.
    PerLabel(&'static str, &'static str),
    /// The series carries `resource` itself (a matcher fixes it).
    FromSeries,
}

impl Series {
    /// `launchguard_figure_value{figure="<label>"}`, one alert.
    pub const FIGURE_VALUE: Series = Series {
        metric: None,
        matchers: &[],
        resource: AlertResource::Figure,
        sum_over: None,
    };

    /// One series of an exported metric, one alert.
    const fn metric(name: &'static str, matchers: &'static [(&'static str, &'static str)]) -> Self {
        Series {
            metric: Some(name),
            matchers,
            ..Series::FIGURE_VALUE
        }
    }
}

const fn th(warning: f64, critical: f64) -> Threshold {
    Threshold { warning, critical }
}

const fn minutes(m: u64) -> Duration {
    Duration::from_secs(60 * m)
}

const MONITOR: [&str; 3] = ["continue", "monitor", "intervene"];

/// Runbook prose of each figure's alert.
macro_rules! runbook {
    ($label:literal) => {
        include_str!(concat!("catalogue/runbooks/", $label, ".md"))
    };
}

/// Every figure, in the order dashboards, the status page and the docs show them.
pub const FIGURES: [FigureDef; 9] = [
    FigureDef {
        name: FigureName::AiTokens,
        config_key: "ai_tokens_ratio",
        unit: Unit::Ratio,
        title: "AI token usage",
        help: "Tokens today over the tier's daily token limit.",
        defaults: th(0.7, 0.9),
        actions: MONITOR,
        default_for: minutes(5),
        alert: "AiTokenUsage",
        guard_scope: None,
        value: |b| b.token_ratio,
        kit: FigureKit {
            summary: "AI token use today is close to the tier's daily limit",
            description: "AI tokens used today (all providers, cache included) are {value} of the tier's daily token limit{at}.",
            runbook: runbook!("ai_tokens"),
            series: Series {
                resource: AlertResource::FromSeries,
                ..Series::metric(
                    "launchguard_tier_usage_ratio",
                    &[("resource", "ai_tokens_per_day")],
                )
            },
            requires: None,
            detail: None,
        },
    },
    FigureDef {
        name: FigureName::Bandwidth,
        config_key: "bandwidth_bytes",
        unit: Unit::Bytes,
        title: "Bandwidth today",
        help: "Bytes served today.",
        defaults: th(1e9, 5e9),
        actions: MONITOR,
        default_for: minutes(5),
        alert: "Bandwidth",
        guard_scope: None,
        value: |b| b.bandwidth_bytes.map(|v| v as f64),
        kit: FigureKit {
            summary: "Bandwidth served today is high",
            description: "The platform has served {value} today{at}.",
            runbook: runbook!("bandwidth"),
            series: Series::metric("launchguard_bandwidth_bytes", &[("period", "day")]),
            requires: None,
            detail: None,
        },
    },
    FigureDef {
        name: FigureName::Storage,
        config_key: "storage_bytes",
        unit: Unit::Bytes,
        title: "Storage",
        help: "Database size plus storage bucket objects.",
        defaults: th(5e9, 10e9),
        actions: MONITOR,
        default_for: minutes(15),
        alert: "Storage",
        guard_scope: None,
        value: |b| b.storage_bytes.map(|v| v as f64),
        kit: FigureKit {
            summary: "Database and storage buckets are using a lot of space",
            description: "Database plus storage bucket objects use {value}{at}.",
            runbook: runbook!("storage"),
            series: Series {
                sum_over: Some(("store", &["database", "objects"])),
                ..Series::metric("launchguard_storage_bytes", &[])
            },
            requires: None,
            detail: None,
        },
    },
    FigureDef {
        name: FigureName::QueueDepth,
        config_key: "queue_depth",
        unit: Unit::Count("jobs"),
        title: "Queue depth",
        help: "Jobs waiting to start.",
        defaults: th(50.0, 200.0),
        actions: ["continue", "delay_new_jobs", "pause_intake"],
        default_for: minutes(5),
        alert: "QueueDepth",
        guard_scope: Some("queue_depth"),
        value: |b| b.queued_jobs.map(|v| v as f64),
        kit: FigureKit {
            summary: "Many jobs are waiting to start",
            description: "{value} jobs are queued and waiting to start{at}.",
            runbook: runbook!("queue_depth"),
            series: Series::metric("launchguard_queue_depth", &[]),
            requires: None,
            detail: None,
        },
    },
    FigureDef {
        name: FigureName::CronLoad,
        config_key: "cron_load_ratio",
        unit: Unit::Ratio,
        title: "Cron load",
        help: "Largest mean run time / schedule interval of the pg_cron jobs (value), and each job's own.",
        defaults: th(0.7, 0.9),
        actions: MONITOR,
        default_for: minutes(15),
        alert: "CronLoad",
        guard_scope: None,
        value: |b| b.cron_load,
        kit: FigureKit {
            summary: "A pg_cron job runs for most of its schedule interval",
            description: "pg_cron job {$cron_job} runs for {value} of its schedule interval on average{at}.",
            runbook: runbook!("cron_load"),
            series: Series {
                resource: AlertResource::PerLabel("cron_job", "platform-sync"),
                ..Series::metric("launchguard_cron_load_ratio", &[])
            },
            requires: None,
            detail: Some(("launchguard_cron_load_ratio", "{{cron_job}}")),
        },
    },
    FigureDef {
        name: FigureName::VisualJobRisk,
        config_key: "visual_job_risk_ratio",
        unit: Unit::Ratio,
        title: "Visual job risk",
        help: "0.4 queue + 0.3 failures + 0.3 processing time, with its three parts.",
        defaults: th(0.6, 0.8),
        actions: MONITOR,
        default_for: minutes(10),
        alert: "VisualJobRisk",
        guard_scope: None,
        value: |b| b.visual_risk,
        kit: FigureKit {
            summary: "Visual jobs are at risk of piling up or failing",
            description: "Visual job risk is {value}{at}.",
            runbook: runbook!("visual_job_risk"),
            series: Series::metric("launchguard_visual_job_risk_ratio", &[]),
            requires: None,
            detail: Some((
                "launchguard_visual_job_risk_component_ratio",
                "{{component}}",
            )),
        },
    },
    FigureDef {
        name: FigureName::ResponseTime,
        config_key: "response_time_seconds",
        unit: Unit::Seconds,
        title: "Response time (p95)",
        help: "p95 API response time over the last 5 minutes.",
        defaults: th(0.5, 2.0),
        actions: ["continue", "monitor", "throttle"],
        default_for: minutes(5),
        alert: "ResponseTime",
        guard_scope: Some("response_time"),
        value: |b| b.p95_seconds,
        kit: FigureKit {
            summary: "API responses are slow",
            description: "p95 API response time over the last 5 minutes is {value}{at}.",
            runbook: runbook!("response_time"),
            series: Series::metric("launchguard_api_response_seconds", &[("statistic", "p95")]),
            requires: None,
            detail: None,
        },
    },
    FigureDef {
        name: FigureName::ErrorRate,
        config_key: "error_ratio",
        unit: Unit::Ratio,
        title: "Error rate",
        help: "Failed over all API responses over the last 5 minutes.",
        defaults: th(0.01, 0.05),
        actions: ["continue", "investigate", "alert_founder"],
        default_for: minutes(5),
        alert: "ErrorRate",
        guard_scope: Some("error_rate"),
        value: |b| b.error_ratio,
        kit: FigureKit {
            summary: "Many API requests fail",
            description: "{value} of API requests failed over the last 5 minutes{at}.",
            runbook: runbook!("error_rate"),
            series: Series::metric("launchguard_api_error_ratio", &[]),
            requires: Some(Requires {
                metric: "launchguard_api_requests_last_5m",
                at_least: |c| c.kit.rules.error_rate_min_requests as f64,
                what: "API responses in the last 5 minutes",
            }),
            detail: None,
        },
    },
    FigureDef {
        name: FigureName::SupabasePlan,
        config_key: "supabase_plan_ratio",
        unit: Unit::Ratio,
        title: "Supabase plan usage",
        help: "Largest share of the Supabase plan in use: database size over the plan's, disk used over the disk it includes and over the disk's size.",
        defaults: th(0.7, 0.9),
        actions: MONITOR,
        default_for: minutes(15),
        alert: "SupabasePlan",
        guard_scope: None,
        value: |b| b.supabase_plan,
        kit: FigureKit {
            summary: "The project is using much of its Supabase plan",
            description: "The Supabase project uses {value} of its plan's database size or disk{at}.",
            runbook: runbook!("supabase_plan"),
            series: Series::metric("launchguard_supabase_plan_used_ratio", &[]),
            requires: None,
            detail: Some(("launchguard_supabase_plan_usage_ratio", "{{part}}")),
        },
    },
];

impl FigureName {
    /// Every figure, in catalogue order.
    pub fn all() -> impl Iterator<Item = FigureName> {
        FigureName::iter()
    }

    /// Its catalogue entry.
    pub fn def(self) -> &'static FigureDef {
        // The table is in enum order; a test keeps it so.
        &FIGURES[self as usize]
    }

    /// The `figure` label value.
    pub fn label(self) -> &'static str {
        self.into()
    }

    /// The key of its thresholds in the config file.
    pub fn config_key(self) -> &'static str {
        self.def().config_key
    }

    /// The brief's action at each level: normal, warning, critical.
    pub fn actions(self) -> [&'static str; 3] {
        self.def().actions
    }

    /// The figure whose thresholds sit under `key` in the config file.
    pub fn from_config_key(key: &str) -> Option<FigureName> {
        FIGURES.iter().find(|d| d.config_key == key).map(|d| d.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_enum_order_and_names_are_unique() {
        for (i, f) in FigureName::all().enumerate() {
            assert_eq!(FIGURES[i].name, f, "entry {i}");
        }
        assert_eq!(FigureName::all().count(), FIGURES.len());
        let mut keys: Vec<_> = FIGURES.iter().map(|d| d.config_key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), FIGURES.len());
        assert_eq!(FigureName::QueueDepth.label(), "queue_depth");
        assert_eq!(
            FigureName::from_config_key("ai_tokens_ratio"),
            Some(FigureName::AiTokens)
        );
    }

    #[test]
    fn defaults_are_ordered() {
        for d in FIGURES {
            assert!(d.defaults.warning < d.defaults.critical, "{}", d.config_key);
        }
    }
}
