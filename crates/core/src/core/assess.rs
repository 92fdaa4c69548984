//! The one assessment: the config, every source's figures, the founder's controls and the
//! clock reading in; everything the founder sees out. Nothing is derived anywhere else:
//! `/metrics`, the status page, the guard and the kit's inputs all read this `Assessment`.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::bounded::{Bounded, total};
use super::budget::{self, BudgetState, Scope};
use super::controls::FounderControls;
use super::cron;
use super::drift::{self, Drift};
use super::folds::{self, ReportedModels};
use super::jobs::{self, QueueStatus};
use super::labels::{Kept, OTHER};
use super::latency;
use super::levels::{self, FigureName, Level};
use super::milestone::{self, Milestone};
use super::periods::Periods;
use super::pricing::row_cost;
use super::readiness::{self, Readiness};
use super::risk::{self, VisualRisk};
use super::supabase_plan::{self, SupabaseStatus};
use super::tiers::{Resource, TierUsage};
use crate::config::{Budgets, Config, TierName};
use crate::figures::{CronJobRow, DbFigures, Fig, Figures, JobFigures, UsageRow};

/// The label for ledger rows with no client.
pub const NO_CLIENT: &str = "none";
/// The label that collects clients past `max_client_labels`.
pub const OTHER_CLIENT: &str = OTHER;
/// A client's name is data: shown as a label value, it is cut to this many characters.
pub const CLIENT_NAME_CHARS: usize = 64;

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

/// One budget scope as the guard enforces it: the budget in force is the config's unless the
/// founder's override applies.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetStatus {
    pub scope: Scope,
    /// The budget in force (client_daily: the budget of the client reported below).
    pub budget_usd: Decimal,
    /// The config's budget for the scope.
    pub configured_usd: Decimal,
    /// When the founder's override in force ends (None: the config's budget applies).
    pub override_until: Option<DateTime<Utc>>,
    /// client_daily: the spend of the client nearest to (or furthest past) its budget.
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

/// What each catalogue figure's value is read from (`catalogue::FigureDef::value`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Basis {
    pub token_ratio: Option<f64>,
    pub bandwidth_bytes: Option<u64>,
    pub storage_bytes: Option<u64>,
    pub queued_jobs: Option<u64>,
    pub cron_load: Option<f64>,
    pub visual_risk: Option<f64>,
    pub p95_seconds: Option<f64>,
    pub error_ratio: Option<f64>,
    pub supabase_plan: Option<f64>,
}

/// Everything the metrics, the status page, the kit's inputs and the guard read.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// The clock reading it was assessed at.
    pub assessed_at: DateTime<Utc>,
    pub periods: Periods,
    pub tier: TierName,
    pub tiers: Vec<TierUsage>,
    /// Per (provider, model, period), bounded by `max_provider_labels` and `max_model_labels`
    /// (see `folds::usage`); absent periods had no readable ledger.
    pub usage: BTreeMap<(String, String, Period), ModelUsage>,
    pub cost_total: BTreeMap<Period, Decimal>,
    /// Per (client label, period), bounded by `max_client_labels` plus `other`.
    pub client_cost: BTreeMap<(String, Period), Decimal>,
    /// Each labelled client's daily budget use under its budget in force; `other` holds the
    /// largest of the rest.
    pub client_budget_ratio: BTreeMap<String, f64>,
    /// Each client label's name (`launchguard_client_info`): every label of `client_cost` and
    /// `client_budget_ratio`, so a dashboard join on it drops no client. The name from
    /// `launchguard.clients` cut to `CLIENT_NAME_CHARS`, else the label itself (no name read,
    /// `none`, `other`).
    pub client_names: BTreeMap<String, String>,
    pub budgets: Vec<BudgetStatus>,
    pub figures: Vec<FigureStatus>,
    pub visual_risk: Option<VisualRisk>,
    /// The job figures `jobs_from` picks (the jobs table, BullMQ, or both summed).
    pub jobs: Fig<JobFigures>,
    /// Each configured BullMQ queue (empty unless `jobs_from` reads BullMQ).
    pub queues: Vec<QueueStatus>,
    /// Supabase's own metrics against the plan (None until the endpoint is read).
    pub supabase: Option<SupabaseStatus>,
    /// Bounded by `max_cron_job_labels`, the rest in `cron_job="other"`.
    pub cron: Vec<CronStatus>,
    pub storage_database_bytes: Option<u64>,
    pub storage_objects_bytes: Option<u64>,
    /// Bytes per bucket, bounded by `max_bucket_labels`, the rest in `bucket="other"`.
    pub storage_buckets: BTreeMap<String, u64>,
    /// What each provider reports per (model, period), models bounded by `max_model_labels`.
    pub reported_models: ReportedModels,
    /// The ledger's drift from each provider's report over the same instants.
    pub drift: Vec<Drift>,
    /// Tier upgrade readiness from the strain runs and the checklist.
    pub readiness: Readiness,
    /// The seed's next milestone for the tier after the current one (None at the top tier).
    pub milestone: Option<Milestone>,
    /// Distinct values folded into `other`, per label (client, provider, model,
    /// reported_model, bucket, cron_job).
    pub labels_folded: BTreeMap<&'static str, usize>,
    /// When the figures were collected; None before the first collection.
    pub collected_at: Option<DateTime<Utc>>,
    /// Every client's spend today, unbounded: the guard's per-client budget (never a label).
    pub client_day_cost: HashMap<String, Decimal>,
    /// Spend of the 15 minutes before collection: the guard's auto-throttle rate.
    pub spend_last_15m_usd: Option<Decimal>,
    /// API responses in the last five full minutes: the error rate's denominator, which the
    /// kit's ErrorRate alert requires a minimum of.
    pub api_requests_5m: Option<u64>,
    /// The founder's controls this was assessed with (what the guard enforces).
    pub controls: FounderControls,
    /// The config's budgets, under the founder's overrides.
    pub configured_budgets: Budgets,
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

    /// The budget in force at `now` for a scope (and a client, for client_daily): the same
    /// rule the budgets above were assessed with, for the guard's clock reading.
    pub fn budget_in_force(&self, s: Scope, client: Option<&str>, now: DateTime<Utc>) -> Decimal {
        self.controls
            .budget(s, client, &self.configured_budgets, now)
    }
}

/// Assesses the latest figures under the current config and the founder's controls.
pub fn assess(
    cfg: &Config,
    figures: &Figures,
    controls: &FounderControls,
    now: DateTime<Utc>,
) -> Assessment {
    let db = figures.db.as_ref();
    let spend = Spend::of(cfg, db);
    let clients = Clients::of(cfg, &spend);
    let budgets = budgets(cfg, controls, &spend, &clients, now);
    let job_figures = jobs::job_figures(cfg, figures);
    let jobs = job_figures.as_ref().ok();
    let tiers = tiers(cfg, db, jobs, spend.tokens_today);
    let visual_risk = jobs.map(|j| {
        risk::visual_risk(
            j.visual_queued,
            j.visual_failed_last_hour,
            j.visual_mean_processing_seconds,
        )
    });
    let cron = cron_statuses(cfg, db, now);
    let cron_load = cron
        .as_ref()
        .map(|c| c.iter().filter_map(|s| s.load_ratio).fold(0.0, f64::max));
    let (cron, cron_folded) = folds::cron(
        cron.unwrap_or_default(),
        &cfg.database.sync_job,
        cfg.max_cron_job_labels,
    );
    let storage = Storage::of(cfg, db);
    let supabase = figures
        .supabase_metrics
        .as_ref()
        .and_then(|f| supabase_plan::assess(&cfg.supabase_metrics, f));
    let basis = Basis {
        token_ratio: tiers
            .iter()
            .find(|t| t.resource == Resource::AiTokensPerDay)
            .and_then(TierUsage::ratio),
        bandwidth_bytes: db.and_then(|d| d.bandwidth_today_bytes.as_ref().ok().copied()),
        storage_bytes: storage.total,
        queued_jobs: jobs.map(|j| j.queued),
        cron_load,
        visual_risk: visual_risk.map(|r| r.total),
        p95_seconds: traffic_p95(db),
        error_ratio: traffic_error_ratio(db),
        supabase_plan: supabase.as_ref().and_then(|s| s.plan_usage),
    };
    let (usage, providers_folded, models_folded) =
        folds::usage(spend.usage, cfg.max_provider_labels, cfg.max_model_labels);
    let (reported_models, reported_folded) =
        folds::reported_models(&figures.providers, cfg.max_model_labels);
    let labels_folded = BTreeMap::from([
        ("client", clients.folded),
        ("provider", providers_folded),
        ("model", models_folded),
        ("reported_model", reported_folded),
        ("bucket", storage.buckets_folded),
        ("cron_job", cron_folded),
    ]);
    let client_names = client_names(db, &clients.cost, &budgets.client_ratio);
    let readiness = readiness::assess(cfg, figures.strain.as_ref(), now);
    let milestone = milestone::assess(cfg, figures, controls, &readiness, now);
    Assessment {
        assessed_at: now,
        periods: Periods::at(now, cfg.tz()),
        collected_at: db.map(|d| d.collected_at),
        spend_last_15m_usd: spend.last_15m,
        api_requests_5m: db.and_then(|d| d.traffic.as_ref().ok()).map(|t| t.requests),
        tier: cfg.tier,
        tiers,
        usage,
        cost_total: spend.cost_total,
        client_cost: clients.cost,
        client_budget_ratio: budgets.client_ratio,
        client_names,
        budgets: budgets.scopes,
        figures: figure_statuses(cfg, &basis),
        visual_risk,
        queues: jobs::queues(cfg, figures),
        jobs: job_figures,
        supabase,
        cron,
        storage_database_bytes: storage.database,
        storage_objects_bytes: storage.objects,
        storage_buckets: storage.buckets,
        reported_models,
        drift: drift::drifts(&cfg.prices, figures),
        readiness,
        milestone,
        labels_folded,
        client_day_cost: spend.day_by_client,
        controls: controls.clone(),
        configured_budgets: cfg.budgets.clone(),
    }
}

/// Each catalogue figure's value and level under its thresholds.
fn figure_statuses(cfg: &Config, basis: &Basis) -> Vec<FigureStatus> {
    cfg.thresholds
        .by_figure()
        .map(|(f, t)| {
            let value = (f.def().value)(basis);
            FigureStatus {
                figure: f,
                value,
                level: value.map(|v| levels::level(v, t)),
            }
        })
        .collect()
}

/// The ledger summed: per model, per period, per client, and tokens today.
struct Spend {
    usage: BTreeMap<(String, String, Period), ModelUsage>,
    cost_total: BTreeMap<Period, Decimal>,
    /// None when today's ledger could not be read.
    day_by_client: HashMap<String, Decimal>,
    month_by_client: HashMap<String, Decimal>,
    today_readable: bool,
    tokens_today: Option<u64>,
    last_15m: Option<Decimal>,
}

impl Spend {
    fn of(cfg: &Config, db: Option<&DbFigures>) -> Spend {
        let today = db.and_then(|d| d.usage_today.as_ref().ok());
        let month = db.and_then(|d| d.usage_month.as_ref().ok());
        let mut usage = BTreeMap::new();
        let mut cost_total = BTreeMap::new();
        for (rows, p) in [(today, Period::Day), (month, Period::Month)] {
            if let Some(rows) = rows {
                add_usage(&mut usage, cfg, rows, p);
                cost_total.insert(p, cost(cfg, rows));
            }
        }
        Spend {
            usage,
            cost_total,
            day_by_client: today.map(|r| per_client(cfg, r)).unwrap_or_default(),
            month_by_client: month.map(|r| per_client(cfg, r)).unwrap_or_default(),
            today_readable: today.is_some(),
            tokens_today: today.map(|rows| {
                total(rows.iter().flat_map(|r| {
                    [
                        r.input_tokens,
                        r.output_tokens,
                        r.cache_read_tokens,
                        r.cache_write_tokens,
                    ]
                }))
            }),
            last_15m: db
                .and_then(|d| d.usage_last_15m.as_ref().ok())
                .map(|rows| cost(cfg, rows)),
        }
    }
}

fn cost(cfg: &Config, rows: &[UsageRow]) -> Decimal {
    total(rows.iter().map(|r| row_cost(&cfg.prices, r)))
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

/// Clients' spend under bounded labels: the month's biggest spenders keep theirs.
struct Clients {
    kept: Kept<String>,
    cost: BTreeMap<(String, Period), Decimal>,
    folded: usize,
}

impl Clients {
    fn of(cfg: &Config, spend: &Spend) -> Clients {
        let mut ranked: Vec<(String, Decimal)> = spend
            .month_by_client
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        for (k, v) in &spend.day_by_client {
            if !spend.month_by_client.contains_key(k) {
                ranked.push((k.clone(), *v));
            }
        }
        let kept = Kept::choose(ranked, cfg.max_client_labels);
        let mut cost = BTreeMap::new();
        for (by, p) in [
            (&spend.day_by_client, Period::Day),
            (&spend.month_by_client, Period::Month),
        ] {
            for (id, c) in by {
                let e = cost.entry((label(&kept, id), p)).or_insert(Decimal::ZERO);
                *e = e.plus(*c);
            }
        }
        let folded = kept.folded;
        Clients { kept, cost, folded }
    }
}

/// The name of every client label in use: only labelled clients (already capped at
/// `max_client_labels` plus `other`) get one, so the names add no series of their own.
fn client_names(
    db: Option<&DbFigures>,
    cost: &BTreeMap<(String, Period), Decimal>,
    ratio: &BTreeMap<String, f64>,
) -> BTreeMap<String, String> {
    let read: HashMap<&str, &str> = db
        .and_then(|d| d.client_names.as_ref().ok())
        .into_iter()
        .flatten()
        .map(|(id, name)| (id.as_str(), name.as_str()))
        .collect();
    cost.keys()
        .map(|(c, _)| c)
        .chain(ratio.keys())
        .map(|c| {
            let name = match read.get(c.as_str()) {
                Some(n) if !n.trim().is_empty() && c != NO_CLIENT && c != OTHER_CLIENT => {
                    n.trim().chars().take(CLIENT_NAME_CHARS).collect()
                }
                _ => c.clone(),
            };
            (c.clone(), name)
        })
        .collect()
}

fn label(kept: &Kept<String>, id: &String) -> String {
    if kept.keeps(id) {
        id.clone()
    } else {
        OTHER_CLIENT.to_string()
    }
}

struct InForce {
    scopes: Vec<BudgetStatus>,
    client_ratio: BTreeMap<String, f64>,
}

/// Each scope under its budget in force (the config, or the founder's override).
fn budgets(
    cfg: &Config,
    controls: &FounderControls,
    spend: &Spend,
    clients: &Clients,
    now: DateTime<Utc>,
) -> InForce {
    let b = &cfg.budgets;
    let status = |scope: Scope, client: Option<&str>, spent_usd: Decimal| {
        let budget_usd = controls.budget(scope, client, b, now);
        BudgetStatus {
            scope,
            budget_usd,
            configured_usd: scope.configured(b),
            override_until: controls.override_in_force(scope, client, now),
            spent_usd,
            ratio: budget::used_ratio(spent_usd, budget_usd),
            state: budget::state(spent_usd, budget_usd, b.alert_ratio),
        }
    };
    let mut scopes = Vec::new();
    for (scope, p) in [(Scope::Daily, Period::Day), (Scope::Monthly, Period::Month)] {
        if let Some(spent) = spend.cost_total.get(&p) {
            scopes.push(status(scope, None, *spent));
        }
    }
    let mut client_ratio = BTreeMap::new();
    let mut worst: Option<BudgetStatus> = None;
    for (id, spent) in &spend.day_by_client {
        let s = status(Scope::ClientDaily, Some(id), *spent);
        let e = client_ratio
            .entry(label(&clients.kept, id))
            .or_insert(s.ratio);
        *e = e.max(s.ratio);
        if worst.as_ref().is_none_or(|w| s.ratio > w.ratio) {
            worst = Some(s);
        }
    }
    if spend.today_readable {
        scopes.push(worst.unwrap_or_else(|| status(Scope::ClientDaily, None, Decimal::ZERO)));
    }
    InForce {
        scopes,
        client_ratio,
    }
}

fn tiers(
    cfg: &Config,
    db: Option<&DbFigures>,
    jobs: Option<&JobFigures>,
    tokens_today: Option<u64>,
) -> Vec<TierUsage> {
    let limits = cfg.current_limits();
    let traffic = db.and_then(|d| d.traffic.as_ref().ok());
    Resource::ALL
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
        .collect()
}

fn cron_statuses(
    cfg: &Config,
    db: Option<&DbFigures>,
    now: DateTime<Utc>,
) -> Option<Vec<CronStatus>> {
    let cadence = cfg.current_limits().cron_cadence.as_secs_f64();
    let jobs = cron_rows(db?)?;
    Some(
        jobs.iter()
            .map(|j| {
                let interval = cron::schedule_interval_seconds(&j.schedule, now);
                CronStatus {
                    job: j.job.clone(),
                    schedule_interval_seconds: interval,
                    load_ratio: j
                        .active
                        .then(|| cron::load_ratio(j.mean_run_seconds, interval))
                        .flatten(),
                    failures_last_day: j.failures_last_day,
                    last_success: j.last_success,
                    expected_interval_seconds: (j.job == cfg.database.sync_job).then_some(cadence),
                }
            })
            .collect(),
    )
}

/// pg_cron's jobs, and the sync job's Vercel Cron runs from the drain under the same name.
fn cron_rows(d: &DbFigures) -> Option<Vec<CronJobRow>> {
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
}

/// Database size and bucket objects, buckets under bounded labels.
struct Storage {
    database: Option<u64>,
    objects: Option<u64>,
    total: Option<u64>,
    buckets: BTreeMap<String, u64>,
    buckets_folded: usize,
}

impl Storage {
    fn of(cfg: &Config, db: Option<&DbFigures>) -> Storage {
        let rows = db.and_then(|d| d.storage_buckets.as_ref().ok());
        let database = db.and_then(|d| d.database_size_bytes.as_ref().ok().copied());
        let objects = rows.map(|b| total(b.iter().map(|(_, v)| *v)));
        let folded = rows.map(|b| folds::buckets(b, cfg.max_bucket_labels));
        Storage {
            database,
            objects,
            total: match (database, objects) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0).plus(b.unwrap_or(0))),
            },
            buckets_folded: folded.as_ref().map_or(0, |b| b.folded),
            buckets: folded.map(|b| b.values).unwrap_or_default(),
        }
    }
}

fn traffic_p95(db: Option<&DbFigures>) -> Option<f64> {
    let t = db.and_then(|d| d.traffic.as_ref().ok())?;
    latency::quantile(0.95, &latency::BUCKET_BOUNDS, &t.latency_buckets)
        .or(t.p95_ms.map(|ms| ms / 1000.0))
}

fn traffic_error_ratio(db: Option<&DbFigures>) -> Option<f64> {
    let t = db.and_then(|d| d.traffic.as_ref().ok())?;
    (t.requests > 0).then(|| t.errors as f64 / t.requests as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::*;
    use rust_decimal_macros::dec;

    fn now() -> DateTime<Utc> {
        "2026-11-26T12:00:00Z".parse().unwrap()
    }

    /// The assessment of database figures alone, no founder's controls.
    fn at(cfg: &Config, db: Option<&DbFigures>) -> Assessment {
        let figures = Figures {
            db: db.cloned(),
            ..Figures::default()
        };
        assess(cfg, &figures, &FounderControls::default(), now())
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

    /// Every client label has a name: the read one (trimmed, cut to CLIENT_NAME_CHARS), the
    /// label itself when unnamed, unread or folded into `other`; names of clients that are not
    /// labels add nothing.
    #[test]
    fn client_names_cover_every_client_label_and_are_capped() {
        let mut d = figures();
        let long = "x".repeat(CLIENT_NAME_CHARS + 10);
        d.client_names = Ok(vec![
            ("a".into(), format!(" {long} ")),
            ("b".into(), "  ".into()),
            ("zz".into(), "Not a label".into()),
        ]);
        let a = at(&Config::default(), Some(&d));
        let want = BTreeMap::from([
            ("a".to_string(), "x".repeat(CLIENT_NAME_CHARS)),
            ("b".to_string(), "b".to_string()),
            ("c".to_string(), "c".to_string()),
        ]);
        assert_eq!(a.client_names, want);
        // Capped at two labels: c (20.00 this month) and a (4.50) keep theirs, b is `other`.
        let cfg = Config {
            max_client_labels: 2,
            ..Config::default()
        };
        let a = at(&cfg, Some(&d));
        let want = BTreeMap::from([
            ("a".to_string(), "x".repeat(CLIENT_NAME_CHARS)),
            ("c".to_string(), "c".to_string()),
            (OTHER_CLIENT.to_string(), OTHER_CLIENT.to_string()),
        ]);
        assert_eq!(a.client_names, want);
        for (c, _) in a.client_cost.keys() {
            assert!(a.client_names.contains_key(c), "{c} has no name");
        }
        // Unreadable names: every label shows as itself.
        d.client_names = Err(crate::figures::Unavailable {
            reason: "column name does not exist".into(),
        });
        let a = at(&cfg, Some(&d));
        assert!(a.client_names.iter().all(|(k, v)| k == v));
        assert!(!a.client_names.is_empty());
    }

    #[test]
    fn costs_budgets_and_clients() {
        let a = at(&Config::default(), Some(&figures()));
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
        let a = at(&cfg, Some(&figures()));
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
        let a = at(&cfg, Some(&d));
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
                ("provider", 1),
                ("reported_model", 0)
            ])
        );
    }

    #[test]
    fn tiers_levels_and_risk() {
        let a = at(&Config::default(), Some(&figures()));
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
        let a = at(&Config::default(), Some(&d));
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
        let a = at(&Config::default(), Some(&d));
        let tok = a.tier_usage(Resource::AiTokensPerDay).unwrap();
        assert_eq!(tok.usage, Some(crate::core::bounded::CEILING as u64));
        assert!(tok.usage.unwrap() > tok.limit);
        let m = &a.usage[&("mistral".into(), "m".into(), Period::Day)];
        assert_eq!(m.tokens[0], crate::core::bounded::CEILING as u64);
    }

    #[test]
    fn nothing_collected_yet() {
        let a = at(&Config::default(), None);
        assert!(a.budgets.is_empty() && a.usage.is_empty());
        assert!(a.figures.iter().all(|f| f.value.is_none()));
    }

    #[test]
    fn budgets_in_force_follow_the_founders_overrides() {
        let d = figures();
        let mut c = FounderControls::default();
        let until = now() + chrono::Duration::hours(2);
        // Daily budget raised to $100; client `a` allowed $9 (its $4.50 is then 50%).
        c.set_override(Scope::Daily, None, dec!(100), until, now());
        c.set_override(Scope::ClientDaily, Some("a"), dec!(9), until, now());
        let figures = Figures {
            db: Some(d),
            ..Figures::default()
        };
        let a = assess(&Config::default(), &figures, &c, now());
        let daily = a.budget(Scope::Daily).unwrap();
        assert_eq!(
            (daily.budget_usd, daily.configured_usd, daily.override_until),
            (dec!(100), dec!(50), Some(until))
        );
        assert!((daily.ratio - 0.058).abs() < 1e-12);
        assert_eq!(a.client_budget_ratio["a"], 0.5);
        // The scope reports the client nearest to its own budget: a at $4.50 of its $9.
        let client = a.budget(Scope::ClientDaily).unwrap();
        assert_eq!(
            (client.spent_usd, client.budget_usd, client.ratio),
            (dec!(4.50), dec!(9), 0.5)
        );
        assert_eq!(
            a.budget_in_force(Scope::ClientDaily, Some("a"), now()),
            dec!(9)
        );
        // Past the override's end the config applies again.
        let later = until + chrono::Duration::seconds(1);
        assert_eq!(a.budget_in_force(Scope::Daily, None, later), dec!(50));
    }
}
