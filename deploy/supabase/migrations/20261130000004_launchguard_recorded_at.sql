-- launchguard incremental collection (docs/supabase.md#incremental-collection).
--
--   launchguard.usage_events gains   recorded_at timestamptz   (when the row was written)
--
-- With recorded_at, each collection reads only the ledger rows recorded since the previous one
-- instead of the whole day, so its cost follows the rows added, not the day's volume. The
-- exporter keeps today's and this month's sums and advances them; rows recorded before the
-- oldest open transaction (less `database.settle`) are taken as final.
--
-- recorded_at must be the insert's transaction time (`default now()`, never written by the
-- application): a row the exporter cannot see yet then always carries a recorded_at at or after
-- the start of a transaction still open. Existing rows get the moment this migration runs.
-- Adding a column with a stable default is instant from PostgreSQL 11 (no table rewrite); the
-- index is built once, as every index of the reference schema.
--
-- launchguard's reference table (public.ai_usage_events) gets the column and an index on it, and
-- its reference view is replaced to expose it (`create or replace view` keeps the reader's grant
-- and adds the column after the existing ones). A view you mapped onto your own tables is never
-- touched: add the column to your table and view yourself (docs/supabase.md); until then the
-- ledger is read whole every cycle, as before, and `launchguard check --connect` says so.
--
-- Idempotent: running it again changes nothing.

do $$
begin
    if coalesce(obj_description(to_regclass('launchguard.usage_events'), 'pg_class'), '')
           <> 'launchguard adapter view over public.ai_usage_events (reference mapping)'
       or to_regclass('public.ai_usage_events') is null then
        raise notice 'launchguard: launchguard.usage_events is not the reference mapping, so its recorded_at column is left for you to add (docs/supabase.md#incremental-collection)';
        return;
    end if;
    alter table public.ai_usage_events
        add column if not exists recorded_at timestamptz not null default now();
    comment on column public.ai_usage_events.recorded_at is
        'When the row was written (its transaction''s start, default now()); never set by the application';
    -- The rows recorded since the last collection: a range on recorded_at.
    create index if not exists ai_usage_events_recorded_at_idx
        on public.ai_usage_events (recorded_at);
    create or replace view launchguard.usage_events as
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
               e.cost_usd::numeric as cost_usd,
               e.recorded_at::timestamptz as recorded_at
        from public.ai_usage_events e;
end
$$;

-- The start of the oldest transaction still open, whoever runs it: no ledger row that the reader
-- cannot see yet carries an earlier recorded_at, so rows recorded before it are final.
-- launchguard_reader is NOINHERIT, so its pg_read_all_stats grant does not show it other roles'
-- transactions in pg_stat_activity; this function runs as the migration's owner (a superuser,
-- or Supabase's "postgres", a member of pg_read_all_stats) and returns one instant and whether
-- that owner sees every session. Without it, or when `sees_all` is false, rows settle
-- `database.settle` after they are recorded.
create or replace function launchguard.transaction_horizon()
returns table (horizon timestamptz, sees_all boolean)
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select least(now(),
                 (select min(a.xact_start) from pg_catalog.pg_stat_activity a
                  where a.xact_start is not null
                    and a.backend_type in ('client backend', 'background worker')),
                 (select min(p.prepared) from pg_catalog.pg_prepared_xacts p)),
           pg_catalog.pg_has_role(current_user, 'pg_read_all_stats', 'usage')
           or (select rolsuper from pg_catalog.pg_roles where rolname = current_user)
$$;
revoke all on function launchguard.transaction_horizon() from public;
do $$
begin
    if exists (select 1 from pg_catalog.pg_roles where rolname = 'launchguard_reader') then
        grant execute on function launchguard.transaction_horizon() to launchguard_reader;
    end if;
end
$$;
