//! Titles of the dashboards and of the panels the runbooks point at, shared by the dashboards
//! and the alert catalogue so a renamed panel cannot leave a runbook pointing nowhere. A
//! figure's panel is titled as the figure catalogue says.

pub const FOUNDER: &str = "launchguard: founder";
pub const HEALTH: &str = "launchguard: exporter health";

pub const FOUNDER_UID: &str = "launchguard-founder";
pub const HEALTH_UID: &str = "launchguard-exporter-health";

// Founder dashboard.
pub const TIER: &str = "Tier";
pub const HEALTH_LEVEL: &str = "Health";
pub const HEADROOM: &str = "Headroom per resource";
pub const TIER_USAGE: &str = "Tier usage (change in the last hour)";
pub const SPEND_PACE: &str = "Spend pace (change in the last day)";
pub const SPENT_OF_BUDGET: &str = "Spent of budget (USD)";
pub const BUDGET_USE: &str = "Budget use per scope";
pub const BUDGET_FORECAST: &str = "Forecast at period end";
pub const BUDGET_EXHAUSTED: &str = "Budget exhausted at";
pub const PROVIDER_SPEND: &str = "Spend today per provider (share of the daily budget)";
pub const CLIENT_BUDGET: &str = "Client budget use today";
pub const GUARD_DENIALS: &str = "Denials and throttles by reason";
pub const GUARD_THROTTLED: &str = "Throttled scopes";
pub const GUARD_KILL_SWITCHES: &str = "Kill switches on";
pub const SYNC_AGE: &str = "Time since each pg_cron job's last success";
pub const CRON_FAILURES: &str = "pg_cron failures (last 24 h)";
pub const POOLER: &str = "Pooler pressure";
pub const STRAIN_PASS: &str = "Strain pass rate";
pub const STRAIN_LAST_RUN: &str = "Strain last run";
pub const STRAIN_READY: &str = "Upgrade ready";
pub const FIRING: &str = "Firing alerts";

// Exporter-health dashboard.
pub const SOURCES_UP: &str = "Sources up";
pub const DATA_AGE: &str = "Data age";
pub const COLLECT_DURATION: &str = "Collect duration";
pub const COLLECT_ERRORS: &str = "Collection errors";
pub const FIGURES_AVAILABLE: &str = "Figures available";
pub const CONFIG_RELOAD: &str = "Config reload";
pub const BUILD: &str = "Build";
