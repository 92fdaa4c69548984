//! OpenAI organization API: `usage/completions` (tokens per model and UTC day; its
//! `input_tokens` include cached ones, split apart here) and `costs` (USD per line item).

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;

use super::figures::{DailyStore, ProviderFigures, token, utc_day_start};
use super::http::secret_header;
use super::json::{AnswerError, decimal, unix_seconds};
use super::pagination::Page;
use super::reports::{DailyReports, Days, Report, add_costs, report_url};
use super::{Ctx, Provider};
use crate::config::ProviderName;
use crate::sources::SourceError;

const PAGE_LIMIT: &str = "31";

/// Tokens of one model on one UTC day, in disjoint classes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageItem {
    pub day: DateTime<Utc>,
    pub model: String,
    pub uncached_input: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub output: u64,
    pub requests: u64,
}

/// Cost of one line item (e.g. `gpt-4o-2024-08-06, input`) on one UTC day, in USD.
#[derive(Debug, Clone, PartialEq)]
pub struct CostItem {
    pub day: DateTime<Utc>,
    pub line_item: String,
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
    start_time: i64,
    #[serde(default)]
    results: Option<Vec<R>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawUsage {
    input_tokens: Option<u64>,
    input_cached_tokens: Option<u64>,
    input_cache_write_tokens: Option<u64>,
    input_uncached_tokens: Option<u64>,
    output_tokens: Option<u64>,
    num_model_requests: Option<u64>,
    model: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawCost {
    amount: Option<RawAmount>,
    line_item: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawAmount {
    value: Option<Value>,
    currency: Option<String>,
}

/// Label of rows without a model or line item.
pub const NO_MODEL: &str = "unknown";

/// Parses one page of `usage/completions`. Cached input is taken out of `input_tokens`, so
/// the classes are disjoint like Anthropic's.
pub fn parse_usage(body: &[u8]) -> Result<Page<UsageItem>, AnswerError> {
    let raw: RawPage<RawBucket<RawUsage>> = serde_json::from_slice(body)?;
    let mut items = Vec::new();
    for b in raw.data {
        let day = utc_day_start(unix_seconds(b.start_time)?);
        for r in b.results.unwrap_or_default() {
            let input = r.input_tokens.unwrap_or(0);
            let cached = r.input_cached_tokens.unwrap_or(0);
            let write = r.input_cache_write_tokens.unwrap_or(0);
            let uncached = r
                .input_uncached_tokens
                .unwrap_or_else(|| input.saturating_sub(cached).saturating_sub(write));
            items.push(UsageItem {
                day,
                model: r.model.unwrap_or_else(|| NO_MODEL.into()),
                uncached_input: uncached,
                cache_read: cached,
                cache_write: write,
                output: r.output_tokens.unwrap_or(0),
                requests: r.num_model_requests.unwrap_or(0),
            });
        }
    }
    Ok(Page {
        items,
        has_more: raw.has_more.unwrap_or(false),
        next_page: raw.next_page,
    })
}

/// Parses one page of `costs`: `amount.value` is in dollars.
pub fn parse_costs(body: &[u8]) -> Result<Page<CostItem>, AnswerError> {
    let raw: RawPage<RawBucket<RawCost>> = serde_json::from_slice(body)?;
    let mut items = Vec::new();
    for b in raw.data {
        let day = utc_day_start(unix_seconds(b.start_time)?);
        for r in b.results.unwrap_or_default() {
            let a = r.amount.ok_or(AnswerError::Missing("amount"))?;
            if let Some(c) = a.currency.as_deref()
                && !c.eq_ignore_ascii_case("usd")
            {
                return Err(AnswerError::Currency(c.to_string()));
            }
            let v = a
                .value
                .as_ref()
                .filter(|v| !v.is_null())
                .ok_or(AnswerError::Missing("amount value"))?;
            items.push(CostItem {
                day,
                line_item: r.line_item.unwrap_or_else(|| NO_MODEL.into()),
                usd: decimal(v)?,
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
        if u.cache_write > 0 {
            d.add_tokens(&u.model, token::CACHE_WRITE, u.cache_write);
        }
        d.add_tokens(&u.model, token::OUTPUT, u.output);
    }
    add_costs(
        &mut days,
        cost.iter().map(|c| (c.day, c.line_item.as_str(), c.usd)),
    )?;
    Ok(days)
}

/// The OpenAI source's state: the month's days.
#[derive(Default)]
pub struct OpenAi {
    store: tokio::sync::Mutex<DailyStore>,
}

fn url(
    base: &str,
    path: &str,
    from: DateTime<Utc>,
    group_by: &str,
) -> Result<reqwest::Url, SourceError> {
    let start_time = from.timestamp().to_string();
    report_url(
        base,
        path,
        &[
            ("start_time", &start_time),
            ("bucket_width", "1d"),
            ("limit", PAGE_LIMIT),
            ("group_by", group_by),
        ],
    )
}

const REPORTS: DailyReports<UsageItem, CostItem> = DailyReports {
    usage: Report {
        path: "/v1/organization/usage/completions",
        group_by: "model",
        what: "the completions usage",
        parse: parse_usage,
    },
    cost: Report {
        path: "/v1/organization/costs",
        group_by: "line_item",
        what: "the costs",
        parse: parse_costs,
    },
    url,
    into_days,
};

impl Provider for OpenAi {
    const NAME: ProviderName = ProviderName::OpenAi;
    const KEY_HINT: &'static str = "an Admin key with read access to usage is needed: platform.openai.com, Settings, Organization, Admin keys; a project key (sk-proj-...) is refused";

    async fn poll(&self, ctx: &Ctx<'_>) -> Result<ProviderFigures, SourceError> {
        let mut headers = HeaderMap::new();
        let (k, v) = secret_header("authorization", &format!("Bearer {}", ctx.key.expose()))?;
        headers.insert(k, v);

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
      "object": "page",
      "data": [{
        "object": "bucket", "start_time": 1730419200, "end_time": 1730505600,
        "results": [{
          "object": "organization.usage.completions.result",
          "input_tokens": 5000, "output_tokens": 1000, "input_cached_tokens": 4000,
          "input_audio_tokens": 0, "output_audio_tokens": 0, "num_model_requests": 5,
          "project_id": "proj_abc", "user_id": null, "api_key_id": null,
          "model": "gpt-4o-mini-2024-07-18", "batch": null, "service_tier": null
        }]
      }],
      "has_more": true, "next_page": "page_AAAAAGdGxdEiJdKOAAAAAGcqsYA="
    }"#;

    #[test]
    fn documented_usage_example_splits_cached_input() {
        let p = parse_usage(USAGE.as_bytes()).unwrap();
        assert!(p.has_more);
        let i = &p.items[0];
        assert_eq!(
            i.day,
            "2024-11-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            (i.uncached_input, i.cache_read, i.output, i.requests),
            (1000, 4000, 1000, 5)
        );
    }

    #[test]
    fn documented_costs_example() {
        let body = r#"{"object":"page","data":[{"object":"bucket","start_time":1730419200,"end_time":1730505600,
          "results":[{"object":"organization.costs.result","amount":{"value":0.06,"currency":"usd"},"line_item":null,"project_id":null}]}],
          "has_more":false,"next_page":null}"#;
        let p = parse_costs(body.as_bytes()).unwrap();
        assert_eq!(p.items[0].usd, dec!(0.06));
        assert_eq!(p.items[0].line_item, NO_MODEL);
    }

    #[test]
    fn cache_writes_and_explicit_uncached_count() {
        let body = br#"{"data":[{"start_time":1730419200,"results":[{"input_tokens":100,"input_cached_tokens":30,"input_cache_write_tokens":20,"model":"m"}]}]}"#;
        let i = &parse_usage(body).unwrap().items[0];
        assert_eq!(
            (i.uncached_input, i.cache_read, i.cache_write),
            (50, 30, 20)
        );
        let body = br#"{"data":[{"start_time":1730419200,"results":[{"input_tokens":100,"input_uncached_tokens":7}]}]}"#;
        assert_eq!(parse_usage(body).unwrap().items[0].uncached_input, 7);
    }

    #[test]
    fn bad_shapes_are_errors() {
        let e = parse_usage(br#"{"data":[{"results":[]}]}"#).unwrap_err();
        assert!(matches!(e, AnswerError::Shape(_)), "{e:?}");
        assert!(e.to_string().contains("start_time"), "{e}");
        let e = parse_usage(br#"{"data":[{"start_time":99999999999999999,"results":[]}]}"#)
            .unwrap_err();
        assert_eq!(e.to_string(), "`99999999999999999` is not a Unix time");
        assert!(
            parse_costs(br#"{"data":[{"start_time":1,"results":[{"amount":{"value":null}}]}]}"#)
                .is_err()
        );
        let e = parse_costs(
            br#"{"data":[{"start_time":1,"results":[{"amount":{"value":1,"currency":"eur"}}]}]}"#,
        )
        .unwrap_err();
        assert!(
            matches!(e, AnswerError::Currency(ref c) if c == "eur"),
            "{e:?}"
        );
    }
}
