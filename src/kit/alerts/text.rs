//! An alert's description as parts (text, `$value` in a unit, a label, the sync job's cadence):
//! rendered once as the Go template Prometheus evaluates and once as the text a promtool test
//! expects for a known value, so the two cannot disagree.

use crate::catalogue;
use crate::metrics::names as n;

use super::super::format::{humanize, humanize_duration, humanize_percentage};
use super::Severity;

/// How a value is printed in an alert's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Ratio,
    Bytes,
    Seconds,
    Count,
    /// Dollars, to the cent.
    Usd,
}

impl From<catalogue::Unit> for Unit {
    fn from(u: catalogue::Unit) -> Self {
        match u {
            catalogue::Unit::Ratio => Unit::Ratio,
            catalogue::Unit::Bytes => Unit::Bytes,
            catalogue::Unit::Seconds => Unit::Seconds,
            catalogue::Unit::Count(_) => Unit::Count,
        }
    }
}

impl Unit {
    /// The Go template that prints `$value`.
    fn template(self) -> &'static str {
        match self {
            Unit::Ratio => "{{ $value | humanizePercentage }}",
            Unit::Bytes => "{{ $value | humanize }}B",
            Unit::Seconds => "{{ $value | humanizeDuration }}",
            Unit::Count => "{{ $value | humanize }}",
            Unit::Usd => "${{ printf \"%.2f\" $value }}",
        }
    }

    /// The same text for a known value (thresholds, and the promtool expectations).
    pub fn text(self, v: f64) -> String {
        match self {
            Unit::Ratio => humanize_percentage(v),
            Unit::Bytes => format!("{}B", humanize(v)),
            Unit::Seconds => humanize_duration(v),
            Unit::Count => humanize(v),
            // Go's %.2f and Rust's {:.2} both round the exact binary value correctly.
            Unit::Usd => format!("${v:.2}"),
        }
    }

    /// The smallest change that matters: a promtool test's "just under" is the threshold
    /// minus this.
    pub fn step(self) -> f64 {
        match self {
            Unit::Ratio | Unit::Seconds => 0.001,
            Unit::Bytes => 1e6,
            Unit::Count => 1.0,
            Unit::Usd => 0.01,
        }
    }
}

/// A piece of an alert description.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    /// `$value` in a unit.
    Value(Unit),
    /// `$labels.<name>`.
    Label(&'static str),
    /// The tier's cron cadence of the job named by `$labels.cron_job`, read with a query when
    /// the alert fires (the tier can change without a new render).
    Cadence,
}

/// A text part.
pub fn t(s: impl Into<String>) -> Part {
    Part::Text(s.into())
}

/// " (warning at 70%)" after a value.
pub fn at(sev: Severity, limit: &str) -> String {
    format!(" ({} at {limit})", sev.label())
}

/// A catalogue description (`{value}`, `{at}`, `{$label}` placeholders) as parts, for the
/// variant of severity `sev` at `limit` (already printed in the unit).
pub fn parts_of(description: &'static str, unit: Unit, sev: Severity, limit: &str) -> Vec<Part> {
    let mut out = Vec::new();
    let mut rest = description;
    while let Some(open) = rest.find('{') {
        let Some(len) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + len];
        out.push(t(&rest[..open]));
        match name {
            "value" => out.push(Part::Value(unit)),
            "at" => out.push(t(at(sev, limit))),
            _ => match name.strip_prefix('$') {
                Some(label) => out.push(Part::Label(label)),
                None => out.push(t(&rest[open..=open + len])),
            },
        }
        rest = &rest[open + len + 1..];
    }
    out.push(t(rest));
    out.retain(|p| p != &Part::Text(String::new()));
    out
}

/// Renders a description as the Go template Prometheus evaluates.
pub fn template(parts: &[Part]) -> String {
    parts
        .iter()
        .map(|p| match p {
            Part::Text(s) => s.clone(),
            Part::Value(u) => u.template().to_string(),
            Part::Label(l) => format!("{{{{ $labels.{l} }}}}"),
            Part::Cadence => format!(
                "{{{{ with printf \"{}{{cron_job=%q}}\" $labels.cron_job | query }}}}\
                 {{{{ . | first | value | humanizeDuration }}}}{{{{ end }}}}",
                n::CRON_EXPECTED_INTERVAL.name
            ),
        })
        .collect()
}

/// The text the template yields for a known value, labels and cadence.
pub fn expected_text(parts: &[Part], value: f64, labels: &[(&str, &str)], cadence: f64) -> String {
    parts
        .iter()
        .map(|p| match p {
            Part::Text(s) => s.clone(),
            Part::Value(u) => u.text(value),
            Part::Label(l) => labels
                .iter()
                .find(|(k, _)| k == l)
                .map(|(_, v)| v.to_string())
                .unwrap_or_default(),
            Part::Cadence => humanize_duration(cadence),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_and_expected_text_agree_on_shape() {
        let parts = vec![
            t("Client "),
            Part::Label("client"),
            t(" at "),
            Part::Value(Unit::Ratio),
        ];
        assert_eq!(
            template(&parts),
            "Client {{ $labels.client }} at {{ $value | humanizePercentage }}"
        );
        assert_eq!(
            expected_text(&parts, 0.9, &[("client", "c1")], 0.0),
            "Client c1 at 90%"
        );
    }

    #[test]
    fn dollars_print_to_the_cent_in_both_renderings() {
        assert_eq!(
            template(&[Part::Value(Unit::Usd)]),
            "${{ printf \"%.2f\" $value }}"
        );
        assert_eq!(Unit::Usd.text(4.99), "$4.99");
        assert_eq!(Unit::Usd.text(20.0), "$20.00");
    }

    #[test]
    fn catalogue_descriptions_become_parts() {
        let p = parts_of(
            "pg_cron job {$cron_job} runs for {value} of its interval{at}.",
            Unit::Ratio,
            Severity::Warning,
            "70%",
        );
        assert_eq!(
            expected_text(&p, 0.75, &[("cron_job", "sync")], 0.0),
            "pg_cron job sync runs for 75% of its interval (warning at 70%)."
        );
        assert_eq!(
            template(&parts_of(
                "{value} jobs{at}",
                Unit::Count,
                Severity::Critical,
                "2"
            )),
            "{{ $value | humanize }} jobs (critical at 2)"
        );
        // An unknown placeholder stays as written.
        assert_eq!(
            template(&parts_of("a {b} c", Unit::Count, Severity::Critical, "2")),
            "a {b} c"
        );
    }
}
