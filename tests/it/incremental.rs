//! Incremental collection (issue 17): the ledger kept between cycles and advanced with only the
//! rows recorded since the last one gives the same figures as reading everything again, to the
//! cent, through late rows, updated job statuses, a settled row updated and one deleted, and a
//! row written by a transaction that stays open across a cycle. Two real Supabase sources read
//! the same throwaway PostgreSQL (the reference schema with `recorded_at`): one incremental, one
//! with `database.incremental: false`; every step compares their figures. pg_stat_statements
//! shows that a quiet cycle reads only what was recorded since the last one.
//!
//! Needs postgresql-15 and postgresql-15-cron (see tests/it/common/pg.rs).

use crate::common::pg;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Duration, Utc};
use launchguard::config::{Config, SecretRef};
use launchguard::figures::{DbFigures, Fig, UsageRow};
use launchguard::sources::supabase::Supabase;
use launchguard::sources::supabase::ledger_ranges::LedgerRequests;
use pg::{PgOptions, TestPg};
use rust_decimal::Decimal;

struct Pair {
    ledger: Arc<LedgerRequests>,
    inc: Supabase,
    full: Supabase,
    inc_cfg: Config,
    full_cfg: Config,
    _dir: tempfile::TempDir,
}

fn config(dir: &std::path::Path, pg: &TestPg, incremental: bool) -> Config {
    let url_file = dir.join("database_url");
    std::fs::write(&url_file, pg.reader_url()).unwrap();
    let mut cfg = Config::default();
    cfg.database.url = SecretRef::File(url_file);
    cfg.database.incremental = incremental;
    // Rows settle as soon as no transaction older than them is open, and settled rows are
    // re-validated on every cycle their tables' update or delete counters moved.
    cfg.database.settle = launchguard::config::Dur::from_secs(0);
    cfg.database.closed_days_refresh = launchguard::config::Dur::from_secs(0);
    // A cycle rebuilds for at most half this: on a busy machine the default could leave a
    // re-validation for the next cycle, and the kept sums a cycle behind the full read.
    cfg.database.timeout = launchguard::config::Dur::from_secs(30);
    cfg
}

impl Pair {
    fn new(pg: &TestPg) -> Pair {
        let dir = tempfile::tempdir().unwrap();
        // The providers' UTC days the drift compares: yesterday and today in UTC.
        let ledger = Arc::new(LedgerRequests::default());
        let d0 = Utc::now()
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc();
        ledger.set("test", "yesterday", d0 - Duration::days(1), d0);
        ledger.set("test", "today", d0, d0 + Duration::days(1));
        Pair {
            inc: Supabase::new().with_ledger_requests(ledger.clone()),
            full: Supabase::new().with_ledger_requests(ledger.clone()),
            ledger,
            inc_cfg: config(dir.path(), pg, true),
            full_cfg: config(dir.path(), pg, false),
            _dir: dir,
        }
    }

    /// One cycle of each at the same instant; their figures must agree exactly.
    async fn cycle(&self, step: &str) -> DbFigures {
        self.cycle_at(step, Utc::now()).await
    }

    /// One cycle of each at `now` (the spend window's minutes move with it).
    async fn cycle_at(&self, step: &str, now: chrono::DateTime<Utc>) -> DbFigures {
        let inc = self.inc.collect_once(&self.inc_cfg, now).await.unwrap();
        let full = self.full.collect_once(&self.full_cfg, now).await.unwrap();
        assert!(full.usage_today.is_ok(), "{step}: {:?}", full.usage_today);
        assert_eq!(
            grouped(&inc.usage_today),
            grouped(&full.usage_today),
            "{step}: usage today"
        );
        assert_eq!(
            grouped(&inc.usage_month),
            grouped(&full.usage_month),
            "{step}: usage this month"
        );
        assert_eq!(
            grouped(&inc.usage_last_15m),
            grouped(&full.usage_last_15m),
            "{step}: usage in the spend-rate window"
        );
        assert_eq!(inc.ledger_ranges.len(), full.ledger_ranges.len());
        for (i, f) in inc.ledger_ranges.iter().zip(&full.ledger_ranges) {
            assert_eq!((i.since, i.until), (f.since, f.until), "{step}: ranges");
            assert_eq!(grouped(&i.rows), grouped(&f.rows), "{step}: ledger range");
        }
        assert_eq!(inc.jobs, full.jobs, "{step}: jobs");
        assert_eq!(
            days(&inc),
            days(&full),
            "{step}: the milestone's closed days"
        );
        inc
    }
}

/// The rows summed per group: the full read concatenates the closed days' rows and today's,
/// the kept ledger merges them; every consumer sums them the same.
fn grouped(
    rows: &Fig<Vec<UsageRow>>,
) -> BTreeMap<(Option<String>, String, String, bool), UsageRow> {
    let mut out = BTreeMap::new();
    for r in rows.as_ref().expect("the ledger is read") {
        let key = (
            r.client_id.clone(),
            r.provider.clone(),
            r.model.clone(),
            r.priced,
        );
        let e: &mut UsageRow = out.entry(key).or_default();
        e.input_tokens += r.input_tokens;
        e.output_tokens += r.output_tokens;
        e.cache_read_tokens += r.cache_read_tokens;
        e.cache_write_tokens += r.cache_write_tokens;
        e.characters += r.characters;
        e.requests += r.requests;
        e.cost_usd += r.cost_usd;
    }
    out
}

/// The milestone window's closed days, each summed per group.
type Days = Vec<(
    chrono::DateTime<Utc>,
    BTreeMap<(Option<String>, String, String, bool), UsageRow>,
)>;

fn days(f: &DbFigures) -> Days {
    let days = f.usage_days.as_ref().expect("the window is read");
    assert!(!days.is_empty(), "the default window has closed days");
    days.iter()
        .map(|d| (d.day_start, grouped(&Ok(d.rows.clone()))))
        .collect()
}

fn cost(f: &DbFigures) -> Decimal {
    f.usage_month
        .as_ref()
        .unwrap()
        .iter()
        .map(|r| r.cost_usd)
        .sum()
}

fn calls(pg: &TestPg, fragment: &str) -> u64 {
    pg.psql_query(&format!(
        "select coalesce(sum(calls), 0) from pg_stat_statements where query like '%{fragment}%'"
    ))
    .trim()
    .parse()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_figures_equal_a_full_recompute_through_late_updated_and_open_rows() {
    let pg = TestPg::start_with(PgOptions {
        stat_statements: true,
        ..PgOptions::default()
    });
    pg.psql_query(
        "insert into public.clients (id, name, status) values \
         ('00000000-0000-0000-0000-00000000000a', 'Acme', 'active'), \
         ('00000000-0000-0000-0000-00000000000b', 'Bolt', 'trial')",
    );
    // 3,000 rows from the first of the month (or eight days ago, early in a month: the
    // milestone's window of closed days) to now, over two clients, three providers and priced
    // and unpriced rows.
    pg.psql_query(
        "insert into public.ai_usage_events (occurred_at, client_id, provider, model, \
             input_tokens, output_tokens, cost_usd) \
         select least(date_trunc('month', now()), now() - interval '8 days') \
                    + (now() - least(date_trunc('month', now()), now() - interval '8 days')) * (i / 3000.0), \
                case i % 3 when 0 then null \
                           when 1 then '00000000-0000-0000-0000-00000000000a'::uuid \
                           else '00000000-0000-0000-0000-00000000000b'::uuid end, \
                (array['anthropic', 'openai', 'openrouter'])[1 + i % 3], \
                'm' || (i % 4), i, 2 * i, \
                case when i % 5 = 0 then null else (i % 97) / 100.0 + 0.000123 end \
         from generate_series(1, 3000) i",
    );
    pg.psql_query(
        "insert into public.jobs (kind, status, created_at) \
         select case when i % 2 = 0 then 'visual' else 'email' end, 'queued', now() - i * interval '1 second' \
         from generate_series(1, 40) i",
    );
    let pair = Pair::new(&pg);
    let first = pair.cycle("first cycle").await;
    assert!(cost(&first) > Decimal::ZERO, "the month has a cost");

    // Late rows: written now, occurred yesterday (on the 1st of a month: at its first instant,
    // so the month's cost still holds it) and earlier today.
    pg.psql_query(
        "insert into public.ai_usage_events (occurred_at, client_id, provider, model, input_tokens, cost_usd) values \
         (greatest(date_trunc('month', now()), now() - interval '1 day'), '00000000-0000-0000-0000-00000000000a', 'openai', 'late', 1000, 1.234567), \
         (now() - interval '10 minutes', null, 'anthropic', 'late', 7, null)",
    );
    let late = pair.cycle("late rows").await;
    assert_eq!(
        cost(&late) - cost(&first),
        Decimal::new(1_234_567, 6),
        "the late priced row counts once, to the cent"
    );
    pair.cycle("late rows, settled").await;
    assert!(
        grouped(&late.usage_last_15m)
            .keys()
            .any(|(_, provider, model, _)| provider == "anthropic" && model == "late"),
        "the late row of 10 minutes ago is in the spend window"
    );
    // The window's minutes move on: one minute leaves it and merges into the day, the next
    // begins; then 12 minutes on, the late row of 10 minutes ago leaves the window.
    pg.psql_query(
        "insert into public.ai_usage_events (occurred_at, client_id, provider, model, input_tokens, cost_usd) values \
         (now() + interval '90 seconds', '00000000-0000-0000-0000-00000000000b', 'openai', 'ahead', 5, 0.5)",
    );
    pair.cycle_at("a minute on", Utc::now() + Duration::seconds(61))
        .await;
    let later = pair
        .cycle_at("12 minutes on", Utc::now() + Duration::minutes(12))
        .await;
    assert!(
        !grouped(&later.usage_last_15m)
            .keys()
            .any(|(_, _, model, _)| model == "late"),
        "the late row has left the spend window"
    );

    // Job statuses move on; visual jobs created meanwhile.
    pg.psql_query(
        "update public.jobs set status = 'running', started_at = now() - interval '30 seconds' \
         where id % 3 = 0; \
         update public.jobs set status = 'succeeded', finished_at = now() where id % 6 = 0; \
         update public.jobs set status = 'failed', finished_at = now() where id % 7 = 0 and status = 'queued'; \
         insert into public.jobs (kind, status) values ('visual', 'queued'), ('visual', 'running')",
    );
    pair.cycle("job statuses").await;

    // A settled row's cost corrected, another settled row deleted.
    pg.psql_query(
        "update public.ai_usage_events set cost_usd = 100.000001 where id = 10; \
         delete from public.ai_usage_events where id = 11",
    );
    let fixed = pair.cycle("settled rows updated and deleted").await;
    assert_ne!(cost(&fixed), cost(&late), "the correction shows");

    // A row written by a transaction that stays open across a cycle.
    let writer = pg.connect_superuser().await;
    writer.batch_execute("begin").await.unwrap();
    writer
        .batch_execute(
            "insert into public.ai_usage_events (occurred_at, provider, model, cost_usd) \
             values (now(), 'openai', 'slow-writer', 2.5)",
        )
        .await
        .unwrap();
    let before = pair.cycle("writer still open").await;
    // Let a cycle or two pass with the transaction open, so the watermark would pass its row
    // if it followed the clock rather than the oldest open transaction.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    pair.cycle("writer still open, later").await;
    writer.batch_execute("commit").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let after = pair.cycle("writer committed").await;
    assert_eq!(
        cost(&after) - cost(&before),
        Decimal::new(25, 1),
        "the row of the transaction open across cycles is counted once"
    );

    // A quiet cycle reads only what was recorded since the last one: no chunk of settled rows.
    // (Both in the same minute: when a minute begins, the rows since the last one began are
    // read again for the spend window.)
    let t = Utc::now();
    pair.cycle_at("settled", t).await;
    pg.psql_query("select pg_stat_statements_reset()");
    pair.inc.collect_once(&pair.inc_cfg, t).await.unwrap();
    assert_eq!(
        calls(&pg, "width_bucket(e.occurred_at"),
        1,
        "one delta read"
    );
    assert_eq!(
        calls(&pg, "and e.recorded_at < $3::timestamptz"),
        0,
        "no settled rows read again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_from_the_state_file_and_reads_only_what_came_since() {
    let pg = TestPg::start_with(PgOptions {
        stat_statements: true,
        ..PgOptions::default()
    });
    pg.psql_query(
        "insert into public.ai_usage_events (occurred_at, provider, model, input_tokens, cost_usd) \
         select now() - (i % 20) * interval '1 hour', 'openai', 'm' || (i % 3), i, (i % 7) / 10.0 \
         from generate_series(1, 2000) i",
    );
    let mut pair = Pair::new(&pg);
    let state = pair._dir.path().join("ledger-state.json");
    pair.inc_cfg.database.state_file = Some(state.clone());
    // Before and after the restart in the same minute (see the quiet cycle above).
    let t = Utc::now();
    pair.cycle_at("before the restart", t).await;
    assert!(written(&state).await, "the kept sums are written");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&state).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "only the owner reads clients' spend");

    // While "down": new rows, late ones among them.
    pg.psql_query(
        "insert into public.ai_usage_events (occurred_at, provider, model, input_tokens, cost_usd) \
         values (now() - interval '5 hours', 'openai', 'm1', 5, 1.5), (now(), 'anthropic', 'x', 1, 0.25)",
    );
    // A restart: a new source with the same state file reads no settled chunk, only the delta.
    pair.inc = Supabase::new().with_ledger_requests(pair.ledger.clone());
    pg.psql_query("select pg_stat_statements_reset()");
    let first = pair.inc.collect_once(&pair.inc_cfg, t).await.unwrap();
    assert!(first.usage_month.is_ok() && first.usage_days.is_ok());
    assert_eq!(
        calls(&pg, "and e.recorded_at < $3::timestamptz"),
        0,
        "nothing read again: the settled sums came from the file"
    );
    assert_eq!(
        calls(&pg, "order by 2, 3, 1, 4"),
        0,
        "no day read whole: the milestone's closed days came from the file too"
    );
    let resumed = pair.cycle_at("resumed", t).await;
    assert!(resumed.usage_month.is_ok());

    // A settled row changed while down is caught by the counters saved with the sums.
    pg.psql_query("update public.ai_usage_events set cost_usd = 42 where id = 7");
    pair.inc = Supabase::new().with_ledger_requests(pair.ledger.clone());
    pair.cycle("resumed after an update").await;

    // A file that is not a saved ledger is ignored, never trusted.
    std::fs::write(&state, b"{\"version\": 1, \"garbage\": true}").unwrap();
    pair.inc = Supabase::new().with_ledger_requests(pair.ledger.clone());
    pair.cycle("a corrupt state file").await;
}

/// Whether `path` appears within 10 s: the state file is written off the cycle, on a
/// blocking thread.
async fn written(path: &std::path::Path) -> bool {
    for _ in 0..100 {
        if path.exists() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_file_that_cannot_be_written_costs_no_figure_and_is_tried_again() {
    let pg = TestPg::start();
    pg.psql_query(
        "insert into public.ai_usage_events (occurred_at, provider, model, input_tokens, cost_usd) \
         select now() - (i % 5) * interval '1 minute', 'openai', 'm' || (i % 3), i, 0.5 \
         from generate_series(1, 200) i",
    );
    let mut pair = Pair::new(&pg);
    let dir = pair._dir.path().join("not-yet");
    let state = dir.join("ledger-state.json");
    pair.inc_cfg.database.state_file = Some(state.clone());
    // Its folder does not exist: every write fails, and the figures are still served (the
    // pair's cycle compares them with a full recompute).
    for step in ["folder missing", "folder still missing"] {
        pair.cycle(step).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    assert!(!state.exists());
    // Once the folder is there, the next cycle writes again: no minute's wait after a failure.
    std::fs::create_dir(&dir).unwrap();
    pair.cycle("folder made").await;
    assert!(written(&state).await, "the write is tried again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_too_many_for_one_statement_since_the_watermark_are_rebuilt_in_chunks() {
    let pg = TestPg::start();
    // Rows recorded after `slow.after` cost 10 ms each to read, through the view, so that
    // reading all of them in one statement passes the reader's statement timeout (500 ms) while
    // a chunk of a few minutes of them does not: what a bulk import, or a long stop at 100x,
    // does to one delta statement.
    pg.psql_query(
        "create table public.slow (after timestamptz not null); \
         insert into public.slow values ('infinity'); \
         create function public.slow_read(r timestamptz) returns boolean language sql volatile as \
           $$ select case when r > (select after from public.slow) \
                          then pg_sleep(0.01) is not null else true end $$; \
         grant select on public.slow to launchguard_reader; \
         grant execute on function public.slow_read(timestamptz) to launchguard_reader; \
         create or replace view launchguard.usage_events as \
           select e.occurred_at::timestamptz as occurred_at, e.client_id::text as client_id, \
                  e.provider::text as provider, e.model::text as model, \
                  e.input_tokens::bigint as input_tokens, e.output_tokens::bigint as output_tokens, \
                  e.cache_read_tokens::bigint as cache_read_tokens, \
                  e.cache_write_tokens::bigint as cache_write_tokens, \
                  e.characters::bigint as characters, e.requests::bigint as requests, \
                  e.cost_usd::numeric as cost_usd, e.recorded_at::timestamptz as recorded_at \
           from public.ai_usage_events e where public.slow_read(e.recorded_at); \
         alter role launchguard_reader set statement_timeout = '500ms'",
    );
    pg.psql_query(
        "insert into public.ai_usage_events (occurred_at, provider, model, input_tokens, cost_usd) \
         select now() - (i % 50) * interval '1 second', 'openai', 'm' || (i % 3), i, 0.25 \
         from generate_series(1, 500) i",
    );
    let mut pair = Pair::new(&pg);
    // A zone where it is about noon, so the local day holds the last three hours whatever
    // the hour the test runs at.
    let zone = noon_zone(Utc::now());
    pair.inc_cfg.timezone = launchguard::config::Zone(zone.parse().unwrap());
    let cfg = &pair.inc_cfg;
    let first = pair.inc.collect_once(cfg, Utc::now()).await.unwrap();
    assert!(first.usage_today.is_ok(), "{:?}", first.usage_today);

    // 150 rows recorded at once, over the last three hours: 1.5 s in one statement.
    pg.psql_query("update public.slow set after = now()");
    pg.psql_query(
        "insert into public.ai_usage_events (occurred_at, provider, model, input_tokens, cost_usd) \
         select now() - interval '3 hours' * (i / 151.0), 'anthropic', 'bulk', 1, 1.5 \
         from generate_series(1, 150) i",
    );
    let failed = pair.inc.collect_once(cfg, Utc::now()).await.unwrap();
    let why = failed
        .usage_today
        .expect_err("one statement cannot read them");
    assert!(why.reason.contains("statement timeout"), "{}", why.reason);

    // Read again in chunks that fit, over the next cycles: the day's figures come back, exact.
    let expected: Decimal = pg
        .psql_query(&format!(
            "select sum(cost_usd) from public.ai_usage_events \
             where occurred_at >= date_trunc('day', now() at time zone '{zone}') at time zone '{zone}'"
        ))
        .trim()
        .parse()
        .unwrap();
    let mut cycles = 0;
    let today = loop {
        cycles += 1;
        let f = pair.inc.collect_once(cfg, Utc::now()).await.unwrap();
        if let Ok(rows) = f.usage_today {
            break rows;
        }
        assert!(cycles < 60, "still unavailable: {:?}", f.usage_today);
    };
    let cost: Decimal = today.iter().map(|r| r.cost_usd).sum();
    assert_eq!(cost, expected, "after {cycles} cycles");
}

/// An `Etc/GMT` zone where it is about noon at `now`.
fn noon_zone(now: chrono::DateTime<Utc>) -> String {
    use chrono::Timelike;
    // Local = UTC + off, the local hour 12: off = 12 - hour, within UTC-12..UTC+14.
    let off = 12 - i64::from(now.hour());
    match off {
        0 => "Etc/UTC".to_string(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}
