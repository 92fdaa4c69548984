//! The server under hostile callers, each attack of issue 11 replayed against the real binary
//! on loopback: sockets that send nothing, half a request line, half an HTTP/2 preface, half a
//! TLS handshake or a body at one byte every half second are cut by their deadlines; more idle
//! sockets than the connection cap, with the process's descriptor limit lowered, leave
//! /metrics and /healthz answering; an empty admin token file disables the admin API; a
//! wrong-password flood is refused fast while authorised requests keep their latency; failed
//! logins are limited per peer.
//!
//! Deadlines are configured short (1-2 s) so the test runs in seconds. Needs `prlimit`
//! (util-linux).

use crate::common::exporter;
use crate::common::pki;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use exporter::{Exporter, value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The caller token the guard's admit wants (ignored by builds without caller tokens).
const CALLER_TOKEN: &str = "caller-token-for-tests";
const CALLER_HEADER: &str = "x-launchguard-caller-token";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A config with the guard's state in `dir` and the given `server:` lines.
fn config(dir: &Path, server: &str, extra: &str) -> PathBuf {
    let state = dir.join("state.json");
    write(
        dir,
        "launchguard.yaml",
        &format!(
            "guard:\n  state_file: {}\n{extra}server:\n{server}",
            state.display()
        ),
    )
}

/// Reads until the server closes the connection; what it sent and how long that took. A
/// reset counts as closed; `limit` bounds the wait (then the test fails).
async fn until_closed(s: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit.saturating_sub(start.elapsed()), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "the server kept the connection open for {limit:?}; it sent: {}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), start.elapsed())
}

fn assert_near(what: &str, took: Duration, deadline: Duration) {
    // Closed by the deadline: not before it, and not long after (timer and scheduling slack).
    assert!(
        took >= deadline.saturating_sub(Duration::from_millis(150))
            && took <= deadline + Duration::from_millis(1500),
        "{what}: closed after {took:?}, deadline {deadline:?}"
    );
}

fn metric(m: &BTreeMap<String, f64>, key: &str) -> f64 {
    value(m, key)
}

/// A counter's sample; 0 while its label set has not been used (it is not exported yet).
fn count(m: &BTreeMap<String, f64>, key: &str) -> f64 {
    m.get(key).copied().unwrap_or(0.0)
}

/// /metrics through basic auth.
async fn metrics_as(addr: &str, user: &str, pw: &str) -> BTreeMap<String, f64> {
    let res = reqwest::Client::new()
        .get(format!("http://{addr}/metrics"))
        .basic_auth(user, Some(pw))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    exporter::parse(&res.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_half_sent_slow_and_idle_connections_are_cut_by_their_deadlines() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "  header_timeout: 1s\n  body_timeout: 2s\n  idle_timeout: 2s\n",
        "",
    );
    let e = Exporter::start(Some(&cfg), &[("LAUNCHGUARD_CALLER_TOKEN", CALLER_TOKEN)]);
    let addr = e.addr.clone();
    let header = Duration::from_secs(1);
    let body = Duration::from_secs(2);
    let idle = Duration::from_secs(2);
    let limit = Duration::from_secs(8);

    // Nothing at all: the HTTP/2 auto-detection sniff used to wait for ever.
    let silent = {
        let addr = addr.clone();
        tokio::spawn(async move {
            let mut s = TcpStream::connect(&addr).await.unwrap();
            until_closed(&mut s, limit).await
        })
    };
    // Half a request line, half an HTTP/2 preface, a whole head but for its last line.
    let mut partial = Vec::new();
    for sent in [
        &b"GET /metr"[..],
        b"PRI * HTTP/2.0\r\n",
        b"GET /metrics HTTP/1.1\r\nHost: x\r\n",
    ] {
        let addr = addr.clone();
        partial.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(&addr).await.unwrap();
            s.write_all(sent).await.unwrap();
            until_closed(&mut s, limit).await
        }));
    }
    // A guard admit whose body comes at one byte every 500 ms: each byte well within any
    // per-read timeout, the whole never.
    let slow = {
        let addr = addr.clone();
        tokio::spawn(async move {
            let mut s = TcpStream::connect(&addr).await.unwrap();
            let head = format!(
                "POST /api/v1/guard/admit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                 {CALLER_HEADER}: {CALLER_TOKEN}\r\nContent-Length: 64\r\n\r\n"
            );
            s.write_all(head.as_bytes()).await.unwrap();
            let (mut rd, mut wr) = s.into_split();
            let trickle = tokio::spawn(async move {
                for _ in 0..64 {
                    if wr.write_all(b" ").await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            });
            let start = Instant::now();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            loop {
                match tokio::time::timeout(limit, rd.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                    Err(_) => panic!("the slow body was never cut off"),
                }
            }
            trickle.abort();
            (String::from_utf8_lossy(&got).into_owned(), start.elapsed())
        })
    };
    // A keep-alive connection that goes quiet after its first answer.
    let quiet = {
        let addr = addr.clone();
        tokio::spawn(async move {
            let mut s = TcpStream::connect(&addr).await.unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).await.unwrap();
            let first = String::from_utf8_lossy(&buf[..n]).into_owned();
            let (rest, took) = until_closed(&mut s, limit).await;
            (first + &rest, took)
        })
    };

    let (text, took) = silent.await.unwrap();
    assert!(text.is_empty(), "{text}");
    assert_near("silent socket", took, header);
    for (i, t) in partial.into_iter().enumerate() {
        let (_, took) = t.await.unwrap();
        assert_near(&format!("partial head #{i}"), took, header);
    }
    let (text, took) = slow.await.unwrap();
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert_near("slow body", took, body);
    let (text, took) = quiet.await.unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert_near("idle keep-alive", took, idle);

    let m = e.metrics();
    let cut = |r: &str| {
        metric(
            &m,
            &format!("launchguard_http_connections_cut_total{{reason=\"{r}\"}}"),
        )
    };
    assert!(cut("header_timeout") >= 4.0, "{m:#?}");
    assert!(cut("body_timeout") >= 1.0, "{m:#?}");
    assert!(cut("idle_timeout") >= 1.0, "{m:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_tls_handshakes_are_cut_and_tls_clients_still_served() {
    let dir = tempfile::tempdir().unwrap();
    let root = pki::ca("launchguard test CA");
    let (cert, key) = pki::leaf(&root, &["localhost", "127.0.0.1"]);
    write(dir.path(), "server.crt", &cert);
    write(dir.path(), "server.key", &key);
    let web = write(
        dir.path(),
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    );
    let cfg = config(dir.path(), "  header_timeout: 1s\n", "");
    let e = Exporter::spawn(
        Some(&cfg),
        &["--web.config.file", web.to_str().unwrap()],
        &[],
    );
    let limit = Duration::from_secs(8);
    // Nothing; then the first bytes of a TLS record (a ClientHello that never comes whole).
    for sent in [&b""[..], &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01][..]] {
        let mut s = TcpStream::connect(&e.addr).await.unwrap();
        s.write_all(sent).await.unwrap();
        let (_, took) = until_closed(&mut s, limit).await;
        assert_near(
            &format!("TLS after {} bytes", sent.len()),
            took,
            Duration::from_secs(1),
        );
    }
    let c = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(root.pem().as_bytes()).unwrap()])
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let port = e.addr.rsplit(':').next().unwrap();
    let res = c
        .get(format!("https://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let m = exporter::parse(&res.text().await.unwrap());
    assert!(
        metric(
            &m,
            "launchguard_http_connections_cut_total{reason=\"header_timeout\"}"
        ) >= 2.0,
        "{m:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_flood_past_the_cap_with_descriptors_lowered_leaves_metrics_answering() {
    // 128 descriptors: without a cap, 300 idle sockets would exhaust them ("Too many open
    // files" for every scrape, the database pool and the guard). The configured 1000 is
    // lowered to fit (128 - 64 reserved), and the deadline is far away: only the cap and the
    // eviction of the longest-idle connection keep /metrics answering.
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "  max_connections: 1000\n  header_timeout: 60s\n  idle_timeout: 60s\n",
        "",
    );
    let e = Exporter::spawn_wrapped(&["prlimit", "--nofile=128:128"], Some(&cfg), &[], &[]);
    let mut idle = Vec::new();
    for i in 0..300 {
        let mut s = TcpStream::connect(&e.addr).await.unwrap();
        if i % 3 == 1 {
            s.write_all(b"GET /metr").await.unwrap();
        }
        idle.push(s);
    }
    // The flood goes on while the scrapes are made.
    let stop = Arc::new(AtomicBool::new(false));
    let more = {
        let (addr, stop) = (e.addr.clone(), stop.clone());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                if let Ok(s) = TcpStream::connect(&addr).await {
                    held.push(s);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            held.len()
        })
    };
    let addr = e.addr.clone();
    let answers = tokio::task::spawn_blocking(move || {
        let mut v = Vec::new();
        for path in ["/healthz", "/metrics", "/healthz", "/metrics"] {
            let start = Instant::now();
            let r = exporter::http_get(&addr, path);
            v.push((path, r, start.elapsed()));
            std::thread::sleep(Duration::from_millis(200));
        }
        v
    })
    .await
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    let flooded = more.await.unwrap();
    let mut last = BTreeMap::new();
    for (path, r, took) in answers {
        let (code, _, body) = r.unwrap_or_else(|| panic!("{path}: no answer; logs:\n{}", e.logs()));
        assert_eq!(code, 200, "{path}");
        // Far before the 60 s deadline: eviction made the room (up to 128 idle sockets a
        // second at this cap, so the backlog of the first 300 takes about 2 s to go through).
        assert!(took < Duration::from_secs(10), "{path} took {took:?}");
        if path == "/metrics" {
            last = exporter::parse(&body);
        }
    }
    assert!(
        flooded > 20,
        "the flood went on during the scrapes ({flooded})"
    );
    assert_eq!(metric(&last, "launchguard_http_connections_limit"), 64.0);
    assert!(metric(&last, "launchguard_http_connections_open") <= 64.0);
    assert!(
        metric(&last, "launchguard_http_connection_limit_reached_total") >= 236.0,
        "{last:#?}"
    );
    assert!(
        metric(
            &last,
            "launchguard_http_connections_cut_total{reason=\"evicted\"}"
        ) >= 236.0,
        "{last:#?}"
    );
    let logs = e.logs();
    assert!(
        logs.contains("lowered to fit the file-descriptor limit"),
        "{logs}"
    );
    assert_eq!(
        logs.matches("connection limit reached").count(),
        1,
        "one line, not one per connection: {logs}"
    );
    assert!(
        !logs.contains("Too many open files") && !logs.contains("accept failed"),
        "{logs}"
    );
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_burst_past_the_cap_is_served_in_turn() {
    // Eviction must only take sockets whose client is silent: 200 clients that connect and
    // send at once, past a cap of 32, all get their answer (the rest wait in the backlog).
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "  max_connections: 32\n", "");
    let e = Exporter::start(Some(&cfg), &[]);
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let addr = e.addr.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(&addr).await.unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            until_closed(&mut s, Duration::from_secs(20)).await.0
        }));
    }
    for t in tasks {
        let text = t.await.unwrap();
        assert!(text.starts_with("HTTP/1.1 200"), "{text:?}");
    }
    let m = e.metrics();
    assert!(metric(&m, "launchguard_http_connection_limit_reached_total") > 0.0);
    assert_eq!(
        count(
            &m,
            "launchguard_http_connections_cut_total{reason=\"evicted\"}"
        ),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_admin_token_file_disables_the_admin_api() {
    let dir = tempfile::tempdir().unwrap();
    let token = write(dir.path(), "admin-token", "");
    let cfg = config(
        dir.path(),
        "  header_timeout: 5s\n",
        &format!("  admin_token: file:{}\n", token.display()),
    );
    let bin = env!("CARGO_BIN_EXE_launchguard");
    let check = |cfg: Option<&Path>, env_token: Option<&str>| {
        let mut c = std::process::Command::new(bin);
        c.arg("check").env_remove("LAUNCHGUARD_ADMIN_TOKEN");
        if let Some(cfg) = cfg {
            c.arg("--config").arg(cfg);
        }
        if let Some(t) = env_token {
            c.env("LAUNCHGUARD_ADMIN_TOKEN", t);
        }
        let out = c.output().unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // 0 bytes, a lone newline, blanks: all unset.
    for text in ["", "\n", " \t\r\n"] {
        std::fs::write(&token, text).unwrap();
        let out = check(Some(&cfg), None);
        assert!(
            out.contains(&format!(
                "admin API: disabled: guard.admin_token (file:{0}): file {0} is empty",
                token.display()
            )),
            "{text:?}: {out}"
        );
    }
    std::fs::write(&token, "").unwrap();
    let e = Exporter::start(Some(&cfg), &[]);
    let base = format!("http://{}/api/v1/admin", e.addr);
    let c = reqwest::Client::new();
    for (name, value) in [
        ("x-launchguard-admin-token", ""),
        ("authorization", "Bearer "),
        ("authorization", "Bearer"),
    ] {
        let res = c
            .get(format!("{base}/state"))
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{name}: {value:?}");
        let body = res.text().await.unwrap();
        assert!(body.contains("the admin API is disabled"), "{body}");
        let res = c
            .put(format!("{base}/kill-switches/global"))
            .header(name, value)
            .body("{\"note\":\"x\"}")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{name}: {value:?}");
    }
    let m = e.metrics();
    assert_eq!(
        metric(
            &m,
            "launchguard_guard_kill_switch{scope=\"global\",target=\"\"}"
        ),
        0.0
    );
    let logs = e.logs();
    assert!(
        logs.contains("the admin API is disabled") && logs.contains("is empty"),
        "said at start: {logs}"
    );

    // A real token written into the file turns it on (re-read every second); an empty
    // header still never matches.
    std::fs::write(&token, "s3cret-admin\n").unwrap();
    let start = Instant::now();
    loop {
        let res = c
            .get(format!("{base}/state"))
            .header("x-launchguard-admin-token", "s3cret-admin")
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{}", e.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let res = c
        .get(format!("{base}/state"))
        .header("x-launchguard-admin-token", "")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // The default reference, ${LAUNCHGUARD_ADMIN_TOKEN}, set to "" or blanks: unset too.
    for v in ["", "  "] {
        assert!(
            check(None, Some(v)).contains(
                "admin API: disabled: guard.admin_token (${LAUNCHGUARD_ADMIN_TOKEN}): \
                 environment variable LAUNCHGUARD_ADMIN_TOKEN is unset or empty"
            ),
            "{v:?}"
        );
    }
    assert!(!e.logs().contains("s3cret-admin"));
}

/// The one basic-auth user's password, and a wrong one (neither may reach the logs).
const RIGHT: &str = "correct horse";
const WRONG: &str = "battery staple";

/// basic auth users: `prometheus` with `RIGHT`, bcrypt cost `cost`.
fn basic_auth_web(dir: &Path, cost: u32) -> PathBuf {
    let hash = bcrypt::hash(RIGHT, cost).unwrap();
    write(
        dir,
        "web.yml",
        &format!("basic_auth_users:\n  prometheus: '{hash}'\n"),
    )
}

fn p99(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() * 99).div_ceil(100).saturating_sub(1)]
}

/// What the flood measurement saw.
struct FloodRun {
    idle_p99: Duration,
    flood_p99: Duration,
    /// Flood answers by status code.
    flood_codes: BTreeMap<u16, u64>,
    /// Flood answers per second of flooded phases, as achieved.
    flood_rate: f64,
}

/// Authorised requests (alternately /metrics and a guard admit, basic auth, one keep-alive
/// connection) timed in `rounds` pairs of phases: quiet, then under a flood of wrong passwords
/// from `flooders` connections at `rate` requests/s in all. Alternating the phases keeps a
/// change of the machine's load from falling on one side only.
async fn measure_flood(
    addr: &str,
    rounds: usize,
    per_phase: usize,
    flooders: usize,
    rate: f64,
) -> FloodRun {
    let url = |p: &str| format!("http://{addr}{p}");
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let admit = r#"{"client_id":"c1","kind":"api"}"#;
    let timed = |i: usize| {
        let req = if i.is_multiple_of(2) {
            c.get(url("/metrics"))
        } else {
            c.post(url("/api/v1/guard/admit"))
                .header("content-type", "application/json")
                .header(CALLER_HEADER, CALLER_TOKEN)
                .body(admit)
        };
        let req = req.basic_auth("prometheus", Some(RIGHT));
        async move {
            let start = Instant::now();
            let res = req.send().await.unwrap();
            let code = res.status().as_u16();
            let _ = res.bytes().await.unwrap();
            assert_eq!(code, 200, "authorised request {i}");
            start.elapsed()
        }
    };
    // The first login is a bcrypt check; later ones are remembered.
    timed(0).await;
    timed(1).await;

    let on = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let codes: Arc<[AtomicU64; 6]> = Arc::new(Default::default());
    let slot = |code: u16| match code {
        401 => 0,
        429 => 1,
        503 => 2,
        200 => 3,
        0 => 4,
        _ => 5,
    };
    let every = Duration::from_secs_f64(flooders as f64 / rate);
    let mut tasks = Vec::new();
    for _ in 0..flooders {
        let (on, stop, codes, url) = (on.clone(), stop.clone(), codes.clone(), url("/metrics"));
        tasks.push(tokio::spawn(async move {
            let c = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            let mut next = tokio::time::Instant::now();
            while !stop.load(Ordering::Relaxed) {
                if !on.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    next = tokio::time::Instant::now();
                    continue;
                }
                let code = match c
                    .get(&url)
                    .basic_auth("prometheus", Some(WRONG))
                    .send()
                    .await
                {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 0,
                };
                codes[slot(code)].fetch_add(1, Ordering::Relaxed);
                next += every;
                tokio::time::sleep_until(next).await;
            }
        }));
    }
    let (mut idle, mut flood) = (Vec::new(), Vec::new());
    let mut flooded = Duration::ZERO;
    let mut i = 0;
    for _ in 0..rounds {
        for _ in 0..per_phase {
            idle.push(timed(i).await);
            i += 1;
        }
        on.store(true, Ordering::Relaxed);
        let since = Instant::now();
        // Let the flood fill the bcrypt queue before measuring.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for _ in 0..per_phase {
            flood.push(timed(i).await);
            i += 1;
        }
        on.store(false, Ordering::Relaxed);
        flooded += since.elapsed();
        // Let the queued checks drain so the next quiet phase is quiet.
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let names = [401u16, 429, 503, 200, 0, 999];
    let flood_codes: BTreeMap<u16, u64> = names
        .iter()
        .enumerate()
        .map(|(k, code)| (*code, codes[k].load(Ordering::Relaxed)))
        .filter(|(_, n)| *n > 0)
        .collect();
    FloodRun {
        flood_rate: flood_codes.values().sum::<u64>() as f64 / flooded.as_secs_f64(),
        idle_p99: p99(idle),
        flood_p99: p99(flood),
        flood_codes,
    }
}

/// A flood config: the per-peer limit set out of reach (every request comes from 127.0.0.1),
/// so the bounded bcrypt workers alone are what holds. No database here: `fail_mode: open`
/// lets admits answer 200.
fn flood_config(dir: &Path) -> PathBuf {
    config(
        dir,
        "  bcrypt_workers: 1\n  bcrypt_queue: 2\n  auth_failures_per_peer: 1000000\n",
        "  fail_mode: open\n",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_flood_fails_fast_and_authorised_requests_keep_their_latency() {
    let dir = tempfile::tempdir().unwrap();
    let web = basic_auth_web(dir.path(), 8);
    let cfg = flood_config(dir.path());
    let e = Exporter::spawn(
        Some(&cfg),
        &["--web.config.file", web.to_str().unwrap()],
        &[("LAUNCHGUARD_CALLER_TOKEN", CALLER_TOKEN)],
    );
    // 200 wrong passwords a second: six times the rate that took both cores before.
    let run = measure_flood(&e.addr, 3, 100, 8, 200.0).await;
    let ratio = run.flood_p99.as_secs_f64() / run.idle_p99.as_secs_f64();
    eprintln!(
        "authorised p99: quiet {:?}, under the flood {:?} (ratio {ratio:.2}); flood answers {:?} \
         ({:.0}/s)",
        run.idle_p99, run.flood_p99, run.flood_codes, run.flood_rate
    );
    let busy = run.flood_codes.get(&503).copied().unwrap_or(0);
    let wrong = run.flood_codes.get(&401).copied().unwrap_or(0);
    assert!(busy > 0, "fail-fast 503s: {:?}", run.flood_codes);
    assert!(
        wrong > 0,
        "some wrong passwords were checked: {:?}",
        run.flood_codes
    );
    assert_eq!(
        run.flood_codes
            .keys()
            .filter(|c| ![401, 503].contains(*c))
            .count(),
        0,
        "a wrong password is only ever 401 or 503: {:?}",
        run.flood_codes
    );
    assert!(
        ratio <= 5.0,
        "authorised p99 under the flood {:?} is {ratio:.1}x the quiet {:?}",
        run.flood_p99,
        run.idle_p99
    );
    let m = metrics_as(&e.addr, "prometheus", RIGHT).await;
    assert_eq!(
        metric(&m, "launchguard_http_auth_refused_total{reason=\"busy\"}"),
        busy as f64
    );
    let logs = e.logs();
    assert!(!logs.contains(RIGHT) && !logs.contains(WRONG), "{logs}");
}

/// `scripts/bench-auth-flood.sh`: the same measurement, longer, on the release build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run by scripts/bench-auth-flood.sh"]
async fn bench_auth_flood() {
    let rounds: usize = std::env::var("BENCH_ROUNDS").map_or(5, |v| v.parse().unwrap());
    let rate: f64 = std::env::var("BENCH_RATE").map_or(200.0, |v| v.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    // Cost 10, what `htpasswd -nBC 10` makes and the docs recommend.
    let web = basic_auth_web(dir.path(), 10);
    let cfg = flood_config(dir.path());
    let e = Exporter::spawn(
        Some(&cfg),
        &["--web.config.file", web.to_str().unwrap()],
        &[("LAUNCHGUARD_CALLER_TOKEN", CALLER_TOKEN)],
    );
    let run = measure_flood(&e.addr, rounds, 300, 16, rate).await;
    let ratio = run.flood_p99.as_secs_f64() / run.idle_p99.as_secs_f64();
    println!(
        "wrong-password flood: {rate} requests/s from 16 connections, {rounds} rounds of 300 quiet + 300 flooded"
    );
    println!(
        "flood answers by status: {:?}, {:.0}/s achieved",
        run.flood_codes, run.flood_rate
    );
    println!(
        "authorised p99 quiet:       {:.3} ms",
        run.idle_p99.as_secs_f64() * 1e3
    );
    println!(
        "authorised p99 under flood: {:.3} ms",
        run.flood_p99.as_secs_f64() * 1e3
    );
    println!("ratio (flood / quiet):      {ratio:.2}   (target: at most 5)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_limited_per_peer() {
    let dir = tempfile::tempdir().unwrap();
    let web = basic_auth_web(dir.path(), 4);
    // 3 failures per 3 s: one comes back every second.
    let cfg = config(
        dir.path(),
        "  auth_failures_per_peer: 3\n  auth_failure_window: 3s\n",
        "",
    );
    let e = Exporter::spawn(
        Some(&cfg),
        &["--web.config.file", web.to_str().unwrap()],
        &[],
    );
    let url = format!("http://{}/metrics", e.addr);
    let from = |ip: &str| {
        reqwest::Client::builder()
            .local_address(ip.parse::<IpAddr>().unwrap())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    };
    let (a, b) = (from("127.0.0.1"), from("127.0.0.2"));
    let get = |c: &reqwest::Client, pw: &str| {
        let req = c.get(&url).basic_auth("prometheus", Some(pw));
        async move {
            let r = req.send().await.unwrap();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            (r.status().as_u16(), retry)
        }
    };
    // A scraper from the same address logged in before the attack.
    assert_eq!(get(&a, RIGHT).await.0, 200);
    for i in 0..3 {
        assert_eq!(get(&a, "guess").await.0, 401, "failure {i}");
    }
    let (code, retry) = get(&a, "guess").await;
    assert_eq!(
        (code, retry.as_deref()),
        (429, Some("1")),
        "the 4th failure"
    );
    // No password check for a limited peer: even a new (unremembered) user is refused fast.
    let start = Instant::now();
    assert_eq!(get(&a, "another guess").await.0, 429);
    assert!(start.elapsed() < Duration::from_millis(500));
    // The remembered login is still served, and another peer has its own budget.
    assert_eq!(get(&a, RIGHT).await.0, 200);
    assert_eq!(get(&b, "guess").await.0, 401);
    // One failure back per second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get(&a, "guess").await.0, 401);
    assert_eq!(get(&a, "guess").await.0, 429);
    let m = metrics_as(&e.addr, "prometheus", RIGHT).await;
    assert!(
        metric(
            &m,
            "launchguard_http_auth_refused_total{reason=\"rate_limited\"}"
        ) >= 3.0
    );
    assert!(metric(&m, "launchguard_http_auth_refused_total{reason=\"wrong\"}") >= 5.0);
}
