//! The kit: Prometheus rules (with promtool tests), Grafana dashboards, Alertmanager routing,
//! the Prometheus scrape config and the runbooks, rendered from the config the exporter reads so
//! every threshold has one source. Pure: a `&Config` in, file contents out; only `render::write`
//! touches the disk.

pub mod alertmanager;
pub mod alerts;
pub mod dashboards;
pub mod format;
pub mod health;
pub mod panels;
pub mod prometheus;
pub mod recording;
pub mod render;
pub mod rule_tests;
pub mod rules;
pub mod runbooks;
