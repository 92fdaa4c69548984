//! Password checks on a few dedicated threads at the lowest CPU priority, behind a bounded
//! queue. A bcrypt check costs tens of milliseconds of CPU by design; without a bound, wrong
//! passwords at a few dozen per second take every core from the requests that are allowed.
//! Here at most `workers` checks run at once, at most `queue` wait, and the rest are refused
//! at once (the caller answers 503), while the serving threads keep their priority.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, LazyLock, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// A hash at the usual cost that matches nothing: unknown users cost as much as known ones,
/// so response time does not tell which user names exist. Made on a worker, never on the
/// async threads.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| bcrypt::hash("launchguard: no such user", 10).unwrap_or_default());

/// Nice value of the worker threads: they only get CPU the serving threads leave.
const WORKER_NICE: i32 = 19;

/// What to check the password against.
#[derive(Debug)]
pub enum Against {
    Hash(String),
    /// An unknown user: a check that costs the same and always fails.
    Nobody,
}

struct Job {
    password: String,
    against: Against,
    reply: oneshot::Sender<bool>,
    /// Held until the check is done, even when the caller has gone away meanwhile.
    _permit: OwnedSemaphorePermit,
}

/// Every worker is busy and the queue is full.
#[derive(Debug, PartialEq, Eq)]
pub struct Busy;

#[derive(Debug)]
pub struct BcryptPool {
    /// One permit per check running or waiting: `workers + queue`.
    permits: Arc<Semaphore>,
    tx: Sender<Job>,
}

impl BcryptPool {
    /// Starts `workers` threads (at least one) with room for `queue` waiting checks.
    pub fn start(workers: usize, queue: usize) -> std::io::Result<BcryptPool> {
        let workers = workers.max(1);
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("bcrypt-{i}"))
                .spawn(move || work(&rx))?;
        }
        let permits = workers.saturating_add(queue).min(Semaphore::MAX_PERMITS);
        Ok(BcryptPool {
            permits: Arc::new(Semaphore::new(permits)),
            tx,
        })
    }

    /// True when `password` matches; `Err(Busy)` at once when no worker or queue place is free.
    pub async fn verify(&self, password: String, against: Against) -> Result<bool, Busy> {
        let permit = self.permits.clone().try_acquire_owned().map_err(|_| Busy)?;
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job {
                password,
                against,
                reply,
                _permit: permit,
            })
            .map_err(|_| Busy)?;
        Ok(rx.await.unwrap_or(false))
    }
}

fn work(rx: &Mutex<Receiver<Job>>) {
    // Per thread on Linux; if it fails the worker runs at normal priority, still bounded.
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), WORKER_NICE) {
        tracing::debug!(error = %e, "cannot lower the bcrypt worker's priority");
    }
    loop {
        // The lock is held only while waiting for the next job, never during a check.
        let job = match rx.lock() {
            Ok(r) => r.recv(),
            Err(_) => return,
        };
        let Ok(Job {
            password,
            against,
            reply,
            _permit,
        }) = job
        else {
            return;
        };
        let ok = match &against {
            Against::Hash(h) => bcrypt::verify(&password, h).unwrap_or(false),
            Against::Nobody => {
                let _ = bcrypt::verify(&password, &DUMMY_HASH);
                false
            }
        };
        // The place is free before the caller hears back, so its next check finds it free.
        drop(_permit);
        let _ = reply.send(ok);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummy_hash_is_well_formed() {
        assert!(super::super::BcryptHash::new(DUMMY_HASH.clone()).is_valid());
    }

    #[tokio::test]
    async fn checks_passwords_and_refuses_beyond_the_queue() {
        let hash = bcrypt::hash("right", 4).unwrap();
        let pool = BcryptPool::start(1, 0).unwrap();
        assert_eq!(
            pool.verify("right".into(), Against::Hash(hash.clone()))
                .await,
            Ok(true)
        );
        assert_eq!(
            pool.verify("wrong".into(), Against::Hash(hash.clone()))
                .await,
            Ok(false)
        );
        // A slow check occupies the only worker; with no queue the next is refused at once.
        let slow = bcrypt::hash("x", 8).unwrap();
        let first = pool.verify("y".into(), Against::Hash(slow));
        // Asks once the first holds the only place (its permit is taken on its first poll),
        // rather than after a guessed delay that a fast or loaded machine can outrun.
        let second = async {
            while pool.permits.available_permits() > 0 {
                tokio::task::yield_now().await;
            }
            pool.verify("z".into(), Against::Nobody).await
        };
        let (a, b) = tokio::join!(first, second);
        assert_eq!(a, Ok(false));
        assert_eq!(b, Err(Busy));
    }
}
