//! The /metrics body as served: the published bytes followed by the families encoded apart
//! from the publication (the server's, the guard's, the Vercel drain's), kept as one `Bytes`
//! with a gzip variant. It is rebuilt only when the publication, the config or one family's
//! version moved, so a scrape costs what serving a static file costs (a few atomic loads, a
//! key compare and a reference-counted clone), and a change still shows on the very next
//! scrape: versions are read before encoding, so the cached body is never older than its key.

use std::io::Write;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderMap, header};
use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use super::encode::Exposition;
use crate::config::Config;
use crate::state::Shared;

/// What one family's samples depend on: equal versions mean equal samples. Counters give the
/// sum of their counts (monotonic, so any increment moves it), gauges their value, and
/// clock-dependent gauges the Unix second they were read at (refreshed once a second).
pub type Version = [u64; 4];

/// Sum of monotonic counters, for a version: moves whenever one of them does.
pub fn total<'a>(counters: impl IntoIterator<Item = &'a AtomicU64>) -> u64 {
    counters
        .into_iter()
        .fold(0, |sum, c| sum.wrapping_add(c.load(Ordering::Relaxed)))
}

/// A family encoded apart from the publication because it changes per request.
pub trait Appended: Send + Sync {
    /// Read before `exposition`; `now_sec` is the current Unix second, for families whose
    /// samples depend on the clock.
    fn version(&self, now_sec: i64) -> Version;
    /// The samples as of now, or None when the family is off (nothing appended).
    fn exposition(&self) -> Option<Exposition>;
}

/// At most this many appended families (server, guard, drain).
const FAMILIES: usize = 3;

#[derive(PartialEq, Eq)]
struct Key {
    published: u64,
    /// The address of the config the families were encoded under (held by `Body`, so it
    /// cannot be reused while it is compared).
    config: usize,
    families: [Version; FAMILIES],
}

struct Body {
    key: Key,
    _config: Arc<Config>,
    plain: Bytes,
    /// Compressed on the first scrape that asks for gzip, once per body (None: it would not
    /// shrink).
    gzip: OnceLock<Option<Bytes>>,
}

/// The cached body and what it was built from.
pub struct Served {
    shared: Arc<Shared>,
    families: [Option<Arc<dyn Appended>>; FAMILIES],
    current: RwLock<Option<Arc<Body>>>,
    /// One rebuild at a time; the others find the new body when they get the lock.
    building: Mutex<()>,
    builds: AtomicU64,
}

/// A body to send and its encoding.
pub struct Scrape {
    pub body: Bytes,
    pub gzip: bool,
}

impl Served {
    /// `families` are appended in this order after the published bytes.
    pub fn new(shared: Arc<Shared>, families: [Option<Arc<dyn Appended>>; FAMILIES]) -> Self {
        Served {
            shared,
            families,
            current: RwLock::new(None),
            building: Mutex::new(()),
            builds: AtomicU64::new(0),
        }
    }

    /// How many times the body was built (encoded and concatenated) since start.
    pub fn builds(&self) -> u64 {
        self.builds.load(Ordering::Relaxed)
    }

    fn key(&self, config: &Arc<Config>) -> Key {
        let now_sec = chrono::Utc::now().timestamp();
        let published = self.shared.generation();
        let mut families = [[0; 4]; FAMILIES];
        for (v, f) in families.iter_mut().zip(&self.families) {
            if let Some(f) = f {
                *v = f.version(now_sec);
            }
        }
        Key {
            published,
            config: Arc::as_ptr(config) as usize,
            families,
        }
    }

    /// The current body, gzip-compressed when `gzip` and the scraper accepts it.
    pub fn scrape(&self, gzip: bool) -> Scrape {
        let body = self.body();
        if gzip && let Some(z) = body.gzip.get_or_init(|| compress(&body.plain)) {
            return Scrape {
                body: z.clone(),
                gzip: true,
            };
        }
        Scrape {
            body: body.plain.clone(),
            gzip: false,
        }
    }

    fn body(&self) -> Arc<Body> {
        let config = self.shared.config();
        let key = self.key(&config);
        if let Some(b) = self.current.read().as_ref().filter(|b| b.key == key) {
            return b.clone();
        }
        let _one = self.building.lock();
        // Versions may have moved while waiting: read them again, then encode.
        let key = self.key(&config);
        if let Some(b) = self.current.read().as_ref().filter(|b| b.key == key) {
            return b.clone();
        }
        let body = Arc::new(Body {
            key,
            _config: config,
            plain: self.encode(),
            gzip: OnceLock::new(),
        });
        self.builds.fetch_add(1, Ordering::Relaxed);
        *self.current.write() = Some(body.clone());
        body
    }

    /// The published bytes, then each family's samples, one `# EOF` at the end.
    fn encode(&self) -> Bytes {
        let published = self.shared.published().metrics;
        let more: Vec<String> = self
            .families
            .iter()
            .flatten()
            .filter_map(|f| f.exposition())
            .map(Exposition::encode)
            .collect();
        if more.is_empty() {
            return published;
        }
        const EOF: &str = "# EOF\n";
        let head = published.strip_suffix(EOF.as_bytes()).unwrap_or(&published);
        let len = head.len() + more.iter().map(String::len).sum::<usize>();
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(head);
        for m in &more {
            out.extend_from_slice(m.strip_suffix(EOF).unwrap_or(m).as_bytes());
        }
        out.extend_from_slice(EOF.as_bytes());
        Bytes::from(out)
    }
}

/// gzip at the fastest level: exposition text shrinks ~10x even so, and a change is
/// compressed once whatever the number of scrapers. None when it would not shrink (an empty
/// body), or if writing to a Vec ever failed: the plain body is served then.
fn compress(plain: &[u8]) -> Option<Bytes> {
    let mut z = flate2::write::GzEncoder::new(
        Vec::with_capacity(plain.len() / 8),
        flate2::Compression::fast(),
    );
    let v = z.write_all(plain).and_then(|()| z.finish()).ok()?;
    (v.len() < plain.len()).then(|| Bytes::from(v))
}

/// Whether `Accept-Encoding` names gzip (or x-gzip) with a non-zero quality.
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                let p = p.trim();
                p.get(..2).is_some_and(|q| q.eq_ignore_ascii_case("q="))
                    && p[2..].trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip"))
                && !refused
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::names as n;
    use axum::http::HeaderValue;

    /// A family whose version the test moves by hand.
    #[derive(Default)]
    struct Counted(AtomicU64);

    impl Appended for Counted {
        fn version(&self, _now_sec: i64) -> Version {
            [self.0.load(Ordering::Relaxed), 0, 0, 0]
        }
        fn exposition(&self) -> Option<Exposition> {
            let mut e = Exposition::default();
            e.set(
                &n::HTTP_CONNECTIONS_OPEN,
                &[],
                self.0.load(Ordering::Relaxed) as f64,
            );
            Some(e)
        }
    }

    fn served() -> (Arc<Shared>, Arc<Counted>, Served) {
        let now = chrono::Utc::now();
        let shared = Shared::new(Config::default(), now);
        shared.publish(now);
        let c = Arc::new(Counted::default());
        let s = Served::new(shared.clone(), [None, Some(c.clone()), None]);
        (shared, c, s)
    }

    fn text(s: &Served) -> String {
        String::from_utf8(s.scrape(false).body.to_vec()).unwrap()
    }

    #[test]
    fn rebuilt_only_when_a_version_or_the_publication_moved() {
        let (shared, c, s) = served();
        let first = s.scrape(false).body;
        assert_eq!(s.builds(), 1);
        for _ in 0..100 {
            // The same allocation each time: nothing encoded, nothing copied.
            assert_eq!(s.scrape(false).body.as_ptr(), first.as_ptr());
        }
        assert_eq!(s.builds(), 1);
        assert!(text(&s).contains("launchguard_http_connections_open 0.0\n"));

        c.0.fetch_add(1, Ordering::Relaxed);
        assert!(text(&s).contains("launchguard_http_connections_open 1.0\n"));
        assert_eq!(s.builds(), 2);

        shared.publish(chrono::Utc::now());
        let t = text(&s);
        assert_eq!(s.builds(), 3);
        // The published bytes first, the family after, one `# EOF` at the end.
        assert!(
            t.starts_with(
                shared
                    .published()
                    .metrics
                    .strip_suffix(b"# EOF\n")
                    .map_or("", |b| std::str::from_utf8(b).unwrap())
            )
        );
        assert!(
            t.ends_with("launchguard_http_connections_open 1.0\n# EOF\n"),
            "{t}"
        );
        assert_eq!(t.matches("# EOF").count(), 1);
    }

    #[test]
    fn gzip_is_compressed_once_per_body() {
        let (_, c, s) = served();
        let a = s.scrape(true);
        assert!(a.gzip);
        assert_eq!(s.scrape(true).body.as_ptr(), a.body.as_ptr());
        let mut plain = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&a.body[..]), &mut plain)
            .unwrap();
        assert_eq!(plain, text(&s));
        c.0.fetch_add(1, Ordering::Relaxed);
        assert_ne!(s.scrape(true).body, a.body);
    }

    #[test]
    fn without_families_the_published_bytes_are_served_as_they_are() {
        let now = chrono::Utc::now();
        let shared = Shared::new(Config::default(), now);
        shared.publish(now);
        let s = Served::new(shared.clone(), [None, None, None]);
        assert_eq!(
            s.scrape(false).body.as_ptr(),
            shared.published().metrics.as_ptr()
        );
    }

    #[test]
    fn accept_encoding_is_read_like_a_server_reads_it() {
        let cases = [
            ("gzip", true),
            ("GZIP", true),
            ("x-gzip", true),
            ("deflate, gzip;q=0.5", true),
            ("br, gzip ; q=1.0", true),
            ("gzip;q=0", false),
            ("gzip; Q=0.000", false),
            ("br, deflate", false),
            ("identity", false),
            ("*", false),
            ("", false),
        ];
        for (v, want) in cases {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(v));
            assert_eq!(accepts_gzip(&h), want, "{v:?}");
        }
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
