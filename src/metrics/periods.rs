//! When each budget period ends, so the kit's forecasts can run to local midnight or month end
//! in the configured time zone (PromQL only knows UTC).

use super::encode::Exposition;
use super::names as n;
use crate::core::budget::Scope;
use crate::core::periods::Periods;

pub fn period_ends(e: &mut Exposition, p: &Periods) {
    for s in Scope::ALL {
        let end = match s {
            Scope::Daily | Scope::ClientDaily => p.next_day_start,
            Scope::Monthly => p.next_month_start,
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
    use chrono::{DateTime, Utc};

    #[test]
    fn ends_at_local_midnight_and_month_start() {
        let tz: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
        let now: DateTime<Utc> = "2026-11-30T20:00:00Z".parse().unwrap();
        let mut e = Exposition::default();
        period_ends(&mut e, &Periods::at(now, tz));
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
        period_ends(&mut e, &Periods::at(dec, tz));
        let jan: DateTime<Utc> = "2026-12-31T23:00:00Z".parse().unwrap();
        assert_eq!(
            e.get(name, &[("scope", "monthly")]),
            Some(jan.timestamp() as f64)
        );
    }
}
