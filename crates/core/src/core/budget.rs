//! Cost Shield budgets (brief section 3): used ratio and state per scope.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::config::Budgets;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Daily,
    Monthly,
    ClientDaily,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Daily, Scope::Monthly, Scope::ClientDaily];

    pub fn label(self) -> &'static str {
        match self {
            Scope::Daily => "daily",
            Scope::Monthly => "monthly",
            Scope::ClientDaily => "client_daily",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Scope::ALL.into_iter().find(|x| x.label() == s)
    }

    /// Its key in the founder's controls: the scope, or `client_daily:ID` for one client.
    pub fn field(self, client: Option<&str>) -> String {
        match client {
            Some(c) => format!("{}:{c}", self.label()),
            None => self.label().to_string(),
        }
    }

    /// The configured budget of the scope.
    pub fn configured(self, b: &Budgets) -> Decimal {
        match self {
            Scope::Daily => b.daily_usd,
            Scope::Monthly => b.monthly_usd,
            Scope::ClientDaily => b.client_daily_usd,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BudgetState {
    Ok,
    /// At or above the alert ratio.
    Alert,
    /// At or above the budget: the guard denies new spend in this scope.
    Exceeded,
}

impl BudgetState {
    pub const ALL: [BudgetState; 3] = [BudgetState::Ok, BudgetState::Alert, BudgetState::Exceeded];

    pub fn label(self) -> &'static str {
        match self {
            BudgetState::Ok => "ok",
            BudgetState::Alert => "alert",
            BudgetState::Exceeded => "exceeded",
        }
    }
}

/// Spend over budget; a zero budget counts as fully used.
pub fn used_ratio(spent: Decimal, budget: Decimal) -> f64 {
    if budget <= Decimal::ZERO {
        return if spent > Decimal::ZERO {
            f64::INFINITY
        } else {
            1.0
        };
    }
    // A tiny budget under a huge spend overflows Decimal's division: that is "far past it".
    spent
        .checked_div(budget)
        .and_then(|r| r.to_f64())
        .unwrap_or(f64::INFINITY)
}

/// State from the exact decimal comparison, so $50.00 of $50 is exceeded, never 0.99999.
pub fn state(spent: Decimal, budget: Decimal, alert_ratio: f64) -> BudgetState {
    if spent >= budget {
        return BudgetState::Exceeded;
    }
    let alert = super::bounded::times(
        Decimal::try_from(alert_ratio).unwrap_or(Decimal::ONE),
        budget,
    );
    if spent >= alert {
        BudgetState::Alert
    } else {
        BudgetState::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn states_at_their_edges() {
        assert_eq!(state(dec!(39.99), dec!(50), 0.8), BudgetState::Ok);
        assert_eq!(state(dec!(40), dec!(50), 0.8), BudgetState::Alert);
        assert_eq!(state(dec!(49.999999), dec!(50), 0.8), BudgetState::Alert);
        assert_eq!(state(dec!(50), dec!(50), 0.8), BudgetState::Exceeded);
        assert_eq!(used_ratio(dec!(40), dec!(50)), 0.8);
        assert_eq!(used_ratio(dec!(0), dec!(0)), 1.0);
        // A saturated spend over a tiny budget: far past it, not a panic.
        assert_eq!(used_ratio(Decimal::MAX, dec!(0.0000001)), f64::INFINITY);
    }
}
