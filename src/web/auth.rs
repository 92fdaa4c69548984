//! Basic authentication against bcrypt hashes, and the configured response headers: one
//! middleware wrapped around the whole router, so every route (and every route added later)
//! is covered, the 404 fallback included.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};

use super::WebState;
use super::file::BcryptHash;

/// Bound on remembered successful logins; the set is cleared when full.
const CACHE_MAX: usize = 256;

/// A hash at the usual cost that matches nothing: unknown users cost as much as known ones,
/// so response time does not tell which user names exist.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| bcrypt::hash("launchguard: no such user", 10).unwrap_or_default());

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
    /// True when `password` matches `user`'s hash.
    pub async fn verify(&self, user: &str, password: &str, hash: Option<&BcryptHash>) -> bool {
        let Some(hash) = hash else {
            let pw = password.to_string();
            let _ = tokio::task::spawn_blocking(move || bcrypt::verify(pw, &DUMMY_HASH)).await;
            return false;
        };
        let key = cache_key(user, password, hash);
        if self.0.lock().expect("lock").contains(&key) {
            return true;
        }
        let (pw, h) = (password.to_string(), hash.as_str().to_string());
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(pw, &h).unwrap_or(false))
            .await
            .unwrap_or(false);
        if ok {
            let mut set = self.0.lock().expect("lock");
            if set.len() >= CACHE_MAX {
                set.clear();
            }
            set.insert(key);
        }
        ok
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

/// The middleware: authenticate when users are configured, then add the configured headers.
pub async fn guard(State(web): State<Arc<WebState>>, req: Request, next: Next) -> Response {
    let active = web.current();
    if !active.users.is_empty() {
        let ok = match credentials(req.headers()) {
            Some((user, pw)) => web.cache.verify(&user, &pw, active.users.get(&user)).await,
            None => false,
        };
        if !ok {
            return unauthorized();
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
    fn dummy_hash_is_well_formed() {
        assert!(BcryptHash::new(DUMMY_HASH.clone()).is_valid());
    }

    #[tokio::test]
    async fn verifies_and_remembers_only_successes() {
        let hash = BcryptHash::new(bcrypt::hash("right", 4).unwrap());
        let c = VerifiedCache::default();
        assert!(c.verify("alice", "right", Some(&hash)).await);
        assert!(!c.verify("alice", "wrong", Some(&hash)).await);
        assert!(!c.verify("bob", "right", None).await);
        assert_eq!(c.0.lock().unwrap().len(), 1);
        // A changed hash is a different key: the old success does not carry over.
        let other = BcryptHash::new(bcrypt::hash("new", 4).unwrap());
        assert!(!c.verify("alice", "right", Some(&other)).await);
    }
}
