//! The Redis store, for several replicas (Upstash in production): the same counting as the
//! in-process store, with each check-and-reserve, settle and sweep done by one Lua script, so
//! it is atomic across every replica. Every key carries the `{prefix}` hash tag, so a cluster
//! keeps them in one slot.
//!
//! Keys (`P` = `{prefix}`): `P:res` hash id -> record `client|kind|cost|tokens|provider|model`;
//! `P:exp` zset id by expiry (ms); `P:out` hash of unsettled sums (`cost`, `tokens`,
//! `c:CLIENT`, `n:KIND`); per-second bucket hashes `P:b:cost`, `P:b:tokens`, `P:b:visual`,
//! `P:b:js` (jobs started), `P:b:jd` (jobs done), `P:b:nc` (new clients), `P:b:api`,
//! `P:b:cc:CLIENT`; `P:clients` set of clients with buckets; `P:kill` and `P:override` hashes
//! of the founder's switches (JSON values).

use std::sync::RwLock;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Script};

use super::admin::{AdminState, Change};
use super::reservations::{
    AdmitCall, Admitted, Pricer, ReservationStore, Settled, StoreError, StoreStatus,
};
use super::rules::{Amounts, Kind};
use crate::config::{Guard as GuardConfig, SecretRef};

/// Shared Lua: split a record and release a reservation, booking `acost`/`atok` as settled.
const LUA_RELEASE: &str = r#"
local function split(s)
  local t, start = {}, 1
  while true do
    local j = string.find(s, '|', start, true)
    if not j then t[#t + 1] = string.sub(s, start); return t end
    t[#t + 1] = string.sub(s, start, j - 1)
    start = j + 1
  end
end
local function release(p, id, rec, acost, atok, sec)
  local f = split(rec)
  local client, kind, cost, tokens = f[1], f[2], f[3], f[4]
  redis.call('HDEL', p .. ':res', id)
  redis.call('ZREM', p .. ':exp', id)
  local out = p .. ':out'
  redis.call('HINCRBY', out, 'cost', -tonumber(cost))
  redis.call('HINCRBY', out, 'tokens', -tonumber(tokens))
  redis.call('HINCRBY', out, 'n:' .. kind, -1)
  if tonumber(redis.call('HINCRBY', out, 'c:' .. client, -tonumber(cost))) <= 0 then
    redis.call('HDEL', out, 'c:' .. client)
  end
  if tonumber(acost) ~= 0 then
    redis.call('HINCRBY', p .. ':b:cost', sec, acost)
    redis.call('HINCRBY', p .. ':b:cc:' .. client, sec, acost)
    redis.call('SADD', p .. ':clients', client)
  end
  if tonumber(atok) ~= 0 then redis.call('HINCRBY', p .. ':b:tokens', sec, atok) end
  if kind == 'visual' or kind == 'job' then redis.call('HINCRBY', p .. ':b:jd', sec, 1) end
  return f
end
"#;

/// KEYS: res, exp, out, kill, b:cost, b:tokens, b:visual, b:js, b:jd, b:nc, b:api, b:cc:CLIENT.
/// ARGV: now_sec, collected_sec, id, record, expires_ms, client, kind, cost, tokens, flags
/// (r reserve, v visual, j job, n new client, a api), nkill, kill fields..., nlimits,
/// (counter, headroom, amount)...
/// Returns {'ok', pending...} | {'refused', index, pending...} | {'killed', field}.
const LUA_ADMIT: &str = r#"
local now_sec, c_sec = tonumber(ARGV[1]), tonumber(ARGV[2])
local id, record, expires_ms, client, kind = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local cost, tokens, flags = ARGV[8], ARGV[9], ARGV[10]
local i = 12
for _ = 1, tonumber(ARGV[11]) do
  if redis.call('HEXISTS', KEYS[4], ARGV[i]) == 1 then return {'killed', ARGV[i]} end
  i = i + 1
end
local function bsum(key, from)
  local t, s = redis.call('HGETALL', key), 0
  for j = 1, #t, 2 do
    if tonumber(t[j]) >= from then s = s + tonumber(t[j + 1]) end
  end
  return s
end
local function outv(f) return tonumber(redis.call('HGET', KEYS[3], f) or '0') end
local cache = {}
local function pending(code)
  local v = cache[code]
  if v then return v end
  if code == 'cost' then v = outv('cost') + bsum(KEYS[5], c_sec)
  elseif code == 'client_cost' then v = outv('c:' .. client) + bsum(KEYS[12], c_sec)
  elseif code == 'tokens' then v = outv('tokens') + bsum(KEYS[6], c_sec)
  elseif code == 'visual' then v = bsum(KEYS[7], c_sec)
  elseif code == 'jobs' then v = bsum(KEYS[8], c_sec) - bsum(KEYS[9], c_sec)
  elseif code == 'new_clients' then v = bsum(KEYS[10], c_sec)
  elseif code == 'api' then v = bsum(KEYS[11], now_sec - 59)
  else return redis.error_reply('unknown counter ' .. code) end
  cache[code] = v
  return v
end
local n = tonumber(ARGV[i]); i = i + 1
local got = {}
local failed = nil
for k = 1, n do
  local p = pending(ARGV[i])
  local headroom, amount = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  got[k] = string.format('%.0f', p)
  if failed == nil and (p + amount > headroom or (amount == 0 and p >= headroom)) then
    failed = k
  end
  i = i + 3
  if failed then break end
end
if failed then return {'refused', tostring(failed - 1), unpack(got)} end
if string.find(flags, 'v', 1, true) then redis.call('HINCRBY', KEYS[7], now_sec, 1) end
if string.find(flags, 'j', 1, true) then redis.call('HINCRBY', KEYS[8], now_sec, 1) end
if string.find(flags, 'n', 1, true) then redis.call('HINCRBY', KEYS[10], now_sec, 1) end
if string.find(flags, 'a', 1, true) then redis.call('HINCRBY', KEYS[11], now_sec, 1) end
if string.find(flags, 'r', 1, true) then
  redis.call('HSET', KEYS[1], id, record)
  redis.call('ZADD', KEYS[2], expires_ms, id)
  redis.call('HINCRBY', KEYS[3], 'cost', cost)
  redis.call('HINCRBY', KEYS[3], 'tokens', tokens)
  redis.call('HINCRBY', KEYS[3], 'c:' .. client, cost)
  redis.call('HINCRBY', KEYS[3], 'n:' .. kind, 1)
end
return {'ok', unpack(got)}
"#;

/// ARGV: prefix, id, actual cost, actual tokens, now_sec. Returns the record, or nil.
const LUA_SETTLE: &str = r#"
local p, id = ARGV[1], ARGV[2]
local rec = redis.call('HGET', p .. ':res', id)
if not rec then return false end
release(p, id, rec, ARGV[3], ARGV[4], ARGV[5])
return rec
"#;

/// ARGV: prefix, now_ms, now_sec, prune_before_sec. Expires due reservations (their estimate
/// is booked as settled) and drops buckets older than prune_before (api: the last minute).
const LUA_SWEEP: &str = r#"
local p, now_ms, now_sec, before = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local due = redis.call('ZRANGEBYSCORE', p .. ':exp', '-inf', now_ms, 'LIMIT', 0, 5000)
for _, id in ipairs(due) do
  local rec = redis.call('HGET', p .. ':res', id)
  if rec then
    local f = split(rec)
    release(p, id, rec, f[3], f[4], now_sec)
  else
    redis.call('ZREM', p .. ':exp', id)
  end
end
local function prune(key, b)
  local t = redis.call('HKEYS', key)
  for _, s in ipairs(t) do
    if tonumber(s) < b then redis.call('HDEL', key, s) end
  end
end
for _, b in ipairs({'cost', 'tokens', 'visual', 'js', 'jd', 'nc'}) do prune(p .. ':b:' .. b, before) end
prune(p .. ':b:api', now_sec - 60)
for _, c in ipairs(redis.call('SMEMBERS', p .. ':clients')) do
  prune(p .. ':b:cc:' .. c, before)
  if redis.call('EXISTS', p .. ':b:cc:' .. c) == 0 then redis.call('SREM', p .. ':clients', c) end
end
return #due
"#;

/// Wait this long after a failed connection before trying again, so an outage costs callers
/// one fast error each instead of a connect timeout each.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(250);

pub struct RedisStore {
    client: Result<redis::Client, String>,
    prefix: String,
    timeout: Duration,
    conn: RwLock<Option<MultiplexedConnection>>,
    next_try: tokio::sync::Mutex<Instant>,
    admit: Script,
    settle: Script,
    sweep: Script,
}

fn redis_error(e: &redis::RedisError) -> StoreError {
    // The error text names the server, never the password of the URL.
    StoreError(format!("redis: {e}"))
}

impl RedisStore {
    /// A store for the configured URL; connects lazily, so Redis being down at start is an
    /// outage like any other, handled by the fail mode.
    pub fn new(cfg: &GuardConfig, url: &SecretRef) -> Self {
        let client = match url.resolve() {
            Ok(Some(u)) => redis::Client::open(u.expose())
                .map_err(|_| format!("guard.redis_url ({url}) is not a valid Redis URL")),
            Ok(None) => Err(format!("guard.redis_url: {url} is not set")),
            Err(e) => Err(e),
        };
        RedisStore {
            client,
            prefix: format!("{{{}}}", cfg.redis_prefix),
            timeout: cfg.redis_timeout.0,
            conn: RwLock::new(None),
            next_try: tokio::sync::Mutex::new(Instant::now()),
            admit: Script::new(LUA_ADMIT),
            settle: Script::new(&format!("{LUA_RELEASE}{LUA_SETTLE}")),
            sweep: Script::new(&format!("{LUA_RELEASE}{LUA_SWEEP}")),
        }
    }

    fn key(&self, k: &str) -> String {
        format!("{}:{k}", self.prefix)
    }

    async fn conn(&self) -> Result<MultiplexedConnection, StoreError> {
        if let Some(c) = self.conn.read().unwrap_or_else(|e| e.into_inner()).clone() {
            return Ok(c);
        }
        let client = self.client.as_ref().map_err(|e| StoreError(e.clone()))?;
        let mut next = self.next_try.lock().await;
        if let Some(c) = self.conn.read().unwrap_or_else(|e| e.into_inner()).clone() {
            return Ok(c);
        }
        if Instant::now() < *next {
            return Err(StoreError("redis: unreachable, retrying shortly".into()));
        }
        let cfg = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        match client
            .get_multiplexed_async_connection_with_config(&cfg)
            .await
        {
            Ok(c) => {
                tracing::info!("guard: connected to redis");
                *self.conn.write().unwrap_or_else(|e| e.into_inner()) = Some(c.clone());
                Ok(c)
            }
            Err(e) => {
                *next = Instant::now() + RECONNECT_BACKOFF;
                Err(redis_error(&e))
            }
        }
    }

    /// Drops a connection that failed, so the next call reconnects. A timeout alone keeps it:
    /// one slow reply under a burst must not turn every caller away while reconnecting.
    fn failed(&self, e: &redis::RedisError) -> StoreError {
        if e.is_timeout() {
            return redis_error(e);
        }
        if e.is_io_error()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_unrecoverable_error()
        {
            *self.conn.write().unwrap_or_else(|e| e.into_inner()) = None;
        }
        redis_error(e)
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        inv: &redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut c = self.conn().await?;
        inv.invoke_async(&mut c).await.map_err(|e| self.failed(&e))
    }

    async fn cmd<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let mut c = self.conn().await?;
        cmd.query_async(&mut c).await.map_err(|e| self.failed(&e))
    }
}

fn kind_flags(call: &AdmitCall<'_>) -> String {
    let r = call.res;
    let mut f = String::new();
    if r.reserves() {
        f.push('r');
    }
    if r.kind == Kind::Visual {
        f.push('v');
    }
    if r.kind.is_job() {
        f.push('j');
    }
    if r.new_client {
        f.push('n');
    }
    if r.kind == Kind::Api {
        f.push('a');
    }
    f
}

fn parse_nums(v: &[String]) -> Result<Vec<i64>, StoreError> {
    v.iter()
        .map(|s| {
            s.parse::<i64>()
                .map_err(|_| StoreError(format!("redis: unexpected script reply `{s}`")))
        })
        .collect()
}

impl ReservationStore for RedisStore {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn admit(&self, call: AdmitCall<'_>) -> Result<Admitted, StoreError> {
        let r = call.res;
        let mut inv = self.admit.prepare_invoke();
        for k in [
            "res", "exp", "out", "kill", "b:cost", "b:tokens", "b:visual", "b:js", "b:jd", "b:nc",
            "b:api",
        ] {
            inv.key(self.key(k));
        }
        inv.key(self.key(&format!("b:cc:{}", r.client_id)));
        let record = format!(
            "{}|{}|{}|{}|{}|{}",
            r.client_id,
            r.kind.as_str(),
            r.amounts.cost_nano,
            r.amounts.tokens,
            r.provider,
            r.model
        );
        inv.arg(call.now.timestamp())
            .arg(call.collected_sec)
            .arg(&r.id)
            .arg(record)
            .arg(r.expires.timestamp_millis())
            .arg(&r.client_id)
            .arg(r.kind.as_str())
            .arg(r.amounts.cost_nano)
            .arg(r.amounts.tokens)
            .arg(kind_flags(&call))
            .arg(call.kill.len());
        for k in call.kill {
            inv.arg(k);
        }
        inv.arg(call.limits.len());
        for l in call.limits {
            inv.arg(l.counter.code()).arg(l.headroom).arg(l.amount);
        }
        let reply: Vec<String> = self.run(&inv).await?;
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(Admitted::Reserved(parse_nums(&reply[1..])?)),
            Some("refused") if reply.len() >= 2 => {
                let index = parse_nums(&reply[1..2])?[0] as usize;
                let mut pending = parse_nums(&reply[2..])?;
                pending.resize(call.limits.len(), 0);
                Ok(Admitted::Refused { index, pending })
            }
            Some("killed") if reply.len() == 2 => Ok(Admitted::Killed(reply[1].clone())),
            _ => Err(StoreError(format!(
                "redis: unexpected admit reply {reply:?}"
            ))),
        }
    }

    async fn settle(
        &self,
        id: &str,
        price: Pricer<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<Settled>, StoreError> {
        // Price from the record, then release atomically (None if it expired meanwhile).
        let rec: Option<String> = self
            .cmd(redis::cmd("HGET").arg(self.key("res")).arg(id))
            .await?;
        let Some(rec) = rec else { return Ok(None) };
        let f: Vec<&str> = rec.splitn(6, '|').collect();
        if f.len() != 6 {
            return Err(StoreError(format!("redis: malformed reservation {id}")));
        }
        let kind =
            Kind::parse(f[1]).ok_or_else(|| StoreError(format!("redis: bad kind in {id}")))?;
        let reserved = Amounts {
            cost_nano: f[2].parse().unwrap_or(0),
            tokens: f[3].parse().unwrap_or(0),
        };
        let actual = price(f[4], f[5]);
        let mut inv = self.settle.prepare_invoke();
        inv.key(self.key("res"))
            .arg(&self.prefix)
            .arg(id)
            .arg(actual.cost_nano)
            .arg(actual.tokens)
            .arg(now.timestamp());
        let done: Option<String> = self.run(&inv).await?;
        Ok(done.map(|_| Settled {
            kind,
            reserved,
            actual,
        }))
    }

    async fn reconcile(
        &self,
        _collected_sec: Option<i64>,
        max_age_secs: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Other replicas may hold older snapshots, but none older than the max age (a staler
        // one fails open or closed without counting): keep what such a snapshot still needs.
        let now_sec = now.timestamp();
        let before = now_sec - max_age_secs.max(60) - 60;
        // Up to 5,000 expiries a script, so one call never blocks Redis for long.
        for _ in 0..20 {
            let mut inv = self.sweep.prepare_invoke();
            inv.key(self.key("exp"))
                .arg(&self.prefix)
                .arg(now.timestamp_millis())
                .arg(now_sec)
                .arg(before);
            let swept: i64 = self.run(&inv).await?;
            if swept < 5000 {
                break;
            }
        }
        Ok(())
    }

    async fn status(&self) -> Result<StoreStatus, StoreError> {
        let out: Vec<(String, i64)> = self.cmd(redis::cmd("HGETALL").arg(self.key("out"))).await?;
        let mut s = StoreStatus::default();
        for (f, v) in out {
            match f.as_str() {
                "cost" => s.reserved_cost_nano = v,
                _ => {
                    if let Some(k) = f.strip_prefix("n:").and_then(Kind::parse) {
                        s.outstanding[k.index()] = v;
                    } else if f.starts_with("c:") {
                        s.max_client_reserved_nano = s.max_client_reserved_nano.max(v);
                    }
                }
            }
        }
        Ok(s)
    }

    async fn admin(&self) -> Result<AdminState, StoreError> {
        let mut c = self.conn().await?;
        type Pairs = Vec<(String, String)>;
        let (kill, over): (Pairs, Pairs) = redis::pipe()
            .cmd("HGETALL")
            .arg(self.key("kill"))
            .cmd("HGETALL")
            .arg(self.key("override"))
            .query_async(&mut c)
            .await
            .map_err(|e| self.failed(&e))?;
        let mut s = AdminState::default();
        for (k, v) in kill {
            match serde_json::from_str(&v) {
                Ok(ks) => {
                    s.kill_switches.insert(k, ks);
                }
                Err(e) => {
                    tracing::warn!(key = %k, error = %e, "guard: unreadable kill switch in redis")
                }
            }
        }
        for (k, v) in over {
            match serde_json::from_str(&v) {
                Ok(o) => {
                    s.budget_overrides.insert(k, o);
                }
                Err(e) => {
                    tracing::warn!(key = %k, error = %e, "guard: unreadable budget override in redis")
                }
            }
        }
        Ok(s)
    }

    async fn apply_admin(
        &self,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Result<AdminState, StoreError> {
        let mut one = AdminState::default();
        change.apply(&mut one, now);
        let field = change.field();
        let mut c = self.conn().await?;
        let mut p = redis::pipe();
        p.atomic();
        match change {
            Change::SetKill(..) => {
                let v = serde_json::to_string(&one.kill_switches[&field])
                    .map_err(|e| StoreError(e.to_string()))?;
                p.cmd("HSET").arg(self.key("kill")).arg(&field).arg(v);
            }
            Change::ClearKill(_) => {
                p.cmd("HDEL").arg(self.key("kill")).arg(&field);
            }
            Change::SetOverride { .. } => {
                let v = serde_json::to_string(&one.budget_overrides[&field])
                    .map_err(|e| StoreError(e.to_string()))?;
                p.cmd("HSET").arg(self.key("override")).arg(&field).arg(v);
            }
            Change::ClearOverride { .. } => {
                p.cmd("HDEL").arg(self.key("override")).arg(&field);
            }
        }
        let _: () = p.query_async(&mut c).await.map_err(|e| self.failed(&e))?;
        self.admin().await
    }
}
