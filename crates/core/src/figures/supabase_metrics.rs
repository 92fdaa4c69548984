//! What the Supabase metrics source reads from the project's metrics endpoint: raw gauges and
//! CPU counters of the database's machine, each a value or the reason it is absent. Plan
//! usage, memory and CPU ratios are derived in `core::supabase_plan`.

use chrono::{DateTime, Utc};

use super::db::{Connections, Fig};

/// The database's disk (`node_filesystem_*` on the configured mount point).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Disk {
    pub size_bytes: u64,
    pub avail_bytes: u64,
}

/// `node_memory_MemTotal_bytes` and `node_memory_MemAvailable_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Memory {
    pub total_bytes: u64,
    pub available_bytes: u64,
}

/// `node_cpu_seconds_total` summed over CPUs: idle, and every mode.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CpuTimes {
    pub idle_seconds: f64,
    pub total_seconds: f64,
}

/// One read of the endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct SupabaseMetricsFigures {
    pub collected_at: DateTime<Utc>,
    /// Sum of `pg_database_size_bytes` over every database (what Supabase's quota counts).
    pub database_size_bytes: Fig<u64>,
    pub disk: Fig<Disk>,
    pub memory: Fig<Memory>,
    pub cpu: Fig<CpuTimes>,
    /// The previous read's CPU counters, for the busy ratio between the two.
    pub cpu_previous: Option<(DateTime<Utc>, CpuTimes)>,
    pub connections: Fig<Connections>,
}

impl SupabaseMetricsFigures {
    /// (figure, reason when unavailable), as `DbFigures::availability`.
    pub fn availability(&self) -> Vec<(&'static str, Option<&str>)> {
        fn r<T>(f: &Fig<T>) -> Option<&str> {
            f.as_ref().err().map(|u| u.reason.as_str())
        }
        vec![
            ("supabase_database_size", r(&self.database_size_bytes)),
            ("supabase_disk", r(&self.disk)),
            ("supabase_memory", r(&self.memory)),
            ("supabase_cpu", r(&self.cpu)),
            ("supabase_connections", r(&self.connections)),
        ]
    }
}
