//! Label cardinality against a real PostgreSQL 15 and the real binary: 20,000 distinct models
//! (and 40 providers, 300 clients, 120 storage buckets, 80 pg_cron jobs) in today's ledger give
//! at most the configured series per family; what is past a cap is summed exactly into `other`,
//! and `launchguard_labels_folded{label}` says how many values were folded. The test prints the
//! size of /metrics and the exporter's peak RSS
//! (`cargo test --test it labels_pg:: -- --nocapture`).

use crate::common::exporter;
use crate::common::pg;

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use exporter::Exporter;
use pg::TestPg;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

const WAIT: Duration = Duration::from_secs(60);
const MODELS: usize = 20_000;
const PROVIDERS: usize = 40;
const CLIENTS: usize = 300;
const BUCKETS: usize = 120;
const CRON_JOBS: usize = 80;
const SYNC_JOB: &str = "platform-sync";

fn ts(t: DateTime<Utc>) -> String {
    format!("'{}'::timestamptz", t.to_rfc3339())
}

/// Today's ledger and the rest, generated in SQL. Costs tie in pairs (model 2k and 2k+1 have
/// the same cost and requests), so the choice at a cap's edge is made by name.
fn load(pg: &TestPg, now: DateTime<Utc>) {
    let day = ts(now.duration_trunc(TimeDelta::days(1)).unwrap());
    let client =
        |g: &str| format!("('00000000-0000-0000-0000-' || lpad(to_hex({g}), 12, '0'))::uuid");
    let sql = format!(
        "insert into clients (id, name, status)
           select {c}, 'c' || g, 'active' from generate_series(1, {CLIENTS}) g;
         insert into ai_usage_events (occurred_at, client_id, provider, model, input_tokens,
             output_tokens, cache_read_tokens, cache_write_tokens, characters, requests, cost_usd)
           select {day}, case when g % 49 = 0 then null else {cg} end,
                  'p' || lpad((g % {PROVIDERS})::text, 2, '0'), 'm-' || lpad(g::text, 5, '0'),
                  g, 2 * g, g % 7, g % 11, (g % 3) * 100, 1 + (g / 2) % 5, (g / 2) * 0.000123
           from generate_series(1, {MODELS}) g;
         -- A second group for every tenth model, from another client.
         insert into ai_usage_events (occurred_at, client_id, provider, model, input_tokens, requests, cost_usd)
           select {day}, {cg2}, 'p' || lpad((g % {PROVIDERS})::text, 2, '0'),
                  'm-' || lpad(g::text, 5, '0'), 5, 0, 0.000001
           from generate_series(10, {MODELS}, 10) g;
         insert into storage.buckets (id, name)
           select 'b-' || lpad(g::text, 3, '0'), 'b-' || lpad(g::text, 3, '0') from generate_series(1, {BUCKETS}) g;
         insert into storage.objects (bucket_id, name, metadata)
           select 'b-' || lpad(g::text, 3, '0'), 'o', jsonb_build_object('size', (g / 2) * 1000)
           from generate_series(1, {BUCKETS}) g;
         select cron.schedule('job-' || lpad(g::text, 3, '0'), '0 0 1 1 *', 'select 1')
           from generate_series(1, {jobs}) g;
         select cron.schedule('{SYNC_JOB}', '0 0 1 1 *', 'select 1');
         -- One run per job an hour ago: job-k ran k/2 s (the sync job 0 s), every third failed.
         insert into cron.job_run_details (jobid, runid, job_pid, database, username, command,
             status, return_message, start_time, end_time)
           select j.jobid, 5000 + j.jobid, 1, 'postgres', 'postgres', 'select 1',
                  case when j.jobid % 3 = 0 then 'failed' else 'succeeded' end, '',
                  {hour_ago} - make_interval(secs => d.secs), {hour_ago}
           from cron.job j,
                lateral (select case when j.jobname = '{SYNC_JOB}' then 0
                                     else substr(j.jobname, 5)::int / 2 end as secs) d;\n",
        c = client("g"),
        cg = client(&format!("g % {CLIENTS} + 1")),
        cg2 = client(&format!("(g + 7) % {CLIENTS} + 1")),
        jobs = CRON_JOBS - 1,
        hour_ago = ts(now - TimeDelta::hours(1)),
    );
    pg.psql_query(&sql);
}

/// What the database holds, read back independently of launchguard.
struct Truth {
    /// (provider, model) -> (cost, requests, input tokens)
    models: BTreeMap<(String, String), (Decimal, u64, u64)>,
    clients: BTreeMap<String, Decimal>,
    buckets: BTreeMap<String, u64>,
    /// job -> (run seconds, failures)
    cron: BTreeMap<String, (u64, u64)>,
}

fn rows(pg: &TestPg, sql: &str) -> Vec<Vec<String>> {
    pg.psql_query(sql)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('|').map(str::to_string).collect())
        .collect()
}

fn truth(pg: &TestPg) -> Truth {
    let dec = |s: &str| Decimal::from_str(s).unwrap();
    let int = |s: &str| s.parse::<u64>().unwrap();
    Truth {
        models: rows(
            pg,
            "select provider, model, sum(cost_usd), sum(requests), sum(input_tokens)
             from ai_usage_events group by 1, 2",
        )
        .into_iter()
        .map(|r| ((r[0].clone(), r[1].clone()), (dec(&r[2]), int(&r[3]), int(&r[4]))))
        .collect(),
        clients: rows(
            pg,
            "select coalesce(client_id::text, 'none'), sum(cost_usd) from ai_usage_events group by 1",
        )
        .into_iter()
        .map(|r| (r[0].clone(), dec(&r[1])))
        .collect(),
        buckets: rows(
            pg,
            "select bucket_id, sum((metadata->>'size')::bigint) from storage.objects group by 1",
        )
        .into_iter()
        .map(|r| (r[0].clone(), int(&r[1])))
        .collect(),
        cron: rows(
            pg,
            "select j.jobname, extract(epoch from r.end_time - r.start_time)::bigint,
                    (r.status = 'failed')::int
             from cron.job j join cron.job_run_details r using (jobid)",
        )
        .into_iter()
        .map(|r| (r[0].clone(), (int(&r[1]), int(&r[2]))))
        .collect(),
    }
}

#[derive(Debug, Clone, Copy)]
struct Caps {
    client: usize,
    provider: usize,
    model: usize,
    bucket: usize,
    cron_job: usize,
}

/// The samples of one family: labels and value.
fn family(m: &BTreeMap<String, f64>, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    m.iter()
        .filter_map(|(k, v)| {
            let rest = k.strip_prefix(name)?;
            let labels = if rest.is_empty() {
                BTreeMap::new()
            } else {
                rest.strip_prefix('{')?
                    .strip_suffix('}')?
                    .split("\",")
                    .map(|kv| {
                        let (k, v) = kv.split_once("=\"").unwrap();
                        (k.to_string(), v.trim_end_matches('"').to_string())
                    })
                    .collect()
            };
            Some((labels, *v))
        })
        .collect()
}

/// The keys the stable rule keeps: the `cap` largest by weight, ties by key.
fn top<K: Ord + Clone, W: Ord + Copy>(weights: &BTreeMap<K, W>, cap: usize) -> BTreeSet<K> {
    let mut v: Vec<(&K, W)> = weights.iter().map(|(k, w)| (k, *w)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v.into_iter().take(cap).map(|(k, _)| k.clone()).collect()
}

/// `got == want`, or a failure that names the first differences (the maps hold thousands).
fn same<K: Ord + std::fmt::Debug, V: PartialEq + std::fmt::Debug>(
    got: &BTreeMap<K, V>,
    want: &BTreeMap<K, V>,
    what: &str,
) {
    let keys: BTreeSet<&K> = got.keys().chain(want.keys()).collect();
    let diff: Vec<String> = keys
        .into_iter()
        .filter(|k| got.get(k) != want.get(k))
        .map(|k| format!("{k:?}: got {:?}, want {:?}", got.get(k), want.get(k)))
        .collect();
    assert!(
        diff.is_empty(),
        "{what}: {} of {} labels differ (want {}), first: {:#?}",
        diff.len(),
        got.len(),
        want.len(),
        &diff[..diff.len().min(8)]
    );
}

fn f(d: Decimal) -> f64 {
    d.to_f64().unwrap()
}

fn folded(m: &BTreeMap<String, f64>, label: &str) -> f64 {
    exporter::value(
        m,
        &format!("launchguard_labels_folded{{label=\"{label}\"}}"),
    )
}

fn check(m: &BTreeMap<String, f64>, caps: Caps, t: &Truth) {
    let other = "other";
    // Providers: the largest by cost (then requests) keep their label.
    let mut by_provider: BTreeMap<String, (Decimal, u64)> = BTreeMap::new();
    for ((p, _), (c, r, _)) in &t.models {
        let e = by_provider.entry(p.clone()).or_default();
        e.0 += *c;
        e.1 += *r;
    }
    let kept_providers = top(&by_provider, caps.provider);
    // Models: the largest of the kept providers' models; a folded provider's go with it.
    let candidates: BTreeMap<(String, String), (Decimal, u64)> = t
        .models
        .iter()
        .filter(|((p, _), _)| kept_providers.contains(p))
        .map(|(k, (c, r, _))| (k.clone(), (*c, *r)))
        .collect();
    let kept_models = top(&candidates, caps.model);
    let label_of = |p: &String, mo: &String| -> (String, String) {
        if !kept_providers.contains(p) {
            (other.into(), other.into())
        } else if kept_models.contains(&(p.clone(), mo.clone())) {
            (p.clone(), mo.clone())
        } else {
            (p.clone(), other.into())
        }
    };
    let mut expect_cost: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    let mut expect_input: BTreeMap<(String, String), u64> = BTreeMap::new();
    for ((p, mo), (c, _, input)) in &t.models {
        let l = label_of(p, mo);
        *expect_cost.entry(l.clone()).or_default() += *c;
        *expect_input.entry(l).or_default() += *input;
    }
    for period in ["day", "month"] {
        let got: BTreeMap<(String, String), f64> = family(m, "launchguard_model_cost_usd")
            .into_iter()
            .filter(|(l, _)| l["period"] == period)
            .map(|(l, v)| ((l["provider"].clone(), l["model"].clone()), v))
            .collect();
        let want: BTreeMap<(String, String), f64> = expect_cost
            .iter()
            .map(|(k, v)| (k.clone(), f(*v)))
            .collect();
        same(&got, &want, &format!("model cost, {period}"));
        let tokens: BTreeMap<(String, String), f64> = family(m, "launchguard_ai_tokens")
            .into_iter()
            .filter(|(l, _)| l["period"] == period && l["type"] == "input")
            .map(|(l, v)| ((l["provider"].clone(), l["model"].clone()), v))
            .collect();
        let want: BTreeMap<(String, String), f64> = expect_input
            .iter()
            .map(|(k, v)| (k.clone(), *v as f64))
            .collect();
        same(&tokens, &want, &format!("input tokens, {period}"));
        // Per provider: its cost is its models' exact sum, the folded ones in `other`.
        let mut want_p: BTreeMap<String, Decimal> = BTreeMap::new();
        for ((p, _), c) in &expect_cost {
            *want_p.entry(p.clone()).or_default() += *c;
        }
        let got_p: BTreeMap<String, f64> = family(m, "launchguard_cost_usd")
            .into_iter()
            .filter(|(l, _)| l["period"] == period)
            .map(|(l, v)| (l["provider"].clone(), v))
            .collect();
        let want_p: BTreeMap<String, f64> = want_p.into_iter().map(|(k, v)| (k, f(v))).collect();
        same(&got_p, &want_p, &format!("provider cost, {period}"));
    }
    let total: Decimal = t.models.values().map(|v| v.0).sum();
    assert_eq!(
        exporter::value(m, r#"launchguard_budget_spent_usd{scope="daily"}"#),
        f(total)
    );
    // Series per family: each (provider, model) label pair in every period (and token class).
    let pairs = caps.model + caps.provider + 1;
    for (name, per_pair) in [
        ("launchguard_model_cost_usd", 2),
        ("launchguard_ai_tokens", 8),
        ("launchguard_ai_requests", 2),
        ("launchguard_ai_characters", 2),
    ] {
        let n = family(m, name).len();
        assert!(n <= pairs * per_pair, "{name}: {n} series");
        assert!(n > 0, "{name}");
    }
    let kept_model_count = expect_cost.keys().filter(|(_, mo)| mo != other).count();
    assert_eq!(kept_model_count, caps.model.min(candidates.len()));
    assert_eq!(folded(m, "model"), (MODELS - kept_model_count) as f64);
    assert_eq!(
        folded(m, "provider"),
        (PROVIDERS - kept_providers.len()) as f64
    );

    // Clients: the largest by cost this month; `other` their exact remainder.
    let kept = top(&t.clients, caps.client);
    let mut want: BTreeMap<String, f64> =
        kept.iter().map(|k| (k.clone(), f(t.clients[k]))).collect();
    let rest: Decimal = t
        .clients
        .iter()
        .filter(|(k, _)| !kept.contains(*k))
        .map(|(_, v)| *v)
        .sum();
    want.insert(other.into(), f(rest));
    let got: BTreeMap<String, f64> = family(m, "launchguard_client_cost_usd")
        .into_iter()
        .filter(|(l, _)| l["period"] == "day")
        .map(|(l, v)| (l["client"].clone(), v))
        .collect();
    same(&got, &want, "client cost");
    assert!(family(m, "launchguard_client_budget_used_ratio").len() <= caps.client + 1);
    assert_eq!(folded(m, "client"), (t.clients.len() - kept.len()) as f64);

    // Buckets: the largest keep their label; `other` holds the exact sum of the rest.
    let kept = top(&t.buckets, caps.bucket);
    let mut want: BTreeMap<String, f64> = kept
        .iter()
        .map(|k| (k.clone(), t.buckets[k] as f64))
        .collect();
    let rest: u64 = t
        .buckets
        .iter()
        .filter(|(k, _)| !kept.contains(*k))
        .map(|(_, v)| *v)
        .sum();
    want.insert(other.into(), rest as f64);
    let got: BTreeMap<String, f64> = family(m, "launchguard_storage_bucket_bytes")
        .into_iter()
        .map(|(l, v)| (l["bucket"].clone(), v))
        .collect();
    same(&got, &want, "bucket bytes");
    assert_eq!(folded(m, "bucket"), (BUCKETS - kept.len()) as f64);
    let all: u64 = t.buckets.values().sum();
    assert_eq!(
        exporter::value(m, r#"launchguard_storage_bytes{store="objects"}"#),
        all as f64
    );

    // Cron jobs: the sync job always keeps its label (its alert names it), then the highest
    // load; failures of the rest are summed into `other`.
    let others: BTreeMap<String, u64> = t
        .cron
        .iter()
        .filter(|(k, _)| *k != SYNC_JOB)
        .map(|(k, (secs, _))| (k.clone(), *secs))
        .collect();
    let mut kept = top(&others, caps.cron_job - 1);
    kept.insert(SYNC_JOB.into());
    let mut want: BTreeMap<String, f64> = kept
        .iter()
        .map(|k| (k.clone(), t.cron[k].1 as f64))
        .collect();
    let rest: u64 = t
        .cron
        .iter()
        .filter(|(k, _)| !kept.contains(*k))
        .map(|(_, v)| v.1)
        .sum();
    want.insert(other.into(), rest as f64);
    let got: BTreeMap<String, f64> = family(m, "launchguard_cron_job_failures_last_day")
        .into_iter()
        .map(|(l, v)| (l["cron_job"].clone(), v))
        .collect();
    same(&got, &want, "cron failures");
    assert!(family(m, "launchguard_cron_load_ratio").len() <= caps.cron_job + 1);
    assert_eq!(folded(m, "cron_job"), (CRON_JOBS - kept.len()) as f64);
}

const ADMIN_TOKEN: &str = "labels-test-admin-token-0123456789";

/// PUT with the admin token and a JSON body; the status code.
fn admin_put(addr: &str, path: &str, body: &str) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn status_kb(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

#[test]
fn twenty_thousand_models_give_at_most_the_configured_series() {
    let pg = TestPg::start();
    let now = Utc::now();
    load(&pg, now);
    let t = truth(&pg);
    assert_eq!(t.models.len(), MODELS);
    assert_eq!(t.cron.len(), CRON_JOBS);
    assert_eq!(t.clients.len(), CLIENTS + 1, "every client and `none`");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("launchguard.yaml");
    let base = format!(
        "database:\n  interval: 5s\n  timeout: 30s\nguard:\n  state_file: {}\n",
        dir.path().join("guard-state.json").display()
    );
    std::fs::write(&cfg, &base).unwrap();
    let ex = Exporter::start(
        Some(&cfg),
        &[
            ("SUPABASE_DB_URL", &pg.reader_url()),
            ("LAUNCHGUARD_ADMIN_TOKEN", ADMIN_TOKEN),
        ],
    );
    let m = ex.wait_for(WAIT, "the first collection", |m| {
        m.get("launchguard_source_up{source=\"supabase\"}") == Some(&1.0)
    });

    // Size and memory with the default caps (printed: the numbers for the report).
    let (_, _, body) = ex.get("/metrics").unwrap();
    let series = body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();
    eprintln!(
        "labels_pg: {MODELS} models: /metrics {} bytes, {series} series; exporter VmHWM {} kB, VmRSS {} kB",
        body.len(),
        status_kb(ex.pid(), "VmHWM:"),
        status_kb(ex.pid(), "VmRSS:"),
    );
    let defaults = Caps {
        client: 100,
        provider: 20,
        model: 50,
        bucket: 50,
        cron_job: 50,
    };
    check(&m, defaults, &t);

    // Smaller caps, by config reload: the next snapshot folds to them.
    let small = Caps {
        client: 5,
        provider: 3,
        model: 7,
        bucket: 4,
        cron_job: 2,
    };
    std::fs::write(
        &cfg,
        format!(
            "{base}max_client_labels: {}\nmax_provider_labels: {}\nmax_model_labels: {}\n\
             max_bucket_labels: {}\nmax_cron_job_labels: {}\n",
            small.client, small.provider, small.model, small.bucket, small.cron_job
        ),
    )
    .unwrap();
    ex.signal("HUP");
    let m = ex.wait_for(WAIT, "the smaller caps", |m| {
        m.get(r#"launchguard_labels_folded{label="client"}"#)
            == Some(&((t.clients.len() - small.client) as f64))
    });
    check(&m, small, &t);

    // The guard's labels set by the founder: 12 client and 4 provider kill switches, 8 client
    // budget overrides, under the same caps (the first targets by name, the largest overrides).
    for i in 0..12 {
        let path = format!("/api/v1/admin/kill-switches/client/c{i:02}");
        assert_eq!(admin_put(&ex.addr, &path, "{}"), 200, "{path}");
    }
    for p in ["anthropic", "gemini", "openai", "perplexity"] {
        let path = format!("/api/v1/admin/kill-switches/provider/{p}");
        assert_eq!(admin_put(&ex.addr, &path, "{}"), 200, "{path}");
    }
    for i in 1..=8 {
        let path = format!("/api/v1/admin/budgets/client_daily/v{i}");
        let body = format!(r#"{{"budget_usd": "{i}.5", "for": "1h"}}"#);
        assert_eq!(admin_put(&ex.addr, &path, &body), 200, "{path}");
    }
    let m = ex.metrics();
    let switches: BTreeMap<(String, String), f64> = family(&m, "launchguard_guard_kill_switch")
        .into_iter()
        .map(|(l, v)| ((l["scope"].clone(), l["target"].clone()), v))
        .collect();
    let mut want: BTreeMap<(String, String), f64> = BTreeMap::new();
    want.insert(("global".into(), String::new()), 0.0);
    for i in 0..small.client {
        want.insert(("client".into(), format!("c{i:02}")), 1.0);
    }
    want.insert(
        ("client".into(), "other".into()),
        (12 - small.client) as f64,
    );
    for p in ["anthropic", "gemini", "openai"] {
        want.insert(("provider".into(), p.into()), 1.0);
    }
    want.insert(("provider".into(), "other".into()), 1.0);
    same(&switches, &want, "kill switches");
    let overrides: BTreeMap<String, f64> = family(&m, "launchguard_guard_budget_override_usd")
        .into_iter()
        .map(|(l, v)| (l["client"].clone(), v))
        .collect();
    let want: BTreeMap<String, f64> = [
        ("v8", 8.5),
        ("v7", 7.5),
        ("v6", 6.5),
        ("v5", 5.5),
        ("v4", 4.5),
        ("other", 3.5),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    same(&overrides, &want, "client budget overrides");
    assert_eq!(
        exporter::value(&m, r#"launchguard_guard_labels_folded{label="target"}"#),
        (12 - small.client + 1) as f64
    );
    assert_eq!(
        exporter::value(&m, r#"launchguard_guard_labels_folded{label="client"}"#),
        3.0
    );
}
