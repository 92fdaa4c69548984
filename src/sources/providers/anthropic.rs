//! Anthropic Admin API: `usage_report/messages` (tokens per model and UTC day, cache classes
//! apart) and `cost_report` (amounts in cents as decimal strings, converted to USD here).

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderValue};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;

use super::figures::{DailyStore, ProviderFigures, token, utc_day_start};
use super::http::secret_header;
use super::json::{AnswerError, rfc3339, usd_from_cents};
use super::pagination::Page;
use super::reports::{DailyReports, Days, Report, add_costs, report_url};
use super::{Ctx, Provider};
use crate::config::ProviderName;
use crate::sources::SourceError;

/// The API version header value the legacy report endpoints are documented with.
pub const API_VERSION: &str = "2023-06-01";
/// Day buckets per page: the documented maximum for `bucket_width=1d`. No end is sent: the
/// report runs to now, and days past the fetched range are ignored by the store.
const PAGE_LIMIT: &str = "31";

/// Tokens of one model on one UTC day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageItem {
    pub day: DateTime<Utc>,
    pub model: String,
    pub uncached_input: u64,
    pub cache_read: u64,
    pub cache_write_5m: u64,
    pub cache_write_1h: u64,
    pub output: u64,
}

/// Cost of one model (or non-token cost type) on one UTC day, in USD.
#[derive(Debug, Clone, PartialEq)]
pub struct CostItem {
    pub day: DateTime<Utc>,
    pub model: String,
    pub usd: Decimal,
}

#[derive(Deserialize)]
struct RawPage<B> {
    data: Vec<B>,
    #[serde(default)]
    has_more: Option<bool>,
    #[serde(default)]
    next_page: Option<String>,
}

#[derive(Deserialize)]
struct RawBucket<R> {
    starting_at: String,
    #[serde(default = "Option::default")]
    results: Option<Vec<R>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawCacheCreation {
    ephemeral_1h_input_tokens: Option<u64>,
    ephemeral_5m_input_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawUsage {
    uncached_input_tokens: Option<u64>,
    cache_creation: Option<RawCacheCreation>,
    cache_read_input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    // The flat form one third-party schema shows; the official one is nested.
    cache_creation_5m_input_tokens: Option<u64>,
    cache_creation_1h_input_tokens: Option<u64>,
    model: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawCost {
    amount: Option<Value>,
    currency: Option<String>,
    cost_type: Option<String>,
    model: Option<String>,
}

/// Label of rows without a model.
pub const NO_MODEL: &str = "unknown";

/// Parses one page of `usage_report/messages`. Missing or null counts are zero; unknown
/// fields are ignored; a bucket without a readable `starting_at` is an error.
pub fn parse_usage(body: &[u8]) -> Result<Page<UsageItem>, AnswerError> {
    let raw: RawPage<RawBucket<RawUsage>> = serde_json::from_slice(body)?;
    let mut items = Vec::new();
    for b in raw.data {
        let day = utc_day_start(rfc3339(&b.starting_at)?);
        for r in b.results.unwrap_or_default() {
            let cc = r.cache_creation.unwrap_or_default();
            items.push(UsageItem {
                day,
                model: r.model.unwrap_or_else(|| NO_MODEL.into()),
                uncached_input: r.uncached_input_tokens.unwrap_or(0),
                cache_read: r.cache_read_input_tokens.unwrap_or(0),
                cache_write_5m: cc
                    .ephemeral_5m_input_tokens
                    .or(r.cache_creation_5m_input_tokens)
                    .unwrap_or(0),
                cache_write_1h: cc
                    .ephemeral_1h_input_tokens
                    .or(r.cache_creation_1h_input_tokens)
                    .unwrap_or(0),
                output: r.output_tokens.unwrap_or(0),
            });
        }
    }
    Ok(Page {
        items,
        has_more: raw.has_more.unwrap_or(false),
        next_page: raw.next_page,
    })
}

/// Parses one page of `cost_report`: `amount` is in cents; rows with no model (web search,
/// code execution) are labelled by their cost type.
pub fn parse_cost(body: &[u8]) -> Result<Page<CostItem>, AnswerError> {
    let raw: RawPage<RawBucket<RawCost>> = serde_json::from_slice(body)?;
    let mut items = Vec::new();
    for b in raw.data {
        let day = utc_day_start(rfc3339(&b.starting_at)?);
        for r in b.results.unwrap_or_default() {
            if let Some(c) = r.currency.as_deref()
                && !c.eq_ignore_ascii_case("usd")
            {
                return Err(AnswerError::Currency(c.to_string()));
            }
            let amount = r
                .amount
                .as_ref()
                .filter(|v| !v.is_null())
                .ok_or(AnswerError::Missing("amount"))?;
            items.push(CostItem {
                day,
                model: r.model.or(r.cost_type).unwrap_or_else(|| NO_MODEL.into()),
                usd: usd_from_cents(amount)?,
            });
        }
    }
    Ok(Page {
        items,
        has_more: raw.has_more.unwrap_or(false),
        next_page: raw.next_page,
    })
}

/// Sums parsed items into UTC days.
pub fn into_days(usage: Vec<UsageItem>, cost: Vec<CostItem>) -> Result<Days, AnswerError> {
    let mut days = Days::new();
    for u in usage {
        let d = days.entry(u.day).or_default();
        d.add_tokens(&u.model, token::INPUT, u.uncached_input);
        d.add_tokens(&u.model, token::CACHE_READ, u.cache_read);
        d.add_tokens(&u.model, token::CACHE_WRITE_5M, u.cache_write_5m);
        d.add_tokens(&u.model, token::CACHE_WRITE_1H, u.cache_write_1h);
        d.add_tokens(&u.model, token::OUTPUT, u.output);
    }
    add_costs(
        &mut days,
        cost.iter().map(|c| (c.day, c.model.as_str(), c.usd)),
    )?;
    Ok(days)
}

/// The Anthropic source's state: the month's days.
#[derive(Default)]
pub struct Anthropic {
    store: tokio::sync::Mutex<DailyStore>,
}

fn url(
    base: &str,
    path: &str,
    from: DateTime<Utc>,
    group_by: &str,
) -> Result<reqwest::Url, SourceError> {
    let starting_at = from.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    report_url(
        base,
        path,
        &[
            ("starting_at", &starting_at),
            ("bucket_width", "1d"),
            ("limit", PAGE_LIMIT),
            ("group_by[]", group_by),
        ],
    )
}

const REPORTS: DailyReports<UsageItem, CostItem> = DailyReports {
    usage: Report {
        path: "/v1/organizations/usage_report/messages",
        group_by: "model",
        what: "the usage report",
        parse: parse_usage,
    },
    cost: Report {
        path: "/v1/organizations/cost_report",
        group_by: "description",
        what: "the cost report",
        parse: parse_cost,
    },
    url,
    into_days,
};

impl Provider for Anthropic {
    const NAME: ProviderName = ProviderName::Anthropic;
    const KEY_HINT: &'static str = "an Admin API key (sk-ant-admin...) is needed: Claude Console, Settings, Admin keys; an ordinary API key cannot read usage";

    async fn poll(&self, ctx: &Ctx<'_>) -> Result<ProviderFigures, SourceError> {
        let mut headers = HeaderMap::new();
        let (k, v) = secret_header("x-api-key", ctx.key.expose())?;
        headers.insert(k, v);
        headers.insert("anthropic-version", HeaderValue::from_static(API_VERSION));

        REPORTS
            .poll(ctx, &self.store, &headers, Self::NAME.as_str())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    const USAGE: &str = r#"{
      "data": [{
        "starting_at": "2025-08-01T00:00:00Z", "ending_at": "2025-08-02T00:00:00Z",
        "results": [{
          "uncached_input_tokens": 1500,
          "cache_creation": {"ephemeral_1h_input_tokens": 1000, "ephemeral_5m_input_tokens": 500},
          "cache_read_input_tokens": 200, "output_tokens": 500,
          "server_tool_use": {"web_search_requests": 10},
          "api_key_id": "apikey_01Rj2N8SVvo6BePZj99NhmiT", "workspace_id": "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
          "model": "claude-sonnet-4-20250514", "service_tier": "standard", "context_window": "0-200k",
          "inference_geo": "global"
        }]
      }],
      "has_more": true, "next_page": "page_MjAyNS0wNS0xNFQwMDowMDowMFo="
    }"#;

    const COST: &str = r#"{
      "data": [{
        "starting_at": "2025-08-01T00:00:00Z", "ending_at": "2025-08-02T00:00:00Z",
        "results": [
          {"amount": "123.78912", "currency": "USD", "cost_type": "tokens", "context_window": "0-200k",
           "description": "Claude Sonnet 4 Usage - Input Tokens", "model": "claude-sonnet-4-20250514",
           "service_tier": "standard", "token_type": "uncached_input_tokens", "workspace_id": "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"},
          {"amount": "50", "currency": "USD", "cost_type": "web_search", "context_window": null,
           "description": "Web Search Usage", "model": null, "service_tier": null, "token_type": null, "workspace_id": null}
        ]
      }],
      "has_more": false, "next_page": null
    }"#;

    #[test]
    fn documented_usage_example() {
        let p = parse_usage(USAGE.as_bytes()).unwrap();
        assert!(p.has_more);
        assert_eq!(
            p.next_page.as_deref(),
            Some("page_MjAyNS0wNS0xNFQwMDowMDowMFo=")
        );
        assert_eq!(
            p.items,
            vec![UsageItem {
                day: "2025-08-01T00:00:00Z".parse().unwrap(),
                model: "claude-sonnet-4-20250514".into(),
                uncached_input: 1500,
                cache_read: 200,
                cache_write_5m: 500,
                cache_write_1h: 1000,
                output: 500,
            }]
        );
    }

    #[test]
    fn documented_cost_example_in_dollars() {
        let p = parse_cost(COST.as_bytes()).unwrap();
        assert!(!p.has_more);
        let total: Decimal = p.items.iter().map(|c| c.usd).sum();
        assert_eq!(total, dec!(1.7378912));
        assert_eq!(p.items[1].model, "web_search");
    }

    #[test]
    fn null_missing_and_wrong_fields() {
        let p = parse_usage(br#"{"data":[{"starting_at":"2025-08-01T00:00:00Z","results":[{"model":null,"output_tokens":null}]},{"starting_at":"2025-08-02T00:00:00Z","results":null}]}"#).unwrap();
        assert_eq!(p.items.len(), 1);
        assert_eq!(
            (p.items[0].model.as_str(), p.items[0].output),
            (NO_MODEL, 0)
        );
        assert!(!p.has_more);
        let e = parse_usage(br#"{"has_more":false}"#).unwrap_err();
        assert!(matches!(e, AnswerError::Shape(_)), "{e:?}");
        assert!(e.to_string().contains("data"), "{e}");
        let e = parse_usage(br#"{"data":[{"results":[]}]}"#).unwrap_err();
        assert!(e.to_string().contains("starting_at"), "{e}");
        let e = parse_usage(br#"{"data":[{"starting_at":"yesterday","results":[]}]}"#).unwrap_err();
        assert_eq!(e.to_string(), "`yesterday` is not an RFC 3339 time");
        assert!(parse_usage(br#"{"data":[{"starting_at":"2025-08-01T00:00:00Z","results":[{"output_tokens":-5}]}]}"#).is_err());
        let e = parse_cost(
            br#"{"data":[{"starting_at":"2025-08-01T00:00:00Z","results":[{"amount":null}]}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "a cost row has no amount");
        let e = parse_cost(br#"{"data":[{"starting_at":"2025-08-01T00:00:00Z","results":[{"amount":"5","currency":"EUR"}]}]}"#).unwrap_err();
        assert_eq!(e.to_string(), "cost in EUR, expected USD");
    }
}
