//! Secrets are named in the config, never written in it: `${ENV_VAR}` or `file:/path`.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a secret reference in the config is refused. It never echoes a literal: that may be
/// the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretRefError {
    /// `${...}` around something that is not a variable name.
    #[error("`{0}` is not a valid environment variable reference")]
    BadVariable(String),
    #[error("`file:` needs a path")]
    NoPath,
    /// Anything else: a value written in the file.
    #[error("secrets are never written in the config: use ${{ENV_VAR}} or file:/path")]
    Literal,
}

/// A secret file that exists in the config but cannot be read (its content is never shown).
#[derive(Debug, thiserror::Error)]
#[error("cannot read secret file {}: {source}", .path.display())]
pub struct SecretFileError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Where a secret comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretRef {
    Env(String),
    File(PathBuf),
}

impl SecretRef {
    /// Parses `${NAME}` or `file:/path`; any other text is refused so secrets stay out of files.
    pub fn parse(s: &str) -> Result<Self, SecretRefError> {
        let t = s.trim();
        if let Some(name) = t.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
            let ok = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if ok {
                return Ok(SecretRef::Env(name.to_string()));
            }
            return Err(SecretRefError::BadVariable(t.to_string()));
        }
        if let Some(p) = t.strip_prefix("file:") {
            if p.is_empty() {
                return Err(SecretRefError::NoPath);
            }
            return Ok(SecretRef::File(PathBuf::from(p)));
        }
        // Never echo the value: it may be the secret itself.
        Err(SecretRefError::Literal)
    }

    /// Reads the secret. `Ok(None)` when the variable is unset or the value is empty (only
    /// whitespace included, from an env var or a file): an empty secret is no secret, and
    /// whoever owns it is then disabled or reported down. An unreadable file is an error.
    pub fn resolve(&self) -> Result<Option<Secret>, SecretFileError> {
        match self {
            SecretRef::Env(name) => Ok(std::env::var(name).ok().and_then(Secret::new)),
            SecretRef::File(p) => std::fs::read_to_string(p)
                .map(Secret::new)
                .map_err(|source| SecretFileError {
                    path: p.clone(),
                    source,
                }),
        }
    }

    /// Where the secret is unset or empty, in words for a log line or `check`.
    pub fn describe_unset(&self) -> String {
        match self {
            SecretRef::Env(n) => format!("environment variable {n} is unset or empty"),
            SecretRef::File(p) => format!("file {} is empty", p.display()),
        }
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(n) => write!(f, "${{{n}}}"),
            SecretRef::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for SecretRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SecretRef::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A secret value: Debug and Display print `[redacted]`, so it cannot leak through a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value trimmed of surrounding whitespace (a file's trailing newline); `None` when
    /// nothing is left, so no secret is ever empty and an empty header can never match one.
    pub fn new(v: impl AsRef<str>) -> Option<Self> {
        let t = v.as_ref().trim();
        (!t.is_empty()).then(|| Secret(t.to_string()))
    }

    /// The value itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references_and_refuses_literals() {
        assert_eq!(
            SecretRef::parse("${A_B}").unwrap(),
            SecretRef::Env("A_B".into())
        );
        assert_eq!(
            SecretRef::parse("file:/run/k").unwrap(),
            SecretRef::File("/run/k".into())
        );
        let e = SecretRef::parse("postgres://u:hunter2@h/db").unwrap_err();
        assert_eq!(e, SecretRefError::Literal);
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(SecretRef::parse("${1X}").is_err());
    }

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("sk-live-123").unwrap();
        assert_eq!(format!("{s} {s:?}"), "[redacted] [redacted]");
    }

    #[test]
    fn empty_and_blank_secrets_are_unset() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [("zero", ""), ("newline", "\n"), ("blank", " \t\r\n ")] {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            assert!(matches!(SecretRef::File(p).resolve(), Ok(None)), "{name}");
        }
        let p = dir.path().join("token");
        std::fs::write(&p, "s3cret\n").unwrap();
        let s = SecretRef::File(p).resolve().unwrap().unwrap();
        assert_eq!(s.expose(), "s3cret");
        let absent = dir.path().join("absent");
        let e = SecretRef::File(absent.clone()).resolve().unwrap_err();
        assert_eq!(e.source.kind(), std::io::ErrorKind::NotFound);
        assert!(
            e.to_string()
                .starts_with(&format!("cannot read secret file {}: ", absent.display())),
            "{e}"
        );
        assert_eq!(Secret::new("  "), None);
    }
}
