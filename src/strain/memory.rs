//! Memory of the system under test, sampled during each scenario: from the local host, or from
//! a PromQL query against a Prometheus server (`--prometheus-url`), or the database machine's
//! memory from Supabase's metrics endpoint (`strain.memory_source: supabase`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where memory is read.
#[derive(Debug, Clone)]
pub enum MemorySource {
    Local,
    Prometheus {
        url: String,
        query: String,
        client: reqwest::Client,
    },
    /// 1 - MemAvailable / MemTotal of the database machine, from `supabase_metrics`.
    Supabase(Box<crate::config::supabase_metrics::SupabaseMetrics>),
}

/// What the samples of one scenario showed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// `local`, `prometheus` or `supabase`.
    pub source: String,
    pub samples: u64,
    /// Highest used/total ratio sampled.
    pub max_ratio: Option<f64>,
    /// Why the last failed sample failed, if any did.
    pub last_error: Option<String>,
}

impl MemorySource {
    pub fn prometheus(url: &str, query: &str, timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(MemorySource::Prometheus {
            url: url.trim_end_matches('/').to_string(),
            query: query.to_string(),
            client,
        })
    }

    pub fn label(&self) -> &'static str {
        match self {
            MemorySource::Local => "local",
            MemorySource::Prometheus { .. } => "prometheus",
            MemorySource::Supabase(_) => "supabase",
        }
    }

    /// One sample as a ratio 0..1.
    pub async fn sample(&self) -> Result<f64, String> {
        match self {
            MemorySource::Local => {
                let mut sys = sysinfo::System::new()
                    .map_err(|e| format!("cannot read the host's memory: {e}"))?;
                sys.refresh_memory();
                let total = sys.total_memory();
                if total == 0 {
                    return Err("the host reports no memory".into());
                }
                Ok(sys.used_memory() as f64 / total as f64)
            }
            MemorySource::Supabase(cfg) => {
                use crate::sources::supabase_metrics::{fetch, parse};
                let body = fetch(cfg).await.map_err(|e| e.to_string())?;
                let f = parse(&body, &cfg.disk_mountpoint, chrono::Utc::now(), None);
                crate::core::supabase_plan::memory_ratio(&f).ok_or_else(|| {
                    "Supabase's metrics endpoint gave no node_memory_MemTotal_bytes and node_memory_MemAvailable_bytes".to_string()
                })
            }
            MemorySource::Prometheus { url, query, client } => {
                let mut endpoint = url::Url::parse(&format!("{url}/api/v1/query"))
                    .map_err(|e| format!("--prometheus-url: {e}"))?;
                endpoint.query_pairs_mut().append_pair("query", query);
                let resp = client
                    .get(endpoint)
                    .send()
                    .await
                    .map_err(|e| format!("prometheus query failed: {}", e.without_url()))?;
                let status = resp.status();
                let body: serde_json::Value = resp.json().await.map_err(|e| {
                    format!(
                        "prometheus answered {status} without JSON: {}",
                        e.without_url()
                    )
                })?;
                parse_query_result(&body)
            }
        }
    }
}

/// The largest value of an instant-query answer (vector or scalar).
pub fn parse_query_result(body: &serde_json::Value) -> Result<f64, String> {
    if body["status"] != "success" {
        let err = body["error"].as_str().unwrap_or("no error text");
        return Err(format!("prometheus query failed: {err}"));
    }
    let data = &body["data"];
    let value_of =
        |v: &serde_json::Value| -> Option<f64> { v.get(1)?.as_str()?.parse::<f64>().ok() };
    let values: Vec<f64> = match data["resultType"].as_str() {
        Some("vector") => data["result"]
            .as_array()
            .map(|a| a.iter().filter_map(|s| value_of(&s["value"])).collect())
            .unwrap_or_default(),
        Some("scalar") => value_of(&data["result"]).into_iter().collect(),
        other => {
            return Err(format!(
                "memory_query must return a vector or scalar, not {other:?}"
            ));
        }
    };
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .reduce(f64::max)
        .ok_or_else(|| "memory_query returned no series".to_string())
}

/// Samples every `interval` until dropped; the first sample is taken at once.
pub struct Sampler {
    stats: Arc<Mutex<MemoryStats>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    pub fn start(source: MemorySource, interval: Duration) -> Sampler {
        let stats = Arc::new(Mutex::new(MemoryStats {
            source: source.label().to_string(),
            ..MemoryStats::default()
        }));
        let st = stats.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let r = source.sample().await;
                let mut s = st.lock().expect("lock");
                match r {
                    Ok(v) => {
                        s.samples += 1;
                        s.max_ratio = Some(s.max_ratio.map_or(v, |m: f64| m.max(v)));
                    }
                    Err(e) => s.last_error = Some(e),
                }
            }
        });
        Sampler { stats, task }
    }

    /// The highest sample so far (for abort-on-fail).
    pub fn max_so_far(&self) -> Option<f64> {
        self.stats.lock().expect("lock").max_ratio
    }

    /// Takes one last sample's worth of stats and stops sampling.
    pub fn finish(self) -> MemoryStats {
        self.task.abort();
        self.stats.lock().expect("lock").clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn takes_the_largest_series_value() {
        let v = json!({"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"instance":"a"},"value":[1.0,"0.42"]},
            {"metric":{"instance":"b"},"value":[1.0,"0.61"]}]}});
        assert_eq!(parse_query_result(&v).unwrap(), 0.61);
        let s = json!({"status":"success","data":{"resultType":"scalar","result":[1.0,"0.3"]}});
        assert_eq!(parse_query_result(&s).unwrap(), 0.3);
        let empty = json!({"status":"success","data":{"resultType":"vector","result":[]}});
        assert!(
            parse_query_result(&empty)
                .unwrap_err()
                .contains("no series")
        );
        let err = json!({"status":"error","error":"parse error"});
        assert!(
            parse_query_result(&err)
                .unwrap_err()
                .contains("parse error")
        );
    }
}
