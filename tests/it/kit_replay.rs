//! A realistic day replayed through the shipped rules and routing, counting what each channel
//! receives against the notification budget in docs/kit.md ("Notification budget").
//!
//! The day (series as the exporter exports them, one sample a minute, after a quiet day of
//! history so the 1-day forecasts have their window):
//! - the daily AI budget climbs through its 80% alert ratio after lunch and is used up at 15:00;
//!   the guard's hard stop holds it there until midnight. Three of five clients use up their
//!   own daily budget (11:30, 14:10, 14:40), the others stay under it;
//! - a 10-minute error burst (25% of requests failing) at 10:00 at normal traffic;
//! - six pg_cron failures of one job between 03:00 and 03:20, healthy afterwards;
//! - the Watchdog, always firing.
//!
//! 1. The alert timeline is modelled here minute by minute, and `promtool test rules` proves the
//!    rendered alerting and recording rules produce exactly it: the firing `ALERTS` series are
//!    compared at every minute of the day (1m evaluation; the shipped 30 s only moves edges).
//! 2. That timeline is fed into a real Alertmanager running the rendered routing, with every
//!    duration of the config (group_wait, group_interval, repeat_interval, resolve_timeout)
//!    divided by the same factor, so a day takes 2.5 minutes. Alerts are posted as Prometheus
//!    posts them: every evaluation while firing (valid a while ahead, see VALID_FOR), then as
//!    resolved for 15 minutes, with the same scaled `startsAt`/`endsAt`.
//! 3. Each receiver's integrations become one webhook per channel with the same
//!    `send_resolved` (SMS, email, the heartbeat, and the dashboard-only receiver that notifies
//!    nobody), and the notifications per channel must fit the documented budget.

use crate::common::port;
use crate::common::servers;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use launchguard::config::Config;
use launchguard::kit::alertmanager::{DASHBOARD_ONLY, HARD_STOP_ALERTS, HEARTBEAT};
use launchguard::kit::render;
use serde_json::{Value, json};
use servers::{Inbox, Proc, tool, webhook_server};

/// Day time runs this many times faster than real time in Alertmanager.
const SCALE: u64 = 600;
/// Minutes of the model: yesterday (history), today, and the first half hour after midnight
/// (counted), plus a quarter of an hour so the alerts firing at the end do not expire while
/// the last notifications are counted.
const TODAY: u32 = 1440;
const COUNTED: u32 = 2 * 1440 + 30;
const END: u32 = COUNTED + 15;
const JOB: [(&str, &str); 2] = [("job", "launchguard"), ("instance", "launchguard:10071")];
/// Prometheus keeps sending a resolved alert this long (day minutes).
const RESOLVED_RETENTION: u32 = 15;
/// A firing alert is posted valid this many day minutes ahead. Prometheus says four
/// evaluations; that only matters when Prometheus stops sending, and here it would let a
/// scheduling hiccup of this test (400 ms) expire alerts that never resolved. Resolutions are
/// posted explicitly, as Prometheus posts them, so nothing else changes.
const VALID_FOR: u32 = 30;
/// How far behind its schedule the replay may fall (day minutes) and still be the day modelled.
const MAX_LATE: u32 = 20;

/// Clients: (id, minute of today their budget is used up, or the share they reach by 15:00).
const CLIENTS: [(&str, Option<u32>, f64); 5] = [
    (
        "30000000-0000-4000-8000-000000000001",
        Some(11 * 60 + 30),
        1.0,
    ),
    (
        "30000000-0000-4000-8000-000000000002",
        Some(14 * 60 + 10),
        1.0,
    ),
    (
        "30000000-0000-4000-8000-000000000003",
        Some(14 * 60 + 40),
        1.0,
    ),
    ("30000000-0000-4000-8000-000000000004", None, 0.6),
    ("30000000-0000-4000-8000-000000000005", None, 0.3),
];
const CRON_JOB: &str = "nightly-report";
/// The failed runs (minutes of today): six in twenty minutes.
const CRON_FAILURES: [u32; 6] = [180, 184, 188, 192, 196, 200];
/// The error burst: minutes of today with 25% of requests failing (10:00 to 10:09).
const BURST: std::ops::Range<u32> = 600..610;
/// The monthly period ends this many seconds after the model's start (today is mid-month).
const MONTH_END: f64 = 17.0 * 86400.0;
/// The daily budget is this share of the monthly one.
const DAILY_OF_MONTHLY: f64 = 1.0 / 40.0;
/// The recording rules' group with the budget forecasts.
const FORECAST_GROUP: &str = "launchguard-budget-forecasts";

/// Share of the daily budget used `d` minutes into a day: slow at night, business hours from
/// 07:00. Yesterday peaked at 75% by 18:00; today is used up at 15:00 and held by the hard stop
/// just over 100% (the request that crossed it was admitted).
fn daily_share(m: u32) -> f64 {
    let (day, d) = (m / 1440, f64::from(m % 1440));
    let night = 0.01 * d.min(420.0) / 60.0;
    match day {
        0 => night + 0.68 * ((d - 420.0) / 660.0).clamp(0.0, 1.0),
        1 if d >= 900.0 => 1.004,
        1 => night + 0.93 * ((d - 420.0) / 480.0).clamp(0.0, 1.0),
        _ => night,
    }
}

fn monthly_share(m: u32) -> f64 {
    let done: f64 = (0..m / 1440)
        .map(|day| daily_share(day * 1440 + 1439))
        .sum();
    0.35 + (done + daily_share(m)) * DAILY_OF_MONTHLY
}

fn client_share(c: usize, m: u32) -> f64 {
    let (day, d) = (m / 1440, f64::from(m % 1440));
    let (_, hit, peak) = CLIENTS[c];
    let business = ((d - 420.0) / 480.0).clamp(0.0, 1.0);
    match (day, hit) {
        (1, Some(h)) if d >= f64::from(h) => 1.01,
        (1, Some(h)) => ((d - 420.0) / (f64::from(h) - 420.0)).clamp(0.0, 1.0),
        (1, None) => peak * business,
        (0, _) => 0.5 * peak * business,
        _ => 0.0,
    }
}

fn scope_share(scope: &str, m: u32) -> f64 {
    match scope {
        "daily" => daily_share(m),
        "monthly" => monthly_share(m),
        _ => (0..CLIENTS.len())
            .map(|c| client_share(c, m))
            .fold(0.0, f64::max),
    }
}

fn period_end(scope: &str, m: u32) -> f64 {
    match scope {
        "monthly" => MONTH_END,
        _ => f64::from(m / 1440 + 1) * 86400.0,
    }
}

fn cron_failures(m: u32) -> f64 {
    CRON_FAILURES
        .iter()
        .map(|f| TODAY + f)
        .filter(|f| *f <= m && m < f + 1440)
        .count() as f64
}

fn error_ratio(m: u32) -> f64 {
    let per_minute = |k: u32| {
        if k >= TODAY && BURST.contains(&(k - TODAY)) {
            0.25
        } else {
            0.002
        }
    };
    (m.saturating_sub(4)..=m).map(per_minute).sum::<f64>() / 5.0
}

type Labels = BTreeMap<String, String>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn with_job(pairs: &[(&str, &str)]) -> Labels {
    let mut l = labels(pairs);
    l.extend(labels(&JOB));
    l
}

/// A series of the day: name, labels, and its value at minute `m`.
type Series = (String, Labels, Box<dyn Fn(u32) -> f64>);

/// Every series of the day.
fn series() -> Vec<Series> {
    let mut v: Vec<Series> = vec![
        (
            "launchguard_build_info".into(),
            with_job(&[("version", "replay")]),
            Box::new(|_| 1.0),
        ),
        (
            "launchguard_source_up".into(),
            with_job(&[("source", "supabase")]),
            Box::new(|_| 1.0),
        ),
        (
            "launchguard_source_last_success_timestamp_seconds".into(),
            with_job(&[("source", "supabase")]),
            Box::new(|m| f64::from(m) * 60.0),
        ),
        (
            "launchguard_api_error_ratio".into(),
            with_job(&[]),
            Box::new(error_ratio),
        ),
        (
            "launchguard_api_requests_last_5m".into(),
            with_job(&[]),
            Box::new(|_| 300.0),
        ),
        (
            "launchguard_cron_job_failures_last_day".into(),
            with_job(&[("cron_job", CRON_JOB)]),
            Box::new(cron_failures),
        ),
    ];
    for scope in ["daily", "monthly", "client_daily"] {
        v.push((
            "launchguard_budget_used_ratio".into(),
            with_job(&[("scope", scope)]),
            Box::new(move |m| scope_share(scope, m)),
        ));
        v.push((
            "launchguard_budget_period_end_timestamp_seconds".into(),
            with_job(&[("scope", scope)]),
            Box::new(move |m| period_end(scope, m)),
        ));
    }
    for (c, (id, _, _)) in CLIENTS.iter().enumerate() {
        v.push((
            "launchguard_client_budget_used_ratio".into(),
            with_job(&[("client", id)]),
            Box::new(move |m| client_share(c, m)),
        ));
    }
    v
}

/// `predict_linear(scope ratio[window], period_end - time())` at minute `m`, as Prometheus
/// computes it (least squares with the intercept at the evaluation time; the range includes
/// both ends).
fn forecast(scope: &str, m: u32) -> Option<f64> {
    let window = if scope == "monthly" { 1440 } else { 60 };
    let pts: Vec<(f64, f64)> = (m.saturating_sub(window)..=m)
        .map(|j| ((f64::from(j) - f64::from(m)) * 60.0, scope_share(scope, j)))
        .collect();
    if pts.len() < 2 {
        return None;
    }
    let n = pts.len() as f64;
    let (sx, sy) = pts.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (sxy, sx2) = pts
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x * y, b + x * x));
    let const_y = pts.iter().all(|(_, y)| *y == pts[0].1);
    let (slope, intercept) = if const_y {
        (0.0, pts[0].1)
    } else {
        let slope = (sxy - sx * sy / n) / (sx2 - sx * sx / n);
        (slope, sy / n - slope * sx / n)
    };
    Some(intercept + slope * (period_end(scope, m) - f64::from(m) * 60.0))
}

/// One alerting rule of the model: name, severity, `for` in minutes, and the label sets for
/// which its expression holds at minute `m`.
struct Rule {
    name: &'static str,
    severity: &'static str,
    for_min: u32,
    holds: Box<dyn Fn(u32) -> Vec<Labels>>,
}

fn rules() -> Vec<Rule> {
    let budget = |th: f64| -> Box<dyn Fn(u32) -> Vec<Labels>> {
        Box::new(move |m| {
            ["daily", "monthly"]
                .into_iter()
                .filter(|s| scope_share(s, m) >= th)
                .map(|s| with_job(&[("scope", s), ("resource", s)]))
                .collect()
        })
    };
    let client = |th: f64| -> Box<dyn Fn(u32) -> Vec<Labels>> {
        Box::new(move |m| {
            CLIENTS
                .iter()
                .enumerate()
                .filter(|(c, _)| client_share(*c, m) >= th)
                .map(|(_, (id, _, _))| with_job(&[("client", id), ("resource", id)]))
                .collect()
        })
    };
    let errors = |th: f64| -> Box<dyn Fn(u32) -> Vec<Labels>> {
        Box::new(move |m| {
            if error_ratio(m) >= th {
                vec![with_job(&[("resource", "error_rate")])]
            } else {
                vec![]
            }
        })
    };
    let cron = |value: fn(u32) -> f64, th: f64| -> Box<dyn Fn(u32) -> Vec<Labels>> {
        Box::new(move |m| {
            if value(m) >= th {
                vec![with_job(&[("cron_job", CRON_JOB), ("resource", CRON_JOB)])]
            } else {
                vec![]
            }
        })
    };
    fn cron_recent(m: u32) -> f64 {
        let low = (m.saturating_sub(60)..=m)
            .map(cron_failures)
            .fold(f64::INFINITY, f64::min);
        cron_failures(m) - low
    }
    vec![
        Rule {
            name: "LaunchguardWatchdog",
            severity: "info",
            for_min: 0,
            holds: Box::new(|_| vec![labels(&[("resource", "alerting")])]),
        },
        Rule {
            name: "LaunchguardBudget",
            severity: "warning",
            for_min: 1,
            holds: budget(0.8),
        },
        Rule {
            name: "LaunchguardBudget",
            severity: "critical",
            for_min: 1,
            holds: budget(1.0),
        },
        Rule {
            name: "LaunchguardClientBudget",
            severity: "warning",
            for_min: 1,
            holds: client(0.8),
        },
        Rule {
            name: "LaunchguardClientBudget",
            severity: "critical",
            for_min: 1,
            holds: client(1.0),
        },
        Rule {
            name: "LaunchguardBudgetForecast",
            severity: "warning",
            for_min: 30,
            holds: Box::new(|m| {
                // The test file evaluates the forecast group first, so the alert reads the
                // forecast of the same evaluation (Prometheus runs groups on their own timers:
                // there it may read the previous one, 30 s older).
                ["daily", "monthly", "client_daily"]
                    .into_iter()
                    .filter(|s| forecast(s, m).is_some_and(|f| f >= 1.0))
                    .filter(|s| scope_share(s, m) < 1.0)
                    .map(|s| with_job(&[("scope", s), ("resource", s)]))
                    .collect()
            }),
        },
        Rule {
            name: "LaunchguardErrorRate",
            severity: "warning",
            for_min: 5,
            holds: errors(0.01),
        },
        Rule {
            name: "LaunchguardErrorRate",
            severity: "critical",
            for_min: 5,
            holds: errors(0.05),
        },
        Rule {
            name: "LaunchguardCronJobFailures",
            severity: "warning",
            for_min: 0,
            holds: cron(cron_failures, 1.0),
        },
        Rule {
            name: "LaunchguardCronJobFailures",
            severity: "critical",
            for_min: 0,
            holds: cron(cron_recent, 5.0),
        },
    ]
}

/// One firing of one alert: its labels (alertname and severity included), the minute it fired
/// and the minute it resolved.
#[derive(Debug, Clone)]
struct Episode {
    labels: Labels,
    fired: u32,
    resolved: Option<u32>,
}

/// Prometheus' rule evaluation over the model: pending for `for`, firing, resolved.
fn timeline() -> Vec<Episode> {
    let mut episodes = Vec::new();
    for rule in rules() {
        // labels -> (active since, index of its episode once firing)
        let mut active: BTreeMap<Labels, (u32, Option<usize>)> = BTreeMap::new();
        for m in 0..=END {
            let now: BTreeSet<Labels> = (rule.holds)(m)
                .into_iter()
                .map(|mut l| {
                    l.insert("alertname".into(), rule.name.into());
                    l.insert("severity".into(), rule.severity.into());
                    l
                })
                .collect();
            active.retain(|l, (_, ep)| {
                let keep = now.contains(l);
                if !keep && let Some(i) = ep {
                    let e: &mut Episode = &mut episodes[*i];
                    e.resolved = Some(m);
                }
                keep
            });
            for l in now {
                let (since, ep) = active.entry(l.clone()).or_insert((m, None));
                if ep.is_none() && m - *since >= rule.for_min {
                    episodes.push(Episode {
                        labels: l,
                        fired: m,
                        resolved: None,
                    });
                    *ep = Some(episodes.len() - 1);
                }
            }
        }
    }
    episodes
}

fn firing_at(episodes: &[Episode], m: u32) -> impl Iterator<Item = &Episode> {
    episodes
        .iter()
        .filter(move |e| e.fired <= m && e.resolved.is_none_or(|r| m < r))
}

fn promql_labels(name: &str, l: &Labels) -> String {
    let inner: Vec<String> = l.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", inner.join(", "))
}

/// A `promtool test rules` file: the day's series, and at every minute of today the firing
/// alerts the model says.
fn promtool_test(rules_dir: &Path, episodes: &[Episode]) -> String {
    let mut y = String::new();
    y.push_str("rule_files:\n");
    for f in [render::ALERTS_FILE, render::RECORDING_FILE] {
        y.push_str(&format!("- {}\n", rules_dir.join(f).display()));
    }
    // Without an order promtool evaluates the groups in a random one, and the forecast alert
    // would read this evaluation's forecast or the previous one by chance.
    y.push_str(&format!(
        "evaluation_interval: 1m\ngroup_eval_order: [{FORECAST_GROUP}, launchguard-alerts]\n\
         tests:\n- interval: 1m\n  input_series:\n"
    ));
    for (name, l, f) in series() {
        let values: Vec<String> = (0..=END).map(|m| format!("{}", f(m))).collect();
        y.push_str(&format!(
            "  - series: '{}'\n    values: '{}'\n",
            promql_labels(&name, &l),
            values.join(" ")
        ));
    }
    y.push_str("  promql_expr_test:\n");
    for m in TODAY..=END {
        y.push_str(&format!(
            "  - expr: ALERTS{{alertstate=\"firing\"}}\n    eval_time: {m}m\n    exp_samples:"
        ));
        let mut any = false;
        for e in firing_at(episodes, m) {
            let mut l = e.labels.clone();
            let name = l.remove("alertname").unwrap();
            l.insert("alertname".into(), name);
            l.insert("alertstate".into(), "firing".into());
            y.push_str(&format!(
                "\n    - labels: '{}'\n      value: 1",
                promql_labels("ALERTS", &l)
            ));
            any = true;
        }
        y.push_str(if any { "\n" } else { " []\n" });
    }
    y
}

/// A Prometheus duration ("30s", "5m", "1h30m") in milliseconds.
fn duration_ms(s: &str) -> u64 {
    let mut total = 0;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            1
        } else {
            match c {
                's' => 1000,
                'm' => 60_000,
                'h' => 3_600_000,
                'd' => 86_400_000,
                _ => panic!("unexpected unit {c} in duration {s}"),
            }
        };
        total += num.parse::<u64>().expect("a number before each unit") * unit;
        num.clear();
    }
    assert!(num.is_empty() && total > 0, "bad duration {s}");
    total
}

fn scaled(s: &str) -> String {
    let ms = duration_ms(s);
    assert_eq!(ms % SCALE, 0, "{s} does not scale by 1/{SCALE} to whole ms");
    format!("{}ms", ms / SCALE)
}

/// Divides every duration of a route (and its children) by SCALE.
fn scale_route(route: &mut Value) {
    for key in ["group_wait", "group_interval", "repeat_interval"] {
        if let Some(v) = route.get(key).and_then(Value::as_str).map(scaled) {
            route[key] = json!(v);
        }
    }
    if let Some(children) = route.get_mut("routes").and_then(Value::as_array_mut) {
        children.iter_mut().for_each(scale_route);
    }
}

/// The channel a receiver's integration stands for.
fn channel(receiver: &str, kind: &str) -> &'static str {
    match kind {
        "email_configs" => "email",
        "sns_configs" => "sms",
        "webhook_configs" if receiver == HEARTBEAT => "heartbeat",
        "webhook_configs" => "sms",
        other => panic!("receiver {receiver}: unexpected integration {other}"),
    }
}

/// The rendered Alertmanager config, durations scaled and each integration swapped for a
/// webhook `/{receiver}/{channel}` with the same `send_resolved` (Alertmanager's defaults:
/// false for email, true for SNS and webhooks). The dashboard-only receiver gets one too, so
/// what reaches it (nobody) is counted.
fn replay_config(am_yml: &Path, webhook: u16) {
    let mut doc: Value = serde_saphyr::from_str(&fs::read_to_string(am_yml).unwrap()).unwrap();
    let root = &mut doc["route"];
    for key in ["group_wait", "group_interval", "repeat_interval"] {
        assert!(root.get(key).is_some(), "the root route sets {key}");
    }
    scale_route(root);
    let resolve = doc["global"]["resolve_timeout"]
        .as_str()
        .unwrap()
        .to_string();
    doc["global"]["resolve_timeout"] = json!(scaled(&resolve));
    for r in doc["receivers"].as_array_mut().unwrap() {
        let name = r["name"].as_str().unwrap().to_string();
        let mut hooks = Vec::new();
        for (kind, default_resolved) in [
            ("email_configs", false),
            ("sns_configs", true),
            ("webhook_configs", true),
        ] {
            for i in r.get(kind).and_then(Value::as_array).into_iter().flatten() {
                let resolved = i["send_resolved"].as_bool().unwrap_or(default_resolved);
                hooks.push(json!({
                    "url": format!("http://127.0.0.1:{webhook}/{name}/{}", channel(&name, kind)),
                    "send_resolved": resolved,
                    "max_alerts": 0,
                }));
            }
        }
        if hooks.is_empty() {
            assert_eq!(name, DASHBOARD_ONLY, "only dashboard-only notifies nobody");
            hooks.push(json!({
                "url": format!("http://127.0.0.1:{webhook}/{name}/dashboard"),
                "send_resolved": true,
                "max_alerts": 0,
            }));
        }
        let obj = r.as_object_mut().unwrap();
        obj.retain(|k, _| k == "name");
        obj.insert("webhook_configs".into(), Value::Array(hooks));
    }
    fs::write(am_yml, serde_saphyr::to_string(&doc).unwrap()).unwrap();
}

/// One row of docs/kit.md's notification budget: the least and most notifications a channel
/// gets over the replayed day.
#[derive(Debug)]
struct Budget {
    at_least: usize,
    at_most: usize,
}

fn documented_budget() -> BTreeMap<String, Budget> {
    let doc = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/kit.md")).unwrap();
    let section = doc
        .split("### Notification budget")
        .nth(1)
        .expect("docs/kit.md has a \"Notification budget\" section");
    let mut rows = BTreeMap::new();
    for line in section.lines().skip_while(|l| !l.starts_with('|')) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let (Some(lo), Some(hi)) = (
            cells.get(2).and_then(|c| c.parse().ok()),
            cells.get(3).and_then(|c| c.parse().ok()),
        ) else {
            continue;
        };
        rows.insert(
            cells[0].trim_matches('`').to_string(),
            Budget {
                at_least: lo,
                at_most: hi,
            },
        );
    }
    rows
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[test]
fn the_model_is_a_day_of_the_documented_incidents() {
    let e = timeline();
    let fired = |name: &str, sev: &str| -> Vec<(u32, Option<u32>)> {
        e.iter()
            .filter(|e| e.labels["alertname"] == name && e.labels["severity"] == sev)
            .map(|e| (e.fired, e.resolved))
            .collect()
    };
    // The daily budget is used up at 15:00 and paged at 15:01, held until midnight.
    assert!(fired("LaunchguardBudget", "critical").contains(&(TODAY + 901, Some(2 * TODAY))));
    assert_eq!(fired("LaunchguardClientBudget", "critical").len(), 3);
    assert_eq!(fired("LaunchguardErrorRate", "critical").len(), 1);
    assert_eq!(fired("LaunchguardCronJobFailures", "critical").len(), 1);
    assert_eq!(fired("LaunchguardWatchdog", "info"), [(0, None)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_day_holds_the_notification_budget() {
    let budget = documented_budget();
    for ch in ["SMS", "email", "heartbeat", "dashboard"] {
        assert!(
            budget.contains_key(ch),
            "no budget row for {ch}: {budget:?}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    render::write(&Config::default(), dir.path()).unwrap();
    let episodes = timeline();

    // 1. The rendered rules produce the model's timeline, minute by minute.
    let promtool = tool("/usr/bin/promtool", "prometheus");
    let test_file = dir.path().join("day.yml");
    fs::write(
        &test_file,
        promtool_test(&dir.path().join("rules"), &episodes),
    )
    .unwrap();
    let out = Command::new(&promtool)
        .args(["test", "rules"])
        .arg(&test_file)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the rules disagree with the day's model:\n{}",
        text.chars().take(6000).collect::<String>()
    );

    // 2. The timeline through the real Alertmanager, scaled.
    let alertmanager = tool(
        "/usr/bin/prometheus-alertmanager",
        "prometheus-alertmanager",
    );
    let (hook, inbox) = webhook_server().await;
    let am_yml = dir.path().join("deploy/alertmanager/alertmanager.yml");
    replay_config(&am_yml, hook);
    let am_port = port::free_port();
    let am = Proc::start(
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
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{am_port}");
    let started = Instant::now();
    while !http
        .get(format!("{base}/-/ready"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "Alertmanager not ready\n{}",
            am.tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let summaries = summaries(&dir.path().join("rules").join(render::ALERTS_FILE));
    let minute = Duration::from_millis(60_000 / SCALE);
    let t0 = Instant::now() + Duration::from_millis(500);
    let wall0 = chrono::Utc::now() + chrono::Duration::milliseconds(500);
    let at = |m: u32| {
        wall0
            + chrono::Duration::milliseconds(
                (i64::from(m) - i64::from(TODAY)) * 60_000 / SCALE as i64,
            )
    };
    let mut late = Duration::ZERO;
    // The day minute each notification arrived by.
    let mut arrived: Vec<u32> = Vec::new();
    for m in TODAY..=END {
        let n = inbox.lock().unwrap().len();
        arrived.resize(n, m);
        let due = t0 + minute * (m - TODAY);
        tokio::time::sleep_until(due.into()).await;
        late = late.max(Instant::now().saturating_duration_since(due));
        let mut alerts = Vec::new();
        for e in &episodes {
            let ends = match e.resolved {
                _ if e.fired > m => continue,
                None => m + VALID_FOR,
                Some(r) if m < r => m + VALID_FOR,
                Some(r) if m < r + RESOLVED_RETENTION => r,
                Some(_) => continue,
            };
            alerts.push(json!({
                "labels": e.labels,
                "annotations": {"summary": summaries[&e.labels["alertname"]]},
                "startsAt": rfc3339(at(e.fired)),
                "endsAt": rfc3339(at(ends)),
            }));
        }
        let r = http
            .post(format!("{base}/api/v2/alerts"))
            .json(&alerts)
            .send()
            .await
            .unwrap_or_else(|e| panic!("posting alerts: {e}\n{}", am.tail()));
        assert!(r.status().is_success(), "{}\n{}", r.status(), am.tail());
    }
    // A replay far behind its schedule would be another day than the one modelled.
    eprintln!("the replay fell at most {late:?} behind its schedule (a day minute is {minute:?})");
    assert!(
        late <= minute * MAX_LATE,
        "the replay fell {late:?} behind (a day minute is {minute:?}): machine too loaded"
    );

    // 3. Count per channel what arrived until 00:30.
    let n = arrived.partition_point(|m| *m <= COUNTED);
    inbox.lock().unwrap().truncate(n);
    let counts = count(&inbox);
    eprintln!("notifications to people over the replayed day (by the minute they arrived):");
    for (i, (path, body)) in inbox.lock().unwrap().iter().enumerate() {
        if path.ends_with("/heartbeat") {
            continue;
        }
        let m = arrived.get(i).copied().unwrap_or(END) - TODAY;
        let alerts: Vec<String> = body["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                format!(
                    "{}/{}",
                    a["labels"]["severity"].as_str().unwrap_or("?"),
                    a["labels"]["resource"].as_str().unwrap_or("?")
                )
            })
            .collect();
        eprintln!(
            "  {:02}:{:02} {path} {} {} {alerts:?}",
            m / 60 % 24,
            m % 60,
            body["status"].as_str().unwrap_or("?"),
            body["groupLabels"]["alertname"].as_str().unwrap_or("?"),
        );
    }
    eprintln!("notifications over the replayed day:");
    for (ch, (firing, resolved, by_alert)) in &counts {
        eprintln!("  {ch}: {firing} firing + {resolved} resolved  {by_alert:?}");
    }
    for (ch, b) in &budget {
        let n = counts.get(ch.as_str()).map_or(0, |(f, r, _)| f + r);
        assert!(
            b.at_least <= n && n <= b.at_most,
            "{ch}: {n} notifications, budget {b:?}\n{counts:?}"
        );
    }
    let sms = &counts.get("SMS").expect("SMS were sent").2;
    for alert in [
        "LaunchguardBudget",
        "LaunchguardErrorRate",
        "LaunchguardCronJobFailures",
    ] {
        assert!(
            sms.contains_key(&(alert.to_string(), "firing".into())),
            "no page for {alert}: {sms:?}"
        );
    }
    for alert in HARD_STOP_ALERTS {
        assert!(
            !sms.contains_key(&(alert.to_string(), "resolved".into())),
            "a RESOLVED text for the hard-stop state {alert}: {sms:?}"
        );
    }
    for (ch, (_, _, by_alert)) in &counts {
        if ch != "heartbeat" {
            assert!(
                by_alert.keys().all(|(a, _)| a != "LaunchguardWatchdog"),
                "the Watchdog reached {ch}"
            );
        }
    }
    drop(am);
}

/// Per channel: firing and resolved notifications, and their count per (alertname, status).
type Counts = BTreeMap<String, (usize, usize, BTreeMap<(String, String), usize>)>;

fn count(inbox: &Inbox) -> Counts {
    let mut c: Counts = BTreeMap::new();
    for (path, body) in inbox.lock().unwrap().iter() {
        let ch = match path.rsplit('/').next().unwrap() {
            "sms" => "SMS",
            other => other,
        };
        let status = body["status"].as_str().unwrap().to_string();
        let alert = body["groupLabels"]["alertname"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        let e = c.entry(ch.to_string()).or_default();
        if status == "firing" {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
        *e.2.entry((alert, status)).or_default() += 1;
    }
    c
}

/// alertname -> its summary annotation, from the rendered rules.
fn summaries(rules: &Path) -> BTreeMap<String, String> {
    let doc: Value = serde_saphyr::from_str(&fs::read_to_string(rules).unwrap()).unwrap();
    doc["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["alert"].as_str().unwrap().to_string(),
                r["annotations"]["summary"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}
