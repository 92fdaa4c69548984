//! A minimal HTTP/1.1 keep-alive client for the load engine, in the manner of wrk: the request
//! bytes are serialised once, each answer is parsed with httparse into a status and a body
//! framing, and the body is read and discarded. A general client (hyper) spends about twice the
//! CPU per request on header maps, channels and body plumbing a load generator does not need,
//! and that CPU is taken from the system under test when both share a machine.
//!
//! Supported: Content-Length, chunked transfer coding (trailers skipped), bodies delimited by
//! the connection closing, 1xx interim answers, `Connection: close`, HEAD/204/304 without body.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// Bound on a response head, so a broken server cannot grow the buffer without end.
const MAX_HEAD: usize = 64 * 1024;

/// A plain or TLS connection.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, data),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, data),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// How the body of an answer ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// One keep-alive connection.
pub struct Conn {
    stream: Stream,
    buf: BytesMut,
    /// False once the server said it closes, or an answer ended with the connection.
    reusable: bool,
    /// No byte of the current answer has arrived (a stale keep-alive connection fails so).
    nothing: bool,
}

impl Conn {
    pub fn new(stream: Stream) -> Conn {
        Conn {
            stream,
            buf: BytesMut::with_capacity(8 * 1024),
            reusable: true,
            nothing: true,
        }
    }

    /// True when the last round trip failed before any byte of an answer arrived.
    pub fn got_nothing(&self) -> bool {
        self.nothing
    }

    pub fn reusable(&self) -> bool {
        self.reusable
    }

    async fn fill(&mut self) -> io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(8 * 1024);
        }
        let n = self.stream.read_buf(&mut self.buf).await?;
        if n > 0 {
            self.nothing = false;
        }
        Ok(n)
    }

    /// Sends one serialised request and reads its answer; returns the status.
    pub async fn roundtrip(&mut self, request: &[u8], head_request: bool) -> io::Result<u16> {
        if !self.buf.is_empty() {
            // Bytes nobody asked for: the connection is out of step.
            self.reusable = false;
            return Err(bad("unexpected bytes before the answer"));
        }
        self.nothing = true;
        self.stream.write_all(request).await?;
        let (status, framing) = loop {
            let parsed = {
                let mut headers = [httparse::EMPTY_HEADER; 64];
                let mut resp = httparse::Response::new(&mut headers);
                match resp.parse(&self.buf).map_err(|e| bad(&e.to_string()))? {
                    httparse::Status::Complete(n) => {
                        let code = resp.code.unwrap_or(0);
                        let close = resp.version == Some(0)
                            && !has_token(resp.headers, "connection", "keep-alive")
                            || has_token(resp.headers, "connection", "close");
                        Some((n, code, framing(resp.headers, code, head_request)?, close))
                    }
                    httparse::Status::Partial => None,
                }
            };
            match parsed {
                Some((n, code, _, _)) if (100..200).contains(&code) && code != 101 => {
                    self.buf.advance(n);
                }
                Some((n, code, framing, close)) => {
                    self.buf.advance(n);
                    if close {
                        self.reusable = false;
                    }
                    break (code, framing);
                }
                None => {
                    if self.buf.len() > MAX_HEAD {
                        return Err(bad("answer head too large"));
                    }
                    if self.fill().await? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
            }
        };
        match framing {
            Framing::None => {}
            Framing::Length(n) => self.skip(n).await?,
            Framing::Chunked => self.skip_chunked().await?,
            Framing::UntilClose => {
                self.reusable = false;
                loop {
                    self.buf.clear();
                    if self.fill().await? == 0 {
                        break;
                    }
                }
            }
        }
        Ok(status)
    }

    /// Discards `n` body bytes.
    async fn skip(&mut self, mut n: u64) -> io::Result<()> {
        loop {
            let take = (self.buf.len() as u64).min(n) as usize;
            self.buf.advance(take);
            n -= take as u64;
            if n == 0 {
                return Ok(());
            }
            if self.fill().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Discards a chunked body, its trailers and the final empty line.
    async fn skip_chunked(&mut self) -> io::Result<()> {
        loop {
            let size = loop {
                match httparse::parse_chunk_size(&self.buf).map_err(|_| bad("bad chunk size"))? {
                    httparse::Status::Complete((n, size)) => {
                        self.buf.advance(n);
                        break size;
                    }
                    httparse::Status::Partial => {
                        if self.buf.len() > MAX_HEAD {
                            return Err(bad("chunk size line too long"));
                        }
                        if self.fill().await? == 0 {
                            return Err(io::ErrorKind::UnexpectedEof.into());
                        }
                    }
                }
            };
            if size == 0 {
                // Trailers, if any, end with an empty line.
                loop {
                    if self.buf.starts_with(b"\r\n") {
                        self.buf.advance(2);
                        return Ok(());
                    }
                    if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                        self.buf.advance(i + 4);
                        return Ok(());
                    }
                    if self.buf.len() > MAX_HEAD {
                        return Err(bad("trailers too large"));
                    }
                    if self.fill().await? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
            }
            self.skip(size + 2).await?;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn has_token(headers: &[httparse::Header<'_>], name: &str, token: &str) -> bool {
    headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case(name)
            && std::str::from_utf8(h.value)
                .unwrap_or("")
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
    })
}

fn framing(headers: &[httparse::Header<'_>], code: u16, head: bool) -> io::Result<Framing> {
    if head || code == 204 || code == 304 {
        return Ok(Framing::None);
    }
    if has_token(headers, "transfer-encoding", "chunked") {
        return Ok(Framing::Chunked);
    }
    match headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
    {
        Some(h) => std::str::from_utf8(h.value)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Framing::Length)
            .ok_or_else(|| bad("bad content-length")),
        None => Ok(Framing::UntilClose),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A one-connection server that answers each request with the next canned answer.
    async fn serve(
        answers: Vec<&'static [u8]>,
    ) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            for a in answers {
                let mut got = Vec::new();
                while find(&got, b"\r\n\r\n").is_none() {
                    let n = s.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                s.write_all(a).await.unwrap();
            }
        });
        (addr, task)
    }

    #[tokio::test]
    async fn reads_every_framing_on_one_connection() {
        let (addr, _t) = serve(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\nTrailer: t\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close",
        ])
        .await;
        let mut c = Conn::new(Stream::Plain(TcpStream::connect(addr).await.unwrap()));
        let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(c.roundtrip(req, false).await.unwrap(), 200);
        assert_eq!(c.roundtrip(req, false).await.unwrap(), 201);
        assert_eq!(c.roundtrip(req, false).await.unwrap(), 204);
        assert_eq!(c.roundtrip(req, false).await.unwrap(), 500);
        assert!(c.reusable());
        assert_eq!(c.roundtrip(req, false).await.unwrap(), 200);
        assert!(!c.reusable());
    }

    #[tokio::test]
    async fn a_truncated_answer_is_an_error() {
        let (addr, t) = serve(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort"]).await;
        let mut c = Conn::new(Stream::Plain(TcpStream::connect(addr).await.unwrap()));
        let r = c
            .roundtrip(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", false)
            .await;
        assert!(r.is_err());
        assert!(!c.got_nothing());
        t.await.unwrap();
    }
}
