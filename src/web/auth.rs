//! Basic authentication against bcrypt hashes, and the configured response headers: one
//! middleware wrapped around the whole router, so every route (and every route added later)
//! is covered, the 404 fallback included.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};

use super::bcrypt_pool::{Against, BcryptPool};
use super::file::BcryptHash;
use super::peers::PeerFailures;
use super::stats::{Refusal, Stats};
use super::{Active, WebState};

/// Bound on remembered successful logins; the set is cleared when full.
const CACHE_MAX: usize = 256;

/// Successful (user, password, hash) checks, remembered as SHA-256 digests: bcrypt costs tens
/// of milliseconds per check, and Prometheus and the status page ask every few seconds.
#[derive(Debug, Default)]
pub struct VerifiedCache(Mutex<HashSet<[u8; 32]>>);

fn cache_key(user: &str, password: &str, hash: &BcryptHash) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [user, password, hash.as_str()] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    let out = h.finalize();
    let mut key = [0u8; 32];
    key.copy_from_slice(&out);
    key
}

impl VerifiedCache {
    fn contains(&self, key: &[u8; 32]) -> bool {
        self.0.lock().expect("lock").contains(key)
    }

    fn remember(&self, key: [u8; 32]) {
        let mut set = self.0.lock().expect("lock");
        if set.len() >= CACHE_MAX {
            set.clear();
        }
        set.insert(key);
    }
}

/// The peer address of a request's connection, set by the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// Basic auth with bounded cost: remembered successes first (no bcrypt), then the peer's
/// failure budget (429), then a place on the bcrypt workers (503 when none is free).
#[derive(Debug)]
pub struct Gate {
    web: Arc<WebState>,
    cache: VerifiedCache,
    pool: BcryptPool,
    peers: PeerFailures,
    stats: Arc<Stats>,
}

impl Gate {
    pub fn new(
        web: Arc<WebState>,
        limits: &crate::config::Server,
        stats: Arc<Stats>,
    ) -> std::io::Result<Arc<Gate>> {
        Ok(Arc::new(Gate {
            web,
            cache: VerifiedCache::default(),
            pool: BcryptPool::start(limits.bcrypt_workers, limits.bcrypt_queue)?,
            peers: PeerFailures::new(limits.auth_failures_per_peer, limits.auth_failure_window.0),
            stats,
        }))
    }

    /// None when the request may pass; otherwise the refusal to send.
    async fn check(
        &self,
        active: &Active,
        headers: &HeaderMap,
        peer: Option<Peer>,
    ) -> Option<Response> {
        let Some((user, pw)) = credentials(headers) else {
            self.stats.refused(Refusal::Missing);
            return Some(unauthorized());
        };
        let hash = active.users.get(&user);
        let key = hash.map(|h| cache_key(&user, &pw, h));
        if key.is_some_and(|k| self.cache.contains(&k)) {
            return None;
        }
        let ip = peer.map(|p| p.0.ip());
        if let Some(wait) = ip.and_then(|ip| self.peers.wait(ip, tokio::time::Instant::now())) {
            self.stats.refused(Refusal::RateLimited);
            return Some(too_many_failures(wait));
        }
        let against = match hash {
            Some(h) => Against::Hash(h.as_str().to_string()),
            None => Against::Nobody,
        };
        match self.pool.verify(pw, against).await {
            Err(_) => {
                self.stats.refused(Refusal::Busy);
                Some(busy())
            }
            Ok(true) => {
                if let Some(k) = key {
                    self.cache.remember(k);
                }
                None
            }
            Ok(false) => {
                if let Some(ip) = ip {
                    self.peers.failed(ip, tokio::time::Instant::now());
                }
                self.stats.refused(Refusal::Wrong);
                Some(unauthorized())
            }
        }
    }
}

/// (user, password) of an `Authorization: Basic` header.
fn credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"launchguard\"")],
        "Unauthorized\n",
    )
        .into_response()
}

/// Whole seconds, at least 1, for Retry-After.
fn retry_after(wait: Duration) -> String {
    wait.as_secs()
        .saturating_add(u64::from(wait.subsec_nanos() > 0))
        .max(1)
        .to_string()
}

fn too_many_failures(wait: Duration) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, retry_after(wait))],
        "Too many failed logins from this address; retry later\n",
    )
        .into_response()
}

fn busy() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1".to_string())],
        "Password checks are busy; retry shortly\n",
    )
        .into_response()
}

/// The middleware: authenticate when users are configured, then add the configured headers.
pub async fn guard(State(gate): State<Arc<Gate>>, req: Request, next: Next) -> Response {
    let active = gate.web.current();
    if !active.users.is_empty() {
        let peer = req.extensions().get::<Peer>().copied();
        if let Some(refusal) = gate.check(&active, req.headers(), peer).await {
            return refusal;
        }
    }
    let mut res = next.run(req).await;
    for (k, v) in &active.headers {
        res.headers_mut().insert(k.clone(), v.clone());
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_basic_credentials() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            "Basic YWxpY2U6czNjcjN0Onh5".parse().unwrap(),
        );
        assert_eq!(credentials(&h), Some(("alice".into(), "s3cr3t:xy".into())));
        h.insert(
            header::AUTHORIZATION,
            "Bearer YWxpY2U6czNjcjN0".parse().unwrap(),
        );
        assert_eq!(credentials(&h), None);
        h.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert_eq!(credentials(&h), None);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after(Duration::from_millis(1)), "1");
        assert_eq!(retry_after(Duration::from_millis(20_001)), "21");
        assert_eq!(retry_after(Duration::ZERO), "1");
    }

    #[test]
    fn cache_remembers_and_is_bounded() {
        let hash = BcryptHash::new("$2y$04$abcdefghijklmnopqrstuv".into());
        let c = VerifiedCache::default();
        let k = cache_key("alice", "right", &hash);
        assert!(!c.contains(&k));
        c.remember(k);
        assert!(c.contains(&k));
        // A changed hash is a different key: the old success does not carry over.
        let other = BcryptHash::new("$2y$04$zzzzzzzzzzzzzzzzzzzzzz".into());
        assert!(!c.contains(&cache_key("alice", "right", &other)));
        for i in 0..CACHE_MAX {
            c.remember(cache_key(&i.to_string(), "p", &hash));
        }
        assert!(c.0.lock().unwrap().len() <= CACHE_MAX);
    }
}
