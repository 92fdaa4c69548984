//! Sources collect figures in the background, each on its own interval with a timeout. The
//! runner owns health bookkeeping and logging so every source reports failures the same way.

pub mod bullmq;
pub mod providers;
pub mod strain_reports;
pub mod supabase;
pub mod supabase_metrics;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::config::Config;
use crate::state::{Collected, Shared};

/// Why a collection failed. `reason` is a short stable code (a label value); `message` is
/// for people and must never contain a secret.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceError {
    pub reason: &'static str,
    pub message: String,
}

impl SourceError {
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        SourceError {
            reason,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.reason)
    }
}

/// A provider without a usable key, when it is polled anyway (`check`, a direct poll).
impl From<crate::config::KeyError> for SourceError {
    fn from(e: crate::config::KeyError) -> Self {
        SourceError::new("config", e.to_string())
    }
}

/// A secret file named in the config that cannot be read: a configuration fault.
impl From<crate::config::SecretFileError> for SourceError {
    fn from(e: crate::config::SecretFileError) -> Self {
        SourceError::new("config", e.to_string())
    }
}

/// A background collector of one kind of figures.
pub trait Source: Send + Sync + 'static {
    type Output: Send + 'static;

    /// The `source` label value.
    fn name(&self) -> &'static str;
    fn interval(&self, cfg: &Config) -> Duration;
    fn timeout(&self, cfg: &Config) -> Duration;
    fn collect(
        &self,
        cfg: Arc<Config>,
    ) -> impl Future<Output = Result<Self::Output, SourceError>> + Send;
    /// Puts a successful collection's figures into the shared state.
    fn store(out: Self::Output, into: &mut Collected);
}

/// Runs a source forever: collect, record health, wake the encoder, sleep.
pub async fn run<S: Source>(source: S, shared: Arc<Shared>) {
    let name = source.name();
    let mut was_up: Option<bool> = None;
    loop {
        let cfg = shared.config();
        let started = Instant::now();
        let result =
            match tokio::time::timeout(source.timeout(&cfg), source.collect(cfg.clone())).await {
                Ok(r) => r,
                Err(_) => Err(SourceError::new(
                    "timeout",
                    format!("collection took longer than {:?}", source.timeout(&cfg)),
                )),
            };
        let took = started.elapsed().as_secs_f64();
        let up = result.is_ok();
        match (&result, was_up) {
            (Err(e), Some(true) | None) => {
                tracing::warn!(source = name, reason = e.reason, error = %e.message, "source down")
            }
            (Ok(_), Some(false)) => tracing::info!(source = name, "source recovered"),
            (Ok(_), None) => tracing::info!(source = name, seconds = took, "source up"),
            _ => {}
        }
        was_up = Some(up);
        record::<S>(&shared, name, result, took);
        shared.dirty.notify_one();
        tokio::time::sleep(source.interval(&shared.config())).await;
    }
}

fn record<S: Source>(
    shared: &Shared,
    name: &'static str,
    result: Result<S::Output, SourceError>,
    took: f64,
) {
    let mut c = shared.collected.write().expect("lock");
    let ok = match result {
        Ok(out) => {
            S::store(out, &mut c);
            None
        }
        Err(e) => Some(e),
    };
    let st = c.sources.entry(name).or_default();
    st.tried = true;
    st.last_duration_seconds = Some(took);
    match ok {
        None => {
            st.up = true;
            st.last_success = Some(Utc::now());
            st.last_error = None;
        }
        Some(e) => {
            st.up = false;
            *st.errors.entry(e.reason).or_insert(0) += 1;
            st.last_error = Some(e.message);
        }
    }
}
