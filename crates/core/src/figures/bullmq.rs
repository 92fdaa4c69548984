//! What the BullMQ source reads from Redis per queue: counts of each state, read with O(1) and
//! O(log N) commands, and the processing times of a bounded number of the newest finished jobs
//! of the last hour. Queue depth, visual jobs and risk are derived from these in `core::jobs`.

use chrono::{DateTime, Utc};

/// One queue, as read in one cycle.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueueFigures {
    pub name: String,
    /// The queue is paused (`meta.paused`): its waiting jobs stay waiting.
    pub paused: bool,
    /// Jobs in `wait`, and in the `paused` list BullMQ 5 moves them to while paused.
    pub waiting: u64,
    pub prioritized: u64,
    /// Every delayed job, due or not.
    pub delayed: u64,
    /// Delayed jobs whose time has come and that no worker has promoted yet.
    pub delayed_due: u64,
    pub active: u64,
    /// Flow parents waiting for their children.
    pub waiting_children: u64,
    /// Jobs that finished in the hour before the collection, by result (finishedOn scores).
    pub completed_last_hour: u64,
    pub failed_last_hour: u64,
    /// Jobs that finished (completed or failed) since local midnight.
    pub finished_today: u64,
    /// Summed processing time (finishedOn - processedOn) of the newest finished jobs of the last
    /// hour that were read (at most `bullmq.finished_per_cycle` completed and as many failed),
    /// and how many they are.
    pub processing_seconds_sum: f64,
    pub processing_count: u64,
}

/// Everything one BullMQ collection read, queues in config order.
#[derive(Debug, Clone, PartialEq)]
pub struct BullmqFigures {
    pub collected_at: DateTime<Utc>,
    pub queues: Vec<QueueFigures>,
}
