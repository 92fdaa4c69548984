//! The provider sources (Anthropic, OpenAI, OpenRouter, ElevenLabs). Each one is enabled by its
//! key: a provider whose key variable is unset is not configured (not down), so a founder who
//! uses two providers sees two sources.

use serde::{Deserialize, Serialize};

use super::{Dur, Secret, SecretFileError, SecretRef};

/// The providers that publish a usage or billing API (Gemini and Perplexity do not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProviderName {
    Anthropic,
    OpenAi,
    OpenRouter,
    ElevenLabs,
}

impl ProviderName {
    pub const ALL: [ProviderName; 4] = [
        ProviderName::Anthropic,
        ProviderName::OpenAi,
        ProviderName::OpenRouter,
        ProviderName::ElevenLabs,
    ];

    /// The `source` and `provider` label value, and the config key.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderName::Anthropic => "anthropic",
            ProviderName::OpenAi => "openai",
            ProviderName::OpenRouter => "openrouter",
            ProviderName::ElevenLabs => "elevenlabs",
        }
    }

    /// The environment variable read when the config names no key.
    pub fn default_key_env(self) -> &'static str {
        match self {
            ProviderName::Anthropic => "ANTHROPIC_ADMIN_KEY",
            ProviderName::OpenAi => "OPENAI_ADMIN_KEY",
            ProviderName::OpenRouter => "OPENROUTER_API_KEY",
            ProviderName::ElevenLabs => "ELEVENLABS_API_KEY",
        }
    }

    /// The public API origin; the documented paths are appended to it.
    pub fn default_base_url(self) -> &'static str {
        match self {
            ProviderName::Anthropic => "https://api.anthropic.com",
            ProviderName::OpenAi => "https://api.openai.com",
            ProviderName::OpenRouter => "https://openrouter.ai",
            ProviderName::ElevenLabs => "https://api.elevenlabs.io",
        }
    }
}

/// Why a provider has no key to poll with, in words that name the reference, never the key:
/// turned off and unset mean "not configured"; an unreadable key file is a fault to fix.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("providers.{}.enabled is false", .0.as_str())]
    Disabled(ProviderName),
    #[error("{0} is not set")]
    Unset(SecretRef),
    #[error(transparent)]
    Unreadable(#[from] SecretFileError),
}

/// Where OpenRouter's optional management key is read when the config names none.
pub const OPENROUTER_MANAGEMENT_KEY_ENV: &str = "OPENROUTER_MANAGEMENT_KEY";

/// The `providers:` section.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Providers {
    pub anthropic: ProviderConfig,
    pub openai: ProviderConfig,
    pub openrouter: ProviderConfig,
    pub elevenlabs: ProviderConfig,
}

impl Providers {
    pub fn get(&self, p: ProviderName) -> &ProviderConfig {
        match p {
            ProviderName::Anthropic => &self.anthropic,
            ProviderName::OpenAi => &self.openai,
            ProviderName::OpenRouter => &self.openrouter,
            ProviderName::ElevenLabs => &self.elevenlabs,
        }
    }

    /// The providers that are enabled and whose key is set, with the reason of the others.
    pub fn configured(&self) -> Vec<(ProviderName, Result<(), KeyError>)> {
        ProviderName::ALL
            .iter()
            .map(|&p| (p, self.get(p).key(p).map(|_| ())))
            .collect()
    }
}

/// One provider's source. Keys are references (`${ENV}` or `file:`), never values.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderConfig {
    /// `false` turns the provider off even when its key is set.
    pub enabled: bool,
    /// The key; unset means the provider's usual variable (`${ANTHROPIC_ADMIN_KEY}`,
    /// `${OPENAI_ADMIN_KEY}`, `${OPENROUTER_API_KEY}`, `${ELEVENLABS_API_KEY}`).
    pub key: Option<SecretRef>,
    /// OpenRouter only: a management key, which unlocks the account's credit balance. Unset
    /// means `${OPENROUTER_MANAGEMENT_KEY}`; when that is unset too, credits are not read.
    pub management_key: Option<SecretRef>,
    /// API origin (scheme, host, optional path prefix) for a proxy or a test fake.
    pub base_url: Option<String>,
    /// Time between two polls.
    pub interval: Dur,
    /// Bound on one HTTP request, body included.
    pub timeout: Dur,
    /// Bound on one whole poll: every page, every retry.
    pub collect_timeout: Dur,
    /// Largest response body read (decompressed); a larger one fails the poll.
    pub max_response_bytes: u64,
    /// Most pages followed in one listing; more fails the poll rather than loop.
    pub max_pages: u32,
    /// Retries of one request after a 429, a 5xx or a failed connection.
    pub retries: u32,
    /// First backoff; it doubles on each retry, with jitter.
    pub backoff: Dur,
    /// Longest wait before a retry. A Retry-After longer than this fails the poll instead.
    pub max_backoff: Dur,
    /// Days (today included) re-fetched on every poll, because providers revise recent days.
    pub trailing_days: u32,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        ProviderConfig {
            enabled: true,
            key: None,
            management_key: None,
            base_url: None,
            interval: Dur::from_secs(300),
            timeout: Dur::from_secs(30),
            collect_timeout: Dur::from_secs(120),
            max_response_bytes: 8_000_000,
            max_pages: 20,
            retries: 3,
            backoff: Dur::from_secs(1),
            max_backoff: Dur::from_secs(60),
            trailing_days: 3,
        }
    }
}

impl ProviderConfig {
    /// The key reference in force for provider `p`.
    pub fn key_ref(&self, p: ProviderName) -> SecretRef {
        self.key
            .clone()
            .unwrap_or_else(|| SecretRef::Env(p.default_key_env().into()))
    }

    /// The management key reference (OpenRouter).
    pub fn management_key_ref(&self) -> SecretRef {
        self.management_key
            .clone()
            .unwrap_or_else(|| SecretRef::Env(OPENROUTER_MANAGEMENT_KEY_ENV.into()))
    }

    /// The key, or why the provider is not configured (in words that name no secret).
    pub fn key(&self, p: ProviderName) -> Result<Secret, KeyError> {
        if !self.enabled {
            return Err(KeyError::Disabled(p));
        }
        let r = self.key_ref(p);
        match r.resolve()? {
            Some(k) => Ok(k),
            None => Err(KeyError::Unset(r)),
        }
    }

    /// The origin the documented paths are appended to, without a trailing slash.
    pub fn base_url(&self, p: ProviderName) -> String {
        self.base_url
            .as_deref()
            .unwrap_or(p.default_base_url())
            .trim_end_matches('/')
            .to_string()
    }
}

/// Problems as (dotted path, message), for validate.rs.
pub(super) fn validate(p: &Providers, out: &mut Vec<(String, String)>) {
    for name in ProviderName::ALL {
        let c = p.get(name);
        let path = |f: &str| format!("providers.{}.{f}", name.as_str());
        for (f, v) in [
            ("interval", c.interval),
            ("timeout", c.timeout),
            ("collect_timeout", c.collect_timeout),
            ("backoff", c.backoff),
            ("max_backoff", c.max_backoff),
        ] {
            if v.0.is_zero() {
                out.push((path(f), "must be greater than zero".into()));
            }
        }
        if c.timeout > c.collect_timeout {
            out.push((
                path("timeout"),
                "must not be longer than collect_timeout (one request inside one poll)".into(),
            ));
        }
        if c.backoff > c.max_backoff {
            out.push((
                path("backoff"),
                "must not be longer than max_backoff".into(),
            ));
        }
        if c.max_response_bytes < 1024 {
            out.push((path("max_response_bytes"), "must be at least 1024".into()));
        }
        if c.max_pages == 0 {
            out.push((path("max_pages"), "must be at least 1".into()));
        }
        if c.retries > 10 {
            out.push((path("retries"), "must be at most 10".into()));
        }
        if !(1..=31).contains(&c.trailing_days) {
            out.push((path("trailing_days"), "must be between 1 and 31".into()));
        }
        if let Some(u) = &c.base_url
            && let Err(m) = check_base_url(u)
        {
            out.push((path("base_url"), m));
        }
        if c.management_key.is_some() && name != ProviderName::OpenRouter {
            out.push((
                path("management_key"),
                "only OpenRouter has a management key".into(),
            ));
        }
    }
}

fn check_base_url(u: &str) -> Result<(), String> {
    let parsed = url::Url::parse(u)
        .map_err(|e| format!("is not a URL ({e}); write e.g. https://api.anthropic.com"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("must start with https:// (or http:// for a local proxy)".into());
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err("must not carry a query or fragment".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // A password in the URL would end up in logs; keys belong in `key`.
        return Err("must not carry a user or password".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;

    #[test]
    fn defaults_name_the_usual_variables() {
        let p = Providers::default();
        assert_eq!(
            p.anthropic.key_ref(ProviderName::Anthropic).to_string(),
            "${ANTHROPIC_ADMIN_KEY}"
        );
        assert_eq!(
            p.openrouter.management_key_ref().to_string(),
            "${OPENROUTER_MANAGEMENT_KEY}"
        );
        assert_eq!(
            p.openai.base_url(ProviderName::OpenAi),
            "https://api.openai.com"
        );
        assert_eq!(p.elevenlabs.interval, Dur::from_secs(300));
    }

    #[test]
    fn unset_key_is_not_configured_and_names_the_variable() {
        let mut c = ProviderConfig {
            key: Some(SecretRef::Env("LAUNCHGUARD_TEST_SURELY_UNSET_KEY".into())),
            ..ProviderConfig::default()
        };
        let e = c.key(ProviderName::OpenAi).unwrap_err();
        assert!(matches!(e, KeyError::Unset(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            "${LAUNCHGUARD_TEST_SURELY_UNSET_KEY} is not set"
        );
        c.enabled = false;
        assert_eq!(
            c.key(ProviderName::OpenAi).unwrap_err().to_string(),
            "providers.openai.enabled is false"
        );
        let dir = tempfile::tempdir().unwrap();
        c.enabled = true;
        c.key = Some(SecretRef::File(dir.path().join("absent")));
        let e = c.key(ProviderName::OpenAi).unwrap_err();
        assert!(matches!(e, KeyError::Unreadable(_)), "{e:?}");
        assert!(std::error::Error::source(&e).is_some(), "{e:?}");
    }

    #[test]
    fn bad_fields_are_located() {
        let text = "providers:\n  openai:\n    base_url: ftp://x\n    trailing_days: 0\n  anthropic:\n    management_key: ${X}\n";
        let errs = load_str(text).unwrap_err();
        let got: Vec<_> = errs.iter().map(|e| (e.field.as_str(), e.line)).collect();
        assert!(
            got.contains(&("providers.openai.base_url", Some(3))),
            "{got:?}"
        );
        assert!(
            got.contains(&("providers.openai.trailing_days", Some(4))),
            "{got:?}"
        );
        assert!(
            got.contains(&("providers.anthropic.management_key", Some(6))),
            "{got:?}"
        );
    }

    #[test]
    fn literal_keys_and_unknown_fields_are_refused() {
        let e = &load_str("providers:\n  openai:\n    key: sk-admin-abc123\n").unwrap_err()[0];
        assert_eq!(e.line, Some(3), "{e}");
        assert!(!e.to_string().contains("sk-admin-abc123"), "{e}");
        let e = &load_str("providers:\n  openai:\n    intervall: 5m\n").unwrap_err()[0];
        assert!(e.message.contains("intervall"), "{e}");
    }

    #[test]
    fn base_url_with_password_is_refused() {
        assert!(check_base_url("https://u:p@proxy.local").is_err());
        assert!(check_base_url("http://127.0.0.1:9999/prefix").is_ok());
    }
}
