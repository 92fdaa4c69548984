//! The `kit:` section: what `launchguard render` needs beyond the thresholds the exporter uses —
//! where runbooks live, the thresholds of the signals only the kit alerts on, `for:` durations,
//! and where notifications go. Secrets are never written here: Alertmanager and Prometheus read
//! them from the files named by the `*_file` fields.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use strum::{EnumIter, EnumString, IntoEnumIterator, IntoStaticStr};

use super::{Dur, Threshold};
use crate::catalogue::FigureName;

/// The kit's alerts that no catalogue figure is behind. With the figures they are the signals,
/// the keys of `kit.rules.for`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, EnumIter, EnumString, IntoStaticStr,
)]
#[strum(serialize_all = "snake_case")]
pub enum KitSignal {
    Budget,
    ClientBudget,
    BudgetForecast,
    TierHeadroom,
    SourceDown,
    SourceStale,
    ExporterDown,
    SyncJobLate,
    CronJobFailures,
    PoolerPressure,
    StrainReadinessLost,
    Watchdog,
    SourceNeverUp,
    FigureUnavailable,
    ConfigReloadFailed,
    GuardStoreDown,
    KillSwitchOn,
    LedgerDrift,
    OpenrouterCredits,
    OpenrouterKeyLimit,
    ElevenlabsQuota,
    ElevenlabsDrift,
}

/// Every alert of the kit, one per signal: one per catalogue figure, then the kit's own. Its
/// string form (the key of its `for:` override and of its promtool test file) is the figure's
/// label or the kit signal's snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Signal {
    Figure(FigureName),
    Kit(KitSignal),
}

impl Signal {
    /// Every signal: the figures in catalogue order, then the kit's own.
    pub fn all() -> impl Iterator<Item = Signal> {
        FigureName::all()
            .map(Signal::Figure)
            .chain(KitSignal::iter().map(Signal::Kit))
    }

    /// Its string form.
    pub fn key(self) -> &'static str {
        match self {
            Signal::Figure(f) => f.label(),
            Signal::Kit(k) => k.into(),
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// A signal name that is neither a figure nor a kit signal; the message lists the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown signal `{0}`, expected one of {known}", known = Signal::all().map(Signal::key).collect::<Vec<_>>().join(", "))]
pub struct UnknownSignal(pub String);

impl FromStr for Signal {
    type Err = UnknownSignal;

    fn from_str(s: &str) -> Result<Self, UnknownSignal> {
        FigureName::from_str(s)
            .map(Signal::Figure)
            .or_else(|_| KitSignal::from_str(s).map(Signal::Kit))
            .map_err(|_| UnknownSignal(s.to_string()))
    }
}

impl Serialize for Signal {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.key())
    }
}

impl<'de> Deserialize<'de> for Signal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Kit {
    /// Address of docs/runbooks.md; each alert links to its own heading there.
    /// Empty (the default): the exporter's own copy, `http://<first launchguard target>/docs/
    /// runbooks.md`, which works the day the kit is installed.
    pub runbook_url: String,
    pub rules: KitRules,
    pub alertmanager: KitAlertmanager,
    pub prometheus: KitPrometheus,
}

impl Kit {
    /// The runbooks' address every alert links to (`runbook_url`, else the exporter's own).
    pub fn runbook_base(&self) -> String {
        if !self.runbook_url.is_empty() {
            return self.runbook_url.clone();
        }
        let target = self
            .prometheus
            .launchguard_targets
            .first()
            .map_or("localhost:10071", String::as_str);
        format!("http://{target}/docs/runbooks.md")
    }
}

/// Thresholds of the signals that only the kit alerts on, and `for:` overrides.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct KitRules {
    /// `for:` per alert; alerts not named keep the duration their runbook explains.
    #[serde(rename = "for")]
    pub for_: BTreeMap<Signal, Dur>,
    /// Tier usage ratio at which the info alert says "plan the upgrade".
    pub tier_near_ratio: f64,
    /// Open connections over max_connections.
    pub pooler_ratio: Threshold,
    /// Failed runs of one pg_cron job: the warning counts the last 24 hours, the critical the
    /// runs that failed within `cron_failures_window`, so a burst pages once and clears.
    pub cron_failures: Threshold,
    /// The window of the critical cron failure count.
    pub cron_failures_window: Dur,
    /// API responses in the last 5 minutes below which the ErrorRate alert stays silent: two
    /// failures in a quiet window at soft launch are no 3 a.m. page.
    pub error_rate_min_requests: u64,
    /// Age of a source's last successful collection.
    pub source_stale: DurThreshold,
    /// Age of the sync job's last success, in multiples of the tier's cron cadence.
    pub sync_job_late_cadences: Threshold,
    /// Ledger drift (`yesterday`, `month`) fires when the provider reports at least this many
    /// dollars more than the ledger logged ...
    pub ledger_drift_usd: f64,
    /// ... and that is at least this share of the provider's figure: small in dollars or in
    /// share is rounding and report lag, not spend the ledger missed.
    pub ledger_drift_ratio: f64,
    /// Dollars left on the OpenRouter account (warning, then critical as they fall).
    pub openrouter_credits_usd: Threshold,
    /// Share of the OpenRouter key's own spending limit still left (warning, then critical as
    /// it falls): OpenRouter refuses the key's requests at 0.
    pub openrouter_key_limit_left_ratio: Threshold,
    /// Share of the ElevenLabs billing period's character quota used.
    pub elevenlabs_quota_ratio: Threshold,
    /// ElevenLabs drift (its characters over the billing period against the ledger's, at
    /// `ledger_drift_ratio`) counts once the period has billed at least this many characters:
    /// early in a period a few characters are a large share.
    pub elevenlabs_drift_characters: u64,
    /// Budget used share forecast at the period's end (predict_linear) that warns.
    pub budget_forecast_ratio: f64,
}

impl Default for KitRules {
    fn default() -> Self {
        KitRules {
            for_: BTreeMap::new(),
            tier_near_ratio: 0.8,
            pooler_ratio: Threshold {
                warning: 0.75,
                critical: 0.9,
            },
            cron_failures: Threshold {
                warning: 1.0,
                critical: 5.0,
            },
            cron_failures_window: Dur::from_secs(3600),
            error_rate_min_requests: 100,
            source_stale: DurThreshold {
                warning: Dur::from_secs(600),
                critical: Dur::from_secs(3600),
            },
            sync_job_late_cadences: Threshold {
                warning: 2.0,
                critical: 4.0,
            },
            ledger_drift_usd: 5.0,
            ledger_drift_ratio: 0.1,
            openrouter_credits_usd: Threshold {
                warning: 20.0,
                critical: 5.0,
            },
            openrouter_key_limit_left_ratio: Threshold {
                warning: 0.2,
                critical: 0.05,
            },
            elevenlabs_quota_ratio: Threshold {
                warning: 0.8,
                critical: 0.95,
            },
            elevenlabs_drift_characters: 10_000,
            budget_forecast_ratio: 1.0,
        }
    }
}

/// A warning and a critical duration.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DurThreshold {
    pub warning: Dur,
    pub critical: Dur,
}

/// Alertmanager routing: info stays on the dashboard, warning goes to email, critical to SMS and
/// email.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct KitAlertmanager {
    /// Wait before the first notification of a new group, so alerts of one cause arrive together.
    pub group_wait: Dur,
    /// Wait before notifying about alerts added to a group already notified.
    pub group_interval: Dur,
    pub email: Email,
    pub sms: Sms,
    pub heartbeat: Heartbeat,
}

impl Default for KitAlertmanager {
    fn default() -> Self {
        KitAlertmanager {
            group_wait: Dur::from_secs(30),
            group_interval: Dur::from_secs(300),
            email: Email::default(),
            sms: Sms::default(),
            heartbeat: Heartbeat::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Email {
    /// Recipients of warning and critical emails.
    pub to: Vec<String>,
    pub from: String,
    /// SMTP server as host:port.
    pub smarthost: String,
    pub auth_username: Option<String>,
    /// File holding the SMTP password, read by Alertmanager.
    pub auth_password_file: Option<PathBuf>,
    pub require_tls: bool,
}

impl Default for Email {
    fn default() -> Self {
        Email {
            to: vec!["founder@example.com".into()],
            from: "launchguard@example.com".into(),
            smarthost: "smtp.example.com:587".into(),
            auth_username: Some("launchguard@example.com".into()),
            auth_password_file: Some("/etc/alertmanager/secrets/smtp_password".into()),
            require_tls: true,
        }
    }
}

/// How critical alerts reach a phone.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum SmsVia {
    /// Amazon SNS sends the SMS directly to each phone number.
    #[default]
    Sns,
    /// A webhook of an SMS bridge (e.g. for Twilio), which Alertmanager has no receiver for.
    Webhook,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Sms {
    pub via: SmsVia,
    /// E.164 numbers (+ and up to 15 digits) that receive critical alerts by SNS.
    pub phone_numbers: Vec<String>,
    pub sns: Sns,
    pub webhook: SmsWebhook,
}

impl Default for Sms {
    fn default() -> Self {
        Sms {
            via: SmsVia::Sns,
            phone_numbers: vec!["+15555550100".into()],
            sns: Sns::default(),
            webhook: SmsWebhook::default(),
        }
    }
}

/// SNS credentials come from the AWS default chain (environment, the shared credentials file
/// named by AWS_SHARED_CREDENTIALS_FILE, or the instance role), never from this file.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Sns {
    pub region: String,
    /// Profile of the shared credentials file to use.
    pub profile: Option<String>,
    /// Role to assume for publishing.
    pub role_arn: Option<String>,
}

impl Default for Sns {
    fn default() -> Self {
        Sns {
            region: "us-east-1".into(),
            profile: None,
            role_arn: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SmsWebhook {
    /// The bridge's URL; it must not carry a secret (use `credentials_file`).
    pub url: String,
    /// File holding the bearer token Alertmanager sends to the bridge.
    pub credentials_file: Option<PathBuf>,
}

impl Default for SmsWebhook {
    fn default() -> Self {
        SmsWebhook {
            url: "https://sms-bridge.example.com/alertmanager".into(),
            credentials_file: Some("/etc/alertmanager/secrets/sms_bridge_token".into()),
        }
    }
}

/// Where the always-firing Watchdog alert goes: a dead-man's-switch service (healthchecks.io,
/// Dead Man's Snitch, Better Stack heartbeats, Cronitor) that pages when the pings stop, so a
/// dead Prometheus, Alertmanager or network path is noticed although no alert can say so.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Heartbeat {
    /// The service's ping URL; it must not carry a secret (use `credentials_file`).
    pub url: String,
    /// File holding a bearer token Alertmanager sends with each ping, if the service wants one.
    pub credentials_file: Option<PathBuf>,
    /// How often the ping repeats while everything works; set the service's period above it.
    pub repeat_interval: Dur,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat {
            url: "https://heartbeat.example.com/launchguard".into(),
            credentials_file: None,
            repeat_interval: Dur::from_secs(300),
        }
    }
}

/// deploy/prometheus/prometheus.yml.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct KitPrometheus {
    pub scrape_interval: Dur,
    pub evaluation_interval: Dur,
    /// host:port of each launchguard exporter.
    pub launchguard_targets: Vec<String>,
    /// host:port of each Alertmanager.
    pub alertmanagers: Vec<String>,
    /// Rule files, relative to prometheus.yml or absolute. The default names the two files
    /// render writes next to prometheus.yml (deploy/prometheus/rules/): the folder works
    /// wherever it is copied, and a copy without them fails `promtool check config` instead
    /// of loading no rules (a glob that matches nothing is silent).
    pub rule_files: Vec<String>,
    pub supabase: SupabaseScrape,
}

impl Default for KitPrometheus {
    fn default() -> Self {
        KitPrometheus {
            scrape_interval: Dur::from_secs(30),
            evaluation_interval: Dur::from_secs(30),
            launchguard_targets: vec!["launchguard:10071".into()],
            alertmanagers: vec!["alertmanager:9093".into()],
            rule_files: vec![
                "rules/launchguard-alerts.yml".into(),
                "rules/launchguard-recording.yml".into(),
            ],
            supabase: SupabaseScrape::default(),
        }
    }
}

/// Supabase's own metrics endpoint (database, storage and network series launchguard does not
/// re-export).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SupabaseScrape {
    pub enabled: bool,
    /// The project reference: the `<ref>` of `<ref>.supabase.co`.
    pub project_ref: String,
    /// File holding the service_role key (basic auth password).
    pub password_file: PathBuf,
    pub scrape_interval: Dur,
}

impl Default for SupabaseScrape {
    fn default() -> Self {
        SupabaseScrape {
            enabled: true,
            project_ref: "your-project-ref".into(),
            password_file: "/etc/prometheus/secrets/supabase_service_role_key".into(),
            scrape_interval: Dur::from_secs(60),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::load_str;

    #[test]
    fn kit_errors_name_line_and_field() {
        let text =
            "kit:\n  alertmanager:\n    sms:\n      phone_numbers:\n        - \"555-0100\"\n";
        let e = &load_str(text).unwrap_err()[0];
        assert_eq!(e.field, "kit.alertmanager.sms.phone_numbers.0", "{e}");
        assert_eq!((e.line, e.column), (Some(5), Some(11)), "{e}");
        assert!(e.message.contains("E.164"), "{e}");
    }

    #[test]
    fn unknown_signal_in_for_is_refused_with_its_place() {
        let e = &load_str("kit:\n  rules:\n    for:\n      queue_dept: 1m\n").unwrap_err()[0];
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.field.starts_with("kit.rules.for"), "{e}");
        assert!(e.message.contains("queue_dept"), "{e}");
        assert!(e.message.contains("queue_depth, cron_load"), "{e}");
    }

    #[test]
    fn every_signal_reads_back_from_its_key() {
        use super::{KitSignal, Signal};
        let all: Vec<Signal> = Signal::all().collect();
        assert_eq!(all.len(), crate::catalogue::FIGURES.len() + 22);
        for s in &all {
            assert_eq!(s.key().parse::<Signal>(), Ok(*s));
        }
        assert_eq!(
            "client_budget".parse::<Signal>(),
            Ok(Signal::Kit(KitSignal::ClientBudget))
        );
        let mut keys: Vec<&str> = all.iter().map(|s| s.key()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(
            keys.len(),
            all.len(),
            "figure labels and kit signals share no name"
        );
    }

    #[test]
    fn for_overrides_parse_as_durations() {
        let c = load_str("kit:\n  rules:\n    for:\n      queue_depth: 2s\n").unwrap();
        assert_eq!(
            c.kit.rules.for_[&super::Signal::Figure(crate::catalogue::FigureName::QueueDepth)],
            crate::config::Dur::from_secs(2)
        );
    }
}
