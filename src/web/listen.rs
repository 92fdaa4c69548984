//! The accept loop: each connection is served in clear or over TLS according to the web setup
//! in force when it arrives, so turning TLS on or rotating a certificate needs no restart.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use super::WebState;

/// Bound on a client's TLS handshake (and on its first byte), so idle sockets cannot pile up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on reading a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight requests may finish after shutdown was asked for.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// What Go's net/http answers to a plain HTTP request on a TLS port; operators know it.
const PLAIN_ON_TLS: &[u8] = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// Serves `app` behind the web setup until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    web: Arc<WebState>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let app = app.layer(axum::middleware::from_fn_with_state(
        web.clone(),
        super::auth::guard,
    ));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, _peer) = tokio::select! {
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
        let _ = tcp.set_nodelay(true);
        let active = web.current();
        let app = app.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            // A client that never finishes its headers (slowloris) is cut off.
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            if !active.http2 {
                builder = builder.http1_only();
            }
            let svc = TowerToHyperService::new(app);
            let result = match &active.tls {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(tcp), svc);
                    watcher.watch(conn).await
                }
                Some(cfg) => {
                    let Some(tls) = handshake(tcp, cfg.clone()).await else {
                        return;
                    };
                    let conn = builder.serve_connection(TokioIo::new(tls), svc);
                    watcher.watch(conn).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
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

/// TLS handshake; a client speaking plain HTTP gets a readable 400 instead of a reset.
async fn handshake(
    tcp: TcpStream,
    cfg: Arc<rustls::ServerConfig>,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let mut first = [0u8; 1];
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tcp.peek(&mut first)).await {
        Ok(Ok(1)) => {}
        _ => return None,
    }
    // 0x16 opens every TLS handshake record; an ASCII letter is an HTTP method.
    if first[0] != 0x16 {
        let mut tcp = tcp;
        let _ = tcp.write_all(PLAIN_ON_TLS).await;
        let _ = tcp.shutdown().await;
        return None;
    }
    let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            // A client without a required certificate ends here; not worth more than debug.
            tracing::debug!(error = %e, "TLS handshake failed");
            None
        }
        Err(_) => None,
    }
}
