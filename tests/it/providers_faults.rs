//! Every provider client against wiremock fakes of its documented API, with the faults the
//! issue lists: refused keys, 429 with Retry-After, 5xx then success, slowness, oversize
//! bodies, malformed JSON, odd fields, pagination traps and revised buckets.

use crate::common::fake_providers as fake;

use std::time::{Duration, Instant};

use fake::*;
use launchguard::config::{Config, ProviderName};
use launchguard::sources::SourceError;
use launchguard::sources::providers::figures::{Period, ProviderFigures};
use launchguard::sources::providers::{
    Anthropic, ElevenLabs, OpenAi, OpenRouter, Provider, ProviderSource,
};
use rust_decimal_macros::dec;
use serde_json::json;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn poll_with<P: Provider>(
    src: &ProviderSource<P>,
    cfg: &Config,
) -> Result<ProviderFigures, SourceError> {
    src.poll_at(cfg, now()).await
}

async fn poll(p: ProviderName, cfg: &Config) -> Result<ProviderFigures, SourceError> {
    match p {
        ProviderName::Anthropic => poll_with(&ProviderSource::<Anthropic>::new(), cfg).await,
        ProviderName::OpenAi => poll_with(&ProviderSource::<OpenAi>::new(), cfg).await,
        ProviderName::OpenRouter => poll_with(&ProviderSource::<OpenRouter>::new(), cfg).await,
        ProviderName::ElevenLabs => poll_with(&ProviderSource::<ElevenLabs>::new(), cfg).await,
    }
}

/// A fake with good answers everywhere plus `fault` on the provider's first endpoint.
async fn faulty(p: ProviderName, fault: ResponseTemplate, times: Option<u64>) -> MockServer {
    let server = MockServer::start().await;
    let mut m = Mock::given(method("GET"))
        .and(path(main_path(p)))
        .respond_with(fault)
        .with_priority(1);
    if let Some(n) = times {
        m = m.up_to_n_times(n);
    }
    m.mount(&server).await;
    mount_good(&server).await;
    server
}

fn assert_reason(
    p: ProviderName,
    r: &Result<ProviderFigures, SourceError>,
    reason: &str,
    words: &str,
) {
    match r {
        Ok(f) => panic!("{p:?}: expected a {reason} error, got figures {f:?}"),
        Err(e) => {
            assert_eq!(e.reason, reason, "{p:?}: {e}");
            assert!(e.message.contains(words), "{p:?}: `{words}` not in: {e}");
        }
    }
}

async fn hits(server: &MockServer, p: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == p)
        .count()
}

#[tokio::test]
async fn refused_keys_are_auth_errors_with_a_hint() {
    let keys = Keys::new();
    for p in ProviderName::ALL {
        for status in [401, 403] {
            let body = json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}});
            let server = faulty(p, ResponseTemplate::new(status).set_body_json(body), None).await;
            let r = poll(p, &keys.config(&server.uri())).await;
            assert_reason(p, &r, "auth", "refused the key for");
            let e = r.unwrap_err();
            assert!(e.message.contains(&format!("HTTP {status}")), "{e}");
            assert!(e.message.contains("invalid x-api-key"), "{e}");
            // Refused keys are not retried.
            assert_eq!(hits(&server, main_path(p)).await, 1, "{p:?}");
        }
    }
}

#[tokio::test]
async fn rate_limit_honours_retry_after_then_succeeds() {
    let keys = Keys::new();
    for p in ProviderName::ALL {
        let server = faulty(
            p,
            ResponseTemplate::new(429).insert_header("retry-after", "1"),
            Some(1),
        )
        .await;
        let started = Instant::now();
        let r = poll(p, &keys.config(&server.uri())).await;
        assert!(r.is_ok(), "{p:?}: {r:?}");
        // The backoff alone is milliseconds: only Retry-After explains a wait of a second.
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "{p:?} did not wait"
        );
        assert_eq!(hits(&server, main_path(p)).await, 2, "{p:?}");
    }
}

#[tokio::test]
async fn retry_after_as_an_http_date() {
    let keys = Keys::new();
    let p = ProviderName::OpenRouter;
    let at = chrono::Utc::now() + chrono::Duration::seconds(2);
    let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let server = faulty(
        p,
        ResponseTemplate::new(429).insert_header("retry-after", date.as_str()),
        Some(1),
    )
    .await;
    let started = Instant::now();
    assert!(poll(p, &keys.config(&server.uri())).await.is_ok());
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn retry_after_beyond_max_backoff_fails_at_once() {
    let keys = Keys::new();
    for p in ProviderName::ALL {
        let server = faulty(
            p,
            ResponseTemplate::new(429).insert_header("retry-after", "3600"),
            None,
        )
        .await;
        let r = poll(p, &keys.config(&server.uri())).await;
        assert_reason(p, &r, "rate_limited", "asked to wait 3600s");
        assert_eq!(hits(&server, main_path(p)).await, 1, "{p:?}");
    }
}

#[tokio::test]
async fn rate_limited_until_retries_run_out() {
    let keys = Keys::new();
    let p = ProviderName::ElevenLabs;
    let server = faulty(p, ResponseTemplate::new(429), None).await;
    let r = poll(p, &keys.config(&server.uri())).await;
    assert_reason(p, &r, "rate_limited", "after 3 attempts");
}

#[tokio::test]
async fn server_error_then_success() {
    let keys = Keys::new();
    for p in ProviderName::ALL {
        let server = faulty(p, ResponseTemplate::new(500), Some(1)).await;
        let r = poll(p, &keys.config(&server.uri())).await;
        assert!(r.is_ok(), "{p:?}: {r:?}");
        assert_eq!(hits(&server, main_path(p)).await, 2, "{p:?}");
    }
}

#[tokio::test]
async fn server_errors_until_retries_run_out() {
    let keys = Keys::new();
    for p in ProviderName::ALL {
        let server = faulty(p, ResponseTemplate::new(503), None).await;
        let r = poll(p, &keys.config(&server.uri())).await;
        assert_reason(p, &r, "http_status", "HTTP 503");
        assert!(r.unwrap_err().message.contains("after 3 attempts"));
        assert_eq!(hits(&server, main_path(p)).await, 3, "{p:?}");
    }
}

#[tokio::test]
async fn other_statuses_are_not_retried() {
    let keys = Keys::new();
    for p in ProviderName::ALL {
        let server = faulty(p, ResponseTemplate::new(404), None).await;
        let r = poll(p, &keys.config(&server.uri())).await;
        assert_reason(p, &r, "http_status", "HTTP 404");
        assert_eq!(hits(&server, main_path(p)).await, 1, "{p:?}");
    }
}

#[tokio::test]
async fn slower_than_the_timeout() {
    let keys = Keys::new();
    for p in ProviderName::ALL {
        let slow = ResponseTemplate::new(200)
            .set_body_json(json!({}))
            .set_delay(Duration::from_millis(1500));
        let server = faulty(p, slow, None).await;
        let started = Instant::now();
        let r = poll(p, &keys.config(&server.uri())).await;
        assert_reason(p, &r, "timeout", "did not answer");
        assert!(r.unwrap_err().message.contains("within 800ms"));
        // No retry after a timeout: one request timeout, not three.
        assert!(
            started.elapsed() < Duration::from_millis(2500),
            "{p:?}: waited too long"
        );
    }
}

#[tokio::test]
async fn body_over_the_cap() {
    let keys = Keys::new();
    for p in ProviderName::ALL {
        let big = format!("{{\"data\": \"{}\"}}", "x".repeat(100 * 1024));
        let server = faulty(
            p,
            ResponseTemplate::new(200).set_body_raw(big, "application/json"),
            None,
        )
        .await;
        let r = poll(p, &keys.config(&server.uri())).await;
        assert_reason(p, &r, "too_large", "max_response_bytes (65536 bytes)");
    }
}

/// A server that streams a chunked body forever, without Content-Length: only a cap applied
/// while reading stops it (a read-then-check client would hit the timeout instead).
#[tokio::test]
async fn endless_chunked_body_is_cut_at_the_cap() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("{:x}\r\n{}\r\n", 4096, " ".repeat(4096));
                while sock.write_all(chunk.as_bytes()).await.is_ok() {}
            });
        }
    });
    let keys = Keys::new();
    let cfg = keys.config(&format!("http://{addr}"));
    let r = poll(ProviderName::ElevenLabs, &cfg).await;
    assert_reason(
        ProviderName::ElevenLabs,
        &r,
        "too_large",
        "larger than max_response_bytes",
    );
}

#[tokio::test]
async fn malformed_json_and_html() {
    let keys = Keys::new();
    for p in ProviderName::ALL {
        for body in ["{\"data\": [", "<html><body>Bad gateway</body></html>", ""] {
            let server = faulty(
                p,
                ResponseTemplate::new(200).set_body_raw(body, "application/json"),
                None,
            )
            .await;
            let r = poll(p, &keys.config(&server.uri())).await;
            assert_reason(p, &r, "parse", "could not be read");
        }
    }
}

#[tokio::test]
async fn connection_refused() {
    let keys = Keys::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for p in ProviderName::ALL {
        let r = poll(p, &keys.config(&format!("http://127.0.0.1:{port}"))).await;
        assert_reason(p, &r, "connect", &format!("cannot reach 127.0.0.1:{port}"));
    }
}

#[tokio::test]
async fn missing_null_and_unknown_fields() {
    let keys = Keys::new();
    // Tolerated: nulls and missing counts are zero, unknown fields ignored.
    let cases: Vec<(ProviderName, serde_json::Value)> = vec![
        (
            ProviderName::Anthropic,
            json!({"data": [{"starting_at": "2026-11-20T00:00:00Z", "brand_new": {"x": 1},
                "results": [{"model": "claude-opus-4", "uncached_input_tokens": 7, "cache_creation": null,
                             "output_tokens": null, "speed": "fast"}]}],
                   "has_more": false}),
        ),
        (
            ProviderName::OpenAi,
            json!({"data": [{"start_time": day(20).timestamp(),
                "results": [{"model": null, "input_tokens": 9, "api_source": "responses"}]}]}),
        ),
        (
            ProviderName::OpenRouter,
            json!({"data": {"limit": null, "limit_remaining": null, "usage_daily": 2.5, "new_field": true}}),
        ),
        (
            ProviderName::ElevenLabs,
            json!({"character_count": 5, "character_limit": 50, "tier": null, "future": [1]}),
        ),
    ];
    for (p, body) in cases {
        let server = faulty(p, ok(body), None).await;
        let f = poll(p, &keys.config(&server.uri()))
            .await
            .unwrap_or_else(|e| panic!("{p:?}: {e}"));
        match p {
            ProviderName::Anthropic => {
                let m = &f.models[&("claude-opus-4".to_string(), Period::Day)];
                assert_eq!(m.tokens["input"], 7);
                assert_eq!(m.tokens["output"], 0);
                assert_eq!(m.tokens["cache_write_5m"], 0);
            }
            ProviderName::OpenAi => {
                let m = &f.models[&("unknown".to_string(), Period::Day)];
                assert_eq!(m.tokens["input"], 9);
            }
            ProviderName::OpenRouter => {
                assert_eq!(f.cost(Period::Day), Some(dec!(2.5)));
                assert_eq!(f.cost(Period::Month), None);
                assert_eq!(f.openrouter.as_ref().unwrap().key_limit_usd, None);
            }
            ProviderName::ElevenLabs => {
                let q = f.elevenlabs.as_ref().unwrap();
                assert_eq!(
                    (q.characters_used, q.characters_limit, q.next_reset),
                    (5, 50, None)
                );
                assert!(
                    f.compared.is_empty(),
                    "no reset time: no billing period to compare"
                );
            }
        }
    }
    // Not tolerated: a required field missing, a null where a number must be, a wrong type.
    let bad: Vec<(ProviderName, serde_json::Value, &str)> = vec![
        (
            ProviderName::Anthropic,
            json!({"has_more": false}),
            "missing field `data`",
        ),
        (
            ProviderName::Anthropic,
            json!({"data": [{"results": []}]}),
            "starting_at",
        ),
        (
            ProviderName::OpenAi,
            json!({"data": null}),
            "invalid type: null",
        ),
        (
            ProviderName::OpenRouter,
            json!({"data": {"usage_monthly": "a lot"}}),
            "not a decimal",
        ),
        (
            ProviderName::ElevenLabs,
            json!({"character_limit": 50}),
            "missing field `character_count`",
        ),
        (
            ProviderName::ElevenLabs,
            json!({"character_count": null, "character_limit": 50}),
            "invalid type: null",
        ),
    ];
    for (p, body, words) in bad {
        let server = faulty(p, ok(body), None).await;
        let r = poll(p, &keys.config(&server.uri())).await;
        assert_reason(p, &r, "parse", words);
    }
}

#[tokio::test]
async fn openrouter_management_key_is_sent_and_optional() {
    let keys = Keys::new();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(OPENROUTER_CREDITS))
        .and(wiremock::matchers::bearer_token(MANAGEMENT_KEY))
        .respond_with(ok(openrouter_credits(150.5, 80.125)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(OPENROUTER_KEY))
        .and(wiremock::matchers::bearer_token(key(
            ProviderName::OpenRouter,
        )))
        .respond_with(ok(openrouter_key(
            1.25,
            7.5,
            30.75,
            Some(100.0),
            Some(69.25),
        )))
        .mount(&server)
        .await;
    let mut cfg = keys.config(&server.uri());
    let f = poll(ProviderName::OpenRouter, &cfg).await.unwrap();
    let a = f.openrouter.unwrap();
    assert_eq!(a.credits_remaining_usd(), Some(dec!(70.375)));
    assert_eq!(a.key_limit_remaining_usd, Some(dec!(69.25)));
    // Without a management key the credits are simply not read.
    cfg.providers.openrouter.management_key = Some(launchguard::config::SecretRef::Env(
        "LAUNCHGUARD_TEST_UNSET_MGMT".into(),
    ));
    let f = poll(ProviderName::OpenRouter, &cfg).await.unwrap();
    assert_eq!(f.openrouter.unwrap().credits_purchased_usd, None);
}

#[tokio::test]
async fn headers_carry_the_keys_the_docs_name() {
    let keys = Keys::new();
    let server = MockServer::start().await;
    let expect = |p: &'static str| Mock::given(method("GET")).and(path(p));
    expect(ANTHROPIC_USAGE)
        .and(wiremock::matchers::header(
            "x-api-key",
            key(ProviderName::Anthropic),
        ))
        .and(wiremock::matchers::header(
            "anthropic-version",
            "2023-06-01",
        ))
        .and(query_param("bucket_width", "1d"))
        .and(query_param("group_by[]", "model"))
        .and(query_param("starting_at", "2026-11-01T00:00:00Z"))
        .respond_with(ok(anthropic_page(vec![], None)))
        .with_priority(1)
        .expect(1..)
        .mount(&server)
        .await;
    expect(OPENAI_USAGE)
        .and(wiremock::matchers::bearer_token(key(ProviderName::OpenAi)))
        .and(query_param("start_time", day(1).timestamp().to_string()))
        .and(query_param("group_by", "model"))
        .respond_with(ok(openai_page(vec![], None)))
        .with_priority(1)
        .expect(1..)
        .mount(&server)
        .await;
    expect(ELEVENLABS_SUBSCRIPTION)
        .and(wiremock::matchers::header(
            "xi-api-key",
            key(ProviderName::ElevenLabs),
        ))
        .respond_with(ok(elevenlabs_subscription(1, 2, None)))
        .with_priority(1)
        .expect(1..)
        .mount(&server)
        .await;
    mount_good(&server).await;
    let cfg = keys.config(&server.uri());
    for p in [
        ProviderName::Anthropic,
        ProviderName::OpenAi,
        ProviderName::ElevenLabs,
    ] {
        poll(p, &cfg).await.unwrap_or_else(|e| panic!("{p:?}: {e}"));
    }
}

// --- pagination --------------------------------------------------------------------------------

fn anthropic_days(days: &[u32]) -> Vec<(chrono::DateTime<chrono::Utc>, Vec<serde_json::Value>)> {
    days.iter()
        .map(|&d| {
            (
                day(d),
                vec![anthropic_usage_row(
                    "claude-sonnet-4-20250514",
                    1,
                    10,
                    0,
                    0,
                    2,
                )],
            )
        })
        .collect()
}

#[tokio::test]
async fn several_pages_are_followed() {
    let keys = Keys::new();
    let server = MockServer::start().await;
    let pages = [
        (None, Some("c2"), vec![1, 2]),
        (Some("c2"), Some("c3"), vec![3, 4]),
        (Some("c3"), None, vec![5]),
    ];
    for (cursor, next, days) in pages {
        let m = Mock::given(method("GET")).and(path(ANTHROPIC_USAGE));
        let m = match cursor {
            None => m.and(query_param_is_missing("page")),
            Some(c) => m.and(query_param("page", c)),
        };
        m.respond_with(ok(anthropic_page(anthropic_days(&days), next)))
            .with_priority(1)
            .expect(1)
            .mount(&server)
            .await;
    }
    let openai_pages = [(None, Some("o2"), 10), (Some("o2"), None, 20)];
    for (cursor, next, d) in openai_pages {
        let m = Mock::given(method("GET")).and(path(OPENAI_COSTS));
        let m = match cursor {
            None => m.and(query_param_is_missing("page")),
            Some(c) => m.and(query_param("page", c)),
        };
        let body = openai_page(
            vec![(day(d), vec![openai_cost_row("gpt-4o, input", "1.10")])],
            next,
        );
        m.respond_with(ok(body))
            .with_priority(1)
            .expect(1)
            .mount(&server)
            .await;
    }
    mount_good(&server).await;
    let cfg = keys.config(&server.uri());
    let f = poll(ProviderName::Anthropic, &cfg).await.unwrap();
    let m = &f.models[&("claude-sonnet-4-20250514".to_string(), Period::Month)];
    assert_eq!(
        (
            m.tokens["input"],
            m.tokens["cache_read"],
            m.tokens["output"]
        ),
        (5, 50, 10)
    );
    let f = poll(ProviderName::OpenAi, &cfg).await.unwrap();
    assert_eq!(f.cost(Period::Month), Some(dec!(2.20)));
    assert_eq!(f.cost(Period::Day), Some(dec!(1.10)));
}

#[tokio::test]
async fn repeated_cursor_missing_cursor_and_page_cap() {
    let keys = Keys::new();
    for p in [ProviderName::Anthropic, ProviderName::OpenAi] {
        let page = move |next: Option<&str>| match p {
            ProviderName::Anthropic => anthropic_page(anthropic_days(&[1]), next),
            _ => openai_page(vec![], next),
        };
        // has_more with the same cursor again and again.
        let server = faulty(p, ok(page(Some("same"))), None).await;
        let r = poll(p, &keys.config(&server.uri())).await;
        assert_reason(p, &r, "pagination", "same next_page cursor twice");
        assert_eq!(hits(&server, main_path(p)).await, 2);
        // has_more without a cursor.
        let mut body = page(None);
        body["has_more"] = json!(true);
        let server = faulty(p, ok(body), None).await;
        assert_reason(
            p,
            &poll(p, &keys.config(&server.uri())).await,
            "pagination",
            "next_page is missing",
        );
        // A new cursor on every page, forever: the page cap stops it.
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(main_path(p)))
            .respond_with(move |req: &wiremock::Request| {
                let n = req
                    .url
                    .query_pairs()
                    .find(|(k, _)| k == "page")
                    .map_or(0, |(_, v)| v.parse::<u32>().unwrap_or(0));
                ok(page(Some(&(n + 1).to_string())))
            })
            .with_priority(1)
            .mount(&server)
            .await;
        mount_good(&server).await;
        assert_reason(
            p,
            &poll(p, &keys.config(&server.uri())).await,
            "pagination",
            "more than max_pages (5)",
        );
        assert_eq!(hits(&server, main_path(p)).await, 5);
    }
}

// --- revisions ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_revised_bucket_replaces_the_old_one_on_the_next_poll() {
    let keys = Keys::new();
    let server = MockServer::start().await;
    let cfg = keys.config(&server.uri());
    let anthropic = ProviderSource::<Anthropic>::new();
    let openai = ProviderSource::<OpenAi>::new();

    let cost_rows = |cents: &str| {
        vec![anthropic_cost_row(
            Some("claude-sonnet-4-20250514"),
            "tokens",
            Some("output_tokens"),
            cents,
        )]
    };
    let mount = |a_costs: Vec<(u32, &'static str)>, o19: &'static str, tokens19: u64| {
        let server = &server;
        let a_costs: Vec<_> = a_costs
            .into_iter()
            .map(|(d, c)| (day(d), cost_rows(c)))
            .collect();
        async move {
            server.reset().await;
            Mock::given(method("GET"))
                .and(path(ANTHROPIC_COST))
                .respond_with(ok(anthropic_page(a_costs, None)))
                .mount(server)
                .await;
            Mock::given(method("GET"))
                .and(path(ANTHROPIC_USAGE))
                .respond_with(ok(anthropic_page(
                    vec![(
                        day(19),
                        vec![anthropic_usage_row(
                            "claude-sonnet-4-20250514",
                            tokens19,
                            0,
                            0,
                            0,
                            0,
                        )],
                    )],
                    None,
                )))
                .mount(server)
                .await;
            Mock::given(method("GET"))
                .and(path(OPENAI_COSTS))
                .respond_with(ok(openai_page(
                    vec![(day(19), vec![openai_cost_row("gpt-4o, input", o19)])],
                    None,
                )))
                .mount(server)
                .await;
            Mock::given(method("GET"))
                .and(path(OPENAI_USAGE))
                .respond_with(ok(openai_page(vec![], None)))
                .mount(server)
                .await;
        }
    };

    mount(vec![(5, "100"), (19, "250"), (20, "40.5")], "3.5", 1000).await;
    let a = poll_with(&anthropic, &cfg).await.unwrap();
    let o = poll_with(&openai, &cfg).await.unwrap();
    assert_eq!(a.cost(Period::Month), Some(dec!(3.905)));
    assert_eq!(o.cost(Period::Month), Some(dec!(3.5)));

    // The provider revises the 19th and the 20th. The 5th is outside the trailing window, so
    // the second poll does not ask for it: it is kept from the first poll, neither dropped nor
    // doubled.
    mount(vec![(19, "300"), (20, "80")], "4.25", 1500).await;
    let a = poll_with(&anthropic, &cfg).await.unwrap();
    let o = poll_with(&openai, &cfg).await.unwrap();
    assert_eq!(
        a.cost(Period::Month),
        Some(dec!(4.80)),
        "1.00 + 3.00 + 0.80, not added to the first poll's"
    );
    assert_eq!(a.cost(Period::Yesterday), Some(dec!(3.00)));
    assert_eq!(a.cost(Period::Day), Some(dec!(0.80)));
    let m = &a.models[&("claude-sonnet-4-20250514".to_string(), Period::Month)];
    assert_eq!(m.tokens["input"], 1500);
    assert_eq!(o.cost(Period::Month), Some(dec!(4.25)));

    // The second poll asked for the trailing window only (3 days: 18th to 20th).
    let reqs = server.received_requests().await.unwrap();
    let starts: Vec<String> = reqs
        .iter()
        .filter(|r| r.url.path() == ANTHROPIC_COST)
        .filter_map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "starting_at")
                .map(|(_, v)| v.into_owned())
        })
        .collect();
    assert_eq!(starts, vec!["2026-11-18T00:00:00Z".to_string()]);
}

// --- the runner: down with a reason, the rest keeps serving, recovery --------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_providers_are_down_and_the_exporter_keeps_serving() {
    use launchguard::sources;
    use launchguard::state::Shared;

    let keys = Keys::new();
    let server = MockServer::start().await;
    // Anthropic's key is refused, OpenRouter answers garbage, ElevenLabs is slow; OpenAI is fine.
    let faults = [
        (ANTHROPIC_USAGE, ResponseTemplate::new(401)),
        (
            OPENROUTER_KEY,
            ResponseTemplate::new(200).set_body_raw("not json", "application/json"),
        ),
        (
            ELEVENLABS_SUBSCRIPTION,
            ResponseTemplate::new(200).set_delay(Duration::from_millis(1500)),
        ),
    ];
    for (p, t) in faults {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(t)
            .with_priority(1)
            .mount(&server)
            .await;
    }
    // This test runs on the real clock: OpenAI's cost bucket is today's.
    let today = launchguard::sources::providers::figures::utc_day_start(chrono::Utc::now());
    Mock::given(method("GET"))
        .and(path(OPENAI_COSTS))
        .respond_with(ok(openai_page(
            vec![(
                today,
                vec![openai_cost_row("gpt-4o-2024-08-06, input", "0.25")],
            )],
            None,
        )))
        .with_priority(5)
        .mount(&server)
        .await;
    mount_good(&server).await;
    let mut cfg = keys.config(&server.uri());
    for pc in [
        &mut cfg.providers.anthropic,
        &mut cfg.providers.openai,
        &mut cfg.providers.openrouter,
        &mut cfg.providers.elevenlabs,
    ] {
        pc.interval = launchguard::config::Dur(Duration::from_millis(300));
    }
    let shared = Shared::new(cfg, chrono::Utc::now());
    let mut tasks = vec![
        tokio::spawn(sources::run(
            ProviderSource::<Anthropic>::new(),
            shared.clone(),
        )),
        tokio::spawn(sources::run(
            ProviderSource::<OpenAi>::new(),
            shared.clone(),
        )),
        tokio::spawn(sources::run(
            ProviderSource::<OpenRouter>::new(),
            shared.clone(),
        )),
        tokio::spawn(sources::run(
            ProviderSource::<ElevenLabs>::new(),
            shared.clone(),
        )),
    ];
    *shared.expected_sources.write().unwrap() =
        vec!["anthropic", "openai", "openrouter", "elevenlabs"];
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = launchguard::http::router(shared.clone());
    tasks.push(tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    }));

    let wait_until = |cond: Box<dyn Fn() -> bool + Send>| async move {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let s = shared.clone();
    wait_until(Box::new(move || s.ready())).await;
    shared.publish(chrono::Utc::now());
    let scrape = || async move {
        reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let text = scrape().await;
    for (src, up) in [
        ("anthropic", 0),
        ("openai", 1),
        ("openrouter", 0),
        ("elevenlabs", 0),
    ] {
        let line = format!("launchguard_source_up{{source=\"{src}\"}} {up}.0");
        assert!(text.contains(&line), "{line} missing:\n{text}");
    }
    for (src, reason) in [
        ("anthropic", "auth"),
        ("openrouter", "parse"),
        ("elevenlabs", "timeout"),
    ] {
        let line =
            format!("launchguard_source_errors_total{{source=\"{src}\",reason=\"{reason}\"}}");
        assert!(text.contains(&line), "{line} missing:\n{text}");
    }
    assert!(
        text.contains("launchguard_provider_cost_usd{provider=\"openai\",model=\"gpt-4o-2024-08-06, input\",period=\"month\"} 0.25"),
        "{text}"
    );
    let health = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    {
        let c = shared.collected.read().unwrap();
        let e = c.sources["anthropic"].last_error.as_deref().unwrap();
        assert!(
            e.contains("refused the key") && e.contains("Admin API key"),
            "{e}"
        );
    }

    // The faults go away: every source recovers by itself on its next poll.
    server.reset().await;
    mount_good(&server).await;
    let s = shared.clone();
    wait_until(Box::new(move || {
        let c = s.collected.read().unwrap();
        ["anthropic", "openai", "openrouter", "elevenlabs"]
            .iter()
            .all(|n| c.sources[n].up)
    }))
    .await;
    shared.publish(chrono::Utc::now());
    let text = scrape().await;
    assert!(
        text.contains("launchguard_source_up{source=\"anthropic\"} 1.0"),
        "{text}"
    );
    assert!(
        text.contains("launchguard_elevenlabs_characters_used 100.0"),
        "{text}"
    );
    for t in tasks {
        t.abort();
    }
}
