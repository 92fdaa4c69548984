//! The two worked mappings of docs/supabase.md, run as written there: the SQL blocks are read
//! from the page (`<!-- test: NAME -->` before each), applied as `postgres` on a Supabase-shaped
//! PostgreSQL (`../shared/supabase/up.sh`) after `launchguard sql` without the reference tables
//! (a founder with tables of their own), with the platform's rows written as `service_role`, the
//! Data API's server-side role. The real binary must then show exact figures, and
//! `launchguard check --connect` what the page says it shows.
//!
//! Needs postgresql-15 and postgresql-15-cron, and ../shared beside the repository.

use crate::common::exporter;
use crate::common::supabase;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use exporter::{Exporter, value};
use supabase::SupabasePg;

const WAIT: Duration = Duration::from_secs(30);

fn doc() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/supabase.md")).unwrap()
}

/// The ```sql block that follows `<!-- test: NAME -->` in docs/supabase.md.
fn block(name: &str) -> String {
    let doc = doc();
    let marker = format!("<!-- test: {name} -->\n```sql\n");
    let start = doc
        .find(&marker)
        .unwrap_or_else(|| panic!("docs/supabase.md has no block {name}"))
        + marker.len();
    let len = doc[start..].find("```").expect("the block ends");
    doc[start..start + len].to_string()
}

fn ts(t: DateTime<Utc>) -> String {
    format!("'{}'::timestamptz", t.to_rfc3339())
}

/// A founder's project: Supabase, the founder's `existing` tables, `launchguard sql` pasted into
/// the SQL editor (one script, one simple query, as `postgres`), then the page's blocks.
async fn project(existing: &str, blocks: &[&str]) -> SupabasePg {
    let pg = SupabasePg::start();
    if !existing.is_empty() {
        pg.psql(existing);
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_launchguard"))
        .arg("sql")
        .env_remove("LAUNCHGUARD_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success());
    let editor = pg.connect_as("postgres").await;
    editor
        .batch_execute(&String::from_utf8(out.stdout).unwrap())
        .await
        .unwrap();
    // Without the reference tables, the reference views are left for the founder to map.
    assert_eq!(
        pg.psql("select count(*) from pg_class where relnamespace = 'launchguard'::regnamespace and relname in ('clients', 'usage_events', 'jobs', 'traffic_minutely')").trim(),
        "0"
    );
    for b in blocks {
        editor.batch_execute(&block(b)).await.unwrap();
    }
    pg
}

/// Rows the platform writes, as its server code does through the Data API.
fn as_platform(pg: &SupabasePg, sql: &str) {
    pg.psql_as("authenticator", &format!("set role service_role; {sql}"));
}

fn line<'a>(text: &'a str, start: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting {start:?}:\n{text}"))
}

fn up(m: &BTreeMap<String, f64>) -> bool {
    m.get(r#"launchguard_source_up{source="supabase"}"#) == Some(&1.0)
}

const ORG_A: &str = "00000000-0000-4000-8000-0000000000a1";
const ORG_B: &str = "00000000-0000-4000-8000-0000000000b2";

#[tokio::test(flavor = "multi_thread")]
async fn generations_with_cached_tokens_give_exact_spend() {
    let pg = project("", &["generations-tables", "generations-mapping"]).await;
    let now = Utc::now();
    let day = now.duration_trunc(TimeDelta::days(1)).unwrap();
    let at = ts(std::cmp::max(day, now - TimeDelta::minutes(30)));
    // A and B pay, C trials (active: 3), D cancelled.
    // Today, as the APIs report it (prompt tokens include the cached ones):
    //   A openai gpt-4o: prompt 1,200,000 (cached 1,000,000), completion 100,000
    //     = 200,000 x $10/M + 1,000,000 x $1/M + 100,000 x $30/M = 2.00 + 1.00 + 3.00 = 6.00
    //   B gemini gemini-2.5-flash: prompt 2,000,000 (cached 400,000), completion 200,000
    //     = 1,600,000 x $1.25/M + 400,000 x $0.125/M + 200,000 x $5/M = 2.00 + 0.05 + 1.00 = 3.05
    //   tokens today: 200,000 + 1,000,000 + 100,000 + 1,600,000 + 400,000 + 200,000 = 3,500,000
    // Two days ago, A openai (not today): prompt 5,000,000 (cached 0), completion 0.
    as_platform(
        &pg,
        &format!(
            "insert into public.organizations (id, name, subscription_status) values
               ('{ORG_A}', 'A', 'active'), ('{ORG_B}', 'B', 'active'),
               (gen_random_uuid(), 'C', 'trialing'), (gen_random_uuid(), 'D', 'canceled');
             insert into public.generations (created_at, organization_id, provider, model,
                 prompt_tokens, cached_tokens, completion_tokens, prompt, response) values
               ({at}, '{ORG_A}', 'openai', 'gpt-4o', 700000, 600000, 60000, 'a secret prompt', '...'),
               ({at}, '{ORG_A}', 'openai', 'gpt-4o', 500000, 400000, 40000, 'another', '...'),
               ({at}, '{ORG_B}', 'gemini', 'gemini-2.5-flash', 2000000, 400000, 200000, 'x', 'y'),
               ({old}, '{ORG_A}', 'openai', 'gpt-4o', 5000000, 0, 0, 'old', 'old');",
            old = ts(day - TimeDelta::days(2)),
        ),
    );

    let dir = tempfile::tempdir().unwrap();
    let cfg = supabase::exporter_config(dir.path());
    let url = pg.reader_url();
    let ex = Exporter::start(Some(&cfg), &[("SUPABASE_DB_URL", &url)]);
    let m = ex.wait_for(WAIT, "the first collection", up);
    let v = |k: &str| value(&m, k);
    assert_eq!(
        v(r#"launchguard_cost_usd{provider="openai",period="day"}"#),
        6.0
    );
    assert_eq!(
        v(r#"launchguard_cost_usd{provider="gemini",period="day"}"#),
        3.05
    );
    assert_eq!(v(r#"launchguard_budget_spent_usd{scope="daily"}"#), 9.05);
    assert_eq!(
        v(&format!(
            r#"launchguard_client_cost_usd{{client="{ORG_A}",period="day"}}"#
        )),
        6.0
    );
    let tokens = |provider: &str, model: &str, ty: &str| {
        v(&format!(
            r#"launchguard_ai_tokens{{provider="{provider}",model="{model}",type="{ty}",period="day"}}"#
        ))
    };
    assert_eq!(
        (
            tokens("openai", "gpt-4o", "input"),
            tokens("openai", "gpt-4o", "cache_read"),
            tokens("openai", "gpt-4o", "output")
        ),
        (200_000.0, 1_000_000.0, 100_000.0)
    );
    assert_eq!(
        (
            tokens("gemini", "gemini-2.5-flash", "input"),
            tokens("gemini", "gemini-2.5-flash", "cache_read"),
            tokens("gemini", "gemini-2.5-flash", "output")
        ),
        (1_600_000.0, 400_000.0, 200_000.0)
    );
    assert_eq!(
        v(r#"launchguard_tier_usage{resource="ai_tokens_per_day"}"#),
        3_500_000.0
    );
    assert_eq!(v(r#"launchguard_tier_usage{resource="clients"}"#), 3.0);
    // Not mapped: absent with the reason, never 0.
    for f in ["jobs", "traffic", "bandwidth"] {
        assert_eq!(
            v(&format!(r#"launchguard_figure_available{{figure="{f}"}}"#)),
            0.0,
            "{f}"
        );
    }
    assert!(!m.contains_key("launchguard_queue_depth"));
    drop(ex);

    let text = supabase::check_connect(&cfg, &url);
    assert!(
        line(&text, "launchguard.usage_events ").contains(
            "ok         reads public.generations (row-level security on; postgres bypasses it); the usage query answers in"
        ),
        "{text}"
    );
    assert!(
        line(&text, "launchguard.clients ").contains(
            "ok         reads public.organizations (row-level security on; postgres bypasses it)"
        ),
        "{text}"
    );
    // The page quotes these lines as they are.
    let page = doc();
    for start in ["launchguard.jobs ", "launchguard.traffic_minutely "] {
        let l = line(&text, start);
        assert!(l.contains("missing    does not exist"), "{l}");
        assert!(page.contains(l), "docs/supabase.md does not quote:\n{l}");
    }
    assert!(line(&text, "jobs ").contains(
        "jobs query: missing table or view: relation \"launchguard.jobs\" does not exist. Fix: apply the launchguard migrations"
    ));

    // The page's example of a view launchguard cannot see through: owned by a role without
    // BYPASSRLS, the usage figure goes unavailable with this reason.
    pg.psql(
        "create role ledger_owner nologin;
         grant ledger_owner to postgres;
         grant usage, create on schema launchguard to ledger_owner;
         grant select on public.generations to ledger_owner;
         alter view launchguard.usage_events owner to ledger_owner;",
    );
    let text = supabase::check_connect(&cfg, &url);
    let l = line(&text, "usage ");
    assert!(page.contains(l), "docs/supabase.md does not quote:\n{l}");
}

#[tokio::test(flavor = "multi_thread")]
async fn render_jobs_with_their_own_status_names_give_exact_queue_figures() {
    // The platform also has a `jobs` table of its own, of another shape than launchguard's
    // reference table: the SQL leaves it alone (no reference view over it) and still succeeds.
    let pg = project(
        "create table public.jobs (id bigint primary key, name text, run_at timestamptz);",
        &["render-jobs-table", "render-jobs-case"],
    )
    .await;
    let now = Utc::now();
    let day = now.duration_trunc(TimeDelta::days(1)).unwrap();
    let created = ts(std::cmp::max(day, now - TimeDelta::minutes(50)));
    let fin = now - TimeDelta::minutes(10);
    // Today: 7 pending (queued), 2 claimed + 3 rendering (running 5), finished in the last hour
    // 4 done (20, 40, 60, 80 s) and 2 error (10, 30 s): failed 2 of 6, mean (20+40+60+80+10+30)/6
    // = 40 s; 3 cancelled. Created today: 7 + 5 + 6 + 3 = 21. History: 20,000 renders done
    // before today, so the table is large (20,021 rows).
    let mut sql = format!(
        "insert into public.render_jobs (org_id, template, state, enqueued_at, picked_at, completed_at)
         select gen_random_uuid(), 'hero', 'done', {d} - make_interval(mins => i),
                {d} - make_interval(mins => i) + interval '5 seconds',
                {d} - make_interval(mins => i) + interval '45 seconds'
           from generate_series(1, 20000) i;
         insert into public.render_jobs (org_id, template, state, enqueued_at)
         select gen_random_uuid(), 'hero', 'pending', {created} from generate_series(1, 7);
         insert into public.render_jobs (org_id, template, state, enqueued_at)
         select gen_random_uuid(), 'hero', 'cancelled', {created} from generate_series(1, 3);
         insert into public.render_jobs (org_id, template, state, enqueued_at, picked_at)
         select gen_random_uuid(), 'hero', s, {created}, {picked}
           from unnest(array['claimed', 'claimed', 'rendering', 'rendering', 'rendering']) s;\n",
        d = ts(day - TimeDelta::days(1)),
        picked = ts(now - TimeDelta::minutes(1)),
    );
    for (state, secs) in [
        ("done", 20),
        ("done", 40),
        ("done", 60),
        ("done", 80),
        ("error", 10),
        ("error", 30),
    ] {
        sql.push_str(&format!(
            "insert into public.render_jobs (org_id, template, state, enqueued_at, picked_at, completed_at)
             values (gen_random_uuid(), 'hero', '{state}', {created}, {start}, {end});\n",
            start = ts(fin - TimeDelta::seconds(secs)),
            end = ts(fin),
        ));
    }
    as_platform(&pg, &sql);
    pg.psql("analyze public.render_jobs");

    let dir = tempfile::tempdir().unwrap();
    let cfg = supabase::exporter_config(dir.path());
    let url = pg.reader_url();
    let exact = |m: &BTreeMap<String, f64>| {
        let v = |k: &str| value(m, k);
        assert_eq!(v("launchguard_queue_depth"), 7.0);
        assert_eq!(
            v(r#"launchguard_tier_usage{resource="concurrent_jobs"}"#),
            5.0
        );
        assert_eq!(
            v(r#"launchguard_tier_usage{resource="visual_jobs_per_day"}"#),
            21.0
        );
        assert_eq!(v("launchguard_visual_jobs_failed_last_hour"), 2.0);
        assert!((v("launchguard_visual_job_processing_seconds") - 40.0).abs() < 1e-9);
    };

    // The CASE mapping: right figures, and the warning the page quotes.
    let ex = Exporter::start(Some(&cfg), &[("SUPABASE_DB_URL", &url)]);
    exact(&ex.wait_for(WAIT, "the first collection", up));
    drop(ex);
    let text = supabase::check_connect(&cfg, &url);
    assert!(
        line(&text, "jobs ").contains("ok         7 queued, 5 running"),
        "{text}"
    );
    let warning = line(&text, "launchguard.jobs ");
    assert!(
        doc().contains(warning),
        "docs/supabase.md does not quote:\n{warning}"
    );

    // The UNION ALL mapping and its indexes: the same figures, read through indexes.
    pg.psql_as("postgres", &block("render-jobs-mapping"));
    pg.psql("analyze public.render_jobs");
    let ex = Exporter::start(Some(&cfg), &[("SUPABASE_DB_URL", &url)]);
    exact(&ex.wait_for(WAIT, "the first collection", up));
    drop(ex);
    let text = supabase::check_connect(&cfg, &url);
    let jobs: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("launchguard.jobs "))
        .collect();
    assert_eq!(jobs.len(), 1, "{text}");
    assert!(
        jobs[0].contains(
            "ok         reads public.render_jobs (row-level security on; postgres bypasses it); the jobs query answers in"
        ),
        "{text}"
    );
}
