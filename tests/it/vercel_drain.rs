//! The Vercel drain receiver end to end (docs/vercel.md), on a PostgreSQL laid out like a hosted
//! Supabase project (`../shared/supabase/up.sh`), installed with `launchguard sql` as a founder
//! would:
//!
//! - A realistic drain (a few thousand entries over eight minutes: lambda requests logging several
//!   lines each with a REPORT line, static assets, edge and firewall requests, crashes, background
//!   revalidations, build and preview logs, Vercel Cron runs of the sync job) is delivered in JSON
//!   and NDJSON, some gzip, to two real `launchguard serve` replicas behind "one URL", with
//!   retries to the other replica, the same delivery to both at once, one bad signature, one
//!   body over the size cap, one gzip body over the decompressed cap, one malformed NDJSON body
//!   and one unsigned body. Both replicas then export exactly the requests of the last minute,
//!   the error ratio and p95 of the last five minutes and the bytes of today that the drain
//!   carried, and the sync job's last success and failures; every minute in the database is
//!   exact. A replica restarted afterwards exports the same without any redelivery, and
//!   redeliveries after the restart count nothing twice.
//! - The writer role reaches only its three tables, with only the privileges it needs; the API
//!   roles reach none of it; `check --connect` says ok, warns about a traffic view that does not
//!   read the drain, and reports the writer down when it cannot write.
//!
//! Needs postgresql-15 and postgresql-15-cron, and ../shared beside the repository.

use crate::common::exporter;
use crate::common::supabase;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use exporter::Exporter;
use launchguard::core::latency;
use launchguard::ingest::vercel::verify::sign;
use supabase::SupabasePg;
use tokio_postgres::error::SqlState;

const SECRET: &str = "drain-secret-for-tests";
const VERIFY: &str = "0123456789abcdef0123456789abcdef01234567";
const WAIT: Duration = Duration::from_secs(60);
const MAX_BODY: usize = 256 * 1024;
const MAX_UNPACKED: usize = 1024 * 1024;

// --- a small deterministic generator --------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// One request as the platform served it, and what the drain says about it.
#[derive(Clone)]
struct Req {
    id: String,
    ts: i64,
    source: &'static str,
    path: String,
    /// proxy.statusCode; -1 is a background revalidation.
    proxy_status: Option<i64>,
    /// The entry's statusCode; -1 is a crashed function.
    entry_status: Option<i64>,
    bytes: Option<u64>,
    duration_ms: Option<f64>,
    cron: bool,
    environment: &'static str,
    lines: usize,
}

impl Req {
    /// Counted at all (the docs' rules: production, not a revalidation).
    fn counted(&self) -> bool {
        self.environment == "production" && self.proxy_status != Some(-1)
    }
    fn api(&self) -> bool {
        self.path.starts_with("/api/")
    }
    fn error(&self) -> bool {
        self.proxy_status.is_some_and(|s| s >= 500)
            || self.entry_status == Some(-1)
            || (self.proxy_status.is_none() && self.entry_status.is_some_and(|s| s >= 500))
    }
    fn minute(&self) -> i64 {
        self.ts.div_euclid(60_000)
    }

    fn entries(&self) -> Vec<String> {
        (0..self.lines)
            .map(|i| {
                let last = i + 1 == self.lines;
                let message = match self.duration_ms {
                    Some(d) if last => format!(
                        "START RequestId: {id} Version: $LATEST\\nEND RequestId: {id}\\nREPORT RequestId: {id}\\tDuration: {d:.2} ms\\tBilled Duration: {b} ms\\tMemory Size: 1024 MB\\tMax Memory Used: 147 MB\\t\\n",
                        id = self.id,
                        b = d.ceil() as i64 + 1
                    ),
                    _ => format!("handled {} step {i}", self.path),
                };
                let mut proxy = format!(
                    r#""timestamp":{ts},"method":"GET","host":"app.example.com","path":"{path}?client=acme","userAgent":["{ua}"],"region":"fra1","scheme":"https","vercelId":"{id}""#,
                    ts = self.ts,
                    path = self.path,
                    ua = if self.cron { "vercel-cron/1.0" } else { "Mozilla/5.0 (Macintosh)" },
                    id = self.id,
                );
                if let Some(s) = self.proxy_status {
                    proxy.push_str(&format!(r#","statusCode":{s}"#));
                }
                if let Some(b) = self.bytes {
                    proxy.push_str(&format!(r#","responseByteSize":{b}"#));
                }
                let mut e = format!(
                    r#"{{"id":"{id}-{i}","deploymentId":"dpl_5WJWYSyB7BpgTj3EuwF37WMRBXBt","source":"{src}","host":"app-k3j2.vercel.app","timestamp":{t},"projectId":"prj_QsCPB0Xv1nYhNwC4o2xYDk6Yb4pK","projectName":"studio","level":"info","type":"stdout","message":"{message}","path":"{p}","requestId":"{id}","environment":"{env}","executionRegion":"iad1""#,
                    id = self.id,
                    src = self.source,
                    t = self.ts + 5 + i as i64,
                    p = self.path.trim_start_matches('/'),
                    env = self.environment,
                );
                if let Some(s) = self.entry_status {
                    e.push_str(&format!(r#","statusCode":{s}"#));
                }
                e.push_str(&format!(r#","proxy":{{{proxy}}}}}"#));
                e
            })
            .collect()
    }
}

/// What the drain must add up to, per minute: (requests, errors, bytes, latency buckets).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Minute {
    requests: i64,
    errors: i64,
    bytes: i64,
    latency: [i64; 7],
}

fn expected(reqs: &[Req]) -> BTreeMap<i64, Minute> {
    let mut m: BTreeMap<i64, Minute> = BTreeMap::new();
    for r in reqs.iter().filter(|r| r.counted()) {
        let row = m.entry(r.minute()).or_default();
        if r.api() {
            row.requests += 1;
            row.errors += r.error() as i64;
            if let Some(d) = r.duration_ms {
                let b = [100.0, 250.0, 500.0, 1000.0, 2000.0, 5000.0]
                    .iter()
                    .position(|x| d <= *x)
                    .unwrap_or(6);
                row.latency[b] += 1;
            }
        }
        row.bytes += r.bytes.unwrap_or(0) as i64;
    }
    m.retain(|_, r| *r != Minute::default());
    m
}

/// The platform's traffic over `minutes` minutes before minute `end`, with the sync job's
/// Vercel Cron runs: ok (1.2 s), failed (500, no duration), ok (0.8 s).
fn traffic(rng: &mut Rng, end: i64, minutes: i64) -> Vec<Req> {
    let mut out = Vec::new();
    let mut n = 0;
    let mut id = |rng: &mut Rng| {
        n += 1;
        format!("fra1::iad1::{:05x}-{}", rng.below(0xfffff), n)
    };
    for m in (end - minutes)..end {
        let per_minute = 200 + rng.below(50);
        for _ in 0..per_minute {
            let ts = m * 60_000 + rng.below(60_000) as i64;
            let kind = rng.below(100);
            let mut r = Req {
                id: id(rng),
                ts,
                source: "lambda",
                path: format!(
                    "/api/{}",
                    ["render", "chat", "clients", "usage"][rng.below(4) as usize]
                ),
                proxy_status: Some(200),
                entry_status: Some(200),
                bytes: Some(200 + rng.below(5000)),
                duration_ms: None,
                cron: false,
                environment: "production",
                lines: 1 + rng.below(4) as usize,
            };
            match kind {
                0..=44 => {
                    // A function, with its REPORT line most of the time.
                    if rng.chance(85) {
                        r.duration_ms = Some(match rng.below(10) {
                            0..=5 => 20.0 + rng.below(80) as f64,
                            6..=7 => 100.5 + rng.below(400) as f64,
                            8 => 700.25 + rng.below(1300) as f64,
                            _ => 2500.0 + rng.below(4000) as f64,
                        });
                    }
                    if rng.chance(4) {
                        r.proxy_status = Some(500 + rng.below(4) as i64);
                        r.entry_status = r.proxy_status;
                    } else if rng.chance(3) {
                        r.proxy_status = Some(404);
                        r.entry_status = Some(404);
                    }
                }
                45..=49 => {
                    // A crash: no response returned.
                    r.proxy_status = None;
                    r.entry_status = Some(-1);
                    r.bytes = None;
                }
                50..=74 => {
                    r.source = "static";
                    r.path = format!("/_next/static/chunks/{}.js", rng.below(50));
                    r.bytes = Some(10_000 + rng.below(90_000));
                    r.entry_status = None;
                    r.lines = 1;
                }
                75..=84 => {
                    r.source = "edge";
                    r.path = "/api/edge/geo".into();
                    r.entry_status = None;
                    r.lines = 1 + rng.below(2) as usize;
                    if rng.chance(5) {
                        r.proxy_status = Some(502);
                    }
                }
                85..=87 => {
                    r.source = "firewall";
                    r.proxy_status = Some(403);
                    r.entry_status = None;
                    r.bytes = Some(120);
                    r.lines = 1;
                }
                88..=90 => {
                    // Background revalidation: not a client request.
                    r.path = "/blog/launch".into();
                    r.proxy_status = Some(-1);
                    r.lines = 1;
                }
                91..=93 => {
                    r.environment = "preview";
                    r.lines = 1;
                }
                _ => {
                    r.path = format!("/pricing/{}", rng.below(3));
                    r.bytes = Some(30_000 + rng.below(10_000));
                    if rng.chance(10) {
                        r.duration_ms = Some(150.0);
                    }
                }
            }
            out.push(r);
        }
    }
    for (back, status, dur) in [
        (7, 200, Some(1200.0)),
        (4, 500, None),
        (2, 200, Some(800.0)),
    ] {
        out.push(Req {
            id: id(rng),
            ts: (end - back) * 60_000 + 1_000,
            source: "lambda",
            path: "/api/cron/sync".into(),
            proxy_status: Some(status),
            entry_status: Some(status),
            bytes: Some(64),
            duration_ms: dur,
            cron: true,
            environment: "production",
            lines: 2,
        });
    }
    out
}

fn build_log(i: usize, ts: i64) -> String {
    format!(
        r#"{{"id":"build-{i}","deploymentId":"dpl_x","source":"build","host":"app-k3j2.vercel.app","timestamp":{ts},"projectId":"prj_QsCPB0Xv1nYhNwC4o2xYDk6Yb4pK","level":"info","type":"stdout","message":"Compiled successfully","buildId":"bld_cotnkcr76"}}"#
    )
}

fn shuffle<T>(rng: &mut Rng, v: &mut [T]) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// One delivery: (body as sent, headers).
#[derive(Clone)]
struct Delivery {
    body: Vec<u8>,
    headers: Vec<(String, String)>,
}

fn delivery(entries: &[String], i: usize) -> Delivery {
    let text = if i.is_multiple_of(2) {
        format!("[{}]", entries.join(","))
    } else {
        let mut s = entries.join("\n");
        s.push('\n');
        s
    };
    let (body, mut headers) = match i % 3 {
        0 => {
            let z = gzip(text.as_bytes());
            // Vercel does not say which bytes it signs when it compresses: both are taken.
            let signed = if i.is_multiple_of(6) {
                text.as_bytes().to_vec()
            } else {
                z.clone()
            };
            (
                z,
                vec![
                    ("content-encoding".to_string(), "gzip".to_string()),
                    (
                        "x-vercel-signature".to_string(),
                        sign(SECRET.as_bytes(), &signed),
                    ),
                ],
            )
        }
        _ => {
            let sig = sign(SECRET.as_bytes(), text.as_bytes());
            (
                text.into_bytes(),
                vec![("x-vercel-signature".to_string(), sig)],
            )
        }
    };
    headers.push((
        "content-type".into(),
        if i.is_multiple_of(2) {
            "application/json"
        } else {
            "application/x-ndjson"
        }
        .into(),
    ));
    Delivery { body, headers }
}

/// A raw HTTP/1.1 POST (or GET with `body` None): (status, lower-cased head, body).
fn http(
    addr: &str,
    method: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!(
        "{method} /api/v1/vercel/drain HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nUser-Agent: VercelDrain/1.0 (+https://vercel.com/docs/drains)\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (h, b) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no answer: {text:?}"));
    let status = h.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, h.to_ascii_lowercase(), b.to_string())
}

fn post(addr: &str, d: &Delivery) -> (u16, String, String) {
    http(addr, "POST", &d.headers, &d.body)
}

fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let p = dir.join("launchguard.yaml");
    std::fs::write(
        &p,
        format!(
            "database:\n  interval: 1s\n  timeout: 10s\nguard:\n  state_file: {}\n\
             vercel_drain:\n  enabled: true\n  verify_code: \"{VERIFY}\"\n\
             \x20 max_body_bytes: {MAX_BODY}\n  max_decompressed_bytes: {MAX_UNPACKED}\n\
             \x20 sync_job_path: /api/cron/sync\n  sync_job_schedule: \"0 * * * *\"\n{extra}",
            dir.join("guard-state.json").display()
        ),
    )
    .unwrap();
    p
}

fn launchguard_sql(cfg: &Path) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_launchguard"))
        .args(["sql", "--config"])
        .arg(cfg)
        .env_remove("LAUNCHGUARD_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn start(pg: &SupabasePg, cfg: &Path) -> Exporter {
    let reader = pg.reader_url();
    let writer = pg.url_as("launchguard_drain_writer");
    Exporter::start(
        Some(cfg),
        &[
            ("SUPABASE_DB_URL", reader.as_str()),
            ("VERCEL_DRAIN_DB_URL", writer.as_str()),
            ("VERCEL_DRAIN_SECRET", SECRET),
        ],
    )
}

/// The figures the exporter must show when it collected in minute `now_minute`.
struct Figures {
    last_minute: f64,
    error_ratio: Option<f64>,
    p95: Option<f64>,
    bandwidth_today: f64,
}

fn figures_at(exp: &BTreeMap<i64, Minute>, now_minute: i64) -> Figures {
    let get = |m: i64| exp.get(&m).copied().unwrap_or_default();
    let mut req = 0;
    let mut err = 0;
    let mut lat = [0u64; 7];
    for m in (now_minute - 5)..now_minute {
        let r = get(m);
        req += r.requests;
        err += r.errors;
        for (a, b) in lat.iter_mut().zip(r.latency) {
            *a += b as u64;
        }
    }
    let day_start = now_minute.div_euclid(1440) * 1440;
    Figures {
        last_minute: get(now_minute - 1).requests as f64,
        error_ratio: (req > 0).then(|| err as f64 / req as f64),
        p95: latency::quantile(0.95, &latency::BUCKET_BOUNDS, &lat),
        bandwidth_today: exp.range(day_start..).map(|(_, r)| r.bytes as f64).sum(),
    }
}

/// The exporter's traffic figures equal the drain's, for the minute it collected in.
fn traffic_exact(m: &BTreeMap<String, f64>, exp: &BTreeMap<i64, Minute>) -> bool {
    let Some(collected) =
        m.get(r#"launchguard_source_last_success_timestamp_seconds{source="supabase"}"#)
    else {
        return false;
    };
    let f = figures_at(exp, (*collected as i64).div_euclid(60));
    let close = |k: &str, want: Option<f64>| match (m.get(k), want) {
        (Some(v), Some(w)) => (v - w).abs() <= 1e-9 * w.abs().max(1.0),
        (None, None) => true,
        _ => false,
    };
    close(
        r#"launchguard_tier_usage{resource="api_requests_per_minute"}"#,
        Some(f.last_minute),
    ) && close("launchguard_api_error_ratio", f.error_ratio)
        && close(
            r#"launchguard_api_response_seconds{statistic="p95"}"#,
            f.p95,
        )
        && close(
            r#"launchguard_bandwidth_bytes{period="day"}"#,
            Some(f.bandwidth_today),
        )
}

fn describe(m: &BTreeMap<String, f64>, exp: &BTreeMap<i64, Minute>) -> String {
    let collected = m
        .get(r#"launchguard_source_last_success_timestamp_seconds{source="supabase"}"#)
        .copied()
        .unwrap_or(0.0);
    let f = figures_at(exp, (collected as i64).div_euclid(60));
    let pick: Vec<_> = m
        .iter()
        .filter(|(k, _)| {
            k.contains("api_requests_per_minute") && k.starts_with("launchguard_tier_usage{")
                || k.starts_with("launchguard_api_")
                || k.starts_with("launchguard_bandwidth")
                || k.starts_with("launchguard_vercel_drain")
                || k.contains("figure_available")
        })
        .collect();
    format!(
        "want last minute {}, error ratio {:?}, p95 {:?}, bandwidth {}; got {pick:#?}",
        f.last_minute, f.error_ratio, f.p95, f.bandwidth_today
    )
}

async fn stored_minutes(pg: &SupabasePg) -> BTreeMap<i64, Minute> {
    let c = pg.connect_as("launchguard_reader").await;
    let rows = c
        .query(
            "select bucket, requests, errors, bytes_out, lat_le_100, lat_le_250, lat_le_500,
                    lat_le_1000, lat_le_2000, lat_le_5000, lat_le_inf
             from launchguard.traffic_minutely order by bucket",
            &[],
        )
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            let t: DateTime<Utc> = r.get(0);
            let mut lat = [0i64; 7];
            for (i, l) in lat.iter_mut().enumerate() {
                *l = r.get(4 + i);
            }
            (
                t.timestamp().div_euclid(60),
                Minute {
                    requests: r.get(1),
                    errors: r.get(2),
                    bytes: r.get(3),
                    latency: lat,
                },
            )
        })
        .collect()
}

fn counted_in(answer: &str) -> u64 {
    let j: serde_json::Value =
        serde_json::from_str(answer).unwrap_or_else(|e| panic!("{e}: {answer}"));
    j["counted"].as_u64().unwrap_or_else(|| panic!("{answer}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_drain_gives_exact_figures_on_two_replicas_and_survives_a_restart() {
    let pg = SupabasePg::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    // A Vercel platform without launchguard's reference tables: the migrations and, for the
    // drain, the traffic view over its minutes.
    let sql = launchguard_sql(&cfg);
    assert!(sql.contains("vercel_drain_traffic_view.sql"));
    let script = dir.path().join("install.sql");
    std::fs::write(&script, &sql).unwrap();
    pg.psql_file(&script);

    let now = Utc::now().timestamp_millis();
    let end = now.div_euclid(60_000);
    let mut rng = Rng(0x5eed_1e55_d4a1_u64);
    let reqs = traffic(&mut rng, end, 8);
    let exp = expected(&reqs);
    let total: i64 = exp.values().map(|m| m.requests).sum();
    assert!(total > 500, "{total}");
    assert!(exp.values().any(|m| m.errors > 0) && exp.values().any(|m| m.latency[6] > 0));

    let mut entries: Vec<String> = reqs.iter().flat_map(Req::entries).collect();
    entries.extend((0..40).map(|i| build_log(i, now - 100_000)));
    shuffle(&mut rng, &mut entries);
    assert!(entries.len() >= 2_500, "{}", entries.len());
    let deliveries: Vec<Delivery> = entries
        .chunks(120)
        .enumerate()
        .map(|(i, c)| delivery(c, i))
        .collect();
    assert!(deliveries.iter().all(|d| d.body.len() < MAX_BODY));

    let a = start(&pg, &cfg);
    let b = start(&pg, &cfg);
    let replicas = [&a, &b];

    // Vercel's endpoint verification, unsigned: 200 with the team's code, nothing counted.
    let (status, head, _) = http(&a.addr, "POST", &[], b"{}");
    assert_eq!(status, 200);
    assert!(
        head.contains(&format!("x-vercel-verify: {VERIFY}")),
        "{head}"
    );
    let (status, head, _) = http(&b.addr, "GET", &[], b"");
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("x-vercel-verify:"), "{head}");

    // Every delivery, alternating between the replicas; the first few are also retried at the
    // other replica, and a few go to both at the same time.
    let mut counted = 0;
    for (i, d) in deliveries.iter().enumerate() {
        let (status, _, body) = post(&replicas[i % 2].addr, d);
        assert_eq!(status, 200, "delivery {i}: {body}");
        counted += counted_in(&body);
    }
    for (i, d) in deliveries.iter().enumerate().take(6) {
        let (status, _, body) = post(&replicas[(i + 1) % 2].addr, d);
        assert_eq!(status, 200, "retry {i}: {body}");
        assert_eq!(counted_in(&body), 0, "a retry counted again: {body}");
    }

    // Requests that must not count: each refused delivery carries requests of its own.
    let extra = |rng: &mut Rng, n: usize| -> Vec<String> {
        traffic(rng, end, 1)
            .into_iter()
            .take(n)
            .flat_map(|r| r.entries())
            .collect()
    };
    // A bad signature (signed with another secret).
    let mut bad = delivery(&extra(&mut rng, 50), 1);
    bad.headers[0].1 = sign(b"not-the-secret", &bad.body);
    let (status, _, body) = post(&a.addr, &bad);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("invalid_signature"), "{body}");
    // Unsigned, with entries.
    let unsigned = delivery(&extra(&mut rng, 20), 1);
    let (status, _, body) = http(&b.addr, "POST", &unsigned.headers[1..], &unsigned.body);
    assert_eq!(status, 401, "{body}");
    // Over the size cap as received.
    let mut big_entries = extra(&mut rng, 400);
    while big_entries.iter().map(String::len).sum::<usize>() < MAX_BODY + 10_000 {
        big_entries.extend(extra(&mut rng, 50));
    }
    let big = delivery(&big_entries, 1);
    assert!(big.body.len() > MAX_BODY);
    let (status, _, body) = post(&b.addr, &big);
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("vercel_drain.max_body_bytes"), "{body}");
    // Small as received, over the cap once unpacked.
    let mut padded = String::from("[");
    padded.push_str(&extra(&mut rng, 30).join(","));
    padded.push_str(&" ".repeat(MAX_UNPACKED));
    padded.push(']');
    let z = gzip(padded.as_bytes());
    assert!(z.len() < MAX_BODY);
    let bomb = Delivery {
        headers: vec![("x-vercel-signature".into(), sign(SECRET.as_bytes(), &z))],
        body: z,
    };
    let (status, _, body) = post(&a.addr, &bomb);
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("max_decompressed_bytes"), "{body}");
    // Malformed NDJSON, signed: the line is named and nothing of it counts.
    let mut lines = extra(&mut rng, 10);
    let cut = lines[3].len() - 1;
    lines[3].truncate(cut);
    let text = lines.join("\n");
    let broken = Delivery {
        headers: vec![(
            "x-vercel-signature".into(),
            sign(SECRET.as_bytes(), text.as_bytes()),
        )],
        body: text.into_bytes(),
    };
    let (status, _, body) = post(&a.addr, &broken);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("NDJSON body: line 5"), "{body}");

    // The same deliveries to both replicas at once: each request is still counted once.
    let racing: Vec<Delivery> = deliveries.iter().rev().take(4).cloned().collect();
    let (addr_a, addr_b) = (a.addr.clone(), b.addr.clone());
    let handles: Vec<_> = racing
        .into_iter()
        .flat_map(|d| {
            [addr_a.clone(), addr_b.clone()].map(|addr| {
                let d = d.clone();
                std::thread::spawn(move || post(&addr, &d))
            })
        })
        .collect();
    for h in handles {
        let (status, _, body) = h.join().unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(counted_in(&body), 0, "{body}");
    }

    let counted_requests = reqs.iter().filter(|r| r.counted()).count() as u64;
    assert_eq!(
        counted, counted_requests,
        "requests counted over all first deliveries"
    );

    // Every minute in the database is exact, and both replicas export the same exact figures.
    assert_eq!(stored_minutes(&pg).await, exp);
    for ex in replicas {
        ex.wait_for(WAIT, "the drain's traffic figures", |m| {
            traffic_exact(m, &exp)
        });
    }
    let ma = a.metrics();
    let mb = b.metrics();
    assert!(traffic_exact(&ma, &exp), "{}", describe(&ma, &exp));
    // The receiver's own counters, per replica: every refused kind is there.
    for (k, want) in [
        (
            r#"launchguard_vercel_drain_deliveries_total{result="invalid_signature"}"#,
            1.0,
        ),
        (
            r#"launchguard_vercel_drain_deliveries_total{result="too_large"}"#,
            1.0,
        ),
        (
            r#"launchguard_vercel_drain_deliveries_total{result="bad_body"}"#,
            1.0,
        ),
        (
            r#"launchguard_vercel_drain_deliveries_total{result="verification"}"#,
            1.0,
        ),
    ] {
        assert_eq!(ma.get(k), Some(&want), "{k}: {}", describe(&ma, &exp));
    }
    assert_eq!(
        mb.get(r#"launchguard_vercel_drain_deliveries_total{result="missing_signature"}"#),
        Some(&1.0)
    );
    let dups = ma[r#"launchguard_vercel_drain_requests_total{result="duplicate"}"#]
        + mb[r#"launchguard_vercel_drain_requests_total{result="duplicate"}"#];
    assert!(dups > 0.0);
    assert_eq!(
        ma[r#"launchguard_vercel_drain_requests_total{result="counted"}"#]
            + mb[r#"launchguard_vercel_drain_requests_total{result="counted"}"#],
        counted_requests as f64
    );

    // The sync job's Vercel Cron runs: last success = start of the newest good run + 0.8 s,
    // one failure, mean run time 1 s over the hourly schedule of vercel.json.
    let last_ok = ((end - 2) * 60_000 + 1_000 + 800) as f64 / 1000.0;
    for m in [&ma, &mb] {
        let job = r#"{cron_job="platform-sync"}"#;
        assert_eq!(
            m.get(&format!(
                "launchguard_cron_job_last_success_timestamp_seconds{job}"
            )),
            Some(&last_ok),
            "{m:#?}"
        );
        assert_eq!(
            m.get(&format!("launchguard_cron_job_failures_last_day{job}")),
            Some(&1.0)
        );
        assert_eq!(
            m.get(&format!("launchguard_cron_schedule_interval_seconds{job}")),
            Some(&3600.0)
        );
        assert_eq!(
            m.get(&format!("launchguard_cron_expected_interval_seconds{job}")),
            Some(&86400.0)
        );
        let load = m[&format!("launchguard_cron_load_ratio{job}")];
        assert!((load - 1.0 / 3600.0).abs() < 1e-12, "{load}");
        assert_eq!(
            m.get(r#"launchguard_figure_available{figure="vercel_cron"}"#),
            Some(&1.0)
        );
    }

    // A replica restarted: nothing acknowledged is lost, and nothing is counted twice when
    // Vercel retries deliveries it already had an answer for.
    drop(a);
    let a2 = start(&pg, &cfg);
    a2.wait_for(WAIT, "the figures after a restart", |m| {
        traffic_exact(m, &exp)
    });
    for d in deliveries.iter().step_by(5) {
        let (status, _, body) = post(&a2.addr, d);
        assert_eq!(status, 200, "{body}");
        assert_eq!(counted_in(&body), 0, "{body}");
    }
    assert_eq!(stored_minutes(&pg).await, exp);
    a2.wait_for(WAIT, "the same figures", |m| traffic_exact(m, &exp));
    b.wait_for(WAIT, "the same figures on the other replica", |m| {
        traffic_exact(m, &exp)
    });
    assert!(!a2.logs().contains(SECRET), "the secret was logged");
    assert!(!b.logs().contains(SECRET));
}

/// `sql` run as `role` the way the Data API runs it (as `authenticator`, then `set role`).
async fn as_role(pg: &SupabasePg, role: &str, sql: &str) -> Option<SqlState> {
    let c = pg.connect_as("authenticator").await;
    c.batch_execute(&format!("set role {role}")).await.unwrap();
    c.batch_execute(sql)
        .await
        .err()
        .map(|e| e.code().cloned().unwrap_or_else(|| panic!("{e}")))
}

fn check(cfg: &Path, pg: &SupabasePg) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_launchguard"))
        .args(["check", "--connect", "--config"])
        .arg(cfg)
        .env("SUPABASE_DB_URL", pg.reader_url())
        .env("VERCEL_DRAIN_DB_URL", pg.url_as("launchguard_drain_writer"))
        .env("VERCEL_DRAIN_SECRET", SECRET)
        .env_remove("LAUNCHGUARD_CONFIG")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.starts_with("vercel_drain "))
        .unwrap_or_else(|| panic!("{text}"))
        .to_string();
    (out.status.success(), line)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_writer_role_reaches_only_what_it_must() {
    let pg = SupabasePg::start();
    // The reference schema and its seed: the drain migration extends the reference traffic view.
    pg.apply_migrations();
    pg.psql_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/supabase/seed.sql"));
    let view = pg.psql("select pg_get_viewdef('launchguard.traffic_minutely')");
    assert!(
        view.contains("http_traffic_minutely") && view.contains("vercel_traffic_minutely"),
        "{view}"
    );

    let w = pg.connect_as("launchguard_drain_writer").await;
    // What it must do: record keys, add to minutes and cron runs, delete expired keys.
    w.batch_execute(
        "insert into launchguard.vercel_seen (minute, key) values (now(), 1) on conflict do nothing returning key;
         insert into launchguard.vercel_traffic_minutely as t (bucket, requests) values (date_trunc('minute', now()), 3)
           on conflict (bucket) do update set requests = t.requests + excluded.requests;
         insert into launchguard.vercel_cron_runs as r (key, started_at, path, status_code) values (7, now(), '/api/cron/sync', 200)
           on conflict (key) do update set duration_ms = coalesce(r.duration_ms, excluded.duration_ms);
         delete from launchguard.vercel_seen where minute < now() - interval '2 days';",
    )
    .await
    .unwrap();

    // The catalog's word on every table and view of the database: the writer has a privilege
    // on its three tables only, and exactly the ones it needs.
    let privs = pg.psql_as(
        "supabase_admin",
        "select format('%I.%I', n.nspname, c.relname) || ' ' ||
                concat_ws(',', case when has_table_privilege('launchguard_drain_writer', c.oid, 'select') then 'select' end,
                               case when has_table_privilege('launchguard_drain_writer', c.oid, 'insert') then 'insert' end,
                               case when has_table_privilege('launchguard_drain_writer', c.oid, 'update') then 'update' end,
                               case when has_table_privilege('launchguard_drain_writer', c.oid, 'delete') then 'delete' end,
                               case when has_table_privilege('launchguard_drain_writer', c.oid, 'truncate') then 'truncate' end,
                               case when has_table_privilege('launchguard_drain_writer', c.oid, 'references, trigger') then 'other' end)
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where c.relkind in ('r', 'v', 'm', 'p', 'f')
            and n.nspname not in ('pg_catalog', 'information_schema')
            and has_schema_privilege('launchguard_drain_writer', n.oid, 'usage')
            and (has_table_privilege('launchguard_drain_writer', c.oid, 'select, insert, update, delete, truncate, references, trigger'))
          order by 1",
    );
    assert_eq!(
        privs.lines().filter(|l| !l.is_empty()).collect::<Vec<_>>(),
        vec![
            "launchguard.vercel_cron_runs select,insert,update",
            "launchguard.vercel_seen select,insert,delete",
            "launchguard.vercel_traffic_minutely select,insert,update",
        ]
    );
    // And trying: the figures it writes cannot be erased, nothing else can be read or written.
    for sql in [
        "delete from launchguard.vercel_traffic_minutely",
        "truncate launchguard.vercel_seen",
        "delete from launchguard.vercel_cron_runs",
        "select * from launchguard.traffic_minutely",
        "select * from launchguard.usage_events",
        "select * from launchguard.cron_jobs",
        "select * from public.ai_usage_events",
        "select * from public.http_traffic_minutely",
        "insert into public.http_traffic_minutely (bucket) values (now())",
        "select * from storage.objects",
        "select * from auth.users",
        "create table launchguard.mine (id int)",
        "set role launchguard_reader",
        "set role postgres",
    ] {
        let e = w.batch_execute(sql).await.expect_err(sql);
        assert_eq!(
            e.code(),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "{sql}: {e}"
        );
    }
    // The reader sees the drain through the view and the cron runs, not the keys.
    let r = pg.connect_as("launchguard_reader").await;
    let n: i64 = r
        .query_one(
            "select count(*) from launchguard.traffic_minutely where requests = 3",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(n >= 1);
    r.query_one("select count(*) from launchguard.vercel_cron_runs", &[])
        .await
        .unwrap();
    let e = r
        .query("select * from launchguard.vercel_seen", &[])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    // The API roles reach none of it, and cannot become the writer.
    for role in ["anon", "authenticated"] {
        for sql in [
            "select * from launchguard.vercel_traffic_minutely",
            "insert into launchguard.vercel_seen values (now(), 2)",
            "select * from launchguard.vercel_cron_runs",
            "set role launchguard_drain_writer",
        ] {
            assert_eq!(
                as_role(&pg, role, sql).await,
                Some(SqlState::INSUFFICIENT_PRIVILEGE),
                "{role}: {sql}"
            );
        }
    }

    // check --connect: ok; a traffic view of the founder's own that leaves the drain out is a
    // warning (and applying the migrations again leaves it alone); a writer that cannot write
    // is down, with the reason.
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let (ok, line) = check(&cfg, &pg);
    assert!(
        ok && line.contains(" ok ") && line.contains("writes as launchguard_drain_writer"),
        "{line}"
    );
    pg.psql(
        "create or replace view launchguard.traffic_minutely as
         select t.bucket, t.requests, t.errors, t.bytes_out, t.p95_ms, t.lat_le_100, t.lat_le_250,
                t.lat_le_500, t.lat_le_1000, t.lat_le_2000, t.lat_le_5000, t.lat_le_inf
           from public.http_traffic_minutely t;
         comment on view launchguard.traffic_minutely is 'ours';",
    );
    pg.apply_migrations();
    let view = pg.psql("select pg_get_viewdef('launchguard.traffic_minutely')");
    assert!(
        !view.contains("vercel_traffic_minutely"),
        "a founder's view was replaced: {view}"
    );
    let (ok, line) = check(&cfg, &pg);
    assert!(
        ok && line.contains("warning")
            && line.contains("does not read launchguard.vercel_traffic_minutely"),
        "{line}"
    );
    pg.psql("revoke insert on launchguard.vercel_traffic_minutely from launchguard_drain_writer");
    let (ok, line) = check(&cfg, &pg);
    assert!(!ok, "{line}");
    assert!(
        line.contains("down")
            && line.contains("permission denied for table vercel_traffic_minutely"),
        "{line}"
    );
    // Off when not enabled.
    let off = dir.path().join("off.yaml");
    std::fs::write(&off, "vercel_drain:\n  enabled: false\n").unwrap();
    let (_, line) = check(&off, &pg);
    assert!(line.contains(" off "), "{line}");
}
