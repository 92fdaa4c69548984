-- launchguard's read-only role, its schema, and the SECURITY DEFINER readers of Supabase's own
-- tables (pg_cron, Storage). Run it as `postgres` (the SQL editor's role, or `supabase db push`).
--
-- The role reads nothing but schema `launchguard`: the adapter views over the platform's tables
-- (20261126000003_launchguard_adapter.sql) and the cron and storage views below. It has no grant
-- on any table of `public`, so the exporter's credentials cannot read a prompt, an e-mail address
-- or anything else the views do not expose.
--
-- The operator sets the password once, outside version control:
--   alter role launchguard_reader with password '<a long random secret>';
-- and gives the exporter SUPABASE_DB_URL=postgres://launchguard_reader:<secret>@<host>:5432/postgres
-- (session pooler or direct connection, sslmode=require).
--
-- Idempotent: every statement can run again.

-- ---------------------------------------------------------------------------------------------
-- The role
-- ---------------------------------------------------------------------------------------------
do $$
begin
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'launchguard_reader') then
        create role launchguard_reader with login nosuperuser nocreatedb nocreaterole noinherit;
    end if;
end
$$;

-- A stuck query must not hold a pooler slot: the exporter bounds each cycle, the server too.
alter role launchguard_reader set statement_timeout = '5s';
-- Never wait long behind a migration's lock.
alter role launchguard_reader set lock_timeout = '2s';
-- Every transaction of the role is read-only, whatever the client asks for.
alter role launchguard_reader set default_transaction_read_only = on;
-- A client that opens a transaction and goes away must not keep a snapshot (and vacuum) pinned.
alter role launchguard_reader set idle_in_transaction_session_timeout = '30s';
-- A query that row-level security would filter fails instead of returning fewer rows: a figure
-- launchguard cannot see whole is reported unavailable with the table's name, never as a smaller
-- number (0 spend, an empty queue). Reads through the views below are not filtered, since their
-- owner bypasses row-level security. The exporter also sets it on each session it opens.
alter role launchguard_reader set row_security = off;

-- pg_stat_activity (CONNECTIONS) shows other roles' sessions only to pg_read_all_stats members.
-- On a managed service the migration owner may lack the right to grant it: then the figure only
-- counts what the role can see, and the migration goes on.
do $$
begin
    grant pg_read_all_stats to launchguard_reader;
exception when insufficient_privilege then
    raise warning 'launchguard: could not grant pg_read_all_stats to launchguard_reader (%); connection counts will be partial', sqlerrm;
end
$$;

-- Earlier versions granted the reference tables to the role directly; it reads them through
-- the adapter views now, so those grants go (where the tables exist).
do $$
declare
    t text;
begin
    foreach t in array array['public.clients', 'public.ai_usage_events', 'public.jobs',
                             'public.http_traffic_minutely', 'storage.objects', 'storage.buckets'] loop
        if to_regclass(t) is not null then
            begin
                execute format('revoke all on table %s from launchguard_reader', t);
            exception when insufficient_privilege then
                raise warning 'launchguard: could not revoke the old grant on % (%)', t, sqlerrm;
            end;
        end if;
    end loop;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Schema launchguard: SECURITY DEFINER readers of Supabase's own tables
-- ---------------------------------------------------------------------------------------------
create schema if not exists launchguard;
comment on schema launchguard is
    'launchguard: adapter views the exporter reads (docs/supabase.md); not exposed to the Data API';
-- Only the reader may look inside. The Data API does not expose this schema (Supabase exposes
-- public and graphql_public unless told otherwise), and without USAGE on it the API roles could
-- not reach its objects even if it did.
revoke all on schema launchguard from public;
grant usage on schema launchguard to launchguard_reader;

-- pg_cron: cron.job and cron.job_run_details have row-level security (username = current_user),
-- so the reader would see no job and no run. The functions below are SECURITY DEFINER: they run
-- as the migration's owner (a superuser, or Supabase's "postgres", which bypasses RLS and owns
-- the dashboard's cron jobs), and they return only what the figures need (no command text,
-- which may hold secrets). A plain view would not do: the policy compares with current_user,
-- which a view leaves as the reader.
--
-- cron.job_run_details is never cleaned and only indexed by runid, so the runs function finds the
-- first run of the window by a binary search on runid (runids are handed out in start order):
-- about log2(rows) primary-key probes, then a primary-key range scan of the window's runs.
--
-- Without pg_cron (extension not installed) this part is skipped: the cron figures are then
-- absent with a reason, and the setup does not fail. Apply this file again after installing it.
do $cron$
begin
    if not exists (select 1 from pg_catalog.pg_extension where extname = 'pg_cron')
       or to_regclass('cron.job_run_details') is null then
        raise notice 'launchguard: pg_cron is not installed; skipping launchguard.cron_jobs / cron_job_runs';
        return;
    end if;

    execute $f$
        create or replace function launchguard.cron_job_list()
        returns table (jobid bigint, jobname text, schedule text, active boolean,
                       database text, username text)
        language sql stable security definer
        set search_path = pg_catalog, pg_temp
        as $body$
            select j.jobid, j.jobname::text, j.schedule, j.active, j.database, j.username::text
            from cron.job j
        $body$
    $f$;

    execute $f$
        create or replace function launchguard.cron_job_runs_since(since timestamptz)
        returns table (jobid bigint, runid bigint, status text,
                       start_time timestamptz, end_time timestamptz)
        language plpgsql stable security definer
        set search_path = pg_catalog, pg_temp
        as $body$
        #variable_conflict use_column
        declare
            lo bigint;
            hi bigint;
            mid bigint;
            probe_id bigint;
            probe_start timestamptz;
        begin
            -- min and max come from the primary key's ends.
            select d.runid into lo from cron.job_run_details d order by d.runid asc limit 1;
            select d.runid into hi from cron.job_run_details d order by d.runid desc limit 1;
            if hi is null then
                return;
            end if;
            -- Smallest runid whose start_time >= since. A run not started yet (start_time null)
            -- counts as recent.
            while lo < hi loop
                mid := lo + (hi - lo) / 2;
                select d.runid, coalesce(d.start_time, 'infinity'::timestamptz)
                  into probe_id, probe_start
                  from cron.job_run_details d
                 where d.runid >= mid
                 order by d.runid
                 limit 1;
                if probe_start >= since then
                    hi := mid;
                else
                    lo := probe_id + 1;
                end if;
            end loop;
            return query
                select d.jobid, d.runid, d.status, d.start_time, d.end_time
                  from cron.job_run_details d
                 where d.runid >= lo
                   and (d.start_time is null or d.start_time >= since);
        end
        $body$
    $f$;

    revoke all on function launchguard.cron_job_list() from public;
    revoke all on function launchguard.cron_job_runs_since(timestamptz) from public;
    grant execute on function launchguard.cron_job_list() to launchguard_reader;
    grant execute on function launchguard.cron_job_runs_since(timestamptz) to launchguard_reader;

    -- Every pg_cron job (all users).
    execute $v$
        create or replace view launchguard.cron_jobs as
        select jobid, jobname, schedule, active, database, username
        from launchguard.cron_job_list()
    $v$;
    -- Runs that started in the last 7 days (or have not started yet); older runs are not read.
    execute $v$
        create or replace view launchguard.cron_job_runs as
        select jobid, runid, status, start_time, end_time
        from launchguard.cron_job_runs_since(now() - interval '7 days')
    $v$;
    grant select on launchguard.cron_jobs, launchguard.cron_job_runs to launchguard_reader;
end
$cron$;

-- Supabase Storage: storage.objects has row-level security too (policies for the API roles only),
-- so a direct read by the reader returns no rows on a real project. The function sums object
-- sizes per bucket as the migration's owner; buckets without objects report 0. The size is
-- summed as bigint (an int cast overflows past 2 GiB). Skipped when there is no storage schema.
do $storage$
begin
    if to_regclass('storage.objects') is null or to_regclass('storage.buckets') is null then
        raise notice 'launchguard: storage.objects not found; skipping launchguard.storage_buckets';
        return;
    end if;

    execute $f$
        create or replace function launchguard.storage_bucket_sizes()
        returns table (bucket text, objects bigint, bytes bigint)
        language sql stable security definer
        set search_path = pg_catalog, pg_temp
        as $body$
            select b.id::text,
                   count(o.id)::bigint,
                   coalesce(sum((o.metadata ->> 'size')::bigint), 0)::bigint
              from storage.buckets b
              left join storage.objects o on o.bucket_id = b.id
             group by b.id
        $body$
    $f$;
    revoke all on function launchguard.storage_bucket_sizes() from public;
    grant execute on function launchguard.storage_bucket_sizes() to launchguard_reader;

    execute $v$
        create or replace view launchguard.storage_buckets as
        select bucket, objects, bytes from launchguard.storage_bucket_sizes()
    $v$;
    grant select on launchguard.storage_buckets to launchguard_reader;

end
$storage$;
