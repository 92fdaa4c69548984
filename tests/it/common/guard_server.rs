//! Real launchguard processes and a real redis-server for the guard's integration tests, each
//! on a free loopback port, stopped when dropped.
#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use super::port::free_port;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
/// The platform's caller token (`guard.caller_token`), sent with every admit and settle.
pub const CALLER_TOKEN: &str = "test-caller-token-9876543210";

/// A `launchguard serve` process.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    log: PathBuf,
    config: PathBuf,
    env: Vec<(String, String)>,
}

impl Server {
    /// Starts `launchguard serve --config CONFIG` with `env`, and waits until it is ready (its
    /// first collection finished).
    pub async fn start(config: &Path, env: &[(&str, &str)]) -> Server {
        let mut s = Server {
            child: None,
            base: String::new(),
            log: config.with_extension(format!("{}.log", free_port())),
            config: config.to_path_buf(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        s.restart().await;
        s
    }

    /// Stops the process (SIGKILL: nothing is flushed on the way out) and starts it again.
    pub async fn restart(&mut self) {
        self.stop();
        let port = free_port();
        let log = fs::File::create(&self.log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_launchguard"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env_remove("LAUNCHGUARD_CONFIG")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start launchguard");
        self.child = Some(child);
        self.base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("{}/readyz", self.base)).send().await
                && r.status() == 200
            {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("launchguard exited ({status}):\n{}", self.log_text());
            }
            assert!(
                Instant::now() < until,
                "launchguard not ready after 60 s:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Resident memory of the process in KiB (VmRSS of /proc/PID/status).
    pub fn rss_kib(&self) -> u64 {
        let pid = self.child.as_ref().expect("running").id();
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The value of one exposed sample, matched by its full text before the value.
    pub async fn metric(&self, sample: &str) -> Option<f64> {
        let text = reqwest::get(self.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(sample).and_then(|v| v.strip_prefix(' ')))
            .map(|v| v.trim().parse().unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A throwaway `redis-server`, without persistence unless asked.
pub struct Redis {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    args: Vec<String>,
    tls: bool,
}

impl Redis {
    pub fn start() -> Redis {
        Redis::start_with(&["--save", "", "--appendonly", "no"], false)
    }

    /// With an append-only file synced before each reply (`appendfsync always`): a restart
    /// keeps every write it acknowledged.
    pub fn start_persistent() -> Redis {
        Redis::start_with(
            &[
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ],
            false,
        )
    }

    /// Serving TLS only (`rediss://`), with this certificate and key (PEM files); clients
    /// need no certificate of their own.
    pub fn start_tls(cert: &Path, key: &Path) -> Redis {
        let (cert, key) = (cert.display().to_string(), key.display().to_string());
        Redis::start_with(
            &[
                "--save",
                "",
                "--appendonly",
                "no",
                "--port",
                "0",
                "--tls-cert-file",
                &cert,
                "--tls-key-file",
                &key,
                "--tls-auth-clients",
                "no",
            ],
            true,
        )
    }

    fn start_with(args: &[&str], tls: bool) -> Redis {
        let mut r = Redis {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            args: args.iter().map(|a| a.to_string()).collect(),
            tls,
        };
        r.start_again();
        r
    }

    /// A plain connection, for a test to read what the guard wrote.
    pub fn connection(&self) -> redis::Connection {
        let c = redis::Client::open(self.url()).unwrap();
        c.get_connection_with_timeout(Duration::from_secs(5))
            .unwrap()
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/", self.port)
    }

    pub fn start_again(&mut self) {
        if self.child.is_some() {
            return;
        }
        let child = Command::new("redis-server")
            .args([
                if self.tls { "--tls-port" } else { "--port" },
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args(&self.args)
            .args(["--protected-mode", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}): install the Debian package redis-server")
            });
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if self.ping() {
                return;
            }
            assert!(Instant::now() < until, "redis-server did not answer PING");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        if self.tls {
            // Listening is all a test needs to know; the handshake is the client's test.
            return true;
        }
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A config whose snapshot comes from the seeded database: growth tier, budgets wide enough
/// that only the per-client daily budget ($0.30: room for exactly 100 admits of $0.003) binds.
/// The bursts open a thousand connections at once, past the default connection cap, where the
/// server closes connections a pooled client opened and left unused, and a request it then
/// sends on one fails: these tests count admissions, not the cap (tests/it/server_hardening.rs),
/// so the cap is raised above the bursts.
pub fn config(dir: &Path, extra_guard: &str) -> PathBuf {
    let path = dir.join(format!("launchguard-{}.yaml", free_port()));
    let text = format!(
        "tier: growth\n\
         budgets:\n  daily_usd: 100000\n  monthly_usd: 1000000\n  client_daily_usd: 0.3\n\
         database:\n  url: ${{SUPABASE_DB_URL}}\n  interval: 1s\n  timeout: 10s\n\
         server:\n  max_connections: 4096\n\
         guard:\n  state_file: {}\n{extra_guard}",
        dir.join("guard-state.json").display()
    );
    fs::write(&path, text).unwrap();
    path
}

/// An admit body: anthropic claude-sonnet-4-5, 1,000 input tokens and no output = $0.003.
pub fn admit_body(client: &str) -> String {
    format!(
        r#"{{"client_id":"{client}","kind":"ai","provider":"anthropic","model":"claude-sonnet-4-5","estimate":{{"input_tokens":1000,"output_tokens":0}}}}"#
    )
}

/// (status, parsed JSON, Retry-After header) of one POST with the caller token.
pub async fn post(
    c: &reqwest::Client,
    url: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, serde_json::Value, Option<String>) {
    post_as(c, url, body, Some(CALLER_TOKEN)).await
}

/// The same with any caller token, or none.
pub async fn post_as(
    c: &reqwest::Client,
    url: &str,
    body: impl Into<reqwest::Body>,
    token: Option<&str>,
) -> (u16, serde_json::Value, Option<String>) {
    let mut req = c
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let text = r.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, json, retry)
}

/// One admit's answer, as a burst saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub decision: String,
    pub reason: String,
    pub reservation_id: Option<String>,
}

/// Fires `n` admits for one client at once, alternating over `servers`; returns the
/// (status, decision, reason) of each.
pub async fn burst(servers: &[&str], client: &str, n: usize) -> Vec<(u16, String, String)> {
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    burst_counted(servers, client, n, done)
        .await
        .into_iter()
        .map(|a| (a.status, a.decision, a.reason))
        .collect()
}

/// The same, with each answer's reservation id; `done` counts the answers as they arrive (a
/// test can act in the middle of the burst).
pub async fn burst_counted(
    servers: &[&str],
    client: &str,
    n: usize,
    done: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> Vec<Answer> {
    let c = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()
        .unwrap();
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = Vec::new();
    for i in 0..n {
        let c = c.clone();
        let url = format!("{}/api/v1/guard/admit", servers[i % servers.len()]);
        let body = admit_body(client);
        let start = start.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let (s, j, retry) = post(&c, &url, body).await;
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if s == 429 {
                assert!(retry.is_some(), "429 without Retry-After: {j}");
            }
            Answer {
                status: s,
                decision: j["decision"].as_str().unwrap().to_string(),
                reason: j["reason"].as_str().unwrap().to_string(),
                reservation_id: j["reservation_id"].as_str().map(str::to_string),
            }
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}
