//! A platform stand-in for strain tests, started by the test on 127.0.0.1 with a free port.
//! Its paths say how it behaves, so one server serves every case:
//! - `/delay/MS`: answers 200 after MS milliseconds;
//! - `/fail/N`: answers 500 to every N-th request (exactly 1/N errors), 200 otherwise;
//! - `/capped/MS`: takes MS milliseconds, but only `cap` requests at a time (the rest wait);
//! - `/paced/MS`: one request at a time, each taking exactly MS milliseconds of the path's
//!   time (completions are scheduled back to back, so timer overshoot does not accumulate): a
//!   path whose capacity is exactly 1000 / MS requests per second;
//! - `/tunable`: answers after the delay set by `set_tunable` (0 at first), 500 to every N-th
//!   request when a failure period N is set: a target the test makes slower or failing;
//! - anything else: 200 at once.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri};

struct Inner {
    hits: AtomicU64,
    fail_counter: AtomicU64,
    cap: tokio::sync::Semaphore,
    /// When the `/paced` path is next free.
    paced_free: std::sync::Mutex<tokio::time::Instant>,
    tunable_delay_ms: AtomicU64,
    tunable_fail_every: AtomicU64,
}

pub struct TestTarget {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl TestTarget {
    /// Starts the target; `cap` bounds the `/capped/*` requests served at once.
    pub async fn start(cap: usize) -> TestTarget {
        let inner = Arc::new(Inner {
            hits: AtomicU64::new(0),
            fail_counter: AtomicU64::new(0),
            cap: tokio::sync::Semaphore::new(cap),
            paced_free: std::sync::Mutex::new(tokio::time::Instant::now()),
            tunable_delay_ms: AtomicU64::new(0),
            tunable_fail_every: AtomicU64::new(0),
        });
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        TestTarget { addr, inner, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets the `/tunable` path's delay and failure period (0: never fails).
    pub fn set_tunable(&self, delay: Duration, fail_every: u64) {
        self.inner
            .tunable_delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
        self.inner
            .tunable_fail_every
            .store(fail_every, Ordering::Relaxed);
    }

    /// Requests served so far.
    pub fn hits(&self) -> u64 {
        self.inner.hits.load(Ordering::Relaxed)
    }
}

impl Drop for TestTarget {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(s): State<Arc<Inner>>, uri: Uri) -> (StatusCode, &'static str) {
    s.hits.fetch_add(1, Ordering::Relaxed);
    let parts: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
    let num = |i: usize| {
        parts
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    match parts.first().copied() {
        Some("delay") => {
            tokio::time::sleep(Duration::from_millis(num(1))).await;
            (StatusCode::OK, "ok")
        }
        Some("fail") => {
            let n = s.fail_counter.fetch_add(1, Ordering::Relaxed);
            if num(1) > 0 && n % num(1) == 0 {
                (StatusCode::INTERNAL_SERVER_ERROR, "boom")
            } else {
                (StatusCode::OK, "ok")
            }
        }
        Some("capped") => {
            let _permit = s.cap.acquire().await.unwrap();
            tokio::time::sleep(Duration::from_millis(num(1))).await;
            (StatusCode::OK, "ok")
        }
        Some("paced") => {
            let service = Duration::from_millis(num(1));
            let done_at = {
                let mut free = s.paced_free.lock().unwrap();
                let begin = (*free).max(tokio::time::Instant::now());
                *free = begin + service;
                *free
            };
            tokio::time::sleep_until(done_at).await;
            (StatusCode::OK, "ok")
        }
        Some("tunable") => {
            let delay = s.tunable_delay_ms.load(Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let every = s.tunable_fail_every.load(Ordering::Relaxed);
            let n = s.fail_counter.fetch_add(1, Ordering::Relaxed);
            if every > 0 && n % every == 0 {
                (StatusCode::INTERNAL_SERVER_ERROR, "boom")
            } else {
                (StatusCode::OK, "ok")
            }
        }
        _ => (StatusCode::OK, "ok"),
    }
}
