//! pg_cron schedules: how often a job is meant to run, and its load.

use chrono::{DateTime, Utc};

/// Shortest gap between the next runs of a pg_cron schedule, in seconds: a five-field cron
/// expression or pg_cron's `N seconds` form. `None` when the schedule cannot be read.
pub fn schedule_interval_seconds(schedule: &str, now: DateTime<Utc>) -> Option<f64> {
    let s = schedule.trim();
    if let Some(n) = s
        .strip_suffix("seconds")
        .or_else(|| s.strip_suffix("second"))
    {
        return n.trim().parse::<f64>().ok().filter(|v| *v > 0.0);
    }
    let cron: croner::Cron = s.parse().ok()?;
    let mut t = now;
    let mut best: Option<f64> = None;
    let mut prev: Option<DateTime<Utc>> = None;
    for _ in 0..6 {
        let next = cron.find_next_occurrence(&t, false).ok()?;
        if let Some(p) = prev {
            let gap = (next - p).num_seconds() as f64;
            best = Some(best.map_or(gap, |b: f64| b.min(gap)));
        }
        prev = Some(next);
        t = next;
    }
    best
}

/// Mean run time over the schedule interval; the cron load figure is the largest of these.
pub fn load_ratio(mean_run_seconds: Option<f64>, interval_seconds: Option<f64>) -> Option<f64> {
    match (mean_run_seconds, interval_seconds) {
        (Some(m), Some(i)) if i > 0.0 => Some(m.max(0.0) / i),
        (None, Some(_)) => Some(0.0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-26T10:07:00Z".parse().unwrap()
    }

    #[test]
    fn common_schedules() {
        assert_eq!(schedule_interval_seconds("*/5 * * * *", now()), Some(300.0));
        assert_eq!(schedule_interval_seconds("0 * * * *", now()), Some(3600.0));
        assert_eq!(schedule_interval_seconds("0 3 * * *", now()), Some(86400.0));
        assert_eq!(schedule_interval_seconds("30 seconds", now()), Some(30.0));
        assert_eq!(schedule_interval_seconds("nonsense", now()), None);
    }

    #[test]
    fn load_is_mean_over_interval() {
        assert_eq!(load_ratio(Some(45.0), Some(60.0)), Some(0.75));
        assert_eq!(load_ratio(None, Some(60.0)), Some(0.0));
        assert_eq!(load_ratio(Some(1.0), None), None);
    }
}
