//! Cost Shield (brief section 3): the scope budgets and the per-client budget.

use crate::config::Threshold;
use crate::config::kit::{KitSignal, Signal};
use crate::metrics::names as n;

use super::super::format::{humanize_percentage, promql_number};
use super::super::panels;
use super::super::recording;
use super::promql::with_resource;
use super::prose::Prose;
use super::text::{Part, Unit, at, t};
use super::{
    Alert, Ctx, Drive, Probe, Resource, Severity, Variant, labels, minutes, sel,
    warning_and_critical,
};

/// An example client of the promtool tests.
const CLIENT: &str = "10000000-0000-4000-8000-000000000001";

pub(super) fn alerts(c: &Ctx) -> Vec<Alert> {
    vec![budget(c), client_budget(c), budget_forecast(c)]
}

/// Warning at the alert ratio, critical when the budget is used up.
fn thresholds(c: &Ctx) -> Threshold {
    Threshold {
        warning: c.cfg.budgets.alert_ratio,
        critical: 1.0,
    }
}

fn budget(c: &Ctx) -> Alert {
    let signal = Signal::Kit(KitSignal::Budget);
    let default_for = minutes(1);
    let r = Resource::FromLabel("scope");
    let vars = [(
        "alert_ratio",
        humanize_percentage(c.cfg.budgets.alert_ratio),
    )];
    Alert {
        name: "LaunchguardBudget".into(),
        signal,
        summary: "AI spend is close to or over its budget",
        for_: c.for_(signal, default_for),
        default_for,
        variants: warning_and_critical(
            &sel(&n::BUDGET_USED_RATIO, "scope!=\"client_daily\""),
            &r,
            thresholds(c),
            Unit::Ratio,
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
        ),
        resource: r,
        probe: Probe::Level {
            step: Unit::Ratio.step(),
            drive: Drive::one(sel(&n::BUDGET_USED_RATIO, "scope=\"daily\"")),
            labels: labels(&[("scope", "daily"), ("resource", "daily")]),
        },
        runbook: Prose::parse(include_str!("../runbooks/budget.md"), &vars)
            .runbook(panels::FOUNDER, panels::BUDGET_USE),
    }
}

fn client_budget(c: &Ctx) -> Alert {
    let signal = Signal::Kit(KitSignal::ClientBudget);
    let default_for = minutes(1);
    let r = Resource::FromLabel("client");
    Alert {
        name: "LaunchguardClientBudget".into(),
        signal,
        summary: "A client's AI spend today is close to or over the per-client budget",
        for_: c.for_(signal, default_for),
        default_for,
        variants: warning_and_critical(
            &sel(&n::CLIENT_BUDGET_USED_RATIO, ""),
            &r,
            thresholds(c),
            Unit::Ratio,
            |s, l| {
                vec![
                    t("Client "),
                    Part::Label("client"),
                    t(" has used "),
                    Part::Value(Unit::Ratio),
                    t(format!(" of its daily AI budget{}.", at(s, l))),
                ]
            },
        ),
        resource: r,
        probe: Probe::Level {
            step: Unit::Ratio.step(),
            drive: Drive::one(sel(
                &n::CLIENT_BUDGET_USED_RATIO,
                &format!("client=\"{CLIENT}\""),
            )),
            labels: labels(&[("client", CLIENT), ("resource", CLIENT)]),
        },
        runbook: Prose::parse(include_str!("../runbooks/client_budget.md"), &[])
            .runbook(panels::FOUNDER, panels::CLIENT_BUDGET),
    }
}

/// Warning while the period-end forecast (the predict_linear recording rule) is at or over
/// `budget_forecast_ratio` and the budget is not used up yet: then LaunchguardBudget speaks.
fn budget_forecast(c: &Ctx) -> Alert {
    let signal = Signal::Kit(KitSignal::BudgetForecast);
    let default_for = minutes(30);
    let limit = c.cfg.kit.rules.budget_forecast_ratio;
    let r = Resource::FromLabel("scope");
    let forecast = recording::budget_predict_period_end();
    let expr = format!(
        "{forecast} >= {} unless on (job, instance, scope) {} >= 1",
        promql_number(limit),
        sel(&n::BUDGET_USED_RATIO, "")
    );
    Alert {
        name: "LaunchguardBudgetForecast".into(),
        signal,
        summary: "At the current pace AI spend runs over its budget before the period ends",
        for_: c.for_(signal, default_for),
        default_for,
        variants: vec![Variant {
            severity: Severity::Warning,
            threshold: limit,
            expr: with_resource(expr, &r),
            description: vec![
                t("At the pace of the last hour (the last day for monthly) the "),
                Part::Label("scope"),
                t(" AI budget will be "),
                Part::Value(Unit::Ratio),
                t(format!(
                    " used when its period ends{}.",
                    at(Severity::Warning, &Unit::Ratio.text(limit))
                )),
            ],
            condition: format!(
                "forecast at period end at or above {} while not yet used up",
                Unit::Ratio.text(limit)
            ),
        }],
        resource: r,
        probe: Probe::Level {
            step: Unit::Ratio.step(),
            drive: Drive::one(format!("{forecast}{{scope=\"daily\"}}")),
            labels: labels(&[("scope", "daily"), ("resource", "daily")]),
        },
        runbook: Prose::parse(
            include_str!("../runbooks/budget_forecast.md"),
            &[("limit", Unit::Ratio.text(limit))],
        )
        .runbook(panels::FOUNDER, panels::BUDGET_FORECAST),
    }
}
