//! The "done when": a multi-page, cache-heavy fake month from every provider, read
//! through the real provider sources, with the ledger read by the real Supabase source from a
//! throwaway PostgreSQL, must give the hand-computed table below to the cent, and drift for
//! every provider with both sides present.
//!
//! The config's time zone is Europe/Berlin (UTC+1 in November) and the ledger holds rows in
//! the hour between local and UTC midnight, so a drift compared over local days instead of the
//! providers' UTC days would be off and fail.
//!
//! Needs postgresql-15 and postgresql-15-cron (see tests/it/common/pg.rs).

use crate::common::fake_providers as fake;
use crate::common::pg;

use std::sync::Arc;

use fake::*;
use launchguard::config::SecretRef;
use launchguard::metrics::encode::Exposition;
use launchguard::sources::providers::figures::{Period, ProviderFigures};
use launchguard::sources::providers::{
    Anthropic, ElevenLabs, OpenAi, OpenRouter, Provider, ProviderSource,
};
use launchguard::sources::supabase::Supabase;
use launchguard::sources::supabase::ledger_ranges::LedgerRequests;
use launchguard::state::{Collected, ReloadStatus};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::Value;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer};

const SONNET: &str = "claude-sonnet-4-20250514";
const HAIKU: &str = "claude-3-5-haiku-20241022";
const GPT: &str = "gpt-4o-2024-08-06";

/// Mounts `pages` (first page without `page`, the others with the previous cursor) on `p`.
async fn mount_pages(server: &MockServer, p: &str, pages: Vec<Value>) {
    for (i, body) in pages.into_iter().enumerate() {
        let m = Mock::given(method("GET")).and(path(p));
        let m = if i == 0 {
            m.and(query_param_is_missing("page"))
        } else {
            m.and(query_param("page", format!("{p}#{}", i + 1)))
        };
        m.respond_with(ok(body)).expect(1).mount(server).await;
    }
}

fn cursor(p: &str, page: usize, last: usize) -> Option<String> {
    (page < last).then(|| format!("{p}#{}", page + 1))
}

/// d x `per_day` written as a plain decimal literal.
fn times(per_day: &str, d: u32) -> String {
    (per_day.parse::<Decimal>().unwrap() * Decimal::from(d))
        .normalize()
        .to_string()
}

/// Anthropic, days 1..=20, cache-heavy:
///   sonnet per day d: uncached 100,000d, cache read 2,000,000d, 5m writes 200,000d,
///     1h writes 50,000d, output 80,000d; cost (cents) 30d + 60d + 75d + 30d + 120d = 315d
///   haiku per day d: uncached 10,000d, cache read 500,000d, output 5,000d;
///     cost (cents) 0.8d + 4d + 2d = 6.8d
///   web search: 12.5 cents a day; code execution: "123.78912" cents on the 7th only.
/// Usage comes in three pages (1-7, 8-14, 15-20), cost in two (1-10, 11-20).
async fn mount_anthropic(server: &MockServer) {
    let usage_day = |d: u32| {
        let n = u64::from(d);
        (
            day(d),
            vec![
                anthropic_usage_row(
                    SONNET,
                    100_000 * n,
                    2_000_000 * n,
                    200_000 * n,
                    50_000 * n,
                    80_000 * n,
                ),
                anthropic_usage_row(HAIKU, 10_000 * n, 500_000 * n, 0, 0, 5_000 * n),
            ],
        )
    };
    let usage_pages: Vec<Vec<u32>> =
        vec![(1..=7).collect(), (8..=14).collect(), (15..=20).collect()];
    let n = usage_pages.len();
    let bodies = usage_pages
        .into_iter()
        .enumerate()
        .map(|(i, days)| {
            let c = cursor(ANTHROPIC_USAGE, i + 1, n);
            anthropic_page(days.into_iter().map(usage_day).collect(), c.as_deref())
        })
        .collect();
    mount_pages(server, ANTHROPIC_USAGE, bodies).await;

    let cost_day = |d: u32| {
        let mut rows = vec![
            anthropic_cost_row(
                Some(SONNET),
                "tokens",
                Some("uncached_input_tokens"),
                &times("30", d),
            ),
            anthropic_cost_row(
                Some(SONNET),
                "tokens",
                Some("cache_read_input_tokens"),
                &times("60", d),
            ),
            anthropic_cost_row(
                Some(SONNET),
                "tokens",
                Some("cache_creation.ephemeral_5m_input_tokens"),
                &times("75", d),
            ),
            anthropic_cost_row(
                Some(SONNET),
                "tokens",
                Some("cache_creation.ephemeral_1h_input_tokens"),
                &times("30", d),
            ),
            anthropic_cost_row(
                Some(SONNET),
                "tokens",
                Some("output_tokens"),
                &times("120", d),
            ),
            anthropic_cost_row(
                Some(HAIKU),
                "tokens",
                Some("uncached_input_tokens"),
                &times("0.8", d),
            ),
            anthropic_cost_row(
                Some(HAIKU),
                "tokens",
                Some("cache_read_input_tokens"),
                &times("4", d),
            ),
            anthropic_cost_row(Some(HAIKU), "tokens", Some("output_tokens"), &times("2", d)),
            anthropic_cost_row(None, "web_search", None, "12.5"),
        ];
        if d == 7 {
            rows.push(anthropic_cost_row(
                None,
                "code_execution",
                None,
                "123.78912",
            ));
        }
        (day(d), rows)
    };
    let cost_pages: Vec<Vec<u32>> = vec![(1..=10).collect(), (11..=20).collect()];
    let bodies = cost_pages
        .into_iter()
        .enumerate()
        .map(|(i, days)| {
            let c = cursor(ANTHROPIC_COST, i + 1, 2);
            anthropic_page(days.into_iter().map(cost_day).collect(), c.as_deref())
        })
        .collect();
    mount_pages(server, ANTHROPIC_COST, bodies).await;
}

/// OpenAI, days 1..=20: input_tokens 50,000d of which 30,000d cached, output 10,000d; costs
/// per line item $0.07d input, $0.0375d cached input, $0.10d output (JSON number literals).
/// Usage in two pages (1-10, 11-20), costs in three (1-7, 8-14, 15-20).
async fn mount_openai(server: &MockServer) {
    let usage_day = |d: u32| {
        let n = u64::from(d);
        (
            day(d),
            vec![openai_usage_row(
                GPT,
                50_000 * n,
                30_000 * n,
                10_000 * n,
                10 * n,
            )],
        )
    };
    let pages: Vec<Vec<u32>> = vec![(1..=10).collect(), (11..=20).collect()];
    let bodies = pages
        .into_iter()
        .enumerate()
        .map(|(i, days)| {
            let c = cursor(OPENAI_USAGE, i + 1, 2);
            openai_page(days.into_iter().map(usage_day).collect(), c.as_deref())
        })
        .collect();
    mount_pages(server, OPENAI_USAGE, bodies).await;

    let cost_day = |d: u32| {
        (
            day(d),
            vec![
                openai_cost_row(&format!("{GPT}, input"), &times("0.07", d)),
                openai_cost_row(&format!("{GPT}, cached input"), &times("0.0375", d)),
                openai_cost_row(&format!("{GPT}, output"), &times("0.1", d)),
            ],
        )
    };
    let pages: Vec<Vec<u32>> = vec![(1..=7).collect(), (8..=14).collect(), (15..=20).collect()];
    let bodies = pages
        .into_iter()
        .enumerate()
        .map(|(i, days)| {
            let c = cursor(OPENAI_COSTS, i + 1, 3);
            openai_page(days.into_iter().map(cost_day).collect(), c.as_deref())
        })
        .collect();
    mount_pages(server, OPENAI_COSTS, bodies).await;
}

async fn mount_running_totals(server: &MockServer) {
    for (p, body) in [
        (
            OPENROUTER_KEY,
            openrouter_key(1.25, 7.5, 30.75, Some(100.0), Some(69.25)),
        ),
        (OPENROUTER_CREDITS, openrouter_credits(150.5, 80.125)),
        (
            ELEVENLABS_SUBSCRIPTION,
            elevenlabs_subscription(
                123_456,
                500_000,
                Some("2026-12-05T08:00:00Z".parse().unwrap()),
            ),
        ),
    ] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(ok(body))
            .mount(server)
            .await;
    }
}

/// The ledger: (occurred_at, provider, model, input, cache_read, output, characters, cost_usd).
/// Rows marked (!) fall between UTC and Berlin midnight.
type LedgerRow = (
    &'static str,
    &'static str,
    &'static str,
    i64,
    i64,
    i64,
    i64,
    Option<&'static str>,
);

#[rustfmt::skip]
const LEDGER: &[LedgerRow] = &[
    ("2026-11-20T10:00:00Z", "anthropic", SONNET, 0, 0, 0, 0, Some("60.00")),
    ("2026-11-19T23:30:00Z", "anthropic", SONNET, 0, 0, 0, 0, Some("5.00")), // (!) UTC 19th, Berlin 20th
    ("2026-11-19T12:00:00Z", "anthropic", SONNET, 0, 0, 0, 0, Some("52.00")),
    ("2026-11-10T12:00:00Z", "anthropic", HAIKU, 0, 0, 0, 0, Some("520.00")),
    ("2026-10-31T23:30:00Z", "anthropic", SONNET, 0, 0, 0, 0, Some("7.00")), // (!) UTC October, Berlin November
    // Priced from the table (OpenAI defaults: $10 in, $1 cache read, $30 out per 1M): 1.00 + 0.30 + 2.70.
    ("2026-11-20T09:00:00Z", "openai", GPT, 100_000, 300_000, 90_000, 0, None),
    ("2026-11-05T12:00:00Z", "openai", GPT, 0, 0, 0, 0, Some("37.00")),
    ("2026-11-20T08:00:00Z", "openrouter", "openai/gpt-4.1", 0, 0, 0, 0, Some("1.00")),
    ("2026-11-17T12:00:00Z", "openrouter", "openai/gpt-4.1", 0, 0, 0, 0, Some("5.00")),
    ("2026-11-15T23:30:00Z", "openrouter", "openai/gpt-4.1", 0, 0, 0, 0, Some("0.50")), // (!) UTC Sunday, Berlin Monday
    ("2026-11-02T12:00:00Z", "openrouter", "openai/gpt-4.1", 0, 0, 0, 0, Some("20.00")),
    // ElevenLabs' billing period starts 2026-11-05T08:00Z (a month before the next reset).
    ("2026-11-05T07:00:00Z", "elevenlabs", "eleven_multilingual_v2", 0, 0, 0, 10_000, None),
    ("2026-11-05T09:00:00Z", "elevenlabs", "eleven_multilingual_v2", 0, 0, 0, 100_000, None),
    ("2026-11-20T12:00:00Z", "elevenlabs", "eleven_multilingual_v2", 0, 0, 0, 11_110, None),
    // No usage API: ledger only, never a drift.
    ("2026-11-20T11:00:00Z", "gemini", "gemini-2.5-flash", 1_000_000, 0, 0, 0, None),
    ("2026-11-20T11:00:00Z", "perplexity", "sonar", 0, 0, 0, 0, Some("0.25")),
];

fn insert_ledger(pg: &pg::TestPg) {
    let values: Vec<String> = LEDGER
        .iter()
        .map(|(at, p, m, input, cache_read, output, chars, cost)| {
            format!(
                "('{at}', '{p}', '{m}', {input}, {cache_read}, {output}, {chars}, {})",
                cost.map_or("null".to_string(), |c| c.to_string())
            )
        })
        .collect();
    pg.psql_query(&format!(
        "insert into public.ai_usage_events (occurred_at, provider, model, input_tokens, cache_read_tokens, \
         output_tokens, characters, cost_usd) values {}",
        values.join(", ")
    ));
}

async fn poll<P: Provider>(
    cfg: &launchguard::config::Config,
    ledger: &Arc<LedgerRequests>,
) -> ProviderFigures {
    ProviderSource::<P>::new()
        .with_ledger_requests(ledger.clone())
        .poll_at(cfg, now())
        .await
        .unwrap_or_else(|e| panic!("{:?}: {e}", P::NAME))
}

fn value(e: &Exposition, name: &str, labels: &[(&str, &str)]) -> f64 {
    e.get(name, labels)
        .unwrap_or_else(|| panic!("{name} {labels:?} is not exported"))
}

/// Equal to the cent, and to floating-point noise beyond it.
fn assert_usd(e: &Exposition, name: &str, labels: &[(&str, &str)], want: f64) {
    let got = value(e, name, labels);
    assert!(
        (got - want).abs() < 1e-9,
        "{name} {labels:?}: {got} != {want}"
    );
}

fn assert_ratio(e: &Exposition, provider: &str, period: &str, want: f64) {
    let got = value(
        e,
        "launchguard_ledger_drift_ratio",
        &[("provider", provider), ("period", period)],
    );
    assert!(
        (got - want).abs() < 1e-12,
        "drift {provider} {period}: {got} != {want}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fake_month_matches_the_hand_computed_table() {
    let pg = pg::TestPg::start();
    insert_ledger(&pg);
    let server = MockServer::start().await;
    mount_anthropic(&server).await;
    mount_openai(&server).await;
    mount_running_totals(&server).await;

    let keys = Keys::new();
    let mut cfg = keys.config(&server.uri());
    cfg.timezone = "Europe/Berlin".parse().unwrap();
    let url_file = keys.file("database_url");
    std::fs::write(&url_file, pg.reader_url()).unwrap();
    cfg.database.url = SecretRef::File(url_file);

    let ledger = Arc::new(LedgerRequests::default());
    let anthropic = poll::<Anthropic>(&cfg, &ledger).await;
    let openai = poll::<OpenAi>(&cfg, &ledger).await;
    let openrouter = poll::<OpenRouter>(&cfg, &ledger).await;
    let elevenlabs = poll::<ElevenLabs>(&cfg, &ledger).await;

    // The provider side, exactly (Decimal, no float).
    assert_eq!(
        anthropic.cost(Period::Month),
        Some(dec!(679.5178912)),
        "67,828 + 123.78912 cents"
    );
    assert_eq!(
        anthropic.cost(Period::Day),
        Some(dec!(64.485)),
        "321.8 x 20 + 12.5 cents"
    );
    assert_eq!(
        anthropic.cost(Period::Yesterday),
        Some(dec!(61.267)),
        "321.8 x 19 + 12.5 cents"
    );
    assert_eq!(
        openai.cost(Period::Month),
        Some(dec!(43.575)),
        "0.2075 x 210"
    );
    assert_eq!(openai.cost(Period::Day), Some(dec!(4.15)));
    assert_eq!(openai.cost(Period::Yesterday), Some(dec!(3.9425)));
    assert_eq!(openrouter.cost(Period::Week), Some(dec!(7.5)));

    let db = Supabase::new()
        .with_ledger_requests(ledger.clone())
        .collect_once(&cfg, now())
        .await
        .expect("the ledger is read");
    let mut c = Collected {
        figures: launchguard::figures::Figures::with_db(db),
        ..Collected::default()
    };
    for f in [anthropic, openai, openrouter, elevenlabs] {
        c.figures.providers.insert(f.provider, f);
    }
    let a = launchguard::core::assess::assess(
        &cfg,
        &c.figures,
        &launchguard::core::controls::FounderControls::default(),
        now(),
    );
    let e = launchguard::metrics::snapshot::build(
        &cfg,
        &c,
        &a,
        ReloadStatus {
            ok: true,
            last_success: now(),
        },
    );

    // Tokens (sum of d over 1..=20 is 210).
    let tok = |p: &str, m: &str, ty: &str, period: &str| {
        value(
            &e,
            "launchguard_provider_tokens",
            &[
                ("provider", p),
                ("model", m),
                ("type", ty),
                ("period", period),
            ],
        )
    };
    let table: &[(&str, &str, &str, &str, f64)] = &[
        ("anthropic", SONNET, "input", "month", 21_000_000.0),
        ("anthropic", SONNET, "cache_read", "month", 420_000_000.0),
        ("anthropic", SONNET, "cache_write_5m", "month", 42_000_000.0),
        ("anthropic", SONNET, "cache_write_1h", "month", 10_500_000.0),
        ("anthropic", SONNET, "output", "month", 16_800_000.0),
        ("anthropic", HAIKU, "input", "month", 2_100_000.0),
        ("anthropic", HAIKU, "cache_read", "month", 105_000_000.0),
        ("anthropic", HAIKU, "output", "month", 1_050_000.0),
        ("anthropic", SONNET, "cache_read", "day", 40_000_000.0),
        (
            "anthropic",
            SONNET,
            "cache_write_1h",
            "yesterday",
            950_000.0,
        ),
        ("openai", GPT, "input", "month", 4_200_000.0),
        ("openai", GPT, "cache_read", "month", 6_300_000.0),
        ("openai", GPT, "output", "month", 2_100_000.0),
        ("openai", GPT, "input", "day", 400_000.0),
    ];
    for (p, m, ty, period, want) in table {
        assert_eq!(tok(p, m, ty, period), *want, "{p} {m} {ty} {period}");
    }

    // Cost per model (line item for OpenAI) and period.
    let cost = |p: &'static str, m: &'static str, period: &'static str| {
        [("provider", p), ("model", m), ("period", period)]
    };
    let table: &[([(&str, &str); 3], f64)] = &[
        (cost("anthropic", SONNET, "month"), 661.50),
        (cost("anthropic", HAIKU, "month"), 14.28),
        (cost("anthropic", "web_search", "month"), 2.50),
        (cost("anthropic", "code_execution", "month"), 1.2378912),
        (cost("anthropic", SONNET, "day"), 63.00),
        (cost("anthropic", HAIKU, "day"), 1.36),
        (cost("anthropic", "web_search", "day"), 0.125),
        (cost("anthropic", SONNET, "yesterday"), 59.85),
        (cost("openai", "gpt-4o-2024-08-06, input", "month"), 14.70),
        (
            cost("openai", "gpt-4o-2024-08-06, cached input", "month"),
            7.875,
        ),
        (cost("openai", "gpt-4o-2024-08-06, output", "month"), 21.00),
        (cost("openai", "gpt-4o-2024-08-06, output", "day"), 2.00),
        (cost("openrouter", "all", "day"), 1.25),
        (cost("openrouter", "all", "week"), 7.50),
        (cost("openrouter", "all", "month"), 30.75),
    ];
    for (labels, want) in table {
        assert_usd(&e, "launchguard_provider_cost_usd", labels, *want);
    }

    // Balances and quota.
    assert_usd(&e, "launchguard_openrouter_key_limit_usd", &[], 100.0);
    assert_usd(
        &e,
        "launchguard_openrouter_key_limit_remaining_usd",
        &[],
        69.25,
    );
    assert_usd(
        &e,
        "launchguard_openrouter_credits_purchased_usd",
        &[],
        150.5,
    );
    assert_usd(
        &e,
        "launchguard_openrouter_credits_remaining_usd",
        &[],
        70.375,
    );
    assert_eq!(
        value(&e, "launchguard_elevenlabs_characters_used", &[]),
        123_456.0
    );
    assert_eq!(
        value(&e, "launchguard_elevenlabs_characters_limit", &[]),
        500_000.0
    );
    assert_eq!(
        value(
            &e,
            "launchguard_elevenlabs_characters_reset_timestamp_seconds",
            &[]
        ),
        1_796_457_600.0
    );

    // The ledger side over the providers' UTC periods (not Berlin's days).
    let side = |p: &'static str, period: &'static str| [("provider", p), ("period", period)];
    let ledger_side: &[([(&str, &str); 2], f64)] = &[
        (side("anthropic", "day"), 60.00),
        (side("anthropic", "yesterday"), 57.00),
        (side("anthropic", "month"), 637.00),
        (side("openai", "day"), 4.00),
        (side("openai", "yesterday"), 0.00),
        (side("openai", "month"), 41.00),
        (side("openrouter", "day"), 1.00),
        (side("openrouter", "week"), 6.00),
        (side("openrouter", "month"), 26.50),
    ];
    for (labels, want) in ledger_side {
        assert_usd(&e, "launchguard_ledger_compared_cost_usd", labels, *want);
    }
    assert_eq!(
        value(
            &e,
            "launchguard_ledger_compared_characters",
            &side("elevenlabs", "billing_period")
        ),
        111_110.0
    );
    // ... while the core's ledger metrics follow the local (Berlin) day and month.
    assert_usd(&e, "launchguard_cost_usd", &side("anthropic", "day"), 65.00);
    assert_usd(
        &e,
        "launchguard_cost_usd",
        &side("anthropic", "month"),
        644.00,
    );

    // Drift = (provider - ledger) / provider, for every provider with both sides.
    assert_ratio(&e, "anthropic", "day", 4.485 / 64.485);
    assert_ratio(&e, "anthropic", "yesterday", 4.267 / 61.267);
    assert_ratio(&e, "anthropic", "month", 42.5178912 / 679.5178912);
    assert_ratio(&e, "openai", "day", 0.15 / 4.15);
    assert_ratio(&e, "openai", "yesterday", 1.0);
    assert_ratio(&e, "openai", "month", 2.575 / 43.575);
    assert_ratio(&e, "openrouter", "day", 0.2);
    assert_ratio(&e, "openrouter", "week", 0.2);
    assert_ratio(&e, "openrouter", "month", 4.25 / 30.75);
    assert_ratio(&e, "elevenlabs", "billing_period", 12_346.0 / 123_456.0);
    assert_usd(
        &e,
        "launchguard_ledger_drift_usd",
        &side("anthropic", "month"),
        42.5178912,
    );
    assert_usd(
        &e,
        "launchguard_ledger_drift_usd",
        &side("openai", "month"),
        2.575,
    );
    for p in ["gemini", "perplexity"] {
        assert_eq!(
            e.get("launchguard_ledger_drift_ratio", &[("provider", p)]),
            None,
            "{p} has no usage API"
        );
    }
    // Every page was read exactly once (the mocks' `expect(1)` are checked when the server drops).
    drop(server);
}
