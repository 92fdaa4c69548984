//! The BullMQ source: reads each configured queue's keys in Redis with read-only commands whose
//! cost does not grow with the queue (LLEN, ZCARD, ZCOUNT, HEXISTS) plus a bounded read of the
//! newest finished jobs (ZREVRANGEBYSCORE ... LIMIT and HMGET), two pipelines per collection.
//! Key layout (BullMQ 5 and 6, `<prefix>:<queue>:<suffix>`): `wait`, `paused` (BullMQ 5 moves
//! waiting jobs there while paused), `active` lists; `prioritized`, `delayed` (score =
//! due ms x 4096 + sequence), `waiting-children`, `completed` and `failed` (score = finishedOn
//! ms) sorted sets; `meta` hash (`paused` field); job hashes `<prefix>:<queue>:<id>` with
//! `processedOn` and `finishedOn`. No BullMQ script is ever called: they write.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::AsyncConnectionConfig;

use super::{Source, SourceError};
use crate::config::Config;
use crate::core::periods;
use crate::figures::bullmq::{BullmqFigures, QueueFigures};
use crate::state::Collected;

const HOUR_MS: i64 = 3_600_000;

pub struct Bullmq;

impl Source for Bullmq {
    type Output = BullmqFigures;

    fn name(&self) -> &'static str {
        "bullmq"
    }

    fn interval(&self, cfg: &Config) -> Duration {
        cfg.bullmq.interval.0
    }

    fn timeout(&self, cfg: &Config) -> Duration {
        cfg.bullmq.timeout.0
    }

    async fn collect(&self, cfg: Arc<Config>) -> Result<BullmqFigures, SourceError> {
        let now = Utc::now();
        let mut conn = connect(&cfg).await?;
        read(&mut conn, &cfg, now).await
    }

    fn store(out: BullmqFigures, into: &mut Collected) {
        into.figures.bullmq = Some(out);
    }
}

fn redis_error(e: &redis::RedisError) -> SourceError {
    // RedisError's text names the kind and the server's reply, never the URL or its password.
    let reason = if e.is_timeout() {
        "timeout"
    } else if e.is_connection_refusal() || e.is_io_error() || e.is_connection_dropped() {
        "unreachable"
    } else if e.kind() == redis::ErrorKind::AuthenticationFailed {
        "auth"
    } else {
        "redis"
    };
    SourceError::new(reason, format!("redis: {e}"))
}

fn parse_error(e: &impl std::fmt::Display) -> SourceError {
    SourceError::new(
        "unexpected_reply",
        format!("redis: a BullMQ key did not hold what BullMQ writes there: {e}"),
    )
}

/// A fresh connection per collection: a Redis that went away is simply tried again next time.
pub async fn connect(cfg: &Config) -> Result<redis::aio::MultiplexedConnection, SourceError> {
    let url = match cfg.bullmq.redis_url.resolve() {
        Ok(Some(u)) => u,
        Ok(None) => {
            return Err(SourceError::new(
                "config",
                format!(
                    "bullmq.redis_url: {}",
                    cfg.bullmq.redis_url.describe_unset()
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let client = redis::Client::open(url.expose()).map_err(|_| {
        SourceError::new(
            "config",
            format!(
                "bullmq.redis_url ({}) is not a valid Redis URL",
                cfg.bullmq.redis_url
            ),
        )
    })?;
    let t = cfg.bullmq.timeout.0;
    let c = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(t))
        .set_response_timeout(Some(t));
    client
        .get_multiplexed_async_connection_with_config(&c)
        .await
        .map_err(|e| redis_error(&e))
}

/// Commands per queue in the counts pipeline (see `counts`).
const PER_QUEUE: usize = 14;

/// Reads every configured queue as of `now`: one pipeline of counts, one of processing times.
pub async fn read(
    conn: &mut redis::aio::MultiplexedConnection,
    cfg: &Config,
    now: DateTime<Utc>,
) -> Result<BullmqFigures, SourceError> {
    let b = &cfg.bullmq;
    let values: Vec<redis::Value> = counts(cfg, now)
        .query_async(conn)
        .await
        .map_err(|e| redis_error(&e))?;
    if values.len() != PER_QUEUE * b.queues.len() {
        return Err(SourceError::new(
            "redis",
            format!(
                "redis answered {} replies to {} commands",
                values.len(),
                PER_QUEUE * b.queues.len()
            ),
        ));
    }
    let mut queues = Vec::with_capacity(b.queues.len());
    let mut newest: Vec<Vec<String>> = Vec::with_capacity(b.queues.len());
    for (q, v) in b.queues.iter().zip(values.chunks(PER_QUEUE)) {
        let (figures, ids) = queue_figures(q, v)?;
        queues.push(figures);
        newest.push(ids);
    }
    processing_times(conn, cfg, &mut queues, &newest).await?;
    Ok(BullmqFigures {
        collected_at: now,
        queues,
    })
}

/// Per queue, in this order: paused flag, wait, paused (BullMQ 5), prioritized, delayed, due
/// delayed, active, waiting-children, completed and failed in the last hour, completed and
/// failed since local midnight, and the ids of the newest completed and failed of the hour.
fn counts(cfg: &Config, now: DateTime<Utc>) -> redis::Pipeline {
    let b = &cfg.bullmq;
    let now_ms = now.timestamp_millis();
    let hour_ago = format!("({}", now_ms.saturating_sub(HOUR_MS));
    let midnight = periods::day_start(now, cfg.tz()).timestamp_millis();
    // A delayed job is due when its due time (score / 4096) is not after now.
    let due_max = now_ms.saturating_mul(4096).saturating_add(4095);
    let mut p = redis::pipe();
    for q in &b.queues {
        let key = |s: &str| format!("{}:{q}:{s}", b.prefix);
        p.cmd("HEXISTS").arg(key("meta")).arg("paused");
        p.cmd("LLEN").arg(key("wait"));
        p.cmd("LLEN").arg(key("paused"));
        p.cmd("ZCARD").arg(key("prioritized"));
        p.cmd("ZCARD").arg(key("delayed"));
        p.cmd("ZCOUNT").arg(key("delayed")).arg("-inf").arg(due_max);
        p.cmd("LLEN").arg(key("active"));
        p.cmd("ZCARD").arg(key("waiting-children"));
        for from in [hour_ago.clone(), midnight.to_string()] {
            for set in ["completed", "failed"] {
                p.cmd("ZCOUNT").arg(key(set)).arg(&from).arg("+inf");
            }
        }
        for set in ["completed", "failed"] {
            p.cmd("ZREVRANGEBYSCORE")
                .arg(key(set))
                .arg("+inf")
                .arg(&hour_ago)
                .arg("LIMIT")
                .arg(0)
                .arg(b.finished_per_cycle);
        }
    }
    p
}

/// One queue's replies to `counts`: its figures (processing times still empty) and the ids of
/// its newest finished jobs.
fn queue_figures(q: &str, v: &[redis::Value]) -> Result<(QueueFigures, Vec<String>), SourceError> {
    let n = |i: usize| -> Result<u64, SourceError> {
        redis::from_redis_value(v[i].clone()).map_err(|e| parse_error(&e))
    };
    let paused: bool = redis::from_redis_value(v[0].clone()).map_err(|e| parse_error(&e))?;
    let mut ids: Vec<String> =
        redis::from_redis_value(v[12].clone()).map_err(|e| parse_error(&e))?;
    let failed: Vec<String> =
        redis::from_redis_value(v[13].clone()).map_err(|e| parse_error(&e))?;
    ids.extend(failed);
    let delayed = n(4)?;
    let figures = QueueFigures {
        name: q.to_string(),
        paused,
        waiting: n(1)?.saturating_add(n(2)?),
        prioritized: n(3)?,
        delayed,
        delayed_due: n(5)?.min(delayed),
        active: n(6)?,
        waiting_children: n(7)?,
        completed_last_hour: n(8)?,
        failed_last_hour: n(9)?,
        finished_today: n(10)?.saturating_add(n(11)?),
        processing_seconds_sum: 0.0,
        processing_count: 0,
    };
    Ok((figures, ids))
}

/// Processing times of at most `finished_per_cycle` newest completed and as many failed jobs
/// per queue; a job whose hash was removed in between is skipped.
async fn processing_times(
    conn: &mut redis::aio::MultiplexedConnection,
    cfg: &Config,
    queues: &mut [QueueFigures],
    newest: &[Vec<String>],
) -> Result<(), SourceError> {
    if newest.iter().all(Vec::is_empty) {
        return Ok(());
    }
    let mut p = redis::pipe();
    for (q, ids) in queues.iter().zip(newest) {
        for id in ids {
            p.cmd("HMGET")
                .arg(format!("{}:{}:{id}", cfg.bullmq.prefix, q.name))
                .arg("processedOn")
                .arg("finishedOn");
        }
    }
    let times: Vec<(Option<i64>, Option<i64>)> =
        p.query_async(conn).await.map_err(|e| redis_error(&e))?;
    let mut times = times.into_iter();
    for (qf, ids) in queues.iter_mut().zip(newest) {
        for (start, end) in times.by_ref().take(ids.len()) {
            if let (Some(s), Some(e)) = (start, end)
                && e >= s
            {
                qf.processing_seconds_sum += (e - s) as f64 / 1000.0;
                qf.processing_count = qf.processing_count.saturating_add(1);
            }
        }
    }
    Ok(())
}
