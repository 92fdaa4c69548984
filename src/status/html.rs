//! The founder status page as HTML: pure, from the published assessment and source health.
//! No script, no external asset: one small page that reads well on a phone and reloads itself.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::readiness::Readiness;
use crate::config::{Config, TierName};
use crate::core::assess::{Assessment, Period};
use crate::core::budget::BudgetState;
use crate::core::levels::{self, FigureName, Level};
use crate::core::tiers::Resource;
use crate::markup::escape as esc;
use crate::state::SourceStatus;

/// Seconds between the page's own reloads.
pub const REFRESH_SECONDS: u32 = 30;

/// Everything the page shows, read from shared state under its locks and then released.
pub struct PageInput<'a> {
    pub cfg: &'a Config,
    pub assessment: &'a Assessment,
    /// Every expected or seen source with its health (None: not tried yet).
    pub sources: Vec<(String, Option<SourceStatus>)>,
    pub readiness: Readiness,
    pub now: DateTime<Utc>,
}

pub fn tier_title(t: TierName) -> &'static str {
    match t {
        TierName::SoftLaunch => "Soft launch",
        TierName::HardLaunch => "Hard launch",
        TierName::Growth => "Growth",
    }
}

fn resource_title(r: Resource) -> &'static str {
    match r {
        Resource::Clients => "Active clients",
        Resource::AiTokensPerDay => "AI tokens today",
        Resource::VisualJobsPerDay => "Visual jobs today",
        Resource::ConcurrentJobs => "Jobs running now",
        Resource::ApiRequestsPerMinute => "API requests last minute",
    }
}

fn figure_title(f: FigureName) -> &'static str {
    match f {
        FigureName::AiTokens => "AI token usage",
        FigureName::Bandwidth => "Bandwidth today",
        FigureName::Storage => "Storage",
        FigureName::QueueDepth => "Queue depth",
        FigureName::CronLoad => "Cron load",
        FigureName::VisualJobRisk => "Visual job risk",
        FigureName::ResponseTime => "Response time (p95)",
        FigureName::ErrorRate => "Error rate",
        FigureName::SupabasePlan => "Supabase plan usage",
    }
}

/// 3611000 -> "3,611,000".
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn percent(r: f64) -> String {
    let p = r * 100.0;
    if !p.is_finite() {
        "over 100%".into()
    } else if p.abs() >= 10.0 || p == 0.0 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

/// Decimal (SI) units, as the brief's thresholds are: 1 GB = 10^9 bytes.
pub fn bytes(b: f64) -> String {
    for (unit, size) in [("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)] {
        if b >= size {
            return format!("{:.2} {unit}", b / size);
        }
    }
    format!("{b:.0} B")
}

pub fn money(d: Decimal) -> String {
    format!("${:.2}", d.round_dp(2))
}

fn seconds(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}

pub fn age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

/// A figure's value in the unit of its thresholds.
fn figure_value(f: FigureName, v: f64) -> String {
    match f {
        FigureName::Bandwidth | FigureName::Storage => bytes(v),
        FigureName::QueueDepth => format!("{} jobs", count(v.max(0.0) as u64)),
        FigureName::ResponseTime => seconds(v),
        FigureName::AiTokens
        | FigureName::CronLoad
        | FigureName::VisualJobRisk
        | FigureName::ErrorRate
        | FigureName::SupabasePlan => percent(v),
    }
}

fn budget_level(s: BudgetState) -> Level {
    match s {
        BudgetState::Ok => Level::Normal,
        BudgetState::Alert => Level::Warning,
        BudgetState::Exceeded => Level::Critical,
    }
}

fn level_class(l: Level) -> &'static str {
    match l {
        Level::Normal => "ok",
        Level::Warning => "warn",
        Level::Critical => "crit",
    }
}

/// The overall health and the reasons for it, worst first.
pub fn health(input: &PageInput) -> (Level, Vec<String>) {
    let a = input.assessment;
    let mut reasons: Vec<(Level, String)> = Vec::new();
    for f in &a.figures {
        if let Some(l) = f.level.filter(|l| *l != Level::Normal) {
            reasons.push((l, format!("{} {}", figure_title(f.figure), l.label())));
        }
    }
    for b in &a.budgets {
        if b.state != BudgetState::Ok {
            reasons.push((
                budget_level(b.state),
                format!(
                    "{} budget {}",
                    scope_title(b.scope.label()),
                    b.state.label()
                ),
            ));
        }
    }
    for t in &a.tiers {
        if t.ratio().is_some_and(|r| r >= 1.0) {
            reasons.push((
                Level::Warning,
                format!("{} over the tier limit", resource_title(t.resource)),
            ));
        }
    }
    for (name, st) in &input.sources {
        if st.as_ref().is_some_and(|s| s.tried && !s.up) {
            reasons.push((
                Level::Warning,
                format!("source {name} down: figures are stale"),
            ));
        }
    }
    reasons.sort_by_key(|r| std::cmp::Reverse(r.0));
    let worst = reasons.first().map_or(Level::Normal, |r| r.0);
    (worst, reasons.into_iter().map(|r| r.1).collect())
}

fn scope_title(scope: &str) -> &'static str {
    match scope {
        "daily" => "Daily",
        "monthly" => "Monthly",
        "client_daily" => "Per-client daily",
        _ => "Budget",
    }
}

fn bar(ratio: Option<f64>, class: &str) -> String {
    let w = ratio.unwrap_or(0.0).clamp(0.0, 1.0) * 100.0;
    format!(r#"<div class="bar"><span class="{class}" style="width:{w:.1}%"></span></div>"#)
}

pub(crate) fn pill(class: &str, text: &str) -> String {
    format!(r#"<span class="pill {class}">{}</span>"#, esc(text))
}

const STYLE: &str = r#"
:root{--bg:#f6f7f9;--card:#fff;--ink:#1b1f24;--mute:#5b636e;--line:#e3e6ea;--ok:#1a7f37;--warn:#b35900;--crit:#cf222e;--none:#8c959f}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--card:#161b22;--ink:#e6edf3;--mute:#9aa4af;--line:#30363d;--ok:#3fb950;--warn:#e3a008;--crit:#f85149;--none:#6e7681}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
header.top{padding:20px 0 16px;color:#fff;background:var(--ok)}
header.top>div.in{max-width:1200px;margin:0 auto;padding:0 14px}
header.top.warn{background:var(--warn)}header.top.crit{background:var(--crit)}
.brand{font-size:.85rem;letter-spacing:.08em;text-transform:uppercase;opacity:.85}
.headline{display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 14px;margin:4px 0}
.headline h1{font-size:1.7rem;margin:0}
.headline .tier{font-size:1.05rem;font-weight:600;opacity:.95}
.reasons{margin:6px 0 0;padding:0;list-style:none;font-size:.95rem}
.reasons li::before{content:"• "}
.meta{margin:8px 0 0;font-size:.8rem;opacity:.85}
main{display:grid;gap:14px;padding:14px;max-width:1200px;margin:0 auto}
@media (min-width:900px){main{grid-template-columns:1fr 1fr}}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px}
h2{font-size:1.05rem;margin:0 0 10px}
h2 small{font-weight:400;color:var(--mute);font-size:.8rem}
.row{padding:8px 0;border-top:1px solid var(--line)}
.row:first-of-type{border-top:0}
.line{display:flex;justify-content:space-between;align-items:baseline;gap:10px}
.name{font-weight:600}
.val{font-variant-numeric:tabular-nums;text-align:right;white-space:nowrap}
.sub{color:var(--mute);font-size:.82rem}
.bar{height:8px;background:var(--line);border-radius:4px;margin-top:6px;overflow:hidden}
.bar span{display:block;height:100%;border-radius:4px;background:var(--ok)}
.bar span.warn{background:var(--warn)}.bar span.crit{background:var(--crit)}
.pill{display:inline-block;padding:1px 9px;border-radius:999px;font-size:.78rem;font-weight:600;color:#fff;background:var(--ok);white-space:nowrap}
.pill.warn{background:var(--warn)}.pill.crit{background:var(--crit)}.pill.none{background:var(--none)}
.note{color:var(--mute);font-size:.9rem;margin:4px 0 0}
footer{padding:4px 16px 24px;text-align:center;font-size:.9rem;color:var(--mute)}
footer a{color:inherit;margin:0 8px}
"#;

/// The target tier's checklist items still open, if any.
fn checklist_note(h: &mut String, missing: &[String]) {
    if !missing.is_empty() {
        let items: Vec<String> = missing.iter().map(|m| esc(&m.replace('_', " "))).collect();
        let _ = write!(
            h,
            r#"<p class="note" data-checklist-missing="{}">Checklist still open: {}.</p>"#,
            missing.len(),
            items.join(", ")
        );
    }
}

/// Says that the newest run of the target's suite was a rehearsal, which never counts.
fn rehearsal_note(h: &mut String, rehearsal: Option<DateTime<Utc>>, now: DateTime<Utc>) {
    if let Some(at) = rehearsal {
        let _ = write!(
            h,
            r#"<p class="note" data-rehearsal="1">Newest run, {} ago: a rehearsal (shorter or lighter than the suite, or judged by looser thresholds). It does not count.</p>"#,
            age((now - at).num_seconds())
        );
    }
}

/// Renders the whole page.
/// Renders the whole page: the health header, then one section per part of the brief.
pub fn render(input: &PageInput) -> String {
    let mut h = String::with_capacity(16 * 1024);
    write_header(&mut h, input);
    write_tiers(&mut h, input);
    write_budgets(&mut h, input);
    write_figures(&mut h, input);
    write_readiness(&mut h, input);
    write_sources(&mut h, input);
    h.push_str(
        r#"<footer><a href="/metrics">/metrics</a><a href="/docs/">docs</a><a href="/readyz">/readyz</a></footer></body></html>"#,
    );
    h
}

/// The header: the one overall health, its reasons and the moment the page was drawn.
fn write_header(h: &mut String, input: &PageInput) {
    let a = input.assessment;
    let cfg = input.cfg;
    let (level, reasons) = health(input);
    let headline = match level {
        Level::Normal => "All clear",
        Level::Warning => "Needs attention",
        Level::Critical => "Act now",
    };
    let _ = write!(
        h,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta http-equiv="refresh" content="{REFRESH_SECONDS}"><link rel="icon" href="data:,"><title>{headline} · {tier} · launchguard</title><style>{STYLE}</style></head><body>"#,
        tier = tier_title(a.tier),
    );
    let _ = write!(
        h,
        r#"<header class="top {cls}" id="health" data-health="{lbl}"><div class="in"><div class="brand">launchguard</div><div class="headline"><h1>{headline}</h1><span class="tier" data-tier="{tier_key}">{tier} tier</span></div>"#,
        cls = level_class(level),
        lbl = level.label(),
        tier_key = a.tier.as_str(),
        tier = tier_title(a.tier),
    );
    if !reasons.is_empty() {
        h.push_str(r#"<ul class="reasons">"#);
        for r in &reasons {
            let _ = write!(h, "<li>{}</li>", esc(r));
        }
        h.push_str("</ul>");
    }
    let _ = write!(
        h,
        r#"<p class="meta">As of {} {} · this page reloads every {REFRESH_SECONDS} s</p></div></header><main>"#,
        input
            .now
            .with_timezone(&cfg.tz())
            .format("%Y-%m-%d %H:%M:%S"),
        esc(cfg.timezone.name()),
    );
}

/// Performance Guard: each tier limit's usage and headroom.
fn write_tiers(h: &mut String, input: &PageInput) {
    let a = input.assessment;
    // Performance Guard: tier usage.
    let _ = write!(
        h,
        r#"<section id="tier"><h2>Performance Guard <small>usage of the {} tier's limits</small></h2>"#,
        tier_title(a.tier)
    );
    for t in &a.tiers {
        let ratio = t.ratio();
        let cls = if ratio.is_some_and(|r| r >= 1.0) {
            "crit"
        } else {
            "ok"
        };
        let val = match t.usage {
            Some(u) => format!("{} / {}", count(u), count(t.limit)),
            None => format!("not read / {}", count(t.limit)),
        };
        let _ = write!(
            h,
            r#"<div class="row" data-resource="{key}"><div class="line"><span class="name">{title}</span><span class="val">{val}</span></div>{bar}<div class="sub">{pct}</div></div>"#,
            key = t.resource.label(),
            title = resource_title(t.resource),
            bar = bar(ratio, cls),
            pct = match (ratio, t.headroom()) {
                (Some(r), Some(hr)) if hr >= 0.0 =>
                    format!("{} used, {} headroom", percent(r), percent(hr)),
                (Some(r), _) => format!("{} used: over the limit", percent(r)),
                _ => "no data".into(),
            },
        );
    }
    h.push_str("</section>");
}

/// Cost Shield: each budget in force (naming the founder's override), then today by provider.
fn write_budgets(h: &mut String, input: &PageInput) {
    let a = input.assessment;
    let cfg = input.cfg;
    // Cost Shield: budgets and spend per provider.
    h.push_str(r#"<section id="budget"><h2>Cost Shield <small>spend against budget</small></h2>"#);
    if a.budgets.is_empty() {
        h.push_str(r#"<p class="note">No spend read yet: the ledger has not been collected.</p>"#);
    }
    for b in &a.budgets {
        let l = budget_level(b.state);
        let _ = write!(
            h,
            r#"<div class="row" data-scope="{key}" data-state="{state}"><div class="line"><span class="name">{title}</span>{pill}</div><div class="line"><span class="sub">{spent} of {budget}</span><span class="val">{pct}</span></div>{bar}</div>"#,
            key = b.scope.label(),
            state = b.state.label(),
            title = scope_title(b.scope.label()),
            pill = pill(level_class(l), b.state.label()),
            spent = money(b.spent_usd),
            budget = money(b.budget_usd),
            pct = percent(b.ratio),
            bar = bar(Some(b.ratio), level_class(l)),
        );
        if let Some(until) = b.override_until {
            // The guard enforces the override: say so, and what the config says.
            let _ = write!(
                h,
                r#"<p class="note" data-override="{key}">The founder's override is in force until {until} (configured: {configured}).</p>"#,
                key = b.scope.label(),
                until = until.with_timezone(&cfg.tz()).format("%Y-%m-%d %H:%M %Z"),
                configured = money(b.configured_usd),
            );
        }
    }
    let mut by_provider: BTreeMap<&str, Decimal> = BTreeMap::new();
    for ((provider, _, period), u) in &a.usage {
        if *period == Period::Day {
            let sum = by_provider.entry(provider).or_default();
            *sum = crate::core::bounded::Bounded::plus(*sum, u.cost_usd);
        }
    }
    if !by_provider.is_empty() {
        h.push_str(r#"<div class="row"><div class="name">Today by provider</div>"#);
        let mut list: Vec<_> = by_provider.into_iter().collect();
        list.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(y.0)));
        for (p, c) in list {
            let _ = write!(
                h,
                r#"<div class="line" data-provider="{p}"><span class="sub">{p}</span><span class="val">{}</span></div>"#,
                money(c),
                p = esc(p),
            );
        }
        h.push_str("</div>");
    }
    h.push_str("</section>");
}

/// Resource Monitor: each figure against its thresholds, with the brief's action.
fn write_figures(h: &mut String, input: &PageInput) {
    let a = input.assessment;
    let cfg = input.cfg;
    // Resource Monitor: each figure with its level and the brief's action.
    h.push_str(
        r#"<section id="resources"><h2>Resource Monitor <small>each figure against its thresholds</small></h2>"#,
    );
    for f in &a.figures {
        let t = cfg.thresholds.get(f.figure);
        let (val, pill_html, lvl) = match (f.value, f.level) {
            (Some(v), Some(l)) => (
                figure_value(f.figure, v),
                pill(level_class(l), l.label()),
                l.label(),
            ),
            _ => ("not read".into(), pill("none", "no data"), "none"),
        };
        let action = f
            .level
            .map(|l| levels::action(f.figure, l).replace('_', " "))
            .unwrap_or_default();
        let _ = write!(
            h,
            r#"<div class="row" data-figure="{key}" data-level="{lvl}"><div class="line"><span class="name">{title}</span>{pill_html}</div><div class="line"><span class="sub">warning {w} · critical {c}{act}</span><span class="val">{val}</span></div></div>"#,
            key = f.figure.label(),
            title = figure_title(f.figure),
            w = figure_value(f.figure, t.warning),
            c = figure_value(f.figure, t.critical),
            act = if action.is_empty() {
                String::new()
            } else {
                format!(" · action: {action}")
            },
        );
    }
    h.push_str("</section>");
}

/// Next tier: strain readiness, the checklist and the milestone.
fn write_readiness(h: &mut String, input: &PageInput) {
    let a = input.assessment;
    // Readiness for the next tier.
    h.push_str(r#"<section id="readiness"><h2>Next tier</h2>"#);
    match &input.readiness {
        Readiness::TopTier => h.push_str(
            r#"<p class="note" data-readiness="top">Growth is the top tier: there is no next tier to prepare for.</p>"#,
        ),
        Readiness::NotMeasured {
            target,
            required,
            missing,
            rehearsal,
        } => {
            let _ = write!(
                h,
                r#"<div class="line"><span class="name">{t}</span>{p}</div><p class="note" data-readiness="not_measured">Not measured yet: run <code>launchguard strain --suite {key}</code>; an upgrade needs a suite pass rate of {req} or more.</p>"#,
                t = tier_title(*target),
                key = target.as_str(),
                p = pill("none", "not measured yet"),
                req = percent(*required),
            );
            rehearsal_note(h, *rehearsal, input.now);
            checklist_note(h, missing);
        }
        Readiness::Measured {
            target,
            required,
            suite,
            pass_ratio,
            last_run,
            ready,
            missing,
            rehearsal,
        } => {
            let _ = write!(
                h,
                r#"<div class="line"><span class="name">{t}</span>{p}</div><div class="line" data-readiness="{state}"><span class="sub">suite {suite}, last run {ago} ago</span><span class="val">{pct} passed (needs {req})</span></div>"#,
                t = tier_title(*target),
                p = if *ready {
                    pill("ok", "ready")
                } else {
                    pill("warn", "not ready")
                },
                state = if *ready { "ready" } else { "not_ready" },
                suite = esc(suite),
                ago = age((input.now - *last_run).num_seconds()),
                pct = percent(*pass_ratio),
                req = percent(*required),
            );
            rehearsal_note(h, *rehearsal, input.now);
            checklist_note(h, missing);
        }
    }
    super::milestone::write(h, a.milestone.as_ref(), input.now);
    h.push_str("</section>");
}

/// Sources: up or down, and the age of their data.
fn write_sources(h: &mut String, input: &PageInput) {
    // Sources: up or down, and the age of their data.
    h.push_str(
        r#"<section id="sources"><h2>Sources <small>where the figures come from</small></h2>"#,
    );
    for (name, st) in &input.sources {
        let (pill_html, state, detail) = match st {
            None => (
                pill("none", "starting"),
                "starting",
                "waiting for the first collection".to_string(),
            ),
            Some(s) if !s.tried => (
                pill("none", "starting"),
                "starting",
                "waiting for the first collection".to_string(),
            ),
            Some(s) => {
                let data = match s.last_success {
                    Some(t) => format!("data {} old", age((input.now - t).num_seconds())),
                    None => "no data yet".into(),
                };
                if s.up {
                    (pill("ok", "up"), "up", data)
                } else {
                    let why = s.last_error.as_deref().unwrap_or("collection failed");
                    (pill("crit", "down"), "down", format!("{data} · {why}"))
                }
            }
        };
        let _ = write!(
            h,
            r#"<div class="row" data-source="{n}" data-state="{state}"><div class="line"><span class="name">{n}</span>{pill_html}</div><div class="sub">{d}</div></div>"#,
            n = esc(name),
            d = esc(&detail),
        );
    }
    h.push_str("</section></main>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(count(3_611_000), "3,611,000");
        assert_eq!(count(999), "999");
        assert_eq!(percent(0.6), "60%");
        assert_eq!(percent(0.02), "2.0%");
        assert_eq!(bytes(5e9), "5.00 GB");
        assert_eq!(bytes(3000.0), "3.00 kB");
        assert_eq!(money(Decimal::new(11_043_456, 6)), "$11.04");
        assert_eq!(age(59), "59 s");
        assert_eq!(age(600), "10 min");
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
