//! The one YAML configuration: tiers, budgets, thresholds, prices and sources.
//!
//! Every field has a default taken from the product brief, so `launchguard serve` runs with no
//! file at all. Unknown fields are rejected so that a typo never silently becomes a default.

pub mod bullmq;
mod duration;
pub mod guard;
pub mod kit;
mod load;
pub mod milestone;
mod providers;
pub mod reference;
mod secret;
pub mod server;
mod strain;
pub mod supabase_metrics;
mod syntax;
mod validate;
pub mod vercel;
mod zone;

use std::collections::BTreeMap;
use std::path::PathBuf;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};

use crate::catalogue::{FIGURES, FigureName};

pub use bullmq::{Bullmq, JobsFrom};
pub use duration::{Dur, DurationError};
pub use guard::{FailMode, Guard};
pub use load::{ConfigError, load_file, load_file_with, load_str, parse_located};
pub use providers::{
    KeyError, OPENROUTER_MANAGEMENT_KEY_ENV, ProviderConfig, ProviderName, Providers,
};
pub use secret::{Secret, SecretFileError, SecretRef, SecretRefError};
pub use server::Server;
pub use strain::{
    CapacitySearch, ChecklistTier, LatencyStatistic, MemorySourceName, OBSERVED_ITEMS, RequestDef,
    STRAIN_70_ITEM, ScenarioDef, ScenarioName, Scenarios, StatusSet, Strain, StrainThresholds,
    SuiteEntry, Suites, UpgradeChecklist, seed_items,
};
pub use zone::{UnknownZone, Zone};

/// Root of the configuration file.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The tier the platform runs at now. A tier change is a config change, never automatic.
    pub tier: TierName,
    /// IANA time zone in which "today" and "this month" are counted.
    pub timezone: Zone,
    pub tiers: Tiers,
    pub budgets: Budgets,
    pub thresholds: Thresholds,
    pub prices: Prices,
    pub database: Database,
    /// Provider usage and cost APIs, each enabled by its key.
    pub providers: Providers,
    /// Bound on per-client label values; the rest are summed into `client="other"`.
    pub max_client_labels: usize,
    /// Ledger providers with their own `provider` label; the rest are `provider="other"`.
    pub max_provider_labels: usize,
    /// (provider, model) pairs with their own `model` label, in the ledger's families and
    /// in the providers' own reports; the rest are `model="other"` of their provider.
    pub max_model_labels: usize,
    /// Storage buckets with their own `bucket` label; the rest are summed into `bucket="other"`.
    pub max_bucket_labels: usize,
    /// pg_cron jobs with their own `cron_job` label, the sync job always among them.
    pub max_cron_job_labels: usize,
    /// The admission API: tier limits, budgets with a hard stop, throttling, kill switches.
    pub guard: Guard,
    /// What `launchguard render` writes: rules, dashboards, Alertmanager and Prometheus config.
    pub kit: kit::Kit,
    /// Strain scenarios, suites and pass thresholds (`launchguard strain`).
    pub strain: Strain,
    /// Infrastructure items each target tier needs before an upgrade.
    pub upgrade_checklist: UpgradeChecklist,
    /// The seed's next milestone besides readiness: stable clients and trial completion.
    pub milestone: milestone::Milestone,
    /// Connection and login limits of the HTTP server (read at start).
    pub server: Server,
    /// The receiver of Vercel's log drains (docs/vercel.md).
    pub vercel_drain: vercel::VercelDrain,
    /// Where the job figures come from: `table`, `bullmq` or `both` (docs/sources.md).
    pub jobs_from: JobsFrom,
    /// BullMQ's queues in Redis (docs/sources.md).
    pub bullmq: Bullmq,
    /// Supabase's own metrics endpoint and the plan's limits (docs/sources.md).
    pub supabase_metrics: supabase_metrics::SupabaseMetrics,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tier: TierName::SoftLaunch,
            timezone: Zone::UTC,
            tiers: Tiers::default(),
            budgets: Budgets::default(),
            thresholds: Thresholds::default(),
            prices: Prices::default(),
            database: Database::default(),
            providers: Providers::default(),
            max_client_labels: 100,
            max_provider_labels: 20,
            max_model_labels: 50,
            max_bucket_labels: 50,
            max_cron_job_labels: 50,
            guard: Guard::default(),
            kit: kit::Kit::default(),
            strain: Strain::default(),
            upgrade_checklist: UpgradeChecklist::default(),
            milestone: milestone::Milestone::default(),
            server: Server::default(),
            vercel_drain: vercel::VercelDrain::default(),
            jobs_from: JobsFrom::default(),
            bullmq: Bullmq::default(),
            supabase_metrics: supabase_metrics::SupabaseMetrics::default(),
        }
    }
}

impl Config {
    /// The limits of the tier currently in force.
    pub fn current_limits(&self) -> &TierLimits {
        self.tiers.get(self.tier)
    }

    /// The time zone periods are counted in (parsed when the config was read).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone.tz()
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum TierName {
    SoftLaunch,
    HardLaunch,
    Growth,
}

impl TierName {
    pub const ALL: [TierName; 3] = [TierName::SoftLaunch, TierName::HardLaunch, TierName::Growth];

    pub fn as_str(self) -> &'static str {
        match self {
            TierName::SoftLaunch => "soft_launch",
            TierName::HardLaunch => "hard_launch",
            TierName::Growth => "growth",
        }
    }

    /// The tier after this one, if any.
    pub fn next(self) -> Option<TierName> {
        match self {
            TierName::SoftLaunch => Some(TierName::HardLaunch),
            TierName::HardLaunch => Some(TierName::Growth),
            TierName::Growth => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Tiers {
    pub soft_launch: TierLimits,
    pub hard_launch: TierLimits,
    pub growth: TierLimits,
}

impl Tiers {
    pub fn get(&self, t: TierName) -> &TierLimits {
        match t {
            TierName::SoftLaunch => &self.soft_launch,
            TierName::HardLaunch => &self.hard_launch,
            TierName::Growth => &self.growth,
        }
    }
}

impl Default for Tiers {
    fn default() -> Self {
        Tiers {
            soft_launch: TierLimits::new(5, 500_000, 30, 3, 60, 86_400),
            hard_launch: TierLimits::new(50, 5_000_000, 200, 10, 300, 3_600),
            growth: TierLimits::new(100, 15_000_000, 600, 25, 600, 1_800),
        }
    }
}

/// Limits of one tier (brief section 2). Missing fields take the soft-launch values.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TierLimits {
    pub clients: u64,
    pub ai_tokens_per_day: u64,
    pub visual_jobs_per_day: u64,
    pub concurrent_jobs: u64,
    pub api_requests_per_minute: u64,
    /// Expected cadence of the platform sync cron job at this tier.
    pub cron_cadence: Dur,
}

impl TierLimits {
    fn new(c: u64, tok: u64, vis: u64, conc: u64, rpm: u64, cadence_s: u64) -> Self {
        TierLimits {
            clients: c,
            ai_tokens_per_day: tok,
            visual_jobs_per_day: vis,
            concurrent_jobs: conc,
            api_requests_per_minute: rpm,
            cron_cadence: Dur::from_secs(cadence_s),
        }
    }
}

impl Default for TierLimits {
    fn default() -> Self {
        Tiers::default().soft_launch
    }
}

/// Spend budgets in USD (brief section 3).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Budgets {
    pub daily_usd: Decimal,
    pub monthly_usd: Decimal,
    pub client_daily_usd: Decimal,
    /// Fraction of a budget at which its state becomes `alert`.
    pub alert_ratio: f64,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            daily_usd: dec!(50),
            monthly_usd: dec!(500),
            client_daily_usd: dec!(5),
            alert_ratio: 0.8,
        }
    }
}

/// A warning and a critical threshold; a value at or above a threshold is at that level.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub warning: f64,
    pub critical: f64,
}

/// Resource Monitor thresholds (brief section 4), in base units (ratios 0..1, bytes,
/// seconds): one per figure of the catalogue, under its config key. A figure left out of the
/// file keeps the catalogue's default; an unknown key is an error.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds(BTreeMap<FigureName, Threshold>);

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds(FIGURES.iter().map(|d| (d.name, d.defaults)).collect())
    }
}

impl Thresholds {
    /// A figure's thresholds.
    pub fn get(&self, f: FigureName) -> Threshold {
        self.0.get(&f).copied().unwrap_or(f.def().defaults)
    }

    pub fn set(&mut self, f: FigureName, t: Threshold) {
        self.0.insert(f, t);
    }

    /// Each figure with its thresholds, in catalogue order.
    pub fn by_figure(&self) -> impl Iterator<Item = (FigureName, Threshold)> + '_ {
        FigureName::all().map(|f| (f, self.get(f)))
    }
}

impl Serialize for Thresholds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(FIGURES.len()))?;
        for (f, t) in self.by_figure() {
            m.serialize_entry(f.config_key(), &t)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Thresholds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let given = BTreeMap::<String, Threshold>::deserialize(d)?;
        let mut out = Thresholds::default();
        for (key, t) in given {
            let Some(f) = FigureName::from_config_key(&key) else {
                let known: Vec<&str> = FIGURES.iter().map(|d| d.config_key).collect();
                return Err(serde::de::Error::custom(format!(
                    "unknown figure `{key}`, expected one of {}",
                    known.join(", ")
                )));
            };
            out.set(f, t);
        }
        Ok(out)
    }
}

/// Price table. Providers missing from the file keep their defaults.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Prices {
    /// Cache reads cost this multiple of the input price unless a provider says otherwise.
    pub cache_read_multiplier: Decimal,
    /// Cache writes cost this multiple of the input price unless a provider says otherwise.
    pub cache_write_multiplier: Decimal,
    pub providers: BTreeMap<String, ProviderPrice>,
}

impl Default for Prices {
    fn default() -> Self {
        let mut p = BTreeMap::new();
        let tok = |i: Decimal, o: Decimal| ProviderPrice {
            input_per_mtok: i,
            output_per_mtok: o,
            ..ProviderPrice::default()
        };
        p.insert("anthropic".into(), tok(dec!(3.00), dec!(15.00)));
        p.insert("gemini".into(), tok(dec!(1.25), dec!(5.00)));
        p.insert("openai".into(), tok(dec!(10.00), dec!(30.00)));
        p.insert("openrouter".into(), tok(dec!(0.50), dec!(0.50)));
        p.insert(
            "elevenlabs".into(),
            ProviderPrice {
                per_1k_characters: dec!(0.30),
                ..ProviderPrice::default()
            },
        );
        p.insert(
            "perplexity".into(),
            ProviderPrice {
                per_request: dec!(0.005),
                ..ProviderPrice::default()
            },
        );
        Prices {
            cache_read_multiplier: dec!(0.1),
            cache_write_multiplier: dec!(1.25),
            providers: p,
        }
    }
}

/// Prices of one provider (USD). Model entries override the provider's token prices.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderPrice {
    pub input_per_mtok: Decimal,
    pub output_per_mtok: Decimal,
    /// Price of a cached-input read per 1M tokens; unset means input price x multiplier.
    pub cache_read_per_mtok: Option<Decimal>,
    /// Price of a cache write per 1M tokens; unset means input price x multiplier.
    pub cache_write_per_mtok: Option<Decimal>,
    pub per_1k_characters: Decimal,
    pub per_request: Decimal,
    pub models: BTreeMap<String, ModelPrice>,
}

/// Per-model overrides; unset fields fall back to the provider's.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ModelPrice {
    pub input_per_mtok: Option<Decimal>,
    pub output_per_mtok: Option<Decimal>,
    pub cache_read_per_mtok: Option<Decimal>,
    pub cache_write_per_mtok: Option<Decimal>,
    pub per_1k_characters: Option<Decimal>,
    pub per_request: Option<Decimal>,
}

/// The Supabase (PostgreSQL) source.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Database {
    /// Connection URL, as a `${ENV}` reference or `file:` path; never a literal.
    pub url: SecretRef,
    /// Collection interval.
    pub interval: Dur,
    /// Bound on one whole collection cycle.
    pub timeout: Dur,
    /// Connections kept open by the pool.
    pub pool_size: usize,
    /// Extra CA certificate (PEM) trusted for TLS, e.g. Supabase's root CA.
    pub ca_file: Option<PathBuf>,
    /// How often settled ledger rows are read again when something may have changed them
    /// (incremental), or the closed days of this month are re-read (full recompute).
    pub closed_days_refresh: Dur,
    /// Keep today's and this month's ledger sums and advance them with the rows recorded since
    /// the last cycle, when `launchguard.usage_events` offers `recorded_at`; false: read the
    /// whole day every cycle.
    pub incremental: bool,
    /// Rows recorded (and jobs created) this long before the oldest open transaction are taken
    /// as final; newer ones are read again every cycle.
    pub settle: Dur,
    /// Where the incremental ledger's settled sums are kept across restarts (written at most
    /// once a minute, mode 0600); unset: a restart reads the settled rows again.
    pub state_file: Option<PathBuf>,
    /// pg_cron job name of the platform sync job checked against the tier's cadence.
    pub sync_job: String,
    /// Replacement SQL per figure query; see docs/configuration.md for each contract.
    pub queries: BTreeMap<QueryName, QueryDef>,
}

impl Default for Database {
    fn default() -> Self {
        Database {
            url: SecretRef::Env("SUPABASE_DB_URL".into()),
            interval: Dur::from_secs(30),
            timeout: Dur::from_secs(20),
            pool_size: 2,
            ca_file: None,
            closed_days_refresh: Dur::from_secs(3600),
            incremental: true,
            settle: Dur::from_secs(300),
            state_file: None,
            sync_job: "platform-sync".into(),
            queries: BTreeMap::new(),
        }
    }
}

/// The figure queries that can be replaced.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum QueryName {
    ActiveClients,
    Usage,
    Jobs,
    Traffic,
    Bandwidth,
    StorageBuckets,
    DatabaseSize,
    CronJobs,
    Connections,
    Trials,
    ClientNames,
}

impl QueryName {
    pub const ALL: [QueryName; 11] = [
        QueryName::ActiveClients,
        QueryName::Usage,
        QueryName::Jobs,
        QueryName::Traffic,
        QueryName::Bandwidth,
        QueryName::StorageBuckets,
        QueryName::DatabaseSize,
        QueryName::CronJobs,
        QueryName::Connections,
        QueryName::Trials,
        QueryName::ClientNames,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            QueryName::ActiveClients => "active_clients",
            QueryName::Usage => "usage",
            QueryName::Jobs => "jobs",
            QueryName::Traffic => "traffic",
            QueryName::Bandwidth => "bandwidth",
            QueryName::StorageBuckets => "storage_buckets",
            QueryName::DatabaseSize => "database_size",
            QueryName::CronJobs => "cron_jobs",
            QueryName::Connections => "connections",
            QueryName::Trials => "trials",
            QueryName::ClientNames => "client_names",
        }
    }
}

/// A replacement query: SQL and the values bound to `$1`, `$2`, ... in order.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QueryDef {
    pub sql: String,
    #[serde(default)]
    pub params: Vec<QueryParam>,
}

/// Values a query can bind.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum QueryParam {
    /// Start of today in the configured time zone.
    DayStart,
    /// Start of this month in the configured time zone.
    MonthStart,
    /// The collection time.
    Now,
    /// Start of a range (the usage query).
    From,
    /// End of a range, exclusive (the usage query).
    To,
}
