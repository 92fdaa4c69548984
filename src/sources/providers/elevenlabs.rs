//! ElevenLabs: `/v1/user/subscription` (characters, which current plans count as credits,
//! used in the billing period, the period's limit and its next reset).

use chrono::{DateTime, Months, Utc};
use reqwest::header::HeaderMap;
use serde::Deserialize;

use super::figures::{Amount, Compared, ElevenLabsQuota, Period, ProviderFigures};
use super::http::{reason, secret_header};
use super::json::{AnswerError, unix_seconds};
use super::{Ctx, Provider};
use crate::config::ProviderName;
use crate::sources::SourceError;

/// The subscription figures launchguard reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscription {
    pub character_count: u64,
    pub character_limit: u64,
    pub next_reset: Option<DateTime<Utc>>,
    /// `monthly_period`, `3_month_period`, `6_month_period`, `annual_period`.
    pub refresh_period: Option<String>,
}

#[derive(Deserialize)]
struct RawSubscription {
    character_count: u64,
    character_limit: u64,
    #[serde(default)]
    next_character_count_reset_unix: Option<i64>,
    #[serde(default)]
    character_refresh_period: Option<String>,
    #[serde(default)]
    billing_period: Option<String>,
}

/// Parses `/v1/user/subscription`: the two character fields are required, the reset time
/// and the periods optional.
pub fn parse_subscription(body: &[u8]) -> Result<Subscription, AnswerError> {
    let raw: RawSubscription = serde_json::from_slice(body)?;
    Ok(Subscription {
        character_count: raw.character_count,
        character_limit: raw.character_limit,
        next_reset: raw
            .next_character_count_reset_unix
            .map(unix_seconds)
            .transpose()?,
        refresh_period: raw.character_refresh_period.or(raw.billing_period),
    })
}

/// The current period [start, next reset): whole calendar months back from the next reset.
/// An approximation of ElevenLabs' own anniversary arithmetic, exact for most dates; None
/// when the reset time or the period length is unknown.
pub fn billing_period(s: &Subscription) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let reset = s.next_reset?;
    let months = match s.refresh_period.as_deref().unwrap_or("monthly_period") {
        "monthly_period" => 1,
        "3_month_period" => 3,
        "6_month_period" => 6,
        "annual_period" => 12,
        _ => return None,
    };
    Some((reset.checked_sub_months(Months::new(months))?, reset))
}

/// The figures of one poll.
pub fn figures(now: DateTime<Utc>, s: &Subscription) -> ProviderFigures {
    let mut f = ProviderFigures::new(ProviderName::ElevenLabs.as_str(), now);
    f.elevenlabs = Some(ElevenLabsQuota {
        characters_used: s.character_count,
        characters_limit: s.character_limit,
        next_reset: s.next_reset,
    });
    if let Some((since, until)) = billing_period(s) {
        f.compared.push(Compared {
            period: Period::BillingPeriod,
            since,
            until,
            amount: Amount::Characters(s.character_count),
        });
    }
    f
}

/// The ElevenLabs source (stateless: the subscription is a running total).
#[derive(Default)]
pub struct ElevenLabs;

impl Provider for ElevenLabs {
    const NAME: ProviderName = ProviderName::ElevenLabs;
    const KEY_HINT: &'static str =
        "use an API key with the User read permission: elevenlabs.io, Developers, API keys";

    async fn poll(&self, ctx: &Ctx<'_>) -> Result<ProviderFigures, SourceError> {
        let url = reqwest::Url::parse(&format!("{}/v1/user/subscription", ctx.base))
            .map_err(|e| SourceError::new(reason::CONFIG, format!("bad base_url: {e}")))?;
        let mut h = HeaderMap::new();
        let (k, v) = secret_header("xi-api-key", ctx.key.expose())?;
        h.insert(k, v);
        let what = "the subscription";
        let body = ctx.http.get(&url, &h, what).await?;
        let s = parse_subscription(&body).map_err(|e| e.in_answer_of(what))?;
        Ok(figures(ctx.now, &s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{
      "tier": "starter", "character_count": 1000, "character_limit": 10000,
      "max_character_limit_extension": 10000, "max_credit_limit_extension": 10000,
      "can_extend_character_limit": true, "allowed_to_extend_character_limit": true,
      "next_character_count_reset_unix": 1738356858, "voice_slots_used": 1,
      "professional_voice_slots_used": 0, "voice_limit": 10, "voice_add_edit_counter": 0,
      "professional_voice_limit": 1, "can_extend_voice_limit": true,
      "can_use_instant_voice_cloning": true, "can_use_professional_voice_cloning": true,
      "current_overage": {"amount": "0", "currency": "usd"}, "status": "active",
      "currency": "usd", "billing_period": "monthly_period",
      "character_refresh_period": "monthly_period", "open_invoices": [],
      "has_open_invoices": false, "next_invoice": null
    }"#;

    #[test]
    fn documented_example() {
        let s = parse_subscription(DOC.as_bytes()).unwrap();
        assert_eq!((s.character_count, s.character_limit), (1000, 10000));
        let reset: DateTime<Utc> = "2025-01-31T20:54:18Z".parse().unwrap();
        assert_eq!(s.next_reset, Some(reset));
        let (since, until) = billing_period(&s).unwrap();
        assert_eq!(
            since,
            "2024-12-31T20:54:18Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(until, reset);
    }

    #[test]
    fn optional_fields_and_required_ones() {
        let s = parse_subscription(
            br#"{"character_count":5,"character_limit":10,"next_character_count_reset_unix":null}"#,
        )
        .unwrap();
        assert_eq!(s.next_reset, None);
        assert!(
            figures("2026-11-26T00:00:00Z".parse().unwrap(), &s)
                .compared
                .is_empty()
        );
        let e = parse_subscription(br#"{"character_limit":10}"#).unwrap_err();
        assert!(e.to_string().contains("character_count"), "{e}");
        let mut s = s;
        s.next_reset = Some("2026-12-10T00:00:00Z".parse().unwrap());
        s.refresh_period = Some("annual_period".into());
        assert_eq!(
            billing_period(&s).unwrap().0,
            "2025-12-10T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        s.refresh_period = Some("fortnightly".into());
        assert_eq!(billing_period(&s), None);
    }
}
