//! Benchmark of the Vercel drain receiver's pure path on one core: signature verification,
//! gunzip, parsing and planning of a delivery, in entries per second, against a baseline run in
//! the same process on the same body: serde_json parsing it into `serde_json::Value` (what a
//! receiver that just parses the JSON does). `scripts/bench-vercel-drain.sh` runs it in release.
//!
//!   cargo run --release --example bench_vercel_drain -- [ENTRIES_PER_DELIVERY] [SECONDS]

use std::io::Write;
use std::time::{Duration, Instant};

use launchguard::config::vercel::VercelDrain;
use launchguard::ingest::vercel::receiver::process_checked;
use launchguard::ingest::vercel::verify::sign;

const SECRET: &[u8] = b"bench-secret";

/// A realistic delivery: lambda requests with several log lines and REPORT lines, static
/// assets, edge requests; about 700 bytes an entry, as in Vercel's documented example.
fn body(n: usize, now_ms: i64, ndjson: bool) -> Vec<u8> {
    let mut entries = Vec::with_capacity(n);
    for i in 0..n {
        let req = i / 3;
        let ts = now_ms - 60_000 + (i as i64 % 60_000);
        let (source, path, msg) = match i % 6 {
            0 | 1 => (
                "lambda",
                format!("/api/render/{}", req % 50),
                "render queued for client acme".to_string(),
            ),
            2 => (
                "lambda",
                format!("/api/render/{}", req % 50),
                format!(
                    "START RequestId: {req} Version: $LATEST\\nEND RequestId: {req}\\nREPORT RequestId: {req}\\tDuration: {}.25 ms\\tBilled Duration: 10 ms\\tMemory Size: 1024 MB\\tMax Memory Used: 147 MB\\t\\n",
                    20 + i % 900
                ),
            ),
            3 | 4 => (
                "static",
                format!("/_next/static/chunks/{}.js", i % 40),
                String::new(),
            ),
            _ => (
                "edge",
                "/api/edge/geo".to_string(),
                "geo lookup".to_string(),
            ),
        };
        entries.push(format!(
            r#"{{"id":"17960410829401250000{i:08}","deploymentId":"dpl_5WJWYSyB7BpgTj3EuwF37WMRBXBt","source":"{source}","host":"app-k3j2.vercel.app","timestamp":{ts},"projectId":"prj_QsCPB0Xv1nYhNwC4o2xYDk6Yb4pK","projectName":"studio","level":"info","type":"stdout","message":"{msg}","entrypoint":"api/render.js","path":"{path}","requestId":"fra1::iad1::8x7kd-{ts}-{req:012x}","statusCode":200,"environment":"production","executionRegion":"iad1","proxy":{{"timestamp":{ts},"method":"POST","host":"app.example.com","path":"{path}?client=acme","userAgent":["Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)"],"region":"fra1","referer":"https://app.example.com/","statusCode":200,"clientIp":"203.0.113.7","scheme":"https","responseByteSize":{bytes},"pathType":"func","vercelCache":"MISS","lambdaRegion":"iad1","vercelId":"fra1::iad1::8x7kd-{ts}-{req:012x}"}}}}"#,
            bytes = 1000 + i % 5000
        ));
    }
    if ndjson {
        let mut s = entries.join("\n");
        s.push('\n');
        s.into_bytes()
    } else {
        format!("[{}]", entries.join(",")).into_bytes()
    }
}

/// Runs `f` repeatedly for about `secs` seconds; returns the best deliveries per second over
/// runs of a tenth of that (the least disturbed by other work on the machine).
fn rate(secs: f64, mut f: impl FnMut() -> usize) -> f64 {
    let slice = Duration::from_secs_f64(secs / 10.0);
    let mut best = 0.0f64;
    for _ in 0..10 {
        let start = Instant::now();
        let mut done = 0usize;
        while start.elapsed() < slice {
            std::hint::black_box(f());
            done += 1;
        }
        best = best.max(done as f64 / start.elapsed().as_secs_f64());
    }
    best
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let secs: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let now = chrono::Utc::now().timestamp_millis();
    let cfg = VercelDrain::default();
    let json = body(n, now, false);
    let ndjson = body(n, now, true);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&json).unwrap();
    let gz = gz.finish().unwrap();
    let sig_json = sign(SECRET, &json);
    let sig_nd = sign(SECRET, &ndjson);
    let sig_gz = sign(SECRET, &gz);
    // Sanity: each body plans every entry.
    for (b, s) in [(&json, &sig_json), (&ndjson, &sig_nd), (&gz, &sig_gz)] {
        let p = process_checked(b, None, SECRET, s, &cfg, now).expect("a valid delivery");
        assert_eq!(p.entries.used as usize, n);
    }
    println!(
        "delivery: {n} entries, {} bytes JSON ({} per entry), {} bytes gzip; one core, best of 10 runs of {:.1} s",
        json.len(),
        json.len() / n,
        gz.len(),
        secs / 10.0
    );
    let baseline = rate(secs, || {
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        v.as_array().map_or(0, |a| a.len())
    });
    let mut rows = vec![(
        "baseline: serde_json::from_slice::<Value> (parse only)",
        baseline,
    )];
    for (name, b, s) in [
        (
            "receiver, JSON array (verify + parse + plan)",
            &json,
            &sig_json,
        ),
        ("receiver, NDJSON (verify + parse + plan)", &ndjson, &sig_nd),
        (
            "receiver, gzip JSON (verify + gunzip + parse + plan)",
            &gz,
            &sig_gz,
        ),
    ] {
        let r = rate(secs, || {
            process_checked(b, None, SECRET, s, &cfg, now)
                .map(|p| p.items.len())
                .unwrap_or(0)
        });
        rows.push((name, r));
    }
    println!("{:<58} {:>14} {:>10}", "path", "entries/s", "x baseline");
    for (name, deliveries_per_s) in rows {
        let entries = deliveries_per_s * n as f64;
        println!(
            "{name:<58} {entries:>14.0} {:>10.2}",
            deliveries_per_s / baseline
        );
    }
    println!("target: >= 50000 entries/s per core for every receiver path");
}
