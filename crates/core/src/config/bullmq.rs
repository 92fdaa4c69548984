//! `jobs_from` and the `bullmq` section: where the job figures (queue depth, running jobs,
//! visual job risk) come from, and how BullMQ's queues are read (docs/sources.md).

use serde::{Deserialize, Serialize};

use super::{Dur, SecretRef};

/// Where the job figures come from.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum JobsFrom {
    /// The `launchguard.jobs` adapter view (the database source).
    #[default]
    Table,
    /// BullMQ's queues in Redis (the `bullmq` source); the jobs view is not read.
    Bullmq,
    /// Both, summed: a platform moving its jobs from the table to BullMQ.
    Both,
}

impl JobsFrom {
    pub fn reads_table(self) -> bool {
        matches!(self, JobsFrom::Table | JobsFrom::Both)
    }

    pub fn reads_bullmq(self) -> bool {
        matches!(self, JobsFrom::Bullmq | JobsFrom::Both)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobsFrom::Table => "table",
            JobsFrom::Bullmq => "bullmq",
            JobsFrom::Both => "both",
        }
    }
}

/// BullMQ's queues in Redis, read with read-only commands only.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Bullmq {
    /// Redis URL (`redis://` or `rediss://`, user and password included), as `${ENV}` or `file:`.
    pub redis_url: SecretRef,
    /// BullMQ's key prefix (its `prefix` option; `bull` unless the platform set another).
    pub prefix: String,
    /// The queues to read, by name.
    pub queues: Vec<String>,
    /// The queues whose jobs are visual jobs (a subset of `queues`).
    pub visual_queues: Vec<String>,
    /// Collection interval.
    pub interval: Dur,
    /// Bound on one whole collection.
    pub timeout: Dur,
    /// The newest completed and as many newest failed jobs of the last hour whose processing
    /// time is read per queue and collection (the mean processing time is theirs): bounds the
    /// work however large the finished sets grow.
    pub finished_per_cycle: usize,
    /// Queues that keep their own `queue` label on the per-queue metrics; the rest are summed
    /// into `queue="other"`.
    pub max_queue_labels: usize,
}

impl Default for Bullmq {
    fn default() -> Self {
        Bullmq {
            redis_url: SecretRef::Env("BULLMQ_REDIS_URL".into()),
            prefix: "bull".into(),
            queues: Vec::new(),
            visual_queues: Vec::new(),
            interval: Dur::from_secs(15),
            timeout: Dur::from_secs(10),
            finished_per_cycle: 200,
            max_queue_labels: 20,
        }
    }
}

pub const MAX_QUEUES: usize = 100;
pub const MAX_FINISHED_PER_CYCLE: usize = 10_000;
pub const MAX_QUEUE_LABELS: usize = 100;

fn name_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= 200 && s.chars().all(|c| !c.is_control() && !c.is_whitespace())
}

/// Problems as (field path, message).
pub(super) fn validate(jobs_from: JobsFrom, b: &Bullmq, out: &mut Vec<(String, String)>) {
    let mut bad = |f: &str, m: String| out.push((format!("bullmq.{f}"), m));
    if jobs_from.reads_bullmq() && b.queues.is_empty() {
        bad(
            "queues",
            format!(
                "must name at least one queue when jobs_from is {}",
                jobs_from.as_str()
            ),
        );
    }
    if b.queues.len() > MAX_QUEUES {
        bad("queues", format!("must name at most {MAX_QUEUES} queues"));
    }
    if !name_ok(&b.prefix) {
        bad(
            "prefix",
            "must be 1 to 200 characters without spaces".into(),
        );
    }
    for (i, q) in b.queues.iter().enumerate() {
        if !name_ok(q) {
            bad(
                &format!("queues.{i}"),
                "must be 1 to 200 characters without spaces".into(),
            );
        } else if b.queues[..i].contains(q) {
            bad(&format!("queues.{i}"), format!("`{q}` is named twice"));
        }
    }
    for (i, q) in b.visual_queues.iter().enumerate() {
        if !b.queues.contains(q) {
            bad(
                &format!("visual_queues.{i}"),
                format!("`{q}` is not one of bullmq.queues"),
            );
        }
    }
    let i = b.interval.0.as_secs_f64();
    if !(1.0..=3600.0).contains(&i) {
        bad("interval", "must be between 1s and 1h".into());
    }
    let t = b.timeout.0.as_secs_f64();
    if !(1.0..=300.0).contains(&t) {
        bad("timeout", "must be between 1s and 5m".into());
    }
    if !(1..=MAX_FINISHED_PER_CYCLE).contains(&b.finished_per_cycle) {
        bad(
            "finished_per_cycle",
            format!("must be between 1 and {MAX_FINISHED_PER_CYCLE}"),
        );
    }
    if !(1..=MAX_QUEUE_LABELS).contains(&b.max_queue_labels) {
        bad(
            "max_queue_labels",
            format!("must be between 1 and {MAX_QUEUE_LABELS}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::config::load_str;

    fn first(text: &str) -> (String, Option<usize>, String) {
        let e = load_str(text).unwrap_err().remove(0);
        (e.field.clone(), e.line, e.to_string())
    }

    #[test]
    fn bad_bullmq_and_supabase_metrics_fields_are_located_errors() {
        let (f, line, _) = first("jobs_from: bullmq\n");
        assert_eq!((f.as_str(), line), ("bullmq.queues", None));
        let (f, line, m) =
            first("jobs_from: both\nbullmq:\n  queues: [render]\n  visual_queues: [mail]\n");
        assert_eq!(
            (f.as_str(), line),
            ("bullmq.visual_queues.0", Some(4)),
            "{m}"
        );
        let (f, _, _) = first("bullmq:\n  queues: [a]\n  finished_per_cycle: 0\n");
        assert_eq!(f, "bullmq.finished_per_cycle");
        let (f, _, m) = first("jobs_from: redis\n");
        assert_eq!(f, "jobs_from", "{m}");
        let (f, _, m) = first(
            "supabase_metrics:\n  enabled: true\n  url: http://example.com/customer/v1/privileged/metrics\n",
        );
        assert_eq!(f, "supabase_metrics.url", "{m}");
        assert!(m.contains("https"), "{m}");
        let (f, _, _) = first("supabase_metrics:\n  plan: team\n");
        assert_eq!(f, "supabase_metrics.plan");
        let (f, _, _) = first("strain:\n  memory_source: supabase\n  memory_interval: 5s\n");
        assert_eq!(f, "supabase_metrics.url");
        let (f, _, _) = first(
            "supabase_metrics:\n  url: https://x.supabase.co/customer/v1/privileged/metrics\nstrain:\n  memory_source: supabase\n",
        );
        assert_eq!(f, "strain.memory_interval");
        assert!(
            load_str(
                "jobs_from: bullmq\nbullmq:\n  queues: [render, mail]\n  visual_queues: [render]\n"
            )
            .is_ok()
        );
    }
}
