//! The exporter against a real PostgreSQL 15 with pg_cron, the shipped migrations and a
//! hand-computed dataset: exact metric values over HTTP, and the failures it must survive.
//! Needs the Debian packages postgresql-15 and postgresql-15-cron (a missing one fails).

use crate::common::dataset;
use crate::common::exporter;
use crate::common::pg;

use std::time::Duration;

use chrono::{DateTime, Utc};
use exporter::{Exporter, value};
use pg::TestPg;

const WAIT: Duration = Duration::from_secs(30);

fn load_dataset(pg: &TestPg, now: DateTime<Utc>) {
    pg.psql_query(&dataset::sql(now));
}

fn config(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let p = dir.join("launchguard.yaml");
    std::fs::write(
        &p,
        format!("database:\n  interval: 1s\n  timeout: 10s\n{extra}"),
    )
    .unwrap();
    p
}

fn up(m: &std::collections::BTreeMap<String, f64>) -> bool {
    m.get("launchguard_source_up{source=\"supabase\"}") == Some(&1.0)
}

#[test]
fn exact_figures_from_a_hand_computed_dataset() {
    let pg = TestPg::start();
    let now = Utc::now();
    load_dataset(&pg, now);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let url = pg.reader_url();
    let ex = Exporter::start(Some(&cfg), &[("SUPABASE_DB_URL", &url)]);
    let m = ex.wait_for(WAIT, "the first collection", up);
    dataset::assert_exact(&m, now, 50.0);
    assert!(ex.get("/readyz").unwrap().0 == 200);
}

#[test]
fn scrape_is_clean_openmetrics_for_promtool() {
    let pg = TestPg::start();
    load_dataset(&pg, Utc::now());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let ex = Exporter::start(Some(&cfg), &[("SUPABASE_DB_URL", &pg.reader_url())]);
    ex.wait_for(WAIT, "the first collection", up);
    let (status, ctype, body) = ex.get("/metrics").unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        ctype,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let promtool = which("promtool", "prometheus");
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.trim().is_empty(),
        "promtool check metrics:\n{text}"
    );
}

/// A binary the test needs, or a failure naming the Debian package.
pub fn which(bin: &str, package: &str) -> std::path::PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(bin))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| panic!("`{bin}` not found: install the Debian package {package}"))
}

#[test]
fn database_down_then_back_keeps_values_and_recovers() {
    let mut pg = TestPg::start();
    load_dataset(&pg, Utc::now());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let mut ex = Exporter::start(Some(&cfg), &[("SUPABASE_DB_URL", &pg.reader_url())]);
    ex.wait_for(WAIT, "the first collection", up);

    pg.stop();
    let m = ex.wait_for(WAIT, "the source to be reported down", |m| {
        m.get("launchguard_source_up{source=\"supabase\"}") == Some(&0.0)
    });
    // The last good figures stay, with their age visible through the last success time.
    assert_eq!(value(&m, "launchguard_queue_depth"), 65.0);
    let errors: f64 = m
        .iter()
        .filter(|(k, _)| k.starts_with("launchguard_source_errors_total{source=\"supabase\""))
        .map(|(_, v)| v)
        .sum();
    assert!(errors >= 1.0, "{m:#?}");
    assert!(ex.alive());

    pg.start_again();
    ex.wait_for(WAIT, "the source to recover", up);
    let logs = ex.logs();
    assert_eq!(
        logs.matches("source down").count(),
        1,
        "one line per failure:\n{logs}"
    );
    assert_eq!(logs.matches("source recovered").count(), 1, "{logs}");
}

#[test]
fn slow_query_and_dropped_table_make_only_their_figures_absent() {
    let pg = TestPg::start();
    load_dataset(&pg, Utc::now());
    pg.psql_query("alter role launchguard_reader set statement_timeout = '300ms'");
    pg.psql_query("drop view launchguard.traffic_minutely");
    let dir = tempfile::tempdir().unwrap();
    // The jobs query replaced by one that outlives the statement timeout.
    let cfg = config(
        dir.path(),
        "  queries:\n    jobs:\n      sql: select 1::bigint as queued from pg_sleep(2)\n",
    );
    let ex = Exporter::start(Some(&cfg), &[("SUPABASE_DB_URL", &pg.reader_url())]);
    let m = ex.wait_for(WAIT, "the first collection", up);
    let avail = |f: &str| {
        value(
            &m,
            &format!(r#"launchguard_figure_available{{figure="{f}"}}"#),
        )
    };
    assert_eq!(avail("jobs"), 0.0);
    assert_eq!(avail("traffic"), 0.0);
    assert_eq!(avail("bandwidth"), 0.0);
    assert_eq!(avail("active_clients"), 1.0);
    assert_eq!(avail("usage"), 1.0);
    assert!(!m.contains_key("launchguard_queue_depth"));
    assert!(!m.contains_key("launchguard_api_error_ratio"));
    assert_eq!(
        value(&m, r#"launchguard_tier_usage{resource="clients"}"#),
        3.0
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_launchguard"))
        .args(["check", "--connect", "--config"])
        .arg(&cfg)
        .env("SUPABASE_DB_URL", pg.reader_url())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("statement timeout"), "{text}");
    assert!(text.contains("missing table or view"), "{text}");
    assert!(
        text.contains("active_clients     ok         3 active"),
        "{text}"
    );
}

#[test]
fn wrong_password_is_reported_without_the_password() {
    let pg = TestPg::start();
    let bad = pg
        .reader_url()
        .replace("launchguard_reader:", "launchguard_reader:Wr0ngSecret");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let ex = Exporter::start(Some(&cfg), &[("SUPABASE_DB_URL", &bad)]);
    let m = ex.wait_for(WAIT, "an auth error", |m| {
        m.get(r#"launchguard_source_errors_total{source="supabase",reason="auth"}"#)
            .is_some()
    });
    assert_eq!(
        value(&m, r#"launchguard_source_up{source="supabase"}"#),
        0.0
    );
    assert_eq!(ex.get("/readyz").unwrap().0, 200, "tried once is ready");
    let logs = ex.logs();
    assert!(logs.contains("password authentication failed"), "{logs}");
    assert!(!logs.contains("Wr0ngSecret"), "{logs}");
    let (_, _, body) = ex.get("/metrics").unwrap();
    assert!(!body.contains("Wr0ngSecret"));
}

#[test]
fn invalid_config_exits_2_naming_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.yaml");
    std::fs::write(
        &p,
        "tier: hard_launch\nthresholds:\n  queue_depth:\n    warning: 500\n    critical: 200\n",
    )
    .unwrap();
    for cmd in ["serve", "check"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_launchguard"))
            .args([cmd, "--config"])
            .arg(&p)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = String::from_utf8_lossy(&out.stderr);
        let want = format!(
            "{}:4:5: field `thresholds.queue_depth.warning`: warning must not be above critical",
            p.display()
        );
        assert!(err.contains(&want), "{cmd}: {err}");
    }
}

#[test]
fn reload_on_sighup_and_file_change_keeps_running_config_when_bad() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let ex = Exporter::start(Some(&cfg), &[]);
    ex.wait_for(WAIT, "the soft launch tier", |m| {
        m.get(r#"launchguard_tier_info{tier="soft_launch"}"#) == Some(&1.0)
    });

    // A bad file: the running config stays and the reload is reported failed.
    std::fs::write(&cfg, "tier: platinum\n").unwrap();
    ex.signal("HUP");
    let m = ex.wait_for(WAIT, "a failed reload", |m| {
        m.get("launchguard_config_last_reload_successful") == Some(&0.0)
    });
    assert_eq!(
        value(&m, r#"launchguard_tier_info{tier="soft_launch"}"#),
        1.0
    );
    assert!(ex.logs().contains("platinum"), "{}", ex.logs());

    // A good file, noticed without a signal: the file watcher reloads it.
    std::fs::write(&cfg, "tier: growth\ndatabase:\n  interval: 1s\n").unwrap();
    let m = ex.wait_for(WAIT, "the growth tier", |m| {
        m.get(r#"launchguard_tier_info{tier="growth"}"#) == Some(&1.0)
    });
    assert_eq!(value(&m, "launchguard_config_last_reload_successful"), 1.0);
    assert_eq!(
        value(&m, r#"launchguard_tier_limit{resource="clients"}"#),
        100.0
    );
}

#[test]
fn tls_connection_verified_against_the_configured_ca() {
    let pg = TestPg::start();
    load_dataset(&pg, Utc::now());
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    pg.enable_tls(&ck.cert.pem(), &ck.signing_key.serialize_pem());
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, ck.cert.pem()).unwrap();
    let url = pg
        .reader_url()
        .replace("sslmode=disable", "sslmode=require");

    // With the server's CA configured, the TLS connection is verified and figures flow.
    let cfg = config(dir.path(), &format!("  ca_file: {}\n", ca.display()));
    let ex = Exporter::start(Some(&cfg), &[("SUPABASE_DB_URL", &url)]);
    let m = ex.wait_for(WAIT, "a TLS collection", up);
    assert_eq!(
        value(&m, r#"launchguard_tier_usage{resource="clients"}"#),
        3.0
    );
    drop(ex);

    // Without it the certificate is refused: down, with the reason in the log, no panic.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let cfg = config(&other, "");
    let ex = Exporter::start(Some(&cfg), &[("SUPABASE_DB_URL", &url)]);
    ex.wait_for(WAIT, "the untrusted certificate to be refused", |m| {
        m.get(r#"launchguard_source_errors_total{source="supabase",reason="connect"}"#)
            .is_some()
    });
    assert!(
        ex.logs().to_lowercase().contains("certificate"),
        "{}",
        ex.logs()
    );
}
