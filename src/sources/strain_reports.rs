//! The `strain_reports` source: reads the newest strain report of each suite from the report
//! directory and checks the checklist items launchguard can observe (its database URL going
//! through the Supabase pooler; the guard's Redis answering PING). Readiness is derived from
//! them in `core::readiness`, with the rest of the assessment.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{Source, SourceError};
use crate::config::{Config, SecretRef};
use crate::figures::strain::{Observations, StrainFigures, SuiteRun};
use crate::state::Collected;
use crate::strain::report;
use crate::strain::runs;

/// Bound on the Redis check, well inside the source timeout.
const REDIS_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Default)]
pub struct StrainReports;

impl Source for StrainReports {
    type Output = StrainFigures;

    fn name(&self) -> &'static str {
        "strain_reports"
    }

    fn interval(&self, cfg: &Config) -> Duration {
        cfg.strain.refresh.0
    }

    fn timeout(&self, _cfg: &Config) -> Duration {
        Duration::from_secs(15)
    }

    async fn collect(&self, cfg: Arc<Config>) -> Result<StrainFigures, SourceError> {
        let dir = cfg.strain.report_dir.clone();
        let c = cfg.clone();
        let runs = tokio::task::spawn_blocking(move || newest_per_suite(&dir, &c))
            .await
            .map_err(|e| SourceError::new("internal", e.to_string()))??;
        let observations = observe(&cfg).await;
        Ok(StrainFigures { runs, observations })
    }

    fn store(out: StrainFigures, into: &mut Collected) {
        into.figures.strain = Some(out);
    }
}

/// The checks behind the observed checklist items. Secrets are resolved here and never logged.
pub async fn observe(cfg: &Config) -> Observations {
    let pooler = matches!(cfg.database.url.resolve(), Ok(Some(u)) if runs::uses_pooler(u.expose()));
    Observations {
        pooler,
        redis: redis_answers(&cfg.upgrade_checklist.redis_url).await,
    }
}

async fn redis_answers(url: &SecretRef) -> bool {
    let Ok(Some(url)) = url.resolve() else {
        return false;
    };
    let check = async {
        let client = redis::Client::open(url.expose()).ok()?;
        let mut con = client.get_multiplexed_async_connection().await.ok()?;
        let pong: String = redis::cmd("PING").query_async(&mut con).await.ok()?;
        Some(pong == "PONG")
    };
    let ok = matches!(
        tokio::time::timeout(REDIS_TIMEOUT, check).await,
        Ok(Some(true))
    );
    if !ok {
        tracing::debug!("upgrade checklist: the guard's Redis did not answer PING");
    }
    ok
}

/// Suites whose reports are read; a file naming any other suite is skipped, so the `suite`
/// label stays bounded whatever lands in the directory.
pub const KNOWN_SUITES: [&str; 4] = ["hard_launch", "growth", "custom", report::CAPACITY_SUITE];
/// Files parsed per suite at most, newest first, looking for the runs readiness needs.
const MAX_FILES_PER_SUITE: usize = 100;

/// Per suite, the runs readiness needs, read newest first: the newest readable report (shown
/// as the suite's newest run, a rehearsal or not), the newest that counts (not a rehearsal),
/// and the newest that counts with every step at 70% or more. Unreadable files are skipped.
pub fn newest_per_suite(dir: &Path, cfg: &Config) -> Result<Vec<SuiteRun>, SourceError> {
    let by_suite = report::list(dir).map_err(|e| {
        SourceError::new(
            "unreadable",
            format!("cannot read the report directory {}: {e}", dir.display()),
        )
    })?;
    let mut out = Vec::new();
    for (suite, files) in by_suite {
        if !KNOWN_SUITES.contains(&suite.as_str()) {
            continue;
        }
        let (mut newest, mut counting, mut at_70) = (false, false, false);
        for f in files.into_iter().take(MAX_FILES_PER_SUITE) {
            let run = match report::read(&dir.join(&f)) {
                Ok(r) if r.suite == suite => runs::suite_run(&r, cfg),
                Ok(_) => {
                    tracing::warn!(file = %f, "strain report names another suite than its file; skipped");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable strain report; trying the one before");
                    continue;
                }
            };
            let wanted = !newest
                || (!counting && run.counts())
                || (!at_70 && run.counts() && run.at_validation_intensity);
            if wanted {
                newest = true;
                counting |= run.counts();
                at_70 |= run.counts() && run.at_validation_intensity;
                out.push(run);
            }
            // Capacity searches and custom runs need only their newest report.
            let suite_run = readiness_suite(&suite);
            if newest && (!suite_run || (counting && at_70)) {
                break;
            }
        }
    }
    Ok(out)
}

fn readiness_suite(suite: &str) -> bool {
    suite == "hard_launch" || suite == "growth"
}
