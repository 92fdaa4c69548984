//! /metrics serves a cached body (metrics/served.rs): it must still show a guard decision on
//! the very next scrape, serve gzip only to scrapers that ask, and keep its content type.
//! A real guard (in-process store) behind the real router, over HTTP on loopback.

use std::io::Read;
use std::sync::Arc;

use launchguard::config::{Config, SecretRef};
use launchguard::state::Shared;

const CALLER_TOKEN: &str = "scrape-test-caller-token-0123456789";

struct Server {
    shared: Arc<Shared>,
    base: String,
    plain: reqwest::Client,
}

async fn start(dir: &std::path::Path) -> Server {
    let token = dir.join("caller_token");
    std::fs::write(&token, CALLER_TOKEN).unwrap();
    let mut cfg = Config::default();
    cfg.guard.enabled = true;
    cfg.guard.caller_token = SecretRef::File(token);
    cfg.guard.state_file = dir.join("guard-state.json");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shared = Shared::new(cfg, chrono::Utc::now());
    shared.publish(chrono::Utc::now());
    let guard = launchguard::guard::Guard::open(shared.clone(), Some(addr))
        .await
        .unwrap();
    let app = launchguard::http::router_with(shared.clone(), Some(guard), None);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server {
        shared,
        base: format!("http://{addr}"),
        // Without reqwest's own gzip handling, to see what is on the wire.
        plain: reqwest::Client::builder().no_gzip().build().unwrap(),
    }
}

impl Server {
    async fn scrape(&self, gzip: bool) -> reqwest::Response {
        let mut r = self.plain.get(format!("{}/metrics", self.base));
        if gzip {
            r = r.header("accept-encoding", "gzip");
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 200);
        r
    }

    async fn text(&self) -> String {
        self.scrape(false).await.text().await.unwrap()
    }

    /// (decision, reason) of one admit.
    async fn admit(&self, client: &str) -> (String, String) {
        let body = format!(
            r#"{{"client_id":"{client}","kind":"ai","provider":"anthropic","model":"claude-sonnet-4-5","estimate":{{"input_tokens":1000,"output_tokens":0}}}}"#
        );
        let r = self
            .plain
            .post(format!("{}/api/v1/guard/admit", self.base))
            .bearer_auth(CALLER_TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let j: serde_json::Value = r.json().await.unwrap();
        (
            j["decision"].as_str().expect("decision").to_string(),
            j["reason"].as_str().expect("reason").to_string(),
        )
    }
}

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admit_shows_on_the_very_next_scrape() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    // The first scrape builds the cached body; the same scrape again serves it unchanged.
    let first = s.text().await;
    assert!(first.ends_with("# EOF\n"), "{first}");
    assert_eq!(first.matches("# EOF").count(), 1, "{first}");
    assert!(
        first.contains("# TYPE launchguard_guard_decisions counter"),
        "{first}"
    );
    assert_eq!(s.text().await, first);

    // Back to back, well within one second: each admit must show at once, not at the next
    // refresh of the clock-dependent gauges.
    for i in 1..=20 {
        let (decision, reason) = s.admit("scrape-client").await;
        let text = s.text().await;
        let series = format!(
            r#"launchguard_guard_decisions_total{{decision="{decision}",reason="{reason}"}}"#
        );
        assert_eq!(
            sample(&text, &series),
            Some(f64::from(i)),
            "admit {i} ({decision}, {reason}) not counted in the next scrape:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_only_when_asked_and_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    s.admit("gzip-client").await;

    let r = s.scrape(true).await;
    let h = r.headers().clone();
    let zipped = r.bytes().await.unwrap();
    let plain = s.scrape(false).await;
    let ph = plain.headers().clone();
    let plain = plain.bytes().await.unwrap();

    assert_eq!(h["content-encoding"], "gzip");
    assert_eq!(h["vary"], "accept-encoding");
    assert!(ph.get("content-encoding").is_none(), "{ph:?}");
    assert_eq!(ph["vary"], "accept-encoding");
    for headers in [&h, &ph] {
        assert_eq!(
            headers["content-type"],
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
    }
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&zipped[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(
        String::from_utf8(unzipped).unwrap(),
        String::from_utf8(plain.to_vec()).unwrap()
    );
    assert!(
        zipped.len() * 2 < plain.len(),
        "{} of {}",
        zipped.len(),
        plain.len()
    );

    // gzip refused with q=0, or another coding only: the plain body.
    for ae in ["gzip;q=0", "br", "identity"] {
        let r = s
            .plain
            .get(format!("{}/metrics", s.base))
            .header("accept-encoding", ae)
            .send()
            .await
            .unwrap();
        assert!(r.headers().get("content-encoding").is_none(), "{ae}");
        assert_eq!(r.bytes().await.unwrap(), plain, "{ae}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_publication_shows_on_the_next_scrape() {
    use launchguard::guard::admin::{FounderControls, KillKey};
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let global = r#"launchguard_guard_kill_switch{scope="global",target=""}"#;
    assert_eq!(sample(&s.text().await, global), Some(0.0));
    // The founder's switches come with the publication (set_controls republishes at once).
    let mut c = FounderControls::default();
    c.set_kill(KillKey::Global, chrono::Utc::now(), "");
    s.shared.set_controls(c, chrono::Utc::now());
    assert_eq!(sample(&s.text().await, global), Some(1.0));
}
