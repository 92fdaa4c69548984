//! PromQL pieces the alerts, recording rules and dashboards share.

use crate::metrics::names::MetricDef;

use super::Resource;

/// `name{matchers}` for a gauge or a counter's exposed name.
pub fn sel(def: &MetricDef, matchers: &str) -> String {
    let name = def.exposed_name();
    if matchers.is_empty() {
        name
    } else {
        format!("{name}{{{matchers}}}")
    }
}

/// A PromQL double-quoted string.
pub fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `k="v", ...` from label pairs.
pub fn matchers(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", quote(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The expression with its `resource` label made as `r` says (label_replace for a label).
pub fn with_resource(expr: String, r: &Resource) -> String {
    match r {
        Resource::FromLabel(l) => {
            format!("label_replace({expr}, \"resource\", \"$1\", \"{l}\", \"(.*)\")")
        }
        _ => expr,
    }
}
