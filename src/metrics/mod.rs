//! Metric names (names.rs), the OpenMetrics encoding of a snapshot (encode.rs) and the
//! /metrics body as served, cached with its gzip variant (served.rs).

pub mod encode;
pub mod milestone;
pub mod names;
pub mod periods;
pub mod providers;
pub mod served;
pub mod snapshot;
pub mod strain;
