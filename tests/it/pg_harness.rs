//! The throwaway PostgreSQL harness, the migrations, the seed and the default queries, checked
//! together against a real PostgreSQL 15 with pg_cron (needs postgresql-15 and
//! postgresql-15-cron; a missing one fails the test with the package name).
//!
//! The expected values are the seed's documented figures (deploy/supabase/seed.sql).

use crate::common::pg;
#[allow(dead_code)]
#[path = "../../src/sources/supabase/queries.rs"]
mod queries;

use chrono::{DateTime, Duration, Utc};
use pg::{PgOptions, TestPg};

fn utc_day_start(now: DateTime<Utc>) -> DateTime<Utc> {
    now.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc()
}

#[tokio::test(flavor = "multi_thread")]
async fn seeded_figures_read_as_the_reader_role() {
    let pg = TestPg::start_seeded();
    let db = pg.connect_reader().await;
    let now = Utc::now();
    let day_start = utc_day_start(now);

    let row = db.query_one(queries::ACTIVE_CLIENTS, &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>("active"), 6);

    let row = db
        .query_one(queries::JOBS, &[&day_start, &now])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>("queued"), 13);
    assert_eq!(row.get::<_, i64>("running"), 4);
    assert_eq!(row.get::<_, i64>("visual_queued"), 4);
    assert_eq!(row.get::<_, i64>("visual_today"), 14);
    assert_eq!(row.get::<_, i64>("visual_failed_last_hour"), 3);
    assert_eq!(row.get::<_, i64>("visual_finished_last_hour"), 8);
    let mean: Option<f64> = row.get("visual_mean_processing_seconds");
    assert!((mean.unwrap() - 32.5).abs() < 1e-6, "{mean:?}");

    let row = db.query_one(queries::TRAFFIC, &[&now]).await.unwrap();
    assert_eq!(row.get::<_, i64>("requests_last_minute"), 48);
    assert_eq!(row.get::<_, i64>("requests"), 240);
    assert_eq!(row.get::<_, i64>("errors"), 5);
    assert_eq!(row.get::<_, i64>("lat_le_1000"), 15);
    assert_eq!(row.get::<_, Option<f64>>("p95_ms"), Some(910.0));

    let row = db
        .query_one(queries::BANDWIDTH, &[&day_start])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>("bytes"), 150_250_000);

    let rows = db.query(queries::USAGE, &[&day_start, &now]).await.unwrap();
    let total: i64 = rows
        .iter()
        .map(|r| {
            r.get::<_, i64>("input_tokens")
                + r.get::<_, i64>("output_tokens")
                + r.get::<_, i64>("cache_read_tokens")
                + r.get::<_, i64>("cache_write_tokens")
        })
        .sum();
    assert_eq!(total, 428_525);

    let rows = db.query(queries::STORAGE_BUCKETS, &[]).await.unwrap();
    let buckets: Vec<(String, i64)> = rows
        .iter()
        .map(|r| (r.get("bucket"), r.get("bytes")))
        .collect();
    assert_eq!(
        buckets,
        vec![
            ("avatars".into(), 56_000),
            ("exports".into(), 4_000_000_000),
            ("tmp".into(), 0),
            ("visuals".into(), 12_000_000)
        ]
    );

    // cron.job_run_details has row-level security: the reader sees the runs only through the view.
    let rows = db.query(queries::CRON_JOBS, &[&now]).await.unwrap();
    let sync = rows
        .iter()
        .find(|r| r.get::<_, String>("job") == "platform-sync")
        .expect("platform-sync");
    assert_eq!(sync.get::<_, String>("schedule"), "0 * * * *");
    assert!(sync.get::<_, bool>("active"));
    assert_eq!(sync.get::<_, Option<f64>>("mean_run_seconds"), Some(40.5));
    assert_eq!(sync.get::<_, i64>("failures_last_day"), 1);
    let last_run: DateTime<Utc> = sync.get("last_run");
    assert!((now - last_run - Duration::hours(1)).num_seconds().abs() < 120);
    assert_eq!(rows.len(), 4);

    let row = db.query_one(queries::CONNECTIONS, &[]).await.unwrap();
    assert!(row.get::<_, i64>("used") >= 1);
    assert_eq!(row.get::<_, i64>("max"), 50);
    let row = db.query_one(queries::DATABASE_SIZE, &[]).await.unwrap();
    assert!(row.get::<_, i64>("bytes") > 1_000_000);

    // Read-only: every transaction of the role is, even for a temporary table.
    let err = db
        .execute("create temp table scratch (x int)", &[])
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION),
        "{err:?}"
    );
    // The tables are not reachable around the views: no grant on them, and row-level security
    // refuses the read rather than filtering it.
    for sql in [
        "insert into public.clients (name, status) values ('x', 'trial')",
        "select count(*) from public.ai_usage_events",
    ] {
        let err = db.execute(sql, &[]).await.unwrap_err();
        assert_eq!(
            err.code(),
            Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{sql}: {err:?}"
        );
    }
    assert!(
        db.query("select * from cron.job_run_details", &[])
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn migrates_without_pg_cron_and_survives_a_restart() {
    let mut pg = TestPg::start_with(PgOptions {
        seed: true,
        pg_cron: false,
        ..PgOptions::default()
    });
    let db = pg.connect_reader().await;
    let row = db.query_one(queries::ACTIVE_CLIENTS, &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>("active"), 6);
    // No pg_cron: the cron figure is absent (an error the exporter reports), nothing else is.
    let err = db
        .query(queries::CRON_JOBS, &[&Utc::now()])
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE),
        "{err:?}"
    );

    pg.stop();
    assert!(db.query_one(queries::ACTIVE_CLIENTS, &[]).await.is_err());
    pg.start_again();
    let db = pg.connect_reader().await;
    let row = db.query_one(queries::ACTIVE_CLIENTS, &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>("active"), 6);
}
