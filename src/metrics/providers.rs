//! Samples of the provider sources: their own figures, and the drift of the ledger from them.
//! Drift is exported only where both sides cover the same instants: the ledger side is read
//! over the exact UTC range the provider's figure covers (see `supabase::ledger_ranges`).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::encode::Exposition;
use super::names as n;
use crate::config::Config;
use crate::core::bounded::Bounded;
use crate::core::drift;
use crate::core::labels::{self, Kept, OTHER};
use crate::sources::providers::figures::{Amount, ModelFigures, Period};
use crate::state::Collected;

fn usd(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
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

/// One provider's model figures per (model label, period).
type Models = BTreeMap<(String, Period), ModelFigures>;

/// Each provider's models, at most `max_model_labels` (provider, model) pairs labelled over
/// all providers, chosen by reported cost then tokens summed over the periods; the rest of a
/// provider's models are summed into its `model="other"`. Also returns how many were folded.
fn capped_models(c: &Collected, cap: usize) -> (Vec<(&'static str, Models)>, usize) {
    let mut weights: BTreeMap<(&str, &str), (Decimal, u64)> = BTreeMap::new();
    for (name, f) in &c.providers {
        for ((model, _), m) in &f.models {
            let w = weights.entry((*name, model.as_str())).or_default();
            w.0 = w.0.plus(m.cost_usd.unwrap_or_default());
            w.1 = m.tokens.values().fold(w.1, |a, t| a.plus(*t));
        }
    }
    let kept = Kept::choose(weights, cap);
    let out = c
        .providers
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

/// Adds every provider sample of one snapshot.
pub fn export(e: &mut Exposition, cfg: &Config, c: &Collected) {
    let ranges =
        c.db.as_ref()
            .map_or(&[][..], |d| d.ledger_ranges.as_slice());
    let (models, folded) = capped_models(c, cfg.max_model_labels);
    e.set(&n::LABELS_FOLDED, &["reported_model"], folded as f64);
    for (name, models) in &models {
        for ((model, period), m) in models {
            let p = period.label();
            for (class, count) in &m.tokens {
                e.set(&n::PROVIDER_TOKENS, &[name, model, class, p], *count as f64);
            }
            if let Some(cost) = m.cost_usd {
                e.set(&n::PROVIDER_COST_USD, &[name, model, p], usd(cost));
            }
        }
    }
    for (name, f) in &c.providers {
        for cmp in &f.compared {
            let ledger = ranges
                .iter()
                .find(|r| r.since == cmp.since && r.until == cmp.until)
                .and_then(|r| r.rows.as_ref().ok());
            let Some(rows) = ledger else { continue };
            let p = cmp.period.label();
            match cmp.amount {
                Amount::Usd(reported) => {
                    let logged = drift::ledger_cost(&cfg.prices, rows, name);
                    e.set(&n::LEDGER_COMPARED_COST_USD, &[name, p], usd(logged));
                    if let Some(d) = reported.checked_sub(logged) {
                        e.set(&n::LEDGER_DRIFT_USD, &[name, p], usd(d));
                    }
                    if let Some(r) = drift::ratio(reported, logged) {
                        e.set(&n::LEDGER_DRIFT_RATIO, &[name, p], r);
                    }
                }
                Amount::Characters(reported) => {
                    let logged = drift::ledger_characters(rows, name);
                    e.set(&n::LEDGER_COMPARED_CHARACTERS, &[name, p], logged as f64);
                    if let Some(r) = drift::ratio_units(reported, logged) {
                        e.set(&n::LEDGER_DRIFT_RATIO, &[name, p], r);
                    }
                }
            }
        }
        if let Some(a) = &f.openrouter {
            if let Some(v) = a.key_limit_usd {
                e.set(&n::OPENROUTER_KEY_LIMIT_USD, &[], usd(v));
            }
            if let Some(v) = a.key_limit_remaining_usd {
                e.set(&n::OPENROUTER_KEY_LIMIT_REMAINING_USD, &[], usd(v));
            }
            if let Some(v) = a.credits_purchased_usd {
                e.set(&n::OPENROUTER_CREDITS_PURCHASED_USD, &[], usd(v));
            }
            if let Some(v) = a.credits_remaining_usd() {
                e.set(&n::OPENROUTER_CREDITS_REMAINING_USD, &[], usd(v));
            }
        }
        if let Some(q) = &f.elevenlabs {
            e.set(
                &n::ELEVENLABS_CHARACTERS_USED,
                &[],
                q.characters_used as f64,
            );
            e.set(
                &n::ELEVENLABS_CHARACTERS_LIMIT,
                &[],
                q.characters_limit as f64,
            );
            if let Some(t) = q.next_reset {
                e.set(&n::ELEVENLABS_CHARACTERS_RESET, &[], t.timestamp() as f64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::{DbFigures, LedgerRange, UsageRow};
    use crate::sources::providers::figures::{Compared, Period, ProviderFigures};
    use chrono::{DateTime, Utc};
    use rust_decimal_macros::dec;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn reported_models_are_capped_into_other() {
        let now = t("2026-11-26T12:00:00Z");
        let mut c = Collected::default();
        for (name, models) in [("openai", 30), ("anthropic", 5)] {
            let mut f = ProviderFigures::new(name, now);
            for i in 0..models {
                for period in [Period::Day, Period::Month] {
                    let m = ModelFigures {
                        tokens: BTreeMap::from([("input", 10 + i), ("output", 1)]),
                        cost_usd: (name == "openai").then(|| Decimal::new(i as i64, 2)),
                    };
                    f.models.insert((format!("m{i:02}"), period), m);
                }
            }
            c.providers.insert(name, f);
        }
        let cfg = Config {
            max_model_labels: 3,
            ..Config::default()
        };
        let mut e = Exposition::default();
        export(&mut e, &cfg, &c);
        let cost = |p: &str, m: &str| {
            e.get(
                "launchguard_provider_cost_usd",
                &[("provider", p), ("model", m), ("period", "month")],
            )
        };
        // The three costliest OpenAI models keep their label; cost 0.00 + ... + 0.26 is the rest.
        assert_eq!(cost("openai", "m29"), Some(0.29));
        assert_eq!(cost("openai", "m27"), Some(0.27));
        assert_eq!(cost("openai", "m26"), None);
        assert_eq!(cost("openai", "other"), Some(3.51));
        // Anthropic reports no cost: its tokens are still summed exactly into `other`.
        let tokens = e.get(
            "launchguard_provider_tokens",
            &[
                ("provider", "anthropic"),
                ("model", "other"),
                ("type", "input"),
                ("period", "day"),
            ],
        );
        assert_eq!(tokens, Some((10 + 11 + 12 + 13 + 14) as f64));
        assert_eq!(cost("anthropic", "other"), None);
        assert_eq!(
            e.get("launchguard_labels_folded", &[("label", "reported_model")]),
            Some(32.0)
        );
    }

    #[test]
    fn drift_needs_the_same_range_on_both_sides() {
        let now = t("2026-11-26T12:00:00Z");
        let mut f = ProviderFigures::new("openai", now);
        let day = (t("2026-11-26T00:00:00Z"), t("2026-11-27T00:00:00Z"));
        let month = (t("2026-11-01T00:00:00Z"), t("2026-12-01T00:00:00Z"));
        for (period, (since, until), v) in [
            (Period::Day, day, dec!(10)),
            (Period::Month, month, dec!(100)),
        ] {
            f.compared.push(Compared {
                period,
                since,
                until,
                amount: Amount::Usd(v),
            });
        }
        let mut db = DbFigures::unavailable(now, "test");
        let row = UsageRow {
            provider: "openai".into(),
            priced: true,
            cost_usd: dec!(8),
            ..UsageRow::default()
        };
        // The ledger covers the day only; the month range it holds is another one.
        db.ledger_ranges = vec![
            LedgerRange {
                since: day.0,
                until: day.1,
                rows: Ok(vec![row.clone()]),
            },
            LedgerRange {
                since: t("2026-10-31T23:00:00Z"),
                until: month.1,
                rows: Ok(vec![row]),
            },
        ];
        let mut c = Collected {
            db: Some(db),
            ..Collected::default()
        };
        c.providers.insert("openai", f);
        let mut e = Exposition::default();
        export(&mut e, &Config::default(), &c);
        let get = |name, p| e.get(name, &[("provider", "openai"), ("period", p)]);
        assert_eq!(get("launchguard_ledger_drift_ratio", "day"), Some(0.2));
        assert_eq!(get("launchguard_ledger_drift_usd", "day"), Some(2.0));
        assert_eq!(
            get("launchguard_ledger_compared_cost_usd", "day"),
            Some(8.0)
        );
        assert_eq!(get("launchguard_ledger_drift_ratio", "month"), None);
    }
}
