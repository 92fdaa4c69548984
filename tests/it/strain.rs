//! `launchguard strain` end to end: the real binary against a target server the test starts on
//! loopback, whose latency, error rate and concurrency the test controls; the report checked
//! against its JSON schema; the exporter reading a real run's report (with a real Redis for the
//! observed checklist item) and a real Pushgateway receiving a push.

use crate::common::target;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use target::TestTarget;

use crate::common::port;
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
    let out = run_in(dir.path(), yaml, base_url, args, Duration::from_secs(60)).await;
    Run {
        code: out.code,
        stdout: out.stdout,
        stderr: out.stderr,
        dir,
    }
}

/// What one run printed, and its report (the newest file of the report directory).
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
    report: Option<Value>,
}

impl Out {
    fn report(&self) -> &Value {
        self.report.as_ref().expect("a report was written")
    }

    fn show(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }
}

/// Runs `launchguard strain` with the config `yaml` in `dir` (reports in `dir`/reports, kept
/// between runs), bounded by `limit`.
async fn run_in(dir: &Path, yaml: &str, base_url: &str, args: &[&str], limit: Duration) -> Out {
    let cfg = write_config(dir, yaml);
    let out = tokio::time::timeout(limit, command(&cfg, dir, base_url, args).output())
        .await
        .expect("strain run ended within its limit")
        .unwrap();
    let reports = dir.join("reports");
    let report = reports.exists().then(|| {
        serde_json::from_str(&std::fs::read_to_string(newest_report(&reports)).unwrap()).unwrap()
    });
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        report,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_from_supabase_metrics_records_the_database_memory() {
    use base64::Engine;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    const KEY: &str = "sb_secret_strain_0123456789abcdef";
    let t = TestTarget::start(1000).await;
    let supabase = MockServer::start().await;
    let body = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/supabase-metrics.prom"
    ))
    .unwrap();
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("service_role:{KEY}"))
    );
    Mock::given(method("GET"))
        .and(path("/customer/v1/privileged/metrics"))
        .and(header("authorization", auth.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_string(body))
        .mount(&supabase)
        .await;
    let yaml = format!(
        "supabase_metrics:\n  url: {}/customer/v1/privileged/metrics\n  service_role_key: ${{LG_STRAIN_SUPABASE_KEY}}\n{}",
        supabase.uri(),
        one_scenario(
            20,
            "/",
            "  memory_source: supabase\n  memory_interval: 5s\n  thresholds:\n    memory_ratio: 0.6\n"
        )
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &yaml);
    let args = ["--scenario", "ai_load", "--duration", "2s"];
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        command(&cfg, dir.path(), &t.url(), &args)
            .env("LG_STRAIN_SUPABASE_KEY", KEY)
            .output(),
    )
    .await
    .expect("strain run ended within its limit")
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let r: Value = serde_json::from_str(
        &std::fs::read_to_string(newest_report(&dir.path().join("reports"))).unwrap(),
    )
    .unwrap();
    check_schema(&r);
    // The database machine's memory, 1 - MemAvailable / MemTotal, judged against 0.6.
    let want = 1.0 - 341_622_784.0 / 1_003_167_744.0;
    let stats = &r["scenarios"][0]["stats"]["memory"];
    assert_eq!(stats["source"], "supabase", "{stderr}");
    assert_eq!(stats["max_ratio"].as_f64(), Some(want), "{stats}");
    assert_eq!(verdict(&r, 0, "memory")["value"].as_f64(), Some(want));
    assert_eq!(failed_thresholds(&r, 0), ["memory"]);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains(KEY));
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

/// A hard_launch suite defined as three 2-second steps at 50%, so a full run matches its own
/// suite's definition and takes seconds. ai_load goes to /tunable, which the test can make fail.
fn tiny_suite(reports: &Path) -> String {
    format!(
        "strain:
  report_dir: {}
  refresh: 1s
  scenarios:
    ai_load: {{rate: 40, requests: [{{path: /tunable}}]}}
    visual_jobs: {{rate: 40, requests: [{{method: POST, path: /delay/1, body: '{{\"n\": {{{{seq}}}}}}'}}]}}
    concurrent_users: {{vus: 30, think_time: 1s, requests: [{{path: '/delay/1?user={{{{vu}}}}'}}]}}
  suites:
    hard_launch:
      - {{scenario: ai_load, intensity: 50, duration: 2s}}
      - {{scenario: visual_jobs, intensity: 50, duration: 2s}}
      - {{scenario: concurrent_users, intensity: 50, duration: 2s}}
upgrade_checklist:
  hard_launch:
    done: [error_tracking, webhook_retries, log_aggregation]
",
        reports.display()
    )
}

/// `launchguard serve` on a free loopback port with `cfg`; its database URL goes through port
/// 6543 (Supabase's pooler: the pooler item is observed done) and its Redis is `redis_port`.
fn serve(cfg: &Path, redis_port: u16) -> (Child, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let child = Child(
        std::process::Command::new(BIN)
            .args([
                "serve",
                "--config",
                cfg.to_str().unwrap(),
                "--listen",
                &listen,
            ])
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
    (child, format!("http://{listen}"))
}

fn unix_seconds(report: &Value) -> f64 {
    let t: chrono::DateTime<chrono::Utc> = report["finished_at"].as_str().unwrap().parse().unwrap();
    t.timestamp_millis() as f64 / 1000.0
}

/// A schema_version 1 report, as launchguard wrote it before rehearsals existed.
fn as_v1(report: &Value) -> Value {
    let mut v1 = report.clone();
    let top = v1.as_object_mut().unwrap();
    for k in [
        "rehearsal",
        "rehearsal_reasons",
        "abort_on_fail",
        "previous_run",
        "regression_ratio",
        "capacity_rule",
    ] {
        top.remove(k);
    }
    top.insert("schema_version".into(), 1.into());
    for sc in v1["scenarios"].as_array_mut().unwrap() {
        let o = sc.as_object_mut().unwrap();
        for k in ["early_stop", "comparison", "capacity"] {
            o.remove(k);
        }
    }
    v1
}

/// A run of the hard_launch suite with `extra` flags, in `dir`.
async fn hard_launch(dir: &Path, yaml: &str, url: &str, extra: &[&str]) -> Out {
    let mut args = vec!["--suite", "hard_launch"];
    args.extend_from_slice(extra);
    run_in(dir, yaml, url, &args, Duration::from_secs(60)).await
}

const HL_READY: &str = "launchguard_tier_upgrade_ready{target=\"hard_launch\"}";
const HL_REHEARSAL: &str = "launchguard_strain_rehearsal{suite=\"hard_launch\"}";
const HL_RATIO: &str = "launchguard_strain_pass_ratio{suite=\"hard_launch\"}";
const HL_TS: &str = "launchguard_strain_last_run_timestamp_seconds{suite=\"hard_launch\"}";
const HL_70: &str =
    "launchguard_upgrade_checklist_done{target=\"hard_launch\",item=\"strain_all_pass_70\"}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rehearsals_never_count_and_readiness_needs_a_real_run_at_70_percent() {
    let t = TestTarget::start(1000).await;
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    let yaml = tiny_suite(&reports);
    let cfg_path = write_config(dir.path(), &yaml);
    let redis_port = free_port();
    let redis = start_redis(redis_port);
    let (exporter, base) = serve(&cfg_path, redis_port);
    let url = format!("{base}/metrics");
    let limit = Duration::from_secs(60);

    // 1. A rehearsal: every step 1 s of the suite's 2 s. It passes, and says it never counts.
    let junit = dir.path().join("rehearsal.xml");
    let j = junit.to_str().unwrap().to_string();
    let args = ["--suite", "hard_launch", "--duration", "1s", "--junit", &j];
    let out = run_in(dir.path(), &yaml, &t.url(), &args, limit).await;
    assert_eq!(out.code, 0, "{}", out.show());
    let r = out.report().clone();
    check_schema(&r);
    assert_eq!(r["rehearsal"], true);
    assert_eq!(r["passed"], true, "a rehearsal is still judged");
    assert_eq!(
        r["rehearsal_reasons"][0], "ai_load ran 1 s of the suite's 2 s",
        "{r:#}"
    );
    assert_eq!(r["rehearsal_reasons"].as_array().unwrap().len(), 3);
    assert!(
        out.stdout.contains("REHEARSAL: this run never counts"),
        "{}",
        out.show()
    );
    assert!(
        out.stdout.contains("suite hard_launch (rehearsal): 3/3"),
        "{}",
        out.show()
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuite name=\"strain.hard_launch.rehearsal\""),
        "{xml}"
    );
    assert!(
        xml.contains("<property name=\"rehearsal\" value=\"true\"/>"),
        "{xml}"
    );
    wait_metric(&url, HL_REHEARSAL, 1.0).await;
    wait_metric(&url, HL_READY, 0.0).await;
    assert_eq!(
        metric(&url, HL_RATIO).await,
        None,
        "a rehearsal measures nothing"
    );
    let page = reqwest::get(&base).await.unwrap().text().await.unwrap();
    assert!(page.contains("data-rehearsal=\"1\""), "{page}");
    assert!(page.contains("Not measured yet"), "{page}");

    // A report written before rehearsals existed (schema_version 1, no flag) is still read,
    // and the exporter recognises the rehearsal from its steps and its own config.
    let v1 = as_v1(&r);
    check_schema(&v1);
    let old = tempfile::tempdir().unwrap();
    let name = newest_report(&reports).file_name().unwrap().to_owned();
    std::fs::write(old.path().join(&name), serde_json::to_string(&v1).unwrap()).unwrap();
    let cfg = launchguard::config::load_file(&cfg_path).unwrap();
    let runs = launchguard::sources::strain_reports::newest_per_suite(old.path(), &cfg).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].rehearsal,
        [
            "ai_load ran 1 s of the suite's 2 s",
            "visual_jobs ran 1 s of the suite's 2 s",
            "concurrent_users ran 1 s of the suite's 2 s"
        ]
    );

    // 2. The full suite as defined: it counts, but its 50% steps do not validate at 70%.
    let out = hard_launch(dir.path(), &yaml, &t.url(), &[]).await;
    assert_eq!(out.code, 0, "{}", out.show());
    check_schema(out.report());
    assert_eq!(out.report()["rehearsal"], false);
    assert_eq!(out.report()["rehearsal_reasons"], serde_json::json!([]));
    assert!(!out.stdout.contains("REHEARSAL"), "{}", out.show());
    assert!(!out.stdout.contains("validation at 70%"), "{}", out.show());
    wait_metric(&url, HL_REHEARSAL, 0.0).await;
    wait_metric(&url, HL_RATIO, 1.0).await;
    wait_metric(&url, HL_70, 0.0).await;
    wait_metric(&url, HL_READY, 0.0).await;

    // 3. At 60%: a real run (heavier than the suite), still not the seed's 70%.
    let out = hard_launch(dir.path(), &yaml, &t.url(), &["--intensity", "60"]).await;
    assert_eq!(out.code, 0, "{}", out.show());
    assert_eq!(out.report()["rehearsal"], false);
    let ts60 = unix_seconds(out.report());
    wait_metric(&url, HL_TS, ts60).await;
    assert_eq!(metric(&url, HL_70).await, Some(0.0));

    // 4. At 70% with one scenario failing (ai_load gets 25% errors): not validated.
    t.set_tunable(Duration::ZERO, 4);
    let out = hard_launch(dir.path(), &yaml, &t.url(), &["--intensity", "70"]).await;
    assert_eq!(out.code, 1, "{}", out.show());
    assert_eq!(failed_thresholds(out.report(), 0), ["error_rate"]);
    assert!(
        out.stdout.contains("not every one passed"),
        "{}",
        out.show()
    );
    wait_metric(&url, HL_TS, unix_seconds(out.report())).await;
    assert_eq!(metric(&url, HL_70).await, Some(0.0));
    assert_eq!(metric(&url, HL_READY).await, Some(0.0));

    // 5. At 70% with every scenario passing: the item is done, and with it readiness.
    t.set_tunable(Duration::ZERO, 0);
    let out = hard_launch(dir.path(), &yaml, &t.url(), &["--intensity", "70"]).await;
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(
        out.stdout
            .contains("passed: marks strain_all_pass_70 for hard_launch"),
        "{}",
        out.show()
    );
    let ts70 = unix_seconds(out.report());
    wait_metric(&url, HL_70, 1.0).await;
    wait_metric(&url, HL_READY, 1.0).await;
    for s in ["ai_load", "visual_jobs", "concurrent_users"] {
        let p =
            format!("launchguard_strain_scenario_passed{{suite=\"hard_launch\",scenario=\"{s}\"}}");
        wait_metric(&url, &p, 1.0).await;
    }
    wait_metric(
        &url,
        "launchguard_upgrade_checklist_done{target=\"hard_launch\",item=\"connection_pooler\"}",
        1.0,
    )
    .await;

    // 6. A newer failing rehearsal changes nothing but its own flag.
    t.set_tunable(Duration::ZERO, 2);
    let out = hard_launch(dir.path(), &yaml, &t.url(), &["--duration", "1s"]).await;
    assert_eq!(out.code, 1, "{}", out.show());
    assert_eq!(out.report()["rehearsal"], true);
    t.set_tunable(Duration::ZERO, 0);
    wait_metric(&url, HL_REHEARSAL, 1.0).await;
    assert_eq!(metric(&url, HL_READY).await, Some(1.0));
    assert_eq!(metric(&url, HL_RATIO).await, Some(1.0));
    assert_eq!(metric(&url, HL_TS).await, Some(ts70));
    let page = reqwest::get(&base).await.unwrap().text().await.unwrap();
    assert!(
        page.contains("data-rehearsal=\"1\"") && page.contains("data-readiness=\"ready\""),
        "{page}"
    );

    // Growth has no suite run and nothing marked done.
    wait_metric(
        &url,
        "launchguard_tier_upgrade_ready{target=\"growth\"}",
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
    wait_metric(&url, HL_READY, 0.0).await;
    drop(exporter);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_search_finds_the_capacity_of_a_one_at_a_time_path() {
    // /paced/10 serves one request at a time in exactly 10 ms: 100 requests/s at most.
    let t = TestTarget::start(1000).await;
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    let yaml = format!(
        "strain:
  report_dir: {}
  refresh: 1s
  request_timeout: 2s
  thresholds: {{response_time: 500ms}}
  capacity: {{start_intensity: 25, step_duration: 2s, cooldown: 2s}}
  scenarios:
    ai_load: {{rate: 100, requests: [{{path: /paced/10}}]}}
",
        reports.display()
    );
    let junit = dir.path().join("capacity.xml");
    let args = [
        "--find-capacity",
        "--scenario",
        "ai_load",
        "--junit",
        junit.to_str().unwrap(),
    ];
    let out = run_in(dir.path(), &yaml, &t.url(), &args, Duration::from_secs(150)).await;
    assert_eq!(out.code, 0, "{}", out.show());
    let r = out.report();
    check_schema(r);
    assert_eq!(r["suite"], "capacity");
    let c = &r["scenarios"][0]["capacity"];
    let rps = c["requests_per_second"].as_f64().unwrap();
    assert!(
        (90.0..=110.0).contains(&rps),
        "capacity {rps}, known 100: {c:#}"
    );
    assert_eq!(c["limited_by"], "threshold", "{c:#}");
    let failing = c["first_failing_rate"].as_f64().unwrap();
    assert!(
        failing > rps && (failing - rps) / rps <= 0.05 + 1e-9,
        "{c:#}"
    );
    assert_eq!(c["full_rate"], 100.0);
    let steps = c["steps"].as_array().unwrap();
    let rates: Vec<f64> = steps
        .iter()
        .map(|s| s["target_rate"].as_f64().unwrap())
        .collect();
    assert_eq!(&rates[..3], [25.0, 50.0, 100.0], "{rates:?}");
    // Abort-on-fail is on for a search: a step at twice the capacity stopped early.
    let early: Vec<&Value> = steps
        .iter()
        .filter(|s| !s["early_stop"].is_null())
        .collect();
    assert!(!early.is_empty(), "{c:#}");
    for s in &early {
        assert_eq!(s["passed"], false);
        let e = &s["early_stop"];
        assert!(e["after_requests"].as_u64().unwrap() < e["planned_requests"].as_u64().unwrap());
    }
    assert_eq!(r["capacity_rule"]["abort_on_fail"], true);
    assert!(out.stdout.contains("ai_load: capacity"), "{}", out.show());
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("name=\"capacity\"") && xml.contains("failures=\"0\""),
        "{xml}"
    );

    // The exporter exports it with the report's time.
    let (exporter, base) = serve(&write_config(dir.path(), &yaml), free_port());
    let url = format!("{base}/metrics");
    wait_metric(
        &url,
        "launchguard_strain_capacity_requests_per_second{scenario=\"ai_load\"}",
        rps,
    )
    .await;
    assert_eq!(
        metric(
            &url,
            "launchguard_strain_last_run_timestamp_seconds{suite=\"capacity\"}"
        )
        .await,
        Some(unix_seconds(r))
    );
    assert_eq!(
        metric(
            &url,
            "launchguard_strain_capacity_bounded{scenario=\"ai_load\"}"
        )
        .await,
        Some(0.0)
    );
    assert_eq!(
        metric(&url, "launchguard_strain_pass_ratio{suite=\"capacity\"}").await,
        None
    );
    drop(exporter);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_on_fail_stops_a_step_once_its_failure_is_certain() {
    let t = TestTarget::start(1000).await;
    // Half the requests fail: past 50 errors of the 1000 planned, error_rate cannot pass.
    let run = strain(
        &one_scenario(50, "/fail/2", "  abort_on_fail: true\n"),
        &t.url(),
        &["--scenario", "ai_load", "--duration", "20s"],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.report();
    check_schema(&r);
    assert_eq!(r["abort_on_fail"], true);
    let sc = &r["scenarios"][0];
    assert_eq!(sc["status"], "failed");
    let e = &sc["early_stop"];
    assert_eq!(e["threshold"], "error_rate", "{e:#}");
    assert_eq!(e["planned_requests"], 1000);
    assert_eq!(e["allowed_bad_requests"], 50);
    assert!(e["bad_requests"].as_u64().unwrap() > 50, "{e:#}");
    assert!(e["after_requests"].as_u64().unwrap() <= 500, "{e:#}");
    assert!(e["after_seconds"].as_f64().unwrap() < 20.0, "{e:#}");
    assert!(sc["stats"]["window_seconds"].as_f64().unwrap() < 20.0);
    assert_eq!(verdict(&r, 0, "error_rate")["passed"], false);
    assert_eq!(
        r["complete"], true,
        "a certain failure is a finished verdict"
    );
    assert!(
        run.stdout.contains("ai_load stopped early after"),
        "{}",
        run.stdout
    );

    // Latency: every answer takes 3 s against a 1 s limit; past 10 slow of 200 planned, p95
    // cannot stay within it.
    let run = strain(
        &one_scenario(
            10,
            "/delay/3000",
            "  abort_on_fail: true\n  thresholds: {response_time: 1s}\n",
        ),
        &t.url(),
        &["--scenario", "ai_load", "--duration", "20s"],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.report();
    let e = &r["scenarios"][0]["early_stop"];
    assert_eq!(e["threshold"], "response_time", "{e:#}");
    assert_eq!(e["allowed_bad_requests"], 10);
    assert!(e["after_seconds"].as_f64().unwrap() < 20.0, "{e:#}");
    assert_eq!(verdict(&r, 0, "response_time")["passed"], false);

    // Off by default for a suite or scenario run: the failing step runs its whole window.
    let run = strain(
        &one_scenario(50, "/fail/2", ""),
        &t.url(),
        &["--scenario", "ai_load", "--duration", "2s"],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.report();
    assert_eq!(r["abort_on_fail"], false);
    assert!(r["scenarios"][0]["early_stop"].is_null());
    assert_eq!(r["scenarios"][0]["stats"]["window_seconds"], 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slower_target_is_flagged_against_the_previous_run() {
    let t = TestTarget::start(1000).await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = one_scenario(20, "/tunable", "  regression_ratio: 0.5\n");
    let args = ["--scenario", "ai_load", "--duration", "2s"];
    let limit = Duration::from_secs(60);
    t.set_tunable(Duration::from_millis(2), 0);
    let first = run_in(dir.path(), &yaml, &t.url(), &args, limit).await;
    assert_eq!(first.code, 0, "{}", first.show());
    assert!(first.report()["previous_run"].is_null());
    let first_file = newest_report(&dir.path().join("reports"));

    t.set_tunable(Duration::from_millis(150), 0);
    // (The verdict is not the point here: answers to the last requests of the window come
    // after it closes, which may fail achieved_rate.)
    let second = run_in(dir.path(), &yaml, &t.url(), &args, limit).await;
    assert!(second.code == 0 || second.code == 1, "{}", second.show());
    let r = second.report();
    check_schema(r);
    assert_eq!(
        r["previous_run"]["file"],
        first_file.file_name().unwrap().to_str().unwrap()
    );
    assert_eq!(r["regression_ratio"], 0.5);
    let c = &r["scenarios"][0]["comparison"];
    assert_eq!(c["same_load"], true, "{c:#}");
    assert_eq!(c["regressions"], serde_json::json!(["p95_ms"]), "{c:#}");
    assert!(c["p95_ms"]["change_ratio"].as_f64().unwrap() > 0.5, "{c:#}");
    assert!(
        second.stdout.contains("REGRESSION: p95_ms"),
        "{}",
        second.show()
    );

    // The same slow target again: no regression against the slow run.
    let third = run_in(dir.path(), &yaml, &t.url(), &args, limit).await;
    let c = &third.report()["scenarios"][0]["comparison"];
    assert_eq!(c["regressions"], serde_json::json!([]), "{c:#}");
    assert!(!third.stdout.contains("REGRESSION"), "{}", third.show());
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
    assert!(line("launchguard_strain_rehearsal{").ends_with(" 0"));

    // A rehearsal goes to its own group, so it never replaces the real run's figures.
    let dir = tempfile::tempdir().unwrap();
    let yaml = tiny_suite(&dir.path().join("reports"));
    let args = [
        "--suite",
        "hard_launch",
        "--duration",
        "1s",
        "--pushgateway",
        &gw_url,
    ];
    let out = run_in(dir.path(), &yaml, &t.url(), &args, Duration::from_secs(60)).await;
    assert_eq!(out.code, 0, "{}", out.show());
    let text = reqwest::get(format!("{gw_url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rehearsal = text
        .lines()
        .find(|l| {
            l.starts_with("launchguard_strain_rehearsal{") && l.contains("suite=\"hard_launch\"")
        })
        .unwrap_or_else(|| panic!("no rehearsal flag on the Pushgateway:\n{text}"));
    assert!(
        rehearsal.contains("kind=\"rehearsal\"") && rehearsal.ends_with(" 1"),
        "{rehearsal}"
    );
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
