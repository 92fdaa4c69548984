//! The sync job's Vercel Cron runs, read by the exporter's reader from
//! `launchguard.vercel_cron_runs` into the same figure as a pg_cron job (`database.sync_job`):
//! last success, failures in the last day, mean run time and, with `sync_job_schedule`, the load.

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::figures::{CronJobRow, Fig, Unavailable};

/// $1 now. One row: `last_success timestamptz` (end of the newest successful run: its start plus
/// its REPORT duration when seen), `failures_last_day bigint`, `mean_run_seconds double
/// precision` (runs of the last day with a duration), `last_run timestamptz`. A status of 100-399
/// is a success, anything else (5xx, 4xx, -1 for a crash) a failure; runs older than 7 days are
/// not read, as for pg_cron.
pub const SYNC_JOB_RUNS: &str = "\
select max(r.started_at + coalesce(r.duration_ms, 0) * interval '1 millisecond')
           filter (where r.status_code between 100 and 399) as last_success,
       count(*) filter (where r.status_code not between 100 and 399
                          and r.started_at > $1::timestamptz - interval '24 hours')::bigint
           as failures_last_day,
       (avg(r.duration_ms) filter (where r.started_at > $1::timestamptz - interval '24 hours')
           / 1000.0)::double precision as mean_run_seconds,
       max(r.started_at) as last_run
from launchguard.vercel_cron_runs r
where r.started_at > $1::timestamptz - interval '7 days'
  and r.started_at <= $1::timestamptz + interval '5 minutes'";

/// Whether the config asks for the sync job's runs from the drain.
pub fn wanted(cfg: &Config) -> bool {
    cfg.vercel_drain.enabled && cfg.vercel_drain.sync_job_path.is_some()
}

/// The sync job's row from the drain's runs, or why it cannot be read.
pub async fn read(
    client: &tokio_postgres::Client,
    cfg: &Config,
    now: DateTime<Utc>,
) -> Fig<CronJobRow> {
    let row = client
        .query_one(SYNC_JOB_RUNS, &[&now])
        .await
        .map_err(|e| Unavailable {
            reason: format!(
                "vercel_cron query: {}{}",
                crate::sources::supabase::db_message(&e),
                if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) {
                    ". Fix: apply the launchguard migrations as postgres (`launchguard sql`)"
                } else if e.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
                {
                    ". Fix: grant select on launchguard.vercel_cron_runs to launchguard_reader (`launchguard sql`)"
                } else {
                    ""
                }
            ),
        })?;
    Ok(CronJobRow {
        job: cfg.database.sync_job.clone(),
        schedule: cfg
            .vercel_drain
            .sync_job_schedule
            .clone()
            .unwrap_or_default(),
        active: true,
        mean_run_seconds: row.get("mean_run_seconds"),
        failures_last_day: row.get::<_, i64>("failures_last_day").max(0) as u64,
        last_success: row.get("last_success"),
        last_run: row.get("last_run"),
    })
}
