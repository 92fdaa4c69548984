//! The strain and readiness samples of /metrics, from the assessment's readiness: per suite,
//! the newest run that counts (rehearsals skipped) and whether the newest run is a rehearsal;
//! the newest capacity search's capacities; readiness and the checklist per target.

use super::encode::Exposition;
use super::names as n;
use crate::core::readiness::{self, Readiness};
use crate::figures::strain::SuiteRun;

/// Adds the STRAIN group's samples; nothing before the strain source's first collection.
pub fn samples(e: &mut Exposition, r: &Readiness) {
    let Some(runs) = &r.runs else { return };
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
    let mut suites: Vec<&str> = runs.iter().map(|r| r.suite.as_str()).collect();
    suites.sort_unstable();
    suites.dedup();
    for suite in suites {
        let ts = |r: &SuiteRun| r.finished_at.timestamp_millis() as f64 / 1000.0;
        if let Some(newest) = readiness::newest(runs, suite, |_| true)
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
            readiness::newest(runs, suite, |_| true).is_some_and(|r| !r.counts());
        e.set(
            &n::STRAIN_REHEARSAL,
            &[suite],
            if newest_is_rehearsal { 1.0 } else { 0.0 },
        );
        let Some(run) = readiness::newest(runs, suite, SuiteRun::counts) else {
            continue;
        };
        e.set(&n::STRAIN_PASS_RATIO, &[suite], run.pass_ratio);
        e.set(&n::STRAIN_LAST_RUN_TS, &[suite], ts(run));
        for (scenario, passed) in &run.scenarios {
            e.set(
                &n::STRAIN_SCENARIO_PASSED,
                &[suite, scenario],
                if *passed { 1.0 } else { 0.0 },
            );
        }
    }
    for t in &r.targets {
        e.set(
            &n::TIER_UPGRADE_READY,
            &[t.target.as_str()],
            if t.ready { 1.0 } else { 0.0 },
        );
    }
    for i in &r.checklist {
        e.set(
            &n::UPGRADE_CHECKLIST_DONE,
            &[i.target.as_str(), &i.item],
            if i.done { 1.0 } else { 0.0 },
        );
    }
}
