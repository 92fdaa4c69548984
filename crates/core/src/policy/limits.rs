//! The limits: what depends on other callers' reservations, so a store checks it atomically
//! with the reservation. `limits` builds them for one request, in the order they are checked:
//! budgets, then tier limits (hard stops before throttles), then the spend rate.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::core::bounded::{self, Bounded, ceil_count, minus, times, to_nanos};
use crate::core::budget::Scope;
use crate::core::periods;
use crate::core::tiers::Resource;

use super::gates::Ctx;
use super::request::{Amounts, Kind, Request};
use super::verdict::{GuardScope, Reason};

/// The window of the auto-throttle's spend rate.
pub const SPEND_RATE_WINDOW_SECONDS: i64 = 15 * 60;
/// Retry-After when the tier has no room for another client (a tier change is a config change).
pub const CLIENTS_RETRY_SECONDS: u64 = 3600;

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
    /// Its name in the Redis scripts.
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
/// pending + amount saturates (reaches `bounded::CEILING`). Its reason names its scope.
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    pub counter: Counter,
    /// Limit minus the snapshot's usage; may be negative.
    pub headroom: i64,
    pub amount: i64,
    pub reason: Reason,
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

    /// The scope its verdict names.
    pub fn scope(&self) -> Option<GuardScope> {
        self.reason.scope()
    }
}

/// Index of the first limit that fails with the given pending amounts (same order as limits).
pub fn first_failing(limits: &[Limit], pending: &[i64]) -> Option<usize> {
    limits.iter().zip(pending).position(|(l, p)| l.fails(*p))
}

/// The calendar as of the request: whether the snapshot was collected in the current local
/// day and month (else that period's figures start from zero), and how long until each ends.
struct Calendar {
    same_day: bool,
    same_month: bool,
    to_midnight: u64,
    to_month: u64,
}

fn secs_until(now: DateTime<Utc>, t: DateTime<Utc>) -> u64 {
    (t - now).num_seconds().max(1) as u64
}

impl Calendar {
    fn of(ctx: &Ctx) -> Self {
        let (now, tz) = (ctx.now, ctx.cfg.tz());
        let collected = ctx.snap.collected_at.unwrap_or(now);
        Calendar {
            same_day: periods::day_start(collected, tz) == periods::day_start(now, tz),
            same_month: periods::month_start(collected, tz) == periods::month_start(now, tz),
            to_midnight: secs_until(now, periods::next_day_start(now, tz)),
            to_month: secs_until(now, periods::next_month_start(now, tz)),
        }
    }
}

/// The limits to check with the reservation, in order. A spending request whose budgets the
/// snapshot lacks (the ledger is unreadable, and the guard fails open since the `ledger` gate
/// let it through) counts against nothing.
pub fn limits(ctx: &Ctx, req: &Request, amt: Amounts) -> Vec<Limit> {
    let cal = Calendar::of(ctx);
    let mut out = Vec::new();
    if req.spends(amt) {
        match budget_limits(ctx, req, amt, &cal) {
            Some(budgets) => out.extend(budgets),
            None => return out,
        }
    }
    out.extend(tier_limits(ctx, req, amt, &cal));
    out.extend(spend_rate(ctx, req, amt, &cal));
    out
}

/// The monthly, daily and client's daily budgets in force (the founder's overrides included).
fn budget_limits(ctx: &Ctx, req: &Request, amt: Amounts, cal: &Calendar) -> Option<[Limit; 3]> {
    let (daily, monthly) = (
        ctx.snap.budget(Scope::Daily)?,
        ctx.snap.budget(Scope::Monthly)?,
    );
    let budget = |s, client| to_nanos(ctx.admin.budget(s, client, &ctx.cfg.budgets, ctx.now));
    let client_spent = ctx.snap.client_day_cost.get(&req.client_id);
    let this_day = |usd: Option<&Decimal>| usd.filter(|_| cal.same_day).map_or(0, |c| to_nanos(*c));
    let alert_ratio = Decimal::try_from(ctx.cfg.budgets.alert_ratio).unwrap_or(Decimal::ONE);
    let limit = |counter, reason, budget, spent, retry_after| Limit {
        counter,
        headroom: minus(budget, spent),
        amount: amt.cost_nano,
        reason,
        retry_after,
        alert_headroom: Some(minus(
            ceil_count(times(alert_ratio, Decimal::from(budget))),
            spent,
        )),
        limit: budget,
    };
    Some([
        limit(
            Counter::Cost,
            Reason::BudgetMonthlyExceeded,
            budget(Scope::Monthly, None),
            if cal.same_month {
                to_nanos(monthly.spent_usd)
            } else {
                0
            },
            cal.to_month,
        ),
        limit(
            Counter::Cost,
            Reason::BudgetDailyExceeded,
            budget(Scope::Daily, None),
            this_day(Some(&daily.spent_usd)),
            cal.to_midnight,
        ),
        limit(
            Counter::ClientCost,
            Reason::BudgetClientDailyExceeded,
            budget(Scope::ClientDaily, Some(&req.client_id)),
            this_day(client_spent),
            cal.to_midnight,
        ),
    ])
}

/// A tier limit on the resource its reason names, when the snapshot knows the usage.
fn tier_limit(
    ctx: &Ctx,
    reason: Reason,
    counter: Counter,
    used: Option<i64>,
    amount: i64,
    retry_after: u64,
) -> Option<Limit> {
    let Some(GuardScope::Tier(resource)) = reason.scope() else {
        return None;
    };
    let limit = bounded::signed(resource.limit(ctx.cfg.current_limits()));
    Some(Limit {
        counter,
        headroom: minus(limit, used?),
        amount,
        reason,
        retry_after,
        alert_headroom: None,
        limit,
    })
}

/// The tier limits this request counts against. Throttles come after every hard stop, so a
/// caller told to wait is not denied later.
fn tier_limits(ctx: &Ctx, req: &Request, amt: Amounts, cal: &Calendar) -> Vec<Limit> {
    let used = |r| {
        ctx.snap
            .tier_usage(r)
            .and_then(|t| t.usage)
            .map(bounded::signed)
    };
    let today = |r| used(r).map(|u| if cal.same_day { u } else { 0 });
    let (kind, retry, midnight) = (req.kind, ctx.collection_retry(), cal.to_midnight);
    let candidates = [
        (kind == Kind::Ai && amt.tokens > 0).then(|| {
            let used = today(Resource::AiTokensPerDay);
            let reason = Reason::TierAiTokensPerDay;
            tier_limit(ctx, reason, Counter::Tokens, used, amt.tokens, midnight)
        }),
        (kind == Kind::Visual).then(|| {
            let used = today(Resource::VisualJobsPerDay);
            let reason = Reason::TierVisualJobsPerDay;
            tier_limit(ctx, reason, Counter::Visual, used, 1, midnight)
        }),
        req.new_client.then(|| {
            let used = used(Resource::Clients);
            let reason = Reason::TierClients;
            tier_limit(
                ctx,
                reason,
                Counter::NewClients,
                used,
                1,
                CLIENTS_RETRY_SECONDS,
            )
        }),
        kind.is_job().then(|| {
            let used = used(Resource::ConcurrentJobs);
            let reason = Reason::TierConcurrentJobs;
            tier_limit(ctx, reason, Counter::Jobs, used, 1, retry)
        }),
        // The guard's own count of the last 60 s (the snapshot's minute is the `api_rate` gate).
        (kind == Kind::Api).then(|| {
            let reason = Reason::TierApiRequestsPerMinute;
            tier_limit(
                ctx,
                reason,
                Counter::Api,
                Some(0),
                1,
                ctx.until_next_minute(),
            )
        }),
    ];
    candidates.into_iter().flatten().flatten().collect()
}

/// The auto-throttle: spend at the last 15 minutes' rate until local midnight must fit in what
/// is left of the daily budget.
fn spend_rate(ctx: &Ctx, req: &Request, amt: Amounts, cal: &Calendar) -> Option<Limit> {
    if !req.spends(amt) {
        return None;
    }
    let spend15 = ctx.snap.spend_last_15m_usd?;
    let daily = ctx.snap.budget(Scope::Daily)?;
    let budget = to_nanos(
        ctx.admin
            .budget(Scope::Daily, None, &ctx.cfg.budgets, ctx.now),
    );
    let spent = if cal.same_day {
        to_nanos(daily.spent_usd)
    } else {
        0
    };
    let projected = ceil_count(
        times(
            Decimal::from(to_nanos(spend15)),
            Decimal::from(cal.to_midnight),
        ) / Decimal::from(SPEND_RATE_WINDOW_SECONDS),
    );
    Some(Limit {
        counter: Counter::Cost,
        headroom: minus(minus(budget, spent), projected),
        amount: amt.cost_nano,
        reason: Reason::SpendRate,
        retry_after: ctx.collection_retry(),
        alert_headroom: None,
        limit: projected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_fail_at_their_edges() {
        let l = Limit {
            counter: Counter::Jobs,
            headroom: 2,
            amount: 1,
            reason: Reason::TierConcurrentJobs,
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
