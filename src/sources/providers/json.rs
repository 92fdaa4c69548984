//! Reading money and times out of provider JSON: amounts become `Decimal` once, here, from
//! their literal text (never through float arithmetic).

use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::sources::SourceError;

use super::http::reason;

/// Why a provider's answer could not be read. Every variant is reported as `parse` (the
/// provider sent a shape or a value we do not read); they are kept apart so the message says
/// which. Value excerpts are at most 40 characters; the body itself is never quoted.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// Not the documented JSON structure: serde's message names the field and position.
    #[error(transparent)]
    Shape(#[from] serde_json::Error),
    /// A JSON value of another kind where a number belongs (`kind` of it).
    #[error("expected a number, found {0}")]
    NotANumber(&'static str),
    /// A value that does not read as what its field holds; `text` is an excerpt of it.
    #[error("`{text}` is not {expected}")]
    Unreadable {
        expected: &'static str,
        text: String,
    },
    /// A cost row without its amount (`what` names the missing part).
    #[error("a cost row has no {0}")]
    Missing(&'static str),
    /// A cost in another currency: adding it to dollars would be wrong.
    #[error("cost in {0}, expected USD")]
    Currency(String),
    /// An amount or a sum past what a `Decimal` holds.
    #[error("{0}")]
    OutOfRange(&'static str),
}

impl AnswerError {
    /// The source's error for an answer of `what` (an endpoint, in words) that is unreadable.
    pub fn in_answer_of(self, what: &str) -> SourceError {
        SourceError::new(
            reason::PARSE,
            format!("the answer of {what} could not be read: {self}"),
        )
    }
}

/// A decimal from a JSON string ("123.45", "1e-3") or number (0.06, 100).
pub fn decimal(v: &Value) -> Result<Decimal, AnswerError> {
    match v {
        Value::String(s) => parse_decimal(s.trim()),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(Decimal::from(i))
            } else if let Some(u) = n.as_u64() {
                Ok(Decimal::from(u))
            } else {
                // serde_json keeps the shortest text that reads back as the same double: the
                // literal the provider wrote, for any amount with up to 15 significant digits.
                let f = n.as_f64().ok_or_else(|| AnswerError::Unreadable {
                    expected: "a finite number",
                    text: short(&n.to_string()),
                })?;
                parse_decimal(&f.to_string())
            }
        }
        other => Err(AnswerError::NotANumber(kind(other))),
    }
}

fn parse_decimal(s: &str) -> Result<Decimal, AnswerError> {
    let r = if s.contains(['e', 'E']) {
        Decimal::from_scientific(s)
    } else {
        Decimal::from_str(s)
    };
    r.map_err(|_| AnswerError::Unreadable {
        expected: "a decimal amount",
        text: short(s),
    })
}

/// An optional amount: missing or null is None.
pub fn opt_decimal(v: Option<&Value>) -> Result<Option<Decimal>, AnswerError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => decimal(v).map(Some),
    }
}

/// Anthropic's cost `amount`: a decimal string in cents, converted to dollars.
pub fn usd_from_cents(v: &Value) -> Result<Decimal, AnswerError> {
    let cents = decimal(v)?;
    cents
        .checked_div(Decimal::ONE_HUNDRED)
        .ok_or(AnswerError::OutOfRange("amount out of range"))
}

pub fn rfc3339(s: &str) -> Result<DateTime<Utc>, AnswerError> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| AnswerError::Unreadable {
            expected: "an RFC 3339 time",
            text: short(s),
        })
}

pub fn unix_seconds(secs: i64) -> Result<DateTime<Utc>, AnswerError> {
    DateTime::from_timestamp(secs, 0).ok_or_else(|| AnswerError::Unreadable {
        expected: "a Unix time",
        text: secs.to_string(),
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Text from a response, shortened for an error message.
fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use serde_json::json;

    #[test]
    fn cents_strings_become_dollars_exactly() {
        assert_eq!(
            usd_from_cents(&json!("123.78912")).unwrap(),
            dec!(1.2378912)
        );
        assert_eq!(usd_from_cents(&json!("50")).unwrap(), dec!(0.50));
        assert_eq!(usd_from_cents(&json!(12345)).unwrap(), dec!(123.45));
        let e = usd_from_cents(&json!("12,50")).unwrap_err();
        assert_eq!(e.to_string(), "`12,50` is not a decimal amount");
        let e = usd_from_cents(&json!(null)).unwrap_err();
        assert!(matches!(e, AnswerError::NotANumber("null")), "{e:?}");
        let e = e.in_answer_of("the cost report");
        assert_eq!(e.reason, reason::PARSE);
        assert_eq!(
            e.message,
            "the answer of the cost report could not be read: expected a number, found null"
        );
    }

    #[test]
    fn float_dollars_keep_their_literal() {
        assert_eq!(decimal(&json!(0.06)).unwrap(), dec!(0.06));
        assert_eq!(decimal(&json!(74.5)).unwrap(), dec!(74.5));
        assert_eq!(decimal(&json!(0.1015644762)).unwrap(), dec!(0.1015644762));
        assert_eq!(decimal(&json!(1e-7)).unwrap(), dec!(0.0000001));
        assert!(matches!(
            decimal(&json!(1e300)),
            Err(AnswerError::Unreadable { .. })
        ));
        assert_eq!(opt_decimal(Some(&json!(null))).unwrap(), None);
    }
}
