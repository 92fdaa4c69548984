//! Levels and actions of the Resource Monitor figures (brief section 4).

use crate::config::Threshold;

pub use crate::catalogue::FigureName;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Normal = 0,
    Warning = 1,
    Critical = 2,
}

impl Level {
    pub fn label(self) -> &'static str {
        match self {
            Level::Normal => "normal",
            Level::Warning => "warning",
            Level::Critical => "critical",
        }
    }
}

/// A value at or above a threshold is at that level; the alert rules use the same `>=`.
pub fn level(value: f64, t: Threshold) -> Level {
    if value >= t.critical {
        Level::Critical
    } else if value >= t.warning {
        Level::Warning
    } else {
        Level::Normal
    }
}

/// The action the brief names for a figure at a level.
pub fn action(figure: FigureName, level: Level) -> &'static str {
    figure.actions()[level as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_inclusive() {
        let t = Threshold {
            warning: 50.0,
            critical: 200.0,
        };
        assert_eq!(level(49.0, t), Level::Normal);
        assert_eq!(level(50.0, t), Level::Warning);
        assert_eq!(level(199.9, t), Level::Warning);
        assert_eq!(level(200.0, t), Level::Critical);
    }

    #[test]
    fn actions_follow_the_brief() {
        assert_eq!(
            action(FigureName::QueueDepth, Level::Warning),
            "delay_new_jobs"
        );
        assert_eq!(
            action(FigureName::QueueDepth, Level::Critical),
            "pause_intake"
        );
        assert_eq!(
            action(FigureName::ResponseTime, Level::Critical),
            "throttle"
        );
        assert_eq!(action(FigureName::ErrorRate, Level::Warning), "investigate");
        assert_eq!(
            action(FigureName::ErrorRate, Level::Critical),
            "alert_founder"
        );
        assert_eq!(action(FigureName::Storage, Level::Normal), "continue");
    }
}
