//! From entries to what a delivery adds to the per-minute traffic (pure: entries, rules and the
//! clock in; items and counts out).
//!
//! Counting is keyed, not per entry: a request (keyed by its `requestId`) is counted once however
//! many entries carry it (a function that logs N lines yields N entries with the same `proxy`),
//! in however many deliveries, retries or replicas they arrive; its duration (from the REPORT
//! line of the invocation) is another key. `plan` turns entries into keyed items; the store
//! records the keys and tells which were new; `fold` sums only the new ones into minute rows.

use std::collections::{BTreeMap, HashSet};

use aws_lc_rs::digest;

use super::entry::{Entry, report_duration_ms};
use crate::config::vercel::VercelDrain;

/// Upper bounds (ms) of the latency buckets, those of `public.http_traffic_minutely` and
/// `core::latency::BUCKET_BOUNDS`; a seventh bucket holds what is above the last.
pub const LATENCY_BOUNDS_MS: [f64; 6] = [100.0, 250.0, 500.0, 1000.0, 2000.0, 5000.0];

/// Entries dated this far ahead of the receiver's clock are still taken (clock skew).
pub const FUTURE_SLACK_MS: i64 = 5 * 60_000;

/// Bounds on the numbers an entry carries; past them the entry is invalid.
const MAX_TIMESTAMP_MS: f64 = 1.0e14;
const MAX_RESPONSE_BYTES: f64 = 1.0e12;
const MAX_DURATION_MS: f64 = 1.0e7;
const MAX_ID_LEN: usize = 512;

/// What counts, from the config.
#[derive(Debug, Clone)]
pub struct Rules<'a> {
    pub api_paths: &'a [String],
    pub environments: &'a [String],
    pub projects: &'a [String],
    pub sync_job_path: Option<&'a str>,
    pub window_ms: i64,
}

impl<'a> Rules<'a> {
    pub fn new(cfg: &'a VercelDrain) -> Self {
        Rules {
            api_paths: &cfg.api_paths,
            environments: &cfg.environments,
            projects: &cfg.projects,
            sync_job_path: cfg.sync_job_path.as_deref(),
            window_ms: i64::try_from(cfg.dedup_window.0.as_millis()).unwrap_or(i64::MAX),
        }
    }

    fn is_api(&self, path: &str) -> bool {
        self.api_paths.iter().any(|p| path.starts_with(p.as_str()))
    }
}

/// How each entry of a delivery was taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntryCounts {
    /// Gave at least one item (a request or a duration).
    pub used: u64,
    /// Nothing to count: build output, no request in it, another environment or project, a
    /// background revalidation.
    pub ignored: u64,
    /// Older than the dedup window (no longer counted).
    pub late: u64,
    /// Dated more than `FUTURE_SLACK_MS` ahead of the receiver's clock.
    pub future: u64,
    /// No request id or timestamp, or a number out of range.
    pub invalid: u64,
}

impl EntryCounts {
    pub fn total(&self) -> u64 {
        self.used + self.ignored + self.late + self.future + self.invalid
    }
}

/// What one item adds when its key is new.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum What {
    /// A request: an API request (`api`) counts in requests and errors; every request's
    /// response bytes count in bytes_out.
    Request { api: bool, error: bool, bytes: u64 },
    /// The invocation's duration, into latency bucket `bucket` (API requests only).
    Duration { api: bool, bucket: usize },
}

/// A Vercel Cron invocation of the sync job (parts of it come with each item of the request).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CronRun {
    /// The request's key (its row in `vercel_cron_runs`).
    pub key: i64,
    pub started_ms: i64,
    pub status: Option<i32>,
    pub duration_ms: Option<f64>,
}

/// One keyed contribution.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Unix minute of the request (`proxy.timestamp`, else the entry's `timestamp`).
    pub minute: i64,
    pub key: i64,
    pub what: What,
    pub cron: Option<CronRun>,
}

/// A delivery, planned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Unique by (minute, key), in entry order.
    pub items: Vec<Item>,
    pub entries: EntryCounts,
    /// Request items repeated inside the delivery (the same request in several entries).
    pub repeats: u64,
}

enum Outcome {
    Used,
    Ignored,
    Late,
    Future,
    Invalid,
}

/// A 64-bit digest of what is counted: `kind` ('r' request, 'd' duration) and the request id.
pub fn key(kind: u8, id: &str) -> i64 {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(&[kind, 0]);
    ctx.update(id.as_bytes());
    let d = ctx.finish();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d.as_ref()[..8]);
    i64::from_be_bytes(b)
}

/// Latency bucket of a duration in ms: (0,100] -> 0, ..., (2000,5000] -> 5, above -> 6.
pub fn bucket(ms: f64) -> usize {
    LATENCY_BOUNDS_MS
        .iter()
        .position(|b| ms <= *b)
        .unwrap_or(LATENCY_BOUNDS_MS.len())
}

/// A status code: integral, -1 ..= 999; `Err` when present but out of range.
fn status(v: Option<f64>) -> Result<Option<i32>, ()> {
    match v {
        None => Ok(None),
        Some(s) if s.is_finite() && s.fract() == 0.0 && (-1.0..=999.0).contains(&s) => {
            Ok(Some(s as i32))
        }
        Some(_) => Err(()),
    }
}

/// Items and counts of a delivery's entries, at `now_ms` (Unix ms).
pub fn plan(entries: &[Entry<'_>], rules: &Rules<'_>, now_ms: i64) -> Plan {
    let mut p = Plan::default();
    let mut seen: HashSet<(i64, i64)> = HashSet::with_capacity(entries.len());
    for e in entries {
        let before = p.items.len();
        let outcome = entry(e, rules, now_ms, &mut p.items);
        // Drop what this delivery already holds: the same request in several entries.
        let mut i = before;
        while i < p.items.len() {
            let it = &p.items[i];
            if seen.insert((it.minute, it.key)) {
                i += 1;
            } else {
                if matches!(it.what, What::Request { .. }) {
                    p.repeats += 1;
                }
                p.items.remove(i);
            }
        }
        let c = &mut p.entries;
        match outcome {
            Outcome::Used => c.used += 1,
            Outcome::Ignored => c.ignored += 1,
            Outcome::Late => c.late += 1,
            Outcome::Future => c.future += 1,
            Outcome::Invalid => c.invalid += 1,
        }
    }
    p
}

/// Whether the rules keep an entry at all: no build logs, only the configured environments
/// and projects.
fn selected(e: &Entry<'_>, rules: &Rules<'_>) -> bool {
    if e.source.as_deref() == Some("build") {
        return false;
    }
    if let Some(env) = e.environment.as_deref()
        && !rules.environments.iter().any(|x| x == env)
    {
        return false;
    }
    if rules.projects.is_empty() {
        return true;
    }
    let named = |v: &Option<std::borrow::Cow<'_, str>>| {
        v.as_deref()
            .is_some_and(|v| rules.projects.iter().any(|p| p == v))
    };
    named(&e.project_id) || named(&e.project_name)
}

/// The request's path, without query or fragment, always starting with `/`.
fn request_path<'a>(e: &'a Entry<'_>) -> Option<std::borrow::Cow<'a, str>> {
    match e.proxy.as_ref().and_then(|p| p.path.as_deref()) {
        Some(p) => Some(p.split(['?', '#']).next().unwrap_or("").into()),
        None => e.path.as_deref().map(|p| {
            if p.starts_with('/') {
                p.into()
            } else {
                format!("/{p}").into()
            }
        }),
    }
}

/// The entry's time in whole milliseconds, when it is a sane time inside the window.
fn entry_time(e: &Entry<'_>, rules: &Rules<'_>, now_ms: i64) -> Result<i64, Outcome> {
    let ts = e
        .proxy
        .as_ref()
        .and_then(|p| p.timestamp)
        .or(e.timestamp)
        .ok_or(Outcome::Invalid)?;
    if !(ts.is_finite() && ts > 0.0 && ts < MAX_TIMESTAMP_MS) {
        return Err(Outcome::Invalid);
    }
    let ts = ts.floor() as i64;
    if ts < now_ms.saturating_sub(rules.window_ms) {
        return Err(Outcome::Late);
    }
    if ts > now_ms.saturating_add(FUTURE_SLACK_MS) {
        return Err(Outcome::Future);
    }
    Ok(ts)
}

fn entry(e: &Entry<'_>, rules: &Rules<'_>, now_ms: i64, out: &mut Vec<Item>) -> Outcome {
    if !selected(e, rules) {
        return Outcome::Ignored;
    }
    let duration = e.message.and_then(|m| report_duration_ms(m.get()));
    if e.proxy.is_none() && duration.is_none() {
        return Outcome::Ignored;
    }
    let proxy = e.proxy.as_ref();
    let Some(id) = e
        .request_id
        .as_deref()
        .or(proxy.and_then(|p| p.vercel_id.as_deref()))
        .or(e.id.as_deref())
        .filter(|id| !id.is_empty() && id.len() <= MAX_ID_LEN)
    else {
        return Outcome::Invalid;
    };
    let ts = match entry_time(e, rules, now_ms) {
        Ok(ts) => ts,
        Err(o) => return o,
    };
    let minute = ts.div_euclid(60_000);
    let (Ok(proxy_status), Ok(entry_status)) = (
        status(proxy.and_then(|p| p.status_code)),
        status(e.status_code),
    ) else {
        return Outcome::Invalid;
    };
    // Background revalidation is not a client's request.
    if proxy_status == Some(-1) {
        return Outcome::Ignored;
    }
    let path = request_path(e);
    let api = path.as_deref().is_some_and(|p| rules.is_api(p));
    let duration = match duration {
        Some(d) if d.is_finite() && (0.0..=MAX_DURATION_MS).contains(&d) => Some(d),
        Some(_) => return Outcome::Invalid,
        None => None,
    };
    let cron = match (proxy, rules.sync_job_path) {
        (Some(p), Some(job)) if p.user_agent.0 && path.as_deref() == Some(job) => Some(CronRun {
            key: key(b'r', id),
            started_ms: ts,
            status: proxy_status.or(entry_status),
            duration_ms: None,
        }),
        _ => None,
    };
    if let Some(p) = proxy {
        let bytes = match p.response_byte_size {
            None => 0,
            Some(b) if b.is_finite() && (0.0..=MAX_RESPONSE_BYTES).contains(&b) => b as u64,
            Some(_) => return Outcome::Invalid,
        };
        let error = proxy_status.is_some_and(|s| s >= 500)
            || entry_status == Some(-1)
            || (proxy_status.is_none() && entry_status.is_some_and(|s| s >= 500));
        out.push(Item {
            minute,
            key: key(b'r', id),
            what: What::Request { api, error, bytes },
            cron,
        });
    }
    if let Some(d) = duration {
        out.push(Item {
            minute,
            key: key(b'd', id),
            what: What::Duration {
                api,
                bucket: bucket(d),
            },
            cron: cron.map(|c| CronRun {
                status: None,
                duration_ms: Some(d),
                ..c
            }),
        });
    }
    Outcome::Used
}

/// One minute's sums, in the columns of `launchguard.vercel_traffic_minutely`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MinuteRow {
    pub requests: u64,
    pub errors: u64,
    pub bytes_out: u64,
    /// Non-cumulative, `LATENCY_BOUNDS_MS` then above.
    pub latency: [u64; 7],
}

impl MinuteRow {
    pub fn is_zero(&self) -> bool {
        *self == MinuteRow::default()
    }
}

/// What the new items of a delivery add.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Folded {
    /// By Unix minute.
    pub minutes: BTreeMap<i64, MinuteRow>,
    /// By request key.
    pub cron: BTreeMap<i64, CronRun>,
    /// Requests counted now / already counted before (by a retry, another entry, a replica).
    pub counted: u64,
    pub duplicates: u64,
}

/// Sums the items whose key `is_new` (by index into `items`).
pub fn fold(items: &[Item], is_new: impl Fn(usize) -> bool) -> Folded {
    let mut f = Folded::default();
    for (i, it) in items.iter().enumerate() {
        let new = is_new(i);
        match it.what {
            What::Request { api, error, bytes } => {
                if !new {
                    f.duplicates += 1;
                    continue;
                }
                f.counted += 1;
                let row = f.minutes.entry(it.minute).or_default();
                if api {
                    row.requests = row.requests.saturating_add(1);
                    if error {
                        row.errors = row.errors.saturating_add(1);
                    }
                }
                row.bytes_out = row.bytes_out.saturating_add(bytes);
            }
            What::Duration { api, bucket } => {
                if !new {
                    continue;
                }
                if api {
                    let row = f.minutes.entry(it.minute).or_default();
                    row.latency[bucket] = row.latency[bucket].saturating_add(1);
                }
            }
        }
        if let Some(c) = it.cron {
            let run = f.cron.entry(c.key).or_insert(c);
            run.status = run.status.or(c.status);
            run.duration_ms = run.duration_ms.or(c.duration_ms);
        }
    }
    f.minutes.retain(|_, r| !r.is_zero());
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::vercel::body::parse;

    const NOW: i64 = 1_796_041_200_000; // a minute boundary

    fn cfg() -> VercelDrain {
        VercelDrain {
            sync_job_path: Some("/api/cron/sync".into()),
            ..VercelDrain::default()
        }
    }

    fn req(id: &str, ts: i64, path: &str, status: i64, bytes: u64) -> String {
        format!(
            r#"{{"id":"e-{id}-{ts}","source":"lambda","timestamp":{ts},"environment":"production","requestId":"{id}","proxy":{{"timestamp":{ts},"method":"GET","path":"{path}","userAgent":["Mozilla/5.0"],"statusCode":{status},"responseByteSize":{bytes}}}}}"#
        )
    }

    fn plan_of(body: &str, c: &VercelDrain) -> Plan {
        plan(&parse(body.as_bytes()).unwrap(), &Rules::new(c), NOW)
    }

    #[test]
    fn counts_each_request_once_and_sums_minutes() {
        let t = NOW - 120_000; // two minutes ago
        let body = format!(
            "[{},{},{},{},{}]",
            req("a", t, "/api/render?x=1", 200, 100),
            req("a", t, "/api/render?x=1", 200, 100), // a second log line of request a
            req("b", t + 5_000, "/api/render", 503, 50),
            req("c", t + 61_000, "/_next/static/app.js", 200, 48_000),
            req("d", t + 61_000, "/api/x", 500, 10),
        );
        let c = cfg();
        let p = plan_of(&body, &c);
        assert_eq!(p.entries.used, 5);
        assert_eq!(p.repeats, 1);
        assert_eq!(p.items.len(), 4);
        let f = fold(&p.items, |_| true);
        let m0 = t.div_euclid(60_000);
        assert_eq!(
            f.minutes[&m0],
            MinuteRow {
                requests: 2,
                errors: 1,
                bytes_out: 150,
                latency: [0; 7]
            }
        );
        // The static asset counts in bytes only; the API 500 in requests and errors.
        assert_eq!(
            f.minutes[&(m0 + 1)],
            MinuteRow {
                requests: 1,
                errors: 1,
                bytes_out: 48_010,
                latency: [0; 7]
            }
        );
        assert_eq!((f.counted, f.duplicates), (4, 0));
        // The same items again (a retried delivery): nothing new is added.
        let again = fold(&p.items, |_| false);
        assert!(again.minutes.is_empty());
        assert_eq!((again.counted, again.duplicates), (0, 4));
    }

    #[test]
    fn durations_come_from_report_lines_and_fill_the_buckets() {
        let t = NOW - 30_000;
        let report = |id: &str, ms: &str| {
            format!(
                r#"{{"id":"r-{id}","source":"lambda","timestamp":{t},"requestId":"{id}","message":"REPORT RequestId: {id}\tDuration: {ms} ms\tBilled Duration: 9 ms","proxy":{{"timestamp":{t},"path":"/api/a","statusCode":200}}}}"#
            )
        };
        let body = [
            report("a", "100.0"),
            report("b", "100.01"),
            report("c", "7000"),
            // No proxy: the path comes from the entry, without a leading slash.
            format!(
                r#"{{"id":"r-d","timestamp":{t},"requestId":"d","path":"api/hello","message":"REPORT RequestId: d\tDuration: 300 ms"}}"#
            ),
        ]
        .join("\n");
        let c = cfg();
        let p = plan_of(&body, &c);
        let f = fold(&p.items, |_| true);
        let row = f.minutes[&t.div_euclid(60_000)];
        assert_eq!(row.requests, 3, "d has no proxy: a duration, not a request");
        assert_eq!(row.latency, [1, 1, 1, 0, 0, 0, 1]);
        assert_eq!(
            crate::core::latency::quantile(0.5, &crate::core::latency::BUCKET_BOUNDS, &row.latency),
            Some(0.25)
        );
    }

    #[test]
    fn filters_windows_and_bad_numbers() {
        let c = VercelDrain {
            projects: vec!["studio".into()],
            ..cfg()
        };
        let ok = |extra: &str| {
            format!(
                r#"{{"id":"x","requestId":"x","projectName":"studio","timestamp":{},{extra}"proxy":{{"timestamp":{},"path":"/api/a","statusCode":200}}}}"#,
                NOW - 1000,
                NOW - 1000
            )
        };
        let count = |body: String| plan_of(&body, &c).entries;
        assert_eq!(count(ok("")).used, 1);
        assert_eq!(count(ok(r#""environment":"preview","#)).ignored, 1);
        assert_eq!(count(ok(r#""source":"build","#)).ignored, 1);
        let other_project = ok("").replace("studio", "blog");
        assert_eq!(count(other_project).ignored, 1);
        assert_eq!(count(ok(r#""statusCode":12.5,"#)).invalid, 1);
        let revalidation = format!(
            r#"{{"requestId":"y","projectName":"studio","proxy":{{"timestamp":{NOW},"statusCode":-1}}}}"#
        );
        assert_eq!(count(revalidation).ignored, 1);
        let c2 = cfg();
        let entries = |b: &str| plan(&parse(b.as_bytes()).unwrap(), &Rules::new(&c2), NOW).entries;
        let at = |ts: i64| {
            format!(r#"{{"requestId":"z","proxy":{{"timestamp":{ts},"path":"/api/a"}}}}"#)
        };
        assert_eq!(entries(&at(NOW - 25 * 3600 * 1000)).late, 1);
        assert_eq!(entries(&at(NOW + 6 * 60_000)).future, 1);
        assert_eq!(entries(&at(NOW + 4 * 60_000)).used, 1);
        assert_eq!(entries(r#"{"proxy":{"timestamp":1}}"#).invalid, 1);
        assert_eq!(
            entries(r#"{"requestId":"q","proxy":{"path":"/"}}"#).invalid,
            1
        );
        let neg =
            format!(r#"{{"requestId":"q","proxy":{{"timestamp":{NOW},"responseByteSize":-5}}}}"#);
        assert_eq!(entries(&neg).invalid, 1);
        assert_eq!(entries(r#"{"id":"1","message":"hello"}"#).ignored, 1);
    }

    #[test]
    fn crashes_are_errors_and_cron_runs_of_the_sync_job_are_kept() {
        let t = NOW - 10_000;
        let body = [
            format!(
                r#"{{"requestId":"k","timestamp":{t},"statusCode":-1,"proxy":{{"timestamp":{t},"path":"/api/a"}}}}"#
            ),
            format!(
                r#"{{"requestId":"cron1","proxy":{{"timestamp":{t},"path":"/api/cron/sync","userAgent":["vercel-cron/1.0"],"statusCode":500}}}}"#
            ),
            format!(
                r#"{{"requestId":"cron1","message":"REPORT RequestId: cron1 Duration: 1500 ms","proxy":{{"timestamp":{t},"path":"/api/cron/sync","userAgent":["vercel-cron/1.0"],"statusCode":500}}}}"#
            ),
            // The same path called by a browser is not a cron run.
            format!(
                r#"{{"requestId":"manual","proxy":{{"timestamp":{t},"path":"/api/cron/sync","userAgent":["curl/8"],"statusCode":200}}}}"#
            ),
        ]
        .join("\n");
        let c = cfg();
        let p = plan_of(&body, &c);
        let f = fold(&p.items, |_| true);
        let row = f.minutes[&t.div_euclid(60_000)];
        assert_eq!((row.requests, row.errors), (3, 2));
        assert_eq!(row.latency[4], 1);
        assert_eq!(f.cron.len(), 1);
        let run = f.cron[&key(b'r', "cron1")];
        assert_eq!(
            (run.started_ms, run.status, run.duration_ms),
            (t, Some(500), Some(1500.0))
        );
    }

    #[test]
    fn keys_are_stable_and_distinct() {
        assert_eq!(key(b'r', "a"), key(b'r', "a"));
        assert_ne!(key(b'r', "a"), key(b'd', "a"));
        assert_ne!(key(b'r', "a"), key(b'r', "b"));
        assert_eq!(bucket(0.0), 0);
        assert_eq!(bucket(5000.0), 5);
        assert_eq!(bucket(5000.5), 6);
    }
}
