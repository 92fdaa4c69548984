//! The guard: the platform's backend asks it before it spends (`POST /api/v1/guard/admit`)
//! and tells it what was spent (`POST /api/v1/guard/settle`). It decides from the published
//! snapshot (never a database call on the request path), the founder's switches and the
//! reservations of other callers.
//!
//! rules.rs is pure; reservations.rs holds the store trait and the in-process store,
//! redis.rs the Redis store for several replicas; admin.rs the founder's switches and their
//! API; api.rs the admit and settle handlers; exposition.rs the guard's metrics, encoded at
//! scrape time.

pub mod admin;
pub mod api;
pub mod exposition;
pub mod redis;
pub mod reservations;
pub mod rules;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::{Config, Secret};
use crate::state::Shared;
use admin::{AdminState, Change, KillKey};
use reservations::{
    AdmitCall, Admitted, MemoryStore, Pricer, Reservation, ReservationStore, Settled, StoreError,
    StoreStatus,
};
use rules::{Amounts, Ctx, Plan, Reason, Request, Verdict};

/// The scopes a verdict can name, for `launchguard_guard_throttled{scope}`.
pub const SCOPES: [&str; 17] = [
    "global",
    "provider",
    "client",
    "snapshot",
    "store",
    "ledger",
    "monthly",
    "daily",
    "client_daily",
    "ai_tokens_per_day",
    "visual_jobs_per_day",
    "clients",
    "queue_depth",
    "response_time",
    "error_rate",
    "concurrent_jobs",
    "api_requests_per_minute",
];

/// How often the guard expires reservations, reconciles, and refreshes switches and status.
const TICK: Duration = Duration::from_secs(1);

/// The store this replica uses.
pub enum Store {
    Memory(MemoryStore),
    Redis(redis::RedisStore),
}

impl ReservationStore for Store {
    fn name(&self) -> &'static str {
        match self {
            Store::Memory(s) => s.name(),
            Store::Redis(s) => s.name(),
        }
    }

    async fn admit(&self, call: AdmitCall<'_>) -> Result<Admitted, StoreError> {
        match self {
            Store::Memory(s) => s.admit(call).await,
            Store::Redis(s) => s.admit(call).await,
        }
    }

    async fn settle(
        &self,
        id: &str,
        price: Pricer<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<Settled>, StoreError> {
        match self {
            Store::Memory(s) => s.settle(id, price, now).await,
            Store::Redis(s) => s.settle(id, price, now).await,
        }
    }

    async fn reconcile(
        &self,
        collected_sec: Option<i64>,
        max_age_secs: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self {
            Store::Memory(s) => s.reconcile(collected_sec, max_age_secs, now).await,
            Store::Redis(s) => s.reconcile(collected_sec, max_age_secs, now).await,
        }
    }

    async fn status(&self) -> Result<StoreStatus, StoreError> {
        match self {
            Store::Memory(s) => s.status().await,
            Store::Redis(s) => s.status().await,
        }
    }

    async fn admin(&self) -> Result<AdminState, StoreError> {
        match self {
            Store::Memory(s) => s.admin().await,
            Store::Redis(s) => s.admin().await,
        }
    }

    async fn apply_admin(
        &self,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Result<AdminState, StoreError> {
        match self {
            Store::Memory(s) => s.apply_admin(change, now).await,
            Store::Redis(s) => s.apply_admin(change, now).await,
        }
    }
}

/// Counters of what the guard did, read at scrape time.
pub struct Stats {
    decisions: Vec<AtomicU64>,
    /// Unix second of the last throttle or deny per scope (0: never).
    throttled_at: Vec<AtomicI64>,
    admin_changes: [AtomicU64; 4],
}

impl Stats {
    fn new() -> Self {
        Stats {
            decisions: Reason::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
            throttled_at: SCOPES.iter().map(|_| AtomicI64::new(0)).collect(),
            admin_changes: Default::default(),
        }
    }

    fn record(&self, v: &Verdict, now: DateTime<Utc>) {
        self.decisions[v.reason.index()].fetch_add(1, Ordering::Relaxed);
        if v.decision() != rules::Decision::Allow
            && let Some(i) = v.scope.and_then(|s| SCOPES.iter().position(|x| *x == s))
        {
            self.throttled_at[i].store(now.timestamp(), Ordering::Relaxed);
        }
    }
}

/// The answer to an admission: the verdict, the reservation and what it reserved.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub verdict: Verdict,
    pub reservation_id: Option<String>,
    pub amounts: Amounts,
}

pub struct Guard {
    shared: Arc<Shared>,
    store: Store,
    admin: RwLock<Arc<AdminState>>,
    admin_token: RwLock<Option<Secret>>,
    stats: Stats,
    status: RwLock<StoreStatus>,
    store_up: AtomicBool,
    id_seed: u64,
    id_next: AtomicU64,
}

fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}

impl Guard {
    /// Opens the configured store and loads the founder's switches. A corrupt state file is
    /// an error: starting without the founder's kill switches would be worse than not starting.
    pub async fn open(shared: Arc<Shared>) -> Result<Arc<Guard>, String> {
        let cfg = shared.config();
        let g = &cfg.guard;
        let store = match &g.redis_url {
            Some(url) => Store::Redis(redis::RedisStore::new(g, url)),
            None => Store::Memory(MemoryStore::open(g.state_file.clone())?),
        };
        let admin = match store.admin().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "guard: cannot read the founder's switches yet; retrying every second");
                AdminState::default()
            }
        };
        let guard = Arc::new(Guard {
            shared,
            store,
            admin: RwLock::new(Arc::new(admin)),
            admin_token: RwLock::new(admin::token_of(&cfg).ok()),
            stats: Stats::new(),
            status: RwLock::new(StoreStatus::default()),
            store_up: AtomicBool::new(true),
            id_seed: random_seed(),
            id_next: AtomicU64::new(1),
        });
        if let Err(why) = admin::token_of(&cfg) {
            tracing::warn!(reason = %why, "guard: the admin API is disabled; set guard.admin_token to enable it");
        }
        tracing::info!(
            store = guard.store.name(),
            fail_mode = g.fail_mode.as_str(),
            admin_api = guard.admin_token().is_some(),
            "guard ready"
        );
        Ok(guard)
    }

    /// Starts the background tick: expiry, reconciliation, switches, status.
    pub fn spawn(self: &Arc<Self>) {
        let g = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(TICK);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                g.tick().await;
            }
        });
    }

    /// One background round; public so tests can drive it.
    pub async fn tick(&self) {
        let cfg = self.config();
        self.refresh_token(&cfg);
        let now = Utc::now();
        let collected = self.snapshot().collected_at.map(|t| t.timestamp());
        let max_age = cfg.guard.snapshot_max_age.0.as_secs() as i64;
        let r = self.store.reconcile(collected, max_age, now).await;
        let r = match r {
            Ok(()) => self.store.status().await.map(|s| {
                *self.status.write().unwrap_or_else(|e| e.into_inner()) = s;
            }),
            Err(e) => Err(e),
        };
        let r = match (r, &self.store) {
            (Ok(()), Store::Redis(_)) => self.store.admin().await.map(|a| self.set_admin(a)),
            (r, _) => r,
        };
        self.store_health(r.err().as_ref());
    }

    fn store_health(&self, err: Option<&StoreError>) {
        let was = self.store_up.swap(err.is_none(), Ordering::Relaxed);
        match (was, err) {
            (true, Some(e)) => {
                tracing::warn!(store = self.store.name(), error = %e, "guard: reservation store down")
            }
            (false, None) => tracing::info!(
                store = self.store.name(),
                "guard: reservation store recovered"
            ),
            _ => {}
        }
    }

    /// Re-reads the admin token (every tick: a rotated file applies at once); logs only when
    /// the admin API turns on or off, not every second.
    fn refresh_token(&self, cfg: &Config) {
        let t = admin::token_of(cfg);
        let mut cur = self.admin_token.write().unwrap_or_else(|e| e.into_inner());
        match (&*cur, &t) {
            (Some(_), Err(why)) => {
                tracing::warn!(reason = %why, "guard: the admin API is now disabled")
            }
            (None, Ok(_)) => tracing::info!("guard: the admin API is now enabled"),
            _ => {}
        }
        *cur = t.ok();
    }

    pub fn config(&self) -> Arc<Config> {
        self.shared.config()
    }

    pub fn body_limit(&self) -> usize {
        self.config().guard.body_limit_bytes
    }

    pub fn admin_token(&self) -> Option<Secret> {
        self.admin_token
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn admin_state(&self) -> Arc<AdminState> {
        self.admin.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_admin(&self, a: AdminState) {
        let mut cur = self.admin.write().unwrap_or_else(|e| e.into_inner());
        if **cur != a {
            *cur = Arc::new(a);
        }
    }

    fn snapshot(&self) -> Arc<crate::core::assess::Assessment> {
        self.shared
            .published
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .assessment
            .clone()
    }

    fn next_id(&self) -> String {
        let n = self.id_next.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}{:012x}", self.id_seed, n)
    }

    pub fn store_name(&self) -> &'static str {
        self.store.name()
    }

    /// Decides one validated request.
    pub async fn admit(&self, req: &Request, now: DateTime<Utc>) -> Result<Answer, String> {
        let cfg = self.config();
        let amounts = rules::estimate(&cfg, req)?;
        let snap = self.snapshot();
        let admin = self.admin_state();
        let ctx = Ctx {
            cfg: &cfg,
            snap: &snap,
            admin: &admin,
            now,
        };
        let (verdict, reservation_id) = match rules::plan(&ctx, req, amounts) {
            Plan::Decided(v) => (v, None),
            Plan::Check(limits) => {
                let ttl = chrono::Duration::from_std(cfg.guard.reservation_ttl.0)
                    .unwrap_or(chrono::Duration::MAX);
                let res = Reservation {
                    id: self.next_id(),
                    client_id: req.client_id.clone(),
                    kind: req.kind,
                    provider: req.provider.clone().unwrap_or_default(),
                    model: req.model.clone().unwrap_or_default(),
                    amounts,
                    new_client: req.new_client,
                    expires: now + ttl,
                };
                let mut kill = vec![
                    KillKey::Global.field(),
                    KillKey::Client(req.client_id.clone()).field(),
                ];
                if let Some(p) = &req.provider {
                    kill.push(KillKey::Provider(p.clone()).field());
                }
                let call = AdmitCall {
                    res: &res,
                    limits: &limits,
                    kill: &kill,
                    collected_sec: snap.collected_at.map_or(0, |t| t.timestamp()),
                    now,
                };
                let out = self.store.admit(call).await;
                if matches!(self.store, Store::Redis(_)) {
                    self.store_health(out.as_ref().err());
                }
                match out {
                    Ok(Admitted::Reserved(p)) => (
                        rules::finish(req, &limits, &p, None),
                        res.reserves().then_some(res.id),
                    ),
                    Ok(Admitted::Refused { index, pending }) => {
                        (rules::finish(req, &limits, &pending, Some(index)), None)
                    }
                    Ok(Admitted::Killed(field)) => {
                        // Set on another replica since this one last refreshed its copy.
                        let mut a = AdminState::default();
                        a.kill_switches.insert(
                            field,
                            admin::KillSwitch {
                                since: now,
                                note: String::new(),
                            },
                        );
                        let v = rules::kill_switch(&a, req).unwrap_or_else(Verdict::ok);
                        (v, None)
                    }
                    Err(e) => (Verdict::store_unavailable(cfg.guard.fail_mode, &e.0), None),
                }
            }
        };
        self.stats.record(&verdict, now);
        Ok(Answer {
            verdict,
            reservation_id,
            amounts,
        })
    }

    /// Releases a reservation with its actual usage; `Ok(None)` when it is unknown.
    pub async fn settle(
        &self,
        id: &str,
        usage: &rules::Usage,
        now: DateTime<Utc>,
    ) -> Result<Option<Settled>, StoreError> {
        let cfg = self.config();
        let price = |provider: &str, model: &str| rules::actual(&cfg, provider, model, usage);
        let out = self.store.settle(id, &price, now).await;
        if matches!(self.store, Store::Redis(_)) {
            self.store_health(out.as_ref().err());
        }
        out
    }

    /// Makes a founder's change, persists it, logs it and counts it.
    pub async fn apply_admin(&self, change: &Change) -> Result<Arc<AdminState>, StoreError> {
        let now = Utc::now();
        let s = self.store.apply_admin(change, now).await?;
        self.set_admin(s);
        self.stats.admin_changes[change.action_index()].fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            action = admin::ACTIONS[change.action_index()],
            key = %change.field(),
            store = self.store.name(),
            "guard: founder's change"
        );
        Ok(self.admin_state())
    }
}
