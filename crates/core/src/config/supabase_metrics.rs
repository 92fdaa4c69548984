//! The `supabase_metrics` section: the project's own Prometheus-format metrics endpoint
//! (database size, disk, memory, CPU, connections) and the plan limits the plan-usage figure
//! compares them with (docs/sources.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Dur, SecretRef};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SupabaseMetrics {
    /// Read the endpoint.
    pub enabled: bool,
    /// `https://<project-ref>.supabase.co/customer/v1/privileged/metrics`.
    pub url: Option<String>,
    /// Basic-auth user name.
    pub username: String,
    /// Basic-auth password: a secret API key (`sb_secret_...`) or the legacy service_role key.
    pub service_role_key: SecretRef,
    /// Collection interval (Supabase refreshes the endpoint once a minute).
    pub interval: Dur,
    /// Bound on one collection.
    pub timeout: Dur,
    /// Largest body read, in bytes.
    pub max_body_bytes: usize,
    /// Mount point of the database's disk in `node_filesystem_*`.
    pub disk_mountpoint: String,
    /// The project's plan, a key of `plans`.
    pub plan: String,
    /// Each plan's limits.
    pub plans: BTreeMap<String, PlanLimits>,
}

/// What a plan includes per project, in bytes.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlanLimits {
    /// Database size (sum of every database's size) the plan allows or includes.
    pub database_size_bytes: u64,
    /// Disk the plan includes (used space past it is billed); unset when the plan bills none.
    #[serde(default)]
    pub disk_bytes: Option<u64>,
}

impl Default for SupabaseMetrics {
    fn default() -> Self {
        SupabaseMetrics {
            enabled: false,
            url: None,
            username: "service_role".into(),
            service_role_key: SecretRef::Env("SUPABASE_SERVICE_ROLE_KEY".into()),
            interval: Dur::from_secs(60),
            timeout: Dur::from_secs(20),
            max_body_bytes: 8 * 1024 * 1024,
            disk_mountpoint: "/data".into(),
            plan: "free".into(),
            plans: default_plans(),
        }
    }
}

/// Supabase's pricing as read on 2026-11-30 (supabase.com/pricing and the billing docs):
/// Free, 500 MB database size per project, read-only past it; Pro, 8 GB of disk per project
/// included, more billed per GB. Supabase writes MB and GB; these are decimal (10^6, 10^9), which
/// trips a little before a binary reading would.
pub fn default_plans() -> BTreeMap<String, PlanLimits> {
    BTreeMap::from([
        (
            "free".to_string(),
            PlanLimits {
                database_size_bytes: 500_000_000,
                disk_bytes: None,
            },
        ),
        (
            "pro".to_string(),
            PlanLimits {
                database_size_bytes: 8_000_000_000,
                disk_bytes: Some(8_000_000_000),
            },
        ),
    ])
}

impl SupabaseMetrics {
    /// The limits of the configured plan (validated to exist).
    pub fn limits(&self) -> Option<&PlanLimits> {
        self.plans.get(&self.plan)
    }
}

/// Bound on every plan limit: 1 PB.
pub const MAX_LIMIT_BYTES: u64 = 1_000_000_000_000_000;
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Whether a URL may carry the key: https, or http to a loopback address (a local fake).
pub fn url_problem(u: &str) -> Option<String> {
    let parsed = match url::Url::parse(u) {
        Ok(p) => p,
        Err(e) => return Some(format!("is not a URL: {e}")),
    };
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => return Some("has no host".into()),
    };
    match parsed.scheme() {
        "https" => None,
        "http" if loopback => None,
        _ => Some(
            "must be https (http only to a loopback address), so the key is never sent in clear"
                .into(),
        ),
    }
}

/// Problems as (field path, message).
/// `for_strain`: `strain.memory_source` is `supabase`, which reads the endpoint too.
pub(super) fn validate(s: &SupabaseMetrics, for_strain: bool, out: &mut Vec<(String, String)>) {
    let mut bad = |f: &str, m: String| out.push((format!("supabase_metrics.{f}"), m));
    match &s.url {
        None if s.enabled || for_strain => bad(
            "url",
            format!(
                "must be set when {}: https://<project-ref>.supabase.co/customer/v1/privileged/metrics",
                if s.enabled {
                    "enabled"
                } else {
                    "strain.memory_source is supabase"
                }
            ),
        ),
        Some(u) => {
            if let Some(p) = url_problem(u) {
                bad("url", p);
            }
        }
        None => {}
    }
    if s.username.is_empty() || s.username.contains(':') || s.username.len() > 256 {
        bad("username", "must be 1 to 256 characters without `:`".into());
    }
    let i = s.interval.0.as_secs_f64();
    if !(15.0..=3600.0).contains(&i) {
        bad(
            "interval",
            "must be between 15s and 1h (Supabase refreshes the endpoint once a minute)".into(),
        );
    }
    let t = s.timeout.0.as_secs_f64();
    if !(1.0..=120.0).contains(&t) {
        bad("timeout", "must be between 1s and 2m".into());
    }
    if !(1024..=MAX_BODY_BYTES).contains(&s.max_body_bytes) {
        bad(
            "max_body_bytes",
            format!("must be between 1024 and {MAX_BODY_BYTES}"),
        );
    }
    if !s.disk_mountpoint.starts_with('/') || s.disk_mountpoint.len() > 256 {
        bad(
            "disk_mountpoint",
            "must be an absolute path of at most 256 characters".into(),
        );
    }
    if !s.plans.contains_key(&s.plan) {
        let known: Vec<&str> = s.plans.keys().map(String::as_str).collect();
        bad(
            "plan",
            format!("`{}` is not one of plans: {}", s.plan, known.join(", ")),
        );
    }
    for (name, l) in &s.plans {
        let p = |f: &str| format!("plans.{name}.{f}");
        for (f, v) in [
            ("database_size_bytes", Some(l.database_size_bytes)),
            ("disk_bytes", l.disk_bytes),
        ] {
            if let Some(v) = v
                && !(1..=MAX_LIMIT_BYTES).contains(&v)
            {
                bad(&p(f), format!("must be between 1 and {MAX_LIMIT_BYTES}"));
            }
        }
    }
}
