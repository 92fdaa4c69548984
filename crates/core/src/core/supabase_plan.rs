//! Supabase's own metrics assessed: how much of the plan's limits the project uses, and the
//! database machine's memory, CPU and connections.
//!
//! Plan usage is the largest of three parts: database size over the plan's database size
//! (Free: read-only past it), disk used over the disk the plan includes (Pro: billed past it),
//! and disk used over the disk's own size (Supabase grows the disk at 90% and makes the database
//! read-only at 95% when it cannot).

use chrono::{DateTime, Utc};

use crate::config::supabase_metrics::SupabaseMetrics;
use crate::figures::supabase_metrics::{CpuTimes, SupabaseMetricsFigures};

/// The parts of plan usage (the `resource` label).
pub const PARTS: [&str; 3] = ["database_size", "disk", "disk_volume"];

#[derive(Debug, Clone, PartialEq)]
pub struct SupabaseStatus {
    pub plan: String,
    /// The plan's limits: database size, and included disk when it has one.
    pub database_size_limit_bytes: u64,
    pub disk_limit_bytes: Option<u64>,
    pub database_size_bytes: Option<u64>,
    pub disk_used_bytes: Option<u64>,
    pub disk_size_bytes: Option<u64>,
    /// Each part of `PARTS` that could be read, as a ratio of its limit.
    pub parts: Vec<(&'static str, f64)>,
    /// The largest part: the catalogue figure's value.
    pub plan_usage: Option<f64>,
    /// 1 - MemAvailable / MemTotal.
    pub memory_used_ratio: Option<f64>,
    /// Busy share of every CPU between the last two reads.
    pub cpu_busy_ratio: Option<f64>,
    pub connections: Option<(u64, u64)>,
    pub collected_at: DateTime<Utc>,
}

/// The memory in use as a ratio, when the endpoint gave both figures.
pub fn memory_ratio(f: &SupabaseMetricsFigures) -> Option<f64> {
    let m = f.memory.as_ref().ok()?;
    (m.total_bytes > 0).then(|| {
        (1.0 - m.available_bytes.min(m.total_bytes) as f64 / m.total_bytes as f64).clamp(0.0, 1.0)
    })
}

/// Busy share between two reads of the CPU counters; None across a counter reset.
pub fn cpu_busy(previous: CpuTimes, now: CpuTimes) -> Option<f64> {
    let total = now.total_seconds - previous.total_seconds;
    let idle = now.idle_seconds - previous.idle_seconds;
    (total > 0.0 && idle >= 0.0 && idle.is_finite() && total.is_finite())
        .then(|| ((total - idle) / total).clamp(0.0, 1.0))
}

pub fn assess(cfg: &SupabaseMetrics, f: &SupabaseMetricsFigures) -> Option<SupabaseStatus> {
    let limits = cfg.limits()?;
    let database = f.database_size_bytes.as_ref().ok().copied();
    let disk = f.disk.as_ref().ok();
    let used = disk.map(|d| d.size_bytes.saturating_sub(d.avail_bytes));
    let ratio = |v: Option<u64>, of: Option<u64>| match (v, of) {
        (Some(v), Some(of)) if of > 0 => Some(v as f64 / of as f64),
        _ => None,
    };
    let parts: Vec<(&'static str, f64)> = [
        (PARTS[0], ratio(database, Some(limits.database_size_bytes))),
        (PARTS[1], ratio(used, limits.disk_bytes)),
        (PARTS[2], ratio(used, disk.map(|d| d.size_bytes))),
    ]
    .into_iter()
    .filter_map(|(p, r)| r.map(|r| (p, r)))
    .collect();
    Some(SupabaseStatus {
        plan: cfg.plan.clone(),
        database_size_limit_bytes: limits.database_size_bytes,
        disk_limit_bytes: limits.disk_bytes,
        database_size_bytes: database,
        disk_used_bytes: used,
        disk_size_bytes: disk.map(|d| d.size_bytes),
        plan_usage: parts.iter().map(|p| p.1).reduce(f64::max),
        parts,
        memory_used_ratio: memory_ratio(f),
        cpu_busy_ratio: match (&f.cpu, f.cpu_previous) {
            (Ok(now), Some((_, before))) => cpu_busy(before, *now),
            _ => None,
        },
        connections: f.connections.as_ref().ok().map(|c| (c.used, c.max)),
        collected_at: f.collected_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::supabase_metrics::{Disk, Memory};
    use crate::figures::{Connections, Unavailable};

    fn figures() -> SupabaseMetricsFigures {
        SupabaseMetricsFigures {
            collected_at: "2026-11-30T12:00:00Z".parse().unwrap(),
            database_size_bytes: Ok(400_000_000),
            disk: Ok(Disk {
                size_bytes: 8_000_000_000,
                avail_bytes: 2_000_000_000,
            }),
            memory: Ok(Memory {
                total_bytes: 1_000,
                available_bytes: 250,
            }),
            cpu: Ok(CpuTimes {
                idle_seconds: 190.0,
                total_seconds: 300.0,
            }),
            cpu_previous: Some((
                "2026-11-30T11:59:00Z".parse().unwrap(),
                CpuTimes {
                    idle_seconds: 100.0,
                    total_seconds: 200.0,
                },
            )),
            connections: Ok(Connections { used: 23, max: 60 }),
        }
    }

    #[test]
    fn free_plan_usage_is_the_database_size_over_500_mb() {
        let s = assess(&SupabaseMetrics::default(), &figures()).unwrap();
        assert_eq!(s.plan, "free");
        // Free includes no disk: its parts are database size (0.8) and the volume (0.75).
        assert_eq!(s.parts, vec![("database_size", 0.8), ("disk_volume", 0.75)]);
        assert_eq!(s.plan_usage, Some(0.8));
        assert_eq!(s.memory_used_ratio, Some(0.75));
        assert_eq!(s.cpu_busy_ratio, Some(0.1));
        assert_eq!(s.connections, Some((23, 60)));
    }

    #[test]
    fn pro_plan_counts_the_disk_it_includes() {
        let cfg = SupabaseMetrics {
            plan: "pro".into(),
            ..SupabaseMetrics::default()
        };
        let s = assess(&cfg, &figures()).unwrap();
        assert_eq!(
            s.parts,
            vec![
                ("database_size", 0.05),
                ("disk", 0.75),
                ("disk_volume", 0.75)
            ]
        );
        assert_eq!(s.disk_used_bytes, Some(6_000_000_000));
    }

    #[test]
    fn unreadable_parts_are_left_out_and_counters_resets_give_no_cpu() {
        let mut f = figures();
        f.database_size_bytes = Err(Unavailable {
            reason: "no pg_database_size_bytes".into(),
        });
        f.disk = Err(Unavailable { reason: "x".into() });
        f.cpu = Ok(CpuTimes {
            idle_seconds: 1.0,
            total_seconds: 2.0,
        });
        let s = assess(&SupabaseMetrics::default(), &f).unwrap();
        assert!(s.parts.is_empty());
        assert_eq!(s.plan_usage, None);
        assert_eq!(s.cpu_busy_ratio, None);
    }
}
