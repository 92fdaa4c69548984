//! Benchmark, not a CI test (`#[ignore]`; run by scripts/bench-collect-load.sh): the database
//! load of one `launchguard serve` against two, both collecting, on a real seeded PostgreSQL 15
//! with pg_stat_statements. Each phase starts its replicas, waits for their first collection,
//! resets the statistics, and counts for a fixed window the statements the reader role ran,
//! their execution time and the reader's connections. Prints queries/min at the measured
//! interval and per collection cycle, so the default 30 s interval's figure follows.
//!
//!   LOAD_INTERVAL_SECS (default 2) collection interval, LOAD_WINDOW_SECS (default 60) window.

use crate::common::guard_server as gs;
use crate::common::pg;

use std::time::Duration;

fn env_secs(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}={v}: seconds")))
        .unwrap_or(default)
}

struct Load {
    calls: f64,
    /// Collection cycles in the window: each runs the active-clients query once.
    cycles: f64,
    exec_ms: f64,
    connections: f64,
    per_query: String,
}

async fn window(db: &tokio_postgres::Client, secs: u64) -> Load {
    db.execute("select pg_stat_statements_reset()", &[])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let row = db
        .query_one(
            "select coalesce(sum(calls), 0)::float8, coalesce(sum(total_exec_time), 0)::float8 \
             from pg_stat_statements where userid = 'launchguard_reader'::regrole",
            &[],
        )
        .await
        .unwrap();
    let conns = db
        .query_one(
            "select count(*)::float8 from pg_stat_activity where usename = 'launchguard_reader'",
            &[],
        )
        .await
        .unwrap();
    let cycles = db
        .query_one(
            "select coalesce(sum(calls), 0)::float8 from pg_stat_statements \
             where userid = 'launchguard_reader'::regrole and query ~ 'as active\\s+from launchguard\\.clients'",
            &[],
        )
        .await
        .unwrap();
    let per_query = db
        .query(
            "select calls, left(regexp_replace(query, '\\s+', ' ', 'g'), 60) \
             from pg_stat_statements where userid = 'launchguard_reader'::regrole \
             order by calls desc, query",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| format!("    {:>5}  {}", r.get::<_, i64>(0), r.get::<_, String>(1)))
        .collect::<Vec<_>>()
        .join("\n");
    Load {
        calls: row.get(0),
        cycles: cycles.get(0),
        exec_ms: row.get(1),
        connections: conns.get(0),
        per_query,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: scripts/bench-collect-load.sh"]
async fn database_load_of_one_and_two_collecting_replicas() {
    let interval = env_secs("LOAD_INTERVAL_SECS", 2);
    let secs = env_secs("LOAD_WINDOW_SECS", 60);
    let pg = pg::TestPg::start_with(pg::PgOptions {
        seed: true,
        stat_statements: true,
        ..pg::PgOptions::default()
    });
    let db = pg.connect_superuser().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("launchguard.yaml");
    std::fs::write(
        &cfg,
        format!(
            "tier: growth\ndatabase:\n  url: ${{SUPABASE_DB_URL}}\n  interval: {interval}s\n\
             guard:\n  state_file: {}\n",
            dir.path().join("state.json").display()
        ),
    )
    .unwrap();
    let url = pg.reader_url();
    let env = [("SUPABASE_DB_URL", url.as_str())];

    let mut results = Vec::new();
    for replicas in [1usize, 2] {
        let mut servers = Vec::new();
        for _ in 0..replicas {
            servers.push(gs::Server::start(&cfg, &env).await);
        }
        let load = window(&db, secs).await;
        let per_min = load.calls * 60.0 / secs as f64;
        let cycles = load.cycles.max(1.0);
        println!(
            "{replicas} replica(s), interval {interval}s, window {secs}s: {:.0} statements \
             ({per_min:.1}/min, {:.0} collections, {:.1} statements each), {:.1} ms execution ({:.1} ms/min), \
             {} reader connections\n{}",
            load.calls,
            load.cycles,
            load.calls / cycles,
            load.exec_ms,
            load.exec_ms * 60.0 / secs as f64,
            load.connections,
            load.per_query
        );
        results.push((per_min, load.calls / cycles, load));
        drop(servers);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (one, two) = (&results[0], &results[1]);
    let ratio = two.0 / one.0;
    println!(
        "two/one: {ratio:.2}x statements, {:.2}x execution time; at the default 30 s \
         interval: {:.0}/min with one replica, {:.0}/min with two",
        two.2.exec_ms / one.2.exec_ms,
        one.1 * 2.0,
        two.1 * 2.0 * 2.0
    );
    assert!(one.0 > 0.0, "the replica ran no statement");
    // Both collect: each replica runs the same cycle, so the load doubles (within one cycle
    // of each replica at the window's edges).
    let slack = 2.0 * interval as f64 / secs as f64 + 0.05;
    assert!(
        (ratio - 2.0).abs() <= 2.0 * slack,
        "two replicas ran {ratio:.2}x the statements of one"
    );
}
