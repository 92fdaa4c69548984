-- launchguard's Vercel drain receiver (docs/vercel.md): the per-minute aggregates it writes, the
-- keys it has counted, the Vercel Cron runs it saw, and the role it writes them with.
--
--   launchguard.vercel_traffic_minutely  one row per minute: the traffic figures, in the columns
--                                        of launchguard.traffic_minutely (docs/supabase.md)
--   launchguard.vercel_seen              (minute, key): what has been counted, so a retried
--                                        delivery, the same request logged in several entries and
--                                        two replicas behind one URL count each request once
--   launchguard.vercel_cron_runs         the runs of the sync job seen in the drain
--
-- The receiver writes them as launchguard_drain_writer, which may read and write these three
-- tables and nothing else: no grant on any other table, view or function, no DELETE on the
-- aggregates (only on the expired keys of vercel_seen). The exporter's reader sees the aggregates
-- only through launchguard.traffic_minutely, and the cron runs directly. The API roles (anon,
-- authenticated) reach none of it: schema launchguard is not exposed by the Data API and they have
-- no privilege here.
--
-- The operator sets the writer's password once, outside version control:
--   alter role launchguard_drain_writer with password '<a long random secret>';
-- and gives the exporter VERCEL_DRAIN_DB_URL=postgres://launchguard_drain_writer:<secret>@<host>:5432/postgres
--
-- Run as postgres after the other launchguard migrations. Idempotent: every statement can run again.

do $$
begin
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'launchguard_drain_writer') then
        create role launchguard_drain_writer with login nosuperuser nocreatedb nocreaterole noinherit;
    end if;
end
$$;
-- One delivery is one short transaction: a stuck one must not hold a pooler slot or a row lock.
alter role launchguard_drain_writer set statement_timeout = '5s';
alter role launchguard_drain_writer set lock_timeout = '2s';
alter role launchguard_drain_writer set idle_in_transaction_session_timeout = '30s';

create schema if not exists launchguard;
grant usage on schema launchguard to launchguard_drain_writer;

-- Non-cumulative latency bucket counts as in public.http_traffic_minutely: lat_le_100 = (0,100] ms,
-- ..., lat_le_inf = more than 5000 ms. requests, errors and the latency buckets count API requests
-- only; bytes_out counts every response (docs/vercel.md says which fields feed which column).
create table if not exists launchguard.vercel_traffic_minutely (
    bucket       timestamptz primary key,  -- start of the minute (UTC) the request was made in
    requests     bigint not null default 0,
    errors       bigint not null default 0,
    bytes_out    bigint not null default 0,
    lat_le_100   bigint not null default 0,
    lat_le_250   bigint not null default 0,
    lat_le_500   bigint not null default 0,
    lat_le_1000  bigint not null default 0,
    lat_le_2000  bigint not null default 0,
    lat_le_5000  bigint not null default 0,
    lat_le_inf   bigint not null default 0
);
comment on table launchguard.vercel_traffic_minutely is
    'launchguard: traffic per minute from Vercel''s log drain, written by launchguard_drain_writer';

-- The key is a 64-bit digest of what was counted (a request, or its duration); the minute leads
-- the primary key so expired keys are deleted through it. Rows older than the receiver's
-- dedup_window are deleted by the receiver, and entries that old are no longer counted.
create table if not exists launchguard.vercel_seen (
    minute  timestamptz not null,
    key     bigint not null,
    primary key (minute, key)
);
comment on table launchguard.vercel_seen is
    'launchguard: what the Vercel drain receiver has counted (digests), kept for its dedup window';

create table if not exists launchguard.vercel_cron_runs (
    key          bigint primary key,          -- digest of the request id
    started_at   timestamptz not null,        -- proxy.timestamp of the invocation
    path         text not null,
    status_code  integer,                     -- the response's status; -1: the function crashed
    duration_ms  double precision             -- from the invocation's REPORT line, when seen
);
create index if not exists vercel_cron_runs_started_at_idx
    on launchguard.vercel_cron_runs (started_at);
comment on table launchguard.vercel_cron_runs is
    'launchguard: Vercel Cron invocations of the sync job seen in the log drain';

-- Nobody but their owner, the writer and (cron runs only) the reader: whatever default privileges
-- grant, now or to PUBLIC.
do $$
declare
    grantee text;
begin
    foreach grantee in array array['public', 'anon', 'authenticated', 'service_role'] loop
        continue when grantee <> 'public'
            and not exists (select 1 from pg_catalog.pg_roles where rolname = grantee);
        execute format('revoke all on table launchguard.vercel_traffic_minutely, '
                       'launchguard.vercel_seen, launchguard.vercel_cron_runs from %s', grantee);
    end loop;
end
$$;
-- SELECT is needed by INSERT ... ON CONFLICT DO UPDATE (it reads the row it adds to) and by
-- RETURNING (which keys were new); DELETE on vercel_seen only, for expired keys.
grant select, insert, update on launchguard.vercel_traffic_minutely to launchguard_drain_writer;
grant select, insert, delete on launchguard.vercel_seen to launchguard_drain_writer;
grant select, insert, update on launchguard.vercel_cron_runs to launchguard_drain_writer;
do $$
begin
    if exists (select 1 from pg_catalog.pg_roles where rolname = 'launchguard_reader') then
        grant select on launchguard.vercel_cron_runs to launchguard_reader;
    end if;
end
$$;

-- launchguard.traffic_minutely: where it is launchguard's reference mapping over
-- public.http_traffic_minutely (20261126000003_launchguard_adapter.sql), it now reads the drain's
-- minutes too (a platform that writes both counts each request twice: use one). A view you
-- mapped yourself is left alone; docs/vercel.md shows the line to add. Where there is no view
-- yet, `launchguard sql` with vercel_drain.enabled defines it over the drain's table alone
-- (deploy/supabase/vercel_drain_traffic_view.sql): a platform without the drain keeps the
-- figure unavailable rather than reading zero.
do $$
begin
    if pg_catalog.obj_description(pg_catalog.to_regclass('launchguard.traffic_minutely'), 'pg_class')
           = 'launchguard adapter view over public.http_traffic_minutely (reference mapping)'
       and pg_catalog.to_regclass('public.http_traffic_minutely') is not null then
        create or replace view launchguard.traffic_minutely as
        select t.bucket::timestamptz as bucket,
               t.requests::bigint as requests,
               t.errors::bigint as errors,
               t.bytes_out::bigint as bytes_out,
               t.p95_ms::double precision as p95_ms,
               t.lat_le_100::bigint as lat_le_100,
               t.lat_le_250::bigint as lat_le_250,
               t.lat_le_500::bigint as lat_le_500,
               t.lat_le_1000::bigint as lat_le_1000,
               t.lat_le_2000::bigint as lat_le_2000,
               t.lat_le_5000::bigint as lat_le_5000,
               t.lat_le_inf::bigint as lat_le_inf
        from public.http_traffic_minutely t
        union all
        select d.bucket, d.requests, d.errors, d.bytes_out, null::double precision,
               d.lat_le_100, d.lat_le_250, d.lat_le_500, d.lat_le_1000, d.lat_le_2000,
               d.lat_le_5000, d.lat_le_inf
        from launchguard.vercel_traffic_minutely d;
        comment on view launchguard.traffic_minutely is
            'launchguard adapter view over public.http_traffic_minutely and launchguard.vercel_traffic_minutely (reference mapping)';
        grant select on launchguard.traffic_minutely to launchguard_reader;
    end if;
end
$$;
