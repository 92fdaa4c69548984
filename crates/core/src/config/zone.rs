//! The configured IANA time zone, parsed once when the config is read: every period boundary
//! is computed from this value, never from a string that could fall back to UTC unnoticed.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An IANA time zone (`UTC`, `Europe/Berlin`): "today" and "this month" are counted in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone(pub chrono_tz::Tz);

impl Zone {
    pub const UTC: Zone = Zone(chrono_tz::UTC);

    pub fn tz(self) -> chrono_tz::Tz {
        self.0
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }
}

impl Default for Zone {
    fn default() -> Self {
        Zone::UTC
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A time zone name that is not in the IANA database chrono-tz carries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)")]
pub struct UnknownZone(pub String);

impl std::str::FromStr for Zone {
    type Err = UnknownZone;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<chrono_tz::Tz>()
            .map(Zone)
            .map_err(|_| UnknownZone(s.to_string()))
    }
}

impl Serialize for Zone {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_iana_names_and_refuses_the_rest() {
        assert_eq!(
            "Europe/Berlin".parse::<Zone>().unwrap().name(),
            "Europe/Berlin"
        );
        let e = "Mars/Olympus".parse::<Zone>().unwrap_err();
        assert!(
            e.to_string().contains("`Mars/Olympus` is not an IANA"),
            "{e}"
        );
        assert_eq!(Zone::default(), Zone::UTC);
    }
}
