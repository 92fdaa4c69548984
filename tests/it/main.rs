//! The integration tests, in one binary: each module is one former `tests/NAME.rs` (a test is
//! `NAME::test`, e.g. `cargo test --test it kit_replay::`), and `common` holds the helpers they
//! share. One binary links the crate and compiles the helpers once instead of once per file.
//! Modules run side by side in one process, so none may change process-wide state (environment,
//! current directory, a global tracing subscriber): tests/providers_secrets.rs installs a global
//! subscriber and stays a binary of its own.

mod common;

mod bullmq;
mod cli_docs;
mod collect_load;
mod deploy_files;
mod deploy_systemd;
mod docs;
mod exporter_pg;
mod fuzz_regressions;
mod guard;
mod guard_redis;
mod guard_redis_cluster;
mod guard_store;
mod incremental;
mod kit_e2e;
mod kit_render;
mod kit_replay;
mod kit_tools;
mod labels_pg;
mod milestone;
mod one_assessment;
mod pg_harness;
mod providers_check;
mod providers_faults;
mod providers_month;
mod providers_parsers_prop;
mod redis_cluster;
mod scrape;
mod secrets;
mod server_hardening;
mod status_page;
mod strain;
mod supabase_mappings;
mod supabase_metrics;
mod supabase_project;
mod troubleshooting_doc;
mod vercel_drain;
mod web_config;
