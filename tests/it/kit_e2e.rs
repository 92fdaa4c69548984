//! The kit end to end, on loopback with real servers: PostgreSQL 15 with the reference schema,
//! `launchguard serve` reading it, a real Prometheus (Debian package `prometheus`) scraping it
//! every second with the rendered rules and scrape config, and a real Alertmanager (Debian
//! package `prometheus-alertmanager`) with the rendered routing and inhibition, whose receivers'
//! integrations are swapped for webhooks into this test (every receiver, the dashboard-only one
//! included, so any notification at all is seen).
//!
//! The kit is rendered by the binary from a test config that differs from the default only in
//! speed: 1 s collection, scrape and evaluation, `for: 2s` on the queue-depth alert, 1 s
//! Alertmanager grouping. The dataset walks the queue depth under both thresholds (no
//! notification anywhere), between them (the warning receiver only) and over the critical one
//! (the critical receiver, with the warning inhibited), then every dashboard expression is run
//! through Prometheus' query API and must return data.
//!
//! A missing server binary fails the test with the package to install; it never skips.

use crate::common::pg;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use launchguard::kit::alertmanager::{CRITICAL, DASHBOARD_ONLY, HARD_STOP, HEARTBEAT, WARNING};
use launchguard::kit::dashboards;
use launchguard::metrics::names;
use pg::TestPg;
use serde_json::Value;

use crate::common::port;
use crate::common::servers;
use port::free_port;
use servers::{Inbox, Proc, tool, webhook_server};

struct Env {
    http: reqwest::Client,
    prom: String,
    am: String,
    procs: Vec<Proc>,
}

impl Env {
    fn logs(&self) -> String {
        self.procs
            .iter()
            .map(Proc::tail)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Polls `f` every 250 ms until it yields a value; panics with the servers' logs after
    /// `limit`.
    async fn wait<T, F, Fut>(&self, what: &str, limit: Duration, mut f: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let start = Instant::now();
        loop {
            if let Some(v) = f().await {
                return v;
            }
            if start.elapsed() > limit {
                panic!(
                    "timed out after {limit:?} waiting for {what}\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Result vector of an instant query; panics if Prometheus refuses the query.
    async fn query(&self, expr: &str) -> Vec<Value> {
        let r: Value = self
            .http
            .get(
                reqwest::Url::parse_with_params(
                    &format!("{}/api/v1/query", self.prom),
                    &[("query", expr)],
                )
                .unwrap(),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["status"], "success", "query `{expr}`: {r}");
        r["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    async fn value(&self, expr: &str) -> Option<f64> {
        self.query(expr)
            .await
            .first()
            .and_then(|s| s["value"][1].as_str().and_then(|v| v.parse().ok()))
    }

    async fn ready(&self, url: &str) -> bool {
        self.http
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }
}

/// Notifications received so far for a receiver.
fn received(inbox: &Inbox, receiver: &str) -> Vec<Value> {
    inbox
        .lock()
        .unwrap()
        .iter()
        .filter(|(r, _)| r == receiver)
        .map(|(_, v)| v.clone())
        .collect()
}

/// The rendered Alertmanager config with each receiver's integrations replaced by one webhook to
/// this test, after checking they are the shipped ones. Route tree, inhibition and templates
/// stay as rendered.
fn point_receivers_at(am_yml: &Path, webhook: u16) {
    let mut doc: Value = serde_saphyr::from_str(&fs::read_to_string(am_yml).unwrap()).unwrap();
    for r in doc["receivers"].as_array_mut().unwrap() {
        let name = r["name"].as_str().unwrap().to_string();
        let has = |k: &str| {
            r.get(k)
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
        };
        match name.as_str() {
            DASHBOARD_ONLY => assert!(!has("email_configs") && !has("sns_configs")),
            WARNING => assert!(has("email_configs") && !has("sns_configs")),
            CRITICAL | HARD_STOP => assert!(has("email_configs") && has("sns_configs")),
            HEARTBEAT => assert!(has("webhook_configs") && !has("email_configs")),
            other => panic!("unexpected receiver {other}"),
        }
        let obj = r.as_object_mut().unwrap();
        obj.retain(|k, _| k == "name");
        obj.insert(
            "webhook_configs".into(),
            serde_json::json!([{
                "url": format!("http://127.0.0.1:{webhook}/{name}"),
                "send_resolved": true
            }]),
        );
    }
    fs::write(am_yml, serde_saphyr::to_string(&doc).unwrap()).unwrap();
}

/// Everything under every threshold: 3 active clients, a little AI spend today, a healthy
/// minute-by-minute traffic table around now, a storage bucket, two visual jobs done in the last
/// hour, and an hourly platform-sync pg_cron job that last succeeded 30 minutes ago.
const BASE_DATASET: &str = "
insert into public.clients (id, name, status) values
  ('20000000-0000-4000-8000-000000000001', 'One', 'active'),
  ('20000000-0000-4000-8000-000000000002', 'Two', 'active'),
  ('20000000-0000-4000-8000-000000000003', 'Three', 'trial');
insert into public.ai_usage_events (occurred_at, client_id, provider, model, input_tokens, output_tokens)
  select greatest(date_trunc('day', now()), now() - interval '10 minutes'),
         '20000000-0000-4000-8000-000000000001', 'anthropic', 'claude-sonnet-4-5', 10000, 2000;
insert into public.jobs (kind, status, created_at, started_at, finished_at)
  select 'visual', 'succeeded', now() - interval '20 minutes', now() - interval '20 minutes',
         now() - interval '20 minutes' + interval '10 seconds'
  from generate_series(1, 2);
insert into public.http_traffic_minutely (bucket, requests, errors, bytes_out, lat_le_100)
  select date_trunc('minute', now()) + make_interval(mins => k), 10, 0, 1000, 10
  from generate_series(-10, 20) k
  where date_trunc('minute', now()) + make_interval(mins => k) >= date_trunc('day', now());
insert into storage.buckets (id, name) values ('avatars', 'avatars');
insert into storage.objects (bucket_id, name, metadata) values ('avatars', 'a.png', '{\"size\": 1000}');
select cron.schedule('platform-sync', '0 * * * *', 'select 1');
insert into cron.job_run_details (jobid, job_pid, database, username, command, status, return_message, start_time, end_time)
  select jobid, 1, current_database(), current_user, 'select 1', 'succeeded', 'SELECT 1',
         now() - interval '30 minutes', now() - interval '30 minutes' + interval '40 seconds'
  from cron.job where jobname = 'platform-sync';
";

fn queued(n: u32) -> String {
    format!(
        "insert into public.jobs (kind, status) select 'email', 'queued' from generate_series(1, {n})"
    )
}

/// A little more spend, so the budget pace (and its exhaustion forecast) is positive.
const MORE_SPEND: &str = "insert into public.ai_usage_events (occurred_at, client_id, provider, model, input_tokens, output_tokens)
  values (now() - interval '1 second', '20000000-0000-4000-8000-000000000002', 'openai', 'gpt-4o', 20000, 1000)";

/// The vector selectors of an expression, printed back as PromQL (`name{matchers}`).
fn vector_selectors(expr: &str) -> Vec<String> {
    use promql_parser::parser::Expr;
    use promql_parser::util::{ExprVisitor, walk_expr};
    struct V(Vec<String>);
    impl ExprVisitor for V {
        type Error = ();
        fn pre_visit(&mut self, e: &Expr) -> Result<bool, ()> {
            match e {
                Expr::VectorSelector(vs) => self.0.push(vs.to_string()),
                Expr::MatrixSelector(ms) => self.0.push(ms.vs.to_string()),
                _ => {}
            }
            Ok(true)
        }
    }
    let mut v = V(Vec::new());
    walk_expr(&mut v, &promql_parser::parser::parse(expr).unwrap()).unwrap();
    v.0
}

fn labels_of(notification: &Value) -> Vec<&Value> {
    notification["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["labels"])
        .collect()
}

/// launchguard reading `db_url`, Prometheus and Alertmanager with the kit rendered from the fast
/// test config (`for_overrides` under `kit.rules.for`), every receiver pointed at this test.
struct Stack {
    env: Env,
    inbox: Inbox,
    kit: PathBuf,
    lg: String,
    lg_port: u16,
    _dir: tempfile::TempDir,
}

async fn start_stack(db_url: &str, for_overrides: &[(&str, &str)]) -> Stack {
    let prometheus = tool("/usr/bin/prometheus", "prometheus");
    let alertmanager = tool(
        "/usr/bin/prometheus-alertmanager",
        "prometheus-alertmanager",
    );
    let dir = tempfile::tempdir().unwrap();
    let (lg_port, prom_port, am_port) = (free_port(), free_port(), free_port());
    let (hook_port, inbox) = webhook_server().await;
    // Supabase's metrics endpoint, faked with a body in its documented names, so the plan
    // usage figure and its panel have data.
    let supabase = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .respond_with(
            wiremock::ResponseTemplate::new(200).set_body_string(
                fs::read_to_string(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/fixtures/supabase-metrics.prom"
                ))
                .unwrap(),
            ),
        )
        .mount(&supabase)
        .await;

    let cfg = dir.path().join("launchguard.yml");
    let fors: String = for_overrides
        .iter()
        .map(|(k, v)| format!("      {k}: {v}\n"))
        .collect();
    fs::write(
        &cfg,
        format!(
            "database:\n  interval: 1s\n  timeout: 5s\n\
             kit:\n  rules:\n    for:\n{fors}\
             \x20 alertmanager:\n    group_wait: 1s\n    group_interval: 1s\n\
             \x20 prometheus:\n    scrape_interval: 1s\n    evaluation_interval: 1s\n\
             \x20   launchguard_targets: [\"127.0.0.1:{lg_port}\"]\n\
             \x20   alertmanagers: [\"127.0.0.1:{am_port}\"]\n\
             \x20   supabase:\n      enabled: false\n\
             supabase_metrics:\n  enabled: true\n  interval: 15s\n\
             \x20 url: {}/customer/v1/privileged/metrics\n\
             \x20 service_role_key: ${{LG_E2E_SUPABASE_KEY}}\n",
            supabase.uri()
        ),
    )
    .unwrap();
    let kit = dir.path().join("kit");
    let out = Command::new(env!("CARGO_BIN_EXE_launchguard"))
        .args(["render", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&kit)
        .env_remove("LAUNCHGUARD_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "render: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let am_yml = kit.join("deploy/alertmanager/alertmanager.yml");
    point_receivers_at(&am_yml, hook_port);

    let mut procs = vec![Proc::start(
        "launchguard",
        Command::new(env!("CARGO_BIN_EXE_launchguard"))
            .args(["serve", "--config"])
            .arg(&cfg)
            .args(["--listen", &format!("127.0.0.1:{lg_port}")])
            .env("SUPABASE_DB_URL", db_url)
            .env("LG_E2E_SUPABASE_KEY", "sb_secret_e2e")
            .env_remove("LAUNCHGUARD_CONFIG"),
        dir.path(),
    )];
    procs.push(Proc::start(
        "alertmanager",
        Command::new(&alertmanager)
            .arg(format!("--config.file={}", am_yml.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("am").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            .arg("--cluster.listen-address="),
        dir.path(),
    ));
    procs.push(Proc::start(
        "prometheus",
        Command::new(&prometheus)
            .arg(format!(
                "--config.file={}",
                kit.join("deploy/prometheus/prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("prom").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            // Alerts of the first evaluations, before the notifier has found Alertmanager, are
            // dropped and sent again after this delay (1m by default): fast, like the rest.
            .arg("--rules.alert.resend-delay=1s"),
        dir.path(),
    ));
    let env = Env {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap(),
        prom: format!("http://127.0.0.1:{prom_port}"),
        am: format!("http://127.0.0.1:{am_port}"),
        procs,
    };
    let lg = format!("http://127.0.0.1:{lg_port}");
    // /healthz, not /readyz: a source that never succeeds must not keep the test waiting.
    for url in [
        format!("{lg}/healthz"),
        format!("{}/-/ready", env.am),
        format!("{}/-/ready", env.prom),
    ] {
        env.wait(&url, Duration::from_secs(30), || async {
            env.ready(&url).await.then_some(())
        })
        .await;
    }
    Stack {
        env,
        inbox,
        kit,
        lg,
        lg_port,
        _dir: dir,
    }
}

/// Notifications to people (every receiver but the heartbeat).
fn to_people(inbox: &Inbox) -> Vec<(String, Value)> {
    inbox
        .lock()
        .unwrap()
        .iter()
        .filter(|(r, _)| r != HEARTBEAT)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_reach_the_receiver_of_their_severity_and_dashboards_have_data() {
    let mut pg = TestPg::start();
    pg.psql_query(BASE_DATASET);
    let Stack {
        env,
        inbox,
        kit,
        lg,
        lg_port,
        _dir,
    } = start_stack(&pg.reader_url(), &[("queue_depth", "2s")]).await;
    let limit = Duration::from_secs(30);
    let up = names::SOURCE_UP.name;
    env.wait(
        "Prometheus to scrape a healthy supabase source",
        limit,
        || async {
            (env.value(&format!("{up}{{source=\"supabase\"}}")).await == Some(1.0)).then_some(())
        },
    )
    .await;

    // The database goes away and comes back: the source is reported down, counts an error and
    // recovers by itself (and the exporter-health panels get their error series).
    pg.stop();
    env.wait("the source reported down", limit, || async {
        (env.value(&format!("{up}{{source=\"supabase\"}}")).await == Some(0.0)).then_some(())
    })
    .await;
    pg.start_again();
    env.wait("the source to recover", limit, || async {
        (env.value(&format!("{up}{{source=\"supabase\"}}")).await == Some(1.0)).then_some(())
    })
    .await;

    let qd = names::QUEUE_DEPTH.name;
    let alert_series = "ALERTS{alertname=\"LaunchguardQueueDepth\"}";
    // Settle time after a value is in Prometheus: `for` (2 s) + evaluation and group_wait (1 s
    // each) with a wide margin.
    let settle = Duration::from_secs(8);

    // 1. Under both thresholds: 49 queued jobs. Nothing is sent anywhere.
    pg.psql_query(&queued(49));
    env.wait("queue depth 49 in Prometheus", limit, || async {
        (env.value(qd).await == Some(49.0)).then_some(())
    })
    .await;
    tokio::time::sleep(settle).await;
    assert!(
        env.query(alert_series).await.is_empty(),
        "no queue alert, not even pending, under the warning threshold"
    );
    assert!(
        to_people(&inbox).is_empty(),
        "a dataset under every threshold sent notifications: {:?}\n{}",
        to_people(&inbox),
        env.logs()
    );

    // 2. Between warning and critical: 60 queued jobs. The warning receiver only.
    pg.psql_query(&queued(11));
    pg.psql_query(MORE_SPEND);
    let warning = env
        .wait("the warning notification", limit, || async {
            received(&inbox, WARNING).into_iter().next()
        })
        .await;
    assert_eq!(warning["status"], "firing", "{warning}");
    let l = labels_of(&warning);
    assert_eq!(l.len(), 1, "{warning}");
    assert_eq!(l[0]["alertname"], "LaunchguardQueueDepth");
    assert_eq!(l[0]["severity"], "warning");
    assert_eq!(l[0]["resource"], "queue_depth");
    let desc = warning["alerts"][0]["annotations"]["description"]
        .as_str()
        .unwrap();
    assert_eq!(
        desc,
        "60 jobs are queued and waiting to start (warning at 50)."
    );
    tokio::time::sleep(settle).await;
    assert!(
        received(&inbox, CRITICAL).is_empty(),
        "{:?}",
        inbox.lock().unwrap()
    );
    assert!(received(&inbox, DASHBOARD_ONLY).is_empty());
    assert!(
        to_people(&inbox).iter().all(|(_, n)| labels_of(n)
            .iter()
            .all(|l| l["alertname"] == "LaunchguardQueueDepth")),
        "only the queue alert reaches people: {:?}",
        to_people(&inbox)
    );

    // 3. Over critical: 250 queued jobs. The critical receiver, with the right labels.
    pg.psql_query(&queued(190));
    pg.psql_query(MORE_SPEND);
    let critical = env
        .wait("the critical notification", limit, || async {
            received(&inbox, CRITICAL).into_iter().next()
        })
        .await;
    assert_eq!(critical["status"], "firing", "{critical}");
    assert_eq!(critical["receiver"], CRITICAL);
    let l = labels_of(&critical);
    assert_eq!(l.len(), 1, "{critical}");
    assert_eq!(l[0]["alertname"], "LaunchguardQueueDepth");
    assert_eq!(l[0]["severity"], "critical");
    assert_eq!(l[0]["resource"], "queue_depth");
    assert_eq!(l[0]["job"], "launchguard");
    assert_eq!(l[0]["instance"], format!("127.0.0.1:{lg_port}"));
    let a = &critical["alerts"][0]["annotations"];
    assert_eq!(
        a["description"],
        "250 jobs are queued and waiting to start (critical at 200)."
    );
    // The default runbook link is the exporter's own copy: it works the day the kit is installed.
    let link = a["runbook_url"].as_str().unwrap();
    assert_eq!(
        link,
        format!("{lg}/docs/runbooks.md#launchguardqueuedepth"),
        "{critical}"
    );
    let runbooks = env
        .http
        .get(link.split('#').next().unwrap())
        .send()
        .await
        .unwrap();
    assert!(
        runbooks.status().is_success(),
        "{link}: {}",
        runbooks.status()
    );
    let text = runbooks.text().await.unwrap();
    assert!(text.contains("\n## LaunchguardQueueDepth\n"), "{link}");
    assert_eq!(
        critical["groupLabels"]["alertname"],
        "LaunchguardQueueDepth"
    );
    assert_eq!(critical["groupLabels"]["resource"], "queue_depth");
    // Prometheus fires both severities; Alertmanager inhibits the warning.
    let firing = env
        .query("ALERTS{alertname=\"LaunchguardQueueDepth\", alertstate=\"firing\"}")
        .await;
    assert_eq!(firing.len(), 2, "{firing:?}");
    let inhibited = env
        .wait("the warning to be inhibited", limit, || async {
            let alerts: Value = env
                .http
                .get(
                    reqwest::Url::parse_with_params(
                        &format!("{}/api/v2/alerts", env.am),
                        &[
                            ("filter", "alertname=\"LaunchguardQueueDepth\""),
                            ("filter", "severity=\"warning\""),
                        ],
                    )
                    .unwrap(),
                )
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let a = alerts.as_array()?.first()?.clone();
            (a["status"]["state"] == "suppressed").then_some(a)
        })
        .await;
    assert!(
        !inhibited["status"]["inhibitedBy"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{inhibited}"
    );
    assert!(received(&inbox, DASHBOARD_ONLY).is_empty());

    // Every dashboard expression returns data from Prometheus. The strain panels can only have
    // data once the exporter exports strain readiness; until it does, they must be empty.
    let exposition = env
        .http
        .get(format!("{lg}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let strain: Vec<String> = names::STRAIN.iter().map(|m| m.exposed_name()).collect();
    // Per metric: without a report the checklist and readiness are exported, the pass ratio
    // and last run are not.
    let exported = |m: &str| {
        exposition.lines().any(|l| {
            !l.starts_with('#')
                && (l.starts_with(&format!("{m} ")) || l.starts_with(&format!("{m}{{")))
        })
    };
    // The same for the providers' own figures: this stack configures no provider API, so
    // the drift, credits and quota alerts have nothing to read (their promtool tests drive them).
    let mut providers: Vec<String> = names::PROVIDERS.iter().map(|m| m.exposed_name()).collect();
    // The guard's decision counter, like any counter, has samples only once a decision was
    // made; this stack asks the guard nothing, so the denials panel must be empty.
    providers.push(names::GUARD_DECISIONS.exposed_name());
    let absent_strain = |text: &str| {
        strain
            .iter()
            .chain(&providers)
            .any(|m| text.contains(m.as_str()) && !exported(m))
    };
    let mut unchecked = Vec::new();
    let mut checked = 0;
    for file in [
        "launchguard-founder.json",
        "launchguard-exporter-health.json",
    ] {
        let d: Value =
            serde_json::from_str(&fs::read_to_string(kit.join("dashboards").join(file)).unwrap())
                .unwrap();
        // The job and instance variables list the scraped exporter: `label_values(sel, label)`
        // answers what `group by (label) (sel)` does.
        for v in d["templating"]["list"].as_array().unwrap() {
            if v["type"] != "query" {
                continue;
            }
            let name = v["name"].as_str().unwrap();
            let query = v["query"].as_str().unwrap();
            let sel = query
                .strip_prefix("label_values(")
                .and_then(|r| r.strip_suffix(&format!(", {name})")))
                .unwrap_or_else(|| panic!("{file}: variable {name}: {query}"))
                .replace("$job", ".+");
            let got = env.query(&format!("group by ({name}) ({sel})")).await;
            let want = if name == "job" { "launchguard" } else { "" };
            assert!(
                !got.is_empty()
                    && got
                        .iter()
                        .all(|r| want.is_empty() || r["metric"][name] == want),
                "{file}: variable {name} lists {got:?}"
            );
        }
        for expr in dashboards::expressions(&d) {
            // As Grafana sends it with "All" jobs and instances (the variables' allValue).
            let promql = expr
                .replace("$__rate_interval", "1m")
                .replace("$job", ".+")
                .replace("$instance", ".+");
            if absent_strain(&promql) {
                assert!(env.query(&promql).await.is_empty(), "{promql}");
                unchecked.push(promql);
                continue;
            }
            let q = promql.clone();
            env.wait(&format!("data for {file}: {promql}"), limit, || {
                let q = q.clone();
                let env = &env;
                async move { (!env.query(&q).await.is_empty()).then_some(()) }
            })
            .await;
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} expressions checked");

    // Every series an alerting rule reads exists: a renamed label value (say a `statistic`
    // that changed) would leave an alert that can never fire.
    let rules: Value = serde_saphyr::from_str(
        &fs::read_to_string(kit.join("rules/launchguard-alerts.yml")).unwrap(),
    )
    .unwrap();
    let mut selectors = std::collections::BTreeSet::new();
    for r in rules["groups"][0]["rules"].as_array().unwrap() {
        let expr = r["expr"].as_str().unwrap();
        selectors.extend(vector_selectors(expr));
    }
    for sel in &selectors {
        if absent_strain(sel) {
            unchecked.push(sel.clone());
            continue;
        }
        assert!(
            !env.query(sel).await.is_empty(),
            "no series for `{sel}`, which an alerting rule reads"
        );
    }
    assert!(selectors.len() >= 20, "{selectors:?}");
    if !unchecked.is_empty() {
        eprintln!(
            "not checked for data (no strain readiness or provider API in this stack): {unchecked:?}"
        );
    }
}

/// A wrong database password from the first start: launchguard runs but never collects, so no
/// figure and no budget alert exists. The critical "cannot see the ledger" alert
/// (LaunchguardSourceNeverUp) reaches the critical receiver once its `for` has elapsed, within
/// one evaluation, scrape and group_wait of it; the always-firing Watchdog reaches the heartbeat
/// receiver and no one else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_from_the_start_pages_and_the_watchdog_beats() {
    let pg = TestPg::start();
    let right = pg.reader_url();
    let wrong = right.replacen("launchguard_reader:", "launchguard_reader:wrong-", 1);
    assert_ne!(right, wrong);
    let for_ = Duration::from_secs(3);
    let s = start_stack(&wrong, &[("source_never_up", "3s")]).await;
    let (env, inbox) = (&s.env, &s.inbox);
    let limit = Duration::from_secs(30);

    let up = names::SOURCE_UP.name;
    env.wait("Prometheus to see the source down", limit, || async {
        (env.value(&format!("{up}{{source=\"supabase\"}}")).await == Some(0.0)).then_some(())
    })
    .await;
    let down_seen = Instant::now();
    assert!(
        env.query(&format!(
            "{}{{source=\"supabase\"}}",
            names::SOURCE_LAST_SUCCESS.name
        ))
        .await
        .is_empty(),
        "the source never succeeded, so it has no last success"
    );
    let is_never_up = |n: &Value| {
        labels_of(n)
            .iter()
            .any(|l| l["alertname"] == "LaunchguardSourceNeverUp")
    };
    let page = env
        .wait(
            "the critical 'cannot see the ledger' page",
            limit,
            || async {
                received(inbox, CRITICAL)
                    .into_iter()
                    .find(|n| is_never_up(n))
            },
        )
        .await;
    let took = down_seen.elapsed();
    // `for` from the first evaluation that sees it down, plus one evaluation (1 s), group_wait
    // (1 s) and scheduling slack.
    assert!(
        took <= for_ + Duration::from_secs(6),
        "the page came {took:?} after Prometheus saw the source down (for: {for_:?})"
    );
    assert_eq!(page["status"], "firing", "{page}");
    let l = labels_of(&page);
    assert_eq!(l.len(), 1, "{page}");
    assert_eq!(l[0]["severity"], "critical");
    assert_eq!(l[0]["source"], "supabase");
    assert_eq!(l[0]["resource"], "supabase");
    let desc = page["alerts"][0]["annotations"]["description"]
        .as_str()
        .unwrap();
    assert!(desc.contains("cannot see the ledger"), "{desc}");
    assert!(
        !page.to_string().contains("wrong-"),
        "the password leaked into a notification: {page}"
    );
    // Prometheus held it pending for its `for`, and fired once it elapsed: ALERTS_FOR_STATE
    // holds the moment it became active, the notification the moment it fired.
    let active_at = env
        .value("ALERTS_FOR_STATE{alertname=\"LaunchguardSourceNeverUp\"}")
        .await
        .expect("ALERTS_FOR_STATE of the firing alert");
    let fired_at =
        chrono::DateTime::parse_from_rfc3339(page["alerts"][0]["startsAt"].as_str().unwrap())
            .unwrap()
            .timestamp_millis() as f64
            / 1000.0;
    let held = fired_at - active_at;
    assert!(
        held >= for_.as_secs_f64() - 0.01 && held <= for_.as_secs_f64() + 2.0,
        "pending for {held} s, `for` is {for_:?}"
    );

    let beat = env
        .wait("the Watchdog at the heartbeat receiver", limit, || async {
            received(inbox, HEARTBEAT).into_iter().next()
        })
        .await;
    let l = labels_of(&beat);
    assert_eq!(l.len(), 1, "{beat}");
    assert_eq!(l[0]["alertname"], "LaunchguardWatchdog");
    assert!(
        to_people(inbox).iter().all(|(_, n)| labels_of(n)
            .iter()
            .all(|l| l["alertname"] != "LaunchguardWatchdog")),
        "the Watchdog reached a person: {:?}",
        to_people(inbox)
    );
    assert!(
        received(inbox, HEARTBEAT).iter().all(|n| labels_of(n)
            .iter()
            .all(|l| l["alertname"] == "LaunchguardWatchdog")),
        "only the Watchdog goes to the heartbeat"
    );
    // With the right password it never fires: the other test's "nothing reaches people under
    // every threshold" step runs with this rule loaded.
}
