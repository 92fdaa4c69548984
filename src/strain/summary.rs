//! The end-of-run summary table: one row per scenario, one verdict column per threshold.

use super::judge::THRESHOLDS;
use super::report::Report;

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| {
        if v >= 100.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    })
}

/// The table as text, ending with the suite's verdict line.
pub fn table(r: &Report) -> String {
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
                    st.error_ratio
                        .map_or("-".into(), |e| format!("{:.2}%", e * 100.0)),
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
            let cell = s
                .verdicts
                .iter()
                .find(|v| v.threshold == t)
                .map_or("not run", |v| if v.passed { "pass" } else { "FAIL" });
            row.push(cell.to_string());
        }
        rows.push(row);
    }
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
    for s in &r.scenarios {
        for v in s.verdicts.iter().filter(|v| !v.passed) {
            out.push_str(&format!(
                "  {} {}: {}\n",
                s.name,
                v.threshold,
                v.reason.as_deref().unwrap_or("failed")
            ));
        }
    }
    out.push_str(&format!(
        "suite {}: {}/{} scenarios passed (ratio {:.2}, an upgrade needs >= {:.2}){}: {}\n",
        r.suite,
        r.scenarios_passed,
        r.scenarios_run,
        r.pass_ratio,
        r.required_pass_ratio,
        r.stop_reason
            .as_deref()
            .map_or(String::new(), |s| format!(", stopped early ({s})")),
        if r.passed { "PASS" } else { "FAIL" }
    ));
    out
}
