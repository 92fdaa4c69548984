//! What the strain reports source brings in: the newest run of each suite, as the exporter
//! judged it under its own config (rehearsal or not), and what launchguard checked itself for
//! the upgrade checklist. Readiness is derived from these in `core::readiness`.

use chrono::{DateTime, Utc};

/// The suite name a capacity search's report carries.
pub const CAPACITY_SUITE: &str = "capacity";

/// What the exporter keeps of a report.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SuiteRun {
    pub suite: String,
    pub finished_at: DateTime<Utc>,
    pub complete: bool,
    pub pass_ratio: f64,
    /// (scenario, passed) in run order.
    pub scenarios: Vec<(String, bool)>,
    /// Why it is a rehearsal (the report's own reasons and the exporter's check against its
    /// config); empty when the run counts.
    pub rehearsal: Vec<String>,
    /// Every step ran at the seed's validation intensity (70%) or more, by intensity and rate.
    pub at_validation_intensity: bool,
    /// (scenario, requests/s, bounded) of a capacity search.
    pub capacity: Vec<(String, f64, bool)>,
}

impl SuiteRun {
    /// A run counts unless it is a rehearsal.
    pub fn counts(&self) -> bool {
        self.rehearsal.is_empty()
    }

    /// Complete, and every scenario of it passed.
    pub fn all_passed(&self) -> bool {
        self.complete && !self.scenarios.is_empty() && self.scenarios.iter().all(|(_, p)| *p)
    }

    /// A capacity search's report.
    pub fn is_capacity(&self) -> bool {
        self.suite == CAPACITY_SUITE
    }
}

/// What launchguard checked itself rather than take on trust.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Observations {
    /// Its database URL goes through the Supabase pooler.
    pub pooler: bool,
    /// The guard's Redis answered PING.
    pub redis: bool,
}

/// One read of the report directory.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StrainFigures {
    pub runs: Vec<SuiteRun>,
    pub observations: Observations,
}
