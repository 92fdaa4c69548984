//! Checks that serde cannot express: positive limits, ordered thresholds, a real time zone.

use rust_decimal::Decimal;

use super::{Config, QueryParam, Threshold, TierName};

/// Every problem as (dotted field path, message); empty when the config is sound.
pub fn validate(cfg: &Config) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut bad = |path: String, msg: &str| out.push((path, msg.to_string()));

    if cfg.timezone.parse::<chrono_tz::Tz>().is_err() {
        bad(
            "timezone".into(),
            "is not an IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)",
        );
    }
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
            }
        }
        if l.cron_cadence.0.is_zero() {
            bad(p("cron_cadence"), "must be greater than zero");
        }
    }
    let b = &cfg.budgets;
    for (name, v) in [
        ("daily_usd", b.daily_usd),
        ("monthly_usd", b.monthly_usd),
        ("client_daily_usd", b.client_daily_usd),
    ] {
        if v <= Decimal::ZERO {
            bad(format!("budgets.{name}"), "must be greater than zero");
        }
    }
    if !(b.alert_ratio > 0.0 && b.alert_ratio <= 1.0) {
        bad(
            "budgets.alert_ratio".into(),
            "must be above 0 and at most 1",
        );
    }
    for (fig, t) in cfg.thresholds.by_figure() {
        check_threshold(&mut out, &format!("thresholds.{}", fig.config_key()), t);
    }
    let p = &cfg.prices;
    if p.cache_read_multiplier < Decimal::ZERO {
        out.push((
            "prices.cache_read_multiplier".into(),
            "must not be negative".into(),
        ));
    }
    if p.cache_write_multiplier < Decimal::ZERO {
        out.push((
            "prices.cache_write_multiplier".into(),
            "must not be negative".into(),
        ));
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
            if v.is_some_and(|v| v < Decimal::ZERO) {
                out.push((format!("{base}.{f}"), "must not be negative".into()));
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
                if v.is_some_and(|v| v < Decimal::ZERO) {
                    out.push((
                        format!("{base}.models.{model}.{f}"),
                        "must not be negative".into(),
                    ));
                }
            }
        }
    }
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
    if cfg.max_client_labels == 0 {
        out.push(("max_client_labels".into(), "must be at least 1".into()));
    }
    super::strain::validate(&cfg.strain, &cfg.upgrade_checklist, &mut out);
    out
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
    fn zero_limit_and_inverted_threshold_are_named() {
        let mut c = Config::default();
        c.tiers.hard_launch.concurrent_jobs = 0;
        c.thresholds.error_ratio.warning = 0.2;
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
