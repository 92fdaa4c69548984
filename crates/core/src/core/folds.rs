//! The assessment's data-fed labels, each capped with `labels`: ledger providers and models,
//! storage buckets, pg_cron jobs (clients are chosen in `assess`, which also needs them
//! unbounded for the guard). Sums into `other` are exact: money in `Decimal`, counts in
//! integers (saturating through `bounded`, so an absurd figure cannot wrap).

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;

use super::assess::{CronStatus, ModelUsage, Period};
use super::bounded::Bounded;
use super::labels::{self, Float, Kept, OTHER};
use crate::figures::providers::{self as reported, ModelFigures, ProviderFigures};

type UsageMap = BTreeMap<(String, String, Period), ModelUsage>;

/// One provider's own figures per (model label, period).
pub type ReportedModelMap = BTreeMap<(String, reported::Period), ModelFigures>;
/// Each provider's reported models, bounded.
pub type ReportedModels = Vec<(&'static str, ReportedModelMap)>;

/// `b` added into `a`, field by field.
pub fn merge_usage(a: &mut ModelUsage, b: ModelUsage) {
    for (x, y) in a.tokens.iter_mut().zip(b.tokens) {
        *x = x.plus(y);
    }
    a.characters = a.characters.plus(b.characters);
    a.requests = a.requests.plus(b.requests);
    a.cost_usd = a.cost_usd.plus(b.cost_usd);
}

/// Usage with at most `max_providers` providers and `max_models` (provider, model) pairs
/// labelled, chosen by this month's cost then requests (today's when the month is
/// unreadable). A kept provider's other models are summed into its `model="other"`; a folded
/// provider's models all go to `provider="other", model="other"`, so every provider's
/// models still add up to its cost. Returns (usage, providers folded, models folded).
pub fn usage(full: UsageMap, max_providers: usize, max_models: usize) -> (UsageMap, usize, usize) {
    // Day sorts before Month, so a model's month figures replace its day figures.
    let mut by_model: BTreeMap<(&str, &str), (Decimal, u64)> = BTreeMap::new();
    for ((p, m, _), u) in &full {
        by_model.insert((p, m), (u.cost_usd, u.requests));
    }
    let mut by_provider: BTreeMap<&str, (Decimal, u64)> = BTreeMap::new();
    for ((p, _), (c, r)) in &by_model {
        let e = by_provider.entry(p).or_default();
        *e = (e.0.plus(*c), e.1.plus(*r));
    }
    let providers = Kept::choose(by_provider, max_providers);
    let models = Kept::choose(
        by_model
            .iter()
            .filter(|((p, _), _)| providers.keeps(p))
            .map(|(k, w)| (*k, *w)),
        max_models,
    );
    let models_folded = by_model.len() - models.len();
    let own_models: BTreeSet<(String, String)> = by_model
        .keys()
        .filter(|k| models.keeps(k))
        .map(|(p, m)| (p.to_string(), m.to_string()))
        .collect();
    let own_providers: BTreeSet<String> = by_model
        .keys()
        .filter(|(p, _)| providers.keeps(p))
        .map(|(p, _)| p.to_string())
        .collect();
    let providers_folded = providers.folded;
    drop(by_model);
    let folded = labels::group(
        full,
        |(p, m, period)| {
            if !own_providers.contains(p) {
                (OTHER.to_string(), OTHER.to_string(), *period)
            } else if own_models.contains(&(p.clone(), m.clone())) {
                (p.clone(), m.clone(), *period)
            } else {
                (p.clone(), OTHER.to_string(), *period)
            }
        },
        merge_usage,
    );
    (folded, providers_folded, models_folded)
}

/// Buckets with at most `cap` labelled, the largest; the rest summed into `bucket="other"`.
pub fn buckets(rows: &[(String, u64)], cap: usize) -> labels::Folded<String, u64> {
    labels::fold(
        rows.iter().cloned(),
        cap,
        OTHER.to_string(),
        |b| *b,
        |a, b| *a = a.plus(b),
    )
}

/// pg_cron jobs with at most `cap` labelled: the sync job always (its alert names it), then
/// the highest load. `cron_job="other"` holds the rest: the highest load, the shortest
/// schedule interval, the sum of failures and the oldest last success.
pub fn cron(jobs: Vec<CronStatus>, sync_job: &str, cap: usize) -> (Vec<CronStatus>, usize) {
    let f = labels::fold(
        jobs.into_iter().map(|j| (j.job.clone(), j)),
        cap,
        OTHER.to_string(),
        |j| (j.job == sync_job, j.load_ratio.map(Float)),
        |a, b| {
            a.load_ratio = max_opt(a.load_ratio, b.load_ratio, f64::max);
            a.schedule_interval_seconds = max_opt(
                a.schedule_interval_seconds,
                b.schedule_interval_seconds,
                f64::min,
            );
            a.failures_last_day = a.failures_last_day.plus(b.failures_last_day);
            a.last_success = max_opt(a.last_success, b.last_success, std::cmp::min);
        },
    );
    let jobs = f
        .values
        .into_iter()
        .map(|(label, mut j)| {
            if label != j.job {
                // `other`, named after its first member until now.
                j.expected_interval_seconds = None;
                j.job = label;
            }
            j
        })
        .collect();
    (jobs, f.folded)
}

/// `pick` of both when both are set, else whichever is.
fn max_opt<T>(a: Option<T>, b: Option<T>, pick: impl Fn(T, T) -> T) -> Option<T> {
    match (a, b) {
        (Some(x), Some(y)) => Some(pick(x, y)),
        (x, y) => x.or(y),
    }
}

/// `b` added into `a`: tokens per class, cost when either side has one.
fn merge_model(a: &mut ModelFigures, b: ModelFigures) {
    for (class, count) in b.tokens {
        let t = a.tokens.entry(class).or_default();
        *t = t.plus(count);
    }
    a.cost_usd = match (a.cost_usd, b.cost_usd) {
        (Some(x), Some(y)) => Some(x.plus(y)),
        (x, y) => x.or(y),
    };
}

/// Each provider's own per-model figures, at most `cap` (provider, model) pairs labelled over
/// all providers, chosen by reported cost then tokens summed over the periods; the rest of a
/// provider's models are summed into its `model="other"`. Also returns how many were folded.
pub fn reported_models(
    providers: &BTreeMap<&'static str, ProviderFigures>,
    cap: usize,
) -> (ReportedModels, usize) {
    let mut weights: BTreeMap<(&str, &str), (Decimal, u64)> = BTreeMap::new();
    for (name, f) in providers {
        for ((model, _), m) in &f.models {
            let w = weights.entry((*name, model.as_str())).or_default();
            w.0 = w.0.plus(m.cost_usd.unwrap_or_default());
            w.1 = m.tokens.values().fold(w.1, |a, t| a.plus(*t));
        }
    }
    let kept = Kept::choose(weights, cap);
    let out = providers
        .iter()
        .map(|(name, f)| {
            let models = labels::group(
                f.models.iter().map(|(k, m)| (k, m.clone())),
                |(model, period)| {
                    if kept.keeps(&(*name, model.as_str())) {
                        (model.clone(), *period)
                    } else {
                        (OTHER.to_string(), *period)
                    }
                },
                merge_model,
            );
            (*name, models)
        })
        .collect();
    (out, kept.folded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn u(cost: Decimal, requests: u64) -> ModelUsage {
        ModelUsage {
            tokens: [requests, 1, 0, 0],
            characters: 0,
            requests,
            cost_usd: cost,
        }
    }

    fn key(p: &str, m: &str, period: Period) -> (String, String, Period) {
        (p.into(), m.into(), period)
    }

    #[test]
    fn models_fold_within_their_provider_and_folded_providers_whole() {
        let mut full = UsageMap::new();
        for (p, m, c) in [
            ("a", "a1", dec!(5)),
            ("a", "a2", dec!(1)),
            ("a", "a3", dec!(0.5)),
            ("b", "b1", dec!(3)),
            ("b", "b2", dec!(0.25)),
            ("c", "c1", dec!(0.125)),
        ] {
            full.insert(key(p, m, Period::Month), u(c, 1));
            full.insert(key(p, m, Period::Day), u(c / dec!(2), 1));
        }
        let total = |m: &UsageMap, period| -> Decimal {
            m.iter()
                .filter(|(k, _)| k.2 == period)
                .map(|(_, v)| v.cost_usd)
                .sum()
        };
        let (day, month) = (total(&full, Period::Day), total(&full, Period::Month));
        let (f, providers, models) = usage(full, 2, 2);
        assert_eq!((providers, models), (1, 4));
        let keys: BTreeSet<(&str, &str)> =
            f.keys().map(|(p, m, _)| (p.as_str(), m.as_str())).collect();
        assert_eq!(
            keys,
            BTreeSet::from([
                ("a", "a1"),
                ("a", "other"),
                ("b", "b1"),
                ("b", "other"),
                ("other", "other")
            ])
        );
        assert_eq!(f[&key("a", "other", Period::Month)].cost_usd, dec!(1.5));
        assert_eq!(f[&key("a", "other", Period::Day)].cost_usd, dec!(0.75));
        assert_eq!(f[&key("a", "other", Period::Month)].requests, 2);
        assert_eq!(
            f[&key("other", "other", Period::Month)].cost_usd,
            dec!(0.125)
        );
        assert_eq!(
            (total(&f, Period::Day), total(&f, Period::Month)),
            (day, month)
        );
    }

    #[test]
    fn month_figures_rank_models_and_today_ranks_those_without() {
        let mut full = UsageMap::new();
        // x is big today but small this month; y the other way round; z only today (the
        // month unreadable for it is impossible, but a day-only entry still needs a weight).
        full.insert(key("p", "x", Period::Day), u(dec!(9), 1));
        full.insert(key("p", "x", Period::Month), u(dec!(1), 1));
        full.insert(key("p", "y", Period::Month), u(dec!(5), 1));
        full.insert(key("p", "z", Period::Day), u(dec!(3), 1));
        let (f, _, folded) = usage(full, 5, 2);
        assert!(f.contains_key(&key("p", "y", Period::Month)));
        assert!(f.contains_key(&key("p", "z", Period::Day)));
        assert_eq!(f[&key("p", "other", Period::Day)].cost_usd, dec!(9));
        assert_eq!(folded, 1);
    }

    fn job(name: &str, load: Option<f64>, failures: u64) -> CronStatus {
        CronStatus {
            job: name.into(),
            schedule_interval_seconds: Some(3600.0),
            load_ratio: load,
            failures_last_day: failures,
            last_success: None,
            expected_interval_seconds: (name == "sync").then_some(86_400.0),
        }
    }

    #[test]
    fn the_sync_job_keeps_its_label_and_the_rest_fold_by_load() {
        let mut jobs = vec![job("sync", Some(0.0), 1)];
        jobs.extend((0..10).map(|i| job(&format!("j{i}"), Some(i as f64 / 10.0), i)));
        jobs.push(job("inactive", None, 7));
        let (out, folded) = cron(jobs, "sync", 2);
        let names: Vec<&str> = out.iter().map(|j| j.job.as_str()).collect();
        assert_eq!(names, ["j9", "other", "sync"]);
        assert_eq!(folded, 10);
        let other = &out[1];
        assert_eq!(other.failures_last_day, (0..9).sum::<u64>() + 7);
        assert_eq!(other.load_ratio, Some(0.8));
        assert_eq!(other.expected_interval_seconds, None);
        assert_eq!(out[2].expected_interval_seconds, Some(86_400.0));
    }

    #[test]
    fn buckets_sum_exactly_and_saturate() {
        let rows = vec![
            ("a".to_string(), 10),
            ("b".to_string(), u64::MAX - 1),
            ("c".to_string(), 3),
            ("d".to_string(), 3),
        ];
        let f = buckets(&rows, 2);
        assert_eq!(f.values["b"], u64::MAX - 1);
        assert_eq!(f.values["a"], 10);
        assert_eq!(f.values[OTHER], 6);
        let f = buckets(&rows, 1);
        assert_eq!(f.values[OTHER], 16);
        // The one bounded arithmetic: sums saturate at its ceiling.
        let f = buckets(&rows, 0);
        assert_eq!(f.values[OTHER], super::super::bounded::CEILING as u64);
    }
}
