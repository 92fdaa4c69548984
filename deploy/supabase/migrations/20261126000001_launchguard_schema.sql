-- launchguard reference schema (BRIEF section 6): the tables a new platform can adopt.
--
-- Apply it only when the platform has no tables of its own for these figures: a platform with
-- its own ledger, jobs or traffic tables skips this file and maps them onto launchguard's
-- adapter views instead (docs/supabase.md). The default queries read those views
-- (launchguard.usage_events, launchguard.jobs, launchguard.traffic_minutely,
-- launchguard.clients), which the adapter migration defines over these tables.
--
-- On Supabase the tables stay in `public`, where the platform writes them through the Data API
-- with the service_role key, but are closed to the API roles (see the end of this file).
-- Run it as `postgres` (the SQL editor's role, or `supabase db push`).
-- Idempotent: safe to apply again (tables, constraints and indexes are created only if missing).
--
-- Every per-cycle query reads only today's / this month's / the last hour's rows through an
-- index below, so a cycle costs the same with a year of history as with a day of it.


create table if not exists public.clients (
    id          uuid primary key default gen_random_uuid(),
    name        text not null,
    status      text not null check (status in ('trial', 'active', 'paused', 'churned')),
    created_at  timestamptz not null default now()
);
comment on table public.clients is
    'Platform clients; launchguard counts status trial or active as active clients';

-- The AI spend ledger: one row per provider call (or per batch of calls, see requests).
-- Token classes are disjoint: input_tokens is UNcached input; cache reads and cache writes are
-- counted only in their own columns (convert OpenAI/Gemini "prompt incl. cached" totals before
-- writing). cost_usd, when set, is the authoritative cost of the row and is used as is.
create table if not exists public.ai_usage_events (
    id                  bigint generated always as identity primary key,
    occurred_at         timestamptz not null default now(),
    client_id           uuid references public.clients (id),
    provider            text not null,  -- anthropic, openai, gemini, openrouter, elevenlabs, perplexity
    model               text not null default '',
    input_tokens        bigint not null default 0,
    output_tokens       bigint not null default 0,
    cache_read_tokens   bigint not null default 0,
    cache_write_tokens  bigint not null default 0,
    characters          bigint not null default 0,  -- text-to-speech characters (ElevenLabs)
    requests            bigint not null default 1,  -- billed requests (Perplexity per-request fee)
    cost_usd            numeric(14, 6)              -- null: priced by launchguard's price table
);
comment on table public.ai_usage_events is
    'AI usage ledger; token classes are disjoint (input_tokens excludes cache reads and writes)';

create table if not exists public.jobs (
    id           bigint generated always as identity primary key,
    client_id    uuid references public.clients (id),
    kind         text not null,  -- visual, email, sync, ...
    status       text not null check (status in ('queued', 'running', 'succeeded', 'failed')),
    created_at   timestamptz not null default now(),
    started_at   timestamptz,
    finished_at  timestamptz
);

-- Written by the platform's HTTP middleware, one row per minute (upsert adding to the counters).
-- lat_le_* are NON-cumulative counts of responses per latency bucket:
-- lat_le_100 = (0,100] ms, lat_le_250 = (100,250] ms, ..., lat_le_5000 = (2000,5000] ms,
-- lat_le_inf = more than 5000 ms. p95_ms is an optional fallback for middleware that only
-- computes a percentile.
create table if not exists public.http_traffic_minutely (
    bucket       timestamptz primary key,  -- start of the minute
    requests     bigint not null default 0,
    errors       bigint not null default 0,
    bytes_out    bigint not null default 0,
    p95_ms       double precision,
    lat_le_100   bigint not null default 0,
    lat_le_250   bigint not null default 0,
    lat_le_500   bigint not null default 0,
    lat_le_1000  bigint not null default 0,
    lat_le_2000  bigint not null default 0,
    lat_le_5000  bigint not null default 0,
    lat_le_inf   bigint not null default 0
);

-- ---------------------------------------------------------------------------------------------
-- Indexes for the per-cycle queries
-- ---------------------------------------------------------------------------------------------

-- USAGE (today, this month, last 15 min): range on occurred_at; INCLUDE every grouped and summed column so it is an index-only scan.
create index if not exists ai_usage_events_occurred_at_idx
    on public.ai_usage_events (occurred_at)
    include (client_id, provider, model, cost_usd, input_tokens, output_tokens,
             cache_read_tokens, cache_write_tokens, characters, requests);

-- JOBS queued / running / visual_queued: only waiting and running jobs, a tiny index however many jobs finished.
create index if not exists jobs_open_status_kind_idx
    on public.jobs (status, kind)
    where status in ('queued', 'running');

-- JOBS visual_today: visual jobs created since local midnight.
create index if not exists jobs_visual_created_at_idx
    on public.jobs (created_at)
    where kind = 'visual';

-- JOBS visual failed / finished / mean processing in the last hour: index-only range on finished_at.
create index if not exists jobs_visual_finished_at_idx
    on public.jobs (finished_at)
    include (status, started_at)
    where kind = 'visual' and finished_at is not null;

-- TRAFFIC and BANDWIDTH read a bucket range through the primary key on bucket (no extra index).

-- ---------------------------------------------------------------------------------------------
-- Closed to Supabase's API roles
-- ---------------------------------------------------------------------------------------------
-- Supabase grants every new table and sequence in `public` to `anon` and `authenticated`
-- (default privileges of `postgres`): without this section anyone holding the project's public
-- anon key could read the ledger and delete from it through the Data API. Two locks, each enough
-- on its own: row-level security with no policy for any role (the API roles would see no row),
-- and no privilege at all for them (the Data API answers "permission denied" and does not even
-- list the tables). `service_role` keeps its grants and bypasses row-level security, so the
-- platform's server code (supabase-js with the service key) and direct connections as
-- `postgres` write as before. launchguard itself reads through its adapter views, which see
-- every row (20261126000003_launchguard_adapter.sql).
alter table public.clients enable row level security;
alter table public.ai_usage_events enable row level security;
alter table public.jobs enable row level security;
alter table public.http_traffic_minutely enable row level security;

revoke all on table public.clients, public.ai_usage_events, public.jobs, public.http_traffic_minutely
    from public;
do $$
declare
    api_role text;
begin
    foreach api_role in array array['anon', 'authenticated'] loop
        -- A plain PostgreSQL has no API roles: nothing to revoke there.
        continue when not exists (select 1 from pg_catalog.pg_roles where rolname = api_role);
        execute format('revoke all on table public.clients, public.ai_usage_events, public.jobs, '
                       'public.http_traffic_minutely from %I', api_role);
        execute format('revoke all on sequence %s, %s from %I',
                       pg_catalog.pg_get_serial_sequence('public.ai_usage_events', 'id'),
                       pg_catalog.pg_get_serial_sequence('public.jobs', 'id'), api_role);
    end loop;
end
$$;
