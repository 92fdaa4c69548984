//! The guard's answers: the reason table (each reason's code, decision and scope), the typed
//! scopes a verdict names, and the `Verdict` itself. Codes and scopes are derived from the
//! types (reason codes are the variant names in snake_case; budget, tier and figure scopes are
//! their own labels, figures' from the catalogue), so no list of strings is kept by hand.

use std::fmt;

use strum::IntoStaticStr;

use crate::catalogue::FigureName;
use crate::config::FailMode;
use crate::core::budget;
use crate::core::tiers::Resource;

/// Retry-After while Redis is unreachable and the guard fails closed.
pub const STORE_RETRY_SECONDS: u64 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Decision {
    Allow,
    Throttle,
    Deny,
}

impl Decision {
    pub const ALL: [Decision; 3] = [Decision::Allow, Decision::Throttle, Decision::Deny];

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// One status code per decision, everywhere: 200 allow; 429 (with Retry-After) otherwise.
    pub fn status(self) -> u16 {
        match self {
            Decision::Allow => 200,
            Decision::Throttle | Decision::Deny => 429,
        }
    }
}

/// What a verdict names as having decided: the `scope` in the answer and the label of
/// `launchguard_guard_throttled{scope}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum GuardScope {
    /// The founder's kill switches: everything, one provider, one client.
    Global,
    Provider,
    Client,
    /// The published snapshot: none yet, or too old.
    Snapshot,
    /// The reservation store (Redis) cannot be reached.
    Store,
    /// The usage ledger cannot be read.
    Ledger,
    /// The caps on outstanding reservations.
    Reservations,
    /// A budget, named by its label.
    Budget(budget::Scope),
    /// A tier resource, named by its label.
    Tier(Resource),
    /// A figure the guard acts on, named by the catalogue's `guard_scope`.
    Figure(FigureName),
}

impl GuardScope {
    pub fn as_str(self) -> &'static str {
        match self {
            GuardScope::Budget(s) => s.label(),
            GuardScope::Tier(r) => r.label(),
            // A test keeps every figure a reason names declared as a guard scope.
            GuardScope::Figure(f) => f.def().guard_scope.unwrap_or_else(|| f.label()),
            own => own.into(),
        }
    }

    /// Every scope a verdict can name, each once, in the reason table's order.
    pub fn all() -> Vec<GuardScope> {
        let mut out = Vec::new();
        for s in Reason::ALL.iter().filter_map(|r| r.scope()) {
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }
}

impl fmt::Display for GuardScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! reasons {
    ($( $id:ident: $decision:ident $(, $scope:expr)?; )*) => {
        /// Stable reason codes (docs/guard.md lists each with its decision and Retry-After);
        /// the code is the variant's name in snake_case.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, IntoStaticStr)]
        #[strum(serialize_all = "snake_case")]
        pub enum Reason { $($id),* }

        impl Reason {
            pub const ALL: &'static [Reason] = &[$(Reason::$id),*];

            /// Each reason always leads to the same decision.
            pub fn decision(self) -> Decision {
                match self { $(Reason::$id => Decision::$decision),* }
            }

            /// The scope a verdict of this reason names (a budget alert names the budget).
            pub fn scope(self) -> Option<GuardScope> {
                match self { $(Reason::$id => reasons!(@scope $($scope)?)),* }
            }
        }
    };
    (@scope) => { None };
    (@scope $s:expr) => { Some($s) };
}

/// The reason table, in the order docs/guard.md lists it.
mod table {
    use super::budget::Scope::*;
    use super::{Decision, FigureName::*, GuardScope, GuardScope::*, IntoStaticStr, Resource::*};

    reasons! {
        Ok: Allow;
        BudgetAlert: Allow;
        FailOpenSnapshotStale: Allow, Snapshot;
        FailOpenStoreUnavailable: Allow, Store;
        KillSwitchGlobal: Deny, Global;
        KillSwitchProvider: Deny, Provider;
        KillSwitchClient: Deny, Client;
        SnapshotStale: Deny, Snapshot;
        StoreUnavailable: Deny, Store;
        LedgerUnavailable: Deny, Ledger;
        BudgetMonthlyExceeded: Deny, Budget(Monthly);
        BudgetDailyExceeded: Deny, Budget(Daily);
        BudgetClientDailyExceeded: Deny, Budget(ClientDaily);
        TierAiTokensPerDay: Deny, Tier(AiTokensPerDay);
        TierVisualJobsPerDay: Deny, Tier(VisualJobsPerDay);
        TierClients: Deny, Tier(Clients);
        QueuePauseIntake: Deny, Figure(QueueDepth);
        QueueDelayNewJobs: Throttle, Figure(QueueDepth);
        ResponseTimeCritical: Throttle, Figure(ResponseTime);
        ErrorRateCritical: Throttle, Figure(ErrorRate);
        TierConcurrentJobs: Throttle, Tier(ConcurrentJobs);
        TierApiRequestsPerMinute: Throttle, Tier(ApiRequestsPerMinute);
        SpendRate: Throttle, Budget(Daily);
        ReservationsFull: Throttle, Reservations;
    }
}

pub use table::Reason;

impl Reason {
    pub fn code(self) -> &'static str {
        self.into()
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// The guard's answer to one admission.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub reason: Reason,
    /// What decided: a kill switch's reach, a budget, a tier resource, a figure, ...
    pub scope: Option<GuardScope>,
    pub retry_after: Option<u64>,
    pub message: String,
}

impl Verdict {
    pub fn decision(&self) -> Decision {
        self.reason.decision()
    }

    /// A verdict naming its reason's scope; Retry-After (at least 1 s) unless it allows.
    pub(crate) fn new(reason: Reason, retry: u64, message: String) -> Self {
        Verdict {
            reason,
            scope: reason.scope(),
            retry_after: (reason.decision() != Decision::Allow).then_some(retry.max(1)),
            message,
        }
    }

    pub fn ok() -> Self {
        Verdict {
            reason: Reason::Ok,
            scope: None,
            retry_after: None,
            message: "admitted".into(),
        }
    }

    /// The answer when the store (Redis) cannot be reached, per the fail mode.
    pub fn store_unavailable(mode: FailMode, why: &str) -> Self {
        match mode {
            FailMode::Open => Verdict::new(
                Reason::FailOpenStoreUnavailable,
                0,
                format!(
                    "admitted without a reservation: the reservation store is unavailable ({why}) and the guard fails open"
                ),
            ),
            FailMode::Closed => Verdict::new(
                Reason::StoreUnavailable,
                STORE_RETRY_SECONDS,
                format!("the reservation store is unavailable ({why}) and the guard fails closed"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_one_decision_and_a_unique_code() {
        let mut seen = std::collections::HashSet::new();
        for r in Reason::ALL {
            assert!(seen.insert(r.code()), "{}", r.code());
            let status = r.decision().status();
            assert_eq!(status == 200, r.decision() == Decision::Allow);
        }
        assert_eq!(Reason::ALL.len(), 24);
        assert_eq!(Reason::TierAiTokensPerDay.code(), "tier_ai_tokens_per_day");
        assert_eq!(
            Reason::FailOpenSnapshotStale.code(),
            "fail_open_snapshot_stale"
        );
    }

    #[test]
    fn scopes_are_derived_once_each_and_figures_come_from_the_catalogue() {
        let all: Vec<&str> = GuardScope::all()
            .into_iter()
            .map(GuardScope::as_str)
            .collect();
        let mut want = vec![
            "global",
            "provider",
            "client",
            "snapshot",
            "store",
            "ledger",
            "monthly",
            "daily",
            "client_daily",
            "ai_tokens_per_day",
            "visual_jobs_per_day",
            "clients",
            "queue_depth",
            "response_time",
            "error_rate",
            "concurrent_jobs",
            "api_requests_per_minute",
            "reservations",
        ];
        let mut got = all.clone();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
        for s in GuardScope::all() {
            if let GuardScope::Figure(f) = s {
                assert!(
                    f.def().guard_scope.is_some(),
                    "{} gates the guard but the catalogue declares no guard scope for it",
                    f.label()
                );
            }
        }
    }
}
