//! Both reservation stores under one property: whatever the sequence of admits, settles and
//! expiries, and however absurd the amounts (up to the counters' ceiling), an admission is
//! never allowed past a limit by what was really reserved and spent, and the in-process store
//! and the Redis store (a real redis-server, started on a free loopback port) answer every
//! step alike. Needs redis-server.

use crate::common::guard_server as gs;
use crate::common::redis_cluster;

use chrono::{DateTime, Duration, Utc};
use launchguard::config::{Guard as GuardConfig, SecretRef};
use launchguard::core::bounded::CEILING;
use launchguard::guard::redis::RedisStore;
use launchguard::guard::reservations::{
    AdmitCall, Admitted, MemoryStore, Reservation, ReservationStore, Settle,
};
use launchguard::policy::{Amounts, Caps, Counter, Kind, Limit, Reason};
use proptest::prelude::*;

const CAPS: Caps = Caps {
    total: 8,
    per_client: 5,
};

fn t0() -> DateTime<Utc> {
    "2026-11-26T12:00:00Z".parse().unwrap()
}

/// Amounts from ordinary to the ceiling itself.
fn amount() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => 0i64..2_000,
        1 => Just(0i64),
        1 => Just(CEILING),
        1 => (CEILING - 1_000)..=CEILING,
        1 => (CEILING / 4)..=(CEILING / 2),
        1 => Just(1_000_000_000_000_000i64),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    /// An admission of `cost`/`tokens` for client `client` against a budget of `headroom`
    /// (`unlimited`: no limit at all, as when the ledger is unreadable and the guard fails open).
    Admit {
        client: u8,
        kind: Kind,
        cost: i64,
        tokens: i64,
        headroom: i64,
        unlimited: bool,
    },
    /// Settle the `pick`-th admitted id with actual usage (or a refused usage).
    Settle {
        pick: usize,
        cost: i64,
        tokens: i64,
        refuse: bool,
    },
    /// Every outstanding reservation expires.
    Expire,
}

fn op() -> impl Strategy<Value = Op> {
    let kind = prop_oneof![
        4 => Just(Kind::Ai),
        1 => Just(Kind::Visual),
        1 => Just(Kind::Job),
        1 => Just(Kind::Api)
    ];
    prop_oneof![
        5 => (0u8..3, kind, amount(), amount(), prop_oneof![amount(), -CEILING..=CEILING])
            .prop_map(|(client, kind, cost, tokens, headroom)| Op::Admit { client, kind, cost, tokens, headroom, unlimited: false }),
        1 => (0u8..3, amount(), amount())
            .prop_map(|(client, cost, tokens)| Op::Admit { client, kind: Kind::Ai, cost, tokens, headroom: 0, unlimited: true }),
        4 => (0usize..64, amount(), amount(), proptest::bool::weighted(0.1))
            .prop_map(|(pick, cost, tokens, refuse)| Op::Settle { pick, cost, tokens, refuse }),
        1 => Just(Op::Expire),
    ]
}

fn limits(kind: Kind, cost: i64, tokens: i64, headroom: i64) -> Vec<Limit> {
    let l = |counter, headroom, amount| Limit {
        counter,
        headroom,
        amount,
        reason: Reason::BudgetDailyExceeded,
        retry_after: 1,
        alert_headroom: None,
        limit: headroom,
    };
    let mut v = vec![
        l(Counter::Cost, headroom, cost),
        l(Counter::ClientCost, headroom, cost),
        l(Counter::Tokens, headroom, tokens),
    ];
    if kind.is_job() {
        v.push(l(Counter::Jobs, 3, 1));
    }
    v
}

/// What really happened, in exact arithmetic: the reference the stores are held to.
#[derive(Default)]
struct Exact {
    /// id -> (client, cost, tokens) of held reservations.
    held: Vec<(String, u8, i128, i128)>,
    settled_cost: i128,
    settled_client: [i128; 3],
    settled_tokens: i128,
}

impl Exact {
    fn cost(&self) -> i128 {
        self.settled_cost + self.held.iter().map(|h| h.2).sum::<i128>()
    }
    fn client_cost(&self, c: u8) -> i128 {
        self.settled_client[c as usize]
            + self
                .held
                .iter()
                .filter(|h| h.1 == c)
                .map(|h| h.2)
                .sum::<i128>()
    }
    fn tokens(&self) -> i128 {
        self.settled_tokens + self.held.iter().map(|h| h.3).sum::<i128>()
    }
    fn book(&mut self, client: u8, cost: i128, tokens: i128) {
        self.settled_cost += cost;
        self.settled_client[client as usize] += cost;
        self.settled_tokens += tokens;
    }
}

fn clamp(v: i128) -> i128 {
    v.min(i128::from(CEILING))
}

/// Runs `ops` on the in-process store and (when given) the Redis store; checks the property
/// after each step and that both agree.
async fn run(
    ops: &[Op],
    mem: &MemoryStore,
    redis: Option<&RedisStore>,
) -> Result<(), TestCaseError> {
    let c0 = t0().timestamp() - 5;
    let mut now = t0();
    let mut exact = Exact::default();
    let mut issued: Vec<(String, u8)> = Vec::new();
    for (n, op) in ops.iter().enumerate() {
        now += Duration::milliseconds(10);
        match op {
            Op::Admit {
                client,
                kind,
                cost,
                tokens,
                headroom,
                unlimited,
            } => {
                let res = Reservation {
                    id: format!("id{n}"),
                    client_id: format!("client-{client}"),
                    kind: *kind,
                    provider: "openai".into(),
                    model: "gpt-4o".into(),
                    amounts: Amounts {
                        cost_nano: *cost,
                        tokens: *tokens,
                    },
                    new_client: false,
                    expires: now + Duration::seconds(600),
                };
                let l = if *unlimited {
                    Vec::new()
                } else {
                    limits(*kind, *cost, *tokens, *headroom)
                };
                let call = || AdmitCall {
                    res: &res,
                    limits: &l,
                    kill: &[],
                    collected_sec: c0,
                    caps: CAPS,
                    now,
                };
                let a = mem.admit(call()).await.unwrap();
                if let Some(redis) = redis {
                    let b = redis.admit(call()).await.unwrap();
                    prop_assert_eq!(&a, &b, "step {}: {:?}", n, op);
                }
                let pending = match &a {
                    Admitted::Reserved(p) | Admitted::Refused { pending: p, .. } => p.clone(),
                    _ => Vec::new(),
                };
                if let Some(p) = pending.first() {
                    // The store never counts less than what was really reserved and spent.
                    prop_assert!(
                        i128::from(*p) >= clamp(exact.cost()),
                        "step {n}: {p} < {}",
                        exact.cost()
                    );
                    prop_assert!(i128::from(pending[1]) >= clamp(exact.client_cost(*client)));
                    prop_assert!(i128::from(pending[2]) >= clamp(exact.tokens()));
                }
                if let Admitted::Reserved(_) = a {
                    if !unlimited {
                        // The budget: an allowed admission fits, in exact arithmetic.
                        let (c, cc, t) = (exact.cost(), exact.client_cost(*client), exact.tokens());
                        prop_assert!(
                            c + i128::from(*cost) <= i128::from(*headroom),
                            "step {n}: budget passed"
                        );
                        prop_assert!(cc + i128::from(*cost) <= i128::from(*headroom));
                        prop_assert!(t + i128::from(*tokens) <= i128::from(*headroom));
                    }
                    if res.reserves() {
                        exact.held.push((
                            res.id.clone(),
                            *client,
                            (*cost).into(),
                            (*tokens).into(),
                        ));
                        issued.push((res.id.clone(), *client));
                    }
                }
            }
            Op::Settle {
                pick,
                cost,
                tokens,
                refuse,
            } => {
                let Some((id, client)) = issued.get(pick % issued.len().max(1)).cloned() else {
                    continue;
                };
                let price = |_: &str, _: &str| {
                    if *refuse {
                        Err(launchguard::policy::PriceError::NoProvider)
                    } else {
                        Ok(Amounts {
                            cost_nano: *cost,
                            tokens: *tokens,
                        })
                    }
                };
                let a = mem.settle(&id, &price, now).await.unwrap();
                if let Some(redis) = redis {
                    let b = redis.settle(&id, &price, now).await.unwrap();
                    prop_assert_eq!(&a, &b, "step {}: {:?}", n, op);
                }
                if let Settle::Done(_) = a {
                    let i = exact.held.iter().position(|h| h.0 == id).unwrap();
                    exact.held.remove(i);
                    exact.book(client, (*cost).into(), (*tokens).into());
                } else if let Settle::Refused(_) = a {
                    prop_assert!(
                        exact.held.iter().any(|h| h.0 == id),
                        "refused settle lost {id}"
                    );
                }
            }
            Op::Expire => {
                now += Duration::seconds(601);
                mem.reconcile(Some(c0), 86_400, now).await.unwrap();
                if let Some(redis) = redis {
                    redis.reconcile(Some(c0), 86_400, now).await.unwrap();
                }
                for (_, client, cost, tokens) in std::mem::take(&mut exact.held) {
                    exact.book(client, cost, tokens);
                }
            }
        }
        let sa = mem.status().await.unwrap();
        if let Some(redis) = redis {
            prop_assert_eq!(&sa, &redis.status().await.unwrap(), "step {}", n);
        }
        prop_assert!(sa.outstanding.iter().sum::<i64>() <= CAPS.total as i64);
    }
    Ok(())
}

fn redis_store(redis: &gs::Redis, dir: &std::path::Path, prefix: &str) -> RedisStore {
    store_at(&redis.url(), false, dir, prefix)
}

/// A store on `url` (with `cluster`: a comma-separated list of seed nodes).
fn store_at(url: &str, cluster: bool, dir: &std::path::Path, prefix: &str) -> RedisStore {
    let file = dir.join("redis-url");
    std::fs::write(&file, url).unwrap();
    let cfg = GuardConfig {
        redis_prefix: prefix.into(),
        redis_cluster: cluster,
        redis_timeout: launchguard::config::Dur(std::time::Duration::from_secs(5)),
        ..GuardConfig::default()
    };
    RedisStore::new(&cfg, &SecretRef::File(file))
}

#[test]
fn no_sequence_of_settles_passes_a_budget_in_either_store() {
    let redis = gs::Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let case = std::cell::Cell::new(0u32);
    let cfg = ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(cfg, |(ops in proptest::collection::vec(op(), 1..60))| {
        case.set(case.get() + 1);
        let mem = MemoryStore::open(dir.path().join("state.json")).unwrap();
        let red = redis_store(&redis, dir.path(), &format!("p{}", case.get()));
        rt.block_on(run(&ops, &mem, Some(&red)))?;
    });
}

/// The same property on a Redis Cluster (six nodes on loopback, tests/it/common/redis_cluster.rs):
/// every script reaches the master of the `{prefix}` slot through the cluster client and
/// answers exactly as the in-process store does.
#[test]
fn the_cluster_store_answers_as_the_in_process_store() {
    let cluster = redis_cluster::RedisCluster::start();
    let seeds = cluster.urls().join(",");
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let case = std::cell::Cell::new(0u32);
    let cfg = ProptestConfig {
        cases: 32,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(cfg, |(ops in proptest::collection::vec(op(), 1..60))| {
        case.set(case.get() + 1);
        let mem = MemoryStore::open(dir.path().join("state.json")).unwrap();
        let red = store_at(&seeds, true, dir.path(), &format!("c{}", case.get()));
        rt.block_on(run(&ops, &mem, Some(&red)))?;
    });
    // Each case's keys live in the slot of its own prefix: the cases reached more than one
    // master, so the client routed by slot rather than talking to one node.
    let masters: std::collections::BTreeSet<usize> = (1..=case.get())
        .map(|i| cluster.owner(cluster.slot(&format!("{{c{i}}}:res"))))
        .collect();
    assert!(masters.len() > 1, "{masters:?}");
}

/// Amounts past the ceiling, up to i64::MAX: what no admission or settle sends (both are
/// bounded before they reach a store), thrown at the in-process store anyway (the Redis
/// scripts refuse them, see below).
#[test]
fn the_in_process_store_holds_even_past_the_ceiling() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let absurd = || {
        prop_oneof![
            2 => 0i64..2_000,
            1 => Just(i64::MAX),
            1 => (i64::MAX / 2)..=i64::MAX,
            1 => Just(CEILING)
        ]
    };
    let op = prop_oneof![
        5 => (0u8..3, absurd(), absurd(), prop_oneof![absurd(), Just(i64::MAX)])
            .prop_map(|(client, cost, tokens, headroom)| Op::Admit { client, kind: Kind::Ai, cost, tokens, headroom, unlimited: false }),
        1 => (0u8..3, absurd(), absurd())
            .prop_map(|(client, cost, tokens)| Op::Admit { client, kind: Kind::Ai, cost, tokens, headroom: 0, unlimited: true }),
        4 => (0usize..64, absurd(), absurd())
            .prop_map(|(pick, cost, tokens)| Op::Settle { pick, cost, tokens, refuse: false }),
        1 => Just(Op::Expire),
    ];
    let cfg = ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(cfg, |(ops in proptest::collection::vec(op, 1..60))| {
        let mem = MemoryStore::open(dir.path().join("state.json")).unwrap();
        rt.block_on(run(&ops, &mem, None))?;
    });
}

/// Redis does not roll a failed script back: an argument out of range must fail the script
/// before its first write, leaving the reservation and every counter as they were.
#[tokio::test(flavor = "current_thread")]
async fn a_refused_script_changes_nothing() {
    let redis = gs::Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let s = redis_store(&redis, dir.path(), "all-or-nothing");
    let now = t0();
    let res = Reservation {
        id: "r1".into(),
        client_id: "c".into(),
        kind: Kind::Job,
        provider: String::new(),
        model: String::new(),
        amounts: Amounts {
            cost_nano: 0,
            tokens: 0,
        },
        new_client: false,
        expires: now + Duration::seconds(60),
    };
    let call = AdmitCall {
        res: &res,
        limits: &[],
        kill: &[],
        collected_sec: now.timestamp() - 5,
        caps: CAPS,
        now,
    };
    assert_eq!(s.admit(call).await.unwrap(), Admitted::Reserved(vec![]));
    let before = s.status().await.unwrap();
    assert_eq!(before.outstanding[Kind::Job.index()], 1);
    // Past the ceiling (a pricer outside the contract): the script refuses its arguments.
    let absurd = |_: &str, _: &str| {
        Ok(Amounts {
            cost_nano: i64::MAX,
            tokens: 0,
        })
    };
    let e = s.settle("r1", &absurd, now).await.unwrap_err();
    assert!(e.0.contains("invalid argument"), "{e}");
    assert_eq!(s.status().await.unwrap(), before);
    // A zero-cost job settles and frees its slot (HINCRBY refused `-0` halfway before).
    let zero = |_: &str, _: &str| Ok(Amounts::default());
    assert!(matches!(
        s.settle("r1", &zero, now).await.unwrap(),
        Settle::Done(_)
    ));
    let after = s.status().await.unwrap();
    assert_eq!(after.outstanding, [0; 4]);
    assert_eq!(after.reserved_cost_nano, 0);
}

/// An ai reservation of `cost` for `client`, held until `now` + 60 s.
fn ai(id: &str, client: &str, cost: i64, now: DateTime<Utc>) -> Reservation {
    Reservation {
        id: id.into(),
        client_id: client.into(),
        kind: Kind::Ai,
        provider: "openai".into(),
        model: "gpt-4o".into(),
        amounts: Amounts {
            cost_nano: cost,
            tokens: 1,
        },
        new_client: false,
        expires: now + Duration::seconds(60),
    }
}

/// Admits `res` at `now` against a snapshot collected at `collected_sec` (limits with room
/// for everything) and returns the pending cost, client cost and tokens it saw.
async fn pending_at(
    s: &impl ReservationStore,
    res: &Reservation,
    collected_sec: i64,
    now: DateTime<Utc>,
) -> Vec<i64> {
    let l = limits(Kind::Ai, res.amounts.cost_nano, 1, CEILING - 1);
    let call = AdmitCall {
        res,
        limits: &l,
        kill: &[],
        collected_sec,
        caps: Caps {
            total: 100,
            per_client: 100,
        },
        now,
    };
    match s.admit(call).await.unwrap() {
        Admitted::Reserved(p) => p,
        other => panic!("{other:?}"),
    }
}

/// Settles `id` at `at` (the settling replica's clock) with `cost`.
async fn settle_at(s: &impl ReservationStore, id: &str, cost: i64, at: DateTime<Utc>) {
    let price = |_: &str, _: &str| {
        Ok(Amounts {
            cost_nano: cost,
            tokens: 1,
        })
    };
    assert!(matches!(
        s.settle(id, &price, at).await.unwrap(),
        Settle::Done(_)
    ));
}

/// An admit reads the seconds from the snapshot's up to its own clock plus
/// `BUCKET_SKEW_SECS` by name: spend settled by a replica whose clock runs that far ahead is
/// counted at once, as the in-process store counts it; spend stamped further ahead is counted
/// once this replica's clock reaches its second (the bound docs/guard.md states).
#[tokio::test(flavor = "current_thread")]
async fn spend_settled_by_a_replica_ahead_within_the_skew_is_counted() {
    use launchguard::guard::redis::BUCKET_SKEW_SECS;
    let redis = gs::Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let red = redis_store(&redis, dir.path(), "skew");
    let mem = MemoryStore::open(dir.path().join("state.json")).unwrap();
    let now = t0();
    let c0 = now.timestamp() - 5;
    let ahead = now + Duration::seconds(BUCKET_SKEW_SECS);
    pending_at(&red, &ai("a", "c", 700, now), c0, now).await;
    settle_at(&red, "a", 700, ahead).await;
    pending_at(&mem, &ai("a", "c", 700, now), c0, now).await;
    settle_at(&mem, "a", 700, ahead).await;
    let (r, m) = (
        pending_at(&red, &ai("b", "c", 1, now), c0, now).await,
        pending_at(&mem, &ai("b", "c", 1, now), c0, now).await,
    );
    assert_eq!(r, m);
    assert_eq!(r[..3], [700, 700, 1]);

    // A replica further ahead than the skew: its bucket waits for this clock.
    let far = now + Duration::seconds(BUCKET_SKEW_SECS + 1);
    pending_at(&red, &ai("d", "c", 50, now), c0, now).await;
    settle_at(&red, "d", 50, far).await;
    // (b, 1 nano, still held, counts as held; d's 50 is in a bucket past now + skew.)
    assert_eq!(
        pending_at(&red, &ai("e", "c", 1, now), c0, now).await[0],
        701
    );
    let later = now + Duration::seconds(1);
    assert_eq!(
        pending_at(&red, &ai("f", "c", 1, later), c0, later).await[0],
        752
    );
}

/// A snapshot older than `BUCKET_SPAN_SECS` makes the admit read each bucket hash whole, as
/// every admit did before the read by name: both paths give the in-process store's answer,
/// counting the seconds from the snapshot's on and none before it.
#[tokio::test(flavor = "current_thread")]
async fn a_range_past_the_span_reads_the_buckets_whole_with_the_same_answer() {
    use launchguard::guard::redis::{BUCKET_SKEW_SECS, BUCKET_SPAN_SECS};
    let redis = gs::Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let red = redis_store(&redis, dir.path(), "span");
    let mem = MemoryStore::open(dir.path().join("state.json")).unwrap();
    let now = t0();
    let secs = now.timestamp();
    let span = BUCKET_SPAN_SECS;
    // Spend settled at these many seconds before now (and one at now + skew).
    let ago = [span + 60, span + 20, span - 20, 10, 0, -BUCKET_SKEW_SECS];
    for (i, a) in ago.iter().enumerate() {
        let at = now - Duration::seconds(*a);
        let (id, cost) = (format!("s{i}"), 1 << i);
        pending_at(&red, &ai(&id, "c", cost, at), secs - 1000, at).await;
        settle_at(&red, &id, cost, at).await;
        pending_at(&mem, &ai(&id, "c", cost, at), secs - 1000, at).await;
        settle_at(&mem, &id, cost, at).await;
    }
    let sum_from = |from: i64| -> i64 {
        ago.iter()
            .enumerate()
            .filter(|(_, a)| secs - **a >= from)
            .map(|(i, _)| 1i64 << i)
            .sum()
    };
    // From far back (whole hashes), from just inside the span (by name), and between.
    for (n, from) in [
        secs - span - 100,
        secs - span - 20,
        secs - span + BUCKET_SKEW_SECS + 1,
        secs - 10,
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("q{n}");
        let r = pending_at(&red, &ai(&id, "c", 1, now), from, now).await;
        let m = pending_at(&mem, &ai(&id, "c", 1, now), from, now).await;
        assert_eq!(r, m, "from now - {}", secs - from);
        // The admits before this one hold 1 nano each.
        assert_eq!(
            r[0],
            sum_from(from) + n as i64,
            "from now - {}",
            secs - from
        );
    }
}

/// A replica settles what it admitted from what it remembers, with no read first; a
/// reservation it admitted but another replica settled (or expired) is unknown to it after,
/// exactly as when it reads the record.
#[tokio::test(flavor = "current_thread")]
async fn a_settle_elsewhere_leaves_nothing_to_settle_on_the_replica_that_admitted() {
    let redis = gs::Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let a = redis_store(&redis, dir.path(), "two");
    let b = redis_store(&redis, dir.path(), "two");
    let now = t0();
    let c0 = now.timestamp() - 5;
    pending_at(&a, &ai("x", "c", 40, now), c0, now).await;
    pending_at(&a, &ai("y", "c", 2, now), c0, now).await;
    settle_at(&b, "x", 30, now).await;
    let price = |_: &str, _: &str| Ok(Amounts::default());
    assert_eq!(a.settle("x", &price, now).await.unwrap(), Settle::Unknown);
    settle_at(&a, "y", 5, now).await;
    assert_eq!(b.settle("y", &price, now).await.unwrap(), Settle::Unknown);
    // Settled: 30 + 5; nothing held.
    assert_eq!(
        pending_at(&b, &ai("z", "c", 1, now), c0, now).await[..2],
        [35, 35]
    );
    assert_eq!(a.status().await.unwrap().reserved_cost_nano, 1);
}
