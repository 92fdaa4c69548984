//! The `server` section: what one connection and one caller may cost the HTTP server before
//! anything is authenticated. Read at start, like the listen address.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Dur;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Server {
    /// Open connections at once; lowered at start to fit the descriptor limit. At the cap the
    /// idlest connection is closed to make room, or the new one waits in the listen backlog.
    pub max_connections: usize,
    /// From accept to a complete request head: TLS handshake and protocol sniff included.
    pub header_timeout: Dur,
    /// From a request head to the end of its body.
    pub body_timeout: Dur,
    /// A connection with no request in flight (keep-alive, or a response the client does not
    /// read) is closed after this.
    pub idle_timeout: Dur,
    /// HTTP/2 PING sent after this long without a frame from the client.
    pub http2_keep_alive_interval: Dur,
    /// A PING unanswered this long closes the HTTP/2 connection.
    pub http2_keep_alive_timeout: Dur,
    /// Concurrent requests (streams) on one HTTP/2 connection.
    pub http2_max_streams: u32,
    /// Threads checking bcrypt passwords (at the lowest CPU priority).
    pub bcrypt_workers: usize,
    /// Password checks that may wait for a worker; beyond it the answer is 503 at once.
    pub bcrypt_queue: usize,
    /// Failed logins one peer (IPv4 address or IPv6 /64) may make per `auth_failure_window`;
    /// beyond it the answer is 429 without a password check.
    pub auth_failures_per_peer: u32,
    pub auth_failure_window: Dur,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            max_connections: 512,
            header_timeout: Dur::from_secs(10),
            body_timeout: Dur::from_secs(10),
            idle_timeout: Dur::from_secs(60),
            http2_keep_alive_interval: Dur::from_secs(20),
            http2_keep_alive_timeout: Dur::from_secs(10),
            http2_max_streams: 64,
            bcrypt_workers: 1,
            bcrypt_queue: 4,
            auth_failures_per_peer: 10,
            auth_failure_window: Dur::from_secs(60),
        }
    }
}

/// Bounds: below them the server would cut off honest clients, above them the limit is none.
const TIMEOUT_MIN: Duration = Duration::from_millis(100);
const TIMEOUT_MAX: Duration = Duration::from_secs(3600);

/// Problems as (dotted field path, message), for validate.rs.
pub fn validate(s: &Server, out: &mut Vec<(String, String)>) {
    let mut bad = |f: &str, m: &str| out.push((format!("server.{f}"), m.to_string()));
    for (name, v) in [
        ("header_timeout", s.header_timeout),
        ("body_timeout", s.body_timeout),
        ("idle_timeout", s.idle_timeout),
        ("http2_keep_alive_interval", s.http2_keep_alive_interval),
        ("http2_keep_alive_timeout", s.http2_keep_alive_timeout),
    ] {
        if !(TIMEOUT_MIN..=TIMEOUT_MAX).contains(&v.0) {
            bad(name, "must be between 100ms and 1h");
        }
    }
    if !(1..=1_000_000).contains(&s.max_connections) {
        bad("max_connections", "must be between 1 and 1000000");
    }
    if !(1..=10_000).contains(&s.http2_max_streams) {
        bad("http2_max_streams", "must be between 1 and 10000");
    }
    if !(1..=64).contains(&s.bcrypt_workers) {
        bad("bcrypt_workers", "must be between 1 and 64");
    }
    if s.bcrypt_queue > 10_000 {
        bad("bcrypt_queue", "must be at most 10000");
    }
    if !(1..=1_000_000).contains(&s.auth_failures_per_peer) {
        bad("auth_failures_per_peer", "must be between 1 and 1000000");
    }
    if !(Duration::from_secs(1)..=Duration::from_secs(86_400)).contains(&s.auth_failure_window.0) {
        bad("auth_failure_window", "must be between 1s and 1 day");
    }
}

#[cfg(test)]
mod tests {
    use crate::config::load_str;

    #[test]
    fn defaults_and_a_written_section() {
        let c = load_str("server:\n  max_connections: 64\n  header_timeout: 2s\n").unwrap();
        assert_eq!(c.server.max_connections, 64);
        assert_eq!(c.server.header_timeout.0.as_secs(), 2);
        assert_eq!(c.server.bcrypt_workers, 1);
    }

    #[test]
    fn out_of_bounds_values_are_located() {
        for (text, field) in [
            ("server:\n  max_connections: 0\n", "server.max_connections"),
            ("server:\n  header_timeout: 0s\n", "server.header_timeout"),
            ("server:\n  idle_timeout: 300000y\n", "server.idle_timeout"),
            ("server:\n  bcrypt_workers: 0\n", "server.bcrypt_workers"),
            (
                "server:\n  auth_failure_window: 10ms\n",
                "server.auth_failure_window",
            ),
        ] {
            let e = &load_str(text).unwrap_err()[0];
            assert_eq!((e.field.as_str(), e.line), (field, Some(2)), "{e}");
        }
        let e = &load_str("server:\n  max_connections: -1\n").unwrap_err()[0];
        assert_eq!(e.line, Some(2), "{e}");
    }
}
