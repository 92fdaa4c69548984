//! The Supabase (PostgreSQL) source: runs each figure query and turns rows into figures. A
//! missing table, column or extension makes that one figure unavailable, never the source.

pub mod queries;

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
    }
}

/// The instants a collection cycle binds to its queries.
#[derive(Debug, Clone, Copy)]
pub struct Instants {
    pub now: DateTime<Utc>,
    pub day_start: DateTime<Utc>,
    pub next_day_start: DateTime<Utc>,
    pub month_start: DateTime<Utc>,
}

impl Instants {
    pub fn at(now: DateTime<Utc>, cfg: &Config) -> Self {
        let tz = cfg.tz();
        Instants {
            now,
            day_start: periods::day_start(now, tz),
            next_day_start: periods::next_day_start(now, tz),
            month_start: periods::month_start(now, tz),
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
        }
    }

    /// The pool for the current config, rebuilt when the URL, CA or size changes.
    fn pool(&self, cfg: &Config) -> Result<Pool, SourceError> {
        let url = cfg
            .database
            .url
            .resolve()
            .map_err(|e| SourceError::new("config", e))?
            .ok_or_else(|| {
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
        let usage_today = run
            .many(
                QueryName::Usage,
                Some((at.day_start, at.next_day_start)),
                usage_row,
            )
            .await?;
        let usage_month = match &usage_today {
            Ok(today) => match self.closed_days(&run, at).await? {
                Ok(mut closed) => {
                    closed.extend(today.iter().cloned());
                    Ok(closed)
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e.clone()),
        };
        let jobs = run.one(QueryName::Jobs, None, job_figures).await?;
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
        let connections = run
            .one(QueryName::Connections, None, |r| {
                Ok(Connections {
                    used: u(r, "used")?,
                    max: u(r, "max")?,
                })
            })
            .await?;
        Ok(DbFigures {
            collected_at: at.now,
            active_clients,
            usage_today,
            usage_month,
            jobs,
            traffic,
            bandwidth_today_bytes,
            storage_buckets,
            database_size_bytes,
            cron_jobs,
            connections,
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
        into.db = Some(out);
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
        let (sql, params): (&str, Vec<QueryParam>) = match self.cfg.database.queries.get(&q) {
            Some(def) => (def.sql.as_str(), def.params.clone()),
            None => {
                let (s, p) = default_query(q);
                (s, p.to_vec())
            }
        };
        let values: Vec<DateTime<Utc>> = params
            .iter()
            .map(|p| match p {
                QueryParam::DayStart => self.at.day_start,
                QueryParam::MonthStart => self.at.month_start,
                QueryParam::Now => self.at.now,
                QueryParam::From => range.map_or(self.at.day_start, |r| r.0),
                QueryParam::To => range.map_or(self.at.next_day_start, |r| r.1),
            })
            .collect();
        let refs: Vec<&(dyn ToSql + Sync)> =
            values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        match self.client.query(sql, &refs).await {
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
                let reason = figure_error(q, &e);
                tracing::debug!(query = q.as_str(), %reason, "figure unavailable");
                Ok(Err(Unavailable { reason }))
            }
        }
    }

    async fn many<T>(
        &self,
        q: QueryName,
        range: Option<(DateTime<Utc>, DateTime<Utc>)>,
        map: impl Fn(&Row) -> Result<T, String>,
    ) -> Result<Fig<Vec<T>>, SourceError> {
        Ok(match self.rows(q, range).await? {
            Ok(rows) => rows
                .iter()
                .map(&map)
                .collect::<Result<Vec<T>, String>>()
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
        map: impl Fn(&Row) -> Result<T, String>,
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

fn pool_error(e: deadpool_postgres::PoolError) -> SourceError {
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
fn db_message(e: &tokio_postgres::Error) -> String {
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

/// Why a figure's query failed, in words a person can act on.
fn figure_error(q: QueryName, e: &tokio_postgres::Error) -> String {
    let msg = db_message(e);
    let what = match e.code() {
        Some(c) if *c == SqlState::UNDEFINED_TABLE => "missing table or view",
        Some(c) if *c == SqlState::UNDEFINED_COLUMN => "missing column",
        Some(c) if *c == SqlState::INVALID_SCHEMA_NAME => "missing schema",
        Some(c) if *c == SqlState::UNDEFINED_FUNCTION => "missing function",
        Some(c) if *c == SqlState::QUERY_CANCELED => "statement timeout",
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => "permission denied",
        _ => "query failed",
    };
    format!("{} query: {what}: {msg}", q.as_str())
}

fn tls_connector(cfg: &Config) -> Result<tokio_postgres_rustls::MakeRustlsConnect, SourceError> {
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

/// A column by name, its type error naming the column.
fn col<'a, T: tokio_postgres::types::FromSql<'a>>(r: &'a Row, name: &str) -> Result<T, String> {
    r.try_get(name).map_err(|e| format!("column `{name}`: {e}"))
}

/// A count column; NULL reads as 0.
fn u(r: &Row, name: &str) -> Result<u64, String> {
    Ok(col::<Option<i64>>(r, name)?.unwrap_or(0).max(0) as u64)
}

fn text(r: &Row, name: &str) -> Result<String, String> {
    Ok(col::<Option<String>>(r, name)?.unwrap_or_default())
}

fn usage_row(r: &Row) -> Result<UsageRow, String> {
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

fn job_figures(r: &Row) -> Result<JobFigures, String> {
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

fn traffic_figures(r: &Row) -> Result<TrafficFigures, String> {
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

fn cron_row(r: &Row) -> Result<CronJobRow, String> {
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
