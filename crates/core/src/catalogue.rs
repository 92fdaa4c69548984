//! The figure catalogue: one declaration per Resource Monitor figure (brief section 4). Its
//! `figure` label, config key, unit, title, help, default thresholds, actions per level,
//! default `for:` of its alert, the guard scope it gates and how its value is read from the
//! assessment's basis are written once, here. Levels, metrics, the status page, dashboards,
//! alerts and the guard's scopes all iterate this table: adding a figure is one entry here and
//! the source that brings its data in.

use std::time::Duration;

use strum::{EnumIter, IntoEnumIterator, IntoStaticStr};

use crate::config::Threshold;
use crate::core::assess::Basis;

/// The figures that have a warning and a critical threshold (the `figure` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, EnumIter, IntoStaticStr)]
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
}

const fn th(warning: f64, critical: f64) -> Threshold {
    Threshold { warning, critical }
}

const fn minutes(m: u64) -> Duration {
    Duration::from_secs(60 * m)
}

const MONITOR: [&str; 3] = ["continue", "monitor", "intervene"];

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
