//! `launchguard check`: validate the config and, with --connect, read every figure once.

use chrono::Utc;

use crate::config::Config;
use crate::sources::supabase::Supabase;

/// What `check` says about the admin API, so an unset or empty token is seen before `serve`
/// (where the admin API is then disabled, never open).
pub fn admin_api(cfg: &Config) -> String {
    if !cfg.guard.enabled {
        return "admin API: off (guard.enabled is false)".into();
    }
    match crate::guard::admin::token_of(cfg) {
        Ok(_) => "admin API: enabled (guard.admin_token is set)".into(),
        Err(why) => format!("admin API: disabled: {why}"),
    }
}

/// What `check` says about admit and settle: who may call them, so an unset caller token is
/// seen before `serve`, where they are then disabled, never open.
pub fn guard_callers(cfg: &Config) -> String {
    use crate::guard::Callers;
    if !cfg.guard.enabled {
        return "admit and settle: off (guard.enabled is false)".into();
    }
    match Callers::of(cfg, None) {
        Callers::Token(_) => "admit and settle: enabled (guard.caller_token is set)".into(),
        // Never without a listen address; said the same way should that change.
        Callers::Loopback => "admit and settle: unauthenticated, loopback only".into(),
        Callers::Disabled(why) => format!("admit and settle: disabled: {why}"),
    }
}

/// Prints one line per figure; returns false when a source could not be reached at all.
pub async fn connect(cfg: &Config) -> bool {
    let db = Supabase::new();
    crate::outln!("{:<18} {:<10} detail", "figure", "status");
    let mut ok = true;
    match db.collect_once(cfg, Utc::now()).await {
        Err(e) => {
            crate::outln!("{:<18} {:<10} {}", "supabase", "down", e);
            ok = false;
        }
        Ok(figs) => {
            for (figure, reason) in figs.availability() {
                match reason {
                    None => {
                        let detail = summary(&figs, figure);
                        crate::outln!("{figure:<18} {:<10} {detail}", "ok");
                    }
                    Some(r) => crate::outln!("{figure:<18} {:<10} {r}", "missing"),
                }
            }
            adapter_views(&db, cfg).await;
        }
    }
    if !providers_connect(cfg).await {
        ok = false;
    }
    if !vercel_drain_connect(cfg).await {
        ok = false;
    }
    if !bullmq_connect(cfg).await {
        ok = false;
    }
    if !supabase_metrics_connect(cfg).await {
        ok = false;
    }
    ok
}

/// Supabase's metrics endpoint (docs/sources.md): off, down with the reason (401, timeout, ...),
/// or ok with what it gave and each figure it lacked.
pub async fn supabase_metrics_connect(cfg: &Config) -> bool {
    use crate::sources::supabase_metrics;
    println!();
    println!("{:<18} {:<10} detail", "supabase metrics", "status");
    let s = &cfg.supabase_metrics;
    if !s.enabled {
        println!(
            "{:<18} {:<10} supabase_metrics.enabled is false",
            "supabase_metrics", "off"
        );
        return true;
    }
    match supabase_metrics::fetch(s).await {
        Err(e) => {
            println!("{:<18} {:<10} {e}", "supabase_metrics", "down");
            false
        }
        Ok(body) => {
            let f = supabase_metrics::parse(&body, &s.disk_mountpoint, Utc::now(), None);
            for (figure, reason) in f.availability() {
                match reason {
                    None => println!("{figure:<18} {:<10}", "ok"),
                    Some(r) => println!("{figure:<18} {:<10} {r}", "missing"),
                }
            }
            true
        }
    }
}

/// BullMQ's queues (docs/sources.md): off when `jobs_from` does not read them, else one line per
/// queue with its counts, or down with the reason (no URL, unreachable, refused).
pub async fn bullmq_connect(cfg: &Config) -> bool {
    use crate::sources::bullmq;
    println!();
    println!("{:<18} {:<10} detail", "bullmq queue", "status");
    if !cfg.jobs_from.reads_bullmq() {
        println!(
            "{:<18} {:<10} jobs_from is {}",
            "bullmq",
            "off",
            cfg.jobs_from.as_str()
        );
        return true;
    }
    let read = async {
        let mut conn = bullmq::connect(cfg).await?;
        bullmq::read(&mut conn, cfg, Utc::now()).await
    };
    match tokio::time::timeout(cfg.bullmq.timeout.0, read).await {
        Err(_) => {
            println!(
                "{:<18} {:<10} timed out after {}",
                "bullmq", "down", cfg.bullmq.timeout
            );
            false
        }
        Ok(Err(e)) => {
            println!("{:<18} {:<10} {e}", "bullmq", "down");
            false
        }
        Ok(Ok(f)) => {
            for q in &f.queues {
                println!(
                    "{:<18} {:<10} {} waiting, {} prioritized, {} delayed, {} active, {} failed in the last hour{}",
                    q.name,
                    "ok",
                    q.waiting,
                    q.prioritized,
                    q.delayed,
                    q.active,
                    q.failed_last_hour,
                    if q.paused { " (paused)" } else { "" }
                );
            }
            true
        }
    }
}

/// The Vercel drain receiver (docs/vercel.md): off, ok, warning, or down with the reason (no
/// secret, no database URL, the writer cannot write).
pub async fn vercel_drain_connect(cfg: &Config) -> bool {
    crate::outln!();
    crate::outln!("{:<18} {:<10} detail", "receiver", "status");
    let (status, detail) = crate::ingest::vercel::Receiver::check(cfg).await;
    crate::outln!("{:<18} {status:<10} {detail}", "vercel_drain");
    status != "down"
}

/// One line per adapter view (docs/supabase.md): what it reads and how fast, or each problem
/// found in its columns, grants, row-level security and query plans.
async fn adapter_views(db: &Supabase, cfg: &Config) {
    crate::outln!();
    crate::outln!("{:<29} {:<10} detail", "adapter view", "status");
    match db.inspect(cfg).await {
        Ok(findings) => {
            for f in findings {
                crate::outln!("{:<29} {:<10} {}", f.subject, f.status, f.detail);
            }
        }
        Err(e) => crate::outln!("{:<29} {:<10} {e}", "launchguard.*", "down"),
    }
}

/// One line per provider: reached, authenticated, figures read, or the error in plain words.
/// A provider without a key is `off`, which is not a failure.
pub async fn providers_connect(cfg: &Config) -> bool {
    crate::outln!();
    crate::outln!("{:<18} {:<10} detail", "provider", "status");
    let mut ok = true;
    for line in crate::sources::providers::check(cfg).await {
        crate::outln!("{:<18} {:<10} {}", line.provider, line.status, line.detail);
        ok &= line.status != "down";
    }
    ok
}

fn summary(f: &crate::figures::DbFigures, figure: &str) -> String {
    match figure {
        "active_clients" => format!("{} active", f.active_clients.as_ref().copied().unwrap_or(0)),
        "usage" => format!(
            "{} ledger groups today, {} this month",
            f.usage_today.as_ref().map_or(0, |v| v.len()),
            f.usage_month.as_ref().map_or(0, |v| v.len())
        ),
        "jobs" => f
            .jobs
            .as_ref()
            .map(|j| format!("{} queued, {} running", j.queued, j.running))
            .unwrap_or_default(),
        "traffic" => f
            .traffic
            .as_ref()
            .map(|t| format!("{} requests in the last 5 min", t.requests))
            .unwrap_or_default(),
        "bandwidth" => format!(
            "{} bytes today",
            f.bandwidth_today_bytes.as_ref().copied().unwrap_or(0)
        ),
        "storage_buckets" => format!(
            "{} buckets",
            f.storage_buckets.as_ref().map_or(0, |b| b.len())
        ),
        "database_size" => format!(
            "{} bytes",
            f.database_size_bytes.as_ref().copied().unwrap_or(0)
        ),
        "cron_jobs" => format!("{} jobs", f.cron_jobs.as_ref().map_or(0, |c| c.len())),
        "trials" => f
            .trials
            .as_ref()
            .map(|t| {
                format!(
                    "{} converted, {} expired, {} running",
                    t.converted, t.expired, t.running
                )
            })
            .unwrap_or_default(),
        "client_names" => format!(
            "{} named clients",
            f.client_names.as_ref().map_or(0, |c| c.len())
        ),
        "usage_days" => format!(
            "{} closed days read",
            f.usage_days.as_ref().map_or(0, |d| d.len())
        ),
        "vercel_cron" => match f.vercel_cron.as_ref().and_then(|c| c.as_ref().ok()) {
            Some(c) => format!(
                "{}: last success {}, {} failures in the last day",
                c.job,
                c.last_success
                    .map_or("none in 7 days".to_string(), |t| t.to_rfc3339()),
                c.failures_last_day
            ),
            None => String::new(),
        },
        "connections" => f
            .connections
            .as_ref()
            .map(|c| format!("{} of {}", c.used, c.max))
            .unwrap_or_default(),
        _ => String::new(),
    }
}
