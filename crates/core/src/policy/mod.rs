//! The guard's policy: pure functions of the published assessment, the config, the clock
//! reading passed in, the founder's controls, the reservations and the request. No I/O and no
//! clock here (this crate has neither), so every reason code is tested with plain values.
//!
//! A request goes through three stages. `plan` runs the `gates` in order (kill switches,
//! snapshot age, the figures' levels, the API rate, the ledger): the first that returns a
//! verdict decides without a reservation. Otherwise it returns the `limits` that depend on
//! what other callers reserved. A store checks those limits against its pending amounts and
//! reserves under one lock (or one Redis script), so concurrent callers cannot overshoot.
//! `finish` turns the store's answer into a `Verdict`.
//!
//! `request` holds what a caller asks and what it costs (`estimate`, `actual`); `verdict` the
//! reason table, the typed scopes and the verdicts; `gates` and `limits` the two stages, `plan`
//! their order and the verdict from the store's answer; `caps` the bounds on what a store holds.

pub mod caps;
pub mod gates;
pub mod limits;
pub mod plan;
pub mod request;
pub mod verdict;

pub use caps::{Caps, Full};
pub use gates::{Ctx, kill_switch};
pub use limits::{Counter, Limit, first_failing};
pub use plan::{Plan, decide, finish, plan};
pub use request::{Amounts, Kind, PriceError, Request, Usage, actual, estimate};
pub use verdict::{Decision, GuardScope, Reason, Verdict};
