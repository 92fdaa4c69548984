//! The alert catalogue: one alert per signal, with its warning/critical (or info) variants, its
//! text, its runbook, and how a promtool test drives it. Rules, tests and docs/runbooks.md are all
//! rendered from this list, so a threshold or a `for:` exists once.
//!
//! The figures' alerts come from the figure catalogue (`figures`); the kit's own are grouped by
//! section, one small function each. Metric names come only from `metrics::names`; thresholds
//! from `cfg.thresholds`, `cfg.budgets` and `cfg.kit.rules`; runbook prose from Markdown
//! fragments (`prose`).

pub mod blind;
mod budgets;
mod exporter;
mod figures;
mod platform;
pub mod promql;
pub mod prose;
mod providers;
mod strain;
pub mod text;
mod tiers;

use std::time::Duration;

use strum::IntoStaticStr;

use crate::config::kit::Signal;
use crate::config::{Config, Threshold};

use super::format::promql_number;

use promql::with_resource;
pub use promql::{quote, sel};
pub use text::{Part, Unit, expected_text, template};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn label(self) -> &'static str {
        self.into()
    }
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

/// How a promtool test sets the gauges behind a level alert to make its value `v`.
#[derive(Debug, Clone)]
pub enum Drive {
    /// Each series is `v` times its factor (the factors of a sum add up to 1).
    Split(Vec<(String, f64)>),
    /// `part / whole`: `whole` held at `of`, `part` at `v * of` rounded.
    Ratio {
        part: String,
        whole: String,
        of: f64,
    },
    /// `inner`, with the `gate` series the alert requires held at its minimum; `step` below
    /// it is "just under" the minimum.
    Gated {
        inner: Box<Drive>,
        gate: String,
        at_least: f64,
        step: f64,
    },
}

impl Drive {
    /// One series holding the value itself.
    pub fn one(series: String) -> Drive {
        Drive::Split(vec![(series, 1.0)])
    }

    /// The series and their values for `v`.
    pub fn series(&self, v: f64) -> Vec<(String, f64)> {
        match self {
            Drive::Split(s) => s.iter().map(|(name, f)| (name.clone(), v * f)).collect(),
            Drive::Ratio { part, whole, of } => {
                vec![(part.clone(), (v * of).round()), (whole.clone(), *of)]
            }
            Drive::Gated {
                inner,
                gate,
                at_least,
                ..
            } => {
                let mut s = inner.series(v);
                s.push((gate.clone(), *at_least));
                s
            }
        }
    }
}

/// How a promtool test makes the alert's value a chosen number.
#[derive(Debug, Clone)]
pub enum Probe {
    /// Gauges held constant so the alert's value is `v`; variants fire at `v >= threshold`.
    /// `step` is the smallest meaningful change ("just under" = threshold - step).
    Level {
        step: f64,
        drive: Drive,
        labels: Vec<(&'static str, String)>,
    },
    /// As `Level`, for a value that alarms as it falls: variants fire at `v <= threshold`
    /// ("just over" = threshold + step).
    Floor {
        step: f64,
        drive: Drive,
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
        labels: Vec<(&'static str, String)>,
    },
    /// Fires when `series` is missing altogether.
    Absent { series: String },
    /// A counter-like gauge that jumps from 0 to `v` at once; variants fire at `v >= threshold`,
    /// and the `windowed` ones (which count the rise within `window`) clear one window later.
    Burst {
        series: String,
        window: Duration,
        windowed: Vec<Severity>,
        labels: Vec<(&'static str, String)>,
    },
    /// Fires at every evaluation, with or without series.
    Always,
    /// A 0/1 gauge that fires at 0 while `success` (a timestamp) has no series.
    NeverUp {
        series: String,
        success: String,
        labels: Vec<(&'static str, String)>,
    },
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
    pub name: String,
    pub signal: Signal,
    pub summary: &'static str,
    /// `for:` in force: the config's override or the default.
    pub for_: Duration,
    /// The default `for:`, which the runbook explains.
    pub default_for: Duration,
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

/// The config and what every section reads from it.
pub(crate) struct Ctx<'a> {
    pub cfg: &'a Config,
}

impl Ctx<'_> {
    /// The `for:` in force for a signal: the config's override, else `default`.
    pub fn for_(&self, s: Signal, default: Duration) -> Duration {
        self.cfg.kit.rules.for_.get(&s).map_or(default, |d| d.0)
    }
}

/// `Duration` of whole minutes, for the defaults.
pub(crate) const fn minutes(m: u64) -> Duration {
    Duration::from_secs(60 * m)
}

/// Labels of a probe from string pairs.
pub(crate) fn labels(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

/// Warning and critical variants of `value >= threshold`, described by `describe(severity,
/// limit as printed)`.
pub(crate) fn warning_and_critical(
    value: &str,
    r: &Resource,
    th: Threshold,
    unit: Unit,
    describe: impl Fn(Severity, &str) -> Vec<Part>,
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
        description: describe(sev, &unit.text(limit)),
        condition: format!("at or above {}", unit.text(limit)),
    })
    .collect()
}

/// The whole catalogue for a config, section by section.
pub fn alerts(cfg: &Config) -> Vec<Alert> {
    let c = Ctx { cfg };
    let mut out = figures::alerts(&c);
    out.extend(budgets::alerts(&c));
    out.extend(tiers::alerts(&c));
    out.extend(exporter::alerts(&c));
    out.extend(platform::alerts(&c));
    out.extend(strain::alerts(&c));
    out.extend(blind::alerts(&c));
    out.extend(providers::alerts(&c));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::kit::KitSignal;
    use crate::core::levels::FigureName;

    #[test]
    fn one_alert_per_signal_and_camel_case_names() {
        let a = alerts(&Config::default());
        let signals: Vec<Signal> = a.iter().map(|a| a.signal).collect();
        assert_eq!(
            signals,
            Signal::all().collect::<Vec<_>>(),
            "every signal, in order"
        );
        for al in &a {
            assert!(al.name.starts_with("Launchguard"), "{}", al.name);
            assert!(al.name.chars().all(|c| c.is_ascii_alphanumeric()));
            let sevs: Vec<_> = al.variants.iter().map(|v| v.severity).collect();
            let mut sorted = sevs.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sevs, sorted, "{}: one variant per severity", al.name);
        }
    }

    #[test]
    fn runbooks_are_whole() {
        for a in alerts(&Config::default()) {
            let r = &a.runbook;
            for (what, text) in [
                ("meaning", &r.meaning),
                ("confirm", &r.confirm_how),
                ("why for", &r.why_for),
            ] {
                assert!(!text.is_empty(), "{}: no `{what}`", a.name);
                assert!(!text.contains('{'), "{}: unfilled {what}: {text}", a.name);
            }
            let acted: Vec<Severity> = r.actions.iter().map(|(s, _)| *s).collect();
            let fired: Vec<Severity> = a.variants.iter().map(|v| v.severity).collect();
            assert_eq!(acted, fired, "{}: one action per severity", a.name);
            assert!(
                r.actions
                    .iter()
                    .all(|(_, t)| !t.is_empty() && !t.contains('{'))
            );
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
        cfg.kit.rules.for_.insert(
            Signal::Figure(FigureName::QueueDepth),
            crate::config::Dur::from_secs(7),
        );
        cfg.kit.rules.for_.insert(
            Signal::Kit(KitSignal::Budget),
            crate::config::Dur::from_secs(9),
        );
        let a = alerts(&cfg);
        let q = a
            .iter()
            .find(|a| a.name == "LaunchguardQueueDepth")
            .unwrap();
        assert_eq!(q.variants[1].expr, "launchguard_queue_depth >= 321");
        assert_eq!(q.for_, Duration::from_secs(7));
        assert_eq!(q.default_for, minutes(5));
        let b = a.iter().find(|a| a.name == "LaunchguardBudget").unwrap();
        assert!(
            b.variants[0].expr.contains(">= 0.65"),
            "{}",
            b.variants[0].expr
        );
        assert_eq!(b.for_, Duration::from_secs(9));
    }
}
