//! The Redis store, for several replicas: the same counting as the in-process store, with
//! each check-and-reserve, settle, expiry and prune done by one Lua script, so it is atomic
//! across every replica. One endpoint (a Redis, Upstash over `rediss://`) or a Redis Cluster
//! (`guard.redis_cluster`: the redis crate's cluster client follows MOVED/ASK, refreshes the
//! slot map and reconnects after a failover by itself).
//!
//! Every key carries the one `{prefix}` hash tag, so a cluster keeps them all in one slot (an
//! admit checks global and per-client counters together, so they must live together; see
//! docs/guard.md), and every script declares every key it touches in `KEYS`. Keys (`P` =
//! `{prefix}`): `P:res` hash id -> record `client|kind|cost|tokens|provider|model`; `P:exp`
//! zset id by expiry (ms); `P:out` hash of unsettled sums (`cost`, `tokens`, `c:CLIENT` cost,
//! `k:CLIENT` count, `n:KIND`); per-second bucket hashes `P:b:cost`, `P:b:tokens`,
//! `P:b:visual`, `P:b:js` (jobs started), `P:b:jd` (jobs done), `P:b:nc` (new clients),
//! `P:b:api`, `P:b:cc:CLIENT`; `P:clients` set of clients with buckets; `P:kill` and
//! `P:override` hashes of the founder's switches (JSON values).
//!
//! Each script checks every argument (and each record it reads) before its first write, since
//! Redis does not roll a failed script back, and counts with `core::bounded`'s saturating
//! arithmetic (`bounded::LUA`), so each script is all or nothing and no counter wraps.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisFuture, Script, TlsCertificates, Value};

use super::admin::{Change, FounderControls};
use super::reservations::{
    AdmitCall, Admitted, Pricer, Reservation, ReservationStore, Settle, Settled, StoreError,
    StoreStatus,
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
-- The keys a release touches, declared by the caller as KEYS[1..7] in this order.
local function held_keys()
  return {res = KEYS[1], exp = KEYS[2], out = KEYS[3], cost = KEYS[4], tokens = KEYS[5], jd = KEYS[6], clients = KEYS[7]}
end
-- Releases checked record r, booking acost/atok (checked integers) as settled at sec; K from
-- held_keys(), cc the declared key of r.client's cost buckets. The held sums are read with one
-- HMGET and written with one HSET and one HDEL (each redis.call costs the script about as much
-- as the arithmetic around it).
local function release(K, id, r, acost, atok, sec, cc)
  redis.call('HDEL', K.res, id)
  redis.call('ZREM', K.exp, id)
  local cf, kf, nf = 'c:' .. r.client, 'k:' .. r.client, 'n:' .. r.kind
  local v = redis.call('HMGET', K.out, 'cost', 'tokens', nf, cf, kf)
  local function num(x) return tonumber(x or '0') or 0 end
  local w = {} -- field -> new text, or false to delete
  if redis.call('HLEN', K.res) == 0 then
    -- Nothing held: exact again, even after a saturation.
    w.cost, w.tokens = false, false
  else
    if r.cost ~= 0 then w.cost = itoa(take(num(v[1]), r.cost)) end
    if r.tokens ~= 0 then w.tokens = itoa(take(num(v[2]), r.tokens)) end
  end
  w[nf] = itoa(plus(num(v[3]), -1))
  local left = num(v[4])
  if r.cost ~= 0 then
    left = take(left, r.cost)
    w[cf] = itoa(left)
  end
  if v[5] then
    local k = plus(num(v[5]), -1)
    if k <= 0 then w[cf], w[kf] = false, false else w[kf] = itoa(k) end
  elseif left <= 0 then
    -- Held before per-client counts existed: the cost alone says when nothing is left.
    w[cf] = false
  end
  local set, del = {}, {}
  for f, x in pairs(w) do
    if x then set[#set + 1] = f; set[#set + 1] = x else del[#del + 1] = f end
  end
  if #set > 0 then redis.call('HSET', K.out, unpack(set)) end
  if #del > 0 then redis.call('HDEL', K.out, unpack(del)) end
  if acost ~= 0 then
    incr(K.cost, sec, acost)
    incr(cc, sec, acost)
    redis.call('SADD', K.clients, r.client)
  end
  if atok ~= 0 then incr(K.tokens, sec, atok) end
  if r.kind == 'visual' or r.kind == 'job' then incr(K.jd, sec, 1) end
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

if nkill > 0 then
  local set = redis.call('HMGET', KEYS[4], unpack(ARGV, 15, 14 + nkill))
  for k = 1, nkill do
    if set[k] then return {'killed', ARGV[14 + k]} end
  end
end
-- The held sums this admit reads or moves, in one HMGET.
local OF = {'cost', 'tokens', 'c:' .. client, 'k:' .. client, 'n:' .. kind}
local ov = redis.call('HMGET', KEYS[3], unpack(OF))
for k = 1, 5 do ov[k] = tonumber(ov[k] or '0') or 0 end
-- The sum of a bucket hash's seconds from `from` on. The seconds up to now + SKEW (another
-- replica's clock may run that far ahead) are read by name with one HMGET, rather than the
-- whole hash (up to snapshot_max_age + 120 s of seconds); a longer range reads it whole.
local names = {}
local function bsum(key, from)
  local to = now_sec + SKEW
  if from > to or to - from >= SPAN then
    local t, s = redis.call('HGETALL', key), 0
    for j = 1, #t, 2 do
      if (tonumber(t[j]) or -1) >= from then s = plus(s, tonumber(t[j + 1]) or 0) end
    end
    return s
  end
  local f = names[from]
  if not f then
    -- Each hash from the same second is read with the same names, spelled out once.
    f = {}
    for sec = from, to do f[#f + 1] = tostring(sec) end
    names[from] = f
  end
  local v, s = redis.call('HMGET', key, unpack(f)), 0
  for j = 1, #f do
    if v[j] then s = plus(s, tonumber(v[j]) or 0) end
  end
  return s
end
local cache = {}
local function pending(code)
  local v = cache[code]
  if v then return v end
  if code == 'cost' then v = plus(ov[1], bsum(KEYS[5], c_sec))
  elseif code == 'client_cost' then v = plus(ov[3], bsum(KEYS[12], c_sec))
  elseif code == 'tokens' then v = plus(ov[2], bsum(KEYS[6], c_sec))
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
  -- An integer reply (exact: |p| <= CEILING), with no text made for it here.
  got[k] = p
  local t = plus(p, l[3])
  if failed == nil and (t >= CEILING or t > l[2] or (l[3] == 0 and p >= l[2])) then failed = k end
end
if failed then return {'refused', tostring(failed - 1), unpack(got)} end
if reserve then
  local mine = ov[4]
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
  -- The held sums in one HSET; a sum that does not move is not written (as incr does).
  local set = {}
  for k, d in ipairs({cost, tokens, cost, 1, 1}) do
    if d ~= 0 then set[#set + 1] = OF[k]; set[#set + 1] = itoa(plus(ov[k], d)) end
  end
  redis.call('HSET', KEYS[3], unpack(set))
end
return {'ok', unpack(got)}
"#;

/// KEYS: res, exp, out, b:cost, b:tokens, b:jd, clients, b:cc:CLIENT (the record's client,
/// read before). ARGV: id, client, actual cost, actual tokens, now_sec. Returns the record, or
/// nil. Checks every argument and the record before the first write.
const LUA_SETTLE: &str = r#"
local id, client = ARGV[1], ARGV[2]
local acost, atok, sec = int(ARGV[3], 0, CEILING), int(ARGV[4], 0, CEILING), int(ARGV[5], 0, MAX_SEC)
if not (acost and atok and sec) then return bad('usage') end
local rec = redis.call('HGET', KEYS[1], id)
if not rec then return false end
local r = record(rec)
if not r then return redis.error_reply('launchguard: corrupt reservation record ' .. id) end
-- Records never change, so this is the client read before; a mismatch is corruption.
if r.client ~= client then return redis.error_reply('launchguard: reservation ' .. id .. ' changed') end
release(held_keys(), id, r, acost, atok, sec, KEYS[8])
return rec
"#;

/// KEYS: res, exp, out, b:cost, b:tokens, b:jd, clients, then b:cc:CLIENT for each client of
/// ARGV. ARGV: now_ms, now_sec, nclients, clients..., ids.... Expires the given reservations
/// that are still due (their estimate is booked as settled; another replica may have swept or
/// a caller settled them since they were read). Returns {expired, corrupt records dropped}.
const LUA_EXPIRE: &str = r#"
local now_ms, now_sec, nc = int(ARGV[1], 0, MAX_SEC * 1000), int(ARGV[2], 0, MAX_SEC), int(ARGV[3], 0, 5000)
if not (now_ms and now_sec and nc) or #KEYS ~= 7 + nc or #ARGV < 3 + nc then return bad('expire') end
local K, cc = held_keys(), {}
for k = 1, nc do cc[ARGV[3 + k]] = KEYS[7 + k] end
local expired, dropped = 0, 0
for j = 4 + nc, #ARGV do
  local id = ARGV[j]
  local due = tonumber(redis.call('ZSCORE', K.exp, id) or 'x')
  if due and due <= now_ms then
    local rec = redis.call('HGET', K.res, id)
    local r = rec and record(rec)
    if r and cc[r.client] then
      release(K, id, r, r.cost, r.tokens, now_sec, cc[r.client])
      expired = expired + 1
    elseif not r then
      -- Gone, or not ours to count: drop it from both, touching no counter.
      if rec then dropped = dropped + 1 end
      redis.call('HDEL', K.res, id)
      redis.call('ZREM', K.exp, id)
    end
    -- (a record of an undeclared client waits for the next sweep, which declares it)
  end
end
return {expired, dropped}
"#;

/// KEYS: b:cost, b:tokens, b:visual, b:js, b:jd, b:nc, b:api. ARGV: now_sec, prune_before_sec.
/// Drops buckets older than prune_before (api: older than the last minute).
const LUA_PRUNE: &str = r#"
local now_sec, before = int(ARGV[1], 0, MAX_SEC), int(ARGV[2], -MAX_SEC, MAX_SEC)
if not (now_sec and before) then return bad('prune') end
local function prune(key, b)
  for _, s in ipairs(redis.call('HKEYS', key)) do
    if (tonumber(s) or -1) < b then redis.call('HDEL', key, s) end
  end
end
for k = 1, 6 do prune(KEYS[k], before) end
prune(KEYS[7], now_sec - 60)
return 0
"#;

/// KEYS: clients, then b:cc:CLIENT for each client of ARGV. ARGV: prune_before_sec, clients....
/// Drops those clients' old buckets, and a client with none left from the set.
const LUA_PRUNE_CLIENTS: &str = r#"
local before = int(ARGV[1], -MAX_SEC, MAX_SEC)
if not before or #KEYS ~= #ARGV then return bad('prune clients') end
for k = 2, #KEYS do
  for _, s in ipairs(redis.call('HKEYS', KEYS[k])) do
    if (tonumber(s) or -1) < before then redis.call('HDEL', KEYS[k], s) end
  end
  if redis.call('EXISTS', KEYS[k]) == 0 then redis.call('SREM', KEYS[1], ARGV[k]) end
end
return 0
"#;

/// Wait this long after a failed connection before trying again, so an outage costs callers
/// one fast error each instead of a connect timeout each.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(250);

/// Reservations expired per script, so one call never blocks Redis for long.
const EXPIRE_BATCH: usize = 1000;

/// Redis timeouts a cluster connection may answer nothing for before it is replaced (see
/// `RedisStore::failed`): well past a single slow reply, well short of a stuck connection's
/// forever.
const STUCK_AFTER: u32 = 2;

/// Clients whose buckets one script prunes.
const PRUNE_BATCH: usize = 200;

/// Reservations this replica admitted that it remembers until they are settled or expire
/// (about 200 bytes each), so a settle here can price and release one in a single script with
/// no read before: records never change once written (the admit refuses an id already held),
/// and the script checks the record is still there. Past this, a settle here reads the record
/// from Redis first, as a settle of a reservation admitted by another replica does.
const KNOWN_CAP: usize = 20_000;

/// Where the store connects: one endpoint, or a cluster. The cluster has two clients: the
/// founder's changes wait for replicas (`WAIT` blocks the connection it is sent on), so they
/// get connections of their own with room for that wait.
enum Client {
    Single(Box<redis::Client>),
    Cluster {
        main: Box<ClusterClient>,
        admin: Box<ClusterClient>,
    },
}

/// One connection (one endpoint) or one per node (cluster); each multiplexes every caller.
#[derive(Clone)]
enum Conn {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// A lazily opened connection, when the next attempt may be made, and when it last answered.
struct Lazy {
    conn: RwLock<Option<Conn>>,
    next_try: tokio::sync::Mutex<Instant>,
    base: Instant,
    /// Milliseconds from `base` to the last answer (or to opening the connection).
    answered: AtomicU64,
}

impl Lazy {
    fn new() -> Self {
        Lazy {
            conn: RwLock::new(None),
            next_try: tokio::sync::Mutex::new(Instant::now()),
            base: Instant::now(),
            answered: AtomicU64::new(0),
        }
    }

    fn get(&self) -> Option<Conn> {
        self.conn.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, c: Option<Conn>) {
        if c.is_some() {
            self.answered_now();
        }
        *self.conn.write().unwrap_or_else(|e| e.into_inner()) = c;
    }

    fn answered_now(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.answered.fetch_max(ms, Ordering::Relaxed);
    }

    /// How long the connection has answered nothing.
    fn silent_for(&self) -> Duration {
        self.base
            .elapsed()
            .saturating_sub(Duration::from_millis(self.answered.load(Ordering::Relaxed)))
    }
}

/// The fixed keys of the admit script, in its `KEYS` order (the client's bucket key follows).
const ADMIT_KEYS: [&str; 11] = [
    "res", "exp", "out", "kill", "b:cost", "b:tokens", "b:visual", "b:js", "b:jd", "b:nc", "b:api",
];

pub struct RedisStore {
    client: Result<Client, Box<ClientError>>,
    prefix: String,
    /// `ADMIT_KEYS` with the prefix, spelled out once rather than per admit.
    admit_keys: Vec<String>,
    timeout: Duration,
    /// Replicas that must hold a founder's change (cluster mode; 0 for one endpoint).
    wait_replicas: u8,
    conn: Lazy,
    admin_conn: Lazy,
    /// Reservation id -> what this replica admitted (at most `KNOWN_CAP`); boxed, so the
    /// store stays about the size of the in-process one in `guard::Store`.
    known: Box<std::sync::Mutex<std::collections::HashMap<String, Reservation>>>,
    admit: Script,
    settle: Script,
    expire: Script,
    prune: Script,
    prune_clients: Script,
}

/// How far ahead of this replica's clock another replica's clock may run and still have the
/// buckets it writes counted at once by an admit here: the admit reads the seconds from the
/// snapshot's up to now + this by name (a bucket further ahead counts once this clock reaches
/// it). Replicas under NTP are milliseconds apart.
pub const BUCKET_SKEW_SECS: i64 = 2;

/// The longest range of seconds an admit reads by name; a longer one (a snapshot older than
/// about two minutes) reads each bucket hash whole, as every admit did before.
pub const BUCKET_SPAN_SECS: i64 = 128;

/// A script with the shared arithmetic and record helpers in front.
fn script(body: &str) -> Script {
    Script::new(&format!(
        "{}local SKEW, SPAN = {BUCKET_SKEW_SECS}, {BUCKET_SPAN_SECS}\n{LUA_RECORDS}{body}",
        bounded::LUA
    ))
}

fn redis_error(e: &redis::RedisError) -> StoreError {
    // The error text names the server, never the password of the URL.
    StoreError(format!("redis: {e}"))
}

/// Why the configured Redis fields make no client; every call of the store then fails with it.
/// Names the fields and the secret's reference (`${REDIS_URL}`, `file:…`), never the URL's
/// value, which may hold a password: the redis crate's URL errors are not kept for that reason.
#[derive(Debug, thiserror::Error)]
enum ClientError {
    #[error("guard.redis_url: {reference} is not set")]
    Unset { reference: String },
    /// The secret's file cannot be read.
    #[error(transparent)]
    Unreadable(#[from] crate::config::SecretFileError),
    /// The URL or the list of seed nodes is not usable as configured.
    #[error("guard.redis_url ({reference}): {problem}")]
    Url { reference: String, problem: String },
    #[error(
        "guard.redis_ca_file: applies to rediss:// URLs, and guard.redis_url ({reference}) is not one"
    )]
    CaWithoutTls { reference: String },
    #[error("guard.redis_ca_file: cannot read {}: {source}", path.display())]
    CaRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("guard.redis_ca_file: bad certificate in {}: {source}", path.display())]
    CaBad {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("guard.redis_ca_file: {} holds no PEM certificate", path.display())]
    CaEmpty { path: PathBuf },
    /// The redis crate refused the TLS setup with the CA file.
    #[error("guard.redis_ca_file: {0}")]
    Tls(#[source] Box<redis::RedisError>),
}

/// The configured client: `url` is one URL, or with `redis_cluster` a comma-separated list of
/// seed nodes. Errors name the field and never the URL's value (it may hold a password).
fn client(cfg: &GuardConfig, url: &SecretRef) -> Result<Client, ClientError> {
    let value = match url.resolve() {
        Ok(Some(u)) => u,
        Ok(None) => {
            return Err(ClientError::Unset {
                reference: url.to_string(),
            });
        }
        Err(e) => return Err(ClientError::Unreadable(e)),
    };
    let bad_url = |problem: String| ClientError::Url {
        reference: url.to_string(),
        problem,
    };
    let urls: Vec<&str> = value
        .expose()
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect();
    let invalid = |i: usize| {
        bad_url(if urls.len() > 1 {
            format!("seed node {} is not a valid Redis URL", i + 1)
        } else {
            "not a valid Redis URL".into()
        })
    };
    for (i, u) in urls.iter().enumerate() {
        if redis::parse_redis_url(u).is_none() {
            return Err(invalid(i));
        }
    }
    if urls.is_empty() {
        return Err(bad_url("it is empty".into()));
    }
    if urls.len() > 1 && !cfg.redis_cluster {
        return Err(bad_url(format!(
            "lists {} URLs: a list of seed nodes needs guard.redis_cluster: true",
            urls.len()
        )));
    }
    let tls = urls.iter().all(|u| u.starts_with("rediss://"));
    if !tls && urls.iter().any(|u| u.starts_with("rediss://")) {
        return Err(bad_url("the seed nodes mix rediss:// and redis://".into()));
    }
    let certs = match &cfg.redis_ca_file {
        None => None,
        Some(_) if !tls => {
            return Err(ClientError::CaWithoutTls {
                reference: url.to_string(),
            });
        }
        Some(path) => Some(TlsCertificates {
            client_tls: None,
            root_cert: Some(ca_pem(path)?),
        }),
    };
    if !cfg.redis_cluster {
        let c = match certs {
            Some(certs) => redis::Client::build_with_tls(urls[0], certs),
            None => redis::Client::open(urls[0]),
        };
        return c.map(|c| Client::Single(Box::new(c))).map_err(|e| {
            if cfg.redis_ca_file.is_some() {
                ClientError::Tls(Box::new(e))
            } else {
                invalid(0)
            }
        });
    }
    let t = cfg.redis_timeout.0;
    let build = |response: Duration| {
        // MOVED is followed at once; a CLUSTERDOWN during an election is retried a little,
        // then the call fails within the response timeout (the fail mode answers) instead of
        // waiting out the crate's default of 16 retries.
        let mut b = ClusterClientBuilder::new(urls.iter().copied())
            .connection_timeout(t)
            .response_timeout(response)
            .retries(2)
            .min_retry_wait(10)
            .max_retry_wait(100);
        if let Some(c) = &certs {
            b = b.certs(c.clone());
        }
        b.build().map_err(|e| {
            if cfg.redis_ca_file.is_some() {
                ClientError::Tls(Box::new(e))
            } else {
                bad_url(e.detail().unwrap_or("invalid seed nodes").to_string())
            }
        })
    };
    Ok(Client::Cluster {
        main: Box::new(build(t)?),
        admin: Box::new(build(t.saturating_mul(2))?),
    })
}

/// The CA file's bytes, once they are known to hold PEM certificates (the crate would take a
/// file of none and then refuse every server).
fn ca_pem(path: &std::path::Path) -> Result<Vec<u8>, ClientError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let bytes = std::fs::read(path).map_err(|source| ClientError::CaRead {
        path: path.to_path_buf(),
        source,
    })?;
    let mut n = 0;
    for c in CertificateDer::pem_slice_iter(&bytes) {
        c.map_err(|source| ClientError::CaBad {
            path: path.to_path_buf(),
            source,
        })?;
        n += 1;
    }
    if n == 0 {
        return Err(ClientError::CaEmpty {
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

impl RedisStore {
    /// A store for the configured URL; connects lazily, so Redis being down at start is an
    /// outage like any other, handled by the fail mode.
    pub fn new(cfg: &GuardConfig, url: &SecretRef) -> Self {
        let prefix = format!("{{{}}}", cfg.redis_prefix);
        RedisStore {
            client: client(cfg, url).map_err(Box::new),
            admit_keys: ADMIT_KEYS.iter().map(|k| format!("{prefix}:{k}")).collect(),
            prefix,
            timeout: cfg.redis_timeout.0,
            wait_replicas: if cfg.redis_cluster {
                cfg.redis_wait_replicas
            } else {
                0
            },
            conn: Lazy::new(),
            admin_conn: Lazy::new(),
            known: Box::default(),
            admit: script(LUA_ADMIT),
            settle: script(LUA_SETTLE),
            expire: script(LUA_EXPIRE),
            prune: script(LUA_PRUNE),
            prune_clients: script(LUA_PRUNE_CLIENTS),
        }
    }

    fn key(&self, k: &str) -> String {
        format!("{}:{k}", self.prefix)
    }

    fn known(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Reservation>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The reservation `id` as its record in Redis holds it (None when it is not there). The
    /// record holds no expiry (the `exp` set does) and no new-client flag: those are left as
    /// the epoch and false, and this reservation is not remembered.
    async fn read_record(&self, id: &str) -> Result<Option<Reservation>, StoreError> {
        let rec: Option<String> = self
            .cmd(redis::cmd("HGET").arg(self.key("res")).arg(id))
            .await?;
        let Some(rec) = rec else {
            return Ok(None);
        };
        let f: Vec<&str> = rec.splitn(6, '|').collect();
        let malformed = || StoreError(format!("redis: malformed reservation {id}"));
        if f.len() != 6 {
            return Err(malformed());
        }
        Ok(Some(Reservation {
            id: id.to_string(),
            client_id: f[0].to_string(),
            kind: Kind::parse(f[1]).ok_or_else(malformed)?,
            amounts: Amounts {
                cost_nano: f[2].parse().map_err(|_| malformed())?,
                tokens: f[3].parse().map_err(|_| malformed())?,
            },
            provider: f[4].to_string(),
            model: f[5].to_string(),
            new_client: false,
            expires: DateTime::UNIX_EPOCH,
        }))
    }

    /// The declared keys of a release (`LUA_RECORDS`' `held_keys`), in order.
    fn held_keys(&self) -> [String; 7] {
        ["res", "exp", "out", "b:cost", "b:tokens", "b:jd", "clients"].map(|k| self.key(k))
    }

    fn client_key(&self, client: &str) -> String {
        format!("{}:b:cc:{client}", self.prefix)
    }

    /// The open connection, or a new one (at most one attempt per backoff).
    async fn open(&self, which: &Lazy, admin: bool) -> Result<Conn, StoreError> {
        if let Some(c) = which.get() {
            return Ok(c);
        }
        let client = self
            .client
            .as_ref()
            .map_err(|e| StoreError(e.to_string()))?;
        let mut next = which.next_try.lock().await;
        if let Some(c) = which.get() {
            return Ok(c);
        }
        if Instant::now() < *next {
            return Err(StoreError("redis: unreachable, retrying shortly".into()));
        }
        let connect = async {
            match client {
                Client::Single(c) => {
                    let response = if admin {
                        self.timeout.saturating_mul(2)
                    } else {
                        self.timeout
                    };
                    let cfg = AsyncConnectionConfig::new()
                        .set_connection_timeout(Some(self.timeout))
                        .set_response_timeout(Some(response));
                    c.get_multiplexed_async_connection_with_config(&cfg)
                        .await
                        .map(Conn::Single)
                }
                Client::Cluster { main, admin: a } => {
                    let c = if admin { a } else { main };
                    c.get_async_connection().await.map(Conn::Cluster)
                }
            }
        };
        // A cluster connection asks a seed for the slot map, then connects to every master:
        // bounded as a whole too.
        let got = match tokio::time::timeout(self.timeout.saturating_mul(4), connect).await {
            Ok(r) => r.map_err(|e| redis_error(&e)),
            Err(_) => Err(StoreError(format!(
                "redis: no connection within {:?}",
                self.timeout.saturating_mul(4)
            ))),
        };
        match got {
            Ok(c) => {
                if !admin {
                    tracing::info!("guard: connected to redis");
                }
                which.set(Some(c.clone()));
                Ok(c)
            }
            Err(e) => {
                *next = Instant::now() + RECONNECT_BACKOFF;
                Err(e)
            }
        }
    }

    async fn conn(&self) -> Result<Conn, StoreError> {
        self.open(&self.conn, false).await
    }

    /// What a call's outcome says about its connection. Any answer from Redis, an error reply
    /// included, shows it alive.
    fn answered<T>(&self, which: &Lazy, r: redis::RedisResult<T>) -> Result<T, StoreError> {
        match r {
            Ok(v) => {
                which.answered_now();
                Ok(v)
            }
            Err(e) => {
                if matches!(e.kind(), redis::ErrorKind::Server(_)) {
                    which.answered_now();
                }
                Err(self.failed(which, &e))
            }
        }
    }

    /// Drops a connection to one endpoint that failed, so the next call reconnects. A timeout
    /// alone keeps it: one slow reply under a burst must not turn every caller away while
    /// reconnecting.
    ///
    /// A cluster connection reconnects to nodes, and refreshes its slot map after a failover,
    /// by itself, so it is kept, with one exception: redis 1.8.1's cluster connection can
    /// deadlock in its own recovery when a node dies under concurrent load (a node repair
    /// waiting for its lock while the recovery that holds it waits for the repair; reproduced
    /// with 500 concurrent scripts and a SIGKILLed master: every call times out, forever). One
    /// that has answered nothing but timeouts for `STUCK_AFTER` redis timeouts is replaced by a
    /// new one from the seed nodes.
    fn failed(&self, which: &Lazy, e: &redis::RedisError) -> StoreError {
        if let Some(Conn::Cluster(_)) = which.get() {
            let silent = which.silent_for();
            if e.is_timeout() && silent > self.timeout.saturating_mul(STUCK_AFTER) {
                tracing::warn!(
                    silent_ms = silent.as_millis() as u64,
                    "guard: the redis cluster connection answers nothing; opening a new one from the seed nodes"
                );
                which.set(None);
            }
            return redis_error(e);
        }
        if e.is_timeout() {
            return redis_error(e);
        }
        if e.is_io_error()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_unrecoverable_error()
        {
            which.set(None);
        }
        redis_error(e)
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        inv: &redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut c = self.conn().await?;
        let r = inv.invoke_async(&mut c).await;
        self.answered(&self.conn, r)
    }

    async fn cmd<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let mut c = self.conn().await?;
        let r = cmd.query_async(&mut c).await;
        self.answered(&self.conn, r)
    }

    /// Expires due reservations, at most `EXPIRE_BATCH` a script: reads them first, so the
    /// script can declare the bucket key of each one's client.
    async fn expire_due(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let now_ms = now.timestamp_millis();
        for _ in 0..20 {
            let ids: Vec<String> = self
                .cmd(
                    redis::cmd("ZRANGEBYSCORE")
                        .arg(self.key("exp"))
                        .arg("-inf")
                        .arg(now_ms)
                        .arg("LIMIT")
                        .arg(0)
                        .arg(EXPIRE_BATCH),
                )
                .await?;
            if ids.is_empty() {
                return Ok(());
            }
            let recs: Vec<Option<String>> = self
                .cmd(redis::cmd("HMGET").arg(self.key("res")).arg(&ids))
                .await?;
            let clients: BTreeSet<&str> = recs
                .iter()
                .flatten()
                .filter_map(|r| r.split('|').next())
                .filter(|c| !c.is_empty())
                .collect();
            let mut inv = self.expire.prepare_invoke();
            for k in self.held_keys() {
                inv.key(k);
            }
            for c in &clients {
                inv.key(self.client_key(c));
            }
            inv.arg(now_ms).arg(now.timestamp()).arg(clients.len());
            for c in &clients {
                inv.arg(*c);
            }
            for id in &ids {
                inv.arg(id);
            }
            let (_expired, dropped): (i64, i64) = self.run(&inv).await?;
            if dropped > 0 {
                tracing::warn!(
                    dropped,
                    "guard: dropped expired reservation records in redis that were not launchguard's"
                );
            }
            if ids.len() < EXPIRE_BATCH {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Pushes a founder's change to Redis and, in cluster mode, waits until
    /// `redis_wait_replicas` replicas of the slot's master hold it: the write and its `WAIT`
    /// go in one pipeline, to the one node that serves the slot, on a connection of their own
    /// (`WAIT` blocks the connection it is sent on, and counts the writes sent on it).
    async fn write_admin(&self, write: Cmd) -> Result<(), StoreError> {
        let mut c = self.open(&self.admin_conn, true).await?;
        let mut p = redis::pipe();
        p.add_command(write).ignore();
        if self.wait_replicas == 0 {
            let r = p.query_async::<()>(&mut c).await;
            return self.answered(&self.admin_conn, r);
        }
        let ms = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX);
        p.cmd("WAIT").arg(self.wait_replicas).arg(ms);
        let r = p.query_async::<(i64,)>(&mut c).await;
        let (acked,) = self.answered(&self.admin_conn, r)?;
        if acked < i64::from(self.wait_replicas) {
            return Err(StoreError(format!(
                "redis: only the master holds it ({acked} of the {} replicas guard.redis_wait_replicas asks for acknowledged it within {}ms); a failover now could lose it: repeat the call",
                self.wait_replicas, ms
            )));
        }
        Ok(())
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
        for k in &self.admit_keys {
            inv.key(k);
        }
        inv.key(self.client_key(&r.client_id));
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
            Some("ok") => {
                let pending = parse_nums(&reply[1..])?;
                if r.reserves() {
                    let mut known = self.known();
                    if known.len() < KNOWN_CAP {
                        known.insert(r.id.clone(), r.clone());
                    }
                }
                Ok(Admitted::Reserved(pending))
            }
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
        // Price from the record (remembered since this replica admitted it, or read), then
        // release atomically (Unknown if it expired or was settled meanwhile). The entry is
        // taken out first: a settle that fails is retried with a read, which is always right.
        let remembered = self.known().remove(id);
        let from_memory = remembered.is_some();
        let k = match remembered {
            Some(k) => k,
            None => match self.read_record(id).await? {
                Some(k) => k,
                None => return Ok(Settle::Unknown),
            },
        };
        let actual = match price(&k.provider, &k.model) {
            Ok(a) => a,
            Err(why) => {
                // Still held: remember it again for the settle that follows.
                if from_memory {
                    self.known().insert(id.to_string(), k);
                }
                return Ok(Settle::Refused(why.to_string()));
            }
        };
        let mut inv = self.settle.prepare_invoke();
        for key in self.held_keys() {
            inv.key(key);
        }
        inv.key(self.client_key(&k.client_id))
            .arg(id)
            .arg(&k.client_id)
            .arg(actual.cost_nano)
            .arg(actual.tokens)
            .arg(now.timestamp());
        let done: Option<String> = self.run(&inv).await?;
        Ok(match done {
            Some(_) => Settle::Done(Settled {
                kind: k.kind,
                reserved: k.amounts,
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
        // What expired is released by the sweep below (here or on another replica).
        self.known().retain(|_, k| k.expires > now);
        self.expire_due(now).await?;
        let mut inv = self.prune.prepare_invoke();
        for k in [
            "b:cost", "b:tokens", "b:visual", "b:js", "b:jd", "b:nc", "b:api",
        ] {
            inv.key(self.key(k));
        }
        inv.arg(now_sec).arg(before);
        let _: i64 = self.run(&inv).await?;
        let clients: Vec<String> = self
            .cmd(redis::cmd("SMEMBERS").arg(self.key("clients")))
            .await?;
        for batch in clients.chunks(PRUNE_BATCH) {
            let mut inv = self.prune_clients.prepare_invoke();
            inv.key(self.key("clients")).arg(before);
            for c in batch {
                inv.key(self.client_key(c)).arg(c);
            }
            let _: i64 = self.run(&inv).await?;
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
        let got: redis::RedisResult<(Pairs, Pairs, Pairs)> = redis::pipe()
            .cmd("HGETALL")
            .arg(self.key("kill"))
            .cmd("HGETALL")
            .arg(self.key("override"))
            .cmd("HGETALL")
            .arg(self.key("approval"))
            .query_async(&mut c)
            .await;
        let (kill, over, approvals) = self.answered(&self.conn, got)?;
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
        let json = |v: Result<String, serde_json::Error>| v.map_err(|e| StoreError(e.to_string()));
        let mut write = redis::Cmd::new();
        match change {
            Change::SetKill(..) => {
                let v = json(serde_json::to_string(&one.kill_switches[&field]))?;
                write.arg("HSET").arg(self.key("kill")).arg(&field).arg(v);
            }
            Change::ClearKill(_) => {
                write.arg("HDEL").arg(self.key("kill")).arg(&field);
            }
            Change::SetOverride { .. } => {
                let v = json(serde_json::to_string(&one.budget_overrides[&field]))?;
                write
                    .arg("HSET")
                    .arg(self.key("override"))
                    .arg(&field)
                    .arg(v);
            }
            Change::ClearOverride { .. } => {
                write.arg("HDEL").arg(self.key("override")).arg(&field);
            }
            Change::Approve { .. } => {
                let v = json(serde_json::to_string(&one.approvals[&field]))?;
                write
                    .arg("HSET")
                    .arg(self.key("approval"))
                    .arg(&field)
                    .arg(v);
            }
            Change::WithdrawApproval { .. } => {
                write.arg("HDEL").arg(self.key("approval")).arg(&field);
            }
        }
        self.write_admin(write).await?;
        self.admin().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The client `guard.redis_url` (written to a file) and the flags make, or the error.
    fn made(url: &str, cluster: bool, ca: Option<&str>) -> Result<&'static str, String> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("redis-url");
        std::fs::write(&file, url).unwrap();
        let ca_file = ca.map(|pem| {
            let p = dir.path().join("ca.pem");
            std::fs::write(&p, pem).unwrap();
            p
        });
        let cfg = GuardConfig {
            redis_cluster: cluster,
            redis_ca_file: ca_file,
            ..GuardConfig::default()
        };
        client(&cfg, &SecretRef::File(file))
            .map(|c| match c {
                Client::Single(_) => "single",
                Client::Cluster { .. } => "cluster",
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn one_url_or_a_list_of_seed_nodes() {
        assert_eq!(made("redis://127.0.0.1:6379/", false, None), Ok("single"));
        assert_eq!(
            made("rediss://default:tok@eu1.upstash.io:6379", false, None),
            Ok("single")
        );
        let seeds = "redis://:pw@10.0.0.1:7000, redis://:pw@10.0.0.2:7000,";
        assert_eq!(made(seeds, true, None), Ok("cluster"));
        // A managed cluster's one configuration endpoint is a list of one.
        assert_eq!(made("redis://cfg.example:6379", true, None), Ok("cluster"));

        let e = made(seeds, false, None).unwrap_err();
        assert!(e.contains("needs guard.redis_cluster: true"), "{e}");
        let e = made("redis://:hunter2@a:1,http://:hunter2@b:2", true, None).unwrap_err();
        assert!(e.contains("seed node 2 is not a valid Redis URL"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let e = made("rediss://a:1,redis://b:2", true, None).unwrap_err();
        assert!(e.contains("mix rediss:// and redis://"), "{e}");
        let e = made(" , ", false, None).unwrap_err();
        assert!(e.contains("is empty"), "{e}");
    }

    #[test]
    fn a_ca_file_goes_with_rediss_only() {
        let e = made("redis://127.0.0.1:6379/", false, Some("x")).unwrap_err();
        assert!(e.contains("applies to rediss:// URLs"), "{e}");
        let e = made("rediss://127.0.0.1:6379/", false, Some("not a certificate")).unwrap_err();
        assert!(e.contains("holds no PEM certificate"), "{e}");
        let e = made(
            "rediss://127.0.0.1:6379/",
            false,
            Some("-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----\n"),
        )
        .unwrap_err();
        assert!(e.contains("bad certificate"), "{e}");
    }
}
