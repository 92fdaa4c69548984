//! The database source's figures: raw values, before any assessment. Each figure is either a
//! value or the reason it is absent, so one missing table never hides the others.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// Why a figure has no value (a missing table, extension or column; a failed query).
#[derive(Debug, Clone, PartialEq)]
pub struct Unavailable {
    pub reason: String,
}

pub type Fig<T> = Result<T, Unavailable>;

/// One group of ledger rows: a client, provider and model, priced or not.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UsageRow {
    pub client_id: Option<String>,
    pub provider: String,
    pub model: String,
    /// The rows carried their own `cost_usd`, which is taken as is.
    pub priced: bool,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub characters: u64,
    pub requests: u64,
    pub cost_usd: Decimal,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobFigures {
    pub queued: u64,
    pub running: u64,
    pub visual_queued: u64,
    pub visual_today: u64,
    pub visual_failed_last_hour: u64,
    pub visual_finished_last_hour: u64,
    pub visual_mean_processing_seconds: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrafficFigures {
    pub requests_last_minute: u64,
    /// Requests and errors over the last five full minutes.
    pub requests: u64,
    pub errors: u64,
    /// Non-cumulative latency bucket counts, see `core::latency::BUCKET_BOUNDS` (+Inf last).
    pub latency_buckets: [u64; 7],
    /// The platform's own p95 (ms), used when it writes no histogram.
    pub p95_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CronJobRow {
    pub job: String,
    pub schedule: String,
    pub active: bool,
    pub mean_run_seconds: Option<f64>,
    pub failures_last_day: u64,
    pub last_success: Option<DateTime<Utc>>,
    pub last_run: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Connections {
    pub used: u64,
    pub max: u64,
}

/// Ledger rows of one UTC range another source asked for: a provider's figures cover UTC days,
/// so its drift is compared with the ledger over exactly the same instants.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerRange {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Rows in [since, min(until, end of the collection's UTC day)): to date.
    pub rows: Fig<Vec<UsageRow>>,
}

/// Trials by how they stand at collection time, from `launchguard.clients` (the trial columns
/// of the data contract, docs/supabase.md#trials): disjoint, so they add up to every trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrialFigures {
    /// Ended in conversion (`converted_at` reached).
    pub converted: u64,
    /// Ended without conversion (`trial_ended_at` reached, never converted).
    pub expired: u64,
    /// Started, neither converted nor ended yet.
    pub running: u64,
}

/// The ledger of one closed local day, grouped as the usage query groups it.
#[derive(Debug, Clone, PartialEq)]
pub struct DayUsage {
    /// The day's first instant (local midnight in the configured zone).
    pub day_start: DateTime<Utc>,
    pub rows: Vec<UsageRow>,
}

/// Everything one Supabase collection cycle read.
#[derive(Debug, Clone, PartialEq)]
pub struct DbFigures {
    pub collected_at: DateTime<Utc>,
    pub active_clients: Fig<u64>,
    pub usage_today: Fig<Vec<UsageRow>>,
    /// Month to date, today included.
    pub usage_month: Fig<Vec<UsageRow>>,
    /// The guard's spend-rate window: from `core::periods::spend_window_start` (15 to 16
    /// minutes back, on a whole minute; may span midnight) to the start of tomorrow.
    pub usage_last_15m: Fig<Vec<UsageRow>>,
    pub jobs: Fig<JobFigures>,
    pub traffic: Fig<TrafficFigures>,
    pub bandwidth_today_bytes: Fig<u64>,
    pub storage_buckets: Fig<Vec<(String, u64)>>,
    pub database_size_bytes: Fig<u64>,
    pub cron_jobs: Fig<Vec<CronJobRow>>,
    pub connections: Fig<Connections>,
    /// The ranges requested through `sources::supabase::ledger_ranges::LedgerRequests`.
    pub ledger_ranges: Vec<LedgerRange>,
    /// The sync job's Vercel Cron runs seen by the drain receiver; None when not configured.
    pub vercel_cron: Option<Fig<CronJobRow>>,
    /// Trials converted, expired and running (the milestone's trial completion).
    pub trials: Fig<TrialFigures>,
    /// The closed local days before today that the milestone's stability window covers,
    /// oldest first (today is `usage_today`).
    pub usage_days: Fig<Vec<DayUsage>>,
    /// (client id, name) from `launchguard.clients`: the dashboards show clients by name.
    pub client_names: Fig<Vec<(String, String)>>,
}

impl DbFigures {
    /// A cycle in which nothing could be read, each figure carrying the same reason.
    pub fn unavailable(at: DateTime<Utc>, reason: &str) -> Self {
        let u = || Unavailable {
            reason: reason.to_string(),
        };
        DbFigures {
            collected_at: at,
            active_clients: Err(u()),
            usage_today: Err(u()),
            usage_month: Err(u()),
            usage_last_15m: Err(u()),
            jobs: Err(u()),
            traffic: Err(u()),
            bandwidth_today_bytes: Err(u()),
            storage_buckets: Err(u()),
            database_size_bytes: Err(u()),
            cron_jobs: Err(u()),
            connections: Err(u()),
            ledger_ranges: Vec::new(),
            vercel_cron: None,
            trials: Err(u()),
            usage_days: Err(u()),
            client_names: Err(u()),
        }
    }

    /// (figure, reason when unavailable) for `launchguard_figure_available` and `check`;
    /// figures are named after the query that reads them.
    pub fn availability(&self) -> Vec<(&'static str, Option<&str>)> {
        fn r<T>(f: &Fig<T>) -> Option<&str> {
            f.as_ref().err().map(|u| u.reason.as_str())
        }
        let mut v = vec![
            ("active_clients", r(&self.active_clients)),
            ("usage", r(&self.usage_today).or(r(&self.usage_month))),
            ("jobs", r(&self.jobs)),
            ("traffic", r(&self.traffic)),
            ("bandwidth", r(&self.bandwidth_today_bytes)),
            ("storage_buckets", r(&self.storage_buckets)),
            ("database_size", r(&self.database_size_bytes)),
            ("cron_jobs", r(&self.cron_jobs)),
            ("connections", r(&self.connections)),
            ("trials", r(&self.trials)),
            ("usage_days", r(&self.usage_days)),
            ("client_names", r(&self.client_names)),
        ];
        if let Some(c) = &self.vercel_cron {
            v.push(("vercel_cron", r(c)));
        }
        v
    }
}
