//! launchguard: a Prometheus exporter and alerting kit that keeps an AI SaaS platform inside
//! its tier, its budget and its queue while it grows. See ARCHITECTURE.md for the map.

// The bottom layer, re-exported so `crate::config`, `crate::core`, `crate::catalogue` and
// `crate::figures` read the same everywhere above it.
pub use launchguard_core::{catalogue, config, core, figures};

pub mod check;
pub mod cli;
pub mod guard;
pub mod http;
pub mod ingest;
pub mod k8s;
pub mod kit;
pub mod logging;
pub mod markup;
pub mod metrics;
pub mod serve;
pub mod sources;
pub mod state;
pub mod status;
pub mod strain;
pub mod web;
