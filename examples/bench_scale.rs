//! The growth simulation behind `scripts/bench-scale.sh` (issue 17): a day of ledger rows and jobs
//! arriving in compressed time into a real PostgreSQL, read after every step by two real Supabase
//! sources in this process, one incremental and one reading everything again
//! (`database.incremental: false`). The day is local to a zone where it is about 21:00, so it holds
//! about 21 hours whatever the hour the bench runs at (`late_evening_zone`). Each step inserts its
//! share of the day's past at once, while the last 17 minutes before now (more than the guard's
//! spend-rate window) hold rows at the day's real rate in real time, filled at the first step and
//! topped up since, so every step's cycles meet that window as full as a real day's (`Recent`). One
//! unmeasured incremental cycle absorbs the step; then three times what arrives in one 30 s cycle
//! at the day's rate (a 2,880th of the day, recorded at now), each read by a measured incremental
//! cycle (the median is printed), the last by the full recompute too. Prints, per step, the rows so
//! far today, each source's cycle time and database time (pg_stat_statements), whether their
//! figures agree exactly ("n/a" when the full recompute failed, e.g. on the reader's statement
//! timeout), the /metrics size and the process's RSS; then a restart: the first cycle of a fresh
//! incremental source resuming from `database.state_file` (written by the last cycle, then a minute
//! of rows at the day's real rate recorded since), and the cycles of one without it until the day's
//! figures are back.
//!
//!   bench_scale SUPERUSER_URL READER_URL_FILE CLIENTS ROWS_PER_DAY JOBS_PER_DAY STEPS

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Timelike, Utc};
use launchguard::config::{Config, Dur, SecretRef, Zone};
use launchguard::figures::{DbFigures, Fig, UsageRow};
use launchguard::sources::supabase::Supabase;
use launchguard::sources::supabase::ledger_ranges::LedgerRequests;
use launchguard::state::{Collected, ReloadStatus};
use tokio_postgres::NoTls;

type Grouped = BTreeMap<(Option<String>, String, String, bool), (u64, u64, rust_decimal::Decimal)>;

fn grouped(rows: &Fig<Vec<UsageRow>>) -> Option<Grouped> {
    let mut out = Grouped::new();
    for r in rows.as_ref().ok()? {
        let e = out
            .entry((
                r.client_id.clone(),
                r.provider.clone(),
                r.model.clone(),
                r.priced,
            ))
            .or_default();
        e.0 += r.input_tokens;
        e.1 += r.output_tokens;
        e.2 += r.cost_usd;
    }
    Some(out)
}

/// Measured incremental cycles per step; the median is printed.
const MEASURED: usize = 3;

/// The figures on which the two sources disagree, each named (empty: the same to the cent).
fn differences(a: &DbFigures, b: &DbFigures) -> Vec<String> {
    let mut out: Vec<String> = [
        ("today", &a.usage_today, &b.usage_today),
        ("month", &a.usage_month, &b.usage_month),
        ("spend window", &a.usage_last_15m, &b.usage_last_15m),
    ]
    .into_iter()
    .filter(|(_, x, y)| grouped(x) != grouped(y))
    .map(|(what, _, _)| what.to_string())
    .collect();
    if a.jobs != b.jobs {
        out.push("jobs".into());
    }
    if a.ledger_ranges.len() != b.ledger_ranges.len() {
        out.push("the providers' ranges".into());
    }
    for (x, y) in a.ledger_ranges.iter().zip(&b.ledger_ranges) {
        if grouped(&x.rows) != grouped(&y.rows) {
            out.push(format!("the ledger from {} to {}", x.since, x.until));
        }
    }
    out
}

fn rss_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn metrics_bytes(cfg: &Config, db: DbFigures, now: DateTime<Utc>) -> usize {
    let c = Collected {
        figures: launchguard::figures::Figures::with_db(db),
        ..Collected::default()
    };
    let a = launchguard::core::assess::assess(
        cfg,
        &c.figures,
        &launchguard::core::controls::FounderControls::default(),
        now,
    );
    launchguard::metrics::snapshot::build(
        cfg,
        &c,
        &a,
        ReloadStatus {
            ok: true,
            last_success: now,
        },
    )
    .encode()
    .len()
}

struct Db {
    su: tokio_postgres::Client,
    /// The configured zone's name (`late_evening_zone`), for the local day's start in SQL.
    zone: String,
}

/// A configured zone in which the local day began about 21 hours ago, whatever the hour the
/// bench runs at: the day's rows are spread from the local midnight to now, so their rate is
/// the day's real rate. Spread from midnight UTC instead, a run at 02:00 UTC squeezed the day
/// into two hours, and the guard's 15-minute spend window held twelve times the real rate.
fn late_evening_zone(now: DateTime<Utc>) -> (Zone, String) {
    // Local = UTC + off, with the local hour 21: off = 21 - hour, within UTC-12..UTC+14.
    let mut off = 21 - i64::from(now.hour());
    if off > 14 {
        off -= 24;
    }
    // Etc/GMT+N is N hours behind UTC (POSIX sign).
    let name = match off {
        0 => "Etc/UTC".to_string(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    };
    let tz: chrono_tz::Tz = name.parse().expect("an Etc/GMT zone");
    (Zone(tz), name)
}

impl Db {
    async fn exec(&self, sql: &str) {
        if let Err(e) = self.su.batch_execute(sql).await {
            panic!("{sql}: {e}");
        }
    }

    async fn reset(&self) {
        self.exec("select pg_stat_statements_reset()").await;
    }

    /// The reader's three costliest statements since the last reset (BENCH_SCALE_TOP=1).
    async fn top(&self) -> String {
        let rows = self
            .su
            .query(
                "select round(total_exec_time::numeric, 1)::text || ' ms ' || calls::text || 'x ' \
                 || left(regexp_replace(query, '\\s+', ' ', 'g'), 90) from pg_stat_statements \
                 where userid = 'launchguard_reader'::regrole order by total_exec_time desc limit 3",
                &[],
            )
            .await
            .unwrap_or_default();
        rows.iter()
            .map(|r| format!("      {}", r.get::<_, String>(0)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Milliseconds the reader's statements ran since the last reset.
    async fn reader_ms(&self) -> f64 {
        self.su
            .query_one(
                "select coalesce(sum(total_exec_time), 0)::float8 from pg_stat_statements \
                 where userid = 'launchguard_reader'::regrole",
                &[],
            )
            .await
            .map(|r| r.get::<_, f64>(0))
            .unwrap_or(f64::NAN)
    }
}

async fn timed(db: &Db, s: &Supabase, cfg: &Config, now: DateTime<Utc>) -> (DbFigures, f64, f64) {
    db.reset().await;
    let t = Instant::now();
    let f = s.collect_once(cfg, now).await.expect("collects");
    let took = t.elapsed().as_secs_f64() * 1e3;
    let ms = db.reader_ms().await;
    if std::env::var_os("BENCH_SCALE_TOP").is_some() {
        eprintln!("{}", db.top().await);
    }
    (f, took, ms)
}

/// `n` ledger rows over the clients, providers and models of the simulated platform, with
/// `occurred_at` from the SQL expression `at` (of `i` in 1..=n, and `a.d`: the local day's start,
/// `a.t`: now), recorded now as a platform writes them.
async fn ledger_rows(db: &Db, clients: u64, n: u64, at: &str) {
    if n == 0 {
        return;
    }
    let zone = &db.zone;
    db.exec(&format!(
        "with a as (select date_trunc('day', now() at time zone '{zone}') at time zone '{zone}' as d, now() as t,
                           (select array_agg(id order by id) from public.clients) as ids)
         insert into public.ai_usage_events
             (occurred_at, client_id, provider, model, input_tokens, output_tokens,
              cache_read_tokens, requests, cost_usd)
         select {at},
                a.ids[1 + i % {clients}],
                (array['anthropic','openai','openrouter','elevenlabs'])[1 + i % 4],
                (array['claude-sonnet-4-5','gpt-4o','llama-3.3-70b','eleven_v2','gpt-4o-mini','claude-haiku-4-5'])[1 + i % 6],
                500 + i % 1000, 100 + i % 400, case when i % 3 = 0 then 2000 else 0 end, 1,
                case when i % 4 = 2 then 0.000125 * (1 + i % 50) end
         from a, generate_series(1, {n}) i"
    ))
    .await;
}

/// Ledger rows spread over step `step` of `steps` of the day's past: from its start to
/// `RECENT` ago (the recent minutes hold the real-time rows of `Recent`). The open jobs finish
/// and `jobs` new ones are queued.
///
/// `bulk`: the step's share of the day, whose jobs finish at the step's simulated end; else one
/// real cycle's jobs, which finish now.
async fn insert(db: &Db, clients: u64, rows: u64, jobs: u64, step: u64, steps: u64, bulk: bool) {
    let (k, n) = (step as f64, steps as f64);
    let zone = &db.zone;
    let recent = RECENT.num_seconds();
    ledger_rows(
        db,
        clients,
        rows,
        &format!(
            "a.d + (a.t - interval '{recent} seconds' - a.d) * (({k} - 1 + i::float8 / {rows}) / {n})"
        ),
    )
    .await;
    db.exec(&format!(
        "with a as (select date_trunc('day', now() at time zone '{zone}') at time zone '{zone}' as d, now() as t)
         update public.jobs set status = case when id % 20 = 0 then 'failed' else 'succeeded' end,
                started_at = f.at - interval '40 seconds', finished_at = f.at
           from (select case when {bulk} then a.d + (a.t - a.d) * ({k} / {n}) else a.t end as at from a) f
          where status in ('queued', 'running');
         insert into public.jobs (kind, status)
         select case when i % 5 = 0 then 'visual' else 'email' end, 'queued'
         from generate_series(1, {jobs}) i"
    ))
    .await;
}

/// The minutes before now that hold rows at the day's real rate, in real time: more than the
/// guard's spend-rate window (15 to 16 minutes), so every cycle meets that window as full as a
/// real one, at the first step as at the last. (The compressed steps fill only the day before.)
const RECENT: Duration = Duration::minutes(17);

/// The recent rows: since `since` (now less `RECENT` at the start), `inserted` rows, topped up
/// to the day's rate before each cycle.
struct Recent {
    since: DateTime<Utc>,
    last: DateTime<Utc>,
    inserted: u64,
    per_day: u64,
}

impl Recent {
    fn new(per_day: u64) -> Recent {
        let now = Utc::now();
        Recent {
            since: now - RECENT,
            last: now - RECENT,
            inserted: 0,
            per_day,
        }
    }

    /// Inserts what arrived at the day's rate since the last top-up, and at least
    /// `at_least` rows (one cycle's arrivals before a measured cycle), over [last, now) (the
    /// last 30 s at least).
    async fn top_up(&mut self, db: &Db, clients: u64, at_least: u64) -> u64 {
        let now = Utc::now();
        let secs = (now - self.since).num_milliseconds().max(0) as f64 / 1e3;
        let due = (self.per_day as f64 * secs / 86_400.0) as u64;
        let n = due.saturating_sub(self.inserted).max(at_least);
        let from = self.last.min(now - Duration::seconds(30)).to_rfc3339();
        let to = now.to_rfc3339();
        ledger_rows(
            db,
            clients,
            n,
            &format!(
                "'{from}'::timestamptz + ('{to}'::timestamptz - '{from}'::timestamptz) * (i::float8 / {})",
                n + 1
            ),
        )
        .await;
        self.inserted += n;
        self.last = now;
        n
    }
}

fn config(url_file: &str, incremental: bool) -> Config {
    let mut cfg = Config::default();
    cfg.database.url = SecretRef::File(url_file.into());
    cfg.database.incremental = incremental;
    cfg.database.timeout = Dur::from_secs(60);
    cfg.database.settle = Dur::from_secs(0);
    cfg
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> T {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("argument {i} ({what}) missing or invalid"))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let su_url: String = arg(&args, 1, "superuser url");
    let url_file: String = arg(&args, 2, "reader url file");
    let clients: u64 = arg(&args, 3, "clients");
    let rows: u64 = arg(&args, 4, "rows per day");
    let jobs: u64 = arg(&args, 5, "jobs per day");
    let steps: u64 = arg::<u64>(&args, 6, "steps").max(1);

    let (su, conn) = tokio_postgres::connect(&su_url, NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let (tz, zone) = late_evening_zone(Utc::now());
    println!("zone {zone} (the local day began about 21 hours ago)");
    let db = Db { su, zone };
    db.exec("create extension if not exists pg_stat_statements")
        .await;
    db.exec(&format!(
        "insert into public.clients (id, name, status) \
         select gen_random_uuid(), 'client ' || n, 'active' from generate_series(1, {clients}) n"
    ))
    .await;

    let ledger = Arc::new(LedgerRequests::default());
    let d0 = Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    ledger.set("bench", "yesterday", d0 - Duration::days(1), d0);
    ledger.set("bench", "today", d0, d0 + Duration::days(1));
    let mut inc_cfg = config(&url_file, true);
    inc_cfg.timezone = tz;
    inc_cfg.database.state_file = Some(format!("{url_file}.ledger-state.json").into());
    let mut full_cfg = config(&url_file, false);
    full_cfg.timezone = tz;
    // The full recompute reads everything every cycle, closed UTC days too: the simulated day
    // spans two UTC days, and the bulk steps write into the one that has already closed, which
    // a cached closed day (`closed_days_refresh`) would not see until its refresh.
    full_cfg.database.closed_days_refresh = Dur::from_secs(0);
    // BENCH_SCALE_FULL=0: no full recompute beside the incremental source, so the process's
    // memory is the incremental source's alone (a 100x exporter's sizing).
    let with_full = std::env::var("BENCH_SCALE_FULL").map_or(true, |v| v != "0");
    let inc = Supabase::new().with_ledger_requests(ledger.clone());
    let full = Supabase::new().with_ledger_requests(ledger.clone());

    println!(
        "step  rows_today  inc_cycle_ms  inc_db_ms  full_cycle_ms  full_db_ms  same  metrics_bytes  rss_kb"
    );
    let per_rows = rows / steps;
    let per_jobs = jobs / steps;
    let mut first_inc = f64::NAN;
    let mut last_inc = f64::NAN;
    let mut recent: Option<Recent> = None;
    let mut today_rows = 0u64;
    for step in 0..=steps {
        if step > 0 {
            // The step's share of the day's past, in compressed time, and the recent minutes
            // at the real rate (filled at the first step, topped up since), absorbed by one
            // unmeasured cycle; then the measured cycles below.
            insert(&db, clients, per_rows, per_jobs, step, steps, true).await;
            let r = recent.get_or_insert_with(|| Recent::new(rows));
            today_rows += per_rows + r.top_up(&db, clients, 0).await;
            // A bulk step stands for hours of the day, over which autovacuum would have run
            // many times (it runs here too, but cannot keep up with a step's bulk at once).
            db.exec("vacuum analyze public.ai_usage_events, public.jobs")
                .await;
            // Absorbed by unmeasured cycles: a step's bulk can be more rows than one statement
            // reads within the reader's statement timeout, and is then rebuilt in chunks.
            for _ in 0..20 {
                let f = inc
                    .collect_once(&inc_cfg, Utc::now())
                    .await
                    .expect("collects");
                if f.usage_today.is_ok() && f.usage_month.is_ok() {
                    break;
                }
            }
        }
        // Three real cycles, each after a cycle's arrivals at the day's rate: the median is
        // the step's figure (one cycle a minute also starts the state file's write).
        let mut measured = Vec::new();
        let mut last = None;
        for _ in 0..MEASURED {
            if let Some(r) = &mut recent {
                // One real 30 s cycle's arrivals: its jobs, and its ledger rows at now.
                insert(&db, clients, 0, jobs / 2880, step, steps, false).await;
                today_rows += r.top_up(&db, clients, rows / 2880).await;
            }
            let now = Utc::now();
            let (f, ms, db_ms) = timed(&db, &inc, &inc_cfg, now).await;
            measured.push((ms, db_ms));
            last = Some((f, now));
        }
        let (fi, now) = last.expect("measured");
        measured.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (inc_ms, inc_db) = measured[MEASURED / 2];
        let ff = match with_full {
            true => Some(timed(&db, &full, &full_cfg, now).await),
            false => None,
        };
        let (full_ms, full_db) = ff.as_ref().map_or((f64::NAN, f64::NAN), |f| (f.1, f.2));
        let ff = ff.map(|f| f.0);
        // A full recompute that fails (the reader's statement timeout, past a few million rows
        // a day) or is not run is no comparison: said as "n/a"; the incremental figures must
        // still be there.
        let full_failed = ff
            .as_ref()
            .is_none_or(|f| f.usage_today.is_err() || f.usage_month.is_err());
        let differ = match &ff {
            Some(f) if !full_failed => differences(&fi, f),
            _ => Vec::new(),
        };
        let agree = if full_failed {
            fi.usage_today.is_ok() && fi.usage_month.is_ok()
        } else {
            fi.usage_today.is_ok() && differ.is_empty()
        };
        let fi_today = fi.usage_today.clone();
        let bytes = metrics_bytes(&inc_cfg, fi, now);
        println!(
            "{step:>4}  {:>10}  {inc_ms:>12.1}  {inc_db:>9.1}  {full_ms:>13.1}  {full_db:>10.1}  {:>4}  {bytes:>13}  {:>6}",
            today_rows,
            match (agree, full_failed) {
                (true, false) => "yes",
                (true, true) => "n/a",
                (false, _) => "NO",
            },
            rss_kb("VmRSS:")
        );
        if step == 1 {
            first_inc = inc_ms;
        }
        last_inc = inc_ms;
        if !agree {
            eprintln!(
                "bench-scale: the incremental figures differ from a full recompute at step {step} \
                 ({}): incremental today {:?}, full today {:?}",
                differ.join(", "),
                fi_today.as_ref().err(),
                ff.as_ref().and_then(|f| f.usage_today.as_ref().err())
            );
            std::process::exit(1);
        }
    }

    // A restart as a running exporter meets it: the state file written by its last cycle
    // (which writes it at most once a minute of real time, so wait for that: in this compressed
    // day a minute-old file would hold hours of the day less), then a minute of rows at the
    // day's real rate, recorded after the file and read again by the first cycle after start.
    let state = inc_cfg.database.state_file.clone().expect("state file set");
    let written = || std::fs::metadata(&state).and_then(|m| m.modified()).ok();
    let before = written();
    if let Some(age) = before.and_then(|t| t.elapsed().ok()) {
        tokio::time::sleep(std::time::Duration::from_secs(61).saturating_sub(age)).await;
    }
    for _ in 0..30 {
        inc.collect_once(&inc_cfg, Utc::now())
            .await
            .expect("collects");
        if written() != before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    assert!(written() != before, "the last cycle wrote the state file");
    insert(&db, clients, 0, jobs / 1440, steps, steps, false).await;
    if let Some(r) = &mut recent {
        r.top_up(&db, clients, rows / 1440).await;
    }
    let resumed = Supabase::new().with_ledger_requests(ledger.clone());
    let (f, resume_ms, resume_db) = timed(&db, &resumed, &inc_cfg, Utc::now()).await;
    assert!(f.usage_month.is_ok(), "resumed from the state file");
    println!("resume_ms {resume_ms:.1} (database {resume_db:.1} ms)");
    // A restart without it: the settled rows are read again, in chunks over cycles.
    let mut no_file = inc_cfg.clone();
    no_file.database.state_file = None;
    let fresh = Supabase::new().with_ledger_requests(ledger);
    let t = Instant::now();
    let mut cycles = 0;
    loop {
        cycles += 1;
        let f = fresh
            .collect_once(&no_file, Utc::now())
            .await
            .expect("collects");
        if f.usage_today.is_ok() && f.usage_month.is_ok() || cycles >= 50 {
            break;
        }
    }
    let restart = t.elapsed().as_secs_f64() * 1e3;
    println!("restart_ms {restart:.1} in {cycles} cycle(s)");
    println!("cycle_ms_first_step {first_inc:.1}");
    println!("cycle_ms_last_step {last_inc:.1}");
    println!("vmhwm_kb {}", rss_kb("VmHWM:"));
}
