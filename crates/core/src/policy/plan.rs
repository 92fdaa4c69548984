//! The order of a decision: the gates, then the limits a store checks with its pending amounts
//! (`plan`), then the verdict from the store's answer (`finish`). `decide` runs all three with
//! pending amounts from a lookup: what the tests drive.

use crate::core::bounded::{Bounded, from_nanos, minus};

use super::gates::{Ctx, GATES};
use super::limits::{Counter, Limit, first_failing, limits};
use super::request::{Amounts, Request};
use super::verdict::{Reason, Verdict};

pub enum Plan {
    /// Decided without the reservations.
    Decided(Verdict),
    /// Check these atomically with the reservation; empty means allow.
    Check(Vec<Limit>),
}

/// Everything that needs no reservation, then the limits to check with one.
pub fn plan(ctx: &Ctx, req: &Request, amt: Amounts) -> Plan {
    match GATES.iter().find_map(|gate| gate(ctx, req, amt)) {
        Some(v) => Plan::Decided(v),
        None => Plan::Check(limits(ctx, req, amt)),
    }
}

fn usd(n: i64) -> String {
    format!("${}", from_nanos(n))
}

/// Why limit `l` failed with `pending` reserved by others.
fn refusal(req: &Request, l: &Limit, pending: i64) -> String {
    let scope = l.scope().map_or("", |s| s.as_str());
    match l.counter {
        Counter::Cost | Counter::ClientCost if l.reason == Reason::SpendRate => format!(
            "at the last 15 minutes' rate, {} more would be spent before local midnight; the daily budget leaves {} after {} reserved",
            usd(l.limit),
            usd(l.headroom.plus(l.limit).max(0)),
            usd(pending)
        ),
        Counter::Cost | Counter::ClientCost => {
            let who = if l.counter == Counter::ClientCost {
                format!("client `{}`'s daily", req.client_id)
            } else {
                format!("the {scope}")
            };
            format!(
                "{who} budget of {} is used up: {} spent, {} reserved, {} asked",
                usd(l.limit),
                usd(minus(l.limit, l.headroom)),
                usd(pending),
                usd(l.amount)
            )
        }
        _ => format!(
            "{scope} is at its tier limit of {}: {} used, {pending} reserved since the last collection",
            l.limit,
            minus(l.limit, l.headroom),
        ),
    }
}

/// The verdict once the store has checked the limits (`failed`) with its pending amounts.
pub fn finish(req: &Request, limits: &[Limit], pending: &[i64], failed: Option<usize>) -> Verdict {
    if let Some(l) = failed.and_then(|i| limits.get(i)) {
        let p = failed.and_then(|i| pending.get(i)).copied().unwrap_or(0);
        return Verdict::new(l.reason, l.retry_after, refusal(req, l, p));
    }
    // Admitted: warn when this admission takes a budget into its alert state.
    let alerting = limits
        .iter()
        .zip(pending)
        .find(|(l, p)| l.alert_headroom.is_some_and(|a| p.plus(l.amount) >= a));
    match alerting {
        Some((l, _)) => Verdict {
            reason: Reason::BudgetAlert,
            scope: l.scope(),
            retry_after: None,
            message: format!(
                "admitted; the {} budget of {} is past its alert ratio",
                l.scope().map_or("", |s| s.as_str()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, FailMode};
    use crate::core::assess::{Assessment, assess};
    use crate::core::bounded::to_nanos;
    use crate::core::budget::Scope;
    use crate::core::controls::{FounderControls, KillKey};
    use crate::figures::{DbFigures, Figures, JobFigures, TrafficFigures, UsageRow};
    use crate::policy::{Decision, GuardScope, Kind, Usage, estimate};
    use chrono::{DateTime, Duration, Utc};
    use rust_decimal::Decimal;
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

    fn scope(v: &Verdict) -> Option<&'static str> {
        v.scope.map(GuardScope::as_str)
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
        assert!(
            estimate(&w.cfg, &r)
                .unwrap_err()
                .to_string()
                .contains("mistral")
        );
        r.estimate.cost_usd = Some(dec!(0.5));
        assert_eq!(estimate(&w.cfg, &r).unwrap().cost_nano, 500_000_000);
    }

    #[test]
    fn kill_switches_global_provider_client() {
        let mut w = World::new(dec!(1));
        w.admin.set_kill(KillKey::Client("b".into()), w.now, "");
        let v = w.decide(&ai("b", 1));
        assert_eq!(
            (reason(&v), scope(&v), v.retry_after),
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
        assert_eq!(scope(&v), Some("daily"));
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
            (reason(&v), scope(&v)),
            ("budget_alert", Some("client_daily"))
        );
        let v = w.decide(&ai("a", 60_000));
        assert_eq!(
            (reason(&v), scope(&v)),
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
            (reason(&v), scope(&v)),
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
}
