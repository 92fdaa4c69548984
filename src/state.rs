//! State shared between the collectors, the encoder and the HTTP handlers.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};

use crate::config::Config;
use crate::core::assess::Assessment;
use crate::figures::DbFigures;
use crate::sources::providers::figures::ProviderFigures;

/// Health of one source, as the runner last saw it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceStatus {
    /// At least one collection has finished (for /readyz).
    pub tried: bool,
    pub up: bool,
    pub last_success: Option<DateTime<Utc>>,
    pub last_duration_seconds: Option<f64>,
    /// Failed collections by reason since start.
    pub errors: BTreeMap<&'static str, u64>,
    /// The last error in plain words (never holds a secret).
    pub last_error: Option<String>,
}

/// The latest figures of every source. A failed source keeps its last good figures.
#[derive(Debug, Default)]
pub struct Collected {
    pub sources: BTreeMap<&'static str, SourceStatus>,
    pub db: Option<DbFigures>,
    /// The last good poll of each provider source, by source name.
    pub providers: BTreeMap<&'static str, ProviderFigures>,
    /// Newest strain reports, checklist and readiness (the `strain_reports` source).
    pub strain: Option<crate::strain::readiness::StrainFigures>,
}

/// Outcome of the last config (re)load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReloadStatus {
    pub ok: bool,
    pub last_success: DateTime<Utc>,
}

/// What scrapes and the guard read: encoded once per change.
#[derive(Debug, Clone)]
pub struct Published {
    pub metrics: Bytes,
    pub assessment: Arc<Assessment>,
    pub at: DateTime<Utc>,
}

#[derive(Debug)]
pub struct Shared {
    pub config: watch::Sender<Arc<Config>>,
    pub collected: RwLock<Collected>,
    pub published: RwLock<Published>,
    pub reload: RwLock<ReloadStatus>,
    /// Woken whenever something that changes the exposition happened.
    pub dirty: Notify,
    /// The sources that are configured, so /readyz knows what to wait for.
    pub expected_sources: RwLock<Vec<&'static str>>,
}

impl Shared {
    pub fn new(cfg: Config, now: DateTime<Utc>) -> Arc<Self> {
        let cfg = Arc::new(cfg);
        let assessment = Arc::new(crate::core::assess::assess(&cfg, None, now));
        let (tx, _) = watch::channel(cfg);
        Arc::new(Shared {
            config: tx,
            collected: RwLock::new(Collected::default()),
            published: RwLock::new(Published {
                metrics: Bytes::new(),
                assessment,
                at: now,
            }),
            reload: RwLock::new(ReloadStatus {
                ok: true,
                last_success: now,
            }),
            dirty: Notify::new(),
            expected_sources: RwLock::new(Vec::new()),
        })
    }

    pub fn config(&self) -> Arc<Config> {
        self.config.borrow().clone()
    }

    /// Ready once every configured source has finished at least one collection.
    pub fn ready(&self) -> bool {
        let expected = self.expected_sources.read().expect("lock").clone();
        let c = self.collected.read().expect("lock");
        expected
            .iter()
            .all(|s| c.sources.get(s).is_some_and(|st| st.tried))
    }
}
