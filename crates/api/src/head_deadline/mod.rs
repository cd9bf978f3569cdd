//! A deadline on every request head of a connection, not only the first.
//!
//! actix-http times only a connection's first head (`client_request_timeout`,
//! from the accept) and its keep-alive timer stops at any byte, so a client
//! that sends one request and then trickles the next one's headers a byte at
//! a time holds its connection for as long as it likes. [`HeadDeadline`]
//! wraps each connection's stream and follows the request framing
//! ([`framing`]): once the first byte of a head arrives, the whole head must
//! arrive within the limit. Past it, the server reads an end of stream, so it
//! finishes answering what it has, then the connection is answered
//! `408 Request Timeout` (one attempt: a client that does not read gets
//! none) and closed.
//!
//! Time counts only while the server waits for the client: while it holds
//! bytes it has read and not asked for more (many pipelined requests behind
//! a slow one), the deadline moves on.

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

/// A client connection's stream, with a deadline on each request head.
pub struct HeadDeadline<T> {
    io: T,
    limit: Duration,
    peer: Option<SocketAddr>,
    framing: Framing,
    /// When the head in progress must be complete.
    deadline: Option<Instant>,
    /// Wakes the connection at the deadline; made at the first head.
    timer: Option<Pin<Box<Sleep>>>,
    /// When the server last took bytes without asking for more since.
    served_at: Option<Instant>,
    late: Late,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Late {
    No,
    /// The deadline passed; the 408 is written at the close.
    Unanswered,
    Answered,
}

impl<T> HeadDeadline<T> {
    pub fn new(io: T, limit: Duration, peer: Option<SocketAddr>) -> Self {
        HeadDeadline {
            io,
            limit,
            peer,
            framing: Framing::default(),
            deadline: None,
            timer: None,
            served_at: None,
            late: Late::No,
        }
    }

    /// The end of stream the server reads once a head is late.
    fn too_late(&mut self) -> Poll<io::Result<()>> {
        tracing::info!(
            peer = %self.peer.map_or_else(|| "-".into(), |p| p.to_string()),
            limit_seconds = self.limit.as_secs(),
            "closing a connection: a request's headers did not arrive in time \
             ([DEFAULT] client_request_timeout)"
        );
        self.late = Late::Unanswered;
        self.deadline = None;
        Poll::Ready(Ok(()))
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
            if let Some(deadline) = &mut this.deadline {
                *deadline += now - since;
            }
        }
        if this.deadline.is_some_and(|d| d <= now) {
            return this.too_late();
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = &buf.filled()[before..];
                if !read.is_empty() {
                    match this.framing.feed(read) {
                        Progress::Between => this.deadline = None,
                        Progress::InHead { fresh } => {
                            if fresh || this.deadline.is_none() {
                                this.deadline = Some(now + this.limit);
                            }
                        }
                    }
                    this.served_at = Some(now);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let Some(deadline) = this.deadline else {
                    return Poll::Pending;
                };
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(sleep_until(deadline)));
                if timer.deadline() != deadline {
                    timer.as_mut().reset(deadline);
                }
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => this.too_late(),
                    Poll::Pending => Poll::Pending,
                }
            }
            failed => failed,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for HeadDeadline<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
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
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};
    use tokio::time::timeout;

    const LIMIT: Duration = Duration::from_secs(5);
    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";

    /// A client, and the server's end of its connection.
    fn connection() -> (DuplexStream, HeadDeadline<DuplexStream>) {
        let (client, server) = duplex(1024);
        (client, HeadDeadline::new(server, LIMIT, None))
    }

    async fn read(server: &mut HeadDeadline<DuplexStream>) -> Vec<u8> {
        let mut buf = [0; 256];
        let n = server.read(&mut buf).await.unwrap();
        buf[..n].to_vec()
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
            for piece in GET.chunks(GET.len() / 2 + 1) {
                tokio::time::advance(LIMIT / 3).await;
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
        read(&mut server).await;
        // The server is busy with the first request and reads nothing.
        tokio::time::advance(3 * LIMIT).await;
        assert!(timeout(LIMIT / 2, read(&mut server)).await.is_err());
        client.write_all(&GET[2..]).await.unwrap();
        assert_eq!(read(&mut server).await, &GET[2..]);
        assert!(waits(&mut server).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_is_not_timed_here() {
        let (mut client, mut server) = connection();
        let head = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n";
        client.write_all(head).await.unwrap();
        read(&mut server).await;
        client.write_all(b"{}").await.unwrap();
        read(&mut server).await;
        assert!(waits(&mut server).await);
        client.write_all(b"\r\n").await.unwrap();
        read(&mut server).await;
        assert!(waits(&mut server).await);
    }
}
