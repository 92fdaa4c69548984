//! When each budget period ends, so the kit's forecasts can run to local midnight or month end
//! in the configured time zone (PromQL only knows UTC).

use chrono::{DateTime, Utc};

use super::encode::Exposition;
use super::names as n;
use crate::config::Config;
use crate::core::budget::Scope;
use crate::core::periods;

/// Start of the local month after the one containing `now`: 32 days after a month's first day
/// is always inside the next month.
fn next_month_start(now: DateTime<Utc>, cfg: &Config) -> DateTime<Utc> {
    let tz = cfg.tz();
    periods::month_start(
        periods::month_start(now, tz) + chrono::Duration::days(32),
        tz,
    )
}

pub fn period_ends(e: &mut Exposition, cfg: &Config, now: DateTime<Utc>) {
    let tz = cfg.tz();
    let day_end = periods::next_day_start(now, tz);
    let month_end = next_month_start(now, cfg);
    for s in Scope::ALL {
        let end = match s {
            Scope::Daily | Scope::ClientDaily => day_end,
            Scope::Monthly => month_end,
        };
        e.set(
            &n::BUDGET_PERIOD_END,
            &[s.label()],
            end.timestamp_millis() as f64 / 1000.0,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_at_local_midnight_and_month_start() {
        let cfg = Config {
            timezone: "Europe/Berlin".parse().unwrap(),
            ..Config::default()
        };
        let now: DateTime<Utc> = "2026-11-30T20:00:00Z".parse().unwrap();
        let mut e = Exposition::default();
        period_ends(&mut e, &cfg, now);
        let day: DateTime<Utc> = "2026-11-30T23:00:00Z".parse().unwrap();
        let name = n::BUDGET_PERIOD_END.name;
        assert_eq!(
            e.get(name, &[("scope", "daily")]),
            Some(day.timestamp() as f64)
        );
        assert_eq!(
            e.get(name, &[("scope", "monthly")]),
            Some(day.timestamp() as f64)
        );
        let dec: DateTime<Utc> = "2026-12-15T10:00:00Z".parse().unwrap();
        let mut e = Exposition::default();
        period_ends(&mut e, &cfg, dec);
        let jan: DateTime<Utc> = "2026-12-31T23:00:00Z".parse().unwrap();
        assert_eq!(
            e.get(name, &[("scope", "monthly")]),
            Some(jan.timestamp() as f64)
        );
    }
}
