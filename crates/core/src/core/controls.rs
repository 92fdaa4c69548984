//! The founder's controls: kill switches and temporary budget overrides, as pure data. The
//! guard enforces them and `core::assess` reports the budgets in force from them, so the
//! guard's decisions, the budget metrics, the alerts and the status page never disagree.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::config::{Budgets, TierName};
use crate::core::bounded;
use crate::core::budget::Scope;

/// The furthest an override may reach: past a year, change the budget in the config.
pub const MAX_OVERRIDE_DAYS: i64 = 366;

/// What a kill switch stops.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KillKey {
    Global,
    Provider(String),
    Client(String),
}

impl KillKey {
    /// Its key in the state: `global`, `provider:NAME` or `client:ID`.
    pub fn field(&self) -> String {
        match self {
            KillKey::Global => "global".into(),
            KillKey::Provider(p) => format!("provider:{p}"),
            KillKey::Client(c) => format!("client:{c}"),
        }
    }

    /// (scope, target) labels of the metric.
    pub fn labels(field: &str) -> (&str, &str) {
        match field.split_once(':') {
            Some((scope, target)) => (scope, target),
            None => (field, ""),
        }
    }
}

/// Times as RFC 3339 text (chrono is built without its serde feature).
pub mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| serde::de::Error::custom(format!("`{s}` is not an RFC 3339 time: {e}")))
    }

    pub mod option {
        use super::*;

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            Ok(Some(super::deserialize(d)?))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KillSwitch {
    #[serde(with = "rfc3339")]
    pub since: DateTime<Utc>,
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetOverride {
    pub budget_usd: Decimal,
    /// The override ends here; the configured budget applies again.
    #[serde(with = "rfc3339")]
    pub until: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    pub since: DateTime<Utc>,
}

/// The founder's approval of the move to a tier: the seed's "founder approval checkpoint",
/// one component of the milestone (`core::milestone`). It stays until withdrawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    #[serde(with = "rfc3339")]
    pub since: DateTime<Utc>,
    #[serde(default)]
    pub note: String,
}

/// The founder's switches: pure data the rules read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FounderControls {
    pub kill_switches: BTreeMap<String, KillSwitch>,
    pub budget_overrides: BTreeMap<String, BudgetOverride>,
    /// By target tier (`hard_launch`, `growth`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub approvals: BTreeMap<String, Approval>,
}

impl FounderControls {
    pub fn set_kill(&mut self, k: KillKey, now: DateTime<Utc>, note: &str) {
        self.kill_switches.insert(
            k.field(),
            KillSwitch {
                since: now,
                note: note.to_string(),
            },
        );
    }

    pub fn set_override(
        &mut self,
        s: Scope,
        client: Option<&str>,
        usd: Decimal,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        self.budget_overrides.insert(
            s.field(client),
            BudgetOverride {
                budget_usd: usd,
                until,
                since: now,
            },
        );
    }

    /// What is out of bounds in a state read back (file or Redis), as (key, problem).
    pub fn problems(&self) -> Vec<(String, String)> {
        self.budget_overrides
            .iter()
            .filter_map(|(k, o)| bounded::usd_problem(o.budget_usd).map(|p| (k.clone(), p)))
            .collect()
    }

    /// The override in force for a scope (and client), as the budget rule below picks it.
    fn live(&self, s: Scope, client: Option<&str>, now: DateTime<Utc>) -> Option<&BudgetOverride> {
        if self.budget_overrides.is_empty() {
            return None; // the usual case: spell out no keys
        }
        let live = |f: String| self.budget_overrides.get(&f).filter(|o| o.until > now);
        client
            .and_then(|c| live(s.field(Some(c))))
            .or_else(|| live(s.field(None)))
    }

    /// When the override in force for a scope (and client) ends; None: the config applies.
    pub fn override_in_force(
        &self,
        s: Scope,
        client: Option<&str>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        self.live(s, client, now).map(|o| o.until)
    }

    /// The budget that held over [from, to) for the milestone's past days: the override for the
    /// client if it was in force at any moment of it, then the scope's, then the config. The
    /// controls keep no history, so an override cleared since is not known.
    pub fn budget_during(
        &self,
        s: Scope,
        client: Option<&str>,
        cfg: &Budgets,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Decimal {
        let during = |f: String| {
            self.budget_overrides
                .get(&f)
                .filter(|o| o.until > from && o.since < to)
        };
        client
            .and_then(|c| during(s.field(Some(c))))
            .or_else(|| during(s.field(None)))
            .map_or_else(|| s.configured(cfg), |o| o.budget_usd)
    }

    /// The budget in force: an unexpired override for the client, then for the scope, then the
    /// config.
    pub fn budget(
        &self,
        s: Scope,
        client: Option<&str>,
        cfg: &Budgets,
        now: DateTime<Utc>,
    ) -> Decimal {
        self.live(s, client, now)
            .map_or_else(|| s.configured(cfg), |o| o.budget_usd)
    }
}

/// One change the founder asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    SetKill(KillKey, String),
    ClearKill(KillKey),
    SetOverride {
        scope: Scope,
        client: Option<String>,
        budget_usd: Decimal,
        until: DateTime<Utc>,
    },
    ClearOverride {
        scope: Scope,
        client: Option<String>,
    },
    /// The founder approves the move to a tier (`hard_launch` or `growth`), with a note.
    Approve {
        target: TierName,
        note: String,
    },
    /// The founder withdraws that approval.
    WithdrawApproval {
        target: TierName,
    },
}

/// The `action` label of the admin changes counter.
pub const ACTIONS: [&str; 6] = [
    "kill_switch_on",
    "kill_switch_off",
    "budget_override_set",
    "budget_override_cleared",
    "milestone_approved",
    "milestone_approval_withdrawn",
];

impl Change {
    pub fn action_index(&self) -> usize {
        match self {
            Change::SetKill(..) => 0,
            Change::ClearKill(_) => 1,
            Change::SetOverride { .. } => 2,
            Change::ClearOverride { .. } => 3,
            Change::Approve { .. } => 4,
            Change::WithdrawApproval { .. } => 5,
        }
    }

    /// The state key it touches.
    pub fn field(&self) -> String {
        match self {
            Change::SetKill(k, _) | Change::ClearKill(k) => k.field(),
            Change::SetOverride { scope, client, .. } | Change::ClearOverride { scope, client } => {
                scope.field(client.as_deref())
            }
            Change::Approve { target, .. } | Change::WithdrawApproval { target } => {
                target.as_str().to_string()
            }
        }
    }

    pub fn apply(&self, s: &mut FounderControls, now: DateTime<Utc>) {
        match self {
            Change::SetKill(k, note) => s.set_kill(k.clone(), now, note),
            Change::ClearKill(k) => {
                s.kill_switches.remove(&k.field());
            }
            Change::SetOverride {
                scope,
                client,
                budget_usd,
                until,
            } => s.set_override(*scope, client.as_deref(), *budget_usd, *until, now),
            Change::ClearOverride { .. } => {
                s.budget_overrides.remove(&self.field());
            }
            Change::Approve { target, note } => {
                s.approvals.insert(
                    target.as_str().to_string(),
                    Approval {
                        since: now,
                        note: note.clone(),
                    },
                );
            }
            Change::WithdrawApproval { target } => {
                s.approvals.remove(target.as_str());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use rust_decimal_macros::dec;

    #[test]
    fn overrides_client_then_scope_then_config_and_expire() {
        let now: DateTime<Utc> = "2026-11-26T12:00:00Z".parse().unwrap();
        let b = Budgets::default();
        let mut s = FounderControls::default();
        assert_eq!(s.budget(Scope::ClientDaily, Some("a"), &b, now), dec!(5));
        s.set_override(
            Scope::ClientDaily,
            None,
            dec!(7),
            now + Duration::hours(1),
            now,
        );
        s.set_override(
            Scope::ClientDaily,
            Some("a"),
            dec!(9),
            now + Duration::hours(1),
            now,
        );
        assert_eq!(s.budget(Scope::ClientDaily, Some("a"), &b, now), dec!(9));
        assert_eq!(s.budget(Scope::ClientDaily, Some("b"), &b, now), dec!(7));
        let later = now + Duration::hours(2);
        assert_eq!(s.budget(Scope::ClientDaily, Some("a"), &b, later), dec!(5));
        // Over a past day: an override in force at any moment of it holds for the whole day.
        let day = |d: i64| {
            let from: DateTime<Utc> = "2026-11-26T00:00:00Z".parse().unwrap();
            (from + Duration::days(d), from + Duration::days(d + 1))
        };
        let (from, to) = day(0);
        assert_eq!(
            s.budget_during(Scope::ClientDaily, Some("a"), &b, from, to),
            dec!(9)
        );
        assert_eq!(
            s.budget_during(Scope::ClientDaily, Some("b"), &b, from, to),
            dec!(7)
        );
        let (from, to) = day(-1);
        assert_eq!(
            s.budget_during(Scope::ClientDaily, Some("a"), &b, from, to),
            dec!(5)
        );
        let (from, to) = day(1);
        assert_eq!(
            s.budget_during(Scope::ClientDaily, Some("a"), &b, from, to),
            dec!(5)
        );
    }

    #[test]
    fn an_approval_is_recorded_with_its_time_and_withdrawn() {
        let now: DateTime<Utc> = "2026-11-26T10:00:00Z".parse().unwrap();
        let mut s = FounderControls::default();
        let approve = Change::Approve {
            target: TierName::HardLaunch,
            note: "week 2 review".into(),
        };
        approve.apply(&mut s, now);
        assert_eq!(
            (approve.field(), ACTIONS[approve.action_index()]),
            ("hard_launch".to_string(), "milestone_approved")
        );
        assert_eq!(
            s.approvals["hard_launch"],
            Approval {
                since: now,
                note: "week 2 review".into()
            }
        );
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains(r#""approvals":{"hard_launch":{"since":"2026-11-26T10:00:00Z","note":"week 2 review"}}"#), "{json}");
        assert_eq!(serde_json::from_str::<FounderControls>(&json).unwrap(), s);
        let withdraw = Change::WithdrawApproval {
            target: TierName::HardLaunch,
        };
        withdraw.apply(&mut s, now);
        assert!(s.approvals.is_empty());
        assert_eq!(
            ACTIONS[withdraw.action_index()],
            "milestone_approval_withdrawn"
        );
    }

    #[test]
    fn a_state_without_approvals_reads_and_writes_as_before() {
        let old = r#"{"kill_switches":{},"budget_overrides":{}}"#;
        let s: FounderControls = serde_json::from_str(old).unwrap();
        assert!(s.approvals.is_empty());
        assert_eq!(serde_json::to_string(&s).unwrap(), old);
    }
}
