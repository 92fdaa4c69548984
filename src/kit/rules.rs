//! Prometheus rule files, as the serde structs Prometheus' own YAML has.

use std::collections::BTreeMap;

use serde::Serialize;

use super::alerts::{Alert, Resource, template};
use super::format::prom_duration;
use super::recording;
use crate::config::Config;

#[derive(Debug, Serialize)]
pub struct RuleFile {
    pub groups: Vec<Group>,
}

#[derive(Debug, Serialize)]
pub struct Group {
    pub name: String,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Serialize)]
pub struct Rule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    pub expr: String,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The alert's rules: one per severity, sharing name, summary and runbook.
pub fn alert_rules(a: &Alert, runbook_base: &str) -> Vec<Rule> {
    a.variants
        .iter()
        .map(|v| {
            let mut labels = BTreeMap::from([("severity".into(), v.severity.label().into())]);
            if let Resource::Static(r) = a.resource {
                labels.insert("resource".into(), r.into());
            }
            Rule {
                alert: Some(a.name.clone()),
                record: None,
                expr: v.expr.clone(),
                for_: (!a.for_.is_zero()).then(|| prom_duration(a.for_)),
                labels,
                annotations: BTreeMap::from([
                    ("summary".into(), a.summary.into()),
                    ("description".into(), template(&v.description)),
                    ("runbook_url".into(), runbook_url(a, runbook_base)),
                ]),
            }
        })
        .collect()
}

pub fn runbook_url(a: &Alert, base: &str) -> String {
    format!("{base}#{}", a.anchor())
}

pub fn alerts_file(cfg: &Config) -> RuleFile {
    let rules = super::alerts::alerts(cfg)
        .iter()
        .flat_map(|a| alert_rules(a, &cfg.kit.runbook_base()))
        .collect();
    RuleFile {
        groups: vec![Group {
            name: "launchguard-alerts".into(),
            rules,
        }],
    }
}

pub fn recording_file() -> RuleFile {
    RuleFile {
        groups: recording::groups()
            .into_iter()
            .map(|(name, rs)| Group {
                name: name.into(),
                rules: rs
                    .into_iter()
                    .map(|r| Rule {
                        alert: None,
                        record: Some(r.name),
                        expr: r.expr,
                        for_: None,
                        labels: BTreeMap::new(),
                        annotations: BTreeMap::new(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// YAML as Prometheus reads it: plain or quoted scalars, no folded blocks (a folded string would
/// gain a trailing newline).
pub fn to_yaml<T: Serialize>(header: &str, v: &T) -> String {
    let mut o = serde_saphyr::SerializerOptions::default();
    o.prefer_block_scalars = false;
    let body = serde_saphyr::to_string_with_options(v, o).expect("kit structs always serialize");
    format!("{header}{body}")
}
