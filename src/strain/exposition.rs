//! The strain and readiness samples of /metrics, from what the `strain_reports` source read:
//! per suite, the newest run that counts (rehearsals skipped) and whether the newest run is a
//! rehearsal; the newest capacity search's capacities.

use super::readiness::{self, StrainFigures};
use crate::metrics::encode::Exposition;
use crate::metrics::names as n;

/// Adds the STRAIN group's samples; nothing before the source's first collection.
pub fn samples(e: &mut Exposition, f: Option<&StrainFigures>) {
    let Some(f) = f else { return };
    for def in [
        &n::STRAIN_PASS_RATIO,
        &n::STRAIN_SCENARIO_PASSED,
        &n::STRAIN_LAST_RUN_TS,
        &n::STRAIN_REHEARSAL,
        &n::STRAIN_CAPACITY_RPS,
        &n::STRAIN_CAPACITY_BOUNDED,
    ] {
        e.declare(def);
    }
    let mut suites: Vec<&str> = f.runs.iter().map(|r| r.suite.as_str()).collect();
    suites.sort_unstable();
    suites.dedup();
    for suite in suites {
        let ts = |r: &readiness::SuiteRun| r.finished_at.timestamp_millis() as f64 / 1000.0;
        if let Some(newest) = readiness::newest(&f.runs, suite, |_| true)
            && newest.is_capacity()
        {
            e.set(&n::STRAIN_LAST_RUN_TS, &[suite], ts(newest));
            for (scenario, rps, bounded) in &newest.capacity {
                e.set(&n::STRAIN_CAPACITY_RPS, &[scenario], *rps);
                e.set(
                    &n::STRAIN_CAPACITY_BOUNDED,
                    &[scenario],
                    if *bounded { 1.0 } else { 0.0 },
                );
            }
            continue;
        }
        let newest_is_rehearsal =
            readiness::newest(&f.runs, suite, |_| true).is_some_and(|r| !r.counts());
        e.set(
            &n::STRAIN_REHEARSAL,
            &[suite],
            if newest_is_rehearsal { 1.0 } else { 0.0 },
        );
        let Some(r) = readiness::newest(&f.runs, suite, readiness::SuiteRun::counts) else {
            continue;
        };
        e.set(&n::STRAIN_PASS_RATIO, &[suite], r.pass_ratio);
        e.set(&n::STRAIN_LAST_RUN_TS, &[suite], ts(r));
        for (scenario, passed) in &r.scenarios {
            e.set(
                &n::STRAIN_SCENARIO_PASSED,
                &[suite, scenario],
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
