//! Providers whose usage and cost come as two paged reports of UTC days (Anthropic, OpenAI):
//! both are fetched at once over the range the store asks for, summed into days, and those
//! days replaced whole, so a revised bucket is never counted twice.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use rust_decimal::Decimal;

use super::Ctx;
use super::figures::{DailyStore, DayUsage, ProviderFigures};
use super::http::reason;
use super::json::AnswerError;
use super::pagination::{Page, fetch_all};
use crate::sources::SourceError;

/// One of the two reports: where it is, how it is grouped and how a page of it reads.
pub struct Report<T> {
    pub path: &'static str,
    pub group_by: &'static str,
    /// Its name in error messages ("the cost report").
    pub what: &'static str,
    pub parse: fn(&[u8]) -> Result<Page<T>, AnswerError>,
}

/// A report's first-page URL: `base` + `path` with the given query.
pub fn report_url(
    base: &str,
    path: &str,
    query: &[(&str, &str)],
) -> Result<reqwest::Url, SourceError> {
    let mut u = reqwest::Url::parse(&format!("{base}{path}"))
        .map_err(|e| SourceError::new(reason::CONFIG, format!("bad base_url: {e}")))?;
    u.query_pairs_mut().extend_pairs(query);
    Ok(u)
}

/// Adds each (day, model, USD) cost to its day; an error when a sum would overflow.
pub fn add_costs<'a>(
    days: &mut Days,
    costs: impl IntoIterator<Item = (DateTime<Utc>, &'a str, Decimal)>,
) -> Result<(), AnswerError> {
    for (day, model, usd) in costs {
        if !days.entry(day).or_default().add_cost(model, usd) {
            return Err(AnswerError::OutOfRange("cost amounts too large to add up"));
        }
    }
    Ok(())
}

/// Usage days by UTC day start.
pub type Days = BTreeMap<DateTime<Utc>, DayUsage>;

/// The reports of one provider and how their items become days.
pub struct DailyReports<U, C> {
    pub usage: Report<U>,
    pub cost: Report<C>,
    /// The first-page URL of a report from `base`, its path, the range start and the grouping.
    pub url: fn(&str, &str, DateTime<Utc>, &str) -> Result<reqwest::Url, SourceError>,
    pub into_days: fn(Vec<U>, Vec<C>) -> Result<Days, AnswerError>,
}

impl<U, C> DailyReports<U, C> {
    /// One poll: fetches both reports over the store's range and replaces those days.
    pub async fn poll(
        &self,
        ctx: &Ctx<'_>,
        store: &tokio::sync::Mutex<DailyStore>,
        headers: &HeaderMap,
        provider: &'static str,
    ) -> Result<ProviderFigures, SourceError> {
        let mut store = store.lock().await;
        let (from, to) = store.fetch_range(ctx.now, ctx.settings.trailing_days);
        let (u, c) = (&self.usage, &self.cost);
        let usage_url = (self.url)(&ctx.base, u.path, from, u.group_by)?;
        let cost_url = (self.url)(&ctx.base, c.path, from, c.group_by)?;
        let pages = ctx.settings.max_pages;
        let (usage, cost) = tokio::try_join!(
            fetch_all(&ctx.http, &usage_url, headers, u.what, pages, u.parse),
            fetch_all(&ctx.http, &cost_url, headers, c.what, pages, c.parse),
        )?;
        // Both reports read, but their amounts cannot be summed: the reports as a whole.
        let days = (self.into_days)(usage, cost)
            .map_err(|e| SourceError::new(reason::PARSE, e.to_string()))?;
        store.replace(ctx.now, from, to, days);
        Ok(store.figures(provider, ctx.now))
    }
}
