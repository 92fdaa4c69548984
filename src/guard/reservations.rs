//! Reservations: what admitted callers may spend before the ledger shows it.
//!
//! Both stores count the same way (see `policy::Counter`). An admission checks its limits and
//! reserves its estimate in one step: under one mutex here, in one Lua script in Redis
//! (redis.rs). So concurrent callers cannot push reserved plus spent past a limit; the only
//! overshoot left is actual usage above the estimate, which settle records.
//!
//! Counting against the ledger: the snapshot's ledger holds what was written before its
//! collection time C. Unsettled reservations are never in it. A settle (or an expiry, which
//! settles the estimate) at time t is in the ledger once C > t, so settled amounts are kept
//! in per-second buckets and counted while their second is >= floor(C): a little early
//! double counting, never a gap. Each collection reconciles: buckets the newest snapshot
//! already covers are dropped.
//!
//! Every sum saturates (`core::bounded`): no sequence of admits and settles, however absurd
//! the amounts, can wrap a counter below what was really reserved and spent. What a store
//! holds is bounded too: an admission with nothing to hold keeps no reservation, and the
//! outstanding ones are capped globally and per client (`policy::Caps`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::admin::{self, Change, FounderControls};
use crate::core::bounded::{Bounded, minus, take, total};
use crate::policy::{self, Amounts, Caps, Counter, Full, Kind, Limit, PriceError};

/// A reservation's record.
#[derive(Debug, Clone, PartialEq)]
pub struct Reservation {
    pub id: String,
    pub client_id: String,
    pub kind: Kind,
    pub provider: String,
    pub model: String,
    pub amounts: Amounts,
    pub new_client: bool,
    pub expires: DateTime<Utc>,
}

impl Reservation {
    /// Whether the store keeps it until settled. API requests are counted, not reserved; an
    /// `ai` admission of zero cost and zero tokens has nothing to hold. Jobs always hold one:
    /// their settle frees a concurrent-job slot.
    pub fn reserves(&self) -> bool {
        match self.kind {
            Kind::Api => false,
            Kind::Visual | Kind::Job => true,
            Kind::Ai => !self.amounts.is_zero(),
        }
    }
}

/// One admission as a store sees it.
pub struct AdmitCall<'a> {
    pub res: &'a Reservation,
    pub limits: &'a [Limit],
    /// Kill switch keys to re-check inside the store (Redis: set by another replica).
    pub kill: &'a [String],
    /// floor(collection time of the snapshot the limits were computed from).
    pub collected_sec: i64,
    /// Caps on outstanding reservations, checked when this one would be held.
    pub caps: Caps,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Admitted {
    /// Reserved; pending amounts per limit, before this request.
    Reserved(Vec<i64>),
    /// Limit `index` failed; nothing was reserved.
    Refused { index: usize, pending: Vec<i64> },
    /// A kill switch set elsewhere (its key).
    Killed(String),
    /// Every limit passed, but the outstanding reservations are at a cap; nothing was held.
    Full(Full),
}

/// What a settle released.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    pub kind: Kind,
    pub reserved: Amounts,
    pub actual: Amounts,
}

/// The outcome of a settle.
#[derive(Debug, Clone, PartialEq)]
pub enum Settle {
    Done(Settled),
    /// Expired, already settled, or never issued.
    Unknown,
    /// The usage was refused (it prices past what one request may cost); the reservation is
    /// kept as it was.
    Refused(String),
}

/// Outstanding reservations, for the metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreStatus {
    pub outstanding: [i64; 4],
    pub reserved_cost_nano: i64,
    pub max_client_reserved_nano: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How settle prices the actual usage (the reservation knows provider and model); an error
/// refuses the usage.
pub type Pricer<'a> = &'a (dyn Fn(&str, &str) -> Result<Amounts, PriceError> + Sync);

/// Where reservations and the founder's switches live: this process, or Redis.
pub trait ReservationStore: Send + Sync {
    fn name(&self) -> &'static str;
    fn admit(
        &self,
        call: AdmitCall<'_>,
    ) -> impl Future<Output = Result<Admitted, StoreError>> + Send;
    /// Releases a reservation and records the actual usage, all or nothing.
    fn settle(
        &self,
        id: &str,
        price: Pricer<'_>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Settle, StoreError>> + Send;
    /// Expires old reservations and drops what the snapshot collected at `collected_sec`
    /// already holds (with several replicas: what no snapshot younger than `max_age_secs`
    /// can still need).
    fn reconcile(
        &self,
        collected_sec: Option<i64>,
        max_age_secs: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn status(&self) -> impl Future<Output = Result<StoreStatus, StoreError>> + Send;
    fn admin(&self) -> impl Future<Output = Result<FounderControls, StoreError>> + Send;
    /// Makes and persists a change; the error leaves the state as it was.
    fn apply_admin(
        &self,
        change: &Change,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<FounderControls, StoreError>> + Send;
}

/// Amounts per second (Unix seconds).
#[derive(Debug, Default)]
struct Buckets(BTreeMap<i64, i64>);

impl Buckets {
    fn add(&mut self, sec: i64, v: i64) {
        if v != 0 {
            let b = self.0.entry(sec).or_insert(0);
            *b = b.plus(v);
        }
    }

    fn sum_from(&self, sec: i64) -> i64 {
        total(self.0.range(sec..).map(|(_, v)| *v))
    }

    fn prune_before(&mut self, sec: i64) {
        self.0 = self.0.split_off(&sec);
    }
}

/// What one client holds unsettled.
#[derive(Debug, Default, Clone, Copy)]
struct Held {
    cost: i64,
    count: u64,
}

#[derive(Debug, Default)]
struct Inner {
    /// A B-tree, not a hash map: a hash map's resize rehashes every entry under the lock,
    /// which showed as 100 ms stalls at a few hundred thousand open reservations.
    res: BTreeMap<String, Reservation>,
    expiry: BTreeSet<(i64, String)>,
    out_cost: i64,
    out_tokens: i64,
    out_client: HashMap<String, Held>,
    out_kind: [i64; 4],
    cost: Buckets,
    tokens: Buckets,
    client_cost: HashMap<String, Buckets>,
    visual: Buckets,
    jobs_started: Buckets,
    jobs_done: Buckets,
    new_clients: Buckets,
    api: Buckets,
}

/// A reservation ready to be held: its record and its two keys, copied before the store's lock
/// is taken, so the lock is never held while they are allocated.
struct ToHold {
    rec: Reservation,
    key: String,
    exp_id: String,
}

impl ToHold {
    fn of(r: &Reservation) -> Option<ToHold> {
        r.reserves().then(|| ToHold {
            rec: r.clone(),
            key: r.id.clone(),
            exp_id: r.id.clone(),
        })
    }
}

/// How many expired reservations one admission sweeps at most (the background tick does the
/// rest), so one caller never pays for a large backlog.
const SWEEP_PER_ADMIT: usize = 64;

/// How many the tick expires per hold of the lock, so admissions interleave with a backlog.
const SWEEP_PER_LOCK: usize = 2048;

impl Inner {
    fn pending(&self, c: Counter, client: &str, from: i64, now_sec: i64) -> i64 {
        match c {
            Counter::Cost => self.out_cost.plus(self.cost.sum_from(from)),
            Counter::ClientCost => self
                .out_client
                .get(client)
                .map_or(0, |h| h.cost)
                .plus(self.client_cost.get(client).map_or(0, |b| b.sum_from(from))),
            Counter::Tokens => self.out_tokens.plus(self.tokens.sum_from(from)),
            Counter::Visual => self.visual.sum_from(from),
            Counter::Jobs => minus(
                self.jobs_started.sum_from(from),
                self.jobs_done.sum_from(from),
            ),
            Counter::NewClients => self.new_clients.sum_from(from),
            Counter::Api => self.api.sum_from(now_sec - 59),
        }
    }

    fn insert(&mut self, r: &Reservation, hold: Option<ToHold>, now_sec: i64) {
        if r.kind == Kind::Visual {
            self.visual.add(now_sec, 1);
        }
        if r.kind.is_job() {
            self.jobs_started.add(now_sec, 1);
        }
        if r.new_client {
            self.new_clients.add(now_sec, 1);
        }
        if r.kind == Kind::Api {
            self.api.add(now_sec, 1);
        }
        let Some(ToHold { rec, key, exp_id }) = hold.filter(|_| r.reserves()) else {
            return;
        };
        let a = r.amounts;
        self.out_cost = self.out_cost.plus(a.cost_nano);
        self.out_tokens = self.out_tokens.plus(a.tokens);
        let h = match self.out_client.get_mut(&r.client_id) {
            Some(h) => h,
            None => self.out_client.entry(r.client_id.clone()).or_default(),
        };
        h.cost = h.cost.plus(a.cost_nano);
        h.count += 1;
        self.out_kind[r.kind.index()] = self.out_kind[r.kind.index()].plus(1);
        self.expiry.insert((r.expires.timestamp_millis(), exp_id));
        self.res.insert(key, rec);
    }

    /// Which cap one more reservation for `client` would pass.
    fn full(&self, caps: &Caps, client: &str) -> Option<Full> {
        let held = self.out_client.get(client).map_or(0, |h| h.count);
        caps.full(self.res.len() as u64, held)
    }

    /// Removes a reservation and books `actual` as settled at `sec`; when `actual` refuses the
    /// usage nothing changes.
    fn release(
        &mut self,
        id: &str,
        actual: impl FnOnce(&Reservation) -> Result<Amounts, PriceError>,
        sec: i64,
    ) -> Settle {
        let Some(r) = self.res.get(id) else {
            return Settle::Unknown;
        };
        let got = match actual(r) {
            Ok(a) => a,
            Err(why) => return Settle::Refused(why.to_string()),
        };
        let Some(mut r) = self.res.remove(id) else {
            return Settle::Unknown;
        };
        // The record's own id makes the expiry key: no copy while the lock is held.
        let key = (r.expires.timestamp_millis(), std::mem::take(&mut r.id));
        self.expiry.remove(&key);
        let a = r.amounts;
        self.out_cost = take(self.out_cost, a.cost_nano);
        self.out_tokens = take(self.out_tokens, a.tokens);
        if self.res.is_empty() {
            // Nothing held: exact again, even after a saturation.
            (self.out_cost, self.out_tokens) = (0, 0);
        }
        if let Some(h) = self.out_client.get_mut(&r.client_id) {
            h.cost = take(h.cost, a.cost_nano);
            h.count = h.count.saturating_sub(1);
            if h.count == 0 {
                self.out_client.remove(&r.client_id);
            }
        }
        self.out_kind[r.kind.index()] = minus(self.out_kind[r.kind.index()], 1);
        self.cost.add(sec, got.cost_nano);
        self.tokens.add(sec, got.tokens);
        if got.cost_nano != 0 {
            self.client_cost
                .entry(r.client_id.clone())
                .or_default()
                .add(sec, got.cost_nano);
        }
        if r.kind.is_job() {
            self.jobs_done.add(sec, 1);
        }
        Settle::Done(Settled {
            kind: r.kind,
            reserved: a,
            actual: got,
        })
    }

    /// Expired reservations settle their estimate: if the call happened the ledger will show
    /// it, and until then it keeps counting. Returns how many expired.
    fn sweep(&mut self, now: DateTime<Utc>, max: usize) -> usize {
        let now_ms = now.timestamp_millis();
        let due: Vec<String> = self
            .expiry
            .iter()
            .take_while(|(t, _)| *t <= now_ms)
            .take(max)
            .map(|(_, id)| id.clone())
            .collect();
        let n = due.len();
        for id in due {
            self.release(&id, |r| Ok(r.amounts), now.timestamp());
        }
        n
    }

    fn prune(&mut self, collected_sec: Option<i64>, now_sec: i64) {
        // Keep at least a day of buckets while no snapshot covers them.
        let before = collected_sec.map_or(now_sec - 86_400, |c| c.max(now_sec - 86_400));
        for b in [
            &mut self.cost,
            &mut self.tokens,
            &mut self.visual,
            &mut self.jobs_started,
            &mut self.jobs_done,
            &mut self.new_clients,
        ] {
            b.prune_before(before);
        }
        self.client_cost.retain(|_, b| {
            b.prune_before(before);
            !b.0.is_empty()
        });
        self.api.prune_before(now_sec - 60);
    }
}

/// The in-process store of a single replica; the founder's switches persist in a state file.
pub struct MemoryStore {
    inner: Mutex<Inner>,
    admin: Mutex<FounderControls>,
    state_file: PathBuf,
}

impl MemoryStore {
    /// Loads the founder's switches from the state file (missing: none set).
    pub fn open(state_file: PathBuf) -> Result<Self, admin::StateFileError> {
        let admin = admin::load_state_file(&state_file)?;
        Ok(MemoryStore {
            inner: Mutex::new(Inner::default()),
            admin: Mutex::new(admin),
            state_file,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the counters half-updated in a way
        // worse than losing them; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ReservationStore for MemoryStore {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn admit(&self, call: AdmitCall<'_>) -> Result<Admitted, StoreError> {
        let now_sec = call.now.timestamp();
        // Allocated before the lock (and freed after it, when refused): the lock is held for
        // the check and the bookkeeping alone.
        let hold = ToHold::of(call.res);
        let mut pending: Vec<i64> = Vec::with_capacity(call.limits.len());
        let mut g = self.lock();
        g.sweep(call.now, SWEEP_PER_ADMIT);
        let client = call.res.client_id.as_str();
        pending.extend(
            call.limits
                .iter()
                .map(|l| g.pending(l.counter, client, call.collected_sec, now_sec)),
        );
        if let Some(index) = policy::first_failing(call.limits, &pending) {
            return Ok(Admitted::Refused { index, pending });
        }
        if call.res.reserves()
            && let Some(full) = g.full(&call.caps, client)
        {
            return Ok(Admitted::Full(full));
        }
        g.insert(call.res, hold, now_sec);
        drop(g);
        Ok(Admitted::Reserved(pending))
    }

    async fn settle(
        &self,
        id: &str,
        price: Pricer<'_>,
        now: DateTime<Utc>,
    ) -> Result<Settle, StoreError> {
        let mut g = self.lock();
        Ok(g.release(id, |r| price(&r.provider, &r.model), now.timestamp()))
    }

    async fn reconcile(
        &self,
        collected_sec: Option<i64>,
        _max_age_secs: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        while self.lock().sweep(now, SWEEP_PER_LOCK) == SWEEP_PER_LOCK {}
        self.lock().prune(collected_sec, now.timestamp());
        Ok(())
    }

    async fn status(&self) -> Result<StoreStatus, StoreError> {
        let g = self.lock();
        Ok(StoreStatus {
            outstanding: g.out_kind,
            reserved_cost_nano: g.out_cost,
            max_client_reserved_nano: g.out_client.values().map(|h| h.cost).max().unwrap_or(0),
        })
    }

    async fn admin(&self) -> Result<FounderControls, StoreError> {
        Ok(self.admin.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }

    async fn apply_admin(
        &self,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Result<FounderControls, StoreError> {
        let mut a = self.admin.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = a.clone();
        change.apply(&mut next, now);
        admin::write_state_file(&self.state_file, &next).map_err(|e| StoreError(e.to_string()))?;
        *a = next.clone();
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::bounded::CEILING;
    use crate::policy::Reason;
    use chrono::Duration;

    fn res(id: &str, client: &str, kind: Kind, cost: i64, now: DateTime<Utc>) -> Reservation {
        Reservation {
            id: id.into(),
            client_id: client.into(),
            kind,
            provider: "openai".into(),
            model: "gpt-4o".into(),
            amounts: Amounts {
                cost_nano: cost,
                tokens: 10,
            },
            new_client: false,
            expires: now + Duration::seconds(60),
        }
    }

    fn budget(headroom: i64, amount: i64) -> Limit {
        Limit {
            counter: Counter::Cost,
            headroom,
            amount,
            reason: Reason::BudgetDailyExceeded,
            retry_after: 1,
            alert_headroom: None,
            limit: headroom,
        }
    }

    const CAPS: Caps = Caps {
        total: 1000,
        per_client: 100,
    };

    fn store() -> (MemoryStore, tempfile::TempDir) {
        let d = tempfile::tempdir().unwrap();
        (MemoryStore::open(d.path().join("s.json")).unwrap(), d)
    }

    async fn admit(
        s: &MemoryStore,
        r: &Reservation,
        limits: &[Limit],
        c: i64,
        now: DateTime<Utc>,
    ) -> Admitted {
        s.admit(AdmitCall {
            res: r,
            limits,
            kill: &[],
            collected_sec: c,
            caps: CAPS,
            now,
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn reserves_up_to_the_headroom_then_settles_until_collected() {
        let (s, _d) = store();
        let now: DateTime<Utc> = "2026-11-26T12:00:00Z".parse().unwrap();
        let c = now.timestamp() - 10;
        let l = [budget(100, 40)];
        let r1 = res("1", "a", Kind::Ai, 40, now);
        let r2 = res("2", "a", Kind::Ai, 40, now);
        let r3 = res("3", "a", Kind::Ai, 40, now);
        assert_eq!(
            admit(&s, &r1, &l, c, now).await,
            Admitted::Reserved(vec![0])
        );
        assert_eq!(
            admit(&s, &r2, &l, c, now).await,
            Admitted::Reserved(vec![40])
        );
        assert_eq!(
            admit(&s, &r3, &l, c, now).await,
            Admitted::Refused {
                index: 0,
                pending: vec![80]
            }
        );
        // Settled for less: the actual cost counts until a snapshot collected after it.
        let t = now + Duration::seconds(1);
        let price = |_: &str, _: &str| {
            Ok(Amounts {
                cost_nano: 15,
                tokens: 3,
            })
        };
        let Settle::Done(got) = s.settle("1", &price, t).await.unwrap() else {
            panic!("not settled")
        };
        assert_eq!((got.reserved.cost_nano, got.actual.cost_nano), (40, 15));
        assert_eq!(s.settle("1", &price, t).await.unwrap(), Settle::Unknown);
        assert_eq!(admit(&s, &r3, &l, c, t).await, Admitted::Reserved(vec![55]));
        let g = s.lock();
        assert_eq!(g.pending(Counter::Cost, "a", c, t.timestamp()), 95);
        // A collection after the settle holds it in the ledger: only reservations remain.
        assert_eq!(
            g.pending(Counter::Cost, "a", t.timestamp() + 1, t.timestamp()),
            80
        );
        assert_eq!(g.pending(Counter::ClientCost, "a", c, t.timestamp()), 95);
        assert_eq!(g.pending(Counter::ClientCost, "b", c, t.timestamp()), 0);
    }

    #[tokio::test]
    async fn expiry_settles_the_estimate_and_reconcile_prunes() {
        let (s, _d) = store();
        let now: DateTime<Utc> = "2026-11-26T12:00:00Z".parse().unwrap();
        let c = now.timestamp() - 5;
        let job = res("j", "a", Kind::Visual, 7, now);
        admit(&s, &job, &[], c, now).await;
        assert_eq!(
            s.status().await.unwrap().outstanding[Kind::Visual.index()],
            1
        );
        let later = now + Duration::seconds(61);
        s.reconcile(Some(c), 120, later).await.unwrap();
        let st = s.status().await.unwrap();
        assert_eq!((st.outstanding[1], st.reserved_cost_nano), (0, 0));
        {
            let g = s.lock();
            // Still counted (as settled) until a collection after the expiry.
            assert_eq!(g.pending(Counter::Cost, "a", c, later.timestamp()), 7);
            assert_eq!(g.pending(Counter::Visual, "a", c, later.timestamp()), 1);
            assert_eq!(g.pending(Counter::Jobs, "a", c, later.timestamp()), 0);
        }
        s.reconcile(Some(later.timestamp() + 1), 120, later)
            .await
            .unwrap();
        let g = s.lock();
        assert_eq!(g.pending(Counter::Cost, "a", c, later.timestamp()), 0);
        assert!(g.client_cost.is_empty());
    }

    #[tokio::test]
    async fn admin_changes_persist_or_change_nothing() {
        let (s, d) = store();
        let now = Utc::now();
        let k = Change::SetKill(admin::KillKey::Global, String::new());
        let st = s.apply_admin(&k, now).await.unwrap();
        assert!(st.kill_switches.contains_key("global"));
        let again = MemoryStore::open(d.path().join("s.json")).unwrap();
        assert_eq!(again.admin().await.unwrap(), st);
        // An unwritable state file refuses the change and keeps the state.
        let bad = MemoryStore::open(d.path().join("missing/dir/s.json")).unwrap();
        assert!(bad.apply_admin(&k, now).await.is_err());
        assert!(bad.admin().await.unwrap().kill_switches.is_empty());
    }

    #[tokio::test]
    async fn nothing_to_hold_keeps_nothing_and_caps_bound_the_rest() {
        let (s, _d) = store();
        let now: DateTime<Utc> = "2026-11-26T12:00:00Z".parse().unwrap();
        let c = now.timestamp() - 5;
        let mut free = res("f", "a", Kind::Ai, 0, now);
        free.amounts.tokens = 0;
        assert!(!free.reserves());
        for _ in 0..3 {
            admit(&s, &free, &[], c, now).await;
        }
        assert!(s.lock().res.is_empty());
        // A zero-cost job still holds its concurrent-job slot.
        let job = res("j", "a", Kind::Job, 0, now);
        assert!(job.reserves());
        // Per client, then over all clients.
        let caps = Caps {
            total: 3,
            per_client: 2,
        };
        fn call(r: &Reservation, caps: Caps, c: i64, now: DateTime<Utc>) -> AdmitCall<'_> {
            AdmitCall {
                res: r,
                limits: &[],
                kill: &[],
                collected_sec: c,
                caps,
                now,
            }
        }
        let r = |id: &str, client: &str| res(id, client, Kind::Ai, 1, now);
        for (id, client, want) in [
            ("1", "a", None),
            ("2", "a", None),
            (
                "3",
                "a",
                Some(Full {
                    per_client: true,
                    held: 2,
                }),
            ),
            ("4", "b", None),
            (
                "5",
                "c",
                Some(Full {
                    per_client: false,
                    held: 3,
                }),
            ),
        ] {
            let got = s.admit(call(&r(id, client), caps, c, now)).await.unwrap();
            match want {
                None => assert!(matches!(got, Admitted::Reserved(_)), "{id}: {got:?}"),
                Some(f) => assert_eq!(got, Admitted::Full(f), "{id}"),
            }
        }
        // What holds nothing passes even when full.
        assert!(matches!(
            s.admit(call(&free, caps, c, now)).await.unwrap(),
            Admitted::Reserved(_)
        ));
        assert_eq!(s.lock().res.len(), 3);
    }

    #[tokio::test]
    async fn a_refused_settle_keeps_the_reservation_and_saturation_never_undercounts() {
        let (s, _d) = store();
        let now: DateTime<Utc> = "2026-11-26T12:00:00Z".parse().unwrap();
        let c = now.timestamp() - 5;
        let big = |id: &str| res(id, "a", Kind::Ai, CEILING, now);
        admit(&s, &big("1"), &[], c, now).await;
        admit(&s, &big("2"), &[], c, now).await;
        let refuse = |_: &str, _: &str| Err(PriceError::NoProvider);
        assert_eq!(
            s.settle("1", &refuse, now).await.unwrap(),
            Settle::Refused(PriceError::NoProvider.to_string())
        );
        assert_eq!(s.lock().res.len(), 2);
        // Released for nothing: 2 was still held at the ceiling, so the sum stays there.
        let zero = |_: &str, _: &str| Ok(Amounts::default());
        assert!(matches!(
            s.settle("1", &zero, now).await.unwrap(),
            Settle::Done(_)
        ));
        assert_eq!(
            s.lock().pending(Counter::Cost, "a", c, now.timestamp()),
            CEILING
        );
        // Nothing held: exact again.
        s.settle("2", &zero, now).await.unwrap();
        assert_eq!(s.lock().pending(Counter::Cost, "a", c, now.timestamp()), 0);
    }

    proptest::proptest! {
        /// Whatever the order and size of admissions, what is reserved never passes the
        /// headroom, and a refusal means this one would have.
        #[test]
        fn reserved_never_exceeds_the_headroom(
            headroom in 0i64..1_000_000,
            amounts in proptest::collection::vec(0i64..200_000, 1..60),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let (s, _d) = store();
            let now: DateTime<Utc> = "2026-11-26T12:00:00Z".parse().unwrap();
            let mut reserved = 0i64;
            for (i, a) in amounts.iter().enumerate() {
                let r = res(&i.to_string(), "a", Kind::Ai, *a, now);
                let l = [budget(headroom, *a)];
                match rt.block_on(admit(&s, &r, &l, 0, now)) {
                    Admitted::Reserved(p) => {
                        proptest::prop_assert_eq!(p[0], reserved);
                        reserved += a;
                    }
                    Admitted::Refused { pending, .. } => {
                        proptest::prop_assert!(pending[0] + a > headroom || (*a == 0 && pending[0] >= headroom));
                    }
                    Admitted::Killed(_) | Admitted::Full(_) => proptest::prop_assert!(false),
                }
                proptest::prop_assert!(reserved <= headroom);
            }
        }
    }
}
