//! The job figures the config picks (`jobs_from`): the jobs table's, BullMQ's, or both summed.
//!
//! From BullMQ's states: waiting to start = `wait` (and BullMQ 5's `paused` list) +
//! `prioritized` + delayed jobs already due; running = `active`; visual jobs today = visual jobs
//! finished since local midnight + those still in the queue (waiting, prioritized, delayed,
//! active, waiting for children), since BullMQ keeps no index of creation times; processing
//! time = finishedOn - processedOn of the finished jobs of the last hour.

use crate::config::{Config, JobsFrom};
use crate::figures::bullmq::{BullmqFigures, QueueFigures};
use crate::figures::{Fig, Figures, JobFigures, Unavailable};

use super::bounded::Bounded;
use super::labels::{Kept, OTHER};

/// One BullMQ queue as the founder sees it (or, past `bullmq.max_queue_labels`, every other
/// queue summed under `other`).
#[derive(Debug, Clone, PartialEq)]
pub struct QueueStatus {
    /// The `queue` label: the queue's name, or `other`.
    pub label: String,
    pub figures: QueueFigures,
    pub visual: bool,
    /// Waiting to start: waiting + prioritized + delayed and due.
    pub depth: u64,
    /// Mean processing time of the finished jobs of the last hour that were read.
    pub mean_processing_seconds: Option<f64>,
}

fn unavailable(reason: impl Into<String>) -> Unavailable {
    Unavailable {
        reason: reason.into(),
    }
}

/// The job figures in force under `jobs_from`; unavailable (never zero) when a side it needs
/// has not been read.
pub fn job_figures(cfg: &Config, figures: &Figures) -> Fig<JobFigures> {
    let table = || -> Fig<JobFigures> {
        match &figures.db {
            Some(db) => db.jobs.clone(),
            None => Err(unavailable("the database has not been read yet")),
        }
    };
    let bullmq = || -> Fig<JobFigures> {
        match &figures.bullmq {
            Some(b) => Ok(from_bullmq(cfg, b)),
            None => Err(unavailable("BullMQ's queues have not been read yet")),
        }
    };
    match cfg.jobs_from {
        JobsFrom::Table => table(),
        JobsFrom::Bullmq => bullmq(),
        JobsFrom::Both => Ok(sum(&table()?, &bullmq()?)),
    }
}

/// Each configured BullMQ queue with its depth and mean processing time.
pub fn queues(cfg: &Config, figures: &Figures) -> Vec<QueueStatus> {
    if !cfg.jobs_from.reads_bullmq() {
        return Vec::new();
    }
    let Some(b) = &figures.bullmq else {
        return Vec::new();
    };
    // The busiest queues keep their label; the choice is stable for unchanged figures.
    let kept = Kept::choose(
        b.queues
            .iter()
            .map(|q| (q.name.as_str(), depth(q).plus(q.active))),
        cfg.bullmq.max_queue_labels,
    );
    let status = |label: String, f: QueueFigures, visual: bool| QueueStatus {
        label,
        visual,
        depth: depth(&f),
        mean_processing_seconds: (f.processing_count > 0)
            .then(|| f.processing_seconds_sum / f.processing_count as f64),
        figures: f,
    };
    let mut out = Vec::new();
    let mut other: Option<(QueueFigures, bool)> = None;
    for q in &b.queues {
        let visual = cfg.bullmq.visual_queues.contains(&q.name);
        if kept.keeps(&q.name.as_str()) {
            out.push(status(q.name.clone(), q.clone(), visual));
        } else {
            let (o, v) = other.get_or_insert_with(|| (QueueFigures::default(), false));
            *o = add(o, q);
            *v |= visual;
        }
    }
    if let Some((o, v)) = other {
        out.push(status(OTHER.to_string(), o, v));
    }
    out
}

/// Two queues' figures summed (the `other` label); paused when any is.
fn add(a: &QueueFigures, b: &QueueFigures) -> QueueFigures {
    QueueFigures {
        name: OTHER.to_string(),
        paused: a.paused || b.paused,
        waiting: a.waiting.plus(b.waiting),
        prioritized: a.prioritized.plus(b.prioritized),
        delayed: a.delayed.plus(b.delayed),
        delayed_due: a.delayed_due.plus(b.delayed_due),
        active: a.active.plus(b.active),
        waiting_children: a.waiting_children.plus(b.waiting_children),
        completed_last_hour: a.completed_last_hour.plus(b.completed_last_hour),
        failed_last_hour: a.failed_last_hour.plus(b.failed_last_hour),
        finished_today: a.finished_today.plus(b.finished_today),
        processing_seconds_sum: a.processing_seconds_sum + b.processing_seconds_sum,
        processing_count: a.processing_count.plus(b.processing_count),
    }
}

fn depth(q: &QueueFigures) -> u64 {
    q.waiting.plus(q.prioritized).plus(q.delayed_due)
}

fn from_bullmq(cfg: &Config, b: &BullmqFigures) -> JobFigures {
    let mut j = JobFigures::default();
    let (mut seconds, mut read) = (0.0, 0u64);
    for q in &b.queues {
        j.queued = j.queued.plus(depth(q));
        j.running = j.running.plus(q.active);
        if !cfg.bullmq.visual_queues.contains(&q.name) {
            continue;
        }
        j.visual_queued = j.visual_queued.plus(depth(q));
        j.visual_today = j.visual_today.plus(
            q.finished_today
                .plus(q.waiting)
                .plus(q.prioritized)
                .plus(q.delayed)
                .plus(q.active)
                .plus(q.waiting_children),
        );
        j.visual_failed_last_hour = j.visual_failed_last_hour.plus(q.failed_last_hour);
        j.visual_finished_last_hour = j
            .visual_finished_last_hour
            .plus(q.completed_last_hour.plus(q.failed_last_hour));
        seconds += q.processing_seconds_sum;
        read = read.plus(q.processing_count);
    }
    j.visual_mean_processing_seconds = (read > 0).then(|| seconds / read as f64);
    j
}

/// Both sources summed; the mean processing time weighted by each side's finished jobs.
fn sum(a: &JobFigures, b: &JobFigures) -> JobFigures {
    let weighted = |j: &JobFigures| {
        j.visual_mean_processing_seconds.map(|m| {
            (
                m * j.visual_finished_last_hour as f64,
                j.visual_finished_last_hour,
            )
        })
    };
    let mean = match (weighted(a), weighted(b)) {
        (None, None) => None,
        (x, y) => {
            let (s1, n1) = x.unwrap_or((0.0, 0));
            let (s2, n2) = y.unwrap_or((0.0, 0));
            let n = n1.plus(n2);
            if n > 0 {
                Some((s1 + s2) / n as f64)
            } else {
                // Means known but no finished count to weigh them: the plain mean.
                let ms: Vec<f64> = [a, b]
                    .iter()
                    .filter_map(|j| j.visual_mean_processing_seconds)
                    .collect();
                Some(ms.iter().sum::<f64>() / ms.len() as f64)
            }
        }
    };
    JobFigures {
        queued: a.queued.plus(b.queued),
        running: a.running.plus(b.running),
        visual_queued: a.visual_queued.plus(b.visual_queued),
        visual_today: a.visual_today.plus(b.visual_today),
        visual_failed_last_hour: a.visual_failed_last_hour.plus(b.visual_failed_last_hour),
        visual_finished_last_hour: a
            .visual_finished_last_hour
            .plus(b.visual_finished_last_hour),
        visual_mean_processing_seconds: mean,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::DbFigures;

    fn now() -> chrono::DateTime<chrono::Utc> {
        "2026-11-30T12:00:00Z".parse().unwrap()
    }

    fn queue(name: &str) -> QueueFigures {
        QueueFigures {
            name: name.into(),
            paused: false,
            waiting: 3,
            prioritized: 2,
            delayed: 5,
            delayed_due: 1,
            active: 2,
            waiting_children: 1,
            completed_last_hour: 4,
            failed_last_hour: 2,
            finished_today: 9,
            processing_seconds_sum: 30.0,
            processing_count: 6,
        }
    }

    fn cfg(from: JobsFrom) -> Config {
        let mut c = Config {
            jobs_from: from,
            ..Config::default()
        };
        c.bullmq.queues = vec!["visual".into(), "mail".into()];
        c.bullmq.visual_queues = vec!["visual".into()];
        c
    }

    fn figures() -> Figures {
        let mut db = DbFigures::unavailable(now(), "test");
        db.jobs = Ok(JobFigures {
            queued: 10,
            running: 1,
            visual_queued: 4,
            visual_today: 7,
            visual_failed_last_hour: 1,
            visual_finished_last_hour: 2,
            visual_mean_processing_seconds: Some(20.0),
        });
        let mut mail = queue("mail");
        mail.processing_seconds_sum = 1000.0;
        Figures {
            db: Some(db),
            bullmq: Some(BullmqFigures {
                collected_at: now(),
                queues: vec![queue("visual"), mail],
            }),
            ..Figures::default()
        }
    }

    #[test]
    fn bullmq_states_make_the_job_figures() {
        let j = job_figures(&cfg(JobsFrom::Bullmq), &figures()).unwrap();
        // Depth 3 + 2 + 1 per queue; delayed jobs not yet due wait for their time, not a worker.
        assert_eq!((j.queued, j.running), (12, 4));
        assert_eq!(j.visual_queued, 6);
        // 9 finished today + 3 + 2 + 5 + 2 + 1 still in the queue.
        assert_eq!(j.visual_today, 22);
        assert_eq!(
            (j.visual_failed_last_hour, j.visual_finished_last_hour),
            (2, 6)
        );
        assert_eq!(j.visual_mean_processing_seconds, Some(5.0));
    }

    #[test]
    fn both_sum_and_weigh_the_means_by_finished_jobs() {
        let j = job_figures(&cfg(JobsFrom::Both), &figures()).unwrap();
        assert_eq!((j.queued, j.running, j.visual_queued), (22, 5, 10));
        assert_eq!(j.visual_today, 29);
        assert_eq!(
            (j.visual_failed_last_hour, j.visual_finished_last_hour),
            (3, 8)
        );
        // (20 s x 2 + 5 s x 6) / 8
        assert_eq!(j.visual_mean_processing_seconds, Some(70.0 / 8.0));
    }

    #[test]
    fn a_side_not_read_makes_the_figures_unavailable_never_zero() {
        let mut f = figures();
        f.bullmq = None;
        let e = job_figures(&cfg(JobsFrom::Both), &f).unwrap_err();
        assert!(e.reason.contains("BullMQ"), "{e:?}");
        assert!(job_figures(&cfg(JobsFrom::Table), &f).is_ok());
        let mut f = figures();
        f.db = None;
        assert!(job_figures(&cfg(JobsFrom::Bullmq), &f).is_ok());
        assert!(job_figures(&cfg(JobsFrom::Table), &f).is_err());
    }

    #[test]
    fn queues_carry_their_depth_and_mean() {
        let q = queues(&cfg(JobsFrom::Bullmq), &figures());
        assert_eq!(q.len(), 2);
        assert!(q[0].visual && !q[1].visual);
        assert_eq!(q[0].depth, 6);
        assert_eq!(q[1].mean_processing_seconds, Some(1000.0 / 6.0));
        assert!(queues(&cfg(JobsFrom::Table), &figures()).is_empty());
    }

    #[test]
    fn queues_past_the_label_cap_are_summed_into_other() {
        let mut c = cfg(JobsFrom::Bullmq);
        c.bullmq.queues = vec!["a".into(), "b".into(), "c".into()];
        c.bullmq.visual_queues = vec!["c".into()];
        c.bullmq.max_queue_labels = 1;
        let mut f = figures();
        let mut busy = queue("b");
        busy.waiting = 100;
        f.bullmq = Some(BullmqFigures {
            collected_at: now(),
            queues: vec![queue("a"), busy, queue("c")],
        });
        let q = queues(&c, &f);
        let labels: Vec<&str> = q.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, vec!["b", "other"]);
        assert_eq!(q[1].figures.waiting, 6);
        assert_eq!(q[1].depth, 12);
        assert!(q[1].visual && !q[0].visual);
    }
}
