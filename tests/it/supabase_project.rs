//! launchguard installed on a PostgreSQL laid out like a hosted Supabase project
//! (`../shared/supabase/up.sh`, built from Supabase's own migrations), as a founder installs it:
//! the migrations applied as `postgres`, the role of the SQL editor and of `supabase db push`.
//!
//! - Safe by construction: every object the migrations create, found by walking the catalog
//!   before and after, is neither readable nor writable by `anon` or `authenticated`, both by
//!   the privilege functions and by trying as the Data API does (`authenticator`, `set role`),
//!   while `service_role`, `postgres` and Supabase's own defaults keep working; applying the
//!   migrations again, or pasting `launchguard sql` as one script, changes no privilege.
//! - Truthful under row-level security: with it enabled (and forced) on every table of `public`,
//!   every figure of the exporter core's dataset is exact on /metrics of the real binary; with a
//!   grant revoked, or the ledger's view owned by a role that does not bypass row-level security,
//!   the figure is absent with its reason (never 0) and the guard denies spend with
//!   `ledger_unavailable`.
//!
//! Needs postgresql-15 and postgresql-15-cron, and ../shared beside the repository.

use crate::common::dataset;
use crate::common::exporter;
use crate::common::supabase;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use exporter::{Exporter, http_post_json_as, value};
use supabase::SupabasePg;
use tokio_postgres::error::SqlState;

const WAIT: Duration = Duration::from_secs(30);
const API_ROLES: [&str; 2] = ["anon", "authenticated"];

/// Every object of the database: `kind|identity|relkind`.
const OBJECTS: &str = "
select 'relation|' || format('%I.%I', n.nspname, c.relname) || '|' || c.relkind::text
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where n.nspname not like 'pg_toast%' and n.nspname not like 'pg_temp%'
union all
select 'function|' || p.oid::regprocedure::text || '|' || p.prokind::text from pg_proc p
union all
select 'schema|' || quote_ident(n.nspname) || '|' from pg_namespace n
union all
select 'role|' || quote_ident(r.rolname) || '|' from pg_roles r";

/// Every privilege and security setting of the database, to compare before and after a re-run.
const PRIVILEGES: &str = "
select format('%I.%I', n.nspname, c.relname) || ' ' || coalesce(c.relacl::text, '-') || ' '
       || c.relrowsecurity::text || c.relforcerowsecurity::text
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where n.nspname not like 'pg_%'
union all
select p.oid::regprocedure::text || ' ' || coalesce(p.proacl::text, '-') || ' '
       || p.prosecdef::text
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname not like 'pg_%'
union all
select quote_ident(nspname) || ' ' || coalesce(nspacl::text, '-') from pg_namespace
union all
select quote_ident(rolname) || ' ' || coalesce(rolconfig::text, '-') || ' ' || rolsuper::text
       || rolbypassrls::text from pg_roles
union all
select pg_get_userbyid(defaclrole) || ' ' || defaclnamespace::text || ' '
       || defaclobjtype::text || ' ' || defaclacl::text from pg_default_acl
order by 1";

fn lines(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn launchguard_sql(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_launchguard"))
        .arg("sql")
        .args(args)
        .env_remove("LAUNCHGUARD_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The error SQLSTATE of `sql` run by `role` the way the Data API runs it (PostgREST logs in as
/// `authenticator` and switches to the caller's role), or None when it succeeded.
async fn as_api_role(pg: &SupabasePg, role: &str, sql: &str) -> Option<SqlState> {
    let c = pg.connect_as("authenticator").await;
    c.batch_execute(&format!("set role {role}")).await.unwrap();
    c.batch_execute(sql).await.err().map(|e| {
        e.code()
            .cloned()
            .unwrap_or_else(|| panic!("{role}: {sql}: {e}"))
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_launchguard_creates_is_reachable_by_the_api_roles() {
    let pg = SupabasePg::start();
    let before = lines(&pg.psql_as("supabase_admin", OBJECTS));
    pg.apply_migrations();
    let after = lines(&pg.psql_as("supabase_admin", OBJECTS));
    let created: Vec<Vec<String>> = after
        .difference(&before)
        .map(|l| l.split('|').map(str::to_string).collect())
        .collect();
    let names: BTreeSet<&str> = created.iter().map(|o| o[1].as_str()).collect();
    // The walk covers what the migrations are known to create (it cannot pass empty).
    for want in [
        "public.clients",
        "public.ai_usage_events",
        "public.ai_usage_events_id_seq",
        "public.jobs_id_seq",
        "public.http_traffic_minutely",
        "launchguard.usage_events",
        "launchguard.jobs",
        "launchguard.traffic_minutely",
        "launchguard.clients",
        "launchguard.cron_jobs",
        "launchguard.cron_job_runs",
        "launchguard.storage_buckets",
        "launchguard.cron_job_runs_since(timestamp with time zone)",
        "launchguard.storage_bucket_sizes()",
        "launchguard",
        "launchguard_reader",
        "launchguard.vercel_traffic_minutely",
        "launchguard.vercel_seen",
        "launchguard.vercel_cron_runs",
        "launchguard_drain_writer",
    ] {
        assert!(names.contains(want), "{want} not created: {names:#?}");
    }
    pg.psql_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/supabase/seed.sql"));

    // The catalog's word, for every created object and both API roles.
    let mut checked = 0;
    for o in &created {
        let (kind, name, relkind) = (o[0].as_str(), o[1].as_str(), o[2].as_str());
        let q = |role: &str| match (kind, relkind) {
            ("relation", "r" | "v" | "m" | "p" | "f") => Some(format!(
                "select has_table_privilege('{role}', '{name}', \
                 'select, insert, update, delete, truncate, references, trigger') \
                 or has_any_column_privilege('{role}', '{name}', 'select, insert, update, references')"
            )),
            ("relation", "S") => Some(format!(
                "select has_sequence_privilege('{role}', '{name}', 'usage, select, update')"
            )),
            // Indexes and composite types carry no privileges of their own.
            ("relation", _) => None,
            ("function", _) => Some(format!(
                "select has_function_privilege('{role}', '{name}', 'execute')"
            )),
            ("schema", _) => Some(format!(
                "select has_schema_privilege('{role}', '{name}', 'usage, create')"
            )),
            ("role", _) => Some(format!(
                "select pg_has_role('{role}', '{name}', 'member, usage')"
            )),
            _ => panic!("unknown object kind {kind}"),
        };
        for role in API_ROLES {
            if let Some(sql) = q(role) {
                assert_eq!(
                    pg.psql_as("supabase_admin", &sql).trim(),
                    "f",
                    "{role} has a privilege on {kind} {name}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 30, "only {checked} checks");

    // And trying, as the Data API would on their behalf: every read and write is refused
    // (refused, not answered with no rows).
    for o in &created {
        let (kind, name, relkind) = (o[0].as_str(), o[1].as_str(), o[2].as_str());
        let attempts: Vec<String> = match (kind, relkind) {
            ("relation", "r" | "v" | "m" | "p" | "f") => vec![
                format!("select * from {name} limit 1"),
                format!("insert into {name} default values"),
                format!("delete from {name}"),
                format!("truncate {name}"),
            ],
            ("relation", "S") => vec![format!("select nextval('{name}')")],
            ("function", _) => {
                let call = pg.psql_as(
                    "supabase_admin",
                    &format!(
                        "select p.oid::regproc::text || '(' || coalesce((select string_agg('null::' \
                         || format_type(t, null), ', ') from unnest(p.proargtypes) t), '') || ')' \
                         from pg_proc p where p.oid = '{name}'::regprocedure"
                    ),
                );
                vec![format!("select {}", call.trim())]
            }
            _ => vec![],
        };
        for role in API_ROLES {
            for sql in &attempts {
                assert_eq!(
                    as_api_role(&pg, role, sql).await,
                    Some(SqlState::INSUFFICIENT_PRIVILEGE),
                    "{role}: {sql}"
                );
            }
        }
    }
    for role in API_ROLES {
        for target in ["launchguard_reader", "launchguard_drain_writer"] {
            assert_eq!(
                as_api_role(&pg, role, &format!("set role {target}")).await,
                Some(SqlState::INSUFFICIENT_PRIVILEGE),
                "{role} can become {target}"
            );
        }
    }

    // service_role (the platform's server code through the Data API) writes and reads the ledger
    // whole, through row-level security.
    let c = pg.connect_as("authenticator").await;
    c.batch_execute("set role service_role").await.unwrap();
    let seeded: i64 = c
        .query_one("select count(*) from public.ai_usage_events", &[])
        .await
        .unwrap()
        .get(0);
    assert!(seeded > 50, "{seeded}");
    let id: i64 = c
        .query_one(
            "insert into public.ai_usage_events (provider, model, input_tokens) \
             values ('openai', 'gpt-4o', 10) returning id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    c.execute("update public.jobs set status = status where false", &[])
        .await
        .unwrap();
    c.execute("delete from public.ai_usage_events where id = $1", &[&id])
        .await
        .unwrap();
    c.query("select * from storage.buckets", &[]).await.unwrap();
    // postgres (direct connections, the SQL editor) too.
    pg.psql("insert into public.clients (name, status) values ('direct', 'trial')");
    // Supabase's own defaults are untouched: a table the founder adds later is still granted to
    // the API roles (its row-level security is the founder's call), and anon still reads Storage
    // through Supabase's policies.
    pg.psql("create table public.added_later (id int)");
    assert_eq!(
        pg.psql("select has_table_privilege('anon', 'public.added_later', 'select')")
            .trim(),
        "t"
    );
    assert_eq!(
        as_api_role(&pg, "anon", "select * from storage.buckets").await,
        None
    );

    // The reader reads every view launchguard made for it, and nothing else.
    let reader = pg.connect_as("launchguard_reader").await;
    for v in [
        "clients",
        "usage_events",
        "jobs",
        "traffic_minutely",
        "cron_jobs",
        "cron_job_runs",
        "storage_buckets",
    ] {
        let n: i64 = reader
            .query_one(&format!("select count(*) from launchguard.{v}"), &[])
            .await
            .unwrap_or_else(|e| panic!("launchguard.{v}: {e}"))
            .get(0);
        assert!(n > 0, "launchguard.{v} shows no seeded row");
    }
    let err = reader
        .query("select * from public.clients", &[])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));

    // Applying them again, or pasting `launchguard sql` into the SQL editor (one script, sent
    // as one simple query), changes no privilege and no setting.
    let once = pg.psql_as("supabase_admin", PRIVILEGES);
    pg.apply_migrations();
    assert_eq!(pg.psql_as("supabase_admin", PRIVILEGES), once);
    let editor = pg.connect_as("postgres").await;
    editor
        .batch_execute(&launchguard_sql(&["--reference-schema"]))
        .await
        .unwrap();
    editor.batch_execute(&launchguard_sql(&[])).await.unwrap();
    assert_eq!(pg.psql_as("supabase_admin", PRIVILEGES), once);
}

#[test]
fn migration_files_follow_supabase_db_push_naming_and_need_no_psql() {
    for f in supabase::migration_files() {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let (version, rest) = name.split_once('_').unwrap();
        assert!(
            version.len() == 14 && version.bytes().all(|b| b.is_ascii_digit()),
            "{name}: supabase db push wants <YYYYMMDDHHMMSS>_name.sql"
        );
        assert!(rest.ends_with(".sql"), "{name}");
        // The compose stack's PostgreSQL applies each of them too.
        let compose = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/compose/compose.yaml"),
        )
        .unwrap();
        assert!(
            compose.contains(&format!("../supabase/migrations/{name}:")),
            "deploy/compose/compose.yaml does not mount {name}"
        );
        // The SQL editor and `supabase db push` run SQL, not psql: no meta-commands.
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            assert!(
                !line.trim_start().starts_with('\\'),
                "{name}:{}: psql meta-command",
                i + 1
            );
        }
    }
}

/// The guard's caller token in these tests.
const CALLER_TOKEN: &str = "supabase-project-caller-token";

/// An AI admission for a client without spend today: (HTTP status, decision, reason).
fn admit(ex: &Exporter) -> (u16, String, String) {
    let body = r#"{"client_id":"fresh-client","kind":"ai","provider":"anthropic","model":"claude-sonnet-4-5","estimate":{"input_tokens":1000,"output_tokens":0}}"#;
    let (status, _, text) =
        http_post_json_as(&ex.addr, "/api/v1/guard/admit", body, Some(CALLER_TOKEN)).unwrap();
    let j: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (
        status,
        j["decision"].as_str().unwrap_or_default().to_string(),
        j["reason"].as_str().unwrap_or_default().to_string(),
    )
}

fn usage_available(m: &BTreeMap<String, f64>) -> Option<f64> {
    m.get(r#"launchguard_figure_available{figure="usage"}"#)
        .copied()
}

/// The ledger figures are absent, never 0.
fn assert_no_spend_figures(m: &BTreeMap<String, f64>) {
    const FROM_THE_LEDGER: [&str; 9] = [
        "launchguard_cost_usd",
        "launchguard_budget_spent_usd",
        "launchguard_budget_used_ratio",
        "launchguard_budget_state",
        "launchguard_client_cost_usd",
        "launchguard_client_budget_used_ratio",
        "launchguard_ai_tokens",
        "launchguard_ai_requests",
        "launchguard_ai_characters",
    ];
    for k in m.keys() {
        let from_ledger = FROM_THE_LEDGER.iter().any(|p| k.starts_with(p))
            || (k.contains(r#"resource="ai_tokens_per_day""#)
                && !k.starts_with("launchguard_tier_limit"));
        assert!(
            !from_ledger,
            "{k} is exported while the ledger cannot be read"
        );
    }
}

#[test]
fn row_level_security_never_turns_into_zero() {
    let pg = SupabasePg::start();
    pg.apply_migrations();
    let now = Utc::now();
    pg.psql(&dataset::sql(now));
    // Row-level security on (and forced) on every table of public, as Supabase's security
    // advisor asks, with a policy of the founder's for signed-in users and none for launchguard.
    pg.psql(
        "do $$ declare t record; begin
           for t in select schemaname, tablename from pg_tables where schemaname = 'public' loop
             execute format('alter table %I.%I enable row level security', t.schemaname, t.tablename);
             execute format('alter table %I.%I force row level security', t.schemaname, t.tablename);
           end loop;
         end $$;
         create policy own_usage on public.ai_usage_events for select to authenticated
           using (client_id = auth.uid());",
    );
    assert_eq!(
        pg.psql("select count(*) from pg_tables where schemaname = 'public' and not rowsecurity")
            .trim(),
        "0"
    );
    let max_connections: f64 = pg.psql("show max_connections").trim().parse().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let cfg = supabase::exporter_config(dir.path());
    let url = pg.reader_url();
    let ex = Exporter::start(
        Some(&cfg),
        &[
            ("SUPABASE_DB_URL", &url),
            ("LAUNCHGUARD_CALLER_TOKEN", CALLER_TOKEN),
        ],
    );
    let m = ex.wait_for(WAIT, "the first collection", |m| {
        m.get(r#"launchguard_source_up{source="supabase"}"#) == Some(&1.0)
    });
    dataset::assert_exact(&m, now, max_connections);
    // The incremental ledger's watermark follows the oldest open transaction of any role: the
    // reader (NOINHERIT) sees only its own sessions, the migration owner's function sees all.
    assert_eq!(
        pg.psql_as(
            "launchguard_reader",
            "select sees_all from launchguard.transaction_horizon()"
        )
        .trim(),
        "t",
        "postgres, the owner of launchguard.transaction_horizon(), sees every session"
    );
    // The guard decides from the ledger it reads: the dataset's 3,611,000 tokens today are over
    // the soft launch tier's daily token limit.
    assert_eq!(
        admit(&ex),
        (
            429,
            "deny".to_string(),
            "tier_ai_tokens_per_day".to_string()
        )
    );

    // A grant revoked: the ledger's figures go absent with the reason, and spend is denied.
    pg.psql("revoke select on launchguard.usage_events from launchguard_reader");
    let m = ex.wait_for(WAIT, "usage to go unavailable", |m| {
        usage_available(m) == Some(0.0)
    });
    assert_no_spend_figures(&m);
    assert_eq!(
        value(&m, "launchguard_queue_depth"),
        65.0,
        "other figures stay"
    );
    assert_eq!(
        admit(&ex),
        (429, "deny".to_string(), "ledger_unavailable".to_string())
    );
    let text = supabase::check_connect(&cfg, &url);
    let line = text
        .lines()
        .find(|l| l.starts_with("usage "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("missing"), "{line}");
    assert!(
        line.contains("permission denied for view usage_events"),
        "{line}"
    );
    assert!(
        line.contains("grant select on launchguard.usage_events to launchguard_reader"),
        "{line}"
    );

    // Restored, then read through a view whose owner does not bypass row-level security: with
    // row_security on, the same view answers 0 rows (the bug this guards against); launchguard
    // reports it unavailable instead.
    pg.psql("grant select on launchguard.usage_events to launchguard_reader");
    ex.wait_for(WAIT, "usage to come back", |m| {
        usage_available(m) == Some(1.0)
    });
    // From here on only launchguard's own session setting (not the role's) stands between
    // row-level security and a smaller figure: `check --connect` below opens new sessions.
    pg.psql("alter role launchguard_reader reset row_security");
    pg.psql(
        "create role launchguard_mapper nologin;
         grant launchguard_mapper to postgres;
         grant usage, create on schema launchguard to launchguard_mapper;
         grant select on public.ai_usage_events to launchguard_mapper;
         alter view launchguard.usage_events owner to launchguard_mapper;",
    );
    assert_eq!(
        pg.psql_as(
            "launchguard_reader",
            "set row_security = on; select count(*) from launchguard.usage_events"
        )
        .trim(),
        "0"
    );
    let m = ex.wait_for(WAIT, "usage to go unavailable under RLS", |m| {
        usage_available(m) == Some(0.0)
    });
    assert_no_spend_figures(&m);
    assert_eq!(
        admit(&ex),
        (429, "deny".to_string(), "ledger_unavailable".to_string())
    );
    let text = supabase::check_connect(&cfg, &url);
    let line = text
        .lines()
        .find(|l| l.starts_with("usage "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains(
            "row-level security would hide rows: query would be affected by row-level security policy for table \"ai_usage_events\""
        ),
        "{line}"
    );
    assert!(
        line.contains("alter view launchguard.usage_events owner to postgres"),
        "{line}"
    );
    assert!(
        text.contains(
            "launchguard.usage_events      error      row-level security on public.ai_usage_events applies to launchguard_mapper"
        ),
        "{text}"
    );
}
