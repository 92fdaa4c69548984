//! A request body with a deadline for its last byte. A deadline between frames would never cut
//! a body sent at one byte every few seconds; this one counts from the request head.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The error a handler sees when the body was too slow; the server then answers 408.
#[derive(Debug)]
pub struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimedOut {}

/// `inner`, failing with `BodyTimedOut` once `limit` has passed since it was wrapped.
pub struct DeadlineBody<B> {
    inner: B,
    sleep: Pin<Box<Sleep>>,
    /// Set when the deadline cut the body, so the server can answer 408 whatever the handler did.
    fired: Arc<AtomicBool>,
}

impl<B> DeadlineBody<B> {
    pub fn new(inner: B, limit: Duration, fired: Arc<AtomicBool>) -> Self {
        DeadlineBody {
            inner,
            sleep: Box::pin(tokio::time::sleep(limit)),
            fired,
        }
    }
}

impl<B> Body for DeadlineBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.sleep.as_mut().poll(cx).is_ready() {
            this.fired.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(Box::new(BodyTimedOut))));
        }
        Pin::new(&mut this.inner)
            .poll_frame(cx)
            .map(|f| f.map(|r| r.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A body that sends one byte per period, forever.
    struct Trickle {
        sleep: Pin<Box<Sleep>>,
        period: Duration,
    }

    impl Body for Trickle {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            let next = tokio::time::Instant::now() + self.period;
            match self.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.sleep.as_mut().reset(next);
                    Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"x")))))
                }
                Poll::Pending => Poll::Pending,
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_trickle_is_cut_at_the_deadline() {
        // One byte every 4 s: each frame comes well within any per-frame timeout.
        let period = Duration::from_secs(4);
        let trickle = Trickle {
            sleep: Box::pin(tokio::time::sleep(period)),
            period,
        };
        let fired = Arc::new(AtomicBool::new(false));
        let mut body = DeadlineBody::new(trickle, Duration::from_secs(10), fired.clone());
        let start = tokio::time::Instant::now();
        let mut got = 0;
        let err = loop {
            match body.frame().await {
                Some(Ok(_)) => got += 1,
                Some(Err(e)) => break e,
                None => panic!("the trickle never ends"),
            }
        };
        assert!(err.is::<BodyTimedOut>(), "{err}");
        assert_eq!(got, 2, "bytes at 4 s and 8 s, cut at 10 s");
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        assert!(fired.load(Ordering::Relaxed));
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_in_time_is_untouched() {
        let fired = Arc::new(AtomicBool::new(false));
        let inner = http_body_util::Full::new(Bytes::from_static(b"{}"));
        let body = DeadlineBody::new(inner, Duration::from_secs(1), fired.clone());
        let all = body.collect().await.unwrap().to_bytes();
        assert_eq!(&all[..], b"{}");
        assert!(!fired.load(Ordering::Relaxed));
    }
}
