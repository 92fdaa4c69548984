//! Grafana dashboards as JSON: the founder dashboard (Performance Guard, Cost Shield, Resource
//! Monitor, platform jobs, Strain Test, firing alerts) and the exporter-health dashboard.
//!
//! Provisioning-ready: fixed uids, a `datasource` variable every panel uses, no `__inputs`,
//! a unit on every panel, thresholds from the config as panel steps.

use serde_json::{Value, json};

use crate::catalogue::{FIGURES, FigureDef, Unit};
use crate::config::{Config, Threshold};
use crate::metrics::names::{self as n, MetricDef};

use super::alerts::Alert;
use super::format::humanize_percentage;
use super::panels as p;
use super::recording;
use super::rules::runbook_url;

const DS: &str = "${datasource}";

/// The matchers every launchguard selector on the dashboards carries: the `job` and `instance`
/// variables, in the one form grafana/dashboard-linter's `target-job-rule` and
/// `target-instance-rule` accept (regex match, value literally `$job` / `$instance`). With
/// "All" Grafana sends `.+`; a second exporter or replica then shows apart instead of doubling.
pub const SCOPE: &str = "job=~\"$job\", instance=~\"$instance\"";

/// `name{SCOPE, matchers}`: a selector of an exported or recorded metric, scoped to the
/// dashboard's job and instance variables.
pub fn scoped(name: &str, scope: &str, matchers: &str) -> String {
    let all: Vec<&str> = [scope, matchers]
        .into_iter()
        .filter(|m| !m.is_empty())
        .collect();
    if all.is_empty() {
        name.to_string()
    } else {
        format!("{name}{{{}}}", all.join(", "))
    }
}

/// A per-client expression with each client's name as the `name` label (legend `{{name}}`):
/// clients show by name, not by id. Joined on job and instance too, so two exporters do not
/// make the join many-to-many; every client label has an info series, so none drops out.
fn by_name(per_client: String) -> String {
    format!(
        "{per_client} * on(job, instance, client) group_left(name) {}",
        ds(&n::CLIENT_INFO, "")
    )
}

/// A scoped selector of an exported metric.
fn ds(def: &MetricDef, matchers: &str) -> String {
    scoped(&def.exposed_name(), SCOPE, matchers)
}

fn datasource() -> Value {
    json!({"type": "prometheus", "uid": DS})
}

/// A query of a panel.
struct Q {
    expr: String,
    legend: &'static str,
    /// Instant (latest value) rather than a range.
    instant: bool,
    table: bool,
}

fn q(expr: impl Into<String>, legend: &'static str) -> Q {
    Q {
        expr: expr.into(),
        legend,
        instant: false,
        table: false,
    }
}

fn qi(expr: impl Into<String>, legend: &'static str) -> Q {
    Q {
        instant: true,
        ..q(expr, legend)
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Stat,
    BarGauge,
    TimeSeries,
    Table,
}

/// Steps from the base colour up.
fn steps(base: &str, rest: &[(&str, f64)]) -> Value {
    let mut s = vec![json!({"color": base, "value": null})];
    s.extend(rest.iter().map(|(c, v)| json!({"color": c, "value": v})));
    json!({"mode": "absolute", "steps": s})
}

fn level_steps(t: Threshold) -> Value {
    steps("green", &[("orange", t.warning), ("red", t.critical)])
}

struct Panel {
    overrides: Vec<Value>,
    links: Vec<Value>,
    kind: Kind,
    title: &'static str,
    description: String,
    unit: &'static str,
    w: u32,
    h: u32,
    targets: Vec<Q>,
    thresholds: Value,
    mappings: Value,
    min_max: Option<(f64, f64)>,
    /// A stat's textMode: "name" shows the series' legend (an `_info` series' label) instead
    /// of its value, which for an info series is always 1.
    text_mode: &'static str,
    /// A stat's trend: the window (`1h`, `24h`) it is drawn over, with a sparkline and an
    /// arrow with the change from the window's first value to its last.
    trend: Option<&'static str>,
}

fn panel(kind: Kind, title: &'static str, unit: &'static str, w: u32, h: u32) -> Panel {
    Panel {
        overrides: vec![],
        links: vec![],
        kind,
        title,
        description: String::new(),
        unit,
        w,
        h,
        targets: vec![],
        thresholds: steps("green", &[]),
        mappings: json!([]),
        min_max: None,
        text_mode: "auto",
        trend: None,
    }
}

impl Panel {
    fn q(mut self, t: Q) -> Self {
        self.targets.push(t);
        self
    }
    fn desc(mut self, d: impl Into<String>) -> Self {
        self.description = d.into();
        self
    }
    fn th(mut self, t: Value) -> Self {
        self.thresholds = t;
        self
    }
    fn map(mut self, m: Value) -> Self {
        self.mappings = m;
        self
    }
    /// Shows the legend (a label of an `_info` series) rather than the value 1.
    fn name_only(mut self) -> Self {
        self.text_mode = "name";
        self
    }
    /// Draws the series of `legend` dashed (forecasts, trends).
    fn dashed(mut self, legend: &str) -> Self {
        self.overrides.push(json!({
            "matcher": {"id": "byName", "options": legend},
            "properties": [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}]
        }));
        self
    }
    /// Draws the stat's direction over `window` (`1h`, `24h`): a sparkline and an arrow with the
    /// change since the window began, red when rising (spend and usage going up is the risk).
    fn trend(mut self, window: &'static str) -> Self {
        self.trend = Some(window);
        self
    }
    fn link(mut self, title: &str, url: String) -> Self {
        self.links
            .push(json!({"title": title, "url": url, "targetBlank": true}));
        self
    }
    fn range(mut self, min: f64, max: f64) -> Self {
        self.min_max = Some((min, max));
        self
    }
}

/// Value mappings for 0/1 gauges.
fn flag(zero: &str, one: &str) -> Value {
    json!([{"type": "value", "options": {
        "0": {"text": zero, "color": "red", "index": 0},
        "1": {"text": one, "color": "green", "index": 1}
    }}])
}

/// Lays panels out left to right in rows of 24 columns.
struct Layout {
    panels: Vec<Value>,
    x: u32,
    y: u32,
    row_h: u32,
    id: u32,
}

impl Layout {
    fn new() -> Self {
        Layout {
            panels: vec![],
            x: 0,
            y: 0,
            row_h: 0,
            id: 0,
        }
    }

    fn next_line(&mut self) {
        self.y += self.row_h;
        self.x = 0;
        self.row_h = 0;
    }

    fn row(&mut self, title: &str) {
        if self.x > 0 {
            self.next_line();
        }
        self.id += 1;
        self.panels.push(json!({
            "id": self.id, "type": "row", "title": title, "collapsed": false,
            "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1}, "panels": []
        }));
        self.y += 1;
    }

    fn add(&mut self, pn: Panel) {
        if self.x + pn.w > 24 {
            self.next_line();
        }
        self.id += 1;
        let targets: Vec<Value> = pn
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                json!({
                    "refId": ((b'A' + i as u8) as char).to_string(),
                    "datasource": datasource(),
                    "expr": t.expr,
                    "legendFormat": t.legend,
                    "instant": t.instant,
                    "range": !t.instant,
                    "format": if t.table { "table" } else { "time_series" },
                })
            })
            .collect();
        let mut defaults = json!({
            "unit": pn.unit,
            "thresholds": pn.thresholds,
            "mappings": pn.mappings,
            "color": {"mode": "thresholds"},
        });
        if let Some((min, max)) = pn.min_max {
            defaults["min"] = json!(min);
            defaults["max"] = json!(max);
        }
        let reduce = json!({"calcs": ["lastNotNull"], "fields": "", "values": false});
        let (ty, options) = match pn.kind {
            Kind::Stat => (
                "stat",
                json!({"reduceOptions": reduce, "colorMode": "value",
                       "graphMode": if pn.trend.is_some() { "area" } else { "none" },
                       "showPercentChange": pn.trend.is_some(),
                       "percentChangeColorMode": "inverted",
                       "justifyMode": "auto", "orientation": "auto", "textMode": pn.text_mode}),
            ),
            Kind::BarGauge => (
                "bargauge",
                json!({"reduceOptions": reduce, "orientation": "horizontal",
                       "displayMode": "gradient", "showUnfilled": true}),
            ),
            Kind::TimeSeries => {
                defaults["custom"] = json!({
                    "drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                    "showPoints": "never", "spanNulls": false,
                    "thresholdsStyle": {"mode": "line+area"}
                });
                defaults["color"] = json!({"mode": "palette-classic"});
                (
                    "timeseries",
                    json!({"legend": {"displayMode": "list", "placement": "bottom", "showLegend": true},
                           "tooltip": {"mode": "multi", "sort": "none"}}),
                )
            }
            Kind::Table => ("table", json!({"showHeader": true, "cellHeight": "sm"})),
        };
        let mut out = json!({
            "id": self.id,
            "type": ty,
            "title": pn.title,
            "description": pn.description,
            "datasource": datasource(),
            "gridPos": {"x": self.x, "y": self.y, "w": pn.w, "h": pn.h},
            "targets": targets,
            "fieldConfig": {"defaults": defaults, "overrides": pn.overrides},
            "options": options,
            "links": pn.links,
        });
        if let Some(w) = pn.trend {
            // The panel's own time range: the arrow always reads "since an hour / a day ago".
            out["timeFrom"] = json!(w);
        }
        self.panels.push(out);
        self.x += pn.w;
        self.row_h = self.row_h.max(pn.h);
    }
}

/// A `job` or `instance` variable as grafana/dashboard-linter's `template-job-rule` /
/// `template-instance-rule` want it: a Prometheus query on `$datasource`, multi-select, "All"
/// as `.+`, refreshed on time range change (`template-on-time-change-reload-rule`), its query a
/// `label_values(...)` (`template-label-promql-rule`). Values come from the build info every
/// launchguard exporter exports.
fn label_variable(name: &str, label: &str, selector: &str) -> Value {
    let query = format!("label_values({selector}, {name})");
    json!({
        "name": name,
        "label": label,
        "type": "query",
        "datasource": datasource(),
        "query": query,
        "definition": query,
        "current": {},
        "hide": 0,
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "options": [],
        "includeAll": true,
        "allValue": ".+",
        "multi": true
    })
}

/// Whether a PromQL expression selects metric `name` (a whole name, not a part of a longer
/// one such as `_total` or a recording rule's `level:name:ops`).
fn mentions(expr: &str, name: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    expr.match_indices(name).any(|(i, _)| {
        !expr[..i].chars().next_back().is_some_and(word)
            && !expr[i + name.len()..].chars().next().is_some_and(word)
    })
}

/// Links panels to runbooks: the panel an alert's runbook names (where the founder confirms it)
/// links that alert's section; a panel no runbook names and with no link of its own links every
/// alert that reads a metric it shows. So a panel showing an alerting figure offers its action.
fn link_runbooks(title: &str, panels: &mut [Value], alerts: &[Alert], base: &str) {
    let link = |a: &Alert| {
        json!({
            "title": format!("Runbook: {}", a.name),
            "url": runbook_url(a, base),
            "targetBlank": true
        })
    };
    let metrics: Vec<String> = n::all()
        .map(MetricDef::exposed_name)
        .chain(recording::names())
        .collect();
    for p in panels.iter_mut() {
        let Some(links) = p["links"].as_array().cloned() else {
            continue;
        };
        let confirmed: Vec<Value> = alerts
            .iter()
            .filter(|a| a.runbook.confirm.0 == title && p["title"] == a.runbook.confirm.1)
            .map(link)
            .collect();
        let shown: Vec<&String> = metrics
            .iter()
            .filter(|m| {
                p["targets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|t| mentions(t["expr"].as_str().unwrap_or(""), m))
            })
            .collect();
        let reading: Vec<Value> = if confirmed.is_empty() && links.is_empty() {
            alerts
                .iter()
                .filter(|a| {
                    a.variants
                        .iter()
                        .any(|v| shown.iter().any(|m| mentions(&v.expr, m)))
                })
                .map(link)
                .collect()
        } else {
            vec![]
        };
        p["links"] = Value::Array([links, confirmed, reading].concat());
    }
}

fn dashboard(
    cfg: &Config,
    uid: &str,
    title: &str,
    description: &str,
    mut panels: Vec<Value>,
) -> Value {
    let base = cfg.kit.runbook_base();
    link_runbooks(title, &mut panels, &super::alerts::alerts(cfg), &base);
    let build = n::BUILD_INFO.exposed_name();
    json!({
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["launchguard"],
        // Provisioned from the kit: changes belong in the render, not in Grafana's editor
        // (dashboard-linter's `uneditable-dashboard`).
        "editable": false,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-24h", "to": "now"},
        "timezone": "browser",
        "annotations": {"list": []},
        "links": [{
            "title": "Runbooks",
            "type": "link",
            "url": base,
            "icon": "doc",
            "targetBlank": true
        }],
        "templating": {"list": [
            {
                "name": "datasource",
                "label": "Data source",
                "type": "datasource",
                "query": "prometheus",
                "current": {},
                "hide": 0,
                "refresh": 1,
                "regex": "",
                "options": [],
                "includeAll": false,
                "multi": false
            },
            label_variable("job", "Job", &build),
            label_variable("instance", "Instance", &format!("{build}{{job=~\"$job\"}}")),
        ]},
        "panels": panels,
    })
}

/// Grafana's unit of a catalogue unit.
fn grafana_unit(u: Unit) -> &'static str {
    match u {
        Unit::Bytes => "decbytes",
        Unit::Seconds => "s",
        Unit::Count(_) => "short",
        Unit::Ratio => "percentunit",
    }
}

/// The figure panel: value, thresholds as steps, and the 7-day trend of its daily peak, with
/// the figure's detail series when the catalogue names one.
fn figure_panel(d: &FigureDef, t: Threshold) -> Panel {
    let m = format!("figure={}", super::alerts::quote(d.name.label()));
    const TREND: &str = "daily peak in 7 days at the 7-day trend";
    let pn = panel(Kind::TimeSeries, d.title, grafana_unit(d.unit), 6, 8)
        .q(q(ds(&n::FIGURE_VALUE, &m), "value"))
        .q(q(scoped(&recording::figure_predict_7d(), SCOPE, &m), TREND))
        .dashed(TREND)
        .th(level_steps(t))
        .desc(format!(
            "{} Warning and critical thresholds are the orange and red steps.",
            d.help
        ));
    match d.kit.detail {
        // The catalogue names a bare metric: scoped like every other selector.
        Some((metric, legend)) => pn.q(q(scoped(metric, SCOPE, ""), legend)),
        None => pn,
    }
}

pub fn founder(cfg: &Config) -> Value {
    let mut l = Layout::new();
    performance_guard(&mut l, cfg);
    cost_shield(&mut l, cfg);
    guard(&mut l);
    resource_monitor(&mut l, cfg);
    platform_jobs(&mut l, cfg);
    strain_test(&mut l, cfg);
    alerts_firing(&mut l);

    dashboard(
        cfg,
        p::FOUNDER_UID,
        p::FOUNDER,
        "Tier headroom, budgets, resource figures with thresholds and trends, strain readiness",
        l.panels,
    )
}

/// The tier, the one overall health and each tier limit's headroom.
fn performance_guard(l: &mut Layout, cfg: &Config) {
    let k = &cfg.kit.rules;
    l.row("Performance Guard");
    l.add(
        panel(Kind::Stat, p::TIER, "none", 4, 5)
            .q(qi(ds(&n::TIER_INFO, ""), "{{tier}}"))
            .name_only()
            .desc("The tier the platform runs at, from the config."),
    );
    l.add(
        panel(Kind::Stat, p::HEALTH_LEVEL, "none", 4, 5)
            .q(qi(super::health::overall(cfg, SCOPE), "health"))
            // The worst of every part: its runbook is the whole list of alerts.
            .link("Runbooks: every alert", cfg.kit.runbook_base())
            .th(steps("green", &[("orange", 1.0), ("red", 2.0)]))
            .map(json!([{"type": "value", "options": {
                "0": {"text": "OK", "color": "green", "index": 0},
                "1": {"text": "WARNING", "color": "orange", "index": 1},
                "2": {"text": "CRITICAL", "color": "red", "index": 2}
            }}]))
            .desc(
                "The worst of the Resource Monitor figures' levels, the budgets (orange from the alert ratio, red when used up), the sources (down, stale, never collected) and the guard's store (red when down).",
            ),
    );
    l.add(
        panel(Kind::BarGauge, p::HEADROOM, "percentunit", 16, 5)
            .q(qi(ds(&n::TIER_HEADROOM_RATIO, ""), "{{resource}}"))
            .th(steps(
                "red",
                &[("orange", 0.0), ("green", 1.0 - k.tier_near_ratio)],
            ))
            .range(0.0, 1.0)
            .desc("Share of each tier limit still free. Orange: plan the upgrade."),
    );
    l.add(
        panel(Kind::Stat, p::TIER_USAGE, "percentunit", 24, 5)
            .q(q(ds(&n::TIER_USAGE_RATIO, ""), "{{resource}}"))
            .th(steps("green", &[("orange", k.tier_near_ratio), ("red", 1.0)]))
            .trend("1h")
            .desc("Usage of each tier limit now, with the arrow and sparkline of its change over the last hour: red and up is heading for the limit."),
    );
}

/// Budgets: used, forecast to the period's end, exhaustion, by provider and by client, spend.
fn cost_shield(l: &mut Layout, cfg: &Config) {
    let b = &cfg.budgets;
    let budget_steps = steps("green", &[("orange", b.alert_ratio), ("red", 1.0)]);
    l.row("Cost Shield");
    l.add(
        panel(Kind::BarGauge, p::BUDGET_USE, "percentunit", 8, 6)
            .q(qi(ds(&n::BUDGET_USED_RATIO, ""), "{{scope}}"))
            .th(budget_steps.clone())
            .range(0.0, 1.0)
            .desc("Spend over budget per scope (client_daily: the largest client's)."),
    );
    l.add(
        panel(Kind::BarGauge, p::BUDGET_FORECAST, "percentunit", 8, 6)
            .q(qi(
                scoped(&recording::budget_predict_period_end(), SCOPE, ""),
                "{{scope}}",
            ))
            .th(budget_steps.clone())
            .range(0.0, 1.0)
            .desc(
                "Where each budget ends its period (local midnight, month end) at the recent pace.",
            ),
    );
    l.add(
        panel(Kind::Stat, p::BUDGET_EXHAUSTED, "dateTimeAsIso", 8, 6)
            .q(qi(
                format!(
                    "{} * 1000",
                    scoped(&recording::budget_exhaustion(), SCOPE, "")
                ),
                "{{scope}}",
            ))
            .desc("When each budget runs out at the recent pace. No value: spend is flat."),
    );
    l.add(
        panel(Kind::BarGauge, p::PROVIDER_SPEND, "percentunit", 8, 7)
            .q(qi(
                format!(
                    "{} / on(job, instance) group_left() {}",
                    ds(&n::COST_USD, "period=\"day\""),
                    ds(&n::BUDGET_USD, "scope=\"daily\"")
                ),
                "{{provider}}",
            ))
            .th(budget_steps.clone())
            .range(0.0, 1.0)
            .desc("Each provider's spend today as a share of the daily budget."),
    );
    l.add(
        panel(Kind::BarGauge, p::CLIENT_BUDGET, "percentunit", 8, 7)
            .q(qi(
                by_name(format!(
                    "topk(10, {})",
                    ds(&n::CLIENT_BUDGET_USED_RATIO, "")
                )),
                "{{name}}",
            ))
            .th(budget_steps)
            .range(0.0, 1.0)
            .desc("The ten clients closest to their daily budget."),
    );
    l.add(
        panel(Kind::Stat, p::SPEND_PACE, "currencyUSD", 8, 5)
            .q(q(
                // The day's spend resets at midnight: the negative slope there is not a pace.
                // Replicas read the same ledger: one exporter's sum, not theirs added.
                format!(
                    "clamp_min(max(sum by (job, instance) (deriv({}[1h]))), 0) * 3600",
                    ds(&n::COST_USD, "period=\"day\"")
                ),
                "USD per hour",
            ))
            .trend("24h")
            .desc("Spend per hour at the last hour's pace, all providers, with the arrow and sparkline of its change over the last day: red and up means the platform spends faster than a day ago."),
    );
    l.add(
        panel(Kind::Stat, p::SPENT_OF_BUDGET, "currencyUSD", 16, 5)
            .q(qi(
                ds(&n::BUDGET_SPENT_USD, "scope=~\"daily|monthly\""),
                "{{scope}} spent",
            ))
            .q(qi(
                ds(&n::BUDGET_USD, "scope=~\"daily|monthly\""),
                "{{scope}} budget",
            ))
            .desc("Dollars spent against dollars budgeted, today and this month (the budgets in force, founder overrides included). When each runs out: Budget exhausted at."),
    );
    l.add(
        panel(Kind::TimeSeries, "Spend (USD)", "currencyUSD", 8, 7)
            .q(q(
                format!("sum by (period) ({})", ds(&n::COST_USD, "")),
                "{{period}} to date",
            ))
            .desc("Spend today and this month, all providers."),
    );
}

/// The guard: what it refused and why, where it throttles, the founder's kill switches.
fn guard(l: &mut Layout) {
    l.row("Guard");
    l.add(
        panel(Kind::TimeSeries, p::GUARD_DENIALS, "opm", 12, 7)
            .q(q(
                format!(
                    "sum by (decision, reason) (rate({}[$__rate_interval])) * 60",
                    ds(&n::GUARD_DECISIONS, "decision!=\"allow\"")
                ),
                "{{decision}}: {{reason}}",
            ))
            .desc("Admissions the guard denied or throttled per minute, by reason (budget, tier limit, kill switch, store down, ...). A steady line: the platform keeps asking for what the guard refuses."),
    );
    l.add(
        panel(Kind::Stat, p::GUARD_THROTTLED, "none", 6, 7)
            .q(qi(ds(&n::GUARD_THROTTLED, ""), "{{scope}}"))
            .th(steps("green", &[("orange", 1.0)]))
            .map(json!([{"type": "value", "options": {
                "0": {"text": "no", "color": "green", "index": 0},
                "1": {"text": "THROTTLED", "color": "orange", "index": 1}
            }}]))
            .desc("Scopes in which the guard throttled or denied an admission during the last minute."),
    );
    l.add(
        panel(Kind::Stat, p::GUARD_KILL_SWITCHES, "short", 6, 7)
            .q(qi(
                // Replicas share the founder's switches: one exporter's count.
                format!(
                    "max(count by (job, instance) ({} == 1)) or vector(0)",
                    ds(&n::GUARD_KILL_SWITCH, "")
                ),
                "on",
            ))
            .th(steps("green", &[("red", 1.0)]))
            .desc("Kill switches the founder has on (global, per provider or per client): every admission they cover is denied until switched off through the admin API."),
    );
}

/// One panel per catalogue figure, with its thresholds.
fn resource_monitor(l: &mut Layout, cfg: &Config) {
    l.row("Resource Monitor");
    for d in &FIGURES {
        l.add(figure_panel(d, cfg.thresholds.get(d.name)));
    }
}

/// The sync job's age, cron failures and the pooler's use.
fn platform_jobs(l: &mut Layout, cfg: &Config) {
    let k = &cfg.kit.rules;
    l.row("Platform jobs and database");
    let stale_steps = |warn: f64, crit: f64| steps("green", &[("orange", warn), ("red", crit)]);
    l.add(
        panel(Kind::BarGauge, p::SYNC_AGE, "s", 8, 6)
            .q(qi(
                format!("time() - {}", ds(&n::CRON_LAST_SUCCESS, "")),
                "{{cron_job}}",
            ))
            .th(stale_steps(
                k.sync_job_late_cadences.warning * cfg.current_limits().cron_cadence.as_secs_f64(),
                k.sync_job_late_cadences.critical * cfg.current_limits().cron_cadence.as_secs_f64(),
            ))
            .desc(format!(
                "Steps: {}x and {}x the cron cadence of the tier configured at render time; the alert reads the live cadence.",
                k.sync_job_late_cadences.warning, k.sync_job_late_cadences.critical
            )),
    );
    l.add(
        panel(Kind::BarGauge, p::CRON_FAILURES, "short", 8, 6)
            .q(qi(ds(&n::CRON_FAILURES, ""), "{{cron_job}}"))
            .th(level_steps(k.cron_failures))
            .desc("Failed runs of each pg_cron job in the last 24 hours."),
    );
    l.add(
        panel(Kind::BarGauge, p::POOLER, "percentunit", 8, 6)
            .q(qi(
                format!(
                    "{} / {}",
                    ds(&n::DB_CONNECTIONS, ""),
                    ds(&n::DB_MAX_CONNECTIONS, "")
                ),
                "connections",
            ))
            .th(level_steps(k.pooler_ratio))
            .range(0.0, 1.0)
            .desc("Open connections over max_connections."),
    );
}

/// The suites' pass ratios against the configured upgrade ratio, their last runs, readiness.
fn strain_test(l: &mut Layout, cfg: &Config) {
    l.row("Strain Test");
    l.add(
        panel(Kind::Stat, p::STRAIN_PASS, "percentunit", 8, 5)
            .q(qi(ds(&n::STRAIN_PASS_RATIO, ""), "{{suite}}"))
            .th(steps("red", &[("green", cfg.strain.upgrade_pass_ratio)]))
            .desc(format!(
                "Share of each suite's scenarios that passed in its latest run that counts; an upgrade needs {}.",
                humanize_percentage(cfg.strain.upgrade_pass_ratio)
            )),
    );
    l.add(
        panel(Kind::Stat, p::STRAIN_LAST_RUN, "dateTimeFromNow", 8, 5)
            .q(qi(
                format!("{} * 1000", ds(&n::STRAIN_LAST_RUN_TS, "")),
                "{{suite}}",
            ))
            .desc("When each suite last ran."),
    );
    l.add(
        panel(Kind::Stat, p::STRAIN_READY, "none", 8, 5)
            .q(qi(ds(&n::TIER_UPGRADE_READY, ""), "{{target}}"))
            .map(flag("NOT READY", "READY"))
            .desc("Whether the latest suite for each target tier allows the upgrade."),
    );
}

/// launchguard's alerts firing now.
fn alerts_firing(l: &mut Layout) {
    l.row("Alerts");
    let mut firing = qi(
        "ALERTS{alertstate=\"firing\", alertname=~\"Launchguard.*\"}",
        "{{alertname}}",
    );
    firing.table = true;
    l.add(
        panel(Kind::Table, p::FIRING, "none", 24, 8)
            .q(firing)
            .desc("launchguard alerts firing now, as Prometheus evaluates them."),
    );
}

pub fn exporter_health(cfg: &Config) -> Value {
    let stale = cfg.kit.rules.source_stale;
    let mut l = Layout::new();
    l.row("Exporter");
    l.add(
        panel(Kind::Stat, p::SOURCES_UP, "none", 6, 5)
            .q(qi(ds(&n::SOURCE_UP, ""), "{{source}}"))
            .map(flag("DOWN", "UP"))
            .desc("Whether each source's last collection succeeded."),
    );
    l.add(
        panel(Kind::Stat, p::BUILD, "none", 6, 5)
            .q(qi(ds(&n::BUILD_INFO, ""), "{{version}} ({{revision}})"))
            .name_only()
            .desc("The running launchguard build; no value means Prometheus has no launchguard metrics."),
    );
    l.add(
        panel(Kind::Stat, p::CONFIG_RELOAD, "none", 6, 5)
            .q(qi(ds(&n::CONFIG_RELOAD_OK, ""), "last reload"))
            .map(flag("FAILED", "OK"))
            .desc("FAILED: the last config change was refused and the previous config keeps running; the log names the file, line and field."),
    );
    l.add(
        panel(Kind::Stat, p::FIGURES_AVAILABLE, "none", 6, 5)
            .q(qi(ds(&n::FIGURE_AVAILABLE, ""), "{{figure}}"))
            .map(flag("MISSING", "OK"))
            .desc("Figures whose table, column or extension is missing, or whose query failed."),
    );
    l.row("Collections");
    l.add(
        panel(Kind::TimeSeries, p::DATA_AGE, "s", 12, 8)
            .q(q(
                format!("time() - {}", ds(&n::SOURCE_LAST_SUCCESS, "")),
                "{{source}}",
            ))
            .th(steps(
                "green",
                &[
                    ("orange", stale.warning.as_secs_f64()),
                    ("red", stale.critical.as_secs_f64()),
                ],
            ))
            .desc("Time since each source's last successful collection."),
    );
    l.add(
        panel(Kind::TimeSeries, p::COLLECT_DURATION, "s", 12, 8)
            .q(q(ds(&n::SOURCE_DURATION, ""), "{{source}}"))
            .desc("Duration of each source's last collection attempt."),
    );
    l.add(
        panel(Kind::TimeSeries, p::COLLECT_ERRORS, "short", 24, 8)
            .q(q(
                format!(
                    "sum by (source, reason) (increase({}[$__rate_interval]))",
                    ds(&n::SOURCE_ERRORS, "")
                ),
                "{{source}}: {{reason}}",
            ))
            .desc("Failed collections by source and reason."),
    );
    dashboard(
        cfg,
        p::HEALTH_UID,
        p::HEALTH,
        "Sources up, data age, collection durations and errors of the launchguard exporter",
        l.panels,
    )
}

/// Every query expression of a dashboard, in panel order.
pub fn expressions(d: &Value) -> Vec<String> {
    d["panels"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(str::to_string))
        .collect()
}
