//! Wiremock fakes of the provider APIs in their documented shapes (../shared/providers.md),
//! test keys kept in files (no environment mutation), and a config pointing at the fake with
//! waits short enough for tests.
#![allow(dead_code)]

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use launchguard::config::{Config, Dur, ProviderConfig, ProviderName, SecretRef};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The instant every poll of these tests happens at: a Friday, the 20th of the month.
pub fn now() -> DateTime<Utc> {
    "2026-11-20T15:00:00Z".parse().unwrap()
}

pub fn day(d: u32) -> DateTime<Utc> {
    format!("2026-11-{d:02}T00:00:00Z").parse().unwrap()
}

pub const ANTHROPIC_USAGE: &str = "/v1/organizations/usage_report/messages";
pub const ANTHROPIC_COST: &str = "/v1/organizations/cost_report";
pub const OPENAI_USAGE: &str = "/v1/organization/usage/completions";
pub const OPENAI_COSTS: &str = "/v1/organization/costs";
pub const OPENROUTER_KEY: &str = "/api/v1/key";
pub const OPENROUTER_CREDITS: &str = "/api/v1/credits";
pub const ELEVENLABS_SUBSCRIPTION: &str = "/v1/user/subscription";

/// Test keys: distinctive, so a leak anywhere is found by a plain substring search.
pub fn key(p: ProviderName) -> &'static str {
    match p {
        ProviderName::Anthropic => "sk-ant-admin01-LEAKCANARY-anthropic-7f3a9c",
        ProviderName::OpenAi => "sk-admin-LEAKCANARY-openai-51d2e8",
        ProviderName::OpenRouter => "sk-or-v1-LEAKCANARY-openrouter-0b77aa",
        ProviderName::ElevenLabs => "LEAKCANARY-elevenlabs-93c1f0",
    }
}

pub const MANAGEMENT_KEY: &str = "sk-or-v1-LEAKCANARY-management-4e42d1";

/// Every key the tests configure.
pub fn all_keys() -> Vec<&'static str> {
    let mut v: Vec<_> = ProviderName::ALL.iter().map(|p| key(*p)).collect();
    v.push(MANAGEMENT_KEY);
    v
}

/// Key files in a temporary folder, read through `file:` references.
pub struct Keys {
    dir: tempfile::TempDir,
}

impl Keys {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for p in ProviderName::ALL {
            std::fs::write(dir.path().join(p.as_str()), format!("{}\n", key(p))).unwrap();
        }
        std::fs::write(dir.path().join("management"), MANAGEMENT_KEY).unwrap();
        Keys { dir }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A provider config reaching `base`, with short waits: every retry in milliseconds.
    pub fn provider(&self, p: ProviderName, base: &str) -> ProviderConfig {
        ProviderConfig {
            key: Some(SecretRef::File(self.file(p.as_str()))),
            management_key: (p == ProviderName::OpenRouter)
                .then(|| SecretRef::File(self.file("management"))),
            base_url: Some(base.to_string()),
            timeout: Dur(std::time::Duration::from_millis(800)),
            collect_timeout: Dur::from_secs(10),
            max_response_bytes: 64 * 1024,
            max_pages: 5,
            retries: 2,
            backoff: Dur(std::time::Duration::from_millis(10)),
            max_backoff: Dur::from_secs(2),
            ..ProviderConfig::default()
        }
    }

    /// A config with every provider pointing at `base`.
    pub fn config(&self, base: &str) -> Config {
        let mut c = Config::default();
        c.providers.anthropic = self.provider(ProviderName::Anthropic, base);
        c.providers.openai = self.provider(ProviderName::OpenAi, base);
        c.providers.openrouter = self.provider(ProviderName::OpenRouter, base);
        c.providers.elevenlabs = self.provider(ProviderName::ElevenLabs, base);
        c
    }
}

fn rfc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

// --- Anthropic ---------------------------------------------------------------------------------

/// One usage result row (the documented nested cache_creation form).
pub fn anthropic_usage_row(
    model: &str,
    uncached: u64,
    cache_read: u64,
    write_5m: u64,
    write_1h: u64,
    output: u64,
) -> Value {
    json!({
        "uncached_input_tokens": uncached,
        "cache_creation": {"ephemeral_1h_input_tokens": write_1h, "ephemeral_5m_input_tokens": write_5m},
        "cache_read_input_tokens": cache_read,
        "output_tokens": output,
        "server_tool_use": {"web_search_requests": 0},
        "api_key_id": null, "workspace_id": null,
        "model": model, "service_tier": "standard", "context_window": "0-200k",
        "inference_geo": "global", "account_id": null, "service_account_id": null
    })
}

/// One cost result row; `cents` is the decimal string in cents.
pub fn anthropic_cost_row(
    model: Option<&str>,
    cost_type: &str,
    token_type: Option<&str>,
    cents: &str,
) -> Value {
    json!({
        "amount": cents, "currency": "USD", "cost_type": cost_type,
        "context_window": model.map(|_| "0-200k"),
        "description": format!("{} {}", model.unwrap_or("Web Search"), token_type.unwrap_or("Usage")),
        "model": model, "service_tier": model.map(|_| "standard"),
        "token_type": token_type, "workspace_id": null, "inference_geo": null
    })
}

/// A page of day buckets; `next` is the cursor of the following page.
pub fn anthropic_page(buckets: Vec<(DateTime<Utc>, Vec<Value>)>, next: Option<&str>) -> Value {
    let data: Vec<Value> = buckets
        .into_iter()
        .map(|(d, results)| {
            json!({"starting_at": rfc(d), "ending_at": rfc(d + Duration::days(1)), "results": results})
        })
        .collect();
    json!({"data": data, "has_more": next.is_some(), "next_page": next})
}

// --- OpenAI ------------------------------------------------------------------------------------

pub fn openai_usage_row(model: &str, input: u64, cached: u64, output: u64, requests: u64) -> Value {
    json!({
        "object": "organization.usage.completions.result",
        "input_tokens": input, "output_tokens": output, "input_cached_tokens": cached,
        "input_audio_tokens": 0, "output_audio_tokens": 0, "num_model_requests": requests,
        "project_id": null, "user_id": null, "api_key_id": null,
        "model": model, "batch": null, "service_tier": null
    })
}

/// A cost row; `usd` is written into the JSON as a number literal with exactly this text.
pub fn openai_cost_row(line_item: &str, usd: &str) -> Value {
    let amount: Value = serde_json::from_str(usd).unwrap();
    json!({
        "object": "organization.costs.result",
        "amount": {"value": amount, "currency": "usd"},
        "line_item": line_item, "project_id": null
    })
}

pub fn openai_page(buckets: Vec<(DateTime<Utc>, Vec<Value>)>, next: Option<&str>) -> Value {
    let data: Vec<Value> = buckets
        .into_iter()
        .map(|(d, results)| {
            json!({"object": "bucket", "start_time": d.timestamp(),
                   "end_time": (d + Duration::days(1)).timestamp(), "results": results})
        })
        .collect();
    json!({"object": "page", "data": data, "has_more": next.is_some(), "next_page": next})
}

// --- OpenRouter and ElevenLabs ------------------------------------------------------------------

pub fn openrouter_key(
    daily: f64,
    weekly: f64,
    monthly: f64,
    limit: Option<f64>,
    remaining: Option<f64>,
) -> Value {
    json!({"data": {
        "label": "sk-or-v1-au7...890", "limit": limit, "limit_remaining": remaining,
        "limit_reset": "monthly", "include_byok_in_limit": false,
        "usage": monthly + 100.0, "usage_daily": daily, "usage_weekly": weekly, "usage_monthly": monthly,
        "byok_usage": 0, "byok_usage_daily": 0, "byok_usage_weekly": 0, "byok_usage_monthly": 0,
        "is_free_tier": false, "is_management_key": false, "is_provisioning_key": false,
        "creator_user_id": "user_2dHFtVWx2n56w6HkM0000000000", "expires_at": null,
        "rate_limit": {"requests": 1000, "interval": "1h", "note": "This field is deprecated and safe to ignore."}
    }})
}

pub fn openrouter_credits(total: f64, used: f64) -> Value {
    json!({"data": {"total_credits": total, "total_usage": used}})
}

pub fn elevenlabs_subscription(count: u64, limit: u64, reset: Option<DateTime<Utc>>) -> Value {
    json!({
        "tier": "creator", "character_count": count, "character_limit": limit,
        "max_character_limit_extension": 0, "max_credit_limit_extension": 0,
        "can_extend_character_limit": false, "allowed_to_extend_character_limit": false,
        "next_character_count_reset_unix": reset.map(|t| t.timestamp()),
        "voice_slots_used": 1, "professional_voice_slots_used": 0, "voice_limit": 30,
        "voice_add_edit_counter": 0, "professional_voice_limit": 1, "can_extend_voice_limit": false,
        "can_use_instant_voice_cloning": true, "can_use_professional_voice_cloning": true,
        "current_overage": {"amount": "0", "currency": "usd"}, "status": "active",
        "currency": "usd", "billing_period": "monthly_period", "character_refresh_period": "monthly_period",
        "open_invoices": [], "has_open_invoices": false, "next_invoice": null
    })
}

// --- mounting ----------------------------------------------------------------------------------

pub fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// Mounts one-page good answers on every provider endpoint (priority 10, so a test's own
/// mocks at a higher priority win).
pub async fn mount_good(server: &MockServer) {
    let today = day(20);
    let routes: Vec<(&str, Value)> = vec![
        (
            ANTHROPIC_USAGE,
            anthropic_page(
                vec![(
                    today,
                    vec![anthropic_usage_row(
                        "claude-sonnet-4-20250514",
                        10,
                        100,
                        5,
                        1,
                        20,
                    )],
                )],
                None,
            ),
        ),
        (
            ANTHROPIC_COST,
            anthropic_page(
                vec![(
                    today,
                    vec![anthropic_cost_row(
                        Some("claude-sonnet-4-20250514"),
                        "tokens",
                        Some("output_tokens"),
                        "150",
                    )],
                )],
                None,
            ),
        ),
        (
            OPENAI_USAGE,
            openai_page(
                vec![(
                    today,
                    vec![openai_usage_row("gpt-4o-2024-08-06", 100, 40, 10, 1)],
                )],
                None,
            ),
        ),
        (
            OPENAI_COSTS,
            openai_page(
                vec![(
                    today,
                    vec![openai_cost_row("gpt-4o-2024-08-06, input", "0.25")],
                )],
                None,
            ),
        ),
        (
            OPENROUTER_KEY,
            openrouter_key(1.0, 2.0, 3.0, Some(10.0), Some(7.0)),
        ),
        (OPENROUTER_CREDITS, openrouter_credits(20.0, 5.0)),
        (
            ELEVENLABS_SUBSCRIPTION,
            elevenlabs_subscription(100, 1000, Some("2026-12-05T08:00:00Z".parse().unwrap())),
        ),
    ];
    for (p, body) in routes {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(ok(body))
            .with_priority(10)
            .mount(server)
            .await;
    }
}

/// The endpoint a provider's faults are injected on (its first request).
pub fn main_path(p: ProviderName) -> &'static str {
    match p {
        ProviderName::Anthropic => ANTHROPIC_USAGE,
        ProviderName::OpenAi => OPENAI_USAGE,
        ProviderName::OpenRouter => OPENROUTER_KEY,
        ProviderName::ElevenLabs => ELEVENLABS_SUBSCRIPTION,
    }
}
