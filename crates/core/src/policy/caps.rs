//! The caps on outstanding reservations a store enforces when it reserves: what it holds is
//! bounded globally and per client, and past a cap the answer is `reservations_full`.

use crate::config::Config;

use super::verdict::{Reason, Verdict};

/// Retry-After when the outstanding reservations are at their cap: settles free room at once.
pub const RESERVATIONS_RETRY_SECONDS: u64 = 5;

/// A store refused to hold one more reservation: `held` reached its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full {
    /// The client's own cap (else the global one).
    pub per_client: bool,
    pub held: u64,
}

impl Full {
    /// The answer when the outstanding reservations are at their cap (global, or the client's).
    pub fn verdict(&self, client: &str) -> Verdict {
        let message = if self.per_client {
            format!(
                "client `{client}` holds {} outstanding reservations, its cap (guard.max_reservations_per_client): settle them or let them expire",
                self.held
            )
        } else {
            format!(
                "{} reservations are outstanding, the cap (guard.max_reservations): settle them or let them expire",
                self.held
            )
        };
        Verdict::new(
            Reason::ReservationsFull,
            RESERVATIONS_RETRY_SECONDS,
            message,
        )
    }
}

/// The caps on outstanding reservations a store enforces when it reserves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub total: u64,
    pub per_client: u64,
}

impl Caps {
    pub fn of(cfg: &Config) -> Self {
        Caps {
            total: cfg.guard.max_reservations as u64,
            per_client: cfg.guard.max_reservations_per_client as u64,
        }
    }

    /// Which cap one more reservation would pass, given what is held.
    pub fn full(&self, total: u64, client: u64) -> Option<Full> {
        if client >= self.per_client {
            Some(Full {
                per_client: true,
                held: client,
            })
        } else if total >= self.total {
            Some(Full {
                per_client: false,
                held: total,
            })
        } else {
            None
        }
    }
}
