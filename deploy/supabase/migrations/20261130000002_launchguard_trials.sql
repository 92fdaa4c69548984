-- launchguard trial columns (the milestone's trial completion, docs/supabase.md#trials).
--
--   launchguard.clients gains   trial_started_at, trial_ended_at, converted_at timestamptz
--
-- A trial starts at trial_started_at; it ends in conversion once converted_at is reached, or
-- expires once trial_ended_at (its end, scheduled or actual) is reached without conversion;
-- otherwise it runs. NULL trial_started_at: the client never trialled.
--
-- launchguard's reference table (public.clients) gets the three columns, and its reference view
-- is replaced to expose them (`create or replace view` keeps the reader's grant and adds the
-- columns after the existing ones). A view you mapped onto your own tables is never touched: add
-- the three columns to it yourself (docs/supabase.md); until then the trials figure is reported
-- unavailable with the missing column, never as zero.
--
-- Idempotent: running it again changes nothing.

do $$
begin
    if coalesce(obj_description(to_regclass('launchguard.clients'), 'pg_class'), '')
           <> 'launchguard adapter view over public.clients (reference mapping)'
       or to_regclass('public.clients') is null then
        raise notice 'launchguard: launchguard.clients is not the reference mapping, so its trial columns are left for you to add (docs/supabase.md#trials)';
        return;
    end if;
    alter table public.clients
        add column if not exists trial_started_at timestamptz,
        add column if not exists trial_ended_at   timestamptz,
        add column if not exists converted_at     timestamptz;
    comment on column public.clients.trial_started_at is
        'When the client''s trial started; NULL if the client never trialled';
    comment on column public.clients.trial_ended_at is
        'When the trial ends or ended (scheduled or actual); reached without conversion it expired';
    comment on column public.clients.converted_at is
        'When the client converted to a paid plan; NULL while not converted';
    -- Already replaced (by this file, or with later columns by 20261130000003): replacing it
    -- again with fewer columns would fail.
    if exists (select 1 from information_schema.columns
               where table_schema = 'launchguard' and table_name = 'clients'
                 and column_name = 'converted_at') then
        return;
    end if;
    create or replace view launchguard.clients as
        select c.id::text as id,
               (c.status in ('trial', 'active')) as active,
               c.trial_started_at::timestamptz as trial_started_at,
               c.trial_ended_at::timestamptz as trial_ended_at,
               c.converted_at::timestamptz as converted_at
        from public.clients c;
end
$$;
