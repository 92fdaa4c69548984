//! The milestone's database figures (`core::milestone`): the trials of `launchguard.clients`,
//! and the ledger of each closed local day of the stability window.
//!
//! When the ledger is kept incrementally, the closed days are slices of the kept ledger (saved
//! in the state file, advanced by the delta, re-validated by the change counters):
//! `window_days` lays them out. Otherwise each closed day is the usage query over [day start,
//! next day start): the `occurred_at` index serves it, and a closed day changes only by late
//! rows, so it is cached and re-read after `database.closed_days_refresh` (hourly by default)
//! like the month's closed days. A new day costs one query (the day that just closed); the
//! rest of the window comes from the cache.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::{Instants, Runner, u, usage_row};
use crate::config::{Config, QueryName};
use crate::core::periods;
use crate::figures::{DayUsage, Fig, TrialFigures, UsageRow};
use crate::sources::SourceError;

/// Closed days read before: day start -> (read at, rows).
#[derive(Default)]
pub(super) struct Cache {
    days: BTreeMap<DateTime<Utc>, (Instant, Vec<UsageRow>)>,
}

/// Trials converted, expired and running at the collection time.
pub(super) async fn trials(run: &Runner<'_>) -> Result<Fig<TrialFigures>, SourceError> {
    run.one(QueryName::Trials, None, |r| {
        Ok(TrialFigures {
            converted: u(r, "converted")?,
            expired: u(r, "expired")?,
            running: u(r, "running")?,
        })
    })
    .await
}

/// The closed local days of the window (`milestone.stable_days` minus today), oldest first,
/// each [its start, the next day's start).
pub(super) fn window_days(cfg: &Config, at: Instants) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let tz = cfg.tz();
    let closed = cfg.milestone.stable_days.saturating_sub(1);
    (1..=closed)
        .rev()
        .map(|back| {
            (
                periods::day_start_before(at.now, tz, back),
                periods::day_start_before(at.now, tz, back - 1),
            )
        })
        .collect()
}

/// The closed days of the window read apart from a kept ledger, oldest first. `Err` only
/// when the connection is gone; a failed query makes the figure unavailable.
pub(super) async fn usage_days(
    run: &Runner<'_>,
    at: Instants,
    cache: &mut Cache,
) -> Result<Fig<Vec<DayUsage>>, SourceError> {
    let refresh = run.cfg.database.closed_days_refresh.0;
    let wanted = window_days(run.cfg, at);
    cache
        .days
        .retain(|start, _| wanted.iter().any(|(s, _)| s == start));
    let mut out = Vec::with_capacity(wanted.len());
    for (start, end) in wanted {
        let fresh = cache
            .days
            .get(&start)
            .is_some_and(|(t, _)| t.elapsed() < refresh);
        if !fresh {
            match run
                .many(QueryName::Usage, Some((start, end)), usage_row)
                .await?
            {
                Ok(rows) => {
                    cache.days.insert(start, (Instant::now(), rows));
                }
                Err(e) => return Ok(Err(e)),
            }
        }
        let rows = cache.days.get(&start).map(|(_, r)| r.clone());
        out.push(DayUsage {
            day_start: start,
            rows: rows.unwrap_or_default(),
        });
    }
    Ok(Ok(out))
}
