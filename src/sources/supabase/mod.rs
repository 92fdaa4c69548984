//! The Supabase (PostgreSQL) source: runs each figure query and turns rows into figures. A
//! missing table, column or extension makes that one figure unavailable, never the source; so
//! does a table row-level security would filter (the session runs with `row_security = off`, so
//! such a query fails instead of returning fewer rows).

pub mod adapter;
mod incremental;
pub mod install;
pub mod ledger_ranges;
pub mod milestone;
pub mod queries;
pub mod slices;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use rust_decimal::Decimal;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::{Source, SourceError};
use crate::config::{Config, QueryName, QueryParam};
use crate::core::periods;
use crate::figures::*;
use crate::state::Collected;

/// Default SQL and parameters of a figure query.
pub fn default_query(q: QueryName) -> (&'static str, &'static [QueryParam]) {
    use QueryParam::*;
    match q {
        QueryName::ActiveClients => (queries::ACTIVE_CLIENTS, &[]),
        QueryName::Usage => (queries::USAGE, &[From, To]),
        QueryName::Jobs => (queries::JOBS, &[DayStart, Now]),
        QueryName::Traffic => (queries::TRAFFIC, &[Now]),
        QueryName::Bandwidth => (queries::BANDWIDTH, &[DayStart]),
        QueryName::StorageBuckets => (queries::STORAGE_BUCKETS, &[]),
        QueryName::DatabaseSize => (queries::DATABASE_SIZE, &[]),
        QueryName::CronJobs => (queries::CRON_JOBS, &[Now]),
        QueryName::Connections => (queries::CONNECTIONS, &[]),
        QueryName::Trials => (queries::TRIALS, &[Now]),
        QueryName::ClientNames => (queries::CLIENT_NAMES, &[]),
    }
}

/// The instants a collection cycle binds to its queries.
#[derive(Debug, Clone, Copy)]
pub struct Instants {
    pub now: DateTime<Utc>,
    pub day_start: DateTime<Utc>,
    pub next_day_start: DateTime<Utc>,
    pub month_start: DateTime<Utc>,
    /// Start of the guard's spend-rate window (`periods::spend_window_start`).
    pub spend_since: DateTime<Utc>,
}

impl Instants {
    pub fn at(now: DateTime<Utc>, cfg: &Config) -> Self {
        let tz = cfg.tz();
        Instants {
            now,
            day_start: periods::day_start(now, tz),
            next_day_start: periods::next_day_start(now, tz),
            month_start: periods::month_start(now, tz),
            spend_since: periods::spend_window_start(now),
        }
    }
}

/// Closed days of this month, re-read only on a new day or after `closed_days_refresh`.
struct ClosedDays {
    month_start: DateTime<Utc>,
    day_start: DateTime<Utc>,
    fetched: Instant,
    rows: Vec<UsageRow>,
}

struct PoolSlot {
    key: String,
    pool: Pool,
}

/// Collects the database figures.
pub struct Supabase {
    pool: Mutex<Option<PoolSlot>>,
    closed_days: tokio::sync::Mutex<Option<ClosedDays>>,
    ledger_requests: Arc<ledger_ranges::LedgerRequests>,
    ledger_cache: tokio::sync::Mutex<ledger_ranges::Cache>,
    milestone_cache: tokio::sync::Mutex<milestone::Cache>,
    incremental: tokio::sync::Mutex<incremental::Incremental>,
}

/// What `ledger_and_jobs` reads.
struct LedgerAndJobs {
    today: Fig<Vec<UsageRow>>,
    month: Fig<Vec<UsageRow>>,
    /// The spend-rate window.
    last_15m: Fig<Vec<UsageRow>>,
    /// The requested UTC ranges.
    ranges: Vec<LedgerRange>,
    /// The milestone window's closed days, when the kept ledger holds them (else None: they
    /// are read apart).
    days: Option<Fig<Vec<DayUsage>>>,
    jobs: Fig<JobFigures>,
}

impl Default for Supabase {
    fn default() -> Self {
        Self::new()
    }
}

impl Supabase {
    pub fn new() -> Self {
        Supabase {
            pool: Mutex::new(None),
            closed_days: tokio::sync::Mutex::new(None),
            ledger_requests: Arc::default(),
            ledger_cache: tokio::sync::Mutex::default(),
            milestone_cache: tokio::sync::Mutex::default(),
            incremental: tokio::sync::Mutex::default(),
        }
    }

    /// Also reads the ledger over the UTC ranges the provider sources register here.
    pub fn with_ledger_requests(mut self, r: Arc<ledger_ranges::LedgerRequests>) -> Self {
        self.ledger_requests = r;
        self
    }

    /// The pool for the current config, rebuilt when the URL, CA or size changes.
    fn pool(&self, cfg: &Config) -> Result<Pool, SourceError> {
        let url = cfg.database.url.resolve()?.ok_or_else(|| {
            SourceError::new(
                "config",
                format!("no database URL: {} is not set", cfg.database.url),
            )
        })?;
        let key = format!(
            "{}|{:?}|{}|{}",
            url.expose(),
            cfg.database.ca_file,
            cfg.database.pool_size,
            cfg.database.timeout
        );
        let mut slot = self.pool.lock().expect("lock");
        if let Some(s) = slot.as_ref().filter(|s| s.key == key) {
            return Ok(s.pool.clone());
        }
        let pg: tokio_postgres::Config = url.expose().parse().map_err(|_| {
            // The parser's message may quote the URL, which holds the password.
            SourceError::new(
                "config",
                "the database URL is not a valid PostgreSQL connection string",
            )
        })?;
        let tls = tls_connector(cfg)?;
        let mgr = Manager::from_config(
            pg,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .post_create(deadpool_postgres::Hook::async_fn(|client, _| {
                Box::pin(async move {
                    no_row_security(client)
                        .await
                        .map_err(deadpool_postgres::HookError::Backend)
                })
            }))
            .max_size(cfg.database.pool_size)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(cfg.database.timeout.0))
            .wait_timeout(Some(cfg.database.timeout.0))
            .build()
            .map_err(|e| {
                SourceError::new("config", format!("cannot build the connection pool: {e}"))
            })?;
        *slot = Some(PoolSlot {
            key,
            pool: pool.clone(),
        });
        Ok(pool)
    }

    async fn collect_at(&self, cfg: &Config, at: Instants) -> Result<DbFigures, SourceError> {
        let pool = self.pool(cfg)?;
        let client = pool.get().await.map_err(pool_error)?;
        let run = Runner {
            client: &client,
            cfg,
            at,
        };

        let active_clients = run
            .one(QueryName::ActiveClients, None, |r| u(r, "active"))
            .await?;
        let LedgerAndJobs {
            today: usage_today,
            month: usage_month,
            last_15m: usage_last_15m,
            ranges: ledger_ranges,
            days,
            jobs,
        } = self.ledger_and_jobs(&run, at).await?;
        let traffic = run.one(QueryName::Traffic, None, traffic_figures).await?;
        let bandwidth_today_bytes = run
            .one(QueryName::Bandwidth, None, |r| u(r, "bytes"))
            .await?;
        let storage_buckets = run
            .many(QueryName::StorageBuckets, None, |r| {
                Ok((text(r, "bucket")?, u(r, "bytes")?))
            })
            .await?;
        let database_size_bytes = run
            .one(QueryName::DatabaseSize, None, |r| u(r, "bytes"))
            .await?;
        let cron_jobs = run.many(QueryName::CronJobs, None, cron_row).await?;
        let vercel_cron = if crate::ingest::vercel::cron::wanted(cfg) {
            Some(crate::ingest::vercel::cron::read(&client, cfg, at.now).await)
        } else {
            None
        };
        let connections = run
            .one(QueryName::Connections, None, |r| {
                Ok(Connections {
                    used: u(r, "used")?,
                    max: u(r, "max")?,
                })
            })
            .await?;
        let trials = milestone::trials(&run).await?;
        let client_names = client_names(&run).await?;
        let usage_days = match days {
            Some(d) => d,
            None => {
                let mut cache = self.milestone_cache.lock().await;
                milestone::usage_days(&run, at, &mut cache).await?
            }
        };
        Ok(DbFigures {
            collected_at: at.now,
            active_clients,
            usage_today,
            usage_month,
            usage_last_15m,
            jobs,
            traffic,
            bandwidth_today_bytes,
            storage_buckets,
            database_size_bytes,
            cron_jobs,
            connections,
            ledger_ranges,
            vercel_cron,
            trials,
            usage_days,
            client_names,
        })
    }

    /// Today's and this month's ledger, the requested UTC ranges and the job figures: kept
    /// between cycles and advanced incrementally when the view and config allow, else read
    /// whole.
    async fn ledger_and_jobs(
        &self,
        run: &Runner<'_>,
        at: Instants,
    ) -> Result<LedgerAndJobs, SourceError> {
        let cfg = run.cfg;
        // The ledger and the jobs created today, kept between cycles when they can be.
        let ledger_kept = incremental::ledger_allowed(cfg);
        let jobs_kept = incremental::jobs_allowed(cfg);
        let probe = if ledger_kept || jobs_kept {
            incremental::Incremental::probe(run).await?
        } else {
            None
        };
        let requests = self.ledger_requests.ranges();
        let mut inc = self.incremental.lock().await;
        let days = milestone::window_days(cfg, at);
        let kept = match &probe {
            Some(p) if ledger_kept => inc.usage(run, p, at, &requests, &days).await?,
            _ => None,
        };
        let (usage_today, usage_month, last_15m, ledger_ranges, days) = match kept {
            Some(k) => (k.today, k.month, k.last_15m, k.ranges, Some(k.days)),
            None => {
                let today = run
                    .many(
                        QueryName::Usage,
                        Some((at.day_start, at.next_day_start)),
                        usage_row,
                    )
                    .await?;
                let month = match &today {
                    Ok(today) => match self.closed_days(run, at).await? {
                        Ok(mut closed) => {
                            closed.extend(today.iter().cloned());
                            Ok(closed)
                        }
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e.clone()),
                };
                let ranges = {
                    let mut cache = self.ledger_cache.lock().await;
                    ledger_ranges::read(run, at, &today, &requests, &mut cache).await?
                };
                // The guard's spend rate: the same ledger query over its window.
                let last_15m = run
                    .many(
                        QueryName::Usage,
                        Some((at.spend_since, at.next_day_start)),
                        usage_row,
                    )
                    .await?;
                (today, month, last_15m, ranges, None)
            }
        };
        let jobs = if !cfg.jobs_from.reads_table() {
            Err(Unavailable {
                reason: "jobs_from is bullmq: the jobs view is not read".into(),
            })
        } else {
            match &probe {
                Some(p) if jobs_kept => inc.jobs(run, p, at).await?,
                _ => run.one(QueryName::Jobs, None, job_figures).await?,
            }
        };
        Ok(LedgerAndJobs {
            today: usage_today,
            month: usage_month,
            last_15m,
            ranges: ledger_ranges,
            days,
            jobs,
        })
    }

    /// Usage of the closed days of this month, from cache unless a day passed or it is stale.
    async fn closed_days(
        &self,
        run: &Runner<'_>,
        at: Instants,
    ) -> Result<Fig<Vec<UsageRow>>, SourceError> {
        if at.month_start >= at.day_start {
            return Ok(Ok(Vec::new()));
        }
        let mut cache = self.closed_days.lock().await;
        let fresh = cache.as_ref().is_some_and(|c| {
            c.month_start == at.month_start
                && c.day_start == at.day_start
                && c.fetched.elapsed() < run.cfg.database.closed_days_refresh.0
        });
        if !fresh {
            match run
                .many(
                    QueryName::Usage,
                    Some((at.month_start, at.day_start)),
                    usage_row,
                )
                .await?
            {
                Ok(rows) => {
                    *cache = Some(ClosedDays {
                        month_start: at.month_start,
                        day_start: at.day_start,
                        fetched: Instant::now(),
                        rows,
                    })
                }
                Err(e) => return Ok(Err(e)),
            }
        }
        Ok(Ok(cache
            .as_ref()
            .map(|c| c.rows.clone())
            .unwrap_or_default()))
    }

    /// Runs one query and returns its rows for `launchguard check --connect`.
    pub async fn check_query(
        &self,
        cfg: &Config,
        q: QueryName,
    ) -> Result<Result<Vec<Row>, Unavailable>, SourceError> {
        let at = Instants::at(Utc::now(), cfg);
        let pool = self.pool(cfg)?;
        let client = pool.get().await.map_err(pool_error)?;
        let run = Runner {
            client: &client,
            cfg,
            at,
        };
        run.rows(q, Some((at.day_start, at.next_day_start))).await
    }

    /// Collects once at an explicit instant (tests, check).
    pub async fn collect_once(
        &self,
        cfg: &Config,
        now: DateTime<Utc>,
    ) -> Result<DbFigures, SourceError> {
        self.collect_at(cfg, Instants::at(now, cfg)).await
    }
}

impl Source for Supabase {
    type Output = DbFigures;

    fn name(&self) -> &'static str {
        "supabase"
    }

    fn interval(&self, cfg: &Config) -> Duration {
        cfg.database.interval.0
    }

    fn timeout(&self, cfg: &Config) -> Duration {
        cfg.database.timeout.0
    }

    async fn collect(&self, cfg: Arc<Config>) -> Result<DbFigures, SourceError> {
        self.collect_at(&cfg, Instants::at(Utc::now(), &cfg)).await
    }

    fn store(out: DbFigures, into: &mut Collected) {
        into.figures.db = Some(out);
    }
}

struct Runner<'a> {
    client: &'a deadpool_postgres::Client,
    cfg: &'a Config,
    at: Instants,
}

impl Runner<'_> {
    /// Rows of a query; `Ok(Err(_))` when the figure is unavailable, `Err` when the whole
    /// source failed (the connection is gone).
    async fn rows(
        &self,
        q: QueryName,
        range: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Result<Fig<Vec<Row>>, SourceError> {
        let (sql, values) = self.statement(q, range);
        self.run(q, sql, &values).await
    }

    /// `EXPLAIN (FORMAT JSON, VERBOSE)` of a figure query with the values it would bind.
    async fn explain(
        &self,
        q: QueryName,
        range: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Result<Fig<serde_json::Value>, SourceError> {
        let (sql, values) = self.statement(q, range);
        let explain = format!("explain (format json, verbose) {sql}");
        Ok(match self.run(q, &explain, &values).await? {
            Ok(rows) => rows
                .first()
                .and_then(|r| r.try_get::<_, serde_json::Value>(0).ok())
                .ok_or_else(|| Unavailable {
                    reason: format!("{} query: EXPLAIN returned no plan", q.as_str()),
                }),
            Err(e) => Err(e),
        })
    }

    /// The SQL of a figure query (the config's or the default) and the instants it binds.
    fn statement(
        &self,
        q: QueryName,
        range: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> (&str, Vec<DateTime<Utc>>) {
        let (sql, params): (&str, Vec<QueryParam>) = match self.cfg.database.queries.get(&q) {
            Some(def) => (def.sql.as_str(), def.params.clone()),
            None => {
                let (s, p) = default_query(q);
                (s, p.to_vec())
            }
        };
        let values = params
            .iter()
            .map(|p| match p {
                QueryParam::DayStart => self.at.day_start,
                QueryParam::MonthStart => self.at.month_start,
                QueryParam::Now => self.at.now,
                QueryParam::From => range.map_or(self.at.day_start, |r| r.0),
                QueryParam::To => range.map_or(self.at.next_day_start, |r| r.1),
            })
            .collect();
        (sql, values)
    }

    async fn run(
        &self,
        q: QueryName,
        sql: &str,
        values: &[DateTime<Utc>],
    ) -> Result<Fig<Vec<Row>>, SourceError> {
        let refs: Vec<&(dyn ToSql + Sync)> =
            values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        self.run_with(q, sql, &refs).await
    }

    /// Runs `sql` with any parameters; failures are reported as `q`'s (the figure it feeds).
    async fn run_with(
        &self,
        q: QueryName,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Fig<Vec<Row>>, SourceError> {
        Ok(self.run_timed(q, sql, params).await?.map_err(|(e, _)| e))
    }

    /// `run_with`, also saying whether the statement was cancelled by the reader's statement
    /// timeout (the incremental reads then read less at a time).
    async fn run_timed(
        &self,
        q: QueryName,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Result<Vec<Row>, (Unavailable, bool)>, SourceError> {
        match self.client.query(sql, params).await {
            Ok(rows) => Ok(Ok(rows)),
            Err(e)
                if e.is_closed()
                    || e.as_db_error().is_none() && e.code().is_none() && is_io(&e) =>
            {
                Err(SourceError::new(
                    "connection_lost",
                    format!("the database connection was lost: {e}"),
                ))
            }
            Err(e) => {
                let replaced = self.cfg.database.queries.contains_key(&q);
                let reason = figure_error(q, replaced, &e);
                tracing::debug!(query = q.as_str(), %reason, "figure unavailable");
                let timed_out = e.code() == Some(&SqlState::QUERY_CANCELED);
                Ok(Err((Unavailable { reason }, timed_out)))
            }
        }
    }

    async fn many<T>(
        &self,
        q: QueryName,
        range: Option<(DateTime<Utc>, DateTime<Utc>)>,
        map: impl Fn(&Row) -> Result<T, ColumnError>,
    ) -> Result<Fig<Vec<T>>, SourceError> {
        Ok(match self.rows(q, range).await? {
            Ok(rows) => rows
                .iter()
                .map(&map)
                .collect::<Result<Vec<T>, ColumnError>>()
                .map_err(|e| Unavailable {
                    reason: format!("{} query: {e}", q.as_str()),
                }),
            Err(e) => Err(e),
        })
    }

    async fn one<T>(
        &self,
        q: QueryName,
        range: Option<(DateTime<Utc>, DateTime<Utc>)>,
        map: impl Fn(&Row) -> Result<T, ColumnError>,
    ) -> Result<Fig<T>, SourceError> {
        Ok(match self.many(q, range, map).await? {
            Ok(mut v) if !v.is_empty() => Ok(v.swap_remove(0)),
            Ok(_) => Err(Unavailable {
                reason: format!("{} query returned no row", q.as_str()),
            }),
            Err(e) => Err(e),
        })
    }
}

fn is_io(e: &tokio_postgres::Error) -> bool {
    let s = e.to_string();
    s.contains("connection") || s.contains("error communicating")
}

pub(crate) fn pool_error(e: deadpool_postgres::PoolError) -> SourceError {
    use deadpool_postgres::PoolError as P;
    match e {
        P::Timeout(_) => SourceError::new("timeout", "timed out connecting to the database"),
        P::Backend(e) => {
            let auth = e.code().is_some_and(|c| {
                *c == SqlState::INVALID_PASSWORD
                    || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            });
            if auth {
                SourceError::new(
                    "auth",
                    format!("the database refused the credentials: {}", db_message(&e)),
                )
            } else {
                SourceError::new(
                    "connect",
                    format!("cannot connect to the database: {}", db_message(&e)),
                )
            }
        }
        other => SourceError::new(
            "connect",
            format!("cannot connect to the database: {other}"),
        ),
    }
}

/// The server's message, or the client error's, never the connection string.
pub(crate) fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => {
            let mut s = e.to_string();
            if let Some(src) = std::error::Error::source(e) {
                s = format!("{s}: {src}");
            }
            s
        }
    }
}

/// Row-level security must never shrink a figure: with `row_security = off` a query it would
/// filter fails, naming the table, and the figure is reported unavailable. Reads through views
/// owned by a role that bypasses row-level security (the adapter views) are not affected. Set
/// once on each new connection of the pool (the migration also sets it on the role, which covers
/// a pooler that hands statements to other sessions).
async fn no_row_security(client: &tokio_postgres::Client) -> Result<(), tokio_postgres::Error> {
    client.batch_execute("set row_security = off").await
}

/// Why a figure's query failed, in words a person can act on: what went wrong, as the server
/// said it, and the fix, naming the object (`replaced`: the config replaced the query).
fn figure_error(q: QueryName, replaced: bool, e: &tokio_postgres::Error) -> String {
    let msg = db_message(e);
    let view = adapter::view_of(q)
        .filter(|_| !replaced)
        .map(|v| format!("launchguard.{}", v.name));
    let (what, fix) = match e.code() {
        Some(c) if *c == SqlState::UNDEFINED_TABLE => ("missing table or view", missing_fix(&msg)),
        Some(c) if *c == SqlState::UNDEFINED_COLUMN => (
            "missing column",
            view.map(|v| {
                format!("{v} must have the columns docs/supabase.md lists (`launchguard check --connect` names the missing ones)")
            }),
        ),
        Some(c) if *c == SqlState::INVALID_SCHEMA_NAME => (
            "missing schema",
            Some(APPLY.to_string()),
        ),
        Some(c) if *c == SqlState::UNDEFINED_FUNCTION => ("missing function", None),
        Some(c) if *c == SqlState::QUERY_CANCELED => (
            "statement timeout",
            Some("the query read more rows than an index allows within launchguard_reader's statement timeout; `launchguard check --connect` names the index to add".to_string()),
        ),
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE && msg.contains("row-level security") => (
            "row-level security would hide rows",
            Some(rls_fix(&msg, view.as_deref())),
        ),
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => {
            ("permission denied", permission_fix(&msg, view.as_deref()))
        }
        _ => ("query failed", None),
    };
    match fix {
        Some(fix) => format!("{} query: {what}: {msg}. Fix: {fix}", q.as_str()),
        None => format!("{} query: {what}: {msg}", q.as_str()),
    }
}

const APPLY: &str = "apply the launchguard migrations as postgres (`launchguard sql` prints them; they are idempotent)";

/// The object a server message quotes (`relation "x" does not exist`, `... for table "x"`).
fn quoted(msg: &str) -> Option<&str> {
    let start = msg.find('"')? + 1;
    let len = msg[start..].find('"')?;
    Some(&msg[start..start + len])
}

/// The last word of a message (`permission denied for view usage_events`).
fn last_word(msg: &str) -> &str {
    msg.rsplit(' ').next().unwrap_or("").trim_matches('"')
}

fn launchguard_name(name: &str) -> Option<String> {
    let bare = name.strip_prefix("launchguard.").unwrap_or(name);
    let ours = adapter::VIEWS.iter().any(|v| v.name == bare)
        || ["cron_jobs", "cron_job_runs", "storage_buckets"].contains(&bare);
    ours.then(|| format!("launchguard.{bare}"))
}

fn missing_fix(msg: &str) -> Option<String> {
    let name = launchguard_name(quoted(msg)?)?;
    Some(match name.as_str() {
        "launchguard.cron_jobs" | "launchguard.cron_job_runs" => {
            format!("{APPLY}, after enabling pg_cron (Supabase: Database -> Extensions)")
        }
        "launchguard.storage_buckets" => APPLY.to_string(),
        _ => format!("{APPLY}, or define {name} over your own table (docs/supabase.md)"),
    })
}

fn rls_fix(msg: &str, view: Option<&str>) -> String {
    let table = quoted(msg).unwrap_or("the table");
    match view {
        Some(v) => format!(
            "{v} reads {table} as a role that does not bypass row-level security; make the view owned by one that does (Supabase: `alter view {v} owner to postgres`, docs/supabase.md#row-level-security)"
        ),
        None => format!(
            "read {table} through a view in schema launchguard owned by postgres instead of directly (docs/supabase.md#row-level-security)"
        ),
    }
}

fn permission_fix(msg: &str, view: Option<&str>) -> Option<String> {
    let name = last_word(msg);
    let what = msg
        .strip_prefix("permission denied for ")
        .and_then(|r| r.split(' ').next())?;
    Some(match (what, launchguard_name(name)) {
        ("schema", _) => format!("grant usage on schema {name} to launchguard_reader, or {APPLY}"),
        ("view" | "table", Some(ours)) => {
            format!("grant select on {ours} to launchguard_reader, or {APPLY}")
        }
        ("table" | "view", None) => match view {
            Some(v) => format!(
                "the owner of {v} may not read {name}: grant select on {name} to it (`launchguard check --connect` names the owner)"
            ),
            None => format!(
                "grant select on {name} to launchguard_reader, or read it through a view in schema launchguard (docs/supabase.md)"
            ),
        },
        ("function", _) => {
            format!("grant execute on function {name} to launchguard_reader, or {APPLY}")
        }
        _ => return None,
    })
}

pub(crate) fn tls_connector(
    cfg: &Config,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, SourceError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &cfg.database.ca_file {
        let certs = CertificateDer::pem_file_iter(path).map_err(|e| {
            SourceError::new(
                "config",
                format!("cannot read CA file {}: {e}", path.display()),
            )
        })?;
        for c in certs {
            let c = c.map_err(|e| {
                SourceError::new(
                    "config",
                    format!("bad certificate in {}: {e}", path.display()),
                )
            })?;
            roots.add(c).map_err(|e| {
                SourceError::new(
                    "config",
                    format!("bad certificate in {}: {e}", path.display()),
                )
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SourceError::new("config", format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
}

// --- row readers: a wrong column type in a replaced query names the column ---------------------

/// A column a row does not hold with the type its figure reads (a replaced query that names
/// or types it otherwise). The figure it feeds is then unavailable, with this as its reason.
#[derive(Debug, thiserror::Error)]
#[error("column `{column}`: {source}")]
pub struct ColumnError {
    pub column: String,
    #[source]
    pub source: tokio_postgres::Error,
}

/// A column by name, its type error naming the column.
pub(super) fn col<'a, T: tokio_postgres::types::FromSql<'a>>(
    r: &'a Row,
    name: &str,
) -> Result<T, ColumnError> {
    r.try_get(name).map_err(|source| ColumnError {
        column: name.to_string(),
        source,
    })
}

/// A count column; NULL reads as 0.
pub(super) fn u(r: &Row, name: &str) -> Result<u64, ColumnError> {
    Ok(col::<Option<i64>>(r, name)?.unwrap_or(0).max(0) as u64)
}

/// (client id, name) of the named clients, for `launchguard_client_info`.
async fn client_names(run: &Runner<'_>) -> Result<Fig<Vec<(String, String)>>, SourceError> {
    run.many(QueryName::ClientNames, None, |r| {
        Ok((text(r, "id")?, text(r, "name")?))
    })
    .await
}

fn text(r: &Row, name: &str) -> Result<String, ColumnError> {
    Ok(col::<Option<String>>(r, name)?.unwrap_or_default())
}

pub(super) fn usage_row(r: &Row) -> Result<UsageRow, ColumnError> {
    Ok(UsageRow {
        client_id: col(r, "client_id")?,
        provider: text(r, "provider")?,
        model: text(r, "model")?,
        priced: col::<Option<bool>>(r, "priced")?.unwrap_or(false),
        input_tokens: u(r, "input_tokens")?,
        output_tokens: u(r, "output_tokens")?,
        cache_read_tokens: u(r, "cache_read_tokens")?,
        cache_write_tokens: u(r, "cache_write_tokens")?,
        characters: u(r, "characters")?,
        requests: u(r, "requests")?,
        cost_usd: col::<Option<Decimal>>(r, "cost_usd")?.unwrap_or(Decimal::ZERO),
    })
}

pub(super) fn job_figures(r: &Row) -> Result<JobFigures, ColumnError> {
    Ok(JobFigures {
        queued: u(r, "queued")?,
        running: u(r, "running")?,
        visual_queued: u(r, "visual_queued")?,
        visual_today: u(r, "visual_today")?,
        visual_failed_last_hour: u(r, "visual_failed_last_hour")?,
        visual_finished_last_hour: u(r, "visual_finished_last_hour")?,
        visual_mean_processing_seconds: col(r, "visual_mean_processing_seconds")?,
    })
}

fn traffic_figures(r: &Row) -> Result<TrafficFigures, ColumnError> {
    let names = [
        "lat_le_100",
        "lat_le_250",
        "lat_le_500",
        "lat_le_1000",
        "lat_le_2000",
        "lat_le_5000",
        "lat_le_inf",
    ];
    let mut latency_buckets = [0u64; 7];
    for (slot, name) in latency_buckets.iter_mut().zip(names) {
        *slot = u(r, name)?;
    }
    Ok(TrafficFigures {
        requests_last_minute: u(r, "requests_last_minute")?,
        requests: u(r, "requests")?,
        errors: u(r, "errors")?,
        latency_buckets,
        p95_ms: col(r, "p95_ms")?,
    })
}

fn cron_row(r: &Row) -> Result<CronJobRow, ColumnError> {
    Ok(CronJobRow {
        job: text(r, "job")?,
        schedule: text(r, "schedule")?,
        active: col::<Option<bool>>(r, "active")?.unwrap_or(true),
        mean_run_seconds: col(r, "mean_run_seconds")?,
        failures_last_day: u(r, "failures_last_day")?,
        last_success: col(r, "last_success")?,
        last_run: col(r, "last_run")?,
    })
}
