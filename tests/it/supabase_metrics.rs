//! Supabase's own metrics: the client against a local fake of the project's metrics endpoint
//! (wiremock, serving a body in Supabase's documented metric names: tests/fixtures/
//! supabase-metrics.prom, after supabase/supabase-grafana's sample), the plan usage and headroom
//! it gives, 401 and timeouts reported down without the key, and the real binary exposing the
//! figures on /metrics.

use crate::common::exporter;

use std::time::Duration;

use base64::Engine;
use launchguard::config::supabase_metrics::SupabaseMetrics;
use launchguard::config::{Dur, SecretRef};
use launchguard::core::supabase_plan;
use launchguard::sources::supabase_metrics::{fetch, parse};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sb_secret_test_0123456789abcdefSECRET";
const ENV: &str = "LG_TEST_SUPABASE_METRICS_KEY";
const PATH: &str = "/customer/v1/privileged/metrics";

fn body() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/supabase-metrics.prom"
    ))
    .unwrap()
}

fn basic(key: &str) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(format!("service_role:{key}"));
    format!("Basic {b}")
}

async fn fake() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(PATH))
        .and(header("authorization", basic(KEY).as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/plain; version=0.0.4")
                .set_body_string(body()),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(PATH))
        .respond_with(ResponseTemplate::new(401).set_body_string("Unauthorized"))
        .mount(&server)
        .await;
    server
}

/// The key in a file of its own (`file:` secret), kept until the test ends.
fn key_file(key: &str) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), key).unwrap();
    f
}

fn cfg(url: String, key: &tempfile::NamedTempFile) -> SupabaseMetrics {
    SupabaseMetrics {
        enabled: true,
        url: Some(url),
        service_role_key: SecretRef::File(key.path().to_path_buf()),
        timeout: Dur::from_secs(1),
        plan: "pro".into(),
        ..SupabaseMetrics::default()
    }
}

#[tokio::test]
async fn the_fake_endpoint_gives_exact_plan_usage_memory_and_connections() {
    let key = key_file(KEY);
    let server = fake().await;
    let c = cfg(format!("{}{PATH}", server.uri()), &key);
    let got = fetch(&c).await.expect("the fake answers the right key");
    let now = chrono::Utc::now();
    let f = parse(&got, &c.disk_mountpoint, now, None);
    // postgres + template0 + template1.
    assert_eq!(
        f.database_size_bytes,
        Ok(1_893_752_832 + 7_631_367 + 7_709_191)
    );
    let s = supabase_plan::assess(&c, &f).unwrap();
    // Pro: database size over 8 GB, /data used over the 8 GB included and over its size.
    let used = 8_350_298_112u64 - 6_132_817_920;
    assert_eq!(s.disk_used_bytes, Some(used));
    assert_eq!(
        s.parts,
        vec![
            ("database_size", 1_909_093_390.0 / 8e9),
            ("disk", used as f64 / 8e9),
            ("disk_volume", used as f64 / 8_350_298_112.0),
        ]
    );
    assert_eq!(s.plan_usage, Some(used as f64 / 8e9));
    assert_eq!(
        s.memory_used_ratio,
        Some(1.0 - 341_622_784.0 / 1_003_167_744.0)
    );
    assert_eq!(s.connections, Some((23, 60)));
    // One read gives no CPU share; a second read with the counters moved does.
    assert_eq!(s.cpu_busy_ratio, None);
    let cpu = f.cpu.clone().unwrap();
    assert_eq!(cpu.idle_seconds, 812_345.12 + 809_876.44);
    let later = body()
        .replace("812345.12", "812395.12")
        .replace("809876.44", "809926.44")
        .replace("40211.9", "40261.9")
        .replace("41002.3", "41052.3");
    let f2 = parse(
        later.as_bytes(),
        "/data",
        now + chrono::Duration::seconds(60),
        Some((now, cpu)),
    );
    let s2 = supabase_plan::assess(&c, &f2).unwrap();
    // 100 s idle of 200 s across both CPUs.
    assert_eq!(s2.cpu_busy_ratio, Some(0.5));

    // Free: the database size alone is 3.8 times the 500 MB the plan allows.
    let free = SupabaseMetrics {
        plan: "free".into(),
        ..c.clone()
    };
    let s = supabase_plan::assess(&free, &f).unwrap();
    assert_eq!(s.plan_usage, Some(1_909_093_390.0 / 5e8));
}

#[tokio::test]
async fn a_refused_key_and_a_slow_endpoint_are_down_without_the_key() {
    const WRONG: &str = "sb_secret_WRONG_key_0123456789";
    let wrong = key_file(WRONG);
    let server = fake().await;
    let e = fetch(&cfg(format!("{}{PATH}", server.uri()), &wrong))
        .await
        .unwrap_err();
    assert_eq!(e.reason, "auth", "{e}");
    let text = format!("{e} {e:?}");
    assert!(
        !text.contains(WRONG) && !text.contains(&basic(WRONG)),
        "{text}"
    );

    // Slower than the timeout (1 s), on every attempt.
    let slow = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(body())
                .set_delay(Duration::from_secs(5)),
        )
        .mount(&slow)
        .await;
    let started = std::time::Instant::now();
    let e = fetch(&cfg(format!("{}{PATH}", slow.uri()), &wrong))
        .await
        .unwrap_err();
    assert_eq!(e.reason, "timeout", "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the timeout"
    );

    // A body past max_body_bytes is an error, not a truncated read.
    let c = SupabaseMetrics {
        max_body_bytes: 1024,
        ..cfg(format!("{}{PATH}", server.uri()), &wrong)
    };
    let big = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string(body()))
        .mount(&big)
        .await;
    let e = fetch(&SupabaseMetrics {
        url: Some(format!("{}{PATH}", big.uri())),
        ..c
    })
    .await
    .unwrap_err();
    assert_eq!(e.reason, "too_large", "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exposes_the_plan_headroom_and_reports_a_refused_key_down() {
    let server = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("launchguard.yaml");
    std::fs::write(
        &config,
        format!(
            "supabase_metrics:\n  enabled: true\n  url: {}{PATH}\n  service_role_key: ${{{ENV}}}\n  plan: pro\n",
            server.uri()
        ),
    )
    .unwrap();
    let e = exporter::Exporter::start(Some(&config), &[(ENV, KEY)]);
    let used = (8_350_298_112u64 - 6_132_817_920) as f64;
    e.wait_for(Duration::from_secs(20), "the plan headroom", |m| {
        m.contains_key("launchguard_supabase_plan_headroom_ratio")
    });
    let m = e.metrics();
    let v = |k: &str| exporter::value(&m, k);
    assert_eq!(
        v("launchguard_supabase_plan_headroom_ratio"),
        1.0 - used / 8e9
    );
    assert_eq!(
        v("launchguard_supabase_plan_usage_ratio{part=\"database_size\"}"),
        1_909_093_390.0 / 8e9
    );
    assert_eq!(
        v("launchguard_supabase_database_size_bytes"),
        1_909_093_390.0
    );
    assert_eq!(v("launchguard_supabase_disk_bytes{state=\"used\"}"), used);
    assert_eq!(v("launchguard_supabase_connections{state=\"max\"}"), 60.0);
    assert_eq!(v("launchguard_source_up{source=\"supabase_metrics\"}"), 1.0);
    // The catalogue figure: the largest part (disk, 27.7%) is below the 70% warning.
    assert_eq!(
        v("launchguard_figure_value{figure=\"supabase_plan\"}"),
        used / 8e9
    );
    assert_eq!(v("launchguard_figure_level{figure=\"supabase_plan\"}"), 0.0);
    drop(e);

    // The same with a key the endpoint refuses: down, and the key in no log line.
    const BAD: &str = "sb_secret_refused_0123456789XYZ";
    let e = exporter::Exporter::start(Some(&config), &[(ENV, BAD)]);
    e.wait_for(Duration::from_secs(20), "the source down", |m| {
        m.get("launchguard_source_up{source=\"supabase_metrics\"}") == Some(&0.0)
    });
    let m = e.metrics();
    assert!(!m.contains_key("launchguard_supabase_plan_headroom_ratio"));
    let logs = e.logs();
    assert!(logs.contains("supabase_metrics"), "{logs}");
    assert!(!logs.contains(BAD) && !logs.contains(&basic(BAD)), "{logs}");
}
