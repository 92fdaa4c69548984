//! What the provider sources bring in, and the per-day store that makes revisions replace
//! rather than add. Pure: no I/O, no clock (the caller passes `now`).

use std::collections::BTreeMap;

use crate::core::bounded::Bounded;
use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc};
use rust_decimal::Decimal;

/// Periods of provider figures. Every one is in UTC: the providers' buckets are UTC days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Period {
    /// The current UTC day, to date.
    Day,
    /// The previous UTC day: the most complete recent day, since reports arrive hours late.
    Yesterday,
    /// The current UTC week (Monday to Sunday), to date: OpenRouter only.
    Week,
    /// The current UTC month, to date.
    Month,
    /// The current billing period, to date: ElevenLabs only.
    BillingPeriod,
}

impl Period {
    pub fn label(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Yesterday => "yesterday",
            Period::Week => "week",
            Period::Month => "month",
            Period::BillingPeriod => "billing_period",
        }
    }
}

/// Token classes (the `type` label). Disjoint: their sum is all tokens.
pub mod token {
    /// Input not read from or written to a cache.
    pub const INPUT: &str = "input";
    pub const OUTPUT: &str = "output";
    pub const CACHE_READ: &str = "cache_read";
    /// Cache writes when the provider does not say how long they live (OpenAI).
    pub const CACHE_WRITE: &str = "cache_write";
    /// Anthropic's 5-minute cache writes.
    pub const CACHE_WRITE_5M: &str = "cache_write_5m";
    /// Anthropic's 1-hour cache writes.
    pub const CACHE_WRITE_1H: &str = "cache_write_1h";
}

/// The amount a drift comparison is made of.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Amount {
    Usd(Decimal),
    Characters(u64),
}

/// The provider's side of a drift comparison: what it reported over [since, until), to date.
#[derive(Debug, Clone, PartialEq)]
pub struct Compared {
    pub period: Period,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub amount: Amount,
}

/// Tokens by class and cost of one model over one period, as the provider reports them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelFigures {
    pub tokens: BTreeMap<&'static str, u64>,
    pub cost_usd: Option<Decimal>,
}

/// OpenRouter: the key's limit and, with a management key, the account's credits (USD).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpenRouterAccount {
    /// None: the key has no spending cap.
    pub key_limit_usd: Option<Decimal>,
    pub key_limit_remaining_usd: Option<Decimal>,
    pub credits_purchased_usd: Option<Decimal>,
    pub credits_used_usd: Option<Decimal>,
}

impl OpenRouterAccount {
    pub fn credits_remaining_usd(&self) -> Option<Decimal> {
        self.credits_purchased_usd?
            .checked_sub(self.credits_used_usd?)
    }
}

/// ElevenLabs: the subscription's character (credit) quota.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ElevenLabsQuota {
    pub characters_used: u64,
    pub characters_limit: u64,
    pub next_reset: Option<DateTime<Utc>>,
}

/// One poll of one provider.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderFigures {
    /// The source and provider label.
    pub provider: &'static str,
    pub fetched_at: DateTime<Utc>,
    /// Per (model, period).
    pub models: BTreeMap<(String, Period), ModelFigures>,
    pub compared: Vec<Compared>,
    pub openrouter: Option<OpenRouterAccount>,
    pub elevenlabs: Option<ElevenLabsQuota>,
}

impl ProviderFigures {
    pub fn new(provider: &'static str, fetched_at: DateTime<Utc>) -> Self {
        ProviderFigures {
            provider,
            fetched_at,
            models: BTreeMap::new(),
            compared: Vec::new(),
            openrouter: None,
            elevenlabs: None,
        }
    }

    /// Total reported cost of a period, when the provider reports one.
    pub fn cost(&self, p: Period) -> Option<Decimal> {
        self.compared
            .iter()
            .find(|c| c.period == p)
            .and_then(|c| match c.amount {
                Amount::Usd(d) => Some(d),
                Amount::Characters(_) => None,
            })
    }
}

// --- UTC calendar ------------------------------------------------------------------------------

pub fn utc_day_start(t: DateTime<Utc>) -> DateTime<Utc> {
    t.date_naive().and_time(NaiveTime::MIN).and_utc()
}

pub fn utc_month_start(t: DateTime<Utc>) -> DateTime<Utc> {
    let d = t.date_naive();
    d.with_day(1)
        .unwrap_or(d)
        .and_time(NaiveTime::MIN)
        .and_utc()
}

pub fn utc_next_month_start(t: DateTime<Utc>) -> DateTime<Utc> {
    let m = utc_month_start(t);
    m.checked_add_months(chrono::Months::new(1)).unwrap_or(m)
}

/// Monday 00:00 UTC of the week containing `t`.
pub fn utc_week_start(t: DateTime<Utc>) -> DateTime<Utc> {
    let back = t.weekday().num_days_from_monday() as i64;
    utc_day_start(t) - Duration::days(back)
}

// --- per-day store -----------------------------------------------------------------------------

/// One UTC day of a provider's usage report: tokens per (model, class), cost per model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DayUsage {
    pub tokens: BTreeMap<(String, &'static str), u64>,
    pub cost_usd: BTreeMap<String, Decimal>,
}

impl DayUsage {
    pub fn add_tokens(&mut self, model: &str, class: &'static str, n: u64) {
        let e = self.tokens.entry((model.to_string(), class)).or_insert(0);
        *e = e.plus(n);
    }

    /// Adds a cost; `false` when the sum would overflow (a nonsense amount).
    pub fn add_cost(&mut self, model: &str, usd: Decimal) -> bool {
        let e = self.cost_usd.entry(model.to_string()).or_default();
        match e.checked_add(usd) {
            Some(v) => {
                *e = v;
                true
            }
            None => false,
        }
    }

    fn total_cost(&self) -> Decimal {
        self.cost_usd
            .values()
            .fold(Decimal::ZERO, |a, b| a.plus(*b))
    }
}

/// The days of the current UTC month, each replaced whole when a poll covers it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DailyStore {
    month: Option<DateTime<Utc>>,
    /// UTC day start at the last successful poll, so a run of failed polls is caught up.
    last_day: Option<DateTime<Utc>>,
    days: BTreeMap<DateTime<Utc>, DayUsage>,
}

impl DailyStore {
    /// The UTC range [from, to) the next poll fetches: the whole month on the first poll or
    /// in a new month, else the trailing days (from the last successful poll's day on).
    pub fn fetch_range(
        &self,
        now: DateTime<Utc>,
        trailing_days: u32,
    ) -> (DateTime<Utc>, DateTime<Utc>) {
        let month = utc_month_start(now);
        let today = utc_day_start(now);
        // The previous day too: `yesterday` is exported and revised as much as today.
        let from = match (self.month, self.last_day) {
            (Some(m), Some(last)) if m == month => {
                let back = Duration::days(i64::from(trailing_days.max(1)) - 1);
                (last.min(today) - back).max(month)
            }
            _ => month,
        };
        let from = from.min(today - Duration::days(1));
        (from, today + Duration::days(1))
    }

    /// Replaces every day of [from, to) by the fetched days (a day the provider did not
    /// return had no usage). Fetched days outside the range are ignored; days before the
    /// previous day of this month are dropped.
    pub fn replace(
        &mut self,
        now: DateTime<Utc>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        fetched: BTreeMap<DateTime<Utc>, DayUsage>,
    ) {
        let keep_from = utc_month_start(now).min(utc_day_start(now) - Duration::days(1));
        self.days
            .retain(|d, _| *d >= keep_from && !(*d >= from && *d < to));
        for (d, u) in fetched {
            if d >= from && d < to && d >= keep_from {
                self.days.insert(d, u);
            }
        }
        self.month = Some(utc_month_start(now));
        self.last_day = Some(utc_day_start(now));
    }

    /// Figures of today, yesterday and the month to date, plus the drift sides.
    pub fn figures(&self, provider: &'static str, now: DateTime<Utc>) -> ProviderFigures {
        let mut f = ProviderFigures::new(provider, now);
        let today = utc_day_start(now);
        let tomorrow = today + Duration::days(1);
        let yesterday = today - Duration::days(1);
        let month = utc_month_start(now);
        let periods = [
            (Period::Day, today, tomorrow, today, tomorrow),
            (Period::Yesterday, yesterday, today, yesterday, today),
            (
                Period::Month,
                month,
                tomorrow,
                month,
                utc_next_month_start(now),
            ),
        ];
        for (period, from, to, since, until) in periods {
            let mut total = Decimal::ZERO;
            for (_, day) in self.days.range(from..to) {
                for ((model, class), n) in &day.tokens {
                    let m = f.models.entry((model.clone(), period)).or_default();
                    let e = m.tokens.entry(class).or_insert(0);
                    *e = e.plus(*n);
                }
                for (model, c) in &day.cost_usd {
                    let m = f.models.entry((model.clone(), period)).or_default();
                    m.cost_usd = Some(m.cost_usd.unwrap_or_default().plus(*c));
                }
                total = total.plus(day.total_cost());
            }
            f.compared.push(Compared {
                period,
                since,
                until,
                amount: Amount::Usd(total),
            });
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn day(cost: Decimal, input: u64) -> DayUsage {
        let mut d = DayUsage::default();
        d.add_cost("m", cost);
        d.add_tokens("m", token::INPUT, input);
        d
    }

    #[test]
    fn calendar() {
        let now = t("2026-11-26T21:40:00Z"); // a Thursday
        assert_eq!(utc_week_start(now), t("2026-11-23T00:00:00Z"));
        assert_eq!(utc_month_start(now), t("2026-11-01T00:00:00Z"));
        assert_eq!(utc_next_month_start(now), t("2026-12-01T00:00:00Z"));
        assert_eq!(
            utc_next_month_start(t("2026-12-31T23:00:00Z")),
            t("2027-01-01T00:00:00Z")
        );
    }

    #[test]
    fn first_poll_fetches_the_month_then_the_trailing_days() {
        let mut s = DailyStore::default();
        let now = t("2026-11-26T12:00:00Z");
        assert_eq!(
            s.fetch_range(now, 3),
            (t("2026-11-01T00:00:00Z"), t("2026-11-27T00:00:00Z"))
        );
        s.replace(
            now,
            t("2026-11-01T00:00:00Z"),
            t("2026-11-27T00:00:00Z"),
            BTreeMap::new(),
        );
        assert_eq!(
            s.fetch_range(now, 3),
            (t("2026-11-24T00:00:00Z"), t("2026-11-27T00:00:00Z"))
        );
        // Polls failed for five days: catch up from the last good day.
        assert_eq!(
            s.fetch_range(t("2026-11-30T12:00:00Z"), 3),
            (t("2026-11-24T00:00:00Z"), t("2026-12-01T00:00:00Z"))
        );
        // A new month starts over, and still reads yesterday (the last day of the old one).
        assert_eq!(
            s.fetch_range(t("2026-12-01T00:10:00Z"), 3),
            (t("2026-11-30T00:00:00Z"), t("2026-12-02T00:00:00Z"))
        );
    }

    #[test]
    fn a_revised_day_replaces_the_old_one_never_adds() {
        let mut s = DailyStore::default();
        let now = t("2026-11-26T12:00:00Z");
        let (from, to) = s.fetch_range(now, 3);
        let mut first = BTreeMap::new();
        first.insert(t("2026-11-20T00:00:00Z"), day(dec!(1.00), 10));
        first.insert(t("2026-11-25T00:00:00Z"), day(dec!(2.00), 20));
        first.insert(t("2026-11-26T00:00:00Z"), day(dec!(0.50), 5));
        s.replace(now, from, to, first);
        let (from, to) = s.fetch_range(now, 3);
        let mut second = BTreeMap::new();
        second.insert(t("2026-11-25T00:00:00Z"), day(dec!(2.25), 22));
        // 26th not returned any more: no usage that day after all.
        s.replace(now, from, to, second);
        let f = s.figures("p", now);
        assert_eq!(f.cost(Period::Month), Some(dec!(3.25)));
        assert_eq!(f.cost(Period::Yesterday), Some(dec!(2.25)));
        assert_eq!(f.cost(Period::Day), Some(dec!(0)));
        let m = &f.models[&("m".to_string(), Period::Month)];
        assert_eq!(m.tokens[token::INPUT], 32);
        let month = f
            .compared
            .iter()
            .find(|c| c.period == Period::Month)
            .unwrap();
        assert_eq!(
            (month.since, month.until),
            (t("2026-11-01T00:00:00Z"), t("2026-12-01T00:00:00Z"))
        );
    }

    #[test]
    fn old_months_are_dropped() {
        let mut s = DailyStore::default();
        let mut old = BTreeMap::new();
        old.insert(t("2026-10-05T00:00:00Z"), day(dec!(9), 9));
        s.replace(
            t("2026-10-06T00:00:00Z"),
            t("2026-10-01T00:00:00Z"),
            t("2026-10-07T00:00:00Z"),
            old,
        );
        let now = t("2026-11-02T00:00:00Z");
        let (from, to) = s.fetch_range(now, 3);
        s.replace(now, from, to, BTreeMap::new());
        assert_eq!(s.figures("p", now).cost(Period::Month), Some(dec!(0)));
        assert!(s.days.is_empty());
    }
}
