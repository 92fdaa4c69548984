//! `launchguard serve`: wires the sources, the encoder, config reload and the HTTP server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::config::{self, Config};
use crate::sources::supabase::ledger_ranges::LedgerRequests;
use crate::sources::{self, providers, strain_reports::StrainReports, supabase::Supabase};
use crate::state::{ReloadStatus, Shared};

/// Re-encode at least this often, so period rollovers show even when nothing else changes.
const REPUBLISH_EVERY: Duration = Duration::from_secs(15);

/// Loads the config file again; a bad file keeps the running config.
pub fn reload(shared: &Shared, path: &Path) {
    match config::load_file(path) {
        Ok(cfg) => {
            let running = shared.config();
            if *running != cfg {
                tracing::info!(file = %path.display(), tier = cfg.tier.as_str(), "config reloaded");
            }
            if running.server != cfg.server {
                tracing::warn!("the `server` section changed: it applies at the next start");
            }
            shared.config.send_replace(Arc::new(cfg));
            *shared.reload.write().expect("lock") = ReloadStatus {
                ok: true,
                last_success: Utc::now(),
            };
        }
        Err(errs) => {
            for e in &errs {
                tracing::error!(error = %e, "config reload failed; keeping the running config");
            }
            shared.reload.write().expect("lock").ok = false;
        }
    }
    shared.dirty.notify_one();
}

async fn watch_config(shared: Arc<Shared>, path: PathBuf) {
    use notify::{RecursiveMode, Watcher};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let file_name = path.file_name().map(|n| n.to_os_string());
    let watched = path.clone();
    let mut watcher = match notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if let Ok(ev) = ev {
            let ours = ev
                .paths
                .iter()
                .any(|p| p.file_name().map(|n| n.to_os_string()) == file_name);
            if ours && !ev.kind.is_access() {
                let _ = tx.send(());
            }
        }
    }) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the config file; reload with SIGHUP");
            return;
        }
    };
    // Watch the folder: editors and Kubernetes replace the file rather than write into it.
    let dir = watched
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
        tracing::warn!(error = %e, "cannot watch the config folder; reload with SIGHUP");
        return;
    }
    while rx.recv().await.is_some() {
        // Let a burst of events (write, rename, chmod) settle into one reload.
        tokio::time::sleep(Duration::from_millis(200)).await;
        while rx.try_recv().is_ok() {}
        reload(&shared, &watched);
    }
}

async fn sighup(shared: Arc<Shared>, path: Option<PathBuf>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        match &path {
            Some(p) => reload(&shared, p),
            None => tracing::info!("SIGHUP: no config file to reload"),
        }
    }
}

async fn publisher(shared: Arc<Shared>) {
    loop {
        shared.publish(Utc::now());
        tokio::select! {
            _ = shared.dirty.notified() => {}
            _ = tokio::time::sleep(REPUBLISH_EVERY) => {}
        }
    }
}

/// Ctrl-C or SIGTERM (what a container runtime and systemd send).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}

/// Runs the exporter until the process is stopped.
pub async fn run(
    cfg: Config,
    config_path: Option<PathBuf>,
    listen: SocketAddr,
    web: Arc<crate::web::WebState>,
) -> anyhow::Result<()> {
    let shared = Shared::new(cfg.clone(), Utc::now());
    // Provider sources register the UTC ranges they cover; the database source reads the
    // ledger over the same ranges, for the drift.
    let ledger = Arc::new(LedgerRequests::default());
    let mut expected = vec!["supabase", "strain_reports"];
    shared.publish(Utc::now());

    tokio::spawn(sources::run(
        Supabase::new().with_ledger_requests(ledger.clone()),
        shared.clone(),
    ));
    tokio::spawn(sources::run(StrainReports, shared.clone()));
    if cfg.jobs_from.reads_bullmq() {
        tokio::spawn(sources::run(sources::bullmq::Bullmq, shared.clone()));
        expected.push("bullmq");
    }
    if cfg.supabase_metrics.enabled {
        tokio::spawn(sources::run(
            sources::supabase_metrics::SupabaseMetricsSource::default(),
            shared.clone(),
        ));
        expected.push("supabase_metrics");
    }
    expected.extend(providers::spawn_configured(&cfg, &shared, &ledger));
    *shared.expected_sources.write().expect("lock") = expected;
    tokio::spawn(publisher(shared.clone()));
    tokio::spawn(sighup(shared.clone(), config_path.clone()));
    if let Some(p) = config_path {
        tokio::spawn(watch_config(shared.clone(), p));
    }

    let guard = if shared.config().guard.enabled {
        let g = crate::guard::Guard::open(shared.clone(), Some(listen))
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        g.spawn();
        Some(g)
    } else {
        None
    };

    // The Vercel drain receiver: its route answers 404 while `vercel_drain.enabled` is false.
    let drain = crate::ingest::vercel::Receiver::new(shared.clone());
    drain.spawn_cleanup();

    let server = crate::web::HttpServer::new(&cfg.server, web.clone())
        .map_err(|e| anyhow::anyhow!("cannot start the password-check workers: {e}"))?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    tracing::info!(
        address = %listener.local_addr()?,
        setup = %web.current().describe(),
        guard = guard.is_some(),
        "serving /, /metrics, /healthz, /readyz and the guard API"
    );
    // The web setup wraps the whole router: every route, the guard's included, is behind it.
    let router = crate::http::router_full(shared, guard, Some(server.stats()), Some(drain));
    server.serve(listener, router, shutdown_signal()).await?;
    Ok(())
}
