//! `--web.config.file` against the real binary with a real TLS client (reqwest + rustls):
//! passwords right, wrong and missing; plain HTTP to the TLS port; client certificates
//! required and missing; the file re-read when it changes; a bad file refused with its line.

use crate::common::exporter;
use crate::common::pki;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use exporter::Exporter;

use pki::{ca, leaf};

struct Pki {
    ca_pem: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
    /// A client certificate from a CA the server does not trust.
    stranger_cert: String,
    stranger_key: String,
}

fn pki() -> Pki {
    let root = ca("launchguard test CA");
    let other = ca("someone else's CA");
    let (server_cert, server_key) = leaf(&root, &["localhost", "127.0.0.1"]);
    let (client_cert, client_key) = leaf(&root, &["prometheus"]);
    let (stranger_cert, stranger_key) = leaf(&other, &["intruder"]);
    Pki {
        ca_pem: root.pem(),
        server_cert,
        server_key,
        client_cert,
        client_key,
        stranger_cert,
        stranger_key,
    }
}

fn start(web_config: &Path) -> Exporter {
    let web = web_config.to_str().unwrap();
    // These tests try more wrong passwords in a second than the default per-peer failure
    // limit allows (10 a minute, then 429: tests/it/server_hardening.rs); raised so each wrong
    // password still shows its 401.
    let cfg = web_config.with_file_name("launchguard.yaml");
    std::fs::write(&cfg, "server:\n  auth_failures_per_peer: 1000\n").unwrap();
    Exporter::spawn(Some(&cfg), &["--web.config.file", web], &[])
}

fn port(e: &Exporter) -> u16 {
    e.addr.rsplit(':').next().unwrap().parse().unwrap()
}

fn client(pki: &Pki, identity: Option<(&str, &str)>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap()])
        .timeout(Duration::from_secs(10));
    if let Some((cert, key)) = identity {
        let pem = format!("{cert}{key}");
        b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    b.build().unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

async fn status(
    c: &reqwest::Client,
    url: &str,
    auth: Option<(&str, &str)>,
) -> Result<(u16, String), reqwest::Error> {
    let mut r = c.get(url);
    if let Some((u, p)) = auth {
        r = r.basic_auth(u, Some(p));
    }
    let res = r.send().await?;
    let code = res.status().as_u16();
    Ok((code, res.text().await?))
}

/// Rewrites a file so that its mtime and size change even within one clock tick.
fn replace(path: &Path, text: &str) {
    std::thread::sleep(Duration::from_millis(20));
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test]
async fn tls_with_basic_auth_on_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    write(dir.path(), "server.crt", &pki.server_cert);
    write(dir.path(), "server.key", &pki.server_key);
    let hash = bcrypt::hash("correct horse", 4).unwrap();
    // Relative paths are read from the web config file's folder, as in exporter-toolkit.
    let web = write(
        dir.path(),
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
             http_server_config:\n  headers:\n    X-Frame-Options: deny\n\
             basic_auth_users:\n  prometheus: '{hash}'\n"
        ),
    );
    let s = start(&web);
    let base = format!("https://127.0.0.1:{}", port(&s));
    let c = client(&pki, None);
    let right = Some(("prometheus", "correct horse"));

    let (code, body) = status(&c, &format!("{base}/metrics"), right).await.unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("launchguard_build_info"), "{body}");
    let res = c
        .get(format!("{base}/healthz"))
        .basic_auth("prometheus", Some("correct horse"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers().get("x-frame-options").unwrap(),
        "deny",
        "configured headers are added"
    );

    for path in ["/metrics", "/healthz", "/readyz", "/", "/no/such/route"] {
        let url = format!("{base}{path}");
        for auth in [
            None,
            Some(("prometheus", "wrong")),
            Some(("nobody", "correct horse")),
        ] {
            let res = {
                let mut r = c.get(&url);
                if let Some((u, p)) = auth {
                    r = r.basic_auth(u, Some(p));
                }
                r.send().await.unwrap()
            };
            assert_eq!(res.status().as_u16(), 401, "{path} with {auth:?}");
            assert!(
                res.headers()
                    .get("www-authenticate")
                    .is_some_and(|v| v.to_str().unwrap().starts_with("Basic")),
                "{path}"
            );
        }
    }

    // Plain HTTP to the TLS port: a readable 400, as Go's servers answer.
    let plain = reqwest::Client::new();
    let (code, body) = status(
        &plain,
        &format!("http://127.0.0.1:{}/metrics", port(&s)),
        right,
    )
    .await
    .unwrap();
    assert_eq!(code, 400);
    assert!(body.contains("HTTP request to an HTTPS server"), "{body}");

    // A client that does not trust the server's CA cannot connect.
    let stranger = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pki_other_ca().as_bytes()).unwrap()])
        .build()
        .unwrap();
    assert!(
        status(&stranger, &format!("{base}/metrics"), right)
            .await
            .is_err()
    );

    // Change the password: the file is re-read, the old password stops working at once.
    let new_hash = bcrypt::hash("battery staple", 4).unwrap();
    let (metrics, new) = (
        format!("{base}/metrics"),
        Some(("prometheus", "battery staple")),
    );
    let text = std::fs::read_to_string(&web)
        .unwrap()
        .replace(&hash, &new_hash);
    replace(&web, &text);
    let (code, _) = status(&c, &format!("{base}/metrics"), right).await.unwrap();
    assert_eq!(code, 401, "old password after the change");
    let (code, _) = status(&c, &metrics, new).await.unwrap();
    assert_eq!(code, 200, "new password after the change");

    // A broken file is logged with its line and field; the running setup stays.
    replace(&web, &text.replace(&new_hash, "not-a-hash"));
    let (code, _) = status(&c, &metrics, new).await.unwrap();
    assert_eq!(code, 200, "a bad file keeps the running setup");
    let logs = s.logs();
    assert!(
        logs.contains("web.yml:")
            && logs.contains("basic_auth_users.prometheus")
            && logs.contains("web config reload failed"),
        "{logs}"
    );
    assert!(!logs.contains("battery staple") && !logs.contains("correct horse"));
    assert_eq!(
        logs.matches("web config reload failed").count(),
        1,
        "logged once, not per request: {logs}"
    );
}

fn pki_other_ca() -> String {
    ca("unrelated CA").pem()
}

#[tokio::test]
async fn client_certificate_required() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    let crt = write(dir.path(), "server.crt", &pki.server_cert);
    let key = write(dir.path(), "server.key", &pki.server_key);
    let ca = write(dir.path(), "ca.crt", &pki.ca_pem);
    let web = write(
        dir.path(),
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_ca_file: {}\n  \
             client_auth_type: RequireAndVerifyClientCert\n",
            crt.display(),
            key.display(),
            ca.display()
        ),
    );
    let s = start(&web);
    let url = format!("https://127.0.0.1:{}/metrics", port(&s));

    let with_cert = client(&pki, Some((&pki.client_cert, &pki.client_key)));
    let (code, body) = status(&with_cert, &url, None).await.unwrap();
    assert_eq!(code, 200, "{body}");

    let without = client(&pki, None);
    let e = status(&without, &url, None).await;
    assert!(e.is_err(), "no client certificate must be refused: {e:?}");

    let stranger = client(&pki, Some((&pki.stranger_cert, &pki.stranger_key)));
    let e = status(&stranger, &url, None).await;
    assert!(
        e.is_err(),
        "a certificate from another CA must be refused: {e:?}"
    );

    // The server is still fine after the refused handshakes.
    assert_eq!(status(&with_cert, &url, None).await.unwrap().0, 200);
}

/// Starts `serve` with a web config that must be refused; returns its stderr.
fn refused(web: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_launchguard"))
        .args(["serve", "--listen", "127.0.0.1:0", "--web.config.file"])
        .arg(web)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_web_config_stops_start_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let web = write(
        dir.path(),
        "web.yml",
        "tls_server_config:\n  cert_file: /nonexistent/server.crt\n  key_file: /nonexistent/k\n",
    );
    let err = refused(&web);
    let want = format!("{}:2:3: field `tls_server_config.cert_file`", web.display());
    assert!(err.contains(&want), "{err}");

    let web = write(
        dir.path(),
        "web2.yml",
        "basic_auth_users:\n  alice: $2y$10$short\n  bob: hunter2\n",
    );
    let err = refused(&web);
    assert!(
        err.contains("web2.yml:2:3: field `basic_auth_users.alice`"),
        "{err}"
    );
    assert!(
        err.contains("web2.yml:3:3: field `basic_auth_users.bob`"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}
