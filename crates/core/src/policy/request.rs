//! What a caller asks the guard (`Request`, with its `Usage`), and what that costs in the
//! stores' units (`Amounts`): the estimate an admission reserves, the actual usage a settle
//! records.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use strum::{EnumIter, EnumString, IntoStaticStr};

use crate::config::Config;
use crate::core::bounded::{self, MAX_USD, ceil_count, times, to_nanos, total};
use crate::core::pricing::{Counts, price_for};

/// What an admission is for.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Deserialize,
    Serialize,
    EnumIter,
    EnumString,
    IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Kind {
    /// A call to an AI provider (tokens, characters or requests).
    Ai,
    /// A visual job: counts against visual jobs per day and concurrent jobs.
    Visual,
    /// Any other background job: counts against concurrent jobs.
    Job,
    /// A request to the platform's API: counts against API requests per minute.
    Api,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Ai, Kind::Visual, Kind::Job, Kind::Api];

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(s: &str) -> Option<Kind> {
        s.parse().ok()
    }

    /// Jobs wait in the queue and run concurrently.
    pub fn is_job(self) -> bool {
        matches!(self, Kind::Visual | Kind::Job)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Estimated (admit) or actual (settle) usage of one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    pub input_tokens: u64,
    /// None on admit: `estimates.default_output_tokens` applies to `ai` requests.
    pub output_tokens: Option<u64>,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub characters: u64,
    pub requests: u64,
    /// The caller's own cost, taken as is (like a ledger row's `cost_usd`).
    pub cost_usd: Option<Decimal>,
}

impl Usage {
    pub fn tokens(&self) -> u64 {
        total([
            self.input_tokens,
            self.output_tokens.unwrap_or(0),
            self.cache_read_tokens,
            self.cache_write_tokens,
        ])
    }
}

/// A validated admission request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub client_id: String,
    pub kind: Kind,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub estimate: Usage,
    /// The platform is about to activate a client it did not serve before.
    pub new_client: bool,
}

impl Request {
    /// Whether the request spends money: budgets and the auto-throttle apply.
    pub fn spends(&self, amt: Amounts) -> bool {
        matches!(self.kind, Kind::Ai | Kind::Visual) || amt.cost_nano > 0
    }
}

/// What one request reserves (or settles): cost in nano-dollars and tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Amounts {
    pub cost_nano: i64,
    pub tokens: i64,
}

impl Amounts {
    /// Nothing to hold: an admission of zero cost and zero tokens keeps no reservation.
    pub fn is_zero(&self) -> bool {
        self.cost_nano == 0 && self.tokens == 0
    }
}

/// Why a request or a usage cannot be priced: the caller's mistake (a 400), never the guard's.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PriceError {
    #[error("an `ai` request needs `provider`")]
    NoProvider,
    #[error(
        "provider `{0}` has no price in the config: add it under prices.providers or send estimate.cost_usd"
    )]
    Unpriced(String),
    /// One request may cost at most `MAX_USD`: past it the usage is refused, never recorded.
    #[error("{what} prices at ${}, more than the ${} one request may cost", .usd.round_dp(2), MAX_USD)]
    PastOneRequest { what: &'static str, usd: Decimal },
}

fn within_one_request(what: &'static str, usd: Decimal) -> Result<Decimal, PriceError> {
    if usd > MAX_USD {
        return Err(PriceError::PastOneRequest { what, usd });
    }
    Ok(usd)
}

/// The usage's counts, for the price table (no ledger row, so nothing is copied).
fn counts(u: &Usage) -> Counts {
    Counts {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens.unwrap_or(0),
        cache_read_tokens: u.cache_read_tokens,
        cache_write_tokens: u.cache_write_tokens,
        characters: u.characters,
        requests: u.requests,
    }
}

fn cost_of(cfg: &Config, provider: &str, model: &str, u: &Usage) -> Decimal {
    price_for(&cfg.prices, provider, model).cost(&counts(u))
}

/// The amounts an admission reserves. An `ai` request of a provider the price table does not
/// know must carry its own `cost_usd`: otherwise it could spend past every budget unseen.
pub fn estimate(cfg: &Config, req: &Request) -> Result<Amounts, PriceError> {
    let e = &cfg.guard.estimates;
    let mut u = req.estimate.clone();
    if req.kind == Kind::Ai && u.output_tokens.is_none() {
        u.output_tokens = Some(e.default_output_tokens);
    }
    let provider = req.provider.as_deref();
    let model = req.model.as_deref().unwrap_or("");
    let price = provider.map(|p| price_for(&cfg.prices, p, model));
    let known = price.is_some_and(|p| p.known);
    let cost = match (u.cost_usd, provider) {
        (Some(c), _) => c,
        (None, Some(_)) if known => price.unwrap_or_default().cost(&counts(&u)),
        (None, Some(p)) if req.kind == Kind::Ai => return Err(PriceError::Unpriced(p.into())),
        (None, _) => match req.kind {
            Kind::Visual => e.visual_job_usd,
            Kind::Job => e.job_usd,
            Kind::Api => Decimal::ZERO,
            Kind::Ai => return Err(PriceError::NoProvider),
        },
    };
    let cost = within_one_request("the estimate", times(cost, e.margin))?;
    Ok(Amounts {
        cost_nano: to_nanos(cost),
        tokens: ceil_count(times(Decimal::from(u.tokens()), e.margin)),
    })
}

/// The amounts a settle records: the actual usage, priced like a ledger row, no margin.
/// Usage that prices past what one request may cost is refused and the reservation kept.
pub fn actual(cfg: &Config, provider: &str, model: &str, u: &Usage) -> Result<Amounts, PriceError> {
    let cost = u
        .cost_usd
        .unwrap_or_else(|| cost_of(cfg, provider, model, u));
    Ok(Amounts {
        cost_nano: to_nanos(within_one_request("the usage", cost)?),
        tokens: bounded::signed(u.tokens()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn kinds_read_and_print_their_wire_names() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        assert_eq!(Kind::Visual.as_str(), "visual");
        assert_eq!(Kind::parse("video"), None);
        use strum::IntoEnumIterator;
        assert!(Kind::iter().eq(Kind::ALL));
    }

    #[test]
    fn usage_past_one_request_is_refused_naming_it() {
        let cfg = Config::default();
        let u = Usage {
            cost_usd: Some(dec!(1000000.004)),
            ..Usage::default()
        };
        let e = actual(&cfg, "openai", "gpt-4o", &u).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the usage prices at $1000000.00, more than the $1000000 one request may cost"
        );
        let ok = Usage {
            cost_usd: Some(MAX_USD),
            ..Usage::default()
        };
        assert_eq!(
            actual(&cfg, "openai", "gpt-4o", &ok).unwrap().cost_nano,
            to_nanos(MAX_USD)
        );
    }
}
