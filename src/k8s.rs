//! Kubernetes resources made from the kit's files, so the thresholds keep one source: the
//! PrometheusRule objects from `rules/*.yml` and the Grafana dashboards ConfigMap from
//! `dashboards/*.json`. `launchguard render` writes them to `deploy/kubernetes/generated/`
//! with a kustomization listing them, which `deploy/kubernetes/base/` includes as a resource
//! (kustomize loads files only from inside a kustomization's own folder).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

/// Where the generated files go, relative to the render output folder.
pub const GENERATED_DIR: &str = "deploy/kubernetes/generated";
pub const RULES_FILE: &str = "prometheusrules.yaml";
pub const DASHBOARDS_FILE: &str = "dashboards.yaml";
pub const KUSTOMIZATION_FILE: &str = "kustomization.yaml";

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

/// Why the kit cannot be turned into Kubernetes resources. Each names the kit file it read;
/// the first three mean a rule file or dashboard must be fixed.
#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    #[error("{stem}: not a YAML rule file: {source}")]
    NotYaml {
        stem: String,
        #[source]
        source: Box<serde_saphyr::Error>,
    },
    /// YAML, but not the shape of a rule file (`groups:` and nothing else).
    #[error("{stem}: {problem}")]
    NotRuleFile { stem: String, problem: String },
    #[error("{file}: not JSON: {source}")]
    DashboardNotJson {
        file: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the dashboards take {size} bytes; a ConfigMap holds at most {CONFIGMAP_MAX_BYTES}")]
    TooLarge { size: usize },
    #[error("the kit has no rule file or no dashboard")]
    Incomplete,
    /// The resource could not be written as YAML (a bug, not the kit's fault).
    #[error("cannot encode a resource as YAML: {0}")]
    Encode(#[from] serde_saphyr::SerializeError),
}

/// One PrometheusRule from one Prometheus rule file (`groups:` and nothing else).
pub fn prometheus_rule(stem: &str, rule_file: &str) -> Result<String, K8sError> {
    let v: Value = serde_saphyr::from_str(rule_file).map_err(|e| K8sError::NotYaml {
        stem: stem.to_string(),
        source: Box::new(e),
    })?;
    let shape = |problem: String| K8sError::NotRuleFile {
        stem: stem.to_string(),
        problem,
    };
    let obj = v
        .as_object()
        .ok_or_else(|| shape("a rule file is a mapping with `groups`".into()))?;
    if let Some(k) = obj.keys().find(|k| *k != "groups") {
        return Err(shape(format!(
            "unexpected top-level key `{k}` (only `groups`)"
        )));
    }
    if !obj.get("groups").is_some_and(Value::is_array) {
        return Err(shape("`groups` must be a list".into()));
    }
    let o = Object {
        api_version: "monitoring.coreos.com/v1",
        kind: "PrometheusRule",
        metadata: Metadata {
            name: match dns_name(stem) {
                n if n.starts_with("launchguard-") => n,
                n => format!("launchguard-{n}"),
            },
            labels: labels(&[]),
            annotations: Default::default(),
        },
        spec: Some(v),
        data: None,
    };
    Ok(serde_saphyr::to_string(&o)?)
}

/// One ConfigMap holding every dashboard, labelled for the Grafana sidecar.
pub fn dashboards_configmap(dashboards: &[(String, String)]) -> Result<String, K8sError> {
    let mut data = std::collections::BTreeMap::new();
    let mut size = 0;
    for (file, json) in dashboards {
        serde_json::from_str::<Value>(json).map_err(|source| K8sError::DashboardNotJson {
            file: file.clone(),
            source,
        })?;
        size += file.len() + json.len();
        data.insert(file.clone(), json.clone());
    }
    if size > CONFIGMAP_MAX_BYTES {
        return Err(K8sError::TooLarge { size });
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
    Ok(serde_saphyr::to_string(&o)?)
}

/// The generated resources from the kit's files (paths relative to the render folder):
/// `rules/*.yml` (not `rules/tests/`) and `dashboards/*.json`. Pure, so `render` can add them
/// to its file list.
pub fn generated(kit: &[(PathBuf, String)]) -> Result<Vec<(PathBuf, String)>, K8sError> {
    let in_dir = |p: &Path, dir: &str, exts: &[&str]| {
        p.parent() == Some(Path::new(dir))
            && p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| exts.contains(&x))
    };
    let stem = |p: &Path| {
        p.file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string()
    };
    let mut sorted: Vec<&(PathBuf, String)> = kit.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut rules = Vec::new();
    let mut dashboards = Vec::new();
    for (p, text) in sorted {
        if in_dir(p, "rules", &["yml", "yaml"]) {
            rules.push(prometheus_rule(&stem(p), text)?);
        } else if in_dir(p, "dashboards", &["json"]) {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            dashboards.push((name.into_owned(), text.clone()));
        }
    }
    if rules.is_empty() || dashboards.is_empty() {
        return Err(K8sError::Incomplete);
    }
    let header = "# Generated by `launchguard render` from rules/ and dashboards/: do not edit.\n";
    let dir = PathBuf::from(GENERATED_DIR);
    Ok(vec![
        (
            dir.join(RULES_FILE),
            format!("{header}{}", rules.join("---\n")),
        ),
        (
            dir.join(DASHBOARDS_FILE),
            format!("{header}{}", dashboards_configmap(&dashboards)?),
        ),
        (
            dir.join(KUSTOMIZATION_FILE),
            format!(
                "{header}apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
                 resources:\n  - {RULES_FILE}\n  - {DASHBOARDS_FILE}\n"
            ),
        ),
    ])
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
