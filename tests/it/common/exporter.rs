//! Runs the real `launchguard` binary for integration tests and reads its /metrics.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use super::port::free_port;

/// A running `launchguard serve`; killed on drop. stderr (the logs) goes to a file.
pub struct Exporter {
    child: Child,
    pub addr: String,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Exporter {
    /// Starts `launchguard serve --config <config> --listen 127.0.0.1:<free>` with `env`.
    pub fn start(config: Option<&Path>, env: &[(&str, &str)]) -> Exporter {
        let e = Exporter::spawn(config, &[], env);
        e.wait_for(Duration::from_secs(20), "the HTTP server", |_| true);
        e
    }

    /// Like `start` with extra `serve` arguments (e.g. `--web.config.file`); returns as soon
    /// as the port accepts connections, since it may speak TLS or ask for a password.
    pub fn spawn(config: Option<&Path>, args: &[&str], env: &[(&str, &str)]) -> Exporter {
        Exporter::spawn_wrapped(&[], config, args, env)
    }

    /// Like `spawn`, run through `wrapper` (a program that execs its arguments, such as
    /// `prlimit --nofile=128:128`), so the pid is still launchguard's.
    pub fn spawn_wrapped(
        wrapper: &[&str],
        config: Option<&Path>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Exporter {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("launchguard.log");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let bin = env!("CARGO_BIN_EXE_launchguard");
        let mut cmd = match wrapper.split_first() {
            None => Command::new(bin),
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(bin);
                c
            }
        };
        cmd.args(["--log-format", "json", "serve", "--listen", &addr]);
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        cmd.args(args);
        cmd.env_remove("SUPABASE_DB_URL")
            .env_remove("LAUNCHGUARD_CONFIG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = cmd.spawn().expect("spawn launchguard");
        let e = Exporter {
            child,
            addr,
            log,
            _dir: dir,
        };
        let start = Instant::now();
        while std::net::TcpStream::connect(&e.addr).is_err() {
            if start.elapsed() > Duration::from_secs(20) {
                panic!("launchguard did not listen; logs:\n{}", e.logs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        e
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn get(&self, path: &str) -> Option<(u16, String, String)> {
        http_get(&self.addr, path)
    }

    /// Parsed /metrics: `name{labels}` -> value, labels in exposition order.
    pub fn metrics(&self) -> BTreeMap<String, f64> {
        match self.get("/metrics") {
            Some((200, _, body)) => parse(&body),
            _ => BTreeMap::new(),
        }
    }

    /// Polls /metrics until `ok` holds or `limit` passes (then panics with the logs).
    pub fn wait_for(
        &self,
        limit: Duration,
        what: &str,
        ok: impl Fn(&BTreeMap<String, f64>) -> bool,
    ) -> BTreeMap<String, f64> {
        let start = Instant::now();
        loop {
            if let Some((200, _, body)) = self.get("/metrics") {
                let m = parse(&body);
                if ok(&m) {
                    return m;
                }
            }
            if start.elapsed() > limit {
                panic!("waited {limit:?} for {what}; logs:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// The process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 GET: (status, content-type, body). None when nothing listens yet.
pub fn http_get(addr: &str, path: &str) -> Option<(u16, String, String)> {
    request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
}

/// A minimal HTTP/1.1 POST of a JSON body: (status, content-type, body).
pub fn http_post_json(addr: &str, path: &str, body: &str) -> Option<(u16, String, String)> {
    http_post_json_as(addr, path, body, None)
}

/// The same with `Authorization: Bearer TOKEN` (the guard's caller token).
pub fn http_post_json_as(
    addr: &str,
    path: &str,
    body: &str,
    bearer: Option<&str>,
) -> Option<(u16, String, String)> {
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    request(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn request(addr: &str, raw_request: &str) -> Option<(u16, String, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(raw_request.as_bytes()).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let ctype = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Some((status, ctype, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

/// Parses exposition text into `name{labels}` -> value.
pub fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        if let Some((k, v)) = line.rsplit_once(' ')
            && let Ok(v) = v.parse::<f64>()
        {
            m.insert(k.to_string(), v);
        }
    }
    m
}

/// The value of a series, or a panic that lists the series of that name.
pub fn value(m: &BTreeMap<String, f64>, key: &str) -> f64 {
    match m.get(key) {
        Some(v) => *v,
        None => {
            let name = key.split('{').next().unwrap();
            let similar: Vec<_> = m.keys().filter(|k| k.starts_with(name)).collect();
            panic!("no series {key}; series named {name}: {similar:#?}")
        }
    }
}
