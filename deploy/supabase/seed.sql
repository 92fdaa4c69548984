-- launchguard sample data: one realistic day of a soft-launch platform, anchored to now().
-- Supabase applies this after the migrations on `supabase db reset`; scripts/dev-db.sh and the
-- tests apply it to a fresh database. Apply it once (it does not deduplicate).
--
-- Everything is deterministic except its anchoring to now(). "Today" is the UTC day:
-- today's rows are placed at greatest(UTC midnight, now() - x), so they stay today even when the
-- seed runs just after midnight (the figures below are exact unless it runs in the first ~15
-- minutes after 00:00 UTC, or the reads happen more than one minute boundary after seeding for
-- the 5-minute traffic window, or more than ~50 minutes after seeding for the last-hour job
-- figures). The numbers are listed in tests/it/pg_harness.rs and in the comments below; a
-- seeded test that starts in those first minutes waits until 00:16 UTC (tests/it/common/pg.rs).

begin;

create temp table seed_anchor as
select now() as t_now,
       date_trunc('minute', now()) as t_minute,
       (date_trunc('day', now() at time zone 'UTC') at time zone 'UTC') as day_start;

-- ---------------------------------------------------------------------------------------------
-- Clients: 4 active, 2 trial, 1 paused, 1 churned -> ACTIVE_CLIENTS.active = 6
-- ---------------------------------------------------------------------------------------------
insert into public.clients (id, name, status, created_at)
select v.id::uuid, v.name, v.status, a.day_start - make_interval(days => v.age_days)
from seed_anchor a,
     (values ('10000000-0000-4000-8000-000000000001', 'Acme Studio',       'active',  120),
             ('10000000-0000-4000-8000-000000000002', 'Brightline Media',  'active',   95),
             ('10000000-0000-4000-8000-000000000003', 'Copperleaf Labs',   'active',   60),
             ('10000000-0000-4000-8000-000000000004', 'Harbor Fitness',    'active',   31),
             ('10000000-0000-4000-8000-000000000005', 'Dunmore & Co',      'trial',    10),
             ('10000000-0000-4000-8000-000000000006', 'Evergreen Dental',  'trial',     3),
             ('10000000-0000-4000-8000-000000000007', 'Foxglove Retail',   'paused',   80),
             ('10000000-0000-4000-8000-000000000008', 'Granite Legal',     'churned', 200))
     as v (id, name, status, age_days);

-- client number n -> uuid
create temp table seed_client as
select n, ('10000000-0000-4000-8000-00000000000' || n)::uuid as id from generate_series(1, 8) n;

-- ---------------------------------------------------------------------------------------------
-- AI usage ledger
-- ---------------------------------------------------------------------------------------------
-- Today, spread over the day but never in the last 15 minutes (bulk traffic of the app).
-- occurred_at = day_start + (greatest(day_start, now - 20 min) - day_start) * i / (n + 1)
insert into public.ai_usage_events
    (occurred_at, client_id, provider, model, input_tokens, output_tokens,
     cache_read_tokens, cache_write_tokens, characters, requests, cost_usd)
select a.day_start + (greatest(a.day_start, a.t_now - interval '20 minutes') - a.day_start)
                     * (r.i::double precision / (r.n + 1)),
       c.id, r.provider, r.model, r.input_tokens, r.output_tokens,
       r.cache_read_tokens, r.cache_write_tokens, r.characters, r.requests, r.cost_usd
from seed_anchor a
cross join lateral (
    -- Anthropic Sonnet: 60 calls, clients 1..6, prompt caching in use
    select i, 60 as n, 'anthropic' as provider, 'claude-sonnet-4-5' as model,
           ((i - 1) % 6) + 1 as client_no,
           800 + (i * 37) % 400 as input_tokens, 300 + (i * 13) % 200 as output_tokens,
           case when i % 2 = 0 then 2000 else 0 end as cache_read_tokens,
           case when i % 5 = 0 then 2000 else 0 end as cache_write_tokens,
           0 as characters, 1 as requests, null::numeric as cost_usd
    from generate_series(1, 60) i
    union all
    -- Anthropic Haiku: 40 calls, clients 1..4
    select i, 40, 'anthropic', 'claude-haiku-4-5', ((i - 1) % 4) + 1,
           800, 150, case when i % 4 = 0 then 1000 else 0 end, 0, 0, 1, null
    from generate_series(1, 40) i
    union all
    -- OpenAI GPT-4o: 30 calls, clients 1..3, cached prompt tokens moved to cache_read
    select i, 30, 'openai', 'gpt-4o', ((i - 1) % 3) + 1,
           1500 + (i * 29) % 500, 400, case when i % 3 = 0 then 1024 else 0 end, 0, 0, 1, null
    from generate_series(1, 30) i
    union all
    -- OpenAI GPT-4o mini: 50 calls, every 5th by the platform itself (client_id null)
    select i, 50, 'openai', 'gpt-4o-mini', case when i % 5 = 0 then null else ((i - 1) % 6) + 1 end,
           600, 120, 0, 0, 0, 1, null
    from generate_series(1, 50) i
    union all
    -- Gemini Flash: 25 calls, clients 1..5
    select i, 25, 'gemini', 'gemini-2.5-flash', ((i - 1) % 5) + 1,
           1000, 500, 0, 0, 0, 1, null
    from generate_series(1, 25) i
    union all
    -- OpenRouter: 10 calls for client 2, the gateway reports the cost of each (cost_usd set)
    select i, 10, 'openrouter', 'meta-llama/llama-3.3-70b-instruct', 2,
           1500, 700, 0, 0, 0, 1, 0.001900
    from generate_series(1, 10) i
    union all
    -- ElevenLabs: 12 text-to-speech calls, clients 1..3, characters only
    select i, 12, 'elevenlabs', 'eleven_multilingual_v2', ((i - 1) % 3) + 1,
           0, 0, 0, 0, 1500 + 100 * i, 1, null
    from generate_series(1, 12) i
    union all
    -- Perplexity Sonar: 20 calls, clients 1..4; even calls carry their cost
    select i, 20, 'perplexity', 'sonar', ((i - 1) % 4) + 1,
           300, 600, 0, 0, 0, 1, case when i % 2 = 0 then 0.006000 end
    from generate_series(1, 20) i
) r
left join seed_client c on c.n = r.client_no;

-- The last 15 minutes (spend-rate window): 5 calls 3..12 minutes ago.
insert into public.ai_usage_events
    (occurred_at, client_id, provider, model, input_tokens, output_tokens,
     cache_read_tokens, cache_write_tokens, characters, requests, cost_usd)
select greatest(a.day_start, a.t_now - make_interval(mins => v.mins_ago)), c.id,
       v.provider, v.model, v.i, v.o, v.cr, v.cw, v.ch, v.rq, v.cost
from seed_anchor a,
     (values ( 3, 1, 'anthropic',  'claude-sonnet-4-5',            5000, 1200,  5000, 0,    0, 1, null::numeric),
             ( 5, 2, 'openai',     'gpt-4o',                       8000, 2000,     0, 0,    0, 1, null),
             ( 8, 1, 'elevenlabs', 'eleven_multilingual_v2',          0,    0,     0, 0, 4000, 1, null),
             (10, null, 'perplexity', 'sonar',                      200,  400,     0, 0,    0, 3, 0.018000),
             (12, 3, 'openrouter', 'anthropic/claude-sonnet-4.5',  2500,  800,     0, 0,    0, 1, 0.019500))
     as v (mins_ago, client_no, provider, model, i, o, cr, cw, ch, rq, cost)
left join seed_client c on c.n = v.client_no;

-- Each of the 5 days before today, at 12:00 UTC (these fall in this month on day 6 or later of
-- the month; on earlier days only the days since the 1st count for "this month").
insert into public.ai_usage_events
    (occurred_at, client_id, provider, model, input_tokens, output_tokens,
     cache_read_tokens, cache_write_tokens, characters, requests, cost_usd)
select a.day_start - make_interval(days => d) + interval '12 hours', c.id,
       v.provider, v.model, v.i, v.o, v.cr, v.cw, v.ch, v.rq, v.cost
from seed_anchor a, generate_series(1, 5) d,
     (values (1, 'anthropic',  'claude-sonnet-4-5',                 50000, 10000, 100000, 20000,     0,  1, null::numeric),
             (2, 'openai',     'gpt-4o',                            40000,  8000,      0,     0,     0,  1, null),
             (3, 'gemini',     'gemini-2.5-flash',                  30000,  6000,      0,     0,     0,  1, null),
             (1, 'elevenlabs', 'eleven_multilingual_v2',                0,     0,      0,     0, 20000,  1, null),
             (null, 'perplexity', 'sonar',                            1000,  2000,      0,     0,     0, 10, null),
             (2, 'openrouter', 'meta-llama/llama-3.3-70b-instruct',  20000,  5000,      0,     0,     0,  1, 0.050000))
     as v (client_no, provider, model, i, o, cr, cw, ch, rq, cost)
left join seed_client c on c.n = v.client_no;

-- Last quarter: the churned client's spend, 40 days ago (never this month's "today").
insert into public.ai_usage_events
    (occurred_at, client_id, provider, model, input_tokens, output_tokens, requests)
select a.day_start - interval '40 days' + interval '9 hours', c.id, 'anthropic', 'claude-sonnet-4-5',
       250000, 40000, 30
from seed_anchor a join seed_client c on c.n = 8;

-- ---------------------------------------------------------------------------------------------
-- Jobs
--   visual: 4 queued, 2 running (created today); 5 succeeded + 3 failed finished 2..9 minutes
--           ago (processing 20,30,40,50,60 s and 10,15,35 s); 6 succeeded + 2 failed created
--           yesterday and finished ~95-103 minutes ago; 300 succeeded in the previous 30 days.
--   email:  7 queued, 1 running, 20 succeeded, 1 failed.   sync: 2 queued, 1 running,
--           10 succeeded, 2 failed.
--   JOBS -> queued 13, running 4, visual_queued 4, visual_today 14,
--           visual_failed_last_hour 3, visual_finished_last_hour 8,
--           visual_mean_processing_seconds 32.5
-- ---------------------------------------------------------------------------------------------
-- visual, finished in the last hour
insert into public.jobs (client_id, kind, status, created_at, started_at, finished_at)
select c.id, 'visual', v.status,
       greatest(a.day_start, a.t_now - make_interval(mins => v.fin_mins_ago + 1, secs => v.proc_s)),
       a.t_now - make_interval(mins => v.fin_mins_ago, secs => v.proc_s),
       a.t_now - make_interval(mins => v.fin_mins_ago)
from seed_anchor a,
     (values (1, 'succeeded', 2, 20), (2, 'succeeded', 3, 30), (3, 'succeeded', 4, 40),
             (1, 'succeeded', 5, 50), (4, 'succeeded', 6, 60),
             (2, 'failed',    7, 10), (5, 'failed',    8, 15), (1, 'failed',    9, 35))
     as v (client_no, status, fin_mins_ago, proc_s)
join seed_client c on c.n = v.client_no;

-- visual, waiting and running (created today)
insert into public.jobs (client_id, kind, status, created_at, started_at)
select c.id, 'visual', v.status,
       greatest(a.day_start, a.t_now - make_interval(mins => v.created_mins_ago)),
       case when v.status = 'running' then a.t_now - interval '30 seconds' end
from seed_anchor a,
     (values (1, 'queued', 1), (2, 'queued', 2), (3, 'queued', 3), (6, 'queued', 4),
             (1, 'running', 1), (4, 'running', 1))
     as v (client_no, status, created_mins_ago)
join seed_client c on c.n = v.client_no;

-- visual, created yesterday, finished more than an hour ago
insert into public.jobs (client_id, kind, status, created_at, started_at, finished_at)
select c.id, 'visual', case when i <= 6 then 'succeeded' else 'failed' end,
       a.day_start - interval '3 hours',
       a.day_start - interval '3 hours' + interval '10 minutes',
       a.t_now - make_interval(mins => 95 + i)
from seed_anchor a, generate_series(1, 8) i
join seed_client c on c.n = ((i - 1) % 4) + 1;

-- visual history: 300 jobs over the previous 30 days
insert into public.jobs (client_id, kind, status, created_at, started_at, finished_at)
select c.id, 'visual', 'succeeded',
       a.day_start - interval '1 day' - make_interval(hours => 2 * i),
       a.day_start - interval '1 day' - make_interval(hours => 2 * i) + interval '20 seconds',
       a.day_start - interval '1 day' - make_interval(hours => 2 * i) + interval '65 seconds'
from seed_anchor a, generate_series(1, 300) i
join seed_client c on c.n = ((i - 1) % 5) + 1;

-- email and sync
insert into public.jobs (client_id, kind, status, created_at, started_at, finished_at)
select c.id, v.kind, v.status,
       case when v.status in ('queued', 'running')
            then greatest(a.day_start, a.t_now - make_interval(mins => i))
            else a.day_start - make_interval(hours => i) end,
       case when v.status = 'queued' then null
            when v.status = 'running' then a.t_now - interval '20 seconds'
            else a.day_start - make_interval(hours => i) + interval '5 seconds' end,
       case when v.status in ('succeeded', 'failed')
            then a.day_start - make_interval(hours => i) + interval '9 seconds' end
from seed_anchor a,
     (values ('email', 'queued', 7), ('email', 'running', 1), ('email', 'succeeded', 20),
             ('email', 'failed', 1),
             ('sync', 'queued', 2), ('sync', 'running', 1), ('sync', 'succeeded', 10),
             ('sync', 'failed', 2))
     as v (kind, status, n),
     lateral generate_series(1, v.n) i
join seed_client c on c.n = ((i - 1) % 6) + 1;

-- ---------------------------------------------------------------------------------------------
-- HTTP traffic (minute buckets; rows that would fall before midnight are merged into the
-- midnight bucket so "today" always holds all of them)
--   current minute and the 15 before it: 48 requests, 1 error, 2,500,000 bytes, p95 910 ms,
--     latency 20 / 15 / 8 / 3 / 1 / 1 / 0  (<=100, <=250, <=500, <=1000, <=2000, <=5000, more)
--     -> TRAFFIC: requests_last_minute 48, requests 240, errors 5,
--        lat 100 / 75 / 40 / 15 / 5 / 5 / 0, p95_ms 910
--   16..60 minutes ago: 30 + (k % 7) requests, 1 error when k % 3 = 0, 50,000 bytes a request
--   36 earlier buckets today: 20 requests, 1,000,000 bytes each
--   BANDWIDTH today = 16 * 2,500,000 + 74,250,000 + 36 * 1,000,000 = 150,250,000 bytes
--   yesterday: every 5 minutes, 25 requests, 1,200,000 bytes (not today)
-- ---------------------------------------------------------------------------------------------
insert into public.http_traffic_minutely
    (bucket, requests, errors, bytes_out, p95_ms,
     lat_le_100, lat_le_250, lat_le_500, lat_le_1000, lat_le_2000, lat_le_5000, lat_le_inf)
select bucket, sum(requests), sum(errors), sum(bytes_out), max(p95_ms),
       sum(l100), sum(l250), sum(l500), sum(l1000), sum(l2000), sum(l5000), sum(linf)
from (
    select greatest(a.day_start, a.t_minute - make_interval(mins => k)) as bucket,
           48 as requests, 1 as errors, 2500000 as bytes_out, 910 as p95_ms,
           20 as l100, 15 as l250, 8 as l500, 3 as l1000, 1 as l2000, 1 as l5000, 0 as linf
    from seed_anchor a, generate_series(0, 15) k
    union all
    select greatest(a.day_start, a.t_minute - make_interval(mins => k)),
           30 + k % 7, case when k % 3 = 0 then 1 else 0 end, (30 + k % 7) * 50000, 420,
           30 + k % 7 - 10, 5, 3, 1, 1, 0, 0
    from seed_anchor a, generate_series(16, 60) k
    union all
    select greatest(a.day_start, a.t_minute - make_interval(mins => 61 + 10 * j)),
           20, 0, 1000000, 180, 15, 5, 0, 0, 0, 0, 0
    from seed_anchor a, generate_series(1, 36) j
    union all
    select a.day_start - make_interval(mins => 5 * j),
           25, 0, 1200000, 200, 20, 4, 1, 0, 0, 0, 0
    from seed_anchor a, generate_series(1, 288) j
) b
group by bucket;

-- ---------------------------------------------------------------------------------------------
-- Storage (only where the storage schema exists)
--   avatars 56,000 bytes (3 objects), visuals 12,000,000 (4), exports 4,000,000,000 (2, one of
--   them 3 GiB: more than an int holds), tmp 0 (empty bucket); total 4,012,056,000
-- ---------------------------------------------------------------------------------------------
do $$
begin
    if to_regclass('storage.objects') is null or to_regclass('storage.buckets') is null then
        raise notice 'seed: no storage schema, skipping storage objects';
        return;
    end if;
    insert into storage.buckets (id, name, public)
    values ('avatars', 'avatars', true), ('visuals', 'visuals', false),
           ('exports', 'exports', false), ('tmp', 'tmp', false)
    on conflict (id) do nothing;
    insert into storage.objects (bucket_id, name, metadata)
    values ('avatars', 'acme/logo.png',            '{"size": 12000, "mimetype": "image/png"}'),
           ('avatars', 'brightline/logo.png',      '{"size": 18500, "mimetype": "image/png"}'),
           ('avatars', 'copperleaf/logo.webp',     '{"size": 25500, "mimetype": "image/webp"}'),
           ('visuals', 'acme/hero-1.png',          '{"size": 2400000, "mimetype": "image/png"}'),
           ('visuals', 'acme/hero-2.png',          '{"size": 3100000, "mimetype": "image/png"}'),
           ('visuals', 'brightline/banner.png',    '{"size": 5500000, "mimetype": "image/png"}'),
           ('visuals', 'harbor/poster.jpg',        '{"size": 1000000, "mimetype": "image/jpeg"}'),
           ('exports', 'acme/archive-2026.zip',    '{"size": 3221225472, "mimetype": "application/zip"}'),
           ('exports', 'brightline/export.csv.gz', '{"size": 778774528, "mimetype": "application/gzip"}')
    on conflict do nothing;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- pg_cron (only where the extension exists)
--   platform-sync '0 * * * *' active: runs started 4h (failed, 18 s), 3h (42 s), 2h (48 s),
--     1h (54 s) ago, and one 2 days ago (30 s)
--     -> mean_run_seconds 40.5, failures_last_day 1, last_run = now - 1h,
--        last_success = now - 1h + 54 s
--   purge-expired-sessions '*/30 * * * *' active: runs 50 min (300 s) and 20 min (240 s) ago
--     -> mean 270, failures 0
--   nightly-digest '0 6 * * *' inactive: one failed run 2 days 1 hour ago -> mean NULL, failures 0,
--     last_success NULL, last_run = now - 2 days 1 hour
--   an unnamed job '15 3 * * *' (job label = its jobid) with no runs
--   plus one platform-sync run 30 days ago, outside the 7-day view
-- ---------------------------------------------------------------------------------------------
do $$
declare
    sync_id bigint;
    purge_id bigint;
    digest_id bigint;
begin
    if not exists (select 1 from pg_extension where extname = 'pg_cron') then
        raise notice 'seed: pg_cron not installed, skipping cron jobs';
        return;
    end if;
    sync_id   := cron.schedule('platform-sync', '0 * * * *', 'select 1 /* platform sync: run by the app */');
    purge_id  := cron.schedule('purge-expired-sessions', '*/30 * * * *', 'select 1 /* delete from sessions where expires_at < now() */');
    digest_id := cron.schedule('nightly-digest', '0 6 * * *', 'select 1 /* founder digest */');
    perform cron.schedule('15 3 * * *', 'select 1 /* unnamed maintenance job */');
    perform cron.alter_job(digest_id, active := false);

    -- run rows, inserted in start order (runid follows start_time as with pg_cron itself)
    insert into cron.job_run_details
        (jobid, job_pid, database, username, command, status, return_message, start_time, end_time)
    select v.jobid, 4000 + row_number() over (order by v.started), current_database(), current_user,
           'select 1', v.status, v.msg, v.started, v.started + make_interval(secs => v.secs)
    from (
        select a.t_now - s.ago as started, s.*
        from seed_anchor a,
             (values (sync_id,   interval '30 days',    'succeeded', 'SELECT 1', 31),
                     (sync_id,   interval '2 days',     'succeeded', 'SELECT 1', 30),
                     (digest_id, interval '2 days 1 hour', 'failed', 'ERROR: relation "digest_queue" does not exist', 3),
                     (sync_id,   interval '4 hours',    'failed',    'ERROR: upstream timeout after 15 s', 18),
                     (sync_id,   interval '3 hours',    'succeeded', 'SELECT 1', 42),
                     (sync_id,   interval '2 hours',    'succeeded', 'SELECT 1', 48),
                     (sync_id,   interval '1 hour',     'succeeded', 'SELECT 1', 54),
                     (purge_id,  interval '50 minutes', 'succeeded', 'DELETE 12', 300),
                     (purge_id,  interval '20 minutes', 'succeeded', 'DELETE 3', 240))
             as s (jobid, ago, status, msg, secs)
    ) v
    order by v.started;
end
$$;

drop table seed_client;
drop table seed_anchor;

commit;
