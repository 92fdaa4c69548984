//! The ledger kept incrementally (pure: no I/O, no clock). The ledger's rows are summed per
//! (client, provider, model, priced) over slices of `occurred_at` whose bounds are the instants
//! the figures need (local midnights, the first of the month, the providers' UTC ranges). Each
//! slice holds two sums, split by the watermark on `recorded_at` (the database's clock):
//! `settled`, the rows recorded before it, which every later read sees unchanged; and `open`,
//! the rows recorded at or after it, read again whole on every cycle. A cycle reads only the
//! rows recorded since the previous watermark (`Ledger::apply`), so its cost follows the rows
//! added since the last cycle, not the day's volume. A slice is built (or re-validated) by
//! reading its settled rows in chunks (`Build`); what settles while it builds is kept apart
//! (`Build::since`) and added when the build ends.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use foldhash::{HashMap, HashMapExt, HashSet};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::core::bounded::Bounded;
use crate::figures::{Fig, Unavailable, UsageRow};

/// The grouping of the usage query: a client, provider and model, priced or not.
///
/// Made only by a ledger's `Interner` (its fields are private to this module), so within one
/// ledger equal texts are one `Arc`: equality and hashing go by the pointers and a merge reads
/// no text (at 100x a cycle merges hundreds of thousands of groups, and comparing and hashing
/// the texts was a third of it). Keys of two ledgers never meet in one map.
#[derive(Debug, Clone)]
pub struct Key {
    client: Option<Arc<str>>,
    provider: Arc<str>,
    model: Arc<str>,
    priced: bool,
}

/// An interned text's address, the identity of its text within one ledger.
fn addr(a: &Arc<str>) -> usize {
    Arc::as_ptr(a).cast::<u8>() as usize
}

impl PartialEq for Key {
    fn eq(&self, o: &Key) -> bool {
        let client = match (&self.client, &o.client) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        client
            && Arc::ptr_eq(&self.provider, &o.provider)
            && Arc::ptr_eq(&self.model, &o.model)
            && self.priced == o.priced
    }
}

impl Eq for Key {}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.client.as_ref().map(addr).hash(h);
        addr(&self.provider).hash(h);
        addr(&self.model).hash(h);
        self.priced.hash(h);
    }
}

impl Key {
    /// The usage query's order (provider, model, client, priced), which saved files and
    /// figures both follow.
    fn query_order(&self) -> (&str, &str, Option<&str>, bool) {
        (
            &self.provider,
            &self.model,
            self.client.as_deref(),
            self.priced,
        )
    }
}

/// The sums of one group. `rows` counts ledger rows (chunk sizing; not a figure).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sums {
    pub rows: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub characters: u64,
    pub requests: u64,
    pub cost_usd: Decimal,
}

impl Sums {
    fn add(&mut self, o: &Sums) {
        self.rows = self.rows.plus(o.rows);
        self.input_tokens = self.input_tokens.plus(o.input_tokens);
        self.output_tokens = self.output_tokens.plus(o.output_tokens);
        self.cache_read_tokens = self.cache_read_tokens.plus(o.cache_read_tokens);
        self.cache_write_tokens = self.cache_write_tokens.plus(o.cache_write_tokens);
        self.characters = self.characters.plus(o.characters);
        self.requests = self.requests.plus(o.requests);
        self.cost_usd = self.cost_usd.plus(o.cost_usd);
    }
}

/// Sums per group. foldhash, not the standard SipHash: at 100x a cycle merges hundreds of
/// thousands of groups, and hashing was a good part of that. Its seed is still random per
/// process, and the keys come from the platform's own ledger, not from callers.
pub type Agg = HashMap<Key, Sums>;

fn add_into(into: &mut Agg, key: &Key, s: &Sums) {
    match into.get_mut(key) {
        Some(v) => v.add(s),
        None => {
            into.insert(key.clone(), *s);
        }
    }
}

fn merge_into(into: &mut Agg, from: &Agg) {
    for (k, s) in from {
        add_into(into, k, s);
    }
}

fn rows_of(a: &Agg) -> u64 {
    a.values().fold(0, |n, s| n.plus(s.rows))
}

/// Shares the text of client ids, providers and models between groups and slices.
#[derive(Debug, Default)]
pub struct Interner(HashSet<Arc<str>>);

impl Interner {
    pub fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.0.insert(a.clone());
        a
    }

    /// Forgets text no group holds any more.
    pub fn sweep(&mut self) {
        self.0.retain(|a| Arc::strong_count(a) > 1);
    }

    pub fn key(&mut self, client: Option<&str>, provider: &str, model: &str, priced: bool) -> Key {
        Key {
            client: client.map(|c| self.get(c)),
            provider: self.get(provider),
            model: self.get(model),
            priced,
        }
    }
}

/// A slice's settled rows being read in chunks of `occurred_at`.
#[derive(Debug, Clone)]
pub struct Build {
    /// Reads the rows recorded before this watermark.
    pub before: DateTime<Utc>,
    /// `occurred_at` read up to here (exclusive).
    pub next: DateTime<Utc>,
    pub read: Agg,
    /// Rows that settled (crossed the watermark) since the build began.
    pub since: Agg,
}

/// Sums over [from, to) of `occurred_at`.
#[derive(Debug, Clone)]
pub struct Slice {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Whether `settled` holds every settled row (false until the first build ends).
    pub built: bool,
    pub settled: Agg,
    pub open: Agg,
    pub build: Option<Build>,
}

impl Slice {
    fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Slice {
        Slice {
            from,
            to,
            built: false,
            settled: Agg::new(),
            open: Agg::new(),
            build: None,
        }
    }

    /// Ledger rows this slice holds, for sizing the chunks of a rebuild.
    pub fn rows(&self) -> u64 {
        rows_of(&self.settled).plus(rows_of(&self.open))
    }
}

/// One group of the rows recorded since the last watermark, as the delta query returns it:
/// the slice it falls in (index into `Ledger::slices`), whether it is settled under the new
/// watermark, the group and its sums.
#[derive(Debug, Clone)]
pub struct DeltaRow {
    pub slice: usize,
    pub settled: bool,
    pub key: Key,
    pub sums: Sums,
}

/// [since, until) in UTC.
pub type Range = (DateTime<Utc>, DateTime<Utc>);

/// The incremental ledger: contiguous slices and the watermark that splits them.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Rows recorded before this are in `settled`; None before the first cycle.
    pub watermark: Option<DateTime<Utc>>,
    pub slices: Vec<Slice>,
    pub names: Interner,
}

impl Ledger {
    /// Forgets everything: the next cycle builds every slice again.
    pub fn reset(&mut self) {
        *self = Ledger::default();
    }

    /// Lays the slices out for the ranges the figures need. A slice that already exists is
    /// kept; a new one made of whole built slices is their merge (a new day: yesterday joins
    /// the month's closed days; a minute leaves the spend window); where only its start is made
    /// of whole built slices, that part is their merge and the rest is left to build (a
    /// moving bound crossed the last slice); any other new slice is left to build. Slices no
    /// range needs are dropped.
    pub fn plan(&mut self, ranges: &[Range]) {
        let mut bounds: Vec<DateTime<Utc>> = ranges
            .iter()
            .filter(|(a, b)| a < b)
            .flat_map(|&(a, b)| [a, b])
            .collect();
        bounds.sort();
        bounds.dedup();
        let needed = |a: DateTime<Utc>, b: DateTime<Utc>| {
            ranges.iter().any(|&(s, u)| s <= a && b <= u && s < u)
        };
        let old = std::mem::take(&mut self.slices);
        // A slice kept as it is is moved, not copied (at 100x a slice holds tens of thousands
        // of groups); the bounds are distinct, so no later window needs it.
        let (same, old): (Vec<Slice>, Vec<Slice>) = old.into_iter().partition(|s| {
            bounds
                .binary_search(&s.from)
                .is_ok_and(|i| bounds.get(i + 1) == Some(&s.to) && needed(s.from, s.to))
        });
        let mut same = same.into_iter().peekable();
        let mut out = Vec::new();
        for w in bounds.windows(2) {
            let (a, b) = (w[0], w[1]);
            if !needed(a, b) {
                continue;
            }
            // (A duplicate left behind, only in a malformed saved ledger, is dropped.)
            while same.next_if(|s| s.from < a).is_some() {}
            if let Some(s) = same.next_if(|s| s.from == a && s.to == b) {
                out.push(s);
                continue;
            }
            out.extend(reused(&old, a, b));
        }
        self.slices = out;
        self.names.sweep();
    }

    /// The bounds the delta query classifies `occurred_at` by: slice `i` is bucket `i + 1` of
    /// `width_bucket(occurred_at, bounds)` when the slices are contiguous. Gaps between
    /// slices get a bucket of their own, which maps to no slice.
    pub fn bounds(&self) -> (Vec<DateTime<Utc>>, Vec<Option<usize>>) {
        let mut bounds = Vec::new();
        let mut bucket_slice = vec![None]; // bucket 0: before the first bound
        for (i, s) in self.slices.iter().enumerate() {
            if bounds.last() != Some(&s.from) {
                if !bounds.is_empty() {
                    bucket_slice.push(None); // a gap
                }
                bounds.push(s.from);
            }
            bounds.push(s.to);
            bucket_slice.push(Some(i));
        }
        (bounds, bucket_slice)
    }

    /// Applies the rows recorded since the previous watermark (read under `watermark`, the new
    /// one): settled groups join `settled` (and a running build's `since`); every slice's
    /// `open` is replaced by the open groups. A slice not built and not building ignores
    /// settled rows: the build that starts after this reads them.
    pub fn apply(&mut self, watermark: DateTime<Utc>, rows: &[DeltaRow]) {
        for s in &mut self.slices {
            s.open.clear();
        }
        for r in rows {
            let Some(s) = self.slices.get_mut(r.slice) else {
                continue;
            };
            if !r.settled {
                add_into(&mut s.open, &r.key, &r.sums);
                continue;
            }
            if let Some(b) = &mut s.build {
                add_into(&mut b.since, &r.key, &r.sums);
            }
            if s.built {
                add_into(&mut s.settled, &r.key, &r.sums);
            }
        }
        self.watermark = Some(watermark);
    }

    /// Starts building every slice not built and not building, under the current watermark.
    pub fn start_builds(&mut self) {
        let Some(w) = self.watermark else { return };
        for s in &mut self.slices {
            if !s.built && s.build.is_none() {
                s.build = Some(Build {
                    before: w,
                    next: s.from,
                    read: Agg::new(),
                    since: Agg::new(),
                });
            }
        }
    }

    /// Starts re-validating every built slice: reading its settled rows again, to replace
    /// what updates or deletes after settling made stale.
    pub fn start_revalidation(&mut self) {
        let Some(w) = self.watermark else { return };
        for s in &mut self.slices {
            if s.build.is_none() {
                s.build = Some(Build {
                    before: w,
                    next: s.from,
                    read: Agg::new(),
                    since: Agg::new(),
                });
            }
        }
    }

    /// Whether any slice is building.
    pub fn building(&self) -> bool {
        self.slices.iter().any(|s| s.build.is_some())
    }

    /// Adds one chunk's rows [build.next, to) to slice `i`'s build; when the chunk reaches the
    /// slice's end, the build replaces `settled`. Returns whether the settled sums changed
    /// (a re-validation that found rows changed after they settled).
    pub fn chunk_read(&mut self, i: usize, to: DateTime<Utc>, rows: Vec<(Key, Sums)>) -> bool {
        let Some(s) = self.slices.get_mut(i) else {
            return false;
        };
        let Some(b) = &mut s.build else { return false };
        for (k, v) in &rows {
            add_into(&mut b.read, k, v);
        }
        b.next = to;
        if to < s.to {
            return false;
        }
        let mut b = s.build.take().expect("building");
        merge_into(&mut b.read, &b.since);
        let changed = s.built && b.read != s.settled;
        s.settled = b.read;
        s.built = true;
        changed
    }

    /// The rows of [from, to) as the usage query would group them, or why they are not known
    /// yet. `from`/`to` must be slice bounds.
    pub fn rows(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Fig<Vec<UsageRow>> {
        let mut agg = Agg::new();
        let mut covered = from;
        for s in self
            .slices
            .iter()
            .filter(|s| s.from >= from && s.to <= to && s.from < s.to)
        {
            if s.from != covered {
                break;
            }
            if !s.built {
                let (done, total) = self.build_progress();
                return Err(Unavailable {
                    reason: format!(
                        "usage query: reading the ledger since {} after start ({done} of {total} \
                         slices read)",
                        s.from.format("%Y-%m-%d %H:%M UTC")
                    ),
                });
            }
            merge_into(&mut agg, &s.settled);
            merge_into(&mut agg, &s.open);
            covered = s.to;
        }
        if covered < to && from < to {
            return Err(Unavailable {
                reason: format!(
                    "usage query: the ledger from {} to {} is not kept",
                    from.format("%Y-%m-%d %H:%M UTC"),
                    to.format("%Y-%m-%d %H:%M UTC")
                ),
            });
        }
        Ok(usage_rows(agg))
    }

    fn build_progress(&self) -> (usize, usize) {
        let done = self.slices.iter().filter(|s| s.built).count();
        (done, self.slices.len())
    }
}

/// The format of a saved ledger; a file of another version is ignored (a rebuild follows).
/// Version 2 names each client id, provider and model once (`Saved::names`) and writes each
/// group as one array of indexes into that table and sums, where version 1 repeated the three
/// strings and every field name in each group.
pub const SAVED_VERSION: u32 = 2;

/// At most this many slices in a saved ledger: far above what the figures' ranges lay out (a
/// few dozen), so only a corrupt or hostile file meets it.
pub const SAVED_MAX_SLICES: usize = 10_000;

/// The kept ledger as written to `database.state_file`: the settled sums of built slices and
/// the watermark they were settled under. Open sums are not kept: a restart reads every row
/// recorded since the watermark again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    pub version: u32,
    /// The view and the tables behind it (and their files), so a file from another database
    /// or a rewritten table is not used.
    pub identity: String,
    pub watermark: DateTime<Utc>,
    /// The update and delete counters when the settled rows were last read whole.
    pub changes: String,
    /// Every client id, provider and model the groups name, once each.
    pub names: Vec<String>,
    pub slices: Vec<SavedSlice>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedSlice {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub groups: Vec<SavedGroup>,
}

/// One group, written as an array: the client (null: none), provider and model as indexes
/// into `Saved::names`, whether priced, the counts (rows, input, output, cache read and cache
/// write tokens, characters, requests) and the cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedGroup(
    pub Option<u32>,
    pub u32,
    pub u32,
    pub bool,
    pub [u64; 7],
    pub Decimal,
);

impl Saved {
    /// A saved ledger from the file's bytes, or why not (a file of another version says so).
    pub fn parse(bytes: &[u8]) -> Result<Saved, String> {
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        serde_json::from_slice::<Saved>(bytes).map_err(|e| {
            match serde_json::from_slice::<Version>(bytes) {
                Ok(v) if v.version != SAVED_VERSION => format!("it is version {}", v.version),
                _ => format!("it cannot be read ({e})"),
            }
        })
    }
}

impl Ledger {
    /// What to save, or None while a slice is not built or is building (a half-read slice is
    /// not worth keeping, and a re-validation may be replacing stale sums).
    pub fn save(&self, identity: &str, changes: &str) -> Option<Saved> {
        let watermark = self.watermark?;
        if self.slices.is_empty() || self.slices.iter().any(|s| !s.built || s.build.is_some()) {
            return None;
        }
        let mut names: Vec<String> = Vec::new();
        let mut index: HashMap<&str, u32> = HashMap::new();
        let mut slices = Vec::with_capacity(self.slices.len());
        for s in &self.slices {
            let mut groups: Vec<(&Key, &Sums)> = s.settled.iter().collect();
            groups.sort_unstable_by(|a, b| a.0.query_order().cmp(&b.0.query_order()));
            let mut out = Vec::with_capacity(groups.len());
            for (k, v) in groups {
                let mut id = |n| name_index(&mut names, &mut index, n);
                let client = match &k.client {
                    Some(c) => Some(id(c)?),
                    None => None,
                };
                out.push(SavedGroup(
                    client,
                    id(&k.provider)?,
                    id(&k.model)?,
                    k.priced,
                    [
                        v.rows,
                        v.input_tokens,
                        v.output_tokens,
                        v.cache_read_tokens,
                        v.cache_write_tokens,
                        v.characters,
                        v.requests,
                    ],
                    v.cost_usd,
                ));
            }
            slices.push(SavedSlice {
                from: s.from,
                to: s.to,
                groups: out,
            });
        }
        Some(Saved {
            version: SAVED_VERSION,
            identity: identity.to_string(),
            watermark,
            changes: changes.to_string(),
            names,
            slices,
        })
    }

    /// The ledger a saved one describes: its slices built with their settled sums, nothing
    /// open, and its watermark, so the next delta reads every row recorded since. Or why not:
    /// too many slices, one that ends before it starts, a name index past the table.
    pub fn restore(saved: &Saved) -> Result<Ledger, String> {
        if saved.slices.len() > SAVED_MAX_SLICES {
            return Err(format!(
                "it has {} slices, more than {SAVED_MAX_SLICES}",
                saved.slices.len()
            ));
        }
        let mut l = Ledger {
            watermark: Some(saved.watermark),
            ..Ledger::default()
        };
        let names: Vec<Arc<str>> = saved.names.iter().map(|n| l.names.get(n)).collect();
        for (n, s) in saved.slices.iter().enumerate() {
            if s.from >= s.to {
                return Err(format!("slice {n} does not end after it starts"));
            }
            let name = |i: u32, g: usize| -> Result<Arc<str>, String> {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| names.get(i))
                    .cloned()
                    .ok_or_else(|| {
                        format!(
                            "slice {n}, group {g} names index {i}, past the {} names",
                            names.len()
                        )
                    })
            };
            let mut slice = Slice::new(s.from, s.to);
            slice.built = true;
            slice.settled.reserve(s.groups.len());
            for (g, SavedGroup(client, provider, model, priced, c, cost)) in
                s.groups.iter().enumerate()
            {
                let key = Key {
                    client: match client {
                        Some(i) => Some(name(*i, g)?),
                        None => None,
                    },
                    provider: name(*provider, g)?,
                    model: name(*model, g)?,
                    priced: *priced,
                };
                // Counts saturate at the ceiling, as sums made here do.
                let n = |i: usize| 0u64.plus(c[i]);
                let sums = Sums {
                    rows: n(0),
                    input_tokens: n(1),
                    output_tokens: n(2),
                    cache_read_tokens: n(3),
                    cache_write_tokens: n(4),
                    characters: n(5),
                    requests: n(6),
                    cost_usd: *cost,
                };
                // One hash per group (a saved slice's groups are distinct unless the file lies).
                slice
                    .settled
                    .entry(key)
                    .and_modify(|v| v.add(&sums))
                    .or_insert(sums);
            }
            l.slices.push(slice);
        }
        Ok(l)
    }
}

/// The index of `n` in the names table of a saved ledger, added when new; None past u32.
fn name_index<'a>(
    names: &mut Vec<String>,
    index: &mut HashMap<&'a str, u32>,
    n: &'a Arc<str>,
) -> Option<u32> {
    if let Some(&i) = index.get(&**n) {
        return Some(i);
    }
    let i = u32::try_from(names.len()).ok()?;
    names.push(n.to_string());
    index.insert(n, i);
    Some(i)
}

/// The slices that cover a new [a, b): the merge of the old built slices (none building) that
/// tile its longest start [a, x), then [x, b) as an old slice when one is exactly that, else
/// as a new one to build. So a bound that moves past the last slice re-reads only the rows
/// after that slice's start, not the whole day.
fn reused(old: &[Slice], a: DateTime<Utc>, b: DateTime<Utc>) -> Vec<Slice> {
    let mut at = a;
    let mut head = Slice::new(a, a);
    head.built = true;
    while at < b {
        let Some(s) = old
            .iter()
            .find(|s| s.from == at && s.to <= b && s.built && s.build.is_none())
        else {
            break;
        };
        merge_into(&mut head.settled, &s.settled);
        merge_into(&mut head.open, &s.open);
        at = s.to;
    }
    head.to = at;
    let mut out = Vec::with_capacity(2);
    if a < at {
        out.push(head);
    }
    if at < b {
        let rest = old.iter().find(|s| s.from == at && s.to == b);
        out.push(rest.cloned().unwrap_or_else(|| Slice::new(at, b)));
    }
    out
}

/// Groups as figures, in the usage query's order (provider, model, client, priced).
pub fn usage_rows(agg: Agg) -> Vec<UsageRow> {
    let mut v: Vec<(Key, Sums)> = agg.into_iter().filter(|(_, s)| s.rows > 0).collect();
    v.sort_by(|a, b| a.0.query_order().cmp(&b.0.query_order()));
    v.into_iter()
        .map(|(k, s)| UsageRow {
            client_id: k.client.as_deref().map(str::to_string),
            provider: k.provider.to_string(),
            model: k.model.to_string(),
            priced: k.priced,
            input_tokens: s.input_tokens,
            output_tokens: s.output_tokens,
            cache_read_tokens: s.cache_read_tokens,
            cache_write_tokens: s.cache_write_tokens,
            characters: s.characters,
            requests: s.requests,
            cost_usd: s.cost_usd,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32) -> DateTime<Utc> {
        format!("2026-11-{:02}T{:02}:00:00Z", 1 + h / 24, h % 24)
            .parse()
            .unwrap()
    }

    fn sums(rows: u64, cost: i64) -> Sums {
        Sums {
            rows,
            input_tokens: 10 * rows,
            requests: rows,
            cost_usd: Decimal::new(cost, 2),
            ..Sums::default()
        }
    }

    fn delta(l: &mut Ledger, slice: usize, settled: bool, client: &str, s: Sums) -> DeltaRow {
        DeltaRow {
            slice,
            settled,
            key: l.names.key(Some(client), "openai", "gpt-4o", true),
            sums: s,
        }
    }

    /// Builds every slice from `rows_per_slice` settled rows of client `a` in one chunk.
    fn build_all(l: &mut Ledger, per_slice: Sums) {
        l.start_builds();
        for i in 0..l.slices.len() {
            let to = l.slices[i].to;
            let k = l.names.key(Some("a"), "openai", "gpt-4o", true);
            l.chunk_read(i, to, vec![(k, per_slice)]);
        }
    }

    #[test]
    fn equal_texts_make_one_group_whatever_string_they_came_from() {
        let mut l = Ledger::default();
        let (client, model) = (String::from("c1"), format!("gpt-{}", "4o"));
        let a = l.names.key(Some(&client), "openai", &model, true);
        let b = l.names.key(Some("c1"), "openai", "gpt-4o", true);
        assert_eq!(a, b);
        assert_ne!(a, l.names.key(Some("c1"), "openai", "gpt-4o", false));
        assert_ne!(a, l.names.key(None, "openai", "gpt-4o", true));
        assert_ne!(a, l.names.key(Some("c2"), "openai", "gpt-4o", true));
        // A text swept when no group held it, then met again, still makes the one group the
        // kept slices hold.
        l.plan(&[(t(0), t(24))]);
        l.apply(t(1), &[]);
        build_all(&mut l, sums(1, 100));
        l.names.sweep();
        let again = delta(&mut l, 0, true, "a", sums(2, 50));
        l.apply(t(2), &[again]);
        assert_eq!(l.slices[0].settled.len(), 1, "one group, summed");
        assert_eq!(l.slices[0].settled.values().next().unwrap().rows, 3);
    }

    #[test]
    fn settled_rows_accumulate_and_open_rows_are_replaced() {
        let mut l = Ledger::default();
        l.plan(&[(t(0), t(24)), (t(24), t(48))]);
        assert_eq!(l.slices.len(), 2);
        l.apply(t(30), &[]);
        build_all(&mut l, sums(1, 100));
        let d1 = delta(&mut l, 1, true, "b", sums(2, 50));
        let o1 = delta(&mut l, 1, false, "b", sums(1, 7));
        l.apply(t(31), &[d1, o1]);
        let today = l.rows(t(24), t(48)).unwrap();
        let total: Decimal = today.iter().map(|r| r.cost_usd).sum();
        assert_eq!(total, Decimal::new(100 + 50 + 7, 2));
        // The open row settles: read again as settled, it is counted once.
        let d2 = delta(&mut l, 1, true, "b", sums(1, 7));
        l.apply(t(32), &[d2]);
        let total: Decimal = l
            .rows(t(24), t(48))
            .unwrap()
            .iter()
            .map(|r| r.cost_usd)
            .sum();
        assert_eq!(total, Decimal::new(157, 2));
        // The month = both slices.
        let month: Decimal = l
            .rows(t(0), t(48))
            .unwrap()
            .iter()
            .map(|r| r.cost_usd)
            .sum();
        assert_eq!(month, Decimal::new(257, 2));
    }

    #[test]
    fn a_new_day_merges_yesterday_into_the_closed_days_and_builds_only_the_new_day() {
        let mut l = Ledger::default();
        // Month from t(0); today [t(24), t(48)).
        l.plan(&[(t(0), t(24)), (t(24), t(48))]);
        l.apply(t(40), &[]);
        build_all(&mut l, sums(3, 300));
        // Next day: closed days [t(0), t(48)), today [t(48), t(72)).
        l.plan(&[(t(0), t(48)), (t(48), t(72))]);
        assert_eq!(l.slices.len(), 2);
        assert!(l.slices[0].built, "merged from two built slices");
        assert!(!l.slices[1].built);
        assert!(l.rows(t(48), t(72)).is_err(), "the new day is not read yet");
        assert_eq!(
            l.rows(t(0), t(48)).unwrap()[0].cost_usd,
            Decimal::new(600, 2)
        );
    }

    #[test]
    fn rows_that_settle_during_a_build_are_counted_once() {
        let mut l = Ledger::default();
        l.plan(&[(t(0), t(24))]);
        l.apply(t(10), &[]);
        l.start_builds();
        let k = l.names.key(Some("a"), "openai", "gpt-4o", true);
        // First chunk read under watermark t(10).
        l.chunk_read(0, t(12), vec![(k.clone(), sums(5, 500))]);
        // A cycle: rows recorded in [t(10), t(11)) settle; others are open.
        let d = delta(&mut l, 0, true, "a", sums(1, 1));
        let o = delta(&mut l, 0, false, "a", sums(1, 2));
        l.apply(t(11), &[d, o]);
        assert!(l.rows(t(0), t(24)).is_err(), "still building");
        // The last chunk (rows recorded before t(10) only).
        l.chunk_read(0, t(24), vec![(k, sums(2, 20))]);
        let rows = l.rows(t(0), t(24)).unwrap();
        assert_eq!(rows[0].cost_usd, Decimal::new(500 + 20 + 1 + 2, 2));
        assert_eq!(rows[0].requests, 5 + 2 + 1 + 1);
    }

    #[test]
    fn revalidation_replaces_settled_sums_and_reports_a_change() {
        let mut l = Ledger::default();
        l.plan(&[(t(0), t(24))]);
        l.apply(t(30), &[]);
        build_all(&mut l, sums(4, 400));
        l.start_revalidation();
        // While it runs, the old sums are served.
        assert_eq!(l.rows(t(0), t(24)).unwrap()[0].requests, 4);
        let k = l.names.key(Some("a"), "openai", "gpt-4o", true);
        // A row was deleted after it settled: the re-read has 3.
        assert!(l.chunk_read(0, t(24), vec![(k.clone(), sums(3, 300))]));
        assert_eq!(l.rows(t(0), t(24)).unwrap()[0].requests, 3);
        l.start_revalidation();
        assert!(!l.chunk_read(0, t(24), vec![(k, sums(3, 300))]));
    }

    #[test]
    fn bounds_map_buckets_to_slices_across_gaps() {
        let mut l = Ledger::default();
        l.plan(&[(t(0), t(24)), (t(30), t(40))]);
        let (bounds, map) = l.bounds();
        assert_eq!(bounds, vec![t(0), t(24), t(30), t(40)]);
        // width_bucket: 0 before t(0), 1 in [t(0), t(24)), 2 the gap, 3 in [t(30), t(40)).
        assert_eq!(map, vec![None, Some(0), None, Some(1)]);
        assert!(l.rows(t(0), t(40)).is_err(), "a gap is not kept");
    }

    #[test]
    fn a_range_split_by_a_new_bound_is_built_again() {
        let mut l = Ledger::default();
        l.plan(&[(t(0), t(24))]);
        l.apply(t(30), &[]);
        build_all(&mut l, sums(1, 1));
        l.plan(&[(t(0), t(24)), (t(12), t(24))]);
        assert_eq!(l.slices.len(), 2);
        assert!(l.slices.iter().all(|s| !s.built));
    }

    #[test]
    fn a_bound_moving_past_the_last_slice_rebuilds_only_after_its_start() {
        // The spend window's minutes: [0, 10) [10, 11) [11, 24), then the window moves on.
        let mut l = Ledger::default();
        l.plan(&[(t(0), t(24)), (t(10), t(11)), (t(11), t(24))]);
        l.apply(t(30), &[]);
        build_all(&mut l, sums(1, 5));
        let before = l.rows(t(0), t(24));
        l.plan(&[(t(0), t(24)), (t(12), t(13)), (t(13), t(24))]);
        let spans: Vec<_> = l.slices.iter().map(|s| (s.from, s.to, s.built)).collect();
        assert_eq!(
            spans,
            vec![
                (t(0), t(11), true),
                (t(11), t(12), false),
                (t(12), t(13), false),
                (t(13), t(24), false)
            ],
            "the minutes that left merge; only what the last slice held is read again"
        );
        build_all(&mut l, sums(0, 0));
        let cost = |f: &Fig<Vec<UsageRow>>| -> Decimal {
            f.as_ref().unwrap().iter().map(|r| r.cost_usd).sum()
        };
        // Two built slices of 5 merged; the re-read (empty here) replaces the last one's 5.
        assert_eq!(cost(&before), Decimal::new(15, 2));
        assert_eq!(cost(&l.rows(t(0), t(24))), Decimal::new(10, 2));
        // Once built, the next plan merges the pieces again.
        l.plan(&[(t(0), t(24)), (t(13), t(14)), (t(14), t(24))]);
        assert_eq!(l.slices[0].to, t(13));
        assert!(l.slices[0].built);
    }

    #[test]
    fn a_saved_ledger_restores_its_settled_sums_and_watermark() {
        let mut l = Ledger::default();
        l.plan(&[(t(0), t(24)), (t(24), t(48))]);
        l.apply(t(30), &[]);
        assert!(l.save("id", "c").is_none(), "nothing built yet");
        build_all(&mut l, sums(2, 250));
        let o = delta(&mut l, 1, false, "b", sums(1, 7));
        l.apply(t(31), &[o]);
        let saved = l.save("id", "c").expect("all built");
        let text = serde_json::to_string(&saved).unwrap();
        let back: Saved = serde_json::from_str(&text).unwrap();
        assert_eq!(back, saved);
        let mut r = Ledger::restore(&back).unwrap();
        assert_eq!(r.watermark, Some(t(31)));
        // The open row is not kept: the next delta (from the watermark) reads it again.
        r.plan(&[(t(0), t(24)), (t(24), t(48))]);
        let o = delta(&mut r, 1, false, "b", sums(1, 7));
        r.apply(t(32), &[o]);
        assert_eq!(r.rows(t(0), t(48)), l.rows(t(0), t(48)));
        l.start_revalidation();
        assert!(l.save("id", "c").is_none(), "not while re-validating");
    }

    /// A saved ledger of two built slices, two clients and a group without client.
    fn saved_two_clients() -> (Ledger, Saved) {
        let mut l = Ledger::default();
        l.plan(&[(t(0), t(24)), (t(24), t(48))]);
        l.apply(t(30), &[]);
        build_all(&mut l, sums(2, 250));
        let d = delta(&mut l, 1, true, "b", sums(3, 7));
        let none = DeltaRow {
            slice: 0,
            settled: true,
            key: l.names.key(None, "anthropic", "claude-haiku-4-5", false),
            sums: sums(1, 0),
        };
        l.apply(t(31), &[d, none]);
        let saved = l.save("id", "c").expect("all built");
        (l, saved)
    }

    #[test]
    fn version_2_names_each_text_once_and_restores_the_same_figures() {
        let (l, saved) = saved_two_clients();
        assert_eq!(saved.version, 2);
        let mut names = saved.names.clone();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), saved.names.len(), "each name once");
        assert_eq!(
            names,
            vec![
                "a",
                "anthropic",
                "b",
                "claude-haiku-4-5",
                "gpt-4o",
                "openai"
            ]
        );
        let text = serde_json::to_string(&saved).unwrap();
        assert_eq!(text.matches("gpt-4o").count(), 1, "{text}");
        let back = Saved::parse(text.as_bytes()).unwrap();
        assert_eq!(back, saved);
        let r = Ledger::restore(&back).unwrap();
        assert_eq!(r.watermark, Some(t(31)));
        for (from, to) in [(t(0), t(24)), (t(24), t(48)), (t(0), t(48))] {
            assert_eq!(r.rows(from, to), l.rows(from, to));
        }
        assert_eq!(r.save("id", "c"), Some(saved), "saved again, the same file");
    }

    #[test]
    fn a_file_of_another_version_or_not_a_ledger_says_so() {
        let v1 = r#"{"version":1,"identity":"id","watermark":"2026-11-01T00:00:00Z",
            "changes":"c","slices":[{"from":"2026-11-01T00:00:00Z","to":"2026-11-02T00:00:00Z",
            "groups":[{"client":"a","provider":"openai","model":"gpt-4o","priced":true,
            "sums":{"rows":1,"input_tokens":1,"output_tokens":1,"cache_read_tokens":0,
            "cache_write_tokens":0,"characters":0,"requests":1,"cost_usd":"0.5"}}]}]}"#;
        assert_eq!(Saved::parse(v1.as_bytes()), Err("it is version 1".into()));
        let e = Saved::parse(b"{\"version\": 2, \"identity\": 7}").unwrap_err();
        assert!(e.starts_with("it cannot be read (invalid type"), "{e}");
        let e = Saved::parse(b"\x00\xff garbage").unwrap_err();
        assert!(e.starts_with("it cannot be read"), "{e}");
    }

    /// `saved` with its first group replaced by `group` (JSON text).
    fn with_group(saved: &Saved, group: &str) -> Result<Saved, String> {
        let mut v: serde_json::Value = serde_json::to_value(saved).unwrap();
        v["slices"][0]["groups"][0] = serde_json::from_str(group).unwrap();
        Saved::parse(&serde_json::to_vec(&v).unwrap())
    }

    #[test]
    fn a_hostile_file_is_refused_with_a_reason_never_a_panic() {
        let (_, saved) = saved_two_clients();
        let n = saved.names.len();
        // A name index past the table, for each of client, provider and model.
        for g in [
            format!(r#"[{n},0,1,true,[1,1,1,0,0,0,1],"1"]"#),
            format!(r#"[0,{n},1,true,[1,1,1,0,0,0,1],"1"]"#),
            r#"[0,1,4294967295,true,[1,1,1,0,0,0,1],"1"]"#.to_string(),
        ] {
            let s = with_group(&saved, &g).unwrap();
            let e = Ledger::restore(&s).unwrap_err();
            assert!(e.contains("past the 6 names"), "{e}");
        }
        // An index or a count past its type, a negative count, a group cut short.
        for g in [
            r#"[4294967296,0,1,true,[1,1,1,0,0,0,1],"1"]"#,
            r#"[0,0,1,true,[18446744073709551616,1,1,0,0,0,1],"1"]"#,
            r#"[0,0,1,true,[-1,1,1,0,0,0,1],"1"]"#,
            r#"[0,0,1,true,[1,1,1],"1"]"#,
            r#"[0,0,1,true,[1,1,1,0,0,0,1],"1e999999"]"#,
        ] {
            let e = with_group(&saved, g).unwrap_err();
            assert!(e.starts_with("it cannot be read ("), "{g}: {e}");
        }
        // Huge counts add up without wrapping: they saturate at the ceiling.
        let max = u64::MAX;
        let mut s = with_group(
            &saved,
            &format!(r#"[0,1,4,true,[{max},{max},{max},{max},{max},{max},{max}],"1"]"#),
        )
        .unwrap();
        let copy = s.slices[0].groups[0].clone();
        s.slices[0].groups.push(copy);
        let l = Ledger::restore(&s).unwrap();
        let rows = l.rows(t(0), t(24)).unwrap();
        let ceiling = crate::core::bounded::CEILING as u64;
        assert!(
            rows.iter()
                .any(|r| r.requests == ceiling && r.input_tokens == ceiling),
            "{rows:?}"
        );
        // A slice that does not end after it starts; more slices than any ledger lays out.
        let mut s = saved.clone();
        s.slices[0].to = s.slices[0].from;
        assert_eq!(
            Ledger::restore(&s).unwrap_err(),
            "slice 0 does not end after it starts"
        );
        let mut s = saved.clone();
        let one = s.slices[0].clone();
        s.slices = vec![one; SAVED_MAX_SLICES + 1];
        let e = Ledger::restore(&s).unwrap_err();
        assert!(e.contains("slices, more than"), "{e}");
    }
}
