//! Server processes and a webhook receiver for the kit's end-to-end tests (kit_e2e,
//! kit_replay): a missing binary names its Debian package, a process dies with its test, and
//! its log is shown on failure.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// The server binary at `path`; fails the test with the package to install, never skips.
pub fn tool(path: &str, package: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(
        p.is_file(),
        "{path} not found: install the Debian package {package} (apt-get install -y {package})"
    );
    p
}

/// A server process, killed when dropped; its output goes to a log file shown on failure.
pub struct Proc {
    pub name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    pub fn start(name: &'static str, cmd: &mut Command, dir: &Path) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let f = fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc { name, child, log }
    }

    pub fn tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(30);
        format!("--- {} log ---\n{}", self.name, lines[from..].join("\n"))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the webhook server received: (the URL path without its leading `/`, Alertmanager's
/// JSON payload).
pub type Inbox = Arc<Mutex<Vec<(String, Value)>>>;

/// A loopback HTTP server that records every JSON POST under any path.
pub async fn webhook_server() -> (u16, Inbox) {
    use axum::extract::{Path as UrlPath, State};
    let inbox: Inbox = Arc::default();
    let app = axum::Router::new()
        .route(
            "/{*path}",
            axum::routing::post(
                |State(inbox): State<Inbox>,
                 UrlPath(path): UrlPath<String>,
                 axum::Json(body): axum::Json<Value>| async move {
                    inbox.lock().unwrap().push((path, body));
                    "ok"
                },
            ),
        )
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (port, inbox)
}
