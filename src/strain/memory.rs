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

/// Why a memory sample failed: it is kept as the scenario's `last_error`, and the run goes
/// on. Reqwest errors are kept without their URL (`--prometheus-url` may carry credentials).
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("cannot read the host's memory: {0}")]
    Host(#[source] sysinfo::Error),
    #[error("the host reports no memory")]
    NoHostMemory,
    /// Supabase's metrics endpoint failed (the source's own words).
    #[error("{0}")]
    Supabase(String),
    #[error(
        "Supabase's metrics endpoint gave no node_memory_MemTotal_bytes and node_memory_MemAvailable_bytes"
    )]
    NoSupabaseMemory,
    #[error("--prometheus-url: {0}")]
    PrometheusUrl(#[source] url::ParseError),
    #[error("cannot build the Prometheus client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("prometheus query failed: {0}")]
    Request(#[source] reqwest::Error),
    #[error("prometheus answered {status} without JSON: {source}")]
    NotJson {
        status: reqwest::StatusCode,
        #[source]
        source: reqwest::Error,
    },
    /// Prometheus refused the query (its `error` text).
    #[error("prometheus query failed: {0}")]
    Refused(String),
    #[error("memory_query must return a vector or scalar, not {0:?}")]
    ResultType(Option<String>),
    #[error("memory_query returned no series")]
    NoSeries,
}

impl MemorySource {
    pub fn prometheus(url: &str, query: &str, timeout: Duration) -> Result<Self, MemoryError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(MemoryError::Client)?;
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
    pub async fn sample(&self) -> Result<f64, MemoryError> {
        match self {
            MemorySource::Local => {
                let mut sys = sysinfo::System::new().map_err(MemoryError::Host)?;
                sys.refresh_memory();
                let total = sys.total_memory();
                if total == 0 {
                    return Err(MemoryError::NoHostMemory);
                }
                Ok(sys.used_memory() as f64 / total as f64)
            }
            MemorySource::Supabase(cfg) => {
                use crate::sources::supabase_metrics::{fetch, parse};
                let body = fetch(cfg)
                    .await
                    .map_err(|e| MemoryError::Supabase(e.to_string()))?;
                let f = parse(&body, &cfg.disk_mountpoint, chrono::Utc::now(), None);
                crate::core::supabase_plan::memory_ratio(&f).ok_or(MemoryError::NoSupabaseMemory)
            }
            MemorySource::Prometheus { url, query, client } => {
                let mut endpoint = url::Url::parse(&format!("{url}/api/v1/query"))
                    .map_err(MemoryError::PrometheusUrl)?;
                endpoint.query_pairs_mut().append_pair("query", query);
                let resp = client
                    .get(endpoint)
                    .send()
                    .await
                    .map_err(|e| MemoryError::Request(e.without_url()))?;
                let status = resp.status();
                let body: serde_json::Value =
                    resp.json().await.map_err(|e| MemoryError::NotJson {
                        status,
                        source: e.without_url(),
                    })?;
                parse_query_result(&body)
            }
        }
    }
}

/// The largest value of an instant-query answer (vector or scalar).
pub fn parse_query_result(body: &serde_json::Value) -> Result<f64, MemoryError> {
    if body["status"] != "success" {
        let err = body["error"].as_str().unwrap_or("no error text");
        return Err(MemoryError::Refused(err.to_string()));
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
        other => return Err(MemoryError::ResultType(other.map(str::to_string))),
    };
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .reduce(f64::max)
        .ok_or(MemoryError::NoSeries)
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
                    Err(e) => s.last_error = Some(e.to_string()),
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
        assert!(matches!(
            parse_query_result(&empty),
            Err(MemoryError::NoSeries)
        ));
        let err = json!({"status":"error","error":"parse error"});
        let e = parse_query_result(&err).unwrap_err().to_string();
        assert_eq!(e, "prometheus query failed: parse error");
    }
}
