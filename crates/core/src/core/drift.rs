//! Ledger drift: how far the platform's ledger is from what a provider itself reports over the
//! same instants. (provider - ledger) / provider: positive is spend the ledger never logged,
//! negative is spend logged that the provider has not billed (yet: reports arrive late).

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::bounded::Bounded;
use super::pricing::row_cost;
use crate::config::Prices;
use crate::figures::providers::{Amount, Period};
use crate::figures::{Figures, UsageRow};

/// The ledger against one provider's own figure over one period (the same UTC instants).
#[derive(Debug, Clone, PartialEq)]
pub struct Drift {
    pub provider: &'static str,
    pub period: Period,
    pub measure: Measure,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Measure {
    Usd {
        reported: Decimal,
        ledger: Decimal,
        /// reported - ledger; None if it does not fit.
        drift_usd: Option<Decimal>,
        ratio: Option<f64>,
    },
    Characters {
        reported: u64,
        ledger: u64,
        ratio: Option<f64>,
    },
}

/// Every provider figure the ledger was read over exactly (`DbFigures::ledger_ranges`): a
/// local-time day is never compared with a UTC day.
pub fn drifts(prices: &Prices, figures: &Figures) -> Vec<Drift> {
    let ranges = figures
        .db
        .as_ref()
        .map_or(&[][..], |d| d.ledger_ranges.as_slice());
    let mut out = Vec::new();
    for (name, f) in &figures.providers {
        for cmp in &f.compared {
            let Some(rows) = ranges
                .iter()
                .find(|r| r.since == cmp.since && r.until == cmp.until)
                .and_then(|r| r.rows.as_ref().ok())
            else {
                continue;
            };
            let measure = match cmp.amount {
                Amount::Usd(reported) => {
                    let ledger = ledger_cost(prices, rows, name);
                    Measure::Usd {
                        reported,
                        ledger,
                        drift_usd: reported.checked_sub(ledger),
                        ratio: ratio(reported, ledger),
                    }
                }
                Amount::Characters(reported) => {
                    let ledger = ledger_characters(rows, name);
                    Measure::Characters {
                        reported,
                        ledger,
                        ratio: ratio_units(reported, ledger),
                    }
                }
            };
            out.push(Drift {
                provider: name,
                period: cmp.period,
                measure,
            });
        }
    }
    out
}

/// Ledger cost of one provider's rows, priced the way the cost metrics price them.
pub fn ledger_cost(prices: &Prices, rows: &[UsageRow], provider: &str) -> Decimal {
    rows.iter()
        .filter(|r| r.provider == provider)
        .map(|r| row_cost(prices, r))
        .fold(Decimal::ZERO, Bounded::plus)
}

/// Ledger characters of one provider's rows.
pub fn ledger_characters(rows: &[UsageRow], provider: &str) -> u64 {
    rows.iter()
        .filter(|r| r.provider == provider)
        .fold(0u64, |a, r| a.plus(r.characters))
}

/// (provider - ledger) / provider. Both zero is no drift; a provider figure of zero against a
/// ledger that is not has no ratio (None), since the share of nothing is undefined.
pub fn ratio(provider: Decimal, ledger: Decimal) -> Option<f64> {
    if provider.is_zero() {
        return ledger.is_zero().then_some(0.0);
    }
    provider
        .checked_sub(ledger)?
        .checked_div(provider)?
        .to_f64()
}

/// The same ratio over counts (ElevenLabs characters).
pub fn ratio_units(provider: u64, ledger: u64) -> Option<f64> {
    ratio(Decimal::from(provider), Decimal::from(ledger))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn unlogged_spend_is_positive() {
        assert_eq!(ratio(dec!(100), dec!(80)), Some(0.2));
        assert_eq!(ratio(dec!(100), dec!(125)), Some(-0.25));
        assert_eq!(ratio(dec!(0), dec!(0)), Some(0.0));
        assert_eq!(ratio(dec!(0), dec!(1)), None);
        assert_eq!(ratio_units(1000, 900), Some(0.1));
    }

    #[test]
    fn ledger_sides_pick_the_provider() {
        let rows = vec![
            UsageRow {
                provider: "openai".into(),
                model: "m".into(),
                priced: true,
                cost_usd: dec!(1.25),
                ..UsageRow::default()
            },
            UsageRow {
                provider: "elevenlabs".into(),
                characters: 1200,
                ..UsageRow::default()
            },
        ];
        let p = Prices::default();
        assert_eq!(ledger_cost(&p, &rows, "openai"), dec!(1.25));
        assert_eq!(ledger_cost(&p, &rows, "elevenlabs"), dec!(0.36));
        assert_eq!(ledger_characters(&rows, "elevenlabs"), 1200);
        assert_eq!(ledger_cost(&p, &rows, "anthropic"), dec!(0));
    }
}
