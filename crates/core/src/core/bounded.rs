//! Bounded arithmetic: the one place where sums of tokens, characters, requests, money and
//! nano-dollars are made, and the bounds every number a caller, a config file or the admin API
//! sets is checked against before use.
//!
//! Nothing here wraps or panics. Counts and nano-dollar sums saturate at `CEILING`, money at
//! `Decimal::MAX`; a saturated sum only ever overstates usage, so a limit still denies. The
//! Redis store's Lua scripts get the same arithmetic from `LUA`.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// Every count and nano-dollar sum saturates here: 2^53 - 1, the largest integer an f64 holds
/// exactly, so Redis' Lua numbers, JSON readers and Prometheus samples all read it as it is.
pub const CEILING: i64 = (1 << 53) - 1;

/// Largest count one request, a config field or a tier limit may carry (tokens, characters,
/// requests): 10^15, far past any real use and well below `CEILING`.
pub const MAX_COUNT: u64 = 1_000_000_000_000_000;

/// Largest amount of money one request, budget, price or override may carry: $1,000,000
/// (10^15 nano-dollars, below `CEILING`, so a sum past every budget still compares right).
pub const MAX_USD: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);

/// Money in the guard's stores is integer nano-dollars: exact sums, exact in Lua numbers.
pub const NANOS_PER_USD: i64 = 1_000_000_000;

/// Addition that saturates instead of wrapping or panicking.
pub trait Bounded: Copy {
    const ZERO: Self;
    fn plus(self, other: Self) -> Self;
}

impl Bounded for i64 {
    const ZERO: Self = 0;
    fn plus(self, other: Self) -> Self {
        self.saturating_add(other).clamp(-CEILING, CEILING)
    }
}

impl Bounded for u64 {
    const ZERO: Self = 0;
    fn plus(self, other: Self) -> Self {
        self.saturating_add(other).min(CEILING as u64)
    }
}

impl Bounded for Decimal {
    const ZERO: Self = Decimal::ZERO;
    fn plus(self, other: Self) -> Self {
        self.saturating_add(other)
    }
}

/// The saturating sum of any number of values.
pub fn total<T: Bounded>(items: impl IntoIterator<Item = T>) -> T {
    items.into_iter().fold(T::ZERO, T::plus)
}

/// `a - b` within [-CEILING, CEILING].
pub fn minus(a: i64, b: i64) -> i64 {
    a.saturating_sub(b).clamp(-CEILING, CEILING)
}

/// Takes `amount` back out of a running sum of non-negative amounts (a reservation released).
/// A sum that saturated no longer knows what it holds past the ceiling, so it stays saturated
/// until the caller resets it when nothing is held: it may overstate, never understate.
pub fn take(sum: i64, amount: i64) -> i64 {
    if sum >= CEILING {
        CEILING
    } else {
        minus(sum, amount)
    }
}

/// Money times a factor (a price, a margin, a count), saturating.
pub fn times(a: Decimal, b: Decimal) -> Decimal {
    a.saturating_mul(b)
}

/// A count as a signed counter value, within `CEILING`.
pub fn signed(count: u64) -> i64 {
    count.min(CEILING as u64) as i64
}

/// A decimal rounded up to a counter value in [0, CEILING] (rounding up never undercounts).
pub fn ceil_count(v: Decimal) -> i64 {
    if v <= Decimal::ZERO {
        return 0;
    }
    v.ceil().to_i64().map_or(CEILING, |n| n.min(CEILING))
}

/// Dollars to nano-dollars, rounded up, in [0, CEILING].
pub fn to_nanos(usd: Decimal) -> i64 {
    ceil_count(times(usd, Decimal::from(NANOS_PER_USD)))
}

pub fn from_nanos(n: i64) -> Decimal {
    Decimal::new(n, 9).normalize()
}

/// Why a count set from outside is out of bounds, or None.
pub fn count_problem(v: u64) -> Option<String> {
    (v > MAX_COUNT).then(|| format!("must be at most {MAX_COUNT}"))
}

/// Why an amount of money set from outside is out of bounds (negative or past `MAX_USD`).
pub fn usd_problem(v: Decimal) -> Option<String> {
    if v < Decimal::ZERO {
        Some("must not be negative".into())
    } else if v > MAX_USD {
        Some(format!("must be at most {MAX_USD} (USD)"))
    } else {
        None
    }
}

/// Why a number a caller sent (money or a count) is refused; each names the field and shows
/// at most 40 characters of what was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    /// Neither a JSON number nor a string.
    #[error("`{field}` must be a number or a decimal string")]
    NotANumber { field: String },
    /// Text that does not read as a decimal within ±`MAX_USD`.
    #[error("`{field}` is not a number within ±{MAX_USD}: {shown}")]
    Unreadable { field: String, shown: String },
    /// A number past its bounds: `problem` is `usd_problem`'s or `count_problem`'s words.
    #[error("`{field}` {problem} (got {shown})")]
    OutOfBounds {
        field: String,
        problem: String,
        shown: String,
    },
}

/// Parses money sent as a JSON number or decimal string (`"80"`, `12.5`, `"1e3"`) and checks
/// its bounds; the error names `field`.
pub fn parse_usd(field: &str, v: &serde_json::Value) -> Result<Decimal, NumberError> {
    let field = field.to_string();
    let text = match v {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.clone(),
        _ => return Err(NumberError::NotANumber { field }),
    };
    let shown: String = text.chars().take(40).collect();
    let d = text
        .parse::<Decimal>()
        .ok()
        .or_else(|| Decimal::from_scientific(&text).ok());
    let Some(d) = d else {
        return Err(NumberError::Unreadable { field, shown });
    };
    match usd_problem(d) {
        Some(problem) => Err(NumberError::OutOfBounds {
            field,
            problem,
            shown,
        }),
        None => Ok(d),
    }
}

/// A count sent by a caller (a JSON integer), checked: not negative, at most `MAX_COUNT`.
pub fn parse_count(field: &str, v: i64) -> Result<u64, NumberError> {
    let out = |problem: String| NumberError::OutOfBounds {
        field: field.to_string(),
        problem,
        shown: v.to_string(),
    };
    let Ok(u) = u64::try_from(v) else {
        return Err(out("must not be negative".into()));
    };
    match count_problem(u) {
        Some(p) => Err(out(p)),
        None => Ok(u),
    }
}

/// The same arithmetic in Lua, prepended to each of the Redis store's scripts. Redis runs Lua
/// 5.1, whose numbers are doubles: every value stays within ±CEILING, where they are exact, and
/// a sum of two such values is exact or rounds past CEILING, where `plus` clamps it.
pub const LUA: &str = r#"
local CEILING = 9007199254740991
-- a + b within [-CEILING, CEILING]; never -0 (HINCRBY and HSET readers refuse '-0').
local function plus(a, b)
  local v = a + b
  if v > CEILING then return CEILING end
  if v < -CEILING then return -CEILING end
  if v == 0 then return 0 end
  return v
end
-- Takes d back out of a running sum; a saturated sum stays saturated (see bounded::take).
local function take(sum, d)
  if sum >= CEILING then return CEILING end
  return plus(sum, -d)
end
-- The integer in text s when it lies in [lo, hi]; nil otherwise (not a number, NaN, fraction).
local function int(s, lo, hi)
  local v = tonumber(s)
  if v == nil or v ~= v or v % 1 ~= 0 or v < lo or v > hi then return nil end
  return v
end
-- An integer as text, exactly (doubles print in exponent form past 1e14 with tostring).
local function itoa(v) return string.format('%.0f', v) end
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn sums_saturate_instead_of_wrapping() {
        // Two ledger rows near 2^63 (the issue's example): the sum saturates, it never reads 10.
        let near = (1u64 << 63) - 1;
        assert_eq!(total([near, 6, near, 6]), CEILING as u64);
        assert_eq!(total([i64::MAX, i64::MAX]), CEILING);
        assert_eq!(total([i64::MIN, -5]), -CEILING);
        assert_eq!(minus(-CEILING, CEILING), -CEILING);
        assert_eq!(minus(5, 7), -2);
        // Two reservations at the ceiling, one released: the sum must not drop to 0.
        let held = total([CEILING, CEILING]);
        assert_eq!(take(held, CEILING), CEILING);
        assert_eq!(take(10, 4), 6);
        assert_eq!(total([Decimal::MAX, Decimal::MAX]), Decimal::MAX);
        assert_eq!(times(Decimal::MAX, dec!(2)), Decimal::MAX);
        assert_eq!(total::<u64>([]), 0);
    }

    #[test]
    fn money_converts_within_the_ceiling() {
        assert_eq!(to_nanos(dec!(0.0000000001)), 1);
        assert_eq!(to_nanos(dec!(1.5)), 1_500_000_000);
        assert_eq!(to_nanos(dec!(-3)), 0);
        // 1e20 dollars overflowed Decimal's multiplication (a panic) before.
        assert_eq!(to_nanos(dec!(1e20)), CEILING);
        assert_eq!(to_nanos(Decimal::MAX), CEILING);
        assert_eq!(to_nanos(MAX_USD), 1_000_000_000_000_000);
        assert!(to_nanos(MAX_USD) < CEILING);
        assert_eq!(from_nanos(1_500_000_000), dec!(1.5));
        assert_eq!(ceil_count(dec!(2.1)), 3);
        assert_eq!(signed(u64::MAX), CEILING);
    }

    #[test]
    fn inputs_past_their_bounds_name_the_field() {
        let v = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        assert_eq!(parse_usd("budget_usd", &v("\"80\"")).unwrap(), dec!(80));
        assert_eq!(parse_usd("budget_usd", &v("12.5")).unwrap(), dec!(12.5));
        let e = parse_usd("budget_usd", &v("\"1e20\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`budget_usd` must be at most 1000000"), "{e}");
        let e = parse_usd("cost_usd", &v("\"1e400\"")).unwrap_err();
        assert!(matches!(e, NumberError::Unreadable { .. }), "{e:?}");
        assert!(e.to_string().contains("`cost_usd`"), "{e}");
        let e = parse_usd("x", &v("-0.5")).unwrap_err().to_string();
        assert_eq!(e, "`x` must not be negative (got -0.5)");
        assert_eq!(
            parse_usd("x", &v("true")).unwrap_err(),
            NumberError::NotANumber { field: "x".into() }
        );
        assert_eq!(parse_count("n", 5).unwrap(), 5);
        let e = parse_count("usage.characters", 9_000_000_000_000_000_000).unwrap_err();
        assert!(
            e.to_string().contains("`usage.characters` must be at most"),
            "{e}"
        );
        assert_eq!(
            parse_count("n", -1).unwrap_err().to_string(),
            "`n` must not be negative (got -1)"
        );
    }

    #[test]
    fn the_lua_prelude_uses_the_same_ceiling() {
        assert!(LUA.contains(&format!("local CEILING = {CEILING}\n")));
    }
}
