//! The receiver of Vercel's log drains (docs/vercel.md): request entries in, the traffic
//! figures out, through the same `launchguard.traffic_minutely` view the platform's own table
//! feeds, so alerts, dashboard, status page and guard read them unchanged.
//!
//! Pure: `verify` (x-vercel-signature), `body` (gzip, JSON array or NDJSON, size caps), `entry`
//! (the Log Drains schema), `aggregate` (keyed items, per-minute sums). I/O: `store` (the writer's
//! transaction per delivery, key cleanup, `check --connect`), `receiver` (the HTTP route and its
//! counters), `cron` (the reader's query of the sync job's runs).

pub mod aggregate;
pub mod body;
pub mod cron;
pub mod entry;
pub mod receiver;
pub mod store;
pub mod verify;

pub use receiver::Receiver;
