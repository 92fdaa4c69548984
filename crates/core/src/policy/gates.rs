//! The gates: what decides an admission without a reservation, each a small function that
//! returns a verdict or lets the request through. `GATES` runs them in order; the first verdict
//! decides.

use chrono::{DateTime, Duration, Timelike, Utc};

use crate::catalogue::FigureName;
use crate::config::{Config, FailMode};
use crate::core::assess::Assessment;
use crate::core::budget::Scope;
use crate::core::controls::{FounderControls, KillKey};
use crate::core::levels::Level;
use crate::core::tiers::Resource;

use super::request::{Amounts, Kind, Request};
use super::verdict::{GuardScope, Reason, Verdict};

/// Retry-After of a kill switch: the founder may lift it at any moment.
pub const KILL_RETRY_SECONDS: u64 = 60;

/// What a decision reads: the config and the assessment published together, the founder's
/// controls and the clock reading of the request.
pub struct Ctx<'a> {
    pub cfg: &'a Config,
    pub snap: &'a Assessment,
    pub admin: &'a FounderControls,
    pub now: DateTime<Utc>,
}

impl Ctx<'_> {
    /// Seconds a snapshot-driven throttle asks callers to wait: the next collection.
    pub fn collection_retry(&self) -> u64 {
        self.cfg.database.interval.0.as_secs().max(1)
    }

    /// Seconds until the next minute starts: when a per-minute count has room again.
    pub fn until_next_minute(&self) -> u64 {
        60 - u64::from(self.now.second())
    }

    /// Whether the snapshot holds the budgets (the ledger could be read).
    pub fn budgets_known(&self) -> bool {
        self.snap.budget(Scope::Daily).is_some() && self.snap.budget(Scope::Monthly).is_some()
    }

    fn level(&self, f: FigureName) -> Option<Level> {
        self.snap.figure(f).and_then(|s| s.level)
    }
}

/// One gate: a verdict, or None to let the request through to the next.
pub type Gate = fn(&Ctx, &Request, Amounts) -> Option<Verdict>;

/// The gates in the order they run: the founder's hard stops first, then whether the snapshot
/// can be trusted, then what it alone decides.
pub const GATES: [Gate; 5] = [killed, stale_snapshot, figure_levels, api_rate, ledger];

/// Kill switches: the founder's hard stops, checked before anything else.
pub fn kill_switch(admin: &FounderControls, req: &Request) -> Option<Verdict> {
    if admin.kill_switches.is_empty() {
        return None; // the usual case: spell out no keys
    }
    let hit = |k: &KillKey| admin.kill_switches.contains_key(&k.field());
    let (reason, what) = if hit(&KillKey::Global) {
        (Reason::KillSwitchGlobal, "all spend".to_string())
    } else if let Some(p) = req
        .provider
        .as_deref()
        .filter(|p| hit(&KillKey::Provider(p.to_string())))
    {
        (Reason::KillSwitchProvider, format!("provider `{p}`"))
    } else if hit(&KillKey::Client(req.client_id.clone())) {
        (
            Reason::KillSwitchClient,
            format!("client `{}`", req.client_id),
        )
    } else {
        return None;
    };
    Some(Verdict::new(
        reason,
        KILL_RETRY_SECONDS,
        format!("the founder's kill switch stops {what}"),
    ))
}

fn killed(ctx: &Ctx, req: &Request, _: Amounts) -> Option<Verdict> {
    kill_switch(ctx.admin, req)
}

/// A snapshot too old to trust: fail open or closed, and say which.
fn stale_snapshot(ctx: &Ctx, _: &Request, _: Amounts) -> Option<Verdict> {
    let g = &ctx.cfg.guard;
    let max_age = Duration::from_std(g.snapshot_max_age.0).unwrap_or(Duration::MAX);
    let why = match ctx.snap.collected_at {
        None => "no collection has finished yet".to_string(),
        Some(t) if ctx.now - t > max_age => format!(
            "the snapshot is {}s old (guard.snapshot_max_age is {})",
            (ctx.now - t).num_seconds(),
            g.snapshot_max_age
        ),
        Some(_) => return None,
    };
    Some(match g.fail_mode {
        FailMode::Open => Verdict::new(
            Reason::FailOpenSnapshotStale,
            0,
            format!("admitted without a reservation: {why} and the guard fails open"),
        ),
        FailMode::Closed => Verdict::new(
            Reason::SnapshotStale,
            ctx.collection_retry(),
            format!("{why} and the guard fails closed"),
        ),
    })
}

/// A figure's level that holds requests back; the figure is the one its reason names.
struct FigureGate {
    reason: Reason,
    level: Level,
    /// Only jobs wait in the queue: other kinds pass.
    jobs_only: bool,
    /// Retry-After in collection intervals.
    intervals: u64,
    message: &'static str,
}

/// The figures' levels the guard acts on, in order: queue actions, then platform health.
const FIGURE_GATES: [FigureGate; 4] = [
    FigureGate {
        reason: Reason::QueuePauseIntake,
        level: Level::Critical,
        jobs_only: true,
        intervals: 5,
        message: "the job queue is at its critical depth: intake is paused",
    },
    FigureGate {
        reason: Reason::QueueDelayNewJobs,
        level: Level::Warning,
        jobs_only: true,
        intervals: 1,
        message: "the job queue is at its warning depth: new jobs are delayed",
    },
    FigureGate {
        reason: Reason::ResponseTimeCritical,
        level: Level::Critical,
        jobs_only: false,
        intervals: 1,
        message: "API response time is at its critical level",
    },
    FigureGate {
        reason: Reason::ErrorRateCritical,
        level: Level::Critical,
        jobs_only: false,
        intervals: 1,
        message: "the API error rate is at its critical level",
    },
];

/// Queue actions and platform health, read straight from the snapshot's levels.
fn figure_levels(ctx: &Ctx, req: &Request, _: Amounts) -> Option<Verdict> {
    let at_level = |g: &&FigureGate| match g.reason.scope() {
        Some(GuardScope::Figure(f)) => ctx.level(f) == Some(g.level),
        _ => false,
    };
    FIGURE_GATES
        .iter()
        .filter(|g| !g.jobs_only || req.kind.is_job())
        .find(at_level)
        .map(|g| {
            let retry = g.intervals.saturating_mul(ctx.collection_retry());
            Verdict::new(g.reason, retry, g.message.into())
        })
}

/// An API request while the last full minute's traffic already reached the tier's rate.
fn api_rate(ctx: &Ctx, req: &Request, _: Amounts) -> Option<Verdict> {
    if req.kind != Kind::Api {
        return None;
    }
    let limit = ctx.cfg.current_limits().api_requests_per_minute;
    let rpm = ctx
        .snap
        .tier_usage(Resource::ApiRequestsPerMinute)
        .and_then(|t| t.usage)
        .filter(|r| *r >= limit)?;
    Some(Verdict::new(
        Reason::TierApiRequestsPerMinute,
        ctx.until_next_minute(),
        format!(
            "the platform served {rpm} API requests in the last full minute; the tier allows {limit}"
        ),
    ))
}

/// Spend while the ledger could not be read: budgets cannot be enforced. Closed: deny; open:
/// let it through (the limits then count nothing, see `limits::limits`).
fn ledger(ctx: &Ctx, req: &Request, amt: Amounts) -> Option<Verdict> {
    let closed = ctx.cfg.guard.fail_mode == FailMode::Closed;
    (closed && req.spends(amt) && !ctx.budgets_known()).then(|| {
        Verdict::new(
            Reason::LedgerUnavailable,
            ctx.collection_retry(),
            "the usage ledger could not be read, so budgets cannot be enforced, and the guard fails closed".into(),
        )
    })
}
