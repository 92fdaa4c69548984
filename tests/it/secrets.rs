//! No secret value ever leaves the process: a full `serve` with a real database (URL from a
//! `file:` secret), TLS and bcrypt basic auth, debug logging of every crate, driven through
//! every endpoint and every failure path this branch has (wrong and missing passwords, plain
//! HTTP, database down and back, wrong database password, malformed URL, a config that writes
//! a secret literally, `check --connect`). Every log line, response (status line, headers,
//! body) and metric is searched for every secret.
//!
//! Needs the Debian packages postgresql-15 and postgresql-15-cron.

use crate::common::exporter;
use crate::common::pg;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use exporter::Exporter;
use pg::TestPg;

/// Every value that must never be seen, with a name for the failure message.
struct Secrets(Vec<(&'static str, String)>);

impl Secrets {
    fn assert_absent(&self, where_: &str, text: &str) {
        for (name, value) in &self.0 {
            assert!(
                !text.contains(value.as_str()),
                "the {name} appears in {where_}:\n{text}"
            );
        }
    }
}

fn password_of(url: &str) -> String {
    let after = url.split_once("://").unwrap().1;
    let creds = after.split_once('@').unwrap().0;
    creds.split_once(':').unwrap().1.to_string()
}

struct Seen(String);

impl Seen {
    async fn fetch(&mut self, c: &reqwest::Client, url: &str, auth: Option<(&str, &str)>) -> u16 {
        let mut r = c.get(url);
        if let Some((u, p)) = auth {
            r = r.basic_auth(u, Some(p));
        }
        match r.send().await {
            Ok(res) => {
                let code = res.status().as_u16();
                self.0.push_str(&format!("{url} -> {code}\n"));
                for (k, v) in res.headers() {
                    self.0
                        .push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())));
                }
                self.0.push_str(&res.text().await.unwrap_or_default());
                code
            }
            Err(e) => {
                self.0.push_str(&format!("{url} -> error {e:?}\n"));
                0
            }
        }
    }
}

fn write(path: &Path, text: &str) {
    std::thread::sleep(Duration::from_millis(20));
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_any_log_response_or_metric() {
    let mut pg = TestPg::start();
    let dir = tempfile::tempdir().unwrap();
    let url = pg.reader_url();
    let db_password = password_of(&url);

    // TLS and basic auth.
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let key_pem = ck.signing_key.serialize_pem();
    std::fs::write(dir.path().join("tls.crt"), ck.cert.pem()).unwrap();
    std::fs::write(dir.path().join("tls.key"), &key_pem).unwrap();
    let basic_password = format!("basic-{}", &db_password[..db_password.len().min(12)]);
    let hash = bcrypt::hash(&basic_password, 4).unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n\
             basic_auth_users:\n  prometheus: '{hash}'\n"
        ),
    )
    .unwrap();
    let key_body: String = key_pem
        .lines()
        .find(|l| !l.starts_with("-----"))
        .unwrap()
        .to_string();

    // The database URL comes from a secret file; other secrets sit in the environment.
    let url_file = dir.path().join("db-url");
    std::fs::write(&url_file, &url).unwrap();
    let wrong_password = "wrong-pw-7f3a9c21d4";
    let wrong_url = url.replace(&db_password, wrong_password);
    let malformed_secret = "malformed-pw-2b8e41";
    let malformed_url =
        format!("postgres://launchguard_reader:{malformed_secret}@127.0.0.1:notaport/x");
    let literal_secret = "literal-pw-93d1e0";
    let admin_token = "admin-token-5c0ffee5";
    let caller_token = "caller-token-7e57ab1e";
    let provider_key = "sk-ant-admin-9a8b7c6d5e";
    // launchguard has no SMTP secret (Alertmanager reads its own file); it sits in the
    // environment all the same, so a dump of the environment anywhere would show here.
    let smtp_password = "smtp-pw-d00dfeed";

    let secrets = Secrets(vec![
        ("database password", db_password.clone()),
        ("wrong database password", wrong_password.into()),
        ("malformed URL's password", malformed_secret.into()),
        ("password written in the config", literal_secret.into()),
        ("basic auth password", basic_password.clone()),
        ("bcrypt hash", hash.clone()),
        ("TLS private key", key_body),
        ("admin token", admin_token.into()),
        ("caller token", caller_token.into()),
        ("provider key", provider_key.into()),
        ("SMTP password", smtp_password.into()),
    ]);

    let cfg = dir.path().join("launchguard.yaml");
    // The guard with its admin token, and a provider whose API is unreachable (source down).
    let extra = format!(
        "guard:\n  state_file: {}\nproviders:\n  anthropic:\n    base_url: http://127.0.0.1:{}\n    interval: 1s\n",
        dir.path().join("guard-state.json").display(),
        exporter::free_port()
    );
    let good = format!(
        "database:\n  url: file:{}\n  interval: 1s\n  timeout: 5s\n{extra}",
        url_file.display()
    );
    std::fs::write(&cfg, &good).unwrap();
    let web_arg = web.to_str().unwrap();
    let ex = Exporter::spawn(
        Some(&cfg),
        &["--web.config.file", web_arg],
        &[
            ("RUST_LOG", "debug"),
            ("LAUNCHGUARD_ADMIN_TOKEN", admin_token),
            ("LAUNCHGUARD_CALLER_TOKEN", caller_token),
            ("ANTHROPIC_ADMIN_KEY", provider_key),
            ("SMTP_PASSWORD", smtp_password),
            ("WRONG_DB_URL", &wrong_url),
            ("MALFORMED_DB_URL", &malformed_url),
        ],
    );
    let base = format!("https://{}", ex.addr);
    let c = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ck.cert.pem().as_bytes()).unwrap()])
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let auth = Some(("prometheus", basic_password.as_str()));
    let mut seen = Seen(String::new());

    let wait_metric = |want: &'static str| {
        let c = c.clone();
        let base = base.clone();
        let pw = basic_password.clone();
        async move {
            let start = Instant::now();
            loop {
                let body = c
                    .get(format!("{base}/metrics"))
                    .basic_auth("prometheus", Some(&pw))
                    .send()
                    .await
                    .ok();
                let text = match body {
                    Some(r) => r.text().await.unwrap_or_default(),
                    None => String::new(),
                };
                if text.contains(want) {
                    return;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "waited for {want}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let up = r#"launchguard_source_up{source="supabase"} 1"#;
    let down = r#"launchguard_source_up{source="supabase"} 0"#;

    /// Every route with the right password; with `all_auth`, also without and with wrong ones.
    async fn every_endpoint(
        seen: &mut Seen,
        c: &reqwest::Client,
        base: &str,
        good: Option<(&str, &str)>,
        all_auth: bool,
    ) {
        for path in [
            "/",
            "/metrics",
            "/healthz",
            "/readyz",
            "/docs/",
            "/docs/metrics.md",
            "/docs/nope",
            "/nope",
        ] {
            let url = format!("{base}{path}");
            seen.fetch(c, &url, good).await;
            if all_auth {
                seen.fetch(c, &url, None).await;
                seen.fetch(c, &url, Some(("prometheus", "not-it"))).await;
                seen.fetch(c, &url, Some(("root", "x"))).await;
            }
        }
    }

    // 1. Healthy.
    wait_metric(up).await;
    every_endpoint(&mut seen, &c, &base, auth, true).await;
    let plain = reqwest::Client::new();
    seen.fetch(&plain, &format!("http://{}/metrics", ex.addr), auth)
        .await;

    // The guard and its admin API: right, wrong and missing tokens; a kill switch on and off;
    // admits well-formed and not.
    let admin = format!("{base}/api/v1/admin");
    for (token, want) in [
        (Some(admin_token), 200),
        (Some("wrong-token"), 401),
        (None, 401),
    ] {
        let mut r = c
            .get(format!("{admin}/state"))
            .basic_auth("prometheus", Some(&basic_password));
        if let Some(t) = token {
            r = r.header("X-Launchguard-Admin-Token", t);
        }
        let res = r.send().await.unwrap();
        assert_eq!(res.status().as_u16(), want, "admin state with {token:?}");
        seen.0.push_str(&res.text().await.unwrap());
    }
    for method in [reqwest::Method::PUT, reqwest::Method::DELETE] {
        let res = c
            .request(method.clone(), format!("{admin}/kill-switches/global"))
            .basic_auth("prometheus", Some(&basic_password))
            .header("X-Launchguard-Admin-Token", admin_token)
            .json(&serde_json::json!({"note": "secrets test"}))
            .send()
            .await
            .unwrap();
        assert!(
            res.status().is_success(),
            "{method} kill switch: {}",
            res.status()
        );
        seen.0.push_str(&res.text().await.unwrap());
    }
    for (body, token) in [
        (
            r#"{"client_id":"c1","kind":"ai","provider":"anthropic","model":"m","input_tokens":10,"output_tokens":10}"#,
            caller_token,
        ),
        ("{not json", caller_token),
        (r#"{"kind":"teleport"}"#, caller_token),
        (r#"{"client_id":"c1","kind":"api"}"#, caller_token),
        (r#"{"client_id":"c1","kind":"api"}"#, "caller-token-wrong"),
    ] {
        let res = c
            .post(format!("{base}/api/v1/guard/admit"))
            .basic_auth("prometheus", Some(&basic_password))
            .header("X-Launchguard-Caller-Token", token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        seen.0.push_str(&format!("admit -> {}\n", res.status()));
        seen.0.push_str(&res.text().await.unwrap());
    }

    // 2. The database goes away, then comes back.
    pg.stop();
    wait_metric(down).await;
    every_endpoint(&mut seen, &c, &base, auth, false).await;
    pg.start_again();
    wait_metric(up).await;

    // 3. A wrong database password (from the environment).
    write(
        &cfg,
        "database:\n  url: ${WRONG_DB_URL}\n  interval: 1s\n  timeout: 5s\n",
    );
    wait_metric(down).await;
    every_endpoint(&mut seen, &c, &base, auth, false).await;

    // 4. A URL that does not parse, with a password inside.
    // Up first: a source logs one line per failure, not one per retry.
    write(&cfg, &good);
    wait_metric(up).await;
    write(
        &cfg,
        "database:\n  url: ${MALFORMED_DB_URL}\n  interval: 1s\n  timeout: 5s\n",
    );
    wait_metric(down).await;
    every_endpoint(&mut seen, &c, &base, auth, false).await;

    // 5. A config that writes the URL literally is refused (file change and SIGHUP).
    let literal =
        format!("database:\n  url: postgres://launchguard_reader:{literal_secret}@127.0.0.1/x\n");
    write(&cfg, &literal);
    tokio::time::sleep(Duration::from_millis(800)).await;
    ex.signal("HUP");
    tokio::time::sleep(Duration::from_millis(500)).await;
    every_endpoint(&mut seen, &c, &base, auth, false).await;

    // 6. Back to the good config: recovery.
    write(&cfg, &good);
    wait_metric(up).await;
    every_endpoint(&mut seen, &c, &base, auth, false).await;

    let logs = ex.logs();
    drop(ex);

    // 7. check --connect, good and bad, and a bad config.
    let mut check_out = String::new();
    for (env_url, text) in [
        (url.as_str(), "database:\n  url: ${DB}\n"),
        (wrong_url.as_str(), "database:\n  url: ${DB}\n"),
        (malformed_url.as_str(), "database:\n  url: ${DB}\n"),
        (url.as_str(), literal.as_str()),
    ] {
        let f = dir.path().join("check.yaml");
        std::fs::write(&f, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_launchguard"))
            .args(["check", "--connect", "--config"])
            .arg(&f)
            .env("DB", env_url)
            .env("RUST_LOG", "debug")
            .output()
            .unwrap();
        check_out.push_str(&String::from_utf8_lossy(&out.stdout));
        check_out.push_str(&String::from_utf8_lossy(&out.stderr));
    }

    // The failure paths really ran (so the absence below means something).
    assert!(logs.contains("source down"), "{logs}");
    assert!(logs.contains("config reload failed"), "{logs}");
    assert!(logs.contains("password authentication failed"), "{logs}");
    assert!(
        logs.contains("not a valid PostgreSQL connection string"),
        "{logs}"
    );
    assert!(
        seen.0.contains("-> 401") && seen.0.contains("-> 400"),
        "{}",
        seen.0
    );
    assert!(
        seen.0.contains("launchguard_source_up"),
        "metrics were read"
    );
    assert!(
        check_out.contains("secrets are never written in the config"),
        "{check_out}"
    );

    secrets.assert_absent("the logs", &logs);
    secrets.assert_absent("the responses and metrics", &seen.0);
    secrets.assert_absent("check's output", &check_out);
}
