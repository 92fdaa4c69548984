//! The strain and readiness samples of /metrics, from what the `strain_reports` source read.

use super::readiness::StrainFigures;
use crate::metrics::encode::Exposition;
use crate::metrics::names as n;

/// Adds the STRAIN group's samples; nothing before the source's first collection.
pub fn samples(e: &mut Exposition, f: Option<&StrainFigures>) {
    let Some(f) = f else { return };
    for def in [
        &n::STRAIN_PASS_RATIO,
        &n::STRAIN_SCENARIO_PASSED,
        &n::STRAIN_LAST_RUN_TS,
    ] {
        e.declare(def);
    }
    for r in &f.runs {
        e.set(&n::STRAIN_PASS_RATIO, &[&r.suite], r.pass_ratio);
        e.set(
            &n::STRAIN_LAST_RUN_TS,
            &[&r.suite],
            r.finished_at.timestamp_millis() as f64 / 1000.0,
        );
        for (scenario, passed) in &r.scenarios {
            e.set(
                &n::STRAIN_SCENARIO_PASSED,
                &[&r.suite, scenario],
                if *passed { 1.0 } else { 0.0 },
            );
        }
    }
    for (t, ready) in &f.ready {
        e.set(
            &n::TIER_UPGRADE_READY,
            &[t.as_str()],
            if *ready { 1.0 } else { 0.0 },
        );
    }
    for i in &f.checklist {
        e.set(
            &n::UPGRADE_CHECKLIST_DONE,
            &[i.target.as_str(), &i.item],
            if i.done { 1.0 } else { 0.0 },
        );
    }
}
