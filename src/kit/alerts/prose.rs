//! Runbook prose kept as Markdown fragments (src/kit/runbooks/*.md for the kit's own alerts,
//! the catalogue's for each figure), included at build time. A fragment is a list of `## key`
//! sections: `meaning`, one per severity the alert has (`info`, `warning`, `critical`: the
//! action), `confirm` (how the dashboard shows it; figures get a standard one) and `why for`
//! (why its default `for:`). `{name}` placeholders take values from the config at render time.

use super::{Runbook, Severity};

/// The sections of one fragment, placeholders filled.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prose {
    pub meaning: String,
    pub actions: Vec<(Severity, String)>,
    pub confirm: String,
    pub why_for: String,
}

impl Prose {
    /// Splits a fragment into its sections and fills `{name}` from `vars`. Sections it does
    /// not know are kept out; `fragments_are_whole` checks every fragment has what it needs.
    pub fn parse(fragment: &str, vars: &[(&str, String)]) -> Prose {
        let mut p = Prose::default();
        // Anything before the first heading (a comment) is not prose.
        for section in format!("\n{fragment}").split("\n## ").skip(1) {
            let (key, body) = section.split_once('\n').unwrap_or((section, ""));
            let body = fill(body.trim(), vars);
            match key.trim() {
                "meaning" => p.meaning = body,
                "confirm" => p.confirm = body,
                "why for" => p.why_for = body,
                "info" => p.actions.push((Severity::Info, body)),
                "warning" => p.actions.push((Severity::Warning, body)),
                "critical" => p.actions.push((Severity::Critical, body)),
                _ => {}
            }
        }
        p.actions.sort_by_key(|(s, _)| *s);
        p
    }

    /// The runbook of an alert confirmed on `panel` of `dashboard`.
    pub fn runbook(self, dashboard: &'static str, panel: &'static str) -> Runbook {
        Runbook {
            meaning: self.meaning,
            confirm: (dashboard, panel),
            confirm_how: self.confirm,
            actions: self.actions,
            why_for: self.why_for,
        }
    }
}

fn fill(text: &str, vars: &[(&str, String)]) -> String {
    vars.iter().fold(text.to_string(), |s, (k, v)| {
        s.replace(&format!("{{{k}}}"), v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_and_placeholders() {
        let p = Prose::parse(
            "## meaning\n\nIt is {x}.\n\n## critical\n\nAct.\n\n## warning\n\nLook.\n\n## why for\n\nBecause.\n",
            &[("x", "high".into())],
        );
        assert_eq!(p.meaning, "It is high.");
        assert_eq!(
            p.actions,
            vec![
                (Severity::Warning, "Look.".to_string()),
                (Severity::Critical, "Act.".to_string())
            ]
        );
        assert_eq!(p.why_for, "Because.");
        assert_eq!(p.confirm, "");
    }
}
