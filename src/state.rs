//! State shared between the collectors, the encoder and the HTTP handlers.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};

use crate::config::Config;
use crate::core::assess::{self, Assessment};
use crate::core::controls::FounderControls;
use crate::figures::Figures;
use crate::metrics::snapshot;

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

/// The latest figures of every source and each source's health. A failed source keeps its
/// last good figures.
#[derive(Debug, Default)]
pub struct Collected {
    pub sources: BTreeMap<&'static str, SourceStatus>,
    pub figures: Figures,
}

/// Outcome of the last config (re)load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReloadStatus {
    pub ok: bool,
    pub last_success: DateTime<Utc>,
}

/// What scrapes, the status page and the guard read: assessed and encoded once per change.
#[derive(Debug, Clone)]
pub struct Published {
    pub metrics: Bytes,
    /// The config the assessment was made under.
    pub config: Arc<Config>,
    pub assessment: Arc<Assessment>,
    /// The clock reading it was assessed at (`assessment.assessed_at`).
    pub at: DateTime<Utc>,
}

#[derive(Debug)]
pub struct Shared {
    pub config: watch::Sender<Arc<Config>>,
    pub collected: RwLock<Collected>,
    pub published: RwLock<Published>,
    /// Counts publications: moves after `published` was replaced, so /metrics knows without a
    /// lock whether the bytes it serves are current.
    generation: AtomicU64,
    /// The founder's kill switches and budget overrides, as the guard's store last held them.
    pub controls: RwLock<Arc<FounderControls>>,
    pub reload: RwLock<ReloadStatus>,
    /// Woken whenever something that changes the exposition happened.
    pub dirty: Notify,
    /// The sources that are configured, so /readyz knows what to wait for.
    pub expected_sources: RwLock<Vec<&'static str>>,
}

impl Shared {
    pub fn new(cfg: Config, now: DateTime<Utc>) -> Arc<Self> {
        let cfg = Arc::new(cfg);
        let assessment = Arc::new(assess::assess(
            &cfg,
            &Figures::default(),
            &FounderControls::default(),
            now,
        ));
        let (tx, _) = watch::channel(cfg.clone());
        Arc::new(Shared {
            config: tx,
            collected: RwLock::new(Collected::default()),
            published: RwLock::new(Published {
                metrics: Bytes::new(),
                config: cfg,
                assessment,
                at: now,
            }),
            generation: AtomicU64::new(0),
            controls: RwLock::new(Arc::new(FounderControls::default())),
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

    /// What was last published.
    pub fn published(&self) -> Published {
        self.published
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Assesses and encodes the current state once: the only place the assessment is made and
    /// the only clock reading it takes (`now`).
    pub fn publish(&self, now: DateTime<Utc>) {
        let cfg = self.config();
        let controls = self
            .controls
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let reload = *self.reload.read().unwrap_or_else(|e| e.into_inner());
        let (assessment, exposition) = {
            let c = self.collected.read().unwrap_or_else(|e| e.into_inner());
            let a = assess::assess(&cfg, &c.figures, &controls, now);
            let e = snapshot::build(&cfg, &c, &a, reload);
            (a, e)
        };
        let bytes = Bytes::from(exposition.encode());
        *self.published.write().unwrap_or_else(|e| e.into_inner()) = Published {
            metrics: bytes,
            config: cfg,
            assessment: Arc::new(assessment),
            at: now,
        };
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// How many times `publish` replaced `published` (read before reading it).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Takes the founder's controls as the guard's store now holds them; when they changed,
    /// publishes at once, so the guard's next decision, the budget metrics and the status page
    /// all read the new budgets together.
    pub fn set_controls(&self, c: FounderControls, now: DateTime<Utc>) {
        {
            let mut cur = self.controls.write().unwrap_or_else(|e| e.into_inner());
            if **cur == c {
                return;
            }
            *cur = Arc::new(c);
        }
        self.publish(now);
    }

    /// Ready once every configured source has finished at least one collection.
    pub fn ready(&self) -> bool {
        let expected = self
            .expected_sources
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let c = self.collected.read().unwrap_or_else(|e| e.into_inner());
        expected
            .iter()
            .all(|s| c.sources.get(s).is_some_and(|st| st.tried))
    }
}
