//! HTTP endpoints. Every handler reads published state; none waits on a source.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::guard::Guard;
use crate::ingest::vercel::Receiver;
use crate::metrics::encode::CONTENT_TYPE;
use crate::metrics::served::{Appended, Served, accepts_gzip};
use crate::state::Shared;
use crate::web::Stats;

#[derive(Clone)]
struct App {
    shared: Arc<Shared>,
    served: Arc<Served>,
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
    // Appended after the published bytes in this order: the server's, the guard's, the drain's.
    let served = Served::new(
        shared.clone(),
        [
            server.map(|s| s as Arc<dyn Appended>),
            guard.clone().map(|g| g as Arc<dyn Appended>),
            drain.clone().map(|d| d as Arc<dyn Appended>),
        ],
    );
    let base = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(App {
            shared: shared.clone(),
            served: Arc::new(served),
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

/// The cached body (metrics/served.rs): no encoding and no copy per scrape; gzip when the
/// scraper accepts it, compressed once per change.
async fn metrics(State(s): State<App>, headers: HeaderMap) -> Response {
    let out = s.served.scrape(accepts_gzip(&headers));
    let mut r = (
        [
            (header::CONTENT_TYPE, CONTENT_TYPE),
            (header::VARY, "accept-encoding"),
        ],
        out.body,
    )
        .into_response();
    if out.gzip {
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    r
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
