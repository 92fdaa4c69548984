//! The exporter core's hand-computed dataset: the SQL that loads it and the exact figures a
//! scrape must show for it. tests/it/exporter_pg.rs loads it on a plain PostgreSQL with the
//! reference schema, tests/it/supabase_project.rs on a Supabase-shaped one with row-level security
//! on every table.
#![allow(dead_code)]

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, DurationRound, TimeDelta, Utc};

use super::exporter::value;

pub fn ts(t: DateTime<Utc>) -> String {
    format!("'{}'::timestamptz", t.to_rfc3339())
}

/// The dataset's SQL (unqualified reference tables, Supabase Storage and pg_cron), with every
/// expected figure computed by hand in the comments.
pub fn sql(now: DateTime<Utc>) -> String {
    let day = now.duration_trunc(TimeDelta::days(1)).unwrap();
    let first_of_month = now.day() == 1;
    let mut sql = String::from(
        "insert into clients (id, name, status) values
          ('00000000-0000-0000-0000-00000000000a', 'A', 'active'),
          ('00000000-0000-0000-0000-00000000000b', 'B', 'trial'),
          ('00000000-0000-0000-0000-00000000000c', 'C', 'active'),
          ('00000000-0000-0000-0000-00000000000d', 'D', 'paused'),
          ('00000000-0000-0000-0000-00000000000e', 'E', 'churned');\n",
    );
    let a = "'00000000-0000-0000-0000-00000000000a'";
    let b = "'00000000-0000-0000-0000-00000000000b'";
    let c = "'00000000-0000-0000-0000-00000000000c'";
    // Today (UTC is the default time zone), at local midnight exactly: the boundary is inclusive.
    // A anthropic: 1M in x3 + 0.1M out x15 + 2M cache read x0.3 + 0.4M cache write x3.75 = 6.60
    // B openai: 0.1M in x10 + 0.01M out x30 = 1.30; B elevenlabs: 10,000 chars x0.30/1k = 3.00
    // C perplexity: 4 requests x0.005 = 0.02; C openrouter: own cost 0.123456 (tokens ignored)
    sql.push_str(&format!(
        "insert into ai_usage_events (occurred_at, client_id, provider, model, input_tokens,
           output_tokens, cache_read_tokens, cache_write_tokens, characters, requests, cost_usd) values
          ({d}, {a}, 'anthropic', 'claude-sonnet-4', 600000, 60000, 2000000, 400000, 0, 3, null),
          ({d}, {a}, 'anthropic', 'claude-sonnet-4', 400000, 40000, 0, 0, 0, 2, null),
          ({d}, {b}, 'openai', 'gpt-4o', 100000, 10000, 0, 0, 0, 1, null),
          ({d}, {b}, 'elevenlabs', 'eleven_v3', 0, 0, 0, 0, 10000, 1, null),
          ({d}, {c}, 'perplexity', 'sonar', 0, 0, 0, 0, 0, 4, null),
          ({d}, {c}, 'openrouter', 'mistral', 1000, 0, 0, 0, 0, 1, 0.123456),
          -- Tomorrow's rows (clock skew) and yesterday's are not today.
          ({tomorrow}, {a}, 'anthropic', 'claude-sonnet-4', 999, 0, 0, 0, 0, 1, null);\n",
        d = ts(day),
        tomorrow = ts(day + TimeDelta::days(1)),
    ));
    if !first_of_month {
        // Earlier this month: C openai 2M in = 20.00 (month only).
        sql.push_str(&format!(
            "insert into ai_usage_events (occurred_at, client_id, provider, model, input_tokens, requests)
             values ({}, {c}, 'openai', 'gpt-4o', 2000000, 1);\n",
            ts(day - TimeDelta::seconds(1))
        ));
    }
    // Jobs: 25 visual queued + 40 email queued = 65 queued; 2 running; visual finished in the
    // last hour: 5 failed + 5 succeeded, 30 s each; 10 visual created 2 days ago.
    let recent = now - TimeDelta::minutes(10);
    let created = std::cmp::max(day, now - TimeDelta::minutes(30));
    sql.push_str(&format!(
        "insert into jobs (client_id, kind, status, created_at)
           select {a}, 'visual', 'queued', {created} from generate_series(1, 25);
         insert into jobs (client_id, kind, status, created_at)
           select {b}, 'email', 'queued', {created} from generate_series(1, 40);
         insert into jobs (client_id, kind, status, created_at, started_at)
           select {b}, 'email', 'running', {created}, {created} from generate_series(1, 2);
         insert into jobs (client_id, kind, status, created_at, started_at, finished_at)
           select {a}, 'visual', 'failed', {created}, {start}, {fin} from generate_series(1, 5);
         insert into jobs (client_id, kind, status, created_at, started_at, finished_at)
           select {a}, 'visual', 'succeeded', {created}, {start}, {fin} from generate_series(1, 5);
         insert into jobs (client_id, kind, status, created_at, started_at, finished_at)
           select {a}, 'visual', 'succeeded', {old}, {old}, {old} from generate_series(1, 10);\n",
        created = ts(created),
        start = ts(recent - TimeDelta::seconds(30)),
        fin = ts(recent),
        old = ts(day - TimeDelta::days(2)),
    ));
    // Traffic: identical minutes from 10 before to 2 after now, so any 5-minute window read a
    // few seconds later sums the same: 500 requests, 10 errors, p95 in (100, 250] ms.
    let minute = now.duration_trunc(TimeDelta::minutes(1)).unwrap();
    for i in -10..=2 {
        let b = minute + TimeDelta::minutes(i);
        sql.push_str(&format!(
            "insert into http_traffic_minutely (bucket, requests, errors, bytes_out, lat_le_100, lat_le_250)
             values ({}, 100, 2, 1000000, 90, 10);\n",
            ts(b)
        ));
    }
    // Storage: 3,000 bytes in avatars; 5e9 in renders (past int4: the bigint cast matters).
    sql.push_str(
        "insert into storage.buckets (id, name) values ('avatars', 'avatars'), ('renders', 'renders');
         insert into storage.objects (bucket_id, name, metadata) values
           ('avatars', 'a.png', '{\"size\": 1000}'), ('avatars', 'b.png', '{\"size\": 2000}'),
           ('renders', 'big.mp4', '{\"size\": 5000000000}');\n",
    );
    // pg_cron: platform-sync hourly; 4 runs of 90 s in the last day (1 failed).
    sql.push_str("select cron.schedule('platform-sync', '0 * * * *', 'select 1');\n");
    for (i, status) in ["succeeded", "succeeded", "failed", "succeeded"]
        .iter()
        .enumerate()
    {
        let end = now - TimeDelta::hours(4 - i as i64);
        sql.push_str(&format!(
            "insert into cron.job_run_details (jobid, runid, job_pid, database, username, command,
               status, return_message, start_time, end_time)
             select jobid, {runid}, 1, 'postgres', 'postgres', 'select 1', '{status}', '', {start}, {end}
             from cron.job where jobname = 'platform-sync';\n",
            runid = 1000 + i,
            start = ts(end - TimeDelta::seconds(90)),
            end = ts(end),
        ));
    }
    sql
}

/// Every figure of the dataset, exact, on a parsed /metrics (`max_connections`: the server's).
pub fn assert_exact(m: &BTreeMap<String, f64>, now: DateTime<Utc>, max_connections: f64) {
    let v = |k: &str| value(m, k);
    let first_of_month = now.day() == 1;

    // Performance Guard.
    assert_eq!(v(r#"launchguard_tier_info{tier="soft_launch"}"#), 1.0);
    assert_eq!(v(r#"launchguard_tier_usage{resource="clients"}"#), 3.0);
    assert_eq!(v(r#"launchguard_tier_limit{resource="clients"}"#), 5.0);
    assert_eq!(
        v(r#"launchguard_tier_usage{resource="ai_tokens_per_day"}"#),
        3_611_000.0
    );
    assert_eq!(
        v(r#"launchguard_tier_usage{resource="concurrent_jobs"}"#),
        2.0
    );
    assert_eq!(
        v(r#"launchguard_tier_usage{resource="visual_jobs_per_day"}"#),
        35.0
    );
    assert_eq!(
        v(r#"launchguard_tier_usage{resource="api_requests_per_minute"}"#),
        100.0
    );
    assert!((v(r#"launchguard_tier_headroom_ratio{resource="clients"}"#) - 0.4).abs() < 1e-12);

    // Cost Shield: day 11.043456 = 6.60 + 1.30 + 3.00 + 0.02 + 0.123456.
    assert_eq!(
        v(r#"launchguard_cost_usd{provider="anthropic",period="day"}"#),
        6.6
    );
    assert_eq!(
        v(r#"launchguard_cost_usd{provider="openai",period="day"}"#),
        1.3
    );
    assert_eq!(
        v(r#"launchguard_cost_usd{provider="elevenlabs",period="day"}"#),
        3.0
    );
    assert_eq!(
        v(r#"launchguard_cost_usd{provider="perplexity",period="day"}"#),
        0.02
    );
    assert_eq!(
        v(r#"launchguard_cost_usd{provider="openrouter",period="day"}"#),
        0.123456
    );
    let month_openai = if first_of_month { 1.3 } else { 21.3 };
    assert_eq!(
        v(r#"launchguard_cost_usd{provider="openai",period="month"}"#),
        month_openai
    );
    assert_eq!(
        v(r#"launchguard_budget_spent_usd{scope="daily"}"#),
        11.043456
    );
    assert!((v(r#"launchguard_budget_used_ratio{scope="daily"}"#) - 0.22086912).abs() < 1e-12);
    assert_eq!(
        v(r#"launchguard_budget_state{scope="daily",state="ok"}"#),
        1.0
    );
    // Client A spent 6.60 of 5.00: the client scope is exceeded.
    assert_eq!(
        v(r#"launchguard_budget_spent_usd{scope="client_daily"}"#),
        6.6
    );
    assert_eq!(
        v(r#"launchguard_budget_state{scope="client_daily",state="exceeded"}"#),
        1.0
    );
    assert_eq!(
        v(r#"launchguard_client_budget_used_ratio{client="00000000-0000-0000-0000-00000000000a"}"#),
        1.32
    );
    assert_eq!(
        v(
            r#"launchguard_client_cost_usd{client="00000000-0000-0000-0000-00000000000b",period="day"}"#
        ),
        4.3
    );
    // Clients by name (launchguard.clients.name through the client_names migration): one info
    // series per client label, and no other.
    for (id, name) in [("a", "A"), ("b", "B"), ("c", "C")] {
        assert_eq!(
            v(&format!(
                r#"launchguard_client_info{{client="00000000-0000-0000-0000-00000000000{id}",name="{name}"}}"#
            )),
            1.0
        );
    }
    assert_eq!(
        m.keys()
            .filter(|k| k.starts_with("launchguard_client_info{"))
            .count(),
        3,
        "{:?}",
        m.keys()
            .filter(|k| k.contains("client_info"))
            .collect::<Vec<_>>()
    );
    let anth = |ty: &str| {
        v(&format!(
            r#"launchguard_ai_tokens{{provider="anthropic",model="claude-sonnet-4",type="{ty}",period="day"}}"#
        ))
    };
    assert_eq!(
        (
            anth("input"),
            anth("output"),
            anth("cache_read"),
            anth("cache_write")
        ),
        (1_000_000.0, 100_000.0, 2_000_000.0, 400_000.0)
    );
    assert_eq!(
        v(r#"launchguard_ai_requests{provider="anthropic",model="claude-sonnet-4",period="day"}"#),
        5.0
    );
    assert_eq!(
        v(r#"launchguard_ai_characters{provider="elevenlabs",model="eleven_v3",period="day"}"#),
        10_000.0
    );

    // Resource Monitor.
    assert_eq!(v("launchguard_queue_depth"), 65.0);
    assert_eq!(v(r#"launchguard_figure_level{figure="queue_depth"}"#), 1.0);
    assert_eq!(v("launchguard_visual_jobs_failed_last_hour"), 5.0);
    assert_eq!(v("launchguard_visual_job_processing_seconds"), 30.0);
    // 0.4 x min(25/50,1) + 0.3 x min(5/10,1) + 0.3 x min(30/60,1) = 0.5
    assert!((v("launchguard_visual_job_risk_ratio") - 0.5).abs() < 1e-12);
    assert!(
        (v(r#"launchguard_visual_job_risk_component_ratio{component="queue"}"#) - 0.2).abs()
            < 1e-12
    );
    assert!((v(r#"launchguard_api_response_seconds{statistic="p95"}"#) - 0.175).abs() < 1e-9);
    assert_eq!(v("launchguard_api_error_ratio"), 0.02);
    assert_eq!(v(r#"launchguard_figure_level{figure="error_rate"}"#), 1.0);
    assert_eq!(
        v(r#"launchguard_storage_bucket_bytes{bucket="renders"}"#),
        5e9
    );
    assert_eq!(
        v(r#"launchguard_storage_bucket_bytes{bucket="avatars"}"#),
        3000.0
    );
    assert_eq!(
        v(r#"launchguard_storage_bytes{store="objects"}"#),
        5_000_003_000.0
    );
    assert!(v(r#"launchguard_storage_bytes{store="database"}"#) > 1e6);
    let today_minutes = (-10..=2)
        .filter(|i| {
            now.duration_trunc(TimeDelta::minutes(1)).unwrap() + TimeDelta::minutes(*i)
                >= now.duration_trunc(TimeDelta::days(1)).unwrap()
        })
        .count() as f64;
    assert_eq!(
        v(r#"launchguard_bandwidth_bytes{period="day"}"#),
        today_minutes * 1e6
    );
    assert_eq!(
        v(r#"launchguard_cron_load_ratio{cron_job="platform-sync"}"#),
        90.0 / 3600.0
    );
    assert_eq!(
        v(r#"launchguard_cron_schedule_interval_seconds{cron_job="platform-sync"}"#),
        3600.0
    );
    assert_eq!(
        v(r#"launchguard_cron_expected_interval_seconds{cron_job="platform-sync"}"#),
        86_400.0
    );
    assert_eq!(
        v(r#"launchguard_cron_job_failures_last_day{cron_job="platform-sync"}"#),
        1.0
    );
    let last_ok = (now - TimeDelta::hours(1)).timestamp() as f64;
    assert!(
        (v(r#"launchguard_cron_job_last_success_timestamp_seconds{cron_job="platform-sync"}"#)
            - last_ok)
            .abs()
            < 1.0
    );
    assert_eq!(v("launchguard_db_max_connections"), max_connections);
    assert!(v("launchguard_db_connections") >= 1.0);
    for f in [
        "active_clients",
        "usage",
        "jobs",
        "traffic",
        "bandwidth",
        "storage_buckets",
        "database_size",
        "cron_jobs",
        "connections",
        "trials",
        "usage_days",
    ] {
        assert_eq!(
            v(&format!(r#"launchguard_figure_available{{figure="{f}"}}"#)),
            1.0,
            "{f}"
        );
    }
}
