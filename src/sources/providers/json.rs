//! Reading money and times out of provider JSON: amounts become `Decimal` once, here, from
//! their literal text (never through float arithmetic).

use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

/// A decimal from a JSON string ("123.45", "1e-3") or number (0.06, 100).
pub fn decimal(v: &Value) -> Result<Decimal, String> {
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
                let f = n.as_f64().ok_or("not a finite number")?;
                parse_decimal(&f.to_string())
            }
        }
        other => Err(format!("expected a number, found {}", kind(other))),
    }
}

fn parse_decimal(s: &str) -> Result<Decimal, String> {
    let r = if s.contains(['e', 'E']) {
        Decimal::from_scientific(s)
    } else {
        Decimal::from_str(s)
    };
    r.map_err(|_| format!("`{}` is not a decimal amount", short(s)))
}

/// An optional amount: missing or null is None.
pub fn opt_decimal(v: Option<&Value>) -> Result<Option<Decimal>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => decimal(v).map(Some),
    }
}

/// Anthropic's cost `amount`: a decimal string in cents, converted to dollars.
pub fn usd_from_cents(v: &Value) -> Result<Decimal, String> {
    let cents = decimal(v)?;
    cents
        .checked_div(Decimal::ONE_HUNDRED)
        .ok_or_else(|| "amount out of range".to_string())
}

pub fn rfc3339(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("`{}` is not an RFC 3339 time", short(s)))
}

pub fn unix_seconds(secs: i64) -> Result<DateTime<Utc>, String> {
    DateTime::from_timestamp(secs, 0).ok_or_else(|| format!("{secs} is not a Unix time"))
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

/// serde's message for a body that is not the documented shape, without the body itself.
pub fn shape_error(e: serde_json::Error) -> String {
    format!("{e}")
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
        assert!(usd_from_cents(&json!("12,50")).is_err());
        assert!(usd_from_cents(&json!(null)).is_err());
    }

    #[test]
    fn float_dollars_keep_their_literal() {
        assert_eq!(decimal(&json!(0.06)).unwrap(), dec!(0.06));
        assert_eq!(decimal(&json!(74.5)).unwrap(), dec!(74.5));
        assert_eq!(decimal(&json!(0.1015644762)).unwrap(), dec!(0.1015644762));
        assert_eq!(decimal(&json!(1e-7)).unwrap(), dec!(0.0000001));
        assert!(decimal(&json!(1e300)).is_err());
        assert_eq!(opt_decimal(Some(&json!(null))).unwrap(), None);
    }
}
