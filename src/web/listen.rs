//! The accept loop: each connection is served in clear or over TLS according to the web setup
//! in force when it arrives, so turning TLS on or rotating a certificate needs no restart.
//! Every connection holds a slot under the cap and a deadline whenever the server waits on the
//! client (`conn.rs`), from the first byte of the TLS handshake to the last byte of a body.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use http_body::Body as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;
use tower::ServiceExt;

use super::auth::{Gate, Peer};
use super::body::DeadlineBody;
use super::conn::{Conn, Cut, SILENT_KEPT, SILENT_NEW, Slots, Watched};
use super::stats::Stats;
use super::{Active, WebState};
use crate::config::Server as Limits;

/// How long in-flight requests may finish after shutdown was asked for.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Descriptors kept for everything but client connections: the listener, the database pool,
/// provider and Redis clients, the config watcher, log and state files.
const RESERVED_FDS: u64 = 64;

/// What Go's net/http answers to a plain HTTP request on a TLS port; operators know it.
const PLAIN_ON_TLS: &[u8] = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// The HTTP server with its limits, made before the router so `/metrics` can show its stats.
pub struct HttpServer {
    limits: Limits,
    web: Arc<WebState>,
    slots: Arc<Slots>,
    stats: Arc<Stats>,
    gate: Arc<Gate>,
}

impl HttpServer {
    /// Fits the connection cap to the descriptor limit and starts the bcrypt workers.
    pub fn new(limits: &Limits, web: Arc<WebState>) -> std::io::Result<HttpServer> {
        let slots = Slots::new(
            fit_to_descriptors(limits.max_connections),
            (
                SILENT_NEW.min(limits.header_timeout.0),
                SILENT_KEPT.min(limits.idle_timeout.0),
            ),
        );
        let stats = Stats::new(slots.clone());
        let gate = Gate::new(web.clone(), limits, stats.clone())?;
        Ok(HttpServer {
            limits: limits.clone(),
            web,
            slots,
            stats,
            gate,
        })
    }

    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// Serves `app` behind the web setup until `shutdown` completes.
    pub async fn serve(
        self,
        listener: TcpListener,
        app: Router,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let app = app.layer(axum::middleware::from_fn_with_state(
            self.gate.clone(),
            super::auth::guard,
        ));
        let graceful = GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            let (tcp, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: wait rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                _ = &mut shutdown => break,
            };
            let permit = match self.slots.try_take() {
                Some(p) => p,
                None => {
                    // At the cap: room is made by closing the longest-idle connection, or
                    // this one waits for a slot (the next ones stay in the listen backlog).
                    self.stats.limit_reached();
                    tokio::select! {
                        (p, evicted) = self.slots.take_at_cap() => {
                            tracing::debug!(peer = %peer, evicted, "accepted at the connection cap");
                            p
                        }
                        _ = &mut shutdown => break,
                    }
                }
            };
            let _ = tcp.set_nodelay(true);
            let conn = Conn::open(
                self.slots.clone(),
                self.limits.header_timeout.0,
                self.limits.idle_timeout.0,
            );
            tokio::spawn(connection(
                tcp,
                Accepted {
                    peer,
                    permit,
                    conn,
                    active: self.web.current(),
                },
                app.clone(),
                self.limits.clone(),
                self.stats.clone(),
                graceful.watcher(),
            ));
        }
        drop(listener);
        if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::info!("shutdown: connections still open after {DRAIN_TIMEOUT:?} were dropped");
        }
        Ok(())
    }
}

/// What the accept loop hands a connection's task.
struct Accepted {
    peer: SocketAddr,
    /// The slot under the cap, given back when the task ends.
    permit: OwnedSemaphorePermit,
    conn: Arc<Conn>,
    active: Arc<Active>,
}

/// Serves one connection until it ends or its deadline passes.
async fn connection(
    tcp: TcpStream,
    a: Accepted,
    app: Router,
    limits: Limits,
    stats: Arc<Stats>,
    watcher: Watcher,
) {
    let _slot = a.permit;
    let mut builder = Builder::new(TokioExecutor::new());
    // The connection's own deadline bounds request heads, so hyper's (which would also
    // close keep-alive connections before idle_timeout) is off.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.http2_keep_alive_interval.0))
        .keep_alive_timeout(limits.http2_keep_alive_timeout.0)
        .max_concurrent_streams(limits.http2_max_streams);
    if !a.active.http2 {
        builder = builder.http1_only();
    }
    let svc = Requests {
        app,
        conn: a.conn.clone(),
        peer: a.peer,
        body_timeout: limits.body_timeout.0,
        stats: stats.clone(),
    };
    let work = async {
        match &a.active.tls {
            None => {
                let io = Watched::new(tcp, a.conn.clone());
                let conn = builder.serve_connection(TokioIo::new(io), svc);
                watcher.watch(conn).await
            }
            Some(cfg) => {
                let Some(tls) = handshake(tcp, cfg.clone(), &a.conn).await else {
                    return Ok(());
                };
                let conn = builder.serve_connection(TokioIo::new(tls), svc);
                watcher.watch(conn).await
            }
        }
    };
    // Counted before the socket closes (select! drops `work` before running an arm), so a
    // client that sees the close and then scrapes sees the count.
    let expired = async {
        let cut = a.conn.expired().await;
        stats.cut(cut);
        cut
    };
    tokio::select! {
        r = work => if let Err(e) = r {
            tracing::debug!(error = %e, "connection ended with an error");
        },
        cut = expired => {
            tracing::debug!(peer = %a.peer, reason = cut.as_str(), "connection closed by the server");
        }
    }
}

type Answer = std::pin::Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// Each request: marks the connection busy, gives the body its deadline and the handlers
/// the peer's address, and answers 408 when the body came too slowly.
struct Requests {
    app: Router,
    conn: Arc<Conn>,
    peer: SocketAddr,
    body_timeout: Duration,
    stats: Arc<Stats>,
}

impl hyper::service::Service<Request<Incoming>> for Requests {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, req: Request<Incoming>) -> Answer {
        let (app, conn, stats) = (self.app.clone(), self.conn.clone(), self.stats.clone());
        let (peer, body_timeout) = (self.peer, self.body_timeout);
        Box::pin(async move {
            let _busy = conn.begin();
            let version = req.version();
            let (mut parts, body) = req.into_parts();
            parts.extensions.insert(Peer(peer));
            let fired = Arc::new(AtomicBool::new(false));
            let body = if body.is_end_stream() {
                Body::new(body)
            } else {
                Body::new(DeadlineBody::new(body, body_timeout, fired.clone()))
            };
            let res = app
                .oneshot(Request::from_parts(parts, body))
                .await
                .unwrap_or_else(|e| match e {});
            if fired.load(Ordering::Relaxed) {
                stats.cut(Cut::BodyTimeout);
                return Ok(request_timeout(version));
            }
            Ok(res)
        })
    }
}

/// 408 for a body that did not arrive in time; an HTTP/1 connection is closed after it (its
/// stream is mid-body), an HTTP/2 stream ends alone.
fn request_timeout(version: Version) -> Response {
    let mut res = (
        StatusCode::REQUEST_TIMEOUT,
        "The request body did not arrive in time\n",
    )
        .into_response();
    if version < Version::HTTP_2 {
        res.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
    }
    res
}

/// TLS handshake; a client speaking plain HTTP gets a readable 400 instead of a reset. The
/// connection's deadline bounds it, first byte included.
async fn handshake(
    tcp: TcpStream,
    cfg: Arc<rustls::ServerConfig>,
    conn: &Arc<Conn>,
) -> Option<tokio_rustls::server::TlsStream<Watched<TcpStream>>> {
    let mut first = [0u8; 1];
    conn.read_pending();
    match tcp.peek(&mut first).await {
        Ok(1) => conn.read_some(),
        _ => return None,
    }
    // 0x16 opens every TLS handshake record; an ASCII letter is an HTTP method.
    if first[0] != 0x16 {
        let mut tcp = tcp;
        let _ = tcp.write_all(PLAIN_ON_TLS).await;
        let _ = tcp.shutdown().await;
        return None;
    }
    let tcp = Watched::new(tcp, conn.clone());
    match tokio_rustls::TlsAcceptor::from(cfg).accept(tcp).await {
        Ok(s) => Some(s),
        Err(e) => {
            // A client without a required certificate ends here; not worth more than debug.
            tracing::debug!(error = %e, "TLS handshake failed");
            None
        }
    }
}

/// The connection cap that fits the process's descriptor limit. The soft limit is raised
/// toward the hard one first (as Go programs do); if it still cannot hold `wanted`
/// connections besides `RESERVED_FDS`, the cap is lowered and that is logged.
fn fit_to_descriptors(wanted: usize) -> usize {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let wanted = wanted.max(1);
    let need = (wanted as u64).saturating_add(RESERVED_FDS);
    let lim = getrlimit(Resource::Nofile);
    let Some(mut soft) = lim.current else {
        return wanted; // unlimited
    };
    if soft < need {
        let target = lim.maximum.map_or(need, |hard| hard.min(need));
        if target > soft
            && setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(target),
                    maximum: lim.maximum,
                },
            )
            .is_ok()
        {
            soft = target;
        }
    }
    let room = soft.saturating_sub(RESERVED_FDS).max(soft / 2).max(1);
    let cap = usize::try_from(room).unwrap_or(usize::MAX).min(wanted);
    if cap < wanted {
        tracing::warn!(
            max_connections = wanted,
            cap,
            descriptor_limit = soft,
            "server.max_connections lowered to fit the file-descriptor limit (raise LimitNOFILE or ulimit -n)"
        );
    }
    cap
}
