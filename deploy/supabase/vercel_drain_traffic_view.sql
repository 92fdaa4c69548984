-- launchguard.traffic_minutely over the Vercel drain's minutes, where no view is defined yet
-- (docs/vercel.md). `launchguard sql` adds this after the migrations when vercel_drain.enabled is
-- set; a view that already exists (yours, or the reference mapping, which the drain migration
-- extends) is left alone.
do $$
begin
    if to_regclass('launchguard.traffic_minutely') is null
       and to_regclass('launchguard.vercel_traffic_minutely') is not null then
        create view launchguard.traffic_minutely as
        select d.bucket, d.requests, d.errors, d.bytes_out, null::double precision as p95_ms,
               d.lat_le_100, d.lat_le_250, d.lat_le_500, d.lat_le_1000, d.lat_le_2000,
               d.lat_le_5000, d.lat_le_inf
        from launchguard.vercel_traffic_minutely d;
        comment on view launchguard.traffic_minutely is
            'launchguard adapter view over launchguard.vercel_traffic_minutely (Vercel drain)';
        revoke all on launchguard.traffic_minutely from public;
        grant select on launchguard.traffic_minutely to launchguard_reader;
    end if;
end
$$;
