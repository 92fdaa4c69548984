//! HTTP endpoints. Every handler reads published state; none waits on a source.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::guard::Guard;
use crate::ingest::vercel::Receiver;
use crate::metrics::encode::CONTENT_TYPE;
use crate::state::Shared;
use crate::web::Stats;

#[derive(Clone)]
struct App {
    shared: Arc<Shared>,
    guard: Option<Arc<Guard>>,
    server: Option<Arc<Stats>>,
    drain: Option<Arc<Receiver>>,
}

/// /metrics, /healthz and /readyz.
pub fn router(shared: Arc<Shared>) -> Router {
    router_with(shared, None, None)
}

/// The same with the guard's API and its metrics, when the guard is enabled, and the HTTP
/// server's own metrics.
pub fn router_with(
    shared: Arc<Shared>,
    guard: Option<Arc<Guard>>,
    server: Option<Arc<Stats>>,
) -> Router {
    router_full(shared, guard, server, None)
}

/// The same with the Vercel drain receiver's route and its metrics.
pub fn router_full(
    shared: Arc<Shared>,
    guard: Option<Arc<Guard>>,
    server: Option<Arc<Stats>>,
    drain: Option<Arc<Receiver>>,
) -> Router {
    let base = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(App {
            shared: shared.clone(),
            guard: guard.clone(),
            server,
            drain: drain.clone(),
        })
        .merge(crate::status::routes().with_state(shared));
    let base = match drain {
        Some(d) => base.merge(d.router()),
        None => base,
    };
    match guard {
        Some(g) => base
            .merge(crate::guard::api::router(g.clone()))
            .merge(crate::guard::admin::router(g)),
        None => base,
    }
}

async fn metrics(State(s): State<App>) -> impl IntoResponse {
    let body = s.shared.published.read().expect("lock").metrics.clone();
    // The server's and the guard's counters change per request: encode them now, after the
    // published bytes.
    let body = match &s.server {
        Some(st) => bytes::Bytes::from(st.exposition().append_to(&body)),
        None => body,
    };
    let body = match &s.guard {
        Some(g) => bytes::Bytes::from(g.append_to(&body)),
        None => body,
    };
    let body = match &s.drain {
        Some(d) => bytes::Bytes::from(d.append_to(&body)),
        None => body,
    };
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(s): State<App>) -> impl IntoResponse {
    if s.shared.ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "waiting for the first collection of every source\n",
        )
    }
}
