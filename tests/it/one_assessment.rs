//! One assessment (issue 13): every number the founder sees is derived once. A founder's budget
//! override changes, in one step, the guard's decisions, the budget metrics the alerts read and
//! the status page; a configured upgrade pass ratio is what the status page and the dashboard
//! ask for. Real binary, real seeded PostgreSQL (needs postgresql-15 and postgresql-15-cron).

use crate::common::guard_server as gs;
use crate::common::pg;

use std::process::Command;

use gs::{ADMIN_TOKEN, CALLER_TOKEN, Server, admit_body, post};

/// A config whose daily budget ($0.01) today's seeded spend has long passed, collected once at
/// start and then not for five minutes: whatever changes below changes without a collection.
fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("launchguard.yaml");
    let text = format!(
        "tier: growth\n\
         budgets:\n  daily_usd: 0.01\n  monthly_usd: 1000000\n  client_daily_usd: 1000\n\
         database:\n  url: ${{SUPABASE_DB_URL}}\n  interval: 5m\n  timeout: 10s\n\
         guard:\n  state_file: {}\n",
        dir.join("guard-state.json").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn page(c: &reqwest::Client, s: &Server) -> String {
    c.get(s.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_override_changes_guard_metrics_and_status_page_together() {
    let pg = pg::TestPg::start_seeded();
    let dir = tempfile::tempdir().unwrap();
    let url = pg.reader_url();
    let env = [
        ("SUPABASE_DB_URL", url.as_str()),
        ("LAUNCHGUARD_ADMIN_TOKEN", ADMIN_TOKEN),
        ("LAUNCHGUARD_CALLER_TOKEN", CALLER_TOKEN),
    ];
    let s = Server::start(&config(dir.path()), &env).await;
    let c = reqwest::Client::new();
    let admit = s.url("/api/v1/guard/admit");
    let m = |sample: &'static str| {
        let s = &s;
        async move { s.metric(sample).await }
    };

    // Before: the configured $0.01 is exceeded everywhere at once.
    let (st, j, _) = post(&c, &admit, admit_body("acme")).await;
    assert_eq!(
        (st, j["reason"].as_str()),
        (429, Some("budget_daily_exceeded")),
        "{j}"
    );
    assert_eq!(
        m(r#"launchguard_budget_usd{scope="daily"}"#).await,
        Some(0.01)
    );
    assert_eq!(
        m(r#"launchguard_budget_state{scope="daily",state="exceeded"}"#).await,
        Some(1.0)
    );
    let spent = m(r#"launchguard_budget_spent_usd{scope="daily"}"#)
        .await
        .expect("today's spend is read");
    assert!(
        spent > 0.01,
        "the seed spends more than $0.01 today: {spent}"
    );
    let before = page(&c, &s).await;
    assert!(
        before.contains(r#"data-scope="daily" data-state="exceeded""#),
        "{before}"
    );
    assert!(!before.contains("data-override"), "no override yet");

    // The founder raises today's budget to $1,000 for an hour.
    let r = c
        .put(s.url("/api/v1/admin/budgets/daily"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"budget_usd": "1000", "for": "1h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // After, with no new collection and no wait: the guard admits, the alerts' inputs follow
    // the budget in force, and the page says what is in force and why.
    let (st, j, _) = post(&c, &admit, admit_body("acme")).await;
    assert_eq!((st, j["decision"].as_str()), (200, Some("allow")), "{j}");
    assert_eq!(
        m(r#"launchguard_budget_usd{scope="daily"}"#).await,
        Some(1000.0)
    );
    let ratio = m(r#"launchguard_budget_used_ratio{scope="daily"}"#)
        .await
        .unwrap();
    assert!(
        (ratio - spent / 1000.0).abs() < 1e-9,
        "{ratio} vs {spent}/1000"
    );
    assert_eq!(
        m(r#"launchguard_budget_state{scope="daily",state="ok"}"#).await,
        Some(1.0)
    );
    let after = page(&c, &s).await;
    assert!(
        after.contains(r#"data-scope="daily" data-state="ok""#),
        "{after}"
    );
    assert!(after.contains(r#"data-override="daily""#), "{after}");
    assert!(
        after.contains("$1,000.00") || after.contains("$1000.00"),
        "{after}"
    );
    assert!(after.contains("configured: $0.01"), "{after}");

    // Cleared: the configured budget is in force again, everywhere, at once.
    let r = c
        .delete(s.url("/api/v1/admin/budgets/daily"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (st, j, _) = post(&c, &admit, admit_body("acme")).await;
    assert_eq!(
        (st, j["reason"].as_str()),
        (429, Some("budget_daily_exceeded")),
        "{j}"
    );
    assert_eq!(
        m(r#"launchguard_budget_usd{scope="daily"}"#).await,
        Some(0.01)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_upgrade_pass_ratio_is_what_page_and_dashboard_ask_for() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("launchguard.yaml");
    std::fs::write(
        &cfg,
        format!(
            "strain:\n  upgrade_pass_ratio: 0.9\n  report_dir: {}\n",
            dir.path().join("reports").display()
        ),
    )
    .unwrap();

    // The dashboard: the strain pass panel turns green at 90% and says so.
    let out = dir.path().join("kit");
    let st = Command::new(env!("CARGO_BIN_EXE_launchguard"))
        .args(["render", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(st.status.success(), "{st:?}");
    let d: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("dashboards/launchguard-founder.json")).unwrap(),
    )
    .unwrap();
    let panel = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["title"] == "Strain pass rate")
        .expect("the strain pass panel");
    let steps = &panel["fieldConfig"]["defaults"]["thresholds"]["steps"];
    assert_eq!(steps[1]["value"], 0.9, "{steps}");
    assert!(
        panel["description"].as_str().unwrap().contains("90%"),
        "{panel}"
    );

    // The status page asks for 90% too.
    let s = Server::start(&cfg, &[]).await;
    let c = reqwest::Client::new();
    let html = page(&c, &s).await;
    assert!(
        html.contains("an upgrade needs a suite pass rate of 90% or more"),
        "{html}"
    );
}
