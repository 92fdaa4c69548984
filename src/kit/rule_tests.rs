//! `promtool test rules` files for every alert, made from the same catalogue as the rules but
//! stating the behaviour independently of the PromQL: each threshold is probed just under it and
//! at it (or one step past it for ages), one evaluation before `for` elapses and when it has.
//! Critical values expect the warning too: the rules inhibit nothing, Alertmanager does.
//!
//! In promtool time starts at 0, so ages are made from a timestamp series held at a fixed
//! instant and evaluated at instants past it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::alerts::{Alert, Drive, Probe, Resource, Severity, Variant, expected_text};
use super::format::{prom_duration, promql_number, readable_number};
use super::recording;
use super::rules::runbook_url;
use crate::core::budget::Scope;
use crate::metrics::names as n;

#[derive(Debug, Serialize)]
pub struct TestFile {
    pub rule_files: Vec<String>,
    pub evaluation_interval: String,
    pub tests: Vec<TestGroup>,
}

#[derive(Debug, Serialize)]
pub struct TestGroup {
    pub name: String,
    pub interval: String,
    pub input_series: Vec<InputSeries>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alert_rule_test: Vec<AlertTest>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub promql_expr_test: Vec<ExprTest>,
}

#[derive(Debug, Serialize)]
pub struct InputSeries {
    pub series: String,
    pub values: String,
}

#[derive(Debug, Serialize)]
pub struct AlertTest {
    pub eval_time: String,
    pub alertname: String,
    pub exp_alerts: Vec<ExpAlert>,
}

#[derive(Debug, Serialize)]
pub struct ExpAlert {
    pub exp_labels: BTreeMap<String, String>,
    pub exp_annotations: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct ExprTest {
    pub expr: String,
    pub eval_time: String,
    pub exp_samples: Vec<ExpSample>,
}

#[derive(Debug, Serialize)]
pub struct ExpSample {
    pub labels: String,
    pub value: f64,
}

fn gcd(a: u128, b: u128) -> u128 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Evaluation step of an alert's tests: a divisor of its `for` and of a minute.
fn step_ms(a: &Alert) -> u128 {
    gcd(a.for_.as_millis(), 60_000)
}

fn dur(ms: u128) -> String {
    prom_duration(Duration::from_millis(ms as u64))
}

/// A constant series with enough samples to cover `until_ms`.
fn constant(series: &str, v: f64, step: u128, until_ms: u128) -> InputSeries {
    InputSeries {
        series: series.to_string(),
        values: format!("{}+0x{}", promql_number(v), until_ms / step + 2),
    }
}

struct Ctx<'a> {
    alert: &'a Alert,
    runbook_base: &'a str,
    step: u128,
    for_ms: u128,
}

impl Ctx<'_> {
    /// Ready then not ready fires; ready throughout stays silent.
    fn lost(&self, series: &str, labels: &[(&'static str, String)]) -> Vec<TestGroup> {
        let (c, a) = (self, self.alert);
        let (step, for_ms) = (c.step, c.for_ms);
        let mut out = Vec::new();
        let drop_ms = 5 * step;
        let until = drop_ms + for_ms + 2 * step;
        let n_after = (until - drop_ms) / step + 1;
        let values = format!("1+0x4 0+0x{n_after}");
        let all: Vec<&Variant> = a.variants.iter().collect();
        out.push(c.group(
            "ready then not ready: fires".into(),
            vec![InputSeries {
                series: series.to_string(),
                values,
            }],
            vec![
                c.check(drop_ms + for_ms - step, vec![]),
                c.check(drop_ms + for_ms, c.expect(&all, 0.0, labels, 0.0)),
            ],
        ));
        out.push(c.group(
            "never ready: silent (not lost)".into(),
            vec![constant(series, 0.0, step, until)],
            vec![c.check(drop_ms + for_ms, vec![])],
        ));
        out
    }

    /// Each threshold just short of it and at it, before and when `for` elapses (short is
    /// under it, or over it for a `falling` value); a gated alert silent below its floor.
    fn level(
        &self,
        step_v: f64,
        drive: &Drive,
        labels: &[(&'static str, String)],
        falling: bool,
    ) -> Vec<TestGroup> {
        let (c, a) = (self, self.alert);
        let (step, for_ms) = (c.step, c.for_ms);
        let mut out = Vec::new();
        let (vstep, short) = if falling {
            (-step_v, "just over")
        } else {
            (step_v, "just under")
        };
        let fires = |value: f64, th: f64| if falling { value <= th } else { value >= th };
        let until = for_ms + 2 * step;
        for v in &a.variants {
            for (what, value) in [(short, v.threshold - vstep), ("at", v.threshold)] {
                let input = drive
                    .series(value)
                    .into_iter()
                    .map(|(s, x)| constant(&s, x, step, until))
                    .collect();
                let firing: Vec<&Variant> = a
                    .variants
                    .iter()
                    .filter(|w| fires(value, w.threshold))
                    .collect();
                let mut checks = Vec::new();
                if for_ms > 0 {
                    checks.push(c.check(for_ms - step, vec![]));
                }
                checks.push(c.check(for_ms, c.expect(&firing, value, labels, 0.0)));
                out.push(c.group(
                    format!(
                        "{what} the {} threshold ({})",
                        v.severity.label(),
                        readable_number(value)
                    ),
                    input,
                    checks,
                ));
            }
        }
        if let Drive::Gated {
            inner,
            gate,
            at_least,
            step: gate_step,
        } = drive
        {
            // The most severe threshold's value with the gate just under its minimum: silent.
            let top = a
                .variants
                .iter()
                .map(|v| v.threshold)
                .reduce(|x, y| if fires(x, y) { x } else { y })
                .unwrap_or(0.0);
            let under = at_least - gate_step;
            let mut input: Vec<InputSeries> = inner
                .series(top)
                .into_iter()
                .map(|(s, x)| constant(&s, x, step, until))
                .collect();
            input.push(constant(gate, under, step, until));
            out.push(c.group(
                format!(
                    "at the highest threshold with {} just under its minimum ({}): silent",
                    gate,
                    readable_number(under)
                ),
                input,
                vec![c.check(for_ms + step, vec![])],
            ));
        }
        out
    }

    /// Silent up to each age limit, firing one step past it; no success at all counts from time 0.
    fn age(
        &self,
        series: &str,
        extra: &[(String, f64)],
        cadence: &f64,
        labels: &[(&'static str, String)],
    ) -> Vec<TestGroup> {
        let (c, a) = (self, self.alert);
        let (step, for_ms) = (c.step, c.for_ms);
        let mut out = Vec::new();
        let ts0_ms: u128 = 600_000;
        // First evaluation at which `age > limit` holds, for each variant.
        let first_true = |v: &Variant| {
            let limit_ms = (v.threshold * cadence * 1000.0).round() as u128;
            (ts0_ms + limit_ms) / step * step + step
        };
        let last = a.variants.iter().map(first_true).max().unwrap_or(0) + for_ms + step;
        let mut input = vec![constant(series, ts0_ms as f64 / 1000.0, step, last)];
        input.extend(extra.iter().map(|(s, x)| constant(s, *x, step, last)));
        let mut checks = Vec::new();
        for v in &a.variants {
            let fire_at = first_true(v) + for_ms;
            for at in [fire_at - step, fire_at] {
                let firing: Vec<&Variant> = a
                    .variants
                    .iter()
                    .filter(|w| at >= first_true(w) + for_ms)
                    .collect();
                let age = (at - ts0_ms) as f64 / 1000.0;
                checks.push(c.check(at, c.expect(&firing, age, labels, *cadence)));
            }
        }
        out.push(c.group(
            "silent up to each limit, firing one step past it".into(),
            input,
            checks,
        ));
        if !extra.is_empty() {
            // No timestamp at all (no success in the history read) counts as time 0.
            let all: Vec<&Variant> = a.variants.iter().collect();
            out.push(
                c.group(
                    "no success at all: fires as if it last succeeded at time 0".into(),
                    extra
                        .iter()
                        .map(|(s, x)| constant(s, *x, step, last))
                        .collect(),
                    vec![c.check(last, c.expect(&all, last as f64 / 1000.0, labels, *cadence))],
                ),
            );
        }
        out
    }

    /// A burst just under and at each threshold; windowed variants clear one window later.
    fn burst(
        &self,
        series: &str,
        window: &Duration,
        windowed: &[Severity],
        labels: &[(&'static str, String)],
    ) -> Vec<TestGroup> {
        let (c, a) = (self, self.alert);
        let (step, for_ms) = (c.step, c.for_ms);
        let mut out = Vec::new();
        let jump_ms = 5 * step;
        let window_ms = window.as_millis();
        let until = jump_ms + window_ms + for_ms + 3 * step;
        for v in &a.variants {
            for (what, value) in [("just under", v.threshold - 1.0), ("at", v.threshold)] {
                let input = InputSeries {
                    series: series.to_string(),
                    values: format!(
                        "0+0x{} {}+0x{}",
                        jump_ms / step - 1,
                        promql_number(value),
                        (until - jump_ms) / step + 1
                    ),
                };
                let fired: Vec<&Variant> =
                    a.variants.iter().filter(|w| value >= w.threshold).collect();
                let kept: Vec<&Variant> = fired
                    .iter()
                    .copied()
                    .filter(|w| !windowed.contains(&w.severity))
                    .collect();
                let mut checks = vec![c.check(jump_ms - step, vec![])];
                if for_ms > 0 {
                    checks.push(c.check(jump_ms + for_ms - step, vec![]));
                }
                checks.push(c.check(jump_ms + for_ms, c.expect(&fired, value, labels, 0.0)));
                checks.push(c.check(
                    jump_ms + window_ms - 2 * step,
                    c.expect(&fired, value, labels, 0.0),
                ));
                checks.push(c.check(
                    jump_ms + window_ms + for_ms + step,
                    c.expect(&kept, value, labels, 0.0),
                ));
                out.push(c.group(
                    format!(
                        "a burst {what} the {} threshold ({}): the windowed variants clear one window later",
                        v.severity.label(),
                        readable_number(value)
                    ),
                    vec![input],
                    checks,
                ));
            }
        }
        out
    }

    /// Down from the start fires; up, or down after a success, stays silent.
    fn never_up(
        &self,
        series: &str,
        success: &str,
        labels: &[(&'static str, String)],
    ) -> Vec<TestGroup> {
        let (c, a) = (self, self.alert);
        let (step, for_ms) = (c.step, c.for_ms);
        let mut out = Vec::new();
        let until = for_ms + 2 * step;
        let all: Vec<&Variant> = a.variants.iter().collect();
        let mut checks = Vec::new();
        if for_ms > 0 {
            checks.push(c.check(for_ms - step, vec![]));
        }
        checks.push(c.check(for_ms, c.expect(&all, 0.0, labels, 0.0)));
        out.push(c.group(
            "down from the start, never succeeded: fires once for elapses".into(),
            vec![constant(series, 0.0, step, until)],
            checks,
        ));
        out.push(c.group(
            "up: silent".into(),
            vec![constant(series, 1.0, step, until)],
            vec![c.check(for_ms + step, vec![])],
        ));
        out.push(c.group(
            "down after a success: silent (SourceDown and SourceStale speak)".into(),
            vec![
                constant(series, 0.0, step, until),
                constant(success, 1.0, step, until),
            ],
            vec![c.check(for_ms + step, vec![])],
        ));
        out
    }

    fn expect(
        &self,
        variants: &[&Variant],
        value: f64,
        labels: &[(&'static str, String)],
        cadence: f64,
    ) -> Vec<ExpAlert> {
        let lbl: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        variants
            .iter()
            .map(|v| {
                let mut exp_labels: BTreeMap<String, String> = labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect();
                exp_labels.insert("severity".into(), v.severity.label().into());
                if let Resource::Static(r) = self.alert.resource {
                    exp_labels.insert("resource".into(), r.into());
                }
                ExpAlert {
                    exp_labels,
                    exp_annotations: BTreeMap::from([
                        ("summary".into(), self.alert.summary.into()),
                        (
                            "description".into(),
                            expected_text(&v.description, value, &lbl, cadence),
                        ),
                        (
                            "runbook_url".into(),
                            runbook_url(self.alert, self.runbook_base),
                        ),
                    ]),
                }
            })
            .collect()
    }

    fn check(&self, at_ms: u128, exp: Vec<ExpAlert>) -> AlertTest {
        AlertTest {
            eval_time: dur(at_ms),
            alertname: self.alert.name.clone(),
            exp_alerts: exp,
        }
    }

    fn group(&self, name: String, input: Vec<InputSeries>, checks: Vec<AlertTest>) -> TestGroup {
        TestGroup {
            name: format!("{}: {name}", self.alert.name),
            interval: dur(self.step),
            input_series: input,
            alert_rule_test: checks,
            promql_expr_test: vec![],
        }
    }
}

/// The tests of one alert.
pub fn alert_tests(a: &Alert, runbook_base: &str) -> Vec<TestGroup> {
    let c = Ctx {
        alert: a,
        runbook_base,
        step: step_ms(a),
        for_ms: a.for_.as_millis(),
    };
    let (step, for_ms) = (c.step, c.for_ms);
    let mut out = Vec::new();
    match &a.probe {
        Probe::Level {
            step: vstep,
            drive,
            labels,
        } => out.extend(c.level(*vstep, drive, labels, false)),
        Probe::Floor {
            step: vstep,
            drive,
            labels,
        } => out.extend(c.level(*vstep, drive, labels, true)),
        Probe::Zero { series, labels } => {
            let until = for_ms + 2 * step;
            out.push(c.group(
                "up: silent".into(),
                vec![constant(series, 1.0, step, until)],
                vec![c.check(for_ms + step, vec![])],
            ));
            let all: Vec<&Variant> = a.variants.iter().collect();
            let mut checks = Vec::new();
            if for_ms > 0 {
                checks.push(c.check(for_ms - step, vec![]));
            }
            checks.push(c.check(for_ms, c.expect(&all, 0.0, labels, 0.0)));
            out.push(c.group(
                "down: fires once for elapses".into(),
                vec![constant(series, 0.0, step, until)],
                checks,
            ));
        }
        Probe::Age {
            series,
            extra,
            cadence,
            labels,
        } => out.extend(c.age(series, extra, cadence, labels)),
        Probe::Absent { series } => {
            let until = for_ms + 2 * step;
            let all: Vec<&Variant> = a.variants.iter().collect();
            let mut checks = Vec::new();
            if for_ms > 0 {
                checks.push(c.check(for_ms - step, vec![]));
            }
            checks.push(c.check(for_ms, c.expect(&all, 1.0, &[], 0.0)));
            out.push(c.group(
                "missing: fires once for elapses".into(),
                vec![constant(&alerts_sel_other(), 0.0, step, until)],
                checks,
            ));
            out.push(c.group(
                "present: silent".into(),
                vec![constant(series, 1.0, step, until)],
                vec![c.check(for_ms + step, vec![])],
            ));
        }
        Probe::Burst {
            series,
            window,
            windowed,
            labels,
        } => out.extend(c.burst(series, window, windowed, labels)),
        Probe::Always => {
            let all: Vec<&Variant> = a.variants.iter().collect();
            out.push(c.group(
                "fires from the first evaluation, with no series at all".into(),
                vec![],
                vec![
                    c.check(0, c.expect(&all, 1.0, &[], 0.0)),
                    c.check(10 * step, c.expect(&all, 1.0, &[], 0.0)),
                ],
            ));
        }
        Probe::NeverUp {
            series,
            success,
            labels,
        } => out.extend(c.never_up(series, success, labels)),
        Probe::Lost { series, labels } => out.extend(c.lost(series, labels)),
    }
    out
}

/// Some launchguard series other than the one an absence test removes.
fn alerts_sel_other() -> String {
    n::QUEUE_DEPTH.exposed_name()
}

pub fn alert_test_file(a: &Alert, runbook_base: &str, alerts_file: &str) -> TestFile {
    TestFile {
        rule_files: vec![format!("../{alerts_file}")],
        evaluation_interval: dur(step_ms(a)),
        tests: alert_tests(a, runbook_base),
    }
}

/// `abs(expr - want) < bool 1e-9` is 1: exact enough, without depending on the float noise of
/// a least-squares fit.
fn close_to(name: &str, matchers: &str, want: f64, at: &str) -> ExprTest {
    ExprTest {
        expr: format!(
            "abs({name}{{{matchers}}} - {}) < bool 1e-9",
            promql_number(want)
        ),
        eval_time: at.into(),
        exp_samples: vec![ExpSample {
            labels: format!("{{{matchers}}}"),
            value: 1.0,
        }],
    }
}

/// Hand-computable checks of the recording rules: straight lines in, exact fits out.
pub fn recording_test_file(recording_file: &str) -> TestFile {
    let fv = format!("{}{{figure=\"queue_depth\"}}", n::FIGURE_VALUE.name);
    let ratio = |s: Scope| format!("{}{{scope=\"{}\"}}", n::BUDGET_USED_RATIO.name, s.label());
    let end = |s: Scope| format!("{}{{scope=\"{}\"}}", n::BUDGET_PERIOD_END.name, s.label());
    let input = vec![
        // The queue grows by one job a minute.
        InputSeries {
            series: fv,
            values: "0+1x120".into(),
        },
        // Daily budget: 10% used at 0, +1% a minute; its period ends at 2h.
        InputSeries {
            series: ratio(Scope::Daily),
            values: "0.1+0.01x120".into(),
        },
        InputSeries {
            series: end(Scope::Daily),
            values: "7200+0x120".into(),
        },
        // Monthly budget: flat, so it has a forecast but no exhaustion time.
        InputSeries {
            series: ratio(Scope::Monthly),
            values: "0.5+0x120".into(),
        },
        InputSeries {
            series: end(Scope::Monthly),
            values: "86400+0x120".into(),
        },
    ];
    let fig = "figure=\"queue_depth\"";
    let tests = vec![
        // At 60m the daily peak is 60; it grows 1440 a day; in 7 days it is 60 + 10080.
        close_to(&recording::figure_max_1d(), fig, 60.0, "60m"),
        close_to(&recording::figure_deriv_per_day_7d(), fig, 1440.0, "60m"),
        close_to(&recording::figure_predict_7d(), fig, 10140.0, "60m"),
        // At 30m the daily ratio is 0.4 and grows 0.6 an hour: at the period end (1.5 h on) it
        // reaches 1.3, and it reaches 1 an hour from now, at 90m = 5400 s.
        close_to(
            &recording::budget_predict_period_end(),
            "scope=\"daily\"",
            1.3,
            "30m",
        ),
        close_to(
            &recording::budget_predict_period_end(),
            "scope=\"monthly\"",
            0.5,
            "30m",
        ),
        close_to(
            &recording::budget_exhaustion(),
            "scope=\"daily\"",
            5400.0,
            "30m",
        ),
        // Flat spend never runs out: no exhaustion time.
        ExprTest {
            expr: format!("{}{{scope=\"monthly\"}}", recording::budget_exhaustion()),
            eval_time: "30m".into(),
            exp_samples: vec![],
        },
    ];
    TestFile {
        rule_files: vec![format!("../{recording_file}")],
        evaluation_interval: "1m".into(),
        tests: vec![
            TestGroup {
                name: "recording rules: trends and budget forecasts".into(),
                interval: "1m".into(),
                input_series: input,
                alert_rule_test: vec![],
                promql_expr_test: tests,
            },
            two_replicas(),
        ],
    }
}

/// Two replicas of `serve` (guard.redis_cluster, overlays/ha): every figure twice, by
/// instance; each replica's forecast stands (one period end, not NaN).
fn two_replicas() -> TestGroup {
    let replicas = ["launchguard-0:10071", "launchguard-1:10071"];
    let two = replicas
        .iter()
        .flat_map(|i| {
            [
                InputSeries {
                    series: format!(
                        "{}{{scope=\"daily\",instance=\"{i}\"}}",
                        n::BUDGET_USED_RATIO.name
                    ),
                    values: "0.1+0.01x120".into(),
                },
                InputSeries {
                    series: format!(
                        "{}{{scope=\"daily\",instance=\"{i}\"}}",
                        n::BUDGET_PERIOD_END.name
                    ),
                    values: "7200+0x120".into(),
                },
            ]
        })
        .collect();
    let both = replicas
        .iter()
        .map(|i| {
            close_to(
                &recording::budget_predict_period_end(),
                &format!("scope=\"daily\",instance=\"{i}\""),
                1.3,
                "30m",
            )
        })
        .collect();
    TestGroup {
        name: "recording rules: two replicas export every figure".into(),
        interval: "1m".into(),
        input_series: two,
        alert_rule_test: vec![],
        promql_expr_test: both,
    }
}
