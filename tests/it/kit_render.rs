//! The kit in the repository is the render of the default config, and what it contains is sound
//! without any server: every rule and dashboard expression parses as PromQL (promql-parser) and
//! names only metrics the exporter exports (metrics::names) or the recording rules define;
//! dashboards are provisioning-ready (stable uids, a datasource variable, units, no __inputs),
//! pass grafana/dashboard-linter's rules (one `lint_*` test per rule, below) and
//! their grids stay in 24 columns without overlap; every alert has its runbook section.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use launchguard::config::Config;
use launchguard::kit::{alerts, recording, render};
use launchguard::metrics::names;
use promql_parser::parser::{self, Expr};
use promql_parser::util::{ExprVisitor, walk_expr};
use serde_json::Value;

const REGENERATE: &str = "regenerate with: env -u LAUNCHGUARD_CONFIG cargo run -- render --out .";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files_under(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(root, &p, out);
        } else {
            out.push(p.strip_prefix(root).unwrap().to_path_buf());
        }
    }
}

#[test]
fn repository_kit_is_the_render_of_the_default_config() {
    let rendered = render::files(&Config::default());
    let mut problems = Vec::new();
    for (rel, want) in &rendered {
        match fs::read_to_string(repo().join(rel)) {
            Err(_) => problems.push(format!("{} is missing", rel.display())),
            Ok(have) if have != *want => {
                let line = have
                    .lines()
                    .zip(want.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or_else(|| have.lines().count().min(want.lines().count()));
                problems.push(format!(
                    "{} differs from a fresh render from line {}:\n  repository: {:?}\n  render:     {:?}",
                    rel.display(),
                    line + 1,
                    have.lines().nth(line).unwrap_or("<end of file>"),
                    want.lines().nth(line).unwrap_or("<end of file>"),
                ));
            }
            Ok(_) => {}
        }
    }
    let expected: HashSet<&PathBuf> = rendered.iter().map(|(p, _)| p).collect();
    let mut present = Vec::new();
    for d in render::OWNED_DIRS {
        files_under(&repo(), &repo().join(d), &mut present);
    }
    for p in present {
        if !expected.contains(&p) {
            problems.push(format!(
                "{} is not written by render (stale: delete it)",
                p.display()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "the kit in the repository is not the render of the default config:\n{}\n{REGENERATE}",
        problems.join("\n")
    );
}

/// Metric names a PromQL expression selects.
fn metric_names(expr: &str) -> Result<BTreeSet<String>, String> {
    struct Names(BTreeSet<String>);
    impl ExprVisitor for Names {
        type Error = String;
        fn pre_visit(&mut self, e: &Expr) -> Result<bool, String> {
            let vs = match e {
                Expr::VectorSelector(vs) => vs,
                Expr::MatrixSelector(ms) => &ms.vs,
                _ => return Ok(true),
            };
            let name = vs.name.clone().or_else(|| {
                vs.matchers
                    .matchers
                    .iter()
                    .find(|m| m.name == "__name__")
                    .map(|m| m.value.clone())
            });
            match name {
                Some(n) => {
                    self.0.insert(n);
                    Ok(true)
                }
                None => Err("a selector without a metric name".into()),
            }
        }
    }
    let ast = parser::parse(expr)?;
    let mut v = Names(BTreeSet::new());
    walk_expr(&mut v, &ast)?;
    Ok(v.0)
}

/// Every selector of an expression: (metric name, label names it matches on).
fn selectors(expr: &str) -> Vec<(String, Vec<String>)> {
    struct Sel(Vec<(String, Vec<String>)>);
    impl ExprVisitor for Sel {
        type Error = String;
        fn pre_visit(&mut self, e: &Expr) -> Result<bool, String> {
            let vs = match e {
                Expr::VectorSelector(vs) => vs,
                Expr::MatrixSelector(ms) => &ms.vs,
                _ => return Ok(true),
            };
            let labels = vs
                .matchers
                .matchers
                .iter()
                .map(|m| m.name.clone())
                .filter(|n| n != "__name__")
                .collect();
            self.0.push((vs.name.clone().unwrap_or_default(), labels));
            Ok(true)
        }
    }
    let mut v = Sel(Vec::new());
    walk_expr(&mut v, &parser::parse(expr).unwrap()).unwrap();
    v.0
}

/// A selector of an exported metric may only match on its labels or the scrape's own.
fn check_label_names(where_: &str, expr: &str) {
    for (name, labels) in selectors(expr) {
        let Some(def) = names::all().find(|m| m.exposed_name() == name) else {
            continue;
        };
        for l in labels {
            assert!(
                def.labels.contains(&l.as_str()) || l == "job" || l == "instance",
                "{where_}: `{expr}` matches {name} on `{l}`, which it does not have (labels: {:?})",
                def.labels
            );
        }
    }
}

/// Grafana's interval variables, as Prometheus would see them.
fn grafana_vars(expr: &str) -> String {
    expr.replace("$__rate_interval", "5m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h")
}

fn known_metrics() -> HashSet<String> {
    let mut k: HashSet<String> = names::all().map(|m| m.exposed_name()).collect();
    k.extend(recording::names());
    k
}

fn rendered(rel: &str) -> String {
    render::files(&Config::default())
        .into_iter()
        .find(|(p, _)| p == Path::new(rel))
        .unwrap_or_else(|| panic!("render writes no {rel}"))
        .1
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("rendered YAML parses")
}

#[test]
fn rule_expressions_name_only_exported_or_recorded_metrics() {
    let known = known_metrics();
    let mut checked = 0;
    for file in [
        "rules/launchguard-alerts.yml",
        "rules/launchguard-recording.yml",
    ] {
        let doc = yaml(&rendered(file));
        for g in doc["groups"].as_array().unwrap() {
            for r in g["rules"].as_array().unwrap() {
                let expr = r["expr"].as_str().unwrap();
                if r["alert"] == "LaunchguardWatchdog" {
                    // Always firing on purpose: the heartbeat reads no metric.
                    assert_eq!(expr, "vector(1)");
                    continue;
                }
                let used = metric_names(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
                check_label_names(file, expr);
                assert!(!used.is_empty(), "{expr} selects nothing");
                for m in used {
                    assert!(known.contains(&m), "{file}: {expr} uses unknown metric {m}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 30, "only {checked} rules");
}

#[test]
fn alerts_carry_severity_text_and_a_runbook_section() {
    let doc = yaml(&rendered("rules/launchguard-alerts.yml"));
    let runbooks = rendered("docs/runbooks.md");
    let mut seen = BTreeSet::new();
    for r in doc["groups"][0]["rules"].as_array().unwrap() {
        let name = r["alert"].as_str().unwrap();
        seen.insert(name.to_string());
        let sev = r["labels"]["severity"].as_str().unwrap();
        assert!(
            ["info", "warning", "critical"].contains(&sev),
            "{name}: {sev}"
        );
        let a = &r["annotations"];
        let summary = a["summary"].as_str().unwrap();
        assert!(!summary.contains("{{"), "{name}: the summary is static");
        let desc = a["description"].as_str().unwrap();
        let expr = r["expr"].as_str().unwrap();
        if expr.contains(" >= ") || expr.contains(" > ") {
            assert!(
                desc.contains("$value"),
                "{name}: description shows the value"
            );
            assert!(
                desc.contains(" at ") || desc.contains(" after ") || desc.contains("x the"),
                "{name}: description shows the limit: {desc}"
            );
        }
        let url = a["runbook_url"].as_str().unwrap();
        let anchor = url.split_once('#').unwrap().1;
        assert_eq!(anchor, name.to_lowercase());
        assert!(
            runbooks.contains(&format!("\n## {name}\n")),
            "docs/runbooks.md has no section {name}"
        );
    }
    assert_eq!(seen.len(), alerts::alerts(&Config::default()).len());
}

#[test]
fn runbooks_point_at_panels_that_exist() {
    let cfg = Config::default();
    let boards: Vec<Value> = ["founder", "exporter-health"]
        .iter()
        .map(|d| {
            serde_json::from_str(&rendered(&format!("dashboards/launchguard-{d}.json"))).unwrap()
        })
        .collect();
    for a in alerts::alerts(&cfg) {
        let (dash, panel) = a.runbook.confirm;
        let board = boards
            .iter()
            .find(|b| b["title"] == dash)
            .unwrap_or_else(|| panic!("{}: no dashboard {dash}", a.name));
        assert!(
            board["panels"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["title"] == panel),
            "{}: no panel {panel} on {dash}",
            a.name
        );
    }
}

fn check_dashboard(file: &str, d: &Value, uids: &mut HashSet<String>) {
    let text = d.to_string();
    assert!(!text.contains("__inputs"), "{file}: __inputs");
    assert!(!text.contains("${DS_"), "{file}: ${{DS_...}} placeholder");
    let uid = d["uid"].as_str().unwrap();
    assert!(!uid.is_empty() && uid.len() <= 40, "{file}: uid {uid}");
    assert!(uids.insert(uid.to_string()), "{file}: uid {uid} used twice");
    let vars = d["templating"]["list"].as_array().unwrap();
    assert!(
        vars.iter().any(|v| v["name"] == "datasource"
            && v["type"] == "datasource"
            && v["query"] == "prometheus"),
        "{file}: no datasource variable"
    );
    let known = known_metrics();
    let panels = d["panels"].as_array().unwrap();
    let mut ids = HashSet::new();
    let mut boxes = Vec::new();
    let mut queries = 0;
    for p in panels {
        let title = p["title"].as_str().unwrap();
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "{file}: id of {title} reused"
        );
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_u64().unwrap(),
            g["y"].as_u64().unwrap(),
            g["w"].as_u64().unwrap(),
            g["h"].as_u64().unwrap(),
        );
        assert!(
            w > 0 && h > 0 && x + w <= 24,
            "{file}: {title} leaves the 24-column grid"
        );
        boxes.push((title.to_string(), x, y, w, h));
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{file}: {title}");
        let unit = p["fieldConfig"]["defaults"]["unit"].as_str().unwrap_or("");
        assert!(!unit.is_empty(), "{file}: {title} has no unit");
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{file}: {title} has no query");
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{file}: {title}");
            let expr = t["expr"].as_str().unwrap();
            let used = metric_names(&grafana_vars(expr))
                .unwrap_or_else(|e| panic!("{file}: {title}: `{expr}` does not parse: {e}"));
            check_label_names(&format!("{file}: {title}"), &grafana_vars(expr));
            for m in used {
                // ALERTS is the series Prometheus itself makes from the alerting rules.
                assert!(
                    known.contains(&m) || m == "ALERTS",
                    "{file}: {title}: `{expr}` uses {m}, which neither the exporter nor a recording rule makes"
                );
            }
            queries += 1;
        }
    }
    for (i, a) in boxes.iter().enumerate() {
        for b in &boxes[i + 1..] {
            let apart =
                a.1 + a.3 <= b.1 || b.1 + b.3 <= a.1 || a.2 + a.4 <= b.2 || b.2 + b.4 <= a.2;
            assert!(apart, "{file}: panels {} and {} overlap", a.0, b.0);
        }
    }
    assert!(queries >= 7, "{file}: only {queries} queries");
}

#[test]
fn dashboards_are_provisioning_ready_and_query_known_metrics() {
    let mut uids = HashSet::new();
    for d in ["founder", "exporter-health"] {
        let file = format!("dashboards/launchguard-{d}.json");
        let v: Value = serde_json::from_str(&rendered(&file)).unwrap();
        check_dashboard(&file, &v, &mut uids);
    }
}

#[test]
fn the_name_check_catches_an_unknown_metric() {
    let mut uids = HashSet::new();
    let mut d: Value =
        serde_json::from_str(&rendered("dashboards/launchguard-exporter-health.json")).unwrap();
    d["panels"][1]["targets"][0]["expr"] = Value::from("launchguard_no_such_metric");
    let r = std::panic::catch_unwind(move || check_dashboard("x", &d, &mut uids));
    assert!(r.is_err(), "an unknown metric must fail the check");
    let r = std::panic::catch_unwind(|| {
        check_label_names("x", "launchguard_api_response_seconds{quantile=\"0.95\"}")
    });
    assert!(
        r.is_err(),
        "a label the metric does not have must fail the check"
    );
    assert_eq!(
        metric_names("sum(rate(a_total[5m])) / on() group_left b").unwrap(),
        BTreeSet::from(["a_total".to_string(), "b".to_string()])
    );
}

#[test]
fn render_refuses_a_bad_config_with_its_place_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.yml");
    fs::write(
        &cfg,
        "kit:\n  alertmanager:\n    sms:\n      phone_numbers: [\"12345\"]\n",
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_launchguard"))
        .args(["render", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&out_dir)
        .env_remove("LAUNCHGUARD_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yml:4:") && err.contains("kit.alertmanager.sms.phone_numbers.0"),
        "{err}"
    );
    assert!(!out_dir.exists());
}

/// An `_info` series is always 1: a stat showing it must show its legend (the tier's name, the
/// build's version), not "1". The founder's Tier stat is the case the issue names.
#[test]
fn info_stats_show_their_name_not_the_value_one() {
    let mut seen = Vec::new();
    for d in ["founder", "exporter-health"] {
        let file = format!("dashboards/launchguard-{d}.json");
        let v: Value = serde_json::from_str(&rendered(&file)).unwrap();
        for p in v["panels"].as_array().unwrap() {
            let info = p["targets"].as_array().into_iter().flatten().any(|t| {
                metric_names(t["expr"].as_str().unwrap_or(""))
                    .unwrap_or_default()
                    .iter()
                    .any(|m| m.ends_with("_info"))
            });
            if !info || p["type"] != "stat" {
                continue;
            }
            let title = p["title"].as_str().unwrap().to_string();
            assert_eq!(p["options"]["textMode"], "name", "{file}: {title}");
            let legend = p["targets"][0]["legendFormat"].as_str().unwrap();
            assert!(legend.contains("{{"), "{file}: {title}: legend {legend}");
            seen.push(title);
        }
    }
    assert!(seen.contains(&"Tier".to_string()), "{seen:?}");
    assert!(seen.contains(&"Build".to_string()), "{seen:?}");
}

/// The founder's one overall health reads every part that can make the platform unsafe, not
/// only the figures' levels: budgets, sources (down, stale, never up) and the guard's store.
/// (What it evaluates to per case: kit_tools' overall_health test runs it in promtool.)
#[test]
fn overall_health_reads_budgets_sources_and_the_guard() {
    let v: Value = serde_json::from_str(&rendered("dashboards/launchguard-founder.json")).unwrap();
    let health: Vec<&Value> = v["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["title"] == launchguard::kit::panels::HEALTH_LEVEL)
        .collect();
    assert_eq!(health.len(), 1, "one overall health stat");
    let p = health[0];
    assert_eq!(p["type"], "stat");
    let targets = p["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 1, "one query, one number");
    let expr = targets[0]["expr"].as_str().unwrap();
    let used = metric_names(expr).unwrap();
    for m in [
        &names::FIGURE_LEVEL,
        &names::BUDGET_USED_RATIO,
        &names::SOURCE_UP,
        &names::SOURCE_LAST_SUCCESS,
        &names::GUARD_STORE_UP,
    ] {
        assert!(
            used.contains(&m.exposed_name()),
            "health misses {}: {expr}",
            m.name
        );
    }
    // OK, WARNING and CRITICAL are mapped and coloured.
    let mapped = p["fieldConfig"]["defaults"]["mappings"][0]["options"].clone();
    for (k, text) in [("0", "OK"), ("1", "WARNING"), ("2", "CRITICAL")] {
        assert_eq!(mapped[k]["text"], text, "{mapped}");
    }
}

// ---------------------------------------------------------------------------------------------
// Grafana's own dashboard linter (github.com/grafana/dashboard-linter, `lint/rule_*.go`), rule by
// rule, over every rendered dashboard. Each `lint_*` function returns the rule's findings, so
// every test also proves its rule can fail on a broken copy. The linter is a Go tool CI does not
// have; these mirror its checks on the JSON.

/// Every rendered dashboard: (file, JSON).
fn boards() -> Vec<(String, Value)> {
    ["founder", "exporter-health"]
        .iter()
        .map(|d| {
            let file = format!("dashboards/launchguard-{d}.json");
            let v = serde_json::from_str(&rendered(&file)).unwrap();
            (file, v)
        })
        .collect()
}

/// The panels that are not rows.
fn panels(d: &Value) -> Vec<&Value> {
    d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] != "row")
        .collect()
}

fn var<'a>(d: &'a Value, name: &str) -> Option<&'a Value> {
    d["templating"]["list"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == name)
}

/// Asserts the rule finds nothing on the rendered dashboards, and something on each broken copy.
fn holds(rule: fn(&Value) -> Vec<String>, breaks: &[fn(&mut Value)]) {
    for (file, d) in boards() {
        let found = rule(&d);
        assert!(found.is_empty(), "{file}:\n{}", found.join("\n"));
        for (i, b) in breaks.iter().enumerate() {
            let mut broken = d.clone();
            b(&mut broken);
            assert!(!rule(&broken).is_empty(), "{file}: break {i} is not caught");
        }
    }
}

/// `template-datasource-rule`: one datasource variable, for Prometheus, named `datasource`
/// (the only one) and labelled `Data source`; with `panel-datasource-rule`: every panel and
/// every target queries through it (`${datasource}`), never a fixed data source.
fn lint_template_datasource(d: &Value) -> Vec<String> {
    let mut f = Vec::new();
    let ds: Vec<&Value> = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["type"] == "datasource")
        .collect();
    if ds.len() != 1 {
        f.push(format!("{} datasource variables", ds.len()));
    }
    for v in ds {
        if v["name"] != "datasource" || v["label"] != "Data source" || v["query"] != "prometheus" {
            f.push(format!("datasource variable {v}"));
        }
    }
    let uses =
        |x: &Value| ["$datasource", "${datasource}"].contains(&x["uid"].as_str().unwrap_or(""));
    for p in panels(d) {
        if !uses(&p["datasource"]) {
            f.push(format!(
                "panel {}: datasource {}",
                p["title"], p["datasource"]
            ));
        }
        for t in p["targets"].as_array().into_iter().flatten() {
            if !uses(&t["datasource"]) {
                f.push(format!(
                    "panel {} target: datasource {}",
                    p["title"], t["datasource"]
                ));
            }
        }
    }
    f
}

#[test]
fn lint_template_datasource_rule() {
    holds(
        lint_template_datasource,
        &[
            |d| d["templating"]["list"][0]["name"] = "ds".into(),
            |d| d["panels"][1]["datasource"]["uid"] = "prometheus-uid".into(),
            |d| d["panels"][1]["targets"][0]["datasource"]["uid"] = "x".into(),
        ],
    );
}

/// `template-job-rule` and `template-instance-rule` (`lint/template_utils.go` checkTemplate):
/// variables `job` and `instance`, Prometheus queries on `$datasource`, labelled `Job` /
/// `Instance`, multi-select with "All" as `.+`; `template-on-time-change-reload-rule`: refreshed
/// on time range change (2); `template-label-promql-rule`: the query is `label_values(<PromQL>,
/// label)` and its selector parses.
fn lint_template_job_instance(d: &Value) -> Vec<String> {
    let mut f = Vec::new();
    for (name, label) in [("job", "Job"), ("instance", "Instance")] {
        let Some(v) = var(d, name) else {
            f.push(format!("no {name} variable"));
            continue;
        };
        let uid = v["datasource"]["uid"].as_str().unwrap_or("");
        let checks = [
            (
                "datasource",
                ["$datasource", "${datasource}"].contains(&uid),
            ),
            ("type query", v["type"] == "query"),
            ("label", v["label"] == label),
            ("multi", v["multi"] == true),
            ("allValue .+", v["allValue"] == ".+"),
            ("includeAll", v["includeAll"] == true),
            ("refresh 2", v["refresh"] == 2),
        ];
        for (what, ok) in checks {
            if !ok {
                f.push(format!("{name}: {what}: {v}"));
            }
        }
        let q = v["query"].as_str().unwrap_or("");
        let arg = q
            .strip_prefix("label_values(")
            .and_then(|r| r.strip_suffix(&format!(", {name})")));
        match arg {
            Some(sel) if parser::parse(sel).is_ok() => {}
            _ => f.push(format!(
                "{name}: query {q:?} is not label_values(<PromQL>, {name})"
            )),
        }
    }
    f
}

#[test]
fn lint_template_job_and_instance_rules() {
    holds(
        lint_template_job_instance,
        &[
            |d| d["templating"]["list"].as_array_mut().unwrap().truncate(1),
            |d| d["templating"]["list"][1]["allValue"] = Value::Null,
            |d| d["templating"]["list"][2]["multi"] = false.into(),
            |d| d["templating"]["list"][2]["refresh"] = 1.into(),
            |d| d["templating"]["list"][1]["query"] = "launchguard_build_info".into(),
        ],
    );
}

/// `target-job-rule` and `target-instance-rule` (`lint/rule_target_job_instance.go`): every
/// selector of every query has the matchers `job=~"$job"` and `instance=~"$instance"`, exactly
/// (regex match, the variable unexpanded). One exception, which the linter's `.lint`
/// exclusions would name: `ALERTS`, the series Prometheus makes from the alerting rules, whose
/// labels are the rule's (an aggregated or always-firing alert has no job or instance).
fn lint_target_job_instance(d: &Value) -> Vec<String> {
    struct Sel(Vec<(String, Vec<(String, String)>)>);
    impl ExprVisitor for Sel {
        type Error = String;
        fn pre_visit(&mut self, e: &Expr) -> Result<bool, String> {
            let vs = match e {
                Expr::VectorSelector(vs) => vs,
                Expr::MatrixSelector(ms) => &ms.vs,
                _ => return Ok(true),
            };
            let regexes = vs
                .matchers
                .matchers
                .iter()
                .filter(|m| matches!(m.op, promql_parser::label::MatchOp::Re(_)))
                .map(|m| (m.name.clone(), m.value.clone()))
                .collect();
            self.0.push((vs.name.clone().unwrap_or_default(), regexes));
            Ok(true)
        }
    }
    let mut f = Vec::new();
    for p in panels(d) {
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().unwrap_or("");
            let Ok(ast) = parser::parse(&grafana_vars(expr)) else {
                f.push(format!("{}: `{expr}` does not parse", p["title"]));
                continue;
            };
            let mut v = Sel(Vec::new());
            walk_expr(&mut v, &ast).unwrap();
            for (name, regexes) in v.0 {
                if name == "ALERTS" {
                    continue;
                }
                for (label, value) in [("job", "$job"), ("instance", "$instance")] {
                    if !regexes.contains(&(label.to_string(), value.to_string())) {
                        f.push(format!(
                            "{}: {name} in `{expr}` lacks {label}=~\"{value}\"",
                            p["title"]
                        ));
                    }
                }
            }
        }
    }
    f
}

#[test]
fn lint_target_job_and_instance_rules() {
    holds(
        lint_target_job_instance,
        &[|d| {
            d["panels"][1]["targets"][0]["expr"] =
                "launchguard_build_info{job=\"$job\", instance=~\"$instance\"}".into()
        }],
    );
    // The Firing alerts table is the one ALERTS query; everything else is scoped.
    let founder = &boards()[0].1;
    let alerts_queries = panels(founder)
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .filter(|t| t["expr"].as_str().unwrap().contains("ALERTS"))
        .count();
    assert_eq!(alerts_queries, 1);
}

/// `uneditable-dashboard` (`lint/rule_uneditable.go`): `editable: false`. The kit is
/// provisioned; an edit in Grafana would be lost at the next render.
fn lint_uneditable(d: &Value) -> Vec<String> {
    if d["editable"] == false {
        vec![]
    } else {
        vec![format!("editable is {}", d["editable"])]
    }
}

#[test]
fn lint_uneditable_dashboard_rule() {
    holds(lint_uneditable, &[|d| d["editable"] = true.into()]);
}

/// The units of the linter's list (`lint/rule_panel_units.go`, from Grafana's valueFormats
/// categories) that a launchguard panel may use.
const LINTER_UNITS: &[&str] = &[
    "none",
    "short",
    "percent",
    "percentunit",
    "currencyUSD",
    "decbytes",
    "bytes",
    "s",
    "ms",
    "dateTimeAsIso",
    "dateTimeFromNow",
    "reqps",
    "opm",
    "bool",
];

/// `panel-units-rule`: every stat, gauge, time series and table panel has a unit the linter
/// knows, in `fieldConfig.defaults.unit` (launchguard's bar gauges too, though the linter skips
/// them; and unlike the linter, value mappings do not excuse a panel).
fn lint_panel_units(d: &Value) -> Vec<String> {
    panels(d)
        .into_iter()
        .filter_map(|p| {
            let unit = p["fieldConfig"]["defaults"]["unit"].as_str().unwrap_or("");
            (!LINTER_UNITS.contains(&unit)).then(|| format!("{}: unit {unit:?}", p["title"]))
        })
        .collect()
}

#[test]
fn lint_panel_units_rule() {
    holds(
        lint_panel_units,
        &[
            |d| d["panels"][1]["fieldConfig"]["defaults"]["unit"] = "".into(),
            |d| d["panels"][1]["fieldConfig"]["defaults"]["unit"] = "dollars".into(),
        ],
    );
}

/// `panel-title-description-rule`: every panel has a title and a description (the linter
/// checks stat, graph, table, time series and gauge panels; launchguard holds all to it).
fn lint_panel_title_description(d: &Value) -> Vec<String> {
    panels(d)
        .into_iter()
        .filter(|p| {
            p["title"].as_str().unwrap_or("").is_empty()
                || p["description"].as_str().unwrap_or("").trim().is_empty()
        })
        .map(|p| {
            format!(
                "panel {}: title {} description {}",
                p["id"], p["title"], p["description"]
            )
        })
        .collect()
}

#[test]
fn lint_panel_title_description_rule() {
    holds(
        lint_panel_title_description,
        &[
            |d| d["panels"][1]["description"] = "".into(),
            |d| d["panels"][1]["title"] = "".into(),
        ],
    );
}

/// Links: not a dashboard-linter rule (it has none for links), launchguard's own. Every alert
/// names the panel where the founder confirms it; that panel links to the alert's runbook
/// section. And every panel that shows a figure some alert reads (a metric an alert's
/// expression selects) links to at least one runbook, so no alerting figure is shown without
/// its action. Links point under the configured runbook address.
fn lint_runbook_links(d: &Value) -> Vec<String> {
    let cfg = Config::default();
    let base = cfg.kit.runbook_base();
    let all = alerts::alerts(&cfg);
    let mut f = Vec::new();
    let links = |p: &Value| -> Vec<String> {
        p["links"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["url"].as_str().map(str::to_string))
            .collect()
    };
    let ps = panels(d);
    for a in all.iter().filter(|a| d["title"] == a.runbook.confirm.0) {
        let url = launchguard::kit::rules::runbook_url(a, &base);
        for p in ps.iter().filter(|p| p["title"] == a.runbook.confirm.1) {
            if !links(p).contains(&url) {
                f.push(format!("{}: no link to {url}", p["title"]));
            }
        }
    }
    let alerting: BTreeSet<String> = all
        .iter()
        .flat_map(|a| a.variants.iter())
        .flat_map(|v| metric_names(&v.expr).unwrap_or_default())
        .collect();
    for p in ps {
        let shown: BTreeSet<String> = p["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|t| {
                metric_names(&grafana_vars(t["expr"].as_str().unwrap_or(""))).unwrap_or_default()
            })
            .collect();
        let ls = links(p);
        if let Some(m) = shown.intersection(&alerting).next()
            && ls.is_empty()
        {
            f.push(format!(
                "{} shows {m}, which alerts, and links no runbook",
                p["title"]
            ));
        }
        for l in ls {
            if !l.starts_with(&base) {
                f.push(format!("{}: link {l} is not under {base}", p["title"]));
            }
        }
    }
    f
}

#[test]
fn runbook_links_on_every_alerting_panel() {
    holds(
        lint_runbook_links,
        &[|d| {
            for p in d["panels"].as_array_mut().unwrap() {
                p["links"] = Value::Array(vec![]);
            }
        }],
    );
}

/// Clients show by name: every query of a per-client metric (one with a `client` label) joins
/// `launchguard_client_info` for its `name` (`group_left(name)`), and its legend is `{{name}}`,
/// never the client id.
#[test]
fn per_client_panels_show_client_names() {
    let per_client: BTreeSet<String> = names::all()
        .filter(|m| m.labels.contains(&"client") && m.name != names::CLIENT_INFO.name)
        .map(|m| m.exposed_name())
        .collect();
    let info = names::CLIENT_INFO.exposed_name();
    let mut seen = 0;
    for (file, d) in boards() {
        for p in panels(&d) {
            for t in p["targets"].as_array().unwrap() {
                let expr = t["expr"].as_str().unwrap();
                let used = metric_names(&grafana_vars(expr)).unwrap();
                if used.is_disjoint(&per_client) {
                    continue;
                }
                seen += 1;
                assert!(
                    used.contains(&info) && expr.contains("group_left(name)"),
                    "{file}: {}: `{expr}` does not join {info} for the name",
                    p["title"]
                );
                let legend = t["legendFormat"].as_str().unwrap();
                assert!(
                    legend.contains("{{name}}") && !legend.contains("{{client}}"),
                    "{file}: {}: legend {legend}",
                    p["title"]
                );
            }
        }
    }
    assert!(seen >= 1, "no per-client panel");
}

fn founder_panel<'a>(d: &'a Value, title: &str) -> &'a Value {
    d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["title"] == title)
        .unwrap_or_else(|| panic!("no panel {title}"))
}

fn selects(p: &Value, m: &names::MetricDef) -> bool {
    p["targets"].as_array().unwrap().iter().any(|t| {
        metric_names(&grafana_vars(t["expr"].as_str().unwrap()))
            .unwrap()
            .contains(&m.exposed_name())
    })
}

/// Trend arrows: the spend pace and the tier usage are stats that show their direction (a
/// sparkline and Grafana's percent-change arrow, `showPercentChange`, red when rising) over a
/// window of their own (`timeFrom`: the last day, the last hour), from range queries (an instant
/// query has no first value to compare with).
#[test]
fn spend_and_tier_usage_stats_show_their_trend() {
    use launchguard::kit::panels as p;
    let d: Value = serde_json::from_str(&rendered("dashboards/launchguard-founder.json")).unwrap();
    for (title, metric, window) in [
        (p::SPEND_PACE, &names::COST_USD, "24h"),
        (p::TIER_USAGE, &names::TIER_USAGE_RATIO, "1h"),
    ] {
        let panel = founder_panel(&d, title);
        assert_eq!(panel["type"], "stat", "{title}");
        assert!(selects(panel, metric), "{title} reads {}", metric.name);
        let o = &panel["options"];
        assert_eq!(o["showPercentChange"], true, "{title}");
        assert_eq!(o["percentChangeColorMode"], "inverted", "{title}");
        assert_eq!(o["graphMode"], "area", "{title}");
        assert_eq!(panel["timeFrom"], window, "{title}");
        for t in panel["targets"].as_array().unwrap() {
            assert_eq!(t["instant"], false, "{title}: a range query");
        }
    }
}

/// The founder's guard row: denials and throttles by reason, the throttled scopes and the kill
/// switches on, each from the guard's own metrics; and dollars spent beside dollars budgeted.
#[test]
fn founder_shows_the_guard_and_dollars_of_budget() {
    use launchguard::kit::panels as p;
    let d: Value = serde_json::from_str(&rendered("dashboards/launchguard-founder.json")).unwrap();
    assert!(
        d["panels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["type"] == "row" && p["title"] == "Guard")
    );
    let denials = founder_panel(&d, p::GUARD_DENIALS);
    assert!(selects(denials, &names::GUARD_DECISIONS));
    let expr = denials["targets"][0]["expr"].as_str().unwrap();
    assert!(
        expr.contains("by (decision, reason)") && expr.contains("decision!=\"allow\""),
        "{expr}"
    );
    assert!(selects(
        founder_panel(&d, p::GUARD_THROTTLED),
        &names::GUARD_THROTTLED
    ));
    let kill = founder_panel(&d, p::GUARD_KILL_SWITCHES);
    assert!(selects(kill, &names::GUARD_KILL_SWITCH));
    // No switch on reads 0, not "No data"; one on is red.
    assert!(
        kill["targets"][0]["expr"]
            .as_str()
            .unwrap()
            .contains("or vector(0)")
    );
    assert_eq!(
        kill["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["color"],
        "red"
    );
    let dollars = founder_panel(&d, p::SPENT_OF_BUDGET);
    assert!(selects(dollars, &names::BUDGET_SPENT_USD) && selects(dollars, &names::BUDGET_USD));
    assert_eq!(dollars["fieldConfig"]["defaults"]["unit"], "currencyUSD");
}
