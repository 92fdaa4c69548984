//! The guard in one real launchguard process (in-process reservations), deciding from the
//! snapshot of a real seeded PostgreSQL (needs postgresql-15 and postgresql-15-cron).

#[path = "common/guard_server.rs"]
mod gs;
#[path = "common/pg.rs"]
mod pg;
#[path = "common/port.rs"]
mod port;

use gs::{ADMIN_TOKEN, Server, admit_body, burst, post};

fn env(pg: &pg::TestPg) -> Vec<(&'static str, String)> {
    vec![
        ("SUPABASE_DB_URL", pg.reader_url()),
        ("LAUNCHGUARD_ADMIN_TOKEN", ADMIN_TOKEN.to_string()),
    ]
}

async fn start(pg: &pg::TestPg, dir: &std::path::Path, extra: &str) -> Server {
    let cfg = gs::config(dir, extra);
    let env = env(pg);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start(&cfg, &env).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_admits_fit_a_budget_with_room_for_100() {
    let pg = pg::TestPg::start_seeded();
    let dir = tempfile::tempdir().unwrap();
    let s = start(&pg, dir.path(), "").await;

    let got = burst(&[&s.base], "load-client", 1000).await;
    let allowed = got.iter().filter(|g| g.1 == "allow").count();
    // The in-process store checks and reserves under one lock: the documented bound is 0.
    assert_eq!(
        allowed, 100,
        "admitted {allowed} of a budget with room for 100"
    );
    for (status, decision, reason) in &got {
        match decision.as_str() {
            "allow" => {
                assert_eq!(*status, 200);
                assert!(reason == "ok" || reason == "budget_alert", "{reason}");
            }
            _ => assert_eq!(
                (*status, decision.as_str(), reason.as_str()),
                (429, "deny", "budget_client_daily_exceeded")
            ),
        }
    }
    // From $0.24 of $0.30 on (the 80% alert ratio) admissions warn.
    assert_eq!(got.iter().filter(|g| g.2 == "budget_alert").count(), 21);
    let m = |name: &'static str| {
        let s = &s;
        async move { s.metric(name).await }
    };
    assert_eq!(
        m(r#"launchguard_guard_decisions_total{decision="deny",reason="budget_client_daily_exceeded"}"#).await,
        Some(900.0)
    );
    assert_eq!(
        m(r#"launchguard_guard_throttled{scope="client_daily"}"#).await,
        Some(1.0)
    );

    // Settling one reservation as not spent frees its room for exactly one more.
    let c = reqwest::Client::new();
    let admit = s.url("/api/v1/guard/admit");
    let (st, other, _) = post(&c, &admit, admit_body("other-client")).await;
    assert_eq!(
        (st, other["decision"].as_str()),
        (200, Some("allow")),
        "{other}"
    );
    let id = other["reservation_id"].as_str().unwrap().to_string();
    assert_eq!(other["estimated_cost_usd"], "0.003");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        m(r#"launchguard_guard_reservations_outstanding{kind="ai"}"#).await,
        Some(101.0)
    );
    let (st, _, _) = post(&c, &admit, admit_body("load-client")).await;
    assert_eq!(st, 429);
    // Settling another client's reservation as not spent frees nothing for load-client.
    let settle = s.url("/api/v1/guard/settle");
    let (st, j, _) = post(&c, &settle, format!(r#"{{"reservation_id":"{id}"}}"#)).await;
    assert_eq!((st, j["actual_cost_usd"].as_str()), (200, Some("0")), "{j}");
    let (st, j, _) = post(&c, &settle, format!(r#"{{"reservation_id":"{id}"}}"#)).await;
    assert_eq!(
        (st, j["error"].as_str()),
        (404, Some("unknown_reservation")),
        "{j}"
    );
    let (st, _, _) = post(&c, &admit, admit_body("load-client")).await;
    assert_eq!(
        st, 429,
        "another client's settle must not free load-client's budget"
    );
    assert_eq!(
        m(r#"launchguard_guard_reserved_usd{scope="client_daily"}"#).await,
        Some(0.3)
    );
    assert!(s.log_text().contains("guard ready"), "{}", s.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settle_with_actual_usage_adjusts_the_budget() {
    let pg = pg::TestPg::start_seeded();
    let dir = tempfile::tempdir().unwrap();
    let s = start(&pg, dir.path(), "").await;
    let c = reqwest::Client::new();
    let admit = s.url("/api/v1/guard/admit");
    let settle = s.url("/api/v1/guard/settle");
    // A client the platform knows (the ledger references clients by uuid).
    let adj = "20000000-0000-4000-8000-000000000001";
    pg.psql_query(&format!(
        "insert into public.clients (id, name, status) values ('{adj}', 'Adjusted', 'active')"
    ));
    // Reserve $0.15 twice: the budget of $0.30 is full.
    let big = format!(
        r#"{{"client_id":"{adj}","kind":"ai","provider":"anthropic","model":"claude-sonnet-4-5","estimate":{{"input_tokens":50000,"output_tokens":0}}}}"#
    );
    let (_, a, _) = post(&c, &admit, big.clone()).await;
    let (_, b, _) = post(&c, &admit, big).await;
    assert_eq!(
        (a["decision"].as_str(), b["decision"].as_str()),
        (Some("allow"), Some("allow"))
    );
    let (st, _, _) = post(&c, &admit, admit_body(adj)).await;
    assert_eq!(st, 429);
    // The first call used only $0.03 (10,000 input tokens): the platform writes its ledger
    // row, then settles; $0.12 is free again, before and after the next collection.
    pg.psql_query(&format!(
        "insert into public.ai_usage_events (client_id, provider, model, input_tokens, output_tokens) \
         values ('{adj}', 'anthropic', 'claude-sonnet-4-5', 10000, 0)"
    ));
    let id = a["reservation_id"].as_str().unwrap();
    let (st, j, _) = post(
        &c,
        &settle,
        format!(
            r#"{{"reservation_id":"{id}","usage":{{"input_tokens":10000,"output_tokens":0}}}}"#
        ),
    )
    .await;
    assert_eq!(
        (st, j["actual_cost_usd"].as_str()),
        (200, Some("0.03")),
        "{j}"
    );
    // Let a collection pass that holds the ledger row, so the per-second settle bucket is not
    // counted next to it (an early double count is the store's conservative side).
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let mut allowed = 0;
    for _ in 0..50 {
        let (st, _, _) = post(&c, &admit, admit_body(adj)).await;
        if st == 200 {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 40, "$0.12 of room at $0.003 each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_switch_admin_auth_restart_and_bad_requests() {
    let pg = pg::TestPg::start_seeded();
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(&pg, dir.path(), "").await;
    let c = reqwest::Client::new();
    let kill = s.url("/api/v1/admin/kill-switches/client/acme");
    let admit = s.url("/api/v1/guard/admit");

    // Missing or wrong token: 401, and nothing changes (no state file is even written).
    let r = c.put(&kill).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("missing"));
    let r = c
        .put(&kill)
        .bearer_auth("wrong-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .put(s.url("/api/v1/admin/kill-switches/global"))
        .bearer_auth(format!("{ADMIN_TOKEN}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(!dir.path().join("guard-state.json").exists());
    let (st, j, _) = post(&c, &admit, admit_body("acme")).await;
    assert_eq!((st, j["reason"].as_str()), (200, Some("ok")), "{j}");

    // The right token: the kill switch denies at once, for that client only.
    let r = c
        .put(&kill)
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"note": "card declined"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (st, j, retry) = post(&c, &admit, admit_body("acme")).await;
    assert_eq!(
        (
            st,
            j["decision"].as_str(),
            j["reason"].as_str(),
            j["scope"].as_str()
        ),
        (
            429,
            Some("deny"),
            Some("kill_switch_client"),
            Some("client")
        ),
        "{j}"
    );
    assert_eq!(retry.as_deref(), Some("60"));
    let (st, _, _) = post(&c, &admit, admit_body("bravo")).await;
    assert_eq!(st, 200);
    assert_eq!(
        s.metric(r#"launchguard_guard_kill_switch{scope="client",target="acme"}"#)
            .await,
        Some(1.0)
    );
    assert_eq!(
        s.metric(r#"launchguard_guard_admin_changes_total{action="kill_switch_on"}"#)
            .await,
        Some(1.0)
    );
    assert!(
        s.log_text().contains("founder's change"),
        "{}",
        s.log_text()
    );

    // A restart keeps it.
    s.restart().await;
    let admit = s.url("/api/v1/guard/admit");
    let (st, j, _) = post(&c, &admit, admit_body("acme")).await;
    assert_eq!(
        (st, j["reason"].as_str()),
        (429, Some("kill_switch_client")),
        "{j}"
    );
    let state: serde_json::Value = c
        .get(s.url("/api/v1/admin/state"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        state["kill_switches"]["client:acme"]["note"],
        "card declined"
    );
    let r = c
        .delete(s.url("/api/v1/admin/kill-switches/client/acme"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (st, _, _) = post(&c, &admit, admit_body("acme")).await;
    assert_eq!(st, 200);

    // A temporary budget override for one client, also through the admin API.
    let r = c
        .put(s.url("/api/v1/admin/budgets/client_daily/vip"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"budget_usd": "0.006", "for": "1h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let codes: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(post(&c, &admit, admit_body("vip")).await.0);
        }
        v
    };
    assert_eq!(codes, [200, 200, 429]);
    assert_eq!(
        s.metric(r#"launchguard_guard_budget_override_usd{scope="client_daily",client="vip"}"#)
            .await,
        Some(0.006)
    );
    let r = c
        .put(s.url("/api/v1/admin/budgets/weekly"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"budget_usd": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Bad requests: 400 with a reason that says what is wrong; nothing panics.
    let huge = format!(
        r#"{{"client_id":"c","kind":"api","model":"{}"}}"#,
        "x".repeat(64 * 1024)
    );
    let cases: Vec<(String, &str)> = vec![
        ("{not json".into(), "invalid request"),
        (String::new(), "empty"),
        (
            r#"{"client_id":"c","kind":"video"}"#.into(),
            "unknown kind `video`",
        ),
        (
            r#"{"client_id":"c","kind":"ai","provider":"openai","estimate":{"output_tokens":-3}}"#
                .into(),
            "estimate.output_tokens",
        ),
        (
            r#"{"client_id":"c","kind":"job","estimate":{"cost_usd":-1}}"#.into(),
            "must not be negative",
        ),
        (
            r#"{"client_id":"c","kind":"api","colour":"red"}"#.into(),
            "unknown field `colour`",
        ),
        (
            r#"{"client_id":"c","kind":"ai","provider":"mistral"}"#.into(),
            "no price",
        ),
        (huge, "larger than 16384 bytes"),
    ];
    for (body, want) in cases {
        let (st, j, _) = post(&c, &admit, body.clone()).await;
        let reason = j["reason"].as_str().unwrap_or_default();
        assert_eq!(
            (st, j["error"].as_str()),
            (400, Some("bad_request")),
            "{body:.80}: {j}"
        );
        assert!(reason.contains(want), "{body:.80}: {reason}");
    }
    let (st, j, _) = post(
        &c,
        &s.url("/api/v1/guard/settle"),
        r#"{"reservation_id":""}"#,
    )
    .await;
    assert_eq!(st, 400, "{j}");
    assert_eq!(reqwest::get(s.url("/healthz")).await.unwrap().status(), 200);
    assert!(!s.log_text().contains("panicked"), "{}", s.log_text());
}
