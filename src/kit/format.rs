//! Numbers as Prometheus' template functions print them (`humanize`, `humanizePercentage`,
//! `humanizeDuration`), so a threshold written into an alert's text reads like the `$value`
//! beside it, and the promtool tests can state the exact text an alert will carry.

/// Go's `fmt.Sprintf("%.4g", v)`.
pub fn g4(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if v == 0.0 {
        return "0".into();
    }
    // Round to 4 significant digits first: the exponent after rounding decides the style.
    let sci = format!("{v:.3e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    if !(-4..4).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim_zeros(mantissa), exp.abs());
    }
    let decimals = (3 - exp).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}"))
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// Prometheus' `humanize`: SI prefixes (k, M, G, ... and m, u, n, ...), 4 significant digits.
pub fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return g4(v);
    }
    let mut v = v;
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        (v, prefix) = small_prefix(v);
    }
    format!("{}{prefix}", g4(v))
}

/// Scales a value below 1 up by thousands: (scaled value, SI prefix m, u, n, ...).
fn small_prefix(mut v: f64) -> (f64, &'static str) {
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    (v, prefix)
}

/// Prometheus' `humanizePercentage`: 0.9 prints as `90%`.
pub fn humanize_percentage(v: f64) -> String {
    format!("{}%", g4(v * 100.0))
}

/// Prometheus' `humanizeDuration`: seconds as `1d 2h 3m 4s`, `12.5s` or `500ms`.
pub fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let v = v.abs();
        let d = v as i64;
        let (secs, mins, hours, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86_400);
        return if days != 0 {
            format!("{sign}{days}d {hours}h {mins}m {secs}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {mins}m {secs}s")
        } else if mins != 0 {
            format!("{sign}{mins}m {secs}s")
        } else {
            format!("{sign}{}s", g4(v))
        };
    }
    let (v, prefix) = small_prefix(v);
    format!("{}{prefix}s", g4(v))
}

/// A number as PromQL reads it, without float noise (`0.7`, `5000000000`).
pub fn promql_number(v: f64) -> String {
    format!("{v}")
}

/// A number for a reader (a probe's name): rounded to 12 decimals, so the noise of a computed
/// value (`0.05 + 0.001` = `0.051000000000000004`) does not show; the series keep the exact value.
pub fn readable_number(v: f64) -> String {
    let s = format!("{v:.12}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// A duration as Prometheus writes it (`5m`, `1h30m`, `2s`, `0s`).
pub fn prom_duration(d: std::time::Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_numbers_drop_float_noise_and_keep_whole_numbers() {
        assert_eq!(readable_number(0.05 + 0.001), "0.051");
        assert_eq!(readable_number(5_000_000_000.0), "5000000000");
        assert_eq!(readable_number(0.7), "0.7");
        assert_eq!(readable_number(-0.0), "0");
        assert_eq!(readable_number(1e-13), "0");
    }

    // Expected strings are what Prometheus 2.42's template functions print for these values.
    #[test]
    fn matches_go_formatting() {
        assert_eq!(g4(91.00000000000001), "91");
        assert_eq!(g4(69.93), "69.93");
        assert_eq!(g4(0.0001234), "0.0001234");
        assert_eq!(g4(0.00001234), "1.234e-05");
        assert_eq!(g4(12345.0), "1.234e+04");
        assert_eq!(g4(999.96), "1000");
        assert_eq!(humanize(5e9), "5G");
        assert_eq!(humanize(4.999e9), "4.999G");
        assert_eq!(humanize(200.0), "200");
        assert_eq!(humanize(0.5), "500m");
        assert_eq!(humanize(1234.0), "1.234k");
        assert_eq!(humanize_percentage(0.9), "90%");
        assert_eq!(humanize_percentage(0.699), "69.9%");
        assert_eq!(humanize_duration(600.0), "10m 0s");
        assert_eq!(humanize_duration(90061.0), "1d 1h 1m 1s");
        assert_eq!(humanize_duration(2.0), "2s");
        assert_eq!(humanize_duration(0.5), "500ms");
        assert_eq!(humanize_duration(0.499), "499ms");
        assert_eq!(humanize_duration(7200.0), "2h 0m 0s");
    }

    #[test]
    fn prometheus_durations() {
        use std::time::Duration;
        assert_eq!(prom_duration(Duration::from_secs(300)), "5m");
        assert_eq!(prom_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(prom_duration(Duration::from_secs(86_400)), "1d");
        assert_eq!(prom_duration(Duration::from_millis(2500)), "2s500ms");
        assert_eq!(prom_duration(Duration::ZERO), "0s");
        assert_eq!(promql_number(5e9), "5000000000");
        assert_eq!(promql_number(0.7), "0.7");
    }
}
