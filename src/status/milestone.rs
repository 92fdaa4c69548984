//! The milestone in the status page's "Next tier" card: each component of the seed's next
//! milestone, met or not, with what is missing in the founder's words. A view of the
//! assessment's milestone (`core::milestone`), so the page and `launchguard_milestone_ready`
//! always agree; a figure launchguard cannot read shows as unavailable with its reason.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::html::{age, count, money, percent, pill};
use crate::core::milestone::{Component, Gap, IncidentKind, Milestone};
use crate::markup::escape as esc;

/// The component's title on the page.
pub fn title(c: Component) -> &'static str {
    match c {
        Component::ClientsStabilised => "Clients stabilised",
        Component::TrialCompletion => "Trial completion",
        Component::Strain => "Strain tests",
        Component::Checklist => "Infrastructure checklist",
        Component::FounderApproval => "Founder's approval",
    }
}

/// What is missing, in words (plain text; the caller escapes it).
pub fn gap_text(g: &Gap, now: DateTime<Utc>) -> String {
    match g {
        Gap::Unavailable { figure, reason } => {
            format!("{} unavailable: {reason}", figure.replace('_', " "))
        }
        Gap::TooFewClients { active, required } => format!(
            "{} active clients of the {} needed",
            count(*active),
            count(*required)
        ),
        Gap::UnstableClients { clients } => format!(
            "{clients} client{} reached a daily budget or caused a critical AI token level in the window",
            if *clients == 1 { "" } else { "s" }
        ),
        Gap::NoTrialEnded { running } => {
            format!("no trial has ended yet ({running} running)")
        }
        Gap::TrialsBelow { ratio, required } => format!(
            "{} of ended trials converted (needs {})",
            percent(*ratio),
            percent(*required)
        ),
        Gap::NoSuiteRun => "no run of the target's suite that counts (rehearsals never do)".into(),
        Gap::SuiteIncomplete => "the newest suite run did not finish every scenario".into(),
        Gap::SuiteStale { finished_at } => format!(
            "the newest suite run is {} old: run it again",
            age((now - *finished_at).num_seconds())
        ),
        Gap::SuiteBelow { ratio, required } => format!(
            "{} of scenarios passed (needs {})",
            percent(*ratio),
            percent(*required)
        ),
        Gap::NotValidatedAt70 => {
            "no suite run at 70% intensity with every scenario passing (--intensity 0.7)".into()
        }
        Gap::ChecklistOpen { items } => format!(
            "still open: {}",
            items
                .iter()
                .map(|i| i.replace('_', " "))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Gap::NotApproved => {
            "not approved: PUT /api/v1/admin/milestone/TARGET/approval with the admin token".into()
        }
    }
}

/// The figure shown beside a component, when there is one.
fn figure(m: &Milestone, c: Component) -> Option<String> {
    match c {
        Component::ClientsStabilised => m
            .stability
            .active
            .map(|a| format!("{} of {} active", count(a), count(m.stability.required))),
        Component::TrialCompletion => m.trial_completion_ratio.map(|r| {
            format!(
                "{} converted (needs {})",
                percent(r),
                percent(m.required_trial_ratio)
            )
        }),
        Component::FounderApproval => m.approval.as_ref().map(|a| {
            let mut s = format!("approved {}", a.since.format("%Y-%m-%d %H:%M UTC"));
            if !a.note.is_empty() {
                let _ = write!(s, ": {}", a.note);
            }
            s
        }),
        Component::Strain | Component::Checklist => None,
    }
}

/// Writes the milestone block of the "Next tier" card (nothing at the top tier).
pub fn write(h: &mut String, m: Option<&Milestone>, now: DateTime<Utc>) {
    let Some(m) = m else { return };
    let _ = write!(
        h,
        r#"<div class="row" data-milestone="{state}"><div class="line"><span class="name">Milestone</span>{p}</div>"#,
        state = if m.ready { "ready" } else { "not_ready" },
        p = if m.ready {
            pill("ok", "milestone reached")
        } else {
            pill("warn", "milestone not reached")
        },
    );
    for c in Component::ALL {
        let s = m.component(c);
        let unavailable = s.gaps.iter().any(|g| matches!(g, Gap::Unavailable { .. }));
        let (class, word, state) = match (s.met, unavailable) {
            (true, _) => ("ok", "met", "met"),
            (false, true) => ("none", "unavailable", "unavailable"),
            (false, false) => ("warn", "missing", "missing"),
        };
        let _ = write!(
            h,
            r#"<div class="line" data-component="{label}" data-state="{state}"><span class="sub">{t}</span><span class="val">{fig}{p}</span></div>"#,
            label = c.label(),
            t = title(c),
            fig = figure(m, c)
                .map(|f| format!("{} ", esc(&f)))
                .unwrap_or_default(),
            p = pill(class, word),
        );
        for g in &s.gaps {
            let _ = write!(
                h,
                r#"<p class="note" data-gap="{label}">{}</p>"#,
                esc(&gap_text(g, now)),
                label = c.label(),
            );
        }
    }
    for i in &m.stability.incidents {
        let what = match &i.kind {
            IncidentKind::OverBudget {
                spent_usd,
                budget_usd,
            } => format!(
                "spent {} of a {} daily budget",
                money(*spent_usd),
                money(*budget_usd)
            ),
            IncidentKind::CriticalTokens {
                client_tokens,
                platform_tokens,
                critical_tokens,
            } => format!(
                "{} AI tokens made the platform's {} critical (from {})",
                count(*client_tokens),
                count(*platform_tokens),
                count(*critical_tokens)
            ),
        };
        let _ = write!(
            h,
            r#"<p class="note" data-incident="{reason}">{client} on {day}: {what}</p>"#,
            reason = i.kind.label(),
            client = esc(&i.client),
            day = i.day_start.format("%Y-%m-%d"),
            what = esc(&what),
        );
    }
    if m.stability.incidents_total > m.stability.incidents.len() {
        let _ = write!(
            h,
            r#"<p class="note">and {} more incidents in the window.</p>"#,
            m.stability.incidents_total - m.stability.incidents.len()
        );
    }
    h.push_str("</div>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_say_what_is_missing() {
        let now: DateTime<Utc> = "2026-11-26T12:00:00Z".parse().unwrap();
        assert_eq!(
            gap_text(
                &Gap::TooFewClients {
                    active: 4,
                    required: 5
                },
                now
            ),
            "4 active clients of the 5 needed"
        );
        assert_eq!(
            gap_text(
                &Gap::TrialsBelow {
                    ratio: 0.75,
                    required: 0.8
                },
                now
            ),
            "75% of ended trials converted (needs 80%)"
        );
        assert_eq!(
            gap_text(
                &Gap::Unavailable {
                    figure: "trials",
                    reason: "column c.converted_at does not exist".into()
                },
                now
            ),
            "trials unavailable: column c.converted_at does not exist"
        );
        assert_eq!(
            gap_text(
                &Gap::ChecklistOpen {
                    items: vec!["connection_pooler".into(), "redis".into()]
                },
                now
            ),
            "still open: connection pooler, redis"
        );
    }
}
