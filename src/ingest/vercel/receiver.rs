//! `POST /api/v1/vercel/drain`: Vercel's deliveries in, one answer each.
//!
//! | answer | when |
//! | --- | --- |
//! | 200 | stored (counts in the body), or nothing to count, or the endpoint verification |
//! | 401 `missing_signature` | a body to count without `x-vercel-signature` |
//! | 403 `invalid_signature` | the signature does not match the body under the drain's secret |
//! | 413 `too_large` | past `max_body_bytes` as received or `max_decompressed_bytes` unpacked |
//! | 415 `unsupported_encoding` | a Content-Encoding other than gzip |
//! | 400 `bad_body` | not a JSON array or NDJSON of entries (line and column named) |
//! | 404 `disabled` | `vercel_drain.enabled` is false |
//! | 503 `busy` / `unavailable` | too many deliveries at once, no secret, or the store failed: Vercel retries, and the retry is counted once |
//!
//! Every answer carries `x-vercel-verify` when `verify_code` is set. Nothing is counted from a
//! body before its signature matched; the heavy part (gunzip, parse, plan) runs off the async
//! threads.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use parking_lot::Mutex;
use serde::Serialize;

use super::aggregate::{EntryCounts, Plan, Rules, plan};
use super::body::{self, BodyError};
use super::store::Store;
use super::verify;
use crate::config::Config;
use crate::config::vercel::VercelDrain;
use crate::metrics::encode::Exposition;
use crate::metrics::names as n;
use crate::metrics::served::{Appended, Version, total};
use crate::state::Shared;

/// The route Vercel posts to.
pub const PATH: &str = "/api/v1/vercel/drain";

/// Delivery results (the `result` label), in a fixed order.
pub const RESULTS: [&str; 10] = [
    "ok",
    "verification",
    "missing_signature",
    "invalid_signature",
    "too_large",
    "unsupported_encoding",
    "bad_body",
    "busy",
    "unavailable",
    "disabled",
];

/// How often the expired keys are deleted.
const CLEANUP_EVERY: Duration = Duration::from_secs(60);
/// Seconds Vercel is asked to wait before retrying a 503.
const RETRY_AFTER_SECS: u32 = 30;

#[derive(Default)]
struct Stats {
    deliveries: [AtomicU64; RESULTS.len()],
    entries: [AtomicU64; 5],
    counted: AtomicU64,
    duplicates: AtomicU64,
    last_ok_ms: AtomicI64,
}

/// The receiver: config from `Shared`, counts in the store, its own counters for /metrics.
pub struct Receiver {
    shared: Arc<Shared>,
    store: Store,
    inflight: AtomicUsize,
    stats: Stats,
    /// Last log line per kind of trouble, so a flood of bad deliveries logs once a minute.
    logged: Mutex<HashMap<&'static str, Instant>>,
}

/// A refused delivery: status, stable code, message.
struct Refusal(StatusCode, &'static str, String);

#[derive(Serialize)]
struct Stored {
    ok: bool,
    entries: u64,
    counted: u64,
    duplicates: u64,
    ignored: u64,
    late: u64,
    future: u64,
    invalid: u64,
}

impl Receiver {
    pub fn new(shared: Arc<Shared>) -> Arc<Self> {
        Arc::new(Receiver {
            shared,
            store: Store::default(),
            inflight: AtomicUsize::new(0),
            stats: Stats::default(),
            logged: Mutex::new(HashMap::new()),
        })
    }

    /// The route, answering 404 while the receiver is disabled (read per request, so a config
    /// reload turns it on or off).
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route(PATH, get(verification).head(verification).post(deliver))
            .with_state(self.clone())
    }

    /// Deletes expired keys every minute while enabled.
    pub fn spawn_cleanup(self: &Arc<Self>) {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(CLEANUP_EVERY).await;
                let cfg = me.shared.config();
                if !cfg.vercel_drain.enabled {
                    continue;
                }
                match me.store.cleanup(&cfg, Utc::now()).await {
                    Ok(n) if n > 0 => tracing::debug!(keys = n, "expired drain keys deleted"),
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %e, "drain key cleanup failed"),
                }
            }
        });
    }

    /// `check --connect`'s line: (status, detail).
    pub async fn check(cfg: &Config) -> (&'static str, String) {
        let d = &cfg.vercel_drain;
        if !d.enabled {
            return ("off", "vercel_drain.enabled is false".into());
        }
        match d.secret.resolve() {
            Ok(Some(_)) => {}
            Ok(None) => {
                return ("down", format!("no drain secret: {} is not set", d.secret));
            }
            Err(e) => return ("down", e.to_string()),
        }
        Store::default().check(cfg).await
    }

    fn log_every_minute(&self, kind: &'static str, message: &str) {
        let mut m = self.logged.lock();
        let due = m
            .get(kind)
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(60));
        if due {
            m.insert(kind, Instant::now());
            tracing::warn!(kind, %message, "Vercel drain delivery refused");
        }
    }

    fn count(&self, result: &str) {
        if let Some(i) = RESULTS.iter().position(|r| *r == result) {
            self.stats.deliveries[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn count_entries(&self, c: &EntryCounts) {
        for (i, v) in [c.used, c.ignored, c.late, c.future, c.invalid]
            .into_iter()
            .enumerate()
        {
            self.stats.entries[i].fetch_add(v, Ordering::Relaxed);
        }
    }

    /// The receiver's samples as of now.
    pub fn exposition(&self) -> Exposition {
        let mut e = Exposition::default();
        for (i, r) in RESULTS.iter().enumerate() {
            let v = self.stats.deliveries[i].load(Ordering::Relaxed);
            e.set(&n::VERCEL_DRAIN_DELIVERIES, &[r], v as f64);
        }
        for (i, o) in ["used", "ignored", "late", "future", "invalid"]
            .iter()
            .enumerate()
        {
            let v = self.stats.entries[i].load(Ordering::Relaxed);
            e.set(&n::VERCEL_DRAIN_ENTRIES, &[o], v as f64);
        }
        e.set(
            &n::VERCEL_DRAIN_REQUESTS,
            &["counted"],
            self.stats.counted.load(Ordering::Relaxed) as f64,
        );
        e.set(
            &n::VERCEL_DRAIN_REQUESTS,
            &["duplicate"],
            self.stats.duplicates.load(Ordering::Relaxed) as f64,
        );
        let last = self.stats.last_ok_ms.load(Ordering::Relaxed);
        if last > 0 {
            e.set(&n::VERCEL_DRAIN_LAST_STORED, &[], last as f64 / 1000.0);
        }
        e
    }
}

/// Appended to the published exposition by /metrics while the receiver is enabled (read per
/// encoding: /metrics keys its cached body on the config too, so a reload shows at once).
impl Appended for Receiver {
    fn version(&self, _now_sec: i64) -> Version {
        let st = &self.stats;
        let counted = st
            .deliveries
            .iter()
            .chain(&st.entries)
            .chain([&st.counted, &st.duplicates]);
        [
            total(counted),
            st.last_ok_ms.load(Ordering::Relaxed) as u64,
            0,
            0,
        ]
    }

    fn exposition(&self) -> Option<Exposition> {
        self.shared
            .config()
            .vercel_drain
            .enabled
            .then(|| Receiver::exposition(self))
    }
}

/// Holds one of `max_concurrent` places while a delivery is processed.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn slot(inflight: &AtomicUsize, max: usize) -> Option<Slot<'_>> {
    let before = inflight.fetch_add(1, Ordering::AcqRel);
    let slot = Slot(inflight);
    (before < max).then_some(slot)
}

fn answer(cfg: &VercelDrain, status: StatusCode, body: String) -> Response {
    let mut r = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(code) = cfg
        .verify_code
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        r.headers_mut().insert("x-vercel-verify", code);
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    }
    r
}

fn refusal(cfg: &VercelDrain, Refusal(status, code, message): Refusal) -> Response {
    let body = serde_json::json!({ "code": code, "error": message }).to_string();
    answer(cfg, status, body)
}

async fn verification(State(r): State<Arc<Receiver>>) -> Response {
    let cfg = r.shared.config();
    let d = &cfg.vercel_drain;
    if !d.enabled {
        r.count("disabled");
        return refusal(d, disabled());
    }
    r.count("verification");
    answer(d, StatusCode::OK, "{}".into())
}

fn disabled() -> Refusal {
    Refusal(
        StatusCode::NOT_FOUND,
        "disabled",
        "the Vercel drain receiver is off (vercel_drain.enabled)".into(),
    )
}

async fn deliver(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Body) -> Response {
    let cfg = r.shared.config();
    let d = &cfg.vercel_drain;
    let (result, response) = match handle(&r, &cfg, &headers, body).await {
        Ok((result, stored)) => (result, answer(d, StatusCode::OK, stored)),
        Err(refused) => {
            let code = refused.1;
            if !matches!(
                code,
                "invalid_signature" | "missing_signature" | "disabled" | "busy"
            ) {
                r.log_every_minute(code, &refused.2);
            } else {
                tracing::debug!(code, message = %refused.2, "Vercel drain delivery refused");
            }
            (code, refusal(d, refused))
        }
    };
    r.count(result);
    response
}

async fn handle(
    r: &Receiver,
    cfg: &Arc<Config>,
    headers: &HeaderMap,
    body: Body,
) -> Result<(&'static str, String), Refusal> {
    let d = &cfg.vercel_drain;
    if !d.enabled {
        return Err(disabled());
    }
    let Some(_slot) = slot(&r.inflight, d.max_concurrent) else {
        return Err(Refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            format!(
                "{} deliveries are being processed (vercel_drain.max_concurrent); retry later",
                d.max_concurrent
            ),
        ));
    };
    let raw = axum::body::to_bytes(body, d.max_body_bytes)
        .await
        .map_err(|_| {
            refused_body(BodyError::TooLarge {
                limit: d.max_body_bytes,
                what: "max_body_bytes",
            })
        })?;
    let Some(signature) = headers
        .get("x-vercel-signature")
        .map(|v| v.to_str().unwrap_or("").to_string())
    else {
        // Vercel's endpoint verification does not sign its (empty) request.
        if body::is_empty_probe(&raw) {
            return Ok(("verification", "{}".into()));
        }
        return Err(Refusal(
            StatusCode::UNAUTHORIZED,
            "missing_signature",
            "no x-vercel-signature header: only signed deliveries are counted".into(),
        ));
    };
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").to_string());
    let planned = plan_off_thread(cfg, raw, encoding, signature).await?;
    r.count_entries(&planned.entries);
    let (counted, duplicates) = store(r, cfg, &planned).await?;
    let duplicates = duplicates + planned.repeats;
    r.stats.counted.fetch_add(counted, Ordering::Relaxed);
    r.stats.duplicates.fetch_add(duplicates, Ordering::Relaxed);
    r.stats
        .last_ok_ms
        .store(Utc::now().timestamp_millis(), Ordering::Relaxed);
    let e = planned.entries;
    let stored = Stored {
        ok: true,
        entries: e.total(),
        counted,
        duplicates,
        ignored: e.ignored,
        late: e.late,
        future: e.future,
        invalid: e.invalid,
    };
    Ok(("ok", serde_json::to_string(&stored).unwrap_or_default()))
}

fn unavailable(message: String) -> Refusal {
    Refusal(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
}

/// Verifies, decodes, parses and plans the delivery on the blocking pool (CPU work), with the
/// drain's secret resolved here and never logged.
async fn plan_off_thread(
    cfg: &Arc<Config>,
    raw: Bytes,
    encoding: Option<String>,
    signature: String,
) -> Result<Plan, Refusal> {
    let d = &cfg.vercel_drain;
    let secret = match d.secret.resolve() {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Err(unavailable(format!(
                "the drain's secret is not configured: {} is not set",
                d.secret
            )));
        }
        Err(e) => return Err(unavailable(e.to_string())),
    };
    let now_ms = Utc::now().timestamp_millis();
    let c = cfg.clone();
    tokio::task::spawn_blocking(move || {
        process(
            &raw,
            encoding.as_deref(),
            secret.expose().as_bytes(),
            &signature,
            &c.vercel_drain,
            now_ms,
        )
    })
    .await
    .map_err(|e| unavailable(format!("the delivery could not be processed: {e}")))?
}

/// Commits the delivery's items in one transaction: (counted, already seen).
async fn store(r: &Receiver, cfg: &Arc<Config>, planned: &Plan) -> Result<(u64, u64), Refusal> {
    if planned.items.is_empty() {
        return Ok((0, 0));
    }
    let d = &cfg.vercel_drain;
    match tokio::time::timeout(d.timeout.0, r.store.commit(cfg, &planned.items)).await {
        Ok(Ok(f)) => Ok((f.counted, f.duplicates)),
        Ok(Err(e)) => Err(unavailable(format!(
            "the delivery could not be stored ({}): {e}",
            e.reason
        ))),
        Err(_) => Err(unavailable(format!(
            "storing the delivery took longer than vercel_drain.timeout ({})",
            d.timeout
        ))),
    }
}

fn refused_body(e: BodyError) -> Refusal {
    let (status, code) = match &e {
        BodyError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        BodyError::UnsupportedEncoding(_) => {
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_encoding")
        }
        BodyError::BadGzip(_) | BodyError::BadJson(_) => (StatusCode::BAD_REQUEST, "bad_body"),
    };
    Refusal(status, code, e.to_string())
}

fn invalid_signature() -> Refusal {
    Refusal(
        StatusCode::FORBIDDEN,
        "invalid_signature",
        "signature didn't match: x-vercel-signature is not the HMAC-SHA1 of the body under vercel_drain.secret".into(),
    )
}

/// Verify, decode, parse and plan one delivery (pure). The signature is
/// checked over the bytes as received and, for gzip, over the decompressed bytes too (Vercel does
/// not document which it signs); nothing is parsed before one of them matched.
fn process(
    raw: &[u8],
    content_encoding: Option<&str>,
    secret: &[u8],
    signature: &str,
    cfg: &VercelDrain,
    now_ms: i64,
) -> Result<Plan, Refusal> {
    let gz = body::is_gzip(content_encoding, raw).map_err(refused_body)?;
    let raw_ok = verify::matches(secret, raw, signature);
    let decoded: Bytes;
    let text: &[u8] = if gz {
        decoded = match body::gunzip(raw, cfg.max_decompressed_bytes) {
            Ok(d) => Bytes::from(d),
            Err(e @ BodyError::TooLarge { .. }) => return Err(refused_body(e)),
            Err(e) if raw_ok => return Err(refused_body(e)),
            Err(_) => return Err(invalid_signature()),
        };
        if !raw_ok && !verify::matches(secret, &decoded, signature) {
            return Err(invalid_signature());
        }
        &decoded
    } else {
        if !raw_ok {
            return Err(invalid_signature());
        }
        raw
    };
    let entries = body::parse(text).map_err(refused_body)?;
    Ok(plan(&entries, &Rules::new(cfg), now_ms))
}

/// `process` with its refusal as (HTTP status, code, message): what the bench drives.
pub fn process_checked(
    raw: &[u8],
    content_encoding: Option<&str>,
    secret: &[u8],
    signature: &str,
    cfg: &VercelDrain,
    now_ms: i64,
) -> Result<Plan, (u16, &'static str, String)> {
    process(raw, content_encoding, secret, signature, cfg, now_ms)
        .map_err(|Refusal(s, c, m)| (s.as_u16(), c, m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const SECRET: &[u8] = b"drain-secret";

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn body(now: i64) -> String {
        format!(
            r#"[{{"id":"1","requestId":"a","proxy":{{"timestamp":{now},"path":"/api/a","statusCode":200}}}}]"#
        )
    }

    #[test]
    fn nothing_is_parsed_before_the_signature_matches() {
        let cfg = VercelDrain::default();
        let now = 1_796_041_200_000;
        let b = body(now);
        let sig = verify::sign(SECRET, b.as_bytes());
        let run = |raw: &[u8], enc: Option<&str>, sig: &str| {
            process_checked(raw, enc, SECRET, sig, &cfg, now).map(|p| p.items.len())
        };
        assert_eq!(run(b.as_bytes(), None, &sig), Ok(1));
        assert_eq!(
            run(b.as_bytes(), None, &sig.replace('a', "b"))
                .unwrap_err()
                .0,
            403
        );
        // gzip: signed over the wire bytes or over the decompressed body, both are taken.
        let z = gz(b.as_bytes());
        assert_eq!(run(&z, Some("gzip"), &sig), Ok(1));
        assert_eq!(run(&z, None, &verify::sign(SECRET, &z)), Ok(1));
        assert_eq!(
            run(&z, None, &verify::sign(b"other", &z)).unwrap_err().0,
            403
        );
        // Broken gzip: 400 when the wire bytes are signed, 403 (unverifiable) when not.
        let broken = &z[..z.len() - 9];
        assert_eq!(
            run(broken, None, &verify::sign(SECRET, broken))
                .unwrap_err()
                .0,
            400
        );
        assert_eq!(run(broken, None, &sig).unwrap_err().0, 403);
        // A signed body that is not JSON, and one past the decompressed cap.
        let junk = b"{not json";
        let e = run(junk, None, &verify::sign(SECRET, junk)).unwrap_err();
        assert_eq!((e.0, e.1), (400, "bad_body"));
        assert!(e.2.contains("line 1, column 2"), "{}", e.2);
        let small = VercelDrain {
            max_decompressed_bytes: 1024,
            ..VercelDrain::default()
        };
        let big = gz(&vec![b' '; 4096]);
        let e = process_checked(&big, None, SECRET, &verify::sign(SECRET, &big), &small, now)
            .unwrap_err();
        assert_eq!((e.0, e.1), (413, "too_large"));
        let e = run(b.as_bytes(), Some("br"), &sig).unwrap_err();
        assert_eq!((e.0, e.1), (415, "unsupported_encoding"));
    }

    #[test]
    fn slots_are_bounded_and_released() {
        let n = AtomicUsize::new(0);
        let a = slot(&n, 2).unwrap();
        let b = slot(&n, 2).unwrap();
        assert!(slot(&n, 2).is_none());
        drop(a);
        assert!(slot(&n, 2).is_some());
        drop(b);
        assert_eq!(n.load(Ordering::Relaxed), 0);
    }
}
