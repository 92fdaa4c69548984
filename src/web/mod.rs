//! The web configuration of the exporter-toolkit (`--web.config.file`): TLS with optional
//! client certificates, bcrypt basic auth and security headers, for every route.
//!
//! The file and the certificate files it names are checked for changes (size and mtime) on
//! every connection and request, so a rotated certificate or a changed password applies at
//! once, as in exporter-toolkit; a bad new file is logged once and the previous setup kept.

mod auth;
mod bcrypt_pool;
mod body;
mod conn;
pub mod file;
mod listen;
mod peers;
mod stats;
mod tls;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use axum::http::{HeaderName, HeaderValue};

pub use file::{BcryptHash, WebFile};
pub use listen::HttpServer;
pub use stats::Stats;

use crate::config::ConfigError;

/// What each file looked like when loaded: (path, (mtime, size)) or absent.
type Stamp = Vec<(PathBuf, Option<(SystemTime, u64)>)>;

fn stamp(files: &[PathBuf]) -> Stamp {
    files
        .iter()
        .map(|p| {
            let m = std::fs::metadata(p).ok();
            let s = m.and_then(|m| Some((m.modified().ok()?, m.len())));
            (p.clone(), s)
        })
        .collect()
}

/// The web setup in force.
#[derive(Debug)]
pub struct Active {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub users: BTreeMap<String, BcryptHash>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub http2: bool,
    stamp: Stamp,
}

impl Active {
    /// Plain HTTP, no authentication: the setup without a web config file.
    fn open() -> Active {
        Active {
            tls: None,
            users: BTreeMap::new(),
            headers: Vec::new(),
            http2: true,
            stamp: Vec::new(),
        }
    }

    /// A short description for the start-up log line.
    pub fn describe(&self) -> String {
        let mut parts = vec![
            if self.tls.is_some() {
                "TLS"
            } else {
                "plain HTTP"
            }
            .to_string(),
        ];
        if !self.users.is_empty() {
            parts.push(format!("basic auth ({} users)", self.users.len()));
        }
        parts.join(", ")
    }
}

/// Parses and checks web config text; relative paths are resolved against `dir`.
pub fn parse_str(text: &str, dir: &Path) -> Result<WebFile, Vec<ConfigError>> {
    crate::config::parse_located(text, |w: &WebFile| file::validate(w, dir))
}

/// Reads and checks a web config file; errors name file, line, column and field.
pub fn load(path: &Path) -> Result<Active, Vec<ConfigError>> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let w: WebFile =
        crate::config::load_file_with(path, "web config file", |w| file::validate(w, &dir))?;
    let http2 = w.http_server_config.http2;
    let mut files = vec![path.to_path_buf()];
    let tls = match &w.tls_server_config {
        Some(t) => {
            files.extend(t.files(&dir));
            // Validation built it once already; a file swapped in between is an error here.
            let cfg = tls::build(t, &dir, http2).map_err(|(field, message)| {
                vec![ConfigError {
                    file: Some(path.to_path_buf()),
                    line: None,
                    column: None,
                    field,
                    message,
                }]
            })?;
            Some(Arc::new(cfg))
        }
        None => None,
    };
    let headers = w
        .http_server_config
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.parse().ok()?, HeaderValue::from_str(v).ok()?)))
        .collect();
    Ok(Active {
        tls,
        users: w.basic_auth_users,
        headers,
        http2,
        stamp: stamp(&files),
    })
}

/// The web setup shared by the listener and the auth middleware.
#[derive(Debug)]
pub struct WebState {
    path: Option<PathBuf>,
    active: RwLock<Arc<Active>>,
    /// The stamp of the last failed reload, so a bad file is logged once, not per request.
    failed: Mutex<Option<Stamp>>,
}

impl WebState {
    /// No web config: plain HTTP without authentication.
    pub fn open() -> Arc<WebState> {
        Self::with(None, Active::open())
    }

    /// Loads the file once; the caller refuses to start when it is bad.
    pub fn from_file(path: &Path) -> Result<Arc<WebState>, Vec<ConfigError>> {
        Ok(Self::with(Some(path.to_path_buf()), load(path)?))
    }

    fn with(path: Option<PathBuf>, active: Active) -> Arc<WebState> {
        Arc::new(WebState {
            path,
            active: RwLock::new(Arc::new(active)),
            failed: Mutex::new(None),
        })
    }

    /// The setup in force, re-read first when the web config or a file it names changed.
    pub fn current(&self) -> Arc<Active> {
        let active = self.active.read().expect("lock").clone();
        let Some(path) = &self.path else {
            return active;
        };
        let files: Vec<PathBuf> = active.stamp.iter().map(|(p, _)| p.clone()).collect();
        let now = stamp(&files);
        if now == active.stamp {
            return active;
        }
        let mut failed = self.failed.lock().expect("lock");
        if failed.as_ref() == Some(&now) {
            return active;
        }
        // Another request may have reloaded while this one waited for the lock.
        let latest = self.active.read().expect("lock").clone();
        if stamp(&files) == latest.stamp {
            return latest;
        }
        match load(path) {
            Ok(new) => {
                tracing::info!(file = %path.display(), setup = %new.describe(), "web config reloaded");
                let new = Arc::new(new);
                *self.active.write().expect("lock") = new.clone();
                *failed = None;
                new
            }
            Err(errs) => {
                for e in &errs {
                    tracing::error!(error = %e, "web config reload failed; keeping the running setup");
                }
                *failed = Some(now);
                latest
            }
        }
    }
}
