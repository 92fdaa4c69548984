//! Ledger rows over UTC ranges that the provider sources ask for.
//!
//! Providers report UTC days (and ElevenLabs a billing period), while the ledger figures of
//! the core follow the configured time zone. To compare like with like, each provider source
//! registers the ranges its figures cover; this module reads the ledger over each of them with
//! the same usage query. The closed part of a range (before today's UTC midnight) is cached
//! like the closed days of the month; today's UTC rows are read once per cycle and shared.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::RwLock;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};

use super::{Instants, Runner, usage_row};
use crate::config::QueryName;
use crate::figures::{Fig, LedgerRange, UsageRow};
use crate::sources::SourceError;

/// [since, until) in UTC.
pub type Range = (DateTime<Utc>, DateTime<Utc>);

/// The ranges the provider sources want compared, keyed by (source, period).
#[derive(Debug, Default)]
pub struct LedgerRequests {
    ranges: RwLock<BTreeMap<(&'static str, &'static str), Range>>,
}

impl LedgerRequests {
    /// Asks for the ledger over [since, until); replaces this source's earlier range for
    /// the same period (a new day or month moves it).
    pub fn set(
        &self,
        who: &'static str,
        period: &'static str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) {
        self.ranges
            .write()
            .expect("lock")
            .insert((who, period), (since, until));
    }

    /// Every distinct range asked for.
    pub fn ranges(&self) -> BTreeSet<Range> {
        self.ranges
            .read()
            .expect("lock")
            .values()
            .copied()
            .collect()
    }
}

/// Cached closed parts: (since, closed end) -> (read at, rows).
#[derive(Default)]
pub(super) struct Cache {
    closed: HashMap<Range, (Instant, Vec<UsageRow>)>,
}

pub(super) fn utc_day_start(t: DateTime<Utc>) -> DateTime<Utc> {
    t.date_naive().and_time(chrono::NaiveTime::MIN).and_utc()
}

/// Reads every requested range. `Err` only when the connection is gone; a failed query makes
/// that range's rows unavailable.
pub(super) async fn read(
    run: &Runner<'_>,
    at: Instants,
    local_today: &Fig<Vec<UsageRow>>,
    requests: &BTreeSet<Range>,
    cache: &mut Cache,
) -> Result<Vec<LedgerRange>, SourceError> {
    if requests.is_empty() {
        return Ok(Vec::new());
    }
    let d0 = utc_day_start(at.now);
    let d1 = d0 + Duration::days(1);
    // Today's UTC rows: the local day's rows when the zone is at UTC offset zero today.
    let mut today: Option<Fig<Vec<UsageRow>>> = None;
    if at.day_start == d0 && at.next_day_start == d1 {
        today = Some(local_today.clone());
    }
    let refresh = run.cfg.database.closed_days_refresh.0;
    let mut used = BTreeSet::new();
    let mut out = Vec::with_capacity(requests.len());
    for &(since, until) in requests {
        let end = until.min(d1);
        let mut rows: Fig<Vec<UsageRow>> = Ok(Vec::new());
        // Closed part: [since, min(end, d0)).
        let closed_end = end.min(d0);
        if since < closed_end {
            let key = (since, closed_end);
            used.insert(key);
            let fresh = cache
                .closed
                .get(&key)
                .is_some_and(|(t, _)| t.elapsed() < refresh);
            if !fresh {
                match run
                    .many(QueryName::Usage, Some((since, closed_end)), usage_row)
                    .await?
                {
                    Ok(r) => {
                        cache.closed.insert(key, (Instant::now(), r));
                    }
                    Err(e) => rows = Err(e),
                }
            }
            if let (Ok(acc), Some((_, r))) = (&mut rows, cache.closed.get(&key)) {
                acc.extend(r.iter().cloned());
            }
        }
        // Open part: [max(since, d0), end), shared when it is the whole UTC day.
        let open_start = since.max(d0);
        if open_start < end && rows.is_ok() {
            let part = if open_start == d0 && end == d1 {
                if today.is_none() {
                    today = Some(
                        run.many(QueryName::Usage, Some((d0, d1)), usage_row)
                            .await?,
                    );
                }
                today.clone().expect("just read")
            } else {
                run.many(QueryName::Usage, Some((open_start, end)), usage_row)
                    .await?
            };
            match (part, &mut rows) {
                (Ok(p), Ok(acc)) => acc.extend(p),
                (Err(e), _) => rows = Err(e),
                _ => {}
            }
        }
        out.push(LedgerRange { since, until, rows });
    }
    cache.closed.retain(|k, _| used.contains(k));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_replace_per_source_and_period() {
        let r = LedgerRequests::default();
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        r.set(
            "openai",
            "day",
            t("2026-11-26T00:00:00Z"),
            t("2026-11-27T00:00:00Z"),
        );
        r.set(
            "anthropic",
            "day",
            t("2026-11-26T00:00:00Z"),
            t("2026-11-27T00:00:00Z"),
        );
        assert_eq!(r.ranges().len(), 1);
        r.set(
            "openai",
            "day",
            t("2026-11-27T00:00:00Z"),
            t("2026-11-28T00:00:00Z"),
        );
        assert_eq!(r.ranges().len(), 2);
        assert_eq!(
            utc_day_start(t("2026-11-26T23:59:59Z")),
            t("2026-11-26T00:00:00Z")
        );
    }
}
