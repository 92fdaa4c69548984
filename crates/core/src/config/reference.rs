//! Every settable config path, for the configuration reference and its test.

use serde_json::Value;

use super::Config;

/// Paths whose keys are names chosen by the user, written as a placeholder in the docs.
const MAPS: &[(&str, &str)] = &[
    ("tiers", "<tier>"),
    ("providers", "<provider>"),
    ("prices.providers", "<provider>"),
    ("prices.providers.<provider>.models", "<model>"),
    ("database.queries", "<query>"),
    ("kit.rules.for", "<signal>"),
    ("supabase_metrics.plans", "<plan>"),
];

/// Dotted paths of every field of the config, map keys replaced by placeholders.
pub fn field_paths() -> Vec<String> {
    let v = serde_json::to_value(Config::default()).expect("the config serializes");
    let mut out = Vec::new();
    walk(&v, "", &mut out);
    // Map entries the default leaves empty still have documented fields.
    let model = serde_json::to_value(super::ModelPrice::default()).expect("serializes");
    walk(
        &model,
        "prices.providers.<provider>.models.<model>",
        &mut out,
    );
    for extra in [
        "database.queries.<query>.sql",
        "database.queries.<query>.params",
    ] {
        if !out.iter().any(|p| p == extra) {
            out.push(extra.to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

fn walk(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if !path.is_empty() {
                out.push(path.to_string());
            }
            let placeholder = MAPS.iter().find(|(p, _)| *p == path).map(|(_, ph)| *ph);
            for (k, child) in map {
                let key = placeholder.unwrap_or(k);
                let p = if path.is_empty() {
                    key.to_string()
                } else {
                    format!("{path}.{key}")
                };
                walk(child, &p, out);
            }
            if let Some(ph) = placeholder {
                out.push(format!("{path}.{ph}"));
            }
        }
        _ => out.push(path.to_string()),
    }
}
