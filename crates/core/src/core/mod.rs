//! The pure core: figures in, assessments out. Nothing here does I/O or reads the clock, so
//! every formula of the brief is tested with plain values.

pub mod assess;
pub mod bounded;
pub mod budget;
pub mod controls;
pub mod cron;
pub mod drift;
pub mod folds;
pub mod jobs;
pub mod labels;
pub mod latency;
pub mod levels;
pub mod milestone;
pub mod periods;
pub mod pricing;
pub mod readiness;
pub mod risk;
pub mod supabase_plan;
pub mod tiers;
