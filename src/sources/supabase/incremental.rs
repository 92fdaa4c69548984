//! Incremental collection: today's and this month's ledger sums, and the visual jobs created
//! today, kept between cycles and advanced with only what was recorded since the last one
//! (docs/supabase.md#incremental-collection).
//!
//! The watermark is an instant on the database's clock: the start of the oldest transaction
//! still open, minus `database.settle`. A row's `recorded_at` is its insert's transaction time
//! (`default now()`), so a row not yet visible carries a `recorded_at` at or after the start of
//! a transaction open now: every row recorded before the watermark is visible now and stays
//! so, and it is read once (`settled`). Rows recorded at or after it are read again on every
//! cycle (`open`), which also catches their updates while they are that recent. The watermark
//! is taken by its own statement before the rows are read, so a transaction that commits in
//! between is covered either way. Rows changed or deleted after they settled are what the
//! watermark cannot see: the update and delete counters of the tables behind the view (and
//! their files) are compared on every cycle, and when they moved the settled rows are read
//! again, at most every `closed_days_refresh`.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::ledger_ranges::Range;
use super::slices::{DeltaRow, Key, Ledger, SAVED_VERSION, Saved, Sums};
use super::{ColumnError, Instants, Runner, col, job_figures, queries, u, usage_row};
use crate::config::{Config, QueryName};
use crate::figures::{DayUsage, Fig, JobFigures, LedgerRange, Unavailable, UsageRow};
use crate::sources::SourceError;

/// What `LEDGER_PROBE` saw at the start of a cycle.
#[derive(Debug, Clone)]
pub struct Probe {
    pub now: DateTime<Utc>,
    /// Start of the oldest transaction still open (or now).
    pub horizon: DateTime<Utc>,
    pub sees_all: bool,
    pub has_recorded_at: bool,
    pub checkable: bool,
    pub changes: String,
    pub identity: String,
}

/// The usage figures of one cycle.
pub struct Usage {
    pub today: Fig<Vec<UsageRow>>,
    pub month: Fig<Vec<UsageRow>>,
    /// The guard's spend-rate window: from `Instants::spend_since` to the start of tomorrow.
    pub last_15m: Fig<Vec<UsageRow>>,
    pub ranges: Vec<LedgerRange>,
    /// The milestone window's closed days, in the order asked.
    pub days: Fig<Vec<DayUsage>>,
}

/// Visual jobs created today: the count before the watermark, kept.
#[derive(Debug)]
struct VisualToday {
    day_start: DateTime<Utc>,
    watermark: DateTime<Utc>,
    settled: u64,
    counted: Instant,
}

/// First chunk of a build, in `occurred_at`; later ones are sized from the rate observed.
const FIRST_CHUNK: chrono::Duration = chrono::Duration::hours(1);
/// How often the kept sums are written to `database.state_file` at most.
const SAVE_EVERY: Duration = Duration::from_secs(60);
/// The largest `database.state_file` read back: far above what a ledger needs (the 100x
/// simulation's is 23 MB, run soon after midnight so its spend window holds 1M+ rows).
const STATE_FILE_MAX: u64 = 256 << 20;
/// What one chunk's statement should take, well within the reader's 5 s statement timeout.
const CHUNK_TARGET: Duration = Duration::from_millis(500);

/// The incremental state of the database source.
#[derive(Debug)]
pub struct Incremental {
    ledger: Ledger,
    /// The counters' fingerprint when the settled rows were last read whole.
    read_whole: Option<(String, Instant)>,
    chunk: chrono::Duration,
    visual: Option<VisualToday>,
    /// What was said in the log about the mode, so each is said once.
    said: std::collections::BTreeSet<String>,
    /// Whether `database.state_file` was read (once, at the first cycle).
    loaded: bool,
    /// When the kept sums were last written to `database.state_file`.
    saved_at: Option<Instant>,
    /// The write under way, on a blocking thread: encoding and syncing megabytes (at 100x)
    /// would otherwise lengthen the cycle it falls in. Its error is said at the next cycle.
    writing: Option<tokio::task::JoinHandle<Result<(), String>>>,
}

impl Default for Incremental {
    fn default() -> Self {
        Incremental {
            ledger: Ledger::default(),
            read_whole: None,
            chunk: FIRST_CHUNK,
            visual: None,
            said: std::collections::BTreeSet::new(),
            loaded: false,
            saved_at: None,
            writing: None,
        }
    }
}

/// Whether the config lets the ledger be kept incrementally (the view is asked by the probe).
pub fn ledger_allowed(cfg: &Config) -> bool {
    cfg.database.incremental && !cfg.database.queries.contains_key(&QueryName::Usage)
}

/// Whether the config lets the visual jobs created today be counted incrementally.
pub fn jobs_allowed(cfg: &Config) -> bool {
    cfg.database.incremental && !cfg.database.queries.contains_key(&QueryName::Jobs)
}

impl Incremental {
    /// Logs a change of mode once.
    fn say(&mut self, what: String) {
        if !self.said.contains(&what) {
            tracing::info!("{what}");
            self.said.insert(what);
        }
    }

    /// The probe, or None when it failed (the cycle then reads everything whole).
    pub async fn probe(run: &Runner<'_>) -> Result<Option<Probe>, SourceError> {
        let rows = match run
            .run_with(QueryName::Usage, queries::LEDGER_PROBE, &[])
            .await?
        {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(reason = %e.reason, "ledger probe failed: reading whole");
                return Ok(None);
            }
        };
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let has_horizon: bool = col(r, "has_horizon").unwrap_or(false);
        let get = |r: &Row| -> Result<Probe, ColumnError> {
            Ok(Probe {
                now: col(r, "now")?,
                horizon: col(r, "horizon")?,
                sees_all: col(r, "sees_all")?,
                has_recorded_at: col(r, "has_recorded_at")?,
                checkable: col(r, "checkable")?,
                changes: col(r, "changes")?,
                identity: col(r, "identity")?,
            })
        };
        let Ok(mut probe) = get(r) else {
            return Ok(None);
        };
        if has_horizon {
            // The owner's view of every session, when the reader's own is partial.
            match run
                .run_with(QueryName::Usage, queries::TRANSACTION_HORIZON, &[])
                .await?
            {
                Ok(rows) => {
                    if let Some(h) = rows.first() {
                        let horizon: Result<DateTime<Utc>, _> = col(h, "horizon");
                        let sees_all: Result<bool, _> = col(h, "sees_all");
                        if let (Ok(horizon), Ok(sees_all)) = (horizon, sees_all) {
                            probe.horizon = probe.horizon.min(horizon);
                            probe.sees_all |= sees_all;
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!(reason = %e.reason, "launchguard.transaction_horizon() failed");
                }
            }
        }
        Ok(Some(probe))
    }

    /// The new watermark: the oldest open transaction's start, less the settle window. None
    /// when it would go back (a clock step, a shorter settle window): start over.
    fn watermark(&mut self, p: &Probe, cfg: &Config) -> DateTime<Utc> {
        let settle =
            chrono::Duration::from_std(cfg.database.settle.0).unwrap_or(chrono::Duration::days(1));
        if !p.sees_all {
            self.say(
                "the database role is not a member of pg_read_all_stats, so transactions of other \
                 roles are not seen: ledger rows count as settled `database.settle` after they \
                 are recorded"
                    .into(),
            );
        }
        p.horizon.min(p.now) - settle
    }

    /// Today's and this month's usage and the requested UTC ranges from the kept sums, or None
    /// when the view offers no `recorded_at` (the caller reads them whole).
    pub async fn usage(
        &mut self,
        run: &Runner<'_>,
        p: &Probe,
        at: Instants,
        requests: &std::collections::BTreeSet<Range>,
        days: &[Range],
    ) -> Result<Option<Usage>, SourceError> {
        if !p.has_recorded_at {
            self.say(
                "launchguard.usage_events has no recorded_at column: the ledger is read whole \
                 every cycle (docs/supabase.md#incremental-collection)"
                    .into(),
            );
            self.ledger.reset();
            return Ok(None);
        }
        self.say("the ledger is kept incrementally (watermark on recorded_at)".into());
        let w = self.watermark(p, run.cfg);
        if !self.loaded {
            self.loaded = true;
            self.resume(run.cfg, p, w);
        }
        if self.ledger.watermark.is_some_and(|old| w < old) {
            tracing::info!("the ledger watermark would go back: reading the ledger again");
            self.ledger.reset();
            self.read_whole = None;
        }
        let d1 = super::ledger_ranges::utc_day_start(at.now) + chrono::Duration::days(1);
        let mut ranges: Vec<Range> = vec![(at.day_start, at.next_day_start)];
        if at.month_start < at.day_start {
            ranges.push((at.month_start, at.day_start));
        }
        let wanted: Vec<Range> = requests.iter().map(|&(s, u)| (s, u.min(d1))).collect();
        ranges.extend(wanted.iter().filter(|(s, u)| s < u));
        ranges.extend(spend_window(at));
        ranges.extend(days.iter().filter(|(s, u)| s < u));
        self.ledger.plan(&ranges);

        // The rows recorded since the last watermark (all open ones on the first cycle).
        if let Err(e) = self.advance(run, w).await? {
            return Ok(Some(unavailable(e, requests)));
        }

        // Settled rows are read again when something may have changed them.
        let refresh = run.cfg.database.closed_days_refresh.0;
        let all_built = self.ledger.slices.iter().all(|s| s.built);
        match &self.read_whole {
            Some((changes, when))
                if all_built
                    && !self.ledger.building()
                    && when.elapsed() >= refresh
                    && (!p.checkable || *changes != p.changes) =>
            {
                tracing::info!(
                    "rows behind launchguard.usage_events were updated or deleted: reading the \
                     settled ledger again"
                );
                self.ledger.start_revalidation();
                self.read_whole = Some((p.changes.clone(), Instant::now()));
            }
            None => self.read_whole = Some((p.changes.clone(), Instant::now())),
            _ => {}
        }
        if !all_built {
            self.ledger.start_builds();
        }
        if let Err(e) = self.build(run, at).await? {
            return Ok(Some(unavailable(e, requests)));
        }

        self.keep(run.cfg, p).await;
        // Each distinct range is summed once (today, the month and a provider's UTC day are
        // often the same slices; at 100x a sum merges hundreds of thousands of groups).
        let mut memo: foldhash::HashMap<Range, Fig<Vec<UsageRow>>> = Default::default();
        let ledger = &self.ledger;
        let mut rows = |from, to| {
            memo.entry((from, to))
                .or_insert_with(|| ledger.rows(from, to))
                .clone()
        };
        let ranges = requests
            .iter()
            .map(|&(since, until)| {
                let end = until.min(d1);
                LedgerRange {
                    since,
                    until,
                    rows: if since < end {
                        rows(since, end)
                    } else {
                        Ok(Vec::new())
                    },
                }
            })
            .collect();
        let u = Usage {
            today: rows(at.day_start, at.next_day_start),
            month: rows(at.month_start, at.next_day_start),
            last_15m: rows(at.spend_since, at.next_day_start),
            ranges,
            days: days
                .iter()
                .map(|&(day_start, next)| {
                    rows(day_start, next).map(|rows| DayUsage { day_start, rows })
                })
                .collect(),
        };
        Ok(Some(u))
    }

    /// Reads the rows recorded since the last watermark and applies them under the new one,
    /// `w`: settled groups are added once, open ones replace the last cycle's.
    async fn advance(
        &mut self,
        run: &Runner<'_>,
        w: DateTime<Utc>,
    ) -> Result<Result<(), Unavailable>, SourceError> {
        let since = self.ledger.watermark.unwrap_or(w);
        let (bounds, bucket_slice) = self.ledger.bounds();
        let delta = match (bounds.first(), bounds.last()) {
            (Some(&lo), Some(&hi)) => {
                let params: [&(dyn ToSql + Sync); 5] = [&since, &bounds, &w, &lo, &hi];
                match run
                    .run_timed(QueryName::Usage, queries::USAGE_DELTA, &params)
                    .await?
                {
                    Ok(rows) => rows,
                    Err((e, timed_out)) => {
                        if timed_out && self.ledger.watermark.is_some() {
                            // More rows recorded since the watermark than one statement reads
                            // within the statement timeout (after a long stop, or a bulk
                            // import): retried as it is, it would fail every cycle. Rebuilt
                            // in chunks instead, which are sized to fit; the next delta then
                            // starts at the watermark of that rebuild.
                            tracing::warn!(
                                since = %since,
                                "too many ledger rows recorded since the last watermark for one \
                                 statement within the statement timeout: rebuilding the kept \
                                 ledger in chunks"
                            );
                            self.ledger.reset();
                            self.read_whole = None;
                        }
                        return Ok(Err(e));
                    }
                }
            }
            _ => Vec::new(),
        };
        let mut out = Vec::with_capacity(delta.len());
        for r in &delta {
            let row = (|| -> Result<Option<DeltaRow>, ColumnError> {
                let bucket: i32 = col(r, "bucket")?;
                let slice = usize::try_from(bucket)
                    .ok()
                    .and_then(|b| bucket_slice.get(b).copied().flatten());
                let Some(slice) = slice else { return Ok(None) };
                let settled = col(r, "settled")?;
                let (key, sums) = self.group(r)?;
                Ok(Some(DeltaRow {
                    slice,
                    settled,
                    key,
                    sums,
                }))
            })();
            match row {
                Ok(Some(d)) => out.push(d),
                Ok(None) => {}
                Err(e) => return Ok(Err(bad(&e))),
            }
        }
        drop(delta);
        self.ledger.apply(w, &out);
        Ok(Ok(()))
    }

    /// At the first cycle: the ledger saved in `database.state_file`, when it was read from
    /// these very tables and its watermark is not ahead of `w`. Its settled sums are served at
    /// once; the next delta reads every row recorded since its watermark, and the counters it
    /// was saved with make a re-validation start at once if rows changed meanwhile.
    fn resume(&mut self, cfg: &Config, p: &Probe, w: DateTime<Utc>) {
        let Some(path) = &cfg.database.state_file else {
            return;
        };
        let loaded = match read_state_file(path, STATE_FILE_MAX) {
            Ok(bytes) => Saved::parse(&bytes).and_then(|s| {
                if s.version != SAVED_VERSION {
                    Err(format!("it is version {}", s.version))
                } else if s.identity != p.identity {
                    Err("it was read from other tables (or a rewritten one)".into())
                } else if s.watermark > w {
                    Err("its watermark is ahead of the database".into())
                } else {
                    Ledger::restore(&s).map(|l| (s, l))
                }
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => Err(format!("it cannot be read ({e})")),
        };
        match loaded {
            Ok((s, ledger)) => {
                tracing::info!(
                    file = %path.display(),
                    watermark = %s.watermark,
                    "the kept ledger resumes from the state file: reading the rows recorded since"
                );
                self.ledger = ledger;
                let refresh = cfg.database.closed_days_refresh.0;
                let long_ago = Instant::now()
                    .checked_sub(refresh)
                    .unwrap_or_else(Instant::now);
                self.read_whole = Some((s.changes, long_ago));
                // The file holds what was just read: the next write is due a minute from now,
                // not in this first cycle (at 100x it is megabytes).
                self.saved_at = Some(Instant::now());
            }
            Err(why) => tracing::warn!(
                file = %path.display(),
                "the ledger state file is ignored: {why}; reading the settled rows again"
            ),
        }
    }

    /// Writes the kept sums to `database.state_file`, at most once a minute and only when
    /// every slice is built, one write at a time; the encoding and the write run on a blocking
    /// thread. A failure is logged (at the next cycle) and the write is tried again.
    async fn keep(&mut self, cfg: &Config, p: &Probe) {
        let Some(path) = &cfg.database.state_file else {
            return;
        };
        if let Some(w) = self.writing.take_if(|w| w.is_finished()) {
            // Finished: this does not wait.
            match w.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    self.saved_at = None;
                    // Said once until it works.
                    self.say(format!("the ledger state file is not written: {e}"));
                }
                // A panic in the write: try again.
                Err(_) => self.saved_at = None,
            }
        }
        if self.writing.is_some() || self.saved_at.is_some_and(|t| t.elapsed() < SAVE_EVERY) {
            return;
        }
        let Some((changes, _)) = &self.read_whole else {
            return;
        };
        let Some(saved) = self.ledger.save(&p.identity, changes) else {
            return;
        };
        let path = path.clone();
        self.saved_at = Some(Instant::now());
        self.writing = Some(tokio::task::spawn_blocking(move || {
            let json = serde_json::to_vec(&saved).map_err(|e| e.to_string())?;
            crate::private_file::write(&path, &json, "ledger state file").map_err(|e| e.to_string())
        }));
    }

    fn group(&mut self, r: &Row) -> Result<(Key, Sums), ColumnError> {
        let row = usage_row(r)?;
        let key = self.ledger.names.key(
            row.client_id.as_deref(),
            &row.provider,
            &row.model,
            row.priced,
        );
        Ok((
            key,
            Sums {
                rows: u(r, "rows")?,
                input_tokens: row.input_tokens,
                output_tokens: row.output_tokens,
                cache_read_tokens: row.cache_read_tokens,
                cache_write_tokens: row.cache_write_tokens,
                characters: row.characters,
                requests: row.requests,
                cost_usd: row.cost_usd,
            },
        ))
    }

    /// Reads building slices chunk by chunk (today's first) for at most half the cycle's
    /// timeout; what is left continues next cycle.
    async fn build(
        &mut self,
        run: &Runner<'_>,
        at: Instants,
    ) -> Result<Result<(), Unavailable>, SourceError> {
        let budget = run.cfg.database.timeout.0 / 2;
        let started = Instant::now();
        loop {
            let next = self
                .ledger
                .slices
                .iter()
                .enumerate()
                .filter(|(_, s)| s.build.is_some())
                .min_by_key(|(_, s)| (s.from != at.day_start, s.from));
            let Some((i, s)) = next else { break };
            let b = s.build.as_ref().expect("building");
            let (from, before) = (b.next, b.before);
            let to = (from + self.chunk).min(s.to);
            let t0 = Instant::now();
            let params: [&(dyn ToSql + Sync); 3] = [&from, &to, &before];
            let rows = match run
                .run_timed(QueryName::Usage, queries::USAGE_CHUNK, &params)
                .await?
            {
                Ok(rows) => rows,
                Err((e, timed_out)) => {
                    if timed_out {
                        // Denser than the rate seen so far: the next try reads a quarter.
                        let span = (to - from).num_seconds() / 4;
                        self.chunk = chrono::Duration::seconds(span.max(60));
                    }
                    return Ok(Err(e));
                }
            };
            let took = t0.elapsed();
            let groups: Result<Vec<_>, _> = rows.iter().map(|r| self.group(r)).collect();
            drop(rows);
            let groups = match groups {
                Ok(g) => g,
                Err(e) => return Ok(Err(bad(&e))),
            };
            if self.ledger.chunk_read(i, to, groups) {
                tracing::info!(
                    from = %self.ledger.slices[i].from,
                    to = %self.ledger.slices[i].to,
                    "settled ledger rows had changed (updated or deleted): sums replaced"
                );
            }
            // Next chunk: sized so it takes about CHUNK_TARGET at the rate just seen. A chunk
            // cut short by its slice's end (the spend window's minutes) only shrinks it: its
            // few rows say little about a day's density.
            let factor =
                (CHUNK_TARGET.as_secs_f64() / took.as_secs_f64().max(1e-3)).clamp(0.25, 4.0);
            let span = (self.chunk.num_seconds() as f64 * factor) as i64;
            if to - from == self.chunk || span < self.chunk.num_seconds() {
                self.chunk = chrono::Duration::seconds(span.clamp(60, 31 * 86_400));
            }
            if started.elapsed() >= budget {
                break;
            }
        }
        Ok(Ok(()))
    }

    /// Visual jobs created today: the jobs created before the watermark are counted once (and
    /// again every `closed_days_refresh`, for deleted ones), newer ones every cycle.
    async fn visual_today(
        &mut self,
        run: &Runner<'_>,
        w: DateTime<Utc>,
        at: Instants,
    ) -> Result<Fig<u64>, SourceError> {
        let refresh = run.cfg.database.closed_days_refresh.0;
        let keep = self.visual.as_ref().filter(|v| {
            v.day_start == at.day_start && w >= v.watermark && v.counted.elapsed() < refresh
        });
        let (from, base) = match keep {
            Some(v) => (v.watermark.max(at.day_start), v.settled),
            None => (at.day_start, 0),
        };
        let params: [&(dyn ToSql + Sync); 2] = [&from, &w];
        let rows = match run
            .run_with(QueryName::Jobs, queries::VISUAL_CREATED, &params)
            .await?
        {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let Some(r) = rows.first() else {
            return Ok(Err(Unavailable {
                reason: "jobs query returned no row".into(),
            }));
        };
        let (settled, created) = match (u(r, "settled"), u(r, "created")) {
            (Ok(s), Ok(c)) => (s, c),
            (Err(e), _) | (_, Err(e)) => {
                return Ok(Err(Unavailable {
                    reason: format!("jobs query: {e}"),
                }));
            }
        };
        let counted = match keep {
            Some(v) => v.counted,
            None => Instant::now(),
        };
        let total = base.saturating_add(settled);
        self.visual = Some(VisualToday {
            day_start: at.day_start,
            watermark: w,
            settled: total,
            counted,
        });
        Ok(Ok(total.saturating_add(created.saturating_sub(settled))))
    }

    /// The job figures with `visual_today` counted incrementally.
    pub async fn jobs(
        &mut self,
        run: &Runner<'_>,
        p: &Probe,
        at: Instants,
    ) -> Result<Fig<JobFigures>, SourceError> {
        let w = self.watermark(p, run.cfg);
        // The default JOBS query with its day starting now: its `visual_today` reads nothing,
        // and the kept count below replaces it.
        let now = at.now;
        let params: [&(dyn ToSql + Sync); 2] = [&now, &now];
        let rows = match run
            .run_with(QueryName::Jobs, queries::JOBS, &params)
            .await?
        {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let Some(r) = rows.first() else {
            return Ok(Err(Unavailable {
                reason: "jobs query returned no row".into(),
            }));
        };
        let mut figures = match job_figures(r) {
            Ok(f) => f,
            Err(e) => {
                return Ok(Err(Unavailable {
                    reason: format!("jobs query: {e}"),
                }));
            }
        };
        match self.visual_today(run, w, at).await? {
            Ok(n) => figures.visual_today = n,
            Err(e) => return Ok(Err(e)),
        }
        Ok(Ok(figures))
    }
}

/// The state file's bytes, refusing one larger than `max` (`STATE_FILE_MAX`: no real ledger
/// comes near it, so a corrupt or foreign file is not read into memory).
fn read_state_file(path: &std::path::Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    let too_big = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {max} bytes"),
        )
    };
    if f.metadata()?.len() > max {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    f.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(too_big());
    }
    Ok(bytes)
}

/// A column of the wrong type: the figure is unavailable, naming it.
fn bad(e: &ColumnError) -> Unavailable {
    Unavailable {
        reason: format!("usage query: {e}"),
    }
}

/// The spend-rate window as slices: one per whole minute up to the current one, then the rest
/// of the day. Each minute leaving the window merges into the slice before it at no cost, and
/// only the rows since the current minute's start are read again when a minute begins
/// (`Ledger::plan`), so the window costs what was recorded since the last cycle, not 15
/// minutes of ledger.
fn spend_window(at: Instants) -> Vec<Range> {
    let minute = chrono::Duration::minutes(1);
    let mut out = Vec::with_capacity(17);
    let mut m = at.spend_since;
    while m + minute <= at.now && m < at.next_day_start {
        out.push((m, m + minute));
        m += minute;
    }
    out.push((m, at.next_day_start.max(m)));
    out
}

/// Every usage figure unavailable for the same reason.
fn unavailable(e: Unavailable, requests: &std::collections::BTreeSet<Range>) -> Usage {
    Usage {
        today: Err(e.clone()),
        month: Err(e.clone()),
        last_15m: Err(e.clone()),
        ranges: requests
            .iter()
            .map(|&(since, until)| LedgerRange {
                since,
                until,
                rows: Err(e.clone()),
            })
            .collect(),
        days: Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_file_past_the_cap_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger-state.json");
        std::fs::write(&path, vec![b' '; 1001]).unwrap();
        let e = read_state_file(&path, 1000).unwrap_err();
        assert_eq!(e.to_string(), "larger than 1000 bytes");
        assert_eq!(read_state_file(&path, 1001).unwrap().len(), 1001);
        let gone = read_state_file(&dir.path().join("none"), 1000).unwrap_err();
        assert_eq!(gone.kind(), std::io::ErrorKind::NotFound);
    }
}
