//! The guard: the platform's backend asks it before it spends (`POST /api/v1/guard/admit`)
//! and tells it what was spent (`POST /api/v1/guard/settle`). It decides from the published
//! snapshot (never a database call on the request path), the founder's switches and the
//! reservations of other callers.
//!
//! rules.rs is pure; reservations.rs holds the store trait and the in-process store,
//! redis.rs the Redis store for several replicas; admin.rs the founder's switches and their
//! API; api.rs the admit and settle handlers; exposition.rs the guard's metrics, encoded when
//! they changed; fuzzing.rs the entry points the fuzz targets and their replay share.
//!
//! Callers authenticate with the caller token (`guard.caller_token`); a reservation id is a
//! random 128-bit capability, so only the caller that was given it can settle it.

pub mod admin;
pub mod api;
pub mod exposition;
pub mod fuzzing;
pub mod redis;
pub mod reservations;
pub mod wire;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::{Config, Secret};
use crate::policy::{self, Amounts, Caps, Ctx, GuardScope, Plan, Reason, Request, Verdict};
use crate::state::Shared;
use admin::{Change, FounderControls, KillKey};
use reservations::{
    AdmitCall, Admitted, MemoryStore, Pricer, Reservation, ReservationStore, Settle, StoreError,
    StoreStatus,
};

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
    ) -> Result<Settle, StoreError> {
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

    async fn admin(&self) -> Result<FounderControls, StoreError> {
        match self {
            Store::Memory(s) => s.admin().await,
            Store::Redis(s) => s.admin().await,
        }
    }

    async fn apply_admin(
        &self,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Result<FounderControls, StoreError> {
        match self {
            Store::Memory(s) => s.apply_admin(change, now).await,
            Store::Redis(s) => s.apply_admin(change, now).await,
        }
    }
}

/// Counters of what the guard did, read when /metrics is rebuilt (exposition.rs).
pub struct Stats {
    decisions: Vec<AtomicU64>,
    /// The scopes a verdict can name (`launchguard_guard_throttled{scope}`), from the reason table.
    scopes: Vec<GuardScope>,
    /// Unix second of the last throttle or deny per scope in `scopes` (0: never).
    throttled_at: Vec<AtomicI64>,
    admin_changes: [AtomicU64; admin::ACTIONS.len()],
}

impl Stats {
    fn new() -> Self {
        Stats {
            decisions: Reason::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
            scopes: GuardScope::all(),
            throttled_at: GuardScope::all()
                .iter()
                .map(|_| AtomicI64::new(0))
                .collect(),
            admin_changes: Default::default(),
        }
    }

    fn record(&self, v: &Verdict, now: DateTime<Utc>) {
        self.decisions[v.reason.index()].fetch_add(1, Ordering::Relaxed);
        if v.decision() != policy::Decision::Allow
            && let Some(i) = v
                .scope
                .and_then(|s| self.scopes.iter().position(|x| *x == s))
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

/// Who may call admit and settle.
#[derive(Debug, Clone, PartialEq)]
pub enum Callers {
    /// Those who send this token.
    Token(Secret),
    /// Anyone who reaches the loopback address launchguard alone listens on: the founder
    /// opted in (`guard.unauthenticated_on_loopback`) and set no caller token.
    Loopback,
    /// Nobody; why, for the 401, the log and `check`.
    Disabled(String),
}

impl Callers {
    /// From the config and the address `serve` listens on (None: unknown, as in `check`).
    pub fn of(cfg: &Config, listen: Option<SocketAddr>) -> Callers {
        let g = &cfg.guard;
        let r = &g.caller_token;
        let unset = match r.resolve() {
            // An empty token would match an empty header: it counts as unset.
            Ok(Some(t)) if !t.expose().is_empty() => return Callers::Token(t),
            Ok(_) => format!("guard.caller_token ({r}): {}", r.describe_unset()),
            Err(e) => format!("guard.caller_token: {e}"),
        };
        if !g.unauthenticated_on_loopback {
            return Callers::Disabled(unset);
        }
        match listen {
            Some(a) if a.ip().is_loopback() => Callers::Loopback,
            Some(a) => Callers::Disabled(format!(
                "{unset}, and guard.unauthenticated_on_loopback applies only while listening on a loopback address, not {a}"
            )),
            None => Callers::Disabled(format!(
                "{unset}; guard.unauthenticated_on_loopback lets callers in without it only while `serve --listen` is a loopback address"
            )),
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Callers::Token(_) => "caller token",
            Callers::Loopback => "unauthenticated, loopback only",
            Callers::Disabled(_) => "disabled",
        }
    }

    /// Logs the state: at start, and when it changes.
    fn log(&self) {
        match self {
            Callers::Disabled(why) => tracing::warn!(
                reason = %why,
                "guard: admit and settle are disabled; set guard.caller_token to enable them (docs/guard.md)"
            ),
            c => tracing::info!(
                callers = c.describe(),
                "guard: admit and settle are enabled"
            ),
        }
    }
}

/// A new reservation id: 128 random bits from the operating system, as 32 hex digits. The id
/// is the capability to settle, so it must not be guessable from any other id.
/// The error is the operating system's; the caller words it for the verdict.
fn new_id() -> Result<String, getrandom::Error> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)?;
    let mut id = String::with_capacity(32);
    for x in b {
        id.push(char::from(HEX[usize::from(x >> 4)]));
        id.push(char::from(HEX[usize::from(x & 0xf)]));
    }
    Ok(id)
}

pub struct Guard {
    shared: Arc<Shared>,
    store: Store,
    admin_token: RwLock<Option<Secret>>,
    callers: RwLock<Callers>,
    listen: Option<SocketAddr>,
    stats: Stats,
    status: RwLock<StoreStatus>,
    /// Moves when `status` changed (the version of the guard's metrics, exposition.rs).
    status_changes: AtomicU64,
    store_up: AtomicBool,
}

impl Guard {
    /// Opens the configured store and loads the founder's switches. A corrupt state file is
    /// an error: starting without the founder's kill switches would be worse than not starting.
    /// `listen` is the address `serve` listens on (the loopback opt-in depends on it).
    pub async fn open(
        shared: Arc<Shared>,
        listen: Option<SocketAddr>,
    ) -> Result<Arc<Guard>, admin::StateFileError> {
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
                FounderControls::default()
            }
        };
        let guard = Arc::new(Guard {
            shared,
            store,
            admin_token: RwLock::new(admin::token_of(&cfg).ok()),
            callers: RwLock::new(Callers::of(&cfg, listen)),
            listen,
            stats: Stats::new(),
            status: RwLock::new(StoreStatus::default()),
            status_changes: AtomicU64::new(0),
            store_up: AtomicBool::new(true),
        });
        guard.shared.set_controls(admin, Utc::now());
        if let Err(why) = admin::token_of(&cfg) {
            tracing::warn!(reason = %why, "guard: the admin API is disabled; set guard.admin_token to enable it");
        }
        guard.callers().log();
        tracing::info!(
            store = guard.store.name(),
            fail_mode = g.fail_mode.as_str(),
            admin_api = guard.admin_token().is_some(),
            callers = guard.callers().describe(),
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
                let mut cur = self.status.write().unwrap_or_else(|e| e.into_inner());
                if *cur != s {
                    *cur = s;
                    self.status_changes.fetch_add(1, Ordering::Release);
                }
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
        drop(cur);
        let callers = Callers::of(cfg, self.listen);
        let mut cur = self.callers.write().unwrap_or_else(|e| e.into_inner());
        if *cur != callers {
            // One line per change, never one per tick; the token itself is never printed.
            callers.log();
            *cur = callers;
        }
    }

    /// Who may call admit and settle now.
    pub fn callers(&self) -> Callers {
        self.with_callers(Callers::clone)
    }

    /// Reads who may call in place: what each admit and settle does, without copying the token.
    pub fn with_callers<R>(&self, f: impl FnOnce(&Callers) -> R) -> R {
        f(&self.callers.read().unwrap_or_else(|e| e.into_inner()))
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

    /// The founder's controls in force: those of the published assessment, so the guard,
    /// the budget metrics and the status page read the same ones.
    pub fn admin_state(&self) -> FounderControls {
        self.snapshot().controls.clone()
    }

    /// The store's controls become the published ones (re-assessed at once when they changed).
    fn set_admin(&self, a: FounderControls) {
        self.shared.set_controls(a, Utc::now());
    }

    fn snapshot(&self) -> Arc<crate::core::assess::Assessment> {
        self.shared
            .published
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .assessment
            .clone()
    }

    pub fn store_name(&self) -> &'static str {
        self.store.name()
    }

    /// Decides one validated request; the only error is an estimate that cannot be priced
    /// (the caller's 400).
    pub async fn admit(
        &self,
        req: &Request,
        now: DateTime<Utc>,
    ) -> Result<Answer, policy::PriceError> {
        // The config and the assessment published together: a decision never mixes a new
        // config with figures assessed under the old one.
        let (cfg, snap) = {
            let p = self
                .shared
                .published
                .read()
                .unwrap_or_else(|e| e.into_inner());
            (p.config.clone(), p.assessment.clone())
        };
        let amounts = policy::estimate(&cfg, req)?;
        let ctx = Ctx {
            cfg: &cfg,
            snap: &snap,
            admin: &snap.controls,
            now,
        };
        let (verdict, reservation_id) = match policy::plan(&ctx, req, amounts) {
            Plan::Decided(v) => (v, None),
            Plan::Check(limits) => 'check: {
                let ttl = chrono::Duration::from_std(cfg.guard.reservation_ttl.0)
                    .unwrap_or(chrono::Duration::MAX);
                let id = match new_id() {
                    Ok(id) => id,
                    Err(e) => {
                        let why = format!("no randomness for a reservation id: {e}");
                        let v = Verdict::store_unavailable(cfg.guard.fail_mode, &why);
                        break 'check (v, None);
                    }
                };
                let res = Reservation {
                    id,
                    client_id: req.client_id.clone(),
                    kind: req.kind,
                    provider: req.provider.clone().unwrap_or_default(),
                    model: req.model.clone().unwrap_or_default(),
                    amounts,
                    new_client: req.new_client,
                    expires: now
                        .checked_add_signed(ttl)
                        .unwrap_or(DateTime::<Utc>::MAX_UTC),
                };
                // Only Redis re-checks the switches (another replica may have set one since this
                // one's copy); in the process the gates just read them.
                let mut kill = Vec::new();
                if matches!(self.store, Store::Redis(_)) {
                    kill.push(KillKey::Global.field());
                    kill.push(KillKey::Client(req.client_id.clone()).field());
                    if let Some(p) = &req.provider {
                        kill.push(KillKey::Provider(p.clone()).field());
                    }
                }
                let call = AdmitCall {
                    res: &res,
                    limits: &limits,
                    kill: &kill,
                    collected_sec: snap.collected_at.map_or(0, |t| t.timestamp()),
                    caps: Caps::of(&cfg),
                    now,
                };
                let out = self.store.admit(call).await;
                if matches!(self.store, Store::Redis(_)) {
                    self.store_health(out.as_ref().err());
                }
                match out {
                    Ok(Admitted::Reserved(p)) => (
                        policy::finish(req, &limits, &p, None),
                        res.reserves().then_some(res.id),
                    ),
                    Ok(Admitted::Refused { index, pending }) => {
                        (policy::finish(req, &limits, &pending, Some(index)), None)
                    }
                    Ok(Admitted::Full(full)) => (full.verdict(&req.client_id), None),
                    Ok(Admitted::Killed(field)) => {
                        // Set on another replica since this one last refreshed its copy.
                        let mut a = FounderControls::default();
                        a.kill_switches.insert(
                            field,
                            admin::KillSwitch {
                                since: now,
                                note: String::new(),
                            },
                        );
                        let v = policy::kill_switch(&a, req).unwrap_or_else(Verdict::ok);
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

    /// Releases a reservation with its actual usage.
    pub async fn settle(
        &self,
        id: &str,
        usage: &policy::Usage,
        now: DateTime<Utc>,
    ) -> Result<Settle, StoreError> {
        let cfg = self.config();
        let price = |provider: &str, model: &str| policy::actual(&cfg, provider, model, usage);
        let out = self.store.settle(id, &price, now).await;
        if matches!(self.store, Store::Redis(_)) {
            self.store_health(out.as_ref().err());
        }
        out
    }

    /// Makes a founder's change, persists it, logs it and counts it.
    pub async fn apply_admin(&self, change: &Change) -> Result<FounderControls, StoreError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservation_ids_are_random_128_bit() {
        let ids: Vec<String> = (0..1000).map(|_| new_id().unwrap()).collect();
        assert!(
            ids.iter()
                .all(|i| i.len() == 32 && i.chars().all(|c| c.is_ascii_hexdigit()))
        );
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        // No digit position is constant across ids (a counter or a per-process seed would be).
        for pos in 0..32 {
            let digits: std::collections::HashSet<_> =
                ids.iter().map(|i| i.as_bytes()[pos]).collect();
            assert!(digits.len() > 8, "position {pos}");
        }
    }

    #[test]
    fn without_a_caller_token_only_a_loopback_opt_in_opens_the_guard() {
        let mut cfg = Config::default();
        cfg.guard.caller_token = crate::config::SecretRef::Env("LG_TEST_UNSET_CALLER_TOKEN".into());
        let lo: SocketAddr = "127.0.0.1:10071".parse().unwrap();
        let lo6: SocketAddr = "[::1]:10071".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:10071".parse().unwrap();
        let Callers::Disabled(why) = Callers::of(&cfg, Some(lo)) else {
            panic!("open without opt-in")
        };
        assert_eq!(
            why,
            "guard.caller_token (${LG_TEST_UNSET_CALLER_TOKEN}): environment variable LG_TEST_UNSET_CALLER_TOKEN is unset or empty"
        );
        cfg.guard.unauthenticated_on_loopback = true;
        assert_eq!(Callers::of(&cfg, Some(lo)), Callers::Loopback);
        assert_eq!(Callers::of(&cfg, Some(lo6)), Callers::Loopback);
        let Callers::Disabled(why) = Callers::of(&cfg, Some(any)) else {
            panic!("open on a public address")
        };
        assert!(why.contains("loopback") && why.contains("0.0.0.0"), "{why}");
        assert!(crate::check::guard_callers(&cfg).starts_with("admit and settle: disabled: "));
        // An empty token file counts as unset: an empty header must never match it.
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("caller-token");
        std::fs::write(&empty, "\n").unwrap();
        cfg.guard.caller_token = crate::config::SecretRef::File(empty.clone());
        cfg.guard.unauthenticated_on_loopback = false;
        assert!(matches!(Callers::of(&cfg, Some(lo)), Callers::Disabled(_)));
        std::fs::write(&empty, "s3cret\n").unwrap();
        let Callers::Token(t) = Callers::of(&cfg, Some(any)) else {
            panic!("token not read")
        };
        assert_eq!(t.expose(), "s3cret");
        assert_eq!(
            crate::check::guard_callers(&cfg),
            "admit and settle: enabled (guard.caller_token is set)"
        );
    }
}
