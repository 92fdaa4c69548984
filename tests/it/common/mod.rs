//! Helpers the integration tests share: the servers they start (PostgreSQL, a Supabase-shaped
//! PostgreSQL, Redis Cluster, Prometheus and Alertmanager, launchguard itself) and the fakes and
//! data they feed them. Compiled once, into the one test binary.

pub mod dataset;
pub mod exporter;
pub mod fake_providers;
pub mod guard_server;
pub mod pg;
pub mod pki;
pub mod port;
pub mod redis_cluster;
pub mod servers;
pub mod supabase;
pub mod target;
