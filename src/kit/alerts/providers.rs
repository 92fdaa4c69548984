//! What the providers themselves report: the ledger's drift from their bills, OpenRouter's
//! prepaid credits and the ElevenLabs character quota. The guard only knows the ledger, so these
//! are the alerts that catch spend it never logged and an account about to refuse requests.

use crate::config::kit::{KitSignal, Signal};
use crate::metrics::names as n;

use super::super::format::{humanize_percentage, promql_number};
use super::super::panels;
use super::promql::with_resource;
use super::prose::Prose;
use super::text::{Part, Unit, at, t};
use super::{
    Alert, Ctx, Drive, Probe, Resource, Severity, Variant, labels, minutes, sel,
    warning_and_critical,
};

/// The periods whose drift is settled: `day` is mostly the providers' report lag.
const SETTLED: &str = "period=~\"yesterday|month\"";

pub(super) fn alerts(c: &Ctx) -> Vec<Alert> {
    vec![
        ledger_drift(c),
        openrouter_credits(c),
        openrouter_key_limit(c),
        elevenlabs_quota(c),
        elevenlabs_drift(c),
    ]
}

/// Warning when the provider bills at least `ledger_drift_usd` more than the ledger logged and
/// that is at least `ledger_drift_ratio` of its bill, on a settled period.
fn ledger_drift(c: &Ctx) -> Alert {
    let signal = Signal::Kit(KitSignal::LedgerDrift);
    let default_for = minutes(30);
    let (usd, ratio) = (
        c.cfg.kit.rules.ledger_drift_usd,
        c.cfg.kit.rules.ledger_drift_ratio,
    );
    let r = Resource::FromLabel("provider");
    let expr = format!(
        "{} >= {} and on (job, instance, provider, period) {} >= {}",
        sel(&n::LEDGER_DRIFT_RATIO, SETTLED),
        promql_number(ratio),
        sel(&n::LEDGER_DRIFT_USD, SETTLED),
        promql_number(usd)
    );
    let (usd_text, ratio_text) = (Unit::Usd.text(usd), humanize_percentage(ratio));
    let example = "provider=\"openai\", period=\"yesterday\"";
    Alert {
        name: "LaunchguardLedgerDrift".into(),
        signal,
        summary: "A provider bills more than the ledger logged",
        for_: c.for_(signal, default_for),
        default_for,
        variants: vec![Variant {
            severity: Severity::Warning,
            threshold: ratio,
            expr: with_resource(expr, &r),
            description: vec![
                Part::Label("provider"),
                t(" billed spend the ledger never logged: "),
                Part::Value(Unit::Ratio),
                t(" of its bill for "),
                Part::Label("period"),
                t(format!(
                    " (warning at {ratio_text} and {usd_text}): requests bypass the ledger, so budgets and the guard undercount."
                )),
            ],
            condition: format!(
                "provider's bill over the ledger's by {ratio_text} and {usd_text} or more, on `yesterday` or `month`"
            ),
        }],
        resource: r,
        probe: Probe::Level {
            step: Unit::Ratio.step(),
            drive: Drive::Gated {
                inner: Box::new(Drive::one(sel(&n::LEDGER_DRIFT_RATIO, example))),
                gate: sel(&n::LEDGER_DRIFT_USD, example),
                at_least: usd,
                step: Unit::Usd.step(),
            },
            labels: labels(&[
                ("provider", "openai"),
                ("period", "yesterday"),
                ("resource", "openai"),
            ]),
        },
        runbook: Prose::parse(
            include_str!("../runbooks/ledger_drift.md"),
            &[("usd", usd_text.clone()), ("ratio", ratio_text.clone())],
        )
        .runbook(panels::FOUNDER, panels::FIRING),
    }
}

/// Warning, then critical, as the account's dollars fall to each threshold.
fn openrouter_credits(c: &Ctx) -> Alert {
    let signal = Signal::Kit(KitSignal::OpenrouterCredits);
    let default_for = minutes(5);
    let th = c.cfg.kit.rules.openrouter_credits_usd;
    let r = Resource::Static("openrouter");
    let left = sel(&n::OPENROUTER_CREDITS_REMAINING_USD, "");
    let variants = [
        (Severity::Warning, th.warning),
        (Severity::Critical, th.critical),
    ]
    .into_iter()
    .map(|(sev, limit)| {
        let tail = if sev == Severity::Critical {
            ": OpenRouter refuses requests when they reach $0"
        } else {
            ""
        };
        Variant {
            severity: sev,
            threshold: limit,
            expr: format!("{left} <= {}", promql_number(limit)),
            description: vec![
                t("The OpenRouter account has "),
                Part::Value(Unit::Usd),
                t(format!(
                    " of credits left{}{tail}.",
                    at(sev, &Unit::Usd.text(limit))
                )),
            ],
            condition: format!("at or below {} left", Unit::Usd.text(limit)),
        }
    })
    .collect();
    Alert {
        name: "LaunchguardOpenrouterCredits".into(),
        signal,
        summary: "OpenRouter credits are running out",
        for_: c.for_(signal, default_for),
        default_for,
        variants,
        resource: r,
        probe: Probe::Floor {
            step: Unit::Usd.step(),
            drive: Drive::one(left.clone()),
            labels: labels(&[]),
        },
        runbook: Prose::parse(include_str!("../runbooks/openrouter_credits.md"), &[])
            .runbook(panels::FOUNDER, panels::FIRING),
    }
}

/// Warning, then critical, as the share of the key's own spending limit left falls. A key
/// without a limit exports neither series; a limit of 0 is no limit to share.
fn openrouter_key_limit(c: &Ctx) -> Alert {
    let signal = Signal::Kit(KitSignal::OpenrouterKeyLimit);
    let default_for = minutes(5);
    let th = c.cfg.kit.rules.openrouter_key_limit_left_ratio;
    let r = Resource::Static("openrouter_key");
    let left = sel(&n::OPENROUTER_KEY_LIMIT_REMAINING_USD, "");
    let limit = sel(&n::OPENROUTER_KEY_LIMIT_USD, "");
    let share = format!("{left} / ({limit} > 0)");
    let variants = [
        (Severity::Warning, th.warning),
        (Severity::Critical, th.critical),
    ]
    .into_iter()
    .map(|(sev, at_or_below)| {
        let tail = if sev == Severity::Critical {
            ": OpenRouter refuses the key's requests when it is used up"
        } else {
            ""
        };
        Variant {
            severity: sev,
            threshold: at_or_below,
            expr: format!("{share} <= {}", promql_number(at_or_below)),
            description: vec![
                t("The OpenRouter key has "),
                Part::Value(Unit::Ratio),
                t(format!(
                    " of its spending limit left{}{tail}.",
                    at(sev, &Unit::Ratio.text(at_or_below))
                )),
            ],
            condition: format!(
                "at or below {} of the key's limit left",
                Unit::Ratio.text(at_or_below)
            ),
        }
    })
    .collect();
    Alert {
        name: "LaunchguardOpenrouterKeyLimit".into(),
        signal,
        summary: "The OpenRouter key's spending limit is running out",
        for_: c.for_(signal, default_for),
        default_for,
        variants,
        resource: r,
        probe: Probe::Floor {
            step: Unit::Ratio.step(),
            drive: Drive::Ratio {
                part: left,
                whole: limit,
                of: 10_000.0,
            },
            labels: labels(&[]),
        },
        runbook: Prose::parse(include_str!("../runbooks/openrouter_key_limit.md"), &[])
            .runbook(panels::FOUNDER, panels::FIRING),
    }
}

fn elevenlabs_quota(c: &Ctx) -> Alert {
    let signal = Signal::Kit(KitSignal::ElevenlabsQuota);
    let default_for = minutes(5);
    let r = Resource::Static("elevenlabs");
    let used = sel(&n::ELEVENLABS_CHARACTERS_USED, "");
    let limit = sel(&n::ELEVENLABS_CHARACTERS_LIMIT, "");
    Alert {
        name: "LaunchguardElevenlabsQuota".into(),
        signal,
        summary: "The ElevenLabs character quota is running out",
        for_: c.for_(signal, default_for),
        default_for,
        variants: warning_and_critical(
            &format!("{used} / ({limit} > 0)"),
            &r,
            c.cfg.kit.rules.elevenlabs_quota_ratio,
            Unit::Ratio,
            |s, l| {
                vec![
                    t("The ElevenLabs subscription has used "),
                    Part::Value(Unit::Ratio),
                    t(format!(
                        " of its characters for this billing period{}.",
                        at(s, l)
                    )),
                ]
            },
        ),
        resource: r,
        probe: Probe::Level {
            step: Unit::Ratio.step(),
            drive: Drive::Ratio {
                part: used,
                whole: limit,
                of: 100_000.0,
            },
            labels: labels(&[]),
        },
        runbook: Prose::parse(include_str!("../runbooks/elevenlabs_quota.md"), &[])
            .runbook(panels::FOUNDER, panels::FIRING),
    }
}

/// Warning when ElevenLabs bills at least `ledger_drift_ratio` more characters over its billing
/// period than the ledger logged, once the period has billed `elevenlabs_drift_characters`.
/// Characters, not dollars, so LaunchguardLedgerDrift's dollar gate cannot apply.
fn elevenlabs_drift(c: &Ctx) -> Alert {
    let signal = Signal::Kit(KitSignal::ElevenlabsDrift);
    let default_for = minutes(30);
    let ratio = c.cfg.kit.rules.ledger_drift_ratio;
    let floor = c.cfg.kit.rules.elevenlabs_drift_characters as f64;
    let r = Resource::Static("elevenlabs");
    let m = "provider=\"elevenlabs\", period=\"billing_period\"";
    let billed = sel(&n::ELEVENLABS_CHARACTERS_USED, "");
    let expr = format!(
        "{} >= {} and on (job, instance) {billed} >= {}",
        sel(&n::LEDGER_DRIFT_RATIO, m),
        promql_number(ratio),
        promql_number(floor)
    );
    let (ratio_text, floor_text) = (humanize_percentage(ratio), Unit::Count.text(floor));
    Alert {
        name: "LaunchguardElevenlabsDrift".into(),
        signal,
        summary: "ElevenLabs bills more characters than the ledger logged",
        for_: c.for_(signal, default_for),
        default_for,
        variants: vec![Variant {
            severity: Severity::Warning,
            threshold: ratio,
            expr,
            description: vec![
                t("ElevenLabs billed characters the ledger never logged: "),
                Part::Value(Unit::Ratio),
                t(format!(
                    " of its billing period's characters (warning at {ratio_text} once {floor_text} are billed): text to speech bypasses the ledger, so budgets and the guard undercount."
                )),
            ],
            condition: format!(
                "ElevenLabs' characters over the ledger's by {ratio_text} or more, with {floor_text} or more billed in the period"
            ),
        }],
        resource: r,
        probe: Probe::Level {
            step: Unit::Ratio.step(),
            drive: Drive::Gated {
                inner: Box::new(Drive::one(sel(&n::LEDGER_DRIFT_RATIO, m))),
                gate: billed,
                at_least: floor,
                step: Unit::Count.step(),
            },
            labels: labels(&[("provider", "elevenlabs"), ("period", "billing_period")]),
        },
        runbook: Prose::parse(
            include_str!("../runbooks/elevenlabs_drift.md"),
            &[
                ("ratio", ratio_text.clone()),
                ("characters", floor_text.clone()),
            ],
        )
        .runbook(panels::FOUNDER, panels::FIRING),
    }
}
