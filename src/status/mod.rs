//! The founder status page at `/` and the docs it links to at `/docs/`.
//!
//! The page is rendered from what the publisher already made (the `Assessment`) and the
//! sources' health: a page view never touches the database or a provider.

pub mod html;
pub mod milestone;
pub mod readiness;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::state::Shared;

/// The docs shipped inside the binary, so the page's links work offline and match the version.
pub const DOCS: &[(&str, &str)] = &[
    (
        "configuration.md",
        include_str!("../../docs/configuration.md"),
    ),
    ("metrics.md", include_str!("../../docs/metrics.md")),
    ("operations.md", include_str!("../../docs/operations.md")),
    ("providers.md", include_str!("../../docs/providers.md")),
    ("runbooks.md", include_str!("../../docs/runbooks.md")),
    ("supabase.md", include_str!("../../docs/supabase.md")),
    (
        "upgrading-a-tier.md",
        include_str!("../../docs/upgrading-a-tier.md"),
    ),
    (
        "troubleshooting.md",
        include_str!("../../docs/troubleshooting.md"),
    ),
    ("vercel.md", include_str!("../../docs/vercel.md")),
];

/// The routes of this module, merged into `http::router`.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/", get(page))
        .route("/docs/", get(docs_index))
        .route("/docs/{name}", get(doc))
}

/// Reads the published assessment (locks held only while copying) and renders the page at
/// the moment it was assessed.
pub fn render_page(s: &Shared) -> String {
    let published = s.published();
    let expected = s.expected_sources.read().expect("lock").clone();
    let sources = {
        let c = s.collected.read().expect("lock");
        let mut names: Vec<&str> = expected.clone();
        for k in c.sources.keys() {
            if !names.contains(k) {
                names.push(k);
            }
        }
        names
            .into_iter()
            .map(|n| (n.to_string(), c.sources.get(n).cloned()))
            .collect()
    };
    let a = &published.assessment;
    html::render(&html::PageInput {
        cfg: &published.config,
        assessment: a,
        sources,
        readiness: readiness::next_tier(a.tier, &a.readiness),
        now: published.at,
    })
}

async fn page(State(s): State<Arc<Shared>>) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], Html(render_page(&s))).into_response()
}

async fn docs_index() -> Html<String> {
    let mut h = String::from(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><link rel="icon" href="data:,"><title>launchguard docs</title></head><body style="font-family:system-ui,sans-serif;margin:24px"><h1>launchguard docs</h1><ul>"#,
    );
    for (name, _) in DOCS {
        h.push_str(&format!(r#"<li><a href="/docs/{name}">{name}</a></li>"#));
    }
    h.push_str(r#"</ul><p><a href="/">status</a></p></body></html>"#);
    Html(h)
}

async fn doc(Path(name): Path<String>) -> Response {
    match DOCS.iter().find(|(n, _)| *n == name) {
        Some((_, text)) => (
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            *text,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such document\n").into_response(),
    }
}
