//! The Supabase metrics source: GETs the project's Prometheus-format metrics endpoint
//! (`/customer/v1/privileged/metrics`, basic auth `service_role` + a secret API key) and keeps
//! the raw gauges the plan usage, memory, CPU and connection figures are derived from in
//! `core::supabase_plan`. The request goes through the providers' HTTP client (timeout, body cap
//! while streaming, retries, key redaction); the parser is pure and lenient (Supabase's body has
//! repeated labels and names past the exposition format's conventions).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;

use super::providers::http::{self, Http, Limits, reason};
use super::{Source, SourceError};
use crate::config::Config;
use crate::config::supabase_metrics::SupabaseMetrics;
use crate::figures::supabase_metrics::{CpuTimes, Disk, Memory, SupabaseMetricsFigures};
use crate::figures::{Connections, Fig, Unavailable};
use crate::state::Collected;

/// Remembers the previous read's CPU counters, for the busy ratio between two reads.
#[derive(Default)]
pub struct SupabaseMetricsSource {
    previous: Mutex<Option<(DateTime<Utc>, CpuTimes)>>,
}

impl Source for SupabaseMetricsSource {
    type Output = SupabaseMetricsFigures;

    fn name(&self) -> &'static str {
        "supabase_metrics"
    }

    fn interval(&self, cfg: &Config) -> Duration {
        cfg.supabase_metrics.interval.0
    }

    fn timeout(&self, cfg: &Config) -> Duration {
        // The client's own timeout is per attempt; one retry fits in twice it.
        cfg.supabase_metrics.timeout.0 * 2 + Duration::from_secs(2)
    }

    async fn collect(&self, cfg: Arc<Config>) -> Result<SupabaseMetricsFigures, SourceError> {
        let now = Utc::now();
        let body = fetch(&cfg.supabase_metrics).await?;
        let mut prev = self.previous.lock().unwrap_or_else(|e| e.into_inner());
        let figures = parse(&body, &cfg.supabase_metrics.disk_mountpoint, now, *prev);
        if let Ok(cpu) = figures.cpu {
            *prev = Some((now, cpu));
        }
        Ok(figures)
    }

    fn store(out: SupabaseMetricsFigures, into: &mut Collected) {
        into.figures.supabase_metrics = Some(out);
    }
}

/// One GET of the endpoint; errors carry a reason code and never the key.
pub async fn fetch(cfg: &SupabaseMetrics) -> Result<bytes::Bytes, SourceError> {
    let url = cfg
        .url
        .as_deref()
        .ok_or_else(|| SourceError::new(reason::CONFIG, "supabase_metrics.url is not set"))?;
    let url = reqwest::Url::parse(url)
        .map_err(|_| SourceError::new(reason::CONFIG, "supabase_metrics.url is not a URL"))?;
    let key = match cfg.service_role_key.resolve() {
        Ok(Some(k)) => k,
        Ok(None) => {
            return Err(SourceError::new(
                reason::CONFIG,
                format!(
                    "supabase_metrics.service_role_key: {}",
                    cfg.service_role_key.describe_unset()
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        cfg.username,
        key.expose()
    ));
    let (name, value) = http::secret_header("authorization", &format!("Basic {basic}"))?;
    let mut headers = HeaderMap::new();
    headers.insert(name, value);
    let secrets = [key.expose().to_string(), basic]
        .iter()
        .filter_map(crate::config::Secret::new)
        .collect();
    let limits = Limits {
        timeout: cfg.timeout.0,
        max_bytes: cfg.max_body_bytes as u64,
        retries: 1,
        backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(5),
    };
    Http::new(http::client()?, limits, secrets)
        .get(&url, &headers, "Supabase's metrics endpoint")
        .await
}

/// One sample: name, labels, value.
struct Sample<'a> {
    name: &'a str,
    labels: Vec<(&'a str, String)>,
    value: f64,
}

impl Sample<'_> {
    fn label(&self, k: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.as_str())
    }
}

/// `name{a="x",b="y"} value [timestamp]`; None for a line that is not a sample.
fn sample(line: &str) -> Option<Sample<'_>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = &line[..end];
    let mut rest = &line[end..];
    let mut labels = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let close;
        loop {
            // Skip separators, read `key="value"` or the closing brace.
            while let Some((_, c)) = chars.peek() {
                if *c == ',' || c.is_whitespace() {
                    chars.next();
                } else {
                    break;
                }
            }
            let (start, c) = chars.next()?;
            if c == '}' {
                close = start;
                break;
            }
            let eq = body[start..].find('=')? + start;
            let key = body[start..eq].trim();
            while let Some((i, _)) = chars.peek() {
                if *i <= eq {
                    chars.next();
                } else {
                    break;
                }
            }
            if chars.next()?.1 != '"' {
                return None;
            }
            let mut value = String::new();
            loop {
                match chars.next()?.1 {
                    '"' => break,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    other => value.push(other),
                }
            }
            labels.push((key, value));
        }
        rest = &body[close + 1..];
    }
    let value = rest.split_whitespace().next()?.parse::<f64>().ok()?;
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// A byte count from a float sample: finite, not negative, at most 10^18.
fn bytes(v: f64) -> Option<u64> {
    (v.is_finite() && (0.0..=1e18).contains(&v)).then_some(v.round() as u64)
}

fn missing<T>(what: &str) -> Fig<T> {
    Err(Unavailable {
        reason: format!("the endpoint gave no usable {what}"),
    })
}

/// The figures in a body (pure). `previous` is the last read's CPU counters.
pub fn parse(
    body: &[u8],
    mountpoint: &str,
    now: DateTime<Utc>,
    previous: Option<(DateTime<Utc>, CpuTimes)>,
) -> SupabaseMetricsFigures {
    let text = String::from_utf8_lossy(body);
    let mut sums: BTreeMap<&str, f64> = BTreeMap::new();
    let (mut fs_size, mut fs_avail) = (None, None);
    let (mut idle, mut total, mut cpu_seen) = (0.0, 0.0, false);
    for line in text.lines() {
        let Some(s) = sample(line) else { continue };
        match s.name {
            "pg_database_size_bytes"
            | "node_memory_MemTotal_bytes"
            | "node_memory_MemAvailable_bytes"
            | "pg_stat_database_num_backends"
            | "max_connections_connection_count" => {
                if !s.value.is_finite() || s.value < 0.0 {
                    // One absurd sample spoils the sum: the figure becomes unavailable.
                    sums.insert(s.name, f64::NAN);
                    continue;
                }
                *sums.entry(s.name).or_insert(0.0) += s.value;
            }
            "node_filesystem_size_bytes" if s.label("mountpoint") == Some(mountpoint) => {
                fs_size = bytes(s.value);
            }
            "node_filesystem_avail_bytes" if s.label("mountpoint") == Some(mountpoint) => {
                fs_avail = bytes(s.value);
            }
            "node_cpu_seconds_total" if s.value.is_finite() && s.value >= 0.0 => {
                cpu_seen = true;
                total += s.value;
                if s.label("mode") == Some("idle") {
                    idle += s.value;
                }
            }
            _ => {}
        }
    }
    let get = |n: &str| sums.get(n).copied().and_then(bytes);
    let database_size_bytes = get("pg_database_size_bytes")
        .map(Ok)
        .unwrap_or_else(|| missing("pg_database_size_bytes"));
    let disk = match (fs_size, fs_avail) {
        (Some(size_bytes), Some(avail_bytes)) => Ok(Disk {
            size_bytes,
            avail_bytes,
        }),
        _ => missing(&format!("node_filesystem_*{{mountpoint=\"{mountpoint}\"}}")),
    };
    let memory = match (
        get("node_memory_MemTotal_bytes"),
        get("node_memory_MemAvailable_bytes"),
    ) {
        (Some(total_bytes), Some(available_bytes)) if total_bytes > 0 => Ok(Memory {
            total_bytes,
            available_bytes,
        }),
        _ => missing("node_memory_MemTotal_bytes and node_memory_MemAvailable_bytes"),
    };
    let cpu = if cpu_seen && total.is_finite() {
        Ok(CpuTimes {
            idle_seconds: idle,
            total_seconds: total,
        })
    } else {
        missing("node_cpu_seconds_total")
    };
    let connections = match (
        get("pg_stat_database_num_backends"),
        get("max_connections_connection_count"),
    ) {
        (Some(used), Some(max)) if max > 0 => Ok(Connections { used, max }),
        _ => missing("pg_stat_database_num_backends and max_connections_connection_count"),
    };
    SupabaseMetricsFigures {
        collected_at: now,
        database_size_bytes,
        disk,
        memory,
        cpu,
        cpu_previous: previous,
        connections,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_with_escapes_repeated_labels_and_timestamps() {
        let s = sample(r#"a_b{x="1",y="q\"z\\",x="2"} 1.5e+03 1700000000"#).unwrap();
        assert_eq!((s.name, s.value), ("a_b", 1500.0));
        assert_eq!(s.label("y"), Some("q\"z\\"));
        assert_eq!(s.label("x"), Some("1"));
        let s = sample("up 1").unwrap();
        assert!(s.labels.is_empty());
        assert!(sample("# HELP up x").is_none());
        assert!(sample(r#"broken{x="1" 2"#).is_none());
        assert!(sample("noval").is_none());
    }

    #[test]
    fn absurd_values_make_a_figure_unavailable_not_a_wrapped_number() {
        let body = "pg_database_size_bytes{datname=\"a\"} -5\nnode_memory_MemTotal_bytes 1e30\nnode_memory_MemAvailable_bytes 1\n";
        let f = parse(body.as_bytes(), "/data", Utc::now(), None);
        assert!(f.database_size_bytes.is_err());
        assert!(f.memory.is_err());
        assert!(f.cpu.is_err() && f.disk.is_err() && f.connections.is_err());
    }
}
