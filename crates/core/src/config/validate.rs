//! Checks that serde cannot express: positive limits, ordered thresholds, (the time zone is checked when it is read).

use rust_decimal::Decimal;

use super::{Config, QueryParam, Threshold, TierName};
use crate::core::bounded;

/// Largest accepted label cap: beyond it a label stops bounding anything.
pub const MAX_LABEL_CAP: usize = 10_000;

/// Every problem as (dotted field path, message); empty when the config is sound.
pub fn validate(cfg: &Config) -> Vec<(String, String)> {
    let mut out = Vec::new();
    validate_tiers(&mut out, cfg);
    validate_budgets(&mut out, cfg);
    validate_thresholds(&mut out, cfg);
    validate_prices(&mut out, cfg);
    validate_database(&mut out, cfg);
    super::providers::validate(&cfg.providers, &mut out);
    validate_label_caps(&mut out, cfg);
    super::guard::validate(&cfg.guard, &mut out);
    super::server::validate(&cfg.server, &mut out);
    super::vercel::validate(&cfg.vercel_drain, &mut out);
    validate_sources(&mut out, cfg);
    validate_kit(&mut out, cfg);
    super::strain::validate(&cfg.strain, &cfg.upgrade_checklist, &mut out);
    super::milestone::validate(&cfg.milestone, &mut out);
    out
}

/// BullMQ and Supabase's metrics endpoint, which `strain.memory_source: supabase` reads too.
fn validate_sources(out: &mut Vec<(String, String)>, cfg: &Config) {
    super::bullmq::validate(cfg.jobs_from, &cfg.bullmq, out);
    let strain_reads_supabase = cfg.strain.memory_source == super::MemorySourceName::Supabase;
    super::supabase_metrics::validate(&cfg.supabase_metrics, strain_reads_supabase, out);
    if strain_reads_supabase && cfg.strain.memory_interval.0.as_secs() < 5 {
        out.push((
            "strain.memory_interval".into(),
            "must be at least 5s when memory_source is supabase (its endpoint changes once a minute)"
                .into(),
        ));
    }
}

/// Every tier limit is a positive count within the bounds, every cadence positive.
fn validate_tiers(out: &mut Vec<(String, String)>, cfg: &Config) {
    let mut bad = |path: String, msg: &str| out.push((path, msg.to_string()));
    for t in TierName::ALL {
        let l = cfg.tiers.get(t);
        let p = |f: &str| format!("tiers.{}.{f}", t.as_str());
        for (name, v) in [
            ("clients", l.clients),
            ("ai_tokens_per_day", l.ai_tokens_per_day),
            ("visual_jobs_per_day", l.visual_jobs_per_day),
            ("concurrent_jobs", l.concurrent_jobs),
            ("api_requests_per_minute", l.api_requests_per_minute),
        ] {
            if v == 0 {
                bad(p(name), "must be greater than zero");
            } else if let Some(problem) = bounded::count_problem(v) {
                bad(p(name), &problem);
            }
        }
        if l.cron_cadence.0.is_zero() {
            bad(p("cron_cadence"), "must be greater than zero");
        }
    }
}

/// Budgets are positive dollar amounts within the bounds; the alert ratio a fraction.
fn validate_budgets(out: &mut Vec<(String, String)>, cfg: &Config) {
    let mut bad = |path: String, msg: &str| out.push((path, msg.to_string()));
    let b = &cfg.budgets;
    for (name, v) in [
        ("daily_usd", b.daily_usd),
        ("monthly_usd", b.monthly_usd),
        ("client_daily_usd", b.client_daily_usd),
    ] {
        if v <= Decimal::ZERO {
            bad(format!("budgets.{name}"), "must be greater than zero");
        } else if let Some(problem) = bounded::usd_problem(v) {
            bad(format!("budgets.{name}"), &problem);
        }
    }
    if !(b.alert_ratio > 0.0 && b.alert_ratio <= 1.0) {
        bad(
            "budgets.alert_ratio".into(),
            "must be above 0 and at most 1",
        );
    }
}

/// Each figure's thresholds and the kit's own, ordered warning before critical.
fn validate_thresholds(out: &mut Vec<(String, String)>, cfg: &Config) {
    for (fig, t) in cfg.thresholds.by_figure() {
        check_threshold(out, &format!("thresholds.{}", fig.config_key()), t);
    }
    check_threshold(out, "kit.rules.pooler_ratio", cfg.kit.rules.pooler_ratio);
    check_threshold(out, "kit.rules.cron_failures", cfg.kit.rules.cron_failures);
    check_threshold(
        out,
        "kit.rules.sync_job_late_cadences",
        cfg.kit.rules.sync_job_late_cadences,
    );
    check_threshold(
        out,
        "kit.rules.elevenlabs_quota_ratio",
        cfg.kit.rules.elevenlabs_quota_ratio,
    );
}

/// Prices within the bounds of one request's cost, cache multipliers sane.
fn validate_prices(out: &mut Vec<(String, String)>, cfg: &Config) {
    let p = &cfg.prices;
    for (f, v) in [
        ("cache_read_multiplier", p.cache_read_multiplier),
        ("cache_write_multiplier", p.cache_write_multiplier),
    ] {
        if v < Decimal::ZERO {
            out.push((format!("prices.{f}"), "must not be negative".into()));
        } else if v > Decimal::from(1000) {
            out.push((format!("prices.{f}"), "must be at most 1000".into()));
        }
    }
    for (prov, pp) in &p.providers {
        let base = format!("prices.providers.{prov}");
        let fields = [
            ("input_per_mtok", Some(pp.input_per_mtok)),
            ("output_per_mtok", Some(pp.output_per_mtok)),
            ("cache_read_per_mtok", pp.cache_read_per_mtok),
            ("cache_write_per_mtok", pp.cache_write_per_mtok),
            ("per_1k_characters", Some(pp.per_1k_characters)),
            ("per_request", Some(pp.per_request)),
        ];
        for (f, v) in fields {
            if let Some(problem) = v.and_then(bounded::usd_problem) {
                out.push((format!("{base}.{f}"), problem));
            }
        }
        for (model, mp) in &pp.models {
            let fields = [
                ("input_per_mtok", mp.input_per_mtok),
                ("output_per_mtok", mp.output_per_mtok),
                ("cache_read_per_mtok", mp.cache_read_per_mtok),
                ("cache_write_per_mtok", mp.cache_write_per_mtok),
                ("per_1k_characters", mp.per_1k_characters),
                ("per_request", mp.per_request),
            ];
            for (f, v) in fields {
                if let Some(problem) = v.and_then(bounded::usd_problem) {
                    out.push((format!("{base}.models.{model}.{f}"), problem));
                }
            }
        }
    }
}

/// Collection intervals positive, the pool not empty, range parameters only where bound.
fn validate_database(out: &mut Vec<(String, String)>, cfg: &Config) {
    let d = &cfg.database;
    for (name, v) in [
        ("interval", d.interval),
        ("timeout", d.timeout),
        ("closed_days_refresh", d.closed_days_refresh),
    ] {
        if v.0.is_zero() {
            out.push((
                format!("database.{name}"),
                "must be greater than zero".into(),
            ));
        }
    }
    if d.pool_size == 0 {
        out.push(("database.pool_size".into(), "must be at least 1".into()));
    }
    if d.settle.0 > std::time::Duration::from_secs(86_400) {
        out.push(("database.settle".into(), "must be at most 1 day".into()));
    }
    for (name, q) in &d.queries {
        let base = format!("database.queries.{}", name.as_str());
        if q.sql.trim().is_empty() {
            out.push((format!("{base}.sql"), "must not be empty".into()));
        }
        let range_only = *name == super::QueryName::Usage;
        for (i, prm) in q.params.iter().enumerate() {
            let is_range = matches!(prm, QueryParam::From | QueryParam::To);
            if is_range != range_only && is_range {
                out.push((
                    format!("{base}.params.{i}"),
                    "`from` and `to` are bound only for the usage query".into(),
                ));
            }
        }
    }
}

/// Every data-fed label cap between 1 and `MAX_LABEL_CAP`.
fn validate_label_caps(out: &mut Vec<(String, String)>, cfg: &Config) {
    for (field, cap) in [
        ("max_client_labels", cfg.max_client_labels),
        ("max_provider_labels", cfg.max_provider_labels),
        ("max_model_labels", cfg.max_model_labels),
        ("max_bucket_labels", cfg.max_bucket_labels),
        ("max_cron_job_labels", cfg.max_cron_job_labels),
    ] {
        if !(1..=MAX_LABEL_CAP).contains(&cap) {
            out.push((
                field.into(),
                format!("must be between 1 and {MAX_LABEL_CAP}"),
            ));
        }
    }
}

fn validate_kit(out: &mut Vec<(String, String)>, cfg: &Config) {
    let k = &cfg.kit;
    let mut bad = |path: &str, msg: &str| out.push((format!("kit.{path}"), msg.to_string()));
    if !(k.runbook_url.is_empty()
        || k.runbook_url.starts_with("https://")
        || k.runbook_url.starts_with("http://"))
    {
        bad(
            "runbook_url",
            "must be an http(s) address of docs/runbooks.md",
        );
    }
    let r = &k.rules;
    if !(r.tier_near_ratio > 0.0 && r.tier_near_ratio <= 1.0) {
        bad("rules.tier_near_ratio", "must be above 0 and at most 1");
    }
    if r.pooler_ratio.critical > 1.0 {
        bad("rules.pooler_ratio.critical", "must be at most 1");
    }
    if r.cron_failures.warning < 1.0 {
        bad(
            "rules.cron_failures.warning",
            "must be at least 1 (a count of failed runs)",
        );
    }
    if r.sync_job_late_cadences.warning < 1.0 {
        bad(
            "rules.sync_job_late_cadences.warning",
            "must be at least 1 cadence",
        );
    }
    if r.source_stale.warning <= cfg.database.interval {
        bad(
            "rules.source_stale.warning",
            "must be longer than database.interval, or it fires between two collections",
        );
    }
    if r.source_stale.critical < r.source_stale.warning {
        bad(
            "rules.source_stale.critical",
            "must not be shorter than the warning",
        );
    }
    let w = r.cron_failures_window.0;
    if w < std::time::Duration::from_secs(300) || w > std::time::Duration::from_secs(86_400) {
        bad("rules.cron_failures_window", "must be between 5m and 24h");
    }
    validate_provider_rules(&mut bad, r);
    if r.error_rate_min_requests > 1_000_000_000 {
        bad(
            "rules.error_rate_min_requests",
            "must be at most 1000000000",
        );
    }
    validate_alertmanager(out, &k.alertmanager);
    validate_heartbeat(out, &k.alertmanager.heartbeat);
    validate_prometheus(out, &k.prometheus);
}

/// Drift, credits, quota and forecast thresholds: finite, in range, and the falling credits
/// threshold ordered the other way (the warning at more dollars than the critical).
fn validate_provider_rules(bad: &mut impl FnMut(&str, &str), r: &super::kit::KitRules) {
    let dollars = |v: f64| v.is_finite() && (0.0..=1e9).contains(&v);
    if !(dollars(r.ledger_drift_usd) && r.ledger_drift_usd > 0.0) {
        bad(
            "rules.ledger_drift_usd",
            "must be above 0 and at most 1000000000",
        );
    }
    if !(r.ledger_drift_ratio > 0.0 && r.ledger_drift_ratio <= 1.0) {
        bad("rules.ledger_drift_ratio", "must be above 0 and at most 1");
    }
    let credits = r.openrouter_credits_usd;
    if !dollars(credits.warning) {
        bad(
            "rules.openrouter_credits_usd.warning",
            "must be between 0 and 1000000000 dollars",
        );
    }
    if !dollars(credits.critical) || credits.critical > credits.warning {
        bad(
            "rules.openrouter_credits_usd.critical",
            "must be between 0 and the warning (it fires as the credits fall)",
        );
    }
    let key = r.openrouter_key_limit_left_ratio;
    if !(0.0..=1.0).contains(&key.warning) {
        bad(
            "rules.openrouter_key_limit_left_ratio.warning",
            "must be between 0 and 1",
        );
    }
    if !(0.0..=1.0).contains(&key.critical) || key.critical > key.warning {
        bad(
            "rules.openrouter_key_limit_left_ratio.critical",
            "must be between 0 and the warning (it fires as the limit's share left falls)",
        );
    }
    if r.elevenlabs_drift_characters > 1_000_000_000_000 {
        bad(
            "rules.elevenlabs_drift_characters",
            "must be at most 1000000000000",
        );
    }
    if r.elevenlabs_quota_ratio.critical > 1.0 {
        bad("rules.elevenlabs_quota_ratio.critical", "must be at most 1");
    }
    if !(r.budget_forecast_ratio > 0.0 && r.budget_forecast_ratio <= 10.0) {
        bad(
            "rules.budget_forecast_ratio",
            "must be above 0 and at most 10",
        );
    }
}

/// The Watchdog's dead-man's-switch URL and ping period.
fn validate_heartbeat(out: &mut Vec<(String, String)>, beat: &super::kit::Heartbeat) {
    let mut bad = |path: &str, msg: &str| out.push((format!("kit.{path}"), msg.to_string()));
    if !(beat.url.starts_with("https://") || beat.url.starts_with("http://")) {
        bad("alertmanager.heartbeat.url", "must be an http(s) address");
    }
    if beat.url.contains('@') || beat.url.contains("token=") || beat.url.contains("key=") {
        bad(
            "alertmanager.heartbeat.url",
            "must not carry credentials: put the token in credentials_file",
        );
    }
    let repeat = beat.repeat_interval.0;
    if repeat < std::time::Duration::from_secs(60)
        || repeat > std::time::Duration::from_secs(86_400)
    {
        bad(
            "alertmanager.heartbeat.repeat_interval",
            "must be between 1m and 24h",
        );
    }
}

/// Alertmanager's timings, the email addresses and the SMS route.
fn validate_alertmanager(out: &mut Vec<(String, String)>, am: &super::kit::KitAlertmanager) {
    let mut bad = |path: &str, msg: &str| out.push((format!("kit.{path}"), msg.to_string()));
    for (name, d) in [
        ("group_wait", am.group_wait),
        ("group_interval", am.group_interval),
    ] {
        if d.0.is_zero() {
            bad(&format!("alertmanager.{name}"), "must be greater than zero");
        }
    }
    if am.email.to.is_empty() {
        bad("alertmanager.email.to", "needs at least one address");
    }
    for (i, a) in am.email.to.iter().enumerate() {
        if !is_email(a) {
            bad(
                &format!("alertmanager.email.to.{i}"),
                "is not an email address",
            );
        }
    }
    if !is_email(&am.email.from) {
        bad("alertmanager.email.from", "is not an email address");
    }
    if !is_host_port(&am.email.smarthost) {
        bad("alertmanager.email.smarthost", "must be host:port");
    }
    let sms = &am.sms;
    match sms.via {
        super::kit::SmsVia::Sns => {
            if sms.phone_numbers.is_empty() {
                bad(
                    "alertmanager.sms.phone_numbers",
                    "needs at least one number",
                );
            }
            for (i, n) in sms.phone_numbers.iter().enumerate() {
                if !is_e164(n) {
                    bad(
                        &format!("alertmanager.sms.phone_numbers.{i}"),
                        "must be an E.164 number: + then up to 15 digits, e.g. +14155550100",
                    );
                }
            }
            if sms.sns.region.trim().is_empty() {
                bad("alertmanager.sms.sns.region", "must name an AWS region");
            }
        }
        super::kit::SmsVia::Webhook => {
            let u = &sms.webhook.url;
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                bad("alertmanager.sms.webhook.url", "must be an http(s) address");
            }
            if u.contains('@') || u.contains("token=") || u.contains("key=") {
                bad(
                    "alertmanager.sms.webhook.url",
                    "must not carry credentials: put the token in credentials_file",
                );
            }
        }
    }
}

/// Prometheus' intervals, targets and the Supabase scrape job.
fn validate_prometheus(out: &mut Vec<(String, String)>, p: &super::kit::KitPrometheus) {
    let mut bad = |path: &str, msg: &str| out.push((format!("kit.{path}"), msg.to_string()));
    for (name, d) in [
        ("scrape_interval", p.scrape_interval),
        ("evaluation_interval", p.evaluation_interval),
        ("supabase.scrape_interval", p.supabase.scrape_interval),
    ] {
        if d.0.is_zero() {
            bad(&format!("prometheus.{name}"), "must be greater than zero");
        }
    }
    for (field, list) in [
        ("launchguard_targets", &p.launchguard_targets),
        ("alertmanagers", &p.alertmanagers),
    ] {
        if list.is_empty() {
            bad(
                &format!("prometheus.{field}"),
                "needs at least one host:port",
            );
        }
        for (i, t) in list.iter().enumerate() {
            if !is_host_port(t) {
                bad(&format!("prometheus.{field}.{i}"), "must be host:port");
            }
        }
    }
    let ps = &p.supabase;
    let ref_ok = !ps.project_ref.is_empty()
        && ps
            .project_ref
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ps.enabled && !ref_ok {
        bad(
            "prometheus.supabase.project_ref",
            "must be the project reference (letters, digits and -)",
        );
    }
}

fn is_email(s: &str) -> bool {
    let t = s.trim();
    matches!(t.split_once('@'), Some((u, d)) if !u.is_empty() && d.contains('.') && !t.contains(char::is_whitespace))
}

fn is_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((h, p)) => !h.is_empty() && !h.contains('/') && p.parse::<u16>().is_ok_and(|p| p > 0),
        None => false,
    }
}

/// E.164: a plus sign, a non-zero country digit, at most 15 digits in all.
fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|d| {
        (2..=15).contains(&d.len()) && d.chars().all(|c| c.is_ascii_digit()) && !d.starts_with('0')
    })
}

fn check_threshold(out: &mut Vec<(String, String)>, path: &str, t: Threshold) {
    if !(t.warning.is_finite() && t.warning >= 0.0) {
        out.push((format!("{path}.warning"), "must be a number >= 0".into()));
    }
    if !(t.critical.is_finite() && t.critical > 0.0) {
        out.push((format!("{path}.critical"), "must be a number > 0".into()));
    }
    if t.warning > t.critical {
        out.push((
            format!("{path}.warning"),
            "warning must not be above critical".into(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(validate(&Config::default()).is_empty());
    }

    #[test]
    fn provider_alert_thresholds_are_bounded_and_credits_fall() {
        let mut c = Config::default();
        c.kit.rules.ledger_drift_usd = f64::NAN;
        c.kit.rules.ledger_drift_ratio = 1.5;
        c.kit.rules.openrouter_credits_usd.critical = 30.0;
        c.kit.rules.openrouter_key_limit_left_ratio.critical = 0.5;
        c.kit.rules.elevenlabs_quota_ratio.critical = 1.2;
        c.kit.rules.budget_forecast_ratio = 0.0;
        let fields: Vec<String> = validate(&c).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "kit.rules.ledger_drift_usd",
                "kit.rules.ledger_drift_ratio",
                "kit.rules.openrouter_credits_usd.critical",
                "kit.rules.openrouter_key_limit_left_ratio.critical",
                "kit.rules.elevenlabs_quota_ratio.critical",
                "kit.rules.budget_forecast_ratio",
            ]
        );
    }

    #[test]
    fn label_caps_are_bounded_both_ways() {
        let c = Config {
            max_model_labels: 0,
            max_cron_job_labels: MAX_LABEL_CAP + 1,
            max_bucket_labels: MAX_LABEL_CAP,
            ..Config::default()
        };
        let paths: Vec<_> = validate(&c).into_iter().map(|e| e.0).collect();
        assert_eq!(paths, ["max_model_labels", "max_cron_job_labels"]);
    }

    #[test]
    fn kit_phone_numbers_and_addresses_are_checked() {
        let mut c = Config::default();
        c.kit.alertmanager.sms.phone_numbers = vec!["+14155550100".into(), "0155 555".into()];
        c.kit.alertmanager.email.to = vec!["founder".into()];
        c.kit.prometheus.launchguard_targets = vec!["http://x:1/metrics".into()];
        c.kit.rules.source_stale.warning = c.database.interval;
        let paths: Vec<_> = validate(&c).into_iter().map(|e| e.0).collect();
        assert_eq!(
            paths,
            [
                "kit.rules.source_stale.warning",
                "kit.alertmanager.email.to.0",
                "kit.alertmanager.sms.phone_numbers.1",
                "kit.prometheus.launchguard_targets.0",
            ]
        );
        assert!(is_e164("+4930123456"));
        assert!(!is_e164("+1234567890123456"));
        assert!(!is_e164("+0123"));
    }

    #[test]
    fn a_webhook_url_with_a_token_is_refused() {
        let mut c = Config::default();
        c.kit.alertmanager.sms.via = crate::config::kit::SmsVia::Webhook;
        c.kit.alertmanager.sms.webhook.url = "https://bridge.example.com/?token=abc".into();
        let errs = validate(&c);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].0, "kit.alertmanager.sms.webhook.url");
        assert!(!errs[0].1.contains("abc"));
    }

    #[test]
    fn a_heartbeat_url_with_a_token_or_an_absurd_repeat_is_refused() {
        let mut c = Config::default();
        c.kit.alertmanager.heartbeat.url = "https://user:pw@hc.example.com/ping".into();
        c.kit.alertmanager.heartbeat.repeat_interval = crate::config::Dur::from_secs(1);
        let errs = validate(&c);
        let fields: Vec<&str> = errs.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            fields,
            [
                "kit.alertmanager.heartbeat.url",
                "kit.alertmanager.heartbeat.repeat_interval"
            ],
            "{errs:?}"
        );
        assert!(errs.iter().all(|e| !e.1.contains("pw")));
    }

    #[test]
    fn absurd_money_and_counts_are_located_config_errors() {
        // The examples: accepted by `check` before, then every admit panicked.
        let text = "budgets:\n  daily_usd: 1e20\ntiers:\n  growth:\n    ai_tokens_per_day: 18000000000000000000\nprices:\n  providers:\n    openai:\n      input_per_mtok: 1e25\n";
        let errs = crate::config::load_str(text).unwrap_err();
        let got: Vec<_> = errs.iter().map(|e| (e.field.as_str(), e.line)).collect();
        assert_eq!(
            got,
            [
                ("tiers.growth.ai_tokens_per_day", Some(5)),
                ("budgets.daily_usd", Some(2)),
                ("prices.providers.openai.input_per_mtok", Some(9)),
            ],
            "{errs:?}"
        );
        assert!(errs[1].message.contains("at most 1000000"), "{}", errs[1]);
    }

    #[test]
    fn zero_limit_and_inverted_threshold_are_named() {
        let mut c = Config::default();
        c.tiers.hard_launch.concurrent_jobs = 0;
        c.thresholds.set(
            crate::catalogue::FigureName::ErrorRate,
            Threshold {
                warning: 0.2,
                critical: 0.05,
            },
        );
        let errs = validate(&c);
        let paths: Vec<_> = errs.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            paths,
            [
                "tiers.hard_launch.concurrent_jobs",
                "thresholds.error_ratio.warning"
            ]
        );
    }
}
