//! The guard in one real launchguard process (in-process reservations), deciding from the
//! snapshot of a real seeded PostgreSQL (needs postgresql-15 and postgresql-15-cron).

use crate::common::guard_server as gs;
use crate::common::pg;

use gs::{ADMIN_TOKEN, Server, admit_body, burst, post};

fn env(pg: &pg::TestPg) -> Vec<(&'static str, String)> {
    vec![
        ("SUPABASE_DB_URL", pg.reader_url()),
        ("LAUNCHGUARD_ADMIN_TOKEN", ADMIN_TOKEN.to_string()),
        ("LAUNCHGUARD_CALLER_TOKEN", gs::CALLER_TOKEN.to_string()),
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

/// An admit body with an explicit estimate: `cost_usd` and no tokens.
fn priced(client: &str, kind: &str, cost_usd: &str) -> String {
    format!(
        r#"{{"client_id":"{client}","kind":"{kind}","provider":"anthropic","model":"claude-sonnet-4-5","estimate":{{"cost_usd":"{cost_usd}","input_tokens":0,"output_tokens":0}}}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_need_the_token_and_only_the_id_holder_settles() {
    let pg = pg::TestPg::start_seeded();
    let dir = tempfile::tempdir().unwrap();
    let s = start(&pg, dir.path(), "").await;
    let c = reqwest::Client::new();
    let admit = s.url("/api/v1/guard/admit");
    let settle = s.url("/api/v1/guard/settle");

    // No token, a wrong one, the admin token: 401 on both endpoints, nothing reserved.
    for token in [None, Some("wrong"), Some(ADMIN_TOKEN)] {
        for url in [&admit, &settle] {
            let (st, j, _) = gs::post_as(&c, url, admit_body("a"), token).await;
            assert_eq!(
                (st, j["error"].as_str()),
                (401, Some("unauthorized")),
                "{token:?}: {j}"
            );
        }
    }
    // The token in its own header (for setups where Authorization carries basic auth).
    let r = c
        .post(&admit)
        .header("x-launchguard-caller-token", gs::CALLER_TOKEN)
        .body(admit_body("a"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let first: serde_json::Value = r.json().await.unwrap();

    // Ids: 128 random bits, nothing in common between consecutive ones.
    let mut ids = vec![first["reservation_id"].as_str().unwrap().to_string()];
    for _ in 0..40 {
        let (st, j, _) = post(&c, &admit, admit_body("a")).await;
        assert_eq!(st, 200, "{j}");
        ids.push(j["reservation_id"].as_str().unwrap().to_string());
    }
    for w in ids.windows(2) {
        assert_eq!(w[1].len(), 32, "{}", w[1]);
        assert!(w[1].chars().all(|ch| ch.is_ascii_hexdigit()), "{}", w[1]);
        let same = w[0]
            .chars()
            .zip(w[1].chars())
            .filter(|(x, y)| x == y)
            .count();
        // Random hex digits agree 2 times in 32 on average; sequential ids share almost all.
        assert!(same < 12, "{} and {} share {same} digits", w[0], w[1]);
    }
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len());

    // A caller with the token but not the id: its neighbours, guessed, are unknown.
    let held = ids[5].clone();
    let mut guesses = Vec::new();
    for (i, ch) in held.char_indices() {
        let flipped = if ch == '0' { '1' } else { '0' };
        let mut g = held.clone();
        g.replace_range(i..=i, &flipped.to_string());
        guesses.push(g);
    }
    let as_number = u128::from_str_radix(&held, 16).unwrap();
    guesses.push(format!("{:032x}", as_number.wrapping_add(1)));
    guesses.push(format!("{:032x}", as_number.wrapping_sub(1)));
    for g in &guesses {
        let (st, j, _) = post(&c, &settle, format!(r#"{{"reservation_id":"{g}"}}"#)).await;
        assert_eq!(
            (st, j["error"].as_str()),
            (404, Some("unknown_reservation")),
            "{g}: {j}"
        );
    }
    // Without the token, even the right id is refused; the holder then settles it.
    let body = format!(r#"{{"reservation_id":"{held}"}}"#);
    let (st, _, _) = gs::post_as(&c, &settle, body.clone(), None).await;
    assert_eq!(st, 401);
    let (st, j, _) = post(&c, &settle, body.clone()).await;
    assert_eq!((st, j["settled"].as_bool()), (200, Some(true)), "{j}");
    assert!(
        !s.log_text().contains(gs::CALLER_TOKEN),
        "the token was logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_caller_token_admit_and_settle_are_off_unless_opted_in_on_loopback() {
    let pg = pg::TestPg::start_seeded();
    let dir = tempfile::tempdir().unwrap();
    let url = pg.reader_url();
    let env = [("SUPABASE_DB_URL", url.as_str())];
    let c = reqwest::Client::new();

    let cfg = gs::config(dir.path(), "");
    let s = Server::start(&cfg, &env).await;
    let (st, j, _) = gs::post_as(&c, &s.url("/api/v1/guard/admit"), admit_body("a"), None).await;
    assert_eq!(st, 401, "{j}");
    let why = j["reason"].as_str().unwrap();
    assert!(
        why.contains("guard.caller_token") && why.contains("disabled"),
        "{why}"
    );
    assert!(
        s.log_text().contains("admit and settle are disabled"),
        "{}",
        s.log_text()
    );
    // `check` says so too.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_launchguard"))
        .args(["check", "--config"])
        .arg(&cfg)
        .env_remove("LAUNCHGUARD_CALLER_TOKEN")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(
            "admit and settle: disabled: guard.caller_token (${LAUNCHGUARD_CALLER_TOKEN})"
        ),
        "{text}"
    );
    drop(s);

    // The founder's explicit opt-in, on the loopback address the test server listens on.
    let cfg = gs::config(dir.path(), "  unauthenticated_on_loopback: true\n");
    let s = Server::start(&cfg, &env).await;
    let (st, j, _) = gs::post_as(&c, &s.url("/api/v1/guard/admit"), admit_body("a"), None).await;
    assert_eq!((st, j["decision"].as_str()), (200, Some("allow")), "{j}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outstanding_caps_give_429_reservations_full() {
    let pg = pg::TestPg::start_seeded();
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        &pg,
        dir.path(),
        "  max_reservations: 5\n  max_reservations_per_client: 3\n",
    )
    .await;
    let c = reqwest::Client::new();
    let admit = s.url("/api/v1/guard/admit");
    let mut a_ids = Vec::new();
    for _ in 0..3 {
        let (st, j, _) = post(&c, &admit, admit_body("a")).await;
        assert_eq!(st, 200, "{j}");
        a_ids.push(j["reservation_id"].as_str().unwrap().to_string());
    }
    // The client's cap.
    let (st, j, retry) = post(&c, &admit, admit_body("a")).await;
    assert_eq!(
        (
            st,
            j["decision"].as_str(),
            j["reason"].as_str(),
            j["scope"].as_str()
        ),
        (
            429,
            Some("throttle"),
            Some("reservations_full"),
            Some("reservations")
        ),
        "{j}"
    );
    assert_eq!(retry.as_deref(), Some("5"));
    assert!(
        j["message"]
            .as_str()
            .unwrap()
            .contains("max_reservations_per_client"),
        "{j}"
    );
    // The global cap: 3 + 2 = 5.
    for _ in 0..2 {
        let (st, j, _) = post(&c, &admit, admit_body("b")).await;
        assert_eq!(st, 200, "{j}");
    }
    let (st, j, _) = post(&c, &admit, admit_body("c")).await;
    assert_eq!(
        (st, j["reason"].as_str()),
        (429, Some("reservations_full")),
        "{j}"
    );
    assert!(
        j["message"]
            .as_str()
            .unwrap()
            .contains("guard.max_reservations"),
        "{j}"
    );
    // What holds nothing is never refused for room, and keeps no reservation: a zero-cost
    // call and an API request.
    let (st, j, _) = post(&c, &admit, priced("c", "ai", "0")).await;
    assert_eq!((st, j["reservation_id"].is_null()), (200, true), "{j}");
    let (st, j, _) = post(&c, &admit, r#"{"client_id":"c","kind":"api"}"#).await;
    assert_eq!((st, j["reservation_id"].is_null()), (200, true), "{j}");
    // A settle frees room at once.
    let (st, _, _) = post(
        &c,
        &s.url("/api/v1/guard/settle"),
        format!(r#"{{"reservation_id":"{}"}}"#, a_ids[0]),
    )
    .await;
    assert_eq!(st, 200);
    let (st, j, _) = post(&c, &admit, admit_body("c")).await;
    assert_eq!(st, 200, "{j}");
    assert_eq!(
        s.metric(
            r#"launchguard_guard_decisions_total{decision="throttle",reason="reservations_full"}"#
        )
        .await,
        Some(2.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_values_get_400_or_a_config_error_never_a_panic() {
    let pg = pg::TestPg::start_seeded();
    let dir = tempfile::tempdir().unwrap();
    // One collection only (at start): settled usage then counts for the whole test, as it
    // does until a collection shows its ledger row.
    let cfg = gs::config(dir.path(), "  snapshot_max_age: 10m\n");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("interval: 1s", "interval: 5m");
    std::fs::write(&cfg, text).unwrap();
    let env = env(&pg);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let s = Server::start(&cfg, &env).await;
    let c = reqwest::Client::new();
    let admit = s.url("/api/v1/guard/admit");
    let settle = s.url("/api/v1/guard/settle");
    let hold = |client: &'static str| {
        let c = c.clone();
        let admit = admit.clone();
        async move {
            let (st, j, _) = post(&c, &admit, admit_body(client)).await;
            assert_eq!(st, 200, "{j}");
            j["reservation_id"].as_str().unwrap().to_string()
        }
    };

    // Settles with absurd usage: 400 naming the field, and the reservation is kept.
    let id = hold("x").await;
    for (usage, field) in [
        (r#"{"characters":9000000000000000000}"#, "usage.characters"),
        (r#"{"characters":9e18}"#, "usage.characters"),
        (
            r#"{"input_tokens":18446744073709551615}"#,
            "usage.input_tokens",
        ),
        (r#"{"cost_usd":"5000000"}"#, "usage.cost_usd"),
        (r#"{"cost_usd":1e20}"#, "usage.cost_usd"),
        // Within every field's bound, but priced past what one request may cost.
        (
            r#"{"output_tokens":1000000000000000}"#,
            "$1000000 one request may cost",
        ),
    ] {
        let (st, j, _) = post(
            &c,
            &settle,
            format!(r#"{{"reservation_id":"{id}","usage":{usage}}}"#),
        )
        .await;
        assert_eq!(
            (st, j["error"].as_str()),
            (400, Some("bad_request")),
            "{usage}: {j}"
        );
        assert!(
            j["reason"].as_str().unwrap().contains(field),
            "{usage}: {j}"
        );
    }
    let (st, j, _) = post(&c, &settle, format!(r#"{{"reservation_id":"{id}"}}"#)).await;
    assert_eq!((st, j["settled"].as_bool()), (200, Some(true)), "kept: {j}");

    // The issue's attack: cost_usd in the millions, twice. Before, the pending-cost counters
    // wrapped and a $1,000,000 admit was allowed; now every budget holds.
    let ids = [hold("x").await, hold("x").await];
    for id in ids {
        let (st, j, _) = post(
            &c,
            &settle,
            format!(r#"{{"reservation_id":"{id}","usage":{{"cost_usd":"1000000"}}}}"#),
        )
        .await;
        assert_eq!(st, 200, "{j}");
    }
    for (client, cost) in [("x", "1000000"), ("y", "1000000"), ("y", "0.001")] {
        let (st, j, _) = post(&c, &admit, priced(client, "ai", cost)).await;
        assert_eq!(
            (st, j["decision"].as_str()),
            (429, Some("deny")),
            "{client} {cost}: {j}"
        );
        assert!(j["reason"].as_str().unwrap().starts_with("budget_"), "{j}");
    }
    // An estimate past what one request may cost is a 400 as well.
    let (st, j, _) = post(&c, &admit, priced("y", "job", "1000001")).await;
    assert_eq!(st, 400, "{j}");

    // The admin API: absurd budgets and durations are 400 and nothing is persisted.
    let state_file = dir.path().join("guard-state.json");
    for (path, body, field) in [
        ("daily", r#"{"budget_usd":"1e20"}"#, "budget_usd"),
        ("monthly", r#"{"budget_usd":1e20}"#, "budget_usd"),
        ("daily", r#"{"budget_usd":80,"for":"300000y"}"#, "for"),
        ("daily", r#"{"budget_usd":80,"for":"400d"}"#, "for"),
        (
            "daily",
            r#"{"budget_usd":80,"until":"9999-12-31T00:00:00Z"}"#,
            "until",
        ),
        ("client_daily/x", r#"{"budget_usd":-1}"#, "budget_usd"),
    ] {
        let r = c
            .put(s.url(&format!("/api/v1/admin/budgets/{path}")))
            .bearer_auth(ADMIN_TOKEN)
            .body(body)
            .send()
            .await
            .unwrap();
        let st = r.status();
        let j: serde_json::Value = r.json().await.unwrap();
        assert_eq!(st, 400, "{body}: {j}");
        assert!(j["reason"].as_str().unwrap().contains(field), "{body}: {j}");
    }
    assert!(!state_file.exists());
    // A sound change is persisted, readable by the owner only.
    let r = c
        .put(s.url("/api/v1/admin/budgets/daily"))
        .bearer_auth(ADMIN_TOKEN)
        .body(r#"{"budget_usd":"1000000","for":"1h"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&state_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let (st, j, _) = post(&c, &admit, admit_body("z")).await;
    assert_eq!(st, 429, "monthly budget still spent: {j}");
    assert_eq!(reqwest::get(s.url("/healthz")).await.unwrap().status(), 200);
    assert!(!s.log_text().contains("panicked"), "{}", s.log_text());

    // Absurd numbers in the config file: `check` names file, line and field (exit 2).
    for (yaml, field, line) in [
        (
            "guard:\n  reservation_ttl: 300000y\n",
            "guard.reservation_ttl",
            2,
        ),
        ("budgets:\n  daily_usd: 1e20\n", "budgets.daily_usd", 2),
        (
            "tiers:\n  growth:\n    ai_tokens_per_day: 9000000000000000000\n",
            "tiers.growth.ai_tokens_per_day",
            3,
        ),
    ] {
        let f = dir.path().join("absurd.yaml");
        std::fs::write(&f, yaml).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_launchguard"))
            .args(["check", "--config"])
            .arg(&f)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{yaml}: {err}");
        let at = format!("{}:{line}:", f.display());
        assert!(
            err.contains(&at) && err.contains(&format!("`{field}`")),
            "{yaml}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_zero_cost_admit_flood_keeps_memory_bounded() {
    const CAP: usize = 1000;
    let pg = pg::TestPg::start_seeded();
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        &pg,
        dir.path(),
        &format!("  max_reservations: {CAP}\n  max_reservations_per_client: {CAP}\n"),
    )
    .await;
    let admit = s.url("/api/v1/guard/admit");
    let c = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    // `count` admits from 16 connections: bounded in number, and in time (60 s).
    let flood = |count: usize, body: fn(usize) -> String| {
        let c = c.clone();
        let admit = admit.clone();
        async move {
            let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
            let mut tasks = Vec::new();
            for t in 0..16 {
                let c = c.clone();
                let admit = admit.clone();
                tasks.push(tokio::spawn(async move {
                    let mut seen = std::collections::BTreeMap::<String, u64>::new();
                    let mut i = t;
                    while i < count && std::time::Instant::now() < until {
                        let (_, j, _) = post(&c, &admit, body(i)).await;
                        let reason = j["reason"].as_str().unwrap_or("?").to_string();
                        *seen.entry(reason).or_default() += 1;
                        i += 16;
                    }
                    seen
                }));
            }
            let mut all = std::collections::BTreeMap::<String, u64>::new();
            for t in tasks {
                for (k, v) in t.await.unwrap() {
                    *all.entry(k).or_default() += v;
                }
            }
            all
        }
    };
    let outstanding = || async {
        // The tick refreshes the store's status every second.
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        s.metric(r#"launchguard_guard_reservations_outstanding{kind="ai"}"#)
            .await
            .unwrap()
    };
    // Warm up the connections and the allocator, then measure.
    let _ = flood(1000, |i| priced(&format!("w{}", i % 100), "ai", "0")).await;
    let before = s.rss_kib();

    // Zero-cost admits hold nothing: no reservation, whatever their number.
    let zero = flood(8000, |i| priced(&format!("z{}", i % 1000), "ai", "0")).await;
    let n: u64 = zero.values().sum();
    assert_eq!((n, zero.get("ok")), (8000, Some(&8000)), "{zero:?}");
    let after_zero = s.rss_kib();
    assert_eq!(outstanding().await, 0.0);

    // Admits that do hold one (many clients, never settled) stop at the cap.
    let held = flood(CAP + 500, |i| {
        priced(&format!("h{}", i % 1000), "ai", "0.000001")
    })
    .await;
    let after_held = s.rss_kib();
    let out = outstanding().await;
    eprintln!(
        "zero-cost flood: {n} admits, VmRSS {before} -> {after_zero} KiB; holding flood: {held:?}, \
         VmRSS -> {after_held} KiB, {out} outstanding"
    );
    assert_eq!(out, CAP as f64);
    assert_eq!(held.get("reservations_full"), Some(&500), "{held:?}");
    // Unbounded, each zero-cost admit kept a reservation of about 0.5 KiB until it expired
    // (39k/s grew 18 MB to 540 MB in 15 s): 8,000 of them would add about 4 MiB.
    let grown = after_zero.saturating_sub(before);
    assert!(
        grown < 256 + n / 16,
        "VmRSS grew {grown} KiB over {n} zero-cost admits (from {before} KiB)"
    );
    assert!(
        after_held < before + 16 * 1024,
        "VmRSS grew from {before} to {after_held} KiB with the cap at {CAP}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_tokens_near_2_pow_63_saturate_and_the_tier_limit_still_denies() {
    let pg = pg::TestPg::start_seeded();
    let dir = tempfile::tempdir().unwrap();
    let s = start(&pg, dir.path(), "").await;
    let c = reqwest::Client::new();
    let admit = s.url("/api/v1/guard/admit");
    let (st, _, _) = post(&c, &admit, admit_body("t")).await;
    assert_eq!(st, 200);
    // Two groups (two models of a provider without a price, so no budget is touched) of
    // 2^63 - 1 input tokens and 6 output tokens: a u64 sum wrapped to 10 before.
    pg.psql_query(
        "insert into public.ai_usage_events (provider, model, input_tokens, output_tokens) values \
         ('mistral', 'big-a', 9223372036854775807, 6), ('mistral', 'big-b', 9223372036854775807, 6)",
    );
    let ceiling = launchguard::core::bounded::CEILING as f64;
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let v = s
            .metric(r#"launchguard_tier_usage{resource="ai_tokens_per_day"}"#)
            .await;
        if v == Some(ceiling) {
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "tokens today: {v:?}\n{}",
            s.log_text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (st, j, _) = post(&c, &admit, admit_body("t")).await;
    assert_eq!(
        (st, j["reason"].as_str()),
        (429, Some("tier_ai_tokens_per_day")),
        "{j}"
    );
    assert!(!s.log_text().contains("panicked"), "{}", s.log_text());
}
