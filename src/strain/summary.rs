//! The end-of-run summary: one row per scenario, one verdict column per threshold; then the
//! early stops, the comparison with the previous run of the suite, a capacity search's
//! capacities, and the verdict line (which says REHEARSAL when the run never counts).

use super::compare::Change;
use super::judge::THRESHOLDS;
use super::report::{self, Report};

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| {
        if v >= 100.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    })
}

fn change(what: &str, c: &Change, unit: &str, pct: bool) -> String {
    let v = |x: Option<f64>| match x {
        None => "-".to_string(),
        Some(x) if pct => format!("{:.2}%", x * 100.0),
        Some(x) => format!("{}{unit}", ms(Some(x))),
    };
    let ratio = c
        .change_ratio
        .map_or(String::new(), |r| format!(" ({:+.0}%)", r * 100.0));
    format!("{what} {} -> {}{ratio}", v(c.previous), v(c.current))
}

/// The comparison lines: one per scenario, regressions named.
fn comparison(r: &Report, out: &mut String) {
    let Some(prev) = &r.previous_run else {
        return;
    };
    out.push_str(&format!(
        "against the previous {} run ({}{}), regression past {:.0}%:\n",
        r.suite,
        prev.finished_at.format("%Y-%m-%d %H:%M:%S UTC"),
        if prev.rehearsal { ", a rehearsal" } else { "" },
        r.regression_ratio.unwrap_or(0.0) * 100.0
    ));
    for s in &r.scenarios {
        let Some(c) = &s.comparison else {
            continue;
        };
        let flag = if !c.same_load {
            "  (load differs: not judged)".to_string()
        } else if c.regressions.is_empty() {
            String::new()
        } else {
            format!("  REGRESSION: {}", c.regressions.join(", "))
        };
        out.push_str(&format!(
            "  {}: {}; {}; {}{flag}\n",
            s.name,
            change("p95", &c.p95_ms, " ms", false),
            change("errors", &c.error_ratio, "", true),
            change("achieved", &c.achieved_rate, "/s", false),
        ));
    }
}

/// The table as text, ending with the suite's verdict line.
pub fn table(r: &Report) -> String {
    let mut out = grid(&rows(r));
    failures(r, &mut out);
    comparison(r, &mut out);
    if r.capacity_rule.is_some() {
        capacity(r, &mut out);
        return out;
    }
    if r.rehearsal {
        out.push_str(&format!(
            "REHEARSAL: this run never counts for readiness: {}\n",
            r.rehearsal_reasons.join("; ")
        ));
    }
    out.push_str(&format!(
        "suite {}{}: {}/{} scenarios passed (ratio {:.2}, an upgrade needs >= {:.2}){}: {}\n",
        r.suite,
        if r.rehearsal { " (rehearsal)" } else { "" },
        r.scenarios_passed,
        r.scenarios_run,
        r.pass_ratio,
        r.required_pass_ratio,
        stopped_early(r),
        if r.passed { "PASS" } else { "FAIL" }
    ));
    out
}

fn stopped_early(r: &Report) -> String {
    r.stop_reason
        .as_deref()
        .map_or(String::new(), |s| format!(", stopped early ({s})"))
}

fn percent2(e: Option<f64>) -> String {
    e.map_or("-".into(), |e| format!("{:.2}%", e * 100.0))
}

/// The header and one row per scenario: its figures, then each threshold's verdict.
fn rows(r: &Report) -> Vec<Vec<String>> {
    let mut head: Vec<String> = [
        "scenario",
        "requests",
        "target/s",
        "achieved/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "errors",
        "late",
        "dropped",
        "mem max",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    head.extend(THRESHOLDS.iter().map(|s| s.to_string()));
    let mut rows = vec![head];
    for s in &r.scenarios {
        let mut row = vec![s.name.to_string()];
        match &s.stats {
            Some(st) => {
                let q = st.latency_ms.corrected;
                row.extend([
                    st.counts.sent.to_string(),
                    format!("{:.1}", st.target_rate),
                    format!("{:.1}", st.achieved_rate),
                    ms(q.map(|q| q.p50)),
                    ms(q.map(|q| q.p95)),
                    ms(q.map(|q| q.p99)),
                    ms(q.map(|q| q.max)),
                    percent2(st.error_ratio),
                    st.counts.late.to_string(),
                    st.counts.dropped.to_string(),
                    st.memory
                        .max_ratio
                        .map_or("-".into(), |m| format!("{:.0}%", m * 100.0)),
                ]);
            }
            None => row.extend(std::iter::repeat_n("-".to_string(), 11)),
        }
        for t in THRESHOLDS {
            let cell = s.verdicts.iter().find(|v| v.threshold == t).map_or(
                if s.verdicts.is_empty() {
                    "not run"
                } else {
                    "-"
                },
                |v| {
                    if v.passed { "pass" } else { "FAIL" }
                },
            );
            row.push(cell.to_string());
        }
        rows.push(row);
    }
    rows
}

/// Rows as aligned columns, a rule under the header.
fn grid(rows: &[Vec<String>]) -> String {
    let cols = rows[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, v)| {
                if c == 0 {
                    format!("{v:<w$}", w = widths[c])
                } else {
                    format!("{v:>w$}", w = widths[c])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (cols - 1)));
            out.push('\n');
        }
    }
    out
}

/// Why each failing threshold failed, and where a step stopped early.
fn failures(r: &Report, out: &mut String) {
    for s in &r.scenarios {
        for v in s.verdicts.iter().filter(|v| !v.passed) {
            out.push_str(&format!(
                "  {} {}: {}\n",
                s.name,
                v.threshold,
                v.reason.as_deref().unwrap_or("failed")
            ));
        }
        if let Some(e) = &s.early_stop {
            out.push_str(&format!("  {} {}\n", s.name, report::early_stop_text(e)));
        }
    }
}

/// A capacity search: each scenario's capacity, its steps, and the search's verdict line.
fn capacity(r: &Report, out: &mut String) {
    for s in &r.scenarios {
        let Some(c) = &s.capacity else { continue };
        out.push_str(&format!("{}\n", report::capacity_line(s.name.as_str(), c)));
        for st in &c.steps {
            let failed = if st.failed.is_empty() {
                String::new()
            } else {
                format!(
                    " {}{}",
                    st.failed.join(", "),
                    if st.early_stop.is_some() {
                        ", stopped early"
                    } else {
                        ""
                    }
                )
            };
            out.push_str(&format!(
                "  step {:>8.1} req/s: {} (achieved {:.1}/s, p95 {} ms, errors {}){failed}\n",
                st.target_rate,
                if st.passed { "pass" } else { "FAIL" },
                st.achieved_rate,
                ms(st.p95_ms),
                percent2(st.error_ratio),
            ));
        }
    }
    out.push_str(&format!(
        "capacity search: {} of {} scenarios found a passing rate{}\n",
        r.scenarios_passed,
        r.scenarios.len(),
        stopped_early(r)
    ));
}
