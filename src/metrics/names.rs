//! The one place that names every metric launchguard exports. The rules, dashboards, docs and
//! tests are checked against this list; nothing else spells a metric name.

/// How a metric is typed in the exposition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    /// Exposed with the `_total` suffix; `name` here is the base name without it.
    Counter,
}

/// A metric family: its name, help text, type and label names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
}

impl MetricDef {
    /// The sample name as it appears in /metrics (counters gain `_total`).
    pub fn exposed_name(&self) -> String {
        match self.kind {
            Kind::Gauge => self.name.to_string(),
            Kind::Counter => format!("{}_total", self.name),
        }
    }
}

macro_rules! metrics {
    ($group:ident: $( $id:ident = $kind:ident $name:literal [$($label:literal),*] $help:literal; )*) => {
        $( pub const $id: MetricDef = MetricDef {
            name: $name, help: $help, kind: Kind::$kind, labels: &[$($label),*],
        }; )*
        /// Every metric of this group, in exposition order.
        pub const $group: &[MetricDef] = &[$($id),*];
    };
}

// --- self: the exporter and its sources -------------------------------------------------------
metrics! { SELF:
    BUILD_INFO = Gauge "launchguard_build_info" ["version", "revision"]
        "Build of the running launchguard; always 1";
    CONFIG_RELOAD_OK = Gauge "launchguard_config_last_reload_successful" []
        "1 when the last config (re)load succeeded; 0 keeps the previous config running";
    CONFIG_RELOAD_TS = Gauge "launchguard_config_last_reload_success_timestamp_seconds" []
        "Unix time of the last successful config load";
    SOURCE_UP = Gauge "launchguard_source_up" ["source"]
        "1 when the source's last collection succeeded; values are refreshed on the source's interval, not on scrape";
    SOURCE_LAST_SUCCESS = Gauge "launchguard_source_last_success_timestamp_seconds" ["source"]
        "Unix time of the source's last successful collection; time() minus this is the age of its data";
    SOURCE_DURATION = Gauge "launchguard_source_collect_duration_seconds" ["source"]
        "Duration of the source's last collection attempt";
    SOURCE_ERRORS = Counter "launchguard_source_errors" ["source", "reason"]
        "Failed collections of a source by reason, since the exporter started";
    FIGURE_AVAILABLE = Gauge "launchguard_figure_available" ["figure"]
        "1 when the figure could be read whole; 0 when its view, table, column, extension or grant is missing, row-level security would hide rows, or its query failed";
    LABELS_FOLDED = Gauge "launchguard_labels_folded" ["label"]
        "Distinct values of a data-fed label past its cap (max_<label>_labels), summed into label=\"other\": client, provider, model and reported_model (max_model_labels), bucket, cron_job";
}

// --- core: tiers, cost, budgets, resource figures ---------------------------------------------
metrics! { CORE:
    TIER_INFO = Gauge "launchguard_tier_info" ["tier"]
        "The tier the platform runs at, from the config; always 1";
    TIER_LIMIT = Gauge "launchguard_tier_limit" ["resource"]
        "Limit of a resource at the current tier";
    TIER_USAGE = Gauge "launchguard_tier_usage" ["resource"]
        "Usage of a resource counted the way its tier limit is (today, now, or the last full minute)";
    TIER_USAGE_RATIO = Gauge "launchguard_tier_usage_ratio" ["resource"]
        "Usage of a resource over its tier limit";
    TIER_HEADROOM_RATIO = Gauge "launchguard_tier_headroom_ratio" ["resource"]
        "Share of the tier limit still free (1 - usage/limit); negative when over the limit";
    COST_USD = Gauge "launchguard_cost_usd" ["provider", "period"]
        "Spend from the ledger, priced from the price table unless a row carries its own cost, for the local day or month to date";
    MODEL_COST_USD = Gauge "launchguard_model_cost_usd" ["provider", "model", "period"]
        "Spend from the ledger per model, for the local day or month to date";
    CLIENT_COST_USD = Gauge "launchguard_client_cost_usd" ["client", "period"]
        "Spend from the ledger per client (bounded; the rest summed into client=\"other\")";
    BUDGET_USD = Gauge "launchguard_budget_usd" ["scope"]
        "Budget of a scope in USD (client_daily is per client)";
    BUDGET_SPENT_USD = Gauge "launchguard_budget_spent_usd" ["scope"]
        "Spend counted against a scope's budget (client_daily: the largest client's spend today)";
    BUDGET_USED_RATIO = Gauge "launchguard_budget_used_ratio" ["scope"]
        "Spend over budget for a scope (client_daily: the largest client's)";
    BUDGET_ALERT_RATIO = Gauge "launchguard_budget_alert_ratio" []
        "Budget share at which a scope's state becomes alert";
    BUDGET_STATE = Gauge "launchguard_budget_state" ["scope", "state"]
        "1 for the scope's current state (ok, alert at the alert ratio, exceeded at 100%), else 0";
    CLIENT_BUDGET_USED_RATIO = Gauge "launchguard_client_budget_used_ratio" ["client"]
        "A client's spend today over the per-client daily budget (client=\"other\": the largest of the unlabelled)";
    CLIENT_INFO = Gauge "launchguard_client_info" ["client", "name"]
        "The name of each client label (launchguard.clients.name, at most 64 characters; the label itself when unnamed) for joins on client; always 1";
    AI_TOKENS = Gauge "launchguard_ai_tokens" ["provider", "model", "type", "period"]
        "Tokens in the ledger by class (input is uncached input; cache classes are disjoint), for the local day or month to date";
    AI_REQUESTS = Gauge "launchguard_ai_requests" ["provider", "model", "period"]
        "Provider requests in the ledger, for the local day or month to date";
    AI_CHARACTERS = Gauge "launchguard_ai_characters" ["provider", "model", "period"]
        "Characters in the ledger (text to speech), for the local day or month to date";
    QUEUE_DEPTH = Gauge "launchguard_queue_depth" []
        "Jobs of every kind waiting to start (jobs table: status queued; BullMQ: waiting, prioritized and due delayed jobs; jobs_from picks)";
    JOBS_RUNNING = Gauge "launchguard_jobs_running" []
        "Jobs running now";
    VISUAL_JOBS_QUEUED = Gauge "launchguard_visual_jobs_queued" []
        "Visual jobs waiting to start";
    VISUAL_JOBS_FAILED_LAST_HOUR = Gauge "launchguard_visual_jobs_failed_last_hour" []
        "Visual jobs that failed in the last hour";
    VISUAL_JOB_PROCESSING_SECONDS = Gauge "launchguard_visual_job_processing_seconds" []
        "Mean processing time of visual jobs finished in the last hour";
    VISUAL_JOB_RISK = Gauge "launchguard_visual_job_risk_ratio" []
        "Visual job risk: 0.4 queue + 0.3 failure + 0.3 time parts, each capped";
    VISUAL_JOB_RISK_COMPONENT = Gauge "launchguard_visual_job_risk_component_ratio" ["component"]
        "Weighted part of the visual job risk (queue, failure, time)";
    STORAGE_BYTES = Gauge "launchguard_storage_bytes" ["store"]
        "Storage used: the database (pg_database_size) and storage bucket objects";
    STORAGE_BUCKET_BYTES = Gauge "launchguard_storage_bucket_bytes" ["bucket"]
        "Size of the objects of one storage bucket (metadata size)";
    BANDWIDTH_BYTES = Gauge "launchguard_bandwidth_bytes" ["period"]
        "Bytes served by the platform, from its traffic table, for the local day";
    // `cron_job`, not `job`: Prometheus renames a scraped `job` label to `exported_job`, since
    // `job` is the scrape target's own label.
    CRON_LOAD_RATIO = Gauge "launchguard_cron_load_ratio" ["cron_job"]
        "Mean run time of a pg_cron job over the last day divided by its schedule interval";
    CRON_SCHEDULE_INTERVAL = Gauge "launchguard_cron_schedule_interval_seconds" ["cron_job"]
        "Shortest interval between runs of a pg_cron job's schedule";
    CRON_EXPECTED_INTERVAL = Gauge "launchguard_cron_expected_interval_seconds" ["cron_job"]
        "Cadence the current tier expects of the platform sync job";
    CRON_FAILURES = Gauge "launchguard_cron_job_failures_last_day" ["cron_job"]
        "Failed runs of a pg_cron job in the last 24 hours";
    CRON_LAST_SUCCESS = Gauge "launchguard_cron_job_last_success_timestamp_seconds" ["cron_job"]
        "Unix time a pg_cron job last ended successfully";
    API_RESPONSE = Gauge "launchguard_api_response_seconds" ["statistic"]
        "API response time over the last 5 full minutes from the platform's traffic table (statistic p95; a gauge, so not labelled quantile)";
    API_ERROR_RATIO = Gauge "launchguard_api_error_ratio" []
        "Failed over all API responses in the last 5 full minutes";
    API_REQUESTS_5M = Gauge "launchguard_api_requests_last_5m" []
        "API responses in the last 5 full minutes: the error ratio's denominator (the ErrorRate alert's minimum traffic)";
    DB_CONNECTIONS = Gauge "launchguard_db_connections" []
        "Client connections open on the database";
    DB_MAX_CONNECTIONS = Gauge "launchguard_db_max_connections" []
        "max_connections of the database";
    FIGURE_LEVEL = Gauge "launchguard_figure_level" ["figure"]
        "Level of a Resource Monitor figure: 0 normal, 1 warning, 2 critical";
    FIGURE_VALUE = Gauge "launchguard_figure_value" ["figure"]
        "Value of a Resource Monitor figure in its threshold's unit (ratio, bytes, seconds, jobs)";
    THRESHOLD = Gauge "launchguard_threshold" ["figure", "level"]
        "Configured warning and critical threshold of a figure";
}

// --- kit: what the rules and dashboards need that no other group exports ----------------------
metrics! { KIT:
    BUDGET_PERIOD_END = Gauge "launchguard_budget_period_end_timestamp_seconds" ["scope"]
        "Unix time the scope's budget period ends and its spend resets: the next local midnight (daily, client_daily) or the first of next month (monthly)";
}

// --- providers: what the providers themselves report, and the ledger's drift from it -----------
metrics! { PROVIDERS:
    PROVIDER_TOKENS = Gauge "launchguard_provider_tokens" ["provider", "model", "type", "period"]
        "Tokens the provider itself reports, by class (disjoint: input is uncached input), per UTC period: day and yesterday are UTC days, month the UTC month to date; refreshed on the provider's poll interval";
    PROVIDER_COST_USD = Gauge "launchguard_provider_cost_usd" ["provider", "model", "period"]
        "Cost the provider itself reports, per UTC period (day, yesterday, week Monday to Sunday, month to date); OpenAI's model label holds its cost line item, OpenRouter's is all (the key's spend)";
    LEDGER_DRIFT_RATIO = Gauge "launchguard_ledger_drift_ratio" ["provider", "period"]
        "(provider-reported - ledger) / provider-reported over the same UTC period (ElevenLabs: characters over its billing period); positive is spend the ledger never logged, negative is usually the provider's report lag";
    LEDGER_DRIFT_USD = Gauge "launchguard_ledger_drift_usd" ["provider", "period"]
        "Provider-reported cost minus ledger cost over the same UTC period; positive is spend the ledger never logged";
    LEDGER_COMPARED_COST_USD = Gauge "launchguard_ledger_compared_cost_usd" ["provider", "period"]
        "Ledger cost over exactly the UTC period the provider's figure covers: the ledger side of the drift";
    LEDGER_COMPARED_CHARACTERS = Gauge "launchguard_ledger_compared_characters" ["provider", "period"]
        "Ledger characters over exactly the period the provider's figure covers (ElevenLabs billing period): the ledger side of the drift";
    OPENROUTER_KEY_LIMIT_USD = Gauge "launchguard_openrouter_key_limit_usd" []
        "Spending limit of the OpenRouter key; absent when the key has no limit";
    OPENROUTER_KEY_LIMIT_REMAINING_USD = Gauge "launchguard_openrouter_key_limit_remaining_usd" []
        "What is left of the OpenRouter key's spending limit; absent when the key has no limit";
    OPENROUTER_CREDITS_PURCHASED_USD = Gauge "launchguard_openrouter_credits_purchased_usd" []
        "Credits ever bought on the OpenRouter account (needs the management key)";
    OPENROUTER_CREDITS_REMAINING_USD = Gauge "launchguard_openrouter_credits_remaining_usd" []
        "Credits left on the OpenRouter account: purchased minus used (needs the management key)";
    ELEVENLABS_CHARACTERS_USED = Gauge "launchguard_elevenlabs_characters_used" []
        "Characters (credits on current plans; units, not dollars) used in the current ElevenLabs billing period";
    ELEVENLABS_CHARACTERS_LIMIT = Gauge "launchguard_elevenlabs_characters_limit" []
        "Characters (credits on current plans) the ElevenLabs subscription allows per billing period";
    ELEVENLABS_CHARACTERS_RESET = Gauge "launchguard_elevenlabs_characters_reset_timestamp_seconds" []
        "Unix time at which the ElevenLabs character count resets to zero";
}

// --- guard: the admission API (encoded at scrape time, see guard/exposition.rs) ------------------
metrics! { GUARD:
    GUARD_DECISIONS = Counter "launchguard_guard_decisions" ["decision", "reason"]
        "Admission decisions by decision and reason since the exporter started";
    GUARD_RESERVATIONS = Gauge "launchguard_guard_reservations_outstanding" ["kind"]
        "Admissions reserved and not yet settled or expired";
    GUARD_RESERVED_USD = Gauge "launchguard_guard_reserved_usd" ["scope"]
        "Estimated cost of unsettled admissions counted against each budget scope (client_daily: the largest client's)";
    GUARD_KILL_SWITCH = Gauge "launchguard_guard_kill_switch" ["scope", "target"]
        "1 while a founder's kill switch is on (scope global, provider or client); target=\"other\" counts the switches past max_provider_labels / max_client_labels";
    GUARD_THROTTLED = Gauge "launchguard_guard_throttled" ["scope"]
        "1 when the guard throttled or denied an admission in this scope during the last minute";
    GUARD_BUDGET_OVERRIDE = Gauge "launchguard_guard_budget_override_usd" ["scope", "client"]
        "A founder's temporary budget in force (client set only for one client's daily budget; client=\"other\": the largest past max_client_labels)";
    GUARD_ADMIN_CHANGES = Counter "launchguard_guard_admin_changes" ["action"]
        "Changes made through the admin API since the exporter started";
    GUARD_STORE_UP = Gauge "launchguard_guard_store_up" ["store"]
        "1 when the reservation store (memory or redis) answered its last call";
    GUARD_SNAPSHOT_AGE = Gauge "launchguard_guard_snapshot_age_seconds" []
        "Age of the collection the guard decides from";
    GUARD_LABELS_FOLDED = Gauge "launchguard_guard_labels_folded" ["label"]
        "Distinct kill switch targets (label target; max_provider_labels, max_client_labels) and budget override clients (label client; max_client_labels) past their cap, folded into \"other\"";
}

// --- server: the HTTP server's connection and login limits (encoded at scrape time) ------------
metrics! { SERVER:
    HTTP_CONNECTIONS_OPEN = Gauge "launchguard_http_connections_open" []
        "Connections open now, TLS handshakes included";
    HTTP_CONNECTIONS_LIMIT = Gauge "launchguard_http_connections_limit" []
        "Cap on open connections in force: server.max_connections, lowered at start to fit the process's file-descriptor limit";
    HTTP_CONNECTION_LIMIT_REACHED = Counter "launchguard_http_connection_limit_reached" []
        "New connections that found the cap reached: an idle connection whose client was silent was closed for each, or it waited in the listen backlog";
    HTTP_CONNECTIONS_CUT = Counter "launchguard_http_connections_cut" ["reason"]
        "Connections the server closed: header_timeout (no request head in time, TLS handshake included), idle_timeout, evicted (idle and its client silent, to make room at the cap), body_timeout (request answered 408; HTTP/1 connection closed)";
    HTTP_AUTH_REFUSED = Counter "launchguard_http_auth_refused" ["reason"]
        "Basic-auth requests refused: missing (no credentials, 401), wrong (401 after a password check), rate_limited (429, too many failures from the peer), busy (503, every bcrypt worker and queue place taken)";
}

// --- vercel drain: the receiver (encoded at scrape time, see ingest/vercel/receiver.rs) ----------
metrics! { VERCEL_DRAIN:
    VERCEL_DRAIN_DELIVERIES = Counter "launchguard_vercel_drain_deliveries" ["result"]
        "Vercel drain deliveries answered by this replica since it started, by result (ok, verification, missing_signature, invalid_signature, too_large, unsupported_encoding, bad_body, busy, unavailable, disabled)";
    VERCEL_DRAIN_ENTRIES = Counter "launchguard_vercel_drain_entries" ["outcome"]
        "Log entries in verified deliveries to this replica, by outcome (used, ignored, late, future, invalid)";
    VERCEL_DRAIN_REQUESTS = Counter "launchguard_vercel_drain_requests" ["result"]
        "Requests in stored deliveries to this replica: counted now, or duplicate (already counted by a retry, another entry of the request, or another replica)";
    VERCEL_DRAIN_LAST_STORED = Gauge "launchguard_vercel_drain_last_stored_timestamp_seconds" []
        "Unix time this replica last answered a delivery 2xx after storing it";
}

// --- strain: load-test results and tier upgrade readiness ---------------------------------------
metrics! { BULLMQ:
    BULLMQ_QUEUE_JOBS = Gauge "launchguard_bullmq_queue_jobs" ["queue", "state"]
        "Jobs in a BullMQ queue by state (waiting incl. BullMQ 5's paused list, prioritized, delayed, delayed_due, active, waiting_children), read from its Redis keys (queues past bullmq.max_queue_labels summed into queue=\"other\")";
    BULLMQ_QUEUE_DEPTH = Gauge "launchguard_bullmq_queue_depth" ["queue"]
        "Jobs of a BullMQ queue waiting to start: waiting + prioritized + delayed jobs already due";
    BULLMQ_QUEUE_PAUSED = Gauge "launchguard_bullmq_queue_paused" ["queue"]
        "1 when the BullMQ queue is paused (its meta hash has `paused`)";
    BULLMQ_QUEUE_FINISHED_LAST_HOUR = Gauge "launchguard_bullmq_queue_finished_last_hour" ["queue", "result"]
        "Jobs of a BullMQ queue that finished in the last hour by result (completed, failed: final failures only), counted by finishedOn score";
    BULLMQ_QUEUE_PROCESSING_SECONDS = Gauge "launchguard_bullmq_queue_processing_seconds" ["queue"]
        "Mean processing time (finishedOn - processedOn) of the newest finished jobs of the last hour read (at most bullmq.finished_per_cycle completed and as many failed)";
}

metrics! { SUPABASE_METRICS:
    SUPABASE_PLAN_USAGE_RATIO = Gauge "launchguard_supabase_plan_usage_ratio" ["part"]
        "Share of the Supabase plan in use, from Supabase's metrics endpoint: database_size (sum of pg_database_size_bytes over the plan's database size), disk (used disk over the disk the plan includes), disk_volume (used over the disk's size)";
    SUPABASE_PLAN_USED_RATIO = Gauge "launchguard_supabase_plan_used_ratio" []
        "The largest part of launchguard_supabase_plan_usage_ratio: the Supabase plan usage figure";
    SUPABASE_PLAN_HEADROOM_RATIO = Gauge "launchguard_supabase_plan_headroom_ratio" []
        "1 - the largest part of launchguard_supabase_plan_usage_ratio: the plan's room left (negative past a limit)";
    SUPABASE_PLAN_LIMIT_BYTES = Gauge "launchguard_supabase_plan_limit_bytes" ["part"]
        "The configured plan's limits (supabase_metrics.plans): database_size, disk";
    SUPABASE_DATABASE_SIZE_BYTES = Gauge "launchguard_supabase_database_size_bytes" []
        "Sum of pg_database_size_bytes over every database, as Supabase's quota counts it";
    SUPABASE_DISK_BYTES = Gauge "launchguard_supabase_disk_bytes" ["state"]
        "The database's disk (node_filesystem_* on supabase_metrics.disk_mountpoint): used, size";
    SUPABASE_MEMORY_USED_RATIO = Gauge "launchguard_supabase_memory_used_ratio" []
        "The database machine's memory in use: 1 - MemAvailable / MemTotal";
    SUPABASE_CPU_BUSY_RATIO = Gauge "launchguard_supabase_cpu_busy_ratio" []
        "Busy share of the database machine's CPUs between the last two reads of node_cpu_seconds_total";
    SUPABASE_CONNECTIONS = Gauge "launchguard_supabase_connections" ["state"]
        "Database connections from Supabase's metrics: used (pg_stat_database_num_backends), max (max_connections_connection_count)";
}

metrics! { STRAIN:
    STRAIN_PASS_RATIO = Gauge "launchguard_strain_pass_ratio" ["suite"]
        "Scenarios passed over scenarios run in the newest strain report of a suite that counts (rehearsals are skipped)";
    STRAIN_SCENARIO_PASSED = Gauge "launchguard_strain_scenario_passed" ["suite", "scenario"]
        "1 when the scenario passed every threshold in the newest strain report of its suite that counts (rehearsals are skipped)";
    STRAIN_LAST_RUN_TS = Gauge "launchguard_strain_last_run_timestamp_seconds" ["suite"]
        "Unix time the newest strain report of a suite that counts finished (suite capacity: the newest capacity search)";
    STRAIN_REHEARSAL = Gauge "launchguard_strain_rehearsal" ["suite"]
        "1 when the newest strain report of a suite is a rehearsal (shorter or lighter than the suite's definition, or judged by looser thresholds): it never counts for readiness";
    STRAIN_CAPACITY_RPS = Gauge "launchguard_strain_capacity_requests_per_second" ["scenario"]
        "Highest arrival rate at which a whole step passed in the newest capacity search (launchguard strain --find-capacity); its time is launchguard_strain_last_run_timestamp_seconds{suite=\"capacity\"}";
    STRAIN_CAPACITY_BOUNDED = Gauge "launchguard_strain_capacity_bounded" ["scenario"]
        "1 when the newest capacity search stopped at a safety limit or an interruption before a step failed: the capacity is at least the exported value";
    TIER_UPGRADE_READY = Gauge "launchguard_tier_upgrade_ready" ["target"]
        "1 when the newest run of the target tier's suite that counts (not a rehearsal) is complete, reached the required pass ratio (default 0.8) within ready_max_age (default 7 days), and every checklist item is done";
    UPGRADE_CHECKLIST_DONE = Gauge "launchguard_upgrade_checklist_done" ["target", "item"]
        "1 when an infrastructure checklist item for the target tier is done (connection_pooler, redis and strain_all_pass_70 are observed, the rest marked in the config)";
    MILESTONE_READY = Gauge "launchguard_milestone_ready" ["target"]
        "1 when every component of the seed's next milestone for the target tier is met (clients stabilised, trial completion, strain, checklist, founder's approval; docs/upgrading-a-tier.md)";
    MILESTONE_COMPONENT_MET = Gauge "launchguard_milestone_component_met" ["target", "component"]
        "1 when a milestone component is met, 0 when not; absent while a figure it needs is unavailable";
    MILESTONE_UNSTABLE_CLIENTS = Gauge "launchguard_milestone_unstable_clients" ["target", "reason"]
        "Distinct clients that reached their daily budget (over_budget) or caused a critical AI token level (critical_tokens) on one of the last milestone.stable_days local days; absent while the window's ledger is unavailable";
    MILESTONE_TRIALS = Gauge "launchguard_milestone_trials" ["target", "outcome"]
        "Trials of launchguard.clients by outcome now (converted, expired, running); absent while the trial columns are unavailable";
    MILESTONE_TRIAL_COMPLETION_RATIO = Gauge "launchguard_milestone_trial_completion_ratio" ["target"]
        "Trials that ended in conversion over trials that ended; absent until a trial has ended or while the trials are unavailable";
    MILESTONE_APPROVED_TS = Gauge "launchguard_milestone_approved_timestamp_seconds" ["target"]
        "Unix time the founder approved the move to the target tier through the admin API; absent while not approved";
}

/// Every metric group. Areas add their own group here.
pub const GROUPS: &[&[MetricDef]] = &[
    SELF,
    CORE,
    STRAIN,
    KIT,
    PROVIDERS,
    GUARD,
    SERVER,
    VERCEL_DRAIN,
    BULLMQ,
    SUPABASE_METRICS,
];

/// Every metric launchguard can export.
pub fn all() -> impl Iterator<Item = &'static MetricDef> {
    GROUPS.iter().flat_map(|g| g.iter())
}

/// The metric reference table of docs/metrics.md, generated so the doc cannot drift.
pub fn markdown_table() -> String {
    let mut s = String::from("| metric | type | labels | meaning |\n| --- | --- | --- | --- |\n");
    for m in all() {
        let kind = match m.kind {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        };
        let labels = m
            .labels
            .iter()
            .map(|l| format!("`{l}`"))
            .collect::<Vec<_>>()
            .join(", ");
        s.push_str(&format!(
            "| `{}` | {kind} | {labels} | {} |\n",
            m.exposed_name(),
            m.help.replace('|', "\\|")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_follow_prometheus_conventions() {
        let mut seen = HashSet::new();
        for m in all() {
            assert!(seen.insert(m.name), "{} defined twice", m.name);
            assert!(m.name.starts_with("launchguard_"), "{}", m.name);
            assert!(
                !m.name.ends_with("_total"),
                "{}: counters take the base name",
                m.name
            );
            assert!(
                !m.help.ends_with('.'),
                "{}: the encoder adds the full stop",
                m.name
            );
            assert!(!m.name.ends_with("_ratios"), "{}", m.name);
            for l in m.labels {
                assert!(
                    !["job", "instance"].contains(l),
                    "{}: `{l}` is a scrape target label; Prometheus would rename it exported_{l}",
                    m.name
                );
            }
            assert!(
                m.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            );
        }
    }
}
