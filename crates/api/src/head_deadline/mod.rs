//! Deadlines on every request head of a connection, not only the first,
//! and on bodies the server answered before reading.
//!
//! actix-http times only a connection's first head (`client_request_timeout`,
//! from the accept) and its keep-alive timer stops at any byte, so a client
//! that sends one request and then trickles the next one's headers a byte at
//! a time holds its connection for as long as it likes. [`HeadDeadline`]
//! wraps each connection's stream and follows the request framing
//! ([`framing`]): once the first byte of a head arrives, the whole head must
//! arrive within `client_request_timeout`. Past it, the server reads an end
//! of stream, so it finishes answering what it has, then the connection is
//! answered `408 Request Timeout` (one attempt: a client that does not read
//! gets none) and closed.
//!
//! Likewise a chunked body the application answered without reading all of
//! it: actix reads the rest to discard it, untimed. Once the server writes
//! (anything but a lone `100 Continue`) while a body is arriving, that body
//! must be complete within `client_body_timeout` of its head's end, or the
//! connection is closed (its answer was sent). Bodies the application reads
//! have its own deadline ([`crate::body`]), which ends no earlier.
//!
//! Time counts only while the server waits for the client: while it holds
//! bytes it has read and not asked for more (many pipelined requests behind
//! a slow one), deadlines move on.

mod framing;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{sleep_until, Instant, Sleep};

use framing::{Framing, Progress};

/// Written before closing a connection whose head came too slowly; the same
/// answer actix gives when a first head is late.
const REQUEST_TIMEOUT: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// What actix writes before reading a body sent with `Expect: 100-continue`:
/// no answer yet.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// How long a client has for each part of a request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `client_request_timeout`.
    pub head: Duration,
    /// `client_body_timeout`.
    pub body: Duration,
}

/// A client connection's stream, with deadlines on its requests.
pub struct HeadDeadline<T> {
    io: T,
    limits: Limits,
    peer: Option<SocketAddr>,
    framing: Framing,
    /// The deadline in force.
    deadline: Option<Deadline>,
    /// When the body in progress is due, in force once the server answers.
    body_due: Option<Instant>,
    /// Wakes the connection at the deadline; made at the first one.
    timer: Option<Pin<Box<Sleep>>>,
    /// When the server last took bytes without asking for more since.
    served_at: Option<Instant>,
    late: Late,
}

#[derive(Debug, Clone, Copy)]
struct Deadline {
    at: Instant,
    of: Part,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Head,
    Body,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Late {
    No,
    /// A head was late; the 408 is written at the close.
    Unanswered,
    /// Nothing more is written.
    Answered,
}

impl<T> HeadDeadline<T> {
    pub fn new(io: T, limits: Limits, peer: Option<SocketAddr>) -> Self {
        HeadDeadline {
            io,
            limits,
            peer,
            framing: Framing::default(),
            deadline: None,
            body_due: None,
            timer: None,
            served_at: None,
            late: Late::No,
        }
    }

    /// The end of stream the server reads once a deadline has passed.
    fn too_late(&mut self, of: Part) -> Poll<io::Result<()>> {
        let peer = self.peer.map_or_else(|| "-".into(), |p| p.to_string());
        match of {
            Part::Head => {
                tracing::info!(
                    %peer,
                    limit_seconds = self.limits.head.as_secs(),
                    "closing a connection: a request's headers did not arrive in time \
                     ([DEFAULT] client_request_timeout)"
                );
                self.late = Late::Unanswered;
            }
            Part::Body => {
                tracing::info!(
                    %peer,
                    limit_seconds = self.limits.body.as_secs(),
                    "closing a connection: a request body answered before it was read \
                     did not arrive in time ([DEFAULT] client_body_timeout)"
                );
                self.late = Late::Answered;
            }
        }
        self.deadline = None;
        Poll::Ready(Ok(()))
    }

    /// Follow the framing over bytes read at `now`.
    fn account(&mut self, read: &[u8], now: Instant) {
        match self.framing.feed(read) {
            Progress::Idle => {
                self.deadline = None;
                self.body_due = None;
            }
            Progress::InHead { fresh } => {
                self.body_due = None;
                if fresh || !matches!(self.deadline, Some(d) if d.of == Part::Head) {
                    self.deadline = Some(Deadline {
                        at: now + self.limits.head,
                        of: Part::Head,
                    });
                }
            }
            Progress::InBody { fresh } => {
                if fresh || self.body_due.is_none() {
                    self.deadline = None;
                    self.body_due = Some(now + self.limits.body);
                }
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for HeadDeadline<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.late != Late::No {
            return Poll::Ready(Ok(()));
        }
        let now = Instant::now();
        if let Some(since) = this.served_at.take() {
            let held = now - since;
            if let Some(d) = &mut this.deadline {
                d.at += held;
            }
            if let Some(due) = &mut this.body_due {
                *due += held;
            }
        }
        if let Some(d) = this.deadline.filter(|d| d.at <= now) {
            return this.too_late(d.of);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = &buf.filled()[before..];
                if !read.is_empty() {
                    this.account(read, now);
                    this.served_at = Some(now);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let Some(d) = this.deadline else {
                    return Poll::Pending;
                };
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(sleep_until(d.at)));
                if timer.deadline() != d.at {
                    timer.as_mut().reset(d.at);
                }
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => this.too_late(d.of),
                    Poll::Pending => Poll::Pending,
                }
            }
            failed => failed,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for HeadDeadline<T> {
    // Vectored writes are left to the default, through this.
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write(cx, buf);
        if let (Poll::Ready(Ok(1..)), Some(due)) = (&written, self.body_due) {
            // An answer while the body arrives: the rest is due in time.
            if self.deadline.is_none() && buf != CONTINUE {
                self.deadline = Some(Deadline {
                    at: due,
                    of: Part::Body,
                });
                // Polled again, the read side sets its timer.
                cx.waker().wake_by_ref();
            }
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// The server closes once it has written all it had to: the 408 of a
    /// late head goes last.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.late == Late::Unanswered {
            self.late = Late::Answered;
            let _ = Pin::new(&mut self.io).poll_write(cx, REQUEST_TIMEOUT);
        }
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt as _;
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};
    use tokio::time::timeout;

    const LIMIT: Duration = Duration::from_secs(5);
    const BODY_LIMIT: Duration = Duration::from_secs(30);
    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    const CHUNKED: &[u8] = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";

    /// A client, and the server's end of its connection.
    fn connection() -> (DuplexStream, HeadDeadline<DuplexStream>) {
        let (client, server) = duplex(1024);
        let limits = Limits {
            head: LIMIT,
            body: BODY_LIMIT,
        };
        (client, HeadDeadline::new(server, limits, None))
    }

    /// Read what has arrived as actix does: until nothing more is there
    /// (or the end), so no time is the server's.
    async fn read(server: &mut HeadDeadline<DuplexStream>) -> Vec<u8> {
        let mut buf = [0; 256];
        let n = server.read(&mut buf).await.unwrap();
        let mut read = buf[..n].to_vec();
        while let (1.., Some(Ok(more @ 1..))) = (n, server.read(&mut buf).now_or_never()) {
            read.extend_from_slice(&buf[..more]);
        }
        read
    }

    /// Nothing to read for 10 deadlines (the clock is paused: no wait).
    async fn waits(server: &mut HeadDeadline<DuplexStream>) -> bool {
        timeout(10 * LIMIT, read(server)).await.is_err()
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_head_reads_as_the_end_then_408_is_written_at_the_close() {
        let (mut client, mut server) = connection();
        client.write_all(GET).await.unwrap();
        assert_eq!(read(&mut server).await, GET);
        // Idle between requests: no deadline (keep-alive is actix's).
        assert!(waits(&mut server).await);

        client.write_all(b"GE").await.unwrap();
        assert_eq!(read(&mut server).await, b"GE");
        let started = Instant::now();
        assert_eq!(read(&mut server).await, b"", "the end of stream");
        assert_eq!(started.elapsed(), LIMIT);
        // Bytes sent since are not read.
        client.write_all(b"T / HTTP/1.1\r\n\r\n").await.unwrap();
        assert_eq!(read(&mut server).await, b"");

        server.shutdown().await.unwrap();
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.unwrap();
        assert_eq!(answer, REQUEST_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn each_head_has_its_own_deadline() {
        let (mut client, mut server) = connection();
        for _ in 0..3 {
            // Each head takes most of the limit, all of them far more.
            for piece in GET.chunks(GET.len() / 3 + 1) {
                tokio::time::advance(LIMIT * 2 / 5).await;
                client.write_all(piece).await.unwrap();
                assert_eq!(read(&mut server).await, piece);
            }
        }
        assert!(waits(&mut server).await);
        // A close without a late head writes nothing more.
        server.shutdown().await.unwrap();
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.unwrap();
        assert!(answer.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn time_the_server_holds_read_bytes_is_not_the_clients() {
        let (mut client, mut server) = connection();
        client.write_all(&[GET, b"GE"].concat()).await.unwrap();
        // Bytes taken, and no more asked for: the server is busy with the
        // first request (its buffer full).
        let n = server.read(&mut [0; 256]).await.unwrap();
        assert_eq!(n, GET.len() + 2);
        tokio::time::advance(3 * LIMIT).await;
        assert!(timeout(LIMIT / 2, read(&mut server)).await.is_err());
        client.write_all(&GET[2..]).await.unwrap();
        assert_eq!(read(&mut server).await, &GET[2..]);
        assert!(waits(&mut server).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_being_read_is_not_timed_here() {
        let (mut client, mut server) = connection();
        let head = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n";
        client.write_all(head).await.unwrap();
        read(&mut server).await;
        // Not an answer yet.
        server.write_all(CONTINUE).await.unwrap();
        client.write_all(b"{}").await.unwrap();
        read(&mut server).await;
        tokio::time::advance(2 * BODY_LIMIT).await;
        assert!(waits(&mut server).await);
        client.write_all(b"\r\n").await.unwrap();
        read(&mut server).await;
        assert!(waits(&mut server).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_answered_before_it_was_read_is_due_from_its_head() {
        let (mut client, mut server) = connection();
        client.write_all(CHUNKED).await.unwrap();
        read(&mut server).await;
        let head_end = Instant::now();
        tokio::time::advance(BODY_LIMIT / 2).await;
        server
            .write_all(b"HTTP/1.1 404 Not Found\r\n")
            .await
            .unwrap();
        // The rest keeps coming, too slowly.
        for _ in 0..100 {
            client.write_all(b"1\r\na\r\n").await.unwrap();
            if read(&mut server).await.is_empty() {
                break;
            }
            tokio::time::advance(LIMIT).await;
        }
        assert!(head_end.elapsed() >= BODY_LIMIT);
        assert!(head_end.elapsed() < BODY_LIMIT + LIMIT);
        // Its answer was sent: nothing more is.
        server.shutdown().await.unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"HTTP/1.1 404 Not Found\r\n");

        // An answer after the time is up closes at once.
        let (mut client, mut server) = connection();
        client.write_all(CHUNKED).await.unwrap();
        read(&mut server).await;
        tokio::time::advance(BODY_LIMIT).await;
        server.write_all(b"HTTP/1.1 408 ").await.unwrap();
        assert_eq!(read(&mut server).await, b"");
    }
}
