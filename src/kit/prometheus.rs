//! deploy/prometheus/prometheus.yml: scrape launchguard and Supabase's own metrics endpoint,
//! load the rendered rules, send alerts to Alertmanager.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::format::prom_duration;
use crate::config::Config;

/// Supabase's privileged metrics endpoint (basic auth: service_role and the service role key).
pub const SUPABASE_METRICS_PATH: &str = "/customer/v1/privileged/metrics";

#[derive(Debug, Serialize)]
pub struct PrometheusConfig {
    pub global: Global,
    pub rule_files: Vec<String>,
    pub alerting: Alerting,
    pub scrape_configs: Vec<ScrapeConfig>,
}

#[derive(Debug, Serialize)]
pub struct Global {
    pub scrape_interval: String,
    pub scrape_timeout: String,
    pub evaluation_interval: String,
}

#[derive(Debug, Serialize)]
pub struct Alerting {
    pub alertmanagers: Vec<StaticTargets>,
}

#[derive(Debug, Serialize)]
pub struct StaticTargets {
    pub static_configs: Vec<Targets>,
}

#[derive(Debug, Serialize)]
pub struct Targets {
    pub targets: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ScrapeConfig {
    pub job_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrape_interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    pub static_configs: Vec<Targets>,
}

#[derive(Debug, Serialize)]
pub struct BasicAuth {
    pub username: String,
    pub password_file: PathBuf,
}

pub fn config(cfg: &Config) -> PrometheusConfig {
    let p = &cfg.kit.prometheus;
    let mut scrape = vec![ScrapeConfig {
        job_name: "launchguard".into(),
        scheme: None,
        metrics_path: None,
        scrape_interval: None,
        basic_auth: None,
        static_configs: vec![Targets {
            targets: p.launchguard_targets.clone(),
        }],
    }];
    if p.supabase.enabled {
        scrape.push(ScrapeConfig {
            job_name: "supabase".into(),
            scheme: Some("https".into()),
            metrics_path: Some(SUPABASE_METRICS_PATH.into()),
            scrape_interval: Some(prom_duration(p.supabase.scrape_interval.0)),
            basic_auth: Some(BasicAuth {
                username: "service_role".into(),
                password_file: p.supabase.password_file.clone(),
            }),
            static_configs: vec![Targets {
                targets: vec![format!("{}.supabase.co:443", p.supabase.project_ref)],
            }],
        });
    }
    PrometheusConfig {
        global: Global {
            scrape_interval: prom_duration(p.scrape_interval.0),
            // Prometheus refuses a timeout longer than the interval.
            scrape_timeout: prom_duration(p.scrape_interval.0.min(Duration::from_secs(10))),
            evaluation_interval: prom_duration(p.evaluation_interval.0),
        },
        rule_files: p.rule_files.clone(),
        alerting: Alerting {
            alertmanagers: vec![StaticTargets {
                static_configs: vec![Targets {
                    targets: p.alertmanagers.clone(),
                }],
            }],
        },
        scrape_configs: scrape,
    }
}
