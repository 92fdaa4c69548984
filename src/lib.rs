//! launchguard: a Prometheus exporter and alerting kit that keeps an AI SaaS platform inside
//! its tier, its budget and its queue while it grows. See ARCHITECTURE.md for the map.

// Long functions hide structure (issue 13): past clippy.toml's threshold, split. Library and
// binary code only: an integration test reads best as one scenario.
#![warn(clippy::too_many_lines)]

// The bottom layer, re-exported so `crate::config`, `crate::core`, `crate::catalogue`,
// `crate::figures` and `crate::policy` read the same everywhere above it.
pub use launchguard_core::{catalogue, config, core, figures, policy};

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
pub mod private_file;
pub mod serve;
pub mod sources;
pub mod state;
pub mod status;
pub mod stdout;
pub mod strain;
pub mod web;
