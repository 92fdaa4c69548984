//! Receivers: figures the platform pushes to launchguard instead of launchguard reading them.
//! Each keeps its parsing, verification and aggregation pure and its I/O in a module of its own.

pub mod vercel;
