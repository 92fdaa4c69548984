//! The one HTTP client of the provider sources: a per-request timeout, a cap on the body read
//! while it streams, retries with exponential backoff and jitter on 429, 5xx and failed
//! connections (honouring Retry-After), and errors sorted into stable reason codes with
//! messages that never carry a key.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};

use crate::config::{ProviderConfig, Secret};
use crate::sources::SourceError;

/// Stable reason codes (the `reason` label of `launchguard_source_errors_total`).
pub mod reason {
    /// The key was refused (401 or 403).
    pub const AUTH: &str = "auth";
    /// Still 429 after every retry, or asked to wait longer than `max_backoff`.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// Any other unexpected status (5xx after every retry, 404, ...).
    pub const HTTP_STATUS: &str = "http_status";
    pub const TIMEOUT: &str = "timeout";
    pub const TOO_LARGE: &str = "too_large";
    pub const PARSE: &str = "parse";
    /// Too many pages, a repeated cursor, or `has_more` without a cursor.
    pub const PAGINATION: &str = "pagination";
    pub const CONNECT: &str = "connect";
    /// No key, an unreadable key file, or a client that cannot be built.
    pub const CONFIG: &str = "config";
}

/// The limits of one provider's requests, from its config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub timeout: Duration,
    pub max_bytes: u64,
    pub retries: u32,
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Limits {
    pub fn from_config(c: &ProviderConfig) -> Self {
        Limits {
            timeout: c.timeout.0,
            max_bytes: c.max_response_bytes,
            retries: c.retries,
            backoff: c.backoff.0,
            max_backoff: c.max_backoff.0,
        }
    }
}

/// A client bound to one provider's limits and keys (the keys only to redact them).
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    limits: Limits,
    secrets: Vec<Secret>,
}

/// The process-wide reqwest client (rustls, gzip): building one loads the system's root
/// certificates, so every source and every `check` shares it (and its connection pools).
pub fn client() -> Result<reqwest::Client, SourceError> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c.clone());
    }
    let c = build_client()?;
    Ok(CLIENT.get_or_init(|| c).clone())
}

fn build_client() -> Result<reqwest::Client, SourceError> {
    reqwest::Client::builder()
        .user_agent(concat!(
            "launchguard/",
            env!("CARGO_PKG_VERSION"),
            " (usage exporter)"
        ))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| SourceError::new(reason::CONFIG, format!("cannot build the HTTP client: {e}")))
}

/// A header holding a key: marked sensitive so no Debug output of reqwest shows it.
pub fn secret_header(
    name: &'static str,
    value: &str,
) -> Result<(HeaderName, HeaderValue), SourceError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        SourceError::new(
            reason::CONFIG,
            "the key holds characters that cannot be sent in an HTTP header",
        )
    })?;
    v.set_sensitive(true);
    Ok((HeaderName::from_static(name), v))
}

impl Http {
    pub fn new(client: reqwest::Client, limits: Limits, secrets: Vec<Secret>) -> Self {
        Http {
            client,
            limits,
            secrets,
        }
    }

    /// GETs `url` and returns its body, after retries. `what` names the endpoint in errors.
    pub async fn get(
        &self,
        url: &reqwest::Url,
        headers: &HeaderMap,
        what: &str,
    ) -> Result<Bytes, SourceError> {
        let mut attempt: u32 = 0;
        loop {
            let (error, after) = match self.attempt(url, headers, what).await {
                Attempt::Done(b) => return Ok(b),
                Attempt::Fatal(e) => return Err(self.redact(e)),
                Attempt::Retry { error, after } => (self.redact(error), after.flatten()),
            };
            if attempt >= self.limits.retries {
                let mut e = error;
                if attempt > 0 {
                    e.message = format!("{} (after {} attempts)", e.message, attempt + 1);
                }
                return Err(e);
            }
            let wait = match after {
                Some(w) if w > self.limits.max_backoff => {
                    let mut e = error;
                    e.message = format!(
                        "{}; it asked to wait {}s, longer than max_backoff ({}s)",
                        e.message,
                        w.as_secs(),
                        self.limits.max_backoff.as_secs()
                    );
                    return Err(e);
                }
                Some(w) => w,
                None => backoff(
                    self.limits.backoff,
                    self.limits.max_backoff,
                    attempt,
                    random(),
                ),
            };
            tracing::debug!(
                %what,
                attempt,
                wait_ms = wait.as_millis() as u64,
                reason = error.reason,
                "retrying a provider request"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, url: &reqwest::Url, headers: &HeaderMap, what: &str) -> Attempt {
        let host = host_of(url);
        let limits = self.limits;
        let fut = async {
            let resp = self
                .client
                .get(url.clone())
                .headers(headers.clone())
                .send()
                .await;
            let mut resp = match resp {
                Ok(r) => r,
                Err(e) => {
                    return Attempt::Retry {
                        error: SourceError::new(
                            reason::CONNECT,
                            format!("cannot reach {host}: {}", plain(&e.without_url())),
                        ),
                        after: None,
                    };
                }
            };
            let status = resp.status();
            let after = retry_after(resp.headers(), Utc::now());
            if resp.content_length().is_some_and(|n| n > limits.max_bytes) {
                return Attempt::Fatal(too_large(what, limits.max_bytes));
            }
            let mut body = BytesMut::new();
            loop {
                match resp.chunk().await {
                    Ok(Some(c)) => {
                        if body.len() as u64 + c.len() as u64 > limits.max_bytes {
                            return Attempt::Fatal(too_large(what, limits.max_bytes));
                        }
                        body.extend_from_slice(&c);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        return Attempt::Retry {
                            error: SourceError::new(
                                reason::CONNECT,
                                format!(
                                    "the answer of {what} from {host} broke off: {}",
                                    plain(&e.without_url())
                                ),
                            ),
                            after: None,
                        };
                    }
                }
            }
            let body = body.freeze();
            if status.is_success() {
                return Attempt::Done(body);
            }
            refused(status, &body, &host, what, after)
        };
        match tokio::time::timeout(limits.timeout, fut).await {
            Ok(a) => a,
            // A provider that is this slow stays slow for a while: no retry, the next poll
            // tries again.
            Err(_) => Attempt::Fatal(SourceError::new(
                reason::TIMEOUT,
                format!(
                    "{host} did not answer {what} within {}",
                    humantime::format_duration(limits.timeout)
                ),
            )),
        }
    }

    /// Removes every configured key from a message, whatever the provider echoed back.
    fn redact(&self, mut e: SourceError) -> SourceError {
        e.message = redact(&e.message, &self.secrets);
        e
    }
}

/// What a provider's non-2xx answer means: a refused key and other 4xx are fatal for this
/// poll; 429 and 5xx are retried after the Retry-After the provider asked for.
fn refused(
    status: StatusCode,
    body: &[u8],
    host: &str,
    what: &str,
    after: Option<Duration>,
) -> Attempt {
    let detail = provider_message(body);
    let msg = |lead: String| match &detail {
        Some(d) => format!("{lead}: {d}"),
        None => lead,
    };
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Attempt::Fatal(SourceError::new(
            reason::AUTH,
            msg(format!(
                "{host} refused the key for {what} (HTTP {})",
                status.as_u16()
            )),
        )),
        StatusCode::TOO_MANY_REQUESTS => Attempt::Retry {
            error: SourceError::new(
                reason::RATE_LIMITED,
                msg(format!("{host} rate-limited {what} (HTTP 429)")),
            ),
            after: Some(after),
        },
        s if s.is_server_error() => Attempt::Retry {
            error: SourceError::new(
                reason::HTTP_STATUS,
                msg(format!("{host} failed {what} (HTTP {})", s.as_u16())),
            ),
            after: Some(after),
        },
        s => Attempt::Fatal(SourceError::new(
            reason::HTTP_STATUS,
            msg(format!("{host} answered {what} with HTTP {}", s.as_u16())),
        )),
    }
}

enum Attempt {
    Done(Bytes),
    Fatal(SourceError),
    /// `after`: None for a transport failure; Some(Retry-After, if any) for a status.
    Retry {
        error: SourceError,
        after: Option<Option<Duration>>,
    },
}

fn too_large(what: &str, max: u64) -> SourceError {
    SourceError::new(
        reason::TOO_LARGE,
        format!("the answer of {what} is larger than max_response_bytes ({max} bytes)"),
    )
}

fn host_of(url: &reqwest::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => "the provider".into(),
    }
}

/// A reqwest error with its causes, which say what actually failed (refused, DNS, TLS).
fn plain(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        let c_s = c.to_string();
        if !s.contains(&c_s) {
            s = format!("{s}: {c_s}");
        }
        src = c.source();
    }
    s
}

/// The provider's own error text (`error.message`, `message`, `detail`), shortened.
fn provider_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let pick = |v: &serde_json::Value| -> Option<String> {
        match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Object(o) => o
                .get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string),
            _ => None,
        }
    };
    let text = v
        .get("error")
        .and_then(pick)
        .or_else(|| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .or_else(|| v.get("detail").and_then(pick))?;
    let text: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
    (!text.trim().is_empty()).then_some(text)
}

/// Replaces each secret, and any word that looks like a provider key, by `[redacted]`.
pub fn redact(text: &str, secrets: &[Secret]) -> String {
    let mut s = text.to_string();
    for k in secrets {
        let k = k.expose();
        if !k.is_empty() {
            s = s.replace(k, "[redacted]");
        }
    }
    // Providers echo keys in part ("Incorrect API key provided: sk-proj-****abcd").
    s.split(' ')
        .map(|w| {
            let bare = w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_');
            if bare.starts_with("sk-") || bare.starts_with("sk_") || bare.starts_with("xi-") {
                w.replace(bare, "[redacted]")
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Retry-After as seconds or an HTTP date, relative to `now`; None when absent or unreadable.
pub fn retry_after(h: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let v = h.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// Backoff before retry `attempt` (0-based): half of min(cap, base x 2^attempt) plus a random
/// part of the other half ("equal jitter"), so retries spread out but never hammer.
pub fn backoff(base: Duration, cap: Duration, attempt: u32, random: u64) -> Duration {
    let exp = base
        .checked_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
        .unwrap_or(cap)
        .min(cap);
    let half = exp / 2;
    let span = (exp - half).as_nanos() as u64;
    let jitter = if span == 0 { 0 } else { random % (span + 1) };
    half + Duration::from_nanos(jitter)
}

/// A random number from the standard library's per-process random hash keys.
fn random() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now: DateTime<Utc> = "2026-11-26T12:00:00Z".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Thu, 26 Nov 2026 12:00:30 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(30)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Thu, 26 Nov 2026 11:00:00 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
    }

    #[test]
    fn backoff_doubles_is_capped_and_jittered() {
        let b = Duration::from_millis(100);
        let cap = Duration::from_secs(1);
        assert_eq!(backoff(b, cap, 0, 0), Duration::from_millis(50));
        assert_eq!(
            backoff(b, cap, 0, u64::MAX),
            Duration::from_millis(50) + Duration::from_nanos(u64::MAX % 50_000_001)
        );
        assert_eq!(backoff(b, cap, 2, 0), Duration::from_millis(200));
        assert!(backoff(b, cap, 2, 123_456_789) <= Duration::from_millis(400));
        assert_eq!(backoff(b, cap, 10, 0), Duration::from_millis(500));
        assert_eq!(backoff(b, cap, 40, 0), Duration::from_millis(500));
        for r in [0, 1, 77, u64::MAX] {
            assert!(backoff(b, cap, 30, r) <= cap);
        }
    }

    #[test]
    fn redaction_removes_keys_and_key_like_words() {
        let s = vec![Secret::new("sk-ant-admin01-SECRET").unwrap()];
        let out = redact(
            "bad key sk-ant-admin01-SECRET; Incorrect API key provided: sk-proj-****abcd.",
            &s,
        );
        assert!(!out.contains("SECRET") && !out.contains("abcd"), "{out}");
        assert!(
            out.contains("Incorrect API key provided: [redacted]."),
            "{out}"
        );
    }

    #[test]
    fn provider_messages_are_read_from_the_usual_shapes() {
        assert_eq!(
            provider_message(br#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#),
            Some("invalid x-api-key".into())
        );
        assert_eq!(
            provider_message(br#"{"detail":{"status":"invalid_api_key","message":"Invalid"}}"#),
            Some("Invalid".into())
        );
        assert_eq!(
            provider_message(br#"{"error":"nope"}"#),
            Some("nope".into())
        );
        assert_eq!(provider_message(b"<html>"), None);
    }
}
