//! p95 from a latency histogram, the way Prometheus' histogram_quantile does it.

use super::bounded::Bounded;

/// Upper bounds (seconds) of the traffic table's latency buckets; the last bucket is +Inf.
pub const BUCKET_BOUNDS: [f64; 6] = [0.1, 0.25, 0.5, 1.0, 2.0, 5.0];

/// Quantile `q` of non-cumulative bucket counts (one more count than bounds, for +Inf), with
/// linear interpolation inside the bucket. A rank in the +Inf bucket yields the highest finite
/// bound, as in Prometheus. `None` when there are no observations.
pub fn quantile(q: f64, bounds: &[f64], counts: &[u64]) -> Option<f64> {
    let total: u64 = super::bounded::total(counts.iter().copied());
    if total == 0 || counts.len() != bounds.len() + 1 {
        return None;
    }
    let rank = q * total as f64;
    let mut cum = 0u64;
    for (i, &c) in counts.iter().enumerate() {
        let prev = cum;
        cum = cum.plus(c);
        if (cum as f64) >= rank && c > 0 {
            if i == bounds.len() {
                return bounds.last().copied();
            }
            let lower = if i == 0 { 0.0 } else { bounds[i - 1] };
            let upper = bounds[i];
            let frac = (rank - prev as f64) / c as f64;
            return Some(lower + (upper - lower) * frac);
        }
    }
    bounds.last().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_inside_the_bucket() {
        // 100 responses: 90 under 100 ms, 10 in (100, 250]: p95 = 0.1 + 0.15 * 0.5.
        let counts = [90, 10, 0, 0, 0, 0, 0];
        let p = quantile(0.95, &BUCKET_BOUNDS, &counts).unwrap();
        assert!((p - 0.175).abs() < 1e-9, "{p}");
    }

    #[test]
    fn inf_bucket_gives_highest_bound_and_empty_gives_none() {
        assert_eq!(
            quantile(0.95, &BUCKET_BOUNDS, &[0, 0, 0, 0, 0, 0, 10]),
            Some(5.0)
        );
        assert_eq!(quantile(0.95, &BUCKET_BOUNDS, &[0; 7]), None);
    }
}
