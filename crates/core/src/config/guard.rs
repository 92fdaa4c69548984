//! The `guard` section: the admission API the platform's backend asks before it spends.

use std::path::PathBuf;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};

use super::{Dur, SecretRef};
use crate::core::bounded;

/// What the guard answers when it cannot see: a snapshot older than `snapshot_max_age`, or
/// an unreachable Redis.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    /// Allow without a reservation, and say so in the reason.
    Open,
    /// Deny, and say so in the reason.
    Closed,
}

impl FailMode {
    pub fn as_str(self) -> &'static str {
        match self {
            FailMode::Open => "open",
            FailMode::Closed => "closed",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Guard {
    /// Serve `/api/v1/guard/...` and `/api/v1/admin/...`.
    pub enabled: bool,
    /// An admitted reservation that is never settled is released after this long.
    pub reservation_ttl: Dur,
    /// A snapshot older than this (or none yet) makes the guard fail open or closed.
    pub snapshot_max_age: Dur,
    pub fail_mode: FailMode,
    /// Bearer token of the admin API; unset disables the admin API (401).
    pub admin_token: SecretRef,
    /// Bearer token the platform's backend sends with every admit and settle (a secret apart
    /// from the admin token); unset disables admit and settle (401), see
    /// `unauthenticated_on_loopback`.
    pub caller_token: SecretRef,
    /// With no caller token: accept admit and settle without one, but only while launchguard
    /// listens on a loopback address alone. Off by default.
    pub unauthenticated_on_loopback: bool,
    /// Outstanding reservations held at once, over all clients; past it admissions that would
    /// hold one get 429 `reservations_full`. Bounds the store's memory.
    pub max_reservations: usize,
    /// Outstanding reservations one client may hold at once (429 `reservations_full`).
    pub max_reservations_per_client: usize,
    /// Kill switches and overrides of a single replica (written atomically on each change).
    pub state_file: PathBuf,
    /// Redis (or Upstash) shared by several replicas; unset keeps the state in the process.
    /// With `redis_cluster`, a comma-separated list of seed nodes.
    pub redis_url: Option<SecretRef>,
    /// `redis_url` names a Redis Cluster (seed nodes, or a managed cluster's configuration
    /// endpoint): the store follows the cluster's slot map, redirects and failovers.
    pub redis_cluster: bool,
    /// Cluster mode: replicas that must hold a founder's change (`WAIT`) before the admin API
    /// confirms it, so a failover cannot lose it; 0 does not wait.
    pub redis_wait_replicas: u8,
    /// PEM CA certificates trusted for `rediss://` instead of the public web roots.
    pub redis_ca_file: Option<PathBuf>,
    /// Prefix of every Redis key (one `{prefix}` hash tag, so a cluster keeps them together).
    pub redis_prefix: String,
    /// Bound on one Redis call; past it the call counts as Redis being unavailable.
    pub redis_timeout: Dur,
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    pub estimates: Estimates,
}

impl Default for Guard {
    fn default() -> Self {
        Guard {
            enabled: true,
            reservation_ttl: Dur::from_secs(600),
            snapshot_max_age: Dur::from_secs(120),
            fail_mode: FailMode::Closed,
            admin_token: SecretRef::Env("LAUNCHGUARD_ADMIN_TOKEN".into()),
            caller_token: SecretRef::Env("LAUNCHGUARD_CALLER_TOKEN".into()),
            unauthenticated_on_loopback: false,
            max_reservations: 100_000,
            max_reservations_per_client: 5_000,
            state_file: PathBuf::from("launchguard-guard-state.json"),
            redis_url: None,
            redis_cluster: false,
            redis_wait_replicas: 1,
            redis_ca_file: None,
            redis_prefix: "launchguard".into(),
            redis_timeout: Dur(std::time::Duration::from_millis(250)),
            body_limit_bytes: 16 * 1024,
            estimates: Estimates::default(),
        }
    }
}

/// How an admission's cost is estimated when the request does not say.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Estimates {
    /// Every estimate is multiplied by this (1.2 reserves 20% above what callers send).
    pub margin: Decimal,
    /// Output tokens assumed for an `ai` request that gives none (a typical max_tokens).
    pub default_output_tokens: u64,
    /// Cost of a `visual` job that carries no estimate and no priced provider.
    pub visual_job_usd: Decimal,
    /// Cost of a `job` that carries no estimate and no priced provider.
    pub job_usd: Decimal,
}

impl Default for Estimates {
    fn default() -> Self {
        Estimates {
            margin: dec!(1),
            default_output_tokens: 1024,
            visual_job_usd: Decimal::ZERO,
            job_usd: Decimal::ZERO,
        }
    }
}

/// Problems as (dotted field path, message), for validate.rs.
pub fn validate(g: &Guard, out: &mut Vec<(String, String)>) {
    let mut bad = |f: &str, m: &str| out.push((format!("guard.{f}"), m.to_string()));
    for (name, v, max, max_text) in [
        ("reservation_ttl", g.reservation_ttl, 86_400, "1 day"),
        ("snapshot_max_age", g.snapshot_max_age, 86_400, "1 day"),
        ("redis_timeout", g.redis_timeout, 60, "60s"),
    ] {
        if v.0.is_zero() {
            bad(name, "must be greater than zero");
        } else if v.0 > std::time::Duration::from_secs(max) {
            bad(name, &format!("must be at most {max_text}"));
        }
    }
    if !(1..=MAX_RESERVATIONS).contains(&g.max_reservations) {
        bad(
            "max_reservations",
            &format!("must be between 1 and {MAX_RESERVATIONS}"),
        );
    }
    if !(1..=g.max_reservations.max(1)).contains(&g.max_reservations_per_client) {
        bad(
            "max_reservations_per_client",
            "must be between 1 and guard.max_reservations",
        );
    }
    if !(256..=1 << 20).contains(&g.body_limit_bytes) {
        bad("body_limit_bytes", "must be between 256 and 1048576");
    }
    let prefix_ok = !g.redis_prefix.is_empty()
        && g.redis_prefix.len() <= 64
        && g.redis_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c));
    if !prefix_ok {
        bad(
            "redis_prefix",
            "must be 1-64 characters of letters, digits, `_`, `-`, `.` or `:`",
        );
    }
    if g.redis_wait_replicas > MAX_WAIT_REPLICAS {
        bad(
            "redis_wait_replicas",
            &format!("must be between 0 and {MAX_WAIT_REPLICAS}"),
        );
    }
    if g.redis_url.is_none() {
        if g.redis_cluster {
            bad(
                "redis_cluster",
                "needs guard.redis_url (the cluster's seed nodes, comma-separated)",
            );
        }
        if g.redis_ca_file.is_some() {
            bad("redis_ca_file", "needs guard.redis_url (a rediss:// URL)");
        }
    }
    if g.redis_ca_file
        .as_ref()
        .is_some_and(|p| p.as_os_str().is_empty())
    {
        bad("redis_ca_file", "must not be empty (leave it out instead)");
    }
    if g.state_file.as_os_str().is_empty() {
        bad("state_file", "must not be empty");
    }
    let e = &g.estimates;
    if e.margin < dec!(1) {
        bad(
            "estimates.margin",
            "must be at least 1 (a margin below 1 reserves less than callers estimate)",
        );
    } else if e.margin > dec!(100) {
        bad("estimates.margin", "must be at most 100");
    }
    if let Some(p) = bounded::count_problem(e.default_output_tokens) {
        bad("estimates.default_output_tokens", &p);
    }
    for (name, v) in [("visual_job_usd", e.visual_job_usd), ("job_usd", e.job_usd)] {
        if let Some(p) = bounded::usd_problem(v) {
            bad(&format!("estimates.{name}"), &p);
        }
    }
}

/// Bound on `redis_wait_replicas`: more replicas per master than any layout runs.
const MAX_WAIT_REPLICAS: u8 = 5;

/// Bound on `max_reservations`: about 5 GB of reservations in the process, past any sane setting.
const MAX_RESERVATIONS: usize = 10_000_000;

#[cfg(test)]
mod tests {
    use crate::config::load_str;

    #[test]
    fn defaults_and_a_written_section() {
        let c = load_str(
            "guard:\n  fail_mode: open\n  redis_url: ${REDIS_URL}\n  reservation_ttl: 2m\n",
        )
        .unwrap();
        assert_eq!(c.guard.fail_mode, super::FailMode::Open);
        assert_eq!(c.guard.reservation_ttl.0.as_secs(), 120);
        assert_eq!(c.guard.redis_url.unwrap().to_string(), "${REDIS_URL}");
    }

    #[test]
    fn bad_values_are_located() {
        let e = &load_str("guard:\n  body_limit_bytes: 10\n").unwrap_err()[0];
        assert_eq!(
            (e.field.as_str(), e.line),
            ("guard.body_limit_bytes", Some(2))
        );
        let e = &load_str("guard:\n  fail_mode: ajar\n").unwrap_err()[0];
        assert_eq!(e.line, Some(2), "{e}");
        let e = &load_str("guard:\n  admin_token: hunter2\n").unwrap_err()[0];
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn absurd_numbers_are_config_errors_naming_the_field() {
        for (yaml, field, line) in [
            (
                "guard:\n  reservation_ttl: 300000y\n",
                "guard.reservation_ttl",
                2,
            ),
            (
                "guard:\n  reservation_ttl: 2d\n",
                "guard.reservation_ttl",
                2,
            ),
            ("guard:\n  redis_timeout: 5m\n", "guard.redis_timeout", 2),
            (
                "guard:\n  redis_url: ${R}\n  redis_cluster: true\n  redis_wait_replicas: 9\n",
                "guard.redis_wait_replicas",
                4,
            ),
            ("guard:\n  redis_cluster: true\n", "guard.redis_cluster", 2),
            (
                "guard:\n  max_reservations: 0\n",
                "guard.max_reservations",
                2,
            ),
            (
                "guard:\n  max_reservations: 10\n  max_reservations_per_client: 11\n",
                "guard.max_reservations_per_client",
                3,
            ),
            (
                "guard:\n  estimates:\n    margin: 1e9\n",
                "guard.estimates.margin",
                3,
            ),
            (
                "guard:\n  estimates:\n    job_usd: 2000000\n",
                "guard.estimates.job_usd",
                3,
            ),
            (
                "guard:\n  estimates:\n    default_output_tokens: 9000000000000000000\n",
                "guard.estimates.default_output_tokens",
                3,
            ),
        ] {
            let errs = load_str(yaml).unwrap_err();
            let e = &errs[0];
            assert_eq!(
                (e.field.as_str(), e.line),
                (field, Some(line)),
                "{yaml}: {e}"
            );
        }
    }
}
