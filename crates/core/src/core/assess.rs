//! One assessment from the config and the latest figures: costs, budgets, tier usage, levels.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::bounded::{Bounded, total};
use super::budget::{self, BudgetState, Scope};
use super::cron;
use super::folds;
use super::labels::{Kept, OTHER};
use super::latency;
use super::levels::{self, FigureName, Level};
use super::pricing::row_cost;
use super::risk::{self, VisualRisk};
use super::tiers::{Resource, TierUsage};
use crate::config::{Config, TierName};
use crate::figures::{DbFigures, UsageRow};

/// The label for ledger rows with no client.
pub const NO_CLIENT: &str = "none";
/// The label that collects clients past `max_client_labels`.
pub const OTHER_CLIENT: &str = OTHER;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Period {
    Day,
    Month,
}

impl Period {
    pub fn label(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Month => "month",
        }
    }
}

/// Token classes (the `type` label); disjoint, so they add up to all tokens.
pub const TOKEN_TYPES: [&str; 4] = ["input", "output", "cache_read", "cache_write"];

/// Usage and cost of one provider and model over one period.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelUsage {
    pub tokens: [u64; 4],
    pub characters: u64,
    pub requests: u64,
    pub cost_usd: Decimal,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BudgetStatus {
    pub scope: Scope,
    pub budget_usd: Decimal,
    pub spent_usd: Decimal,
    pub ratio: f64,
    pub state: BudgetState,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FigureStatus {
    pub figure: FigureName,
    pub value: Option<f64>,
    pub level: Option<Level>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CronStatus {
    pub job: String,
    pub schedule_interval_seconds: Option<f64>,
    pub load_ratio: Option<f64>,
    pub failures_last_day: u64,
    pub last_success: Option<DateTime<Utc>>,
    /// The tier's cadence, for the platform sync job only.
    pub expected_interval_seconds: Option<f64>,
}

/// Everything the metrics, the kit and the guard read.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub tier: TierName,
    pub tiers: Vec<TierUsage>,
    /// Per (provider, model, period), bounded by `max_provider_labels` and `max_model_labels`
    /// (see `folds::usage`); absent periods had no readable ledger.
    pub usage: BTreeMap<(String, String, Period), ModelUsage>,
    pub cost_total: BTreeMap<Period, Decimal>,
    /// Per (client label, period), bounded by `max_client_labels` plus `other`.
    pub client_cost: BTreeMap<(String, Period), Decimal>,
    /// Each labelled client's daily budget use; `other` holds the largest of the rest.
    pub client_budget_ratio: BTreeMap<String, f64>,
    pub budgets: Vec<BudgetStatus>,
    pub figures: Vec<FigureStatus>,
    pub visual_risk: Option<VisualRisk>,
    /// Bounded by `max_cron_job_labels`, the rest in `cron_job="other"`.
    pub cron: Vec<CronStatus>,
    pub storage_database_bytes: Option<u64>,
    pub storage_objects_bytes: Option<u64>,
    /// Bytes per bucket, bounded by `max_bucket_labels`, the rest in `bucket="other"`.
    pub storage_buckets: BTreeMap<String, u64>,
    /// Distinct values folded into `other`, per label (client, provider, model, bucket,
    /// cron_job).
    pub labels_folded: BTreeMap<&'static str, usize>,
    /// When the figures were collected; None before the first collection.
    pub collected_at: Option<DateTime<Utc>>,
    /// Every client's spend today, unbounded: the guard's per-client budget (never a label).
    pub client_day_cost: HashMap<String, Decimal>,
    /// Spend of the 15 minutes before collection: the guard's auto-throttle rate.
    pub spend_last_15m_usd: Option<Decimal>,
}

impl Assessment {
    pub fn figure(&self, f: FigureName) -> Option<&FigureStatus> {
        self.figures.iter().find(|s| s.figure == f)
    }

    pub fn budget(&self, s: Scope) -> Option<&BudgetStatus> {
        self.budgets.iter().find(|b| b.scope == s)
    }

    pub fn tier_usage(&self, r: Resource) -> Option<&TierUsage> {
        self.tiers.iter().find(|t| t.resource == r)
    }
}

fn add_usage(
    map: &mut BTreeMap<(String, String, Period), ModelUsage>,
    cfg: &Config,
    rows: &[UsageRow],
    p: Period,
) {
    for r in rows {
        let e = map
            .entry((r.provider.clone(), r.model.clone(), p))
            .or_default();
        e.tokens[0] = e.tokens[0].plus(r.input_tokens);
        e.tokens[1] = e.tokens[1].plus(r.output_tokens);
        e.tokens[2] = e.tokens[2].plus(r.cache_read_tokens);
        e.tokens[3] = e.tokens[3].plus(r.cache_write_tokens);
        e.characters = e.characters.plus(r.characters);
        e.requests = e.requests.plus(r.requests);
        e.cost_usd = e.cost_usd.plus(row_cost(&cfg.prices, r));
    }
}

fn per_client(cfg: &Config, rows: &[UsageRow]) -> HashMap<String, Decimal> {
    let mut m: HashMap<String, Decimal> = HashMap::new();
    for r in rows {
        let id = r.client_id.clone().unwrap_or_else(|| NO_CLIENT.to_string());
        let e = m.entry(id).or_default();
        *e = e.plus(row_cost(&cfg.prices, r));
    }
    m
}

/// Assesses the latest figures under the current config.
pub fn assess(cfg: &Config, db: Option<&DbFigures>, now: DateTime<Utc>) -> Assessment {
    let limits = cfg.current_limits();
    let mut usage = BTreeMap::new();
    let mut cost_total = BTreeMap::new();
    let mut client_cost = BTreeMap::new();
    let mut client_budget_ratio = BTreeMap::new();
    let mut budgets = Vec::new();

    let today = db.and_then(|d| d.usage_today.as_ref().ok());
    let month = db.and_then(|d| d.usage_month.as_ref().ok());
    if let Some(rows) = today {
        add_usage(&mut usage, cfg, rows, Period::Day);
        cost_total.insert(
            Period::Day,
            total(rows.iter().map(|r| row_cost(&cfg.prices, r))),
        );
    }
    if let Some(rows) = month {
        add_usage(&mut usage, cfg, rows, Period::Month);
        cost_total.insert(
            Period::Month,
            total(rows.iter().map(|r| row_cost(&cfg.prices, r))),
        );
    }

    // Clients: label the biggest spenders of the month, sum the rest into `other`.
    let day_by_client = today.map(|r| per_client(cfg, r)).unwrap_or_default();
    let month_by_client = month.map(|r| per_client(cfg, r)).unwrap_or_default();
    let mut ranked: Vec<(&String, Decimal)> =
        month_by_client.iter().map(|(k, v)| (k, *v)).collect();
    for (k, v) in &day_by_client {
        if !month_by_client.contains_key(k) {
            ranked.push((k, *v));
        }
    }
    let labelled = Kept::choose(ranked, cfg.max_client_labels);
    let label = |id: &String| {
        if labelled.keeps(&id) {
            id.clone()
        } else {
            OTHER_CLIENT.to_string()
        }
    };
    for (by, p) in [
        (&day_by_client, Period::Day),
        (&month_by_client, Period::Month),
    ] {
        for (id, c) in by {
            let e = client_cost.entry((label(id), p)).or_insert(Decimal::ZERO);
            *e = e.plus(*c);
        }
    }
    let client_budget = cfg.budgets.client_daily_usd;
    let mut max_client_spend: Option<Decimal> = None;
    for (id, spent) in &day_by_client {
        let r = budget::used_ratio(*spent, client_budget);
        let e = client_budget_ratio.entry(label(id)).or_insert(r);
        *e = e.max(r);
        max_client_spend = Some(max_client_spend.map_or(*spent, |m: Decimal| m.max(*spent)));
    }

    let b = &cfg.budgets;
    let scopes = [
        (
            Scope::Daily,
            b.daily_usd,
            cost_total.get(&Period::Day).copied(),
        ),
        (
            Scope::Monthly,
            b.monthly_usd,
            cost_total.get(&Period::Month).copied(),
        ),
        (
            Scope::ClientDaily,
            b.client_daily_usd,
            today.map(|_| max_client_spend.unwrap_or(Decimal::ZERO)),
        ),
    ];
    for (scope, budget_usd, spent) in scopes {
        if let Some(spent_usd) = spent {
            budgets.push(BudgetStatus {
                scope,
                budget_usd,
                spent_usd,
                ratio: budget::used_ratio(spent_usd, budget_usd),
                state: budget::state(spent_usd, budget_usd, b.alert_ratio),
            });
        }
    }

    let tokens_today: Option<u64> = today.map(|rows| {
        total(rows.iter().flat_map(|r| {
            [
                r.input_tokens,
                r.output_tokens,
                r.cache_read_tokens,
                r.cache_write_tokens,
            ]
        }))
    });
    let jobs = db.and_then(|d| d.jobs.as_ref().ok());
    let traffic = db.and_then(|d| d.traffic.as_ref().ok());
    let tiers = Resource::ALL
        .iter()
        .map(|&r| TierUsage {
            resource: r,
            limit: r.limit(limits),
            usage: match r {
                Resource::Clients => db.and_then(|d| d.active_clients.as_ref().ok().copied()),
                Resource::AiTokensPerDay => tokens_today,
                Resource::VisualJobsPerDay => jobs.map(|j| j.visual_today),
                Resource::ConcurrentJobs => jobs.map(|j| j.running),
                Resource::ApiRequestsPerMinute => traffic.map(|t| t.requests_last_minute),
            },
        })
        .collect::<Vec<_>>();

    let visual_risk = jobs.map(|j| {
        risk::visual_risk(
            j.visual_queued,
            j.visual_failed_last_hour,
            j.visual_mean_processing_seconds,
        )
    });

    // pg_cron's jobs, and the sync job's Vercel Cron runs from the drain under the same name.
    let cron_rows = db.and_then(|d| {
        let drain = d.vercel_cron.as_ref().and_then(|c| c.as_ref().ok());
        match (d.cron_jobs.as_ref().ok(), drain) {
            (None, None) => None,
            (pg, drain) => {
                let mut rows = pg.cloned().unwrap_or_default();
                if let Some(v) = drain {
                    cron::merge(&mut rows, v.clone());
                }
                Some(rows)
            }
        }
    });
    let cron = cron_rows.as_ref().map(|jobs| {
        jobs.iter()
            .map(|j| {
                let interval = cron::schedule_interval_seconds(&j.schedule, now);
                CronStatus {
                    job: j.job.clone(),
                    schedule_interval_seconds: interval,
                    load_ratio: if j.active {
                        cron::load_ratio(j.mean_run_seconds, interval)
                    } else {
                        None
                    },
                    failures_last_day: j.failures_last_day,
                    last_success: j.last_success,
                    expected_interval_seconds: (j.job == cfg.database.sync_job)
                        .then(|| limits.cron_cadence.as_secs_f64()),
                }
            })
            .collect::<Vec<_>>()
    });
    let cron_load = cron.as_ref().and_then(|c| {
        c.iter()
            .filter_map(|s| s.load_ratio)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
            .or(Some(0.0))
    });
    let (cron, cron_folded) = folds::cron(
        cron.unwrap_or_default(),
        &cfg.database.sync_job,
        cfg.max_cron_job_labels,
    );
    let buckets = db
        .and_then(|d| d.storage_buckets.as_ref().ok())
        .map(|b| folds::buckets(b, cfg.max_bucket_labels));

    let storage_database_bytes = db.and_then(|d| d.database_size_bytes.as_ref().ok().copied());
    let storage_objects_bytes = db.and_then(|d| {
        d.storage_buckets
            .as_ref()
            .ok()
            .map(|b| total(b.iter().map(|(_, v)| *v)))
    });
    let storage_total = match (storage_database_bytes, storage_objects_bytes) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).plus(b.unwrap_or(0))),
    };

    let p95 = traffic.and_then(|t| {
        latency::quantile(0.95, &latency::BUCKET_BOUNDS, &t.latency_buckets)
            .or(t.p95_ms.map(|ms| ms / 1000.0))
    });
    let error_ratio =
        traffic.and_then(|t| (t.requests > 0).then(|| t.errors as f64 / t.requests as f64));

    let value_of = |f: FigureName| -> Option<f64> {
        match f {
            FigureName::AiTokens => tiers
                .iter()
                .find(|t| t.resource == Resource::AiTokensPerDay)
                .and_then(|t| t.ratio()),
            FigureName::Bandwidth => {
                db.and_then(|d| d.bandwidth_today_bytes.as_ref().ok().map(|b| *b as f64))
            }
            FigureName::Storage => storage_total.map(|v| v as f64),
            FigureName::QueueDepth => jobs.map(|j| j.queued as f64),
            FigureName::CronLoad => cron_load,
            FigureName::VisualJobRisk => visual_risk.map(|r| r.total),
            FigureName::ResponseTime => p95,
            FigureName::ErrorRate => error_ratio,
        }
    };
    let figures = cfg
        .thresholds
        .by_figure()
        .iter()
        .map(|&(f, t)| {
            let value = value_of(f);
            FigureStatus {
                figure: f,
                value,
                level: value.map(|v| levels::level(v, t)),
            }
        })
        .collect();

    let spend_last_15m_usd = db
        .and_then(|d| d.usage_last_15m.as_ref().ok())
        .map(|rows| total(rows.iter().map(|r| row_cost(&cfg.prices, r))));

    let (usage, providers_folded, models_folded) =
        folds::usage(usage, cfg.max_provider_labels, cfg.max_model_labels);
    let labels_folded = BTreeMap::from([
        ("client", labelled.folded),
        ("provider", providers_folded),
        ("model", models_folded),
        ("bucket", buckets.as_ref().map_or(0, |b| b.folded)),
        ("cron_job", cron_folded),
    ]);

    Assessment {
        collected_at: db.map(|d| d.collected_at),
        client_day_cost: day_by_client,
        spend_last_15m_usd,
        tier: cfg.tier,
        tiers,
        usage,
        cost_total,
        client_cost,
        client_budget_ratio,
        budgets,
        figures,
        visual_risk,
        cron,
        storage_database_bytes,
        storage_objects_bytes,
        storage_buckets: buckets.map(|b| b.values).unwrap_or_default(),
        labels_folded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::*;
    use rust_decimal_macros::dec;

    fn now() -> DateTime<Utc> {
        "2026-11-26T12:00:00Z".parse().unwrap()
    }

    fn row(client: &str, provider: &str, input: u64, output: u64) -> UsageRow {
        UsageRow {
            client_id: Some(client.into()),
            provider: provider.into(),
            model: "m".into(),
            input_tokens: input,
            output_tokens: output,
            requests: 1,
            ..UsageRow::default()
        }
    }

    fn figures() -> DbFigures {
        let mut d = DbFigures::unavailable(now(), "test");
        let today = vec![
            row("a", "anthropic", 1_000_000, 100_000),
            row("b", "openai", 100_000, 10_000),
        ];
        let mut month = today.clone();
        month.push(row("c", "openai", 2_000_000, 0));
        d.usage_today = Ok(today);
        d.usage_month = Ok(month);
        d.active_clients = Ok(4);
        d.jobs = Ok(JobFigures {
            queued: 60,
            running: 2,
            visual_queued: 25,
            visual_today: 12,
            visual_failed_last_hour: 5,
            visual_finished_last_hour: 9,
            visual_mean_processing_seconds: Some(30.0),
        });
        d
    }

    #[test]
    fn costs_budgets_and_clients() {
        let a = assess(&Config::default(), Some(&figures()), now());
        // a: 3.00 + 1.50 = 4.50; b: 1.00 + 0.30 = 1.30; c (month only): 20.00
        assert_eq!(a.cost_total[&Period::Day], dec!(5.80));
        assert_eq!(a.cost_total[&Period::Month], dec!(25.80));
        let daily = a.budget(Scope::Daily).unwrap();
        assert_eq!(
            (daily.spent_usd, daily.state),
            (dec!(5.80), BudgetState::Ok)
        );
        let client = a.budget(Scope::ClientDaily).unwrap();
        assert_eq!(
            (client.spent_usd, client.state),
            (dec!(4.50), BudgetState::Alert)
        );
        assert_eq!(a.client_budget_ratio["a"], 0.9);
        assert_eq!(
            a.client_cost[&("c".to_string(), Period::Month)],
            dec!(20.00)
        );
        let anth = &a.usage[&("anthropic".into(), "m".into(), Period::Day)];
        assert_eq!(anth.tokens, [1_000_000, 100_000, 0, 0]);
    }

    #[test]
    fn client_labels_are_capped_into_other() {
        let cfg = Config {
            max_client_labels: 1,
            ..Config::default()
        };
        let a = assess(&cfg, Some(&figures()), now());
        // c spent most this month and keeps its label; a and b fall into `other`.
        assert_eq!(
            a.client_cost[&("c".to_string(), Period::Month)],
            dec!(20.00)
        );
        assert_eq!(
            a.client_cost[&(OTHER_CLIENT.to_string(), Period::Day)],
            dec!(5.80)
        );
        assert_eq!(a.client_budget_ratio[OTHER_CLIENT], 0.9);
        assert_eq!(a.client_cost.len(), 3);
    }

    #[test]
    fn every_data_fed_label_is_capped_and_counted() {
        let cfg = Config {
            max_client_labels: 1,
            max_provider_labels: 1,
            max_model_labels: 1,
            max_bucket_labels: 1,
            max_cron_job_labels: 1,
            ..Config::default()
        };
        let mut d = figures();
        d.storage_buckets = Ok(vec![("a".into(), 5), ("b".into(), 7), ("c".into(), 1)]);
        let a = assess(&cfg, Some(&d), now());
        // openai (21.30 this month) keeps its label, anthropic goes to provider="other".
        let keys: Vec<_> = a
            .usage
            .keys()
            .map(|(p, m, _)| (p.as_str(), m.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("openai", "m"),
                ("openai", "m"),
                ("other", "other"),
                ("other", "other")
            ]
        );
        let day: Decimal = a
            .usage
            .iter()
            .filter(|(k, _)| k.2 == Period::Day)
            .map(|(_, u)| u.cost_usd)
            .sum();
        assert_eq!(day, a.cost_total[&Period::Day]);
        assert_eq!(
            a.storage_buckets,
            BTreeMap::from([("b".into(), 7), (OTHER.into(), 6)])
        );
        assert_eq!(a.storage_objects_bytes, Some(13));
        assert_eq!(
            a.labels_folded,
            BTreeMap::from([
                ("bucket", 2),
                ("client", 2),
                ("cron_job", 0),
                ("model", 1),
                ("provider", 1)
            ])
        );
    }

    #[test]
    fn tiers_levels_and_risk() {
        let a = assess(&Config::default(), Some(&figures()), now());
        let tok = a.tier_usage(Resource::AiTokensPerDay).unwrap();
        assert_eq!((tok.usage, tok.limit), (Some(1_210_000), 500_000));
        let q = a.figure(FigureName::QueueDepth).unwrap();
        assert_eq!((q.value, q.level), (Some(60.0), Some(Level::Warning)));
        let r = a.figure(FigureName::VisualJobRisk).unwrap();
        assert!((r.value.unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(
            a.figure(FigureName::AiTokens).unwrap().level,
            Some(Level::Critical)
        );
        // Unavailable figures stay absent rather than read as zero.
        assert_eq!(a.figure(FigureName::Bandwidth).unwrap().value, None);
        assert_eq!(
            a.tier_usage(Resource::ApiRequestsPerMinute).unwrap().usage,
            None
        );
    }

    #[test]
    fn guard_figures_per_client_and_last_15_minutes() {
        let mut d = figures();
        d.usage_last_15m = Ok(vec![row("a", "openai", 100_000, 0)]);
        let a = assess(&Config::default(), Some(&d), now());
        assert_eq!(a.collected_at, Some(now()));
        assert_eq!(a.spend_last_15m_usd, Some(dec!(1.00)));
        assert_eq!(a.client_day_cost["b"], dec!(1.30));
        assert_eq!(a.client_day_cost.len(), 2);
    }

    #[test]
    fn token_sums_saturate_and_still_read_past_the_limit() {
        // Two ledger groups near 2^63 tokens each wrapped a u64 sum to 10 before.
        let near = (1u64 << 63) - 1;
        let mut d = figures();
        let mut big = row("a", "mistral", near, 6);
        d.usage_today = Ok(vec![big.clone(), {
            big.model = "other".into();
            big
        }]);
        let a = assess(&Config::default(), Some(&d), now());
        let tok = a.tier_usage(Resource::AiTokensPerDay).unwrap();
        assert_eq!(tok.usage, Some(crate::core::bounded::CEILING as u64));
        assert!(tok.usage.unwrap() > tok.limit);
        let m = &a.usage[&("mistral".into(), "m".into(), Period::Day)];
        assert_eq!(m.tokens[0], crate::core::bounded::CEILING as u64);
    }

    #[test]
    fn nothing_collected_yet() {
        let a = assess(&Config::default(), None, now());
        assert!(a.budgets.is_empty() && a.usage.is_empty());
        assert!(a.figures.iter().all(|f| f.value.is_none()));
    }
}
