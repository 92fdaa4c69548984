//! Strain readiness (brief section 5): the platform was ready for the next tier and is not.

use crate::config::kit::{KitSignal, Signal};
use crate::metrics::names as n;

use super::super::panels;
use super::promql::with_resource;
use super::prose::Prose;
use super::text::t;
use super::{Alert, Ctx, Probe, Resource, Severity, Variant, labels, minutes, sel};

pub(super) fn alerts(c: &Ctx) -> Vec<Alert> {
    vec![readiness_lost(c)]
}

fn readiness_lost(c: &Ctx) -> Alert {
    let signal = Signal::Kit(KitSignal::StrainReadinessLost);
    let default_for = minutes(0);
    let ready = sel(&n::TIER_UPGRADE_READY, "");
    let r = Resource::FromLabel("target");
    Alert {
        name: "LaunchguardStrainReadinessLost".into(),
        signal,
        summary: "The platform is no longer ready for the next tier",
        for_: c.for_(signal, default_for),
        default_for,
        variants: vec![Variant {
            severity: Severity::Warning,
            threshold: 0.0,
            expr: with_resource(
                format!("{ready} == 0 and max_over_time({ready}[7d]) == 1"),
                &r,
            ),
            description: vec![
                t("The latest strain suite for the "),
                super::Part::Label("target"),
                t(
                    " tier passed too few scenarios: the platform was ready for it in the last 7 days and is not anymore.",
                ),
            ],
            condition: "upgrade readiness fell from 1 to 0 within 7 days".into(),
        }],
        resource: r,
        probe: Probe::Lost {
            series: sel(&n::TIER_UPGRADE_READY, "target=\"hard_launch\""),
            labels: labels(&[("target", "hard_launch"), ("resource", "hard_launch")]),
        },
        runbook: Prose::parse(include_str!("../runbooks/strain_readiness_lost.md"), &[])
            .runbook(panels::FOUNDER, panels::STRAIN_READY),
    }
}
