//! Cost of ledger rows from the price table, in decimal dollars (never floats for money).

use rust_decimal::Decimal;

use super::bounded::{times, total};
use crate::config::Prices;
use crate::figures::UsageRow;

const MILLION: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);
const THOUSAND: Decimal = Decimal::from_parts(1_000, 0, 0, false, 0);

/// The prices that apply to one provider and model, after per-model overrides.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EffectivePrice {
    pub input_per_mtok: Decimal,
    pub output_per_mtok: Decimal,
    pub cache_read_per_mtok: Decimal,
    pub cache_write_per_mtok: Decimal,
    pub per_1k_characters: Decimal,
    pub per_request: Decimal,
    /// False when the provider is not in the price table at all.
    pub known: bool,
}

/// Resolves provider and model prices. Cache prices default to multiples of the input price.
pub fn price_for(prices: &Prices, provider: &str, model: &str) -> EffectivePrice {
    let Some(p) = prices.providers.get(provider) else {
        return EffectivePrice::default();
    };
    let m = p.models.get(model);
    let pick = |model_v: Option<Decimal>, prov_v: Decimal| model_v.unwrap_or(prov_v);
    let input = pick(m.and_then(|m| m.input_per_mtok), p.input_per_mtok);
    let cache_read = m
        .and_then(|m| m.cache_read_per_mtok)
        .or(p.cache_read_per_mtok)
        .unwrap_or(times(input, prices.cache_read_multiplier));
    let cache_write = m
        .and_then(|m| m.cache_write_per_mtok)
        .or(p.cache_write_per_mtok)
        .unwrap_or(times(input, prices.cache_write_multiplier));
    EffectivePrice {
        input_per_mtok: input,
        output_per_mtok: pick(m.and_then(|m| m.output_per_mtok), p.output_per_mtok),
        cache_read_per_mtok: cache_read,
        cache_write_per_mtok: cache_write,
        per_1k_characters: pick(m.and_then(|m| m.per_1k_characters), p.per_1k_characters),
        per_request: pick(m.and_then(|m| m.per_request), p.per_request),
        known: true,
    }
}

/// Cost of one ledger group: its own `cost_usd` when the rows carried one, else priced from
/// the table with the cache classes (disjoint from uncached input) priced separately.
pub fn row_cost(prices: &Prices, row: &UsageRow) -> Decimal {
    if row.priced {
        return row.cost_usd;
    }
    price_for(prices, &row.provider, &row.model).cost(&Counts {
        input_tokens: row.input_tokens,
        output_tokens: row.output_tokens,
        cache_read_tokens: row.cache_read_tokens,
        cache_write_tokens: row.cache_write_tokens,
        characters: row.characters,
        requests: row.requests,
    })
}

/// What a price applies to: a ledger group's counts, or one request's estimate or usage.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Counts {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub characters: u64,
    pub requests: u64,
}

impl EffectivePrice {
    /// The counts at these prices, the cache classes (disjoint from uncached input) priced
    /// separately.
    pub fn cost(&self, c: &Counts) -> Decimal {
        // Counts come from database rows or callers and prices from the config: every step
        // saturates.
        let at = |n: u64, price: Decimal, per: Decimal| times(Decimal::from(n), price / per);
        total([
            at(c.input_tokens, self.input_per_mtok, MILLION),
            at(c.output_tokens, self.output_per_mtok, MILLION),
            at(c.cache_read_tokens, self.cache_read_per_mtok, MILLION),
            at(c.cache_write_tokens, self.cache_write_per_mtok, MILLION),
            at(c.characters, self.per_1k_characters, THOUSAND),
            at(c.requests, self.per_request, Decimal::ONE),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn row(provider: &str, f: impl FnOnce(&mut UsageRow)) -> UsageRow {
        let mut r = UsageRow {
            provider: provider.into(),
            model: "m".into(),
            ..UsageRow::default()
        };
        f(&mut r);
        r
    }

    #[test]
    fn anthropic_tokens_with_cache_classes() {
        let p = Prices::default();
        let r = row("anthropic", |r| {
            r.input_tokens = 1_000_000;
            r.output_tokens = 100_000;
            r.cache_read_tokens = 2_000_000;
            r.cache_write_tokens = 400_000;
        });
        // 3.00 + 1.50 + 2 x 0.30 + 0.4 x 3.75 = 6.60
        assert_eq!(row_cost(&p, &r), dec!(6.60));
    }

    #[test]
    fn characters_requests_and_own_cost() {
        let p = Prices::default();
        let el = row("elevenlabs", |r| r.characters = 12_345);
        assert_eq!(row_cost(&p, &el), dec!(3.7035));
        let px = row("perplexity", |r| r.requests = 7);
        assert_eq!(row_cost(&p, &px), dec!(0.035));
        let own = row("openai", |r| {
            r.priced = true;
            r.cost_usd = dec!(1.234567);
            r.input_tokens = 9_999_999;
        });
        assert_eq!(row_cost(&p, &own), dec!(1.234567));
    }

    #[test]
    fn model_overrides_and_unknown_provider() {
        let mut p = Prices::default();
        let mp = crate::config::ModelPrice {
            input_per_mtok: Some(dec!(15)),
            cache_read_per_mtok: Some(dec!(1)),
            ..Default::default()
        };
        p.providers
            .get_mut("anthropic")
            .unwrap()
            .models
            .insert("opus".into(), mp);
        let pr = price_for(&p, "anthropic", "opus");
        assert_eq!(pr.input_per_mtok, dec!(15));
        assert_eq!(pr.output_per_mtok, dec!(15.00));
        assert_eq!(pr.cache_read_per_mtok, dec!(1));
        assert_eq!(pr.cache_write_per_mtok, dec!(18.75));
        let unknown = price_for(&p, "mistral", "x");
        assert!(!unknown.known);
        assert_eq!(
            row_cost(&p, &row("mistral", |r| r.input_tokens = 5)),
            Decimal::ZERO
        );
    }

    #[test]
    fn absurd_rows_and_prices_saturate_instead_of_panicking() {
        let mut p = Prices::default();
        p.providers.get_mut("openai").unwrap().input_per_mtok = Decimal::MAX;
        let r = row("openai", |r| {
            r.input_tokens = u64::MAX;
            r.characters = u64::MAX;
            r.requests = u64::MAX;
        });
        assert_eq!(row_cost(&p, &r), Decimal::MAX);
    }

    #[test]
    fn sums_many_small_rows_exactly() {
        let p = Prices::default();
        let r = row("openrouter", |r| r.input_tokens = 1);
        let total: Decimal = (0..1_000_000).map(|_| row_cost(&p, &r)).sum();
        assert_eq!(total, dec!(0.5));
    }
}
