//! What the exporter keeps of a strain report (`suite_run`), and what it observes itself for
//! the upgrade checklist (`uses_pooler`). Readiness is derived in `core::readiness`.

use super::rehearsal::{self, VALIDATION_INTENSITY};
use super::report::Report;
use crate::config::Config;
use crate::figures::strain::SuiteRun;

/// A report as the exporter judges it under its own config: a rehearsal (by the run's own
/// reasons or by the exporter's check against its suites) never counts.
pub fn suite_run(r: &Report, cfg: &Config) -> SuiteRun {
    let ran = rehearsal::ran_steps(r);
    let mut reasons = r.rehearsal_reasons.clone();
    if r.rehearsal && reasons.is_empty() {
        reasons.push("marked a rehearsal by the run".into());
    }
    for why in rehearsal::reasons(cfg, &r.suite, &ran, &r.thresholds) {
        if !reasons.contains(&why) {
            reasons.push(why);
        }
    }
    SuiteRun {
        suite: r.suite.clone(),
        finished_at: r.finished_at,
        complete: r.complete,
        pass_ratio: r.pass_ratio,
        scenarios: r
            .scenarios
            .iter()
            .map(|s| (s.name.as_str().to_string(), s.passed))
            .collect(),
        rehearsal: reasons,
        at_validation_intensity: rehearsal::at_least(cfg, &r.suite, &ran, VALIDATION_INTENSITY),
        capacity: r
            .scenarios
            .iter()
            .filter_map(|s| {
                let c = s.capacity.as_ref()?;
                Some((
                    s.name.as_str().to_string(),
                    c.requests_per_second?,
                    c.limited_by.bounded(),
                ))
            })
            .collect(),
    }
}

/// True when a PostgreSQL URL (or key=value string) goes through Supabase's pooler:
/// a `*.pooler.supabase.com` host or the transaction-mode port 6543.
pub fn uses_pooler(db_url: &str) -> bool {
    let (host, port) = match url::Url::parse(db_url) {
        Ok(u) if u.scheme().starts_with("postgres") => (
            u.host_str().unwrap_or_default().to_ascii_lowercase(),
            u.port(),
        ),
        _ => {
            let mut host = String::new();
            let mut port = None;
            for kv in db_url.split_whitespace() {
                match kv.split_once('=') {
                    Some(("host", h)) => host = h.trim_matches('\'').to_ascii_lowercase(),
                    Some(("port", p)) => port = p.trim_matches('\'').parse().ok(),
                    _ => {}
                }
            }
            (host, port)
        }
    };
    host.ends_with(".pooler.supabase.com") || port == Some(6543)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooler_is_recognised_by_host_or_port() {
        assert!(uses_pooler(
            "postgresql://postgres.abc:pw@aws-0-eu-central-1.pooler.supabase.com:5432/postgres"
        ));
        assert!(uses_pooler(
            "postgres://u:pw@db.abc.supabase.co:6543/postgres"
        ));
        assert!(!uses_pooler(
            "postgres://u:pw@db.abc.supabase.co:5432/postgres"
        ));
        assert!(uses_pooler(
            "host=aws-0-us-east-1.pooler.supabase.com port=5432 user=x"
        ));
        assert!(!uses_pooler("host=localhost port=5432"));
        assert!(!uses_pooler("not a url"));
    }
}
