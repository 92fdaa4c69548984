//! The `strain_reports` source: reads the newest strain report of each suite from the report
//! directory and checks the checklist items launchguard can observe (its database URL going
//! through the Supabase pooler; the guard's Redis answering PING), then evaluates readiness.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::{Source, SourceError};
use crate::config::{Config, SecretRef};
use crate::state::Collected;
use crate::strain::readiness::{self, Observations, StrainFigures, SuiteRun};
use crate::strain::report;

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
        let runs = tokio::task::spawn_blocking(move || newest_per_suite(&dir))
            .await
            .map_err(|e| SourceError::new("internal", e.to_string()))??;
        let obs = observe(&cfg).await;
        Ok(StrainFigures::evaluate(
            runs,
            &cfg.upgrade_checklist,
            obs,
            Utc::now(),
            cfg.strain.ready_max_age.0,
            cfg.strain.upgrade_pass_ratio,
        ))
    }

    fn store(out: StrainFigures, into: &mut Collected) {
        into.strain = Some(out);
    }
}

/// The checks behind the observed checklist items. Secrets are resolved here and never logged.
pub async fn observe(cfg: &Config) -> Observations {
    let pooler =
        matches!(cfg.database.url.resolve(), Ok(Some(u)) if readiness::uses_pooler(u.expose()));
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

/// The newest readable report of each suite. Names sort by finish time within a suite, so only
/// the newest file (or the next, when it is unreadable) of each suite is parsed.
pub fn newest_per_suite(dir: &Path) -> Result<Vec<SuiteRun>, SourceError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(SourceError::new(
                "unreadable",
                format!("cannot read the report directory {}: {e}", dir.display()),
            ));
        }
    };
    let mut by_suite: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(stem) = name
            .strip_prefix("strain-")
            .and_then(|s| s.strip_suffix(".json"))
        else {
            continue;
        };
        if let Some((suite, _stamp)) = stem.rsplit_once('-') {
            by_suite.entry(suite.to_string()).or_default().push(name);
        }
    }
    let mut out = Vec::new();
    for (suite, mut files) in by_suite {
        files.sort_unstable_by(|a, b| b.cmp(a));
        for f in files {
            match report::read(&dir.join(&f)) {
                Ok(r) if r.suite == suite => {
                    out.push(SuiteRun::from(&r));
                    break;
                }
                Ok(_) => {
                    tracing::warn!(file = %f, "strain report names another suite than its file; skipped")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable strain report; trying the one before")
                }
            }
        }
    }
    Ok(out)
}
