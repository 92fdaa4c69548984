//! The web config file in the Prometheus exporter-toolkit format, so operators reuse what they
//! know from node_exporter: `tls_server_config`, `http_server_config`, `basic_auth_users`.
//!
//! Unknown keys (for instance exporter-toolkit's `cipher_suites`, which rustls does not let us
//! choose) are refused with their line, never ignored.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

/// Root of the web config file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WebFile {
    /// Absent: plain HTTP.
    pub tls_server_config: Option<TlsServerConfig>,
    pub http_server_config: HttpServerConfig,
    /// User name -> bcrypt hash of the password. Empty: no authentication.
    pub basic_auth_users: BTreeMap<String, BcryptHash>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    /// Certificate chain (PEM); relative paths are read from the web config file's folder.
    pub cert_file: PathBuf,
    /// Private key (PEM).
    pub key_file: PathBuf,
    /// Unset: RequireAndVerifyClientCert when a client CA is given, else NoClientCert.
    #[serde(default)]
    pub client_auth_type: Option<ClientAuth>,
    /// CA certificates (PEM) that client certificates must chain to.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    #[serde(default)]
    pub min_version: Option<TlsVersion>,
    #[serde(default)]
    pub max_version: Option<TlsVersion>,
}

impl TlsServerConfig {
    /// The policy in force, with exporter-toolkit's default.
    pub fn client_auth(&self) -> ClientAuth {
        self.client_auth_type
            .unwrap_or(if self.client_ca_file.is_some() {
                ClientAuth::RequireAndVerifyClientCert
            } else {
                ClientAuth::NoClientCert
            })
    }

    /// The files this TLS setup reads, resolved against `dir`.
    pub fn files(&self, dir: &Path) -> Vec<PathBuf> {
        let mut v = vec![dir.join(&self.cert_file), dir.join(&self.key_file)];
        if let Some(ca) = &self.client_ca_file {
            v.push(dir.join(ca));
        }
        v
    }
}

/// exporter-toolkit's names for Go's `tls.ClientAuthType`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum ClientAuth {
    NoClientCert,
    /// Asks for a certificate but never checks it: refused by validation (rustls verifies).
    RequestClientCert,
    /// Requires a certificate but never checks it: refused by validation (rustls verifies).
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    TLS10,
    TLS11,
    TLS12,
    TLS13,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpServerConfig {
    /// Offer HTTP/2 (over TLS by ALPN, in clear by prior knowledge).
    pub http2: bool,
    /// Security headers added to every response.
    pub headers: BTreeMap<String, String>,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        HttpServerConfig {
            http2: true,
            headers: BTreeMap::new(),
        }
    }
}

/// The headers exporter-toolkit lets an operator set.
pub const ALLOWED_HEADERS: [&str; 5] = [
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
];

/// A bcrypt hash: not the password, but offline-crackable, so it prints `[redacted]` too.
#[derive(Clone, PartialEq, Eq)]
pub struct BcryptHash(String);

impl BcryptHash {
    pub fn new(s: String) -> Self {
        BcryptHash(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A well-formed `$2a$`/`$2b$`/`$2y$` hash.
    pub fn is_valid(&self) -> bool {
        self.0.parse::<bcrypt::HashParts>().is_ok()
    }
}

impl fmt::Debug for BcryptHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for BcryptHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for BcryptHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(BcryptHash)
    }
}

/// Checks serde cannot express, as (dotted field, message). `dir` is the file's folder.
pub fn validate(w: &WebFile, dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(t) = &w.tls_server_config {
        out.extend(super::tls::check(t, dir, w.http_server_config.http2));
    }
    for (user, hash) in &w.basic_auth_users {
        if user.is_empty() || user.contains(':') {
            out.push((
                "basic_auth_users".into(),
                "a user name must be non-empty and hold no `:`".into(),
            ));
        }
        if !hash.is_valid() {
            out.push((
                format!("basic_auth_users.{user}"),
                "is not a bcrypt hash ($2a$, $2b$ or $2y$, 60 characters); make one with \
                 `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"
                    .into(),
            ));
        }
    }
    for (name, value) in &w.http_server_config.headers {
        if !ALLOWED_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)) {
            out.push((
                format!("http_server_config.headers.{name}"),
                format!(
                    "is not a header that can be set (one of {})",
                    ALLOWED_HEADERS.join(", ")
                ),
            ));
        } else if axum::http::HeaderValue::from_str(value).is_err() {
            out.push((
                format!("http_server_config.headers.{name}"),
                "is not a valid header value".into(),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WebFile, Vec<crate::config::ConfigError>> {
        crate::config::parse_located(text, |w: &WebFile| validate(w, Path::new(".")))
    }

    #[test]
    fn empty_file_is_plain_http_without_auth() {
        let w = parse("").unwrap();
        assert!(w.tls_server_config.is_none());
        assert!(w.basic_auth_users.is_empty());
        assert!(w.http_server_config.http2);
    }

    #[test]
    fn unsupported_toolkit_keys_are_refused_with_their_line() {
        let e = &parse("tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [x]\n")
            .unwrap_err()[0];
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.message.contains("cipher_suites"), "{e}");
        assert!(e.field.starts_with("tls_server_config"), "{e}");
    }

    #[test]
    fn bad_hash_names_the_user_line_and_never_echoes_the_value() {
        let e = &parse("basic_auth_users:\n  alice: hunter2\n").unwrap_err()[0];
        assert_eq!(e.field, "basic_auth_users.alice", "{e}");
        assert_eq!(e.line, Some(2), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn unknown_client_auth_type_is_located() {
        let e = &parse(
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Sometimes\n",
        )
        .unwrap_err()[0];
        assert_eq!(e.line, Some(4), "{e}");
        assert_eq!(e.field, "tls_server_config.client_auth_type", "{e}");
    }

    #[test]
    fn only_security_headers_can_be_set() {
        let e = &parse("http_server_config:\n  headers:\n    Server: x\n").unwrap_err()[0];
        assert_eq!(e.field, "http_server_config.headers.Server", "{e}");
        assert_eq!(e.line, Some(3), "{e}");
        let ok = parse("http_server_config:\n  headers:\n    X-Frame-Options: deny\n").unwrap();
        assert_eq!(ok.http_server_config.headers.len(), 1);
    }

    #[test]
    fn hash_prints_redacted() {
        let h = BcryptHash::new("$2y$10$abcdefghijklmnopqrstuv".into());
        assert_eq!(format!("{h} {h:?}"), "[redacted] [redacted]");
    }

    #[test]
    fn client_ca_alone_means_require_and_verify() {
        let t = TlsServerConfig {
            cert_file: "c".into(),
            key_file: "k".into(),
            client_auth_type: None,
            client_ca_file: Some("ca".into()),
            min_version: None,
            max_version: None,
        };
        assert_eq!(t.client_auth(), ClientAuth::RequireAndVerifyClientCert);
    }
}
