//! The seed's next milestone, pure: "hard launch when 5 soft launch clients stabilized, 80% trial
//! completion rate achieved, all strain tests pass, infrastructure upgrades complete", plus the
//! founder's approval checkpoint. Five components for the tier after the current one, each met
//! or not with what is missing; the milestone is ready when all five are met.
//!
//! - **clients_stabilised**: at least the current tier's `clients` limit active, and no client
//!   (active or not: pausing the client that ran away does not make the platform stable) had an
//!   incident on any of the last `milestone.stable_days` local days, today included. An
//!   incident is a client-day that either reached the client's daily budget (spend >= the budget
//!   that held that day: the state the guard hard-stops at) or caused a critical AI token level:
//!   the platform's tokens that day reached the critical share of the tier's `ai_tokens_per_day`
//!   and would not have without that client's tokens.
//! - **trial_completion**: trials converted / trials ended (converted + expired) reaches
//!   `milestone.trial_completion_ratio`; no ended trial yet is not met.
//! - **strain**: the strain half of readiness (the target suite's newest run that counts is
//!   complete, fresh and passed at the required ratio) and, where the target's checklist has
//!   it, the 70% validation.
//! - **checklist**: every other checklist item of the target done.
//! - **founder_approval**: the founder approved the target through the admin API.
//!
//! So strain and checklist together are exactly `launchguard_tier_upgrade_ready`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::bounded::{Bounded, total};
use super::budget::{self, BudgetState, Scope};
use super::controls::{Approval, FounderControls};
use super::levels::{self, FigureName, Level};
use super::periods;
use super::pricing::row_cost;
use super::readiness::{self, Readiness};
use crate::config::{Config, STRAIN_70_ITEM, TierName};
use crate::figures::strain::SuiteRun;
use crate::figures::{DbFigures, Figures, TrialFigures, UsageRow};

/// Incidents kept for the status page, newest first; the counts cover all of them.
pub const MAX_LISTED_INCIDENTS: usize = 10;

/// The milestone's components, in the order the founder reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Component {
    ClientsStabilised,
    TrialCompletion,
    Strain,
    Checklist,
    FounderApproval,
}

impl Component {
    pub const ALL: [Component; 5] = [
        Component::ClientsStabilised,
        Component::TrialCompletion,
        Component::Strain,
        Component::Checklist,
        Component::FounderApproval,
    ];

    /// The `component` label.
    pub fn label(self) -> &'static str {
        match self {
            Component::ClientsStabilised => "clients_stabilised",
            Component::TrialCompletion => "trial_completion",
            Component::Strain => "strain",
            Component::Checklist => "checklist",
            Component::FounderApproval => "founder_approval",
        }
    }
}

/// Why a component is not met, as data; the status page words it.
#[derive(Debug, Clone, PartialEq)]
pub enum Gap {
    /// A figure it needs could not be read.
    Unavailable {
        figure: &'static str,
        reason: String,
    },
    TooFewClients {
        active: u64,
        required: u64,
    },
    /// Clients with an incident in the window (`Stability::incidents` lists them).
    UnstableClients {
        clients: usize,
    },
    NoTrialEnded {
        running: u64,
    },
    TrialsBelow {
        ratio: f64,
        required: f64,
    },
    /// No run of the target's suite that counts (rehearsals never do).
    NoSuiteRun,
    SuiteIncomplete,
    SuiteStale {
        finished_at: DateTime<Utc>,
    },
    SuiteBelow {
        ratio: f64,
        required: f64,
    },
    NotValidatedAt70,
    ChecklistOpen {
        items: Vec<String>,
    },
    NotApproved,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ComponentState {
    pub component: Component,
    pub met: bool,
    /// Empty when met.
    pub gaps: Vec<Gap>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum IncidentKind {
    /// Spend reached the budget that held that day.
    OverBudget {
        spent_usd: Decimal,
        budget_usd: Decimal,
    },
    /// The platform's tokens were critical that day and would not have been without the client.
    CriticalTokens {
        client_tokens: u64,
        platform_tokens: u64,
        critical_tokens: u64,
    },
}

impl IncidentKind {
    /// The `reason` label.
    pub fn label(&self) -> &'static str {
        match self {
            IncidentKind::OverBudget { .. } => "over_budget",
            IncidentKind::CriticalTokens { .. } => "critical_tokens",
        }
    }
}

/// The reasons a client can be unstable, in label order.
pub const INCIDENT_REASONS: [&str; 2] = ["over_budget", "critical_tokens"];

/// One client on one local day.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub client: String,
    pub day_start: DateTime<Utc>,
    pub kind: IncidentKind,
}

/// The clients_stabilised component's figures.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stability {
    /// Active clients now (None: unreadable).
    pub active: Option<u64>,
    /// The current tier's `clients` limit.
    pub required: u64,
    /// First instant of the window (local midnight `stable_days - 1` days before today).
    pub window_start: Option<DateTime<Utc>>,
    /// Distinct clients with at least one incident of each reason (`INCIDENT_REASONS` order).
    pub unstable_by_reason: [usize; 2],
    /// Distinct clients with any incident.
    pub unstable: usize,
    /// Newest first, at most `MAX_LISTED_INCIDENTS`.
    pub incidents: Vec<Incident>,
    pub incidents_total: usize,
    /// Why the window's ledger could not be judged (None: it was).
    pub unavailable: Option<String>,
}

/// The milestone for the tier after the current one.
#[derive(Debug, Clone, PartialEq)]
pub struct Milestone {
    pub target: TierName,
    pub ready: bool,
    /// One per `Component::ALL`, in that order.
    pub components: Vec<ComponentState>,
    pub stability: Stability,
    pub trials: Option<TrialFigures>,
    /// Converted / ended; None until a trial ended (or the trials are unreadable).
    pub trial_completion_ratio: Option<f64>,
    pub required_trial_ratio: f64,
    pub approval: Option<Approval>,
}

impl Milestone {
    pub fn component(&self, c: Component) -> &ComponentState {
        self.components
            .iter()
            .find(|s| s.component == c)
            .expect("every component is assessed")
    }
}

/// The milestone at `now`; None at the top tier (nothing to move up to).
pub fn assess(
    cfg: &Config,
    figures: &Figures,
    controls: &FounderControls,
    readiness: &Readiness,
    now: DateTime<Utc>,
) -> Option<Milestone> {
    let target = cfg.tier.next()?;
    let db = figures.db.as_ref();
    let stability = stability(cfg, db, controls, now);
    let trials = db.and_then(|d| d.trials.as_ref().ok().copied());
    let ratio = trials.and_then(completion_ratio);
    let required_trial_ratio = cfg.milestone.trial_completion_ratio;
    let approval = controls.approvals.get(target.as_str()).cloned();

    let components = vec![
        state(Component::ClientsStabilised, clients_gaps(db, &stability)),
        state(
            Component::TrialCompletion,
            trial_gaps(db, trials, ratio, required_trial_ratio),
        ),
        state(Component::Strain, strain_gaps(cfg, target, readiness, now)),
        state(Component::Checklist, checklist_gaps(target, readiness)),
        state(
            Component::FounderApproval,
            if approval.is_some() {
                Vec::new()
            } else {
                vec![Gap::NotApproved]
            },
        ),
    ];
    Some(Milestone {
        target,
        ready: components.iter().all(|c| c.met),
        components,
        stability,
        trials,
        trial_completion_ratio: ratio,
        required_trial_ratio,
        approval,
    })
}

fn state(component: Component, gaps: Vec<Gap>) -> ComponentState {
    ComponentState {
        component,
        met: gaps.is_empty(),
        gaps,
    }
}

/// Converted over ended; None while no trial has ended.
pub fn completion_ratio(t: TrialFigures) -> Option<f64> {
    let ended = t.converted.plus(t.expired);
    (ended > 0).then(|| t.converted as f64 / ended as f64)
}

fn trial_gaps(
    db: Option<&DbFigures>,
    trials: Option<TrialFigures>,
    ratio: Option<f64>,
    required: f64,
) -> Vec<Gap> {
    let Some(t) = trials else {
        return vec![unavailable(
            "trials",
            db.and_then(|d| d.trials.as_ref().err())
                .map(|u| u.reason.as_str()),
        )];
    };
    match ratio {
        None => vec![Gap::NoTrialEnded { running: t.running }],
        Some(r) if !readiness::suite_passes(r, required) => {
            vec![Gap::TrialsBelow { ratio: r, required }]
        }
        Some(_) => Vec::new(),
    }
}

fn unavailable(figure: &'static str, reason: Option<&str>) -> Gap {
    Gap::Unavailable {
        figure,
        reason: reason
            .unwrap_or("the database has not been read yet")
            .to_string(),
    }
}

fn clients_gaps(db: Option<&DbFigures>, s: &Stability) -> Vec<Gap> {
    let mut gaps = Vec::new();
    match s.active {
        Some(active) if active >= s.required => {}
        Some(active) => gaps.push(Gap::TooFewClients {
            active,
            required: s.required,
        }),
        None => gaps.push(unavailable(
            "active_clients",
            db.and_then(|d| d.active_clients.as_ref().err())
                .map(|u| u.reason.as_str()),
        )),
    }
    if let Some(reason) = &s.unavailable {
        gaps.push(unavailable("usage_days", Some(reason)));
    } else if s.unstable > 0 {
        gaps.push(Gap::UnstableClients {
            clients: s.unstable,
        });
    }
    gaps
}

/// The strain half of readiness, and the 70% validation where the target's checklist has it.
fn strain_gaps(cfg: &Config, target: TierName, r: &Readiness, now: DateTime<Utc>) -> Vec<Gap> {
    let mut gaps = Vec::new();
    let runs = r.runs.as_deref().unwrap_or(&[]);
    let s = &cfg.strain;
    match readiness::newest(runs, target.as_str(), SuiteRun::counts) {
        None => gaps.push(Gap::NoSuiteRun),
        Some(run) => {
            if !run.complete {
                gaps.push(Gap::SuiteIncomplete);
            }
            if !readiness::fresh(run, now, s.ready_max_age.0) {
                gaps.push(Gap::SuiteStale {
                    finished_at: run.finished_at,
                });
            }
            if !readiness::suite_passes(run.pass_ratio, r.required_ratio) {
                gaps.push(Gap::SuiteBelow {
                    ratio: run.pass_ratio,
                    required: r.required_ratio,
                });
            }
        }
    }
    let validation_open = r
        .checklist
        .iter()
        .any(|i| i.target == target && i.item == STRAIN_70_ITEM && !i.done);
    if validation_open {
        gaps.push(Gap::NotValidatedAt70);
    }
    gaps
}

/// Every checklist item of the target but the 70% validation (the strain component's).
fn checklist_gaps(target: TierName, r: &Readiness) -> Vec<Gap> {
    let items: Vec<String> = r
        .checklist
        .iter()
        .filter(|i| i.target == target && i.item != STRAIN_70_ITEM && !i.done)
        .map(|i| i.item.clone())
        .collect();
    if items.is_empty() {
        Vec::new()
    } else {
        vec![Gap::ChecklistOpen { items }]
    }
}

/// The clients' incidents over the window: today from `usage_today`, the closed days from
/// `usage_days`, each day judged under the budgets that held that day and the current tier.
pub fn stability(
    cfg: &Config,
    db: Option<&DbFigures>,
    controls: &FounderControls,
    now: DateTime<Utc>,
) -> Stability {
    let tz = cfg.tz();
    let days = cfg.milestone.stable_days.max(1);
    let mut s = Stability {
        active: db.and_then(|d| d.active_clients.as_ref().ok().copied()),
        required: cfg.current_limits().clients,
        window_start: Some(periods::day_start_before(now, tz, days - 1)),
        ..Stability::default()
    };
    let Some(db) = db else {
        s.unavailable = Some("the database has not been read yet".into());
        return s;
    };
    let today = match &db.usage_today {
        Ok(rows) => rows,
        Err(e) => {
            s.unavailable = Some(e.reason.clone());
            return s;
        }
    };
    let closed = match &db.usage_days {
        Ok(d) => d,
        Err(e) => {
            s.unavailable = Some(e.reason.clone());
            return s;
        }
    };
    // Oldest first: each closed day of the window must have been read.
    let mut window: Vec<(DateTime<Utc>, DateTime<Utc>, &[UsageRow])> = Vec::new();
    for back in (1..days).rev() {
        let start = periods::day_start_before(now, tz, back);
        let end = periods::day_start_before(now, tz, back - 1);
        match closed.iter().find(|d| d.day_start == start) {
            Some(d) => window.push((start, end, &d.rows)),
            None => {
                s.unavailable = Some(format!(
                    "the ledger of the day starting {} has not been read yet",
                    start.to_rfc3339()
                ));
                return s;
            }
        }
    }
    let today_start = periods::day_start(now, tz);
    window.push((today_start, periods::next_day_start(now, tz), today));

    let mut incidents = Vec::new();
    for (start, end, rows) in window {
        incidents.extend(day_incidents(cfg, controls, start, end, rows));
    }
    let mut unstable: BTreeSet<&str> = BTreeSet::new();
    let mut by_reason: [BTreeSet<&str>; 2] = Default::default();
    for i in &incidents {
        unstable.insert(&i.client);
        let r = INCIDENT_REASONS
            .iter()
            .position(|l| *l == i.kind.label())
            .expect("every reason is listed");
        by_reason[r].insert(&i.client);
    }
    s.unstable = unstable.len();
    s.unstable_by_reason = [by_reason[0].len(), by_reason[1].len()];
    s.incidents_total = incidents.len();
    incidents.sort_by(|a, b| {
        b.day_start
            .cmp(&a.day_start)
            .then_with(|| a.client.cmp(&b.client))
            .then_with(|| a.kind.label().cmp(b.kind.label()))
    });
    incidents.truncate(MAX_LISTED_INCIDENTS);
    s.incidents = incidents;
    s
}

/// The incidents of one local day [start, end) from its ledger rows.
pub fn day_incidents(
    cfg: &Config,
    controls: &FounderControls,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    rows: &[UsageRow],
) -> Vec<Incident> {
    let tokens = |r: &UsageRow| {
        total([
            r.input_tokens,
            r.output_tokens,
            r.cache_read_tokens,
            r.cache_write_tokens,
        ])
    };
    let mut clients: BTreeMap<&str, (Decimal, u64)> = BTreeMap::new();
    let mut platform_tokens = 0u64;
    for r in rows {
        platform_tokens = platform_tokens.plus(tokens(r));
        if let Some(id) = r.client_id.as_deref() {
            let e = clients.entry(id).or_insert((Decimal::ZERO, 0));
            e.0 = e.0.plus(row_cost(&cfg.prices, r));
            e.1 = e.1.plus(tokens(r));
        }
    }
    let limit = cfg.current_limits().ai_tokens_per_day.max(1);
    let t = cfg.thresholds.get(FigureName::AiTokens);
    let critical = |tokens: u64| levels::level(tokens as f64 / limit as f64, t) == Level::Critical;
    let platform_critical = critical(platform_tokens);
    // The smallest token count at the critical level, for the page's wording.
    let critical_tokens = (t.critical * limit as f64)
        .ceil()
        .clamp(0.0, u64::MAX as f64) as u64;

    let mut out = Vec::new();
    for (id, (spent, client_tokens)) in clients {
        let budget_usd =
            controls.budget_during(Scope::ClientDaily, Some(id), &cfg.budgets, start, end);
        if budget::state(spent, budget_usd, cfg.budgets.alert_ratio) == BudgetState::Exceeded {
            out.push(Incident {
                client: id.to_string(),
                day_start: start,
                kind: IncidentKind::OverBudget {
                    spent_usd: spent,
                    budget_usd,
                },
            });
        }
        if platform_critical && !critical(platform_tokens.saturating_sub(client_tokens)) {
            out.push(Incident {
                client: id.to_string(),
                day_start: start,
                kind: IncidentKind::CriticalTokens {
                    client_tokens,
                    platform_tokens,
                    critical_tokens,
                },
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::readiness;
    use crate::figures::strain::{Observations, StrainFigures};
    use crate::figures::{DayUsage, Unavailable};
    use chrono::Duration;
    use rust_decimal_macros::dec;

    fn now() -> DateTime<Utc> {
        "2026-11-26T12:00:00Z".parse().unwrap()
    }

    fn day(back: i64) -> DateTime<Utc> {
        "2026-11-26T00:00:00Z".parse::<DateTime<Utc>>().unwrap() - Duration::days(back)
    }

    /// `input` Anthropic input tokens ($3 per million) for `client`.
    fn row(client: Option<&str>, input: u64) -> UsageRow {
        UsageRow {
            client_id: client.map(str::to_string),
            provider: "anthropic".into(),
            model: "claude".into(),
            input_tokens: input,
            requests: 1,
            ..UsageRow::default()
        }
    }

    /// A row that carries its own cost (few tokens).
    fn spend(client: &str, usd: Decimal) -> UsageRow {
        UsageRow {
            priced: true,
            cost_usd: usd,
            ..row(Some(client), 100)
        }
    }

    /// Five active clients, the six closed days before today empty but `extra`.
    fn db(today: Vec<UsageRow>, extra: Vec<(i64, Vec<UsageRow>)>) -> DbFigures {
        let mut d = DbFigures::unavailable(now(), "test");
        d.active_clients = Ok(5);
        d.usage_today = Ok(today);
        d.usage_days = Ok((1..7)
            .rev()
            .map(|back| DayUsage {
                day_start: day(back),
                rows: extra
                    .iter()
                    .filter(|(b, _)| *b == back)
                    .flat_map(|(_, r)| r.clone())
                    .collect(),
            })
            .collect());
        d.trials = Ok(TrialFigures {
            converted: 4,
            expired: 1,
            running: 2,
        });
        d
    }

    fn strain_ok() -> StrainFigures {
        StrainFigures {
            runs: vec![SuiteRun {
                suite: "hard_launch".into(),
                finished_at: now() - Duration::hours(1),
                complete: true,
                pass_ratio: 1.0,
                scenarios: vec![("ai_load".into(), true)],
                at_validation_intensity: true,
                ..SuiteRun::default()
            }],
            observations: Observations {
                pooler: true,
                redis: true,
            },
        }
    }

    fn config() -> Config {
        let mut cfg = Config::default();
        cfg.upgrade_checklist.hard_launch.done =
            ["error_tracking", "webhook_retries", "log_aggregation"]
                .map(String::from)
                .to_vec();
        cfg
    }

    fn approved() -> FounderControls {
        let mut c = FounderControls::default();
        c.approvals.insert(
            "hard_launch".into(),
            Approval {
                since: now(),
                note: String::new(),
            },
        );
        c
    }

    fn milestone(
        cfg: &Config,
        d: DbFigures,
        strain: Option<StrainFigures>,
        c: &FounderControls,
    ) -> Milestone {
        let figures = Figures {
            db: Some(d),
            strain,
            ..Figures::default()
        };
        let r = readiness::assess(cfg, figures.strain.as_ref(), now());
        assess(cfg, &figures, c, &r, now()).unwrap()
    }

    fn gaps(m: &Milestone, c: Component) -> Vec<Gap> {
        m.component(c).gaps.clone()
    }

    #[test]
    fn every_component_met_is_ready_and_the_top_tier_has_none() {
        let cfg = config();
        let m = milestone(&cfg, db(vec![], vec![]), Some(strain_ok()), &approved());
        assert!(m.ready, "{:#?}", m.components);
        assert_eq!(m.target, TierName::HardLaunch);
        assert_eq!(m.trial_completion_ratio, Some(0.8));
        let top = Config {
            tier: TierName::Growth,
            ..config()
        };
        let figures = Figures::default();
        let r = readiness::assess(&top, None, now());
        assert!(assess(&top, &figures, &approved(), &r, now()).is_none());
    }

    #[test]
    fn a_client_at_its_budget_on_one_day_of_the_window_is_an_incident() {
        let cfg = config();
        // $5.01 on the day 6 days back (the window's first), $5.00 exactly three days back:
        // both reach the $5 budget. Anthropic input at $3 per million: 1,000 tokens are $0.003,
        // and $1.00 of it today is no incident either.
        let over = |c| spend(c, dec!(5.01));
        let d = db(
            vec![row(Some("c"), 333_333)],
            vec![
                (6, vec![over("a")]),
                (3, vec![spend("b", dec!(4.997)), row(Some("b"), 1_000)]),
            ],
        );
        let m = milestone(&cfg, d, Some(strain_ok()), &approved());
        assert!(!m.ready);
        let s = &m.stability;
        assert_eq!((s.unstable, s.unstable_by_reason), (2, [2, 0]));
        assert_eq!(s.window_start, Some(day(6)));
        assert_eq!(
            s.incidents
                .iter()
                .map(|i| (i.client.as_str(), i.day_start))
                .collect::<Vec<_>>(),
            [("b", day(3)), ("a", day(6))]
        );
        assert_eq!(
            s.incidents[1].kind,
            IncidentKind::OverBudget {
                spent_usd: dec!(5.01),
                budget_usd: dec!(5)
            }
        );
        assert_eq!(
            gaps(&m, Component::ClientsStabilised),
            [Gap::UnstableClients { clients: 2 }]
        );
        // Just under the budget is no incident.
        let d = db(vec![], vec![(6, vec![spend("a", dec!(4.999999))])]);
        let m = milestone(&cfg, d, Some(strain_ok()), &approved());
        assert!(m.component(Component::ClientsStabilised).met);
        // A budget override in force that day raises the bar for that day only.
        let mut c = approved();
        c.set_override(
            Scope::ClientDaily,
            Some("a"),
            dec!(6),
            day(6) + Duration::hours(10),
            day(6) + Duration::hours(9),
        );
        let d = db(vec![], vec![(6, vec![over("a")])]);
        assert!(
            milestone(&cfg, d, Some(strain_ok()), &c)
                .component(Component::ClientsStabilised)
                .met
        );
        let d = db(vec![], vec![(5, vec![over("a")])]);
        assert!(
            !milestone(&cfg, d, Some(strain_ok()), &c)
                .component(Component::ClientsStabilised)
                .met
        );
    }

    #[test]
    fn a_critical_token_day_blames_the_clients_without_whom_it_was_not_critical() {
        let cfg = config();
        // Limit 500,000, critical at 90%: 450,000. Today: a 300,000, b 140,000, c 10,000,
        // unattributed 5,000 = 455,000. Without a: 155,000; without b: 315,000; without c:
        // 445,000. All three caused it; nobody reached $5 (a: $0.90).
        let today = vec![
            row(Some("a"), 300_000),
            row(Some("b"), 140_000),
            row(Some("c"), 10_000),
            row(None, 5_000),
        ];
        let m = milestone(&cfg, db(today, vec![]), Some(strain_ok()), &approved());
        let s = &m.stability;
        assert_eq!((s.unstable, s.unstable_by_reason), (3, [0, 3]));
        assert_eq!(
            s.incidents[0].kind,
            IncidentKind::CriticalTokens {
                client_tokens: 300_000,
                platform_tokens: 455_000,
                critical_tokens: 450_000
            }
        );
        // With 20,000 unattributed (470,000 in all), c's 10,000 no longer decides it: without
        // c it is 460,000, still critical; a and b still do.
        let today = vec![
            row(Some("a"), 300_000),
            row(Some("b"), 140_000),
            row(Some("c"), 10_000),
            row(None, 20_000),
        ];
        let m = milestone(&cfg, db(today, vec![]), Some(strain_ok()), &approved());
        let blamed: Vec<&str> = m
            .stability
            .incidents
            .iter()
            .map(|i| i.client.as_str())
            .collect();
        assert_eq!(blamed, ["a", "b"]);
        // Just under critical: no incident.
        let today = vec![row(Some("a"), 449_999)];
        let m = milestone(&cfg, db(today, vec![]), Some(strain_ok()), &approved());
        assert_eq!(m.stability.unstable, 0);
    }

    #[test]
    fn too_few_clients_and_unread_days_are_not_met() {
        let cfg = config();
        let mut d = db(vec![], vec![]);
        d.active_clients = Ok(4);
        let m = milestone(&cfg, d, Some(strain_ok()), &approved());
        assert_eq!(
            gaps(&m, Component::ClientsStabilised),
            [Gap::TooFewClients {
                active: 4,
                required: 5
            }]
        );
        // Active clients unreadable: unavailable with the query's reason, not "too few".
        let mut d = db(vec![], vec![]);
        d.active_clients = Err(Unavailable {
            reason: "active_clients query: permission denied".into(),
        });
        let m = milestone(&cfg, d, Some(strain_ok()), &approved());
        assert!(matches!(
            &gaps(&m, Component::ClientsStabilised)[..],
            [Gap::Unavailable { figure: "active_clients", reason }] if reason.contains("permission denied")
        ));
        // The window's first day missing (the source has not caught up after midnight).
        let mut d = db(vec![], vec![]);
        if let Ok(days) = &mut d.usage_days {
            days.remove(0);
        }
        let m = milestone(&cfg, d, Some(strain_ok()), &approved());
        assert!(matches!(
            &gaps(&m, Component::ClientsStabilised)[..],
            [Gap::Unavailable { figure: "usage_days", reason }] if reason.contains("2026-11-20")
        ));
        // A shorter window needs fewer closed days.
        let mut cfg = config();
        cfg.milestone.stable_days = 1;
        let mut d = db(vec![], vec![(1, vec![row(Some("a"), 10_000_000)])]);
        d.usage_days = Ok(Vec::new());
        assert!(
            milestone(&cfg, d, Some(strain_ok()), &approved())
                .component(Component::ClientsStabilised)
                .met
        );
    }

    #[test]
    fn trial_completion_is_converted_over_ended() {
        let cfg = config();
        let with = |converted, expired, running| {
            let mut d = db(vec![], vec![]);
            d.trials = Ok(TrialFigures {
                converted,
                expired,
                running,
            });
            milestone(&cfg, d, Some(strain_ok()), &approved())
        };
        assert!(with(4, 1, 9).component(Component::TrialCompletion).met);
        let m = with(3, 1, 0);
        assert_eq!(m.trial_completion_ratio, Some(0.75));
        assert_eq!(
            gaps(&m, Component::TrialCompletion),
            [Gap::TrialsBelow {
                ratio: 0.75,
                required: 0.8
            }]
        );
        assert_eq!(
            gaps(&with(0, 0, 3), Component::TrialCompletion),
            [Gap::NoTrialEnded { running: 3 }]
        );
        let mut d = db(vec![], vec![]);
        d.trials = Err(Unavailable {
            reason: "trials query: missing column".into(),
        });
        let m = milestone(&cfg, d, Some(strain_ok()), &approved());
        assert!(matches!(
            &gaps(&m, Component::TrialCompletion)[..],
            [Gap::Unavailable { figure: "trials", reason }] if reason.contains("missing column")
        ));
    }

    #[test]
    fn strain_and_checklist_split_readiness_and_approval_is_its_own() {
        let cfg = config();
        let m = milestone(&cfg, db(vec![], vec![]), None, &FounderControls::default());
        assert_eq!(
            gaps(&m, Component::Strain),
            [Gap::NoSuiteRun, Gap::NotValidatedAt70]
        );
        assert_eq!(gaps(&m, Component::FounderApproval), [Gap::NotApproved]);
        // Nothing observed before the strain source's first read: the pooler and Redis are open.
        assert_eq!(
            gaps(&m, Component::Checklist),
            [Gap::ChecklistOpen {
                items: vec!["connection_pooler".into(), "redis".into()]
            }]
        );
        let mut s = strain_ok();
        s.runs[0].pass_ratio = 0.67;
        s.runs[0].scenarios.push(("visual_jobs".into(), false));
        s.runs[0].finished_at = now() - Duration::days(8);
        s.observations.redis = false;
        let m = milestone(&cfg, db(vec![], vec![]), Some(s), &approved());
        let finished_at = now() - Duration::days(8);
        assert_eq!(
            gaps(&m, Component::Strain),
            [
                Gap::SuiteStale { finished_at },
                Gap::SuiteBelow {
                    ratio: 0.67,
                    required: 0.8
                },
                Gap::NotValidatedAt70
            ]
        );
        assert_eq!(
            gaps(&m, Component::Checklist),
            [Gap::ChecklistOpen {
                items: vec!["redis".into()]
            }]
        );
        // Strain and checklist together are the tier upgrade readiness.
        let figures = Figures {
            strain: Some(strain_ok()),
            ..Figures::default()
        };
        let r = readiness::assess(&cfg, figures.strain.as_ref(), now());
        let m = assess(&cfg, &figures, &approved(), &r, now()).unwrap();
        assert_eq!(
            m.component(Component::Strain).met && m.component(Component::Checklist).met,
            r.target(TierName::HardLaunch).unwrap().ready
        );
    }
}
