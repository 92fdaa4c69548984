//! OpenRouter: `/api/v1/key` (the key's spend today, this week and this month in UTC, its limit
//! and what is left of it) and, with a management key, `/api/v1/credits` (the account balance).

use chrono::{DateTime, Duration, Utc};
use reqwest::header::HeaderMap;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;

use super::figures::{
    Amount, Compared, ModelFigures, OpenRouterAccount, Period, ProviderFigures, utc_day_start,
    utc_month_start, utc_next_month_start, utc_week_start,
};
use super::http::{Http, reason, secret_header};
use super::json::{AnswerError, decimal, opt_decimal};
use super::{Ctx, Provider};
use crate::config::{ProviderName, Secret};
use crate::sources::SourceError;

/// The model label of OpenRouter's figures: the key's total over every model.
pub const ALL_MODELS: &str = "all";

/// What `/api/v1/key` says about the key (USD).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyInfo {
    pub limit: Option<Decimal>,
    pub limit_remaining: Option<Decimal>,
    pub usage_daily: Option<Decimal>,
    pub usage_weekly: Option<Decimal>,
    pub usage_monthly: Option<Decimal>,
}

/// What `/api/v1/credits` says about the account (USD).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Credits {
    pub total_credits: Decimal,
    pub total_usage: Decimal,
}

#[derive(Deserialize)]
struct Wrapped<T> {
    data: T,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawKey {
    limit: Option<Value>,
    limit_remaining: Option<Value>,
    usage_daily: Option<Value>,
    usage_weekly: Option<Value>,
    usage_monthly: Option<Value>,
}

#[derive(Deserialize)]
struct RawCredits {
    total_credits: Value,
    total_usage: Value,
}

/// Parses `/api/v1/key`. Older answers carry no `usage_*` fields and a key without a cap has
/// a null `limit`: both are None.
pub fn parse_key(body: &[u8]) -> Result<KeyInfo, AnswerError> {
    let raw: Wrapped<RawKey> = serde_json::from_slice(body)?;
    let d = raw.data;
    Ok(KeyInfo {
        limit: opt_decimal(d.limit.as_ref())?,
        limit_remaining: opt_decimal(d.limit_remaining.as_ref())?,
        usage_daily: opt_decimal(d.usage_daily.as_ref())?,
        usage_weekly: opt_decimal(d.usage_weekly.as_ref())?,
        usage_monthly: opt_decimal(d.usage_monthly.as_ref())?,
    })
}

/// Parses `/api/v1/credits`; both totals are required.
pub fn parse_credits(body: &[u8]) -> Result<Credits, AnswerError> {
    let raw: Wrapped<RawCredits> = serde_json::from_slice(body)?;
    Ok(Credits {
        total_credits: decimal(&raw.data.total_credits)?,
        total_usage: decimal(&raw.data.total_usage)?,
    })
}

/// The figures of one poll: spend per UTC period, the key's limit, the account's credits.
pub fn figures(now: DateTime<Utc>, key: &KeyInfo, credits: Option<Credits>) -> ProviderFigures {
    let mut f = ProviderFigures::new(ProviderName::OpenRouter.as_str(), now);
    let day = utc_day_start(now);
    let week = utc_week_start(now);
    let periods = [
        (Period::Day, key.usage_daily, day, day + Duration::days(1)),
        (
            Period::Week,
            key.usage_weekly,
            week,
            week + Duration::days(7),
        ),
        (
            Period::Month,
            key.usage_monthly,
            utc_month_start(now),
            utc_next_month_start(now),
        ),
    ];
    for (period, usage, since, until) in periods {
        if let Some(usd) = usage {
            f.models.insert(
                (ALL_MODELS.to_string(), period),
                ModelFigures {
                    tokens: Default::default(),
                    cost_usd: Some(usd),
                },
            );
            f.compared.push(Compared {
                period,
                since,
                until,
                amount: Amount::Usd(usd),
            });
        }
    }
    f.openrouter = Some(OpenRouterAccount {
        key_limit_usd: key.limit,
        key_limit_remaining_usd: key.limit_remaining,
        credits_purchased_usd: credits.map(|c| c.total_credits),
        credits_used_usd: credits.map(|c| c.total_usage),
    });
    f
}

fn bearer(k: &Secret) -> Result<HeaderMap, SourceError> {
    let mut h = HeaderMap::new();
    let (n, v) = secret_header("authorization", &format!("Bearer {}", k.expose()))?;
    h.insert(n, v);
    Ok(h)
}

async fn get<T>(
    http: &Http,
    base: &str,
    path: &str,
    key: &Secret,
    what: &str,
    parse: fn(&[u8]) -> Result<T, AnswerError>,
) -> Result<T, SourceError> {
    let url = reqwest::Url::parse(&format!("{base}{path}"))
        .map_err(|e| SourceError::new(reason::CONFIG, format!("bad base_url: {e}")))?;
    let body = http.get(&url, &bearer(key)?, what).await?;
    parse(&body).map_err(|e| e.in_answer_of(what))
}

/// The OpenRouter source (stateless: every answer is a running total).
#[derive(Default)]
pub struct OpenRouter;

impl Provider for OpenRouter {
    const NAME: ProviderName = ProviderName::OpenRouter;
    const KEY_HINT: &'static str = "use the API key the platform calls OpenRouter with (openrouter.ai, Settings, Keys); the optional management key is created under Settings, Management keys";

    async fn poll(&self, ctx: &Ctx<'_>) -> Result<ProviderFigures, SourceError> {
        let key = get(
            &ctx.http,
            &ctx.base,
            "/api/v1/key",
            ctx.key,
            "the key details",
            parse_key,
        );
        let credits = async {
            match &ctx.management_key {
                Some(mk) => get(
                    &ctx.http,
                    &ctx.base,
                    "/api/v1/credits",
                    mk,
                    "the credits (management key)",
                    parse_credits,
                )
                .await
                .map(Some),
                None => Ok(None),
            }
        };
        let (key, credits) = tokio::try_join!(key, credits)?;
        Ok(figures(ctx.now, &key, credits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn documented_key_example() {
        let body = r#"{"data":{"label":"sk-or-v1-au7...890","limit":100,"limit_remaining":74.5,"limit_reset":"monthly",
          "include_byok_in_limit":false,"usage":25.5,"usage_daily":25.5,"usage_weekly":25.5,"usage_monthly":25.5,
          "byok_usage":17.38,"byok_usage_daily":17.38,"byok_usage_weekly":17.38,"byok_usage_monthly":17.38,
          "is_free_tier":false,"is_management_key":false,"is_provisioning_key":false,
          "creator_user_id":"user_2dHFtVWx2n56w6HkM0000000000","expires_at":"2027-12-31T23:59:59Z",
          "rate_limit":{"requests":1000,"interval":"1h","note":"This field is deprecated and safe to ignore."}}}"#;
        let k = parse_key(body.as_bytes()).unwrap();
        assert_eq!(k.limit, Some(dec!(100)));
        assert_eq!(k.limit_remaining, Some(dec!(74.5)));
        assert_eq!(k.usage_monthly, Some(dec!(25.5)));
    }

    #[test]
    fn older_minimal_key_and_no_cap() {
        let body = br#"{"data":{"label":"sk-or-v1-116...0ce","limit":null,"usage":0.1015644762,"is_provisioning_key":false,"limit_remaining":null,"is_free_tier":false,"rate_limit":{"requests":50,"interval":"10s"}}}"#;
        let k = parse_key(body).unwrap();
        assert_eq!(k, KeyInfo::default());
        let now = "2026-11-26T12:00:00Z".parse().unwrap();
        let f = figures(now, &k, None);
        assert!(f.compared.is_empty() && f.models.is_empty());
        assert_eq!(f.openrouter.unwrap().credits_remaining_usd(), None);
    }

    #[test]
    fn credits_balance() {
        let c = parse_credits(br#"{"data":{"total_credits":100.5,"total_usage":25.75}}"#).unwrap();
        let now = "2026-11-26T12:00:00Z".parse().unwrap();
        let f = figures(now, &KeyInfo::default(), Some(c));
        assert_eq!(
            f.openrouter.unwrap().credits_remaining_usd(),
            Some(dec!(74.75))
        );
        let e = parse_credits(br#"{"data":{"total_credits":100.5}}"#).unwrap_err();
        assert!(matches!(e, AnswerError::Shape(_)), "{e:?}");
        assert!(e.to_string().contains("total_usage"), "{e}");
        let e = parse_key(br#"{"data":{"limit":"lots"}}"#).unwrap_err();
        assert_eq!(e.to_string(), "`lots` is not a decimal amount");
        assert!(matches!(
            parse_key(br#"{"limit":5}"#),
            Err(AnswerError::Shape(_))
        ));
    }
}
