//! Where the receiver's counts live: PostgreSQL (the platform's Supabase database), written as
//! `launchguard_drain_writer`. One delivery is one transaction: its keys go into
//! `launchguard.vercel_seen` (ON CONFLICT DO NOTHING RETURNING tells which are new), only the new
//! ones are summed into `launchguard.vercel_traffic_minutely`, and the delivery is answered 2xx
//! only after the commit. Two replicas inserting the same key serialize on its unique index, so
//! exactly one of them counts it; keys and minutes are written in sorted order so two
//! deliveries never wait on each other in a cycle.

use std::collections::HashSet;
use std::sync::Mutex;

use chrono::{DateTime, TimeZone, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;

use super::aggregate::{Folded, Item};
use crate::config::Config;
use crate::sources::supabase::{db_message, pool_error, tls_connector};

/// Keys deleted per cleanup statement (a cleanup after a long stop works through the backlog
/// over several runs instead of one long delete).
const CLEANUP_BATCH: i64 = 50_000;
/// Keys are kept this much longer than the dedup window: replicas' clocks may differ.
const CLEANUP_MARGIN_SECS: i64 = 3600;
/// Attempts at a transaction that PostgreSQL aborted as a deadlock or serialization failure.
const ATTEMPTS: usize = 3;

/// Why a delivery could not be stored; the receiver answers 503 so Vercel retries.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreError {
    /// Short stable code: config, connect, auth, timeout, query.
    pub reason: &'static str,
    /// For people; never holds the URL or a password.
    pub message: String,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)
    }
}

fn err(reason: &'static str, message: impl Into<String>) -> StoreError {
    StoreError {
        reason,
        message: message.into(),
    }
}

fn query_err(e: &tokio_postgres::Error) -> StoreError {
    let msg = db_message(e);
    let fix = match e.code() {
        Some(c) if *c == SqlState::UNDEFINED_TABLE || *c == SqlState::INVALID_SCHEMA_NAME => {
            ": apply the launchguard migrations as postgres (`launchguard sql`)"
        }
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => {
            ": the drain's database URL must log in as launchguard_drain_writer, which the migrations grant what it writes (`launchguard sql`)"
        }
        _ => "",
    };
    err("query", format!("{msg}{fix}"))
}

fn retryable(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    })
}

/// Start of a Unix minute.
pub fn minute_start(minute: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(minute.saturating_mul(60), 0)
        .single()
        .unwrap_or_default()
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

struct PoolSlot {
    key: String,
    pool: Pool,
}

/// The writer's connection pool, rebuilt when its URL, CA or size changes.
#[derive(Default)]
pub struct Store {
    pool: Mutex<Option<PoolSlot>>,
}

impl Store {
    fn pool(&self, cfg: &Config) -> Result<Pool, StoreError> {
        let d = &cfg.vercel_drain;
        let url = d
            .database_url
            .resolve()
            .map_err(|e| err("config", e.to_string()))?
            .ok_or_else(|| {
                err(
                    "config",
                    format!(
                        "no database URL for the drain: {} is not set",
                        d.database_url
                    ),
                )
            })?;
        let key = format!(
            "{}|{:?}|{}|{}",
            url.expose(),
            cfg.database.ca_file,
            d.pool_size,
            d.timeout
        );
        let mut slot = self.pool.lock().expect("lock");
        if let Some(s) = slot.as_ref().filter(|s| s.key == key) {
            return Ok(s.pool.clone());
        }
        let pg: tokio_postgres::Config = url.expose().parse().map_err(|_| {
            err(
                "config",
                "vercel_drain.database_url is not a valid PostgreSQL connection string",
            )
        })?;
        let tls = tls_connector(cfg).map_err(|e| err("config", e.message))?;
        let mgr = Manager::from_config(
            pg,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(d.pool_size)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(d.timeout.0))
            .wait_timeout(Some(d.timeout.0))
            .build()
            .map_err(|e| err("config", format!("cannot build the connection pool: {e}")))?;
        *slot = Some(PoolSlot {
            key,
            pool: pool.clone(),
        });
        Ok(pool)
    }

    async fn client(&self, cfg: &Config) -> Result<deadpool_postgres::Client, StoreError> {
        let pool = self.pool(cfg)?;
        pool.get().await.map_err(|e| {
            let e = pool_error(e);
            err(e.reason, e.message)
        })
    }

    /// Records a delivery's items and adds the new ones to the minutes, in one transaction.
    pub async fn commit(&self, cfg: &Config, items: &[Item]) -> Result<Folded, StoreError> {
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_unstable_by_key(|&i| (items[i].minute, items[i].key));
        let minutes: Vec<DateTime<Utc>> = order
            .iter()
            .map(|&i| minute_start(items[i].minute))
            .collect();
        let keys: Vec<i64> = order.iter().map(|&i| items[i].key).collect();
        let mut client = self.client(cfg).await?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let path = cfg.vercel_drain.sync_job_path.as_deref().unwrap_or("");
            match transaction(&mut client, items, &minutes, &keys, path).await {
                Ok(f) => return Ok(f),
                Err(e) if retryable(&e) && attempt < ATTEMPTS => {
                    tracing::debug!(error = %db_message(&e), attempt, "drain transaction retried");
                }
                Err(e) => return Err(query_err(&e)),
            }
        }
    }

    /// Deletes keys older than the dedup window (and a margin); returns how many went.
    pub async fn cleanup(&self, cfg: &Config, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let secs = i64::try_from(cfg.vercel_drain.dedup_window.0.as_secs()).unwrap_or(i64::MAX);
        let cutoff = now - chrono::Duration::seconds(secs.saturating_add(CLEANUP_MARGIN_SECS));
        let client = self.client(cfg).await?;
        client
            .execute(
                "delete from launchguard.vercel_seen s
                  where (s.minute, s.key) in (
                        select o.minute, o.key from launchguard.vercel_seen o
                         where o.minute < $1::timestamptz
                         order by o.minute limit $2::bigint)",
                &[&cutoff, &CLEANUP_BATCH],
            )
            .await
            .map_err(|e| query_err(&e))
    }

    /// `check --connect`: ("ok" | "warning" | "down", detail). Writes a probe row into each
    /// table and rolls it back, so it proves the grants without changing anything.
    pub async fn check(&self, cfg: &Config) -> (&'static str, String) {
        let mut client = match self.client(cfg).await {
            Ok(c) => c,
            Err(e) => return ("down", e.message),
        };
        let probe = async {
            let tx = client.transaction().await?;
            let epoch = Utc.timestamp_opt(0, 0).single().unwrap_or_default();
            tx.execute(
                "insert into launchguard.vercel_seen (minute, key) values ($1, 0)
                 on conflict do nothing",
                &[&epoch],
            )
            .await?;
            tx.execute(
                "delete from launchguard.vercel_seen where minute = $1 and key = 0",
                &[&epoch],
            )
            .await?;
            tx.execute(
                "insert into launchguard.vercel_traffic_minutely as t (bucket) values ($1)
                 on conflict (bucket) do update set requests = t.requests",
                &[&epoch],
            )
            .await?;
            tx.execute(
                "insert into launchguard.vercel_cron_runs as r (key, started_at, path)
                 values (0, $1, '/') on conflict (key) do update set status_code = r.status_code",
                &[&epoch],
            )
            .await?;
            let row = tx
                .query_one(
                    "select current_user::text as who,
                            (select r.rolsuper or r.rolbypassrls from pg_catalog.pg_roles r
                              where r.rolname = current_user) as too_strong,
                            (select max(bucket) from launchguard.vercel_traffic_minutely
                              where bucket > $1) as last_minute,
                            exists (select 1 from pg_catalog.pg_rewrite rw
                                    join pg_catalog.pg_depend d
                                      on d.classid = 'pg_catalog.pg_rewrite'::regclass
                                     and d.objid = rw.oid
                                     and d.refclassid = 'pg_catalog.pg_class'::regclass
                                   where rw.ev_class = pg_catalog.to_regclass('launchguard.traffic_minutely')
                                     and d.refobjid = pg_catalog.to_regclass('launchguard.vercel_traffic_minutely'))
                              as view_reads_it",
                    &[&epoch],
                )
                .await?;
            tx.rollback().await?;
            Ok::<_, tokio_postgres::Error>(row)
        };
        let row = match probe.await {
            Ok(r) => r,
            Err(e) => {
                return (
                    "down",
                    format!("the writer cannot write: {}", query_err(&e).message),
                );
            }
        };
        let who: String = row.get("who");
        let last: Option<DateTime<Utc>> = row.get("last_minute");
        let last = last.map_or("no minute stored yet".to_string(), |t| {
            format!("last minute stored {}", t.format("%Y-%m-%dT%H:%MZ"))
        });
        if row.get::<_, Option<bool>>("too_strong").unwrap_or(false) {
            return (
                "warning",
                format!(
                    "writes as {who}, a superuser or BYPASSRLS role: give the drain launchguard_drain_writer instead (docs/vercel.md); {last}"
                ),
            );
        }
        if !row.get::<_, bool>("view_reads_it") {
            return (
                "warning",
                format!(
                    "writes as {who}, but launchguard.traffic_minutely does not read launchguard.vercel_traffic_minutely, so the traffic figures will not show the drain: map it (docs/vercel.md#the-traffic-view); {last}"
                ),
            );
        }
        (
            "ok",
            format!("writes as {who}; launchguard.traffic_minutely reads it; {last}"),
        )
    }
}

async fn transaction(
    client: &mut deadpool_postgres::Client,
    items: &[Item],
    minutes: &[DateTime<Utc>],
    keys: &[i64],
    cron_path: &str,
) -> Result<Folded, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    let rows = tx
        .query(
            "insert into launchguard.vercel_seen (minute, key)
             select m, k from unnest($1::timestamptz[], $2::bigint[]) as u(m, k)
             on conflict do nothing
             returning minute, key",
            &[&minutes, &keys],
        )
        .await?;
    let new: HashSet<(i64, i64)> = rows
        .iter()
        .map(|r| {
            let m: DateTime<Utc> = r.get(0);
            (m.timestamp().div_euclid(60), r.get::<_, i64>(1))
        })
        .collect();
    let folded = super::aggregate::fold(items, |i| new.contains(&(items[i].minute, items[i].key)));
    if !folded.minutes.is_empty() {
        let mut cols: [Vec<i64>; 10] = Default::default();
        let mut buckets = Vec::with_capacity(folded.minutes.len());
        for (m, r) in &folded.minutes {
            buckets.push(minute_start(*m));
            cols[0].push(i64_of(r.requests));
            cols[1].push(i64_of(r.errors));
            cols[2].push(i64_of(r.bytes_out));
            for (i, c) in r.latency.iter().enumerate() {
                cols[3 + i].push(i64_of(*c));
            }
        }
        tx.execute(
            "insert into launchguard.vercel_traffic_minutely as t
                 (bucket, requests, errors, bytes_out, lat_le_100, lat_le_250, lat_le_500,
                  lat_le_1000, lat_le_2000, lat_le_5000, lat_le_inf)
             select * from unnest($1::timestamptz[], $2::bigint[], $3::bigint[], $4::bigint[],
                                  $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[],
                                  $9::bigint[], $10::bigint[], $11::bigint[])
             on conflict (bucket) do update set
                 requests = t.requests + excluded.requests,
                 errors = t.errors + excluded.errors,
                 bytes_out = t.bytes_out + excluded.bytes_out,
                 lat_le_100 = t.lat_le_100 + excluded.lat_le_100,
                 lat_le_250 = t.lat_le_250 + excluded.lat_le_250,
                 lat_le_500 = t.lat_le_500 + excluded.lat_le_500,
                 lat_le_1000 = t.lat_le_1000 + excluded.lat_le_1000,
                 lat_le_2000 = t.lat_le_2000 + excluded.lat_le_2000,
                 lat_le_5000 = t.lat_le_5000 + excluded.lat_le_5000,
                 lat_le_inf = t.lat_le_inf + excluded.lat_le_inf",
            &[
                &buckets, &cols[0], &cols[1], &cols[2], &cols[3], &cols[4], &cols[5], &cols[6],
                &cols[7], &cols[8], &cols[9],
            ],
        )
        .await?;
    }
    if !folded.cron.is_empty() {
        let mut keys = Vec::new();
        let mut started = Vec::new();
        let mut status: Vec<Option<i32>> = Vec::new();
        let mut duration: Vec<Option<f64>> = Vec::new();
        for run in folded.cron.values() {
            keys.push(run.key);
            started.push(
                Utc.timestamp_millis_opt(run.started_ms)
                    .single()
                    .unwrap_or_default(),
            );
            status.push(run.status);
            duration.push(run.duration_ms);
        }
        let paths = vec![cron_path.to_string(); keys.len()];
        tx.execute(
            "insert into launchguard.vercel_cron_runs as r
                 (key, started_at, path, status_code, duration_ms)
             select * from unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::int4[],
                                  $5::float8[])
             on conflict (key) do update set
                 status_code = coalesce(r.status_code, excluded.status_code),
                 duration_ms = coalesce(r.duration_ms, excluded.duration_ms)",
            &[&keys, &started, &paths, &status, &duration],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(folded)
}
