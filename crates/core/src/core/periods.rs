//! Calendar periods in the configured time zone: budgets and daily limits reset at local
//! midnight, monthly ones on the 1st.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// The first instant of a local calendar date. On a day whose midnight does not exist (a
/// daylight-saving jump at 00:00) it is the first local time that does.
fn start_of(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight is valid");
    for minutes in 0..=180 {
        match tz.from_local_datetime(&(midnight + Duration::minutes(minutes))) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(first, _) => return first.with_timezone(&Utc),
            LocalResult::None => continue,
        }
    }
    // No zone skips more than three hours; fall back to UTC midnight rather than panic.
    Utc.from_utc_datetime(&midnight)
}

/// Start of the guard's spend-rate window at `now`: the start of the minute 15 minutes before
/// `now`'s minute. The window then holds 15 to 16 minutes of ledger, made of whole minutes that
/// the collector can keep between cycles instead of re-reading them; taken over 15 minutes,
/// its rate errs high (by at most a sixteenth), never low.
pub fn spend_window_start(now: DateTime<Utc>) -> DateTime<Utc> {
    let minute = now.timestamp() - now.timestamp().rem_euclid(60);
    DateTime::from_timestamp(minute - 15 * 60, 0).unwrap_or(now - Duration::minutes(16))
}

/// Start of the local day containing `now`.
pub fn day_start(now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    start_of(now.with_timezone(&tz).date_naive(), tz)
}

/// Start of the next local day: when today's budgets reset.
pub fn next_day_start(now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let d = now.with_timezone(&tz).date_naive();
    start_of(d.succ_opt().unwrap_or(d), tz)
}

/// Start of the local day `n` days before the one containing `now` (0: today), DST-safe.
pub fn day_start_before(now: DateTime<Utc>, tz: Tz, n: u32) -> DateTime<Utc> {
    let d = now.with_timezone(&tz).date_naive();
    start_of(
        d.checked_sub_days(chrono::Days::new(u64::from(n)))
            .unwrap_or(d),
        tz,
    )
}

/// Start of the local month containing `now`.
pub fn month_start(now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let d = now.with_timezone(&tz).date_naive();
    start_of(d.with_day(1).expect("day 1 exists"), tz)
}

/// Start of the next local month: when the monthly budget resets.
pub fn next_month_start(now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    month_start(month_start(now, tz) + Duration::days(32), tz)
}

/// The periods one assessment counts in, computed once from the configured zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Periods {
    pub day_start: DateTime<Utc>,
    pub next_day_start: DateTime<Utc>,
    pub month_start: DateTime<Utc>,
    pub next_month_start: DateTime<Utc>,
}

impl Periods {
    pub fn at(now: DateTime<Utc>, tz: Tz) -> Periods {
        Periods {
            day_start: day_start(now, tz),
            next_day_start: next_day_start(now, tz),
            month_start: month_start(now, tz),
            next_month_start: next_month_start(now, tz),
        }
    }
}

/// Length of today in seconds (23 or 25 hours on a daylight-saving change day).
pub fn day_length_seconds(now: DateTime<Utc>, tz: Tz) -> i64 {
    (next_day_start(now, tz) - day_start(now, tz)).num_seconds()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spend_window_starts_on_a_whole_minute_15_to_16_minutes_back() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let start = spend_window_start(at("2026-11-30T10:20:30.5Z"));
        assert_eq!(start, at("2026-11-30T10:05:00Z"));
        assert_eq!(spend_window_start(at("2026-11-30T10:20:00Z")), start);
        assert_eq!(
            spend_window_start(at("2026-12-01T00:05:59Z")),
            at("2026-11-30T23:50:00Z")
        );
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn utc_day_and_month() {
        let now = utc("2026-11-26T21:40:00Z");
        assert_eq!(day_start(now, chrono_tz::UTC), utc("2026-11-26T00:00:00Z"));
        assert_eq!(
            month_start(now, chrono_tz::UTC),
            utc("2026-11-01T00:00:00Z")
        );
    }

    #[test]
    fn non_utc_rollover_before_utc_midnight() {
        // 23:30 UTC on Nov 30 is already Dec 1 in Berlin: a new day and a new month there.
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let now = utc("2026-11-30T23:30:00Z");
        assert_eq!(day_start(now, tz), utc("2026-11-30T23:00:00Z"));
        assert_eq!(month_start(now, tz), utc("2026-11-30T23:00:00Z"));
        let before = utc("2026-11-30T22:59:59Z");
        assert_eq!(day_start(before, tz), utc("2026-11-29T23:00:00Z"));
        assert_eq!(month_start(before, tz), utc("2026-10-31T23:00:00Z"));
    }

    #[test]
    fn new_york_is_behind_utc() {
        let tz: Tz = "America/New_York".parse().unwrap();
        // 02:00 UTC on Nov 1 is still Oct 31 in New York.
        let now = utc("2026-11-01T02:00:00Z");
        assert_eq!(month_start(now, tz), utc("2026-10-01T04:00:00Z"));
        assert_eq!(day_start(now, tz), utc("2026-10-31T04:00:00Z"));
    }

    #[test]
    fn daylight_saving_days_are_23_and_25_hours() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        // Spring forward on 2026-03-29, fall back on 2026-10-25.
        assert_eq!(
            day_length_seconds(utc("2026-03-29T12:00:00Z"), tz),
            23 * 3600
        );
        assert_eq!(
            day_length_seconds(utc("2026-10-25T12:00:00Z"), tz),
            25 * 3600
        );
        assert_eq!(
            day_start(utc("2026-10-25T12:00:00Z"), tz),
            utc("2026-10-24T22:00:00Z")
        );
        assert_eq!(
            next_day_start(utc("2026-10-25T12:00:00Z"), tz),
            utc("2026-10-25T23:00:00Z")
        );
    }

    #[test]
    fn days_before_cross_a_daylight_saving_change() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        // Tuesday 2026-10-27: six days before is Wednesday 2026-10-21, still summer time.
        let now = utc("2026-10-27T10:00:00Z");
        assert_eq!(day_start_before(now, tz, 0), day_start(now, tz));
        assert_eq!(day_start_before(now, tz, 1), utc("2026-10-25T23:00:00Z"));
        assert_eq!(day_start_before(now, tz, 2), utc("2026-10-24T22:00:00Z"));
        assert_eq!(day_start_before(now, tz, 6), utc("2026-10-20T22:00:00Z"));
    }

    #[test]
    fn midnight_that_does_not_exist() {
        // America/Santiago jumps from 00:00 to 01:00 on 2026-09-06.
        let tz: Tz = "America/Santiago".parse().unwrap();
        let now = utc("2026-09-06T15:00:00Z");
        let start = day_start(now, tz);
        assert_eq!(
            start.with_timezone(&tz).date_naive().to_string(),
            "2026-09-06"
        );
        assert_eq!(start, utc("2026-09-06T04:00:00Z"));
    }
}
