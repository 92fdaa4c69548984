//! The Redis store, for several replicas (Upstash in production): the same counting as the
//! in-process store, with each check-and-reserve, settle and sweep done by one Lua script, so
//! it is atomic across every replica. Every key carries the `{prefix}` hash tag, so a cluster
//! keeps them in one slot.
//!
//! Keys (`P` = `{prefix}`): `P:res` hash id -> record `client|kind|cost|tokens|provider|model`;
//! `P:exp` zset id by expiry (ms); `P:out` hash of unsettled sums (`cost`, `tokens`,
//! `c:CLIENT` cost, `k:CLIENT` count, `n:KIND`); per-second bucket hashes `P:b:cost`, `P:b:tokens`, `P:b:visual`,
//! `P:b:js` (jobs started), `P:b:jd` (jobs done), `P:b:nc` (new clients), `P:b:api`,
//! `P:b:cc:CLIENT`; `P:clients` set of clients with buckets; `P:kill` and `P:override` hashes
//! of the founder's switches (JSON values).
//!
//! Each script checks every argument (and each record it reads) before its first write, since
//! Redis does not roll a failed script back, and counts with `core::bounded`'s saturating
//! arithmetic (`bounded::LUA`), so each script is all or nothing and no counter wraps.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Script};

use super::admin::{Change, FounderControls};
use super::reservations::{
    AdmitCall, Admitted, Pricer, ReservationStore, Settle, Settled, StoreError, StoreStatus,
};
use crate::config::{Guard as GuardConfig, SecretRef};
use crate::core::bounded;
use crate::policy::{Amounts, Full, Kind};

/// Shared Lua: records and the saturating counter update. Runs after `bounded::LUA`.
const LUA_RECORDS: &str = r#"
local function split(s)
  local t, start = {}, 1
  while true do
    local j = string.find(s, '|', start, true)
    if not j then t[#t + 1] = string.sub(s, start); return t end
    t[#t + 1] = string.sub(s, start, j - 1)
    start = j + 1
  end
end
local HELD = {ai = true, visual = true, job = true}
-- A stored record `client|kind|cost|tokens|provider|model`, checked; nil when corrupt.
local function record(rec)
  local f = split(rec)
  if #f ~= 6 or f[1] == '' or not HELD[f[2]] then return nil end
  local cost, tokens = int(f[3], 0, CEILING), int(f[4], 0, CEILING)
  if cost == nil or tokens == nil then return nil end
  return {client = f[1], kind = f[2], cost = cost, tokens = tokens}
end
-- HINCRBY that saturates (HINCRBY itself errors on overflow and on '-0', halfway through a
-- script that Redis does not roll back). Returns the new value; adding 0 writes nothing.
local function incr(key, field, d)
  local v = tonumber(redis.call('HGET', key, field) or '0') or 0
  if d == 0 then return v end
  v = plus(v, d)
  redis.call('HSET', key, field, itoa(v))
  return v
end
-- Takes d out of a held sum (saturated sums stay saturated, see bounded::take).
local function untake(key, field, d)
  local v = tonumber(redis.call('HGET', key, field) or '0') or 0
  if d == 0 then return v end
  v = take(v, d)
  redis.call('HSET', key, field, itoa(v))
  return v
end
-- Releases checked record r, booking acost/atok (checked integers) as settled at sec.
local function release(p, id, r, acost, atok, sec)
  redis.call('HDEL', p .. ':res', id)
  redis.call('ZREM', p .. ':exp', id)
  local out = p .. ':out'
  untake(out, 'cost', r.cost)
  untake(out, 'tokens', r.tokens)
  if redis.call('HLEN', p .. ':res') == 0 then
    -- Nothing held: exact again, even after a saturation.
    redis.call('HDEL', out, 'cost', 'tokens')
  end
  incr(out, 'n:' .. r.kind, -1)
  local left = untake(out, 'c:' .. r.client, r.cost)
  if redis.call('HEXISTS', out, 'k:' .. r.client) == 1 then
    if incr(out, 'k:' .. r.client, -1) <= 0 then
      redis.call('HDEL', out, 'c:' .. r.client, 'k:' .. r.client)
    end
  elseif left <= 0 then
    -- Held before per-client counts existed: the cost alone says when nothing is left.
    redis.call('HDEL', out, 'c:' .. r.client)
  end
  if acost ~= 0 then
    incr(p .. ':b:cost', sec, acost)
    incr(p .. ':b:cc:' .. r.client, sec, acost)
    redis.call('SADD', p .. ':clients', r.client)
  end
  if atok ~= 0 then incr(p .. ':b:tokens', sec, atok) end
  if r.kind == 'visual' or r.kind == 'job' then incr(p .. ':b:jd', sec, 1) end
end
local function bad(what) return redis.error_reply('launchguard: invalid argument ' .. what) end
-- Largest Unix time (seconds) a script accepts: year 33658, far past any clock reading.
local MAX_SEC = 1e12
"#;

/// KEYS: res, exp, out, kill, b:cost, b:tokens, b:visual, b:js, b:jd, b:nc, b:api, b:cc:CLIENT.
/// ARGV: now_sec, collected_sec, id, provider, expires_ms, client, kind, cost, tokens, flags
/// (r reserve, v visual, j job, n new client, a api), model, max_total, max_client, nkill,
/// kill fields..., nlimits, (counter, headroom, amount)...
/// Every argument is checked before the first write. Returns {'ok', pending...} |
/// {'refused', index, pending...} | {'killed', field} | {'full', 'client'|'total', held}.
const LUA_ADMIT: &str = r#"
local now_sec, c_sec = int(ARGV[1], 0, MAX_SEC), int(ARGV[2], 0, MAX_SEC)
local id, provider, expires_ms, client, kind = ARGV[3], ARGV[4], int(ARGV[5], 0, MAX_SEC * 1000), ARGV[6], ARGV[7]
local cost, tokens, flags, model = int(ARGV[8], 0, CEILING), int(ARGV[9], 0, CEILING), ARGV[10], ARGV[11]
local max_total, max_client = int(ARGV[12], 1, CEILING), int(ARGV[13], 1, CEILING)
if not (now_sec and c_sec and expires_ms and cost and tokens and max_total and max_client) then
  return bad('number')
end
if id == '' or client == '' or not (HELD[kind] or kind == 'api') then return bad('reservation') end
for _, s in ipairs({id, client, provider, model}) do
  if string.find(s, '|', 1, true) then return bad('name') end
end
if string.find(flags, '[^rvjna]') then return bad('flags') end
local nkill = int(ARGV[14], 0, 64)
if not nkill then return bad('nkill') end
local i = 15 + nkill
local n = int(ARGV[i], 0, 64)
if not n or #ARGV ~= i + 3 * n then return bad('limits') end
local COUNTERS = {cost = true, client_cost = true, tokens = true, visual = true, jobs = true, new_clients = true, api = true}
local limits = {}
for k = 1, n do
  local j = i + 3 * (k - 1) + 1
  local code, headroom, amount = ARGV[j], int(ARGV[j + 1], -CEILING, CEILING), int(ARGV[j + 2], 0, CEILING)
  if not COUNTERS[code] or headroom == nil or amount == nil then return bad('limit ' .. k) end
  limits[k] = {code, headroom, amount}
end
local reserve = string.find(flags, 'r', 1, true) ~= nil
if reserve and redis.call('HEXISTS', KEYS[1], id) == 1 then return bad('duplicate id') end

for k = 15, 14 + nkill do
  if redis.call('HEXISTS', KEYS[4], ARGV[k]) == 1 then return {'killed', ARGV[k]} end
end
local function bsum(key, from)
  local t, s = redis.call('HGETALL', key), 0
  for j = 1, #t, 2 do
    if (tonumber(t[j]) or -1) >= from then s = plus(s, tonumber(t[j + 1]) or 0) end
  end
  return s
end
local function outv(f) return tonumber(redis.call('HGET', KEYS[3], f) or '0') or 0 end
local cache = {}
local function pending(code)
  local v = cache[code]
  if v then return v end
  if code == 'cost' then v = plus(outv('cost'), bsum(KEYS[5], c_sec))
  elseif code == 'client_cost' then v = plus(outv('c:' .. client), bsum(KEYS[12], c_sec))
  elseif code == 'tokens' then v = plus(outv('tokens'), bsum(KEYS[6], c_sec))
  elseif code == 'visual' then v = bsum(KEYS[7], c_sec)
  elseif code == 'jobs' then v = plus(bsum(KEYS[8], c_sec), -bsum(KEYS[9], c_sec))
  elseif code == 'new_clients' then v = bsum(KEYS[10], c_sec)
  else v = bsum(KEYS[11], now_sec - 59) end
  cache[code] = v
  return v
end
local got, failed = {}, nil
for k = 1, n do
  local l = limits[k]
  local p = pending(l[1])
  got[k] = itoa(p)
  local t = plus(p, l[3])
  if failed == nil and (t >= CEILING or t > l[2] or (l[3] == 0 and p >= l[2])) then failed = k end
end
if failed then return {'refused', tostring(failed - 1), unpack(got)} end
if reserve then
  local mine = outv('k:' .. client)
  if mine >= max_client then return {'full', 'client', itoa(mine)} end
  local all = redis.call('HLEN', KEYS[1])
  if all >= max_total then return {'full', 'total', itoa(all)} end
end
if string.find(flags, 'v', 1, true) then incr(KEYS[7], now_sec, 1) end
if string.find(flags, 'j', 1, true) then incr(KEYS[8], now_sec, 1) end
if string.find(flags, 'n', 1, true) then incr(KEYS[10], now_sec, 1) end
if string.find(flags, 'a', 1, true) then incr(KEYS[11], now_sec, 1) end
if reserve then
  redis.call('HSET', KEYS[1], id, table.concat({client, kind, itoa(cost), itoa(tokens), provider, model}, '|'))
  redis.call('ZADD', KEYS[2], expires_ms, id)
  incr(KEYS[3], 'cost', cost)
  incr(KEYS[3], 'tokens', tokens)
  incr(KEYS[3], 'c:' .. client, cost)
  incr(KEYS[3], 'k:' .. client, 1)
  incr(KEYS[3], 'n:' .. kind, 1)
end
return {'ok', unpack(got)}
"#;

/// ARGV: prefix, id, actual cost, actual tokens, now_sec. Returns the record, or nil. Checks
/// every argument and the record before the first write.
const LUA_SETTLE: &str = r#"
local p, id = ARGV[1], ARGV[2]
local acost, atok, sec = int(ARGV[3], 0, CEILING), int(ARGV[4], 0, CEILING), int(ARGV[5], 0, MAX_SEC)
if not (acost and atok and sec) then return bad('usage') end
local rec = redis.call('HGET', p .. ':res', id)
if not rec then return false end
local r = record(rec)
if not r then return redis.error_reply('launchguard: corrupt reservation record ' .. id) end
release(p, id, r, acost, atok, sec)
return rec
"#;

/// ARGV: prefix, now_ms, now_sec, prune_before_sec. Expires due reservations (their estimate
/// is booked as settled) and drops buckets older than prune_before (api: the last minute).
/// Returns {expired, corrupt records dropped}.
const LUA_SWEEP: &str = r#"
local p = ARGV[1]
local now_ms, now_sec, before = int(ARGV[2], 0, MAX_SEC * 1000), int(ARGV[3], 0, MAX_SEC), int(ARGV[4], -MAX_SEC, MAX_SEC)
if not (now_ms and now_sec and before) then return bad('sweep') end
local due = redis.call('ZRANGEBYSCORE', p .. ':exp', '-inf', now_ms, 'LIMIT', 0, 5000)
local dropped = 0
for _, id in ipairs(due) do
  local rec = redis.call('HGET', p .. ':res', id)
  local r = rec and record(rec)
  if r then
    release(p, id, r, r.cost, r.tokens, now_sec)
  else
    -- Gone, or not ours to count: drop it from both, touching no counter.
    if rec then dropped = dropped + 1 end
    redis.call('HDEL', p .. ':res', id)
    redis.call('ZREM', p .. ':exp', id)
  end
end
local function prune(key, b)
  local t = redis.call('HKEYS', key)
  for _, s in ipairs(t) do
    if (tonumber(s) or -1) < b then redis.call('HDEL', key, s) end
  end
end
for _, b in ipairs({'cost', 'tokens', 'visual', 'js', 'jd', 'nc'}) do prune(p .. ':b:' .. b, before) end
prune(p .. ':b:api', now_sec - 60)
for _, c in ipairs(redis.call('SMEMBERS', p .. ':clients')) do
  prune(p .. ':b:cc:' .. c, before)
  if redis.call('EXISTS', p .. ':b:cc:' .. c) == 0 then redis.call('SREM', p .. ':clients', c) end
end
return {#due, dropped}
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

/// A script with the shared arithmetic and record helpers in front.
fn script(body: &str) -> Script {
    Script::new(&format!("{}{LUA_RECORDS}{body}", bounded::LUA))
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
            admit: script(LUA_ADMIT),
            settle: script(LUA_SETTLE),
            sweep: script(LUA_SWEEP),
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
        inv.arg(call.now.timestamp())
            .arg(call.collected_sec.max(0))
            .arg(&r.id)
            .arg(&r.provider)
            .arg(r.expires.timestamp_millis())
            .arg(&r.client_id)
            .arg(r.kind.as_str())
            .arg(r.amounts.cost_nano)
            .arg(r.amounts.tokens)
            .arg(kind_flags(&call))
            .arg(&r.model)
            .arg(call.caps.total)
            .arg(call.caps.per_client)
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
            Some("full") if reply.len() == 3 => Ok(Admitted::Full(Full {
                per_client: reply[1] == "client",
                held: parse_nums(&reply[2..])?[0].max(0) as u64,
            })),
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
    ) -> Result<Settle, StoreError> {
        // Price from the record, then release atomically (Unknown if it expired meanwhile).
        let rec: Option<String> = self
            .cmd(redis::cmd("HGET").arg(self.key("res")).arg(id))
            .await?;
        let Some(rec) = rec else {
            return Ok(Settle::Unknown);
        };
        let f: Vec<&str> = rec.splitn(6, '|').collect();
        let malformed = || StoreError(format!("redis: malformed reservation {id}"));
        if f.len() != 6 {
            return Err(malformed());
        }
        let kind = Kind::parse(f[1]).ok_or_else(malformed)?;
        let reserved = Amounts {
            cost_nano: f[2].parse().map_err(|_| malformed())?,
            tokens: f[3].parse().map_err(|_| malformed())?,
        };
        let actual = match price(f[4], f[5]) {
            Ok(a) => a,
            Err(why) => return Ok(Settle::Refused(why)),
        };
        let mut inv = self.settle.prepare_invoke();
        inv.key(self.key("res"))
            .arg(&self.prefix)
            .arg(id)
            .arg(actual.cost_nano)
            .arg(actual.tokens)
            .arg(now.timestamp());
        let done: Option<String> = self.run(&inv).await?;
        Ok(match done {
            Some(_) => Settle::Done(Settled {
                kind,
                reserved,
                actual,
            }),
            None => Settle::Unknown,
        })
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
            let (swept, dropped): (i64, i64) = self.run(&inv).await?;
            if dropped > 0 {
                tracing::warn!(
                    dropped,
                    "guard: dropped expired reservation records in redis that were not launchguard's"
                );
            }
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
            let v = v.clamp(-bounded::CEILING, bounded::CEILING);
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

    async fn admin(&self) -> Result<FounderControls, StoreError> {
        let mut c = self.conn().await?;
        type Pairs = Vec<(String, String)>;
        let (kill, over, approvals): (Pairs, Pairs, Pairs) = redis::pipe()
            .cmd("HGETALL")
            .arg(self.key("kill"))
            .cmd("HGETALL")
            .arg(self.key("override"))
            .cmd("HGETALL")
            .arg(self.key("approval"))
            .query_async(&mut c)
            .await
            .map_err(|e| self.failed(&e))?;
        let mut s = FounderControls::default();
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
            match serde_json::from_str::<super::admin::BudgetOverride>(&v) {
                Ok(o) => match bounded::usd_problem(o.budget_usd) {
                    None => {
                        s.budget_overrides.insert(k, o);
                    }
                    Some(p) => {
                        tracing::warn!(key = %k, "guard: budget override in redis ignored: budget_usd {p}")
                    }
                },
                Err(e) => {
                    tracing::warn!(key = %k, error = %e, "guard: unreadable budget override in redis")
                }
            }
        }
        for (k, v) in approvals {
            match serde_json::from_str(&v) {
                Ok(a) => {
                    s.approvals.insert(k, a);
                }
                Err(e) => {
                    tracing::warn!(key = %k, error = %e, "guard: unreadable approval in redis")
                }
            }
        }
        Ok(s)
    }

    async fn apply_admin(
        &self,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Result<FounderControls, StoreError> {
        let mut one = FounderControls::default();
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
            Change::Approve { .. } => {
                let v = serde_json::to_string(&one.approvals[&field])
                    .map_err(|e| StoreError(e.to_string()))?;
                p.cmd("HSET").arg(self.key("approval")).arg(&field).arg(v);
            }
            Change::WithdrawApproval { .. } => {
                p.cmd("HDEL").arg(self.key("approval")).arg(&field);
            }
        }
        let _: () = p.query_async(&mut c).await.map_err(|e| self.failed(&e))?;
        self.admin().await
    }
}
