//! Visual job risk (brief section 4).

/// The risk score and its three weighted parts, each already multiplied by its weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VisualRisk {
    pub total: f64,
    pub queue: f64,
    pub failure: f64,
    pub time: f64,
}

/// 0.4 min(pending/50,1) + 0.3 min(failed last hour/10,1) + 0.3 min(mean processing s/60,1).
/// No finished job in the last hour means no time risk.
pub fn visual_risk(
    pending: u64,
    failed_last_hour: u64,
    mean_processing_s: Option<f64>,
) -> VisualRisk {
    let queue = 0.4 * (pending as f64 / 50.0).min(1.0);
    let failure = 0.3 * (failed_last_hour as f64 / 10.0).min(1.0);
    let time = 0.3 * (mean_processing_s.unwrap_or(0.0).max(0.0) / 60.0).min(1.0);
    VisualRisk {
        total: queue + failure + time,
        queue,
        failure,
        time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn weights_and_caps() {
        let r = visual_risk(25, 5, Some(30.0));
        assert!(close(r.queue, 0.2) && close(r.failure, 0.15) && close(r.time, 0.15));
        assert!(close(r.total, 0.5));
        let max = visual_risk(500, 100, Some(600.0));
        assert!(close(max.total, 1.0));
        let none = visual_risk(0, 0, None);
        assert!(close(none.total, 0.0));
    }

    #[test]
    fn warning_and_critical_edges() {
        // 0.4 * 1 + 0.3 * (6/10) = 0.58: under the 60% warning; one more failure crosses it.
        assert!(visual_risk(50, 6, None).total < 0.6);
        assert!(visual_risk(50, 7, None).total >= 0.6);
    }
}
