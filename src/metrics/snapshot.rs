//! Builds the exposition from the assessment (and the sources' health): the only code that
//! maps what was assessed to metric samples. Nothing is derived here.

use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;

use super::encode::Exposition;
use super::names as n;
use crate::config::Config;
use crate::core::assess::{Assessment, TOKEN_TYPES};
use crate::core::budget::{BudgetState, Scope};
use crate::state::{Collected, ReloadStatus};

fn secs(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

fn usd(d: rust_decimal::Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}

/// Every sample of one snapshot.
pub fn build(cfg: &Config, c: &Collected, a: &Assessment, reload: ReloadStatus) -> Exposition {
    let mut e = Exposition::default();
    self_metrics(&mut e, c, reload);
    if let Some(db) = &c.figures.db {
        for (figure, reason) in db.availability() {
            e.set(
                &n::FIGURE_AVAILABLE,
                &[figure],
                if reason.is_none() { 1.0 } else { 0.0 },
            );
        }
    }
    core_metrics(&mut e, cfg, c, a);
    super::periods::period_ends(&mut e, &a.periods);
    super::providers::export(&mut e, a, &c.figures);
    super::strain::samples(&mut e, &a.readiness);
    super::milestone::samples(&mut e, a.milestone.as_ref());
    e
}

fn self_metrics(e: &mut Exposition, c: &Collected, reload: ReloadStatus) {
    e.set(
        &n::BUILD_INFO,
        &[
            env!("CARGO_PKG_VERSION"),
            option_env!("LAUNCHGUARD_REVISION").unwrap_or("unknown"),
        ],
        1.0,
    );
    e.set(&n::CONFIG_RELOAD_OK, &[], if reload.ok { 1.0 } else { 0.0 });
    e.set(&n::CONFIG_RELOAD_TS, &[], secs(reload.last_success));
    for def in [
        &n::SOURCE_UP,
        &n::SOURCE_LAST_SUCCESS,
        &n::SOURCE_DURATION,
        &n::SOURCE_ERRORS,
    ] {
        e.declare(def);
    }
    for (name, st) in &c.sources {
        e.set(&n::SOURCE_UP, &[name], if st.up { 1.0 } else { 0.0 });
        if let Some(t) = st.last_success {
            e.set(&n::SOURCE_LAST_SUCCESS, &[name], secs(t));
        }
        if let Some(d) = st.last_duration_seconds {
            e.set(&n::SOURCE_DURATION, &[name], d);
        }
        for (reason, count) in &st.errors {
            e.set(&n::SOURCE_ERRORS, &[name, reason], *count as f64);
        }
    }
}

fn core_metrics(e: &mut Exposition, cfg: &Config, c: &Collected, a: &Assessment) {
    for (label, count) in &a.labels_folded {
        e.set(&n::LABELS_FOLDED, &[label], *count as f64);
    }
    tiers(e, a);
    spend(e, a);
    budgets(e, cfg, a);
    jobs(e, a);
    if let Some(db) = &c.figures.db {
        bandwidth_and_connections(e, db);
    }
    bullmq_queues(e, a);
    supabase(e, a);
    storage_and_cron(e, a);
    figures(e, cfg, a);
}

fn tiers(e: &mut Exposition, a: &Assessment) {
    e.set(&n::TIER_INFO, &[a.tier.as_str()], 1.0);
    for t in &a.tiers {
        let r = t.resource.label();
        e.set(&n::TIER_LIMIT, &[r], t.limit as f64);
        if let Some(u) = t.usage {
            e.set(&n::TIER_USAGE, &[r], u as f64);
        }
        if let Some(v) = t.ratio() {
            e.set(&n::TIER_USAGE_RATIO, &[r], v);
        }
        if let Some(v) = t.headroom() {
            e.set(&n::TIER_HEADROOM_RATIO, &[r], v);
        }
    }
}

/// Ledger usage per model, cost per provider and per client.
fn spend(e: &mut Exposition, a: &Assessment) {
    // Cost per provider sums its models; both periods share one pass.
    let mut by_provider: std::collections::BTreeMap<(&str, &str), rust_decimal::Decimal> =
        Default::default();
    for ((provider, model, period), u) in &a.usage {
        let p = period.label();
        let sum = by_provider.entry((provider.as_str(), p)).or_default();
        *sum = crate::core::bounded::Bounded::plus(*sum, u.cost_usd);
        e.set(&n::MODEL_COST_USD, &[provider, model, p], usd(u.cost_usd));
        for (i, ty) in TOKEN_TYPES.iter().enumerate() {
            e.set(&n::AI_TOKENS, &[provider, model, ty, p], u.tokens[i] as f64);
        }
        e.set(&n::AI_REQUESTS, &[provider, model, p], u.requests as f64);
        if u.characters > 0 {
            e.set(
                &n::AI_CHARACTERS,
                &[provider, model, p],
                u.characters as f64,
            );
        }
    }
    for ((provider, period), cost) in &by_provider {
        e.set(&n::COST_USD, &[provider, period], usd(*cost));
    }
    for ((client, period), cost) in &a.client_cost {
        e.set(&n::CLIENT_COST_USD, &[client, period.label()], usd(*cost));
    }
    for (client, name) in &a.client_names {
        e.set(&n::CLIENT_INFO, &[client, name], 1.0);
    }
}

/// The budgets in force (the founder's overrides are what the guard enforces) and their use.
fn budgets(e: &mut Exposition, cfg: &Config, a: &Assessment) {
    for scope in Scope::ALL {
        let v = a.budget_in_force(scope, None, a.assessed_at);
        e.set(&n::BUDGET_USD, &[scope.label()], usd(v));
    }
    e.set(&n::BUDGET_ALERT_RATIO, &[], cfg.budgets.alert_ratio);
    for s in &a.budgets {
        let scope = s.scope.label();
        e.set(&n::BUDGET_SPENT_USD, &[scope], usd(s.spent_usd));
        e.set(&n::BUDGET_USED_RATIO, &[scope], s.ratio);
        for st in BudgetState::ALL {
            e.set(
                &n::BUDGET_STATE,
                &[scope, st.label()],
                if st == s.state { 1.0 } else { 0.0 },
            );
        }
    }
    for (client, r) in &a.client_budget_ratio {
        e.set(&n::CLIENT_BUDGET_USED_RATIO, &[client], *r);
    }
}

/// The job figures `jobs_from` picks: the jobs table, BullMQ, or both.
fn jobs(e: &mut Exposition, a: &Assessment) {
    if let Ok(j) = &a.jobs {
        e.set(&n::QUEUE_DEPTH, &[], j.queued as f64);
        e.set(&n::JOBS_RUNNING, &[], j.running as f64);
        e.set(&n::VISUAL_JOBS_QUEUED, &[], j.visual_queued as f64);
        e.set(
            &n::VISUAL_JOBS_FAILED_LAST_HOUR,
            &[],
            j.visual_failed_last_hour as f64,
        );
        if let Some(m) = j.visual_mean_processing_seconds {
            e.set(&n::VISUAL_JOB_PROCESSING_SECONDS, &[], m);
        }
    }
}

/// Each BullMQ queue's states (labels capped in the assessment).
fn bullmq_queues(e: &mut Exposition, a: &Assessment) {
    for q in &a.queues {
        let queue = q.label.as_str();
        let f = &q.figures;
        for (state, v) in [
            ("waiting", f.waiting),
            ("prioritized", f.prioritized),
            ("delayed", f.delayed),
            ("delayed_due", f.delayed_due),
            ("active", f.active),
            ("waiting_children", f.waiting_children),
        ] {
            e.set(&n::BULLMQ_QUEUE_JOBS, &[queue, state], v as f64);
        }
        e.set(&n::BULLMQ_QUEUE_DEPTH, &[queue], q.depth as f64);
        e.set(
            &n::BULLMQ_QUEUE_PAUSED,
            &[queue],
            f64::from(u8::from(f.paused)),
        );
        for (result, v) in [
            ("completed", f.completed_last_hour),
            ("failed", f.failed_last_hour),
        ] {
            e.set(
                &n::BULLMQ_QUEUE_FINISHED_LAST_HOUR,
                &[queue, result],
                v as f64,
            );
        }
        if let Some(m) = q.mean_processing_seconds {
            e.set(&n::BULLMQ_QUEUE_PROCESSING_SECONDS, &[queue], m);
        }
    }
}

/// Supabase's own metrics against the plan.
fn supabase(e: &mut Exposition, a: &Assessment) {
    let Some(s) = &a.supabase else { return };
    for (part, r) in &s.parts {
        e.set(&n::SUPABASE_PLAN_USAGE_RATIO, &[part], *r);
    }
    if let Some(u) = s.plan_usage {
        e.set(&n::SUPABASE_PLAN_USED_RATIO, &[], u);
        e.set(&n::SUPABASE_PLAN_HEADROOM_RATIO, &[], 1.0 - u);
    }
    let limits = [
        ("database_size", Some(s.database_size_limit_bytes)),
        ("disk", s.disk_limit_bytes),
    ];
    for (part, v) in limits {
        if let Some(v) = v {
            e.set(&n::SUPABASE_PLAN_LIMIT_BYTES, &[part], v as f64);
        }
    }
    if let Some(v) = s.database_size_bytes {
        e.set(&n::SUPABASE_DATABASE_SIZE_BYTES, &[], v as f64);
    }
    for (state, v) in [("used", s.disk_used_bytes), ("size", s.disk_size_bytes)] {
        if let Some(v) = v {
            e.set(&n::SUPABASE_DISK_BYTES, &[state], v as f64);
        }
    }
    if let Some(v) = s.memory_used_ratio {
        e.set(&n::SUPABASE_MEMORY_USED_RATIO, &[], v);
    }
    if let Some(v) = s.cpu_busy_ratio {
        e.set(&n::SUPABASE_CPU_BUSY_RATIO, &[], v);
    }
    if let Some((used, max)) = s.connections {
        e.set(&n::SUPABASE_CONNECTIONS, &["used"], used as f64);
        e.set(&n::SUPABASE_CONNECTIONS, &["max"], max as f64);
    }
}

/// Bandwidth and connections as the database source read them.
fn bandwidth_and_connections(e: &mut Exposition, db: &crate::figures::DbFigures) {
    if let Ok(bw) = &db.bandwidth_today_bytes {
        e.set(&n::BANDWIDTH_BYTES, &["day"], *bw as f64);
    }
    if let Ok(conn) = &db.connections {
        e.set(&n::DB_CONNECTIONS, &[], conn.used as f64);
        e.set(&n::DB_MAX_CONNECTIONS, &[], conn.max as f64);
    }
}

fn storage_and_cron(e: &mut Exposition, a: &Assessment) {
    if let Some(r) = a.visual_risk {
        e.set(&n::VISUAL_JOB_RISK, &[], r.total);
        for (part, v) in [("queue", r.queue), ("failure", r.failure), ("time", r.time)] {
            e.set(&n::VISUAL_JOB_RISK_COMPONENT, &[part], v);
        }
    }
    if let Some(v) = a.storage_database_bytes {
        e.set(&n::STORAGE_BYTES, &["database"], v as f64);
    }
    if let Some(v) = a.storage_objects_bytes {
        e.set(&n::STORAGE_BYTES, &["objects"], v as f64);
    }
    for (bucket, bytes) in &a.storage_buckets {
        e.set(&n::STORAGE_BUCKET_BYTES, &[bucket], *bytes as f64);
    }
    for j in &a.cron {
        let job = j.job.as_str();
        if let Some(v) = j.load_ratio {
            e.set(&n::CRON_LOAD_RATIO, &[job], v);
        }
        if let Some(v) = j.schedule_interval_seconds {
            e.set(&n::CRON_SCHEDULE_INTERVAL, &[job], v);
        }
        if let Some(v) = j.expected_interval_seconds {
            e.set(&n::CRON_EXPECTED_INTERVAL, &[job], v);
        }
        e.set(&n::CRON_FAILURES, &[job], j.failures_last_day as f64);
        if let Some(t) = j.last_success {
            e.set(&n::CRON_LAST_SUCCESS, &[job], secs(t));
        }
    }
}

/// Every catalogue figure's value, level and thresholds, and the API figures by their own
/// names.
fn figures(e: &mut Exposition, cfg: &Config, a: &Assessment) {
    use crate::core::levels::FigureName as F;
    if let Some(v) = a.figure(F::ResponseTime).and_then(|f| f.value) {
        e.set(&n::API_RESPONSE, &["p95"], v);
    }
    if let Some(v) = a.figure(F::ErrorRate).and_then(|f| f.value) {
        e.set(&n::API_ERROR_RATIO, &[], v);
    }
    if let Some(v) = a.api_requests_5m {
        e.set(&n::API_REQUESTS_5M, &[], v as f64);
    }
    for (fig, t) in cfg.thresholds.by_figure() {
        e.set(&n::THRESHOLD, &[fig.label(), "warning"], t.warning);
        e.set(&n::THRESHOLD, &[fig.label(), "critical"], t.critical);
    }
    for f in &a.figures {
        if let (Some(v), Some(l)) = (f.value, f.level) {
            e.set(&n::FIGURE_VALUE, &[f.figure.label()], v);
            e.set(&n::FIGURE_LEVEL, &[f.figure.label()], l as i32 as f64);
        }
    }
}
