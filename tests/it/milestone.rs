//! The seed's milestone end to end, on a PostgreSQL laid out like a hosted Supabase project
//! (`../shared/supabase/up.sh`) with launchguard's migrations applied as `postgres`: trials that
//! converted, expired and still run, clients at their daily budget on days of the window (and
//! just outside it), one causing a critical AI token level today. The real binary's /metrics and
//! status page show each component exactly; the founder's approval goes through the admin API,
//! survives a restart, is logged and counted, and is withdrawn; the trial columns missing or no
//! trial ended make the figure absent, never 0; the API roles reach none of the new columns.
//!
//! Needs postgresql-15 and postgresql-15-cron, and ../shared beside the repository.

use crate::common::guard_server as gs;
use crate::common::supabase;

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use gs::{ADMIN_TOKEN, Server};
use supabase::SupabasePg;

const T: &str = r#"target="hard_launch""#;

fn ts(t: DateTime<Utc>) -> String {
    format!("'{}'::timestamptz", t.to_rfc3339())
}

fn uuid(n: u32) -> String {
    format!("'00000000-0000-0000-0000-00000000000{n}'")
}

/// Seven clients and their trials at `now`; the ledger of the window and around it.
fn dataset(now: DateTime<Utc>) -> String {
    let today = now.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
    let d = |days: i64| now + TimeDelta::days(days);
    let null = "null".to_string();
    // (n, status, trial_started_at, trial_ended_at, converted_at)
    let clients = [
        (1, "active", ts(d(-30)), ts(d(-16)), ts(d(-17))), // converted before its end
        (2, "active", ts(d(-30)), ts(d(-16)), ts(d(-10))), // converted after it
        (3, "active", ts(d(-30)), ts(d(-16)), null.clone()), // expired
        (4, "active", ts(d(-5)), ts(d(9)), null.clone()),  // running
        (5, "active", null.clone(), null.clone(), null.clone()), // never trialled
        (6, "paused", ts(d(-40)), ts(d(-26)), null.clone()), // expired, paused since
        (7, "trial", ts(d(1)), ts(d(15)), null.clone()),   // not started yet
    ];
    let mut sql = String::from(
        "insert into public.clients (id, name, status, trial_started_at, trial_ended_at, converted_at) values\n",
    );
    let rows: Vec<String> = clients
        .iter()
        .map(|(n, st, a, b, c)| format!("({}, 'c{n}', '{st}', {a}, {b}, {c})", uuid(*n)))
        .collect();
    sql.push_str(&rows.join(",\n"));
    sql.push_str(";\n");
    // (client, when, input tokens, cost)
    let s = TimeDelta::seconds;
    let events = [
        (
            3,
            today - TimeDelta::days(3) + TimeDelta::hours(12),
            1_000,
            "6.00",
        ), // over, 3 days back
        (4, today - TimeDelta::days(6) + s(1), 1_000, "5.00"), // at the budget, the window's first second
        (5, today - TimeDelta::days(6) - s(1), 1_000, "50.00"), // the second before the window
        (2, today - TimeDelta::days(8), 1_000, "100.00"),      // long ago
        (
            1,
            today - TimeDelta::days(2) + TimeDelta::hours(1),
            1_000,
            "4.99",
        ), // just under
        (1, now - s(30), 460_000, "1.38"), // 92% of 500,000 tokens today: critical, c1's doing
        (2, now - s(20), 10_000, "0.03"),  // without c2 still 460,000: critical anyway
    ];
    sql.push_str(
        "insert into public.ai_usage_events (client_id, occurred_at, provider, model, input_tokens, cost_usd) values\n",
    );
    let rows: Vec<String> = events
        .iter()
        .map(|(c, at, tok, usd)| {
            format!(
                "({}, {}, 'anthropic', 'claude-sonnet-4-5', {tok}, {usd})",
                uuid(*c),
                ts(*at)
            )
        })
        .collect();
    sql.push_str(&rows.join(",\n"));
    sql.push(';');
    sql
}

async fn metrics(s: &Server) -> String {
    reqwest::get(s.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .map(|v| v.trim().parse().unwrap())
}

/// Polls /metrics until `ok` holds (the exporter collects every second).
async fn wait(s: &Server, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let m = metrics(s).await;
        if ok(&m) {
            return m;
        }
        assert!(Instant::now() < until, "{what} not seen in 30 s:\n{m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn page(s: &Server) -> String {
    reqwest::get(s.url("/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn component(name: &str) -> String {
    format!(r#"launchguard_milestone_component_met{{{T},component="{name}"}}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn milestone_components_are_exact_and_the_approval_round_trips() {
    let pg = SupabasePg::start();
    pg.apply_migrations();
    let now = Utc::now();
    pg.psql(&dataset(now));

    // The API roles reach none of the trial columns, through the view or the table.
    for role in ["anon", "authenticated"] {
        for sql in [
            "select trial_started_at, converted_at from launchguard.clients",
            "select trial_ended_at from public.clients",
        ] {
            let c = pg.connect_as("authenticator").await;
            c.batch_execute(&format!("set role {role}")).await.unwrap();
            let e = c.batch_execute(sql).await.expect_err(sql);
            assert_eq!(
                e.code(),
                Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
                "{role}: {sql}: {e}"
            );
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("launchguard.yaml");
    std::fs::write(
        &cfg,
        format!(
            "database:\n  url: ${{SUPABASE_DB_URL}}\n  interval: 1s\n  timeout: 10s\n\
             guard:\n  state_file: {}\n\
             strain:\n  report_dir: {}\n\
             upgrade_checklist:\n  hard_launch: {{done: [error_tracking, webhook_retries, log_aggregation]}}\n",
            dir.path().join("guard-state.json").display(),
            dir.path().join("strain").display()
        ),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("strain")).unwrap();
    let url = pg.reader_url();
    let mut s = Server::start(
        &cfg,
        &[
            ("SUPABASE_DB_URL", url.as_str()),
            ("LAUNCHGUARD_ADMIN_TOKEN", ADMIN_TOKEN),
            ("LAUNCHGUARD_CALLER_TOKEN", gs::CALLER_TOKEN),
        ],
    )
    .await;
    let m = wait(&s, "the trials", |m| {
        sample(
            m,
            &format!("launchguard_milestone_trials{{{T},outcome=\"converted\"}}"),
        )
        .is_some()
    })
    .await;
    let v = |name: &str| sample(&m, name);
    // Trials: c1 and c2 converted (c2 after its trial ended), c3 and c6 expired, c4 runs; c5
    // never trialled and c7's trial has not started. 2 / (2 + 2).
    for (outcome, n) in [("converted", 2.0), ("expired", 2.0), ("running", 1.0)] {
        assert_eq!(
            v(&format!(
                "launchguard_milestone_trials{{{T},outcome=\"{outcome}\"}}"
            )),
            Some(n),
            "{outcome}"
        );
    }
    assert_eq!(
        v(&format!(
            "launchguard_milestone_trial_completion_ratio{{{T}}}"
        )),
        Some(0.5)
    );
    // c3 ($6.00, 3 days back) and c4 ($5.00 at the window's first second) reached the $5
    // budget; c5's $50 a second before the window, c2's $100 eight days back and c1's $4.99
    // do not count. Today's 470,000 tokens are critical (from 450,000): without c1 they are
    // 10,000, without c2 460,000, so c1 alone caused it.
    assert_eq!(
        v(&format!(
            "launchguard_milestone_unstable_clients{{{T},reason=\"over_budget\"}}"
        )),
        Some(2.0)
    );
    assert_eq!(
        v(&format!(
            "launchguard_milestone_unstable_clients{{{T},reason=\"critical_tokens\"}}"
        )),
        Some(1.0)
    );
    // Six clients are active (c6 is paused): enough for the 5, not stable though.
    for (c, met) in [
        ("clients_stabilised", 0.0),
        ("trial_completion", 0.0),
        ("strain", 0.0),
        ("checklist", 0.0),
        ("founder_approval", 0.0),
    ] {
        assert_eq!(v(&component(c)), Some(met), "{c}");
    }
    assert_eq!(v(&format!("launchguard_milestone_ready{{{T}}}")), Some(0.0));
    assert_eq!(
        v(&format!(
            "launchguard_milestone_approved_timestamp_seconds{{{T}}}"
        )),
        None
    );

    // The status page's Next tier card: each component and what is missing.
    let p = page(&s).await;
    for want in [
        r#"data-milestone="not_ready""#,
        r#"data-component="clients_stabilised" data-state="missing""#,
        "6 of 5 active",
        "3 clients reached a daily budget or caused a critical AI token level in the window",
        r#"data-component="trial_completion" data-state="missing""#,
        "50% of ended trials converted (needs 80%)",
        r#"data-component="strain" data-state="missing""#,
        "no run of the target&#39;s suite that counts",
        r#"data-component="checklist" data-state="missing""#,
        "still open: connection pooler, redis",
        r#"data-component="founder_approval" data-state="missing""#,
    ] {
        assert!(p.contains(want), "the page lacks {want}:\n{p}");
    }
    assert_eq!(
        p.matches(r#"data-incident="over_budget""#).count(),
        2,
        "{p}"
    );
    assert_eq!(
        p.matches(r#"data-incident="critical_tokens""#).count(),
        1,
        "{p}"
    );
    assert!(p.contains("00000000-0000-0000-0000-000000000003 on"), "{p}");

    // The approval: refused without the token, nothing written.
    let c = reqwest::Client::new();
    let approval = s.url("/api/v1/admin/milestone/hard_launch/approval");
    let r = c.put(&approval).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(!dir.path().join("guard-state.json").exists());
    let r = c
        .put(s.url("/api/v1/admin/milestone/soft_launch/approval"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // With it: recorded with its time and note, persisted, logged and counted.
    let before = Utc::now().timestamp() as f64;
    let r = c
        .put(&approval)
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"note": "week 2 review"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let state: serde_json::Value = r.json().await.unwrap();
    assert_eq!(state["approvals"]["hard_launch"]["note"], "week 2 review");
    let file = std::fs::read_to_string(dir.path().join("guard-state.json")).unwrap();
    let file: serde_json::Value = serde_json::from_str(&file).unwrap();
    assert_eq!(file["approvals"]["hard_launch"]["note"], "week 2 review");
    assert!(
        file["approvals"]["hard_launch"]["since"].is_string(),
        "{file}"
    );
    let m = metrics(&s).await;
    assert_eq!(sample(&m, &component("founder_approval")), Some(1.0));
    let at = sample(
        &m,
        &format!("launchguard_milestone_approved_timestamp_seconds{{{T}}}"),
    )
    .expect("the approval's time");
    assert!(
        at >= before - 1.0 && at <= Utc::now().timestamp() as f64 + 1.0,
        "{at}"
    );
    assert_eq!(
        sample(
            &m,
            r#"launchguard_guard_admin_changes_total{action="milestone_approved"}"#
        ),
        Some(1.0)
    );
    assert!(
        s.log_text().contains("milestone_approved"),
        "{}",
        s.log_text()
    );
    // Still not ready: the other components are missing.
    assert_eq!(
        sample(&m, &format!("launchguard_milestone_ready{{{T}}}")),
        Some(0.0)
    );
    let p = page(&s).await;
    assert!(
        p.contains(r#"data-component="founder_approval" data-state="met""#),
        "{p}"
    );
    assert!(p.contains("week 2 review"), "{p}");

    // A restart keeps it.
    s.restart().await;
    let m = wait(&s, "the approval after a restart", |m| {
        sample(m, &component("founder_approval")) == Some(1.0)
    })
    .await;
    assert_eq!(
        sample(
            &m,
            &format!("launchguard_milestone_approved_timestamp_seconds{{{T}}}")
        ),
        Some(at)
    );
    // Withdrawn.
    let r = c
        .delete(s.url("/api/v1/admin/milestone/hard_launch/approval"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let m = metrics(&s).await;
    assert_eq!(sample(&m, &component("founder_approval")), Some(0.0));
    assert_eq!(
        sample(
            &m,
            &format!("launchguard_milestone_approved_timestamp_seconds{{{T}}}")
        ),
        None
    );
    assert_eq!(
        sample(
            &m,
            r#"launchguard_guard_admin_changes_total{action="milestone_approval_withdrawn"}"#
        ),
        Some(1.0)
    );

    // No trial ended: the ratio is absent, not 0, and the page says why.
    pg.psql(
        "update public.clients set trial_ended_at = now() + interval '1 day', converted_at = null",
    );
    let m = wait(&s, "no ended trial", |m| {
        sample(
            m,
            &format!("launchguard_milestone_trials{{{T},outcome=\"running\"}}"),
        ) == Some(5.0)
    })
    .await;
    assert_eq!(
        sample(
            &m,
            &format!("launchguard_milestone_trial_completion_ratio{{{T}}}")
        ),
        None
    );
    assert_eq!(sample(&m, &component("trial_completion")), Some(0.0));
    assert!(
        page(&s)
            .await
            .contains("no trial has ended yet (5 running)")
    );

    // A founder's own clients view without the trial columns: the trials are unavailable with
    // the reason (absent on /metrics, never 0), the rest of the milestone still judged.
    pg.psql(
        "drop view launchguard.clients;
         create view launchguard.clients as
           select c.id::text as id, (c.status in ('trial', 'active')) as active from public.clients c;
         grant select on launchguard.clients to launchguard_reader;",
    );
    let m = wait(&s, "the trials unavailable", |m| {
        sample(m, r#"launchguard_figure_available{figure="trials"}"#) == Some(0.0)
    })
    .await;
    assert!(!m.contains("launchguard_milestone_trials{"), "{m}");
    assert!(
        !m.contains("launchguard_milestone_trial_completion_ratio{"),
        "{m}"
    );
    assert_eq!(sample(&m, &component("trial_completion")), None);
    assert_eq!(sample(&m, &component("clients_stabilised")), Some(0.0));
    assert_eq!(
        sample(
            &m,
            r#"launchguard_figure_available{figure="active_clients"}"#
        ),
        Some(1.0)
    );
    let p = page(&s).await;
    assert!(
        p.contains(r#"data-component="trial_completion" data-state="unavailable""#),
        "{p}"
    );
    assert!(p.contains("trials unavailable: "), "{p}");
}
