//! Metric names (names.rs) and the OpenMetrics encoding of a snapshot (encode.rs).

pub mod encode;
pub mod milestone;
pub mod names;
pub mod periods;
pub mod providers;
pub mod snapshot;
pub mod strain;
