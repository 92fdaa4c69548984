//! The exporter and its sources: a source failing, its data growing old, no metrics at all.

use crate::config::kit::{KitSignal, Signal};
use crate::metrics::names as n;

use super::super::format::{humanize_duration, promql_number};
use super::super::panels;
use super::promql::with_resource;
use super::prose::Prose;
use super::text::{Part, Unit, t};
use super::{Alert, Ctx, Probe, Resource, Severity, Variant, labels, minutes, sel};

pub(super) fn alerts(c: &Ctx) -> Vec<Alert> {
    vec![source_down(c), source_stale(c), exporter_down(c)]
}

fn source_down(c: &Ctx) -> Alert {
    let signal = Signal::Kit(KitSignal::SourceDown);
    let default_for = minutes(5);
    let for_ = c.for_(signal, default_for);
    let r = Resource::FromLabel("source");
    Alert {
        name: "LaunchguardSourceDown".into(),
        signal,
        summary: "A launchguard source fails every collection",
        for_,
        default_for,
        variants: vec![Variant {
            severity: Severity::Warning,
            threshold: 0.0,
            expr: with_resource(format!("{} == 0", sel(&n::SOURCE_UP, "")), &r),
            description: vec![
                t("Every collection of the "),
                Part::Label("source"),
                t(format!(
                    " source has failed for at least {}; its figures stay at their last good values.",
                    humanize_duration(for_.as_secs_f64())
                )),
            ],
            condition: "the last collection failed".into(),
        }],
        resource: r,
        probe: Probe::Zero {
            series: sel(&n::SOURCE_UP, "source=\"supabase\""),
            labels: labels(&[("source", "supabase"), ("resource", "supabase")]),
        },
        runbook: Prose::parse(include_str!("../runbooks/source_down.md"), &[])
            .runbook(panels::HEALTH, panels::SOURCES_UP),
    }
}

fn source_stale(c: &Ctx) -> Alert {
    let signal = Signal::Kit(KitSignal::SourceStale);
    let default_for = minutes(0);
    let stale = c.cfg.kit.rules.source_stale;
    let r = Resource::FromLabel("source");
    let variant = |s: Severity, secs: f64| Variant {
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
    };
    let (warning, critical) = (stale.warning.as_secs_f64(), stale.critical.as_secs_f64());
    let vars = [
        ("warning", humanize_duration(warning)),
        ("critical", humanize_duration(critical)),
    ];
    Alert {
        name: "LaunchguardSourceStale".into(),
        signal,
        summary: "A source's figures are old",
        for_: c.for_(signal, default_for),
        default_for,
        variants: vec![
            variant(Severity::Warning, warning),
            variant(Severity::Critical, critical),
        ],
        resource: r,
        probe: Probe::Age {
            series: sel(&n::SOURCE_LAST_SUCCESS, "source=\"supabase\""),
            extra: vec![],
            cadence: 1.0,
            labels: labels(&[("source", "supabase"), ("resource", "supabase")]),
        },
        runbook: Prose::parse(include_str!("../runbooks/source_stale.md"), &vars)
            .runbook(panels::HEALTH, panels::DATA_AGE),
    }
}

fn exporter_down(c: &Ctx) -> Alert {
    let signal = Signal::Kit(KitSignal::ExporterDown);
    let default_for = minutes(5);
    let for_ = c.for_(signal, default_for);
    Alert {
        name: "LaunchguardExporterDown".into(),
        signal,
        summary: "Prometheus has no launchguard metrics",
        for_,
        default_for,
        resource: Resource::Static("exporter"),
        variants: vec![Variant {
            severity: Severity::Critical,
            threshold: 0.0,
            expr: format!("absent({})", sel(&n::BUILD_INFO, "")),
            description: vec![t(format!(
                "No launchguard exporter has been scraped for {}: no budget, tier or resource alert can fire.",
                humanize_duration(for_.as_secs_f64())
            ))],
            condition: format!("no {} series", n::BUILD_INFO.name),
        }],
        probe: Probe::Absent {
            series: sel(&n::BUILD_INFO, "version=\"0.1.0\", revision=\"abc\""),
        },
        runbook: Prose::parse(
            include_str!("../runbooks/exporter_down.md"),
            &[("build_info", n::BUILD_INFO.name.to_string())],
        )
        .runbook(panels::HEALTH, panels::BUILD),
    }
}
