//! Never blind: the alerts that say the kit itself cannot see. A Watchdog that always fires (its
//! heartbeat stops when Prometheus or Alertmanager does), a source that never succeeded since
//! the start (no figures, so every other alert is silent), a figure without a value, a failed
//! config reload, the guard's store down (fail closed denies every spend) and a kill switch on.

use std::time::Duration;

use crate::config::kit::{KitSignal, Signal};
use crate::metrics::names as n;

use super::super::format::humanize_duration;
use super::super::panels;
use super::promql::with_resource;
use super::prose::Prose;
use super::text::{Part, Unit, t};
use super::{Alert, Ctx, Drive, Probe, Resource, Severity, Variant, labels, minutes, sel};

/// The always-firing alert Alertmanager routes to the heartbeat receiver.
pub const WATCHDOG: &str = "LaunchguardWatchdog";

pub(super) fn alerts(c: &Ctx) -> Vec<Alert> {
    vec![
        watchdog(c),
        source_never_up(c),
        figure_unavailable(c),
        config_reload_failed(c),
        guard_store_down(c),
        kill_switch_on(c),
    ]
}

fn watchdog(c: &Ctx) -> Alert {
    let signal = Signal::Kit(KitSignal::Watchdog);
    let default_for = Duration::ZERO;
    let repeat = c.cfg.kit.alertmanager.heartbeat.repeat_interval.0;
    Alert {
        name: WATCHDOG.into(),
        signal,
        summary: "The alerting pipeline works (always firing: the heartbeat)",
        for_: c.for_(signal, default_for),
        default_for,
        resource: Resource::Static("alerting"),
        variants: vec![Variant {
            severity: Severity::Info,
            threshold: 1.0,
            expr: "vector(1)".into(),
            description: vec![t(
                "Always firing while Prometheus evaluates the rules and Alertmanager delivers; the dead-man's-switch service pages when it stops.",
            )],
            condition: "always".into(),
        }],
        probe: Probe::Always,
        runbook: Prose::parse(
            include_str!("../runbooks/watchdog.md"),
            &[("repeat", humanize_duration(repeat.as_secs_f64()))],
        )
        .runbook(panels::FOUNDER, panels::FIRING),
    }
}

fn source_never_up(c: &Ctx) -> Alert {
    let signal = Signal::Kit(KitSignal::SourceNeverUp);
    let default_for = minutes(2);
    let for_ = c.for_(signal, default_for);
    let r = Resource::FromLabel("source");
    Alert {
        name: "LaunchguardSourceNeverUp".into(),
        signal,
        summary: "launchguard cannot see the ledger: a source has never been collected",
        for_,
        default_for,
        variants: vec![Variant {
            severity: Severity::Critical,
            threshold: 0.0,
            expr: with_resource(
                format!(
                    "{} == 0 unless on (job, instance, source) {}",
                    sel(&n::SOURCE_UP, ""),
                    sel(&n::SOURCE_LAST_SUCCESS, "")
                ),
                &r,
            ),
            description: vec![
                t("launchguard has not once collected the "),
                Part::Label("source"),
                t(format!(
                    " source since it started ({} and more): it cannot see the ledger, so budget, tier and resource alerts are silent for lack of data.",
                    humanize_duration(for_.as_secs_f64())
                )),
            ],
            condition: "down with no successful collection since the start".into(),
        }],
        resource: r,
        probe: Probe::NeverUp {
            series: sel(&n::SOURCE_UP, "source=\"supabase\""),
            success: sel(&n::SOURCE_LAST_SUCCESS, "source=\"supabase\""),
            labels: labels(&[("source", "supabase"), ("resource", "supabase")]),
        },
        runbook: Prose::parse(include_str!("../runbooks/source_never_up.md"), &[])
            .runbook(panels::HEALTH, panels::SOURCES_UP),
    }
}

/// An alert on a 0/1 gauge that fires at 0.
struct ZeroAlert {
    signal: KitSignal,
    name: &'static str,
    severity: Severity,
    default_for: Duration,
    summary: &'static str,
    metric: &'static n::MetricDef,
    resource: Resource,
    /// The probe's series matchers and labels (resource included).
    example: &'static [(&'static str, &'static str)],
    description: Vec<Part>,
    runbook: Prose,
    panel: (&'static str, &'static str),
}

fn zero_alert(c: &Ctx, z: ZeroAlert) -> Alert {
    let signal = Signal::Kit(z.signal);
    let matchers = z
        .example
        .iter()
        .filter(|(k, _)| *k != "resource" || z.metric.labels.contains(k))
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect::<Vec<_>>()
        .join(", ");
    Alert {
        name: z.name.into(),
        signal,
        summary: z.summary,
        for_: c.for_(signal, z.default_for),
        default_for: z.default_for,
        variants: vec![Variant {
            severity: z.severity,
            threshold: 0.0,
            expr: with_resource(format!("{} == 0", sel(z.metric, "")), &z.resource),
            description: z.description,
            condition: "the gauge is 0".into(),
        }],
        resource: z.resource,
        probe: Probe::Zero {
            series: sel(z.metric, &matchers),
            labels: labels(z.example),
        },
        runbook: z.runbook.runbook(z.panel.0, z.panel.1),
    }
}

fn figure_unavailable(c: &Ctx) -> Alert {
    zero_alert(
        c,
        ZeroAlert {
            signal: KitSignal::FigureUnavailable,
            name: "LaunchguardFigureUnavailable",
            severity: Severity::Warning,
            default_for: minutes(10),
            summary: "A figure has no value: its alert cannot fire",
            metric: &n::FIGURE_AVAILABLE,
            resource: Resource::FromLabel("figure"),
            example: &[("figure", "queue_depth"), ("resource", "queue_depth")],
            description: vec![
                t("launchguard has no value for the "),
                Part::Label("figure"),
                t(" figure: its alert cannot fire and its panel is empty."),
            ],
            runbook: Prose::parse(include_str!("../runbooks/figure_unavailable.md"), &[]),
            panel: (panels::HEALTH, panels::FIGURES_AVAILABLE),
        },
    )
}

fn config_reload_failed(c: &Ctx) -> Alert {
    zero_alert(
        c,
        ZeroAlert {
            signal: KitSignal::ConfigReloadFailed,
            name: "LaunchguardConfigReloadFailed",
            severity: Severity::Warning,
            default_for: Duration::ZERO,
            summary: "launchguard refused a config reload and runs on the previous config",
            metric: &n::CONFIG_RELOAD_OK,
            resource: Resource::Static("config"),
            example: &[],
            description: vec![t(
                "The last config reload failed; launchguard runs on the config it had. Its log names the file, line and field.",
            )],
            runbook: Prose::parse(include_str!("../runbooks/config_reload_failed.md"), &[]),
            panel: (panels::HEALTH, panels::CONFIG_RELOAD),
        },
    )
}

fn guard_store_down(c: &Ctx) -> Alert {
    zero_alert(
        c,
        ZeroAlert {
            signal: KitSignal::GuardStoreDown,
            name: "LaunchguardGuardStoreDown",
            severity: Severity::Critical,
            default_for: minutes(1),
            summary: "The guard's store is down: with fail_mode closed every spend is denied",
            metric: &n::GUARD_STORE_UP,
            resource: Resource::FromLabel("store"),
            example: &[("store", "redis"), ("resource", "redis")],
            description: vec![
                t("The guard's "),
                Part::Label("store"),
                t(
                    " store did not answer its last call: with fail_mode closed the guard denies every request that would spend.",
                ),
            ],
            runbook: Prose::parse(
                include_str!("../runbooks/guard_store_down.md"),
                &[("store", "memory or redis".into())],
            ),
            panel: (panels::HEALTH, panels::SOURCES_UP),
        },
    )
}

fn kill_switch_on(c: &Ctx) -> Alert {
    let signal = Signal::Kit(KitSignal::KillSwitchOn);
    let default_for = minutes(10);
    // `target` is empty for the global switch; the scope always names it.
    let r = Resource::FromLabel("scope");
    Alert {
        name: "LaunchguardKillSwitchOn".into(),
        signal,
        summary: "A kill switch is on: the guard denies everything in its scope",
        for_: c.for_(signal, default_for),
        default_for,
        variants: vec![Variant {
            severity: Severity::Info,
            threshold: 1.0,
            expr: with_resource(format!("{} == 1", sel(&n::GUARD_KILL_SWITCH, "")), &r),
            description: vec![
                t("A kill switch is on (scope "),
                Part::Label("scope"),
                t(", target "),
                Part::Label("target"),
                t("): the guard denies every request in its scope."),
            ],
            condition: "a switch is on".into(),
        }],
        resource: r,
        probe: Probe::Level {
            step: Unit::Count.step(),
            drive: Drive::one(sel(
                &n::GUARD_KILL_SWITCH,
                "scope=\"provider\", target=\"openai\"",
            )),
            labels: labels(&[
                ("scope", "provider"),
                ("target", "openai"),
                ("resource", "provider"),
            ]),
        },
        runbook: Prose::parse(include_str!("../runbooks/kill_switch_on.md"), &[])
            .runbook(panels::FOUNDER, panels::FIRING),
    }
}
