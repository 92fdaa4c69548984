//! `launchguard strain` end to end: the real binary against a target server the test starts on
//! loopback, whose latency, error rate and concurrency the test controls; the report checked
//! against its JSON schema; the exporter reading a real run's report (with a real Redis for the
//! observed checklist item) and a real Pushgateway receiving a push.

#[path = "common/target.rs"]
mod target;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use target::TestTarget;

#[path = "common/port.rs"]
mod port;
use port::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_launchguard");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    dir: tempfile::TempDir,
}

impl Run {
    fn report(&self) -> Value {
        let path = newest_report(&self.dir.path().join("reports"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }
}

fn newest_report(dir: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("no report directory {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files.pop().expect("a report was written")
}

fn write_config(dir: &Path, yaml: &str) -> PathBuf {
    let p = dir.join("launchguard.yaml");
    std::fs::write(&p, yaml).unwrap();
    p
}

fn command(cfg: &Path, dir: &Path, base_url: &str, args: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(BIN);
    c.arg("strain")
        .arg("--base-url")
        .arg(base_url)
        .arg("--config")
        .arg(cfg)
        .arg("--report-dir")
        .arg(dir.join("reports"))
        .args(args)
        .env_remove("LAUNCHGUARD_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

async fn strain(yaml: &str, base_url: &str, args: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), yaml);
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        command(&cfg, dir.path(), base_url, args).output(),
    )
    .await
    .expect("strain run ended within a minute")
    .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        dir,
    }
}

/// A config whose ai_load scenario sends GET `path` at `rate` requests per second.
fn one_scenario(rate: u32, path: &str, extra: &str) -> String {
    format!(
        "strain:\n{extra}  scenarios:\n    ai_load:\n      rate: {rate}\n      requests:\n        - path: {path}\n"
    )
}

fn verdict<'a>(report: &'a Value, scenario: usize, threshold: &str) -> &'a Value {
    report["scenarios"][scenario]["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["threshold"] == threshold)
        .unwrap_or_else(|| panic!("no {threshold} verdict"))
}

fn failed_thresholds(report: &Value, scenario: usize) -> Vec<String> {
    report["scenarios"][scenario]["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["passed"] == false)
        .map(|v| v["threshold"].as_str().unwrap().to_string())
        .collect()
}

/// Validates a report against docs/strain-report.schema.json (formats asserted).
fn check_schema(report: &Value) {
    if let Err(e) = schema_errors(report) {
        panic!("report does not match its schema: {e}");
    }
}

fn schema_errors(report: &Value) -> Result<(), String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/strain-report.schema.json"
    );
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let id = schema["$id"].as_str().unwrap().to_string();
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    compiler.add_resource(&id, schema).unwrap();
    let idx = compiler.compile(&id, &mut schemas).unwrap();
    schemas.validate(report, idx).map_err(|e| format!("{e:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_target_passes_every_threshold_and_the_report_round_trips_its_schema() {
    let t = TestTarget::start(1000).await;
    let run = strain(
        &one_scenario(40, "/delay/2", ""),
        &t.url(),
        &["--scenario", "ai_load", "--duration", "2s", "--junit"],
    )
    .await;
    // --junit needs a value: clap refuses the command line with exit 2 and no load.
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(t.hits(), 0);

    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let run = strain(
        &one_scenario(40, "/delay/2", ""),
        &t.url(),
        &[
            "--scenario",
            "ai_load",
            "--duration",
            "2s",
            "--junit",
            junit.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let r = run.report();
    assert!(
        failed_thresholds(&r, 0).is_empty(),
        "{:#}",
        r["scenarios"][0]["verdicts"]
    );
    assert_eq!(r["passed"], true);
    assert_eq!(r["pass_ratio"], 1.0);
    let stats = &r["scenarios"][0]["stats"];
    assert_eq!(stats["counts"]["sent"], 80, "{stats:#}");
    assert_eq!(stats["counts"]["ok"], 80);
    assert_eq!(t.hits(), 80, "the reachability check sends no request");
    let achieved = stats["achieved_rate"].as_f64().unwrap();
    assert!((achieved - 40.0).abs() / 40.0 <= 0.05, "{achieved}");
    let p95 = stats["latency_ms"]["corrected"]["p95"].as_f64().unwrap();
    assert!((2.0..500.0).contains(&p95), "{p95}");
    // The summary table names every threshold's verdict.
    assert!(run.stdout.contains("response_time"), "{}", run.stdout);
    assert!(
        run.stdout.contains("suite custom: 1/1 scenarios passed"),
        "{}",
        run.stdout
    );

    // Schema, then a round trip through the Rust types without loss.
    check_schema(&r);
    let mut broken = r.clone();
    broken["scenarios"][0]["verdicts"][0]["threshold"] = "latency".into();
    assert!(
        schema_errors(&broken).is_err(),
        "the schema checks verdict names"
    );
    broken = r.clone();
    broken.as_object_mut().unwrap().remove("finished_at");
    assert!(
        schema_errors(&broken).is_err(),
        "the schema requires every field"
    );
    let typed: launchguard::strain::report::Report = serde_json::from_value(r.clone()).unwrap();
    assert_eq!(serde_json::to_value(&typed).unwrap(), r);
    // The config that produced it is in the report, secrets only as references.
    assert_eq!(r["config"]["strain"]["scenarios"]["ai_load"]["rate"], 40.0);
    assert_eq!(r["config"]["database"]["url"], "${SUPABASE_DB_URL}");

    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 5, "{xml}");
    assert!(xml.contains("failures=\"0\""), "{xml}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_endpoint_fails_latency_and_the_corrected_p95_shows_it() {
    let t = TestTarget::start(1000).await;
    // 10 requests/s against 3 s answers: 20 connections carry 6.7/s, so half the requests
    // start about a second late. Few answers come back within the window.
    let run = strain(
        &one_scenario(10, "/delay/3000", ""),
        &t.url(),
        &["--scenario", "ai_load", "--duration", "4s"],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.report();
    let v = verdict(&r, 0, "response_time");
    assert_eq!(v["passed"], false, "{v:#}");
    let lat = &r["scenarios"][0]["stats"]["latency_ms"];
    let corrected = lat["corrected"]["p95"].as_f64().unwrap();
    let raw = lat["raw"]["p95"].as_f64().unwrap();
    assert!(corrected >= 3900.0, "corrected p95 {corrected} ms");
    assert!(
        raw < 3300.0,
        "raw p95 {raw} ms: the server itself takes 3 s"
    );
    let counts = &r["scenarios"][0]["stats"]["counts"];
    assert!(counts["late"].as_u64().unwrap() >= 5, "{counts:#}");
    assert!(
        counts["answered_in_window"].as_u64().unwrap() <= 12,
        "{counts:#}"
    );
    check_schema(&r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_percent_errors_fail_the_error_threshold_only() {
    let t = TestTarget::start(1000).await;
    let run = strain(
        &one_scenario(30, "/fail/10", ""),
        &t.url(),
        &["--scenario", "ai_load", "--duration", "2s"],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.report();
    assert_eq!(failed_thresholds(&r, 0), ["error_rate"]);
    let ratio = r["scenarios"][0]["stats"]["error_ratio"].as_f64().unwrap();
    assert!((ratio - 0.1).abs() < 1e-9, "{ratio}");
    assert_eq!(r["scenarios"][0]["stats"]["statuses"]["500"], 6);
    assert!(run.stdout.contains("FAIL"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_capping_its_concurrency_fails_throughput() {
    // One request at a time, 150 ms each: the target sustains 6.7/s of the 20/s asked.
    let t = TestTarget::start(1).await;
    let run = strain(
        &one_scenario(20, "/capped/150", "  request_timeout: 2s\n"),
        &t.url(),
        &["--scenario", "ai_load", "--duration", "3s"],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.report();
    let stats = &r["scenarios"][0]["stats"];
    let achieved = stats["achieved_rate"].as_f64().unwrap();
    assert!(achieved < 8.0, "achieved {achieved}/s of 20/s");
    let failed = failed_thresholds(&r, 0);
    assert!(failed.contains(&"throughput".to_string()), "{failed:?}");
    assert!(failed.contains(&"achieved_rate".to_string()), "{failed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_host_is_refused_without_the_allow_list() {
    let run = strain(
        &one_scenario(10, "/", ""),
        "http://93.184.216.34:8080",
        &["--scenario", "ai_load", "--duration", "1s"],
    )
    .await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("strain.allowed_hosts"),
        "{}",
        run.stderr
    );
    assert!(
        !run.dir.path().join("reports").exists(),
        "nothing ran, nothing reported"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounds_are_enforced_before_any_load() {
    let t = TestTarget::start(1000).await;
    let run = strain(
        &one_scenario(50, "/", "  rate_cap: 20\n"),
        &t.url(),
        &["--scenario", "ai_load", "--duration", "1s"],
    )
    .await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("rate_cap"), "{}", run.stderr);
    let run = strain(
        &one_scenario(50, "/", "  max_requests: 100\n"),
        &t.url(),
        &["--scenario", "ai_load", "--duration", "3s"],
    )
    .await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("max_requests"), "{}", run.stderr);
    assert_eq!(t.hits(), 0);
    // A config error names the file, line and field.
    let run = strain("strain:\n  rate_cap: -1\n", &t.url(), &[]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("launchguard.yaml:2:3: field `strain.rate_cap`"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_within_the_grace_period_and_still_writes_a_valid_report() {
    let t = TestTarget::start(1000).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &one_scenario(20, "/delay/1500", "  grace: 1s\n"),
    );
    let child = command(
        &cfg,
        dir.path(),
        &t.url(),
        &["--suite", "hard_launch", "--duration", "30s"],
    )
    .spawn()
    .unwrap();
    // Let it send for a while, then interrupt.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let pid = child.id().unwrap().to_string();
    let sent_at = Instant::now();
    let st = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(st.success());
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("stopped within the grace period")
        .unwrap();
    let took = sent_at.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "took {took:?} with a 1 s grace"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let text = std::fs::read_to_string(newest_report(&dir.path().join("reports"))).unwrap();
    let r: Value = serde_json::from_str(&text).unwrap();
    check_schema(&r);
    assert_eq!(r["complete"], false);
    assert_eq!(r["stop_reason"], "interrupted");
    assert_eq!(r["passed"], false);
    assert_eq!(r["scenarios"][0]["status"], "interrupted");
    assert_eq!(r["scenarios"][1]["status"], "not_run");
    assert_eq!(r["scenarios"][2]["status"], "not_run");
    let c = &r["scenarios"][0]["stats"]["counts"];
    assert!(c["sent"].as_u64().unwrap() >= 20, "{c:#}");
    // Requests still waiting for 1.5 s answers were cut off after the grace period.
    let window = r["scenarios"][0]["stats"]["window_seconds"]
        .as_f64()
        .unwrap();
    assert!((2.0..4.0).contains(&window), "{window}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_from_prometheus_is_judged_and_no_data_fails() {
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let t = TestTarget::start(1000).await;
    let prom = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/query"))
        .and(query_param("query", "sut_memory_ratio"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "status": "success",
            "data": {"resultType": "vector", "result": [
                {"metric": {"instance": "app-1"}, "value": [1.7e9, "0.52"]},
                {"metric": {"instance": "app-2"}, "value": [1.7e9, "0.91"]}
            ]}
        })))
        .mount(&prom)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/query"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "status": "success", "data": {"resultType": "vector", "result": []}
        })))
        .mount(&prom)
        .await;
    let args = [
        "--scenario",
        "ai_load",
        "--duration",
        "2s",
        "--prometheus-url",
        &prom.uri(),
    ];
    let run = strain(
        &one_scenario(20, "/", "  memory_query: sut_memory_ratio\n"),
        &t.url(),
        &args,
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.report();
    assert_eq!(failed_thresholds(&r, 0), ["memory"]);
    assert_eq!(verdict(&r, 0, "memory")["value"], 0.91);
    assert_eq!(r["scenarios"][0]["stats"]["memory"]["source"], "prometheus");

    let run = strain(
        &one_scenario(20, "/", "  memory_query: absent_metric\n"),
        &t.url(),
        &args,
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.report();
    let v = verdict(&r, 0, "memory");
    assert_eq!(
        (&v["passed"], &v["reason"]),
        (&Value::Bool(false), &Value::from("no data"))
    );
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis(port: u16) -> Child {
    let child = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server (Debian package redis-server) must be installed");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Child(child)
}

async fn metric(url: &str, line_prefix: &str) -> Option<f64> {
    let text = reqwest::get(url).await.ok()?.text().await.ok()?;
    text.lines()
        .find(|l| l.starts_with(line_prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn wait_metric(url: &str, line_prefix: &str, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = metric(url, line_prefix).await;
        if got == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{line_prefix} is {got:?}, wanted {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exporter_exports_readiness_from_a_real_runs_report() {
    let t = TestTarget::start(1000).await;
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    let yaml = format!(
        "strain:
  report_dir: {}
  refresh: 1s
  scenarios:
    ai_load: {{rate: 20, requests: [{{path: /delay/1}}]}}
    visual_jobs: {{rate: 20, requests: [{{method: POST, path: /delay/1, body: '{{\"n\": {{{{seq}}}}}}'}}]}}
    concurrent_users: {{vus: 15, think_time: 1s, requests: [{{path: '/delay/1?user={{{{vu}}}}'}}]}}
upgrade_checklist:
  hard_launch:
    done: [error_tracking, webhook_retries, log_aggregation]
",
        reports.display()
    );
    let cfg = write_config(dir.path(), &yaml);
    let out = command(
        &cfg,
        dir.path(),
        &t.url(),
        &["--suite", "hard_launch", "--duration", "1s"],
    )
    .output()
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );

    let redis_port = free_port();
    let redis = start_redis(redis_port);
    let listen = format!("127.0.0.1:{}", free_port());
    let serve = Child(
        std::process::Command::new(BIN)
            .args([
                "serve",
                "--config",
                cfg.to_str().unwrap(),
                "--listen",
                &listen,
            ])
            // Port 6543 is Supabase's transaction pooler: the pooler item is observed done.
            .env(
                "SUPABASE_DB_URL",
                "postgres://reader:pw@127.0.0.1:6543/postgres",
            )
            .env("REDIS_URL", format!("redis://127.0.0.1:{redis_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://{listen}/metrics");
    wait_metric(
        &url,
        "launchguard_tier_upgrade_ready{target=\"hard_launch\"}",
        1.0,
    )
    .await;
    wait_metric(
        &url,
        "launchguard_strain_pass_ratio{suite=\"hard_launch\"}",
        1.0,
    )
    .await;
    for s in ["ai_load", "visual_jobs", "concurrent_users"] {
        let p =
            format!("launchguard_strain_scenario_passed{{suite=\"hard_launch\",scenario=\"{s}\"}}");
        wait_metric(&url, &p, 1.0).await;
    }
    let ts = metric(
        &url,
        "launchguard_strain_last_run_timestamp_seconds{suite=\"hard_launch\"}",
    )
    .await
    .unwrap();
    let now = chrono::Utc::now().timestamp() as f64;
    assert!((now - 120.0..=now + 1.0).contains(&ts), "{ts} vs {now}");
    wait_metric(
        &url,
        "launchguard_upgrade_checklist_done{target=\"hard_launch\",item=\"redis\"}",
        1.0,
    )
    .await;
    wait_metric(
        &url,
        "launchguard_upgrade_checklist_done{target=\"hard_launch\",item=\"connection_pooler\"}",
        1.0,
    )
    .await;
    // Growth has no suite run and nothing marked done.
    wait_metric(
        &url,
        "launchguard_tier_upgrade_ready{target=\"growth\"}",
        0.0,
    )
    .await;
    wait_metric(
        &url,
        "launchguard_upgrade_checklist_done{target=\"growth\",item=\"cdn\"}",
        0.0,
    )
    .await;

    // The Redis item is checked, not trusted: with Redis gone, readiness is lost.
    drop(redis);
    wait_metric(
        &url,
        "launchguard_upgrade_checklist_done{target=\"hard_launch\",item=\"redis\"}",
        0.0,
    )
    .await;
    wait_metric(
        &url,
        "launchguard_tier_upgrade_ready{target=\"hard_launch\"}",
        0.0,
    )
    .await;
    drop(serve);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_are_pushed_to_a_real_pushgateway() {
    let t = TestTarget::start(1000).await;
    let port = free_port();
    let gw = Child(
        std::process::Command::new("prometheus-pushgateway")
            .args([&format!("--web.listen-address=127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "prometheus-pushgateway (Debian package prometheus-pushgateway) must be installed",
            ),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "pushgateway did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let gw_url = format!("http://127.0.0.1:{port}");
    let run = strain(
        &one_scenario(20, "/fail/10", ""),
        &t.url(),
        &[
            "--scenario",
            "ai_load",
            "--duration",
            "1s",
            "--pushgateway",
            &gw_url,
        ],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("pushed to the Pushgateway"),
        "{}",
        run.stderr
    );
    let text = reqwest::get(format!("{gw_url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = |name: &str| {
        text.lines()
            .find(|l| {
                l.starts_with(name)
                    && l.contains("job=\"launchguard_strain\"")
                    && l.contains("suite=\"custom\"")
            })
            .unwrap_or_else(|| panic!("{name} not on the Pushgateway:\n{text}"))
            .to_string()
    };
    assert!(line("launchguard_strain_pass_ratio{").ends_with(" 0"));
    assert!(line("launchguard_strain_scenario_passed{").contains("scenario=\"ai_load\""));
    line("launchguard_strain_last_run_timestamp_seconds{");
    drop(gw);
}

/// An https target on loopback with a self-signed certificate for 127.0.0.1.
async fn start_tls_target() -> (std::net::SocketAddr, String, tokio::task::JoinHandle<()>) {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = CertificateDer::from(ck.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(
                        http_body_util::Full::new(bytes::Bytes::from_static(b"ok")),
                    ))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, ck.cert.pem(), task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_target_is_verified_against_the_configured_ca() {
    let (addr, ca_pem, task) = start_tls_target().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    let url = format!("https://{addr}");
    let args = ["--scenario", "ai_load", "--duration", "2s"];
    let extra = format!("  ca_file: {}\n", ca.display());
    let run = strain(&one_scenario(20, "/", &extra), &url, &args).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let r = run.report();
    assert_eq!(r["scenarios"][0]["stats"]["counts"]["ok"], 40);
    // Without the CA the certificate is refused before any load: a target error.
    let run = strain(&one_scenario(20, "/", ""), &url, &args).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("cannot reach"), "{}", run.stderr);
    task.abort();
}
