//! The load engine: an open (arrival-rate) model on tokio, speaking HTTP/1.1 through `http1`.
//!
//! Request `i` of a load is scheduled at `start + i / rate`, whatever the server does. A fixed
//! set of connections (reused, HTTP/1.1 keep-alive, see `http1`) takes the next due request as soon as it is
//! free; when every connection is busy the request starts late, and its latency is still timed
//! from its scheduled start (the "corrected" latency of wrk2), so a slow server cannot hide its
//! latency by slowing the load. Requests that start more than [`LATE_AFTER`] behind schedule are
//! counted as late; those still unsent when the window closes are dropped. Latencies go into
//! HDR histograms (constant memory, saturating record) sharded by connection and merged at the
//! end.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http::Method;
use http::header::{HOST, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use tokio::net::TcpStream;
use tokio::sync::watch;
use url::Url;

use super::abort::{self, EarlyStop, Tally};
use super::http1;
use super::judge::Quantiles;
use super::report::Counts;
use super::scenario::Load;
use crate::config::{RequestDef, ScenarioName, SecretRef, StatusSet, StrainThresholds};

/// A request that starts this far behind its schedule is counted as late.
pub const LATE_AFTER: Duration = Duration::from_millis(10);
/// Latencies are recorded in microseconds up to one hour; longer ones saturate at the top.
const HIST_MAX_US: u64 = 3_600_000_000;

/// Why the base URL cannot be made a target: fixed in `--base-url`, `strain.ca_file` or DNS.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("--base-url: scheme {0} is not http or https")]
    Scheme(String),
    #[error("--base-url has no port")]
    NoPort,
    #[error("--base-url has no host")]
    NoHost,
    #[error("--base-url: {0}")]
    HostHeader(#[from] http::header::InvalidHeaderValue),
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("strain.ca_file {}: {source}", path.display())]
    CaFile {
        path: std::path::PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{host}: {source}")]
    ServerName {
        host: String,
        #[source]
        source: rustls::pki_types::InvalidDnsNameError,
    },
    #[error(transparent)]
    Tls(#[from] rustls::Error),
}

/// A request definition of `strain.scenarios` that cannot be sent: `at` is its config field
/// (`strain.scenarios.ai_load.requests.0`); `problem` names a header, never its value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{at}: {problem}")]
pub struct RequestDefError {
    pub at: String,
    pub problem: String,
}

/// The resolved target: the addresses checked by the safety rule are the ones connected to.
pub struct Target {
    pub host: String,
    pub addrs: Vec<SocketAddr>,
    pub host_header: HeaderValue,
    pub base_path: String,
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
}

impl Target {
    /// Parses and resolves a base URL (http or https; `ca_file` adds a trusted root CA).
    pub async fn resolve(
        base: &Url,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Target, TargetError> {
        let https = match base.scheme() {
            "http" => false,
            "https" => true,
            s => return Err(TargetError::Scheme(s.to_string())),
        };
        let port = base.port_or_known_default().ok_or(TargetError::NoPort)?;
        let (host, addrs): (String, Vec<SocketAddr>) = match base.host() {
            Some(url::Host::Ipv4(ip)) => (ip.to_string(), vec![SocketAddr::new(ip.into(), port)]),
            Some(url::Host::Ipv6(ip)) => (ip.to_string(), vec![SocketAddr::new(ip.into(), port)]),
            Some(url::Host::Domain(d)) => {
                let addrs = tokio::net::lookup_host((d, port))
                    .await
                    .map_err(|source| TargetError::Resolve {
                        host: d.to_string(),
                        source,
                    })?
                    .collect();
                (d.to_string(), addrs)
            }
            None => return Err(TargetError::NoHost),
        };
        let authority = match base.port() {
            Some(p) => format!("{}:{p}", base.host_str().unwrap_or(&host)),
            None => base.host_str().unwrap_or(&host).to_string(),
        };
        let host_header = HeaderValue::from_str(&authority)?;
        let tls = if https {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            if let Some(path) = ca_file {
                use rustls::pki_types::CertificateDer;
                use rustls::pki_types::pem::PemObject;
                let bad = |e: Box<dyn std::error::Error + Send + Sync>| TargetError::CaFile {
                    path: path.to_path_buf(),
                    source: e,
                };
                for c in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.into()))? {
                    let c = c.map_err(|e| bad(e.into()))?;
                    roots.add(c).map_err(|e| bad(e.into()))?;
                }
            }
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_no_client_auth();
            cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
            let name = rustls::pki_types::ServerName::try_from(host.clone()).map_err(|source| {
                TargetError::ServerName {
                    host: host.clone(),
                    source,
                }
            })?;
            Some((tokio_rustls::TlsConnector::from(Arc::new(cfg)), name))
        } else {
            None
        };
        Ok(Target {
            host,
            addrs,
            host_header,
            base_path: base.path().trim_end_matches('/').to_string(),
            tls,
        })
    }

    /// Opens one keep-alive HTTP/1.1 connection.
    pub async fn connect(&self) -> io::Result<http1::Conn> {
        let tcp = TcpStream::connect(&self.addrs[..]).await?;
        tcp.set_nodelay(true)?;
        let stream = match &self.tls {
            None => http1::Stream::Plain(tcp),
            Some((c, name)) => http1::Stream::Tls(Box::new(c.connect(name.clone(), tcp).await?)),
        };
        Ok(http1::Conn::new(stream))
    }
}

/// A request ready to send many times; `{{vu}}` and `{{seq}}` are filled in per request.
pub struct Prepared {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
    templated: bool,
    /// The whole request on the wire, when nothing is filled in per request.
    wire: Bytes,
    head: bool,
    expected: StatusSet,
}

const VU: &str = "{{vu}}";
const SEQ: &str = "{{seq}}";

impl Prepared {
    /// Resolves secrets in header values; the error names the header, never its value.
    pub fn new(
        def: &RequestDef,
        base_path: &str,
        host: &HeaderValue,
        where_: &str,
    ) -> Result<Prepared, RequestDefError> {
        let bad = |problem: String| RequestDefError {
            at: where_.to_string(),
            problem,
        };
        let method = Method::from_bytes(def.method.as_bytes())
            .map_err(|_| bad(format!("`{}` is not an HTTP method", def.method)))?;
        let mut headers = HeaderMap::new();
        let mut templated = def.path.contains(VU) || def.path.contains(SEQ);
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("launchguard-strain/", env!("CARGO_PKG_VERSION"))),
        );
        for (k, v) in &def.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| bad(format!("`{k}` is not a header name")))?;
            let (value, secret) = match SecretRef::parse(v) {
                Ok(r) => match r.resolve() {
                    Ok(Some(s)) => (s.expose().to_string(), true),
                    Ok(None) => {
                        return Err(bad(format!("header {k} names {r}, which is not set")));
                    }
                    Err(e) => return Err(bad(format!("header {k}: {e}"))),
                },
                Err(_) => (v.clone(), false),
            };
            templated |= value.contains(VU) || value.contains(SEQ);
            let mut hv = HeaderValue::from_str(&value)
                .map_err(|_| bad(format!("header {k} has a value that is not visible ASCII")))?;
            hv.set_sensitive(secret);
            headers.insert(name, hv);
        }
        let body = def.body.clone().unwrap_or_default();
        templated |= body.contains(VU) || body.contains(SEQ);
        let path = format!("{base_path}{}", def.path);
        path.replace(VU, "0")
            .replace(SEQ, "0")
            .parse::<http::Uri>()
            .map_err(|_| bad(format!("`{path}` is not a valid path and query")))?;
        headers.insert(HOST, host.clone());
        let mut p = Prepared {
            head: method == Method::HEAD,
            method,
            path,
            headers,
            body: Bytes::from(body),
            templated,
            wire: Bytes::new(),
            expected: def.expected_statuses.clone(),
        };
        if !p.templated {
            p.wire = p.serialise(&p.path, &p.headers, &p.body);
        }
        Ok(p)
    }

    /// The request as sent: request line, headers, content-length when there is a body.
    fn serialise(&self, path: &str, headers: &HeaderMap, body: &[u8]) -> Bytes {
        let mut w = Vec::with_capacity(256 + body.len());
        w.extend_from_slice(self.method.as_str().as_bytes());
        w.push(b' ');
        w.extend_from_slice(path.as_bytes());
        w.extend_from_slice(b" HTTP/1.1\r\n");
        for (k, v) in headers {
            if k == http::header::CONTENT_LENGTH {
                continue;
            }
            w.extend_from_slice(k.as_str().as_bytes());
            w.extend_from_slice(b": ");
            w.extend_from_slice(v.as_bytes());
            w.extend_from_slice(b"\r\n");
        }
        let needs_length =
            !body.is_empty() || matches!(self.method, Method::POST | Method::PUT | Method::PATCH);
        if needs_length {
            w.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
        }
        w.extend_from_slice(b"\r\n");
        w.extend_from_slice(body);
        Bytes::from(w)
    }

    /// The bytes of request `seq` of virtual user `vu`.
    fn build(&self, vu: u64, seq: u64) -> Bytes {
        if !self.templated {
            return self.wire.clone();
        }
        let fill = |s: &str| {
            s.replace(VU, &vu.to_string())
                .replace(SEQ, &seq.to_string())
        };
        let body = std::str::from_utf8(&self.body)
            .map(fill)
            .unwrap_or_default();
        let mut headers = self.headers.clone();
        for v in headers.values_mut() {
            if let Ok(s) = v.to_str()
                && (s.contains(VU) || s.contains(SEQ))
                && let Ok(mut nv) = HeaderValue::from_str(&fill(s))
            {
                nv.set_sensitive(v.is_sensitive());
                *v = nv;
            }
        }
        self.serialise(&fill(&self.path), &headers, body.as_bytes())
    }
}

/// The request budget of a whole run (`strain.max_requests`).
pub struct Budget {
    remaining: AtomicU64,
    exhausted: AtomicBool,
}

impl Budget {
    pub fn new(n: u64) -> Arc<Budget> {
        Arc::new(Budget {
            remaining: AtomicU64::new(n),
            exhausted: AtomicBool::new(false),
        })
    }

    fn take(&self) -> bool {
        let ok = self
            .remaining
            .fetch_update(Relaxed, Relaxed, |r| r.checked_sub(1))
            .is_ok();
        if !ok {
            self.exhausted.store(true, Relaxed);
        }
        ok
    }

    pub fn exhausted(&self) -> bool {
        self.exhausted.load(Relaxed)
    }

    /// Requests the run may still send.
    pub fn remaining(&self) -> u64 {
        self.remaining.load(Relaxed)
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, 3).expect("static histogram bounds are valid")
}

/// A latency in microseconds as the histograms record it.
fn clamp_us(d: Duration) -> u64 {
    d.as_micros().clamp(1, HIST_MAX_US as u128) as u64
}

/// Corrected and raw latency histograms, sharded so connections rarely share a lock.
struct Latencies(Vec<Mutex<(Histogram<u64>, Histogram<u64>)>>);

impl Latencies {
    fn new() -> Self {
        let n = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
        Latencies(
            (0..n)
                .map(|_| Mutex::new((histogram(), histogram())))
                .collect(),
        )
    }

    fn record(&self, shard: usize, corrected: Duration, raw: Duration) {
        let mut h = self.0[shard % self.0.len()].lock().expect("lock");
        h.0.saturating_record(clamp_us(corrected));
        h.1.saturating_record(clamp_us(raw));
    }

    fn merged(&self) -> (Histogram<u64>, Histogram<u64>) {
        let (mut c, mut r) = (histogram(), histogram());
        for s in &self.0 {
            let h = s.lock().expect("lock");
            let _ = c.add(&h.0);
            let _ = r.add(&h.1);
        }
        (c, r)
    }
}

/// Quantiles in milliseconds of a microsecond histogram; None when it is empty.
pub fn quantiles(h: &Histogram<u64>) -> Option<Quantiles> {
    if h.is_empty() {
        return None;
    }
    let ms = |us: u64| us as f64 / 1000.0;
    Some(Quantiles {
        count: h.len(),
        mean: h.mean() / 1000.0,
        p50: ms(h.value_at_quantile(0.50)),
        p90: ms(h.value_at_quantile(0.90)),
        p95: ms(h.value_at_quantile(0.95)),
        p99: ms(h.value_at_quantile(0.99)),
        max: ms(h.max()),
    })
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    answered: AtomicU64,
    answered_in_window: AtomicU64,
    ok: AtomicU64,
    status_errors: AtomicU64,
    transport_errors: AtomicU64,
    timeouts: AtomicU64,
    late: AtomicU64,
    /// Finished with a corrected latency above the response-time limit (for abort-on-fail).
    slow: AtomicU64,
}

impl Counters {
    /// The counts so far; `scheduled` is the number of requests due in the window.
    fn read(&self, scheduled: u64) -> Counts {
        let l = |a: &AtomicU64| a.load(Relaxed);
        let (sent, answered) = (l(&self.sent), l(&self.answered));
        let (transport_errors, timeouts) = (l(&self.transport_errors), l(&self.timeouts));
        Counts {
            scheduled,
            sent,
            answered,
            answered_in_window: l(&self.answered_in_window),
            ok: l(&self.ok),
            status_errors: l(&self.status_errors),
            transport_errors,
            timeouts,
            late: l(&self.late),
            dropped: scheduled.saturating_sub(sent),
            unfinished: sent.saturating_sub(answered + transport_errors + timeouts),
        }
    }
}

/// One load in flight: its schedule, counters and histograms.
struct LoadCtx {
    part: ScenarioName,
    start: Instant,
    end: Instant,
    rate: f64,
    total_slots: u64,
    slot: AtomicU64,
    vus: Option<u64>,
    requests: Vec<Prepared>,
    target: Arc<Target>,
    timeout: Duration,
    budget: Arc<Budget>,
    slow_after_us: u64,
    c: Counters,
    statuses: Vec<AtomicU64>,
    lat: Latencies,
}

impl LoadCtx {
    fn scheduled_at(&self, i: u64) -> Instant {
        self.start + Duration::from_secs_f64(i as f64 / self.rate)
    }
}

enum Outcome {
    Status(u16),
    Transport,
    Timeout,
}

async fn exchange(
    conn: &mut Option<http1::Conn>,
    t: &Target,
    req: &[u8],
    head: bool,
) -> Result<u16, ()> {
    let reused = conn.as_ref().is_some_and(|c| c.reusable());
    if !reused {
        *conn = Some(t.connect().await.map_err(|_| ())?);
    }
    let c = conn.as_mut().expect("connected above");
    let mut result = c.roundtrip(req, head).await;
    if result.is_err() && reused && c.got_nothing() {
        // A keep-alive connection the server closed while idle: retry once on a new one.
        let fresh = conn.insert(t.connect().await.map_err(|_| ())?);
        result = fresh.roundtrip(req, head).await;
    }
    match result {
        Ok(status) => {
            if conn.as_ref().is_some_and(|c| !c.reusable()) {
                *conn = None;
            }
            Ok(status)
        }
        Err(_) => {
            *conn = None;
            Err(())
        }
    }
}

async fn worker(ctx: Arc<LoadCtx>, id: u64, mut stop: watch::Receiver<bool>) {
    let mut conn: Option<http1::Conn> = None;
    let n = ctx.requests.len() as u64;
    loop {
        if *stop.borrow() {
            return;
        }
        let i = ctx.slot.fetch_add(1, Relaxed);
        if i >= ctx.total_slots {
            return;
        }
        let sched = ctx.scheduled_at(i);
        let now = Instant::now();
        if now >= ctx.end {
            return;
        }
        if sched > now {
            tokio::select! {
                _ = tokio::time::sleep_until(sched.into()) => {}
                _ = stop.changed() => return,
            }
        } else if now - sched > LATE_AFTER {
            ctx.c.late.fetch_add(1, Relaxed);
        }
        if !ctx.budget.take() {
            return;
        }
        let (vu, which) = match ctx.vus {
            Some(v) => (i % v, (i / v) % n),
            None => (id, i % n),
        };
        let prepared = &ctx.requests[which as usize];
        let req = prepared.build(vu, i);
        let began = Instant::now();
        ctx.c.sent.fetch_add(1, Relaxed);
        let outcome = match tokio::time::timeout(
            ctx.timeout,
            exchange(&mut conn, &ctx.target, &req, prepared.head),
        )
        .await
        {
            Ok(Ok(s)) => Outcome::Status(s),
            Ok(Err(())) => Outcome::Transport,
            Err(_) => {
                conn = None;
                Outcome::Timeout
            }
        };
        let done = Instant::now();
        if clamp_us(done - sched) > ctx.slow_after_us {
            ctx.c.slow.fetch_add(1, Relaxed);
        }
        ctx.lat.record(id as usize, done - sched, done - began);
        match outcome {
            Outcome::Status(s) => {
                ctx.c.answered.fetch_add(1, Relaxed);
                if done <= ctx.end {
                    ctx.c.answered_in_window.fetch_add(1, Relaxed);
                }
                if let Some(a) = ctx.statuses.get(s as usize) {
                    a.fetch_add(1, Relaxed);
                }
                if prepared.expected.contains(s) {
                    ctx.c.ok.fetch_add(1, Relaxed);
                } else {
                    ctx.c.status_errors.fetch_add(1, Relaxed);
                }
            }
            Outcome::Transport => {
                ctx.c.transport_errors.fetch_add(1, Relaxed);
            }
            Outcome::Timeout => {
                ctx.c.timeouts.fetch_add(1, Relaxed);
            }
        }
    }
}

/// A load ready to run.
pub struct LoadSpec {
    pub load: Load,
    pub requests: Vec<Prepared>,
}

/// What one load did.
#[derive(Debug, Clone)]
pub struct LoadResult {
    pub part: ScenarioName,
    pub target_rate: f64,
    pub connections: usize,
    /// Request counts; `scheduled` covers the window up to an interruption.
    pub counts: Counts,
    /// Answers per HTTP status.
    pub statuses: Vec<(u16, u64)>,
    pub corrected: Histogram<u64>,
    pub raw: Histogram<u64>,
}

/// A live look at a running step, for the progress display.
#[derive(Debug, Clone, Copy, Default)]
pub struct Live {
    pub elapsed: Duration,
    pub sent: u64,
    pub finished: u64,
    pub errors: u64,
    pub late: u64,
    pub p95_ms: Option<f64>,
}

/// What one step (scenario) did.
#[derive(Debug, Clone)]
pub struct StepResult {
    pub loads: Vec<LoadResult>,
    /// The scheduled window, cut short by an interruption.
    pub window: Duration,
    /// From the start to the last request's end.
    pub elapsed: Duration,
    pub interrupted: bool,
    /// Set when abort-on-fail stopped the step because its failure was certain.
    pub early_stop: Option<EarlyStop>,
}

/// Settings shared by every step of a run.
pub struct RunSettings {
    pub target: Arc<Target>,
    pub timeout: Duration,
    pub grace: Duration,
    pub budget: Arc<Budget>,
}

/// Abort-on-fail for one step: the thresholds, and the highest memory sample so far.
pub struct AbortOnFail<'a> {
    pub thresholds: &'a StrainThresholds,
    pub memory_max: &'a (dyn Fn() -> Option<f64> + Sync),
}

/// How often abort-on-fail looks at the counters (atomics only; cheap).
const ABORT_CHECK_EVERY: Duration = Duration::from_millis(100);

/// Runs the loads of one step at once for `duration`. A stop signal ends scheduling at once;
/// requests in flight then get `grace` to finish before they are cut off. With `abort`, the
/// step ends as soon as its failure is certain (`strain::abort`); requests in flight are cut
/// off then (counted as unfinished: the verdict no longer depends on them).
pub async fn run_step(
    specs: Vec<LoadSpec>,
    duration: Duration,
    s: &RunSettings,
    stop: watch::Receiver<bool>,
    abort: Option<AbortOnFail<'_>>,
    on_tick: impl FnMut(Live),
) -> StepResult {
    let slow_after_us = abort
        .as_ref()
        .map_or(u64::MAX, |a| clamp_us(a.thresholds.response_time.0));
    let start = Instant::now() + Duration::from_millis(20);
    let end = start + duration;
    let mut ctxs = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    for spec in specs {
        let total = (spec.load.rate * duration.as_secs_f64()).floor() as u64;
        let ctx = Arc::new(LoadCtx {
            part: spec.load.part,
            start,
            end,
            rate: spec.load.rate,
            total_slots: total,
            slot: AtomicU64::new(0),
            vus: spec.load.vus.map(u64::from),
            requests: spec.requests,
            target: s.target.clone(),
            timeout: s.timeout,
            budget: s.budget.clone(),
            slow_after_us,
            c: Counters::default(),
            statuses: (0..600).map(|_| AtomicU64::new(0)).collect(),
            lat: Latencies::new(),
        });
        for id in 0..spec.load.connections.max(1) {
            tasks.spawn(worker(ctx.clone(), id as u64, stop.clone()));
        }
        ctxs.push((ctx, spec.load.connections));
    }
    let run = Supervised {
        ctxs: &ctxs,
        start,
        duration,
        grace: s.grace,
        abort,
    };
    let (stopped_at, early_stop) = run.supervise(&mut tasks, stop, on_tick).await;
    let finished_at = Instant::now();
    let window = match stopped_at {
        Some(t) if t < end => t.saturating_duration_since(start),
        _ => duration,
    };
    StepResult {
        loads: ctxs
            .iter()
            .map(|(ctx, conns)| load_result(ctx, *conns, window))
            .collect(),
        window,
        elapsed: finished_at.saturating_duration_since(start),
        interrupted: stopped_at.is_some() && early_stop.is_none(),
        early_stop,
    }
}

/// A step's loads while they run: what the supervisor watches.
struct Supervised<'a, 'b> {
    ctxs: &'a [(Arc<LoadCtx>, usize)],
    start: Instant,
    duration: Duration,
    grace: Duration,
    abort: Option<AbortOnFail<'b>>,
}

impl Supervised<'_, '_> {
    /// Waits for the workers to end, reporting progress every second; on a stop signal, gives
    /// requests in flight `grace`; with abort-on-fail, ends the step once its failure is
    /// certain. Returns when scheduling stopped early, and why if by abort-on-fail.
    async fn supervise(
        &self,
        tasks: &mut tokio::task::JoinSet<()>,
        stop: watch::Receiver<bool>,
        mut on_tick: impl FnMut(Live),
    ) -> (Option<Instant>, Option<EarlyStop>) {
        let mut stop_rx = stop.clone();
        let mut stopped_at: Option<Instant> = if *stop.borrow() {
            Some(Instant::now())
        } else {
            None
        };
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut checker = tokio::time::interval(ABORT_CHECK_EVERY);
        checker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        loop {
            let deadline = stopped_at.map_or(far, |t| t + self.grace);
            tokio::select! {
                r = tasks.join_next() => if r.is_none() { break },
                _ = stop_rx.changed(), if stopped_at.is_none() => {
                    if *stop_rx.borrow() { stopped_at = Some(Instant::now()); }
                }
                _ = tokio::time::sleep_until(deadline.into()), if stopped_at.is_some() => {
                    tasks.abort_all();
                    while tasks.join_next().await.is_some() {}
                    break;
                }
                _ = ticker.tick() => on_tick(live(self.ctxs, self.start)),
                _ = checker.tick(), if self.abort.is_some() && stopped_at.is_none() => {
                    if let Some(e) = self.certain_failure() {
                        tasks.abort_all();
                        while tasks.join_next().await.is_some() {}
                        return (Some(Instant::now()), Some(e));
                    }
                }
            }
        }
        (stopped_at, None)
    }

    /// The early stop, when abort-on-fail finds the step's failure certain already.
    fn certain_failure(&self) -> Option<EarlyStop> {
        let a = self.abort.as_ref()?;
        let planned: u64 = self.ctxs.iter().map(|(c, _)| c.total_slots).sum();
        let tally = tally(self.ctxs, planned, (a.memory_max)());
        let (threshold, rule, bad, allowed) = abort::certain_failure(&tally, a.thresholds)?;
        Some(EarlyStop {
            threshold,
            rule,
            bad_requests: bad,
            allowed_bad_requests: allowed,
            after_requests: tally.finished,
            planned_requests: planned,
            after_seconds: Instant::now()
                .saturating_duration_since(self.start)
                .as_secs_f64(),
            planned_seconds: self.duration.as_secs_f64(),
        })
    }
}

/// One load's result over the step's window.
fn load_result(ctx: &LoadCtx, connections: usize, window: Duration) -> LoadResult {
    let (corrected, raw) = ctx.lat.merged();
    let l = |a: &AtomicU64| a.load(Relaxed);
    let scheduled = ((ctx.rate * window.as_secs_f64()).floor() as u64).min(ctx.total_slots);
    LoadResult {
        part: ctx.part,
        target_rate: ctx.rate,
        connections,
        counts: ctx.c.read(scheduled),
        statuses: ctx
            .statuses
            .iter()
            .enumerate()
            .filter_map(|(s, a)| {
                let n = l(a);
                (n > 0).then_some((s as u16, n))
            })
            .collect(),
        corrected,
        raw,
    }
}

/// The running tally abort-on-fail judges, every load summed.
fn tally(ctxs: &[(Arc<LoadCtx>, usize)], planned: u64, memory_max: Option<f64>) -> Tally {
    let mut t = Tally {
        planned,
        memory_max,
        ..Tally::default()
    };
    for (ctx, _) in ctxs {
        let c = ctx.c.read(0);
        t.finished += c.finished();
        t.errors += c.errors();
        t.slow += ctx.c.slow.load(Relaxed);
    }
    t
}

fn live(ctxs: &[(Arc<LoadCtx>, usize)], start: Instant) -> Live {
    let mut out = Live {
        elapsed: Instant::now().saturating_duration_since(start),
        ..Live::default()
    };
    let mut merged = histogram();
    for (ctx, _) in ctxs {
        let c = ctx.c.read(0);
        out.sent += c.sent;
        out.finished += c.finished();
        out.errors += c.errors();
        out.late += c.late;
        let _ = merged.add(&ctx.lat.merged().0);
    }
    out.p95_ms = quantiles(&merged).map(|q| q.p95);
    out
}
