//! Default SQL for every Supabase figure (BRIEF section 6).
//!
//! The platform's figures are read through launchguard's adapter views (`launchguard.clients`,
//! `launchguard.usage_events`, `launchguard.jobs`, `launchguard.traffic_minutely`, see
//! `adapter::VIEWS`), which `deploy/supabase/migrations` defines over the reference tables and a
//! founder redefines over their own (docs/supabase.md). Each query can also be replaced in
//! the config. Contract: parameters are bound as `timestamptz` (and cast explicitly in the SQL, so
//! their types never depend on inference); result columns are read by name and cast explicitly
//! (`sum(bigint)` is `numeric` in PostgreSQL, hence the `::bigint` casts; money stays `numeric`).
//! Every per-cycle query reads only the rows of its period through an index (see the migration's
//! index comments), so its cost does not grow with the history the tables hold.

/// Active clients (trial or paying). No parameters; one row: `active bigint`.
pub const ACTIVE_CLIENTS: &str = "\
select count(*)::bigint as active
from launchguard.clients c
where c.active";

/// AI usage in [$1, $2) grouped by client, provider, model and whether rows carry their own cost.
/// $1 from timestamptz, $2 to timestamptz. Rows: `client_id text` (nullable), `provider text`,
/// `model text`, `priced bool`, `input_tokens`, `output_tokens`, `cache_read_tokens`,
/// `cache_write_tokens`, `characters`, `requests` (bigint), `cost_usd numeric` (0 when not priced).
pub const USAGE: &str = "\
select e.client_id::text as client_id,
       e.provider,
       e.model,
       (e.cost_usd is not null) as priced,
       coalesce(sum(e.input_tokens), 0)::bigint as input_tokens,
       coalesce(sum(e.output_tokens), 0)::bigint as output_tokens,
       coalesce(sum(e.cache_read_tokens), 0)::bigint as cache_read_tokens,
       coalesce(sum(e.cache_write_tokens), 0)::bigint as cache_write_tokens,
       coalesce(sum(e.characters), 0)::bigint as characters,
       coalesce(sum(e.requests), 0)::bigint as requests,
       coalesce(sum(e.cost_usd), 0)::numeric as cost_usd
from launchguard.usage_events e
where e.occurred_at >= $1::timestamptz
  and e.occurred_at < $2::timestamptz
group by e.client_id, e.provider, e.model, (e.cost_usd is not null)
order by 2, 3, 1, 4";

/// Job queue figures. $1 day_start timestamptz, $2 now timestamptz. One row: `queued`, `running`,
/// `visual_queued`, `visual_today`, `visual_failed_last_hour`, `visual_finished_last_hour`
/// (bigint), `visual_mean_processing_seconds double precision` (NULL when none finished).
pub const JOBS: &str = "\
select
    (select count(*) from launchguard.jobs
      where status = 'queued')::bigint as queued,
    (select count(*) from launchguard.jobs
      where status = 'running')::bigint as running,
    (select count(*) from launchguard.jobs
      where status = 'queued' and kind = 'visual')::bigint as visual_queued,
    (select count(*) from launchguard.jobs
      where kind = 'visual' and created_at >= $1::timestamptz)::bigint as visual_today,
    f.failed::bigint as visual_failed_last_hour,
    f.finished::bigint as visual_finished_last_hour,
    f.mean_seconds::double precision as visual_mean_processing_seconds
from (
    select count(*) filter (where status = 'failed') as failed,
           count(*) as finished,
           avg(extract(epoch from finished_at - started_at)) as mean_seconds
    from launchguard.jobs
    where kind = 'visual'
      and finished_at is not null
      and status in ('succeeded', 'failed')
      and finished_at >= $2::timestamptz - interval '1 hour'
      and finished_at < $2::timestamptz
) f";

/// API traffic over the last 5 full minutes before $1 (now timestamptz). One row:
/// `requests_last_minute`, `requests`, `errors`, `lat_le_100` .. `lat_le_inf` (bigint, summed
/// non-cumulative bucket counts), `p95_ms double precision` (max over the minutes, NULL if none).
pub const TRAFFIC: &str = "\
select coalesce(sum(t.requests) filter (
           where t.bucket = date_trunc('minute', $1::timestamptz) - interval '1 minute'), 0)::bigint
           as requests_last_minute,
       coalesce(sum(t.requests), 0)::bigint as requests,
       coalesce(sum(t.errors), 0)::bigint as errors,
       coalesce(sum(t.lat_le_100), 0)::bigint as lat_le_100,
       coalesce(sum(t.lat_le_250), 0)::bigint as lat_le_250,
       coalesce(sum(t.lat_le_500), 0)::bigint as lat_le_500,
       coalesce(sum(t.lat_le_1000), 0)::bigint as lat_le_1000,
       coalesce(sum(t.lat_le_2000), 0)::bigint as lat_le_2000,
       coalesce(sum(t.lat_le_5000), 0)::bigint as lat_le_5000,
       coalesce(sum(t.lat_le_inf), 0)::bigint as lat_le_inf,
       max(t.p95_ms)::double precision as p95_ms
from launchguard.traffic_minutely t
where t.bucket >= date_trunc('minute', $1::timestamptz) - interval '5 minutes'
  and t.bucket < date_trunc('minute', $1::timestamptz)";

/// Bytes served since $1 (day_start timestamptz). One row: `bytes bigint` (0 when none).
pub const BANDWIDTH: &str = "\
select coalesce(sum(t.bytes_out), 0)::bigint as bytes
from launchguard.traffic_minutely t
where t.bucket >= $1::timestamptz";

/// Storage object bytes per bucket (0 for empty buckets), through the migration's SECURITY
/// DEFINER view because storage.objects has row-level security. No parameters; rows:
/// `bucket text`, `bytes bigint` (sum of metadata size as bigint).
pub const STORAGE_BUCKETS: &str = "\
select s.bucket::text as bucket, s.bytes::bigint as bytes
from launchguard.storage_buckets s
order by 1";

/// Size of the current database. No parameters; one row: `bytes bigint`.
pub const DATABASE_SIZE: &str = "\
select pg_database_size(current_database())::bigint as bytes";

/// One row per pg_cron job through the migration's SECURITY DEFINER views (cron tables have
/// row-level security); $1 now timestamptz. Columns: `job text`, `schedule text`, `active bool`,
/// `mean_run_seconds double precision`, `failures_last_day bigint`, `last_success timestamptz`,
/// `last_run timestamptz` (runs older than the view's 7 days are not read).
pub const CRON_JOBS: &str = "\
select coalesce(j.jobname, j.jobid::text)::text as job,
       j.schedule::text as schedule,
       j.active as active,
       avg(extract(epoch from r.end_time - r.start_time)) filter (
           where r.end_time > $1::timestamptz - interval '24 hours'
             and r.end_time <= $1::timestamptz)::double precision as mean_run_seconds,
       count(r.runid) filter (
           where r.status = 'failed'
             and coalesce(r.end_time, r.start_time) > $1::timestamptz - interval '24 hours'
             and coalesce(r.end_time, r.start_time) <= $1::timestamptz)::bigint as failures_last_day,
       max(r.end_time) filter (where r.status = 'succeeded') as last_success,
       max(r.start_time) as last_run
from launchguard.cron_jobs j
left join launchguard.cron_job_runs r on r.jobid = j.jobid
group by j.jobid, j.jobname, j.schedule, j.active
order by 1";

/// Client connections against the server's limit (pooler pressure). No parameters; one row:
/// `used bigint` (client backends in pg_stat_activity), `max bigint` (max_connections).
pub const CONNECTIONS: &str = "\
select count(*) filter (where a.backend_type = 'client backend')::bigint as used,
       current_setting('max_connections')::bigint as \"max\"
from pg_stat_activity a";

/// Trials as they stand at $1 (now timestamptz), from the trial columns of `launchguard.clients`
/// (docs/supabase.md#trials): a trial started at `trial_started_at`; it ended in conversion once
/// `converted_at` is reached, and expired once `trial_ended_at` is reached without conversion;
/// otherwise it runs. Clients that never trialled (`trial_started_at` NULL or later) are not
/// trials. One row: `converted`, `expired`, `running` (bigint). Reads every client, like
/// ACTIVE_CLIENTS: the clients table is small.
pub const TRIALS: &str = "select count(*) filter (where t.converted)::bigint as converted,
       count(*) filter (where not t.converted and t.ended)::bigint as expired,
       count(*) filter (where not t.converted and not t.ended)::bigint as running
from (
    select coalesce(c.converted_at <= $1::timestamptz, false) as converted,
           coalesce(c.trial_ended_at <= $1::timestamptz, false) as ended
    from launchguard.clients c
    where c.trial_started_at <= $1::timestamptz
) t";

/// Each client's name (docs/supabase.md), so dashboards show clients by name rather than by id.
/// No parameters; rows: `id text`, `name text`. Reads every client, like ACTIVE_CLIENTS (the
/// clients table is small), but never more than 10,000 rows: only the `max_client_labels`
/// clients with the most spend are labelled, and an unnamed one shows its id.
pub const CLIENT_NAMES: &str = "\
select c.id::text as id, c.name::text as name
from launchguard.clients c
where c.name is not null
order by c.id
limit 10000";

/// Every default query by name, for tests and `launchguard check`.
pub const ALL: &[(&str, &str)] = &[
    ("ACTIVE_CLIENTS", ACTIVE_CLIENTS),
    ("USAGE", USAGE),
    ("JOBS", JOBS),
    ("TRAFFIC", TRAFFIC),
    ("BANDWIDTH", BANDWIDTH),
    ("STORAGE_BUCKETS", STORAGE_BUCKETS),
    ("DATABASE_SIZE", DATABASE_SIZE),
    ("CRON_JOBS", CRON_JOBS),
    ("CONNECTIONS", CONNECTIONS),
    ("TRIALS", TRIALS),
    ("CLIENT_NAMES", CLIENT_NAMES),
];

// --- incremental collection (internal: not replaceable, read only when the default USAGE and
// JOBS queries are in force; docs/supabase.md#incremental-collection) ----------------------------

/// What the incremental ledger needs to know before it reads: the server's clock, the start of
/// the oldest transaction still open (no row it writes can carry an earlier `recorded_at`),
/// whether this role sees every session's (member of `pg_read_all_stats`), whether
/// `launchguard.usage_events` offers `recorded_at`, and a fingerprint of the update and delete
/// counters of the tables behind it (and their files: a TRUNCATE swaps them), so settled rows
/// are read again only when something may have changed them. `checkable` is false when the
/// view reads something those counters do not cover (a foreign table, a function).
/// `identity` names the view, the database, the server's start and the tables' files, so a
/// saved ledger (`database.state_file`) is used only against the tables it was read from (two
/// databases built by the same script have the same oids and file numbers; they were not
/// started at the same instant).
pub const LEDGER_PROBE: &str = "\
with recursive views(relid) as (
    select c.oid from pg_catalog.pg_class c
    where c.oid = pg_catalog.to_regclass('launchguard.usage_events')
    union
    select d.refobjid from views
    join pg_catalog.pg_rewrite rw on rw.ev_class = views.relid
    join pg_catalog.pg_depend d on d.classid = 'pg_catalog.pg_rewrite'::regclass
         and d.objid = rw.oid and d.refclassid = 'pg_catalog.pg_class'::regclass
         and d.refobjid <> views.relid
),
deps as (
    select c.oid, c.relkind from views v join pg_catalog.pg_class c on c.oid = v.relid
    where c.relkind <> 'v'
),
tables as (
    -- pg_partition_tree returns no row for a table that is not partitioned.
    select deps.oid as relid from deps where deps.relkind = 'r'
    union
    select t.relid from deps, lateral pg_catalog.pg_partition_tree(deps.oid::regclass) t
    where deps.relkind = 'p'
)
select now() as now,
       least(now(),
             (select min(a.xact_start) from pg_catalog.pg_stat_activity a
              where a.xact_start is not null
                and a.backend_type in ('client backend', 'background worker')),
             (select min(p.prepared) from pg_catalog.pg_prepared_xacts p)) as horizon,
       (pg_catalog.pg_has_role('pg_read_all_stats', 'usage')
        or (select rolsuper from pg_catalog.pg_roles where rolname = current_user)) as sees_all,
       pg_catalog.to_regprocedure('launchguard.transaction_horizon()') is not null
           and pg_catalog.has_function_privilege('launchguard.transaction_horizon()', 'execute')
           as has_horizon,
       exists (select 1 from pg_catalog.pg_attribute a
               where a.attrelid = pg_catalog.to_regclass('launchguard.usage_events')
                 and a.attname = 'recorded_at' and not a.attisdropped
                 and a.atttypid = 'timestamptz'::regtype) as has_recorded_at,
       (exists (select 1 from deps)
        and not exists (select 1 from deps where relkind not in ('r', 'p'))) as checkable,
       coalesce(pg_catalog.to_regclass('launchguard.usage_events')::oid::text, '') || '@'
           || current_database() || '@' || pg_catalog.pg_postmaster_start_time()::text || ':'
           || coalesce((select string_agg(t.relid::text || '/'
                                          || coalesce(pg_catalog.pg_relation_filenode(t.relid)::text, ''),
                                          ',' order by t.relid)
                        from tables t), '') as identity,
       coalesce((select string_agg(s.relid::text || ':' || (s.n_tup_upd + s.n_tup_del)::text
                                   || ':' || coalesce(pg_catalog.pg_relation_filenode(s.relid)::text, ''),
                                   ',' order by s.relid)
                 from pg_catalog.pg_stat_all_tables s
                 where s.relid in (select relid from tables)), '') as changes";

/// The oldest open transaction's start as the migration's owner sees it (the reader, NOINHERIT,
/// sees only its own sessions' in pg_stat_activity). Read when LEDGER_PROBE finds the function.
pub const TRANSACTION_HORIZON: &str = "\
select h.horizon, h.sees_all from launchguard.transaction_horizon() h";

/// The kept ledger's groups and sums: USAGE's columns, and the number of rows in each group
/// (to size the chunks of a rebuild). One text for the delta and the chunk queries.
macro_rules! kept_groups {
    () => {
        "       e.client_id::text as client_id,
       e.provider,
       e.model,
       (e.cost_usd is not null) as priced,
       count(*)::bigint as rows,
       coalesce(sum(e.input_tokens), 0)::bigint as input_tokens,
       coalesce(sum(e.output_tokens), 0)::bigint as output_tokens,
       coalesce(sum(e.cache_read_tokens), 0)::bigint as cache_read_tokens,
       coalesce(sum(e.cache_write_tokens), 0)::bigint as cache_write_tokens,
       coalesce(sum(e.characters), 0)::bigint as characters,
       coalesce(sum(e.requests), 0)::bigint as requests,
       coalesce(sum(e.cost_usd), 0)::numeric as cost_usd
"
    };
}

/// The ledger rows recorded at or after $1 (the previous watermark), grouped like USAGE and
/// also by the slice their `occurred_at` falls in (`width_bucket` over the bounds $2) and by
/// whether they were recorded before $3 (the new watermark: settled). $4, $5: the first and
/// last bound. Reads the rows of one cycle through an index on `recorded_at`.
pub const USAGE_DELTA: &str = concat!(
    "\
select width_bucket(e.occurred_at, $2::timestamptz[]) as bucket,
       (e.recorded_at < $3::timestamptz) as settled,
",
    kept_groups!(),
    "\
from launchguard.usage_events e
where e.recorded_at >= $1::timestamptz
  and e.occurred_at >= $4::timestamptz
  and e.occurred_at < $5::timestamptz
group by 1, 2, 3, 4, 5, 6"
);

/// One chunk of a slice's settled rows: `occurred_at` in [$1, $2), recorded before $3, grouped
/// like USAGE. Reads the chunk's range through the `occurred_at` index.
pub const USAGE_CHUNK: &str = concat!(
    "select\n",
    kept_groups!(),
    "\
from launchguard.usage_events e
where e.occurred_at >= $1::timestamptz
  and e.occurred_at < $2::timestamptz
  and e.recorded_at < $3::timestamptz
group by e.client_id, e.provider, e.model, (e.cost_usd is not null)"
);

/// Visual jobs created at or after $1, and how many of them before $2 (the watermark).
pub const VISUAL_CREATED: &str = "\
select count(*) filter (where j.created_at < $2::timestamptz)::bigint as settled,
       count(*)::bigint as created
from launchguard.jobs j
where j.kind = 'visual'
  and j.created_at >= $1::timestamptz";
