//! Recording rules: the 7-day trend of each Resource Monitor figure and the budget forecasts the
//! founder dashboard shows. Names follow `level:metric:operations` and are built from
//! `metrics::names`, so a renamed metric renames its recordings.

use crate::core::budget::Scope;
use crate::metrics::names as n;

use super::alerts::{quote, sel};

/// One recording rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub name: String,
    pub expr: String,
}

/// The daily peak of each figure: period-to-date figures (tokens, bandwidth) saw-tooth at
/// midnight, so trends are taken over daily peaks, not raw values.
pub fn figure_max_1d() -> String {
    format!("figure:{}:max_1d", n::FIGURE_VALUE.name)
}

/// Change of the daily peak per day, fitted over 7 days.
pub fn figure_deriv_per_day_7d() -> String {
    format!("figure:{}:deriv_per_day_7d", n::FIGURE_VALUE.name)
}

/// Where the daily peak will be in 7 days at the 7-day pace.
pub fn figure_predict_7d() -> String {
    format!("figure:{}:predict_linear_7d", n::FIGURE_VALUE.name)
}

/// Budget used ratio forecast at the end of the scope's period (local midnight or month end).
pub fn budget_predict_period_end() -> String {
    format!(
        "scope:{}:predict_linear_period_end",
        n::BUDGET_USED_RATIO.name
    )
}

/// When the scope's budget runs out at the current pace (Unix seconds); absent while spend is
/// flat.
pub fn budget_exhaustion() -> String {
    format!(
        "scope:{}:exhaustion_timestamp_seconds",
        n::BUDGET_USED_RATIO.name
    )
}

/// The fitting window of a scope's pace: the last hour for daily scopes, the last day for the
/// month.
fn window(s: Scope) -> &'static str {
    match s {
        Scope::Monthly => "1d",
        Scope::Daily | Scope::ClientDaily => "1h",
    }
}

/// Rule groups: (group name, rules).
pub fn groups() -> Vec<(&'static str, Vec<Record>)> {
    let fv = sel(&n::FIGURE_VALUE, "");
    let trends = vec![
        Record {
            name: figure_max_1d(),
            expr: format!("max_over_time({fv}[1d])"),
        },
        Record {
            name: figure_deriv_per_day_7d(),
            expr: format!("deriv({}[7d]) * 86400", figure_max_1d()),
        },
        Record {
            name: figure_predict_7d(),
            expr: format!("predict_linear({}[7d], 604800)", figure_max_1d()),
        },
    ];
    let ratio = |s: Scope| {
        sel(
            &n::BUDGET_USED_RATIO,
            &format!("scope={}", quote(s.label())),
        )
    };
    let end = |s: Scope| {
        sel(
            &n::BUDGET_PERIOD_END,
            &format!("scope={}", quote(s.label())),
        )
    };
    // The period end is one instant for everyone, but each replica of `serve` exports it:
    // `scalar()` of two series is NaN, so the forecast takes the one value through `max`.
    let predict = Scope::ALL
        .iter()
        .map(|&s| {
            format!(
                "predict_linear({}[{}], scalar(max({})) - time())",
                ratio(s),
                window(s),
                end(s)
            )
        })
        .collect::<Vec<_>>()
        .join(" or ");
    let exhaustion = Scope::ALL
        .iter()
        .map(|&s| {
            format!(
                "time() + (1 - {r}) / (deriv({r}[{w}]) > 0)",
                r = ratio(s),
                w = window(s)
            )
        })
        .collect::<Vec<_>>()
        .join(" or ");
    let forecasts = vec![
        Record {
            name: budget_predict_period_end(),
            expr: predict,
        },
        Record {
            name: budget_exhaustion(),
            expr: exhaustion,
        },
    ];
    vec![
        ("launchguard-figure-trends", trends),
        ("launchguard-budget-forecasts", forecasts),
    ]
}

/// Every recorded metric name.
pub fn names() -> Vec<String> {
    groups()
        .into_iter()
        .flat_map(|(_, rs)| rs.into_iter().map(|r| r.name))
        .collect()
}
