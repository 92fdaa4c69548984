//! The founder dashboard's one overall health: the worst of every part the kit can see, so
//! it cannot read OK while a budget is used up, a source never collected or went stale, or the
//! guard's store is down. 0 is OK, 1 WARNING, 2 CRITICAL, with the alerts' own thresholds.

use crate::config::Config;
use crate::metrics::names as n;

use super::dashboards::scoped;
use super::format::promql_number;

/// The parts of the health and their PromQL, each a label-free 0, 1 or 2 (0 when its series
/// are missing, so one absent part cannot blank the stat).
/// `scope` is matchers every selector carries (the dashboard's job and instance variables).
pub fn parts(cfg: &Config, scope: &str) -> Vec<(&'static str, String)> {
    let sel = |def: &n::MetricDef, m: &str| scoped(&def.exposed_name(), scope, m);
    let ratio = sel(&n::BUDGET_USED_RATIO, "scope!=\"client_daily\"");
    let up = sel(&n::SOURCE_UP, "");
    let success = sel(&n::SOURCE_LAST_SUCCESS, "");
    let stale = cfg.kit.rules.source_stale;
    let age = format!("time() - {success}");
    vec![
        ("figures", format!("max({})", sel(&n::FIGURE_LEVEL, ""))),
        (
            // The alert ratio warns; a used-up budget (the hard stop) is critical.
            "budgets",
            format!(
                "max({ratio} >= bool {}) + max({ratio} >= bool 1)",
                promql_number(cfg.budgets.alert_ratio)
            ),
        ),
        (
            // A failing source warns; data older than the stale limits warns, then is critical.
            "sources",
            format!(
                "clamp_max(max({up} == bool 0) + max({age} >= bool {}) + max({age} >= bool {}), 2)",
                promql_number(stale.warning.0.as_secs_f64()),
                promql_number(stale.critical.0.as_secs_f64())
            ),
        ),
        (
            // A source never collected since the start: nothing else can alert.
            "never_up",
            format!(
                "2 * clamp_max(count({up} == 0 unless on (job, instance, source) {success}), 1)"
            ),
        ),
        (
            // With fail_mode closed the guard denies every spend.
            "guard",
            format!("2 * max({} == bool 0)", sel(&n::GUARD_STORE_UP, "")),
        ),
    ]
}

/// The stat's query: the worst part (each labelled apart, or `or` would keep only one).
pub fn overall(cfg: &Config, scope: &str) -> String {
    let parts: Vec<String> = parts(cfg, scope)
        .into_iter()
        .map(|(name, e)| {
            format!("label_replace(({e}) or vector(0), \"part\", \"{name}\", \"\", \"\")")
        })
        .collect();
    format!("max({})", parts.join(" or "))
}
