//! Samples of the provider sources: their own figures, and the drift of the ledger from them.
//! Drift is exported only where both sides cover the same instants: the ledger side is read
//! over the exact UTC range the provider's figure covers (see `supabase::ledger_ranges`).

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::encode::Exposition;
use super::names as n;
use crate::config::Config;
use crate::core::drift;
use crate::sources::providers::figures::Amount;
use crate::state::Collected;

fn usd(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}

/// Adds every provider sample of one snapshot.
pub fn export(e: &mut Exposition, cfg: &Config, c: &Collected) {
    let ranges =
        c.db.as_ref()
            .map_or(&[][..], |d| d.ledger_ranges.as_slice());
    for (name, f) in &c.providers {
        for ((model, period), m) in &f.models {
            let p = period.label();
            for (class, count) in &m.tokens {
                e.set(&n::PROVIDER_TOKENS, &[name, model, class, p], *count as f64);
            }
            if let Some(cost) = m.cost_usd {
                e.set(&n::PROVIDER_COST_USD, &[name, model, p], usd(cost));
            }
        }
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
