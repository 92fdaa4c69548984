-- launchguard client names (docs/supabase.md, the clients view).
--
--   launchguard.clients gains   name text
--
-- The dashboards show clients by name (launchguard_client_info{client,name}) rather than by id.
-- launchguard's reference table (public.clients) already has a name; its reference view is
-- replaced to expose it (`create or replace view` keeps the reader's grant and adds the column
-- after the existing ones). A view you mapped onto your own tables is never touched: add a `name`
-- column to it yourself (docs/supabase.md); until then client names are reported unavailable with
-- the missing column and the dashboards show client ids.
--
-- Idempotent: running it again changes nothing.

do $$
begin
    if coalesce(obj_description(to_regclass('launchguard.clients'), 'pg_class'), '')
           <> 'launchguard adapter view over public.clients (reference mapping)'
       or to_regclass('public.clients') is null then
        raise notice 'launchguard: launchguard.clients is not the reference mapping, so its name column is left for you to add (docs/supabase.md)';
        return;
    end if;
    if exists (select 1 from information_schema.columns
               where table_schema = 'launchguard' and table_name = 'clients'
                 and column_name = 'name') then
        return;
    end if;
    if not exists (select 1 from information_schema.columns
                   where table_schema = 'launchguard' and table_name = 'clients'
                     and column_name = 'converted_at') then
        raise notice 'launchguard: launchguard.clients lacks the trial columns (20261130000002), so its name column is not added';
        return;
    end if;
    create or replace view launchguard.clients as
        select c.id::text as id,
               (c.status in ('trial', 'active')) as active,
               c.trial_started_at::timestamptz as trial_started_at,
               c.trial_ended_at::timestamptz as trial_ended_at,
               c.converted_at::timestamptz as converted_at,
               c.name::text as name
        from public.clients c;
end
$$;
