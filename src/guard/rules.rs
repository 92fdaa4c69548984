//! The guard's rules: pure functions of the published snapshot (an `Assessment`), the config,
//! the clock reading passed in, the founder's switches, the reservations and the request. No
//! I/O and no clock here, so every reason code is tested with plain values.
//!
//! A request goes through three stages. `plan` checks what needs no reservation (kill switches,
//! snapshot age, queue and latency levels) and otherwise returns the `Limit`s that depend on
//! what other callers reserved. A store checks those limits against its pending amounts and
//! reserves under one lock (or one Redis script), so concurrent callers cannot overshoot.
//! `finish` turns the store's answer into a `Verdict`.

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::admin::{FounderControls, KillKey};
use crate::config::{Config, FailMode};
use crate::core::assess::Assessment;
use crate::core::budget::Scope;
use crate::core::levels::{FigureName, Level};
use crate::core::periods;
use crate::core::pricing::{price_for, row_cost};
use crate::core::tiers::Resource;
use crate::figures::UsageRow;

use crate::core::bounded::{self, Bounded, MAX_USD, ceil_count, minus, times, total};
pub use crate::core::bounded::{NANOS_PER_USD, from_nanos, to_nanos};

/// The window of the auto-throttle's spend rate.
pub const SPEND_RATE_WINDOW_SECONDS: i64 = 15 * 60;

/// Retry-After of a kill switch: the founder may lift it at any moment.
pub const KILL_RETRY_SECONDS: u64 = 60;
/// Retry-After when the tier has no room for another client (a tier change is a config change).
pub const CLIENTS_RETRY_SECONDS: u64 = 3600;
/// Retry-After while Redis is unreachable and the guard fails closed.
pub const STORE_RETRY_SECONDS: u64 = 5;
/// Retry-After when the outstanding reservations are at their cap: settles free room at once.
pub const RESERVATIONS_RETRY_SECONDS: u64 = 5;

/// What an admission is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
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
        match self {
            Kind::Ai => "ai",
            Kind::Visual => "visual",
            Kind::Job => "job",
            Kind::Api => "api",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
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

/// One request may cost at most `MAX_USD`: past it the usage is refused, never recorded.
fn within_one_request(what: &str, usd: Decimal) -> Result<Decimal, String> {
    if usd > MAX_USD {
        return Err(format!(
            "{what} prices at ${}, more than the ${MAX_USD} one request may cost",
            usd.round_dp(2)
        ));
    }
    Ok(usd)
}

fn cost_of(cfg: &Config, provider: &str, model: &str, u: &Usage) -> Decimal {
    let row = UsageRow {
        client_id: None,
        provider: provider.to_string(),
        model: model.to_string(),
        priced: false,
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens.unwrap_or(0),
        cache_read_tokens: u.cache_read_tokens,
        cache_write_tokens: u.cache_write_tokens,
        characters: u.characters,
        requests: u.requests,
        cost_usd: Decimal::ZERO,
    };
    row_cost(&cfg.prices, &row)
}

/// The amounts an admission reserves. An `ai` request of a provider the price table does not
/// know must carry its own `cost_usd`: otherwise it could spend past every budget unseen.
pub fn estimate(cfg: &Config, req: &Request) -> Result<Amounts, String> {
    let e = &cfg.guard.estimates;
    let mut u = req.estimate.clone();
    if req.kind == Kind::Ai && u.output_tokens.is_none() {
        u.output_tokens = Some(e.default_output_tokens);
    }
    let provider = req.provider.as_deref();
    let model = req.model.as_deref().unwrap_or("");
    let known = provider.is_some_and(|p| price_for(&cfg.prices, p, model).known);
    let cost = match (u.cost_usd, provider) {
        (Some(c), _) => c,
        (None, Some(p)) if known => cost_of(cfg, p, model, &u),
        (None, Some(p)) if req.kind == Kind::Ai => {
            return Err(format!(
                "provider `{p}` has no price in the config: add it under prices.providers or send estimate.cost_usd"
            ));
        }
        (None, _) => match req.kind {
            Kind::Visual => e.visual_job_usd,
            Kind::Job => e.job_usd,
            Kind::Api => Decimal::ZERO,
            Kind::Ai => return Err("an `ai` request needs `provider`".into()),
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
pub fn actual(cfg: &Config, provider: &str, model: &str, u: &Usage) -> Result<Amounts, String> {
    let cost = u
        .cost_usd
        .unwrap_or_else(|| cost_of(cfg, provider, model, u));
    Ok(Amounts {
        cost_nano: to_nanos(within_one_request("the usage", cost)?),
        tokens: bounded::signed(u.tokens()),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Throttle,
    Deny,
}

impl Decision {
    pub const ALL: [Decision; 3] = [Decision::Allow, Decision::Throttle, Decision::Deny];

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Throttle => "throttle",
            Decision::Deny => "deny",
        }
    }

    /// One status code per decision, everywhere: 200 allow; 429 (with Retry-After) otherwise.
    pub fn status(self) -> u16 {
        match self {
            Decision::Allow => 200,
            Decision::Throttle | Decision::Deny => 429,
        }
    }
}

macro_rules! reasons {
    ($( $id:ident = $code:literal $decision:ident; )*) => {
        /// Stable reason codes (docs/guard.md lists each with its decision and Retry-After).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Reason { $($id),* }
        impl Reason {
            pub const ALL: &'static [Reason] = &[$(Reason::$id),*];
            pub fn code(self) -> &'static str { match self { $(Reason::$id => $code),* } }
            /// Each reason always leads to the same decision.
            pub fn decision(self) -> Decision { match self { $(Reason::$id => Decision::$decision),* } }
            pub fn index(self) -> usize { self as usize }
        }
    };
}

reasons! {
    Ok = "ok" Allow;
    BudgetAlert = "budget_alert" Allow;
    FailOpenSnapshotStale = "fail_open_snapshot_stale" Allow;
    FailOpenStoreUnavailable = "fail_open_store_unavailable" Allow;
    KillSwitchGlobal = "kill_switch_global" Deny;
    KillSwitchProvider = "kill_switch_provider" Deny;
    KillSwitchClient = "kill_switch_client" Deny;
    SnapshotStale = "snapshot_stale" Deny;
    StoreUnavailable = "store_unavailable" Deny;
    LedgerUnavailable = "ledger_unavailable" Deny;
    BudgetMonthlyExceeded = "budget_monthly_exceeded" Deny;
    BudgetDailyExceeded = "budget_daily_exceeded" Deny;
    BudgetClientDailyExceeded = "budget_client_daily_exceeded" Deny;
    TierAiTokensPerDay = "tier_ai_tokens_per_day" Deny;
    TierVisualJobsPerDay = "tier_visual_jobs_per_day" Deny;
    TierClients = "tier_clients" Deny;
    QueuePauseIntake = "queue_pause_intake" Deny;
    QueueDelayNewJobs = "queue_delay_new_jobs" Throttle;
    ResponseTimeCritical = "response_time_critical" Throttle;
    ErrorRateCritical = "error_rate_critical" Throttle;
    TierConcurrentJobs = "tier_concurrent_jobs" Throttle;
    TierApiRequestsPerMinute = "tier_api_requests_per_minute" Throttle;
    SpendRate = "spend_rate" Throttle;
    ReservationsFull = "reservations_full" Throttle;
}

/// The guard's answer to one admission.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub reason: Reason,
    /// What decided: `global`, `provider`, `client`, a budget scope, a tier resource, a figure.
    pub scope: Option<&'static str>,
    pub retry_after: Option<u64>,
    pub message: String,
}

impl Verdict {
    pub fn decision(&self) -> Decision {
        self.reason.decision()
    }

    fn new(reason: Reason, scope: &'static str, retry: u64, message: String) -> Self {
        Verdict {
            reason,
            scope: Some(scope),
            retry_after: (reason.decision() != Decision::Allow).then_some(retry.max(1)),
            message,
        }
    }

    pub fn ok() -> Self {
        Verdict {
            reason: Reason::Ok,
            scope: None,
            retry_after: None,
            message: "admitted".into(),
        }
    }

    /// The answer when the outstanding reservations are at their cap (global, or the client's).
    pub fn reservations_full(full: &Full, client: &str) -> Self {
        let message = if full.per_client {
            format!(
                "client `{client}` holds {} outstanding reservations, its cap (guard.max_reservations_per_client): settle them or let them expire",
                full.held
            )
        } else {
            format!(
                "{} reservations are outstanding, the cap (guard.max_reservations): settle them or let them expire",
                full.held
            )
        };
        Verdict::new(
            Reason::ReservationsFull,
            "reservations",
            RESERVATIONS_RETRY_SECONDS,
            message,
        )
    }

    /// The answer when the store (Redis) cannot be reached, per the fail mode.
    pub fn store_unavailable(mode: FailMode, why: &str) -> Self {
        match mode {
            FailMode::Open => Verdict::new(
                Reason::FailOpenStoreUnavailable,
                "store",
                0,
                format!(
                    "admitted without a reservation: the reservation store is unavailable ({why}) and the guard fails open"
                ),
            ),
            FailMode::Closed => Verdict::new(
                Reason::StoreUnavailable,
                "store",
                STORE_RETRY_SECONDS,
                format!("the reservation store is unavailable ({why}) and the guard fails closed"),
            ),
        }
    }
}

/// A store refused to hold one more reservation: `held` reached its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full {
    /// The client's own cap (else the global one).
    pub per_client: bool,
    pub held: u64,
}

/// The caps on outstanding reservations a store enforces when it reserves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub total: u64,
    pub per_client: u64,
}

impl Caps {
    pub fn of(cfg: &Config) -> Self {
        Caps {
            total: cfg.guard.max_reservations as u64,
            per_client: cfg.guard.max_reservations_per_client as u64,
        }
    }

    /// Which cap one more reservation would pass, given what is held.
    pub fn full(&self, total: u64, client: u64) -> Option<Full> {
        if client >= self.per_client {
            Some(Full {
                per_client: true,
                held: client,
            })
        } else if total >= self.total {
            Some(Full {
                per_client: false,
                held: total,
            })
        } else {
            None
        }
    }
}

/// What other callers have reserved, as the stores count it. Each counter is what the ledger
/// in the snapshot does not hold yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counter {
    /// Unsettled reserved cost, plus settled cost since the snapshot's collection.
    Cost,
    /// The same, for the request's client.
    ClientCost,
    /// Unsettled reserved tokens, plus settled tokens since the collection.
    Tokens,
    /// Visual jobs admitted since the collection.
    Visual,
    /// Jobs admitted minus jobs settled since the collection.
    Jobs,
    /// New clients admitted since the collection.
    NewClients,
    /// API requests admitted in the last 60 seconds.
    Api,
}

impl Counter {
    pub fn code(self) -> &'static str {
        match self {
            Counter::Cost => "cost",
            Counter::ClientCost => "client_cost",
            Counter::Tokens => "tokens",
            Counter::Visual => "visual",
            Counter::Jobs => "jobs",
            Counter::NewClients => "new_clients",
            Counter::Api => "api",
        }
    }
}

/// A limit checked atomically with the reservation: fails when pending + amount > headroom,
/// or when a request with nothing to count (amount 0) finds the limit already reached, or when
/// pending + amount saturates (reaches `bounded::CEILING`).
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    pub counter: Counter,
    /// Limit minus the snapshot's usage; may be negative.
    pub headroom: i64,
    pub amount: i64,
    pub reason: Reason,
    pub scope: &'static str,
    pub retry_after: u64,
    /// For budgets: pending + amount at or above this is the alert state.
    pub alert_headroom: Option<i64>,
    /// The limit itself, for the message.
    pub limit: i64,
}

impl Limit {
    pub fn fails(&self, pending: i64) -> bool {
        // A saturated sum is more than it reads: it fails whatever the headroom.
        let total = pending.plus(self.amount);
        total >= bounded::CEILING
            || total > self.headroom
            || (self.amount == 0 && pending >= self.headroom)
    }
}

/// Index of the first limit that fails with the given pending amounts (same order as limits).
pub fn first_failing(limits: &[Limit], pending: &[i64]) -> Option<usize> {
    limits.iter().zip(pending).position(|(l, p)| l.fails(*p))
}

pub struct Ctx<'a> {
    pub cfg: &'a Config,
    pub snap: &'a Assessment,
    pub admin: &'a FounderControls,
    pub now: DateTime<Utc>,
}

pub enum Plan {
    /// Decided without the reservations.
    Decided(Verdict),
    /// Check these atomically with the reservation; empty means allow.
    Check(Vec<Limit>),
}

fn secs_until(now: DateTime<Utc>, t: DateTime<Utc>) -> u64 {
    (t - now).num_seconds().max(1) as u64
}

fn next_month_start(now: DateTime<Utc>, tz: chrono_tz::Tz) -> DateTime<Utc> {
    periods::month_start(periods::month_start(now, tz) + Duration::days(32), tz)
}

fn usd(n: i64) -> String {
    format!("${}", from_nanos(n))
}

/// Seconds a snapshot-driven throttle asks callers to wait: the next collection.
fn collection_retry(cfg: &Config) -> u64 {
    cfg.database.interval.0.as_secs().max(1)
}

fn level(snap: &Assessment, f: FigureName) -> Option<Level> {
    snap.figure(f).and_then(|s| s.level)
}

/// Kill switches: the founder's hard stops, checked before anything else.
pub fn kill_switch(admin: &FounderControls, req: &Request) -> Option<Verdict> {
    let hit = |k: &KillKey| admin.kill_switches.contains_key(&k.field());
    let (reason, scope, what) = if hit(&KillKey::Global) {
        (Reason::KillSwitchGlobal, "global", "all spend".to_string())
    } else if let Some(p) = req
        .provider
        .as_deref()
        .filter(|p| hit(&KillKey::Provider(p.to_string())))
    {
        (
            Reason::KillSwitchProvider,
            "provider",
            format!("provider `{p}`"),
        )
    } else if hit(&KillKey::Client(req.client_id.clone())) {
        (
            Reason::KillSwitchClient,
            "client",
            format!("client `{}`", req.client_id),
        )
    } else {
        return None;
    };
    Some(Verdict::new(
        reason,
        scope,
        KILL_RETRY_SECONDS,
        format!("the founder's kill switch stops {what}"),
    ))
}

/// Whether the request spends money: budgets and the auto-throttle apply.
fn spends(req: &Request, amt: Amounts) -> bool {
    matches!(req.kind, Kind::Ai | Kind::Visual) || amt.cost_nano > 0
}

/// Everything that needs no reservation, then the limits to check with one.
pub fn plan(ctx: &Ctx, req: &Request, amt: Amounts) -> Plan {
    let (cfg, snap, now) = (ctx.cfg, ctx.snap, ctx.now);
    let tz = cfg.tz();
    if let Some(v) = kill_switch(ctx.admin, req) {
        return Plan::Decided(v);
    }

    // A snapshot too old to trust: fail open or closed, and say which.
    let max_age = Duration::from_std(cfg.guard.snapshot_max_age.0).unwrap_or(Duration::MAX);
    let stale = match snap.collected_at {
        None => Some("no collection has finished yet".to_string()),
        Some(t) if now - t > max_age => Some(format!(
            "the snapshot is {}s old (guard.snapshot_max_age is {})",
            (now - t).num_seconds(),
            cfg.guard.snapshot_max_age
        )),
        Some(_) => None,
    };
    if let Some(why) = stale {
        return Plan::Decided(match cfg.guard.fail_mode {
            FailMode::Open => Verdict::new(
                Reason::FailOpenSnapshotStale,
                "snapshot",
                0,
                format!("admitted without a reservation: {why} and the guard fails open"),
            ),
            FailMode::Closed => Verdict::new(
                Reason::SnapshotStale,
                "snapshot",
                collection_retry(cfg),
                format!("{why} and the guard fails closed"),
            ),
        });
    }
    let collected = snap.collected_at.unwrap_or(now);
    // Local midnight (or the 1st) since collection: that period's figures start from zero.
    let same_day = periods::day_start(collected, tz) == periods::day_start(now, tz);
    let same_month = periods::month_start(collected, tz) == periods::month_start(now, tz);
    let retry = collection_retry(cfg);

    // Queue actions and platform health: read straight from the snapshot's levels.
    if req.kind.is_job() {
        match level(snap, FigureName::QueueDepth) {
            Some(Level::Critical) => {
                return Plan::Decided(Verdict::new(
                    Reason::QueuePauseIntake,
                    "queue_depth",
                    5 * retry,
                    "the job queue is at its critical depth: intake is paused".into(),
                ));
            }
            Some(Level::Warning) => {
                return Plan::Decided(Verdict::new(
                    Reason::QueueDelayNewJobs,
                    "queue_depth",
                    retry,
                    "the job queue is at its warning depth: new jobs are delayed".into(),
                ));
            }
            _ => {}
        }
    }
    if level(snap, FigureName::ResponseTime) == Some(Level::Critical) {
        return Plan::Decided(Verdict::new(
            Reason::ResponseTimeCritical,
            "response_time",
            retry,
            "API response time is at its critical level".into(),
        ));
    }
    if level(snap, FigureName::ErrorRate) == Some(Level::Critical) {
        return Plan::Decided(Verdict::new(
            Reason::ErrorRateCritical,
            "error_rate",
            retry,
            "the API error rate is at its critical level".into(),
        ));
    }
    let limits = cfg.current_limits();
    let until_minute = 60 - u64::from(now.second());
    if req.kind == Kind::Api {
        let rpm = snap
            .tier_usage(Resource::ApiRequestsPerMinute)
            .and_then(|t| t.usage);
        if rpm.is_some_and(|r| r >= limits.api_requests_per_minute) {
            return Plan::Decided(Verdict::new(
                Reason::TierApiRequestsPerMinute,
                "api_requests_per_minute",
                until_minute,
                format!(
                    "the platform served {} API requests in the last full minute; the tier allows {}",
                    rpm.unwrap_or(0),
                    limits.api_requests_per_minute
                ),
            ));
        }
    }

    let to_midnight = secs_until(now, periods::next_day_start(now, tz));
    let to_month = secs_until(now, next_month_start(now, tz));
    let mut out = Vec::new();
    let nanos = to_nanos;
    let alert = |budget: i64, spent: i64| {
        let ratio = Decimal::try_from(cfg.budgets.alert_ratio).unwrap_or(Decimal::ONE);
        minus(ceil_count(times(ratio, Decimal::from(budget))), spent)
    };

    if spends(req, amt) {
        let (Some(daily), Some(monthly)) = (snap.budget(Scope::Daily), snap.budget(Scope::Monthly))
        else {
            if cfg.guard.fail_mode == FailMode::Closed {
                return Plan::Decided(Verdict::new(
                    Reason::LedgerUnavailable,
                    "ledger",
                    retry,
                    "the usage ledger could not be read, so budgets cannot be enforced, and the guard fails closed".into(),
                ));
            }
            return Plan::Check(Vec::new());
        };
        let b =
            |s: Scope, client: Option<&str>| nanos(ctx.admin.budget(s, client, &cfg.budgets, now));
        let spent_m = if same_month {
            nanos(monthly.spent_usd)
        } else {
            0
        };
        let spent_d = if same_day { nanos(daily.spent_usd) } else { 0 };
        let spent_c = if same_day {
            snap.client_day_cost
                .get(&req.client_id)
                .map_or(0, |c| nanos(*c))
        } else {
            0
        };
        let (bm, bd) = (b(Scope::Monthly, None), b(Scope::Daily, None));
        let bc = b(Scope::ClientDaily, Some(&req.client_id));
        for (counter, reason, scope, budget, spent, retry) in [
            (
                Counter::Cost,
                Reason::BudgetMonthlyExceeded,
                "monthly",
                bm,
                spent_m,
                to_month,
            ),
            (
                Counter::Cost,
                Reason::BudgetDailyExceeded,
                "daily",
                bd,
                spent_d,
                to_midnight,
            ),
            (
                Counter::ClientCost,
                Reason::BudgetClientDailyExceeded,
                "client_daily",
                bc,
                spent_c,
                to_midnight,
            ),
        ] {
            out.push(Limit {
                counter,
                headroom: minus(budget, spent),
                amount: amt.cost_nano,
                reason,
                scope,
                retry_after: retry,
                alert_headroom: Some(alert(budget, spent)),
                limit: budget,
            });
        }
    }
    let tier = |r: Resource| {
        snap.tier_usage(r)
            .and_then(|t| t.usage)
            .map(bounded::signed)
    };
    let today = |u: Option<i64>| if same_day { u } else { u.map(|_| 0) };
    let mut count =
        |counter, reason, scope: &'static str, limit: u64, used: Option<i64>, amount, retry| {
            if let Some(used) = used {
                let limit = bounded::signed(limit);
                out.push(Limit {
                    counter,
                    headroom: minus(limit, used),
                    amount,
                    reason,
                    scope,
                    retry_after: retry,
                    alert_headroom: None,
                    limit,
                });
            }
        };
    if req.kind == Kind::Ai && amt.tokens > 0 {
        count(
            Counter::Tokens,
            Reason::TierAiTokensPerDay,
            "ai_tokens_per_day",
            limits.ai_tokens_per_day,
            today(tier(Resource::AiTokensPerDay)),
            amt.tokens,
            to_midnight,
        );
    }
    if req.kind == Kind::Visual {
        count(
            Counter::Visual,
            Reason::TierVisualJobsPerDay,
            "visual_jobs_per_day",
            limits.visual_jobs_per_day,
            today(tier(Resource::VisualJobsPerDay)),
            1,
            to_midnight,
        );
    }
    if req.new_client {
        count(
            Counter::NewClients,
            Reason::TierClients,
            "clients",
            limits.clients,
            tier(Resource::Clients),
            1,
            CLIENTS_RETRY_SECONDS,
        );
    }
    // Throttles come after every hard stop, so a caller told to wait is not denied later.
    if req.kind.is_job() {
        count(
            Counter::Jobs,
            Reason::TierConcurrentJobs,
            "concurrent_jobs",
            limits.concurrent_jobs,
            tier(Resource::ConcurrentJobs),
            1,
            retry,
        );
    }
    if req.kind == Kind::Api {
        count(
            Counter::Api,
            Reason::TierApiRequestsPerMinute,
            "api_requests_per_minute",
            limits.api_requests_per_minute,
            Some(0),
            1,
            until_minute,
        );
    }
    if spends(req, amt)
        && let (Some(spend15), Some(daily)) = (snap.spend_last_15m_usd, snap.budget(Scope::Daily))
    {
        // Spend at the last 15 minutes' rate until local midnight must fit in what is left.
        let budget = nanos(ctx.admin.budget(Scope::Daily, None, &cfg.budgets, now));
        let spent = if same_day { nanos(daily.spent_usd) } else { 0 };
        let projected = ceil_count(
            times(Decimal::from(nanos(spend15)), Decimal::from(to_midnight))
                / Decimal::from(SPEND_RATE_WINDOW_SECONDS),
        );
        out.push(Limit {
            counter: Counter::Cost,
            headroom: minus(minus(budget, spent), projected),
            amount: amt.cost_nano,
            reason: Reason::SpendRate,
            scope: "daily",
            retry_after: retry,
            alert_headroom: None,
            limit: projected,
        });
    }
    Plan::Check(out)
}

/// The verdict once the store has checked the limits (`failed`) with its pending amounts.
pub fn finish(req: &Request, limits: &[Limit], pending: &[i64], failed: Option<usize>) -> Verdict {
    if let Some(i) = failed {
        let l = &limits[i];
        let p = pending.get(i).copied().unwrap_or(0);
        let message = match l.counter {
            Counter::Cost | Counter::ClientCost if l.reason == Reason::SpendRate => format!(
                "at the last 15 minutes' rate, {} more would be spent before local midnight; the daily budget leaves {} after {} reserved",
                usd(l.limit),
                usd(l.headroom.plus(l.limit).max(0)),
                usd(p)
            ),
            Counter::Cost | Counter::ClientCost => {
                let who = if l.counter == Counter::ClientCost {
                    format!("client `{}`'s daily", req.client_id)
                } else {
                    format!("the {}", l.scope)
                };
                format!(
                    "{who} budget of {} is used up: {} spent, {} reserved, {} asked",
                    usd(l.limit),
                    usd(minus(l.limit, l.headroom)),
                    usd(p),
                    usd(l.amount)
                )
            }
            _ => format!(
                "{} is at its tier limit of {}: {} used, {} reserved since the last collection",
                l.scope,
                l.limit,
                minus(l.limit, l.headroom),
                p
            ),
        };
        return Verdict::new(l.reason, l.scope, l.retry_after, message);
    }
    // Admitted: warn when this admission takes a budget into its alert state.
    let alerting = limits
        .iter()
        .zip(pending)
        .find(|(l, p)| l.alert_headroom.is_some_and(|a| p.plus(l.amount) >= a));
    match alerting {
        Some((l, _)) => Verdict {
            reason: Reason::BudgetAlert,
            scope: Some(l.scope),
            retry_after: None,
            message: format!(
                "admitted; the {} budget of {} is past its alert ratio",
                l.scope,
                usd(l.limit)
            ),
        },
        None => Verdict::ok(),
    }
}

/// The whole decision with pending amounts from a lookup: what the in-process store runs
/// under its lock, and what the tests drive.
pub fn decide(
    ctx: &Ctx,
    req: &Request,
    amt: Amounts,
    pending: impl Fn(Counter) -> i64,
) -> (Verdict, Vec<Limit>) {
    match plan(ctx, req, amt) {
        Plan::Decided(v) => (v, Vec::new()),
        Plan::Check(limits) => {
            let p: Vec<i64> = limits.iter().map(|l| pending(l.counter)).collect();
            let failed = first_failing(&limits, &p);
            (finish(req, &limits, &p, failed), limits)
        }
    }
}

/// Seconds since the Unix epoch, floored: the stores' bucket key.
pub fn epoch_sec(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

/// The calendar day of `t` in the config's zone, for logs.
pub fn local_date(t: DateTime<Utc>, cfg: &Config) -> String {
    let d = t.with_timezone(&cfg.tz()).date_naive();
    format!("{}-{:02}-{:02}", d.year(), d.month(), d.day())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::assess::assess;
    use crate::figures::{DbFigures, Figures, JobFigures, TrafficFigures};
    use rust_decimal::prelude::ToPrimitive;
    use rust_decimal_macros::dec;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// A day's figures: `spent_a` by client a (openai input tokens at $10/M), nothing else.
    fn figures(at: DateTime<Utc>, spent_a: Decimal) -> DbFigures {
        let mut d = DbFigures::unavailable(at, "test");
        let tokens = (spent_a * dec!(100_000)).to_u64().unwrap();
        let rows = vec![UsageRow {
            client_id: Some("a".into()),
            provider: "openai".into(),
            model: "gpt-4o".into(),
            input_tokens: tokens,
            requests: 1,
            ..UsageRow::default()
        }];
        d.usage_today = Ok(rows.clone());
        d.usage_month = Ok(rows);
        d.usage_last_15m = Ok(Vec::new());
        d.active_clients = Ok(3);
        d.jobs = Ok(JobFigures {
            queued: 0,
            running: 1,
            visual_today: 5,
            ..JobFigures::default()
        });
        d.traffic = Ok(TrafficFigures {
            requests_last_minute: 10,
            requests: 100,
            errors: 0,
            p95_ms: Some(100.0),
            ..TrafficFigures::default()
        });
        d
    }

    struct World {
        cfg: Config,
        snap: Assessment,
        admin: FounderControls,
        now: DateTime<Utc>,
    }

    impl World {
        fn new(spent_a: Decimal) -> Self {
            let now = utc("2026-11-26T12:00:00Z");
            let cfg = Config {
                tier: crate::config::TierName::HardLaunch,
                ..Config::default()
            };
            let snap = assess(
                &cfg,
                &Figures::with_db(figures(now, spent_a).clone()),
                &FounderControls::default(),
                now,
            );
            World {
                cfg,
                snap,
                admin: FounderControls::default(),
                now: now + Duration::seconds(5),
            }
        }

        fn with(mut self, f: impl FnOnce(&mut DbFigures), g: impl FnOnce(&mut Config)) -> Self {
            let at = self.snap.collected_at.unwrap();
            let spent = self
                .snap
                .client_day_cost
                .get("a")
                .copied()
                .unwrap_or_default();
            let mut d = figures(at, spent);
            f(&mut d);
            g(&mut self.cfg);
            self.snap = assess(
                &self.cfg,
                &Figures::with_db(d.clone()),
                &FounderControls::default(),
                at,
            );
            self
        }

        fn decide_p(&self, req: &Request, pending: impl Fn(Counter) -> i64) -> Verdict {
            let ctx = Ctx {
                cfg: &self.cfg,
                snap: &self.snap,
                admin: &self.admin,
                now: self.now,
            };
            let amt = estimate(&self.cfg, req).unwrap();
            decide(&ctx, req, amt, pending).0
        }

        fn decide(&self, req: &Request) -> Verdict {
            self.decide_p(req, |_| 0)
        }
    }

    fn ai(client: &str, input: u64) -> Request {
        Request {
            client_id: client.into(),
            kind: Kind::Ai,
            provider: Some("openai".into()),
            model: Some("gpt-4o".into()),
            estimate: Usage {
                input_tokens: input,
                output_tokens: Some(0),
                ..Usage::default()
            },
            new_client: false,
        }
    }

    fn of(kind: Kind) -> Request {
        Request {
            kind,
            provider: None,
            model: None,
            estimate: Usage::default(),
            ..ai("b", 0)
        }
    }

    fn reason(v: &Verdict) -> &'static str {
        v.reason.code()
    }

    #[test]
    fn ok_and_estimates() {
        let w = World::new(dec!(1));
        let v = w.decide(&ai("b", 1000));
        assert_eq!((v.reason, v.retry_after), (Reason::Ok, None));
        // $10/M input; no output given: the default 1024 output tokens at $30/M are reserved.
        let mut r = ai("b", 1_000_000);
        r.estimate.output_tokens = None;
        let a = estimate(&w.cfg, &r).unwrap();
        assert_eq!(a.cost_nano, to_nanos(dec!(10) + dec!(0.03072)));
        assert_eq!(a.tokens, 1_001_024);
        r.provider = Some("mistral".into());
        assert!(estimate(&w.cfg, &r).unwrap_err().contains("mistral"));
        r.estimate.cost_usd = Some(dec!(0.5));
        assert_eq!(estimate(&w.cfg, &r).unwrap().cost_nano, 500_000_000);
    }

    #[test]
    fn kill_switches_global_provider_client() {
        let mut w = World::new(dec!(1));
        w.admin.set_kill(KillKey::Client("b".into()), w.now, "");
        let v = w.decide(&ai("b", 1));
        assert_eq!(
            (reason(&v), v.scope, v.retry_after),
            ("kill_switch_client", Some("client"), Some(60))
        );
        assert_eq!(v.decision(), Decision::Deny);
        assert_eq!(w.decide(&ai("c", 1)).reason, Reason::Ok);
        w.admin
            .set_kill(KillKey::Provider("openai".into()), w.now, "");
        assert_eq!(reason(&w.decide(&ai("c", 1))), "kill_switch_provider");
        w.admin.set_kill(KillKey::Global, w.now, "");
        assert_eq!(reason(&w.decide(&of(Kind::Api))), "kill_switch_global");
    }

    #[test]
    fn stale_snapshot_fails_closed_or_open() {
        let mut w = World::new(dec!(1));
        w.now += Duration::seconds(121);
        let v = w.decide(&ai("b", 1));
        assert_eq!(
            (reason(&v), v.decision()),
            ("snapshot_stale", Decision::Deny)
        );
        assert!(v.message.contains("fails closed"), "{}", v.message);
        w.cfg.guard.fail_mode = FailMode::Open;
        let v = w.decide(&ai("b", 1));
        assert_eq!(
            (reason(&v), v.decision()),
            ("fail_open_snapshot_stale", Decision::Allow)
        );
        let none = assess(
            &w.cfg,
            &Figures::default(),
            &FounderControls::default(),
            w.now,
        );
        let ctx = Ctx {
            cfg: &w.cfg,
            snap: &none,
            admin: &w.admin,
            now: w.now,
        };
        let v = decide(&ctx, &ai("b", 1), Amounts::default(), |_| 0).0;
        assert!(v.message.contains("no collection"), "{}", v.message);
        assert_eq!(
            Verdict::store_unavailable(FailMode::Closed, "x")
                .reason
                .code(),
            "store_unavailable"
        );
        assert_eq!(
            Verdict::store_unavailable(FailMode::Open, "x").decision(),
            Decision::Allow
        );
        assert_eq!(
            Verdict::store_unavailable(FailMode::Open, "x")
                .reason
                .code(),
            "fail_open_store_unavailable"
        );
    }

    #[test]
    fn unreadable_ledger_stops_spend_when_closed() {
        let w = World::new(dec!(1)).with(
            |d| {
                d.usage_today = Err(crate::figures::Unavailable { reason: "x".into() });
            },
            |_| {},
        );
        assert_eq!(reason(&w.decide(&ai("b", 1))), "ledger_unavailable");
        // An API request spends nothing: the ledger does not matter to it.
        assert_eq!(reason(&w.decide(&of(Kind::Api))), "ok");
    }

    #[test]
    fn budgets_hard_stop_at_100_percent_counting_reservations() {
        // Daily budget $50: $49 spent by client a (its own daily budget is raised).
        let mut w = World::new(dec!(49));
        // $1 more fits exactly; $1 plus one nano-dollar does not.
        let v = w.decide(&ai("c", 100_000));
        assert_eq!(reason(&v), "budget_alert");
        assert_eq!(v.scope, Some("daily"));
        let v = w.decide_p(
            &ai("c", 100_000),
            |c| if c == Counter::Cost { 1 } else { 0 },
        );
        assert_eq!(reason(&v), "budget_daily_exceeded");
        assert_eq!(v.decision(), Decision::Deny);
        // Retry after local midnight: 12:00:05 UTC -> 11h59m55s.
        assert_eq!(v.retry_after, Some(12 * 3600 - 5));
        assert!(v.message.contains("$50"), "{}", v.message);
        // At exactly 100% even a request of unknown cost is spend and is denied.
        let mut free = ai("c", 0);
        free.estimate.cost_usd = Some(dec!(0));
        let v = w.decide_p(&free, |c| {
            if c == Counter::Cost {
                to_nanos(dec!(1))
            } else {
                0
            }
        });
        assert_eq!(reason(&v), "budget_daily_exceeded");
        // A founder's override raises the budget at once.
        w.admin.set_override(
            Scope::Daily,
            None,
            dec!(60),
            w.now + Duration::hours(1),
            w.now,
        );
        let mut two = ai("c", 1);
        two.estimate.cost_usd = Some(dec!(2));
        assert_eq!(w.decide(&two).decision(), Decision::Allow);
        // An expired override no longer counts.
        w.now += Duration::hours(2);
        w.snap.collected_at = Some(w.now);
        assert_eq!(reason(&w.decide(&two)), "budget_daily_exceeded");
    }

    #[test]
    fn monthly_and_client_budgets() {
        let w = World::new(dec!(4.5));
        // Client a: $4.50 of $5 spent: alert, then exceeded.
        let v = w.decide(&ai("a", 10_000));
        assert_eq!(
            (reason(&v), v.scope),
            ("budget_alert", Some("client_daily"))
        );
        let v = w.decide(&ai("a", 60_000));
        assert_eq!(
            (reason(&v), v.scope),
            ("budget_client_daily_exceeded", Some("client_daily"))
        );
        // Another client is not affected.
        assert_eq!(reason(&w.decide(&ai("b", 60_000))), "ok");
        let mut w = World::new(dec!(4.5));
        w.cfg.budgets.monthly_usd = dec!(4.5);
        let v = w.decide(&ai("b", 1));
        assert_eq!(reason(&v), "budget_monthly_exceeded");
        // 2026-11-26T12:00:05Z to 2026-12-01T00:00:00Z.
        assert_eq!(v.retry_after, Some(4 * 86_400 + 12 * 3600 - 5));
    }

    #[test]
    fn budgets_roll_over_at_local_midnight() {
        // Berlin: the snapshot was collected at 23:59:30 local; the day's budget is spent.
        let at = utc("2026-11-26T22:59:30Z");
        let cfg = Config {
            timezone: "Europe/Berlin".parse().unwrap(),
            tier: crate::config::TierName::Growth,
            ..Config::default()
        };
        let mut d = figures(at, dec!(50));
        d.usage_month = Ok(Vec::new());
        let snap = assess(
            &cfg,
            &Figures::with_db(d.clone()),
            &FounderControls::default(),
            at,
        );
        let admin = FounderControls::default();
        let req = ai("b", 1000);
        let amt = estimate(&cfg, &req).unwrap();
        let at_time = |now: &str| {
            let ctx = Ctx {
                cfg: &cfg,
                snap: &snap,
                admin: &admin,
                now: utc(now),
            };
            decide(&ctx, &req, amt, |_| 0).0
        };
        let before = at_time("2026-11-26T22:59:50Z");
        assert_eq!(reason(&before), "budget_daily_exceeded");
        assert_eq!(before.retry_after, Some(10));
        // 00:00:10 in Berlin, still 23:00:10 in UTC: a new day with an old snapshot.
        assert_eq!(reason(&at_time("2026-11-26T23:00:10Z")), "ok");
        // The spend rate does not roll over: the same figures with a busy last 15 minutes
        // throttle right after midnight too.
        d.usage_last_15m = Ok(vec![UsageRow {
            provider: "openai".into(),
            model: "gpt-4o".into(),
            input_tokens: 200_000,
            ..UsageRow::default()
        }]);
        let snap2 = assess(
            &cfg,
            &Figures::with_db(d.clone()),
            &FounderControls::default(),
            at,
        );
        let ctx = Ctx {
            cfg: &cfg,
            snap: &snap2,
            admin: &admin,
            now: utc("2026-11-26T23:00:10Z"),
        };
        // $2 per 15 min over ~24h = $192 > $50.
        assert_eq!(reason(&decide(&ctx, &req, amt, |_| 0).0), "spend_rate");
    }

    #[test]
    fn spend_rate_throttles_when_it_would_exhaust_the_day() {
        // $10 spent; 12h to midnight; $40 left: a rate of $0.833/15 min exhausts it.
        let w = World::new(dec!(10)).with(
            |d| {
                d.usage_last_15m = Ok(vec![UsageRow {
                    provider: "openai".into(),
                    model: "gpt-4o".into(),
                    input_tokens: 90_000,
                    ..UsageRow::default()
                }]);
            },
            |_| {},
        );
        let v = w.decide(&ai("b", 1));
        assert_eq!(
            (reason(&v), v.decision()),
            ("spend_rate", Decision::Throttle)
        );
        assert_eq!(v.retry_after, Some(30));
        let calm = World::new(dec!(10)).with(
            |d| {
                d.usage_last_15m = Ok(vec![UsageRow {
                    provider: "openai".into(),
                    model: "gpt-4o".into(),
                    input_tokens: 50_000,
                    ..UsageRow::default()
                }]);
            },
            |_| {},
        );
        assert_eq!(reason(&calm.decide(&ai("b", 1))), "ok");
        // An API request spends nothing and is not throttled for spend.
        assert_eq!(reason(&w.decide(&of(Kind::Api))), "ok");
    }

    #[test]
    fn tier_limits() {
        // Hard launch: 5M tokens/day, 200 visual/day, 10 concurrent, 300 rpm, 50 clients.
        let w = World::new(dec!(1));
        let v = w.decide_p(&ai("b", 1000), |c| {
            if c == Counter::Tokens { 5_000_000 } else { 0 }
        });
        assert_eq!(
            (reason(&v), v.scope),
            ("tier_ai_tokens_per_day", Some("ai_tokens_per_day"))
        );
        let visual = of(Kind::Visual);
        assert_eq!(reason(&w.decide(&visual)), "ok");
        let v = w.decide_p(&visual, |c| if c == Counter::Visual { 195 } else { 0 });
        assert_eq!(reason(&v), "tier_visual_jobs_per_day");
        // 1 running + 9 admitted = 10: the eleventh waits.
        let job = of(Kind::Job);
        assert_eq!(reason(&w.decide_p(&job, |_| 8)), "ok");
        let v = w.decide_p(&job, |c| if c == Counter::Jobs { 9 } else { 0 });
        assert_eq!(
            (reason(&v), v.decision()),
            ("tier_concurrent_jobs", Decision::Throttle)
        );
        let api = of(Kind::Api);
        let v = w.decide_p(&api, |c| if c == Counter::Api { 300 } else { 0 });
        assert_eq!(reason(&v), "tier_api_requests_per_minute");
        assert_eq!(v.retry_after, Some(55));
        let busy = World::new(dec!(1)).with(
            |d| {
                if let Ok(t) = d.traffic.as_mut() {
                    t.requests_last_minute = 300;
                }
            },
            |_| {},
        );
        assert_eq!(reason(&busy.decide(&api)), "tier_api_requests_per_minute");
        let mut newc = ai("n", 1);
        newc.new_client = true;
        assert_eq!(reason(&w.decide(&newc)), "ok");
        let v = w.decide_p(&newc, |c| if c == Counter::NewClients { 47 } else { 0 });
        assert_eq!((reason(&v), v.retry_after), ("tier_clients", Some(3600)));
    }

    #[test]
    fn queue_and_health_levels() {
        let q = |n| {
            World::new(dec!(1)).with(
                move |d| {
                    if let Ok(j) = d.jobs.as_mut() {
                        j.queued = n;
                    }
                },
                |_| {},
            )
        };
        let w = q(50);
        let v = w.decide(&of(Kind::Job));
        assert_eq!(
            (reason(&v), v.decision()),
            ("queue_delay_new_jobs", Decision::Throttle)
        );
        // The queue does not hold AI calls back.
        assert_eq!(reason(&w.decide(&ai("b", 1))), "ok");
        let v = q(200).decide(&of(Kind::Visual));
        assert_eq!(
            (reason(&v), v.decision()),
            ("queue_pause_intake", Decision::Deny)
        );
        assert_eq!(v.retry_after, Some(150));
        let slow = World::new(dec!(1)).with(
            |d| {
                if let Ok(t) = d.traffic.as_mut() {
                    t.p95_ms = Some(2500.0);
                }
            },
            |_| {},
        );
        assert_eq!(reason(&slow.decide(&ai("b", 1))), "response_time_critical");
        let failing = World::new(dec!(1)).with(
            |d| {
                if let Ok(t) = d.traffic.as_mut() {
                    t.errors = 5;
                }
            },
            |_| {},
        );
        let v = failing.decide(&of(Kind::Api));
        assert_eq!(
            (reason(&v), v.decision()),
            ("error_rate_critical", Decision::Throttle)
        );
    }

    #[test]
    fn every_reason_has_one_decision_and_a_unique_code() {
        let mut seen = std::collections::HashSet::new();
        for r in Reason::ALL {
            assert!(seen.insert(r.code()), "{}", r.code());
            let status = r.decision().status();
            assert_eq!(status == 200, r.decision() == Decision::Allow);
        }
        assert_eq!(Reason::ALL.len(), 24);
    }

    #[test]
    fn limits_fail_at_their_edges() {
        let l = Limit {
            counter: Counter::Jobs,
            headroom: 2,
            amount: 1,
            reason: Reason::TierConcurrentJobs,
            scope: "concurrent_jobs",
            retry_after: 1,
            alert_headroom: None,
            limit: 3,
        };
        assert!(!l.fails(1));
        assert!(l.fails(2));
        let zero = Limit {
            amount: 0,
            ..l.clone()
        };
        assert!(!zero.fails(1));
        assert!(zero.fails(2));
        assert_eq!(first_failing(&[l.clone(), zero], &[0, 5]), Some(1));
    }
}
