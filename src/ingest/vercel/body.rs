//! A delivery's body: gzip or not, a JSON array of entries or NDJSON (one entry per line), with
//! the decompressed size capped. Every failure says what was wrong and where.

use std::io::Read;

use super::entry::Entry;

/// Why a body was refused; each maps to one HTTP status in `http.rs`.
#[derive(Debug, Clone, PartialEq)]
pub enum BodyError {
    /// 413: past a size cap (`what` names the config field).
    TooLarge { limit: usize, what: &'static str },
    /// 415: a Content-Encoding other than gzip or identity.
    UnsupportedEncoding(String),
    /// 400: the gzip stream is broken.
    BadGzip(String),
    /// 400: not JSON or NDJSON of entries (the message names the line and column).
    BadJson(String),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge { limit, what } => {
                write!(
                    f,
                    "the body is larger than {limit} bytes (vercel_drain.{what})"
                )
            }
            BodyError::UnsupportedEncoding(e) => write!(
                f,
                "Content-Encoding `{e}` is not supported: send gzip or no compression"
            ),
            BodyError::BadGzip(e) => write!(f, "the body is not valid gzip: {e}"),
            BodyError::BadJson(e) => write!(f, "{e}"),
        }
    }
}

/// Whether the body is gzip: by `Content-Encoding`, or by its magic bytes (Vercel's docs do not
/// say whether it sets the header when `compression: gzip` is chosen).
pub fn is_gzip(content_encoding: Option<&str>, body: &[u8]) -> Result<bool, BodyError> {
    match content_encoding.map(|e| e.trim().to_ascii_lowercase()) {
        Some(e) if e == "gzip" || e == "x-gzip" => Ok(true),
        Some(e) if e.is_empty() || e == "identity" => Ok(body.starts_with(&[0x1f, 0x8b])),
        Some(e) => Err(BodyError::UnsupportedEncoding(
            e.chars().take(40).collect::<String>(),
        )),
        None => Ok(body.starts_with(&[0x1f, 0x8b])),
    }
}

/// Decompresses a gzip body (one or several members), refusing more than `limit` bytes out.
pub fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    let mut dec = flate2::read::MultiGzDecoder::new(body).take(limit as u64 + 1);
    dec.read_to_end(&mut out)
        .map_err(|e| BodyError::BadGzip(e.to_string()))?;
    if out.len() > limit {
        return Err(BodyError::TooLarge {
            limit,
            what: "max_decompressed_bytes",
        });
    }
    Ok(out)
}

/// A body with nothing to count: what Vercel's endpoint verification posts (empty, `{}` or `[]`).
pub fn is_empty_probe(body: &[u8]) -> bool {
    let t = body.trim_ascii();
    t.is_empty() || t == b"{}" || t == b"[]"
}

/// The entries of a body: a JSON array (`json` delivery), or objects one per line (`ndjson`;
/// a single object is one line of it). Empty lines and surrounding whitespace are skipped.
pub fn parse(body: &[u8]) -> Result<Vec<Entry<'_>>, BodyError> {
    let body = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
    let located = |e: serde_json::Error, what: &str| {
        BodyError::BadJson(format!(
            "{what} line {}, column {}: {}",
            e.line(),
            e.column(),
            without_location(&e)
        ))
    };
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Ok(Vec::new()),
        Some(b'[') => {
            serde_json::from_slice::<Vec<Entry>>(body).map_err(|e| located(e, "JSON body:"))
        }
        Some(b'{') => {
            let mut out = Vec::new();
            let mut stream = serde_json::Deserializer::from_slice(body).into_iter::<Entry>();
            for item in stream.by_ref() {
                out.push(item.map_err(|e| located(e, "NDJSON body:"))?);
            }
            Ok(out)
        }
        Some(&c) => Err(BodyError::BadJson(format!(
            "the body is neither a JSON array nor NDJSON objects: it starts with `{}`",
            (c as char).escape_default()
        ))),
    }
}

/// serde_json's message without its own " at line L column C" suffix (we say it first).
fn without_location(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn detects_gzip_by_header_or_magic_and_refuses_other_encodings() {
        let z = gz(b"[]");
        assert_eq!(is_gzip(None, &z), Ok(true));
        assert_eq!(is_gzip(Some("gzip"), b"[]"), Ok(true));
        assert_eq!(is_gzip(Some("identity"), b"[]"), Ok(false));
        assert_eq!(is_gzip(None, b"[]"), Ok(false));
        assert_eq!(
            is_gzip(Some("br"), b"[]"),
            Err(BodyError::UnsupportedEncoding("br".into()))
        );
    }

    #[test]
    fn gunzip_caps_the_decompressed_size() {
        let data = vec![b' '; 100_000];
        let z = gz(&data);
        assert!(z.len() < 1_000, "a bomb: {} bytes", z.len());
        assert_eq!(gunzip(&z, 100_000).unwrap().len(), 100_000);
        assert_eq!(
            gunzip(&z, 99_999),
            Err(BodyError::TooLarge {
                limit: 99_999,
                what: "max_decompressed_bytes"
            })
        );
        assert!(matches!(
            gunzip(&z[..z.len() / 2], 1 << 20),
            Err(BodyError::BadGzip(_))
        ));
        // Two members, as a concatenating proxy may send.
        let mut two = gz(b"[{\"id\":\"a\"}");
        two.extend(gz(b",{\"id\":\"b\"}]"));
        assert_eq!(parse(&gunzip(&two, 1 << 20).unwrap()).unwrap().len(), 2);
    }

    #[test]
    fn parses_arrays_ndjson_and_single_objects() {
        let arr = br#" [ {"id":"1","source":"lambda"}, {"id":"2","future":{"x":[1,2]}} ] "#;
        let e = parse(arr).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].id.as_deref(), Some("1"));
        let nd = b"{\"id\":\"1\"}\n\n{\"id\":\"2\"}\r\n{\"id\":\"3\"}";
        assert_eq!(parse(nd).unwrap().len(), 3);
        assert_eq!(parse(b"\xef\xbb\xbf{\"id\":\"1\"}\n").unwrap().len(), 1);
        assert!(parse(b"  \n").unwrap().is_empty());
        assert!(is_empty_probe(b" {} ") && is_empty_probe(b"") && !is_empty_probe(b"[1]"));
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let nd = b"{\"id\":\"1\"}\n{\"id\":\"2\",}\n";
        let e = parse(nd).unwrap_err().to_string();
        assert!(e.starts_with("NDJSON body: line 2, column 11:"), "{e}");
        let e = parse(b"[{\"id\":\"1\"},\n {\"statusCode\":\"x\"}]")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("JSON body: line 2,"), "{e}");
        assert!(e.contains("invalid type"), "{e}");
        let e = parse(b"hello").unwrap_err().to_string();
        assert!(e.contains("starts with `h`"), "{e}");
        assert!(parse(b"[{\"id\":\"1\"}").is_err());
    }
}
