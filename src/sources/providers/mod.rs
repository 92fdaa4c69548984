//! The provider sources: what Anthropic, OpenAI, OpenRouter and ElevenLabs themselves report
//! (usage, cost, credits, quota), polled on their own interval, so the exporter can show how far
//! the platform's ledger is from what the providers will bill.
//!
//! Each provider module holds a pure parser (bytes to typed figures, money converted to
//! `Decimal` USD there, once) and its poll; `http` is the one client (timeouts, size cap,
//! retries), `pagination` follows cursors, `figures` keeps per-day buckets so a revised day
//! replaces the old one. `ProviderSource` turns any provider into a `Source`.

pub mod anthropic;
pub mod elevenlabs;
pub use crate::figures::providers as figures;
pub mod http;
pub mod json;
pub mod openai;
pub mod openrouter;
pub mod pagination;
pub mod reports;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use self::figures::{Period, ProviderFigures};
use self::http::{Http, Limits, reason};
use super::supabase::ledger_ranges::LedgerRequests;
use super::{Source, SourceError};
use crate::config::{Config, ProviderConfig, ProviderName, Secret};
use crate::state::{Collected, Shared};

pub use self::anthropic::Anthropic;
pub use self::elevenlabs::ElevenLabs;
pub use self::openai::OpenAi;
pub use self::openrouter::OpenRouter;

/// What one poll works with.
pub struct Ctx<'a> {
    pub http: Http,
    /// The API origin, without a trailing slash.
    pub base: String,
    pub key: &'a Secret,
    /// OpenRouter's management key, when one is set.
    pub management_key: Option<Secret>,
    pub settings: &'a ProviderConfig,
    pub now: DateTime<Utc>,
}

/// One provider's API.
pub trait Provider: Default + Send + Sync + 'static {
    const NAME: ProviderName;
    /// Added to a refused-key error: which key is needed and where it is made.
    const KEY_HINT: &'static str;
    fn poll(
        &self,
        ctx: &Ctx<'_>,
    ) -> impl Future<Output = Result<ProviderFigures, SourceError>> + Send;
}

/// A provider as a background source.
pub struct ProviderSource<P: Provider> {
    provider: P,
    ledger: Option<Arc<LedgerRequests>>,
}

impl<P: Provider> Default for ProviderSource<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Provider> ProviderSource<P> {
    pub fn new() -> Self {
        ProviderSource {
            provider: P::default(),
            ledger: None,
        }
    }

    /// Registers each polled period with the Supabase source, which then reads the ledger over
    /// the same UTC range for the drift.
    pub fn with_ledger_requests(mut self, r: Arc<LedgerRequests>) -> Self {
        self.ledger = Some(r);
        self
    }

    /// Polls once as of `now` (the source calls it with the clock; tests with a fixed time).
    pub async fn poll_at(
        &self,
        cfg: &Config,
        now: DateTime<Utc>,
    ) -> Result<ProviderFigures, SourceError> {
        let settings = cfg.providers.get(P::NAME);
        let key = settings.key(P::NAME)?;
        let management_key = if P::NAME == ProviderName::OpenRouter {
            settings.management_key_ref().resolve()?
        } else {
            None
        };
        let mut secrets = vec![key.clone()];
        secrets.extend(management_key.clone());
        let ctx = Ctx {
            http: Http::new(
                http::client()?,
                Limits::from_config(settings),
                secrets.clone(),
            ),
            base: settings.base_url(P::NAME),
            key: &key,
            management_key,
            settings,
            now,
        };
        let figures = self.provider.poll(&ctx).await.map_err(|mut e| {
            if e.reason == reason::AUTH {
                e.message = format!("{}; {}", e.message, P::KEY_HINT);
            }
            // Last line of defence: whatever went into the message, no key comes out.
            e.message = http::redact(&e.message, &secrets);
            e
        })?;
        if let Some(l) = &self.ledger {
            for c in &figures.compared {
                l.set(P::NAME.as_str(), c.period.label(), c.since, c.until);
            }
        }
        Ok(figures)
    }
}

impl<P: Provider> Source for ProviderSource<P> {
    type Output = ProviderFigures;

    fn name(&self) -> &'static str {
        P::NAME.as_str()
    }

    fn interval(&self, cfg: &Config) -> Duration {
        cfg.providers.get(P::NAME).interval.0
    }

    fn timeout(&self, cfg: &Config) -> Duration {
        cfg.providers.get(P::NAME).collect_timeout.0
    }

    async fn collect(&self, cfg: Arc<Config>) -> Result<ProviderFigures, SourceError> {
        self.poll_at(&cfg, Utc::now()).await
    }

    fn store(out: ProviderFigures, into: &mut Collected) {
        into.figures.providers.insert(out.provider, out);
    }
}

/// Starts a source for every provider whose key is set; returns their names (for /readyz).
/// A provider without a key is not configured, which is not a failure.
pub fn spawn_configured(
    cfg: &Config,
    shared: &Arc<Shared>,
    ledger: &Arc<LedgerRequests>,
) -> Vec<&'static str> {
    fn start<P: Provider>(shared: &Arc<Shared>, ledger: &Arc<LedgerRequests>) {
        let s = ProviderSource::<P>::new().with_ledger_requests(ledger.clone());
        tokio::spawn(super::run(s, shared.clone()));
    }
    let mut started = Vec::new();
    for (p, configured) in cfg.providers.configured() {
        match configured {
            Ok(()) => {
                match p {
                    ProviderName::Anthropic => start::<Anthropic>(shared, ledger),
                    ProviderName::OpenAi => start::<OpenAi>(shared, ledger),
                    ProviderName::OpenRouter => start::<OpenRouter>(shared, ledger),
                    ProviderName::ElevenLabs => start::<ElevenLabs>(shared, ledger),
                }
                started.push(p.as_str());
            }
            Err(why) => {
                tracing::info!(provider = p.as_str(), %why, "provider not configured")
            }
        }
    }
    started
}

/// One line of `launchguard check --connect`.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckLine {
    pub provider: &'static str,
    /// `ok`, `down`, or `off` (not configured).
    pub status: &'static str,
    pub detail: String,
}

/// Polls every configured provider once, at the same time, and says how it went.
pub async fn check(cfg: &Config) -> Vec<CheckLine> {
    async fn one<P: Provider>(cfg: &Config) -> CheckLine {
        let name = P::NAME.as_str();
        if let Err(why) = cfg.providers.get(P::NAME).key(P::NAME) {
            return CheckLine {
                provider: name,
                status: "off",
                detail: format!("not configured: {why}"),
            };
        }
        let src = ProviderSource::<P>::new();
        let limit = cfg.providers.get(P::NAME).collect_timeout.0;
        let r = match tokio::time::timeout(limit, src.poll_at(cfg, Utc::now())).await {
            Ok(r) => r,
            Err(_) => Err(SourceError::new(
                reason::TIMEOUT,
                format!(
                    "no complete poll within collect_timeout ({})",
                    humantime::format_duration(limit)
                ),
            )),
        };
        match r {
            Ok(f) => CheckLine {
                provider: name,
                status: "ok",
                detail: format!("reached, authenticated, figures read: {}", summary(&f)),
            },
            Err(e) => CheckLine {
                provider: name,
                status: "down",
                detail: explain(&e),
            },
        }
    }
    let (a, o, r, e) = tokio::join!(
        one::<Anthropic>(cfg),
        one::<OpenAi>(cfg),
        one::<OpenRouter>(cfg),
        one::<ElevenLabs>(cfg)
    );
    vec![a, o, r, e]
}

/// A failed poll in plain words: how far it got, then what went wrong.
pub fn explain(e: &SourceError) -> String {
    let stage = match e.reason {
        reason::CONNECT => "not reached",
        reason::TIMEOUT => "no answer in time",
        reason::AUTH => "reached, but the key was refused",
        reason::CONFIG => "configuration problem",
        reason::RATE_LIMITED => "reached, but rate-limited",
        _ => "reached, but the figures could not be read",
    };
    format!("{stage}: {}", e.message)
}

/// What a good poll read, in one line.
pub fn summary(f: &ProviderFigures) -> String {
    if let Some(q) = &f.elevenlabs {
        let reset = q
            .next_reset
            .map(|t| format!(", resets {}", t.format("%Y-%m-%d %H:%M UTC")))
            .unwrap_or_default();
        return format!(
            "{} of {} characters used this billing period{reset}",
            q.characters_used, q.characters_limit
        );
    }
    let mut parts = Vec::new();
    if let Some(c) = f.cost(Period::Month) {
        parts.push(format!("${} this UTC month", c.round_dp(2)));
    }
    let models = f.models.keys().filter(|(_, p)| *p == Period::Month).count();
    if f.openrouter.is_none() {
        parts.push(format!("{models} models or line items"));
    }
    if let Some(a) = &f.openrouter {
        parts.push(match (a.key_limit_remaining_usd, a.key_limit_usd) {
            (Some(r), Some(l)) => {
                format!("key limit ${} left of ${}", r.round_dp(2), l.round_dp(2))
            }
            _ => "key has no spending limit".into(),
        });
        if let Some(c) = a.credits_remaining_usd() {
            parts.push(format!("${} credits left", c.round_dp(2)));
        }
    }
    parts.join(", ")
}

/// Runs the response parser that `data`'s first byte picks on the rest, dropping the result.
/// The fuzz target and the replay of its kept inputs (tests/it/fuzz_regressions.rs) share this
/// dispatch, so a kept input means the same to both.
pub fn parse_any(data: &[u8]) {
    let Some((which, body)) = data.split_first() else {
        return;
    };
    match which % 7 {
        0 => drop(anthropic::parse_usage(body)),
        1 => drop(anthropic::parse_cost(body)),
        2 => drop(openai::parse_usage(body)),
        3 => drop(openai::parse_costs(body)),
        4 => drop(openrouter::parse_key(body)),
        5 => drop(openrouter::parse_credits(body)),
        _ => drop(elevenlabs::parse_subscription(body)),
    }
}
