//! Performance Guard: usage of each tier resource against the current tier's limit.

use crate::config::TierLimits;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    Clients,
    AiTokensPerDay,
    VisualJobsPerDay,
    ConcurrentJobs,
    ApiRequestsPerMinute,
}

impl Resource {
    pub const ALL: [Resource; 5] = [
        Resource::Clients,
        Resource::AiTokensPerDay,
        Resource::VisualJobsPerDay,
        Resource::ConcurrentJobs,
        Resource::ApiRequestsPerMinute,
    ];

    /// The `resource` label value.
    pub fn label(self) -> &'static str {
        match self {
            Resource::Clients => "clients",
            Resource::AiTokensPerDay => "ai_tokens_per_day",
            Resource::VisualJobsPerDay => "visual_jobs_per_day",
            Resource::ConcurrentJobs => "concurrent_jobs",
            Resource::ApiRequestsPerMinute => "api_requests_per_minute",
        }
    }

    pub fn limit(self, l: &TierLimits) -> u64 {
        match self {
            Resource::Clients => l.clients,
            Resource::AiTokensPerDay => l.ai_tokens_per_day,
            Resource::VisualJobsPerDay => l.visual_jobs_per_day,
            Resource::ConcurrentJobs => l.concurrent_jobs,
            Resource::ApiRequestsPerMinute => l.api_requests_per_minute,
        }
    }
}

/// Usage of one resource against its limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TierUsage {
    pub resource: Resource,
    pub limit: u64,
    pub usage: Option<u64>,
}

impl TierUsage {
    /// usage / limit (limits are validated to be positive).
    pub fn ratio(&self) -> Option<f64> {
        self.usage.map(|u| u as f64 / self.limit.max(1) as f64)
    }

    /// 1 - usage/limit: the share of the limit still free; negative when over it.
    pub fn headroom(&self) -> Option<f64> {
        self.ratio().map(|r| 1.0 - r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_and_headroom() {
        let u = TierUsage {
            resource: Resource::Clients,
            limit: 5,
            usage: Some(4),
        };
        assert_eq!(u.ratio(), Some(0.8));
        assert!((u.headroom().unwrap() - 0.2).abs() < 1e-12);
        let over = TierUsage {
            resource: Resource::Clients,
            limit: 5,
            usage: Some(6),
        };
        assert!(over.headroom().unwrap() < 0.0);
    }
}
