//! What the sources bring in, before any assessment: the database's figures (`db`), each
//! provider's own report (`providers`) and the newest strain runs (`strain`). Each figure is a
//! value or the reason it is absent, so one missing table never hides the others. Nothing here
//! is derived: `core::assess` is the one place that turns figures into what the founder sees.

pub mod bullmq;
pub mod db;
pub mod providers;
pub mod strain;
pub mod supabase_metrics;

use std::collections::BTreeMap;

pub use db::*;

/// The latest figures of every source; a failed source keeps its last good figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub db: Option<DbFigures>,
    /// The last good poll of each provider source, by source name.
    pub providers: BTreeMap<&'static str, providers::ProviderFigures>,
    /// The newest strain run of each suite and what launchguard observed for the checklist.
    pub strain: Option<strain::StrainFigures>,
    /// The last good read of BullMQ's queues (when `jobs_from` reads them).
    pub bullmq: Option<bullmq::BullmqFigures>,
    /// The last good read of Supabase's metrics endpoint.
    pub supabase_metrics: Option<supabase_metrics::SupabaseMetricsFigures>,
}

impl Figures {
    /// Figures with only the database's (no provider, no strain report read yet).
    pub fn with_db(db: DbFigures) -> Figures {
        Figures {
            db: Some(db),
            ..Figures::default()
        }
    }
}
