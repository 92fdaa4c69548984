//! The Resource Monitor figures' alerts (brief section 4), one per catalogue entry: warning
//! and critical at the config's thresholds, text, runbook and test drive all read from the
//! figure's declaration. Nothing here names a figure.

use crate::catalogue::{AlertResource, FIGURES, FigureDef, Series};
use crate::config::kit::Signal;
use crate::metrics::names as n;

use super::super::format::promql_number;
use super::super::panels;
use super::promql::{matchers, quote, sel};
use super::prose::Prose;
use super::text::{Unit, parts_of};
use super::{Alert, Ctx, Drive, Probe, Resource, warning_and_critical};

pub(super) fn alerts(c: &Ctx) -> Vec<Alert> {
    FIGURES.iter().map(|d| figure_alert(c, d)).collect()
}

fn figure_alert(c: &Ctx, d: &FigureDef) -> Alert {
    let th = c.cfg.thresholds.get(d.name);
    let unit = Unit::from(d.unit);
    let series = d.kit.series;
    let resource = resource(d.name.label(), series.resource);
    let signal = Signal::Figure(d.name);
    let confirm = format!(
        "the line crosses the orange (warning, {}) or red (critical, {}) step; the dashed line is the 7-day trend of the daily peak.",
        unit.text(th.warning),
        unit.text(th.critical)
    );
    let mut prose = Prose::parse(d.kit.runbook, &[]);
    prose.confirm = confirm;
    let mut variants = warning_and_critical(&value(d), &resource, th, unit, |sev, limit| {
        parts_of(d.kit.description, unit, sev, limit)
    });
    let mut drive = drive(d);
    if let Some(req) = d.kit.requires {
        let min = (req.at_least)(c.cfg);
        for v in &mut variants {
            v.expr = format!(
                "{} and on () {} >= {}",
                v.expr,
                req.metric,
                promql_number(min)
            );
            v.condition = format!(
                "{}, with at least {} {}",
                v.condition,
                promql_number(min),
                req.what
            );
        }
        prose.why_for = format!(
            "{} It stays silent under {} {}: a couple of failures in a quiet window are no page.",
            prose.why_for,
            promql_number(min),
            req.what
        );
        drive = Drive::Gated {
            inner: Box::new(drive),
            gate: req.metric.to_string(),
            at_least: min,
            step: 1.0,
        };
    }
    Alert {
        name: format!("Launchguard{}", d.alert),
        signal,
        summary: d.kit.summary,
        for_: c.for_(signal, d.default_for),
        default_for: d.default_for,
        variants,
        resource,
        probe: Probe::Level {
            step: unit.step(),
            drive,
            labels: probe_labels(series),
        },
        runbook: prose.runbook(panels::FOUNDER, d.title),
    }
}

fn resource(label: &'static str, r: AlertResource) -> Resource {
    match r {
        AlertResource::Figure => Resource::Static(label),
        AlertResource::PerLabel(l, _) => Resource::FromLabel(l),
        AlertResource::FromSeries => Resource::Series,
    }
}

/// The metric the alert reads, with the series' matchers.
fn selector(d: &FigureDef, extra: &[(&str, &str)]) -> String {
    let s = d.kit.series;
    let mut m: Vec<(&str, &str)> = s.matchers.to_vec();
    m.extend_from_slice(extra);
    match s.metric {
        Some(name) => {
            let m = matchers(&m);
            if m.is_empty() {
                name.to_string()
            } else {
                format!("{name}{{{m}}}")
            }
        }
        None => {
            let figure = format!("figure={}", quote(d.name.label()));
            sel(&n::FIGURE_VALUE, &figure)
        }
    }
}

/// The alert's value expression.
fn value(d: &FigureDef) -> String {
    match d.kit.series.sum_over {
        Some((label, _)) => format!("sum without ({label}) ({})", selector(d, &[])),
        None => selector(d, &[]),
    }
}

/// How a promtool test sets the value: the one series, or the summed ones split evenly.
fn drive(d: &FigureDef) -> Drive {
    let s = d.kit.series;
    match (s.sum_over, s.resource) {
        (Some((label, values)), _) => Drive::Split(
            values
                .iter()
                .map(|v| (selector(d, &[(label, v)]), 1.0 / values.len() as f64))
                .collect(),
        ),
        (None, AlertResource::PerLabel(label, example)) => {
            Drive::one(selector(d, &[(label, example)]))
        }
        (None, _) => Drive::one(selector(d, &[])),
    }
}

/// The labels the test's alerts carry: the matchers, and the per-label example as itself and
/// as `resource`.
fn probe_labels(s: Series) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = s
        .matchers
        .iter()
        .map(|(k, v)| (*k, v.to_string()))
        .collect();
    if let AlertResource::PerLabel(label, example) = s.resource {
        out.push((label, example.into()));
        out.push(("resource", example.into()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::names;

    /// A metric the catalogue names for the kit is one the exporter exports, with the labels
    /// the kit matches on.
    #[test]
    fn catalogue_series_are_exported_metrics() {
        for d in FIGURES {
            let s = d.kit.series;
            let mut used: Vec<(&str, &str)> = s.matchers.to_vec();
            if let AlertResource::PerLabel(l, _) = s.resource {
                used.push((l, ""));
            }
            if let Some((l, _)) = s.sum_over {
                used.push((l, ""));
            }
            let metrics = s.metric.into_iter().chain(d.kit.detail.map(|(m, _)| m));
            for m in metrics {
                let def = names::all()
                    .find(|x| x.exposed_name() == m)
                    .unwrap_or_else(|| panic!("{}: {m} is not in metrics::names", d.config_key));
                if Some(m) == s.metric {
                    for (l, _) in &used {
                        assert!(
                            def.labels.contains(l),
                            "{}: {m} has no label {l}",
                            d.config_key
                        );
                    }
                }
            }
            if s.metric.is_none() {
                assert!(
                    s.matchers.is_empty() && s.sum_over.is_none(),
                    "{}",
                    d.config_key
                );
            }
        }
    }
}
