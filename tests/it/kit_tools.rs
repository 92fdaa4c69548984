//! The rendered kit passes the tools its users run: `promtool check rules`, `promtool test rules`
//! (every alert at its boundaries, and the recording rules), `promtool check config`,
//! `amtool check-config` and `amtool config routes test` for each severity.
//!
//! Needs the Debian packages `prometheus` (promtool) and `prometheus-alertmanager` (amtool); a
//! missing tool fails the test with the package to install, it never skips.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use launchguard::config::Config;
use launchguard::config::kit::SmsVia;
use launchguard::kit::{alertmanager, render};
use serde_json::json;

fn tool(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` not found on PATH: install the Debian package {package} \
                 (apt-get install -y {package})"
            )
        })
}

fn promtool() -> Command {
    Command::new(tool("promtool", "prometheus"))
}

fn amtool() -> Command {
    Command::new(tool("amtool", "prometheus-alertmanager"))
}

fn run(what: &str, cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"))
}

fn ok(what: &str, cmd: &mut Command) -> String {
    let out = run(what, cmd);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{text}",
        out.status
    );
    text
}

fn rendered(cfg: &Config) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    render::write(cfg, dir.path()).unwrap();
    dir
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    v
}

#[test]
fn promtool_checks_and_unit_tests_the_rules() {
    let dir = rendered(&Config::default());
    let rules = dir.path().join("rules");
    let text = ok(
        "promtool check rules",
        promtool()
            .arg("check")
            .arg("rules")
            .args(files(&rules, "yml")),
    );
    assert!(!text.contains("WARNING"), "{text}");
    let tests = files(&rules.join("tests"), "yml");
    assert_eq!(
        tests.len(),
        launchguard::kit::alerts::alerts(&Config::default()).len() + 1,
        "one test file per alert plus the recording rules"
    );
    let text = ok(
        "promtool test rules",
        promtool()
            .current_dir(rules.join("tests"))
            .args(["test", "rules"])
            .args(&tests),
    );
    assert_eq!(text.matches("SUCCESS").count(), tests.len(), "{text}");
    ok(
        "promtool check config",
        promtool()
            .current_dir(dir.path().join("deploy/prometheus"))
            .args(["check", "config", "prometheus.yml"]),
    );
}

#[test]
fn promtool_tests_fail_when_a_rule_drifts_from_its_threshold() {
    let dir = rendered(&Config::default());
    let rules = dir.path().join("rules");
    let file = rules.join(render::ALERTS_FILE);
    let text = std::fs::read_to_string(&file).unwrap();
    // A strict comparison misses the value exactly at the threshold.
    let broken = text.replace(
        "launchguard_queue_depth >= 200",
        "launchguard_queue_depth > 200",
    );
    assert_ne!(broken, text);
    std::fs::write(&file, broken).unwrap();
    let out = run(
        "promtool test rules",
        promtool()
            .current_dir(rules.join("tests"))
            .args(["test", "rules", "queue_depth.yml"]),
    );
    assert!(
        !out.status.success(),
        "the boundary test must catch `> 200`"
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("at the critical threshold (200)"), "{text}");
}

fn route(cfg: &Path, receiver: &str, labels: &[&str]) {
    ok(
        &format!("amtool config routes test {labels:?}"),
        amtool()
            .args(["config", "routes", "test", "--config.file"])
            .arg(cfg)
            .arg(format!("--verify.receivers={receiver}"))
            .args(labels),
    );
}

#[test]
fn amtool_accepts_the_config_and_routes_each_severity() {
    for via in [SmsVia::Sns, SmsVia::Webhook] {
        let mut cfg = Config::default();
        cfg.kit.alertmanager.sms.via = via;
        let dir = rendered(&cfg);
        let am = dir.path().join("deploy/alertmanager/alertmanager.yml");
        let text = ok("amtool check-config", amtool().arg("check-config").arg(&am));
        assert!(
            text.contains("2 inhibit rules") && text.contains("5 receivers"),
            "{text}"
        );
        assert!(text.contains("1 templates"), "{text}");
        route(
            &am,
            alertmanager::CRITICAL,
            &[
                "alertname=LaunchguardQueueDepth",
                "resource=queue_depth",
                "severity=critical",
            ],
        );
        route(
            &am,
            alertmanager::WARNING,
            &[
                "alertname=LaunchguardQueueDepth",
                "resource=queue_depth",
                "severity=warning",
            ],
        );
        route(
            &am,
            alertmanager::DASHBOARD_ONLY,
            &[
                "alertname=LaunchguardTierHeadroom",
                "resource=clients",
                "severity=info",
            ],
        );
        route(&am, alertmanager::DASHBOARD_ONLY, &["alertname=Unlabelled"]);
        // The platform's budget used up is paged once (no RESOLVED text); a client's budget
        // used up is emailed, every client in one notification; the warnings are emails.
        route(
            &am,
            alertmanager::HARD_STOP,
            &[
                "alertname=LaunchguardBudget",
                "resource=daily",
                "severity=critical",
            ],
        );
        route(
            &am,
            alertmanager::WARNING,
            &["alertname=LaunchguardClientBudget", "severity=critical"],
        );
        for alert in ["LaunchguardBudget", "LaunchguardClientBudget"] {
            route(
                &am,
                alertmanager::WARNING,
                &[&format!("alertname={alert}"), "severity=warning"],
            );
        }
        // The Watchdog goes to the dead-man's-switch service only, whatever its severity.
        route(
            &am,
            alertmanager::HEARTBEAT,
            &[
                "alertname=LaunchguardWatchdog",
                "resource=alerting",
                "severity=info",
            ],
        );
        route(
            &am,
            alertmanager::HEARTBEAT,
            &["alertname=LaunchguardWatchdog", "severity=critical"],
        );
        // The check is real: a wrong expectation fails.
        let out = run(
            "amtool config routes test",
            amtool()
                .args(["config", "routes", "test", "--config.file"])
                .arg(&am)
                .arg(format!("--verify.receivers={}", alertmanager::CRITICAL))
                .arg("severity=warning"),
        );
        assert!(!out.status.success());
    }
}

#[test]
fn sms_template_renders_short() {
    let dir = rendered(&Config::default());
    let tmpl = dir
        .path()
        .join("deploy/alertmanager")
        .join(alertmanager::TEMPLATE_FILE);
    let text = ok(
        "amtool template render",
        amtool()
            .args(["template", "render", "--template.glob"])
            .arg(&tmpl)
            .arg("--template.text={{ template \"launchguard.sms\" . }}"),
    );
    // amtool's example data: two resolved alerts without labels.
    assert!(text.starts_with("RESOLVED"), "{text}");
    assert!(text.trim().len() < 160, "{text}");
}

/// Copies a folder's files and subfolders into `to`, as `cp -r FROM/. TO/` does.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// The numbers promtool prints before `what` ("2 rule files found", "44 rules found").
fn counts(text: &str, what: &str) -> Vec<usize> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("SUCCESS: ")?.strip_suffix(what))
        .map(|n| n.trim().parse().expect("promtool prints a count"))
        .collect()
}

/// Installed as docs/kit.md says (the folder deploy/prometheus/ copied to where Prometheus
/// reads its config, checked from elsewhere), prometheus.yml loads both rule files and every
/// rule in them; copied without its rules/ folder it fails the check instead of loading none.
#[test]
fn prometheus_config_copied_out_loads_every_rule() {
    let cfg = Config::default();
    let kit = rendered(&cfg);
    let etc = tempfile::tempdir().unwrap();
    copy_dir(&kit.path().join("deploy/prometheus"), etc.path());
    let text = ok(
        "promtool check config (installed copy)",
        promtool()
            .current_dir(std::env::temp_dir())
            .args(["check", "config"])
            .arg(etc.path().join("prometheus.yml")),
    );
    assert_eq!(counts(&text, "rule files found"), [2], "{text}");
    let alerting: usize = launchguard::kit::alerts::alerts(&cfg)
        .iter()
        .map(|a| a.variants.len())
        .sum();
    let recording = launchguard::kit::recording::names().len();
    let rules = counts(&text, "rules found");
    assert_eq!(rules.len(), 2, "{text}");
    assert!(alerting > 0 && recording > 0);
    assert_eq!(rules.iter().sum::<usize>(), alerting + recording, "{text}");

    // prometheus.yml alone: promtool names the missing file and fails.
    let bare = tempfile::tempdir().unwrap();
    std::fs::copy(
        etc.path().join("prometheus.yml"),
        bare.path().join("prometheus.yml"),
    )
    .unwrap();
    let out = run(
        "promtool check config (without rules)",
        promtool()
            .args(["check", "config"])
            .arg(bare.path().join("prometheus.yml")),
    );
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("launchguard-alerts.yml"), "{text}");
}

/// The founder dashboard's overall health, evaluated by promtool: OK only while every part is,
/// the worst part otherwise, and 0 (not blank) with no series at all.
#[test]
fn overall_health_is_the_worst_of_figures_budgets_sources_and_guard() {
    use launchguard::metrics::names as n;
    let cfg = Config::default();
    // The dashboard's query as Grafana sends it with "All" jobs and instances.
    let scope = launchguard::kit::dashboards::SCOPE
        .replace("$job", ".+")
        .replace("$instance", ".+");
    let expr = launchguard::kit::health::overall(&cfg, &scope);
    let s = |m: &n::MetricDef, l: &str| {
        format!(
            "{}{{job=\"launchguard\", instance=\"127.0.0.1:9187\", {l}}}",
            m.exposed_name()
        )
    };
    // Healthy: every part present and fine; the last success is "now" at every step.
    let healthy = |figure: &str, budget: &str, up: &str, success: Option<&str>, store: &str| {
        let mut v = vec![
            json!({"series": s(&n::FIGURE_LEVEL, "figure=\"queue_depth\""), "values": figure}),
            json!({"series": s(&n::BUDGET_USED_RATIO, "scope=\"daily\""), "values": budget}),
            json!({"series": s(&n::SOURCE_UP, "source=\"supabase\""), "values": up}),
            json!({"series": s(&n::GUARD_STORE_UP, "store=\"redis\""), "values": store}),
        ];
        if let Some(ls) = success {
            v.push(
                json!({"series": s(&n::SOURCE_LAST_SUCCESS, "source=\"supabase\""), "values": ls}),
            );
        }
        v
    };
    let now = Some("0+60x20");
    let warn = format!("{}+0x20", cfg.budgets.alert_ratio);
    let cases: Vec<(&str, Vec<serde_json::Value>, f64)> = vec![
        (
            "all fine",
            healthy("0+0x20", "0.5+0x20", "1+0x20", now, "1+0x20"),
            0.0,
        ),
        (
            "a figure at warning",
            healthy("1+0x20", "0.5+0x20", "1+0x20", now, "1+0x20"),
            1.0,
        ),
        (
            "a budget at the alert ratio",
            healthy("0+0x20", &warn, "1+0x20", now, "1+0x20"),
            1.0,
        ),
        (
            "a budget used up",
            healthy("0+0x20", "1+0x20", "1+0x20", now, "1+0x20"),
            2.0,
        ),
        (
            "a source down after a success",
            healthy("0+0x20", "0.5+0x20", "0+0x20", now, "1+0x20"),
            1.0,
        ),
        (
            "a source never collected",
            healthy("0+0x20", "0.5+0x20", "0+0x20", None, "1+0x20"),
            2.0,
        ),
        // The last success held at 0: 10 minutes old at 10m, the stale warning.
        (
            "a source stale",
            healthy("0+0x20", "0.5+0x20", "1+0x20", Some("0+0x20"), "1+0x20"),
            1.0,
        ),
        (
            "the guard's store down",
            healthy("0+0x20", "0.5+0x20", "1+0x20", now, "0+0x20"),
            2.0,
        ),
        ("no series at all", vec![], 0.0),
    ];
    assert_eq!(cfg.kit.rules.source_stale.warning.0.as_secs(), 600);
    let tests: Vec<serde_json::Value> = cases
        .iter()
        .map(|(name, input, want)| {
            json!({
                "name": format!("overall health: {name}"),
                "interval": "1m",
                "input_series": input,
                "promql_expr_test": [{
                    "expr": expr,
                    "eval_time": "10m",
                    "exp_samples": [{"labels": "{}", "value": want}],
                }],
            })
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("health.yml");
    // JSON is YAML.
    std::fs::write(
        &file,
        serde_json::to_string_pretty(&json!({"rule_files": [], "tests": tests})).unwrap(),
    )
    .unwrap();
    let text = ok(
        "promtool test rules (overall health)",
        promtool().args(["test", "rules"]).arg(&file),
    );
    assert!(text.contains("SUCCESS"), "{text}");

    // The check is real: a wrong expectation fails.
    let wrong =
        std::fs::read_to_string(&file)
            .unwrap()
            .replacen("\"value\": 2.0", "\"value\": 1.0", 1);
    std::fs::write(&file, wrong).unwrap();
    let out = run(
        "promtool test rules (wrong)",
        promtool().args(["test", "rules"]).arg(&file),
    );
    assert!(!out.status.success());
}
