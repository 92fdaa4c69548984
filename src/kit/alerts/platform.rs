//! The platform's jobs and database: the sync job's lateness, pg_cron failures, connections.

use crate::config::kit::{KitSignal, Signal};
use crate::metrics::names as n;

use super::super::format::{humanize_duration, prom_duration, promql_number};
use super::super::panels;
use super::promql::{quote, with_resource};
use super::prose::Prose;
use super::text::{Part, Unit, at, t};
use super::{
    Alert, Ctx, Drive, Probe, Resource, Severity, Variant, labels, minutes, sel,
    warning_and_critical,
};

/// The tier cadence the sync job's promtool test assumes (30 minutes).
const CADENCE: f64 = 1800.0;

pub(super) fn alerts(c: &Ctx) -> Vec<Alert> {
    vec![sync_job_late(c), cron_job_failures(c), pooler_pressure(c)]
}

/// `age > k cadences` of the sync job; no success in the history read counts as time 0.
fn late_variant(job: &str, s: Severity, k: f64) -> Variant {
    let m = format!("cron_job={}", quote(job));
    Variant {
        severity: s,
        threshold: k,
        expr: with_resource(
            format!(
                "time() - ({ls} or {ei} * 0) > {k} * {ei}",
                ls = sel(&n::CRON_LAST_SUCCESS, &m),
                ei = sel(&n::CRON_EXPECTED_INTERVAL, &m),
                k = promql_number(k),
            ),
            &Resource::FromLabel("cron_job"),
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
    }
}

fn sync_job_late(c: &Ctx) -> Alert {
    let signal = Signal::Kit(KitSignal::SyncJobLate);
    let default_for = minutes(0);
    let late = c.cfg.kit.rules.sync_job_late_cadences;
    let job = c.cfg.database.sync_job.as_str();
    let m = format!("cron_job={}", quote(job));
    Alert {
        name: "LaunchguardSyncJobLate".into(),
        signal,
        summary: "The platform sync job has not succeeded for too long",
        for_: c.for_(signal, default_for),
        default_for,
        variants: vec![
            late_variant(job, Severity::Warning, late.warning),
            late_variant(job, Severity::Critical, late.critical),
        ],
        resource: Resource::FromLabel("cron_job"),
        probe: Probe::Age {
            series: sel(&n::CRON_LAST_SUCCESS, &m),
            extra: vec![(sel(&n::CRON_EXPECTED_INTERVAL, &m), CADENCE)],
            cadence: CADENCE,
            labels: labels(&[("cron_job", job), ("resource", job)]),
        },
        runbook: Prose::parse(
            include_str!("../runbooks/sync_job_late.md"),
            &[("sync_job", job.to_string())],
        )
        .runbook(panels::FOUNDER, panels::SYNC_AGE),
    }
}

/// Warning: any failure in the last 24 hours (the exporter's count, an email a day). Critical:
/// failures within the window (the 24-hour count's rise since its lowest point in the window),
/// so a burst pages once and clears one window after it instead of a day later.
fn cron_job_failures(c: &Ctx) -> Alert {
    let signal = Signal::Kit(KitSignal::CronJobFailures);
    let default_for = minutes(0);
    let r = Resource::FromLabel("cron_job");
    let th = c.cfg.kit.rules.cron_failures;
    let window = c.cfg.kit.rules.cron_failures_window.0;
    let count = sel(&n::CRON_FAILURES, "");
    let recent = format!(
        "({count} - min_over_time({count}[{}]))",
        prom_duration(window)
    );
    let in_window = humanize_duration(window.as_secs_f64());
    let variant = |sev: Severity, value: &str, limit: f64, during: &str| Variant {
        severity: sev,
        threshold: limit,
        expr: with_resource(format!("{value} >= {}", promql_number(limit)), &r),
        description: vec![
            t("pg_cron job "),
            Part::Label("cron_job"),
            t(" failed "),
            Part::Value(Unit::Count),
            t(format!(
                " times in the last {during}{}.",
                at(sev, &Unit::Count.text(limit))
            )),
        ],
        condition: format!(
            "at or above {} failures in {during}",
            Unit::Count.text(limit)
        ),
    };
    Alert {
        name: "LaunchguardCronJobFailures".into(),
        signal,
        summary: "pg_cron job runs failed",
        for_: c.for_(signal, default_for),
        default_for,
        variants: vec![
            variant(Severity::Warning, &count, th.warning, "24 hours"),
            variant(Severity::Critical, &recent, th.critical, &in_window),
        ],
        resource: r,
        probe: Probe::Burst {
            series: sel(&n::CRON_FAILURES, "cron_job=\"nightly-report\""),
            window,
            windowed: vec![Severity::Critical],
            labels: labels(&[
                ("cron_job", "nightly-report"),
                ("resource", "nightly-report"),
            ]),
        },
        runbook: Prose::parse(
            include_str!("../runbooks/cron_job_failures.md"),
            &[("window", in_window.clone())],
        )
        .runbook(panels::FOUNDER, panels::CRON_FAILURES),
    }
}

fn pooler_pressure(c: &Ctx) -> Alert {
    let signal = Signal::Kit(KitSignal::PoolerPressure);
    let default_for = minutes(5);
    let r = Resource::Static("database_connections");
    Alert {
        name: "LaunchguardPoolerPressure".into(),
        signal,
        summary: "Database connections are close to max_connections",
        for_: c.for_(signal, default_for),
        default_for,
        variants: warning_and_critical(
            &format!(
                "{} / {}",
                sel(&n::DB_CONNECTIONS, ""),
                sel(&n::DB_MAX_CONNECTIONS, "")
            ),
            &r,
            c.cfg.kit.rules.pooler_ratio,
            Unit::Ratio,
            |s, l| {
                vec![
                    t("Open database connections are "),
                    Part::Value(Unit::Ratio),
                    t(format!(" of max_connections{}.", at(s, l))),
                ]
            },
        ),
        resource: r,
        probe: Probe::Level {
            step: Unit::Ratio.step(),
            drive: Drive::Ratio {
                part: sel(&n::DB_CONNECTIONS, ""),
                whole: sel(&n::DB_MAX_CONNECTIONS, ""),
                of: 1000.0,
            },
            labels: labels(&[]),
        },
        runbook: Prose::parse(include_str!("../runbooks/pooler_pressure.md"), &[])
            .runbook(panels::FOUNDER, panels::POOLER),
    }
}
