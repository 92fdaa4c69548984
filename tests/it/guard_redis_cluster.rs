//! The guard on a Redis Cluster, as the growth tier runs it: six real `redis-server` nodes on
//! loopback (three masters with a replica each, tests/it/common/redis_cluster.rs), two real
//! launchguard processes with `guard.redis_cluster: true`, and one seeded PostgreSQL. Proves
//! exact admission through both replicas, what a master crash in the middle of 1,000 admits
//! costs (at most the reservations the dead master acknowledged and never replicated, counted
//! here one by one), that fail-closed replicas deny with `store_unavailable` during the election
//! and recover by themselves, that the founder's switches and overrides survive, and that
//! both replicas answer and export alike. Needs redis-server, redis-cli, postgresql-15 and
//! postgresql-15-cron.

use crate::common::guard_server as gs;
use crate::common::pg;
use crate::common::redis_cluster;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gs::{ADMIN_TOKEN, Answer, Server, admit_body, burst_counted, post};
use redis_cluster::RedisCluster;

/// The guard's keys all carry this hash tag (`guard.redis_prefix`), so one slot holds them.
const TAG: &str = "{launchguard}";

/// One test at a time: each runs six Redis nodes, two launchguards and a PostgreSQL on a
/// shared machine, and the failover test must not share the cores with another burst.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A replica on the cluster. The Redis timeout leaves room for 500 concurrent scripts per
/// replica on a debug build.
async fn replica(pg: &pg::TestPg, cluster: &RedisCluster, dir: &std::path::Path) -> Server {
    let cfg = gs::config(
        dir,
        "  redis_url: ${REDIS_URL}\n  redis_cluster: true\n  redis_timeout: 2s\n",
    );
    let url = pg.reader_url();
    let seeds = cluster.urls().join(",");
    Server::start(
        &cfg,
        &[
            ("SUPABASE_DB_URL", url.as_str()),
            ("LAUNCHGUARD_ADMIN_TOKEN", ADMIN_TOKEN),
            ("LAUNCHGUARD_CALLER_TOKEN", gs::CALLER_TOKEN),
            ("REDIS_URL", seeds.as_str()),
        ],
    )
    .await
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn allowed_ids(got: &[Answer]) -> BTreeSet<String> {
    got.iter()
        .filter(|a| a.decision == "allow")
        .map(|a| {
            a.reservation_id
                .clone()
                .expect("an allow holds a reservation")
        })
        .collect()
}

/// Reservation ids of `client` that the node on `port` holds (`{launchguard}:res`, records
/// `client|kind|cost|tokens|provider|model`).
fn held_by(cluster: &RedisCluster, port: u16, client: &str) -> BTreeSet<String> {
    let res: BTreeMap<String, String> = cluster
        .query(port, &["HGETALL", &format!("{TAG}:res")])
        .unwrap();
    res.into_iter()
        .filter(|(_, rec)| rec.split('|').next() == Some(client))
        .map(|(id, _)| id)
        .collect()
}

async fn admin(c: &reqwest::Client, method: reqwest::Method, url: String, body: &str) -> u16 {
    let r = c
        .request(method, url)
        .bearer_auth(ADMIN_TOKEN)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    assert_eq!(status, 200, "{}", r.text().await.unwrap());
    status
}

/// Admits a fresh client on each replica every 100 ms until each answers `ok`; until then each
/// must answer `store_unavailable` (fail closed), nothing else. Returns how many did, and
/// when each replica recovered (from `since`).
async fn until_recovered(servers: &[&Server], since: Instant) -> (usize, Vec<Duration>) {
    let c = reqwest::Client::new();
    let mut unavailable = 0;
    let mut recovered: Vec<Option<Duration>> = vec![None; servers.len()];
    let mut probe = 0;
    while recovered.iter().any(Option::is_none) {
        for (i, s) in servers.iter().enumerate() {
            if recovered[i].is_some() {
                continue;
            }
            probe += 1;
            let (st, j, _) = post(
                &c,
                &s.url("/api/v1/guard/admit"),
                admit_body(&format!("probe-{probe}")),
            )
            .await;
            match (st, j["reason"].as_str().unwrap()) {
                (200, "ok") => recovered[i] = Some(since.elapsed()),
                (429, "store_unavailable") => unavailable += 1,
                other => panic!("during the election: {other:?} {j}"),
            }
        }
        assert!(
            since.elapsed() < Duration::from_secs(60),
            "no recovery within 60 s:\n{}",
            servers
                .iter()
                .map(|s| s.log_text())
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (unavailable, recovered.into_iter().flatten().collect())
}

/// The master that serves the guard's slot, its replica, and the slots it serves.
fn guard_slot(cluster: &RedisCluster) -> (usize, usize, Vec<(u16, u16)>) {
    let slot = cluster.slot(&format!("{TAG}:res"));
    let master = cluster.owner(slot);
    let standby = cluster
        .replica_of(master)
        .expect("the master has a replica");
    let slots = cluster
        .topology(standby)
        .into_iter()
        .find(|n| n.port == cluster.port(master))
        .unwrap()
        .slots;
    (master, standby, slots)
}

/// What a failover did to one client's reservations.
#[derive(Debug)]
struct Account {
    /// Granted by the old master before the crash.
    granted_before: usize,
    /// Granted by the new master while the budget filled again.
    granted_after: usize,
    /// Granted before, and not on the new master: acknowledged, never replicated.
    lost: usize,
    /// On the new master, and granted to nobody: scripts whose answer died with the old
    /// master (their callers were told store_unavailable). They only deny, until their TTL.
    orphaned: usize,
}

/// After a failover: compares what the new master (on `port`) holds of `client` with what
/// the replicas granted before (`granted`), then fills the client's budget again through both
/// replicas. The new master counts exactly what it holds, so 100 + lost = admitted + orphaned,
/// and the documented bound, admitted <= 100 + lost, holds.
async fn refill(
    cluster: &RedisCluster,
    port: u16,
    servers: &[&str],
    client: &str,
    granted: &BTreeSet<String>,
) -> Account {
    let held = blocking(|| held_by(cluster, port, client));
    let lost = granted.difference(&held).count();
    let orphaned = held.difference(granted).count();
    let none = Arc::new(AtomicUsize::new(0));
    let again = burst_counted(servers, client, 1000, none).await;
    assert!(
        again
            .iter()
            .all(|g| (g.status == 200 && g.decision == "allow")
                || (g.status == 429 && g.reason == "budget_client_daily_exceeded")),
        "after recovery every admit is decided by the budget: {again:?}"
    );
    let granted_after = allowed_ids(&again);
    let admitted = granted.len() + granted_after.len();
    assert!(
        admitted <= 100 + lost,
        "admitted {admitted}: past the bound 100 + {lost} lost"
    );
    assert_eq!(
        admitted + orphaned,
        100 + lost,
        "the new master holds exactly the room: what it kept and what it admitted since"
    );
    let held_now = blocking(|| held_by(cluster, port, client));
    assert_eq!(held_now.len(), 100);
    assert!(granted_after.is_subset(&held_now));
    Account {
        granted_before: granted.len(),
        granted_after: granted_after.len(),
        lost,
        orphaned,
    }
}

/// Whether a replica replaced a stuck cluster connection (`RedisStore::failed`).
fn replaced_connection(s: &Server) -> bool {
    s.log_text()
        .contains("opening a new one from the seed nodes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_master_dies_in_the_middle_of_a_burst() {
    let _one = SERIAL.lock().await;
    let pg = pg::TestPg::start_seeded();
    let mut cluster = blocking(RedisCluster::start);
    let dir = tempfile::tempdir().unwrap();
    let a = replica(&pg, &cluster, dir.path()).await;
    let b = replica(&pg, &cluster, dir.path()).await;
    let servers = [a.base.as_str(), b.base.as_str()];
    let c = reqwest::Client::new();

    // Exact admission: 1,000 admits at once, half to each replica, against room for 100.
    let none = Arc::new(AtomicUsize::new(0));
    let got = burst_counted(&servers, "shared-client", 1000, none).await;
    let allowed = allowed_ids(&got);
    assert_eq!(
        allowed.len(),
        100,
        "admitted {} of room for 100",
        allowed.len()
    );
    assert!(
        got.iter()
            .filter(|g| g.decision != "allow")
            .all(|g| g.status == 429 && g.reason == "budget_client_daily_exceeded"),
        "{got:?}"
    );
    let from_a = got
        .iter()
        .step_by(2)
        .filter(|g| g.decision == "allow")
        .count();
    assert!(from_a > 0 && from_a < 100, "replica a admitted {from_a}");

    // The founder's changes, made just before the crash: each answers once a replica of the
    // slot's master holds it (WAIT), so the failover cannot lose it.
    admin(
        &c,
        reqwest::Method::PUT,
        a.url("/api/v1/admin/kill-switches/client/blocked"),
        r#"{"note":"fraud"}"#,
    )
    .await;
    admin(
        &c,
        reqwest::Method::PUT,
        b.url("/api/v1/admin/budgets/client_daily/vip"),
        r#"{"budget_usd": 0.6}"#,
    )
    .await;

    let (master, standby, slots) = blocking(|| guard_slot(&cluster));

    // 1,000 admits for one client through both replicas; the master dies at the first answer.
    let done = Arc::new(AtomicUsize::new(0));
    let run = {
        let (servers, done) = ([a.base.clone(), b.base.clone()], done.clone());
        tokio::spawn(async move {
            let s = [servers[0].as_str(), servers[1].as_str()];
            burst_counted(&s, "failover", 1000, done).await
        })
    };
    let until = Instant::now() + Duration::from_secs(60);
    while done.load(Ordering::SeqCst) < 1 {
        assert!(Instant::now() < until, "the burst never got going");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    blocking(|| cluster.kill(master));
    let answered_before_kill = done.load(Ordering::SeqCst);
    let killed_at = Instant::now();
    assert!(
        answered_before_kill < 1000,
        "the burst ended before the crash"
    );
    let first = run.await.unwrap();

    // Every answer is a verdict: allowed, refused by the budget, or denied because the store
    // could not answer (fail closed), never an error.
    for g in &first {
        let fine = (g.status == 200 && g.decision == "allow")
            || (g.status == 429 && g.reason == "budget_client_daily_exceeded")
            || (g.status == 429 && g.decision == "deny" && g.reason == "store_unavailable");
        assert!(fine, "{g:?}");
    }
    let mut unavailable = first
        .iter()
        .filter(|g| g.reason == "store_unavailable")
        .count();

    // During the election each replica denies with store_unavailable; each recovers by
    // itself (same processes, no restart) once the replica is promoted.
    let (during, recovered) = until_recovered(&[&a, &b], killed_at).await;
    unavailable += during;
    assert!(
        unavailable > 0,
        "no admit was denied while the slot had no master"
    );
    let promoted = blocking(|| cluster.wait_failover(master, &slots));
    assert_eq!(promoted, standby, "the dead master's replica took over");

    let port = cluster.port(promoted);
    let account = refill(&cluster, port, &servers, "failover", &allowed_ids(&first)).await;
    eprintln!(
        "failover: {answered_before_kill} answered before the kill; {account:?}; store_unavailable {unavailable}; recovered after {recovered:?}; stuck cluster connection replaced: {} {}",
        replaced_connection(&a),
        replaced_connection(&b),
    );

    // The founder's switches and overrides survived on the new master, on both replicas.
    for s in [&a, &b] {
        let (st, j, _) = post(&c, &s.url("/api/v1/guard/admit"), admit_body("blocked")).await;
        assert_eq!(
            (st, j["reason"].as_str()),
            (429, Some("kill_switch_client")),
            "{j}"
        );
        // A replica's view of the switches is re-read from Redis every tick, and a tick cut
        // short by the election leaves it as it was until the next one that gets through.
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let state: serde_json::Value = c
                .get(s.url("/api/v1/admin/state"))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if state["kill_switches"]["client:blocked"].is_object()
                && state["budget_overrides"]["client_daily:vip"].is_object()
            {
                break;
            }
            assert!(Instant::now() < until, "{state}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let kill: BTreeMap<String, String> = blocking(|| {
        cluster
            .query(port, &["HGETALL", &format!("{TAG}:kill")])
            .unwrap()
    });
    assert!(kill.contains_key("client:blocked"), "{kill:?}");
    // The override still raises vip's room to $0.60: exactly 200 admits of $0.003.
    let none = Arc::new(AtomicUsize::new(0));
    let vip = burst_counted(&servers, "vip", 400, none).await;
    assert_eq!(allowed_ids(&vip).len(), 200);

    // Both replicas said the store was down and that it recovered; neither restarted.
    for s in [&a, &b] {
        let log = s.log_text();
        assert!(log.contains("reservation store down"), "{log}");
        assert!(log.contains("reservation store recovered"), "{log}");
        assert!(!log.contains("panicked"), "{log}");
        assert_eq!(s.log_text().matches("guard ready").count(), 1, "{log}");
    }

    // The old master rejoins as the new master's replica and the cluster checks clean.
    blocking(|| {
        cluster.restart(master);
        cluster.wait_until("the old master follows the new one", |c| {
            c.replica_of(promoted) == Some(master)
        });
        cluster
            .check()
            .unwrap_or_else(|e| panic!("redis-cli --cluster check after the failover:\n{e}"));
    });
}

/// The loss the bound speaks of, made certain: the master's replica is stopped (SIGSTOP) and
/// its replication link dropped, so it receives nothing more; the budget fills on the master, the master dies, the replica
/// resumes and is promoted without any of it. Every reservation of the burst is lost, and the
/// client is admitted again: overshoot = lost, exactly the documented bound. A founder's change
/// made while the replica was stopped is refused (503: no replica acknowledged it) and is
/// indeed gone after the failover; one made before survives.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn what_the_replica_never_received_is_the_overshoot() {
    let _one = SERIAL.lock().await;
    let pg = pg::TestPg::start_seeded();
    let mut cluster = blocking(RedisCluster::start);
    let dir = tempfile::tempdir().unwrap();
    let a = replica(&pg, &cluster, dir.path()).await;
    let b = replica(&pg, &cluster, dir.path()).await;
    let servers = [a.base.as_str(), b.base.as_str()];
    let c = reqwest::Client::new();
    admin(
        &c,
        reqwest::Method::PUT,
        a.url("/api/v1/admin/kill-switches/client/kept"),
        "",
    )
    .await;

    let (master, standby, slots) = blocking(|| guard_slot(&cluster));
    blocking(|| {
        cluster.pause(standby);
        // The master drops its replication link too: what it already sent may sit in the
        // stopped replica's socket, nothing after this does.
        let dropped: i64 = cluster
            .query(cluster.port(master), &["CLIENT", "KILL", "TYPE", "replica"])
            .unwrap();
        assert_eq!(dropped, 1);
    });
    let r = c
        .put(b.url("/api/v1/admin/kill-switches/client/unconfirmed"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let j: serde_json::Value = r.json().await.unwrap();
    assert_eq!(j["error"], "not_persisted", "{j}");
    assert!(
        j["reason"]
            .as_str()
            .unwrap()
            .contains("0 of the 1 replicas"),
        "{j}"
    );

    // The master alone admits exactly the room.
    let none = Arc::new(AtomicUsize::new(0));
    let first = burst_counted(&servers, "lagging", 1000, none).await;
    let granted = allowed_ids(&first);
    assert_eq!(granted.len(), 100);

    blocking(|| {
        cluster.kill(master);
        cluster.resume(standby);
    });
    let killed_at = Instant::now();
    let (unavailable, recovered) = until_recovered(&[&a, &b], killed_at).await;
    assert!(unavailable > 0);
    let promoted = blocking(|| cluster.wait_failover(master, &slots));
    assert_eq!(promoted, standby);

    let port = cluster.port(promoted);
    let account = refill(&cluster, port, &servers, "lagging", &granted).await;
    eprintln!("lagging replica: {account:?}; recovered after {recovered:?}");
    assert_eq!(
        account.lost, 100,
        "the stopped replica received none of them"
    );
    assert_eq!(account.orphaned, 0);
    assert_eq!(account.granted_after, 100, "overshoot = lost");
    assert_eq!(account.granted_before, 100);

    // The acknowledged switch survived; the refused one is gone, as its 503 warned.
    let kill: BTreeMap<String, String> = blocking(|| {
        cluster
            .query(port, &["HGETALL", &format!("{TAG}:kill")])
            .unwrap()
    });
    assert!(kill.contains_key("client:kept"), "{kill:?}");
    assert!(!kill.contains_key("client:unconfirmed"), "{kill:?}");
    for s in [&a, &b] {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let (st, j, _) =
                post(&c, &s.url("/api/v1/guard/admit"), admit_body("unconfirmed")).await;
            if st == 200 {
                break;
            }
            // Each replica's copy of the switches follows Redis within a tick.
            assert_eq!(j["reason"], "kill_switch_client", "{j}");
            assert!(Instant::now() < until, "{j}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (st, j, _) = post(&c, &s.url("/api/v1/guard/admit"), admit_body("kept")).await;
        assert_eq!(
            (st, j["reason"].as_str()),
            (429, Some("kill_switch_client")),
            "{j}"
        );
    }

    blocking(|| {
        cluster.restart(master);
        cluster
            .check()
            .unwrap_or_else(|e| panic!("redis-cli --cluster check after the failover:\n{e}"));
    });
}

/// A sample line's name and labels, and its value; HELP, TYPE and EOF lines are skipped.
fn samples(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Families that describe one process, not the state both replicas share: its own counters
/// of what it answered, served and reloaded, and clock readings of its own collections.
const PER_PROCESS: [&str; 9] = [
    "launchguard_guard_decisions_total",
    "launchguard_guard_throttled",
    "launchguard_guard_admin_changes_total",
    "launchguard_guard_snapshot_age_seconds",
    "launchguard_http_",
    "launchguard_source_last_success_timestamp_seconds",
    "launchguard_source_collect_duration_seconds",
    "launchguard_config_last_reload_success_timestamp_seconds",
    "launchguard_source_errors_total",
];

fn shared_state(text: &str) -> BTreeMap<String, String> {
    samples(text)
        .into_iter()
        .filter(|(k, _)| !PER_PROCESS.iter().any(|p| k.starts_with(p)))
        .collect()
}

/// Whichever replica answers, the verdict is the same: each probe goes to replica a, its
/// reservation (if any) is settled with nothing spent on replica b, which restores the state,
/// then the same probe goes to b (settled on a). Clients at every kind of limit, switches set
/// on one replica and the other, an override, every kind. Then both replicas' /metrics agree
/// on everything but their own per-process counters and clocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn both_replicas_answer_and_export_alike() {
    let _one = SERIAL.lock().await;
    let pg = pg::TestPg::start_seeded();
    let cluster = blocking(RedisCluster::start);
    let dir = tempfile::tempdir().unwrap();
    let a = replica(&pg, &cluster, dir.path()).await;
    let b = replica(&pg, &cluster, dir.path()).await;
    let servers = [a.base.as_str(), b.base.as_str()];
    let c = reqwest::Client::new();
    let put = reqwest::Method::PUT;
    admin(
        &c,
        put.clone(),
        a.url("/api/v1/admin/kill-switches/client/killed"),
        "",
    )
    .await;
    admin(
        &c,
        put.clone(),
        b.url("/api/v1/admin/kill-switches/provider/openai"),
        "",
    )
    .await;
    admin(
        &c,
        put.clone(),
        a.url("/api/v1/admin/budgets/client_daily/vip"),
        r#"{"budget_usd": 0.6}"#,
    )
    .await;
    // Both replicas hold the same switches (an override set on a reaches b within a
    // tick: until then b decides with the budget it had).
    let state = |s: &Server| {
        let r = c
            .get(s.url("/api/v1/admin/state"))
            .bearer_auth(ADMIN_TOKEN)
            .send();
        async move { r.await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    let until = Instant::now() + Duration::from_secs(10);
    while state(&a).await != state(&b).await {
        assert!(
            Instant::now() < until,
            "{} / {}",
            state(&a).await,
            state(&b).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let none = || Arc::new(AtomicUsize::new(0));
    assert_eq!(
        allowed_ids(&burst_counted(&servers, "nearly", 99, none()).await).len(),
        99
    );
    assert_eq!(
        allowed_ids(&burst_counted(&servers, "vip", 150, none()).await).len(),
        150
    );

    let ai = |client: &str, provider: &str, input: u64| {
        format!(
            r#"{{"client_id":"{client}","kind":"ai","provider":"{provider}","model":"claude-sonnet-4-5","estimate":{{"input_tokens":{input},"output_tokens":0}}}}"#
        )
    };
    let probes = [
        ai("fresh", "anthropic", 1000),
        ai("nearly", "anthropic", 1000),
        ai("nearly", "anthropic", 2000),
        ai("killed", "anthropic", 1000),
        ai("fresh", "openai", 1000),
        ai("vip", "anthropic", 1000),
        ai("vip", "anthropic", 16000),
        ai("vip", "anthropic", 17000),
        ai("fresh", "anthropic", 20_000_000),
        r#"{"client_id":"fresh","kind":"api"}"#.to_string(),
        r#"{"client_id":"fresh","kind":"visual"}"#.to_string(),
        r#"{"client_id":"fresh","kind":"job"}"#.to_string(),
        r#"{"client_id":"newcomer","kind":"job","new_client":true}"#.to_string(),
    ];
    let mut reasons = BTreeSet::new();
    for p in &probes {
        let mut answers = Vec::new();
        for (ask, settle) in [(&a, &b), (&b, &a)] {
            let (st, mut j, retry) = post(&c, &ask.url("/api/v1/guard/admit"), p.clone()).await;
            if let Some(id) = j["reservation_id"].as_str() {
                let (s, r, _) = post(
                    &c,
                    &settle.url("/api/v1/guard/settle"),
                    format!(r#"{{"reservation_id":"{id}"}}"#),
                )
                .await;
                assert_eq!((s, r["settled"].as_bool()), (200, Some(true)), "{r}");
                j["reservation_id"] = "held".into();
            }
            // Seconds until a period ends: read a moment apart, they may differ by one.
            let wait = j["retry_after_seconds"].take().as_i64();
            answers.push((st, j, wait, retry));
        }
        let ((sa, ja, wa, _), (sb, jb, wb, _)) = (&answers[0], &answers[1]);
        assert_eq!((sa, ja), (sb, jb), "{p}");
        assert!(
            wa.is_some() == wb.is_some() && wa.unwrap_or(0).abs_diff(wb.unwrap_or(0)) <= 1,
            "{p}: {answers:?}"
        );
        reasons.insert(ja["reason"].as_str().unwrap().to_string());
    }
    // The probes reached every kind of answer they were made for.
    for r in [
        "ok",
        "budget_client_daily_exceeded",
        "kill_switch_client",
        "kill_switch_provider",
    ] {
        assert!(reasons.contains(r), "no probe answered {r}: {reasons:?}");
    }

    // /metrics: the same figures, reservations, switches and overrides on both.
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let ma = shared_state(
            &reqwest::get(a.url("/metrics"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
        let mb = shared_state(
            &reqwest::get(b.url("/metrics"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
        // Each replica reads the reservations' status every tick: wait for both to show
        // the 249 held by "nearly" and "vip".
        let outstanding = r#"launchguard_guard_reservations_outstanding{kind="ai"}"#;
        let settled = [&ma, &mb]
            .iter()
            .all(|m| m.get(outstanding).map(String::as_str) == Some("249.0"));
        if ma == mb && settled {
            assert!(
                ma.keys()
                    .any(|k| k.starts_with("launchguard_guard_kill_switch{scope=\"provider\"")),
                "{ma:?}"
            );
            break;
        }
        let diff: Vec<_> = ma
            .iter()
            .filter(|(k, v)| mb.get(*k) != Some(*v))
            .map(|(k, v)| format!("{k}: {v} / {:?}", mb.get(k)))
            .chain(
                mb.keys()
                    .filter(|k| !ma.contains_key(*k))
                    .map(|k| format!("{k}: only on b")),
            )
            .collect();
        assert!(
            Instant::now() < until,
            "the replicas' /metrics differ (or miss the reservations):\n{}\n{:?} / {:?}",
            diff.join("\n"),
            ma.get(outstanding),
            mb.get(outstanding)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
