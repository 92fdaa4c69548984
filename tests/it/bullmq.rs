//! BullMQ as the job source: real BullMQ (npm, pinned in tests/bullmq/package.json) adds,
//! processes, fails, delays, prioritizes and pauses jobs on a real redis-server; the real
//! launchguard binary reads the queues' keys and must give exact job figures on /metrics, the
//! visual job risk they make, and the guard's queue rule acting on them. Needs node (npm ci in
//! tests/bullmq, done by scripts/install-deps.sh), redis-server and PostgreSQL 15 (the guard
//! decides only on a fresh database snapshot).

use crate::common::guard_server as gs;
use crate::common::pg;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use gs::{Redis, Server, post};

/// What BullMQ itself reported after driving the queues (tests/bullmq/drive.js).
struct Driven {
    json: serde_json::Value,
}

impl Driven {
    fn count(&self, queue: &str, state: &str) -> f64 {
        self.json[queue][state]
            .as_f64()
            .unwrap_or_else(|| panic!("{queue}.{state} in {}", self.json))
    }
}

fn drive(redis: &Redis) -> Driven {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bullmq");
    assert!(
        dir.join("node_modules/bullmq").is_dir(),
        "BullMQ is not installed: run `npm ci` in tests/bullmq (scripts/install-deps.sh does)"
    );
    let out = Command::new("node")
        .arg("drive.js")
        .current_dir(&dir)
        .env("REDIS_PORT", redis.port.to_string())
        .output()
        .expect("node (scripts/install-deps.sh installs nodejs)");
    assert!(
        out.status.success(),
        "drive.js failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = serde_json::from_slice(&out.stdout).expect("drive.js prints JSON");
    Driven { json }
}

fn config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("launchguard.yaml");
    let text = format!(
        "tier: growth\n\
         database:\n  url: ${{SUPABASE_DB_URL}}\n  interval: 1s\n  timeout: 10s\n\
         jobs_from: bullmq\n\
         bullmq:\n  redis_url: ${{BULLMQ_REDIS_URL}}\n  queues: [render, mail]\n  visual_queues: [render]\n  interval: 1s\n  timeout: 5s\n\
         thresholds:\n  queue_depth: {{warning: 5, critical: 8}}\n\
         guard:\n  state_file: {}\n",
        dir.join("guard-state.json").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn wait_metric(s: &Server, sample: &str, want: f64) {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let v = s.metric(sample).await;
        if v == Some(want) {
            return;
        }
        assert!(
            Instant::now() < until,
            "{sample} is {v:?}, want {want}\n{}",
            s.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_bullmq_queues_give_exact_job_figures_and_the_guard_acts_on_them() {
    let pg = pg::TestPg::start();
    let mut redis = Redis::start();
    let d = drive(&redis);
    assert_eq!(d.json["version"], "6.7.0", "the pinned BullMQ ran");
    // What BullMQ says it holds: the state the assertions below are about.
    for (state, n) in [
        ("waiting", 3.0),
        ("prioritized", 2.0),
        ("delayed", 2.0),
        ("active", 1.0),
        ("completed", 2.0),
        ("failed", 2.0),
    ] {
        assert_eq!(d.count("render", state), n, "render.{state}: {}", d.json);
    }
    assert_eq!(d.count("mail", "waiting"), 3.0);
    assert_eq!(d.json["mailPaused"], true);
    let ms: Vec<f64> = d.json["processing_ms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(ms.len(), 4);
    let mean = ms.iter().sum::<f64>() / 4000.0;
    // The job due in 200 ms stays in `delayed` (the only worker is busy): due, not promoted.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let env = [
        ("SUPABASE_DB_URL", pg.reader_url()),
        ("BULLMQ_REDIS_URL", redis.url()),
        ("LAUNCHGUARD_ADMIN_TOKEN", gs::ADMIN_TOKEN.to_string()),
        ("LAUNCHGUARD_CALLER_TOKEN", gs::CALLER_TOKEN.to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let s = Server::start(&cfg, &env).await;

    // render: 3 waiting + 2 prioritized + 1 due delayed = 6; mail (paused): 3 waiting.
    wait_metric(&s, "launchguard_queue_depth", 9.0).await;
    let m = |sample: &'static str| {
        let s = &s;
        async move { s.metric(sample).await }
    };
    assert_eq!(m("launchguard_jobs_running").await, Some(1.0));
    assert_eq!(m("launchguard_visual_jobs_queued").await, Some(6.0));
    assert_eq!(
        m("launchguard_visual_jobs_failed_last_hour").await,
        Some(2.0)
    );
    let got = m("launchguard_visual_job_processing_seconds")
        .await
        .unwrap();
    assert!((got - mean).abs() < 1e-9, "mean processing {got} != {mean}");
    // 0.4 x 6/50 + 0.3 x 2/10 + 0.3 x mean/60.
    let risk = 0.4 * 6.0 / 50.0 + 0.3 * 2.0 / 10.0 + 0.3 * (mean / 60.0).min(1.0);
    let got = m("launchguard_visual_job_risk_ratio").await.unwrap();
    assert!((got - risk).abs() < 1e-9, "risk {got} != {risk}");
    for (state, n) in [
        ("waiting", 3.0),
        ("prioritized", 2.0),
        ("delayed", 2.0),
        ("delayed_due", 1.0),
        ("active", 1.0),
    ] {
        let sample = format!("launchguard_bullmq_queue_jobs{{queue=\"render\",state=\"{state}\"}}");
        assert_eq!(s.metric(&sample).await, Some(n), "{sample}");
    }
    assert_eq!(
        m("launchguard_bullmq_queue_paused{queue=\"mail\"}").await,
        Some(1.0)
    );
    assert_eq!(
        m("launchguard_bullmq_queue_paused{queue=\"render\"}").await,
        Some(0.0)
    );
    assert_eq!(
        m("launchguard_bullmq_queue_finished_last_hour{queue=\"render\",result=\"failed\"}").await,
        Some(2.0)
    );

    // Depth 9 is past the critical 8: the guard pauses job intake, but not AI calls.
    let c = reqwest::Client::new();
    let (status, v, _) = post(
        &c,
        &s.url("/api/v1/guard/admit"),
        r#"{"client_id":"c1","kind":"job"}"#.to_string(),
    )
    .await;
    assert_eq!(
        (status, v["decision"].as_str(), v["reason"].as_str()),
        (429, Some("deny"), Some("queue_pause_intake")),
        "{v}"
    );
    let (_, v, _) = post(&c, &s.url("/api/v1/guard/admit"), gs::admit_body("c1")).await;
    assert_eq!(v["decision"], "allow", "{v}");

    // Redis goes away: the source is reported down and its last figures stay (never zero).
    redis.stop();
    wait_metric(&s, "launchguard_source_up{source=\"bullmq\"}", 0.0).await;
    assert_eq!(m("launchguard_queue_depth").await, Some(9.0));
    // It comes back (empty: no persistence) and the source recovers by itself.
    redis.start_again();
    wait_metric(&s, "launchguard_source_up{source=\"bullmq\"}", 1.0).await;
    wait_metric(&s, "launchguard_queue_depth", 0.0).await;
    let logs = s.log_text();
    assert!(logs.contains("source recovered"), "{logs}");
}
