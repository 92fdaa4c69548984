-- launchguard adapter views: the four objects the exporter's default queries read.
--
--   launchguard.clients           id text, active boolean
--   launchguard.usage_events      occurred_at timestamptz, client_id text, provider text, model text,
--                                 input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
--                                 characters, requests bigint, cost_usd numeric
--   launchguard.jobs              kind text, status text, created_at, started_at, finished_at timestamptz
--   launchguard.traffic_minutely  bucket timestamptz, requests, errors, bytes_out bigint,
--                                 p95_ms double precision, lat_le_100 .. lat_le_inf bigint
--
-- docs/supabase.md says what each column means. This file defines each view over launchguard's
-- reference table when that table exists (20261126000001_launchguard_schema.sql); a platform with
-- its own tables defines the views over them instead (docs/supabase.md has two worked mappings),
-- with `create or replace view` and the same columns and types.
--
-- Why views: a view reads its tables with its owner's rights. Run as `postgres` (the SQL editor's
-- role and `supabase db push`'s), which on Supabase has BYPASSRLS, the views see every row whatever
-- row-level security the tables have, while launchguard_reader needs no grant on any table and sees
-- only the columns below. Where a view cannot see every row (its owner lacks a grant, or does not
-- bypass row-level security), the reader's `row_security = off` makes the query fail and the
-- figure is reported unavailable with the reason; it is never read as a smaller number.
--
-- Idempotent and safe to run again: a view that already exists is never replaced (yours stays
-- yours); missing reference tables are skipped with a notice; the grants are applied again.

do $$
begin
    if not exists (select 1 from pg_catalog.pg_roles
                   where rolname = current_user and (rolsuper or rolbypassrls)) then
        raise warning 'launchguard: % does not bypass row-level security, so the views it owns only see the rows policies give it; the figures they feed will be reported unavailable wherever row-level security is on. Apply this as postgres (Supabase) or a superuser.', current_user;
    end if;
end
$$;

-- Each reference view is created only when the view is missing and the reference table is there.
-- A same-named table of another shape (a platform's own `public.jobs`) is left alone: the view
-- stays undefined, with a warning, until it is mapped by hand.
do $$
declare
    v record;
begin
    for v in
        select * from (values
            ('clients', 'public.clients', $sql$
                select c.id::text as id,
                       (c.status in ('trial', 'active')) as active
                from public.clients c $sql$),
            ('usage_events', 'public.ai_usage_events', $sql$
                select e.occurred_at::timestamptz as occurred_at,
                       e.client_id::text as client_id,
                       e.provider::text as provider,
                       e.model::text as model,
                       e.input_tokens::bigint as input_tokens,
                       e.output_tokens::bigint as output_tokens,
                       e.cache_read_tokens::bigint as cache_read_tokens,
                       e.cache_write_tokens::bigint as cache_write_tokens,
                       e.characters::bigint as characters,
                       e.requests::bigint as requests,
                       e.cost_usd::numeric as cost_usd
                from public.ai_usage_events e $sql$),
            ('jobs', 'public.jobs', $sql$
                select j.kind::text as kind,
                       j.status::text as status,
                       j.created_at::timestamptz as created_at,
                       j.started_at::timestamptz as started_at,
                       j.finished_at::timestamptz as finished_at
                from public.jobs j $sql$),
            ('traffic_minutely', 'public.http_traffic_minutely', $sql$
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
                from public.http_traffic_minutely t $sql$)
        ) as a (view_name, source_table, body)
    loop
        if to_regclass('launchguard.' || v.view_name) is not null then
            continue;
        end if;
        if to_regclass(v.source_table) is null then
            raise notice 'launchguard: % does not exist, so launchguard.% is left for you to map onto your own table (docs/supabase.md)',
                v.source_table, v.view_name;
            continue;
        end if;
        begin
            execute format('create view launchguard.%I as %s', v.view_name, v.body);
            execute format('comment on view launchguard.%I is %L', v.view_name,
                           'launchguard adapter view over ' || v.source_table || ' (reference mapping)');
        exception when undefined_column or undefined_function or datatype_mismatch
                       or cannot_coerce or invalid_text_representation then
            raise warning 'launchguard: % is not launchguard''s reference table (%), so launchguard.% is left for you to map (docs/supabase.md)',
                v.source_table, sqlerrm, v.view_name;
        end;
    end loop;
end
$$;

-- Nothing in schema launchguard is reachable by anyone but its owner and the reader, whatever
-- Supabase's default privileges grant: functions (EXECUTE is granted to PUBLIC on every new
-- function; a SECURITY DEFINER one executable by the API roles would be a hole), views, tables and
-- sequences, including objects a founder added to the schema. The reader gets SELECT on the
-- adapter views and the cron and storage views, and EXECUTE on their functions, nothing else.
do $$
declare
    grantee text;
    obj record;
begin
    foreach grantee in array array['public', 'anon', 'authenticated'] loop
        continue when grantee <> 'public'
            and not exists (select 1 from pg_catalog.pg_roles where rolname = grantee);
        execute format('revoke all on schema launchguard from %s', grantee);
        for obj in
            select c.oid::regclass::text as name, c.relkind
            from pg_catalog.pg_class c
            where c.relnamespace = 'launchguard'::regnamespace
              and c.relkind in ('r', 'v', 'm', 'S', 'f', 'p')
        loop
            execute format('revoke all on %s %s from %s',
                           case when obj.relkind = 'S' then 'sequence' else 'table' end,
                           obj.name, grantee);
        end loop;
        for obj in
            select p.oid::regprocedure::text as name
            from pg_catalog.pg_proc p
            where p.pronamespace = 'launchguard'::regnamespace and p.prokind in ('f', 'p')
        loop
            execute format('revoke all on routine %s from %s', obj.name, grantee);
        end loop;
    end loop;
end
$$;

do $$
declare
    v text;
begin
    foreach v in array array['clients', 'usage_events', 'jobs', 'traffic_minutely',
                             'cron_jobs', 'cron_job_runs', 'storage_buckets'] loop
        if to_regclass('launchguard.' || v) is not null then
            execute format('grant select on launchguard.%I to launchguard_reader', v);
        end if;
    end loop;
end
$$;
