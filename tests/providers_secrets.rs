//! Every failure case of every provider, run through the real source runner with every log
//! line captured (TRACE, the HTTP stack's own logs included): no configured key may appear in
//! a log line, an error message, a `check` line or the metrics text, even when the fake echoes
//! the key back in its error bodies and in a field the parser rejects.

#[path = "it/common/fake_providers.rs"]
mod fake;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fake::*;
use launchguard::config::{Config, ProviderName};
use launchguard::sources::providers::{Anthropic, ElevenLabs, OpenAi, OpenRouter, ProviderSource};
use launchguard::sources::{self};
use launchguard::state::Shared;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The faults, each echoing the provider's key where a careless client would copy it.
fn faults(p: ProviderName) -> Vec<(&'static str, ResponseTemplate)> {
    let k = key(p);
    let echo = |status: u16| {
        ResponseTemplate::new(status).set_body_json(json!({"error": {"message": format!("invalid key {k}; Incorrect API key provided: {k}")}}))
    };
    // The key where the parser expects a number: serde quotes the offending value.
    let typed = match p {
        ProviderName::Anthropic => {
            json!({"data": [{"starting_at": "2026-11-20T00:00:00Z", "results": [{"output_tokens": k}]}]})
        }
        ProviderName::OpenAi => json!({"data": [{"start_time": k, "results": []}]}),
        ProviderName::OpenRouter => json!({"data": {"usage_daily": k}}),
        ProviderName::ElevenLabs => json!({"character_count": k, "character_limit": 1}),
    };
    let mut v = vec![
        ("401", echo(401)),
        ("403", echo(403)),
        ("429", echo(429).insert_header("retry-after", "0")),
        ("429-long", echo(429).insert_header("retry-after", "99999")),
        ("500", echo(500)),
        ("404", echo(404)),
        (
            "slow",
            ResponseTemplate::new(200).set_delay(Duration::from_millis(1500)),
        ),
        (
            "too-large",
            ResponseTemplate::new(200)
                .set_body_raw(format!("\"{}\"", k.repeat(3000)), "application/json"),
        ),
        (
            "malformed",
            ResponseTemplate::new(200)
                .set_body_raw(format!("{{\"data\": [\"{k}\""), "application/json"),
        ),
        ("typed", ok(typed)),
    ];
    if matches!(p, ProviderName::Anthropic | ProviderName::OpenAi) {
        let body = json!({"data": [], "has_more": true, "next_page": k});
        v.push(("repeated-cursor", ok(body)));
    }
    v
}

async fn run_once(p: ProviderName, cfg: Config) -> (Option<String>, String) {
    let shared = Shared::new(cfg, chrono::Utc::now());
    let task = match p {
        ProviderName::Anthropic => tokio::spawn(sources::run(
            ProviderSource::<Anthropic>::new(),
            shared.clone(),
        )),
        ProviderName::OpenAi => tokio::spawn(sources::run(
            ProviderSource::<OpenAi>::new(),
            shared.clone(),
        )),
        ProviderName::OpenRouter => tokio::spawn(sources::run(
            ProviderSource::<OpenRouter>::new(),
            shared.clone(),
        )),
        ProviderName::ElevenLabs => tokio::spawn(sources::run(
            ProviderSource::<ElevenLabs>::new(),
            shared.clone(),
        )),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let tried = shared
            .collected
            .read()
            .unwrap()
            .sources
            .get(p.as_str())
            .is_some_and(|s| s.tried);
        if tried {
            break;
        }
        assert!(Instant::now() < deadline, "{p:?} never finished a poll");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    shared.publish(chrono::Utc::now());
    let metrics = String::from_utf8(shared.published.read().unwrap().metrics.to_vec()).unwrap();
    let error = shared.collected.read().unwrap().sources[p.as_str()]
        .last_error
        .clone();
    (error, metrics)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_appears_in_logs_errors_check_lines_or_metrics() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .try_init()
        .expect("the only subscriber of this test binary");

    let keys = Keys::new();
    let mut texts: Vec<(String, String)> = Vec::new();
    let mut cases = 0;
    for p in ProviderName::ALL {
        for (name, fault) in faults(p) {
            let server = MockServer::start().await;
            Mock::given(method("GET"))
                .and(path(main_path(p)))
                .respond_with(fault)
                .with_priority(1)
                .mount(&server)
                .await;
            mount_good(&server).await;
            let cfg = keys.config(&server.uri());
            let (error, metrics) = run_once(p, cfg.clone()).await;
            let error = error.unwrap_or_else(|| panic!("{p:?} {name}: the poll did not fail"));
            texts.push((format!("{p:?} {name} error"), error));
            texts.push((format!("{p:?} {name} metrics"), metrics));
            let line = launchguard::sources::providers::check(&cfg)
                .await
                .into_iter()
                .find(|l| l.provider == p.as_str())
                .unwrap();
            assert_eq!(line.status, "down", "{p:?} {name}: {line:?}");
            texts.push((format!("{p:?} {name} check"), line.detail));
            cases += 1;
        }
        // Connection refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (error, metrics) = run_once(p, keys.config(&format!("http://127.0.0.1:{port}"))).await;
        texts.push((format!("{p:?} refused error"), error.unwrap()));
        texts.push((format!("{p:?} refused metrics"), metrics));
        cases += 1;
    }
    assert!(cases >= 40, "{cases} cases");

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    texts.push(("logs".into(), logs.clone()));

    for secret in all_keys() {
        for (what, text) in &texts {
            assert!(!text.contains(secret), "{what} holds a key:\n{text}");
            // Nor a long piece of one (a truncated echo).
            let piece = &secret[secret.len() - 16..];
            assert!(!text.contains(piece), "{what} holds part of a key:\n{text}");
        }
    }
    // The capture worked and holds the failures, with the echoed keys redacted in them.
    assert!(logs.contains("source down"), "{logs}");
    assert!(logs.contains("refused the key"), "{logs}");
    assert!(logs.contains("[redacted]"), "{logs}");
    assert!(
        logs.contains("retrying a provider request"),
        "retries are logged at debug"
    );
}
