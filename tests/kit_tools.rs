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
        // A budget the hard stop holds is paged once (no RESOLVED text), every client in one
        // notification; its warning is the daily email.
        for alert in ["LaunchguardBudget", "LaunchguardClientBudget"] {
            route(
                &am,
                alertmanager::HARD_STOP,
                &[&format!("alertname={alert}"), "severity=critical"],
            );
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
