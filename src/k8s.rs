//! Kubernetes resources made from the kit's files, so the thresholds keep one source: the
//! PrometheusRule objects from `rules/*.yml` and the Grafana dashboards ConfigMap from
//! `dashboards/*.json`. `launchguard render` writes them to `deploy/kubernetes/generated/`,
//! which `deploy/kubernetes/kustomization.yaml` lists.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

/// Where the generated files go, relative to the render output folder.
pub const GENERATED_DIR: &str = "deploy/kubernetes/generated";
pub const RULES_FILE: &str = "prometheusrules.yaml";
pub const DASHBOARDS_FILE: &str = "dashboards.yaml";

/// The label Grafana's dashboard sidecar (kube-prometheus-stack, the Grafana chart) looks for.
pub const SIDECAR_LABEL: (&str, &str) = ("grafana_dashboard", "1");

/// A ConfigMap holds at most 1 MiB; the API server refuses larger ones.
const CONFIGMAP_MAX_BYTES: usize = 1024 * 1024;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Object<'a> {
    api_version: &'a str,
    kind: &'a str,
    metadata: Metadata,
    #[serde(skip_serializing_if = "Option::is_none")]
    spec: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Serialize)]
struct Metadata {
    name: String,
    labels: std::collections::BTreeMap<String, String>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    annotations: std::collections::BTreeMap<String, String>,
}

fn labels(extra: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    let mut l: std::collections::BTreeMap<String, String> = [
        ("app.kubernetes.io/name", "launchguard"),
        ("app.kubernetes.io/component", "kit"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        l.insert(k.to_string(), v.to_string());
    }
    l
}

/// A DNS-1123 name from a file stem: `founder_overview` -> `founder-overview`.
fn dns_name(stem: &str) -> String {
    let s: String = stem
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    s.trim_matches('-').to_string()
}

/// One PrometheusRule from one Prometheus rule file (`groups:` and nothing else).
pub fn prometheus_rule(stem: &str, rule_file: &str) -> Result<String, String> {
    let v: Value = serde_saphyr::from_str(rule_file)
        .map_err(|e| format!("{stem}: not a YAML rule file: {e}"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{stem}: a rule file is a mapping with `groups`"))?;
    if let Some(k) = obj.keys().find(|k| *k != "groups") {
        return Err(format!(
            "{stem}: unexpected top-level key `{k}` (only `groups`)"
        ));
    }
    if !obj.get("groups").is_some_and(Value::is_array) {
        return Err(format!("{stem}: `groups` must be a list"));
    }
    let o = Object {
        api_version: "monitoring.coreos.com/v1",
        kind: "PrometheusRule",
        metadata: Metadata {
            name: format!("launchguard-{}", dns_name(stem)),
            labels: labels(&[]),
            annotations: Default::default(),
        },
        spec: Some(v),
        data: None,
    };
    serde_saphyr::to_string(&o).map_err(|e| e.to_string())
}

/// One ConfigMap holding every dashboard, labelled for the Grafana sidecar.
pub fn dashboards_configmap(dashboards: &[(String, String)]) -> Result<String, String> {
    let mut data = std::collections::BTreeMap::new();
    let mut size = 0;
    for (file, json) in dashboards {
        serde_json::from_str::<Value>(json).map_err(|e| format!("{file}: not JSON: {e}"))?;
        size += file.len() + json.len();
        data.insert(file.clone(), json.clone());
    }
    if size > CONFIGMAP_MAX_BYTES {
        return Err(format!(
            "the dashboards take {size} bytes; a ConfigMap holds at most {CONFIGMAP_MAX_BYTES}"
        ));
    }
    let o = Object {
        api_version: "v1",
        kind: "ConfigMap",
        metadata: Metadata {
            name: "launchguard-dashboards".into(),
            labels: labels(&[SIDECAR_LABEL]),
            // The sidecar's folder annotation (kube-prometheus-stack: grafana_folder).
            annotations: [("grafana_folder".to_string(), "launchguard".to_string())]
                .into_iter()
                .collect(),
        },
        spec: None,
        data: Some(data),
    };
    serde_saphyr::to_string(&o).map_err(|e| e.to_string())
}

fn files_with(dir: &Path, exts: &[&str]) -> Result<Vec<PathBuf>, String> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| exts.contains(&x))
        })
        .collect();
    v.sort();
    Ok(v)
}

/// Reads `root/rules/*.yml` and `root/dashboards/*.json`, writes the generated resources under
/// `root/deploy/kubernetes/generated/`, and returns the files written.
pub fn render(root: &Path) -> Result<Vec<PathBuf>, String> {
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let stem = |p: &Path| {
        p.file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string()
    };
    let mut docs = Vec::new();
    for p in files_with(&root.join("rules"), &["yml", "yaml"])? {
        let text = read(&p)?;
        // promtool test files sit beside the rules; they are not rule files.
        if p.to_string_lossy().ends_with("_test.yml") || text.contains("rule_files:") {
            continue;
        }
        docs.push(prometheus_rule(&stem(&p), &text)?);
    }
    if docs.is_empty() {
        return Err(format!("no rule file in {}", root.join("rules").display()));
    }
    let mut dashboards = Vec::new();
    for p in files_with(&root.join("dashboards"), &["json"])? {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        dashboards.push((name, read(&p)?));
    }
    if dashboards.is_empty() {
        return Err(format!(
            "no dashboard in {}",
            root.join("dashboards").display()
        ));
    }
    let out = root.join(GENERATED_DIR);
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let header = "# Generated by `launchguard render` from rules/ and dashboards/: do not edit.\n";
    let rules_path = out.join(RULES_FILE);
    let rules_text = format!("{header}{}", docs.join("---\n"));
    std::fs::write(&rules_path, rules_text).map_err(|e| e.to_string())?;
    let dash_path = out.join(DASHBOARDS_FILE);
    let dash_text = format!("{header}{}", dashboards_configmap(&dashboards)?);
    std::fs::write(&dash_path, dash_text).map_err(|e| e.to_string())?;
    Ok(vec![rules_path, dash_path])
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = "groups:\n  - name: launchguard.budget\n    rules:\n      - alert: BudgetHigh\n        expr: launchguard_budget_used_ratio >= 0.8\n        for: 5m\n        labels:\n          severity: warning\n        annotations:\n          summary: \"Budget: 80%\"\n          description: |\n            Spend is {{ $value | humanizePercentage }}\n            of the budget.\n";

    #[test]
    fn rule_file_becomes_a_prometheus_rule_with_the_same_groups() {
        let y = prometheus_rule("budget_alerts", RULES).unwrap();
        let v: Value = serde_saphyr::from_str(&y).unwrap();
        assert_eq!(v["kind"], "PrometheusRule");
        assert_eq!(v["metadata"]["name"], "launchguard-budget-alerts");
        let orig: Value = serde_saphyr::from_str(RULES).unwrap();
        assert_eq!(v["spec"], orig, "groups carried over unchanged:\n{y}");
    }

    #[test]
    fn non_rule_files_are_refused() {
        assert!(prometheus_rule("x", "rule_files: [a]\n").is_err());
        assert!(prometheus_rule("x", "groups: 3\n").is_err());
        assert!(prometheus_rule("x", "- a\n").is_err());
    }

    #[test]
    fn dashboards_configmap_is_labelled_and_holds_the_json_verbatim() {
        let json = "{\n  \"uid\": \"launchguard-founder\",\n  \"title\": \"Founder\"\n}\n";
        let y = dashboards_configmap(&[("founder.json".into(), json.into())]).unwrap();
        let v: Value = serde_saphyr::from_str(&y).unwrap();
        assert_eq!(v["metadata"]["labels"]["grafana_dashboard"], "1");
        assert_eq!(v["data"]["founder.json"], json);
        assert!(dashboards_configmap(&[("bad.json".into(), "{".into())]).is_err());
    }
}
