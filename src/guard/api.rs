//! `POST /api/v1/guard/admit` and `POST /api/v1/guard/settle`. Callers authenticate with the
//! caller token (`Callers`). Requests are validated strictly: malformed JSON, unknown fields or
//! kinds, negative or out-of-bounds numbers (`core::bounded`) and bodies past
//! `guard.body_limit_bytes` get a 400 with a reason that names the field; nothing panics.
//! The parsers are pure functions of the body, so fuzzers can drive them.

use std::borrow::Cow;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::reservations::Settle;
use super::wire::{MAX_NAME, NameError, check_name, check_token, closing, error};
use super::{Callers, Guard};
use crate::core::bounded;
use crate::policy::{GuardScope, Kind, Request, Usage};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UsageBody {
    input_tokens: Option<serde_json::Number>,
    output_tokens: Option<serde_json::Number>,
    cache_read_tokens: Option<serde_json::Number>,
    cache_write_tokens: Option<serde_json::Number>,
    characters: Option<serde_json::Number>,
    requests: Option<serde_json::Number>,
    cost_usd: Option<serde_json::Value>,
}

/// Borrowed from the body where it holds no escapes: the names are copied once, into the
/// `Request`, and the kind not at all.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdmitBody<'a> {
    #[serde(borrow)]
    client_id: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    provider: Option<Cow<'a, str>>,
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    estimate: Option<UsageBody>,
    #[serde(default)]
    new_client: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettleBody {
    reservation_id: String,
    #[serde(default)]
    usage: Option<UsageBody>,
}

/// Why an admit or settle body is refused: the 400's reason, which names the field.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the body is empty: send a JSON object")]
    Empty,
    /// Not JSON, an unknown field, a wrong type (serde's words, with line and column).
    #[error("invalid request: {0}")]
    Json(#[source] serde_json::Error),
    #[error(transparent)]
    Name(#[from] NameError),
    /// The kind sent, cut to `MAX_NAME` characters.
    #[error("unknown kind `{0}`: expected one of ai, visual, job, api")]
    UnknownKind(String),
    #[error("an `ai` request needs `provider`")]
    NoProvider,
    #[error(transparent)]
    Number(#[from] bounded::NumberError),
    #[error("`{field}` must not be negative (got {got})")]
    Negative { field: String, got: String },
    #[error("`{field}` must be at most {max} (got {got})", max = bounded::MAX_COUNT)]
    TooLarge { field: String, got: String },
    #[error("`{field}` must be a whole number (got {got})")]
    NotWhole { field: String, got: String },
}

/// A count: a whole JSON number (`1200`, or `1.2e3`) within `bounded::MAX_COUNT`; the error
/// names the field (`prefix.name`, spelled out only for an error).
fn count(
    prefix: &str,
    name: &str,
    v: Option<serde_json::Number>,
) -> Result<Option<u64>, BodyError> {
    let Some(n) = v else { return Ok(None) };
    if let Some(u) = n.as_u64().filter(|u| *u <= bounded::MAX_COUNT) {
        return Ok(Some(u));
    }
    let field = format!("{prefix}.{name}");
    if let Some(i) = n.as_i64() {
        return Ok(Some(bounded::parse_count(&field, i)?));
    }
    let got = n.to_string();
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e18 => {
            Ok(Some(bounded::parse_count(&field, f as i64)?))
        }
        Some(f) if f.fract() == 0.0 || f.is_infinite() => Err(if f < 0.0 {
            BodyError::Negative { field, got }
        } else {
            BodyError::TooLarge { field, got }
        }),
        _ => Err(BodyError::NotWhole { field, got }),
    }
}

fn usage(prefix: &str, b: UsageBody) -> Result<Usage, BodyError> {
    let cost_usd: Option<Decimal> = match b.cost_usd {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(bounded::parse_usd(&format!("{prefix}.cost_usd"), &v)?),
    };
    let c = |name, v| count(prefix, name, v);
    Ok(Usage {
        input_tokens: c("input_tokens", b.input_tokens)?.unwrap_or(0),
        output_tokens: c("output_tokens", b.output_tokens)?,
        cache_read_tokens: c("cache_read_tokens", b.cache_read_tokens)?.unwrap_or(0),
        cache_write_tokens: c("cache_write_tokens", b.cache_write_tokens)?.unwrap_or(0),
        characters: c("characters", b.characters)?.unwrap_or(0),
        requests: c("requests", b.requests)?.unwrap_or(0),
        cost_usd,
    })
}

fn json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, BodyError> {
    serde_json::from_slice(body).map_err(|e| {
        if e.is_eof() && body.iter().all(u8::is_ascii_whitespace) {
            BodyError::Empty
        } else {
            BodyError::Json(e)
        }
    })
}

/// Parses and validates an admit body.
pub fn parse_admit(body: &[u8]) -> Result<Request, BodyError> {
    let b: AdmitBody = json(body)?;
    check_name("client_id", &b.client_id, true)?;
    let kind = Kind::parse(&b.kind)
        .ok_or_else(|| BodyError::UnknownKind(b.kind.chars().take(MAX_NAME).collect()))?;
    for (what, v) in [("provider", &b.provider), ("model", &b.model)] {
        if let Some(v) = v {
            check_name(what, v, false)?;
        }
    }
    if kind == Kind::Ai && b.provider.is_none() {
        return Err(BodyError::NoProvider);
    }
    Ok(Request {
        client_id: b.client_id.into_owned(),
        kind,
        provider: b.provider.map(Cow::into_owned),
        model: b.model.map(Cow::into_owned),
        estimate: usage("estimate", b.estimate.unwrap_or_default())?,
        new_client: b.new_client,
    })
}

/// A validated settle: the reservation and its actual usage (none: it did not happen).
#[derive(Debug, Clone, PartialEq)]
pub struct SettleRequest {
    pub reservation_id: String,
    pub usage: Usage,
}

pub fn parse_settle(body: &[u8]) -> Result<SettleRequest, BodyError> {
    let b: SettleBody = json(body)?;
    check_name("reservation_id", &b.reservation_id, true)?;
    let mut u = usage("usage", b.usage.unwrap_or_default())?;
    u.output_tokens = Some(u.output_tokens.unwrap_or(0));
    Ok(SettleRequest {
        reservation_id: b.reservation_id,
        usage: u,
    })
}

/// The answer, serialised straight into the body (amounts as decimal strings).
#[derive(Serialize)]
struct AdmitReply<'a> {
    decision: &'static str,
    reason: &'static str,
    scope: Option<&'static str>,
    retry_after_seconds: Option<u64>,
    reservation_id: Option<&'a str>,
    #[serde(serialize_with = "nanos_usd")]
    estimated_cost_usd: i64,
    message: &'a str,
}

/// The settle answer; its keys in the order the earlier `json!` map wrote them (sorted).
#[derive(Serialize)]
struct SettleReply<'a> {
    #[serde(serialize_with = "nanos_usd")]
    actual_cost_usd: i64,
    kind: &'static str,
    reservation_id: &'a str,
    #[serde(serialize_with = "nanos_usd")]
    reserved_cost_usd: i64,
    settled: bool,
}

/// Nano-dollars as the decimal string of dollars, written without an intermediate `String`.
fn nanos_usd<S: serde::Serializer>(nanos: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&bounded::from_nanos(*nanos))
}

/// A JSON body; the buffer starts large enough for any answer of admit or settle.
fn body_of(v: &impl Serialize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(256);
    // Serialising these structs cannot fail (no maps with non-string keys, no I/O).
    let _ = serde_json::to_writer(&mut buf, v);
    buf
}

pub fn router(g: Arc<Guard>) -> Router {
    Router::new()
        .route("/api/v1/guard/admit", post(admit))
        .route("/api/v1/guard/settle", post(settle))
        .with_state(g)
}

async fn read(g: &Guard, body: Body) -> Result<axum::body::Bytes, Response> {
    let limit = g.body_limit();
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        closing(error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("the body is larger than {limit} bytes (guard.body_limit_bytes)"),
        ))
    })
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The header that carries the caller token when `Authorization` holds basic-auth credentials.
pub const CALLER_TOKEN_HEADER: &str = "x-launchguard-caller-token";

/// None when the caller may call; otherwise the 401 to send, before the body is read (so it
/// closes the connection). Reads the callers in place (no copy of the token per request).
fn authorize(g: &Guard, headers: &HeaderMap) -> Option<Response> {
    let refused = g.with_callers(|c| match c {
        Callers::Token(t) => check_token(
            headers,
            t.expose(),
            CALLER_TOKEN_HEADER,
            "X-Launchguard-Caller-Token",
            "caller",
        ),
        Callers::Loopback => None,
        Callers::Disabled(why) => {
            let why = format!("admit and settle are disabled: {why}");
            Some(error(StatusCode::UNAUTHORIZED, "unauthorized", why))
        }
    });
    refused.map(closing)
}

async fn admit(State(g): State<Arc<Guard>>, headers: HeaderMap, body: Body) -> Response {
    if let Some(r) = authorize(&g, &headers) {
        return r;
    }
    let bytes = match read(&g, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let req = match parse_admit(&bytes) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", e.to_string()),
    };
    let answer = match g.admit(&req, Utc::now()).await {
        Ok(a) => a,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", e.to_string()),
    };
    let v = &answer.verdict;
    let d = v.decision();
    let reply = AdmitReply {
        decision: d.as_str(),
        reason: v.reason.code(),
        scope: v.scope.map(GuardScope::as_str),
        retry_after_seconds: v.retry_after,
        reservation_id: answer.reservation_id.as_deref(),
        estimated_cost_usd: answer.amounts.cost_nano,
        message: &v.message,
    };
    let status = StatusCode::from_u16(d.status()).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
    let mut resp = json_response(status, body_of(&reply));
    if let Some(s) = v.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    resp
}

async fn settle(State(g): State<Arc<Guard>>, headers: HeaderMap, body: Body) -> Response {
    if let Some(r) = authorize(&g, &headers) {
        return r;
    }
    let bytes = match read(&g, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let req = match parse_settle(&bytes) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", e.to_string()),
    };
    match g.settle(&req.reservation_id, &req.usage, Utc::now()).await {
        Ok(Settle::Done(s)) => {
            let reply = SettleReply {
                actual_cost_usd: s.actual.cost_nano,
                kind: s.kind.as_str(),
                reservation_id: &req.reservation_id,
                reserved_cost_usd: s.reserved.cost_nano,
                settled: true,
            };
            json_response(StatusCode::OK, body_of(&reply))
        }
        Ok(Settle::Refused(why)) => error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!(
                "{why}; the reservation is kept (settle again with the real usage, or it expires)"
            ),
        ),
        Ok(Settle::Unknown) => error(
            StatusCode::NOT_FOUND,
            "unknown_reservation",
            "no such reservation: it expired (guard.reservation_ttl) or was already settled; the ledger counts the usage at the next collection",
        ),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            format!("the reservation store is unavailable: {e}; the reservation expires by itself"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_admit() {
        let r = parse_admit(
            br#"{"client_id":"c-1","kind":"ai","provider":"anthropic","model":"claude-sonnet-4-5",
                 "estimate":{"input_tokens":1200,"output_tokens":800,"cost_usd":"0.02"},"new_client":true}"#,
        )
        .unwrap();
        assert_eq!(r.kind, Kind::Ai);
        assert_eq!(r.estimate.output_tokens, Some(800));
        assert_eq!(r.estimate.cost_usd, Some(Decimal::new(2, 2)));
        assert!(r.new_client);
        let r = parse_admit(br#"{"client_id":"c","kind":"api"}"#).unwrap();
        assert_eq!((r.kind, r.estimate.output_tokens), (Kind::Api, None));
    }

    #[test]
    fn refuses_bad_bodies_with_a_reason() {
        let e = |b: &[u8]| parse_admit(b).unwrap_err().to_string();
        assert!(e(b"{not json").contains("invalid request"), "{}", e(b"{"));
        assert!(e(b"").contains("empty"));
        assert!(matches!(parse_admit(b" ").unwrap_err(), BodyError::Empty));
        assert!(matches!(
            parse_admit(br#"{"client_id":"c","kind":"ai"}"#).unwrap_err(),
            BodyError::NoProvider
        ));
        assert!(matches!(
            parse_admit(br#"{"client_id":"","kind":"api"}"#).unwrap_err(),
            BodyError::Name(NameError::Empty("client_id"))
        ));
        assert!(e(br#"{"client_id":"c","kind":"video"}"#).contains("unknown kind `video`"));
        let neg = e(
            br#"{"client_id":"c","kind":"ai","provider":"openai","estimate":{"input_tokens":-5}}"#,
        );
        assert!(
            neg.contains("estimate.input_tokens") && neg.contains("negative"),
            "{neg}"
        );
        let neg = e(br#"{"client_id":"c","kind":"job","estimate":{"cost_usd":-0.5}}"#);
        assert!(neg.contains("estimate.cost_usd"), "{neg}");
        assert!(
            e(br#"{"client_id":"c","kind":"api","extra":1}"#).contains("unknown field `extra`")
        );
        assert!(e(br#"{"kind":"api"}"#).contains("missing field `client_id`"));
        assert!(e(br#"{"client_id":"a|b","kind":"api"}"#).contains("client_id"));
        assert!(e(br#"{"client_id":"c","kind":"ai"}"#).contains("provider"));
        assert!(e(br#"[1,2]"#).contains("invalid request"));
        let frac = e(br#"{"client_id":"c","kind":"api","estimate":{"requests":1.5}}"#);
        assert!(
            frac.contains("`estimate.requests` must be a whole number"),
            "{frac}"
        );
        let s = parse_settle(br#"{"reservation_id":"r1","usage":{"output_tokens":-1}}"#)
            .unwrap_err()
            .to_string();
        assert!(s.contains("usage.output_tokens"), "{s}");
        assert_eq!(
            parse_settle(br#"{"reservation_id":"r1"}"#)
                .unwrap()
                .usage
                .tokens(),
            0
        );
    }

    #[test]
    fn absurd_numbers_are_refused_naming_the_field() {
        let s = |b: &str| parse_settle(b.as_bytes()).unwrap_err();
        for (body, want) in [
            (
                r#"{"reservation_id":"r","usage":{"characters":9000000000000000000}}"#,
                "`usage.characters` must be at most 1000000000000000",
            ),
            (
                r#"{"reservation_id":"r","usage":{"characters":9e18}}"#,
                "`usage.characters` must be at most",
            ),
            (
                r#"{"reservation_id":"r","usage":{"input_tokens":18446744073709551615}}"#,
                "`usage.input_tokens` must be at most",
            ),
            (
                r#"{"reservation_id":"r","usage":{"output_tokens":1e400}}"#,
                "invalid request",
            ),
            (
                r#"{"reservation_id":"r","usage":{"cost_usd":"5000000"}}"#,
                "`usage.cost_usd` must be at most 1000000",
            ),
            (
                r#"{"reservation_id":"r","usage":{"cost_usd":1e20}}"#,
                "`usage.cost_usd` must be at most",
            ),
            (
                r#"{"reservation_id":"r","usage":{"requests":-1e3}}"#,
                "`usage.requests` must not be negative",
            ),
        ] {
            let got = s(body).to_string();
            assert!(got.contains(want), "{body}: {got}");
        }
        let ok = parse_settle(
            br#"{"reservation_id":"r","usage":{"input_tokens":1.2e3,"cost_usd":"1000000"}}"#,
        )
        .unwrap();
        assert_eq!(ok.usage.input_tokens, 1200);
    }
}
