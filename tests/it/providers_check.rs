//! `launchguard check --connect` says for each provider whether it was reached, authenticated
//! and read, or why not, in plain words; a provider without a key is `off`, not a failure.

use crate::common::fake_providers as fake;

use fake::*;
use launchguard::config::ProviderName;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_connect_reports_each_provider() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(ELEVENLABS_SUBSCRIPTION))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "detail": {"status": "invalid_api_key", "message": "Invalid API key"}
        })))
        .with_priority(1)
        .mount(&server)
        .await;
    mount_good(&server).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    let keys = Keys::new();
    let provider = |p: ProviderName, base: &str| {
        format!(
            "  {}:\n    key: file:{}\n    base_url: {base}\n    timeout: 800ms\n    backoff: 10ms\n    retries: 1\n",
            p.as_str(),
            keys.file(p.as_str()).display()
        )
    };
    let yaml = format!(
        "database:\n  url: ${{LAUNCHGUARD_TEST_UNSET_DB_URL}}\nproviders:\n{}{}  openrouter:\n    key: ${{LAUNCHGUARD_TEST_UNSET_OPENROUTER}}\n{}",
        provider(ProviderName::Anthropic, &server.uri()),
        provider(ProviderName::OpenAi, &format!("http://127.0.0.1:{closed}")),
        provider(ProviderName::ElevenLabs, &server.uri()),
    );
    let cfg_path = keys.file("launchguard.yaml");
    std::fs::write(&cfg_path, yaml).unwrap();

    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_launchguard"))
            .args(["check", "--connect", "--config"])
            .arg(&cfg_path)
            .env_remove("LAUNCHGUARD_TEST_UNSET_DB_URL")
            .env_remove("LAUNCHGUARD_TEST_UNSET_OPENROUTER")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a configured provider is down:\n{stdout}\n{stderr}"
    );

    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no line for {name}:\n{stdout}"))
            .to_string()
    };
    let a = line("anthropic");
    assert!(
        a.contains(" ok ") && a.contains("reached, authenticated, figures read"),
        "{a}"
    );
    let o = line("openai");
    assert!(
        o.contains(" down ")
            && o.contains(&format!("not reached: cannot reach 127.0.0.1:{closed}")),
        "{o}"
    );
    let r = line("openrouter");
    assert!(
        r.contains(" off ") && r.contains("${LAUNCHGUARD_TEST_UNSET_OPENROUTER} is not set"),
        "{r}"
    );
    let e = line("elevenlabs");
    assert!(
        e.contains(" down ") && e.contains("reached, but the key was refused"),
        "{e}"
    );
    assert!(
        e.contains("HTTP 401") && e.contains("Invalid API key") && e.contains("API keys"),
        "{e}"
    );
    for k in all_keys() {
        assert!(
            !stdout.contains(k) && !stderr.contains(k),
            "a key was printed:\n{stdout}\n{stderr}"
        );
    }
}
