//! The milestone's samples of /metrics, from the assessment's milestone: ready, each component
//! (absent while a figure it needs is unavailable), the unstable clients, the trials and the
//! founder's approval. Nothing at the top tier.

use super::encode::Exposition;
use super::names as n;
use crate::core::milestone::{Component, Gap, INCIDENT_REASONS, Milestone};

/// Adds the milestone's samples; declares the families even at the top tier.
pub fn samples(e: &mut Exposition, m: Option<&Milestone>) {
    for def in [
        &n::MILESTONE_READY,
        &n::MILESTONE_COMPONENT_MET,
        &n::MILESTONE_UNSTABLE_CLIENTS,
        &n::MILESTONE_TRIALS,
        &n::MILESTONE_TRIAL_COMPLETION_RATIO,
        &n::MILESTONE_APPROVED_TS,
    ] {
        e.declare(def);
    }
    let Some(m) = m else { return };
    let t = m.target.as_str();
    let b = |v: bool| if v { 1.0 } else { 0.0 };
    e.set(&n::MILESTONE_READY, &[t], b(m.ready));
    for c in Component::ALL {
        let s = m.component(c);
        let unavailable = s.gaps.iter().any(|g| matches!(g, Gap::Unavailable { .. }));
        if !unavailable {
            e.set(&n::MILESTONE_COMPONENT_MET, &[t, c.label()], b(s.met));
        }
    }
    if m.stability.unavailable.is_none() {
        for (reason, count) in INCIDENT_REASONS.iter().zip(m.stability.unstable_by_reason) {
            e.set(&n::MILESTONE_UNSTABLE_CLIENTS, &[t, reason], count as f64);
        }
    }
    if let Some(tr) = m.trials {
        for (outcome, count) in [
            ("converted", tr.converted),
            ("expired", tr.expired),
            ("running", tr.running),
        ] {
            e.set(&n::MILESTONE_TRIALS, &[t, outcome], count as f64);
        }
    }
    if let Some(r) = m.trial_completion_ratio {
        e.set(&n::MILESTONE_TRIAL_COMPLETION_RATIO, &[t], r);
    }
    if let Some(a) = &m.approval {
        e.set(
            &n::MILESTONE_APPROVED_TS,
            &[t],
            a.since.timestamp_millis() as f64 / 1000.0,
        );
    }
}
