//! The `vercel_drain` section: the receiver of Vercel's log drains (docs/vercel.md).

use serde::{Deserialize, Serialize};

use super::{Dur, SecretRef};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct VercelDrain {
    /// Serve `POST /api/v1/vercel/drain`.
    pub enabled: bool,
    /// The drain's signature verification secret (HMAC-SHA1 key of `x-vercel-signature`).
    pub secret: SecretRef,
    /// The team's endpoint verification code, sent as `x-vercel-verify` on every answer.
    pub verify_code: Option<String>,
    /// Connection URL of `launchguard_drain_writer`, the role that writes the aggregates.
    pub database_url: SecretRef,
    /// Connections kept by the writer's pool.
    pub pool_size: usize,
    /// Bound on storing one delivery (one transaction); past it the delivery gets a 503.
    pub timeout: Dur,
    /// Largest body accepted as received (compressed or not), in bytes.
    pub max_body_bytes: usize,
    /// Largest body after gzip decompression, in bytes.
    pub max_decompressed_bytes: usize,
    /// Deliveries processed at once; more get a 503 with Retry-After (bounds memory).
    pub max_concurrent: usize,
    /// Path prefixes of API requests (requests, errors and latency count only these).
    pub api_paths: Vec<String>,
    /// Deployment environments counted (entries without `environment` are counted).
    pub environments: Vec<String>,
    /// Projects counted, by `projectId` or `projectName`; empty counts every project.
    pub projects: Vec<String>,
    /// How long a request's key is remembered; older entries are dropped as late.
    pub dedup_window: Dur,
    /// Path of the Vercel Cron job counted as runs of `database.sync_job`; unset: none.
    pub sync_job_path: Option<String>,
    /// The cron expression of that job (vercel.json), for its schedule interval and load.
    pub sync_job_schedule: Option<String>,
}

impl Default for VercelDrain {
    fn default() -> Self {
        VercelDrain {
            enabled: false,
            secret: SecretRef::Env("VERCEL_DRAIN_SECRET".into()),
            verify_code: None,
            database_url: SecretRef::Env("VERCEL_DRAIN_DB_URL".into()),
            pool_size: 2,
            timeout: Dur::from_secs(10),
            max_body_bytes: 8 * 1024 * 1024,
            max_decompressed_bytes: 32 * 1024 * 1024,
            max_concurrent: 4,
            api_paths: vec!["/api/".into()],
            environments: vec!["production".into()],
            projects: Vec::new(),
            dedup_window: Dur::from_secs(6 * 3600),
            sync_job_path: None,
            sync_job_schedule: None,
        }
    }
}

/// Bounds of the numbers above (validate.rs checks them).
pub const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;
pub const MAX_DECOMPRESSED_BYTES: usize = 1024 * 1024 * 1024;
pub const MAX_CONCURRENT: usize = 64;
pub const MAX_POOL_SIZE: usize = 32;
pub const MIN_DEDUP_WINDOW_SECS: u64 = 600;
pub const MAX_DEDUP_WINDOW_SECS: u64 = 7 * 24 * 3600;

/// Problems as (field path under `vercel_drain`, message).
pub(super) fn validate(v: &VercelDrain, out: &mut Vec<(String, String)>) {
    let mut bad = |f: &str, m: String| out.push((format!("vercel_drain.{f}"), m));
    if !(1024..=MAX_BODY_BYTES).contains(&v.max_body_bytes) {
        bad(
            "max_body_bytes",
            format!("must be between 1024 and {MAX_BODY_BYTES}"),
        );
    }
    if !(v.max_body_bytes.max(1024)..=MAX_DECOMPRESSED_BYTES).contains(&v.max_decompressed_bytes) {
        bad(
            "max_decompressed_bytes",
            format!("must be at least max_body_bytes and at most {MAX_DECOMPRESSED_BYTES}"),
        );
    }
    if !(1..=MAX_CONCURRENT).contains(&v.max_concurrent) {
        bad(
            "max_concurrent",
            format!("must be between 1 and {MAX_CONCURRENT}"),
        );
    }
    if !(1..=MAX_POOL_SIZE).contains(&v.pool_size) {
        bad(
            "pool_size",
            format!("must be between 1 and {MAX_POOL_SIZE}"),
        );
    }
    let t = v.timeout.0.as_secs_f64();
    if !(1.0..=120.0).contains(&t) {
        bad("timeout", "must be between 1s and 2m".into());
    }
    let w = v.dedup_window.0.as_secs();
    if !(MIN_DEDUP_WINDOW_SECS..=MAX_DEDUP_WINDOW_SECS).contains(&w) {
        bad("dedup_window", "must be between 10m and 7 days".into());
    }
    if v.api_paths.is_empty() {
        bad(
            "api_paths",
            "must name at least one path prefix (`/` counts every request)".into(),
        );
    }
    for (i, p) in v.api_paths.iter().enumerate() {
        if !p.starts_with('/') || p.len() > 256 {
            bad(
                &format!("api_paths.{i}"),
                "must start with `/` and be at most 256 characters".into(),
            );
        }
    }
    if let Some(p) = &v.sync_job_path
        && (!p.starts_with('/') || p.len() > 256 || p.contains('?'))
    {
        bad(
            "sync_job_path",
            "must be a path starting with `/`, without a query, at most 256 characters".into(),
        );
    }
    if let Some(s) = &v.sync_job_schedule {
        let now = chrono::Utc::now();
        if crate::core::cron::schedule_interval_seconds(s, now).is_none() {
            bad(
                "sync_job_schedule",
                "is not a cron expression (five fields, as in vercel.json)".into(),
            );
        }
        if v.sync_job_path.is_none() {
            bad(
                "sync_job_schedule",
                "needs sync_job_path (the job's path in vercel.json)".into(),
            );
        }
    }
    if let Some(c) = &v.verify_code
        && (c.is_empty() || c.len() > 256 || !c.bytes().all(|b| b.is_ascii_graphic()))
    {
        bad(
            "verify_code",
            "must be 1 to 256 printable ASCII characters without spaces".into(),
        );
    }
}
