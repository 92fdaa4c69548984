//! Several replicas: two real launchguard processes sharing one real redis-server (started by
//! the test on a free loopback port) and one seeded PostgreSQL; a Redis restart with
//! reservations in flight; `rediss://` with a private CA (needs redis-server, postgresql-15
//! and postgresql-15-cron).

use crate::common::guard_server as gs;
use crate::common::pg;
use crate::common::pki;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gs::{ADMIN_TOKEN, Redis, Server, admit_body, burst, burst_counted, post};

/// A replica; the Redis timeout leaves room for 500 concurrent scripts per replica on a
/// debug build sharing two cores with the other test.
async fn replica(pg: &pg::TestPg, redis: &Redis, dir: &std::path::Path, extra: &str) -> Server {
    let cfg = gs::config(
        dir,
        &format!("  redis_url: ${{REDIS_URL}}\n  redis_timeout: 2s\n{extra}"),
    );
    let url = pg.reader_url();
    let redis_url = redis.url();
    Server::start(
        &cfg,
        &[
            ("SUPABASE_DB_URL", url.as_str()),
            ("LAUNCHGUARD_ADMIN_TOKEN", ADMIN_TOKEN),
            ("LAUNCHGUARD_CALLER_TOKEN", gs::CALLER_TOKEN),
            ("REDIS_URL", redis_url.as_str()),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_one_budget_and_the_kill_switches() {
    let pg = pg::TestPg::start_seeded();
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let a = replica(&pg, &redis, dir.path(), "").await;
    let mut b = replica(&pg, &redis, dir.path(), "").await;

    // 1,000 admits at once, half to each replica: one Lua script checks and reserves, so the
    // documented bound is 0 across replicas too.
    let got = burst(&[&a.base, &b.base], "shared-client", 1000).await;
    let allowed = got.iter().filter(|g| g.1 == "allow").count();
    assert_eq!(
        allowed, 100,
        "admitted {allowed} of a budget with room for 100"
    );
    assert!(
        got.iter()
            .filter(|g| g.1 != "allow")
            .all(|g| g.0 == 429 && g.2 == "budget_client_daily_exceeded"),
        "{got:?}"
    );
    // Both replicas admitted part of it.
    let from_a = got.iter().step_by(2).filter(|g| g.1 == "allow").count();
    assert!(from_a > 0 && from_a < 100, "replica a admitted {from_a}");

    // A settle on one replica releases a reservation made on the other.
    let c = reqwest::Client::new();
    let (st, j, _) = post(&c, &a.url("/api/v1/guard/admit"), admit_body("other")).await;
    assert_eq!(st, 200, "{j}");
    let id = j["reservation_id"].as_str().unwrap();
    let (st, j, _) = post(
        &c,
        &b.url("/api/v1/guard/settle"),
        format!(r#"{{"reservation_id":"{id}"}}"#),
    )
    .await;
    assert_eq!((st, j["settled"].as_bool()), (200, Some(true)), "{j}");

    // A kill switch set on replica a denies on replica b at once.
    let r = c
        .put(a.url("/api/v1/admin/kill-switches/provider/anthropic"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (st, j, _) = post(&c, &b.url("/api/v1/guard/admit"), admit_body("fresh")).await;
    assert_eq!(
        (st, j["reason"].as_str()),
        (429, Some("kill_switch_provider")),
        "{j}"
    );
    // A wrong token on b changes nothing.
    let r = c
        .delete(b.url("/api/v1/admin/kill-switches/provider/anthropic"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // It survives a restart of b (it lives in Redis).
    b.restart().await;
    let (st, j, _) = post(&c, &b.url("/api/v1/guard/admit"), admit_body("fresh")).await;
    assert_eq!(
        (st, j["reason"].as_str()),
        (429, Some("kill_switch_provider")),
        "{j}"
    );
    assert_eq!(
        b.metric(r#"launchguard_guard_kill_switch{scope="provider",target="anthropic"}"#)
            .await,
        Some(1.0)
    );
    let r = c
        .delete(b.url("/api/v1/admin/kill-switches/provider/anthropic"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (st, _, _) = post(&c, &b.url("/api/v1/guard/admit"), admit_body("fresh")).await;
    assert_eq!(st, 200);

    // The founder's milestone approval lives in Redis too: given on a, read on b, withdrawn
    // on b, gone on a.
    let approval = |s: &Server| s.url("/api/v1/admin/milestone/growth/approval");
    let r = c
        .put(approval(&a))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"note": "go"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let approvals = |s: &Server| {
        let (c, url) = (c.clone(), s.url("/api/v1/admin/state"));
        async move {
            let j: serde_json::Value = c
                .get(url)
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            j["approvals"].clone()
        }
    };
    let until = Instant::now() + Duration::from_secs(10);
    while approvals(&b).await["growth"]["note"] != "go" {
        assert!(Instant::now() < until, "b never saw a's approval");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = c
        .delete(approval(&b))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let until = Instant::now() + Duration::from_secs(10);
    while !approvals(&a).await["growth"].is_null() {
        assert!(
            Instant::now() < until,
            "a still holds the withdrawn approval"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_holds_the_fail_mode_and_recovers() {
    let pg = pg::TestPg::start_seeded();
    let mut redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let closed = replica(&pg, &redis, dir.path(), "  fail_mode: closed\n").await;
    let open = replica(&pg, &redis, dir.path(), "  fail_mode: open\n").await;
    let c = reqwest::Client::new();
    for s in [&closed, &open] {
        let (st, j, _) = post(&c, &s.url("/api/v1/guard/admit"), admit_body("x")).await;
        assert_eq!(st, 200, "{j}");
    }

    redis.stop();
    let (st, j, retry) = post(&c, &closed.url("/api/v1/guard/admit"), admit_body("x")).await;
    assert_eq!(
        (st, j["decision"].as_str(), j["reason"].as_str()),
        (429, Some("deny"), Some("store_unavailable")),
        "{j}"
    );
    assert_eq!(retry.as_deref(), Some("5"));
    let (st, j, _) = post(&c, &open.url("/api/v1/guard/admit"), admit_body("x")).await;
    assert_eq!(
        (st, j["decision"].as_str(), j["reason"].as_str()),
        (200, Some("allow"), Some("fail_open_store_unavailable")),
        "{j}"
    );
    assert!(j["reservation_id"].is_null(), "{j}");
    // Settles cannot reach Redis either: 503, and the reservation expires by itself.
    let (st, j, _) = post(
        &c,
        &closed.url("/api/v1/guard/settle"),
        r#"{"reservation_id":"abc"}"#,
    )
    .await;
    assert_eq!(
        (st, j["error"].as_str()),
        (503, Some("store_unavailable")),
        "{j}"
    );
    // Scrapes keep working and say the store is down.
    assert_eq!(
        closed
            .metric(r#"launchguard_guard_store_up{store="redis"}"#)
            .await,
        Some(0.0)
    );

    redis.start_again();
    // Each replica reconnects on its own schedule: wait for each, not just the first.
    for (s, fail_mode_answer) in [
        (&closed, (429, "store_unavailable")),
        (&open, (200, "fail_open_store_unavailable")),
    ] {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let (st, j, _) = post(&c, &s.url("/api/v1/guard/admit"), admit_body("x")).await;
            if st == 200 && j["reason"] == "ok" {
                assert!(j["reservation_id"].is_string(), "{j}");
                break;
            }
            // Until then each answers by its fail mode, never anything else.
            assert_eq!(
                (st, j["reason"].as_str().unwrap_or("")),
                fail_mode_answer,
                "{j}"
            );
            assert!(Instant::now() < until, "no recovery: {j}\n{}", s.log_text());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let log = closed.log_text();
    assert!(log.contains("reservation store down"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

/// The Lua scripts negated amounts with `-tonumber(x)`: for 0 that is `-0`, which HINCRBY
/// refuses after HDEL and ZREM already ran. With the default `job_usd: 0` every job and visual
/// settle answered 503 and `concurrent_jobs` filled up. Now they book and release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_visual_and_zero_cost_settles_book_and_release() {
    let pg = pg::TestPg::start_seeded();
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    // One collection (at start), so jobs admitted since count for the whole test: the seeded
    // jobs table never learns of them.
    let cfg = gs::config(
        dir.path(),
        "  redis_url: ${REDIS_URL}\n  redis_timeout: 2s\n  reservation_ttl: 2s\n  snapshot_max_age: 10m\n",
    );
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("interval: 1s", "interval: 5m");
    std::fs::write(&cfg, text).unwrap();
    let (url, redis_url) = (pg.reader_url(), redis.url());
    let s = Server::start(
        &cfg,
        &[
            ("SUPABASE_DB_URL", url.as_str()),
            ("LAUNCHGUARD_CALLER_TOKEN", gs::CALLER_TOKEN),
            ("REDIS_URL", redis_url.as_str()),
        ],
    )
    .await;
    let c = reqwest::Client::new();
    let admit = s.url("/api/v1/guard/admit");
    let settle = s.url("/api/v1/guard/settle");
    let job = |kind: &str| format!(r#"{{"client_id":"j","kind":"{kind}"}}"#);

    // Growth allows 25 concurrent jobs; the seed runs 4: 21 fit, the next one waits.
    let mut ids = Vec::new();
    for i in 0..21 {
        let kind = if i % 3 == 0 { "visual" } else { "job" };
        let (st, j, _) = post(&c, &admit, job(kind)).await;
        assert_eq!(
            (st, j["estimated_cost_usd"].as_str()),
            (200, Some("0")),
            "{i}: {j}"
        );
        ids.push(j["reservation_id"].as_str().unwrap().to_string());
    }
    let (st, j, _) = post(&c, &admit, job("job")).await;
    assert_eq!(
        (st, j["reason"].as_str()),
        (429, Some("tier_concurrent_jobs")),
        "{j}"
    );
    // Each zero-cost settle books the job as done.
    for id in &ids {
        let (st, j, _) = post(&c, &settle, format!(r#"{{"reservation_id":"{id}"}}"#)).await;
        assert_eq!((st, j["settled"].as_bool()), (200, Some(true)), "{j}");
    }
    // The slots are free again.
    for i in 0..21 {
        let (st, j, _) = post(&c, &admit, job("job")).await;
        assert_eq!(st, 200, "{i}: {j}");
    }
    // Unsettled, they expire (reservation_ttl 2s): the sweep books them as done too.
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let (st, j, _) = post(&c, &admit, job("job")).await;
        if st == 200 {
            break;
        }
        assert_eq!(j["reason"].as_str(), Some("tier_concurrent_jobs"), "{j}");
        assert!(
            Instant::now() < until,
            "expiry never freed a slot\n{}",
            s.log_text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // A zero-cost AI call holds nothing.
    let (st, j, _) = post(
        &c,
        &admit,
        r#"{"client_id":"z","kind":"ai","provider":"anthropic","estimate":{"cost_usd":0,"input_tokens":0,"output_tokens":0}}"#,
    )
    .await;
    assert_eq!((st, j["reservation_id"].is_null()), (200, true), "{j}");
    // Absurd usage is refused before the store: 400, never a half-done script.
    let (st, j, _) = post(&c, &admit, admit_body("z")).await;
    assert_eq!(st, 200, "{j}");
    let id = j["reservation_id"].as_str().unwrap();
    let (st, j, _) = post(
        &c,
        &settle,
        format!(r#"{{"reservation_id":"{id}","usage":{{"characters":9000000000000000000}}}}"#),
    )
    .await;
    assert_eq!(st, 400, "{j}");
    let (st, _, _) = post(&c, &settle, format!(r#"{{"reservation_id":"{id}"}}"#)).await;
    assert_eq!(st, 200);
    assert_eq!(
        s.metric(r#"launchguard_guard_store_up{store="redis"}"#)
            .await,
        Some(1.0)
    );
    let log = s.log_text();
    assert!(!log.contains("reservation store down"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

/// Reservation ids of `client` in Redis (`{launchguard}:res`).
fn held_by(con: &mut redis::Connection, client: &str) -> BTreeSet<String> {
    let res: BTreeMap<String, String> = redis::cmd("HGETALL")
        .arg("{launchguard}:res")
        .query(con)
        .unwrap();
    res.into_iter()
        .filter(|(_, rec)| rec.split('|').next() == Some(client))
        .map(|(id, _)| id)
        .collect()
}

/// Sum of a per-second bucket hash.
fn bucket_sum(con: &mut redis::Connection, key: &str) -> i64 {
    let b: BTreeMap<String, i64> = redis::cmd("HGETALL").arg(key).query(con).unwrap();
    b.values().sum()
}

/// A single redis-server (append-only file, synced before each reply) is killed and started
/// again while 300 admits for one client are in flight. Every reservation a caller was given
/// is still there and settles exactly once; those that ran but whose answer died with the
/// server are held for nobody and released at their TTL; then the client's room is exactly
/// its budget minus what was settled and what expired, so nothing was counted twice and
/// nothing outlived its TTL.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_restart_with_reservations_in_flight_counts_each_once() {
    let pg = pg::TestPg::start_seeded();
    let mut redis = Redis::start_persistent();
    let dir = tempfile::tempdir().unwrap();
    // One collection, at start: everything settled or expired since counts for the whole test.
    let cfg = gs::config(
        dir.path(),
        "  redis_url: ${REDIS_URL}\n  redis_timeout: 2s\n  reservation_ttl: 6s\n  snapshot_max_age: 10m\n",
    );
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("interval: 1s", "interval: 5m");
    std::fs::write(&cfg, text).unwrap();
    let (url, redis_url) = (pg.reader_url(), redis.url());
    let s = Server::start(
        &cfg,
        &[
            ("SUPABASE_DB_URL", url.as_str()),
            ("LAUNCHGUARD_CALLER_TOKEN", gs::CALLER_TOKEN),
            ("REDIS_URL", redis_url.as_str()),
        ],
    )
    .await;
    let c = reqwest::Client::new();

    let done = Arc::new(AtomicUsize::new(0));
    let run = {
        let (base, done) = (s.base.clone(), done.clone());
        tokio::spawn(async move { burst_counted(&[&base], "inflight", 300, done).await })
    };
    let until = Instant::now() + Duration::from_secs(60);
    while done.load(Ordering::SeqCst) < 1 {
        assert!(Instant::now() < until, "the burst never got going");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::task::block_in_place(|| {
        redis.stop();
        redis.start_again();
    });
    let got = run.await.unwrap();
    for g in &got {
        let fine = (g.status == 200 && g.decision == "allow")
            || (g.status == 429 && g.reason == "budget_client_daily_exceeded")
            || (g.status == 429 && g.reason == "store_unavailable");
        assert!(fine, "{g:?}");
    }
    let granted: BTreeSet<String> = got
        .iter()
        .filter_map(|g| g.reservation_id.clone())
        .collect();
    // Back by itself.
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let (st, j, _) = post(&c, &s.url("/api/v1/guard/admit"), admit_body("probe")).await;
        if st == 200 {
            break;
        }
        assert_eq!(j["reason"], "store_unavailable", "{j}");
        assert!(Instant::now() < until, "no recovery\n{}", s.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut con = redis.connection();
    let held = held_by(&mut con, "inflight");
    assert!(
        granted.is_subset(&held),
        "a reservation a caller holds was lost with the restart"
    );
    let orphaned = held.len() - granted.len();
    eprintln!(
        "restart: {} granted, {orphaned} held for nobody, {} store_unavailable",
        granted.len(),
        got.iter()
            .filter(|g| g.reason == "store_unavailable")
            .count()
    );

    // Each granted reservation settles once, for half its estimate; a second settle finds
    // nothing.
    let half = |id: &str| {
        format!(r#"{{"reservation_id":"{id}","usage":{{"input_tokens":500,"output_tokens":0}}}}"#)
    };
    for id in &granted {
        let (st, j, _) = post(&c, &s.url("/api/v1/guard/settle"), half(id)).await;
        assert_eq!((st, j["settled"].as_bool()), (200, Some(true)), "{j}");
        let (st, j, _) = post(&c, &s.url("/api/v1/guard/settle"), half(id)).await;
        assert_eq!(
            (st, j["error"].as_str()),
            (404, Some("unknown_reservation")),
            "{j}"
        );
    }
    let out = |con: &mut redis::Connection, f: &str| -> Option<i64> {
        redis::cmd("HGET")
            .arg("{launchguard}:out")
            .arg(f)
            .query(con)
            .unwrap()
    };
    let estimate = 3_000_000i64; // $0.003 in nano-dollars
    assert_eq!(
        out(&mut con, "c:inflight").unwrap_or(0),
        orphaned as i64 * estimate
    );
    assert_eq!(
        bucket_sum(&mut con, "{launchguard}:b:cc:inflight"),
        granted.len() as i64 * estimate / 2
    );

    // The orphans expire with their TTL (6 s) and count at their estimate, like any
    // reservation never settled; nothing stays held.
    let until = Instant::now() + Duration::from_secs(20);
    while !held_by(&mut con, "inflight").is_empty() {
        assert!(Instant::now() < until, "reservations outlived their TTL");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(out(&mut con, "c:inflight"), None);
    let spent = granted.len() as i64 * estimate / 2 + orphaned as i64 * estimate;
    assert_eq!(bucket_sum(&mut con, "{launchguard}:b:cc:inflight"), spent);

    // The client's room is exactly what is left: nothing double-counted, nothing leaked.
    let room = (300_000_000 - spent) / estimate;
    let done = Arc::new(AtomicUsize::new(0));
    let again = burst_counted(&[&s.base], "inflight", 300, done).await;
    assert_eq!(
        again.iter().filter(|g| g.decision == "allow").count() as i64,
        room,
        "{again:?}"
    );
    let log = s.log_text();
    assert!(!log.contains("panicked"), "{log}");
}

/// `rediss://` to a redis-server that serves TLS only, with a certificate from a private CA
/// (made here with rcgen): trusted through `guard.redis_ca_file`, refused without it (the
/// public web roots do not know the CA), and the error says why without the URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_private_ca() {
    let pg = pg::TestPg::start_seeded();
    let dir = tempfile::tempdir().unwrap();
    let ca = pki::ca("launchguard test redis CA");
    let (cert, key) = pki::leaf(&ca, &["127.0.0.1"]);
    let (cert_file, key_file, ca_file) = (
        dir.path().join("redis.crt"),
        dir.path().join("redis.key"),
        dir.path().join("ca.pem"),
    );
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, key).unwrap();
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let redis = Redis::start_tls(&cert_file, &key_file);
    assert!(redis.url().starts_with("rediss://"));

    let start = |extra: String| {
        let cfg = gs::config(
            dir.path(),
            &format!("  redis_url: ${{REDIS_URL}}\n  redis_timeout: 2s\n{extra}"),
        );
        let (url, redis_url) = (pg.reader_url(), redis.url());
        async move {
            Server::start(
                &cfg,
                &[
                    ("SUPABASE_DB_URL", url.as_str()),
                    ("LAUNCHGUARD_CALLER_TOKEN", gs::CALLER_TOKEN),
                    ("REDIS_URL", redis_url.as_str()),
                ],
            )
            .await
        }
    };
    let c = reqwest::Client::new();
    let trusted = start(format!("  redis_ca_file: {}\n", ca_file.display())).await;
    let (st, j, _) = post(&c, &trusted.url("/api/v1/guard/admit"), admit_body("tls")).await;
    assert_eq!((st, j["reason"].as_str()), (200, Some("ok")), "{j}");
    let id = j["reservation_id"].as_str().unwrap();
    let (st, j, _) = post(
        &c,
        &trusted.url("/api/v1/guard/settle"),
        format!(r#"{{"reservation_id":"{id}"}}"#),
    )
    .await;
    assert_eq!((st, j["settled"].as_bool()), (200, Some(true)), "{j}");

    let untrusted = start(String::new()).await;
    let (st, j, _) = post(&c, &untrusted.url("/api/v1/guard/admit"), admit_body("tls")).await;
    assert_eq!(
        (st, j["reason"].as_str()),
        (429, Some("store_unavailable")),
        "{j}"
    );
    let log = untrusted.log_text();
    assert!(log.contains("reservation store down"), "{log}");
    assert!(log.to_lowercase().contains("certificate"), "{log}");
    assert!(!log.contains(&redis.url()), "{log}");
}
