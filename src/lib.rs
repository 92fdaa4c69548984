//! launchguard: a Prometheus exporter and alerting kit that keeps an AI SaaS platform inside
//! its tier, its budget and its queue while it grows. See ARCHITECTURE.md for the map.

pub mod config;
pub mod core;
pub mod figures;
