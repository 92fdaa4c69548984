//! Durations written the human way in the config file ("30s", "5m", "1h", "daily").

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a duration in the config, the admin API or on the command line is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DurationError {
    #[error("`{text}` is not a duration ({source}); write e.g. 30s, 5m, 1h")]
    Unreadable {
        text: String,
        #[source]
        source: humantime::DurationError,
    },
    /// Past `Dur::MAX`, so sums with clock readings could overflow.
    #[error("`{0}` is longer than {max}", max = Dur::MAX)]
    TooLong(String),
}

/// A duration read from text such as `30s`, `5m`, `1h 30m`, `hourly` or `daily`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dur(pub Duration);

impl Dur {
    pub const fn from_secs(s: u64) -> Self {
        Dur(Duration::from_secs(s))
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0.as_secs_f64()
    }

    /// Parses the text form; the error says what was wrong.
    pub fn parse(s: &str) -> Result<Self, DurationError> {
        let t = s.trim();
        let alias = match t {
            "daily" => Some(86_400),
            "hourly" => Some(3_600),
            "every 30 min" | "half-hourly" => Some(1_800),
            _ => None,
        };
        if let Some(secs) = alias {
            return Ok(Dur::from_secs(secs));
        }
        let d = humantime::parse_duration(t).map_err(|source| DurationError::Unreadable {
            text: t.to_string(),
            source,
        })?;
        // Durations are added to clock readings: bounded, so no sum of them can overflow.
        if d > Dur::MAX.0 {
            return Err(DurationError::TooLong(t.to_string()));
        }
        Ok(Dur(d))
    }

    /// The longest duration accepted anywhere: 10 years.
    pub const MAX: Dur = Dur::from_secs(10 * 365 * 86_400);
}

impl fmt::Debug for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Dur::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_aliases() {
        assert_eq!(Dur::parse("30s").unwrap(), Dur::from_secs(30));
        assert_eq!(Dur::parse("5m").unwrap(), Dur::from_secs(300));
        assert_eq!(Dur::parse("daily").unwrap(), Dur::from_secs(86_400));
        assert_eq!(Dur::parse("hourly").unwrap(), Dur::from_secs(3_600));
        let e = Dur::parse("soon").unwrap_err();
        assert!(matches!(e, DurationError::Unreadable { .. }), "{e:?}");
        assert!(
            e.to_string().starts_with("`soon` is not a duration ("),
            "{e}"
        );
        assert!(std::error::Error::source(&e).is_some());
        assert_eq!(
            Dur::parse("300000y").unwrap_err().to_string(),
            format!("`300000y` is longer than {}", Dur::MAX)
        );
        assert_eq!(Dur::parse("3650d").unwrap(), Dur::MAX);
    }
}
