//! Performance Guard (brief section 2): tier headroom, info only.

use crate::config::kit::{KitSignal, Signal};
use crate::metrics::names as n;

use super::super::format::{humanize_percentage, promql_number};
use super::super::panels;
use super::prose::Prose;
use super::text::{Part, Unit, t};
use super::{Alert, Ctx, Drive, Probe, Resource, Severity, Variant, labels, minutes, sel};

pub(super) fn alerts(c: &Ctx) -> Vec<Alert> {
    vec![tier_headroom(c)]
}

fn tier_headroom(c: &Ctx) -> Alert {
    let signal = Signal::Kit(KitSignal::TierHeadroom);
    let default_for = minutes(30);
    let near = c.cfg.kit.rules.tier_near_ratio;
    let vars = [
        ("headroom", humanize_percentage(1.0 - near)),
        ("near", humanize_percentage(near)),
    ];
    Alert {
        name: "LaunchguardTierHeadroom".into(),
        signal,
        summary: "A tier limit is near: plan the upgrade",
        for_: c.for_(signal, default_for),
        default_for,
        resource: Resource::Series,
        variants: vec![Variant {
            severity: Severity::Info,
            threshold: near,
            expr: format!(
                "{} >= {}",
                sel(&n::TIER_USAGE_RATIO, ""),
                promql_number(near)
            ),
            description: vec![
                Part::Label("resource"),
                t(" is at "),
                Part::Value(Unit::Ratio),
                t(format!(
                    " of the current tier's limit (info at {}): plan the tier upgrade.",
                    humanize_percentage(near)
                )),
            ],
            condition: format!("usage at or above {} of a limit", humanize_percentage(near)),
        }],
        probe: Probe::Level {
            step: Unit::Ratio.step(),
            drive: Drive::one(sel(&n::TIER_USAGE_RATIO, "resource=\"clients\"")),
            labels: labels(&[("resource", "clients")]),
        },
        runbook: Prose::parse(include_str!("../runbooks/tier_headroom.md"), &vars)
            .runbook(panels::FOUNDER, panels::HEADROOM),
    }
}
