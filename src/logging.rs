//! Logs through tracing: readable on a terminal, JSON for a pipeline.

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

pub fn init(format: LogFormat, level: &str) {
    // The redis crate logs every failed attempt of its cluster client to reach a node (many a
    // second while one is down); the guard logs the outage once (`reservation store down`).
    // RUST_LOG, or a filter that names redis, still shows them.
    let level = if level.contains("redis") {
        level.to_string()
    } else {
        format!("{level},redis=error")
    };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info,redis=error"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}
