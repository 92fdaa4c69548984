//! Entry points the fuzz targets (fuzz/) and their replay (tests/it/fuzz_regressions.rs) share.
//! Each takes any bytes, must not panic, and asserts what has to hold whatever the input.

use std::future::Future;
use std::path::PathBuf;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use chrono::{DateTime, Utc};

use super::admin::{self, Change, FounderControls, KillKey, Scope};
use super::api::parse_settle;
use super::reservations::{
    AdmitCall, Admitted, MemoryStore, Reservation, ReservationStore, Settle,
};
use crate::config::Config;
use crate::core::bounded::CEILING;
use crate::figures::Figures;
use crate::policy::{self, Amounts, Caps, Counter, Ctx, Kind, Limit, Plan, Reason, Request, Usage};

/// Runs a future of the in-process store, which never waits.
fn ready<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("the in-process store never waits"),
    }
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_000_000, 0).unwrap_or_default()
}

fn i64_at(data: &[u8], at: usize) -> i64 {
    let mut b = [0u8; 8];
    for (i, x) in data.iter().skip(at).take(8).enumerate() {
        b[i] = *x;
    }
    i64::from_le_bytes(b)
}

fn admit(s: &MemoryStore, res: &Reservation, limits: &[Limit]) -> Admitted {
    ready(s.admit(AdmitCall {
        res,
        limits,
        kill: &[],
        collected_sec: now().timestamp(),
        caps: Caps {
            total: 16,
            per_client: 16,
        },
        now: now(),
    }))
    .unwrap_or_else(|e| panic!("the in-process store failed: {e}"))
}

fn reservation(id: &str, amounts: Amounts) -> Reservation {
    Reservation {
        id: id.into(),
        client_id: "c".into(),
        kind: Kind::Ai,
        provider: "anthropic".into(),
        model: "claude-sonnet-4-5".into(),
        amounts,
        new_client: false,
        expires: now() + chrono::Duration::seconds(600),
    }
}

fn cost_limit(amount: i64) -> Limit {
    Limit {
        counter: Counter::Cost,
        headroom: CEILING,
        amount,
        reason: Reason::BudgetDailyExceeded,
        retry_after: 1,
        alert_headroom: None,
        limit: CEILING,
    }
}

/// What the store counts as reserved plus spent since the collection (a zero-amount probe,
/// which holds nothing).
fn pending_cost(s: &MemoryStore) -> i64 {
    match admit(
        s,
        &reservation("probe", Amounts::default()),
        &[cost_limit(0)],
    ) {
        Admitted::Reserved(p) | Admitted::Refused { pending: p, .. } => p[0],
        other => panic!("probe: {other:?}"),
    }
}

/// The settle path: a reservation of amounts taken from the first 16 bytes, then the rest as
/// a settle body against it (the id `r1` is the held one), priced with the default config in
/// the in-process store, twice. The store must never count less than was reserved and spent.
pub fn settle_path(data: &[u8]) {
    let cfg = Config::default();
    let s = match MemoryStore::open(PathBuf::from("/nonexistent/launchguard-fuzz/state.json")) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let held = Amounts {
        cost_nano: i64_at(data, 0).clamp(0, CEILING),
        tokens: i64_at(data, 8).clamp(0, CEILING),
    };
    let r = reservation("r1", held);
    let held_now = match admit(&s, &r, &[]) {
        Admitted::Reserved(_) => r.reserves(),
        other => panic!("a reservation within the ceiling was refused: {other:?}"),
    };
    let Ok(req) = parse_settle(data.get(16..).unwrap_or_default()) else {
        return;
    };
    let price = |p: &str, m: &str| policy::actual(&cfg, p, m, &req.usage);
    let mut exact = i128::from(if held_now { held.cost_nano } else { 0 });
    for _ in 0..2 {
        match ready(s.settle(&req.reservation_id, &price, now())) {
            Ok(Settle::Done(got)) => {
                assert!(held_now && req.reservation_id == "r1");
                assert!((0..=CEILING).contains(&got.actual.cost_nano));
                assert!((0..=CEILING).contains(&got.actual.tokens));
                exact =
                    exact - i128::from(got.reserved.cost_nano) + i128::from(got.actual.cost_nano);
            }
            Ok(Settle::Unknown | Settle::Refused(_)) => {}
            Err(e) => panic!("the in-process store failed: {e}"),
        }
        let p = pending_cost(&s);
        assert!(
            i128::from(p) >= exact.min(i128::from(CEILING)),
            "the store counts {p} nano-dollars, less than the {exact} reserved and spent"
        );
        assert!(p <= CEILING);
    }
}

/// The admin API bodies: the first byte picks the endpoint, the rest is its body. A change that
/// parses is applied, must survive the state file's round trip, and the budget it sets is read
/// the way an admission reads it.
pub fn admin_body(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let tz = chrono_tz::Europe::Berlin;
    let client = || Some("c-1".to_string());
    let change = match pick % 9 {
        0 => admin::parse_kill(KillKey::Global, body),
        1 => admin::parse_kill(KillKey::Provider("openai".into()), body),
        2 => admin::parse_kill(KillKey::Client("c-1".into()), body),
        3 => admin::parse_override("daily", None, body, now(), tz),
        4 => admin::parse_override("monthly", None, body, now(), tz),
        5 => admin::parse_override("client_daily", None, body, now(), tz),
        6 => admin::parse_override("client_daily", client(), body, now(), tz),
        7 => admin::parse_override("daily", client(), body, now(), tz),
        _ => admin::parse_approval("hard_launch", body),
    };
    let Ok(change) = change else {
        return;
    };
    let mut state = FounderControls::default();
    change.apply(&mut state, now());
    assert!(state.problems().is_empty(), "{:?}", state.problems());
    let text = serde_json::to_vec(&state).unwrap_or_default();
    let back: FounderControls = serde_json::from_slice(&text)
        .unwrap_or_else(|e| panic!("the state file would not load again: {e}"));
    assert_eq!(back, state);
    if let Change::SetOverride { until, .. } = &change {
        assert!(*until > now());
    }
    // Decide an admission under the new state: budgets become nano-dollar limits.
    let cfg = Config::default();
    let mut figures = crate::figures::DbFigures::unavailable(now(), "fuzz");
    figures.usage_today = Ok(Vec::new());
    figures.usage_month = Ok(Vec::new());
    let snap = crate::core::assess::assess(
        &cfg,
        &Figures::with_db(figures.clone()),
        &FounderControls::default(),
        now(),
    );
    let req = Request {
        client_id: "c-1".into(),
        kind: Kind::Ai,
        provider: Some("anthropic".into()),
        model: None,
        estimate: Usage::default(),
        new_client: false,
    };
    let Ok(amounts) = policy::estimate(&cfg, &req) else {
        return;
    };
    let ctx = Ctx {
        cfg: &cfg,
        snap: &snap,
        admin: &state,
        now: now(),
    };
    if let Plan::Check(limits) = policy::plan(&ctx, &req, amounts) {
        for l in &limits {
            assert!((-CEILING..=CEILING).contains(&l.headroom), "{l:?}");
        }
        let pending = vec![0; limits.len()];
        let failed = policy::first_failing(&limits, &pending);
        let _ = policy::finish(&req, &limits, &pending, failed);
    }
    for scope in [Scope::Daily, Scope::Monthly, Scope::ClientDaily] {
        let b = state.budget(scope, Some("c-1"), &cfg.budgets, now());
        assert!(crate::core::bounded::to_nanos(b) <= CEILING);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_run_through() {
        let mut d = vec![0u8; 16];
        d[0] = 100;
        d.extend_from_slice(br#"{"reservation_id":"r1","usage":{"characters":1000}}"#);
        settle_path(&d);
        let mut big = vec![0xff; 7];
        big.extend_from_slice(&[0x7f; 9]);
        big.extend_from_slice(br#"{"reservation_id":"r1","usage":{"cost_usd":"999999"}}"#);
        settle_path(&big);
        admin_body(b"\x03{\"budget_usd\":\"1e20\"}");
        admin_body(b"\x04{\"budget_usd\":80,\"for\":\"300000y\"}");
        admin_body(b"\x06{\"budget_usd\":\"1000000\",\"until\":\"2026-11-27T06:00:00Z\"}");
        admin_body(b"\x00{\"note\":\"incident\"}");
    }
}
