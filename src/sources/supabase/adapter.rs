//! launchguard's adapter views: the contract between the default queries and the platform's
//! tables (docs/supabase.md), and what `launchguard check --connect` verifies about each view.
//!
//! The default queries read `launchguard.clients`, `launchguard.usage_events`, `launchguard.jobs`
//! and `launchguard.traffic_minutely`. The adapter migration defines them over the reference
//! tables; a founder redefines them over their own. Each has fixed column names and types, so a
//! founder's `create or replace view` keeps the reader's grant, and a mapping mistake shows as a
//! named column here rather than as a wrong figure.

use std::time::{Duration, Instant};

use chrono::Utc;

use super::{Instants, Runner, Supabase, pool_error};
use crate::config::{Config, QueryName};
use crate::figures::Unavailable;
use crate::sources::SourceError;

/// One column of an adapter view: its name and its type as `format_type` prints it.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: &'static str,
}

/// One adapter view: its name in schema `launchguard`, its columns, and the figures whose
/// default query reads it.
#[derive(Debug, Clone, Copy)]
pub struct View {
    pub name: &'static str,
    pub columns: &'static [Column],
    /// Columns the figures do without, at a cost `check --connect` names when they are absent.
    pub optional: &'static [(Column, &'static str)],
    pub figures: &'static [QueryName],
}

const fn c(name: &'static str, ty: &'static str) -> Column {
    Column { name, ty }
}

const BIGINT: &str = "bigint";
const TEXT: &str = "text";
const TS: &str = "timestamp with time zone";

/// Every adapter view, in the order `check --connect` prints them.
pub const VIEWS: &[View] = &[
    View {
        name: "clients",
        columns: &[
            c("id", TEXT),
            c("active", "boolean"),
            c("trial_started_at", TS),
            c("trial_ended_at", TS),
            c("converted_at", TS),
            c("name", TEXT),
        ],
        figures: &[
            QueryName::ActiveClients,
            QueryName::Trials,
            QueryName::ClientNames,
        ],
        optional: &[],
    },
    View {
        name: "usage_events",
        columns: &[
            c("occurred_at", TS),
            c("client_id", TEXT),
            c("provider", TEXT),
            c("model", TEXT),
            c("input_tokens", BIGINT),
            c("output_tokens", BIGINT),
            c("cache_read_tokens", BIGINT),
            c("cache_write_tokens", BIGINT),
            c("characters", BIGINT),
            c("requests", BIGINT),
            c("cost_usd", "numeric"),
        ],
        optional: &[(
            c("recorded_at", TS),
            "without it the whole day's ledger is read every cycle instead of only the rows \
             recorded since the last one (docs/supabase.md#incremental-collection)",
        )],
        figures: &[QueryName::Usage],
    },
    View {
        name: "jobs",
        columns: &[
            c("kind", TEXT),
            c("status", TEXT),
            c("created_at", TS),
            c("started_at", TS),
            c("finished_at", TS),
        ],
        optional: &[],
        figures: &[QueryName::Jobs],
    },
    View {
        name: "traffic_minutely",
        columns: &[
            c("bucket", TS),
            c("requests", BIGINT),
            c("errors", BIGINT),
            c("bytes_out", BIGINT),
            c("p95_ms", "double precision"),
            c("lat_le_100", BIGINT),
            c("lat_le_250", BIGINT),
            c("lat_le_500", BIGINT),
            c("lat_le_1000", BIGINT),
            c("lat_le_2000", BIGINT),
            c("lat_le_5000", BIGINT),
            c("lat_le_inf", BIGINT),
        ],
        optional: &[],
        figures: &[QueryName::Traffic, QueryName::Bandwidth],
    },
];

/// The adapter view a figure's default query reads (None for the figures read from
/// PostgreSQL's or Supabase's own objects).
pub fn view_of(q: QueryName) -> Option<&'static View> {
    VIEWS.iter().find(|v| v.figures.contains(&q))
}

/// A table with more rows than this is "large": a sequential scan of it on every cycle is
/// worth an index.
pub const LARGE_TABLE_ROWS: i64 = 10_000;

/// One line of `check --connect`'s adapter section.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// `launchguard.<view>`, or the figure's name for a replaced query.
    pub subject: String,
    /// ok, warning, missing or error.
    pub status: &'static str,
    pub detail: String,
}

impl Finding {
    fn new(subject: &str, status: &'static str, detail: impl Into<String>) -> Self {
        Finding {
            subject: subject.to_string(),
            status,
            detail: detail.into(),
        }
    }
}

/// A table an adapter view reads, as the catalog describes it.
struct BaseTable {
    name: String,
    rls: bool,
    /// The role row-level security and privileges are checked as (the view's owner, or the
    /// reader for a security_invoker view).
    checked_as: String,
    bypasses: bool,
    can_select: bool,
    est_rows: i64,
}

impl Supabase {
    /// Checks every adapter view and the plan and duration of every figure query, for
    /// `launchguard check --connect`. `Err` only when the database cannot be reached.
    pub async fn inspect(&self, cfg: &Config) -> Result<Vec<Finding>, SourceError> {
        let pool = self.pool(cfg)?;
        let client = pool.get().await.map_err(pool_error)?;
        let run = Runner {
            client: &client,
            cfg,
            at: Instants::at(Utc::now(), cfg),
        };
        let timeout = statement_timeout(&client).await;
        let mut out = Vec::new();
        for v in VIEWS {
            let subject = format!("launchguard.{}", v.name);
            let before = out.len();
            catalog_checks(&client, v, &subject, &mut out).await?;
            // A missing view, or one the catalog already shows cannot be read whole: its
            // figure line says how its query failed.
            if out[before..]
                .iter()
                .any(|f| f.status == "missing" || f.status == "error")
            {
                merge_ok(&mut out, before, &subject);
                continue;
            }
            for &q in v.figures {
                if cfg.database.queries.contains_key(&q) {
                    continue;
                }
                query_checks(&run, q, &subject, timeout, &mut out).await?;
            }
            merge_ok(&mut out, before, &subject);
        }
        // Replaced queries: their plan and duration, under the figure's name; only problems.
        for q in QueryName::ALL {
            if cfg.database.queries.contains_key(&q) {
                let before = out.len();
                query_checks(&run, q, q.as_str(), timeout, &mut out).await?;
                let problems: Vec<Finding> =
                    out.drain(before..).filter(|f| f.status != "ok").collect();
                out.extend(problems);
            }
        }
        Ok(out)
    }
}

/// One line for a view without problems (what it reads, how fast it answers); only the problems
/// for one with any.
fn merge_ok(out: &mut Vec<Finding>, from: usize, subject: &str) {
    let found: Vec<Finding> = out.drain(from..).collect();
    if found.iter().all(|f| f.status == "ok") {
        let detail = found
            .iter()
            .map(|f| f.detail.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        out.push(Finding::new(subject, "ok", detail));
    } else {
        out.extend(found.into_iter().filter(|f| f.status != "ok"));
    }
}

/// The reader's statement timeout (None when it has none).
async fn statement_timeout(client: &tokio_postgres::Client) -> Option<Duration> {
    let row = client
        .query_one(
            "select extract(epoch from current_setting('statement_timeout')::interval)::float8",
            &[],
        )
        .await
        .ok()?;
    let secs: f64 = row.get(0);
    (secs > 0.0).then(|| Duration::from_secs_f64(secs))
}

fn db_err(e: &tokio_postgres::Error) -> String {
    super::db_message(e)
}

/// The connection went away mid-check: the whole check stops rather than report half.
fn lost(e: tokio_postgres::Error) -> SourceError {
    SourceError::new(
        "connection_lost",
        format!("the database connection was lost: {e}"),
    )
}

/// The view's existence, columns, grants and base tables, as the catalog says.
async fn catalog_checks(
    client: &tokio_postgres::Client,
    v: &View,
    subject: &str,
    out: &mut Vec<Finding>,
) -> Result<(), SourceError> {
    let row = client
        .query_opt(
            "select c.relkind::text as kind, pg_catalog.pg_get_userbyid(c.relowner)::text as owner,
                    pg_catalog.has_table_privilege(c.oid, 'select') as readable
             from pg_catalog.pg_class c where c.oid = pg_catalog.to_regclass($1::text)",
            &[&subject],
        )
        .await
        .map_err(lost)?;
    let Some(row) = row else {
        out.push(Finding::new(
            subject,
            "missing",
            "does not exist: apply the launchguard migrations as postgres (`launchguard sql`), \
             or define it over your own table (docs/supabase.md#the-adapter-views)",
        ));
        return Ok(());
    };
    let owner: String = row.get("owner");
    if !row.get::<_, bool>("readable") {
        out.push(Finding::new(
            subject,
            "error",
            format!(
                "launchguard_reader may not read it: grant select on {subject} to launchguard_reader"
            ),
        ));
    }
    check_columns(client, v, subject, out).await?;
    check_api_roles(client, subject, out).await?;
    let tables = base_tables(client, subject).await.map_err(lost)?;
    let reads = check_base_tables(&tables, subject, out);
    check_sees_rows(client, &tables, subject, out).await?;
    out.push(Finding::new(
        subject,
        "ok",
        if reads.is_empty() {
            format!("owner {owner}")
        } else {
            format!("reads {}", reads.join(", "))
        },
    ));
    Ok(())
}

/// Every column of the contract is there with its type.
async fn check_columns(
    client: &tokio_postgres::Client,
    v: &View,
    subject: &str,
    out: &mut Vec<Finding>,
) -> Result<(), SourceError> {
    let cols = client
        .query(
            "select a.attname::text as name, pg_catalog.format_type(a.atttypid, null) as ty
             from pg_catalog.pg_attribute a
             where a.attrelid = pg_catalog.to_regclass($1::text) and a.attnum > 0
               and not a.attisdropped",
            &[&subject],
        )
        .await
        .map_err(lost)?;
    let optional = v.optional.iter().map(|(c, cost)| (c, Some(*cost)));
    for (want, cost) in v.columns.iter().map(|c| (c, None)).chain(optional) {
        match cols
            .iter()
            .find(|r| r.get::<_, String>("name") == want.name)
        {
            None => out.push(match cost {
                None => Finding::new(
                    subject,
                    "error",
                    format!("has no column `{}` ({})", want.name, want.ty),
                ),
                Some(cost) => Finding::new(
                    subject,
                    "warning",
                    format!("has no column `{}` ({}): {cost}", want.name, want.ty),
                ),
            }),
            Some(r) => {
                let ty: String = r.get("ty");
                if ty != want.ty {
                    out.push(Finding::new(
                        subject,
                        "warning",
                        format!(
                            "column `{}` is {ty}, the contract says {}: cast it in the view (`... ::{} as {}`)",
                            want.name, want.ty, want.ty, want.name
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Who may reach it besides the reader: the API roles must not.
async fn check_api_roles(
    client: &tokio_postgres::Client,
    subject: &str,
    out: &mut Vec<Finding>,
) -> Result<(), SourceError> {
    let exposed = client
        .query(
            "select r.rolname::text as role from pg_catalog.pg_roles r
             where r.rolname in ('anon', 'authenticated')
               and pg_catalog.has_schema_privilege(r.oid, 'launchguard', 'usage')
               and pg_catalog.has_table_privilege(r.oid, pg_catalog.to_regclass($1::text),
                                                  'select, insert, update, delete, truncate')",
            &[&subject],
        )
        .await
        .map_err(lost)?;
    for r in exposed {
        let role: String = r.get("role");
        out.push(Finding::new(
            subject,
            "error",
            format!("{role} can reach it: revoke all on {subject} from {role}"),
        ));
    }
    Ok(())
}

/// The tables behind the view, and whether it sees all their rows; returns what it reads.
fn check_base_tables(tables: &[BaseTable], subject: &str, out: &mut Vec<Finding>) -> Vec<String> {
    let mut reads = Vec::new();
    for t in tables {
        if !t.can_select {
            out.push(Finding::new(
                subject,
                "error",
                format!(
                    "its owner {} may not read {}: grant select on {} to {}",
                    t.checked_as, t.name, t.name, t.checked_as
                ),
            ));
        }
        if t.rls && !t.bypasses {
            out.push(Finding::new(
                subject,
                "error",
                format!(
                    "row-level security on {} applies to {}, which does not bypass it, so \
                     launchguard cannot see every row: make the view owned by postgres \
                     (`alter view {subject} owner to postgres`)",
                    t.name, t.checked_as
                ),
            ));
        }
        reads.push(if t.rls {
            format!(
                "{} (row-level security on; {} bypasses it)",
                t.name, t.checked_as
            )
        } else {
            t.name.clone()
        });
    }
    reads
}

/// What the reader sees against what the catalog says the tables hold (only when nothing
/// worse was found: an empty view over a table it may not read says nothing more).
async fn check_sees_rows(
    client: &tokio_postgres::Client,
    tables: &[BaseTable],
    subject: &str,
    out: &mut Vec<Finding>,
) -> Result<(), SourceError> {
    if !out
        .iter()
        .all(|f| f.subject != subject || f.status == "warning")
    {
        return Ok(());
    }
    let sql = format!("select exists (select 1 from {subject})");
    match client.query_one(&sql, &[]).await {
        Ok(r) if !r.get::<_, bool>(0) => {
            if let Some(t) = tables.iter().find(|t| t.est_rows > 0) {
                out.push(Finding::new(
                    subject,
                    "warning",
                    format!(
                        "shows no row while {} holds about {}: does the view filter them out \
                         (auth.uid(), a tenant or status condition)?",
                        t.name, t.est_rows
                    ),
                ));
            }
        }
        Ok(_) => {}
        Err(e) if e.is_closed() => return Err(lost(e)),
        Err(e) => out.push(Finding::new(subject, "error", db_err(&e))),
    }
    Ok(())
}

/// The tables (at any depth of views) a view reads, with the role each is read as.
async fn base_tables(
    client: &tokio_postgres::Client,
    view: &str,
) -> Result<Vec<BaseTable>, tokio_postgres::Error> {
    let rows = client
        .query(
            "with recursive
             reader as (select oid from pg_catalog.pg_roles where rolname = current_user),
             views(relid, checked_as) as (
                 select c.oid,
                        case when exists (select 1 from unnest(c.reloptions) o
                                          where o ~* '^security_invoker=(true|on|yes|1)$')
                             then (select oid from reader) else c.relowner end
                 from pg_catalog.pg_class c where c.oid = pg_catalog.to_regclass($1::text)
                 union
                 select d.refobjid,
                        case when exists (select 1 from unnest(t.reloptions) o
                                          where o ~* '^security_invoker=(true|on|yes|1)$')
                             then (select oid from reader) else t.relowner end
                 from views
                 join pg_catalog.pg_rewrite rw on rw.ev_class = views.relid
                 join pg_catalog.pg_depend d on d.classid = 'pg_catalog.pg_rewrite'::regclass
                      and d.objid = rw.oid and d.refclassid = 'pg_catalog.pg_class'::regclass
                      and d.refobjid <> views.relid
                 join pg_catalog.pg_class t on t.oid = d.refobjid and t.relkind = 'v'
             ),
             tables as (
                 select distinct d.refobjid as relid, v.checked_as
                 from views v
                 join pg_catalog.pg_rewrite rw on rw.ev_class = v.relid
                 join pg_catalog.pg_depend d on d.classid = 'pg_catalog.pg_rewrite'::regclass
                      and d.objid = rw.oid and d.refclassid = 'pg_catalog.pg_class'::regclass
                      and d.refobjid <> v.relid
             )
             select pg_catalog.format('%I.%I', n.nspname, t.relname) as name,
                    t.relrowsecurity as rls,
                    pg_catalog.pg_get_userbyid(tb.checked_as)::text as checked_as,
                    (o.rolsuper or o.rolbypassrls
                     or (t.relowner = tb.checked_as and not t.relforcerowsecurity)) as bypasses,
                    pg_catalog.has_any_column_privilege(tb.checked_as, t.oid, 'select') as can_select,
                    greatest(t.reltuples, 0)::bigint as est_rows
             from tables tb
             join pg_catalog.pg_class t on t.oid = tb.relid and t.relkind in ('r', 'p', 'm', 'f')
             join pg_catalog.pg_namespace n on n.oid = t.relnamespace
             join pg_catalog.pg_roles o on o.oid = tb.checked_as
             order by 1, 3",
            &[&view],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| BaseTable {
            name: r.get("name"),
            rls: r.get("rls"),
            checked_as: r.get("checked_as"),
            bypasses: r.get("bypasses"),
            can_select: r.get("can_select"),
            est_rows: r.get("est_rows"),
        })
        .collect())
}

/// One figure query: does it answer well within the statement timeout, and does its plan read
/// large tables through an index?
async fn query_checks(
    run: &Runner<'_>,
    q: QueryName,
    subject: &str,
    timeout: Option<Duration>,
    out: &mut Vec<Finding>,
) -> Result<(), SourceError> {
    let range = Some((run.at.day_start, run.at.next_day_start));
    let started = Instant::now();
    let rows = run.rows(q, range).await?;
    let took = started.elapsed();
    if let Err(Unavailable { reason }) = rows {
        out.push(Finding::new(subject, "error", reason));
        return Ok(());
    }
    match timeout {
        Some(t) if took * 2 > t => out.push(Finding::new(
            subject,
            "warning",
            format!(
                "the {} query took {} ms of the {} ms statement timeout",
                q.as_str(),
                took.as_millis(),
                t.as_millis()
            ),
        )),
        None => out.push(Finding::new(
            subject,
            "warning",
            "launchguard_reader has no statement_timeout: apply the launchguard migrations again",
        )),
        _ => {}
    }
    let plan = match run.explain(q, range).await? {
        Ok(p) => p,
        Err(Unavailable { reason }) => {
            out.push(Finding::new(subject, "error", reason));
            return Ok(());
        }
    };
    let mut scans = Vec::new();
    seq_scans(&plan, &mut scans);
    // One finding per table, however many times the query scans it.
    let mut tables: Vec<(String, Vec<SeqScan>)> = Vec::new();
    for s in scans {
        let rel = format!("{}.{}", quote_ident(&s.schema), quote_ident(&s.relation));
        match tables.iter_mut().find(|(r, _)| *r == rel) {
            Some((_, v)) => v.push(s),
            None => tables.push((rel, vec![s])),
        }
    }
    for (rel, scans) in tables {
        let rows: i64 = run
            .client
            .query_one(
                "select coalesce((select greatest(c.reltuples, 0)::bigint from pg_catalog.pg_class c
                                  where c.oid = pg_catalog.to_regclass($1::text)), 0)",
                &[&rel],
            )
            .await
            .map(|r| r.get(0))
            .unwrap_or(0);
        if rows >= LARGE_TABLE_ROWS {
            out.push(Finding::new(
                subject,
                "warning",
                index_advice(q, &rel, rows, &scans),
            ));
        }
    }
    out.push(Finding::new(
        subject,
        "ok",
        format!(
            "the {} query answers in {} ms",
            q.as_str(),
            took.as_millis()
        ),
    ));
    Ok(())
}

/// A sequential scan in a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct SeqScan {
    pub schema: String,
    pub relation: String,
    pub alias: String,
    pub filter: Option<String>,
}

/// Every sequential scan of an `EXPLAIN (FORMAT JSON, VERBOSE)` plan.
pub fn seq_scans(plan: &serde_json::Value, out: &mut Vec<SeqScan>) {
    match plan {
        serde_json::Value::Array(items) => items.iter().for_each(|i| seq_scans(i, out)),
        serde_json::Value::Object(node) => {
            if node.get("Node Type").and_then(|t| t.as_str()) == Some("Seq Scan") {
                let s = |k: &str| node.get(k).and_then(|v| v.as_str()).map(str::to_string);
                if let (Some(schema), Some(relation)) = (s("Schema"), s("Relation Name")) {
                    out.push(SeqScan {
                        alias: s("Alias").unwrap_or_else(|| relation.clone()),
                        schema,
                        relation,
                        filter: s("Filter"),
                    });
                }
            }
            for key in ["Plan", "Plans"] {
                if let Some(p) = node.get(key) {
                    seq_scans(p, out);
                }
            }
        }
        _ => {}
    }
}

/// What to do about the sequential scans of one large table: the indexes to add, named from
/// the columns of each scan's condition, and, where a condition only goes through a CASE in the
/// view (status names mapped with CASE), the mapping that an index can serve instead.
pub fn index_advice(q: QueryName, rel: &str, rows: i64, scans: &[SeqScan]) -> String {
    let times = match scans.len() {
        1 => String::new(),
        n => format!(" ({n} scans)"),
    };
    let mut advice: Vec<String> = Vec::new();
    let mut case_only = false;
    let mut unfiltered = false;
    for s in scans {
        let Some(filter) = &s.filter else {
            unfiltered = true;
            continue;
        };
        let cols = filter_columns(&without_case(filter), &s.alias);
        if cols.is_empty() {
            case_only |= filter.contains("CASE");
            continue;
        }
        let index = format!("create index on {rel} ({})", cols.join(", "));
        if !advice.contains(&index) {
            advice.push(index);
        }
    }
    if case_only {
        advice.push(
            "its conditions on a value the view maps with CASE cannot use an index: map the values \
             with one UNION ALL branch per value instead (docs/supabase.md#status-names)"
                .into(),
        );
    }
    if unfiltered {
        advice.push("the view reads every row: filter it on an indexed column".into());
    }
    if advice.is_empty() {
        let filters: Vec<&str> = scans.iter().filter_map(|s| s.filter.as_deref()).collect();
        advice.push(format!(
            "add an index that serves {}",
            filters.join(" and ")
        ));
    }
    format!(
        "the {} query scans {rel} (about {rows} rows) sequentially on every cycle{times}: {}",
        q.as_str(),
        advice.join("; ")
    )
}

/// A filter with its `CASE ... END` expressions cut out: the columns left are those an index
/// on the table itself can serve.
pub fn without_case(filter: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    let mut word = String::new();
    let flush = |word: &mut String, depth: &mut usize, out: &mut String| {
        let was_inside = *depth > 0;
        match word.as_str() {
            "CASE" => *depth += 1,
            "END" if *depth > 0 => *depth -= 1,
            _ => {}
        }
        if !was_inside && *depth == 0 {
            out.push_str(word);
        }
        word.clear();
    };
    for ch in filter.chars() {
        if ch.is_ascii_alphanumeric() || ch == '_' || ch == '.' || ch == '"' || ch == '$' {
            word.push(ch);
        } else {
            flush(&mut word, &mut depth, &mut out);
            if depth == 0 {
                out.push(ch);
            }
        }
    }
    flush(&mut word, &mut depth, &mut out);
    out
}

/// Columns of `alias` a filter expression names, in order of first appearance.
pub fn filter_columns(filter: &str, alias: &str) -> Vec<String> {
    let prefix = format!("{alias}.");
    let mut cols: Vec<String> = Vec::new();
    let bytes = filter.as_bytes();
    let mut i = 0;
    while let Some(pos) = filter[i..].find(&prefix) {
        let start = i + pos;
        let boundary = start == 0 || {
            let b = bytes[start - 1];
            !(b.is_ascii_alphanumeric() || b == b'_' || b == b'"' || b == b'.')
        };
        let name_start = start + prefix.len();
        let name: String = if bytes.get(name_start) == Some(&b'"') {
            filter[name_start..]
                .char_indices()
                .skip(1)
                .find(|&(_, ch)| ch == '"')
                .map(|(end, _)| filter[name_start..name_start + end + 1].to_string())
                .unwrap_or_default()
        } else {
            filter[name_start..]
                .chars()
                .take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '_' || *ch == '$')
                .collect()
        };
        if boundary && !name.is_empty() && !cols.contains(&name) {
            cols.push(name);
        }
        i = name_start;
    }
    cols
}

/// An identifier as SQL needs it written.
fn quote_ident(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
    if plain {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('"', "\"\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_adapter_query_names_its_view() {
        for v in VIEWS {
            for &q in v.figures {
                let (sql, _) = super::super::default_query(q);
                assert!(
                    sql.contains(&format!("launchguard.{}", v.name)),
                    "{q:?} does not read launchguard.{}",
                    v.name
                );
                assert_eq!(view_of(q).map(|v| v.name), Some(v.name));
            }
        }
        assert!(view_of(QueryName::CronJobs).is_none());
    }

    #[test]
    fn the_contract_matches_what_the_queries_read() {
        // Every column each default query reads from its view is in the contract.
        for v in VIEWS {
            for &q in v.figures {
                let (sql, _) = super::super::default_query(q);
                for word in sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                    let looks_like_column = word.starts_with("lat_le_")
                        || [
                            "occurred_at",
                            "finished_at",
                            "started_at",
                            "bucket",
                            "active",
                            "trial_started_at",
                            "trial_ended_at",
                            "converted_at",
                            "name",
                        ]
                        .contains(&word);
                    if looks_like_column {
                        assert!(
                            v.columns.iter().any(|c| c.name == word),
                            "{q:?} reads {word}, not in launchguard.{}",
                            v.name
                        );
                    }
                }
            }
        }
    }

    fn scan(alias: &str, filter: Option<&str>) -> SeqScan {
        SeqScan {
            schema: "public".into(),
            relation: "render_jobs".into(),
            alias: alias.into(),
            filter: filter.map(str::to_string),
        }
    }

    #[test]
    fn advice_names_the_columns_of_the_condition() {
        let s = scan(
            "r",
            Some(
                "((r.completed_at IS NOT NULL) AND (r.completed_at >= $2) AND (r.state = 'done'::text))",
            ),
        );
        let a = index_advice(QueryName::Jobs, "public.render_jobs", 50_000, &[s]);
        assert!(
            a.contains("create index on public.render_jobs (completed_at, state)"),
            "{a}"
        );
        assert!(a.contains("about 50000 rows"), "{a}");
        let quoted = filter_columns(r#"(x."Created At" >= now()) AND (xx.y = 1)"#, "x");
        assert_eq!(quoted, vec![r#""Created At""#.to_string()]);
    }

    #[test]
    fn advice_for_a_case_mapping_points_to_union_all_and_keeps_the_rest() {
        let case = "CASE r_1.state WHEN 'pending'::text THEN 'queued'::text ELSE r_1.state END";
        let only_case = scan("r_1", Some(&format!("({case} = 'queued'::text)")));
        let mixed = scan(
            "r",
            Some(&format!(
                "((r.completed_at >= now()) AND ({} = ANY ('{{succeeded,failed}}'::text[])))",
                case.replace("r_1", "r")
            )),
        );
        let a = index_advice(
            QueryName::Jobs,
            "public.render_jobs",
            20_000,
            &[only_case, mixed],
        );
        assert!(a.contains("(2 scans)"), "{a}");
        assert!(
            a.contains("create index on public.render_jobs (completed_at)"),
            "{a}"
        );
        assert!(!a.contains("(completed_at, state)"), "{a}");
        assert!(a.contains("UNION ALL"), "{a}");
        let none = index_advice(
            QueryName::ActiveClients,
            "public.orgs",
            20_000,
            &[scan("o", None)],
        );
        assert!(none.contains("reads every row"), "{none}");
        assert_eq!(
            without_case(
                "(CASE WHEN (CASE x.a WHEN 1 THEN 2 END) = 2 THEN 1 END = 1) AND (x.b > 0)"
            ),
            "( = 1) AND (x.b > 0)"
        );
    }

    #[test]
    fn seq_scans_are_found_at_any_depth() {
        let plan: serde_json::Value = serde_json::from_str(
            r#"[{"Plan": {"Node Type": "Aggregate", "Plans": [
                {"Node Type": "Seq Scan", "Relation Name": "generations", "Schema": "public",
                 "Alias": "g", "Filter": "(g.created_at >= now())"},
                {"Node Type": "Index Scan", "Relation Name": "x", "Schema": "public"}]}}]"#,
        )
        .unwrap();
        let mut out = Vec::new();
        seq_scans(&plan, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].relation, "generations");
        assert_eq!(
            filter_columns(out[0].filter.as_deref().unwrap(), "g"),
            vec!["created_at"]
        );
        assert_eq!(quote_ident("Render Jobs"), "\"Render Jobs\"");
        assert_eq!(quote_ident("render_jobs"), "render_jobs");
    }
}
