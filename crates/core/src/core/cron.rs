//! pg_cron schedules: how often a job is meant to run, and its load.

use chrono::{DateTime, Utc};

use crate::figures::CronJobRow;

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

/// One job seen by two sources (pg_cron, and the Vercel drain's runs of the sync job) under one
/// name: the newest success and run, the failures of both, the longer mean run time.
pub fn merge(rows: &mut Vec<CronJobRow>, other: CronJobRow) {
    match rows.iter_mut().find(|r| r.job == other.job) {
        None => rows.push(other),
        Some(r) => {
            r.last_success = r.last_success.max(other.last_success);
            r.last_run = r.last_run.max(other.last_run);
            r.failures_last_day = r.failures_last_day.saturating_add(other.failures_last_day);
            r.mean_run_seconds = match (r.mean_run_seconds, other.mean_run_seconds) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            if r.schedule.is_empty() {
                r.schedule = other.schedule;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(job: &str, ok: Option<&str>, failures: u64) -> CronJobRow {
        CronJobRow {
            job: job.into(),
            schedule: "0 * * * *".into(),
            active: true,
            mean_run_seconds: Some(2.0),
            failures_last_day: failures,
            last_success: ok.map(|t| t.parse().unwrap()),
            last_run: None,
        }
    }

    #[test]
    fn merges_one_job_seen_by_two_sources() {
        let mut rows = vec![
            row("platform-sync", Some("2026-11-30T10:00:00Z"), 1),
            row("other", None, 0),
        ];
        merge(
            &mut rows,
            row("platform-sync", Some("2026-11-30T11:00:00Z"), 2),
        );
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].failures_last_day, 3);
        assert_eq!(
            rows[0].last_success,
            Some("2026-11-30T11:00:00Z".parse().unwrap())
        );
        merge(&mut rows, row("vercel-only", None, 0));
        assert_eq!(rows.len(), 3);
    }

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
