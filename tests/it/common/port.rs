//! A free loopback port for a server a test starts (shared by the tests and their helpers).

use std::net::TcpListener;

pub fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}
