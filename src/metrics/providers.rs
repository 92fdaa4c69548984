//! Samples of the provider sources: what each provider reports (models bounded by the
//! assessment), and the ledger's drift from it as the assessment measured it (only where both
//! sides cover the same instants: see `core::drift`).

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::encode::Exposition;
use super::names as n;
use crate::core::assess::Assessment;
use crate::core::drift::Measure;
use crate::figures::Figures;

fn usd(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}

/// Adds every provider sample of one assessment.
pub fn export(e: &mut Exposition, a: &Assessment, figures: &Figures) {
    e.set(
        &n::LABELS_FOLDED,
        &["reported_model"],
        a.labels_folded.get("reported_model").copied().unwrap_or(0) as f64,
    );
    for (name, models) in &a.reported_models {
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
    for d in &a.drift {
        let (name, p) = (d.provider, d.period.label());
        match &d.measure {
            Measure::Usd {
                ledger,
                drift_usd,
                ratio,
                ..
            } => {
                e.set(&n::LEDGER_COMPARED_COST_USD, &[name, p], usd(*ledger));
                if let Some(v) = drift_usd {
                    e.set(&n::LEDGER_DRIFT_USD, &[name, p], usd(*v));
                }
                if let Some(r) = ratio {
                    e.set(&n::LEDGER_DRIFT_RATIO, &[name, p], *r);
                }
            }
            Measure::Characters { ledger, ratio, .. } => {
                e.set(&n::LEDGER_COMPARED_CHARACTERS, &[name, p], *ledger as f64);
                if let Some(r) = ratio {
                    e.set(&n::LEDGER_DRIFT_RATIO, &[name, p], *r);
                }
            }
        }
    }
    for f in figures.providers.values() {
        accounts(e, f);
    }
}

/// OpenRouter's limits and credits, ElevenLabs' quota: reported as they are.
fn accounts(e: &mut Exposition, f: &crate::figures::providers::ProviderFigures) {
    if let Some(a) = &f.openrouter {
        for (def, v) in [
            (&n::OPENROUTER_KEY_LIMIT_USD, a.key_limit_usd),
            (
                &n::OPENROUTER_KEY_LIMIT_REMAINING_USD,
                a.key_limit_remaining_usd,
            ),
            (
                &n::OPENROUTER_CREDITS_PURCHASED_USD,
                a.credits_purchased_usd,
            ),
            (
                &n::OPENROUTER_CREDITS_REMAINING_USD,
                a.credits_remaining_usd(),
            ),
        ] {
            if let Some(v) = v {
                e.set(def, &[], usd(v));
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use crate::config::Config;
    use crate::core::assess::assess;
    use crate::core::controls::FounderControls;
    use crate::figures::providers::{Amount, Compared, ModelFigures, Period, ProviderFigures};
    use crate::figures::{DbFigures, LedgerRange, UsageRow};
    use chrono::{DateTime, Utc};
    use rust_decimal_macros::dec;

    /// The samples of figures as the publisher makes them: assessed, then exported.
    fn exported(cfg: &Config, f: &Figures, now: DateTime<Utc>) -> Exposition {
        let a = assess(cfg, f, &FounderControls::default(), now);
        let mut e = Exposition::default();
        export(&mut e, &a, f);
        e
    }

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn reported_models_are_capped_into_other() {
        let now = t("2026-11-26T12:00:00Z");
        let mut c = Figures::default();
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
        let e = exported(&cfg, &c, now);
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
        let mut c = Figures {
            db: Some(db),
            ..Figures::default()
        };
        c.providers.insert("openai", f);
        let e = exported(&Config::default(), &c, now);
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
