//! What both of the guard's HTTP surfaces (the callers' admit/settle and the founder's admin
//! API) share, kept apart so neither imports the other: the JSON error body, the check on
//! names, and the token comparison that does not leak timing.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Longest client id, provider, model or reservation id accepted.
pub const MAX_NAME: usize = 128;

/// Why a name a caller sent is refused; each names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("`{0}` must not be empty")]
    Empty(&'static str),
    #[error("`{0}` is longer than {MAX_NAME} characters")]
    TooLong(&'static str),
    #[error("`{0}` may hold only letters, digits and - _ . : @")]
    NotAnId(&'static str),
    #[error("`{0}` may hold only printable ASCII other than `|`")]
    NotPrintable(&'static str),
}

/// Names are short printable ASCII without `|` (the stores' record separator); client ids
/// are restricted further to what ids are made of.
pub fn check_name(what: &'static str, v: &str, strict_id: bool) -> Result<(), NameError> {
    if v.is_empty() {
        return Err(NameError::Empty(what));
    }
    if v.len() > MAX_NAME {
        return Err(NameError::TooLong(what));
    }
    let ok = |c: char| {
        if strict_id {
            c.is_ascii_alphanumeric() || "-_.:@".contains(c)
        } else {
            c.is_ascii_graphic() && c != '|'
        }
    };
    if !v.chars().all(ok) {
        return Err(if strict_id {
            NameError::NotAnId(what)
        } else {
            NameError::NotPrintable(what)
        });
    }
    Ok(())
}

/// Compares without an early exit, so response time does not reveal how much of a guessed
/// token was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    diff == 0
}

/// A JSON error body `{"error": code, "reason": ...}` with its status.
pub(crate) fn error(status: StatusCode, code: &str, reason: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": code, "reason": reason.into() });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// `r` with `Connection: close`, for an answer sent before the request's body was read whole
/// (over the size limit, or refused before reading it): the connection cannot carry another
/// request, and saying so keeps a keep-alive client from sending its next one into it.
pub(crate) fn closing(mut r: Response) -> Response {
    r.headers_mut().insert(
        header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    r
}

/// None when the request carries `token` as `Authorization: Bearer` or, because basic auth
/// (--web.config.file) takes `Authorization`, in `own_header` (`shown` as the docs spell it);
/// otherwise the 401 to send. `who` names the token ("admin", "caller").
pub fn check_token(
    headers: &HeaderMap,
    token: &str,
    own_header: &str,
    shown: &str,
    who: &str,
) -> Option<Response> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| headers.get(own_header).and_then(|v| v.to_str().ok()))
        .map(str::trim);
    match given {
        Some(t) if constant_time_eq(t.as_bytes(), token.as_bytes()) => None,
        Some(_) => Some(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!("wrong {who} token"),
        )),
        None => Some(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!("missing `Authorization: Bearer <{who} token>` (or {shown}) header"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }
}
